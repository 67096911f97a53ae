/* test_cluster.c: integration tests of a cluster of msgd instances over
 * NATS.  Each test starts its own nats-server with JetStream on a free
 * loopback port, and two or three real msgd; it checks cross-instance
 * SEND, BCAST and WHO, one id namespace (reject and replace), kick and
 * list across instances, msgsim over two instances, NATS stopped and
 * restarted under a running cluster, an instance killed with SIGKILL, one
 * paused with SIGSTOP until its ids were freed, the id bucket deleted
 * under a running cluster, and forged messages, kicks and heartbeats
 * (with the loop's CPU for 100,000 of them) published on the cluster's
 * subjects by a raw NATS client.  The secured link: mutual TLS, the
 * account permissions of msgd(8) against an intruder in the same
 * account, token and NKey credentials, and unreadable credential files.
 * Skipped (exit 77) when msgd was built without NATS or no nats-server is
 * installed.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_NATS
#include <nats/nats.h>
#endif

#include "harness.h"

static char out[1 << 20];

/* ---- nats-server ---- */

struct nats_proc {
    pid_t pid;
    int port;
    char dir[256];
    const char *conf; /* NULL: command-line options; else config lines
                         besides listen and jetstream's store */
};

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static const char *nats_server_path(void)
{
    const char *p = getenv("NATS_SERVER");
    return p && *p ? p : "nats-server";
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

static int port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* Starts (or, with the same n, restarts on the same port and store) a
 * nats-server with JetStream; it dies with the test process. */
static void nats_start(struct nats_proc *n)
{
    if (n->port == 0) {
        n->port = free_port();
        snprintf(n->dir, sizeof n->dir, "/tmp/msgd-nats-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(n->dir));
    }
    n->pid = fork();
    ck_assert_int_ge(n->pid, 0);
    if (n->pid == 0) {
        char port[16], store[300], log[300];
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        snprintf(port, sizeof port, "%d", n->port);
        snprintf(store, sizeof store, "%s/js", n->dir);
        snprintf(log, sizeof log, "%s/nats.log", n->dir);
        if (n->conf) {
            char file[300];
            snprintf(file, sizeof file, "%s/nats.conf", n->dir);
            FILE *f = fopen(file, "w");
            if (f == NULL)
                _exit(126);
            fprintf(f,
                    "listen: \"127.0.0.1:%s\"\n"
                    "jetstream { store_dir: \"%s\" }\n%s\n",
                    port, store, n->conf);
            fclose(f);
            execlp(nats_server_path(), "nats-server", "-c", file, "-l", log,
                   (char *)NULL);
            _exit(127);
        }
        execlp(nats_server_path(), "nats-server", "-js", "-a", "127.0.0.1",
               "-p", port, "-sd", store, "-l", log, (char *)NULL);
        _exit(127);
    }
    long until = mono_ms() + 10000;
    while (!port_open(n->port)) {
        ck_assert_msg(mono_ms() < until, "nats-server did not start");
        usleep(20000);
    }
}

static void nats_stop(struct nats_proc *n)
{
    if (n->pid <= 0)
        return;
    kill(n->pid, SIGTERM);
    waitpid(n->pid, NULL, 0);
    n->pid = 0;
}

/* Stops it for good and removes its store. */
static void nats_done(struct nats_proc *n)
{
    char cmd[300];
    nats_stop(n);
    if (n->dir[0] && getenv("MSGD_KEEP_TMP") == NULL) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", n->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", n->dir);
    }
}

/* ---- instances ---- */

static void start_instance(struct msgd_proc *p, const struct nats_proc *n,
                           const char *name, const char *extra)
{
    char conf[1024];
    snprintf(conf, sizeof conf,
             "cluster = { nats = [ \"nats://127.0.0.1:%d\" ]; name = \"%s\"; "
             "id_hold = 1; };\n%s",
             n->port, name, extra ? extra : "");
    msgd_start(p, conf);
    ck_assert_msg(log_wait(p->server_log, "cluster-up", NULL, NULL, 10000),
                  "%s never joined", name);
}

/* A nats-server and two instances m1 and m2 with the same extra lines. */
static void pair_up(struct nats_proc *n, struct msgd_proc m[2],
                    const char *extra)
{
    nats_start(n);
    start_instance(&m[0], n, "m1", extra);
    start_instance(&m[1], n, "m2", extra);
}

static void close_all(void);

/* Stops the instances (each must exit 0), the clients and nats-server. */
static void all_down(struct nats_proc *n, struct msgd_proc *m, int count)
{
    for (int i = 0; i < count; i++)
        ck_assert_int_eq(msgd_stop(&m[i]), 0);
    close_all();
    nats_done(n);
}

/* Waits until every instance has heard every other one. */
static void wait_mesh(struct msgd_proc *ps, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j)
                ck_assert_msg(log_wait(ps[i].server_log, "instance-up",
                                       "instance", names[j], 10000),
                              "%s never saw %s", names[i], names[j]);
}

/* Waits until WHO on c lists id (directories fill in asynchronously). */
static void wait_visible(struct tc *c, const char *id)
{
    long until = mono_ms() + 10000;
    for (;;) {
        int found = 0;
        tc_sendf(c, "WHO\n");
        const char *l = tc_line(c, 3000);
        ck_assert_ptr_nonnull(l);
        ck_assert_msg(strncmp(l, "NODES ", 6) == 0, "got %s", l);
        int count = atoi(l + 6);
        for (int i = 0; i < count; i++) {
            l = tc_line(c, 3000);
            ck_assert_ptr_nonnull(l);
            if (strcmp(l + 5, id) == 0)
                found = 1;
        }
        if (found)
            return;
        ck_assert_msg(mono_ms() < until, "%s never became visible", id);
        usleep(20000);
    }
}

static int ctl(const struct msgd_proc *p, const char *a1, const char *a2,
               const char *a3, const char *a4)
{
    const char *argv[] = {msgctl_path(), "-s", p->admin_socket, a1, a2, a3, a4,
                          NULL};
    return prog_run(argv, out, sizeof out);
}

static json_t *ctl_json(const struct msgd_proc *p, const char *a1,
                        const char *a2)
{
    const char *argv[] = {
        msgctl_path(), "-s", p->admin_socket, "--json", a1, a2, NULL};
    int rc = prog_run(argv, out, sizeof out);
    ck_assert_msg(rc == 0, "msgctl %s: exit %d: %s", a1, rc, out);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    return j;
}

/* HELLO id on c until it is OK (ids are freed asynchronously); anything
 * but "ERR id-taken id" meanwhile fails the test. */
static void hello_eventually(struct tc *c, const char *id, int timeout_ms)
{
    char ok[80], taken[96];
    snprintf(ok, sizeof ok, "OK %s ", id);
    snprintf(taken, sizeof taken, "ERR id-taken %s", id);
    long until = mono_ms() + timeout_ms;
    for (;;) {
        tc_sendf(c, "HELLO %s\n", id);
        const char *l = tc_line(c, 3000);
        ck_assert_ptr_nonnull(l);
        if (strncmp(l, ok, strlen(ok)) == 0)
            return;
        ck_assert_str_eq(l, taken);
        ck_assert_msg(mono_ms() < until, "%s never freed", id);
        usleep(50000);
    }
}

/* SEND payload to id from c until it is accepted (no ERR before the
 * PONG); refused is the ERR line allowed meanwhile. */
static void send_eventually(struct tc *c, const char *id, const char *payload,
                            const char *refused, int timeout_ms)
{
    long until = mono_ms() + timeout_ms;
    for (;;) {
        tc_sendf(c, "SEND %s %zu\n%s\nPING e\n", id, strlen(payload), payload);
        const char *l = tc_line(c, 3000);
        ck_assert_ptr_nonnull(l);
        if (strcmp(l, "PONG e") == 0)
            return;
        ck_assert_str_eq(l, refused);
        tc_expect(c, "PONG e");
        ck_assert_msg(mono_ms() < until, "%s never reachable", id);
        usleep(50000);
    }
}

/* Waits until the log has at least n lines of event ev. */
static int wait_count(const char *path, const char *ev, int n, int timeout_ms)
{
    long until = mono_ms() + timeout_ms;
    while (log_count(path, ev, NULL, NULL) < n) {
        if (mono_ms() > until)
            return 0;
        usleep(20000);
    }
    return 1;
}

/* Clients are closed at the end of each test (the sanitizer build checks
 * the test process for leaks too). */
static struct tc *opened[32];
static int nopened;

static struct tc *keep(struct tc *c)
{
    ck_assert_int_lt(nopened, 32);
    return opened[nopened++] = c;
}

static struct tc *hello(int port, const char *id)
{
    return keep(tc_hello(port, id));
}

static struct tc *topen(int port)
{
    return keep(tc_open(port));
}

static void close_all(void)
{
    while (nopened > 0)
        tc_close(opened[--nopened]);
}

static const char *const names3[] = {"m1", "m2", "m3"};

#ifdef HAVE_NATS /* what the tests of forged input need */
/* A stats counter of p. */
static long long stat_of(const struct msgd_proc *p, const char *key)
{
    json_t *s = ctl_json(p, "stats", NULL);
    long long v = json_integer_value(json_object_get(s, key));
    json_decref(s);
    return v;
}

/* Waits until stats key of p reaches at least want. */
static void wait_stat(const struct msgd_proc *p, const char *key,
                      long long want)
{
    long until = mono_ms() + 15000;
    long long v;
    while ((v = stat_of(p, key)) < want) {
        ck_assert_msg(mono_ms() < until, "%s stayed at %lld, not %lld", key, v,
                      want);
        usleep(50000);
    }
}

/* The incarnation of instance name as p lists it (NULL: p's own). */
static void incarnation(const struct msgd_proc *p, const char *name,
                        char hex[17])
{
    json_t *arr = ctl_json(p, "cluster", NULL);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        const char *n = json_string_value(json_object_get(o, "name"));
        if (name ? n && strcmp(n, name) == 0
                 : json_is_true(json_object_get(o, "self"))) {
            snprintf(hex, 17, "%s",
                     json_string_value(json_object_get(o, "incarnation")));
            json_decref(arr);
            return;
        }
    }
    ck_abort_msg("no instance %s", name ? name : "(self)");
}

/* Anyone who can reach NATS: a plain client of its own. */
static natsConnection *forger(const struct nats_proc *n)
{
    char url[64];
    natsConnection *nc = NULL;
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", n->port);
    ck_assert_int_eq(natsConnection_ConnectTo(&nc, url), NATS_OK);
    return nc;
}

static void forge(natsConnection *nc, const char *subject, const char *data,
                  size_t len)
{
    ck_assert_int_eq(natsConnection_Publish(nc, subject, data, (int)len),
                     NATS_OK);
}

static void forger_done(natsConnection *nc)
{
    natsConnection_Flush(nc);
    natsConnection_Destroy(nc);
    nats_Close();
}
#endif

/* ---- tests ---- */

START_TEST(send_who_across_two)
{
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    pair_up(&n, m, NULL);

    struct tc *a = hello(m[0].port, "alice");
    struct tc *b = hello(m[1].port, "bob.b");
    wait_visible(a, "bob.b");
    wait_visible(b, "alice");

    /* Both ways, binary payloads, and order kept over 2,000 messages. */
    tc_send(a, "SEND bob.b 3\na\0b\n", 17);
    tc_expect_msg(b, "alice", "bob.b", "a\0b", 3);
    for (int i = 0; i < 2000; i++)
        tc_sendf(a, "SEND bob.b %d\n%d\n",
                 i < 10     ? 1
                 : i < 100  ? 2
                 : i < 1000 ? 3
                            : 4,
                 i);
    for (int i = 0; i < 2000; i++) {
        char want[8];
        int len = snprintf(want, sizeof want, "%d", i);
        tc_expect_msg(b, "alice", "bob.b", want, (size_t)len);
    }
    tc_sendf(b, "SEND alice 2\nhi\n");
    tc_expect_msg(a, "bob.b", "alice", "hi", 2);

    /* WHO lists the whole cluster from either side. */
    tc_sendf(a, "WHO\n");
    tc_expect(a, "NODES 2");
    const char *l1 = strdup(tc_line(a, 2000));
    const char *l2 = tc_line(a, 2000);
    ck_assert_msg(
        (strcmp(l1, "NODE alice") == 0 && strcmp(l2, "NODE bob.b") == 0),
        "WHO: %s / %s", l1, l2);
    free((void *)l1);

    /* An id that is nowhere. */
    tc_sendf(a, "SEND nobody 1\nx\n");
    tc_expect(a, "ERR unknown-node nobody");
    tc_sync(a);

    /* Traffic was counted as cluster traffic on both sides. */
    json_t *s = ctl_json(&m[0], "stats", NULL);
    ck_assert(json_is_true(json_object_get(s, "cluster_connected")));
    ck_assert_int_ge(json_integer_value(json_object_get(s, "cluster_msgs_out")),
                     2001);
    ck_assert_int_ge(json_integer_value(json_object_get(s, "cluster_msgs_in")),
                     1);
    json_decref(s);
    all_down(&n, m, 2);
}
END_TEST

START_TEST(bcast_who_across_three)
{
    struct nats_proc n = {0};
    struct msgd_proc m[3];
    nats_start(&n);
    for (int i = 0; i < 3; i++)
        start_instance(&m[i], &n, names3[i], NULL);
    wait_mesh(m, names3, 3);

    struct tc *c[6];
    char id[16];
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof id, "n%d", i);
        c[i] = hello(m[i % 3].port, id);
    }
    for (int i = 0; i < 6; i++)
        wait_visible(c[i], i ? "n0" : "n5");
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 6; k++) {
            snprintf(id, sizeof id, "n%d", k);
            wait_visible(c[i], id);
        }
    }

    /* Every other node of every instance gets it exactly once. */
    tc_sendf(c[0], "BCAST 5\nhello\n");
    for (int i = 1; i < 6; i++) {
        tc_expect_msg(c[i], "n0", "*", "hello", 5);
        tc_sync(c[i]); /* nothing more: no second copy */
    }
    tc_sync(c[0]); /* no ERR, and not to itself */

    /* WHO from each instance counts all six. */
    for (int i = 0; i < 3; i++) {
        tc_sendf(c[i], "WHO\n");
        tc_expect(c[i], "NODES 6");
        for (int k = 0; k < 6; k++)
            ck_assert_ptr_nonnull(tc_line(c[i], 2000));
    }

    /* A SEND chain through all three instances. */
    tc_sendf(c[0], "SEND n1 1\nx\n");
    tc_expect_msg(c[1], "n0", "n1", "x", 1);
    tc_sendf(c[1], "SEND n2 1\ny\n");
    tc_expect_msg(c[2], "n1", "n2", "y", 1);
    tc_sendf(c[2], "SEND n0 1\nz\n");
    tc_expect_msg(c[0], "n2", "n0", "z", 1);

    /* msgctl cluster on m1 lists the three instances. */
    json_t *arr = ctl_json(&m[0], "cluster", NULL);
    ck_assert_msg(json_is_array(arr), "%s", out);
    ck_assert_int_eq(json_array_size(arr), 3);
    int self = 0;
    for (size_t i = 0; i < 3; i++) {
        json_t *o = json_array_get(arr, i);
        self += json_is_true(json_object_get(o, "self"));
        ck_assert_str_eq(json_string_value(json_object_get(o, "state")), "up");
    }
    ck_assert_int_eq(self, 1);
    json_decref(arr);
    all_down(&n, m, 3);
}
END_TEST

START_TEST(duplicate_id_rejected_then_free)
{
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    pair_up(&n, m, NULL);

    struct tc *a = hello(m[0].port, "solo");
    struct tc *b = topen(m[1].port);
    tc_sendf(b, "HELLO solo\n");
    tc_expect(b, "ERR id-taken solo");
    ck_assert(log_wait(m[1].client_log, "reject", "code", "id-taken", 2000));

    /* Once the holder leaves, the id is free everywhere. */
    tc_sendf(a, "QUIT\n");
    tc_expect(a, "BYE quit");
    hello_eventually(b, "solo", 10000);
    /* And now held by m2: m1 refuses it. */
    struct tc *c = topen(m[0].port);
    long until2 = mono_ms() + 10000;
    for (;;) {
        tc_sendf(c, "HELLO solo\n");
        const char *l = tc_line(c, 3000);
        ck_assert_ptr_nonnull(l);
        if (strcmp(l, "ERR id-taken solo") == 0)
            break;
        ck_assert_msg(mono_ms() < until2, "m1 accepted a held id: %s", l);
    }
    all_down(&n, m, 2);
}
END_TEST

START_TEST(duplicate_id_replaced_across)
{
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    pair_up(&n, m, "duplicate_id = \"replace\";\n");

    struct tc *old = hello(m[0].port, "dev");
    struct tc *peer = hello(m[0].port, "peer");
    wait_visible(peer, "dev");
    struct tc *nw = hello(m[1].port, "dev");
    tc_expect(old, "BYE replaced");
    ck_assert(tc_eof(old, 3000));
    ck_assert(
        log_wait(m[0].client_log, "disconnect", "reason", "replaced", 3000));
    /* Messages to dev now go to the new holder on m2. */
    send_eventually(peer, "dev", "ok", "ERR unknown-node dev", 10000);
    tc_expect_msg(nw, "peer", "dev", "ok", 2);
    all_down(&n, m, 2);
}
END_TEST

START_TEST(kick_and_list_across)
{
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    pair_up(&n, m, NULL);
    struct tc *a = hello(m[0].port, "here");
    struct tc *b = hello(m[1].port, "there");
    wait_visible(a, "there");

    /* list --cluster on m1 shows both, each with its instance. */
    const char *argv[] = {msgctl_path(), "-s",   m[0].admin_socket,
                          "--json",      "list", "--cluster",
                          NULL};
    ck_assert_int_eq(prog_run(argv, out, sizeof out), 0);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    ck_assert_int_eq(json_array_size(j), 2);
    int seen = 0;
    for (size_t i = 0; i < 2; i++) {
        json_t *o = json_array_get(j, i);
        const char *id = json_string_value(json_object_get(o, "id"));
        const char *inst = json_string_value(json_object_get(o, "instance"));
        ck_assert_ptr_nonnull(id);
        ck_assert_ptr_nonnull(inst);
        if (strcmp(id, "here") == 0 && strcmp(inst, "m1") == 0)
            seen |= 1;
        if (strcmp(id, "there") == 0 && strcmp(inst, "m2") == 0)
            seen |= 2;
    }
    ck_assert_int_eq(seen, 3);
    json_decref(j);
    /* Plain list: local nodes only. */
    j = ctl_json(&m[0], "list", NULL);
    ck_assert_int_eq(json_array_size(j), 1);
    json_decref(j);

    /* Kick on m1 of a node of m2. */
    ck_assert_int_eq(ctl(&m[0], "kick", "there", "maintenance", NULL), 0);
    tc_expect(b, "BYE kicked maintenance");
    ck_assert(tc_eof(b, 3000));
    ck_assert(
        log_wait(m[1].client_log, "disconnect", "reason", "kicked", 3000));
    /* m2's line says why, and that the kick came from m1. */
    ck_assert(log_wait(m[1].client_log, "disconnect", "origin", "m1", 0));
    ck_assert(
        log_wait(m[1].client_log, "disconnect", "text", "maintenance", 0));
    ck_assert(log_wait(m[0].server_log, "admin", "instance", "m2", 3000));
    /* Nowhere: exit 1. */
    ck_assert_int_eq(ctl(&m[0], "kick", "ghost", NULL, NULL), 1);
    all_down(&n, m, 2);
}
END_TEST

START_TEST(msgsim_over_two_zero_loss)
{
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    pair_up(&n, m, NULL);
    wait_mesh(m, names3, 2);
    char c1[64], c2[64];
    snprintf(c1, sizeof c1, "127.0.0.1:%d", m[0].port);
    snprintf(c2, sizeof c2, "127.0.0.1:%d", m[1].port);
    const char *sim = getenv("MSGSIM");
    const char *argv[] = {sim ? sim : "msgsim",
                          "--connect",
                          c1,
                          "--connect",
                          c2,
                          "--nodes",
                          "20",
                          "--messages",
                          "4000",
                          "--pattern",
                          "random",
                          NULL};
    int rc = prog_run(argv, out, sizeof out);
    ck_assert_msg(rc == 0, "msgsim: exit %d: %s", rc, out);
    const char *lost = strstr(out, "lost:");
    ck_assert_msg(lost && atol(lost + 5) == 0, "msgsim: %s", out);
    json_t *s = ctl_json(&m[0], "stats", NULL);
    ck_assert_int_gt(json_integer_value(json_object_get(s, "cluster_msgs_out")),
                     0);
    ck_assert_int_gt(json_integer_value(json_object_get(s, "cluster_msgs_in")),
                     0);
    json_decref(s);
    all_down(&n, m, 2);
}
END_TEST

START_TEST(nats_stopped_and_restarted)
{
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    pair_up(&n, m, NULL);
    struct tc *a = hello(m[0].port, "a1");
    struct tc *a2 = hello(m[0].port, "a2");
    struct tc *b = hello(m[1].port, "b1");
    struct tc *gone = hello(m[1].port, "gone");
    wait_visible(a, "b1");
    wait_visible(a, "gone");

    nats_stop(&n);
    ck_assert(log_wait(m[0].server_log, "cluster-down", NULL, NULL, 10000));
    /* Remote: a clear refusal; local routing goes on. */
    tc_sendf(a, "SEND b1 1\nx\n");
    tc_expect(a, "ERR cluster-unavailable b1");
    tc_sendf(a, "SEND a2 1\ny\n");
    tc_expect_msg(a2, "a1", "a2", "y", 1);
    tc_sendf(a, "BCAST 1\nz\n");
    tc_expect(a, "ERR cluster-unavailable");
    tc_expect_msg(a2, "a1", "*", "z", 1);
    /* msgnode says it in words a person understands. */
    {
        char port[16], said[4096];
        snprintf(port, sizeof port, "%d", m[0].port);
        const char *nargv[] = {getenv("MSGNODE") ? getenv("MSGNODE")
                                                 : "src/msgnode",
                               "-p", port, "-i", "n1", "-t", "b1", "-m", "hi",
                               NULL};
        ck_assert_int_ne(prog_run(nargv, said, sizeof said), 0);
        ck_assert_msg(strstr(said, "on another server of the cluster, which "
                                   "cannot be reached now"),
                      "%s", said);
    }
    /* A node leaves meanwhile: its id is freed once NATS is back. */
    tc_sendf(gone, "QUIT\n");
    tc_expect(gone, "BYE quit");
    /* A new node registers locally meanwhile. */
    struct tc *late = hello(m[0].port, "late");
    tc_sendf(late, "SEND a1 1\nw\n");
    tc_expect_msg(a, "late", "a1", "w", 1);

    nats_start(&n);
    ck_assert(wait_count(m[0].server_log, "cluster-up", 2, 15000));
    ck_assert(wait_count(m[1].server_log, "cluster-up", 2, 15000));
    /* Logged once each way, however long the outage. */
    ck_assert_int_eq(log_count(m[0].server_log, "cluster-down", NULL, NULL), 1);

    /* Traffic resumes; ids held before and during the outage stay held. */
    wait_visible(b, "late");
    send_eventually(a, "b1", "back", "ERR cluster-unavailable b1", 15000);
    tc_expect_msg(b, "a1", "b1", "back", 4);
    struct tc *dup = topen(m[1].port);
    tc_sendf(dup, "HELLO late\n");
    tc_expect(dup, "ERR id-taken late");
    /* On the other instance, so that only a released key lets it in. */
    struct tc *again = topen(m[0].port);
    hello_eventually(again, "gone", 15000);
    all_down(&n, m, 2);
}
END_TEST

START_TEST(instance_killed)
{
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    pair_up(&n, m, NULL);
    wait_mesh(m, names3, 2);
    struct tc *a = hello(m[0].port, "survivor");
    struct tc *a2 = hello(m[0].port, "friend");
    struct tc *b = hello(m[1].port, "victim");
    wait_visible(a, "victim");
    (void)b;

    kill(m[1].pid, SIGKILL);
    waitpid(m[1].pid, NULL, 0);
    ck_assert(
        log_wait(m[0].server_log, "instance-down", "instance", "m2", 10000));
    ck_assert(log_wait(m[0].server_log, "ids-freed", "instance", "m2", 10000));
    /* Its id is free again, and nothing else broke. */
    struct tc *c = topen(m[0].port);
    hello_eventually(c, "victim", 10000);
    tc_sendf(a, "SEND friend 2\nok\n");
    tc_expect_msg(a2, "survivor", "friend", "ok", 2);
    tc_sendf(a, "SEND victim 1\nv\n");
    tc_expect_msg(c, "survivor", "victim", "v", 1);
    json_t *arr = ctl_json(&m[0], "cluster", NULL);
    ck_assert_msg(json_is_array(arr), "%s", out);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        if (!json_is_true(json_object_get(o, "self")))
            ck_assert_str_ne(json_string_value(json_object_get(o, "state")),
                             "up");
    }
    json_decref(arr);
    all_down(&n, m, 1);
}
END_TEST

START_TEST(nats_down_at_start)
{
    struct nats_proc n = {0};
    n.port = free_port(); /* nobody listens there yet */
    snprintf(n.dir, sizeof n.dir, "/tmp/msgd-nats-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(n.dir));
    struct msgd_proc m;
    char conf[256];
    snprintf(conf, sizeof conf,
             "cluster = { nats = [ \"nats://127.0.0.1:%d\" ]; name = \"lone\"; "
             "};\n",
             n.port);
    msgd_start(&m, conf);
    /* It serves at once, locally. */
    struct tc *a = hello(m.port, "x");
    struct tc *b = hello(m.port, "y");
    tc_sendf(a, "SEND y 2\nhi\n");
    tc_expect_msg(b, "x", "y", "hi", 2);
    json_t *s = ctl_json(&m, "stats", NULL);
    ck_assert(json_is_false(json_object_get(s, "cluster_connected")));
    json_decref(s);
    /* And joins when NATS comes. */
    nats_start(&n);
    ck_assert(log_wait(m.server_log, "cluster-up", NULL, NULL, 15000));
    s = ctl_json(&m, "stats", NULL);
    ck_assert(json_is_true(json_object_get(s, "cluster_connected")));
    json_decref(s);
    ck_assert_int_eq(msgd_stop(&m), 0);
    close_all();
    nats_done(&n);
}
END_TEST

#ifdef HAVE_NATS
/* A message on m1's subject whose sender is not a node the claimed
 * instance holds is not delivered: neither one in the old form without a
 * head, nor one from a node nobody holds, nor one claiming a node of m2
 * under another incarnation.  A forged KICK whose reason holds a CR never
 * reaches a BYE line. */
START_TEST(forged_msg_and_kick_refused)
{
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    pair_up(&n, m, NULL);
    wait_mesh(m, names3, 2);
    struct tc *a = hello(m[0].port, "alice");
    struct tc *b = hello(m[1].port, "bob");
    wait_visible(a, "bob");
    wait_visible(b, "alice");
    char inc1[17], inc2[17], subject[64], batch[256];
    incarnation(&m[0], NULL, inc1);
    incarnation(&m[0], "m2", inc2);
    snprintf(subject, sizeof subject, "msgd.i.%s", inc1);
    natsConnection *nc = forger(&n);

    const char headless[] = "MSG bob alice 6\nforged\n";
    forge(nc, subject, headless, sizeof headless - 1);
    int len = snprintf(batch, sizeof batch,
                       "FROM %s\nMSG mallory alice 6\n"
                       "forged\n",
                       inc2);
    forge(nc, subject, batch, (size_t)len);
    len = snprintf(batch, sizeof batch,
                   "FROM 00000000000000aa\nMSG bob alice 6\nforged\n"
                   "MSG bob * 6\nforged\n");
    forge(nc, subject, batch, (size_t)len);
    natsConnection_Flush(nc);
    wait_stat(&m[0], "cluster_msgs_refused", 3);
    wait_stat(&m[0], "cluster_input_refused", 1);
    /* What alice gets next is bob's own message, nothing forged. */
    tc_sendf(b, "SEND alice 5\nlegit\n");
    tc_expect_msg(a, "bob", "alice", "legit", 5);
    tc_sync(a);

    const char kick[] = "KICK alice evil\rBYE spoofed\n";
    forge(nc, subject, kick, sizeof kick - 1);
    len = snprintf(batch, sizeof batch, "FROM %s\nKICK alice evil\rBYE x\n",
                   inc2);
    forge(nc, subject, batch, (size_t)len);
    natsConnection_Flush(nc);
    wait_stat(&m[0], "cluster_input_refused", 3);
    /* alice is still there, and no line of hers holds a CR. */
    tc_sendf(b, "SEND alice 3\nyes\n");
    tc_expect_msg(a, "bob", "alice", "yes", 3);
    tc_sync(a);
    ck_assert_int_eq(
        log_count(m[0].client_log, "disconnect", "reason", "kicked"), 0);
    /* Real traffic from m2 was never refused. */
    ck_assert_int_eq(stat_of(&m[0], "cluster_msgs_refused"), 3);
    forger_done(nc);
    all_down(&n, m, 2);
}
END_TEST

/* Thousands of made-up incarnations on the heartbeat subject: m1 tracks at
 * most 256 others (m2, which holds a node, among them), msgctl cluster
 * still answers, and the instance-up/instance-down lines are rationed.  A
 * heartbeat with a name holding ESC or an absurd node count is refused. */
START_TEST(heartbeat_flood_bounded)
{
    enum { FLOOD = 20000, CAP = 256 };
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    pair_up(&n, m, NULL);
    wait_mesh(m, names3, 2);
    struct tc *a = hello(m[0].port, "alice");
    struct tc *b = hello(m[1].port, "bob");
    wait_visible(a, "bob");
    natsConnection *nc = forger(&n);
    char hb[128];
    for (int i = 0; i < FLOOD; i++) {
        int len = snprintf(hb, sizeof hb, "%016x 1 forged-%d", i + 1, i);
        forge(nc, "msgd.hb", hb, (size_t)len);
    }
    const char esc[] = "00000000aaaaaaaa 1 ev\x1b[2Jil";
    const char huge[] = "00000000bbbbbbbb 99999999999999999999 huge";
    forge(nc, "msgd.hb", esc, sizeof esc - 1);
    forge(nc, "msgd.hb", huge, sizeof huge - 1);
    natsConnection_Flush(nc);
    /* One subscription delivers in order: these two come last. */
    wait_stat(&m[0], "cluster_input_refused", 2);

    json_t *arr = ctl_json(&m[0], "cluster", NULL);
    ck_assert_int_eq(json_array_size(arr), CAP + 1);
    int m2_up = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        const char *name = json_string_value(json_object_get(o, "name"));
        ck_assert_ptr_null(strchr(name, 0x1b));
        ck_assert_str_ne(name, "huge");
        if (strcmp(name, "m2") == 0)
            m2_up = strcmp(json_string_value(json_object_get(o, "state")),
                           "up") == 0;
    }
    ck_assert(m2_up);
    json_decref(arr);
    ck_assert_int_eq(ctl(&m[0], "cluster", NULL, NULL, NULL), 0);
    /* Rationed, with a count of what was left out. */
    ck_assert(log_wait(m[0].server_log, "warning", "what",
                       "instance-up and instance-down lines", 10000));
    ck_assert_int_lt(log_count(m[0].server_log, "instance-up", NULL, NULL),
                     FLOOD / 10);
    struct stat st;
    ck_assert_int_eq(stat(m[0].server_log, &st), 0);
    ck_assert_int_lt(st.st_size, 512 * 1024);
    /* And the cluster still works. */
    tc_sendf(a, "SEND bob 2\nok\n");
    tc_expect_msg(b, "alice", "bob", "ok", 2);
    forger_done(nc);
    all_down(&n, m, 2);
}
END_TEST

/* How many rows of msgctl list --cluster on p have id; the instance of the
 * last one goes to inst. */
static int holders(const struct msgd_proc *p, const char *id, char inst[64])
{
    const char *argv[] = {msgctl_path(), "-s",   p->admin_socket,
                          "--json",      "list", "--cluster",
                          NULL};
    int rc = prog_run(argv, out, sizeof out);
    ck_assert_msg(rc == 0, "msgctl list: exit %d: %s", rc, out);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    ck_assert_msg(j != NULL, "not JSON: %s", out);
    int count = 0;
    for (size_t i = 0; i < json_array_size(j); i++) {
        json_t *o = json_array_get(j, i);
        const char *n = json_string_value(json_object_get(o, "id"));
        if (n && strcmp(n, id) == 0) {
            count++;
            snprintf(inst, 64, "%s",
                     json_string_value(json_object_get(o, "instance")));
        }
    }
    json_decref(j);
    return count;
}

/* m2 is stopped (SIGSTOP) longer than 3.5 s + id_hold: m1 declares it
 * down, frees its ids, and registers one of them, bob, anew.  m2's NATS
 * connection outlives the pause, so no reconnect tells it; once it runs
 * again the bucket decides: m2's bob gets BYE replaced, m2 claims its
 * other ids again, and both instances list bob once, on m1, where
 * messages to bob from either instance arrive. */
START_TEST(split_brain_after_pause)
{
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    pair_up(&n, m, NULL); /* id_hold = 1 */
    wait_mesh(m, names3, 2);
    struct tc *a = hello(m[0].port, "alice");
    struct tc *old = hello(m[1].port, "bob");
    struct tc *b2 = hello(m[1].port, "b2");
    wait_visible(a, "bob");
    wait_visible(a, "b2");

    ck_assert_int_eq(kill(m[1].pid, SIGSTOP), 0);
    ck_assert(log_wait(m[0].server_log, "ids-freed", "instance", "m2", 15000));
    struct tc *bob = topen(m[0].port);
    hello_eventually(bob, "bob", 10000);
    ck_assert_int_eq(kill(m[1].pid, SIGCONT), 0);

    const char *l = tc_line(old, 15000);
    ck_assert_msg(l && strcmp(l, "BYE replaced") == 0, "m2's bob got %s",
                  l ? l : "nothing");
    ck_assert(log_wait(m[1].server_log, "stall", NULL, NULL, 5000));
    /* Exactly one holder, the same on both instances. */
    long until = mono_ms() + 15000;
    for (;;) {
        char i1[64] = "", i2[64] = "";
        int h1 = holders(&m[0], "bob", i1), h2 = holders(&m[1], "bob", i2);
        if (h1 == 1 && h2 == 1 && strcmp(i1, "m1") == 0 &&
            strcmp(i2, "m1") == 0)
            break;
        ck_assert_msg(mono_ms() < until, "bob: %d on m1 (%s), %d on m2 (%s)",
                      h1, i1, h2, i2);
        usleep(100000);
    }
    /* m2 claimed b2 again: m1 sees it, and refuses it. */
    wait_visible(a, "b2");
    struct tc *dup = topen(m[0].port);
    tc_sendf(dup, "HELLO b2\n");
    tc_expect(dup, "ERR id-taken b2");
    /* Messages to bob from both instances reach the one holder. */
    tc_sendf(a, "SEND bob 5\nfrom1\n");
    tc_expect_msg(bob, "alice", "bob", "from1", 5);
    send_eventually(b2, "bob", "from2", "ERR unknown-node bob", 10000);
    tc_expect_msg(bob, "b2", "bob", "from2", 5);
    all_down(&n, m, 2);
}
END_TEST

/* CPU seconds (user + system) of msgd's process, or with loop_only of its
 * main thread alone: the loop, without libnats' threads. */
static double cpu_of(const struct msgd_proc *p, int loop_only)
{
    char path[96], buf[1024];
    unsigned long ut = 0, st = 0;
    if (loop_only)
        snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)p->pid,
                 (int)p->pid);
    else
        snprintf(path, sizeof path, "/proc/%d/stat", (int)p->pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* fields 14 and 15, after the command in parentheses */
    char *q = strrchr(buf, ')');
    ck_assert_ptr_nonnull(q);
    ck_assert(sscanf(q + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                     &st) == 2);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* 100,000 heartbeats, each from a new made-up incarnation: past the cap
 * every one pushes another out, and each must cost the loop O(1), not a
 * walk of the table.  The bound is generous (the machine is shared); the
 * figures go to stderr for the record. */
START_TEST(heartbeat_flood_cpu)
{
    enum { FLOOD = 100000 };
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    pair_up(&n, m, NULL);
    wait_mesh(m, names3, 2);
    struct tc *a = hello(m[0].port, "alice");
    struct tc *b = hello(m[1].port, "bob");
    wait_visible(a, "bob");
    natsConnection *nc = forger(&n);
    double loop0 = cpu_of(&m[0], 1), all0 = cpu_of(&m[0], 0);
    long t0 = mono_ms();
    char hb[128];
    for (int i = 0; i < FLOOD; i++) {
        int len = snprintf(hb, sizeof hb, "%016x 1 forged-%d", i + 1, i);
        forge(nc, "msgd.hb", hb, (size_t)len);
    }
    /* Refused, and last on the one subscription: the flood is through. */
    const char huge[] = "00000000bbbbbbbb 99999999999999999999 huge";
    forge(nc, "msgd.hb", huge, sizeof huge - 1);
    natsConnection_Flush(nc);
    wait_stat(&m[0], "cluster_input_refused", 1);
    double loop = cpu_of(&m[0], 1) - loop0, all = cpu_of(&m[0], 0) - all0;
    fprintf(stderr,
            "heartbeat_flood_cpu: %d heartbeats: loop %.2f s CPU, process "
            "%.2f s CPU, %.2f s wall\n",
            FLOOD, loop, all, (double)(mono_ms() - t0) / 1000.0);
    ck_assert_msg(loop < 5.0, "the loop spent %.2f s of CPU", loop);
    /* The cluster still works. */
    tc_sendf(a, "SEND bob 2\nok\n");
    tc_expect_msg(b, "alice", "bob", "ok", 2);
    forger_done(nc);
    all_down(&n, m, 2);
}
END_TEST

/* HELLO id on c, at most tries times a fifth of a second apart, until it
 * is OK; ERR cluster-unavailable is the answer allowed meanwhile.  Returns
 * the tries it took. */
static int hello_within(struct tc *c, const char *id, int tries)
{
    char ok[80];
    const char unavailable[] = "ERR cluster-unavailable";
    snprintf(ok, sizeof ok, "OK %s ", id);
    for (int t = 1; t <= tries; t++) {
        tc_sendf(c, "HELLO %s\n", id);
        const char *l = tc_line(c, 5000);
        ck_assert_ptr_nonnull(l);
        if (strncmp(l, ok, strlen(ok)) == 0)
            return t;
        ck_assert_msg(strcmp(l, unavailable) == 0, "HELLO %s: %s", id, l);
        usleep(200000);
    }
    ck_abort_msg("HELLO %s failed %d times", id, tries);
    return 0;
}

/* The id bucket deleted under a running cluster: the next HELLO on either
 * instance finds it missing and has it made again, within a few tries,
 * and the ids held before are claimed again into it. */
START_TEST(bucket_deleted_recreated)
{
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    pair_up(&n, m, NULL);
    wait_mesh(m, names3, 2);
    struct tc *a = hello(m[0].port, "alice");
    struct tc *b = hello(m[1].port, "bob");
    wait_visible(a, "bob");

    natsConnection *nc = forger(&n);
    jsCtx *js = NULL;
    ck_assert_int_eq(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    ck_assert_int_eq(js_DeleteKeyValue(js, "msgd-ids"), NATS_OK);
    jsCtx_Destroy(js);

    int t1 = hello_within(topen(m[0].port), "carol", 10);
    struct tc *d = topen(m[1].port);
    int t2 = hello_within(d, "dave", 10);
    fprintf(stderr, "bucket_deleted_recreated: HELLO took %d and %d tries\n",
            t1, t2);
    /* Each instance notices (by a request, or its look every 2 s) and
     * claims its ids into the new bucket. */
    long until = mono_ms() + 10000;
    for (int i = 0; i < 2; i++) {
        while (log_count(m[i].server_log, "warning", "msg",
                         "the id bucket was missing: made again, ids "
                         "claimed again") +
                   log_count(m[i].server_log, "warning", "msg",
                             "the id bucket was made again by another "
                             "instance: ids claimed again") ==
               0) {
            ck_assert_msg(mono_ms() < until, "m%d never noticed", i + 1);
            usleep(50000);
        }
    }
    /* The ids held before are in the new bucket: neither instance lets
     * the other's be taken. */
    for (const char *const *id = (const char *const[]){"alice", "bob", NULL};
         *id; id++) {
        struct tc *dup = topen(m[*id[0] == 'a' ? 1 : 0].port);
        char taken[64];
        snprintf(taken, sizeof taken, "ERR id-taken %s", *id);
        for (;;) {
            tc_sendf(dup, "HELLO %s\n", *id);
            const char *l = tc_line(dup, 5000);
            ck_assert_ptr_nonnull(l);
            if (strcmp(l, taken) == 0)
                break;
            ck_assert_msg(strncmp(l, "ERR ", 4) == 0, "%s taken twice: %s", *id,
                          l);
            ck_assert_msg(mono_ms() < until, "%s: %s", *id, l);
            usleep(200000);
        }
    }
    /* And routing across goes on. */
    wait_visible(d, "carol");
    send_eventually(b, "alice", "still", "ERR unknown-node alice", 10000);
    tc_expect_msg(a, "bob", "alice", "still", 5);
    forger_done(nc);
    all_down(&n, m, 2);
}
END_TEST

/* A node that registers and at once sends to another instance: its
 * message can reach that instance before the directory entry of its id
 * does, and must wait for it rather than be refused. */
START_TEST(fresh_senders_not_refused)
{
    enum { SENDERS = 100 };
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    pair_up(&n, m, NULL);
    wait_mesh(m, names3, 2);
    struct tc *a = hello(m[0].port, "alice");
    struct tc *probe = hello(m[1].port, "probe");
    wait_visible(probe, "alice");
    for (int i = 0; i < SENDERS; i++) {
        char id[24];
        snprintf(id, sizeof id, "fresh%d", i);
        struct tc *c = tc_hello(m[1].port, id);
        tc_sendf(c, "SEND alice %zu\n%s\n", strlen(id), id);
        tc_sync(c);
        tc_expect_msg(a, id, "alice", id, strlen(id));
        tc_close(c);
    }
    ck_assert_int_eq(stat_of(&m[0], "cluster_msgs_refused"), 0);
    all_down(&n, m, 2);
}
END_TEST

/* ---- the secured link (msgd.conf(5): cluster credentials and tls) ---- */

static char certs[256]; /* made once by mkcerts.sh, before the tests fork */

static int make_certs_once(void)
{
    char cmd[768];
    const char *srcdir = getenv("srcdir");
    snprintf(certs, sizeof certs, "/tmp/msgd-certs-XXXXXX");
    if (mkdtemp(certs) == NULL)
        return -1;
    snprintf(cmd, sizeof cmd, "sh %s/tests/mkcerts.sh %s >/dev/null",
             srcdir ? srcdir : ".", certs);
    return system(cmd) == 0 ? 0 : -1;
}

/* A secret file of the test's own, mode 0600, in nats-server's dir. */
static const char *secret_file(const struct nats_proc *n, const char *name,
                               const char *text)
{
    static char paths[4][320];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", n->dir, name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    chmod(p, 0600);
    return p;
}

/* start_instance with the URL's scheme and lines of its own in the
 * cluster group. */
static void start_secured(struct msgd_proc *p, const struct nats_proc *n,
                          const char *scheme, const char *name,
                          const char *cluster_extra)
{
    char conf[2048];
    snprintf(conf, sizeof conf,
             "cluster = { nats = [ \"%s://127.0.0.1:%d\" ]; name = \"%s\"; "
             "id_hold = 1;\n%s\n};\n",
             scheme, n->port, name, cluster_extra);
    msgd_start(p, conf);
    ck_assert_msg(log_wait(p->server_log, "cluster-up", NULL, NULL, 10000),
                  "%s never joined", name);
}

/* nats-server is up (its directory exists) before the secrets go in it. */
static void nats_make_dir(struct nats_proc *n)
{
    n->port = free_port();
    snprintf(n->dir, sizeof n->dir, "/tmp/msgd-nats-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(n->dir));
}

/* Two instances that heard each other route a message each way. */
static void route_both_ways(struct msgd_proc m[2])
{
    wait_mesh(m, names3, 2);
    struct tc *a = hello(m[0].port, "alice");
    struct tc *b = hello(m[1].port, "bob");
    wait_visible(a, "bob");
    wait_visible(b, "alice");
    tc_sendf(a, "SEND bob 5\nhello\n");
    tc_expect_msg(b, "alice", "bob", "hello", 5);
    tc_sendf(b, "SEND alice 2\nhi\n");
    tc_expect_msg(a, "bob", "alice", "hi", 2);
}

/* Mutual TLS: nats-server wants a client certificate from its CA, msgd
 * verifies the server's (IP SAN 127.0.0.1) against that CA. */
START_TEST(tls_mesh)
{
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    char conf[2048], cl[1200];
    ck_assert_msg(certs[0], "no certificates");
    snprintf(conf, sizeof conf,
             "tls {\n  cert_file: \"%s/server.crt\"\n"
             "  key_file: \"%s/server.key\"\n  ca_file: \"%s/ca.crt\"\n"
             "  verify: true\n  timeout: 2\n}\n",
             certs, certs, certs);
    n.conf = conf;
    nats_start(&n);
    snprintf(cl, sizeof cl,
             "tls = { ca = \"%s/ca.crt\"; cert = \"%s/client.crt\"; "
             "key = \"%s/client.key\"; };",
             certs, certs, certs);
    start_secured(&m[0], &n, "tls", "m1", cl);
    start_secured(&m[1], &n, "tls", "m2", cl);
    route_both_ways(m);

    /* Without a client certificate the server refuses the link. */
    struct msgd_proc x;
    snprintf(cl, sizeof cl,
             "cluster = { nats = \"tls://127.0.0.1:%d\"; name = \"x\"; "
             "tls = { ca = \"%s/ca.crt\"; }; };\n",
             n.port, certs);
    msgd_start(&x, cl);
    usleep(1500000);
    ck_assert_int_eq(log_count(x.server_log, "cluster-up", NULL, NULL), 0);
    ck_assert_int_eq(msgd_stop(&x), 0);
    all_down(&n, m, 2);
}
END_TEST

/* The permissions of msgd(8), SECURING THE CLUSTER LINK: msgd's user may
 * publish and subscribe only what msgd needs; "intruder", in the same
 * account, only under app.>. */
#define PERMS_CONF                                                             \
    "accounts {\n"                                                             \
    "  MSGD {\n"                                                               \
    "    jetstream: enabled\n"                                                 \
    "    users: [\n"                                                           \
    "      { user: msgd, password: \"pw-of-msgd\",\n"                          \
    "        permissions: {\n"                                                 \
    "          publish: [ \"msgd.>\", \"$KV.msgd-ids.>\", \"$JS.API.>\",\n"    \
    "                     \"$JS.FC.>\" ]\n"                                    \
    "          subscribe: [ \"msgd.>\", \"_INBOX.>\" ]\n"                      \
    "        } }\n"                                                            \
    "      { user: intruder, password: \"pw-of-intruder\",\n"                  \
    "        permissions: { publish: [ \"app.>\" ], "                          \
    "subscribe: [ \"app.>\" ] } }\n"                                           \
    "    ]\n"                                                                  \
    "  }\n"                                                                    \
    "}\n"

static natsConnection *intruder(const struct nats_proc *n)
{
    char url[64];
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", n->port);
    ck_assert_int_eq(natsOptions_Create(&o), NATS_OK);
    natsOptions_SetURL(o, url);
    natsOptions_SetUserInfo(o, "intruder", "pw-of-intruder");
    ck_assert_int_eq(natsConnection_Connect(&nc, o), NATS_OK);
    natsOptions_Destroy(o);
    return nc;
}

START_TEST(permissions_keep_intruder_out)
{
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    nats_make_dir(&n);
    n.conf = PERMS_CONF;
    nats_start(&n);
    const char *pw = secret_file(&n, "msgd.pw", "pw-of-msgd\n");
    char cl[600];
    snprintf(cl, sizeof cl, "user = \"msgd\"; password_file = \"%s\";", pw);
    start_secured(&m[0], &n, "nats", "m1", cl);
    start_secured(&m[1], &n, "nats", "m2", cl);
    route_both_ways(m);
    struct tc *a = opened[0], *b = opened[1];

    char inc1[17], inc2[17], subject[64], batch[256];
    incarnation(&m[0], NULL, inc1);
    incarnation(&m[0], "m2", inc2);
    snprintf(subject, sizeof subject, "msgd.i.%s", inc1);
    natsConnection *nc = intruder(&n);
    /* A message in m2's name, a kick of alice, and the id bucket: alice's
     * key deleted, mallory's put, the bucket's stream deleted. */
    int len = snprintf(batch, sizeof batch,
                       "FROM %s\nMSG bob alice 6\nforged\n", inc2);
    natsConnection_Publish(nc, subject, batch, len);
    len = snprintf(batch, sizeof batch, "FROM %s\nKICK alice evil\n", inc2);
    natsConnection_Publish(nc, subject, batch, len);
    natsMsg *del = NULL;
    natsMsg_Create(&del, "$KV.msgd-ids.alice", NULL, NULL, 0);
    natsMsgHeader_Set(del, "KV-Operation", "DEL");
    natsConnection_PublishMsg(nc, del);
    natsMsg_Destroy(del);
    natsConnection_PublishString(nc, "$KV.msgd-ids.mallory", "x");
    natsMsg *reply = NULL;
    ck_assert_int_ne(
        natsConnection_RequestString(
            &reply, nc, "$JS.API.STREAM.DELETE.KV_msgd-ids", "", 1000),
        NATS_OK);
    natsMsg_Destroy(reply);
    natsConnection_Flush(nc);

    /* alice is still there, and the next thing she gets is bob's. */
    tc_sendf(b, "SEND alice 5\nlegit\n");
    tc_expect_msg(a, "bob", "alice", "legit", 5);
    tc_sync(a);
    ck_assert_int_eq(
        log_count(m[0].client_log, "disconnect", "reason", "kicked"), 0);
    /* Nothing forged even reached m1 (a refusal would count it). */
    ck_assert_int_eq(stat_of(&m[0], "cluster_msgs_refused"), 0);
    ck_assert_int_eq(stat_of(&m[0], "cluster_input_refused"), 0);
    /* alice's id is still hers, mallory's still free. */
    struct tc *c = topen(m[1].port);
    tc_sendf(c, "HELLO alice\n");
    tc_expect(c, "ERR id-taken alice");
    tc_sendf(c, "HELLO mallory\n");
    const char *l = tc_line(c, 3000);
    ck_assert_ptr_nonnull(l);
    ck_assert_msg(strncmp(l, "OK mallory ", 11) == 0, "got %s", l);
    /* NATS told the intruder no, and msgd never met a limit of its
     * permissions: they are enough for all it does. */
    char nlog[300];
    snprintf(nlog, sizeof nlog, "%s/nats.log", n.dir);
    FILE *f = fopen(nlog, "r");
    ck_assert_ptr_nonnull(f);
    int refused = 0, refused_msgd = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        refused +=
            strstr(line, "Publish Violation - User \"intruder\"") != NULL;
        refused_msgd += strstr(line, "Violation - User \"msgd\"") != NULL;
    }
    fclose(f);
    ck_assert_int_ge(refused, 5);
    ck_assert_int_eq(refused_msgd, 0);
    natsConnection_Destroy(nc);
    nats_Close();
    all_down(&n, m, 2);
}
END_TEST

/* A token from token_file (its newline not part of it), and an NKey user
 * whose public key msgd derives from the seed file (the NATS
 * documentation's pair). */
START_TEST(token_and_nkey_mesh)
{
    struct nats_proc n = {0};
    struct msgd_proc m[2];
    nats_make_dir(&n);
    n.conf = "authorization { token: \"t0ken-of-the-cluster\" }\n";
    nats_start(&n);
    const char *tok = secret_file(&n, "token", "t0ken-of-the-cluster\n");
    char cl[600];
    snprintf(cl, sizeof cl, "token_file = \"%s\";", tok);
    start_secured(&m[0], &n, "nats", "m1", cl);
    start_secured(&m[1], &n, "nats", "m2", cl);
    route_both_ways(m);
    all_down(&n, m, 2);
    close_all();

    struct nats_proc k = {0};
    nats_make_dir(&k);
    k.conf = "authorization { users: [ { nkey: "
             "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4 } ] }\n";
    nats_start(&k);
    const char *seed = secret_file(
        &k, "user.nk",
        "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY\n");
    snprintf(cl, sizeof cl, "nkey_seed = \"%s\";", seed);
    start_secured(&m[0], &k, "nats", "m1", cl);
    start_secured(&m[1], &k, "nats", "m2", cl);
    route_both_ways(m);
    all_down(&k, m, 2);
}
END_TEST

/* msgd -t and the start name a credential file that cannot be read, with
 * its path and setting; nothing of a secret is printed. */
START_TEST(unreadable_credentials)
{
    struct msgd_proc p;
    char conf[1024];
    msgd_write_conf(&p, "cluster = { token_file = \"nope/token\"; };\n");
    const char *t[] = {"msgd", "-t", "-c", p.conf, NULL};
    ck_assert_int_eq(msgd_run(t, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "cluster.token_file ") &&
                      strstr(out, "/nope/token: No such file or directory") &&
                      strstr(out, ".conf:"),
                  "got %s", out);
    const char *f[] = {"msgd", "-f", "-c", p.conf, NULL};
    ck_assert_int_eq(msgd_run(f, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "/nope/token: No such file or directory"),
                  "got %s", out);

    /* A password file of mode 0000 (root reads it anyway). */
    char pw[400];
    snprintf(pw, sizeof pw, "%s/pw", p.dir);
    FILE *fp = fopen(pw, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("sesame-0123\n", fp);
    fclose(fp);
    chmod(pw, 0);
    snprintf(conf, sizeof conf,
             "cluster = { user = \"msgd\"; password_file = \"%s\"; };\n", pw);
    msgd_write_conf(&p, conf);
    int rc = msgd_run(t, out, sizeof out);
    if (geteuid() != 0) {
        ck_assert_int_eq(rc, 1);
        ck_assert_msg(strstr(out, "cluster.password_file ") &&
                          strstr(out, "/pw: Permission denied"),
                      "got %s", out);
    }
    ck_assert_ptr_null(strstr(out, "sesame"));
    /* An empty token file is refused at start, not sent. */
    chmod(pw, 0600);
    fp = fopen(pw, "w");
    ck_assert_ptr_nonnull(fp);
    fclose(fp);
    snprintf(conf, sizeof conf,
             "cluster = { token_file = \"%s\"; "
             "nats = \"nats://127.0.0.1:9\"; };\n",
             pw);
    msgd_write_conf(&p, conf);
    ck_assert_int_eq(msgd_run(f, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "cluster.token_file ") && strstr(out, ": empty"),
                  "got %s", out);
}
END_TEST
#endif

int main(void)
{
#ifndef HAVE_NATS
    fprintf(stderr, "test_cluster: msgd built without NATS: skipped\n");
    return 77;
#endif
    char probe[512];
    snprintf(probe, sizeof probe, "'%s' --version >/dev/null 2>&1",
             nats_server_path());
    if (system(probe) != 0) {
        fprintf(stderr, "test_cluster: no nats-server (set NATS_SERVER): "
                        "skipped\n");
        return 77;
    }
#ifdef HAVE_NATS
    if (make_certs_once() < 0) {
        fprintf(stderr, "test_cluster: tests/mkcerts.sh failed\n");
        return 1;
    }
#endif
    const TTest *const tests[] = {
        send_who_across_two,
        bcast_who_across_three,
        duplicate_id_rejected_then_free,
        duplicate_id_replaced_across,
        kick_and_list_across,
        msgsim_over_two_zero_loss,
        nats_stopped_and_restarted,
        instance_killed,
        nats_down_at_start,
#ifdef HAVE_NATS
        forged_msg_and_kick_refused,
        heartbeat_flood_bounded,
        heartbeat_flood_cpu,
        split_brain_after_pause,
        bucket_deleted_recreated,
        fresh_senders_not_refused,
        tls_mesh,
        permissions_keep_intruder_out,
        token_and_nkey_mesh,
        unreadable_credentials,
#endif
    };
    return run_suite("cluster", tests, sizeof tests / sizeof *tests);
}
