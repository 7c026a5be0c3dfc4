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
    uint64_t x = v;
    guest_access(vm, true, false, BAR1 + reg, sz, &x);
}

/* After a reset, one 60-byte frame from a fresh ring reaches the host. */
static void check_usable(VmmVm *vm, uint8_t *ram, int peer, bool stream)
{
    uint64_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER;
    guest_access(vm, true, false, LAYOUT_ECAM_BASE + (SLOT << 15) + PCI_COMMAND, 2, &cmd);
    uint64_t bar = BAR1;
    guest_access(vm, true, false, LAYOUT_ECAM_BASE + (SLOT << 15) + PCI_BAR0 + 4, 4, &bar);
    reg_write(vm, 0x37, 1, 0x10);                          /* CR.RST */
    drain(peer);
    memset(ram + 0x3000, 0x5a, 60);
    reg_write(vm, 0x37, 1, 0x04);                          /* TE */
    reg_write(vm, 0x20, 4, 0x3000);
    reg_write(vm, 0x10, 4, 60);
    uint8_t buf[128];
    ssize_t n = recv(peer, buf, sizeof(buf), MSG_DONTWAIT);
    ssize_t want = stream ? 4 + 60 : 12 + 60;
    if (n != want || buf[want - 1] != 0x5a)
        fail("after CR.RST the device did not transmit a 60-byte frame (got %zd bytes)", n);
}

static void *nic_create(VmmVm *vm, const VmmNicConfig *cfg, GError **err)
{
    return vmm_rtl8139_new(vm, cfg, err);
}

static void nic_destroy(void *dev)
{
    vmm_rtl8139_free(dev);
}

static void nic_map(VmmVm *vm)
{
    uint64_t v = IOBAR;
    guest_access(vm, true, false, LAYOUT_ECAM_BASE + (SLOT << 15) + PCI_BAR0, 4, &v);
    v = BAR1;
    guest_access(vm, true, false, LAYOUT_ECAM_BASE + (SLOT << 15) + PCI_BAR0 + 4, 4, &v);
}

static void nic_record(VmmVm *vm, uint8_t *ram, unsigned kind, bool write, unsigned sz,
                       unsigned off, uint64_t *vp, const uint8_t *r)
{
    uint64_t v = *vp;
    switch (kind) {
    case 1: guest_access(vm, write, false, BAR1 + off % 0x100, sz, &v); break;
    case 2:
        guest_access(vm, write, false, BAR1 + regs[r[2] % G_N_ELEMENTS(regs)] + (r[3] & 3), sz, &v);
        break;
    case 3: guest_access(vm, write, true, IOBAR + off % 0x100, sz, &v); break;
    case 7: {
        uint8_t *d = ram + ((off & 0x8000) ? 0x2000 : 0x1000) + 16 * (off % 16);
        uint64_t a = off & 0x7fff;
        uint32_t o1 = (uint32_t)v, o2 = 0;
        memcpy(d, &o1, 4);
        memcpy(d + 4, &o2, 4);
        memcpy(d + 8, &a, 8);
        break;
    }
    }
    *vp = v;
}

static const FuzzNic nic = { nic_create, nic_destroy, nic_map, nic_record, check_usable };

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
