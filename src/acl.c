/* acl.c: matching users, ids and targets against the acl rules.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "acl.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define USER_VAR "$user"

int acl_open(const struct acl *a)
{
    return !a->set;
}

/* Whether s[0..n) matches pattern p, with $user replaced by user (a
 * pattern naming $user matches nothing for an anonymous node). */
static int match(const char *p, const char *user, const char *s, size_t n)
{
    char pat[ACL_MAX_PATTERN + PROTO_MAX_ID * 4 + 1];
    char str[PROTO_MAX_ID + 2];
    size_t o = 0;
    if (n >= sizeof str)
        return 0;
    memcpy(str, s, n);
    str[n] = '\0';
    for (const char *q = p; *q;) {
        if (strncmp(q, USER_VAR, sizeof USER_VAR - 1) == 0) {
            if (user == NULL || *user == '\0')
                return 0;
            size_t ul = strlen(user);
            if (o + ul >= sizeof pat)
                return 0;
            memcpy(pat + o, user, ul); /* user names hold no glob bytes */
            o += ul;
            q += sizeof USER_VAR - 1;
        } else {
            if (o + 1 >= sizeof pat)
                return 0;
            pat[o++] = *q++;
        }
    }
    pat[o] = '\0';
    return fnmatch(pat, str, 0) == 0;
}

const struct acl_rule *acl_rule_for(const struct acl *a, const char *user)
{
    const char *u = user ? user : "";
    for (size_t i = 0; i < a->n; i++)
        if (match(a->rules[i].user, NULL, u, strlen(u)))
            return &a->rules[i];
    return NULL;
}

static int any(char *const *pats, size_t n, const char *user, const char *s,
               size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (match(pats[i], user, s, len))
            return 1;
    return 0;
}

int acl_may_register(const struct acl_rule *r, const char *user, const char *id,
                     size_t idlen)
{
    return r && any(r->ids, r->nids, user, id, idlen);
}

int acl_may_send(const struct acl_rule *r, const char *user, const char *target,
                 size_t len)
{
    return r && any(r->send, r->nsend, user, target, len);
}

int acl_may_bcast(const struct acl_rule *r)
{
    return r && r->bcast;
}

/* A pattern is made of id bytes, the glob bytes * ? [ ] ! ^, and $user;
 * a bracket expression is closed and not empty; a '#' may only begin a
 * target pattern (a group). */
const char *acl_pattern_error(const char *p, int group_ok)
{
    size_t n = strlen(p);
    if (n == 0)
        return "is empty";
    if (n > ACL_MAX_PATTERN)
        return "is longer than 128 bytes";
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '#' && i == 0 && group_ok)
            continue;
        if (ch == '$') {
            if (strncmp(p + i, USER_VAR, sizeof USER_VAR - 1) != 0)
                return "has a '$' that is not $user";
            i += sizeof USER_VAR - 2;
            continue;
        }
        if (ch == '[') {
            size_t j = i + 1;
            if (j < n && (p[j] == '!' || p[j] == '^'))
                j++;
            if (j < n && p[j] == ']')
                j++; /* a ']' first is a member */
            while (j < n && p[j] != ']') {
                if (!proto_valid_id(p + j, 1) && p[j] != '-')
                    return "has a byte in [...] that no id holds";
                j++;
            }
            if (j >= n)
                return "has a '[' without its ']'";
            if (j == i + 1)
                return "has an empty []";
            i = j;
            continue;
        }
        if (ch == '*' || ch == '?')
            continue;
        if (!proto_valid_id(p + i, 1))
            return "has a byte that is neither in ids nor a glob (* ? [...])";
    }
    return NULL;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void acl_free(struct acl *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->rules[i].user);
        free_list(a->rules[i].ids, a->rules[i].nids);
        free_list(a->rules[i].send, a->rules[i].nsend);
    }
    free(a->rules);
    *a = (struct acl){0};
}
