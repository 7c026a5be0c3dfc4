/* The VM around a device under a fuzz target: RAM the caller owns, the
 * pio and mmio buses, the IOAPIC pins as interrupt lines ending in `set`
 * (which checks the levels), and the PCI host, as src/vmm/vm.c makes
 * them; no KVM behind. */
#ifndef VMM_FUZZ_VM_H
#define VMM_FUZZ_VM_H

#include "hw/pci.h"
#include "vmm/vm.h"

#include <stdlib.h>

static inline VmmVm *fuzz_vm_new(uint8_t *ram, uint64_t size, void (*set)(VmmIrq *, int))
{
    VmmVm *vm = g_new0(VmmVm, 1);
    vm->ram = ram;
    vm->ram_size = vm->lowmem_size = size;
    vmm_bus_init(&vm->pio, "pio");
    vmm_bus_init(&vm->mmio, "mmio");
    for (unsigned i = 0; i < IOAPIC_NR_PINS; i++) {
        vm->gsi[i] = (VmmIrq){ .set = set, .opaque = vm, .gsi = i };
        vmm_irq_line_init(&vm->gsi_line[i], &vm->gsi[i]);
    }
    vm->pci = vmm_pci_host_new(&vm->pio, &vm->mmio, NULL);
    if (!vm->pci)
        abort();
    return vm;
}

/* After the devices were freed. */
static inline void fuzz_vm_free(VmmVm *vm)
{
    vmm_pci_host_free(vm->pci);
    for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
        vmm_irq_line_clear(&vm->gsi_line[i]);
    vmm_bus_destroy(&vm->pio);
    vmm_bus_destroy(&vm->mmio);
    g_free(vm);
}

#endif
