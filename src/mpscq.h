/* mpscq.h: a lock-free multi-producer, single-consumer queue of intrusive
 * nodes.  Producers push with one compare-and-swap; the consumer takes the
 * whole queue with one exchange and gets it back oldest first.  It is how
 * msgd's loop and the NATS threads hand work to each other without a lock
 * on the routing path.  push() reports when the queue was empty, so a
 * producer wakes the consumer (an eventfd) once per batch, not per node.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_MPSCQ_H
#define MSGD_MPSCQ_H

#include <stdatomic.h>
#include <stddef.h>

struct mpsc_node {
    struct mpsc_node *next;
};

struct mpscq {
    _Atomic(struct mpsc_node *) head; /* newest first */
};

static inline void mpscq_init(struct mpscq *q)
{
    atomic_init(&q->head, NULL);
}

/* Returns 1 when the queue was empty before this push. */
static inline int mpscq_push(struct mpscq *q, struct mpsc_node *n)
{
    struct mpsc_node *old =
        atomic_load_explicit(&q->head, memory_order_relaxed);
    do {
        n->next = old;
    } while (!atomic_compare_exchange_weak_explicit(
        &q->head, &old, n, memory_order_release, memory_order_relaxed));
    return old == NULL;
}

/* Takes everything queued so far, oldest first; NULL when empty.  Only
 * the one consumer may call it.  The whole list is taken at once, so there
 * is no ABA problem. */
static inline struct mpsc_node *mpscq_take(struct mpscq *q)
{
    struct mpsc_node *n =
        atomic_exchange_explicit(&q->head, NULL, memory_order_acquire);
    struct mpsc_node *fifo = NULL;
    while (n) {
        struct mpsc_node *next = n->next;
        n->next = fifo;
        fifo = n;
        n = next;
    }
    return fifo;
}

#endif
