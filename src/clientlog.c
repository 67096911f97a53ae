/* clientlog.c: the budgeted client_log lines of connections: lograte
 * decides, this file writes the lines and the summaries, once a second
 * from a wheel timer while anything is held back.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "clientlog.h"

#include "log.h"
#include "lograte.h"
#include "proto.h"
#include "server.h"

#include <stdlib.h>
#include <sys/random.h>

#define SUMMARY_MS 1000

static const char *const event_names[] = {
    [CL_CONNECT] = "connect", [CL_REGISTER] = "register",
    [CL_REJECT] = "reject",   [CL_DISCONNECT] = "disconnect",
    [CL_AUTH] = "auth",       [CL_FORBIDDEN] = "forbidden",
    [CL_SESSION_HELD] = "session-held",
    [CL_SESSION_RESUMED] = "session-resumed",
    [CL_SESSION_EXPIRED] = "session-expired",
    [CL_SESSION_OVERFLOW] = "session-overflow",
};

static struct lograte *lr;
static void on_summary(struct timer *t);
static struct timer summary_timer = {.fn = on_summary};
static int timer_armed;

void clientlog_init(uint32_t rate)
{
    uint64_t seed = 0;
    if (lr == NULL)
        lr = malloc(sizeof *lr);
    if (lr == NULL)
        return; /* no budgets: every line is written */
    (void)!getrandom(&seed, sizeof seed, GRND_NONBLOCK);
    lograte_init(lr, rate, seed);
    timer_armed = 0;
}

void clientlog_set_rate(uint32_t rate)
{
    if (lr)
        lograte_set_rate(lr, rate);
}

uint64_t clientlog_suppressed(void)
{
    return lr ? lr->suppressed : 0;
}

static void emit(const uint8_t *key, size_t key_len, unsigned event,
                 uint32_t count, void *arg)
{
    char addr[ADDR_STR_MAX];
    (void)arg;
    struct jsonw *jw = log_begin(LOG_CLIENT, LOG_LVL_WARN, "suppressed");
    if (jw == NULL)
        return;
    lograte_key_text(key, key_len, addr, sizeof addr);
    jw_str(jw, "addr", addr);
    jw_str(jw, "of", event_names[event]);
    jw_uint(jw, "lines", count);
    log_commit(jw);
}

static void on_summary(struct timer *t)
{
    (void)t;
    timer_armed = 0;
    if (lr && lograte_flush(lr, emit, NULL) > 0) {
        /* Summarise again in a second if the flood goes on. */
        server_arm(&summary_timer, srv.now_ms + SUMMARY_MS);
        timer_armed = 1;
    }
}

void clientlog_flush(void)
{
    if (timer_armed)
        server_disarm(&summary_timer);
    timer_armed = 0;
    if (lr)
        lograte_flush(lr, emit, NULL);
}

struct jsonw *clientlog_begin(const char *addr, enum log_level lvl,
                              enum clientlog_event ev)
{
    uint8_t key[LOGRATE_KEY_MAX];

    if (!log_wants(lvl))
        return NULL;
    if (lr && lr->rate) {
        size_t n = lograte_key(addr, key);
        if (!lograte_allow(lr, key, n, ev, srv.now_ms * 1000, emit, NULL)) {
            if (!timer_armed) {
                server_arm(&summary_timer, srv.now_ms + SUMMARY_MS);
                timer_armed = 1;
            }
            return NULL;
        }
    }
    struct jsonw *jw = log_begin(LOG_CLIENT, lvl, event_names[ev]);
    if (jw)
        jw_str(jw, "addr", addr);
    return jw;
}
