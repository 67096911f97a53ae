/* cwire.h: what msgd instances of one cluster say to each other over NATS,
 * as pure functions (no I/O): node ids as key-value keys, the owner value
 * stored under each key, heartbeats, and the batches of records sent to
 * one instance's subject. */
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
 * name for people.  Written "<16 hex digits> <name>". */
#define CW_MAX_NAME 255
struct cw_owner {
    uint64_t inc;
    const char *name;
    size_t name_len;
};
int cw_owner_format(char *out, size_t size, uint64_t inc, const char *name);
int cw_owner_parse(const char *s, size_t len, struct cw_owner *o);

/* Heartbeat: "<inc> <nodes> <name>"; nodes -1 says the instance leaves. */
int cw_hb_format(char *out, size_t size, uint64_t inc, long long nodes,
                 const char *name);
int cw_hb_parse(const char *s, size_t len, struct cw_owner *o,
                long long *nodes);

/* Batch records, back to back:
 *   MSG <from> <to|*> <n>\n<payload>\n   a message (the client's own frame)
 *   KICK <id>[ <reason>]\n               an operator's kick
 *   DROP <id>\n                          the id was taken over elsewhere */
enum cw_kind { CW_MSG, CW_KICK, CW_DROP };

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
/* Writes "KICK id[ reason]\n" or "DROP id\n"; returns the length. */
size_t cw_control(char *out, size_t size, enum cw_kind kind, const char *id,
                  size_t idlen, const char *text);

#endif
