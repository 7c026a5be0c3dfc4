/* libvirt domain XML -> VmmDomainDef.
 *
 * Strict by design: every element and attribute is checked against the
 * subset vmmd implements, so a setting the user wrote is never silently
 * ignored. Values libvirt knows but vmmd does not implement are
 * VMM_CONF_ERROR_UNSUPPORTED; values libvirt itself would refuse, or that are
 * out of range, are VMM_CONF_ERROR_INVALID. */
#include "conf/domain_conf.h"
#include "conf/conf_parse.h"
#include "conf/xml_read.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>
#include <libxml/tree.h>

G_DEFINE_QUARK(vmm-conf-error-quark, vmm_conf_error)

#define MIN_MEMORY_KIB 1024ULL             /* 1 MiB */
#define MAX_MEMORY_KIB (16ULL << 30)       /* 16 TiB */
#define UNIX_PATH_MAX_LEN (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

static const char *subject_of(const ParseCtx *pc)
{
    return pc->subject ? pc->subject : "";
}

/* ------------------------------------------------------------------------ */
/* small helpers                                                            */

long line_of(xmlNodePtr n)
{
    return n ? xmlGetLineNo(n) : 0;
}

bool conf_fail(const ParseCtx *pc, xmlNodePtr node, VmmConfError code,
          GError **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(err, VMM_CONF_ERROR, code, "%s:%ld: %s%s", pc->source,
                line_of(node), subject_of(pc), msg);
    return false;
}

/* "<name>" or "<prefix:name>" for messages. */
char *elem_label(xmlNodePtr n)
{
    if (n->ns && n->ns->prefix)
        return g_strdup_printf("<%s:%s>", n->ns->prefix, n->name);
    return g_strdup_printf("<%s>", n->name);
}

static bool name_is(xmlNodePtr n, const char *name)
{
    return n->ns == NULL && strcmp((const char *)n->name, name) == 0;
}

static int str_index(const char *const *list, const char *s)
{
    for (int i = 0; list && list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return i;
    return -1;
}

bool unsupported_element(const ParseCtx *pc, xmlNodePtr child,
                                GError **err)
{
    g_autofree char *p = elem_label(child->parent);
    g_autofree char *c = elem_label(child);
    return conf_fail(pc, child, VMM_CONF_ERROR_UNSUPPORTED, err,
                     "element %s/%s is not supported by vmmd", p, c);
}

/* Attributes: everything not in `allowed` (NULL-terminated, may be NULL)
 * is unsupported; namespaced attributes are never ours. */
bool check_attrs(const ParseCtx *pc, xmlNodePtr node,
                        const char *const *allowed, GError **err)
{
    for (xmlAttrPtr a = node->properties; a; a = a->next) {
        if (a->ns == NULL && str_index(allowed, (const char *)a->name) >= 0)
            continue;
        g_autofree char *label = elem_label(node);
        xmlChar *v = xmlNodeGetContent((xmlNodePtr)a);
        g_autofree char *shown = g_strescape(v ? (const char *)v : "", NULL);
        xmlFree(v);
        return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                         "attribute '%s%s%s'='%s' on %s is not supported by vmmd",
                         a->ns && a->ns->prefix ? (const char *)a->ns->prefix : "",
                         a->ns && a->ns->prefix ? ":" : "",
                         (const char *)a->name, shown, label);
    }
    return true;
}

char *get_attr(xmlNodePtr node, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(node, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *r = g_strdup((const char *)v);
    xmlFree(v);
    return r;
}

static bool is_blank(const xmlChar *s)
{
    for (; s && *s; s++)
        if (!g_ascii_isspace(*s))
            return false;
    return true;
}

/* Children of a container element: elements, comments, PIs and blank text
 * only. Entity references cannot survive the DTD ban, but are refused here
 * too so nothing unexpanded is ever read as a value. */
static bool check_content(const ParseCtx *pc, xmlNodePtr node, GError **err)
{
    for (xmlNodePtr c = node->children; c; c = c->next) {
        switch (c->type) {
        case XML_ELEMENT_NODE:
        case XML_COMMENT_NODE:
        case XML_PI_NODE:
            break;
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
            if (!is_blank(c->content)) {
                g_autofree char *label = elem_label(node);
                const char *text = (const char *)c->content;
                g_autofree char *t = g_strstrip(g_strndup(text, 40));
                g_autofree char *shown = g_strescape(t, NULL);
                /* libxml2 gives a text node the line where it ends; report
                 * the line of its first non-blank character. */
                long line = line_of(c);
                const char *first = text + strspn(text, " \t\r\n");
                for (const char *p = first; *p; p++)
                    line -= *p == '\n';
                g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                            "%s:%ld: %sunexpected text '%s' in %s", pc->source,
                            line, subject_of(pc), shown, label);
                return false;
            }
            break;
        default: {
            g_autofree char *label = elem_label(node);
            return conf_fail(pc, c, VMM_CONF_ERROR_XML, err,
                             "unexpected XML node (type %d) in %s",
                             (int)c->type, label);
        }
        }
    }
    return true;
}

/* Text of an element that may hold only text. */
static bool leaf_text(const ParseCtx *pc, xmlNodePtr node, char **out,
                      GError **err)
{
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE)
            return unsupported_element(pc, c, err);
        if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE &&
            c->type != XML_COMMENT_NODE && c->type != XML_PI_NODE) {
            g_autofree char *label = elem_label(node);
            return conf_fail(pc, c, VMM_CONF_ERROR_XML, err,
                             "unexpected XML node (type %d) in %s",
                             (int)c->type, label);
        }
    }
    xmlChar *v = xmlNodeGetContent(node);
    *out = g_strdup(v ? (const char *)v : "");
    xmlFree(v);
    return true;
}

/* Leaf text with surrounding whitespace removed (numbers, enumerations:
 * RelaxNG's datatypes collapse whitespace the same way). */
static bool leaf_token(const ParseCtx *pc, xmlNodePtr node, char **out,
                       GError **err)
{
    if (!leaf_text(pc, node, out, err))
        return false;
    g_strstrip(*out);
    return true;
}

/* An element that must be empty, with only `allowed` attributes. */
bool check_empty(const ParseCtx *pc, xmlNodePtr node,
                        const char *const *allowed, GError **err)
{
    if (!check_attrs(pc, node, allowed, err) || !check_content(pc, node, err))
        return false;
    for (xmlNodePtr c = node->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return unsupported_element(pc, c, err);
    return true;
}

/* Sorts element children of `node` into slots by name; each name at most
 * once; any other element is unsupported. */
bool collect_children(const ParseCtx *pc, xmlNodePtr node,
                             const char *const *names, xmlNodePtr *slots,
                             GError **err)
{
    if (!check_content(pc, node, err))
        return false;
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        int i = c->ns ? -1 : str_index(names, (const char *)c->name);
        if (i < 0)
            return unsupported_element(pc, c, err);
        if (slots[i]) {
            g_autofree char *p = elem_label(node);
            g_autofree char *l = elem_label(c);
            return conf_fail(pc, c, VMM_CONF_ERROR_INVALID, err,
                             "element %s/%s appears more than once (first on line %ld)",
                             p, l, line_of(slots[i]));
        }
        slots[i] = c;
    }
    return true;
}

/* An enumerated value. `supported` are the ones vmmd implements (the result
 * is the index there); `known` are further values libvirt accepts, which
 * give UNSUPPORTED; anything else is INVALID. attr NULL = element text. */
bool parse_choice(const ParseCtx *pc, xmlNodePtr node, const char *attr,
                         const char *value, const char *const *supported,
                         const char *const *known, int *out, GError **err)
{
    int i = str_index(supported, value);
    if (i >= 0) {
        *out = i;
        return true;
    }
    g_autofree char *label = elem_label(node);
    g_autofree char *shown = g_strescape(value, NULL);
    g_autofree char *what = attr
        ? g_strdup_printf("attribute '%s'='%s' on %s", attr, shown, label)
        : g_strdup_printf("%s value '%s'", label, shown);
    g_autofree char *sup = g_strjoinv(", ", (char **)supported);
    if (str_index(known, value) >= 0)
        return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                         "%s is not supported by vmmd (supported: %s)",
                         what, sup);
    return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                     "%s is invalid (vmmd supports: %s)", what, sup);
}

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

static bool check_name(const ParseCtx *pc, xmlNodePtr node, const char *name,
                       GError **err)
{
    if (!*name)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<name> is empty");
    glong len = g_utf8_strlen(name, -1);
    if (len > VMM_DOMAIN_NAME_MAX)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<name> is %ld characters long; at most %d are allowed",
                         len, VMM_DOMAIN_NAME_MAX);
    /* The name becomes a file name (domains/NAME.xml, NAME.sock). */
    if (name[0] == '.')
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<name> must not start with '.'");
    if (strchr(name, '/'))
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<name> must not contain '/'");
    bool only_space = true;
    for (const char *p = name; *p; p = g_utf8_next_char(p)) {
        gunichar ch = g_utf8_get_char(p);
        if (g_unichar_iscntrl(ch))
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "<name> must not contain control characters "
                             "(found U+%04X)", (unsigned)ch);
        if (!g_unichar_isspace(ch))
            only_space = false;
    }
    if (only_space)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<name> must not be only whitespace");
    return true;
}

/* libvirt's schema: 32 hex digits, or 8-4-4-4-12 with dashes. */
static bool parse_uuid(const char *s, uint8_t uuid[16])
{
    size_t len = strlen(s);
    if (len != 32 && len != 36)
        return false;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-')
                return false;
            continue;
        }
        if (!g_ascii_isxdigit(s[i]) || !g_ascii_isxdigit(s[i + 1]))
            return false;
        uuid[k++] = (uint8_t)(g_ascii_xdigit_value(s[i]) * 16 +
                              g_ascii_xdigit_value(s[i + 1]));
        i++;
    }
    return k == 16;
}

/* ------------------------------------------------------------------------ */
/* cpu, os, features, clock, lifecycle                                      */

/* A decimal count; a digits-only value too big for 64 bits is taken as
 * G_MAXUINT64 so callers report it as out of range, not as garbage. */
bool parse_count(const char *s, uint64_t *v)
{
    g_autoptr(GError) e = NULL;
    if (g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT64, v, &e))
        return true;
    if (g_error_matches(e, G_NUMBER_PARSER_ERROR, G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS)) {
        *v = G_MAXUINT64;
        return true;
    }
    return false;
}

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
/* serial and console                                                       */

typedef struct {
    xmlNodePtr node;
    VmmChrDef *def;
    bool port_set;
} ChrItem;

static void chr_item_free(gpointer p)
{
    ChrItem *it = p;
    vmm_chr_def_free(it->def);
    g_free(it);
}

static bool parse_chr_source(const ParseCtx *pc, xmlNodePtr chr, xmlNodePtr src,
                             VmmChrDef *def, GError **err)
{
    g_autofree char *label = elem_label(chr);
    const char *tname = vmm_chr_type_to_string(def->type);

    switch (def->type) {
    case VMM_CHR_STDIO:
    case VMM_CHR_PTY:
        if (src)
            return conf_fail(pc, src, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "element %s/<source> is not supported with type='%s'%s",
                             label, tname, def->type == VMM_CHR_PTY
                             ? ": vmmd chooses the pty path when the VM starts" : "");
        return true;
    case VMM_CHR_FILE: {
        static const char *const attrs[] = { "path", "append", NULL };
        static const char *const onoff[] = { "on", "off", NULL };
        if (!src)
            return conf_fail(pc, chr, VMM_CONF_ERROR_INVALID, err,
                             "%s with type='file' needs <source path='...'/>", label);
        if (!check_empty(pc, src, attrs, err))
            return false;
        def->path = get_attr(src, "path");
        if (!def->path || !*def->path)
            return conf_fail(pc, src, VMM_CONF_ERROR_INVALID, err,
                             "<source> of %s with type='file' needs a non-empty "
                             "'path' attribute", label);
        g_autofree char *append = get_attr(src, "append");
        int idx = 1;
        if (append && !parse_choice(pc, src, "append", append, onoff, NULL, &idx, err))
            return false;
        def->append = idx == 0;
        return true;
    }
    case VMM_CHR_UNIX: {
        static const char *const attrs[] = { "mode", "path", NULL };
        static const char *const modes[] = { "bind", "connect", NULL };
        if (!src)
            return conf_fail(pc, chr, VMM_CONF_ERROR_INVALID, err,
                             "%s with type='unix' needs <source mode='bind|connect' "
                             "path='...'/>", label);
        if (!check_empty(pc, src, attrs, err))
            return false;
        g_autofree char *mode = get_attr(src, "mode");
        int idx;
        if (!mode)
            return conf_fail(pc, src, VMM_CONF_ERROR_INVALID, err,
                             "<source> of %s with type='unix' needs a 'mode' "
                             "attribute ('bind' or 'connect')", label);
        if (!parse_choice(pc, src, "mode", mode, modes, NULL, &idx, err))
            return false;
        def->listen = idx == 0;
        def->path = get_attr(src, "path");
        if (!def->path || !*def->path)
            return conf_fail(pc, src, VMM_CONF_ERROR_INVALID, err,
                             "<source> of %s with type='unix' needs a non-empty "
                             "'path' attribute", label);
        if (strlen(def->path) > UNIX_PATH_MAX_LEN)
            return conf_fail(pc, src, VMM_CONF_ERROR_INVALID, err,
                             "unix socket path of %s is %zu bytes long; at most "
                             "%zu fit in a socket address", label,
                             strlen(def->path), (size_t)UNIX_PATH_MAX_LEN);
        return true;
    }
    }
    g_assert_not_reached();
}

static bool parse_chr_target(const ParseCtx *pc, xmlNodePtr tgt, bool console,
                             ChrItem *item, GError **err)
{
    static const char *const attrs[] = { "type", "port", NULL };
    static const char *const names[] = { "model", NULL };
    static const char *const serial_types[] = { "isa-serial", NULL };
    static const char *const known_serial_types[] = {
        "usb-serial", "pci-serial", "spapr-vio-serial", "system-serial",
        "sclp-serial", "isa-debug", NULL };
    static const char *const console_types[] = { "serial", NULL };
    static const char *const known_console_types[] = {
        "xen", "uml", "virtio", "lxc", "openvz", "sclp", "sclplm", NULL };
    static const char *const models[] = { "isa-serial", NULL };
    static const char *const known_models[] = {
        "usb-serial", "pci-serial", "spapr-vty", "pl011", "16550a",
        "sclpconsole", "sclplmconsole", "isa-debugcon", NULL };
    static const char *const model_attrs[] = { "name", NULL };
    int idx;

    if (!check_attrs(pc, tgt, attrs, err))
        return false;
    g_autofree char *type = get_attr(tgt, "type");
    if (type && !parse_choice(pc, tgt, "type", type,
                              console ? console_types : serial_types,
                              console ? known_console_types : known_serial_types,
                              &idx, err))
        return false;

    if (console) {
        if (!check_empty(pc, tgt, attrs, err))
            return false;
    } else {
        xmlNodePtr model = NULL;
        if (!collect_children(pc, tgt, names, &model, err))
            return false;
        if (model) {
            if (!check_empty(pc, model, model_attrs, err))
                return false;
            g_autofree char *mname = get_attr(model, "name");
            if (!mname)
                return conf_fail(pc, model, VMM_CONF_ERROR_INVALID, err,
                                 "<model> needs a 'name' attribute");
            if (!parse_choice(pc, model, "name", mname, models, known_models,
                              &idx, err))
                return false;
        }
    }

    g_autofree char *port = get_attr(tgt, "port");
    if (port) {
        g_autofree char *shown = g_strescape(port, NULL);
        uint64_t p;
        if (!parse_count(port, &p) || p >= VMM_MAX_SERIALS)
            return conf_fail(pc, tgt, VMM_CONF_ERROR_INVALID, err,
                             "attribute 'port'='%s' on <target> is invalid: vmmd "
                             "has serial ports 0 to %d (COM1 to COM%d)",
                             shown, VMM_MAX_SERIALS - 1, VMM_MAX_SERIALS);
        item->def->port = (unsigned)p;
        item->port_set = true;
    }
    return true;
}

static bool parse_chr(const ParseCtx *pc, xmlNodePtr node, bool console,
                      ChrItem **out, GError **err)
{
    static const char *const attrs[] = { "type", NULL };
    static const char *const names[] = { "source", "target", NULL };
    /* Index order matches VmmChrType. */
    static const char *const types[] = { "stdio", "file", "pty", "unix", NULL };
    static const char *const known_types[] = {
        "dev", "pipe", "tcp", "udp", "null", "vc", "spicevmc", "spiceport",
        "nmdm", "qemu-vdagent", "dbus", NULL };
    xmlNodePtr s[2] = { 0 };
    g_autoptr(VmmChrDef) def = g_new0(VmmChrDef, 1);
    int idx;

    if (!check_attrs(pc, node, attrs, err) || !collect_children(pc, node, names, s, err))
        return false;
    /* libvirt's default when type is missing. */
    g_autofree char *type = get_attr(node, "type");
    if (!parse_choice(pc, node, "type", type ? type : "pty", types, known_types,
                      &idx, err))
        return false;
    def->type = (VmmChrType)idx;
    if (!parse_chr_source(pc, node, s[0], def, err))
        return false;

    ChrItem *item = g_new0(ChrItem, 1);
    item->node = node;
    item->def = g_steal_pointer(&def);
    if (s[1] && !parse_chr_target(pc, s[1], console, item, err)) {
        chr_item_free(item);
        return false;
    }
    *out = item;
    return true;
}

static bool chr_source_equal(const VmmChrDef *a, const VmmChrDef *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case VMM_CHR_FILE:
        return g_strcmp0(a->path, b->path) == 0 && a->append == b->append;
    case VMM_CHR_UNIX:
        return g_strcmp0(a->path, b->path) == 0 && a->listen == b->listen;
    default:
        return true;
    }
}

static gint chr_cmp_port(gconstpointer a, gconstpointer b)
{
    const VmmChrDef *x = *(VmmChrDef *const *)a, *y = *(VmmChrDef *const *)b;
    return x->port < y->port ? -1 : x->port > y->port;
}

/* Port assignment and console resolution, after all elements are read
 * (libvirt does this in post-parse too, so document order of explicit
 * ports does not matter). */
static bool resolve_serials(const ParseCtx *pc, GPtrArray *serials,
                            ChrItem **consolep, VmmDomainDef *def, GError **err)
{
    ChrItem *console = *consolep;
    xmlNodePtr used[VMM_MAX_SERIALS] = { 0 };
    int maxport = -1;

    for (guint i = 0; i < serials->len; i++) {
        ChrItem *it = serials->pdata[i];
        if (!it->port_set)
            continue;
        unsigned p = it->def->port;
        if (used[p])
            return conf_fail(pc, it->node, VMM_CONF_ERROR_INVALID, err,
                             "serial port %u is defined twice (first on line %ld)",
                             p, line_of(used[p]));
        used[p] = it->node;
        maxport = MAX(maxport, (int)p);
    }
    /* libvirt's rule for a missing port: one past the highest in use. */
    for (guint i = 0; i < serials->len; i++) {
        ChrItem *it = serials->pdata[i];
        if (it->port_set)
            continue;
        if (maxport + 1 >= VMM_MAX_SERIALS)
            return conf_fail(pc, it->node, VMM_CONF_ERROR_INVALID, err,
                             "no serial port left for this <serial>: vmmd has "
                             "ports 0 to %d and gives a <serial> without <target "
                             "port=...> the port after the highest one in use",
                             VMM_MAX_SERIALS - 1);
        it->def->port = (unsigned)++maxport;
        it->port_set = true;
        used[it->def->port] = it->node;
    }

    if (console) {
        ChrItem *target = NULL;
        if (console->port_set) {
            for (guint i = 0; i < serials->len && !target; i++) {
                ChrItem *it = serials->pdata[i];
                if (it->def->port == console->def->port)
                    target = it;
            }
        } else if (serials->len > 0) {
            /* libvirt: the first console aliases the first serial. */
            target = serials->pdata[0];
        }
        if (target) {
            if (!chr_source_equal(console->def, target->def))
                return conf_fail(pc, console->node, VMM_CONF_ERROR_INVALID, err,
                                 "<console> refers to serial port %u (<serial> on "
                                 "line %ld) but its type or <source> differs; make "
                                 "them identical or drop one of them",
                                 target->def->port, line_of(target->node));
        } else {
            console->def->port = console->port_set ? console->def->port : 0;
            g_ptr_array_add(serials, console);
            *consolep = NULL;  /* now owned by serials */
        }
    }

    for (guint i = 0; i < serials->len; i++) {
        ChrItem *it = serials->pdata[i];
        g_ptr_array_add(def->serials, g_steal_pointer(&it->def));
    }
    g_ptr_array_sort(def->serials, chr_cmp_port);
    return true;
}

/* ------------------------------------------------------------------------ */
/* disks                                                                    */

#define DISK_SERIAL_CHARS \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_ .+-"
#define ALNUM_CHARS \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* What the <disk> elements read so far have claimed. Keys are borrowed from
 * the VmmDiskDefs in def->disks. */
typedef struct {
    xmlNodePtr source;
    const VmmDiskDef *disk;
} DiskUse;

typedef struct {
    GHashTable *targets;   /* target dev -> its <target> node */
    GHashTable *paths;     /* source path -> DiskUse* */
} DiskSeen;

/* libvirt's disk name prefixes (virDiskNameParse). */
static const char *disk_name_prefix(const char *dev)
{
    static const char *const prefixes[] = { "fd", "hd", "sd", "vd", "xvd", "ubd", NULL };
    for (int i = 0; prefixes[i]; i++)
        if (g_str_has_prefix(dev, prefixes[i]))
            return prefixes[i];
    return NULL;
}

/* libvirt's schema (diskTargetDev):
 * (ioemu:)?(fd|hd|sd|vd|xvd|ubd)[a-zA-Z0-9_]+ */
static bool target_dev_valid(const char *dev)
{
    if (g_str_has_prefix(dev, "ioemu:"))
        dev += strlen("ioemu:");
    const char *prefix = disk_name_prefix(dev);
    if (!prefix)
        return false;
    const char *rest = dev + strlen(prefix);
    return *rest && strspn(rest, ALNUM_CHARS "_") == strlen(rest);
}

/* libvirt's bus for a <target> without bus= (virDomainDiskDefPostParse):
 * from the name, after dropping the old "ioemu:" prefix; IDE otherwise. */
static const char *bus_from_target_dev(const char *dev)
{
    static const char *const map[][2] = {
        { "hd", "ide" }, { "sd", "scsi" }, { "vd", "virtio" }, { "xvd", "xen" },
        { "ubd", "uml" },
    };
    if (g_str_has_prefix(dev, "ioemu:"))
        dev += strlen("ioemu:");
    for (size_t i = 0; i < G_N_ELEMENTS(map); i++)
        if (g_str_has_prefix(dev, map[i][0]))
            return map[i][1];
    return "ide";
}

/* vmmd's names for virtio disks: vd[a-z]+, the names Linux gives them. */
static bool virtio_dev_name_ok(const char *dev)
{
    if (!g_str_has_prefix(dev, "vd") || !dev[2])
        return false;
    return strspn(dev + 2, "abcdefghijklmnopqrstuvwxyz") == strlen(dev + 2);
}

/* "disk vda: " for messages about a <disk>, from its first <target dev>
 * when that is a plausible name (it is validated later); NULL otherwise. */
static char *disk_subject(xmlNodePtr disk)
{
    for (xmlNodePtr c = disk->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !name_is(c, "target"))
            continue;
        g_autofree char *dev = get_attr(c, "dev");
        if (!dev || !*dev || strlen(dev) > 32 ||
            strspn(dev, ALNUM_CHARS "_:") != strlen(dev))
            return NULL;
        return g_strdup_printf("disk %s: ", dev);
    }
    return NULL;
}

static bool parse_disk_target(const ParseCtx *pc, xmlNodePtr node,
                              VmmDiskDef *disk, GError **err)
{
    static const char *const attrs[] = { "dev", "bus", NULL };
    static const char *const buses[] = { "virtio", NULL };
    static const char *const known_buses[] = {
        "ide", "fdc", "scsi", "xen", "usb", "uml", "sata", "sd", NULL };
    int idx;

    if (!check_empty(pc, node, attrs, err))
        return false;
    g_autofree char *dev = get_attr(node, "dev");
    if (!dev)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<target> needs a 'dev' attribute (e.g. dev='vda')");
    g_autofree char *shown = g_strescape(dev, NULL);
    if (!target_dev_valid(dev))
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "target dev '%s' is invalid: libvirt's disk names are fd, "
                         "hd, sd, vd, xvd or ubd followed by letters, digits or '_'",
                         shown);
    if (g_str_has_prefix(dev, "fd") || g_str_has_prefix(dev, "ioemu:fd"))
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "target dev '%s' is a floppy name, which libvirt refuses "
                         "for device='disk' (use vda, vdb, ...)", shown);

    g_autofree char *bus = get_attr(node, "bus");
    if (bus) {
        if (!parse_choice(pc, node, "bus", bus, buses, known_buses, &idx, err))
            return false;
    } else {
        const char *derived = bus_from_target_dev(dev);
        if (strcmp(derived, "virtio") != 0)
            return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "target dev '%s' without bus= means bus '%s' (libvirt "
                             "derives the bus from the name), which vmmd does not "
                             "support (supported: virtio, named vda, vdb, ...)",
                             shown, derived);
    }
    if (!virtio_dev_name_ok(dev))
        return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                         "target dev '%s' is not supported: vmmd names virtio disks "
                         "'vd' followed by lowercase letters (vda ... vdz, vdaa, ...)",
                         shown);
    disk->bus = VMM_DISK_BUS_VIRTIO;
    disk->target_dev = g_steal_pointer(&dev);
    return true;
}

/* libvirt's schema wants an absolute path (absFilePath: "/" and at least one
 * more character, no line break). */
static bool check_disk_path(const ParseCtx *pc, xmlNodePtr node, const char *attr,
                            const char *path, GError **err)
{
    g_autofree char *shown = g_strescape(path, NULL);
    size_t len = strlen(path);

    if (len == 0)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute '%s' on <source> is empty: an absolute path "
                         "is expected", attr);
    if (path[0] != '/')
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute '%s'='%s' on <source> is not an absolute path "
                         "(libvirt requires one)", attr, shown);
    if (len == 1)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute '%s'='/' on <source> names the root directory, "
                         "not a disk image", attr);
    if (strpbrk(path, "\r\n"))
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute '%s'='%s' on <source> contains a line break",
                         attr, shown);
    if (len >= PATH_MAX)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute '%s' on <source> is %zu bytes long; a path has "
                         "at most %d", attr, len, PATH_MAX - 1);
    return true;
}

static bool parse_disk_source(const ParseCtx *pc, xmlNodePtr disk_node,
                              xmlNodePtr src, VmmDiskDef *disk, GError **err)
{
    bool file = disk->type == VMM_DISK_FILE;
    const char *attr = file ? "file" : "dev";
    const char *other = file ? "dev" : "file";
    const char *tname = file ? "file" : "block";
    const char *const attrs[] = { attr, NULL };

    if (!src)
        return conf_fail(pc, disk_node, VMM_CONF_ERROR_INVALID, err,
                         "<disk type='%s'> needs <source %s='/absolute/path'/>",
                         tname, attr);
    if (xmlHasNsProp(src, (const xmlChar *)other, NULL))
        return conf_fail(pc, src, VMM_CONF_ERROR_INVALID, err,
                         "<source %s=...> is for <disk type='%s'>; a <disk type='%s'> "
                         "takes <source %s='...'/>", other, file ? "block" : "file",
                         tname, attr);
    if (!check_empty(pc, src, attrs, err))
        return false;
    g_autofree char *path = get_attr(src, attr);
    if (!path)
        return conf_fail(pc, src, VMM_CONF_ERROR_INVALID, err,
                         "<source> of <disk type='%s'> needs a '%s' attribute",
                         tname, attr);
    if (!check_disk_path(pc, src, attr, path, err))
        return false;
    disk->path = g_steal_pointer(&path);
    return true;
}

static bool parse_disk_driver(const ParseCtx *pc, xmlNodePtr node,
                              VmmDiskDef *disk, GError **err)
{
    static const char *const attrs[] = {
        "name", "type", "cache", "io", "discard", "queues", NULL };
    /* libvirt's cache values; 'default' is the hypervisor's, writeback */
    static const char *const caches[] = {
        "default", "none", "writethrough", "writeback", "directsync", "unsafe", NULL };
    static const VmmCacheMode cache_modes[] = {
        VMM_CACHE_WRITEBACK, VMM_CACHE_NONE, VMM_CACHE_WRITETHROUGH,
        VMM_CACHE_WRITEBACK, VMM_CACHE_DIRECTSYNC, VMM_CACHE_UNSAFE };
    static const char *const ios[] = { "threads", "native", "io_uring", NULL };
    static const VmmIoMode io_modes[] = { VMM_IO_THREADS, VMM_IO_NATIVE, VMM_IO_URING };
    static const char *const discards[] = { "ignore", "unmap", NULL };
    static const VmmDiscardMode discard_modes[] = { VMM_DISCARD_IGNORE, VMM_DISCARD_UNMAP };
    /* libvirt's storageFormat values other than raw */
    static const char *const formats[] = {
        "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd", "ploop",
        "luks", "cow", "qcow", "qcow2", "qed", "vmdk", NULL };
    int idx;

    if (!check_empty(pc, node, attrs, err))
        return false;

    g_autofree char *name = get_attr(node, "name");
    if (name && strcmp(name, "qemu") != 0) {
        g_autofree char *shown = g_strescape(name, NULL);
        /* any libvirt genericName is a driver some hypervisor may have */
        if (*name && strspn(name, ALNUM_CHARS "_+-") == strlen(name))
            return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "attribute 'name'='%s' on <driver> is not supported by "
                             "vmmd (supported: qemu; libvirt names the hypervisor's "
                             "disk driver there, and vmmd stands in for QEMU)", shown);
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute 'name'='%s' on <driver> is invalid (vmmd "
                         "supports: qemu)", shown);
    }

    /* 'aio' is libvirt's old spelling of raw (its schema says so). */
    g_autofree char *type = get_attr(node, "type");
    if (type && strcmp(type, "raw") != 0 && strcmp(type, "aio") != 0) {
        g_autofree char *shown = g_strescape(type, NULL);
        if (str_index(formats, type) >= 0)
            return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "driver type '%s' is not supported (only raw)", shown);
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "driver type '%s' is not a disk format libvirt knows "
                         "(vmmd supports only raw)", shown);
    }

    g_autofree char *cache = get_attr(node, "cache");
    if (cache) {
        if (!parse_choice(pc, node, "cache", cache, caches, NULL, &idx, err))
            return false;
        disk->cache = cache_modes[idx];
    }
    g_autofree char *io = get_attr(node, "io");
    if (io && strcmp(io, "default") == 0)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute 'io'='default' on <driver> is invalid: libvirt's "
                         "schema has no io='default'; leave io out for the default "
                         "(threads)");
    if (io) {
        if (!parse_choice(pc, node, "io", io, ios, NULL, &idx, err))
            return false;
        disk->io = io_modes[idx];
    }
    g_autofree char *discard = get_attr(node, "discard");
    if (discard) {
        if (!parse_choice(pc, node, "discard", discard, discards, NULL, &idx, err))
            return false;
        disk->discard = discard_modes[idx];
    }

    g_autofree char *queues = get_attr(node, "queues");
    if (queues) {
        g_autofree char *shown = g_strescape(queues, NULL);
        uint64_t q;
        if (!parse_count(queues, &q))
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "attribute 'queues'='%s' on <driver> is not a number "
                             "of queues", shown);
        if (q < 1 || q > VMM_MAX_DISK_QUEUES)
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "attribute 'queues'='%s' on <driver> is out of range: "
                             "vmmd supports 1 to %d queues (leave queues out for one "
                             "per vCPU)", shown, VMM_MAX_DISK_QUEUES);
        disk->queues = (unsigned)q;
    }

    /* libvirt's rule (Linux AIO is only asynchronous with O_DIRECT). */
    if (disk->io == VMM_IO_NATIVE && disk->cache != VMM_CACHE_NONE &&
        disk->cache != VMM_CACHE_DIRECTSYNC) {
        g_autofree char *have = cache
            ? g_strdup_printf("cache='%s'", cache)
            : g_strdup("no cache attribute, which means writeback");
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "native I/O needs either no disk cache or directsync cache "
                         "mode: io='native' takes cache='none' or cache='directsync' "
                         "(this <driver> has %s)", have);
    }
    return true;
}

static bool parse_disk_serial(const ParseCtx *pc, xmlNodePtr node,
                              VmmDiskDef *disk, GError **err)
{
    g_autofree char *text = NULL;
    if (!check_attrs(pc, node, NULL, err) || !leaf_text(pc, node, &text, err))
        return false;
    g_autofree char *shown = g_strescape(text, NULL);
    size_t len = strlen(text);
    if (len == 0)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<serial> is empty (libvirt wants at least one of A-Z a-z "
                         "0-9 _ . + - and space)");
    if (strspn(text, DISK_SERIAL_CHARS) != len)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<serial> '%s' has a character libvirt does not allow "
                         "(allowed: A-Z a-z 0-9 _ . + - and space)", shown);
    if (len > VMM_DISK_SERIAL_MAX)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<serial> '%s' is %zu bytes long; a virtio-blk serial has "
                         "at most %d bytes", shown, len, VMM_DISK_SERIAL_MAX);
    disk->serial = g_steal_pointer(&text);
    return true;
}

/* A PCI address field as libvirt and its schema both read it: "0x" and at
 * most hex_digits hex digits, or decimal. A leading 0 is refused: libvirt
 * reads it as octal, the schema as decimal. */
static bool parse_pci_field(const char *s, size_t hex_digits, uint64_t *v)
{
    if (g_str_has_prefix(s, "0x")) {
        const char *h = s + 2;
        size_t n = strlen(h);
        if (n == 0 || n > hex_digits || strspn(h, "0123456789abcdefABCDEF") != n)
            return false;
        *v = g_ascii_strtoull(h, NULL, 16);
        return true;
    }
    if (!*s || (s[0] == '0' && s[1]) || strspn(s, "0123456789") != strlen(s))
        return false;
    return parse_count(s, v);
}

/* <address type='pci'/> on bus 0000:00, function 0. *slot is -1 when slot=
 * is left out (vmmd assigns one); pci_slots[] records the slots taken, with
 * the <address> that took each. */
bool parse_pci_address(const ParseCtx *pc, xmlNodePtr node,
                              xmlNodePtr *pci_slots, int *slot, GError **err)
{
    static const char *const attrs[] = {
        "type", "domain", "bus", "slot", "function", NULL };
    static const char *const types[] = { "pci", NULL };
    static const char *const known_types[] = {
        "drive", "virtio-serial", "ccid", "usb", "spapr-vio", "ccw", "isa",
        "virtio-mmio", "dimm", "unassigned", NULL };
    /* digits and maxima from libvirt's schema (uint32, uint8, pciSlot, pciFunc) */
    enum { A_DOMAIN, A_BUS, A_SLOT, A_FUNCTION, A_N };
    static const struct { const char *name; size_t hex_digits; uint64_t max; } f[A_N] = {
        { "domain", 8, G_MAXUINT32 }, { "bus", 2, 0xff }, { "slot", 2, 0x1f },
        { "function", 1, 7 },
    };
    uint64_t v[A_N] = { 0 };
    bool has[A_N] = { 0 };
    int idx;

    g_autofree char *type = get_attr(node, "type");
    if (!type)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<address> needs a 'type' attribute (vmmd supports type='pci')");
    if (!parse_choice(pc, node, "type", type, types, known_types, &idx, err) ||
        !check_empty(pc, node, attrs, err))
        return false;
    for (int i = 0; i < A_N; i++) {
        g_autofree char *text = get_attr(node, f[i].name);
        if (!text)
            continue;
        has[i] = true;
        g_autofree char *shown = g_strescape(text, NULL);
        if (!parse_pci_field(text, f[i].hex_digits, &v[i]))
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "attribute '%s'='%s' on <address> is not a number: write "
                             "0x and at most %zu hex digit%s, or decimal without "
                             "leading zeros (libvirt reads a leading 0 as octal)",
                             f[i].name, shown, f[i].hex_digits,
                             f[i].hex_digits == 1 ? "" : "s");
        if (v[i] > f[i].max)
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "attribute '%s'='%s' on <address> is out of range "
                             "(at most 0x%" G_GINT64_MODIFIER "x)", f[i].name, shown,
                             f[i].max);
        if (i == A_DOMAIN || i == A_BUS) {
            if (v[i] != 0)
                return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                                 "attribute '%s'='%s' on <address> is not supported by "
                                 "vmmd: it has one PCI bus, domain 0 bus 0", f[i].name,
                                 shown);
        } else if (i == A_FUNCTION) {
            if (v[i] != 0)
                return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                                 "attribute 'function'='%s' on <address> is not supported "
                                 "by vmmd: it has no multifunction devices (function 0 "
                                 "only)", shown);
        } else if (v[i] == 0) {
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "attribute 'slot'='%s' on <address> is invalid: slot 0 is "
                             "the PCI host bridge (use 1 to 31, or leave slot out and "
                             "vmmd chooses)", shown);
        }
    }
    if (!has[A_SLOT]) {
        *slot = -1;
        return true;
    }
    unsigned s = (unsigned)v[A_SLOT];
    if (pci_slots[s])
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "PCI slot 0x%02x is used twice (first on line %ld)", s,
                         line_of(pci_slots[s]));
    pci_slots[s] = node;
    *slot = (int)s;
    return true;
}

/* <disk type='vhostuser'>: the back end process is the disk (libvirt:
 * "almost all of the disk properties can't be configured"), so only
 * <source type='unix' path>, <driver name='qemu' type='raw' queues>,
 * <target> and <address> mean anything; the rest is refused by name.
 * s[] is parse_disk's children: driver, source, target, readonly,
 * shareable, serial, ... */
static bool parse_disk_vhostuser(const ParseCtx *pc, xmlNodePtr node, xmlNodePtr *s,
                                 VmmDiskDef *disk, GError **err)
{
    static const char *const src_attrs[] = { "type", "path", NULL };
    static const char *const src_children[] = { "reconnect", NULL };
    static const char *const rc_attrs[] = { "enabled", "timeout", NULL };
    static const char *const drv_attrs[] = { "name", "type", "queues", NULL };
    xmlNodePtr src = s[1], rc[1] = { 0 };
    if (!src)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err, "<disk type='vhostuser'> "
                         "needs <source type='unix' path='/absolute/socket'/>");
    g_autofree char *type = get_attr(src, "type");
    if (!type || strcmp(type, "unix") != 0)
        return conf_fail(pc, src, VMM_CONF_ERROR_INVALID, err, "<source> of <disk "
                         "type='vhostuser'> needs type='unix' (the only type libvirt has)");
    if (!check_attrs(pc, src, src_attrs, err) ||
        !collect_children(pc, src, src_children, rc, err))
        return false;
    g_autofree char *path = get_attr(src, "path");
    if (!path)
        return conf_fail(pc, src, VMM_CONF_ERROR_INVALID, err,
                         "<source> of <disk type='vhostuser'> needs a 'path' attribute");
    if (!check_disk_path(pc, src, "path", path, err))
        return false;
    if (rc[0]) {
        if (!check_empty(pc, rc[0], rc_attrs, err))
            return false;
        g_autofree char *en = get_attr(rc[0], "enabled");
        if (!en || (strcmp(en, "yes") != 0 && strcmp(en, "no") != 0))
            return conf_fail(pc, rc[0], VMM_CONF_ERROR_INVALID, err,
                             "<reconnect> needs enabled='yes' or enabled='no'");
        g_autofree char *to = get_attr(rc[0], "timeout");
        uint64_t t = 0;
        /* libvirt: enabled='yes' needs a timeout (seconds between attempts) */
        if (strcmp(en, "yes") == 0 && (!to || !parse_count(to, &t) || t < 1 || t > 3600))
            return conf_fail(pc, rc[0], VMM_CONF_ERROR_INVALID, err,
                             "<reconnect enabled='yes'> needs timeout='N', the seconds "
                             "between reconnection attempts (1 to 3600)");
        disk->reconnect = (unsigned)t;
    }
    for (xmlAttrPtr a = s[0] ? s[0]->properties : NULL; a; a = a->next)
        if (!g_strv_contains(drv_attrs, (const char *)a->name))
            return conf_fail(pc, s[0], VMM_CONF_ERROR_UNSUPPORTED, err,
                             "attribute '%s' on <driver> is not supported for <disk "
                             "type='vhostuser'>: the back end does its own caching and "
                             "I/O (allowed: name, type, queues)", (const char *)a->name);
    const char *const refused[][2] = {
        { "readonly", "the back end decides whether the disk is writable" },
        { "shareable", "the back end decides who shares the image" },
        { "serial", "the back end answers the serial number" },
    };
    for (int i = 0; i < 3; i++)
        if (s[3 + i])
            return conf_fail(pc, s[3 + i], VMM_CONF_ERROR_UNSUPPORTED, err,
                             "element <disk>/<%s> is not supported for <disk "
                             "type='vhostuser'>: %s", refused[i][0], refused[i][1]);
    disk->path = g_steal_pointer(&path);
    return true;
}

static bool parse_disk(const ParseCtx *outer, xmlNodePtr node, DiskSeen *seen,
                       xmlNodePtr *pci_slots, VmmDomainDef *def, GError **err)
{
    enum { K_DRIVER, K_SOURCE, K_TARGET, K_READONLY, K_SHAREABLE, K_SERIAL,
           K_BOOT, K_ALIAS, K_ADDRESS, K_N };
    static const char *const names[] = {
        "driver", "source", "target", "readonly", "shareable", "serial", "boot",
        "alias", "address", NULL };
    static const char *const attrs[] = { "type", "device", NULL };
    /* Index order matches VmmDiskSourceType. */
    static const char *const types[] = { "file", "block", "vhostuser", NULL };
    static const char *const known_types[] = {
        "network", "dir", "volume", "nvme", NULL };
    static const char *const devices[] = { "disk", NULL };
    static const char *const known_devices[] = { "cdrom", "floppy", "lun", NULL };
    xmlNodePtr s[K_N] = { 0 };
    int idx;

    g_autofree char *subject = disk_subject(node);
    ParseCtx ctx = *outer;
    ctx.subject = subject;
    const ParseCtx *pc = &ctx;

    g_autoptr(VmmDiskDef) disk = g_new0(VmmDiskDef, 1);
    disk->pci_slot = -1;   /* cache, io, discard: zero is the default */

    if (!check_attrs(pc, node, attrs, err))
        return false;
    /* libvirt's defaults: type='file', device='disk' */
    g_autofree char *type = get_attr(node, "type");
    if (!parse_choice(pc, node, "type", type ? type : "file", types, known_types,
                      &idx, err))
        return false;
    disk->type = (VmmDiskSourceType)idx;
    g_autofree char *device = get_attr(node, "device");
    if (device && !parse_choice(pc, node, "device", device, devices, known_devices,
                                &idx, err))
        return false;
    if (!collect_children(pc, node, names, s, err))
        return false;

    if (!s[K_TARGET])
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<disk> needs a <target dev='vdX'/> element");
    if (!parse_disk_target(pc, s[K_TARGET], disk, err) ||
        (disk->type == VMM_DISK_VHOSTUSER
         ? !parse_disk_vhostuser(pc, node, s, disk, err)
         : !parse_disk_source(pc, node, s[K_SOURCE], disk, err)) ||
        (s[K_DRIVER] && !parse_disk_driver(pc, s[K_DRIVER], disk, err)))
        return false;
    if (s[K_READONLY]) {
        if (!check_empty(pc, s[K_READONLY], NULL, err))
            return false;
        disk->readonly = true;
    }
    if (s[K_SHAREABLE])
        return conf_fail(pc, s[K_SHAREABLE], VMM_CONF_ERROR_UNSUPPORTED, err,
                         "element <disk>/<shareable> is not supported by vmmd (disks "
                         "may share an image only when all of them are <readonly/>)");
    if (s[K_SERIAL] && !parse_disk_serial(pc, s[K_SERIAL], disk, err))
        return false;
    if (s[K_BOOT])
        return conf_fail(pc, s[K_BOOT], VMM_CONF_ERROR_UNSUPPORTED, err,
                         "element <disk>/<boot> is not supported by vmmd: it boots "
                         "the <kernel> in <os> directly and has no boot order");
    if (s[K_ALIAS])
        return unsupported_element(pc, s[K_ALIAS], err);
    if (s[K_ADDRESS] &&
        !parse_pci_address(pc, s[K_ADDRESS], pci_slots, &disk->pci_slot, err))
        return false;

    xmlNodePtr first = g_hash_table_lookup(seen->targets, disk->target_dev);
    if (first)
        return conf_fail(pc, s[K_TARGET], VMM_CONF_ERROR_INVALID, err,
                         "target dev '%s' is used by two disks (first on line %ld)",
                         disk->target_dev, line_of(first));
    /* Two writers on one image corrupt it (QEMU's image locking refuses
     * this too); readers may share. */
    DiskUse *use = g_hash_table_lookup(seen->paths, disk->path);
    if (use && !(use->disk->readonly && disk->readonly)) {
        g_autofree char *shown = g_strescape(disk->path, NULL);
        return conf_fail(pc, s[K_SOURCE], VMM_CONF_ERROR_INVALID, err,
                         "'%s' is also the source of disk %s (line %ld); disks may "
                         "share an image only when all of them are <readonly/>",
                         shown, use->disk->target_dev, line_of(use->source));
    }

    VmmDiskDef *d = g_steal_pointer(&disk);
    g_ptr_array_add(def->disks, d);
    g_hash_table_insert(seen->targets, d->target_dev, s[K_TARGET]);
    if (!use) {
        use = g_new0(DiskUse, 1);
        use->source = s[K_SOURCE];
        use->disk = d;
        g_hash_table_insert(seen->paths, d->path, use);
    }
    return true;
}

static bool parse_devices(const ParseCtx *pc, xmlNodePtr node, VmmDomainDef *def,
                          GError **err)
{
    g_autoptr(GPtrArray) serials = g_ptr_array_new_with_free_func(chr_item_free);
    ChrItem *console = NULL;
    xmlNodePtr emulator = NULL;
    xmlNodePtr pci_slots[PCI_SLOTS] = { 0 };   /* <address> holding each slot */
    DiskSeen disks = {
        .targets = g_hash_table_new(g_str_hash, g_str_equal),
        .paths = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free),
    };
    bool ok = false;

    if (!check_attrs(pc, node, NULL, err) || !check_content(pc, node, err))
        return false;
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
        } else if (name_is(c, "serial")) {
            ChrItem *it;
            if (!parse_chr(pc, c, false, &it, err))
                goto out;
            g_ptr_array_add(serials, it);
        } else if (name_is(c, "console")) {
            ChrItem *it;
            if (!parse_chr(pc, c, true, &it, err))
                goto out;
            if (console) {
                chr_item_free(it);
                conf_fail(pc, c, VMM_CONF_ERROR_INVALID, err,
                          "only the first <console> can be a serial console "
                          "(first <console> on line %ld); vmmd supports no other "
                          "console type yet", line_of(console->node));
                goto out;
            }
            console = it;
        } else if (name_is(c, "disk")) {
            if (!parse_disk(pc, c, &disks, pci_slots, def, err))
                goto out;
        } else if (name_is(c, "interface")) {
            VmmNetDef *net = vmm_net_def_parse(pc->source, c, def->nets->len, pci_slots, err);
            if (!net)
                goto out;
            g_ptr_array_add(def->nets, net);
        } else {
            unsupported_element(pc, c, err);
            goto out;
        }
    }
    ok = resolve_serials(pc, serials, &console, def, err);
out:
    if (console)
        chr_item_free(console);
    g_hash_table_unref(disks.targets);
    g_hash_table_unref(disks.paths);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* the document                                                             */

static bool parse_domain(const ParseCtx *pc, xmlNodePtr root, VmmDomainDef *def,
                         GError **err)
{
    enum { D_NAME, D_UUID, D_TITLE, D_DESC, D_MEMORY, D_CURMEM, D_VCPU, D_OS,
           D_FEATURES, D_CLOCK, D_POWEROFF, D_REBOOT, D_CRASH, D_DEVICES, D_CPU, D_N };
    static const char *const names[] = {
        "name", "uuid", "title", "description", "memory", "currentMemory",
        "vcpu", "os", "features", "clock", "on_poweroff", "on_reboot",
        "on_crash", "devices", "cpu", NULL };
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

    /* identity */
    if (!s[D_NAME])
        return conf_fail(pc, root, VMM_CONF_ERROR_INVALID, err,
                         "<domain> has no <name> element");
    if (!check_attrs(pc, s[D_NAME], NULL, err) ||
        !leaf_text(pc, s[D_NAME], &def->name, err) ||
        !check_name(pc, s[D_NAME], def->name, err))
        return false;
    if (s[D_UUID]) {
        g_autofree char *text = NULL;
        if (!check_attrs(pc, s[D_UUID], NULL, err) ||
            !leaf_token(pc, s[D_UUID], &text, err))
            return false;
        if (!parse_uuid(text, def->uuid)) {
            g_autofree char *shown = g_strescape(text, NULL);
            return conf_fail(pc, s[D_UUID], VMM_CONF_ERROR_INVALID, err,
                             "<uuid> '%s' is not a UUID (expected 32 hex digits, "
                             "optionally as 8-4-4-4-12 with dashes)", shown);
        }
        def->has_uuid = true;
    }
    if (s[D_TITLE]) {
        if (!check_attrs(pc, s[D_TITLE], NULL, err) ||
            !leaf_text(pc, s[D_TITLE], &def->title, err))
            return false;
        if (strchr(def->title, '\n'))   /* libvirt's rule: one line */
            return conf_fail(pc, s[D_TITLE], VMM_CONF_ERROR_INVALID, err,
                             "<title> must not contain a newline");
    }
    if (s[D_DESC] && (!check_attrs(pc, s[D_DESC], NULL, err) ||
                      !leaf_text(pc, s[D_DESC], &def->description, err)))
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
    return true;
}

/* libxml2 glue: the parser context's _private points at this. */
typedef struct {
    bool dtd_seen;
    long dtd_line;
    char *error;       /* first error libxml2 reported */
    long error_line;
} ReadState;

/* A DOCTYPE is where entities (XXE, billion laughs) come from: stop the
 * parser before it reads a single declaration. */
static void on_internal_subset(void *ctx, const xmlChar *name,
                               const xmlChar *external_id,
                               const xmlChar *system_id)
{
    (void)name; (void)external_id; (void)system_id;
    xmlParserCtxtPtr ctxt = ctx;
    ReadState *st = ctxt->_private;
    if (!st->dtd_seen) {
        st->dtd_seen = true;
        st->dtd_line = xmlSAX2GetLineNumber(ctx);
    }
    xmlStopParser(ctxt);
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type,
                           const xmlChar *public_id, const xmlChar *system_id,
                           xmlChar *content)
{
    (void)name; (void)type; (void)public_id; (void)system_id; (void)content;
    on_internal_subset(ctx, NULL, NULL, NULL);
}

#if LIBXML_VERSION >= 21200
typedef const xmlError *VmmXmlErrorPtr;
#else
typedef xmlErrorPtr VmmXmlErrorPtr;
#endif

static void on_xml_error(void *data, VmmXmlErrorPtr e)
{
    xmlParserCtxtPtr ctxt = data;
    ReadState *st = ctxt ? ctxt->_private : NULL;
    if (!st || st->error || !e || e->level < XML_ERR_ERROR)
        return;
    /* libxml2 adds lines ("Bytes: 0x.."): errors are one line. */
    st->error = g_strdelimit(g_strchomp(g_strdup(e->message ? e->message : "unknown error")),
                             "\n", ' ');
    st->error_line = e->line;
}

xmlDocPtr vmm_conf_read_xml(const char *source, const char *xml, size_t len, GError **err)
{
    if (len > VMM_DOMAIN_XML_MAX_BYTES) {
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML,
                    "%s: document is %zu bytes; domain XML larger than %d bytes "
                    "is refused", source, len, VMM_DOMAIN_XML_MAX_BYTES);
        return NULL;
    }
    if (len == 0) {
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML,
                    "%s: document is empty", source);
        return NULL;
    }
    xmlInitParser();
    xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(xml, (int)len);
    if (!ctxt) {
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML,
                    "%s: cannot create an XML parser (out of memory)",
                    source);
        return NULL;
    }
    ReadState st = { 0 };
    /* No network, no entity substitution, no DTD loading; errors come to
     * on_xml_error instead of stderr. Options first: they reset handlers. */
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOCDATA |
                            XML_PARSE_BIG_LINES | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING);
    ctxt->_private = &st;
    ctxt->sax->internalSubset = on_internal_subset;
    ctxt->sax->externalSubset = NULL;
    ctxt->sax->entityDecl = on_entity_decl;
    ctxt->sax->serror = on_xml_error;

    xmlParseDocument(ctxt);
    xmlDocPtr doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    bool well_formed = ctxt->wellFormed;
    xmlFreeParserCtxt(ctxt);

    if (st.dtd_seen || (doc && xmlGetIntSubset(doc))) {
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML,
                    "%s:%ld: a document type declaration (<!DOCTYPE>) is not "
                    "allowed in domain XML (DTDs and entities are refused)",
                    source, st.dtd_line);
        goto fail;
    }
    if (!well_formed || !doc || !xmlDocGetRootElement(doc)) {
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML,
                    "%s:%ld: XML error: %s", source, st.error_line,
                    st.error ? st.error : "document is not well-formed");
        goto fail;
    }
    g_free(st.error);
    return doc;

fail:
    g_free(st.error);
    if (doc)
        xmlFreeDoc(doc);
    return NULL;
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
    def->serials = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_chr_def_free);
    def->disks = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_disk_def_free);
    def->nets = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_net_def_free);
    bool ok = parse_domain(&pc, xmlDocGetRootElement(doc), def, err);
    xmlFreeDoc(doc);
    return ok ? g_steal_pointer(&def) : NULL;
}

VmmDomainDef *vmm_domain_def_parse_file(const char *path, GError **err)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat on the
     * open fd (not stat on the name) so the checked file is the one read. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO,
                    "cannot open domain XML '%s': %s", path, g_strerror(e));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO,
                    "cannot stat domain XML '%s': %s", path, g_strerror(e));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO,
                    "domain XML '%s' is not a regular file", path);
        return NULL;
    }
    if (st.st_size > VMM_DOMAIN_XML_MAX_BYTES) {
        close(fd);
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML,
                    "domain XML '%s' is %lld bytes; files larger than %d bytes "
                    "are refused", path, (long long)st.st_size,
                    VMM_DOMAIN_XML_MAX_BYTES);
        return NULL;
    }
    /* Read at most one byte past the limit: the file may grow meanwhile. */
    g_autofree char *buf = g_malloc(VMM_DOMAIN_XML_MAX_BYTES + 1);
    size_t len = 0;
    while (len < VMM_DOMAIN_XML_MAX_BYTES + 1) {
        ssize_t n = read(fd, buf + len, VMM_DOMAIN_XML_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO,
                        "cannot read domain XML '%s': %s", path, g_strerror(e));
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (len > VMM_DOMAIN_XML_MAX_BYTES) {
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML,
                    "domain XML '%s' is larger than %d bytes and is refused",
                    path, VMM_DOMAIN_XML_MAX_BYTES);
        return NULL;
    }
    return vmm_domain_def_parse_string(buf, len, path, err);
}

void vmm_chr_def_free(VmmChrDef *chr)
{
    if (!chr)
        return;
    g_free(chr->path);
    g_free(chr);
}

void vmm_disk_def_free(VmmDiskDef *disk)
{
    if (!disk)
        return;
    g_free(disk->path);
    g_free(disk->target_dev);
    g_free(disk->serial);
    g_free(disk);
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
    if (def->disks)
        g_ptr_array_unref(def->disks);
    if (def->serials)
        g_ptr_array_unref(def->serials);
    if (def->nets)
        g_ptr_array_unref(def->nets);
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

const char *vmm_chr_type_to_string(VmmChrType t)
{
    switch (t) {
    case VMM_CHR_STDIO: return "stdio";
    case VMM_CHR_FILE: return "file";
    case VMM_CHR_PTY: return "pty";
    case VMM_CHR_UNIX: return "unix";
    }
    return "unknown";
}

/* libvirt's spelling, as <driver cache=...> and io=... take it. */
const char *vmm_cache_mode_to_string(VmmCacheMode m)
{
    switch (m) {
    case VMM_CACHE_WRITEBACK: return "writeback";
    case VMM_CACHE_WRITETHROUGH: return "writethrough";
    case VMM_CACHE_NONE: return "none";
    case VMM_CACHE_DIRECTSYNC: return "directsync";
    case VMM_CACHE_UNSAFE: return "unsafe";
    }
    return "unknown";
}

const char *vmm_io_mode_to_string(VmmIoMode m)
{
    switch (m) {
    case VMM_IO_THREADS: return "threads";
    case VMM_IO_NATIVE: return "native";
    case VMM_IO_URING: return "io_uring";
    }
    return "unknown";
}
