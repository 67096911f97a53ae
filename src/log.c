/* log.c: the two log files.  Writing never stops the daemon: each stream
 * has a bounded in-memory queue, flushed once per loop pass with one
 * write; a write that fails drops the queued lines and counts them, and
 * the next good write to server_log reports the count as a warning.  A
 * log that cannot be reopened after logrotate moved it is not written
 * on in its rotated file: its lines are dropped and counted, and the
 * reopen is tried again once a second.  A file removed under the daemon
 * is noticed within a second and reopened at its path the same way.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "log.h"

#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QUEUE_BYTES 65536
#define RETRY_MS 1000 /* how often a failed reopen is tried again */
#define CHECK_MS 1000 /* how often open files are checked for removal */
#define LINE_BYTES 8192

struct stream {
    const char *name; /* the setting that names the file */
    char *path;
    int fd;
    size_t len;
    uint64_t lost, unreported;
    int last_errno; /* 0: the cause is in why */
    int midline;    /* a failed write left a partial line in the file */
    int reopen_due; /* the file at path could not be reopened: retry */
    int removed;    /* found removed: say so once it is reopened */
    char why[160];  /* why the reopen failed */
    char queue[QUEUE_BYTES];
};

static struct stream streams[2] = {
    {.name = "server_log", .fd = -1},
    {.name = "client_log", .fd = -1},
};

static enum log_level level = LOG_LVL_INFO;
static int64_t clock_ms;
static int copy_stderr;
static int64_t next_report_ms;
static int64_t next_retry_ms;
static int64_t next_check_ms;
static char line[LINE_BYTES];
static struct jsonw line_jw;
static enum log_stream line_stream;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level lvl)
{
    level = lvl;
}

int log_wants(enum log_level lvl)
{
    return lvl <= level;
}

void log_set_clock(int64_t realtime_ms)
{
    clock_ms = realtime_ms;
}

void log_set_stderr(int on)
{
    copy_stderr = on;
}

/* Symlink-safe (see fs_open_file): as root at start, and again on
 * SIGHUP/SIGUSR1 in a directory the service user may own.  A character
 * device is a log too: /dev/null turns one off. */
static int open_file(const char *path, const char **why)
{
    return fs_open_file(path, O_WRONLY | O_APPEND, 0640, FS_CHARDEV_OK, why);
}

int log_open(const char *server_path, const char *client_path, char *err,
             size_t errlen)
{
    const char *paths[2] = {server_path, client_path};
    const char *why;
    for (int i = 0; i < 2; i++) {
        int fd = open_file(paths[i], &why);
        if (fd < 0) {
            snprintf(err, errlen, "%s %s: %s", streams[i].name, paths[i], why);
            log_close();
            return -1;
        }
        streams[i].fd = fd;
        streams[i].reopen_due = 0;
        free(streams[i].path);
        streams[i].path = strdup(paths[i]);
    }
    return 0;
}

static void flush_stream(struct stream *s);

/* Whether fd is still the file at path: not moved away, not replaced. */
static int still_at_path(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* Opens s's path again.  When that fails, the old descriptor is kept
 * only if it is still the file at the path (nothing was rotated): lines
 * written on into a rotated file would be compressed away by the next
 * rotation, unseen.  Otherwise lines are dropped until a retry works. */
static int reopen_stream(struct stream *s, const char **why)
{
    int fd = open_file(s->path, why);
    if (fd < 0) {
        snprintf(s->why, sizeof s->why, "reopening %s: %s", s->path, *why);
        if (s->fd >= 0 && !still_at_path(s->fd, s->path)) {
            close(s->fd);
            s->fd = -1;
        }
        s->reopen_due = s->fd < 0;
        return -1;
    }
    if (s->fd >= 0)
        close(s->fd);
    s->fd = fd;
    s->midline = 0;
    s->reopen_due = 0;
    return 0;
}

int log_reopen(char *err, size_t errlen)
{
    int rc = 0;
    log_flush(); /* queued lines belong to the old file */
    next_retry_ms = clock_ms + RETRY_MS;
    for (int i = 0; i < 2; i++) {
        struct stream *s = &streams[i];
        if (s->path == NULL)
            continue;
        const char *why;
        if (reopen_stream(s, &why) < 0) {
            if (rc == 0)
                snprintf(err, errlen, "%s %s: %s", s->name, s->path, why);
            rc = -1;
        }
    }
    return rc;
}

/* The retry of a failed reopen: silent while it fails (the failure was
 * logged once, when the reopen was asked for); a log-reopen line when it
 * works, and the lost lines are reported as for any failed write. */
static void retry_reopen(void)
{
    for (int i = 0; i < 2; i++) {
        struct stream *s = &streams[i];
        const char *why;
        if (!s->reopen_due || s->path == NULL || reopen_stream(s, &why) < 0)
            continue;
        struct jsonw *jw;
        if (s->removed) {
            s->removed = 0;
            jw = log_begin(LOG_SERVER, LOG_LVL_WARN, "warning");
            if (jw) {
                jw_str(jw, "msg", "log file was removed; reopened at its path");
                jw_str(jw, "stream", s->name);
                jw_str(jw, "path", s->path);
                log_commit(jw);
            }
            continue;
        }
        jw = log_begin(LOG_SERVER, LOG_LVL_INFO, "log-reopen");
        if (jw) {
            jw_str(jw, "result", "ok");
            jw_str(jw, "stream", s->name);
            jw_bool(jw, "retry", 1);
            log_commit(jw);
        }
    }
}

/* A file removed under us (rm -rf of its directory) would take every line
 * into an unlinked inode, lost without a count: it is let go, and the
 * retry above opens it again at its path (directories made again), with
 * its lines dropped and counted while that fails. */
static void check_removed(void)
{
    for (int i = 0; i < 2; i++) {
        struct stream *s = &streams[i];
        struct stat st;
        if (s->path == NULL || s->fd < 0 || fstat(s->fd, &st) < 0 ||
            st.st_nlink > 0 || !S_ISREG(st.st_mode))
            continue;
        close(s->fd);
        s->fd = -1;
        s->reopen_due = 1;
        s->removed = 1;
        snprintf(s->why, sizeof s->why, "%s was removed", s->path);
    }
}

void log_close(void)
{
    log_flush();
    for (int i = 0; i < 2; i++) {
        if (streams[i].fd >= 0)
            close(streams[i].fd);
        streams[i].fd = -1;
        free(streams[i].path);
        streams[i].path = NULL;
    }
}

uint64_t log_lost(void)
{
    return streams[0].lost + streams[1].lost;
}

static struct jsonw *begin(enum log_stream s, enum log_level lvl,
                           const char *event)
{
    char ts[32];
    jw_timestamp(ts, clock_ms);
    jw_begin(&line_jw, line, sizeof line);
    jw_str(&line_jw, "ts", ts);
    jw_str(&line_jw, "level", level_names[lvl]);
    jw_str(&line_jw, "event", event);
    line_stream = s;
    return &line_jw;
}

struct jsonw *log_begin(enum log_stream s, enum log_level lvl,
                        const char *event)
{
    return lvl > level ? NULL : begin(s, lvl, event);
}

struct jsonw *log_begin_audit(enum log_stream s, const char *event)
{
    return begin(s, LOG_LVL_INFO, event);
}

static size_t count_lines(const char *p, size_t n)
{
    size_t k = 0;
    for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
        k++;
    return k;
}

static void drop(struct stream *s, size_t lines, int err)
{
    s->lost += lines;
    s->unreported += lines;
    s->last_errno = err;
}

static void enqueue(struct stream *s, const char *p, size_t n)
{
    if (s->len + n > sizeof s->queue)
        flush_stream(s);
    if (s->len + n > sizeof s->queue) {
        drop(s, 1, ENOBUFS);
        return;
    }
    memcpy(s->queue + s->len, p, n);
    s->len += n;
}

void log_commit(struct jsonw *jw)
{
    long n = jw_finish(jw);
    struct stream *s = &streams[line_stream];
    if (n < 0) {
        drop(s, 1, EMSGSIZE);
        return;
    }
    if (copy_stderr && line_stream == LOG_SERVER)
        (void)!write(STDERR_FILENO, line, (size_t)n);
    enqueue(s, line, (size_t)n);
}

static void flush_stream(struct stream *s)
{
    size_t off = 0;
    if (s->len == 0)
        return;
    if (s->fd < 0) {
        drop(s, count_lines(s->queue, s->len), s->reopen_due ? 0 : EBADF);
        s->len = 0;
        return;
    }
    /* After a failed write left half a line in the file, start on a fresh
     * line so that every later line still parses. */
    if (s->midline && write(s->fd, "\n", 1) == 1)
        s->midline = 0;
    while (off < s->len) {
        ssize_t w = write(s->fd, s->queue + off, s->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            /* Lines wholly unwritten are lost; a line cut in two ends
             * the file mid-line. */
            const char *rest = s->queue + off;
            if (off > 0 && s->queue[off - 1] != '\n')
                s->midline = 1;
            drop(s, count_lines(rest, s->len - off), e);
            break;
        }
        off += (size_t)w;
    }
    s->len = 0;
}

static void report_losses(void)
{
    struct stream *srv = &streams[LOG_SERVER];
    for (int i = 0; i < 2; i++) {
        struct stream *s = &streams[i];
        if (s->unreported == 0)
            continue;
        struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_WARN, "warning");
        uint64_t n = s->unreported;
        s->unreported = 0;
        if (jw == NULL)
            continue;
        jw_str(jw, "msg", "log write failed");
        jw_str(jw, "stream", s->name);
        jw_uint(jw, "lost", n);
        jw_str(jw, "error", s->last_errno ? strerror(s->last_errno) : s->why);
        log_commit(jw);
    }
    flush_stream(srv);
}

void log_flush(void)
{
    /* (A wall clock set back must not postpone the check.) */
    if (clock_ms >= next_check_ms || clock_ms < next_check_ms - CHECK_MS) {
        next_check_ms = clock_ms + CHECK_MS;
        check_removed();
        next_retry_ms = 0; /* a removed file is opened again at once */
    }
    if ((streams[0].reopen_due || streams[1].reopen_due) &&
        clock_ms >= next_retry_ms) {
        next_retry_ms = clock_ms + RETRY_MS;
        retry_reopen();
    }
    flush_stream(&streams[LOG_CLIENT]);
    flush_stream(&streams[LOG_SERVER]);
    /* Try to report losses at most once a second: while server_log
     * itself is failing, the report is lost too and counted again.  Not
     * at all while it has no file: the count would be lost with it. */
    if ((streams[0].unreported || streams[1].unreported) &&
        streams[LOG_SERVER].fd >= 0 && clock_ms >= next_report_ms) {
        next_report_ms = clock_ms + 1000;
        report_losses();
    }
}
