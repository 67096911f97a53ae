/* lograte.c: per-address budgets for log lines (GCRA, one timestamp per
 * pair) in a fixed table, so memory stays the same whatever the number of
 * addresses; pure, no I/O.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "lograte.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

enum { KEY_V4 = 4, KEY_V6 = 6, KEY_TEXT = 0 };

void lograte_init(struct lograte *lr, uint32_t rate, uint64_t seed)
{
    memset(lr, 0, sizeof *lr);
    lr->rate = rate;
    lr->seed = seed;
}

void lograte_set_rate(struct lograte *lr, uint32_t rate)
{
    lr->rate = rate;
}

size_t lograte_key(const char *addr, uint8_t key[LOGRATE_KEY_MAX])
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    size_t n = colon ? (size_t)(colon - addr) : strlen(addr);

    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
        addr++;
        n -= 2;
    }
    if (n >= sizeof host)
        n = sizeof host - 1;
    memcpy(host, addr, n);
    host[n] = '\0';
    if (inet_pton(AF_INET, host, key + 1) == 1) {
        key[0] = KEY_V4;
        return 5;
    }
    uint8_t v6[16];
    if (inet_pton(AF_INET6, host, v6) == 1) {
        key[0] = KEY_V6;
        memcpy(key + 1, v6, 8);
        return 9;
    }
    key[0] = KEY_TEXT;
    n = n < LOGRATE_KEY_MAX - 1 ? n : LOGRATE_KEY_MAX - 1;
    memcpy(key + 1, host, n);
    return n + 1;
}

void lograte_key_text(const uint8_t *key, size_t key_len, char *out,
                      size_t outlen)
{
    char host[INET6_ADDRSTRLEN];
    uint8_t v6[16] = {0};

    if (key[0] == KEY_V4 && key_len == 5 &&
        inet_ntop(AF_INET, key + 1, host, sizeof host)) {
        snprintf(out, outlen, "%s", host);
    } else if (key[0] == KEY_V6 && key_len == 9) {
        memcpy(v6, key + 1, 8);
        inet_ntop(AF_INET6, v6, host, sizeof host);
        snprintf(out, outlen, "%s/64", host);
    } else {
        snprintf(out, outlen, "%.*s", (int)(key_len ? key_len - 1 : 0),
                 (const char *)key + 1);
    }
}

static uint64_t hash(const struct lograte *lr, const uint8_t *key, size_t n,
                     unsigned event)
{
    uint64_t h = 1469598103934665603ULL ^ lr->seed;
    h = (h ^ event) * 1099511628211ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ key[i]) * 1099511628211ULL;
    /* FNV's low bits are weak; fold the high ones in before masking. */
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
}

static int same(const struct lograte_slot *s, const uint8_t *key, size_t n,
                unsigned event)
{
    return s->key_len == n && s->event == event && memcmp(s->key, key, n) == 0;
}

static void summarise(struct lograte *lr, struct lograte_slot *s,
                      lograte_emit_fn emit, void *arg)
{
    if (s->suppressed == 0)
        return;
    if (emit)
        emit(s->key, s->key_len, s->event, s->suppressed, arg);
    s->suppressed = 0;
    lr->pending--;
}

/* The pair's slot: its own, else a spent-out or never-used one, else the
 * one whose budget was touched least recently (summarised first). */
static struct lograte_slot *slot_for(struct lograte *lr, const uint8_t *key,
                                     size_t n, unsigned event, int64_t now_us,
                                     lograte_emit_fn emit, void *arg)
{
    size_t h = (size_t)hash(lr, key, n, event);
    struct lograte_slot *free_slot = NULL, *oldest = NULL;

    for (size_t i = 0; i < LOGRATE_PROBE; i++) {
        struct lograte_slot *s = &lr->slots[(h + i) % LOGRATE_SLOTS];
        if (same(s, key, n, event))
            return s;
        int reusable = s->key_len == 0 ||
                       (s->suppressed == 0 && s->tat_us <= now_us);
        if (reusable && free_slot == NULL)
            free_slot = s;
        if (oldest == NULL || s->tat_us < oldest->tat_us)
            oldest = s;
    }
    struct lograte_slot *s = free_slot ? free_slot : oldest;
    summarise(lr, s, emit, arg);
    memset(s, 0, sizeof *s);
    memcpy(s->key, key, n);
    s->key_len = (uint8_t)n;
    s->event = (uint8_t)event;
    s->tat_us = INT64_MIN / 2;
    return s;
}

int lograte_allow(struct lograte *lr, const uint8_t *key, size_t key_len,
                  unsigned event, int64_t now_us, lograte_emit_fn emit,
                  void *arg)
{
    if (lr->rate == 0)
        return 1;
    if (key_len > LOGRATE_KEY_MAX)
        key_len = LOGRATE_KEY_MAX;
    struct lograte_slot *s =
        slot_for(lr, key, key_len, event & 0xff, now_us, emit, arg);
    int64_t t = 1000000 / lr->rate;
    int64_t burst = (int64_t)lr->rate * LOGRATE_BURST_SECS;
    int64_t tau = (burst - 1) * t;

    if (s->tat_us - tau > now_us) {
        if (s->suppressed++ == 0)
            lr->pending++;
        lr->suppressed++;
        return 0;
    }
    s->tat_us = (s->tat_us > now_us ? s->tat_us : now_us) + t;
    return 1;
}

size_t lograte_flush(struct lograte *lr, lograte_emit_fn emit, void *arg)
{
    size_t n = 0;
    for (size_t i = 0; i < LOGRATE_SLOTS && lr->pending; i++) {
        if (lr->slots[i].suppressed) {
            summarise(lr, &lr->slots[i], emit, arg);
            n++;
        }
    }
    return n;
}
