#include "virtio/virtio_pci.h"
#include "virtio/virtio_spec.h"
#include "vmm/irq.h"
#include "vmm/vm.h"
#include "util/log.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* BAR0 layout (64-bit memory BAR). */
#define BAR_COMMON      0x0000
#define BAR_COMMON_LEN  0x0040
#define BAR_ISR         0x1000
#define BAR_ISR_LEN     0x0004
#define BAR_DEVICE      0x2000
#define BAR_DEVICE_LEN  0x1000
#define BAR_NOTIFY      0x3000
#define BAR_NOTIFY_LEN  0x1000
#define NOTIFY_MULT     4
#define BAR_MSIX_TABLE  0x4000
#define BAR_MSIX_PBA    0x5000
#define BAR_SIZE        0x8000

/* PCI capability structure types (virtio 1.2, 4.1.4). */
#define CAP_COMMON_CFG  1
#define CAP_NOTIFY_CFG  2
#define CAP_ISR_CFG     3
#define CAP_DEVICE_CFG  4
#define CAP_PCI_CFG     5
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11
#define MSIX_CTRL_ENABLE   0x8000
#define MSIX_CTRL_MASKALL  0x4000
#define MSIX_ENTRY_MASKED  0x1
#define NO_VECTOR       0xffff

/* Status bits. */
#define S_ACKNOWLEDGE   1
#define S_DRIVER        2
#define S_DRIVER_OK     4
#define S_FEATURES_OK   8
#define S_NEEDS_RESET   0x40
#define S_FAILED        0x80

static void update_irqfds_locked(VmmVirtioDev *d);

/* ---- interrupts --------------------------------------------------------- */

static bool vector_live_locked(VmmVirtioDev *d, uint16_t v)
{
    uint16_t ctrl = pci_get_u16(d->pci.cfg + d->msix_cap + 2);
    return v != NO_VECTOR && v < d->msix_count && (ctrl & MSIX_CTRL_ENABLE) &&
           !(ctrl & MSIX_CTRL_MASKALL) && !(d->msix[v].ctrl & MSIX_ENTRY_MASKED);
}

/* Keeps one MSI route + irqfd per queue (and one for config changes) in
 * step with the vector the driver chose and the MSI-X table. A masked
 * vector is an unassigned irqfd: signals wait in the eventfd, and KVM
 * injects them when the irqfd is assigned again. */
static void sync_irqfd_locked(VmmVirtioDev *d, int fd, int *gsi, gint *on, uint16_t vec)
{
    g_autoptr(GError) err = NULL;
    bool want = vector_live_locked(d, vec);
    if (want) {
        const VmmMsixEntry *e = &d->msix[vec];
        uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;
        if (*gsi < 0)
            *gsi = vmm_irq_msi_route_add(d->vm, addr, e->data, &err);
        else if (!vmm_irq_msi_route_update(d->vm, *gsi, addr, e->data, &err))
            want = false;
        if (*gsi < 0)
            want = false;
    }
    if (want && !*on) {
        g_atomic_int_set(on, vmm_irqfd_assign(d->vm, fd, *gsi, &err));
    } else if (!want && *on) {
        g_atomic_int_set(on, 0);
        vmm_irqfd_deassign(d->vm, fd, *gsi);
    }
    if (err)
        vmm_log_warn("%s: interrupt setup: %s", d->name, err->message);
}

static void update_irqfds_locked(VmmVirtioDev *d)
{
    for (unsigned i = 0; i < d->nqueues; i++) {
        VmmVirtioQueue *q = &d->queues[i];
        sync_irqfd_locked(d, q->call_fd, &q->gsi, &q->irqfd_on, q->msix_vector);
    }
    sync_irqfd_locked(d, d->config_call_fd, &d->config_gsi, &d->config_irqfd_on,
                      d->msix_config);
    if (d->ops->irq_changed)
        d->ops->irq_changed(d);
}

bool vmm_virtio_msix_enabled(VmmVirtioDev *d)
{
    g_mutex_lock(&d->lock);
    bool on = pci_get_u16(d->pci.cfg + d->msix_cap + 2) & MSIX_CTRL_ENABLE;
    g_mutex_unlock(&d->lock);
    return on;
}

/* Fixed by the slot at creation (the _PRT wiring), whatever the guest
 * later writes to the Interrupt Line register. */
static VmmIrq *intx_line(VmmVirtioDev *d)
{
    return d->intx;
}

static void signal_fd(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        vmm_log_warn("virtio: eventfd write: %s", g_strerror(errno));
}

/* MSI-X on: the eventfd (irqfd, or pending while masked). Off: legacy
 * INTx with the ISR status byte, for drivers without MSI-X. */
static void raise_locked(VmmVirtioDev *d, int fd, uint8_t isr_bit)
{
    uint16_t ctrl = pci_get_u16(d->pci.cfg + d->msix_cap + 2);
    if (ctrl & MSIX_CTRL_ENABLE) {
        signal_fd(fd);
    } else if (!(pci_get_u16(d->pci.cfg + PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE)) {
        d->isr |= isr_bit;
        vmm_irq_set(intx_line(d), 1);
    }
}

void vmm_virtio_notify(VmmVirtioDev *d, unsigned q)
{
    VmmVirtioQueue *vq = &d->queues[q];
    /* Fast path: an assigned irqfd needs no lock. */
    if (g_atomic_int_get(&vq->irqfd_on)) {
        signal_fd(vq->call_fd);
        return;
    }
    g_mutex_lock(&d->lock);
    raise_locked(d, vq->call_fd, 0x1);
    g_mutex_unlock(&d->lock);
}

void vmm_virtio_config_changed(VmmVirtioDev *d)
{
    g_mutex_lock(&d->lock);
    d->config_generation++;
    raise_locked(d, d->config_call_fd, 0x2);
    g_mutex_unlock(&d->lock);
}

bool vmm_virtio_config_update(VmmVirtioDev *d, unsigned off, const void *buf, unsigned len)
{
    g_return_val_if_fail(off <= d->config_size && len <= d->config_size - off, false);
    g_mutex_lock(&d->lock);
    bool changed = memcmp(d->config + off, buf, len) != 0;
    if (changed) {
        memcpy(d->config + off, buf, len);
        d->config_generation++;
        raise_locked(d, d->config_call_fd, 0x2);
    }
    g_mutex_unlock(&d->lock);
    return changed;
}

static void needs_reset_v(VmmVirtioDev *d, const char *why, const char *fmt, va_list ap)
{
    if (!g_atomic_int_compare_and_exchange(&d->needs_reset, 0, 1))
        return;
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    vmm_log_warn("%s: %s, it needs a reset: %s", d->name, why, msg);
    g_mutex_lock(&d->lock);
    d->status |= S_NEEDS_RESET;
    d->config_generation++;
    raise_locked(d, d->config_call_fd, 0x2);
    g_mutex_unlock(&d->lock);
}

void vmm_virtio_needs_reset(VmmVirtioDev *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    needs_reset_v(d, "guest broke the device", fmt, ap);
    va_end(ap);
}

void vmm_virtio_backend_failed(VmmVirtioDev *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    needs_reset_v(d, "back end failed", fmt, ap);
    va_end(ap);
}

bool vmm_virtio_broken(VmmVirtioDev *d)
{
    return g_atomic_int_get(&d->needs_reset) != 0;
}

/* ---- reset and status ---------------------------------------------------- */

static void stop_locked(VmmVirtioDev *d)
{
    if (d->running) {
        /* The device's threads may call notify (which takes the lock). */
        d->running = false;
        g_mutex_unlock(&d->lock);
        d->ops->stop(d);
        g_mutex_lock(&d->lock);
    }
}

static void reset_locked(VmmVirtioDev *d)
{
    stop_locked(d);
    d->status = 0;
    d->guest_features = 0;
    d->dfselect = d->gfselect = 0;
    d->queue_select = 0;
    d->msix_config = NO_VECTOR;
    d->isr = 0;
    vmm_irq_set(intx_line(d), 0);
    for (unsigned i = 0; i < d->nqueues; i++) {
        VmmVirtioQueue *q = &d->queues[i];
        q->size = q->max_size;
        q->enabled = false;
        q->msix_vector = NO_VECTOR;
        q->desc = q->avail = q->used = 0;
        uint64_t junk;
        /* Stale kicks/calls from before the reset mean nothing now. */
        while (read(q->kick_fd, &junk, sizeof(junk)) > 0)
            ;
        while (read(q->call_fd, &junk, sizeof(junk)) > 0)
            ;
    }
    uint64_t junk;
    while (read(d->config_call_fd, &junk, sizeof(junk)) > 0)
        ;
    update_irqfds_locked(d);
    g_atomic_int_set(&d->needs_reset, 0);
}

static void set_status_locked(VmmVirtioDev *d, uint8_t val)
{
    if (val == 0) {
        reset_locked(d);
        return;
    }
    if ((val & S_FEATURES_OK) && !(d->status & S_FEATURES_OK)) {
        /* The driver may only accept what we offered, and VERSION_1. */
        bool ok = !(d->guest_features & ~d->host_features) &&
                  (d->guest_features & VIRTIO_F_VERSION_1_BIT) &&
                  (!d->ops->features_ok || d->ops->features_ok(d, d->guest_features));
        if (!ok)
            val &= ~S_FEATURES_OK;
    }
    uint8_t old = d->status;
    d->status = (val & ~S_NEEDS_RESET) | (old & S_NEEDS_RESET);
    /* Only a reset stops the device: a driver that clears DRIVER_OK and
     * sets it again must not start a second set of queue threads. */
    if ((val & S_DRIVER_OK) && !(old & S_DRIVER_OK) && (d->status & S_FEATURES_OK) &&
        !d->running && !vmm_virtio_broken(d)) {
        g_autoptr(GError) err = NULL;
        d->running = true;
        g_mutex_unlock(&d->lock);
        bool ok = d->ops->start(d, &err);
        g_mutex_lock(&d->lock);
        if (!ok) {
            d->running = false;
            vmm_log_warn("%s: cannot start: %s", d->name, err->message);
            d->status |= S_NEEDS_RESET;
        }
    }
}

/* ---- common configuration ----------------------------------------------- */

static VmmVirtioQueue *selq(VmmVirtioDev *d)
{
    return d->queue_select < d->nqueues ? &d->queues[d->queue_select] : NULL;
}

static uint64_t common_read_locked(VmmVirtioDev *d, unsigned off, unsigned size)
{
    uint8_t r[BAR_COMMON_LEN] = { 0 };
    VmmVirtioQueue *q = selq(d);
    pci_set_u32(r + 0x00, d->dfselect);
    pci_set_u32(r + 0x04, d->dfselect < 2 ? (uint32_t)(d->host_features >> (32 * d->dfselect)) : 0);
    pci_set_u32(r + 0x08, d->gfselect);
    pci_set_u32(r + 0x0c, d->gfselect < 2 ? (uint32_t)(d->guest_features >> (32 * d->gfselect)) : 0);
    pci_set_u16(r + 0x10, d->msix_config);
    pci_set_u16(r + 0x12, d->nqueues);
    r[0x14] = d->status;
    r[0x15] = d->config_generation;
    pci_set_u16(r + 0x16, d->queue_select);
    if (q) {
        pci_set_u16(r + 0x18, q->size);
        pci_set_u16(r + 0x1a, q->msix_vector);
        pci_set_u16(r + 0x1c, q->enabled);
        pci_set_u16(r + 0x1e, d->queue_select);            /* queue_notify_off */
        pci_set_u32(r + 0x20, (uint32_t)q->desc);
        pci_set_u32(r + 0x24, q->desc >> 32);
        pci_set_u32(r + 0x28, (uint32_t)q->avail);
        pci_set_u32(r + 0x2c, q->avail >> 32);
        pci_set_u32(r + 0x30, (uint32_t)q->used);
        pci_set_u32(r + 0x34, q->used >> 32);
        pci_set_u16(r + 0x38, d->queue_select);            /* queue_notify_data */
    } else {
        pci_set_u16(r + 0x1a, NO_VECTOR);
    }
    uint64_t v = 0;
    memcpy(&v, r + off, MIN(size, BAR_COMMON_LEN - off));
    return v;
}

static void set_addr_half(uint64_t *a, unsigned off, uint64_t v, unsigned size)
{
    if (size == 8)
        *a = v;
    else if (off & 4)
        *a = (*a & 0xffffffffULL) | (v << 32);
    else
        *a = (*a & ~0xffffffffULL) | (uint32_t)v;
}

static void *guest_translate(void *vm, uint64_t gpa, uint64_t len)
{
    return vmm_vm_gpa_to_hva(vm, gpa, len);
}

static void queue_enable_locked(VmmVirtioDev *d, unsigned qi)
{
    VmmVirtioQueue *q = &d->queues[qi];
    if (q->size == 0 || (q->size & (q->size - 1)) || q->size > q->max_size) {
        g_mutex_unlock(&d->lock);
        vmm_virtio_needs_reset(d, "queue %u: size %u is not a power of two up to %u", qi,
                               q->size, q->max_size);
        g_mutex_lock(&d->lock);
        return;
    }
    VmmGuestMem mem = { .translate = guest_translate, .opaque = d->vm };
    vmm_virtq_init(&q->vq, &mem, q->size, q->desc, q->avail, q->used,
                   !!(d->guest_features & (1ULL << VIRTIO_RING_F_EVENT_IDX)),
                   !!(d->guest_features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC)));
    g_autoptr(GError) err = NULL;
    if (!vmm_virtq_check_rings(&q->vq, &err)) {
        g_mutex_unlock(&d->lock);
        vmm_virtio_needs_reset(d, "queue %u: %s", qi, err->message);
        g_mutex_lock(&d->lock);
        return;
    }
    q->enabled = true;
}

static void common_write_locked(VmmVirtioDev *d, unsigned off, uint64_t v, unsigned size)
{
    VmmVirtioQueue *q = selq(d);
    /* Queue registers are read-only once the queue is enabled (4.1.4.3.2). */
    bool q_writable = q && !q->enabled;
    switch (off) {
    case 0x00: d->dfselect = v; break;
    case 0x08: d->gfselect = v; break;
    case 0x0c:
        if (d->gfselect < 2 && !(d->status & S_FEATURES_OK)) {
            unsigned sh = 32 * d->gfselect;
            d->guest_features = (d->guest_features & ~(0xffffffffULL << sh)) |
                                ((uint64_t)(uint32_t)v << sh);
        }
        break;
    case 0x10:
        /* As for queues: a vector we lack reads back as NO_VECTOR, which
         * is how the driver learns the mapping failed (4.1.5.1.2). */
        d->msix_config = v < d->msix_count ? v : NO_VECTOR;
        update_irqfds_locked(d);
        break;
    case 0x14: set_status_locked(d, v); break;
    case 0x16: d->queue_select = v; break;
    case 0x18: if (q_writable) q->size = v; break;
    case 0x1a:
        if (q) {
            q->msix_vector = v < d->msix_count ? v : NO_VECTOR;
            update_irqfds_locked(d);
        }
        break;
    case 0x1c:
        if (q_writable && v == 1)
            queue_enable_locked(d, d->queue_select);
        break;
    case 0x20: case 0x24: if (q_writable) set_addr_half(&q->desc, off, v, size); break;
    case 0x28: case 0x2c: if (q_writable) set_addr_half(&q->avail, off, v, size); break;
    case 0x30: case 0x34: if (q_writable) set_addr_half(&q->used, off, v, size); break;
    default: break;   /* read-only or reserved */
    }
}

/* ---- BAR0 dispatch --------------------------------------------------------- */

static uint64_t msix_read_locked(VmmVirtioDev *d, uint64_t off, unsigned size)
{
    if (off >= BAR_MSIX_PBA) {
        /* Pending = a masked vector whose eventfd holds a signal. */
        uint64_t pba = 0;
        for (unsigned i = 0; i < d->nqueues; i++) {
            VmmVirtioQueue *q = &d->queues[i];
            struct pollfd p = { .fd = q->call_fd, .events = POLLIN };
            if (q->msix_vector < 64 && !q->irqfd_on && poll(&p, 1, 0) == 1)
                pba |= 1ULL << q->msix_vector;
        }
        unsigned sh = (off - BAR_MSIX_PBA) * 8;
        return sh < 64 ? pba >> sh : 0;
    }
    unsigned idx = (off - BAR_MSIX_TABLE) / 16, word = ((off - BAR_MSIX_TABLE) % 16) / 4;
    if (idx >= d->msix_count)
        return 0;
    const uint32_t *e = &d->msix[idx].addr_lo;
    uint64_t v = e[word];
    if (size == 8 && word < 3)
        v |= (uint64_t)e[word + 1] << 32;
    return v;
}

static void msix_write_locked(VmmVirtioDev *d, uint64_t off, uint64_t v, unsigned size)
{
    if (off >= BAR_MSIX_PBA)
        return;
    unsigned idx = (off - BAR_MSIX_TABLE) / 16, word = ((off - BAR_MSIX_TABLE) % 16) / 4;
    if (idx >= d->msix_count)
        return;
    uint32_t *e = &d->msix[idx].addr_lo;
    e[word] = (uint32_t)v;
    if (size == 8 && word < 3)
        e[word + 1] = v >> 32;
    update_irqfds_locked(d);
}

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
    VmmVirtioDev *d = opaque;
    uint64_t v = 0;
    g_mutex_lock(&d->lock);
    if (off < BAR_COMMON + BAR_COMMON_LEN) {
        v = common_read_locked(d, off, size);
    } else if (off >= BAR_ISR && off < BAR_ISR + BAR_ISR_LEN) {
        /* Reading ISR acknowledges the legacy interrupt. */
        v = off == BAR_ISR ? d->isr : 0;
        if (off == BAR_ISR) {
            d->isr = 0;
            vmm_irq_set(intx_line(d), 0);
        }
    } else if (off >= BAR_DEVICE && off < BAR_DEVICE + d->config_size) {
        unsigned o = off - BAR_DEVICE;
        memcpy(&v, d->config + o, MIN(size, d->config_size - o));
    } else if (off >= BAR_MSIX_TABLE && off < BAR_SIZE) {
        v = msix_read_locked(d, off, size);
    }
    g_mutex_unlock(&d->lock);
    return v;
}

static void bar_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    VmmVirtioDev *d = opaque;
    if (off >= BAR_NOTIFY && off < BAR_NOTIFY + BAR_NOTIFY_LEN) {
        /* Only reached when the ioeventfd did not match (odd size): forward. */
        unsigned qi = (off - BAR_NOTIFY) / NOTIFY_MULT;
        if (qi < d->nqueues)
            signal_fd(d->queues[qi].kick_fd);
        return;
    }
    if (off >= BAR_DEVICE && off < BAR_DEVICE + d->config_size) {
        if (d->ops->config_write)
            d->ops->config_write(d, off - BAR_DEVICE, v, size);
        return;
    }
    if (off < BAR_COMMON + BAR_COMMON_LEN) {
        g_mutex_lock(&d->transition);
        g_mutex_lock(&d->lock);
        common_write_locked(d, off, v, size);
        g_mutex_unlock(&d->lock);
        g_mutex_unlock(&d->transition);
    } else if (off >= BAR_MSIX_TABLE && off < BAR_SIZE) {
        g_mutex_lock(&d->lock);
        msix_write_locked(d, off, v, size);
        g_mutex_unlock(&d->lock);
    }
}

static const VmmRegionOps bar_ops = { "virtio-pci", bar_read, bar_write };

/* ---- PCI side: capabilities, BAR mapping ---------------------------------- */

static void add_vndr_cap(VmmVirtioDev *d, uint8_t type, uint32_t offset, uint32_t length,
                         unsigned len)
{
    unsigned c = vmm_pci_device_add_capability(&d->pci, PCI_CAP_ID_VNDR, len);
    g_assert(c);
    uint8_t *p = d->pci.cfg + c;
    p[2] = len;
    p[3] = type;
    p[4] = 0;           /* BAR0 */
    pci_set_u32(p + 8, offset);
    pci_set_u32(p + 12, length);
    if (type == CAP_NOTIFY_CFG)
        pci_set_u32(p + 16, NOTIFY_MULT);
    if (type == CAP_PCI_CFG) {
        /* bar, offset, length and data are the driver's window into BARs. */
        d->pcicfg_cap = c;
        d->pci.wmask[c + 4] = 0xff;
        memset(d->pci.wmask + c + 8, 0xff, 12);
    }
}

static void bar_mapped(VmmPciDevice *pci, int bar, uint64_t addr, bool mapped)
{
    VmmVirtioDev *d = pci->opaque;
    g_autoptr(GError) err = NULL;
    for (unsigned i = 0; i < d->nqueues; i++) {
        uint64_t a = addr + BAR_NOTIFY + i * NOTIFY_MULT;
        if (mapped && !vmm_ioeventfd_assign(d->vm, d->queues[i].kick_fd, a, 2, false, &err)) {
            vmm_log_warn("%s: queue %u notifications will exit: %s", d->name, i, err->message);
            g_clear_error(&err);
        } else if (!mapped) {
            vmm_ioeventfd_deassign(d->vm, d->queues[i].kick_fd, a, 2, false);
        }
    }
    d->bar_addr = addr;
    d->bar_mapped = mapped;
}

/* The PCI_CFG capability: an access to pci_cfg_data goes to BAR
 * cap.bar at cap.offset (4.1.4.9). */
static bool pcicfg_window(VmmVirtioDev *d, unsigned offset, unsigned size, uint64_t *bar_off,
                          unsigned *len)
{
    unsigned c = d->pcicfg_cap;
    if (!c || offset != c + 16)
        return false;
    uint8_t *p = d->pci.cfg + c;
    *len = pci_get_u32(p + 12);
    *bar_off = pci_get_u32(p + 8);
    return p[4] == 0 && (*len == 1 || *len == 2 || *len == 4) && *len <= size + 0u &&
           *bar_off + *len <= BAR_SIZE && !(*bar_off & (*len - 1));
}

static uint32_t config_read(VmmPciDevice *pci, unsigned offset, unsigned size, uint32_t v)
{
    VmmVirtioDev *d = pci->opaque;
    uint64_t bo;
    unsigned len;
    if (pcicfg_window(d, offset, 4, &bo, &len))
        return bar_read(d, bo, len);
    return v;
}

static void config_written(VmmPciDevice *pci, unsigned offset, unsigned size)
{
    VmmVirtioDev *d = pci->opaque;
    uint64_t bo;
    unsigned len;
    if (pcicfg_window(d, offset, 4, &bo, &len)) {
        uint32_t v = pci_get_u32(d->pci.cfg + d->pcicfg_cap + 16);
        bar_write(d, bo, v, len);
        return;
    }
    if (offset <= d->msix_cap + 3 && offset + size > d->msix_cap + 2) {
        g_mutex_lock(&d->lock);
        update_irqfds_locked(d);
        g_mutex_unlock(&d->lock);
    }
}

static void pci_reset(VmmPciDevice *pci)
{
    VmmVirtioDev *d = pci->opaque;
    g_mutex_lock(&d->transition);
    g_mutex_lock(&d->lock);
    reset_locked(d);
    g_mutex_unlock(&d->lock);
    g_mutex_unlock(&d->transition);
}

static const VmmPciDeviceOps virtio_pci_ops = {
    .name = "virtio-pci",
    .config_read = config_read,
    .config_written = config_written,
    .bar_mapped = bar_mapped,
    .reset = pci_reset,
};

VmmVirtioDev *vmm_virtio_pci_new(VmmVm *vm, const VmmVirtioOps *ops, void *opaque,
                                 const char *name, unsigned nqueues, uint16_t max_queue_size,
                                 uint64_t features, unsigned config_size, int pci_slot,
                                 GError **err)
{
    g_return_val_if_fail(nqueues > 0 && nqueues * NOTIFY_MULT <= BAR_NOTIFY_LEN, NULL);
    g_return_val_if_fail(config_size <= BAR_DEVICE_LEN, NULL);
    VmmVirtioDev *d = g_new0(VmmVirtioDev, 1);
    d->vm = vm;
    d->ops = ops;
    d->opaque = opaque;
    d->name = g_strdup(name);
    g_mutex_init(&d->lock);
    g_mutex_init(&d->transition);
    d->host_features = features | VIRTIO_F_VERSION_1_BIT;
    d->config_size = config_size;
    d->config = g_malloc0(MAX(config_size, 1));
    d->nqueues = nqueues;
    d->queues = g_new0(VmmVirtioQueue, nqueues);
    d->msix_count = nqueues + 1;
    d->msix = g_new0(VmmMsixEntry, d->msix_count);
    for (unsigned i = 0; i < d->msix_count; i++)
        d->msix[i].ctrl = MSIX_ENTRY_MASKED;
    d->config_call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    d->config_gsi = -1;
    for (unsigned i = 0; i < nqueues; i++) {
        VmmVirtioQueue *q = &d->queues[i];
        q->max_size = q->size = max_queue_size;
        q->msix_vector = NO_VECTOR;
        q->gsi = -1;
        q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->kick_fd < 0 || q->call_fd < 0) {
            g_set_error(err, VMM_ERROR, 0, "%s: eventfd: %s", name, g_strerror(errno));
            vmm_virtio_pci_free(d);
            return NULL;
        }
    }
    d->msix_config = NO_VECTOR;

    VmmPciDevice *p = &d->pci;
    vmm_pci_device_init(p, &virtio_pci_ops, d, VIRTIO_PCI_VENDOR,
                        VIRTIO_PCI_DEVICE_MODERN_BASE + ops->virtio_id, ops->pci_class, 1,
                        VIRTIO_PCI_VENDOR, 0x1100);
    p->cfg[PCI_INTERRUPT_PIN] = 1;   /* INTA, for drivers without MSI-X */
    vmm_pci_device_set_bar(p, 0, BAR_SIZE, false, true, &bar_ops, d);
    add_vndr_cap(d, CAP_COMMON_CFG, BAR_COMMON, BAR_COMMON_LEN, 16);
    add_vndr_cap(d, CAP_ISR_CFG, BAR_ISR, BAR_ISR_LEN, 16);
    add_vndr_cap(d, CAP_DEVICE_CFG, BAR_DEVICE, MAX(config_size, 4u), 16);
    add_vndr_cap(d, CAP_NOTIFY_CFG, BAR_NOTIFY, nqueues * NOTIFY_MULT, 20);
    add_vndr_cap(d, CAP_PCI_CFG, 0, 0, 20);
    d->msix_cap = vmm_pci_device_add_capability(p, PCI_CAP_ID_MSIX, 12);
    pci_set_u16(p->cfg + d->msix_cap + 2, d->msix_count - 1);
    pci_set_u32(p->cfg + d->msix_cap + 4, BAR_MSIX_TABLE | 0);
    pci_set_u32(p->cfg + d->msix_cap + 8, BAR_MSIX_PBA | 0);
    pci_set_u16(p->wmask + d->msix_cap + 2, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
    if (!vmm_pci_host_add_device(vm->pci, p, pci_slot, err)) {
        vmm_virtio_pci_free(d);
        return NULL;
    }
    /* INTx lines are shared by every fourth slot: a source of our own. */
    d->intx = vmm_irq_line_source(&vm->gsi_line[p->cfg[PCI_INTERRUPT_LINE] % IOAPIC_NR_PINS],
                                  err);
    if (!d->intx) {
        vmm_virtio_pci_free(d);
        return NULL;
    }
    return d;
}

void vmm_virtio_pci_free(VmmVirtioDev *d)
{
    if (!d)
        return;
    g_mutex_lock(&d->transition);
    g_mutex_lock(&d->lock);
    stop_locked(d);
    for (unsigned i = 0; i < d->nqueues; i++) {
        VmmVirtioQueue *q = &d->queues[i];
        if (q->irqfd_on)
            vmm_irqfd_deassign(d->vm, q->call_fd, q->gsi);
        if (q->gsi >= 0)
            vmm_irq_msi_route_remove(d->vm, q->gsi);
        if (d->bar_mapped)
            vmm_ioeventfd_deassign(d->vm, q->kick_fd, d->bar_addr + BAR_NOTIFY + i * NOTIFY_MULT,
                                   2, false);
        if (q->kick_fd >= 0)
            close(q->kick_fd);
        if (q->call_fd >= 0)
            close(q->call_fd);
    }
    if (d->config_irqfd_on)
        vmm_irqfd_deassign(d->vm, d->config_call_fd, d->config_gsi);
    if (d->config_gsi >= 0)
        vmm_irq_msi_route_remove(d->vm, d->config_gsi);
    if (d->config_call_fd >= 0)
        close(d->config_call_fd);
    if (d->bar_mapped)
        vmm_bus_unregister(&d->vm->mmio, d->bar_addr);
    g_mutex_unlock(&d->lock);
    g_mutex_unlock(&d->transition);
    g_mutex_clear(&d->lock);
    g_mutex_clear(&d->transition);
    g_free(d->queues);
    g_free(d->msix);
    g_free(d->config);
    g_free(d->name);
    g_free(d);
}
