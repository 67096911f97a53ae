/* daemon.c: the background start, after chrony's go_daemon: the launching
 * process waits on a pipe; a '\0' byte means ready, anything else is the
 * daemon's error message, and end of file without either means it died.
 * Also the pidfile lock and the privilege drop.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "daemon.h"

#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int ready_fd = -1;
static int pid_fd = -1;
static char *pid_path;

/* The launcher: relays the daemon's verdict and exits with it. */
static void wait_for_daemon(int fd, pid_t child)
{
    char buf[1024];
    size_t len = 0;
    ssize_t n;
    int status;

    while ((n = read(fd, buf + len, sizeof buf - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        len += (size_t)n;
        if (buf[0] == '\0' || len == sizeof buf - 1)
            break;
    }
    waitpid(child, &status, 0); /* the intermediate child */
    if (len > 0 && buf[0] == '\0')
        exit(0);
    if (len == 0) {
        fprintf(stderr, "msgd: the daemon exited while starting\n");
        exit(1);
    }
    buf[len] = '\0';
    fprintf(stderr, "msgd: %s\n", buf);
    exit(1);
}

int daemon_start(char *err, size_t errlen)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        wait_for_daemon(p[0], pid);
    }
    close(p[0]);
    ready_fd = p[1];
    setsid();
    /* Fork again so the daemon is not a session leader and can never
     * acquire a controlling terminal. */
    pid = fork();
    if (pid < 0)
        _exit(1);
    if (pid > 0)
        _exit(0);
    if (chdir("/") < 0)
        return -1;
    umask(022);
    return 0;
}

void daemon_detach_stdio(void)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    for (int i = 0; i < 3; i++)
        dup2(fd, i); /* dup2 clears close-on-exec on 0..2, as it should */
    if (fd > 2)
        close(fd);
}

/* systemd's sd_notify("READY=1"), one datagram, without libsystemd. */
static void notify_systemd(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n;

    if (path == NULL || (path[0] != '/' && path[0] != '@'))
        return;
    n = strlen(path);
    if (n >= sizeof sa.sun_path)
        return;
    memcpy(sa.sun_path, path, n);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa,
           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
    close(fd);
}

void daemon_ready(void)
{
    notify_systemd();
    if (ready_fd < 0)
        return;
    (void)!write(ready_fd, "", 1);
    close(ready_fd);
    ready_fd = -1;
}

void daemon_fail(const char *msg)
{
    if (ready_fd < 0) {
        fprintf(stderr, "msgd: %s\n", msg);
        return;
    }
    (void)!write(ready_fd, msg, strlen(msg));
    close(ready_fd);
    ready_fd = -1;
}

int pidfile_open(const char *path, char *err, size_t errlen)
{
    char buf[32];
    const char *why;
    /* Truncated and rewritten below: a link planted here must be refused,
     * never followed to the file it names. */
    int fd = fs_open_file(path, O_RDWR, 0644, 0, &why);
    if (fd < 0) {
        snprintf(err, errlen, "pidfile %s: %s", path, why);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        snprintf(err, errlen, "already running: pidfile %s is locked by pid %s",
                 path, *buf ? buf : "?");
        close(fd);
        return -1;
    }
    /* The lock was free: any pid in the file is a crashed daemon's. */
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        snprintf(err, errlen, "pidfile %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    pid_fd = fd;
    free(pid_path);
    pid_path = strdup(path);
    return 0;
}

void pidfile_remove(void)
{
    if (pid_fd < 0)
        return;
    if (pid_path)
        unlink(pid_path);
    close(pid_fd);
    pid_fd = -1;
    free(pid_path);
    pid_path = NULL;
}

int daemon_service_user(const struct config *cfg, uid_t *uid, gid_t *gid,
                        char *err, size_t errlen)
{
    *uid = geteuid();
    *gid = getegid();
    if ((cfg->user == NULL && cfg->group == NULL) || geteuid() != 0)
        return 0; /* not root, or staying root: nothing to drop */
    if (cfg->user) {
        struct passwd *pw = getpwnam(cfg->user);
        if (pw == NULL) {
            snprintf(err, errlen, "user '%s': no such user", cfg->user);
            return -1;
        }
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
    }
    if (cfg->group) {
        struct group *gr = getgrnam(cfg->group);
        if (gr == NULL) {
            snprintf(err, errlen, "group '%s': no such group", cfg->group);
            return -1;
        }
        *gid = gr->gr_gid;
    }
    return 1;
}

/* Users that other software runs as too: anything running as them may use
 * the admin socket as "the daemon's uid" does. */
static const char *const shared_users[] = {"nobody"};

const char *daemon_user_warning(const struct config *cfg)
{
    for (size_t i = 0;
         cfg->user && i < sizeof shared_users / sizeof *shared_users; i++)
        if (strcmp(cfg->user, shared_users[i]) == 0)
            return "is shared with other services, which could then kick "
                   "nodes and reload msgd through the admin socket; give "
                   "msgd a user of its own (e.g. \"msgd\")";
    return NULL;
}

int daemon_drop_privileges(uid_t uid, gid_t gid, char *err, size_t errlen)
{
    const char *failed = NULL;

    /* The pidfile, the logs and the admin socket were handed to uid:gid
     * by descriptor when they were opened.  The directories msgd made for
     * them go too, so that the pidfile and socket can be removed at exit
     * and the logs reopened after logrotate; shared ones like /run are
     * left alone. */
    if (fs_chown_created(uid, gid, &failed) < 0) {
        snprintf(err, errlen, "chown %s: %s", failed, strerror(errno));
        return -1;
    }
    if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
        snprintf(err, errlen, "dropping privileges: %s", strerror(errno));
        return -1;
    }
    if (uid != 0 && setuid(0) == 0) {
        snprintf(err, errlen, "dropping privileges: root could be regained");
        return -1;
    }
    return 0;
}
