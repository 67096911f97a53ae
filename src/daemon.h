/* daemon.h: becoming a daemon (fork, setsid, fork, readiness pipe), the
 * pidfile and its lock, dropping privileges, and systemd's READY=1.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_DAEMON_H
#define MSGD_DAEMON_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* Forks into the background.  Returns in the daemon (the grandchild) with
 * 0; the launching process never returns: it waits for daemon_ready() or
 * daemon_fail() and exits 0 or 1.  Returns -1 with err set if it could not
 * fork at all. */
int daemon_start(char *err, size_t errlen);
/* Tells the launcher that the daemon is serving (no-op in the foreground),
 * and systemd when NOTIFY_SOCKET is set. */
void daemon_ready(void);
/* Sends msg to the launcher, which prints it and exits 1; in the
 * foreground, prints it on stderr. */
void daemon_fail(const char *msg);
/* Standard streams onto /dev/null, once nothing more is to be said there. */
void daemon_detach_stdio(void);

/* Creates and locks the pidfile (an exclusive lock held for the process's
 * life) and writes our pid.  Returns 0, or -1 with err set, e.g. when
 * another msgd holds the lock. */
int pidfile_open(const char *path, char *err, size_t errlen);
void pidfile_remove(void);

/* The user and group msgd runs as once started: those of cfg's user and
 * group when started as root with either set (returns 1: privileges are
 * to be dropped to them), our own otherwise (returns 0).  Returns -1 with
 * err set for an unknown name. */
int daemon_service_user(const struct config *cfg, uid_t *uid, gid_t *gid,
                        char *err, size_t errlen);
/* Why cfg's user is a poor service user (one shared with other
 * software), or NULL. */
const char *daemon_user_warning(const struct config *cfg);
/* Hands the directories msgd created to uid:gid, then drops to them for
 * good.  Returns 0 or -1 with err set. */
int daemon_drop_privileges(uid_t uid, gid_t gid, char *err, size_t errlen);

#endif
