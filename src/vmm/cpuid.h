/* The guest's CPUID, computed from what KVM supports on this host
 * (KVM_GET_SUPPORTED_CPUID) and the domain's <cpu>: features masked or
 * forced as <feature policy=...> says (with what depends on them, XSAVE
 * state components included), and the <topology> in leaves 1, 4, 0xB,
 * 0x1F, 0x80000008 and 0x8000001E; KVM's paravirt leaf 0x40000001 cut to
 * what needs no hypercall (cpuid.c says which). Pure functions: no KVM
 * calls here. */
#ifndef VMM_CPUID_H
#define VMM_CPUID_H

#include <glib.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/cpu_conf.h"

typedef struct {
    unsigned sockets, dies, cores, threads;
} VmmCpuTopology;

/* The <topology> of `cpu`, or (no <cpu> or no <topology>) one socket of
 * nr_vcpus single-threaded cores. */
void vmm_cpu_topology_of(const VmmCpuDef *cpu, unsigned nr_vcpus, VmmCpuTopology *t);

/* The x2APIC-style id of vCPU `index`: thread, core, die and socket
 * numbers packed into fields as wide as CPUID 0xB/0x1F report
 * (order_base_2 of each count), so ids are sparse when a count is not a
 * power of two. vmmd uses it as the KVM vCPU id and in the MADT. */
uint32_t vmm_cpu_apic_id(const VmmCpuTopology *t, unsigned index);

/* Whether the domain's CPU can start on a host whose KVM supports `sup`:
 * every feature with policy 'require' present, none with 'forbid' (both
 * skipped with check='none', as libvirt skips its check), and every APIC
 * id below 255 (the MADT lists xAPIC ids). The error names the feature. */
bool vmm_cpuid_check(const struct kvm_cpuid2 *sup, const VmmCpuDef *cpu, unsigned nr_vcpus,
                     GError **err);

/* CPUID for vCPU `index` of `nr_vcpus` (cpu may be NULL). g_free() it. */
struct kvm_cpuid2 *vmm_cpuid_for_vcpu(const struct kvm_cpuid2 *sup, const VmmCpuDef *cpu,
                                      unsigned nr_vcpus, unsigned index);

/* The entry for (function, index) in `c`, or NULL; index is ignored for
 * leaves without KVM_CPUID_FLAG_SIGNIFCANT_INDEX. */
const struct kvm_cpuid_entry2 *vmm_cpuid_find(const struct kvm_cpuid2 *c, uint32_t function,
                                              uint32_t index);

#endif
