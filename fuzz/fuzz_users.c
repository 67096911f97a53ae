/* fuzz_users.c: libFuzzer target for the users file parser: any bytes
 * either parse into a sorted table of valid entries, every one of which
 * users_find returns, or fail with a message that names a line.  What
 * parses, users_edit (msgpasswd's editor) turns into a file that parses
 * again with one user changed, added or removed and the others kept.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "users.h"

#define HASH "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Edits u's text for name and checks the result against u. */
static void check_edit(const uint8_t *data, size_t size, const struct users *u,
                       const char *name, const char *hash)
{
    struct users v;
    char *out, err[256];
    size_t len;
    int had = users_find(u, name) != NULL;
    if (users_edit((const char *)data, size, name, hash, &out, &len) != had ||
        users_parse(out, len, &v, err, sizeof err) < 0)
        abort();
    if (v.n != u->n + (hash && !had) - (!hash && had))
        abort();
    const struct users_entry *e = users_find(&v, name);
    if (hash ? e == NULL || strcmp(e->hash, hash) != 0 : e != NULL)
        abort();
    for (size_t i = 0; i < u->n; i++) {
        e = users_find(&v, u->v[i].name);
        if (strcmp(u->v[i].name, name) != 0 &&
            (e == NULL || strcmp(e->hash, u->v[i].hash) != 0))
            abort();
    }
    users_free(&v);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct users u;
    char err[256];
    if (users_parse((const char *)data, size, &u, err, sizeof err) < 0) {
        if (u.n != 0 || u.v != NULL || strchr(err, ':') == NULL)
            abort();
        return 0;
    }
    for (size_t i = 0; i < u.n; i++) {
        if (!users_valid_name(u.v[i].name) || !users_valid_hash(u.v[i].hash))
            abort();
        if (i > 0 && strcmp(u.v[i - 1].name, u.v[i].name) >= 0)
            abort();
        if (users_find(&u, u.v[i].name) != &u.v[i])
            abort();
    }
    check_edit(data, size, &u, "fuzz-new", HASH);
    if (u.n > 0) {
        char name[USERS_MAX_NAME + 1];
        memcpy(name, u.v[u.n / 2].name, sizeof name);
        check_edit(data, size, &u, name, HASH);
        check_edit(data, size, &u, name, NULL);
    }
    users_free(&u);
    return 0;
}
