/* test_daemon.c: integration tests of msgd as a daemon (SPEC section 3):
 * background start with a readiness pipe, the pidfile lock, stale and
 * second instances, a port in use, and the signals: TERM with nodes
 * connected, HUP after logrotate, HUP with changed and broken files, USR1. */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static struct msgd_proc d;
static char out[8192];

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start_daemon(const char *extra)
{
    msgd_write_conf(&d, extra);
    int rc = msgd_start_daemon(&d, out, sizeof out);
    ck_assert_msg(rc == 0, "launcher exit %d: %s", rc, out);
    ck_assert_str_eq(out, ""); /* a quiet success */
}

static void fd_is_devnull(int pid, int fd)
{
    char path[64], target[256];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    ck_assert_int_gt(n, 0);
    target[n] = '\0';
    ck_assert_str_eq(target, "/dev/null");
}

static int ppid_of(int pid)
{
    char path[64], line[256];
    int ppid = -1;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "PPid: %d", &ppid) == 1)
            break;
    fclose(f);
    return ppid;
}

START_TEST(background_start_is_ready)
{
    start_daemon(NULL);
    /* The launcher has returned: a connection must work at once. */
    struct tc *a = tc_hello(d.port, "a");
    ck_assert(msgd_alive(&d));
    ck_assert_int_ne(ppid_of(d.pid), getpid());
    for (int fd = 0; fd < 3; fd++)
        fd_is_devnull(d.pid, fd);
    char cwd[64], target[64];
    snprintf(cwd, sizeof cwd, "/proc/%d/cwd", d.pid);
    ssize_t n = readlink(cwd, target, sizeof target - 1);
    target[n > 0 ? n : 0] = '\0';
    ck_assert_str_eq(target, "/");
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
    ck_assert_int_ne(access(d.pidfile, F_OK), 0); /* removed */
}
END_TEST

START_TEST(second_instance_refused)
{
    start_daemon(NULL);
    const char *argv[] = {"msgd", "-c", d.conf, NULL};
    ck_assert_int_eq(msgd_run(argv, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "already running"), "got: %s", out);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %d", d.pid);
    ck_assert_msg(strstr(out, pid), "got: %s", out);
    /* A foreground one is refused too, and the first keeps serving. */
    const char *fg[] = {"msgd", "-f", "-c", d.conf, NULL};
    ck_assert_int_eq(msgd_run(fg, out, sizeof out), 1);
    ck_assert(strstr(out, "already running"));
    struct tc *a = tc_hello(d.port, "a");
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(stale_pidfile_taken_over)
{
    msgd_write_conf(&d, NULL);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/run && echo 999999 > %s", d.dir,
             d.pidfile);
    ck_assert_int_eq(system(cmd), 0);
    int rc = msgd_start_daemon(&d, out, sizeof out);
    ck_assert_msg(rc == 0, "launcher exit %d: %s", rc, out);
    ck_assert_int_ne(d.pid, 999999);
    ck_assert(msgd_alive(&d));
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(port_in_use_fails_fast)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(s, 1), 0);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    char extra[64];
    snprintf(extra, sizeof extra, "listen = [ \"127.0.0.1:%d\" ];",
             ntohs(a.sin_port));
    msgd_write_conf(&d, extra);
    long t0 = now_ms();
    ck_assert_int_eq(msgd_start_daemon(&d, out, sizeof out), 1);
    ck_assert_int_lt(now_ms() - t0, 5000);
    ck_assert_msg(strstr(out, "Address already in use"), "got: %s", out);
    ck_assert_int_ne(access(d.pidfile, F_OK), 0); /* no pidfile left */
    close(s);
}
END_TEST

START_TEST(bad_config_fails_with_line)
{
    msgd_write_conf(&d, "max_nodes = \"many\";");
    ck_assert_int_eq(msgd_start_daemon(&d, out, sizeof out), 1);
    char want[400];
    snprintf(want, sizeof want, "%s:6: 'max_nodes' must be an integer", d.conf);
    ck_assert_msg(strstr(out, want), "got: %s", out);
}
END_TEST

/* msgd -t refuses what a start would, at the setting's FILE:LINE; a
 * mistyped name gets a guess. */
START_TEST(check_refuses_what_start_would)
{
    static const struct {
        const char *line;
        const char *says;
    } cases[] = {
        {"user = \"no-such-user-q7\";",
         "'user' \"no-such-user-q7\": no such user"},
        {"group = \"no-such-group-q7\";",
         "'group' \"no-such-group-q7\": no such group"},
        {"listen = [\"127.0.0.1:0\", \"no-such-host.invalid:2004\"];",
         "'listen' entry \"no-such-host.invalid:2004\": host "
         "no-such-host.invalid: "},
        {"listen = \"127.0.0.1:70000\";",
         "'listen' entry \"127.0.0.1:70000\": port 70000 out of range "
         "(0-65535)"},
        {"idle_timout = 3;",
         "unknown setting 'idle_timout' (did you mean 'idle_timeout'?)"},
    };
    msgd_write_conf(&d, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FILE *f = fopen(d.conf, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "log_level = \"info\";\n\n%s\n", cases[i].line);
        fclose(f);
        const char *argv[] = {"msgd", "-t", "-c", d.conf, NULL};
        ck_assert_int_eq(msgd_run(argv, out, sizeof out), 1);
        char want[600];
        snprintf(want, sizeof want, "%s:3: %s", d.conf, cases[i].says);
        ck_assert_msg(strstr(out, want), "want: %s\ngot: %s", want, out);
    }
    /* An address that does not resolve: the start refuses it too. */
    msgd_write_conf(&d, "listen = \"no-such-host.invalid:2004\";");
    ck_assert_int_eq(msgd_start_daemon(&d, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "no-such-host.invalid"), "got: %s", out);
}
END_TEST

START_TEST(sigterm_with_nodes)
{
    start_daemon(NULL);
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    tc_sendf(a, "SEND b 2\nhi\n");
    tc_sync(a);
    kill(d.pid, SIGTERM);
    tc_expect_msg(b, "a", "b", "hi", 2); /* pending output is flushed */
    tc_expect(b, "BYE shutdown");
    tc_expect(a, "BYE shutdown");
    ck_assert(tc_eof(a, 5000));
    ck_assert_int_eq(msgd_stop(&d), 0);
    ck_assert(log_wait(d.server_log, "stop", "reason", "SIGTERM", 0));
    ck_assert_int_ne(access(d.pidfile, F_OK), 0);
    tc_close(a);
    tc_close(b);
}
END_TEST

START_TEST(sighup_after_logrotate)
{
    start_daemon(NULL);
    struct tc *a = tc_hello(d.port, "a");
    char moved_s[400], moved_c[400];
    snprintf(moved_s, sizeof moved_s, "%s.1", d.server_log);
    snprintf(moved_c, sizeof moved_c, "%s.1", d.client_log);
    ck_assert_int_eq(rename(d.server_log, moved_s), 0);
    ck_assert_int_eq(rename(d.client_log, moved_c), 0);
    kill(d.pid, SIGHUP);
    ck_assert(log_wait(d.server_log, "log-reopen", "result", "ok", 5000));
    ck_assert(log_wait(d.server_log, "reload", "result", "ok", 5000));
    struct tc *b = tc_hello(d.port, "b");
    ck_assert(log_wait(d.client_log, "register", "node", "b", 5000));
    /* The old files hold whole lines only, and the new ones go on. */
    log_check_all(moved_s);
    log_check_all(moved_c);
    ck_assert(log_wait(moved_c, "register", "node", "a", 0));
    tc_close(a);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
    log_check_all(d.server_log);
}
END_TEST

START_TEST(sigusr1_reopens_only)
{
    start_daemon(NULL);
    char moved[400];
    snprintf(moved, sizeof moved, "%s.1", d.server_log);
    ck_assert_int_eq(rename(d.server_log, moved), 0);
    kill(d.pid, SIGUSR1);
    ck_assert(log_wait(d.server_log, "log-reopen", "result", "ok", 5000));
    ck_assert(!log_wait(d.server_log, "reload", NULL, NULL, 300));
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(sighup_broken_file_keeps_settings)
{
    start_daemon("idle_timeout = 42;");
    FILE *f = fopen(d.conf, "a");
    fprintf(f, "max_nodes = ;\n");
    fclose(f);
    kill(d.pid, SIGHUP);
    ck_assert(log_wait(d.server_log, "reload", "result", "error", 5000));
    char want[400];
    snprintf(want, sizeof want, "%s:7: ", d.conf);
    ck_assert(file_contains(d.server_log, want));
    struct tc *a = tc_open(d.port);
    tc_sendf(a, "HELLO a\n");
    tc_expect(a, "OK a idle=42 max=65536"); /* the running settings stayed */
    tc_close(a);
    ck_assert(msgd_alive(&d));
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(sighup_changed_settings_and_listen)
{
    start_daemon("idle_timeout = 42;\nmax_nodes = 1;");
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "sed -i 's/idle_timeout = 42;/idle_timeout = 7;/; "
             "s/max_nodes = 1;/max_nodes = 2;/; "
             "s/127.0.0.1:0/127.0.0.1:1/' '%s'",
             d.conf);
    ck_assert_int_eq(system(cmd), 0);
    kill(d.pid, SIGHUP);
    ck_assert(log_wait(d.server_log, "reload", "result", "ok", 5000));
    ck_assert(file_contains(d.server_log, "restart"));
    struct tc *a = tc_open(d.port); /* still on the old address */
    tc_sendf(a, "HELLO a\n");
    tc_expect(a, "OK a idle=7 max=65536");
    struct tc *b = tc_hello(d.port, "b"); /* max_nodes is now 2 */
    tc_close(a);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(systemd_notify_ready)
{
    char path[] = "/tmp/msgd-notify-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(path));
    char sock[96];
    snprintf(sock, sizeof sock, "%s/notify", path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    setenv("NOTIFY_SOCKET", sock, 1);
    msgd_start(&d, NULL); /* -f, as systemd runs it */
    unsetenv("NOTIFY_SOCKET");
    char buf[64] = {0};
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ck_assert_int_eq(recv(fd, buf, sizeof buf - 1, 0), 7);
    ck_assert_str_eq(buf, "READY=1");
    struct tc *a = tc_hello(d.port, "a"); /* ready meant listening */
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
    close(fd);
}
END_TEST

START_TEST(drops_privileges)
{
    if (geteuid() != 0)
        return; /* only root can drop */
    struct passwd *pw = getpwnam("nobody");
    ck_assert_ptr_nonnull(pw);
    msgd_write_conf(&d, "user = \"nobody\";");
    chmod(d.dir, 0755); /* mkdtemp's 0700 would lock nobody out */
    int rc = msgd_start_daemon(&d, out, sizeof out);
    ck_assert_msg(rc == 0, "launcher exit %d: %s", rc, out);
    char path[64], line[256];
    int uid = -1;
    snprintf(path, sizeof path, "/proc/%d/status", d.pid);
    FILE *f = fopen(path, "r");
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Uid: %*d %d", &uid) == 1)
            break;
    fclose(f);
    ck_assert_int_eq(uid, (int)pw->pw_uid);
    /* It still writes its logs after a rotation, and cleans up at exit. */
    char moved[400];
    snprintf(moved, sizeof moved, "%s.1", d.client_log);
    ck_assert_int_eq(rename(d.client_log, moved), 0);
    kill(d.pid, SIGUSR1);
    ck_assert(log_wait(d.server_log, "log-reopen", "result", "ok", 5000));
    struct tc *a = tc_hello(d.port, "a");
    ck_assert(log_wait(d.client_log, "register", "node", "a", 5000));
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
    ck_assert_int_ne(access(d.pidfile, F_OK), 0);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        background_start_is_ready,
        second_instance_refused,
        stale_pidfile_taken_over,
        port_in_use_fails_fast,
        bad_config_fails_with_line,
        check_refuses_what_start_would,
        sigterm_with_nodes,
        sighup_after_logrotate,
        sigusr1_reopens_only,
        sighup_broken_file_keeps_settings,
        sighup_changed_settings_and_listen,
        systemd_notify_ready,
        drops_privileges,
    };
    return run_suite("daemon", tests, sizeof tests / sizeof *tests);
}
