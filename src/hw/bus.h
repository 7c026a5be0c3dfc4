/* The device interface: every emulated device registers regions on a bus
 * (port I/O or MMIO) with one small ops table. Regions change rarely (PCI
 * BAR moves), so lookups take a read lock and call the device without it;
 * each device serialises its own state. Devices outlive the bus users. */
#ifndef VMM_BUS_H
#define VMM_BUS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *name;                 /* for logs: "serial0", "i8042" */
    /* offset is relative to the region base; size is 1, 2, 4 or 8 */
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
} VmmRegionOps;

typedef struct {
    uint64_t base, len;
    const VmmRegionOps *ops;
    void *opaque;
} VmmRegion;

typedef struct {
    const char *name;                 /* "pio" or "mmio" */
    GArray *regions;                  /* VmmRegion, sorted by base */
    GRWLock lock;                     /* guards regions */
    GMutex unknown_lock;              /* guards unknown_seen */
    GHashTable *unknown_seen;         /* addresses already logged */
} VmmBus;

void vmm_bus_init(VmmBus *bus, const char *name);
void vmm_bus_destroy(VmmBus *bus);
/* Fails (with an error naming both devices) when the range overlaps. */
bool vmm_bus_register(VmmBus *bus, uint64_t base, uint64_t len,
                      const VmmRegionOps *ops, void *opaque, GError **err);
void vmm_bus_unregister(VmmBus *bus, uint64_t base);
/* Dispatch an access. Unknown addresses: reads give all-ones, writes are
 * dropped, and each address is logged once. Returns true if a device
 * handled it. *value is read or written little-endian, size bytes. */
bool vmm_bus_read(VmmBus *bus, uint64_t addr, unsigned size, uint64_t *value);
bool vmm_bus_write(VmmBus *bus, uint64_t addr, unsigned size, uint64_t value);

/* An interrupt line into the in-kernel irqchip (or a test double in unit
 * tests). level 1 = asserted. Edge devices pulse 1 then 0. */
typedef struct VmmIrq {
    void (*set)(struct VmmIrq *irq, int level);
    void *opaque;
    unsigned gsi;
} VmmIrq;

static inline void vmm_irq_set(VmmIrq *irq, int level)
{
    if (irq && irq->set)
        irq->set(irq, level);
}

#endif
