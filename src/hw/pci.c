#include "hw/pci.h"
#include "util/log.h"
#include "vmm/layout.h"

#include <string.h>

struct VmmPciHost {
    VmmBus *pio, *mmio;
    GMutex lock;                 /* config address register */
    uint32_t config_address;     /* 0xcf8 */
    VmmPciDevice *devices[PCI_MAX_DEVICES];  /* bus 0, function 0 */
    /* Functions 1..7 of a slot whose function 0 says multi-function in its
     * header type (the PIIX3 IDE at 00:01.1); NULL for most slots. */
    VmmPciDevice *functions[PCI_MAX_DEVICES][PCI_MAX_FUNCTIONS];
    VmmPciDevice bridge;         /* 00:00.0 host bridge */
};

/* ---- configuration space of one device ------------------------------ */

void vmm_pci_device_init(VmmPciDevice *dev, const VmmPciDeviceOps *ops, void *opaque,
                         uint16_t vendor, uint16_t device, uint32_t class_code,
                         uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id)
{
    memset(dev, 0, sizeof(*dev));
    g_mutex_init(&dev->lock);
    dev->ops = ops;
    dev->opaque = opaque;
    pci_set_u16(dev->cfg + PCI_VENDOR_ID, vendor);
    pci_set_u16(dev->cfg + PCI_DEVICE_ID, device);
    dev->cfg[PCI_REVISION_ID] = revision;
    dev->cfg[PCI_CLASS_PROG] = class_code & 0xff;
    pci_set_u16(dev->cfg + PCI_CLASS_DEVICE, class_code >> 8);
    pci_set_u16(dev->cfg + PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
    pci_set_u16(dev->cfg + PCI_SUBSYSTEM_ID, subsys_id);
    /* Writable: command (io, mem, master, serr, intx disable), cache line,
     * latency timer, interrupt line. Status error bits are RW1C. */
    pci_set_u16(dev->wmask + PCI_COMMAND,
                PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | 0x100 |
                    PCI_COMMAND_INTX_DISABLE);
    dev->wmask[0x0c] = 0xff;
    dev->wmask[0x0d] = 0xff;
    dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
    pci_set_u16(dev->w1cmask + PCI_STATUS, 0xf900);
}

void vmm_pci_device_set_bar(VmmPciDevice *dev, int bar, uint64_t size, bool io, bool is64,
                            const VmmRegionOps *ops, void *opaque)
{
    g_assert(bar >= 0 && bar < PCI_NUM_BARS && (size & (size - 1)) == 0);
    VmmPciBar *b = &dev->bar[bar];
    b->size = size;
    b->io = io;
    b->is64 = is64 && !io;
    b->ops = ops;
    b->opaque = opaque;
    uint32_t flags = io ? 0x1 : (b->is64 ? 0x4 : 0x0);
    pci_set_u32(dev->cfg + PCI_BAR0 + 4 * bar, flags);
}

unsigned vmm_pci_device_add_capability(VmmPciDevice *dev, uint8_t cap_id, unsigned len)
{
    /* Capabilities are packed upwards from 0x40, dword aligned. */
    unsigned off = dev->cap_end ? dev->cap_end : 0x40;
    if (len < 2 || off + len > 0x100)
        return 0;
    dev->cfg[off] = cap_id;
    dev->cfg[off + 1] = 0;
    if (dev->cap_last)
        dev->cfg[dev->cap_last + 1] = off;
    else
        dev->cfg[PCI_CAPABILITY_LIST] = off;
    dev->cap_last = off;
    dev->cap_end = (off + len + 3) & ~3u;
    pci_set_u16(dev->cfg + PCI_STATUS, pci_get_u16(dev->cfg + PCI_STATUS) | PCI_STATUS_CAP_LIST);
    return off;
}

static uint64_t bar_address(VmmPciDevice *dev, int i)
{
    const VmmPciBar *b = &dev->bar[i];
    uint64_t a = pci_get_u32(dev->cfg + PCI_BAR0 + 4 * i);
    if (b->is64 && i + 1 < PCI_NUM_BARS)
        a |= (uint64_t)pci_get_u32(dev->cfg + PCI_BAR0 + 4 * (i + 1)) << 32;
    return a & ~(b->size - 1) & (b->io ? ~0x3ULL : ~0xfULL);
}

/* Re-derive BAR mappings after a command or BAR write (called with the
 * device lock held; bus registration takes the bus lock only). */
static void pci_update_mappings(VmmPciDevice *dev)
{
    uint16_t cmd = pci_get_u16(dev->cfg + PCI_COMMAND);
    for (int i = 0; i < PCI_NUM_BARS; i++) {
        VmmPciBar *b = &dev->bar[i];
        if (!b->size)
            continue;
        uint64_t addr = bar_address(dev, i);
        bool enable = (b->io ? (cmd & PCI_COMMAND_IO) : (cmd & PCI_COMMAND_MEMORY)) &&
                      addr != 0 && addr + b->size > addr &&
                      (!b->io || addr + b->size <= 0x10000);
        if (b->mapped && (!enable || addr != b->mapped_addr)) {
            vmm_bus_unregister(b->io ? dev->host->pio : dev->host->mmio, b->mapped_addr);
            b->mapped = false;
            if (dev->ops && dev->ops->bar_mapped)
                dev->ops->bar_mapped(dev, i, b->mapped_addr, false);
        }
        if (enable && !b->mapped) {
            g_autoptr(GError) err = NULL;
            if (vmm_bus_register(b->io ? dev->host->pio : dev->host->mmio, addr, b->size,
                                 b->ops, b->opaque, &err)) {
                b->mapped = true;
                b->mapped_addr = addr;
                if (dev->ops && dev->ops->bar_mapped)
                    dev->ops->bar_mapped(dev, i, addr, true);
            } else {
                /* A guest placing BARs on top of each other is its problem,
                 * not a reason to stop the VM. */
                vmm_log_warn("pci %02x.%x: BAR%d not mapped: %s", dev->devfn >> 3,
                             dev->devfn & 7, i, err->message);
            }
        }
    }
}

uint32_t vmm_pci_config_read(VmmPciDevice *dev, unsigned offset, unsigned size)
{
    if (offset >= PCI_CFG_SIZE || offset + size > PCI_CFG_SIZE)
        return ~0u;
    g_mutex_lock(&dev->lock);
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)dev->cfg[offset + i] << (8 * i);
    g_mutex_unlock(&dev->lock);
    if (dev->ops && dev->ops->config_read)
        v = dev->ops->config_read(dev, offset, size, v);
    return v;
}

void vmm_pci_config_write(VmmPciDevice *dev, unsigned offset, uint32_t value, unsigned size)
{
    if (offset >= PCI_CFG_SIZE || offset + size > PCI_CFG_SIZE)
        return;
    g_mutex_lock(&dev->lock);
    bool remap = false;
    for (unsigned i = 0; i < size; i++) {
        unsigned o = offset + i;
        uint8_t b = value >> (8 * i);
        if (o >= PCI_BAR0 && o < PCI_BAR0 + 4 * PCI_NUM_BARS) {
            int bar = (o - PCI_BAR0) / 4;
            VmmPciBar *pb = &dev->bar[bar];
            bool upper = bar > 0 && dev->bar[bar - 1].is64;
            uint64_t sz = upper ? dev->bar[bar - 1].size : pb->size;
            if (!sz) {
                continue;   /* unimplemented BAR reads as zero */
            }
            /* Size-aligned address bits are writable; low flag bits are not. */
            uint64_t mask = ~(sz - 1);
            uint32_t m32 = upper ? (uint32_t)(mask >> 32)
                                 : (uint32_t)mask & (pb->io ? ~0x3u : ~0xfu);
            uint8_t mb = m32 >> (8 * (o & 3));
            dev->cfg[o] = (dev->cfg[o] & ~mb) | (b & mb);
            remap = true;
            continue;
        }
        if (o == PCI_COMMAND)
            remap = true;
        dev->cfg[o] = (dev->cfg[o] & ~dev->wmask[o]) | (b & dev->wmask[o]);
        dev->cfg[o] &= ~(b & dev->w1cmask[o]);
    }
    if (remap && dev->host)
        pci_update_mappings(dev);
    g_mutex_unlock(&dev->lock);
    if (dev->ops && dev->ops->config_written)
        dev->ops->config_written(dev, offset, size);
}

/* ---- the host bridge: routing config cycles -------------------------- */

static VmmPciDevice *host_lookup(VmmPciHost *h, unsigned bus, unsigned devfn)
{
    /* One bus; functions other than 0 only where a device was added there. */
    if (bus != 0)
        return NULL;
    if (devfn & 7)
        return h->functions[devfn >> 3][devfn & 7];
    return h->devices[devfn >> 3];
}

static uint64_t cf8_read(void *opaque, uint64_t off, unsigned size)
{
    VmmPciHost *h = opaque;
    if (off != 0 || size != 4)
        return ~0ULL;  /* 0xcf9..0xcfb: reset control etc. not emulated */
    g_mutex_lock(&h->lock);
    uint32_t v = h->config_address;
    g_mutex_unlock(&h->lock);
    return v;
}

static void cf8_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    VmmPciHost *h = opaque;
    if (off != 0 || size != 4)
        return;
    g_mutex_lock(&h->lock);
    h->config_address = value & 0x80fffffc;
    g_mutex_unlock(&h->lock);
}

/* Decodes 0xcf8 into a device; returns NULL if disabled or absent. */
static VmmPciDevice *cfc_target(VmmPciHost *h, uint64_t off, unsigned *reg)
{
    g_mutex_lock(&h->lock);
    uint32_t a = h->config_address;
    g_mutex_unlock(&h->lock);
    if (!(a & 0x80000000u))
        return NULL;
    *reg = (a & 0xfc) + (unsigned)off;
    return host_lookup(h, (a >> 16) & 0xff, (a >> 8) & 0xff);
}

static uint64_t cfc_read(void *opaque, uint64_t off, unsigned size)
{
    unsigned reg;
    VmmPciDevice *d = cfc_target(opaque, off, &reg);
    if (!d || (off & (size - 1)))
        return ~0ULL;
    return vmm_pci_config_read(d, reg, size);
}

static void cfc_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    unsigned reg;
    VmmPciDevice *d = cfc_target(opaque, off, &reg);
    if (d && !(off & (size - 1)))
        vmm_pci_config_write(d, reg, value, size);
}

static uint64_t ecam_read(void *opaque, uint64_t off, unsigned size)
{
    VmmPciDevice *d = host_lookup(opaque, off >> 20, (off >> 12) & 0xff);
    if (!d || size > 4 || (off & (size - 1)))
        return ~0ULL;
    return vmm_pci_config_read(d, off & 0xfff, size);
}

static void ecam_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    VmmPciDevice *d = host_lookup(opaque, off >> 20, (off >> 12) & 0xff);
    if (d && size <= 4 && !(off & (size - 1)))
        vmm_pci_config_write(d, off & 0xfff, value, size);
}

static const VmmRegionOps cf8_ops = { "pci-config-address", cf8_read, cf8_write };
static const VmmRegionOps cfc_ops = { "pci-config-data", cfc_read, cfc_write };
static const VmmRegionOps ecam_ops = { "pci-ecam", ecam_read, ecam_write };

VmmPciHost *vmm_pci_host_new(VmmBus *pio, VmmBus *mmio, GError **err)
{
    VmmPciHost *h = g_new0(VmmPciHost, 1);
    h->pio = pio;
    h->mmio = mmio;
    g_mutex_init(&h->lock);
    if (!vmm_bus_register(pio, PORT_PCI_CONFIG_ADDR, 4, &cf8_ops, h, err) ||
        !vmm_bus_register(pio, PORT_PCI_CONFIG_DATA, 4, &cfc_ops, h, err) ||
        !vmm_bus_register(mmio, LAYOUT_ECAM_BASE, LAYOUT_ECAM_SIZE, &ecam_ops, h, err)) {
        vmm_pci_host_free(h);
        return NULL;
    }
    /* 00:00.0: a plain host bridge (Red Hat's generic PCIe host bridge id,
     * which guests bind no driver to). */
    static const VmmPciDeviceOps bridge_ops = { .name = "host-bridge" };
    vmm_pci_device_init(&h->bridge, &bridge_ops, h, 0x1b36, 0x0008, 0x060000, 0, 0x1af4,
                        0x1100);
    if (!vmm_pci_host_add_device(h, &h->bridge, 0, err)) {
        vmm_pci_host_free(h);
        return NULL;
    }
    return h;
}

/* Legacy INTx wiring as the DSDT's _PRT describes it. */
unsigned vmm_pci_intx_gsi(int slot, unsigned pin)
{
    return GSI_PCI_INTX_BASE + ((unsigned)(slot + (int)pin - 1) & 3);
}

bool vmm_pci_host_add_device(VmmPciHost *h, VmmPciDevice *dev, int slot, GError **err)
{
    if (slot < 0) {
        for (slot = 1; slot < PCI_MAX_DEVICES && h->devices[slot]; slot++)
            ;
    }
    if (slot >= PCI_MAX_DEVICES || h->devices[slot]) {
        g_set_error(err, VMM_ERROR, 0,
                    "no free PCI slot for %s (slot %d)", dev->ops->name, slot);
        return false;
    }
    dev->host = h;
    dev->devfn = slot << 3;
    if (dev->cfg[PCI_INTERRUPT_PIN])
        dev->cfg[PCI_INTERRUPT_LINE] = vmm_pci_intx_gsi(slot, dev->cfg[PCI_INTERRUPT_PIN]);
    h->devices[slot] = dev;
    return true;
}

bool vmm_pci_host_add_function(VmmPciHost *h, VmmPciDevice *dev, int slot, int fn,
                               GError **err)
{
    if (fn == 0)
        return vmm_pci_host_add_device(h, dev, slot, err);
    if (slot < 0 || slot >= PCI_MAX_DEVICES || fn < 0 || fn >= PCI_MAX_FUNCTIONS ||
        h->functions[slot][fn]) {
        g_set_error(err, VMM_ERROR, 0, "PCI function %02x.%d for %s is taken or invalid",
                    slot, fn, dev->ops->name);
        return false;
    }
    dev->host = h;
    dev->devfn = (unsigned)(slot << 3 | fn);
    if (dev->cfg[PCI_INTERRUPT_PIN])
        dev->cfg[PCI_INTERRUPT_LINE] = vmm_pci_intx_gsi(slot, dev->cfg[PCI_INTERRUPT_PIN]);
    h->functions[slot][fn] = dev;
    return true;
}

void vmm_pci_host_reset(VmmPciHost *h)
{
    g_mutex_lock(&h->lock);
    h->config_address = 0;
    g_mutex_unlock(&h->lock);
    for (int i = 0; i < PCI_MAX_DEVICES * PCI_MAX_FUNCTIONS; i++) {
        VmmPciDevice *d = h->devices[i / PCI_MAX_FUNCTIONS];
        if (i % PCI_MAX_FUNCTIONS)
            d = h->functions[i / PCI_MAX_FUNCTIONS][i % PCI_MAX_FUNCTIONS];
        if (!d)
            continue;
        g_mutex_lock(&d->lock);
        pci_set_u16(d->cfg + PCI_COMMAND, 0);
        for (int b = 0; b < PCI_NUM_BARS; b++)
            if (d->bar[b].size)
                pci_set_u32(d->cfg + PCI_BAR0 + 4 * b,
                            pci_get_u32(d->cfg + PCI_BAR0 + 4 * b) & (d->bar[b].io ? 0x3 : 0xf));
        pci_update_mappings(d);
        g_mutex_unlock(&d->lock);
        if (d->ops && d->ops->reset)
            d->ops->reset(d);
    }
}

void vmm_pci_host_free(VmmPciHost *h)
{
    if (!h)
        return;
    vmm_bus_unregister(h->pio, PORT_PCI_CONFIG_ADDR);
    vmm_bus_unregister(h->pio, PORT_PCI_CONFIG_DATA);
    vmm_bus_unregister(h->mmio, LAYOUT_ECAM_BASE);
    g_mutex_clear(&h->lock);
    g_free(h);
}
