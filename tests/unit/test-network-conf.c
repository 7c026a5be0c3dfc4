/* Unit tests for libvirt network XML (src/conf/network_conf.c): libvirt's
 * forms parse to the right fields; the output is libvirt's element order,
 * round-trips byte for byte and is valid against libvirt's network.rng;
 * define-time defaults; overlap checks; each refusal is one line naming
 * the line and the reason. */
#include "conf/domain_conf.h"
#include "conf/domain_format.h"
#include "conf/network_conf.h"

#include <arpa/inet.h>
#include <string.h>

#ifndef VMM_LIBVIRT_SCHEMA_DIR
#define VMM_LIBVIRT_SCHEMA_DIR "/usr/share/libvirt/schemas"
#endif

#define DEFAULT_NET \
    "<network>\n" \
    "  <name>default</name>\n" \
    "  <uuid>9a05da11-e96b-47f3-8253-a3a482e445f5</uuid>\n" \
    "  <forward mode='nat'>\n" \
    "    <nat>\n" \
    "      <port start='1024' end='65535'/>\n" \
    "    </nat>\n" \
    "  </forward>\n" \
    "  <bridge name='virbr0' stp='on' delay='0'/>\n" \
    "  <mac address='52:54:00:0a:cd:21'/>\n" \
    "  <ip address='192.168.122.1' netmask='255.255.255.0'>\n" \
    "    <dhcp>\n" \
    "      <range start='192.168.122.2' end='192.168.122.254'/>\n" \
    "    </dhcp>\n" \
    "  </ip>\n" \
    "</network>\n"

static VmmNetworkDef *parse(const char *xml, GError **err)
{
    return vmm_network_def_parse_string(xml, strlen(xml), "n.xml", err);
}

/* libxml2 writes double quotes; libvirt single: compare after mapping. */
static char *single_quoted(const char *s)
{
    char *o = g_strdup(s);
    for (char *p = o; *p; p++)
        if (*p == '"')
            *p = '\'';
    return o;
}

static void test_default(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmNetworkDef) d = parse(DEFAULT_NET, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(d->name, ==, "default");
    g_assert_cmpint(d->forward, ==, VMM_NETWORK_FORWARD_NAT);
    g_assert_cmpuint(d->nat_port_start, ==, 1024);
    g_assert_cmpuint(d->nat_port_end, ==, 65535);
    g_assert_cmpstr(d->bridge, ==, "virbr0");
    g_assert_true(d->stp);
    g_assert_cmpuint(d->ips->len, ==, 1);
    const VmmNetworkIpDef *ip = vmm_network_def_ipv4(d);
    g_assert_nonnull(ip);
    g_assert_cmpuint(ip->prefix, ==, 24);
    g_assert_cmpuint(ip->ranges->len, ==, 1);
    /* the output is what libvirt's net-dumpxml prints for this network */
    g_autofree char *out = vmm_network_def_format(d, 0, &err);
    g_assert_no_error(err);
    g_autofree char *sq = single_quoted(out);
    g_assert_cmpstr(sq, ==, DEFAULT_NET);
    g_autofree char *running = vmm_network_def_format(d, 3, &err);
    g_assert_true(g_str_has_prefix(running, "<network connections=\"3\">\n"));
}

static void test_round_trip_and_schema(void)
{
    static const char *const docs[] = {
        DEFAULT_NET,
        "<network><name>iso</name><ip address='10.9.0.1' netmask='255.255.0.0'/></network>",
        "<network connections='1'><name>lab</name>"
        "<forward mode='route' dev='eth0'/><bridge name='vmmbr7' stp='off' delay='2'/>"
        "<mtu size='9000'/><domain name='lab.example' localOnly='yes'/>"
        "<dns enable='yes'><host ip='10.7.0.10'><hostname>db</hostname></host></dns>"
        "<ip address='10.7.0.1' prefix='24'><dhcp><range start='10.7.0.100' end='10.7.0.200'/>"
        "<host mac='52:54:00:00:07:01' name='vm1' ip='10.7.0.11'/></dhcp></ip>"
        "<ip family='ipv6' address='fd00:7::1' prefix='64'><dhcp>"
        "<range start='fd00:7::100' end='fd00:7::1ff'/></dhcp></ip></network>",
        "<network><name>open</name><forward mode='open'/></network>",
    };
    for (guint i = 0; i < G_N_ELEMENTS(docs); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmNetworkDef) d = parse(docs[i], &err);
        g_assert_no_error(err);
        vmm_network_def_fill_defaults(d, NULL);
        g_autofree char *out = vmm_network_def_format(d, 0, &err);
        g_assert_no_error(err);
        g_autoptr(VmmNetworkDef) again = parse(out, &err);
        g_assert_no_error(err);
        g_autofree char *out2 = vmm_network_def_format(again, 0, &err);
        g_assert_cmpstr(out, ==, out2);
        if (g_file_test(VMM_LIBVIRT_SCHEMA_DIR "/network.rng", G_FILE_TEST_EXISTS)) {
            vmm_domain_validate_schema(out, strlen(out), VMM_LIBVIRT_SCHEMA_DIR "/network.rng",
                                       &err);
            g_assert_no_error(err);
        }
    }
}

static void test_defaults(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmNetworkDef) d = parse(
        "<network><name>n</name><ip address='10.1.0.1' prefix='24'/></network>", &err);
    g_assert_no_error(err);
    g_assert_false(d->has_uuid);
    g_assert_null(d->bridge);
    g_autoptr(GHashTable) taken = g_hash_table_new(g_str_hash, g_str_equal);
    g_hash_table_add(taken, "virbr0");
    g_hash_table_add(taken, "virbr1");
    vmm_network_def_fill_defaults(d, taken);
    g_assert_true(d->has_uuid);
    g_assert_cmpstr(d->bridge, ==, "virbr2");
    g_assert_true(d->has_mac);
    g_assert_cmphex(d->mac[0], ==, 0x52);
    g_assert_cmphex(d->mac[2], ==, 0x00);
}

static void test_overlaps(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmNetworkDef) a = parse(
        "<network><name>a</name><ip address='10.1.0.1' prefix='16'/></network>", &err);
    g_autoptr(VmmNetworkDef) b = parse(
        "<network><name>b</name><ip address='10.1.7.1' prefix='24'/></network>", &err);
    g_autoptr(VmmNetworkDef) c = parse(
        "<network><name>c</name><ip address='10.2.0.1' prefix='24'/></network>", &err);
    g_assert_no_error(err);
    g_autofree char *what = NULL;
    g_assert_true(vmm_network_def_overlaps(a, b, &what));
    g_assert_cmpstr(what, ==, "10.1.0.1/16 overlaps 10.1.7.1/24");
    g_assert_false(vmm_network_def_overlaps(a, c, NULL));
    g_assert_false(vmm_network_def_overlaps(b, c, NULL));
}

static void test_refusals(void)
{
    static const struct { const char *xml; int code; const char *want; } bad[] = {
        { "<domain/>", VMM_CONF_ERROR_INVALID, "a network definition starts with <network>" },
        { "<network/>", VMM_CONF_ERROR_INVALID, "<network> has no <name> element" },
        { "<network><name>a/b</name></network>", VMM_CONF_ERROR_INVALID, "must not contain '/'" },
        { "<network><name>n</name><forward mode='bridge'/></network>",
          VMM_CONF_ERROR_UNSUPPORTED, "bridge" },
        { "<network><name>n</name><forward mode='nat'/></network>", VMM_CONF_ERROR_INVALID,
          "needs an <ip>" },
        { "<network><name>n</name><ip address='10.0.0.1' netmask='255.0.255.0'/></network>",
          VMM_CONF_ERROR_INVALID, "is not a netmask" },
        { "<network><name>n</name><ip address='10.0.0.0' prefix='24'/></network>",
          VMM_CONF_ERROR_INVALID, "is not a host address" },
        { "<network><name>n</name><ip address='10.0.0.1'/></network>",
          VMM_CONF_ERROR_INVALID, "needs a 'netmask' or a 'prefix'" },
        { "<network><name>n</name><ip address='300.0.0.1' prefix='8'/></network>",
          VMM_CONF_ERROR_INVALID, "is not an IPv4 or IPv6 address" },
        { "<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp>"
          "<range start='10.0.1.2' end='10.0.1.9'/></dhcp></ip></network>",
          VMM_CONF_ERROR_INVALID, "inside the <ip> subnet" },
        { "<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp>"
          "<range start='10.0.0.9' end='10.0.0.2'/></dhcp></ip></network>",
          VMM_CONF_ERROR_INVALID, "start is above its end" },
        { "<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp>"
          "<range start='10.0.0.2' end='10.0.0.255'/></dhcp></ip></network>",
          VMM_CONF_ERROR_INVALID, "broadcast" },
        { "<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp/></ip>"
          "<ip address='10.1.0.1' prefix='24'><dhcp/></ip></network>",
          VMM_CONF_ERROR_INVALID, "one IPv4 <ip> per network" },
        { "<network><name>n</name><ip address='10.0.0.1' prefix='16'/>"
          "<ip address='10.0.5.1' prefix='24'/></network>",
          VMM_CONF_ERROR_INVALID, "overlaps an earlier" },
        { "<network><name>n</name><bridge name='a/b'/></network>", VMM_CONF_ERROR_INVALID,
          "not a valid interface name" },
        { "<network><name>n</name><bridge name='0123456789abcdef'/></network>",
          VMM_CONF_ERROR_INVALID, "not a valid interface name" },
        { "<network><name>n</name><portgroup name='x'/></network>",
          VMM_CONF_ERROR_UNSUPPORTED, "<portgroup>" },
        { "<network><name>n</name><title>t</title></network>", VMM_CONF_ERROR_UNSUPPORTED,
          "<title>" },
        { "<network><name>n</name><bogus/></network>", VMM_CONF_ERROR_UNSUPPORTED, "<bogus>" },
        { "<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp>"
          "<host ip='10.0.0.5'/></dhcp></ip></network>",
          VMM_CONF_ERROR_INVALID, "needs a 'mac' or a 'name'" },
        { "<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp>"
          "<host mac='01:00:00:00:00:01' ip='10.0.0.5'/></dhcp></ip></network>",
          VMM_CONF_ERROR_INVALID, "multicast" },
        { "<network><name>n</name><dns><host ip='10.0.0.5'/></dns></network>",
          VMM_CONF_ERROR_INVALID, "at least one <hostname>" },
    };
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmNetworkDef) d = parse(bad[i].xml, &err);
        if (d || !err || !strstr(err->message, bad[i].want) || err->code != bad[i].code)
            g_error("case %u (%s): got %s", i, bad[i].xml, err ? err->message : "accepted");
        g_assert_null(strchr(err->message, '\n'));
        g_assert_true(g_str_has_prefix(err->message, "n.xml"));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/network-conf/default", test_default);
    g_test_add_func("/network-conf/round-trip-and-schema", test_round_trip_and_schema);
    g_test_add_func("/network-conf/defaults", test_defaults);
    g_test_add_func("/network-conf/overlaps", test_overlaps);
    g_test_add_func("/network-conf/refusals", test_refusals);
    return g_test_run();
}
