/* test_tls_client.c: the clients over TLS and with AUTH against the real
 * msgd: libmsgclient's verification (a good CA, a wrong CA, a wrong name,
 * files that do not load), client certificates under verify_clients =
 * "require", 10,000 messages through the non-blocking interface without
 * loss, mc_login and the secret wiped from the client's buffer; then
 * msgnode and msgsim over TLS.  The certificates come from
 * tests/mkcerts.sh.  Without OpenSSL the whole test is skipped (77).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <stdio.h>
#include <stdlib.h>

#ifndef HAVE_OPENSSL
int main(void)
{
    puts("test_tls_client: TLS not built in; skipped");
    return 77;
}
#else

#include <check.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "harness.h"
#include "msgclient-internal.h"
#include "msgclient.h"

static char certs[256]; /* made once by mkcerts.sh */

static const char *cert(const char *name)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", certs, name);
    return p;
}

static int make_certs_once(void)
{
    snprintf(certs, sizeof certs, "/tmp/msgd-certs-XXXXXX");
    if (mkdtemp(certs) == NULL)
        return -1;
    char cmd[768];
    const char *srcdir = getenv("srcdir");
    snprintf(cmd, sizeof cmd, "sh %s/tests/mkcerts.sh %s",
             srcdir ? srcdir : ".", certs);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes dir/users with alice:secret1 (libsodium's lowest cost). */
static void write_users(const char *dir)
{
    char path[512], h[crypto_pwhash_STRBYTES];
    ck_assert_int_eq(crypto_pwhash_str(h, "secret1", 7,
                                       crypto_pwhash_OPSLIMIT_MIN,
                                       crypto_pwhash_MEMLIMIT_MIN),
                     0);
    snprintf(path, sizeof path, "%s/users", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "alice:%s\n", h);
    fclose(f);
}

/* msgd with a plain and a TLS listener; tls_extra goes into the tls
 * group, extra after it; with auth, an auth group over dir/users. */
static int start_tls(struct msgd_proc *d, const char *tls_extra,
                     const char *extra, int auth)
{
    char conf[4096];
    snprintf(conf, sizeof conf,
             "listen = [ \"127.0.0.1:0\", \"tls://127.0.0.1:0\" ];\n"
             "tls = { cert = \"%s\"; key = \"%s\"; %s };\n%s%s",
             cert("server.crt"), cert("server.key"), tls_extra ? tls_extra : "",
             auth ? "auth = { users_file = \"users\"; };\n" : "",
             extra ? extra : "");
    msgd_write_conf(d, conf);
    if (auth)
        write_users(d->dir);
    msgd_start_written(d);
    int port = msgd_listen_port(d, 1);
    ck_assert_int_gt(port, 0);
    return port;
}

static struct mc_tls *tls_ctx(const char *ca, const char *ccert,
                              const char *ckey, const char *name)
{
    char err[512];
    struct mc_tls_options o = {.ca_file = ca,
                               .cert_file = ccert,
                               .key_file = ckey,
                               .server_name = name};
    struct mc_tls *t = mc_tls_new(&o, err, sizeof err);
    ck_assert_msg(t != NULL, "%s", err);
    return t;
}

/* A client over TLS, or NULL with the library's error in err. */
static struct mc_client *tls_client(const char *host, int port,
                                    struct mc_tls *t, char *err, size_t len)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    struct mc_client *c = mc_new(0);
    ck_assert_ptr_nonnull(c);
    if (mc_connect_tls(c, host, p, t, 5000) == 0)
        return c;
    snprintf(err, len, "%s", mc_error(c));
    mc_free(c);
    return NULL;
}

static void do_register(struct mc_client *c, const char *id)
{
    const char *code = NULL;
    ck_assert_msg(mc_register(c, id, &code, 5000) == 0, "%s", mc_error(c));
}

START_TEST(verified_connection)
{
    struct msgd_proc d;
    char err[512];
    int port = start_tls(&d, NULL, NULL, 0);
    struct mc_tls *t = tls_ctx(cert("ca.crt"), NULL, NULL, NULL);
    struct mc_client *a = tls_client("127.0.0.1", port, t, err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    struct mc_client *b = tls_client("localhost", port, t, err, sizeof err);
    ck_assert_msg(b != NULL, "%s", err);
    mc_tls_free(t); /* the clients keep what they need */
    do_register(a, "a");
    do_register(b, "b");
    ck_assert_int_eq(mc_send(a, "b", "over tls", 8), 0);
    ck_assert_int_eq(mc_sync(a, 5000, NULL), 0);
    struct mc_event ev;
    ck_assert_int_eq(mc_wait_event(b, &ev, 5000), 1);
    ck_assert_int_eq(ev.type, MC_EV_MSG);
    ck_assert_uint_eq(ev.len, 8);
    ck_assert(memcmp(ev.data, "over tls", 8) == 0);
    ck_assert_int_eq(mc_quit(a), 0);
    ck_assert_int_eq(mc_wait_event(a, &ev, 5000), 1);
    ck_assert_int_eq(ev.type, MC_EV_BYE);
    mc_free(a);
    mc_free(b);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(refused_servers_and_files)
{
    struct msgd_proc d;
    char err[512], want[256];
    int port = start_tls(&d, NULL, NULL, 0);

    struct mc_tls *other = tls_ctx(cert("other-ca.crt"), NULL, NULL, NULL);
    ck_assert_ptr_null(tls_client("127.0.0.1", port, other, err, sizeof err));
    snprintf(want, sizeof want,
             "TLS handshake with 127.0.0.1:%d failed: certificate verify "
             "failed (unable to get local issuer certificate)",
             port);
    ck_assert_str_eq(err, want);
    mc_tls_free(other);

    struct mc_tls *wrong =
        tls_ctx(cert("ca.crt"), NULL, NULL, "wrong.example.org");
    ck_assert_ptr_null(tls_client("127.0.0.1", port, wrong, err, sizeof err));
    ck_assert_msg(strstr(err, "certificate verify failed (hostname "
                              "mismatch)") != NULL,
                  "got: %s", err);
    mc_tls_free(wrong);

    /* The plain port is no TLS server. */
    struct mc_tls *t = tls_ctx(cert("ca.crt"), NULL, NULL, NULL);
    ck_assert_ptr_null(
        tls_client("127.0.0.1", d.port, t, err, sizeof err));
    ck_assert_msg(strstr(err, "TLS handshake with 127.0.0.1:") != NULL,
                  "got: %s", err);
    mc_tls_free(t);

    struct mc_tls_options o = {.ca_file = "/nonexistent/ca.crt"};
    ck_assert_ptr_null(mc_tls_new(&o, err, sizeof err));
    ck_assert_str_eq(err, "cannot load CA file /nonexistent/ca.crt: No such "
                          "file or directory");
    o = (struct mc_tls_options){.ca_file = cert("ca.crt"),
                                .cert_file = cert("client.crt"),
                                .key_file = cert("wrong.key")};
    ck_assert_ptr_null(mc_tls_new(&o, err, sizeof err));
    ck_assert_msg(strstr(err, "wrong.key: key values mismatch") != NULL,
                  "got: %s", err);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(client_certificate)
{
    struct msgd_proc d;
    char err[512], extra[1024], out[8192];
    snprintf(extra, sizeof extra, "ca = \"%s\"; verify_clients = \"require\";",
             cert("ca.crt"));
    int port = start_tls(&d, extra, NULL, 0);
    struct mc_tls *t =
        tls_ctx(cert("ca.crt"), cert("client.crt"), cert("client.key"), NULL);
    struct mc_client *a = tls_client("127.0.0.1", port, t, err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    do_register(a, "node-a");
    const char *ls[] = {msgctl_path(), "-s", d.admin_socket, "--json", "list",
                        NULL};
    ck_assert_int_eq(prog_run(ls, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "\"user\":\"alice\"") != NULL, "got: %s", out);

    /* Without a certificate: in TLS 1.3 the refusal comes after the
     * client's side of the handshake, at the first read. */
    struct mc_tls *none = tls_ctx(cert("ca.crt"), NULL, NULL, NULL);
    struct mc_client *b = tls_client("127.0.0.1", port, none, err, sizeof err);
    if (b != NULL) {
        const char *code = NULL;
        ck_assert_int_eq(mc_register(b, "node-b", &code, 5000), -1);
        snprintf(err, sizeof err, "%s", mc_error(b));
        mc_free(b);
    }
    /* The alert, or, when the server's reset overtakes it, the close. */
    ck_assert_msg(strstr(err, "certificate required") != NULL ||
                      strstr(err, "closed the connection") != NULL,
                  "got: %s", err);
    ck_assert(log_wait(d.client_log, "reject", "code", "tls-handshake", 3000));
    ck_assert(file_contains(d.client_log, "peer did not return a certificate"));
    mc_free(a);
    mc_tls_free(t);
    mc_tls_free(none);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* 10,000 messages a -> b through the poll loop of msgclient(3), with
 * mc_pending for what TLS decrypted already. */
START_TEST(nonblocking_ten_thousand)
{
    enum { N = 10000 };
    struct msgd_proc d;
    char err[512];
    int port = start_tls(&d, NULL, "max_output_buffer = 67108864;", 0);
    struct mc_tls *t = tls_ctx(cert("ca.crt"), NULL, NULL, NULL);
    struct mc_client *a = tls_client("127.0.0.1", port, t, err, sizeof err);
    struct mc_client *b = tls_client("127.0.0.1", port, t, err, sizeof err);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    do_register(a, "a");
    do_register(b, "b");
    int sent = 0, got = 0;
    while (got < N) {
        for (int k = 0; k < 64 && sent < N; k++, sent++) {
            char msg[32];
            int n = snprintf(msg, sizeof msg, "m%d", sent);
            ck_assert_int_eq(mc_send(a, "b", msg, (size_t)n), 0);
        }
        struct pollfd p[2] = {
            {.fd = mc_fd(a),
             .events = POLLIN | (mc_want_write(a) ? POLLOUT : 0)},
            {.fd = mc_fd(b),
             .events = POLLIN | (mc_want_write(b) ? POLLOUT : 0)},
        };
        if (mc_flush(a) < 0 || mc_flush(b) < 0)
            ck_abort_msg("flush: %s / %s", mc_error(a), mc_error(b));
        int wait = mc_pending(b) > 0 || mc_pending(a) > 0 ? 0 : 5000;
        ck_assert_int_ge(poll(p, 2, wait), 0);
        if ((p[0].revents & POLLIN) || mc_pending(a) > 0)
            ck_assert_int_ge(mc_read(a), 0);
        if ((p[1].revents & POLLIN) || mc_pending(b) > 0)
            ck_assert_int_ge(mc_read(b), 0);
        struct mc_event ev;
        while (mc_next_event(b, &ev) == 1) {
            char want[32];
            ck_assert_int_eq(ev.type, MC_EV_MSG);
            int n = snprintf(want, sizeof want, "m%d", got++);
            ck_assert_uint_eq(ev.len, (size_t)n);
            ck_assert(memcmp(ev.data, want, ev.len) == 0);
        }
        while (mc_next_event(a, &ev) == 1)
            ck_abort_msg("a got event %d", (int)ev.type);
    }
    ck_assert_int_eq(got, N);
    mc_free(a);
    mc_free(b);
    mc_tls_free(t);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

static int buffer_holds(const struct mc_client *c, const char *s)
{
    const char *buf;
    size_t len;
    mcx_test_out_buffer(c, &buf, &len);
    return buf != NULL && memmem(buf, len, s, strlen(s)) != NULL;
}

START_TEST(login_over_tls)
{
    struct msgd_proc d;
    char err[512];
    const char *code = NULL;
    int port = start_tls(&d, NULL, NULL, 1);
    struct mc_tls *t = tls_ctx(cert("ca.crt"), NULL, NULL, NULL);

    struct mc_client *a = tls_client("127.0.0.1", port, t, err, sizeof err);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(mc_register(a, "early", &code, 5000), 1);
    ck_assert_str_eq(code, "auth-required");
    ck_assert_int_eq(mc_login(a, "alice", "wrong", &code, 5000), 1);
    ck_assert_str_eq(code, "auth-failed");
    /* Queued, the secret is in the buffer; written, it is gone. */
    ck_assert_int_eq(mc_auth(a, "alice", "secret1"), 0);
    ck_assert(buffer_holds(a, "secret1"));
    ck_assert_int_eq(mc_flush(a), 0);
    ck_assert(!buffer_holds(a, "secret1"));
    struct mc_event ev;
    ck_assert_int_eq(mc_wait_event(a, &ev, 5000), 1);
    ck_assert_int_eq(ev.type, MC_EV_AUTH);
    ck_assert_str_eq(ev.id, "alice");
    do_register(a, "a");

    /* mc_login, and a node called "auth", whose OK is no MC_EV_AUTH. */
    struct mc_client *b = tls_client("127.0.0.1", port, t, err, sizeof err);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(mc_login(b, "alice", "secret1", &code, 5000), 0);
    ck_assert(!buffer_holds(b, "secret1"));
    do_register(b, "auth");
    ck_assert(mc_server_idle(b) >= 0);

    /* An unsent secret goes with the connection. */
    struct mc_client *c = tls_client("127.0.0.1", port, t, err, sizeof err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(mc_auth(c, "alice", "secret1"), 0);
    mc_close(c);
    ck_assert(!buffer_holds(c, "secret1"));
    ck_assert_int_eq(mc_auth(a, "alice", "two\nlines"), -1);
    mc_free(a);
    mc_free(b);
    mc_free(c);
    mc_tls_free(t);
    ck_assert(!file_contains(d.client_log, "secret1"));
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

static const char *tool(const char *env, const char *fallback)
{
    const char *p = getenv(env);
    return p ? p : fallback;
}

START_TEST(msgnode_over_tls)
{
    struct msgd_proc d;
    char out[8192], url[64], pw[512];
    int port = start_tls(&d, NULL, NULL, 1);
    snprintf(url, sizeof url, "tls://127.0.0.1:%d", port);
    snprintf(pw, sizeof pw, "%s/pw", d.dir);
    FILE *f = fopen(pw, "w");
    fputs("secret1\n", f);
    fclose(f);
    const char *nd = tool("MSGNODE", "src/msgnode");

    /* Logged in, a message to itself over TLS. */
    const char *ok[] = {nd,     "-H",   url,  "--ca", cert("ca.crt"),
                        "--user", "alice", "--password-file", pw,
                        "-i",   "n1",   "-t", "n1", "-m", "hello", NULL};
    ck_assert_msg(prog_run(ok, out, sizeof out) == 0, "got: %s", out);
    /* No login on an auth server: 77. */
    const char *noauth[] = {nd, "-H", url, "--ca", cert("ca.crt"),
                            "-i", "n2", "-t", "n2", "-m", "x", NULL};
    ck_assert_int_eq(prog_run(noauth, out, sizeof out), 77);
    ck_assert_msg(strstr(out, "--user") != NULL, "got: %s", out);
    /* A wrong password: 77, with no echo of it. */
    f = fopen(pw, "w");
    fputs("nope-nope\n", f);
    fclose(f);
    ck_assert_int_eq(prog_run(ok, out, sizeof out), 77);
    ck_assert_msg(strstr(out, "wrong user name or password") != NULL,
                  "got: %s", out);
    ck_assert(strstr(out, "nope-nope") == NULL);
    /* The wrong CA: 69 and the reason; a CA that does not load: 66. */
    const char *bad[] = {nd, "-H", url, "--ca", cert("other-ca.crt"),
                         "-i", "n3", "-t", "n3", "-m", "x", NULL};
    ck_assert_int_eq(prog_run(bad, out, sizeof out), 69);
    ck_assert_msg(strstr(out, "certificate verify failed") != NULL, "got: %s",
                  out);
    const char *nofile[] = {nd, "-H", url, "--ca", "/nonexistent",
                            "-i", "n3", "-t", "n3", "-m", "x", NULL};
    ck_assert_int_eq(prog_run(nofile, out, sizeof out), 66);
    ck_assert_msg(strstr(out, "cannot load CA file /nonexistent") != NULL,
                  "got: %s", out);
    ck_assert(!file_contains(d.client_log, "secret1"));
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

START_TEST(msgsim_own_tls)
{
    char out[16384];
    const char *sim = tool("MSGSIM", "src/msgsim");
    const char *argv[] = {sim, "--tls", "--auth", "-n", "20", "-m", "200",
                          "-q", NULL};
    ck_assert_msg(prog_run(argv, out, sizeof out) == 0, "got: %s", out);
    ck_assert_msg(strstr(out, "lost:          0\n") != NULL, "got: %s", out);
    ck_assert_msg(strstr(out, "result:        ok") != NULL, "got: %s", out);
}
END_TEST

START_TEST(msgsim_connect_tls)
{
    struct msgd_proc d;
    char out[16384], url[64];
    int port = start_tls(&d, NULL, NULL, 0);
    snprintf(url, sizeof url, "tls://127.0.0.1:%d", port);
    const char *sim = tool("MSGSIM", "src/msgsim");
    const char *argv[] = {sim, "--connect", url, "--ca", cert("ca.crt"), "-n",
                          "10", "-m", "300", "-q", NULL};
    ck_assert_msg(prog_run(argv, out, sizeof out) == 0, "got: %s", out);
    ck_assert_msg(strstr(out, "lost:          0\n") != NULL, "got: %s", out);
    const char *bad[] = {sim, "--connect", url, "--ca", cert("other-ca.crt"),
                         "-q", NULL};
    ck_assert_int_eq(prog_run(bad, out, sizeof out), 69);
    ck_assert_msg(strstr(out, "certificate verify failed") != NULL, "got: %s",
                  out);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        verified_connection,      refused_servers_and_files,
        client_certificate,       nonblocking_ten_thousand,
        login_over_tls,           msgnode_over_tls,
        msgsim_own_tls,           msgsim_connect_tls,
    };
    if (sodium_init() < 0 || make_certs_once() < 0) {
        fprintf(stderr, "test_tls_client: tests/mkcerts.sh failed\n");
        return 99;
    }
    int rc = run_suite("tls_client", tests, sizeof tests / sizeof *tests);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", certs);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
#endif
