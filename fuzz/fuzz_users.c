/* fuzz_users.c: libFuzzer target for the users file parser: any bytes
 * either parse into a sorted table of valid entries, every one of which
 * users_find returns, or fail with a message that names a line.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    users_free(&u);
    return 0;
}
