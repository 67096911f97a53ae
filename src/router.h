/* router.h: who is registered, and delivery: the id table, the list of
 * registered nodes in registration order, and the commands that use them.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_ROUTER_H
#define MSGD_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct conn;

int router_init(void);
void router_free(void);
size_t router_count(void);
/* The registered nodes in registration order: the first, then the next. */
struct conn *router_first(void);
struct conn *router_next(const struct conn *c);
struct conn *router_find(const char *id, size_t len);
/* Executes one parsed command from c.  Returns 1 when it is held, not
 * executed: a SEND to a receiver with no room (c is then blocked and runs
 * it again when resumed); else 0. */
int router_command(struct conn *c, const struct proto_cmd *cmd);
/* Ends a HELLO that waited for the cluster: registers c (its id already
 * in c->id) when err is PERR_NONE, else refuses with err. */
void router_hello_done(struct conn *c, enum proto_err err, uint64_t kv_rev);
/* Delivers one frame to every registered node but skip. */
void router_deliver_all(struct conn *skip, const char *hdr, size_t hlen,
                        const char *payload, size_t plen);
/* The cluster's key for c's id is claimed again (after a reconnect or a
 * stall) at revision rev. */
void router_key_claimed(struct conn *c, uint64_t rev);
/* The cluster's key for c's id is another instance's now: c goes (BYE
 * replaced), and the key, not ours, is not released. */
void router_key_lost(struct conn *c);
/* c gives up its id cluster-wide (it closes, or its HELLO failed): the key
 * is released, or the reservation under way forgotten. */
void router_forget(struct conn *c);
/* Removes c from the table (on close). */
void router_unregister(struct conn *c);
/* c takes old's place: its id, its place in the registration order, its
 * cluster key; old is left unregistered. */
void router_swap(struct conn *old, struct conn *c);

#endif
