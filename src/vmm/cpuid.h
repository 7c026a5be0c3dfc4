/* Per-vCPU CPUID: KVM's supported set with a consistent topology (one
 * socket, nr_vcpus cores, one thread each) and the vCPU's APIC id. */
#ifndef VMM_CPUID_H
#define VMM_CPUID_H

#include <linux/kvm.h>

struct kvm_cpuid2 *vmm_cpuid_for_vcpu(const struct kvm_cpuid2 *supported, unsigned index,
                                      unsigned nr_vcpus);

#endif
