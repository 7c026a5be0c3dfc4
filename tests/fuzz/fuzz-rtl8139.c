/* libFuzzer target for the rtl8139 register and descriptor parser
 * (src/hw/rtl8139.c): the registers through the MMIO BAR and the I/O BAR,
 * PCI configuration space, the 93C46 bit-banging, classic transmit slots
 * and receive ring buffer, C+ transmit and receive descriptor rings the
 * input writes into a small guest RAM, and frames arriving from the host
 * side, all through the real PCI host, buses and interrupt lines. Behind
 * it: a datagram socketpair as the tap queue, or a stream one as passt's
 * socket. No KVM is involved (INTx lines end in a check here).
 *
 * Checks: reads never return bits beyond their size, interrupt lines are
 * driven to 0 or 1 only; and whatever the input did, after CR.RST the
 * device transmits an ordinary frame from a classic transmit slot, whole.
 *
 * Input: [0] bit 0: back end (0 tap, 1 passt), then records of 8 bytes:
 *   [0] bit 0: write; bits 1-3: where
 *       0 config space (ECAM), 1 the MMIO BAR at offset % 0x100, 2 one of
 *       the interesting registers (table below, by offset byte), 3 the I/O
 *       BAR, 4 guest RAM (8 bytes at offset), 5 a frame of value % 2048
 *       bytes from RAM at offset to the device, 6 the host side drains
 *       what the device sent, 7 a C+ descriptor: 16 bytes at ring 0x1000
 *       or 0x2000 (offset bit 15) index offset % 16, address = offset,
 *       opts1 = value
 *   [1] size: 1 << (b & 3)
 *   [2..3] offset (little-endian)
 *   [4..7] value
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-rtl8139. */
#include "hw/bus.h"
#include "hw/rtl8139.h"
#include "hw/pci.h"
#include "util/log.h"
#include "vmm/layout.h"
#include "vmm/vm.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define RAM_SIZE  0x10000
#define SLOT      3
#define BAR1      LAYOUT_PCI_MMIO_BASE
#define IOBAR     0xc100

#define FUZZ_NIC_NAME "rtl8139"
#include "fuzz-nic.h"

static const uint16_t regs[] = {
    0x10, 0x14, 0x20, 0x24, 0x28, 0x30, 0x37, 0x38, 0x3a, 0x3c, 0x3e, 0x40, 0x44, 0x48,
    0x4c, 0x50, 0x54, 0x5c, 0x60, 0x62, 0x64, 0xd9, 0xe0, 0xe4, 0xe8,
};

static void reg_write(VmmVm *vm, unsigned reg, unsigned sz, uint32_t v)
{
    mem_write(vm, BAR1 + reg, sz, v);
}

static void reset(VmmVm *vm)
{
    reg_write(vm, 0x37, 1, 0x10);                          /* CR.RST */
}

/* Classic transmit slot 0. */
static void transmit(VmmVm *vm, uint8_t *ram)
{
    (void)ram;
    reg_write(vm, 0x37, 1, 0x04);                          /* TE */
    reg_write(vm, 0x20, 4, 0x3000);
    reg_write(vm, 0x10, 4, 60);
}

static void descriptor(uint8_t *d, uint64_t a, uint64_t v, const uint8_t *r)
{
    (void)r;
    uint32_t o1 = (uint32_t)v, o2 = 0;
    memcpy(d, &o1, 4);
    memcpy(d + 4, &o2, 4);
    memcpy(d + 8, &a, 8);
}

static void *nic_create(VmmVm *vm, const VmmNicConfig *cfg, GError **err)
{
    return vmm_rtl8139_new(vm, cfg, err);
}

static void nic_destroy(void *dev)
{
    vmm_rtl8139_free(dev);
}

static const FuzzNic nic = {
    .create = nic_create, .destroy = nic_destroy,
    .mem_bar = PCI_BAR0 + 4, .io_bar = PCI_BAR0, .mem_base = BAR1, .io_base = IOBAR,
    .mem_size = 0x100, .io_size = 0x100, .regs = regs, .nregs = G_N_ELEMENTS(regs),
    .descriptor = descriptor, .reset_name = "CR.RST", .reset = reset, .transmit = transmit,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_nic_one(&nic, data, size);
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "rtl8139");
}
#endif
