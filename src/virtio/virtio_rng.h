/* virtio-rng (virtio 1.2 section 5.4): an <rng model='virtio'>. One
 * requestq served by an I/O thread of its own, from a host file or the
 * host kernel's getrandom(), at most <rate bytes> per <rate period>. */
#ifndef VMM_VIRTIO_RNG_H
#define VMM_VIRTIO_RNG_H

#include <glib.h>
#include <stdint.h>

#include "conf/rng_conf.h"

typedef struct VmmVm VmmVm;
typedef struct VmmVirtioRng VmmVirtioRng;

/* def must outlive the device; pci_slot is where the board placed it. */
VmmVirtioRng *vmm_virtio_rng_new(VmmVm *vm, const VmmRngDef *def, unsigned index,
                                 int pci_slot, GError **err);
void vmm_virtio_rng_free(VmmVirtioRng *r);
/* Bytes handed to the guest, requests answered. */
void vmm_virtio_rng_get_stats(VmmVirtioRng *r, uint64_t *bytes, uint64_t *requests);

#endif
