/* users.c: the users file: parser, table and loader (see users.h).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "users.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"

int users_valid_name(const char *s)
{
    return proto_valid_id(s, strlen(s));
}

int users_valid_hash(const char *s)
{
    size_t n = strlen(s), p = sizeof USERS_HASH_PREFIX - 1;
    if (n <= p || n > USERS_MAX_HASH || strncmp(s, USERS_HASH_PREFIX, p) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f ||
            s[i] == ':')
            return 0;
    return 1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct users_entry *)a)->name,
                  ((const struct users_entry *)b)->name);
}

void users_free(struct users *u)
{
    if (u->v) {
        /* Hashes are not secrets, but they are what an attacker would
         * grind: nothing of them stays in freed memory. */
        volatile char *p = (volatile char *)u->v;
        for (size_t i = 0; i < u->n * sizeof *u->v; i++)
            p[i] = 0;
    }
    free(u->v);
    u->v = NULL;
    u->n = 0;
}

__attribute__((format(printf, 4, 5))) static int
bad(char *err, size_t errlen, int line, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "%d: ", line);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* One line (without its LF) into e; 1 when it is an entry, 0 when it is
 * blank or a comment, -1 when wrong. */
static int parse_line(const char *s, size_t n, int line, struct users_entry *e,
                      char *err, size_t errlen)
{
    if (n > 0 && s[n - 1] == '\r')
        n--;
    if (n == 0 || s[0] == '#')
        return 0;
    if (n > USERS_MAX_LINE)
        return bad(err, errlen, line, "line longer than %d bytes",
                   USERS_MAX_LINE);
    const char *colon = memchr(s, ':', n);
    if (colon == NULL)
        return bad(err, errlen, line, "not NAME:HASH");
    size_t nl = (size_t)(colon - s), hl = n - nl - 1;
    if (nl == 0 || nl > USERS_MAX_NAME)
        return bad(err, errlen, line,
                   "a user name is 1 to %d of A-Z a-z 0-9 . _ -",
                   USERS_MAX_NAME);
    memcpy(e->name, s, nl);
    e->name[nl] = '\0';
    if (!users_valid_name(e->name))
        return bad(err, errlen, line,
                   "a user name is 1 to %d of A-Z a-z 0-9 . _ -",
                   USERS_MAX_NAME);
    if (hl > USERS_MAX_HASH)
        return bad(err, errlen, line, "the hash of %s is too long", e->name);
    memcpy(e->hash, colon + 1, hl);
    e->hash[hl] = '\0';
    if (!users_valid_hash(e->hash))
        return bad(err, errlen, line,
                   "the hash of %s is not an argon2id hash (%s...); make it "
                   "with msgpasswd",
                   e->name, USERS_HASH_PREFIX);
    e->line = line;
    return 1;
}

int users_parse(const char *text, size_t len, struct users *out, char *err,
                size_t errlen)
{
    size_t cap = 0;
    int line = 0;
    *out = (struct users){0};
    for (size_t off = 0; off < len; line++) {
        const char *lf = memchr(text + off, '\n', len - off);
        size_t n = lf ? (size_t)(lf - (text + off)) : len - off;
        if (memchr(text + off, '\0', n)) {
            users_free(out);
            return bad(err, errlen, line + 1, "a NUL byte");
        }
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct users_entry *v = realloc(out->v, ncap * sizeof *v);
            if (v == NULL) {
                users_free(out);
                return bad(err, errlen, 0, "out of memory");
            }
            out->v = v;
            cap = ncap;
        }
        int r =
            parse_line(text + off, n, line + 1, &out->v[out->n], err, errlen);
        if (r < 0) {
            users_free(out);
            return -1;
        }
        out->n += (size_t)r;
        off += n + (lf != NULL);
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, by_name);
    for (size_t i = 1; i < out->n; i++)
        if (strcmp(out->v[i - 1].name, out->v[i].name) == 0) {
            int l = out->v[i - 1].line > out->v[i].line ? out->v[i - 1].line
                                                        : out->v[i].line;
            char name[USERS_MAX_NAME + 1];
            memcpy(name, out->v[i].name, sizeof name);
            users_free(out);
            return bad(err, errlen, l, "user %s is there twice", name);
        }
    return 0;
}

const struct users_entry *users_find(const struct users *u, const char *name)
{
    struct users_entry key;
    size_t n = strlen(name);
    if (n > USERS_MAX_NAME || u->n == 0)
        return NULL;
    memcpy(key.name, name, n + 1);
    return bsearch(&key, u->v, u->n, sizeof *u->v, by_name);
}

int users_load(const char *path, struct users *out, char *err, size_t errlen)
{
    *out = (struct users){0};
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)USERS_MAX_FILE) {
        snprintf(err, errlen, "%s: %s", path,
                 S_ISREG(st.st_mode) ? "larger than 16 MiB"
                                     : "not a regular file");
        close(fd);
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t have = 0;
    while (buf && have < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + have, (size_t)st.st_size - have);
        if (r <= 0)
            break;
        have += (size_t)r;
    }
    close(fd);
    if (buf == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    char why[256];
    int rc = users_parse(buf, have, out, why, sizeof why);
    explicit_bzero(buf, have);
    free(buf);
    if (rc < 0) {
        if (strncmp(why, "0: ", 3) == 0)
            snprintf(err, errlen, "%s: %s", path, why + 3);
        else
            snprintf(err, errlen, "%s:%s", path, why);
    }
    return rc;
}

int users_edit(const char *text, size_t len, const char *name, const char *hash,
               char **out, size_t *outlen)
{
    size_t nl = strlen(name), hl = hash ? strlen(hash) : 0;
    /* Room for the text, plus one line that grows by the new hash, or a
     * new line after an LF the text lacked. */
    char *o = malloc(len + nl + hl + 4), *p = o;
    int found = 0;
    if (o == NULL)
        return -1;
    for (size_t off = 0; off < len;) {
        const char *s = text + off, *lf = memchr(s, '\n', len - off);
        size_t n = lf ? (size_t)(lf - s) : len - off, end = n + (lf != NULL);
        size_t body = n > 0 && s[n - 1] == '\r' ? n - 1 : n;
        off += end;
        /* As users_parse reads it: NAME up to the first ':'; a comment
         * never matches, as '#' is not in a name. */
        if (found || body <= nl || s[nl] != ':' || memcmp(s, name, nl) != 0) {
            memcpy(p, s, end);
            p += end;
            continue;
        }
        found = 1;
        if (hash == NULL)
            continue;
        memcpy(p, name, nl);
        p += nl;
        *p++ = ':';
        memcpy(p, hash, hl);
        p += hl;
        memcpy(p, s + body, end - body);
        p += end - body;
    }
    if (!found && hash) {
        if (p > o && p[-1] != '\n')
            *p++ = '\n';
        memcpy(p, name, nl);
        p += nl;
        *p++ = ':';
        memcpy(p, hash, hl);
        p += hl;
        *p++ = '\n';
    }
    *p = '\0';
    *out = o;
    *outlen = (size_t)(p - o);
    return found;
}
