/* test_firstrun.c: what a new user meets first.  As a user other than
 * root (nobody), msgd starts with its files in a private directory of the
 * user's own and msgctl finds it there; a directory planted in its place
 * is refused; msgd -t names a file the daemon could not create; and in
 * the foreground msgd tells stderr what it tells server_log.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <check.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define NOBODY 65534

static struct msgd_proc d;
static char out[16384];

static const char *msgd_bin(void)
{
    const char *p = getenv("MSGD");
    return p ? p : "src/msgd";
}

static void ms_sleep(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Tests that change user need root; CI runs them as root. */
static int skip_unless_root(void)
{
    if (geteuid() == 0)
        return 0;
    fprintf(stderr, "skipped: needs root to act as nobody\n");
    return 1;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Starts msgd -f as nobody with stderr into errpath; returns its pid. */
static pid_t start_as_nobody(const char *conf, const char *errpath)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, 2) < 0 || setgroups(0, NULL) < 0 ||
            setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
            _exit(126);
        execl(msgd_bin(), "msgd", "-f", "-c", conf, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int stop(pid_t pid)
{
    int st = 0;
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The README's walkthrough as a normal user: the sample configuration,
 * unedited, checks ok and starts; the files land in /tmp/msgd-UID;
 * msgctl finds the socket without being told. */
START_TEST(normal_user_starts_with_defaults)
{
    if (skip_unless_root())
        return;
    msgd_write_conf(&d, NULL); /* only for its temp dir */
    chmod(d.dir, 0755);
    unsetenv("XDG_RUNTIME_DIR");
    const char *udir = "/tmp/msgd-65534";
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", udir);
    ck_assert_int_eq(system(cmd), 0);

    /* Only listen is set: every path is left to its default. */
    char conf[400], errf[400];
    snprintf(conf, sizeof conf, "%s/user.conf", d.dir);
    snprintf(errf, sizeof errf, "%s/stderr", d.dir);
    write_file(conf, "listen = [ \"127.0.0.1:0\" ];\n");
    const char *t[] = {msgd_bin(), "-t", "-c", conf, NULL};
    ck_assert_int_eq(prog_run_as(NOBODY, NOBODY, t, out, sizeof out), 0);
    ck_assert_msg(strstr(out, ": ok"), "%s", out);

    pid_t pid = start_as_nobody(conf, errf);
    ck_assert(log_wait("/tmp/msgd-65534/server.log", "start", NULL, NULL,
                       10000));
    struct stat st;
    ck_assert_int_eq(lstat(udir, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_int_eq(st.st_uid, NOBODY);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(access("/tmp/msgd-65534/msgd.pid", F_OK), 0);
    ck_assert_int_eq(access("/tmp/msgd-65534/admin.sock", F_OK), 0);

    const char *ctl[] = {msgctl_path(), "stats", NULL};
    ck_assert_int_eq(prog_run_as(NOBODY, NOBODY, ctl, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "uptime"), "%s", out);
    ck_assert_int_eq(stop(pid), 0);
    ck_assert_int_ne(access("/tmp/msgd-65534/msgd.pid", F_OK), 0);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* /tmp/msgd-UID made first by someone else: refused, not used. */
START_TEST(planted_user_dir_refused)
{
    if (skip_unless_root())
        return;
    msgd_write_conf(&d, NULL);
    chmod(d.dir, 0755);
    unsetenv("XDG_RUNTIME_DIR");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf /tmp/msgd-65534");
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(mkdir("/tmp/msgd-65534", 0777), 0); /* root's */
    chmod("/tmp/msgd-65534", 0777);

    char conf[400];
    snprintf(conf, sizeof conf, "%s/user.conf", d.dir);
    write_file(conf, "listen = [ \"127.0.0.1:0\" ];\n");
    const char *t[] = {msgd_bin(), "-t", "-c", conf, NULL};
    ck_assert_int_eq(prog_run_as(NOBODY, NOBODY, t, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "/tmp/msgd-65534: not a directory of uid 65534"),
                  "%s", out);
    const char *f[] = {msgd_bin(), "-f", "-c", conf, NULL};
    ck_assert_int_eq(prog_run_as(NOBODY, NOBODY, f, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "not a directory of uid 65534"), "%s", out);
    ck_assert_int_ne(access("/tmp/msgd-65534/msgd.pid", F_OK), 0);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* msgd -t said ok to paths start refused; now it names them, with the
 * setting's line. */
START_TEST(check_names_unwritable_paths)
{
    if (skip_unless_root())
        return;
    msgd_write_conf(&d, NULL);
    chmod(d.dir, 0755); /* root's: nobody can read it, not write in it */
    char conf[400], text[1024];
    snprintf(conf, sizeof conf, "%s/user.conf", d.dir);
    snprintf(text, sizeof text,
             "listen = [ \"127.0.0.1:0\" ];\n"
             "admin_socket = \"%s/admin.sock\";\n"
             "pidfile = \"%s/run/msgd.pid\";\n",
             d.dir, d.dir);
    write_file(conf, text);
    const char *t[] = {msgd_bin(), "-t", "-c", conf, NULL};
    ck_assert_int_eq(prog_run_as(NOBODY, NOBODY, t, out, sizeof out), 1);
    char want[1200];
    snprintf(want, sizeof want,
             "%s:3: pidfile %s/run/msgd.pid: cannot create it in %s: "
             "Permission denied",
             conf, d.dir, d.dir);
    ck_assert_msg(strstr(out, want), "got: %s\nwant: %s", out, want);
    /* Root can: ok. */
    ck_assert_int_eq(prog_run(t, out, sizeof out), 0);
    ck_assert_msg(strstr(out, ": ok"), "%s", out);
    /* A log that exists but may not be written (root's, mode 0644). */
    char log[400];
    snprintf(log, sizeof log, "%s/root.log", d.dir);
    write_file(log, "");
    snprintf(text, sizeof text,
             "listen = [ \"127.0.0.1:0\" ];\n"
             "admin_socket = \"/tmp/msgd-ft-%d.sock\";\n"
             "pidfile = \"/tmp/msgd-ft-%d.pid\";\n"
             "server_log = \"%s\";\n",
             (int)getpid(), (int)getpid(), log);
    write_file(conf, text);
    ck_assert_int_eq(prog_run_as(NOBODY, NOBODY, t, out, sizeof out), 1);
    snprintf(want, sizeof want, ":4: server_log %s: cannot write it", log);
    ck_assert_msg(strstr(out, want), "got: %s\nwant: %s", out, want);
}
END_TEST

static void read_file(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* msgd -f says on stderr what it says in server_log (start, warnings,
 * errors, stop), unless log_stderr = false. */
START_TEST(foreground_speaks_on_stderr)
{
    for (int quiet = 0; quiet < 2; quiet++) {
        msgd_write_conf(&d, quiet ? "log_stderr = false;" : NULL);
        char errf[400];
        snprintf(errf, sizeof errf, "%s/stderr", d.dir);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            int fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(fd, 2);
            execl(msgd_bin(), "msgd", "-f", "-c", d.conf, (char *)NULL);
            _exit(127);
        }
        ck_assert(log_wait(d.server_log, "start", NULL, NULL, 10000));
        ck_assert_int_eq(stop(pid), 0);
        read_file(errf, out, sizeof out);
        if (quiet) {
            ck_assert_str_eq(out, "");
        } else {
            ck_assert_msg(strstr(out, "\"event\":\"start\""), "%s", out);
            ck_assert_msg(strstr(out, "\"event\":\"stop\""), "%s", out);
        }
    }
    ms_sleep(1);
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        normal_user_starts_with_defaults,
        planted_user_dir_refused,
        check_names_unwritable_paths,
        foreground_speaks_on_stderr,
    };
    return run_suite("firstrun", tests, sizeof tests / sizeof *tests);
}
