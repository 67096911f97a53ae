/* test_msgd.c: integration tests of msgd-protocol(7) against the real msgd
 * -f on loopback: every command, reply, error code and BYE reason, and the
 * rules under the table (ordering, FIFO, binary payloads, splits, framing
 * faults, limits, slow consumers, duplicate ids), plus the logs of
 * section 5 and the command line of section 3.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct msgd_proc d;

static void start(const char *extra)
{
    msgd_start(&d, extra);
}

static void stop_ok(void)
{
    ck_assert_int_eq(msgd_stop(&d), 0);
    log_check_all(d.server_log);
}

static void ms_sleep(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Expects ERR, BYE protocol-error, then the close. */
static void expect_protocol_error(struct tc *c, const char *err)
{
    tc_expect(c, err);
    tc_expect(c, "BYE protocol-error");
    ck_assert(tc_eof(c, 5000));
}

START_TEST(hello_ok)
{
    start(NULL);
    struct tc *a = tc_open(d.port);
    tc_sendf(a, "HELLO node-1.x_Y\n");
    tc_expect(a, "OK node-1.x_Y idle=300 max=65536");
    ck_assert(log_wait(d.client_log, "register", "node", "node-1.x_Y", 5000));
    ck_assert(log_wait(d.client_log, "connect", NULL, NULL, 0));
    tc_close(a);
    stop_ok();
}
END_TEST

START_TEST(hello_lowercase_and_crlf)
{
    start("idle_timeout = 0.5;");
    struct tc *a = tc_open(d.port);
    tc_sendf(a, "hello a\r\n");
    tc_expect(a, "OK a idle=0.5 max=65536");
    tc_close(a);
    stop_ok();
}
END_TEST

START_TEST(hello_bad_id)
{
    start(NULL);
    struct tc *a = tc_open(d.port);
    char long_id[70];
    memset(long_id, 'x', 65);
    long_id[65] = '\0';
    tc_sendf(a, "HELLO\nHELLO \nHELLO a/b\nHELLO %s\nHELLO a\xc3\xa9\n",
             long_id);
    for (int i = 0; i < 5; i++)
        tc_expect(a, "ERR bad-id");
    long_id[64] = '\0';
    tc_sendf(a, "HELLO %s\n", long_id);
    char want[100];
    snprintf(want, sizeof want, "OK %s idle=300 max=65536", long_id);
    tc_expect(a, want);
    ck_assert(log_wait(d.client_log, "reject", "code", "bad-id", 5000));
    tc_close(a);
    stop_ok();
}
END_TEST

START_TEST(hello_id_taken)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_open(d.port);
    tc_sendf(b, "HELLO a\n");
    tc_expect(b, "ERR id-taken a");
    tc_sendf(b, "HELLO b\n");
    tc_expect(b, "OK b idle=300 max=65536");
    tc_sync(a); /* a is untouched */
    ck_assert(log_wait(d.client_log, "reject", "code", "id-taken", 5000));
    tc_close(a);
    tc_close(b);
    stop_ok();
}
END_TEST

START_TEST(hello_already_registered)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    tc_sendf(a, "HELLO a\nHELLO z\nHELLO\n");
    tc_expect(a, "ERR already-registered");
    tc_expect(a, "ERR already-registered");
    tc_expect(a, "ERR already-registered");
    tc_close(a);
    stop_ok();
}
END_TEST

START_TEST(duplicate_replace)
{
    start("duplicate_id = \"replace\";");
    struct tc *a1 = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    struct tc *a2 = tc_hello(d.port, "a");
    tc_expect(a1, "BYE replaced");
    ck_assert(tc_eof(a1, 5000));
    tc_sendf(b, "SEND a 2\nhi\n");
    tc_expect_msg(a2, "b", "a", "hi", 2);
    tc_sendf(b, "WHO\n");
    tc_expect(b, "NODES 2");
    tc_expect(b, "NODE b");
    tc_expect(b, "NODE a");
    ck_assert(log_wait(d.client_log, "disconnect", "reason", "replaced", 5000));
    tc_close(a1);
    tc_close(a2);
    tc_close(b);
    stop_ok();
}
END_TEST

START_TEST(server_full)
{
    start("max_nodes = 2;");
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    struct tc *c = tc_open(d.port);
    tc_sendf(c, "HELLO c\n");
    tc_expect(c, "ERR server-full");
    tc_sendf(b, "QUIT\n");
    tc_expect(b, "BYE quit");
    ck_assert(tc_eof(b, 5000));
    tc_sendf(c, "HELLO c\n");
    tc_expect(c, "OK c idle=300 max=65536");
    ck_assert(log_wait(d.client_log, "reject", "code", "server-full", 5000));
    tc_close(a);
    tc_close(b);
    tc_close(c);
    stop_ok();
}
END_TEST

START_TEST(send_binary_and_empty)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    tc_sendf(a, "SEND b 256\n");
    tc_send(a, all, sizeof all);
    tc_send(a, "\r\n", 2);
    tc_sendf(a, "SEND b 0\n\n");
    tc_sendf(a, "SEND a 3\nme!\n");
    tc_expect_msg(b, "a", "b", all, sizeof all);
    tc_expect_msg(b, "a", "b", "", 0);
    tc_expect_msg(a, "a", "a", "me!", 3);
    tc_close(a);
    tc_close(b);
    stop_ok();
}
END_TEST

START_TEST(send_unknown_node)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    tc_sendf(a, "SEND zz 1\nx\nSEND a/b 1\ny\n");
    tc_expect(a, "ERR unknown-node zz");
    tc_expect(a, "ERR unknown-node");
    tc_sync(a);
    tc_close(a);
    stop_ok();
}
END_TEST

START_TEST(not_registered)
{
    start(NULL);
    struct tc *a = tc_open(d.port);
    tc_sendf(a, "SEND b 3\nabc\nBCAST 2\nxy\nWHO\nPING p\n");
    tc_expect(a, "ERR not-registered");
    tc_expect(a, "ERR not-registered");
    tc_expect(a, "ERR not-registered");
    tc_expect(a, "PONG p");
    tc_sendf(a, "HELLO a\n");
    tc_expect(a, "OK a idle=300 max=65536");
    tc_close(a);
    stop_ok();
}
END_TEST

START_TEST(bcast)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    struct tc *c = tc_hello(d.port, "c");
    struct tc *u = tc_open(d.port); /* unregistered: gets nothing */
    tc_sendf(a, "BCAST 5\nhello\n");
    tc_expect_msg(b, "a", "*", "hello", 5);
    tc_expect_msg(c, "a", "*", "hello", 5);
    tc_sync(a); /* the sender gets no copy: PONG comes next */
    tc_sync(u);
    tc_close(a);
    tc_close(b);
    tc_close(c);
    tc_close(u);
    stop_ok();
}
END_TEST

START_TEST(who)
{
    start(NULL);
    struct tc *c = tc_hello(d.port, "c");
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    tc_sendf(a, "WHO\n");
    tc_expect(a, "NODES 3");
    tc_expect(a, "NODE c");
    tc_expect(a, "NODE a");
    tc_expect(a, "NODE b");
    tc_close(c);
    tc_close(a);
    tc_close(b);
    stop_ok();
}
END_TEST

START_TEST(ping_quit)
{
    start(NULL);
    struct tc *a = tc_open(d.port);
    tc_sendf(a, "PING\nPING tok-1\nQUIT\n");
    tc_expect(a, "PONG");
    tc_expect(a, "PONG tok-1");
    tc_expect(a, "BYE quit");
    ck_assert(tc_eof(a, 5000));
    ck_assert(log_wait(d.client_log, "disconnect", "reason", "quit", 5000));
    tc_close(a);
    stop_ok();
}
END_TEST

START_TEST(bad_command_stays_open)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    tc_sendf(a, "FOO\n\nWHO x\nPING a b\nSEND b\nQUIT now\nSEND  b 1\nx\n");
    for (int i = 0; i < 7; i++)
        tc_expect(a, "ERR bad-command");
    tc_sync(a);
    tc_close(a);
    stop_ok();
}
END_TEST

/* Whether a refused SEND/BCAST has a payload depends only on its last
 * token: a client that follows that rule stays in step whatever else is
 * wrong with the line.  The payloads here would be commands if the server
 * did not read them. */
START_TEST(refused_send_reads_payload)
{
    start(NULL);
    struct tc *u = tc_open(d.port);
    /* Before HELLO, a malformed SEND is bad-command, not not-registered;
     * a well-formed one is not-registered; both payloads are read. */
    tc_sendf(u, "SEND  3\nWHO\nSEND b 3\nWHO\nPING 1\n");
    tc_expect(u, "ERR bad-command");
    tc_expect(u, "ERR not-registered");
    tc_expect(u, "PONG 1");

    struct tc *a = tc_hello(d.port, "a");
    tc_sendf(a, "SEND  3\nWHO\n"          /* empty target */
                "SEND a b 4\nQUIT\n"      /* too many tokens */
                "send a  1\nQ\n"          /* two spaces: an empty token */
                "SEND a\x01 3\nWHO\n"     /* a control byte */
                "BCAST  4\nQUIT\n"        /* empty token before the length */
                "BCAST x 3\nWHO\n"        /* too many tokens */
                "SEND a*b 3\nWHO\n"       /* a bad id: routed, unknown */
                "SEND a 007\nQUIT\r\n\n\n" /* leading zeros: decimal */
                "PING 2\n");
    for (int i = 0; i < 6; i++)
        tc_expect(a, "ERR bad-command");
    tc_expect(a, "ERR unknown-node");
    tc_expect_msg(a, "a", "a", "QUIT\r\n\n", 7);
    tc_expect(a, "PONG 2");

    /* Too few tokens announce no payload: the next line is a command. */
    tc_sendf(a, "SEND a\nPING 3\nBCAST\nPING 4\n");
    tc_expect(a, "ERR bad-command");
    tc_expect(a, "PONG 3");
    tc_expect(a, "ERR bad-command");
    tc_expect(a, "PONG 4");

    /* A last token that is not a length loses the stream. */
    tc_sendf(a, "SEND a 1 x\nPING 5\n");
    expect_protocol_error(a, "ERR bad-frame");
    tc_close(a);
    tc_close(u);
    stop_ok();
}
END_TEST

/* A token with a CR (or another control byte) would come back in a PONG
 * line that does not end in a lone LF. */
START_TEST(ping_token_with_cr_refused)
{
    start(NULL);
    struct tc *a = tc_open(d.port);
    tc_sendf(a, "PING abc\r\r\nPING a\tb\nPING abc\r\nPING x\n");
    tc_expect(a, "ERR bad-command");
    tc_expect(a, "ERR bad-command");
    tc_expect(a, "PONG abc");
    tc_expect(a, "PONG x");
    tc_close(a);
    stop_ok();
}
END_TEST

START_TEST(line_too_long)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    char big[1100];
    memset(big, 'A', sizeof big);
    tc_send(a, big, sizeof big);
    expect_protocol_error(a, "ERR line-too-long");
    ck_assert(
        log_wait(d.client_log, "disconnect", "reason", "protocol-error", 5000));
    /* which error it was, for the operator */
    ck_assert(
        log_wait(d.client_log, "disconnect", "error", "line-too-long", 0));
    tc_close(a);
    stop_ok();
}
END_TEST

START_TEST(line_of_1024_is_fine)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    char line[1024];
    memcpy(line, "PING ", 5);
    memset(line + 5, 't', sizeof line - 6);
    line[1023] = '\n';
    tc_send(a, line, sizeof line);
    const char *got = tc_line(a, 5000);
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq((int)strlen(got), 1023);
    ck_assert(strncmp(got, "PONG ttt", 8) == 0);
    tc_close(a);
    stop_ok();
}
END_TEST

START_TEST(bad_frame_length)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    tc_sendf(a, "SEND a 1x\nz\n");
    expect_protocol_error(a, "ERR bad-frame");
    struct tc *b = tc_hello(d.port, "b");
    tc_sendf(b, "BCAST -1\n");
    expect_protocol_error(b, "ERR bad-frame");
    tc_close(a);
    tc_close(b);
    stop_ok();
}
END_TEST

START_TEST(bad_frame_no_lf_after_payload)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    tc_sendf(a, "SEND b 3\nabcX");
    expect_protocol_error(a, "ERR bad-frame");
    tc_sync(b); /* nothing was delivered */
    tc_close(a);
    tc_close(b);
    stop_ok();
}
END_TEST

START_TEST(too_large)
{
    start("max_message_size = 100;");
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    char p[101];
    memset(p, 'p', sizeof p);
    tc_sendf(a, "SEND b 100\n");
    tc_send(a, p, 100);
    tc_send(a, "\n", 1);
    tc_expect_msg(b, "a", "b", p, 100);
    tc_sendf(a, "SEND b 101\n");
    expect_protocol_error(a, "ERR too-large");
    tc_sendf(b, "BCAST 9223372036854775808\n");
    expect_protocol_error(b, "ERR too-large");
    tc_close(a);
    tc_close(b);
    stop_ok();
}
END_TEST

START_TEST(replies_in_command_order)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    tc_sendf(a, "PING 1\nSEND zz 1\nx\nPING 2\nFOO\nWHO\nHELLO q\nPING 3\n");
    tc_expect(a, "PONG 1");
    tc_expect(a, "ERR unknown-node zz");
    tc_expect(a, "PONG 2");
    tc_expect(a, "ERR bad-command");
    tc_expect(a, "NODES 1");
    tc_expect(a, "NODE a");
    tc_expect(a, "ERR already-registered");
    tc_expect(a, "PONG 3");
    tc_close(a);
    stop_ok();
}
END_TEST

START_TEST(fifo_per_pair)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    struct tc *r = tc_hello(d.port, "r");
    enum { N = 5000 };
    static char batch[N * 32];
    size_t n = 0, m = 0;
    static char batch2[N * 32];
    for (int i = 0; i < N; i++) {
        char p[16];
        int pl = snprintf(p, sizeof p, "%d", i);
        n += (size_t)sprintf(batch + n, "SEND r %d\n%s\n", pl, p);
        m += (size_t)sprintf(batch2 + m, "SEND r %d\n%s\n", pl, p);
    }
    /* Two senders interleaved: each pair keeps its own order. */
    for (size_t off = 0, off2 = 0; off < n || off2 < m;) {
        size_t k = n - off < 7000 ? n - off : 7000;
        tc_send(a, batch + off, k);
        off += k;
        k = m - off2 < 5000 ? m - off2 : 5000;
        tc_send(b, batch2 + off2, k);
        off2 += k;
    }
    int next_a = 0, next_b = 0;
    while (next_a < N || next_b < N) {
        const char *l = tc_line(r, 5000);
        ck_assert_ptr_nonnull(l);
        char from = l[4];
        ck_assert(strncmp(l, "MSG ", 4) == 0);
        char p[32] = {0};
        const char *sp = strrchr(l, ' ');
        int len = atoi(sp + 1);
        ck_assert_int_eq(tc_read(r, p, (size_t)len + 1, 5000), 0);
        int v = atoi(p);
        if (from == 'a')
            ck_assert_int_eq(v, next_a++);
        else
            ck_assert_int_eq(v, next_b++);
    }
    tc_close(a);
    tc_close(b);
    tc_close(r);
    stop_ok();
}
END_TEST

START_TEST(split_at_every_byte)
{
    start(NULL);
    struct tc *b = tc_hello(d.port, "b");
    struct tc *a = tc_open(d.port);
    const char stream[] = "HELLO a\r\nSEND b 5\nab\ncd\r\nBCAST 0\n\nPING z\n";
    for (size_t i = 0; i < sizeof stream - 1; i++) {
        tc_send(a, stream + i, 1);
        ms_sleep(2);
    }
    tc_expect(a, "OK a idle=300 max=65536");
    tc_expect(a, "PONG z");
    tc_expect_msg(b, "a", "b", "ab\ncd", 5);
    tc_expect_msg(b, "a", "*", "", 0);
    tc_close(a);
    tc_close(b);
    stop_ok();
}
END_TEST

START_TEST(many_commands_one_write)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    static char buf[2000 * 20];
    size_t n = 0;
    for (int i = 0; i < 2000; i++)
        n += (size_t)sprintf(buf + n, "SEND b 3\n%03d\n", i % 1000);
    n += (size_t)sprintf(buf + n, "PING done\n");
    tc_send(a, buf, n);
    tc_expect(a, "PONG done");
    for (int i = 0; i < 2000; i++) {
        char p[16];
        snprintf(p, sizeof p, "%03d", i % 1000);
        tc_expect_msg(b, "a", "b", p, 3);
    }
    tc_close(a);
    tc_close(b);
    stop_ok();
}
END_TEST

START_TEST(large_payload_in_pieces)
{
    start("max_message_size = 1048576;");
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    size_t n = 1048576;
    char *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(i * 7 + 3);
    tc_sendf(a, "SEND b %zu\n", n);
    for (size_t off = 0; off < n; off += 100000) {
        tc_send(a, p + off, off + 100000 > n ? n - off : 100000);
        ms_sleep(1);
    }
    tc_send(a, "\n", 1);
    tc_expect_msg(b, "a", "b", p, n);
    free(p);
    tc_close(a);
    tc_close(b);
    stop_ok();
}
END_TEST

START_TEST(slow_consumer)
{
    start("max_message_size = 1024; max_output_buffer = 65536;");
    struct tc *a = tc_hello(d.port, "a");
    struct tc *c = tc_hello(d.port, "c");
    /* b never reads; a tiny receive buffer makes it fill fast. */
    struct tc *b = tc_open(d.port);
    int small = 4096;
    setsockopt(b->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    tc_sendf(b, "HELLO b\n");
    ms_sleep(100);
    char p[1000];
    memset(p, 'x', sizeof p);
    char frame[1100];
    int hl = sprintf(frame, "SEND b 1000\n");
    memcpy(frame + hl, p, 1000);
    frame[hl + 1000] = '\n';
    /* Far more than the kernel buffers plus the limit. */
    for (int i = 0; i < 20000; i++)
        tc_send(a, frame, (size_t)hl + 1001);
    ck_assert(
        log_wait(d.client_log, "disconnect", "reason", "slow-consumer", 10000));
    /* Others are not slowed: a and c still talk at once. */
    tc_sendf(a, "SEND c 2\nok\n");
    tc_expect_msg(c, "a", "c", "ok", 2);
    /* a may have got unknown-node errors once b was gone */
    tc_sendf(a, "PING s\n");
    for (;;) {
        const char *l = tc_line(a, 5000);
        ck_assert_ptr_nonnull(l);
        if (strcmp(l, "PONG s") == 0)
            break;
        ck_assert_str_eq(l, "ERR unknown-node b");
    }
    if (!msgd_under_wrapper())
        ck_assert_int_lt(msgd_rss_kb(&d), 64 * 1024);
    tc_close(a);
    tc_close(b);
    tc_close(c);
    stop_ok();
}
END_TEST

START_TEST(slow_consumers_cut_during_bcast)
{
    start("max_message_size = 1024; max_output_buffer = 8192;");
    struct tc *a = tc_hello(d.port, "a");
    struct tc *r[8];
    int small = 2048;
    for (int i = 0; i < 8; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        r[i] = tc_open(d.port);
        setsockopt(r[i]->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        tc_sendf(r[i], "HELLO %s\n", id);
    }
    ms_sleep(100);
    char frame[1100];
    int hl = sprintf(frame, "BCAST 1000\n");
    memset(frame + hl, 'y', 1000);
    frame[hl + 1000] = '\n';
    for (int i = 0; i < 12000; i++)
        tc_send(a, frame, (size_t)hl + 1001);
    tc_sync(a);
    tc_sendf(a, "WHO\n");
    tc_expect(a, "NODES 1");
    tc_expect(a, "NODE a");
    for (int i = 0; i < 8; i++)
        tc_close(r[i]);
    tc_close(a);
    stop_ok();
}
END_TEST

START_TEST(large_bcast_shared_and_cut)
{
    start("max_message_size = 16384; max_output_buffer = 65536;");
    struct tc *a = tc_hello(d.port, "a");
    struct tc *r[4];
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        r[i] = tc_hello(d.port, id);
    }
    /* r3 never reads: it is cut while holding references to frames the
     * others are still being sent. */
    r[3] = tc_open(d.port);
    int small = 4096;
    setsockopt(r[3]->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    tc_sendf(r[3], "HELLO r3\n");
    static char p[8000];
    for (size_t i = 0; i < sizeof p; i++)
        p[i] = (char)(i * 13);
    enum { N = 1500 };
    char hdr[32];
    int hl = snprintf(hdr, sizeof hdr, "BCAST %zu\n", sizeof p);
    for (int k = 0; k < N; k++) {
        tc_send(a, hdr, (size_t)hl);
        tc_send(a, p, sizeof p);
        tc_send(a, "\n", 1);
        for (int i = 0; i < 3; i++) /* readers keep up */
            tc_expect_msg(r[i], "a", "*", p, sizeof p);
    }
    ck_assert(log_wait(d.client_log, "disconnect", "node", "r3", 5000));
    tc_sync(a);
    for (int i = 0; i < 4; i++)
        tc_close(r[i]);
    tc_close(a);
    stop_ok();
}
END_TEST

START_TEST(shutdown_says_bye)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    struct tc *u = tc_open(d.port);
    tc_sync(u);
    kill(d.pid, SIGTERM);
    tc_expect(a, "BYE shutdown");
    tc_expect(u, "BYE shutdown");
    ck_assert(tc_eof(a, 5000));
    ck_assert_int_eq(msgd_stop(&d), 0);
    ck_assert(log_wait(d.server_log, "stop", NULL, NULL, 0));
    ck_assert(log_wait(d.client_log, "disconnect", "reason", "shutdown", 0));
    log_check_all(d.client_log);
    tc_close(a);
    tc_close(u);
}
END_TEST

START_TEST(eof_and_half_close)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    /* A half-close still gets the replies to what came before it. */
    tc_sendf(a, "SEND b 2\nhi\nPING last\nSEND b 4\npar");
    shutdown(a->fd, SHUT_WR);
    tc_expect(a, "PONG last");
    ck_assert(tc_eof(a, 5000));
    tc_expect_msg(b, "a", "b", "hi", 2);
    tc_sync(b); /* the partial SEND was not delivered */
    ck_assert(log_wait(d.client_log, "disconnect", "reason", "eof", 5000));
    tc_close(a);
    tc_close(b);
    stop_ok();
}
END_TEST

START_TEST(logs_are_json_and_hold_no_payload)
{
    start("log_level = \"debug\";");
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    tc_sendf(a, "SEND b 13\nSECRET-PAYLD\n\nBCAST 5\nSECRT\n");
    tc_expect_msg(b, "a", "b", "SECRET-PAYLD\n", 13);
    tc_expect_msg(b, "a", "*", "SECRT", 5);
    struct tc *u = tc_open(d.port);
    /* A control byte never gets this far: the line is refused whole. */
    const char evil[] = "HELLO \"\\\xff\n";
    tc_send(u, evil, sizeof evil - 1);
    tc_expect(u, "ERR bad-id");
    ck_assert(log_wait(d.client_log, "message", "to", "*", 5000));
    ck_assert(log_wait(d.client_log, "reject", "node", "\"\\\xef\xbf\xbd", 5000));
    tc_close(u);
    tc_close(a);
    tc_close(b);
    stop_ok();
    log_check_all(d.client_log);
    ck_assert(!file_contains(d.client_log, "SECRET"));
    ck_assert(!file_contains(d.server_log, "SECRET"));
    ck_assert(!file_contains(d.client_log, "SECRT"));
    ck_assert(log_wait(d.client_log, "disconnect", "node", NULL, 0));
}
END_TEST

START_TEST(full_log_never_stops_routing)
{
    /* Every write to /dev/full fails with ENOSPC. */
    start("client_log = \"/dev/full\"; log_level = \"debug\";");
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    for (int i = 0; i < 200; i++)
        tc_sendf(a, "SEND b 3\n%03d\n", i);
    for (int i = 0; i < 200; i++) {
        char p[16];
        snprintf(p, sizeof p, "%03d", i);
        tc_expect_msg(b, "a", "b", p, 3);
    }
    /* The loss is counted and reported where it can be: server_log. */
    ck_assert(log_wait(d.server_log, "warning", "stream", "client_log", 5000));
    ck_assert(file_contains(d.server_log, "No space left on device"));
    tc_close(a);
    tc_close(b);
    stop_ok();
}
END_TEST

START_TEST(no_debug_at_info)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    tc_sendf(a, "SEND a 1\nx\n");
    tc_expect_msg(a, "a", "a", "x", 1);
    tc_close(a);
    stop_ok();
    ck_assert(!log_wait(d.client_log, "message", NULL, NULL, 0));
}
END_TEST

START_TEST(ipv6_and_any)
{
    start("listen = [ \"[::1]:0\", \"*:0\" ];");
    struct tc *a = tc_open_addr("::1", d.port);
    tc_sendf(a, "HELLO a\n");
    tc_expect(a, "OK a idle=300 max=65536");
    ck_assert(file_contains(d.server_log, "\"[::1]:"));
    /* the second listener: find its port in the start event */
    ck_assert(file_contains(d.server_log, "\"0.0.0.0:"));
    tc_close(a);
    stop_ok();
}
END_TEST

START_TEST(restart_same_port)
{
    start(NULL);
    int port = d.port;
    struct tc *a = tc_hello(port, "a");
    tc_sendf(a, "QUIT\n");
    tc_expect(a, "BYE quit");
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
    /* The server closed first, so its side sits in TIME_WAIT. */
    char extra[64];
    snprintf(extra, sizeof extra, "listen = [ \"127.0.0.1:%d\" ];", port);
    start(extra);
    ck_assert_int_eq(d.port, port);
    stop_ok();
}
END_TEST

START_TEST(cli_check_version_usage)
{
    char out[4096];
    char dir[] = "/tmp/msgd-cli-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char good[128], bad[128];
    snprintf(good, sizeof good, "%s/good.conf", dir);
    snprintf(bad, sizeof bad, "%s/bad.conf", dir);
    FILE *f = fopen(good, "w");
    fprintf(f, "max_nodes = 5;\n");
    fclose(f);
    f = fopen(bad, "w");
    fprintf(f, "max_nodes = 5;\n\nno_such_thing = 1;\n");
    fclose(f);

    const char *t_good[] = {"msgd", "-t", "-c", good, NULL};
    ck_assert_int_eq(msgd_run(t_good, out, sizeof out), 0);
    char want[256];
    snprintf(want, sizeof want, "%s: ok\n", good);
    ck_assert_str_eq(out, want);

    const char *t_bad[] = {"msgd", "-t", "-c", bad, NULL};
    ck_assert_int_eq(msgd_run(t_bad, out, sizeof out), 1);
    snprintf(want, sizeof want, "%s:3: unknown setting 'no_such_thing'", bad);
    ck_assert_msg(strstr(out, want), "got: %s", out);

    /* The daemon refuses the same file at start, with the same words. */
    const char *f_bad[] = {"msgd", "-f", "-c", bad, NULL};
    ck_assert_int_eq(msgd_run(f_bad, out, sizeof out), 1);
    ck_assert_msg(strstr(out, want), "got: %s", out);

    const char *missing[] = {"msgd", "-t", "-c", "/nonexistent/x.conf", NULL};
    ck_assert_int_eq(msgd_run(missing, out, sizeof out), 1);
    ck_assert(strstr(out, "/nonexistent/x.conf: No such file"));

    const char *v[] = {"msgd", "-V", NULL};
    ck_assert_int_eq(msgd_run(v, out, sizeof out), 0);
    ck_assert(strncmp(out, "msgd ", 5) == 0);

    const char *h[] = {"msgd", "-h", NULL};
    ck_assert_int_eq(msgd_run(h, out, sizeof out), 0);
    ck_assert(strstr(out, "usage: msgd"));

    const char *u[] = {"msgd", "-x", NULL};
    ck_assert_int_eq(msgd_run(u, out, sizeof out), 64);
    ck_assert_str_eq(out, "msgd: unknown option '-x'\ntry 'msgd --help'\n");

    /* Long forms, as every tool of the package takes them. */
    const char *lv[] = {"msgd", "--version", NULL};
    ck_assert_int_eq(msgd_run(lv, out, sizeof out), 0);
    ck_assert(strncmp(out, "msgd ", 5) == 0);
    const char *lh[] = {"msgd", "--help", NULL};
    ck_assert_int_eq(msgd_run(lh, out, sizeof out), 0);
    ck_assert(strstr(out, "usage: msgd"));
    const char *lu[] = {"msgd", "--frobnicate", NULL};
    ck_assert_int_eq(msgd_run(lu, out, sizeof out), 64);
    ck_assert_str_eq(out, "msgd: unknown option '--frobnicate'\n"
                          "try 'msgd --help'\n");
    const char *nc[] = {"msgd", "-c", NULL};
    ck_assert_int_eq(msgd_run(nc, out, sizeof out), 64);
    ck_assert(strncmp(out, "msgd: option '-c' needs an argument\n", 36) == 0);
}
END_TEST

START_TEST(port_in_use_fails)
{
    start(NULL);
    char conf[400];
    snprintf(conf, sizeof conf, "%s/second.conf", d.dir);
    FILE *f = fopen(conf, "w");
    fprintf(f,
            "listen = [ \"127.0.0.1:%d\" ];\nserver_log = \"%s/s2.log\";\n"
            "client_log = \"%s/c2.log\";\n",
            d.port, d.dir, d.dir);
    fclose(f);
    char out[4096];
    const char *argv[] = {"msgd", "-f", "-c", conf, NULL};
    ck_assert_int_eq(msgd_run(argv, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "Address already in use"), "got: %s", out);
    stop_ok();
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        hello_ok,
        hello_lowercase_and_crlf,
        hello_bad_id,
        hello_id_taken,
        hello_already_registered,
        duplicate_replace,
        server_full,
        send_binary_and_empty,
        send_unknown_node,
        not_registered,
        bcast,
        who,
        ping_quit,
        bad_command_stays_open,
        refused_send_reads_payload,
        ping_token_with_cr_refused,
        line_too_long,
        line_of_1024_is_fine,
        bad_frame_length,
        bad_frame_no_lf_after_payload,
        too_large,
        replies_in_command_order,
        fifo_per_pair,
        split_at_every_byte,
        many_commands_one_write,
        large_payload_in_pieces,
        slow_consumer,
        slow_consumers_cut_during_bcast,
        large_bcast_shared_and_cut,
        shutdown_says_bye,
        eof_and_half_close,
        logs_are_json_and_hold_no_payload,
        no_debug_at_info,
        full_log_never_stops_routing,
        ipv6_and_any,
        restart_same_port,
        cli_check_version_usage,
        port_in_use_fails,
    };
    return run_suite("msgd", tests, sizeof tests / sizeof *tests);
}
