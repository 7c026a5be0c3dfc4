/* libFuzzer target for the ICH9 AHCI function (src/hw/ahci.c over the
 * drive core in ata.c and atapi.c): the ABAR registers, its PCI
 * configuration space (MSI), and command lists, command tables, PRDTs and
 * received FIS areas in a small guest RAM, as a guest reaches them. Behind
 * it are real drives: an ATA disk on a memfd image through src/block/ (port
 * 0), an ATAPI CD-ROM (port 1) and a second disk (port 5). No KVM is
 * involved: the interrupt lines are the target's own (MSI goes to a closed
 * VM fd). The device must keep its lines at 0 or 1, never read back more
 * than the access size, and survive every sequence (the sanitizers watch
 * memory).
 *
 * Input: records of 8 bytes:
 *   [0] bit 0: write; bits 1-2: where
 *       0 ABAR (offset % 0x1000), 1 PCI config of 00:1f.0 by ECAM,
 *       2 guest RAM (value at offset), 3 ABAR dword write of value at
 *       0x100 + 0x80 * (offset >> 8 % 6) + (offset & 0x7c): a port register
 *   [1] size: 1 << (b & 3)
 *   [2..3] offset (little-endian)
 *   [4..7] value
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-ahci. */
#include "fuzz-vm.h"
#include "hw/ahci.h"
#include "fuzz-util.h"
#include "util/log.h"
#include "vmm/layout.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM_SIZE  0x10000
#define ABAR_BASE 0xc0000000u
#define SLOT      0x1f

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *ram;
    static char disk_path[64], cd_path[64], disk2_path[64];
    if (!ram) {
        if (!g_getenv("VMM_FUZZ_VERBOSE"))
            vmm_log_set_level(VMM_LOG_ERROR);
        ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (ram == MAP_FAILED)
            abort();
        fuzz_memfd_image("fuzz-sda", 1 << 20, disk_path, sizeof(disk_path));
        fuzz_memfd_image("fuzz-cd", 64 << 11, cd_path, sizeof(cd_path));
        fuzz_memfd_image("fuzz-sdc", 64 << 10, disk2_path, sizeof(disk2_path));
    }
    memset(ram, 0, RAM_SIZE);

    VmmDiskDef sda = { .path = disk_path, .target_dev = (char *)"sda",
                       .bus = VMM_DISK_BUS_SATA, .pci_slot = -1 };
    VmmDiskDef sdb = { .path = cd_path, .target_dev = (char *)"sdb", .bus = VMM_DISK_BUS_SATA,
                       .device = VMM_DISK_DEVICE_CDROM, .readonly = true, .ide_unit = 1,
                       .pci_slot = -1 };
    VmmDiskDef sdc = { .path = disk2_path, .target_dev = (char *)"sdc",
                       .bus = VMM_DISK_BUS_SATA, .ide_unit = 5, .pci_slot = -1 };
    VmmDomainDef def = { 0 };
    def.disks = g_ptr_array_new();
    g_ptr_array_add(def.disks, &sda);
    g_ptr_array_add(def.disks, &sdb);
    g_ptr_array_add(def.disks, &sdc);

    VmmVm *vm = fuzz_vm_new(ram, RAM_SIZE, fuzz_line_set);
    vm->def = &def;
    vm->vm_fd = -1;
    GError *err = NULL;
    VmmAhci *ahci = vmm_ahci_new(vm, SLOT, &err);
    if (!ahci)
        fuzz_fail("%s", err ? err->message : "no AHCI");
    /* As firmware leaves it: ABAR placed, memory decoding and bus mastering on. */
    uint64_t cfg = LAYOUT_ECAM_BASE + (SLOT << 15), v;
    v = ABAR_BASE;
    fuzz_access(&vm->mmio, true, cfg + 0x24, 4, &v);
    v = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    fuzz_access(&vm->mmio, true, cfg + PCI_COMMAND, 2, &v);

    for (size_t at = 0; at + 8 <= size; at += 8) {
        const uint8_t *r = data + at;
        bool write = r[0] & 1;
        unsigned sz = 1u << (r[1] & 3);
        unsigned off = r[2] | r[3] << 8;
        v = (uint64_t)r[4] | (uint64_t)r[5] << 8 | (uint64_t)r[6] << 16 | (uint64_t)r[7] << 24;
        switch ((r[0] >> 1) & 3) {
        case 0: fuzz_access(&vm->mmio, write, ABAR_BASE + off % 0x1000, sz, &v); break;
        case 1: fuzz_access(&vm->mmio, write, cfg + off % 256, sz > 4 ? 4 : sz, &v); break;
        case 2: memcpy(ram + off % (RAM_SIZE - 4), &v, 4); break;
        case 3: {
            unsigned port = (off >> 8) % 6;
            fuzz_access(&vm->mmio, true, ABAR_BASE + 0x100 + 0x80 * port + (off & 0x7c), 4, &v);
            break;
        }
        }
    }
    VmmBlockStats st;
    vmm_ahci_get_stats(ahci, "sda", &st);
    vmm_ahci_free(ahci);
    fuzz_vm_free(vm);
    g_ptr_array_free(def.disks, TRUE);
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "ahci");
}
#endif
