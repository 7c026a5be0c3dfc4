#include "vmm/cpuid.h"

#include <asm/kvm_para.h>
#include <string.h>

#include "vmm/cpu_features.h"

#define CPUID_ERROR (g_quark_from_static_string("vmm-cpuid-error"))

static unsigned order_base_2(unsigned n)
{
    unsigned s = 0;
    while ((1u << s) < n)
        s++;
    return s;
}

void vmm_cpu_topology_of(const VmmCpuDef *cpu, unsigned nr, VmmCpuTopology *t)
{
    if (cpu && cpu->sockets) {
        *t = (VmmCpuTopology){ cpu->sockets, cpu->dies, cpu->cores, cpu->threads };
        return;
    }
    *t = (VmmCpuTopology){ 1, 1, nr, 1 };
}

/* Field widths of an APIC id: thread, then core, then die, then socket. */
typedef struct {
    unsigned smt, core, pkg;   /* shift to the core, die and package fields */
} Shifts;

static Shifts shifts_of(const VmmCpuTopology *t)
{
    Shifts s;
    s.smt = order_base_2(t->threads);
    s.core = s.smt + order_base_2(t->cores);
    s.pkg = s.core + order_base_2(t->dies);
    return s;
}

uint32_t vmm_cpu_apic_id(const VmmCpuTopology *t, unsigned index)
{
    Shifts s = shifts_of(t);
    unsigned thread = index % t->threads;
    unsigned core = index / t->threads % t->cores;
    unsigned die = index / (t->threads * t->cores) % t->dies;
    unsigned socket = index / (t->threads * t->cores * t->dies);
    return socket << s.pkg | die << s.core | core << s.smt | thread;
}

const struct kvm_cpuid_entry2 *vmm_cpuid_find(const struct kvm_cpuid2 *c, uint32_t fn,
                                              uint32_t index)
{
    for (unsigned i = 0; i < c->nent; i++) {
        const struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function == fn &&
            (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
            return e;
    }
    return NULL;
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, VmmCpuidReg r)
{
    switch (r) {
    case VMM_CPUID_EAX: return &e->eax;
    case VMM_CPUID_EBX: return &e->ebx;
    case VMM_CPUID_ECX: return &e->ecx;
    default:            return &e->edx;
    }
}

static bool host_has(const struct kvm_cpuid2 *sup, const VmmCpuFeature *f)
{
    const struct kvm_cpuid_entry2 *e = vmm_cpuid_find(sup, f->leaf, f->subleaf);
    return e && (*reg_of((struct kvm_cpuid_entry2 *)e, f->reg) >> f->bit & 1);
}

bool vmm_cpuid_check(const struct kvm_cpuid2 *sup, const VmmCpuDef *cpu, unsigned nr,
                     GError **err)
{
    VmmCpuTopology t;
    vmm_cpu_topology_of(cpu, nr, &t);
    uint32_t last = vmm_cpu_apic_id(&t, nr - 1);
    if (last > 254) {
        g_set_error(err, CPUID_ERROR, 0,
                    "<cpu><topology> sockets=%u dies=%u cores=%u threads=%u gives vCPU %u "
                    "APIC id %u; vmmd's MADT takes xAPIC ids up to 254 (counts that are "
                    "powers of two pack ids densely)",
                    t.sockets, t.dies, t.cores, t.threads, nr - 1, last);
        return false;
    }
    if (!cpu || cpu->check == VMM_CPU_CHECK_NONE)
        return true;
    for (guint i = 0; i < cpu->features->len; i++) {
        const VmmCpuFeatureDef *fd = g_ptr_array_index(cpu->features, i);
        const VmmCpuFeature *f = vmm_cpu_feature_find(fd->name);
        bool has = f && host_has(sup, f);
        if (fd->policy == VMM_CPU_FEATURE_REQUIRE && !has) {
            static const char *const regs[] = { "EAX", "EBX", "ECX", "EDX" };
            g_set_error(err, CPUID_ERROR, 0,
                        "CPU feature '%s' is required by <cpu> but this host's KVM does not "
                        "offer it (CPUID 0x%x.%u:%s bit %u)", fd->name, f ? f->leaf : 0,
                        f ? f->subleaf : 0, f ? regs[f->reg] : "?", f ? f->bit : 0);
            return false;
        }
        if (fd->policy == VMM_CPU_FEATURE_FORBID && has) {
            g_set_error(err, CPUID_ERROR, 0,
                        "CPU feature '%s' is forbidden by <cpu> but this host's KVM offers it",
                        fd->name);
            return false;
        }
    }
    return true;
}

/* ---- the computation ---------------------------------------------------- */

typedef GArray Entries;   /* of struct kvm_cpuid_entry2 */

static struct kvm_cpuid_entry2 *find(Entries *a, uint32_t fn, uint32_t index)
{
    for (guint i = 0; i < a->len; i++) {
        struct kvm_cpuid_entry2 *e = &g_array_index(a, struct kvm_cpuid_entry2, i);
        if (e->function == fn &&
            (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
            return e;
    }
    return NULL;
}

static void add(Entries *a, uint32_t fn, uint32_t index, uint32_t eax, uint32_t ebx,
                uint32_t ecx, uint32_t edx)
{
    struct kvm_cpuid_entry2 e = {
        .function = fn, .index = index, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
        .eax = eax, .ebx = ebx, .ecx = ecx, .edx = edx,
    };
    g_array_append_val(a, e);
}

/* What a feature takes with it when it goes (after Linux's
 * arch/x86/kernel/cpu/cpuid-deps.c): a guest must not see AVX2 without
 * AVX, nor AVX-512 once the AVX state component is gone. */
static const struct { const char *feature, *needs; } deps[] = {
    { "avx", "xsave" }, { "xsaveopt", "xsave" }, { "xsavec", "xsave" },
    { "xgetbv1", "xsave" }, { "xsaves", "xsave" }, { "mpx", "xsave" },
    { "pku", "xsave" }, { "amx-tile", "xsave" },
    { "avx2", "avx" }, { "fma", "avx" }, { "f16c", "avx" }, { "vaes", "avx" },
    { "vpclmulqdq", "avx" }, { "avx512f", "avx" }, { "xop", "avx" }, { "fma4", "avx" },
    { "avx-vnni", "avx2" },
    { "avx512dq", "avx512f" }, { "avx512ifma", "avx512f" }, { "avx512pf", "avx512f" },
    { "avx512er", "avx512f" }, { "avx512cd", "avx512f" }, { "avx512bw", "avx512f" },
    { "avx512vl", "avx512f" }, { "avx512vbmi", "avx512f" }, { "avx512vbmi2", "avx512f" },
    { "avx512vnni", "avx512f" }, { "avx512bitalg", "avx512f" },
    { "avx512-vpopcntdq", "avx512f" }, { "avx512-4vnniw", "avx512f" },
    { "avx512-4fmaps", "avx512f" }, { "avx512-vp2intersect", "avx512f" },
    { "avx512-bf16", "avx512f" }, { "avx512-fp16", "avx512f" },
    { "amx-bf16", "amx-tile" }, { "amx-int8", "amx-tile" },
};

/* XSAVE state components (XCR0 bits, and XSS bits for supervisor state)
 * that exist only with a feature. */
static const struct { const char *feature; uint64_t xcr0, xss; } xstate[] = {
    { "xsave", ~3ull, ~0ull },   /* no XSAVE: no extended state at all */
    { "avx", 1ull << 2, 0 },
    { "mpx", 3ull << 3, 0 },
    { "avx512f", 7ull << 5, 0 },
    { "pku", 1ull << 9, 0 },
    { "amx-tile", 3ull << 17, 0 },
    { "intel-pt", 0, 1ull << 8 },
    { "arch-lbr", 0, 1ull << 15 },
};

/* Leaf 1 EDX bits AMD repeats in 0x80000001 EDX (fpu..pge, cmov..pse36,
 * mmx, fxsr): a masked one is masked in both. */
#define AMD_MIRRORED_EDX 0x0183f3ffu

static void set_bit(Entries *a, const VmmCpuFeature *f, bool on)
{
    struct kvm_cpuid_entry2 *e = find(a, f->leaf, f->subleaf);
    if (!e) {
        if (!on)
            return;
        add(a, f->leaf, f->subleaf, 0, 0, 0, 0);
        e = &g_array_index(a, struct kvm_cpuid_entry2, a->len - 1);
    }
    uint32_t *r = reg_of(e, f->reg);
    *r = on ? *r | 1u << f->bit : *r & ~(1u << f->bit);
    struct kvm_cpuid_entry2 *ext;
    if (f->leaf == 1 && f->reg == VMM_CPUID_EDX && (AMD_MIRRORED_EDX >> f->bit & 1) &&
        (ext = find(a, 0x80000001, 0)) && !on)
        ext->edx &= ~(1u << f->bit);
}

/* Clears `name` and everything that needs it; collects the XSAVE state
 * components that go with them. */
static void disable(Entries *a, const char *name, uint64_t *xcr0_off, uint64_t *xss_off,
                    unsigned depth)
{
    const VmmCpuFeature *f = vmm_cpu_feature_find(name);
    if (!f || depth > 8)
        return;
    set_bit(a, f, false);
    for (size_t i = 0; i < G_N_ELEMENTS(xstate); i++)
        if (strcmp(xstate[i].feature, name) == 0) {
            *xcr0_off |= xstate[i].xcr0;
            *xss_off |= xstate[i].xss;
        }
    for (size_t i = 0; i < G_N_ELEMENTS(deps); i++)
        if (strcmp(deps[i].needs, name) == 0)
            disable(a, deps[i].feature, xcr0_off, xss_off, depth + 1);
}

/* Leaf 0xD without the components in xcr0_off/xss_off: their sub-leaves
 * zeroed, the masks in sub-leaves 0 and 1 cleared, and the XSAVE area
 * size (sub-leaf 0 EBX/ECX) recomputed from the components left. */
static void mask_xstate(Entries *a, uint64_t xcr0_off, uint64_t xss_off)
{
    struct kvm_cpuid_entry2 *d0 = find(a, 0xd, 0), *d1 = find(a, 0xd, 1);
    if (!d0 || !(xcr0_off | xss_off))
        return;
    uint64_t xcr0 = ((uint64_t)d0->edx << 32 | d0->eax) & ~xcr0_off;
    uint64_t xss = d1 ? ((uint64_t)d1->edx << 32 | d1->ecx) & ~xss_off : 0;
    d0->eax = (uint32_t)xcr0;
    d0->edx = (uint32_t)(xcr0 >> 32);
    if (d1) {
        d1->ecx = (uint32_t)xss;
        d1->edx = (uint32_t)(xss >> 32);
    }
    uint32_t size = 512 + 64;   /* legacy area and XSAVE header */
    for (unsigned i = 2; i < 64; i++) {
        struct kvm_cpuid_entry2 *e = find(a, 0xd, i);
        if (!e)
            continue;
        if (!((xcr0 | xss) >> i & 1)) {
            e->eax = e->ebx = e->ecx = e->edx = 0;
            continue;
        }
        if ((xcr0 >> i & 1) && e->eax + e->ebx > size)
            size = e->eax + e->ebx;
    }
    /* EBX is for the XCR0 the guest has enabled; KVM rewrites it when the
     * guest sets XCR0, so the all-enabled size is a safe start. */
    d0->ebx = d0->ecx = size;
}

/* KVM's paravirt leaf (KVM_CPUID_FEATURES): only the features that are
 * MSRs KVM itself serves, as QEMU's default CPU models have them (kvmclock,
 * kvm-nopiodelay, kvm-steal-time, kvm-pv-eoi, kvmclock-stable-bit). The
 * rest are hypercalls (PV_UNHALT's kick, PV_SEND_IPI, PV_SCHED_YIELD, the
 * PV_TLB_FLUSH it comes with) or async page faults and halt polling
 * control, which KVM_GET_SUPPORTED_CPUID offers whether or not the host
 * hypervisor carries them out: on PVM a Linux guest died at the VMCALL of
 * its PV IPI (kvm_hypercall4). Bits newer than this list stay clear too,
 * and the hints in EDX (KVM_HINTS_REALTIME) are for the VMM to promise. */
#define KVM_FEATURES_KEPT                                                              \
    (1u << KVM_FEATURE_CLOCKSOURCE | 1u << KVM_FEATURE_NOP_IO_DELAY |                  \
     1u << KVM_FEATURE_CLOCKSOURCE2 | 1u << KVM_FEATURE_STEAL_TIME |                   \
     1u << KVM_FEATURE_PV_EOI | 1u << KVM_FEATURE_CLOCKSOURCE_STABLE_BIT)

static void kvm_paravirt_leaf(Entries *a)
{
    struct kvm_cpuid_entry2 *e = find(a, KVM_CPUID_FEATURES, 0);
    if (e) {
        e->eax &= KVM_FEATURES_KEPT;
        e->edx = 0;
    }
}

static void topology_leaves(Entries *a, const VmmCpuTopology *t, uint32_t apic)
{
    Shifts s = shifts_of(t);
    unsigned per_pkg = t->threads * t->cores * t->dies;
    bool had_1f = find(a, 0x1f, 0) != NULL;
    for (guint i = a->len; i-- > 0;) {
        uint32_t fn = g_array_index(a, struct kvm_cpuid_entry2, i).function;
        if (fn == 0xb || fn == 0x1f)
            g_array_remove_index(a, i);
    }
    bool want_1f = had_1f || t->dies > 1;
    struct kvm_cpuid_entry2 *e0 = find(a, 0, 0);
    if (e0 && want_1f && e0->eax < 0x1f)
        e0->eax = 0x1f;   /* a die level needs leaf 0x1F */
    uint32_t max = e0 ? e0->eax : 0;
    for (guint i = 0; i < a->len; i++) {
        struct kvm_cpuid_entry2 *e = &g_array_index(a, struct kvm_cpuid_entry2, i);
        switch (e->function) {
        case 1:
            /* Initial APIC id, addressable logical ids per package; HTT
             * says that count is valid. */
            e->ebx = (e->ebx & 0xffff) | (apic & 0xff) << 24 | MIN(1u << s.pkg, 255u) << 16;
            e->edx = per_pkg > 1 ? e->edx | 1u << 28 : e->edx & ~(1u << 28);
            break;
        case 4: {
            /* Deterministic cache parameters: cores per package, and the
             * logical ids sharing each cache (L1/L2 per core, L3 per die). */
            if (!(e->eax & 0x1f))
                break;
            unsigned level = e->eax >> 5 & 7;
            unsigned share = level >= 3 ? s.core : s.smt;
            e->eax = (e->eax & 0x3fff) | MIN((1u << (s.pkg - s.smt)) - 1, 63u) << 26 |
                     ((1u << share) - 1) << 14;
            break;
        }
        case 0x80000008:
            /* AMD: APIC id bits per package and logical processors - 1. */
            e->ecx = (e->ecx & ~0xf0ffu) | s.pkg << 12 | ((per_pkg - 1) & 0xff);
            break;
        case 0x8000001e:
            /* AMD: extended APIC id, threads per core, core and node ids. */
            e->eax = apic;
            e->ebx = (e->ebx & ~0xffffu) | (t->threads - 1) << 8 | ((apic >> s.smt) & 0xff);
            e->ecx = (e->ecx & ~0x7ffu) | (t->dies - 1) << 8 | ((apic >> s.core) & 0xff);
            break;
        default:
            break;
        }
    }
    /* x2APIC topology: level type 1 = SMT, 2 = core, 5 = die; EAX is the
     * shift to the next level's id, EBX the logical processors at it. */
    if (max >= 0xb) {
        add(a, 0xb, 0, s.smt, t->threads, 1u << 8 | 0, apic);
        add(a, 0xb, 1, s.pkg, per_pkg, 2u << 8 | 1, apic);
        add(a, 0xb, 2, 0, 0, 2, apic);
    }
    if (want_1f) {
        unsigned n = 0;
        add(a, 0x1f, n, s.smt, t->threads, 1u << 8 | n, apic), n++;
        if (t->dies > 1) {
            add(a, 0x1f, n, s.core, t->threads * t->cores, 2u << 8 | n, apic), n++;
            add(a, 0x1f, n, s.pkg, per_pkg, 5u << 8 | n, apic), n++;
        } else {
            add(a, 0x1f, n, s.pkg, per_pkg, 2u << 8 | n, apic), n++;
        }
        add(a, 0x1f, n, 0, 0, n, apic);
    }
}

struct kvm_cpuid2 *vmm_cpuid_for_vcpu(const struct kvm_cpuid2 *sup, const VmmCpuDef *cpu,
                                      unsigned nr, unsigned index)
{
    Entries *a = g_array_sized_new(FALSE, FALSE, sizeof(struct kvm_cpuid_entry2),
                                   sup->nent + 8);
    g_array_append_vals(a, sup->entries, sup->nent);

    uint64_t xcr0_off = 0, xss_off = 0;
    for (guint i = 0; cpu && i < cpu->features->len; i++) {
        const VmmCpuFeatureDef *fd = g_ptr_array_index(cpu->features, i);
        const VmmCpuFeature *f = vmm_cpu_feature_find(fd->name);
        if (!f)
            continue;   /* the parser admits only known names */
        switch (fd->policy) {
        case VMM_CPU_FEATURE_FORCE:
            set_bit(a, f, true);
            break;
        case VMM_CPU_FEATURE_REQUIRE:    /* present (vmm_cpuid_check) or check='none' */
        case VMM_CPU_FEATURE_OPTIONAL:   /* the host's set already has it or not */
            break;
        case VMM_CPU_FEATURE_DISABLE:
        case VMM_CPU_FEATURE_FORBID:
            disable(a, fd->name, &xcr0_off, &xss_off, 0);
            break;
        }
    }
    /* QEMU's migratable=on drops what cannot follow a migration. */
    if (cpu && cpu->migratable == VMM_CPU_MIGRATABLE_ON)
        disable(a, "invtsc", &xcr0_off, &xss_off, 0);
    mask_xstate(a, xcr0_off, xss_off);
    kvm_paravirt_leaf(a);

    VmmCpuTopology t;
    vmm_cpu_topology_of(cpu, nr, &t);
    topology_leaves(a, &t, vmm_cpu_apic_id(&t, index));

    struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) + a->len * sizeof(struct kvm_cpuid_entry2));
    c->nent = a->len;
    memcpy(c->entries, a->data, a->len * sizeof(struct kvm_cpuid_entry2));
    g_array_free(a, TRUE);
    return c;
}
