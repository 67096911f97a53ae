/* test_jsonw.c: Check unit tests for the JSON Lines writer (src/jsonw.c).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "jsonw.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CANARY 0xa5

/* Escape s[0..n) with plenty of room and compare with the exact text. */
static void check_escape(const char *s, size_t n, const char *want)
{
    char out[512];
    memset(out, CANARY, sizeof(out));
    long w = jw_escape(out, sizeof(out) - 1, s, n);
    ck_assert_msg(w >= 0, "escape failed for input of %zu bytes", n);
    out[w] = '\0';
    ck_assert_str_eq(out, want);
}

#define ESC(lit, want) check_escape(lit, sizeof(lit) - 1, want)

/* One object holding just "v": s[0..n), as a NUL-terminated line. */
static long one_field(char *buf, size_t cap, const char *s, size_t n)
{
    struct jsonw jw;
    jw_begin(&jw, buf, cap);
    jw_strn(&jw, "v", s, n);
    long len = jw_finish(&jw);
    if (len >= 0 && (size_t)len < cap)
        buf[len] = '\0';
    return len;
}

/* Parse line as a one-field object and return the decoded "v" string. */
static json_t *parse_line(const char *line, size_t len, const char **s,
                          size_t *n)
{
    json_error_t err;
    json_t *root = json_loadb(line, len, JSON_ALLOW_NUL, &err);
    ck_assert_msg(root != NULL, "jansson rejected %.*s: %s", (int)len, line,
                  err.text);
    ck_assert(json_is_object(root));
    json_t *v = json_object_get(root, "v");
    ck_assert(json_is_string(v));
    *s = json_string_value(v);
    *n = json_string_length(v);
    return root;
}

START_TEST(test_control_chars)
{
    /* Written out rather than computed, so the test does not share the
     * escaper's hex logic. */
    static const char *const want[0x20] = {
        "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005",
        "\\u0006", "\\u0007", "\\b",     "\\t",     "\\n",     "\\u000b",
        "\\f",     "\\r",     "\\u000e", "\\u000f", "\\u0010", "\\u0011",
        "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
        "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d",
        "\\u001e", "\\u001f",
    };
    for (int c = 0; c < 0x20; c++) {
        char in = (char)c;
        check_escape(&in, 1, want[c]);

        /* And in context, through the object writer. */
        char buf[64], exp[64];
        ck_assert_int_gt(one_field(buf, sizeof(buf), &in, 1), 0);
        snprintf(exp, sizeof(exp), "{\"v\":\"%s\"}\n", want[c]);
        ck_assert_str_eq(buf, exp);
    }
    char del = 0x7f;
    check_escape(&del, 1, "\\u007f");
}
END_TEST

START_TEST(test_quote_backslash)
{
    ESC("\"", "\\\"");
    ESC("\\", "\\\\");
    ESC("a\"b\\c", "a\\\"b\\\\c");
    ESC("\\\"\\\"", "\\\\\\\"\\\\\\\"");
    ESC("/", "/"); /* '/' needs no escape */
    ESC("", "");
    ESC("plain text 123 ~!@#$%^&*()", "plain text 123 ~!@#$%^&*()");
}
END_TEST

START_TEST(test_utf8_valid)
{
    ESC("\xc3\xa9", "\xc3\xa9");                 /* é */
    ESC("\xe2\x82\xac", "\xe2\x82\xac");         /* € */
    ESC("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"); /* 😀 */
    ESC("caf\xc3\xa9 \xe2\x82\xac"
        "5 \xf0\x9f\x98\x80!",
        "caf\xc3\xa9 \xe2\x82\xac"
        "5 \xf0\x9f\x98\x80!");
    /* Boundaries of each length and around the surrogate gap. */
    ESC("\xc2\x80", "\xc2\x80");                 /* U+0080 */
    ESC("\xdf\xbf", "\xdf\xbf");                 /* U+07FF */
    ESC("\xe0\xa0\x80", "\xe0\xa0\x80");         /* U+0800 */
    ESC("\xed\x9f\xbf", "\xed\x9f\xbf");         /* U+D7FF */
    ESC("\xee\x80\x80", "\xee\x80\x80");         /* U+E000 */
    ESC("\xef\xbf\xbf", "\xef\xbf\xbf");         /* U+FFFF */
    ESC("\xf0\x90\x80\x80", "\xf0\x90\x80\x80"); /* U+10000 */
    ESC("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"); /* U+10FFFF */
    ESC("\xe2\x80\xa8", "\xe2\x80\xa8");         /* U+2028 is legal JSON */
    /* Escapes between multibyte characters. */
    ESC("\xc3\xa9\n\xe2\x82\xac\t", "\xc3\xa9\\n\xe2\x82\xac\\t");
}
END_TEST

#define R "\\ufffd"

START_TEST(test_utf8_stray_continuation)
{
    ESC("\x80", R);
    ESC("\xbf", R);
    ESC("a\x80z", "a" R "z");
    ESC("\x80\x80", R R);
    ESC("\xc3\xa9\xa9", "\xc3\xa9" R); /* one continuation too many */
}
END_TEST

START_TEST(test_utf8_overlong)
{
    ESC("\xc0\x80", R R); /* overlong NUL */
    ESC("\xc0\xaf", R R); /* overlong '/' */
    ESC("\xc1\xbf", R R);
    ESC("\xe0\x80\x80", R R R);
    ESC("\xe0\x9f\xbf", R R R); /* U+07FF in three bytes */
    ESC("\xf0\x80\x80\x80", R R R R);
    ESC("\xf0\x8f\xbf\xbf", R R R R); /* U+FFFF in four bytes */
    ESC("a\xc0\x80z", "a" R R "z");
}
END_TEST

START_TEST(test_utf8_surrogates)
{
    ESC("\xed\xa0\x80", R R R); /* U+D800 */
    ESC("\xed\xbf\xbf", R R R); /* U+DFFF */
    ESC("\xed\xb0\x80", R R R); /* U+DC00 */
    /* A CESU-8 style pair is two separate bad sequences. */
    ESC("\xed\xa0\xbd\xed\xb8\x80", R R R R R R);
}
END_TEST

START_TEST(test_utf8_too_big)
{
    ESC("\xf4\x90\x80\x80", R R R R); /* U+110000 */
    ESC("\xf4\xbf\xbf\xbf", R R R R);
    ESC("\xf5\x80\x80\x80", R R R R);
    ESC("\xf7\xbf\xbf\xbf", R R R R);
    ESC("\xf8\x88\x80\x80\x80", R R R R R); /* old 5-byte form */
    ESC("\xfc\x84\x80\x80\x80\x80", R R R R R R);
    ESC("\xfe", R);
    ESC("\xff", R);
    ESC("\xfe\xff", R R);
    ESC("a\xffz", "a" R "z");
}
END_TEST

START_TEST(test_utf8_truncated)
{
    /* At the end of the input: one replacement for the whole fragment. */
    ESC("\xc3", R);
    ESC("\xe2", R);
    ESC("\xe2\x82", R);
    ESC("\xf0", R);
    ESC("\xf0\x9f", R);
    ESC("\xf0\x9f\x98", R);
    ESC("ab\xe2\x82", "ab" R);
    /* Interrupted: one replacement, and the interrupting character kept. */
    ESC("\xc3"
        "A",
        R "A");
    ESC("\xe2\x82"
        "A",
        R "A");
    ESC("\xf0\x9f\x98"
        "A",
        R "A");
    ESC("\xf0\x9f\x98\xc3\xa9", R "\xc3\xa9");
    ESC("\xe2\xe2\x82\xac", R "\xe2\x82\xac");
    ESC("\xe2\x82\xf0\x9f\x98\x80", R "\xf0\x9f\x98\x80");
    ESC("\xe2\x82\n", R "\\n");
    ESC("\xe2\x82\"", R "\\\"");
    ESC("\xc3\xc3", R R);
    /* Unicode 15 section 3.9, table 3-8's worked example. */
    ESC("\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64",
        "a" R R R "b" R "c" R R "d");
}
END_TEST

START_TEST(test_embedded_nul)
{
    char buf[64];
    ck_assert_int_gt(one_field(buf, sizeof(buf), "a\0b", 3), 0);
    ck_assert_str_eq(buf, "{\"v\":\"a\\u0000b\"}\n");
}
END_TEST

START_TEST(test_whole_object)
{
    char buf[512];
    struct jsonw jw;
    jw_begin(&jw, buf, sizeof(buf));
    jw_str(&jw, "ts", "2026-11-21T10:00:00.123Z");
    jw_str(&jw, "level", "info");
    jw_strn(&jw, "sn", "abcdef", 3);
    jw_int(&jw, "i", -42);
    jw_int(&jw, "imin", INT64_MIN);
    jw_int(&jw, "imax", INT64_MAX);
    jw_int(&jw, "zero", 0);
    jw_uint(&jw, "u", 7);
    jw_uint(&jw, "umax", UINT64_MAX);
    jw_double(&jw, "d", 1.5);
    jw_bool(&jw, "t", 1);
    jw_bool(&jw, "f", 0);
    jw_bool(&jw, "t2", 42);
    jw_null(&jw, "n");
    jw_str(&jw, "sNULL", NULL);
    jw_strn(&jw, "snNULL", NULL, 5);
    jw_raw(&jw, "raw", "[1,{\"a\":2}]", 11);
    jw_raw(&jw, "rawNULL", NULL, 0);
    jw_raw(&jw, "rawEmpty", "x", 0);
    jw_str(&jw, "k\"\n", "x"); /* keys go through the escaper too */
    long len = jw_finish(&jw);

    const char *want =
        "{\"ts\":\"2026-11-21T10:00:00.123Z\",\"level\":\"info\","
        "\"sn\":\"abc\",\"i\":-42,\"imin\":-9223372036854775808,"
        "\"imax\":9223372036854775807,\"zero\":0,\"u\":7,"
        "\"umax\":18446744073709551615,\"d\":1.5,\"t\":true,\"f\":false,"
        "\"t2\":true,\"n\":null,\"sNULL\":null,\"snNULL\":null,"
        "\"raw\":[1,{\"a\":2}],\"rawNULL\":null,\"rawEmpty\":null,"
        "\"k\\\"\\n\":\"x\"}\n";
    ck_assert_int_eq(len, (long)strlen(want));
    ck_assert_int_eq(jw.overflow, 0);
    ck_assert_int_eq(jw.nfields, 20);
    ck_assert(memcmp(buf, want, strlen(want)) == 0);

    json_error_t err;
    /* jansson's integers are signed, so UINT64_MAX needs reals. */
    json_t *root = json_loadb(buf, (size_t)len, JSON_DECODE_INT_AS_REAL, &err);
    ck_assert_msg(root != NULL, "%s", err.text);
    ck_assert_int_eq(json_object_size(root), 20);
    ck_assert(json_number_value(json_object_get(root, "imin")) ==
              -9223372036854775808.0);
    ck_assert(json_is_true(json_object_get(root, "t")));
    ck_assert(json_is_null(json_object_get(root, "sNULL")));
    ck_assert_str_eq(json_string_value(json_object_get(root, "k\"\n")), "x");
    json_decref(root);
}
END_TEST

START_TEST(test_empty_object)
{
    char buf[8];
    struct jsonw jw;
    jw_begin(&jw, buf, sizeof(buf));
    ck_assert_int_eq(jw_finish(&jw), 3);
    ck_assert(memcmp(buf, "{}\n", 3) == 0);
}
END_TEST

START_TEST(test_finish_newline)
{
    char buf[128];
    struct jsonw jw;
    jw_begin(&jw, buf, sizeof(buf));
    jw_str(&jw, "event", "connect");
    jw_str(&jw, "addr", "127.0.0.1:5555");
    long len = jw_finish(&jw);
    const char *want = "{\"event\":\"connect\",\"addr\":\"127.0.0.1:5555\"}\n";
    ck_assert_int_eq(len, (long)strlen(want));
    ck_assert(memcmp(buf, want, (size_t)len) == 0);
    ck_assert_int_eq(buf[len - 1], '\n');
    ck_assert_ptr_null(memchr(buf, '\n', (size_t)len - 1));
}
END_TEST

/* Builds an object exercising every writer and every escape kind. */
static long build_big(char *buf, size_t cap, struct jsonw *jw)
{
    jw_begin(jw, buf, cap);
    jw_str(jw, "ts", "2026-11-21T10:00:00.123Z");
    jw_str(jw, "s",
           "q\"b\\n\n\x01\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
           "\xe2\x82|\xff");
    jw_int(jw, "i", INT64_MIN);
    jw_uint(jw, "u", UINT64_MAX);
    jw_double(jw, "d", -1234.5678);
    jw_bool(jw, "b", 0);
    jw_null(jw, "n");
    jw_str(jw, "sn", NULL);
    jw_raw(jw, "r", "[1,2,3]", 7);
    return jw_finish(jw);
}

START_TEST(test_overflow_every_cap)
{
    char full[512];
    struct jsonw jw;
    long full_len = build_big(full, sizeof(full), &jw);
    ck_assert_int_gt(full_len, 0);
    ck_assert_int_eq(jw.overflow, 0);

    for (size_t cap = 0; cap <= (size_t)full_len + 2; cap++) {
        char buf[600];
        memset(buf, CANARY, sizeof(buf));
        long len = build_big(buf, cap, &jw);
        if (cap < (size_t)full_len) {
            ck_assert_msg(len == -1, "cap %zu: got %ld", cap, len);
            ck_assert_int_ne(jw.overflow, 0);
            ck_assert_uint_le(jw.len, cap);
        } else {
            ck_assert_int_eq(len, full_len);
            ck_assert_int_eq(jw.overflow, 0);
            ck_assert(memcmp(buf, full, (size_t)full_len) == 0);
        }
        for (size_t i = cap; i < sizeof(buf); i++)
            ck_assert_msg((unsigned char)buf[i] == CANARY,
                          "cap %zu: byte %zu overwritten", cap, i);
    }

    /* A zero-sized buffer may be NULL. */
    jw_begin(&jw, NULL, 0);
    jw_str(&jw, "a", "b");
    ck_assert_int_eq(jw_finish(&jw), -1);
}
END_TEST

START_TEST(test_overflow_sticky)
{
    /* A field too big for the room left must fail the whole line even if
     * the later fields and the closing brace would fit. */
    char buf[32];
    struct jsonw jw;
    jw_begin(&jw, buf, sizeof(buf));
    jw_str(&jw, "a", "0123456789012345678901234567890123456789");
    jw_int(&jw, "b", 1);
    ck_assert_int_eq(jw_finish(&jw), -1);
}
END_TEST

START_TEST(test_escape_every_cap)
{
    /* The truncated \xe2\x82 before '|' and the lone \xc0 at the end each
     * become one replacement. */
    static const char in[] =
        "ab\"\\\n\x02\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xe2\x82|\xc0";
    static const char want[] = "ab\\\"\\\\\\n\\u0002\\u007f\xc3\xa9"
                               "\xe2\x82\xac\xf0\x9f\x98\x80" R "|" R;
    size_t n = sizeof(in) - 1, wlen = sizeof(want) - 1;
    char buf[128];

    for (size_t cap = 0; cap <= wlen + 2; cap++) {
        memset(buf, CANARY, sizeof(buf));
        long w = jw_escape(buf, cap, in, n);
        if (cap < wlen) {
            ck_assert_msg(w == -1, "cap %zu: got %ld", cap, w);
        } else {
            ck_assert_int_eq(w, (long)wlen);
            ck_assert(memcmp(buf, want, wlen) == 0);
        }
        for (size_t i = cap; i < sizeof(buf); i++)
            ck_assert_msg((unsigned char)buf[i] == CANARY,
                          "cap %zu: byte %zu overwritten", cap, i);
    }
}
END_TEST

static void check_double(double v, const char *want)
{
    char buf[512], exp[512];
    struct jsonw jw;
    jw_begin(&jw, buf, sizeof(buf));
    jw_double(&jw, "d", v);
    long len = jw_finish(&jw);
    ck_assert_int_gt(len, 0);
    buf[len] = '\0';
    snprintf(exp, sizeof(exp), "{\"d\":%s}\n", want);
    ck_assert_str_eq(buf, exp);
}

START_TEST(test_double)
{
    check_double(1.5, "1.5");
    check_double(300.0, "300");
    check_double(0.25, "0.25");
    check_double(0.001, "0.001");
    check_double(0.0, "0");
    check_double(-0.0, "0");
    check_double(-0.0004, "0");
    check_double(0.0004, "0");
    check_double(0.1 + 0.2, "0.3");
    check_double(-1.5, "-1.5");
    check_double(123.4567, "123.457");
    check_double(0.9999, "1");
    check_double(-2.25, "-2.25");
    check_double(30.0, "30");
    check_double(100.1, "100.1");
    check_double(1234567.891, "1234567.891");
    check_double(1e15, "1000000000000000");
    check_double(1e20, "100000000000000000000");
    check_double(1e-10, "0");
    check_double(NAN, "null");
    check_double(INFINITY, "null");
    check_double(-INFINITY, "null");
}
END_TEST

START_TEST(test_double_huge)
{
    /* No exponent ever, even at the edge of the range. */
    char buf[1024];
    struct jsonw jw;
    jw_begin(&jw, buf, sizeof(buf));
    jw_double(&jw, "d", 1e300);
    jw_double(&jw, "m", -1.7976931348623157e308);
    long len = jw_finish(&jw);
    ck_assert_int_gt(len, 0);
    ck_assert_ptr_null(memchr(buf, 'e', (size_t)len));
    ck_assert_ptr_null(memchr(buf, 'E', (size_t)len));
    ck_assert_ptr_null(memchr(buf, '.', (size_t)len));
    /* 1e300 is exactly this 301-digit integer as a double. */
    ck_assert(memcmp(buf, "{\"d\":1000000000000000052504760255204420248704",
                     45) == 0);
    ck_assert_int_eq(buf[5 + 301], ',');

    json_error_t err;
    /* Integral text, so jansson must be told to read it as a real. */
    json_t *root = json_loadb(buf, (size_t)len, JSON_DECODE_INT_AS_REAL, &err);
    ck_assert_msg(root != NULL, "%s", err.text);
    ck_assert(json_number_value(json_object_get(root, "d")) == 1e300);
    ck_assert(json_number_value(json_object_get(root, "m")) ==
              -1.7976931348623157e308);
    json_decref(root);
}
END_TEST

static void check_ts(int64_t ms, const char *want)
{
    char out[32];
    memset(out, CANARY, sizeof(out));
    jw_timestamp(out, ms);
    ck_assert_str_eq(out, want);
}

START_TEST(test_timestamp)
{
    check_ts(0, "1970-01-01T00:00:00.000Z");
    check_ts(1795255200123, "2026-11-21T10:00:00.123Z"); /* date -u */
    check_ts(1, "1970-01-01T00:00:00.001Z");
    check_ts(999, "1970-01-01T00:00:00.999Z");
    check_ts(-1, "1969-12-31T23:59:59.999Z");
    check_ts(-1000, "1969-12-31T23:59:59.000Z");
    check_ts(951782400000, "2000-02-29T00:00:00.000Z");
    check_ts(951868799999, "2000-02-29T23:59:59.999Z");
    check_ts(4107542400000, "2100-03-01T00:00:00.000Z"); /* 2100 no leap */
    check_ts(1709210096789, "2024-02-29T12:34:56.789Z");
    check_ts(253402300799999, "9999-12-31T23:59:59.999Z");
    check_ts(-62167219200000, "0000-01-01T00:00:00.000Z");

    /* Extreme inputs stay within out[32] and NUL-terminated. */
    char out[32];
    jw_timestamp(out, INT64_MAX);
    ck_assert_uint_lt(strlen(out), sizeof(out));
    ck_assert_str_eq(out + strlen(out) - 1, "Z");
    jw_timestamp(out, INT64_MIN);
    ck_assert_uint_lt(strlen(out), sizeof(out));
    ck_assert_int_eq(out[0], '-');
}
END_TEST

START_TEST(test_timestamp_vs_gmtime)
{
    /* Cross-check the hand-rolled calendar against libc from 1902 to
     * 2400, stepping by an odd stride to vary the time of day. */
    const int64_t step = 86400LL * 1000 * 7 + 3600 * 1000 + 61 * 1000 + 7;
    for (int64_t ms = -2145916800000LL; ms < 13569465600000LL; ms += step) {
        time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        struct tm tm;
        ck_assert_ptr_nonnull(gmtime_r(&t, &tm));
        char want[64], got[32];
        int64_t frac = ms - (int64_t)t * 1000;
        size_t k = strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + k, sizeof(want) - k, ".%03dZ", (int)frac);
        jw_timestamp(got, ms);
        ck_assert_str_eq(got, want);
    }
}
END_TEST

START_TEST(test_roundtrip_valid)
{
    /* Every ASCII byte, NUL and DEL included, then multibyte characters. */
    char in[256];
    size_t n = 0;
    for (int c = 0; c < 0x80; c++)
        in[n++] = (char)c;
    static const char mb[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc2\x80"
                             "\xef\xbf\xbf\xf4\x8f\xbf\xbf\xe2\x80\xa8";
    memcpy(in + n, mb, sizeof(mb) - 1);
    n += sizeof(mb) - 1;

    char buf[1024];
    long len = one_field(buf, sizeof(buf), in, n);
    ck_assert_int_gt(len, 0);
    const char *s;
    size_t sn;
    json_t *root = parse_line(buf, (size_t)len, &s, &sn);
    ck_assert_uint_eq(sn, n);
    ck_assert(memcmp(s, in, n) == 0);
    json_decref(root);

    /* And each control character on its own. */
    for (int c = 0; c <= 0x7f; c++) {
        char one = (char)c;
        len = one_field(buf, sizeof(buf), &one, 1);
        root = parse_line(buf, (size_t)len, &s, &sn);
        ck_assert_uint_eq(sn, 1);
        ck_assert_int_eq(s[0], one);
        json_decref(root);
    }
}
END_TEST

START_TEST(test_roundtrip_invalid)
{
    /* Invalid input still yields valid JSON with U+FFFD in its place. */
    char buf[256];
    static const char in[] = "a\xe2\x82"
                             "b\xc0\x80\xed\xa0\x80\xff";
    long len = one_field(buf, sizeof(buf), in, sizeof(in) - 1);
    const char *s;
    size_t sn;
    json_t *root = parse_line(buf, (size_t)len, &s, &sn);
    static const char want[] = "a\xef\xbf\xbd"
                               "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                               "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd";
    ck_assert_uint_eq(sn, sizeof(want) - 1);
    ck_assert(memcmp(s, want, sn) == 0);
    json_decref(root);
}
END_TEST

START_TEST(test_roundtrip_random)
{
    /* Random byte strings, biased towards UTF-8 lead and continuation
     * bytes.  jansson's own validator is the oracle: input it accepts as
     * UTF-8 must come back unchanged, anything else must still parse and
     * carry at least one U+FFFD. */
    uint32_t seed = 12345;
    static const unsigned char pool[] = {
        0x00, 0x01, 0x1f, 0x20, 'a',  '"',  '\\', 0x7f, 0x80, 0x8f,
        0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1,
        0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xf8, 0xfe, 0xff,
    };
    int valid_seen = 0, invalid_seen = 0;
    for (int iter = 0; iter < 20000; iter++) {
        char in[12];
        size_t n = (size_t)(iter % (int)sizeof(in)) + 1;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = (char)pool[(seed >> 16) % sizeof(pool)];
        }
        char buf[256];
        long len = one_field(buf, sizeof(buf), in, n);
        ck_assert_int_gt(len, 0);
        const char *s;
        size_t sn;
        json_t *root = parse_line(buf, (size_t)len, &s, &sn);
        json_t *ref = json_stringn(in, n);
        if (ref) {
            valid_seen++;
            ck_assert_uint_eq(sn, n);
            ck_assert(memcmp(s, in, n) == 0);
            json_decref(ref);
        } else {
            invalid_seen++;
            ck_assert(sn >= 3 && memmem(s, sn, "\xef\xbf\xbd", 3) != NULL);
        }
        json_decref(root);
    }
    ck_assert_int_gt(valid_seen, 100);
    ck_assert_int_gt(invalid_seen, 100);
}
END_TEST

START_TEST(test_long_runs)
{
    /* Long plain runs separated by escapes exercise the memcpy path. */
    char in[4096], want[8192];
    size_t n = 0, w = 0;
    for (int block = 0; block < 64; block++) {
        for (int i = 0; i < 50; i++) {
            in[n++] = (char)('a' + (block + i) % 26);
            want[w++] = in[n - 1];
        }
        if (block % 2) {
            memcpy(in + n, "\xe2\x82\xac", 3);
            memcpy(want + w, "\xe2\x82\xac", 3);
            n += 3;
            w += 3;
        } else {
            in[n++] = '\t';
            memcpy(want + w, "\\t", 2);
            w += 2;
        }
    }
    char out[8192];
    long got = jw_escape(out, sizeof(out), in, n);
    ck_assert_int_eq(got, (long)w);
    ck_assert(memcmp(out, want, w) == 0);
}
END_TEST

static Suite *jsonw_suite(void)
{
    Suite *s = suite_create("jsonw");

    TCase *esc = tcase_create("escape");
    tcase_add_test(esc, test_control_chars);
    tcase_add_test(esc, test_quote_backslash);
    tcase_add_test(esc, test_embedded_nul);
    tcase_add_test(esc, test_long_runs);
    suite_add_tcase(s, esc);

    TCase *utf8 = tcase_create("utf8");
    tcase_add_test(utf8, test_utf8_valid);
    tcase_add_test(utf8, test_utf8_stray_continuation);
    tcase_add_test(utf8, test_utf8_overlong);
    tcase_add_test(utf8, test_utf8_surrogates);
    tcase_add_test(utf8, test_utf8_too_big);
    tcase_add_test(utf8, test_utf8_truncated);
    suite_add_tcase(s, utf8);

    TCase *obj = tcase_create("object");
    tcase_add_test(obj, test_whole_object);
    tcase_add_test(obj, test_empty_object);
    tcase_add_test(obj, test_finish_newline);
    tcase_add_test(obj, test_overflow_every_cap);
    tcase_add_test(obj, test_overflow_sticky);
    tcase_add_test(obj, test_escape_every_cap);
    suite_add_tcase(s, obj);

    TCase *num = tcase_create("numbers");
    tcase_add_test(num, test_double);
    tcase_add_test(num, test_double_huge);
    tcase_add_test(num, test_timestamp);
    tcase_add_test(num, test_timestamp_vs_gmtime);
    suite_add_tcase(s, num);

    TCase *rt = tcase_create("roundtrip");
    tcase_add_test(rt, test_roundtrip_valid);
    tcase_add_test(rt, test_roundtrip_invalid);
    tcase_add_test(rt, test_roundtrip_random);
    tcase_set_timeout(rt, 30);
    suite_add_tcase(s, rt);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(jsonw_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
