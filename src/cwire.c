/* cwire.c: encoding and parsing of what cluster instances exchange.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "cwire.h"

#include <stdio.h>
#include <string.h>

size_t cw_key_encode(char out[CW_MAX_KEY + 1], const char *id, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (id[i] == '.') {
            memcpy(out + n, "=2E", 3);
            n += 3;
        } else {
            out[n++] = id[i];
        }
    }
    out[n] = '\0';
    return n;
}

int cw_key_decode(char out[PROTO_MAX_ID + 1], const char *key, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (n == PROTO_MAX_ID)
            return -1;
        if (key[i] == '=') {
            if (len - i < 3 || key[i + 1] != '2' || key[i + 2] != 'E')
                return -1;
            out[n++] = '.';
            i += 2;
        } else if (key[i] == '.') {
            return -1;
        } else {
            out[n++] = key[i];
        }
    }
    out[n] = '\0';
    return n > 0 && proto_valid_id(out, n) ? (int)n : -1;
}

int cw_owner_format(char *out, size_t size, uint64_t inc, const char *name)
{
    return snprintf(out, size, "%016llx %.*s", (unsigned long long)inc,
                    CW_MAX_NAME, name);
}

/* "<16 hex> " at s; returns the bytes used or -1. */
static int parse_inc(const char *s, size_t len, uint64_t *inc)
{
    uint64_t v = 0;
    if (len < 17 || s[16] != ' ')
        return -1;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *inc = v;
    return 17;
}

int cw_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static int parse_name(const char *s, size_t len, struct cw_owner *o)
{
    if (len == 0 || len > CW_MAX_NAME || !cw_printable(s, len))
        return -1;
    o->name = s;
    o->name_len = len;
    return 0;
}

int cw_owner_parse(const char *s, size_t len, struct cw_owner *o)
{
    int used = parse_inc(s, len, &o->inc);
    if (used < 0)
        return -1;
    return parse_name(s + used, len - (size_t)used, o);
}

int cw_hb_format(char *out, size_t size, uint64_t inc, long long nodes,
                 const char *name)
{
    return snprintf(out, size, "%016llx %lld %.*s", (unsigned long long)inc,
                    nodes, CW_MAX_NAME, name);
}

int cw_hb_parse(const char *s, size_t len, struct cw_owner *o, long long *nodes)
{
    int used = parse_inc(s, len, &o->inc);
    if (used < 0)
        return -1;
    s += used, len -= (size_t)used;
    const char *sp = memchr(s, ' ', len);
    if (sp == NULL || sp == s)
        return -1;
    /* "-1", or digits up to CW_MAX_NODES: bounded while reading, so that
     * no count of digits can overflow. */
    long long v = 0;
    if (sp - s == 2 && s[0] == '-' && s[1] == '1') {
        v = -1;
    } else {
        for (const char *d = s; d < sp; d++) {
            if (*d < '0' || *d > '9')
                return -1;
            v = v * 10 + (*d - '0');
            if (v > CW_MAX_NODES)
                return -1;
        }
    }
    *nodes = v;
    size_t skip = (size_t)(sp - s) + 1;
    return parse_name(s + skip, len - skip, o);
}

size_t cw_head_format(char out[CW_HEAD_LEN + 1], uint64_t inc)
{
    snprintf(out, CW_HEAD_LEN + 1, "FROM %016llx\n", (unsigned long long)inc);
    return CW_HEAD_LEN;
}

int cw_head_parse(const char *buf, size_t len, uint64_t *inc)
{
    if (len < CW_HEAD_LEN || memcmp(buf, "FROM ", 5) != 0 ||
        buf[CW_HEAD_LEN - 1] != '\n')
        return -1;
    /* parse_inc wants "<16 hex> ": check the LF, then read the digits as
     * if it were the space. */
    char tmp[17];
    memcpy(tmp, buf + 5, 16);
    tmp[16] = ' ';
    return parse_inc(tmp, sizeof tmp, inc) < 0 ? -1 : CW_HEAD_LEN;
}

/* The next space-separated token of [*p, end); NULL when none. */
static const char *token(const char **p, const char *end, size_t *len)
{
    const char *s = *p;
    if (s >= end)
        return NULL;
    const char *sp = memchr(s, ' ', (size_t)(end - s));
    const char *e = sp ? sp : end;
    if (e == s)
        return NULL;
    *len = (size_t)(e - s);
    *p = sp ? sp + 1 : end;
    return s;
}

static int is_id(const char *s, size_t n)
{
    return s && proto_valid_id(s, n);
}

long cw_next(const char *buf, size_t len, struct cw_rec *r)
{
    if (len == 0)
        return 0;
    const char *lf =
        memchr(buf, '\n', len < PROTO_MAX_LINE ? len : PROTO_MAX_LINE);
    if (lf == NULL)
        return -1;
    const char *p = buf, *end = lf;
    size_t vlen = 0;
    const char *verb = token(&p, end, &vlen);
    memset(r, 0, sizeof *r);
    if (verb == NULL)
        return -1;
    if (vlen == 3 && memcmp(verb, "MSG", 3) == 0) {
        size_t nlen = 0;
        r->kind = CW_MSG;
        r->from = token(&p, end, &r->from_len);
        r->to = token(&p, end, &r->to_len);
        const char *num = token(&p, end, &nlen);
        if (!is_id(r->from, r->from_len) || r->to == NULL || num == NULL ||
            p != end || nlen > 19)
            return -1;
        if (!(r->to_len == 1 && r->to[0] == '*') && !is_id(r->to, r->to_len))
            return -1;
        uint64_t n = 0;
        for (size_t i = 0; i < nlen; i++) {
            if (num[i] < '0' || num[i] > '9')
                return -1;
            n = n * 10 + (uint64_t)(num[i] - '0');
        }
        size_t hlen = (size_t)(lf - buf) + 1;
        if (n > len - hlen || len - hlen - n < 1 || buf[hlen + n] != '\n')
            return -1;
        r->hdr = buf;
        r->hlen = hlen;
        r->payload = buf + hlen;
        r->plen = (size_t)n;
        return (long)(hlen + n + 1);
    }
    int kick = vlen == 4 && memcmp(verb, "KICK", 4) == 0;
    int drop = vlen == 4 && memcmp(verb, "DROP", 4) == 0;
    if (!kick && !drop)
        return -1;
    r->kind = kick ? CW_KICK : CW_DROP;
    r->to = token(&p, end, &r->to_len);
    if (!is_id(r->to, r->to_len) || (drop && p != end))
        return -1;
    if (kick && p < end) {
        r->text = p;
        r->text_len = (size_t)(end - p);
        /* A CR here would end up in the node's BYE line. */
        if (!cw_printable(r->text, r->text_len))
            r->kind = CW_REFUSED;
    }
    return (long)(lf - buf) + 1;
}

size_t cw_control(char *out, size_t size, enum cw_kind kind, const char *id,
                  size_t idlen, const char *text)
{
    int n = snprintf(out, size, "%s %.*s%s%.255s\n",
                     kind == CW_KICK ? "KICK" : "DROP", (int)idlen, id,
                     text && *text && kind == CW_KICK ? " " : "",
                     text && kind == CW_KICK ? text : "");
    return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}
