/* libFuzzer target for the e1000 register and descriptor parser
 * (src/hw/e1000.c): BAR0 registers, the I/O BAR's IOADDR/IODATA window,
 * PCI configuration space, transmit and receive descriptor rings the
 * input writes into a small guest RAM, and frames arriving from the host
 * side, all through the real PCI host, buses and interrupt lines. Behind
 * it: a datagram socketpair as the tap queue, or a stream one as passt's
 * socket. No KVM is involved (INTx lines end in a check here).
 *
 * Checks: reads never return bits beyond their size, interrupt lines are
 * driven to 0 or 1 only; and whatever the input did, after CTRL.RST the
 * device transmits an ordinary frame from a fresh ring, whole.
 *
 * Input: [0] bit 0: back end (0 tap, 1 passt), then records of 8 bytes:
 *   [0] bit 0: write; bits 1-3: where
 *       0 config space (ECAM), 1 BAR0 at offset % 0x6000, 2 one of the
 *       interesting registers (table below, by offset byte), 3 the I/O BAR,
 *       4 guest RAM (8 bytes at offset), 5 a frame of value % 2048 bytes
 *       from RAM at offset to the device, 6 the host side drains what the
 *       device sent, 7 a descriptor: 16 bytes at ring 0x1000 or 0x2000
 *       (offset bit 15) index offset % 16, address = offset, length =
 *       value, command = value >> 16
 *   [1] size: 1 << (b & 3)
 *   [2..3] offset (little-endian)
 *   [4..7] value
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-e1000. */
#include "hw/bus.h"
#include "hw/e1000.h"
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
#define BAR0      LAYOUT_PCI_MMIO_BASE
#define IOBAR     0xc000

#define FUZZ_NIC_NAME "e1000"
#include "fuzz-nic.h"

static const uint16_t regs[] = {
    0x0000, 0x0008, 0x0010, 0x0014, 0x0020, 0x00c0, 0x00c4, 0x00c8, 0x00d0, 0x00d8,
    0x0100, 0x0400, 0x2800, 0x2804, 0x2808, 0x2810, 0x2818, 0x2820, 0x282c, 0x3800,
    0x3804, 0x3808, 0x3810, 0x3818, 0x3820, 0x382c, 0x4074, 0x4088, 0x408c, 0x40f8,
    0x5000, 0x5200, 0x5400, 0x5404, 0x0038,
};

static void reg_write(VmmVm *vm, unsigned reg, uint32_t v)
{
    uint64_t x = v;
    guest_access(vm, true, false, BAR0 + reg, 4, &x);
}

/* After a reset, one 60-byte frame from a fresh ring reaches the host. */
static void check_usable(VmmVm *vm, uint8_t *ram, int peer, bool stream)
{
    uint64_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER;
    guest_access(vm, true, false, LAYOUT_ECAM_BASE + (SLOT << 15) + PCI_COMMAND, 2, &cmd);
    uint64_t bar = BAR0;
    guest_access(vm, true, false, LAYOUT_ECAM_BASE + (SLOT << 15) + PCI_BAR0, 4, &bar);
    reg_write(vm, 0x0000, 1u << 26);                       /* CTRL.RST */
    drain(peer);
    memset(ram + 0x3000, 0x5a, 60);
    uint8_t *d = ram + 0x1000;
    memset(d, 0, 16);
    uint64_t a = 0x3000;
    memcpy(d, &a, 8);
    uint32_t w2 = 60 | (0x01 | 0x08) << 24;                /* EOP RS */
    memcpy(d + 8, &w2, 4);
    reg_write(vm, 0x3800, 0x1000);
    reg_write(vm, 0x3804, 0);
    reg_write(vm, 0x3808, 128);
    reg_write(vm, 0x3810, 0);
    reg_write(vm, 0x3818, 0);
    reg_write(vm, 0x0400, 0x2);
    reg_write(vm, 0x3818, 1);
    uint8_t buf[128];
    ssize_t n = recv(peer, buf, sizeof(buf), MSG_DONTWAIT);
    ssize_t want = stream ? 4 + 60 : 12 + 60;
    if (n != want || buf[want - 1] != 0x5a)
        fail("after CTRL.RST the device did not transmit a 60-byte frame (got %zd bytes)", n);
}

static void *nic_create(VmmVm *vm, const VmmNicConfig *cfg, GError **err)
{
    return vmm_e1000_new(vm, cfg, err);
}

static void nic_destroy(void *dev)
{
    vmm_e1000_free(dev);
}

static void nic_map(VmmVm *vm)
{
    uint64_t v = BAR0;
    guest_access(vm, true, false, LAYOUT_ECAM_BASE + (SLOT << 15) + PCI_BAR0, 4, &v);
    v = IOBAR;
    guest_access(vm, true, false, LAYOUT_ECAM_BASE + (SLOT << 15) + PCI_BAR0 + 4, 4, &v);
}

static void nic_record(VmmVm *vm, uint8_t *ram, unsigned kind, bool write, unsigned sz,
                       unsigned off, uint64_t *vp, const uint8_t *r)
{
    uint64_t v = *vp;
    switch (kind) {
    case 1: guest_access(vm, write, false, BAR0 + off % 0x6000, sz, &v); break;
    case 2:
        guest_access(vm, write, false, BAR0 + regs[r[2] % G_N_ELEMENTS(regs)] + (r[3] & 3), sz, &v);
        break;
    case 3: guest_access(vm, write, true, IOBAR + off % 0x40, sz, &v); break;
    case 7: {
        uint8_t *d = ram + ((off & 0x8000) ? 0x2000 : 0x1000) + 16 * (off % 16);
        uint64_t a = off & 0x7fff;
        uint32_t w2 = (uint32_t)v, w3 = r[1];
        memcpy(d, &a, 8);
        memcpy(d + 8, &w2, 4);
        memcpy(d + 12, &w3, 4);
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
    return vmm_fuzz_replay_main(argc, argv, "e1000");
}
#endif
