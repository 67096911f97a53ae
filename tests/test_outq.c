/* test_outq.c: Check unit tests for the output queue and its chunk pool
 * (src/outq.c): data appended in any sizes comes out of a socketpair byte
 * for byte, through short writes and EAGAIN; bytes, clear and the pool's
 * accounting stay right at every step; a queue cut at a close keeps the
 * rest of the frame being written and nothing else.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "outq.h"

#include "proto.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static size_t rnd_below(size_t n)
{
    return (size_t)(rnd() % n);
}

/* Bytes that differ at every position, so a lost, doubled or reordered
 * byte shows. */
static void fill_pattern(char *buf, size_t n, size_t pos)
{
    for (size_t i = 0; i < n; i++) {
        size_t x = pos + i;
        buf[i] = (char)(x ^ (x >> 8) ^ (x >> 16) ^ 0x5a);
    }
}

/* The write end non-blocking with a small send buffer, the read end
 * non-blocking too so the test can drain whatever is there. */
static void make_pair(int fds[2], int sndbuf)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(fds[i], F_GETFL);
        ck_assert_int_ge(fl, 0);
        ck_assert_int_eq(fcntl(fds[i], F_SETFL, fl | O_NONBLOCK), 0);
    }
    if (sndbuf > 0)
        ck_assert_int_eq(
            setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf),
            0);
}

/* What the reader has seen. */
struct sink {
    char *data;
    size_t len, cap;
};

/* Reads up to max bytes (all there is, if max is 0); returns how many. */
static size_t drain(int fd, struct sink *s, size_t max)
{
    size_t got = 0;
    for (;;) {
        char buf[65536];
        size_t want = sizeof buf;
        if (max && max - got < want)
            want = max - got;
        if (want == 0)
            break;
        ssize_t n = read(fd, buf, want);
        if (n < 0) {
            REQUIRE(errno == EAGAIN || errno == EINTR);
            if (errno == EAGAIN)
                break;
            continue;
        }
        REQUIRE(n > 0); /* the write end stays open */
        if (s->len + (size_t)n > s->cap) {
            s->cap = (s->len + (size_t)n) * 2;
            s->data = realloc(s->data, s->cap);
            REQUIRE(s->data != NULL);
        }
        memcpy(s->data + s->len, buf, (size_t)n);
        s->len += (size_t)n;
        got += (size_t)n;
    }
    return got;
}

/* The chain is well formed and agrees with bytes; returns its chunks. */
static size_t check_queue(const struct outq *q)
{
    size_t n = 0, bytes = 0;
    const struct chunk *last = NULL;

    if (q->head == NULL) {
        REQUIRE(q->tail == NULL);
        REQUIRE(q->bytes == 0);
        return 0;
    }
    for (const struct chunk *c = q->head; c; c = c->next) {
        REQUIRE(c->start < c->end); /* no empty chunk is kept */
        REQUIRE(c->ref || c->end <= OUTQ_CHUNK_DATA);
        bytes += c->end - c->start;
        last = c;
        n++;
    }
    REQUIRE(last == q->tail);
    REQUIRE(bytes == q->bytes);
    return n;
}

/* Chunks needed for n bytes from an empty queue. */
static size_t chunks_for(size_t n)
{
    return (n + OUTQ_CHUNK_DATA - 1) / OUTQ_CHUNK_DATA;
}

START_TEST(test_small)
{
    struct chunk_pool p;
    struct outq q = {0};
    struct sink s = {0};
    int fds[2];

    chunk_pool_init(&p, 4);
    make_pair(fds, 0);
    ck_assert_uint_eq(outq_write(&q, &p, fds[0]), 0); /* nothing pending */

    ck_assert_int_eq(outq_append(&q, &p, "hello", 5), 0);
    ck_assert_uint_eq(q.bytes, 5);
    ck_assert_uint_eq(p.nlive, 1);
    ck_assert_int_eq(outq_append(&q, &p, " world", 6), 0);
    ck_assert_uint_eq(q.bytes, 11);
    ck_assert_uint_eq(p.nlive, 1); /* the same chunk */
    ck_assert_uint_eq(check_queue(&q), 1);

    ck_assert_int_eq(outq_write(&q, &p, fds[0]), 11);
    ck_assert_uint_eq(q.bytes, 0);
    ck_assert_uint_eq(check_queue(&q), 0);
    ck_assert_uint_eq(p.nlive, 0);
    ck_assert_uint_eq(p.nfree, 1);
    ck_assert_uint_eq(drain(fds[1], &s, 0), 11);
    ck_assert(memcmp(s.data, "hello world", 11) == 0);

    /* The chunk is reused. */
    ck_assert_int_eq(outq_append(&q, &p, "x", 1), 0);
    ck_assert_uint_eq(p.nfree, 0);
    ck_assert_uint_eq(p.nlive, 1);
    ck_assert_int_eq(outq_write(&q, &p, fds[0]), 1);
    ck_assert_uint_eq(drain(fds[1], &s, 0), 1);
    ck_assert_int_eq(s.data[11], 'x');

    outq_clear(&q, &p);
    chunk_pool_drain(&p);
    ck_assert_uint_eq(p.nfree, 0);
    ck_assert_ptr_null(p.free);
    close(fds[0]);
    close(fds[1]);
    free(s.data);
}
END_TEST

START_TEST(test_append_zero)
{
    struct chunk_pool p;
    struct outq q = {0};
    char buf[100];

    chunk_pool_init(&p, 4);
    ck_assert_int_eq(outq_append(&q, &p, buf, 0), 0);
    ck_assert_int_eq(outq_append(&q, &p, NULL, 0), 0);
    ck_assert_ptr_null(q.head);
    ck_assert_ptr_null(q.tail);
    ck_assert_uint_eq(q.bytes, 0);
    ck_assert_uint_eq(p.nlive, 0);

    /* On a queue with data, and on one whose tail is exactly full. */
    fill_pattern(buf, sizeof buf, 0);
    ck_assert_int_eq(outq_append(&q, &p, buf, 10), 0);
    ck_assert_int_eq(outq_append(&q, &p, buf, 0), 0);
    ck_assert_uint_eq(q.bytes, 10);
    ck_assert_uint_eq(check_queue(&q), 1);
    outq_clear(&q, &p);

    char *full = malloc(OUTQ_CHUNK_DATA);
    ck_assert_ptr_nonnull(full);
    fill_pattern(full, OUTQ_CHUNK_DATA, 0);
    ck_assert_int_eq(outq_append(&q, &p, full, OUTQ_CHUNK_DATA), 0);
    ck_assert_uint_eq(p.nlive, 1);
    ck_assert_int_eq(outq_append(&q, &p, buf, 0), 0);
    ck_assert_uint_eq(p.nlive, 1); /* no empty chunk added */
    ck_assert_uint_eq(check_queue(&q), 1);
    ck_assert_uint_eq(q.bytes, OUTQ_CHUNK_DATA);
    outq_clear(&q, &p);
    ck_assert_uint_eq(p.nlive, 0);
    chunk_pool_drain(&p);
    free(full);
}
END_TEST

/* Appends at and around chunk boundaries land in the right number of
 * chunks and come out in order. */
START_TEST(test_boundaries)
{
    static const size_t sizes[] = {OUTQ_CHUNK_DATA - 1,
                                   1,
                                   1,
                                   OUTQ_CHUNK_DATA,
                                   OUTQ_CHUNK_DATA + 1,
                                   2 * OUTQ_CHUNK_DATA,
                                   3,
                                   OUTQ_CHUNK_DATA - 4};
    const size_t nsizes = sizeof sizes / sizeof sizes[0];
    struct chunk_pool p;
    struct outq q = {0};
    struct sink s = {0};
    int fds[2];
    size_t total = 0;

    for (size_t i = 0; i < nsizes; i++)
        total += sizes[i];
    char *all = malloc(total);
    ck_assert_ptr_nonnull(all);
    fill_pattern(all, total, 0);

    chunk_pool_init(&p, 0);
    make_pair(fds, 0);
    size_t off = 0;
    for (size_t i = 0; i < nsizes; i++) {
        ck_assert_int_eq(outq_append(&q, &p, all + off, sizes[i]), 0);
        off += sizes[i];
        ck_assert_uint_eq(q.bytes, off);
        /* Chunks are filled before new ones are taken. */
        ck_assert_uint_eq(check_queue(&q), chunks_for(off));
        ck_assert_uint_eq(p.nlive, chunks_for(off));
    }
    while (q.bytes) {
        ssize_t w = outq_write(&q, &p, fds[0]);
        ck_assert(w > 0 || (w < 0 && errno == EAGAIN));
        check_queue(&q);
        drain(fds[1], &s, 0);
    }
    drain(fds[1], &s, 0);
    ck_assert_uint_eq(s.len, total);
    ck_assert(memcmp(s.data, all, total) == 0);
    ck_assert_uint_eq(p.nlive, 0);
    ck_assert_uint_eq(p.nfree, 0); /* max_free 0: all freed */
    close(fds[0]);
    close(fds[1]);
    free(all);
    free(s.data);
}
END_TEST

/* 1 MB in one append, written through a small socket buffer. */
START_TEST(test_large)
{
    const size_t n = 1 << 20;
    struct chunk_pool p;
    struct outq q = {0};
    struct sink s = {0};
    int fds[2];
    char *data = malloc(n);

    ck_assert_ptr_nonnull(data);
    fill_pattern(data, n, 12345);
    chunk_pool_init(&p, 8);
    make_pair(fds, 32768);

    ck_assert_int_eq(outq_append(&q, &p, data, n), 0);
    ck_assert_uint_eq(q.bytes, n);
    ck_assert_uint_eq(p.nlive, chunks_for(n));
    ck_assert_uint_gt(p.nlive, 64); /* more than one writev's worth */
    ck_assert_uint_eq(check_queue(&q), p.nlive);

    size_t written = 0;
    int shorts = 0;
    while (q.bytes) {
        ssize_t w = outq_write(&q, &p, fds[0]);
        if (w < 0) {
            REQUIRE(errno == EAGAIN);
        } else {
            REQUIRE(w > 0);
            written += (size_t)w;
            shorts += q.bytes > 0;
        }
        REQUIRE(q.bytes == n - written);
        REQUIRE(check_queue(&q) == p.nlive);
        REQUIRE(p.nfree <= p.max_free);
        drain(fds[1], &s, 0);
    }
    drain(fds[1], &s, 0);
    ck_assert_int_gt(shorts, 0);
    ck_assert_uint_eq(written, n);
    ck_assert_uint_eq(s.len, n);
    ck_assert(memcmp(s.data, data, n) == 0);
    ck_assert_uint_eq(p.nlive, 0);
    ck_assert_uint_eq(p.nfree, 8);
    chunk_pool_drain(&p);
    ck_assert_uint_eq(p.nfree, 0);
    close(fds[0]);
    close(fds[1]);
    free(data);
    free(s.data);
}
END_TEST

/* A full socket: -1/EAGAIN and nothing changes; after a drain, the rest
 * follows in order. */
START_TEST(test_eagain)
{
    const size_t n = 4 << 20;
    struct chunk_pool p;
    struct outq q = {0};
    struct sink s = {0};
    int fds[2];
    char *data = malloc(n);

    ck_assert_ptr_nonnull(data);
    fill_pattern(data, n, 7);
    chunk_pool_init(&p, 4);
    make_pair(fds, 16384);
    ck_assert_int_eq(outq_append(&q, &p, data, n), 0);

    /* Fill: short writes, then EAGAIN with nothing written. */
    size_t written = 0;
    ssize_t w;
    while ((w = outq_write(&q, &p, fds[0])) > 0)
        written += (size_t)w;
    ck_assert_int_eq(w, -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_uint_gt(written, 0);
    ck_assert_uint_lt(written, n);
    ck_assert_uint_eq(q.bytes, n - written);

    const struct chunk *head = q.head;
    uint32_t start = head->start;
    size_t live = p.nlive;
    for (int i = 0; i < 3; i++) {
        errno = 0;
        ck_assert_int_eq(outq_write(&q, &p, fds[0]), -1);
        ck_assert_int_eq(errno, EAGAIN);
        ck_assert_uint_eq(q.bytes, n - written);
        ck_assert_ptr_eq(q.head, head);
        ck_assert_uint_eq(q.head->start, start);
        ck_assert_uint_eq(p.nlive, live);
    }

    /* Drain in random small bites; each write goes on where the last
     * stopped, also in the middle of a chunk. */
    rng_state = 9;
    int mid_chunk = 0;
    while (q.bytes) {
        drain(fds[1], &s, 1 + rnd_below(50000));
        w = outq_write(&q, &p, fds[0]);
        if (w < 0) {
            REQUIRE(errno == EAGAIN);
            continue;
        }
        written += (size_t)w;
        REQUIRE(q.bytes == n - written);
        REQUIRE(check_queue(&q) == p.nlive);
        mid_chunk += q.head && q.head->start > 0;
    }
    drain(fds[1], &s, 0);
    ck_assert_int_gt(mid_chunk, 0);
    ck_assert_uint_eq(s.len, n);
    ck_assert(memcmp(s.data, data, n) == 0);
    ck_assert_uint_eq(p.nlive, 0);
    chunk_pool_drain(&p);
    close(fds[0]);
    close(fds[1]);
    free(data);
    free(s.data);
}
END_TEST

/* Many appends of random sizes interleaved with writes and partial
 * drains; the reader sees exactly the concatenation. */
START_TEST(test_random_interleave)
{
    const size_t total = 6 << 20;
    struct chunk_pool p;
    struct outq q = {0};
    struct sink s = {0};
    int fds[2];
    char *data = malloc(total);
    size_t appended = 0, written = 0;

    ck_assert_ptr_nonnull(data);
    fill_pattern(data, total, 99);
    chunk_pool_init(&p, 16);
    make_pair(fds, 65536);
    rng_state = 1234;
    while (written < total) {
        unsigned k = (unsigned)rnd_below(10);
        if (k < 5 && appended < total) {
            size_t n;
            switch (rnd_below(4)) {
            case 0:
                n = rnd_below(16);
                break;
            case 1:
                n = rnd_below(200);
                break;
            case 2:
                n = rnd_below(OUTQ_CHUNK_DATA * 2);
                break;
            default:
                n = rnd_below(300000);
                break;
            }
            if (n > total - appended)
                n = total - appended;
            REQUIRE(outq_append(&q, &p, data + appended, n) == 0);
            appended += n;
        } else if (k < 8) {
            ssize_t w = outq_write(&q, &p, fds[0]);
            if (w < 0) {
                REQUIRE(errno == EAGAIN);
            } else {
                written += (size_t)w;
            }
        } else {
            drain(fds[1], &s, rnd_below(2) ? 0 : 1 + rnd_below(100000));
        }
        REQUIRE(q.bytes == appended - written);
        REQUIRE(check_queue(&q) == p.nlive);
        REQUIRE(p.nfree <= 16);
    }
    drain(fds[1], &s, 0);
    ck_assert_uint_eq(s.len, total);
    ck_assert(memcmp(s.data, data, total) == 0);
    ck_assert_uint_eq(q.bytes, 0);
    ck_assert_uint_eq(p.nlive, 0);
    chunk_pool_drain(&p);
    close(fds[0]);
    close(fds[1]);
    free(data);
    free(s.data);
}
END_TEST

START_TEST(test_clear)
{
    const size_t n = 1 << 20;
    struct chunk_pool p;
    struct outq q = {0};
    struct sink s = {0};
    int fds[2];
    char *data = malloc(n);

    ck_assert_ptr_nonnull(data);
    fill_pattern(data, n, 0);
    chunk_pool_init(&p, 5);
    make_pair(fds, 16384);

    /* Clear an empty queue, a partly written one, a big one. */
    outq_clear(&q, &p);
    ck_assert_uint_eq(q.bytes, 0);
    ck_assert_uint_eq(p.nlive, 0);

    ck_assert_int_eq(outq_append(&q, &p, data, n), 0);
    ssize_t w = outq_write(&q, &p, fds[0]);
    ck_assert_int_gt(w, 0);
    ck_assert_uint_eq(q.bytes, n - (size_t)w);
    outq_clear(&q, &p);
    ck_assert_ptr_null(q.head);
    ck_assert_ptr_null(q.tail);
    ck_assert_uint_eq(q.bytes, 0);
    ck_assert_uint_eq(p.nlive, 0);
    ck_assert_uint_eq(p.nfree, 5); /* at most max_free kept */
    ck_assert_int_eq(outq_write(&q, &p, fds[0]), 0);

    /* The queue works after a clear. */
    drain(fds[1], &s, 0);
    size_t before = s.len;
    ck_assert_int_eq(outq_append(&q, &p, "after", 5), 0);
    ck_assert_uint_eq(p.nfree, 4);
    ck_assert_int_eq(outq_write(&q, &p, fds[0]), 5);
    drain(fds[1], &s, 0);
    ck_assert_uint_eq(s.len, before + 5);
    ck_assert(memcmp(s.data + before, "after", 5) == 0);
    ck_assert(memcmp(s.data, data, before) == 0);

    chunk_pool_drain(&p);
    ck_assert_uint_eq(p.nfree, 0);
    close(fds[0]);
    close(fds[1]);
    free(data);
    free(s.data);
}
END_TEST

START_TEST(test_pool)
{
    struct chunk_pool p;
    struct outq q = {0}, q2 = {0};
    char *data = malloc(20 * OUTQ_CHUNK_DATA);

    ck_assert_ptr_nonnull(data);
    fill_pattern(data, 20 * OUTQ_CHUNK_DATA, 3);

    /* max_free bounds what is kept; the rest is freed. */
    static const size_t maxes[] = {0, 1, 3, 10, 100};
    for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
        chunk_pool_init(&p, maxes[m]);
        ck_assert_int_eq(outq_append(&q, &p, data, 12 * OUTQ_CHUNK_DATA), 0);
        ck_assert_uint_eq(p.nlive, 12);
        outq_clear(&q, &p);
        size_t kept = maxes[m] < 12 ? maxes[m] : 12;
        ck_assert_uint_eq(p.nlive, 0);
        ck_assert_uint_eq(p.nfree, kept);
        /* Taking chunks uses the kept ones first. */
        ck_assert_int_eq(outq_append(&q, &p, data, 2 * OUTQ_CHUNK_DATA), 0);
        ck_assert_uint_eq(p.nlive, 2);
        ck_assert_uint_eq(p.nfree, kept > 2 ? kept - 2 : 0);
        /* Two queues share the pool. */
        ck_assert_int_eq(outq_append(&q2, &p, data, 3 * OUTQ_CHUNK_DATA + 1),
                         0);
        ck_assert_uint_eq(p.nlive, 6);
        ck_assert_uint_eq(check_queue(&q), 2);
        ck_assert_uint_eq(check_queue(&q2), 4);
        outq_clear(&q, &p);
        ck_assert_uint_eq(p.nlive, 4);
        ck_assert_uint_eq(q2.bytes, 3 * OUTQ_CHUNK_DATA + 1);
        outq_clear(&q2, &p);
        ck_assert_uint_eq(p.nlive, 0);
        ck_assert_uint_le(p.nfree, maxes[m]);
        chunk_pool_drain(&p);
        ck_assert_uint_eq(p.nfree, 0);
        ck_assert_ptr_null(p.free);
    }
    free(data);
}
END_TEST

/* Into a file, which takes everything: one call writes more than one
 * writev's 64 chunks. */
START_TEST(test_write_file)
{
    const size_t n = 200 * OUTQ_CHUNK_DATA + 77;
    struct chunk_pool p;
    struct outq q = {0};
    char *data = malloc(n), *back = malloc(n);
    FILE *f = tmpfile();

    ck_assert(data && back && f);
    fill_pattern(data, n, 5);
    chunk_pool_init(&p, 2);
    /* In pieces, so chunks are filled by several appends. */
    for (size_t off = 0; off < n;) {
        size_t k = 1000 + (off * 7) % 30000;
        if (k > n - off)
            k = n - off;
        ck_assert_int_eq(outq_append(&q, &p, data + off, k), 0);
        off += k;
    }
    ck_assert_uint_eq(p.nlive, chunks_for(n));
    ck_assert_int_eq(outq_write(&q, &p, fileno(f)), (ssize_t)n);
    ck_assert_uint_eq(q.bytes, 0);
    ck_assert_uint_eq(p.nlive, 0);
    ck_assert_uint_eq(p.nfree, 2);
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    ck_assert_uint_eq(fread(back, 1, n, f), n);
    ck_assert(memcmp(back, data, n) == 0);
    fclose(f);
    chunk_pool_drain(&p);
    free(data);
    free(back);
}
END_TEST

/* Errors other than EAGAIN come back as -1 with errno; nothing is lost. */
START_TEST(test_write_errors)
{
    struct chunk_pool p;
    struct outq q = {0};
    int fds[2];
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);

    chunk_pool_init(&p, 2);
    ck_assert_int_eq(outq_append(&q, &p, "data", 4), 0);
    errno = 0;
    ck_assert_int_eq(outq_write(&q, &p, -1), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_uint_eq(q.bytes, 4);

    make_pair(fds, 0);
    close(fds[1]);
    errno = 0;
    ck_assert_int_eq(outq_write(&q, &p, fds[0]), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_uint_eq(q.bytes, 4);
    ck_assert_uint_eq(check_queue(&q), 1);
    outq_clear(&q, &p);
    ck_assert_uint_eq(p.nlive, 0);
    chunk_pool_drain(&p);
    close(fds[0]);
    signal(SIGPIPE, old);
}
END_TEST

/* A large shared frame queued in two queues between inline bytes: both
 * read back exactly, and the block is freed once, after the second writer.
 * Small frames are packed into one block: a queue that takes them in a
 * row holds one reference; one whose tail has room copies them. */
START_TEST(test_shared)
{
    struct chunk_pool pool;
    struct outq q1 = {0}, q2 = {0};
    int a[2], b[2];
    char big[5000];
    uint32_t off;
    fill_pattern(big, sizeof big, 7);
    chunk_pool_init(&pool, 4);
    make_pair(a, 0);
    make_pair(b, 0);
    struct shared *sh = outq_share(&pool, "HDR ", 4, big, sizeof big, &off);
    ck_assert_ptr_nonnull(sh);
    ck_assert_uint_eq(off, 0);
    ck_assert_uint_eq(sh->len, 4 + sizeof big + 1);
    ck_assert_ptr_null(pool.block); /* large: a block of its own */
    ck_assert_int_eq(outq_append(&q1, &pool, "one", 3), 0);
    ck_assert_int_eq(outq_append_shared(&q2, &pool, sh, off, sh->len), 0);
    ck_assert_int_eq(outq_append_shared(&q1, &pool, sh, off, sh->len), 0);
    ck_assert_uint_eq(sh->refs, 1); /* q1's tail had room: copied */
    ck_assert_int_eq(outq_append(&q1, &pool, "two", 3), 0);
    ck_assert_uint_eq(q1.bytes, 6 + sh->len);
    outq_share_done(&pool, sh); /* referenced: stays */

    struct sink s1 = {0}, s2 = {0};
    while (q1.bytes) {
        ck_assert_int_ne(outq_write(&q1, &pool, a[0]), -1);
        drain(a[1], &s1, 0);
    }
    ck_assert_uint_eq(sh->refs, 1); /* q2 still holds it */
    while (q2.bytes) {
        ck_assert_int_ne(outq_write(&q2, &pool, b[0]), -1);
        drain(b[1], &s2, 0);
    }
    ck_assert_uint_eq(s1.len, 6 + 4 + sizeof big + 1);
    ck_assert(memcmp(s1.data, "oneHDR ", 7) == 0);
    ck_assert(memcmp(s1.data + 7, big, sizeof big) == 0);
    ck_assert(memcmp(s1.data + 7 + sizeof big, "\ntwo", 4) == 0);
    ck_assert_uint_eq(s2.len, 4 + sizeof big + 1);
    ck_assert(memcmp(s2.data + 4, big, sizeof big) == 0);
    ck_assert_uint_eq(pool.nlive, 0);
    ck_assert_uint_eq(pool.held, 0);

    /* 100 small frames in a row: one reference, one block. */
    s2.len = 0;
    for (int i = 0; i < 100; i++) {
        struct shared *k = outq_share(&pool, "H ", 2, big + i, 60, &off);
        ck_assert_ptr_nonnull(k);
        ck_assert_ptr_eq(k, pool.block);
        ck_assert_int_eq(outq_append_shared(&q2, &pool, k, off, 63), 0);
        outq_share_done(&pool, k);
    }
    ck_assert_uint_eq(pool.nlive, 1);
    ck_assert_uint_eq(q2.bytes, 6300);
    while (q2.bytes) {
        ck_assert_int_ne(outq_write(&q2, &pool, b[0]), -1);
        drain(b[1], &s2, 0);
    }
    ck_assert_uint_eq(s2.len, 6300);
    for (int i = 0; i < 100; i++) {
        ck_assert(memcmp(s2.data + i * 63, "H ", 2) == 0);
        ck_assert(memcmp(s2.data + i * 63 + 2, big + i, 60) == 0);
        ck_assert_int_eq(s2.data[i * 63 + 62], '\n');
    }
    /* A queue cleared with a reference in it lets the block go too, once
     * the pool has let it go (the sanitizer or valgrind run would report
     * a leak). */
    sh = outq_share(&pool, "H", 1, big, 10, &off);
    ck_assert_int_eq(outq_append_shared(&q1, &pool, sh, off, 12), 0);
    outq_clear(&q1, &pool);
    ck_assert_uint_eq(pool.nlive, 0);
    chunk_pool_drain(&pool);
    ck_assert_uint_eq(pool.held, 0);
    free(s1.data);
    free(s2.data);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Keeping the frame in progress                                        */
/* ------------------------------------------------------------------ */

/* What was queued, and where its frames begin. */
struct expect {
    char *data;
    size_t len, cap;
    size_t *starts;
    size_t nstarts, scap;
};

static void ex_put(struct expect *e, const void *p, size_t n, int frame)
{
    if (frame) {
        if (e->nstarts == e->scap) {
            e->scap = e->scap ? e->scap * 2 : 64;
            e->starts = realloc(e->starts, e->scap * sizeof *e->starts);
            REQUIRE(e->starts != NULL);
        }
        e->starts[e->nstarts++] = e->len;
    }
    if (e->len + n > e->cap) {
        e->cap = (e->len + n) * 2;
        e->data = realloc(e->data, e->cap);
        REQUIRE(e->data != NULL);
    }
    memcpy(e->data + e->len, p, n);
    e->len += n;
}

static void q_put(struct outq *q, struct chunk_pool *p, struct expect *e,
                  const void *data, size_t n, int frame)
{
    REQUIRE((frame ? outq_append_frame : outq_append)(q, p, data, n) == 0);
    ex_put(e, data, n, frame);
}

/* One random server frame: a line, a MSG (copied or shared), or a NODES
 * reply whose NODE lines belong to it. */
static void put_frame(struct outq *q, struct chunk_pool *p, struct expect *e)
{
    static char buf[40000];
    char hdr[64];
    size_t n;
    int h;
    switch (rnd_below(5)) {
    case 0: /* a PONG line, up to the longest a server sends */
        n = 5 + rnd_below(1019);
        memcpy(buf, "PONG ", 5);
        memset(buf + 5, 'p', n - 5);
        buf[n - 1] = '\n';
        q_put(q, p, e, buf, n, 1);
        break;
    case 1:
    case 2: /* a MSG in three appends, as conn_deliver does */
        n = rnd_below(4) ? rnd_below(300) : rnd_below(sizeof buf);
        fill_pattern(buf, n, e->len);
        h = snprintf(hdr, sizeof hdr, "MSG a b %zu\n", n);
        q_put(q, p, e, hdr, (size_t)h, 1);
        q_put(q, p, e, buf, n, 0);
        q_put(q, p, e, "\n", 1, 0);
        break;
    case 3: { /* a broadcast's shared frame, packed when small */
        n = rnd_below(2) ? rnd_below(300) : rnd_below(20000);
        fill_pattern(buf, n, e->len);
        h = snprintf(hdr, sizeof hdr, "MSG a * %zu\n", n);
        uint32_t off;
        struct shared *sh = outq_share(p, hdr, (size_t)h, buf, n, &off);
        REQUIRE(sh != NULL);
        REQUIRE(outq_append_shared(q, p, sh, off, (uint32_t)(h + n + 1)) == 0);
        ex_put(e, sh->data + off, (size_t)h + n + 1, 1);
        outq_share_done(p, sh);
        break;
    }
    default: { /* WHO's reply */
        size_t k = rnd_below(300);
        h = snprintf(hdr, sizeof hdr, "NODES %zu\n", k);
        q_put(q, p, e, hdr, (size_t)h, 1);
        for (size_t i = 0; i < k; i++) {
            h = snprintf(hdr, sizeof hdr, "NODE n%zu\n", i);
            q_put(q, p, e, hdr, (size_t)h, 0);
        }
        break;
    }
    }
}

/* A pipe of one page: each write takes at most 4096 bytes. */
static void make_pipe(int fds[2])
{
    ck_assert_int_eq(pipe2(fds, O_NONBLOCK), 0);
    ck_assert_int_ge(fcntl(fds[1], F_SETPIPE_SZ, 4096), 4096);
}

/* Writes what the pipe takes, pages times, keeping it in s. */
static void write_pages(struct outq *q, struct chunk_pool *p, int fds[2],
                        struct sink *s, size_t pages)
{
    for (size_t i = 0; i < pages && q->bytes; i++) {
        REQUIRE(outq_write(q, p, fds[1]) > 0);
        drain(fds[0], s, 0);
    }
}

START_TEST(test_keep_frame)
{
    struct chunk_pool p;
    int fds[2];
    make_pipe(fds);
    chunk_pool_init(&p, 4);
    for (uint64_t seed = 1; seed <= 400; seed++) {
        struct outq q = {0};
        struct expect e = {0};
        struct sink s = {0};
        rng_state = seed * 7919;
        size_t nframes = 1 + rnd_below(40);
        for (size_t i = 0; i < nframes; i++)
            put_frame(&q, &p, &e);
        write_pages(&q, &p, fds, &s, rnd_below(e.len / 4096 + 2));
        size_t w = s.len;
        /* The first frame start after what was written, or the end. */
        size_t end = e.len;
        for (size_t i = 0; i < e.nstarts; i++) {
            if (e.starts[i] >= w) {
                end = e.starts[i];
                break;
            }
        }
        REQUIRE(outq_keep_frame(&q, &p, proto_out_piece) == 0);
        check_queue(&q);
        REQUIRE_MSG(q.bytes == end - w,
                    "seed %llu: %zu written of %zu, kept %zu, want %zu",
                    (unsigned long long)seed, w, e.len, q.bytes, end - w);
        /* A BYE goes after it, and the reader gets whole frames. */
        REQUIRE(outq_append_frame(&q, &p, "BYE x\n", 6) == 0);
        while (q.bytes)
            write_pages(&q, &p, fds, &s, 1);
        REQUIRE(s.len == end + 6);
        REQUIRE(memcmp(s.data, e.data, end) == 0);
        REQUIRE(memcmp(s.data + end, "BYE x\n", 6) == 0);
        REQUIRE(p.nlive == 0);
        free(s.data);
        free(e.data);
        free(e.starts);
    }
    chunk_pool_drain(&p);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* A frame that is not all queued cannot be completed: everything goes,
 * and the caller sends no BYE. */
START_TEST(test_keep_frame_incomplete)
{
    struct chunk_pool p;
    struct outq q = {0};
    struct sink s = {0};
    int fds[2];
    char line[4090];
    make_pipe(fds);
    chunk_pool_init(&p, 4);
    memcpy(line, "PONG ", 5);
    memset(line + 5, 'x', sizeof line - 5);
    line[sizeof line - 1] = '\n';
    ck_assert_int_eq(outq_append_frame(&q, &p, line, sizeof line), 0);
    ck_assert_int_eq(outq_append_frame(&q, &p, "NODES 3\n", 8), 0);
    ck_assert_int_eq(outq_append(&q, &p, "NODE a\n", 7), 0);
    write_pages(&q, &p, fds, &s, 1);
    ck_assert_uint_eq(s.len, 4096); /* 6 bytes into the NODES line */
    ck_assert_int_eq(outq_keep_frame(&q, &p, proto_out_piece), -1);
    ck_assert_uint_eq(q.bytes, 0);
    ck_assert_uint_eq(p.nlive, 0);

    /* Nothing written yet, or nothing at all: nothing is kept. */
    ck_assert_int_eq(outq_keep_frame(&q, &p, proto_out_piece), 0);
    ck_assert_int_eq(outq_append_frame(&q, &p, "PONG\n", 5), 0);
    ck_assert_int_eq(outq_keep_frame(&q, &p, proto_out_piece), 0);
    ck_assert_uint_eq(q.bytes, 0);
    ck_assert_ptr_null(q.head);
    chunk_pool_drain(&p);
    free(s.data);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

static Suite *outq_suite(void)
{
    Suite *s = suite_create("outq");

    TCase *tc = tcase_create("queue");
    tcase_add_test(tc, test_small);
    tcase_add_test(tc, test_append_zero);
    tcase_add_test(tc, test_boundaries);
    tcase_add_test(tc, test_clear);
    tcase_add_test(tc, test_pool);
    tcase_add_test(tc, test_write_file);
    tcase_add_test(tc, test_write_errors);
    tcase_add_test(tc, test_shared);
    suite_add_tcase(s, tc);

    tc = tcase_create("socket");
    tcase_add_test(tc, test_large);
    tcase_add_test(tc, test_eagain);
    tcase_add_test(tc, test_random_interleave);
    tcase_add_test(tc, test_keep_frame);
    tcase_add_test(tc, test_keep_frame_incomplete);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(outq_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
