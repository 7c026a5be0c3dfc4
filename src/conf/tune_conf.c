/* <cputune>, <memtune>, <blkiotune>: libvirt's ranges and rules
 * (virDomainDefCputuneValidate, virDomainMemtuneParse, the blkiotune
 * parser), with what vmmd cannot apply refused by name. */
#include "conf/tune_conf.h"

#include <string.h>

#include "conf/conf_parse.h"

#define CPU_PERIOD_MIN 1000ULL
#define CPU_PERIOD_MAX 1000000ULL
#define CPU_QUOTA_MIN 1000LL
#define CPU_QUOTA_MAX 17592186044415LL      /* libvirt's cpuquota */
#define CPU_SHARES_MIN 2ULL                 /* the kernel's cpu.shares range */
#define CPU_SHARES_MAX 262144ULL
#define BLKIO_WEIGHT_MIN 100ULL
#define BLKIO_WEIGHT_MAX 1000ULL
/* libvirt's VIR_DOMAIN_MEMORY_PARAM_UNLIMITED (KiB): this or more is no limit */
#define MEM_UNLIMITED_KIB 9007199254740991ULL

#define tune_fail(source, node, code, err, ...) \
    conf_fail(&(ParseCtx){ .source = (source) }, node, code, err, __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* cpusets                                                                  */

bool vmm_cpuset_has(const VmmCpuSet *s, unsigned cpu)
{
    return cpu < VMM_CPUSET_MAX && (s->bits[cpu / 64] >> (cpu % 64)) & 1;
}

static void cpuset_put(VmmCpuSet *s, unsigned cpu, bool on)
{
    if (on)
        s->bits[cpu / 64] |= 1ULL << (cpu % 64);
    else
        s->bits[cpu / 64] &= ~(1ULL << (cpu % 64));
}

static bool cpu_number(const char *s, unsigned *out)
{
    guint64 v;
    if (!g_ascii_string_to_unsigned(s, 10, 0, VMM_CPUSET_MAX - 1, &v, NULL))
        return false;
    *out = (unsigned)v;
    return true;
}

bool vmm_cpuset_parse(const char *text, VmmCpuSet *out)
{
    VmmCpuSet s = { { 0 } };
    g_auto(GStrv) terms = g_strsplit(text, ",", -1);
    if (!terms[0])
        return false;
    /* libvirt applies the ^N exclusions after the ranges, whatever the order */
    for (int pass = 0; pass < 2; pass++) {
        for (char **t = terms; *t; t++) {
            bool exclude = (*t)[0] == '^';
            unsigned a, b;
            if (exclude) {
                if (!cpu_number(*t + 1, &a))
                    return false;
                if (pass == 1)
                    cpuset_put(&s, a, false);
                continue;
            }
            char *dash = strchr(*t, '-');
            if (dash) {
                g_autofree char *first = g_strndup(*t, (gsize)(dash - *t));
                if (!cpu_number(first, &a) || !cpu_number(dash + 1, &b) || b < a)
                    return false;
            } else if (!cpu_number(*t, &a)) {
                return false;
            } else {
                b = a;
            }
            for (unsigned c = a; pass == 0 && c <= b; c++)
                cpuset_put(&s, c, true);
        }
    }
    bool any = false;
    for (unsigned i = 0; i < G_N_ELEMENTS(s.bits); i++)
        any |= s.bits[i] != 0;
    if (!any)
        return false;
    *out = s;
    return true;
}

char *vmm_cpuset_format(const VmmCpuSet *s)
{
    GString *o = g_string_new(NULL);
    for (unsigned c = 0; c < VMM_CPUSET_MAX; c++) {
        if (!vmm_cpuset_has(s, c))
            continue;
        unsigned end = c;
        while (end + 1 < VMM_CPUSET_MAX && vmm_cpuset_has(s, end + 1))
            end++;
        g_string_append_printf(o, "%s%u", o->len ? "," : "", c);
        if (end > c)
            g_string_append_printf(o, "-%u", end);
        c = end;
    }
    return g_string_free(o, FALSE);
}

/* ------------------------------------------------------------------------ */
/* reading                                                                  */

/* An element holding an unsigned decimal from min to max. */
static bool uint_elem(const char *source, xmlNodePtr node, uint64_t min, uint64_t max,
                      const char *range, uint64_t *out, GError **err)
{
    const ParseCtx pc = { .source = source };
    g_autofree char *text = NULL;
    uint64_t v;
    if (!check_attrs(&pc, node, NULL, err) || !leaf_token(&pc, node, &text, err))
        return false;
    if (!parse_count(text, &v) || v < min || v > max) {
        g_autofree char *shown = g_strescape(text, NULL);
        return tune_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                         "<%s> value '%s' is out of range (%s)", node->name, shown, range);
    }
    *out = v;
    return true;
}

static bool period_elem(const char *source, xmlNodePtr node, uint64_t *out, GError **err)
{
    return uint_elem(source, node, 0, CPU_PERIOD_MAX, "0 for none, or 1000 to 1000000 us",
                     out, err) &&
           (*out == 0 || *out >= CPU_PERIOD_MIN ||
            tune_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                      "<%s> value '%" G_GUINT64_FORMAT "' is out of range (0 for none, or "
                      "1000 to 1000000 us)", node->name, *out));
}

static bool quota_elem(const char *source, xmlNodePtr node, int64_t *out, GError **err)
{
    const ParseCtx pc = { .source = source };
    g_autofree char *text = NULL;
    gint64 v;
    if (!check_attrs(&pc, node, NULL, err) || !leaf_token(&pc, node, &text, err))
        return false;
    if (!g_ascii_string_to_signed(text, 10, -1, CPU_QUOTA_MAX, &v, NULL) ||
        (v > 0 && v < CPU_QUOTA_MIN)) {
        g_autofree char *shown = g_strescape(text, NULL);
        return tune_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                         "<%s> value '%s' is out of range (-1 for unlimited, 0 for none, or "
                         "1000 to 17592186044415 us)", node->name, shown);
    }
    *out = v;
    return true;
}

static bool cpuset_attr(const char *source, xmlNodePtr node, VmmCpuSet *out, GError **err)
{
    g_autofree char *v = get_attr(node, "cpuset");
    if (!v)
        return tune_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                         "<%s> needs a 'cpuset' attribute", node->name);
    if (!vmm_cpuset_parse(v, out)) {
        g_autofree char *shown = g_strescape(v, NULL);
        return tune_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute 'cpuset'='%s' on <%s> is not a set of host CPUs "
                         "(e.g. '0-3,^2,8'; CPUs 0 to %d; not empty)", shown, node->name,
                         VMM_CPUSET_MAX - 1);
    }
    return true;
}

static gint pin_cmp(gconstpointer a, gconstpointer b)
{
    const VmmVcpuPinDef *x = *(VmmVcpuPinDef *const *)a, *y = *(VmmVcpuPinDef *const *)b;
    return x->vcpu < y->vcpu ? -1 : x->vcpu > y->vcpu;
}

static bool parse_vcpupin(const char *source, xmlNodePtr node, unsigned vcpus, VmmTuneDef *t,
                          GError **err)
{
    static const char *const attrs[] = { "vcpu", "cpuset", NULL };
    const ParseCtx pc = { .source = source };
    if (!check_empty(&pc, node, attrs, err))
        return false;
    g_autofree char *v = get_attr(node, "vcpu");
    uint64_t n;
    if (!v)
        return tune_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                         "<vcpupin> needs a 'vcpu' attribute");
    if (!parse_count(v, &n) || n >= vcpus) {
        g_autofree char *shown = g_strescape(v, NULL);
        return tune_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute 'vcpu'='%s' on <vcpupin> is not a vCPU of this domain "
                         "(0 to %u)", shown, vcpus - 1);
    }
    if (vmm_tune_def_vcpupin(t, (unsigned)n))
        return tune_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                         "<vcpupin> for vCPU %" G_GUINT64_FORMAT " appears more than once", n);
    VmmVcpuPinDef *p = g_new0(VmmVcpuPinDef, 1);
    p->vcpu = (unsigned)n;
    g_ptr_array_add(t->vcpupins, p);
    return cpuset_attr(source, node, &p->cpus, err);
}

static bool parse_cputune(const char *source, xmlNodePtr node, unsigned vcpus, VmmTuneDef *t,
                          GError **err)
{
    enum { C_SHARES, C_GPERIOD, C_GQUOTA, C_PERIOD, C_QUOTA, C_EPERIOD, C_EQUOTA, C_EPIN, C_N };
    static const char *const singles[] = { "shares", "global_period", "global_quota", "period",
                                           "quota", "emulator_period", "emulator_quota",
                                           "emulatorpin", NULL };
    /* libvirt's, for threads vmmd does not have or settings it does not make */
    static const char *const iothread_elems[] = { "iothread_period", "iothread_quota",
                                                  "iothreadpin", "iothreadsched", NULL };
    const ParseCtx pc = { .source = source };
    xmlNodePtr s[C_N] = { 0 };
    if (!check_attrs(&pc, node, NULL, err) || !check_content(&pc, node, err))
        return false;
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        int i = c->ns ? -1 : str_index(singles, (const char *)c->name);
        if (i >= 0) {
            if (s[i])
                return tune_fail(source, c, VMM_CONF_ERROR_INVALID, err,
                                 "element <cputune>/<%s> appears more than once (first on "
                                 "line %ld)", c->name, line_of(s[i]));
            s[i] = c;
        } else if (name_is(c, "vcpupin")) {
            if (!parse_vcpupin(source, c, vcpus, t, err))
                return false;
        } else if (!c->ns && str_index(iothread_elems, (const char *)c->name) >= 0) {
            return tune_fail(source, c, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "element <cputune>/<%s> is not supported: vmmd has no "
                             "<iothreads> (its disks' I/O threads are not separately "
                             "defined), so there is no I/O thread to tune", c->name);
        } else {
            return unsupported_element(&pc, c, err);
        }
    }
    g_ptr_array_sort(t->vcpupins, pin_cmp);
    uint64_t shares = 0;
    if (s[C_SHARES]) {
        if (!uint_elem(source, s[C_SHARES], CPU_SHARES_MIN, CPU_SHARES_MAX, "2 to 262144",
                       &shares, err))
            return false;
        t->shares = (unsigned)shares;
        t->has_shares = true;
    }
    if ((s[C_GPERIOD] && !period_elem(source, s[C_GPERIOD], &t->global_period, err)) ||
        (s[C_PERIOD] && !period_elem(source, s[C_PERIOD], &t->period, err)) ||
        (s[C_EPERIOD] && !period_elem(source, s[C_EPERIOD], &t->emulator_period, err)) ||
        (s[C_GQUOTA] && !quota_elem(source, s[C_GQUOTA], &t->global_quota, err)) ||
        (s[C_QUOTA] && !quota_elem(source, s[C_QUOTA], &t->quota, err)) ||
        (s[C_EQUOTA] && !quota_elem(source, s[C_EQUOTA], &t->emulator_quota, err)))
        return false;
    if (s[C_EPIN]) {
        static const char *const attrs[] = { "cpuset", NULL };
        if (!check_empty(&pc, s[C_EPIN], attrs, err) ||
            !cpuset_attr(source, s[C_EPIN], &t->emulatorpin, err))
            return false;
        t->has_emulatorpin = true;
    }
    return true;
}

/* A <memtune> size: KiB by default, rounded up to KiB as libvirt does;
 * libvirt's "unlimited" and more is no limit (0). */
static bool memtune_size(const char *source, xmlNodePtr node, uint64_t *kib, GError **err)
{
    static const char *const attrs[] = { "unit", NULL };
    const ParseCtx pc = { .source = source };
    g_autofree char *text = NULL;
    if (!check_attrs(&pc, node, attrs, err) || !leaf_token(&pc, node, &text, err))
        return false;
    g_autofree char *unit = get_attr(node, "unit");
    uint64_t bytes;
    if (!vmm_conf_parse_size(text, unit ? unit : "KiB", &bytes)) {
        g_autofree char *shown = g_strescape(text, NULL);
        g_autofree char *ushown = g_strescape(unit ? unit : "KiB", NULL);
        return tune_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                         "<memtune>/<%s> '%s' unit '%s' is not a size (a non-negative "
                         "integer that fits 64 bits in bytes; units as libvirt's: b, KiB, "
                         "MiB, GiB, TiB, KB, MB, ...)", node->name, shown, ushown);
    }
    uint64_t k = bytes / 1024 + (bytes % 1024 != 0);
    *kib = k >= MEM_UNLIMITED_KIB ? 0 : k;
    return true;
}

static bool parse_memtune(const char *source, xmlNodePtr node, VmmTuneDef *t, GError **err)
{
    enum { M_HARD, M_SOFT, M_MIN, M_SWAP, M_N };
    static const char *const names[] = { "hard_limit", "soft_limit", "min_guarantee",
                                         "swap_hard_limit", NULL };
    const ParseCtx pc = { .source = source };
    xmlNodePtr s[M_N] = { 0 };
    if (!check_attrs(&pc, node, NULL, err) || !collect_children(&pc, node, names, s, err))
        return false;
    if (s[M_MIN])   /* as libvirt's QEMU driver */
        return tune_fail(source, s[M_MIN], VMM_CONF_ERROR_UNSUPPORTED, err,
                         "element <memtune>/<min_guarantee> is not supported: Linux cgroups "
                         "have no guaranteed minimum for a VM (libvirt's QEMU driver refuses "
                         "it too)");
    if ((s[M_HARD] && !memtune_size(source, s[M_HARD], &t->hard_limit_kib, err)) ||
        (s[M_SOFT] && !memtune_size(source, s[M_SOFT], &t->soft_limit_kib, err)) ||
        (s[M_SWAP] && !memtune_size(source, s[M_SWAP], &t->swap_hard_limit_kib, err)))
        return false;
    if (t->hard_limit_kib && t->swap_hard_limit_kib &&
        t->hard_limit_kib > t->swap_hard_limit_kib)   /* libvirt's rule */
        return tune_fail(source, s[M_SWAP], VMM_CONF_ERROR_INVALID, err,
                         "<memtune>: hard_limit (%" G_GUINT64_FORMAT " KiB) must not be "
                         "larger than swap_hard_limit (%" G_GUINT64_FORMAT " KiB), which "
                         "limits memory and swap together",
                         t->hard_limit_kib, t->swap_hard_limit_kib);
    return true;
}

static bool parse_blkio_device(const char *source, xmlNodePtr node, VmmTuneDef *t,
                               GError **err)
{
    enum { B_PATH, B_WEIGHT, B_RIOPS, B_WIOPS, B_RBPS, B_WBPS, B_N };
    static const char *const names[] = { "path", "weight", "read_iops_sec", "write_iops_sec",
                                         "read_bytes_sec", "write_bytes_sec", NULL };
    const ParseCtx pc = { .source = source };
    xmlNodePtr s[B_N] = { 0 };
    if (!check_attrs(&pc, node, NULL, err) || !collect_children(&pc, node, names, s, err))
        return false;
    if (!s[B_PATH])
        return tune_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                         "<blkiotune>/<device> needs a <path>");
    VmmBlkioDeviceDef *dev = g_new0(VmmBlkioDeviceDef, 1);
    g_ptr_array_add(t->blkio_devices, dev);
    if (!check_attrs(&pc, s[B_PATH], NULL, err) || !leaf_token(&pc, s[B_PATH], &dev->path, err))
        return false;
    if (!g_path_is_absolute(dev->path)) {
        g_autofree char *shown = g_strescape(dev->path, NULL);
        return tune_fail(source, s[B_PATH], VMM_CONF_ERROR_INVALID, err,
                         "<blkiotune>/<device>/<path> '%s' is not an absolute path", shown);
    }
    for (guint i = 0; i + 1 < t->blkio_devices->len; i++)
        if (!strcmp(((VmmBlkioDeviceDef *)g_ptr_array_index(t->blkio_devices, i))->path,
                    dev->path)) {
            g_autofree char *shown = g_strescape(dev->path, NULL);
            return tune_fail(source, s[B_PATH], VMM_CONF_ERROR_INVALID, err,
                             "<blkiotune>: device path '%s' appears more than once", shown);
        }
    uint64_t v;
    if (s[B_WEIGHT]) {
        if (!uint_elem(source, s[B_WEIGHT], BLKIO_WEIGHT_MIN, BLKIO_WEIGHT_MAX, "100 to 1000",
                       &v, err))
            return false;
        dev->weight = (unsigned)v;
    }
    if (s[B_RIOPS]) {
        if (!uint_elem(source, s[B_RIOPS], 0, G_MAXUINT32, "0 to 4294967295", &v, err))
            return false;
        dev->read_iops_sec = (unsigned)v;
    }
    if (s[B_WIOPS]) {
        if (!uint_elem(source, s[B_WIOPS], 0, G_MAXUINT32, "0 to 4294967295", &v, err))
            return false;
        dev->write_iops_sec = (unsigned)v;
    }
    if ((s[B_RBPS] && !uint_elem(source, s[B_RBPS], 0, G_MAXUINT64 - 1,
                                 "0 to 18446744073709551614", &dev->read_bytes_sec, err)) ||
        (s[B_WBPS] && !uint_elem(source, s[B_WBPS], 0, G_MAXUINT64 - 1,
                                 "0 to 18446744073709551614", &dev->write_bytes_sec, err)))
        return false;
    return true;
}

static bool parse_blkiotune(const char *source, xmlNodePtr node, VmmTuneDef *t, GError **err)
{
    const ParseCtx pc = { .source = source };
    xmlNodePtr weight = NULL;
    if (!check_attrs(&pc, node, NULL, err) || !check_content(&pc, node, err))
        return false;
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (name_is(c, "weight")) {
            if (weight)
                return tune_fail(source, c, VMM_CONF_ERROR_INVALID, err,
                                 "element <blkiotune>/<weight> appears more than once "
                                 "(first on line %ld)", line_of(weight));
            weight = c;
            uint64_t v;
            if (!uint_elem(source, c, BLKIO_WEIGHT_MIN, BLKIO_WEIGHT_MAX, "100 to 1000", &v,
                           err))
                return false;
            t->blkio_weight = (unsigned)v;
        } else if (name_is(c, "device")) {
            if (!parse_blkio_device(source, c, t, err))
                return false;
        } else {
            return unsupported_element(&pc, c, err);
        }
    }
    return true;
}

static VmmTuneDef *tune_new(void)
{
    VmmTuneDef *t = g_new0(VmmTuneDef, 1);
    t->vcpupins = g_ptr_array_new_with_free_func(g_free);
    t->blkio_devices = g_ptr_array_new_with_free_func(NULL);
    return t;
}

static void blkio_device_free(gpointer p)
{
    VmmBlkioDeviceDef *d = p;
    g_free(d->path);
    g_free(d);
}

bool vmm_tune_def_parse(const char *source, xmlNodePtr cputune, xmlNodePtr memtune,
                        xmlNodePtr blkiotune, unsigned vcpus, VmmTuneDef **out, GError **err)
{
    *out = NULL;
    if (!cputune && !memtune && !blkiotune)
        return true;
    g_autoptr(VmmTuneDef) t = tune_new();
    g_ptr_array_set_free_func(t->blkio_devices, blkio_device_free);
    if ((cputune && !parse_cputune(source, cputune, vcpus, t, err)) ||
        (memtune && !parse_memtune(source, memtune, t, err)) ||
        (blkiotune && !parse_blkiotune(source, blkiotune, t, err)))
        return false;
    /* empty elements say nothing, and format to nothing */
    if (vmm_tune_def_needs_cpu(t) || vmm_tune_def_needs_memory(t) ||
        vmm_tune_def_needs_blkio(t) || t->vcpupins->len || t->has_emulatorpin)
        *out = g_steal_pointer(&t);
    return true;
}

/* ------------------------------------------------------------------------ */
/* writing: libvirt's element order                                         */

static void add_kib(xmlNodePtr parent, const char *name, uint64_t kib)
{
    if (kib)
        set_attr(add_uint(parent, name, kib), "unit", "KiB");
}

void vmm_tune_def_format_memory(xmlNodePtr parent, const VmmTuneDef *t)
{
    if (!t)
        return;
    if (t->blkio_weight || t->blkio_devices->len) {
        xmlNodePtr b = add_elem(parent, "blkiotune");
        if (t->blkio_weight)
            add_uint(b, "weight", t->blkio_weight);
        for (guint i = 0; i < t->blkio_devices->len; i++) {
            const VmmBlkioDeviceDef *d = g_ptr_array_index(t->blkio_devices, i);
            xmlNodePtr e = add_elem(b, "device");
            xmlNewTextChild(e, NULL, (const xmlChar *)"path", (const xmlChar *)d->path);
            if (d->weight)
                add_uint(e, "weight", d->weight);
            if (d->read_iops_sec)
                add_uint(e, "read_iops_sec", d->read_iops_sec);
            if (d->write_iops_sec)
                add_uint(e, "write_iops_sec", d->write_iops_sec);
            if (d->read_bytes_sec)
                add_uint(e, "read_bytes_sec", d->read_bytes_sec);
            if (d->write_bytes_sec)
                add_uint(e, "write_bytes_sec", d->write_bytes_sec);
        }
    }
    if (t->hard_limit_kib || t->soft_limit_kib || t->swap_hard_limit_kib) {
        xmlNodePtr m = add_elem(parent, "memtune");
        add_kib(m, "hard_limit", t->hard_limit_kib);
        add_kib(m, "soft_limit", t->soft_limit_kib);
        add_kib(m, "swap_hard_limit", t->swap_hard_limit_kib);
    }
}

static void add_quota(xmlNodePtr parent, const char *name, int64_t v)
{
    if (v) {
        g_autofree char *text = g_strdup_printf("%" G_GINT64_FORMAT, v);
        xmlNodeSetContent(add_elem(parent, name), (const xmlChar *)text);
    }
}

static void add_pin(xmlNodePtr parent, const char *name, const VmmCpuSet *cpus)
{
    g_autofree char *s = vmm_cpuset_format(cpus);
    set_attr(add_elem(parent, name), "cpuset", s);
}

void vmm_tune_def_format_cpu(xmlNodePtr parent, const VmmTuneDef *t)
{
    if (!t || !(t->has_shares || t->global_period || t->global_quota || t->period ||
                t->quota || t->emulator_period || t->emulator_quota || t->vcpupins->len ||
                t->has_emulatorpin))
        return;
    xmlNodePtr c = add_elem(parent, "cputune");
    if (t->has_shares)
        add_uint(c, "shares", t->shares);
    if (t->global_period)
        add_uint(c, "global_period", t->global_period);
    add_quota(c, "global_quota", t->global_quota);
    if (t->period)
        add_uint(c, "period", t->period);
    add_quota(c, "quota", t->quota);
    if (t->emulator_period)
        add_uint(c, "emulator_period", t->emulator_period);
    add_quota(c, "emulator_quota", t->emulator_quota);
    for (guint i = 0; i < t->vcpupins->len; i++) {
        const VmmVcpuPinDef *p = g_ptr_array_index(t->vcpupins, i);
        g_autofree char *s = vmm_cpuset_format(&p->cpus);
        xmlNodePtr e = add_elem(c, "vcpupin");
        set_attrf(e, "vcpu", "%u", p->vcpu);
        set_attr(e, "cpuset", s);
    }
    if (t->has_emulatorpin)
        add_pin(c, "emulatorpin", &t->emulatorpin);
}

/* ------------------------------------------------------------------------ */
/* copy, equality                                                           */

VmmTuneDef *vmm_tune_def_copy(const VmmTuneDef *t)
{
    if (!t)
        return NULL;
    VmmTuneDef *n = tune_new();
    GPtrArray *pins = n->vcpupins, *devs = n->blkio_devices;
    *n = *t;
    n->vcpupins = pins;
    n->blkio_devices = devs;
    g_ptr_array_set_free_func(devs, blkio_device_free);
    for (guint i = 0; i < t->vcpupins->len; i++)
        g_ptr_array_add(pins, g_memdup2(g_ptr_array_index(t->vcpupins, i),
                                        sizeof(VmmVcpuPinDef)));
    for (guint i = 0; i < t->blkio_devices->len; i++) {
        const VmmBlkioDeviceDef *d = g_ptr_array_index(t->blkio_devices, i);
        VmmBlkioDeviceDef *c = g_memdup2(d, sizeof(*d));
        c->path = g_strdup(d->path);
        g_ptr_array_add(devs, c);
    }
    return n;
}

bool vmm_tune_def_equal(const VmmTuneDef *a, const VmmTuneDef *b)
{
    if (a == b)
        return true;
    if (!a || !b)
        return false;
    if (a->shares != b->shares || a->has_shares != b->has_shares ||
        a->global_period != b->global_period || a->period != b->period ||
        a->emulator_period != b->emulator_period || a->global_quota != b->global_quota ||
        a->quota != b->quota || a->emulator_quota != b->emulator_quota ||
        a->has_emulatorpin != b->has_emulatorpin ||
        (a->has_emulatorpin && memcmp(&a->emulatorpin, &b->emulatorpin,
                                      sizeof(a->emulatorpin)) != 0) ||
        a->hard_limit_kib != b->hard_limit_kib || a->soft_limit_kib != b->soft_limit_kib ||
        a->swap_hard_limit_kib != b->swap_hard_limit_kib ||
        a->blkio_weight != b->blkio_weight || a->vcpupins->len != b->vcpupins->len ||
        a->blkio_devices->len != b->blkio_devices->len)
        return false;
    for (guint i = 0; i < a->vcpupins->len; i++)
        if (memcmp(g_ptr_array_index(a->vcpupins, i), g_ptr_array_index(b->vcpupins, i),
                   sizeof(VmmVcpuPinDef)) != 0)
            return false;
    for (guint i = 0; i < a->blkio_devices->len; i++) {
        const VmmBlkioDeviceDef *x = g_ptr_array_index(a->blkio_devices, i);
        const VmmBlkioDeviceDef *y = g_ptr_array_index(b->blkio_devices, i);
        if (strcmp(x->path, y->path) || x->weight != y->weight ||
            x->read_bytes_sec != y->read_bytes_sec || x->write_bytes_sec != y->write_bytes_sec ||
            x->read_iops_sec != y->read_iops_sec || x->write_iops_sec != y->write_iops_sec)
            return false;
    }
    return true;
}

void vmm_tune_def_free(VmmTuneDef *t)
{
    if (!t)
        return;
    g_ptr_array_free(t->vcpupins, TRUE);
    g_ptr_array_free(t->blkio_devices, TRUE);
    g_free(t);
}

/* ------------------------------------------------------------------------ */
/* what applying needs                                                      */

bool vmm_tune_def_needs_cpu(const VmmTuneDef *t)
{
    return t && (t->has_shares || t->global_period || t->global_quota || t->period ||
                 t->quota || t->emulator_period || t->emulator_quota);
}

bool vmm_tune_def_needs_memory(const VmmTuneDef *t)
{
    return t && (t->hard_limit_kib || t->soft_limit_kib || t->swap_hard_limit_kib);
}

bool vmm_tune_def_needs_blkio(const VmmTuneDef *t)
{
    return t && (t->blkio_weight || t->blkio_devices->len);
}

const VmmVcpuPinDef *vmm_tune_def_vcpupin(const VmmTuneDef *t, unsigned vcpu)
{
    for (guint i = 0; t && i < t->vcpupins->len; i++) {
        const VmmVcpuPinDef *p = g_ptr_array_index(t->vcpupins, i);
        if (p->vcpu == vcpu)
            return p;
    }
    return NULL;
}
