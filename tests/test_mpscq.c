/* test_mpscq.c: Check unit tests for the lock-free queue (src/mpscq.h):
 * order, the empty-to-non-empty signal, and four producer threads racing
 * one consumer without losing, duplicating or reordering anything.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "mpscq.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>

struct item {
    struct mpsc_node node;
    int producer, seq;
};

START_TEST(fifo_and_empty_signal)
{
    struct mpscq q;
    struct item it[5];
    mpscq_init(&q);
    ck_assert_ptr_null(mpscq_take(&q));
    for (int i = 0; i < 5; i++) {
        it[i].seq = i;
        ck_assert_int_eq(mpscq_push(&q, &it[i].node), i == 0);
    }
    int want = 0;
    for (struct mpsc_node *n = mpscq_take(&q); n; n = n->next)
        ck_assert_int_eq(((struct item *)n)->seq, want++);
    ck_assert_int_eq(want, 5);
    ck_assert_ptr_null(mpscq_take(&q));
    ck_assert_int_eq(mpscq_push(&q, &it[0].node), 1);
}
END_TEST

#define PRODUCERS 4
#define PER 200000

static struct mpscq shared_q;

static void *produce(void *arg)
{
    int p = (int)(long)arg;
    for (int i = 0; i < PER; i++) {
        struct item *it = malloc(sizeof *it);
        it->producer = p;
        it->seq = i;
        mpscq_push(&shared_q, &it->node);
    }
    return NULL;
}

START_TEST(threads_lose_nothing)
{
    pthread_t t[PRODUCERS];
    int next[PRODUCERS] = {0};
    long total = 0;
    mpscq_init(&shared_q);
    for (long i = 0; i < PRODUCERS; i++)
        pthread_create(&t[i], NULL, produce, (void *)i);
    while (total < (long)PRODUCERS * PER) {
        struct mpsc_node *n = mpscq_take(&shared_q);
        while (n) {
            struct item *it = (struct item *)n;
            n = n->next;
            /* Each producer's items arrive in the order it pushed them. */
            ck_assert_int_eq(it->seq, next[it->producer]);
            next[it->producer]++;
            total++;
            free(it);
        }
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    ck_assert_ptr_null(mpscq_take(&shared_q));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mpscq");
    TCase *tc = tcase_create("mpscq");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fifo_and_empty_signal);
    tcase_add_test(tc, threads_lose_nothing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
