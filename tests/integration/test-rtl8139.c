/* The rtl8139 NIC end to end: the real vmm-worker boots the guest kit's
 * test=rtl8139 on <model type='rtl8139'/> over a tap, a bridge and passt,
 * in both of the chip's modes (C+ as Linux's 8139cp drives it, classic as
 * 8139too does). Taps and bridges live in a network namespace of this
 * process's own.
 *
 * The host side talks to the guest with ordinary tools: UDP to the guest
 * kit's echo port at every payload size, ping, the kernel's neighbour
 * table (the host's stack drops frames whose offloaded checksums are
 * wrong); the guest checks the device itself (EEPROM, PHY, INTx, hostile
 * rings and buffers with a reset after each, receive checksum bits). */
#include "harness.h"
#include "net-helpers.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *domain(const char *iface_xml, const char *cmdline)
{
    g_autofree char *dir = harness_tmpdir();
    HarnessDomain d = { .name = "rtl8139", .cmdline = cmdline, .extra_devices = iface_xml };
    return harness_write_domain(dir, &d);
}

static void check_served(HarnessRun *r, Serve *s, bool cplus)
{
    assert_check_ok(r, "rtl8139_init");
    assert_check_ok(r, "rtl8139_intx");
    json_object *init = find_check(r, "rtl8139_init");
    g_assert_cmpstr(json_object_get_string(json_object_object_get(init, "mac")), ==, GUEST_MAC);
    assert_served(r, s);
    if (cplus)
        assert_check_ok(r, "rtl8139_csum");
}

static void check_hostile(HarnessRun *r, guint cases)
{
    g_autoptr(GPtrArray) hostile = harness_find(r, "check", "rtl8139_hostile");
    g_assert_cmpuint(hostile->len, ==, cases);
    for (guint i = 0; i < hostile->len; i++) {
        json_object *c = g_ptr_array_index(hostile, i);
        if (!jbool(c, "ok"))
            g_test_message("rtl8139_hostile: %s", json_object_to_json_string(c));
        g_assert_true(jbool(c, "ok"));
    }
}

/* An existing tap (managed='no'), C+ mode; the hostile sequences first,
 * each followed by a reset, so everything after them also shows the
 * device came back. */
static void test_tap_cplus(void)
{
    if (!need_kvm_and_ns())
        return;
    g_assert_true(sh("ip tuntap add gkr0 mode tap && ip addr add " HOST_IP "/24 dev gkr0 && "
                     "ip link set gkr0 up"));
    g_autofree char *xml = domain("<interface type='ethernet'><mac address='" GUEST_MAC "'/>"
                                  "<target dev='gkr0' managed='no'/><model type='rtl8139'/>"
                                  "</interface>",
                                  "test=rtl8139 rtlmode=cplus hostile=1");
    Serve s = { .dev = "gkr0" };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, serve_on_line, &s);
    harness_assert_clean_stderr(r);
    check_hostile(r, 8);
    /* the guest's mistakes were logged, once per kind, naming the device */
    g_assert_nonnull(strstr(r->err, "rtl8139 gkr0: transmit descriptor 0 at 0xffff0000"));
    check_served(r, &s, true);
    g_assert_true(sh("ip link del gkr0"));
}

/* The same tap in classic mode (8139too's receive ring buffer) */
static void test_tap_classic(void)
{
    if (!need_kvm_and_ns())
        return;
    g_assert_true(sh("ip tuntap add gkr1 mode tap && ip addr add " HOST_IP "/24 dev gkr1 && "
                     "ip link set gkr1 up"));
    g_autofree char *xml = domain("<interface type='ethernet'><mac address='" GUEST_MAC "'/>"
                                  "<target dev='gkr1' managed='no'/><model type='rtl8139'/>"
                                  "</interface>",
                                  "test=rtl8139 rtlmode=classic hostile=1");
    Serve s = { .dev = "gkr1" };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, serve_on_line, &s);
    harness_assert_clean_stderr(r);
    check_hostile(r, 5);
    g_assert_nonnull(strstr(r->err, "rtl8139 gkr1: transmit slot 0: 60 bytes at 0xffff0000"));
    check_served(r, &s, false);
    g_assert_true(sh("ip link del gkr1"));
}

/* type='bridge': vmm-worker makes the tap and puts it on the bridge */
static void test_bridge(void)
{
    if (!need_kvm_and_ns())
        return;
    g_assert_true(sh("ip link add gkbr2 type bridge && ip addr add " HOST_IP "/24 dev gkbr2 && "
                     "ip link set gkbr2 up"));
    g_autofree char *xml = domain("<interface type='bridge'><mac address='" GUEST_MAC "'/>"
                                  "<source bridge='gkbr2'/><target dev='gkrv2'/>"
                                  "<model type='rtl8139'/></interface>",
                                  "test=rtl8139");
    Serve s = { .dev = "gkbr2" };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, serve_on_line, &s);
    harness_assert_clean_stderr(r);
    check_served(r, &s, true);
    g_assert_false(sh("ip link show gkrv2 2>/dev/null"));
    g_assert_true(sh("ip link del gkbr2"));
}

/* <link state='down'/>: BasicModeStatus says so */
static void test_link_down(void)
{
    if (!need_kvm_and_ns())
        return;
    g_assert_true(sh("ip tuntap add gkr3 mode tap && ip link set gkr3 up"));
    g_autofree char *xml = domain("<interface type='ethernet'><target dev='gkr3' managed='no'/>"
                                  "<model type='rtl8139'/><link state='down'/></interface>",
                                  "test=rtl8139 timeout=1");
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r);
    json_object *init = find_check(r, "rtl8139_init");
    g_assert_nonnull(init);
    g_assert_false(jbool(init, "ok"));   /* no link: the init check says so */
    g_assert_cmpint(strtol(json_object_get_string(json_object_object_get(init, "bmsr")), NULL,
                           16) & 4, ==, 0);
    g_assert_true(sh("ip link del gkr3"));
}

/* net-bench over the rtl8139 (both modes): the benchmark's JSON line
 * names the NIC, and frames reached the host's tap */
static void test_bench(void)
{
    if (!need_kvm_and_ns())
        return;
    static const char *const modes[] = { "cplus", "classic" };
    for (unsigned i = 0; i < G_N_ELEMENTS(modes); i++) {
        g_assert_true(sh("ip tuntap add gkr4 mode tap && ip addr add " HOST_IP "/24 dev gkr4 && "
                         "ip link set gkr4 up"));
        g_autofree char *cmd = g_strdup_printf("test=net-bench nic=rtl8139 rtlmode=%s mode=tx "
                                               "size=64 secs=1 dst=" HOST_IP " dport=9 "
                                               "dmac=02:00:00:00:00:01", modes[i]);
        g_autofree char *xml = domain("<interface type='ethernet'><mac address='" GUEST_MAC "'/>"
                                      "<target dev='gkr4' managed='no'/><model type='rtl8139'/>"
                                      "</interface>", cmd);
        g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
        harness_assert_clean_stderr(r);
        assert_check_ok(r, "net_init");
        assert_check_ok(r, "net_bench");
        json_object *b = find_check(r, "net_bench");
        g_assert_cmpstr(json_object_get_string(json_object_object_get(b, "nic")), ==, "rtl8139");
        g_assert_cmpint(jint(b, "pkts"), >, 0);
        /* /proc/net/dev is this namespace's (sysfs would be the host's) */
        g_autofree char *rx = harness_sh_out("sed 's/:/ /' /proc/net/dev | "
                                             "awk '$1 == \"gkr4\" { print $3 }'");
        g_assert_cmpint(strtoll(rx, NULL, 10), >=, jint(b, "pkts") / 2);
        g_assert_true(sh("ip link del gkr4"));
    }
}

/* passt: DHCP over the rtl8139 (C+ and classic), then a UDP exchange
 * with a host service */
static void test_passt(void)
{
    g_autofree char *gw = passt_gateway();
    if (!gw)
        return;
    static const char *const modes[] = { "cplus", "classic" };
    for (unsigned i = 0; i < G_N_ELEMENTS(modes); i++) {
        UdpEcho u;
        udp_echo_start(&u);
        g_autofree char *cmd = g_strdup_printf("test=rtl8139 rtlmode=%s dhcp=1 peer=%s:%u",
                                               modes[i], gw, u.port);
        g_autofree char *xml = domain("<interface type='user'><backend type='passt'/>"
                                      "<model type='rtl8139'/></interface>", cmd);
        g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
        harness_assert_clean_stderr(r);
        assert_check_ok(r, "rtl8139_init");
        assert_check_ok(r, "net_dhcp");
        assert_check_ok(r, "net_udp_peer");
        udp_echo_join(&u);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rtl8139/passt", test_passt);   /* first: before the namespace */
    g_test_add_func("/rtl8139/tap-cplus", test_tap_cplus);
    g_test_add_func("/rtl8139/tap-classic", test_tap_classic);
    g_test_add_func("/rtl8139/bridge", test_bridge);
    g_test_add_func("/rtl8139/link-down", test_link_down);
    g_test_add_func("/rtl8139/bench", test_bench);
    return g_test_run();
}
