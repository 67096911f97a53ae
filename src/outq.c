/* outq.c: chunked output queue and its chunk pool. */
#include "outq.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define MAX_IOV 64

void chunk_pool_init(struct chunk_pool *p, size_t max_free)
{
    memset(p, 0, sizeof *p);
    p->max_free = max_free;
}

void chunk_pool_drain(struct chunk_pool *p)
{
    while (p->free) {
        struct chunk *c = p->free;
        p->free = c->next;
        free(c);
    }
    while (p->free_refs) {
        struct chunk *c = p->free_refs;
        p->free_refs = c->next;
        free(c);
    }
    p->nfree = p->nfree_refs = 0;
}

struct shared *shared_new(const void *hdr, size_t hlen, const void *payload,
                          size_t plen)
{
    struct shared *sh = malloc(sizeof *sh + hlen + plen + 1);
    if (sh == NULL)
        return NULL;
    sh->refs = 0;
    sh->len = (uint32_t)(hlen + plen + 1);
    memcpy(sh->data, hdr, hlen);
    memcpy(sh->data + hlen, payload, plen);
    sh->data[hlen + plen] = '\n';
    return sh;
}

void shared_release_if_unused(struct shared *sh)
{
    if (sh && sh->refs == 0)
        free(sh);
}

static struct chunk *chunk_get(struct chunk_pool *p)
{
    struct chunk *c = p->free;
    if (c) {
        p->free = c->next;
        p->nfree--;
    } else {
        c = malloc(OUTQ_CHUNK_BYTES);
        if (c == NULL)
            return NULL;
    }
    c->next = NULL;
    c->start = c->end = 0;
    c->ref = NULL;
    p->nlive++;
    return c;
}

static void chunk_put(struct chunk_pool *p, struct chunk *c)
{
    p->nlive--;
    if (c->ref) {
        if (--c->ref->refs == 0)
            free(c->ref);
        if (p->nfree_refs < p->max_free * 64) {
            c->next = p->free_refs;
            p->free_refs = c;
            p->nfree_refs++;
        } else {
            free(c);
        }
        return;
    }
    if (p->nfree < p->max_free) {
        c->next = p->free;
        p->free = c;
        p->nfree++;
    } else {
        free(c);
    }
}

int outq_append(struct outq *q, struct chunk_pool *p, const void *data,
                size_t n)
{
    const char *src = data;
    struct chunk *first_new = NULL;

    /* Take every chunk needed before copying, so that a failed malloc
     * leaves the queue as it was. */
    size_t room = q->tail && !q->tail->ref ? OUTQ_CHUNK_DATA - q->tail->end : 0;
    struct chunk *last = q->tail;
    while (room < n) {
        struct chunk *c = chunk_get(p);
        if (c == NULL) {
            while (first_new) {
                struct chunk *next = first_new->next;
                chunk_put(p, first_new);
                first_new = next;
            }
            if (q->tail)
                q->tail->next = NULL;
            return -1;
        }
        if (first_new == NULL)
            first_new = c;
        if (last)
            last->next = c;
        last = c;
        room += OUTQ_CHUNK_DATA;
    }
    if (q->head == NULL)
        q->head = first_new;
    struct chunk *c = q->tail && !q->tail->ref ? q->tail : first_new;
    size_t left = n;
    while (left) {
        size_t take = c->ref ? 0 : OUTQ_CHUNK_DATA - c->end;
        if (take == 0) {
            c = c->next;
            continue;
        }
        if (take > left)
            take = left;
        memcpy(c->data + c->end, src, take);
        c->end += (uint32_t)take;
        src += take;
        left -= take;
    }
    if (last)
        q->tail = last;
    q->bytes += n;
    return 0;
}

int outq_append_shared(struct outq *q, struct chunk_pool *p, struct shared *sh)
{
    struct chunk *c = p->free_refs;
    if (c) {
        p->free_refs = c->next;
        p->nfree_refs--;
    } else if ((c = malloc(sizeof *c)) == NULL) {
        return -1;
    }
    p->nlive++;
    c->next = NULL;
    c->start = 0;
    c->end = sh->len;
    c->ref = sh;
    sh->refs++;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    q->bytes += sh->len;
    return 0;
}

static void consume(struct outq *q, struct chunk_pool *p, size_t n)
{
    q->bytes -= n;
    while (n) {
        struct chunk *c = q->head;
        size_t have = c->end - c->start;
        if (n < have) {
            c->start += (uint32_t)n;
            return;
        }
        n -= have;
        q->head = c->next;
        if (q->head == NULL)
            q->tail = NULL;
        chunk_put(p, c);
    }
    /* A drained head chunk with space left stays for the next append. */
}

ssize_t outq_write(struct outq *q, struct chunk_pool *p, int fd)
{
    ssize_t total = 0;

    while (q->bytes) {
        struct iovec iov[MAX_IOV];
        int n = 0;
        size_t want = 0;
        for (struct chunk *c = q->head; c && n < MAX_IOV; c = c->next) {
            if (c->end == c->start)
                continue;
            iov[n].iov_base = (c->ref ? c->ref->data : c->data) + c->start;
            iov[n].iov_len = c->end - c->start;
            want += iov[n].iov_len;
            n++;
        }
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return total ? total : -1;
        }
        consume(q, p, (size_t)w);
        total += w;
        if ((size_t)w < want)
            break; /* the socket buffer is full */
    }
    return total;
}

void outq_clear(struct outq *q, struct chunk_pool *p)
{
    while (q->head) {
        struct chunk *c = q->head;
        q->head = c->next;
        chunk_put(p, c);
    }
    q->tail = NULL;
    q->bytes = 0;
}
