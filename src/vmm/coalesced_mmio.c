/* KVM's coalesced MMIO queue: registering a zone and handing what the
 * vCPUs queued to the bus. A file of its own so that device fuzz targets
 * that link a device and the bus, not the whole VM, can link it too. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "vmm/vm.h"

bool vmm_vm_coalesce_mmio(VmmVm *vm, uint64_t addr, unsigned len, bool on, GError **err)
{
    if (!vm->coalesced_page) {
        g_set_error(err, VMM_VM_ERROR, 0, "KVM offers no coalesced MMIO");
        return false;
    }
    struct kvm_coalesced_mmio_zone z = { .addr = addr, .size = len };
    if (ioctl(vm->vm_fd, on ? KVM_REGISTER_COALESCED_MMIO : KVM_UNREGISTER_COALESCED_MMIO,
              &z) < 0) {
        g_set_error(err, VMM_VM_ERROR, 0, "KVM_%sREGISTER_COALESCED_MMIO at 0x%" G_GINT64_MODIFIER
                    "x+%u: %s", on ? "" : "UN", addr, len, g_strerror(errno));
        return false;
    }
    return true;
}

void vmm_vm_coalesced_flush(VmmVm *vm)
{
    struct kvm_coalesced_mmio_ring *r = vm->coalesced;
    /* the common case, nothing queued, costs two loads; an entry is
     * consumed (first moves) only once its write is done, so seeing
     * first == last means every queued write has reached its device */
    if (!r || __atomic_load_n(&r->first, __ATOMIC_ACQUIRE) ==
                  __atomic_load_n(&r->last, __ATOMIC_ACQUIRE))
        return;
    const uint32_t max = (uint32_t)((sysconf(_SC_PAGESIZE) - sizeof(*r)) /
                                    sizeof(struct kvm_coalesced_mmio));
    g_mutex_lock(&vm->coalesced_lock);
    for (;;) {
        uint32_t first = r->first, last = __atomic_load_n(&r->last, __ATOMIC_ACQUIRE);
        if (first == last || first >= max)
            break;
        const struct kvm_coalesced_mmio *e = &r->coalesced_mmio[first];
        if (e->len && e->len <= 8) {
            uint64_t v = 0;
            memcpy(&v, e->data, e->len);
            vmm_bus_write(e->pio ? &vm->pio : &vm->mmio, e->phys_addr, e->len, v);
        }
        __atomic_store_n(&r->first, (first + 1) % max, __ATOMIC_RELEASE);
    }
    g_mutex_unlock(&vm->coalesced_lock);
}
