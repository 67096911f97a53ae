/* idtable.h: node id -> value map; pure, no I/O.  Open addressing with
 * linear probing and backward-shift deletion; a keyed hash so that chosen
 * ids cannot force collisions.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_IDTABLE_H
#define MSGD_IDTABLE_H

#include <stddef.h>
#include <stdint.h>

struct idt_slot {
    uint64_t hash;   /* 0 = empty */
    const char *key; /* owned by the value; must outlive the entry */
    uint32_t key_len;
    void *val;
};

struct idtable {
    struct idt_slot *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t count;
    uint64_t k0, k1; /* hash key */
};

/* seed: 16 random bytes (getrandom at start); NULL for a fixed key. */
int idt_init(struct idtable *t, const uint8_t seed[16]);
void idt_free(struct idtable *t);
void *idt_get(const struct idtable *t, const char *key, size_t len);
/* Inserts; the key must not be present.  Returns 0, or -1 when memory
 * for growth cannot be had (the table is unchanged). */
int idt_put(struct idtable *t, const char *key, size_t len, void *val);
/* Removes key; returns its value or NULL. */
void *idt_del(struct idtable *t, const char *key, size_t len);
/* Walks the values, in no particular order: start with *at = 0; returns
 * the next value and advances *at, or NULL at the end.  The table must not
 * change during the walk. */
void *idt_next(const struct idtable *t, size_t *at);
uint64_t idt_hash(const struct idtable *t, const char *key, size_t len);

#endif
