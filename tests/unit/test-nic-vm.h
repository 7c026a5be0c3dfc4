/* The VM around an emulated NIC in its unit tests (test-e1000,
 * test-rtl8139): guest RAM, the port and MMIO buses, the PCI host, every
 * GSI line ending in one TestIrq, and a datagram socketpair standing in
 * for the tap queue (nic_fd for the device, peer for the test). */
#ifndef VMM_TEST_NIC_VM_H
#define VMM_TEST_NIC_VM_H

#include "hw/pci.h"
#include "vmm/layout.h"
#include "vmm/vm.h"
#include "test-irq.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    VmmVm vm;
    TestIrq line;
    int nic_fd, peer;
    unsigned slot;
} NicVm;

static inline void nic_vm_init(NicVm *n, size_t ram, unsigned slot)
{
    VmmVm *vm = &n->vm;
    n->slot = slot;
    vm->ram = mmap(NULL, ram, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_assert_true(vm->ram != MAP_FAILED);
    vm->ram_size = vm->lowmem_size = ram;
    vmm_bus_init(&vm->pio, "pio");
    vmm_bus_init(&vm->mmio, "mmio");
    n->line.irq = (VmmIrq){ .set = test_irq_set, .opaque = &n->line };
    for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
        vmm_irq_line_init(&vm->gsi_line[i], &n->line.irq);
    vm->pci = vmm_pci_host_new(&vm->pio, &vm->mmio, NULL);
    g_assert_nonnull(vm->pci);
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), ==, 0);
    n->nic_fd = sv[0];
    n->peer = sv[1];
}

/* After the device is freed (it does not close nic_fd: its opener does). */
static inline void nic_vm_free(NicVm *n)
{
    close(n->nic_fd);
    close(n->peer);
    vmm_pci_host_free(n->vm.pci);
    for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
        vmm_irq_line_clear(&n->vm.gsi_line[i]);
    vmm_bus_destroy(&n->vm.pio);
    vmm_bus_destroy(&n->vm.mmio);
    munmap(n->vm.ram, n->vm.ram_size);
}

static inline void nic_cfg_write(NicVm *n, unsigned off, unsigned size, uint32_t v)
{
    vmm_bus_write(&n->vm.mmio, LAYOUT_ECAM_BASE + (n->slot << 15) + off, size, v);
}

static inline uint32_t nic_cfg_read(NicVm *n, unsigned off, unsigned size)
{
    uint64_t v = 0;
    vmm_bus_read(&n->vm.mmio, LAYOUT_ECAM_BASE + (n->slot << 15) + off, size, &v);
    return (uint32_t)v;
}

/* Polls `cond` until it holds, true, or false after about 10 s: a guard
 * against a hang while the device's I/O thread works, not a timing. */
#define NIC_WAIT(cond) ({                                                     \
        bool ok_ = false;                                                     \
        for (int t_ = 0; t_ < 20000 && !(ok_ = (cond)); t_++)                 \
            g_usleep(500);                                                    \
        ok_;                                                                  \
    })

/* The folded 16-bit one's-complement sum of [p, p+len) plus s, to check
 * the checksums a device wrote (0xffff over a field that is right). */
static inline uint16_t sum16(const uint8_t *p, size_t len, uint32_t s)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        s += p[i] << 8 | p[i + 1];
    if (len & 1)
        s += p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

#endif
