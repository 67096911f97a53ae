/* lograte.h: per-address budgets for log lines; pure, no I/O, time passed
 * in.  One client must not be able to fill the disk through client_log:
 * each (address, event) pair may write a burst of lines, then a steady
 * rate; lines past that are counted, and the counts are handed back once a
 * second so that one summary line says how many were not written.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_LOGRATE_H
#define MSGD_LOGRATE_H

#include <stddef.h>
#include <stdint.h>

#define LOGRATE_SLOTS 1024    /* (address, event) pairs tracked at once */
#define LOGRATE_PROBE 8       /* slots looked at per lookup */
#define LOGRATE_BURST_SECS 5  /* the burst is this many seconds of rate */
#define LOGRATE_KEY_MAX 17    /* family byte + up to 16 address bytes */

struct lograte_slot {
    int64_t tat_us;      /* GCRA: the theoretical arrival time */
    uint32_t suppressed; /* lines not written since the last summary */
    uint8_t event;
    uint8_t key_len;     /* 0: slot never used */
    uint8_t key[LOGRATE_KEY_MAX];
};

struct lograte {
    uint32_t rate;        /* lines per second per pair; 0 = no limit */
    uint64_t seed;        /* keys the hash, so slots cannot be aimed at */
    uint64_t suppressed;  /* lines not written, since start */
    uint32_t pending;     /* slots holding a count not yet summarised */
    struct lograte_slot slots[LOGRATE_SLOTS];
};

/* Called for each summary: the address as a key (see lograte_key_text),
 * the event, and how many lines of it were not written. */
typedef void (*lograte_emit_fn)(const uint8_t *key, size_t key_len,
                                unsigned event, uint32_t count, void *arg);

void lograte_init(struct lograte *lr, uint32_t rate, uint64_t seed);
/* Changes the rate (a reload); budgets already spent stay spent. */
void lograte_set_rate(struct lograte *lr, uint32_t rate);

/* Turns a connection address as msgd writes it ("1.2.3.4:5678",
 * "[2001:db8::1]:5678") into the key of its budget: the IPv4 address, or
 * the IPv6 /64, since one host can hold a whole /64.  Anything else is
 * keyed by its text before the port.  Returns the key's length. */
size_t lograte_key(const char *addr, uint8_t key[LOGRATE_KEY_MAX]);
/* Writes the key back as text ("1.2.3.4", "2001:db8::/64"). */
void lograte_key_text(const uint8_t *key, size_t key_len, char *out,
                      size_t outlen);

/* 1 if a line of event (0..255) from the address of key may be written at
 * now_us; 0 if it is suppressed (and counted).  When the table has no room,
 * the least recently spent pair is summarised through emit and reused. */
int lograte_allow(struct lograte *lr, const uint8_t *key, size_t key_len,
                  unsigned event, int64_t now_us, lograte_emit_fn emit,
                  void *arg);

/* Hands every pending count to emit and clears it.  Returns how many
 * summaries were emitted. */
size_t lograte_flush(struct lograte *lr, lograte_emit_fn emit, void *arg);

#endif
