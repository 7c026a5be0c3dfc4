/* virtio-net end to end: the real vmm-worker runs the guest kit's network
 * tests against taps, bridges and passt made here. Everything but the passt
 * case runs in a network namespace of this process's own (unshare), so the
 * host's network is never touched and every tap and bridge dies with it.
 *
 * The host side talks to the guest with ordinary sockets: UDP to the guest
 * kit's echo port, ARP through the kernel's neighbour table. vhost-user
 * interfaces talk to DPDK's dpdk-testpmd, a real vhost-user back end
 * (SKIP without it); the kernel's vhost-net is tested where
 * /dev/vhost-net exists (SKIP with the reason elsewhere). */
#include "harness.h"
#include "net-helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char *domain(const char *iface_xml, const char *cmdline, unsigned vcpus)
{
    g_autofree char *dir = harness_tmpdir();
    HarnessDomain d = { .name = "net", .cmdline = cmdline, .extra_devices = iface_xml,
                        .vcpus = vcpus };
    return harness_write_domain(dir, &d);
}

/* ---- one tap, the basics ----------------------------------------------------- */

typedef struct {
    const char *tap;
    bool ran;
    unsigned sizes_ok, sizes_tried;
    char *neigh_mac;
    unsigned flows;          /* distinct source ports (multiqueue) */
} Basic;

static gboolean basic_on_line(const char *line, GPid pid, void *opaque)
{
    Basic *b = opaque;
    if (!strstr(line, "\"net_ready\"") || b->ran)
        return TRUE;
    b->ran = true;
    echo_sizes(&b->sizes_ok, &b->sizes_tried);
    /* more flows: each its own source port (a multi-queue tap spreads them) */
    for (unsigned f = 0; f < b->flows; f++) {
        int fs = udp_socket();
        for (int k = 0; k < 4; k++)
            echo(fs, 32, (uint8_t)k);
        close(fs);
    }
    g_autofree char *cmd = g_strdup_printf("ip neigh show " GUEST_IP " dev %s", b->tap);
    b->neigh_mac = harness_sh_out(cmd);
    kill(pid, SIGTERM);   /* the power button: the guest reports and stops */
    return TRUE;
}

static void test_tap_basic(void)
{
    if (!need_kvm_and_ns())
        return;
    g_assert_true(sh("ip tuntap add gkt0 mode tap && ip addr add " HOST_IP "/24 dev gkt0 && "
                     "ip link set gkt0 up"));
    g_autofree char *xml = domain("<interface type='ethernet'><mac address='" GUEST_MAC "'/>"
                                  "<target dev='gkt0' managed='no'/><model type='virtio'/>"
                                  "</interface>",
                                  "test=net", 1);
    Basic b = { .tap = "gkt0" };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, basic_on_line, &b);
    harness_assert_clean_stderr(r);
    g_assert_true(b.ran);
    json_object *init = find_check(r, "net_init");
    g_assert_nonnull(init);
    g_assert_true(jbool(init, "ok"));
    g_assert_true(jbool(init, "link_up"));
    g_assert_cmpstr(json_object_get_string(json_object_object_get(init, "mac")), ==, GUEST_MAC);
    g_assert_cmpuint(b.sizes_ok, ==, b.sizes_tried);
    /* the host learnt the guest's address from its ARP reply */
    g_assert_nonnull(strstr(b.neigh_mac, GUEST_MAC));
    json_object *served = find_check(r, "net_served");
    g_assert_nonnull(served);
    g_assert_true(jbool(served, "ok"));
    g_assert_cmpint(jint(served, "udp"), >=, (int64_t)b.sizes_tried);
    g_assert_cmpint(jint(served, "arp"), >=, 1);
    g_free(b.neigh_mac);
    /* managed='no': the tap is ours and stays */
    g_assert_true(sh("ip link show gkt0"));
    g_assert_true(sh("ip link del gkt0"));
}

/* type='bridge': vmm-worker creates vnetN on the bridge, with the MTU, and
 * it is gone when the worker is */
typedef struct {
    char *links;
} BridgeSeen;

static gboolean bridge_on_line(const char *line, GPid pid, void *opaque)
{
    BridgeSeen *b = opaque;
    if (strstr(line, "\"net_ready\"") && !b->links) {
        b->links = harness_sh_out("ip -o link show master br0");
        kill(pid, SIGTERM);
    }
    return TRUE;
}

static void test_bridge(void)
{
    if (!need_kvm_and_ns())
        return;
    g_assert_true(sh("ip link add br0 type bridge && ip link set br0 up"));
    g_autofree char *xml = domain("<interface type='bridge'><source bridge='br0'/>"
                                  "<mtu size='1400'/></interface>",
                                  "test=net", 1);
    BridgeSeen b = { 0 };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, bridge_on_line, &b);
    harness_assert_clean_stderr(r);
    g_assert_nonnull(b.links);
    g_test_message("on br0: %s", b.links);
    g_assert_nonnull(strstr(b.links, "vnet0"));
    g_assert_nonnull(strstr(b.links, "mtu 1400"));
    json_object *init = find_check(r, "net_init");
    g_assert_nonnull(init);
    g_assert_cmpint(jint(init, "mtu"), ==, 1400);
    g_free(b.links);
    g_autofree char *after = harness_sh_out("ip -o link show vnet0 2>&1");
    g_assert_null(strstr(after, "vnet0:"));
    g_assert_true(sh("ip link del br0"));
}

/* two guests on one bridge reach each other: B runs test=net (ARP and UDP
 * echo), A (started from B's net_ready, while B serves) sends count
 * datagrams to B's echo port and reports how many came back. Only br1 joins
 * them: the host has no address there. */
#define PEER_COUNT 16

static char *two_vm_xml(const char *bridge, const char *mac, const char *cmdline)
{
    g_autofree char *iface = g_strdup_printf("<interface type='bridge'><source bridge='%s'/>"
                                             "<mac address='%s'/><model type='virtio'/>"
                                             "</interface>",
                                             bridge, mac);
    return domain(iface, cmdline, 1);
}

typedef struct {
    const char *a_bridge;
    HarnessRun *a;
    char *links;             /* br1's ports at A's net_ready, B serving */
} TwoVms;

static gboolean two_vms_a_on_line(const char *line, GPid pid, void *opaque)
{
    TwoVms *t = opaque;
    (void)pid;
    if (strstr(line, "\"net_ready\"") && !t->links)
        t->links = harness_sh_out("ip -o link show master br1");
    return TRUE;
}

static gboolean two_vms_b_on_line(const char *line, GPid pid, void *opaque)
{
    TwoVms *t = opaque;
    if (!strstr(line, "\"net_ready\"") || t->a)
        return TRUE;
    /* A runs to its end here, B serving meanwhile: harness_run_worker
     * waits on a main context of its own */
    g_autofree char *xml = two_vm_xml(t->a_bridge, "52:54:00:00:00:0a",
                                      "test=net-peer ip=10.0.0.2 peer=10.0.0.3 count="
                                      G_STRINGIFY(PEER_COUNT));
    t->a = harness_run_worker(xml, NULL, TIMEOUT, two_vms_a_on_line, t);
    kill(pid, SIGTERM);   /* B's power button: it reports what it served */
    return TRUE;
}

static void test_two_vms(void)
{
    if (!need_kvm_and_ns())
        return;
    g_assert_true(sh("ip link add br1 type bridge && ip link set br1 up"));
    g_autofree char *xml = two_vm_xml("br1", "52:54:00:00:00:0b", "test=net ip=10.0.0.3");
    TwoVms t = { .a_bridge = "br1" };
    g_autoptr(HarnessRun) b = harness_run_worker(xml, NULL, TIMEOUT, two_vms_b_on_line, &t);
    harness_assert_clean_stderr(b);
    g_assert_nonnull(t.a);
    harness_assert_clean_stderr(t.a);
    g_test_message("on br1: %s", t.links ? t.links : "(A reported nothing)");
    json_object *peer = find_check(t.a, "net_udp_peer");
    g_assert_nonnull(peer);
    g_test_message("A: %s", json_object_to_json_string(peer));
    g_assert_cmpint(jint(peer, "sent"), ==, PEER_COUNT);
    g_assert_cmpint(jint(peer, "echoed"), ==, PEER_COUNT);
    g_assert_true(jbool(peer, "ok"));
    /* B saw them: its own count, not just A's word */
    json_object *served = find_check(b, "net_served");
    g_assert_nonnull(served);
    g_test_message("B: %s", json_object_to_json_string(served));
    g_assert_cmpint(jint(served, "udp"), >=, PEER_COUNT);
    g_assert_cmpint(jint(served, "arp"), >=, 1);
    /* both taps were ports of br1 */
    g_assert_nonnull(t.links);
    g_assert_nonnull(strstr(t.links, "vnet0"));
    g_assert_nonnull(strstr(t.links, "vnet1"));
    harness_run_free(t.a);
    g_free(t.links);
    g_assert_true(sh("ip link del br1"));
}

/* queues='4': four tap queues, four queue pairs, traffic on every one */
static void test_multiqueue(void)
{
    if (!need_kvm_and_ns())
        return;
    g_assert_true(sh("ip tuntap add gkt4 mode tap multi_queue && "
                     "ip addr add " HOST_IP "/24 dev gkt4 && ip link set gkt4 up"));
    g_autofree char *xml = domain("<interface type='ethernet'><mac address='" GUEST_MAC "'/>"
                                  "<target dev='gkt4' managed='no'/>"
                                  "<driver name='qemu' queues='4'/></interface>",
                                  "test=net pairs=4", 1);
    Basic b = { .tap = "gkt4", .flows = 48 };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, basic_on_line, &b);
    harness_assert_clean_stderr(r);
    json_object *init = find_check(r, "net_init");
    g_assert_nonnull(init);
    g_assert_cmpint(jint(init, "pairs"), ==, 4);
    json_object *served = find_check(r, "net_served");
    g_assert_nonnull(served);
    json_object *rxq = json_object_object_get(served, "rx_queues");
    g_assert_nonnull(rxq);
    g_assert_cmpuint(json_object_array_length(rxq), ==, 4);
    for (size_t i = 0; i < 4; i++) {
        int64_t n = json_object_get_int64(json_object_array_get_idx(rxq, i));
        g_test_message("rx queue %zu: %" G_GINT64_FORMAT " frames", i, n);
        g_assert_cmpint(n, >, 0);
    }
    g_free(b.neigh_mac);
    g_assert_true(sh("ip link del gkt4"));
}

/* <link state='down'/>: the guest sees no carrier */
static void test_link_down(void)
{
    if (!need_kvm_and_ns())
        return;
    g_autofree char *xml = domain("<interface type='ethernet'><link state='down'/></interface>",
                                  "test=net timeout=1", 1);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r);
    json_object *init = find_check(r, "net_init");
    g_assert_nonnull(init);
    g_assert_true(jbool(init, "ok"));
    g_assert_false(jbool(init, "link_up"));
}

/* Every failure is one line naming the interface and the cause; nothing
 * is left behind. */
static void expect_refusal(const char *iface, const char *const *env_extra, const char *want)
{
    g_autofree char *xml = domain(iface, "test=net timeout=1", 1);
    for (const char *const *e = env_extra; e && *e; e += 2)
        g_setenv(e[0], e[1], TRUE);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    for (const char *const *e = env_extra; e && *e; e += 2)
        g_unsetenv(e[0]);
    g_test_message("stderr: %s", r->err);
    g_assert_cmpint(r->exit_status, !=, 0);
    g_assert_nonnull(strstr(r->err, "interface 0"));
    g_assert_nonnull(strstr(r->err, want));
    g_assert_cmpuint(harness_find(r, "check", "net_init")->len, ==, 0);
}

static void test_refusals(void)
{
    if (!need_kvm_and_ns())
        return;
    expect_refusal("<interface type='bridge'><source bridge='nosuchbr'/></interface>", NULL,
                   "no such bridge");
    g_autofree char *left = harness_sh_out("ip -o link show");
    g_assert_null(strstr(left, "vnet"));
    /* a tap another process holds (single queue: one owner) */
    g_assert_true(sh("ip tuntap add busy0 mode tap"));
    int holder = -1;
    {
        /* hold it open as the kernel's only queue */
        holder = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        g_assert_cmpint(holder, >=, 0);
        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
        g_strlcpy(ifr.ifr_name, "busy0", IFNAMSIZ);
        g_assert_cmpint(ioctl(holder, TUNSETIFF, &ifr), ==, 0);
    }
    expect_refusal("<interface type='ethernet'><target dev='busy0' managed='no'/></interface>",
                   NULL, "busy");
    close(holder);
    g_assert_true(sh("ip link del busy0"));
    static const char *const no_passt[] = { "VMM_PASST", "/nonexistent/passt", NULL };
    expect_refusal("<interface type='user'/>", no_passt, "not found");
}

/* passt: the guest gets its lease by DHCP and reaches a host service */
static void test_passt(void)
{
    /* passt maps the guest's gateway address to the host itself */
    g_autofree char *gw = passt_gateway();
    if (!gw)
        return;
    UdpEcho u;
    udp_echo_start(&u);
    g_autofree char *cmd = g_strdup_printf("test=net-dhcp peer=%s:%u", gw, u.port);
    g_autofree char *xml = domain("<interface type='user'><backend type='passt'/></interface>",
                                  cmd, 1);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r);
    g_assert_cmpint(r->exit_status, ==, 0);
    json_object *lease = find_check(r, "net_dhcp");
    g_assert_nonnull(lease);
    g_assert_true(jbool(lease, "ok"));
    json_object *peer = find_check(r, "net_udp_peer");
    g_assert_nonnull(peer);
    g_assert_true(jbool(peer, "ok"));
    udp_echo_join(&u);
    /* passt exits with the worker (--one-off) */
    g_autofree char *left = harness_sh_out("pgrep -x passt.avx2; pgrep -x passt");
    g_test_message("passt processes left: '%s'", left);
}

/* ---- vhost back ends -------------------------------------------------------- */

/* SKIPs without /dev/kvm or testpmd; a testpmd that does not come up
 * fails the test */
static bool kvm_and_testpmd(HarnessTestpmd *t, unsigned queues, bool client)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_skip("/dev/kvm is not usable here");
        return false;
    }
    if (!harness_testpmd_start(t, queues, client)) {
        harness_testpmd_stop(t);
        return false;
    }
    return true;
}

static char *vhostuser_iface_mode(const char *sock, unsigned queues, const char *mode)
{
    return g_strdup_printf("<interface type='vhostuser'><mac address='" GUEST_MAC "'/>"
                           "<source type='unix' path='%s' mode='%s'/>"
                           "<model type='virtio'/><driver queues='%u'/></interface>",
                           sock, mode, queues);
}

static char *vhostuser_iface(const char *sock, unsigned queues)
{
    return vhostuser_iface_mode(sock, queues, "client");
}

/* Frames of every size up to the MTU on every queue pair through testpmd:
 * each must come back whole on its own pair. server: vmm-worker listens,
 * testpmd connects. */
static void vhost_user_reflect(unsigned queues, bool server)
{
    HarnessTestpmd t = { 0 };
    if (!kvm_and_testpmd(&t, queues, server))
        return;
    g_autofree char *iface = vhostuser_iface_mode(t.sock, queues, server ? "server" : "client");
    g_autofree char *cmd = g_strdup_printf("test=net-reflect pairs=%u", queues);
    g_autofree char *xml = domain(iface, cmd, 1);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    harness_testpmd_stop(&t);
    harness_assert_clean_stderr(r);
    g_test_message("stderr: %s", r->err);
    json_object *init = find_check(r, "net_init");
    g_assert_nonnull(init);
    g_assert_true(jbool(init, "ok"));
    g_assert_true(jbool(init, "link_up"));
    g_assert_cmpstr(json_object_get_string(json_object_object_get(init, "mac")), ==, GUEST_MAC);
    g_assert_cmpint(jint(init, "pairs"), ==, queues);
    /* the offer is the intersection: DPDK's vhost PMD leaves out TSO
     * unless given tso=1, and a tap offers it (test_tap_basic's device) */
    uint64_t offered = g_ascii_strtoull(
        json_object_get_string(json_object_object_get(init, "offered")), NULL, 16);
    g_test_message("offered 0x%" G_GINT64_MODIFIER "x", offered);
    g_assert_cmphex(offered & (1ULL << 11), ==, 0);              /* HOST_TSO4 */
    g_assert_cmphex(offered & (1ULL << 15), !=, 0);              /* MRG_RXBUF */
    g_assert_cmphex(offered & (1ULL << 22), ==, queues > 1 ? (1ULL << 22) : 0);   /* MQ */
    json_object *rf = find_check(r, "net_reflect");
    g_assert_nonnull(rf);
    g_test_message("%s", json_object_to_json_string(rf));
    g_assert_true(jbool(rf, "ok"));
    g_assert_cmpint(jint(rf, "biggest"), ==, 1514);   /* a full 1500-byte MTU frame */
    json_object *rxq = json_object_object_get(rf, "rx_queues");
    g_assert_cmpuint(json_object_array_length(rxq), ==, queues);
    for (size_t i = 0; i < queues; i++)
        g_assert_cmpint(json_object_get_int64(json_object_array_get_idx(rxq, i)), >, 0);
    g_assert_cmpint(r->exit_status, ==, 0);
}

static void test_vhost_user(void)
{
    vhost_user_reflect(1, false);
}

static void test_vhost_user_mq(void)
{
    vhost_user_reflect(4, false);
}

static void test_vhost_user_server(void)
{
    vhost_user_reflect(2, true);
}

/* <link state='down'/>: the guest sees no carrier and the back end moves
 * no frames (its rings are disabled) */
static void test_vhost_user_link_down(void)
{
    HarnessTestpmd t = { 0 };
    if (!kvm_and_testpmd(&t, 1, false))
        return;
    g_autofree char *sock = g_strdup(t.sock);
    g_autofree char *iface = g_strdup_printf(
        "<interface type='vhostuser'><source type='unix' path='%s' mode='client'/>"
        "<model type='virtio'/><link state='down'/></interface>", sock);
    g_autofree char *xml = domain(iface, "test=net-reflect count=1", 1);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    harness_testpmd_stop(&t);
    harness_assert_clean_stderr(r);
    json_object *init = find_check(r, "net_init");
    g_assert_nonnull(init);
    g_assert_false(jbool(init, "link_up"));
    json_object *rf = find_check(r, "net_reflect");
    g_assert_nonnull(rf);
    g_test_message("%s", json_object_to_json_string(rf));
    g_assert_cmpint(jint(rf, "back"), ==, 0);
    g_assert_cmpint(jint(rf, "lost"), >, 0);
}

/* Refusals: one line naming the interface and the cause, no worker left
 * (harness_run_worker reaps it). */
static void test_vhost_user_refusals(void)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_skip("/dev/kvm is not usable here");
        return;
    }
    g_autofree char *tmp = harness_tmpdir();
    g_autofree char *dir = g_canonicalize_filename(tmp, NULL);
    g_autofree char *missing = g_build_filename(dir, "nobody-listens.sock", NULL);
    g_autofree char *iface = vhostuser_iface(missing, 1);
    expect_refusal(iface, NULL, "No such file or directory");
    /* a socket path that is no socket */
    g_autofree char *plain = g_build_filename(dir, "plain-file", NULL);
    g_assert_true(g_file_set_contents(plain, "", 0, NULL));
    g_autofree char *iface2 = vhostuser_iface(plain, 1);
    expect_refusal(iface2, NULL, "not a unix socket");
    /* (more pairs than the back end serves is refused too, but testpmd
     * answers GET_QUEUE_NUM with its maximum, not its configured count) */
}

/* The back end goes away under a running guest: the device needs a reset
 * (one log line), the worker and the guest keep running to the end. */
typedef struct {
    HarnessTestpmd *t;
    bool killed;
} Hangup;

static gboolean hangup_on_line(const char *line, GPid pid, void *opaque)
{
    Hangup *h = opaque;
    (void)pid;
    if (strstr(line, "\"net_ready\"") && !h->killed) {
        h->killed = true;
        kill(h->t->pid, SIGKILL);
    }
    return TRUE;
}

static void test_vhost_user_hangup(void)
{
    HarnessTestpmd t = { 0 };
    if (!kvm_and_testpmd(&t, 1, false))
        return;
    g_autofree char *iface = vhostuser_iface(t.sock, 1);
    g_autofree char *xml = domain(iface, "test=net timeout=3", 1);
    Hangup h = { &t, false };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, hangup_on_line, &h);
    harness_testpmd_stop(&t);
    harness_assert_clean_stderr(r);
    g_test_message("stderr: %s", r->err);
    g_assert_true(h.killed);
    g_assert_nonnull(strstr(r->err, "back end failed, it needs a reset"));
    g_assert_nonnull(strstr(r->err, "hung up"));
    /* the guest ran to its end: the worker was not taken down */
    g_assert_nonnull(find_check(r, "net_served"));
    g_assert_nonnull(r->done);
    g_assert_cmpint(r->exit_status, ==, 0);
}

/* The kernel's vhost-net: the guest kit's UDP echo over a tap with
 * <driver name='vhost'>. Where /dev/vhost-net is missing: SKIP, but the
 * refusal of name='vhost' and the logged fallback without a name are
 * checked. */
static void test_vhost_net(void)
{
    if (!need_kvm_and_ns())
        return;
    if (access("/dev/vhost-net", R_OK | W_OK) == 0) {
        g_assert_true(sh("ip tuntap add gkv0 mode tap vnet_hdr && "
                         "ip addr add " HOST_IP "/24 dev gkv0 && ip link set gkv0 up"));
        g_autofree char *xml = domain("<interface type='ethernet'><mac address='" GUEST_MAC "'/>"
                                      "<target dev='gkv0' managed='no'/><model type='virtio'/>"
                                      "<driver name='vhost'/></interface>", "test=net", 1);
        Basic b = { .tap = "gkv0" };
        g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, basic_on_line, &b);
        harness_assert_clean_stderr(r);
        g_assert_true(b.ran);
        g_assert_cmpuint(b.sizes_ok, ==, b.sizes_tried);
        g_free(b.neigh_mac);
        g_assert_true(sh("ip link del gkv0"));
        return;
    }
    expect_refusal("<interface type='ethernet'><driver name='vhost'/></interface>", NULL,
                   "needs the kernel's vhost-net: vhost-net vnet0: cannot open /dev/vhost-net");
    g_autofree char *left = harness_sh_out("ip -o link show");
    g_assert_null(strstr(left, "vnet"));
    g_autofree char *xml = domain("<interface type='ethernet'/>", "test=net timeout=1", 1);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_assert_nonnull(strstr(r->err, "/dev/vhost-net"));
    g_assert_nonnull(strstr(r->err, "using vmm-worker's userspace back end"));
    g_test_skip("no /dev/vhost-net on this host (the kernel has no vhost_net): the refusal "
                "and the fallback were checked, the vhost-net data path was not");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* passt first: the others move the process into its own namespace */
    g_test_add_func("/net/passt", test_passt);
    g_test_add_func("/net/tap-basic", test_tap_basic);
    g_test_add_func("/net/bridge", test_bridge);
    g_test_add_func("/net/two-vms", test_two_vms);
    g_test_add_func("/net/multiqueue", test_multiqueue);
    g_test_add_func("/net/link-down", test_link_down);
    g_test_add_func("/net/refusals", test_refusals);
    g_test_add_func("/net/vhost-user", test_vhost_user);
    g_test_add_func("/net/vhost-user-mq", test_vhost_user_mq);
    g_test_add_func("/net/vhost-user-server", test_vhost_user_server);
    g_test_add_func("/net/vhost-user-link-down", test_vhost_user_link_down);
    g_test_add_func("/net/vhost-user-refusals", test_vhost_user_refusals);
    g_test_add_func("/net/vhost-user-hangup", test_vhost_user_hangup);
    g_test_add_func("/net/vhost-net", test_vhost_net);
    return g_test_run();
}
