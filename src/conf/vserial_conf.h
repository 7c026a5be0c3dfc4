/* The virtio-serial device as libvirt writes it: <controller
 * type='virtio-serial'>, <console> with <target type='virtio'/> (hvc0) and
 * <channel> with <target type='virtio' name='...'/> (named ports), parsed
 * strictly and formatted back canonically (vserial_conf.c). The device:
 * src/virtio/virtio_console.c; host ends: src/util/chardev.c. */
#ifndef VMM_VSERIAL_CONF_H
#define VMM_VSERIAL_CONF_H

#include <glib.h>
#include <stdbool.h>

#include "conf/chardev_conf.h"

/* Ports of the one virtio-serial device: QEMU's default max_ports. */
#define VMM_VSERIAL_MAX_PORTS     31
/* Longest <target name>: it becomes a path component and a sysfs name. */
#define VMM_VSERIAL_NAME_MAX      128

typedef struct {
    unsigned index;    /* always 0: one virtio-serial controller per VM */
    unsigned ports;    /* ports='N', 0 = not given (vmmd sizes the device) */
    int pci_slot;      /* -1 = vmmd assigns one */
} VmmControllerDef;

typedef enum {
    VMM_VSERIAL_CONSOLE = 0,   /* <console><target type='virtio'/> */
    VMM_VSERIAL_CHANNEL,       /* <channel><target type='virtio'/> */
} VmmVserialKind;

typedef struct {
    VmmVserialKind kind;
    VmmChrDef chr;         /* host end: type, path, append, listen (chr.port unused) */
    char *name;            /* channel: <target name>, or NULL */
    unsigned target_port;  /* console: <target port> (libvirt's console index) */
    unsigned port;         /* virtio-serial port: console 0, channels from 1 */
    bool port_set;         /* <address type='virtio-serial' port='N'/> was given */
    long line;             /* of the element, for messages after parsing */
} VmmChannelDef;

void vmm_controller_def_free(VmmControllerDef *c);
void vmm_channel_def_free(VmmChannelDef *ch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmChannelDef, vmm_channel_def_free)

/* The virtio-serial device's port count: the controller's ports=, else the
 * highest port in use plus one. 0 when the domain has no such device. */
unsigned vmm_vserial_nr_ports(const GPtrArray *controllers, const GPtrArray *channels);

/* libvirt's alias of channel i of def->channels ("console1", "channel0"):
 * consoles are counted after the serial console when the domain has
 * serial ports, channels from 0. g_free() it. */
char *vmm_channel_alias(const GPtrArray *channels, guint i, bool has_serial);

/* A unix channel with mode='bind' and no path (libvirt generates one):
 * the path vmm-worker listens on, <run_dir>/channel/<domain>/<name>. */
char *vmm_channel_auto_path(const char *run_dir, const char *domain, const char *name);

#endif
