/* vmmd and <interface>: the daemon opens each interface's host side with
 * its privileges and hands it to the worker; taps it made vanish with the
 * worker; a VM whose network cannot be set up does not start and leaves
 * nothing behind. In a private network namespace (unshare): the daemon and
 * its workers inherit it, and every tap and bridge dies with the test. */
#include "daemon-harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static bool ready(void)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_skip("/dev/kvm is not usable here");
        return false;
    }
    return true;
}

/* One datagram to the guest kit's echo port (10.0.0.2:7) and its echo. */
static bool udp_echo_ok(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in g = { .sin_family = AF_INET, .sin_port = htons(7) };
    inet_pton(AF_INET, "10.0.0.2", &g.sin_addr);
    bool ok = false;
    for (int tries = 0; tries < 5 && !ok; tries++) {
        sendto(fd, "ping", 4, 0, (struct sockaddr *)&g, sizeof(g));
        struct pollfd p = { fd, POLLIN, 0 };
        char buf[16];
        ok = poll(&p, 1, 1000) == 1 && recv(fd, buf, sizeof(buf), 0) == 4 && !memcmp(buf, "ping", 4);
    }
    close(fd);
    return ok;
}

/* a domain running the guest kit's net test on `iface` */
static char *net_domain_test(Vmmd *v, const char *name, const char *iface, const char *test)
{
    Dom d = { .name = name, .cmdline = test };
    g_autofree char *xml = domain_xml(v, &d);
    GString *s = g_string_new(xml);
    char *at = strstr(s->str, "</devices>");
    g_string_insert(s, at - s->str, iface);
    return g_string_free(s, FALSE);
}

static char *net_domain(Vmmd *v, const char *name, const char *iface)
{
    return net_domain_test(v, name, iface, "test=net");
}

static void define_xml(VmmProtoSync *s, const char *xml)
{
    json_object *r = call_ok(s, "domain-define", define_args(xml));
    json_object_put(r);
}

/* defines `xml` and starts it, which must fail: the error's text */
static char *start_refused(VmmProtoSync *s, const char *name, const char *xml)
{
    define_xml(s, xml);
    char *msg = call_err(s, "domain-start", name_args(name), VMM_PROTO_GENERIC_ERROR);
    g_test_message("%s", msg);
    return msg;
}

/* model: the <model> element; test: the guest kit's test serving the
 * interface the way test=net does */
static void bridge_lifecycle(const char *model, const char *test)
{
    if (!ready())
        return;
    g_autofree char *br = harness_sh_out("ip link add br7 type bridge && ip addr add 10.0.0.1/24 dev br7 "
                                 "&& ip link set br7 up && echo ok");
    g_assert_nonnull(strstr(br, "ok"));
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    g_autofree char *iface = g_strdup_printf("<interface type='bridge'>"
                                             "<mac address='52:54:00:00:00:07'/>"
                                             "<source bridge='br7'/>%s<mtu size='1400'/>"
                                             "</interface>", model);
    g_autofree char *xml = net_domain_test(&v, "n1", iface, test);
    define_xml(s, xml);
    domain_op(s, "domain-start", "n1");
    wait_running(s, "n1");
    g_autofree char *on = harness_sh_out("ip -o link show master br7");
    g_test_message("on br7: %s", on);
    g_assert_nonnull(strstr(on, "vnet"));
    g_assert_nonnull(strstr(on, "mtu 1400"));
    g_autofree char *serial = serial_path(&v, "n1");
    wait_serial(serial, "\"net_ready\"", 1);
    /* domif-setlink by MAC: the guest sees the carrier go and come back */
    json_object *a = name_args("n1");
    json_object_object_add(a, "interface", json_object_new_string("52:54:00:00:00:07"));
    json_object_object_add(a, "state", json_object_new_string("down"));
    json_object_put(call_ok(s, "domain-interface-set-link", a));
    wait_serial(serial, "\"net_link\",\"up\":false", 1);
    a = name_args("n1");
    json_object_object_add(a, "interface", json_object_new_string("vnet0"));
    json_object *st = call_ok(s, "domain-interface-get-link", a);
    g_assert_cmpstr(get_str(st, "state"), ==, "down");
    json_object_put(st);
    a = name_args("n1");
    json_object_object_add(a, "interface", json_object_new_string("vnet0"));
    json_object_object_add(a, "state", json_object_new_string("up"));
    json_object_put(call_ok(s, "domain-interface-set-link", a));
    wait_serial(serial, "\"net_link\",\"up\":true", 1);
    a = name_args("n1");
    json_object_object_add(a, "interface", json_object_new_string("nosuch0"));
    json_object_object_add(a, "state", json_object_new_string("up"));
    g_free(call_err(s, "domain-interface-set-link", a, VMM_PROTO_INVALID_ARGUMENT));
    /* traffic for the counters: a UDP echo through the bridge */
    g_assert_true(udp_echo_ok());
    /* virsh's net.N.* statistics */
    json_object *sa = json_object_new_object();
    json_object *names = json_object_new_array();
    json_object_array_add(names, json_object_new_string("n1"));
    json_object_object_add(sa, "names", names);
    json_object *stats = call_ok(s, "domain-stats", sa);
    g_test_message("stats: %s", json_object_to_json_string(stats));
    json_object *st0 = get(json_object_array_get_idx(stats, 0), "stats");
    g_assert_nonnull(st0);
    g_assert_cmpint(json_object_get_int(get(st0, "net.count")), ==, 1);
    g_assert_cmpstr(get_str(st0, "net.0.name"), ==, "vnet0");
    static const char *const keys[] = { "rx.bytes", "rx.pkts", "rx.errs", "rx.drop",
                                        "tx.bytes", "tx.pkts", "tx.errs", "tx.drop" };
    for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
        g_autofree char *key = g_strdup_printf("net.0.%s", keys[k]);
        g_assert_nonnull(get(st0, key));
    }
    /* the UDP exchange above: one datagram each way at least */
    g_assert_cmpint(json_object_get_int64(get(st0, "net.0.rx.pkts")), >=, 1);
    g_assert_cmpint(json_object_get_int64(get(st0, "net.0.tx.pkts")), >=, 1);
    g_assert_cmpint(json_object_get_int64(get(st0, "net.0.rx.errs")), ==, 0);
    json_object_put(stats);
    domain_op(s, "domain-destroy", "n1");
    g_autofree char *state = domain_state(s, "n1");
    g_assert_cmpstr(state, ==, "shutoff");
    /* the worker held the tap's only fds: it is gone with it */
    g_autofree char *after = harness_sh_out("ip -o link show master br7");
    g_assert_null(strstr(after, "vnet"));
    vmmd_cleanup(&v);
    g_free(harness_sh_out("ip link del br7"));
}

static void test_bridge_lifecycle(void)
{
    bridge_lifecycle("", "test=net");
}

/* the same for the emulated e1000: host side, link changes (STATUS.LU,
 * LSC) and virsh's statistics */
static void test_bridge_lifecycle_e1000(void)
{
    bridge_lifecycle("<model type='e1000'/>", "test=e1000");
}

static void test_missing_bridge(void)
{
    if (!ready())
        return;
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    g_autofree char *xml = net_domain(&v, "n2", "<interface type='bridge'>"
                                      "<source bridge='nosuchbr'/></interface>");
    g_autofree char *msg = start_refused(s, "n2", xml);
    g_assert_nonnull(strstr(msg, "interface 0"));
    g_assert_nonnull(strstr(msg, "nosuchbr"));
    g_assert_cmpuint(count_workers(&v, "n2"), ==, 0);
    g_autofree char *links = harness_sh_out("ip -o link show");
    g_assert_null(strstr(links, "vnet"));
    g_autofree char *state = domain_state(s, "n2");
    g_assert_cmpstr(state, ==, "shutoff");
    vmmd_cleanup(&v);
}

static void test_missing_passt(void)
{
    if (!ready())
        return;
    Vmmd v;
    vmmd_init(&v);
    static const char *const env[] = { "VMM_PASST", "/nonexistent/passt", NULL };
    vmmd_start_env(&v, env);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    g_autofree char *xml = net_domain(&v, "n3", "<interface type='user'/>");
    g_autofree char *msg = start_refused(s, "n3", xml);
    g_assert_nonnull(strstr(msg, "interface 0"));
    g_assert_nonnull(strstr(msg, "passt"));
    g_assert_nonnull(strstr(msg, "not found"));
    g_assert_cmpuint(count_workers(&v, "n3"), ==, 0);
    vmmd_cleanup(&v);
}

/* testpmd (client: it connects to us), and a vhost-user domain `name` on
 * its socket in `mode`, started until the guest's net is ready; NULL when
 * testpmd did not come up (SKIPped or failed). Returns the serial path. */
static char *vhost_user_net_ready(VmmProtoSync *s, Vmmd *v, HarnessTestpmd *t,
                                  const char *name, const char *mac, const char *mode)
{
    if (!harness_testpmd_start(t, 1, !strcmp(mode, "server"))) {
        harness_testpmd_stop(t);
        return NULL;
    }
    g_autofree char *iface = g_strdup_printf("<interface type='vhostuser'>"
                                             "<mac address='%s'/>"
                                             "<source type='unix' path='%s' mode='%s'/>"
                                             "<model type='virtio'/></interface>", mac, t->sock,
                                             mode);
    g_autofree char *xml = net_domain(v, name, iface);
    define_xml(s, xml);
    domain_op(s, "domain-start", name);
    wait_running(s, name);
    char *serial = serial_path(v, name);
    wait_serial(serial, "\"net_ready\"", 1);
    return serial;
}

/* A vhostuser interface under vmmd: the daemon connects to testpmd and
 * hands the socket over, domif-setlink reaches the guest, the
 * interface is in the statistics; a missing socket refuses the start in
 * one line with no worker left. */
static void test_vhost_user(void)
{
    if (!ready())
        return;
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    g_autofree char *missing = net_domain(&v, "n5", "<interface type='vhostuser'>"
                                          "<source type='unix' path='/nonexistent/vu.sock' "
                                          "mode='client'/><model type='virtio'/></interface>");
    g_autofree char *msg = start_refused(s, "n5", missing);
    g_assert_nonnull(strstr(msg, "interface 0: vhost-user socket /nonexistent/vu.sock: No such"));
    g_assert_null(strchr(msg, '\n'));
    g_assert_cmpuint(count_workers(&v, "n5"), ==, 0);

    HarnessTestpmd t = { 0 };
    g_autofree char *serial = vhost_user_net_ready(s, &v, &t, "n4", "52:54:00:00:00:09",
                                                   "client");
    if (!serial) {
        vmmd_cleanup(&v);
        return;
    }
    json_object *a = name_args("n4");
    json_object_object_add(a, "interface", json_object_new_string("52:54:00:00:00:09"));
    json_object_object_add(a, "state", json_object_new_string("down"));
    json_object_put(call_ok(s, "domain-interface-set-link", a));
    wait_serial(serial, "\"net_link\",\"up\":false", 1);
    a = name_args("n4");
    json_object_object_add(a, "interface", json_object_new_string("52:54:00:00:00:09"));
    json_object_object_add(a, "state", json_object_new_string("up"));
    json_object_put(call_ok(s, "domain-interface-set-link", a));
    wait_serial(serial, "\"net_link\",\"up\":true", 1);
    json_object *sa = json_object_new_object();
    json_object *names = json_object_new_array();
    json_object_array_add(names, json_object_new_string("n4"));
    json_object_object_add(sa, "names", names);
    json_object *stats = call_ok(s, "domain-stats", sa);
    g_test_message("stats: %s", json_object_to_json_string(stats));
    json_object *st0 = get(json_object_array_get_idx(stats, 0), "stats");
    g_assert_cmpint(json_object_get_int(get(st0, "net.count")), ==, 1);
    json_object_put(stats);
    domain_op(s, "domain-destroy", "n4");
    g_autofree char *state = domain_state(s, "n4");
    g_assert_cmpstr(state, ==, "shutoff");
    harness_testpmd_stop(&t);

    /* mode='server': the daemon listens and hands the listening socket
     * over; the confined worker accepts testpmd on it */
    HarnessTestpmd tc = { 0 };
    g_autofree char *sserial = vhost_user_net_ready(s, &v, &tc, "n6", "52:54:00:00:00:0a",
                                                    "server");
    if (sserial) {
        g_assert_true(g_file_test(tc.sock, G_FILE_TEST_EXISTS));
        domain_op(s, "domain-destroy", "n6");
        g_autofree char *sstate = domain_state(s, "n6");
        g_assert_cmpstr(sstate, ==, "shutoff");
        /* the socket file vmmd listened on goes with the domain */
        if (g_file_test(tc.sock, G_FILE_TEST_EXISTS))
            g_error("%s is left behind after the domain stopped", tc.sock);
        harness_testpmd_stop(&tc);
    }
    vmmd_cleanup(&v);
}

static void skip_no_netns(void)
{
    g_test_skip("cannot make a network namespace (needs root)");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGABRT, on_abort);
    if (unshare(CLONE_NEWNET) == 0) {
        g_free(harness_sh_out("ip link set lo up"));
        g_test_add_func("/daemon-net/bridge-lifecycle", test_bridge_lifecycle);
        g_test_add_func("/daemon-net/bridge-lifecycle-e1000", test_bridge_lifecycle_e1000);
        g_test_add_func("/daemon-net/missing-bridge", test_missing_bridge);
        g_test_add_func("/daemon-net/missing-passt", test_missing_passt);
        g_test_add_func("/daemon-net/vhost-user", test_vhost_user);
    } else {
        g_test_add_func("/daemon-net/netns", skip_no_netns);
    }
    return g_test_run();
}
