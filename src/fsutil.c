/* fsutil.c: directory creation for msgd's own files. */
#include "fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CREATED 16

static char *created[MAX_CREATED];
static int ncreated;

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
        if (created[i] && chown(created[i], uid, gid) < 0) {
            *failed = created[i];
            return -1;
        }
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
