/* sessions.h: the daemon's sessions (msgd-protocol(7), SESSIONS): a
 * session opened at HELLO, what is sent to its node kept until ACKed, the
 * id held when the connection drops (a connection-less stand-in takes its
 * place in the router), resume, expiry and overflow, and the tombstones
 * that remember how many messages an ended session lost until its node
 * comes back to hear it.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_SESSIONS_H
#define MSGD_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "outq.h"
#include "session.h"

struct conn;

/* Whether sessions are served (session_hold > 0). */
int sessions_enabled(void);
/* A new session with a fresh random token, for c (not yet registered):
 * lost is what an earlier session of the node lost, told in the OK.
 * 0, or -1 without memory or randomness. */
int sessions_open(struct conn *c, uint64_t lost);
/* What a resume with this token for this id finds among the tombstones
 * of ended sessions: the messages lost (the tombstone is taken), or 0. */
uint64_t sessions_tombstone_take(const char *token, size_t tlen, const char *id,
                                 size_t idlen);
/* " session=TOKEN[ lost=N]" for c's OK (NUL-terminated), or "". */
void sessions_ok_suffix(const struct conn *c, char *out, size_t outlen);
/* c resumes old's session: the session moves to c, old's place in the
 * router (and its cluster key) goes to c, and old goes (a held stand-in
 * is freed; an open connection is closed as replaced).  Frames up to ack
 * are dropped; the OK is c's to send, then sessions_replay. */
void sessions_take_over(struct conn *c, struct conn *old, uint64_t ack);
/* Queues every kept frame not yet acknowledged, in order. */
void sessions_replay(struct conn *c);
/* ACK seq from c's node: 0, or -1 for a number never sent (refused). */
int sessions_ack(struct conn *c, uint64_t seq);

/* A message for c, which has a session: "MSG from to n\n" (hdr) gets the
 * next sequence number, is kept, and is queued when c is connected.
 * Returns what conn_deliver returns. */
int sessions_deliver(struct conn *c, const char *hdr, size_t hlen,
                     const char *payload, size_t plen);

/* c's connection is ending for a reason that holds a session (not QUIT,
 * kick, replace, shutdown): a stand-in takes c's id and session for
 * session_hold.  1 when held (c is then no longer registered), 0 when c
 * had nothing to hold. */
int sessions_hold(struct conn *c);
/* Ends c's session at once (QUIT, kick, replace): its kept frames go. */
void sessions_end(struct conn *c);
/* A held stand-in's hold ran out (or it was kicked: why says which):
 * its id is freed and its kept messages are counted lost. */
void sessions_expire(struct conn *held, const char *why);
/* Seconds left of a held stand-in's hold. */
double sessions_seconds_left(const struct conn *held);

#endif
