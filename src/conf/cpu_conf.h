/* libvirt's <cpu> element: mode, check, migratable, <model>, <topology>
 * and <feature>, parsed strictly (anything vmmd does not implement is an
 * error naming it), formatted back canonically. The CPUID it produces is
 * computed in src/vmm/cpuid.c. */
#ifndef VMM_CPU_CONF_H
#define VMM_CPU_CONF_H

#include <glib.h>
#include <libxml/tree.h>
#include <stdbool.h>

typedef enum {
    VMM_CPU_MODE_CUSTOM = 0,       /* libvirt's default; vmmd defines no model */
    VMM_CPU_MODE_HOST_MODEL,
    VMM_CPU_MODE_HOST_PASSTHROUGH,
} VmmCpuMode;

/* 0 = attribute absent (libvirt picks its default; vmmd's behaviour is
 * that of 'partial'). */
typedef enum {
    VMM_CPU_CHECK_UNSET = 0,
    VMM_CPU_CHECK_NONE,
    VMM_CPU_CHECK_PARTIAL,
    VMM_CPU_CHECK_FULL,
} VmmCpuCheck;

typedef enum { VMM_CPU_MIGRATABLE_UNSET = 0, VMM_CPU_MIGRATABLE_ON, VMM_CPU_MIGRATABLE_OFF } VmmCpuMigratable;

/* libvirt's order and meaning. */
typedef enum {
    VMM_CPU_FEATURE_FORCE = 0,     /* set, whatever the host has */
    VMM_CPU_FEATURE_REQUIRE,       /* set; the VM does not start without it */
    VMM_CPU_FEATURE_OPTIONAL,      /* set if the host has it */
    VMM_CPU_FEATURE_DISABLE,       /* cleared */
    VMM_CPU_FEATURE_FORBID,        /* cleared; the VM does not start if the host has it */
} VmmCpuFeaturePolicy;

typedef struct {
    char *name;                    /* libvirt's name, known to src/vmm/cpu_features.c */
    VmmCpuFeaturePolicy policy;
} VmmCpuFeatureDef;

typedef struct {
    VmmCpuMode mode;
    bool mode_given;               /* mode= was written (format keeps it as it was) */
    VmmCpuCheck check;
    VmmCpuMigratable migratable;   /* only with host-passthrough, as in libvirt */
    unsigned sockets, dies, cores, threads;   /* all 0 = no <topology> */
    GPtrArray *features;           /* VmmCpuFeatureDef*, document order, names unique */
} VmmCpuDef;

/* Parses <cpu> `node` of a domain with `vcpus` vCPUs (a <topology> must
 * multiply out to it). Errors are VMM_CONF_ERROR, prefixed "SOURCE:LINE: ". */
VmmCpuDef *vmm_cpu_def_parse(const char *source, xmlNodePtr node, unsigned vcpus,
                             GError **err);
/* Appends <cpu> to `parent`. */
void vmm_cpu_def_format(xmlNodePtr parent, const VmmCpuDef *cpu);
VmmCpuDef *vmm_cpu_def_copy(const VmmCpuDef *cpu);      /* NULL -> NULL */
bool vmm_cpu_def_equal(const VmmCpuDef *a, const VmmCpuDef *b);
void vmm_cpu_def_free(VmmCpuDef *cpu);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmCpuDef, vmm_cpu_def_free)

const char *vmm_cpu_feature_policy_to_string(VmmCpuFeaturePolicy p);

#endif
