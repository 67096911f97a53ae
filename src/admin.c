/* admin.c: the admin request line; pure.  Values are percent-encoded so a
 * kick reason may hold spaces or any byte, and a line is split on single
 * spaces without quoting rules.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static const char *const cmd_names[] = {
    [ADM_LIST] = "list",
    [ADM_KICK] = "kick",
    [ADM_STATS] = "stats",
    [ADM_RELOAD] = "reload",
    [ADM_REOPEN_LOGS] = "reopen-logs",
    [ADM_CLUSTER] = "cluster",
};

/* The whole admin vocabulary of outcomes, in one place: reply code, audit
 * outcome, and the message when there is a fixed one. */
static const struct {
    const char *code, *outcome, *message;
} statuses[] = {
    [ADMIN_OK] = {NULL, "ok", NULL},
    [ADMIN_FORWARDED] = {NULL, "forwarded", NULL},
    [ADMIN_NO_REQUEST] = {NULL, "no-request", NULL},
    [ADMIN_E_VERSION] = {"version", "version", NULL},
    [ADMIN_E_BAD_REQUEST] = {"bad-request", "bad-request", NULL},
    [ADMIN_E_UNKNOWN_COMMAND] = {"unknown-command", "unknown-command", NULL},
    [ADMIN_E_PERMISSION] = {"permission", "permission-denied",
                            "permission denied"},
    [ADMIN_E_NOT_FOUND] = {"not-found", "not-found", "no such node"},
    [ADMIN_E_NO_CLUSTER] = {"no-cluster", "no-cluster",
                            "cluster: this msgd is not in a cluster"},
    [ADMIN_E_CLUSTER_UNAVAILABLE] = {"cluster-unavailable",
                                     "cluster-unavailable",
                                     "the node is on another instance and "
                                     "NATS is out of reach"},
    [ADMIN_E_CONFIG] = {"config", "config-error", NULL},
    [ADMIN_E_BUSY] = {"busy", "busy", "too many admin connections"},
    [ADMIN_E_TIMEOUT] = {"timeout", "timeout", "no request within 5 seconds"},
    [ADMIN_E_NO_MEMORY] = {"no-memory", "no-memory", "out of memory"},
    [ADMIN_E_ERROR] = {"error", "error", NULL},
};

#define NSTATUS (sizeof statuses / sizeof *statuses)

const char *admin_status_code(enum admin_status st)
{
    return statuses[st].code;
}

const char *admin_status_outcome(enum admin_status st)
{
    return statuses[st].outcome;
}

const char *admin_status_message(enum admin_status st)
{
    return statuses[st].message;
}

enum admin_status admin_status_of_code(const char *code)
{
    for (size_t i = 0; i < NSTATUS; i++)
        if (statuses[i].code && strcmp(statuses[i].code, code) == 0)
            return (enum admin_status)i;
    return ADMIN_E_ERROR;
}

static const char *const sort_names[] = {
    [SORT_NONE] = "none",           [SORT_ID] = "id",
    [SORT_ADDR] = "addr",           [SORT_IDLE] = "idle",
    [SORT_CONNECTED] = "connected", [SORT_MSGS] = "msgs",
};

int admin_valid_reason(const char *s)
{
    size_t n = 0;
    /* It ends up on the node's BYE line: no LF, CR or other control. */
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
            return 0;
    return n <= ADMIN_MAX_REASON;
}

int admin_valid_sort(const char *s)
{
    for (size_t i = 0; i < sizeof sort_names / sizeof *sort_names; i++)
        if (strcmp(s, sort_names[i]) == 0)
            return 1;
    return 0;
}

const char *admin_cmd_name(enum admin_cmd cmd)
{
    return cmd_names[cmd];
}

int admin_cmd_lookup(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof cmd_names / sizeof *cmd_names; i++)
        if (strlen(cmd_names[i]) == n && memcmp(cmd_names[i], s, n) == 0)
            return (int)i;
    return -1;
}

int admin_cmd_mutates(enum admin_cmd cmd)
{
    return cmd == ADM_KICK || cmd == ADM_RELOAD || cmd == ADM_REOPEN_LOGS;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..n) into out (cap incl. NUL); -1 on a bad escape, a NUL
 * byte, or overflow. */
static int decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

static int fail(enum admin_status *status, enum admin_status st, char *err,
                size_t errlen, const char *msg, const char *arg, size_t alen)
{
    *status = st;
    if (arg)
        snprintf(err, errlen, "%s '%.*s'", msg, (int)(alen > 64 ? 64 : alen),
                 arg);
    else
        snprintf(err, errlen, "%s", msg);
    return -1;
}

static int parse_uint(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v;
    if (*s < '0' || *s > '9')
        return -1;
    v = strtoul(s, &end, 10);
    if (*end || v > 100000000UL)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_secs(const char *s, double *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    *out = strtod(s, &end);
    return *end || *out > 1e9 ? -1 : 0;
}

/* Copies val into dst[cap] if it fits; returns 0 or -1. */
static int set_str(char *dst, size_t cap, const char *val)
{
    size_t n = strlen(val);
    if (n >= cap)
        return -1;
    memcpy(dst, val, n + 1);
    return 0;
}

/* Applies one key=value to req; returns 0 or -1. */
static int apply(struct admin_req *req, const char *key, size_t klen,
                 const char *val)
{
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(key, k, klen) == 0)
    if (req->cmd == ADM_LIST) {
        if (KEY("closed"))
            return strcmp(val, "1") == 0 ? (req->closed = 1, 0) : -1;
        if (KEY("cluster"))
            return strcmp(val, "1") == 0 ? (req->cluster = 1, 0) : -1;
        if (KEY("sort")) {
            for (size_t i = 0; i < sizeof sort_names / sizeof *sort_names; i++)
                if (strcmp(val, sort_names[i]) == 0) {
                    req->sort = (enum admin_sort)i;
                    return 0;
                }
            return -1;
        }
        if (KEY("prefix"))
            return set_str(req->prefix, sizeof req->prefix, val);
        if (KEY("addr"))
            return set_str(req->addr, sizeof req->addr, val);
        if (KEY("min_idle"))
            return parse_secs(val, &req->min_idle_s);
        if (KEY("limit"))
            return parse_uint(val, &req->limit);
    }
    if (req->cmd == ADM_KICK) {
        if (KEY("id"))
            return proto_valid_id(val, strlen(val))
                       ? set_str(req->id, sizeof req->id, val)
                       : -1;
        if (KEY("addr"))
            return *val ? set_str(req->addr, sizeof req->addr, val) : -1;
        if (KEY("reason"))
            return admin_valid_reason(val)
                       ? set_str(req->reason, sizeof req->reason, val)
                       : -1;
    }
    return -1;
#undef KEY
}

int admin_parse(const char *line, size_t len, struct admin_req *req,
                enum admin_status *status, char *err, size_t errlen)
{
    const char *p = line, *end = line + len;
    const char *tok[3];
    size_t tlen[3];

    memset(req, 0, sizeof *req);
    if (len > 0 && line[len - 1] == '\r')
        end--;
    for (int i = 0; i < 3; i++) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        tok[i] = p;
        tlen[i] = (size_t)((sp ? sp : end) - p);
        if (i < 2 && sp == NULL)
            return fail(status, ADMIN_E_BAD_REQUEST, err, errlen,
                        "not an admin request (expected 'msgd-admin 1 "
                        "COMMAND ...')",
                        NULL, 0);
        p = sp ? sp + 1 : end;
    }
    if (tlen[0] != sizeof ADMIN_MAGIC - 1 ||
        memcmp(tok[0], ADMIN_MAGIC, tlen[0]) != 0)
        return fail(status, ADMIN_E_BAD_REQUEST, err, errlen,
                    "not an admin request: bad magic", tok[0], tlen[0]);
    if (tlen[1] != 1 || tok[1][0] != '0' + ADMIN_VERSION) {
        *status = ADMIN_E_VERSION;
        snprintf(err, errlen,
                 "admin protocol version '%.*s' is not supported; this msgd "
                 "speaks version %d",
                 (int)(tlen[1] > 16 ? 16 : tlen[1]), tok[1], ADMIN_VERSION);
        return -1;
    }
    int cmd = admin_cmd_lookup(tok[2], tlen[2]);
    if (cmd < 0)
        return fail(status, ADMIN_E_UNKNOWN_COMMAND, err, errlen,
                    "unknown command", tok[2], tlen[2]);
    req->cmd = (enum admin_cmd)cmd;

    while (p < end) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *tend = sp ? sp : end;
        const char *eq = memchr(p, '=', (size_t)(tend - p));
        char val[ADMIN_MAX_LINE];
        if (eq == NULL || eq == p ||
            decode(eq + 1, (size_t)(tend - eq - 1), val, sizeof val) < 0 ||
            apply(req, p, (size_t)(eq - p), val) < 0)
            return fail(status, ADMIN_E_BAD_REQUEST, err, errlen,
                        "bad argument", p, (size_t)(tend - p));
        p = sp ? sp + 1 : end;
    }
    if (req->cmd == ADM_KICK && !req->id[0] == !req->addr[0])
        return fail(status, ADMIN_E_BAD_REQUEST, err, errlen,
                    "kick needs exactly one of id= and addr=", NULL, 0);
    /* The closed ring is this instance's own; other instances' closes are
     * not known here. */
    if (req->cmd == ADM_LIST && req->closed && req->cluster)
        return fail(status, ADMIN_E_BAD_REQUEST, err, errlen,
                    "list takes at most one of closed= and cluster=", NULL, 0);
    return 0;
}

long admin_format(char *out, size_t cap, const char *cmd,
                  const char *const *keys, const char *const *vals, int n)
{
    static const char hex[] = "0123456789ABCDEF";
    int k = snprintf(out, cap, "%s %d %s", ADMIN_MAGIC, ADMIN_VERSION, cmd);
    size_t o;
    if (k < 0 || (size_t)k >= cap)
        return -1;
    o = (size_t)k;
    for (int i = 0; i < n; i++) {
        size_t kl = strlen(keys[i]);
        if (o + kl + 2 >= cap)
            return -1;
        out[o++] = ' ';
        memcpy(out + o, keys[i], kl);
        o += kl;
        out[o++] = '=';
        for (const unsigned char *v = (const unsigned char *)vals[i]; *v; v++) {
            if (o + 4 >= cap)
                return -1;
            if (*v > 0x20 && *v < 0x7f && *v != '%') {
                out[o++] = (char)*v;
            } else {
                out[o++] = '%';
                out[o++] = hex[*v >> 4];
                out[o++] = hex[*v & 15];
            }
        }
    }
    if (o + 1 >= cap)
        return -1;
    out[o++] = '\n';
    return (long)o;
}
