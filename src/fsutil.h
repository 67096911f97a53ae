/* fsutil.h: creating the directories of msgd's files, remembering which
 * ones msgd made so that exactly those are handed to the unprivileged user. */
#ifndef MSGD_FSUTIL_H
#define MSGD_FSUTIL_H

#include <sys/types.h>

/* mkdir -p of the directory part of path (0755).  Returns 0 or -1/errno. */
int fs_make_parent(const char *path);
/* chown of every directory fs_make_parent created.  Returns 0 or -1. */
int fs_chown_created(uid_t uid, gid_t gid, const char **failed);

/* Makes dir (mode 0700) unless it exists or create is 0, and checks that
 * it is a real directory of this user's that no one else can write.
 * Returns 0 (also when it is absent and create is 0), or -1 with a message
 * in err. */
int fs_private_dir(const char *dir, int create, char *err, size_t errlen);

#endif
