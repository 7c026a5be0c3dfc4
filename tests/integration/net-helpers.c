/* Helpers shared by the network integration tests (test-net-worker,
 * test-e1000): see net-helpers.h. */
#include "net-helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
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

