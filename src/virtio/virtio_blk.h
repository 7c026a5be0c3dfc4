/* virtio-blk: a <disk bus='virtio'> on a src/block/ backend. One I/O
 * thread per virtqueue waits on the queue's ioeventfd and the backend's
 * completion eventfd; requests never pass through a vCPU thread. */
#ifndef VMM_VIRTIO_BLK_H
#define VMM_VIRTIO_BLK_H

#include "block/block.h"
#include "conf/domain_conf.h"

typedef struct VmmVm VmmVm;
typedef struct VmmVirtioBlk VmmVirtioBlk;

/* disk must outlive the device; pci_slot is where the board placed it
 * (-1: the lowest free slot). */
VmmVirtioBlk *vmm_virtio_blk_new(VmmVm *vm, const VmmDiskDef *disk, int pci_slot,
                                 GError **err);
void vmm_virtio_blk_free(VmmVirtioBlk *b);
void vmm_virtio_blk_get_stats(VmmVirtioBlk *b, VmmBlockStats *out);
const VmmDiskDef *vmm_virtio_blk_disk(VmmVirtioBlk *b);

#endif
