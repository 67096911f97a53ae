/* preflight.h: what msgd checks before it starts, beyond the file's
 * syntax: that it will be able to make and write its own files.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_PREFLIGHT_H
#define MSGD_PREFLIGHT_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* For a user other than root whose files default to config_user_dir():
 * makes that directory and checks that it is private.  Returns 0, or -1
 * with a message in err. */
int preflight_user_dir(const struct config *cfg, char *err, size_t errlen);

/* Checks, without changing anything, that the pidfile, both logs and the
 * admin socket can be created or written by this process.  Returns 0, or
 * -1 with "FILE:LINE: setting path: why" in err (FILE alone for a
 * setting left at its default). */
int preflight_paths(const struct config *cfg, char *err, size_t errlen);

/* For a start as root that drops to uid:gid (cfg's user and group):
 * checks, as that user, that it could make each log file anew once
 * logrotate moved the old one, i.e. that it may write in the log's
 * directory (or, when msgd will create that directory and hand it over,
 * reach the nearest one that exists).  Otherwise every reopen after a
 * rotation would fail.  Returns 0, or -1 with "FILE:LINE: setting path:
 * why, and the fix" in err. */
int preflight_service_dirs(const struct config *cfg, uid_t uid, gid_t gid,
                           char *err, size_t errlen);

/* The cluster's credential files and cluster.tls's files can be opened
 * for reading by this process (msgd -t: whoever runs it; the start: the
 * service user, as libnats reads them after the drop).  Returns 0, or -1
 * with "FILE:LINE: cluster.token_file path: why" in err. */
int preflight_cluster_files(const struct config *cfg, char *err, size_t errlen);

#endif
