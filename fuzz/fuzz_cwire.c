/* fuzz_cwire.c: libFuzzer target for what one cluster instance accepts
 * from another over NATS (src/cwire.c): a batch of records, an owner value
 * and a heartbeat.  Every record must lie inside the input, a message's
 * header and payload must be where its length says, a KICK accepted must
 * have a reason without control characters, a name accepted must hold no
 * control character, a heartbeat's node count must be within its bound, a
 * batch head must parse back to what it was formatted from, and a key
 * must decode to a valid id that encodes back to the same key.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so that any read past the end is caught. */
    char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);

    struct cw_rec r;
    size_t off = 0;
    long used;
    uint64_t inc;
    if (cw_head_parse(buf, size, &inc) == CW_HEAD_LEN) {
        char head[CW_HEAD_LEN + 1];
        if (cw_head_format(head, inc) != CW_HEAD_LEN ||
            memcmp(head, buf, CW_HEAD_LEN) != 0)
            abort();
        off = CW_HEAD_LEN; /* the records after it, as a receiver reads */
    }
    while ((used = cw_next(buf + off, size - off, &r)) > 0) {
        if ((size_t)used > size - off)
            abort();
        if (r.kind == CW_MSG) {
            if (r.hdr != buf + off || r.payload != r.hdr + r.hlen ||
                r.hlen + r.plen + 1 != (size_t)used ||
                r.hdr[r.hlen - 1] != '\n' || r.payload[r.plen] != '\n' ||
                !proto_valid_id(r.from, r.from_len))
                abort();
        } else if (!proto_valid_id(r.to, r.to_len)) {
            abort();
        } else if (r.kind == CW_KICK && r.text &&
                   !cw_printable(r.text, r.text_len)) {
            abort(); /* it would reach a BYE line */
        }
        off += (size_t)used;
    }

    char id[PROTO_MAX_ID + 1], key[CW_MAX_KEY + 1];
    int n = cw_key_decode(id, buf, size);
    if (n >= 0) {
        if (!proto_valid_id(id, (size_t)n))
            abort();
        size_t k = cw_key_encode(key, id, (size_t)n);
        if (k != size || memcmp(key, buf, size) != 0)
            abort();
    }
    struct cw_owner o;
    long long nodes;
    if (cw_owner_parse(buf, size, &o) == 0 &&
        (o.name < buf || o.name + o.name_len > buf + size ||
         !cw_printable(o.name, o.name_len)))
        abort();
    if (cw_hb_parse(buf, size, &o, &nodes) == 0 &&
        (nodes < -1 || nodes > CW_MAX_NODES ||
         !cw_printable(o.name, o.name_len)))
        abort();
    free(buf);
    return 0;
}
