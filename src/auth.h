/* auth.h: authentication (msgd.conf(5), AUTHENTICATION): the users file in
 * force, and the workers that check password hashes off the event loop.
 * An AUTH pauses its connection (nothing more is read from it) until the
 * answer comes back through a queue and an eventfd, as a cluster HELLO
 * does.  Failures from one address are answered more and more slowly.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_AUTH_H
#define MSGD_AUTH_H

#include <stddef.h>

#include "config.h"

struct conn;

#define AUTH_MAX_SECRET 512
#define AUTH_WORKERS 2

/* Loads cfg's users file and starts the workers (when there is an auth
 * group); 0, or -1 with "PATH:LINE: what" in err. */
int auth_start(const struct config *cfg, char *err, size_t errlen);
/* msgd -t: the users file loads. */
int auth_check(const struct config *cfg, char *err, size_t errlen);
/* A reload: the auth group as it is now.  A users file that fails keeps
 * the old table (-1, err); users no longer in it are disconnected with
 * BYE kicked user removed. */
int auth_reload(const struct config *cfg, char *err, size_t errlen);
/* Stops the workers and frees everything (at exit). */
void auth_stop(void);
/* Whether the auth group is in force. */
int auth_enabled(void);
/* AUTH name secret from c (the secret is wiped where it lies). */
void auth_request(struct conn *c, const char *name, size_t nlen, char *secret,
                  size_t slen);
/* The user of a verified client certificate (its CN), for c. */
void auth_certificate(struct conn *c, const char *cn);
/* c is going: an AUTH of its being checked is dropped, unanswered. */
void auth_forget(struct conn *c);
/* Whether c may register now: with auth and without anonymous, only
 * after an AUTH (or a certificate). */
int auth_may_hello(const struct conn *c);

#endif
