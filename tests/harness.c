/* harness.c: integration-test helpers (see harness.h).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *msgd_path(void)
{
    const char *p = getenv("MSGD");
    return p ? p : "src/msgd";
}

int msgd_under_wrapper(void)
{
    const char *w = getenv("MSGD_WRAPPER");
    return w && *w;
}

static int start_timeout_ms(void)
{
    return msgd_under_wrapper() ? 30000 : 5000;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Splits $MSGD_WRAPPER on spaces into argv, then msgd and args. */
static void exec_msgd(const char *const *args)
{
    char *argv[64];
    int n = 0;
    const char *w = getenv("MSGD_WRAPPER");
    char *copy = w ? strdup(w) : NULL;
    for (char *t = copy ? strtok(copy, " ") : NULL; t && n < 40;
         t = strtok(NULL, " "))
        argv[n++] = t;
    argv[n++] = (char *)msgd_path();
    for (int i = 0; args[i] && n < 63; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    execvp(argv[0], argv);
    _exit(127);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    size_t n;
    while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2)
            s = realloc(s, cap *= 2);
    }
    s[len] = '\0';
    fclose(f);
    return s;
}

static char *tmp_dirs[64];
static int n_tmp_dirs;

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The test process's temporary directories go when it exits (Check runs
 * each test in a process of its own), unless MSGD_KEEP_TMP is set. */
static pid_t started[64];
static int n_started;

static void remove_tmp_dirs(void)
{
    /* A failed test leaves no daemon behind. */
    for (int i = 0; i < n_started; i++)
        if (started[i] > 0 && kill(started[i], 0) == 0)
            kill(started[i], SIGKILL);
    for (int i = 0; i < n_tmp_dirs; i++) {
        if (getenv("MSGD_KEEP_TMP") == NULL)
            nftw(tmp_dirs[i], remove_one, 16, FTW_DEPTH | FTW_PHYS);
        free(tmp_dirs[i]);
    }
    n_tmp_dirs = 0;
}

void msgd_write_conf(struct msgd_proc *p, const char *extra)
{
    memset(p, 0, sizeof *p);
    snprintf(p->dir, sizeof p->dir, "/tmp/msgd-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(p->dir));
    if (n_tmp_dirs == 0)
        atexit(remove_tmp_dirs);
    if (n_tmp_dirs < 64)
        tmp_dirs[n_tmp_dirs++] = strdup(p->dir);
    snprintf(p->conf, sizeof p->conf, "%s/msgd.conf", p->dir);
    snprintf(p->server_log, sizeof p->server_log, "%s/log/server.log", p->dir);
    snprintf(p->client_log, sizeof p->client_log, "%s/log/client.log", p->dir);
    snprintf(p->pidfile, sizeof p->pidfile, "%s/run/msgd.pid", p->dir);
    snprintf(p->admin_socket, sizeof p->admin_socket, "%s/run/admin.sock",
             p->dir);
    FILE *f = fopen(p->conf, "w");
    ck_assert_ptr_nonnull(f);
    if (extra == NULL || strstr(extra, "listen") == NULL)
        fprintf(f, "listen = [ \"127.0.0.1:0\" ];\n");
    if (extra && strstr(extra, "client_log ="))
        snprintf(p->client_log, sizeof p->client_log, "(set by the test)");
    else
        fprintf(f, "client_log = \"%s\";\n", p->client_log);
    if (extra && strstr(extra, "admin_socket ="))
        snprintf(p->admin_socket, sizeof p->admin_socket, "(set by test)");
    else
        fprintf(f, "admin_socket = \"%s\";\n", p->admin_socket);
    fprintf(f, "server_log = \"%s\";\npidfile = \"%s\";\n%s\n", p->server_log,
            p->pidfile, extra ? extra : "");
    fclose(f);
}

/* Reads the bound port from the start event; 0 if not logged yet. */
static int logged_port(const struct msgd_proc *p)
{
    char *s = slurp(p->server_log);
    char *at = s ? strstr(s, "\"event\":\"start\"") : NULL;
    int port = 0;
    if (at) {
        char *l = strstr(at, "\"listen\":[\"");
        ck_assert_ptr_nonnull(l);
        char *q = strchr(l + 11, '"');
        while (q > l && q[-1] != ':')
            q--;
        port = atoi(q);
    }
    free(s);
    return port;
}

int msgd_listen_port(const struct msgd_proc *p, int i)
{
    char *s = slurp(p->server_log);
    char *at = s ? strstr(s, "\"event\":\"start\"") : NULL;
    char *l = at ? strstr(at, "\"listen\":[") : NULL;
    int port = 0;
    if (l) {
        char *q = l + 10;
        for (int k = 0; q && k <= i; k++) {
            char *open = strchr(q, '"');
            char *close = open ? strchr(open + 1, '"') : NULL;
            char *end = strchr(q, ']');
            if (close == NULL || (end && open > end)) {
                q = NULL;
                break;
            }
            if (k == i) {
                char *c = close;
                while (c > open && c[-1] != ':')
                    c--;
                port = atoi(c);
            }
            q = close + 1;
        }
    }
    free(s);
    return port;
}

void msgd_start(struct msgd_proc *p, const char *extra)
{
    msgd_write_conf(p, extra);
    msgd_start_written(p);
}

void msgd_start_written(struct msgd_proc *p)
{
    p->pid = fork();
    ck_assert_int_ge(p->pid, 0);
    if (p->pid == 0) {
        const char *args[] = {"-f", "-c", p->conf, NULL};
        exec_msgd(args);
    }
    if (n_started < 64)
        started[n_started++] = p->pid;
    long deadline = now_ms() + start_timeout_ms();
    while (now_ms() < deadline) {
        if ((p->port = logged_port(p)) > 0)
            return;
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid)
            ck_abort_msg("msgd exited during start (status %d)", st);
        usleep(5000);
    }
    ck_abort_msg("msgd did not log start");
}

int msgd_start_daemon(struct msgd_proc *p, char *out, size_t outlen)
{
    const char *argv[] = {"msgd", "-c", p->conf, NULL};
    int rc = msgd_run(argv, out, outlen);
    if (rc != 0)
        return rc;
    /* Ready means ready: the port and the pid are there at once. */
    p->port = logged_port(p);
    ck_assert_int_gt(p->port, 0);
    char *pid = slurp(p->pidfile);
    ck_assert_ptr_nonnull(pid);
    p->pid = atoi(pid);
    free(pid);
    ck_assert_int_gt(p->pid, 1);
    p->daemon = 1;
    if (n_started < 64)
        started[n_started++] = p->pid;
    return 0;
}

int msgd_alive(const struct msgd_proc *p)
{
    return p->pid > 0 && kill(p->pid, 0) == 0;
}

int msgd_stop(struct msgd_proc *p)
{
    int st = 0;
    if (p->pid <= 0)
        return -1;
    for (int i = 0; i < n_started; i++)
        if (started[i] == p->pid)
            started[i] = 0;
    kill(p->pid, SIGTERM);
    if (p->daemon) {
        /* Not our child: wait for it to vanish. */
        long until = now_ms() + 15000;
        while (msgd_alive(p) && now_ms() < until)
            usleep(5000);
        int gone = !msgd_alive(p);
        p->pid = 0;
        return gone ? 0 : -1;
    }
    long deadline = now_ms() + (msgd_under_wrapper() ? 60000 : 15000);
    while (waitpid(p->pid, &st, WNOHANG) == 0) {
        if (now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            break;
        }
        usleep(5000);
    }
    p->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Forks, runs child(arg) with stdout and stderr into a pipe, collects
 * the output; returns the exit status. */
static int run_capture(void (*child)(const void *), const void *arg, char *out,
                       size_t outlen)
{
    int pfd[2];
    ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        child(arg);
        _exit(127);
    }
    close(pfd[1]);
    /* Read until the child has exited and the pipe is drained, not until
     * EOF: a daemon it started may hold a copy of the pipe (valgrind keeps
     * one for its own messages). */
    size_t len = 0;
    int st = 0, exited = 0;
    for (;;) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int r = poll(&p, 1, exited ? 0 : 50);
        if (r > 0) {
            ssize_t n = read(pfd[0], out + len, outlen - len - 1);
            if (n > 0 && len + (size_t)n < outlen) {
                len += (size_t)n;
                continue;
            }
            if (n > 0)
                continue;
            if (n == 0 && !exited) { /* EOF: only the exit is left */
                waitpid(pid, &st, 0);
                break;
            }
        }
        if (exited)
            break;
        exited = waitpid(pid, &st, WNOHANG) == pid;
    }
    out[len] = '\0';
    close(pfd[0]);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void exec_msgd_args(const void *argv)
{
    exec_msgd((const char *const *)argv + 1);
}

static void exec_prog(const void *argv)
{
    execvp(((char *const *)argv)[0], (char *const *)argv);
}

struct as_user {
    uid_t uid;
    gid_t gid;
    const char *const *argv;
};

static void exec_as(const void *arg)
{
    const struct as_user *a = arg;
    if (setgroups(0, NULL) < 0 || setgid(a->gid) < 0 || setuid(a->uid) < 0)
        _exit(126);
    execvp(a->argv[0], (char *const *)a->argv);
}

int prog_run_as(uid_t uid, gid_t gid, const char *const *argv, char *out,
                size_t outlen)
{
    struct as_user a = {uid, gid, argv};
    return run_capture(exec_as, &a, out, outlen);
}

int msgd_run(const char *const *argv, char *out, size_t outlen)
{
    return run_capture(exec_msgd_args, argv, out, outlen);
}

int prog_run(const char *const *argv, char *out, size_t outlen)
{
    return run_capture(exec_prog, argv, out, outlen);
}

const char *msgctl_path(void)
{
    const char *p = getenv("MSGCTL");
    return p ? p : "src/msgctl";
}

int run_suite(const char *name, const TTest *const *tests, size_t n)
{
    Suite *s = suite_create(name);
    for (size_t i = 0; i < n; i++) {
        TCase *tc = tcase_create(tests[i]->name);
        tcase_set_timeout(tc, msgd_under_wrapper() ? 300 : 60);
        tcase_add_test(tc, tests[i]);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

long msgd_rss_kb(const struct msgd_proc *p)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)p->pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

struct tc *tc_open_addr(const char *host, int port)
{
    struct tc *c = malloc(sizeof *c);
    ck_assert_ptr_nonnull(c);
    c->len = 0;
    int v6 = strchr(host, ':') != NULL;
    c->fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(c->fd, 0);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc;
    if (v6) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                                 .sin6_port = htons((uint16_t)port)};
        inet_pton(AF_INET6, host, &a.sin6_addr);
        rc = connect(c->fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, host, &a.sin_addr);
        rc = connect(c->fd, (struct sockaddr *)&a, sizeof a);
    }
    ck_assert_msg(rc == 0, "connect %s:%d: %s", host, port, strerror(errno));
    return c;
}

struct tc *tc_open(int port)
{
    return tc_open_addr("127.0.0.1", port);
}

struct tc *tc_hello(int port, const char *id)
{
    struct tc *c = tc_open(port);
    tc_sendf(c, "HELLO %s\n", id);
    const char *l = tc_line(c, 5000);
    ck_assert_ptr_nonnull(l);
    char want[128];
    snprintf(want, sizeof want, "OK %s ", id);
    ck_assert_msg(strncmp(l, want, strlen(want)) == 0, "HELLO %s got '%s'", id,
                  l);
    return c;
}

void tc_close(struct tc *c)
{
    if (c) {
        close(c->fd);
        free(c);
    }
}

void tc_send(struct tc *c, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t w = write(c->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        ck_assert_msg(w > 0, "write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

void tc_sendf(struct tc *c, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    tc_send(c, buf, (size_t)n);
}

/* Reads more into c->buf; 0 on EOF/timeout/error, else bytes read. */
static ssize_t fill(struct tc *c, int timeout_ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    if (c->len == sizeof c->buf)
        return -1;
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return 0;
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (n <= 0)
        return 0;
    c->len += (size_t)n;
    return n;
}

static char line_out[1 << 16];

const char *tc_line(struct tc *c, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        char *lf = memchr(c->buf, '\n', c->len);
        if (lf) {
            size_t n = (size_t)(lf - c->buf);
            if (n >= sizeof line_out)
                n = sizeof line_out - 1;
            memcpy(line_out, c->buf, n);
            line_out[n] = '\0';
            size_t used = (size_t)(lf - c->buf) + 1;
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            return line_out;
        }
        long left = deadline - now_ms();
        if (left <= 0 || fill(c, (int)left) <= 0)
            return NULL;
    }
}

void tc_expect(struct tc *c, const char *want)
{
    const char *got = tc_line(c, 5000);
    ck_assert_msg(got != NULL, "expected '%s', got EOF/timeout", want);
    ck_assert_str_eq(got, want);
}

int tc_read(struct tc *c, void *out, size_t n, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    while (c->len < n) {
        long left = deadline - now_ms();
        if (left <= 0 || fill(c, (int)left) <= 0)
            return -1;
    }
    memcpy(out, c->buf, n);
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    return 0;
}

void tc_expect_msg(struct tc *c, const char *from, const char *to,
                   const void *payload, size_t n)
{
    char want[256];
    snprintf(want, sizeof want, "MSG %s %s %zu", from, to, n);
    tc_expect(c, want);
    char *got = malloc(n + 1);
    ck_assert_int_eq(tc_read(c, got, n + 1, 5000), 0);
    ck_assert_msg(memcmp(got, payload, n) == 0, "payload differs");
    ck_assert_int_eq(got[n], '\n');
    free(got);
}

int tc_eof(struct tc *c, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        long left = deadline - now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return 0;
        char tmp[4096];
        ssize_t n = read(c->fd, tmp, sizeof tmp);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 1;
        if (n < 0)
            return 0;
    }
}

void tc_sync(struct tc *c)
{
    static int seq;
    char want[64];
    snprintf(want, sizeof want, "PONG sync%d", ++seq);
    tc_sendf(c, "PING sync%d\n", seq);
    tc_expect(c, want);
}

static int line_matches(json_t *o, const char *ev, const char *key,
                        const char *val)
{
    const char *e = json_string_value(json_object_get(o, "event"));
    if (e == NULL || (ev != NULL && strcmp(e, ev) != 0))
        return 0;
    if (key == NULL)
        return 1;
    json_t *v = json_object_get(o, key);
    if (val == NULL)
        return v != NULL && json_is_null(v);
    return json_is_string(v) && strcmp(json_string_value(v), val) == 0;
}

int log_count(const char *path, const char *ev, const char *key,
              const char *val)
{
    char *s = slurp(path);
    int n = 0;
    for (char *line = s ? strtok(s, "\n") : NULL; line;
         line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        n += o && line_matches(o, ev, key, val);
        json_decref(o);
    }
    free(s);
    return n;
}

long log_sum(const char *path, const char *ev, const char *key,
             const char *val, const char *num)
{
    char *s = slurp(path);
    long sum = 0;
    for (char *line = s ? strtok(s, "\n") : NULL; line;
         line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        if (o && line_matches(o, ev, key, val))
            sum += (long)json_integer_value(json_object_get(o, num));
        json_decref(o);
    }
    free(s);
    return sum;
}

int log_wait(const char *path, const char *ev, const char *key, const char *val,
             int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    do {
        char *s = slurp(path);
        for (char *line = s ? strtok(s, "\n") : NULL; line;
             line = strtok(NULL, "\n")) {
            json_t *o = json_loads(line, 0, NULL);
            int m = o && line_matches(o, ev, key, val);
            json_decref(o);
            if (m) {
                free(s);
                return 1;
            }
        }
        free(s);
        usleep(10000);
    } while (now_ms() < deadline);
    return 0;
}

void log_check_all(const char *path)
{
    char *s = slurp(path);
    ck_assert_ptr_nonnull(s);
    int n = 0;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        ck_assert_msg(o != NULL, "%s: not JSON: %s", path, line);
        const char *ts = json_string_value(json_object_get(o, "ts"));
        ck_assert_ptr_nonnull(ts);
        ck_assert_int_eq((int)strlen(ts), 24);
        ck_assert_int_eq(ts[10], 'T');
        ck_assert_int_eq(ts[19], '.');
        ck_assert_int_eq(ts[23], 'Z');
        ck_assert_ptr_nonnull(json_string_value(json_object_get(o, "level")));
        ck_assert_ptr_nonnull(json_string_value(json_object_get(o, "event")));
        json_decref(o);
        n++;
    }
    ck_assert_int_gt(n, 0);
    free(s);
}

int file_contains(const char *path, const char *needle)
{
    char *s = slurp(path);
    int r = s && strstr(s, needle) != NULL;
    free(s);
    return r;
}
