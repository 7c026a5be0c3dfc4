#include "conf/cpu_conf.h"

#include <string.h>

#include "conf/conf_parse.h"
#include "vmm/cpu_features.h"

static const char *const modes[] = { "custom", "host-model", "host-passthrough", NULL };
static const char *const checks[] = { "", "none", "partial", "full", NULL };
static const char *const migratables[] = { "", "on", "off", NULL };
static const char *const policies[] = { "force", "require", "optional", "disable", "forbid", NULL };

const char *vmm_cpu_feature_policy_to_string(VmmCpuFeaturePolicy p)
{
    return policies[p];
}

/* A refusal "SOURCE:LINE: message" (cpu errors carry no subject). */
#define cpu_fail(source, node, code, err, ...) \
    conf_fail(&(ParseCtx){ .source = (source) }, node, code, err, __VA_ARGS__)

/* An optional enumerated attribute: *out is its index in `values`, whose
 * entries before `first` ("" = unset) cannot be written. */
static bool choice(const char *source, xmlNodePtr node, const char *name,
                   const char *const *values, int first, int *out, GError **err)
{
    g_autofree char *v = get_attr(node, name);
    int i;
    if (!v)
        return true;
    if (!parse_choice(&(ParseCtx){ .source = source }, node, name, v, values + first, NULL,
                      &i, err))
        return false;
    *out = i + first;
    return true;
}

static bool topo_count(const char *source, xmlNodePtr node, const char *name, bool required,
                       unsigned *out, GError **err)
{
    g_autofree char *v = get_attr(node, name);
    if (!v) {
        if (required)
            return cpu_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                            "<topology> needs attribute '%s'", name);
        *out = 1;
        return true;
    }
    uint64_t n;
    if (!parse_count(v, &n) || n < 1 || n > VMM_MAX_VCPUS) {
        g_autofree char *shown = g_strescape(v, NULL);
        return cpu_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                        "<topology> %s='%s' is not a count from 1 to %d", name, shown,
                        VMM_MAX_VCPUS);
    }
    *out = (unsigned)n;
    return true;
}

static bool parse_topology(const char *source, xmlNodePtr node, unsigned vcpus,
                           VmmCpuDef *cpu, GError **err)
{
    static const char *const allowed[] = { "sockets", "dies", "cores", "threads", NULL };
    const ParseCtx pc = { .source = source };
    if (!check_empty(&pc, node, allowed, err) ||
        !topo_count(source, node, "sockets", true, &cpu->sockets, err) ||
        !topo_count(source, node, "dies", false, &cpu->dies, err) ||
        !topo_count(source, node, "cores", true, &cpu->cores, err) ||
        !topo_count(source, node, "threads", true, &cpu->threads, err))
        return false;
    /* Each factor is at most 255, so the product fits in 64 bits. */
    uint64_t n = (uint64_t)cpu->sockets * cpu->dies * cpu->cores * cpu->threads;
    if (n != vcpus)   /* libvirt's rule: the topology accounts for every vCPU */
        return cpu_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                        "<topology> sockets*dies*cores*threads = %u*%u*%u*%u = %" G_GUINT64_FORMAT
                        " does not match <vcpu> %u",
                        cpu->sockets, cpu->dies, cpu->cores, cpu->threads, n, vcpus);
    return true;
}

static bool parse_feature(const char *source, xmlNodePtr node, VmmCpuDef *cpu, GError **err)
{
    static const char *const allowed[] = { "policy", "name", NULL };
    if (!check_empty(&(ParseCtx){ .source = source }, node, allowed, err))
        return false;
    g_autofree char *name = get_attr(node, "name");
    if (!name)
        return cpu_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                        "<feature> inside <cpu> needs a 'name'");
    g_autofree char *shown = g_strescape(name, NULL);
    if (!vmm_cpu_feature_find(name))
        return cpu_fail(source, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                        "CPU feature '%s' is not known to vmmd (it takes libvirt's x86 "
                        "feature names that CPUID reports, e.g. 'avx', 'sse4.2')", shown);
    for (guint i = 0; i < cpu->features->len; i++)
        if (strcmp(((VmmCpuFeatureDef *)g_ptr_array_index(cpu->features, i))->name, name) == 0)
            return cpu_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                            "CPU feature '%s' is named more than once", shown);
    int policy = VMM_CPU_FEATURE_REQUIRE;   /* libvirt's default for a guest CPU */
    if (!choice(source, node, "policy", policies, 0, &policy, err))
        return false;
    VmmCpuFeatureDef *f = g_new0(VmmCpuFeatureDef, 1);
    f->name = g_steal_pointer(&name);
    f->policy = policy;
    g_ptr_array_add(cpu->features, f);
    return true;
}

static bool parse_children(const char *source, xmlNodePtr node, unsigned vcpus,
                           VmmCpuDef *cpu, GError **err)
{
    xmlNodePtr topology = NULL;
    if (!check_content(&(ParseCtx){ .source = source }, node, err))
        return false;
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        const char *n = (const char *)c->name;
        if (c->ns == NULL && strcmp(n, "model") == 0) {
            xmlChar *v = xmlNodeGetContent(c);
            g_autofree char *model = g_strstrip(g_strdup(v ? (const char *)v : ""));
            xmlFree(v);
            g_autofree char *shown = g_strescape(model, NULL);
            if (!*model)   /* e.g. host-model's <model fallback='allow'/> */
                return cpu_fail(source, c, VMM_CONF_ERROR_UNSUPPORTED, err,
                                "element <cpu>/<model> is not supported: vmmd defines no "
                                "named CPU models and has no fallback to choose");
            return cpu_fail(source, c, VMM_CONF_ERROR_UNSUPPORTED, err,
                            "CPU model '%s' is not supported: vmmd defines no named CPU "
                            "models; use mode='host-passthrough' or mode='host-model'", shown);
        } else if (c->ns == NULL && strcmp(n, "topology") == 0) {
            if (topology)
                return cpu_fail(source, c, VMM_CONF_ERROR_INVALID, err,
                                "<cpu> has more than one <topology>");
            topology = c;
            if (!parse_topology(source, c, vcpus, cpu, err))
                return false;
        } else if (c->ns == NULL && strcmp(n, "feature") == 0) {
            if (!parse_feature(source, c, cpu, err))
                return false;
        } else {
            return cpu_fail(source, c, VMM_CONF_ERROR_UNSUPPORTED, err,
                            "element <cpu>/<%s> is not supported by vmmd", n);
        }
    }
    return true;
}

VmmCpuDef *vmm_cpu_def_parse(const char *source, xmlNodePtr node, unsigned vcpus,
                             GError **err)
{
    static const char *const allowed[] = { "mode", "check", "migratable", NULL };
    g_autoptr(VmmCpuDef) cpu = g_new0(VmmCpuDef, 1);
    cpu->features = g_ptr_array_new_with_free_func(conf_cpu_feature_free);
    if (!check_attrs(&(ParseCtx){ .source = source }, node, allowed, err))
        return NULL;
    g_autofree char *mode = get_attr(node, "mode");
    if (mode && g_str_equal(mode, "maximum"))
        return cpu_fail(source, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                        "<cpu mode='maximum'> is not supported by vmmd (supported: %s)",
                        "custom, host-model, host-passthrough"), NULL;
    int v = VMM_CPU_MODE_CUSTOM;
    if (!choice(source, node, "mode", modes, 0, &v, err))
        return NULL;
    cpu->mode = v;
    cpu->mode_given = mode != NULL;
    v = 0;
    if (!choice(source, node, "check", checks, 1, &v, err))
        return NULL;
    cpu->check = v;
    v = 0;
    if (!choice(source, node, "migratable", migratables, 1, &v, err))
        return NULL;
    cpu->migratable = v;
    if (cpu->migratable && cpu->mode != VMM_CPU_MODE_HOST_PASSTHROUGH)
        return cpu_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                        "attribute 'migratable' on <cpu> is only allowed with "
                        "mode='host-passthrough'"), NULL;
    if (!parse_children(source, node, vcpus, cpu, err))
        return NULL;
    /* libvirt's rule: features modify a model; custom mode without one
     * has nothing to modify. */
    if (cpu->mode == VMM_CPU_MODE_CUSTOM && cpu->features->len)
        return cpu_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                        "<cpu> has <feature> elements but no CPU model; use "
                        "mode='host-passthrough' or mode='host-model'"), NULL;
    return g_steal_pointer(&cpu);
}

void vmm_cpu_def_format(xmlNodePtr parent, const VmmCpuDef *cpu)
{
    xmlNodePtr n = xmlNewChild(parent, NULL, (const xmlChar *)"cpu", NULL);
    if (cpu->mode_given || cpu->mode != VMM_CPU_MODE_CUSTOM)
        xmlNewProp(n, (const xmlChar *)"mode", (const xmlChar *)modes[cpu->mode]);
    if (cpu->check)
        xmlNewProp(n, (const xmlChar *)"check", (const xmlChar *)checks[cpu->check]);
    if (cpu->migratable)
        xmlNewProp(n, (const xmlChar *)"migratable",
                   (const xmlChar *)migratables[cpu->migratable]);
    if (cpu->sockets) {
        xmlNodePtr t = xmlNewChild(n, NULL, (const xmlChar *)"topology", NULL);
        const struct { const char *name; unsigned v; } f[] = {
            { "sockets", cpu->sockets }, { "dies", cpu->dies },
            { "cores", cpu->cores }, { "threads", cpu->threads } };
        for (size_t i = 0; i < G_N_ELEMENTS(f); i++) {
            char buf[16];
            g_snprintf(buf, sizeof(buf), "%u", f[i].v);
            xmlNewProp(t, (const xmlChar *)f[i].name, (const xmlChar *)buf);
        }
    }
    for (guint i = 0; cpu->features && i < cpu->features->len; i++) {
        const VmmCpuFeatureDef *fd = g_ptr_array_index(cpu->features, i);
        xmlNodePtr e = xmlNewChild(n, NULL, (const xmlChar *)"feature", NULL);
        xmlNewProp(e, (const xmlChar *)"policy", (const xmlChar *)policies[fd->policy]);
        xmlNewProp(e, (const xmlChar *)"name", (const xmlChar *)fd->name);
    }
}

VmmCpuDef *vmm_cpu_def_copy(const VmmCpuDef *cpu)
{
    if (!cpu)
        return NULL;
    VmmCpuDef *c = g_memdup2(cpu, sizeof(*cpu));
    c->features = g_ptr_array_new_with_free_func(conf_cpu_feature_free);
    for (guint i = 0; cpu->features && i < cpu->features->len; i++) {
        const VmmCpuFeatureDef *f = g_ptr_array_index(cpu->features, i);
        VmmCpuFeatureDef *n = g_new0(VmmCpuFeatureDef, 1);
        n->name = g_strdup(f->name);
        n->policy = f->policy;
        g_ptr_array_add(c->features, n);
    }
    return c;
}

bool vmm_cpu_def_equal(const VmmCpuDef *a, const VmmCpuDef *b)
{
    if (!a || !b)
        return a == b;
    guint na = a->features ? a->features->len : 0, nb = b->features ? b->features->len : 0;
    if (a->mode != b->mode || a->mode_given != b->mode_given || a->check != b->check ||
        a->migratable != b->migratable || a->sockets != b->sockets || a->dies != b->dies ||
        a->cores != b->cores || a->threads != b->threads || na != nb)
        return false;
    for (guint i = 0; i < na; i++) {
        const VmmCpuFeatureDef *fa = g_ptr_array_index(a->features, i);
        const VmmCpuFeatureDef *fb = g_ptr_array_index(b->features, i);
        if (fa->policy != fb->policy || strcmp(fa->name, fb->name) != 0)
            return false;
    }
    return true;
}
