#include "vmm/kvm.h"
#include "util/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

G_DEFINE_QUARK(vmm-kvm-error-quark, vmm_kvm_error)

static const struct {
    int cap;
    const char *name;
    const char *why;
} required_caps[] = {
    { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", "in-kernel PIC/IOAPIC/LAPIC" },
    { KVM_CAP_PIT2, "KVM_CAP_PIT2", "in-kernel PIT" },
    { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest RAM" },
    { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "x86 TSS region" },
    { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", "CPUID setup" },
    { KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", "exit-free virtio notifications" },
    { KVM_CAP_IRQFD, "KVM_CAP_IRQFD", "exit-free interrupts" },
    { KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING", "MSI routes" },
    { KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI", "MSI delivery" },
    { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "stopping vCPUs" },
    { KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE", "SMP bring-up" },
    { KVM_CAP_XSAVE, "KVM_CAP_XSAVE", "FPU state" },
};

int vmm_kvm_ioctl(int fd, unsigned long req, void *arg)
{
    int rc;
    do {
        rc = ioctl(fd, req, arg);
    } while (rc < 0 && errno == EINTR && req != KVM_RUN);
    return rc;
}

int vmm_kvm_open(GError **err)
{
    const char *path = g_getenv("VMM_KVM_DEVICE");
    if (!path)
        path = "/dev/kvm";
    int fd = vmm_sandbox_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        g_set_error(err, VMM_KVM_ERROR, 0, "cannot open %s: %s%s", path, g_strerror(e),
                    e == ENOENT ? " (is the kvm module loaded and the CPU's "
                                  "virtualization enabled?)"
                    : e == EACCES ? " (run as root or join the kvm group)" : "");
        return -1;
    }
    int api = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        g_set_error(err, VMM_KVM_ERROR, 0, "%s speaks KVM API %d, vmmd needs %d", path,
                    api, KVM_API_VERSION);
        close(fd);
        return -1;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(required_caps); i++) {
        if (ioctl(fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
            g_set_error(err, VMM_KVM_ERROR, 0, "%s lacks %s, needed for %s", path,
                        required_caps[i].name, required_caps[i].why);
            close(fd);
            return -1;
        }
    }
    return fd;
}

int vmm_kvm_max_vcpus(int kvm_fd)
{
    int n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (n <= 0)
        n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    return n > 0 ? n : 1;
}

struct kvm_cpuid2 *vmm_kvm_supported_cpuid(int kvm_fd, GError **err)
{
    for (unsigned n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c =
            g_malloc0(sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
        c->nent = n;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
            return c;
        int e = errno;
        g_free(c);
        if (e != E2BIG) {
            g_set_error(err, VMM_KVM_ERROR, 0, "KVM_GET_SUPPORTED_CPUID: %s",
                        g_strerror(e));
            return NULL;
        }
    }
    g_set_error(err, VMM_KVM_ERROR, 0, "KVM_GET_SUPPORTED_CPUID: too many entries");
    return NULL;
}
