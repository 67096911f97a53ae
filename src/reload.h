/* reload.h: SIGHUP and SIGUSR1: re-reading the configuration file and
 * reopening the log files while the daemon runs.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_RELOAD_H
#define MSGD_RELOAD_H

#include <stddef.h>

/* The file to re-read; NULL or missing-at-default means built-in defaults. */
void reload_set_path(const char *path, int is_default);
/* Loads the file again and applies what can change at run time.  Returns 0,
 * or -1 with the FILE:LINE message (the running settings stay). */
int reload_config(char *err, size_t errlen);
/* Reopens both logs; returns 0 or -1 with err set.  Logs log-reopen. */
int reload_logs(char *err, size_t errlen);
/* What the last successful reload_config could not apply (a setting
 * that needs a restart), or "". */
const char *reload_warning(void);
/* The file a reload reads. */
const char *reload_path(void);

#endif
