/* virtio-net wire formats (virtio 1.2, 5.1), parsed without KVM so that
 * the fuzz target and unit tests reach them: the feature rules, the vnet
 * header a driver puts before each transmitted frame, control-queue
 * commands, and the receive filter those commands program. Everything
 * here works on copies of guest memory. */
#ifndef VMM_VIRTIO_NET_PROTO_H
#define VMM_VIRTIO_NET_PROTO_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 5.1.3 Feature bits (bit numbers). */
#define VIRTIO_NET_F_CSUM            0
#define VIRTIO_NET_F_GUEST_CSUM      1
#define VIRTIO_NET_F_MTU             3
#define VIRTIO_NET_F_MAC             5
#define VIRTIO_NET_F_GUEST_TSO4      7
#define VIRTIO_NET_F_GUEST_TSO6      8
#define VIRTIO_NET_F_GUEST_ECN       9
#define VIRTIO_NET_F_GUEST_UFO       10
#define VIRTIO_NET_F_HOST_TSO4       11
#define VIRTIO_NET_F_HOST_TSO6       12
#define VIRTIO_NET_F_HOST_ECN        13
#define VIRTIO_NET_F_HOST_UFO        14
#define VIRTIO_NET_F_MRG_RXBUF       15
#define VIRTIO_NET_F_STATUS          16
#define VIRTIO_NET_F_CTRL_VQ         17
#define VIRTIO_NET_F_CTRL_RX         18
#define VIRTIO_NET_F_MQ              22
#define VIRTIO_NET_F_CTRL_MAC_ADDR   23
#define VNET_BIT(f)                  (1ULL << (f))

/* 5.1.4 Device configuration layout. */
#define VIRTIO_NET_CFG_MAC           0
#define VIRTIO_NET_CFG_STATUS        6
#define VIRTIO_NET_CFG_MAX_PAIRS     8
#define VIRTIO_NET_CFG_MTU           10
#define VIRTIO_NET_CFG_SIZE          12
#define VIRTIO_NET_S_LINK_UP         1

/* 5.1.6 struct virtio_net_hdr: 12 bytes with VERSION_1. */
#define VIRTIO_NET_HDR_LEN           12
#define VIRTIO_NET_HDR_F_NEEDS_CSUM  1
#define VIRTIO_NET_HDR_F_DATA_VALID  2
#define VIRTIO_NET_HDR_F_RSC_INFO    4
#define VIRTIO_NET_HDR_GSO_NONE      0
#define VIRTIO_NET_HDR_GSO_TCPV4     1
#define VIRTIO_NET_HDR_GSO_UDP       3
#define VIRTIO_NET_HDR_GSO_TCPV6     4
#define VIRTIO_NET_HDR_GSO_UDP_L4    5
#define VIRTIO_NET_HDR_GSO_ECN       0x80

typedef struct {
    uint8_t flags, gso_type;
    uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
} VmmVnetHdr;

#define ETH_HLEN_VNET     14
#define VLAN_HLEN_VNET    4
#define VNET_MAX_GSO_FRAME (65535 + ETH_HLEN_VNET + VLAN_HLEN_VNET)

void vmm_vnet_hdr_decode(const uint8_t raw[VIRTIO_NET_HDR_LEN], VmmVnetHdr *h);
void vmm_vnet_hdr_encode(const VmmVnetHdr *h, uint8_t raw[VIRTIO_NET_HDR_LEN]);

/* Checks the header of a frame the driver transmits (5.1.6.2): flags and
 * GSO type allowed by the negotiated features, gso_size set for GSO,
 * NEEDS_CSUM with GSO, hdr_len and the checksum field inside the frame,
 * the frame between an Ethernet header and the MTU (plus one VLAN tag;
 * GSO frames up to 64 KiB). False + a one-line reason. */
bool vmm_vnet_hdr_check_tx(const VmmVnetHdr *h, uint64_t features, size_t frame_len,
                           unsigned mtu, const char **why);

/* 5.1.3.1 Feature dependencies: false + reason if `features` breaks one. */
bool vmm_net_features_valid(uint64_t features, const char **why);
/* `features` minus every feature whose dependencies are missing: what a
 * device offers after the configuration disabled some. */
uint64_t vmm_net_features_fixup(uint64_t features);

/* 5.1.6.5 Control virtqueue. */
#define VIRTIO_NET_CTRL_RX                 0
#define VIRTIO_NET_CTRL_RX_PROMISC         0
#define VIRTIO_NET_CTRL_RX_ALLMULTI        1
#define VIRTIO_NET_CTRL_RX_ALLUNI          2
#define VIRTIO_NET_CTRL_RX_NOMULTI         3
#define VIRTIO_NET_CTRL_RX_NOUNI           4
#define VIRTIO_NET_CTRL_RX_NOBCAST         5
#define VIRTIO_NET_CTRL_MAC                1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET      0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET       1
#define VIRTIO_NET_CTRL_MQ                 4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET    0
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN    1
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX    0x8000
#define VIRTIO_NET_OK                      0
#define VIRTIO_NET_ERR                     1

/* Table entries kept per kind; a longer table turns the filter for that
 * kind fully open (what QEMU does with its 64-entry table). */
#define VMM_NET_MAC_TABLE_MAX 64
/* Largest command the device reads: two full tables and their counts. */
#define VMM_NET_CTRL_MAX_LEN  (2 + 8 + 6 * 2 * 1024)

typedef struct {
    bool promisc, allmulti, alluni, nomulti, nouni, nobcast;
    uint8_t mac[6];
    unsigned n_uni, n_multi;
    bool uni_overflow, multi_overflow;
    uint8_t uni[VMM_NET_MAC_TABLE_MAX][6];
    uint8_t multi[VMM_NET_MAC_TABLE_MAX][6];
} VmmNetRxFilter;

/* State after device reset: promiscuous, as QEMU starts, until the driver
 * programs the filter. */
void vmm_net_rx_filter_reset(VmmNetRxFilter *f, const uint8_t mac[6]);
/* Whether a frame with this destination address reaches the driver. */
bool vmm_net_rx_filter_accept(const VmmNetRxFilter *f, const uint8_t dst[6]);

typedef struct {
    uint64_t features;     /* negotiated: which classes exist */
    unsigned max_pairs;    /* max_virtqueue_pairs offered */
} VmmNetCtrlLimits;

typedef struct {
    uint8_t cls, cmd;
    bool on;                 /* RX class */
    uint16_t pairs;          /* MQ VQ_PAIRS_SET */
} VmmNetCtrlResult;

/* Parses one command (class, command, data; the ack byte is not part of
 * `buf`) and applies it to *filter. Returns VIRTIO_NET_OK or
 * VIRTIO_NET_ERR with *why saying what was wrong; *filter is unchanged
 * on error. res->pairs is set for an accepted VQ_PAIRS_SET (the caller
 * switches queues). */
uint8_t vmm_net_ctrl_apply(const uint8_t *buf, size_t len, const VmmNetCtrlLimits *lim,
                           VmmNetRxFilter *filter, VmmNetCtrlResult *res, const char **why);

#endif
