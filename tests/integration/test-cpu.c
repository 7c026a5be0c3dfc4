/* <cpu> end to end on the real worker: the guest kit's test=cpuid on a
 * 6-vCPU domain with <topology sockets='1' dies='2' cores='3' threads='1'>
 * (sparse APIC ids 0,1,2,4,5,6) and two disabled features, judged against
 * values worked out here from the definition, KVM's paravirt leaf as the
 * guest sees it (no hypercall features); a required feature this
 * host's KVM lacks stops the worker with an error naming it; and the guest
 * kit's SYSCALL probe, whose honest answer on hosts where SYSCALL does not
 * reach CPL0 is reported as a skip with that reason. */
#include "harness.h"

#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "conf/domain_conf.h"
#include "vmm/cpu_features.h"
#include "vmm/cpuid.h"
#include "vmm/kvm.h"

#define TIMEOUT 90.0

/* The topology under test and what CPUID must say about it. */
static const unsigned expect_apic[] = { 0, 1, 2, 4, 5, 6 };
#define NCPU 6
#define SMT_SHIFT 0
#define CORE_SHIFT 2   /* 3 cores -> 2 bits */
#define PKG_SHIFT 3    /* 2 dies -> 1 bit */

static HarnessRun *topo_run;
static struct kvm_cpuid2 *kvm_sup;
static const char *masked;            /* a leaf 1/7 feature KVM offers, disabled */
static struct kvm_cpuid2 *vmm_set;    /* what vmm-worker gives KVM for vCPU 0 */

static HarnessRun *cpuid_run(void)
{
    if (topo_run)
        return topo_run;
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *cpu = g_strdup_printf(
        "<cpu mode='host-passthrough' check='partial'>"
        "<topology sockets='1' dies='2' cores='3' threads='1'/>"
        "<feature policy='disable' name='avx'/>"
        "<feature policy='disable' name='%s'/></cpu>", masked);
    HarnessDomain d = { .vcpus = NCPU, .cmdline = "test=cpuid", .cpu_xml = cpu };
    g_autofree char *xml = harness_write_domain(dir, &d);
    /* the same code the worker runs, for telling vmmd's table from the host's answers */
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmDomainDef) def = vmm_domain_def_parse_file(xml, &err);
    g_assert_no_error(err);
    vmm_set = vmm_cpuid_for_vcpu(kvm_sup, def->cpu, NCPU, 0);
    topo_run = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(topo_run);
    if (topo_run->exit_status != 0 || harness_done_count(topo_run, "failed") != 0)
        g_test_message("exit %d\nstdout:\n%s\nstderr:\n%s", topo_run->exit_status,
                       topo_run->out, topo_run->err);
    return topo_run;
}

static uint32_t reg(json_object *arr, int i)
{
    return (uint32_t)json_object_get_int64(json_object_array_get_idx(arr, i));
}

static json_object *field(json_object *o, const char *k)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, k, &v))
        g_error("report %s has no '%s'", json_object_to_json_string(o), k);
    return v;
}

/* The guest's cpuid line of kit CPU `cpu` (the kit numbers CPUs in MADT order). */
static json_object *cpu_line(HarnessRun *r, int cpu)
{
    g_autoptr(GPtrArray) lines = harness_find(r, "event", "cpuid");
    for (guint i = 0; i < lines->len; i++)
        if (json_object_get_int(field(lines->pdata[i], "cpu")) == cpu)
            return lines->pdata[i];
    g_error("no cpuid report from guest CPU %d", cpu);
}

static void test_guest_passes(void)
{
    HarnessRun *r = cpuid_run();
    g_assert_cmpint(r->exit_status, ==, 0);
    g_assert_cmpint(harness_done_count(r, "failed"), ==, 0);
    g_assert_cmpint(harness_done_count(r, "passed"), ==, NCPU + 1);   /* smp + per CPU */
}

static void test_madt(void)
{
    HarnessRun *r = cpuid_run();
    g_autoptr(GPtrArray) m = harness_find(r, "event", "madt");
    g_assert_cmpuint(m->len, ==, 1);
    json_object *ids = field(m->pdata[0], "apic_ids");
    g_assert_cmpint(json_object_array_length(ids), ==, NCPU);
    for (int i = 0; i < NCPU; i++)
        g_assert_cmpuint(reg(ids, i), ==, expect_apic[i]);
}

static void test_topology_leaves(void)
{
    HarnessRun *r = cpuid_run();
    for (int cpu = 0; cpu < NCPU; cpu++) {
        json_object *l = cpu_line(r, cpu);
        uint32_t apic = expect_apic[cpu];
        g_test_message("CPU %d: %s", cpu, json_object_to_json_string(l));
        g_assert_cmpuint(json_object_get_int(field(l, "lapic_id")), ==, apic);
        json_object *l1 = field(l, "leaf1");
        g_assert_cmpuint(reg(l1, 1) >> 24, ==, apic);
        g_assert_cmpuint(reg(l1, 1) >> 16 & 0xff, ==, 1u << PKG_SHIFT);
        g_assert_cmpuint(reg(l1, 3) >> 28 & 1, ==, 1);                 /* HTT */
        /* leaf 4: cores per package - 1; L1 per core, L3 per die */
        json_object *l4 = field(l, "leaf4");
        for (int i = 0; i < 4; i++) {
            uint32_t eax = reg(json_object_array_get_idx(l4, i), 0);
            if (!(eax & 0x1f))
                continue;
            g_assert_cmpuint(eax >> 26, ==, (1u << (PKG_SHIFT - SMT_SHIFT)) - 1);
            unsigned share = (eax >> 5 & 7) >= 3 ? CORE_SHIFT : SMT_SHIFT;
            g_assert_cmpuint(eax >> 14 & 0xfff, ==, (1u << share) - 1);
        }
        /* 0xB: SMT then core level, the core level's shift reaching the package */
        static const uint32_t b[3][3] = { { SMT_SHIFT, 1, 0x100 }, { PKG_SHIFT, NCPU, 0x201 },
                                          { 0, 0, 0x002 } };
        json_object *lb = field(l, "leafb");
        g_assert_cmpint(json_object_array_length(lb), ==, 3);
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 3; k++)
                g_assert_cmpuint(reg(json_object_array_get_idx(lb, i), k), ==, b[i][k]);
        /* 0x1F: SMT, core (shift to the die), die (type 5, shift to the package) */
        static const uint32_t f[4][3] = { { SMT_SHIFT, 1, 0x100 }, { CORE_SHIFT, 3, 0x201 },
                                          { PKG_SHIFT, NCPU, 0x502 }, { 0, 0, 0x003 } };
        json_object *lf = field(l, "leaf1f");
        g_assert_cmpint(json_object_array_length(lf), ==, 4);
        for (int i = 0; i < 4; i++) {
            for (int k = 0; k < 3; k++)
                g_assert_cmpuint(reg(json_object_array_get_idx(lf, i), k), ==, f[i][k]);
            g_assert_cmpuint(reg(json_object_array_get_idx(lf, i), 3), ==, apic);
            if (i < 3)
                g_assert_cmpuint(reg(json_object_array_get_idx(lb, i), 3), ==, apic);
        }
    }
}

static uint32_t bit_in(const struct kvm_cpuid2 *c, const char *name)
{
    const VmmCpuFeature *f = vmm_cpu_feature_find(name);
    g_assert_nonnull(f);
    const struct kvm_cpuid_entry2 *e = vmm_cpuid_find(c, f->leaf, f->subleaf);
    uint32_t v = !e ? 0 : f->reg == VMM_CPUID_EAX ? e->eax : f->reg == VMM_CPUID_EBX ? e->ebx
               : f->reg == VMM_CPUID_ECX ? e->ecx : e->edx;
    return v >> f->bit & 1;
}

static bool kvm_offers(const char *name)
{
    return bit_in(kvm_sup, name);
}

/* The guest's view of a leaf 1 or leaf 7 feature bit. */
static uint32_t guest_bit(json_object *line, const char *name)
{
    const VmmCpuFeature *f = vmm_cpu_feature_find(name);
    g_assert_true((f->leaf == 1 || f->leaf == 7) && f->subleaf == 0);
    return reg(field(line, f->leaf == 1 ? "leaf1" : "leaf7"), f->reg) >> f->bit & 1;
}

/* Whether the guest still sees a feature <cpu> disabled. If vmmd's table
 * has the bit, vmmd failed to mask it. If vmmd's table has it clear and
 * the guest sees it anyway, the host's hypervisor reports the host CPU's
 * bit itself (PVM does for bits KVM_GET_SUPPORTED_CPUID leaves out, and for
 * leaf 0xD): a property of the host that no VMM can change, reported as a
 * skip with the evidence. */
static bool judge(const char *name)
{
    if (!guest_bit(cpu_line(cpuid_run(), 0), name))
        return true;
    if (bit_in(vmm_set, name))
        g_error("vmmd's CPUID table still has '%s', which <cpu> disabled", name);
    g_autofree char *why = g_strdup_printf(
        "the guest sees '%s' although vmm-worker's CPUID table (KVM_SET_CPUID2) has it clear "
        "(KVM_GET_SUPPORTED_CPUID %s it): the host hypervisor reports the host CPU's bit "
        "itself", name, kvm_offers(name) ? "offers" : "does not offer");
    g_test_skip(why);
    return false;
}

static void test_disabled_offered(void)
{
    /* a bit KVM offers and honours: masking must show in the guest, on every CPU */
    g_test_message("disabled feature KVM offers: %s", masked);
    for (int cpu = 0; cpu < NCPU; cpu++)
        g_assert_cmpuint(guest_bit(cpu_line(cpuid_run(), cpu), masked), ==, 0);
    g_assert_cmpuint(bit_in(vmm_set, masked), ==, 0);
}

static void test_disabled_avx(void)
{
    /* AVX and what needs it: AVX2, AVX-512 */
    g_assert_cmpuint(bit_in(vmm_set, "avx") | bit_in(vmm_set, "avx2") |
                     bit_in(vmm_set, "avx512f"), ==, 0);
    if (judge("avx") && judge("avx2"))
        judge("avx512f");
}

/* KVM's paravirt leaf as every vCPU sees it: no feature that needs a
 * hypercall or async page faults (PV_UNHALT 7, PV_TLB_FLUSH 9,
 * PV_SEND_IPI 11, PV_SCHED_YIELD 13, POLL_CONTROL 12, ASYNC_PF 4/10/14,
 * HC_MAP_GPA_RANGE 16, MIGRATION_CONTROL 17), whatever this host's KVM
 * offers; kvmclock as KVM offers it. A Linux guest on PVM died at the PV
 * IPI's VMCALL while the leaf passed the host's bits through. */
static void test_kvm_paravirt(void)
{
    const struct kvm_cpuid_entry2 *sup = vmm_cpuid_find(kvm_sup, 0x40000001, 0);
    if (!sup) {
        g_test_skip("this host's KVM_GET_SUPPORTED_CPUID has no leaf 0x40000001");
        return;
    }
    static const unsigned gone[] = { 4, 7, 9, 10, 11, 12, 13, 14, 16, 17 };
    const uint32_t clock = 1u << 0 | 1u << 3 | 1u << 24;
    g_test_message("host KVM offers 0x40000001 EAX 0x%x", sup->eax);
    for (int cpu = 0; cpu < NCPU; cpu++) {
        json_object *kvm = field(cpu_line(cpuid_run(), cpu), "leafkvm");
        json_object *sig = json_object_array_get_idx(kvm, 0);
        uint32_t eax = reg(json_object_array_get_idx(kvm, 1), 0);
        g_test_message("CPU %d: 0x40000001 EAX 0x%x EDX 0x%x", cpu, eax,
                       reg(json_object_array_get_idx(kvm, 1), 3));
        /* the leaf is there (else zeros would pass anything) */
        g_assert_cmphex(reg(sig, 1), ==, 0x4b4d564b);
        for (size_t i = 0; i < G_N_ELEMENTS(gone); i++)
            if (eax >> gone[i] & 1)
                g_error("vCPU %d sees KVM paravirt feature bit %u (0x40000001 EAX 0x%x; the "
                        "host offers 0x%x)", cpu, gone[i], eax, sup->eax);
        g_assert_cmphex(eax & clock, ==, sup->eax & clock);
        g_assert_cmphex(reg(json_object_array_get_idx(kvm, 1), 3), ==, 0);
    }
}

/* XSAVE: XCR0 bits of AVX (2) and AVX-512 (5-7) gone from leaf 0xD, their
 * sub-leaves zeroed, and the size what is left needs. */
static void test_xsave(void)
{
    json_object *d = field(cpu_line(cpuid_run(), 0), "leafd");
    const struct kvm_cpuid_entry2 *set = vmm_cpuid_find(vmm_set, 0xd, 0);
    if (!set || json_object_array_length(d) < 10) {
        g_test_skip("no CPUID leaf 0xD on this host");
        return;
    }
    g_assert_cmpuint(set->eax & (1u << 2 | 7u << 5), ==, 0);
    uint32_t xcr0 = reg(json_object_array_get_idx(d, 0), 0);
    if (xcr0 != set->eax) {
        g_autofree char *why = g_strdup_printf(
            "the guest's CPUID.0xD.0:EAX (XCR0 mask 0x%x) is not the 0x%x vmm-worker gave "
            "KVM_SET_CPUID2: the host hypervisor answers leaf 0xD itself", xcr0, set->eax);
        g_test_skip(why);
        return;
    }
    uint32_t size = 576;
    for (int i = 2; i < 10; i++) {
        json_object *s = json_object_array_get_idx(d, i);
        if (xcr0 >> i & 1)
            size = MAX(size, reg(s, 0) + reg(s, 1));
        else if (i == 2)
            g_assert_cmpuint(reg(s, 0) | reg(s, 1), ==, 0);
    }
    g_assert_cmpuint(reg(json_object_array_get_idx(d, 0), 2), ==, size);
}

static void test_required_missing(void)
{
    /* a feature this host's KVM does not offer */
    static const char *const candidates[] = {
        "avx", "sse4a", "xop", "fma4", "avx512-vp2intersect", "amx-tile", "svm", "vmx", NULL };
    const char *missing = NULL;
    for (int i = 0; candidates[i] && !missing; i++)
        if (!kvm_offers(candidates[i]))
            missing = candidates[i];
    if (!missing) {
        g_test_skip("this host's KVM offers every candidate feature");
        return;
    }
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *cpu = g_strdup_printf(
        "<cpu mode='host-model'><feature policy='require' name='%s'/></cpu>", missing);
    HarnessDomain d = { .cmdline = "test=hello", .cpu_xml = cpu };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r);
    g_test_message("required '%s': exit %d, stderr: %s", missing, r->exit_status, r->err);
    g_assert_cmpint(r->exit_status, !=, 0);
    g_assert_null(r->done);                   /* the guest never ran */
    g_autofree char *needle = g_strdup_printf("CPU feature '%s' is required", missing);
    g_assert_nonnull(strstr(r->err, needle));
}

/* SYSCALL from CPL3 must land at CPL0. Where it lands at CPL3 (PVM), the
 * kit's check fails honestly and this test says so as a skip: a property
 * of the host, not of vmmd. Anything else (no report, wrong result) fails. */
static void test_syscall(void)
{
    g_autofree char *dir = harness_tmpdir();
    HarnessDomain d = { .cmdline = "test=syscall" };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r);
    g_autoptr(GPtrArray) c = harness_find(r, "check", "syscall");
    if (c->len != 1)
        g_test_message("exit %d\nstdout:\n%s\nstderr:\n%s", r->exit_status, r->out, r->err);
    g_assert_cmpuint(c->len, ==, 1);
    json_object *o = c->pdata[0];
    g_test_message("syscall probe: %s", json_object_to_json_string(o));
    g_assert_cmpint(json_object_get_int(field(o, "result")), ==, 42);
    g_assert_cmpint(json_object_get_int(field(o, "entered")), ==, 1);
    int cpl = json_object_get_int(field(o, "cpl"));
    if (cpl == 3) {
        g_assert_false(json_object_get_boolean(field(o, "ok")));
        g_assert_cmpint(harness_done_count(r, "failed"), ==, 1);
        g_test_skip("SYSCALL from guest CPL3 does not reach CPL0 on this host: the target "
                    "ran at CPL3 (the guest kit's check failed, as it must here)");
        return;
    }
    g_assert_cmpint(cpl, ==, 0);
    g_assert_true(json_object_get_boolean(field(o, "ok")));
    g_assert_cmpint(harness_done_count(r, "failed"), ==, 0);
}

static void skip_no_kvm(void)
{
    g_test_skip("/dev/kvm is not accessible on this host");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_add_func("/cpu/no-kvm", skip_no_kvm);
        return g_test_run();
    }
    g_autoptr(GError) err = NULL;
    int kvm = vmm_kvm_open(&err);
    g_assert_no_error(err);
    kvm_sup = vmm_kvm_supported_cpuid(kvm, &err);
    g_assert_no_error(err);
    close(kvm);
    static const char *const offered[] = { "pku", "tsc-deadline", "x2apic", NULL };
    for (int i = 0; offered[i] && !masked; i++)
        if (kvm_offers(offered[i]))
            masked = offered[i];
    g_assert_nonnull(masked);
    g_test_add_func("/cpu/guest-checks", test_guest_passes);
    g_test_add_func("/cpu/madt-apic-ids", test_madt);
    g_test_add_func("/cpu/topology-leaves", test_topology_leaves);
    g_test_add_func("/cpu/disabled-offered", test_disabled_offered);
    g_test_add_func("/cpu/disabled-avx", test_disabled_avx);
    g_test_add_func("/cpu/kvm-paravirt", test_kvm_paravirt);
    g_test_add_func("/cpu/xsave", test_xsave);
    g_test_add_func("/cpu/required-missing", test_required_missing);
    g_test_add_func("/cpu/syscall", test_syscall);
    int rc = g_test_run();
    if (topo_run)
        harness_run_free(topo_run);
    g_free(kvm_sup);
    g_free(vmm_set);
    return rc;
}
