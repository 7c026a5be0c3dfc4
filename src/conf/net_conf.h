/* libvirt's <interface> element: the network interfaces of a domain, with
 * libvirt's forms and defaults, parsed strictly and formatted back
 * canonically. What each field does at run time: src/net/ and
 * src/virtio/virtio_net.c; the man page vmmd-domain(5). */
#ifndef VMM_NET_CONF_H
#define VMM_NET_CONF_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define VMM_NET_MAX_QUEUES 16          /* queue pairs per interface */
#define VMM_NET_IFNAME_MAX 15          /* IFNAMSIZ - 1 */

typedef enum {
    VMM_NET_BRIDGE = 0,   /* a tap vmmd creates and attaches to <source bridge> */
    VMM_NET_ETHERNET,     /* a tap: <target dev managed='no'> existing, else created */
    VMM_NET_USER,         /* passt (libvirt 9.0's <backend type='passt'/>) */
    VMM_NET_VHOSTUSER,    /* a vhost-user back end on a unix socket */
    VMM_NET_NETWORK,      /* a tap on a vmmd virtual network's bridge (<source network>) */
} VmmNetType;

typedef enum {
    VMM_NET_DRIVER_DEFAULT = 0,   /* vhost when /dev/vhost-net opens, else qemu */
    VMM_NET_DRIVER_VHOST,
    VMM_NET_DRIVER_QEMU,          /* vmm-worker's userspace back end */
} VmmNetDriver;

/* <model type>: the device the guest sees. */
typedef enum {
    VMM_NET_MODEL_VIRTIO = 0,     /* virtio-net (also when <model> is absent) */
    VMM_NET_MODEL_E1000,          /* Intel 82540EM, emulated (src/hw/e1000.c) */
    VMM_NET_MODEL_RTL8139,        /* Realtek RTL8139C+, emulated (src/hw/rtl8139.c) */
} VmmNetModel;

typedef enum { VMM_TRI_DEFAULT = 0, VMM_TRI_ON, VMM_TRI_OFF } VmmTristate;

/* <driver><host .../>: offloads the back end may do for the guest's
 * transmitted frames; <driver><guest .../>: offloads offered to the guest
 * for received ones. Index order = the attribute tables in net_conf.c. */
typedef enum {
    VMM_NET_HOST_CSUM = 0, VMM_NET_HOST_GSO, VMM_NET_HOST_TSO4, VMM_NET_HOST_TSO6,
    VMM_NET_HOST_ECN, VMM_NET_HOST_UFO, VMM_NET_HOST_MRG_RXBUF, VMM_NET_HOST_N
} VmmNetHostOffload;
typedef enum {
    VMM_NET_GUEST_CSUM = 0, VMM_NET_GUEST_TSO4, VMM_NET_GUEST_TSO6, VMM_NET_GUEST_ECN,
    VMM_NET_GUEST_UFO, VMM_NET_GUEST_N
} VmmNetGuestOffload;

typedef struct {
    VmmNetType type;
    uint8_t mac[6];              /* <mac address>; generated (52:54:00:...) when absent */
    char *bridge;                /* bridge: <source bridge>; network: its bridge, filled
                                  * by the daemon at start (the live XML shows it) */
    char *network;               /* network: <source network='NAME'> */
    char *target_dev;            /* <target dev>, or NULL (vmmd names it vnetN) */
    bool managed_no;             /* ethernet: <target managed='no'>: the tap exists */
    VmmNetModel model;           /* <model type> */
    VmmNetDriver driver;         /* <driver name> */
    unsigned queues;             /* <driver queues>; 0 = 1 */
    unsigned rx_queue_size;      /* 0 = 256 */
    unsigned tx_queue_size;      /* 0 = 256 */
    VmmTristate host[VMM_NET_HOST_N];
    VmmTristate guest[VMM_NET_GUEST_N];
    bool link_down;              /* <link state='down'/> */
    unsigned mtu;                /* <mtu size>; 0 = not given (1500) */
    char *socket_path;           /* vhostuser: <source type='unix' path> */
    bool socket_server;          /* vhostuser: mode='server' (vmmd listens) */
    int pci_slot;                /* <address type='pci' slot>, -1 = assign */
} VmmNetDef;

/* Parsing, formatting, copy and equality: conf_net_class (conf_parse.h). */
void vmm_net_def_free(VmmNetDef *net);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmNetDef, vmm_net_def_free)

const char *vmm_net_type_to_string(VmmNetType t);
const char *vmm_net_model_to_string(VmmNetModel m);   /* "virtio", "e1000", "rtl8139" */
/* "52:54:00:12:34:56" into out[18] */
void vmm_net_mac_format(const uint8_t mac[6], char out[18]);

#endif
