/* The virtio-net parsers: every rule of vmm_vnet_hdr_check_tx on a valid
 * header with one field broken, the feature dependencies, each control
 * command (accepted, and refused without changing the filter) and the
 * receive filter decisions. */
#include "virtio/virtio_net_proto.h"

#include <string.h>

#define ALL (VNET_BIT(VIRTIO_NET_F_CSUM) | VNET_BIT(VIRTIO_NET_F_GUEST_CSUM) | \
             VNET_BIT(VIRTIO_NET_F_HOST_TSO4) | VNET_BIT(VIRTIO_NET_F_HOST_TSO6) | \
             VNET_BIT(VIRTIO_NET_F_HOST_ECN) | VNET_BIT(VIRTIO_NET_F_HOST_UFO) | \
             VNET_BIT(VIRTIO_NET_F_CTRL_VQ) | VNET_BIT(VIRTIO_NET_F_CTRL_RX) | \
             VNET_BIT(VIRTIO_NET_F_MQ) | VNET_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR))

static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };

static const char *tx_refusal(VmmVnetHdr h, uint64_t features, size_t len)
{
    const char *why = NULL;
    if (vmm_vnet_hdr_check_tx(&h, features, len, 1500, &why))
        return NULL;
    g_assert_nonnull(why);
    return why;
}

static void test_hdr_roundtrip(void)
{
    uint8_t raw[VIRTIO_NET_HDR_LEN] = { 1, 0x81, 0x36, 0, 0xa8, 0x05, 34, 0, 16, 0, 3, 0 };
    VmmVnetHdr h;
    vmm_vnet_hdr_decode(raw, &h);
    g_assert_cmpuint(h.flags, ==, 1);
    g_assert_cmpuint(h.gso_type, ==, 0x81);
    g_assert_cmpuint(h.hdr_len, ==, 54);
    g_assert_cmpuint(h.gso_size, ==, 1448);
    g_assert_cmpuint(h.csum_start, ==, 34);
    g_assert_cmpuint(h.csum_offset, ==, 16);
    g_assert_cmpuint(h.num_buffers, ==, 3);
    uint8_t back[VIRTIO_NET_HDR_LEN];
    vmm_vnet_hdr_encode(&h, back);
    g_assert_cmpmem(back, sizeof(back), raw, sizeof(raw));
}

static void test_hdr_tx(void)
{
    VmmVnetHdr plain = { 0 };
    VmmVnetHdr csum = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 6 };
    VmmVnetHdr tso = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                       .hdr_len = 54, .gso_size = 1448, .csum_start = 34, .csum_offset = 16 };
    g_assert_null(tx_refusal(plain, 0, 60));
    g_assert_null(tx_refusal(plain, 0, 1514));
    g_assert_null(tx_refusal(plain, 0, 1518));          /* one VLAN tag */
    g_assert_null(tx_refusal(csum, ALL, 60));
    g_assert_null(tx_refusal(tso, ALL, 20000));
    VmmVnetHdr h;

    g_assert_cmpstr(tx_refusal(plain, 0, 1519), ==, "frame larger than the MTU");
    g_assert_cmpstr(tx_refusal(plain, 0, 13), ==, "frame shorter than an Ethernet header");
    g_assert_cmpstr(tx_refusal(csum, 0, 60), ==, "NEEDS_CSUM without the CSUM feature");
    h = csum; h.csum_offset = 25;                       /* field ends at 61 > 60 */
    g_assert_cmpstr(tx_refusal(h, ALL, 60), ==, "checksum field (csum_start + csum_offset) outside the frame");
    h = csum; h.csum_offset = 24;                       /* ends exactly at 60 */
    g_assert_null(tx_refusal(h, ALL, 60));
    h = plain; h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
    g_assert_cmpstr(tx_refusal(h, ALL, 60), ==, "vnet header flags other than NEEDS_CSUM");
    h = tso; h.gso_size = 0;
    g_assert_cmpstr(tx_refusal(h, ALL, 20000), ==, "GSO type with gso_size 0");
    h = tso; h.hdr_len = 20001;
    g_assert_cmpstr(tx_refusal(h, ALL, 20000), ==, "hdr_len past the end of the frame");
    h = tso; h.flags = 0;
    g_assert_cmpstr(tx_refusal(h, ALL, 20000), ==, "GSO frame without NEEDS_CSUM");
    g_assert_cmpstr(tx_refusal(tso, ALL & ~VNET_BIT(VIRTIO_NET_F_HOST_TSO4), 20000), ==,
                    "GSO type whose HOST_ feature was not negotiated");
    h = tso; h.gso_type = 2;
    g_assert_cmpstr(tx_refusal(h, ALL, 20000), ==, "unknown GSO type");
    h = tso; h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
    g_assert_null(tx_refusal(h, ALL, 20000));
    g_assert_cmpstr(tx_refusal(h, ALL & ~VNET_BIT(VIRTIO_NET_F_HOST_ECN), 20000), ==,
                    "GSO ECN bit without HOST_ECN");
    g_assert_cmpstr(tx_refusal(tso, ALL, VNET_MAX_GSO_FRAME + 1), ==, "GSO frame larger than 64 KiB");
}

static void test_features(void)
{
    const char *why = NULL;
    g_assert_true(vmm_net_features_valid(ALL, &why));
    g_assert_true(vmm_net_features_valid(0, &why));
    g_assert_false(vmm_net_features_valid(VNET_BIT(VIRTIO_NET_F_HOST_TSO4), &why));
    g_assert_cmpstr(why, ==, "HOST_TSO4 without CSUM");
    g_assert_false(vmm_net_features_valid(VNET_BIT(VIRTIO_NET_F_MQ), &why));
    g_assert_cmpstr(why, ==, "MQ without CTRL_VQ");
    g_assert_false(vmm_net_features_valid(VNET_BIT(VIRTIO_NET_F_GUEST_CSUM) | VNET_BIT(VIRTIO_NET_F_GUEST_ECN), &why));
    g_assert_cmpstr(why, ==, "GUEST_ECN without GUEST_TSO4 or GUEST_TSO6");
    /* Disabling CSUM takes the host offloads built on it along, chains
     * included (HOST_ECN needs HOST_TSO4/6), and leaves the rest. */
    uint64_t f = vmm_net_features_fixup(ALL & ~VNET_BIT(VIRTIO_NET_F_CSUM));
    g_assert_true(vmm_net_features_valid(f, &why));
    g_assert_cmphex(f, ==, ALL & ~(VNET_BIT(VIRTIO_NET_F_CSUM) | VNET_BIT(VIRTIO_NET_F_HOST_TSO4) |
                                   VNET_BIT(VIRTIO_NET_F_HOST_TSO6) | VNET_BIT(VIRTIO_NET_F_HOST_UFO) |
                                   VNET_BIT(VIRTIO_NET_F_HOST_ECN)));
    g_assert_cmphex(vmm_net_features_fixup(ALL), ==, ALL);
}

static uint8_t ctrl(VmmNetRxFilter *f, const uint8_t *cmd, size_t len, unsigned max_pairs,
                    VmmNetCtrlResult *res, const char **why)
{
    VmmNetCtrlLimits lim = { .features = ALL, .max_pairs = max_pairs };
    return vmm_net_ctrl_apply(cmd, len, &lim, f, res, why);
}

static void test_ctrl(void)
{
    VmmNetRxFilter f, before;
    VmmNetCtrlResult res;
    const char *why = NULL;
    vmm_net_rx_filter_reset(&f, MAC);
    g_assert_true(f.promisc);

    const uint8_t promisc_off[] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0 };
    g_assert_cmpuint(ctrl(&f, promisc_off, 3, 4, &res, &why), ==, VIRTIO_NET_OK);
    g_assert_false(f.promisc);
    const uint8_t nobcast[] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, 1 };
    g_assert_cmpuint(ctrl(&f, nobcast, 3, 4, &res, &why), ==, VIRTIO_NET_OK);
    g_assert_true(f.nobcast);

    const uint8_t addr[] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, 2, 0, 0, 0, 0, 9 };
    g_assert_cmpuint(ctrl(&f, addr, sizeof(addr), 4, &res, &why), ==, VIRTIO_NET_OK);
    g_assert_cmpmem(f.mac, 6, addr + 2, 6);

    uint8_t table[2 + 4 + 12 + 4 + 6] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 2 };
    memcpy(table + 6, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
    table[18] = 1;
    memcpy(table + 22, "\x01\x00\x5e\x00\x00\x01", 6);
    g_assert_cmpuint(ctrl(&f, table, sizeof(table), 4, &res, &why), ==, VIRTIO_NET_OK);
    g_assert_cmpuint(f.n_uni, ==, 2);
    g_assert_cmpuint(f.n_multi, ==, 1);

    const uint8_t pairs[] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 3, 0 };
    g_assert_cmpuint(ctrl(&f, pairs, sizeof(pairs), 4, &res, &why), ==, VIRTIO_NET_OK);
    g_assert_cmpuint(res.pairs, ==, 3);

    /* Garbage: refused with a reason, the filter untouched. */
    struct { const uint8_t *cmd; size_t len; unsigned max_pairs; const char *why; } bad[] = {
        { pairs, sizeof(pairs), 2, "VQ_PAIRS_SET outside 1..max_virtqueue_pairs" },
        { (const uint8_t *)"\x04\x00\x00\x00", 4, 4, "VQ_PAIRS_SET outside 1..max_virtqueue_pairs" },
        { (const uint8_t *)"\x04\x00\x01", 3, 4, "VQ_PAIRS_SET data is not 2 bytes" },
        { (const uint8_t *)"\x00\x06\x01", 3, 4, "unknown RX command" },
        { (const uint8_t *)"\x00\x00\x01\x01", 4, 4, "RX command data is not one byte" },
        { (const uint8_t *)"\x01\x01\x02\x00", 4, 4, "MAC_ADDR_SET data is not 6 bytes" },
        { table, sizeof(table) - 1, 4, "MAC table entry count larger than the command" },
        { (const uint8_t *)"\x01\x00\xff\xff\xff\xff", 6, 4, "MAC table entry count larger than the command" },
        { (const uint8_t *)"\x07\x00", 2, 4, "unknown control class" },
        { (const uint8_t *)"\x01", 1, 4, "control command shorter than its class and command bytes" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        before = f;
        why = NULL;
        g_assert_cmpuint(ctrl(&f, bad[i].cmd, bad[i].len, bad[i].max_pairs, &res, &why), ==, VIRTIO_NET_ERR);
        g_assert_cmpstr(why, ==, bad[i].why);
        g_assert_cmpmem(&before, sizeof(before), &f, sizeof(f));
    }
    /* Without CTRL_RX negotiated the RX class does not exist. */
    VmmNetCtrlLimits lim = { .features = VNET_BIT(VIRTIO_NET_F_CTRL_VQ), .max_pairs = 1 };
    g_assert_cmpuint(vmm_net_ctrl_apply(promisc_off, 3, &lim, &f, &res, &why), ==, VIRTIO_NET_ERR);
    g_assert_cmpstr(why, ==, "RX class without the CTRL_RX feature");
}

static void test_filter(void)
{
    VmmNetRxFilter f;
    vmm_net_rx_filter_reset(&f, MAC);
    const uint8_t other[6] = { 0x52, 0x54, 0, 1, 1, 1 };
    const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 };
    g_assert_true(vmm_net_rx_filter_accept(&f, other));   /* promiscuous after reset */
    f.promisc = false;
    g_assert_true(vmm_net_rx_filter_accept(&f, MAC));
    g_assert_false(vmm_net_rx_filter_accept(&f, other));
    g_assert_true(vmm_net_rx_filter_accept(&f, bcast));
    g_assert_false(vmm_net_rx_filter_accept(&f, mcast));
    f.allmulti = true;
    g_assert_true(vmm_net_rx_filter_accept(&f, mcast));
    f.nobcast = true;
    g_assert_false(vmm_net_rx_filter_accept(&f, bcast));
    memcpy(f.uni[0], other, 6);
    f.n_uni = 1;
    g_assert_true(vmm_net_rx_filter_accept(&f, other));
    f.nouni = true;
    g_assert_false(vmm_net_rx_filter_accept(&f, MAC));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtio-net/hdr-roundtrip", test_hdr_roundtrip);
    g_test_add_func("/virtio-net/hdr-tx", test_hdr_tx);
    g_test_add_func("/virtio-net/features", test_features);
    g_test_add_func("/virtio-net/ctrl", test_ctrl);
    g_test_add_func("/virtio-net/filter", test_filter);
    return g_test_run();
}
