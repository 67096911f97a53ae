/* test_hostile.c: clients that misbehave and resources that run out.
 * Each hostile client gets what msgd-protocol(7) names; afterwards the
 * daemon's descriptors and memory are back where they were, and it still
 * routes.  Also: running out of descriptors (EMFILE) backs off instead of
 * spinning, and a log directory removed under a running daemon: made
 * again by itself, or its lines counted as lost while it cannot be.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

static struct msgd_proc d;

static int fd_count(void)
{
    char path[64];
    int n = 0;
    snprintf(path, sizeof path, "/proc/%d/fd", (int)d.pid);
    DIR *dir = opendir(path);
    ck_assert_ptr_nonnull(dir);
    for (struct dirent *e; (e = readdir(dir));)
        n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

static double cpu_s(void)
{
    char path[64];
    unsigned long ut = 0, st = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)d.pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    /* fields 14 and 15, after the command in parentheses */
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    ck_assert(sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                     &st) == 2);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void ms_sleep(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Memory may settle a little above where it started (the chunk pool keeps
 * 1 MiB warm); anything per-connection left behind would show far more. */
static void rss_back_to(long base)
{
#if defined(__SANITIZE_ADDRESS__)
    /* The sanitizer holds freed memory in quarantine on purpose. */
    (void)base;
    return;
#endif
    if (msgd_under_wrapper())
        return; /* valgrind's own memory says nothing about msgd's */
    long rss = 0;
    for (int i = 0; i < 50; i++) {
        rss = msgd_rss_kb(&d);
        if (rss <= base + 2048)
            return;
        ms_sleep(100);
    }
    ck_abort_msg("RSS %ld kB, baseline %ld kB", rss, base);
}

static void still_routes(void)
{
    struct tc *a = tc_hello(d.port, "after-a");
    struct tc *b = tc_hello(d.port, "after-b");
    tc_sendf(a, "SEND after-b 2\nok\n");
    tc_expect_msg(b, "after-a", "after-b", "ok", 2);
    tc_close(a);
    tc_close(b);
}

START_TEST(never_reads_while_flooded)
{
    msgd_start(&d, "max_output_buffer = 1048576;");
    int fds = fd_count();
    long base = msgd_rss_kb(&d);
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_open(d.port);
    int small = 4096;
    setsockopt(b->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    tc_sendf(b, "HELLO b\n");
    ms_sleep(50);
    static char frame[8192 + 32];
    int hl = sprintf(frame, "SEND b 8192\n");
    memset(frame + hl, 'z', 8192);
    frame[hl + 8192] = '\n';
    for (int i = 0; i < 4000; i++) /* 32 MiB at a node that never reads */
        tc_send(a, frame, (size_t)hl + 8193);
    ck_assert(
        log_wait(d.client_log, "disconnect", "reason", "slow-consumer", 10000));
    tc_close(b);
    tc_close(a);
    ms_sleep(300);
    ck_assert_int_eq(fd_count(), fds);
    rss_back_to(base);
    still_routes();
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* A registered node whose receive buffer is small from the handshake on,
 * so that the server's writes to it stop at any byte, mid-frame too. */
static struct tc *small_reader(const char *id)
{
    struct tc *c = malloc(sizeof *c);
    ck_assert_ptr_nonnull(c);
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(c->fd, 0);
    int small = 4096;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)d.port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    tc_sendf(c, "HELLO %s\n", id);
    const char *l = tc_line(c, 5000);
    ck_assert_ptr_nonnull(l);
    ck_assert_msg(strncmp(l, "OK ", 3) == 0, "HELLO %s got '%s'", id, l);
    ck_assert_uint_eq(c->len, 0); /* what follows is read from fd */
    return c;
}

#define CUT_PAYLOAD 60000

static char cut_byte(size_t k, size_t i)
{
    return (char)('a' + (k * 7 + i) % 26);
}

/* Reads everything c gets until EOF and parses it as a client reading by
 * length does: only whole "MSG from to n" frames with the payloads sent,
 * in order, then exactly one BYE slow-consumer line, then EOF. */
static void expect_whole_frames_then_bye(struct tc *c, const char *from,
                                         const char *to)
{
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        ck_assert_msg(poll(&pfd, 1, 10000) == 1, "no EOF from the server");
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        ssize_t n = read(c->fd, buf + len, cap - len);
        ck_assert_int_ge(n, 0);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    char want[128];
    int wl =
        snprintf(want, sizeof want, "MSG %s %s %d\n", from, to, CUT_PAYLOAD);
    size_t off = 0, k = 0;
    for (;;) {
        char *lf = memchr(buf + off, '\n', len - off);
        ck_assert_msg(lf != NULL, "%zu frames, then %zu bytes without LF", k,
                      len - off);
        size_t line = (size_t)(lf - (buf + off)) + 1;
        if (line == sizeof "BYE slow-consumer" &&
            memcmp(buf + off, "BYE slow-consumer\n", line) == 0) {
            ck_assert_msg(off + line == len, "%zu bytes after the BYE",
                          len - off - line);
            break;
        }
        ck_assert_msg(line == (size_t)wl && memcmp(buf + off, want, line) == 0,
                      "frame %zu: '%.*s'", k, (int)(line > 60 ? 60 : line),
                      buf + off);
        off += line;
        ck_assert_msg(len - off >= CUT_PAYLOAD + 1,
                      "frame %zu: EOF within its payload", k);
        /* Checked without ck_assert per byte, which writes each time. */
        size_t bad = 0;
        while (bad < CUT_PAYLOAD && buf[off + bad] == cut_byte(k, bad))
            bad++;
        ck_assert_msg(bad == CUT_PAYLOAD, "frame %zu: byte %zu of its payload",
                      k, bad);
        off += CUT_PAYLOAD;
        ck_assert_msg(buf[off] == '\n', "frame %zu: no LF after it", k);
        off++;
        k++;
    }
    ck_assert_uint_gt(k, 0);
    free(buf);
}

/* A receiver cut as a slow consumer has had the first bytes of a frame
 * written when it is cut: the rest of that frame goes before the BYE, so a
 * client reading by length never takes the BYE for payload.  Direct
 * messages (copied) and broadcasts (shared frames) both. */
START_TEST(slow_consumer_gets_whole_frames)
{
    msgd_start(&d, "max_output_buffer = 262144;");
    struct tc *a = tc_hello(d.port, "a");
    static char frame[CUT_PAYLOAD + 64];
    for (int round = 0; round < 4; round++) {
        int bcast = round % 2;
        struct tc *r = small_reader("r");
        struct tc *x = bcast ? small_reader("x") : NULL;
        /* Until the receivers are cut, which is soon after the kernel's
         * buffers and max_output_buffer are full; they read at once, well
         * within the time the server gives a closing connection. */
        int cut =
            log_count(d.client_log, "disconnect", "reason", "slow-consumer") +
            (bcast ? 2 : 1);
        for (size_t k = 0; log_count(d.client_log, "disconnect", "reason",
                                     "slow-consumer") < cut;
             k++) {
            ck_assert_uint_lt(k, 1000);
            int hl = bcast ? sprintf(frame, "BCAST %d\n", CUT_PAYLOAD)
                           : sprintf(frame, "SEND r %d\n", CUT_PAYLOAD);
            for (size_t i = 0; i < CUT_PAYLOAD; i++)
                frame[hl + i] = cut_byte(k, i);
            frame[hl + CUT_PAYLOAD] = '\n';
            tc_send(a, frame, (size_t)hl + CUT_PAYLOAD + 1);
        }
        expect_whole_frames_then_bye(r, "a", bcast ? "*" : "r");
        if (x)
            expect_whole_frames_then_bye(x, "a", "*");
        tc_close(r);
        tc_close(x);
        /* a's ERR unknown-node lines for the SENDs after the cut */
        tc_sendf(a, "PING round%d\n", round);
        char pong[32];
        snprintf(pong, sizeof pong, "PONG round%d", round);
        for (;;) {
            const char *l = tc_line(a, 5000);
            ck_assert_ptr_nonnull(l);
            if (strcmp(l, pong) == 0)
                break;
            ck_assert_str_eq(l, "ERR unknown-node r");
        }
    }
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(megabyte_header_without_lf)
{
    msgd_start(&d, NULL);
    long base = msgd_rss_kb(&d);
    struct tc *a = tc_open(d.port);
    static char junk[1 << 20];
    memset(junk, 'A', sizeof junk);
    /* The server answers after 1024 bytes and discards the rest. */
    if (fork() == 0) {
        (void)!write(a->fd, junk, sizeof junk);
        _exit(0);
    }
    tc_expect(a, "ERR line-too-long");
    tc_expect(a, "BYE protocol-error");
    ck_assert(tc_eof(a, 5000));
    tc_close(a);
    rss_back_to(base);
    still_routes();
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(length_of_two_to_the_63)
{
    msgd_start(&d, NULL);
    struct tc *a = tc_hello(d.port, "a");
    tc_sendf(a, "SEND a 9223372036854775808\n");
    tc_expect(a, "ERR too-large");
    tc_expect(a, "BYE protocol-error");
    ck_assert(tc_eof(a, 5000));
    tc_close(a);
    still_routes();
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(a_byte_a_second)
{
    msgd_start(&d, "idle_timeout = 2;");
    struct tc *a = tc_hello(d.port, "a");
    const char *cmd = "PING slowly-but-surely\n";
    for (int i = 0; i < 3; i++) {
        tc_send(a, cmd + i, 1);
        ms_sleep(1000);
    }
    tc_expect(a, "BYE idle-timeout");
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(connect_and_close_ten_thousand_times)
{
    msgd_start(&d, NULL);
    int fds = fd_count();
    long base = msgd_rss_kb(&d);
    for (int i = 0; i < 10000; i++) {
        struct tc *c = tc_open(d.port);
        if (i % 3 == 0)
            tc_sendf(c, "HELLO churn\nQUIT\n");
        tc_close(c);
    }
    for (int i = 0; i < 100 && fd_count() != fds; i++)
        ms_sleep(50);
    ck_assert_int_eq(fd_count(), fds);
    rss_back_to(base);
    still_routes();
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(five_thousand_silent_clients)
{
    enum { N = 5000 };
    msgd_start(&d, "max_nodes = 100000;");
    int fds = fd_count();
    long base = msgd_rss_kb(&d);
    static struct tc *c[N];
    for (int i = 0; i < N; i++)
        c[i] = tc_open(d.port);
    for (int i = 0; i < 100 && fd_count() < fds + N; i++)
        ms_sleep(50);
    ck_assert_int_eq(fd_count(), fds + N);
    still_routes(); /* they cost the others nothing */
    for (int i = 0; i < N; i++)
        tc_close(c[i]);
    for (int i = 0; i < 100 && fd_count() != fds; i++)
        ms_sleep(50);
    ck_assert_int_eq(fd_count(), fds);
    rss_back_to(base);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(out_of_descriptors_backs_off)
{
    msgd_start(&d, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "prlimit --pid %d --nofile=%d:%d", (int)d.pid,
             fd_count() + 20, fd_count() + 20);
    if (system(cmd) != 0)
        return; /* no prlimit here */
    enum { N = 60 };
    struct tc *c[N];
    for (int i = 0; i < N; i++)
        c[i] = tc_open(d.port); /* the kernel queues what msgd cannot take */
    ck_assert(log_wait(d.server_log, "warning", "msg",
                       "accept paused: out of descriptors", 5000));
    double t0 = cpu_s();
    ms_sleep(1000);
    double spent = cpu_s() - t0;
    ck_assert_msg(spent < 0.3, "spun: %.2f s of CPU in 1 s", spent);
    /* logged once, not at every retry */
    ck_assert_int_eq(log_count(d.server_log, "warning", "msg",
                               "accept paused: out of descriptors"),
                     1);
    ck_assert(!log_wait(d.server_log, "warning", "msg", "accepting again", 0));
    /* Free descriptors: the waiting ones get in, and it is said once. */
    for (int i = 0; i < 50; i++)
        tc_close(c[i]);
    tc_sendf(c[N - 1], "HELLO last\n");
    const char *l = tc_line(c[N - 1], 5000);
    ck_assert_ptr_nonnull(l);
    ck_assert(strncmp(l, "OK last", 7) == 0);
    ck_assert(
        log_wait(d.server_log, "warning", "msg", "accepting again", 5000));
    for (int i = 50; i < N; i++)
        tc_close(c[i]);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* Near the descriptor limit with a client waiting on the admin socket:
 * msgd backs off as it does for TCP, instead of retrying accept at every
 * pass of the loop. */
START_TEST(admin_out_of_descriptors_backs_off)
{
    msgd_start(&d, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "prlimit --pid %d --nofile=%d:%d", (int)d.pid,
             fd_count() + 10, fd_count() + 10);
    if (system(cmd) != 0)
        return; /* no prlimit here */
    enum { N = 30 };
    struct tc *c[N];
    for (int i = 0; i < N; i++)
        c[i] = tc_open(d.port);
    ck_assert(log_wait(d.server_log, "warning", "msg",
                       "accept paused: out of descriptors", 5000));
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    ck_assert_uint_lt(strlen(d.admin_socket), sizeof sa.sun_path);
    memcpy(sa.sun_path, d.admin_socket, strlen(d.admin_socket) + 1);
    ck_assert_int_eq(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert(log_wait(d.server_log, "warning", "msg",
                       "admin accept paused: out of descriptors", 5000));
    double t0 = cpu_s();
    ms_sleep(1000);
    double spent = cpu_s() - t0;
    ck_assert_msg(spent < 0.3, "spun: %.2f s of CPU in 1 s", spent);
    ck_assert_int_eq(log_count(d.server_log, "warning", "msg",
                               "admin accept paused: out of descriptors"),
                     1);
    /* Descriptors back: the waiting admin client is served. */
    for (int i = 0; i < N; i++)
        tc_close(c[i]);
    ck_assert_int_eq(write(s, "msgd-admin 1 stats\n", 19), 19);
    char buf[4096];
    struct timeval tv = {10, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = read(s, buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_msg(strstr(buf, "\"ok\":true"), "%s", buf);
    close(s);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(log_directory_removed)
{
    msgd_start(&d, NULL);
    struct tc *a = tc_hello(d.port, "a");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s/log", d.dir);
    ck_assert_int_eq(system(cmd), 0);
    struct tc *b = tc_hello(d.port, "b"); /* routing goes on */
    tc_sendf(a, "SEND b 1\nx\n");
    tc_expect_msg(b, "a", "b", "x", 1);
    kill(d.pid, SIGUSR1); /* reopen makes the directory again */
    ck_assert(log_wait(d.server_log, "log-reopen", "result", "ok", 5000));
    struct tc *c = tc_hello(d.port, "c");
    ck_assert(log_wait(d.client_log, "register", "node", "c", 5000));
    tc_close(a);
    tc_close(b);
    tc_close(c);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* client_log lines of ev written, plus those the summaries say were held
 * back: every event is accounted for. */
static long accounted(const char *ev)
{
    return log_count(d.client_log, ev, NULL, NULL) +
           log_sum(d.client_log, "suppressed", "of", ev, "lines");
}

static long stat_of(const char *key)
{
    char out[8192];
    const char *argv[] = {msgctl_path(), "-s", d.admin_socket, "--json",
                          "stats", NULL};
    ck_assert_int_eq(prog_run(argv, out, sizeof out), 0);
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(j);
    long v = (long)json_integer_value(json_object_get(j, key));
    json_decref(j);
    return v;
}

/* One local client churning connections and bad HELLOs (what a fuzzer
 * does) gets a bounded share of client_log; the rest is counted, said in
 * "suppressed" lines, and in stats; nothing is lost without a trace. */
START_TEST(one_address_cannot_fill_client_log)
{
    enum { CHURN = 3000, BAD = 20000 };
    msgd_start(&d, "client_log_rate = 20;");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < CHURN; i++) {
        struct tc *c = tc_open(d.port);
        tc_sendf(c, "HELLO !\n");
        tc_close(c);
    }
    /* One connection repeating a refused HELLO. */
    struct tc *c = tc_open(d.port);
    static char bad[BAD * 8];
    for (int i = 0; i < BAD; i++)
        memcpy(bad + i * 8, "HELLO !\n", 8);
    tc_send(c, bad, sizeof bad);
    for (int i = 0; i < BAD; i++) {
        const char *l = tc_line(c, 10000);
        ck_assert_ptr_nonnull(l);
        ck_assert_str_eq(l, "ERR bad-id");
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert(log_wait(d.client_log, "suppressed", "of", "reject", 5000));
    long held = stat_of("log_lines_suppressed");
    ck_assert_int_gt(held, 0);
    tc_close(c);
    still_routes();
    ck_assert_int_eq(msgd_stop(&d), 0); /* writes what is still pending */

    /* Written: at most the burst (5 s of rate) and the rate for the time
     * it took, per event, plus a summary a second. */
    long cap = (long)(20 * (5 + secs + 3));
    ck_assert_int_le(log_count(d.client_log, "reject", NULL, NULL), cap);
    ck_assert_int_le(log_count(d.client_log, "connect", NULL, NULL), cap + 5);
    ck_assert_int_lt(log_count(d.client_log, NULL, NULL, NULL),
                     5 * cap + 4 * (long)(secs + 3));
    /* Accounted: 1 + CHURN + still_routes' 2 nodes connected, ... */
    ck_assert_int_eq(accounted("reject"), CHURN + BAD);
    ck_assert_int_eq(accounted("connect"), CHURN + 1 + 2);
    ck_assert_int_eq(accounted("disconnect"), CHURN + 1 + 2);
    ck_assert_int_ge(log_sum(d.client_log, "suppressed", NULL, NULL, "lines"),
                     held);
    log_check_all(d.client_log);
}
END_TEST

/* client_log_rate = 0 writes every line, as before. */
START_TEST(client_log_rate_zero_writes_all)
{
    msgd_start(&d, "client_log_rate = 0;");
    for (int i = 0; i < 500; i++) {
        struct tc *c = tc_open(d.port);
        tc_sendf(c, "HELLO !\n");
        ck_assert_str_eq(tc_line(c, 5000), "ERR bad-id");
        tc_close(c);
    }
    ck_assert_int_eq(stat_of("log_lines_suppressed"), 0);
    ck_assert_int_eq(msgd_stop(&d), 0);
    ck_assert_int_eq(log_count(d.client_log, "reject", NULL, NULL), 500);
    ck_assert_int_eq(log_count(d.client_log, "suppressed", NULL, NULL), 0);
}
END_TEST

/* log_lines_lost from msgctl --json stats. */
static long lines_lost(void)
{
    char out[8192];
    const char *argv[] = {msgctl_path(),  "--json", "-s",
                          d.admin_socket, "stats",  NULL};
    ck_assert_int_eq(prog_run(argv, out, sizeof out), 0);
    const char *p = strstr(out, "\"log_lines_lost\"");
    ck_assert_msg(p != NULL, "no log_lines_lost in: %s", out);
    p = strchr(p, ':');
    ck_assert_ptr_nonnull(p);
    return strtol(p + 1, NULL, 10);
}

/* Registers node "<prefix><i>" for i = 0, 1, ... every 100 ms until the
 * client log shows one, for at most 10 s; returns 1 if it did. */
static int register_until_logged(const char *prefix)
{
    for (int i = 0; i < 100; i++) {
        char id[32];
        snprintf(id, sizeof id, "%s%d", prefix, i);
        struct tc *c = tc_hello(d.port, id);
        int seen = log_wait(d.client_log, "register", "node", id, 100);
        tc_close(c);
        if (seen)
            return 1;
    }
    return 0;
}

/* No SIGUSR1 this time: the removal is noticed, the directory and file
 * made again at their path, and that is said in server_log. */
START_TEST(log_directory_removed_is_made_again)
{
    msgd_start(&d, NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s/log", d.dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert(register_until_logged("n"));
    ck_assert(log_wait(d.server_log, "warning", "stream", "client_log", 5000));
    ck_assert(file_contains(d.server_log, "log file was removed"));
    log_check_all(d.client_log);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* Where the directory cannot be made again (a file is in its place), the
 * lines are dropped and counted, not written into the removed file; once
 * the path is free, the file comes back and the loss is reported. */
START_TEST(log_directory_blocked_counts_lost_lines)
{
    msgd_start(&d, NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s/log && touch %s/log", d.dir, d.dir);
    ck_assert_int_eq(system(cmd), 0);
    long lost = 0;
    for (int i = 0; i < 100 && lost == 0; i++) {
        char id[32];
        snprintf(id, sizeof id, "x%d", i);
        tc_close(tc_hello(d.port, id));
        usleep(100 * 1000);
        lost = lines_lost();
    }
    ck_assert_msg(lost > 0, "log_lines_lost stayed 0");
    snprintf(cmd, sizeof cmd, "rm -f %s/log", d.dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert(register_until_logged("y"));
    ck_assert(
        log_wait(d.server_log, "warning", "msg", "log write failed", 5000));
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        never_reads_while_flooded,
        slow_consumer_gets_whole_frames,
        megabyte_header_without_lf,
        length_of_two_to_the_63,
        a_byte_a_second,
        connect_and_close_ten_thousand_times,
        five_thousand_silent_clients,
        out_of_descriptors_backs_off,
        admin_out_of_descriptors_backs_off,
        log_directory_removed,
        one_address_cannot_fill_client_log,
        client_log_rate_zero_writes_all,

        log_directory_removed_is_made_again,
        log_directory_blocked_counts_lost_lines,
    };
    return run_suite("hostile", tests, sizeof tests / sizeof *tests);
}
