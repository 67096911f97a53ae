/* outq.h: a connection's pending output as a chain of fixed-size chunks
 * taken from a shared pool; written out with writev.  Memory is held only
 * while bytes are pending, and the pool keeps a few chunks warm so that
 * steady routing does not call malloc. */
#ifndef MSGD_OUTQ_H
#define MSGD_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define OUTQ_CHUNK_BYTES 16384

/* One frame shared by many queues (a broadcast): written from where it is,
 * by every receiver, and freed when the last one has written it. */
struct shared {
    uint32_t refs;
    uint32_t len;
    char data[];
};

/* A piece of a queue: either its own bytes (data[]) or a reference to a
 * shared frame (ref), in which case the node is small and has no data[]. */
struct chunk {
    struct chunk *next;
    uint32_t start, end; /* unsent bytes are bytes[start..end) */
    struct shared *ref;
    char data[];
};

#define OUTQ_CHUNK_DATA (OUTQ_CHUNK_BYTES - sizeof(struct chunk))

struct chunk_pool {
    struct chunk *free, *free_refs;
    size_t nfree, nfree_refs, max_free;
    size_t nlive; /* chunks handed out and not yet returned */
};

struct outq {
    struct chunk *head, *tail;
    size_t bytes; /* pending, unsent */
};

void chunk_pool_init(struct chunk_pool *p, size_t max_free);
void chunk_pool_drain(struct chunk_pool *p);

/* Appends n bytes; returns 0, or -1 when no memory (nothing appended). */
int outq_append(struct outq *q, struct chunk_pool *p, const void *data,
                size_t n);
/* Writes as much as fd takes (one writev of up to 64 chunks, repeated while
 * the kernel accepts everything).  Returns bytes written, or -1 with errno
 * (EAGAIN included when nothing could be written). */
ssize_t outq_write(struct outq *q, struct chunk_pool *p, int fd);
/* A shared frame of n bytes with no reference yet; NULL without memory. */
struct shared *shared_new(const void *hdr, size_t hlen, const void *payload,
                          size_t plen);
/* Frees it if no queue took a reference. */
void shared_release_if_unused(struct shared *sh);
/* Appends a reference to sh (its whole length); 0, or -1 without memory. */
int outq_append_shared(struct outq *q, struct chunk_pool *p, struct shared *sh);
/* Drops everything pending. */
void outq_clear(struct outq *q, struct chunk_pool *p);

#endif
