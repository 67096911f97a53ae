/* test_idtable.c: Check unit tests for the id table (src/idtable.c):
 * put/get/del, growth, backward-shift deletion checked against a reference
 * model and against the probe-chain invariant, the keyed hash, and the
 * walk over every value.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "idtable.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const uint8_t seed_a[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                                   9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t seed_b[16] = {0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0,
                                   0,    0,    0,    0,    0, 0, 0, 1};

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Keys live in one array: the table keeps pointers to them. */
struct keys {
    char (*s)[24];
    size_t *len;
    size_t n;
};

static void make_keys(struct keys *k, size_t n, const char *prefix)
{
    k->s = malloc(n * sizeof *k->s);
    k->len = malloc(n * sizeof *k->len);
    ck_assert(k->s && k->len);
    k->n = n;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(k->s[i], sizeof k->s[i], "%s%zu", prefix, i);
        ck_assert(w > 0 && (size_t)w < sizeof k->s[i]);
        k->len[i] = (size_t)w;
    }
}

static void free_keys(struct keys *k)
{
    free(k->s);
    free(k->len);
}

/* Every entry can be reached from its home slot without passing an empty
 * slot, and count matches the occupied slots: what backward-shift deletion
 * must preserve. */
static void check_invariant(const struct idtable *t)
{
    size_t cap = t->mask + 1, used = 0;
    REQUIRE((cap & t->mask) == 0); /* a power of two */
    for (size_t j = 0; j < cap; j++) {
        const struct idt_slot *s = &t->slots[j];
        if (s->hash == 0) {
            REQUIRE(s->val == NULL);
            continue;
        }
        used++;
        REQUIRE(s->hash == idt_hash(t, s->key, s->key_len));
        for (size_t i = (size_t)s->hash & t->mask; i != j;
             i = (i + 1) & t->mask)
            REQUIRE_MSG(t->slots[i].hash != 0,
                        "slot %zu empty between home and %zu", i, j);
    }
    REQUIRE(used == t->count);
    REQUIRE((t->count * 4) <= (cap * 3));
}

START_TEST(test_basic)
{
    struct idtable t;
    int a = 1, b = 2, c = 3;

    ck_assert_int_eq(idt_init(&t, seed_a), 0);
    ck_assert_uint_eq(t.count, 0);
    ck_assert_ptr_null(idt_get(&t, "alice", 5));
    ck_assert_ptr_null(idt_del(&t, "alice", 5));
    ck_assert_uint_eq(t.count, 0);

    ck_assert_int_eq(idt_put(&t, "alice", 5, &a), 0);
    ck_assert_int_eq(idt_put(&t, "bob", 3, &b), 0);
    ck_assert_uint_eq(t.count, 2);
    ck_assert_ptr_eq(idt_get(&t, "alice", 5), &a);
    ck_assert_ptr_eq(idt_get(&t, "bob", 3), &b);
    ck_assert_ptr_null(idt_get(&t, "carol", 5));
    ck_assert_ptr_null(idt_get(&t, "Alice", 5)); /* case-sensitive */
    ck_assert_ptr_null(idt_get(&t, "alic", 4));
    ck_assert_ptr_null(idt_get(&t, "alicea", 6));

    /* The key is compared by content, not by pointer. */
    char copy[8] = "alice";
    ck_assert_ptr_eq(idt_get(&t, copy, 5), &a);

    ck_assert_ptr_null(idt_del(&t, "carol", 5));
    ck_assert_uint_eq(t.count, 2);
    ck_assert_ptr_eq(idt_del(&t, "alice", 5), &a);
    ck_assert_uint_eq(t.count, 1);
    ck_assert_ptr_null(idt_get(&t, "alice", 5));
    ck_assert_ptr_null(idt_del(&t, "alice", 5));
    ck_assert_ptr_eq(idt_get(&t, "bob", 3), &b);

    /* Put again after delete, with another value. */
    ck_assert_int_eq(idt_put(&t, "alice", 5, &c), 0);
    ck_assert_ptr_eq(idt_get(&t, "alice", 5), &c);
    ck_assert_uint_eq(t.count, 2);
    check_invariant(&t);

    idt_free(&t);
    ck_assert_ptr_null(t.slots);
    ck_assert_uint_eq(t.count, 0);
}
END_TEST

START_TEST(test_prefix_keys)
{
    /* Keys that differ only in length, and a key of every length 1..64. */
    static const char text[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                               "VWXYZ0123456789._";
    int vals[64];
    struct idtable t;

    ck_assert_uint_ge(sizeof text - 1, 64);
    for (int pass = 0; pass < 2; pass++) {
        ck_assert_int_eq(idt_init(&t, pass ? seed_b : NULL), 0);
        for (size_t n = 1; n <= 64; n++)
            ck_assert_int_eq(idt_put(&t, text, n, &vals[n - 1]), 0);
        ck_assert_uint_eq(t.count, 64);
        for (size_t n = 1; n <= 64; n++)
            ck_assert_ptr_eq(idt_get(&t, text, n), &vals[n - 1]);
        ck_assert_ptr_null(idt_get(&t, text, 65));
        ck_assert_ptr_null(idt_get(&t, "", 0));
        /* Remove the odd lengths; the even ones stay. */
        for (size_t n = 1; n <= 64; n += 2)
            ck_assert_ptr_eq(idt_del(&t, text, n), &vals[n - 1]);
        for (size_t n = 1; n <= 64; n++)
            ck_assert_ptr_eq(idt_get(&t, text, n), n % 2 ? NULL : &vals[n - 1]);
        ck_assert_uint_eq(t.count, 32);
        check_invariant(&t);
        idt_free(&t);
    }

    /* "a", "ab", "abc" and a key with an embedded NUL. */
    int x = 1, y = 2, z = 3, w = 4;
    ck_assert_int_eq(idt_init(&t, seed_a), 0);
    ck_assert_int_eq(idt_put(&t, "ab", 2, &y), 0);
    ck_assert_ptr_null(idt_get(&t, "a", 1));
    ck_assert_ptr_null(idt_get(&t, "abc", 3));
    ck_assert_int_eq(idt_put(&t, "a", 1, &x), 0);
    ck_assert_int_eq(idt_put(&t, "abc", 3, &z), 0);
    ck_assert_int_eq(idt_put(&t, "a\0b", 3, &w), 0);
    ck_assert_ptr_eq(idt_get(&t, "a", 1), &x);
    ck_assert_ptr_eq(idt_get(&t, "ab", 2), &y);
    ck_assert_ptr_eq(idt_get(&t, "abc", 3), &z);
    ck_assert_ptr_eq(idt_get(&t, "a\0b", 3), &w);
    ck_assert_ptr_null(idt_get(&t, "a\0", 2));
    ck_assert_ptr_eq(idt_del(&t, "ab", 2), &y);
    ck_assert_ptr_eq(idt_get(&t, "a", 1), &x);
    ck_assert_ptr_eq(idt_get(&t, "abc", 3), &z);
    ck_assert_uint_eq(t.count, 3);
    idt_free(&t);
}
END_TEST

START_TEST(test_growth)
{
    const size_t n = 200000;
    struct keys k;
    struct idtable t;

    make_keys(&k, n, "node-");
    for (int pass = 0; pass < 2; pass++) {
        REQUIRE(idt_init(&t, pass ? seed_a : NULL) == 0);
        size_t cap0 = t.mask + 1;
        for (size_t i = 0; i < n; i++) {
            REQUIRE(idt_put(&t, k.s[i], k.len[i], &k.len[i]) == 0);
            REQUIRE(t.count == (i + 1));
            /* Spot checks while growing: the first, the last, one between. */
            if ((i & (i + 1)) == 0 || i % 9973 == 0) {
                REQUIRE(idt_get(&t, k.s[0], k.len[0]) == &k.len[0]);
                REQUIRE(idt_get(&t, k.s[i], k.len[i]) == &k.len[i]);
                REQUIRE(idt_get(&t, k.s[i / 2], k.len[i / 2]) == &k.len[i / 2]);
            }
        }
        /* Many doublings. */
        REQUIRE((t.mask + 1) >= (cap0 << 10));
        REQUIRE((t.count * 4) <= ((t.mask + 1) * 3));
        for (size_t i = 0; i < n; i++)
            REQUIRE(idt_get(&t, k.s[i], k.len[i]) == &k.len[i]);
        REQUIRE(idt_get(&t, "node-200000", 11) == NULL);
        REQUIRE(idt_get(&t, "node-", 5) == NULL);
        check_invariant(&t);
        /* Delete every other key, then all; the rest stay found. */
        for (size_t i = 0; i < n; i += 2)
            REQUIRE(idt_del(&t, k.s[i], k.len[i]) == &k.len[i]);
        REQUIRE(t.count == (n / 2));
        check_invariant(&t);
        for (size_t i = 0; i < n; i++)
            REQUIRE(idt_get(&t, k.s[i], k.len[i]) ==
                    (i % 2 ? &k.len[i] : NULL));
        for (size_t i = 1; i < n; i += 2)
            REQUIRE(idt_del(&t, k.s[i], k.len[i]) == &k.len[i]);
        REQUIRE(t.count == 0);
        for (size_t j = 0; j <= t.mask; j++)
            REQUIRE(t.slots[j].hash == 0);
        idt_free(&t);
    }
    free_keys(&k);
}
END_TEST

/* Keys chosen so that many share a home slot in the initial 64-slot table,
 * some of them at the end so that runs wrap around; deleting in every
 * order exercises each case of the backward shift. */
START_TEST(test_collisions)
{
    struct keys k;
    struct idtable t;
    size_t pick[12], npick = 0;

    make_keys(&k, 20000, "c");
    REQUIRE(idt_init(&t, seed_b) == 0);
    size_t cap = t.mask + 1;
    /* Four keys whose home is 62, four with home 63, four with home 0. */
    static const size_t homes[3] = {62, 63, 0};
    for (int h = 0; h < 3; h++) {
        int got = 0;
        for (size_t i = 0; i < k.n && got < 4; i++) {
            if ((idt_hash(&t, k.s[i], k.len[i]) & (cap - 1)) == homes[h]) {
                pick[npick++] = i;
                got++;
            }
        }
        REQUIRE(got == 4);
    }
    /* Insert in a few orders and delete in many random orders. */
    rng_state = 42;
    for (int round = 0; round < 2000; round++) {
        size_t order[12];
        for (size_t i = 0; i < npick; i++)
            order[i] = pick[i];
        for (size_t i = npick - 1; i > 0; i--) {
            size_t j = (size_t)(rnd() % (i + 1));
            size_t tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        for (size_t i = 0; i < npick; i++)
            REQUIRE(idt_put(&t, k.s[order[i]], k.len[order[i]],
                            &k.len[order[i]]) == 0);
        REQUIRE((t.mask + 1) == cap); /* 12 keys: no growth */
        check_invariant(&t);
        for (size_t i = npick - 1; i > 0; i--) {
            size_t j = (size_t)(rnd() % (i + 1));
            size_t tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        for (size_t i = 0; i < npick; i++) {
            REQUIRE(idt_del(&t, k.s[order[i]], k.len[order[i]]) ==
                    (&k.len[order[i]]));
            check_invariant(&t);
            for (size_t j = 0; j < npick; j++) {
                size_t key = order[j];
                REQUIRE(idt_get(&t, k.s[key], k.len[key]) ==
                        (j > i ? &k.len[key] : NULL));
            }
        }
        REQUIRE(t.count == 0);
    }
    idt_free(&t);
    free_keys(&k);
}
END_TEST

/* Random puts, deletes and gets against an array of flags. */
static void random_ops(const uint8_t *seed, uint64_t rseed)
{
    const size_t nkeys = 5000, nops = 300000;
    struct keys k;
    struct idtable t;
    unsigned char *in = calloc(nkeys, 1);
    size_t count = 0, maxcount = 0;

    REQUIRE(in != NULL);
    make_keys(&k, nkeys, "id.");
    REQUIRE(idt_init(&t, seed) == 0);
    rng_state = rseed;
    for (size_t op = 0; op < nops; op++) {
        uint64_t r = rnd();
        size_t i = (size_t)(r % nkeys);
        unsigned kind = (unsigned)(r >> 32) % 100;
        /* Phases that fill up and drain, so the table grows and empties
         * while staying busy. */
        unsigned put_pct = (op / 50000) % 2 ? 35 : 65;
        if (kind < put_pct) {
            if (in[i]) {
                REQUIRE(idt_get(&t, k.s[i], k.len[i]) == &k.len[i]);
                continue;
            }
            REQUIRE(idt_put(&t, k.s[i], k.len[i], &k.len[i]) == 0);
            in[i] = 1;
            count++;
        } else if (kind < 85) {
            void *v = idt_del(&t, k.s[i], k.len[i]);
            REQUIRE(v == (in[i] ? &k.len[i] : NULL));
            if (in[i])
                count--;
            in[i] = 0;
        } else {
            REQUIRE(idt_get(&t, k.s[i], k.len[i]) ==
                    (in[i] ? &k.len[i] : NULL));
        }
        REQUIRE(t.count == count);
        if (count > maxcount)
            maxcount = count;
        if (op % 25000 == 0) {
            check_invariant(&t);
            for (size_t j = 0; j < nkeys; j++)
                REQUIRE(idt_get(&t, k.s[j], k.len[j]) ==
                        (in[j] ? &k.len[j] : NULL));
        }
    }
    REQUIRE(maxcount > 1000); /* the table really grew */
    check_invariant(&t);
    for (size_t j = 0; j < nkeys; j++)
        REQUIRE(idt_get(&t, k.s[j], k.len[j]) == (in[j] ? &k.len[j] : NULL));
    idt_free(&t);
    free_keys(&k);
    free(in);
}

/* idt_next yields each value once, none after the end: in an empty table
 * (also one never initialised or already freed) and after growth and
 * deletions, which move entries between slots. */
START_TEST(test_walk)
{
    struct idtable t;
    static char keys[1000][16]; /* room for any int: the -O1 sanitizer build checks */
    static int seen[1000];
    size_t at = 0;
    ck_assert_int_eq(idt_init(&t, seed_a), 0);
    ck_assert_ptr_null(idt_next(&t, &at));
    for (int i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof keys[i], "n%d", i);
        REQUIRE(idt_put(&t, keys[i], strlen(keys[i]), keys[i]) == 0);
    }
    for (int i = 0; i < 1000; i += 3)
        REQUIRE(idt_del(&t, keys[i], strlen(keys[i])) == keys[i]);
    size_t n = 0;
    void *v;
    for (at = 0; (v = idt_next(&t, &at)) != NULL; n++) {
        int i = (int)(((char(*)[16])v) - keys);
        REQUIRE(i >= 0 && i < 1000 && i % 3 != 0 && !seen[i]);
        seen[i] = 1;
    }
    ck_assert_uint_eq(n, t.count);
    ck_assert_ptr_null(idt_next(&t, &at)); /* stays at the end */
    idt_free(&t);
    at = 0;
    ck_assert_ptr_null(idt_next(&t, &at));
}
END_TEST

START_TEST(test_random_seeded)
{
    random_ops(seed_a, 1);
}
END_TEST

START_TEST(test_random_null_seed)
{
    random_ops(NULL, 2);
}
END_TEST

START_TEST(test_hash_seeds)
{
    struct idtable t0, ta, tb, ta2;

    ck_assert_int_eq(idt_init(&t0, NULL), 0);
    ck_assert_int_eq(idt_init(&ta, seed_a), 0);
    ck_assert_int_eq(idt_init(&tb, seed_b), 0);
    ck_assert_int_eq(idt_init(&ta2, seed_a), 0);

    static const char *const ids[] = {
        "", "a", "alice", "bob", "node-12345", "exactly8", "seventeen-chars-x"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        size_t n = strlen(ids[i]);
        uint64_t h0 = idt_hash(&t0, ids[i], n);
        uint64_t ha = idt_hash(&ta, ids[i], n);
        uint64_t hb = idt_hash(&tb, ids[i], n);
        ck_assert_uint_ne(h0, 0);
        ck_assert_uint_ne(ha, 0);
        /* Another key: another hash; the same key: the same hash. */
        ck_assert_uint_ne(h0, ha);
        ck_assert_uint_ne(ha, hb);
        ck_assert_uint_ne(h0, hb);
        ck_assert_uint_eq(ha, idt_hash(&ta2, ids[i], n));
        ck_assert_uint_eq(ha, idt_hash(&ta, ids[i], n));
    }
    /* Prefixes and one-bit changes hash apart. */
    ck_assert_uint_ne(idt_hash(&ta, "ab", 2), idt_hash(&ta, "abc", 3));
    ck_assert_uint_ne(idt_hash(&ta, "a", 1), idt_hash(&ta, "a\0", 2));
    ck_assert_uint_ne(idt_hash(&ta, "", 0), idt_hash(&ta, "\0", 1));
    ck_assert_uint_ne(idt_hash(&ta, "abcdefgh", 8),
                      idt_hash(&ta, "abcdefgi", 8));

    /* Over many keys, different seeds give different home slots. */
    size_t same = 0;
    char key[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(key, sizeof key, "k%d", i);
        if ((idt_hash(&ta, key, (size_t)n) & 1023) ==
            (idt_hash(&tb, key, (size_t)n) & 1023))
            same++;
    }
    ck_assert_uint_lt(same, 20);

    /* The keyed hash is SipHash-1-3: with the all-zero key (the NULL seed)
     * it gives the published SipHash-1-3 values. */
    ck_assert_uint_eq(idt_hash(&t0, "", 0), 0xd1fba762150c532cu);
    ck_assert_uint_eq(idt_hash(&t0, "siphash", 7), 0x8264ceeccb16bcbeu);
    ck_assert_uint_eq(idt_hash(&t0, "digest-sip_hash", 15),
                      0xce31007e34130c0au);

    idt_free(&t0);
    idt_free(&ta);
    idt_free(&tb);
    idt_free(&ta2);
}
END_TEST

static Suite *idtable_suite(void)
{
    Suite *s = suite_create("idtable");

    TCase *tc = tcase_create("basic");
    tcase_add_test(tc, test_basic);
    tcase_add_test(tc, test_prefix_keys);
    tcase_add_test(tc, test_hash_seeds);
    tcase_add_test(tc, test_walk);
    suite_add_tcase(s, tc);

    tc = tcase_create("stress");
    tcase_add_test(tc, test_growth);
    tcase_add_test(tc, test_collisions);
    tcase_add_test(tc, test_random_seeded);
    tcase_add_test(tc, test_random_null_seed);
    tcase_set_timeout(tc, 600);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(idtable_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
