/* What the emulated NIC fuzz targets (fuzz-e1000.c, fuzz-rtl8139.c)
 * share beyond fuzz-util.h: failing loudly with the target's name, the
 * host side (draining what the device sent, a drainer thread for passt's
 * stream, frames from the input to the device), the register and
 * descriptor records, the after-reset transmit check and the input loop.
 * Define
 * FUZZ_NIC_NAME, RAM_SIZE and SLOT first. */
#ifndef VMM_FUZZ_NIC_H
#define VMM_FUZZ_NIC_H

#include "hw/bus.h"
#include "hw/pci.h"
#include "net/nicio.h"
#include "vmm/layout.h"
#include "vmm/vm.h"
#include "fuzz-util.h"
#include "fuzz-vm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static void G_GNUC_PRINTF(1, 2) fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz-%s: ", FUZZ_NIC_NAME);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

static void guest_access(VmmVm *vm, bool write, bool pio, uint64_t addr, unsigned sz, uint64_t *v)
{
    fuzz_access(pio ? &vm->pio : &vm->mmio, write, addr, sz, v);
}

static void drain(int fd)
{
    static uint8_t junk[70000];
    while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
        ;
}

/* passt reads all the time; the device blocks on a full stream (as it
 * would on a passt that stopped), so a thread here keeps reading. */
typedef struct {
    int fd;
    gint stop;
} Drainer;

static gpointer drainer(gpointer data)
{
    Drainer *d = data;
    while (!g_atomic_int_get(&d->stop)) {
        drain(d->fd);
        g_usleep(1000);
    }
    return NULL;
}

/* A frame of value % 2048 bytes from RAM at offset to the device, framed
 * as the tap (vnet header) or passt (length) would. */
static void host_frame(int fd, bool stream, const uint8_t *ram, size_t ram_size, unsigned off,
                       uint64_t v)
{
    size_t len = v % 2048;
    if (stream && !len)
        return;   /* passt never sends an empty frame */
    size_t from = off % (ram_size - 2048);
    uint8_t frame[4 + 12 + 2048];
    size_t hl = stream ? 4 : 12;
    memset(frame, 0, hl);
    if (stream) {
        frame[2] = (uint8_t)(len >> 8);
        frame[3] = (uint8_t)len;
    }
    memcpy(frame + hl, ram + from, len);
    if (send(fd, frame, hl + len, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS)
        fail("frame to the device: %s", g_strerror(errno));
}

/* One NIC under the fuzz loop: its constructor and destructor, where
 * firmware puts its BARs, the windows and register table the record kinds
 * 1-3 reach, how kind 7 writes a descriptor, and the final usability
 * check's reset and one-frame transmit. */
typedef struct {
    void *(*create)(VmmVm *vm, const VmmNicConfig *cfg, GError **err);
    void (*destroy)(void *dev);
    unsigned mem_bar, io_bar;          /* their config space offsets */
    uint64_t mem_base, io_base;
    unsigned mem_size, io_size;        /* kinds 1 and 3: offset modulo these */
    const uint16_t *regs;              /* kind 2: by offset byte */
    size_t nregs;
    /* kind 7: the 16 bytes at d, for buffer address a */
    void (*descriptor)(uint8_t *d, uint64_t a, uint64_t v, const uint8_t *r);
    const char *reset_name;
    void (*reset)(VmmVm *vm);
    /* from a fresh ring or slot: the 60 bytes at RAM 0x3000 */
    void (*transmit)(VmmVm *vm, uint8_t *ram);
} FuzzNic;

static void cfg_write(VmmVm *vm, unsigned reg, unsigned sz, uint64_t v)
{
    guest_access(vm, true, false, LAYOUT_ECAM_BASE + (SLOT << 15) + reg, sz, &v);
}

static void mem_write(VmmVm *vm, uint64_t addr, unsigned sz, uint32_t v)
{
    uint64_t x = v;
    guest_access(vm, true, false, addr, sz, &x);
}

static void nic_map(const FuzzNic *nic, VmmVm *vm)
{
    cfg_write(vm, nic->mem_bar, 4, nic->mem_base);
    cfg_write(vm, nic->io_bar, 4, nic->io_base);
}

static void nic_record(const FuzzNic *nic, VmmVm *vm, uint8_t *ram, unsigned kind, bool write,
                       unsigned sz, unsigned off, uint64_t *v, const uint8_t *r)
{
    switch (kind) {
    case 1: guest_access(vm, write, false, nic->mem_base + off % nic->mem_size, sz, v); break;
    case 2:
        guest_access(vm, write, false, nic->mem_base + nic->regs[r[2] % nic->nregs] + (r[3] & 3),
                     sz, v);
        break;
    case 3: guest_access(vm, write, true, nic->io_base + off % nic->io_size, sz, v); break;
    case 7:
        nic->descriptor(ram + ((off & 0x8000) ? 0x2000 : 0x1000) + 16 * (off % 16), off & 0x7fff,
                        *v, r);
        break;
    }
}

/* After a reset, one 60-byte frame reaches the host, whole. */
static void nic_check_usable(const FuzzNic *nic, VmmVm *vm, uint8_t *ram, int peer, bool stream)
{
    cfg_write(vm, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
    cfg_write(vm, nic->mem_bar, 4, nic->mem_base);
    nic->reset(vm);
    drain(peer);
    memset(ram + 0x3000, 0x5a, 60);
    nic->transmit(vm, ram);
    uint8_t buf[128];
    ssize_t n = recv(peer, buf, sizeof(buf), MSG_DONTWAIT);
    ssize_t want = stream ? 4 + 60 : 12 + 60;
    if (n != want || buf[want - 1] != 0x5a)
        fail("after %s the device did not transmit a 60-byte frame (got %zd bytes)",
             nic->reset_name, n);
}

/* The input format both targets document: [0] bit 0 the back end, then
 * 8-byte records; kinds 0 (config space), 4 (RAM), 5 (a frame from the
 * host) and 6 (drain) are handled here. */
static int fuzz_nic_one(const FuzzNic *nic, const uint8_t *data, size_t size)
{
    bool first;
    uint8_t *ram = fuzz_ram(RAM_SIZE, &first);
    VmmVm *vm = fuzz_vm_new(ram, RAM_SIZE, fuzz_line_set);
    bool stream = size && (data[0] & 1);
    int sv[2];
    if (socketpair(AF_UNIX, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0, sv) < 0)
        fail("socketpair: %s", g_strerror(errno));
    VmmNicConfig cfg = { .name = "vnet0", .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
                         .fd = sv[0], .stream = stream, .pci_slot = SLOT };
    GError *err = NULL;
    void *dev = nic->create(vm, &cfg, &err);
    if (!dev)
        fail("%s", err->message);
    Drainer dr = { sv[1], 0 };
    GThread *drain_thread = stream ? g_thread_new("drainer", drainer, &dr) : NULL;
    nic_map(nic, vm);
    cfg_write(vm, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);

    for (size_t at = 1; at + 8 <= size; at += 8) {
        const uint8_t *r = data + at;
        FuzzRecord rec = fuzz_record(r);
        bool write = rec.write;
        unsigned sz = rec.sz, off = rec.off, kind = rec.kind & 7;
        uint64_t v = rec.v;
        switch (kind) {
        case 0:
            guest_access(vm, write, false,
                         LAYOUT_ECAM_BASE + (SLOT << 15) + off % PCI_CFG_SIZE, sz, &v);
            break;
        case 4: memcpy(ram + off % (RAM_SIZE - 8), &v, 8); break;
        case 5: host_frame(sv[1], stream, ram, RAM_SIZE, off, v); break;
        case 6:
            if (!stream)
                drain(sv[1]);
            break;
        default:
            nic_record(nic, vm, ram, kind, write, sz, off, &v, r);
        }
    }

    if (drain_thread) {
        g_atomic_int_set(&dr.stop, 1);
        g_thread_join(drain_thread);
    }
    nic_check_usable(nic, vm, ram, sv[1], stream);
    nic->destroy(dev);
    close(sv[0]);
    close(sv[1]);
    fuzz_vm_free(vm);
    return 0;
}

#endif
