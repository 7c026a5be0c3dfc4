/* Helpers shared by the network integration tests (test-net-worker,
 * test-e1000, test-rtl8139): see net-helpers.h. */
#include "net-helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

bool in_netns;

bool sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    int status = 0;
    g_autofree char *out = NULL, *err = NULL;
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
                      NULL) ||
        !g_spawn_check_wait_status(status, NULL)) {
        g_test_message("'%s' failed: %s%s", cmd, out ? out : "", err ? err : "");
        return false;
    }
    return true;
}

/* A private network namespace for the rest of the process: taps and
 * bridges made by the tests vanish with it. */
bool enter_netns(void)
{
    if (in_netns)
        return true;
    if (unshare(CLONE_NEWNET) < 0) {
        g_test_skip("cannot make a network namespace (needs root)");
        return false;
    }
    in_netns = true;
    return sh("ip link set lo up");
}

bool need_kvm_and_ns(void)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_skip("/dev/kvm is not usable here");
        return false;
    }
    if (access("/dev/net/tun", R_OK | W_OK) != 0) {
        g_test_skip("/dev/net/tun is not usable here");
        return false;
    }
    return enter_netns();
}

int udp_socket(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(s, >=, 0);
    return s;
}

/* Sends `len` bytes to the guest's echo port from `s`; true when the same
 * bytes come back within 2 s. */
bool echo(int s, size_t len, uint8_t seed)
{
    uint8_t buf[1500], got[1600];
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed + i * 7);
    struct sockaddr_in g = { .sin_family = AF_INET, .sin_port = htons(7) };
    inet_pton(AF_INET, GUEST_IP, &g.sin_addr);
    for (int tries = 0; tries < 3; tries++) {
        if (sendto(s, buf, len, 0, (struct sockaddr *)&g, sizeof(g)) != (ssize_t)len)
            return false;
        struct pollfd p = { s, POLLIN, 0 };
        while (poll(&p, 1, 700) == 1) {
            ssize_t n = recv(s, got, sizeof(got), 0);
            if (n == (ssize_t)len && memcmp(buf, got, len) == 0)
                return true;
        }
    }
    return false;
}

void echo_sizes(unsigned *ok, unsigned *tried)
{
    int s = udp_socket();
    static const size_t sizes[] = { 0, 1, 2, 17, 18, 64, 100, 255, 256, 511, 512, 1000,
                                    1400, 1471, 1472 };
    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        ++*tried;
        *ok += echo(s, sizes[i], (uint8_t)i);
    }
    close(s);
}

json_object *find_check(HarnessRun *r, const char *name)
{
    g_autoptr(GPtrArray) c = harness_find(r, "check", name);
    if (c->len != 1) {
        g_test_message("no single '%s' check; stdout:\n%s\nstderr:\n%s", name, r->out, r->err);
        return NULL;
    }
    return g_ptr_array_index(c, 0);
}

int64_t jint(json_object *o, const char *k)
{
    json_object *v = NULL;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

bool jbool(json_object *o, const char *k)
{
    json_object *v = NULL;
    return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}


static gpointer udp_echo_thread(gpointer data)
{
    UdpEcho *u = data;
    uint8_t buf[2048];
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    struct pollfd p = { u->fd, POLLIN, 0 };
    if (poll(&p, 1, 60000) == 1) {
        ssize_t n = recvfrom(u->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
        if (n > 0)
            sendto(u->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
    }
    return NULL;
}

void udp_echo_start(UdpEcho *u)
{
    u->fd = udp_socket();
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    g_assert_cmpint(bind(u->fd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
    socklen_t al = sizeof(a);
    getsockname(u->fd, (struct sockaddr *)&a, &al);
    u->port = ntohs(a.sin_port);
    u->t = g_thread_new("udp-echo", udp_echo_thread, u);
}

void udp_echo_join(UdpEcho *u)
{
    g_thread_join(u->t);
    close(u->fd);
}

char *passt_gateway(void)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_skip("/dev/kvm is not usable here");
        return NULL;
    }
    g_autofree char *passt = g_find_program_in_path("passt");
    if (!passt) {
        g_test_skip("passt is not installed (Debian package passt)");
        return NULL;
    }
    g_assert_false(in_netns);   /* passt needs the host's network: it runs first */
    char *gw = harness_sh_out("ip -4 route show default | awk '{print $3; exit}'");
    g_strstrip(gw);
    if (!*gw) {
        g_free(gw);
        g_test_skip("this host has no IPv4 default route for passt to copy");
        return NULL;
    }
    return gw;
}

gboolean serve_on_line(const char *line, GPid pid, void *opaque)
{
    Serve *s = opaque;
    if (!strstr(line, "\"net_ready\"") || s->ran)
        return TRUE;
    s->ran = true;
    echo_sizes(&s->sizes_ok, &s->sizes_tried);
    s->ping_ok = sh("ping -c 3 -i 0.2 -W 2 " GUEST_IP);
    g_autofree char *cmd = g_strdup_printf("ip neigh show " GUEST_IP " dev %s", s->dev);
    s->neigh = harness_sh_out(cmd);
    kill(pid, SIGTERM);   /* the power button: the guest reports and stops */
    return TRUE;
}

void assert_check_ok(HarnessRun *r, const char *name)
{
    json_object *c = find_check(r, name);
    g_assert_nonnull(c);
    if (!jbool(c, "ok"))
        g_test_message("%s: %s", name, json_object_to_json_string(c));
    g_assert_true(jbool(c, "ok"));
}

void assert_served(HarnessRun *r, Serve *s)
{
    g_assert_true(s->ran);
    g_assert_cmpuint(s->sizes_ok, ==, s->sizes_tried);
    g_assert_true(s->ping_ok);
    g_assert_nonnull(strstr(s->neigh, GUEST_MAC));
    json_object *served = find_check(r, "net_served");
    g_assert_nonnull(served);
    g_assert_true(jbool(served, "ok"));
    g_assert_cmpint(jint(served, "udp"), >=, (int64_t)s->sizes_tried);
    g_assert_cmpint(jint(served, "icmp"), >=, 3);
    g_free(s->neigh);
    s->neigh = NULL;
}
