/* journal.h: libmsgclient's record of commands a session has sent but the
 * server has not yet confirmed, so that a resume can send exactly the
 * missing ones again.  Two kinds of entries, in the order sent:
 *
 *  - counted (SEND, BCAST), numbered 1, 2, 3 ... per session: done once
 *    the server says it has read that many (in=N at a resume, or the PONG
 *    of a later PING);
 *  - queries (PING, WHO): done once their reply arrives.  A reply is never
 *    kept across a reconnect, so a query left unanswered when the
 *    connection drops is sent again and answered exactly once.
 *
 * Pure: no I/O.  Names start with mcj_, which the shared library does not
 * export.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGCLIENT_JOURNAL_H
#define MSGCLIENT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

struct mcj_entry {
    uint64_t num; /* counted: its number; 0: a query */
    size_t off, len; /* its bytes, in the journal's buffer */
    int done;
};

struct mcj {
    char *buf;
    size_t buf_off, buf_len, buf_cap; /* bytes of live entries from buf_off */
    struct mcj_entry *e;
    size_t e_off, e_len, e_cap; /* live entries are e[e_off, e_len) */
    size_t q_next;              /* no pending query before e[q_next] */
};

void mcj_init(struct mcj *j);
void mcj_free(struct mcj *j);
/* Appends a command's bytes: num > 0 a counted one, 0 a query.  0 or -1
 * (out of memory). */
int mcj_add(struct mcj *j, uint64_t num, const void *bytes, size_t len);
/* The server has read every counted command up to num. */
void mcj_confirm(struct mcj *j, uint64_t num);
/* A reply came: the oldest pending query is done.  0, or -1 if none was
 * pending (a reply to something the journal did not see). */
int mcj_answer(struct mcj *j);
/* Entries not done yet. */
size_t mcj_pending(const struct mcj *j);
/* Calls fn on each entry not done, in order (to send them again); stops
 * at the first fn that returns < 0 and returns that. */
int mcj_each(const struct mcj *j,
             int (*fn)(void *arg, const char *bytes, size_t len), void *arg);

#endif
