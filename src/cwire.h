/* cwire.h: what msgd instances of one cluster say to each other over NATS,
 * as pure functions (no I/O): node ids as key-value keys, the owner value
 * stored under each key, heartbeats, and the batches of records sent to
 * one instance's subject.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_CWIRE_H
#define MSGD_CWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* A node id as a NATS key-value key: '.' (which would split the key into
 * tokens, and may not start or end one) becomes "=2E"; '=' is not an id
 * character, so the mapping is one to one. */
#define CW_MAX_KEY (3 * PROTO_MAX_ID)
size_t cw_key_encode(char out[CW_MAX_KEY + 1], const char *id, size_t len);
/* Returns the id's length, or -1 when key is no encoded id. */
int cw_key_decode(char out[PROTO_MAX_ID + 1], const char *key, size_t len);

/* An instance: a random 64-bit incarnation (new at every start, so a
 * restarted instance is never mistaken for its dead predecessor) and a
 * name for people.  Written "<16 hex digits> <name>".  A name is 1 to
 * CW_MAX_NAME bytes without control characters (below 0x20, or 0x7f): it
 * ends up in logs, msgctl's tables and terminals. */
#define CW_MAX_NAME 255
struct cw_owner {
    uint64_t inc;
    const char *name;
    size_t name_len;
};
int cw_owner_format(char *out, size_t size, uint64_t inc, const char *name);
int cw_owner_parse(const char *s, size_t len, struct cw_owner *o);

/* True when s[0..len) holds no control character (below 0x20, or 0x7f). */
int cw_printable(const char *s, size_t len);

/* Heartbeat: "<inc> <nodes> <name>"; nodes -1 says the instance leaves.
 * A count above CW_MAX_NODES is refused: no instance holds that many, and
 * a bound keeps a forged one from reaching msgctl as a wrapped number. */
#define CW_MAX_NODES 1000000000LL
int cw_hb_format(char *out, size_t size, uint64_t inc, long long nodes,
                 const char *name);
int cw_hb_parse(const char *s, size_t len, struct cw_owner *o,
                long long *nodes);

/* A batch starts with the sender's incarnation, "FROM <16 hex>\n", so
 * that the receiver can check that each message's sender is a node the
 * sending instance holds; then come records, back to back:
 *   MSG <from> <to|*> <n>\n<payload>\n   a message (the client's own frame)
 *   KICK <id>[ <reason>]\n               an operator's kick
 *   DROP <id>\n                          the id was taken over elsewhere
 * CW_REFUSED is a well-framed record whose content is refused (a KICK
 * reason with control characters, which would reach the node's BYE line):
 * the caller skips it and goes on with the next one. */
#define CW_HEAD_LEN 22
size_t cw_head_format(char out[CW_HEAD_LEN + 1], uint64_t inc);
/* Returns CW_HEAD_LEN with *inc, or -1 when buf starts with no head. */
int cw_head_parse(const char *buf, size_t len, uint64_t *inc);

enum cw_kind { CW_MSG, CW_KICK, CW_DROP, CW_REFUSED };

struct cw_rec {
    enum cw_kind kind;
    const char *hdr; /* CW_MSG: the header line with its LF */
    size_t hlen;
    const char *from, *to, *payload, *text;
    size_t from_len, to_len, plen, text_len;
};

/* Parses the record at buf; returns its length, 0 at the end, -1 when the
 * bytes are no record (the rest of the batch is then dropped). */
long cw_next(const char *buf, size_t len, struct cw_rec *r);
/* Writes "KICK id[ reason]\n" or "DROP id\n"; returns the length.  The
 * reason must hold no control character (admin_valid_reason). */
size_t cw_control(char *out, size_t size, enum cw_kind kind, const char *id,
                  size_t idlen, const char *text);

#endif
