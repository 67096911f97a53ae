/* natslink.c: libnats, driven from threads of its own.  Three threads
 * serve the loop: the publisher sends batches and heartbeats (never
 * waiting on a reply, so messages never queue behind a key-value request);
 * the worker does the key-value requests (reserve, release) and sets the
 * connection up after every (re)connect; the watcher forwards the id
 * directory's changes.  libnats' own threads run the subscription and
 * connection callbacks, which only copy what they get onto the loop's
 * queue.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include "natslink.h"

#include <errno.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "nkey.h"

/* Jobs only this module makes. */
#define NL_SETUP 200
#define NL_STOP 201
#define NL_CHECK_BUCKET 202

/* Inbound bytes not yet taken by the loop; past this, NATS' delivery
 * threads wait, and NATS' own per-subscription limits take over. */
#define INBOUND_LIMIT (64u << 20)
#define KV_WAIT_MS 2000
/* A token, password or seed file is one line; past this it is not one. */
#define SECRET_MAX 4096
#define SETUP_RETRY_MS 2000
/* How often the worker looks whether the bucket is still the one watched
 * (one stream info request), and at most that often whatever libnats
 * reports. */
#define CHECK_BUCKET_MS 2000

static struct {
    struct mpscq q_loop, q_work, q_pub;
    int efd_loop, efd_work, efd_pub;
    pthread_t worker, publisher, watcher;
    int have_watcher;
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
    kvWatcher *watch;
    natsSubscription *sub_data, *sub_hb;
    char *bucket, *data_subject, *hb_subject;
    int64_t bucket_created;    /* the bucket's stream, as watched; worker's */
    int64_t bucket_checked_ms; /* worker's */
    atomic_int ready;          /* set up: key-value requests may go */
    atomic_int stopping;
    _Atomic int64_t deadline_ms;
    _Atomic uint64_t pending, inbound, pub_failed;
} nl = {.efd_loop = -1, .efd_work = -1, .efd_pub = -1};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct nl_msg *nl_msg_new(enum nl_kind kind, const char *a, size_t alen,
                          const char *b, size_t blen, size_t cap)
{
    if (cap < blen)
        cap = blen;
    struct nl_msg *m = malloc(sizeof *m + alen + 1 + cap + 1);
    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof *m);
    m->kind = (uint8_t)kind;
    m->a = m->data;
    m->b = m->data + alen + 1;
    if (alen)
        memcpy(m->a, a, alen);
    m->a[alen] = '\0';
    if (blen)
        memcpy(m->b, b, blen);
    m->b[blen] = '\0';
    m->alen = alen;
    m->blen = blen;
    m->cap = cap;
    return m;
}

void nl_msg_free(struct nl_msg *m)
{
    if (m == NULL)
        return;
    if (m->kind == NL_DATA || m->kind == NL_HEARTBEAT)
        atomic_fetch_sub(&nl.inbound, m->blen);
    else if (m->kind == NL_PUBLISH)
        atomic_fetch_sub(&nl.pending, m->blen);
    free(m);
}

static void wake(int efd)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(efd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
}

static void push(struct mpscq *q, int efd, struct nl_msg *m)
{
    if (mpscq_push(q, &m->node))
        wake(efd);
}

static void post(enum nl_kind kind, const char *a, const char *b, size_t blen)
{
    struct nl_msg *m = nl_msg_new(kind, a, a ? strlen(a) : 0, b, blen, 0);
    if (m)
        push(&nl.q_loop, nl.efd_loop, m);
}

static void post_log(int level, const char *msg, natsStatus s)
{
    const char *detail = nats_GetLastError(NULL);
    if (detail == NULL || *detail == '\0')
        detail = natsStatus_GetText(s);
    struct nl_msg *m =
        nl_msg_new(NL_LOG, msg, strlen(msg), detail, strlen(detail), 0);
    if (m == NULL)
        return;
    m->status = (uint8_t)level;
    push(&nl.q_loop, nl.efd_loop, m);
}

void nl_submit(struct nl_msg *m)
{
    if (m->kind == NL_PUBLISH) {
        atomic_fetch_add(&nl.pending, m->blen);
        push(&nl.q_pub, nl.efd_pub, m);
    } else {
        push(&nl.q_work, nl.efd_work, m);
    }
}

struct nl_msg *nl_take(void)
{
    return (struct nl_msg *)mpscq_take(&nl.q_loop);
}

void nl_clear_wakeup(void)
{
    uint64_t v;
    while (read(nl.efd_loop, &v, sizeof v) < 0 && errno == EINTR)
        ;
}

uint64_t nl_pending_bytes(void)
{
    return atomic_load(&nl.pending);
}

uint64_t nl_publish_failures(void)
{
    return atomic_load(&nl.pub_failed);
}

/* ---- callbacks, on libnats' threads ---- */

static void on_inbound(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
                       void *closure)
{
    (void)nc, (void)sub;
    enum nl_kind kind = (enum nl_kind)(intptr_t)closure;
    int len = natsMsg_GetDataLength(msg);
    while (atomic_load(&nl.inbound) > INBOUND_LIMIT &&
           !atomic_load(&nl.stopping)) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    struct nl_msg *m =
        nl_msg_new(kind, NULL, 0, natsMsg_GetData(msg), (size_t)len, 0);
    natsMsg_Destroy(msg);
    if (m == NULL)
        return;
    atomic_fetch_add(&nl.inbound, m->blen);
    push(&nl.q_loop, nl.efd_loop, m);
}

static void ask_setup(void)
{
    struct nl_msg *m = nl_msg_new(NL_SETUP, NULL, 0, NULL, 0, 0);
    if (m)
        push(&nl.q_work, nl.efd_work, m);
}

static void on_connected(natsConnection *nc, void *closure)
{
    (void)nc, (void)closure;
    ask_setup();
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc, (void)closure;
    atomic_store(&nl.ready, 0);
    post(NL_DOWN, "disconnected", NULL, 0);
}

static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc, (void)closure;
    atomic_store(&nl.ready, 0);
    if (!atomic_load(&nl.stopping))
        post(NL_DOWN, "closed", NULL, 0);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
                     void *closure)
{
    (void)nc, (void)closure;
    post_log(LOG_LVL_WARN, "NATS reports an error", err);
    /* The watch's consumer may be failing because the bucket was deleted
     * (and perhaps made again by another instance): the worker looks, at
     * most every CHECK_BUCKET_MS. */
    if (sub != NULL) {
        struct nl_msg *m = nl_msg_new(NL_CHECK_BUCKET, NULL, 0, NULL, 0, 0);
        if (m)
            push(&nl.q_work, nl.efd_work, m);
    }
}

/* ---- the watcher thread ---- */

static void *watch_main(void *arg)
{
    kvWatcher *w = arg;
    post(NL_DIR_RESET, NULL, NULL, 0);
    for (;;) {
        kvEntry *e = NULL;
        natsStatus s = kvWatcher_Next(&e, w, 1000);
        if (s == NATS_TIMEOUT)
            continue;
        if (s != NATS_OK)
            break; /* stopped, or the connection closed */
        if (e == NULL) {
            post(NL_DIR_READY, NULL, NULL, 0);
            continue;
        }
        enum nl_kind k =
            kvEntry_Operation(e) == kvOp_Put ? NL_DIR_PUT : NL_DIR_DEL;
        const char *key = kvEntry_Key(e);
        struct nl_msg *m =
            nl_msg_new(k, key, strlen(key), kvEntry_Value(e),
                       k == NL_DIR_PUT ? (size_t)kvEntry_ValueLen(e) : 0, 0);
        if (m) {
            m->rev = kvEntry_Revision(e);
            push(&nl.q_loop, nl.efd_loop, m);
        }
        kvEntry_Destroy(e);
    }
    return NULL;
}

static void stop_watcher(void)
{
    if (!nl.have_watcher)
        return;
    kvWatcher_Stop(nl.watch);
    pthread_join(nl.watcher, NULL);
    kvWatcher_Destroy(nl.watch);
    nl.watch = NULL;
    nl.have_watcher = 0;
}

/* ---- the worker thread ---- */

/* Opens the key-value bucket, making it when it is missing.  *made says
 * which. */
static natsStatus open_bucket(kvStore **kv, int *made)
{
    natsStatus s = js_KeyValue(kv, nl.js, nl.bucket);
    *made = 0;
    if (s == NATS_NOT_FOUND) {
        kvConfig kc;
        kvConfig_Init(&kc);
        kc.Bucket = nl.bucket;
        kc.History = 1;
        kc.Description = "msgd node ids";
        s = js_CreateKeyValue(kv, nl.js, &kc);
        *made = s == NATS_OK;
    }
    return s;
}

/* When the bucket's stream was created (0 if that cannot be read): a
 * bucket deleted and made again is a new stream, whose revisions start
 * again at 1, and a watch of the old one would miss its first entries. */
static int64_t bucket_created(void)
{
    char stream[256];
    jsStreamInfo *si = NULL;
    int64_t t = 0;
    snprintf(stream, sizeof stream, "KV_%s", nl.bucket);
    if (js_GetStreamInfo(&si, nl.js, stream, NULL, NULL) == NATS_OK) {
        t = si->Created;
        jsStreamInfo_Destroy(si);
    }
    return t;
}

static natsStatus start_watcher(void)
{
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    natsStatus s = kvStore_WatchAll(&nl.watch, nl.kv, &wo);
    if (s != NATS_OK)
        return s;
    if (pthread_create(&nl.watcher, NULL, watch_main, nl.watch) != 0) {
        kvWatcher_Destroy(nl.watch);
        nl.watch = NULL;
        return NATS_NO_MEMORY;
    }
    nl.have_watcher = 1;
    return NATS_OK;
}

/* After a (re)connect: the key-value bucket (made if missing: a NATS that
 * lost its store comes back without it), the subscriptions and the
 * directory watch.  The watch is an ordered consumer that libnats resumes
 * by itself after a reconnect, so it is kept; only a bucket made anew
 * needs a new one (and stopping a watch that libnats is resuming is where
 * libnats 3.4 reads freed memory).  Returns 0, or -1 to be retried. */
static int setup(void)
{
    natsStatus s = NATS_OK;
    kvStore *kv = NULL;
    int made = 0;
    atomic_store(&nl.ready, 0);
    if (nl.js == NULL) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = KV_WAIT_MS;
        s = natsConnection_JetStream(&nl.js, nl.nc, &jo);
    }
    if (s == NATS_OK)
        s = open_bucket(&kv, &made);
    if (s == NATS_OK && (nl.kv == NULL || made)) {
        stop_watcher();
        kvStore_Destroy(nl.kv);
        nl.kv = kv;
        kv = NULL;
    }
    kvStore_Destroy(kv);
    if (s == NATS_OK && nl.sub_data == NULL)
        s = natsConnection_Subscribe(&nl.sub_data, nl.nc, nl.data_subject,
                                     on_inbound, (void *)(intptr_t)NL_DATA);
    if (s == NATS_OK && nl.sub_hb == NULL)
        s = natsConnection_Subscribe(&nl.sub_hb, nl.nc, nl.hb_subject,
                                     on_inbound,
                                     (void *)(intptr_t)NL_HEARTBEAT);
    if (s == NATS_OK && !nl.have_watcher)
        s = start_watcher();
    if (s != NATS_OK) {
        post_log(LOG_LVL_ERROR,
                 "cannot set up the cluster on NATS (is JetStream on?)", s);
        return -1;
    }
    nl.bucket_created = bucket_created();
    char url[256] = "";
    natsConnection_GetConnectedUrl(nl.nc, url, sizeof url);
    atomic_store(&nl.ready, 1);
    post(NL_UP, url, NULL, 0);
    return 0;
}

/* A request says the bucket is missing (nothing answers on its subjects),
 * or the watch is failing: the bucket is made again when it is gone, and
 * when it is not the one watched (made again here or by another
 * instance), the watch starts afresh and the loop claims every id into it
 * (NL_BUCKET_NEW).  Returns 1 when the bucket is there now. */
static int check_bucket(int asked)
{
    int64_t now = mono_ms();
    if (!asked && now - nl.bucket_checked_ms < CHECK_BUCKET_MS)
        return 1;
    nl.bucket_checked_ms = now;
    kvStore *kv = NULL;
    int made = 0;
    if (open_bucket(&kv, &made) != NATS_OK)
        return 0;
    int64_t created = bucket_created();
    /* Unknown (0) is no reason to replace a watch. */
    if (!made && (created == 0 || created == nl.bucket_created)) {
        kvStore_Destroy(kv);
        return 1;
    }
    stop_watcher();
    kvStore_Destroy(nl.kv);
    nl.kv = kv;
    nl.bucket_created = created;
    natsStatus s = start_watcher();
    if (s != NATS_OK)
        post_log(LOG_LVL_ERROR, "cannot watch the id bucket made again", s);
    struct nl_msg *m = nl_msg_new(NL_BUCKET_NEW, NULL, 0, NULL, 0, 0);
    if (m) {
        m->flag = (uint8_t)made;
        push(&nl.q_loop, nl.efd_loop, m);
    }
    return 1;
}

static int same_value(kvEntry *e, const struct nl_msg *m)
{
    return (size_t)kvEntry_ValueLen(e) == m->blen &&
           memcmp(kvEntry_Value(e), m->b, m->blen) == 0;
}

/* HELLO's reservation: create the key.  Held already: ours (a reassertion
 * after a reconnect, or a create whose reply was lost) is success; held
 * by another, it is taken over under flag 1 (duplicate_id = "replace"),
 * else refused. */
static void reserve(struct nl_msg *m)
{
    uint64_t rev = 0;
    natsStatus s = NATS_ERR;
    m->status = NL_UNAVAILABLE;
    for (int attempt = 0; attempt < 2 && atomic_load(&nl.ready); attempt++) {
        s = kvStore_Create(&rev, nl.kv, m->a, m->b, (int)strlen(m->b));
        if (s == NATS_OK) {
            m->status = NL_OK;
            m->rev = rev;
            break;
        }
        if (s == NATS_NO_RESPONDERS) {
            /* No stream stores the bucket's subjects: it was deleted. */
            if (attempt == 0 && check_bucket(1))
                continue;
            break;
        }
        kvEntry *e = NULL;
        natsStatus g = kvStore_Get(&e, nl.kv, m->a);
        if (g == NATS_NOT_FOUND) {
            continue; /* deleted meanwhile: try the create again */
        }
        if (g != NATS_OK)
            break;
        if (same_value(e, m)) {
            m->status = NL_OK;
            m->rev = kvEntry_Revision(e);
        } else if (m->flag == 1) {
            s = kvStore_Update(&rev, nl.kv, m->a, m->b, (int)strlen(m->b),
                               kvEntry_Revision(e));
            if (s == NATS_OK) {
                /* b now carries back the owner taken over from. */
                size_t n = (size_t)kvEntry_ValueLen(e);
                if (n > m->cap)
                    n = m->cap;
                memcpy(m->b, kvEntry_Value(e), n);
                m->b[n] = '\0';
                m->blen = n;
                m->status = NL_OK;
                m->rev = rev;
            } else {
                m->status = NL_TAKEN;
            }
        } else {
            m->status = NL_TAKEN;
        }
        kvEntry_Destroy(e);
        break;
    }
    if (m->status != NL_OK || m->flag != 1 || m->b == NULL)
        m->blen = 0; /* b carries back only an owner taken over from */
    m->kind = NL_RESERVED;
    push(&nl.q_loop, nl.efd_loop, m);
}

/* Releases that could not be done yet (NATS away, or no reply): retried
 * after every (re)connect, so that an id whose node left during an outage
 * is not held for ever.  The worker's alone. */
static struct nl_msg *deferred, *deferred_last;

static void defer(struct nl_msg *m)
{
    m->node.next = NULL;
    if (deferred_last)
        deferred_last->node.next = &m->node;
    else
        deferred = m;
    deferred_last = m;
}

/* Deletes key only while it is still at rev: once an id has moved on (taken
 * over, or freed and registered again), an old release must not remove
 * the new owner's key.  Takes m: frees it or keeps it for a retry. */
static void release(struct nl_msg *m)
{
    char subj[512];
    natsMsg *msg = NULL;
    jsErrCode jerr = 0;

    if (mono_ms() > atomic_load(&nl.deadline_ms)) {
        nl_msg_free(m); /* stopping: the others free it after id_hold */
        return;
    }
    if (!atomic_load(&nl.ready)) {
        defer(m);
        return;
    }
    snprintf(subj, sizeof subj, "$KV.%s.%s", nl.bucket, m->a);
    if (natsMsg_Create(&msg, subj, NULL, NULL, 0) != NATS_OK) {
        defer(m);
        return;
    }
    natsMsgHeader_Set(msg, "KV-Operation", "DEL");
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.ExpectLastSubjectSeq = m->rev;
    natsStatus s = js_PublishMsg(NULL, nl.js, msg, &po, &jerr);
    natsMsg_Destroy(msg);
    if (s == NATS_OK || jerr == JSStreamWrongLastSequenceErr)
        nl_msg_free(m); /* done, or the id has moved on */
    else if (s == NATS_NO_RESPONDERS && check_bucket(1))
        nl_msg_free(m); /* the bucket was deleted: the key with it */
    else
        defer(m);
}

static void retry_deferred(void)
{
    struct nl_msg *m = deferred;
    deferred = deferred_last = NULL;
    while (m) {
        struct nl_msg *next = (struct nl_msg *)m->node.next;
        release(m);
        m = next;
    }
}

static void *worker_main(void *arg)
{
    int setup_wanted = 0;
    (void)arg;
    for (;;) {
        struct pollfd p = {.fd = nl.efd_work, .events = POLLIN};
        /* Set up, it looks at the bucket every CHECK_BUCKET_MS even when
         * idle: a bucket deleted (and made again by another instance)
         * under a running cluster is noticed within that time. */
        int n = poll(&p, 1,
                     setup_wanted             ? SETUP_RETRY_MS
                     : atomic_load(&nl.ready) ? CHECK_BUCKET_MS
                                              : -1);
        if (n > 0) {
            uint64_t v;
            if (read(nl.efd_work, &v, sizeof v) < 0 && errno != EAGAIN)
                continue;
        }
        int stop = 0;
        struct nl_msg *m = (struct nl_msg *)mpscq_take(&nl.q_work);
        while (m) {
            struct nl_msg *next = (struct nl_msg *)m->node.next;
            switch (m->kind) {
            case NL_SETUP:
                setup_wanted = 1;
                nl_msg_free(m);
                break;
            case NL_RESERVE:
                reserve(m); /* m goes back to the loop */
                break;
            case NL_RELEASE:
                release(m);
                break;
            case NL_CHECK_BUCKET:
                if (atomic_load(&nl.ready))
                    check_bucket(0);
                nl_msg_free(m);
                break;
            default:
                stop = 1;
                nl_msg_free(m);
                break;
            }
            m = next;
        }
        if (stop)
            break;
        if (!setup_wanted && atomic_load(&nl.ready))
            check_bucket(0); /* at most every CHECK_BUCKET_MS */
        if (setup_wanted && !atomic_load(&nl.stopping) &&
            natsConnection_Status(nl.nc) == NATS_CONN_STATUS_CONNECTED) {
            setup_wanted = setup() < 0;
            if (!setup_wanted)
                retry_deferred();
        }
    }
    return NULL;
}

/* ---- the publisher thread ---- */

static void *publisher_main(void *arg)
{
    (void)arg;
    for (;;) {
        uint64_t v;
        if (read(nl.efd_pub, &v, sizeof v) < 0 && errno != EINTR)
            break;
        int stop = 0;
        struct nl_msg *m = (struct nl_msg *)mpscq_take(&nl.q_pub);
        while (m) {
            struct nl_msg *next = (struct nl_msg *)m->node.next;
            if (m->kind == NL_PUBLISH) {
                if (natsConnection_Publish(nl.nc, m->a, m->b, (int)m->blen) !=
                    NATS_OK) {
                    atomic_fetch_add(&nl.pub_failed, 1);
                }
            } else {
                stop = 1;
            }
            nl_msg_free(m);
            m = next;
        }
        if (stop)
            break;
    }
    natsConnection_FlushTimeout(nl.nc, 1000);
    return NULL;
}

/* ---- start and stop ---- */

static int fail(char *err, size_t errlen, const char *what, natsStatus s)
{
    const char *detail = nats_GetLastError(NULL);
    snprintf(err, errlen, "%s: %s", what,
             detail && *detail ? detail : natsStatus_GetText(s));
    return -1;
}

/* Reads the one line of a secret file into buf (NUL-terminated, line end
 * stripped), for the caller to wipe once used.  Returns its length, or -1
 * with "setting path: why" in err; nothing of the secret goes there. */
static ssize_t read_secret(const char *setting, const char *path, char *buf,
                           size_t cap, char *err, size_t errlen)
{
    size_t len = 0;
    ssize_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s %s: %s", setting, path, strerror(errno));
        return -1;
    }
    while (len < cap && ((n = read(fd, buf + len, cap - len)) > 0 ||
                         (n < 0 && errno == EINTR)))
        if (n > 0)
            len += (size_t)n;
    int why = n < 0 ? errno : 0;
    close(fd);
    if (why) {
        snprintf(err, errlen, "%s %s: %s", setting, path, strerror(why));
        sodium_memzero(buf, cap);
        return -1;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    const char *bad = len == 0     ? "empty"
                      : len >= cap ? "longer than a secret should be"
                      : memchr(buf, '\n', len) ? "more than one line"
                      : memchr(buf, '\0', len) ? "holds a NUL byte"
                                               : NULL;
    if (bad) {
        snprintf(err, errlen, "%s %s: %s", setting, path, bad);
        sodium_memzero(buf, cap);
        return -1;
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

/* The one kind of credential the configuration gives (config.c allows
 * no more), through libnats' own options.  Secrets read here are wiped
 * as soon as libnats holds its copy. */
static int set_credentials(const struct nl_config *cfg, char *err,
                           size_t errlen)
{
    char secret[SECRET_MAX];
    natsStatus s = NATS_OK;
    const char *what = NULL;

    if (cfg->creds) {
        what = "cluster.creds";
        s = natsOptions_SetUserCredentialsFromFiles(nl.opts, cfg->creds, NULL);
    } else if (cfg->nkey_seed) {
        char pub[NKEY_PUBLIC_LEN + 1];
        ssize_t n = read_secret("cluster.nkey_seed", cfg->nkey_seed, secret,
                                sizeof secret, err, errlen);
        if (n < 0)
            return -1;
        int bad = nkey_public_from_seed(secret, (size_t)n, pub) < 0;
        sodium_memzero(secret, sizeof secret);
        if (bad) {
            snprintf(err, errlen,
                     "cluster.nkey_seed %s: not a NATS user seed (SU...)",
                     cfg->nkey_seed);
            return -1;
        }
        what = "cluster.nkey_seed";
        s = natsOptions_SetNKeyFromSeed(nl.opts, pub, cfg->nkey_seed);
    } else if (cfg->token_file) {
        if (read_secret("cluster.token_file", cfg->token_file, secret,
                        sizeof secret, err, errlen) < 0)
            return -1;
        what = "cluster.token_file";
        s = natsOptions_SetToken(nl.opts, secret);
        sodium_memzero(secret, sizeof secret);
    } else if (cfg->user) {
        if (read_secret("cluster.password_file", cfg->password_file, secret,
                        sizeof secret, err, errlen) < 0)
            return -1;
        what = "cluster.user";
        s = natsOptions_SetUserInfo(nl.opts, cfg->user, secret);
        sodium_memzero(secret, sizeof secret);
    }
    return s == NATS_OK ? 0 : fail(err, errlen, what, s);
}

/* TLS to NATS: the CA to verify the server with (else OpenSSL's default
 * store, which libnats loads), and a client certificate when the server
 * asks for one.  libnats loads the files now, so errors show at start. */
static int set_tls(const struct nl_config *cfg, char *err, size_t errlen)
{
    char what[1200];
    natsStatus s;

    if (!cfg->tls)
        return 0;
    snprintf(what, sizeof what, "cluster.tls");
    s = natsOptions_SetSecure(nl.opts, true);
    if (s == NATS_OK && cfg->tls_ca) {
        snprintf(what, sizeof what, "cluster.tls.ca %s", cfg->tls_ca);
        s = natsOptions_LoadCATrustedCertificates(nl.opts, cfg->tls_ca);
    }
    if (s == NATS_OK && cfg->tls_cert) {
        snprintf(what, sizeof what, "cluster.tls.cert %s, key %s",
                 cfg->tls_cert, cfg->tls_key);
        s = natsOptions_LoadCertificatesChain(nl.opts, cfg->tls_cert,
                                              cfg->tls_key);
    }
    return s == NATS_OK ? 0 : fail(err, errlen, what, s);
}

int nl_start(const struct nl_config *cfg, char *err, size_t errlen)
{
    natsStatus s;

    mpscq_init(&nl.q_loop);
    mpscq_init(&nl.q_work);
    mpscq_init(&nl.q_pub);
    atomic_store(&nl.deadline_ms, INT64_MAX);
    nl.efd_loop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    nl.efd_work = eventfd(0, EFD_CLOEXEC);
    nl.efd_pub = eventfd(0, EFD_CLOEXEC);
    nl.bucket = strdup(cfg->bucket);
    nl.data_subject = strdup(cfg->data_subject);
    nl.hb_subject = strdup(cfg->hb_subject);
    if (nl.efd_loop < 0 || nl.efd_work < 0 || nl.efd_pub < 0 || !nl.bucket ||
        !nl.data_subject || !nl.hb_subject) {
        snprintf(err, errlen, "cluster: %s", strerror(errno));
        return -1;
    }
    s = natsOptions_Create(&nl.opts);
    if (s == NATS_OK)
        s = natsOptions_SetServers(nl.opts, (const char **)cfg->urls,
                                   cfg->nurls);
    if (s == NATS_OK)
        s = natsOptions_SetName(nl.opts, cfg->name);
    if (s == NATS_OK)
        s = natsOptions_SetNoEcho(nl.opts, true);
    /* The loop already batches a pass's frames per instance, so each
     * publish goes out at once (libnats would otherwise hold it up to a
     * millisecond for more); the write is the publisher thread's. */
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(nl.opts, true);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(nl.opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(nl.opts, 500);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(nl.opts, 2000);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(nl.opts, 2000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(nl.opts, 2);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(nl.opts, true, on_connected,
                                                NULL);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(nl.opts, on_disconnected, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(nl.opts, on_connected, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(nl.opts, on_closed, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(nl.opts, on_error, NULL);
    if (s != NATS_OK)
        return fail(err, errlen, "cluster: NATS options", s);
    if (set_credentials(cfg, err, errlen) < 0 || set_tls(cfg, err, errlen) < 0)
        return -1;

    s = natsConnection_Connect(&nl.nc, nl.opts);
    if (s == NATS_OK)
        ask_setup();
    else if (s != NATS_NOT_YET_CONNECTED)
        return fail(err, errlen, "cluster: cannot connect to NATS", s);
    if (pthread_create(&nl.worker, NULL, worker_main, NULL) != 0 ||
        pthread_create(&nl.publisher, NULL, publisher_main, NULL) != 0) {
        snprintf(err, errlen, "cluster: cannot start threads");
        return -1;
    }
    return nl.efd_loop;
}

void nl_stop(int deadline_ms)
{
    if (nl.nc == NULL)
        return;
    atomic_store(&nl.deadline_ms, mono_ms() + deadline_ms);
    struct nl_msg *w = nl_msg_new(NL_STOP, NULL, 0, NULL, 0, 0);
    struct nl_msg *p = nl_msg_new(NL_STOP, NULL, 0, NULL, 0, 0);
    if (w)
        push(&nl.q_work, nl.efd_work, w);
    if (p)
        push(&nl.q_pub, nl.efd_pub, p);
    pthread_join(nl.publisher, NULL);
    pthread_join(nl.worker, NULL);
    atomic_store(&nl.stopping, 1);
    stop_watcher();
    natsSubscription_Destroy(nl.sub_data);
    natsSubscription_Destroy(nl.sub_hb);
    kvStore_Destroy(nl.kv);
    jsCtx_Destroy(nl.js);
    natsConnection_Close(nl.nc);
    natsConnection_Destroy(nl.nc);
    natsOptions_Destroy(nl.opts);
    nats_CloseAndWait(2000);
    nl.nc = NULL;
    for (struct nl_msg *m = nl_take(), *next; m; m = next) {
        next = (struct nl_msg *)m->node.next;
        nl_msg_free(m);
    }
    for (struct nl_msg *m = deferred, *next; m; m = next) {
        next = (struct nl_msg *)m->node.next;
        nl_msg_free(m);
    }
    deferred = deferred_last = NULL;
    free(nl.bucket);
    free(nl.data_subject);
    free(nl.hb_subject);
    close(nl.efd_loop);
    close(nl.efd_work);
    close(nl.efd_pub);
    nl.efd_loop = nl.efd_work = nl.efd_pub = -1;
}
