/* test_timerwheel.c: Check unit tests for the hierarchical timer wheel
 * (src/timerwheel.c), on a simulated clock: firing order and exact ticks,
 * cancel, re-arm (also from callbacks), far timeouts, crowded slots, big
 * jumps against tick-by-tick, tw_next, and a long randomized run checked
 * against a reference model.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "timerwheel.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ck_assert records its location with a write(2) on every call; the hot
 * loops test first and call Check only to fail. */
#define REQUIRE(expr)                                                          \
    do {                                                                       \
        if (!(expr))                                                           \
            ck_abort_msg("line %d: %s", __LINE__, #expr);                      \
    } while (0)
#define REQUIRE_MSG(expr, ...)                                                 \
    do {                                                                       \
        if (!(expr))                                                           \
            ck_abort_msg(__VA_ARGS__);                                         \
    } while (0)

#define START 123456789u

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
    return rnd() % n;
}

/* A test timer: the wheel's timer first, so the callback can cast. */
struct ttimer {
    struct tw_timer tw;
    size_t id;
    /* What the test expects. */
    int armed;
    uint64_t due; /* the tick it must fire at: max(expires, w->now at arm) */
    /* What happened. */
    unsigned fired;     /* in the current advance */
    unsigned fired_all; /* ever */
    uint64_t fired_tick;
    uint64_t fired_target; /* now passed to the advance that fired it */
    /* Behaviour in the callback. */
    int rearm_times;      /* re-arm itself this many more times */
    uint64_t rearm_delta; /* to tick + delta ... */
    int rearm_past;       /* ... or to a tick in the past */
    struct ttimer *cancel_other;
    struct ttimer *arm_other;
};

struct run {
    struct tw w;
    uint64_t target; /* now of the advance in progress */
    uint64_t last_expires, last_tick;
    int check_order;
    size_t fired;
};

static struct ttimer *tt(struct tw_timer *t)
{
    return (struct ttimer *)(void *)t;
}

static void on_fire(struct tw_timer *t, void *arg)
{
    struct run *r = arg;
    struct ttimer *x = tt(t);
    uint64_t tick = r->w.now - 1; /* the tick being processed */

    REQUIRE(!tw_armed(t));
    /* Never early, never past the advance's now, ticks in order. */
    REQUIRE_MSG(t->expires <= tick, "timer %zu expires %llu fired at %llu",
                x->id, (unsigned long long)t->expires,
                (unsigned long long)tick);
    REQUIRE(tick <= r->target);
    REQUIRE(tick >= r->last_tick);
    if (r->check_order)
        REQUIRE_MSG(t->expires >= r->last_expires,
                    "timer %zu: expires %llu after %llu", x->id,
                    (unsigned long long)t->expires,
                    (unsigned long long)r->last_expires);
    r->last_expires = t->expires;
    r->last_tick = tick;
    r->fired++;
    x->fired++;
    x->fired_all++;
    x->fired_tick = tick;
    x->fired_target = r->target;

    if (x->cancel_other)
        tw_cancel(&r->w, &x->cancel_other->tw);
    if (x->arm_other)
        tw_arm(&r->w, &x->arm_other->tw, tick);
    if (x->rearm_times > 0) {
        x->rearm_times--;
        tw_arm(&r->w, t, x->rearm_past ? 0 : tick + x->rearm_delta);
    }
}

static void run_init(struct run *r, uint64_t now)
{
    memset(r, 0, sizeof *r);
    tw_init(&r->w, now);
    r->check_order = 1;
}

/* Advance to now; checks the return value and where the wheel ends up. */
static size_t advance(struct run *r, uint64_t now)
{
    uint64_t before = r->w.now;
    r->target = now;
    r->last_expires = 0;
    r->last_tick = 0;
    r->fired = 0;
    size_t n = tw_advance(&r->w, now, on_fire, r);
    REQUIRE(n == r->fired);
    REQUIRE(r->w.now == (now >= before ? now + 1 : before));
    return n;
}

static void arm(struct run *r, struct ttimer *x, uint64_t expires)
{
    tw_arm(&r->w, &x->tw, expires);
    x->armed = 1;
    x->due = expires > r->w.now ? expires : r->w.now;
    REQUIRE(tw_armed(&x->tw));
    REQUIRE(x->tw.expires == expires);
}

static struct ttimer *new_timers(size_t n)
{
    struct ttimer *v = calloc(n, sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++)
        v[i].id = i;
    return v;
}

START_TEST(test_empty)
{
    struct run r;
    run_init(&r, START);
    ck_assert_uint_eq(r.w.now, START);
    ck_assert_uint_eq(r.w.count, 0);
    ck_assert_uint_eq(tw_next(&r.w), UINT64_MAX);
    ck_assert_uint_eq(advance(&r, START), 0);
    ck_assert_uint_eq(advance(&r, START + 5000), 0);
    ck_assert_uint_eq(r.w.now, START + 5001);
    /* Going back is a no-op. */
    ck_assert_uint_eq(advance(&r, START), 0);
    ck_assert_uint_eq(r.w.now, START + 5001);
    ck_assert_uint_eq(tw_next(&r.w), UINT64_MAX);

    struct tw w0;
    tw_init(&w0, 0);
    ck_assert_uint_eq(tw_next(&w0), UINT64_MAX);
    ck_assert_uint_eq(tw_advance(&w0, 0, on_fire, NULL), 0);
    ck_assert_uint_eq(w0.now, 1);
}
END_TEST

START_TEST(test_basic_fire)
{
    struct run r;
    struct ttimer *t = new_timers(3);
    run_init(&r, 1000);

    arm(&r, &t[0], 1000);
    arm(&r, &t[1], 1005);
    arm(&r, &t[2], 1100);
    ck_assert_uint_eq(r.w.count, 3);
    ck_assert_uint_eq(tw_next(&r.w), 1000);

    ck_assert_uint_eq(advance(&r, 1000), 1);
    ck_assert_uint_eq(t[0].fired, 1);
    ck_assert_uint_eq(t[0].fired_tick, 1000);
    ck_assert(!tw_armed(&t[0].tw));
    ck_assert_uint_eq(r.w.count, 2);
    ck_assert_uint_eq(tw_next(&r.w), 1005);

    ck_assert_uint_eq(advance(&r, 1004), 0);
    ck_assert_uint_eq(advance(&r, 1005), 1);
    ck_assert_uint_eq(t[1].fired_tick, 1005);
    ck_assert_uint_eq(advance(&r, 1099), 0);
    ck_assert_uint_eq(r.w.count, 1);
    ck_assert_uint_eq(advance(&r, 1200), 1);
    ck_assert_uint_eq(t[2].fired_tick, 1100);
    ck_assert_uint_eq(t[2].fired_target, 1200);
    ck_assert_uint_eq(r.w.count, 0);
    ck_assert_uint_eq(tw_next(&r.w), UINT64_MAX);
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(t[i].fired_all, 1);
    free(t);
}
END_TEST

/* Timers over several levels fire in expiry order, each at its tick. */
START_TEST(test_order)
{
    const size_t n = 3000;
    struct run r;
    struct ttimer *t = new_timers(n);
    run_init(&r, START);
    rng_state = 11;
    for (size_t i = 0; i < n; i++) {
        uint64_t span = (uint64_t)1 << (6 * (1 + i % 4)); /* 64 .. 2^24 */
        arm(&r, &t[i], START + rnd_below(span));
    }
    ck_assert_uint_eq(r.w.count, n);
    uint64_t now = START;
    size_t total = 0;
    while (r.w.count > 0) {
        now += 1 + rnd_below(rnd_below(4) ? 100 : 100000);
        total += advance(&r, now);
    }
    ck_assert_uint_eq(total, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(t[i].fired_all, 1);
        ck_assert_uint_eq(t[i].fired_tick, t[i].tw.expires);
    }
    free(t);
}
END_TEST

/* Expiries in the past fire at the next tick the wheel processes, in
 * expiry order, whatever order they were armed in. */
START_TEST(test_overdue_order)
{
    static const uint64_t exps[] = {990, 1000, 0,    995,  1001,
                                    999, 1,    1000, 1001, 500};
    const size_t n = sizeof exps / sizeof exps[0];
    struct run r;
    struct ttimer *t = new_timers(n);

    for (int round = 0; round < 50; round++) {
        run_init(&r, 900);
        ck_assert_uint_eq(advance(&r, 1000), 0);
        ck_assert_uint_eq(r.w.now, 1001);
        /* Arm in a shuffled order. */
        size_t order[sizeof exps / sizeof exps[0]];
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        rng_state = (uint64_t)round;
        for (size_t i = n - 1; i > 0 && round > 0; i--) {
            size_t j = (size_t)rnd_below(i + 1);
            size_t x = order[i];
            order[i] = order[j];
            order[j] = x;
        }
        for (size_t i = 0; i < n; i++) {
            memset(&t[order[i]], 0, sizeof t[0]);
            t[order[i]].id = order[i];
            arm(&r, &t[order[i]], exps[order[i]]);
        }
        ck_assert_uint_eq(tw_next(&r.w), 1001);
        /* The same now again: nothing is due at a tick not yet reached. */
        ck_assert_uint_eq(advance(&r, 1000), 0);
        ck_assert_uint_eq(r.w.count, n);
        ck_assert_uint_eq(advance(&r, 1001), n);
        for (size_t i = 0; i < n; i++)
            ck_assert_uint_eq(t[i].fired_tick, 1001);
    }
    free(t);
}
END_TEST

START_TEST(test_cancel)
{
    struct run r;
    struct ttimer *t = new_timers(8);
    run_init(&r, START);

    /* Cancel of a timer never armed: a no-op. */
    tw_cancel(&r.w, &t[0].tw);
    ck_assert_uint_eq(r.w.count, 0);
    ck_assert(!tw_armed(&t[0].tw));

    /* One at each of several levels, cancelled before their time. */
    static const uint64_t delays[] = {0,    5,    63,     64,
                                      4095, 4096, 300000, 5000000000u};
    for (int i = 0; i < 8; i++)
        arm(&r, &t[i], START + delays[i]);
    ck_assert_uint_eq(r.w.count, 8);
    for (int i = 0; i < 8; i += 2) {
        tw_cancel(&r.w, &t[i].tw);
        ck_assert(!tw_armed(&t[i].tw));
    }
    ck_assert_uint_eq(r.w.count, 4);
    /* Twice is harmless. */
    tw_cancel(&r.w, &t[0].tw);
    ck_assert_uint_eq(r.w.count, 4);

    ck_assert_uint_eq(advance(&r, START + 5000000000u), 4);
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(t[i].fired_all, i % 2 ? 1u : 0u);
    ck_assert_uint_eq(r.w.count, 0);
    /* Cancel of a fired timer is a no-op too. */
    tw_cancel(&r.w, &t[1].tw);
    ck_assert_uint_eq(r.w.count, 0);

    /* Cancelling the only timer leaves nothing for tw_next. */
    for (int i = 0; i < 8; i++) {
        arm(&r, &t[i], r.w.now + delays[i]);
        ck_assert_uint_ne(tw_next(&r.w), UINT64_MAX);
        tw_cancel(&r.w, &t[i].tw);
        ck_assert_uint_eq(tw_next(&r.w), UINT64_MAX);
        ck_assert_uint_eq(r.w.count, 0);
    }
    /* A cancelled timer can be armed again. */
    arm(&r, &t[0], r.w.now + 10);
    ck_assert_uint_eq(advance(&r, r.w.now + 10), 1);
    ck_assert_uint_eq(t[0].fired_all, 1); /* cancelled every time before */
    free(t);
}
END_TEST

START_TEST(test_rearm)
{
    struct run r;
    struct ttimer *t = new_timers(2);
    run_init(&r, 0);

    arm(&r, &t[0], 100);
    arm(&r, &t[0], 50); /* earlier */
    ck_assert_uint_eq(r.w.count, 1);
    ck_assert_uint_eq(tw_next(&r.w), 50);
    ck_assert_uint_eq(advance(&r, 49), 0);
    ck_assert_uint_eq(advance(&r, 50), 1);
    ck_assert_uint_eq(advance(&r, 200), 0);
    ck_assert_uint_eq(t[0].fired_all, 1);

    arm(&r, &t[0], 300);
    arm(&r, &t[0], 100000); /* later, another level */
    arm(&r, &t[1], 300);
    arm(&r, &t[1], 300); /* the same expiry again */
    ck_assert_uint_eq(r.w.count, 2);
    ck_assert_uint_eq(advance(&r, 300), 1);
    ck_assert_uint_eq(t[1].fired_tick, 300);
    ck_assert_uint_eq(advance(&r, 99999), 0);
    ck_assert_uint_eq(advance(&r, 100000), 1);
    ck_assert_uint_eq(t[0].fired_tick, 100000);

    /* Re-arm across levels many times; only the last counts. */
    rng_state = 3;
    uint64_t last = 0;
    for (int i = 0; i < 1000; i++) {
        last = r.w.now + rnd_below((uint64_t)1 << (i % 30));
        arm(&r, &t[0], last);
        ck_assert_uint_eq(r.w.count, 1);
    }
    t[0].fired_all = 0;
    if (last > r.w.now)
        ck_assert_uint_eq(advance(&r, last - 1), 0);
    ck_assert_uint_eq(advance(&r, last), 1);
    ck_assert_uint_eq(t[0].fired_tick, last);
    ck_assert_uint_eq(t[0].fired_all, 1);
    free(t);
}
END_TEST

START_TEST(test_rearm_in_callback)
{
    struct run r;
    struct ttimer *t = new_timers(4);
    run_init(&r, 1000);

    /* Periodic: re-arms itself 10 ticks on, 99 times. */
    t[0].rearm_times = 99;
    t[0].rearm_delta = 10;
    arm(&r, &t[0], 1010);
    ck_assert_uint_eq(advance(&r, 1000 + 10 * 100 + 5), 100);
    ck_assert_uint_eq(t[0].fired_all, 100);
    ck_assert_uint_eq(t[0].fired_tick, 2000);
    ck_assert_uint_eq(r.w.count, 0);

    /* Re-arm to the past from the callback at the advance's last tick: it
     * fires at a later advance, not again in this one. */
    run_init(&r, 1000);
    r.check_order = 0;
    memset(&t[1], 0, sizeof t[1]);
    t[1].rearm_times = 3;
    t[1].rearm_past = 1;
    arm(&r, &t[1], 1500);
    ck_assert_uint_eq(advance(&r, 1500), 1);
    ck_assert(tw_armed(&t[1].tw));
    ck_assert_uint_eq(r.w.count, 1);
    ck_assert_uint_eq(tw_next(&r.w), 1501);
    ck_assert_uint_eq(advance(&r, 1500), 0); /* same now again */
    ck_assert_uint_eq(advance(&r, 1501), 1);
    ck_assert_uint_eq(t[1].fired_tick, 1501);
    ck_assert_uint_eq(advance(&r, 1502), 1);
    ck_assert_uint_eq(advance(&r, 1600), 1);
    ck_assert_uint_eq(t[1].fired_tick, 1503); /* the next tick processed */
    ck_assert_uint_eq(t[1].fired_all, 4);
    ck_assert(!tw_armed(&t[1].tw));
    ck_assert_uint_eq(advance(&r, 1700), 0);

    /* Within one long advance, a re-arm to the past fires at the next
     * tick: once per tick, never twice in one tick. */
    memset(&t[1], 0, sizeof t[1]);
    t[1].rearm_times = 1000000;
    t[1].rearm_past = 1;
    arm(&r, &t[1], 1710);
    ck_assert_uint_eq(advance(&r, 1800), 91); /* ticks 1710 .. 1800 */
    ck_assert_uint_eq(t[1].fired_tick, 1800);
    ck_assert(tw_armed(&t[1].tw));
    tw_cancel(&r.w, &t[1].tw);
    ck_assert_uint_eq(r.w.count, 0);

    /* A callback cancels a timer due at the same tick: one fires. */
    run_init(&r, 0);
    memset(t, 0, 4 * sizeof t[0]);
    t[0].cancel_other = &t[1];
    t[1].cancel_other = &t[0];
    arm(&r, &t[0], 70);
    arm(&r, &t[1], 70);
    ck_assert_uint_eq(advance(&r, 100), 1);
    ck_assert_uint_eq(t[0].fired_all + t[1].fired_all, 1);
    ck_assert_uint_eq(r.w.count, 0);

    /* A callback arms another timer for the current tick: it fires at the
     * next tick. */
    memset(t, 0, 4 * sizeof t[0]);
    t[2].arm_other = &t[3];
    arm(&r, &t[2], 150);
    ck_assert_uint_eq(advance(&r, 150), 1);
    ck_assert(tw_armed(&t[3].tw));
    ck_assert_uint_eq(r.w.count, 1);
    ck_assert_uint_eq(advance(&r, 151), 1);
    ck_assert_uint_eq(t[3].fired_tick, 151);
    free(t);
}
END_TEST

/* Timeouts far past the low levels, from a start that is not aligned. */
START_TEST(test_far)
{
    static const uint64_t delays[] = {
        1000000000u,                    /* 10^9 */
        100000000000u,                  /* 10^11 */
        ((uint64_t)1 << 36) - 1,        /* the top of level 5 */
        (uint64_t)1 << 36,              /* level 6 */
        ((uint64_t)1 << 42) - 1,        /* the wheel's whole range */
        (uint64_t)1 << 42,              /* beyond: clamped, re-cascaded */
        ((uint64_t)1 << 50) + 12345678, /* far beyond */
    };
    struct ttimer *t = new_timers(2);
    for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++) {
        struct run r;
        uint64_t exp = START + delays[i];

        /* One advance straight to exp - 1, then exp. */
        run_init(&r, START);
        memset(t, 0, 2 * sizeof t[0]);
        arm(&r, &t[0], exp);
        ck_assert_uint_le(tw_next(&r.w), exp);
        ck_assert_uint_eq(advance(&r, exp - 1), 0);
        ck_assert_uint_eq(r.w.count, 1);
        ck_assert_uint_eq(tw_next(&r.w), exp); /* now at level 0 */
        ck_assert_uint_eq(advance(&r, exp), 1);
        ck_assert_uint_eq(t[0].fired_tick, exp);
        ck_assert_uint_eq(r.w.count, 0);

        /* Step by tw_next, as the daemon's loop does. */
        run_init(&r, START);
        memset(t, 0, 2 * sizeof t[0]);
        arm(&r, &t[0], exp);
        arm(&r, &t[1], exp + 1);
        int steps = 0;
        while (t[0].fired_all == 0) {
            uint64_t next = tw_next(&r.w);
            ck_assert_uint_le(next, exp);
            ck_assert_uint_ge(next, r.w.now);
            advance(&r, next);
            ck_assert_int_lt(++steps, 1000);
        }
        ck_assert_uint_eq(t[0].fired_tick, exp);
        ck_assert_uint_eq(t[1].fired_all, 0);
        ck_assert_uint_eq(tw_next(&r.w), exp + 1);
        ck_assert_uint_eq(advance(&r, exp + 1000), 1);
        ck_assert_uint_eq(t[1].fired_tick, exp + 1);
    }
    free(t);
}
END_TEST

START_TEST(test_same_slot)
{
    const size_t n = 10000;
    struct run r;
    struct ttimer *t = new_timers(n);
    run_init(&r, START);
    /* All due at one tick, armed from a level above 0. */
    for (size_t i = 0; i < n; i++)
        arm(&r, &t[i], START + 5000);
    ck_assert_uint_eq(r.w.count, n);
    for (size_t i = 0; i < n; i += 3)
        tw_cancel(&r.w, &t[i].tw);
    size_t left = n - (n + 2) / 3;
    ck_assert_uint_eq(r.w.count, left);
    ck_assert_uint_eq(advance(&r, START + 4999), 0);
    ck_assert_uint_eq(advance(&r, START + 5000), left);
    for (size_t i = 0; i < n; i++) {
        REQUIRE(t[i].fired_all == (i % 3 ? 1u : 0u));
        REQUIRE(i % 3 == 0 || t[i].fired_tick == START + 5000);
    }
    ck_assert_uint_eq(r.w.count, 0);

    /* And 10,000 in one level-0 slot. */
    for (size_t i = 0; i < n; i++)
        arm(&r, &t[i], r.w.now + 7);
    ck_assert_uint_eq(advance(&r, r.w.now + 7), n);
    free(t);
}
END_TEST

/* The same timers through big jumps and tick by tick: each fires once, at
 * the first advance whose now reaches it. */
START_TEST(test_jumps_vs_ticks)
{
    const size_t n = 3000;
    const uint64_t span = 50000;
    struct run a, b;
    struct ttimer *ta = new_timers(n), *tb = new_timers(n);

    run_init(&a, START);
    run_init(&b, START);
    ck_assert_uint_eq(advance(&a, START + 100), 0);
    ck_assert_uint_eq(advance(&b, START + 100), 0);
    rng_state = 5;
    for (size_t i = 0; i < n; i++) {
        /* A few in the past, most ahead, some at the same ticks. */
        uint64_t e = START + rnd_below(span);
        if (i % 10 == 0)
            e = START + 100 + (i % 7);
        arm(&a, &ta[i], e);
        arm(&b, &tb[i], e);
    }
    a.check_order = b.check_order = 1;
    for (uint64_t now = START + 101; now <= START + span; now++)
        advance(&a, now);
    uint64_t targets[4096];
    size_t nt = 0;
    for (uint64_t now = START + 100; now < START + span;) {
        now += 1 + rnd_below(rnd_below(2) ? 10 : 3000);
        if (now > START + span)
            now = START + span;
        ck_assert_uint_lt(nt, sizeof targets / sizeof targets[0]);
        targets[nt++] = now;
        advance(&b, now);
    }
    ck_assert_uint_eq(a.w.count, 0);
    ck_assert_uint_eq(b.w.count, 0);
    for (size_t i = 0; i < n; i++) {
        REQUIRE(ta[i].fired_all == 1 && tb[i].fired_all == 1);
        REQUIRE(ta[i].fired_tick == ta[i].due);
        REQUIRE(tb[i].fired_tick == tb[i].due);
        REQUIRE(ta[i].fired_target == ta[i].due);
        /* b: the first target at or after the due tick. */
        size_t k = 0;
        while (targets[k] < tb[i].due)
            k++;
        REQUIRE(tb[i].fired_target == targets[k]);
    }
    free(ta);
    free(tb);
}
END_TEST

/* Smallest due tick of the armed timers, or UINT64_MAX. */
static uint64_t min_due(const struct ttimer *t, size_t n)
{
    uint64_t m = UINT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (t[i].armed && t[i].due < m)
            m = t[i].due;
    return m;
}

/* A delay spanning 0 .. 2^40, mostly small. */
static uint64_t rnd_delay(void)
{
    unsigned k = (unsigned)rnd_below(100);
    if (k < 5) {
        static const uint64_t edges[] = {0,    1,    63,   64,     65,
                                         4095, 4096, 4097, 262143, 262144};
        return edges[rnd_below(10)];
    }
    if (k < 40)
        return rnd_below(64);
    if (k < 65)
        return rnd_below(4096);
    if (k < 80)
        return rnd_below((uint64_t)1 << 20);
    if (k < 90)
        return rnd_below((uint64_t)1 << 30);
    if (k < 97)
        return rnd_below((uint64_t)1 << 36);
    return rnd_below(((uint64_t)1 << 40) + 1);
}

static uint64_t rnd_step(void)
{
    unsigned k = (unsigned)rnd_below(100);
    if (k < 40)
        return rnd_below(64);
    if (k < 65)
        return rnd_below(4096);
    if (k < 80)
        return rnd_below((uint64_t)1 << 20);
    if (k < 92)
        return rnd_below((uint64_t)1 << 30);
    if (k < 97)
        return rnd_below((uint64_t)1 << 36);
    return rnd_below((uint64_t)1 << 41); /* huge */
}

/* Advance both the wheel and the model to now and compare: the exact set
 * fired, each at its due tick. */
static void model_advance(struct run *r, struct ttimer *t, size_t n,
                          uint64_t now, size_t *armed)
{
    for (size_t i = 0; i < n; i++)
        t[i].fired = 0;
    size_t got = advance(r, now);
    size_t want = 0;
    for (size_t i = 0; i < n; i++) {
        int due = t[i].armed && t[i].due <= now;
        REQUIRE_MSG(t[i].fired == (due ? 1u : 0u),
                    "timer %zu (due %llu, armed %d) fired %u times at now "
                    "%llu",
                    i, (unsigned long long)t[i].due, t[i].armed, t[i].fired,
                    (unsigned long long)now);
        if (due) {
            REQUIRE(t[i].fired_tick == t[i].due);
            REQUIRE(t[i].fired_tick >= t[i].tw.expires);
            t[i].armed = 0;
            want++;
            (*armed)--;
        }
        REQUIRE(tw_armed(&t[i].tw) == t[i].armed);
    }
    REQUIRE(got == want);
    REQUIRE(r->w.count == *armed);
}

static void check_next(const struct run *r, const struct ttimer *t, size_t n)
{
    uint64_t next = tw_next(&r->w), m = min_due(t, n);
    if (m == UINT64_MAX) {
        REQUIRE(next == UINT64_MAX);
        return;
    }
    REQUIRE_MSG(next <= m, "tw_next %llu > earliest due %llu",
                (unsigned long long)next, (unsigned long long)m);
    REQUIRE(next >= r->w.now);
}

START_TEST(test_random_model)
{
    const size_t n = 1000, nops = 200000;
    struct run r;
    struct ttimer *t = new_timers(n);
    size_t armed = 0, fired = 0, huge = 0;

    run_init(&r, START);
    rng_state = 20240601;
    uint64_t now = START; /* the last now passed in; START - 1 at first */
    for (size_t op = 0; op < nops; op++) {
        unsigned k = (unsigned)rnd_below(100);
        size_t i = (size_t)rnd_below(n);
        if (k < 35) {
            /* Arm or re-arm, now and then into the past. */
            uint64_t e = now + rnd_delay();
            if (rnd_below(20) == 0)
                e = now - rnd_below(100);
            if (!t[i].armed)
                armed++;
            arm(&r, &t[i], e);
        } else if (k < 50) {
            tw_cancel(&r.w, &t[i].tw);
            if (t[i].armed)
                armed--;
            t[i].armed = 0;
        } else if (k < 88) {
            uint64_t step = rnd_step();
            huge += step >= (uint64_t)1 << 36;
            now += step;
            model_advance(&r, t, n, now, &armed);
        } else if (k < 92) {
            /* Advancing to just before tw_next fires nothing. */
            check_next(&r, t, n);
            uint64_t next = tw_next(&r.w);
            if (next != UINT64_MAX && next - 1 >= now) {
                now = next - 1;
                model_advance(&r, t, n, now, &armed);
                REQUIRE(r.fired == 0);
            }
        } else if (k < 96) {
            /* Exactly to the earliest due tick: that timer fires. */
            uint64_t m = min_due(t, n);
            if (m != UINT64_MAX && m >= now) {
                now = m;
                model_advance(&r, t, n, now, &armed);
                REQUIRE(r.fired >= 1);
            }
        } else if (k < 98) {
            /* An advance to the past or the present: nothing happens. */
            model_advance(&r, t, n, now - rnd_below(3), &armed);
            REQUIRE(r.fired == 0);
        } else {
            check_next(&r, t, n);
        }
        fired += r.fired;
        r.fired = 0;
        REQUIRE(r.w.count == armed);
    }
    /* Drain: everything left fires exactly once, at its tick. */
    model_advance(&r, t, n, now + ((uint64_t)1 << 41), &armed);
    ck_assert_uint_eq(armed, 0);
    ck_assert_uint_eq(r.w.count, 0);
    ck_assert_uint_eq(tw_next(&r.w), UINT64_MAX);
    /* The run did what it was meant to. */
    ck_assert_uint_gt(fired, 20000);
    ck_assert_uint_gt(huge, 500);
    free(t);
}
END_TEST

/* tw_next over random states: a lower bound of every due tick, nothing
 * fires before it, and exact when every timer is within 64 ticks. */
START_TEST(test_next)
{
    const size_t n = 64;
    struct ttimer *t = new_timers(n);
    rng_state = 99;
    for (int round = 0; round < 3000; round++) {
        struct run r;
        size_t armed = 0;
        uint64_t now = START + rnd_below((uint64_t)1 << 30);
        run_init(&r, now + 1);
        memset(t, 0, n * sizeof t[0]);
        size_t m = 1 + (size_t)rnd_below(n);
        int near = round % 3 == 0;
        for (size_t i = 0; i < m; i++) {
            t[i].id = i;
            uint64_t d = near ? 1 + rnd_below(63) : rnd_delay();
            arm(&r, &t[i], now + d);
            armed++;
        }
        for (int step = 0; step < 5 && armed > 0; step++) {
            check_next(&r, t, n);
            uint64_t next = tw_next(&r.w);
            if (near)
                REQUIRE(next == min_due(t, n));
            if (next - 1 >= now) {
                model_advance(&r, t, n, next - 1, &armed);
                REQUIRE(r.fired == 0);
                now = next - 1;
            }
            /* On to the next due tick, fire it, look again. */
            now = min_due(t, n);
            model_advance(&r, t, n, now, &armed);
            REQUIRE(r.fired >= 1);
        }
    }
    free(t);
}
END_TEST

static Suite *timerwheel_suite(void)
{
    Suite *s = suite_create("timerwheel");

    TCase *tc = tcase_create("basic");
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_basic_fire);
    tcase_add_test(tc, test_order);
    tcase_add_test(tc, test_overdue_order);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_rearm);
    tcase_add_test(tc, test_rearm_in_callback);
    tcase_add_test(tc, test_same_slot);
    tcase_add_test(tc, test_jumps_vs_ticks);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    tc = tcase_create("long");
    tcase_add_test(tc, test_far);
    tcase_add_test(tc, test_next);
    tcase_add_test(tc, test_random_model);
    tcase_set_timeout(tc, 600);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(timerwheel_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
