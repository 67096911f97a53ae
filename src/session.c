/* session.c: a session's kept frames and its token (session.h).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "session.h"

#include <stdlib.h>
#include <string.h>

void session_init(struct session *s, const uint8_t token[SESSION_TOKEN_BYTES])
{
    memset(s, 0, sizeof *s);
    memcpy(s->token, token, SESSION_TOKEN_BYTES);
    s->next_seq = 1;
}

static struct session_frame *at(const struct session *s, uint32_t i)
{
    return &s->ring[(s->head + i) & (s->cap - 1)];
}

/* Lets go of the n oldest kept frames. */
static void drop_oldest(struct session *s, struct chunk_pool *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        struct session_frame *f = at(s, 0);
        s->bytes -= f->len;
        outq_shared_unref(p, f->sh);
        s->head = (s->head + 1) & (s->cap - 1);
        s->count--;
    }
    s->acked += n;
}

void session_clear(struct session *s, struct chunk_pool *p)
{
    if (s->count)
        drop_oldest(s, p, s->count);
    outq_share_end(p, &s->block);
    free(s->ring);
    s->ring = NULL;
    s->cap = s->head = 0;
}

/* Room for one more frame in the ring: doubled (its order kept) when
 * full.  0, or -1 without memory. */
static int ring_room(struct session *s)
{
    if (s->count < s->cap)
        return 0;
    if (s->cap > UINT32_MAX / 2)
        return -1;
    uint32_t cap = s->cap ? s->cap * 2 : 16;
    struct session_frame *r = malloc((size_t)cap * sizeof *r);
    if (r == NULL)
        return -1;
    for (uint32_t i = 0; i < s->count; i++)
        r[i] = *at(s, i);
    free(s->ring);
    s->ring = r;
    s->cap = cap;
    s->head = 0;
    return 0;
}

int session_keep(struct session *s, struct chunk_pool *p, const char *hdr,
                 size_t hlen, const char *payload, size_t plen,
                 struct shared **sh, uint32_t *off)
{
    if (ring_room(s) < 0)
        return -1;
    struct shared *b =
        outq_share_in(p, &s->block, hdr, hlen, payload, plen, off);
    if (b == NULL)
        return -1;
    outq_shared_ref(b);
    struct session_frame *f = at(s, s->count);
    f->sh = b;
    f->off = *off;
    f->len = (uint32_t)(hlen + plen + 1);
    s->count++;
    s->bytes += f->len;
    s->next_seq++;
    *sh = b;
    return 0;
}

enum session_ack session_ack(struct session *s, struct chunk_pool *p,
                             uint64_t seq)
{
    if (seq >= s->next_seq)
        return SESSION_ACK_AHEAD;
    if (seq <= s->acked)
        return SESSION_ACK_OLD;
    drop_oldest(s, p, (uint32_t)(seq - s->acked));
    return SESSION_ACK_DONE;
}

const struct session_frame *session_frame(const struct session *s, uint64_t seq)
{
    if (seq <= s->acked || seq >= s->next_seq)
        return NULL;
    return at(s, (uint32_t)(seq - s->acked - 1));
}

void session_token_hex(const uint8_t token[SESSION_TOKEN_BYTES],
                       char out[PROTO_TOKEN_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < SESSION_TOKEN_BYTES; i++) {
        out[2 * i] = hex[token[i] >> 4];
        out[2 * i + 1] = hex[token[i] & 15];
    }
    out[PROTO_TOKEN_LEN] = '\0';
}

static int hex_value(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

int session_token_matches(const uint8_t token[SESSION_TOKEN_BYTES],
                          const char *text, size_t len)
{
    if (len != PROTO_TOKEN_LEN)
        return 0;
    unsigned diff = 0;
    for (int i = 0; i < SESSION_TOKEN_BYTES; i++) {
        unsigned hi = (unsigned)hex_value((unsigned char)text[2 * i]);
        unsigned lo = (unsigned)hex_value((unsigned char)text[2 * i + 1]);
        diff |= (hi | lo) >> 8; /* a non-hex digit: (unsigned)-1 */
        diff |= ((hi << 4 | lo) ^ token[i]) & 0xffu;
    }
    return diff == 0;
}
