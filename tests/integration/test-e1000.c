/* The e1000 NIC end to end: the real vmm-worker boots the guest kit's
 * test=e1000 on <model type='e1000'/> over a tap, a bridge and passt.
 * Taps and bridges live in a network namespace of this process's own.
 *
 * The host side talks to the guest with ordinary tools: UDP to the guest
 * kit's echo port at every payload size, ping, the kernel's neighbour
 * table; the guest checks the device itself (EEPROM, PHY, INTx, hostile
 * descriptor rings with a reset after each, statistics registers). */
#include "harness.h"
#include "net-helpers.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char *domain(const char *iface_xml, const char *cmdline)
{
    g_autofree char *dir = harness_tmpdir();
    HarnessDomain d = { .name = "e1000", .cmdline = cmdline, .extra_devices = iface_xml };
    return harness_write_domain(dir, &d);
}

static void check_served(HarnessRun *r, Serve *s)
{
    assert_check_ok(r, "e1000_init");
    assert_check_ok(r, "e1000_intx");
    json_object *init = find_check(r, "e1000_init");
    g_assert_cmpstr(json_object_get_string(json_object_object_get(init, "mac")), ==, GUEST_MAC);
    assert_served(r, s);
    assert_check_ok(r, "e1000_stats");
}

/* An existing tap (managed='no'); the hostile register sequences run
 * first, each followed by a reset, so everything after them also shows
 * the device came back. */
static void test_tap(void)
{
    if (!need_kvm_and_ns())
        return;
    g_assert_true(sh("ip tuntap add gke0 mode tap && ip addr add " HOST_IP "/24 dev gke0 && "
                     "ip link set gke0 up"));
    g_autofree char *xml = domain("<interface type='ethernet'><mac address='" GUEST_MAC "'/>"
                                  "<target dev='gke0' managed='no'/><model type='e1000'/>"
                                  "</interface>",
                                  "test=e1000 hostile=1");
    Serve s = { .dev = "gke0" };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, serve_on_line, &s);
    harness_assert_clean_stderr(r);
    g_autoptr(GPtrArray) hostile = harness_find(r, "check", "e1000_hostile");
    g_assert_cmpuint(hostile->len, ==, 8);
    for (guint i = 0; i < hostile->len; i++) {
        json_object *c = g_ptr_array_index(hostile, i);
        if (!jbool(c, "ok"))
            g_test_message("e1000_hostile: %s", json_object_to_json_string(c));
        g_assert_true(jbool(c, "ok"));
    }
    /* the guest's mistakes were logged, once per kind, naming the device */
    g_assert_nonnull(strstr(r->err, "e1000 gke0: transmit ring at 0xffff0000"));
    check_served(r, &s);
    g_assert_true(sh("ip link del gke0"));
}

/* type='bridge': vmm-worker makes the tap and puts it on the bridge */
static void test_bridge(void)
{
    if (!need_kvm_and_ns())
        return;
    g_assert_true(sh("ip link add gkbr1 type bridge && ip addr add " HOST_IP "/24 dev gkbr1 && "
                     "ip link set gkbr1 up"));
    g_autofree char *xml = domain("<interface type='bridge'><mac address='" GUEST_MAC "'/>"
                                  "<source bridge='gkbr1'/><target dev='gkev1'/>"
                                  "<model type='e1000'/></interface>",
                                  "test=e1000");
    Serve s = { .dev = "gkbr1" };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, serve_on_line, &s);
    harness_assert_clean_stderr(r);
    check_served(r, &s);
    /* the tap vmm-worker made went with it */
    g_assert_false(sh("ip link show gkev1 2>/dev/null"));
    g_assert_true(sh("ip link del gkbr1"));
}

/* <link state='down'/>: STATUS.LU and the PHY say so; frames do not move */
static void test_link_down(void)
{
    if (!need_kvm_and_ns())
        return;
    g_assert_true(sh("ip tuntap add gke2 mode tap && ip link set gke2 up"));
    g_autofree char *xml = domain("<interface type='ethernet'><target dev='gke2' managed='no'/>"
                                  "<model type='e1000'/><link state='down'/></interface>",
                                  "test=e1000 timeout=1");
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r);
    json_object *init = find_check(r, "e1000_init");
    g_assert_nonnull(init);
    g_assert_false(jbool(init, "ok"));   /* no link: the init check says so */
    g_assert_cmpint(strtol(json_object_get_string(json_object_object_get(init, "status")), NULL,
                           16) & 2, ==, 0);
    g_assert_true(sh("ip link del gke2"));
}

/* passt: DHCP over the e1000, then a UDP exchange with a host service */
static void test_passt(void)
{
    g_autofree char *gw = passt_gateway();
    if (!gw)
        return;
    UdpEcho u;
    udp_echo_start(&u);
    g_autofree char *cmd = g_strdup_printf("test=e1000 dhcp=1 peer=%s:%u", gw, u.port);
    g_autofree char *xml = domain("<interface type='user'><backend type='passt'/>"
                                  "<model type='e1000'/></interface>", cmd);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r);
    assert_check_ok(r, "e1000_init");
    assert_check_ok(r, "net_dhcp");
    assert_check_ok(r, "net_udp_peer");
    udp_echo_join(&u);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/e1000/passt", test_passt);   /* first: before the namespace */
    g_test_add_func("/e1000/tap", test_tap);
    g_test_add_func("/e1000/bridge", test_bridge);
    g_test_add_func("/e1000/link-down", test_link_down);
    return g_test_run();
}
