/* outq.h: a connection's pending output as a chain of fixed-size chunks
 * taken from a shared pool; written out with writev.  Memory is held only
 * while bytes are pending, and the pool keeps a few chunks warm so that
 * steady routing does not call malloc.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_OUTQ_H
#define MSGD_OUTQ_H

#include <stddef.h>
#include <sys/uio.h>
#include <stdint.h>
#include <sys/types.h>

#define OUTQ_CHUNK_BYTES 16384

/* Broadcast frames shared by many queues: a block of whole frames, each
 * written once; a queue refers to a run of them.  Small frames are packed
 * into the pool's current block (so a queue that takes several in a row
 * holds one reference, not one per frame); a large one gets a block of its
 * own.  Freed when the last queue has written it and the pool has moved
 * on to another block. */
struct shared {
    uint32_t refs; /* chunks referring to it, and the pool while current */
    uint32_t len;  /* bytes used */
    uint32_t cap;  /* bytes of data[] */
    char data[];
};

#define OUTQ_BLOCK_BYTES 16384 /* a block of packed small frames */

/* A piece of a queue: either its own bytes (data[]) or a reference to a
 * run of whole frames of a shared block (ref), in which case the node is
 * small and has no data[], and start/end/first are offsets in the block.
 * Sent bytes stay in place until the chunk is freed, so a queue can be
 * read back from the first frame of its head chunk. */
struct chunk {
    struct chunk *next;
    uint32_t start, end; /* unsent bytes are bytes[start..end) */
    uint32_t first;      /* where the first frame begun here begins */
    struct shared *ref;
    char data[];
};

#define OUTQ_NO_FRAME UINT32_MAX /* chunk.first: no frame begins here */

#define OUTQ_CHUNK_DATA (OUTQ_CHUNK_BYTES - sizeof(struct chunk))

struct chunk_pool {
    struct chunk *free, *free_refs;
    size_t nfree, nfree_refs, max_free;
    size_t nlive; /* chunks handed out and not yet returned */
    size_t held;  /* bytes of live chunks and shared blocks: the memory
                   * queued output takes, each block counted once */
    struct shared *block; /* where small broadcast frames go next */
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
/* The same, the bytes being the start of a frame (what outq_keep_frame
 * cuts at); the rest of the frame, if any, follows with outq_append. */
int outq_append_frame(struct outq *q, struct chunk_pool *p, const void *data,
                      size_t n);
/* Writes as much as fd takes (one writev of up to 64 chunks, repeated while
 * the kernel accepts everything).  Returns bytes written, or -1 with errno
 * (EAGAIN included when nothing could be written). */
ssize_t outq_write(struct outq *q, struct chunk_pool *p, int fd);
/* The same through a writer that behaves as writev(2) (a connection's
 * transport): arg and fd are passed on. */
typedef ssize_t (*outq_sendv_fn)(void *arg, int fd, const struct iovec *iov,
                                 int n);
ssize_t outq_send(struct outq *q, struct chunk_pool *p, outq_sendv_fn sendv,
                  void *arg, int fd);
/* Writes the frame hdr, payload, LF into a shared block: the pool's
 * current one when it fits, else a new one.  Returns the block, with the
 * frame at *off, or NULL without memory.  outq_share_done ends its use. */
struct shared *outq_share(struct chunk_pool *p, const void *hdr, size_t hlen,
                          const void *payload, size_t plen, uint32_t *off);
/* The same, packing small frames into *cur (a block its owner keeps
 * current, as a session does for its own frames) instead of the pool's;
 * outq_share_end lets go of *cur. */
struct shared *outq_share_in(struct chunk_pool *p, struct shared **cur,
                             const void *hdr, size_t hlen, const void *payload,
                             size_t plen, uint32_t *off);
void outq_share_end(struct chunk_pool *p, struct shared **cur);
/* A reference to sh held outside any queue (a session's kept frame), and
 * its release (sh is freed with its last reference). */
void outq_shared_ref(struct shared *sh);
void outq_shared_unref(struct chunk_pool *p, struct shared *sh);
/* Frees sh if no queue took a reference and the pool does not hold it. */
void outq_share_done(struct chunk_pool *p, struct shared *sh);
/* Appends the len bytes of sh at off (whole frames): extends the tail when
 * it ends there, copies them into the tail's room when it is a chunk of
 * its own bytes, else adds a reference.  0, or -1 without memory. */
int outq_append_shared(struct outq *q, struct chunk_pool *p, struct shared *sh,
                       uint32_t off, uint32_t len);
/* Drops everything pending. */
void outq_clear(struct outq *q, struct chunk_pool *p);

/* How long the piece at buf is, given avail (at least OUTQ_PEEK, or what
 * is left) of its bytes: *len bytes, and *lines more lines that belong to
 * the same frame.  0, or -1 when buf holds no such piece. */
#define OUTQ_PEEK 1024
typedef int (*outq_piece_fn)(const char *buf, size_t avail, uint64_t *len,
                             uint64_t *lines);
/*
 * Drops everything pending after the frame whose first bytes have been
 * written and whose last have not, or everything if no frame is cut in
 * two, so that what the reader gets is still whole frames.  Frames are
 * read back with piece from the first frame begun in the head chunk.
 * Returns 0, or -1 (everything dropped) if the frame cannot be completed.
 */
int outq_keep_frame(struct outq *q, struct chunk_pool *p, outq_piece_fn piece);

#endif
