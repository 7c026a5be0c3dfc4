#include "virtio/virtio_net_proto.h"

#include <string.h>

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return le16(p) | (uint32_t)le16(p + 2) << 16; }
static void put16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }

void vmm_vnet_hdr_decode(const uint8_t raw[VIRTIO_NET_HDR_LEN], VmmVnetHdr *h)
{
    h->flags = raw[0];
    h->gso_type = raw[1];
    h->hdr_len = le16(raw + 2);
    h->gso_size = le16(raw + 4);
    h->csum_start = le16(raw + 6);
    h->csum_offset = le16(raw + 8);
    h->num_buffers = le16(raw + 10);
}

void vmm_vnet_hdr_encode(const VmmVnetHdr *h, uint8_t raw[VIRTIO_NET_HDR_LEN])
{
    raw[0] = h->flags;
    raw[1] = h->gso_type;
    put16(raw + 2, h->hdr_len);
    put16(raw + 4, h->gso_size);
    put16(raw + 6, h->csum_start);
    put16(raw + 8, h->csum_offset);
    put16(raw + 10, h->num_buffers);
}

bool vmm_vnet_hdr_check_tx(const VmmVnetHdr *h, uint64_t features, size_t frame_len,
                           unsigned mtu, const char **why)
{
    uint8_t gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    if (frame_len < ETH_HLEN_VNET) {
        *why = "frame shorter than an Ethernet header";
        return false;
    }
    /* 5.1.6.2.1: DATA_VALID and RSC_INFO are device-to-driver only. */
    if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        *why = "vnet header flags other than NEEDS_CSUM";
        return false;
    }
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (!(features & VNET_BIT(VIRTIO_NET_F_CSUM))) {
            *why = "NEEDS_CSUM without the CSUM feature";
            return false;
        }
        if ((size_t)h->csum_start + h->csum_offset + 2 > frame_len) {
            *why = "checksum field (csum_start + csum_offset) outside the frame";
            return false;
        }
    }
    if (gso == VIRTIO_NET_HDR_GSO_NONE) {
        if (h->gso_type & VIRTIO_NET_HDR_GSO_ECN) {
            *why = "GSO ECN bit without a GSO type";
            return false;
        }
        if (frame_len > (size_t)mtu + ETH_HLEN_VNET + VLAN_HLEN_VNET) {
            *why = "frame larger than the MTU";
            return false;
        }
        return true;
    }
    unsigned need;
    switch (gso) {
    case VIRTIO_NET_HDR_GSO_TCPV4: need = VIRTIO_NET_F_HOST_TSO4; break;
    case VIRTIO_NET_HDR_GSO_TCPV6: need = VIRTIO_NET_F_HOST_TSO6; break;
    case VIRTIO_NET_HDR_GSO_UDP: need = VIRTIO_NET_F_HOST_UFO; break;
    default:
        *why = "unknown GSO type";
        return false;
    }
    if (!(features & VNET_BIT(need))) {
        *why = "GSO type whose HOST_ feature was not negotiated";
        return false;
    }
    if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !(features & VNET_BIT(VIRTIO_NET_F_HOST_ECN))) {
        *why = "GSO ECN bit without HOST_ECN";
        return false;
    }
    if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
        *why = "GSO frame without NEEDS_CSUM";
        return false;
    }
    if (h->gso_size == 0) {
        *why = "GSO type with gso_size 0";
        return false;
    }
    if (h->hdr_len > frame_len) {
        *why = "hdr_len past the end of the frame";
        return false;
    }
    if (frame_len > VNET_MAX_GSO_FRAME) {
        *why = "GSO frame larger than 64 KiB";
        return false;
    }
    return true;
}

/* 5.1.3.1: each feature and the features of which it needs one. */
static const struct { unsigned feat; uint64_t needs_any; const char *msg; } feature_deps[] = {
    { VIRTIO_NET_F_GUEST_TSO4, VNET_BIT(VIRTIO_NET_F_GUEST_CSUM), "GUEST_TSO4 without GUEST_CSUM" },
    { VIRTIO_NET_F_GUEST_TSO6, VNET_BIT(VIRTIO_NET_F_GUEST_CSUM), "GUEST_TSO6 without GUEST_CSUM" },
    { VIRTIO_NET_F_GUEST_UFO, VNET_BIT(VIRTIO_NET_F_GUEST_CSUM), "GUEST_UFO without GUEST_CSUM" },
    { VIRTIO_NET_F_GUEST_ECN, VNET_BIT(VIRTIO_NET_F_GUEST_TSO4) | VNET_BIT(VIRTIO_NET_F_GUEST_TSO6),
      "GUEST_ECN without GUEST_TSO4 or GUEST_TSO6" },
    { VIRTIO_NET_F_HOST_TSO4, VNET_BIT(VIRTIO_NET_F_CSUM), "HOST_TSO4 without CSUM" },
    { VIRTIO_NET_F_HOST_TSO6, VNET_BIT(VIRTIO_NET_F_CSUM), "HOST_TSO6 without CSUM" },
    { VIRTIO_NET_F_HOST_UFO, VNET_BIT(VIRTIO_NET_F_CSUM), "HOST_UFO without CSUM" },
    { VIRTIO_NET_F_HOST_ECN, VNET_BIT(VIRTIO_NET_F_HOST_TSO4) | VNET_BIT(VIRTIO_NET_F_HOST_TSO6),
      "HOST_ECN without HOST_TSO4 or HOST_TSO6" },
    { VIRTIO_NET_F_CTRL_RX, VNET_BIT(VIRTIO_NET_F_CTRL_VQ), "CTRL_RX without CTRL_VQ" },
    { VIRTIO_NET_F_MQ, VNET_BIT(VIRTIO_NET_F_CTRL_VQ), "MQ without CTRL_VQ" },
    { VIRTIO_NET_F_CTRL_MAC_ADDR, VNET_BIT(VIRTIO_NET_F_CTRL_VQ), "CTRL_MAC_ADDR without CTRL_VQ" },
};

bool vmm_net_features_valid(uint64_t f, const char **why)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(feature_deps); i++) {
        if ((f & VNET_BIT(feature_deps[i].feat)) && !(f & feature_deps[i].needs_any)) {
            *why = feature_deps[i].msg;
            return false;
        }
    }
    return true;
}

uint64_t vmm_net_features_fixup(uint64_t f)
{
    /* The table lists dependants after what they depend on, so one pass
     * settles chains (CSUM -> HOST_TSO4 -> HOST_ECN). */
    for (unsigned i = 0; i < G_N_ELEMENTS(feature_deps); i++)
        if (!(f & feature_deps[i].needs_any))
            f &= ~VNET_BIT(feature_deps[i].feat);
    return f;
}

void vmm_net_rx_filter_reset(VmmNetRxFilter *f, const uint8_t mac[6])
{
    memset(f, 0, sizeof(*f));
    f->promisc = true;
    memcpy(f->mac, mac, 6);
}

static bool in_table(const uint8_t (*t)[6], unsigned n, const uint8_t dst[6])
{
    for (unsigned i = 0; i < n; i++)
        if (!memcmp(t[i], dst, 6))
            return true;
    return false;
}

bool vmm_net_rx_filter_accept(const VmmNetRxFilter *f, const uint8_t dst[6])
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    if (f->promisc)
        return true;
    if (!memcmp(dst, bcast, 6))
        return !f->nobcast;
    if (dst[0] & 1) {
        if (f->nomulti)
            return false;
        return f->allmulti || f->multi_overflow || in_table(f->multi, f->n_multi, dst);
    }
    if (f->nouni)
        return false;
    return f->alluni || f->uni_overflow || !memcmp(dst, f->mac, 6) ||
           in_table(f->uni, f->n_uni, dst);
}

/* One MAC table of TABLE_SET: le32 entries, then entries * 6 bytes. */
static bool parse_table(const uint8_t **p, size_t *left, uint8_t (*t)[6], unsigned *n,
                        bool *overflow, const char **why)
{
    if (*left < 4) {
        *why = "MAC table shorter than its entry count";
        return false;
    }
    uint32_t entries = le32(*p);
    *p += 4;
    *left -= 4;
    if ((uint64_t)entries * 6 > *left) {
        *why = "MAC table entry count larger than the command";
        return false;
    }
    *overflow = entries > VMM_NET_MAC_TABLE_MAX;
    *n = *overflow ? 0 : entries;
    if (!*overflow)
        memcpy(t, *p, (size_t)entries * 6);
    *p += (size_t)entries * 6;
    *left -= (size_t)entries * 6;
    return true;
}

uint8_t vmm_net_ctrl_apply(const uint8_t *buf, size_t len, const VmmNetCtrlLimits *lim,
                           VmmNetRxFilter *filter, VmmNetCtrlResult *res, const char **why)
{
    memset(res, 0, sizeof(*res));
    if (len < 2) {
        *why = "control command shorter than its class and command bytes";
        return VIRTIO_NET_ERR;
    }
    res->cls = buf[0];
    res->cmd = buf[1];
    const uint8_t *p = buf + 2;
    size_t left = len - 2;
    switch (res->cls) {
    case VIRTIO_NET_CTRL_RX: {
        if (!(lim->features & VNET_BIT(VIRTIO_NET_F_CTRL_RX))) {
            *why = "RX class without the CTRL_RX feature";
            return VIRTIO_NET_ERR;
        }
        if (left != 1) {
            *why = "RX command data is not one byte";
            return VIRTIO_NET_ERR;
        }
        bool on = p[0] != 0;
        res->on = on;
        switch (res->cmd) {
        case VIRTIO_NET_CTRL_RX_PROMISC: filter->promisc = on; break;
        case VIRTIO_NET_CTRL_RX_ALLMULTI: filter->allmulti = on; break;
        case VIRTIO_NET_CTRL_RX_ALLUNI: filter->alluni = on; break;
        case VIRTIO_NET_CTRL_RX_NOMULTI: filter->nomulti = on; break;
        case VIRTIO_NET_CTRL_RX_NOUNI: filter->nouni = on; break;
        case VIRTIO_NET_CTRL_RX_NOBCAST: filter->nobcast = on; break;
        default:
            *why = "unknown RX command";
            return VIRTIO_NET_ERR;
        }
        return VIRTIO_NET_OK;
    }
    case VIRTIO_NET_CTRL_MAC:
        if (res->cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
            if (!(lim->features & VNET_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR))) {
                *why = "MAC_ADDR_SET without the CTRL_MAC_ADDR feature";
                return VIRTIO_NET_ERR;
            }
            if (left != 6) {
                *why = "MAC_ADDR_SET data is not 6 bytes";
                return VIRTIO_NET_ERR;
            }
            memcpy(filter->mac, p, 6);
            return VIRTIO_NET_OK;
        }
        if (res->cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET) {
            if (!(lim->features & VNET_BIT(VIRTIO_NET_F_CTRL_RX))) {
                *why = "MAC_TABLE_SET without the CTRL_RX feature";
                return VIRTIO_NET_ERR;
            }
            /* Parse into a copy so a bad second table changes nothing. */
            VmmNetRxFilter f = *filter;
            if (!parse_table(&p, &left, f.uni, &f.n_uni, &f.uni_overflow, why) ||
                !parse_table(&p, &left, f.multi, &f.n_multi, &f.multi_overflow, why))
                return VIRTIO_NET_ERR;
            if (left) {
                *why = "bytes after the MAC tables";
                return VIRTIO_NET_ERR;
            }
            *filter = f;
            return VIRTIO_NET_OK;
        }
        *why = "unknown MAC command";
        return VIRTIO_NET_ERR;
    case VIRTIO_NET_CTRL_MQ:
        if (!(lim->features & VNET_BIT(VIRTIO_NET_F_MQ))) {
            *why = "MQ class without the MQ feature";
            return VIRTIO_NET_ERR;
        }
        if (res->cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
            *why = "unknown MQ command";
            return VIRTIO_NET_ERR;
        }
        if (left != 2) {
            *why = "VQ_PAIRS_SET data is not 2 bytes";
            return VIRTIO_NET_ERR;
        }
        res->pairs = le16(p);
        if (res->pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || res->pairs > lim->max_pairs) {
            *why = "VQ_PAIRS_SET outside 1..max_virtqueue_pairs";
            res->pairs = 0;
            return VIRTIO_NET_ERR;
        }
        return VIRTIO_NET_OK;
    default:
        *why = "unknown control class";
        return VIRTIO_NET_ERR;
    }
}
