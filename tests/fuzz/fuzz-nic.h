/* What the emulated NIC fuzz targets (fuzz-e1000.c, fuzz-rtl8139.c)
 * share: failing loudly, interrupt lines that must stay 0 or 1, guest
 * accesses whose reads are checked against their size, and the host side
 * (draining what the device sent, a drainer thread for passt's stream,
 * frames from the input to the device). Define FUZZ_NIC_NAME first. */
#ifndef VMM_FUZZ_NIC_H
#define VMM_FUZZ_NIC_H

#include "hw/bus.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

#endif
