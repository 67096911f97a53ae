/* bench_timerwheel.c: the timer wheel's cost with one million timers:
 * arm, cancel, re-arm and expiry rates, and memory per timer.  A
 * benchmark, not a test: it prints figures and asserts only correctness.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "timerwheel.h"

#define N 1000000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t fired;
static void on_fire(struct tw_timer *t, void *arg)
{
    (void)t;
    (void)arg;
    fired++;
}

static void report(const char *what, double secs, double ops)
{
    printf("%-44s %8.1f M ops/s  (%6.1f ns/op)\n", what, ops / secs / 1e6,
           secs / ops * 1e9);
}

int main(void)
{
    static struct tw w;
    struct tw_timer *t = calloc(N, sizeof *t);
    uint64_t *due = malloc(N * sizeof *due);
    if (t == NULL || due == NULL)
        return 1;
    uint64_t start = 1000000;
    tw_init(&w, start);
    for (size_t i = 0; i < N; i++) /* idle timeouts of up to an hour, in ms */
        due[i] = start + 1 + next_rand() % 3600000;

    double t0 = now_s();
    for (size_t i = 0; i < N; i++)
        tw_arm(&w, &t[i], due[i]);
    double t1 = now_s();
    for (size_t i = 0; i < N; i++)
        tw_cancel(&w, &t[i]);
    double t2 = now_s();
    report("arm (1M timers, 1 ms .. 1 h ahead)", t1 - t0, N);
    report("cancel", t2 - t1, N);
    report("arm+cancel pairs", t2 - t0, N);

    for (size_t i = 0; i < N; i++)
        tw_arm(&w, &t[i], due[i]);
    t0 = now_s();
    for (size_t i = 0; i < N; i++)
        tw_arm(&w, &t[i], due[i] + 300000); /* re-arm an armed timer */
    t1 = now_s();
    report("re-arm of an armed timer", t1 - t0, N);

    /* Expiry: sweep 65 minutes of ms ticks, as the daemon's loop would
     * with a wake-up at every tw_next(). */
    fired = 0;
    size_t wakeups = 0;
    uint64_t end = start + 3900000 + 300000;
    t0 = now_s();
    while (w.count) {
        uint64_t next = tw_next(&w);
        if (next > end)
            break;
        tw_advance(&w, next, on_fire, NULL);
        wakeups++;
    }
    t1 = now_s();
    if (fired != N) {
        fprintf(stderr, "fired %zu of %d\n", fired, N);
        return 1;
    }
    report("expire (sweep to the last timer, per timer)", t1 - t0, N);
    printf("%-44s %8zu (for %d timers over 65 min of ticks)\n",
           "loop wake-ups needed", wakeups, N);
    printf("%-44s %8zu bytes (+ %zu bytes of wheel for all timers)\n",
           "memory per timer", sizeof(struct tw_timer), sizeof(struct tw));
    free(t);
    free(due);
    return 0;
}
