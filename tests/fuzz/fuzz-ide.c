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
    static uint8_t *ram;
    static char disk_path[64], cd_path[64], cd2_path[64];
    if (!ram) {
        if (!g_getenv("VMM_FUZZ_VERBOSE"))
            vmm_log_set_level(VMM_LOG_ERROR);
        ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (ram == MAP_FAILED)
            abort();
        fuzz_memfd_image("fuzz-hda", 1 << 20, disk_path, sizeof(disk_path));
        fuzz_memfd_image("fuzz-cd", 64 << 11, cd_path, sizeof(cd_path));
        fuzz_memfd_image("fuzz-cd2", 8 << 11, cd2_path, sizeof(cd2_path));
    }
    memset(ram, 0, RAM_SIZE);
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

    VmmVm *vm = g_new0(VmmVm, 1);
    vm->def = &def;
    vm->ram = ram;
    vm->ram_size = vm->lowmem_size = RAM_SIZE;
    vmm_bus_init(&vm->pio, "pio");
    vmm_bus_init(&vm->mmio, "mmio");
    vm->pci = vmm_pci_host_new(&vm->pio, &vm->mmio, NULL);
    VmmIrq irq[2] = { { .set = fuzz_line_set, .gsi = GSI_IDE0 }, { .set = fuzz_line_set, .gsi = GSI_IDE1 } };
    GError *err = NULL;
    /* mode bit 2: PCI native mode (BARs 0-3 at the compatibility ports) */
    VmmIde *ide = vm->pci ? vmm_ide_new(vm, mode & 4, &irq[0], &irq[1], &err) : NULL;
    if (!ide)
        fuzz_fail("%s", err ? err->message : "no PCI host");
    /* As firmware leaves it: BAR4 placed, I/O decoding and bus mastering on. */
    uint64_t cfg = LAYOUT_ECAM_BASE + (VMM_IDE_PCI_SLOT << 15) + (1 << 12), v;
    v = BM_BASE | 1;
    fuzz_access(&vm->mmio, true, cfg + 0x20, 4, &v);
    v = PCI_COMMAND_IO | PCI_COMMAND_MASTER;
    fuzz_access(&vm->mmio, true, cfg + PCI_COMMAND, 2, &v);

    for (size_t at = 1; at + 8 <= size; at += 8) {
        const uint8_t *r = data + at;
        bool write = r[0] & 1;
        unsigned sz = 1u << (r[1] & 3);
        if (sz > 4)
            sz = 4;
        unsigned off = r[2] | r[3] << 8;
        v = (uint64_t)r[4] | (uint64_t)r[5] << 8 | (uint64_t)r[6] << 16 | (uint64_t)r[7] << 24;
        switch ((r[0] >> 1) & 7) {
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
    vmm_pci_host_free(vm->pci);
    vmm_bus_destroy(&vm->pio);
    vmm_bus_destroy(&vm->mmio);
    g_free(vm);
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
