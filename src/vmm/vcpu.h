/* vCPUs: creation, architectural state as Linux expects it at boot, and
 * one thread per vCPU running KVM_RUN and dispatching exits to the buses. */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include "vmm/vm.h"

bool vmm_vcpu_create(VmmVm *vm, VmmVcpu *vcpu, unsigned index, GError **err);
/* The boot vCPU's registers for the loaded kernel's entry. */
bool vmm_vcpu_set_boot_state(VmmVcpu *vcpu, const VmmBootState *boot, GError **err);
bool vmm_vcpu_start_thread(VmmVcpu *vcpu, GError **err);
/* Force the vCPU out of KVM_RUN (any thread). */
void vmm_vcpu_kick(VmmVcpu *vcpu);
void vmm_vcpu_destroy(VmmVcpu *vcpu);
/* Install the no-op signal the kick uses (once per process). */
void vmm_vcpu_init_signals(void);

#endif
