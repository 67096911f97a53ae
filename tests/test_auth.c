/* test_auth.c: authentication, authorization and the abuse limits against
 * the real msgd: AUTH and its failures, anonymous mode, the acl, the users
 * file re-read by SIGHUP, a flood of failing AUTHs beside live routing,
 * hello_timeout, max_connections_per_ip, and rate_limit's back-pressure.
 * The users file's hashes are made here with libsodium (at its lowest
 * cost, so that the tests run fast).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "harness.h"

static void hash(const char *pw, char *out)
{
    ck_assert_int_eq(crypto_pwhash_str(out, pw, strlen(pw),
                                       crypto_pwhash_OPSLIMIT_MIN,
                                       crypto_pwhash_MEMLIMIT_MIN),
                     0);
}

/* Writes dir/users with name:password pairs (NULL-terminated). */
static void write_users(const char *dir, const char *const *pairs)
{
    char path[512], h[crypto_pwhash_STRBYTES];
    snprintf(path, sizeof path, "%s/users", dir);
    char tmp[520];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    FILE *f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "# test users\n");
    for (size_t i = 0; pairs[i]; i += 2) {
        hash(pairs[i + 1], h);
        fprintf(f, "%s:%s\n", pairs[i], h);
    }
    fclose(f);
    ck_assert_int_eq(rename(tmp, path), 0);
}

static const char *const alice_bob[] = {"alice", "secret1", "bob", "pass word",
                                        NULL};

/* msgd with an auth group over dir/users (written first). */
static void start_auth(struct msgd_proc *d, const char *auth_extra,
                       const char *extra)
{
    char conf[4096];
    snprintf(conf, sizeof conf, "auth = { users_file = \"users\"; %s };\n%s",
             auth_extra ? auth_extra : "", extra ? extra : "");
    msgd_write_conf(d, conf);
    write_users(d->dir, alice_bob); /* beside the config */
    msgd_start_written(d);
}

static void expect_secret_nowhere(const struct msgd_proc *d)
{
    ck_assert(!file_contains(d->client_log, "secret1"));
    ck_assert(!file_contains(d->server_log, "secret1"));
    ck_assert(!file_contains(d->client_log, "pass word"));
}

START_TEST(auth_then_hello)
{
    struct msgd_proc d;
    start_auth(&d, NULL, NULL);
    struct tc *c = tc_open(d.port);
    tc_sendf(c, "HELLO alice\n");
    tc_expect(c, "ERR auth-required");
    tc_sendf(c, "AUTH alice wrong\n");
    tc_expect(c, "ERR auth-failed");
    tc_sendf(c, "AUTH nobody secret1\n"); /* same reply for no such user */
    tc_expect(c, "ERR auth-failed");
    tc_sendf(c, "AUTH alice secret1\nHELLO alice\n");
    tc_expect(c, "OK auth alice");
    const char *ok = tc_line(c, 5000);
    ck_assert_ptr_nonnull(ok);
    ck_assert(strncmp(ok, "OK alice ", 9) == 0);
    tc_sendf(c, "AUTH alice secret1\n");
    tc_expect(c, "ERR already-registered");

    /* A password with a space, and AUTH twice before HELLO. */
    struct tc *b = tc_open(d.port);
    tc_sendf(b, "AUTH bob pass word\nAUTH bob pass word\n");
    tc_expect(b, "OK auth bob");
    tc_expect(b, "ERR bad-command");
    tc_sendf(b, "AUTH bob\n");
    tc_expect(b, "ERR bad-command");

    ck_assert(log_wait(d.client_log, "auth", "outcome", "ok", 3000));
    ck_assert_int_eq(
        log_count(d.client_log, "auth", "reason", "wrong password"), 1);
    ck_assert_int_eq(log_count(d.client_log, "auth", "reason", "no such user"),
                     1);
    char out[8192];
    const char *ls[] = {msgctl_path(), "-s",   d.admin_socket,
                        "--json",      "list", NULL};
    ck_assert_int_eq(prog_run(ls, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "\"user\":\"alice\"") != NULL, "got: %s", out);
    expect_secret_nowhere(&d);
    tc_close(b);
    tc_close(c);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(max_failures_closes)
{
    struct msgd_proc d;
    start_auth(&d, "max_failures = 2;", NULL);
    struct tc *c = tc_open(d.port);
    tc_sendf(c, "AUTH alice a\n");
    tc_expect(c, "ERR auth-failed");
    tc_sendf(c, "AUTH alice b\n");
    tc_expect(c, "BYE auth-failed");
    ck_assert(tc_eof(c, 5000));
    tc_close(c);
    ck_assert(
        log_wait(d.client_log, "disconnect", "reason", "auth-failed", 3000));

    /* A line of a megabyte is a protocol error, never a secret kept. */
    struct tc *big = tc_open(d.port);
    size_t n = 1 << 20;
    char *line = malloc(n + 1);
    memcpy(line, "AUTH alice ", 11);
    memset(line + 11, 'x', n - 11);
    line[n] = '\n';
    tc_send(big, line, n + 1);
    free(line);
    const char *bye = tc_line(big, 5000);
    ck_assert_ptr_nonnull(bye);
    ck_assert_str_eq(bye, "ERR line-too-long");
    tc_expect(big, "BYE protocol-error");
    tc_close(big);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(anonymous_nodes_served)
{
    struct msgd_proc d;
    start_auth(&d, "anonymous = true;", NULL);
    struct tc *c = tc_hello(d.port, "guest");
    struct tc *a = tc_open(d.port);
    tc_sendf(a, "AUTH alice secret1\nHELLO alice\n");
    tc_expect(a, "OK auth alice");
    ck_assert_ptr_nonnull(tc_line(a, 5000));
    tc_sendf(c, "SEND alice 2\nhi\n");
    tc_expect_msg(a, "guest", "alice", "hi", 2);
    tc_close(a);
    tc_close(c);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* The acl: ids, send and bcast by user, $user, first match, nothing for
 * a user no rule names; replace by the same user only. */
START_TEST(acl_rules)
{
    struct msgd_proc d;
    start_auth(
        &d, "anonymous = true;",
        "duplicate_id = \"replace\";\n"
        "acl = (\n"
        "  { user = \"alice\"; ids = [ \"$user\", \"alice-*\","
        " \"shared\" ]; send = [ \"*\" ]; bcast = true; },\n"
        "  { user = \"b*\"; ids = [ \"$user\", \"shared\" ];"
        " send = \"alice\"; },\n"
        "  { user = \"bob\"; ids = \"*\"; send = \"*\"; bcast = true; }\n"
        ");\n");
    struct tc *a = tc_open(d.port);
    tc_sendf(a, "AUTH alice secret1\nHELLO bob\n");
    tc_expect(a, "OK auth alice");
    tc_expect(a, "ERR forbidden HELLO bob");
    tc_sendf(a, "HELLO alice-2\n");
    ck_assert(strncmp(tc_line(a, 5000), "OK alice-2 ", 11) == 0);

    struct tc *b = tc_open(d.port);
    tc_sendf(b, "AUTH bob pass word\nHELLO bob\n");
    tc_expect(b, "OK auth bob");
    ck_assert(strncmp(tc_line(b, 5000), "OK bob ", 7) == 0);
    /* The first rule for bob is b*: alice only, no BCAST. */
    tc_sendf(b, "SEND alice-2 2\nno\nBCAST 2\nno\nSEND alice 2\nok\n");
    tc_expect(b, "ERR forbidden SEND alice-2");
    tc_expect(b, "ERR forbidden BCAST *");
    tc_expect(b, "ERR unknown-node alice");
    tc_sendf(a, "BCAST 3\nall\n");
    tc_expect_msg(b, "alice-2", "*", "all", 3);

    /* A user no rule names (anonymous: the empty name) may only PING. */
    struct tc *g = tc_open(d.port);
    tc_sendf(g, "HELLO guest\nPING p\n");
    tc_expect(g, "ERR forbidden HELLO guest");
    tc_expect(g, "PONG p");

    /* Replace is for alice's own connections. */
    struct tc *a2 = tc_open(d.port);
    tc_sendf(a2, "AUTH alice secret1\nHELLO alice-2\n");
    tc_expect(a2, "OK auth alice");
    ck_assert(strncmp(tc_line(a2, 5000), "OK alice-2 ", 11) == 0);
    tc_expect(a, "BYE replaced");
    struct tc *b2 = tc_open(d.port);
    tc_sendf(b2, "AUTH bob pass word\nHELLO shared\n");
    tc_expect(b2, "OK auth bob");
    ck_assert(strncmp(tc_line(b2, 5000), "OK shared ", 10) == 0);
    tc_sendf(a2, "HELLO shared\n"); /* registered already: refused */
    tc_expect(a2, "ERR already-registered");
    struct tc *a3 = tc_open(d.port);
    tc_sendf(a3, "AUTH alice secret1\nHELLO shared\n");
    tc_expect(a3, "OK auth alice");
    tc_expect(a3, "ERR id-taken shared"); /* bob's: not alice's to take */
    tc_close(a3);
    ck_assert(log_wait(d.client_log, "forbidden", "command", "BCAST", 3000));
    tc_close(a);
    tc_close(a2);
    tc_close(b);
    tc_close(b2);
    tc_close(g);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* SIGHUP re-reads the users file: removed users go; a broken file keeps
 * the old table, and msgctl reload says why. */
START_TEST(users_file_reloaded)
{
    struct msgd_proc d;
    start_auth(&d, NULL, NULL);
    struct tc *a = tc_open(d.port);
    tc_sendf(a, "AUTH alice secret1\nHELLO alice\n");
    tc_expect(a, "OK auth alice");
    ck_assert_ptr_nonnull(tc_line(a, 5000));
    struct tc *b = tc_open(d.port);
    tc_sendf(b, "AUTH bob pass word\nHELLO bob\n");
    tc_expect(b, "OK auth bob");
    ck_assert_ptr_nonnull(tc_line(b, 5000));

    const char *only_alice[] = {"alice", "secret1", NULL};
    write_users(d.dir, only_alice);
    kill(d.pid, SIGHUP);
    tc_expect(b, "BYE kicked user removed");
    ck_assert(tc_eof(b, 5000));
    tc_sync(a);

    /* Broken: the old table stays. */
    char path[512], out[4096];
    snprintf(path, sizeof path, "%s/users", d.dir);
    FILE *f = fopen(path, "a");
    fputs("carol:not-a-hash\n", f);
    fclose(f);
    const char *rl[] = {msgctl_path(), "-s", d.admin_socket, "reload", NULL};
    ck_assert_int_eq(prog_run(rl, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "users:3: the hash of carol") != NULL, "got: %s",
                  out);
    struct tc *a2 = tc_open(d.port);
    tc_sendf(a2, "AUTH alice secret1\n");
    tc_expect(a2, "OK auth alice");
    /* Removed while running: the old table stays too. */
    unlink(path);
    ck_assert_int_eq(prog_run(rl, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "No such file") != NULL, "got: %s", out);
    tc_sync(a);
    tc_close(a);
    tc_close(a2);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* Files msgd refuses at start, with FILE:LINE. */
START_TEST(bad_files_refused)
{
    struct msgd_proc d;
    char out[4096], path[512];
    msgd_write_conf(&d, "auth = { users_file = \"users\"; };\n");
    snprintf(path, sizeof path, "%s/users", d.dir);
    FILE *f = fopen(path, "w");
    fputs("# ok\nalice\n", f);
    fclose(f);
    const char *t[] = {"msgd", "-t", "-c", d.conf, NULL};
    ck_assert_int_eq(msgd_run(t, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "/users:2: not NAME:HASH") != NULL, "got: %s",
                  out);
    msgd_write_conf(&d, "acl = ( { user = \"*\"; ids = [ \"bot-[a\" ]; } );\n");
    ck_assert_int_eq(msgd_run(t, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "msgd.conf:") != NULL &&
                      strstr(out, "'acl.ids' pattern \"bot-[a\" has a '[' "
                                  "without its ']'") != NULL,
                  "got: %s", out);
    msgd_write_conf(&d, "auth = { anonymous = true; };\n");
    ck_assert_int_eq(msgd_run(t, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "needs users_file") != NULL, "got: %s", out);
}
END_TEST

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Failing AUTHs from many connections: answered, slowed, logged, while
 * two nodes keep routing; memory stays put. */
START_TEST(failing_auth_flood)
{
    struct msgd_proc d;
    start_auth(&d, "anonymous = true; max_failures = 1000;",
               "hello_timeout = 0;\nclient_log_rate = 0;\n");
    struct tc *x = tc_hello(d.port, "x");
    struct tc *y = tc_hello(d.port, "y");
    enum { CONNS = 40, EACH = 5 };
    struct tc *c[CONNS];
    for (int i = 0; i < CONNS; i++) {
        c[i] = tc_open(d.port);
        for (int k = 0; k < EACH; k++)
            tc_sendf(c[i], "AUTH alice guess%d\n", k);
    }
    /* Routing goes on meanwhile. */
    for (int i = 0; i < 200; i++) {
        tc_sendf(x, "SEND y 2\n%02d\n", i % 100);
        char p[16];
        snprintf(p, sizeof p, "%02d", i % 100);
        tc_expect_msg(y, "x", "y", p, 2);
    }
    for (int i = 0; i < CONNS; i++)
        for (int k = 0; k < EACH; k++) {
            const char *l = tc_line(c[i], 60000);
            ck_assert_ptr_nonnull(l);
            ck_assert_str_eq(l, "ERR auth-failed");
        }
    ck_assert(file_contains(d.client_log, "\"delay_ms\":"));
    ck_assert_int_eq(log_count(d.client_log, "auth", "outcome", "failed"),
                     CONNS * EACH);
    for (int i = 0; i < CONNS; i++)
        tc_close(c[i]);
    tc_sync(x);
    tc_close(x);
    tc_close(y);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(hello_timeout_and_per_ip)
{
    struct msgd_proc d;
    msgd_start(&d, "hello_timeout = 0.3;\nmax_connections_per_ip = 3;\n");
    struct tc *silent = tc_open(d.port);
    struct tc *n1 = tc_hello(d.port, "n1");
    struct tc *n2 = tc_hello(d.port, "n2");
    struct tc *over = tc_open(d.port);
    tc_expect(over, "ERR server-full");
    ck_assert(tc_eof(over, 5000));
    tc_close(over);
    ck_assert(log_wait(d.client_log, "reject", "code", "per-ip-limit", 3000));
    tc_expect(silent, "BYE idle-timeout");
    ck_assert(tc_eof(silent, 5000));
    tc_close(silent);
    /* Registered nodes are not timed out by hello_timeout. */
    usleep(500000);
    tc_sync(n1);
    /* A place freed is a place taken. */
    struct tc *n3 = tc_hello(d.port, "n3");
    tc_close(n1);
    tc_close(n2);
    tc_close(n3);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* 5,000 messages through a limit of 1,000/s (burst 1 s): all arrive, in
 * order, after at least 4 s, while a node under its limit goes at once. */
START_TEST(rate_limit_pushes_back)
{
    struct msgd_proc d;
    msgd_start(&d, "rate_limit = { messages = 1000; burst = 1.0; };\n"
                   "max_output_buffer = 67108864;\n");
    struct tc *fast = tc_hello(d.port, "fast");
    struct tc *calm = tc_hello(d.port, "calm");
    struct tc *sink = tc_hello(d.port, "sink");
    long t0 = now_ms();
    enum { N = 5000 };
    char *all = malloc(N * 24), *p = all;
    for (int i = 0; i < N; i++)
        p += sprintf(p, "SEND sink 4\n%04d\n", i);
    tc_send(fast, all, (size_t)(p - all));
    free(all);
    /* The calm node is under its own limit: its message overtakes the
     * fast one's backlog. */
    tc_sendf(calm, "SEND sink 4\ncalm\n");
    int seen_calm = 0, next = 0;
    while (next < N || !seen_calm) {
        const char *l = tc_line(sink, 20000);
        ck_assert_ptr_nonnull(l);
        if (strcmp(l, "MSG calm sink 4") == 0) {
            tc_expect(sink, "calm");
            ck_assert_msg(next < N / 2, "calm arrived after %d of fast's",
                          next);
            seen_calm = 1;
            continue;
        }
        ck_assert_str_eq(l, "MSG fast sink 4");
        char want[16];
        snprintf(want, sizeof want, "%04d", next++);
        tc_expect(sink, want);
    }
    long took = now_ms() - t0;
    ck_assert_msg(took >= 3900, "5000 messages in %ld ms", took);
    tc_sync(fast);
    tc_close(fast);
    tc_close(calm);
    tc_close(sink);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 99;
    const TTest *tests[] = {
        auth_then_hello,    max_failures_closes,      anonymous_nodes_served,
        acl_rules,          users_file_reloaded,      bad_files_refused,
        failing_auth_flood, hello_timeout_and_per_ip, rate_limit_pushes_back,
    };
    return run_suite("auth", tests, sizeof tests / sizeof *tests);
}
