/* test_tls.c: tls:// listeners against the real msgd, with OpenSSL on the
 * client side too (and the openssl command as an outside client): nodes
 * over TLS and plain TCP talk to each other; client certificates under
 * verify_clients; and the bad input of msgd-protocol(7) and msgd(8): a
 * plaintext client on a TLS port, a TLS client on a plain port, a stalled
 * handshake, garbage after the handshake, a reset in the middle of a
 * record, an expired or mismatched certificate at start, an unreadable
 * key, and a reload with a broken certificate, each logged and costing
 * the other nodes nothing.  The certificates come from tests/mkcerts.sh.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "harness.h"

static char certs[256]; /* made once by mkcerts.sh */

static const char *cert(const char *name)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", certs, name);
    return p;
}

/* Once, before the tests fork. */
static int make_certs_once(void)
{
    snprintf(certs, sizeof certs, "/tmp/msgd-certs-XXXXXX");
    if (mkdtemp(certs) == NULL)
        return -1;
    chmod(certs, 0755); /* read by msgd -t as nobody in one test */
    char cmd[768];
    const char *srcdir = getenv("srcdir");
    snprintf(cmd, sizeof cmd, "sh %s/tests/mkcerts.sh %s",
             srcdir ? srcdir : ".", certs);
    return system(cmd) == 0 ? 0 : -1;
}

static void make_certs(void)
{
    ck_assert_msg(certs[0] != '\0', "no certificates");
}

/* A configuration with a plain and a TLS listener; extra goes into the
 * tls group. */
static void start_tls(struct msgd_proc *d, const char *tls_extra,
                      const char *extra)
{
    char conf[2048];
    make_certs();
    snprintf(conf, sizeof conf,
             "listen = [ \"127.0.0.1:0\", \"tls://127.0.0.1:0\" ];\n"
             "tls = { cert = \"%s\"; key = \"%s\"; %s };\n%s",
             cert("server.crt"), cert("server.key"), tls_extra ? tls_extra : "",
             extra ? extra : "");
    msgd_start(d, conf);
    ck_assert_int_gt(msgd_listen_port(d, 1), 0);
}

/* ---- a TLS test client: blocking OpenSSL over a socket ---- */

struct ttc {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    size_t len;
    char buf[1 << 20];
    char err[256];
};

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

/* Connects and handshakes, verifying the server against ca.crt and the
 * name localhost; with a client certificate when ccert is given.  Returns
 * the client, whose err says why the handshake failed if ssl is NULL. */
static struct ttc *ttc_open(int port, const char *ccert, const char *ckey)
{
    struct ttc *t = calloc(1, sizeof *t);
    ck_assert_ptr_nonnull(t);
    t->ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    ck_assert_int_eq(
        SSL_CTX_load_verify_locations(t->ctx, cert("ca.crt"), NULL), 1);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    if (ccert) {
        ck_assert_int_eq(
            SSL_CTX_use_certificate_file(t->ctx, ccert, SSL_FILETYPE_PEM), 1);
        ck_assert_int_eq(
            SSL_CTX_use_PrivateKey_file(t->ctx, ckey, SSL_FILETYPE_PEM), 1);
    }
    t->fd = tcp_connect(port);
    SSL *ssl = SSL_new(t->ctx);
    SSL_set_fd(ssl, t->fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set1_host(ssl, "localhost");
    if (SSL_connect(ssl) == 1) {
        t->ssl = ssl;
    } else {
        ERR_error_string_n(ERR_get_error(), t->err, sizeof t->err);
        SSL_free(ssl);
    }
    return t;
}

static void ttc_close(struct ttc *t)
{
    if (t->ssl)
        SSL_free(t->ssl);
    SSL_CTX_free(t->ctx);
    close(t->fd);
    free(t);
}

static void ttc_send(struct ttc *t, const void *data, size_t n)
{
    size_t w;
    ck_assert_ptr_nonnull(t->ssl);
    ck_assert_int_eq(SSL_write_ex(t->ssl, data, n, &w), 1);
    ck_assert_uint_eq(w, n);
}

static void ttc_sendf(struct ttc *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void ttc_sendf(struct ttc *t, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ttc_send(t, line, (size_t)n);
}

/* Reads until n bytes are buffered; 0, or -1 at EOF or error. */
static int ttc_fill(struct ttc *t, size_t n)
{
    while (t->len < n) {
        size_t got;
        if (SSL_read_ex(t->ssl, t->buf + t->len, sizeof t->buf - t->len,
                        &got) != 1)
            return -1;
        t->len += got;
    }
    return 0;
}

/* The next line, without its LF (static until the next call), or NULL. */
static const char *ttc_line(struct ttc *t)
{
    static char line[4096];
    for (;;) {
        char *lf = memchr(t->buf, '\n', t->len);
        if (lf) {
            size_t n = (size_t)(lf - t->buf);
            ck_assert_uint_lt(n, sizeof line);
            memcpy(line, t->buf, n);
            line[n] = '\0';
            memmove(t->buf, lf + 1, t->len - n - 1);
            t->len -= n + 1;
            return line;
        }
        if (ttc_fill(t, t->len + 1) < 0)
            return NULL;
    }
}

static void ttc_expect(struct ttc *t, const char *want)
{
    const char *got = ttc_line(t);
    ck_assert_msg(got != NULL, "expected \"%s\", got EOF", want);
    ck_assert_str_eq(got, want);
}

static struct ttc *ttc_hello(int port, const char *id)
{
    struct ttc *t = ttc_open(port, NULL, NULL);
    ck_assert_msg(t->ssl != NULL, "handshake failed: %s", t->err);
    ttc_sendf(t, "HELLO %s\n", id);
    const char *ok = ttc_line(t);
    ck_assert_ptr_nonnull(ok);
    ck_assert_msg(strncmp(ok, "OK ", 3) == 0, "got %s", ok);
    return t;
}

/* A node that must not have noticed anything. */
static void still_fine(struct ttc *t)
{
    ttc_sendf(t, "PING still\n");
    ttc_expect(t, "PONG still");
}

/* ---- tests ---- */

/* Nodes over TLS and over plain TCP reach each other, payloads of every
 * size arrive whole both ways, and WHO lists both. */
START_TEST(tls_and_plain_nodes_talk)
{
    struct msgd_proc d;
    start_tls(&d, NULL, "max_message_size = 1048576;");
    struct ttc *alice = ttc_hello(msgd_listen_port(&d, 1), "alice");
    struct tc *bob = tc_hello(msgd_listen_port(&d, 0), "bob");

    tc_sendf(bob, "SEND alice 5\nhello\n");
    ttc_expect(alice, "MSG bob alice 5");
    ttc_expect(alice, "hello");

    /* Larger than a TLS record, and than the daemon's read buffer. */
    size_t big = 300000;
    char *p = malloc(big);
    for (size_t i = 0; i < big; i++)
        p[i] = (char)('a' + i % 26);
    ttc_sendf(alice, "SEND bob %zu\n", big);
    ttc_send(alice, p, big);
    ttc_send(alice, "\n", 1);
    tc_expect_msg(bob, "alice", "bob", p, big);
    tc_sendf(bob, "SEND alice %zu\n", big);
    tc_send(bob, p, big);
    tc_send(bob, "\n", 1);
    char hdr[64];
    snprintf(hdr, sizeof hdr, "MSG bob alice %zu", big);
    ttc_expect(alice, hdr);
    ck_assert_int_eq(ttc_fill(alice, big + 1), 0);
    ck_assert(memcmp(alice->buf, p, big) == 0);
    ck_assert_int_eq(alice->buf[big], '\n');
    alice->len = 0;
    free(p);

    /* Many small frames gathered into records. */
    for (int i = 0; i < 500; i++)
        tc_sendf(bob, "SEND alice 3\n%03d\n", i);
    for (int i = 0; i < 500; i++) {
        char want[16];
        ttc_expect(alice, "MSG bob alice 3");
        snprintf(want, sizeof want, "%03d", i);
        ttc_expect(alice, want);
    }
    /* msgctl list says who came over TLS. */
    char out[8192];
    const char *ls[] = {msgctl_path(), "-s",     d.admin_socket, "--json",
                        "list",        "--sort", "id",           NULL};
    ck_assert_int_eq(prog_run(ls, out, sizeof out), 0);
    char *a = strstr(out, "\"id\":\"alice\""),
         *b = strstr(out, "\"id\":\"bob\"");
    ck_assert_msg(a && b && a < b, "got: %s", out);
    ck_assert_msg(strstr(a, "\"tls\":true") && strstr(a, "\"tls\":true") < b,
                  "got: %s", out);
    ck_assert_msg(strstr(b, "\"tls\":false") != NULL, "got: %s", out);

    ttc_sendf(alice, "BCAST 2\nhi\n");
    tc_expect_msg(bob, "alice", "*", "hi", 2);
    ttc_sendf(alice, "QUIT\n");
    ttc_expect(alice, "BYE quit");
    ttc_close(alice);
    tc_close(bob);
    ck_assert(log_wait(d.client_log, "disconnect", "reason", "quit", 3000));
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* The openssl command, an outside client, registers and pings. */
START_TEST(openssl_s_client_registers)
{
    struct msgd_proc d;
    start_tls(&d, NULL, NULL);
    char out[8192], cmd[1024];
    snprintf(cmd, sizeof cmd,
             "printf 'HELLO carol\\nPING t1\\nQUIT\\n' | "
             "openssl s_client -quiet -connect 127.0.0.1:%d -CAfile %s "
             "-verify_hostname localhost -verify_return_error 2>&1",
             msgd_listen_port(&d, 1), cert("ca.crt"));
    const char *argv[] = {"sh", "-c", cmd, NULL};
    prog_run(argv, out, sizeof out);
    ck_assert_msg(strstr(out, "OK carol idle=") != NULL, "got: %s", out);
    ck_assert_msg(strstr(out, "PONG t1") != NULL, "got: %s", out);
    ck_assert(log_wait(d.client_log, "register", "node", "carol", 3000));
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* A plaintext client on the TLS port is refused, logged as such. */
START_TEST(plaintext_client_on_tls_port)
{
    struct msgd_proc d;
    start_tls(&d, NULL, NULL);
    struct ttc *alice = ttc_hello(msgd_listen_port(&d, 1), "alice");
    struct tc *c = tc_open(msgd_listen_port(&d, 1));
    tc_sendf(c, "HELLO mallory\n");
    ck_assert(tc_eof(c, 5000));
    tc_close(c);
    ck_assert(log_wait(d.client_log, "reject", "code", "tls-handshake", 3000));
    ck_assert(file_contains(d.client_log, "not a TLS client"));
    ck_assert_int_eq(log_count(d.client_log, "register", "node", "mallory"), 0);
    still_fine(alice);
    ttc_close(alice);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* A TLS client on the plain port: the daemon says what it saw. */
START_TEST(tls_client_on_plain_port)
{
    struct msgd_proc d;
    start_tls(&d, NULL, NULL);
    struct tc *bob = tc_hello(msgd_listen_port(&d, 0), "bob");
    struct ttc *t = ttc_open(msgd_listen_port(&d, 0), NULL, NULL);
    ck_assert_ptr_null(t->ssl);
    ttc_close(t);
    ck_assert(log_wait(d.client_log, "disconnect", "error",
                       "a TLS handshake on a plain listener", 3000));
    tc_sync(bob);
    tc_close(bob);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* A handshake that stops halfway is cut at handshake_timeout; nodes that
 * did not stall go on meanwhile. */
START_TEST(stalled_handshake_cut)
{
    struct msgd_proc d;
    start_tls(&d, "handshake_timeout = 0.5;", NULL);
    struct ttc *alice = ttc_hello(msgd_listen_port(&d, 1), "alice");
    int fd = tcp_connect(msgd_listen_port(&d, 1));
    /* A record header that promises a ClientHello which never comes. */
    ck_assert_int_eq(write(fd, "\x16\x03\x01\x01\x00\x01", 6), 6);
    int silent = tcp_connect(msgd_listen_port(&d, 1)); /* says nothing */
    still_fine(alice);
    char b;
    ck_assert_int_eq(read(fd, &b, 1), 0); /* closed by the daemon */
    ck_assert_int_eq(read(silent, &b, 1), 0);
    close(fd);
    close(silent);
    ck_assert(log_wait(d.client_log, "reject", "error",
                       "not done within handshake_timeout", 3000));
    ck_assert_int_eq(log_count(d.client_log, "reject", "error",
                               "not done within handshake_timeout"),
                     2);
    still_fine(alice);
    char out[4096];
    const char *st[] = {msgctl_path(), "-s",    d.admin_socket,
                        "--json",      "stats", NULL};
    ck_assert_int_eq(prog_run(st, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "\"tls_handshakes\":1,") != NULL, "got: %s", out);
    ck_assert_msg(strstr(out, "\"tls_handshake_failures\":2,") != NULL,
                  "got: %s", out);
    ttc_close(alice);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* verify_clients = "require": a certificate of the CA gets in; none, or
 * one of another CA, does not, and the log says why. */
START_TEST(client_certificates_required)
{
    struct msgd_proc d;
    char extra[1024];
    make_certs();
    snprintf(extra, sizeof extra, "ca = \"%s\"; verify_clients = \"require\";",
             cert("ca.crt"));
    start_tls(&d, extra, NULL);
    int port = msgd_listen_port(&d, 1);

    struct ttc *good = ttc_open(port, cert("client.crt"), cert("client.key"));
    ck_assert_msg(good->ssl != NULL, "handshake failed: %s", good->err);
    ttc_sendf(good, "HELLO alice\n");
    ck_assert_ptr_nonnull(ttc_line(good));

    /* In TLS 1.3 the client learns of the refusal at its first read. */
    struct ttc *none = ttc_open(port, NULL, NULL);
    if (none->ssl) {
        SSL_write(none->ssl, "HELLO x\n", 8);
        ck_assert_ptr_null(ttc_line(none));
    }
    ttc_close(none);
    ck_assert(log_wait(d.client_log, "reject", "code", "tls-handshake", 3000));
    ck_assert(file_contains(d.client_log, "peer did not return a certificate"));

    struct ttc *other =
        ttc_open(port, cert("other-client.crt"), cert("other-client.key"));
    if (other->ssl) {
        SSL_write(other->ssl, "HELLO y\n", 8);
        ck_assert_ptr_null(ttc_line(other));
    }
    ttc_close(other);
    ck_assert(log_wait(d.client_log, "reject", "error",
                       "certificate verify failed: unable to get local issuer "
                       "certificate",
                       3000));
    still_fine(good);
    ttc_close(good);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* Garbage after a valid handshake, and a reset in the middle of a record:
 * each costs its own connection only, with a reason in the log. */
START_TEST(garbage_and_reset_after_handshake)
{
    struct msgd_proc d;
    start_tls(&d, NULL, NULL);
    int port = msgd_listen_port(&d, 1);
    struct ttc *alice = ttc_hello(port, "alice");

    struct ttc *g = ttc_hello(port, "garbage");
    ck_assert_int_eq(write(g->fd, "this is not a TLS record\n", 25), 25);
    char b[256];
    while (read(g->fd, b, sizeof b) > 0) /* an alert, then the end */
        ;
    ttc_close(g);
    ck_assert(log_wait(d.client_log, "disconnect", "node", "garbage", 3000));
    ck_assert(file_contains(d.client_log, "\"error\":\"TLS: "));

    struct ttc *r = ttc_hello(port, "reset");
    /* An application-data record header promising 1000 bytes, 10 of them,
     * then a reset. */
    ck_assert_int_eq(write(r->fd,
                           "\x17\x03\x03\x03\xe8"
                           "0123456789",
                           15),
                     15);
    struct linger lg = {1, 0};
    setsockopt(r->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ttc_close(r);
    ck_assert(log_wait(d.client_log, "disconnect", "node", "reset", 3000));

    still_fine(alice);
    ttc_close(alice);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* Certificates that cannot serve stop the start, and msgd -t, with the
 * path and the reason. */
START_TEST(bad_certificates_refused_at_start)
{
    struct msgd_proc d;
    char conf[2048], out[4096];
    make_certs();
    struct {
        const char *cert, *key, *want;
    } cases[] = {
        {"expired.crt", "expired.key", "the certificate expired on 2020-02-01"},
        {"server.crt", "wrong.key", "does not match the certificate"},
        {"server.crt", "nonexistent.key", "nonexistent.key: No such file"},
        {"ca.key", "server.key", "ca.key: "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(conf, sizeof conf,
                 "listen = [ \"tls://127.0.0.1:0\" ];\n"
                 "tls = { cert = \"%s\"; key = \"%s\"; };\n",
                 cert(cases[i].cert), cert(cases[i].key));
        msgd_write_conf(&d, conf);
        const char *t[] = {"msgd", "-t", "-c", d.conf, NULL};
        ck_assert_int_eq(msgd_run(t, out, sizeof out), 1);
        ck_assert_msg(strstr(out, cases[i].want) != NULL, "case %zu: %s", i,
                      out);
        const char *f[] = {"msgd", "-f", "-c", d.conf, NULL};
        ck_assert_int_eq(msgd_run(f, out, sizeof out), 1);
        ck_assert_msg(strstr(out, cases[i].want) != NULL, "case %zu: %s", i,
                      out);
    }
    /* Good files pass -t. */
    snprintf(conf, sizeof conf,
             "listen = [ \"tls://127.0.0.1:0\" ];\n"
             "tls = { cert = \"%s\"; key = \"%s\"; };\n",
             cert("server.crt"), cert("server.key"));
    msgd_write_conf(&d, conf);
    const char *t[] = {"msgd", "-t", "-c", d.conf, NULL};
    ck_assert_int_eq(msgd_run(t, out, sizeof out), 0);
}
END_TEST

/* A key the daemon's user cannot read: msgd -t as that user says so. */
START_TEST(unreadable_key_refused)
{
    if (geteuid() != 0)
        return; /* only root can be someone else */
    struct passwd *pw = getpwnam("nobody");
    ck_assert_ptr_nonnull(pw);
    struct msgd_proc d;
    char conf[2048], out[4096], key[600];
    make_certs();
    snprintf(key, sizeof key, "%s/root-only.key", certs);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp %s %s && chmod 600 %s", cert("server.key"),
             key, key);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(conf, sizeof conf,
             "listen = [ \"tls://127.0.0.1:0\" ];\n"
             "tls = { cert = \"%s\"; key = \"%s\"; };\n",
             cert("server.crt"), key);
    msgd_write_conf(&d, conf);
    chmod(d.dir, 0755);
    chmod(d.conf, 0644);
    const char *t[] = {getenv("MSGD"), "-t", "-c", d.conf, NULL};
    ck_assert_ptr_nonnull(t[0]);
    ck_assert_int_eq(prog_run_as(pw->pw_uid, pw->pw_gid, t, out, sizeof out),
                     1);
    ck_assert_msg(strstr(out, "root-only.key: Permission denied") != NULL,
                  "got: %s", out);
}
END_TEST

static int peer_is(SSL *ssl, const char *crt_path)
{
    X509 *peer = SSL_get1_peer_certificate(ssl);
    FILE *f = fopen(crt_path, "r");
    X509 *want = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    int same = peer && want && X509_cmp(peer, want) == 0;
    X509_free(peer);
    X509_free(want);
    return same;
}

/* SIGHUP or msgctl reload re-reads the files: a broken certificate keeps
 * the old one in force (and says so, with the path); a renewed one serves
 * new connections while open ones keep theirs. */
START_TEST(reload_keeps_old_material_on_error)
{
    struct msgd_proc d;
    char crt[600], key[600], tls[1400], out[4096], cmd[2048];
    make_certs();
    struct msgd_proc scratch;
    msgd_write_conf(&scratch, ""); /* a private directory for the files */
    snprintf(crt, sizeof crt, "%s/live.crt", scratch.dir);
    snprintf(key, sizeof key, "%s/live.key", scratch.dir);
    snprintf(cmd, sizeof cmd, "cp %s %s && cp %s %s", cert("server.crt"), crt,
             cert("server.key"), key);
    ck_assert_int_eq(system(cmd), 0);
    char conf[2048];
    snprintf(conf, sizeof conf,
             "listen = [ \"127.0.0.1:0\", \"tls://127.0.0.1:0\" ];\n"
             "tls = { cert = \"%s\"; key = \"%s\"; };\n",
             crt, key);
    (void)tls;
    msgd_start(&d, conf);
    int port = msgd_listen_port(&d, 1);
    struct ttc *alice = ttc_hello(port, "alice");
    ck_assert(peer_is(alice->ssl, cert("server.crt")));

    /* Broken: the old certificate stays in force. */
    FILE *f = fopen(crt, "w");
    fputs("-----BEGIN CERTIFICATE-----\nnot base64\n", f);
    fclose(f);
    const char *rl[] = {msgctl_path(), "-s", d.admin_socket, "reload", NULL};
    ck_assert_int_eq(prog_run(rl, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "live.crt") != NULL, "got: %s", out);
    ck_assert(log_wait(d.server_log, "error", "msg",
                       "TLS files not reloaded: the old ones stay in force",
                       3000));
    struct ttc *bob = ttc_hello(port, "bob");
    ck_assert(peer_is(bob->ssl, cert("server.crt")));

    /* Renewed: new connections get the new one, by SIGHUP too. */
    snprintf(cmd, sizeof cmd, "cp %s %s && cp %s %s", cert("server2.crt"), crt,
             cert("server2.key"), key);
    ck_assert_int_eq(system(cmd), 0);
    kill(d.pid, SIGHUP);
    ck_assert(log_wait(d.server_log, "reload", "result", "ok", 3000));
    struct ttc *carol = NULL;
    for (int i = 0; i < 100; i++) { /* the reload runs in the daemon's loop */
        carol = ttc_hello(port, "carol");
        if (peer_is(carol->ssl, cert("server2.crt")))
            break;
        ttc_sendf(carol, "QUIT\n");
        ttc_close(carol);
        carol = NULL;
        usleep(20000);
    }
    ck_assert_ptr_nonnull(carol);
    still_fine(alice);
    still_fine(bob);
    ttc_close(alice);
    ttc_close(bob);
    ttc_close(carol);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* Failed handshakes by the hundred leave no memory behind. */
START_TEST(failed_handshakes_leave_rss)
{
#if defined(__SANITIZE_ADDRESS__)
    return;
#endif
    if (msgd_under_wrapper())
        return;
    struct msgd_proc d;
    start_tls(&d, NULL, NULL);
    int port = msgd_listen_port(&d, 1);
    struct ttc *alice = ttc_hello(port, "alice");
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 300; i++) {
            struct tc *c = tc_open(port);
            tc_sendf(c, "HELLO x%d\n", i);
            tc_eof(c, 5000);
            tc_close(c);
            struct ttc *t = ttc_hello(port, "churn");
            ttc_sendf(t, "QUIT\n");
            ttc_close(t);
        }
        still_fine(alice);
        if (round == 0)
            continue;
    }
    long warm = msgd_rss_kb(&d);
    for (int i = 0; i < 600; i++) {
        struct tc *c = tc_open(port);
        tc_sendf(c, "HELLO x%d\n", i);
        tc_eof(c, 5000);
        tc_close(c);
        struct ttc *t = ttc_hello(port, "churn");
        ttc_sendf(t, "QUIT\n");
        ttc_close(t);
    }
    still_fine(alice);
    long after = msgd_rss_kb(&d);
    ck_assert_msg(after <= warm + 1024,
                  "RSS %ld kB after warm-up, %ld kB after", warm, after);
    ttc_close(alice);
    ck_assert_int_eq(msgd_stop(&d), 0);
}
END_TEST

/* tls:// needs the tls group; -V says what the build can do. */
START_TEST(config_rules)
{
    struct msgd_proc d;
    char out[4096];
    msgd_write_conf(&d, "listen = [ \"tls://127.0.0.1:0\" ];\n");
    const char *t[] = {"msgd", "-t", "-c", d.conf, NULL};
    ck_assert_int_eq(msgd_run(t, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "needs the tls group") != NULL, "got: %s", out);
    ck_assert_msg(strstr(out, "msgd.conf:") != NULL, "got: %s", out);

    make_certs();
    char conf[2048];
    snprintf(conf, sizeof conf,
             "tls = { cert = \"%s\"; key = \"%s\"; verify_clients = "
             "\"require\"; };\n",
             cert("server.crt"), cert("server.key"));
    msgd_write_conf(&d, conf);
    ck_assert_int_eq(msgd_run(t, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "needs 'tls.ca'") != NULL, "got: %s", out);

    const char *v[] = {"msgd", "-V", NULL};
    ck_assert_int_eq(msgd_run(v, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "tls: OpenSSL 3") != NULL, "got: %s", out);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {
        tls_and_plain_nodes_talk,
        openssl_s_client_registers,
        plaintext_client_on_tls_port,
        tls_client_on_plain_port,
        stalled_handshake_cut,
        client_certificates_required,
        garbage_and_reset_after_handshake,
        bad_certificates_refused_at_start,
        unreadable_key_refused,
        reload_keeps_old_material_on_error,
        failed_handshakes_leave_rss,
        config_rules,
    };
    if (make_certs_once() < 0) {
        fprintf(stderr, "test_tls: tests/mkcerts.sh failed\n");
        return 99;
    }
    int rc = run_suite("tls", tests, sizeof tests / sizeof *tests);
    if (certs[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", certs);
        if (system(cmd) != 0)
            rc = 1;
    }
    return rc;
}
