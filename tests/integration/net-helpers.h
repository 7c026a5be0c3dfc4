/* Helpers shared by the network integration tests: a private network
 * namespace, shell commands, UDP echo against the guest kit, and the
 * guest kit's JSON checks. */
#ifndef VMM_TEST_NET_HELPERS_H
#define VMM_TEST_NET_HELPERS_H

#include "harness.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_IP "10.0.0.2"
#define HOST_IP "10.0.0.1"
#define GUEST_MAC "52:54:00:12:34:56"
#define TIMEOUT 120.0

/* true once this process entered its own network namespace */
extern bool in_netns;

/* Runs a shell command; false (with its output as a test message) when
 * it fails. */
bool sh(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* A private network namespace for the rest of the process: taps and
 * bridges made by the tests vanish with it. SKIPs the test and returns
 * false without the right to make one. */
bool enter_netns(void);
/* /dev/kvm, /dev/net/tun and the namespace, or a SKIP and false. */
bool need_kvm_and_ns(void);
int udp_socket(void);
/* Sends `len` bytes to the guest's echo port from `s`; true when the same
 * bytes come back within 2 s. */
bool echo(int s, size_t len, uint8_t seed);
/* echo() at every UDP payload size up to what fits a 1500-byte MTU,
 * stepping through the edges: adds to *tried and, for those that came
 * back whole, to *ok. */
void echo_sizes(unsigned *ok, unsigned *tried);
/* The one check named `name` in the run's output (NULL, with the output
 * as a test message, when there is not exactly one). */
json_object *find_check(HarnessRun *r, const char *name);
int64_t jint(json_object *o, const char *k);
bool jbool(json_object *o, const char *k);

/* A one-shot UDP echo service on 127.0.0.1: a thread answers the first
 * datagram (within 60 s) to its sender. */
typedef struct {
    int fd;
    uint16_t port;
    GThread *t;
} UdpEcho;
void udp_echo_start(UdpEcho *u);
void udp_echo_join(UdpEcho *u);

/* For passt tests: /dev/kvm and passt are there and the host has a default
 * IPv4 route; returns its gateway (which passt maps to the host itself),
 * or NULL after a SKIP naming what is missing. */
char *passt_gateway(void);

/* A guest kit serving test=net (test=e1000, test=rtl8139): on its
 * net_ready line, UDP echo at every payload size, a ping, the kernel's
 * neighbour entry on dev, then the power button. Pass serve_on_line and
 * a Serve to harness_run_worker(). */
typedef struct {
    const char *dev;          /* the host's interface towards the guest */
    bool ran;
    unsigned sizes_ok, sizes_tried;
    bool ping_ok;
    char *neigh;
} Serve;
gboolean serve_on_line(const char *line, GPid pid, void *opaque);
/* The guest's check `name` is there exactly once and passed. */
void assert_check_ok(HarnessRun *r, const char *name);
/* What serving showed: echo at every size, ping, the neighbour entry with
 * GUEST_MAC, net_served counting them; frees s->neigh. */
void assert_served(HarnessRun *r, Serve *s);

#endif
