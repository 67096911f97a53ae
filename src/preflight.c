/* preflight.c: checks of msgd's own files before start and at -t, so
 * that "ok" means the daemon can start, not only that the file parses. */
#include "preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
