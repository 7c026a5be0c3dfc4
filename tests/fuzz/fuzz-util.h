/* What the device fuzz targets share: a failure that stops the fuzzer, a
 * guest access on a bus that checks reads stay within the access size, an
 * interrupt line that must stay at 0 or 1, and memfd disk images. */
#ifndef VMM_FUZZ_UTIL_H
#define VMM_FUZZ_UTIL_H

#include "hw/bus.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* A sparse in-memory image of size bytes; *path names it for open(). */
static G_GNUC_UNUSED void fuzz_memfd_image(const char *name, off_t size, char *path, size_t n)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, size) < 0)
        abort();
    snprintf(path, n, "/proc/self/fd/%d", fd);
}

#endif
