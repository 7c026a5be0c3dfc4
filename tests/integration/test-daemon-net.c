/* vmmd and <interface>: the daemon opens each interface's host side with
 * its privileges and hands it to the worker; taps it made vanish with the
 * worker; a VM whose network cannot be set up does not start and leaves
 * nothing behind. In a private network namespace (unshare): the daemon and
 * its workers inherit it, and every tap and bridge dies with the test. */
#include "daemon-harness.h"

#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static char *sh_out(const char *cmd)
{
    char *out = NULL;
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                      NULL, NULL, NULL))
        return g_strdup("");
    return out;
}

static bool ready(void)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_skip("/dev/kvm is not usable here");
        return false;
    }
    return true;
}

/* a domain running the guest kit's net test on `iface` */
static char *net_domain(Vmmd *v, const char *name, const char *iface)
{
    Dom d = { .name = name, .cmdline = "test=net" };
    g_autofree char *xml = domain_xml(v, &d);
    GString *s = g_string_new(xml);
    char *at = strstr(s->str, "</devices>");
    g_string_insert(s, at - s->str, iface);
    return g_string_free(s, FALSE);
}

static void define_xml(VmmProtoSync *s, const char *xml)
{
    json_object *r = call_ok(s, "domain-define", define_args(xml));
    json_object_put(r);
}

static void test_bridge_lifecycle(void)
{
    if (!ready())
        return;
    g_autofree char *br = sh_out("ip link add br7 type bridge && ip link set br7 up && echo ok");
    g_assert_nonnull(strstr(br, "ok"));
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    g_autofree char *xml = net_domain(&v, "n1", "<interface type='bridge'>"
                                      "<mac address='52:54:00:00:00:07'/>"
                                      "<source bridge='br7'/><mtu size='1400'/></interface>");
    define_xml(s, xml);
    domain_op(s, "domain-start", "n1");
    wait_running(s, "n1");
    g_autofree char *on = sh_out("ip -o link show master br7");
    g_test_message("on br7: %s", on);
    g_assert_nonnull(strstr(on, "vnet"));
    g_assert_nonnull(strstr(on, "mtu 1400"));
    /* the guest answers ARP with the MAC of the definition */
    wait_serial(serial_path(&v, "n1"), "\"net_ready\"", 1);
    domain_op(s, "domain-destroy", "n1");
    g_autofree char *st = domain_state(s, "n1");
    g_assert_cmpstr(st, ==, "shutoff");
    /* the worker held the tap's only fds: it is gone with it */
    g_autofree char *after = sh_out("ip -o link show master br7");
    g_assert_null(strstr(after, "vnet"));
    vmmd_cleanup(&v);
    g_free(sh_out("ip link del br7"));
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
    define_xml(s, xml);
    g_autofree char *msg = call_err(s, "domain-start", name_args("n2"), VMM_PROTO_GENERIC_ERROR);
    g_test_message("%s", msg);
    g_assert_nonnull(strstr(msg, "interface 0"));
    g_assert_nonnull(strstr(msg, "nosuchbr"));
    g_assert_cmpuint(count_workers(&v, "n2"), ==, 0);
    g_autofree char *links = sh_out("ip -o link show");
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
    define_xml(s, xml);
    g_autofree char *msg = call_err(s, "domain-start", name_args("n3"), VMM_PROTO_GENERIC_ERROR);
    g_test_message("%s", msg);
    g_assert_nonnull(strstr(msg, "interface 0"));
    g_assert_nonnull(strstr(msg, "passt"));
    g_assert_nonnull(strstr(msg, "not found"));
    g_assert_cmpuint(count_workers(&v, "n3"), ==, 0);
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
        g_free(sh_out("ip link set lo up"));
        g_test_add_func("/daemon-net/bridge-lifecycle", test_bridge_lifecycle);
        g_test_add_func("/daemon-net/missing-bridge", test_missing_bridge);
        g_test_add_func("/daemon-net/missing-passt", test_missing_passt);
    } else {
        g_test_add_func("/daemon-net/netns", skip_no_netns);
    }
    return g_test_run();
}
