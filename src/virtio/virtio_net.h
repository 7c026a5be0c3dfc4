/* virtio-net (virtio 1.2, 5.1) on a tap with a userspace backend (or a vhost
 * back end, see VmmNetConfig.vhost): one I/O
 * thread per queue pair moves frames between the tap queue and the guest
 * buffers with readv/writev (no copy of the payload), in batches, with
 * notifications suppressed while it works. The control queue (RX filter,
 * MAC address, VQ_PAIRS_SET) is served by the first pair's thread.
 *
 * The device does not own the tap: the caller opens it (src/net/tap.h),
 * passes one fd per queue pair, and closes it after vmm_virtio_net_free. */
#ifndef VMM_VIRTIO_NET_H
#define VMM_VIRTIO_NET_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/netdev.h"   /* VmmNetStats */

#define VMM_NET_MAX_PAIRS 16

typedef struct VmmVm VmmVm;
typedef struct VmmVirtioNet VmmVirtioNet;

typedef struct {
    const char *name;            /* "vnet0": for messages and statistics */
    uint8_t mac[6];
    unsigned mtu;                /* 0 = 1500, not advertised */
    unsigned queue_pairs;        /* 1..VMM_NET_MAX_PAIRS, one tap fd each */
    const int *tap_fds;
    bool stream;                 /* tap_fds[0] is a stream socket in QEMU's
                                  * length-prefixed framing (passt): no vnet
                                  * header, so no offloads; one pair */
    unsigned rx_queue_size, tx_queue_size;   /* 0 = 256 */
    uint64_t disabled_features;  /* VNET_BIT(VIRTIO_NET_F_*) never offered */
    bool link_down;
    int pci_slot;                /* -1 = any */
    /* A vhost back end serves the rx/tx queues instead of the I/O threads
     * (src/vhost/): the device takes it over when it is created (the
     * caller frees it when creation fails) and frees it. vhost-user:
     * tap_fds is unused; the kernel's vhost-net: tap_fds[0] is attached to
     * the rings (VHOST_NET_SET_BACKEND), one queue pair. The front end
     * keeps the config space, the feature intersection and the control
     * queue. */
    struct VmmVhostDev *vhost;
} VmmNetConfig;


VmmVirtioNet *vmm_virtio_net_new(VmmVm *vm, const VmmNetConfig *cfg, GError **err);
void vmm_virtio_net_free(VmmVirtioNet *n);
/* Link state as the guest sees it; a change raises the config interrupt. */
void vmm_virtio_net_set_link(VmmVirtioNet *n, bool up);
bool vmm_virtio_net_get_link(VmmVirtioNet *n);
/* Totals into *total (control-queue errors count as tx.errs) and, when
 * per_pair is not NULL, one entry per queue pair (max entries). Returns
 * the number of queue pairs. */
unsigned vmm_virtio_net_get_stats(VmmVirtioNet *n, VmmNetStats *total, VmmNetStats *per_pair,
                                  unsigned max);
/* The features the driver negotiated (0 before FEATURES_OK). */
uint64_t vmm_virtio_net_features(VmmVirtioNet *n);
const char *vmm_virtio_net_name(VmmVirtioNet *n);
/* The transport, for the board (PCI placement) and tests. */
typedef struct VmmVirtioDev VmmVirtioDev;
VmmVirtioDev *vmm_virtio_net_vdev(VmmVirtioNet *n);

#endif
