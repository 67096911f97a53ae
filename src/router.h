/* router.h: who is registered, and delivery: the id table, the list of
 * registered nodes in registration order, and the commands that use them. */
#ifndef MSGD_ROUTER_H
#define MSGD_ROUTER_H

#include <stddef.h>

#include "proto.h"

struct conn;

int router_init(void);
void router_free(void);
size_t router_count(void);
struct conn *router_first(void); /* registration order; then c->reg_next */
struct conn *router_find(const char *id, size_t len);
/* Executes one parsed command from c. */
void router_command(struct conn *c, const struct proto_cmd *cmd);
/* Removes c from the table (on close). */
void router_unregister(struct conn *c);

#endif
