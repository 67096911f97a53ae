/* msgpasswd.c: the editor of msgd's users file (msgpasswd(1)): adds a
 * user or changes its password, or deletes it.  The password comes from
 * the terminal without echo, or from standard input with --stdin, never
 * from the command line or the environment; it stays in libsodium's
 * locked memory, is hashed with argon2id and wiped.  The file is checked
 * whole before a password is asked for, then replaced atomically (a
 * temporary file beside it, mode 0600, the owner kept, fsync, rename,
 * fsync of the directory).  Exit codes: 0, 1 for any failure, 64
 * (EX_USAGE) for a bad command line; messages are err(3)'s.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include "proto.h"
#include "users.h"

/* The hash's cost: libsodium's "interactive" argon2id, 2 passes over
 * 64 MiB, which is what msgd pays for each AUTH (msgpasswd(1), HASH). */
#define OPSLIMIT crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE
#define MEMLIMIT crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE

#define OPT_STDIN 256 /* --stdin has no short form */

/* What load_file read: the bytes, the table they parse into, and the
 * file's owner and mode, which the new file keeps. */
struct file {
    char *text;
    size_t len;
    struct users users;
    struct stat st;
    int exists;
};

enum line_rc { LINE_OK, LINE_EOF, LINE_LONG, LINE_ERR };

static volatile sig_atomic_t caught;

static void usage(FILE *f)
{
    fprintf(f, "usage: msgpasswd [-c] [--stdin] FILE NAME\n"
               "       msgpasswd -D FILE NAME\n"
               "       msgpasswd -h | --help | -V | --version\n"
               "Adds user NAME to the users file FILE of msgd, or changes its\n"
               "password: asked twice at the terminal, without echo, or the\n"
               "first line of standard input with --stdin.\n"
               "  -c, --create   create FILE (mode 0600) if it does not exist\n"
               "  -D, --delete   delete user NAME\n"
               "      --stdin    read the password from standard input\n"
               "  -h, --help     print this help and exit\n"
               "  -V, --version  print the version and exit\n");
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarnx(fmt, ap);
    va_end(ap);
    fputs("try 'msgpasswd --help'\n", stderr);
    return EX_USAGE;
}

/* The longest password that msgd can be sent for name: AUTH's secret is
 * the rest of a line of at most PROTO_MAX_LINE bytes, LF included. */
static size_t max_password(const char *name)
{
    return PROTO_MAX_LINE - (sizeof "AUTH " - 1) - strlen(name) - 2;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static void free_file(struct file *f)
{
    if (f->text) {
        sodium_memzero(f->text, f->len);
        free(f->text);
    }
    users_free(&f->users);
    *f = (struct file){0};
}

/* Reads and checks the users file; with create, a missing one is an
 * empty one (and without, hint says so).  Returns 0, or -1 after saying
 * why. */
static int load_file(const char *path, int create, int hint, struct file *f)
{
    *f = (struct file){0};
    /* O_NOFOLLOW: the rename would replace a symbolic link, not the file
     * it names.  O_NONBLOCK: a FIFO does not hang the open. */
    int fd =
        open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT && create)
        return 0;
    if (fd < 0) {
        if (errno == ELOOP)
            warnx("%s: a symbolic link; msgpasswd replaces the file it "
                  "edits, so give the path of the file itself",
                  path);
        else if (errno == ENOENT && hint)
            warnx("%s: %s (-c creates it)", path, strerror(errno));
        else
            warn("%s", path);
        return -1;
    }
    if (fstat(fd, &f->st) < 0) {
        warn("%s", path);
        close(fd);
        return -1;
    }
    if (!S_ISREG(f->st.st_mode) || f->st.st_size > (off_t)USERS_MAX_FILE) {
        warnx("%s: %s", path,
              S_ISREG(f->st.st_mode) ? "larger than 16 MiB"
                                     : "not a regular file");
        close(fd);
        return -1;
    }
    f->exists = 1;
    f->text = malloc((size_t)f->st.st_size + 1);
    if (f->text == NULL) {
        close(fd);
        errx(1, "out of memory");
    }
    while (f->len < (size_t)f->st.st_size) {
        ssize_t r = read(fd, f->text + f->len, (size_t)f->st.st_size - f->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            warn("%s", path);
            close(fd);
            free_file(f);
            return -1;
        }
        if (r == 0)
            break;
        f->len += (size_t)r;
    }
    close(fd);
    char why[256];
    if (users_parse(f->text, f->len, &f->users, why, sizeof why) < 0) {
        if (strncmp(why, "0: ", 3) == 0)
            warnx("%s: %s", path, why + 3);
        else
            warnx("%s:%s", path, why);
        free_file(f);
        return -1;
    }
    return 0;
}

/* One line from fd, byte by byte so that no copy of it is left in a
 * buffer of stdio's, without its LF; what passes max is read and
 * dropped. */
static enum line_rc read_line(int fd, char *buf, size_t max, size_t *len)
{
    size_t n = 0;
    int any = 0, too_long = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR && !caught)
            continue;
        if (r < 0)
            return LINE_ERR;
        if (r == 0)
            break;
        any = 1;
        if (c == '\n')
            break;
        if (n < max)
            buf[n++] = c;
        else
            too_long = 1;
        sodium_memzero(&c, sizeof c);
    }
    *len = n;
    return too_long ? LINE_LONG : any ? LINE_OK : LINE_EOF;
}

static void on_signal(int sig)
{
    caught = sig;
}

static const int tty_signals[] = {SIGINT,  SIGHUP,  SIGQUIT, SIGTERM,
                                  SIGTSTP, SIGTTIN, SIGTTOU};
#define N_TTY_SIGNALS (sizeof tty_signals / sizeof *tty_signals)

/* Asks for a password at the terminal, echo off.  A signal that would
 * stop or end the process does so only once the terminal echoes again
 * (a stopped one asks again when continued), which getpass(3) does not
 * see to. */
static enum line_rc ask(int tty, const char *prompt, char *buf, size_t max,
                        size_t *len)
{
    for (;;) {
        struct termios old, quiet;
        struct sigaction sa = {.sa_handler = on_signal};
        struct sigaction saved[N_TTY_SIGNALS];
        enum line_rc rc = LINE_ERR;
        if (tcgetattr(tty, &old) < 0)
            return LINE_ERR;
        caught = 0;
        sigemptyset(&sa.sa_mask); /* no SA_RESTART: a signal ends the read */
        for (size_t i = 0; i < N_TTY_SIGNALS; i++)
            sigaction(tty_signals[i], &sa, &saved[i]);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
        quiet.c_lflag |= ICANON;
        if (tcsetattr(tty, TCSAFLUSH, &quiet) == 0 &&
            write_all(tty, prompt, strlen(prompt)) == 0)
            rc = read_line(tty, buf, max, len);
        int saved_errno = errno;
        tcsetattr(tty, TCSAFLUSH, &old);
        (void)write_all(tty, "\n", 1); /* the Enter that was not echoed */
        for (size_t i = 0; i < N_TTY_SIGNALS; i++)
            sigaction(tty_signals[i], &saved[i], NULL);
        if (!caught) {
            errno = saved_errno;
            return rc;
        }
        sodium_memzero(buf, max);
        raise(caught);
    }
}

/* What every password must be; a CR before the LF is dropped, as msgd
 * drops it from an AUTH line.  Returns 0, or -1 after saying why. */
static int check_password(enum line_rc rc, char *pw, size_t *len,
                          const char *name, const char *from)
{
    if (rc == LINE_ERR) {
        warn("%s", from);
        return -1;
    }
    if (rc == LINE_EOF) {
        warnx("no password on %s", from);
        return -1;
    }
    if (rc == LINE_LONG) {
        warnx("the password is longer than %zu bytes, the most an AUTH "
              "line for %s can carry",
              max_password(name), name);
        return -1;
    }
    if (*len > 0 && pw[*len - 1] == '\r')
        (*len)--;
    if (*len == 0) {
        warnx("an empty password is refused");
        return -1;
    }
    if (memchr(pw, '\0', *len)) {
        warnx("a password cannot hold a NUL byte");
        return -1;
    }
    return 0;
}

/* The password into pw (of max_password(name) bytes): the first line of
 * standard input, or asked twice at the terminal.  Returns 0, or -1
 * after saying why. */
static int get_password(int from_stdin, const char *name, char *pw, char *again,
                        size_t *len)
{
    size_t max = max_password(name), len2 = 0;
    if (from_stdin)
        return check_password(read_line(STDIN_FILENO, pw, max, len), pw, len,
                              name, "standard input");
    int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (tty < 0) {
        warn("cannot ask for the password at /dev/tty (--stdin reads it "
             "from standard input)");
        return -1;
    }
    int rc = check_password(ask(tty, "Password: ", pw, max, len), pw, len, name,
                            "the terminal");
    if (rc == 0)
        rc = check_password(ask(tty, "Again: ", again, max, &len2), again,
                            &len2, name, "the terminal");
    close(tty);
    if (rc == 0 && (len2 != *len || sodium_memcmp(pw, again, *len) != 0)) {
        warnx("the passwords do not match");
        rc = -1;
    }
    return rc;
}

/* The hash of the password, into hash (crypto_pwhash_STRBYTES).  Returns
 * 0, or -1 after saying why. */
static int hash_password(const char *pw, size_t len, char *hash)
{
    if (crypto_pwhash_str_alg(hash, pw, len, OPSLIMIT, MEMLIMIT,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        warnx("cannot hash the password: out of memory (argon2id takes "
              "%zu MiB)",
              (size_t)(MEMLIMIT >> 20));
        return -1;
    }
    if (!users_valid_hash(hash)) { /* msgd would refuse the file */
        warnx("libsodium made a hash msgd cannot read: %.20s...", hash);
        return -1;
    }
    return 0;
}

/* The directory of path, into dir (PATH_MAX bytes). */
static void dir_of(const char *path, char *dir)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, PATH_MAX, ".");
    else if (slash == path)
        snprintf(dir, PATH_MAX, "/");
    else
        snprintf(dir, PATH_MAX, "%.*s", (int)(slash - path), path);
}

/* The directory of path, opened: the lock between msgpasswd runs, and
 * what to fsync after the rename.  Returns the fd, or -1 after saying
 * why. */
static int open_dir(const char *path)
{
    char dir[PATH_MAX];
    dir_of(path, dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        warn("%s", dir);
    return fd;
}

/* Puts text in place of path: a temporary file in the same directory,
 * mode 0600, the old owner and group when root (and the group's read
 * permission, which msgd's service user may need, when the group stays
 * the same), written and synced, renamed over path, the directory
 * synced.  Returns 0, or -1 after saying why, the temporary file gone. */
static int replace_file(const char *path, int dirfd, const struct file *old,
                        const char *text, size_t len)
{
    char tmp[PATH_MAX + 16];
    struct stat now;
    mode_t mode = S_IRUSR | S_IWUSR;
    int closed;
    snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        warn("cannot create %s", tmp);
        return -1;
    }
    if (old->exists && fchown(fd, old->st.st_uid, old->st.st_gid) < 0) {
        if (geteuid() == 0) {
            warn("%s: cannot give it the owner of %s", tmp, path);
            goto out;
        }
        if (fchown(fd, (uid_t)-1, old->st.st_gid) < 0) {
            /* Not a group of ours: the file gets our own. */
        }
    }
    if (fstat(fd, &now) < 0) {
        warn("%s", tmp);
        goto out;
    }
    if (old->exists && now.st_gid == old->st.st_gid)
        mode |= old->st.st_mode & S_IRGRP;
    if (fchmod(fd, mode) < 0) {
        warn("%s", tmp);
        goto out;
    }
    if (write_all(fd, text, len) < 0 || fsync(fd) < 0) {
        warn("cannot write %s", tmp);
        goto out;
    }
    closed = close(fd);
    fd = -1;
    if (closed < 0) {
        warn("cannot write %s", tmp);
        goto out;
    }
    if (rename(tmp, path) < 0) {
        warn("cannot rename %s to %s", tmp, path);
        goto out;
    }
    if (fsync(dirfd) < 0) {
        warn("%s: replaced, but its directory could not be synced", path);
        return -1;
    }
    if (old->exists && now.st_uid != old->st.st_uid)
        warnx("warning: %s was uid %u's and is now uid %u's: only root "
              "keeps the owner",
              path, (unsigned)old->st.st_uid, (unsigned)now.st_uid);
    return 0;
out:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

/* Reads the file again (another msgpasswd may have changed it since it
 * was checked), edits it and replaces it.  hash NULL deletes name.
 * Returns 0, or -1 after saying why. */
static int edit_locked(const char *path, int dirfd, int create,
                       const char *name, const char *hash)
{
    struct file f;
    char *text;
    size_t len;
    if (load_file(path, create, hash != NULL, &f) < 0)
        return -1;
    int found =
        users_edit(f.text ? f.text : "", f.len, name, hash, &text, &len);
    if (found < 0)
        errx(1, "out of memory");
    int rc = -1;
    if (hash == NULL && !found)
        warnx("%s: no user %s", path, name);
    else
        rc = replace_file(path, dirfd, &f, text, len);
    if (rc == 0 && hash == NULL)
        printf("deleted %s from %s\n", name, path);
    else if (rc == 0)
        printf("%s %s %s %s\n", found ? "changed the password of" : "added",
               name, found ? "in" : "to", path);
    sodium_memzero(text, len);
    free(text);
    free_file(&f);
    return rc;
}

/* The edit, under a lock on the directory, which two runs in it take in
 * turn so that neither loses the other's edit, and with signals held, so
 * that none leaves the temporary file behind (but not while waiting for
 * the lock, which a signal may end).  Returns main's exit status. */
static int edit_file(const char *path, int create, const char *name,
                     const char *hash)
{
    sigset_t hold, old_mask;
    int dirfd = open_dir(path);
    if (dirfd < 0)
        return 1;
    /* Where the file system has no flock, runs do not wait: a lost edit
     * is the worst that can happen. */
    (void)flock(dirfd, LOCK_EX);
    sigemptyset(&hold);
    for (size_t i = 0; i < N_TTY_SIGNALS; i++)
        sigaddset(&hold, tty_signals[i]);
    sigprocmask(SIG_BLOCK, &hold, &old_mask);
    int rc = edit_locked(path, dirfd, create, name, hash);
    close(dirfd); /* and the lock with it */
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    int del = 0, create = 0, from_stdin = 0, opt;
    static const struct option longopts[] = {
        {"create", no_argument, NULL, 'c'},
        {"delete", no_argument, NULL, 'D'},
        {"stdin", no_argument, NULL, OPT_STDIN},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0; /* our own words, under our own name */
    while ((opt = getopt_long(argc, argv, ":cDhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            create = 1;
            break;
        case 'D':
            del = 1;
            break;
        case OPT_STDIN:
            from_stdin = 1;
            break;
        case 'h':
            usage(stdout);
            return EX_OK;
        case 'V':
            printf("msgpasswd %s (libsodium %s; argon2id, t=%llu m=%zu MiB)\n",
                   PACKAGE_VERSION, sodium_version_string(),
                   (unsigned long long)OPSLIMIT, (size_t)(MEMLIMIT >> 20));
            return EX_OK;
        case ':':
            return usage_error("option '%s' needs an argument",
                               argv[optind - 1]);
        default:
            if (optopt)
                return usage_error("unknown option '-%c'", optopt);
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 2)
        return usage_error("too many arguments: FILE and NAME only (the "
                           "password is asked for, or read with --stdin)");
    if (argc - optind < 2)
        return usage_error(argc == optind ? "missing FILE and NAME"
                                          : "missing NAME");
    const char *path = argv[optind], *name = argv[optind + 1];
    if (del && (create || from_stdin))
        return usage_error("-D takes neither -c nor --stdin");
    if (*path == '\0' || strlen(path) >= PATH_MAX)
        return usage_error("FILE must be a path of 1 to %d bytes",
                           PATH_MAX - 1);
    if (!users_valid_name(name))
        return usage_error("invalid user name '%.80s': 1 to %d of A-Z a-z "
                           "0-9 . _ -",
                           name, USERS_MAX_NAME);
    if (sodium_init() < 0)
        errx(1, "cannot initialize libsodium");
    if (del)
        return edit_file(path, 0, name, NULL);

    /* What would fail is found before anyone types: a file msgpasswd
     * refuses, a directory where it cannot write the new one. */
    struct file f;
    char dir[PATH_MAX];
    if (load_file(path, create, 1, &f) < 0)
        return 1;
    free_file(&f);
    dir_of(path, dir);
    if (access(dir, W_OK | X_OK) < 0)
        err(1, "cannot write in %s", dir);
    size_t max = max_password(name), len = 0;
    char *pw = sodium_malloc(max), *again = sodium_malloc(max);
    char hash[crypto_pwhash_STRBYTES];
    if (pw == NULL || again == NULL)
        errx(1, "out of memory");
    int rc = get_password(from_stdin, name, pw, again, &len);
    if (rc == 0)
        rc = hash_password(pw, len, hash);
    sodium_memzero(pw, max);
    sodium_memzero(again, max);
    sodium_free(pw);
    sodium_free(again);
    if (rc < 0)
        return 1;
    int status = edit_file(path, create, name, hash);
    sodium_memzero(hash, sizeof hash);
    return status;
}
