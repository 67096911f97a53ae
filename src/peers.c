/* peers.c: the per-address table (see peers.h).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "peers.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "idtable.h"

#define FORGET_MS (10 * 60 * 1000)
#define FREE_FAILURES 3 /* answered at once */
#define MAX_DELAY_MS 4000

static struct idtable table;
static int ready;

int peers_init(void)
{
    uint8_t seed[16];
    if (getrandom(seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        memset(seed, 0x3c, sizeof seed);
    if (idt_init(&table, seed) < 0)
        return -1;
    ready = 1;
    return 0;
}

void peers_free(void)
{
    if (!ready)
        return;
    size_t at = 0;
    struct peer *p;
    while ((p = idt_next(&table, &at)) != NULL)
        free(p);
    idt_free(&table);
    ready = 0;
}

void peers_host(const char *addr, char *host, size_t len)
{
    const char *colon = strrchr(addr, ':');
    size_t n = colon ? (size_t)(colon - addr) : strlen(addr);
    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']')
        addr++, n -= 2;
    if (n >= len)
        n = len - 1;
    memcpy(host, addr, n);
    host[n] = '\0';
}

struct peer *peers_get(const char *addr)
{
    char host[ADDR_STR_MAX];
    if (!ready)
        return NULL;
    peers_host(addr, host, sizeof host);
    size_t n = strlen(host);
    struct peer *p = idt_get(&table, host, n);
    if (p || table.count >= PEERS_MAX)
        return p;
    if ((p = calloc(1, sizeof *p)) == NULL)
        return NULL;
    memcpy(p->host, host, n + 1);
    p->hostlen = (uint16_t)n;
    if (idt_put(&table, p->host, n, p) < 0) {
        free(p);
        return NULL;
    }
    return p;
}

static void decay(struct peer *p, int64_t now_ms)
{
    if (p->failures && now_ms - p->fail_ms >= FORGET_MS)
        p->failures = 0;
}

void peers_done(struct peer *p, int64_t now_ms)
{
    if (p == NULL)
        return;
    decay(p, now_ms);
    if (p->conns == 0 && p->failures == 0) {
        idt_del(&table, p->host, p->hostlen);
        free(p);
    }
}

int64_t peers_failed(struct peer *p, int64_t now_ms)
{
    if (p == NULL)
        return MAX_DELAY_MS; /* uncounted: the slowest answer */
    decay(p, now_ms);
    p->fail_ms = now_ms;
    if (p->failures < UINT32_MAX)
        p->failures++;
    if (p->failures <= FREE_FAILURES)
        return 0;
    uint32_t over = p->failures - FREE_FAILURES; /* 1, 2, ... */
    int64_t d = 250;
    while (--over > 0 && d < MAX_DELAY_MS)
        d *= 2;
    return d < MAX_DELAY_MS ? d : MAX_DELAY_MS;
}

void peers_succeeded(struct peer *p)
{
    if (p)
        p->failures = 0;
}

size_t peers_count(void)
{
    return ready ? table.count : 0;
}
