/* tls.c: libmsgclient's TLS (OpenSSL): struct mc_tls, one client SSL_CTX
 * loaded once and shared by any number of connections (msgsim runs
 * thousands), and the per-connection transport of tls.h.  The server's
 * certificate and name are verified unless the caller says otherwise;
 * buffers are released while a connection is idle, so that idle clients
 * stay small.  Built without OpenSSL, the same calls say "TLS not built
 * in".
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "msgclient.h"
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_OPENSSL

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct mc_tls {
    SSL_CTX *ctx;
    char *server_name; /* NULL: the host given to mc_connect_tls */
    int no_verify;
    unsigned refs; /* the caller's, plus one per client that reconnects */
};

struct mct_conn {
    SSL *ssl;
    char hostport[300]; /* for messages */
};

int mc_tls_available(void)
{
    return 1;
}

/* OpenSSL's reason for the last error, or fallback. */
static const char *ossl_reason(const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : fallback;
}

/* "cannot load CA file PATH: why": the system's words when the file
 * cannot be read at all, OpenSSL's when its content is wrong. */
static struct mc_tls *new_fail(struct mc_tls *t, char *err, size_t errlen,
                               const char *what, const char *path)
{
    if (access(path, R_OK) < 0)
        snprintf(err, errlen, "cannot load %s %s: %s", what, path,
                 strerror(errno));
    else
        snprintf(err, errlen, "cannot load %s %s: %s", what, path,
                 ossl_reason("not in PEM format"));
    mc_tls_free(t);
    return NULL;
}

struct mc_tls *mc_tls_new(const struct mc_tls_options *o, char *err,
                          size_t errlen)
{
    static const struct mc_tls_options none = {0};
    if (o == NULL)
        o = &none;
    struct mc_tls *t = calloc(1, sizeof *t);
    if (t)
        t->refs = 1;
    ERR_clear_error();
    errno = 0;
    if (t == NULL || (t->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
        (o->server_name && (t->server_name = strdup(o->server_name)) == NULL)) {
        snprintf(err, errlen, "TLS: %s", ossl_reason("out of memory"));
        mc_tls_free(t);
        return NULL;
    }
    t->no_verify = o->no_verify;
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    /* Partial writes from a buffer that may move (mc_client's output
     * grows and compacts between retries); buffers freed while idle. */
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                 SSL_MODE_RELEASE_BUFFERS);
    if (o->ca_file) {
        if (SSL_CTX_load_verify_locations(t->ctx, o->ca_file, NULL) != 1)
            return new_fail(t, err, errlen, "CA file", o->ca_file);
    } else if (!o->no_verify && SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
        snprintf(err, errlen, "cannot load the system's CA certificates: %s",
                 ossl_reason("unknown error"));
        mc_tls_free(t);
        return NULL;
    }
    if (o->key_file && o->cert_file == NULL) {
        snprintf(err, errlen, "a client key needs its certificate");
        mc_tls_free(t);
        return NULL;
    }
    if (o->cert_file) {
        const char *key = o->key_file ? o->key_file : o->cert_file;
        if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert_file) != 1)
            return new_fail(t, err, errlen, "certificate", o->cert_file);
        if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1)
            return new_fail(t, err, errlen, "key", key);
        if (SSL_CTX_check_private_key(t->ctx) != 1) {
            snprintf(err, errlen, "key %s does not match certificate %s", key,
                     o->cert_file);
            mc_tls_free(t);
            return NULL;
        }
    }
    SSL_CTX_set_verify(t->ctx, o->no_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                       NULL);
    return t;
}

/* Connections hold their own reference to the SSL_CTX (SSL_new takes
 * one), so t may go before them. */
void mc_tls_free(struct mc_tls *t)
{
    if (t == NULL || --t->refs > 0)
        return;
    SSL_CTX_free(t->ctx);
    free(t->server_name);
    free(t);
}

struct mc_tls *mct_hold(struct mc_tls *t)
{
    if (t)
        t->refs++;
    return t;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Why the handshake failed, in words: the verification result first,
 * as that is what the user can act on. */
static void handshake_error(struct mct_conn *tc, int rc, char *err,
                            size_t errlen)
{
    long vr = SSL_get_verify_result(tc->ssl);
    int se = SSL_get_error(tc->ssl, rc);
    unsigned long e = ERR_peek_last_error();
    if (vr != X509_V_OK)
        snprintf(err, errlen,
                 "TLS handshake with %s failed: certificate verify failed (%s)",
                 tc->hostport, X509_verify_cert_error_string(vr));
    else if (e)
        snprintf(err, errlen, "TLS handshake with %s failed: %s", tc->hostport,
                 ossl_reason("unknown error"));
    else if (se == SSL_ERROR_SYSCALL && errno)
        snprintf(err, errlen, "TLS handshake with %s failed: %s", tc->hostport,
                 strerror(errno));
    else
        snprintf(err, errlen,
                 "TLS handshake with %s failed: the server closed the "
                 "connection",
                 tc->hostport);
}

struct mct_conn *mct_connect(struct mc_tls *t, int fd, const char *host,
                             const char *hostport, int timeout_ms, char *err,
                             size_t errlen)
{
    long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    const char *name = t->server_name ? t->server_name : host;
    struct in6_addr ip;
    int is_ip = inet_pton(AF_INET, name, &ip) == 1 ||
                inet_pton(AF_INET6, name, &ip) == 1;
    struct mct_conn *tc = calloc(1, sizeof *tc);

    ERR_clear_error();
    if (tc == NULL || (tc->ssl = SSL_new(t->ctx)) == NULL ||
        SSL_set_fd(tc->ssl, fd) != 1) {
        snprintf(err, errlen, "TLS: %s", ossl_reason("out of memory"));
        mct_free(tc);
        return NULL;
    }
    snprintf(tc->hostport, sizeof tc->hostport, "%s", hostport);
    /* SNI carries names only (RFC 6066); an address is checked against
     * the certificate's IP SANs instead. */
    if (!is_ip)
        SSL_set_tlsext_host_name(tc->ssl, name);
    if (!t->no_verify) {
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tc->ssl),
                                                       name)
                       : SSL_set1_host(tc->ssl, name);
        if (ok != 1) {
            snprintf(err, errlen, "TLS: cannot check the name %s", name);
            mct_free(tc);
            return NULL;
        }
    }
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int rc = SSL_connect(tc->ssl);
        if (rc == 1)
            return tc;
        int se = SSL_get_error(tc->ssl, rc);
        struct pollfd p = {.fd = fd};
        if (se == SSL_ERROR_WANT_READ)
            p.events = POLLIN;
        else if (se == SSL_ERROR_WANT_WRITE)
            p.events = POLLOUT;
        else {
            handshake_error(tc, rc, err, errlen);
            mct_free(tc);
            return NULL;
        }
        long left = deadline < 0 ? -1 : deadline - now_ms();
        int r = left == 0 || left < -1 ? 0 : poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "TLS handshake with %s failed: %s",
                     tc->hostport, r == 0 ? "timed out" : strerror(errno));
            mct_free(tc);
            return NULL;
        }
    }
}

/* The result of an SSL_read or SSL_write that returned rc <= 0. */
static long io_result(struct mct_conn *tc, int rc, const char *op, char *err,
                      size_t errlen)
{
    int se = SSL_get_error(tc->ssl, rc);
    switch (se) {
    case SSL_ERROR_WANT_READ:
        return MCT_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return MCT_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        snprintf(err, errlen, "the server closed the connection");
        return MCT_EOF;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_last_error() == 0) {
            if (errno == 0 || errno == ECONNRESET || errno == EPIPE) {
                /* The TCP connection ended without close_notify: msgd
                 * closes that way after BYE too. */
                snprintf(err, errlen, "the server closed the connection");
                return errno == 0 ? MCT_EOF : MCT_ERROR;
            }
            snprintf(err, errlen, "%s: %s", op, strerror(errno));
            return MCT_ERROR;
        }
        break;
    default:
        break;
    }
    snprintf(err, errlen, "TLS error from %s: %s", tc->hostport,
             ossl_reason("unknown error"));
    return MCT_ERROR;
}

long mct_read(struct mct_conn *tc, void *buf, size_t len, char *err,
              size_t errlen)
{
    ERR_clear_error();
    errno = 0;
    int rc = SSL_read(tc->ssl, buf, len > 0x40000000 ? 0x40000000 : (int)len);
    return rc > 0 ? rc : io_result(tc, rc, "read", err, errlen);
}

long mct_write(struct mct_conn *tc, const void *buf, size_t len, char *err,
               size_t errlen)
{
    ERR_clear_error();
    errno = 0;
    int rc = SSL_write(tc->ssl, buf, len > 0x40000000 ? 0x40000000 : (int)len);
    return rc > 0 ? rc : io_result(tc, rc, "write", err, errlen);
}

size_t mct_pending(const struct mct_conn *tc)
{
    int n = SSL_pending(tc->ssl);
    return n > 0 ? (size_t)n : 0;
}

void mct_free(struct mct_conn *tc)
{
    if (tc == NULL)
        return;
    if (tc->ssl) {
        /* One try at close_notify; a full socket buffer just loses it. */
        if (SSL_is_init_finished(tc->ssl)) {
            ERR_clear_error();
            SSL_shutdown(tc->ssl);
        }
        ERR_clear_error();
        SSL_free(tc->ssl);
    }
    free(tc);
}

#else /* !HAVE_OPENSSL */

#define NOT_BUILT "TLS not built in (msgd was configured without OpenSSL)"

int mc_tls_available(void)
{
    return 0;
}

struct mc_tls *mc_tls_new(const struct mc_tls_options *o, char *err,
                          size_t errlen)
{
    (void)o;
    snprintf(err, errlen, "%s", NOT_BUILT);
    return NULL;
}

void mc_tls_free(struct mc_tls *t)
{
    (void)t;
}

struct mc_tls *mct_hold(struct mc_tls *t)
{
    return t;
}

struct mct_conn *mct_connect(struct mc_tls *t, int fd, const char *host,
                             const char *hostport, int timeout_ms, char *err,
                             size_t errlen)
{
    (void)t, (void)fd, (void)host, (void)hostport, (void)timeout_ms;
    snprintf(err, errlen, "%s", NOT_BUILT);
    return NULL;
}

long mct_read(struct mct_conn *tc, void *buf, size_t len, char *err,
              size_t errlen)
{
    (void)tc, (void)buf, (void)len;
    snprintf(err, errlen, "%s", NOT_BUILT);
    return MCT_ERROR;
}

long mct_write(struct mct_conn *tc, const void *buf, size_t len, char *err,
               size_t errlen)
{
    (void)tc, (void)buf, (void)len;
    snprintf(err, errlen, "%s", NOT_BUILT);
    return MCT_ERROR;
}

size_t mct_pending(const struct mct_conn *tc)
{
    (void)tc;
    return 0;
}

void mct_free(struct mct_conn *tc)
{
    (void)tc;
}

#endif
