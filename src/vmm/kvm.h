/* /dev/kvm: open it, check the API and every capability vmmd relies on. */
#ifndef VMM_KVM_H
#define VMM_KVM_H

#include <glib.h>
#include <stdbool.h>
#include <linux/kvm.h>

#define VMM_KVM_ERROR (vmm_kvm_error_quark())
GQuark vmm_kvm_error_quark(void);

/* Opens /dev/kvm (or $VMM_KVM_DEVICE for tests) and checks capabilities. */
int vmm_kvm_open(GError **err);
int vmm_kvm_max_vcpus(int kvm_fd);
struct kvm_cpuid2 *vmm_kvm_supported_cpuid(int kvm_fd, GError **err);
/* Same as ioctl() but retries EINTR/EAGAIN where KVM documents it. */
int vmm_kvm_ioctl(int fd, unsigned long req, void *arg);

#endif
