/* preflight.c: checks of msgd's own files before start and at -t, so
 * that "ok" means the daemon can start, not only that the file parses.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"

struct file_setting {
    const char *name;
    size_t off; /* char * in struct config */
};

static const struct file_setting files[] = {
    {"pidfile", offsetof(struct config, pidfile)},
    {"server_log", offsetof(struct config, server_log)},
    {"client_log", offsetof(struct config, client_log)},
    {"admin_socket", offsetof(struct config, admin_socket)},
};

#define NFILES (sizeof files / sizeof files[0])

/* Files msgd only reads, for the link to NATS. */
static const struct file_setting cluster_files[] = {
    {"cluster.creds", offsetof(struct config, cluster.creds)},
    {"cluster.nkey_seed", offsetof(struct config, cluster.nkey_seed)},
    {"cluster.token_file", offsetof(struct config, cluster.token_file)},
    {"cluster.password_file", offsetof(struct config, cluster.password_file)},
    {"cluster.tls.ca", offsetof(struct config, cluster.tls.ca)},
    {"cluster.tls.cert", offsetof(struct config, cluster.tls.cert)},
    {"cluster.tls.key", offsetof(struct config, cluster.tls.key)},
};

static const char *path_of(const struct config *cfg, size_t i)
{
    return *(char *const *)((const char *)cfg + files[i].off);
}

static int in_user_dir(const char *path)
{
    const char *dir = config_user_dir();
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static int user_dir(const struct config *cfg, int create, char *err,
                    size_t errlen)
{
    if (geteuid() == 0)
        return 0;
    for (size_t i = 0; i < NFILES; i++)
        if (in_user_dir(path_of(cfg, i)))
            return fs_private_dir(config_user_dir(), create, err, errlen);
    return 0;
}

int preflight_user_dir(const struct config *cfg, char *err, size_t errlen)
{
    return user_dir(cfg, 1, err, errlen);
}

/* The nearest directory of path that exists: where msgd would have to
 * create what is missing. */
static void existing_ancestor(const char *path, char *out, size_t outlen)
{
    struct stat st;
    snprintf(out, outlen, "%s", path);
    for (;;) {
        char *slash = strrchr(out, '/');
        if (slash == NULL) {
            snprintf(out, outlen, ".");
            return;
        }
        if (slash == out) {
            out[1] = '\0';
            return;
        }
        *slash = '\0';
        if (stat(out, &st) == 0)
            return;
    }
}

static int check_one(const char *name, const char *path, char *err,
                     size_t errlen)
{
    char dir[1024];
    struct stat st;

    /* A file that is there and writable will do (the admin socket is
     * made anew, so it needs its directory in any case). */
    if (strcmp(name, "admin_socket") != 0 && stat(path, &st) == 0) {
        if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0)
            return 0;
        snprintf(err, errlen, "%s %s: cannot write it: %s", name, path,
                 strerror(errno));
        return -1;
    }
    existing_ancestor(path, dir, sizeof dir);
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s %s: %s is not a directory", name, path, dir);
        return -1;
    }
    if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0) {
        snprintf(err, errlen, "%s %s: cannot create it in %s: %s", name, path,
                 dir, strerror(errno));
        return -1;
    }
    return 0;
}

int preflight_paths(const struct config *cfg, char *err, size_t errlen)
{
    char why[2600], where[512];

    if (user_dir(cfg, 0, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", cfg->file ? cfg->file : "msgd", why);
        return -1;
    }
    for (size_t i = 0; i < NFILES; i++) {
        if (check_one(files[i].name, path_of(cfg, i), why, sizeof why) < 0) {
            config_where(cfg->file, files[i].name, where, sizeof where);
            snprintf(err, errlen, "%s: %s", where, why);
            return -1;
        }
    }
    return 0;
}

/* What the service user cannot do about one log, found by that user. */
struct dir_problem {
    int own; /* 1: the log's own directory takes no new file; 0: a
              * directory above it cannot be reached */
    int err;
    char dir[1024];
};

/* Whether the service user (the caller, by now) could make path's log
 * anew after a rotation; 0, or 1 with *p filled in.  access(2) as that
 * user says what the dropped daemon would meet, ACLs and all. */
static int log_dir_problem(const char *path, struct dir_problem *p)
{
    char parent[1024];

    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash == NULL)
        return 0;
    slash[slash == parent] = '\0'; /* "/x" -> "/" */
    existing_ancestor(path, p->dir, sizeof p->dir);
    /* The log's own directory must take a new file; a missing one msgd
     * creates and hands to the user, so the nearest existing one above
     * it need only be reached. */
    p->own = strcmp(p->dir, parent) == 0;
    if (access(p->dir, p->own ? W_OK | X_OK : X_OK) == 0)
        return 0;
    p->err = errno;
    return 1;
}

int preflight_service_dirs(const struct config *cfg, uid_t uid, gid_t gid,
                           char *err, size_t errlen)
{
    static const char *const logs[] = {"server_log", "client_log"};
    const char *paths[] = {cfg->server_log, cfg->client_log};
    struct dir_problem p;
    int fds[2], i, device[2];
    struct stat st;

    /* Looked at as root: a device (/dev/null) is never rotated. */
    for (i = 0; i < 2; i++)
        device[i] = lstat(paths[i], &st) == 0 && S_ISCHR(st.st_mode);

    if (uid == 0)
        return 0; /* root can make its files anywhere */
    if (pipe(fds) < 0)
        return 0; /* cannot tell: the start goes on */
    /* A child drops to the user: nothing else is running yet, so there
     * is no thread to lose. */
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
            _exit(2);
        for (i = 0; i < 2; i++) {
            memset(&p, 0, sizeof p);
            if (!device[i] && log_dir_problem(paths[i], &p)) {
                (void)!write(fds[1], &i, sizeof i);
                (void)!write(fds[1], &p, sizeof p); /* < PIPE_BUF */
                _exit(1);
            }
        }
        _exit(0);
    }
    close(fds[1]);
    int found = pid > 0 && read(fds[0], &i, sizeof i) == sizeof i &&
                read(fds[0], &p, sizeof p) == sizeof p && (i == 0 || i == 1);
    close(fds[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    if (!found)
        return 0; /* all is well, or it cannot be told */
    p.dir[sizeof p.dir - 1] = '\0';
    struct passwd *pw = getpwuid(uid);
    struct group *gr = getgrgid(gid);
    char where[512], user[64], group[64];
    config_where(cfg->file, logs[i], where, sizeof where);
    if (pw)
        snprintf(user, sizeof user, "%s", pw->pw_name);
    else
        snprintf(user, sizeof user, "%u", (unsigned)uid);
    if (gr)
        snprintf(group, sizeof group, "%s", gr->gr_name);
    else
        snprintf(group, sizeof group, "%u", (unsigned)gid);
    char fix[1200];
    if (p.own)
        snprintf(fix, sizeof fix, "chown %s:%s %s", user, group, p.dir);
    else
        snprintf(fix, sizeof fix, "let %s search %s (chmod o+x)", user, p.dir);
    snprintf(err, errlen,
             "%s: %s %s: user %s cannot %s directory %s (%s), so msgd could "
             "not make the log anew after logrotate moves it; %s, or run "
             "msgd under systemd as User=%s with LogsDirectory= and no user "
             "setting",
             where, logs[i], paths[i], user, p.own ? "write to" : "reach",
             p.dir, strerror(p.err), fix, user);
    return -1;
}

int preflight_cluster_files(const struct config *cfg, char *err, size_t errlen)
{
    if (!cfg->cluster.enabled)
        return 0;
    for (size_t i = 0; i < sizeof cluster_files / sizeof *cluster_files; i++) {
        const char *path =
            *(char *const *)((const char *)cfg + cluster_files[i].off);
        if (path == NULL)
            continue;
        /* Opened, not access()ed: what counts is what a read will meet. */
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        int why = fd < 0 ? errno : 0;
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
            why = EISDIR;
        if (fd >= 0)
            close(fd);
        if (why == 0)
            continue;
        char where[512];
        config_where(cfg->file, cluster_files[i].name, where, sizeof where);
        snprintf(err, errlen, "%s: %s %s: %s", where, cluster_files[i].name,
                 path, strerror(why));
        return -1;
    }
    return 0;
}
