/* simcert.c: msgsim's throw-away CA and server certificate (simcert.h).
 * They live only in msgsim's temporary directory for one run, so they
 * are short-lived and minimal: what OpenSSL's verification of an IP
 * address needs (basicConstraints, keyUsage, the IP SAN), nothing more.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "simcert.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* A certificate for key, named cn, signed by issuer_key (issuer NULL:
 * self-signed). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
                       EVP_PKEY *issuer_key, int ca)
{
    X509 *cert = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    if (cert == NULL || RAND_bytes(serial, sizeof serial) != 1)
        goto fail;
    serial[0] &= 0x7f; /* positive */
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (bn == NULL || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) ||
        !X509_set_version(cert, X509_VERSION_3) ||
        !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert), 86400) ||
        !X509_set_pubkey(cert, key))
        goto fail;
    X509_NAME *name = X509_get_subject_name(cert);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)cn, -1, -1, 0) ||
        !X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer)
                                           : name))
        goto fail;
    X509 *iss = issuer ? issuer : cert;
    if (ca) {
        if (add_ext(cert, iss, NID_basic_constraints, "critical,CA:TRUE") ||
            add_ext(cert, iss, NID_key_usage, "critical,keyCertSign,cRLSign") ||
            add_ext(cert, iss, NID_subject_key_identifier, "hash"))
            goto fail;
    } else {
        if (add_ext(cert, iss, NID_basic_constraints, "critical,CA:FALSE") ||
            add_ext(cert, iss, NID_subject_alt_name, "IP:127.0.0.1") ||
            add_ext(cert, iss, NID_ext_key_usage, "serverAuth") ||
            add_ext(cert, iss, NID_authority_key_identifier, "keyid:always"))
            goto fail;
    }
    if (!X509_sign(cert, issuer_key, EVP_sha256()))
        goto fail;
    BN_free(bn);
    return cert;
fail:
    BN_free(bn);
    X509_free(cert);
    return NULL;
}

/* Writes a certificate or (cert NULL) a private key, the key mode 0600. */
static int write_pem(const char *dir, const char *file, X509 *cert,
                     EVP_PKEY *key)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  cert ? 0644 : 0600);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (f == NULL) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int ok = cert ? PEM_write_X509(f, cert)
                  : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok ? 0 : -1;
}

int simcert_make(const char *dir, char *err, size_t errlen)
{
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *srv_key = EVP_EC_gen("P-256");
    X509 *ca = NULL, *srv = NULL;
    int rc = -1;
    if (ca_key == NULL || srv_key == NULL ||
        (ca = make_cert(ca_key, "msgsim throw-away CA", NULL, ca_key, 1)) ==
            NULL ||
        (srv = make_cert(srv_key, "127.0.0.1", ca, ca_key, 0)) == NULL) {
        unsigned long e = ERR_get_error();
        snprintf(err, errlen, "cannot make a test certificate: %s",
                 e ? ERR_reason_error_string(e) : "unknown error");
        goto out;
    }
    if (write_pem(dir, "ca.crt", ca, NULL) < 0 ||
        write_pem(dir, "server.crt", srv, NULL) < 0 ||
        write_pem(dir, "server.key", NULL, srv_key) < 0) {
        snprintf(err, errlen, "cannot write the test certificates in %s",
                 dir);
        goto out;
    }
    rc = 0;
out:
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    return rc;
}
