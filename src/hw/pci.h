/* PCI host bridge: configuration mechanism #1 (0xcf8/0xcfc) and PCIe ECAM
 * on one bus, generic type-0 configuration space with BAR sizing, and BAR
 * mapping onto the pio/mmio buses when the guest enables decoding. */
#ifndef VMM_PCI_H
#define VMM_PCI_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include "hw/bus.h"

#define PCI_CFG_SIZE      4096
#define PCI_NUM_BARS      6
#define PCI_MAX_DEVICES   32
#define PCI_MAX_FUNCTIONS 8

/* Standard configuration-space offsets used by the emulation. */
#define PCI_VENDOR_ID     0x00
#define PCI_DEVICE_ID     0x02
#define PCI_COMMAND       0x04
#define  PCI_COMMAND_IO     0x1
#define  PCI_COMMAND_MEMORY 0x2
#define  PCI_COMMAND_MASTER 0x4
#define  PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS        0x06
#define  PCI_STATUS_CAP_LIST 0x10
#define PCI_REVISION_ID   0x08
#define PCI_CLASS_PROG    0x09
#define PCI_CLASS_DEVICE  0x0a
#define PCI_HEADER_TYPE   0x0e
#define PCI_BAR0          0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID  0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

typedef struct VmmPciHost VmmPciHost;
typedef struct VmmPciDevice VmmPciDevice;

typedef struct {
    const char *name;
    /* Optional: device-specific view of config space reads (windows such
     * as virtio's PCI_CFG access capability); `value` is the generic one. */
    uint32_t (*config_read)(VmmPciDevice *dev, unsigned offset, unsigned size, uint32_t value);
    /* Optional: called after the generic config write was applied (e.g.
     * capability registers such as MSI-X enable). */
    void (*config_written)(VmmPciDevice *dev, unsigned offset, unsigned size);
    /* Optional: a BAR was mapped at addr (mapped) or unmapped. */
    void (*bar_mapped)(VmmPciDevice *dev, int bar, uint64_t addr, bool mapped);
    void (*reset)(VmmPciDevice *dev);
} VmmPciDeviceOps;

typedef struct {
    uint64_t size;           /* power of two, 0 = unused */
    bool io, is64, prefetch;
    const VmmRegionOps *ops;
    void *opaque;
    uint64_t mapped_addr;    /* current mapping, valid when mapped */
    bool mapped;
} VmmPciBar;

struct VmmPciDevice {
    VmmPciHost *host;
    const VmmPciDeviceOps *ops;
    void *opaque;
    unsigned devfn;
    GMutex lock;             /* config space */
    uint8_t cfg[PCI_CFG_SIZE];
    uint8_t wmask[PCI_CFG_SIZE];   /* guest-writable bits */
    uint8_t w1cmask[PCI_CFG_SIZE]; /* write-1-to-clear bits */
    VmmPciBar bar[PCI_NUM_BARS];
    unsigned cap_last, cap_end;   /* capability list bookkeeping */
};

VmmPciHost *vmm_pci_host_new(VmmBus *pio, VmmBus *mmio, GError **err);
void vmm_pci_host_free(VmmPciHost *host);
void vmm_pci_host_reset(VmmPciHost *host);

/* Initialise dev's header (vendor/device/class...) and plug it into a free
 * slot (or slot `slot` if >= 0). */
void vmm_pci_device_init(VmmPciDevice *dev, const VmmPciDeviceOps *ops, void *opaque,
                         uint16_t vendor, uint16_t device, uint32_t class_code,
                         uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id);
bool vmm_pci_host_add_device(VmmPciHost *host, VmmPciDevice *dev, int slot, GError **err);
/* Function fn of slot (fn 0 is add_device); function 0 of the slot must
 * have bit 7 of its header type set for guests to look at the others. No
 * INTx routing is set up: such functions (the PIIX3 IDE) use ISA IRQs. */
/* The GSI of INTx pin `pin` (1 = INTA .. 4 = INTD) of any function in
 * `slot`, as the DSDT's _PRT routes it (level, active low, shared). */
unsigned vmm_pci_intx_gsi(int slot, unsigned pin);
bool vmm_pci_host_add_function(VmmPciHost *host, VmmPciDevice *dev, int slot, int fn,
                               GError **err);
void vmm_pci_device_set_bar(VmmPciDevice *dev, int bar, uint64_t size, bool io, bool is64,
                            const VmmRegionOps *ops, void *opaque);
/* Append a capability of len bytes (header included); returns its offset
 * or 0 when config space is full. */
unsigned vmm_pci_device_add_capability(VmmPciDevice *dev, uint8_t cap_id, unsigned len);

uint32_t vmm_pci_config_read(VmmPciDevice *dev, unsigned offset, unsigned size);
void vmm_pci_config_write(VmmPciDevice *dev, unsigned offset, uint32_t value, unsigned size);

static inline void pci_set_u16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static inline void pci_set_u32(uint8_t *p, uint32_t v)
{ p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
static inline uint16_t pci_get_u16(const uint8_t *p) { return p[0] | p[1] << 8; }
static inline uint32_t pci_get_u32(const uint8_t *p)
{ return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

#endif
