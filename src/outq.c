/* outq.c: chunked output queue and its chunk pool.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
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

static void shared_free(struct chunk_pool *p, struct shared *sh)
{
    p->held -= sizeof *sh + sh->cap;
    free(sh);
}

static void shared_unref(struct chunk_pool *p, struct shared *sh)
{
    if (--sh->refs == 0)
        shared_free(p, sh);
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
    outq_share_end(p, &p->block);
}

static struct shared *shared_alloc(struct chunk_pool *p, size_t cap)
{
    struct shared *sh = malloc(sizeof *sh + cap);
    if (sh == NULL)
        return NULL;
    sh->refs = 0;
    sh->len = 0;
    sh->cap = (uint32_t)cap;
    p->held += sizeof *sh + cap;
    return sh;
}

void outq_shared_ref(struct shared *sh)
{
    sh->refs++;
}

void outq_shared_unref(struct chunk_pool *p, struct shared *sh)
{
    shared_unref(p, sh);
}

void outq_share_end(struct chunk_pool *p, struct shared **cur)
{
    if (*cur) {
        shared_unref(p, *cur);
        *cur = NULL;
    }
}

struct shared *outq_share(struct chunk_pool *p, const void *hdr, size_t hlen,
                          const void *payload, size_t plen, uint32_t *off)
{
    return outq_share_in(p, &p->block, hdr, hlen, payload, plen, off);
}

struct shared *outq_share_in(struct chunk_pool *p, struct shared **cur,
                             const void *hdr, size_t hlen, const void *payload,
                             size_t plen, uint32_t *off)
{
    size_t n = hlen + plen + 1;
    struct shared *sh = *cur;

    if (n > OUTQ_BLOCK_BYTES / 4) {
        /* Large: a block of its own, so that packing wastes little. */
        sh = shared_alloc(p, n);
    } else if (sh == NULL || sh->cap - sh->len < n) {
        sh = shared_alloc(p, OUTQ_BLOCK_BYTES);
        if (sh) {
            if (*cur)
                shared_unref(p, *cur);
            sh->refs = 1; /* the pool's (or cur's owner's), while current */
            *cur = sh;
        }
    }
    if (sh == NULL)
        return NULL;
    *off = sh->len;
    memcpy(sh->data + sh->len, hdr, hlen);
    memcpy(sh->data + sh->len + hlen, payload, plen);
    sh->data[sh->len + hlen + plen] = '\n';
    sh->len += (uint32_t)n;
    return sh;
}

void outq_share_done(struct chunk_pool *p, struct shared *sh)
{
    if (sh && sh->refs == 0)
        shared_free(p, sh);
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
    p->held += OUTQ_CHUNK_BYTES;
    c->next = NULL;
    c->start = c->end = 0;
    c->first = OUTQ_NO_FRAME;
    c->ref = NULL;
    p->nlive++;
    return c;
}

static void chunk_put(struct chunk_pool *p, struct chunk *c)
{
    p->nlive--;
    if (c->ref) {
        p->held -= sizeof *c;
        shared_unref(p, c->ref);
        if (p->nfree_refs < p->max_free * 64) {
            c->next = p->free_refs;
            p->free_refs = c;
            p->nfree_refs++;
        } else {
            free(c);
        }
        return;
    }
    p->held -= OUTQ_CHUNK_BYTES;
    if (p->nfree < p->max_free) {
        c->next = p->free;
        p->free = c;
        p->nfree++;
    } else {
        free(c);
    }
}

static int append(struct outq *q, struct chunk_pool *p, const void *data,
                  size_t n, int frame)
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
    if (frame && n) {
        struct chunk *at = c->end < OUTQ_CHUNK_DATA ? c : c->next;
        if (at->first == OUTQ_NO_FRAME)
            at->first = at->end;
    }
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

int outq_append(struct outq *q, struct chunk_pool *p, const void *data,
                size_t n)
{
    return append(q, p, data, n, 0);
}

int outq_append_frame(struct outq *q, struct chunk_pool *p, const void *data,
                      size_t n)
{
    return append(q, p, data, n, 1);
}

int outq_append_shared(struct outq *q, struct chunk_pool *p, struct shared *sh,
                       uint32_t off, uint32_t len)
{
    struct chunk *t = q->tail;
    if (t && t->ref == sh && t->end == off) {
        t->end += len; /* the frame right after the run it refers to */
        q->bytes += len;
        return 0;
    }
    if (t && !t->ref && OUTQ_CHUNK_DATA - t->end >= len)
        return append(q, p, sh->data + off, len, 1);
    struct chunk *c = p->free_refs;
    if (c) {
        p->free_refs = c->next;
        p->nfree_refs--;
    } else if ((c = malloc(sizeof *c)) == NULL) {
        return -1;
    }
    p->nlive++;
    p->held += sizeof *c;
    c->next = NULL;
    c->start = off;
    c->end = off + len;
    c->first = off; /* whole frames */
    c->ref = sh;
    sh->refs++;
    if (t)
        t->next = c;
    else
        q->head = c;
    q->tail = c;
    q->bytes += len;
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

static ssize_t plain_writev(void *arg, int fd, const struct iovec *iov, int n)
{
    (void)arg;
    return writev(fd, iov, n);
}

ssize_t outq_write(struct outq *q, struct chunk_pool *p, int fd)
{
    return outq_send(q, p, plain_writev, NULL, fd);
}

ssize_t outq_send(struct outq *q, struct chunk_pool *p, outq_sendv_fn sendv,
                  void *arg, int fd)
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
        ssize_t w = sendv(arg, fd, iov, n);
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

/* A place in the queue: byte off of c's bytes, sent ones included; c NULL
 * is the end of the queue. */
struct cursor {
    struct chunk *c;
    uint64_t off;
};

static const char *bytes_of(const struct chunk *c)
{
    return c->ref ? c->ref->data : c->data;
}

/* Moves k n bytes on; -1 if that is past the end of the queue.  Only the
 * head chunk has sent bytes, so a later chunk's bytes start at its start
 * (0, or where its run begins in a shared block). */
static int advance(struct cursor *k, uint64_t n)
{
    if (n > UINT64_MAX - k->off)
        return -1;
    k->off += n;
    while (k->c && k->off >= k->c->end) {
        k->off -= k->c->end;
        k->c = k->c->next;
        if (k->c)
            k->off += k->c->start;
    }
    return k->c == NULL && k->off > 0 ? -1 : 0;
}

static size_t peek(struct cursor k, char *buf, size_t max)
{
    size_t n = 0;
    for (; k.c && n < max;
         k.c = k.c->next, k.off = k.c ? k.c->start : 0) {
        size_t take = k.c->end - (size_t)k.off;
        if (take > max - n)
            take = max - n;
        memcpy(buf + n, bytes_of(k.c) + k.off, take);
        n += take;
    }
    return n;
}

/* Where the frame that holds the head's first unsent byte ends; k.off ==
 * head->start if that byte begins a frame.  -1 if it cannot be told. */
static int frame_end(const struct outq *q, outq_piece_fn piece,
                     struct cursor *k)
{
    struct chunk *h = q->head;
    k->c = h;
    if (h->first == OUTQ_NO_FRAME || h->first > h->start) {
        /* Within a frame begun before: it ends where the next begins. */
        if (h->first != OUTQ_NO_FRAME) {
            k->off = h->first;
            return 0;
        }
        for (k->c = h->next; k->c && k->c->first == OUTQ_NO_FRAME;)
            k->c = k->c->next;
        k->off = k->c ? k->c->first : 0;
        return 0;
    }
    /* Read the frames back from the first one begun here. */
    uint64_t lines = 0;
    k->off = h->first;
    while (lines > 0 || (k->c == h && k->off < h->start)) {
        char buf[OUTQ_PEEK];
        uint64_t len, more;
        size_t n = peek(*k, buf, sizeof buf);
        if (n == 0 || piece(buf, n, &len, &more) < 0 || len == 0)
            return -1;
        lines = lines ? lines - 1 : more;
        if (advance(k, len) < 0)
            return -1;
    }
    /* A reference holds whole frames: one read back never ends inside
     * one, short of its start. */
    return k->c && k->c != h && k->c->ref && k->off != k->c->start ? -1 : 0;
}

int outq_keep_frame(struct outq *q, struct chunk_pool *p, outq_piece_fn piece)
{
    struct cursor k;

    if (q->head == NULL)
        return 0;
    if (frame_end(q, piece, &k) < 0) {
        outq_clear(q, p);
        return -1;
    }
    if (k.c == NULL)
        return 0; /* the frame in progress is the last one queued */
    if (k.c == q->head && k.off == q->head->start) {
        outq_clear(q, p);
        return 0;
    }
    /* Keep up to k: the chunks before it, and k.off bytes of its own. */
    struct chunk **pp = &q->head, *last = NULL;
    size_t bytes = 0;
    for (; *pp != k.c; pp = &(*pp)->next) {
        last = *pp;
        bytes += last->end - last->start;
    }
    if (k.off > k.c->start) {
        last = k.c;
        last->end = (uint32_t)k.off;
        if (last->first >= last->end)
            last->first = OUTQ_NO_FRAME;
        bytes += last->end - last->start;
        pp = &last->next;
    }
    struct chunk *drop = *pp;
    *pp = NULL;
    q->tail = last;
    q->bytes = bytes;
    while (drop) {
        struct chunk *next = drop->next;
        chunk_put(p, drop);
        drop = next;
    }
    return 0;
}
