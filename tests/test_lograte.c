/* test_lograte.c: Check unit tests for the per-address log budgets
 * (src/lograte.c): burst then steady rate, addresses and events apart,
 * IPv6 by /64, counts handed back once and never lost when the table is
 * full, and a rate of 0 that never holds anything back.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "lograte.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct lograte lr;
static uint64_t emitted_lines;
static size_t emitted_calls;
static char last_addr[64];

static void emit(const uint8_t *key, size_t n, unsigned ev, uint32_t count,
                 void *arg)
{
    (void)ev;
    (void)arg;
    emitted_lines += count;
    emitted_calls++;
    lograte_key_text(key, n, last_addr, sizeof last_addr);
}

static int allow(const char *addr, unsigned ev, int64_t now_us)
{
    uint8_t key[LOGRATE_KEY_MAX];
    size_t n = lograte_key(addr, key);
    return lograte_allow(&lr, key, n, ev, now_us, emit, NULL);
}

static void setup(uint32_t rate)
{
    lograte_init(&lr, rate, 42);
    emitted_lines = 0;
    emitted_calls = 0;
}

START_TEST(test_burst_then_rate)
{
    setup(10);
    int64_t t = 1000000000;
    int ok = 0;
    for (int i = 0; i < 200; i++)
        ok += allow("10.0.0.1:1000", 0, t);
    ck_assert_int_eq(ok, 10 * LOGRATE_BURST_SECS);
    ck_assert_uint_eq(lr.suppressed, 200 - ok);
    /* A second later, ten more. */
    ok = 0;
    for (int i = 0; i < 50; i++)
        ok += allow("10.0.0.1:1001", 0, t + 1000000);
    ck_assert_int_eq(ok, 10);
    /* Over 60 s at 100 attempts a second: the steady rate, 10/s, plus the
     * budget left at the start (tat was 1.1 s behind the burst's edge). */
    ok = 0;
    for (int s = 2; s < 62; s++)
        for (int i = 0; i < 100; i++)
            ok += allow("10.0.0.1:9", 0, t + s * 1000000LL + i * 10000);
    ck_assert_int_ge(ok, 600);
    ck_assert_int_le(ok, 610);
}
END_TEST

START_TEST(test_apart_by_address_and_event)
{
    setup(1);
    int64_t t = 5000000;
    for (int i = 0; i < LOGRATE_BURST_SECS; i++)
        ck_assert(allow("10.0.0.1:1", 0, t));
    ck_assert(!allow("10.0.0.1:2", 0, t));
    ck_assert(allow("10.0.0.1:2", 1, t));   /* another event */
    ck_assert(allow("10.0.0.2:2", 0, t));   /* another address */
    ck_assert(allow("[::1]:2", 0, t));      /* another family */
}
END_TEST

START_TEST(test_ipv6_by_64)
{
    setup(1);
    int64_t t = 5000000;
    char addr[64];
    for (int i = 0; i < LOGRATE_BURST_SECS; i++) {
        snprintf(addr, sizeof addr, "[2001:db8:1:2::%x]:4000", i + 1);
        ck_assert(allow(addr, 0, t));
    }
    /* Any other host of the same /64 shares the spent budget... */
    ck_assert(!allow("[2001:db8:1:2:ffff::9]:1", 0, t));
    /* ...another /64 does not. */
    ck_assert(allow("[2001:db8:1:3::1]:1", 0, t));
    lograte_flush(&lr, emit, NULL);
    ck_assert_str_eq(last_addr, "2001:db8:1:2::/64");
}
END_TEST

START_TEST(test_keys)
{
    uint8_t k[LOGRATE_KEY_MAX];
    char text[64];
    size_t n = lograte_key("192.168.1.20:5555", k);
    lograte_key_text(k, n, text, sizeof text);
    ck_assert_str_eq(text, "192.168.1.20");
    n = lograte_key("unix", k);
    lograte_key_text(k, n, text, sizeof text);
    ck_assert_str_eq(text, "unix");
    /* Nonsense never overflows the key. */
    char junk[300];
    memset(junk, 'x', sizeof junk - 1);
    junk[sizeof junk - 1] = '\0';
    n = lograte_key(junk, k);
    ck_assert_uint_le(n, LOGRATE_KEY_MAX);
    ck_assert_uint_eq(lograte_key("", k), 1);
}
END_TEST

START_TEST(test_flush_once)
{
    setup(2);
    int64_t t = 7000000;
    for (int i = 0; i < 100; i++)
        allow("10.1.1.1:1", 3, t);
    uint64_t held = lr.suppressed;
    ck_assert_uint_eq(held, 100 - 2 * LOGRATE_BURST_SECS);
    ck_assert_uint_eq(lograte_flush(&lr, emit, NULL), 1);
    ck_assert_uint_eq(emitted_lines, held);
    ck_assert_str_eq(last_addr, "10.1.1.1");
    ck_assert_uint_eq(lograte_flush(&lr, emit, NULL), 0);
    ck_assert_uint_eq(emitted_lines, held);
}
END_TEST

/* Far more addresses than slots: memory stays the table, and every line
 * held back is still handed back, by eviction or by the flush. */
START_TEST(test_full_table_loses_no_count)
{
    setup(1);
    int64_t t = 9000000;
    char addr[64];
    for (int round = 0; round < 3; round++) {
        for (int a = 0; a < 20000; a++) {
            snprintf(addr, sizeof addr, "10.%d.%d.%d:1", round, a >> 8,
                     a & 0xff);
            for (int i = 0; i < LOGRATE_BURST_SECS + 2; i++)
                allow(addr, 0, t);
        }
    }
    lograte_flush(&lr, emit, NULL);
    ck_assert_uint_eq(lr.pending, 0);
    ck_assert_uint_eq(emitted_lines, lr.suppressed);
    ck_assert_uint_gt(lr.suppressed, 0);
}
END_TEST

START_TEST(test_rate_zero_never_holds)
{
    setup(0);
    for (int i = 0; i < 100000; i++)
        ck_assert(allow("10.0.0.1:1", 0, 1));
    ck_assert_uint_eq(lr.suppressed, 0);
    /* A reload that sets a rate starts budgets from there. */
    lograte_set_rate(&lr, 1);
    int ok = 0;
    for (int i = 0; i < 100; i++)
        ok += allow("10.0.0.1:1", 0, 2);
    ck_assert_int_eq(ok, LOGRATE_BURST_SECS);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lograte");
    TCase *tc = tcase_create("lograte");
    tcase_add_test(tc, test_burst_then_rate);
    tcase_add_test(tc, test_apart_by_address_and_event);
    tcase_add_test(tc, test_ipv6_by_64);
    tcase_add_test(tc, test_keys);
    tcase_add_test(tc, test_flush_once);
    tcase_add_test(tc, test_full_table_loses_no_count);
    tcase_add_test(tc, test_rate_zero_never_holds);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
