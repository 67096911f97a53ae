/* config.h: msgd's settings (msgd.conf(5)) and their loader.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_CONFIG_H
#define MSGD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "acl.h"

#define CONFIG_MAX_LISTEN 16
#define CONFIG_ERR_MAX 512

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

enum dup_policy { DUP_REJECT = 0, DUP_REPLACE };

struct config_cluster {
    int enabled; /* the cluster group was present */
    char *nats[CONFIG_MAX_LISTEN];
    int n_nats;
    char *name;     /* NULL: host name and port */
    char *prefix;   /* default "msgd" */
    double id_hold; /* seconds, default 30 */
    /* NATS credentials, at most one kind (paths, from the file's
     * directory when relative): */
    char *creds;         /* a .creds file: user JWT and NKey seed */
    char *nkey_seed;     /* a file holding a user NKey seed (SU...) */
    char *token_file;    /* a file holding a token */
    char *user;          /* with password_file */
    char *password_file; /* a file holding user's password */
    /* cluster.tls: the link to NATS over TLS. */
    struct {
        int enabled; /* the group was present */
        char *ca;    /* CA of the NATS server's certificate; NULL: system's */
        char *cert;  /* client certificate chain, with key */
        char *key;
    } tls;
};

enum tls_verify {
    TLS_VERIFY_NONE = 0,
    TLS_VERIFY_OPTIONAL,
    TLS_VERIFY_REQUIRE
};

/* The tls group: what tls:// listeners serve. */
struct config_tls {
    int enabled; /* the tls group was present */
    int line;    /* its line */
    char *cert;  /* PEM chain */
    char *key;   /* PEM private key */
    char *ca;    /* for client certificates; NULL when unset */
    enum tls_verify verify_clients;
    int min_version;          /* 12 or 13 */
    double handshake_timeout; /* seconds */
};

/* The auth group (msgd.conf(5), AUTHENTICATION). */
struct config_auth {
    int enabled;      /* the auth group was present */
    char *users_file; /* NAME:HASH lines (users.h) */
    int anonymous;    /* nodes that do not authenticate are served too */
    int64_t max_failures;
};

/* rate_limit: per connection and second; 0 = off. */
struct config_rate {
    int64_t messages;
    int64_t bytes;
    double burst; /* the bucket holds this many seconds' worth */
};

struct config {
    char *file; /* the file these came from, NULL for built-in defaults */
    char *listen[CONFIG_MAX_LISTEN];
    int n_listen;
    int listen_line; /* line of the listen setting, 0 if defaulted */
    char *admin_socket;
    unsigned admin_socket_mode; /* parsed from the octal string */
    char *pidfile;
    char *server_log;
    char *client_log;
    enum log_level log_level;
    int log_stderr;      /* with -f, server_log lines go to stderr too */
    double idle_timeout; /* seconds; 0 = never */
    int64_t max_nodes;
    int64_t max_message_size;
    int64_t max_output_buffer;
    int64_t max_output_total; /* bytes; 0 = from MemAvailable at start */
    double write_deadline;    /* seconds; 0 = never */
    int64_t max_unregistered_input;
    int64_t max_input_total; /* bytes; 0 = from MemAvailable at start */
    enum dup_policy duplicate_id;
    int64_t client_log_rate;   /* lines/s per address and event; 0 = no cap */
    char *user;                /* NULL when unset */
    char *group;               /* NULL when unset */
    int user_line, group_line; /* their lines, 0 if unset */
    struct config_cluster cluster;
    struct config_tls tls;
    struct config_auth auth;
    struct acl acl;
    double hello_timeout; /* seconds to register; 0 = only idle_timeout */
    int64_t max_connections_per_ip; /* 0 = no limit */
    struct config_rate rate_limit;
    double session_hold;    /* seconds a dropped session is held; 0 = off */
    int64_t session_buffer; /* bytes a session keeps unacknowledged */
};

/* The files' defaults when msgd runs as root. */
#define CONFIG_ADMIN_SOCKET "/run/msgd/admin.sock"
#define CONFIG_PIDFILE "/run/msgd/msgd.pid"
#define CONFIG_SERVER_LOG "/var/log/msgd/server.log"
#define CONFIG_CLIENT_LOG "/var/log/msgd/client.log"

/* Fill *cfg with the built-in defaults (msgd.conf(5)).  The pidfile and
 * admin socket default to $RUNTIME_DIRECTORY, the logs to
 * $LOGS_DIRECTORY, when systemd set them; otherwise, for any user but
 * root, to config_user_dir(). */
void config_defaults(struct config *cfg);
/* The directory of a non-root user's files: $XDG_RUNTIME_DIR/msgd, or
 * /tmp/msgd-UID.  Static storage. */
const char *config_user_dir(void);

/*
 * Load FILE over the defaults.  Returns 0, or -1 with a message in err of
 * the form "FILE:LINE: what is wrong" (or "FILE: what is wrong" when no
 * line applies).  On failure *cfg is left holding defaults only (freed and
 * re-defaulted), so the caller can keep its previous config untouched by
 * loading into a scratch struct.  *cfg must hold defaults, an earlier
 * load, or zeros: config_load frees it itself, so the caller need not
 * config_free first.
 */
int config_load(struct config *cfg, const char *file, char *err, size_t errlen);

/* Free every string and zero *cfg, so freeing twice is harmless. */
void config_free(struct config *cfg);

#define CONFIG_PORT_RANGE (-2)
/* Parse "host:port", "[v6]:port", "*:port".  host gets a NUL-terminated
 * copy ("*" for any); returns 0, -1 when malformed, or CONFIG_PORT_RANGE
 * when well formed but the port is over 65535. */
int config_parse_hostport(const char *s, char *host, size_t hostlen,
                          unsigned *port);
/* A listen entry's transport: 1 for "tls://HOST:PORT" (*hostport then
 * points past the scheme), 0 for a plain "HOST:PORT". */
int config_listen_tls(const char *entry, const char **hostport);

const char *config_log_level_name(enum log_level lvl);

/* "FILE:LINE" of setting name (dotted, e.g. "cluster.name") in file, or
 * "FILE" when it is not set there: for messages about a value that parsed
 * but will not work. */
void config_where(const char *file, const char *name, char *out, size_t outlen);

/* What a start would refuse beyond the file itself, for msgd -t: the user
 * and group exist, every listen host resolves.  Apart from config_load
 * because name lookups may block, and a reload runs in the event loop.
 * Returns 0, or -1 with "FILE:LINE: what is wrong" in err. */
int config_check_system(const struct config *cfg, char *err, size_t errlen);

#endif
