/* vhost-user-blk front end: a <disk type='vhostuser'> whose back end
 * (e.g. qemu-storage-daemon's vhost-user-blk export) serves the virtio-blk
 * queues from its own process, over the vhost layer (src/vhost/). */
#ifndef VMM_VHOST_USER_BLK_H
#define VMM_VHOST_USER_BLK_H

#include "conf/domain_conf.h"

typedef struct VmmVm VmmVm;
typedef struct VmmVhostUserBlk VmmVhostUserBlk;

/* Connects to the back end's socket (disk->path) and takes features and
 * config from it; an error names the disk and the socket. disk must
 * outlive the device. */
VmmVhostUserBlk *vmm_vhost_user_blk_new(VmmVm *vm, const VmmDiskDef *disk, int pci_slot,
                                        GError **err);
void vmm_vhost_user_blk_free(VmmVhostUserBlk *b);

#endif
