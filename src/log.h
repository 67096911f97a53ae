/* log.h: msgd's two JSON Lines logs (msgd(8), LOGGING).  Lines are built
 * with jsonw, queued in memory and written once per loop pass; a failing
 * file drops lines, counts them, and says so once it works again.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_LOG_H
#define MSGD_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "jsonw.h"

enum log_stream { LOG_SERVER = 0, LOG_CLIENT = 1 };

/* Opens (creating missing directories) both files.  Returns 0, or -1 with
 * a message in err. */
int log_open(const char *server_path, const char *client_path, char *err,
             size_t errlen);
/* Reopens both files at the paths they were opened with (after logrotate
 * moved them).  A file that cannot be reopened keeps its old descriptor
 * only while that is still the file at its path; else its lines are
 * dropped (and counted) and log_flush tries the reopen again once a
 * second.  Returns 0 or -1 with a message in err. */
int log_reopen(char *err, size_t errlen);
void log_close(void);

void log_set_level(enum log_level lvl);
int log_wants(enum log_level lvl);
/* The loop's cached wall clock, in ms since the epoch. */
void log_set_clock(int64_t realtime_ms);

/* Starts a line with ts, level and event; NULL when lvl is filtered out.
 * Finish it with log_commit.  Every line is built in one static buffer
 * (log.c), so begin and commit must not nest: nothing between them may
 * log, and a second log_begin before the commit overwrites the first
 * line. */
struct jsonw *log_begin(enum log_stream s, enum log_level lvl,
                        const char *event);
void log_commit(struct jsonw *jw);
/* As log_begin at info level, but written whatever log_level says: for
 * the audit trail of admin commands, which the spec wants complete. */
struct jsonw *log_begin_audit(enum log_stream s, const char *event);
/* Writes queued lines.  Called once per loop pass and before exit; once a
 * second it also reopens a file removed under it (see log.c). */
void log_flush(void);
/* Lines dropped because a file could not take them, since start. */
uint64_t log_lost(void);
/* Tells the log whether to also copy server_log lines to stderr
 * (foreground runs on a terminal). */
void log_set_stderr(int on);

#endif
