/* test_msgsim.c: integration tests of msgsim (msgsim(1)): each
 * pattern against a msgd of its own, the human summary, --connect to a
 * running msgd (two runs at once), nodes spread over two addresses of one
 * msgd, a node kicked mid-run in each pattern,
 * the daemon stopped mid-run, a server that stops answering, large
 * payloads, usage errors, and a server that cannot be reached or started.
 * Summaries are read with --json and jansson.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "harness.h"

static struct msgd_proc d;
static char out[1 << 20];
static char addr[64];

static const char *msgsim_path(void)
{
    const char *p = getenv("MSGSIM");
    return p ? p : "src/msgsim";
}

static const char *msgd_bin(void)
{
    const char *p = getenv("MSGD");
    return p ? p : "src/msgd";
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fills argv with msgsim and args (NULL-terminated). */
static void make_argv(const char **argv, size_t max, const char *const *args)
{
    size_t n = 0;
    argv[n++] = msgsim_path();
    for (size_t i = 0; args[i] && n + 1 < max; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
}

/* Runs msgsim; its stdout and stderr go to out. */
static int sim(const char *const *args)
{
    const char *argv[48];
    make_argv(argv, 48, args);
    return prog_run(argv, out, sizeof out);
}

/* The JSON summary: the line of o that starts with '{' (notices on
 * stderr come in the same capture). */
static json_t *summary_of(const char *o)
{
    const char *at = o[0] == '{' ? o : strstr(o, "\n{");
    ck_assert_msg(at != NULL, "no JSON summary in: %s", o);
    if (*at == '\n')
        at++;
    json_error_t e;
    json_t *j = json_loadb(at, strcspn(at, "\n"), 0, &e);
    ck_assert_msg(j != NULL, "bad JSON (%s): %s", e.text, at);
    return j;
}

static json_int_t jint(json_t *j, const char *key)
{
    json_t *v = json_object_get(j, key);
    ck_assert_msg(json_is_integer(v), "no integer %s", key);
    return json_integer_value(v);
}

static double jnum(json_t *j, const char *key)
{
    json_t *v = json_object_get(j, key);
    ck_assert_msg(json_is_number(v), "no number %s", key);
    return json_number_value(v);
}

/* Nothing went wrong in the deliveries themselves. */
static void assert_clean_deliveries(json_t *j)
{
    ck_assert_int_eq(jint(j, "lost"), 0);
    ck_assert_int_eq(jint(j, "duplicated"), 0);
    ck_assert_int_eq(jint(j, "corrupt"), 0);
    ck_assert_int_eq(jint(j, "reordered"), 0);
    ck_assert_int_eq(jint(j, "delivered"), jint(j, "expected"));
}

/* A private TMPDIR, so we can see msgsim clean up after its msgd. */
static char tmpdir[64];

static void private_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/msgsim-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    setenv("TMPDIR", tmpdir, 1);
}

static int dir_is_empty(const char *path)
{
    DIR *dir = opendir(path);
    struct dirent *e;
    int n = 0;
    ck_assert_ptr_nonnull(dir);
    while ((e = readdir(dir)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(dir);
    return n == 0;
}

/* One pattern, 20 nodes x 200 messages, against msgsim's own msgd. */
static void own_run(const char *pattern, json_int_t expected)
{
    private_tmpdir();
    const char *args[] = {"--msgd", msgd_bin(),  "-n",    "20",     "-m",
                          "200",    "--pattern", pattern, "--json", NULL};
    int rc = sim(args);
    ck_assert_msg(rc == 0, "msgsim %s: exit %d: %s", pattern, rc, out);
    ck_assert_msg(strchr(out, '\r') == NULL, "progress line off a terminal");
    json_t *j = summary_of(out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "pattern")), pattern);
    ck_assert_int_eq(jint(j, "sent"), 20 * 200);
    ck_assert_int_eq(jint(j, "expected"), expected);
    assert_clean_deliveries(j);
    ck_assert_int_eq(jint(j, "errors"), 0);
    ck_assert_int_eq(jint(j, "disconnected"), 0);
    ck_assert_int_eq(jint(j, "msgd_status"), 0);
    ck_assert(json_is_true(json_object_get(j, "ok")));
    ck_assert(jnum(j, "elapsed_s") > 0);
    ck_assert(jnum(j, "msgs_per_s") > 0);
    ck_assert(jnum(j, "mb_per_s") > 0);
    json_t *lat = json_object_get(j, "latency_us");
    ck_assert(json_is_object(lat));
    double p50 = jnum(lat, "p50"), p99 = jnum(lat, "p99"),
           max = jnum(lat, "max");
    ck_assert(p50 > 0 && p50 <= p99 && p99 <= max);
    json_decref(j);
    /* The daemon's temporary directory is gone. */
    ck_assert_msg(dir_is_empty(tmpdir), "msgsim left files in %s", tmpdir);
    rmdir(tmpdir);
}

START_TEST(ring_own_msgd)
{
    own_run("ring", 20 * 200);
}
END_TEST

START_TEST(random_own_msgd)
{
    own_run("random", 20 * 200);
}
END_TEST

START_TEST(broadcast_own_msgd)
{
    own_run("broadcast", 20 * 200 * 19);
}
END_TEST

START_TEST(human_summary)
{
    const char *args[] = {"--msgd", msgd_bin(), "-n",     "5",  "-m", "100",
                          "-p",     "random",   "--seed", "42", NULL};
    int rc = sim(args);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    static const char *lines[] = {
        "\nsent:          500\n",
        "\nexpected:      500\n",
        "\ndelivered:     500\n",
        "\nlost:          0\n",
        "\nduplicated:    0\n",
        "\ncorrupt:       0\n",
        "\nreordered:     0\n",
        "\nerrors:        0\n",
        "\ndisconnected:  0\n",
        " msgs/s, ",
        " MB/s\n",
        "\nlatency:       p50 ",
        " us, p99 ",
        " us, max ",
        "\nresult:        ok\n",
        "seed 42\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        ck_assert_msg(strstr(out, lines[i]), "no '%s' in: %s", lines[i], out);
}
END_TEST

START_TEST(large_payloads_and_window_one)
{
    /* Above msgd's default max_message_size: msgsim raises it for its own
     * daemon. */
    const char *big[] = {"--msgd", msgd_bin(), "-n",    "3",      "-m",
                         "50",     "-s",       "70000", "--json", NULL};
    int rc = sim(big);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    json_t *j = summary_of(out);
    assert_clean_deliveries(j);
    ck_assert_int_eq(jint(j, "delivered"), 150);
    json_decref(j);
    /* A 64-bit seed is also given as a string: JSON readers such as jq
     * keep only 53 bits of a number. */
    const char *w1[] = {"--msgd", msgd_bin(), "-n",     "4",
                        "-m",     "300",      "-w",     "1",
                        "-s",     "4096",     "-p",     "random",
                        "--seed", "9007199254740993", "--json", NULL};
    rc = sim(w1);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    j = summary_of(out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "seed_str")),
                     "9007199254740993");
    assert_clean_deliveries(j);
    ck_assert_int_eq(jint(j, "delivered"), 1200);
    json_decref(j);
}
END_TEST

static json_t *ctl_json(const char *cmd)
{
    const char *argv[] = {msgctl_path(), "-s", d.admin_socket,
                          "--json",      cmd,  NULL};
    int rc = prog_run(argv, out, sizeof out);
    ck_assert_msg(rc == 0, "msgctl %s: exit %d: %s", cmd, rc, out);
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    return j;
}

/* A running msgsim, its output going to a file. */
struct bg {
    pid_t pid;
    char path[64];
};

static void bg_start(struct bg *b, const char *const *args)
{
    const char *argv[48];
    make_argv(argv, 48, args);
    snprintf(b->path, sizeof b->path, "/tmp/msgsim-out-XXXXXX");
    int fd = mkstemp(b->path);
    ck_assert_int_ge(fd, 0);
    b->pid = fork();
    ck_assert_int_ge(b->pid, 0);
    if (b->pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fd);
}

/* Waits at most timeout_ms; the exit status, output in o.  Fails the test
 * if msgsim is still running by then. */
static int bg_wait(struct bg *b, int timeout_ms, char *o, size_t len)
{
    long deadline = now_ms() + timeout_ms;
    int st = 0;
    while (waitpid(b->pid, &st, WNOHANG) == 0) {
        if (now_ms() > deadline) {
            kill(b->pid, SIGKILL);
            waitpid(b->pid, &st, 0);
            ck_abort_msg("msgsim still running after %d ms", timeout_ms);
        }
        usleep(10000);
    }
    FILE *f = fopen(b->path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(o, 1, len - 1, f);
    o[n] = '\0';
    fclose(f);
    unlink(b->path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void start_daemon(void)
{
    msgd_start(&d, NULL);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", d.port);
}

/* Messages each of n nodes should send for a run of about `seconds`,
 * measured on this machine and this daemon. */
static long messages_for(const char *pattern, int n, double seconds)
{
    int fanout = strcmp(pattern, "broadcast") == 0 ? n - 1 : 1;
    char nbuf[16], mbuf[16];
    snprintf(nbuf, sizeof nbuf, "%d", n);
    snprintf(mbuf, sizeof mbuf, "%d", 200000 / (n * fanout));
    const char *args[] = {"--connect", addr,    "-n", nbuf,     "-m", mbuf,
                          "-p",        pattern, "-q", "--json", NULL};
    int rc = sim(args);
    ck_assert_msg(rc == 0, "calibration: exit %d: %s", rc, out);
    json_t *j = summary_of(out);
    double rate = jnum(j, "msgs_per_s");
    json_decref(j);
    long m = (long)(rate * seconds / (n * fanout));
    return m < 1000 ? 1000 : m;
}

START_TEST(connect_to_running_msgd)
{
    start_daemon();
    const char *args[] = {"--connect",   addr,  "-n",     "10",
                          "-m",          "500", "-p",     "ring",
                          "--id-prefix", "t-",  "--json", NULL};
    int rc = sim(args);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    json_t *j = summary_of(out);
    assert_clean_deliveries(j);
    ck_assert_int_eq(jint(j, "delivered"), 5000);
    ck_assert_ptr_null(json_object_get(j, "msgd_status")); /* not ours */
    json_decref(j);

    /* The daemon routed them all, and every node left with QUIT. */
    j = ctl_json("stats");
    ck_assert_int_eq(jint(j, "msgs_routed"), 5000);
    json_decref(j);
    j = ctl_json("list");
    ck_assert_int_eq((int)json_array_size(j), 0);
    json_decref(j);
    long deadline = now_ms() + 5000;
    while (log_count(d.client_log, "disconnect", "reason", "quit") < 10 &&
           now_ms() < deadline)
        usleep(10000);
    ck_assert_int_eq(log_count(d.client_log, "disconnect", NULL, NULL), 10);
    ck_assert_int_eq(log_count(d.client_log, "disconnect", "reason", "quit"),
                     10);

    /* Two runs at once on one daemon: the default ids are per run. */
    struct bg a, b;
    const char *two[] = {"--connect", addr,     "-n",     "8",  "-m", "2000",
                         "-p",        "random", "--json", "-q", NULL};
    bg_start(&a, two);
    bg_start(&b, two);
    ck_assert_int_eq(bg_wait(&a, 20000, out, sizeof out), 0);
    ck_assert_int_eq(bg_wait(&b, 20000, out, sizeof out), 0);

    /* A second run with the same fixed ids is refused, and says why; the
     * first is not disturbed. */
    char mbuf[24];
    snprintf(mbuf, sizeof mbuf, "%ld", messages_for("ring", 8, 3.0));
    const char *first[] = {"--connect", addr,          "-n",    "8",  "-m",
                           mbuf,        "--id-prefix", "same-", "-q", NULL};
    const char *second[] = {"--connect", addr,          "-n",    "8", "-m",
                            "10",        "--id-prefix", "same-", NULL};
    bg_start(&a, first);
    usleep(200000);
    rc = sim(second);
    ck_assert_msg(rc == 1, "exit %d: %s", rc, out);
    ck_assert_msg(strstr(out, "refused: id-taken same-"), "%s", out);
    ck_assert_msg(strstr(out, "errors:        0\n"), "%s", out);
    ck_assert_int_eq(bg_wait(&a, 20000, out, sizeof out), 0);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

static int occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

START_TEST(two_addresses_one_msgd)
{
    /* Two addresses that reach the same daemon: the spreading of the
     * nodes, the wait until each address lists them all, and the report
     * of the split, without a cluster (tests of those are elsewhere). */
    start_daemon();
    const char *args[] = {"--connect",   addr,   "--connect", addr, "-n",
                          "7",           "-m",   "300",       "-p", "random",
                          "--id-prefix", "two-", "--json",    NULL};
    int rc = sim(args);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    json_t *j = summary_of(out);
    assert_clean_deliveries(j);
    ck_assert_int_eq(jint(j, "delivered"), 7 * 300);
    ck_assert_int_eq(jint(j, "errors"), 0);
    ck_assert_int_eq(jint(j, "refused"), 0);
    ck_assert_int_eq(jint(j, "lost_refused"), 0);
    ck_assert_int_eq(jint(j, "disconnected"), 0);
    ck_assert(json_is_true(json_object_get(j, "ok")));
    ck_assert(jnum(j, "converge_s") >= 0);
    /* Round robin: nodes 0, 2, 4, 6 on the first, 1, 3, 5 on the second. */
    json_t *conn = json_object_get(j, "connect");
    ck_assert_int_eq((int)json_array_size(conn), 2);
    for (size_t a = 0; a < 2; a++) {
        json_t *e = json_array_get(conn, a);
        ck_assert_str_eq(json_string_value(json_object_get(e, "addr")), addr);
        ck_assert_int_eq(jint(e, "nodes"), a == 0 ? 4 : 3);
    }
    json_decref(j);
    j = ctl_json("stats");
    ck_assert_int_eq(jint(j, "msgs_routed"), 7 * 300);
    json_decref(j);
    j = ctl_json("list");
    ck_assert_int_eq((int)json_array_size(j), 0);
    json_decref(j);

    /* One option with a comma list, broadcasts, the human summary. */
    char both[3 * sizeof addr + 4], line[sizeof addr + 32];
    snprintf(both, sizeof both, "%s,%s", addr, addr);
    const char *bc[] = {"--connect", both,          "-n",   "6",
                        "-m",        "200",         "-p",   "broadcast",
                        "-q",        "--id-prefix", "two-", NULL};
    rc = sim(bc);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    snprintf(line, sizeof line, "\nconnect:       %s (3 nodes)\n", addr);
    ck_assert_msg(occurrences(out, line) == 2, "no split in: %s", out);
    ck_assert_msg(strstr(out, "\nconverged:     "), "%s", out);
    ck_assert_msg(strstr(out, "\ndelivered:     6000\n"), "%s", out);
    ck_assert_msg(strstr(out, "\nlost:          0\n"), "%s", out);
    ck_assert_msg(strstr(out, "\nresult:        ok\n"), "%s", out);
    ck_assert_msg(strstr(out, "refused") == NULL, "%s", out);

    /* Each address needs a node, and each must be HOST:PORT. */
    snprintf(both, sizeof both, "%s,%s,%s", addr, addr, addr);
    const char *few[] = {"--connect", both, "-n", "2", NULL};
    ck_assert_int_eq(sim(few), 64);
    ck_assert_msg(strstr(out, "--nodes: 2 nodes for 3 --connect addresses"),
                  "%s", out);
    snprintf(both, sizeof both, "%s,", addr);
    const char *empty[] = {"--connect", both, NULL};
    ck_assert_int_eq(sim(empty), 64);
    ck_assert_msg(strstr(out, "--connect: '' is not HOST:PORT"), "%s", out);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* msgctl kick, retried until the node is registered. */
static long kick(const char *id, const char *reason)
{
    const char *argv[] = {msgctl_path(), "-s", d.admin_socket, "kick", id,
                          reason,        NULL};
    long deadline = now_ms() + 5000;
    while (prog_run(argv, out, sizeof out) != 0) {
        ck_assert_msg(now_ms() < deadline, "cannot kick %s: %s", id, out);
        usleep(20000);
    }
    return now_ms();
}

static void kick_mid_run(const char *pattern)
{
    start_daemon();
    char mbuf[24];
    snprintf(mbuf, sizeof mbuf, "%ld", messages_for(pattern, 10, 3.0));
    const char *args[] = {"--connect", addr,          "-n",  "10",
                          "-m",        mbuf,          "-p",  pattern,
                          "--json",    "--id-prefix", "kt-", NULL};
    struct bg b;
    static char o[1 << 20];
    bg_start(&b, args);
    usleep(300000);
    long kicked = kick("kt-3", "testing");
    int rc = bg_wait(&b, 15000, o, sizeof o);
    ck_assert_msg(now_ms() - kicked < 10000, "msgsim took %ld ms after kick",
                  now_ms() - kicked);
    ck_assert_msg(rc == 1, "exit %d: %s", rc, o);
    ck_assert_msg(strstr(o, "node kt-3 disconnected: kicked testing"),
                  "the kick is not reported: %s", o);
    json_t *j = summary_of(o);
    assert_clean_deliveries(j);
    ck_assert_int_eq(jint(j, "errors"), 0);
    ck_assert_int_eq(jint(j, "disconnected"), 1);
    ck_assert(json_is_false(json_object_get(j, "ok")));
    json_t *dis = json_array_get(json_object_get(j, "disconnects"), 0);
    ck_assert_ptr_nonnull(dis);
    ck_assert_str_eq(json_string_value(json_object_get(dis, "node")), "kt-3");
    ck_assert_str_eq(json_string_value(json_object_get(dis, "reason")),
                     "kicked");
    ck_assert_str_eq(json_string_value(json_object_get(dis, "detail")),
                     "testing");
    json_decref(j);
    /* The others left cleanly, and the daemon is fine. */
    j = ctl_json("list");
    ck_assert_int_eq((int)json_array_size(j), 0);
    json_decref(j);
    ck_assert_int_eq(msgd_stop(&d), 0);
}

START_TEST(kick_mid_run_ring)
{
    kick_mid_run("ring");
}
END_TEST

START_TEST(kick_mid_run_random)
{
    kick_mid_run("random");
}
END_TEST

START_TEST(kick_mid_run_broadcast)
{
    kick_mid_run("broadcast");
}
END_TEST

START_TEST(daemon_stopped_mid_run)
{
    start_daemon();
    char mbuf[24];
    snprintf(mbuf, sizeof mbuf, "%ld", messages_for("random", 10, 10.0));
    const char *args[] = {"--connect", addr, "-n",     "10",     "-m",
                          mbuf,        "-p", "random", "--json", NULL};
    struct bg b;
    bg_start(&b, args);
    usleep(500000);
    ck_assert_int_eq(msgd_stop(&d), 0);
    long stopped = now_ms();
    int rc = bg_wait(&b, 10000, out, sizeof out);
    ck_assert_msg(now_ms() - stopped < 5000, "took %ld ms", now_ms() - stopped);
    ck_assert_msg(rc == 1, "exit %d: %s", rc, out);
    ck_assert(strstr(out, "disconnected: shutdown"));
    json_t *j = summary_of(out);
    ck_assert_int_eq(jint(j, "disconnected"), 10);
    assert_clean_deliveries(j);
    json_decref(j);
}
END_TEST

START_TEST(server_stops_answering)
{
    /* A daemon that stops (SIGSTOP) mid-run: msgsim gives up on its own
     * with --timeout, and does not wait forever for BYE quit. */
    start_daemon();
    const char *args[] = {"--connect", addr,        "-n", "4",      "-m",
                          "100000000", "--timeout", "1",  "--json", NULL};
    struct bg b;
    bg_start(&b, args);
    usleep(300000);
    kill(d.pid, SIGSTOP);
    int rc = bg_wait(&b, 15000, out, sizeof out);
    kill(d.pid, SIGCONT);
    ck_assert_msg(rc == 1, "exit %d: %s", rc, out);
    ck_assert(strstr(out, "timed out"));
    json_t *j = summary_of(out);
    ck_assert(json_is_true(json_object_get(j, "timed_out")));
    ck_assert(json_is_false(json_object_get(j, "ok")));
    json_decref(j);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(usage_errors)
{
    static const struct {
        const char *a[6];
        const char *says;
    } cases[] = {
        {{"--bogus"}, "unknown option '--bogus'"},
        {{"--nodes"}, "needs a value"},
        {{"--nodes", "1"}, "--nodes: '1'"},
        {{"--nodes", "ten"}, "--nodes: 'ten'"},
        {{"--messages", "0"}, "--messages: '0'"},
        {{"--size", "8"}, "--size: '8'"},
        {{"--pattern", "star"}, "--pattern: 'star'"},
        {{"--window", "0"}, "--window: '0'"},
        {{"--timeout", "-1"}, "--timeout: '-1'"},
        {{"--seed", "x"}, "--seed: 'x'"},
        {{"--connect", "nocolon"}, "--connect: 'nocolon'"},
        {{"--connect", "h:1", "--msgd", "x"}, "exclude each other"},
        {{"--id-prefix", "a b"}, "--id-prefix"},
        {{"extra"}, "unexpected argument 'extra'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = sim(cases[i].a);
        ck_assert_msg(rc == 64, "%s: exit %d: %s", cases[i].a[0], rc, out);
        ck_assert_msg(strstr(out, cases[i].says), "%s: %s", cases[i].a[0], out);
        /* One line and a hint, not the whole usage. */
        ck_assert_msg(strncmp(out, "msgsim: ", 8) == 0 &&
                          strstr(out, "\ntry 'msgsim --help'\n") &&
                          !strstr(out, "usage:"),
                      "%s: %s", cases[i].a[0], out);
    }
    const char *v[] = {"-V", NULL};
    ck_assert_int_eq(sim(v), 0);
    ck_assert(strncmp(out, "msgsim ", 7) == 0);
    const char *h[] = {"--help", NULL};
    ck_assert_int_eq(sim(h), 0);
    ck_assert(strncmp(out, "usage: msgsim", 13) == 0);
}
END_TEST

START_TEST(unreachable_server)
{
    /* A port nobody listens on: bound, then closed. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    const char *args[] = {"--connect", addr, NULL};
    long t0 = now_ms();
    int rc = sim(args);
    ck_assert_msg(rc == 69, "exit %d: %s", rc, out);
    char want[96];
    snprintf(want, sizeof want, "msgsim: cannot connect to %s: ", addr);
    ck_assert_msg(strstr(out, want), "%s", out);
    ck_assert(now_ms() - t0 < 10000);

    /* No msgd to start. */
    private_tmpdir();
    const char *none[] = {"--msgd", "/nonexistent/msgd", NULL};
    ck_assert_int_eq(sim(none), 69);
    ck_assert_msg(strstr(out, "cannot run msgd at /nonexistent/msgd"), "%s",
                  out);
    /* A msgd that fails to start: its status, and no files left. */
    const char *fails[] = {"--msgd", "/bin/false", NULL};
    ck_assert_int_eq(sim(fails), 69);
    ck_assert_msg(strstr(out, "exited with status 1 before it was ready"), "%s",
                  out);
    ck_assert(dir_is_empty(tmpdir));
    rmdir(tmpdir);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        ring_own_msgd,
        random_own_msgd,
        broadcast_own_msgd,
        human_summary,
        large_payloads_and_window_one,
        connect_to_running_msgd,
        two_addresses_one_msgd,
        kick_mid_run_ring,
        kick_mid_run_random,
        kick_mid_run_broadcast,
        daemon_stopped_mid_run,
        server_stops_answering,
        usage_errors,
        unreachable_server,
    };
    return run_suite("msgsim", tests, sizeof tests / sizeof *tests);
}
