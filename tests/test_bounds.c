/* test_bounds.c: the daemon's memory bounds under load, read from
 * /proc/PID/status (VmHWM, VmRSS) rather than timed: a broadcast flood at
 * receivers that never read stays within max_output_total and the largest
 * queues go first; many senders at one node that reads do not get it cut;
 * connections that hold large partial frames before HELLO are cut at
 * max_unregistered_input; and partial frames past max_input_total stop
 * the reading of others instead of taking more memory.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct msgd_proc d;

static long status_kb(const char *key)
{
    char path[64], line[256];
    long kb = -1;
    size_t klen = strlen(key);
    snprintf(path, sizeof path, "/proc/%d/status", (int)d.pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            sscanf(line + klen + 1, "%ld", &kb);
    fclose(f);
    return kb;
}

/* Memory figures mean nothing under valgrind or the sanitizers. */
static int memory_checked(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 0;
#endif
    return !msgd_under_wrapper();
}

/* A raw connection to the daemon: no test-client buffer, so that a few
 * thousand of them are cheap. */
static int raw_open(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    /* Room for a whole 64 KiB frame in the kernel, whatever the daemon
     * reads meanwhile. */
    int sndbuf = 256 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)d.port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Reads one line (byte by byte: nothing after it is consumed). */
static int raw_line(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    while (n + 1 < cap) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) != 1 || read(fd, buf + n, 1) != 1)
            return -1;
        if (buf[n] == '\n') {
            buf[n] = '\0';
            return 0;
        }
        n++;
    }
    return -1;
}

static int raw_hello(const char *id, int rcvbuf)
{
    char line[256];
    int fd = raw_open(rcvbuf);
    int n = snprintf(line, sizeof line, "HELLO %s\n", id);
    ck_assert_int_eq(write(fd, line, (size_t)n), n);
    ck_assert_int_eq(raw_line(fd, line, sizeof line, 10000), 0);
    ck_assert_msg(strncmp(line, "OK ", 3) == 0, "HELLO %s: %s", id, line);
    return fd;
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

/* The node names of the slow-consumer disconnects, in log order. */
static int slow_nodes(char names[][16], int max)
{
    FILE *f = fopen(d.client_log, "r");
    char line[2048];
    int n = 0;
    if (f == NULL)
        return 0;
    while (n < max && fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"reason\":\"slow-consumer\""))
            continue;
        char *p = strstr(line, "\"node\":\"");
        if (p)
            sscanf(p + 8, "%15[^\"]", names[n++]);
    }
    fclose(f);
    return n;
}

/* 1. Broadcasts of 1,000 bytes (under the old sharing threshold) at 200
 * receivers that never read: memory stays within max_output_total plus
 * slack, and when it is reached the largest queues are cut first: the
 * 100 receivers that joined first, not the 100 that joined later. */
START_TEST(broadcast_flood_within_budget)
{
    enum { GROUP = 100, PAYLOAD = 1000, BUDGET_MIB = 8 };
    msgd_start(&d, "max_output_total = 8388608;"
                   "max_output_buffer = 67108864;"
                   "write_deadline = 0; max_nodes = 1000;");
    long base = status_kb("VmRSS");
    static int a[GROUP], b[GROUP];
    char id[16];
    for (int i = 0; i < GROUP; i++) {
        snprintf(id, sizeof id, "a%d", i);
        a[i] = raw_hello(id, 4096);
    }
    struct tc *f = tc_hello(d.port, "flooder");
    static char frame[PAYLOAD + 32];
    int hl = sprintf(frame, "BCAST %d\n", PAYLOAD);
    memset(frame + hl, 'b', PAYLOAD);
    frame[hl + PAYLOAD] = '\n';
    size_t flen = (size_t)hl + PAYLOAD + 1;
    /* Half the budget for the first group alone. */
    for (int i = 0; i < (BUDGET_MIB << 20) / 2 / PAYLOAD; i++)
        tc_send(f, frame, flen);
    tc_sync(f);
    ck_assert_int_eq(
        log_count(d.client_log, "disconnect", "reason", "slow-consumer"), 0);
    for (int i = 0; i < GROUP; i++) {
        snprintf(id, sizeof id, "b%d", i);
        b[i] = raw_hello(id, 4096);
    }
    /* On until the first group has been cut. */
    for (int k = 0; log_count(d.client_log, "disconnect", "reason",
                              "slow-consumer") < GROUP;
         k++) {
        ck_assert_int_lt(k, 200);
        for (int i = 0; i < 1000; i++)
            tc_send(f, frame, flen);
        tc_sync(f);
    }
    long hwm = status_kb("VmHWM");
    static char names[2 * GROUP][16];
    int n = slow_nodes(names, 2 * GROUP);
    ck_assert_int_ge(n, GROUP);
    for (int i = 0; i < GROUP; i++)
        ck_assert_msg(names[i][0] == 'a', "cut %d was %s, not of the first group",
                      i, names[i]);
    ck_assert(log_wait(d.server_log, "warning", "msg",
                       "max_output_total reached: largest queues cut", 5000));
    fprintf(stderr, "broadcast flood: VmHWM %ld kB, base %ld kB (+%ld kB)\n",
            hwm, base, hwm - base);
    if (memory_checked())
        ck_assert_msg(hwm - base <= (BUDGET_MIB + 8) * 1024,
                      "VmHWM %ld kB over a base of %ld kB", hwm, base);
    for (int i = 0; i < GROUP; i++) {
        close(a[i]);
        close(b[i]);
    }
    tc_close(f);
    still_routes();
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* 2. Fan-in: 600 nodes each send one 64 KiB message at once to one node
 * that reads all the time.  It gets every one and is not cut. */
START_TEST(fan_in_to_a_reader)
{
    enum { SENDERS = 600, PAYLOAD = 65536 };
    msgd_start(&d, "max_nodes = 1000;");
    long base = status_kb("VmRSS");
    /* A fixed receive buffer: the kernel does not absorb the burst for
     * the daemon (it can grow to 32 MiB otherwise). */
    int r = raw_hello("r", 65536);
    static int s[SENDERS];
    char id[16];
    for (int i = 0; i < SENDERS; i++) {
        snprintf(id, sizeof id, "s%d", i);
        s[i] = raw_hello(id, 0);
    }
    pid_t reader = fork();
    ck_assert_int_ge(reader, 0);
    if (reader == 0) {
        /* Reads every frame as it comes; exits 0 once it has them all, 2 on
         * anything else (a BYE, EOF, a bad frame), 3 if it waited too long. */
        static char buf[PAYLOAD + 1];
        char line[128];
        alarm(120);
        for (int got = 0; got < SENDERS; got++) {
            int from;
            unsigned long len;
            if (raw_line(r, line, sizeof line, 60000) < 0)
                _exit(3);
            if (sscanf(line, "MSG s%d r %lu", &from, &len) != 2 ||
                len != PAYLOAD) {
                fprintf(stderr, "reader: '%s' after %d\n", line, got);
                _exit(2);
            }
            for (size_t have = 0; have < len + 1;) {
                ssize_t n = read(r, buf + have, len + 1 - have);
                if (n <= 0)
                    _exit(2);
                have += (size_t)n;
            }
            if (buf[len] != '\n' || buf[0] != (char)('a' + from % 26))
                _exit(2);
        }
        _exit(0);
    }
    close(r);
    /* All 600 messages reach the kernel while the daemon is stopped, so
     * that it finds them at once, as from 600 senders at the same time. */
    static char frame[SENDERS][PAYLOAD + 32];
    static size_t len[SENDERS], off[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        int hl = sprintf(frame[i], "SEND r %d\n", PAYLOAD);
        memset(frame[i] + hl, 'a' + i % 26, PAYLOAD);
        frame[i][hl + PAYLOAD] = '\n';
        len[i] = (size_t)hl + PAYLOAD + 1;
    }
    ck_assert_int_eq(kill(d.pid, SIGSTOP), 0);
    for (int i = 0; i < SENDERS; i++) {
        ssize_t w = send(s[i], frame[i], len[i], MSG_DONTWAIT);
        off[i] = w > 0 ? (size_t)w : 0;
    }
    ck_assert_int_eq(kill(d.pid, SIGCONT), 0);
    size_t queued = 0;
    for (int i = 0; i < SENDERS; i++)
        queued += off[i] == len[i];
    fprintf(stderr, "fan-in: %zu of %d messages whole in the kernel\n", queued,
            (int)SENDERS);
    /* The rest, if the kernel did not take it all; a sender the server
     * holds back simply stays unread meanwhile. */
    for (int i = 0; i < SENDERS; i++) {
        while (off[i] < len[i]) {
            ssize_t w = send(s[i], frame[i] + off[i], len[i] - off[i], 0);
            ck_assert_int_gt(w, 0);
            off[i] += (size_t)w;
        }
    }
    int st;
    ck_assert_int_eq(waitpid(reader, &st, 0), reader);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "the reader did not get all %d messages (status %d)",
                  SENDERS, st);
    ck_assert_int_eq(
        log_count(d.client_log, "disconnect", "reason", "slow-consumer"), 0);
    long hwm = status_kb("VmHWM");
    fprintf(stderr, "fan-in: VmHWM %ld kB, base %ld kB (+%ld kB)\n", hwm, base,
            hwm - base);
    for (int i = 0; i < SENDERS; i++)
        close(s[i]);
    still_routes();
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* 3. 2,000 connections that never say HELLO, each with a SEND of 64 KiB
 * under way: each is cut at max_unregistered_input (4 KiB by default) with
 * ERR too-large, and the daemon's memory does not grow by their frames. */
START_TEST(partial_frames_before_hello)
{
    enum { N = 2000, PAYLOAD = 65536 };
    msgd_start(&d, "max_nodes = 100000;");
    long base = status_kb("VmRSS");
    static int c[N];
    static char frame[PAYLOAD + 32];
    int hl = sprintf(frame, "SEND nobody %d\n", PAYLOAD);
    memset(frame + hl, 'p', PAYLOAD);
    for (int i = 0; i < N; i++) {
        c[i] = raw_open(0);
        /* All but the last byte: the frame stays partial. */
        ssize_t w = send(c[i], frame, (size_t)hl + PAYLOAD - 1,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        ck_assert_int_gt(w, 0);
    }
    int refused = 0;
    for (int i = 0; i < N; i++) {
        char line[256];
        if (raw_line(c[i], line, sizeof line, 10000) == 0 &&
            strcmp(line, "ERR too-large") == 0)
            refused++;
    }
    long hwm = status_kb("VmHWM");
    fprintf(stderr,
            "partial frames before HELLO: VmHWM %ld kB, base %ld kB "
            "(+%ld kB), %d of %d refused\n",
            hwm, base, hwm - base, refused, N);
    ck_assert_int_eq(refused, N);
    if (memory_checked())
        ck_assert_msg(hwm - base <= 32 * 1024, "VmHWM %ld kB over a base of %ld kB",
                      hwm, base);
    for (int i = 0; i < N; i++)
        close(c[i]);
    still_routes();
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* 4. Registered nodes holding large partial frames: past max_input_total
 * the others are not read (their bytes stay in the kernel), and once the
 * frames are finished everyone is read again. */
START_TEST(partial_frame_budget)
{
    enum { HOLDERS = 64, PAYLOAD = 65536 };
    msgd_start(&d, "max_input_total = 1048576; max_nodes = 1000;");
    long base = status_kb("VmRSS");
    struct tc *r = tc_hello(d.port, "r");
    static int h[HOLDERS];
    char id[16];
    static char frame[PAYLOAD + 32];
    int hl = sprintf(frame, "SEND r %d\n", PAYLOAD);
    memset(frame + hl, 'h', PAYLOAD);
    frame[hl + PAYLOAD] = '\n';
    for (int i = 0; i < HOLDERS; i++) {
        snprintf(id, sizeof id, "h%d", i);
        h[i] = raw_hello(id, 0);
    }
    for (int i = 0; i < HOLDERS; i++)
        ck_assert_int_eq(send(h[i], frame, (size_t)hl + 100, 0), hl + 100);
    /* 64 frames of 64 KiB announced: 4 MiB wanted, 1 MiB allowed; a new
     * node's HELLO is not read meanwhile. */
    struct tc *late = tc_open(d.port);
    tc_sendf(late, "HELLO late\n");
    ck_assert_ptr_null(tc_line(late, 1000));
    long rss = status_kb("VmRSS");
    fprintf(stderr, "partial-frame budget: VmRSS %ld kB, base %ld kB (+%ld kB)\n",
            rss, base, rss - base);
    if (memory_checked())
        ck_assert_msg(rss - base <= 8 * 1024, "VmRSS %ld kB over a base of %ld kB",
                      rss, base);
    /* The frames finish: every one arrives, and the late node gets in. */
    for (int i = 0; i < HOLDERS; i++) {
        size_t n = (size_t)hl + PAYLOAD + 1, off = (size_t)hl + 100;
        while (off < n) {
            ssize_t w = send(h[i], frame + off, n - off, 0);
            ck_assert_int_gt(w, 0);
            off += (size_t)w;
        }
    }
    const char *l = tc_line(late, 10000);
    ck_assert_ptr_nonnull(l);
    ck_assert_msg(strncmp(l, "OK late", 7) == 0, "%s", l);
    static char payload[PAYLOAD];
    memset(payload, 'h', PAYLOAD);
    for (int i = 0; i < HOLDERS; i++) {
        l = tc_line(r, 10000);
        ck_assert_ptr_nonnull(l);
        int from;
        ck_assert_int_eq(sscanf(l, "MSG h%d r 65536", &from), 1);
        static char got[PAYLOAD + 1];
        ck_assert_int_eq(tc_read(r, got, PAYLOAD + 1, 10000), 0);
        ck_assert(memcmp(got, payload, PAYLOAD) == 0);
    }
    for (int i = 0; i < HOLDERS; i++)
        close(h[i]);
    tc_close(late);
    tc_close(r);
    still_routes();
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const TTest *const tests[] = {
        broadcast_flood_within_budget,
        fan_in_to_a_reader,
        partial_frames_before_hello,
        partial_frame_budget,
    };
    return run_suite("bounds", tests, sizeof tests / sizeof *tests);
}
