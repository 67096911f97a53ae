/* test_client_sessions.c: the clients' side of sessions against the real
 * msgd over real sockets: libmsgclient resumes after the test cuts its
 * socket (nothing lost, nothing twice, only the commands the server never
 * read sent again), reports the loss when it comes back after the
 * daemon's session_hold, goes on without a session when the daemon has
 * them off; msgsim --sessions --chaos, and msgsim against a daemon
 * stopped for longer than its idle_timeout; msgnode --session through an
 * idle-timeout cut while it was stopped.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "msgclient.h"

static struct msgd_proc d;
static char port[16];
static char out[1 << 20];

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start(const char *extra)
{
    msgd_start(&d, extra);
    snprintf(port, sizeof port, "%d", d.port);
}

/* A library client with a session (o: NULL for the defaults), registered
 * as id. */
static struct mc_client *session_client(const char *id,
                                        const struct mc_session_options *o)
{
    struct mc_client *c = mc_new(0);
    ck_assert_ptr_nonnull(c);
    ck_assert_msg(mc_connect(c, "127.0.0.1", port, 5000) == 0, "%s",
                  mc_error(c));
    ck_assert_int_eq(mc_session_enable(c, o), 0);
    const char *code = NULL;
    ck_assert_msg(mc_register(c, id, &code, 5000) == 0, "%s", mc_error(c));
    return c;
}

/* The next event, which must be of type t. */
static void expect_event(struct mc_client *c, enum mc_event_type t,
                         struct mc_event *ev)
{
    ck_assert_int_eq(mc_wait_event(c, ev, 5000), 1);
    ck_assert_msg(ev->type == t, "event %d, not %d (%s)", ev->type, t,
                  ev->detail ? ev->detail : "");
}

static void expect_text(struct mc_client *c, const char *from,
                        const char *text)
{
    struct mc_event ev;
    expect_event(c, MC_EV_MSG, &ev);
    ck_assert_str_eq(ev.from, from);
    ck_assert_uint_eq(ev.len, strlen(text));
    ck_assert(memcmp(ev.data, text, ev.len) == 0);
}

static void send_text(struct tc *c, const char *to, const char *text)
{
    tc_sendf(c, "SEND %s %zu\n%s\n", to, strlen(text), text);
}

START_TEST(resume_after_cut)
{
    start("");
    struct mc_client *a = session_client("a", NULL);
    struct tc *b = tc_hello(d.port, "b");
    ck_assert_int_eq(mc_session_active(a), 1);

    /* Received and handed out before the cut: never again after it. */
    send_text(b, "a", "m1");
    send_text(b, "a", "m2");
    expect_text(a, "b", "m1");
    expect_text(a, "b", "m2");

    /* Read by the server (b has them) but not confirmed to a: the resume's
     * in=N says so, and they are not sent twice. */
    ck_assert_int_eq(mc_send(a, "b", "s1", 2), 0);
    ck_assert_int_eq(mc_send(a, "b", "s2", 2), 0);
    ck_assert_int_eq(mc_flush(a), 0);
    tc_expect_msg(b, "a", "b", "s1", 2);
    tc_expect_msg(b, "a", "b", "s2", 2);

    /* Queued, never written: sent after the resume. */
    ck_assert_int_eq(mc_send(a, "b", "s3", 2), 0);
    ck_assert_int_eq(mc_bcast(a, "s4", 2), 0);
    int old_fd = mc_fd(a);
    ck_assert_int_eq(shutdown(old_fd, SHUT_RDWR), 0);
    /* Kept by the daemon while a is away. */
    ck_assert(log_wait(d.client_log, "session-held", "node", "a", 5000));
    send_text(b, "a", "m3");

    struct mc_event ev;
    expect_event(a, MC_EV_DISCONNECTED, &ev);
    ck_assert_int_eq(mc_session_active(a), 1);
    /* Sending while down is fine: it waits for the resume. */
    ck_assert_int_eq(mc_send(a, "b", "s5", 2), 0);
    expect_event(a, MC_EV_RESUMED, &ev);
    ck_assert_str_eq(ev.id, "a");
    ck_assert_int_ge(mc_fd(a), 0);
    expect_text(a, "b", "m3");
    ck_assert_int_eq(mc_sync(a, 5000, NULL), 0);

    tc_expect_msg(b, "a", "b", "s3", 2);
    tc_expect_msg(b, "a", "*", "s4", 2);
    tc_expect_msg(b, "a", "b", "s5", 2);
    tc_sync(b); /* nothing more: s1 and s2 came once */

    send_text(b, "a", "m4");
    expect_text(a, "b", "m4");
    struct mc_session_stats st;
    mc_session_stats(a, &st);
    ck_assert_uint_eq(st.disconnects, 1);
    ck_assert_uint_eq(st.resumes, 1);
    ck_assert_uint_eq(st.new_sessions, 0);
    ck_assert_uint_eq(st.lost, 0);
    ck_assert_uint_eq(st.resent, 3);

    ck_assert_int_eq(mc_quit(a), 0);
    expect_event(a, MC_EV_BYE, &ev);
    ck_assert_str_eq(ev.code, "quit");
    expect_event(a, MC_EV_CLOSED, &ev);
    ck_assert_int_eq(mc_session_active(a), 0);
    mc_free(a);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* Away longer than session_hold: the kept messages are gone, and the
 * library says how many instead of leaving a silent gap. */
START_TEST(lost_after_hold)
{
    start("session_hold = 0.5;");
    struct mc_session_options o = {.reconnect_min_ms = 2400,
                                   .reconnect_max_ms = 2400};
    struct mc_client *a = session_client("a", &o);
    struct tc *b = tc_hello(d.port, "b");
    ck_assert_int_eq(shutdown(mc_fd(a), SHUT_RDWR), 0);
    ck_assert(log_wait(d.client_log, "session-held", "node", "a", 5000));
    send_text(b, "a", "gone1");
    send_text(b, "a", "gone2");
    tc_sync(b);
    struct mc_event ev;
    expect_event(a, MC_EV_DISCONNECTED, &ev);
    expect_event(a, MC_EV_LOST, &ev);
    ck_assert_uint_eq(ev.len, 2);
    expect_event(a, MC_EV_RESUMED, &ev);
    send_text(b, "a", "after");
    expect_text(a, "b", "after");
    struct mc_session_stats st;
    mc_session_stats(a, &st);
    ck_assert_uint_eq(st.new_sessions, 1);
    ck_assert_uint_eq(st.lost, 2);
    mc_free(a);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* session_hold = 0: the OK has no token, and the client carries on
 * without a session (a cut is then the end, as without one). */
START_TEST(sessions_off_at_the_daemon)
{
    start("session_hold = 0;");
    struct mc_client *a = session_client("a", NULL);
    ck_assert_int_eq(mc_session_active(a), 0);
    struct tc *b = tc_hello(d.port, "b");
    send_text(b, "a", "plain");
    expect_text(a, "b", "plain");
    shutdown(mc_fd(a), SHUT_RDWR);
    struct mc_event ev;
    expect_event(a, MC_EV_CLOSED, &ev);
    mc_free(a);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* ---- msgsim ---- */

static const char *msgsim_path(void)
{
    const char *p = getenv("MSGSIM");
    return p ? p : "src/msgsim";
}

static json_t *summary_of(const char *o)
{
    const char *p = o;
    while (p && *p != '{')
        p = (p = strchr(p, '\n')) ? p + 1 : NULL;
    json_error_t e;
    json_t *j = p ? json_loads(p, JSON_DISABLE_EOF_CHECK, &e) : NULL;
    ck_assert_msg(j != NULL, "no JSON summary in:\n%s", o);
    return j;
}

static long long num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_integer(v), "no %s", key);
    return json_integer_value(v);
}

static void check_clean(json_t *j)
{
    ck_assert_int_eq(num(j, "lost"), 0);
    ck_assert_int_eq(num(j, "duplicated"), 0);
    ck_assert_int_eq(num(j, "reordered"), 0);
    ck_assert_int_eq(num(j, "corrupt"), 0);
    ck_assert(json_is_true(json_object_get(j, "ok")));
}

START_TEST(msgsim_chaos)
{
    /* 20 cuts a second over a run of a second or more (a shorter run
     * might see no cut at all). */
    const char *argv[] = {msgsim_path(), "--sessions", "--chaos", "20",
                          "--nodes", "50", "--messages", "50000",
                          "--seed", "7", "--json", "--quiet", NULL};
    int rc = prog_run(argv, out, sizeof out);
    json_t *j = summary_of(out);
    ck_assert_msg(rc == 0, "msgsim: exit %d:\n%s", rc, out);
    check_clean(j);
    ck_assert_int_eq(num(j, "delivered"), 50 * 50000);
    json_t *s = json_object_get(j, "sessions");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_gt(num(s, "cuts"), 0);
    /* A cut may land on a connection that is still resuming: then one
     * resume follows two drops. */
    ck_assert_int_gt(num(s, "resumes"), 0);
    ck_assert_int_le(num(s, "resumes"), num(s, "drops"));
    ck_assert_int_eq(num(s, "reported_lost"), 0);
    ck_assert_int_eq(num(s, "new_sessions"), 0);
    fprintf(stderr, "chaos: %lld cuts (%lld RST, %lld FIN, %lld mid-frame), "
                    "%lld resumes, %lld resent\n",
            num(s, "cuts"), num(s, "cuts_rst"), num(s, "cuts_fin"),
            num(s, "cuts_mid_frame"), num(s, "resumes"), num(s, "resent"));
    json_decref(j);
}
END_TEST

/* A daemon stopped for twice its idle_timeout: at SIGCONT it cuts every
 * node it thinks idle; sessions bring them back with nothing lost. */
START_TEST(msgsim_daemon_stopped)
{
    start("idle_timeout = 1;");
    char addr[64], path[] = "/tmp/msgsim-stopped-XXXXXX";
    snprintf(addr, sizeof addr, "127.0.0.1:%d", d.port);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execl(msgsim_path(), msgsim_path(), "--connect", addr, "--sessions",
              "--nodes", "10", "--duration", "4", "--json", "--quiet",
              (char *)NULL);
        _exit(127);
    }
    usleep(800 * 1000);
    ck_assert_int_eq(kill(d.pid, SIGSTOP), 0);
    sleep(2);
    ck_assert_int_eq(kill(d.pid, SIGCONT), 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ssize_t n = pread(fd, out, sizeof out - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "msgsim:\n%s", out);
    json_t *j = summary_of(out);
    check_clean(j);
    ck_assert_int_gt(num(j, "delivered"), 0);
    json_t *s = json_object_get(j, "sessions");
    fprintf(stderr, "stopped daemon: %lld delivered, %lld drops, %lld "
                    "resumes\n",
            num(j, "delivered"), num(s, "drops"), num(s, "resumes"));
    json_decref(j);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* ---- msgnode ---- */

static const char *msgnode_path(void)
{
    const char *p = getenv("MSGNODE");
    return p ? p : "src/msgnode";
}

/* Reads the child's output into out until needle shows (from *mark). */
static void wait_output(int fd, size_t *len, size_t *mark, const char *needle,
                        int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        char *hit = strstr(out + *mark, needle);
        if (hit) {
            *mark = (size_t)(hit - out) + strlen(needle);
            return;
        }
        long left = deadline - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t n = read(fd, out + *len, sizeof out - *len - 1);
        if (n <= 0)
            break;
        *len += (size_t)n;
        out[*len] = '\0';
    }
    ck_abort_msg("msgnode did not print '%s'; it printed:\n%s", needle, out);
}

/* msgnode --session, stopped while the daemon's idle_timeout cuts it:
 * after SIGCONT it says so, comes back, and shows what was sent to it
 * meanwhile. */
START_TEST(msgnode_resumes_after_idle_cut)
{
    start("idle_timeout = 1;");
    int in[2], outp[2];
    ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(outp, O_CLOEXEC), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(outp[1], 1);
        dup2(outp[1], 2);
        execl(msgnode_path(), msgnode_path(), "-p", port, "-i", "n",
              "--session", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(outp[1]);
    size_t len = 0, mark = 0;
    out[0] = '\0';
    struct tc *x = tc_hello(d.port, "x");
    ck_assert(log_wait(d.client_log, "register", "node", "n", 5000));
    send_text(x, "n", "before");
    wait_output(outp[0], &len, &mark, "x: before", 5000);

    ck_assert_int_eq(kill(pid, SIGSTOP), 0);
    /* x keeps itself alive meanwhile; n cannot. */
    int held = 0;
    for (int i = 0; i < 20 && !held; i++) {
        tc_sync(x);
        held = log_wait(d.client_log, "session-held", "node", "n", 250);
    }
    ck_assert(held);
    send_text(x, "n", "while-away");
    tc_sync(x);
    ck_assert_int_eq(kill(pid, SIGCONT), 0);
    wait_output(outp[0], &len, &mark, "connection lost", 5000);
    wait_output(outp[0], &len, &mark, "reconnected, nothing lost", 5000);
    wait_output(outp[0], &len, &mark, "x: while-away", 5000);

    /* What it types after the resume goes out, once. */
    ck_assert(write(in[1], "/msg x typed\n", 13) == 13);
    tc_expect_msg(x, "n", "x", "typed", 5);
    close(in[1]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit %d:\n%s",
                  WEXITSTATUS(st), out);
    close(outp[0]);
    tc_close(x);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const TTest *const tests[] = {
        resume_after_cut,        lost_after_hold,
        sessions_off_at_the_daemon, msgsim_chaos,
        msgsim_daemon_stopped,   msgnode_resumes_after_idle_cut,
    };
    return run_suite("client_sessions", tests, sizeof tests / sizeof *tests);
}
