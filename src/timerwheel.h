/* timerwheel.h: a hierarchical timing wheel (Varghese & Lauck, scheme 7,
 * as in Linux's classic kernel/time/timer.c); pure, no clock inside: the
 * caller passes time in ticks.  Arm, cancel and re-arm are O(1); expiry
 * visits only due timers and cascades each timer at most once per level.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_TIMERWHEEL_H
#define MSGD_TIMERWHEEL_H

#include <stddef.h>
#include <stdint.h>

#define TW_BITS 6
#define TW_SLOTS (1u << TW_BITS)
#define TW_LEVELS 7 /* 64^7 ticks: 139 years of milliseconds */

struct tw_timer {
    struct tw_timer *next, **pprev; /* pprev NULL: not armed */
    uint64_t expires;               /* tick */
};

struct tw {
    uint64_t now; /* the next tick to process */
    size_t count;
    uint64_t occupied[TW_LEVELS]; /* bit s: slot s is non-empty */
    struct tw_timer *slot[TW_LEVELS][TW_SLOTS];
};

typedef void (*tw_fire_fn)(struct tw_timer *t, void *arg);

void tw_init(struct tw *w, uint64_t now);
/* Arms (or re-arms) t to fire once now >= expires; an expiry in the past
 * fires at the next advance to a later tick than the wheel has reached. */
void tw_arm(struct tw *w, struct tw_timer *t, uint64_t expires);
void tw_cancel(struct tw *w, struct tw_timer *t);

static inline int tw_armed(const struct tw_timer *t)
{
    return t->pprev != NULL;
}

/* Fires, in expiry order, every timer with expires <= now.  A callback may
 * arm, re-arm or cancel any timer, itself included.  Returns how many fired. */
size_t tw_advance(struct tw *w, uint64_t now, tw_fire_fn fire, void *arg);

/* The earliest tick at which tw_advance may have work: a lower bound of
 * the next expiry, exact for timers armed less than 64 ticks ahead (others
 * may cost an early wake-up to move down a level); UINT64_MAX when empty. */
uint64_t tw_next(const struct tw *w);

#endif
