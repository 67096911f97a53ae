/* admin.h: the admin protocol between msgctl and msgd, both ends: the
 * request line (encoded by msgctl, parsed by msgd; pure, no I/O) and the
 * names shared by the two.  One request per connection:
 *
 *   msgd-admin 1 <command> [key=value ...] LF
 *
 * values percent-encoded; the reply is one JSON object and LF:
 *   {"version":1,"ok":true,"result":...}
 *   {"version":1,"ok":false,"code":"...","error":"..."}
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_ADMIN_H
#define MSGD_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define ADMIN_VERSION 1
#define ADMIN_MAGIC "msgd-admin"
#define ADMIN_MAX_LINE 4096
#define ADMIN_MAX_REASON 200

enum admin_cmd {
    ADM_LIST,
    ADM_KICK,
    ADM_STATS,
    ADM_RELOAD,
    ADM_REOPEN_LOGS,
    ADM_CLUSTER, /* the instances of the cluster */
};

/* What became of a request: the reply's "code" (msgctl(8), "Reply") and
 * the admin log line's "outcome" (msgctl(8), "LOGGING"), both named by
 * one table in admin.c.  The two names are the same but where
 * the manuals give them apart (permission/permission-denied,
 * config/config-error), and the first three have no reply code. */
enum admin_status {
    ADMIN_OK,         /* outcome "ok" */
    ADMIN_FORWARDED,  /* outcome "forwarded": kicked on another instance */
    ADMIN_NO_REQUEST, /* outcome "no-request": left without asking */
    ADMIN_E_VERSION,  /* the request's protocol version */
    ADMIN_E_BAD_REQUEST,
    ADMIN_E_UNKNOWN_COMMAND,
    ADMIN_E_PERMISSION,
    ADMIN_E_NOT_FOUND,
    ADMIN_E_NO_CLUSTER,
    ADMIN_E_CLUSTER_UNAVAILABLE,
    ADMIN_E_CONFIG, /* reload refused: the configuration file */
    ADMIN_E_BUSY,
    ADMIN_E_TIMEOUT,
    ADMIN_E_NO_MEMORY,
    ADMIN_E_ERROR, /* anything else; also what msgctl makes of a code it
                    * does not know */
};

enum admin_sort {
    SORT_NONE, /* connection order, oldest first */
    SORT_ID,
    SORT_ADDR,
    SORT_IDLE,      /* most idle first */
    SORT_CONNECTED, /* longest connected first */
    SORT_MSGS,      /* most messages in+out first */
};

struct admin_req {
    enum admin_cmd cmd;
    /* list */
    int closed;  /* the recently closed ring instead of live nodes */
    int cluster; /* also the nodes of the other instances */
    enum admin_sort sort;
    char prefix[PROTO_MAX_ID + 1]; /* id prefix filter */
    char addr[ADDR_STR_MAX];       /* address filter: exact, or host only */
    double min_idle_s;             /* idle filter */
    uint32_t limit;                /* 0 = all */
    /* kick: by id, or every node at addr */
    char id[PROTO_MAX_ID + 1];
    char reason[ADMIN_MAX_REASON + 1];
};

/* Parses one request line (without its LF).  Returns 0, or -1 with a
 * status (ADMIN_E_VERSION, ADMIN_E_BAD_REQUEST, ADMIN_E_UNKNOWN_COMMAND)
 * and a message. */
int admin_parse(const char *line, size_t len, struct admin_req *req,
                enum admin_status *status, char *err, size_t errlen);

/* Builds a request line with its LF from cmd and "key=value" pairs (values
 * raw; they are percent-encoded here).  Returns its length, or -1 if it
 * does not fit in cap. */
long admin_format(char *out, size_t cap, const char *cmd,
                  const char *const *keys, const char *const *vals, int n);

const char *admin_cmd_name(enum admin_cmd cmd);
/* The command named s, or -1. */
int admin_cmd_lookup(const char *s, size_t n);

/* The reply code of st; NULL for the statuses that are no error. */
const char *admin_status_code(enum admin_status st);
/* The audit log's outcome for st. */
const char *admin_status_outcome(enum admin_status st);
/* The error message the daemon gives with st when it has no other; NULL
 * when the message always says more (config, version, ...). */
const char *admin_status_message(enum admin_status st);
/* The status of a reply code; ADMIN_E_ERROR for one not known. */
enum admin_status admin_status_of_code(const char *code);
/* A kick reason: at most 200 bytes, no control characters. */
int admin_valid_reason(const char *s);
int admin_valid_sort(const char *s);
/* Whether cmd changes state (and so needs root or the daemon's uid). */
int admin_cmd_mutates(enum admin_cmd cmd);

#endif
