/* journal.c: the commands a session sent and the server has not yet
 * confirmed (see journal.h).  Bytes go into one buffer and entries into
 * one array, both trimmed from the front as entries are done: counted
 * commands are confirmed in order, and replies come in the order of
 * their queries, so what is done is almost always a prefix.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "journal.h"

#include <stdlib.h>
#include <string.h>

void mcj_init(struct mcj *j)
{
    memset(j, 0, sizeof *j);
}

void mcj_free(struct mcj *j)
{
    free(j->buf);
    free(j->e);
    mcj_init(j);
}

/* Drops done entries from the front, and moves what is left down once
 * the dead front is the larger part (amortized: each byte moves once). */
static void trim(struct mcj *j)
{
    while (j->e_off < j->e_len && j->e[j->e_off].done)
        j->e_off++;
    if (j->q_next < j->e_off)
        j->q_next = j->e_off;
    if (j->e_off == j->e_len) {
        j->e_off = j->e_len = j->q_next = 0;
        j->buf_off = j->buf_len = 0;
        return;
    }
    j->buf_off = j->e[j->e_off].off;
    if (j->e_off > j->e_len - j->e_off) {
        memmove(j->e, j->e + j->e_off, (j->e_len - j->e_off) * sizeof *j->e);
        j->e_len -= j->e_off;
        j->q_next -= j->e_off;
        j->e_off = 0;
    }
    if (j->buf_off > j->buf_len - j->buf_off) {
        size_t shift = j->buf_off;
        memmove(j->buf, j->buf + shift, j->buf_len - shift);
        j->buf_len -= shift;
        j->buf_off = 0;
        for (size_t i = j->e_off; i < j->e_len; i++)
            j->e[i].off -= shift;
    }
}

int mcj_add(struct mcj *j, uint64_t num, const void *bytes, size_t len)
{
    if (j->buf_len + len > j->buf_cap) {
        size_t cap = j->buf_cap ? j->buf_cap : 4096;
        while (cap < j->buf_len + len)
            cap *= 2;
        char *p = realloc(j->buf, cap);
        if (p == NULL)
            return -1;
        j->buf = p;
        j->buf_cap = cap;
    }
    if (j->e_len == j->e_cap) {
        size_t cap = j->e_cap ? j->e_cap * 2 : 64;
        struct mcj_entry *p = realloc(j->e, cap * sizeof *p);
        if (p == NULL)
            return -1;
        j->e = p;
        j->e_cap = cap;
    }
    memcpy(j->buf + j->buf_len, bytes, len);
    j->e[j->e_len++] = (struct mcj_entry){num, j->buf_len, len, 0};
    j->buf_len += len;
    return 0;
}

void mcj_confirm(struct mcj *j, uint64_t num)
{
    for (size_t i = j->e_off; i < j->e_len; i++) {
        if (j->e[i].num > num)
            break; /* numbers rise: none further is confirmed */
        if (j->e[i].num != 0)
            j->e[i].done = 1;
    }
    trim(j);
}

int mcj_answer(struct mcj *j)
{
    for (size_t i = j->q_next; i < j->e_len; i++) {
        if (j->e[i].num == 0 && !j->e[i].done) {
            j->e[i].done = 1;
            j->q_next = i + 1;
            trim(j);
            return 0;
        }
    }
    return -1;
}

size_t mcj_pending(const struct mcj *j)
{
    size_t n = 0;
    for (size_t i = j->e_off; i < j->e_len; i++)
        n += !j->e[i].done;
    return n;
}

int mcj_each(const struct mcj *j,
             int (*fn)(void *arg, const char *bytes, size_t len), void *arg)
{
    for (size_t i = j->e_off; i < j->e_len; i++) {
        if (j->e[i].done)
            continue;
        int rc = fn(arg, j->buf + j->e[i].off, j->e[i].len);
        if (rc < 0)
            return rc;
    }
    return 0;
}
