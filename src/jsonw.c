/* jsonw.c: JSON Lines object writer and string escaper; no I/O, no malloc.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "jsonw.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char hex_digits[] = "0123456789abcdef";

/* "\ufffd" is escaped rather than written as EF BF BD so that a replaced
 * byte is visible in the log text itself. */
static const char replacement[] = "\\ufffd";

/* Bytes that go out verbatim: printable ASCII except the two JSON string
 * metacharacters.  DEL is escaped too, so it cannot hide in a log line. */
static int is_plain_ascii(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/*
 * Decode one UTF-8 sequence at s[0..n), s[0] >= 0x80.  Returns its length if
 * it is well formed (Unicode Table 3-7), or 0 with *bad set to the length of
 * its maximal subpart: the lead byte plus the continuation bytes that were
 * still acceptable when the sequence broke off.  Each such subpart becomes
 * one U+FFFD, as Unicode recommends, so a truncated character costs one
 * replacement and the byte that interrupted it is decoded afresh.
 */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0];
    size_t need;
    /* The second byte's range is what rules out overlongs, surrogates and
     * code points above U+10FFFF; later bytes are plain 80..BF. */
    unsigned char lo = 0x80, hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        /* 80..BF continuation without a lead, C0/C1 (always overlong),
         * F5..FF (beyond U+10FFFF or never valid). */
        *bad = 1;
        return 0;
    }

    if (n < 2 || s[1] < lo || s[1] > hi) {
        *bad = 1;
        return 0;
    }
    for (size_t i = 2; i < need; i++) {
        if (i >= n || s[i] < 0x80 || s[i] > 0xbf) {
            *bad = i;
            return 0;
        }
    }
    return need;
}

long jw_escape(char *out, size_t cap, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;

    while (i < n) {
        size_t start = i;
        size_t bad = 0;

        /* Gather the longest run that is copied unchanged, so the common
         * case is one memcpy per string rather than a test per byte. */
        while (i < n) {
            if (is_plain_ascii(p[i])) {
                i++;
            } else if (p[i] >= 0x80) {
                size_t len = utf8_seq(p + i, n - i, &bad);
                if (len == 0)
                    break;
                i += len;
            } else {
                break;
            }
        }
        if (i > start) {
            size_t run = i - start;
            if (run > cap - o)
                return -1;
            memcpy(out + o, p + start, run);
            o += run;
        }
        if (i >= n)
            break;

        unsigned char c = p[i];
        char esc[6];
        size_t elen;
        const char *e = esc;

        if (c >= 0x80) {
            e = replacement;
            elen = sizeof(replacement) - 1;
            i += bad;
        } else {
            esc[0] = '\\';
            elen = 2;
            switch (c) {
            case '"':
                esc[1] = '"';
                break;
            case '\\':
                esc[1] = '\\';
                break;
            case '\b':
                esc[1] = 'b';
                break;
            case '\f':
                esc[1] = 'f';
                break;
            case '\n':
                esc[1] = 'n';
                break;
            case '\r':
                esc[1] = 'r';
                break;
            case '\t':
                esc[1] = 't';
                break;
            default: /* other controls and DEL */
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex_digits[c >> 4];
                esc[5] = hex_digits[c & 0xf];
                elen = 6;
                break;
            }
            i++;
        }
        if (elen > cap - o)
            return -1;
        memcpy(out + o, e, elen);
        o += elen;
    }
    return (long)o;
}

/* All-or-nothing append; once overflowed the object stays failed, so later
 * small fields cannot sneak in after a dropped one. */
static void put(struct jsonw *jw, const char *s, size_t n)
{
    if (jw->overflow)
        return;
    if (n > jw->cap - jw->len) {
        jw->overflow = 1;
        return;
    }
    memcpy(jw->buf + jw->len, s, n);
    jw->len += n;
}

static void put_escaped(struct jsonw *jw, const char *s, size_t n)
{
    if (jw->overflow)
        return;
    long w = jw_escape(jw->buf + jw->len, jw->cap - jw->len, s, n);
    if (w < 0) {
        jw->overflow = 1;
        return;
    }
    jw->len += (size_t)w;
}

static void put_quoted(struct jsonw *jw, const char *s, size_t n)
{
    put(jw, "\"", 1);
    put_escaped(jw, s, n);
    put(jw, "\"", 1);
}

static void put_key(struct jsonw *jw, const char *key)
{
    if (jw->nfields > 0)
        put(jw, ",", 1);
    jw->nfields++;
    put_quoted(jw, key, strlen(key));
    put(jw, ":", 1);
}

void jw_begin(struct jsonw *jw, char *buf, size_t cap)
{
    jw->buf = buf;
    jw->cap = cap;
    jw->len = 0;
    jw->nfields = 0;
    jw->overflow = 0;
    put(jw, "{", 1);
}

void jw_str(struct jsonw *jw, const char *key, const char *val)
{
    jw_strn(jw, key, val, val ? strlen(val) : 0);
}

void jw_strn(struct jsonw *jw, const char *key, const char *val, size_t n)
{
    put_key(jw, key);
    if (val)
        put_quoted(jw, val, n);
    else
        put(jw, "null", 4);
}

/* Digits of v right-aligned in a caller's buffer ending at end, zero padded
 * to at least width; returns the first digit. */
static char *fmt_u64(char *end, uint64_t v, int width)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
        width--;
    } while (v != 0 || width > 0);
    return p;
}

void jw_int(struct jsonw *jw, const char *key, int64_t val)
{
    char tmp[24];
    char *end = tmp + sizeof(tmp);
    /* Negate in unsigned arithmetic so INT64_MIN does not overflow. */
    uint64_t mag = val < 0 ? 0 - (uint64_t)val : (uint64_t)val;
    char *p = fmt_u64(end, mag, 1);
    if (val < 0)
        *--p = '-';
    put_key(jw, key);
    put(jw, p, (size_t)(end - p));
}

void jw_uint(struct jsonw *jw, const char *key, uint64_t val)
{
    char tmp[24];
    char *end = tmp + sizeof(tmp);
    char *p = fmt_u64(end, val, 1);
    put_key(jw, key);
    put(jw, p, (size_t)(end - p));
}

size_t jw_fmt_double(char *out, size_t cap, double val)
{
    if (!isfinite(val) || cap < 400)
        return 0;

    /* %.3f rounds correctly and never uses an exponent; DBL_MAX needs 309
     * integer digits. */
    char tmp[400];
    int n = snprintf(tmp, sizeof(tmp), "%.3f", val);
    if (n < 4 || (size_t)n >= sizeof(tmp))
        return 0;

    /* Take the integer digits from the front and the three fraction digits
     * from the back, so a locale's decimal point (',' or a multibyte one)
     * never reaches the output. */
    size_t o = 0, i = 0;
    if (tmp[0] == '-')
        out[o++] = tmp[i++];
    while (tmp[i] >= '0' && tmp[i] <= '9')
        out[o++] = tmp[i++];
    const char *frac = tmp + n - 3;
    size_t flen = 3;
    while (flen > 0 && frac[flen - 1] == '0')
        flen--;
    if (flen > 0) {
        out[o++] = '.';
        memcpy(out + o, frac, flen);
        o += flen;
    }

    /* -0.0 and tiny negatives round to "-0", valid JSON but misleading. */
    if (o == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        o = 1;
    }
    out[o] = '\0';
    return o;
}

void jw_double(struct jsonw *jw, const char *key, double val)
{
    char out[400];
    size_t o = jw_fmt_double(out, sizeof out, val);

    put_key(jw, key);
    if (o == 0)
        put(jw, "null", 4);
    else
        put(jw, out, o);
}

void jw_bool(struct jsonw *jw, const char *key, int val)
{
    put_key(jw, key);
    if (val)
        put(jw, "true", 4);
    else
        put(jw, "false", 5);
}

void jw_null(struct jsonw *jw, const char *key)
{
    put_key(jw, key);
    put(jw, "null", 4);
}

void jw_raw(struct jsonw *jw, const char *key, const char *json, size_t n)
{
    put_key(jw, key);
    /* An empty value would leave a dangling "key": and break the line. */
    if (json == NULL || n == 0)
        put(jw, "null", 4);
    else
        put(jw, json, n);
}

long jw_finish(struct jsonw *jw)
{
    put(jw, "}\n", 2);
    if (jw->overflow)
        return -1;
    return (long)jw->len;
}

/*
 * Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil inverse).  Done by hand instead of gmtime_r so it works
 * for any int64 input and does not depend on time_t's width.
 */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097; /* [0, 146096] */
    int64_t yoe =
        (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);     /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                          /* [0, 11] */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

void jw_timestamp(char out[32], int64_t realtime_ms)
{
    /* Floor division: times before the epoch still count forward within
     * their second and day. */
    int64_t ms = realtime_ms % 1000;
    int64_t secs = realtime_ms / 1000;
    if (ms < 0) {
        ms += 1000;
        secs--;
    }
    int64_t sod = secs % 86400;
    int64_t days = secs / 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }

    int64_t year;
    int mon, mday;
    civil_from_days(days, &year, &mon, &mday);

    /* Built right to left; the year (at most 9 digits and a sign for any
     * int64 ms) goes first and is padded to RFC 3339's four digits. */
    char tmp[32];
    char *end = tmp + sizeof(tmp);
    char *p = end;
    *--p = 'Z';
    p = fmt_u64(p, (uint64_t)ms, 3);
    *--p = '.';
    p = fmt_u64(p, (uint64_t)(sod % 60), 2);
    *--p = ':';
    p = fmt_u64(p, (uint64_t)(sod / 60 % 60), 2);
    *--p = ':';
    p = fmt_u64(p, (uint64_t)(sod / 3600), 2);
    *--p = 'T';
    p = fmt_u64(p, (uint64_t)mday, 2);
    *--p = '-';
    p = fmt_u64(p, (uint64_t)mon, 2);
    *--p = '-';
    p = fmt_u64(p, year < 0 ? (uint64_t)-year : (uint64_t)year, 4);
    if (year < 0)
        *--p = '-';

    size_t len = (size_t)(end - p);
    memcpy(out, p, len);
    out[len] = '\0';
}
