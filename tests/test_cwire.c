/* test_cwire.c: Check unit tests for what cluster instances exchange
 * (src/cwire.c): id keys, owner values, heartbeats, batch records.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "cwire.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(keys_round_trip)
{
    const char *ids[] = {
        "a",
        ".",
        "..a..",
        "node.7",
        "A-z_0.9",
        ".x.",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        char key[CW_MAX_KEY + 1], back[PROTO_MAX_ID + 1];
        size_t n = cw_key_encode(key, ids[i], strlen(ids[i]));
        ck_assert_uint_eq(n, strlen(key));
        /* A key-value key may hold no '.', the token separator. */
        ck_assert_ptr_null(strchr(key, '.'));
        ck_assert_int_eq(cw_key_decode(back, key, n), (int)strlen(ids[i]));
        ck_assert_str_eq(back, ids[i]);
    }
}
END_TEST

START_TEST(keys_refused)
{
    char back[PROTO_MAX_ID + 1];
    const char *bad[] = {"", "a.b", "=2", "=3E", "a=", "x y", "a/b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_int_eq(cw_key_decode(back, bad[i], strlen(bad[i])), -1);
    char big[200];
    memset(big, 'a', 65);
    ck_assert_int_eq(cw_key_decode(back, big, 65), -1);
    ck_assert_int_eq(cw_key_decode(back, big, 64), 64);
}
END_TEST

START_TEST(owner_and_heartbeat)
{
    char buf[400];
    struct cw_owner o;
    long long nodes;
    int n = cw_owner_format(buf, sizeof buf, 0x00ab00cd00ef0012ULL, "edge 1");
    ck_assert_int_eq(cw_owner_parse(buf, (size_t)n, &o), 0);
    ck_assert_uint_eq(o.inc, 0x00ab00cd00ef0012ULL);
    ck_assert_uint_eq(o.name_len, 6);
    ck_assert_int_eq(memcmp(o.name, "edge 1", 6), 0);
    n = cw_hb_format(buf, sizeof buf, 42, 19000, "m1");
    ck_assert_int_eq(cw_hb_parse(buf, (size_t)n, &o, &nodes), 0);
    ck_assert_uint_eq(o.inc, 42);
    ck_assert_int_eq(nodes, 19000);
    n = cw_hb_format(buf, sizeof buf, 42, -1, "m1");
    ck_assert_int_eq(cw_hb_parse(buf, (size_t)n, &o, &nodes), 0);
    ck_assert_int_eq(nodes, -1);
    const char *bad[] = {"", "0123456789abcdef", "0123456789abcdeX name",
                         "0123456789abcdef ", "0123456789ABCDEF name"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_int_eq(cw_owner_parse(bad[i], strlen(bad[i]), &o), -1);
    const char *badhb[] = {"0123456789abcdef 1", "0123456789abcdef x n",
                           "0123456789abcdef -2 n", "0123456789abcdef  n"};
    for (size_t i = 0; i < sizeof badhb / sizeof *badhb; i++)
        ck_assert_int_eq(cw_hb_parse(badhb[i], strlen(badhb[i]), &o, &nodes),
                         -1);
}
END_TEST

START_TEST(batch_records)
{
    char batch[512];
    size_t n = 0;
    n += (size_t)sprintf(batch + n, "MSG a b 3\nx\ny\n");
    n += (size_t)sprintf(batch + n, "MSG a * 0\n\n");
    n += cw_control(batch + n, sizeof batch - n, CW_KICK, "b", 1, "go away");
    n += cw_control(batch + n, sizeof batch - n, CW_KICK, "c", 1, NULL);
    n += cw_control(batch + n, sizeof batch - n, CW_DROP, "d.e", 3, "ignored");

    struct cw_rec r;
    const char *p = batch;
    long used = cw_next(p, n, &r);
    ck_assert_int_eq(used, 14);
    ck_assert_int_eq(r.kind, CW_MSG);
    ck_assert_uint_eq(r.hlen, 10);
    ck_assert_int_eq(memcmp(r.hdr, "MSG a b 3\n", 10), 0);
    ck_assert_uint_eq(r.plen, 3);
    ck_assert_int_eq(memcmp(r.payload, "x\ny", 3), 0);
    p += used, n -= (size_t)used;
    used = cw_next(p, n, &r);
    ck_assert_int_eq(r.kind, CW_MSG);
    ck_assert_uint_eq(r.to_len, 1);
    ck_assert_uint_eq(r.plen, 0);
    p += used, n -= (size_t)used;
    used = cw_next(p, n, &r);
    ck_assert_int_eq(r.kind, CW_KICK);
    ck_assert_uint_eq(r.text_len, 7);
    ck_assert_int_eq(memcmp(r.text, "go away", 7), 0);
    p += used, n -= (size_t)used;
    used = cw_next(p, n, &r);
    ck_assert_int_eq(r.kind, CW_KICK);
    ck_assert_ptr_null(r.text);
    p += used, n -= (size_t)used;
    used = cw_next(p, n, &r);
    ck_assert_int_eq(r.kind, CW_DROP);
    ck_assert_uint_eq(r.to_len, 3);
    p += used, n -= (size_t)used;
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(cw_next(p, n, &r), 0);
}
END_TEST

START_TEST(batch_refused)
{
    const char *bad[] = {
        "MSG a b 3\nxy\n",  /* short */
        "MSG a b 3\nxyzz",  /* no LF after payload */
        "MSG a b x\n\n",    /* not a number */
        "MSG a b\n",        /* no length */
        "MSG a b 1 2\nx\n", /* extra token */
        "MSG a b 99999999999999999999\n",
        "MSG a b\xff 1\nx\n", /* bad id */
        "MSG * b 1\nx\n",     /* from '*' */
        "KICK\n",
        "KICK a b",
        "DROP a b\n",
        "NOPE a\n",
        "\n",
        "MSG a b 1\n", /* payload missing */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct cw_rec r;
        ck_assert_msg(cw_next(bad[i], strlen(bad[i]), &r) == -1, "accepted %zu",
                      i);
    }
}
END_TEST

/* Names end up in logs, msgctl's tables and terminals: a control byte
 * anywhere in one refuses the owner value or the heartbeat. */
START_TEST(names_with_control_refused)
{
    const char *names[] = {"ev\x1b[31mil", "a\rb", "tab\there", "del\x7f",
                           "nl\nx"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char buf[400];
        struct cw_owner o;
        long long nodes;
        int n = snprintf(buf, sizeof buf, "0123456789abcdef %s", names[i]);
        ck_assert_msg(cw_owner_parse(buf, (size_t)n, &o) == -1, "owner %zu", i);
        n = snprintf(buf, sizeof buf, "0123456789abcdef 3 %s", names[i]);
        ck_assert_msg(cw_hb_parse(buf, (size_t)n, &o, &nodes) == -1, "hb %zu",
                      i);
    }
    /* Bytes above 0x7f are no control characters (UTF-8 names). */
    struct cw_owner o;
    const char utf8[] = "0123456789abcdef caf\xc3\xa9";
    ck_assert_int_eq(cw_owner_parse(utf8, sizeof utf8 - 1, &o), 0);
    ck_assert(cw_printable("plain name", 10));
    ck_assert(!cw_printable("a\0b", 3));
}
END_TEST

/* A heartbeat's node count is bounded: 99999999999999999999 was shown as
 * 9223372036854775808. */
START_TEST(heartbeat_nodes_bounded)
{
    struct cw_owner o;
    long long nodes = 7;
    const char *bad[] = {
        "0123456789abcdef 99999999999999999999 n",
        "0123456789abcdef 9223372036854775808 n",
        "0123456789abcdef 1000000001 n",
        "0123456789abcdef 00000000000000000000000000001000000001 n",
        "0123456789abcdef +5 n",
        "0123456789abcdef -0 n",
        "0123456789abcdef -10 n",
        "0123456789abcdef 5x n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(cw_hb_parse(bad[i], strlen(bad[i]), &o, &nodes) == -1,
                      "accepted %s", bad[i]);
    const char ok[] = "0123456789abcdef 1000000000 n";
    ck_assert_int_eq(cw_hb_parse(ok, sizeof ok - 1, &o, &nodes), 0);
    ck_assert_int_eq(nodes, CW_MAX_NODES);
    const char zero[] = "0123456789abcdef 0 n";
    ck_assert_int_eq(cw_hb_parse(zero, sizeof zero - 1, &o, &nodes), 0);
    ck_assert_int_eq(nodes, 0);
}
END_TEST

/* A KICK reason with a control byte is refused as a record (a CR would
 * reach the node's BYE line); the records after it still count. */
START_TEST(kick_reason_with_control_refused)
{
    const char batch[] = "KICK a evil\rBYE x\nKICK b esc\x1b[2J\n"
                         "KICK c del\x7f\nKICK d fine reason\n";
    const char *p = batch;
    size_t n = sizeof batch - 1;
    struct cw_rec r;
    for (int i = 0; i < 3; i++) {
        long used = cw_next(p, n, &r);
        ck_assert_int_gt(used, 0);
        ck_assert_int_eq(r.kind, CW_REFUSED);
        p += used, n -= (size_t)used;
    }
    long used = cw_next(p, n, &r);
    ck_assert_int_eq(used, (long)n);
    ck_assert_int_eq(r.kind, CW_KICK);
    ck_assert_uint_eq(r.text_len, 11);
    ck_assert_int_eq(cw_next(p + used, 0, &r), 0);
}
END_TEST

/* Every batch starts with its sender's incarnation. */
START_TEST(batch_head)
{
    char head[CW_HEAD_LEN + 1];
    uint64_t inc = 0;
    ck_assert_uint_eq(cw_head_format(head, 0xfedcba9876543210ULL), CW_HEAD_LEN);
    ck_assert_str_eq(head, "FROM fedcba9876543210\n");
    ck_assert_int_eq(cw_head_parse(head, CW_HEAD_LEN, &inc), CW_HEAD_LEN);
    ck_assert_uint_eq(inc, 0xfedcba9876543210ULL);
    const char *bad[] = {"",
                         "FROM fedcba9876543210",
                         "FROM fedcba987654321\n",
                         "FROM fedcba9876543210 \n",
                         "FROM FEDCBA9876543210\n",
                         "MSG a b 1\nx\n",
                         "from fedcba9876543210\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(cw_head_parse(bad[i], strlen(bad[i]), &inc) == -1,
                      "accepted %zu", i);
}
END_TEST

/* Random bytes never crash the parser or make it read past the end. */
START_TEST(batch_garbage)
{
    srand(7);
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rand() % 64);
        char *buf = malloc(n ? n : 1);
        const char alphabet[] = "MSGKICDROP ab*\n0123";
        for (size_t i = 0; i < n; i++)
            buf[i] = alphabet[rand() % (sizeof alphabet - 1)];
        struct cw_rec r;
        size_t off = 0;
        long used;
        while ((used = cw_next(buf + off, n - off, &r)) > 0) {
            ck_assert_uint_le(off + (size_t)used, n);
            off += (size_t)used;
        }
        free(buf);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cwire");
    TCase *tc = tcase_create("cwire");
    tcase_add_test(tc, keys_round_trip);
    tcase_add_test(tc, keys_refused);
    tcase_add_test(tc, owner_and_heartbeat);
    tcase_add_test(tc, batch_records);
    tcase_add_test(tc, batch_refused);
    tcase_add_test(tc, batch_garbage);
    tcase_add_test(tc, names_with_control_refused);
    tcase_add_test(tc, heartbeat_nodes_bounded);
    tcase_add_test(tc, kick_reason_with_control_refused);
    tcase_add_test(tc, batch_head);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
