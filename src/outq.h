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

struct chunk {
    struct chunk *next;
    uint32_t start, end; /* unsent bytes are data[start..end) */
    char data[OUTQ_CHUNK_BYTES - 16];
};

#define OUTQ_CHUNK_DATA (sizeof(((struct chunk *)0)->data))

struct chunk_pool {
    struct chunk *free;
    size_t nfree, max_free;
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
/* Drops everything pending. */
void outq_clear(struct outq *q, struct chunk_pool *p);

#endif
