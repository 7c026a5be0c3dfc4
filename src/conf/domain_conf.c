/* libvirt domain XML -> VmmDomainDef.
 *
 * Strict by design: every element and attribute is checked against the
 * subset vmmd implements, so a setting the user wrote is never silently
 * ignored. Values libvirt knows but vmmd does not implement are
 * VMM_CONF_ERROR_UNSUPPORTED; values libvirt itself would refuse, or that are
 * out of range, are VMM_CONF_ERROR_INVALID.
 *
 * This file reads the domain-level elements; each class of <devices>
 * children is read by its own file through conf_device_classes (below),
 * with the helpers of conf_parse.c. */
#include "conf/domain_conf.h"
#include "conf/conf_parse.h"
#include "conf/xml_read.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/tree.h>

G_DEFINE_QUARK(vmm-conf-error-quark, vmm_conf_error)

#define MIN_MEMORY_KIB 1024ULL             /* 1 MiB */
#define MAX_MEMORY_KIB (16ULL << 30)       /* 16 TiB */

/* ------------------------------------------------------------------------ */
/* sizes                                                                    */

typedef enum { SIZE_OK, SIZE_BAD_NUMBER, SIZE_BAD_UNIT, SIZE_OVERFLOW } SizeResult;

/* libvirt's virScaleInteger: b/byte/bytes; X, XiB = 1024^n; XB = 1000^n. */
static SizeResult unit_scale(const char *unit, uint64_t *scale)
{
    if (!unit || !*unit || g_ascii_strcasecmp(unit, "b") == 0 ||
        g_ascii_strcasecmp(unit, "byte") == 0 ||
        g_ascii_strcasecmp(unit, "bytes") == 0) {
        *scale = 1;
        return SIZE_OK;
    }
    uint64_t base;
    if (unit[1] == '\0' || g_ascii_strcasecmp(unit + 1, "iB") == 0)
        base = 1024;
    else if (g_ascii_tolower(unit[1]) == 'b' && unit[2] == '\0')
        base = 1000;
    else
        return SIZE_BAD_UNIT;
    const char *letters = "kmgtpe";
    const char *p = strchr(letters, g_ascii_tolower(unit[0]));
    if (!p || unit[0] == '\0')
        return SIZE_BAD_UNIT;
    uint64_t s = 1;
    for (long n = p - letters + 1; n > 0; n--)
        s *= base;   /* at most 1024^6 = 2^60: cannot overflow */
    *scale = s;
    return SIZE_OK;
}

static SizeResult parse_size(const char *value, const char *unit,
                             uint64_t *bytes)
{
    uint64_t scale, v;
    SizeResult r = unit_scale(unit, &scale);
    if (r != SIZE_OK)
        return r;
    g_autoptr(GError) e = NULL;
    if (!value || !g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT64, &v, &e))
        return e && g_error_matches(e, G_NUMBER_PARSER_ERROR,
                                    G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS)
            ? SIZE_OVERFLOW : SIZE_BAD_NUMBER;
    if (!g_uint64_checked_mul(bytes, v, scale))
        return SIZE_OVERFLOW;
    return SIZE_OK;
}

bool vmm_conf_parse_size(const char *value, const char *unit, uint64_t *bytes)
{
    uint64_t b;
    if (parse_size(value, unit, &b) != SIZE_OK)
        return false;
    *bytes = b;
    return true;
}

/* <memory>/<currentMemory>: result in KiB, rounded up as libvirt does. */
static bool parse_memory(const ParseCtx *pc, xmlNodePtr node, uint64_t *kib,
                         GError **err)
{
    static const char *const attrs[] = { "unit", NULL };
    g_autofree char *text = NULL;
    if (!check_attrs(pc, node, attrs, err) || !leaf_token(pc, node, &text, err))
        return false;
    g_autofree char *unit = get_attr(node, "unit");
    const char *u = unit ? unit : "KiB";
    const char *el = (const char *)node->name;
    g_autofree char *shown = g_strescape(text, NULL);
    g_autofree char *ushown = g_strescape(u, NULL);
    uint64_t bytes = 0;

    switch (parse_size(text, u, &bytes)) {
    case SIZE_OK:
        break;
    case SIZE_BAD_NUMBER:
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<%s> value '%s' is not a non-negative decimal integer",
                         el, shown);
    case SIZE_BAD_UNIT:
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute 'unit'='%s' on <%s> is invalid (libvirt units: "
                         "b, bytes, KB, k, KiB, MB, M, MiB, GB, G, GiB, TB, T, TiB, "
                         "PB, P, PiB, EB, E, EiB)", ushown, el);
    case SIZE_OVERFLOW:
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<%s> value '%s' %s is too large (does not fit in 64 bits)",
                         el, shown, ushown);
    }
    uint64_t k = bytes / 1024 + (bytes % 1024 != 0);
    if (bytes < MIN_MEMORY_KIB * 1024 || k > MAX_MEMORY_KIB)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<%s> of %s %s is out of range: vmmd supports 1 MiB to 16 TiB",
                         el, shown, ushown);
    *kib = k;
    return true;
}

/* ------------------------------------------------------------------------ */
/* identity                                                                 */

/* ------------------------------------------------------------------------ */
/* os, features, clock, lifecycle                                           */

static bool parse_vcpu(const ParseCtx *pc, xmlNodePtr node, unsigned *out,
                       GError **err)
{
    static const char *const attrs[] = { "placement", "current", NULL };
    static const char *const placements[] = { "static", NULL };
    static const char *const known_placements[] = { "auto", NULL };
    g_autofree char *text = NULL;
    if (!check_attrs(pc, node, attrs, err) || !leaf_token(pc, node, &text, err))
        return false;

    g_autofree char *placement = get_attr(node, "placement");
    int idx;
    if (placement && !parse_choice(pc, node, "placement", placement, placements,
                                   known_placements, &idx, err))
        return false;

    g_autofree char *shown = g_strescape(text, NULL);
    uint64_t n;
    if (!parse_count(text, &n))
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<vcpu> value '%s' is not a number of vCPUs "
                         "(expected an integer from 1 to %d)", shown, VMM_MAX_VCPUS);
    if (n < 1 || n > VMM_MAX_VCPUS)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<vcpu> value '%s' is out of range: vmmd supports 1 to %d vCPUs",
                         shown, VMM_MAX_VCPUS);

    g_autofree char *current = get_attr(node, "current");
    if (current) {
        g_autofree char *cshown = g_strescape(current, NULL);
        uint64_t c;
        if (!parse_count(current, &c))
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "attribute 'current'='%s' on <vcpu> is not a number",
                             cshown);
        if (c != n)
            return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "attribute 'current'='%s' on <vcpu> is not supported: "
                             "vmmd has no vCPU hotplug, so it must equal the vCPU "
                             "count (%" G_GUINT64_FORMAT ")", cshown, n);
    }
    *out = (unsigned)n;
    return true;
}

static bool parse_path_elem(const ParseCtx *pc, xmlNodePtr node, char **out,
                            GError **err)
{
    g_autofree char *text = NULL;
    if (!check_attrs(pc, node, NULL, err) || !leaf_text(pc, node, &text, err))
        return false;
    if (!*text)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<%s> is empty: a file path is expected", node->name);
    *out = g_steal_pointer(&text);
    return true;
}

static bool parse_os(const ParseCtx *pc, xmlNodePtr node, VmmDomainDef *def,
                     GError **err)
{
    enum { OS_TYPE, OS_KERNEL, OS_INITRD, OS_CMDLINE, OS_N };
    static const char *const names[] = { "type", "kernel", "initrd", "cmdline", NULL };
    static const char *const type_attrs[] = { "arch", "machine", NULL };
    static const char *const os_types[] = { "hvm", NULL };
    static const char *const known_os_types[] = { "xen", "linux", "xenpvh", "exe", "uml", NULL };
    static const char *const arches[] = { "x86_64", NULL };
    xmlNodePtr s[OS_N] = { 0 };

    if (!check_attrs(pc, node, NULL, err) || !collect_children(pc, node, names, s, err))
        return false;

    if (!s[OS_TYPE])
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<os> needs a <type>hvm</type> element");
    xmlNodePtr t = s[OS_TYPE];
    g_autofree char *type = NULL;
    int idx;
    if (!check_attrs(pc, t, type_attrs, err) || !leaf_token(pc, t, &type, err) ||
        !parse_choice(pc, t, NULL, type, os_types, known_os_types, &idx, err))
        return false;

    g_autofree char *arch = get_attr(t, "arch");
    if (arch) {
        g_autofree char *shown = g_strescape(arch, NULL);
        if (str_index(arches, arch) < 0)
            return conf_fail(pc, t, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "attribute 'arch'='%s' on <type> is not supported by "
                             "vmmd (supported: x86_64)", shown);
        def->os_arch = g_steal_pointer(&arch);
    } else {
        def->os_arch = g_strdup("x86_64");
    }
    def->os_machine = get_attr(t, "machine");

    if (!s[OS_KERNEL])
        return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                         "<os> has no <kernel>: vmmd boots a kernel directly and "
                         "has no firmware boot, so <kernel> is required");
    if (!parse_path_elem(pc, s[OS_KERNEL], &def->kernel, err))
        return false;
    if (s[OS_INITRD] && !parse_path_elem(pc, s[OS_INITRD], &def->initrd, err))
        return false;
    if (s[OS_CMDLINE] && (!check_attrs(pc, s[OS_CMDLINE], NULL, err) ||
                          !leaf_text(pc, s[OS_CMDLINE], &def->cmdline, err)))
        return false;
    return true;
}

static bool parse_features(const ParseCtx *pc, xmlNodePtr node,
                           VmmDomainDef *def, GError **err)
{
    enum { F_ACPI, F_APIC, F_PAE, F_N };
    static const char *const names[] = { "acpi", "apic", "pae", NULL };
    xmlNodePtr s[F_N] = { 0 };
    if (!check_attrs(pc, node, NULL, err) || !collect_children(pc, node, names, s, err))
        return false;
    for (int i = 0; i < F_N; i++)
        if (s[i] && !check_empty(pc, s[i], NULL, err))
            return false;
    def->acpi = s[F_ACPI] != NULL;
    def->apic = s[F_APIC] != NULL;
    def->pae = s[F_PAE] != NULL;
    return true;
}

static bool parse_clock(const ParseCtx *pc, xmlNodePtr node, VmmDomainDef *def,
                        GError **err)
{
    static const char *const attrs[] = { "offset", NULL };
    static const char *const offsets[] = { "utc", "localtime", NULL };
    static const char *const known[] = { "timezone", "variable", "absolute", NULL };
    if (!check_empty(pc, node, attrs, err))
        return false;
    g_autofree char *offset = get_attr(node, "offset");
    if (!offset)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<clock> needs an 'offset' attribute ('utc' or 'localtime')");
    int idx;
    if (!parse_choice(pc, node, "offset", offset, offsets, known, &idx, err))
        return false;
    def->clock = idx == 0 ? VMM_CLOCK_UTC : VMM_CLOCK_LOCALTIME;
    return true;
}

static bool parse_action(const ParseCtx *pc, xmlNodePtr node,
                         VmmLifecycleAction *out, GError **err)
{
    /* Index order matches VmmLifecycleAction. */
    static const char *const actions[] = { "destroy", "restart", "preserve", NULL };
    static const char *const known_off[] = { "rename-restart", NULL };
    static const char *const known_crash[] = { "rename-restart", "coredump-destroy",
                                               "coredump-restart", NULL };
    g_autofree char *text = NULL;
    int idx;
    if (!check_attrs(pc, node, NULL, err) || !leaf_token(pc, node, &text, err) ||
        !parse_choice(pc, node, NULL, text, actions,
                      name_is(node, "on_crash") ? known_crash : known_off, &idx, err))
        return false;
    *out = (VmmLifecycleAction)idx;
    return true;
}


/* ------------------------------------------------------------------------ */
/* devices                                                                  */

/* Every device class, in libvirt's <devices> order (the order of the
 * output): one entry per file that reads and writes a class. */
const ConfDeviceClass *const conf_device_classes[] = {
    &conf_disk_class,
    &conf_controller_class,
    &conf_net_class,
    &conf_chardev_class,
    &conf_channel_class,
    &conf_memballoon_class,
    &conf_rng_class,
    NULL,
};

static const ConfDeviceClass *device_class_of(xmlNodePtr c)
{
    for (size_t i = 0; conf_device_classes[i]; i++)
        for (const char *const *e = conf_device_classes[i]->elements; *e; e++)
            if (name_is(c, *e))
                return conf_device_classes[i];
    return NULL;
}

static bool parse_devices(const ParseCtx *pc, xmlNodePtr node, VmmDomainDef *def,
                          GError **err)
{
    void *state[G_N_ELEMENTS(conf_device_classes)] = { 0 };
    ConfDevices d = { .pc = pc, .def = def };
    xmlNodePtr emulator = NULL;
    bool ok = false;

    if (!check_attrs(pc, node, NULL, err) || !check_content(pc, node, err))
        return false;
    for (size_t i = 0; conf_device_classes[i]; i++)
        if (conf_device_classes[i]->state_new)
            state[i] = conf_device_classes[i]->state_new();
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (name_is(c, "emulator")) {
            if (emulator) {
                conf_fail(pc, c, VMM_CONF_ERROR_INVALID, err,
                          "element <devices>/<emulator> appears more than once "
                          "(first on line %ld)", line_of(emulator));
                goto out;
            }
            emulator = c;
            if (!parse_path_elem(pc, c, &def->emulator, err))
                goto out;
            continue;
        }
        const ConfDeviceClass *cls = device_class_of(c);
        if (!cls) {
            unsupported_element(pc, c, err);
            goto out;
        }
        size_t k = 0;
        while (conf_device_classes[k] != cls)
            k++;
        if (!cls->parse(&d, state[k], c, err))
            goto out;
    }
    for (size_t i = 0; conf_device_classes[i]; i++)
        if (conf_device_classes[i]->finish &&
            !conf_device_classes[i]->finish(&d, state[i], err))
            goto out;
    ok = true;
out:
    for (size_t i = 0; conf_device_classes[i]; i++)
        if (state[i])
            conf_device_classes[i]->state_free(state[i]);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* the document                                                             */

static bool parse_domain(const ParseCtx *pc, xmlNodePtr root, VmmDomainDef *def,
                         GError **err)
{
    enum { D_NAME, D_UUID, D_TITLE, D_DESC, D_MEMORY, D_CURMEM, D_VCPU, D_OS,
           D_FEATURES, D_CLOCK, D_POWEROFF, D_REBOOT, D_CRASH, D_DEVICES, D_CPU, D_CPUTUNE,
           D_MEMTUNE, D_BLKIOTUNE, D_SECLABEL, D_N };
    static const char *const names[] = {
        "name", "uuid", "title", "description", "memory", "currentMemory",
        "vcpu", "os", "features", "clock", "on_poweroff", "on_reboot",
        "on_crash", "devices", "cpu", "cputune", "memtune", "blkiotune", "seclabel", NULL };
    static const char *const attrs[] = { "type", NULL };
    static const char *const hv_types[] = { "kvm", NULL };
    static const char *const known_hv_types[] = {
        "qemu", "kqemu", "xen", "lxc", "uml", "openvz", "test", "vmware",
        "hyperv", "vbox", "phyp", "vz", "bhyve", "hvf", NULL };
    xmlNodePtr s[D_N] = { 0 };
    int idx;

    if (root->ns && strcmp((const char *)root->name, "domain") == 0)
        return conf_fail(pc, root, VMM_CONF_ERROR_INVALID, err,
                         "<domain> is in XML namespace '%s'; libvirt domain XML "
                         "uses no namespace", (const char *)root->ns->href);
    if (!name_is(root, "domain")) {
        g_autofree char *l = elem_label(root);
        return conf_fail(pc, root, VMM_CONF_ERROR_INVALID, err,
                         "root element is %s; a domain definition starts with <domain>", l);
    }
    if (!check_attrs(pc, root, attrs, err))
        return false;
    g_autofree char *type = get_attr(root, "type");
    if (!type)
        return conf_fail(pc, root, VMM_CONF_ERROR_INVALID, err,
                         "<domain> needs a 'type' attribute (vmmd supports type='kvm')");
    if (!parse_choice(pc, root, "type", type, hv_types, known_hv_types, &idx, err))
        return false;
    if (!collect_children(pc, root, names, s, err))
        return false;

    if (!conf_parse_identity(pc, root, s + D_NAME, &def->name, def->uuid, &def->has_uuid,
                             &def->title, &def->description, err))
        return false;

    /* resources */
    if (!s[D_MEMORY])
        return conf_fail(pc, root, VMM_CONF_ERROR_INVALID, err,
                         "<domain> has no <memory> element");
    if (!parse_memory(pc, s[D_MEMORY], &def->memory_kib, err))
        return false;
    def->current_memory_kib = def->memory_kib;
    if (s[D_CURMEM]) {
        if (!parse_memory(pc, s[D_CURMEM], &def->current_memory_kib, err))
            return false;
        if (def->current_memory_kib > def->memory_kib)
            return conf_fail(pc, s[D_CURMEM], VMM_CONF_ERROR_INVALID, err,
                             "<currentMemory> (%" G_GUINT64_FORMAT " KiB) is larger "
                             "than <memory> (%" G_GUINT64_FORMAT " KiB)",
                             def->current_memory_kib, def->memory_kib);
    }
    def->vcpus = 1;   /* libvirt's default */
    if (s[D_VCPU] && !parse_vcpu(pc, s[D_VCPU], &def->vcpus, err))
        return false;
    if (s[D_CPU] && !(def->cpu = vmm_cpu_def_parse(pc->source, s[D_CPU], def->vcpus, err)))
        return false;
    if (!vmm_tune_def_parse(pc->source, s[D_CPUTUNE], s[D_MEMTUNE], s[D_BLKIOTUNE], def->vcpus,
                            &def->tune, err))
        return false;

    if (!s[D_OS])
        return conf_fail(pc, root, VMM_CONF_ERROR_INVALID, err,
                         "<domain> has no <os> element (vmmd needs <os> with "
                         "<type>hvm</type> and <kernel>)");
    if (!parse_os(pc, s[D_OS], def, err))
        return false;
    if (s[D_FEATURES] && !parse_features(pc, s[D_FEATURES], def, err))
        return false;
    if (s[D_CLOCK] && !parse_clock(pc, s[D_CLOCK], def, err))
        return false;

    def->on_poweroff = VMM_ACTION_DESTROY;
    def->on_reboot = VMM_ACTION_RESTART;
    def->on_crash = VMM_ACTION_DESTROY;
    if (s[D_POWEROFF] && !parse_action(pc, s[D_POWEROFF], &def->on_poweroff, err))
        return false;
    if (s[D_REBOOT] && !parse_action(pc, s[D_REBOOT], &def->on_reboot, err))
        return false;
    if (s[D_CRASH] && !parse_action(pc, s[D_CRASH], &def->on_crash, err))
        return false;

    if (s[D_DEVICES] && !parse_devices(pc, s[D_DEVICES], def, err))
        return false;
    if (s[D_SECLABEL] &&
        !(def->seclabel = vmm_seclabel_def_parse(pc->source, s[D_SECLABEL], err)))
        return false;
    return true;
}

VmmDomainDef *vmm_domain_def_parse_string(const char *xml, size_t len,
                                          const char *source_name, GError **err)
{
    ParseCtx pc = { .source = source_name ? source_name : "domain XML" };
    g_return_val_if_fail(xml != NULL, NULL);

    xmlDocPtr doc = vmm_conf_read_xml(pc.source, xml, len, err);
    if (!doc)
        return NULL;
    g_autoptr(VmmDomainDef) def = g_new0(VmmDomainDef, 1);
    conf_devices_init(def);
    bool ok = parse_domain(&pc, xmlDocGetRootElement(doc), def, err);
    xmlFreeDoc(doc);
    return ok ? g_steal_pointer(&def) : NULL;
}

VmmDomainDef *vmm_domain_def_parse_file(const char *path, GError **err)
{
    size_t len;
    g_autofree char *buf = conf_read_file(path, "domain XML", VMM_DOMAIN_XML_MAX_BYTES, &len,
                                          err);
    return buf ? vmm_domain_def_parse_string(buf, len, path, err) : NULL;
}

void vmm_domain_def_free(VmmDomainDef *def)
{
    if (!def)
        return;
    g_free(def->name);
    g_free(def->title);
    g_free(def->description);
    g_free(def->os_arch);
    g_free(def->os_machine);
    g_free(def->kernel);
    g_free(def->initrd);
    g_free(def->cmdline);
    g_free(def->emulator);
    vmm_cpu_def_free(def->cpu);
    vmm_tune_def_free(def->tune);
    vmm_seclabel_def_free(def->seclabel);
    conf_devices_clear(def);
    g_free(def);
}

const char *vmm_lifecycle_action_to_string(VmmLifecycleAction a)
{
    switch (a) {
    case VMM_ACTION_DESTROY: return "destroy";
    case VMM_ACTION_RESTART: return "restart";
    case VMM_ACTION_PRESERVE: return "preserve";
    }
    return "unknown";
}
