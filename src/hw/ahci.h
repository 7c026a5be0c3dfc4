/* An AHCI 1.3 SATA controller of the ICH9 class (8086:2922, class 01 06 01,
 * ABAR at BAR5), as QEMU's q35 machine has for libvirt's bus='sata' disks:
 * six ports, one drive each (ATA disks and ATAPI CD-ROMs, the same drive
 * core as IDE: ata.c, atapi.c), 32 command slots with NCQ, MSI (one vector)
 * or INTx. I/O through src/block/ with the disk's cache and io modes. */
#ifndef VMM_HW_AHCI_H
#define VMM_HW_AHCI_H

#include <glib.h>
#include <stdbool.h>

#include "block/block.h"

typedef struct VmmVm VmmVm;
typedef struct VmmAhci VmmAhci;

#define VMM_AHCI_PORTS 6

/* One port per <disk bus='sata'> of vm->def (its sata_port), in PCI slot
 * `slot` of vm->pci. */
VmmAhci *vmm_ahci_new(VmmVm *vm, int slot, GError **err);
void vmm_ahci_free(VmmAhci *ahci);
/* Statistics of the drive named target_dev; false when it has no medium
 * or is not on this controller. */
bool vmm_ahci_get_stats(VmmAhci *ahci, const char *target_dev, VmmBlockStats *out);
/* The image in CD-ROM target_dev now (a copy to free), or NULL. */
char *vmm_ahci_medium(VmmAhci *ahci, const char *target_dev);
/* virsh change-media on a SATA CD-ROM, as vmm_ide_change_media(). */
bool vmm_ahci_change_media(VmmAhci *ahci, const char *target_dev, const char *path, int fd,
                           bool force, GError **err);

#endif
