/* jsonw.h: a JSON Lines object writer into a caller's buffer; no I/O.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_JSONW_H
#define MSGD_JSONW_H

#include <stddef.h>
#include <stdint.h>

/*
 * One JSON object built into buf[0..cap).  Appends never write past cap;
 * when the object does not fit, jw->overflow is set and jw_finish fails,
 * so a truncated line is never emitted.
 */
struct jsonw {
    char *buf;
    size_t cap;
    size_t len;
    int nfields;
    int overflow;
};

void jw_begin(struct jsonw *jw, char *buf, size_t cap); /* writes "{" */
/* String value: escapes '"', '\\', every control character (\n \t \r \b
 * \f as short escapes, the rest as \u00XX), DEL as \u007f, and replaces each
 * invalid UTF-8 sequence (overlong, surrogate, > U+10FFFF, truncated) with
 * \ufffd.  A NULL value is written as null. */
void jw_str(struct jsonw *jw, const char *key, const char *val);
void jw_strn(struct jsonw *jw, const char *key, const char *val, size_t n);
void jw_int(struct jsonw *jw, const char *key, int64_t val);
void jw_uint(struct jsonw *jw, const char *key, uint64_t val);
void jw_double(struct jsonw *jw, const char *key,
               double val); /* %.3f-ish, no exponent */
/* The number jw_double writes, NUL-terminated, into out (cap >= 400);
 * returns its length, 0 when val is not finite. */
size_t jw_fmt_double(char *out, size_t cap, double val);
void jw_bool(struct jsonw *jw, const char *key, int val);
void jw_null(struct jsonw *jw, const char *key);
/* Raw JSON value (already valid JSON, e.g. an array built elsewhere). */
void jw_raw(struct jsonw *jw, const char *key, const char *json, size_t n);
/* Closes the object and appends "\n".  Returns the line length, or -1 on
 * overflow. */
long jw_finish(struct jsonw *jw);

/* Escape s[0..n) as a JSON string body (no quotes) into out; returns bytes
 * written or -1 if it would not fit in cap. */
long jw_escape(char *out, size_t cap, const char *s, size_t n);

/* RFC 3339 UTC with milliseconds, "2026-11-21T10:00:00.123Z" (24 chars +
 * NUL) from a CLOCK_REALTIME time in ms. */
void jw_timestamp(char out[32], int64_t realtime_ms);

#endif
