/* virtio-console with VIRTIO_CONSOLE_F_MULTIPORT (virtio 1.2 section 5.3),
 * libvirt's virtio-serial controller: one PCI device per VM carrying the
 * virtio console (port 0, hvc0) and every <channel> (named ports), each
 * port's host end a character device of src/util/chardev.c. */
#ifndef VMM_VIRTIO_CONSOLE_H
#define VMM_VIRTIO_CONSOLE_H

#include <glib.h>
#include <stdint.h>

#include "conf/vserial_conf.h"

typedef struct VmmVm VmmVm;
typedef struct VmmChardev VmmChardev;
typedef struct VmmVirtioConsole VmmVirtioConsole;

/* One port per element of `channels` (VmmChannelDef*, which must outlive
 * the device); backends[i] is the host end of channels[i] or NULL (output
 * dropped, no input). nr_ports is max_nr_ports (vmm_vserial_nr_ports). */
VmmVirtioConsole *vmm_virtio_console_new(VmmVm *vm, const GPtrArray *channels,
                                         VmmChardev *const *backends, unsigned nr_ports,
                                         int pci_slot, GError **err);
void vmm_virtio_console_free(VmmVirtioConsole *c);

/* Whether the guest opened port `id` (PORT_OPEN), for query-chardevs. */
bool vmm_virtio_console_guest_open(VmmVirtioConsole *c, unsigned id);

#endif
