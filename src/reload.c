/* reload.c: runtime reconfiguration.  The new file is loaded into a
 * scratch config first, so an error leaves every running setting as it
 * was; settings that need a restart are reported, not applied. */
#include "reload.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "server.h"

static const char *conf_path;
static int conf_is_default;

void reload_set_path(const char *path, int is_default)
{
    conf_path = path;
    conf_is_default = is_default;
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The cluster group is read once, at start: its NATS connection and
 * instance identity are not swapped under running nodes. */
static int same_cluster(const struct config *a, const struct config *b)
{
    const struct config_cluster *x = &a->cluster, *y = &b->cluster;
    if (x->enabled != y->enabled || x->n_nats != y->n_nats ||
        x->id_hold != y->id_hold || !same_str(x->name, y->name) ||
        !same_str(x->prefix, y->prefix))
        return 0;
    for (int i = 0; i < x->n_nats; i++)
        if (!same_str(x->nats[i], y->nats[i]))
            return 0;
    return 1;
}

static int same_listen(const struct config *a, const struct config *b)
{
    if (a->n_listen != b->n_listen)
        return 0;
    for (int i = 0; i < a->n_listen; i++)
        if (strcmp(a->listen[i], b->listen[i]) != 0)
            return 0;
    return 1;
}

const char *reload_path(void)
{
    return conf_path;
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
    jw = log_begin(LOG_SERVER, LOG_LVL_INFO, "reload");
    if (jw) {
        jw_str(jw, "result", "ok");
        jw_str(jw, "file", conf_path);
        jw_double(jw, "idle_timeout", cfg.idle_timeout);
        jw_str(jw, "log_level", config_log_level_name(cfg.log_level));
        log_commit(jw);
    }
    if (restart || cluster_restart) {
        jw = log_begin(LOG_SERVER, LOG_LVL_WARN, "warning");
        if (jw) {
            jw_str(jw, "msg",
                   restart && cluster_restart
                       ? "listen and cluster changed; restart msgd "
                         "to apply them"
                   : restart ? "listen changed; restart msgd to "
                               "apply it"
                             : "cluster changed; restart msgd to "
                               "apply it");
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
