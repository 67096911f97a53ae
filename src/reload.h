/* reload.h: SIGHUP and SIGUSR1: re-reading the configuration file and
 * reopening the log files while the daemon runs. */
#ifndef MSGD_RELOAD_H
#define MSGD_RELOAD_H

/* The file to re-read; NULL or missing-at-default means built-in defaults. */
void reload_set_path(const char *path, int is_default);
/* Loads the file again and applies what can change at run time.  Returns 0,
 * or -1 with the FILE:LINE message (the running settings stay). */
int reload_config(void);
int reload_logs(void);

#endif
