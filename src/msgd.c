/* msgd.c: the daemon's main: options, configuration, logs, the loop. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "reload.h"
#include "server.h"

#ifndef MSGD_CONF_PATH
#define MSGD_CONF_PATH "/etc/msgd/msgd.conf"
#endif

#define EXIT_USAGE 64

static void usage(FILE *f)
{
    fprintf(f, "usage: msgd [-fhtV] [-c file]\n"
               "  -c file  configuration file (default " MSGD_CONF_PATH ")\n"
               "  -f       stay in the foreground\n"
               "  -t       check the configuration and exit\n"
               "  -V       print the version and exit\n"
               "  -h       print this help and exit\n");
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
    log_commit(jw);
}

static void log_stop(void)
{
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

int main(int argc, char **argv)
{
    const char *path = MSGD_CONF_PATH;
    int is_default = 1, foreground = 0, check = 0, opt;
    char err[CONFIG_ERR_MAX];
    struct config cfg;

    while ((opt = getopt(argc, argv, "c:fhtV")) != -1) {
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
            printf("msgd %s\n", PACKAGE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "msgd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }

    if (load_config(&cfg, path, is_default, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        config_free(&cfg);
        return 1;
    }
    if (check) {
        if (cfg.file)
            printf("%s: ok\n", path);
        else
            printf("%s: ok (no such file: built-in defaults)\n", path);
        config_free(&cfg);
        return 0;
    }
    if (!foreground) {
        fprintf(stderr, "msgd: starting in the background is not available "
                        "in this build yet; run msgd -f\n");
        config_free(&cfg);
        return 1;
    }

    if (log_open(cfg.server_log, cfg.client_log, err, sizeof err) < 0) {
        fprintf(stderr, "msgd: cannot open log %s\n", err);
        config_free(&cfg);
        return 1;
    }
    log_set_stderr(foreground && isatty(STDERR_FILENO));
    reload_set_path(path, is_default);
    if (server_init(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "msgd: %s\n", err);
        log_fatal(err);
        server_free();
        log_close();
        return 1;
    }
    log_start();
    log_flush();
    int rc = server_run();
    log_stop();
    server_free();
    log_close();
    return rc;
}
