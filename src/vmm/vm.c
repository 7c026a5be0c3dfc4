/* Assembling a VM: KVM objects, RAM, the platform devices, ACPI tables,
 * the kernel and the vCPUs; and the stop protocol shared by all threads. */
#include "vmm/vm.h"
#include "vmm/acpi.h"
#include "vmm/cpuid.h"
#include "vmm/boot.h"
#include "vmm/irq.h"
#include "vmm/kvm.h"
#include "vmm/vcpu.h"
#include "hw/acpi_ged.h"
#include "hw/i8042.h"
#include "hw/pci.h"
#include "hw/port80.h"
#include "hw/rtc.h"
#include "hw/uart.h"
#include "util/chardev.h"
#include "virtio/virtio_blk.h"
#include "virtio/virtio_net.h"
#include "virtio/virtio_net_proto.h"
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#define VM_ERROR (g_quark_from_static_string("vmm-vm-error"))
#define LAYOUT_IDENTITY_MAP 0xfeffc000ULL

static const struct { uint16_t port; unsigned gsi; } serial_wiring[VMM_MAX_SERIALS] = {
    { PORT_COM1, GSI_COM1 }, { PORT_COM2, GSI_COM2 },
    { PORT_COM3, GSI_COM1 }, { PORT_COM4, GSI_COM2 },
};

const char *vmm_stop_reason_to_string(VmmStopReason r)
{
    switch (r) {
    case VMM_STOP_NONE: return "running";
    case VMM_STOP_POWEROFF: return "poweroff";
    case VMM_STOP_RESET: return "reset";
    case VMM_STOP_CRASH: return "crash";
    case VMM_STOP_ERROR: return "error";
    case VMM_STOP_KILLED: return "killed";
    }
    return "unknown";
}

void vmm_vm_request_stop(VmmVm *vm, VmmStopReason reason, const char *fmt, ...)
{
    g_mutex_lock(&vm->stop_lock);
    bool first = vm->stop_reason == VMM_STOP_NONE;
    if (first) {
        va_list ap;
        va_start(ap, fmt);
        vm->stop_detail = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_atomic_int_set((gint *)&vm->stop_reason, reason);
    }
    g_cond_broadcast(&vm->vcpus_cond);   /* wake parked vCPUs */
    g_mutex_unlock(&vm->stop_lock);
    if (!first)
        return;
    uint64_t one = 1;
    if (write(vm->stop_eventfd, &one, sizeof(one)) < 0)
        vmm_log_warn("cannot signal VM stop: %s", g_strerror(errno));
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vmm_vcpu_kick(&vm->vcpus[i]);
}

static void irq_line_set(VmmIrq *irq, int level)
{
    VmmVm *vm = irq->opaque;
    struct kvm_irq_level l = { .irq = irq->gsi, .level = level };
    if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
        vmm_log_warn("KVM_IRQ_LINE gsi %u: %s", irq->gsi, g_strerror(errno));
}

/* Host RAM check: refuse a guest bigger than host memory plus swap,
 * rather than letting the OOM killer decide later. */
static bool check_host_memory(uint64_t bytes, GError **err)
{
    struct sysinfo si;
    if (sysinfo(&si) != 0)
        return true;
    uint64_t host = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
    if (bytes > host) {
        g_set_error(err, VM_ERROR, 0,
                    "<memory> of %" G_GUINT64_FORMAT " MiB is more than this host has "
                    "(%" G_GUINT64_FORMAT " MiB of RAM and swap)", bytes >> 20, host >> 20);
        return false;
    }
    return true;
}

static bool setup_memory(VmmVm *vm, GError **err)
{
    vm->ram_size = vm->def->memory_kib * 1024;
    if (!check_host_memory(vm->ram_size, err))
        return false;
    vm->lowmem_size = MIN(vm->ram_size, LAYOUT_LOWMEM_END);
    vm->highmem_size = vm->ram_size - vm->lowmem_size;
    if (vm->lowmem_size < 2 * LAYOUT_HIGH_MEM) {
        g_set_error(err, VM_ERROR, 0, "<memory> must be at least 2 MiB");
        return false;
    }
    /* A memfd so that later vhost backends and the balloon can share it. */
    vm->mem_fd = memfd_create("vmm-guest-ram", MFD_CLOEXEC);
    if (vm->mem_fd < 0 || ftruncate(vm->mem_fd, vm->ram_size) < 0) {
        g_set_error(err, VM_ERROR, 0, "cannot allocate %" G_GUINT64_FORMAT
                    " MiB of guest RAM: %s", vm->ram_size >> 20, g_strerror(errno));
        return false;
    }
    vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                   vm->mem_fd, 0);
    if (vm->ram == MAP_FAILED) {
        vm->ram = NULL;
        g_set_error(err, VM_ERROR, 0, "cannot map %" G_GUINT64_FORMAT " MiB of guest RAM: %s",
                    vm->ram_size >> 20, g_strerror(errno));
        return false;
    }
    struct kvm_userspace_memory_region low = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = vm->lowmem_size,
        .userspace_addr = (uintptr_t)vm->ram,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &low) < 0) {
        g_set_error(err, VM_ERROR, 0, "KVM_SET_USER_MEMORY_REGION (low RAM): %s",
                    g_strerror(errno));
        return false;
    }
    if (vm->highmem_size) {
        struct kvm_userspace_memory_region high = {
            .slot = 1, .guest_phys_addr = LAYOUT_HIGHMEM_START,
            .memory_size = vm->highmem_size,
            .userspace_addr = (uintptr_t)(vm->ram + vm->lowmem_size),
        };
        if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &high) < 0) {
            g_set_error(err, VM_ERROR, 0, "KVM_SET_USER_MEMORY_REGION (high RAM): %s",
                        g_strerror(errno));
            return false;
        }
    }
    return true;
}

static bool setup_kvm(VmmVm *vm, GError **err)
{
    vm->kvm_fd = vmm_kvm_open(err);
    if (vm->kvm_fd < 0)
        return false;
    int max = vmm_kvm_max_vcpus(vm->kvm_fd);
    if (vm->nr_vcpus > (unsigned)max) {
        g_set_error(err, VM_ERROR, 0, "<vcpu> %u is more than KVM allows on this host (%d)",
                    vm->nr_vcpus, max);
        return false;
    }
    vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vm->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
        g_set_error(err, VM_ERROR, 0, "KVM_GET_VCPU_MMAP_SIZE: %s", g_strerror(errno));
        return false;
    }
    vm->supported_cpuid = vmm_kvm_supported_cpuid(vm->kvm_fd, err);
    if (!vm->supported_cpuid ||
        !vmm_cpuid_check(vm->supported_cpuid, vm->def->cpu, vm->nr_vcpus, err))
        return false;
    do {
        vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    } while (vm->vm_fd < 0 && errno == EINTR);
    if (vm->vm_fd < 0) {
        g_set_error(err, VM_ERROR, 0, "KVM_CREATE_VM: %s", g_strerror(errno));
        return false;
    }
    uint64_t idmap = LAYOUT_IDENTITY_MAP;
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS_ADDR) < 0 ||
        ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
        g_set_error(err, VM_ERROR, 0, "KVM_SET_TSS_ADDR/IDENTITY_MAP_ADDR: %s",
                    g_strerror(errno));
        return false;
    }
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        g_set_error(err, VM_ERROR, 0, "KVM_CREATE_IRQCHIP: %s", g_strerror(errno));
        return false;
    }
    if (!vmm_irq_routing_init(vm, err))
        return false;
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        g_set_error(err, VM_ERROR, 0, "KVM_CREATE_PIT2: %s", g_strerror(errno));
        return false;
    }
    return true;
}

/* ---- device glue ------------------------------------------------------ */

static void uart_tx(void *opaque, const uint8_t *buf, size_t len)
{
    if (opaque)
        vmm_chardev_write(opaque, buf, len);
}

static void uart_rx_space(void *opaque)
{
    if (opaque)
        vmm_chardev_accept_input(opaque);
}

static size_t chr_can_receive(void *opaque) { return vmm_uart_can_receive(opaque); }
static void chr_receive(void *opaque, const uint8_t *buf, size_t len)
{
    vmm_uart_receive(opaque, buf, len);
}

static void on_guest_reset(void *opaque)
{
    vmm_vm_request_stop(opaque, VMM_STOP_RESET, "guest requested a reset");
}

static void on_guest_poweroff(void *opaque)
{
    vmm_vm_request_stop(opaque, VMM_STOP_POWEROFF, "guest powered off (ACPI S5)");
}

/* <interface> -> virtio-net on the host side the caller opened. Offloads
 * the XML turns off are never offered: host= for what the device accepts
 * from the guest, guest= for what it hands to the guest. */
static VmmVirtioNet *net_new(VmmVm *vm, const VmmNetDef *nd, unsigned index,
                             const VmmNetdev *host, GError **err)
{
    static const unsigned host_bits[VMM_NET_HOST_N][3] = {
        [VMM_NET_HOST_CSUM] = { VIRTIO_NET_F_CSUM },
        [VMM_NET_HOST_GSO] = { VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6,
                               VIRTIO_NET_F_HOST_UFO },
        [VMM_NET_HOST_TSO4] = { VIRTIO_NET_F_HOST_TSO4 },
        [VMM_NET_HOST_TSO6] = { VIRTIO_NET_F_HOST_TSO6 },
        [VMM_NET_HOST_ECN] = { VIRTIO_NET_F_HOST_ECN },
        [VMM_NET_HOST_UFO] = { VIRTIO_NET_F_HOST_UFO },
        [VMM_NET_HOST_MRG_RXBUF] = { VIRTIO_NET_F_MRG_RXBUF },
    };
    static const unsigned guest_bits[VMM_NET_GUEST_N] = {
        [VMM_NET_GUEST_CSUM] = VIRTIO_NET_F_GUEST_CSUM,
        [VMM_NET_GUEST_TSO4] = VIRTIO_NET_F_GUEST_TSO4,
        [VMM_NET_GUEST_TSO6] = VIRTIO_NET_F_GUEST_TSO6,
        [VMM_NET_GUEST_ECN] = VIRTIO_NET_F_GUEST_ECN,
        [VMM_NET_GUEST_UFO] = VIRTIO_NET_F_GUEST_UFO,
    };
    if (nd->type == VMM_NET_VHOSTUSER) {
        g_set_error(err, VM_ERROR, 0, "interface %u: type '%s' is not supported by this "
                    "vmm-worker's virtio-net yet", index, vmm_net_type_to_string(nd->type));
        return NULL;
    }
    if (nd->driver == VMM_NET_DRIVER_VHOST) {
        g_set_error(err, VM_ERROR, 0, "interface %u: <driver name='vhost'> needs the kernel's "
                    "vhost-net, and /dev/vhost-net is missing on this host (use name='qemu')",
                    index);
        return NULL;
    }
    uint64_t off = 0;
    for (int k = 0; k < VMM_NET_HOST_N; k++)
        if (nd->host[k] == VMM_TRI_OFF)
            for (int b = 0; b < 3 && (b == 0 || host_bits[k][b]); b++)
                off |= VNET_BIT(host_bits[k][b]);
    for (int k = 0; k < VMM_NET_GUEST_N; k++)
        if (nd->guest[k] == VMM_TRI_OFF)
            off |= VNET_BIT(guest_bits[k]);
    g_autofree char *name = host->ifname[0] ? g_strdup(host->ifname)
                                            : g_strdup_printf("net%u", index);
    VmmNetConfig cfg = {
        .name = name,
        .mtu = nd->mtu,
        .queue_pairs = host->nfds,
        .tap_fds = host->fds,
        .stream = nd->type == VMM_NET_USER,
        .rx_queue_size = nd->rx_queue_size,
        .tx_queue_size = nd->tx_queue_size,
        .disabled_features = off,
        .link_down = nd->link_down,
        .pci_slot = nd->pci_slot,
    };
    memcpy(cfg.mac, nd->mac, 6);
    return vmm_virtio_net_new(vm, &cfg, err);
}

static bool setup_devices(VmmVm *vm, VmmChardev *const *backends,
                          VmmNetdev *const *netdevs, GError **err)
{
    vmm_bus_init(&vm->pio, "pio");
    vmm_bus_init(&vm->mmio, "mmio");
    for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
        vm->gsi[i] = (VmmIrq){ .set = irq_line_set, .opaque = vm, .gsi = i };

    if (!vmm_port80_register(&vm->pio, err))
        return false;
    for (guint i = 0; i < vm->def->serials->len; i++) {
        const VmmChrDef *chr = g_ptr_array_index(vm->def->serials, i);
        unsigned port = chr->port;
        g_autofree char *name = g_strdup_printf("serial%u", port);
        VmmChardev *be = backends ? backends[port] : NULL;
        vm->serial_backend[port] = be;
        vm->uart[port] = vmm_uart_new(name, &vm->gsi[serial_wiring[port].gsi], uart_tx,
                                      uart_rx_space, be);
        if (!vmm_bus_register(&vm->pio, serial_wiring[port].port, 8, &vmm_uart_ops,
                              vm->uart[port], err))
            return false;
        if (be)
            vmm_chardev_set_frontend(be, chr_can_receive, chr_receive, vm->uart[port]);
    }
    vm->i8042 = vmm_i8042_new(&vm->gsi[1], &vm->gsi[12], on_guest_reset, vm);
    if (!vmm_i8042_register(vm->i8042, &vm->pio, err))
        return false;
    vm->rtc = vmm_rtc_new(&vm->gsi[GSI_RTC], vm->def->clock == VMM_CLOCK_LOCALTIME);
    vmm_rtc_set_memory(vm->rtc, vm->lowmem_size, vm->highmem_size);
    if (!vmm_bus_register(&vm->pio, PORT_RTC, 2, &vmm_rtc_ops, vm->rtc, err))
        return false;
    vm->pci = vmm_pci_host_new(&vm->pio, &vm->mmio, err);
    if (!vm->pci)
        return false;
    /* Devices with a PCI slot in the XML go first so that automatic
     * placement cannot take their slot; then disks, then interfaces, in
     * document order: vmm_domain_def_fill_defaults() gives the daemon's
     * definitions the same slots. vm->blk and vm->net keep document order. */
    guint ndisks = vm->def->disks ? vm->def->disks->len : 0;
    guint nnets = vm->def->nets ? vm->def->nets->len : 0;
    vm->blk = g_ptr_array_new();
    g_ptr_array_set_size(vm->blk, ndisks);
    vm->net = g_ptr_array_new();
    g_ptr_array_set_size(vm->net, nnets);
    if (nnets && !netdevs) {
        g_set_error(err, VM_ERROR, 0, "interface 0: no host side was opened for it");
        return false;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (guint i = 0; i < ndisks; i++) {
            const VmmDiskDef *disk = g_ptr_array_index(vm->def->disks, i);
            if ((disk->pci_slot >= 0) != (pass == 0))
                continue;
            VmmVirtioBlk *b = vmm_virtio_blk_new(vm, disk, err);
            if (!b)
                return false;
            g_ptr_array_index(vm->blk, i) = b;
        }
        for (guint i = 0; i < nnets; i++) {
            const VmmNetDef *nd = g_ptr_array_index(vm->def->nets, i);
            if ((nd->pci_slot >= 0) != (pass == 0))
                continue;
            VmmVirtioNet *n = net_new(vm, nd, i, netdevs[i], err);
            if (!n)
                return false;
            g_ptr_array_index(vm->net, i) = n;
        }
    }
    if (vm->def->acpi) {
        VmmAcpiGedHandlers h = { on_guest_poweroff, on_guest_reset, vm };
        vm->ged = vmm_acpi_ged_new(&vm->mmio, &vm->gsi[GSI_GED], &h, err);
        if (!vm->ged)
            return false;
        VmmCpuTopology topo;
        vmm_cpu_topology_of(vm->def->cpu, vm->nr_vcpus, &topo);
        g_autofree uint32_t *ids = g_new(uint32_t, vm->nr_vcpus);
        for (unsigned i = 0; i < vm->nr_vcpus; i++)
            ids[i] = vmm_cpu_apic_id(&topo, i);
        VmmAcpiConfig cfg = { .nr_cpus = vm->nr_vcpus, .apic_ids = ids };
        uint8_t *buf = vmm_vm_gpa_to_hva(vm, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE);
        if (!vmm_acpi_build(buf, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE, &cfg, &vm->rsdp_gpa, err))
            return false;
    }
    return true;
}

VmmVm *vmm_vm_new(const VmmDomainDef *def, VmmChardev *const *serial_backends,
                  VmmNetdev *const *netdevs, const char *boot_protocol, GError **err)
{
    static gsize signals_once;
    if (g_once_init_enter(&signals_once)) {
        vmm_vcpu_init_signals();
        g_once_init_leave(&signals_once, 1);
    }
    VmmVm *vm = g_new0(VmmVm, 1);
    vm->def = def;
    vm->kvm_fd = vm->vm_fd = vm->mem_fd = -1;
    vm->nr_vcpus = def->vcpus;
    g_mutex_init(&vm->stop_lock);
    g_cond_init(&vm->vcpus_cond);
    vm->stop_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vm->stop_eventfd < 0) {
        g_set_error(err, VM_ERROR, 0, "eventfd: %s", g_strerror(errno));
        goto fail;
    }
    if (!setup_kvm(vm, err) || !setup_memory(vm, err) ||
        !setup_devices(vm, serial_backends, netdevs, err) ||
        !vmm_boot_load(vm, boot_protocol, &vm->boot, err))
        goto fail;
    vm->vcpus = g_new0(VmmVcpu, vm->nr_vcpus);
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vm->vcpus[i].fd = -1;
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        if (!vmm_vcpu_create(vm, &vm->vcpus[i], i, err))
            goto fail;
    if (!vmm_vcpu_set_boot_state(&vm->vcpus[0], &vm->boot, err))
        goto fail;
    return vm;
fail:
    vmm_vm_free(vm);
    return NULL;
}

bool vmm_vm_start(VmmVm *vm, GError **err)
{
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        if (!vmm_vcpu_start_thread(&vm->vcpus[i], err)) {
            vmm_vm_request_stop(vm, VMM_STOP_ERROR, "%s", (*err)->message);
            return false;
        }
    }
    return true;
}

VmmStopReason vmm_vm_join(VmmVm *vm)
{
    g_mutex_lock(&vm->stop_lock);
    while (vm->vcpus_running > 0)
        g_cond_wait(&vm->vcpus_cond, &vm->stop_lock);
    VmmStopReason r = vm->stop_reason;
    g_mutex_unlock(&vm->stop_lock);
    return r;
}

void vmm_vm_pause(VmmVm *vm)
{
    g_atomic_int_set(&vm->pause_requested, 1);
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vmm_vcpu_kick(&vm->vcpus[i]);
    g_mutex_lock(&vm->stop_lock);
    while (vm->vcpus_paused < vm->vcpus_running && vm->stop_reason == VMM_STOP_NONE)
        g_cond_wait(&vm->vcpus_cond, &vm->stop_lock);
    g_mutex_unlock(&vm->stop_lock);
}

void vmm_vm_resume(VmmVm *vm)
{
    g_mutex_lock(&vm->stop_lock);
    g_atomic_int_set(&vm->pause_requested, 0);
    g_cond_broadcast(&vm->vcpus_cond);
    g_mutex_unlock(&vm->stop_lock);
}

bool vmm_vm_paused(VmmVm *vm)
{
    return g_atomic_int_get(&vm->pause_requested) != 0;
}

uint64_t vmm_vm_vcpu_time_ns(VmmVm *vm, unsigned index)
{
    VmmVcpu *v = &vm->vcpus[index];
    clockid_t cid;
    struct timespec ts;
    if (!v->thread_started || pthread_getcpuclockid(v->thread, &cid) != 0 ||
        clock_gettime(cid, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

void vmm_vm_power_button(VmmVm *vm)
{
    if (vm->ged)
        vmm_acpi_ged_raise(vm->ged, ACPI_GED_EVT_PWR_DOWN);
}

void vmm_vm_free(VmmVm *vm)
{
    if (!vm)
        return;
    if (vm->vcpus) {
        if (vm->stop_reason == VMM_STOP_NONE)
            vmm_vm_request_stop(vm, VMM_STOP_KILLED, "VM torn down");
        for (unsigned i = 0; i < vm->nr_vcpus; i++)
            vmm_vcpu_destroy(&vm->vcpus[i]);
        g_free(vm->vcpus);
    }
    for (unsigned i = 0; i < VMM_MAX_SERIALS; i++) {
        if (vm->serial_backend[i])
            vmm_chardev_set_frontend(vm->serial_backend[i], NULL, NULL, NULL);
        if (vm->uart[i])
            vmm_uart_free(vm->uart[i]);
    }
    if (vm->i8042)
        vmm_i8042_free(vm->i8042);
    if (vm->rtc)
        vmm_rtc_free(vm->rtc);
    vmm_acpi_ged_free(vm->ged);
    for (guint i = 0; vm->blk && i < vm->blk->len; i++)
        if (g_ptr_array_index(vm->blk, i))
            vmm_virtio_blk_free(g_ptr_array_index(vm->blk, i));
    if (vm->blk)
        g_ptr_array_free(vm->blk, TRUE);
    for (guint i = 0; vm->net && i < vm->net->len; i++)
        if (g_ptr_array_index(vm->net, i))
            vmm_virtio_net_free(g_ptr_array_index(vm->net, i));
    if (vm->net)
        g_ptr_array_free(vm->net, TRUE);
    vmm_pci_host_free(vm->pci);
    if (vm->pio.regions)
        vmm_bus_destroy(&vm->pio);
    if (vm->mmio.regions)
        vmm_bus_destroy(&vm->mmio);
    if (vm->ram)
        munmap(vm->ram, vm->ram_size);
    if (vm->mem_fd >= 0)
        close(vm->mem_fd);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    if (vm->stop_eventfd >= 0)
        close(vm->stop_eventfd);
    vmm_irq_routing_free(vm);
    g_free(vm->supported_cpuid);
    g_free(vm->stop_detail);
    g_mutex_clear(&vm->stop_lock);
    g_cond_clear(&vm->vcpus_cond);
    g_free(vm);
}
