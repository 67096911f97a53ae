/* test_msgnode.c: integration tests of msgnode (msgnode(1)) against a
 * real msgd: one message with -t/-m and its exit statuses, commands from
 * a pipe (delivered before msgnode exits, received messages printed as
 * they come, unsafe bytes escaped), the interactive session in a
 * pseudo-terminal (the id prompt, full duplex without garbling the line
 * being typed), the server's reasons for a disconnect, keepalive PINGs
 * under a short idle_timeout, and a reload that lowers it sparing the
 * nodes told the old value.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct msgd_proc d;
static char port[16];
static char out[1 << 16];

static const char *msgnode_path(void)
{
    const char *p = getenv("MSGNODE");
    return p ? p : "src/msgnode";
}

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

/* msgnode -p <port> args... with stdin as the test's; output in out. */
static int node(const char *a1, const char *a2, const char *a3, const char *a4,
                const char *a5, const char *a6)
{
    const char *argv[] = {
        msgnode_path(), "-p", port, a1, a2, a3, a4, a5, a6, NULL};
    return prog_run(argv, out, sizeof out);
}

/* ---- a msgnode that runs while the test talks to it ---- */

struct kid {
    pid_t pid;
    int in;  /* its standard input (for a pty, the master) */
    int out; /* its standard output and error (for a pty, the master) */
    int pty;
    int in_closed;
    size_t len, mark; /* mark: where the next kid_expect looks from */
    char buf[1 << 18];
};

static void exec_node(const char *const *args)
{
    const char *argv[16] = {msgnode_path(), "-p", port};
    int n = 3;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

/* Standard input a pipe: the non-interactive mode. */
static struct kid *kid_pipe(const char *const *args)
{
    struct kid *k = calloc(1, sizeof *k);
    int in[2], outp[2];
    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(outp, O_CLOEXEC), 0);
    k->pid = fork();
    ck_assert_int_ge(k->pid, 0);
    if (k->pid == 0) {
        dup2(in[0], 0);
        dup2(outp[1], 1);
        dup2(outp[1], 2);
        exec_node(args);
    }
    close(in[0]);
    close(outp[1]);
    k->in = in[1];
    k->out = outp[0];
    return k;
}

/* A pseudo-terminal: the interactive mode, as a person would see it. */
static struct kid *kid_pty(const char *const *args)
{
    struct kid *k = calloc(1, sizeof *k);
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    int master;
    ck_assert_ptr_nonnull(k);
    k->pid = forkpty(&master, NULL, NULL, &ws);
    ck_assert_int_ge(k->pid, 0);
    if (k->pid == 0) {
        setenv("TERM", "xterm", 1);
        setenv("INPUTRC", "/dev/null", 1); /* no local key bindings */
        exec_node(args);
    }
    k->in = k->out = master;
    k->pty = 1;
    return k;
}

static void kid_write(struct kid *k, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(k->in, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        ck_assert_msg(w > 0, "write to msgnode: %s", strerror(errno));
        s += w;
        n -= (size_t)w;
    }
}

/* Reads more output: bytes read, 0 on timeout or end. */
static ssize_t kid_fill(struct kid *k, int timeout_ms)
{
    struct pollfd p = {.fd = k->out, .events = POLLIN};
    if (k->len + 1 >= sizeof k->buf || poll(&p, 1, timeout_ms) <= 0)
        return 0;
    ssize_t n = read(k->out, k->buf + k->len, sizeof k->buf - k->len - 1);
    if (n <= 0) /* a pty's master reads EIO once the child is gone */
        return 0;
    k->len += (size_t)n;
    k->buf[k->len] = '\0';
    return n;
}

/* The output so far, control bytes as '.', for failure messages. */
static const char *kid_shown(const struct kid *k)
{
    static char s[4096];
    size_t from = k->len > sizeof s - 1 ? k->len - (sizeof s - 1) : 0, n = 0;
    for (size_t i = from; i < k->len; i++)
        s[n++] = k->buf[i] < 0x20 && k->buf[i] != '\n' ? '.' : k->buf[i];
    s[n] = '\0';
    return s;
}

/* Waits until needle is in the output after the mark; returns where it
 * starts and moves the mark past it. */
static size_t kid_expect(struct kid *k, const char *needle, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    size_t n = strlen(needle);
    for (;;) {
        const char *hit = memmem(k->buf + k->mark, k->len - k->mark, needle, n);
        if (hit) {
            size_t at = (size_t)(hit - k->buf);
            k->mark = at + n;
            return at;
        }
        long left = deadline - now_ms();
        if (left <= 0 || kid_fill(k, (int)left) <= 0)
            break;
    }
    ck_abort_msg("msgnode did not print '%s'; it printed:\n%s", needle,
                 kid_shown(k));
    return 0;
}

/* Closes its input (end of input) unless keep_input, reads the rest of
 * its output and returns its exit status. */
static int kid_wait(struct kid *k, int keep_input, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    int st;
    if (!keep_input && !k->pty && !k->in_closed) {
        close(k->in);
        k->in_closed = 1;
    }
    while (waitpid(k->pid, &st, WNOHANG) == 0) {
        long left = deadline - now_ms();
        if (left <= 0) {
            kill(k->pid, SIGKILL);
            waitpid(k->pid, &st, 0);
            ck_abort_msg("msgnode did not exit; it printed:\n%s", kid_shown(k));
        }
        if (kid_fill(k, left < 50 ? (int)left : 50) == 0)
            usleep(1000);
    }
    while (kid_fill(k, 0) > 0)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void kid_free(struct kid *k)
{
    if (!k->in_closed)
        close(k->in);
    if (!k->pty)
        close(k->out);
    free(k);
}

/* Lets the kid run commands through its pipe and waits until msgnode has
 * registered: the reply to /who is printed only after OK. */
static void kid_ready(struct kid *k)
{
    kid_write(k, "/who\n");
    kid_expect(k, "nodes (", 5000);
}

/* ---- -t/-m ---- */

START_TEST(one_message_is_delivered)
{
    start(NULL);
    struct tc *b = tc_hello(d.port, "b");
    ck_assert_int_eq(node("-i", "a", "-t", "b", "-m", "hello there"), 0);
    ck_assert_str_eq(out, "");
    tc_expect_msg(b, "a", "b", "hello there", 11);
    /* It said QUIT and waited for BYE: a clean leave, not a dropped line. */
    ck_assert(log_wait(d.client_log, "disconnect", "reason", "quit", 5000));

    /* Without -i: an id of its own. */
    ck_assert_int_eq(node("-t", "b", "-m", "x", NULL, NULL), 0);
    const char *l = tc_line(b, 5000);
    ck_assert_ptr_nonnull(l);
    ck_assert_msg(strncmp(l, "MSG msgnode-", 12) == 0, "got '%s'", l);
    ck_assert(strstr(l, " b 1") != NULL);
    tc_expect(b, "x");

    /* -m alone: to everyone. */
    ck_assert_int_eq(node("-i", "a", "-m", "all of you", NULL, NULL), 0);
    tc_expect_msg(b, "a", "*", "all of you", 10);
    tc_sync(b);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(unknown_target_exits_1)
{
    start(NULL);
    ck_assert_int_eq(node("-i", "a", "-t", "nobody", "-m", "hi"), 1);
    ck_assert_str_eq(out, "msgnode: no such node: nobody\n");

    /* An id that is taken is a failure too, and says so. */
    struct tc *a = tc_hello(d.port, "a");
    ck_assert_int_eq(node("-i", "a", "-t", "x", "-m", "hi"), 1);
    ck_assert_msg(strstr(out, "that id is taken"), "got: %s", out);
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(unreachable_server_and_usage)
{
    /* A port nobody listens on: bind one, learn it, let it go. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sa, &len), 0);
    close(s);
    snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
    ck_assert_int_eq(node("-i", "a", "-t", "b", "-m", "hi"), 69);
    char want[64];
    snprintf(want, sizeof want,
             "msgnode: cannot connect to 127.0.0.1:%s: ", port);
    ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "got: %s", out);
    ck_assert(strstr(out, "refused") != NULL);
    /* Piped input needs the server just as much. */
    const char *argv[] = {
        "sh",           "-c", "echo hi | \"$0\" -p \"$1\" -i a",
        msgnode_path(), port, NULL};
    ck_assert_int_eq(prog_run(argv, out, sizeof out), 69);

    /* Usage errors: 64, before any connection is tried. */
    ck_assert_int_eq(node("-x", NULL, NULL, NULL, NULL, NULL), 64);
    ck_assert_str_eq(out,
                     "msgnode: unknown option '-x'\ntry 'msgnode --help'\n");
    ck_assert_int_eq(node("-t", "b", NULL, NULL, NULL, NULL), 64);
    ck_assert(strstr(out, "-t needs -m"));
    ck_assert_int_eq(node("-i", "no way!", "-m", "x", NULL, NULL), 64);
    ck_assert(strstr(out, "an id is 1-64 of A-Z a-z 0-9 . _ -"));
    ck_assert_int_eq(node("-t", "a b", "-m", "x", NULL, NULL), 64);
    ck_assert_int_eq(node("extra", NULL, NULL, NULL, NULL, NULL), 64);
    ck_assert_int_eq(node("-p", "http", "-m", "x", NULL, NULL), 64);
    ck_assert_int_eq(node("-V", NULL, NULL, NULL, NULL, NULL), 0);
    ck_assert(strncmp(out, "msgnode ", 8) == 0);
    ck_assert_int_eq(node("-h", NULL, NULL, NULL, NULL, NULL), 0);
    ck_assert(strncmp(out, "usage: msgnode", 14) == 0);
    ck_assert_int_eq(node("--version", NULL, NULL, NULL, NULL, NULL), 0);
    ck_assert(strncmp(out, "msgnode ", 8) == 0);
    ck_assert_int_eq(node("--help", NULL, NULL, NULL, NULL, NULL), 0);
    ck_assert(strncmp(out, "usage: msgnode", 14) == 0);
}
END_TEST

/* ---- commands from a pipe ---- */

START_TEST(piped_commands_delivered_before_exit)
{
    start(NULL);
    struct tc *b = tc_hello(d.port, "b");
    const char *args[] = {"-i", "a", NULL};
    struct kid *k = kid_pipe(args);
    kid_write(k, "/msg b hi\nhello all\n/who\n");
    ck_assert_int_eq(kid_wait(k, 0, 10000), 0);
    ck_assert_msg(strstr(k->buf, "nodes (2): b a\n"), "got: %s", k->buf);
    /* By the time it exited, both were routed, in order. */
    tc_expect_msg(b, "a", "b", "hi", 2);
    tc_expect_msg(b, "a", "*", "hello all", 9);
    tc_sync(b);
    ck_assert(log_wait(d.client_log, "disconnect", "reason", "quit", 5000));
    kid_free(k);

    /* Many commands, the last without its LF: none is lost, all in order,
     * though msgnode reaches the end of its input long before the server
     * has routed them. */
    k = kid_pipe(args);
    char line[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(line, sizeof line, "/msg b  n%d%s", i, i < 4999 ? "\n" : "");
        kid_write(k, line);
    }
    ck_assert_int_eq(kid_wait(k, 0, 20000), 0);
    for (int i = 0; i < 5000; i++) {
        snprintf(line, sizeof line, "n%d", i);
        tc_expect_msg(b, "a", "b", line, strlen(line));
    }
    tc_sync(b);
    kid_free(k);

    /* A refused command makes the exit status 1; the rest still goes. */
    k = kid_pipe(args);
    kid_write(k, "/msg nobody x\n/bogus\n/msg b after\n");
    ck_assert_int_eq(kid_wait(k, 0, 10000), 1);
    ck_assert_msg(strstr(k->buf, "msgnode: no such node: nobody\n"), "got: %s",
                  k->buf);
    ck_assert(strstr(k->buf, "msgnode: unknown command: /bogus"));
    tc_expect_msg(b, "a", "b", "after", 5);
    kid_free(k);

    /* /quit ends the input; what follows is not run. */
    k = kid_pipe(args);
    kid_write(k, "/msg b one\n/quit\n/msg b two\n");
    ck_assert_int_eq(kid_wait(k, 1, 10000), 0);
    tc_expect_msg(b, "a", "b", "one", 3);
    tc_sync(b);
    kid_free(k);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(piped_mode_prints_messages_as_they_come)
{
    start(NULL);
    struct tc *x = tc_hello(d.port, "x");
    const char *args[] = {"-i", "a", NULL};
    struct kid *k = kid_pipe(args);
    kid_ready(k);
    /* Printed while its input is still open: as they come. */
    tc_sendf(x, "SEND a 5\nhello\n");
    kid_expect(k, "\nx: hello\n", 5000);
    tc_sendf(x, "BCAST 6\nto all\n");
    kid_expect(k, "x (all): to all\n", 5000);
    /* Bytes a terminal would act on are shown escaped, never raw. */
    tc_sendf(x, "SEND a 15\nbell\a\033[31mX\\y\nz\n");
    kid_expect(k, "x: bell\\x07\\x1b[31mX\\\\y\\nz\n", 5000);
    ck_assert_ptr_null(memchr(k->buf, '\033', k->len));
    ck_assert_ptr_null(memchr(k->buf, '\a', k->len));
    /* An empty message is a message. */
    tc_sendf(x, "SEND a 0\n\n");
    kid_expect(k, "x: \n", 5000);
    ck_assert_int_eq(kid_wait(k, 0, 10000), 0);
    kid_free(k);
    tc_close(x);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* ---- the interactive session ---- */

START_TEST(id_taken_or_invalid_asks_again)
{
    start(NULL);
    struct tc *alice = tc_hello(d.port, "alice");
    const char *none[] = {NULL};
    struct kid *k = kid_pty(none);
    kid_expect(k, "id: ", 5000);
    kid_write(k, "alice\r");
    kid_expect(k, "that id is taken", 5000);
    kid_expect(k, "id: ", 5000);
    kid_write(k, "no way!\r");
    kid_expect(k, "an id is 1-64 of A-Z a-z 0-9 . _ -", 5000);
    kid_expect(k, "id: ", 5000);
    kid_write(k, "carol\r");
    kid_expect(k, "carol> ", 5000);
    tc_sendf(alice, "WHO\n");
    tc_expect(alice, "NODES 2");
    tc_expect(alice, "NODE alice");
    tc_expect(alice, "NODE carol");
    kid_write(k, "\004"); /* Ctrl-D */
    ck_assert_int_eq(kid_wait(k, 0, 10000), 0);
    kid_free(k);
    ck_assert(log_wait(d.client_log, "disconnect", "reason", "quit", 5000));

    /* A taken id given with -i: the same question. */
    const char *args[] = {"-i", "alice", NULL};
    k = kid_pty(args);
    kid_expect(k, "that id is taken", 5000);
    kid_expect(k, "id: ", 5000);
    kid_write(k, "dave\r");
    kid_expect(k, "dave> ", 5000);
    kid_write(k, "/quit\r");
    ck_assert_int_eq(kid_wait(k, 0, 10000), 0);
    kid_free(k);
    tc_close(alice);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(interactive_full_duplex_keeps_the_typed_line)
{
    start(NULL);
    struct tc *bob = tc_hello(d.port, "bob");
    const char *args[] = {"-i", "alice", NULL};
    struct kid *k = kid_pty(args);
    kid_expect(k, "alice> ", 5000);

    /* Half a line typed, no Enter yet. */
    kid_write(k, "hello wor");
    size_t typed = kid_expect(k, "hello wor", 5000);
    tc_sendf(bob, "SEND alice 5\nping!\n");
    size_t msg = kid_expect(k, "bob: ping!", 5000);
    /* The message went to the start of a line, not after the typing ... */
    ck_assert_ptr_nonnull(memchr(k->buf + typed, '\r', msg - typed));
    /* ... and the prompt and the half line came back below it. */
    kid_expect(k, "alice> ", 5000);
    kid_expect(k, "hello wor", 5000);

    kid_write(k, "ld\r");
    tc_expect_msg(bob, "alice", "*", "hello world", 11);
    kid_write(k, "/msg bob just you\r");
    tc_expect_msg(bob, "alice", "bob", "just you", 8);
    tc_sendf(bob, "BCAST 3\nall\n");
    kid_expect(k, "bob (all): all", 5000);
    kid_write(k, "/who\r");
    kid_expect(k, "nodes (2): bob alice", 5000);
    kid_write(k, "/msg nobody x\r");
    kid_expect(k, "no such node: nobody", 5000);
    kid_write(k, "/help\r");
    kid_expect(k, "/msg ID TEXT", 5000);
    kid_write(k, "//slash\r");
    tc_expect_msg(bob, "alice", "*", "/slash", 6);
    kid_write(k, "/quit\r");
    ck_assert_int_eq(kid_wait(k, 0, 10000), 0);
    kid_free(k);
    tc_close(bob);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* ---- disconnects and keepalive ---- */

START_TEST(server_reasons_are_plain)
{
    start("duplicate_id = \"replace\";");
    const char *args[] = {"-i", "a", NULL};

    struct kid *k = kid_pipe(args);
    kid_ready(k);
    const char *kick[] = {msgctl_path(), "-s",          d.admin_socket, "kick",
                          "a",           "maintenance", "window",       NULL};
    ck_assert_int_eq(prog_run(kick, out, sizeof out), 0);
    kid_expect(
        k, "msgnode: disconnected: kicked by the operator (maintenance window)",
        5000);
    ck_assert_int_eq(kid_wait(k, 1, 10000), 1);
    kid_free(k);

    k = kid_pipe(args);
    kid_ready(k);
    struct tc *a = tc_hello(d.port, "a");
    kid_expect(k, "msgnode: disconnected: another client took this id", 5000);
    ck_assert_int_eq(kid_wait(k, 1, 10000), 1);
    kid_free(k);
    tc_close(a);

    /* In the terminal, plainly too. */
    k = kid_pty(args);
    kid_expect(k, "a> ", 5000);
    ck_assert_int_eq(msgd_stop(&d), 0);
    kid_expect(k, "disconnected: the server is shutting down", 5000);
    ck_assert_int_eq(kid_wait(k, 0, 10000), 1);
    kid_free(k);
}
END_TEST

START_TEST(keeps_itself_alive)
{
    start("idle_timeout = 1;");
    struct tc *lazy = tc_hello(d.port, "lazy");
    const char *args[] = {"-i", "a", NULL};
    struct kid *k = kid_pipe(args);
    kid_ready(k);
    /* The policy is in force: a silent raw node goes ... */
    tc_expect(lazy, "BYE idle-timeout");
    tc_close(lazy);
    /* ... msgnode, silent too, stays. */
    usleep(3000 * 1000);
    struct tc *x = tc_hello(d.port, "x");
    tc_sendf(x, "SEND a 5\nstill\n");
    kid_expect(k, "x: still", 5000);
    ck_assert_ptr_null(strstr(k->buf, "disconnected"));
    ck_assert_int_eq(kid_wait(k, 0, 10000), 0);
    kid_free(k);
    tc_close(x);

    /* Someone slow at the id prompt: the server drops the unregistered
     * connection, msgnode quietly makes a new one. */
    const char *none[] = {NULL};
    k = kid_pty(none);
    kid_expect(k, "id: ", 5000);
    usleep(2500 * 1000);
    kid_write(k, "late\r");
    kid_expect(k, "late> ", 5000);
    usleep(2500 * 1000); /* and, registered, it keeps itself alive */
    kid_write(k, "/who\r");
    kid_expect(k, "nodes (1): late", 5000);
    kid_write(k, "/quit\r");
    ck_assert_int_eq(kid_wait(k, 0, 10000), 0);
    kid_free(k);

    /* Stopped, it cannot PING: evicted, it says so plainly when it runs
     * again (the server keeps the connection 2 s after its BYE). */
    const char *b_args[] = {"-i", "b", NULL};
    k = kid_pipe(b_args);
    kid_ready(k);
    kill(k->pid, SIGSTOP);
    ck_assert(log_wait(d.client_log, "disconnect", "node", "b", 5000));
    kill(k->pid, SIGCONT);
    kid_expect(k, "msgnode: disconnected: idle for too long", 5000);
    ck_assert_int_eq(kid_wait(k, 1, 10000), 1);
    kid_free(k);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* Lowering idle_timeout by a reload: nodes connected before keep the value
 * their OK announced (they PING at a fraction of it), so none is cut off;
 * a node that registers afterwards is told, and held to, the new one. */
START_TEST(reload_lowering_idle_spares_connected_nodes)
{
    start("idle_timeout = 3600;");
    const char *ids[3][3] = {
        {"-i", "n1", NULL}, {"-i", "n2", NULL}, {"-i", "n3", NULL}};
    struct kid *k[3];
    for (int i = 0; i < 3; i++) {
        k[i] = kid_pipe(ids[i]);
        kid_ready(k[i]);
    }
    struct tc *raw = tc_open(d.port);
    tc_sendf(raw, "HELLO raw\n");
    tc_expect(raw, "OK raw idle=3600 max=65536");

    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "sed -i 's/idle_timeout = 3600;/idle_timeout = 1;/' '%s'", d.conf);
    ck_assert_int_eq(system(cmd), 0);
    const char *reload[] = {msgctl_path(), "-s", d.admin_socket, "reload",
                            NULL};
    ck_assert_int_eq(prog_run(reload, out, sizeof out), 0);

    /* A node registering now is told the new value and held to it. */
    struct tc *fresh = tc_open(d.port);
    tc_sendf(fresh, "HELLO fresh\n");
    tc_expect(fresh, "OK fresh idle=1 max=65536");
    const char *late[] = {"-i", "late", NULL};
    struct kid *n = kid_pipe(late);
    kid_ready(n);
    tc_expect(fresh, "BYE idle-timeout");
    tc_close(fresh);

    /* Three times the new value later, every earlier node is still there,
     * and so is the new msgnode, which PINGs at a fraction of its idle=1. */
    usleep(3000 * 1000);
    tc_sendf(raw, "WHO\n");
    tc_expect(raw, "NODES 5");
    ck_assert_int_eq(
        log_count(d.client_log, "disconnect", "reason", "idle-timeout"), 1);
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(strstr(k[i]->buf, "disconnected"));
        ck_assert_int_eq(kid_wait(k[i], 0, 10000), 0);
        kid_free(k[i]);
    }
    ck_assert_ptr_null(strstr(n->buf, "disconnected"));
    ck_assert_int_eq(kid_wait(n, 0, 10000), 0);
    kid_free(n);
    tc_close(raw);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        one_message_is_delivered,
        unknown_target_exits_1,
        unreachable_server_and_usage,
        piped_commands_delivered_before_exit,
        piped_mode_prints_messages_as_they_come,
        id_taken_or_invalid_asks_again,
        interactive_full_duplex_keeps_the_typed_line,
        server_reasons_are_plain,
        keeps_itself_alive,
        reload_lowering_idle_spares_connected_nodes,
    };
    return run_suite("msgnode", tests, sizeof tests / sizeof *tests);
}
