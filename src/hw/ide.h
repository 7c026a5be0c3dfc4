/* The PIIX3 IDE function (8086:7010) at 00:01.1, with the PIIX3 ISA bridge
 * (8086:7000) as function 0 so guests scan the slot, as on QEMU's i440fx
 * ("pc") machine that libvirt's bus='ide' disks live on. Both channels in
 * legacy (compatibility) mode: command blocks 0x1f0/0x170, control 0x3f6/
 * 0x376, ISA IRQ 14/15 (edge); bus-master DMA through BAR4. ATA disks and
 * ATAPI CD-ROMs (atapi.c), master and slave on each channel, I/O through
 * src/block/ with the disk's cache and io modes. */
#ifndef VMM_HW_IDE_H
#define VMM_HW_IDE_H

#include <glib.h>
#include <stdbool.h>

#include "block/block.h"
#include "hw/bus.h"

typedef struct VmmVm VmmVm;
typedef struct VmmIde VmmIde;

#define VMM_IDE_PCI_SLOT 1

/* One drive per <disk bus='ide'> of vm->def, on vm->pio and vm->pci;
 * irq0 and irq1 are the lines of the primary and secondary channel, owned
 * by the caller. Compatibility mode (native false): ISA IRQ 14 and 15,
 * edge, one pulse per interrupt. PCI native mode (prog-if 0x8f): each
 * channel's command and control blocks are BARs 0/1 and 2/3, set at the
 * compatibility addresses (0x1f0, 0x3f4+2, 0x170, 0x374+2) until the guest
 * moves them, and both channels interrupt on the function's INTA (irq0
 * and irq1 are two sources on that one level line), INTRQ held until the
 * Status register is read. Native mode is for ACPI hardware-reduced
 * platforms, where the OS has no ISA IRQs (Linux drops the 8259 and
 * numbers IOAPIC pins dynamically, so ata_piix's request of IRQ 14 fails). */
VmmIde *vmm_ide_new(VmmVm *vm, bool native, VmmIrq *irq0, VmmIrq *irq1, GError **err);
void vmm_ide_free(VmmIde *ide);
/* Statistics of the drive named target_dev (hda..hdd); false when it has
 * no medium (an empty CD-ROM tray) or is not there. */
bool vmm_ide_get_stats(VmmIde *ide, const char *target_dev, VmmBlockStats *out);
/* The image in the drive target_dev now (a copy to free), or NULL for an
 * empty tray. */
char *vmm_ide_medium(VmmIde *ide, const char *target_dev);
/* virsh change-media: put path (NULL = eject) in CD-ROM target_dev. The
 * guest sees UNIT ATTENTION (medium may have changed) and a media event.
 * fd >= 0: path already opened by vmmd (the confined worker opens no file;
 * vmm_block_open_flags() for the disk), consumed in every case; -1: opened
 * here; an eject (path NULL) takes none. Fails when target_dev is no
 * CD-ROM, an eject comes with a descriptor, the guest locked the tray
 * (PREVENT MEDIUM REMOVAL) and force is false, or path cannot be opened. */
bool vmm_ide_change_media(VmmIde *ide, const char *target_dev, const char *path, int fd,
                          bool force,
                          GError **err);

#endif
