/* auth.c: AUTH, checked off the loop (see auth.h).
 *
 * A job carries a copy of the name, the hash and the secret to a worker
 * thread, which runs crypto_pwhash_str_verify, wipes the secret and hands
 * the job back through an mpsc queue and an eventfd.  The loop owns every
 * other field of a job; a worker touches only the copies and the answer.
 * An unknown user is checked against a hash made at start, so that the
 * answer takes as long as for a known one.  At most MAX_WORKING jobs are
 * with the workers; more wait in the loop, one per connection at most
 * (a connection is paused while its AUTH is checked).
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "auth.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "clientlog.h"
#include "conn.h"
#include "log.h"
#include "mpscq.h"
#include "peers.h"
#include "server.h"
#include "users.h"

#define MAX_WORKING 256
#define WORKER_NICE 10

enum job_stage { JOB_WAITING, JOB_WORKING, JOB_DELAYED };

struct auth_job {
    struct mpsc_node node; /* first: the result queue hands it back */
    struct auth_job *next; /* the workers' queue, or the loop's backlog */
    struct conn *c;        /* NULL once the connection went */
    struct timer timer;    /* the failure delay */
    enum job_stage stage;
    int known; /* the user exists */
    int ok;    /* the worker's answer */
    int64_t delay_ms;
    char name[USERS_MAX_NAME + 1];
    char hash[USERS_MAX_HASH + 1];
    size_t secret_len;
    char secret[AUTH_MAX_SECRET];
};

static struct users users;
static int enabled;
static char dummy_hash[crypto_pwhash_STRBYTES];

/* The workers' side. */
static pthread_t workers[AUTH_WORKERS];
static int nworkers;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static struct auth_job *todo_head, *todo_tail; /* under lock */
static int stopping;                           /* under lock */
static struct mpscq results;
static struct ev result_ev = {.fd = -1};

/* The loop's side. */
static size_t working; /* jobs with the workers or in results */
static struct auth_job *backlog_head, *backlog_tail;

static void job_free(struct auth_job *j)
{
    sodium_memzero(j->secret, sizeof j->secret);
    free(j);
}

static void *worker(void *arg)
{
    (void)arg;
    /* Hashing yields to the loop when they share a CPU: a flood of AUTHs
     * waits longer rather than slowing everyone's routing. */
    (void)!setpriority(PRIO_PROCESS, (id_t)gettid(), WORKER_NICE);
    for (;;) {
        pthread_mutex_lock(&lock);
        while (todo_head == NULL && !stopping)
            pthread_cond_wait(&more, &lock);
        if (stopping) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        struct auth_job *j = todo_head;
        todo_head = j->next;
        if (todo_head == NULL)
            todo_tail = NULL;
        pthread_mutex_unlock(&lock);

        j->ok =
            crypto_pwhash_str_verify(j->hash, j->secret, j->secret_len) == 0 &&
            j->known;
        sodium_memzero(j->secret, sizeof j->secret);
        if (mpscq_push(&results, &j->node)) {
            uint64_t one = 1;
            (void)!write(result_ev.fd, &one, sizeof one);
        }
    }
}

static void to_workers(struct auth_job *j)
{
    j->stage = JOB_WORKING;
    j->next = NULL;
    working++;
    pthread_mutex_lock(&lock);
    if (todo_tail)
        todo_tail->next = j;
    else
        todo_head = j;
    todo_tail = j;
    pthread_cond_signal(&more);
    pthread_mutex_unlock(&lock);
}

static void submit(struct auth_job *j)
{
    if (working < MAX_WORKING) {
        to_workers(j);
        return;
    }
    j->stage = JOB_WAITING;
    j->next = NULL;
    if (backlog_tail)
        backlog_tail->next = j;
    else
        backlog_head = j;
    backlog_tail = j;
}

/* Hands waiting jobs to the workers as room frees; those whose
 * connection went are dropped unchecked. */
static void drain_backlog(void)
{
    while (backlog_head && working < MAX_WORKING) {
        struct auth_job *j = backlog_head;
        backlog_head = j->next;
        if (backlog_head == NULL)
            backlog_tail = NULL;
        if (j->c == NULL)
            job_free(j);
        else
            to_workers(j);
    }
}

static void log_auth(const struct conn *c, const char *user,
                     const char *outcome, const char *method,
                     const char *reason, int64_t delay_ms)
{
    struct jsonw *jw = clientlog_begin(c->addr, LOG_LVL_INFO, CL_AUTH);
    if (jw == NULL)
        return;
    jw_str(jw, "user", user);
    jw_str(jw, "outcome", outcome);
    jw_str(jw, "method", method);
    if (reason)
        jw_str(jw, "reason", reason);
    if (delay_ms > 0)
        jw_int(jw, "delay_ms", delay_ms);
    if (c->peer && c->peer->failures)
        jw_uint(jw, "address_failures", c->peer->failures);
    log_commit(jw);
}

/* The answer to a failed AUTH, after its delay. */
static void answer_failure(struct auth_job *j)
{
    struct conn *c = j->c;
    c->sec->job = NULL;
    c->sec->failures++;
    log_auth(c, j->name, "failed", "password",
             j->known ? "wrong password" : "no such user", j->delay_ms);
    job_free(j);
    if (c->sec->failures >= (uint64_t)srv.cfg.auth.max_failures) {
        conn_close(c, CR_AUTH_FAILED, NULL);
        return;
    }
    conn_err(c, PERR_AUTH_FAILED, NULL, 0);
    conn_resume(c);
}

static void on_delay(struct timer *t)
{
    struct auth_job *j =
        (struct auth_job *)((char *)t - offsetof(struct auth_job, timer));
    answer_failure(j);
}

static void answer(struct auth_job *j)
{
    struct conn *c = j->c;
    if (!j->ok) {
        j->delay_ms = peers_failed(c->peer, srv.now_ms);
        if (j->delay_ms > 0) {
            j->stage = JOB_DELAYED;
            j->timer.fn = on_delay;
            server_arm(&j->timer, srv.now_ms + j->delay_ms);
            return;
        }
        answer_failure(j);
        return;
    }
    c->sec->job = NULL;
    char *user = strdup(j->name);
    if (user == NULL) {
        job_free(j);
        conn_close(c, CR_ERROR, NULL);
        return;
    }
    free(c->sec->user);
    c->sec->user = user;
    c->sec->by_cert = 0;
    peers_succeeded(c->peer);
    log_auth(c, user, "ok", "password", NULL, 0);
    job_free(j);
    char line[16 + USERS_MAX_NAME];
    int n = snprintf(line, sizeof line, "OK auth %s\n", user);
    conn_send(c, line, (size_t)n);
    conn_resume(c);
}

static void on_results(struct ev *ev, uint32_t events)
{
    uint64_t count;
    (void)events;
    (void)!read(ev->fd, &count, sizeof count);
    for (struct mpsc_node *n = mpscq_take(&results), *next; n; n = next) {
        next = n->next;
        struct auth_job *j = (struct auth_job *)n;
        working--;
        if (j->c == NULL)
            job_free(j);
        else
            answer(j);
    }
    drain_backlog();
}

/* The cost of the file's first hash ("$argon2id$v=19$m=KIB,t=OPS,p=1$"),
 * so that an unknown user costs what a known one does; libsodium's
 * interactive cost when there is none. */
static void dummy_cost(const struct users *u, unsigned long long *ops,
                       size_t *mem)
{
    unsigned long m, t;
    *ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    *mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    if (u->n &&
        sscanf(u->v[0].hash, "$argon2id$v=%*u$m=%lu,t=%lu", &m, &t) == 2 &&
        m >= 8 && m <= (1ul << 22) && t >= 1 && t <= 16) {
        *ops = t;
        *mem = (size_t)m * 1024;
    }
}

static int start_workers(const struct users *u, char *err, size_t errlen)
{
    if (nworkers > 0)
        return 0;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "auth: libsodium cannot start");
        return -1;
    }
    /* Unknown users are checked against this, at the same cost. */
    char pw[32];
    unsigned long long ops;
    size_t mem;
    dummy_cost(u, &ops, &mem);
    randombytes_buf(pw, sizeof pw);
    if (crypto_pwhash_str(dummy_hash, pw, sizeof pw, ops, mem) != 0) {
        snprintf(err, errlen, "auth: out of memory hashing");
        return -1;
    }
    sodium_memzero(pw, sizeof pw);
    mpscq_init(&results);
    result_ev.cb = on_results;
    result_ev.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (result_ev.fd < 0 || ev_add(&result_ev, EPOLLIN) < 0) {
        snprintf(err, errlen, "auth: eventfd: %s", strerror(errno));
        return -1;
    }
    /* The workers take no signal: the loop's signalfd has them all. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int i = 0; i < AUTH_WORKERS; i++) {
        int rc = pthread_create(&workers[i], NULL, worker, NULL);
        if (rc != 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            snprintf(err, errlen, "auth: cannot start a worker: %s",
                     strerror(rc));
            return -1;
        }
        nworkers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}

int auth_check(const struct config *cfg, char *err, size_t errlen)
{
    struct users u;
    if (!cfg->auth.enabled)
        return 0;
    if (users_load(cfg->auth.users_file, &u, err, errlen) < 0)
        return -1;
    users_free(&u);
    return 0;
}

int auth_start(const struct config *cfg, char *err, size_t errlen)
{
    if (!cfg->auth.enabled)
        return 0;
    if (users_load(cfg->auth.users_file, &users, err, errlen) < 0 ||
        start_workers(&users, err, errlen) < 0)
        return -1;
    enabled = 1;
    return 0;
}

int auth_enabled(void)
{
    return enabled;
}

/* Users that are gone from the file lose their connections. */
static void drop_removed(void)
{
    struct conn *c, *next;
    for (c = LIST_FIRST(&srv.all); c; c = next) {
        next = LIST_NEXT(c, all_link);
        const char *u = conn_user(c);
        if ((c->state == CONN_OPEN || c->state == CONN_HELD) && u &&
            !c->sec->by_cert &&
            (!enabled || users_find(&users, u) == NULL))
            conn_close(c, CR_KICKED, "user removed");
    }
}

int auth_reload(const struct config *cfg, char *err, size_t errlen)
{
    if (!cfg->auth.enabled) {
        users_free(&users);
        enabled = 0;
        drop_removed();
        return 0;
    }
    struct users fresh;
    if (users_load(cfg->auth.users_file, &fresh, err, errlen) < 0)
        return -1;
    if (start_workers(&fresh, err, errlen) < 0) {
        users_free(&fresh);
        return -1;
    }
    users_free(&users);
    users = fresh;
    enabled = 1;
    drop_removed();
    return 0;
}

void auth_stop(void)
{
    if (nworkers > 0) {
        pthread_mutex_lock(&lock);
        stopping = 1;
        pthread_cond_broadcast(&more);
        pthread_mutex_unlock(&lock);
        for (int i = 0; i < nworkers; i++)
            pthread_join(workers[i], NULL);
        nworkers = 0;
    }
    /* What the workers had not taken, or handed back unread. */
    while (todo_head) {
        struct auth_job *j = todo_head;
        todo_head = j->next;
        job_free(j);
    }
    todo_tail = NULL;
    while (backlog_head) {
        struct auth_job *j = backlog_head;
        backlog_head = j->next;
        job_free(j);
    }
    backlog_tail = NULL;
    for (struct mpsc_node *n = mpscq_take(&results), *next; n; n = next) {
        next = n->next;
        job_free((struct auth_job *)n);
    }
    if (result_ev.fd >= 0) {
        close(result_ev.fd);
        result_ev.fd = -1;
    }
    users_free(&users);
    enabled = 0;
}

void auth_request(struct conn *c, const char *name, size_t nlen, char *secret,
                  size_t slen)
{
    struct conn_sec *s = conn_sec(c);
    struct auth_job *j = s ? calloc(1, sizeof *j) : NULL;
    if (j == NULL || slen > AUTH_MAX_SECRET || nlen > USERS_MAX_NAME) {
        sodium_memzero(secret, slen);
        free(j);
        if (s)
            conn_err(c, PERR_AUTH_FAILED, NULL, 0);
        return;
    }
    memcpy(j->name, name, nlen);
    j->name[nlen] = '\0';
    const struct users_entry *e =
        users_valid_name(j->name) ? users_find(&users, j->name) : NULL;
    j->known = e != NULL;
    snprintf(j->hash, sizeof j->hash, "%s", e ? e->hash : dummy_hash);
    memcpy(j->secret, secret, slen);
    j->secret_len = slen;
    sodium_memzero(secret, slen); /* where the line was read */
    j->c = c;
    s->job = j;
    conn_pause(c);
    submit(j);
}

void auth_certificate(struct conn *c, const char *cn)
{
    struct conn_sec *s = conn_sec(c);
    char *user = s ? strdup(cn) : NULL;
    if (user == NULL)
        return;
    free(s->user);
    s->user = user;
    s->by_cert = 1;
    log_auth(c, user, "ok", "certificate", NULL, 0);
}

void auth_forget(struct conn *c)
{
    struct auth_job *j = c->sec ? c->sec->job : NULL;
    if (j == NULL)
        return;
    c->sec->job = NULL;
    j->c = NULL;
    if (j->stage == JOB_DELAYED) {
        server_disarm(&j->timer);
        job_free(j);
    }
    /* A waiting or working job is freed when it comes back. */
}

int auth_may_hello(const struct conn *c)
{
    return !enabled || srv.cfg.auth.anonymous || conn_user(c) != NULL;
}
