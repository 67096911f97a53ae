/* harness.h: integration-test helpers: start the real msgd -f on a free
 * loopback port with a temporary configuration, talk to it over sockets,
 * and read its JSON logs.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_HARNESS_H
#define MSGD_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include <check.h>

struct msgd_proc {
    pid_t pid;
    int port;
    char dir[256];
    char conf[320];
    char server_log[320];
    char client_log[320];
    char pidfile[320];
    char admin_socket[320];
    int daemon; /* started in the background: not our child */
};

/* Starts $MSGD -f with a config holding listen 127.0.0.1:0 (unless extra
 * sets listen), logs and sockets in a fresh temp dir, plus the lines in
 * extra.  Waits for the start event and reads the bound port.  $MSGD_WRAPPER
 * (e.g. "valgrind -q --error-exitcode=99") prefixes the command. */
void msgd_start(struct msgd_proc *p, const char *extra);
/* As msgd_start, with the config msgd_write_conf wrote (and files the test
 * put beside it). */
void msgd_start_written(struct msgd_proc *p);
/* Writes the temp dir and config only (for tests that start msgd
 * themselves). */
void msgd_write_conf(struct msgd_proc *p, const char *extra);
/* Starts msgd in the background (no -f) with p's config; returns the
 * launcher's exit status, its output in out.  On success p->pid is the
 * daemon's pid (from the pidfile) and p->port its port. */
int msgd_start_daemon(struct msgd_proc *p, char *out, size_t outlen);
int msgd_alive(const struct msgd_proc *p);
/* The port of the i-th listener of the start event (0: none). */
int msgd_listen_port(const struct msgd_proc *p, int i);
/* SIGTERM and wait; returns the exit status (128+sig if killed). */
int msgd_stop(struct msgd_proc *p);
/* Runs $MSGD with argv (NULL-terminated, argv[0] ignored); captures
 * stdout+stderr into out; returns the exit status. */
int msgd_run(const char *const *argv, char *out, size_t outlen);
long msgd_rss_kb(const struct msgd_proc *p);
/* Runs argv[0] (searched in PATH) with argv; stdout+stderr into out. */
int prog_run(const char *const *argv, char *out, size_t outlen);
/* As prog_run, as another user (the caller must be root). */
int prog_run_as(uid_t uid, gid_t gid, const char *const *argv, char *out,
                size_t outlen);
const char *msgctl_path(void);
/* Runs the tests, each in a test case of its own with a timeout fit for
 * a daemon (longer under $MSGD_WRAPPER); returns main's exit status. */
int run_suite(const char *name, const TTest *const *tests, size_t n);
int msgd_under_wrapper(void);

/* A test client with its own read buffer. */
struct tc {
    int fd;
    size_t len;
    char buf[1 << 22];
};

struct tc *tc_open(int port);
struct tc *tc_open_addr(const char *host, int port);
struct tc *tc_hello(int port, const char *id); /* opens, HELLO, expects OK */
void tc_close(struct tc *c);
void tc_send(struct tc *c, const void *data, size_t n);
void tc_sendf(struct tc *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Next line without its LF; NULL on EOF or timeout (ms).  The pointer
 * stays valid until the next call on c. */
const char *tc_line(struct tc *c, int timeout_ms);
/* Asserts the next line equals want. */
void tc_expect(struct tc *c, const char *want);
/* Reads exactly n bytes; returns 0 or -1. */
int tc_read(struct tc *c, void *out, size_t n, int timeout_ms);
/* Expects a MSG header and payload. */
void tc_expect_msg(struct tc *c, const char *from, const char *to,
                   const void *payload, size_t n);
/* 1 if the server closed the connection (EOF) within timeout. */
int tc_eof(struct tc *c, int timeout_ms);
/* PING with a unique token and waits for its PONG; everything before it
 * must have been read by the caller (asserts the next line is the PONG). */
void tc_sync(struct tc *c);

/* Waits until a line of the JSON log has event=ev (any event when ev is
 * NULL) and, when key is given,
 * key=val (string) ; returns 1 if found within timeout. */
int log_wait(const char *path, const char *ev, const char *key, const char *val,
             int timeout_ms);
/* How many lines match (as log_wait). */
int log_count(const char *path, const char *ev, const char *key,
              const char *val);
/* The sum of the integer key num over the matching lines. */
long log_sum(const char *path, const char *ev, const char *key,
             const char *val, const char *num);
/* Asserts every line of the file is a JSON object with ts, level, event. */
void log_check_all(const char *path);
/* 1 if the file contains needle anywhere. */
int file_contains(const char *path, const char *needle);

#endif
