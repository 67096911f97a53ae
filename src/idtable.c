/* idtable.c: the id table.  SipHash-1-3 keyed at start keeps probe chains
 * short whatever ids clients pick; the table doubles at 3/4 load and never
 * shrinks below its initial size.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "idtable.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_CAP 64

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
    do {                                                                       \
        v0 += v1;                                                              \
        v1 = ROTL(v1, 13);                                                     \
        v1 ^= v0;                                                              \
        v0 = ROTL(v0, 32);                                                     \
        v2 += v3;                                                              \
        v3 = ROTL(v3, 16);                                                     \
        v3 ^= v2;                                                              \
        v0 += v3;                                                              \
        v3 = ROTL(v3, 21);                                                     \
        v3 ^= v0;                                                              \
        v2 += v1;                                                              \
        v1 = ROTL(v1, 17);                                                     \
        v1 ^= v2;                                                              \
        v2 = ROTL(v2, 32);                                                     \
    } while (0)

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t idt_hash(const struct idtable *t, const char *key, size_t len)
{
    const unsigned char *in = (const unsigned char *)key;
    uint64_t v0 = 0x736f6d6570736575ULL ^ t->k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ t->k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ t->k0;
    uint64_t v3 = 0x7465646279746573ULL ^ t->k1;
    size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        uint64_t m = load_le64(in + i);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t j = 0; i + j < len; j++)
        b |= (uint64_t)in[i + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    uint64_t h = v0 ^ v1 ^ v2 ^ v3;
    return h ? h : 1; /* 0 marks an empty slot */
}

int idt_init(struct idtable *t, const uint8_t seed[16])
{
    memset(t, 0, sizeof *t);
    if (seed) {
        t->k0 = load_le64(seed);
        t->k1 = load_le64(seed + 8);
    }
    t->slots = calloc(INITIAL_CAP, sizeof *t->slots);
    if (t->slots == NULL)
        return -1;
    t->mask = INITIAL_CAP - 1;
    return 0;
}

void idt_free(struct idtable *t)
{
    free(t->slots);
    t->slots = NULL;
    t->count = 0;
}

static size_t find(const struct idtable *t, uint64_t h, const char *key,
                   size_t len)
{
    size_t i = (size_t)h & t->mask;
    for (;;) {
        const struct idt_slot *s = &t->slots[i];
        if (s->hash == 0)
            return i;
        if (s->hash == h && s->key_len == len && memcmp(s->key, key, len) == 0)
            return i;
        i = (i + 1) & t->mask;
    }
}

void *idt_get(const struct idtable *t, const char *key, size_t len)
{
    uint64_t h = idt_hash(t, key, len);
    return t->slots[find(t, h, key, len)].val;
}

static int grow(struct idtable *t)
{
    size_t cap = (t->mask + 1) * 2;
    struct idt_slot *old = t->slots, *slots = calloc(cap, sizeof *slots);
    size_t old_cap = t->mask + 1;

    if (slots == NULL)
        return -1;
    t->slots = slots;
    t->mask = cap - 1;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].hash == 0)
            continue;
        size_t j = (size_t)old[i].hash & t->mask;
        while (slots[j].hash != 0)
            j = (j + 1) & t->mask;
        slots[j] = old[i];
    }
    free(old);
    return 0;
}

int idt_put(struct idtable *t, const char *key, size_t len, void *val)
{
    if ((t->count + 1) * 4 > (t->mask + 1) * 3 && grow(t) < 0)
        return -1;
    uint64_t h = idt_hash(t, key, len);
    size_t i = find(t, h, key, len);
    t->slots[i] = (struct idt_slot){h, key, (uint32_t)len, val};
    t->count++;
    return 0;
}

void *idt_del(struct idtable *t, const char *key, size_t len)
{
    uint64_t h = idt_hash(t, key, len);
    size_t i = find(t, h, key, len);
    void *val = t->slots[i].val;

    if (t->slots[i].hash == 0)
        return NULL;
    /* Backward shift: pull later members of the probe run into the hole
     * unless that would move one before its home slot. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        if (t->slots[j].hash == 0)
            break;
        size_t home = (size_t)t->slots[j].hash & t->mask;
        if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = (struct idt_slot){0, NULL, 0, NULL};
    t->count--;
    return val;
}

void *idt_next(const struct idtable *t, size_t *at)
{
    for (; t->slots && *at <= t->mask; (*at)++)
        if (t->slots[*at].hash)
            return t->slots[(*at)++].val;
    return NULL;
}
