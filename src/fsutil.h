/* fsutil.h: msgd's own files and their directories, opened and handed to
 * the service user without ever following a link someone else planted:
 * the directories msgd creates, the regular files it opens in them, and
 * the check that an existing directory is writable by nobody else.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_FSUTIL_H
#define MSGD_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p of the directory part of path (0755).  Returns 0 or -1/errno. */
int fs_make_parent(const char *path);
/* Hands every directory fs_make_parent created to uid:gid, by descriptor.
 * Returns 0, or -1 with *failed the directory and errno set. */
int fs_chown_created(uid_t uid, gid_t gid, const char **failed);

/* Makes dir (mode 0700) unless it exists or create is 0, and checks that
 * it is a real directory of this user's that no one else can write.
 * Returns 0 (also when it is absent and create is 0), or -1 with a message
 * in err. */
int fs_private_dir(const char *dir, int create, char *err, size_t errlen);

/* The user that files opened as root are handed to (the service user),
 * before privileges are dropped.  Unset, files keep their owner. */
void fs_set_owner(uid_t uid, gid_t gid);

/* fs_open_file's opts: a character device (/dev/null, /dev/full) is taken
 * as it is, never chowned.  Only root can make one, so none is planted. */
#define FS_CHARDEV_OK 1u

/* Opens (creating it and its directories if missing, with mode) the
 * regular file at path for flags (O_WRONLY | O_APPEND, or O_RDWR).
 * Never follows a symbolic link at path; refuses anything but a regular
 * file with one link (or a character device, with FS_CHARDEV_OK in opts);
 * as root, hands a regular file to fs_set_owner's user by its descriptor.
 * Returns the descriptor, or -1 with *why saying why (a constant string or
 * strerror's). */
int fs_open_file(const char *path, int flags, mode_t mode, unsigned opts,
                 const char **why);

/* As root, hands the Unix socket msgd just bound at path to fs_set_owner's
 * user, through an O_PATH descriptor of what is there now: something else
 * put there meanwhile is refused, never chowned.  Returns 0, or -1 with
 * *why set. */
int fs_chown_socket(const char *path, const char **why);

/* Looks at each existing directory from path's up to "/" for one that a
 * user other than root and uid (or a group other than root's and gid) may
 * write to, which could replace msgd's files.  Returns 1 with that
 * directory in dir and the reason in why, or 0 when there is none. */
int fs_unsafe_dir(const char *path, uid_t uid, gid_t gid, char *dir,
                  size_t dirlen, char *why, size_t whylen);

#endif
