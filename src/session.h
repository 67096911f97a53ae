/* session.h: what a session keeps for its node (msgd-protocol(7),
 * SESSIONS): the messages sent to it and not yet acknowledged, in order of
 * their sequence numbers, as references to whole frames in shared blocks
 * (outq.h), so that a message is stored once however often it is sent
 * again; and the session's token.  Pure: no I/O, no clock.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_SESSION_H
#define MSGD_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "outq.h"
#include "proto.h"

#define SESSION_TOKEN_BYTES 16 /* 128 bits; 32 hex digits on the wire */

/* One kept frame: its bytes in a shared block, a reference held. */
struct session_frame {
    struct shared *sh;
    uint32_t off, len;
};

struct session {
    uint8_t token[SESSION_TOKEN_BYTES];
    uint64_t next_seq; /* the next message's sequence number (from 1) */
    uint64_t acked;    /* every message up to it is acknowledged */
    /* The kept frames, sequence numbers acked + 1 .. next_seq - 1, in a
     * ring that grows by doubling. */
    struct session_frame *ring;
    uint32_t cap, head, count;
    size_t bytes;         /* bytes of kept frames */
    struct shared *block; /* where this session's small frames are packed */
    uint64_t lost; /* messages an earlier session of the node lost, told in
                      this one's OK */
    uint64_t in;   /* SEND and BCAST commands read from the node: told at a
                      resume, so that it sends again only what never came */
    uint8_t resumed; /* the next OK is a resume's (it tells in=) */
};

/* A new session with the given token: nothing kept, next_seq 1. */
void session_init(struct session *s, const uint8_t token[SESSION_TOKEN_BYTES]);
/* Lets go of every kept frame and the block. */
void session_clear(struct session *s, struct chunk_pool *p);

/* Keeps the frame hdr (with s->next_seq in it, see proto_msg_header_seq),
 * payload, LF as message s->next_seq, which it then advances.  The frame
 * is written once into s's block; *sh and *off say where (the caller queues
 * it for sending with outq_append_shared).  0, or -1 without memory
 * (nothing kept, next_seq unchanged). */
int session_keep(struct session *s, struct chunk_pool *p, const char *hdr,
                 size_t hlen, const char *payload, size_t plen,
                 struct shared **sh, uint32_t *off);

/* What an ACK of seq does. */
enum session_ack {
    SESSION_ACK_DONE,  /* frames up to seq let go */
    SESSION_ACK_OLD,   /* at or below what was acknowledged: nothing to do */
    SESSION_ACK_AHEAD, /* a number never sent: refused, nothing changed */
};
enum session_ack session_ack(struct session *s, struct chunk_pool *p,
                             uint64_t seq);

/* The kept frame of sequence number seq (acked < seq < next_seq), or
 * NULL. */
const struct session_frame *session_frame(const struct session *s,
                                          uint64_t seq);

/* The token as 32 lower-case hex digits and a NUL. */
void session_token_hex(const uint8_t token[SESSION_TOKEN_BYTES],
                       char out[PROTO_TOKEN_LEN + 1]);
/* Whether text[0..len) is token's hex form (lower or upper case), compared
 * in time that does not depend on where they differ. */
int session_token_matches(const uint8_t token[SESSION_TOKEN_BYTES],
                          const char *text, size_t len);

#endif
