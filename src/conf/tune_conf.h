/* libvirt's resource tuning elements: <cputune>, <memtune> and
 * <blkiotune>, parsed strictly (what vmmd does not apply is refused, naming
 * it) and formatted back in libvirt's order. The daemon applies them
 * through cgroups (daemon/cgroup.c). */
#ifndef VMM_TUNE_CONF_H
#define VMM_TUNE_CONF_H

#include <glib.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <stdint.h>

/* Host CPUs 0 to VMM_CPUSET_MAX - 1 (libvirt's cpuset syntax: "0-3,^2,8"). */
#define VMM_CPUSET_MAX 1024
typedef struct {
    uint64_t bits[VMM_CPUSET_MAX / 64];
} VmmCpuSet;

bool vmm_cpuset_has(const VmmCpuSet *s, unsigned cpu);
/* libvirt's syntax; false on a syntax error, a CPU past VMM_CPUSET_MAX or
 * an empty result. */
bool vmm_cpuset_parse(const char *text, VmmCpuSet *out);
/* Canonical, as libvirt's virBitmapFormat: "0-3,5". */
char *vmm_cpuset_format(const VmmCpuSet *s);

typedef struct {
    unsigned vcpu;
    VmmCpuSet cpus;
} VmmVcpuPinDef;

typedef struct {
    char *path;                      /* absolute: a block device on the host */
    unsigned weight;                 /* 0 = not given */
    uint64_t read_bytes_sec, write_bytes_sec;   /* 0 = not given */
    unsigned read_iops_sec, write_iops_sec;
} VmmBlkioDeviceDef;

/* 0 means "not given" for every number (as in libvirt, where a zero period
 * or quota is no setting); memory sizes are KiB. */
typedef struct {
    /* <cputune> */
    unsigned shares;                 /* cpu.shares (v1) / cpu.weight (v2) */
    bool has_shares;
    uint64_t global_period, period, emulator_period;   /* us */
    int64_t global_quota, quota, emulator_quota;       /* us, -1 unlimited */
    GPtrArray *vcpupins;             /* VmmVcpuPinDef*, sorted by vcpu, unique */
    VmmCpuSet emulatorpin;
    bool has_emulatorpin;
    /* <memtune> */
    uint64_t hard_limit_kib, soft_limit_kib, swap_hard_limit_kib;
    /* <blkiotune> */
    unsigned blkio_weight;
    GPtrArray *blkio_devices;        /* VmmBlkioDeviceDef*, document order, paths unique */
} VmmTuneDef;

/* Reads any of <cputune>, <memtune>, <blkiotune> (each NULL when absent)
 * of a domain with `vcpus` vCPUs into a new VmmTuneDef; *out stays NULL
 * when none is given. Errors are VMM_CONF_ERROR, "SOURCE:LINE: ...". */
bool vmm_tune_def_parse(const char *source, xmlNodePtr cputune, xmlNodePtr memtune,
                        xmlNodePtr blkiotune, unsigned vcpus, VmmTuneDef **out,
                        GError **err);
/* <blkiotune> and <memtune> go after <currentMemory>, <cputune> after
 * <vcpu>: the formatter calls these two at those places. */
void vmm_tune_def_format_memory(xmlNodePtr parent, const VmmTuneDef *t);
void vmm_tune_def_format_cpu(xmlNodePtr parent, const VmmTuneDef *t);
VmmTuneDef *vmm_tune_def_copy(const VmmTuneDef *t);     /* NULL -> NULL */
bool vmm_tune_def_equal(const VmmTuneDef *a, const VmmTuneDef *b);
void vmm_tune_def_free(VmmTuneDef *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmTuneDef, vmm_tune_def_free)

/* What needs a cgroup controller: a cpu tunable, memory, blkio. */
bool vmm_tune_def_needs_cpu(const VmmTuneDef *t);
bool vmm_tune_def_needs_memory(const VmmTuneDef *t);
bool vmm_tune_def_needs_blkio(const VmmTuneDef *t);
/* The pin of vCPU `vcpu`, or NULL. */
const VmmVcpuPinDef *vmm_tune_def_vcpupin(const VmmTuneDef *t, unsigned vcpu);

#endif
