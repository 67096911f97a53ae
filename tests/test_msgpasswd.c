/* test_msgpasswd.c: tests of msgpasswd (msgpasswd(1)), the built tool run
 * on files in a temporary directory: a user added with --stdin whose hash
 * libsodium verifies, a change and a delete that keep the other lines,
 * the comments and their order, a malformed file refused with FILE:LINE
 * and left byte for byte, modes and owners after a rewrite, no temporary
 * file left, empty passwords and usage errors refused, the password in
 * neither the file nor the output, overlapping runs that lose no edit,
 * and the password asked twice at a pseudo-terminal, with and without a
 * match.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define H1 "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
#define H2 "$argon2id$v=19$m=65536,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNo"

static char dir[64], path[128];
static char out[1 << 16];

static const char *msgpasswd_path(void)
{
    const char *p = getenv("MSGPASSWD");
    return p ? p : "src/msgpasswd";
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A fresh directory for each test, the users file's path in it. */
static void fresh_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/test-msgpasswd-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/users", dir);
}

static void write_file(const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
}

/* The users file's bytes (NUL-ended), or NULL when there is none. */
static char *read_users(void)
{
    static char buf[1 << 16];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    ck_assert_int_ge(n, 0);
    buf[n] = '\0';
    return buf;
}

static mode_t users_mode(void)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* The names in the directory but the users file: temporary files left
 * behind.  "" when there is none. */
static const char *leftovers(void)
{
    static char names[1024];
    DIR *d = opendir(dir);
    struct dirent *e;
    ck_assert_ptr_nonnull(d);
    names[0] = '\0';
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            strcmp(e->d_name, "users")) {
            strncat(names, e->d_name, sizeof names - strlen(names) - 2);
            strcat(names, " ");
        }
    closedir(d);
    return names;
}

/* Empties and removes the test's directory. */
static void remove_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

/* Runs msgpasswd with args (NULL-ended) in a session of its own, so with
 * no terminal to ask at; input (NULL: none) on its standard input; its
 * standard output and error in out.  Returns the exit status. */
static int run(const char *input, const char *const *args)
{
    const char *argv[16] = {msgpasswd_path()};
    int in[2], o[2], n = 1, st;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(o, O_CLOEXEC), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setsid();
        dup2(in[0], 0);
        dup2(o[1], 1);
        dup2(o[1], 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(o[1]);
    if (input)
        ck_assert_int_eq(write(in[1], input, strlen(input)),
                         (ssize_t)strlen(input));
    close(in[1]);
    size_t len = 0;
    ssize_t r;
    while ((r = read(o[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(o[0]);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The hash on name's line of the users file. */
static const char *hash_of(const char *name)
{
    static char hash[256];
    char *text = read_users(), key[80];
    ck_assert_ptr_nonnull(text);
    snprintf(key, sizeof key, "%s:", name);
    char *at = strncmp(text, key, strlen(key)) == 0 ? text : NULL;
    if (at == NULL) {
        char nkey[82];
        snprintf(nkey, sizeof nkey, "\n%s", key);
        at = strstr(text, nkey);
        ck_assert_msg(at != NULL, "no %s in:\n%s", name, text);
        at++;
    }
    at += strlen(key);
    size_t n = strcspn(at, "\r\n");
    ck_assert_uint_lt(n, sizeof hash);
    memcpy(hash, at, n);
    hash[n] = '\0';
    return hash;
}

/* Whether pw is name's password, as msgd would check it. */
static int verifies(const char *name, const char *pw)
{
    return crypto_pwhash_str_verify(hash_of(name), pw, strlen(pw)) == 0;
}

/* ---- --stdin ---- */

START_TEST(add_with_stdin_makes_a_hash_that_verifies)
{
    fresh_dir();
    const char *args[] = {"-c", "--stdin", path, "alice", NULL};
    ck_assert_int_eq(run("correct horse\nsecond line\n", args), 0);
    char want[256];
    snprintf(want, sizeof want, "added alice to %s\n", path);
    ck_assert_str_eq(out, want);
    ck_assert(verifies("alice", "correct horse"));
    ck_assert(!verifies("alice", "correct horse\n"));
    ck_assert(!verifies("alice", "second line"));
    /* argon2id at libsodium's interactive cost, and nothing else. */
    ck_assert_msg(
        strncmp(hash_of("alice"), "$argon2id$v=19$m=65536,t=2,p=1$", 31) == 0,
        "%s", hash_of("alice"));
    char *text = read_users();
    ck_assert_ptr_null(strstr(text, "correct horse"));
    ck_assert_uint_eq(strlen(text), 6 + strlen(hash_of("alice")) + 1);
    ck_assert_uint_eq(users_mode(), 0600);
    ck_assert_str_eq(leftovers(), "");
    /* A CR before the LF is dropped, as msgd drops it from AUTH. */
    const char *bob[] = {"--stdin", path, "bob", NULL};
    ck_assert_int_eq(run("from windows\r\n", bob), 0);
    ck_assert(verifies("bob", "from windows"));
    /* The last line needs no LF. */
    const char *carol[] = {"--stdin", path, "carol", NULL};
    ck_assert_int_eq(run("no newline", carol), 0);
    ck_assert(verifies("carol", "no newline"));
    ck_assert(verifies("alice", "correct horse"));
    remove_dir();
}
END_TEST

START_TEST(change_keeps_other_lines_comments_and_order)
{
    fresh_dir();
    const char *before = "# users of msgd\n"
                         "bob:" H1 "\n"
                         "\n"
                         "# ops\n"
                         "alice:" H2 "\r\n"
                         "carol:" H1 "\n";
    write_file(before, 0600);
    const char *args[] = {"--stdin", path, "alice", NULL};
    ck_assert_int_eq(run("new secret\n", args), 0);
    char want[256];
    snprintf(want, sizeof want, "changed the password of alice in %s\n", path);
    ck_assert_str_eq(out, want);
    ck_assert(verifies("alice", "new secret"));
    char after[4096];
    snprintf(after, sizeof after,
             "# users of msgd\n"
             "bob:" H1 "\n"
             "\n"
             "# ops\n"
             "alice:%s\r\n"
             "carol:" H1 "\n",
             hash_of("alice"));
    ck_assert_str_eq(read_users(), after);
    /* A new user goes at the end, after the LF the file lacked. */
    write_file("# nobody yet\nbob:" H1, 0600);
    const char *dave[] = {"--stdin", path, "dave", NULL};
    ck_assert_int_eq(run("dave's\n", dave), 0);
    snprintf(want, sizeof want, "added dave to %s\n", path);
    ck_assert_str_eq(out, want);
    snprintf(after, sizeof after, "# nobody yet\nbob:" H1 "\ndave:%s\n",
             hash_of("dave"));
    ck_assert_str_eq(read_users(), after);
    ck_assert_str_eq(leftovers(), "");
    remove_dir();
}
END_TEST

/* ---- -D ---- */

START_TEST(delete_takes_the_line_and_nothing_else)
{
    fresh_dir();
    write_file("# users\nbob:" H1 "\nalice:" H2 "\n\ncarol:" H1 "\n", 0600);
    const char *args[] = {"-D", path, "alice", NULL};
    ck_assert_int_eq(run(NULL, args), 0);
    char want[256];
    snprintf(want, sizeof want, "deleted alice from %s\n", path);
    ck_assert_str_eq(out, want);
    ck_assert_str_eq(read_users(), "# users\nbob:" H1 "\n\ncarol:" H1 "\n");
    /* A user that is not there: exit 1, the file as it was. */
    struct stat st0, st1;
    ck_assert_int_eq(stat(path, &st0), 0);
    ck_assert_int_eq(run(NULL, args), 1);
    snprintf(want, sizeof want, "msgpasswd: %s: no user alice\n", path);
    ck_assert_str_eq(out, want);
    ck_assert_str_eq(read_users(), "# users\nbob:" H1 "\n\ncarol:" H1 "\n");
    ck_assert_int_eq(stat(path, &st1), 0);
    ck_assert_uint_eq(st0.st_ino, st1.st_ino); /* not even rewritten */
    /* The last user goes, the comment stays. */
    const char *bob[] = {"--delete", path, "bob", NULL};
    const char *carol[] = {"-D", path, "carol", NULL};
    ck_assert_int_eq(run(NULL, bob), 0);
    ck_assert_int_eq(run(NULL, carol), 0);
    ck_assert_str_eq(read_users(), "# users\n\n");
    ck_assert_str_eq(leftovers(), "");
    remove_dir();
    /* No file: nothing to delete from, and -D creates none. */
    fresh_dir();
    ck_assert_int_eq(run(NULL, carol), 1);
    ck_assert_ptr_nonnull(strstr(out, "No such file"));
    ck_assert_ptr_null(read_users());
    remove_dir();
}
END_TEST

/* ---- what is refused ---- */

START_TEST(malformed_file_refused_with_file_line_and_untouched)
{
    fresh_dir();
    const char *bad = "# users\nalice:" H1 "\nbob " H2 "\n";
    write_file(bad, 0640);
    struct stat st0, st1;
    ck_assert_int_eq(stat(path, &st0), 0);
    const char *add[] = {"--stdin", path, "carol", NULL};
    const char *change[] = {"--stdin", path, "alice", NULL};
    const char *del[] = {"-D", path, "alice", NULL};
    const char *const *cases[] = {add, change, del};
    char want[256];
    snprintf(want, sizeof want, "msgpasswd: %s:3: not NAME:HASH\n", path);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ck_assert_int_eq(run("secret\n", cases[i]), 1);
        ck_assert_str_eq(out, want);
        ck_assert_str_eq(read_users(), bad);
        ck_assert_int_eq(stat(path, &st1), 0);
        ck_assert_uint_eq(st0.st_ino, st1.st_ino);
        ck_assert_int_eq(st0.st_mtim.tv_sec, st1.st_mtim.tv_sec);
        ck_assert_int_eq(st0.st_mtim.tv_nsec, st1.st_mtim.tv_nsec);
        ck_assert_uint_eq(users_mode(), 0640);
    }
    /* A user there twice names the second line. */
    const char *twice = "alice:" H1 "\nalice:" H2 "\n";
    write_file(twice, 0600);
    ck_assert_int_eq(run("secret\n", add), 1);
    snprintf(want, sizeof want, "msgpasswd: %s:2: user alice is there twice\n",
             path);
    ck_assert_str_eq(out, want);
    ck_assert_str_eq(read_users(), twice);
    ck_assert_str_eq(leftovers(), "");
    remove_dir();
}
END_TEST

START_TEST(missing_file_needs_c_and_links_are_refused)
{
    fresh_dir();
    const char *args[] = {"--stdin", path, "alice", NULL};
    ck_assert_int_eq(run("secret\n", args), 1);
    char want[256];
    snprintf(want, sizeof want,
             "msgpasswd: %s: No such file or directory (-c creates it)\n",
             path);
    ck_assert_str_eq(out, want);
    ck_assert_ptr_null(read_users());
    /* -c on a file that is there edits it, never empties it. */
    write_file("bob:" H1 "\n", 0600);
    const char *create[] = {"-c", "--stdin", path, "alice", NULL};
    ck_assert_int_eq(run("secret\n", create), 0);
    ck_assert_ptr_nonnull(strstr(read_users(), "bob:" H1 "\n"));
    /* A symbolic link would be replaced, not followed: refused. */
    char link[160];
    snprintf(link, sizeof link, "%s/link", dir);
    ck_assert_int_eq(symlink("users", link), 0);
    const char *via[] = {"--stdin", link, "carol", NULL};
    ck_assert_int_eq(run("secret\n", via), 1);
    ck_assert_ptr_nonnull(strstr(out, "a symbolic link"));
    ck_assert_ptr_null(strstr(read_users(), "carol"));
    unlink(link);
    /* A directory is not a users file. */
    const char *isdir[] = {"--stdin", dir, "carol", NULL};
    ck_assert_int_eq(run("secret\n", isdir), 1);
    ck_assert_ptr_nonnull(strstr(out, "not a regular file"));
    remove_dir();
}
END_TEST

START_TEST(bad_passwords_refused_and_never_shown)
{
    fresh_dir();
    const char *before = "# users\nbob:" H1 "\n";
    write_file(before, 0600);
    const char *args[] = {"--stdin", path, "alice", NULL};
    struct {
        const char *input, *why;
    } cases[] = {
        {"\n", "msgpasswd: an empty password is refused\n"},
        {"\r\n", "msgpasswd: an empty password is refused\n"},
        {"", "msgpasswd: no password on standard input\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ck_assert_int_eq(run(cases[i].input, args), 1);
        ck_assert_str_eq(out, cases[i].why);
        ck_assert_str_eq(read_users(), before);
    }
    /* Too long for an AUTH line: 1024 bytes with "AUTH alice " and LF. */
    char pw[2048];
    memset(pw, 'p', sizeof pw);
    pw[1024 - 12 + 1] = '\n';
    pw[1024 - 12 + 2] = '\0';
    ck_assert_int_eq(run(pw, args), 1);
    ck_assert_str_eq(out, "msgpasswd: the password is longer than 1012 "
                          "bytes, the most an AUTH line for alice can carry\n");
    ck_assert_str_eq(read_users(), before);
    pw[1024 - 12] = '\n';
    pw[1024 - 12 + 1] = '\0';
    ck_assert_int_eq(run(pw, args), 0);
    pw[1024 - 12] = '\0';
    ck_assert(verifies("alice", pw));
    ck_assert_ptr_null(strstr(out, "ppp"));
    ck_assert_ptr_null(strstr(read_users(), "ppp"));
    /* Without a terminal, and without --stdin: refused, with the hint. */
    const char *tty[] = {path, "carol", NULL};
    ck_assert_int_eq(run("secret\n", tty), 1);
    ck_assert_msg(strstr(out, "/dev/tty") && strstr(out, "--stdin"), "%s", out);
    ck_assert_ptr_null(strstr(read_users(), "carol"));
    ck_assert_str_eq(leftovers(), "");
    remove_dir();
}
END_TEST

START_TEST(usage_errors_exit_64)
{
    fresh_dir();
    const char *before = "bob:" H1 "\n";
    write_file(before, 0600);
    char long_name[80];
    memset(long_name, 'n', 65);
    long_name[65] = '\0';
    const char *const cases[][6] = {
        {NULL},
        {path, NULL},
        {path, "alice", "extra", NULL},
        {"-x", path, "alice", NULL},
        {"--bogus", path, "alice", NULL},
        {"-D", "-c", path, "bob", NULL},
        {"-D", "--stdin", path, "bob", NULL},
        {path, "al ice", NULL},
        {path, "al:ice", NULL},
        {path, "", NULL},
        {path, long_name, NULL},
        {"--stdin", "", "alice", NULL},
        /* A password on the command line is an extra argument. */
        {"--stdin", path, "alice", "hunter2", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ck_assert_msg(run("secret\n", cases[i]) == 64, "case %zu: %s", i, out);
        ck_assert_msg(strncmp(out, "msgpasswd: ", 11) == 0 &&
                          strstr(out, "\ntry 'msgpasswd --help'\n") &&
                          strchr(out, '\n') + 1 == strstr(out, "try '"),
                      "case %zu: %s", i, out);
        ck_assert_ptr_null(strstr(out, "hunter2"));
        ck_assert_str_eq(read_users(), before);
    }
    const char *help[] = {"--help", NULL}, *version[] = {"-V", NULL};
    ck_assert_int_eq(run(NULL, help), 0);
    ck_assert_msg(strncmp(out, "usage: msgpasswd ", 17) == 0, "%s", out);
    ck_assert_int_eq(run(NULL, version), 0);
    ck_assert_msg(strncmp(out, "msgpasswd ", 10) == 0 &&
                      strstr(out, "argon2id"),
                  "%s", out);
    ck_assert_str_eq(leftovers(), "");
    remove_dir();
}
END_TEST

/* ---- modes and owners ---- */

START_TEST(modes_and_owners_after_a_rewrite)
{
    fresh_dir();
    const char *args[] = {"--stdin", path, "alice", NULL};
    /* Created: 0600, whatever the umask. */
    const char *create[] = {"-c", "--stdin", path, "bob", NULL};
    mode_t old_umask = umask(0);
    ck_assert_int_eq(run("secret\n", create), 0);
    umask(old_umask);
    ck_assert_uint_eq(users_mode(), 0600);
    /* Others lose what they had; group write goes too. */
    ck_assert_int_eq(chmod(path, 0626), 0);
    ck_assert_int_eq(run("secret\n", args), 0);
    ck_assert_uint_eq(users_mode(), 0600);
    /* The group's read stays where the group does (a service user that
     * reads the file through its group keeps reading it). */
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_int_eq(run("other\n", args), 0);
    ck_assert_uint_eq(users_mode(), 0640);
    ck_assert_int_eq(chmod(path, 0666), 0);
    const char *del[] = {"-D", path, "bob", NULL};
    ck_assert_int_eq(run(NULL, del), 0);
    ck_assert_uint_eq(users_mode(), 0640);
    /* Root keeps the owner and the group. */
    if (geteuid() == 0) {
        ck_assert_int_eq(chown(path, 65534, 65534), 0);
        ck_assert_int_eq(chmod(path, 0600), 0);
        ck_assert_int_eq(run("third\n", args), 0);
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq(st.st_uid, 65534);
        ck_assert_uint_eq(st.st_gid, 65534);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
    }
    ck_assert(verifies("alice", geteuid() == 0 ? "third" : "other"));
    ck_assert_str_eq(leftovers(), "");
    remove_dir();
}
END_TEST

/* Runs that overlap take turns: none loses another's edit (each reads
 * the file again under the lock, after hashing). */
START_TEST(parallel_runs_lose_no_edit)
{
    enum { N = 4 };
    pid_t pids[N];
    fresh_dir();
    write_file("# users\n", 0600);
    for (int i = 0; i < N; i++) {
        int in[2];
        char name[16], pw[16];
        snprintf(name, sizeof name, "user%d", i);
        snprintf(pw, sizeof pw, "pw%d\n", i);
        ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            dup2(in[0], 0);
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            execl(msgpasswd_path(), msgpasswd_path(), "--stdin", path, name,
                  (char *)NULL);
            _exit(127);
        }
        close(in[0]);
        ck_assert_int_eq(write(in[1], pw, strlen(pw)), (ssize_t)strlen(pw));
        close(in[1]);
    }
    for (int i = 0; i < N; i++) {
        int st;
        ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    for (int i = 0; i < N; i++) {
        char name[16], pw[16];
        snprintf(name, sizeof name, "user%d", i);
        snprintf(pw, sizeof pw, "pw%d", i);
        ck_assert_msg(verifies(name, pw), "%s", read_users());
    }
    ck_assert_str_eq(leftovers(), "");
    remove_dir();
}
END_TEST

/* ---- at a terminal ---- */

struct tty_run {
    pid_t pid;
    int master;
    size_t len;
    char buf[8192];
};

/* msgpasswd FILE NAME in a pseudo-terminal of its own. */
static void tty_start(struct tty_run *t, const char *name)
{
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    t->len = 0;
    t->pid = forkpty(&t->master, NULL, NULL, &ws);
    ck_assert_int_ge(t->pid, 0);
    if (t->pid == 0) {
        execl(msgpasswd_path(), msgpasswd_path(), path, name, (char *)NULL);
        _exit(127);
    }
}

/* Reads what it printed until want is there (NULL: until it is gone). */
static void tty_expect(struct tty_run *t, const char *want)
{
    long deadline = now_ms() + 20000;
    while (want == NULL || memmem(t->buf, t->len, want, strlen(want)) == NULL) {
        struct pollfd p = {.fd = t->master, .events = POLLIN};
        long left = deadline - now_ms();
        ck_assert_msg(left > 0, "msgpasswd did not print '%s'; it printed: %s",
                      want, t->buf);
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t n =
            read(t->master, t->buf + t->len, sizeof t->buf - 1 - t->len);
        if (n <= 0) { /* EIO: the child is gone */
            ck_assert_msg(want == NULL, "msgpasswd ended before '%s': %s", want,
                          t->buf);
            return;
        }
        t->len += (size_t)n;
        t->buf[t->len] = '\0';
    }
}

static void tty_type(struct tty_run *t, const char *s)
{
    ck_assert_int_eq(write(t->master, s, strlen(s)), (ssize_t)strlen(s));
}

static int tty_wait(struct tty_run *t)
{
    int st;
    tty_expect(t, NULL);
    close(t->master);
    ck_assert_int_eq(waitpid(t->pid, &st, 0), t->pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(terminal_asks_twice_without_echo)
{
    struct tty_run t;
    fresh_dir();
    write_file("# users\nbob:" H1 "\n", 0600);
    tty_start(&t, "alice");
    /* The prompt comes once echo is off: what is typed is not shown. */
    tty_expect(&t, "Password: ");
    tty_type(&t, "typed secret\n");
    tty_expect(&t, "Again: ");
    tty_type(&t, "typed secret\n");
    ck_assert_int_eq(tty_wait(&t), 0);
    ck_assert_msg(strstr(t.buf, "added alice to ") != NULL, "%s", t.buf);
    ck_assert_msg(strstr(t.buf, "typed") == NULL, "echoed: %s", t.buf);
    ck_assert(verifies("alice", "typed secret"));
    ck_assert_ptr_nonnull(strstr(read_users(), "# users\nbob:" H1 "\n"));
    ck_assert_str_eq(leftovers(), "");
    remove_dir();
}
END_TEST

START_TEST(terminal_mismatch_refused_file_unchanged)
{
    struct tty_run t;
    fresh_dir();
    const char *before = "# users\nalice:" H1 "\n";
    write_file(before, 0600);
    tty_start(&t, "alice");
    tty_expect(&t, "Password: ");
    tty_type(&t, "first try\n");
    tty_expect(&t, "Again: ");
    tty_type(&t, "first trx\n");
    ck_assert_int_eq(tty_wait(&t), 1);
    ck_assert_msg(strstr(t.buf, "msgpasswd: the passwords do not match"), "%s",
                  t.buf);
    ck_assert_msg(strstr(t.buf, "first") == NULL, "echoed: %s", t.buf);
    ck_assert_str_eq(read_users(), before);
    /* An empty one is refused at once, before the second question. */
    tty_start(&t, "alice");
    tty_expect(&t, "Password: ");
    tty_type(&t, "\n");
    ck_assert_int_eq(tty_wait(&t), 1);
    ck_assert_msg(strstr(t.buf, "an empty password is refused") &&
                      !strstr(t.buf, "Again"),
                  "%s", t.buf);
    ck_assert_str_eq(read_users(), before);
    ck_assert_str_eq(leftovers(), "");
    remove_dir();
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        add_with_stdin_makes_a_hash_that_verifies,
        change_keeps_other_lines_comments_and_order,
        delete_takes_the_line_and_nothing_else,
        malformed_file_refused_with_file_line_and_untouched,
        missing_file_needs_c_and_links_are_refused,
        bad_passwords_refused_and_never_shown,
        usage_errors_exit_64,
        modes_and_owners_after_a_rewrite,
        parallel_runs_lose_no_edit,
        terminal_asks_twice_without_echo,
        terminal_mismatch_refused_file_unchanged,
    };
    if (sodium_init() < 0)
        return 1;
    return run_suite("msgpasswd", tests, sizeof tests / sizeof *tests);
}
