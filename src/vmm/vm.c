/* Assembling a VM: KVM objects, RAM, the platform devices, ACPI tables,
 * the kernel and the vCPUs; and the stop protocol shared by all threads. */
#include "vmm/vm.h"
#include "vmm/acpi.h"
#include "vmm/cpuid.h"
#include "vmm/boot.h"
#include "vmm/irq.h"
#include "vmm/kvm.h"
#include "vmm/vcpu.h"
#include "hw/board.h"
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

#define LAYOUT_IDENTITY_MAP 0xfeffc000ULL

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
        g_set_error(err, VMM_VM_ERROR, 0,
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
        g_set_error(err, VMM_VM_ERROR, 0, "<memory> must be at least 2 MiB");
        return false;
    }
    /* A memfd so that later vhost backends and the balloon can share it. */
    vm->mem_fd = memfd_create("vmm-guest-ram", MFD_CLOEXEC);
    if (vm->mem_fd < 0 || ftruncate(vm->mem_fd, vm->ram_size) < 0) {
        g_set_error(err, VMM_VM_ERROR, 0, "cannot allocate %" G_GUINT64_FORMAT
                    " MiB of guest RAM: %s", vm->ram_size >> 20, g_strerror(errno));
        return false;
    }
    vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                   vm->mem_fd, 0);
    if (vm->ram == MAP_FAILED) {
        vm->ram = NULL;
        g_set_error(err, VMM_VM_ERROR, 0, "cannot map %" G_GUINT64_FORMAT " MiB of guest RAM: %s",
                    vm->ram_size >> 20, g_strerror(errno));
        return false;
    }
    struct kvm_userspace_memory_region low = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = vm->lowmem_size,
        .userspace_addr = (uintptr_t)vm->ram,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &low) < 0) {
        g_set_error(err, VMM_VM_ERROR, 0, "KVM_SET_USER_MEMORY_REGION (low RAM): %s",
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
            g_set_error(err, VMM_VM_ERROR, 0, "KVM_SET_USER_MEMORY_REGION (high RAM): %s",
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
        g_set_error(err, VMM_VM_ERROR, 0, "<vcpu> %u is more than KVM allows on this host (%d)",
                    vm->nr_vcpus, max);
        return false;
    }
    vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vm->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
        g_set_error(err, VMM_VM_ERROR, 0, "KVM_GET_VCPU_MMAP_SIZE: %s", g_strerror(errno));
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
        g_set_error(err, VMM_VM_ERROR, 0, "KVM_CREATE_VM: %s", g_strerror(errno));
        return false;
    }
    uint64_t idmap = LAYOUT_IDENTITY_MAP;
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS_ADDR) < 0 ||
        ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
        g_set_error(err, VMM_VM_ERROR, 0, "KVM_SET_TSS_ADDR/IDENTITY_MAP_ADDR: %s",
                    g_strerror(errno));
        return false;
    }
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        g_set_error(err, VMM_VM_ERROR, 0, "KVM_CREATE_IRQCHIP: %s", g_strerror(errno));
        return false;
    }
    if (!vmm_irq_routing_init(vm, err))
        return false;
    int page = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
    if (page > 0 && (page + 1) * sysconf(_SC_PAGESIZE) <= vm->vcpu_mmap_size)
        vm->coalesced_page = page;
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        g_set_error(err, VMM_VM_ERROR, 0, "KVM_CREATE_PIT2: %s", g_strerror(errno));
        return false;
    }
    return true;
}

/* Buses and interrupt lines, then the devices (the board decides which),
 * then the ACPI tables describing them. */
static bool setup_devices(VmmVm *vm, VmmChardev *const *backends,
                          VmmChardev *const *channel_backends, VmmNetdev *const *netdevs,
                          GError **err)
{
    vmm_bus_init(&vm->pio, "pio");
    vmm_bus_init(&vm->mmio, "mmio");
    for (unsigned i = 0; i < IOAPIC_NR_PINS; i++) {
        vm->gsi[i] = (VmmIrq){ .set = irq_line_set, .opaque = vm, .gsi = i };
        vmm_irq_line_init(&vm->gsi_line[i], &vm->gsi[i]);
    }
    if (!vmm_board_create(vm, backends, channel_backends, netdevs, err))
        return false;
    if (vm->def->acpi) {
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
                  VmmChardev *const *channel_backends, VmmNetdev *const *netdevs,
                  const char *boot_protocol, GError **err)
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
    g_mutex_init(&vm->coalesced_lock);
    g_cond_init(&vm->vcpus_cond);
    vm->stop_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vm->stop_eventfd < 0) {
        g_set_error(err, VMM_VM_ERROR, 0, "eventfd: %s", g_strerror(errno));
        goto fail;
    }
    if (!setup_kvm(vm, err) || !setup_memory(vm, err) ||
        !setup_devices(vm, serial_backends, channel_backends, netdevs, err) ||
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
    if (vm->coalesced_page) {
        /* a mapping of its own: device threads flush until they are freed,
         * after the vCPUs */
        long ps = sysconf(_SC_PAGESIZE);
        void *r = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpus[0].fd,
                       vm->coalesced_page * ps);
        if (r == MAP_FAILED) {
            g_set_error(err, VMM_VM_ERROR, 0, "mmap of KVM's coalesced MMIO ring: %s",
                        g_strerror(errno));
            goto fail;
        }
        vm->coalesced = r;
    }
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
    vmm_board_power_button(vm);
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
    vmm_board_free(vm);
    if (vm->coalesced)
        munmap(vm->coalesced, sysconf(_SC_PAGESIZE));
    g_mutex_clear(&vm->coalesced_lock);
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
    for (unsigned i = 0; i < IOAPIC_NR_PINS; i++)
        vmm_irq_line_clear(&vm->gsi_line[i]);
    g_free(vm->supported_cpuid);
    g_free(vm->stop_detail);
    g_mutex_clear(&vm->stop_lock);
    g_cond_clear(&vm->vcpus_cond);
    g_free(vm);
}
