/* tls.c: the OpenSSL side of tls:// listeners.  One SSL_CTX is in force at
 * a time, built from the tls group; a reload builds a new one and keeps
 * the old one when that fails.  Every connection's SSL holds a reference
 * to the context it was made from, so open connections keep theirs.
 *
 * The transport works on non-blocking sockets and never blocks the loop:
 * the handshake is driven by epoll events, and a record OpenSSL could not
 * send whole waits in OpenSSL (see tls_sendv) until the socket takes it.
 * An idle connection holds no record buffers (SSL_MODE_RELEASE_BUFFERS).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* The largest plaintext of one record. */
#define RECORD_MAX 16384

static SSL_CTX *current;
static struct tls_stats stats;

/* A connection's TLS state. */
struct tls_conn {
    SSL *ssl;
    /* The length of a record OpenSSL holds unsent: the bytes were taken
     * from the queue, and SSL_write must be called again with as many. */
    uint32_t held;
    uint8_t read_wants_write; /* SSL_read needs the socket writable */
    uint8_t hs_wants;         /* the handshake waits for EPOLLIN/EPOLLOUT */
};

/* ---- errors ---- */

/* OpenSSL's reason for the last failure (and clears its queue), or what
 * when the queue is empty. */
static const char *ssl_reason(const char *what)
{
    static char buf[256];
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = last ? last : e; /* the first queued is the root cause */
    if (last == 0)
        return what;
    const char *r = ERR_reason_error_string(last);
    if (r)
        snprintf(buf, sizeof buf, "%s", r);
    else
        ERR_error_string_n(last, buf, sizeof buf);
    return buf;
}

/* ---- contexts ---- */

/* A file OpenSSL would only say "system lib" about: say why it cannot be
 * read. */
static int readable(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

static void asn1_time_text(const ASN1_TIME *t, char *out, size_t len)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) == 1)
        strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
    else
        snprintf(out, len, "an unreadable date");
}

/* The certificate in force in ctx is valid now. */
static int valid_now(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    char when[64];
    if (x == NULL) {
        snprintf(err, errlen, "%s: no certificate in the file", path);
        return -1;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
        asn1_time_text(X509_get0_notAfter(x), when, sizeof when);
        snprintf(err, errlen, "%s: the certificate expired on %s", path, when);
        return -1;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
        asn1_time_text(X509_get0_notBefore(x), when, sizeof when);
        snprintf(err, errlen, "%s: the certificate is not valid before %s",
                 path, when);
        return -1;
    }
    return 0;
}

static SSL_CTX *build(const struct config_tls *t, char *err, size_t errlen)
{
    ERR_clear_error();
    if (readable(t->cert, err, errlen) < 0 ||
        readable(t->key, err, errlen) < 0 ||
        (t->ca && readable(t->ca, err, errlen) < 0))
        return NULL;

    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot make a TLS context: %s",
                 ssl_reason("out of memory"));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, t->min_version == 13 ? TLS1_3_VERSION
                                                            : TLS1_2_VERSION);
    /* No tickets and no session cache: every one costs memory per
     * connection or per client, and nodes connect once and stay. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                                 SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE
#ifdef SSL_OP_ENABLE_KTLS
                                 | SSL_OP_ENABLE_KTLS
#endif
    );
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
                              SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    const char *bad = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1)
        bad = t->cert;
    else if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1)
        bad = t->key;
    if (bad && ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) {
        ERR_clear_error();
        snprintf(err, errlen, "%s: the key does not match the certificate %s",
                 t->key, t->cert);
        goto fail;
    }
    if (bad) {
        snprintf(err, errlen, "%s: %s", bad, ssl_reason("cannot load it"));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "%s: the key does not match the certificate %s",
                 t->key, t->cert);
        goto fail;
    }
    if (valid_now(ctx, t->cert, err, errlen) < 0)
        goto fail;
    if (t->ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->ca);
        if (SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1 ||
            names == NULL) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            snprintf(err, errlen, "%s: %s", t->ca,
                     ssl_reason("no certificate in the file"));
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
    }
    int mode = SSL_VERIFY_NONE;
    if (t->verify_clients == TLS_VERIFY_OPTIONAL)
        mode = SSL_VERIFY_PEER;
    else if (t->verify_clients == TLS_VERIFY_REQUIRE)
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, NULL);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int tls_load(const struct config_tls *t, char *err, size_t errlen)
{
    SSL_CTX *ctx = build(t, err, errlen);
    if (ctx == NULL)
        return -1;
    SSL_CTX_free(current); /* its connections hold their own references */
    current = ctx;
    return 0;
}

int tls_check(const struct config_tls *t, char *err, size_t errlen)
{
    SSL_CTX *ctx = build(t, err, errlen);
    SSL_CTX_free(ctx);
    return ctx ? 0 : -1;
}

int tls_ready(void)
{
    return current != NULL;
}

void tls_free(void)
{
    SSL_CTX_free(current);
    current = NULL;
}

const char *tls_library(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

const struct tls_stats *tls_stats(void)
{
    return &stats;
}

/* ---- the transport ---- */

static void *tls_open(int fd)
{
    struct tls_conn *tc = calloc(1, sizeof *tc);
    if (tc == NULL || current == NULL || (tc->ssl = SSL_new(current)) == NULL) {
        transport_set_error("cannot start TLS: %s",
                            ssl_reason("out of memory"));
        free(tc);
        return NULL;
    }
    if (SSL_set_fd(tc->ssl, fd) != 1) {
        transport_set_error("cannot start TLS: %s", ssl_reason("SSL_set_fd"));
        SSL_free(tc->ssl);
        free(tc);
        return NULL;
    }
    SSL_set_accept_state(tc->ssl);
    return tc;
}

/* Why the handshake failed, in words an operator can act on. */
static void handshake_error(struct tls_conn *tc, int err)
{
    long v = SSL_get_verify_result(tc->ssl);
    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        transport_set_error("%s", errno && errno != EAGAIN
                                      ? strerror(errno)
                                      : "the peer closed the connection "
                                        "during the handshake");
        return;
    }
    unsigned long code = ERR_peek_error();
    const char *r = ssl_reason("handshake failed");
    int reason = ERR_GET_REASON(code);
    if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST ||
        reason == SSL_R_HTTPS_PROXY_REQUEST)
        transport_set_error("not a TLS client: it spoke plain text (%s)", r);
    else if (v != X509_V_OK)
        transport_set_error("%s: %s", r, X509_verify_cert_error_string(v));
    else
        transport_set_error("%s", r);
}

static int tls_handshake(void *st, int fd)
{
    struct tls_conn *tc = st;
    (void)fd;
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(tc->ssl);
    if (r == 1) {
        tc->hs_wants = 0;
        stats.handshakes++;
        if (BIO_get_ktls_send(SSL_get_wbio(tc->ssl)))
            stats.ktls_send++;
        if (BIO_get_ktls_recv(SSL_get_rbio(tc->ssl)))
            stats.ktls_recv++;
        return 1;
    }
    int e = SSL_get_error(tc->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        tc->hs_wants = e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
        return 0;
    }
    handshake_error(tc, e);
    return -1;
}

/* Maps a failed SSL_read/SSL_write to errno and the transport's error. */
static ssize_t failed(struct tls_conn *tc, int r, int reading)
{
    int e = SSL_get_error(tc->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        if (reading)
            tc->read_wants_write = 1;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        if (reading)
            return 0; /* close_notify: the end of input */
        transport_set_error("the peer closed the TLS session");
        errno = EPIPE;
        return -1;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            int saved = errno ? errno : ECONNRESET;
            transport_set_error("%s", strerror(saved));
            errno = saved;
            return -1;
        }
        /* fall through */
    default:
        transport_set_error("TLS: %s", ssl_reason("protocol error"));
        errno = EPROTO;
        return -1;
    }
}

static ssize_t tls_recv(void *st, int fd, void *buf, size_t len)
{
    struct tls_conn *tc = st;
    size_t n = 0;
    (void)fd;
    ERR_clear_error();
    errno = 0;
    tc->read_wants_write = 0;
    int r = SSL_read_ex(tc->ssl, buf, len, &n);
    return r == 1 ? (ssize_t)n : failed(tc, r, 1);
}

/* Sends the record OpenSSL holds: 0 when none is left, -1 (EAGAIN) when
 * the socket still cannot take it.  SSL_write must be called with at
 * least as many bytes as the first time; their content is not read again
 * (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), so any buffer will do. */
static int tls_drain(void *st, int fd)
{
    static const char any[RECORD_MAX];
    struct tls_conn *tc = st;
    size_t w;
    (void)fd;
    if (tc->held == 0)
        return 0;
    ERR_clear_error();
    errno = 0;
    int r = SSL_write_ex(tc->ssl, any, tc->held, &w);
    if (r != 1)
        return (int)failed(tc, r, 0);
    tc->held = 0;
    return 0;
}

/* Writes the iovecs a record at a time (a record holds up to 16 KiB, so
 * small frames are gathered into one rather than sent a record each).
 * When the socket is full, OpenSSL keeps the record it made: its bytes
 * count as written (the queue lets them go, and they reach the peer
 * before anything later), and drain sends it. */
static ssize_t tls_sendv(void *st, int fd, const struct iovec *iov, int n)
{
    static char gather[RECORD_MAX];
    struct tls_conn *tc = st;
    ssize_t total = 0;
    int i = 0;
    size_t off = 0; /* into iov[i] */

    if (tls_drain(st, fd) < 0)
        return -1;
    while (i < n) {
        if (off == iov[i].iov_len) {
            i++, off = 0;
            continue;
        }
        const char *rec;
        size_t len;
        if (iov[i].iov_len - off >= RECORD_MAX) {
            rec = (const char *)iov[i].iov_base + off; /* no copy */
            len = RECORD_MAX;
            off += len;
        } else {
            len = 0;
            while (i < n && len < RECORD_MAX) {
                size_t take = iov[i].iov_len - off;
                if (take > RECORD_MAX - len)
                    take = RECORD_MAX - len;
                memcpy(gather + len, (const char *)iov[i].iov_base + off, take);
                len += take;
                off += take;
                if (off == iov[i].iov_len)
                    i++, off = 0;
            }
            rec = gather;
        }
        ERR_clear_error();
        errno = 0;
        size_t w;
        int r = SSL_write_ex(tc->ssl, rec, len, &w);
        if (r == 1) {
            total += (ssize_t)w;
            continue;
        }
        int e = SSL_get_error(tc->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            tc->held = (uint32_t)len;
            return total + (ssize_t)len;
        }
        ssize_t rc = failed(tc, r, 0);
        return total ? total : rc;
    }
    return total;
}

static size_t tls_pending(void *st)
{
    struct tls_conn *tc = st;
    return SSL_has_pending(tc->ssl) ? 1 : 0;
}

static uint32_t tls_wants(void *st)
{
    struct tls_conn *tc = st;
    uint32_t ev = tc->hs_wants;
    if (tc->held || tc->read_wants_write)
        ev |= EPOLLOUT;
    return ev;
}

/* A close_notify if the socket takes it now; never waits for the
 * peer's. */
static void tls_shutdown(void *st, int fd)
{
    struct tls_conn *tc = st;
    ERR_clear_error();
    if (tc->held == 0 && SSL_is_init_finished(tc->ssl))
        (void)SSL_shutdown(tc->ssl);
    ERR_clear_error();
    shutdown(fd, SHUT_WR);
}

static int tls_peer_name(void *st, char *out, size_t len)
{
    struct tls_conn *tc = st;
    X509 *x = SSL_get0_peer_certificate(tc->ssl);
    if (x == NULL || SSL_get_verify_result(tc->ssl) != X509_V_OK)
        return 0;
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName,
                                      out, (int)len);
    return n > 0 && (size_t)n < len;
}

static void tls_close(void *st)
{
    struct tls_conn *tc = st;
    /* Failed, timed out, or cut by a shutdown: counted once, here. */
    if (!SSL_is_init_finished(tc->ssl))
        stats.handshake_failures++;
    SSL_free(tc->ssl);
    free(tc);
}

const struct transport transport_tls = {
    .name = "tls",
    .open = tls_open,
    .handshake = tls_handshake,
    .recv = tls_recv,
    .sendv = tls_sendv,
    .pending = tls_pending,
    .drain = tls_drain,
    .wants = tls_wants,
    .peer_name = tls_peer_name,
    .shutdown = tls_shutdown,
    .close = tls_close,
};
