/* config.c: libconfig file to struct config, every setting checked, every
 * complaint naming FILE:LINE (msgd.conf(5)).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_NATS "nats://127.0.0.1:4222"
#define HOST_MAX 256
#define MAX_SECONDS 31536000 /* a year: beyond that a timeout is a typo */

/* Enums are stored through memcpy from an int (see apply_word). */
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum dup_policy) == sizeof(int), "enum size");

struct loader {
    struct config *cfg; /* the scratch struct being filled */
    const char *file;   /* for messages that have no setting to point at */
    char *err;
    size_t errlen;
};

struct word {
    const char *word;
    int value;
};

struct key;
typedef int (*apply_fn)(struct loader *ld, const config_setting_t *s,
                        const struct key *k);

/* One known setting.  name is qualified ("cluster.prefix") because it is
 * what messages show; lookup compares the part after the last dot. */
struct key {
    const char *name;
    apply_fn apply;
    size_t off;                 /* the field it fills */
    size_t count_off;           /* string lists: their count */
    int64_t lo, hi;             /* numbers: the accepted range */
    int (*valid)(const char *); /* strings: extra rule beyond non-empty */
    const char *rule;           /* what valid() wants, for messages */
    const struct word *words;   /* enumerations */
};

__attribute__((format(printf, 3, 4))) static int
fail(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
    const char *file = ld->file;
    unsigned line = 0;
    int n;
    va_list ap;

    if (!ld->err || ld->errlen == 0)
        return -1;
    /* Elements of a list carry no line of their own worth trusting, and
     * the root carries none: use the nearest enclosing setting's. */
    for (; s && !line; s = config_setting_parent(s)) {
        line = config_setting_source_line(s);
        if (line && config_setting_source_file(s))
            file = config_setting_source_file(s);
    }
    if (line)
        n = snprintf(ld->err, ld->errlen, "%s:%u: ", file, line);
    else
        n = snprintf(ld->err, ld->errlen, "%s: ", file);
    if (n >= 0 && (size_t)n < ld->errlen) {
        va_start(ap, fmt);
        vsnprintf(ld->err + n, ld->errlen - n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void *field(struct loader *ld, size_t off)
{
    return (char *)ld->cfg + off;
}

static int set_string(struct loader *ld, const config_setting_t *s, char **dst,
                      const char *v)
{
    char *copy = strdup(v);

    if (!copy)
        return fail(ld, s, "out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}

/*
 * libconfig 1.5 wraps an integer literal that does not fit in 32 bits
 * modulo 2^32 unless it carries an L suffix (5368709120 reads back as
 * 1073741824), and keeps no trace of it.  Look at the literal in the
 * source instead.  Best effort: only "name = literal" on one line is seen.
 */
static int int_wrapped(const config_setting_t *s)
{
    const char *file = config_setting_source_file(s);
    const char *name = config_setting_name(s);
    unsigned line = config_setting_source_line(s);
    size_t len = name ? strlen(name) : 0;
    char *buf = NULL, *p;
    size_t cap = 0;
    int wrapped = 0;
    FILE *f;

    if (config_setting_type(s) != CONFIG_TYPE_INT || !file || !name || !line ||
        !(f = fopen(file, "r")))
        return 0;
    while (line-- > 0 && getline(&buf, &cap, f) >= 0) {
        if (line > 0)
            continue;
        for (p = buf; (p = strstr(p, name)) != NULL; p += len) {
            const char *q = p + len;
            unsigned long long v;
            int neg, base = 10;

            if (p > buf &&
                (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '-'))
                continue;
            q += strspn(q, " \t");
            if (*q != '=' && *q != ':')
                continue;
            q += 1 + strspn(q + 1, " \t");
            neg = *q == '-';
            q += *q == '-' || *q == '+';
            if (q[0] == '0' && (q[1] | 0x20) == 'x') {
                q += 2;
                base = 16;
            }
            errno = 0;
            v = strtoull(q, NULL, base);
            wrapped = errno == ERANGE ||
                      v > (neg ? (unsigned long long)INT_MAX + 1 : INT_MAX);
            break;
        }
    }
    free(buf);
    fclose(f);
    return wrapped;
}

static int get_int(struct loader *ld, const config_setting_t *s,
                   const struct key *k, int64_t *v)
{
    int type = config_setting_type(s);

    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return 1;
    if (int_wrapped(s))
        return fail(ld, s,
                    "'%s' does not fit in 32 bits; write it with an L "
                    "suffix (e.g. 5368709120L)",
                    k->name);
    *v = config_setting_get_int64(s);
    return 0;
}

static int apply_int(struct loader *ld, const config_setting_t *s,
                     const struct key *k)
{
    int64_t v = 0;
    int rc = get_int(ld, s, k, &v);

    if (rc > 0)
        return fail(ld, s, "'%s' must be an integer", k->name);
    if (rc < 0)
        return rc;
    if (v < k->lo || v > k->hi)
        return fail(ld, s,
                    "'%s' must be between %" PRId64 " and %" PRId64
                    " (got %" PRId64 ")",
                    k->name, k->lo, k->hi, v);
    *(int64_t *)field(ld, k->off) = v;
    return 0;
}

static int apply_seconds(struct loader *ld, const config_setting_t *s,
                         const struct key *k)
{
    int64_t iv = 0;
    int rc = get_int(ld, s, k, &iv);
    double v = (double)iv;

    if (rc < 0)
        return rc;
    if (rc > 0 && config_setting_type(s) != CONFIG_TYPE_FLOAT)
        return fail(ld, s, "'%s' must be a number", k->name);
    if (rc > 0)
        v = config_setting_get_float(s);
    /* Written so that NaN fails too. */
    if (!(v >= (double)k->lo && v <= (double)k->hi))
        return fail(ld, s,
                    "'%s' must be between %" PRId64 " and %" PRId64
                    " seconds (got %g)",
                    k->name, k->lo, k->hi, v);
    *(double *)field(ld, k->off) = v;
    return 0;
}

/* idle_timeout is kept and announced to the millisecond: a value that
 * would be announced as idle=0 ("never") must not evict. */
static int apply_timeout(struct loader *ld, const config_setting_t *s,
                         const struct key *k)
{
    if (apply_seconds(ld, s, k) < 0)
        return -1;
    double v = *(double *)field(ld, k->off);
    if (v > 0 && v < 0.001)
        return fail(ld, s,
                    "'%s' must be 0 or at least 0.001 seconds, a millisecond "
                    "(got %g)",
                    k->name, v);
    return 0;
}

static const char *get_string(struct loader *ld, const config_setting_t *s,
                              const struct key *k)
{
    const char *v = config_setting_get_string(s);

    if (!v)
        fail(ld, s, "'%s' must be a string", k->name);
    else if (!*v)
        fail(ld, s, "'%s' must not be empty", k->name);
    else if (k->valid && !k->valid(v))
        fail(ld, s, "'%s' %s (got \"%s\")", k->name, k->rule, v);
    else
        return v;
    return NULL;
}

static int apply_string(struct loader *ld, const config_setting_t *s,
                        const struct key *k)
{
    const char *v = get_string(ld, s, k);

    return v ? set_string(ld, s, field(ld, k->off), v) : -1;
}

/* A single string, or an array or list of them. */
static int apply_list(struct loader *ld, const config_setting_t *s,
                      const struct key *k)
{
    char **dst = field(ld, k->off);
    int *count = field(ld, k->count_off);
    int single = config_setting_type(s) == CONFIG_TYPE_STRING;
    int n = single ? 1 : config_setting_length(s);

    if (!single && !config_setting_is_array(s) && !config_setting_is_list(s))
        return fail(ld, s, "'%s' must be a string or a list of strings",
                    k->name);
    if (n < 1 || n > CONFIG_MAX_LISTEN)
        return fail(ld, s, "'%s' must have between 1 and %d entries (got %d)",
                    k->name, CONFIG_MAX_LISTEN, n);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = single ? s : config_setting_get_elem(s, i);
        const char *v = config_setting_get_string(e);

        if (!v)
            return fail(ld, s, "'%s' must be a string or a list of strings",
                        k->name);
        if (!k->valid(v))
            return fail(ld, s, "'%s' entry \"%s\" %s", k->name, v, k->rule);
    }
    for (int i = 0; i < CONFIG_MAX_LISTEN; i++) {
        free(dst[i]);
        dst[i] = NULL;
    }
    *count = 0;
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = single ? s : config_setting_get_elem(s, i);

        if (set_string(ld, s, &dst[i], config_setting_get_string(e)) < 0)
            return -1;
        *count = i + 1;
    }
    return 0;
}

static int apply_bool(struct loader *ld, const config_setting_t *s,
                      const struct key *k)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return fail(ld, s, "'%s' must be true or false", k->name);
    *(int *)field(ld, k->off) = config_setting_get_bool(s);
    return 0;
}

static int apply_mode(struct loader *ld, const config_setting_t *s,
                      const struct key *k)
{
    const char *v = config_setting_get_string(s);
    size_t len = v ? strlen(v) : 0;
    unsigned long mode;

    if (!v)
        return fail(ld, s, "'%s' must be an octal string such as \"0660\"",
                    k->name);
    mode = strtoul(v, NULL, 8);
    if (len < 3 || len > 4 || strspn(v, "01234567") != len || mode > 0777)
        return fail(ld, s,
                    "'%s' must be 3 or 4 octal digits, at most 0777 "
                    "(got \"%s\")",
                    k->name, v);
    *(unsigned *)field(ld, k->off) = (unsigned)mode;
    return 0;
}

static int apply_word(struct loader *ld, const config_setting_t *s,
                      const struct key *k)
{
    const char *v = config_setting_get_string(s);

    if (!v)
        return fail(ld, s, "'%s' must be a string", k->name);
    for (const struct word *w = k->words; w->word; w++) {
        if (strcmp(v, w->word) == 0) {
            memcpy(field(ld, k->off), &w->value, sizeof w->value);
            return 0;
        }
    }
    return fail(ld, s, "'%s' must be %s (got \"%s\")", k->name, k->rule, v);
}

static int valid_hostport(const char *s)
{
    char host[HOST_MAX];
    unsigned port;

    config_listen_tls(s, &s);
    return config_parse_hostport(s, host, sizeof host, &port) == 0;
}

/* listen: a list, except that a port past 65535 is called that rather
 * than "not host:port". */
static int apply_listen(struct loader *ld, const config_setting_t *s,
                        const struct key *k)
{
    int single = config_setting_type(s) == CONFIG_TYPE_STRING;
    int n = single ? 1 : config_setting_length(s);

    for (int i = 0; i < n; i++) {
        const config_setting_t *e = single ? s : config_setting_get_elem(s, i);
        const char *v = e ? config_setting_get_string(e) : NULL;
        char host[HOST_MAX];
        unsigned port;

        if (v)
            config_listen_tls(v, &v);
        if (v && config_parse_hostport(v, host, sizeof host, &port) ==
                     CONFIG_PORT_RANGE)
            return fail(ld, s,
                        "'%s' entry \"%s\": port %s out of range (0-65535)",
                        k->name, v, strrchr(v, ':') + 1);
    }
    return apply_list(ld, s, k);
}

static int apply_cluster(struct loader *ld, const config_setting_t *s,
                         const struct key *k);
static int apply_tls(struct loader *ld, const config_setting_t *s,
                     const struct key *k);
static int apply_auth(struct loader *ld, const config_setting_t *s,
                      const struct key *k);
static int apply_acl(struct loader *ld, const config_setting_t *s,
                     const struct key *k);
static int apply_rate(struct loader *ld, const config_setting_t *s,
                      const struct key *k);

static const struct word log_words[] = {
    {"error", LOG_LVL_ERROR},  {"warn", LOG_LVL_WARN},
    {"warning", LOG_LVL_WARN}, {"info", LOG_LVL_INFO},
    {"debug", LOG_LVL_DEBUG},  {NULL, 0},
};

static const struct word dup_words[] = {
    {"reject", DUP_REJECT},
    {"replace", DUP_REPLACE},
    {NULL, 0},
};

#define OFF(member) offsetof(struct config, member)

static const struct key top_keys[] = {
    {"listen", apply_listen, OFF(listen), OFF(n_listen), 0, 0, valid_hostport,
     "is not host:port, [IPv6]:port or *:port", NULL},
    {"admin_socket", apply_string, OFF(admin_socket), 0, 0, 0, NULL, NULL,
     NULL},
    {"admin_socket_mode", apply_mode, OFF(admin_socket_mode), 0, 0, 0, NULL,
     NULL, NULL},
    {"pidfile", apply_string, OFF(pidfile), 0, 0, 0, NULL, NULL, NULL},
    {"server_log", apply_string, OFF(server_log), 0, 0, 0, NULL, NULL, NULL},
    {"client_log", apply_string, OFF(client_log), 0, 0, 0, NULL, NULL, NULL},
    {"log_level", apply_word, OFF(log_level), 0, 0, 0, NULL,
     "error, warn, info or debug", log_words},
    {"log_stderr", apply_bool, OFF(log_stderr), 0, 0, 0, NULL, NULL, NULL},
    {"idle_timeout", apply_timeout, OFF(idle_timeout), 0, 0, MAX_SECONDS, NULL,
     NULL, NULL},
    {"max_nodes", apply_int, OFF(max_nodes), 0, 1, 16777216, NULL, NULL, NULL},
    {"max_message_size", apply_int, OFF(max_message_size), 0, 0, 1073741824,
     NULL, NULL, NULL},
    {"max_output_buffer", apply_int, OFF(max_output_buffer), 0, 4096,
     1099511627776, NULL, NULL, NULL},
    {"max_output_total", apply_int, OFF(max_output_total), 0, 0, 1099511627776,
     NULL, NULL, NULL},
    {"write_deadline", apply_timeout, OFF(write_deadline), 0, 0, 3600, NULL,
     NULL, NULL},
    {"max_unregistered_input", apply_int, OFF(max_unregistered_input), 0, 1024,
     1048576, NULL, NULL, NULL},
    {"max_input_total", apply_int, OFF(max_input_total), 0, 0, 1099511627776,
     NULL, NULL, NULL},
    {"client_log_rate", apply_int, OFF(client_log_rate), 0, 0, 1000000, NULL,
     NULL, NULL},
    {"duplicate_id", apply_word, OFF(duplicate_id), 0, 0, 0, NULL,
     "reject or replace", dup_words},
    {"user", apply_string, OFF(user), 0, 0, 0, NULL, NULL, NULL},
    {"group", apply_string, OFF(group), 0, 0, 0, NULL, NULL, NULL},
    {"cluster", apply_cluster, 0, 0, 0, 0, NULL, NULL, NULL},
    {"tls", apply_tls, 0, 0, 0, 0, NULL, NULL, NULL},
    {"auth", apply_auth, 0, 0, 0, 0, NULL, NULL, NULL},
    {"acl", apply_acl, 0, 0, 0, 0, NULL, NULL, NULL},
    {"hello_timeout", apply_timeout, OFF(hello_timeout), 0, 0, MAX_SECONDS,
     NULL, NULL, NULL},
    {"max_connections_per_ip", apply_int, OFF(max_connections_per_ip), 0, 0,
     1000000, NULL, NULL, NULL},
    {"rate_limit", apply_rate, 0, 0, 0, 0, NULL, NULL, NULL},
    {"session_hold", apply_timeout, OFF(session_hold), 0, 0, MAX_SECONDS, NULL,
     NULL, NULL},
    {"session_buffer", apply_int, OFF(session_buffer), 0, 1024, 1099511627776,
     NULL, NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

/* Edit distance between two names, ignoring case; names longer than
 * NAME_CMP_MAX are never near anything. */
#define NAME_CMP_MAX 64
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[NAME_CMP_MAX + 1];

    if (la > NAME_CMP_MAX || lb > NAME_CMP_MAX)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t sub = diag + (tolower((unsigned char)a[i - 1]) !=
                                 tolower((unsigned char)b[j - 1]));
            size_t best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    return row[lb];
}

/* The known setting of this group nearest to a mistyped name (its
 * qualified name): at most two edits away, and fewer than half its
 * letters. */
static const char *nearest_key(const char *name, const struct key *keys)
{
    const char *best = NULL;
    size_t best_d = 3;

    for (const struct key *k = keys; k->name; k++) {
        const char *dot = strrchr(k->name, '.');
        const char *kn = dot ? dot + 1 : k->name;
        size_t d = distance(name, kn);

        if (d < best_d && 2 * d < strlen(kn)) {
            best = k->name;
            best_d = d;
        }
    }
    return best;
}

/* Walk a group in file order, so the first complaint is the first in the
 * file. */
static int apply_group(struct loader *ld, const config_setting_t *group,
                       const struct key *keys)
{
    const char *gname = config_setting_name(group);

    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *s = config_setting_get_elem(group, i);
        const char *name = config_setting_name(s);
        const struct key *k;

        for (k = keys; k->name; k++) {
            const char *dot = strrchr(k->name, '.');

            if (strcmp(name, dot ? dot + 1 : k->name) == 0)
                break;
        }
        if (!k->name) {
            const char *near = nearest_key(name, keys);

            return fail(ld, s, "unknown setting '%s%s%s'%s%s%s",
                        gname ? gname : "", gname ? "." : "", name,
                        near ? " (did you mean '" : "", near ? near : "",
                        near ? "'?)" : "");
        }
        if (k->apply(ld, s, k) < 0)
            return -1;
    }
    return 0;
}

#ifdef HAVE_NATS
static int valid_nats(const char *s)
{
    return (strncmp(s, "nats://", 7) == 0 && s[7]) ||
           (strncmp(s, "tls://", 6) == 0 && s[6]);
}

/* A subject token and part of a bucket name; short enough for both. */
static int valid_prefix(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 32 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789_-") == n;
}

static int apply_cluster_tls(struct loader *ld, const config_setting_t *s,
                             const struct key *k);

static const struct key cluster_keys[] = {
    {"cluster.nats", apply_list, OFF(cluster.nats), OFF(cluster.n_nats), 0, 0,
     valid_nats, "is not a nats:// URL (or tls://)", NULL},
    {"cluster.name", apply_string, OFF(cluster.name), 0, 0, 0, NULL, NULL,
     NULL},
    {"cluster.prefix", apply_string, OFF(cluster.prefix), 0, 0, 0, valid_prefix,
     "must be 1 to 32 of A-Z a-z 0-9 _ -", NULL},
    {"cluster.id_hold", apply_seconds, OFF(cluster.id_hold), 0, 0, MAX_SECONDS,
     NULL, NULL, NULL},
    {"cluster.creds", apply_string, OFF(cluster.creds), 0, 0, 0, NULL, NULL,
     NULL},
    {"cluster.nkey_seed", apply_string, OFF(cluster.nkey_seed), 0, 0, 0, NULL,
     NULL, NULL},
    {"cluster.token_file", apply_string, OFF(cluster.token_file), 0, 0, 0, NULL,
     NULL, NULL},
    {"cluster.user", apply_string, OFF(cluster.user), 0, 0, 0, NULL, NULL,
     NULL},
    {"cluster.password_file", apply_string, OFF(cluster.password_file), 0, 0, 0,
     NULL, NULL, NULL},
    {"cluster.tls", apply_cluster_tls, 0, 0, 0, 0, NULL, NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static const struct key cluster_tls_keys[] = {
    {"cluster.tls.ca", apply_string, OFF(cluster.tls.ca), 0, 0, 0, NULL, NULL,
     NULL},
    {"cluster.tls.cert", apply_string, OFF(cluster.tls.cert), 0, 0, 0, NULL,
     NULL, NULL},
    {"cluster.tls.key", apply_string, OFF(cluster.tls.key), 0, 0, 0, NULL, NULL,
     NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static int from_file_dir(struct loader *ld, const config_setting_t *s,
                         char **path);

/* The client side of TLS to NATS: a certificate needs its key and the
 * other way round; a ca alone only verifies the server. */
static int apply_cluster_tls(struct loader *ld, const config_setting_t *s,
                             const struct key *k)
{
    struct config_cluster *c = &ld->cfg->cluster;

    if (!config_setting_is_group(s))
        return fail(ld, s, "'%s' must be a group { ... }", k->name);
    if (apply_group(ld, s, cluster_tls_keys) < 0)
        return -1;
    c->tls.enabled = 1;
    if ((c->tls.cert == NULL) != (c->tls.key == NULL))
        return fail(ld, s, "'cluster.tls' needs both cert and key, or neither");
    if (from_file_dir(ld, s, &c->tls.ca) < 0 ||
        from_file_dir(ld, s, &c->tls.cert) < 0 ||
        from_file_dir(ld, s, &c->tls.key) < 0)
        return -1;
    return 0;
}

/* The kinds of NATS credential, for the rule "at most one". */
struct cred_kind {
    const char *name;
    size_t off; /* char * in struct config */
};

static const struct cred_kind cred_kinds[] = {
    {"creds", OFF(cluster.creds)},
    {"nkey_seed", OFF(cluster.nkey_seed)},
    {"token_file", OFF(cluster.token_file)},
    {"user", OFF(cluster.user)},
};

/* At most one kind of credential, user and password_file together, every
 * file from the config file's directory.  Complaints point at the
 * setting in question. */
static int check_cluster_creds(struct loader *ld, const config_setting_t *s)
{
    struct config_cluster *c = &ld->cfg->cluster;
    const char *first = NULL;

    for (size_t i = 0; i < sizeof cred_kinds / sizeof *cred_kinds; i++) {
        const char *kind = cred_kinds[i].name;
        if (*(char **)field(ld, cred_kinds[i].off) == NULL &&
            !(strcmp(kind, "user") == 0 && c->password_file))
            continue;
        if (first == NULL) {
            first = kind;
            continue;
        }
        /* The later of the two in the file is the one to look at. */
        const config_setting_t *at = config_setting_get_member(s, kind);
        if (at == NULL) /* password_file without user */
            at = config_setting_get_member(s, "password_file");
        const config_setting_t *was = config_setting_get_member(s, first);
        if (at == NULL || (was && config_setting_source_line(was) >
                                      config_setting_source_line(at)))
            at = was;
        return fail(ld, at ? at : s,
                    "'cluster' takes one kind of NATS credential: creds, "
                    "nkey_seed, token_file, or user with password_file "
                    "(got %s and %s)",
                    first, kind);
    }
    if (c->user && c->password_file == NULL)
        return fail(ld, config_setting_get_member(s, "user"),
                    "'cluster.user' needs 'cluster.password_file'");
    if (c->password_file && c->user == NULL)
        return fail(ld, config_setting_get_member(s, "password_file"),
                    "'cluster.password_file' needs 'cluster.user'");
    if (from_file_dir(ld, s, &c->creds) < 0 ||
        from_file_dir(ld, s, &c->nkey_seed) < 0 ||
        from_file_dir(ld, s, &c->token_file) < 0 ||
        from_file_dir(ld, s, &c->password_file) < 0)
        return -1;
    return 0;
}

static int apply_cluster(struct loader *ld, const config_setting_t *s,
                         const struct key *k)
{
    struct config_cluster *c = &ld->cfg->cluster;

    if (!config_setting_is_group(s))
        return fail(ld, s, "'%s' must be a group { ... }", k->name);
    if (apply_group(ld, s, cluster_keys) < 0 || check_cluster_creds(ld, s) < 0)
        return -1;
    c->enabled = 1;
    if (c->n_nats == 0) {
        if (set_string(ld, s, &c->nats[0], DEFAULT_NATS) < 0)
            return -1;
        c->n_nats = 1;
    }
    return 0;
}

#else
static int apply_cluster(struct loader *ld, const config_setting_t *s,
                         const struct key *k)
{
    (void)k;
    return fail(ld, s,
                "cluster support is not built into this msgd "
                "(configure found no libnats)");
}
#endif

static const struct word verify_words[] = {
    {"none", TLS_VERIFY_NONE},
    {"optional", TLS_VERIFY_OPTIONAL},
    {"require", TLS_VERIFY_REQUIRE},
    {NULL, 0},
};

static const struct word version_words[] = {
    {"1.2", 12},
    {"1.3", 13},
    {NULL, 0},
};

static const struct key tls_keys[] = {
    {"tls.cert", apply_string, OFF(tls.cert), 0, 0, 0, NULL, NULL, NULL},
    {"tls.key", apply_string, OFF(tls.key), 0, 0, 0, NULL, NULL, NULL},
    {"tls.ca", apply_string, OFF(tls.ca), 0, 0, 0, NULL, NULL, NULL},
    {"tls.verify_clients", apply_word, OFF(tls.verify_clients), 0, 0, 0, NULL,
     "none, optional or require", verify_words},
    {"tls.min_version", apply_word, OFF(tls.min_version), 0, 0, 0, NULL,
     "\"1.2\" or \"1.3\"", version_words},
    {"tls.handshake_timeout", apply_timeout, OFF(tls.handshake_timeout), 0, 0,
     3600, NULL, NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

/* A relative path of the file's is taken from the file's directory, so
 * that it means the same at start, at a reload and for msgd -t, wherever
 * msgd runs from. */
static int from_file_dir(struct loader *ld, const config_setting_t *s,
                         char **path)
{
    const char *slash = strrchr(ld->file, '/');
    char *abs;
    if (*path == NULL || (*path)[0] == '/' || slash == NULL)
        return 0;
    if (asprintf(&abs, "%.*s/%s", (int)(slash - ld->file), ld->file, *path) < 0)
        return fail(ld, s, "out of memory");
    free(*path);
    *path = abs;
    return 0;
}

static int apply_tls(struct loader *ld, const config_setting_t *s,
                     const struct key *k)
{
    struct config_tls *t = &ld->cfg->tls;

    if (!config_setting_is_group(s))
        return fail(ld, s, "'%s' must be a group { ... }", k->name);
    if (apply_group(ld, s, tls_keys) < 0)
        return -1;
    t->enabled = 1;
    t->line = config_setting_source_line(s);
    if (t->cert == NULL || t->key == NULL)
        return fail(ld, s, "'tls' needs both cert and key");
    if (from_file_dir(ld, s, &t->cert) < 0 ||
        from_file_dir(ld, s, &t->key) < 0 || from_file_dir(ld, s, &t->ca) < 0)
        return -1;
    if (t->verify_clients != TLS_VERIFY_NONE && t->ca == NULL)
        return fail(ld, s,
                    "'tls.verify_clients' %s needs 'tls.ca', the CA that "
                    "signs the client certificates",
                    verify_words[t->verify_clients].word);
    if (t->handshake_timeout == 0)
        return fail(ld, s, "'tls.handshake_timeout' must be more than 0");
    return 0;
}

static const struct key auth_keys[] = {
    {"auth.users_file", apply_string, OFF(auth.users_file), 0, 0, 0, NULL, NULL,
     NULL},
    {"auth.anonymous", apply_bool, OFF(auth.anonymous), 0, 0, 0, NULL, NULL,
     NULL},
    {"auth.max_failures", apply_int, OFF(auth.max_failures), 0, 1, 1000, NULL,
     NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static int apply_auth(struct loader *ld, const config_setting_t *s,
                      const struct key *k)
{
    struct config_auth *a = &ld->cfg->auth;

    if (!config_setting_is_group(s))
        return fail(ld, s, "'%s' must be a group { ... }", k->name);
    if (apply_group(ld, s, auth_keys) < 0)
        return -1;
    a->enabled = 1;
    if (a->users_file == NULL)
        return fail(ld, s, "'auth' needs users_file");
    return from_file_dir(ld, s, &a->users_file);
}

static const struct key rate_keys[] = {
    {"rate_limit.messages", apply_int, OFF(rate_limit.messages), 0, 0,
     1000000000, NULL, NULL, NULL},
    {"rate_limit.bytes", apply_int, OFF(rate_limit.bytes), 0, 0, 1099511627776,
     NULL, NULL, NULL},
    {"rate_limit.burst", apply_seconds, OFF(rate_limit.burst), 0, 0, 3600, NULL,
     NULL, NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static int apply_rate(struct loader *ld, const config_setting_t *s,
                      const struct key *k)
{
    if (!config_setting_is_group(s))
        return fail(ld, s, "'%s' must be a group { ... }", k->name);
    if (apply_group(ld, s, rate_keys) < 0)
        return -1;
    if (ld->cfg->rate_limit.burst < 0.01)
        return fail(ld, s, "'rate_limit.burst' must be at least 0.01 seconds");
    return 0;
}

/* A string, or a list or array of strings, of patterns into *out. */
static int acl_patterns(struct loader *ld, const config_setting_t *s,
                        const char *what, int group_ok, char ***out, size_t *n)
{
    int single = config_setting_type(s) == CONFIG_TYPE_STRING;
    int len = single ? 1 : config_setting_length(s);
    if (!single && !config_setting_is_array(s) && !config_setting_is_list(s))
        return fail(ld, s, "'acl.%s' must be a string or a list of strings",
                    what);
    if (len > 0 && !(*out = calloc((size_t)len, sizeof **out)))
        return fail(ld, s, "out of memory");
    for (int i = 0; i < len; i++) {
        const config_setting_t *e = single ? s : config_setting_get_elem(s, i);
        const char *v = config_setting_get_string(e);
        const char *why =
            v ? acl_pattern_error(v, group_ok) : "is not a string";
        if (why)
            return fail(ld, s, "'acl.%s' pattern \"%s\" %s", what, v ? v : "",
                        why);
        if (!((*out)[i] = strdup(v)))
            return fail(ld, s, "out of memory");
        *n = (size_t)i + 1;
    }
    return 0;
}

/* One rule: a group with user (required), ids, send, bcast. */
static int acl_rule(struct loader *ld, const config_setting_t *s,
                    struct acl_rule *r)
{
    static const char *const names[] = {"user", "ids", "send", "bcast"};
    r->line = config_setting_source_line(s);
    if (!config_setting_is_group(s))
        return fail(ld, s, "an 'acl' rule must be a group { user = ...; }");
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *m = config_setting_get_elem(s, i);
        const char *name = config_setting_name(m);
        size_t k = 0;
        while (k < 4 && strcmp(name, names[k]) != 0)
            k++;
        if (k == 4)
            return fail(ld, m,
                        "unknown setting 'acl.%s' (a rule has user, ids, "
                        "send, bcast)",
                        name);
        if (k == 0) {
            const char *v = config_setting_get_string(m);
            const char *why = v ? acl_pattern_error(v, 0) : "is not a string";
            if (!why && strstr(v, "$user"))
                why = "may not hold $user";
            if (why)
                return fail(ld, m, "'acl.user' pattern \"%s\" %s", v ? v : "",
                            why);
            if (!(r->user = strdup(v)))
                return fail(ld, m, "out of memory");
        } else if (k == 1 || k == 2) {
            if (acl_patterns(ld, m, names[k], k == 2,
                             k == 1 ? &r->ids : &r->send,
                             k == 1 ? &r->nids : &r->nsend) < 0)
                return -1;
        } else {
            if (config_setting_type(m) != CONFIG_TYPE_BOOL)
                return fail(ld, m, "'acl.bcast' must be true or false");
            r->bcast = config_setting_get_bool(m);
        }
    }
    if (r->user == NULL)
        return fail(ld, s, "an 'acl' rule needs user");
    return 0;
}

static int apply_acl(struct loader *ld, const config_setting_t *s,
                     const struct key *k)
{
    struct acl *a = &ld->cfg->acl;
    if (!config_setting_is_list(s))
        return fail(ld, s, "'%s' must be a list ( { ... }, ... )", k->name);
    acl_free(a);
    a->set = 1;
    int n = config_setting_length(s);
    if (n > 0 && !(a->rules = calloc((size_t)n, sizeof *a->rules)))
        return fail(ld, s, "out of memory");
    for (int i = 0; i < n; i++) {
        a->n = (size_t)i + 1;
        if (acl_rule(ld, config_setting_get_elem(s, i), &a->rules[i]) < 0)
            return -1;
    }
    return 0;
}

int config_listen_tls(const char *entry, const char **hostport)
{
    if (strncmp(entry, "tls://", 6) == 0) {
        *hostport = entry + 6;
        return 1;
    }
    *hostport = entry;
    return 0;
}

/* tls:// listeners need the tls group, and a msgd built with OpenSSL. */
static int check_tls_listeners(struct loader *ld, const config_t *lc)
{
    const struct config *cfg = ld->cfg;
    for (int i = 0; i < cfg->n_listen; i++) {
        const char *hp;
        if (!config_listen_tls(cfg->listen[i], &hp))
            continue;
#ifndef HAVE_OPENSSL
        return fail(ld, config_lookup(lc, "listen"),
                    "'listen' entry \"%s\": TLS support is not built into "
                    "this msgd (configure found no OpenSSL)",
                    cfg->listen[i]);
#else
        if (!cfg->tls.enabled)
            return fail(ld, config_lookup(lc, "listen"),
                        "'listen' entry \"%s\" needs the tls group (cert "
                        "and key)",
                        cfg->listen[i]);
#endif
    }
    return 0;
}

static int apply_root(struct loader *ld, const config_t *lc)
{
    struct config *cfg = ld->cfg;
    const config_setting_t *at;

    if (apply_group(ld, config_root_setting(lc), top_keys) < 0)
        return -1;
    if ((at = config_lookup(lc, "listen")) != NULL)
        cfg->listen_line = config_setting_source_line(at);
    if ((at = config_lookup(lc, "user")) != NULL)
        cfg->user_line = config_setting_source_line(at);
    if (check_tls_listeners(ld, lc) < 0)
        return -1;
    if ((at = config_lookup(lc, "group")) != NULL)
        cfg->group_line = config_setting_source_line(at);
    /* A buffer that cannot hold one message plus its header would
     * disconnect every receiver of a full-size message. */
    if (cfg->max_output_buffer < cfg->max_message_size + 256) {
        at = config_lookup(lc, "max_output_buffer");
        return fail(ld, at ? at : config_lookup(lc, "max_message_size"),
                    "'max_output_buffer' (%" PRId64
                    ") must be at least max_message_size + 256 (%" PRId64 ")",
                    cfg->max_output_buffer, cfg->max_message_size + 256);
    }
    return 0;
}

/* libconfig says only "file I/O error" for a file it cannot read, so find
 * the real reason first. */
static int check_readable(struct loader *ld)
{
    struct stat st;
    FILE *f;

    if (stat(ld->file, &st) == 0 && S_ISDIR(st.st_mode))
        return fail(ld, NULL, "%s", strerror(EISDIR));
    if (!(f = fopen(ld->file, "r")))
        return fail(ld, NULL, "%s", strerror(errno));
    fclose(f);
    return 0;
}

static int load_file(struct loader *ld)
{
    config_t lc;
    int rc;

    if (check_readable(ld) < 0)
        return -1;
    /* @include paths stay relative to the working directory: libconfig 1.5
     * prefixes include_dir even to absolute paths. */
    config_init(&lc);
    if (!config_read_file(&lc, ld->file)) {
        const char *file = config_error_file(&lc);

        rc = -1;
        if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
            fail(ld, NULL, "cannot read: %s", config_error_text(&lc));
        else if (ld->err && ld->errlen)
            snprintf(ld->err, ld->errlen, "%s:%d: %s", file ? file : ld->file,
                     config_error_line(&lc), config_error_text(&lc));
    } else {
        rc = apply_root(ld, &lc);
    }
    config_destroy(&lc);
    return rc;
}

const char *config_user_dir(void)
{
    static char dir[256];
    const char *xdg = getenv("XDG_RUNTIME_DIR");

    if (xdg && xdg[0] == '/' && strlen(xdg) < sizeof dir - 8)
        snprintf(dir, sizeof dir, "%s/msgd", xdg);
    else
        snprintf(dir, sizeof dir, "/tmp/msgd-%lu", (unsigned long)geteuid());
    return dir;
}

/* The files' default paths: the directory systemd made for the unit
 * (env: RUNTIME_DIRECTORY or LOGS_DIRECTORY, set for RuntimeDirectory=
 * and LogsDirectory=; the first of a colon-separated list), so that a
 * unit with User= finds its files where root's msgd would; else the
 * system's for root, a directory of the user's own for anyone else, so
 * that a developer's msgd starts without editing a single path (and
 * without stepping on a system daemon's). */
static char *default_path(const char *env, const char *system, const char *name)
{
    char *p;
    const char *dir = getenv(env);
    if (dir && dir[0] == '/') {
        int n = (int)strcspn(dir, ":");
        return asprintf(&p, "%.*s/%s", n, dir, name) < 0 ? NULL : p;
    }
    if (geteuid() == 0)
        return strdup(system);
    if (asprintf(&p, "%s/%s", config_user_dir(), name) < 0)
        return NULL;
    return p;
}

/* Returns -1 if memory ran out, leaving a NULL where a string belongs. */
static int fill_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->listen[0] = strdup("127.0.0.1:2004");
    cfg->n_listen = 1;
    cfg->admin_socket =
        default_path("RUNTIME_DIRECTORY", CONFIG_ADMIN_SOCKET, "admin.sock");
    cfg->admin_socket_mode = 0660;
    cfg->pidfile =
        default_path("RUNTIME_DIRECTORY", CONFIG_PIDFILE, "msgd.pid");
    cfg->server_log =
        default_path("LOGS_DIRECTORY", CONFIG_SERVER_LOG, "server.log");
    cfg->client_log =
        default_path("LOGS_DIRECTORY", CONFIG_CLIENT_LOG, "client.log");
    cfg->log_level = LOG_LVL_INFO;
    cfg->log_stderr = 1;
    cfg->idle_timeout = 300;
    cfg->max_nodes = 10000;
    cfg->max_message_size = 65536;
    cfg->max_output_buffer = 8388608;
    cfg->max_output_total = 0;
    cfg->write_deadline = 10;
    cfg->max_unregistered_input = 4096;
    cfg->max_input_total = 0;
    cfg->duplicate_id = DUP_REJECT;
    cfg->client_log_rate = 20;
    cfg->cluster.prefix = strdup("msgd");
    cfg->cluster.id_hold = 30;
    cfg->tls.min_version = 12;
    cfg->tls.handshake_timeout = 5;
    cfg->auth.max_failures = 3;
    cfg->hello_timeout = 10;
    cfg->rate_limit.burst = 2;
    cfg->session_hold = 60;
    cfg->session_buffer = 1048576;
    return cfg->listen[0] && cfg->admin_socket && cfg->pidfile &&
                   cfg->server_log && cfg->client_log && cfg->cluster.prefix
               ? 0
               : -1;
}

void config_where(const char *file, const char *name, char *out, size_t outlen)
{
    config_t lc;
    unsigned line = 0;

    snprintf(out, outlen, "%s", file ? file : "(built-in defaults)");
    if (file == NULL)
        return;
    config_init(&lc);
    if (config_read_file(&lc, file)) {
        config_setting_t *s = config_lookup(&lc, name);
        if (s)
            line = config_setting_source_line(s);
    }
    config_destroy(&lc);
    if (line)
        snprintf(out, outlen, "%s:%u", file, line);
}

void config_defaults(struct config *cfg)
{
    fill_defaults(cfg);
}

int config_load(struct config *cfg, const char *file, char *err, size_t errlen)
{
    struct config next;
    struct loader ld = {&next, file, err, errlen};
    int rc;

    if (fill_defaults(&next) < 0)
        rc = fail(&ld, NULL, "out of memory");
    else if ((rc = load_file(&ld)) == 0 && !(next.file = strdup(file)))
        rc = fail(&ld, NULL, "out of memory");
    config_free(cfg);
    if (rc == 0) {
        *cfg = next;
        return 0;
    }
    config_free(&next);
    config_defaults(cfg);
    return -1;
}

void config_free(struct config *cfg)
{
    free(cfg->file);
    for (int i = 0; i < CONFIG_MAX_LISTEN; i++) {
        free(cfg->listen[i]);
        free(cfg->cluster.nats[i]);
    }
    free(cfg->admin_socket);
    free(cfg->pidfile);
    free(cfg->server_log);
    free(cfg->client_log);
    free(cfg->user);
    free(cfg->group);
    free(cfg->cluster.name);
    free(cfg->cluster.creds);
    free(cfg->cluster.nkey_seed);
    free(cfg->cluster.token_file);
    free(cfg->cluster.user);
    free(cfg->cluster.password_file);
    free(cfg->cluster.tls.ca);
    free(cfg->cluster.tls.cert);
    free(cfg->cluster.tls.key);
    free(cfg->tls.cert);
    free(cfg->tls.key);
    free(cfg->tls.ca);
    free(cfg->auth.users_file);
    acl_free(&cfg->acl);
    free(cfg->cluster.prefix);
    /* Zeroed, a freed struct is safe to free or load into again. */
    memset(cfg, 0, sizeof *cfg);
}

int config_parse_hostport(const char *s, char *host, size_t hostlen,
                          unsigned *port)
{
    const char *h = s, *colon, *p;
    unsigned long v = 0;
    size_t n;
    struct in6_addr a6;

    if (!s || !host || !port)
        return -1;
    if (*s == '[') {
        const char *close = strchr(s, ']');

        if (!close || close[1] != ':')
            return -1;
        h = s + 1;
        n = close - h;
        colon = close + 1;
    } else {
        if (!(colon = strrchr(s, ':')))
            return -1;
        n = colon - s;
    }
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    if (h != s
            ? inet_pton(AF_INET6, host, &a6) != 1
            : strcmp(host, "*") != 0 &&
                  strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "abcdefghijklmnopqrstuvwxyz0123456789.-") != n)
        return -1;
    for (p = colon + 1; *p >= '0' && *p <= '9'; p++)
        if ((v = v * 10 + (unsigned long)(*p - '0')) > 65535)
            v = 65536; /* too large, however long */
    if (p == colon + 1 || *p)
        return -1;
    if (v > 65535)
        return CONFIG_PORT_RANGE;
    *port = (unsigned)v;
    return 0;
}

const char *config_log_level_name(enum log_level lvl)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};

    return (unsigned)lvl < 4 ? names[lvl] : "unknown";
}

/* "FILE:LINE: " for the checks made after loading; nothing without a
 * file. */
static int at_line(char *err, size_t errlen, const struct config *cfg, int line)
{
    int n = 0;

    if (cfg->file && line > 0)
        n = snprintf(err, errlen, "%s:%d: ", cfg->file, line);
    else if (cfg->file)
        n = snprintf(err, errlen, "%s: ", cfg->file);
    return n < 0 || (size_t)n >= errlen ? 0 : n;
}

int config_check_system(const struct config *cfg, char *err, size_t errlen)
{
    int n;

    if (cfg->user && getpwnam(cfg->user) == NULL) {
        n = at_line(err, errlen, cfg, cfg->user_line);
        snprintf(err + n, errlen - n, "'user' \"%s\": no such user", cfg->user);
        return -1;
    }
    if (cfg->group && getgrnam(cfg->group) == NULL) {
        n = at_line(err, errlen, cfg, cfg->group_line);
        snprintf(err + n, errlen - n, "'group' \"%s\": no such group",
                 cfg->group);
        return -1;
    }
    for (int i = 0; i < cfg->n_listen; i++) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
        struct addrinfo *res;
        char host[HOST_MAX];
        unsigned port;
        int rc;

        const char *hp;
        config_listen_tls(cfg->listen[i], &hp);
        /* Loaded, so well formed. */
        if (config_parse_hostport(hp, host, sizeof host, &port) < 0 ||
            strcmp(host, "*") == 0)
            continue;
        if ((rc = getaddrinfo(host, "0", &hints, &res)) == 0) {
            freeaddrinfo(res);
            continue;
        }
        n = at_line(err, errlen, cfg, cfg->listen_line);
        snprintf(err + n, errlen - n, "'listen' entry \"%s\": host %s: %s",
                 cfg->listen[i], host, gai_strerror(rc));
        return -1;
    }
    return 0;
}
