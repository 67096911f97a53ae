/* test_users.c: Check unit tests of the users file parser and editor
 * (users.c).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "users.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define H1 "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
#define H2 "$argon2id$v=19$m=65536,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNo"

static int parse(const char *text, struct users *u, char *err)
{
    return users_parse(text, strlen(text), u, err, 256);
}

START_TEST(test_entries_comments_and_crlf)
{
    struct users u;
    char err[256];
    ck_assert_int_eq(parse("# users\n\nbob:" H2 "\r\nalice:" H1 "\n", &u, err),
                     0);
    ck_assert_uint_eq(u.n, 2);
    const struct users_entry *a = users_find(&u, "alice");
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->hash, H1);
    ck_assert_int_eq(a->line, 4);
    ck_assert_str_eq(users_find(&u, "bob")->hash, H2);
    ck_assert_ptr_null(users_find(&u, "carol"));
    ck_assert_ptr_null(users_find(&u, ""));
    users_free(&u);
    /* No final LF, and an empty file. */
    ck_assert_int_eq(parse("alice:" H1, &u, err), 0);
    ck_assert_uint_eq(u.n, 1);
    users_free(&u);
    ck_assert_int_eq(parse("", &u, err), 0);
    ck_assert_uint_eq(u.n, 0);
    ck_assert_ptr_null(users_find(&u, "alice"));
    users_free(&u);
}
END_TEST

START_TEST(test_bad_lines_name_their_line)
{
    struct {
        const char *text, *want;
    } cases[] = {
        {"alice:" H1 "\nbob\n", "2: not NAME:HASH"},
        {"al ice:" H1 "\n", "1: a user name is"},
        {":" H1 "\n", "1: a user name is"},
        {"alice:$2y$10$bcryptbcryptbcrypt\n", "1: the hash of alice is not"},
        {"alice:\n", "1: the hash of alice is not"},
        {"alice:" H1 "\n#\nalice:" H2 "\n", "3: user alice is there twice"},
        {"alice:" H1 " trailing\n", "1: the hash of alice is not"},
        {"alice:" H1 "\nbob:x\0y\n", "2: a NUL byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct users u;
        char err[256] = "";
        size_t len = strlen(cases[i].text);
        if (strstr(cases[i].want, "NUL"))
            len += 3; /* past the NUL */
        ck_assert_int_eq(users_parse(cases[i].text, len, &u, err, sizeof err),
                         -1);
        ck_assert_msg(strncmp(err, cases[i].want, strlen(cases[i].want)) == 0,
                      "case %zu: %s", i, err);
        ck_assert_uint_eq(u.n, 0);
        ck_assert_ptr_null(u.v);
    }
}
END_TEST

START_TEST(test_limits)
{
    char name[USERS_MAX_NAME + 2];
    memset(name, 'a', sizeof name - 1);
    name[USERS_MAX_NAME] = '\0';
    ck_assert(users_valid_name(name));
    name[USERS_MAX_NAME] = 'a';
    name[USERS_MAX_NAME + 1] = '\0';
    ck_assert(!users_valid_name(name));
    ck_assert(users_valid_hash(H1));
    ck_assert(!users_valid_hash(USERS_HASH_PREFIX));
    char line[USERS_MAX_LINE + 64];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    struct users u;
    char err[256];
    ck_assert_int_eq(parse(line, &u, err), -1);
    ck_assert_msg(strstr(err, "longer than") != NULL, "%s", err);
}
END_TEST

START_TEST(test_load_says_path)
{
    char path[] = "/tmp/test-users-XXXXXX", err[512];
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char text[] = "alice:" H1 "\nbroken\n";
    ck_assert_int_eq(write(fd, text, sizeof text - 1),
                     (ssize_t)sizeof text - 1);
    close(fd);
    struct users u;
    ck_assert_int_eq(users_load(path, &u, err, sizeof err), -1);
    char want[600];
    snprintf(want, sizeof want, "%s:2: not NAME:HASH", path);
    ck_assert_str_eq(err, want);
    unlink(path);
    ck_assert_int_eq(users_load(path, &u, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "No such file") != NULL, "%s", err);
    ck_assert_int_eq(users_load("/tmp", &u, err, sizeof err), -1);
    ck_assert_str_eq(err, "/tmp: not a regular file");
}
END_TEST

/* users_edit's text, checked to parse back with the user in it or not. */
static char *edit(const char *text, const char *name, const char *hash,
                  int want_found)
{
    char *out, err[256];
    size_t len;
    struct users u;
    ck_assert_int_eq(users_edit(text, strlen(text), name, hash, &out, &len),
                     want_found);
    ck_assert_uint_eq(strlen(out), len);
    ck_assert_msg(users_parse(out, len, &u, err, sizeof err) == 0, "%s", err);
    const struct users_entry *e = users_find(&u, name);
    if (hash)
        ck_assert_str_eq(e->hash, hash);
    else
        ck_assert_ptr_null(e);
    users_free(&u);
    return out;
}

START_TEST(test_edit_keeps_the_rest)
{
    const char *text = "# users of msgd\n"
                       "bob:" H2 "\n"
                       "\n"
                       "# ops\n"
                       "alice:" H1 "\r\n"
                       "carol:" H2 "\n";
    /* A change edits the line in place, its CRLF kept. */
    char *out = edit(text, "alice", H2, 1);
    ck_assert_str_eq(out, "# users of msgd\n"
                          "bob:" H2 "\n"
                          "\n"
                          "# ops\n"
                          "alice:" H2 "\r\n"
                          "carol:" H2 "\n");
    free(out);
    /* A name that is a prefix of another's, or in a comment, is not it. */
    out = edit("alice2:" H1 "\n#al:x\n", "al", H2, 0);
    ck_assert_str_eq(out, "alice2:" H1 "\n#al:x\nal:" H2 "\n");
    free(out);
    /* A new user goes at the end, after the LF the text lacked. */
    out = edit("# only a comment", "dave", H1, 0);
    ck_assert_str_eq(out, "# only a comment\ndave:" H1 "\n");
    free(out);
    out = edit("", "dave", H1, 0);
    ck_assert_str_eq(out, "dave:" H1 "\n");
    free(out);
    /* A delete takes the line and its LF, nothing else. */
    out = edit(text, "bob", NULL, 1);
    ck_assert_str_eq(out, "# users of msgd\n"
                          "\n"
                          "# ops\n"
                          "alice:" H1 "\r\n"
                          "carol:" H2 "\n");
    free(out);
    out = edit("bob:" H2 "\ncarol:" H1, "carol", NULL, 1);
    ck_assert_str_eq(out, "bob:" H2 "\n");
    free(out);
    out = edit(text, "erin", NULL, 0);
    ck_assert_str_eq(out, text);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("users");
    TCase *tc = tcase_create("users");
    tcase_add_test(tc, test_entries_comments_and_crlf);
    tcase_add_test(tc, test_bad_lines_name_their_line);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_load_says_path);
    tcase_add_test(tc, test_edit_keeps_the_rest);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
