/* What the device fuzz targets share: a failure that stops the fuzzer, a
 * guest access on a bus that checks reads stay within the access size, an
 * interrupt line that must stay at 0 or 1, memfd disk images, the guest
 * RAM and the 8-byte input records. */
#ifndef VMM_FUZZ_UTIL_H
#define VMM_FUZZ_UTIL_H

#include "hw/bus.h"
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void fuzz_fail(const char *fmt, ...) G_GNUC_PRINTF(1, 2) G_GNUC_UNUSED;
static void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static G_GNUC_UNUSED void fuzz_line_set(VmmIrq *irq, int level)
{
    if (level != 0 && level != 1)
        fuzz_fail("interrupt line %u driven to %d", irq->gsi, level);
}

static G_GNUC_UNUSED void fuzz_access(VmmBus *bus, bool write, uint64_t addr, unsigned sz,
                                      uint64_t *v)
{
    if (write) {
        vmm_bus_write(bus, addr, sz, *v);
        return;
    }
    *v = 0;
    vmm_bus_read(bus, addr, sz, v);
    if (sz < 8 && (*v >> (8 * sz)) != 0)
        fuzz_fail("%u-byte read at 0x%llx returned 0x%llx", sz, (unsigned long long)addr,
                  (unsigned long long)*v);
}

static G_GNUC_UNUSED void fuzz_write(VmmBus *bus, uint64_t addr, unsigned sz, uint64_t v)
{
    fuzz_access(bus, true, addr, sz, &v);
}

/* The guest RAM, mapped on the first input (*first says so; the log is
 * quiet from then on unless VMM_FUZZ_VERBOSE is set) and zeroed for each. */
static G_GNUC_UNUSED uint8_t *fuzz_ram(size_t size, bool *first)
{
    static uint8_t *ram;
    *first = !ram;
    if (!ram) {
        if (!g_getenv("VMM_FUZZ_VERBOSE"))
            vmm_log_set_level(VMM_LOG_ERROR);
        ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (ram == MAP_FAILED)
            abort();
    }
    memset(ram, 0, size);
    return ram;
}

/* An input record: [0] bit 0 write, bits 1-7 the kind (each target masks
 * what it uses); [1] size 1 << (b & 3); [2..3] offset, [4..7] value,
 * little-endian. */
typedef struct {
    bool write;
    unsigned kind, sz, off;
    uint64_t v;
} FuzzRecord;

static G_GNUC_UNUSED FuzzRecord fuzz_record(const uint8_t *r)
{
    return (FuzzRecord){ .write = r[0] & 1, .kind = r[0] >> 1, .sz = 1u << (r[1] & 3),
                         .off = r[2] | r[3] << 8,
                         .v = (uint64_t)r[4] | (uint64_t)r[5] << 8 | (uint64_t)r[6] << 16 |
                              (uint64_t)r[7] << 24 };
}

/* A sparse in-memory image of size bytes; *path names it for open(). */
static G_GNUC_UNUSED void fuzz_memfd_image(const char *name, off_t size, char *path, size_t n)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, size) < 0)
        abort();
    snprintf(path, n, "/proc/self/fd/%d", fd);
}

#endif
