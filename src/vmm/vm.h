/* The per-VM context: everything one running VM owns lives here. */
#ifndef VMM_VM_H
#define VMM_VM_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <linux/kvm.h>

#include "conf/domain_conf.h"
#include "hw/bus.h"
#include "vmm/irq.h"
#include "vmm/layout.h"

/* Errors of building and running a VM (vm.c and its helpers). */
#define VMM_VM_ERROR (g_quark_from_static_string("vmm-vm-error"))

typedef struct VmmVm VmmVm;
typedef struct VmmUart VmmUart;
typedef struct VmmI8042 VmmI8042;
typedef struct VmmRtc VmmRtc;
typedef struct VmmPciHost VmmPciHost;
typedef struct VmmAcpiGed VmmAcpiGed;
typedef struct VmmIde VmmIde;
typedef struct VmmAhci VmmAhci;
typedef struct VmmChardev VmmChardev;
typedef struct VmmNetdev VmmNetdev;   /* net/netdev.h: src/vmm only passes it on */
typedef struct VmmIrqRouting VmmIrqRouting;

/* Why the guest stopped running. */
typedef enum {
    VMM_STOP_NONE = 0,
    VMM_STOP_POWEROFF,   /* ACPI S5 */
    VMM_STOP_RESET,      /* i8042 0xFE, ACPI reset register, triple fault is CRASH */
    VMM_STOP_CRASH,      /* triple fault, emulation failure, bad entry state */
    VMM_STOP_ERROR,      /* host-side failure (KVM ioctl) */
    VMM_STOP_KILLED,     /* stopped hard by the host (second SIGTERM) */
} VmmStopReason;

typedef struct {
    VmmVm *vm;
    unsigned index;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool thread_started;
    bool paused;             /* parked by vmm_vm_pause() */
} VmmVcpu;

/* How the boot loader left the boot vCPU. */
typedef enum { VMM_BOOT_LINUX64, VMM_BOOT_PVH } VmmBootMode;
typedef struct {
    VmmBootMode mode;
    uint64_t entry;          /* RIP (64-bit) or EIP (PVH, 32-bit) */
    uint64_t boot_info;      /* RSI = zero page, or EBX = hvm_start_info */
    const char *format;      /* "vmlinux", "bzImage", "pvh" for messages */
} VmmBootState;

struct VmmVm {
    const VmmDomainDef *def;
    int kvm_fd, vm_fd;
    int vcpu_mmap_size;
    struct kvm_cpuid2 *supported_cpuid;

    /* Guest RAM: one shared memfd, split around the 32-bit PCI hole. */
    int mem_fd;
    uint8_t *ram;
    uint64_t ram_size, lowmem_size, highmem_size;

    VmmBus pio, mmio;
    VmmIrq gsi[IOAPIC_NR_PINS];           /* KVM_IRQ_LINE per IOAPIC pin */
    VmmIrqLine gsi_line[IOAPIC_NR_PINS];  /* devices' sources, ORed onto gsi[] */
    VmmIrqRouting *irq_routing;
    /* KVM's coalesced MMIO ring (NULL: none yet, or KVM has none): guest
     * writes to the zones devices register wait there instead of exiting
     * to us, and vmm_vm_coalesced_flush() hands them to the bus in order.
     * coalesced_page: its page in a vCPU's mapping (0: not offered). */
    struct kvm_coalesced_mmio_ring *coalesced;
    int coalesced_page;
    GMutex coalesced_lock;

    /* Devices. Serial backends are owned by the caller (they outlive a
     * guest reboot); the rest is created and freed with the VM. */
    VmmChardev *serial_backend[VMM_MAX_SERIALS];
    VmmUart *uart[VMM_MAX_SERIALS];
    VmmI8042 *i8042;
    VmmRtc *rtc;
    VmmPciHost *pci;
    VmmAcpiGed *ged;
    VmmIde *ide;             /* the PIIX3 IDE function, when a disk has bus='ide' */
    VmmAhci *ahci;           /* the ICH9 AHCI function, when a disk has bus='sata' */
    GPtrArray *blk;          /* VmmVirtioBlk*, one per <disk bus='virtio'>; NULL
                              * at the index of a <disk type='vhostuser'> */
    GPtrArray *vhost_blk;    /* VmmVhostUserBlk*, per <disk>, NULL where not vhostuser */
    GPtrArray *net;          /* VmmVirtioNet*, one per <interface>; NULL at an e1000's */
    GPtrArray *e1000;        /* VmmE1000*, per <interface>, NULL where not model e1000 */
    GPtrArray *rtl8139;      /* VmmRtl8139*, per <interface>, NULL where not model rtl8139 */
    GPtrArray *rng;          /* VmmVirtioRng*, one per <rng> */
    GPtrArray *balloon;      /* VmmVirtioBalloon*, one for a virtio <memballoon> */
    GPtrArray *vserial;      /* VmmVirtioConsole*, one for the virtio-serial controller */

    unsigned nr_vcpus;
    VmmVcpu *vcpus;
    VmmBootState boot;
    uint64_t rsdp_gpa;

    /* Stop protocol: the first vCPU (or device) to request a stop wins,
     * records why, and kicks the others out of KVM_RUN. */
    GMutex stop_lock;
    VmmStopReason stop_reason;
    char *stop_detail;
    int stop_eventfd;        /* readable once a stop was requested */
    unsigned vcpus_running;
    GCond vcpus_cond;
    gint pause_requested;    /* atomic; vCPUs park while set */
    unsigned vcpus_paused;   /* under stop_lock */
};

/* Build a VM from its definition: KVM objects, RAM, devices, ACPI tables,
 * the kernel loaded and vCPUs in their boot state. */
/* netdevs: the host side of each <interface>, in document order, owned
 * by the caller (they outlive a guest reboot); NULL when there are none. */
/* channel_backends: the host end of each def->channels item (virtio
 * console and channels), owned by the caller likewise; NULL when none. */
VmmVm *vmm_vm_new(const VmmDomainDef *def, VmmChardev *const *serial_backends,
                  VmmChardev *const *channel_backends, VmmNetdev *const *netdevs,
                  const char *boot_protocol, GError **err);
bool vmm_vm_start(VmmVm *vm, GError **err);
/* Ask the VM to stop (from any thread). Only the first reason sticks. */
void vmm_vm_request_stop(VmmVm *vm, VmmStopReason reason, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* Wait for all vCPU threads to leave; returns the stop reason. */
VmmStopReason vmm_vm_join(VmmVm *vm);
void vmm_vm_free(VmmVm *vm);
/* Park all vCPUs outside KVM_RUN (returns once they are parked) and let
 * them go again: libvirt's suspend/resume. */
void vmm_vm_pause(VmmVm *vm);
void vmm_vm_resume(VmmVm *vm);
bool vmm_vm_paused(VmmVm *vm);
/* CPU time a vCPU thread has used, in nanoseconds. */
uint64_t vmm_vm_vcpu_time_ns(VmmVm *vm, unsigned index);
/* Raise the ACPI power button (graceful shutdown request). */
void vmm_vm_power_button(VmmVm *vm);

/* Guest writes to MMIO [addr, addr+len) stop exiting to the worker: KVM
 * queues them and they reach the bus at the next vmm_vm_coalesced_flush(),
 * which every vCPU exit runs first (so the vCPU's own later accesses see
 * them in order). For doorbells whose device can wait for them: the device
 * flushes too wherever it must see them sooner. off (on=false) removes the
 * zone. false with err where KVM cannot. */
bool vmm_vm_coalesce_mmio(VmmVm *vm, uint64_t addr, unsigned len, bool on, GError **err);
/* Hands the queued writes to the buses, oldest first (any thread; no
 * device lock may be held, since the writes go to the devices). */
void vmm_vm_coalesced_flush(VmmVm *vm);

/* Guest memory access with bounds checks; NULL when [gpa, gpa+len) is not
 * entirely RAM. All guest-controlled addresses go through this. */
static inline void *vmm_vm_gpa_to_hva(VmmVm *vm, uint64_t gpa, uint64_t len)
{
    /* inline: device hot paths translate every buffer, and the boot
     * loaders (fuzzed on their own) need nothing else from vm.c */
    if (gpa < vm->lowmem_size && len <= vm->lowmem_size - gpa)
        return vm->ram + gpa;
    if (gpa >= LAYOUT_HIGHMEM_START && gpa - LAYOUT_HIGHMEM_START < vm->highmem_size &&
        len <= vm->highmem_size - (gpa - LAYOUT_HIGHMEM_START))
        return vm->ram + vm->lowmem_size + (gpa - LAYOUT_HIGHMEM_START);
    return NULL;
}

const char *vmm_stop_reason_to_string(VmmStopReason r);

#endif
