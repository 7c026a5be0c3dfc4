/* UDP flood for bench/net.sh: FLOWS sockets (one source port each, so that
 * a multi-queue tap spreads them over its queues), sendmmsg() batches of
 * SIZE-byte datagrams to DST:PORT for SECS seconds; prints the datagrams
 * the kernel accepted. (No Debian tool sends small UDP at line rate
 * without a TCP control connection, which the guest kit does not speak.)
 *   udpflood DST PORT SIZE SECS FLOWS */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s DST PORT SIZE SECS FLOWS\n", argv[0]);
        return 2;
    }
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2])) };
    if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
        fprintf(stderr, "udpflood: bad address %s\n", argv[1]);
        return 2;
    }
    size_t size = (size_t)atoi(argv[3]);
    double secs = atof(argv[4]);
    int flows = atoi(argv[5]);
    if (size < 1 || size > 65507 || flows < 1 || flows > 64) {
        fprintf(stderr, "udpflood: bad size or flows\n");
        return 2;
    }
    int fds[64];
    for (int i = 0; i < flows; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&dst, sizeof(dst)) < 0) {
            perror("udpflood: socket");
            return 1;
        }
    }
    char *buf = calloc(1, size);
    struct iovec iov = { buf, size };
    struct mmsghdr m[BATCH];
    memset(m, 0, sizeof(m));
    for (int i = 0; i < BATCH; i++) {
        m[i].msg_hdr.msg_iov = &iov;
        m[i].msg_hdr.msg_iovlen = 1;
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long long sent = 0;
    for (unsigned long it = 0;; it++) {
        int r = sendmmsg(fds[it % (unsigned long)flows], m, BATCH, 0);
        if (r > 0)
            sent += (unsigned long long)r;
        else if (r < 0 && errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED) {
            perror("udpflood: sendmmsg");
            return 1;
        }
        if ((it & 15) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= secs)
                break;
        }
    }
    printf("%llu\n", sent);
    return 0;
}
