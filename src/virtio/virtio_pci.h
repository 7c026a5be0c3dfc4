/* virtio 1.x over PCI (modern interface only): common/notify/ISR/device
 * configuration capabilities and MSI-X in one 64-bit memory BAR. Queue
 * notifications arrive through ioeventfds and interrupts leave through
 * irqfds on MSI routes, so the data path never exits to this process.
 * A device model (virtio_blk.c, ...) plugs in through VmmVirtioOps. */
#ifndef VMM_VIRTIO_PCI_H
#define VMM_VIRTIO_PCI_H

#include "hw/pci.h"
#include "virtio/virtqueue.h"

typedef struct VmmVm VmmVm;
typedef struct VmmVirtioDev VmmVirtioDev;

typedef struct {
    const char *name;            /* "virtio-blk": for messages */
    uint16_t virtio_id;          /* device type: 2 = block */
    uint32_t pci_class;
    /* Driver accepted these features (FEATURES_OK); false refuses them. */
    bool (*features_ok)(VmmVirtioDev *d, uint64_t features);
    /* DRIVER_OK: queues are set up; start processing them. */
    bool (*start)(VmmVirtioDev *d, GError **err);
    /* Reset or NEEDS_RESET: stop all processing before returning. */
    void (*stop)(VmmVirtioDev *d);
    /* Optional: a guest write to the device-specific config space. */
    void (*config_write)(VmmVirtioDev *d, unsigned offset, uint64_t value, unsigned size);
    /* Optional: how interrupts reach the guest changed (MSI-X enabled or
     * disabled, a vector masked or moved). Called with d->lock held: only
     * wake someone. For devices whose back end signals call_fd itself. */
    void (*irq_changed)(VmmVirtioDev *d);
} VmmVirtioOps;

typedef struct {
    uint16_t size, max_size;
    bool enabled;
    uint16_t msix_vector;
    uint64_t desc, avail, used;
    int kick_fd;                 /* ioeventfd: guest -> device */
    int call_fd;                 /* irqfd: device -> guest */
    int gsi;                     /* MSI route of call_fd, -1 = none */
    gint irqfd_on;               /* atomic: irqfd assigned */
    VmmVirtq vq;
} VmmVirtioQueue;

typedef struct {
    uint32_t addr_lo, addr_hi, data, ctrl;
} VmmMsixEntry;

struct VmmVirtioDev {
    VmmVm *vm;
    VmmPciDevice pci;
    VmmIrq *intx;                /* this device's source on its INTx GSI */
    const VmmVirtioOps *ops;
    void *opaque;
    char *name;                  /* "virtio-blk vda" */
    GMutex lock;                 /* transport registers, MSI-X, status */
    /* Held (before lock) across a status change, reset or free: start and
     * stop drop `lock` while the device's threads come and go, and a reset
     * from a second vCPU in that gap would stop threads not yet started. */
    GMutex transition;

    uint64_t host_features, guest_features;
    uint32_t dfselect, gfselect;
    uint8_t status;
    uint8_t config_generation;
    uint16_t queue_select;
    uint16_t msix_config;
    uint8_t isr;
    bool running;                /* ops->start succeeded, not yet stopped */
    gint needs_reset;            /* atomic: set by vmm_virtio_needs_reset */

    uint8_t *config;             /* device-specific config, config_size bytes */
    unsigned config_size;

    unsigned nqueues;
    VmmVirtioQueue *queues;

    unsigned msix_count;         /* nqueues + 1 (config) */
    VmmMsixEntry *msix;
    unsigned msix_cap;           /* offset of the MSI-X capability */
    unsigned pcicfg_cap;         /* offset of VIRTIO_PCI_CAP_PCI_CFG */
    int config_call_fd, config_gsi;
    gint config_irqfd_on;

    uint64_t bar_addr;
    bool bar_mapped;
};

VmmVirtioDev *vmm_virtio_pci_new(VmmVm *vm, const VmmVirtioOps *ops, void *opaque,
                                 const char *name, unsigned nqueues, uint16_t max_queue_size,
                                 uint64_t features, unsigned config_size, int pci_slot,
                                 GError **err);
void vmm_virtio_pci_free(VmmVirtioDev *d);
/* Interrupt the guest for queue q (any thread; no exit on the fast path). */
void vmm_virtio_notify(VmmVirtioDev *d, unsigned q);
/* The queue is broken by the guest: log once, DEVICE_NEEDS_RESET, config
 * interrupt. The device stops using its queues until the driver resets it. */
void vmm_virtio_needs_reset(VmmVirtioDev *d, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
bool vmm_virtio_broken(VmmVirtioDev *d);
/* The same for a device whose back end failed (not the guest's doing). */
void vmm_virtio_backend_failed(VmmVirtioDev *d, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* MSI-X is enabled: queue interrupts go through call_fd/irqfd; otherwise
 * vmm_virtio_notify raises INTx. */
bool vmm_virtio_msix_enabled(VmmVirtioDev *d);
/* Device config changed (e.g. capacity): bump generation, interrupt. */
void vmm_virtio_config_changed(VmmVirtioDev *d);
/* Replace len bytes of the device config at off (a back end's new
 * capacity) and, when they differ, bump the generation and interrupt, all
 * under the device lock so that a driver never reads a torn value under
 * an unchanged generation. Returns whether they differed. */
bool vmm_virtio_config_update(VmmVirtioDev *d, unsigned off, const void *buf, unsigned len);

#endif
