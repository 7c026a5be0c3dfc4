/* libFuzzer target for the PIIX3 IDE function (src/hw/ide.c, atapi.c): the
 * task file and control ports of both channels, the bus master registers
 * in BAR4, its PCI configuration space, PRD tables and data in a small
 * guest RAM, ATA commands and ATAPI packets, and media changes, all as a
 * guest (and vmmctl change-media) reach them. Behind it are real drives:
 * an ATA disk on memfd images through src/block/, and an ATAPI CD-ROM.
 * No KVM is involved: the device's interrupt lines are the target's own.
 * The device must keep its lines at 0 or 1, never read back more than the
 * access size, and survive every sequence (the sanitizers watch memory).
 *
 * Input: [0] bit 0: hdb is a second CD-ROM; bit 1: hdc starts empty; then
 * records of 8 bytes:
 *   [0] bit 0: write; bits 1-3: where
 *       0 primary command block (0x1f0 + offset % 8), 1 secondary (0x170),
 *       2 control port (0x3f6, 0x376 with offset bit 0), 3 BAR4 (offset % 16),
 *       4 PCI config of 00:01.1 by ECAM, 5 guest RAM (value at offset),
 *       6 a burst of offset % 4096 data port accesses on channel value & 1
 *       (writes of value >> 16 if a write), 7 media change in hdc (offset
 *       bit 0: eject, else insert; bit 1: force)
 *   [1] size: 1 << (b & 3), at most 4
 *   [2..3] offset (little-endian)
 *   [4..7] value
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-ide. */
#include "fuzz-vm.h"
#include "hw/bus.h"
#include "hw/ide.h"
#include "hw/pci.h"
#include "fuzz-util.h"
#include "util/log.h"
#include "vmm/layout.h"
#include "vmm/vm.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM_SIZE 0x10000
#define BM_BASE  0xc000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char disk_path[64], cd_path[64], cd2_path[64];
    bool first;
    uint8_t *ram = fuzz_ram(RAM_SIZE, &first);
    if (first) {
        fuzz_memfd_image("fuzz-hda", 1 << 20, disk_path, sizeof(disk_path));
        fuzz_memfd_image("fuzz-cd", 64 << 11, cd_path, sizeof(cd_path));
        fuzz_memfd_image("fuzz-cd2", 8 << 11, cd2_path, sizeof(cd2_path));
    }
    uint8_t mode = size ? data[0] : 0;

    VmmDiskDef hda = { .path = disk_path, .target_dev = (char *)"hda",
                       .bus = VMM_DISK_BUS_IDE, .pci_slot = -1 };
    VmmDiskDef hdb = { .path = cd2_path, .target_dev = (char *)"hdb", .bus = VMM_DISK_BUS_IDE,
                       .device = VMM_DISK_DEVICE_CDROM, .readonly = true, .ide_unit = 1,
                       .pci_slot = -1 };
    VmmDiskDef hdc = { .path = mode & 2 ? NULL : cd_path, .target_dev = (char *)"hdc",
                       .bus = VMM_DISK_BUS_IDE, .device = VMM_DISK_DEVICE_CDROM,
                       .readonly = true, .ide_bus = 1, .pci_slot = -1 };
    VmmDomainDef def = { 0 };
    def.disks = g_ptr_array_new();
    g_ptr_array_add(def.disks, &hda);
    if (mode & 1)
        g_ptr_array_add(def.disks, &hdb);
    g_ptr_array_add(def.disks, &hdc);

    VmmVm *vm = fuzz_vm_new(ram, RAM_SIZE, fuzz_line_set);
    vm->def = &def;
    GError *err = NULL;
    /* mode bit 2: PCI native mode (BARs 0-3 at the compatibility ports) */
    VmmIde *ide = vmm_ide_new(vm, mode & 4, &vm->gsi[GSI_IDE0], &vm->gsi[GSI_IDE1], &err);
    if (!ide)
        fuzz_fail("%s", err->message);
    /* As firmware leaves it: BAR4 placed, I/O decoding and bus mastering on. */
    uint64_t cfg = LAYOUT_ECAM_BASE + (VMM_IDE_PCI_SLOT << 15) + (1 << 12);
    fuzz_write(&vm->mmio, cfg + 0x20, 4, BM_BASE | 1);
    fuzz_write(&vm->mmio, cfg + PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MASTER);

    for (size_t at = 1; at + 8 <= size; at += 8) {
        FuzzRecord rec = fuzz_record(data + at);
        bool write = rec.write;
        unsigned sz = rec.sz > 4 ? 4 : rec.sz, off = rec.off;
        uint64_t v = rec.v;
        switch (rec.kind & 7) {
        case 0: fuzz_access(&vm->pio, write, 0x1f0 + off % 8, sz, &v); break;
        case 1: fuzz_access(&vm->pio, write, 0x170 + off % 8, sz, &v); break;
        case 2: fuzz_access(&vm->pio, write, off & 1 ? 0x376 : 0x3f6, 1, &v); break;
        case 3: fuzz_access(&vm->pio, write, BM_BASE + off % 16, sz, &v); break;
        case 4: fuzz_access(&vm->mmio, write, cfg + off % 256, sz, &v); break;
        case 5: memcpy(ram + off % (RAM_SIZE - 4), &v, 4); break;
        case 6: {
            uint64_t port = v & 1 ? 0x170 : 0x1f0, w = v >> 16;
            for (unsigned i = 0; i < off % 4096; i++)
                fuzz_access(&vm->pio, write, port, 2, &w);
            break;
        }
        case 7: {
            GError *e = NULL;
            vmm_ide_change_media(ide, "hdc", off & 1 ? NULL : (v & 1 ? cd2_path : cd_path),
                                 -1, off & 2, &e);
            g_clear_error(&e);
            break;
        }
        }
    }
    VmmBlockStats st;
    vmm_ide_get_stats(ide, "hda", &st);
    vmm_ide_free(ide);
    fuzz_vm_free(vm);
    g_ptr_array_free(def.disks, TRUE);
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "ide");
}
#endif
