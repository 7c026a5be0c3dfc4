/* The vhost layer: hands a virtio device's queues to a back end outside
 * this process's data path, written once and driven over two transports:
 * the kernel's vhost ioctls (vhost_kernel.c, /dev/vhost-net) and a
 * vhost-user front end on a unix socket (vhost_user.c, e.g. QEMU's
 * qemu-storage-daemon or DPDK's testpmd).
 *
 * What the layer does for either transport: owner, feature negotiation,
 * the memory table from the VM's memfd RAM regions, vring num/base/addr,
 * the queues' kick (ioeventfd) and call (irqfd) eventfds from the
 * virtio-pci transport, start/stop with the ring state handed over
 * (last_avail_idx), device config, and interrupts when the guest's
 * driver runs without MSI-X (the back end signals call_fd; the layer
 * turns that into INTx while no irqfd is assigned).
 *
 * A front end (vhost_user_blk.c, virtio-net's vhost path) is a
 * VmmVirtioOps whose start/stop call vmm_vhost_start/stop and whose
 * irq_changed calls vmm_vhost_irq_changed. Threads: calls on one device
 * are serialised by the layer; the disconnect handler runs on the layer's
 * own thread. */
#ifndef VMM_VHOST_H
#define VMM_VHOST_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct VmmVm VmmVm;
typedef struct VmmVirtioDev VmmVirtioDev;
typedef struct VmmVhostDev VmmVhostDev;

#define VMM_VHOST_ERROR (g_quark_from_static_string("vmm-vhost-error"))

/* One guest RAM region as a back end maps it. */
typedef struct {
    uint64_t gpa, size;
    uint64_t hva;                /* this process's mapping (vring addresses use it) */
    int fd;                      /* the memfd, mapped MAP_SHARED */
    uint64_t fd_offset;
} VmmVhostMemRegion;

#define VMM_VHOST_MAX_REGIONS 8

/* The VM's RAM as regions (low memory, high memory); returns the count. */
unsigned vmm_vhost_vm_regions(VmmVm *vm, VmmVhostMemRegion *out, unsigned max);

/* A device comes from a transport: vmm_vhost_user_connect() (vhost_user.h)
 * or vmm_vhost_kernel_open() (vhost_kernel.h). */
/* Closes the transport (a vhost-user back end then stops its rings) and
 * joins the layer's thread, which may be relaying interrupts to the
 * device it was started on: free the vhost device before that
 * VmmVirtioDev (vhost_user_blk.c does, and its stop then skips the
 * back end). */
void vmm_vhost_free(VmmVhostDev *v);
const char *vmm_vhost_name(VmmVhostDev *v);

/* What the back end offers: virtio device and transport feature bits
 * (the vhost-user bit 30 is the layer's business and not included). */
uint64_t vmm_vhost_features(VmmVhostDev *v);
/* vhost-user with the MQ protocol feature: GET_QUEUE_NUM's answer, which
 * back ends count per device type (queues for blk, queue pairs for net);
 * otherwise G_MAXUINT. The front end sizes its device by it; start does
 * not check it. */
unsigned vmm_vhost_max_queues(VmmVhostDev *v);

/* Set the features the driver accepted (a subset of vmm_vhost_features). */
bool vmm_vhost_set_features(VmmVhostDev *v, uint64_t features, GError **err);
/* Give the back end the VM's memory table. */
bool vmm_vhost_set_mem_table(VmmVhostDev *v, VmmVm *vm, GError **err);

/* DRIVER_OK: features (d->guest_features), memory table, then every
 * enabled queue of d: size, base (last_avail[i], or 0 for fresh rings when
 * last_avail is NULL), desc/avail/used addresses, kick_fd and call_fd,
 * enable. On failure the back end is left stopped. */
bool vmm_vhost_start(VmmVhostDev *v, VmmVirtioDev *d, const uint16_t *last_avail,
                     GError **err);
/* The same for queues [first, first + n) of d only, which the back end
 * knows as rings 0..n-1 (last_avail indexed by ring): vhost-net, one
 * vhost device per queue pair; a control queue the front end keeps. */
bool vmm_vhost_start_range(VmmVhostDev *v, VmmVirtioDev *d, unsigned first, unsigned n,
                           const uint16_t *last_avail, GError **err);
/* Enable or disable one started ring (vhost-user SET_VRING_ENABLE), e.g.
 * for virtio-net's VQ_PAIRS_SET. A no-op where the transport has no such
 * message (the kernel: vhost-net detaches the tap instead) or the ring was
 * not started. */
bool vmm_vhost_enable_queue(VmmVhostDev *v, unsigned ring, bool on, GError **err);
/* Reset: stop every started ring, collecting where the back end stopped
 * (GET_VRING_BASE) into last_avail[0..n) (by ring) when not NULL; entries
 * of rings that were not running, or whose back end is gone, are 0. */
void vmm_vhost_stop(VmmVhostDev *v, uint16_t *last_avail, unsigned n);

/* Device config space (virtio-blk's capacity, blk_size, seg_max,
 * num_queues ...): read len bytes from offset 0; write at offset. */
bool vmm_vhost_get_config(VmmVhostDev *v, void *buf, unsigned len, GError **err);
bool vmm_vhost_set_config(VmmVhostDev *v, unsigned offset, const void *buf, unsigned len,
                          GError **err);

/* The back end went away (socket closed): called once, from the layer's
 * thread, holding a layer lock (it may take the virtio device's lock, and
 * must not call back into the layer). The front end typically puts its
 * device in NEEDS_RESET. */
void vmm_vhost_set_disconnect_handler(VmmVhostDev *v, void (*fn)(void *opaque),
                                      void *opaque);
bool vmm_vhost_connected(VmmVhostDev *v);

/* The back end says its device config changed (vhost-user
 * BACKEND_CONFIG_CHANGE_MSG, e.g. qemu-storage-daemon after block_resize):
 * called from the layer's thread with no layer lock held, after the back
 * end got its acknowledgement. The front end reads the config again
 * (vmm_vhost_get_config) and raises the config interrupt. */
void vmm_vhost_set_config_handler(VmmVhostDev *v, void (*fn)(void *opaque), void *opaque);

/* When the back end hangs up, try every `seconds` to connect to it again
 * (vhost-user: the same socket path) instead of calling the disconnect
 * handler: the new back end must offer the same features; the started
 * rings are then handed to it, resuming at the used index in guest memory
 * (requests that were in flight are done again) and kicked, and the
 * guest notices nothing. 0 turns it off. Transports that cannot
 * reconnect (the kernel's) ignore it. */
void vmm_vhost_set_reconnect(VmmVhostDev *v, unsigned seconds);

/* The virtio-pci transport changed how interrupts reach the guest
 * (MSI-X enabled/disabled, vectors masked): VmmVirtioOps.irq_changed. */
void vmm_vhost_irq_changed(VmmVhostDev *v);

#endif
