/* fuzz_admin.c: libFuzzer target for the admin request line: any bytes
 * parse or are refused with a code and a message, and whatever parses
 * holds only what the daemon is willing to act on.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct admin_req req;
    enum admin_status status = ADMIN_OK;
    char err[256];
    if (size > ADMIN_MAX_LINE)
        return 0;
    if (admin_parse((const char *)data, size, &req, &status, err, sizeof err) <
        0) {
        if (admin_status_code(status) == NULL || strlen(err) >= sizeof err)
            abort();
        return 0;
    }
    if (req.cmd == ADM_KICK) {
        if (!req.id[0] == !req.addr[0])
            abort();
        if (req.id[0] && !proto_valid_id(req.id, strlen(req.id)))
            abort();
        if (!admin_valid_reason(req.reason))
            abort(); /* it goes on a BYE line */
    }
    /* Whatever parsed must survive a round trip through the formatter. */
    char line[ADMIN_MAX_LINE * 3];
    const char *keys[] = {"reason"};
    const char *vals[] = {req.reason};
    if (req.cmd == ADM_KICK &&
        admin_format(line, sizeof line, "kick", keys, vals, 1) < 0)
        abort();
    return 0;
}
