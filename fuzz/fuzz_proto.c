/* fuzz_proto.c: libFuzzer target for the wire parser.  The input is a
 * byte stream plus a split pattern (its first byte seeds the chunk sizes);
 * the stream is fed in those chunks the way a connection receives it, and
 * must parse exactly as it does in one piece, with the parser's own
 * invariants holding at every step.  The same bytes also go through the
 * reader of the server's own output (proto_out_piece).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define MAX_CMDS 4096

struct rec {
    int status, verb, err;
    size_t consumed, arg_len, payload_len;
    uint64_t arg_hash, payload_hash;
};

static uint64_t hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

/* Parses buf as a connection would, reading it in chunks; returns the
 * number of records. */
static size_t run(const char *data, size_t len, const uint8_t *splits,
                  size_t nsplits, uint64_t max, struct rec *out)
{
    char *buf = malloc(len + 1);
    size_t have = 0, fed = 0, n = 0, k = 0;
    while (fed < len || have) {
        size_t chunk = nsplits ? (size_t)splits[k++ % nsplits] + 1 : len;
        if (fed < len) {
            if (chunk > len - fed)
                chunk = len - fed;
            memcpy(buf + have, data + fed, chunk);
            have += chunk;
            fed += chunk;
        }
        size_t off = 0;
        for (;;) {
            struct proto_cmd cmd;
            int st = proto_parse(buf + off, have - off, max, &cmd);
            if (st == PROTO_INCOMPLETE) {
                /* need, when known, is more than what there is */
                if (cmd.need && cmd.need <= have - off)
                    abort();
                if (have - off >= PROTO_MAX_LINE && cmd.need == 0)
                    abort(); /* a whole line's worth must decide */
                break;
            }
            if (n == MAX_CMDS) {
                free(buf);
                return n;
            }
            struct rec *r = &out[n++];
            memset(r, 0, sizeof *r);
            r->status = st;
            r->err = cmd.err;
            if (st == PROTO_FATAL) {
                free(buf);
                return n;
            }
            if (cmd.consumed == 0 || cmd.consumed > have - off)
                abort();
            r->verb = cmd.verb;
            r->consumed = cmd.consumed;
            if (st == PROTO_COMMAND) {
                r->arg_len = cmd.arg_len;
                r->arg_hash = cmd.arg ? hash(cmd.arg, cmd.arg_len) : 0;
                r->payload_len = cmd.payload_len;
                r->payload_hash = hash(cmd.payload, cmd.payload_len);
                if (cmd.payload_len > max)
                    abort();
                /* An argument comes back on server lines (PONG, ERR): no
                 * space or control byte may be in it. */
                for (size_t i = 0; i < cmd.arg_len; i++) {
                    unsigned char ch = (unsigned char)cmd.arg[i];
                    if (ch <= ' ' || ch == 0x7f)
                        abort();
                }
            }
            off += cmd.consumed;
            if (off == have)
                break;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
        if (fed == len)
            break; /* what is left is an incomplete frame */
    }
    free(buf);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rec whole[MAX_CMDS], split[MAX_CMDS];
    if (size < 2)
        return 0;
    /* byte 0: max payload class; bytes 1..8: chunk sizes */
    uint64_t max = data[0] & 1 ? 16 : 65536;
    size_t nsplits = size > 9 ? 8 : size - 1;
    const uint8_t *splits = data + 1;
    const char *stream = (const char *)data + 1 + nsplits;
    size_t len = size - 1 - nsplits;

    /* A piece is at least its line; without an LF there is none. */
    uint64_t plen, plines;
    const char *lf = memchr(stream, '\n', len);
    if (proto_out_piece(stream, len, &plen, &plines) == 0) {
        if (lf == NULL || plen < (uint64_t)(lf - stream) + 1)
            abort();
    } else if (lf != NULL && memcmp(stream, "MSG ", len < 4 ? len : 4) != 0 &&
               memcmp(stream, "NODES ", len < 6 ? len : 6) != 0) {
        abort(); /* any other whole line is a piece */
    }

    size_t a = run(stream, len, NULL, 0, max, whole);
    size_t b = run(stream, len, splits, nsplits, max, split);
    if (a != b || memcmp(whole, split, a * sizeof *whole) != 0)
        abort();
    return 0;
}
