/* test_msgclient.c: libmsgclient against the real msgd: the blocking
 * calls, the non-blocking poll loop, events kept in order around
 * mc_sync/mc_register, binary and large payloads, WHO, BYE and CLOSED,
 * IPv6, connection failures, a later server's lines (skipped) and a server
 * that breaks the protocol.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "msgclient.h"
#include "proto.h"

static struct msgd_proc d;

static struct mc_client *client(const char *id)
{
    char port[16];
    snprintf(port, sizeof port, "%d", d.port);
    struct mc_client *c = mc_new(0);
    ck_assert_ptr_nonnull(c);
    ck_assert_msg(mc_connect(c, "127.0.0.1", port, 5000) == 0, "%s",
                  mc_error(c));
    if (id) {
        const char *code = NULL;
        ck_assert_msg(mc_register(c, id, &code, 5000) == 0, "%s", mc_error(c));
    }
    return c;
}

static void expect_msg(struct mc_client *c, const char *from, const char *to,
                       const void *data, size_t len)
{
    struct mc_event ev;
    ck_assert_int_eq(mc_wait_event(c, &ev, 5000), 1);
    ck_assert_int_eq(ev.type, MC_EV_MSG);
    ck_assert_str_eq(ev.from, from);
    ck_assert_str_eq(ev.to, to);
    ck_assert_uint_eq(ev.len, len);
    ck_assert(memcmp(ev.data, data, len) == 0);
}

START_TEST(blocking_basics)
{
    msgd_start(&d, "idle_timeout = 7.5;");
    struct mc_client *a = client("a"), *b = client("b");
    ck_assert(mc_server_idle(a) == 7.5);
    const char bin[] = {'x', '\n', '\0', '\r', (char)0xff};
    ck_assert_int_eq(mc_send(a, "b", bin, sizeof bin), 0);
    ck_assert_int_eq(mc_send(a, "b", "", 0), 0);
    ck_assert_int_eq(mc_bcast(a, "all", 3), 0);
    ck_assert_int_eq(mc_sync(a, 5000, NULL), 0);
    expect_msg(b, "a", "b", bin, sizeof bin);
    expect_msg(b, "a", "b", "", 0);
    struct mc_event ev;
    ck_assert_int_eq(mc_wait_event(b, &ev, 5000), 1);
    ck_assert_int_eq(ev.type, MC_EV_MSG);
    ck_assert(ev.broadcast);
    ck_assert_int_eq(mc_who(a), 0);
    ck_assert_int_eq(mc_wait_event(a, &ev, 5000), 1);
    ck_assert_int_eq(ev.type, MC_EV_NODES);
    ck_assert_uint_eq(ev.nnodes, 2);
    ck_assert_str_eq(ev.nodes[0], "a");
    ck_assert_str_eq(ev.nodes[1], "b");
    ck_assert_int_eq(mc_ping(a, "tok-9"), 0);
    ck_assert_int_eq(mc_wait_event(a, &ev, 5000), 1);
    ck_assert_int_eq(ev.type, MC_EV_PONG);
    ck_assert_uint_eq(ev.len, 5);
    ck_assert(memcmp(ev.data, "tok-9", 5) == 0);
    ck_assert_int_eq(mc_quit(a), 0);
    ck_assert_int_eq(mc_wait_event(a, &ev, 5000), 1);
    ck_assert_int_eq(ev.type, MC_EV_BYE);
    ck_assert_str_eq(ev.code, "quit");
    ck_assert_int_eq(mc_wait_event(a, &ev, 5000), 1);
    ck_assert_int_eq(ev.type, MC_EV_CLOSED);
    ck_assert_int_eq(mc_wait_event(a, &ev, 100), -1);
    ck_assert_int_eq(mc_send(a, "b", "x", 1), -1); /* closed */
    /* A long PING token (the protocol allows about 1018 bytes). */
    char tok[1001];
    memset(tok, 't', 1000);
    tok[1000] = '\0';
    ck_assert_int_eq(mc_ping(b, tok), 0);
    ck_assert_int_eq(mc_wait_event(b, &ev, 5000), 1);
    ck_assert_int_eq(ev.type, MC_EV_PONG);
    ck_assert_uint_eq(ev.len, 1000);
    mc_free(a);
    mc_free(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(register_refusals_and_local_checks)
{
    msgd_start(&d, NULL);
    struct mc_client *a = client("a"), *b = client(NULL);
    const char *code = NULL;
    ck_assert_int_eq(mc_register(b, "a", &code, 5000), 1);
    ck_assert_str_eq(code, "id-taken");
    ck_assert_int_eq(mc_hello(b, "bad/id"), -1); /* refused locally */
    ck_assert_int_eq(mc_register(b, "bad/id", &code, 5000), 1);
    ck_assert_str_eq(code, "bad-id");
    ck_assert_int_eq(mc_send(b, "", "x", 1), -1);
    ck_assert_int_eq(mc_ping(b, "two words"), -1);
    /* Control bytes the server would refuse, CR among them. */
    ck_assert_int_eq(mc_ping(b, "abc\r"), -1);
    ck_assert_int_eq(mc_ping(b, "a\tb"), -1);
    ck_assert_int_eq(mc_ping(b, "a\x7f"), -1);
    ck_assert_int_eq(mc_ping(b, "caf\xc3\xa9"), 0);
    char *big = calloc(1, 65537);
    ck_assert_int_eq(mc_send(b, "a", big, 65537), -1);
    free(big);
    ck_assert_int_eq(mc_register(b, "b", &code, 5000), 0);
    mc_free(a);
    mc_free(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(sync_keeps_events_in_order)
{
    msgd_start(&d, NULL);
    struct mc_client *a = client("a"), *b = client("b");
    for (int i = 0; i < 3; i++) {
        char p[16];
        snprintf(p, sizeof p, "m%d", i);
        ck_assert_int_eq(mc_send(b, "a", p, 2), 0);
    }
    ck_assert_int_eq(mc_sync(b, 5000, NULL), 0); /* all three routed */
    ck_assert_int_eq(mc_send(a, "zz", "x", 1), 0);
    int errors = -1;
    ck_assert_int_eq(mc_sync(a, 5000, &errors), 0);
    ck_assert_int_eq(errors, 1);
    /* Kept aside by mc_sync, handed out in arrival order. */
    for (int i = 0; i < 3; i++) {
        char p[16];
        snprintf(p, sizeof p, "m%d", i);
        expect_msg(a, "b", "a", p, 2);
    }
    struct mc_event ev;
    ck_assert_int_eq(mc_next_event(a, &ev), 1);
    ck_assert_int_eq(ev.type, MC_EV_ERR);
    ck_assert_str_eq(ev.code, "unknown-node");
    ck_assert_str_eq(ev.detail, "zz");
    ck_assert_int_eq(mc_next_event(a, &ev), 0);
    mc_free(a);
    mc_free(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(non_blocking_loop)
{
    enum { N = 20000 };
    msgd_start(&d, NULL);
    struct mc_client *a = client("a"), *b = client("b");
    int sent = 0, got = 0;
    struct mc_event ev;
    while (got < N) {
        /* Keep a bounded amount queued, as a real loop would. */
        while (sent < N && sent - got < 512) {
            char p[16];
            int n = snprintf(p, sizeof p, "%d", sent++);
            ck_assert_int_eq(mc_send(a, "b", p, (size_t)n), 0);
        }
        struct pollfd p[2] = {
            {.fd = mc_fd(a), .events = mc_want_write(a) ? POLLOUT : 0},
            {.fd = mc_fd(b), .events = POLLIN},
        };
        ck_assert_int_gt(poll(p, 2, 5000), 0);
        if (p[0].revents & POLLOUT)
            ck_assert_int_ge(mc_flush(a), 0);
        if (p[1].revents & POLLIN)
            ck_assert_int_ge(mc_read(b), 0);
        while (mc_next_event(b, &ev) == 1) {
            ck_assert_int_eq(ev.type, MC_EV_MSG);
            char want[16];
            int n = snprintf(want, sizeof want, "%d", got++);
            ck_assert_uint_eq(ev.len, (size_t)n);
            ck_assert(memcmp(ev.data, want, ev.len) == 0);
        }
    }
    ck_assert_int_eq(mc_next_event(b, &ev), 0);
    mc_free(a);
    mc_free(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(large_payload)
{
    msgd_start(&d, "max_message_size = 2000000;");
    char port[16];
    snprintf(port, sizeof port, "%d", d.port);
    struct mc_client *a = mc_new(2000000), *b = mc_new(2000000);
    ck_assert_int_eq(mc_connect(a, "127.0.0.1", port, 5000), 0);
    ck_assert_int_eq(mc_connect(b, "127.0.0.1", port, 5000), 0);
    ck_assert_int_eq(mc_register(a, "a", NULL, 5000), 0);
    ck_assert_int_eq(mc_register(b, "b", NULL, 5000), 0);
    size_t n = 1500000;
    char *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(i * 31 + 7);
    ck_assert_int_eq(mc_send(a, "b", p, n), 0);
    ck_assert_int_eq(mc_sync(a, 10000, NULL), 0);
    expect_msg(b, "a", "b", p, n);
    free(p);
    mc_free(a);
    mc_free(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(bye_then_closed)
{
    msgd_start(&d, "idle_timeout = 0.3;");
    struct mc_client *a = client("a");
    struct mc_event ev;
    ck_assert_int_eq(mc_wait_event(a, &ev, 5000), 1);
    ck_assert_int_eq(ev.type, MC_EV_BYE);
    ck_assert_str_eq(ev.code, "idle-timeout");
    ck_assert_int_eq(mc_wait_event(a, &ev, 5000), 1);
    ck_assert_int_eq(ev.type, MC_EV_CLOSED);
    mc_free(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(ipv6)
{
    msgd_start(&d, "listen = [ \"[::1]:0\" ];");
    char port[16];
    snprintf(port, sizeof port, "%d", d.port);
    struct mc_client *a = mc_new(0);
    ck_assert_int_eq(mc_connect(a, "::1", port, 5000), 0);
    ck_assert_int_eq(mc_register(a, "v6", NULL, 5000), 0);
    mc_free(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(connect_failure)
{
    /* A port nobody listens on: bind one, then close it. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    bind(s, (struct sockaddr *)&sa, sizeof sa);
    getsockname(s, (struct sockaddr *)&sa, &len);
    close(s);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
    struct mc_client *a = mc_new(0);
    ck_assert_int_eq(mc_connect(a, "127.0.0.1", port, 2000), -1);
    ck_assert(strstr(mc_error(a), "cannot connect"));
    ck_assert(strstr(mc_error(a), "refused"));
    ck_assert_int_eq(mc_hello(a, "x"), -1); /* not connected */
    mc_free(a);
}
END_TEST

START_TEST(server_breaking_protocol)
{
    /* A fake server that answers HELLO with garbage. */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    listen(l, 1);
    getsockname(l, (struct sockaddr *)&sa, &len);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
    struct mc_client *a = mc_new(0);
    ck_assert_int_eq(mc_connect(a, "127.0.0.1", port, 2000), 0);
    int s = accept(l, NULL, NULL);
    /* Lines with verbs it does not know are skipped, and tokens it does
     * not know on OK, ERR and BYE lines are ignored. */
    static const char later[] = "HTTP/1.0 200 OK\r\nWELCOME to v2\n"
                                "OK a idle=1 max=100 color=blue\n"
                                "ERR unknown-node b and more\nBYE quit now\n";
    ck_assert_int_gt(write(s, later, sizeof later - 1), 0);
    ck_assert_int_eq(mc_register(a, "a", NULL, 2000), 0);
    ck_assert(mc_server_idle(a) == 1);
    struct mc_event ev;
    ck_assert_int_eq(mc_wait_event(a, &ev, 2000), 1);
    ck_assert_int_eq(ev.type, MC_EV_ERR);
    ck_assert_str_eq(ev.code, "unknown-node");
    ck_assert_int_eq(mc_wait_event(a, &ev, 2000), 1);
    ck_assert_int_eq(ev.type, MC_EV_BYE);
    ck_assert_str_eq(ev.code, "quit");
    mc_free(a);
    /* but a line that claims to be a MSG and is not one breaks it */
    a = mc_new(0);
    ck_assert_int_eq(mc_connect(a, "127.0.0.1", port, 2000), 0);
    close(s);
    s = accept(l, NULL, NULL);
    ck_assert_int_gt(write(s, "MSG x y z\n", 10), 0);
    ck_assert_int_eq(mc_wait_event(a, &ev, 2000), -1);
    ck_assert_msg(strstr(mc_error(a), "protocol error"), "%s", mc_error(a));
    mc_free(a);
    /* and a MSG that claims more than max_message */
    a = mc_new(10);
    ck_assert_int_eq(mc_connect(a, "127.0.0.1", port, 2000), 0);
    close(s);
    s = accept(l, NULL, NULL);
    ck_assert_int_gt(write(s, "MSG x y 11\nhello world\n", 23), 0);
    ck_assert_int_eq(mc_wait_event(a, &ev, 2000), -1);
    ck_assert(strstr(mc_error(a), "larger than max_message"));
    ck_assert_int_eq(mc_next_event(a, &ev), 1); /* then the end, once */
    ck_assert_int_eq(ev.type, MC_EV_CLOSED);
    ck_assert_int_eq(mc_next_event(a, &ev), 0);
    mc_free(a);
    close(s);
    close(l);
}
END_TEST

/* The library keeps its own copy of the id rule (it links nothing of
 * msgd): it must say what the daemon says, at the limits too. */
START_TEST(id_rule_agrees_with_daemon)
{
    char id[PROTO_MAX_ID + 2];
    ck_assert_int_eq(MC_MAX_ID, PROTO_MAX_ID);
    memset(id, 'a', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    for (size_t n = 0; n <= PROTO_MAX_ID + 1; n++) {
        id[n] = '\0';
        ck_assert_int_eq(!!mc_valid_id(id), !!proto_valid_id(id, n));
        id[n] = 'a';
    }
    for (int c = 1; c < 256; c++) {
        char one[2] = {(char)c, '\0'};
        ck_assert_int_eq(!!mc_valid_id(one), !!proto_valid_id(one, 1));
    }
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        blocking_basics,
        register_refusals_and_local_checks,
        sync_keeps_events_in_order,
        non_blocking_loop,
        large_payload,
        bye_then_closed,
        ipv6,
        connect_failure,
        server_breaking_protocol,
        id_rule_agrees_with_daemon,
    };
    return run_suite("msgclient", tests, sizeof tests / sizeof *tests);
}
