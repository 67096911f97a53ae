/* bench_auth.c: a steady load of AUTHs against msgd, for tests/bench/
 * auth.sh, which measures routing with and without it.
 *   bench_auth hash MEM_KIB OPS < PASSWORD   prints an argon2id hash
 *   MSGD_PASSWORD=... bench_auth load PORT USER RATE SECONDS
 * (the password never on the command line)
 * load opens RATE connections a second, each sending one AUTH and closing
 * at its answer, many in flight at once; it prints what it achieved.
 * Copyright (c) 2026 The msgd authors.  ISC license: see COPYING. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#define MAX_OPEN 4096

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_auth(int port, const char *line, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        write(fd, line, len) != (ssize_t)len) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static int load(int port, const char *user, const char *pw, double rate,
                double secs)
{
    char line[600];
    int len = snprintf(line, sizeof line, "AUTH %s %s\n", user, pw);
    struct pollfd *p = calloc(MAX_OPEN, sizeof *p);
    int n = 0;
    long sent = 0, ok = 0, failed = 0, errors = 0;
    double t0 = now_s(), end = t0 + secs;
    for (;;) {
        double t = now_s();
        if (t >= end && n == 0)
            break;
        while (t < end && sent < (long)((t - t0) * rate) && n < MAX_OPEN) {
            int fd = open_auth(port, line, (size_t)len);
            sent++;
            if (fd < 0) {
                errors++;
                continue;
            }
            p[n].fd = fd;
            p[n].events = POLLIN;
            n++;
        }
        if (t > end + 10)
            break; /* answers that never come */
        poll(p, (nfds_t)n, 2);
        for (int i = 0; i < n; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[256];
            ssize_t r = read(p[i].fd, buf, sizeof buf - 1);
            if (r < 0 && errno == EAGAIN)
                continue;
            if (r > 0 && strncmp(buf, "OK auth", 7) == 0)
                ok++;
            else if (r > 0)
                failed++;
            else
                errors++;
            close(p[i].fd);
            p[i--] = p[--n];
        }
    }
    double took = now_s() - t0;
    printf("auth load: %ld AUTHs in %.1f s (%.0f/s): %ld ok, %ld failed, %ld "
           "errors\n",
           sent, took, (double)sent / (took > 0 ? took : 1), ok, failed,
           errors);
    free(p);
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    if (argc == 4 && strcmp(argv[1], "hash") == 0) {
        char h[crypto_pwhash_STRBYTES], pw[256];
        if (fgets(pw, sizeof pw, stdin) == NULL)
            return 1;
        pw[strcspn(pw, "\n")] = '\0';
        if (crypto_pwhash_str(h, pw, strlen(pw), strtoull(argv[3], NULL, 10),
                              (size_t)strtoull(argv[2], NULL, 10) * 1024) != 0)
            return 1;
        sodium_memzero(pw, sizeof pw);
        puts(h);
        return 0;
    }
    const char *pw = getenv("MSGD_PASSWORD");
    if (argc == 6 && strcmp(argv[1], "load") == 0 && pw)
        return load(atoi(argv[2]), argv[3], pw, atof(argv[4]), atof(argv[5]));
    fprintf(stderr, "usage: bench_auth hash MEM_KIB OPS < PASSWORD\n"
                    "       MSGD_PASSWORD=... bench_auth load PORT USER RATE "
                    "SECONDS\n");
    return 64;
}
