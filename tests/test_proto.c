/* test_proto.c: Check unit tests for the wire protocol parser and helpers
 * (src/proto.c): every status and error of proto_parse, ids, names, the MSG
 * header, and the property that a stream parses the same however it is
 * split across reads.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "proto.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX 65536u

/* ck_assert records its location with a write(2) on every call; the hot
 * loops test first and call Check only to fail. */
#define REQUIRE(expr)                                                          \
    do {                                                                       \
        if (!(expr))                                                           \
            ck_abort_msg("line %d: %s", __LINE__, #expr);                      \
    } while (0)
#define REQUIRE_MSG(expr, ...)                                                 \
    do {                                                                       \
        if (!(expr))                                                           \
            ck_abort_msg(__VA_ARGS__);                                         \
    } while (0)

/* ------------------------------------------------------------------ */
/* Parsing one buffer                                                   */
/* ------------------------------------------------------------------ */

/* The input is copied into a buffer of exactly its size, so that valgrind
 * sees any read past the bytes handed to the parser. */
static char *pbuf;
static struct proto_cmd pcmd;

static void teardown(void)
{
    free(pbuf);
    pbuf = NULL;
}

static enum proto_status parse_max(const void *in, size_t n, uint64_t max)
{
    free(pbuf);
    pbuf = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(pbuf);
    if (n)
        memcpy(pbuf, in, n);
    memset(&pcmd, 0x5a, sizeof pcmd); /* parse must set every field */
    return proto_parse(pbuf, n, max, &pcmd);
}

static const char *status_name(enum proto_status st)
{
    switch (st) {
    case PROTO_INCOMPLETE:
        return "INCOMPLETE";
    case PROTO_COMMAND:
        return "COMMAND";
    case PROTO_REFUSED:
        return "REFUSED";
    case PROTO_FATAL:
        return "FATAL";
    }
    return "?";
}

static void want_status(const char *in, size_t n, uint64_t max,
                        enum proto_status want)
{
    enum proto_status st = parse_max(in, n, max);
    ck_assert_msg(st == want, "input \"%.*s\" (%zu bytes): got %s, want %s",
                  (int)(n > 80 ? 80 : n), in, n, status_name(st),
                  status_name(want));
}

/* A command; arg NULL: no argument; payload NULL: a verb without one. */
static void check_cmd_max(const char *in, size_t n, uint64_t max,
                          enum proto_verb verb, const char *arg, size_t arg_len,
                          const char *payload, size_t payload_len,
                          size_t consumed)
{
    want_status(in, n, max, PROTO_COMMAND);
    ck_assert_int_eq(pcmd.verb, verb);
    ck_assert_int_eq(pcmd.err, PERR_NONE);
    ck_assert_uint_eq(pcmd.consumed, consumed);
    if (arg == NULL) {
        ck_assert_ptr_null(pcmd.arg);
        ck_assert_uint_eq(pcmd.arg_len, 0);
    } else {
        ck_assert_ptr_nonnull(pcmd.arg);
        ck_assert_uint_eq(pcmd.arg_len, arg_len);
        ck_assert(pcmd.arg >= pbuf && pcmd.arg + arg_len <= pbuf + n);
        ck_assert(memcmp(pcmd.arg, arg, arg_len) == 0);
    }
    if (payload == NULL) {
        ck_assert_ptr_null(pcmd.payload);
        ck_assert_uint_eq(pcmd.payload_len, 0);
    } else {
        ck_assert_ptr_nonnull(pcmd.payload);
        ck_assert_uint_eq(pcmd.payload_len, payload_len);
        ck_assert(pcmd.payload >= pbuf &&
                  pcmd.payload + payload_len <= pbuf + n);
        ck_assert(memcmp(pcmd.payload, payload, payload_len) == 0);
    }
}

static size_t len_or_0(const char *s)
{
    return s ? strlen(s) : 0;
}

static void check_refused(const char *in, size_t n, enum proto_err err,
                          size_t consumed)
{
    want_status(in, n, MAX, PROTO_REFUSED);
    ck_assert_str_eq(proto_err_name(pcmd.err), proto_err_name(err));
    ck_assert_uint_eq(pcmd.consumed, consumed);
}

static void check_fatal_max(const char *in, size_t n, uint64_t max,
                            enum proto_err err)
{
    want_status(in, n, max, PROTO_FATAL);
    ck_assert_str_eq(proto_err_name(pcmd.err), proto_err_name(err));
}

static void check_incomplete_max(const char *in, size_t n, uint64_t max,
                                 size_t need)
{
    want_status(in, n, max, PROTO_INCOMPLETE);
    ck_assert_uint_eq(pcmd.need, need);
}

#define L(lit) lit, sizeof(lit) - 1
/* CMD(lit, verb, arg or NULL): a command without payload, all consumed. */
#define CMD(lit, verb, arg)                                                    \
    check_cmd_max(L(lit), MAX, verb, arg, len_or_0(arg), NULL, 0,              \
                  sizeof(lit) - 1)
#define REFUSED(lit, err, consumed) check_refused(L(lit), err, consumed)
#define FATAL(lit, err) check_fatal_max(L(lit), MAX, err)
#define INCOMPLETE(lit, need) check_incomplete_max(L(lit), MAX, need)

/* ------------------------------------------------------------------ */
/* Verbs and token counts                                               */
/* ------------------------------------------------------------------ */

START_TEST(test_verbs_any_case)
{
    CMD("HELLO alice\n", PROTO_HELLO, "alice");
    CMD("hello alice\n", PROTO_HELLO, "alice");
    CMD("HeLLo alice\n", PROTO_HELLO, "alice");
    CMD("WHO\n", PROTO_WHO, NULL);
    CMD("who\n", PROTO_WHO, NULL);
    CMD("wHo\n", PROTO_WHO, NULL);
    CMD("PING\n", PROTO_PING, NULL);
    CMD("ping\n", PROTO_PING, NULL);
    CMD("PiNg\n", PROTO_PING, NULL);
    CMD("QUIT\n", PROTO_QUIT, NULL);
    CMD("quit\n", PROTO_QUIT, NULL);
    CMD("qUiT\n", PROTO_QUIT, NULL);
    check_cmd_max(L("send bob 2\nhi\n"), MAX, PROTO_SEND, "bob", 3, "hi", 2,
                  14);
    check_cmd_max(L("SeNd bob 2\nhi\n"), MAX, PROTO_SEND, "bob", 3, "hi", 2,
                  14);
    check_cmd_max(L("bcast 2\nhi\n"), MAX, PROTO_BCAST, NULL, 0, "hi", 2, 11);
    check_cmd_max(L("BcAsT 2\nhi\n"), MAX, PROTO_BCAST, NULL, 0, "hi", 2, 11);
}
END_TEST

/* Replacing any one letter of a verb by any byte other than that letter in
 * either case makes it unknown; only ASCII case folding is done. */
/* AUTH name secret: the secret is the rest of the line, spaces and all;
 * no secret, no name, or a control byte is a bad command. */
START_TEST(test_auth_args)
{
    struct proto_cmd cmd;
    const char *in = "AUTH alice pass word\r\n";
    ck_assert_int_eq(proto_parse(in, strlen(in), MAX, &cmd), PROTO_COMMAND);
    ck_assert_int_eq(cmd.verb, PROTO_AUTH);
    ck_assert_uint_eq(cmd.arg_len, 5);
    ck_assert(memcmp(cmd.arg, "alice", 5) == 0);
    ck_assert_uint_eq(cmd.secret_len, 9);
    ck_assert(memcmp(cmd.secret, "pass word", 9) == 0);
    ck_assert_uint_eq(cmd.consumed, strlen(in));
    const char *bad[] = {"AUTH\n", "AUTH alice\n", "AUTH alice \n", "AUTH  x\n",
                         "AUTH alice pa\x01ss\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(proto_parse(bad[i], strlen(bad[i]), MAX, &cmd),
                         PROTO_REFUSED);
        ck_assert_int_eq(cmd.err, PERR_BAD_COMMAND);
        ck_assert_uint_eq(cmd.consumed, strlen(bad[i]));
    }
}
END_TEST

START_TEST(test_verb_every_byte)
{
    static const char *const lines[] = {
        "HELLO\n", "WHO\n", "PING\n", "QUIT\n", "BCAST 0\n\n", "SEND b 0\n\n"};
    for (size_t l = 0; l < sizeof lines / sizeof lines[0]; l++) {
        const char *line = lines[l];
        size_t n = strlen(line);
        size_t vlen = strcspn(line, " \n");
        for (size_t pos = 0; pos < vlen; pos++) {
            for (int c = 0; c < 256; c++) {
                char buf[16];
                memcpy(buf, line, n);
                buf[pos] = (char)c;
                if (c == '\n' || c == ' ')
                    continue;
                int upper = line[pos];
                int same = c == upper || c == upper + ('a' - 'A');
                enum proto_status st = parse_max(buf, n, MAX);
                if (same) {
                    REQUIRE_MSG(st == PROTO_COMMAND, "%s with 0x%02x at %zu",
                                line, c, pos);
                } else {
                    REQUIRE_MSG(st == PROTO_REFUSED &&
                                    pcmd.err == PERR_BAD_COMMAND,
                                "%.*s with byte 0x%02x at %zu: %s", (int)vlen,
                                line, c, pos, status_name(st));
                    /* No payload is expected after an unknown verb. */
                    REQUIRE(pcmd.consumed ==
                            ((size_t)(strchr(line, '\n') - line) + 1));
                }
            }
        }
    }
}
END_TEST

START_TEST(test_hello_args)
{
    /* No id: arg NULL.  "HELLO ": an empty id, arg set with length 0. */
    CMD("HELLO\n", PROTO_HELLO, NULL);
    CMD("HELLO\r\n", PROTO_HELLO, NULL);
    want_status(L("HELLO \n"), MAX, PROTO_COMMAND);
    ck_assert_int_eq(pcmd.verb, PROTO_HELLO);
    ck_assert_ptr_eq(pcmd.arg, pbuf + 6);
    ck_assert_uint_eq(pcmd.arg_len, 0);
    ck_assert_uint_eq(pcmd.consumed, 7);
    want_status(L("HELLO \r\n"), MAX, PROTO_COMMAND);
    ck_assert_ptr_eq(pcmd.arg, pbuf + 6);
    ck_assert_uint_eq(pcmd.arg_len, 0);
    ck_assert_uint_eq(pcmd.consumed, 8);

    CMD("HELLO a\n", PROTO_HELLO, "a");
    check_cmd_max(L("HELLO alice\r\n"), MAX, PROTO_HELLO, "alice", 5, NULL, 0,
                  13);
    /* Ids are not validated by the parser. */
    CMD("HELLO bad/id!\n", PROTO_HELLO, "bad/id!");
    /* A control byte anywhere in a line refuses it before the id is
     * looked at. */
    REFUSED("HELLO a\0b\n", PERR_BAD_COMMAND, 10);
    REFUSED("HELLO a\tb\n", PERR_BAD_COMMAND, 10);
    REFUSED("HELLO a\x7f\n", PERR_BAD_COMMAND, 9);
    char line[128];
    memcpy(line, "HELLO ", 6);
    memset(line + 6, 'x', 100);
    line[106] = '\n';
    check_cmd_max(line, 107, MAX, PROTO_HELLO, line + 6, 100, NULL, 0, 107);
}
END_TEST

START_TEST(test_hello_session)
{
    want_status(L("HELLO a session\n"), MAX, PROTO_COMMAND);
    ck_assert_int_eq(pcmd.verb, PROTO_HELLO);
    ck_assert_int_eq(pcmd.session, PROTO_SESS_NEW);
    ck_assert_ptr_eq(pcmd.arg, pbuf + 6);
    ck_assert_uint_eq(pcmd.arg_len, 1);
    ck_assert_uint_eq(pcmd.consumed, 16);
    want_status(L("HELLO a\n"), MAX, PROTO_COMMAND);
    ck_assert_int_eq(pcmd.session, PROTO_SESS_NONE);

    want_status(L("HELLO node-1 session=0123abcd ack=42\r\n"), MAX,
                PROTO_COMMAND);
    ck_assert_int_eq(pcmd.session, PROTO_SESS_RESUME);
    ck_assert_uint_eq(pcmd.arg_len, 6);
    ck_assert(memcmp(pcmd.arg, "node-1", 6) == 0);
    ck_assert_uint_eq(pcmd.token_len, 8);
    ck_assert(memcmp(pcmd.token, "0123abcd", 8) == 0);
    ck_assert_uint_eq(pcmd.seq, 42);
    /* ack= may be left out: nothing more is acknowledged. */
    want_status(L("HELLO a session=t\n"), MAX, PROTO_COMMAND);
    ck_assert_int_eq(pcmd.session, PROTO_SESS_RESUME);
    ck_assert_uint_eq(pcmd.token_len, 1);
    ck_assert_uint_eq(pcmd.seq, 0);
    /* An empty token parses (the router answers id-taken). */
    want_status(L("HELLO a session= ack=0\n"), MAX, PROTO_COMMAND);
    ck_assert_uint_eq(pcmd.token_len, 0);

    REFUSED("HELLO a sessions\n", PERR_BAD_COMMAND, 17);
    REFUSED("HELLO a Session\n", PERR_BAD_COMMAND, 16);
    REFUSED("HELLO a session ack=1\n", PERR_BAD_COMMAND, 22);
    REFUSED("HELLO a session=t ack=\n", PERR_BAD_COMMAND, 23);
    REFUSED("HELLO a session=t ack=-1\n", PERR_BAD_COMMAND, 25);
    REFUSED("HELLO a session=t nack=1\n", PERR_BAD_COMMAND, 25);
    REFUSED("HELLO a session=t ack=1 x\n", PERR_BAD_COMMAND, 26);
    REFUSED("HELLO a ack=1 session=t\n", PERR_BAD_COMMAND, 24);
    REFUSED("HELLO a  session\n", PERR_BAD_COMMAND, 17);
    REFUSED("HELLO a session \n", PERR_BAD_COMMAND, 17);
}
END_TEST

START_TEST(test_ack)
{
    want_status(L("ACK 17\n"), MAX, PROTO_COMMAND);
    ck_assert_int_eq(pcmd.verb, PROTO_ACK);
    ck_assert_uint_eq(pcmd.seq, 17);
    ck_assert_uint_eq(pcmd.consumed, 7);
    want_status(L("ack 0\r\n"), MAX, PROTO_COMMAND);
    ck_assert_uint_eq(pcmd.seq, 0);
    /* Past 2^64 saturates: the router refuses it as never sent. */
    want_status(L("ACK 99999999999999999999999\n"), MAX, PROTO_COMMAND);
    ck_assert_uint_eq(pcmd.seq, UINT64_MAX);
    REFUSED("ACK\n", PERR_BAD_COMMAND, 4);
    REFUSED("ACK \n", PERR_BAD_COMMAND, 5);
    REFUSED("ACK x\n", PERR_BAD_COMMAND, 6);
    REFUSED("ACK 1 2\n", PERR_BAD_COMMAND, 8);
    REFUSED("ACK +1\n", PERR_BAD_COMMAND, 7);
}
END_TEST

START_TEST(test_ping_token)
{
    CMD("PING\n", PROTO_PING, NULL);
    CMD("PING 1\n", PROTO_PING, "1");
    CMD("PING x-y.z\n", PROTO_PING, "x-y.z");
    check_cmd_max(L("PING tok\r\n"), MAX, PROTO_PING, "tok", 3, NULL, 0, 10);
    /* A token is echoed byte for byte: anything but space and control
     * bytes; bytes from 0x80 up are fine. */
    check_cmd_max(L("PING a\x80\xff~z\n"), MAX, PROTO_PING, "a\x80\xff~z", 5,
                  NULL, 0, 11);
    /* A token that ends in CR: the line would come back as "PONG abc\r\n",
     * which no server line may be. */
    REFUSED("PING abc\r\r\n", PERR_BAD_COMMAND, 11);
    REFUSED("PING a\rb\n", PERR_BAD_COMMAND, 9);
    REFUSED("PING a\0b\n", PERR_BAD_COMMAND, 9);
    REFUSED("PING a\x01z\n", PERR_BAD_COMMAND, 9);
    REFUSED("PING \x7f\n", PERR_BAD_COMMAND, 7);
    REFUSED("PING \t\n", PERR_BAD_COMMAND, 7);
    REFUSED("PING \n", PERR_BAD_COMMAND, 6);
    REFUSED("PING \r\n", PERR_BAD_COMMAND, 7);
    REFUSED("PING a b\n", PERR_BAD_COMMAND, 9);
    REFUSED("PING  a\n", PERR_BAD_COMMAND, 8);
}
END_TEST

START_TEST(test_token_counts)
{
    REFUSED("HELLO a b\n", PERR_BAD_COMMAND, 10);
    REFUSED("HELLO  a\n", PERR_BAD_COMMAND, 9);
    REFUSED("HELLO a \n", PERR_BAD_COMMAND, 9);
    REFUSED("SEND\n", PERR_BAD_COMMAND, 5);
    REFUSED("SEND b\n", PERR_BAD_COMMAND, 7);
    REFUSED("SEND \n", PERR_BAD_COMMAND, 6);
    REFUSED("BCAST\n", PERR_BAD_COMMAND, 6);
    REFUSED("WHO x\n", PERR_BAD_COMMAND, 6);
    REFUSED("WHO \n", PERR_BAD_COMMAND, 5);
    REFUSED("QUIT now\n", PERR_BAD_COMMAND, 9);
    REFUSED("QUIT \n", PERR_BAD_COMMAND, 6);
    REFUSED("a b c d e f g h\n", PERR_BAD_COMMAND, 16);
    REFUSED("WHO x\r\n", PERR_BAD_COMMAND, 7);
    REFUSED("SEND b\r\n", PERR_BAD_COMMAND, 8);

    /* A SEND with under three tokens, a BCAST with one, announces no
     * payload: the next line is a command. */
    static const char two[] = "SEND b\nWHO\n";
    REFUSED("SEND b\nWHO\n", PERR_BAD_COMMAND, 7);
    check_cmd_max(two + 7, sizeof two - 1 - 7, MAX, PROTO_WHO, NULL, 0, NULL, 0,
                  4);
}
END_TEST

/* The rule a client applies to know whether its payload is read: a SEND
 * of three tokens or more, a BCAST of two or more, ends in its length. */
START_TEST(test_refused_payload)
{
    /* A decimal last token: the payload is read, then the command is
     * refused, and the stream goes on after it. */
    REFUSED("SEND  3\nabc\n", PERR_BAD_COMMAND, 12); /* empty target */
    REFUSED("SEND  3\r\nabc\r\n", PERR_BAD_COMMAND, 14);
    REFUSED("SEND a b 3\nabc\n", PERR_BAD_COMMAND, 15);
    REFUSED("SEND a b c d e 3\nabc\n", PERR_BAD_COMMAND, 21);
    REFUSED("SEND  b 1\nx\n", PERR_BAD_COMMAND, 12);
    REFUSED("SEND b  1\nx\n", PERR_BAD_COMMAND, 12);
    REFUSED("BCAST  1\nx\n", PERR_BAD_COMMAND, 11);
    REFUSED("BCAST 1 2\nab\n", PERR_BAD_COMMAND, 13);
    REFUSED("send a b 0\n\n", PERR_BAD_COMMAND, 12);
    /* A control byte in the header is refused, after the payload. */
    REFUSED("SEND a\x01 3\nabc\n", PERR_BAD_COMMAND, 14);
    REFUSED("SEND a\tb 3\nabc\n", PERR_BAD_COMMAND, 15);
    REFUSED("BCAST 2\x7f 2\nab\n", PERR_BAD_COMMAND, 14);
    /* What follows the refused frame is the next command, not payload. */
    static const char next[] = "SEND  3\nWHO\nWHO\n";
    REFUSED("SEND  3\nWHO\nWHO\n", PERR_BAD_COMMAND, 12);
    check_cmd_max(next + 12, sizeof next - 1 - 12, MAX, PROTO_WHO, NULL, 0,
                  NULL, 0, 4);
    /* The payload is waited for like any other. */
    INCOMPLETE("SEND  3\n", 12);
    INCOMPLETE("SEND a b 3\nab", 15);
    INCOMPLETE("BCAST 1 2\nxx", 13);
    /* Its terminator is checked like any other. */
    FATAL("SEND  3\nabcd\n", PERR_BAD_FRAME);
    /* And the length limit holds. */
    FATAL("SEND a b 65537\n", PERR_TOO_LARGE);
    FATAL("BCAST  65537\n", PERR_TOO_LARGE);

    /* A last token that is not a decimal number loses the stream, however
     * many tokens come before it. */
    FATAL("SEND b 1 x\n", PERR_BAD_FRAME);
    FATAL("SEND b 1 x y\n", PERR_BAD_FRAME);
    FATAL("SEND b 1 \n", PERR_BAD_FRAME);
    FATAL("SEND b  \n", PERR_BAD_FRAME);
    FATAL("BCAST 1 \n", PERR_BAD_FRAME);
    FATAL("BCAST  \n", PERR_BAD_FRAME);
    FATAL("BCAST 1 x\n", PERR_BAD_FRAME);
    /* Only the CR right before the LF is taken off: one more is part of
     * the length token. */
    FATAL("SEND b 3\r\r\n", PERR_BAD_FRAME);
    FATAL("BCAST 3\r\r\nabc\n", PERR_BAD_FRAME);

    /* An unknown verb announces nothing, whatever follows it. */
    REFUSED("SEND\x01 a 3\nabc\n", PERR_BAD_COMMAND, 10);
}
END_TEST

START_TEST(test_empty_unknown_spaces)
{
    REFUSED("\n", PERR_BAD_COMMAND, 1);
    REFUSED("\r\n", PERR_BAD_COMMAND, 2);
    REFUSED("\nWHO\n", PERR_BAD_COMMAND, 1);
    REFUSED("FOO\n", PERR_BAD_COMMAND, 4);
    REFUSED("FOO bar baz\n", PERR_BAD_COMMAND, 12);
    REFUSED("HELL\n", PERR_BAD_COMMAND, 5);
    REFUSED("HELLOO a\n", PERR_BAD_COMMAND, 9);
    REFUSED("WH0\n", PERR_BAD_COMMAND, 4);
    REFUSED("W\0HO\n", PERR_BAD_COMMAND, 5);
    REFUSED("WHO\r\r\n", PERR_BAD_COMMAND, 6);
    REFUSED(" WHO\n", PERR_BAD_COMMAND, 5);
    REFUSED("WHO \n", PERR_BAD_COMMAND, 5);
    REFUSED(" \n", PERR_BAD_COMMAND, 2);
    REFUSED("  \n", PERR_BAD_COMMAND, 3);
    /* Double space anywhere is refused. */
    REFUSED("HELLO  alice\n", PERR_BAD_COMMAND, 13);
    REFUSED("PING  x\n", PERR_BAD_COMMAND, 8);
    REFUSED("SEND  b 1\nx\n", PERR_BAD_COMMAND, 12);
    REFUSED("SEND b  1\nx\n", PERR_BAD_COMMAND, 12);
    REFUSED("BCAST  1\nx\n", PERR_BAD_COMMAND, 11);
    /* An unknown verb is refused even if a payload-like length follows. */
    REFUSED("SENDX b 1\nx\n", PERR_BAD_COMMAND, 10);
}
END_TEST

START_TEST(test_crlf_headers)
{
    CMD("WHO\r\n", PROTO_WHO, NULL);
    CMD("QUIT\r\n", PROTO_QUIT, NULL);
    check_cmd_max(L("HELLO bob\r\n"), MAX, PROTO_HELLO, "bob", 3, NULL, 0, 11);
    /* CRLF header, LF or CRLF after the payload. */
    check_cmd_max(L("SEND bob 5\r\nhello\n"), MAX, PROTO_SEND, "bob", 3,
                  "hello", 5, 18);
    check_cmd_max(L("SEND bob 5\r\nhello\r\n"), MAX, PROTO_SEND, "bob", 3,
                  "hello", 5, 19);
    check_cmd_max(L("SEND bob 5\nhello\r\n"), MAX, PROTO_SEND, "bob", 3,
                  "hello", 5, 18);
    check_cmd_max(L("BCAST 3\r\nabc\r\n"), MAX, PROTO_BCAST, NULL, 0, "abc", 3,
                  14);
    /* Only the first frame is consumed. */
    check_cmd_max(L("WHO\r\nWHO\r\n"), MAX, PROTO_WHO, NULL, 0, NULL, 0, 5);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Payloads                                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_payloads)
{
    check_cmd_max(L("SEND bob 5\nhello\n"), MAX, PROTO_SEND, "bob", 3, "hello",
                  5, 17);
    /* The empty payload: a lone LF (or CRLF). */
    check_cmd_max(L("SEND b 0\n\n"), MAX, PROTO_SEND, "b", 1, "", 0, 10);
    ck_assert_ptr_eq(pcmd.payload, pbuf + 9);
    check_cmd_max(L("SEND b 0\n\r\n"), MAX, PROTO_SEND, "b", 1, "", 0, 11);
    check_cmd_max(L("BCAST 0\n\n"), MAX, PROTO_BCAST, NULL, 0, "", 0, 9);
    check_cmd_max(L("BCAST 0\r\n\r\n"), MAX, PROTO_BCAST, NULL, 0, "", 0, 11);
    /* Binary-safe: LF, CR, CRLF, NUL and 0xff inside the payload. */
    check_cmd_max(L("SEND b 9\na\nb\0c\xff\r\n\n\n"), MAX, PROTO_SEND, "b", 1,
                  "a\nb\0c\xff\r\n\n", 9, 19);
    check_cmd_max(L("BCAST 4\n\n\n\n\n\n"), MAX, PROTO_BCAST, NULL, 0,
                  "\n\n\n\n", 4, 13);
    check_cmd_max(L("BCAST 2\r\n\r\n\r\n"), MAX, PROTO_BCAST, NULL, 0, "\r\n",
                  2, 13);
    /* A payload that looks like a command is still a payload. */
    check_cmd_max(L("SEND b 4\nWHO\n\n"), MAX, PROTO_SEND, "b", 1, "WHO\n", 4,
                  14);
    /* Leading zeros are fine, however many. */
    check_cmd_max(L("SEND b 007\nabcdefg\n"), MAX, PROTO_SEND, "b", 1,
                  "abcdefg", 7, 19);
    static const char zeros[] =
        "BCAST 0000000000000000000000000000000000000001\nz\n";
    ck_assert_uint_eq(sizeof zeros - 1, 6 + 40 + 1 + 2);
    check_cmd_max(L(zeros), MAX, PROTO_BCAST, NULL, 0, "z", 1, 49);
    /* The SEND target is not validated here either. */
    check_cmd_max(L("SEND x/y 1\nz\n"), MAX, PROTO_SEND, "x/y", 3, "z", 1, 13);
    /* Every byte value in a payload. */
    char buf[300];
    int h = snprintf(buf, sizeof buf, "SEND b 256\n");
    for (int i = 0; i < 256; i++)
        buf[h + i] = (char)i;
    buf[h + 256] = '\n';
    check_cmd_max(buf, (size_t)h + 257, MAX, PROTO_SEND, "b", 1, buf + h, 256,
                  (size_t)h + 257);
    /* Only the frame is consumed; what follows is left alone. */
    check_cmd_max(L("SEND b 1\nx\nSEND"), MAX, PROTO_SEND, "b", 1, "x", 1, 11);
}
END_TEST

START_TEST(test_payload_terminator)
{
    FATAL("SEND b 1\naxWHO\n", PERR_BAD_FRAME);
    FATAL("SEND b 1\nax", PERR_BAD_FRAME);
    FATAL("SEND b 1\na\rx", PERR_BAD_FRAME);
    FATAL("SEND b 1\na\r\r\n", PERR_BAD_FRAME);
    FATAL("SEND b 0\nx\n", PERR_BAD_FRAME);
    FATAL("SEND b 0\n \n", PERR_BAD_FRAME);
    FATAL("BCAST 3\nabcd\n", PERR_BAD_FRAME);
    FATAL("BCAST 3\nabc\rz", PERR_BAD_FRAME);
    FATAL("BCAST 0\n\r\r", PERR_BAD_FRAME);
    FATAL("BCAST 2\nab\0", PERR_BAD_FRAME);
    /* CR at the end of the buffer: wait for the byte after it. */
    INCOMPLETE("SEND b 1\na\r", 12);
    INCOMPLETE("BCAST 0\n\r", 10);
    INCOMPLETE("BCAST 3\r\nabc\r", 14);
}
END_TEST

START_TEST(test_incomplete)
{
    /* Header not complete: need is 0 (unknown). */
    INCOMPLETE("", 0);
    INCOMPLETE("S", 0);
    INCOMPLETE("SEND b 5", 0);
    INCOMPLETE("SEND b 5\r", 0);
    INCOMPLETE("HELLO alice", 0);
    INCOMPLETE("WHO\r", 0);
    /* Header known: need is the whole frame with an LF terminator. */
    INCOMPLETE("SEND b 5\n", 15);
    INCOMPLETE("SEND b 5\nhel", 15);
    INCOMPLETE("SEND b 5\nhello", 15);
    INCOMPLETE("SEND b 5\r\nhello", 16);
    INCOMPLETE("SEND b 0\n", 10);
    INCOMPLETE("BCAST 0\r\n", 10);
    INCOMPLETE("BCAST 10\n", 20);
    INCOMPLETE("BCAST 10\n\n\n\n", 20);
    /* A header that says exactly max waits for all of it. */
    INCOMPLETE("BCAST 65536\n", 12 + 65536 + 1);

    /* need is exact: one byte short is INCOMPLETE, with need unchanged;
     * need bytes parse. */
    char frame[64];
    int n = snprintf(frame, sizeof frame, "SEND abc 20\n%020d\n", 7);
    for (int k = 12; k < n; k++)
        check_incomplete_max(frame, (size_t)k, MAX, (size_t)n);
    check_cmd_max(frame, (size_t)n, MAX, PROTO_SEND, "abc", 3, frame + 12, 20,
                  (size_t)n);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Lengths                                                              */
/* ------------------------------------------------------------------ */

START_TEST(test_bad_length)
{
    /* Not all decimal digits: bad-frame, fatal, even before the payload. */
    FATAL("SEND b -1\n", PERR_BAD_FRAME);
    FATAL("SEND b 1a\n", PERR_BAD_FRAME);
    FATAL("SEND b a1\n", PERR_BAD_FRAME);
    FATAL("SEND b \n", PERR_BAD_FRAME); /* empty length token */
    FATAL("SEND b \r\n", PERR_BAD_FRAME);
    FATAL("BCAST \n", PERR_BAD_FRAME);
    FATAL("SEND b +1\n", PERR_BAD_FRAME);
    FATAL("SEND b 0x10\n", PERR_BAD_FRAME);
    FATAL("SEND b 1.0\n", PERR_BAD_FRAME);
    FATAL("SEND b 1e3\n", PERR_BAD_FRAME);
    FATAL("SEND b \t\n", PERR_BAD_FRAME);
    FATAL("SEND b 1\t\n", PERR_BAD_FRAME);
    FATAL("SEND b \xd9\n", PERR_BAD_FRAME);
    FATAL("SEND b 1\0\n", PERR_BAD_FRAME);
    FATAL("BCAST -0\n", PERR_BAD_FRAME);
    FATAL("BCAST 5x\nhello\n", PERR_BAD_FRAME);
    FATAL("BCAST /\n", PERR_BAD_FRAME); /* '0' - 1 */
    FATAL("BCAST :\n", PERR_BAD_FRAME); /* '9' + 1 */
    /* A non-number that is also huge is still not a number. */
    FATAL("BCAST 99999999999999999999999x\n", PERR_BAD_FRAME);
}
END_TEST

START_TEST(test_too_large)
{
    FATAL("SEND b 65537\n", PERR_TOO_LARGE);
    FATAL("BCAST 65537\n", PERR_TOO_LARGE);
    FATAL("SEND b 100000000\n", PERR_TOO_LARGE);
    FATAL("SEND b 9223372036854775807\n", PERR_TOO_LARGE);
    FATAL("SEND b 9223372036854775808\n", PERR_TOO_LARGE);
    FATAL("SEND b 18446744073709551615\n", PERR_TOO_LARGE);
    FATAL("SEND b 18446744073709551616\n", PERR_TOO_LARGE);
    FATAL("SEND b 1234567890123456789012345678901234567890\n", PERR_TOO_LARGE);
    FATAL("BCAST 9999999999999999999999999999999999999999\r\n", PERR_TOO_LARGE);
    /* too-large is decided from the header alone. */
    FATAL("BCAST 70000\nabc", PERR_TOO_LARGE);

    /* Exactly max is fine; max + 1 is not; several limits. */
    static const uint64_t limits[] = {0, 1, 10, 65536, 1000000};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        uint64_t max = limits[i];
        char hdr[64];
        int h =
            snprintf(hdr, sizeof hdr, "BCAST %llu\n", (unsigned long long)max);
        size_t n = (size_t)h + (size_t)max + 1;
        char *frame = malloc(n);
        ck_assert_ptr_nonnull(frame);
        memcpy(frame, hdr, (size_t)h);
        for (size_t j = 0; j < max; j++)
            frame[h + j] = (char)(j * 7);
        frame[n - 1] = '\n';
        check_cmd_max(frame, n, max, PROTO_BCAST, NULL, 0, frame + h,
                      (size_t)max, n);
        check_incomplete_max(frame, n - 1, max, n);
        h = snprintf(hdr, sizeof hdr, "SEND b %llu\n",
                     (unsigned long long)max + 1);
        check_fatal_max(hdr, (size_t)h, max, PERR_TOO_LARGE);
        free(frame);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Line length                                                          */
/* ------------------------------------------------------------------ */

START_TEST(test_line_length)
{
    char line[3000];

    /* "PING " + token: 1023 bytes, then LF: 1024 in all, accepted. */
    memcpy(line, "PING ", 5);
    memset(line + 5, 't', sizeof line - 5);
    line[1023] = '\n';
    check_cmd_max(line, 1024, MAX, PROTO_PING, line + 5, 1018, NULL, 0, 1024);
    /* The same with a CR: 1022 + CR + LF is still 1024. */
    line[1022] = '\r';
    check_cmd_max(line, 1024, MAX, PROTO_PING, line + 5, 1017, NULL, 0, 1024);
    line[1022] = 't';
    /* Followed by more: only the line is consumed. */
    check_cmd_max(line, 3000, MAX, PROTO_PING, line + 5, 1018, NULL, 0, 1024);

    /* 1023 bytes without LF: read more. */
    memset(line + 5, 't', sizeof line - 5);
    check_incomplete_max(line, 1023, MAX, 0);
    /* 1024 bytes without LF: fatal, whatever follows. */
    check_fatal_max(line, 1024, MAX, PERR_LINE_TOO_LONG);
    check_fatal_max(line, 3000, MAX, PERR_LINE_TOO_LONG);
    /* An LF as byte 1025 comes too late. */
    line[1024] = '\n';
    check_fatal_max(line, 1025, MAX, PERR_LINE_TOO_LONG);
    check_fatal_max(line, 1024, MAX, PERR_LINE_TOO_LONG);
    check_incomplete_max(line, 1000, MAX, 0);
    line[1024] = 't';
    /* A CR as byte 1024 is not an LF. */
    line[1023] = '\r';
    check_fatal_max(line, 1024, MAX, PERR_LINE_TOO_LONG);
    check_incomplete_max(line, 1023, MAX, 0);

    /* A refused line at the limit is consumed whole. */
    memset(line, 'z', 1023);
    line[1023] = '\n';
    want_status(line, 1024, MAX, PROTO_REFUSED);
    ck_assert_int_eq(pcmd.err, PERR_BAD_COMMAND);
    ck_assert_uint_eq(pcmd.consumed, 1024);

    /* A SEND header at the limit, with its payload after it. */
    memcpy(line, "SEND ", 5);
    memset(line + 5, 'b', 1016);
    memcpy(line + 1021, " 3\nabc\n", 7);
    check_cmd_max(line, 1028, MAX, PROTO_SEND, line + 5, 1016, "abc", 3, 1028);
    /* The payload does not count in the line: a 1020-byte payload after a
     * short header is fine. */
    char *big = malloc(2000);
    ck_assert_ptr_nonnull(big);
    memcpy(big, "BCAST 1500\n", 11);
    memset(big + 11, 'p', 1500);
    big[1511] = '\n';
    check_cmd_max(big, 1512, MAX, PROTO_BCAST, NULL, 0, big + 11, 1500, 1512);
    free(big);

    /* A whole short frame before a long junk line parses; then the junk is
     * too long. */
    memcpy(line, "WHO\n", 4);
    memset(line + 4, 'x', 2000);
    check_cmd_max(line, 2004, MAX, PROTO_WHO, NULL, 0, NULL, 0, 4);
    check_fatal_max(line + 4, 2000, MAX, PERR_LINE_TOO_LONG);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Names, ids, MSG header                                               */
/* ------------------------------------------------------------------ */

START_TEST(test_names)
{
    ck_assert_str_eq(proto_err_name(PERR_BAD_COMMAND), "bad-command");
    ck_assert_str_eq(proto_err_name(PERR_BAD_ID), "bad-id");
    ck_assert_str_eq(proto_err_name(PERR_ID_TAKEN), "id-taken");
    ck_assert_str_eq(proto_err_name(PERR_ALREADY_REGISTERED),
                     "already-registered");
    ck_assert_str_eq(proto_err_name(PERR_NOT_REGISTERED), "not-registered");
    ck_assert_str_eq(proto_err_name(PERR_UNKNOWN_NODE), "unknown-node");
    ck_assert_str_eq(proto_err_name(PERR_TOO_LARGE), "too-large");
    ck_assert_str_eq(proto_err_name(PERR_LINE_TOO_LONG), "line-too-long");
    ck_assert_str_eq(proto_err_name(PERR_BAD_FRAME), "bad-frame");
    ck_assert_str_eq(proto_err_name(PERR_SERVER_FULL), "server-full");
    ck_assert_ptr_nonnull(proto_err_name(PERR_NONE));

    ck_assert_str_eq(proto_bye_name(BYE_QUIT), "quit");
    ck_assert_str_eq(proto_bye_name(BYE_IDLE_TIMEOUT), "idle-timeout");
    ck_assert_str_eq(proto_bye_name(BYE_KICKED), "kicked");
    ck_assert_str_eq(proto_bye_name(BYE_SHUTDOWN), "shutdown");
    ck_assert_str_eq(proto_bye_name(BYE_PROTOCOL_ERROR), "protocol-error");
    ck_assert_str_eq(proto_bye_name(BYE_SLOW_CONSUMER), "slow-consumer");
    ck_assert_str_eq(proto_bye_name(BYE_REPLACED), "replaced");
}
END_TEST

static int valid_id_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

START_TEST(test_valid_id)
{
    char id[80];

    memset(id, 'a', sizeof id);
    ck_assert_int_eq(proto_valid_id(id, 0), 0);
    ck_assert_int_eq(proto_valid_id(id, 1), 1);
    ck_assert_int_eq(proto_valid_id(id, 63), 1);
    ck_assert_int_eq(proto_valid_id(id, 64), 1);
    ck_assert_int_eq(proto_valid_id(id, 65), 0);
    ck_assert_int_eq(proto_valid_id(id, 80), 0);
    ck_assert_int_eq(proto_valid_id("", 0), 0);

    /* Each allowed class, whole. */
    ck_assert_int_eq(proto_valid_id(L("ABCDEFGHIJKLMNOPQRSTUVWXYZ")), 1);
    ck_assert_int_eq(proto_valid_id(L("abcdefghijklmnopqrstuvwxyz")), 1);
    ck_assert_int_eq(proto_valid_id(L("0123456789")), 1);
    ck_assert_int_eq(proto_valid_id(L(".")), 1);
    ck_assert_int_eq(proto_valid_id(L("_")), 1);
    ck_assert_int_eq(proto_valid_id(L("-")), 1);
    ck_assert_int_eq(proto_valid_id(L("node-1.a_B")), 1);
    ck_assert_int_eq(proto_valid_id(L("..")), 1);

    ck_assert_int_eq(proto_valid_id(L("a/b")), 0);
    ck_assert_int_eq(proto_valid_id(L("/")), 0);
    ck_assert_int_eq(proto_valid_id(L("a b")), 0);
    ck_assert_int_eq(proto_valid_id(L(" ")), 0);
    ck_assert_int_eq(proto_valid_id(L("\x80")), 0);
    ck_assert_int_eq(proto_valid_id(L("a\x80")), 0);
    ck_assert_int_eq(proto_valid_id(L("a\0b")), 0);
    ck_assert_int_eq(proto_valid_id(L("*")), 0);
    ck_assert_int_eq(proto_valid_id(L("a\n")), 0);
    ck_assert_int_eq(proto_valid_id(L("\xc3\xa9")), 0);

    /* Every byte, alone, and last in a 64-byte id. */
    for (int c = 0; c < 256; c++) {
        char one = (char)c;
        ck_assert_msg(proto_valid_id(&one, 1) == valid_id_char(c),
                      "byte 0x%02x", c);
        memset(id, 'x', 64);
        id[63] = (char)c;
        ck_assert_msg(proto_valid_id(id, 64) == valid_id_char(c),
                      "byte 0x%02x last", c);
        id[0] = (char)c;
        id[63] = 'x';
        ck_assert_msg(proto_valid_id(id, 64) == valid_id_char(c),
                      "byte 0x%02x first", c);
    }
    /* Only n bytes are looked at. */
    ck_assert_int_eq(proto_valid_id("ab/", 2), 1);
}
END_TEST

START_TEST(test_msg_header)
{
    char out[PROTO_MAX_MSG_HEADER + 16];
    size_t n;

    n = proto_msg_header(out, "alice", 5, "bob", 3, 5);
    ck_assert_uint_eq(n, 16);
    ck_assert(memcmp(out, "MSG alice bob 5\n", n) == 0);
    n = proto_msg_header(out, "a", 1, "*", 1, 0);
    ck_assert_uint_eq(n, 10);
    ck_assert(memcmp(out, "MSG a * 0\n", n) == 0);
    n = proto_msg_header(out, "a", 1, "b", 1, 65536);
    ck_assert(memcmp(out, "MSG a b 65536\n", n) == 0 && n == 14);
    n = proto_msg_header(out, "a", 1, "b", 1, 10);
    ck_assert(memcmp(out, "MSG a b 10\n", n) == 0 && n == 11);

    /* The longest: two 64-byte ids, a 20-digit length and a 20-digit
     * sequence number fill exactly PROTO_MAX_MSG_HEADER (without the
     * sequence number, 21 bytes less), and nothing is written past it. */
    char from[64], to[64], want[PROTO_MAX_MSG_HEADER + 1];
    memset(from, 'f', 64);
    memset(to, 'T', 64);
    static const uint64_t lens[] = {UINT64_MAX, 10000000000000000000u};
    static const char *const digits[] = {"18446744073709551615",
                                         "10000000000000000000"};
    for (int i = 0; i < 2; i++) {
        memset(out, 0xa5, sizeof out);
        n = proto_msg_header(out, from, 64, to, 64, lens[i]);
        ck_assert_uint_eq(n, PROTO_MAX_MSG_HEADER - 21);
        snprintf(want, sizeof want, "MSG %.64s %.64s %s\n", from, to,
                 digits[i]);
        ck_assert(memcmp(out, want, n) == 0);
        for (size_t j = n; j < sizeof out; j++)
            ck_assert_int_eq((unsigned char)out[j], 0xa5);
        memset(out, 0xa5, sizeof out);
        n = proto_msg_header_seq(out, from, 64, to, 64, lens[i], lens[i]);
        ck_assert_uint_eq(n, PROTO_MAX_MSG_HEADER);
        snprintf(want, sizeof want, "MSG %.64s %.64s %s %s\n", from, to,
                 digits[i], digits[i]);
        ck_assert_uint_eq(strlen(want), PROTO_MAX_MSG_HEADER);
        ck_assert(memcmp(out, want, n) == 0);
        for (size_t j = n; j < sizeof out; j++)
            ck_assert_int_eq((unsigned char)out[j], 0xa5);
        ck_assert_uint_eq(proto_msg_seq(out, n), lens[i]);
    }
    n = proto_msg_header_seq(out, "a", 1, "#g", 2, 5, 1);
    ck_assert(memcmp(out, "MSG a #g 5 1\n", n) == 0 && n == 13);
    ck_assert_uint_eq(proto_msg_seq(out, n), 1);
    ck_assert_uint_eq(proto_msg_seq(out, n - 1), 1); /* without its LF */
    /* No sequence number, or not a number. */
    ck_assert_uint_eq(proto_msg_seq(L("MSG a b 5\n")), 0);
    ck_assert_uint_eq(proto_msg_seq(L("MSG a b 5 x\n")), 0);
    ck_assert_uint_eq(proto_msg_seq(L("MSG a b 5 \n")), 0);
    ck_assert_uint_eq(proto_msg_seq(L("MSG a b 5 7 8\n")), 0);
    /* 19 digits. */
    n = proto_msg_header(out, "x", 1, "y", 1, 9999999999999999999u);
    ck_assert(memcmp(out, "MSG x y 9999999999999999999\n", n) == 0 && n == 28);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The split property                                                   */
/* ------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static size_t rnd_below(size_t n)
{
    return (size_t)(rnd() % n);
}

/* One frame as the parser reports it; offsets are from the stream start,
 * arg_off SIZE_MAX for a NULL arg, pay_off SIZE_MAX for no payload. */
struct frame {
    enum proto_status st;
    enum proto_verb verb;
    enum proto_err err;
    size_t start, consumed;
    size_t arg_off, arg_len;
    size_t pay_off, pay_len;
};

struct stream {
    char *data;
    size_t len, cap;
    struct frame *f;
    size_t nf, fcap;
};

static void put(struct stream *s, const void *p, size_t n)
{
    while (s->len + n > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->data = realloc(s->data, s->cap);
        ck_assert_ptr_nonnull(s->data);
    }
    memcpy(s->data + s->len, p, n);
    s->len += n;
}

static void puts_(struct stream *s, const char *str)
{
    put(s, str, strlen(str));
}

static struct frame *new_frame(struct stream *s)
{
    if (s->nf == s->fcap) {
        s->fcap = s->fcap ? s->fcap * 2 : 64;
        s->f = realloc(s->f, s->fcap * sizeof *s->f);
        ck_assert_ptr_nonnull(s->f);
    }
    struct frame *f = &s->f[s->nf++];
    memset(f, 0, sizeof *f);
    f->start = s->len;
    f->arg_off = f->pay_off = SIZE_MAX;
    f->st = PROTO_COMMAND;
    return f;
}

/* The verb in random case. */
static void put_verb(struct stream *s, const char *verb)
{
    for (const char *p = verb; *p; p++) {
        char c = *p;
        if (rnd() & 1)
            c = (char)(c - 'A' + 'a');
        put(s, &c, 1);
    }
}

static void put_eol(struct stream *s)
{
    puts_(s, rnd_below(3) == 0 ? "\r\n" : "\n");
}

static void put_id(struct stream *s, struct frame *f)
{
    static const char set[] = "ABCXYZabcxyz0189._-";
    size_t n = 1 + (rnd_below(4) == 0 ? rnd_below(64) : rnd_below(8));
    f->arg_off = s->len;
    f->arg_len = n;
    for (size_t i = 0; i < n; i++)
        put(s, &set[rnd_below(sizeof set - 1)], 1);
}

/* A payload of n bytes, biased toward the bytes that matter to framing. */
static void put_payload(struct stream *s, struct frame *f, size_t n)
{
    static const char special[] = {'\n', '\r', '\0', (char)0xff, ' '};
    f->pay_off = s->len;
    f->pay_len = n;
    for (size_t i = 0; i < n; i++) {
        char c = rnd_below(3) == 0 ? special[rnd_below(sizeof special)]
                                   : (char)rnd();
        put(s, &c, 1);
    }
}

static size_t payload_size(void)
{
    switch (rnd_below(4)) {
    case 0:
        return 0;
    case 1:
        return 1 + rnd_below(3);
    case 2:
        return rnd_below(40);
    default:
        return rnd_below(300);
    }
}

static void gen_stream(struct stream *s, uint64_t seed, size_t nframes)
{
    memset(s, 0, sizeof *s);
    rng_state = seed;
    for (size_t i = 0; i < nframes; i++) {
        struct frame *f = new_frame(s);
        char num[32];
        size_t n;
        switch (rnd_below(12)) {
        case 0:
            f->verb = PROTO_HELLO;
            put_verb(s, "HELLO");
            puts_(s, " ");
            put_id(s, f);
            put_eol(s);
            break;
        case 1:
            f->verb = PROTO_HELLO;
            put_verb(s, "HELLO");
            if (rnd() & 1) {
                puts_(s, " "); /* "HELLO ": empty id */
                f->arg_off = s->len;
                f->arg_len = 0;
            }
            put_eol(s);
            break;
        case 2:
        case 3:
        case 4:
            f->verb = PROTO_SEND;
            n = payload_size();
            put_verb(s, "SEND");
            puts_(s, " ");
            put_id(s, f);
            snprintf(num, sizeof num, " %zu", n);
            puts_(s, num);
            put_eol(s);
            put_payload(s, f, n);
            put_eol(s);
            break;
        case 5:
        case 6:
            f->verb = PROTO_BCAST;
            n = payload_size();
            put_verb(s, "BCAST");
            snprintf(num, sizeof num, " %zu", n);
            puts_(s, num);
            put_eol(s);
            put_payload(s, f, n);
            put_eol(s);
            break;
        case 7:
            f->verb = PROTO_WHO;
            put_verb(s, "WHO");
            put_eol(s);
            break;
        case 8:
            f->verb = PROTO_PING;
            put_verb(s, "PING");
            if (rnd() & 1) {
                puts_(s, " ");
                put_id(s, f);
            }
            put_eol(s);
            break;
        case 9:
            f->verb = PROTO_QUIT;
            put_verb(s, "QUIT");
            put_eol(s);
            break;
        default: {
            /* Refused frames keep the stream going. */
            static const char *const bad[] = {
                "FOO bar", "WHO x",     "SEND b",   "",
                "PING ",   "HELLO a b", "QUIT now", "PING a\tb"};
            /* Refused, but with a length last: the payload is read. */
            static const char *const bad_payload[] = {"SEND  ", "SEND a b ",
                                                      "BCAST  ", "BCAST a "};
            f->st = PROTO_REFUSED;
            f->err = PERR_BAD_COMMAND;
            if (rnd() & 1) {
                puts_(s, bad[rnd_below(sizeof bad / sizeof bad[0])]);
                put_eol(s);
                break;
            }
            n = payload_size();
            puts_(s, bad_payload[rnd_below(sizeof bad_payload /
                                           sizeof bad_payload[0])]);
            snprintf(num, sizeof num, " %zu", n);
            puts_(s, num + 1);
            put_eol(s);
            put_payload(s, f, n);
            f->pay_off = SIZE_MAX;
            put_eol(s);
            break;
        }
        }
        f->consumed = s->len - f->start;
    }
}

static void free_stream(struct stream *s)
{
    free(s->data);
    free(s->f);
}

/* Compare what the parser said about the frame at base (an offset in the
 * stream, buf holding the stream's bytes at the same offsets) with want. */
static void check_frame(const char *buf, size_t base, enum proto_status st,
                        const struct proto_cmd *cmd, const struct frame *want,
                        size_t k)
{
    REQUIRE_MSG(st == want->st && want->start == base,
                "split %zu, frame at %zu: %s, want %s", k, base,
                status_name(st), status_name(want->st));
    REQUIRE(cmd->consumed == want->consumed);
    if (st == PROTO_REFUSED) {
        REQUIRE(cmd->err == want->err);
        return;
    }
    REQUIRE(cmd->err == PERR_NONE);
    REQUIRE(cmd->verb == want->verb);
    if (want->arg_off == SIZE_MAX) {
        REQUIRE(cmd->arg == NULL);
    } else {
        REQUIRE(cmd->arg == (buf + want->arg_off));
        REQUIRE(cmd->arg_len == want->arg_len);
    }
    if (want->pay_off == SIZE_MAX) {
        REQUIRE(cmd->payload == NULL);
        REQUIRE(cmd->payload_len == 0);
    } else {
        REQUIRE(cmd->payload == (buf + want->pay_off));
        REQUIRE(cmd->payload_len == want->pay_len);
    }
}

/* need from an INCOMPLETE at the frame want, with avail bytes of it
 * received in buf; data is the whole stream. */
static void check_need(const char *data, const char *buf, size_t off,
                       size_t avail, size_t need, const struct frame *want)
{
    int have_lf = avail > 0 && memchr(buf + off, '\n', avail) != NULL;
    if (!have_lf) {
        REQUIRE(need == 0);
        return;
    }
    /* The header is known: need is the frame size with an LF terminator,
     * one byte more once a CR at the end shows the terminator is CRLF. */
    REQUIRE_MSG(need > avail, "need %zu, have %zu", need, avail);
    REQUIRE_MSG(need == want->consumed ||
                    (need + 1 == want->consumed &&
                     data[want->start + want->consumed - 2] == '\r'),
                "need %zu, frame %zu", need, want->consumed);
}

/* Feed s to the parser as a connection would: the bytes received so far
 * in one buffer; on INCOMPLETE, receive the next chunk.  Chunk i is
 * [cuts[i], cuts[i+1]).  Bytes not yet received are poisoned with LF so
 * that reading them would change the result.  Checks every frame. */
static void feed(const struct stream *s, char *buf, const size_t *cuts,
                 size_t ncuts, size_t label)
{
    size_t have = 0, off = 0, next = 0, fi = 0;

    memset(buf, '\n', s->len);
    for (;;) {
        struct proto_cmd cmd;
        enum proto_status st = proto_parse(buf + off, have - off, MAX, &cmd);
        if (st == PROTO_INCOMPLETE) {
            if (fi < s->nf)
                check_need(s->data, buf, off, have - off, cmd.need, &s->f[fi]);
            if (next == ncuts)
                break;
            size_t end = cuts[next++];
            memcpy(buf + have, s->data + have, end - have);
            have = end;
            continue;
        }
        REQUIRE_MSG(fi < s->nf, "split %zu: extra frame at %zu", label, off);
        check_frame(buf, off, st, &cmd, &s->f[fi], label);
        off += cmd.consumed;
        fi++;
    }
    REQUIRE_MSG(fi == s->nf && off == s->len,
                "split %zu: %zu of %zu frames, %zu of %zu bytes", label, fi,
                s->nf, off, s->len);
}

/* The whole stream at once matches what the generator meant. */
static void check_whole(const struct stream *s)
{
    size_t off = 0;
    for (size_t fi = 0; fi < s->nf; fi++) {
        struct proto_cmd cmd;
        enum proto_status st =
            proto_parse(s->data + off, s->len - off, MAX, &cmd);
        check_frame(s->data, off, st, &cmd, &s->f[fi], 0);
        off += cmd.consumed;
    }
    REQUIRE(off == s->len);
    struct proto_cmd cmd;
    REQUIRE(proto_parse(s->data + off, 0, MAX, &cmd) == PROTO_INCOMPLETE);
}

/* The server's own output read back, as a close that drops output does. */
static void check_piece(const char *in, size_t n, int rc, uint64_t len,
                        uint64_t lines)
{
    uint64_t l = 12345, k = 12345;
    free(pbuf);
    pbuf = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(pbuf);
    memcpy(pbuf, in, n);
    ck_assert_int_eq(proto_out_piece(pbuf, n, &l, &k), rc);
    if (rc == 0) {
        ck_assert_uint_eq(l, len);
        ck_assert_uint_eq(k, lines);
    }
}

START_TEST(test_out_piece)
{
    check_piece(L("PONG x\nMSG"), 0, 7, 0);
    check_piece(L("BYE kicked a b c\n"), 0, 17, 0);
    check_piece(L("NODE a\n"), 0, 7, 0);
    /* A MSG covers its payload and LF, which need not be at hand. */
    check_piece(L("MSG a b 5\nhel"), 0, 10 + 5 + 1, 0);
    check_piece(L("MSG a * 0\n"), 0, 11, 0);
    check_piece(L("MSG a b 007\n"), 0, 12 + 7 + 1, 0);
    check_piece(L("MSG a b 18446744073709551615\n"), 0, UINT64_MAX, 0);
    /* A session's MSG: the length is the fourth token, not the last. */
    check_piece(L("MSG a b 5 17\nhel"), 0, 13 + 5 + 1, 0);
    check_piece(L("MSG a #g 0 1\n"), 0, 14, 0);
    check_piece(L("MSG a b x 5\n"), -1, 0, 0);
    /* NODES: the NODE lines that follow belong to it. */
    check_piece(L("NODES 3\nNODE a\n"), 0, 8, 3);
    check_piece(L("NODES 0\n"), 0, 8, 0);
    /* Not a line yet, or a number that is not one. */
    check_piece(L("MSG a b 5"), -1, 0, 0);
    check_piece(L(""), -1, 0, 0);
    check_piece(L("MSG a b x\n"), -1, 0, 0);
    check_piece(L("MSG a b \n"), -1, 0, 0);
    check_piece(L("NODES\n"), 0, 6, 0); /* not "NODES ": a line */
    check_piece(L("NODES -1\n"), -1, 0, 0);
}
END_TEST

START_TEST(test_split_every_point)
{
    struct stream s;
    gen_stream(&s, 0x5eed0001, 200);
    check_whole(&s);

    char *buf = malloc(s.len);
    ck_assert_ptr_nonnull(buf);
    for (size_t k = 0; k <= s.len; k++) {
        size_t cuts[2] = {k, s.len};
        feed(&s, buf, cuts, 2, k);
    }
    free(buf);
    free_stream(&s);
}
END_TEST

/* One byte per read, each time from a buffer of exactly the bytes
 * received, so that valgrind catches a read past them. */
START_TEST(test_split_bytewise)
{
    struct stream s;
    gen_stream(&s, 0x5eed0002, 300);
    check_whole(&s);

    char *buf = NULL;
    size_t have = 0, off = 0, fi = 0;
    for (;;) {
        struct proto_cmd cmd;
        enum proto_status st =
            proto_parse(buf ? buf + off : "", have - off, MAX, &cmd);
        if (st == PROTO_INCOMPLETE) {
            if (fi < s.nf)
                check_need(s.data, buf, off, have - off, cmd.need, &s.f[fi]);
            if (have == s.len)
                break;
            char *nb = malloc(have + 1);
            REQUIRE(nb != NULL);
            if (have)
                memcpy(nb, buf, have);
            nb[have] = s.data[have];
            free(buf);
            buf = nb;
            have++;
            continue;
        }
        REQUIRE(fi < s.nf);
        check_frame(buf, off, st, &cmd, &s.f[fi], have);
        /* What the arg and payload hold, byte for byte. */
        if (cmd.arg)
            REQUIRE(memcmp(cmd.arg, s.data + s.f[fi].arg_off, cmd.arg_len) ==
                    0);
        if (cmd.payload)
            REQUIRE(memcmp(cmd.payload, s.data + s.f[fi].pay_off,
                           cmd.payload_len) == 0);
        /* A frame is complete exactly when its last byte arrives. */
        REQUIRE(have == (off + cmd.consumed));
        off += cmd.consumed;
        fi++;
    }
    REQUIRE(fi == s.nf);
    REQUIRE(off == s.len);
    free(buf);
    free_stream(&s);
}
END_TEST

/* Random chunkings of many pieces. */
START_TEST(test_split_random_chunks)
{
    struct stream s;
    gen_stream(&s, 0x5eed0003, 400);
    check_whole(&s);

    char *buf = malloc(s.len);
    size_t *cuts = malloc((s.len + 1) * sizeof *cuts);
    ck_assert(buf && cuts);
    rng_state = 77;
    for (size_t round = 0; round < 200; round++) {
        size_t n = 0, at = 0;
        size_t maxchunk = 1 + rnd_below(round % 2 ? 16 : 2000);
        while (at < s.len) {
            at += 1 + rnd_below(maxchunk);
            if (at > s.len)
                at = s.len;
            cuts[n++] = at;
        }
        feed(&s, buf, cuts, n, round);
    }
    free(cuts);
    free(buf);
    free_stream(&s);
}
END_TEST

static Suite *proto_suite(void)
{
    Suite *s = suite_create("proto");

    TCase *tc = tcase_create("commands");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_verbs_any_case);
    tcase_add_test(tc, test_verb_every_byte);
    tcase_add_test(tc, test_auth_args);
    tcase_add_test(tc, test_hello_args);
    tcase_add_test(tc, test_hello_session);
    tcase_add_test(tc, test_ack);
    tcase_add_test(tc, test_ping_token);
    tcase_add_test(tc, test_token_counts);
    tcase_add_test(tc, test_refused_payload);
    tcase_add_test(tc, test_empty_unknown_spaces);
    tcase_add_test(tc, test_crlf_headers);
    suite_add_tcase(s, tc);

    tc = tcase_create("framing");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_payloads);
    tcase_add_test(tc, test_payload_terminator);
    tcase_add_test(tc, test_incomplete);
    tcase_add_test(tc, test_bad_length);
    tcase_add_test(tc, test_too_large);
    tcase_add_test(tc, test_line_length);
    suite_add_tcase(s, tc);

    tc = tcase_create("helpers");
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_valid_id);
    tcase_add_test(tc, test_msg_header);
    tcase_add_test(tc, test_out_piece);
    suite_add_tcase(s, tc);

    tc = tcase_create("split");
    tcase_add_test(tc, test_split_every_point);
    tcase_add_test(tc, test_split_bytewise);
    tcase_add_test(tc, test_split_random_chunks);
    tcase_set_timeout(tc, 600);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proto_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
