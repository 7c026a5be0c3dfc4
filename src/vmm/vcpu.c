#include "vmm/vcpu.h"
#include "util/sandbox.h"
#include "vmm/boot.h"
#include "vmm/cpuid.h"
#include "vmm/kvm.h"
#include "util/log.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define VCPU_KICK_SIGNAL SIGUSR1
#define VCPU_ERROR (g_quark_from_static_string("vmm-vcpu-error"))

#define MSR_IA32_TSC            0x10
#define MSR_IA32_SYSENTER_CS    0x174
#define MSR_IA32_SYSENTER_ESP   0x175
#define MSR_IA32_SYSENTER_EIP   0x176
#define MSR_IA32_MISC_ENABLE    0x1a0
#define MSR_MTRR_DEF_TYPE       0x2ff
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_SYSCALL_MASK        0xc0000084
#define MSR_KERNEL_GS_BASE      0xc0000102

static void kick_handler(int sig) { (void)sig; }

void vmm_vcpu_init_signals(void)
{
    struct sigaction sa = { .sa_handler = kick_handler };
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: KVM_RUN must return -EINTR. */
    sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

static bool set_msrs(VmmVcpu *vcpu, GError **err)
{
    static const struct { uint32_t index; uint64_t value; } msrs[] = {
        { MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
        { MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 }, { MSR_CSTAR, 0 },
        { MSR_KERNEL_GS_BASE, 0 }, { MSR_SYSCALL_MASK, 0 }, { MSR_LSTAR, 0 },
        { MSR_IA32_TSC, 0 },
        { MSR_IA32_MISC_ENABLE, 1 },                 /* fast string operations */
        { MSR_MTRR_DEF_TYPE, (1u << 11) | 6 },       /* MTRRs on, default write-back */
    };
    unsigned n = G_N_ELEMENTS(msrs);
    g_autofree struct kvm_msrs *m =
        g_malloc0(sizeof(*m) + n * sizeof(struct kvm_msr_entry));
    m->nmsrs = n;
    for (unsigned i = 0; i < n; i++) {
        m->entries[i].index = msrs[i].index;
        m->entries[i].data = msrs[i].value;
    }
    int rc = ioctl(vcpu->fd, KVM_SET_MSRS, m);
    if (rc < 0 || (unsigned)rc != n) {
        g_set_error(err, VCPU_ERROR, 0, "vCPU %u: KVM_SET_MSRS failed at MSR 0x%x: %s",
                    vcpu->index, rc < 0 ? 0 : msrs[rc].index,
                    rc < 0 ? g_strerror(errno) : "rejected by KVM");
        return false;
    }
    return true;
}

bool vmm_vcpu_create(VmmVm *vm, VmmVcpu *vcpu, unsigned index, GError **err)
{
    memset(vcpu, 0, sizeof(*vcpu));
    vcpu->vm = vm;
    vcpu->index = index;
    /* KVM's vCPU id is the in-kernel LAPIC's APIC id: the topology's. */
    VmmCpuTopology topo;
    vmm_cpu_topology_of(vm->def->cpu, vm->nr_vcpus, &topo);
    vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)vmm_cpu_apic_id(&topo, index));
    if (vcpu->fd < 0) {
        g_set_error(err, VCPU_ERROR, 0, "KVM_CREATE_VCPU %u: %s", index, g_strerror(errno));
        return false;
    }
    vcpu->run = mmap(NULL, vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                     vcpu->fd, 0);
    if (vcpu->run == MAP_FAILED) {
        vcpu->run = NULL;
        g_set_error(err, VCPU_ERROR, 0, "vCPU %u: mmap of kvm_run: %s", index,
                    g_strerror(errno));
        return false;
    }
    g_autofree struct kvm_cpuid2 *cpuid =
        vmm_cpuid_for_vcpu(vm->supported_cpuid, vm->def->cpu, vm->nr_vcpus, index);
    if (ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0) {
        g_set_error(err, VCPU_ERROR, 0, "vCPU %u: KVM_SET_CPUID2: %s", index,
                    g_strerror(errno));
        return false;
    }
    if (!set_msrs(vcpu, err))
        return false;
    struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
    if (ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0) {
        g_set_error(err, VCPU_ERROR, 0, "vCPU %u: KVM_SET_FPU: %s", index, g_strerror(errno));
        return false;
    }
    /* LINT0 = ExtINT (the PIC), LINT1 = NMI, as a PC BIOS leaves them. */
    struct kvm_lapic_state lapic;
    if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0) {
        g_set_error(err, VCPU_ERROR, 0, "vCPU %u: KVM_GET_LAPIC: %s", index,
                    g_strerror(errno));
        return false;
    }
    uint32_t *lint0 = (uint32_t *)(lapic.regs + 0x350), *lint1 = (uint32_t *)(lapic.regs + 0x360);
    *lint0 = (*lint0 & ~0x700u) | (7u << 8);
    *lint1 = (*lint1 & ~0x700u) | (4u << 8);
    if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0) {
        g_set_error(err, VCPU_ERROR, 0, "vCPU %u: KVM_SET_LAPIC: %s", index,
                    g_strerror(errno));
        return false;
    }
    return true;
}

bool vmm_vcpu_set_boot_state(VmmVcpu *vcpu, const VmmBootState *boot, GError **err)
{
    struct kvm_sregs s;
    if (ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
        g_set_error(err, VCPU_ERROR, 0, "KVM_GET_SREGS: %s", g_strerror(errno));
        return false;
    }
    bool pvh = boot->mode == VMM_BOOT_PVH;
    struct kvm_segment code = {
        .base = 0, .limit = 0xffffffff, .type = 0xb, .present = 1, .s = 1, .g = 1,
        .selector = pvh ? BOOT_GDT_CODE32 : BOOT_GDT_CODE64,
        .db = pvh ? 1 : 0, .l = pvh ? 0 : 1,
    };
    struct kvm_segment data = {
        .base = 0, .limit = 0xffffffff, .type = 0x3, .present = 1, .s = 1, .g = 1, .db = 1,
        .selector = BOOT_GDT_DATA,
    };
    struct kvm_segment tss = {
        .base = 0, .limit = 0x67, .type = 0xb, .present = 1, .selector = BOOT_GDT_TSS,
    };
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.tr = tss;
    s.gdt.base = LAYOUT_BOOT_GDT;
    s.gdt.limit = 6 * 8 - 1;
    s.idt.base = LAYOUT_BOOT_IDT;
    s.idt.limit = 7;
    if (pvh) {
        /* PVH: 32-bit protected mode, paging off. */
        s.cr0 = 0x11;               /* PE | ET */
        s.cr4 = 0;
        s.efer = 0;
    } else {
        /* 64-bit boot protocol: long mode with identity page tables. */
        s.cr0 = 0x80000011;         /* PG | ET | PE */
        s.cr3 = LAYOUT_PML4;
        s.cr4 = 0x20;               /* PAE */
        s.efer = 0x500;             /* LME | LMA */
    }
    if (ioctl(vcpu->fd, KVM_SET_SREGS, &s) < 0) {
        g_set_error(err, VCPU_ERROR, 0, "KVM_SET_SREGS: %s", g_strerror(errno));
        return false;
    }
    struct kvm_regs r = { .rflags = 2, .rip = boot->entry, .rsp = LAYOUT_BOOT_STACK,
                          .rbp = LAYOUT_BOOT_STACK };
    if (pvh)
        r.rbx = boot->boot_info;
    else
        r.rsi = boot->boot_info;
    if (ioctl(vcpu->fd, KVM_SET_REGS, &r) < 0) {
        g_set_error(err, VCPU_ERROR, 0, "KVM_SET_REGS: %s", g_strerror(errno));
        return false;
    }
    return true;
}

static void handle_io(VmmVcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    unsigned size = run->io.size;
    /* String I/O (rep outsb/insb) arrives as count elements. */
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        uint64_t v = 0;
        if (run->io.direction == KVM_EXIT_IO_OUT) {
            memcpy(&v, data, size);
            vmm_bus_write(&vcpu->vm->pio, run->io.port, size, v);
        } else {
            vmm_bus_read(&vcpu->vm->pio, run->io.port, size, &v);
            memcpy(data, &v, size);
        }
    }
}

static void handle_mmio(VmmVcpu *vcpu)
{
    struct kvm_run *run = vcpu->run;
    unsigned len = run->mmio.len;
    uint64_t v = 0;
    if (len > 8)
        return;
    if (run->mmio.is_write) {
        memcpy(&v, run->mmio.data, len);
        vmm_bus_write(&vcpu->vm->mmio, run->mmio.phys_addr, len, v);
    } else {
        vmm_bus_read(&vcpu->vm->mmio, run->mmio.phys_addr, len, &v);
        memcpy(run->mmio.data, &v, len);
    }
}

/* VMM_DEBUG_TRACE (vmmd(8)): the worker kicks every vCPU periodically and
 * each says where it is, with the top of its stack. */
static void debug_trace(VmmVcpu *vcpu)
{
    struct kvm_regs r;
    struct kvm_sregs sr;
    if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &sr) < 0)
        return;
    uint64_t st[6] = { 0 };
    const uint64_t *p = vmm_vm_gpa_to_hva(vcpu->vm, r.rsp, sizeof(st));
    if (p)
        memcpy(st, p, sizeof(st));
    vmm_log_info("vCPU %u: rip 0x%llx rsp 0x%llx cs 0x%x cr0 0x%llx efer 0x%llx rax 0x%llx "
                 "stack %llx %llx %llx %llx %llx %llx", vcpu->index, r.rip, r.rsp,
                 sr.cs.selector, sr.cr0, sr.efer, r.rax, (unsigned long long)st[0],
                 (unsigned long long)st[1], (unsigned long long)st[2], (unsigned long long)st[3],
                 (unsigned long long)st[4], (unsigned long long)st[5]);
}

static void *vcpu_thread(void *arg)
{
    vmm_seccomp_enter_thread(VMM_THREAD_VCPU);
    VmmVcpu *vcpu = arg;
    VmmVm *vm = vcpu->vm;
    g_autofree char *name = g_strdup_printf("vcpu%u", vcpu->index);
    pthread_setname_np(pthread_self(), name);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, VCPU_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    const bool trace = g_getenv("VMM_DEBUG_TRACE") != NULL;

    for (;;) {
        if (g_atomic_int_get((gint *)&vm->stop_reason) != VMM_STOP_NONE)
            break;
        if (g_atomic_int_get(&vm->pause_requested)) {
            /* Suspended: park until resumed or stopped. */
            g_mutex_lock(&vm->stop_lock);
            vm->vcpus_paused++;
            g_cond_broadcast(&vm->vcpus_cond);
            while (g_atomic_int_get(&vm->pause_requested) && vm->stop_reason == VMM_STOP_NONE)
                g_cond_wait(&vm->vcpus_cond, &vm->stop_lock);
            vm->vcpus_paused--;
            g_mutex_unlock(&vm->stop_lock);
            continue;
        }
        int rc = ioctl(vcpu->fd, KVM_RUN, 0);
        /* queued doorbell writes first: this exit's access comes after them */
        vmm_vm_coalesced_flush(vm);
        if (rc < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                vcpu->run->immediate_exit = 0;
                if (trace)
                    debug_trace(vcpu);
                continue;
            }
            vmm_vm_request_stop(vm, VMM_STOP_ERROR, "vCPU %u: KVM_RUN failed: %s",
                                vcpu->index, g_strerror(errno));
            break;
        }
        struct kvm_run *run = vcpu->run;
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            handle_io(vcpu);
            break;
        case KVM_EXIT_MMIO:
            handle_mmio(vcpu);
            break;
        case KVM_EXIT_INTR:
            break;
        case KVM_EXIT_SHUTDOWN:
            /* A triple fault resets a PC; Linux uses it as a reboot method,
             * so like QEMU it counts as a guest reset. */
            vmm_vm_request_stop(vm, VMM_STOP_RESET, "vCPU %u: triple fault", vcpu->index);
            break;
        case KVM_EXIT_SYSTEM_EVENT:
            switch (run->system_event.type) {
            case KVM_SYSTEM_EVENT_SHUTDOWN:
                vmm_vm_request_stop(vm, VMM_STOP_POWEROFF, "system event shutdown");
                break;
            case KVM_SYSTEM_EVENT_RESET:
                vmm_vm_request_stop(vm, VMM_STOP_RESET, "system event reset");
                break;
            default:
                vmm_vm_request_stop(vm, VMM_STOP_CRASH, "vCPU %u: system event %u",
                                    vcpu->index, run->system_event.type);
            }
            break;
        case KVM_EXIT_INTERNAL_ERROR: {
            /* Say where: RIP and KVM's data words (for an emulation
             * failure they include the instruction bytes). */
            struct kvm_regs r = { 0 };
            ioctl(vcpu->fd, KVM_GET_REGS, &r);
            GString *data = g_string_new(NULL);
            for (unsigned i = 0; i < run->internal.ndata && i < 16; i++)
                g_string_append_printf(data, " %llx", (unsigned long long)run->internal.data[i]);
            vmm_vm_request_stop(vm, VMM_STOP_CRASH,
                                "vCPU %u: KVM internal error (suberror %u%s) at rip 0x%llx, data:%s",
                                vcpu->index, run->internal.suberror,
                                run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                                    ? ", instruction emulation failed" : "",
                                (unsigned long long)r.rip, data->len ? data->str : " none");
            g_string_free(data, TRUE);
            break;
        }
        case KVM_EXIT_FAIL_ENTRY:
            vmm_vm_request_stop(vm, VMM_STOP_CRASH,
                                "vCPU %u: VM entry failed (hardware reason 0x%llx)",
                                vcpu->index,
                                (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            break;
        default:
            vmm_vm_request_stop(vm, VMM_STOP_CRASH, "vCPU %u: unexpected KVM exit reason %u",
                                vcpu->index, run->exit_reason);
        }
    }
    g_mutex_lock(&vm->stop_lock);
    vm->vcpus_running--;
    g_cond_broadcast(&vm->vcpus_cond);
    g_mutex_unlock(&vm->stop_lock);
    return NULL;
}

bool vmm_vcpu_start_thread(VmmVcpu *vcpu, GError **err)
{
    /* Threads start with the kick signal blocked and unblock it themselves,
     * so a kick never lands in another thread. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, VCPU_KICK_SIGNAL);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    g_mutex_lock(&vcpu->vm->stop_lock);
    vcpu->vm->vcpus_running++;
    g_mutex_unlock(&vcpu->vm->stop_lock);
    int rc = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        g_mutex_lock(&vcpu->vm->stop_lock);
        vcpu->vm->vcpus_running--;
        g_mutex_unlock(&vcpu->vm->stop_lock);
        g_set_error(err, VCPU_ERROR, 0, "cannot start vCPU %u thread: %s", vcpu->index,
                    g_strerror(rc));
        return false;
    }
    vcpu->thread_started = true;
    return true;
}

void vmm_vcpu_kick(VmmVcpu *vcpu)
{
    if (!vcpu->thread_started || !vcpu->run)
        return;
    vcpu->run->immediate_exit = 1;
    pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vmm_vcpu_destroy(VmmVcpu *vcpu)
{
    if (vcpu->thread_started) {
        pthread_join(vcpu->thread, NULL);
        vcpu->thread_started = false;
    }
    if (vcpu->run)
        munmap(vcpu->run, vcpu->vm->vcpu_mmap_size);
    if (vcpu->fd >= 0)
        close(vcpu->fd);
    vcpu->run = NULL;
    vcpu->fd = -1;
}
