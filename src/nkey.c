/* nkey.c: NATS NKeys (github.com/nats-io/nkeys), only as far as msgd needs
 * them: a seed is base32 (RFC 4648, no padding) of two prefix bytes, the
 * 32-byte Ed25519 seed and a CRC-16/XMODEM (little-endian) of what comes
 * before it; a public key is base32 of one prefix byte, the 32-byte
 * Ed25519 public key and the same checksum.  The key pair comes from
 * libsodium, which msgd links anyway.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "nkey.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#define PREFIX_SEED (18u << 3) /* 'S' */
#define PREFIX_USER (20u << 3) /* 'U' */
#define SEED_TEXT_LEN 58
#define SEED_RAW_LEN 36 /* 2 prefix + 32 + 2 checksum */
#define PUB_RAW_LEN 35  /* 1 prefix + 32 + 2 checksum */

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)(crc << 1) ^ 0x1021
                               : (uint16_t)(crc << 1);
    }
    return crc;
}

/* Decodes exactly outlen bytes from n characters; -1 on a character
 * outside the alphabet or a length that does not fit. */
static int b32_decode(const char *s, size_t n, uint8_t *out, size_t outlen)
{
    uint32_t bits = 0;
    int nbits = 0;
    size_t o = 0;
    if (n * 5 / 8 != outlen)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *at = s[i] ? strchr(b32, s[i]) : NULL;
        if (at == NULL)
            return -1;
        bits = (bits << 5) | (uint32_t)(at - b32);
        nbits += 5;
        if (nbits >= 8) {
            nbits -= 8;
            out[o++] = (uint8_t)(bits >> nbits);
        }
    }
    sodium_memzero(&bits, sizeof bits);
    return 0;
}

static void b32_encode(const uint8_t *p, size_t n, char *out)
{
    uint32_t bits = 0;
    int nbits = 0;
    for (size_t i = 0; i < n; i++) {
        bits = (bits << 8) | p[i];
        nbits += 8;
        while (nbits >= 5) {
            nbits -= 5;
            *out++ = b32[(bits >> nbits) & 31];
        }
    }
    if (nbits > 0)
        *out++ = b32[(bits << (5 - nbits)) & 31];
    *out = '\0';
}

int nkey_public_from_seed(const char *text, size_t len,
                          char pub[NKEY_PUBLIC_LEN + 1])
{
    uint8_t raw[SEED_RAW_LEN], pk[PUB_RAW_LEN];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    int rc = -1;

    while (len > 0 && strchr(" \t\r\n", text[0]) && text[0]) {
        text++;
        len--;
    }
    while (len > 0 && strchr(" \t\r\n", text[len - 1]) && text[len - 1])
        len--;
    if (sodium_init() < 0 || len != SEED_TEXT_LEN ||
        b32_decode(text, len, raw, sizeof raw) < 0)
        goto out;
    uint16_t sum = (uint16_t)(raw[34] | raw[35] << 8);
    if (crc16(raw, 34) != sum || (raw[0] & 0xf8) != PREFIX_SEED ||
        (((raw[0] & 7) << 5) | ((raw[1] & 0xf8) >> 3)) != PREFIX_USER)
        goto out;
    pk[0] = PREFIX_USER;
    if (crypto_sign_seed_keypair(pk + 1, sk, raw + 2) != 0)
        goto out;
    sum = crc16(pk, 33);
    pk[33] = (uint8_t)(sum & 0xff);
    pk[34] = (uint8_t)(sum >> 8);
    b32_encode(pk, sizeof pk, pub);
    rc = 0;
out:
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(sk, sizeof sk);
    return rc;
}
