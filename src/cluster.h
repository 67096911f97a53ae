/* cluster.h: msgd's side of a cluster (msgd.conf's cluster group): one
 * node namespace over several instances, kept in a NATS key-value bucket,
 * and routing to nodes of other instances.  Everything here runs in the
 * loop; natslink.c does the talking to NATS.  Without libnats, or without
 * the cluster group, these are no-ops and msgd routes on its own.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_CLUSTER_H
#define MSGD_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct conn;
struct jsonw;

/* Other instances tracked at most (heard in heartbeats or named in the
 * directory).  Past it, a new one replaces one that holds no id, or is
 * refused: a flood of made-up incarnations cannot grow the table. */
#define CLUSTER_MAX_INSTANCES 256
/* One instance in msgctl cluster's reply: a name of 255 bytes may take 6
 * bytes each once escaped, plus the other keys. */
#define CLUSTER_INSTANCE_JSON_MAX (6 * 255 + 256)
/* The whole reply: this instance and every one tracked. */
#define CLUSTER_INSTANCES_JSON_MAX                                             \
    ((CLUSTER_MAX_INSTANCES + 1) * (CLUSTER_INSTANCE_JSON_MAX + 1) + 16)

/* One node of another instance, as list --cluster shows it. */
struct cluster_node {
    const char *id;
    const char *instance;
};

#ifdef HAVE_NATS
extern int cluster_enabled;

/* Starts the NATS threads; returns 0 or -1 with err.  default_name is the
 * instance's name when the configuration gives none. */
int cluster_start(const char *default_name, char *err, size_t errlen);
/* Tells the others this instance leaves (at the start of a stop). */
void cluster_leaving(void);
/* Finishes (bounded time) and joins the threads, after the loop. */
void cluster_stop(void);
/* Hands this pass's batches to the publisher; once per loop pass. */
void cluster_flush(void);

/* HELLO for an id that is free here (in c->id): reserves it
 * cluster-wide.  Returns
 * PERR_NONE with c paused until router_hello_done(); PERR_NONE with c not
 * paused when NATS is out of reach (register now, claim later); or the
 * error to refuse with. */
enum proto_err cluster_hello(struct conn *c);
/* A connection closes: frees its id cluster-wide, or forgets its pending
 * reservation.  Call through router_forget, which clears the key's
 * revision in c. */
void cluster_forget(struct conn *c);
/* SEND to an id that is not local: PERR_NONE when on its way to the
 * instance that has it, else PERR_UNKNOWN_NODE or PERR_CLUSTER_UNAVAILABLE. */
enum proto_err cluster_send(const char *to, size_t tolen, const char *hdr,
                            size_t hlen, const char *payload, size_t plen);
/* BCAST to the other instances: PERR_NONE or PERR_CLUSTER_UNAVAILABLE. */
enum proto_err cluster_bcast(const char *hdr, size_t hlen, const char *payload,
                             size_t plen);
/* Nodes of other instances, for WHO and list --cluster. */
size_t cluster_remote_count(void);
/* Calls fn for each node of another instance; stops when fn returns < 0.
 * The strings in *n are valid only during the call. */
void cluster_each_remote(int (*fn)(void *arg, const struct cluster_node *n),
                         void *arg);
/* msgctl kick of a node held elsewhere: forwards it to its instance, whose
 * name goes to *instance.  Returns PERR_NONE, PERR_UNKNOWN_NODE (no
 * instance that is up has it) or PERR_CLUSTER_UNAVAILABLE (NATS is out of
 * reach). */
enum proto_err cluster_kick(const char *id, const char *reason,
                            const char **instance);
const char *cluster_self_name(void);
/* msgctl stats: the cluster_* keys. */
void cluster_stats(struct jsonw *jw);
/* msgctl cluster: a JSON array of instances into buf; returns its length. */
size_t cluster_instances_json(char *buf, size_t cap);
#else
#define cluster_enabled 0
static inline int cluster_start(const char *default_name, char *err,
                                size_t errlen)
{
    (void)default_name, (void)err, (void)errlen;
    return 0;
}
static inline void cluster_leaving(void)
{
}
static inline void cluster_stop(void)
{
}
static inline void cluster_flush(void)
{
}
static inline enum proto_err cluster_hello(struct conn *c)
{
    (void)c;
    return PERR_NONE;
}
static inline void cluster_forget(struct conn *c)
{
    (void)c;
}
static inline enum proto_err cluster_send(const char *to, size_t tolen,
                                          const char *hdr, size_t hlen,
                                          const char *payload, size_t plen)
{
    (void)to, (void)tolen, (void)hdr, (void)hlen, (void)payload, (void)plen;
    return PERR_UNKNOWN_NODE;
}
static inline enum proto_err cluster_bcast(const char *hdr, size_t hlen,
                                           const char *payload, size_t plen)
{
    (void)hdr, (void)hlen, (void)payload, (void)plen;
    return PERR_NONE;
}
static inline size_t cluster_remote_count(void)
{
    return 0;
}
static inline void cluster_each_remote(int (*fn)(void *arg,
                                                 const struct cluster_node *n),
                                       void *arg)
{
    (void)fn, (void)arg;
}
static inline enum proto_err cluster_kick(const char *id, const char *reason,
                                          const char **instance)
{
    (void)id, (void)reason, (void)instance;
    return PERR_UNKNOWN_NODE;
}
static inline const char *cluster_self_name(void)
{
    return NULL;
}
static inline void cluster_stats(struct jsonw *jw)
{
    (void)jw;
}
static inline size_t cluster_instances_json(char *buf, size_t cap)
{
    (void)buf, (void)cap;
    return 0;
}
#endif

#endif
