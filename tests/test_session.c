/* test_session.c: Check unit tests for a session's kept frames and token
 * (src/session.c): frames come back by sequence number byte for byte,
 * ACK lets go of exactly what it covers (and refuses what was never
 * sent), every byte and block is returned to the pool, the ring keeps its
 * order through growth and wrap-around, and tokens compare by value.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "session.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t tok[SESSION_TOKEN_BYTES] = {
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
    0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};

/* Keeps message s->next_seq with a payload of plen bytes of its number. */
static void keep(struct session *s, struct chunk_pool *p, size_t plen)
{
    char hdr[PROTO_MAX_MSG_HEADER], *payload = malloc(plen + 1);
    ck_assert_ptr_nonnull(payload);
    uint64_t seq = s->next_seq;
    memset(payload, 'a' + (int)(seq % 26), plen);
    size_t hlen = proto_msg_header_seq(hdr, "from", 4, "to", 2, plen, seq);
    struct shared *sh = NULL;
    uint32_t off = 0;
    ck_assert_int_eq(session_keep(s, p, hdr, hlen, payload, plen, &sh, &off),
                     0);
    ck_assert_uint_eq(s->next_seq, seq + 1);
    ck_assert(memcmp(sh->data + off, hdr, hlen) == 0);
    free(payload);
}

/* The frame of seq is whole and says seq. */
static void check_frame(const struct session *s, uint64_t seq, size_t plen)
{
    const struct session_frame *f = session_frame(s, seq);
    ck_assert_ptr_nonnull(f);
    const char *b = f->sh->data + f->off;
    ck_assert_uint_eq(proto_msg_seq(b, f->len), seq);
    uint64_t len, lines;
    ck_assert_int_eq(proto_out_piece(b, f->len, &len, &lines), 0);
    ck_assert_uint_eq(len, f->len);
    ck_assert_int_eq(b[f->len - 1], '\n');
    if (plen)
        ck_assert_int_eq(b[f->len - 2], 'a' + (int)(seq % 26));
}

START_TEST(test_keep_and_ack)
{
    struct chunk_pool p;
    struct session s;
    chunk_pool_init(&p, 4);
    session_init(&s, tok);
    ck_assert_uint_eq(s.next_seq, 1);
    ck_assert_ptr_null(session_frame(&s, 0));
    ck_assert_ptr_null(session_frame(&s, 1));

    for (int i = 0; i < 10; i++)
        keep(&s, &p, 64);
    ck_assert_uint_eq(s.count, 10);
    for (uint64_t q = 1; q <= 10; q++)
        check_frame(&s, q, 64);
    ck_assert_ptr_null(session_frame(&s, 11));
    size_t ten = s.bytes;

    /* Never sent, or 2^64 - 1: refused, nothing changes. */
    ck_assert_int_eq(session_ack(&s, &p, 11), SESSION_ACK_AHEAD);
    ck_assert_int_eq(session_ack(&s, &p, UINT64_MAX), SESSION_ACK_AHEAD);
    ck_assert_uint_eq(s.count, 10);
    ck_assert_uint_eq(s.bytes, ten);

    ck_assert_int_eq(session_ack(&s, &p, 4), SESSION_ACK_DONE);
    ck_assert_uint_eq(s.acked, 4);
    ck_assert_uint_eq(s.count, 6);
    ck_assert_ptr_null(session_frame(&s, 4));
    check_frame(&s, 5, 64);
    /* Again, or lower: nothing to do. */
    ck_assert_int_eq(session_ack(&s, &p, 4), SESSION_ACK_OLD);
    ck_assert_int_eq(session_ack(&s, &p, 0), SESSION_ACK_OLD);
    ck_assert_uint_eq(s.count, 6);

    ck_assert_int_eq(session_ack(&s, &p, 10), SESSION_ACK_DONE);
    ck_assert_uint_eq(s.count, 0);
    ck_assert_uint_eq(s.bytes, 0);
    /* Only the session's current block is left. */
    ck_assert_uint_eq(p.held, sizeof(struct shared) + OUTQ_BLOCK_BYTES);
    session_clear(&s, &p);
    ck_assert_uint_eq(p.held, 0);
    chunk_pool_drain(&p);
}
END_TEST

/* Growth and wrap-around keep the order; sizes from empty to a block of
 * their own; clearing with frames kept returns every byte. */
START_TEST(test_ring_order)
{
    struct chunk_pool p;
    struct session s;
    chunk_pool_init(&p, 4);
    session_init(&s, tok);
    static const size_t sizes[] = {0, 1, 100, 4000, 5000, 70000};
    uint64_t acked = 0;
    for (int round = 0; round < 200; round++) {
        int n = 1 + round % 37;
        for (int i = 0; i < n; i++)
            keep(&s, &p, sizes[s.next_seq % 6]);
        for (uint64_t q = acked + 1; q < s.next_seq; q++)
            check_frame(&s, q, sizes[q % 6]);
        /* Acknowledge about two thirds of what is kept. */
        uint64_t upto = acked + (s.next_seq - 1 - acked) * 2 / 3;
        if (upto > acked) {
            ck_assert_int_eq(session_ack(&s, &p, upto), SESSION_ACK_DONE);
            acked = upto;
        }
        size_t bytes = 0;
        for (uint64_t q = acked + 1; q < s.next_seq; q++)
            bytes += session_frame(&s, q)->len;
        ck_assert_uint_eq(s.bytes, bytes);
    }
    ck_assert_uint_gt(s.count, 0);
    session_clear(&s, &p);
    ck_assert_uint_eq(s.count, 0);
    ck_assert_uint_eq(s.bytes, 0);
    ck_assert_uint_eq(p.held, 0);
    chunk_pool_drain(&p);
}
END_TEST

/* A frame kept by the session and queued for sending is one copy: the
 * block lives until both let go. */
START_TEST(test_shared_with_queue)
{
    struct chunk_pool p;
    struct session s;
    struct outq q = {0};
    chunk_pool_init(&p, 4);
    session_init(&s, tok);
    char hdr[PROTO_MAX_MSG_HEADER];
    size_t hlen = proto_msg_header_seq(hdr, "a", 1, "b", 1, 3, 1);
    struct shared *sh;
    uint32_t off;
    ck_assert_int_eq(session_keep(&s, &p, hdr, hlen, "abc", 3, &sh, &off), 0);
    ck_assert_int_eq(outq_append_shared(&q, &p, sh, off, (uint32_t)(hlen + 4)),
                     0);
    ck_assert_uint_eq(q.bytes, hlen + 4);
    ck_assert_int_eq(session_ack(&s, &p, 1), SESSION_ACK_DONE);
    session_clear(&s, &p);
    /* The queue still holds the frame, intact. */
    ck_assert_uint_gt(p.held, 0);
    ck_assert(memcmp(sh->data + off, "MSG a b 3 1\nabc\n", hlen + 4) == 0);
    outq_clear(&q, &p);
    ck_assert_uint_eq(p.held, 0);
    chunk_pool_drain(&p);
}
END_TEST

START_TEST(test_token)
{
    char hex[PROTO_TOKEN_LEN + 1];
    session_token_hex(tok, hex);
    ck_assert_str_eq(hex, "0123456789abcdeffedcba9876543210");
    ck_assert(session_token_matches(tok, hex, 32));
    ck_assert(
        session_token_matches(tok, "0123456789ABCDEFFEDCBA9876543210", 32));
    ck_assert(!session_token_matches(tok, hex, 31));
    ck_assert(!session_token_matches(tok, "", 0));
    char bad[PROTO_TOKEN_LEN + 1];
    for (int i = 0; i < PROTO_TOKEN_LEN; i++) {
        memcpy(bad, hex, sizeof bad);
        bad[i] = bad[i] == '0' ? '1' : '0';
        ck_assert(!session_token_matches(tok, bad, 32));
        bad[i] = 'g';
        ck_assert(!session_token_matches(tok, bad, 32));
        bad[i] = ' ';
        ck_assert(!session_token_matches(tok, bad, 32));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("session");
    tcase_add_test(tc, test_keep_and_ack);
    tcase_add_test(tc, test_ring_order);
    tcase_add_test(tc, test_shared_with_queue);
    tcase_add_test(tc, test_token);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
