/* Direct kernel boot: an ELF64 vmlinux through the Linux 64-bit boot
 * protocol or its PVH note, or a bzImage through the 64-bit boot protocol.
 * The same loader boots the guest kit and Linux. */
#ifndef VMM_BOOT_H
#define VMM_BOOT_H

#include "vmm/vm.h"

/* protocol: "auto" (PVH when the ELF has a PVH note, as QEMU and
 * Firecracker do), "linux" (64-bit boot protocol) or "pvh". */
bool vmm_boot_load(VmmVm *vm, const char *protocol, VmmBootState *out, GError **err);
/* Identity page tables and boot GDT for the boot vCPU's entry state. */
void vmm_boot_setup_tables(VmmVm *vm);

/* Boot GDT selectors (LAYOUT_BOOT_GDT). */
#define BOOT_GDT_CODE32  0x08
#define BOOT_GDT_CODE64  0x10   /* __BOOT_CS of the 64-bit boot protocol */
#define BOOT_GDT_DATA    0x18   /* __BOOT_DS */
#define BOOT_GDT_TSS     0x20

#endif
