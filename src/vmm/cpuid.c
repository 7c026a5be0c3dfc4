#include "vmm/cpuid.h"

#include <glib.h>
#include <string.h>

static unsigned order_base_2(unsigned n)
{
    unsigned s = 0;
    while ((1u << s) < n)
        s++;
    return s;
}

struct kvm_cpuid2 *vmm_cpuid_for_vcpu(const struct kvm_cpuid2 *sup, unsigned index,
                                      unsigned nr)
{
    struct kvm_cpuid2 *c =
        g_malloc0(sizeof(*c) + (sup->nent + 8) * sizeof(struct kvm_cpuid_entry2));
    unsigned core_shift = order_base_2(nr);
    unsigned n = 0;
    for (unsigned i = 0; i < sup->nent; i++) {
        struct kvm_cpuid_entry2 e = sup->entries[i];
        switch (e.function) {
        case 1:
            /* Initial APIC id and logical processor count; HTT says the
             * count field is valid. */
            e.ebx = (e.ebx & 0x0000ffff) | (index << 24) | (MIN(nr, 255u) << 16);
            if (nr > 1)
                e.edx |= 1u << 28;
            else
                e.edx &= ~(1u << 28);
            break;
        case 4:
            /* Intel deterministic cache: cores per package. */
            e.eax = (e.eax & 0x03ffffff) | ((MIN(nr, 64u) - 1) << 26);
            break;
        case 0xb:
        case 0x1f:
            /* x2APIC topology: one thread per core, nr cores. */
            e.edx = index;
            if (e.index == 0) {
                e.eax = 0;
                e.ebx = 1;
                e.ecx = (1u << 8) | 0;
            } else if (e.index == 1) {
                e.eax = core_shift;
                e.ebx = nr;
                e.ecx = (2u << 8) | 1;
            } else {
                e.eax = e.ebx = 0;
                e.ecx = e.index;
            }
            break;
        case 0x80000008:
            /* AMD: number of cores minus one and the APIC id width. */
            e.ecx = (e.ecx & ~0xf0ffu) | (core_shift << 12) | (nr - 1);
            break;
        case 0x8000001e:
            /* AMD extended APIC id, core id, one thread per core. */
            e.eax = index;
            e.ebx = (e.ebx & ~0xffffu) | (index & 0xff);
            e.ecx = e.ecx & ~0x7ffu;
            break;
        default:
            break;
        }
        c->entries[n++] = e;
    }
    c->nent = n;
    return c;
}
