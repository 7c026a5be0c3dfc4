/* Unit tests for <cpu>: src/conf/cpu_conf.c (parse, format, round trip,
 * errors) and src/vmm/cpuid.c (the guest's CPUID from a host table: pure
 * functions, fed a made-up KVM_GET_SUPPORTED_CPUID). */
#include "conf/domain_conf.h"
#include "conf/domain_format.h"
#include "vmm/acpi.h"
#include "vmm/cpu_features.h"
#include "vmm/cpuid.h"

#include <string.h>

static char *doc(unsigned vcpus, const char *cpu)
{
    return g_strdup_printf("<domain type='kvm'>\n<name>c</name>\n<memory unit='MiB'>64</memory>\n"
                           "<vcpu>%u</vcpu>\n<os><type>hvm</type><kernel>/k</kernel></os>\n"
                           "%s\n</domain>\n", vcpus, cpu);
}

static VmmDomainDef *parse(unsigned vcpus, const char *cpu, GError **err)
{
    g_autofree char *x = doc(vcpus, cpu);
    return vmm_domain_def_parse_string(x, strlen(x), "t.xml", err);
}

static VmmDomainDef *parse_ok(unsigned vcpus, const char *cpu)
{
    g_autoptr(GError) err = NULL;
    VmmDomainDef *d = parse(vcpus, cpu, &err);
    g_assert_no_error(err);
    return d;
}

/* ---- conf ---------------------------------------------------------------- */

static void test_parse(void)
{
    g_autoptr(VmmDomainDef) d = parse_ok(12,
        "<cpu mode='host-passthrough' check='full' migratable='off'>"
        "  <topology sockets='2' cores='3' threads='2'/>"
        "  <feature name='sse4.2'/><feature policy='forbid' name='lahf_lm'/>"
        "  <feature policy='force' name='avx512-vp2intersect'/></cpu>");
    VmmCpuDef *c = d->cpu;
    g_assert_nonnull(c);
    g_assert_cmpint(c->mode, ==, VMM_CPU_MODE_HOST_PASSTHROUGH);
    g_assert_cmpint(c->check, ==, VMM_CPU_CHECK_FULL);
    g_assert_cmpint(c->migratable, ==, VMM_CPU_MIGRATABLE_OFF);
    g_assert_cmpuint(c->sockets, ==, 2);
    g_assert_cmpuint(c->dies, ==, 1);   /* libvirt's default */
    g_assert_cmpuint(c->cores, ==, 3);
    g_assert_cmpuint(c->threads, ==, 2);
    g_assert_cmpuint(c->features->len, ==, 3);
    VmmCpuFeatureDef *f0 = c->features->pdata[0], *f1 = c->features->pdata[1];
    g_assert_cmpstr(f0->name, ==, "sse4.2");
    g_assert_cmpint(f0->policy, ==, VMM_CPU_FEATURE_REQUIRE);   /* default */
    g_assert_cmpint(f1->policy, ==, VMM_CPU_FEATURE_FORBID);

    /* topology alone (libvirt's default mode custom, no model) */
    g_autoptr(VmmDomainDef) t = parse_ok(4, "<cpu><topology sockets='1' dies='2' cores='2' threads='1'/></cpu>");
    g_assert_cmpint(t->cpu->mode, ==, VMM_CPU_MODE_CUSTOM);
    g_assert_false(t->cpu->mode_given);
    g_assert_cmpuint(t->cpu->dies, ==, 2);
}

static void test_round_trip(void)
{
    static const char *const cpus[] = {
        "<cpu mode='host-model' check='partial'><feature policy='disable' name='avx'/>"
        "<feature policy='optional' name='pku'/></cpu>",
        "<cpu mode='host-passthrough' migratable='on'/>",
        "<cpu><topology sockets='3' dies='1' cores='1' threads='2'/></cpu>",
        "<cpu mode='custom' check='none'><topology sockets='6' cores='1' threads='1'/></cpu>",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cpus); i++) {
        g_autoptr(VmmDomainDef) d = parse_ok(6, cpus[i]);
        g_autoptr(GError) err = NULL;
        g_autofree char *x1 = vmm_domain_def_format(d, &err);
        g_assert_no_error(err);
        g_test_message("%s", x1);
        g_assert_nonnull(strstr(x1, "<cpu"));
        g_autoptr(VmmDomainDef) d2 = vmm_domain_def_parse_string(x1, strlen(x1), "out", &err);
        g_assert_no_error(err);
        g_assert_true(vmm_domain_def_equal(d, d2));
        g_autofree char *x2 = vmm_domain_def_format(d2, &err);
        g_assert_cmpstr(x1, ==, x2);
        g_autoptr(VmmDomainDef) c = vmm_domain_def_copy(d);
        g_assert_true(vmm_domain_def_equal(d, c));
        /* the schema takes what the formatter writes */
        g_autofree char *rng = vmm_domain_schema_path();
        g_assert_true(vmm_domain_validate_schema(x1, strlen(x1), rng, &err));
        g_assert_no_error(err);
    }
    /* a difference is seen */
    g_autoptr(VmmDomainDef) a = parse_ok(6, cpus[0]);
    g_autoptr(VmmDomainDef) b = parse_ok(6, "<cpu mode='host-model' check='partial'>"
                                            "<feature policy='disable' name='avx'/>"
                                            "<feature policy='require' name='pku'/></cpu>");
    g_assert_false(vmm_domain_def_equal(a, b));
}

typedef struct {
    unsigned vcpus;
    const char *cpu;
    VmmConfError code;
    const char *needle;
} ErrCase;

static const ErrCase err_cases[] = {
    { 1, "<cpu mode='host-model'><feature name='avx9000'/></cpu>", VMM_CONF_ERROR_UNSUPPORTED,
      "t.xml:6: CPU feature 'avx9000' is not known to vmmd" },
    { 1, "<cpu mode='host-model'><feature name='vmx-exit-nmi'/></cpu>", VMM_CONF_ERROR_UNSUPPORTED,
      "CPU feature 'vmx-exit-nmi' is not known" },   /* an MSR feature, not CPUID */
    { 4, "<cpu><topology sockets='1' cores='3' threads='1'/></cpu>", VMM_CONF_ERROR_INVALID,
      "sockets*dies*cores*threads = 1*1*3*1 = 3 does not match <vcpu> 4" },
    { 2, "<cpu><topology sockets='0' cores='2' threads='1'/></cpu>", VMM_CONF_ERROR_INVALID,
      "<topology> sockets='0' is not a count" },
    { 2, "<cpu><topology sockets='2' cores='1'/></cpu>", VMM_CONF_ERROR_INVALID,
      "<topology> needs attribute 'threads'" },
    { 1, "<cpu mode='custom'><model>qemu64</model></cpu>", VMM_CONF_ERROR_UNSUPPORTED,
      "CPU model 'qemu64' is not supported" },
    { 1, "<cpu mode='host-model'><model fallback='allow'/></cpu>", VMM_CONF_ERROR_UNSUPPORTED,
      "element <cpu>/<model> is not supported: vmmd defines no named CPU models" },
    { 1, "<cpu mode='maximum'/>", VMM_CONF_ERROR_UNSUPPORTED,
      "<cpu mode='maximum'> is not supported by vmmd" },
    { 1, "<cpu mode='bogus'/>", VMM_CONF_ERROR_INVALID, "attribute 'mode'='bogus' on <cpu> is invalid" },
    { 1, "<cpu mode='host-model' migratable='on'/>", VMM_CONF_ERROR_INVALID,
      "'migratable' on <cpu> is only allowed with mode='host-passthrough'" },
    { 1, "<cpu><feature name='avx'/></cpu>", VMM_CONF_ERROR_INVALID,
      "<feature> elements but no CPU model" },
    { 1, "<cpu mode='host-model'><feature name='avx'/><feature policy='disable' name='avx'/></cpu>",
      VMM_CONF_ERROR_INVALID, "CPU feature 'avx' is named more than once" },
    { 1, "<cpu mode='host-model'><feature policy='maybe' name='avx'/></cpu>", VMM_CONF_ERROR_INVALID,
      "attribute 'policy'='maybe' on <feature> is invalid" },
    { 1, "<cpu mode='host-model'><numa/></cpu>", VMM_CONF_ERROR_UNSUPPORTED,
      "element <cpu>/<numa> is not supported" },
    { 1, "<cpu mode='host-model' match='exact'/>", VMM_CONF_ERROR_UNSUPPORTED,
      "attribute 'match'='exact' on <cpu> is not supported by vmmd" },
    { 1, "<cpu check='sometimes'/>", VMM_CONF_ERROR_INVALID,
      "attribute 'check'='sometimes' on <cpu> is invalid (vmmd supports: none, partial, full)" },
    { 1, "<cpu><topology sockets='1' cores='1' threads='1'><x/></topology></cpu>",
      VMM_CONF_ERROR_UNSUPPORTED, "element <topology>/<x> is not supported by vmmd" },
    { 1, "<cpu mode='host-model'>avx</cpu>", VMM_CONF_ERROR_INVALID,
      "unexpected text 'avx' in <cpu>" },
    { 1, "<cpu><topology sockets='1' cores='1' threads='1'/><topology sockets='1' cores='1' threads='1'/></cpu>",
      VMM_CONF_ERROR_INVALID, "more than one <topology>" },
};

static void test_errors(gconstpointer data)
{
    const ErrCase *c = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmDomainDef) d = parse(c->vcpus, c->cpu, &err);
    g_assert_null(d);
    g_assert_nonnull(err);
    g_test_message("%s", err->message);
    g_assert_error(err, VMM_CONF_ERROR, (gint)c->code);
    if (!strstr(err->message, c->needle))
        g_error("'%s' does not contain '%s'", err->message, c->needle);
}

/* ---- CPUID --------------------------------------------------------------- */

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define AVX (1u << 28)
#define XSAVE (1u << 26)
#define SSE42 (1u << 20)

/* KVM_GET_SUPPORTED_CPUID's leaf 0x40000001 EAX on the PVM host vmmd is
 * tested on: kvmclock (0, 3, 24), NOP_IO_DELAY (1), ASYNC_PF (4),
 * STEAL_TIME (5), PV_EOI (6), PV_UNHALT (7), PV_TLB_FLUSH (9),
 * ASYNC_PF_VMEXIT (10), PV_SEND_IPI (11), POLL_CONTROL (12),
 * PV_SCHED_YIELD (13), ASYNC_PF_INT (14). */
#define KVM_PV_HOST 0x01007efbu

/* A made-up host: Intel-style, max basic leaf 0xd (no 0x1F), AVX, AVX2,
 * AVX-512F, PKU, XSAVE with x87|SSE|AVX|AVX-512|PKU. */
static struct kvm_cpuid2 *host(void)
{
    static const struct kvm_cpuid_entry2 e[] = {
        { .function = 0, .eax = 0xd },
        { .function = 1, .eax = 0x806f2, .ebx = 0x00ff0800, .ecx = AVX | XSAVE | SSE42 | 1,
          .edx = 0x0183fbff },
        { .function = 4, .index = 0, .flags = SIG, .eax = 0x7c004121 },   /* L1d */
        { .function = 4, .index = 1, .flags = SIG, .eax = 0x7c004163 },   /* L3 */
        { .function = 4, .index = 2, .flags = SIG },                      /* end */
        { .function = 7, .index = 0, .flags = SIG, .ebx = 1u << 5 | 1u << 16 | 1u << 3,
          .ecx = 1u << 3 },
        { .function = 0xb, .index = 0, .flags = SIG, .eax = 1, .ebx = 2, .ecx = 0x100 },
        { .function = 0xd, .index = 0, .flags = SIG, .eax = 0x2e7, .ebx = 0xa88, .ecx = 0xa88 },
        { .function = 0xd, .index = 1, .flags = SIG, .eax = 0xf },
        { .function = 0xd, .index = 2, .flags = SIG, .eax = 256, .ebx = 576 },
        { .function = 0xd, .index = 5, .flags = SIG, .eax = 64, .ebx = 1088 },
        { .function = 0xd, .index = 6, .flags = SIG, .eax = 512, .ebx = 1152 },
        { .function = 0xd, .index = 7, .flags = SIG, .eax = 1024, .ebx = 1664 },
        { .function = 0xd, .index = 9, .flags = SIG, .eax = 8, .ebx = 2688 },
        { .function = 0x80000000, .eax = 0x80000008 },
        { .function = 0x80000001, .ecx = 1, .edx = 0x2c100800 | 1 },
        { .function = 0x80000007, .edx = 1u << 8 },
        { .function = 0x80000008, .eax = 0x3027, .ecx = 0 },
        /* KVM's signature and paravirt features as this PVM host offers them */
        { .function = 0x40000000, .eax = 0x40000001, .ebx = 0x4b4d564b, .ecx = 0x564b4d56,
          .edx = 0x4d },
        { .function = 0x40000001, .eax = KVM_PV_HOST, .edx = 1 },
    };
    struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) + sizeof(e));
    c->nent = G_N_ELEMENTS(e);
    memcpy(c->entries, e, sizeof(e));
    return c;
}

static const struct kvm_cpuid_entry2 *get(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
    const struct kvm_cpuid_entry2 *e = vmm_cpuid_find(c, fn, idx);
    if (!e)
        g_error("no CPUID leaf 0x%x.%u", fn, idx);
    return e;
}

static void test_no_cpu(void)
{
    g_autofree struct kvm_cpuid2 *h = host();
    /* no <cpu>: one socket of 4 cores, APIC ids 0..3 */
    for (unsigned i = 0; i < 4; i++) {
        g_autofree struct kvm_cpuid2 *c = vmm_cpuid_for_vcpu(h, NULL, 4, i);
        g_assert_cmpuint(get(c, 1, 0)->ebx >> 24, ==, i);
        g_assert_cmpuint(get(c, 1, 0)->ecx, ==, AVX | XSAVE | SSE42 | 1);   /* untouched */
        g_assert_cmpuint(get(c, 0xb, 1)->eax, ==, 2);
        g_assert_cmpuint(get(c, 0xb, 1)->ebx, ==, 4);
        g_assert_cmpuint(get(c, 0xb, 0)->edx, ==, i);
        g_assert_null(vmm_cpuid_find(c, 0x1f, 0));   /* the host has none, no dies */
        g_assert_cmpuint(get(c, 0, 0)->eax, ==, 0xd);
    }
}

static void test_topology(void)
{
    g_autofree struct kvm_cpuid2 *h = host();
    g_autoptr(VmmDomainDef) d = parse_ok(12, "<cpu mode='host-passthrough'>"
                                             "<topology sockets='2' cores='3' threads='2'/></cpu>");
    VmmCpuTopology t;
    vmm_cpu_topology_of(d->cpu, d->vcpus, &t);
    /* thread 1 bit, core 2 bits (3 cores), package from bit 3 */
    static const uint32_t ids[12] = { 0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13 };
    for (unsigned i = 0; i < 12; i++) {
        g_assert_cmpuint(vmm_cpu_apic_id(&t, i), ==, ids[i]);
        g_autofree struct kvm_cpuid2 *c = vmm_cpuid_for_vcpu(h, d->cpu, 12, i);
        const struct kvm_cpuid_entry2 *l1 = get(c, 1, 0);
        g_assert_cmpuint(l1->ebx >> 24, ==, ids[i]);
        g_assert_cmpuint(l1->ebx >> 16 & 0xff, ==, 8);      /* addressable ids per package */
        g_assert_cmpuint(l1->ebx & 0xffff, ==, 0x0800);     /* the rest kept */
        g_assert_true(l1->edx & 1u << 28);                  /* HTT */
        g_assert_cmpuint(get(c, 4, 0)->eax >> 26, ==, 3);   /* 4 core ids per package - 1 */
        g_assert_cmpuint(get(c, 4, 0)->eax >> 14 & 0xfff, ==, 1);   /* L1: the core's 2 threads */
        g_assert_cmpuint(get(c, 4, 1)->eax >> 14 & 0xfff, ==, 7);   /* L3: the package */
        g_assert_cmpuint(get(c, 4, 0)->eax & 0x3fff, ==, 0x0121);
        const struct kvm_cpuid_entry2 *b0 = get(c, 0xb, 0), *b1 = get(c, 0xb, 1),
                                      *b2 = get(c, 0xb, 2);
        g_assert_cmpuint(b0->eax, ==, 1);
        g_assert_cmpuint(b0->ebx, ==, 2);
        g_assert_cmpuint(b0->ecx, ==, 0x100);
        g_assert_cmpuint(b1->eax, ==, 3);
        g_assert_cmpuint(b1->ebx, ==, 6);
        g_assert_cmpuint(b1->ecx, ==, 0x201);
        g_assert_cmpuint(b2->ecx, ==, 2);
        g_assert_cmpuint(b0->edx, ==, ids[i]);
        g_assert_cmpuint(b2->edx, ==, ids[i]);
        g_assert_cmpuint(get(c, 0x80000008, 0)->ecx, ==, 3u << 12 | 5);
    }
    /* the MADT lists the same ids */
    g_autofree uint8_t *buf = g_malloc0(0x10000);
    uint32_t apic[12];
    for (unsigned i = 0; i < 12; i++)
        apic[i] = vmm_cpu_apic_id(&t, i);
    VmmAcpiConfig cfg = { .nr_cpus = 12, .apic_ids = apic };
    uint64_t rsdp = 0;
    g_autoptr(GError) err = NULL;
    g_assert_true(vmm_acpi_build(buf, 0xe0000, 0x10000, &cfg, &rsdp, &err));
    const uint8_t *m = NULL;
    for (size_t off = 0; off + 4 <= 0x10000; off += 4)
        if (!memcmp(buf + off, "APIC", 4)) {
            m = buf + off;
            break;
        }
    g_assert_nonnull(m);
    uint32_t len;
    memcpy(&len, m + 4, 4);
    unsigned n = 0;
    for (uint32_t p = 44; p < len; p += m[p + 1])
        if (m[p] == 0) {   /* processor local APIC: UID, APIC id */
            g_assert_cmpuint(m[p + 2], ==, n);
            g_assert_cmpuint(m[p + 3], ==, ids[n]);
            n++;
        }
    g_assert_cmpuint(n, ==, 12);

    /* ids the MADT cannot carry, or a boot CPU that is not APIC id 0 */
    static const uint32_t too_big[2] = { 0, 255 }, no_bsp[2] = { 1, 0 };
    const uint32_t *bad[] = { too_big, no_bsp };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e2 = NULL;
        VmmAcpiConfig b = { .nr_cpus = 2, .apic_ids = bad[i] };
        g_assert_false(vmm_acpi_build(buf, 0xe0000, 0x10000, &b, &rsdp, &e2));
        g_assert_error(e2, VMM_ACPI_ERROR, VMM_ACPI_ERROR_INVALID);
        g_assert_nonnull(strstr(e2->message, "APIC id"));
    }
}

static void test_dies(void)
{
    g_autofree struct kvm_cpuid2 *h = host();
    g_autoptr(VmmDomainDef) d = parse_ok(6, "<cpu mode='host-model'>"
                                            "<topology sockets='1' dies='2' cores='3' threads='1'/></cpu>");
    g_autofree struct kvm_cpuid2 *c = vmm_cpuid_for_vcpu(h, d->cpu, 6, 5);
    g_assert_cmpuint(get(c, 0, 0)->eax, ==, 0x1f);   /* raised for the die level */
    static const uint32_t f[4][3] = { { 0, 1, 0x100 }, { 2, 3, 0x201 }, { 3, 6, 0x502 }, { 0, 0, 3 } };
    for (unsigned i = 0; i < 4; i++) {
        const struct kvm_cpuid_entry2 *e = get(c, 0x1f, i);
        g_assert_cmpuint(e->eax, ==, f[i][0]);
        g_assert_cmpuint(e->ebx, ==, f[i][1]);
        g_assert_cmpuint(e->ecx, ==, f[i][2]);
        g_assert_cmpuint(e->edx, ==, 6);   /* vCPU 5: die 1, core 2 */
    }
    g_assert_cmpuint(get(c, 4, 1)->eax >> 14 & 0xfff, ==, 3);   /* L3 per die */
}

static void test_disable_avx(void)
{
    g_autofree struct kvm_cpuid2 *h = host();
    g_autoptr(VmmDomainDef) d = parse_ok(1, "<cpu mode='host-passthrough'>"
                                            "<feature policy='disable' name='avx'/></cpu>");
    g_autofree struct kvm_cpuid2 *c = vmm_cpuid_for_vcpu(h, d->cpu, 1, 0);
    g_assert_cmpuint(get(c, 1, 0)->ecx, ==, XSAVE | SSE42 | 1);
    g_assert_cmpuint(get(c, 7, 0)->ebx, ==, 1u << 3);     /* AVX2, AVX-512F gone; BMI1 kept */
    g_assert_cmpuint(get(c, 7, 0)->ecx, ==, 1u << 3);     /* PKU kept */
    const struct kvm_cpuid_entry2 *d0 = get(c, 0xd, 0);
    g_assert_cmpuint(d0->eax, ==, 0x203);                 /* x87, SSE, PKU */
    g_assert_cmpuint(d0->ecx, ==, 2688 + 8);              /* up to the PKU state */
    g_assert_cmpuint(d0->ebx, ==, 2688 + 8);
    g_assert_cmpuint(get(c, 0xd, 2)->eax | get(c, 0xd, 2)->ebx, ==, 0);
    g_assert_cmpuint(get(c, 0xd, 7)->eax, ==, 0);
    g_assert_cmpuint(get(c, 0xd, 9)->eax, ==, 8);

    /* and with PKU gone too: only the legacy area and header */
    g_autoptr(VmmDomainDef) d2 = parse_ok(1, "<cpu mode='host-passthrough'>"
                                             "<feature policy='forbid' name='pku'/>"
                                             "<feature policy='disable' name='avx'/></cpu>");
    g_autofree struct kvm_cpuid2 *c2 = vmm_cpuid_for_vcpu(h, d2->cpu, 1, 0);
    g_assert_cmpuint(get(c2, 0xd, 0)->eax, ==, 3);
    g_assert_cmpuint(get(c2, 0xd, 0)->ecx, ==, 576);
    g_assert_cmpuint(get(c2, 7, 0)->ecx, ==, 0);

    /* without XSAVE nothing beyond x87/SSE, and XSAVEOPT & co. go */
    g_autoptr(VmmDomainDef) d3 = parse_ok(1, "<cpu mode='host-passthrough'>"
                                             "<feature policy='disable' name='xsave'/></cpu>");
    g_autofree struct kvm_cpuid2 *c3 = vmm_cpuid_for_vcpu(h, d3->cpu, 1, 0);
    g_assert_cmpuint(get(c3, 1, 0)->ecx, ==, SSE42 | 1);
    g_assert_cmpuint(get(c3, 0xd, 0)->eax, ==, 3);
    g_assert_cmpuint(get(c3, 0xd, 1)->eax, ==, 0);
}

static void test_mirror_force_migratable(void)
{
    g_autofree struct kvm_cpuid2 *h = host();
    g_autoptr(VmmDomainDef) d = parse_ok(1, "<cpu mode='host-passthrough' migratable='on'>"
                                            "<feature policy='disable' name='fpu'/>"
                                            "<feature policy='force' name='sse4a'/>"
                                            "<feature policy='force' name='avx512-vp2intersect'/></cpu>");
    g_autofree struct kvm_cpuid2 *c = vmm_cpuid_for_vcpu(h, d->cpu, 1, 0);
    g_assert_cmpuint(get(c, 1, 0)->edx & 1, ==, 0);
    g_assert_cmpuint(get(c, 0x80000001, 0)->edx & 1, ==, 0);   /* AMD's copy of fpu */
    g_assert_cmpuint(get(c, 0x80000001, 0)->edx & 0x800, ==, 0x800);
    g_assert_cmpuint(get(c, 0x80000001, 0)->ecx, ==, 1 | 1u << 6);
    g_assert_cmpuint(get(c, 7, 0)->edx >> 8 & 1, ==, 1);
    g_assert_cmpuint(get(c, 0x80000007, 0)->edx, ==, 0);        /* invtsc */
}

/* Leaf 0x40000001: what needs hypercalls or async page faults is gone
 * (Documentation/virt/kvm/x86/cpuid.rst numbers the bits), kvmclock,
 * steal time and PV EOI stay, bits unknown to vmmd go, no hints. */
static void test_kvm_paravirt(void)
{
    g_autofree struct kvm_cpuid2 *h = host();
    static const unsigned gone[] = { 4, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 20 };
    g_assert_cmphex(h->entries[h->nent - 1].function, ==, 0x40000001);
    h->entries[h->nent - 1].eax |= 1u << 15 | 1u << 16 | 1u << 17 | 1u << 20;
    for (unsigned cpu = 0; cpu < 2; cpu++) {
        g_autofree struct kvm_cpuid2 *c = vmm_cpuid_for_vcpu(h, NULL, 2, cpu);
        const struct kvm_cpuid_entry2 *e = get(c, 0x40000001, 0);
        for (size_t i = 0; i < G_N_ELEMENTS(gone); i++)
            if (e->eax >> gone[i] & 1)
                g_error("vCPU %u: KVM paravirt feature bit %u still offered (EAX 0x%x)", cpu,
                        gone[i], e->eax);
        g_assert_cmphex(e->eax, ==, 1u << 0 | 1u << 1 | 1u << 3 | 1u << 5 | 1u << 6 | 1u << 24);
        g_assert_cmphex(e->edx, ==, 0);
        g_assert_cmphex(get(c, 0x40000000, 0)->ebx, ==, 0x4b4d564b);   /* untouched */
    }
}

static void test_check(void)
{
    g_autofree struct kvm_cpuid2 *h = host();
    static const struct { unsigned vcpus; const char *cpu, *error; } cases[] = {
        { 1, "<cpu mode='host-model'><feature name='avx'/><feature name='sse4.2'/></cpu>", NULL },
        { 1, "<cpu mode='host-model'><feature name='sse4.2'/><feature name='sse4a'/></cpu>",
          "CPU feature 'sse4a' is required by <cpu> but this host's KVM does not offer it" },
        { 1, "<cpu mode='host-model'><feature policy='require' name='avx512-fp16'/></cpu>",
          "CPU feature 'avx512-fp16' is required" },
        { 1, "<cpu mode='host-model' check='none'><feature name='sse4a'/></cpu>", NULL },
        { 1, "<cpu mode='host-model'><feature policy='forbid' name='avx'/></cpu>",
          "CPU feature 'avx' is forbidden by <cpu> but this host's KVM offers it" },
        { 1, "<cpu mode='host-model'><feature policy='forbid' name='sse4a'/></cpu>", NULL },
        { 1, "<cpu mode='host-model'><feature policy='force' name='sse4a'/></cpu>", NULL },
        { 255, "<cpu><topology sockets='85' cores='3' threads='1'/></cpu>",
          "gives vCPU 254 APIC id 338" },
        { 255, "<cpu><topology sockets='255' cores='1' threads='1'/></cpu>", NULL },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(VmmDomainDef) d = parse_ok(cases[i].vcpus, cases[i].cpu);
        g_autoptr(GError) err = NULL;
        bool ok = vmm_cpuid_check(h, d->cpu, d->vcpus, &err);
        g_test_message("%s: %s", cases[i].cpu, err ? err->message : "ok");
        if (!cases[i].error) {
            g_assert_no_error(err);
            g_assert_true(ok);
        } else {
            g_assert_false(ok);
            g_assert_nonnull(err);
            if (!strstr(err->message, cases[i].error))
                g_error("'%s' does not contain '%s'", err->message, cases[i].error);
        }
    }
}

static void test_feature_table(void)
{
    const VmmCpuFeature *f = vmm_cpu_feature_find("avx");
    g_assert_nonnull(f);
    g_assert_cmpuint(f->leaf, ==, 1);
    g_assert_cmpint(f->reg, ==, VMM_CPUID_ECX);
    g_assert_cmpuint(f->bit, ==, 28);
    f = vmm_cpu_feature_find("lahf_lm");
    g_assert_cmpuint(f->leaf, ==, 0x80000001);
    g_assert_cmpuint(f->bit, ==, 0);
    f = vmm_cpu_feature_find("xsaveopt");
    g_assert_cmpuint(f->leaf, ==, 0xd);
    g_assert_cmpuint(f->subleaf, ==, 1);
    g_assert_null(vmm_cpu_feature_find("AVX"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cpu/conf/parse", test_parse);
    g_test_add_func("/cpu/conf/round-trip", test_round_trip);
    for (size_t i = 0; i < G_N_ELEMENTS(err_cases); i++) {
        g_autofree char *p = g_strdup_printf("/cpu/conf/error/%zu", i);
        g_test_add_data_func(p, &err_cases[i], test_errors);
    }
    g_test_add_func("/cpu/features/table", test_feature_table);
    g_test_add_func("/cpu/cpuid/no-cpu", test_no_cpu);
    g_test_add_func("/cpu/cpuid/topology-and-madt", test_topology);
    g_test_add_func("/cpu/cpuid/dies", test_dies);
    g_test_add_func("/cpu/cpuid/disable-avx-xsave", test_disable_avx);
    g_test_add_func("/cpu/cpuid/mirror-force-migratable", test_mirror_force_migratable);
    g_test_add_func("/cpu/cpuid/kvm-paravirt", test_kvm_paravirt);
    g_test_add_func("/cpu/cpuid/check", test_check);
    return g_test_run();
}
