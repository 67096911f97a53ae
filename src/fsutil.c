/* fsutil.c: msgd's own files and directories, after the way OpenBSD
 * daemons and systemd's tmpfiles treat theirs.  Root opens them at start,
 * in directories the service user may write to (so that it can reopen
 * its logs after logrotate and remove its pidfile and socket at stop):
 * whatever that user planted there (a symbolic link, a hard link, a FIFO)
 * must never make root write, truncate or chown anything else.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CREATED 16

static char *created[MAX_CREATED];
static int ncreated;
static int owner_set;
static uid_t owner_uid;
static gid_t owner_gid;

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0755) == 0) {
        if (ncreated < MAX_CREATED)
            created[ncreated++] = strdup(dir);
        return 0;
    }
    return errno == EEXIST ? 0 : -1;
}

int fs_make_parent(const char *path)
{
    size_t n = strlen(path);
    char *dir = malloc(n + 1);
    if (dir == NULL)
        return -1;
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; *p && rc == 0; p++) {
            if (*p != '/')
                continue;
            *p = '\0';
            rc = make_dir(dir);
            *p = '/';
        }
        if (rc == 0)
            rc = make_dir(dir);
    }
    int e = errno;
    free(dir);
    errno = e;
    return rc;
}

int fs_chown_created(uid_t uid, gid_t gid, const char **failed)
{
    for (int i = 0; i < ncreated; i++) {
        if (created[i] == NULL)
            continue;
        /* By descriptor: a directory renamed away and replaced by a link
         * since it was made is refused, not followed. */
        int fd =
            open(created[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fchown(fd, uid, gid) < 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            *failed = created[i];
            errno = e;
            return -1;
        }
        close(fd);
    }
    return 0;
}

void fs_set_owner(uid_t uid, gid_t gid)
{
    owner_set = 1;
    owner_uid = uid;
    owner_gid = gid;
}

/* What msgd refuses to take for one of its files, by file type. */
static const struct {
    mode_t type;
    const char *why;
} refused_types[] = {
    {S_IFLNK, "is a symbolic link, refusing to follow it"},
    {S_IFDIR, "is a directory, not a regular file"},
    {S_IFIFO, "is a FIFO, not a regular file"},
    {S_IFSOCK, "is a socket, not a regular file"},
    {S_IFCHR, "is a character device, not a regular file"},
    {S_IFBLK, "is a block device, not a regular file"},
};

static const char *type_refusal(mode_t mode, unsigned opts)
{
    if (S_ISCHR(mode) && (opts & FS_CHARDEV_OK))
        return NULL;
    for (size_t i = 0; i < sizeof refused_types / sizeof *refused_types; i++)
        if ((mode & S_IFMT) == refused_types[i].type)
            return refused_types[i].why;
    return S_ISREG(mode) ? NULL : "is not a regular file";
}

/* Why open() failed, said from what is at path when that is clearer than
 * errno (ELOOP for a link, ENXIO for a FIFO nobody reads, EISDIR). */
static const char *open_refusal(const char *path, unsigned opts, int err)
{
    struct stat st;
    const char *why = NULL;
    if (lstat(path, &st) == 0)
        why = type_refusal(st.st_mode, opts);
    return why ? why : strerror(err);
}

int fs_open_file(const char *path, int flags, mode_t mode, unsigned opts,
                 const char **why)
{
    /* O_NOFOLLOW: a link at path is refused, not followed.  O_NONBLOCK:
     * a FIFO or device planted there cannot block the open (it has no
     * effect on the regular file we keep).  O_NOCTTY: nor can a tty
     * become the daemon's controlling terminal. */
    int fl = flags | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    struct stat st;

    int fd = open(path, fl, mode);
    if (fd < 0 && errno == ENOENT && fs_make_parent(path) == 0)
        fd = open(path, fl, mode);
    if (fd < 0) {
        *why = open_refusal(path, opts, errno);
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        *why = strerror(errno);
    } else if ((*why = type_refusal(st.st_mode, opts)) != NULL) {
        /* opened, but not ours to write to */
    } else if (!S_ISREG(st.st_mode)) {
        return fd; /* an allowed device: root's, and left so */
    } else if (st.st_nlink > 1) {
        /* Another name for the same file: writing or chowning it would
         * reach whatever file that is. */
        *why = "has more than one hard link, refusing to write to it";
    } else if (owner_set && geteuid() == 0 &&
               (st.st_uid != owner_uid || st.st_gid != owner_gid) &&
               fchown(fd, owner_uid, owner_gid) < 0) {
        *why = strerror(errno);
    } else {
        return fd;
    }
    close(fd);
    return -1;
}

int fs_chown_socket(const char *path, const char **why)
{
    struct stat st;
    if (!owner_set || geteuid() != 0)
        return 0;
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    int rc = -1;
    if (fstat(fd, &st) < 0)
        *why = strerror(errno);
    else if (!S_ISSOCK(st.st_mode))
        *why = "was replaced by something that is not a socket";
    else if (st.st_nlink > 1)
        *why = "has more than one hard link, refusing to chown it";
    else if (fchownat(fd, "", owner_uid, owner_gid, AT_EMPTY_PATH) < 0)
        *why = strerror(errno);
    else
        rc = 0;
    close(fd);
    return rc;
}

/* Who besides root and uid:gid may write to a directory with st, or NULL
 * if nobody.  The sticky bit keeps others from replacing what is not
 * theirs, as in /tmp. */
static const char *dir_writers(const struct stat *st, uid_t uid, gid_t gid,
                               char *buf, size_t len)
{
    int sticky = (st->st_mode & S_ISVTX) != 0;
    if (st->st_uid != 0 && st->st_uid != uid) {
        struct passwd *pw = getpwuid(st->st_uid);
        snprintf(buf, len, "is owned by user %s (%u)", pw ? pw->pw_name : "?",
                 (unsigned)st->st_uid);
    } else if ((st->st_mode & S_IWOTH) && !sticky) {
        snprintf(buf, len, "is writable by every user");
    } else if ((st->st_mode & S_IWGRP) && !sticky && st->st_gid != 0 &&
               st->st_gid != gid) {
        struct group *gr = getgrgid(st->st_gid);
        snprintf(buf, len, "is writable by group %s (%u)",
                 gr ? gr->gr_name : "?", (unsigned)st->st_gid);
    } else {
        return NULL;
    }
    return buf;
}

int fs_unsafe_dir(const char *path, uid_t uid, gid_t gid, char *dir,
                  size_t dirlen, char *why, size_t whylen)
{
    size_t n = strlen(path);
    if (n >= dirlen)
        return 0;
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    while (slash) {
        if (slash == dir)
            slash[1] = '\0'; /* "/" itself */
        else
            *slash = '\0';
        struct stat st;
        if (stat(dir, &st) == 0 && dir_writers(&st, uid, gid, why, whylen))
            return 1;
        slash = slash == dir ? NULL : strrchr(dir, '/');
    }
    return 0;
}

int fs_private_dir(const char *dir, int create, char *err, size_t errlen)
{
    struct stat st;

    if (!create && lstat(dir, &st) < 0 && errno == ENOENT)
        return 0;
    if (create && mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    /* Anyone may have made it first (it may be in /tmp): it must be a
     * real directory of ours that no one else can write. */
    if (lstat(dir, &st) < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 0022)) {
        snprintf(err, errlen,
                 "%s: not a directory of uid %lu that only it can write; "
                 "remove it, or set the paths in the configuration",
                 dir, (unsigned long)geteuid());
        return -1;
    }
    return 0;
}
