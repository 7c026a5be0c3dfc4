/* x86 CPU features by libvirt's names (cpu_map/x86_features.xml), each
 * mapped to the CPUID leaf, sub-leaf, register and bit that reports it. */
#ifndef VMM_CPU_FEATURES_H
#define VMM_CPU_FEATURES_H

#include <glib.h>
#include <stdint.h>

typedef enum { VMM_CPUID_EAX, VMM_CPUID_EBX, VMM_CPUID_ECX, VMM_CPUID_EDX } VmmCpuidReg;

typedef struct {
    const char *name;      /* libvirt's spelling, e.g. "avx", "sse4.1", "lahf_lm" */
    uint32_t leaf;         /* CPUID EAX input */
    uint32_t subleaf;      /* CPUID ECX input (0 where the leaf has none) */
    VmmCpuidReg reg;
    unsigned bit;
} VmmCpuFeature;

/* NULL for a name libvirt does not define as a CPUID bit. */
const VmmCpuFeature *vmm_cpu_feature_find(const char *name);

#endif
