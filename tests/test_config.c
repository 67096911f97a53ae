/* test_config.c: Check tests for config.c, run on files written into a
 * scratch directory.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, nftw */
#endif
#include "config.h"

#include <check.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/test_config.XXXXXX";
static char err[CONFIG_ERR_MAX];
static char path[512];

/* Write TEXT to dir/NAME; the full name is left in path. */
static const char *write_file(const char *name, const char *text)
{
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int load(struct config *cfg, const char *text)
{
    err[0] = '\0';
    return config_load(cfg, write_file("msgd.conf", text), err, sizeof err);
}

static void assert_defaults(const struct config *cfg)
{
    ck_assert_ptr_null(cfg->file);
    ck_assert_int_eq(cfg->n_listen, 1);
    ck_assert_str_eq(cfg->listen[0], "127.0.0.1:2004");
    ck_assert_ptr_null(cfg->listen[1]);
    ck_assert_int_eq(cfg->listen_line, 0);
    ck_assert_str_eq(cfg->admin_socket, "/run/msgd/admin.sock");
    ck_assert_uint_eq(cfg->admin_socket_mode, 0660);
    ck_assert_str_eq(cfg->pidfile, "/run/msgd/msgd.pid");
    ck_assert_str_eq(cfg->server_log, "/var/log/msgd/server.log");
    ck_assert_str_eq(cfg->client_log, "/var/log/msgd/client.log");
    ck_assert_int_eq(cfg->log_level, LOG_LVL_INFO);
    ck_assert_double_eq(cfg->idle_timeout, 300);
    ck_assert_int_eq(cfg->max_nodes, 10000);
    ck_assert_int_eq(cfg->max_message_size, 65536);
    ck_assert_int_eq(cfg->max_output_buffer, 8388608);
    ck_assert_int_eq(cfg->max_output_total, 0);
    ck_assert(cfg->write_deadline == 10);
    ck_assert_int_eq(cfg->max_unregistered_input, 4096);
    ck_assert_int_eq(cfg->max_input_total, 0);
    ck_assert_int_eq(cfg->duplicate_id, DUP_REJECT);
    ck_assert_ptr_null(cfg->user);
    ck_assert_ptr_null(cfg->group);
    ck_assert_int_eq(cfg->cluster.enabled, 0);
    ck_assert_int_eq(cfg->cluster.n_nats, 0);
    ck_assert_ptr_null(cfg->cluster.nats[0]);
    ck_assert_ptr_null(cfg->cluster.name);
    ck_assert_str_eq(cfg->cluster.prefix, "msgd");
    ck_assert_double_eq(cfg->cluster.id_hold, 30);
}

/* err must start with "FILE:LINE: " (or "FILE: " for line 0) and hold
 * WORD. */
static void assert_err(const char *file, int line, const char *word)
{
    char want[600];

    if (line)
        snprintf(want, sizeof want, "%s:%d: ", file, line);
    else
        snprintf(want, sizeof want, "%s: ", file);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
                  "error \"%s\" does not start with \"%s\"", err, want);
    ck_assert_msg(strstr(err + strlen(want), word) != NULL,
                  "error \"%s\" does not mention \"%s\"", err, word);
}

START_TEST(test_defaults)
{
    struct config cfg;

    config_defaults(&cfg);
    assert_defaults(&cfg);
    config_free(&cfg);
    config_free(&cfg); /* a freed struct is zeroed: freeing again is safe */
}
END_TEST

/* Under a unit with RuntimeDirectory= and LogsDirectory=, the files go
 * where systemd made the directories (for the service user of User=),
 * whoever msgd runs as. */
START_TEST(test_systemd_dirs)
{
    struct config cfg;

    setenv("RUNTIME_DIRECTORY", "/run/msgd-x", 1);
    setenv("LOGS_DIRECTORY", "/var/log/msgd-y:/var/log/other", 1);
    config_defaults(&cfg);
    ck_assert_str_eq(cfg.admin_socket, "/run/msgd-x/admin.sock");
    ck_assert_str_eq(cfg.pidfile, "/run/msgd-x/msgd.pid");
    ck_assert_str_eq(cfg.server_log, "/var/log/msgd-y/server.log");
    ck_assert_str_eq(cfg.client_log, "/var/log/msgd-y/client.log");
    config_free(&cfg);
    unsetenv("RUNTIME_DIRECTORY");
    unsetenv("LOGS_DIRECTORY");
}
END_TEST

static const char full_conf[] =
    "# every setting\n"
    "listen = [ \"127.0.0.1:2004\", \"[::1]:2005\", \"*:0\" ];\n"
    "admin_socket = \"/tmp/a.sock\";\n"
    "admin_socket_mode = \"600\";\n"
    "pidfile = \"/tmp/msgd.pid\";\n"
    "server_log = \"/tmp/server.log\";\n"
    "client_log = \"/tmp/client.log\";\n"
    "log_level = \"debug\";\n"
    "idle_timeout = 2.5;\n"
    "max_nodes = 16777216;\n"
    "max_message_size = 1073741824;\n"
    "max_output_buffer = 1099511627776L;\n"
    "duplicate_id = \"replace\";\n"
    "user = \"msgd\"; group = \"msgd\";\n"
    "cluster = {\n"
    "  nats = [ \"nats://10.0.0.1:4222\", \"nats://10.0.0.2:4222\" ];\n"
    "  name = \"host-2004\";\n"
    "  prefix = \"msgd_test-1\";\n"
    "  id_hold = 0.5;\n"
    "};\n";

START_TEST(test_full)
{
    struct config cfg;
    int rc;

    config_defaults(&cfg);
    rc = load(&cfg, full_conf);
#ifdef HAVE_NATS
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(cfg.file, path);
    ck_assert_int_eq(cfg.n_listen, 3);
    ck_assert_str_eq(cfg.listen[0], "127.0.0.1:2004");
    ck_assert_str_eq(cfg.listen[1], "[::1]:2005");
    ck_assert_str_eq(cfg.listen[2], "*:0");
    ck_assert_int_eq(cfg.listen_line, 2);
    ck_assert_str_eq(cfg.admin_socket, "/tmp/a.sock");
    ck_assert_uint_eq(cfg.admin_socket_mode, 0600);
    ck_assert_str_eq(cfg.pidfile, "/tmp/msgd.pid");
    ck_assert_str_eq(cfg.server_log, "/tmp/server.log");
    ck_assert_str_eq(cfg.client_log, "/tmp/client.log");
    ck_assert_int_eq(cfg.log_level, LOG_LVL_DEBUG);
    ck_assert_double_eq(cfg.idle_timeout, 2.5);
    ck_assert_int_eq(cfg.max_nodes, 16777216);
    ck_assert_int_eq(cfg.max_message_size, 1073741824);
    ck_assert_int_eq(cfg.max_output_buffer, 1099511627776LL);
    ck_assert_int_eq(cfg.duplicate_id, DUP_REPLACE);
    ck_assert_str_eq(cfg.user, "msgd");
    ck_assert_str_eq(cfg.group, "msgd");
    ck_assert_int_eq(cfg.cluster.enabled, 1);
    ck_assert_int_eq(cfg.cluster.n_nats, 2);
    ck_assert_str_eq(cfg.cluster.nats[0], "nats://10.0.0.1:4222");
    ck_assert_str_eq(cfg.cluster.nats[1], "nats://10.0.0.2:4222");
    ck_assert_str_eq(cfg.cluster.name, "host-2004");
    ck_assert_str_eq(cfg.cluster.prefix, "msgd_test-1");
    ck_assert_double_eq(cfg.cluster.id_hold, 0.5);
#else
    ck_assert_int_eq(rc, -1);
    assert_err(path, 15, "cluster support is not built");
    assert_defaults(&cfg);
#endif
    config_free(&cfg);
}
END_TEST

/* The full file without its cluster group, which every build accepts. */
START_TEST(test_full_no_cluster)
{
    struct config cfg;
    char text[sizeof full_conf];

    memcpy(text, full_conf, sizeof text);
    *strstr(text, "cluster = {") = '\0';
    config_defaults(&cfg);
    ck_assert_msg(load(&cfg, text) == 0, "%s", err);
    ck_assert_int_eq(cfg.n_listen, 3);
    ck_assert_int_eq(cfg.cluster.enabled, 0);
    ck_assert_int_eq(cfg.max_output_buffer, 1099511627776LL);
    ck_assert_str_eq(cfg.group, "msgd");
    config_free(&cfg);
}
END_TEST

#ifdef HAVE_NATS
START_TEST(test_cluster_defaults)
{
    struct config cfg;

    config_defaults(&cfg);
    ck_assert_msg(load(&cfg, "cluster = {};\n") == 0, "%s", err);
    ck_assert_int_eq(cfg.cluster.enabled, 1);
    ck_assert_int_eq(cfg.cluster.n_nats, 1);
    ck_assert_str_eq(cfg.cluster.nats[0], "nats://127.0.0.1:4222");
    ck_assert_ptr_null(cfg.cluster.name);
    ck_assert_str_eq(cfg.cluster.prefix, "msgd");
    ck_assert_double_eq(cfg.cluster.id_hold, 30);
    ck_assert_msg(load(&cfg, "cluster = { nats = \"nats://h:1\"; };\n") == 0,
                  "%s", err);
    ck_assert_int_eq(cfg.cluster.n_nats, 1);
    ck_assert_str_eq(cfg.cluster.nats[0], "nats://h:1");
    config_free(&cfg);
}
END_TEST

/* The credential files and cluster.tls's: relative paths are taken from
 * the config file's directory, absolute ones kept; a ca alone will do. */
START_TEST(test_cluster_creds)
{
    struct config cfg;
    char want[600];

    config_defaults(&cfg);
    ck_assert_msg(load(&cfg,
                       "cluster = {\n"
                       "  nats = [ \"tls://h:1\", \"nats://h:2\" ];\n"
                       "  user = \"msgd\";\n"
                       "  password_file = \"nats.pw\";\n"
                       "  tls = { ca = \"/etc/ca.crt\"; cert = \"c.crt\";\n"
                       "          key = \"sub/c.key\"; };\n"
                       "};\n") == 0,
                  "%s", err);
    ck_assert_str_eq(cfg.cluster.nats[0], "tls://h:1");
    ck_assert_str_eq(cfg.cluster.user, "msgd");
    snprintf(want, sizeof want, "%s/nats.pw", dir);
    ck_assert_str_eq(cfg.cluster.password_file, want);
    ck_assert_int_eq(cfg.cluster.tls.enabled, 1);
    ck_assert_str_eq(cfg.cluster.tls.ca, "/etc/ca.crt");
    snprintf(want, sizeof want, "%s/c.crt", dir);
    ck_assert_str_eq(cfg.cluster.tls.cert, want);
    snprintf(want, sizeof want, "%s/sub/c.key", dir);
    ck_assert_str_eq(cfg.cluster.tls.key, want);
    ck_assert_ptr_null(cfg.cluster.creds);
    ck_assert_ptr_null(cfg.cluster.token_file);

    ck_assert_msg(load(&cfg, "cluster = { token_file = \"tok\";\n"
                             "  tls = { ca = \"ca.crt\"; }; };\n") == 0,
                  "%s", err);
    snprintf(want, sizeof want, "%s/tok", dir);
    ck_assert_str_eq(cfg.cluster.token_file, want);
    ck_assert_ptr_null(cfg.cluster.tls.cert);
    ck_assert_ptr_null(cfg.cluster.user);
    ck_assert_msg(load(&cfg, "cluster = { creds = \"/x/msgd.creds\"; };\n") ==
                      0,
                  "%s", err);
    ck_assert_str_eq(cfg.cluster.creds, "/x/msgd.creds");
    ck_assert_int_eq(cfg.cluster.tls.enabled, 0);
    ck_assert_msg(load(&cfg, "cluster = { nkey_seed = \"u.nk\"; };\n") == 0,
                  "%s", err);
    snprintf(want, sizeof want, "%s/u.nk", dir);
    ck_assert_str_eq(cfg.cluster.nkey_seed, want);
    config_free(&cfg);
}
END_TEST
#endif

START_TEST(test_empty_file)
{
    struct config cfg;

    config_defaults(&cfg);
    ck_assert_msg(load(&cfg, "# nothing set\n") == 0, "%s", err);
    ck_assert_str_eq(cfg.file, path);
    free(cfg.file);
    cfg.file = NULL;
    assert_defaults(&cfg);
    config_free(&cfg);
}
END_TEST

START_TEST(test_listen_forms)
{
    struct config cfg;

    config_defaults(&cfg);
    ck_assert_msg(load(&cfg, "\n\nlisten = \"*:2004\";\n") == 0, "%s", err);
    ck_assert_int_eq(cfg.n_listen, 1);
    ck_assert_str_eq(cfg.listen[0], "*:2004");
    ck_assert_int_eq(cfg.listen_line, 3);

    ck_assert_msg(load(&cfg,
                       "listen = ( \"[::]:1\", \"localhost:2\",\n"
                       "  \"[fe80::1:2]:65535\", \"0.0.0.0:0\" );\n") == 0,
                  "%s", err);
    ck_assert_int_eq(cfg.n_listen, 4);
    ck_assert_str_eq(cfg.listen[0], "[::]:1");
    ck_assert_str_eq(cfg.listen[3], "0.0.0.0:0");
    ck_assert_ptr_null(cfg.listen[4]);
    ck_assert_int_eq(cfg.listen_line, 1);
    config_free(&cfg);
}
END_TEST

START_TEST(test_values)
{
    struct config cfg;

    config_defaults(&cfg);
    ck_assert_msg(load(&cfg, "admin_socket_mode = \"0777\";\n"
                             "log_level = \"warning\";\n"
                             "idle_timeout = 0;\n"
                             "max_message_size = 0;\n"
                             "max_output_buffer = 4096;\n") == 0,
                  "%s", err);
    ck_assert_uint_eq(cfg.admin_socket_mode, 0777);
    ck_assert_int_eq(cfg.log_level, LOG_LVL_WARN);
    ck_assert_double_eq(cfg.idle_timeout, 0);
    ck_assert_int_eq(cfg.max_message_size, 0);
    ck_assert_int_eq(cfg.max_output_buffer, 4096);

    ck_assert_msg(load(&cfg, "idle_timeout = 31536000L;\n"
                             "max_nodes = 0x10;\n"
                             "max_message_size = 65536;\n"
                             "max_output_buffer = 65792;\n"
                             "log_level = \"error\";\n") == 0,
                  "%s", err);
    ck_assert_double_eq(cfg.idle_timeout, 31536000);
    ck_assert_int_eq(cfg.max_nodes, 16);
    ck_assert_int_eq(cfg.max_output_buffer, 65792);
    ck_assert_int_eq(cfg.log_level, LOG_LVL_ERROR);
    /* The shortest idle_timeout: one millisecond. */
    ck_assert_msg(load(&cfg, "idle_timeout = 0.001;\n") == 0, "%s", err);
    ck_assert_double_eq(cfg.idle_timeout, 0.001);
    config_free(&cfg);
}
END_TEST

START_TEST(test_log_level_names)
{
    ck_assert_str_eq(config_log_level_name(LOG_LVL_ERROR), "error");
    ck_assert_str_eq(config_log_level_name(LOG_LVL_WARN), "warn");
    ck_assert_str_eq(config_log_level_name(LOG_LVL_INFO), "info");
    ck_assert_str_eq(config_log_level_name(LOG_LVL_DEBUG), "debug");
}
END_TEST

/* Each case: the file, the line the error must name, a word it must hold.
 * A first line that is fine makes sure lines are not just "1". */
static const struct bad {
    const char *text;
    int line;
    const char *word;
} bad[] = {
    {"log_level = \"debug\";\nlisen = \"x:1\";\n", 2,
     "unknown setting 'lisen'"},
    {"\nnats = \"nats://x\";\n", 2, "unknown setting 'nats'"},
    {"max_nodes = 5;\nmax_nodes = 6;\n", 2, "duplicate setting"},
    {"log_level = \"debug\";\nmax_nodes = ;\n", 2, "syntax error"},
    {"user = \"a\";\n\nlisten = 5;\n", 3, "list of strings"},
    {"user = \"a\";\nlisten = [];\n", 2, "between 1 and 16 entries"},
    {"user = \"a\";\nlisten = (\"a:1\",\n  5);\n", 2, "list of strings"},
    {"user = \"a\";\nlisten = { a = \"b:1\"; };\n", 2, "list of strings"},
    {"user = \"a\";\nlisten = [\"127.0.0.1\"];\n", 2, "\"127.0.0.1\""},
    {"user = \"a\";\nlisten = \"1.2.3.4:65536\";\n", 2,
     "'listen' entry \"1.2.3.4:65536\": port 65536 out of range (0-65535)"},
    {"user = \"a\";\nlisten = [\"h:1\", \"[::1]:70000\"];\n", 2,
     "port 70000 out of range (0-65535)"},
    {"log_level = \"debug\";\nidle_timout = 3;\n", 2,
     "unknown setting 'idle_timout' (did you mean 'idle_timeout'?)"},
    {"log_level = \"debug\";\nMax_Nodes = 3;\n", 2,
     "(did you mean 'max_nodes'?)"},
    {"log_level = \"debug\";\nclient-log = \"x\";\n", 2,
     "(did you mean 'client_log'?)"},
    {"user = \"a\";\nlisten = [\"::1:80\"];\n", 2, "host:port"},
    {"user = \"a\";\nlisten = [\"a:1\",\"a:2\",\"a:3\",\"a:4\",\"a:5\",\"a:6\","
     "\"a:7\",\"a:8\",\"a:9\",\"a:10\",\"a:11\",\"a:12\",\"a:13\",\"a:14\","
     "\"a:15\",\"a:16\",\"a:17\"];\n",
     2, "(got 17)"},
    {"user = \"a\";\nadmin_socket = 5;\n", 2,
     "'admin_socket' must be a string"},
    {"user = \"a\";\nadmin_socket = \"\";\n", 2, "must not be empty"},
    {"user = \"a\";\npidfile = true;\n", 2, "'pidfile' must be a string"},
    {"user = \"a\";\nserver_log = 1.0;\n", 2, "must be a string"},
    {"user = \"a\";\nclient_log = \"\";\n", 2, "must not be empty"},
    {"user = \"a\";\nadmin_socket_mode = 0660;\n", 2, "octal string"},
    {"user = \"a\";\nadmin_socket_mode = \"0999\";\n", 2, "octal digits"},
    {"user = \"a\";\nadmin_socket_mode = \"1777\";\n", 2, "at most 0777"},
    {"user = \"a\";\nadmin_socket_mode = \"66\";\n", 2, "octal digits"},
    {"user = \"a\";\nadmin_socket_mode = \"06600\";\n", 2, "octal digits"},
    {"user = \"a\";\nlog_level = \"verbose\";\n", 2,
     "error, warn, info or debug"},
    {"user = \"a\";\nlog_level = 3;\n", 2, "'log_level' must be a string"},
    {"user = \"a\";\nidle_timeout = \"300\";\n", 2, "must be a number"},
    {"user = \"a\";\nidle_timeout = true;\n", 2, "must be a number"},
    {"user = \"a\";\nidle_timeout = -1;\n", 2, "between 0 and 31536000"},
    {"user = \"a\";\nidle_timeout = 31536000.5;\n", 2, "between"},
    {"user = \"a\";\nidle_timeout = 1e999;\n", 2, "between"},
    {"user = \"a\";\nidle_timeout = 4294967596;\n", 2, "L suffix"},
    /* Under a millisecond would be announced as idle=0, "never". */
    {"user = \"a\";\nidle_timeout = 0.0004;\n", 2,
     "'idle_timeout' must be 0 or at least 0.001 seconds, a millisecond "
     "(got 0.0004)"},
    {"user = \"a\";\n\nidle_timeout = 0.000999;\n", 3, "at least 0.001"},
    {"user = \"a\";\nidle_timeout = 1e-300;\n", 2, "at least 0.001"},
    {"user = \"a\";\nmax_nodes = 1.5;\n", 2, "'max_nodes' must be an integer"},
    {"user = \"a\";\nmax_nodes = 0;\n", 2, "between 1 and 16777216 (got 0)"},
    {"user = \"a\";\nmax_nodes = 16777217;\n", 2, "between 1 and 16777216"},
    {"user = \"a\";\nmax_nodes = \"10\";\n", 2, "must be an integer"},
    {"user = \"a\";\nmax_message_size = -1;\n", 2, "(got -1)"},
    {"user = \"a\";\nmax_message_size = 1073741825;\n", 2, "between 0 and"},
    {"user = \"a\";\nmax_message_size = 2147483648;\n", 2, "L suffix"},
    {"user = \"a\";\nmax_output_buffer = 4095;\n", 2, "between 4096 and"},
    {"user = \"a\";\nmax_output_buffer = 1099511627777L;\n", 2, "between"},
    {"user = \"a\";\nmax_output_buffer = 5368709120;\n", 2, "L suffix"},
    {"user = \"a\";\nmax_output_buffer=0x100000000;\n", 2, "L suffix"},
    {"user = \"a\";\nmax_output_buffer = 1e6;\n", 2, "must be an integer"},
    {"max_output_buffer = 65791;\nuser = \"a\";\nmax_message_size = 65536;\n",
     1,
     "'max_output_buffer' (65791) must be at least max_message_size + 256 "
     "(65792)"},
    {"user = \"a\";\n\nmax_message_size = 8388608;\n", 3, "at least"},
    {"user = \"a\";\nduplicate_id = \"kick\";\n", 2, "reject or replace"},
    {"user = \"a\";\nduplicate_id = 1;\n", 2, "must be a string"},
    {"log_level = \"info\";\nuser = \"\";\n", 2, "'user' must not be empty"},
    {"log_level = \"info\";\ngroup = 0;\n", 2, "'group' must be a string"},
#ifdef HAVE_NATS
    {"user = \"a\";\ncluster = 5;\n", 2, "'cluster' must be a group"},
    {"user = \"a\";\ncluster = {\n  nats = \"tcp://x:1\";\n};\n", 3,
     "nats:// URL"},
    {"user = \"a\";\ncluster = {\n  nats = [ \"nats://\" ];\n};\n", 3,
     "nats:// URL"},
    {"user = \"a\";\ncluster = {\n  nats = [];\n};\n", 3, "entries"},
    {"user = \"a\";\ncluster = {\n  nats = 1;\n};\n", 3, "list of strings"},
    {"user = \"a\";\ncluster = {\n  name = \"\";\n};\n", 3,
     "'cluster.name' must not be empty"},
    {"user = \"a\";\ncluster = {\n  prefix = \"a.b\";\n};\n", 3,
     "'cluster.prefix' must be 1 to 32 of"},
    {"user = \"a\";\ncluster = {\n  prefix = \"\";\n};\n", 3,
     "'cluster.prefix' must not be empty"},
    {"user = \"a\";\ncluster = {\n  prefix = "
     "\"abcdefghijklmnopqrstuvwxyz0123456\";\n};\n",
     3, "'cluster.prefix' must be 1 to 32 of"},
    {"user = \"a\";\ncluster = {\n  id_hold = -1;\n};\n", 3,
     "'cluster.id_hold' must be between"},
    {"user = \"a\";\ncluster = {\n  id_hold = \"1\";\n};\n", 3,
     "must be a number"},
    {"user = \"a\";\ncluster = {\n  name = \"n\";\n  foo = 1;\n};\n", 4,
     "unknown setting 'cluster.foo'"},
    {"user = \"a\";\ncluster = {\n  prefx = \"p\";\n};\n", 3,
     "unknown setting 'cluster.prefx' (did you mean 'cluster.prefix'?)"},
    {"user = \"a\";\ncluster = {\n  creds = \"c\";\n  token_file = "
     "\"t\";\n};\n",
     4,
     "'cluster' takes one kind of NATS credential: creds, nkey_seed, "
     "token_file, or user with password_file (got creds and token_file)"},
    {"cluster = {\n  nkey_seed = \"s\";\n  password_file = \"p\";\n};\n", 3,
     "(got nkey_seed and user)"},
    {"cluster = {\n  user = \"msgd\";\n  nkey_seed = \"s\";\n};\n", 3,
     "(got nkey_seed and user)"},
    {"cluster = {\n  nats = \"nats://x:1\";\n  user = \"msgd\";\n};\n", 3,
     "'cluster.user' needs 'cluster.password_file'"},
    {"cluster = {\n\n  password_file = \"p\";\n};\n", 3,
     "'cluster.password_file' needs 'cluster.user'"},
    {"cluster = {\n  token_file = \"\";\n};\n", 2,
     "'cluster.token_file' must not be empty"},
    {"cluster = {\n  tls = {\n    cert = \"c.crt\";\n  };\n};\n", 2,
     "'cluster.tls' needs both cert and key, or neither"},
    {"cluster = {\n  tls = {\n    ca = \"ca.crt\";\n    key = \"k\";\n  "
     "};\n};\n",
     2, "'cluster.tls' needs both cert and key, or neither"},
    {"cluster = {\n  tls = \"yes\";\n};\n", 2, "'cluster.tls' must be a group"},
    {"cluster = {\n  tls = {\n    verify = true;\n  };\n};\n", 3,
     "unknown setting 'tls.verify'"},
    {"cluster = {\n  nats = \"tls://\";\n};\n", 2, "nats:// URL (or tls://)"},
#else
    {"user = \"a\";\n\ncluster = {\n  nats = \"nats://x:1\";\n};\n", 3,
     "cluster support is not built into this msgd (configure found no "
     "libnats)"},
    {"user = \"a\";\ncluster = {};\n", 2, "cluster support is not built"},
#endif
};

START_TEST(test_bad)
{
    struct config cfg;

    config_defaults(&cfg);
    ck_assert_msg(load(&cfg, "user = \"x\"; listen = \"h:1\";\n") == 0, "%s",
                  err);
    ck_assert_int_eq(load(&cfg, bad[_i].text), -1);
    assert_err(path, bad[_i].line, bad[_i].word);
    assert_defaults(&cfg);
    config_free(&cfg);
}
END_TEST

START_TEST(test_missing_file)
{
    struct config cfg;
    char missing[600];

    snprintf(missing, sizeof missing, "%s/nope.conf", dir);
    config_defaults(&cfg);
    ck_assert_int_eq(config_load(&cfg, missing, err, sizeof err), -1);
    assert_err(missing, 0, "No such file or directory");
    assert_defaults(&cfg);
    ck_assert_int_eq(config_load(&cfg, dir, err, sizeof err), -1);
    assert_err(dir, 0, "Is a directory");
    assert_defaults(&cfg);
    config_free(&cfg);
}
END_TEST

START_TEST(test_include)
{
    struct config cfg;
    char inc[600], text[800];

    snprintf(inc, sizeof inc, "%s",
             write_file("inc.conf", "# included\n\n"
                                    "max_nodes = 7;\n"
                                    "user = \"u\";\n"));
    snprintf(text, sizeof text, "log_level = \"debug\";\n@include \"%s\"\n",
             inc);
    config_defaults(&cfg);
    ck_assert_msg(load(&cfg, text) == 0, "%s", err);
    ck_assert_int_eq(cfg.max_nodes, 7);
    ck_assert_str_eq(cfg.user, "u");
    ck_assert_int_eq(cfg.log_level, LOG_LVL_DEBUG);

    /* A fault in the included file is reported against that file. */
    write_file("inc.conf", "# included\n\nmax_nodes = 0;\n");
    ck_assert_int_eq(load(&cfg, text), -1);
    assert_err(inc, 3, "max_nodes");
    write_file("inc.conf", "# included\nbogus = 1;\n");
    ck_assert_int_eq(load(&cfg, text), -1);
    assert_err(inc, 2, "unknown setting 'bogus'");
    write_file("inc.conf", "# included\nx = = 1;\n");
    ck_assert_int_eq(load(&cfg, text), -1);
    assert_err(inc, 2, "syntax error");

    /* A missing include is reported where it is included. */
    snprintf(text, sizeof text, "\n@include \"%s/gone.conf\"\n", dir);
    ck_assert_int_eq(load(&cfg, text), -1);
    assert_err(path, 2, "include");
    assert_defaults(&cfg);
    config_free(&cfg);
}
END_TEST

/* Loading over a loaded struct, good or bad, frees what it held. */
START_TEST(test_reload)
{
    struct config cfg;

    config_defaults(&cfg);
    ck_assert_msg(load(&cfg, "listen = [\"a:1\", \"b:2\"]; user = \"u\";\n"
                             "group = \"g\";\n") == 0,
                  "%s", err);
    ck_assert_msg(load(&cfg, "listen = \"c:3\"; pidfile = \"/p\";\n") == 0,
                  "%s", err);
    ck_assert_int_eq(cfg.n_listen, 1);
    ck_assert_str_eq(cfg.listen[0], "c:3");
    ck_assert_ptr_null(cfg.listen[1]);
    ck_assert_ptr_null(cfg.user);
    ck_assert_str_eq(cfg.pidfile, "/p");
    ck_assert_int_eq(load(&cfg, "listen = [\"d:4\", \"e\"];\n"), -1);
    assert_defaults(&cfg);
    config_free(&cfg);

    /* A zeroed struct may be loaded into too. */
    memset(&cfg, 0, sizeof cfg);
    ck_assert_msg(load(&cfg, "user = \"z\";\n") == 0, "%s", err);
    ck_assert_str_eq(cfg.user, "z");
    config_free(&cfg);
}
END_TEST

/* A short err buffer gets a truncated, terminated message. */
START_TEST(test_short_err)
{
    struct config cfg;
    char small[8];

    config_defaults(&cfg);
    ck_assert_int_eq(config_load(&cfg, write_file("msgd.conf", "max_nodes=0;"),
                                 small, sizeof small),
                     -1);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert_int_eq(config_load(&cfg, path, NULL, 0), -1);
    assert_defaults(&cfg);
    config_free(&cfg);
}
END_TEST

static const struct hostport {
    const char *in;
    const char *host; /* NULL: must be refused (-1, or port for a range) */
    unsigned port;
} hostports[] = {
    {"127.0.0.1:2004", "127.0.0.1", 2004},
    {"[::1]:2004", "::1", 2004},
    {"[::]:0", "::", 0},
    {"[fe80::1:2]:65535", "fe80::1:2", 65535},
    {"*:0", "*", 0},
    {"*:2004", "*", 2004},
    {"localhost:80", "localhost", 80},
    {"my-host.example.org:1", "my-host.example.org", 1},
    {"host:00080", "host", 80},
    {"1.2.3.4:99999", NULL, 1},
    {"1.2.3.4:65536", NULL, 1},
    {"1.2.3.4:4294967376", NULL, 1},
    {"[::1]:123456789012345678901234567890", NULL, 1},
    {"bad_host:70000", NULL, 0},
    {":80", NULL, 0},
    {"host", NULL, 0},
    {"host:", NULL, 0},
    {"host:+80", NULL, 0},
    {"host:-1", NULL, 0},
    {"host:80 ", NULL, 0},
    {"host:8o", NULL, 0},
    {"[::1]", NULL, 0},
    {"[::1]:", NULL, 0},
    {"[::1]80", NULL, 0},
    {"[]:80", NULL, 0},
    {"[1.2.3.4]:80", NULL, 0},
    {"[::1:80", NULL, 0},
    {"[*]:80", NULL, 0},
    {"::1:80", NULL, 0},
    {"::1", NULL, 0},
    {"ho_st:80", NULL, 0},
    {"ho st:80", NULL, 0},
    {"**:80", NULL, 0},
    {"", NULL, 0},
};

START_TEST(test_hostport)
{
    const struct hostport *t = &hostports[_i];
    char host[64];
    unsigned port = 12345;
    int rc = config_parse_hostport(t->in, host, sizeof host, &port);

    if (!t->host) {
        ck_assert_msg(rc == (t->port ? CONFIG_PORT_RANGE : -1),
                      "\"%s\": got %d", t->in, rc);
        return;
    }
    ck_assert_msg(rc == 0, "\"%s\" was refused", t->in);
    ck_assert_str_eq(host, t->host);
    ck_assert_uint_eq(port, t->port);
}
END_TEST

/* A name far from every setting gets no guess. */
START_TEST(test_no_far_hint)
{
    struct config cfg;
    const char *far[] = {"timeout = 1;\n", "user_name = \"x\";\n", "ab = 1;\n"};

    config_defaults(&cfg);
    for (size_t i = 0; i < sizeof far / sizeof *far; i++) {
        ck_assert_int_eq(load(&cfg, far[i]), -1);
        ck_assert_msg(strstr(err, "unknown setting") && !strstr(err, "mean"),
                      "%s", err);
    }
    config_free(&cfg);
}
END_TEST

/* What msgd -t asks the system, named at the setting's line. */
START_TEST(test_check_system)
{
    struct config cfg;

    config_defaults(&cfg);
    ck_assert_int_eq(config_check_system(&cfg, err, sizeof err), 0);
    ck_assert_int_eq(load(&cfg, "listen = [\"*:1\", \"127.0.0.1:2\"];\n"
                                "user = \"root\";\ngroup = \"root\";\n"),
                     0);
    ck_assert_msg(config_check_system(&cfg, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(
        load(&cfg, "log_level = \"info\";\nuser = \"no-such-user-q7\";\n"), 0);
    ck_assert_int_eq(config_check_system(&cfg, err, sizeof err), -1);
    assert_err(path, 2, "'user' \"no-such-user-q7\": no such user");
    ck_assert_int_eq(load(&cfg, "\n\ngroup = \"no-such-group-q7\";\n"), 0);
    ck_assert_int_eq(config_check_system(&cfg, err, sizeof err), -1);
    assert_err(path, 3, "no such group");
    ck_assert_int_eq(
        load(&cfg,
             "\nlisten = [\"127.0.0.1:1\", \"no-such-host.invalid:1\"];\n"),
        0);
    ck_assert_int_eq(config_check_system(&cfg, err, sizeof err), -1);
    assert_err(path, 2,
               "'listen' entry \"no-such-host.invalid:1\": host "
               "no-such-host.invalid: ");
    config_free(&cfg);
}
END_TEST

START_TEST(test_hostport_hostlen)
{
    char host[4];
    unsigned port;

    ck_assert_int_eq(config_parse_hostport("abc:1", host, sizeof host, &port),
                     0);
    ck_assert_str_eq(host, "abc");
    ck_assert_int_eq(config_parse_hostport("abcd:1", host, sizeof host, &port),
                     -1);
    ck_assert_int_eq(config_parse_hostport(NULL, host, sizeof host, &port), -1);
}
END_TEST

static int remove_entry(const char *p, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    SRunner *sr;
    int failed;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_systemd_dirs);
    tcase_add_test(tc, test_full);
    tcase_add_test(tc, test_full_no_cluster);
#ifdef HAVE_NATS
    tcase_add_test(tc, test_cluster_defaults);
    tcase_add_test(tc, test_cluster_creds);
#endif
    tcase_add_test(tc, test_empty_file);
    tcase_add_test(tc, test_listen_forms);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_log_level_names);
    tcase_add_loop_test(tc, test_bad, 0, sizeof bad / sizeof bad[0]);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_include);
    tcase_add_test(tc, test_reload);
    tcase_add_test(tc, test_short_err);
    tcase_add_loop_test(tc, test_hostport, 0,
                        sizeof hostports / sizeof hostports[0]);
    tcase_add_test(tc, test_hostport_hostlen);
    tcase_add_test(tc, test_no_far_hint);
    tcase_add_test(tc, test_check_system);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
