/* fuzz_config.c: libFuzzer target for the configuration loader: any file
 * loads or is refused with a "FILE:..." message, and never leaks or
 * crashes; a loaded one holds values within the documented ranges.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/fuzz-config-%d.conf", (int)getpid());
    /* @include would read other files; keep the input self-contained. */
    if (memmem(data, size, "@include", 8))
        return 0;
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    struct config cfg;
    char err[CONFIG_ERR_MAX];
    config_defaults(&cfg);
    if (config_load(&cfg, path, err, sizeof err) < 0) {
        if (strncmp(err, path, strlen(path)) != 0)
            abort(); /* every error names the file */
    } else if (cfg.n_listen < 1 || cfg.max_nodes < 1 ||
               cfg.max_output_buffer < cfg.max_message_size + 256 ||
               cfg.idle_timeout < 0 || cfg.admin_socket_mode > 0777) {
        abort();
    }
    config_free(&cfg);
    return 0;
}
