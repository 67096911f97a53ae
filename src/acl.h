/* acl.h: the acl list of msgd.conf(5) (AUTHORIZATION): rules that say
 * which ids a user may register, whom it may send to and whether it may
 * broadcast.  Patterns are shell globs (fnmatch(3)); "$user" stands for
 * the authenticated user name.  Pure: no I/O.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_ACL_H
#define MSGD_ACL_H

#include <stddef.h>

#define ACL_MAX_PATTERN 128

struct acl_rule {
    char *user; /* pattern of the user names it is for */
    char **ids; /* patterns of the ids it may register */
    size_t nids;
    char **send; /* patterns of ids, or "#group" patterns, it may send to */
    size_t nsend;
    int bcast; /* may BCAST */
    int line;  /* in the configuration file */
};

struct acl {
    struct acl_rule *rules;
    size_t n;
    int set; /* an acl list was given (even an empty one) */
};

/* The rule for user (NULL or "" for an anonymous node), the first whose
 * user pattern matches; NULL when none does (the user may do nothing but
 * PING and QUIT).  Without an acl list, NULL too: see acl_open. */
const struct acl_rule *acl_rule_for(const struct acl *a, const char *user);
/* Whether the acl lets everything through (no acl list). */
int acl_open(const struct acl *a);
/* What a rule allows; r may be NULL (nothing).  target is an id or a
 * "#group". */
int acl_may_register(const struct acl_rule *r, const char *user, const char *id,
                     size_t idlen);
int acl_may_send(const struct acl_rule *r, const char *user, const char *target,
                 size_t len);
int acl_may_bcast(const struct acl_rule *r);
/* NULL when p is a pattern msgd can use, else what is wrong with it. */
const char *acl_pattern_error(const char *p, int group_ok);
void acl_free(struct acl *a);

#endif
