/* What the emulated NIC fuzz targets (fuzz-e1000.c, fuzz-rtl8139.c)
 * share: failing loudly, interrupt lines that must stay 0 or 1, guest
 * accesses whose reads are checked against their size, and the host side
 * (draining what the device sent, a drainer thread for passt's stream,
 * frames from the input to the device) and the input loop. Define
 * FUZZ_NIC_NAME, RAM_SIZE and SLOT first. */
#ifndef VMM_FUZZ_NIC_H
#define VMM_FUZZ_NIC_H

#include "hw/bus.h"
#include "hw/pci.h"
#include "net/nicio.h"
#include "vmm/layout.h"
#include "vmm/vm.h"
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

static void line_set(VmmIrq *irq, int level)
{
    if (level != 0 && level != 1)
        fail("gsi %u driven to %d", irq->gsi, level);
}

static void guest_access(VmmVm *vm, bool write, bool pio, uint64_t addr, unsigned sz, uint64_t *v)
{
    VmmBus *bus = pio ? &vm->pio : &vm->mmio;
    if (write) {
        vmm_bus_write(bus, addr, sz, *v);
        return;
    }
    *v = 0;
    vmm_bus_read(bus, addr, sz, v);
    if (sz < 8 && (*v >> (8 * sz)) != 0)
        fail("%u-byte read at 0x%llx returned 0x%llx", sz, (unsigned long long)addr,
             (unsigned long long)*v);
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

/* One NIC under the fuzz loop: its constructor and destructor, the BARs
 * as firmware leaves them, the record kinds that reach its registers (1-3)
 * or write a descriptor (7), and the final usability check. */
typedef struct {
    void *(*create)(VmmVm *vm, const VmmNicConfig *cfg, GError **err);
    void (*destroy)(void *dev);
    void (*map)(VmmVm *vm);
    void (*record)(VmmVm *vm, uint8_t *ram, unsigned kind, bool write, unsigned sz,
                   unsigned off, uint64_t *v, const uint8_t *r);
    void (*check_usable)(VmmVm *vm, uint8_t *ram, int peer, bool stream);
} FuzzNic;

/* The input format both targets document: [0] bit 0 the back end, then
 * 8-byte records; kinds 0 (config space), 4 (RAM), 5 (a frame from the
 * host) and 6 (drain) are handled here. */
static int fuzz_nic_one(const FuzzNic *nic, const uint8_t *data, size_t size)
{
    static uint8_t *ram;
    if (!ram) {
        if (!g_getenv("VMM_FUZZ_VERBOSE"))
            vmm_log_set_level(VMM_LOG_ERROR);
        ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (ram == MAP_FAILED)
            abort();
    }
    memset(ram, 0, RAM_SIZE);
    VmmVm *vm = fuzz_vm_new(ram, RAM_SIZE, line_set);
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
    nic->map(vm);
    uint64_t v = PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER;
    guest_access(vm, true, false, LAYOUT_ECAM_BASE + (SLOT << 15) + PCI_COMMAND, 2, &v);

    for (size_t at = 1; at + 8 <= size; at += 8) {
        const uint8_t *r = data + at;
        bool write = r[0] & 1;
        unsigned sz = 1u << (r[1] & 3);
        unsigned off = r[2] | r[3] << 8;
        unsigned kind = (r[0] >> 1) & 7;
        v = (uint64_t)r[4] | (uint64_t)r[5] << 8 | (uint64_t)r[6] << 16 | (uint64_t)r[7] << 24;
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
            nic->record(vm, ram, kind, write, sz, off, &v, r);
        }
    }

    if (drain_thread) {
        g_atomic_int_set(&dr.stop, 1);
        g_thread_join(drain_thread);
    }
    nic->check_usable(vm, ram, sv[1], stream);
    nic->destroy(dev);
    close(sv[0]);
    close(sv[1]);
    fuzz_vm_free(vm);
    return 0;
}

#endif
