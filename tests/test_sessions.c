/* test_sessions.c: integration tests of sessions (msgd-protocol(7),
 * SESSIONS) against the real msgd: sequence numbers, ACK, a dropped
 * connection held with its messages kept, resume with redelivery in
 * order, a wrong token, a resume racing a live connection, expiry and
 * overflow reported as lost= at the next HELLO, QUIT and kick ending a
 * session at once, and what msgctl and stats show.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct msgd_proc d;
static char out[1 << 20];

/* HELLO id session: the token from the OK (32 hex digits) into tok. */
static struct tc *open_session(const char *id, char tok[33])
{
    struct tc *c = tc_open(d.port);
    tc_sendf(c, "HELLO %s session\n", id);
    const char *l = tc_line(c, 5000);
    ck_assert_ptr_nonnull(l);
    const char *s = strstr(l, " session=");
    ck_assert_msg(strncmp(l, "OK ", 3) == 0 && s != NULL, "got '%s'", l);
    ck_assert_uint_eq(strlen(s + 9), 32);
    ck_assert_uint_eq(strspn(s + 9, "0123456789abcdef"), 32);
    memcpy(tok, s + 9, 33);
    return c;
}

/* The next line is "MSG from to n seq" and then the payload. */
static void expect_seq(struct tc *c, const char *from, const char *to,
                       const char *payload, unsigned long long seq)
{
    char want[256];
    snprintf(want, sizeof want, "MSG %s %s %zu %llu", from, to, strlen(payload),
             seq);
    tc_expect(c, want);
    char buf[256];
    size_t n = strlen(payload);
    ck_assert_int_eq(tc_read(c, buf, n + 1, 5000), 0);
    ck_assert(memcmp(buf, payload, n) == 0 && buf[n] == '\n');
}

static void send_to(struct tc *c, const char *to, const char *payload)
{
    tc_sendf(c, "SEND %s %zu\n%s\n", to, strlen(payload), payload);
}

static json_t *ctl_json(const char *cmd)
{
    const char *argv[] = {msgctl_path(), "-s", d.admin_socket,
                          "--json",      cmd,  NULL};
    int rc = prog_run(argv, out, sizeof out);
    ck_assert_msg(rc == 0, "msgctl %s: exit %d: %s", cmd, rc, out);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    return j;
}

/* The row of id in msgctl --json list, or NULL; *all is freed by the
 * caller. */
static json_t *list_row(const char *id, json_t **all)
{
    *all = ctl_json("list");
    size_t i;
    json_t *r;
    json_array_foreach(*all, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "id")), id) == 0)
            return r;
    }
    return NULL;
}

static long long stat_of(const char *key)
{
    json_t *j = ctl_json("stats");
    json_t *v = json_object_get(j, key);
    ck_assert_msg(json_is_integer(v), "stats has no %s", key);
    long long n = json_integer_value(v);
    json_decref(j);
    return n;
}

START_TEST(numbers_and_ack)
{
    msgd_start(&d, "");
    char tok[33];
    struct tc *a = open_session("a", tok);
    struct tc *b = tc_hello(d.port, "b");
    struct tc *c = tc_hello(d.port, "c");
    send_to(b, "a", "one");
    send_to(b, "a", "two");
    tc_sendf(b, "BCAST 3\nall\n");
    expect_seq(a, "b", "a", "one", 1);
    expect_seq(a, "b", "a", "two", 2);
    expect_seq(a, "b", "*", "all", 3);
    /* A node without a session sees the frames of before. */
    tc_expect_msg(c, "b", "*", "all", 3);

    /* ACK: no reply; a number never sent is refused; an old one is
     * nothing. */
    tc_sendf(a, "ACK 2\nACK 1\n");
    tc_sync(a);
    tc_sendf(a, "ACK 4\n");
    tc_expect(a, "ERR bad-command");
    tc_sendf(c, "ACK 1\n");
    tc_expect(c, "ERR bad-command");
    struct tc *x = tc_open(d.port);
    tc_sendf(x, "ACK 1\n");
    tc_expect(x, "ERR not-registered");

    json_t *all, *r = list_row("a", &all);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(json_string_value(json_object_get(r, "state")), "session");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "kept")), 1);
    json_decref(all);
    r = list_row("c", &all);
    ck_assert_str_eq(json_string_value(json_object_get(r, "state")), "open");
    ck_assert(json_is_null(json_object_get(r, "kept")));
    json_decref(all);
    tc_close(x);
    tc_close(a);
    tc_close(b);
    tc_close(c);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(dropped_held_and_resumed)
{
    msgd_start(&d, "");
    char tok[33];
    struct tc *a = open_session("a", tok);
    struct tc *b = tc_hello(d.port, "b");
    send_to(b, "a", "m1");
    send_to(b, "a", "m2");
    expect_seq(a, "b", "a", "m1", 1);
    expect_seq(a, "b", "a", "m2", 2);
    tc_sendf(a, "ACK 1\n");
    send_to(a, "b", "from-a-1");
    send_to(a, "nobody", "refused");
    tc_expect(a, "ERR unknown-node nobody");
    tc_sync(a);
    tc_expect_msg(b, "a", "b", "from-a-1", 8);
    tc_close(a); /* the connection drops: no QUIT */
    ck_assert(log_wait(d.client_log, "session-held", "node", "a", 5000));

    /* Held: sends are accepted and kept, WHO lists it. */
    send_to(b, "a", "m3");
    send_to(b, "a", "m4");
    tc_sendf(b, "WHO\n");
    tc_expect(b, "NODES 2");
    tc_expect(b, "NODE a");
    tc_expect(b, "NODE b");
    json_t *all, *r = list_row("a", &all);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(json_string_value(json_object_get(r, "state")), "held");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "kept")), 3);
    double left = json_number_value(json_object_get(r, "hold_left_s"));
    ck_assert_msg(left > 50 && left <= 60, "hold_left_s %f", left);
    json_decref(all);
    ck_assert_int_eq(stat_of("sessions_held"), 1);
    /* The text table says so too. */
    const char *argv[] = {msgctl_path(), "-s", d.admin_socket, "list", NULL};
    ck_assert_int_eq(prog_run(argv, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "held ") != NULL, "%s", out);

    /* A wrong token: the id is taken. */
    struct tc *w = tc_open(d.port);
    tc_sendf(w, "HELLO a session=00000000000000000000000000000000 ack=2\n");
    tc_expect(w, "ERR id-taken a");
    /* A plain HELLO of a held id: taken too. */
    tc_sendf(w, "HELLO a\n");
    tc_expect(w, "ERR id-taken a");

    /* Resume from 1: m2 again, then m3, m4, then new ones. */
    struct tc *a2 = tc_open(d.port);
    tc_sendf(a2, "HELLO a session=%s ack=1\n", tok);
    const char *l = tc_line(a2, 5000);
    ck_assert_ptr_nonnull(l);
    char want[128];
    snprintf(want, sizeof want, " session=%s", tok);
    ck_assert_msg(strncmp(l, "OK a ", 5) == 0 && strstr(l, want) &&
                      !strstr(l, "lost="),
                  "got '%s'", l);
    /* Both of a's SENDs were read (one refused): it has nothing to send
     * again. */
    ck_assert_msg(strstr(l, " in=2"), "got '%s'", l);
    expect_seq(a2, "b", "a", "m2", 2);
    expect_seq(a2, "b", "a", "m3", 3);
    expect_seq(a2, "b", "a", "m4", 4);
    send_to(b, "a", "m5");
    expect_seq(a2, "b", "a", "m5", 5);
    ck_assert(log_wait(d.client_log, "session-resumed", "node", "a", 5000));
    ck_assert_int_eq(stat_of("sessions_held"), 0);
    ck_assert_int_eq(stat_of("sessions_resumed"), 1);
    tc_close(w);
    tc_close(a2);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* A resume while the old connection is still open replaces it; an ack
 * beyond what was sent is refused and changes nothing. */
START_TEST(resume_replaces_live_connection)
{
    msgd_start(&d, "");
    char tok[33];
    struct tc *a = open_session("a", tok);
    struct tc *b = tc_hello(d.port, "b");
    send_to(b, "a", "x");
    expect_seq(a, "b", "a", "x", 1);
    struct tc *a2 = tc_open(d.port);
    tc_sendf(a2, "HELLO a session=%s ack=5\n", tok);
    tc_expect(a2, "ERR bad-command");
    tc_sendf(a2, "HELLO a session=%s ack=0\n", tok);
    const char *l = tc_line(a2, 5000);
    ck_assert_msg(l && strncmp(l, "OK a ", 5) == 0, "got '%s'", l);
    expect_seq(a2, "b", "a", "x", 1);
    tc_expect(a, "BYE replaced");
    ck_assert(tc_eof(a, 5000));
    send_to(b, "a", "y");
    expect_seq(a2, "b", "a", "y", 2);
    tc_close(a);
    tc_close(a2);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* The hold runs out: the id is free, the kept messages are lost, and
 * the node hears how many at its next HELLO with the old token. */
START_TEST(expiry_reports_lost)
{
    msgd_start(&d, "session_hold = 0.5;");
    char tok[33];
    struct tc *a = open_session("a", tok);
    struct tc *b = tc_hello(d.port, "b");
    tc_close(a);
    ck_assert(log_wait(d.client_log, "session-held", "node", "a", 5000));
    send_to(b, "a", "p");
    send_to(b, "a", "q");
    tc_sync(b);
    ck_assert(log_wait(d.client_log, "session-expired", "node", "a", 5000));
    send_to(b, "a", "r");
    tc_expect(b, "ERR unknown-node a");
    ck_assert_int_eq(stat_of("sessions_expired"), 1);

    struct tc *a2 = tc_open(d.port);
    tc_sendf(a2, "HELLO a session=%s ack=0\n", tok);
    const char *l = tc_line(a2, 5000);
    ck_assert_msg(l && strncmp(l, "OK a ", 5) == 0 && strstr(l, " lost=2") &&
                      strstr(l, " session=") && !strstr(l, tok),
                  "got '%s'", l);
    /* Told once. */
    tc_sendf(a2, "QUIT\n");
    tc_expect(a2, "BYE quit");
    struct tc *a3 = tc_open(d.port);
    tc_sendf(a3, "HELLO a session=%s ack=0\n", tok);
    l = tc_line(a3, 5000);
    ck_assert_msg(l && strncmp(l, "OK a ", 5) == 0 && !strstr(l, "lost="),
                  "got '%s'", l);
    tc_close(a2);
    tc_close(a3);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* A node that never ACKs fills session_buffer: the session ends, its id
 * is freed, the loss is logged and told at the next HELLO. */
START_TEST(overflow_reports_lost)
{
    msgd_start(&d, "session_buffer = 1024;");
    char tok[33];
    struct tc *a = open_session("a", tok);
    struct tc *b = tc_hello(d.port, "b");
    char payload[101];
    memset(payload, 'z', 100);
    payload[100] = '\0';
    for (int i = 0; i < 12; i++)
        send_to(b, "a", payload);
    /* Once the session has ended, the id is unknown: the sender hears. */
    tc_sendf(b, "PING end\n");
    const char *bl;
    int refused = 0;
    while ((bl = tc_line(b, 5000)) != NULL && strcmp(bl, "PONG end") != 0) {
        ck_assert_str_eq(bl, "ERR unknown-node a");
        refused++;
    }
    ck_assert_ptr_nonnull(bl);
    ck_assert_int_gt(refused, 0);
    ck_assert(log_wait(d.client_log, "session-overflow", "node", "a", 5000));
    const char *l;
    int msgs = 0;
    while ((l = tc_line(a, 5000)) != NULL && strncmp(l, "MSG ", 4) == 0) {
        char buf[101];
        ck_assert_int_eq(tc_read(a, buf, 101, 5000), 0);
        msgs++;
    }
    ck_assert_msg(l && strncmp(l, "BYE slow-consumer", 17) == 0, "got '%s'",
                  l ? l : "(eof)");
    ck_assert(tc_eof(a, 5000));
    send_to(b, "a", "after");
    tc_expect(b, "ERR unknown-node a");
    /* What the session kept when it ended (never acknowledged, whether
     * written or not) and the message that overflowed it are lost; the
     * rest were refused to their sender: every message is accounted
     * for. */
    long lost = log_sum(d.client_log, "session-overflow", "node", "a", "lost");
    ck_assert_int_ge(lost, msgs + 1);
    ck_assert_int_eq(lost + refused, 12);
    struct tc *a2 = tc_open(d.port);
    tc_sendf(a2, "HELLO a session=%s\n", tok);
    l = tc_line(a2, 5000);
    char want[32];
    snprintf(want, sizeof want, " lost=%ld", lost);
    ck_assert_msg(l && strstr(l, want), "got '%s'", l);
    tc_close(a);
    tc_close(a2);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* QUIT and a kick end a session at once; an idle timeout holds it. */
START_TEST(quit_kick_and_idle)
{
    msgd_start(&d, "idle_timeout = 0.5;");
    char tok[33];
    struct tc *a = open_session("a", tok);
    struct tc *b = open_session("b", tok);
    tc_sendf(a, "QUIT\n");
    tc_expect(a, "BYE quit");
    tc_sendf(b, "PING\n");
    tc_expect(b, "PONG");
    send_to(b, "a", "gone");
    tc_expect(b, "ERR unknown-node a");
    tc_close(a);

    /* b stops pinging: evicted, and held. */
    tc_expect(b, "BYE idle-timeout");
    ck_assert(log_wait(d.client_log, "session-held", "node", "b", 5000));
    const char *argv[] = {msgctl_path(), "-s", d.admin_socket,
                          "kick",        "b",  NULL};
    ck_assert_int_eq(prog_run(argv, out, sizeof out), 0);
    ck_assert(
        log_wait(d.client_log, "session-expired", "reason", "kicked", 5000));
    struct tc *c = tc_hello(d.port, "c");
    send_to(c, "b", "gone");
    tc_expect(c, "ERR unknown-node b");
    /* b's id is free for anyone. */
    tc_close(b);
    struct tc *b2 = tc_hello(d.port, "b");
    tc_close(b2);
    tc_close(c);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* session_hold = 0: sessions are off; HELLO id session registers a plain
 * node (no session= in its OK), so the client knows. */
START_TEST(sessions_off)
{
    msgd_start(&d, "session_hold = 0;");
    struct tc *a = tc_open(d.port);
    tc_sendf(a, "HELLO a session\n");
    const char *l = tc_line(a, 5000);
    ck_assert_msg(l && strncmp(l, "OK a ", 5) == 0 && !strstr(l, "session="),
                  "got '%s'", l);
    struct tc *b = tc_hello(d.port, "b");
    send_to(b, "a", "plain");
    tc_expect_msg(a, "b", "a", "plain", 5);
    tc_sendf(a, "ACK 1\n");
    tc_expect(a, "ERR bad-command");
    tc_close(a);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        numbers_and_ack,
        dropped_held_and_resumed,
        resume_replaces_live_connection,
        expiry_reports_lost,
        overflow_reports_lost,
        quit_kick_and_idle,
        sessions_off,
    };
    return run_suite("sessions", tests, sizeof tests / sizeof *tests);
}
