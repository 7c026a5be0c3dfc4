/* Linux tap devices for virtio-net's userspace backend: open an existing
 * tap or create one (vnetN), with IFF_VNET_HDR and one queue (file
 * descriptor) per virtio queue pair (IFF_MULTI_QUEUE), set its MTU,
 * attach it to a bridge, bring it up, and delete it when vmmd made it.
 * Every error names the interface and the cause. */
#ifndef VMM_NET_TAP_H
#define VMM_NET_TAP_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define VMM_TAP_MAX_QUEUES 16

typedef struct {
    char name[16];               /* IFNAMSIZ */
    unsigned nqueues;
    int fds[VMM_TAP_MAX_QUEUES];
    bool created;                /* made by vmm_tap_open */
    bool persist;                /* made persistent: vmm_tap_close deletes it */
    unsigned offloads;           /* TUN_F_* the kernel accepted when probed */
} VmmTap;

/* Opens `name` (NULL or "" or a name ending in "%d" = create a new
 * vnetN-style device), nqueues queues with a 12-byte vnet header. */
VmmTap *vmm_tap_open(const char *name, unsigned nqueues, GError **err);
/* Closes the queues; deletes the device if vmm_tap_open created it. */
void vmm_tap_close(VmmTap *t);

/* Persistent taps outlive their fds (the daemon creates one, passes the
 * fds on, deletes it when the VM stops). */
bool vmm_tap_set_persist(VmmTap *t, bool persist, GError **err);
/* Deletes the persistent tap `name`. */
bool vmm_tap_delete(const char *name, GError **err);
bool vmm_tap_set_mtu(VmmTap *t, unsigned mtu, GError **err);
bool vmm_tap_set_up(VmmTap *t, bool up, GError **err);
bool vmm_tap_attach_bridge(VmmTap *t, const char *bridge, GError **err);
/* Per-queue operations on a tap fd (the device gets fds, not a VmmTap);
 * `name` is for messages. */
/* TUN_F_* the kernel accepts on this tap, probed one by one (UFO came
 * and went across kernel versions). */
unsigned vmm_tap_probe_offloads(int fd);
/* TUN_F_* offloads the tap may hand to the guest (what it negotiated). */
bool vmm_tap_set_offload(int fd, const char *name, unsigned tun_flags, GError **err);
/* Detach or re-attach one queue of a multiqueue tap (VQ_PAIRS_SET): a
 * detached queue gets no frames from the kernel. */
bool vmm_tap_enable_queue(int fd, const char *name, bool enable, GError **err);
/* Carrier as the host sees it (link state='down'). */
bool vmm_tap_set_carrier(VmmTap *t, bool on, GError **err);

#endif
