/* test_msgctl.c: integration tests of the admin socket and msgctl
 * (msgctl(8)): every command in both output forms, every exit code, the
 * socket's mode, stale and live sockets, the admin log event, access from
 * another uid, silent admin clients, list with 2,000 nodes while
 * messages flow, and the cluster commands of a msgd not in a cluster.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <check.h>
#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct msgd_proc d;
static char out[1 << 22];

/* msgctl -s <socket> args...; returns the exit status, output in out. */
static int ctl(const char *a1, const char *a2, const char *a3, const char *a4)
{
    const char *argv[] = {msgctl_path(), "-s", d.admin_socket, a1, a2, a3, a4,
                          NULL};
    return prog_run(argv, out, sizeof out);
}

static json_t *ctl_json(const char *cmd, const char *a1, const char *a2)
{
    const char *argv[] = {
        msgctl_path(), "-s", d.admin_socket, "--json", cmd, a1, a2, NULL};
    int rc = prog_run(argv, out, sizeof out);
    ck_assert_msg(rc == 0, "msgctl %s: exit %d: %s", cmd, rc, out);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    return j;
}

static void set_path(struct sockaddr_un *sa, const char *path)
{
    size_t n = strlen(path);
    ck_assert_uint_lt(n, sizeof sa->sun_path);
    memcpy(sa->sun_path, path, n + 1);
}

static void start(const char *extra)
{
    msgd_start(&d, extra);
}

START_TEST(list_json_and_table)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "alpha");
    struct tc *b = tc_hello(d.port, "beta");
    tc_sendf(a, "SEND beta 5\nhello\n");
    tc_expect_msg(b, "alpha", "beta", "hello", 5);
    json_t *j = ctl_json("list", NULL, NULL);
    ck_assert_int_eq((int)json_array_size(j), 2);
    json_t *r = json_array_get(j, 0);
    static const char *keys[] = {"id",       "addr",     "connected_s",
                                 "idle_s",   "msgs_in",  "msgs_out",
                                 "bytes_in", "bytes_out"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        ck_assert_msg(json_object_get(r, keys[i]), "no key %s", keys[i]);
    ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "alpha");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "msgs_in")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "bytes_in")), 5);
    r = json_array_get(j, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "msgs_out")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "bytes_out")), 5);
    json_decref(j);

    ck_assert_int_eq(ctl("list", NULL, NULL, NULL), 0);
    ck_assert(strncmp(out, "ID ", 3) == 0);
    ck_assert(strstr(out, "\nalpha  127.0.0.1:"));
    ck_assert(strstr(out, "\nbeta   127.0.0.1:")); /* aligned */
    tc_close(a);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(list_filters_and_sort)
{
    start(NULL);
    struct tc *n[4];
    const char *ids[] = {"web-2", "web-1", "db-1", "web-3"};
    for (int i = 0; i < 4; i++)
        n[i] = tc_hello(d.port, ids[i]);
    json_t *j = ctl_json("list", "--prefix", "web-");
    ck_assert_int_eq((int)json_array_size(j), 3);
    json_decref(j);
    const char *argv[] = {msgctl_path(), "-s", d.admin_socket, "--json", "list",
                          "--sort",      "id", "--limit",      "2",      NULL};
    ck_assert_int_eq(prog_run(argv, out, sizeof out), 0);
    j = json_loads(out, 0, NULL);
    ck_assert_int_eq((int)json_array_size(j), 2);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(j, 0), "id")), "db-1");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(j, 1), "id")),
        "web-1");
    json_decref(j);
    j = ctl_json("list", "--addr", "127.0.0.1");
    ck_assert_int_eq((int)json_array_size(j), 4);
    json_decref(j);
    j = ctl_json("list", "--addr", "10.9.9.9");
    ck_assert_int_eq((int)json_array_size(j), 0);
    json_decref(j);
    for (int i = 0; i < 4; i++)
        tc_close(n[i]);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(kick_and_closed_ring)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    ck_assert_int_eq(ctl("kick", "a", "maintenance", "window"), 0);
    ck_assert_str_eq(out, "kicked a\n");
    tc_expect(a, "BYE kicked maintenance window");
    ck_assert(tc_eof(a, 5000));
    ck_assert(log_wait(d.client_log, "disconnect", "reason", "kicked", 5000));
    /* The reason is in the node's disconnect line and the audit line. */
    ck_assert(
        log_wait(d.client_log, "disconnect", "text", "maintenance window", 0));
    ck_assert(
        log_wait(d.server_log, "admin", "text", "maintenance window", 5000));
    /* no such node: exit 1 and the words */
    ck_assert_int_eq(ctl("kick", "a", NULL, NULL), 1);
    ck_assert(strstr(out, "no such node"));
    /* by an address no node has: said as an address */
    ck_assert_int_eq(ctl("kick", "--addr", "192.0.2.7", NULL), 1);
    ck_assert_str_eq(out, "msgctl: no node at 192.0.2.7\n");
    /* by address */
    const char *argv[] = {msgctl_path(), "-s", d.admin_socket, "kick", "--addr",
                          "127.0.0.1",   NULL};
    ck_assert_int_eq(prog_run(argv, out, sizeof out), 0);
    tc_expect(b, "BYE kicked");
    json_t *j = ctl_json("list", "--closed", NULL);
    ck_assert_int_ge((int)json_array_size(j), 2);
    json_t *r = json_array_get(j, 1); /* newest first: a before b */
    ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "a");
    ck_assert_str_eq(json_string_value(json_object_get(r, "reason")), "kicked");
    json_decref(j);
    j = ctl_json("stats", NULL, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "kicks")), 2);
    json_decref(j);
    tc_close(a);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(stats_keys_and_counts)
{
    start("max_message_size = 100;");
    struct tc *a = tc_hello(d.port, "a");
    struct tc *b = tc_hello(d.port, "b");
    struct tc *c = tc_hello(d.port, "c");
    tc_sendf(a, "SEND b 3\nxyz\nBCAST 4\n1234\nSEND q 1\nz\n");
    tc_expect_msg(b, "a", "b", "xyz", 3);
    tc_expect(a, "ERR unknown-node q");
    tc_sync(a);
    struct tc *dup = tc_open(d.port);
    tc_sendf(dup, "HELLO a\n");
    tc_expect(dup, "ERR id-taken a");
    tc_expect_msg(c, "a", "*", "1234", 4);
    tc_sendf(c, "SEND a 1000\n");
    tc_expect(c, "ERR too-large");
    json_t *j = ctl_json("stats", NULL, NULL);
    static const char *keys[] = {
        "uptime_s",    "nodes",           "nodes_peak",    "connections_total",
        "msgs_routed", "bytes_routed",    "evictions",     "kicks",
        "rejects",     "protocol_errors", "slow_consumers"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        ck_assert_msg(json_object_get(j, keys[i]), "no key %s", keys[i]);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "msgs_routed")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "bytes_routed")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "nodes")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "nodes_peak")), 3);
    ck_assert_int_eq(
        json_integer_value(json_object_get(j, "connections_total")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "rejects")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "protocol_errors")),
                     1);
    json_decref(j);
    ck_assert_int_eq(ctl("stats", NULL, NULL, NULL), 0);
    ck_assert(strstr(out, "msgs_routed: 2\n"));
    ck_assert(strstr(out, "nodes: 2\n"));
    tc_close(a);
    tc_close(b);
    tc_close(c);
    tc_close(dup);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(reload_and_reopen)
{
    start("idle_timeout = 42;");
    ck_assert_int_eq(ctl("reload", NULL, NULL, NULL), 0);
    ck_assert(strstr(out, "reloaded"));
    ck_assert_msg(!strstr(out, "warning"), "%s", out);
    /* A change that needs a restart: done, and said to the operator. */
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "sed -i 's/\"127.0.0.1:0\" ]/\"127.0.0.1:0\", \"127.0.0.2:0\" ]/' %s",
             d.conf);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(ctl("reload", NULL, NULL, NULL), 0);
    ck_assert_msg(strstr(out, "reloaded") &&
                      strstr(out, "msgctl: warning: listen changed; restart "
                                  "msgd to apply it"),
                  "%s", out);
    FILE *f = fopen(d.conf, "a");
    fprintf(f, "max_nodes = \"x\";\n");
    fclose(f);
    ck_assert_int_eq(ctl("reload", NULL, NULL, NULL), 1);
    char want[400];
    snprintf(want, sizeof want, "%s:", d.conf);
    ck_assert_msg(strstr(out, want) && strstr(out, "max_nodes"), "got %s", out);
    ck_assert_int_eq(ctl("reopen-logs", NULL, NULL, NULL), 0);
    ck_assert(log_wait(d.server_log, "log-reopen", "result", "ok", 5000));
    ck_assert(log_wait(d.server_log, "admin", "outcome", "config-error", 0));
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(exit_codes)
{
    start(NULL);
    ck_assert_int_eq(ctl(NULL, NULL, NULL, NULL), 64);
    ck_assert_int_eq(ctl("frobnicate", NULL, NULL, NULL), 64);
    ck_assert_int_eq(ctl("kick", NULL, NULL, NULL), 64);
    ck_assert_int_eq(ctl("stats", "extra", NULL, NULL), 64);
    ck_assert_int_eq(ctl("list", "--bogus", NULL, NULL), 64);
    /* One line that starts with the program's name, and a hint. */
    ck_assert_str_eq(out, "msgctl: list: unknown option '--bogus'\n"
                          "try 'msgctl --help'\n");
    const char *bad[] = {msgctl_path(), "--bogus", "stats", NULL};
    ck_assert_int_eq(prog_run(bad, out, sizeof out), 64);
    ck_assert_str_eq(out, "msgctl: unknown option '--bogus'\n"
                          "try 'msgctl --help'\n");
    /* Global options after the command, as most tools allow. */
    const char *after[] = {msgctl_path(), "stats", "--json", "-s",
                           d.admin_socket, NULL};
    ck_assert_int_eq(prog_run(after, out, sizeof out), 0);
    ck_assert(out[0] == '{' && strstr(out, "\"uptime_s\""));
    const char *gone[] = {msgctl_path(), "-s", "/nonexistent/admin.sock",
                          "stats", NULL};
    ck_assert_int_eq(prog_run(gone, out, sizeof out), 69);
    ck_assert(strstr(out, "/nonexistent/admin.sock"));
    ck_assert(strstr(out, "No such file or directory"));
    /* -s naming a file that is not a socket says so */
    const char *notsock[] = {msgctl_path(), "-s", d.conf, "stats", NULL};
    ck_assert_int_eq(prog_run(notsock, out, sizeof out), 69);
    ck_assert_msg(strstr(out, ": not a socket"), "%s", out);
    ck_assert_int_eq(msgd_stop(&d), 0);
    /* The daemon is gone: its socket was removed. */
    ck_assert_int_eq(ctl("stats", NULL, NULL, NULL), 69);
    ck_assert(strstr(out, d.admin_socket));
}
END_TEST

/* The cluster commands on a msgd that is not in a cluster, and what stays
 * as it was there: no "instance" in list rows, no cluster_* stats keys. */
START_TEST(cluster_commands_without_cluster)
{
    start("log_level = \"debug\";"); /* read-only admin lines are debug */
    struct tc *a = tc_hello(d.port, "alpha");
    ck_assert_int_eq(ctl("list", "--cluster", NULL, NULL), 1);
    ck_assert_msg(
        strstr(out, "msgctl: cluster: this msgd is not in a cluster\n"),
        "got %s", out);
    ck_assert_int_eq(ctl("cluster", NULL, NULL, NULL), 1);
    ck_assert_msg(strstr(out, "this msgd is not in a cluster"), "got %s", out);
    ck_assert(log_wait(d.server_log, "admin", "outcome", "no-cluster", 5000));
    const char *argv[] = {msgctl_path(), "-s",      d.admin_socket,
                          "--json",      "cluster", NULL};
    ck_assert_int_eq(prog_run(argv, out, sizeof out), 1);
    ck_assert(strchr(out, '[') == NULL); /* errors are never JSON */
    ck_assert_int_eq(ctl("cluster", "extra", NULL, NULL), 64);
    ck_assert_int_eq(ctl("list", "--closed", "--cluster", NULL), 64);

    json_t *j = ctl_json("list", NULL, NULL);
    ck_assert_int_eq((int)json_array_size(j), 1);
    ck_assert(json_object_get(json_array_get(j, 0), "instance") == NULL);
    json_decref(j);
    j = ctl_json("stats", NULL, NULL);
    const char *key;
    json_t *val;
    json_object_foreach(j, key, val)
    {
        ck_assert_msg(strncmp(key, "cluster_", 8) != 0, "key %s", key);
    }
    json_decref(j);
    ck_assert_int_eq(ctl("stats", NULL, NULL, NULL), 0);
    ck_assert(strstr(out, "cluster") == NULL);
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* An option given again replaces its value, however often: the request
 * has room for each key once. */
START_TEST(list_options_repeated)
{
    start(NULL);
    struct tc *a = tc_hello(d.port, "alpha");
    struct tc *b = tc_hello(d.port, "beta");
    const char *argv[32] = {msgctl_path(), "-s", d.admin_socket, "--json",
                            "list"};
    int n = 5;
    for (int i = 0; i < 12; i++) {
        argv[n++] = "--prefix";
        argv[n++] = i < 11 ? "alpha" : "beta";
    }
    argv[n] = NULL;
    ck_assert_int_eq(prog_run(argv, out, sizeof out), 0);
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    ck_assert_int_eq((int)json_array_size(j), 1);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(j, 0), "id")), "beta");
    json_decref(j);
    tc_close(a);
    tc_close(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(socket_mode_whatever_umask)
{
    mode_t old = umask(0); /* msgd inherits the loosest umask */
    start("admin_socket_mode = \"0600\";");
    umask(old);
    struct stat st;
    ck_assert_int_eq(stat(d.admin_socket, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(msgd_stop(&d), 0);
    old = umask(077);
    start(NULL); /* default 0660, also under a tight umask */
    umask(old);
    ck_assert_int_eq(stat(d.admin_socket, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0660);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(stale_socket_replaced_live_refused)
{
    msgd_write_conf(&d, NULL);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/run", d.dir);
    mkdir(dir, 0755);
    /* A crashed daemon's socket: bound, nobody listening. */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    set_path(&sa, d.admin_socket);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    close(s);
    char launcher[4096];
    int rc = msgd_start_daemon(&d, launcher, sizeof launcher);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, launcher);
    ck_assert_int_eq(ctl("stats", NULL, NULL, NULL), 0);
    /* A second msgd with its own pidfile but the same socket: refused. */
    char conf2[400];
    snprintf(conf2, sizeof conf2, "%s/second.conf", d.dir);
    FILE *f = fopen(conf2, "w");
    fprintf(f,
            "listen = [\"127.0.0.1:0\"];\nadmin_socket = \"%s\";\n"
            "pidfile = \"%s/p2.pid\";\nserver_log = \"%s/s2.log\";\n"
            "client_log = \"%s/c2.log\";\n",
            d.admin_socket, d.dir, d.dir, d.dir);
    fclose(f);
    const char *argv[] = {"msgd", "-c", conf2, NULL};
    ck_assert_int_eq(msgd_run(argv, launcher, sizeof launcher), 1);
    ck_assert_msg(strstr(launcher, "another msgd answers"), "%s", launcher);
    ck_assert_int_eq(ctl("stats", NULL, NULL, NULL), 0); /* still ours */
    ck_assert_int_eq(msgd_stop(&d), 0);
    ck_assert_int_ne(access(d.admin_socket, F_OK), 0);
}
END_TEST

/* What changes something is logged at info (and whatever log_level says);
 * what only reads, polled by a monitor, at debug. */
START_TEST(admin_event_logged)
{
    start(NULL);
    ck_assert_int_eq(ctl("stats", NULL, NULL, NULL), 0);
    ck_assert_int_eq(ctl("list", NULL, NULL, NULL), 0);
    ck_assert_int_eq(ctl("kick", "nobody", NULL, NULL), 1);
    ck_assert(log_wait(d.server_log, "admin", "outcome", "not-found", 5000));
    ck_assert(log_wait(d.server_log, "admin", "command", "kick", 0));
    ck_assert(file_contains(d.server_log, "\"uid\":"));
    ck_assert(file_contains(d.server_log, "\"pid\":"));
    /* Lines are written in order: stats and list came before the kick. */
    ck_assert_int_eq(log_count(d.server_log, "admin", "command", "stats"), 0);
    ck_assert_int_eq(log_count(d.server_log, "admin", "command", "list"), 0);

    /* At debug they are there, at level debug. */
    FILE *f = fopen(d.conf, "a");
    ck_assert_ptr_nonnull(f);
    fputs("log_level = \"debug\";\n", f);
    fclose(f);
    ck_assert_int_eq(ctl("reload", NULL, NULL, NULL), 0);
    ck_assert(log_wait(d.server_log, "admin", "command", "reload", 5000));
    ck_assert_int_eq(ctl("stats", NULL, NULL, NULL), 0);
    ck_assert(log_wait(d.server_log, "admin", "command", "stats", 5000));
    ck_assert(log_wait(d.server_log, "admin", "level", "debug", 0));
    ck_assert_int_eq(log_count(d.server_log, "admin", "level", "debug"), 1);
    /* And a mutating command stays in the audit trail at level warn. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sed -i 's/\"debug\"/\"warn\"/' %s", d.conf);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(ctl("reload", NULL, NULL, NULL), 0);
    ck_assert_int_eq(ctl("reopen-logs", NULL, NULL, NULL), 0);
    ck_assert(log_wait(d.server_log, "admin", "command", "reopen-logs", 5000));
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(other_uid_reads_but_cannot_change)
{
    if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0)
        return; /* needs root to become someone else */
    start("admin_socket_mode = \"0666\";");
    chmod(d.dir, 0755);
    char run[400];
    snprintf(run, sizeof run, "%s/run", d.dir);
    chmod(run, 0755);
    struct tc *a = tc_hello(d.port, "a");
    const char *as_nobody[] = {
        "setpriv",        "--reuid=65534", "--regid=65534",
        "--clear-groups", msgctl_path(),   "-s",
        d.admin_socket,   "list",          NULL};
    ck_assert_int_eq(prog_run(as_nobody, out, sizeof out), 0);
    ck_assert(strstr(out, "\na "));
    const char *kick[] = {"setpriv",
                          "--reuid=65534",
                          "--regid=65534",
                          "--clear-groups",
                          msgctl_path(),
                          "-s",
                          d.admin_socket,
                          "kick",
                          "a",
                          NULL};
    ck_assert_int_eq(prog_run(kick, out, sizeof out), 77);
    ck_assert(strstr(out, "permission denied"));
    const char *reload[] = {"setpriv",        "--reuid=65534", "--regid=65534",
                            "--clear-groups", msgctl_path(),   "-s",
                            d.admin_socket,   "reload",        NULL};
    ck_assert_int_eq(prog_run(reload, out, sizeof out), 77);
    ck_assert(
        log_wait(d.server_log, "admin", "outcome", "permission-denied", 5000));
    tc_sync(a); /* a was not kicked */
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

static int admin_connect(void)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    set_path(&sa, d.admin_socket);
    ck_assert_int_eq(connect(s, (struct sockaddr *)&sa, sizeof sa), 0);
    return s;
}

/* One local user allowed to reach the socket holds as many admin
 * connections as it can: root (and the daemon's uid) still get in. */
START_TEST(admin_slots_kept_for_root)
{
    if (geteuid() != 0)
        return; /* needs root to become someone else */
    start("admin_socket_mode = \"0666\";");
    chmod(d.dir, 0755);
    char run[400];
    snprintf(run, sizeof run, "%s/run", d.dir);
    chmod(run, 0755);
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t hog = fork();
    ck_assert_int_ge(hog, 0);
    if (hog == 0) {
        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            _exit(1);
        int s[100];
        for (int i = 0; i < 100; i++) {
            s[i] = socket(AF_UNIX, SOCK_STREAM, 0);
            struct sockaddr_un sa = {.sun_family = AF_UNIX};
            set_path(&sa, d.admin_socket);
            (void)!connect(s[i], (struct sockaddr *)&sa, sizeof sa);
        }
        (void)!write(ready[1], "x", 1);
        pause(); /* holds them until killed */
        _exit(0);
    }
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    /* msgd has taken what it allows nobody, and turned the rest away. */
    ck_assert(log_wait(d.server_log, "admin", "outcome", "busy", 5000));
    ck_assert_int_eq(ctl("stats", NULL, NULL, NULL), 0);
    ck_assert(strstr(out, "uptime"));
    /* nobody's own msgctl finds nobody's share used up. */
    const char *as_nobody[] = {
        "setpriv",        "--reuid=65534", "--regid=65534",
        "--clear-groups", msgctl_path(),   "-s",
        d.admin_socket,   "stats",         NULL};
    ck_assert_int_ne(prog_run(as_nobody, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "too many admin connections"), "%s", out);
    kill(hog, SIGKILL);
    waitpid(hog, NULL, 0);
    close(ready[0]);
    close(ready[1]);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(silent_admin_clients)
{
    start(NULL);
    int s[20];
    for (int i = 0; i < 20; i++)
        s[i] = admin_connect();
    /* Twenty silent ones do not stall anyone. */
    struct tc *a = tc_hello(d.port, "a");
    ck_assert_int_eq(ctl("stats", NULL, NULL, NULL), 0);
    /* and each is timed out with a reason */
    char buf[512];
    struct timeval tv = {10, 0};
    setsockopt(s[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = read(s[0], buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_msg(strstr(buf, "\"code\":\"timeout\""), "%s", buf);
    ck_assert_int_eq(read(s[0], buf, sizeof buf), 0);
    for (int i = 0; i < 20; i++)
        close(s[i]);
    /* garbage gets a clear refusal */
    int g = admin_connect();
    ck_assert_int_gt(write(g, "GET / HTTP/1.0\n", 15), 0);
    n = read(g, buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert(strstr(buf, "\"ok\":false"));
    close(g);
    tc_sync(a);
    tc_close(a);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(list_2000_nodes_while_traffic_flows)
{
    enum { N = 2000 };
    start("max_nodes = 10000;");
    static struct tc *n[N];
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "n%d", i);
        n[i] = tc_open(d.port);
        tc_sendf(n[i], "HELLO %s\n", id);
    }
    for (int i = 0; i < N; i++) {
        const char *l = tc_line(n[i], 10000);
        ck_assert_ptr_nonnull(l);
        ck_assert(strncmp(l, "OK n", 4) == 0);
    }
    struct tc *src = tc_hello(d.port, "src");
    struct tc *dst = tc_hello(d.port, "dst");
    pid_t flood = fork();
    if (flood == 0) { /* messages flow while list runs */
        for (int i = 0; i < 20000; i++)
            tc_sendf(src, "SEND dst 4\n%04d\n", i % 10000);
        tc_sendf(src, "PING end\n");
        _exit(0);
    }
    for (int k = 0; k < 3; k++) {
        json_t *j = ctl_json("list", NULL, NULL);
        ck_assert_int_eq((int)json_array_size(j), N + 2);
        json_decref(j);
    }
    for (int i = 0; i < 20000; i++) {
        char p[16];
        snprintf(p, sizeof p, "%04d", i % 10000);
        tc_expect_msg(dst, "src", "dst", p, 4);
    }
    int st;
    waitpid(flood, &st, 0);
    tc_expect(src, "PONG end");
    for (int i = 0; i < N; i++)
        tc_close(n[i]);
    tc_close(src);
    tc_close(dst);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* Answers one request on a socket of its own with reply, as a daemon of
 * another version (or a compromised one) could; returns the socket path. */
static pid_t fake_daemon(char *path, size_t size, const char *reply)
{
    snprintf(path, size, "/tmp/msgctl-fake-%d.sock", (int)getpid());
    unlink(path);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    set_path(&sa, path);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(s, 1), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int c = accept(s, NULL, NULL);
        char line[4096];
        ssize_t n = 0, k;
        while ((k = read(c, line + n, sizeof line - 1 - (size_t)n)) > 0) {
            n += k;
            if (memchr(line, '\n', (size_t)n))
                break;
        }
        if (write(c, reply, strlen(reply)) < 0)
            _exit(1);
        close(c);
        _exit(0);
    }
    close(s);
    return pid;
}

/* Every text cell of a table is shown with its control characters
 * escaped: an instance name or id with terminal escapes never reaches the
 * terminal raw. */
START_TEST(table_cells_escaped)
{
    static const struct {
        const char *cmd, *arg, *reply, *want;
    } cases[] = {
        {"cluster", NULL,
         "{\"version\":1,\"ok\":true,\"result\":[{\"name\":"
         "\"ev\\u001b[2Jil\\r\",\"incarnation\":\"00000000000000aa\","
         "\"state\":\"up\",\"self\":false,\"nodes\":1,"
         "\"last_seen_s\":0.5}]}\n",
         "ev\\x1b[2Jil\\x0d"},
        {"list", "--cluster",
         "{\"version\":1,\"ok\":true,\"result\":[{\"id\":\"a\\u0007b\","
         "\"instance\":\"c\\u009b31m\\\\\",\"addr\":null}]}\n",
         "a\\x07b  c\\xc2\\x9b31m\\\\"}, /* C1 CSI, backslash */
        {"stats", NULL,
         "{\"version\":1,\"ok\":true,\"result\":{\"cluster_instance\":"
         "\"x\\u007fy\"}}\n",
         "instance: x\\x7fy"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[108];
        pid_t pid = fake_daemon(path, sizeof path, cases[i].reply);
        const char *argv[] = {msgctl_path(), "-s",         path,
                              cases[i].cmd,  cases[i].arg, NULL};
        int rc = prog_run(argv, out, sizeof out);
        waitpid(pid, NULL, 0);
        unlink(path);
        ck_assert_msg(rc == 0, "%s: exit %d: %s", cases[i].cmd, rc, out);
        ck_assert_msg(strstr(out, cases[i].want), "%s: %s", cases[i].cmd, out);
        for (const unsigned char *p = (const unsigned char *)out; *p; p++)
            ck_assert_msg(*p == '\n' ||
                              (*p >= 0x20 && *p != 0x7f &&
                               !(p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)),
                          "%s: raw control byte in: %s", cases[i].cmd, out);
    }
}
END_TEST

int main(void)
{
    const TTest *const tests[] = {
        list_json_and_table,
        list_filters_and_sort,
        kick_and_closed_ring,
        stats_keys_and_counts,
        reload_and_reopen,
        exit_codes,
        socket_mode_whatever_umask,
        stale_socket_replaced_live_refused,
        admin_event_logged,
        other_uid_reads_but_cannot_change,
        admin_slots_kept_for_root,
        silent_admin_clients,
        list_2000_nodes_while_traffic_flows,
        cluster_commands_without_cluster,
        list_options_repeated,
        table_cells_escaped,
    };
    return run_suite("msgctl", tests, sizeof tests / sizeof *tests);
}
