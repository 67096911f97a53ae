/* log.c: the two log files.  Writing never stops the daemon: each stream
 * has a bounded in-memory queue, flushed once per loop pass with one
 * write; a write that fails drops the queued lines and counts them, and
 * the next good write to server_log reports the count as a warning.  A
 * file removed under the daemon is noticed within a second and reopened
 * at its path. */
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
#define LINE_BYTES 8192
#define CHECK_MS 1000 /* how often open files are checked for removal */

struct stream {
    const char *name; /* the setting that names the file */
    char *path;
    int fd;
    size_t len;
    uint64_t lost, unreported;
    int last_errno;
    int open_errno; /* why fd is -1 after its file was removed */
    int midline;    /* a failed write left a partial line in the file */
    int reopened;   /* found removed and reopened: to be reported */
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
        free(streams[i].path);
        streams[i].path = strdup(paths[i]);
    }
    return 0;
}

static void flush_stream(struct stream *s);

int log_reopen(char *err, size_t errlen)
{
    int rc = 0;
    log_flush(); /* queued lines belong to the old file */
    for (int i = 0; i < 2; i++) {
        struct stream *s = &streams[i];
        if (s->path == NULL)
            continue;
        const char *why;
        int fd = open_file(s->path, &why);
        if (fd < 0) {
            if (rc == 0)
                snprintf(err, errlen, "%s %s: %s", s->name, s->path, why);
            rc = -1;
            continue;
        }
        if (s->fd >= 0)
            close(s->fd);
        s->fd = fd;
        s->midline = 0;
        s->open_errno = 0;
    }
    return rc;
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
        drop(s, count_lines(s->queue, s->len),
             s->open_errno ? s->open_errno : EBADF);
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
        jw_str(jw, "error", strerror(s->last_errno));
        log_commit(jw);
    }
    flush_stream(srv);
}

/* A file removed under us (rm -rf of its directory) would take every line
 * into an unlinked inode, lost without a count.  A removed file is
 * reopened at its path, directories made again; while that fails, the
 * stream has no descriptor, so its lines are dropped and counted, and it
 * is tried again a second later. */
static void check_removed(void)
{
    for (int i = 0; i < 2; i++) {
        struct stream *s = &streams[i];
        struct stat st;
        if (s->path == NULL)
            continue;
        if (s->fd >= 0 && (fstat(s->fd, &st) < 0 || st.st_nlink > 0))
            continue;
        const char *why = NULL;
        errno = 0;
        int fd = open_file(s->path, &why);
        if (fd < 0) {
            s->open_errno = errno ? errno : EINVAL;
            if (s->fd >= 0)
                close(s->fd);
            s->fd = -1;
            continue;
        }
        if (s->fd >= 0)
            close(s->fd);
        s->fd = fd;
        s->open_errno = 0;
        s->midline = 0;
        s->reopened = 1;
    }
}

static void report_reopened(void)
{
    for (int i = 0; i < 2; i++) {
        struct stream *s = &streams[i];
        if (!s->reopened)
            continue;
        s->reopened = 0;
        struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_WARN, "warning");
        if (jw == NULL)
            continue;
        jw_str(jw, "msg", "log file was removed; reopened at its path");
        jw_str(jw, "stream", s->name);
        jw_str(jw, "path", s->path);
        log_commit(jw);
    }
}

void log_flush(void)
{
    /* (A wall clock set back must not postpone the check.) */
    if (clock_ms >= next_check_ms || clock_ms < next_check_ms - CHECK_MS) {
        next_check_ms = clock_ms + CHECK_MS;
        check_removed();
        report_reopened();
    }
    flush_stream(&streams[LOG_CLIENT]);
    flush_stream(&streams[LOG_SERVER]);
    /* Try to report losses at most once a second: while server_log
     * itself is failing, the report is lost too and counted again. */
    if ((streams[0].unreported || streams[1].unreported) &&
        clock_ms >= next_report_ms) {
        next_report_ms = clock_ms + 1000;
        report_losses();
    }
}
