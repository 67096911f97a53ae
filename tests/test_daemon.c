/* test_daemon.c: integration tests of msgd as a daemon: background start
 * with a readiness pipe, the pidfile lock, stale and second instances, a
 * port in use, the signals (TERM with nodes connected, HUP after
 * logrotate, HUP with changed and broken files, USR1), the privilege drop,
 * and its files: links and other files planted where they go refused;
 * a descriptor the kernel will not watch makes the start fail.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
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

/* The low 32 bits of a system call's argument n, where BPF loads them. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LO(n) (offsetof(struct seccomp_data, args[n]))
#else
#define ARG_LO(n) (offsetof(struct seccomp_data, args[n]) + 4)
#endif

/* Has the kernel refuse, with ENOSPC (what a full max_user_watches gives),
 * every EPOLL_CTL_ADD of a descriptor numbered above epfd + skip, in this
 * process and what it starts: a real refusal, for this process only (the
 * watch limit itself is machine-wide).  msgd makes its epoll set, then at
 * once the signalfd, the listening socket and the admin socket, on the
 * lowest free descriptors, so skip 0 refuses the signalfd, 1 the
 * listener, 2 the admin socket. */
static int refuse_watches(unsigned skip)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_epoll_ctl, 0, 7),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, EPOLL_CTL_ADD, 0, 5),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0)),
        BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, skip),
        BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_X, 0, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSPC),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof *f, .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* Starts msgd in the background with the watches refused as above;
 * returns the launcher's exit status, with what it said in out. */
static int start_refusing_watches(unsigned skip)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[0]);
        if (refuse_watches(skip) < 0)
            _exit(125);
        int rc = msgd_start_daemon(&d, out, sizeof out);
        (void)!write(pfd[1], out, strlen(out));
        _exit(rc);
    }
    close(pfd[1]);
    size_t len = 0;
    ssize_t n;
    while (len < sizeof out - 1 &&
           (n = read(pfd[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(pfd[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

START_TEST(unwatched_descriptor_refuses_start)
{
    static const char *const want[] = {
        "signalfd: cannot watch it: No space left on device",
        "listen 127.0.0.1:0: cannot watch the socket: No space left on device",
        "cannot watch it: No space left on device", /* the admin socket */
    };
    for (unsigned skip = 0; skip < 3; skip++) {
        msgd_write_conf(&d, NULL);
        int rc = start_refusing_watches(skip);
        if (rc == 0) {
            /* A deaf daemon (signals reach it through the signalfd): it
             * must not outlive the failed test. */
            FILE *f = fopen(d.pidfile, "r");
            int pid = 0;
            if (f && fscanf(f, "%d", &pid) == 1 && pid > 0)
                kill(pid, SIGKILL);
            if (f)
                fclose(f);
        }
        ck_assert_int_ne(rc, 125); /* the filter is in place */
        ck_assert_msg(rc == 1, "skip %u: launcher exit %d: %s", skip, rc, out);
        ck_assert_msg(strstr(out, want[skip]), "skip %u: got: %s", skip, out);
        if (skip == 2)
            ck_assert_msg(strstr(out, "admin socket "), "got: %s", out);
        /* The launcher returns once told of the failure, which may be just
         * before the daemon removes its pidfile on the way out. */
        for (int i = 0; i < 200 && access(d.pidfile, F_OK) == 0; i++)
            usleep(10000);
        ck_assert_msg(access(d.pidfile, F_OK) != 0, "skip %u: pidfile left",
                      skip);
    }
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

/* Runs cmd with sh as nobody, as whoever shares the service user could. */
static int as_nobody(const char *cmd)
{
    struct passwd *pw = getpwnam("nobody");
    ck_assert_ptr_nonnull(pw);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 ||
            setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
            _exit(126);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A root-owned file that a planted link points msgd at. */
struct victim {
    char path[400];
    struct stat st;
};

#define VICTIM_TEXT "root's own\n"

static void victim_make(struct victim *v, const char *dir, const char *name)
{
    snprintf(v->path, sizeof v->path, "%s/%s", dir, name);
    FILE *f = fopen(v->path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(VICTIM_TEXT, f);
    fclose(f);
    ck_assert_int_eq(chmod(v->path, 0600), 0);
    ck_assert_int_eq(stat(v->path, &v->st), 0);
}

/* Content, owner and mode as made. */
static void victim_same(const struct victim *v)
{
    struct stat st;
    char buf[64] = {0};
    ck_assert_int_eq(stat(v->path, &st), 0);
    ck_assert_int_eq(st.st_uid, v->st.st_uid);
    ck_assert_int_eq(st.st_gid, v->st.st_gid);
    ck_assert_int_eq(st.st_mode, v->st.st_mode);
    FILE *f = fopen(v->path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    ck_assert_msg(n == strlen(VICTIM_TEXT) && strcmp(buf, VICTIM_TEXT) == 0,
                  "%s now holds: %s", v->path, buf);
}

static void expect_refusal(const char *what, const char *path, const char *why)
{
    char want[800];
    ck_assert_int_eq(msgd_start_daemon(&d, out, sizeof out), 1);
    snprintf(want, sizeof want, "%s %s: %s", what, path, why);
    ck_assert_msg(strstr(out, want), "want \"%s\", got: %s", want, out);
}

/* The repro: msgd runs as nobody, and nobody, who owns the
 * directories msgd made for its files, plants links to root's files
 * there for the next start as root. */
START_TEST(planted_links_refused)
{
    if (geteuid() != 0 || getpwnam("nobody") == NULL) {
        fprintf(stderr, "planted_links_refused: skipped (needs root and "
                        "the user nobody)\n");
        return;
    }
    msgd_write_conf(&d, "user = \"nobody\";");
    chmod(d.dir, 0755); /* mkdtemp's 0700 would lock nobody out */
    int rc = msgd_start_daemon(&d, out, sizeof out);
    ck_assert_msg(rc == 0, "launcher exit %d: %s", rc, out);
    ck_assert_int_eq(msgd_stop(&d), 0);

    char dir[400], cmd[2048];
    snprintf(dir, sizeof dir, "%s/victims", d.dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    struct victim vs, vc, vp, va;
    victim_make(&vs, dir, "server");
    victim_make(&vc, dir, "client");
    victim_make(&vp, dir, "pid");
    victim_make(&va, dir, "sock");

    snprintf(cmd, sizeof cmd, "ln -sf '%s' '%s' && ln -sf '%s' '%s'", vs.path,
             d.server_log, vc.path, d.client_log);
    ck_assert_int_eq(as_nobody(cmd), 0);
    expect_refusal("server_log", d.server_log,
                   "is a symbolic link, refusing to follow it");
    snprintf(cmd, sizeof cmd, "rm '%s' '%s' && ln -sf '%s' '%s'", d.server_log,
             d.client_log, vp.path, d.pidfile);
    ck_assert_int_eq(as_nobody(cmd), 0);
    expect_refusal("pidfile", d.pidfile,
                   "is a symbolic link, refusing to follow it");
    snprintf(cmd, sizeof cmd, "rm '%s' && ln -sf '%s' '%s'", d.pidfile, va.path,
             d.admin_socket);
    ck_assert_int_eq(as_nobody(cmd), 0);
    expect_refusal("admin socket", d.admin_socket,
                   "exists and is not a socket");
    /* A second name for root's file: made by root here, as
     * fs.protected_hardlinks keeps nobody from it on most systems. */
    snprintf(cmd, sizeof cmd, "rm '%s' '%s'", d.admin_socket, d.server_log);
    ck_assert_int_eq(as_nobody(cmd), 0);
    ck_assert_int_eq(link(vs.path, d.server_log), 0);
    expect_refusal("server_log", d.server_log,
                   "has more than one hard link, refusing to write to it");
    ck_assert_int_eq(unlink(d.server_log), 0);

    victim_same(&vs);
    victim_same(&vc);
    victim_same(&vp);
    victim_same(&va);
    /* With the plants gone, it starts again. */
    rc = msgd_start_daemon(&d, out, sizeof out);
    ck_assert_msg(rc == 0, "launcher exit %d: %s", rc, out);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* Pokes the loop (a PING) until server_log has a line of event ev with
 * key=val, or a while has passed: a retry happens in a loop pass. */
static int poke_until(struct tc *c, const char *ev, const char *key,
                      const char *val)
{
    for (int i = 0; i < 500; i++) {
        tc_sync(c);
        if (log_wait(d.server_log, ev, key, val, 20))
            return 1;
    }
    return 0;
}

/* SIGUSR1 reopens with the same care: a link put where logrotate moved
 * the log from is refused.  Nothing more goes into the rotated file:
 * lines are dropped, counted, and the reopen retried until it works. */
START_TEST(reopen_refuses_planted_link)
{
    start_daemon(NULL);
    struct victim v;
    victim_make(&v, d.dir, "victim");
    char moved[400];
    snprintf(moved, sizeof moved, "%s.1", d.client_log);
    ck_assert_int_eq(rename(d.client_log, moved), 0);
    ck_assert_int_eq(symlink(v.path, d.client_log), 0);
    kill(d.pid, SIGUSR1);
    ck_assert(log_wait(d.server_log, "log-reopen", "result", "error", 5000));
    ck_assert(file_contains(d.server_log,
                            "is a symbolic link, refusing to follow it"));
    struct tc *a = tc_hello(d.port, "a");
    tc_sync(a); /* the pass that logged the register is over */
    ck_assert_int_eq(log_count(moved, "register", "node", "a"), 0);
    ck_assert_int_eq(unlink(d.client_log), 0);
    ck_assert(poke_until(a, "log-reopen", "stream", "client_log"));
    struct tc *b = tc_hello(d.port, "b");
    ck_assert(log_wait(d.client_log, "register", "node", "b", 5000));
    ck_assert(poke_until(a, "warning", "stream", "client_log"));
    ck_assert_int_ge(
        log_sum(d.server_log, "warning", "stream", "client_log", "lost"), 1);
    tc_close(a);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
    victim_same(&v);
}
END_TEST

/* The repro: msgd dropped to nobody, and its log directory is
 * root's (as systemd's LogsDirectory= makes it for a unit without
 * User=).  msgd refuses to start, and -t says so, naming the directory. */
START_TEST(root_log_dir_refused_for_service_user)
{
    if (geteuid() != 0 || getpwnam("nobody") == NULL) {
        fprintf(stderr, "root_log_dir_refused_for_service_user: skipped "
                        "(needs root and the user nobody)\n");
        return;
    }
    msgd_write_conf(&d, "user = \"nobody\";");
    chmod(d.dir, 0755);
    char dir[400], want[1000];
    snprintf(dir, sizeof dir, "%s/log", d.dir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(want, sizeof want,
             "server_log %s: user nobody cannot write to directory %s",
             d.server_log, dir);
    ck_assert_int_eq(msgd_start_daemon(&d, out, sizeof out), 1);
    ck_assert_msg(strstr(out, want), "want \"%s\", got: %s", want, out);
    ck_assert_msg(strstr(out, "chown nobody:"), "got: %s", out);
    const char *argv[] = {"msgd", "-t", "-c", d.conf, NULL};
    ck_assert_int_eq(msgd_run(argv, out, sizeof out), 1);
    ck_assert_msg(strstr(out, want), "want \"%s\", got: %s", want, out);
    /* Given to the service user, the directory does. */
    struct passwd *pw = getpwnam("nobody");
    ck_assert_int_eq(chown(dir, pw->pw_uid, pw->pw_gid), 0);
    ck_assert_int_eq(msgd_run(argv, out, sizeof out), 0);
    int rc = msgd_start_daemon(&d, out, sizeof out);
    ck_assert_msg(rc == 0, "launcher exit %d: %s", rc, out);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* After the drop, a rotation whose reopen fails (the directory became
 * root's) never writes on into the rotated files: the lines are lost and
 * counted, the reopen is retried, and once the directory is the service
 * user's again the new files get the lines. */
START_TEST(failed_reopen_after_drop_retried)
{
    if (geteuid() != 0 || getpwnam("nobody") == NULL) {
        fprintf(stderr, "failed_reopen_after_drop_retried: skipped (needs "
                        "root and the user nobody)\n");
        return;
    }
    struct passwd *pw = getpwnam("nobody");
    msgd_write_conf(&d, "user = \"nobody\";");
    chmod(d.dir, 0755);
    int rc = msgd_start_daemon(&d, out, sizeof out);
    ck_assert_msg(rc == 0, "launcher exit %d: %s", rc, out);
    char dir[400], srv1[400], cli1[400];
    snprintf(dir, sizeof dir, "%s/log", d.dir);
    snprintf(srv1, sizeof srv1, "%s.1", d.server_log);
    snprintf(cli1, sizeof cli1, "%s.1", d.client_log);
    ck_assert_int_eq(chown(dir, 0, 0), 0);
    ck_assert_int_eq(rename(d.server_log, srv1), 0);
    ck_assert_int_eq(rename(d.client_log, cli1), 0);
    const char *reopen[] = {msgctl_path(), "-s", d.admin_socket, "reopen-logs",
                            NULL};
    ck_assert_int_ne(prog_run(reopen, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "Permission denied"), "got: %s", out);

    struct tc *a = tc_hello(d.port, "a");
    tc_sync(a); /* the pass that logged the register is over */
    ck_assert_int_eq(log_count(cli1, "register", "node", "a"), 0);
    ck_assert_int_eq(log_count(srv1, "admin", "command", "reopen-logs"), 0);

    ck_assert_int_eq(chown(dir, pw->pw_uid, pw->pw_gid), 0);
    ck_assert(poke_until(a, "log-reopen", "stream", "client_log"));
    ck_assert(log_wait(d.server_log, "log-reopen", "stream", "server_log", 0));
    struct tc *b = tc_hello(d.port, "b");
    ck_assert(log_wait(d.client_log, "register", "node", "b", 5000));
    ck_assert(poke_until(a, "warning", "stream", "client_log"));
    ck_assert(file_contains(d.server_log, "Permission denied"));
    const char *stats[] = {msgctl_path(), "-s",    d.admin_socket,
                           "--json",      "stats", NULL};
    ck_assert_int_eq(prog_run(stats, out, sizeof out), 0);
    ck_assert_msg(!strstr(out, "\"log_lines_lost\":0"), "got: %s", out);
    tc_close(a);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* A FIFO would block the open (and then the daemon) until someone reads
 * it; a directory cannot be a log. */
START_TEST(non_regular_logs_refused)
{
    msgd_write_conf(&d, NULL);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/log", d.dir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(mkfifo(d.client_log, 0644), 0);
    expect_refusal("client_log", d.client_log, "is a FIFO, not a regular file");
    ck_assert_int_eq(unlink(d.client_log), 0);
    ck_assert_int_eq(unlink(d.server_log), 0); /* made by that start */
    ck_assert_int_eq(mkdir(d.server_log, 0755), 0);
    expect_refusal("server_log", d.server_log,
                   "is a directory, not a regular file");
}
END_TEST

/* A log may be a character device (/dev/null turns one off): written to,
 * never handed to the service user.  A private node of /dev/null's, so
 * that the real one is safe whatever the code under test does. */
START_TEST(device_log_not_chowned)
{
    if (geteuid() != 0 || getpwnam("nobody") == NULL) {
        fprintf(stderr, "device_log_not_chowned: skipped (needs root and "
                        "the user nobody)\n");
        return;
    }
    msgd_write_conf(&d, NULL); /* only for a temporary directory */
    char null[400], extra[600];
    snprintf(null, sizeof null, "%s/null", d.dir);
    if (mknod(null, S_IFCHR | 0666, makedev(1, 3)) < 0) {
        fprintf(stderr, "device_log_not_chowned: skipped (no mknod)\n");
        return;
    }
    struct stat before, st;
    ck_assert_int_eq(stat(null, &before), 0);
    snprintf(extra, sizeof extra, "user = \"nobody\";\nclient_log = \"%s\";",
             null);
    msgd_write_conf(&d, extra);
    chmod(d.dir, 0755);
    int rc = msgd_start_daemon(&d, out, sizeof out);
    ck_assert_msg(rc == 0, "launcher exit %d: %s", rc, out);
    struct tc *a = tc_hello(d.port, "a");
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
    ck_assert_int_eq(stat(null, &st), 0);
    ck_assert_int_eq(st.st_uid, 0);
    ck_assert_int_eq(st.st_gid, before.st_gid);
    ck_assert_int_eq(st.st_mode, before.st_mode);
}
END_TEST

/* A log directory anyone may write to works, with a warning naming it. */
START_TEST(unsafe_log_dir_warned)
{
    msgd_write_conf(&d, NULL);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/log", d.dir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(chmod(dir, 0777), 0);
    int rc = msgd_start_daemon(&d, out, sizeof out);
    ck_assert_msg(rc == 0, "launcher exit %d: %s", rc, out);
    ck_assert(log_wait(d.server_log, "warning", NULL, NULL, 0));
    ck_assert(file_contains(d.server_log, "is writable by every user"));
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* nobody is everybody's: msgd -t says so, and the file is still valid. */
START_TEST(check_warns_on_shared_user)
{
    msgd_write_conf(&d, "user = \"nobody\";");
    chmod(d.dir, 0755); /* mkdtemp's 0700 would lock nobody out */
    const char *argv[] = {"msgd", "-t", "-c", d.conf, NULL};
    ck_assert_int_eq(msgd_run(argv, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "warning: user \"nobody\" is shared"), "got: %s",
                  out);
    ck_assert_msg(strstr(out, ": ok"), "got: %s", out);
    /* A user of its own (-t checks it exists: daemon is on every Debian). */
    msgd_write_conf(&d, "user = \"daemon\";");
    chmod(d.dir, 0755);
    ck_assert_int_eq(msgd_run(argv, out, sizeof out), 0);
    ck_assert_msg(!strstr(out, "warning"), "got: %s", out);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        background_start_is_ready,
        second_instance_refused,
        stale_pidfile_taken_over,
        port_in_use_fails_fast,
        unwatched_descriptor_refuses_start,
        bad_config_fails_with_line,
        check_refuses_what_start_would,
        sigterm_with_nodes,
        sighup_after_logrotate,
        sigusr1_reopens_only,
        sighup_broken_file_keeps_settings,
        sighup_changed_settings_and_listen,
        systemd_notify_ready,
        drops_privileges,
        planted_links_refused,
        reopen_refuses_planted_link,
        root_log_dir_refused_for_service_user,
        failed_reopen_after_drop_retried,
        non_regular_logs_refused,
        device_log_not_chowned,
        unsafe_log_dir_warned,
        check_warns_on_shared_user,
    };
    return run_suite("daemon", tests, sizeof tests / sizeof *tests);
}
