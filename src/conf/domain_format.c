/* VmmDomainDef -> canonical libvirt domain XML; define-time defaults;
 * RelaxNG validation; copy and equality.
 *
 * The XML is built as a libxml2 tree and serialized by libxml2, so every
 * text and attribute value is escaped by the library, never by hand. */
#include "conf/domain_format.h"
#include "conf/xml_read.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/relaxng.h>
#include <libxml/SAX2.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlsave.h>

#define PCI_SLOTS 32               /* per bus; slot 0 is the host bridge */
#define MAX_SCHEMA_MESSAGES 5      /* validation messages kept in an error */

#if LIBXML_VERSION >= 21200
typedef const xmlError *VmmXmlErrorPtr;
#else
typedef xmlErrorPtr VmmXmlErrorPtr;
#endif

char *vmm_domain_schema_path(void)
{
    const char *dir = g_getenv("VMM_SCHEMA_DIR");
    if (!dir || !*dir)
        dir = VMM_SCHEMA_DIR;
    return g_build_filename(dir, "domain.rng", NULL);
}

/* ------------------------------------------------------------------------ */
/* formatting                                                               */

typedef struct {
    xmlDocPtr doc;
    GError **err;
    bool failed;
} Writer;

/* XML 1.0's Char production: what a document can carry at all. */
static bool xml_char_ok(gunichar c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* A value must be UTF-8 made of XML characters; otherwise no document can
 * hold it and the definition cannot be written. */
static bool check_value(Writer *w, const char *what, const char *s)
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

static bool require(Writer *w, const char *what, const void *value)
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

static xmlNodePtr add_elem(xmlNodePtr parent, const char *name)
{
    return xmlNewChild(parent, NULL, (const xmlChar *)name, NULL);
}

/* <name>text</name>; the text node keeps the value verbatim (an empty
 * value gives <name></name>). */
static xmlNodePtr add_text(Writer *w, xmlNodePtr parent, const char *name,
                           const char *text)
{
    if (!check_value(w, name, text))
        return NULL;
    xmlNodePtr n = add_elem(parent, name);
    xmlAddChild(n, xmlNewDocText(w->doc, (const xmlChar *)text));
    return n;
}

static void G_GNUC_PRINTF(3, 4)
add_textf(xmlNodePtr parent, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    xmlNodePtr n = add_elem(parent, name);
    xmlAddChild(n, xmlNewDocText(parent->doc, (const xmlChar *)text));
}

static void set_attr(xmlNodePtr node, const char *name, const char *value)
{
    xmlNewProp(node, (const xmlChar *)name, (const xmlChar *)value);
}

static bool set_attr_checked(Writer *w, xmlNodePtr node, const char *what,
                             const char *name, const char *value)
{
    if (!check_value(w, what, value))
        return false;
    set_attr(node, name, value);
    return true;
}

static void G_GNUC_PRINTF(3, 4)
set_attrf(xmlNodePtr node, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *value = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    set_attr(node, name, value);
}

static const char *discard_to_string(VmmDiscardMode d)
{
    return d == VMM_DISCARD_UNMAP ? "unmap" : "ignore";
}

static bool format_chr_source(Writer *w, xmlNodePtr parent, const VmmChrDef *chr)
{
    g_autofree char *what = g_strdup_printf("serial port %u source path", chr->port);
    switch (chr->type) {
    case VMM_CHR_STDIO:
    case VMM_CHR_PTY:
        return true;
    case VMM_CHR_FILE: {
        if (!require(w, what, chr->path))
            return false;
        xmlNodePtr src = add_elem(parent, "source");
        if (!set_attr_checked(w, src, what, "path", chr->path))
            return false;
        set_attr(src, "append", chr->append ? "on" : "off");
        return true;
    }
    case VMM_CHR_UNIX: {
        if (!require(w, what, chr->path))
            return false;
        xmlNodePtr src = add_elem(parent, "source");
        set_attr(src, "mode", chr->listen ? "bind" : "connect");
        return set_attr_checked(w, src, what, "path", chr->path);
    }
    }
    g_set_error(w->err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                "cannot format domain XML: serial port %u has unknown type %d",
                chr->port, (int)chr->type);
    w->failed = true;
    return false;
}

/* <serial> for each port and, like libvirt, a <console> aliasing the first
 * one (same type and source, target port = that serial's port). */
static bool format_serials(Writer *w, xmlNodePtr devices, const GPtrArray *serials)
{
    for (guint i = 0; serials && i < serials->len; i++) {
        const VmmChrDef *chr = g_ptr_array_index(serials, i);
        xmlNodePtr s = add_elem(devices, "serial");
        set_attr(s, "type", vmm_chr_type_to_string(chr->type));
        if (!format_chr_source(w, s, chr))
            return false;
        xmlNodePtr t = add_elem(s, "target");
        set_attr(t, "type", "isa-serial");
        set_attrf(t, "port", "%u", chr->port);
        xmlNodePtr m = add_elem(t, "model");
        set_attr(m, "name", "isa-serial");
    }
    if (serials && serials->len > 0) {
        const VmmChrDef *chr = g_ptr_array_index(serials, 0);
        xmlNodePtr c = add_elem(devices, "console");
        set_attr(c, "type", vmm_chr_type_to_string(chr->type));
        if (!format_chr_source(w, c, chr))
            return false;
        xmlNodePtr t = add_elem(c, "target");
        set_attr(t, "type", "serial");
        set_attrf(t, "port", "%u", chr->port);
    }
    return true;
}

static bool format_disk(Writer *w, xmlNodePtr devices, const VmmDiskDef *disk,
                        guint index)
{
    g_autofree char *label = g_strdup_printf("disk %u target", index);
    if (!require(w, label, disk->target_dev))
        return false;
    g_autofree char *src_what = g_strdup_printf("disk %s source", disk->target_dev);
    g_autofree char *ser_what = g_strdup_printf("disk %s serial", disk->target_dev);
    if (!require(w, src_what, disk->path) ||
        !check_value(w, "disk target", disk->target_dev))
        return false;

    bool block = disk->type == VMM_DISK_BLOCK, vu = disk->type == VMM_DISK_VHOSTUSER;
    xmlNodePtr d = add_elem(devices, "disk");
    set_attr(d, "type", vu ? "vhostuser" : block ? "block" : "file");
    set_attr(d, "device", "disk");

    xmlNodePtr drv = add_elem(d, "driver");
    set_attr(drv, "name", "qemu");
    set_attr(drv, "type", "raw");
    if (!vu) {   /* the vhost-user back end has its own cache and I/O */
        set_attr(drv, "cache", vmm_cache_mode_to_string(disk->cache));
        set_attr(drv, "io", vmm_io_mode_to_string(disk->io));
        set_attr(drv, "discard", discard_to_string(disk->discard));
    }
    if (disk->queues > 0)
        set_attrf(drv, "queues", "%u", disk->queues);

    xmlNodePtr src = add_elem(d, "source");
    if (vu)
        set_attr(src, "type", "unix");
    if (!set_attr_checked(w, src, src_what, vu ? "path" : block ? "dev" : "file", disk->path))
        return false;
    if (vu && disk->reconnect) {
        xmlNodePtr rc = add_elem(src, "reconnect");
        set_attr(rc, "enabled", "yes");
        set_attrf(rc, "timeout", "%u", disk->reconnect);
    }

    xmlNodePtr tgt = add_elem(d, "target");
    set_attr(tgt, "dev", disk->target_dev);
    set_attr(tgt, "bus", "virtio");

    if (disk->readonly)
        add_elem(d, "readonly");
    if (disk->serial && !add_text(w, d, "serial", disk->serial))
        return false;
    if (disk->pci_slot >= 0) {
        if (disk->pci_slot == 0 || disk->pci_slot >= PCI_SLOTS) {
            g_set_error(w->err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "cannot format domain XML: disk %s has PCI slot %d "
                        "(valid: 1 to %d)", disk->target_dev, disk->pci_slot,
                        PCI_SLOTS - 1);
            w->failed = true;
            return false;
        }
        xmlNodePtr a = add_elem(d, "address");
        set_attr(a, "type", "pci");
        set_attr(a, "domain", "0x0000");
        set_attr(a, "bus", "0x00");
        set_attrf(a, "slot", "0x%02x", (unsigned)disk->pci_slot);
        set_attr(a, "function", "0x0");
    }
    return true;
}

static void format_uuid(const uint8_t u[16], char out[37])
{
    g_snprintf(out, 37,
               "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
               "%02x%02x%02x%02x%02x%02x",
               u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
               u[10], u[11], u[12], u[13], u[14], u[15]);
}

static bool build_domain(Writer *w, const VmmDomainDef *def, xmlNodePtr root)
{
    set_attr(root, "type", "kvm");

    /* identity */
    if (!require(w, "<name>", def->name) || !add_text(w, root, "name", def->name))
        return false;
    if (def->has_uuid) {
        char uuid[37];
        format_uuid(def->uuid, uuid);
        add_textf(root, "uuid", "%s", uuid);
    }
    if (def->title && !add_text(w, root, "title", def->title))
        return false;
    if (def->description && !add_text(w, root, "description", def->description))
        return false;

    /* resources */
    add_textf(root, "memory", "%" G_GUINT64_FORMAT, def->memory_kib);
    set_attr(root->last, "unit", "KiB");
    add_textf(root, "currentMemory", "%" G_GUINT64_FORMAT, def->current_memory_kib);
    set_attr(root->last, "unit", "KiB");
    add_textf(root, "vcpu", "%u", def->vcpus);
    set_attr(root->last, "placement", "static");

    /* os */
    xmlNodePtr os = add_elem(root, "os");
    xmlNodePtr type = add_text(w, os, "type", "hvm");
    if (!set_attr_checked(w, type, "<type arch>", "arch",
                          def->os_arch ? def->os_arch : "x86_64"))
        return false;
    if (def->os_machine &&
        !set_attr_checked(w, type, "<type machine>", "machine", def->os_machine))
        return false;
    if (!require(w, "<kernel>", def->kernel) ||
        !add_text(w, os, "kernel", def->kernel))
        return false;
    if (def->initrd && !add_text(w, os, "initrd", def->initrd))
        return false;
    if (def->cmdline && !add_text(w, os, "cmdline", def->cmdline))
        return false;

    /* platform: libvirt's feature order */
    if (def->acpi || def->apic || def->pae) {
        xmlNodePtr f = add_elem(root, "features");
        if (def->acpi)
            add_elem(f, "acpi");
        if (def->apic)
            add_elem(f, "apic");
        if (def->pae)
            add_elem(f, "pae");
    }
    if (def->cpu)
        vmm_cpu_def_format(root, def->cpu);
    xmlNodePtr clock = add_elem(root, "clock");
    set_attr(clock, "offset", def->clock == VMM_CLOCK_LOCALTIME ? "localtime" : "utc");

    add_text(w, root, "on_poweroff", vmm_lifecycle_action_to_string(def->on_poweroff));
    add_text(w, root, "on_reboot", vmm_lifecycle_action_to_string(def->on_reboot));
    add_text(w, root, "on_crash", vmm_lifecycle_action_to_string(def->on_crash));

    /* devices: libvirt's order is emulator, disks, ..., serials, consoles */
    xmlNodePtr devices = add_elem(root, "devices");
    if (def->emulator && !add_text(w, devices, "emulator", def->emulator))
        return false;
    for (guint i = 0; def->disks && i < def->disks->len; i++)
        if (!format_disk(w, devices, g_ptr_array_index(def->disks, i), i))
            return false;
    for (guint i = 0; def->nets && i < def->nets->len; i++) {
        const VmmNetDef *net = g_ptr_array_index(def->nets, i);
        if ((net->bridge && !check_value(w, "interface bridge", net->bridge)) ||
            (net->target_dev && !check_value(w, "interface target", net->target_dev)) ||
            (net->socket_path && !check_value(w, "interface socket path", net->socket_path)))
            return false;
        vmm_net_def_format(devices, net);
    }
    return format_serials(w, devices, def->serials) && !w->failed;
}

char *vmm_domain_def_format(const VmmDomainDef *def, GError **err)
{
    g_return_val_if_fail(def != NULL, NULL);
    xmlInitParser();

    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr root = xmlNewDocNode(doc, NULL, (const xmlChar *)"domain", NULL);
    xmlDocSetRootElement(doc, root);
    Writer w = { .doc = doc, .err = err };
    if (!build_domain(&w, def, root)) {
        xmlFreeDoc(doc);
        return NULL;
    }

    xmlBufferPtr buf = xmlBufferCreate();
    xmlSaveCtxtPtr save = xmlSaveToBuffer(buf, "UTF-8",
                                          XML_SAVE_FORMAT | XML_SAVE_NO_DECL);
    long rc = save ? xmlSaveDoc(save, doc) : -1;
    if (save && xmlSaveClose(save) < 0)
        rc = -1;
    xmlFreeDoc(doc);
    if (rc < 0 || !xmlBufferContent(buf)) {
        xmlBufferFree(buf);
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                    "cannot format domain XML: libxml2 failed to serialize it");
        return NULL;
    }
    char *out = g_strndup((const char *)xmlBufferContent(buf),
                          (gsize)xmlBufferLength(buf));
    xmlBufferFree(buf);
    return out;
}

/* ------------------------------------------------------------------------ */
/* define-time defaults                                                     */

static void random_uuid_v4(uint8_t u[16])
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

bool vmm_domain_def_pci_slots(const VmmDomainDef *def, int *slots, GError **err)
{
    g_return_val_if_fail(def != NULL, false);
    /* The PCI devices in placement order: disks, then interfaces. */
    guint ndisks = def->disks ? def->disks->len : 0;
    guint nnets = def->nets ? def->nets->len : 0;
    guint n = ndisks + nnets;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < ndisks; i++) {
        const VmmDiskDef *d = g_ptr_array_index(def->disks, i);
        slots[i] = d->pci_slot;
        g_ptr_array_add(names, g_strdup_printf("disk %s", d->target_dev ? d->target_dev
                                                                         : "(unnamed)"));
    }
    for (guint i = 0; i < nnets; i++) {
        const VmmNetDef *nd = g_ptr_array_index(def->nets, i);
        slots[ndisks + i] = nd->pci_slot;
        g_ptr_array_add(names, g_strdup_printf("interface %u", i));
    }
    bool used[PCI_SLOTS] = { [0] = true };   /* slot 0: host bridge */

    for (guint i = 0; i < n; i++) {
        int s = slots[i];
        const char *name = g_ptr_array_index(names, i);
        if (s < 0)
            continue;
        if (s == 0 || s >= PCI_SLOTS) {
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "%s: PCI slot %d is out of range (1 to %d)", name, s, PCI_SLOTS - 1);
            return false;
        }
        if (used[s]) {
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "%s: PCI slot 0x%02x is used twice", name, s);
            return false;
        }
        used[s] = true;
    }
    int next = 1;
    for (guint i = 0; i < n; i++) {
        if (slots[i] >= 0)
            continue;
        while (next < PCI_SLOTS && used[next])
            next++;
        if (next >= PCI_SLOTS) {
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "%s: no free PCI slot left (vmmd has slots 1 to %d on one bus)",
                        (const char *)g_ptr_array_index(names, i), PCI_SLOTS - 1);
            return false;
        }
        slots[i] = next;
        used[next] = true;
    }
    return true;
}

bool vmm_domain_def_fill_defaults(VmmDomainDef *def, GError **err)
{
    g_return_val_if_fail(def != NULL, false);
    guint ndisks = def->disks ? def->disks->len : 0;
    guint nnets = def->nets ? def->nets->len : 0;
    g_autofree int *slots = g_new0(int, ndisks + nnets + 1);
    /* Plan first: on failure nothing changes. */
    if (!vmm_domain_def_pci_slots(def, slots, err))
        return false;
    for (guint i = 0; i < ndisks; i++)
        ((VmmDiskDef *)g_ptr_array_index(def->disks, i))->pci_slot = slots[i];
    for (guint i = 0; i < nnets; i++)
        ((VmmNetDef *)g_ptr_array_index(def->nets, i))->pci_slot = slots[ndisks + i];
    if (!def->has_uuid) {
        random_uuid_v4(def->uuid);
        def->has_uuid = true;
    }
    if (!def->os_arch)
        def->os_arch = g_strdup("x86_64");
    if (def->vcpus == 0)
        def->vcpus = 1;
    if (def->current_memory_kib == 0)
        def->current_memory_kib = def->memory_kib;
    return true;
}

/* ------------------------------------------------------------------------ */
/* schema validation                                                        */

typedef struct {
    GString *text;
    unsigned count;
} Messages;

static void messages_add(Messages *m, long line, const char *elem, const char *msg)
{
    if (m->count++ >= MAX_SCHEMA_MESSAGES)
        return;
    g_autofree char *clean = g_strstrip(g_strdup(msg ? msg : "unknown error"));
    if (m->text->len)
        g_string_append(m->text, "; ");
    if (line > 0)
        g_string_append_printf(m->text, "line %ld: ", line);
    if (elem)
        g_string_append_printf(m->text, "element <%s>: ", elem);
    g_string_append(m->text, clean);
}

static void messages_finish(Messages *m)
{
    if (m->count > MAX_SCHEMA_MESSAGES)
        g_string_append_printf(m->text, " (and %u more)",
                               m->count - MAX_SCHEMA_MESSAGES);
}

static void on_schema_error(void *data, VmmXmlErrorPtr e)
{
    Messages *m = data;
    if (!e || e->level < XML_ERR_ERROR)
        return;
    xmlNodePtr node = e->node;
    const char *elem = NULL;
    long line = e->line;
    if (node && node->type == XML_ELEMENT_NODE) {
        elem = (const char *)node->name;
        if (line <= 0)
            line = xmlGetLineNo(node);
    }
    messages_add(m, line, elem, e->message);
}

static xmlDocPtr read_document(const char *xml, size_t len, GError **err)
{
    return vmm_conf_read_xml("XML document", xml, len, err);
}

/* Compiles the schema with every libxml2 message routed to `m` (the file
 * loader reports through the thread's global handler, not the RelaxNG
 * context's). */
static xmlRelaxNGPtr load_schema(const char *rng_path, Messages *m)
{
    xmlStructuredErrorFunc saved = xmlStructuredError;
    void *saved_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(m, on_schema_error);

    xmlRelaxNGPtr schema = NULL;
    xmlRelaxNGParserCtxtPtr pctxt = xmlRelaxNGNewParserCtxt(rng_path);
    if (pctxt) {
        xmlRelaxNGSetParserStructuredErrors(pctxt, on_schema_error, m);
        schema = xmlRelaxNGParse(pctxt);
        xmlRelaxNGFreeParserCtxt(pctxt);
    }
    xmlSetStructuredErrorFunc(saved_ctx, saved);
    return schema;
}

bool vmm_domain_validate_schema(const char *xml, size_t len, const char *rng_path,
                                GError **err)
{
    g_return_val_if_fail(xml != NULL || len == 0, false);
    g_return_val_if_fail(rng_path != NULL, false);
    xmlInitParser();

    if (access(rng_path, R_OK) != 0) {
        int e = errno;
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO,
                    "cannot read RelaxNG schema '%s': %s", rng_path, g_strerror(e));
        return false;
    }
    xmlDocPtr doc = read_document(xml ? xml : "", len, err);
    if (!doc)
        return false;

    Messages m = { .text = g_string_new(NULL) };
    xmlRelaxNGPtr schema = load_schema(rng_path, &m);
    if (!schema) {
        messages_finish(&m);
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO,
                    "cannot compile RelaxNG schema '%s': %s", rng_path,
                    m.count ? m.text->str : "unknown error");
        g_string_free(m.text, TRUE);
        xmlFreeDoc(doc);
        return false;
    }

    bool ok = false;
    xmlRelaxNGValidCtxtPtr vctxt = xmlRelaxNGNewValidCtxt(schema);
    if (vctxt) {
        xmlRelaxNGSetValidStructuredErrors(vctxt, on_schema_error, &m);
        int rc = xmlRelaxNGValidateDoc(vctxt, doc);
        xmlRelaxNGFreeValidCtxt(vctxt);
        ok = rc == 0;
        if (!ok) {
            messages_finish(&m);
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "document does not conform to schema '%s': %s", rng_path,
                        m.count ? m.text->str
                                : (rc < 0 ? "internal validation error"
                                          : "invalid"));
        }
    } else {
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                    "cannot create a RelaxNG validation context (out of memory)");
    }
    xmlRelaxNGFree(schema);
    xmlFreeDoc(doc);
    g_string_free(m.text, TRUE);
    return ok;
}

/* ------------------------------------------------------------------------ */
/* copy and equality                                                        */

static VmmChrDef *chr_copy(const VmmChrDef *c)
{
    VmmChrDef *n = g_new0(VmmChrDef, 1);
    *n = *c;
    n->path = g_strdup(c->path);
    return n;
}

static VmmDiskDef *disk_copy(const VmmDiskDef *d)
{
    VmmDiskDef *n = g_new0(VmmDiskDef, 1);
    *n = *d;
    n->path = g_strdup(d->path);
    n->target_dev = g_strdup(d->target_dev);
    n->serial = g_strdup(d->serial);
    return n;
}

VmmDomainDef *vmm_domain_def_copy(const VmmDomainDef *def)
{
    g_return_val_if_fail(def != NULL, NULL);
    VmmDomainDef *n = g_new0(VmmDomainDef, 1);
    *n = *def;
    n->name = g_strdup(def->name);
    n->title = g_strdup(def->title);
    n->description = g_strdup(def->description);
    n->os_arch = g_strdup(def->os_arch);
    n->os_machine = g_strdup(def->os_machine);
    n->kernel = g_strdup(def->kernel);
    n->initrd = g_strdup(def->initrd);
    n->cmdline = g_strdup(def->cmdline);
    n->emulator = g_strdup(def->emulator);
    n->cpu = vmm_cpu_def_copy(def->cpu);
    n->disks = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_disk_def_free);
    for (guint i = 0; def->disks && i < def->disks->len; i++)
        g_ptr_array_add(n->disks, disk_copy(g_ptr_array_index(def->disks, i)));
    n->serials = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_chr_def_free);
    for (guint i = 0; def->serials && i < def->serials->len; i++)
        g_ptr_array_add(n->serials, chr_copy(g_ptr_array_index(def->serials, i)));
    n->nets = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_net_def_free);
    for (guint i = 0; def->nets && i < def->nets->len; i++)
        g_ptr_array_add(n->nets, vmm_net_def_copy(g_ptr_array_index(def->nets, i)));
    return n;
}

static bool str_eq(const char *a, const char *b)
{
    return g_strcmp0(a, b) == 0;
}

static bool chr_equal(const VmmChrDef *a, const VmmChrDef *b)
{
    return a->type == b->type && str_eq(a->path, b->path) &&
           a->append == b->append && a->listen == b->listen && a->port == b->port;
}

static bool disk_equal(const VmmDiskDef *a, const VmmDiskDef *b)
{
    return a->type == b->type && str_eq(a->path, b->path) &&
           str_eq(a->target_dev, b->target_dev) && a->bus == b->bus &&
           a->readonly == b->readonly && str_eq(a->serial, b->serial) &&
           a->cache == b->cache && a->io == b->io && a->discard == b->discard &&
           a->queues == b->queues && a->pci_slot == b->pci_slot &&
           a->reconnect == b->reconnect;
}

static guint array_len(const GPtrArray *a)
{
    return a ? a->len : 0;
}

bool vmm_domain_def_equal(const VmmDomainDef *a, const VmmDomainDef *b)
{
    if (a == b)
        return true;
    if (!a || !b)
        return false;
    if (!str_eq(a->name, b->name) || a->has_uuid != b->has_uuid ||
        (a->has_uuid && memcmp(a->uuid, b->uuid, sizeof(a->uuid)) != 0) ||
        !str_eq(a->title, b->title) || !str_eq(a->description, b->description) ||
        a->memory_kib != b->memory_kib ||
        a->current_memory_kib != b->current_memory_kib || a->vcpus != b->vcpus ||
        !str_eq(a->os_arch, b->os_arch) || !str_eq(a->os_machine, b->os_machine) ||
        !str_eq(a->kernel, b->kernel) || !str_eq(a->initrd, b->initrd) ||
        !str_eq(a->cmdline, b->cmdline) || a->acpi != b->acpi ||
        a->apic != b->apic || a->pae != b->pae || a->clock != b->clock ||
        a->on_poweroff != b->on_poweroff || a->on_reboot != b->on_reboot ||
        a->on_crash != b->on_crash || !str_eq(a->emulator, b->emulator) ||
        !vmm_cpu_def_equal(a->cpu, b->cpu))
        return false;
    if (array_len(a->disks) != array_len(b->disks) ||
        array_len(a->serials) != array_len(b->serials) ||
        array_len(a->nets) != array_len(b->nets))
        return false;
    for (guint i = 0; i < array_len(a->nets); i++)
        if (!vmm_net_def_equal(g_ptr_array_index(a->nets, i), g_ptr_array_index(b->nets, i)))
            return false;
    for (guint i = 0; i < array_len(a->disks); i++)
        if (!disk_equal(g_ptr_array_index(a->disks, i), g_ptr_array_index(b->disks, i)))
            return false;
    for (guint i = 0; i < array_len(a->serials); i++)
        if (!chr_equal(g_ptr_array_index(a->serials, i),
                       g_ptr_array_index(b->serials, i)))
            return false;
    return true;
}
