/* Port-I/O and MMIO buses: a sorted array of regions, binary-searched on
 * every exit under a read lock; the device is called after the lock is
 * dropped so that a device may remap regions (PCI BARs) from its handler. */
#include "hw/bus.h"
#include "util/log.h"

#define BUS_UNKNOWN_LOG_MAX 64

void vmm_bus_init(VmmBus *bus, const char *name)
{
    bus->name = name;
    bus->regions = g_array_new(FALSE, TRUE, sizeof(VmmRegion));
    g_rw_lock_init(&bus->lock);
    g_mutex_init(&bus->unknown_lock);
    bus->unknown_seen = g_hash_table_new(g_int64_hash, g_int64_equal);
}

void vmm_bus_destroy(VmmBus *bus)
{
    if (!bus->regions)
        return;
    g_array_free(bus->regions, TRUE);
    bus->regions = NULL;
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, bus->unknown_seen);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_free(key);
    g_hash_table_destroy(bus->unknown_seen);
    g_rw_lock_clear(&bus->lock);
    g_mutex_clear(&bus->unknown_lock);
}

bool vmm_bus_register(VmmBus *bus, uint64_t base, uint64_t len,
                      const VmmRegionOps *ops, void *opaque, GError **err)
{
    if (len == 0 || base + len < base) {
        g_set_error(err, VMM_ERROR, 0,
                    "%s region 0x%" G_GINT64_MODIFIER "x+0x%" G_GINT64_MODIFIER
                    "x for %s is empty or wraps", bus->name, base, len, ops->name);
        return false;
    }
    g_rw_lock_writer_lock(&bus->lock);
    guint i;
    for (i = 0; i < bus->regions->len; i++) {
        VmmRegion *r = &g_array_index(bus->regions, VmmRegion, i);
        if (base < r->base + r->len && r->base < base + len) {
            g_set_error(err, VMM_ERROR, 0,
                        "%s region 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER
                        "x of %s overlaps %s", bus->name, base, base + len - 1,
                        ops->name, r->ops->name);
            g_rw_lock_writer_unlock(&bus->lock);
            return false;
        }
        if (r->base > base)
            break;
    }
    VmmRegion nr = { .base = base, .len = len, .ops = ops, .opaque = opaque };
    g_array_insert_val(bus->regions, i, nr);
    g_rw_lock_writer_unlock(&bus->lock);
    return true;
}

void vmm_bus_unregister(VmmBus *bus, uint64_t base)
{
    g_rw_lock_writer_lock(&bus->lock);
    for (guint i = 0; i < bus->regions->len; i++) {
        if (g_array_index(bus->regions, VmmRegion, i).base == base) {
            g_array_remove_index(bus->regions, i);
            break;
        }
    }
    g_rw_lock_writer_unlock(&bus->lock);
}

/* Copies the region containing [addr, addr+size) into *out. */
static bool bus_find(VmmBus *bus, uint64_t addr, unsigned size, VmmRegion *out)
{
    if (size != 1 && size != 2 && size != 4 && size != 8)
        return false;
    bool found = false;
    g_rw_lock_reader_lock(&bus->lock);
    guint lo = 0, hi = bus->regions->len;
    while (lo < hi) {
        guint mid = (lo + hi) / 2;
        const VmmRegion *r = &g_array_index(bus->regions, VmmRegion, mid);
        if (addr < r->base) {
            hi = mid;
        } else if (addr - r->base >= r->len) {
            lo = mid + 1;
        } else {
            /* An access that straddles the end of a region is not the device's. */
            found = addr - r->base + size <= r->len;
            if (found)
                *out = *r;
            break;
        }
    }
    g_rw_lock_reader_unlock(&bus->lock);
    return found;
}

/* A guest probing absent hardware is normal; say so once per address. */
static void bus_unknown(VmmBus *bus, uint64_t addr, unsigned size, bool write,
                        uint64_t value)
{
    /* A hostile guest can touch any number of addresses: log the first
     * BUS_UNKNOWN_LOG_MAX, say once that the rest is silent. */
    g_mutex_lock(&bus->unknown_lock);
    bool seen = g_hash_table_contains(bus->unknown_seen, &addr);
    guint n = g_hash_table_size(bus->unknown_seen);
    if (!seen && n <= BUS_UNKNOWN_LOG_MAX) {
        gint64 *k = g_new(gint64, 1);
        *k = (gint64)addr;
        g_hash_table_add(bus->unknown_seen, k);
    } else {
        seen = true;
    }
    g_mutex_unlock(&bus->unknown_lock);
    if (!seen && n == BUS_UNKNOWN_LOG_MAX) {
        vmm_log_info("%s: more than %d unassigned addresses accessed; no longer logging them",
                     bus->name, BUS_UNKNOWN_LOG_MAX);
    } else if (!seen) {
        if (write)
            vmm_log_info("%s: write of 0x%" G_GINT64_MODIFIER "x (%u bytes) to unassigned "
                         "address 0x%" G_GINT64_MODIFIER "x ignored", bus->name,
                         value, size, addr);
        else
            vmm_log_info("%s: read (%u bytes) of unassigned address 0x%"
                         G_GINT64_MODIFIER "x returns all-ones", bus->name, size, addr);
    }
}

bool vmm_bus_read(VmmBus *bus, uint64_t addr, unsigned size, uint64_t *value)
{
    VmmRegion r;
    if (!bus_find(bus, addr, size, &r)) {
        *value = size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
        bus_unknown(bus, addr, size, false, 0);
        return false;
    }
    *value = r.ops->read ? r.ops->read(r.opaque, addr - r.base, size) : ~0ULL;
    if (size < 8)
        *value &= (1ULL << (size * 8)) - 1;
    return true;
}

bool vmm_bus_write(VmmBus *bus, uint64_t addr, unsigned size, uint64_t value)
{
    VmmRegion r;
    if (!bus_find(bus, addr, size, &r)) {
        bus_unknown(bus, addr, size, true, value);
        return false;
    }
    if (size < 8)
        value &= (1ULL << (size * 8)) - 1;
    if (r.ops->write)
        r.ops->write(r.opaque, addr - r.base, value, size);
    return true;
}
