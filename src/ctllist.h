/* ctllist.h: the reply to the admin list command: a snapshot of the live
 * nodes (or of the recently closed ones) taken when the request comes, and
 * its rendering as a JSON array a batch of rows at a time, so that control.c
 * can pace a long list by how fast its client reads.  The snapshot copies
 * what it shows: a connection closed meanwhile is never walked.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#ifndef MSGD_CTLLIST_H
#define MSGD_CTLLIST_H

#include <stddef.h>

#include "admin.h"

struct ctl_row; /* one node of the snapshot: ctllist.c's own */

/* One client's list: all zero before ctl_list_take.  Its fields are
 * ctllist.c's; the caller only holds it. */
struct ctl_list {
    struct ctl_row *rows; /* NULL when nothing is left to render */
    size_t nrows, next_row;
    int closed; /* the rows are closed connections */
    /* The instance names the rows refer to, copied when the snapshot is
     * taken: an instance that goes meanwhile takes its name with it.  NULL
     * when the rows carry no "instance" (not in a cluster, closed rows). */
    char **inst_names;
    size_t ninst;
};

/* Where the rendering goes: n bytes of s, appended to the reply. */
typedef void ctl_list_put_fn(void *arg, const char *s, size_t n);

/* Takes the snapshot req (a list request) asks for into l, filtered,
 * sorted and cut to its limit.  Returns ADMIN_OK, or the status of the
 * refusal (ADMIN_E_NO_CLUSTER, ADMIN_E_NO_MEMORY) with l left empty. */
enum admin_status ctl_list_take(struct ctl_list *l,
                                const struct admin_req *req);
/* Renders up to max_rows (> 0) more rows of the array, its "[" before the
 * first and its "]" after the last, through put.  Returns 1 when the array
 * is complete (the snapshot is then freed), else 0. */
int ctl_list_render(struct ctl_list *l, size_t max_rows, ctl_list_put_fn *put,
                    void *arg);
/* Whether nothing is left to render: no snapshot taken, or all of it out. */
int ctl_list_done(const struct ctl_list *l);
/* Frees what is left of the snapshot; l is empty again. */
void ctl_list_free(struct ctl_list *l);

/* The admin address filter (list addr=, kick addr=): addr matches want
 * when it is want exactly ("host:port") or want is its host alone. */
int ctl_list_addr_matches(const char *addr, const char *want);

#endif
