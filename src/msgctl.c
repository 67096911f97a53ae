/* msgctl.c: the admin tool.  Builds one request line (admin.c), sends it
 * over the Unix socket, decodes the JSON reply with jansson once, and
 * renders it either as JSON (--json) or for people (a table, key: value
 * lines).  Exit codes follow sysexits(3); messages are err(3)'s, with the
 * program's name in front.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "proto.h"

#ifndef MSGD_CONF_PATH
#define MSGD_CONF_PATH "/etc/msgd/msgd.conf"
#endif

#define REPLY_TIMEOUT_MS 30000

static const char *socket_path;
static int json_out;

/* What one command line asks for: the request's key=value pairs, and what
 * the renderer and the error messages need to know of the arguments.  An
 * option given again replaces its value (as a key given twice does in the
 * daemon), so repeating options cannot run past the arrays. */
struct request {
    const char *keys[8], *vals[8];
    int n;
    int closed, cluster; /* list --closed, --cluster */
    int by_addr;         /* kick --addr: "what" is an address, not an id */
    const char *what;    /* kick: the id or the address */
    char reason[ADMIN_MAX_REASON + 2], limit[16];
};

static void usage(FILE *f)
{
    fprintf(f, "usage: msgctl [-s socket] [--json] command [args]\n"
               "commands:\n"
               "  list [--closed | --cluster]"
               " [--sort id|addr|idle|connected|msgs]\n"
               "       [--prefix ID] [--addr HOST[:PORT]] [--idle-min SECONDS]"
               " [--limit N]\n"
               "  kick ID [REASON...]\n"
               "  kick --addr HOST[:PORT] [REASON...]\n"
               "  stats\n"
               "  cluster\n"
               "  reload\n"
               "  reopen-logs\n");
}

/* One line on what was wrong and where to look, as most tools do. */
static int usage_error(const char *msg)
{
    warnx("%s\ntry 'msgctl --help'", msg);
    return EX_USAGE;
}

/* getopt's complaint, in our words: opterr is off so that no message
 * starts with a command's name alone. */
static int bad_option(const char *cmd, char **argv, int c)
{
    char msg[160];
    const char *what = argv[optind - 1];
    if (c == ':')
        snprintf(msg, sizeof msg, "%s%soption '%.64s' needs an argument",
                 cmd ? cmd : "", cmd ? ": " : "", what);
    else if (optopt)
        snprintf(msg, sizeof msg, "%s%sunknown option '-%c'", cmd ? cmd : "",
                 cmd ? ": " : "", optopt);
    else
        snprintf(msg, sizeof msg, "%s%sunknown option '%.64s'", cmd ? cmd : "",
                 cmd ? ": " : "", what);
    return usage_error(msg);
}

/* Global options may also follow the command ("msgctl list --json"), as
 * most tools allow: take them out of the command's arguments, up to a
 * "--".  Returns 0, or -1 when -s lacks its argument. */
static int take_globals(int *argc, char **argv)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (strcmp(argv[i], "--json") == 0) {
            json_out = 1;
        } else if (strcmp(argv[i], "-s") == 0 ||
                   strcmp(argv[i], "--socket") == 0) {
            if (++i >= *argc)
                return -1;
            socket_path = argv[i];
        } else if (strncmp(argv[i], "--socket=", 9) == 0) {
            socket_path = argv[i] + 9;
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    return 0;
}

/* Without -s: the socket of the default configuration file, else the
 * built-in default.  For a user other than root that is the socket in
 * their own directory, where their own msgd puts it; when there is none,
 * the system daemon's, which anyone allowed may read from. */
static char *default_socket(void)
{
    struct config cfg;
    char err[CONFIG_ERR_MAX];
    struct stat st;
    char *path;
    config_defaults(&cfg);
    if (access(MSGD_CONF_PATH, F_OK) == 0 &&
        config_load(&cfg, MSGD_CONF_PATH, err, sizeof err) < 0)
        warnx("warning: %s; using the default socket", err);
    path = strdup(cfg.admin_socket);
    if (geteuid() != 0 && path &&
        strncmp(path, config_user_dir(), strlen(config_user_dir())) == 0 &&
        (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode))) {
        free(path);
        path = strdup(CONFIG_ADMIN_SOCKET);
    }
    config_free(&cfg);
    return path;
}

/* Sends the request and reads the whole reply; returns it (NUL-ended) or
 * NULL after saying why. */
static char *exchange(const char *req, size_t len, size_t *out_len)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof sa.sun_path) {
        warnx("cannot reach msgd at %s: path too long", socket_path);
        return NULL;
    }
    strcpy(sa.sun_path, socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        struct stat st;
        /* ECONNREFUSED on a regular file says nothing useful. */
        int not_sock = errno == ECONNREFUSED && stat(socket_path, &st) == 0 &&
                       !S_ISSOCK(st.st_mode);
        warnx("cannot reach msgd at %s: %s", socket_path,
              not_sock ? "not a socket" : strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    /* A daemon that refuses at once (busy) closes without reading: the
     * send may fail, but its answer is still there to read. */
    int send_errno =
        send(fd, req, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : errno;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        errx(EXIT_FAILURE, "out of memory");
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, REPLY_TIMEOUT_MS);
        if (r == 0) {
            warnx("msgd at %s did not answer within %d s", socket_path,
                  REPLY_TIMEOUT_MS / 1000);
            free(buf);
            close(fd);
            return NULL;
        }
        if (n + 1 == cap) {
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL)
                errx(EXIT_FAILURE, "out of memory: a reply of over %zu bytes",
                     n);
            buf = grown;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + n, cap - n - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    if (n == 0 && send_errno) {
        warnx("cannot send to msgd at %s: %s", socket_path,
              strerror(send_errno));
        free(buf);
        return NULL;
    }
    if (n == 0) {
        warnx("msgd at %s closed without answering", socket_path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *out_len = n;
    return buf;
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

/* The length of the control character at s (0 when none): a byte below
 * 0x20, DEL, or a C1 control (U+0080 to U+009F, C2 80 to C2 9F in UTF-8,
 * which some terminals obey as ESC sequences). */
static size_t control_at(const unsigned char *s)
{
    if (*s < 0x20 || *s == 0x7f)
        return 1;
    if (*s == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)
        return 2;
    return 0;
}

/* s as it may reach a terminal: each byte of a control character as \xNN
 * and a backslash as \\, so that what is shown cannot move the cursor,
 * recolour the screen or pass for something else.  Returns a copy to
 * free, or NULL when s needs no escape. */
static char *escape_text(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t extra = 0;
    for (size_t i = 0; u[i]; i++) {
        size_t c = control_at(u + i);
        extra += c ? 3 * c : u[i] == '\\';
        i += c ? c - 1 : 0;
    }
    if (extra == 0)
        return NULL;
    char *out = malloc(strlen(s) + extra + 1), *o = out;
    if (out == NULL) {
        errx(EXIT_FAILURE, "out of memory");
    }
    for (size_t i = 0; u[i]; i++) {
        size_t c = control_at(u + i);
        for (size_t k = 0; k < c; k++)
            o += sprintf(o, "\\x%02x", u[i + k]);
        if (c)
            i += c - 1;
        else if (u[i] == '\\')
            *o++ = '\\', *o++ = '\\';
        else
            *o++ = (char)u[i];
    }
    *o = '\0';
    return out;
}

/* printf's %s for text from the reply. */
static void put_text(const char *s)
{
    char *e = escape_text(s);
    fputs(e ? e : s, stdout);
    free(e);
}

static void fmt_duration(char *out, size_t n, double s)
{
    long t = (long)s;
    if (s < 60)
        snprintf(out, n, "%.1fs", s);
    else if (t < 3600)
        snprintf(out, n, "%ldm%02lds", t / 60, t % 60);
    else if (t < 86400)
        snprintf(out, n, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    else
        snprintf(out, n, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
}

#define NCOLS 10
#define CELL 32 /* a count or a duration */

/* An aligned table: widths from the data, numbers right-aligned.  Text
 * cells point into the decoded reply (ids, addresses, instance names of
 * any length), or to an escaped copy of it; numbers are formatted into the
 * table's own cells. */
struct table {
    int ncols;
    const int *right; /* per column: aligned right */
    size_t nrows;     /* with the header */
    size_t next;      /* the next cell to fill */
    const char **cell;
    char (*fmt)[CELL];
    char **own; /* escaped copies, freed with the table */
};

static void table_init(struct table *t, size_t nrows, int ncols,
                       const char *const *head, const int *right)
{
    t->ncols = ncols;
    t->right = right;
    t->nrows = nrows + 1;
    t->next = 0;
    t->cell = calloc(t->nrows * (size_t)ncols, sizeof *t->cell);
    t->fmt = calloc(t->nrows * (size_t)ncols, sizeof *t->fmt);
    t->own = calloc(t->nrows * (size_t)ncols, sizeof *t->own);
    if (t->cell == NULL || t->fmt == NULL || t->own == NULL) {
        errx(EXIT_FAILURE, "out of memory");
    }
    for (int c = 0; c < ncols; c++)
        t->cell[t->next++] = head[c];
}

/* Every text cell goes through here: whatever the daemon sent, no
 * control character reaches the terminal. */
static void cell_text(struct table *t, const char *s)
{
    t->own[t->next] = escape_text(s);
    t->cell[t->next] = t->own[t->next] ? t->own[t->next] : s;
    t->next++;
}

/* The next cell's own storage, for a formatted value. */
static char *cell_buf(struct table *t)
{
    t->cell[t->next] = t->fmt[t->next];
    return t->fmt[t->next++];
}

/* A count; "-" where the daemon does not know it (null). */
static void cell_count(struct table *t, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_number(v))
        snprintf(cell_buf(t), CELL, "%.0f", json_number_value(v));
    else
        cell_text(t, "-");
}

static void cell_duration(struct table *t, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_number(v))
        fmt_duration(cell_buf(t), CELL, json_number_value(v));
    else
        cell_text(t, "-");
}

static void table_print(struct table *t)
{
    int width[NCOLS] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            int w = (int)strlen(t->cell[r * (size_t)t->ncols + (size_t)c]);
            if (w > width[c])
                width[c] = w;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cell[r * (size_t)t->ncols + (size_t)c];
            const char *sep = c + 1 < t->ncols ? "  " : "\n";
            if (t->right[c])
                printf("%*s%s", width[c], s, sep);
            else if (c + 1 < t->ncols)
                printf("%-*s%s", width[c], s, sep);
            else
                printf("%s%s", s, sep);
        }
    }
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->own[i]);
    free(t->cell);
    free(t->fmt);
    free(t->own);
}

/* list: live nodes, closed connections, or the whole cluster's nodes
 * (another instance's node has only its id and instance; the rest is
 * null, shown as "-"). */
static void print_list(json_t *rows, const struct request *rq)
{
    const int closed = rq->closed, cluster = rq->cluster;
    static const char *const live_head[] = {
        "ID",       "ADDR",     "CONNECTED", "IDLE",     "MSGS_IN",
        "MSGS_OUT", "BYTES_IN", "BYTES_OUT", "STATE",    "KEPT"};
    static const int live_right[] = {0, 0, 1, 1, 1, 1, 1, 1, 0, 1};
    static const char *const closed_head[] = {
        "ID",      "ADDR",     "CLOSED_AT", "REASON",   "CONNECTED",
        "MSGS_IN", "MSGS_OUT", "BYTES_IN",  "BYTES_OUT"};
    static const int closed_right[] = {0, 0, 0, 0, 1, 1, 1, 1, 1};
    static const char *const cluster_head[] = {
        "ID",      "INSTANCE", "ADDR",     "CONNECTED", "IDLE",
        "MSGS_IN", "MSGS_OUT", "BYTES_IN", "BYTES_OUT"};
    static const int cluster_right[] = {0, 0, 0, 1, 1, 1, 1, 1, 1};
    size_t nrows = json_array_size(rows);
    struct table t;

    if (closed)
        table_init(&t, nrows, 9, closed_head, closed_right);
    else if (cluster)
        table_init(&t, nrows, 9, cluster_head, cluster_right);
    else
        table_init(&t, nrows, 10, live_head, live_right);
    for (size_t r = 0; r < nrows; r++) {
        json_t *o = json_array_get(rows, r);
        cell_text(&t, str(o, "id"));
        if (cluster)
            cell_text(&t, str(o, "instance"));
        cell_text(&t, str(o, "addr"));
        if (closed) {
            cell_text(&t, str(o, "closed_at"));
            cell_text(&t, str(o, "reason"));
            cell_duration(&t, o, "connected_s");
        } else {
            cell_duration(&t, o, "connected_s");
            cell_duration(&t, o, "idle_s");
        }
        cell_count(&t, o, "msgs_in");
        cell_count(&t, o, "msgs_out");
        cell_count(&t, o, "bytes_in");
        cell_count(&t, o, "bytes_out");
        if (!closed && !cluster) {
            /* A held session shows how long it is still held. */
            json_t *left = json_object_get(o, "hold_left_s");
            if (json_is_number(left)) {
                char d[CELL];
                fmt_duration(d, sizeof d, json_number_value(left));
                snprintf(cell_buf(&t), CELL, "held %.26s", d);
            } else {
                cell_text(&t, str(o, "state"));
            }
            cell_count(&t, o, "kept");
        }
    }
    table_print(&t);
}

/* cluster: one row per instance, this one first. */
static void print_instances(json_t *insts, const struct request *rq)
{
    (void)rq;
    static const char *const head[] = {"NAME",  "INCARNATION", "STATE",
                                       "NODES", "LAST-SEEN",   "SELF"};
    static const int right[] = {0, 0, 0, 1, 1, 0};
    size_t n = json_array_size(insts);
    struct table t;

    table_init(&t, n, 6, head, right);
    for (size_t r = 0; r < n; r++) {
        json_t *o = json_array_get(insts, r);
        int self = json_is_true(json_object_get(o, "self"));
        cell_text(&t, str(o, "name"));
        cell_text(&t, str(o, "incarnation"));
        cell_text(&t, str(o, "state"));
        cell_count(&t, o, "nodes");
        if (self) /* it hears itself all the time */
            cell_text(&t, "-");
        else
            cell_duration(&t, o, "last_seen_s");
        cell_text(&t, self ? "yes" : "no");
    }
    table_print(&t);
}

/* One "key: value" line of stats. */
static void print_value(const char *indent, const char *key, json_t *val)
{
    if (json_is_integer(val))
        printf("%s%s: %lld\n", indent, key, (long long)json_integer_value(val));
    else if (json_is_real(val))
        printf("%s%s: %.3f\n", indent, key, json_real_value(val));
    else if (json_is_boolean(val))
        printf("%s%s: %s\n", indent, key, json_is_true(val) ? "yes" : "no");
    else if (json_is_string(val)) {
        printf("%s%s: ", indent, key);
        put_text(json_string_value(val));
        putchar('\n');
    } else
        printf("%s%s: -\n", indent, key);
}

/* stats: the daemon's own counters, then the cluster_* keys (present only
 * in a cluster) as a section of their own, without the prefix. */
static void print_stats(json_t *result, const struct request *rq)
{
    static const char prefix[] = "cluster_";
    const size_t plen = sizeof prefix - 1;
    const char *key;
    json_t *val;
    int cluster = 0;

    (void)rq;
    json_object_foreach(result, key, val)
    {
        if (strncmp(key, prefix, plen) == 0)
            cluster = 1;
        else
            print_value("", key, val);
    }
    if (!cluster)
        return;
    printf("cluster:\n");
    json_object_foreach(result, key, val)
    {
        if (strncmp(key, prefix, plen) == 0)
            print_value("  ", key + plen, val);
    }
}

/* kick: forwarded, the node's own instance kicks it; it is told so. */
static void print_kicked(json_t *result, const struct request *rq)
{
    const char *inst = json_string_value(json_object_get(result, "instance"));
    json_t *val;
    size_t i;
    (void)rq;
    json_array_foreach(json_object_get(result, "kicked"), i, val)
    {
        const char *id = json_string_value(val);
        fputs("kicked ", stdout);
        put_text(id ? id : "-");
        if (inst) {
            fputs(" (forwarded to instance ", stdout);
            put_text(inst);
            putchar(')');
        }
        putchar('\n');
    }
}

static void print_reloaded(json_t *result, const struct request *rq)
{
    json_t *val;
    size_t i;
    (void)rq;
    fputs("reloaded ", stdout);
    put_text(str(result, "file"));
    putchar('\n');
    /* Done, but not all of it: the operator is told here, not only in
     * server_log. */
    json_array_foreach(json_object_get(result, "warnings"), i, val)
    {
        const char *w = json_string_value(val);
        char *e = escape_text(w ? w : "");
        warnx("warning: %s", e ? e : w ? w : "");
        free(e);
    }
}

static void print_reopened(json_t *result, const struct request *rq)
{
    (void)result;
    (void)rq;
    printf("logs reopened\n");
}

/* The daemon's refusal, in the operator's terms; returns the exit status. */
static int print_refusal(const char *cmd, json_t *root,
                         const struct request *rq)
{
    const char *err = str(root, "error");
    switch (admin_status_of_code(str(root, "code"))) {
    case ADMIN_E_PERMISSION:
        warnx("%s: permission denied", cmd);
        return EX_NOPERM;
    case ADMIN_E_NOT_FOUND:
        if (rq->by_addr)
            warnx("no node at %s", rq->what);
        else
            warnx("no such node: %s", rq->what);
        return EXIT_FAILURE;
    case ADMIN_E_NO_CLUSTER:
        warnx("%s", err); /* names the cluster */
        return EXIT_FAILURE;
    case ADMIN_E_CONFIG:
        warnx("reload refused: %s", err);
        return EXIT_FAILURE;
    case ADMIN_E_VERSION:
    case ADMIN_E_BAD_REQUEST:
    case ADMIN_E_UNKNOWN_COMMAND:
        warnx("msgd refused the request: %s", err);
        return EX_PROTOCOL;
    default:
        warnx("%s: %s", cmd, err);
        return EXIT_FAILURE;
    }
}

static int is_number(const char *s, int fraction)
{
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    if (fraction)
        strtod(s, &end);
    else
        strtoul(s, &end, 10);
    return *end == '\0';
}

static void kv_set(struct request *rq, const char *key, const char *val)
{
    int i = 0;
    while (i < rq->n && strcmp(rq->keys[i], key) != 0)
        i++;
    rq->keys[i] = key;
    rq->vals[i] = val;
    if (i == rq->n)
        rq->n++;
}

/* Joins argv[from..] with spaces (the kick reason). */
static void join(char *out, size_t cap, char **argv, int from, int argc)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = from; i < argc && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i > from ? " " : "",
                              argv[i]);
}

/* The argument parsers: argv[0] is the command.  Each returns 0, or an
 * exit status after saying what was wrong. */

static int parse_list(int argc, char **argv, struct request *rq)
{
    static const struct option lopts[] = {
        {"closed", no_argument, NULL, 'c'},
        {"cluster", no_argument, NULL, 'C'},
        {"sort", required_argument, NULL, 'S'},
        {"prefix", required_argument, NULL, 'p'},
        {"addr", required_argument, NULL, 'a'},
        {"idle-min", required_argument, NULL, 'i'},
        {"limit", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "+:", lopts, NULL)) != -1) {
        const char *k = NULL;
        switch (opt) {
        case 'c':
            rq->closed = 1;
            kv_set(rq, "closed", "1");
            break;
        case 'C':
            rq->cluster = 1;
            kv_set(rq, "cluster", "1");
            break;
        case 'S':
            if (!admin_valid_sort(optarg))
                return usage_error("--sort takes id, addr, idle, "
                                   "connected or msgs");
            k = "sort";
            break;
        case 'p':
            k = "prefix";
            break;
        case 'a':
            k = "addr";
            break;
        case 'i':
            if (!is_number(optarg, 1))
                return usage_error("--idle-min takes seconds, e.g. 30 "
                                   "or 0.5");
            k = "min_idle";
            break;
        case 'l':
            if (!is_number(optarg, 0) || strlen(optarg) > 9)
                return usage_error("--limit takes a count");
            snprintf(rq->limit, sizeof rq->limit, "%s", optarg);
            kv_set(rq, "limit", rq->limit);
            break;
        default:
            return bad_option("list", argv, opt);
        }
        if (k)
            kv_set(rq, k, optarg);
    }
    if (optind != argc)
        return usage_error("list takes no arguments besides options");
    /* The closed ring is the daemon's own: no other instance's. */
    if (rq->closed && rq->cluster)
        return usage_error("--closed and --cluster do not go together");
    return 0;
}

#define STR_(x) #x
#define STR(x) STR_(x)

static int parse_kick(int argc, char **argv, struct request *rq)
{
    int i = 1;
    if (argc > 2 && strcmp(argv[1], "--addr") == 0) {
        kv_set(rq, "addr", rq->what = argv[2]);
        rq->by_addr = 1;
        i = 3;
    } else {
        /* "--" lets an id that starts with '-' through. */
        int at = argc > 2 && strcmp(argv[1], "--") == 0 ? 2 : 1;
        if (at >= argc || (at == 1 && argv[1][0] == '-'))
            return usage_error("kick needs a node id or --addr ADDRESS");
        if (!proto_valid_id(argv[at], strlen(argv[at])))
            return usage_error(
                "a node id is 1 to " STR(PROTO_MAX_ID) " of A-Z a-z 0-9 . _ -");
        kv_set(rq, "id", rq->what = argv[at]);
        i = at + 1;
    }
    join(rq->reason, sizeof rq->reason, argv, i, argc);
    if (!admin_valid_reason(rq->reason))
        return usage_error("the reason must be at most 200 bytes, "
                           "without control characters");
    if (rq->reason[0])
        kv_set(rq, "reason", rq->reason);
    return 0;
}

static int parse_none(int argc, char **argv, struct request *rq)
{
    char msg[64];
    (void)rq;
    if (argc == 1)
        return 0;
    snprintf(msg, sizeof msg, "%s takes no arguments", argv[0]);
    return usage_error(msg);
}

/* Every command: how its arguments are read and its result shown. */
static const struct command {
    enum admin_cmd cmd;
    int (*parse)(int argc, char **argv, struct request *rq);
    void (*render)(json_t *result, const struct request *rq);
} commands[] = {
    {ADM_LIST, parse_list, print_list},
    {ADM_KICK, parse_kick, print_kicked},
    {ADM_STATS, parse_none, print_stats},
    {ADM_CLUSTER, parse_none, print_instances},
    {ADM_RELOAD, parse_none, print_reloaded},
    {ADM_REOPEN_LOGS, parse_none, print_reopened},
};

static const struct command *find_command(const char *name)
{
    int cmd = admin_cmd_lookup(name, strlen(name));
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if ((int)commands[i].cmd == cmd)
            return &commands[i];
    return NULL;
}

/* The one decoding path: check the envelope, then render. */
static int decode(const struct command *c, const struct request *rq,
                  const char *reply, size_t len)
{
    const char *cmd = admin_cmd_name(c->cmd);
    json_error_t jerr;
    json_t *root = json_loadb(reply, len, 0, &jerr);
    if (root == NULL || !json_is_object(root)) {
        warnx("garbled reply from %s (is it an msgd admin "
              "socket?)",
              socket_path);
        json_decref(root);
        return EX_PROTOCOL;
    }
    json_int_t version = json_integer_value(json_object_get(root, "version"));
    if (version != ADMIN_VERSION) {
        warnx("msgd at %s speaks admin protocol version %lld; this msgctl "
              "speaks %d",
              socket_path, (long long)version, ADMIN_VERSION);
        json_decref(root);
        return EX_PROTOCOL;
    }
    if (!json_is_true(json_object_get(root, "ok"))) {
        int rc = print_refusal(cmd, root, rq);
        json_decref(root);
        return rc;
    }
    json_t *result = json_object_get(root, "result");
    if (json_out) {
        char *s = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY |
                                         JSON_REAL_PRECISION(15));
        printf("%s\n", s ? s : "null");
        free(s);
    } else {
        c->render(result, rq);
    }
    json_decref(root);
    return EX_OK;
}

/* The global options, before the command; returns -1 to go on, or the
 * exit status. */
static int global_options(int argc, char **argv)
{
    static const struct option global[] = {
        {"json", no_argument, NULL, 'j'},
        {"socket", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:s:hV", global, NULL)) != -1) {
        switch (opt) {
        case 's':
            socket_path = optarg;
            break;
        case 'j':
            json_out = 1;
            break;
        case 'h':
            usage(stdout);
            return EX_OK;
        case 'V':
            printf("msgctl %s (admin protocol %d)\n", PACKAGE_VERSION,
                   ADMIN_VERSION);
            return EX_OK;
        default:
            return bad_option(NULL, argv, opt);
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    int rc = global_options(argc, argv);
    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return usage_error("no command given");
    const char *name = argv[optind];
    int cargc = argc - optind;
    char **cargv = argv + optind;
    if (take_globals(&cargc, cargv) < 0)
        return usage_error("option '-s' needs an argument");
    const struct command *c = find_command(name);
    if (c == NULL) {
        char msg[128];
        snprintf(msg, sizeof msg, "unknown command '%.64s'", name);
        return usage_error(msg);
    }
    struct request rq = {.what = ""};
    if ((rc = c->parse(cargc, cargv, &rq)) != 0)
        return rc;

    char req[ADMIN_MAX_LINE], *def = NULL;
    long len = admin_format(req, sizeof req, name, rq.keys, rq.vals, rq.n);
    if (len < 0)
        return usage_error("arguments too long");
    if (socket_path == NULL)
        socket_path = def = default_socket();
    size_t rlen;
    char *reply = exchange(req, (size_t)len, &rlen);
    rc = reply ? decode(c, &rq, reply, rlen) : EX_UNAVAILABLE;
    free(reply);
    free(def);
    return rc;
}
