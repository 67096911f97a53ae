/* test_acl.c: Check unit tests of the acl rules (acl.c): first match,
 * $user, groups, patterns refused.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "acl.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static char **list(const char *a, const char *b)
{
    char **v = calloc(2, sizeof *v);
    v[0] = strdup(a);
    if (b)
        v[1] = strdup(b);
    return v;
}

/* bot-* may register bot-* and send to ops-* and #alerts; anyone else
 * registers its own name and sends anywhere, and may BCAST. */
static void rules(struct acl *a)
{
    a->set = 1;
    a->n = 2;
    a->rules = calloc(2, sizeof *a->rules);
    a->rules[0] = (struct acl_rule){strdup("bot-*"),
                                    list("bot-*", NULL),
                                    1,
                                    list("ops-*", "#alerts"),
                                    2,
                                    0,
                                    1};
    a->rules[1] = (struct acl_rule){
        strdup("*"), list("$user", NULL), 1, list("*", NULL), 1, 1, 2};
}

static int may_send(const struct acl *a, const char *user, const char *to)
{
    return acl_may_send(acl_rule_for(a, user), user, to, strlen(to));
}

static int may_register(const struct acl *a, const char *user, const char *id)
{
    return acl_may_register(acl_rule_for(a, user), user, id, strlen(id));
}

START_TEST(test_first_match_wins)
{
    struct acl a = {0};
    rules(&a);
    ck_assert(!acl_open(&a));
    ck_assert_int_eq(acl_rule_for(&a, "bot-7")->line, 1);
    ck_assert_int_eq(acl_rule_for(&a, "alice")->line, 2);
    ck_assert(may_register(&a, "bot-7", "bot-9"));
    ck_assert(!may_register(&a, "bot-7", "alice"));
    ck_assert(may_send(&a, "bot-7", "ops-1"));
    ck_assert(may_send(&a, "bot-7", "#alerts"));
    ck_assert(!may_send(&a, "bot-7", "#other"));
    ck_assert(!may_send(&a, "bot-7", "alice"));
    ck_assert(!acl_may_bcast(acl_rule_for(&a, "bot-7")));
    ck_assert(acl_may_bcast(acl_rule_for(&a, "alice")));
    acl_free(&a);
}
END_TEST

START_TEST(test_user_variable)
{
    struct acl a = {0};
    rules(&a);
    ck_assert(may_register(&a, "alice", "alice"));
    ck_assert(!may_register(&a, "alice", "alice2"));
    ck_assert(!may_register(&a, "alice", "bob"));
    /* Anonymous: the empty name; $user matches nothing for it. */
    ck_assert_ptr_nonnull(acl_rule_for(&a, NULL));
    ck_assert(!may_register(&a, NULL, "guest"));
    ck_assert(!may_register(&a, "", ""));
    acl_free(&a);
}
END_TEST

START_TEST(test_no_rule_no_rights)
{
    struct acl a = {0};
    a.set = 1;
    ck_assert_ptr_null(acl_rule_for(&a, "alice"));
    ck_assert(!acl_may_register(NULL, "alice", "alice", 5));
    ck_assert(!acl_may_send(NULL, "alice", "bob", 3));
    ck_assert(!acl_may_bcast(NULL));
    struct acl none = {0};
    ck_assert(acl_open(&none));
}
END_TEST

START_TEST(test_patterns)
{
    ck_assert_ptr_null(acl_pattern_error("bot-*", 0));
    ck_assert_ptr_null(acl_pattern_error("[a-c]?x", 0));
    ck_assert_ptr_null(acl_pattern_error("[!a]", 0));
    ck_assert_ptr_null(acl_pattern_error("$user-*", 0));
    ck_assert_ptr_null(acl_pattern_error("#alerts", 1));
    ck_assert_ptr_nonnull(acl_pattern_error("#alerts", 0));
    ck_assert_ptr_nonnull(acl_pattern_error("bot-[a", 0));
    ck_assert_ptr_nonnull(acl_pattern_error("[]", 0));
    ck_assert_ptr_nonnull(acl_pattern_error("$usr", 0));
    ck_assert_ptr_nonnull(acl_pattern_error("a b", 0));
    ck_assert_ptr_nonnull(acl_pattern_error("", 0));
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    ck_assert_ptr_nonnull(acl_pattern_error(longp, 0));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("acl");
    TCase *tc = tcase_create("acl");
    tcase_add_test(tc, test_first_match_wins);
    tcase_add_test(tc, test_user_variable);
    tcase_add_test(tc, test_no_rule_no_rights);
    tcase_add_test(tc, test_patterns);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
