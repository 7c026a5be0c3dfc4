/* libFuzzer target for the virtio-net parsers a hostile guest reaches:
 * the vnet header of transmitted frames, control-queue commands and the
 * receive filter they program.
 *
 * Input layout (little-endian):
 *   [0..7]  negotiated features
 *   [8..9]  MTU
 *   [10]    max_virtqueue_pairs
 *   [11]    bit 0: 0 = vnet header + frame, 1 = control command
 *   [12..]  header (12 bytes) and frame, or the command bytes
 * Accepted input is checked against the rules the device relies on, so a
 * parser that lets something through aborts here.
 *
 * Build with libFuzzer or, with -DVMM_FUZZ_STANDALONE, as a program
 * replaying files and directories (tests/fuzz/corpus-virtio-net by default). */
#include "virtio/virtio_net_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR 12

static void check(bool cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz-virtio-net: accepted input breaks: %s\n", what);
        abort();
    }
}

static void fuzz_hdr(uint64_t features, unsigned mtu, const uint8_t *d, size_t n)
{
    if (n < VIRTIO_NET_HDR_LEN)
        return;
    VmmVnetHdr h;
    vmm_vnet_hdr_decode(d, &h);
    uint8_t again[VIRTIO_NET_HDR_LEN];
    vmm_vnet_hdr_encode(&h, again);
    check(!memcmp(again, d, VIRTIO_NET_HDR_LEN), "header encode(decode(x)) == x");
    size_t frame = n - VIRTIO_NET_HDR_LEN;
    const char *why = NULL;
    if (!vmm_vnet_hdr_check_tx(&h, features, frame, mtu, &why)) {
        check(why && *why, "a refusal has a reason");
        return;
    }
    check(frame >= 14, "frame holds an Ethernet header");
    if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
        check((size_t)h.csum_start + h.csum_offset + 2 <= frame, "checksum field inside the frame");
    if ((h.gso_type & 0x7f) != VIRTIO_NET_HDR_GSO_NONE) {
        check(h.gso_size != 0, "GSO has a segment size");
        check(h.hdr_len <= frame, "hdr_len inside the frame");
    } else {
        check(frame <= (size_t)mtu + 18, "non-GSO frame within the MTU");
    }
}

static void fuzz_ctrl(uint64_t features, unsigned max_pairs, const uint8_t *d, size_t n)
{
    static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    VmmNetRxFilter f, before;
    vmm_net_rx_filter_reset(&f, mac);
    VmmNetCtrlLimits lim = { .features = features, .max_pairs = max_pairs };
    /* Commands back to back, split by their first byte as a length. */
    while (n) {
        size_t len = MIN((size_t)d[0], n - 1);
        before = f;
        VmmNetCtrlResult res;
        const char *why = NULL;
        uint8_t ack = vmm_net_ctrl_apply(d + 1, len, &lim, &f, &res, &why);
        if (ack == VIRTIO_NET_OK) {
            if (res.cls == VIRTIO_NET_CTRL_MQ)
                check(res.pairs >= 1 && res.pairs <= max_pairs, "accepted pair count in range");
            check(f.n_uni <= VMM_NET_MAC_TABLE_MAX && f.n_multi <= VMM_NET_MAC_TABLE_MAX,
                  "tables within bounds");
        } else {
            check(ack == VIRTIO_NET_ERR && why && *why, "an error has a reason");
            check(!memcmp(&before, &f, sizeof(f)), "a refused command changes nothing");
        }
        uint8_t dst[6] = { 0 };
        memcpy(dst, d + 1, MIN(len, sizeof(dst)));
        (void)vmm_net_rx_filter_accept(&f, dst);
        d += len + 1;
        n -= len + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR)
        return 0;
    uint64_t features = 0;
    for (int i = 7; i >= 0; i--)
        features = features << 8 | data[i];
    unsigned mtu = data[8] | data[9] << 8;
    const char *why;
    if (!vmm_net_features_valid(features, &why))
        features &= VNET_BIT(VIRTIO_NET_F_MTU) | VNET_BIT(VIRTIO_NET_F_MAC);
    if (data[11] & 1)
        fuzz_ctrl(features, data[10], data + HDR, size - HDR);
    else
        fuzz_hdr(features, mtu, data + HDR, size - HDR);
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "virtio-net");
}
#endif
