/* msgd.c: the daemon's main: options, configuration, logs, the loop.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auth.h"
#include "clientlog.h"
#include "cluster.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "fsutil.h"
#include "listener.h"
#include "log.h"
#include "preflight.h"
#include "reload.h"
#include "server.h"
#ifdef HAVE_OPENSSL
#include "tls.h"
#endif
#ifdef HAVE_NATS
#include <nats/nats.h>
#endif

#ifndef MSGD_CONF_PATH
#define MSGD_CONF_PATH "/etc/msgd/msgd.conf"
#endif

#define EXIT_USAGE 64

/* -V: the version, and what this build can do. */
static void version(void)
{
    printf("msgd %s\n", PACKAGE_VERSION);
#ifdef HAVE_OPENSSL
    printf("tls: %s\n", tls_library());
#else
    printf("tls: not built in (configure --without-openssl)\n");
#endif
#ifdef HAVE_NATS
    /* libnats comes with OpenSSL: the link to NATS can always use TLS,
     * whether or not msgd's own listeners can. */
    printf("cluster: NATS (libnats %s; TLS and credentials to NATS)\n",
           nats_GetVersion());
#else
    printf("cluster: not built in (configure --without-nats)\n");
#endif
}

/* The tls group's files: loaded at start, before privileges are dropped,
 * and checked by -t. */
static int tls_start(const struct config *cfg, int check_only, char *err,
                     size_t errlen)
{
    if (!cfg->tls.enabled)
        return 0;
#ifdef HAVE_OPENSSL
    return check_only ? tls_check(&cfg->tls, err, errlen)
                      : tls_load(&cfg->tls, err, errlen);
#else
    (void)check_only;
    snprintf(err, errlen, "the tls group needs a msgd built with OpenSSL");
    return -1;
#endif
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: msgd [-fhtV] [-c file]\n"
            "  -c, --config file  configuration file (default " MSGD_CONF_PATH
            ")\n"
            "  -f, --foreground   stay in the foreground\n"
            "  -t, --test         check the configuration and exit\n"
            "  -V, --version      print the version and exit\n"
            "  -h, --help         print this help and exit\n");
}

/* One line on what was wrong and where to look, as most tools do. */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt,
                                                             ...)
{
    va_list ap;
    fputs("msgd: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\ntry 'msgd --help'\n", stderr);
    return EXIT_USAGE;
}

/* Loads the configuration: -c FILE must exist; the default path may be
 * absent, meaning built-in defaults.  Returns 0 or -1 with err set. */
static int load_config(struct config *cfg, const char *path, int is_default,
                       char *err, size_t errlen)
{
    config_defaults(cfg);
    if (is_default && access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    return config_load(cfg, path, err, errlen);
}

/* One descriptor per node: take all the kernel allows us. */
static struct rlimit raise_nofile(void)
{
    struct rlimit before = {0, 0}, rl;
    if (getrlimit(RLIMIT_NOFILE, &before) == 0) {
        rl = before;
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return before;
}

static struct rlimit nofile_at_start;

static void log_start(void)
{
    struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_INFO, "start");
    if (jw == NULL)
        return;
    char list[CONFIG_MAX_LISTEN * 2 * 80 + 4];
    size_t n = 0;
    list[n++] = '[';
    for (int i = 0; i < srv.nlisteners; i++) {
        if (i)
            list[n++] = ',';
        list[n++] = '"';
        long e =
            jw_escape(list + n, sizeof list - n - 3, srv.listeners[i]->addr,
                      strlen(srv.listeners[i]->addr));
        n += e > 0 ? (size_t)e : 0;
        list[n++] = '"';
    }
    list[n++] = ']';
    jw_str(jw, "version", PACKAGE_VERSION);
    jw_int(jw, "pid", getpid());
    jw_raw(jw, "listen", list, n);
    struct rlimit now = {0, 0};
    getrlimit(RLIMIT_NOFILE, &now);
    jw_uint(jw, "nofile_soft_was", nofile_at_start.rlim_cur);
    jw_uint(jw, "nofile_soft", now.rlim_cur);
    jw_uint(jw, "nofile_hard", now.rlim_max);
    log_commit(jw);
}

static void log_stop(void)
{
    clientlog_flush(); /* what was held back is said before the end */
    struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_INFO, "stop");
    if (jw) {
        jw_str(jw, "reason", srv.stop_reason ? srv.stop_reason : "error");
        log_commit(jw);
    }
}

static void log_fatal(const char *msg)
{
    struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_ERROR, "error");
    if (jw) {
        jw_str(jw, "msg", msg);
        log_commit(jw);
    }
}

static void log_warning(const char *msg)
{
    struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_WARN, "warning");
    if (jw) {
        jw_str(jw, "msg", msg);
        log_commit(jw);
    }
}

static void print_warning(const char *msg)
{
    fprintf(stderr, "msgd: warning: %s\n", msg);
}

/* What is risky but allowed about who msgd runs as and where its files
 * are, told through say: stderr for -t, server_log at start. */
static void file_warnings(const struct config *cfg, uid_t uid, gid_t gid,
                          void (*say)(const char *))
{
    const char *paths[] = {cfg->pidfile, cfg->server_log, cfg->client_log,
                           cfg->admin_socket};
    char dirs[4][1024], why[128], msg[2560];
    int ndirs = 0;

    const char *w = daemon_user_warning(cfg);
    if (w) {
        snprintf(msg, sizeof msg, "user \"%s\" %s", cfg->user, w);
        say(msg);
    }
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char *dir = dirs[ndirs];
        if (!fs_unsafe_dir(paths[i], uid, gid, dir, sizeof dirs[0], why,
                           sizeof why))
            continue;
        int seen = 0;
        for (int j = 0; j < ndirs; j++)
            seen |= strcmp(dirs[j], dir) == 0;
        if (seen)
            continue;
        ndirs++;
        snprintf(msg, sizeof msg,
                 "directory %s (of %s) %s: users other than root and msgd's "
                 "could replace or remove msgd's files there",
                 dir, paths[i], why);
        say(msg);
    }
}

/* A relative path is taken from the directory msgd was started in; the
 * daemon works from /, so resolve it now. */
static char *absolute(const char *path)
{
    char cwd[4096];
    char *out;
    if (path == NULL || path[0] == '/' || getcwd(cwd, sizeof cwd) == NULL)
        return path ? strdup(path) : NULL;
    if (asprintf(&out, "%s/%s", cwd, path) < 0)
        return NULL;
    return out;
}

static void absolutize(char **path)
{
    char *abs = absolute(*path);
    if (abs) {
        free(*path);
        *path = abs;
    }
}

/* The cluster instance's name when cluster.name is unset: host and the
 * first listener's port, which tells instances on one host apart.  Known
 * only once the listeners are bound (port 0 picks one). */
static const char *instance_name(char *out, size_t size)
{
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    const char *port = "0";
    if (srv.nlisteners > 0) {
        const char *colon = strrchr(srv.listeners[0]->addr, ':');
        if (colon)
            port = colon + 1;
    }
    /* A host name is at most 64 bytes on Linux; the cut is never hit. */
    snprintf(out, size, "%.200s-%.8s", host, port);
    return out;
}

/* Everything between reading the configuration and serving: pidfile,
 * logs, listeners, privileges.  Any failure is told to the launcher (or
 * stderr) with its reason.  Takes ownership of cfg. */
static int start(struct config *cfg, const char *path, int is_default,
                 int foreground)
{
    char err[CONFIG_ERR_MAX + 64];

    nofile_at_start = raise_nofile();
    /* Known before any file is opened: files created as root are handed
     * to the service user by descriptor as they are opened. */
    uid_t uid;
    gid_t gid;
    int drop = daemon_service_user(cfg, &uid, &gid, err, sizeof err);
    if (drop < 0) {
        daemon_fail(err);
        config_free(cfg);
        return 1;
    }
    if (drop)
        fs_set_owner(uid, gid);
    if ((drop && preflight_service_dirs(cfg, uid, gid, err, sizeof err) < 0) ||
        preflight_user_dir(cfg, err, sizeof err) < 0 ||
        pidfile_open(cfg->pidfile, err, sizeof err) < 0) {
        daemon_fail(err);
        config_free(cfg);
        return 1;
    }
    if (log_open(cfg->server_log, cfg->client_log, err, sizeof err) < 0) {
        char msg[sizeof err + 32];
        snprintf(msg, sizeof msg, "cannot open log %s", err);
        daemon_fail(msg);
        config_free(cfg);
        return 1;
    }
    /* In the foreground, what the daemon says goes to stderr as well: a
     * person at a terminal, or systemd's journal, sees it. */
    log_set_stderr(foreground && cfg->log_stderr);
    reload_set_path(path, is_default);
    file_warnings(cfg, uid, gid, log_warning);
    struct config keep = *cfg; /* server_init takes the strings */
    char name[256];
    if (server_init(cfg, err, sizeof err) < 0 ||
        tls_start(&keep, 0, err, sizeof err) < 0 ||
        auth_start(&keep, err, sizeof err) < 0 ||
        control_open(&keep, err, sizeof err) < 0 ||
        (drop && daemon_drop_privileges(uid, gid, err, sizeof err) < 0) ||
        cluster_start(instance_name(name, sizeof name), err, sizeof err) < 0) {
        daemon_fail(err);
        log_fatal(err);
        return 1;
    }
    log_start();
    log_flush();
    daemon_ready();
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = MSGD_CONF_PATH;

    /* Nothing inherited stays open: descriptors above stderr are not ours. */
    close_range(3, ~0U, 0);

    int is_default = 1, foreground = 0, check = 0, opt;
    char err[CONFIG_ERR_MAX];
    struct config cfg;

    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"foreground", no_argument, NULL, 'f'},
        {"test", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0; /* our own words, under our own name */
    while ((opt = getopt_long(argc, argv, ":c:fhtV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            is_default = 0;
            break;
        case 'f':
            foreground = 1;
            break;
        case 't':
            check = 1;
            break;
        case 'V':
            version();
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            return usage_error("option '%s' needs an argument",
                               argv[optind - 1]);
        default:
            if (optopt)
                return usage_error("unknown option '-%c'", optopt);
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);

    const char *argpath = path; /* as the user wrote it, for -t */
    if (load_config(&cfg, path, is_default, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        config_free(&cfg);
        return 1;
    }
    absolutize(&cfg.server_log);
    absolutize(&cfg.client_log);
    absolutize(&cfg.pidfile);
    absolutize(&cfg.admin_socket);
    char *conf_abs = absolute(path);
    if (conf_abs)
        path = conf_abs;

    if (check) {
        uid_t uid;
        gid_t gid;
        int rc = config_check_system(&cfg, err, sizeof err);
        if (rc == 0)
            rc = tls_start(&cfg, 1, err, sizeof err);
        if (rc == 0)
            rc = auth_check(&cfg, err, sizeof err);
        if (rc == 0)
            rc = preflight_cluster_files(&cfg, err, sizeof err);
        if (rc == 0)
            rc = preflight_paths(&cfg, err, sizeof err);
        /* An unknown user is an error of the start, not of the file. */
        int drop = rc == 0
                       ? daemon_service_user(&cfg, &uid, &gid, err, sizeof err)
                       : -1;
        if (drop > 0)
            rc = preflight_service_dirs(&cfg, uid, gid, err, sizeof err);
        if (drop >= 0)
            file_warnings(&cfg, uid, gid, print_warning);
        if (rc < 0)
            fprintf(stderr, "%s\n", err);
        else if (cfg.file)
            printf("%s: ok\n", argpath);
        else
            printf("%s: ok (no such file: built-in defaults)\n", argpath);
        config_free(&cfg);
        free(conf_abs);
        return rc < 0 ? 1 : 0;
    }
    if (!foreground) {
        if (daemon_start(err, sizeof err) < 0) {
            fprintf(stderr, "msgd: %s\n", err);
            config_free(&cfg);
            return 1;
        }
        daemon_detach_stdio(); /* errors now go through daemon_fail */
    }

    int rc = start(&cfg, path, is_default, foreground);
    if (rc == 0)
        rc = server_run();
    cluster_stop();
    log_stop();
    control_close();
    auth_stop();
    pidfile_remove();
    server_free();
#ifdef HAVE_OPENSSL
    tls_free();
#endif
    log_close();
    free(conf_abs);
    return rc;
}
