/* The helpers every conf file reads and writes XML with: strict element and
 * attribute checks whose refusals are one line naming the source, the line,
 * the element, the attribute and the value; the one way vmmd reads an XML
 * document; and the output side (values checked to be representable,
 * escaping left to libxml2). */
#include "conf/conf_parse.h"
#include "conf/xml_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>

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

bool name_is(xmlNodePtr n, const char *name)
{
    return n->ns == NULL && strcmp((const char *)n->name, name) == 0;
}

int str_index(const char *const *list, const char *s)
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
bool check_content(const ParseCtx *pc, xmlNodePtr node, GError **err)
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
bool leaf_text(const ParseCtx *pc, xmlNodePtr node, char **out,
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
bool leaf_token(const ParseCtx *pc, xmlNodePtr node, char **out,
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
/* numbers                                                                  */

/* A decimal count; a digits-only value too big for 64 bits is taken as
 * G_MAXUINT64 so callers report it as out of range, not as garbage. */
bool conf_element_open(const ParseCtx *pc, xmlNodePtr node, const ConfElementShape *shape,
                       int *kind, xmlNodePtr *children, GError **err)
{
    if (!check_attrs(pc, node, shape->attrs, err))
        return false;
    g_autofree char *value = get_attr(node, shape->kind_attr);
    if (!value && !shape->kind_default) {
        g_autofree char *label = elem_label(node);
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err, "%s needs %s", label,
                         shape->kind_missing);
    }
    if (!parse_choice(pc, node, shape->kind_attr, value ? value : shape->kind_default,
                      shape->kinds, shape->known_kinds, kind, err) ||
        !collect_children(pc, node, shape->children, children, err))
        return false;
    for (int k = shape->unsupported_from; shape->children[k]; k++)
        if (children[k])
            return unsupported_element(pc, children[k], err);
    return true;
}

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

/* An optional unsigned attribute from min to max (a power of two if pow2);
 * *out is left alone when the attribute is absent. */
bool parse_uint_attr(const ParseCtx *pc, xmlNodePtr node, const char *name,
                     uint64_t min, uint64_t max, bool pow2, unsigned *out, GError **err)
{
    g_autofree char *v = get_attr(node, name);
    if (!v)
        return true;
    uint64_t n;
    g_autofree char *label = elem_label(node);
    g_autofree char *shown = g_strescape(v, NULL);
    if (!parse_count(v, &n) || n < min || n > max || (pow2 && (n & (n - 1))))
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute '%s'='%s' on %s must be %s from %" G_GUINT64_FORMAT
                         " to %" G_GUINT64_FORMAT, name, shown, label,
                         pow2 ? "a power of two" : "a number", min, max);
    *out = (unsigned)n;
    return true;
}

char *conf_read_file(const char *path, const char *what, size_t max, size_t *len_out,
                     GError **err)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat on the
     * open fd (not stat on the name) so the checked file is the one read. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO,
                    "cannot open %s '%s': %s", what, path, g_strerror(e));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO,
                    "cannot stat %s '%s': %s", what, path, g_strerror(e));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO,
                    "%s '%s' is not a regular file", what, path);
        return NULL;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML,
                    "%s '%s' is %lld bytes; files larger than %zu bytes "
                    "are refused", what, path, (long long)st.st_size, max);
        return NULL;
    }
    /* Read at most one byte past the limit: the file may grow meanwhile. */
    g_autofree char *buf = g_malloc(max + 1);
    size_t len = 0;
    while (len < max + 1) {
        ssize_t n = read(fd, buf + len, max + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO,
                        "cannot read %s '%s': %s", what, path, g_strerror(e));
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (len > max) {
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML,
                    "%s '%s' is larger than %zu bytes and is refused",
                    what, path, max);
        return NULL;
    }
    *len_out = len;
    buf[len] = 0;
    return g_steal_pointer(&buf);
}

char *conf_serialize(xmlDocPtr doc, const char *what, GError **err)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlSaveCtxtPtr save = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL);
    long rc = save ? xmlSaveDoc(save, doc) : -1;
    if (save && xmlSaveClose(save) < 0)
        rc = -1;
    if (rc < 0 || !xmlBufferContent(buf)) {
        xmlBufferFree(buf);
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                    "cannot format %s: libxml2 failed to serialize it", what);
        return NULL;
    }
    char *out = g_strndup((const char *)xmlBufferContent(buf), (gsize)xmlBufferLength(buf));
    xmlBufferFree(buf);
    return out;
}

/* ------------------------------------------------------------------------ */
/* identity: <name>, <uuid>, <title>, <description>                         */

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
bool conf_parse_uuid(const char *s, uint8_t uuid[16])
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

bool conf_parse_identity(const ParseCtx *pc, xmlNodePtr root, xmlNodePtr const s[4],
                         char **name, uint8_t uuid[16], bool *has_uuid, char **title,
                         char **description, GError **err)
{
    g_autofree char *root_label = elem_label(root);
    if (!s[0])
        return conf_fail(pc, root, VMM_CONF_ERROR_INVALID, err,
                         "%s has no <name> element", root_label);
    if (!check_attrs(pc, s[0], NULL, err) ||
        !leaf_text(pc, s[0], name, err) ||
        !check_name(pc, s[0], *name, err))
        return false;
    if (s[1]) {
        g_autofree char *text = NULL;
        if (!check_attrs(pc, s[1], NULL, err) ||
            !leaf_token(pc, s[1], &text, err))
            return false;
        if (!conf_parse_uuid(text, uuid)) {
            g_autofree char *shown = g_strescape(text, NULL);
            return conf_fail(pc, s[1], VMM_CONF_ERROR_INVALID, err,
                             "<uuid> '%s' is not a UUID (expected 32 hex digits, "
                             "optionally as 8-4-4-4-12 with dashes)", shown);
        }
        *has_uuid = true;
    }
    if (s[2]) {
        if (!check_attrs(pc, s[2], NULL, err) ||
            !leaf_text(pc, s[2], title, err))
            return false;
        if (strchr(*title, '\n'))   /* libvirt's rule: one line */
            return conf_fail(pc, s[2], VMM_CONF_ERROR_INVALID, err,
                             "<title> must not contain a newline");
    }
    if (s[3] && (!check_attrs(pc, s[3], NULL, err) ||
                 !leaf_text(pc, s[3], description, err)))
        return false;
    return true;
}

bool conf_parse_mac_attr(const ParseCtx *pc, xmlNodePtr node, const char *attr,
                         uint8_t mac[6], GError **err)
{
    g_autofree char *v = get_attr(node, attr);
    g_autofree char *label = elem_label(node);
    if (!v)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "%s needs a '%s' attribute", label, attr);
    unsigned b[6];
    char tail;
    g_autofree char *shown = g_strescape(v, NULL);
    if (strlen(v) != 17 ||
        sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
               &tail) != 6 ||
        strspn(v, "0123456789abcdefABCDEF:") != 17)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "%s with %s='%s': not a MAC address (six hex pairs separated "
                         "by colons)", label, attr, shown);
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    if (mac[0] & 1)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "%s with %s='%s': a multicast address; a unicast one is needed "
                         "(first octet even)", label, attr, shown);
    return true;
}

bool conf_parse_mac(const ParseCtx *pc, xmlNodePtr node, uint8_t mac[6], GError **err)
{
    static const char *const attrs[] = { "address", NULL };
    return check_empty(pc, node, attrs, err) &&
           conf_parse_mac_attr(pc, node, "address", mac, err);
}

void conf_random_mac(uint8_t mac[6])
{
    /* libvirt's prefix for QEMU/KVM guests */
    mac[0] = 0x52;
    mac[1] = 0x54;
    mac[2] = 0x00;
    for (int i = 3; i < 6; i++)
        mac[i] = (uint8_t)g_random_int_range(0, 256);
}

void conf_format_uuid(const uint8_t u[16], char out[37])
{
    g_snprintf(out, 37,
               "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
               "%02x%02x%02x%02x%02x%02x",
               u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
               u[10], u[11], u[12], u[13], u[14], u[15]);
}

void conf_random_uuid(uint8_t u[16])
{
    size_t got = 0;
    while (got < 16) {
        ssize_t n = getrandom(u + got, 16 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    for (; got < 16; got++)   /* no getrandom(): GLib's generator */
        u[got] = (uint8_t)g_random_int_range(0, 256);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);   /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
}

bool conf_format_identity(ConfWriter *w, xmlNodePtr root, const char *name,
                          const uint8_t uuid[16], bool has_uuid, const char *title,
                          const char *description)
{
    if (!require(w, "<name>", name) || !add_text(w, root, "name", name))
        return false;
    if (has_uuid) {
        char text[37];
        conf_format_uuid(uuid, text);
        add_text(w, root, "uuid", text);
    }
    if (title && !add_text(w, root, "title", title))
        return false;
    if (description && !add_text(w, root, "description", description))
        return false;
    return true;
}

/* ------------------------------------------------------------------------ */
/* device class fields                                                      */

GPtrArray **conf_class_list(const ConfDeviceClass *cls, const VmmDomainDef *def)
{
    return (GPtrArray **)((char *)def + cls->list->list_offset);
}

static guint list_len(const GPtrArray *a)
{
    return a ? a->len : 0;
}

void conf_devices_init(VmmDomainDef *def)
{
    for (size_t i = 0; conf_device_classes[i]; i++)
        *conf_class_list(conf_device_classes[i], def) =
            g_ptr_array_new_with_free_func(conf_device_classes[i]->list->item_free);
}

void conf_devices_copy(VmmDomainDef *dst, const VmmDomainDef *src)
{
    conf_devices_init(dst);
    for (size_t i = 0; conf_device_classes[i]; i++) {
        const ConfDeviceClass *cls = conf_device_classes[i];
        const GPtrArray *from = *conf_class_list(cls, src);
        for (guint k = 0; k < list_len(from); k++)
            g_ptr_array_add(*conf_class_list(cls, dst), cls->item_copy(from->pdata[k]));
    }
}

bool conf_devices_equal(const VmmDomainDef *a, const VmmDomainDef *b)
{
    for (size_t i = 0; conf_device_classes[i]; i++) {
        const ConfDeviceClass *cls = conf_device_classes[i];
        const GPtrArray *x = *conf_class_list(cls, a), *y = *conf_class_list(cls, b);
        if (list_len(x) != list_len(y))
            return false;
        for (guint k = 0; k < list_len(x); k++)
            if (!cls->item_equal(x->pdata[k], y->pdata[k]))
                return false;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* reading a document                                                       */

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

/* ------------------------------------------------------------------------ */
/* formatting                                                               */

/* XML 1.0's Char production: what a document can carry at all. */
static bool xml_char_ok(gunichar c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* A value must be UTF-8 made of XML characters; otherwise no document can
 * hold it and the definition cannot be written. */
bool check_value(ConfWriter *w, const char *what, const char *s)
{
    if (w->failed)
        return false;
    if (!g_utf8_validate(s, -1, NULL)) {
        g_set_error(w->err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                    "cannot format domain XML: %s is not valid UTF-8", what);
        w->failed = true;
        return false;
    }
    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (!xml_char_ok(c)) {
            g_set_error(w->err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "cannot format domain XML: %s contains U+%04X, which XML "
                        "cannot represent", what, (unsigned)c);
            w->failed = true;
            return false;
        }
    }
    return true;
}

bool require(ConfWriter *w, const char *what, const void *value)
{
    if (w->failed)
        return false;
    if (value)
        return true;
    g_set_error(w->err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                "cannot format domain XML: %s is missing", what);
    w->failed = true;
    return false;
}

xmlNodePtr add_elem(xmlNodePtr parent, const char *name)
{
    return xmlNewChild(parent, NULL, (const xmlChar *)name, NULL);
}

/* <name>text</name>; the text node keeps the value verbatim (an empty
 * value gives <name></name>). */
xmlNodePtr add_text(ConfWriter *w, xmlNodePtr parent, const char *name, const char *text)
{
    if (!check_value(w, name, text))
        return NULL;
    xmlNodePtr n = add_elem(parent, name);
    xmlAddChild(n, xmlNewDocText(w->doc, (const xmlChar *)text));
    return n;
}

/* <name>N</name> in decimal. */
xmlNodePtr add_uint(xmlNodePtr parent, const char *name, uint64_t value)
{
    char text[24];
    g_snprintf(text, sizeof(text), "%" G_GUINT64_FORMAT, value);
    xmlNodePtr n = add_elem(parent, name);
    xmlAddChild(n, xmlNewDocText(parent->doc, (const xmlChar *)text));
    return n;
}

void set_attr(xmlNodePtr node, const char *name, const char *value)
{
    xmlNewProp(node, (const xmlChar *)name, (const xmlChar *)value);
}

bool set_attr_checked(ConfWriter *w, xmlNodePtr node, const char *what, const char *name,
                      const char *value)
{
    if (!check_value(w, what, value))
        return false;
    set_attr(node, name, value);
    return true;
}

void set_attrf(xmlNodePtr node, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *value = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    set_attr(node, name, value);
}

void format_pci_address(xmlNodePtr parent, int slot)
{
    xmlNodePtr a = add_elem(parent, "address");
    set_attr(a, "type", "pci");
    set_attr(a, "domain", "0x0000");
    set_attr(a, "bus", "0x00");
    set_attrf(a, "slot", "0x%02x", (unsigned)slot);
    set_attr(a, "function", "0x0");
}
