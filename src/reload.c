/* reload.c: runtime reconfiguration.  The new file is loaded into a
 * scratch config first, so an error leaves every running setting as it
 * was; settings that need a restart are reported, not applied.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "reload.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "auth.h"
#include "log.h"
#include "server.h"
#ifdef HAVE_OPENSSL
#include "tls.h"
#endif

static const char *conf_path;
static int conf_is_default;
static char warning[CONFIG_ERR_MAX + 64]; /* what the last reload could not
                                             apply */

void reload_set_path(const char *path, int is_default)
{
    conf_path = path;
    conf_is_default = is_default;
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static int same_list(char *const *a, int na, char *const *b, int nb)
{
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++)
        if (!same_str(a[i], b[i]))
            return 0;
    return 1;
}

/* The cluster group is read once, at start: its NATS connection and
 * instance identity are not swapped under running nodes.  So are its
 * credentials and TLS files (libnats holds the token, password and
 * certificates from then on). */
static int same_cluster(const struct config *a, const struct config *b)
{
    const struct config_cluster *x = &a->cluster, *y = &b->cluster;
    return x->enabled == y->enabled && x->id_hold == y->id_hold &&
           same_str(x->name, y->name) && same_str(x->prefix, y->prefix) &&
           same_list(x->nats, x->n_nats, y->nats, y->n_nats) &&
           same_str(x->creds, y->creds) &&
           same_str(x->nkey_seed, y->nkey_seed) &&
           same_str(x->token_file, y->token_file) &&
           same_str(x->user, y->user) &&
           same_str(x->password_file, y->password_file) &&
           x->tls.enabled == y->tls.enabled && same_str(x->tls.ca, y->tls.ca) &&
           same_str(x->tls.cert, y->tls.cert) &&
           same_str(x->tls.key, y->tls.key);
}

static int same_listen(const struct config *a, const struct config *b)
{
    return same_list(a->listen, a->n_listen, b->listen, b->n_listen);
}

const char *reload_path(void)
{
    return conf_path;
}

const char *reload_warning(void)
{
    return warning;
}

/* New connections get the tls group's files as they are now; open ones
 * keep theirs.  A file that fails leaves the old material in force: the
 * error, with the path, is logged and becomes the reload's warning. */
static void reload_tls(const struct config *cfg, char *err, size_t errlen)
{
    if (!cfg->tls.enabled)
        return;
#ifdef HAVE_OPENSSL
    if (tls_load(&cfg->tls, err, errlen) == 0)
        return;
    struct jsonw *jw = log_begin(LOG_SERVER, LOG_LVL_ERROR, "error");
    if (jw) {
        jw_str(jw, "msg", "TLS files not reloaded: the old ones stay in force");
        jw_str(jw, "error", err);
        log_commit(jw);
    }
#else
    (void)err;
    (void)errlen;
#endif
}

int reload_config(char *err, size_t errlen)
{
    struct config cfg;
    struct jsonw *jw;

    config_defaults(&cfg);
    if (conf_path &&
        !(conf_is_default && access(conf_path, F_OK) < 0 && errno == ENOENT)) {
        if (config_load(&cfg, conf_path, err, errlen) < 0) {
            jw = log_begin(LOG_SERVER, LOG_LVL_ERROR, "reload");
            if (jw) {
                jw_str(jw, "result", "error");
                jw_str(jw, "error", err);
                log_commit(jw);
            }
            config_free(&cfg);
            return -1;
        }
    }
    int restart = !same_listen(&cfg, &srv.cfg);
    int cluster_restart = !same_cluster(&cfg, &srv.cfg);
    server_apply(&cfg);
    char tls_err[CONFIG_ERR_MAX] = "";
    reload_tls(&cfg, tls_err, sizeof tls_err);
    /* The acl in force becomes the new one (server_apply copies only
     * values, this one owns its strings). */
    acl_free(&srv.cfg.acl);
    srv.cfg.acl = cfg.acl;
    cfg.acl = (struct acl){0};
    char users_err[CONFIG_ERR_MAX] = "";
    if (auth_reload(&cfg, users_err, sizeof users_err) < 0) {
        jw = log_begin(LOG_SERVER, LOG_LVL_ERROR, "error");
        if (jw) {
            jw_str(jw, "msg",
                   "users file not reloaded: the old one stays "
                   "in force");
            jw_str(jw, "error", users_err);
            log_commit(jw);
        }
    }
    jw = log_begin(LOG_SERVER, LOG_LVL_INFO, "reload");
    if (jw) {
        jw_str(jw, "result", "ok");
        jw_str(jw, "file", conf_path);
        jw_double(jw, "idle_timeout", cfg.idle_timeout);
        jw_str(jw, "log_level", config_log_level_name(cfg.log_level));
        log_commit(jw);
    }
    warning[0] = '\0';
    if (tls_err[0]) {
        snprintf(warning, sizeof warning,
                 "TLS files not reloaded, the old ones stay in force: %s",
                 tls_err);
    } else if (users_err[0]) {
        snprintf(warning, sizeof warning,
                 "users file not reloaded, the old one stays in force: %s",
                 users_err);
    } else if (restart || cluster_restart) {
        snprintf(warning, sizeof warning,
                 "%s changed; restart msgd to apply %s",
                 restart && cluster_restart ? "listen and cluster"
                 : restart                  ? "listen"
                                            : "cluster",
                 restart && cluster_restart ? "them" : "it");
        jw = log_begin(LOG_SERVER, LOG_LVL_WARN, "warning");
        if (jw) {
            jw_str(jw, "msg", warning);
            log_commit(jw);
        }
    }
    config_free(&cfg);
    return 0;
}

int reload_logs(char *err, size_t errlen)
{
    int rc = log_reopen(err, errlen);
    struct jsonw *jw =
        log_begin(LOG_SERVER, rc ? LOG_LVL_ERROR : LOG_LVL_INFO, "log-reopen");
    if (jw) {
        jw_str(jw, "result", rc ? "error" : "ok");
        if (rc)
            jw_str(jw, "error", err);
        log_commit(jw);
    }
    return rc;
}
