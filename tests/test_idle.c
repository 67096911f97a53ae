/* test_idle.c: integration tests of the idle policy (msgd-protocol(7)):
 * eviction no earlier than idle_timeout and no later than one second
 * after it, PING keeps a node alive, partial bytes do not, 0 disables it,
 * unregistered connections are covered, and a reload (SIGHUP) that lowers
 * the value spares the nodes told the old one while a raise applies to
 * everyone at once.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct msgd_proc d;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Waits for BYE idle-timeout and returns the seconds since t0. */
static double evicted_after(struct tc *c, double t0)
{
    const char *l = tc_line(c, 10000);
    double t = now_s() - t0;
    ck_assert_msg(l != NULL, "no BYE within 10 s");
    ck_assert_str_eq(l, "BYE idle-timeout");
    ck_assert(tc_eof(c, 5000));
    return t;
}

START_TEST(idle_node_is_evicted_in_window)
{
    msgd_start(&d, "idle_timeout = 1;");
    struct tc *a = tc_hello(d.port, "a");
    double t0 = now_s(); /* the OK came after the HELLO was handled */
    double t = evicted_after(a, t0);
    ck_assert_msg(t >= 0.95 && t <= 2.1, "evicted after %.3f s", t);
    ck_assert(
        log_wait(d.client_log, "disconnect", "reason", "idle-timeout", 5000));
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(fractional_timeout)
{
    msgd_start(&d, "idle_timeout = 0.4;");
    struct tc *a = tc_open(d.port);
    tc_sendf(a, "HELLO a\n");
    tc_expect(a, "OK a idle=0.4 max=65536");
    double t0 = now_s();
    double t = evicted_after(a, t0);
    ck_assert_msg(t >= 0.35 && t <= 1.5, "evicted after %.3f s", t);
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(ping_keeps_alive)
{
    msgd_start(&d, "idle_timeout = 1;");
    struct tc *a = tc_hello(d.port, "a");
    struct tc *idle = tc_hello(d.port, "idle");
    double t0 = now_s();
    while (now_s() - t0 < 3.0) {
        sleep_s(0.3);
        tc_sendf(a, "PING k\n");
        tc_expect(a, "PONG k");
    }
    /* the silent one went long ago */
    tc_expect(idle, "BYE idle-timeout");
    tc_sendf(a, "WHO\n");
    tc_expect(a, "NODES 1");
    tc_expect(a, "NODE a");
    tc_close(a);
    tc_close(idle);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(partial_command_is_not_activity)
{
    msgd_start(&d, "idle_timeout = 1;");
    struct tc *a = tc_hello(d.port, "a");
    double t0 = now_s();
    /* A byte every 0.2 s of a header that never ends. */
    const char *dribble = "PING never-finished-token";
    for (int i = 0; dribble[i] && now_s() - t0 < 1.6; i++) {
        tc_send(a, dribble + i, 1);
        sleep_s(0.2);
    }
    double t = evicted_after(a, t0);
    ck_assert_msg(t <= 2.1, "evicted after %.3f s", t);
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(unregistered_connection_is_evicted)
{
    msgd_start(&d, "idle_timeout = 0.5;");
    struct tc *u = tc_open(d.port);
    double t0 = now_s();
    double t = evicted_after(u, t0);
    ck_assert_msg(t >= 0.45 && t <= 1.6, "evicted after %.3f s", t);
    ck_assert(log_wait(d.client_log, "disconnect", "node", NULL, 5000));
    tc_close(u);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(zero_never_evicts)
{
    msgd_start(&d, "idle_timeout = 0;");
    struct tc *a = tc_hello(d.port, "a");
    ck_assert_ptr_null(tc_line(a, 2500));
    tc_sync(a);
    ck_assert(!log_wait(d.client_log, "disconnect", NULL, NULL, 0));
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* Rewrites idle_timeout in the config and reloads by SIGHUP. */
static void reload_idle(const char *from, const char *to)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "sed -i 's/idle_timeout = %s;/idle_timeout = %s;/' '%s'", from, to,
             d.conf);
    ck_assert_int_eq(system(cmd), 0);
    kill(d.pid, SIGHUP);
    ck_assert(log_wait(d.server_log, "reload", "result", "ok", 5000));
}

START_TEST(reload_lowering_keeps_the_announced_value)
{
    msgd_start(&d, "idle_timeout = 3600;");
    struct tc *a = tc_hello(d.port, "a");
    struct tc *u = tc_open(d.port); /* never registered: told nothing */
    double t0 = now_s();
    reload_idle("3600", "1");
    /* The unregistered connection follows the new value at once ... */
    double t = evicted_after(u, t0);
    ck_assert_msg(t <= 2.5, "evicted after %.3f s", t);
    /* ... a node registering now is told it and held to it ... */
    struct tc *b = tc_open(d.port);
    tc_sendf(b, "HELLO b\n");
    tc_expect(b, "OK b idle=1 max=65536");
    t0 = now_s();
    t = evicted_after(b, t0);
    ck_assert_msg(t >= 0.95 && t <= 2.1, "evicted after %.3f s", t);
    /* ... and the node told idle=3600 is still there. */
    ck_assert_ptr_null(tc_line(a, 500));
    tc_sync(a);
    ck_assert_int_eq(log_count(d.client_log, "disconnect", "node", "a"), 0);
    tc_close(a);
    tc_close(b);
    tc_close(u);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(reload_raising_applies_at_once)
{
    msgd_start(&d, "idle_timeout = 2;");
    struct tc *a = tc_hello(d.port, "a");
    reload_idle("2", "3600");
    /* Told idle=2, kept beyond it: a longer timeout is never a surprise. */
    ck_assert_ptr_null(tc_line(a, 3000));
    tc_sync(a);
    ck_assert(!log_wait(d.client_log, "disconnect", NULL, NULL, 0));
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        idle_node_is_evicted_in_window,
        fractional_timeout,
        ping_keeps_alive,
        partial_command_is_not_activity,
        unregistered_connection_is_evicted,
        zero_never_evicts,
        reload_lowering_keeps_the_announced_value,
        reload_raising_applies_at_once,
    };
    return run_suite("idle", tests, sizeof tests / sizeof *tests);
}
