/* Unit tests for <interface> (src/conf/net_conf.c): libvirt's forms parse
 * to the right fields, the output round-trips and is valid against vmmd's
 * schema and libvirt's, defaults (generated MAC, PCI slots after the disks)
 * hold, and each refusal names the interface, the line and the reason. */
#include "conf/domain_conf.h"
#include "conf/domain_format.h"
#include "domain-docs.h"

#include <string.h>

#ifndef VMM_SRC_SCHEMA_DIR
#error "VMM_SRC_SCHEMA_DIR must name the source tree's schemas/ (Makefile.am)"
#endif
#ifndef VMM_LIBVIRT_SCHEMA_DIR
#define VMM_LIBVIRT_SCHEMA_DIR "/usr/share/libvirt/schemas"
#endif

static VmmDomainDef *parse_dev(const char *dev, GError **err)
{
    g_autofree char *xml = doc_replace("<!--dev-->", dev);
    return vmm_domain_def_parse_string(xml, strlen(xml), "t.xml", err);
}

static VmmNetDef *net0(VmmDomainDef *def)
{
    g_assert_nonnull(def);
    g_assert_cmpuint(def->nets->len, >=, 1);
    return g_ptr_array_index(def->nets, 0);
}

static void test_forms(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmDomainDef) b = parse_dev(
        "<interface type='bridge'><mac address='52:54:00:aa:bb:cc'/>"
        "<source bridge='br0'/><model type='virtio'/>"
        "<driver name='qemu' queues='4' rx_queue_size='512' tx_queue_size='1024'>"
        "<host csum='off' tso4='on' mrg_rxbuf='off'/><guest tso6='off'/></driver>"
        "<link state='down'/><mtu size='9000'/>"
        "<address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>"
        "</interface>", &err);
    g_assert_no_error(err);
    VmmNetDef *n = net0(b);
    g_assert_cmpint(n->type, ==, VMM_NET_BRIDGE);
    g_assert_cmpstr(n->bridge, ==, "br0");
    static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };
    g_assert_cmpmem(n->mac, 6, mac, 6);
    g_assert_cmpint(n->driver, ==, VMM_NET_DRIVER_QEMU);
    g_assert_cmpuint(n->queues, ==, 4);
    g_assert_cmpuint(n->rx_queue_size, ==, 512);
    g_assert_cmpuint(n->tx_queue_size, ==, 1024);
    g_assert_cmpint(n->host[VMM_NET_HOST_CSUM], ==, VMM_TRI_OFF);
    g_assert_cmpint(n->host[VMM_NET_HOST_TSO4], ==, VMM_TRI_ON);
    g_assert_cmpint(n->host[VMM_NET_HOST_MRG_RXBUF], ==, VMM_TRI_OFF);
    g_assert_cmpint(n->host[VMM_NET_HOST_GSO], ==, VMM_TRI_DEFAULT);
    g_assert_cmpint(n->guest[VMM_NET_GUEST_TSO6], ==, VMM_TRI_OFF);
    g_assert_true(n->link_down);
    g_assert_cmpuint(n->mtu, ==, 9000);
    g_assert_cmpint(n->pci_slot, ==, 7);

    g_autoptr(VmmDomainDef) e = parse_dev(
        "<interface type='ethernet'><target dev='tap7' managed='no'/></interface>", &err);
    g_assert_no_error(err);
    n = net0(e);
    g_assert_cmpint(n->type, ==, VMM_NET_ETHERNET);
    g_assert_cmpstr(n->target_dev, ==, "tap7");
    g_assert_true(n->managed_no);
    g_assert_cmpint(n->driver, ==, VMM_NET_DRIVER_DEFAULT);
    /* generated: libvirt's 52:54:00 prefix, unicast */
    g_assert_cmpuint(n->mac[0], ==, 0x52);
    g_assert_cmpuint(n->mac[1], ==, 0x54);
    g_assert_cmpuint(n->mac[2], ==, 0x00);
    g_assert_cmpint(n->pci_slot, ==, -1);

    g_autoptr(VmmDomainDef) u = parse_dev(
        "<interface type='user'><backend type='passt'/></interface>"
        "<interface type='vhostuser'><source type='unix' path='/run/vu.sock' mode='client'/>"
        "<model type='virtio'/></interface>", &err);
    g_assert_no_error(err);
    g_assert_cmpuint(u->nets->len, ==, 2);
    g_assert_cmpint(((VmmNetDef *)g_ptr_array_index(u->nets, 0))->type, ==, VMM_NET_USER);
    VmmNetDef *vu = g_ptr_array_index(u->nets, 1);
    g_assert_cmpint(vu->type, ==, VMM_NET_VHOSTUSER);
    g_assert_cmpstr(vu->socket_path, ==, "/run/vu.sock");
    g_assert_false(vu->socket_server);
    g_assert_cmpint(vu->model, ==, VMM_NET_MODEL_VIRTIO);

    g_autoptr(VmmDomainDef) m = parse_dev(
        "<interface type='bridge'><source bridge='br0'/><model type='e1000'/>"
        "<driver name='qemu'/></interface>", &err);
    g_assert_no_error(err);
    g_assert_cmpint(net0(m)->model, ==, VMM_NET_MODEL_E1000);

    g_autoptr(VmmDomainDef) rt = parse_dev(
        "<interface type='ethernet'><model type='rtl8139'/></interface>", &err);
    g_assert_no_error(err);
    g_assert_cmpint(net0(rt)->model, ==, VMM_NET_MODEL_RTL8139);
}

/* define -> dumpxml: the output parses back to an equal definition, gives
 * the same bytes again, and both schemas accept it */
static void test_round_trip(void)
{
    static const char *const devs[] = {
        "<interface type='bridge'><source bridge='br0'/><driver queues='2'>"
        "<host tso6='off'/></driver><link state='down'/><mtu size='1400'/></interface>",
        "<interface type='ethernet'><mac address='52:54:00:01:02:03'/>"
        "<target dev='vnet9'/><driver name='vhost'/></interface>",
        "<interface type='user'/>",
        "<interface type='user'><model type='e1000'/><link state='down'/></interface>",
        "<interface type='bridge'><source bridge='br0'/><model type='rtl8139'/></interface>",
        "<interface type='vhostuser'><source type='unix' path='/tmp/s' mode='server'/>"
        "<model type='virtio'/><driver queues='2'/><mtu size='9000'/></interface>",
        "<interface type='network'><source network='default'/></interface>",
        "<interface type='network'><source network='lab' bridge='virbr3'/></interface>",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(devs); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmDomainDef) def = parse_dev(devs[i], &err);
        g_assert_no_error(err);
        g_assert_true(vmm_domain_def_fill_defaults(def, &err));
        g_autofree char *out = vmm_domain_def_format(def, &err);
        g_assert_no_error(err);
        g_autoptr(VmmDomainDef) again =
            vmm_domain_def_parse_string(out, strlen(out), "out.xml", &err);
        g_assert_no_error(err);
        g_assert_true(vmm_domain_def_equal(def, again));
        g_autofree char *out2 = vmm_domain_def_format(again, &err);
        g_assert_cmpstr(out, ==, out2);
        g_assert_true(vmm_domain_validate_schema(out, strlen(out),
                                                 VMM_SRC_SCHEMA_DIR "/domain.rng", &err));
        g_assert_no_error(err);
        if (g_file_test(VMM_LIBVIRT_SCHEMA_DIR "/domain.rng", G_FILE_TEST_EXISTS)) {
            g_assert_true(vmm_domain_validate_schema(
                out, strlen(out), VMM_LIBVIRT_SCHEMA_DIR "/domain.rng", &err));
            g_assert_no_error(err);
        }
        /* the generated MAC is stored: the document carries it */
        g_assert_nonnull(strstr(out, "<mac address='52:54:00:") ? out
                                                                  : strstr(out, "<mac address=\"52:54:00:"));
    }
}

/* PCI slots: disks first, then interfaces, lowest free slot upward,
 * explicit slots kept */
static void test_slots(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmDomainDef) def = parse_dev(
        "<interface type='user'/>"
        "<disk type='file'><source file='/tmp/a.img'/><target dev='vda' bus='virtio'/></disk>"
        "<interface type='user'><address type='pci' slot='0x01'/></interface>"
        "<interface type='user'/>", &err);
    g_assert_no_error(err);
    g_assert_true(vmm_domain_def_fill_defaults(def, &err));
    g_assert_cmpint(((VmmDiskDef *)g_ptr_array_index(def->disks, 0))->pci_slot, ==, 2);
    g_assert_cmpint(net0(def)->pci_slot, ==, 3);
    g_assert_cmpint(((VmmNetDef *)g_ptr_array_index(def->nets, 1))->pci_slot, ==, 1);
    g_assert_cmpint(((VmmNetDef *)g_ptr_array_index(def->nets, 2))->pci_slot, ==, 4);

    g_autoptr(VmmDomainDef) dup = parse_dev(
        "<disk type='file'><source file='/tmp/a.img'/><target dev='vda' bus='virtio'/>"
        "<address type='pci' slot='3'/></disk>"
        "<interface type='user'><address type='pci' slot='3'/></interface>", &err);
    g_assert_null(dup);
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "PCI slot 0x03 is used twice"));
}

static void test_refusals(void)
{
    static const struct {
        const char *dev;
        int code;
        const char *msg;
    } cases[] = {
        { "<interface/>", VMM_CONF_ERROR_INVALID, "needs a 'type'" },
        { "<interface type='network'/>", VMM_CONF_ERROR_INVALID,
          "needs <source network='NAME'/>" },
        { "<interface type='network'><source network='a/b'/></interface>",
          VMM_CONF_ERROR_INVALID, "the name of a virtual network" },
        { "<interface type='network'><source network='n' portgroup='p'/></interface>",
          VMM_CONF_ERROR_UNSUPPORTED, "'portgroup'" },
        { "<interface type='direct'/>", VMM_CONF_ERROR_UNSUPPORTED,
          "attribute 'type'='direct' on <interface> is not supported" },
        { "<interface type='bogus'/>", VMM_CONF_ERROR_INVALID, "'bogus'" },
        { "<interface type='bridge'/>", VMM_CONF_ERROR_INVALID, "needs <source bridge" },
        { "<interface type='bridge'><source bridge='a/b'/></interface>",
          VMM_CONF_ERROR_INVALID, "not a network interface name" },
        { "<interface type='ethernet'><target dev='0123456789abcdef'/></interface>",
          VMM_CONF_ERROR_INVALID, "not a network interface name" },
        { "<interface type='user'><model type='ne2k_pci'/></interface>",
          VMM_CONF_ERROR_UNSUPPORTED, "'ne2k_pci'" },
        { "<interface type='user'><model type='rtl8139'/><driver queues='2'/></interface>",
          VMM_CONF_ERROR_INVALID, "<model type='rtl8139'> does not go with <driver> queues" },
        { "<interface type='bridge'><source bridge='br0'/><model type='e1000'/>"
          "<driver name='vhost'/></interface>", VMM_CONF_ERROR_INVALID, "vhost-net" },
        { "<interface type='user'><model type='e1000'/><driver queues='2'/></interface>",
          VMM_CONF_ERROR_INVALID, "<model type='e1000'> does not go with <driver> queues" },
        { "<interface type='user'><model type='e1000'/><driver><host csum='off'/></driver>"
          "</interface>", VMM_CONF_ERROR_INVALID, "offload" },
        { "<interface type='user'><mac address='01:00:5e:00:00:01'/></interface>",
          VMM_CONF_ERROR_INVALID, "multicast" },
        { "<interface type='user'><mac address='52:54:00:zz:00:01'/></interface>",
          VMM_CONF_ERROR_INVALID, "not a MAC address" },
        { "<interface type='user'><driver queues='17'/></interface>", VMM_CONF_ERROR_INVALID,
          "'queues'='17'" },
        { "<interface type='user'><driver rx_queue_size='300'/></interface>",
          VMM_CONF_ERROR_INVALID, "power of two" },
        { "<interface type='user'><driver txmode='iothread'/></interface>",
          VMM_CONF_ERROR_UNSUPPORTED, "txmode" },
        { "<interface type='user'><driver><host csum='maybe'/></driver></interface>",
          VMM_CONF_ERROR_INVALID, "'csum'='maybe'" },
        { "<interface type='user'><mtu size='67'/></interface>", VMM_CONF_ERROR_INVALID,
          "'size'='67'" },
        { "<interface type='user'><link state='sideways'/></interface>",
          VMM_CONF_ERROR_INVALID, "sideways" },
        { "<interface type='ethernet'><backend type='passt'/></interface>",
          VMM_CONF_ERROR_INVALID, "type 'user'" },
        { "<interface type='user'><backend type='slirp'/></interface>",
          VMM_CONF_ERROR_INVALID, "slirp" },
        { "<interface type='bridge'><source bridge='br0'/><target dev='t' managed='no'/>"
          "</interface>", VMM_CONF_ERROR_INVALID, "managed='no'" },
        { "<interface type='vhostuser'><source type='unix' path='rel' mode='client'/>"
          "</interface>", VMM_CONF_ERROR_INVALID, "absolute" },
        { "<interface type='vhostuser'><source type='unix' path='/s' mode='client'/>"
          "<model type='virtio'/><driver name='vhost'/></interface>", VMM_CONF_ERROR_INVALID,
          "vhost-net" },
        { "<interface type='vhostuser'><source type='unix' path='/s' mode='client'/>"
          "</interface>", VMM_CONF_ERROR_INVALID, "needs <model type='virtio'/>" },
        { "<interface type='vhostuser'><source type='unix' path='/s' mode='client'/>"
          "<model type='e1000'/></interface>", VMM_CONF_ERROR_INVALID,
          "<model type='e1000'> does not go with an interface of type 'vhostuser'" },
        { "<interface type='user'><alias name='net0'/></interface>",
          VMM_CONF_ERROR_UNSUPPORTED, "<alias>" },
        { "<interface type='user'><mac address='52:54:00:00:00:01'/>"
          "<mac address='52:54:00:00:00:02'/></interface>", VMM_CONF_ERROR_INVALID,
          "more than once" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmDomainDef) def = parse_dev(cases[i].dev, &err);
        if (def)
            g_error("accepted: %s", cases[i].dev);
        g_assert_error(err, VMM_CONF_ERROR, cases[i].code);
        if (!strstr(err->message, cases[i].msg))
            g_error("'%s' not in '%s'", cases[i].msg, err->message);
        /* the line and, past the type check, the interface */
        g_assert_true(g_str_has_prefix(err->message, "t.xml:11: "));
        g_assert_nonnull(strstr(err->message, "interface 0: "));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/net-conf/forms", test_forms);
    g_test_add_func("/net-conf/round-trip", test_round_trip);
    g_test_add_func("/net-conf/slots", test_slots);
    g_test_add_func("/net-conf/refusals", test_refusals);
    return g_test_run();
}
