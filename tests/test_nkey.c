/* test_nkey.c: Check tests for nkey.c against the user key pair of the
 * NATS documentation (docs.nats.io, "NKeys": the seed SUACSSL3... and its
 * public key UDXU4RCS...), and seeds that must be refused.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "nkey.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define SEED "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY"
#define PUB "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"

START_TEST(known_pair)
{
    char pub[NKEY_PUBLIC_LEN + 1];
    ck_assert_int_eq(nkey_public_from_seed(SEED, strlen(SEED), pub), 0);
    ck_assert_str_eq(pub, PUB);
    /* As a seed file holds it: a trailing newline, or blanks around. */
    ck_assert_int_eq(nkey_public_from_seed(SEED "\n", strlen(SEED) + 1, pub),
                     0);
    ck_assert_str_eq(pub, PUB);
    ck_assert_int_eq(
        nkey_public_from_seed("  " SEED " \r\n", strlen(SEED) + 5, pub), 0);
    ck_assert_str_eq(pub, PUB);
}
END_TEST

static const char *const bad[] = {
    "",
    "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3V",   /* short */
    "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VYA", /* long */
    "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3XX",  /* sum */
    "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3V1",  /* base32 */
    "suacssl3uahudxkfsnvuzrf5uhpmwz6bfdtj7m6usdxiednppqyyycu3vy",  /* case */
    PUB "AB", /* a public key, of a seed's length */
};

START_TEST(refused)
{
    char pub[NKEY_PUBLIC_LEN + 1] = "";
    ck_assert_int_eq(nkey_public_from_seed(bad[_i], strlen(bad[_i]), pub), -1);
    ck_assert_str_eq(pub, "");
}
END_TEST

/* An account's seed (SA..., as an auth callout's example carries it) is
 * not a user's: the server would want a U... key. */
START_TEST(not_a_user)
{
    static const char seed[] =
        "SAANDLKMXL6CUS3CP52WIXBEDN6YJ545GDKC65U5JZPPV6WH6ESWUA6YAI";
    char pub[NKEY_PUBLIC_LEN + 1];
    ck_assert_int_eq(nkey_public_from_seed(seed, strlen(seed), pub), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nkey");
    TCase *tc = tcase_create("nkey");
    tcase_add_test(tc, known_pair);
    tcase_add_loop_test(tc, refused, 0, sizeof bad / sizeof *bad);
    tcase_add_test(tc, not_a_user);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
