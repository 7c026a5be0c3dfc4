#include "vmm/irq.h"
#include "vmm/vm.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSI_GSI_BASE IOAPIC_NR_PINS
#define MSI_GSI_MAX  1024

struct VmmIrqRouting {
    GMutex lock;
    GArray *msi;      /* struct kvm_irq_routing_entry of type MSI, by GSI */
    guint8 used[MSI_GSI_MAX];
};

/* KVM takes the whole table each time: fixed pin routes plus every MSI. */
static bool commit_locked(VmmVm *vm, GError **err)
{
    VmmIrqRouting *rt = vm->irq_routing;
    unsigned nmsi = rt->msi->len;
    g_autofree struct kvm_irq_routing *t = g_malloc0(
        sizeof(*t) + (16 + IOAPIC_NR_PINS + nmsi) * sizeof(struct kvm_irq_routing_entry));
    unsigned n = 0;
    /* ISA IRQ0 (the PIT) arrives on IOAPIC pin 2, as the MADT override
     * says; every other GSI on its own pin, ISA ones also on the PIC. This
     * is QEMU's routing; KVM's default would put IRQ0 on pin 0. */
    for (unsigned gsi = 0; gsi < 16; gsi++) {
        if (gsi == 2)
            continue;
        t->entries[n++] = (struct kvm_irq_routing_entry){
            .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                           .pin = gsi % 8 } };
    }
    for (unsigned gsi = 0; gsi < IOAPIC_NR_PINS; gsi++)
        t->entries[n++] = (struct kvm_irq_routing_entry){
            .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi == 0 ? 2 : gsi } };
    for (unsigned i = 0; i < nmsi; i++) {
        struct kvm_irq_routing_entry e = g_array_index(rt->msi, struct kvm_irq_routing_entry, i);
        if (rt->used[e.gsi - MSI_GSI_BASE])
            t->entries[n++] = e;
    }
    t->nr = n;
    if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, t) < 0) {
        g_set_error(err, VMM_ERROR, 0, "KVM_SET_GSI_ROUTING (%u routes): %s", n,
                    g_strerror(errno));
        return false;
    }
    return true;
}

bool vmm_irq_routing_init(VmmVm *vm, GError **err)
{
    VmmIrqRouting *rt = g_new0(VmmIrqRouting, 1);
    g_mutex_init(&rt->lock);
    rt->msi = g_array_new(FALSE, TRUE, sizeof(struct kvm_irq_routing_entry));
    vm->irq_routing = rt;
    g_mutex_lock(&rt->lock);
    bool ok = commit_locked(vm, err);
    g_mutex_unlock(&rt->lock);
    return ok;
}

void vmm_irq_routing_free(VmmVm *vm)
{
    VmmIrqRouting *rt = vm->irq_routing;
    if (!rt)
        return;
    g_array_free(rt->msi, TRUE);
    g_mutex_clear(&rt->lock);
    g_free(rt);
    vm->irq_routing = NULL;
}

static struct kvm_irq_routing_entry msi_entry(int gsi, uint64_t addr, uint32_t data)
{
    return (struct kvm_irq_routing_entry){
        .gsi = gsi, .type = KVM_IRQ_ROUTING_MSI,
        .u.msi = { .address_lo = (uint32_t)addr, .address_hi = addr >> 32, .data = data } };
}

int vmm_irq_msi_route_add(VmmVm *vm, uint64_t addr, uint32_t data, GError **err)
{
    VmmIrqRouting *rt = vm->irq_routing;
    g_mutex_lock(&rt->lock);
    int slot = -1;
    for (int i = 0; i < MSI_GSI_MAX - MSI_GSI_BASE; i++) {
        if (!rt->used[i]) {
            slot = i;
            break;
        }
    }
    if (slot < 0) {
        g_mutex_unlock(&rt->lock);
        g_set_error(err, VMM_ERROR, 0, "out of MSI routes (%d)", MSI_GSI_MAX - MSI_GSI_BASE);
        return -1;
    }
    int gsi = MSI_GSI_BASE + slot;
    rt->used[slot] = 1;
    if ((guint)slot >= rt->msi->len)
        g_array_set_size(rt->msi, slot + 1);
    g_array_index(rt->msi, struct kvm_irq_routing_entry, slot) = msi_entry(gsi, addr, data);
    bool ok = commit_locked(vm, err);
    if (!ok)
        rt->used[slot] = 0;
    g_mutex_unlock(&rt->lock);
    return ok ? gsi : -1;
}

bool vmm_irq_msi_route_update(VmmVm *vm, int gsi, uint64_t addr, uint32_t data, GError **err)
{
    VmmIrqRouting *rt = vm->irq_routing;
    int slot = gsi - MSI_GSI_BASE;
    g_return_val_if_fail(slot >= 0 && (guint)slot < rt->msi->len, false);
    g_mutex_lock(&rt->lock);
    struct kvm_irq_routing_entry *e = &g_array_index(rt->msi, struct kvm_irq_routing_entry, slot);
    bool ok = true;
    if (e->u.msi.address_lo != (uint32_t)addr || e->u.msi.address_hi != addr >> 32 ||
        e->u.msi.data != data) {
        *e = msi_entry(gsi, addr, data);
        ok = commit_locked(vm, err);
    }
    g_mutex_unlock(&rt->lock);
    return ok;
}

void vmm_irq_msi_route_remove(VmmVm *vm, int gsi)
{
    VmmIrqRouting *rt = vm->irq_routing;
    int slot = gsi - MSI_GSI_BASE;
    if (slot < 0 || (guint)slot >= rt->msi->len)
        return;
    g_mutex_lock(&rt->lock);
    rt->used[slot] = 0;
    g_autoptr(GError) err = NULL;
    if (!commit_locked(vm, &err))
        vmm_log_warn("%s", err->message);
    g_mutex_unlock(&rt->lock);
}

static void line_source_set(VmmIrq *src, int level)
{
    VmmIrqLine *line = src->opaque;
    guint64 bit = G_GUINT64_CONSTANT(1) << (src - line->src);
    g_mutex_lock(&line->lock);
    bool was = line->asserted != 0;
    line->asserted = level ? line->asserted | bit : line->asserted & ~bit;
    if (was != (line->asserted != 0))
        vmm_irq_set(line->out, !was);
    g_mutex_unlock(&line->lock);
}

void vmm_irq_line_init(VmmIrqLine *line, VmmIrq *out)
{
    memset(line, 0, sizeof(*line));
    g_mutex_init(&line->lock);
    line->out = out;
}

void vmm_irq_line_clear(VmmIrqLine *line)
{
    g_mutex_clear(&line->lock);
}

VmmIrq *vmm_irq_line_source(VmmIrqLine *line, GError **err)
{
    g_mutex_lock(&line->lock);
    if (line->nr_sources == VMM_IRQ_LINE_MAX_SOURCES) {
        g_mutex_unlock(&line->lock);
        g_set_error(err, VMM_ERROR, 0, "GSI %u: more than %u devices share it",
                    line->out ? line->out->gsi : 0, VMM_IRQ_LINE_MAX_SOURCES);
        return NULL;
    }
    VmmIrq *src = &line->src[line->nr_sources++];
    *src = (VmmIrq){ .set = line_source_set, .opaque = line,
                     .gsi = line->out ? line->out->gsi : 0 };
    g_mutex_unlock(&line->lock);
    return src;
}

bool vmm_irqfd_assign(VmmVm *vm, int fd, int gsi, GError **err)
{
    struct kvm_irqfd irqfd = { .fd = fd, .gsi = gsi };
    if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
        g_set_error(err, VMM_ERROR, 0, "KVM_IRQFD (gsi %d): %s", gsi, g_strerror(errno));
        return false;
    }
    return true;
}

void vmm_irqfd_deassign(VmmVm *vm, int fd, int gsi)
{
    struct kvm_irqfd irqfd = { .fd = fd, .gsi = gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN };
    if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
        vmm_log_warn("KVM_IRQFD deassign (gsi %d): %s", gsi, g_strerror(errno));
}

static struct kvm_ioeventfd ioeventfd(int fd, uint64_t addr, unsigned len, bool pio)
{
    return (struct kvm_ioeventfd){ .addr = addr, .len = len, .fd = fd,
                                   .flags = pio ? KVM_IOEVENTFD_FLAG_PIO : 0 };
}

bool vmm_ioeventfd_assign(VmmVm *vm, int fd, uint64_t addr, unsigned len, bool pio,
                          GError **err)
{
    struct kvm_ioeventfd e = ioeventfd(fd, addr, len, pio);
    if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &e) < 0) {
        g_set_error(err, VMM_ERROR, 0, "KVM_IOEVENTFD at 0x%" G_GINT64_MODIFIER "x: %s", addr,
                    g_strerror(errno));
        return false;
    }
    return true;
}

void vmm_ioeventfd_deassign(VmmVm *vm, int fd, uint64_t addr, unsigned len, bool pio)
{
    struct kvm_ioeventfd e = ioeventfd(fd, addr, len, pio);
    e.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
    if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &e) < 0)
        vmm_log_warn("KVM_IOEVENTFD deassign at 0x%" G_GINT64_MODIFIER "x: %s", addr,
                      g_strerror(errno));
}
