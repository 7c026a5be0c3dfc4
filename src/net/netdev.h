/* The host side of one <interface>: what its definition asks for, opened
 * and configured, as file descriptors a virtio-net device can use.
 *
 * One function serves both places that need it: vmmd (which has the
 * privileges) opens the host side and hands the fds to the worker it
 * spawns, as libvirt does with QEMU; `vmm-worker --xml` run on its own
 * opens them itself. Taps vmmd creates are not persistent, so the kernel
 * removes them with the last fd, when the worker exits however it exits;
 * passt runs with --one-off and exits when its socket closes. Nothing is
 * left behind, even after a crash. */
#ifndef VMM_NET_NETDEV_H
#define VMM_NET_NETDEV_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/net_conf.h"
#include "net/passt.h"
#include "net/tap.h"

/* virsh's net.N.* counters of one interface, whatever its model; rx =
 * towards the guest, tx = from it. */
typedef struct {
    uint64_t rx_bytes, rx_pkts, rx_errs, rx_drop;
    uint64_t tx_bytes, tx_pkts, tx_errs, tx_drop;
} VmmNetStats;

typedef struct VmmNetdev {
    VmmNetType type;
    char ifname[16];                   /* the tap's name ("" for passt) */
    unsigned nfds;
    int fds[VMM_TAP_MAX_QUEUES];       /* tap queues, or the passt socket */
    VmmTap *tap;
    VmmPasst *passt;
    bool adopted;                      /* fds handed over: closed by us */
} VmmNetdev;

/* Opens the host side of interface `index` (for messages: "interface 0
 * (vnet3)"). bridge: a tap (<target dev> or vnetN) attached to the
 * bridge; ethernet: the existing tap (managed='no') or a new one; both
 * get the MTU and are brought up (the carrier follows <link state>);
 * user: passt. Every failure is one message naming the interface and the
 * cause, with nothing left open or created. */
VmmNetdev *vmm_netdev_open(const VmmNetDef *def, unsigned index, GError **err);
/* Closes the fds (a tap made here then disappears) and stops passt. */
void vmm_netdev_close(VmmNetdev *n);
/* Gives up the fds and processes without closing them (they now belong
 * to someone else, e.g. the worker they were passed to: the caller closes
 * its copies); passt is reaped when it exits. */
void vmm_netdev_release(VmmNetdev *n);

/* The host side of interface `index` from fds someone else opened (vmmd,
 * via --net-fds): tap queues, or passt's socket. def NULL (no such
 * interface) or a wrong number of fds is an error. */
VmmNetdev *vmm_netdev_adopt(const VmmNetDef *def, unsigned index, const int *fds,
                            unsigned nfds, GError **err);

/* The worker's command-line form of fds handed over: "INDEX:FD,FD,...".
 * Parses into *index and fds (at most VMM_TAP_MAX_QUEUES). */
bool vmm_netdev_parse_fd_arg(const char *arg, unsigned *index, int *fds, unsigned *nfds,
                             GError **err);

#endif
