/* bench_tls.c: what TLS costs msgd in memory and in handshakes, against a
 * running msgd with a plain and a tls:// listener.  Registers N nodes
 * over plain TCP, then N over TLS, and reads msgd's VmRSS after each (the
 * bytes per idle node); then opens and closes M TLS connections, many in
 * flight, and reads msgd's CPU time for them (handshakes per second of
 * msgd's one core).  A benchmark, not a test: it prints figures.
 *   bench_tls PID PLAIN_PORT TLS_PORT CA_FILE [N [M]]
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static int msgd_pid;

static long rss_kb(void)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", msgd_pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    fclose(f);
    return kb;
}

/* msgd's user+system CPU time, in seconds. */
static double cpu_s(void)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", msgd_pid);
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(buf, sizeof buf, f) == NULL) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime */
    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
           &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Reads up to the first LF; 0 if the line starts with "OK". */
static int read_ok_fd(int fd)
{
    char buf[256];
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            return -1;
        if (buf[n++] == '\n')
            break;
    }
    return strncmp(buf, "OK", 2) == 0 ? 0 : -1;
}

static int read_ok_ssl(SSL *ssl)
{
    char buf[256];
    size_t n = 0, got;
    while (n < sizeof buf) {
        if (SSL_read_ex(ssl, buf + n, 1, &got) != 1)
            return -1;
        if (buf[n++] == '\n')
            break;
    }
    return strncmp(buf, "OK", 2) == 0 ? 0 : -1;
}

static SSL_CTX *client_ctx(const char *ca)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        fprintf(stderr, "bench_tls: cannot load %s\n", ca);
        exit(1);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

/* Waits until msgd's RSS stops moving (its frees and the kernel settle). */
static long settled_rss(void)
{
    long last = rss_kb(), cur;
    for (int i = 0; i < 20; i++) {
        usleep(100000);
        cur = rss_kb();
        if (cur == last)
            break;
        last = cur;
    }
    return last;
}

/* M handshakes with up to `inflight` at once, non-blocking; each is closed
 * once done.  Returns how many completed. */
static int handshakes(SSL_CTX *ctx, int port, int m, int inflight)
{
    struct slot {
        int fd;
        SSL *ssl;
    } *s = calloc((size_t)inflight, sizeof *s);
    struct pollfd *p = calloc((size_t)inflight, sizeof *p);
    int started = 0, done = 0, failed = 0, open = 0;
    for (int i = 0; i < inflight; i++)
        s[i].fd = -1;
    while (done + failed < m) {
        for (int i = 0; i < inflight && started < m; i++) {
            if (s[i].fd >= 0)
                continue;
            s[i].fd = connect_to(port);
            s[i].ssl = SSL_new(ctx);
            SSL_set_fd(s[i].ssl, s[i].fd);
            SSL_set1_host(s[i].ssl, "localhost");
            SSL_set_connect_state(s[i].ssl);
            fcntl(s[i].fd, F_SETFL, O_NONBLOCK);
            started++;
            open++;
        }
        for (int i = 0; i < inflight; i++) {
            p[i].fd = s[i].fd;
            p[i].events = 0;
            p[i].revents = 0;
            if (s[i].fd < 0)
                continue;
            int r = SSL_do_handshake(s[i].ssl);
            int e = r == 1 ? 0 : SSL_get_error(s[i].ssl, r);
            if (r == 1 || (e != SSL_ERROR_WANT_READ &&
                           e != SSL_ERROR_WANT_WRITE)) {
                if (r == 1)
                    done++;
                else
                    failed++;
                SSL_free(s[i].ssl);
                close(s[i].fd);
                s[i].fd = -1;
                p[i].fd = -1;
                open--;
                continue;
            }
            p[i].events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        }
        if (open > 0)
            poll(p, (nfds_t)inflight, 1000);
    }
    free(s);
    free(p);
    if (failed)
        fprintf(stderr, "bench_tls: %d handshakes failed\n", failed);
    return done;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr,
                "usage: bench_tls PID PLAIN_PORT TLS_PORT CA_FILE [N [M]]\n");
        return 64;
    }
    msgd_pid = atoi(argv[1]);
    int plain = atoi(argv[2]), tls = atoi(argv[3]);
    const char *ca = argv[4];
    int n = argc > 5 ? atoi(argv[5]) : 10000;
    int m = argc > 6 ? atoi(argv[6]) : 5000;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    int *fds = calloc((size_t)n, sizeof *fds);
    SSL **ssls = calloc((size_t)n, sizeof *ssls);
    SSL_CTX *ctx = client_ctx(ca);
    char line[64];

    long base = settled_rss();
    for (int i = 0; i < n; i++) {
        fds[i] = connect_to(plain);
        int len = snprintf(line, sizeof line, "HELLO p%d\n", i);
        if (write(fds[i], line, (size_t)len) != len || read_ok_fd(fds[i]) < 0) {
            fprintf(stderr, "bench_tls: plain node %d not registered\n", i);
            return 1;
        }
    }
    long with_plain = settled_rss();
    for (int i = 0; i < n; i++)
        close(fds[i]);
    long base2 = settled_rss();
    for (int i = 0; i < n; i++) {
        fds[i] = connect_to(tls);
        ssls[i] = SSL_new(ctx);
        SSL_set_fd(ssls[i], fds[i]);
        SSL_set1_host(ssls[i], "localhost");
        int len = snprintf(line, sizeof line, "HELLO t%d\n", i);
        size_t w;
        if (SSL_connect(ssls[i]) != 1 ||
            SSL_write_ex(ssls[i], line, (size_t)len, &w) != 1 ||
            read_ok_ssl(ssls[i]) < 0) {
            fprintf(stderr, "bench_tls: TLS node %d not registered\n", i);
            ERR_print_errors_fp(stderr);
            return 1;
        }
    }
    long with_tls = settled_rss();
    printf("idle nodes: %d\n", n);
    printf("  plain: %8.0f B/node (VmRSS %ld -> %ld kB)\n",
           (double)(with_plain - base) * 1024.0 / n, base, with_plain);
    printf("  tls:   %8.0f B/node (VmRSS %ld -> %ld kB)\n",
           (double)(with_tls - base2) * 1024.0 / n, base2, with_tls);
    for (int i = 0; i < n; i++) {
        SSL_free(ssls[i]);
        close(fds[i]);
    }
    settled_rss();

    double c0 = cpu_s(), t0 = now_s();
    int done = handshakes(ctx, tls, m, 64);
    double c1 = cpu_s(), t1 = now_s();
    printf("handshakes: %d in %.2f s wall (%.0f/s with the client on the "
           "same machine)\n",
           done, t1 - t0, done / (t1 - t0));
    printf("  msgd CPU %.2f s: %.0f handshakes per second of one core\n",
           c1 - c0, c1 > c0 ? done / (c1 - c0) : 0.0);
    SSL_CTX_free(ctx);
    free(fds);
    free(ssls);
    return 0;
}
