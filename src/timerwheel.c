/* timerwheel.c: hierarchical timing wheel.  Level L holds timers due in
 * [64^L, 64^(L+1)) ticks, in slot (expires >> 6L) & 63.  When level 0 wraps,
 * the current slot of level 1 is re-inserted (cascaded) into level 0, and so
 * on up; so every timer fires exactly at its tick, never early.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "timerwheel.h"

#include <string.h>

#define MASK (TW_SLOTS - 1)
#define MAX_DELTA ((uint64_t)1 << (TW_BITS * TW_LEVELS))

static void link_slot(struct tw *w, int lvl, unsigned s, struct tw_timer *t)
{
    struct tw_timer **head = &w->slot[lvl][s];
    t->next = *head;
    if (t->next)
        t->next->pprev = &t->next;
    *head = t;
    t->pprev = head;
    w->occupied[lvl] |= (uint64_t)1 << s;
}

static void place(struct tw *w, struct tw_timer *t)
{
    uint64_t exp = t->expires;
    uint64_t delta;

    if (exp < w->now)
        exp = w->now; /* overdue: the very next tick */
    delta = exp - w->now;
    if (delta >= MAX_DELTA) {
        delta = MAX_DELTA - 1;
        exp = w->now + delta;
    }
    int lvl = 0;
    while (delta >= ((uint64_t)1 << (TW_BITS * (lvl + 1))))
        lvl++;
    link_slot(w, lvl, (unsigned)(exp >> (TW_BITS * lvl)) & MASK, t);
}

static void unlink_timer(struct tw *w, struct tw_timer *t)
{
    *t->pprev = t->next;
    if (t->next)
        t->next->pprev = t->pprev;
    /* The head pointer lives inside w->slot; when the slot empties,
     * clear its occupied bit. */
    if (t->pprev >= &w->slot[0][0] &&
        t->pprev < &w->slot[0][0] + TW_LEVELS * TW_SLOTS && *t->pprev == NULL) {
        size_t i = (size_t)(t->pprev - &w->slot[0][0]);
        w->occupied[i / TW_SLOTS] &= ~((uint64_t)1 << (i % TW_SLOTS));
    }
    t->pprev = NULL;
    t->next = NULL;
}

void tw_init(struct tw *w, uint64_t now)
{
    memset(w, 0, sizeof *w);
    w->now = now;
}

void tw_arm(struct tw *w, struct tw_timer *t, uint64_t expires)
{
    if (t->pprev)
        unlink_timer(w, t);
    else
        w->count++;
    t->expires = expires;
    place(w, t);
}

void tw_cancel(struct tw *w, struct tw_timer *t)
{
    if (t->pprev == NULL)
        return;
    unlink_timer(w, t);
    w->count--;
}

/* Re-insert every timer of slot s of level lvl; they land below lvl. */
static void cascade(struct tw *w, int lvl, unsigned s)
{
    struct tw_timer *t = w->slot[lvl][s];
    w->slot[lvl][s] = NULL;
    w->occupied[lvl] &= ~((uint64_t)1 << s);
    while (t) {
        struct tw_timer *next = t->next;
        place(w, t);
        t = next;
    }
}

static unsigned level_index(const struct tw *w, int lvl)
{
    return (unsigned)(w->now >> (TW_BITS * lvl)) & MASK;
}

/* Stable merge sort of a list by expires.  A level-0 slot holds timers due
 * at its tick and overdue ones armed with an expiry already past; the
 * overdue ones must fire first, in their own expiry order. */
static struct tw_timer *sort_by_expires(struct tw_timer *list)
{
    struct tw_timer *slow = list, *fast, *half, *head = NULL, **tail = &head;

    if (list == NULL || list->next == NULL)
        return list;
    for (fast = list->next; fast && fast->next; fast = fast->next->next)
        slow = slow->next;
    half = slow->next;
    slow->next = NULL;
    list = sort_by_expires(list);
    half = sort_by_expires(half);
    while (list && half) {
        struct tw_timer **from = half->expires < list->expires ? &half : &list;
        *tail = *from;
        tail = &(*from)->next;
        *from = (*from)->next;
    }
    *tail = list ? list : half;
    return head;
}

/* Detaches slot idx of level 0, in expiry order; the list's head pointer
 * is *pending. */
static void take_slot(struct tw *w, unsigned idx, struct tw_timer **pending)
{
    struct tw_timer *t = w->slot[0][idx];
    int sorted = 1;

    w->slot[0][idx] = NULL;
    w->occupied[0] &= ~((uint64_t)1 << idx);
    for (struct tw_timer *p = t; p && p->next; p = p->next)
        if (p->next->expires < p->expires)
            sorted = 0;
    if (!sorted)
        t = sort_by_expires(t);
    *pending = t;
    for (struct tw_timer **pp = pending; *pp; pp = &(*pp)->next)
        (*pp)->pprev = pp;
}

size_t tw_advance(struct tw *w, uint64_t now, tw_fire_fn fire, void *arg)
{
    size_t fired = 0;

    if (now == UINT64_MAX)
        now--; /* w->now must be able to pass it */
    while (w->now <= now) {
        unsigned idx = (unsigned)w->now & MASK;
        /* Jump over ticks with nothing to fire and nothing to cascade,
         * so that an advance costs the work it finds, not the time that
         * passed.  tw_next is a lower bound of the next such tick. */
        if (!(w->occupied[0] & ((uint64_t)1 << idx))) {
            uint64_t next = tw_next(w);
            if (next > w->now) {
                w->now = next <= now ? next : now + 1;
                continue;
            }
        }
        if (idx == 0) {
            for (int lvl = 1; lvl < TW_LEVELS; lvl++) {
                unsigned s = level_index(w, lvl);
                cascade(w, lvl, s);
                if (s != 0)
                    break;
            }
        }
        /* Detach this tick's slot and count the tick as passed before
         * firing, as Linux does: a callback that arms a timer for "now"
         * then lands in the next tick instead of looping here forever. */
        struct tw_timer *pending = NULL;
        take_slot(w, idx, &pending);
        w->now++;
        while (pending) {
            struct tw_timer *t = pending;
            unlink_timer(w, t);
            w->count--;
            fired++;
            fire(t, arg);
        }
    }
    return fired;
}

uint64_t tw_next(const struct tw *w)
{
    uint64_t best = UINT64_MAX;

    for (int lvl = 0; lvl < TW_LEVELS; lvl++) {
        uint64_t occ = w->occupied[lvl];
        if (occ == 0)
            continue;
        int shift = TW_BITS * lvl;
        uint64_t unit = (uint64_t)1 << shift;
        uint64_t period = unit << TW_BITS;
        uint64_t base = w->now & ~(period - 1);
        unsigned cur = level_index(w, lvl);
        /* The first slot at or after the current one (wrapping). */
        uint64_t after = occ >> cur;
        uint64_t t;
        if (lvl == 0) {
            unsigned s = after ? cur + (unsigned)__builtin_ctzll(after)
                               : (unsigned)__builtin_ctzll(occ) + TW_SLOTS;
            t = base + s;
        } else {
            /* A level-L slot s is cascaded when now reaches a tick whose
             * level-L index is s and whose lower bits are zero. */
            uint64_t strict = (w->now & (unit - 1)) ? occ >> cur >> 1 : after;
            unsigned first = (w->now & (unit - 1)) ? cur + 1 : cur;
            unsigned s;
            if (first < TW_SLOTS && strict)
                s = first + (unsigned)__builtin_ctzll(strict);
            else
                s = (unsigned)__builtin_ctzll(occ) + TW_SLOTS;
            t = base + (uint64_t)s * unit;
        }
        if (t < best)
            best = t;
    }
    return best;
}
