#include "hw/acpi_ged.h"
#include "util/log.h"
#include "vmm/layout.h"

struct VmmAcpiGed {
    VmmBus *mmio;
    VmmIrq *irq;
    VmmAcpiGedHandlers h;
    GMutex lock;
    uint32_t pending;      /* event selector bits not yet read by the guest */
    uint8_t sleep_ctl;
};

/* The event selector is read-to-clear; the level interrupt stays asserted
 * while events are pending, as the DSDT's GED _CRS declares. */
static uint64_t ged_read(void *opaque, uint64_t off, unsigned size)
{
    VmmAcpiGed *g = opaque;
    if (off != 0 || size != 4)
        return 0;
    /* The line changes under the lock so a raise racing with this read
     * cannot be lowered away. */
    g_mutex_lock(&g->lock);
    uint32_t v = g->pending;
    g->pending = 0;
    if (v)
        vmm_irq_set(g->irq, 0);
    g_mutex_unlock(&g->lock);
    return v;
}

static void ged_write(void *opaque, uint64_t off, uint64_t value, unsigned size) {}

static uint64_t regs_read(void *opaque, uint64_t off, unsigned size)
{
    VmmAcpiGed *g = opaque;
    if (off == ACPI_REG_SLEEP_CTL && size == 1) {
        g_mutex_lock(&g->lock);
        uint8_t v = g->sleep_ctl;
        g_mutex_unlock(&g->lock);
        return v;
    }
    return 0;  /* sleep status: never asleep; reset register: write-only */
}

static void regs_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    VmmAcpiGed *g = opaque;
    if (size != 1)
        return;
    if (off == ACPI_REG_SLEEP_CTL) {
        g_mutex_lock(&g->lock);
        g->sleep_ctl = value & ~ACPI_SLP_EN;
        g_mutex_unlock(&g->lock);
        if (!(value & ACPI_SLP_EN))
            return;
        unsigned typ = (value >> 2) & 7;
        if (typ == ACPI_SLP_TYP_S5)
            g->h.poweroff(g->h.opaque);
        else
            vmm_log_warn("guest asked for ACPI sleep type %u, only S5 (%u) is "
                         "supported; ignored", typ, ACPI_SLP_TYP_S5);
    } else if (off == ACPI_REG_RESET && value == ACPI_RESET_VALUE) {
        g->h.reset(g->h.opaque);
    }
}

static const VmmRegionOps ged_ops = { "acpi-ged", ged_read, ged_write };
static const VmmRegionOps regs_ops = { "acpi-sleep-reset", regs_read, regs_write };

VmmAcpiGed *vmm_acpi_ged_new(VmmBus *mmio, VmmIrq *irq, const VmmAcpiGedHandlers *h,
                             GError **err)
{
    VmmAcpiGed *g = g_new0(VmmAcpiGed, 1);
    g->mmio = mmio;
    g->irq = irq;
    g->h = *h;
    g_mutex_init(&g->lock);
    if (!vmm_bus_register(mmio, LAYOUT_GED_BASE, LAYOUT_GED_SIZE, &ged_ops, g, err)) {
        g_free(g);
        return NULL;
    }
    if (!vmm_bus_register(mmio, LAYOUT_ACPI_REGS_BASE, LAYOUT_ACPI_REGS_SIZE, &regs_ops, g,
                          err)) {
        vmm_bus_unregister(mmio, LAYOUT_GED_BASE);
        g_free(g);
        return NULL;
    }
    return g;
}

void vmm_acpi_ged_raise(VmmAcpiGed *g, uint32_t events)
{
    g_mutex_lock(&g->lock);
    g->pending |= events;
    vmm_irq_set(g->irq, 1);
    g_mutex_unlock(&g->lock);
}

void vmm_acpi_ged_free(VmmAcpiGed *g)
{
    if (!g)
        return;
    vmm_bus_unregister(g->mmio, LAYOUT_GED_BASE);
    vmm_bus_unregister(g->mmio, LAYOUT_ACPI_REGS_BASE);
    g_mutex_clear(&g->lock);
    g_free(g);
}
