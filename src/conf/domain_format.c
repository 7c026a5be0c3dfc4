/* VmmDomainDef -> canonical libvirt domain XML; define-time defaults;
 * RelaxNG validation; copy and equality.
 *
 * The XML is built as a libxml2 tree and serialized by libxml2, so every
 * text and attribute value is escaped by the library, never by hand. */
#include "conf/domain_format.h"
#include "conf/conf_parse.h"
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

#define MAX_SCHEMA_MESSAGES 5      /* validation messages kept in an error */

char *vmm_domain_schema_path(void)
{
    const char *dir = g_getenv("VMM_SCHEMA_DIR");
    if (!dir || !*dir)
        dir = VMM_SCHEMA_DIR;
    return g_build_filename(dir, "domain.rng", NULL);
}

/* ------------------------------------------------------------------------ */
/* formatting                                                               */

static bool build_domain(ConfWriter *w, const VmmDomainDef *def, xmlNodePtr root)
{
    set_attr(root, "type", "kvm");

    if (!conf_format_identity(w, root, def->name, def->uuid, def->has_uuid, def->title,
                              def->description))
        return false;

    /* resources */
    set_attr(add_uint(root, "memory", def->memory_kib), "unit", "KiB");
    set_attr(add_uint(root, "currentMemory", def->current_memory_kib), "unit", "KiB");
    vmm_tune_def_format_memory(root, def->tune);
    set_attr(add_uint(root, "vcpu", def->vcpus), "placement", "static");
    vmm_tune_def_format_cpu(root, def->tune);

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
    for (size_t i = 0; conf_device_classes[i]; i++)
        if (!conf_device_classes[i]->format(w, devices, def))
            return false;
    /* libvirt's place: after <devices> */
    if (def->seclabel)
        vmm_seclabel_def_format(root, def->seclabel);
    return !w->failed;
}

char *vmm_domain_def_format(const VmmDomainDef *def, GError **err)
{
    g_return_val_if_fail(def != NULL, NULL);
    xmlInitParser();

    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr root = xmlNewDocNode(doc, NULL, (const xmlChar *)"domain", NULL);
    xmlDocSetRootElement(doc, root);
    ConfWriter w = { .doc = doc, .err = err };
    if (!build_domain(&w, def, root)) {
        xmlFreeDoc(doc);
        return NULL;
    }

    char *out = conf_serialize(doc, "domain XML", err);
    xmlFreeDoc(doc);
    return out;
}

/* ------------------------------------------------------------------------ */
/* define-time defaults                                                     */

/* The PCI devices of `def` in placement order: the classes' order in
 * conf_device_classes (disks, interfaces, ...), document order within one.
 * Adds each one's item to `items`, its slot field to `fields` and its name
 * to `names`. */
static void pci_devices(const VmmDomainDef *def, GPtrArray *items, GPtrArray *fields,
                        GPtrArray *names)
{
    for (size_t c = 0; conf_device_classes[c]; c++) {
        const ConfDeviceClass *k = conf_device_classes[c];
        GPtrArray *list = *conf_class_list(k, def);
        if (!k->item_pci_slot || !list)
            continue;
        for (guint i = 0; i < list->len; i++) {
            gpointer item = g_ptr_array_index(list, i);
            int *slot = k->item_pci_slot(item);
            if (!slot)   /* e.g. <memballoon model='none'> */
                continue;
            g_ptr_array_add(items, item);
            g_ptr_array_add(fields, slot);
            g_ptr_array_add(names, k->item_name(item, i));
        }
    }
}

static bool has_disk_bus(const VmmDomainDef *def, VmmDiskBus bus)
{
    for (guint i = 0; def->disks && i < def->disks->len; i++)
        if (((const VmmDiskDef *)g_ptr_array_index(def->disks, i))->bus == bus)
            return true;
    return false;
}

bool vmm_domain_def_has_ide(const VmmDomainDef *def)
{
    return has_disk_bus(def, VMM_DISK_BUS_IDE);
}

bool vmm_domain_def_has_sata(const VmmDomainDef *def)
{
    return has_disk_bus(def, VMM_DISK_BUS_SATA);
}

/* slots[i] for fields[i]: the explicit slot, or the lowest free one from 1
 * upward in placement order; with IDE disks, slot 1 is the PIIX3's, with
 * SATA disks slot 0x1f the AHCI controller's. */
static bool place_pci(GPtrArray *fields, GPtrArray *names, const VmmDomainDef *def, int *slots,
                      GError **err)
{
    bool ide = vmm_domain_def_has_ide(def), sata = vmm_domain_def_has_sata(def);
    guint n = fields->len;
    for (guint i = 0; i < n; i++)
        slots[i] = *(int *)g_ptr_array_index(fields, i);
    bool used[PCI_SLOTS] = { [0] = true };   /* slot 0: host bridge */
    /* IDE disks: the PIIX3 functions at 00:01.x, where QEMU's i440fx has them */
    used[VMM_PCI_SLOT_IDE] = ide;
    used[VMM_PCI_SLOT_AHCI] = sata;

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
        if (ide && s == VMM_PCI_SLOT_IDE) {
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "%s: PCI slot 0x%02x holds the IDE controller (00:01.1, as on "
                        "QEMU's pc machine) when a disk has bus='ide'", name, s);
            return false;
        }
        if (sata && s == VMM_PCI_SLOT_AHCI) {
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "%s: PCI slot 0x%02x holds the AHCI controller (00:1f.0) when a "
                        "disk has bus='sata'", name, s);
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

GHashTable *vmm_domain_def_pci_placement(const VmmDomainDef *def, GError **err)
{
    g_return_val_if_fail(def != NULL, NULL);
    g_autoptr(GPtrArray) items = g_ptr_array_new();
    g_autoptr(GPtrArray) fields = g_ptr_array_new();
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    pci_devices(def, items, fields, names);
    g_autofree int *slots = g_new0(int, fields->len + 1);
    if (!place_pci(fields, names, def, slots, err))
        return NULL;
    GHashTable *placement = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (guint i = 0; i < items->len; i++)
        g_hash_table_insert(placement, items->pdata[i], GINT_TO_POINTER(slots[i]));
    return placement;
}

bool vmm_domain_def_fill_defaults(VmmDomainDef *def, GError **err)
{
    g_return_val_if_fail(def != NULL, false);
    /* libvirt on x86 KVM: no <memballoon> means a virtio balloon. */
    bool added_balloon = false;
    if (!def->memballoons)   /* a definition built in code */
        def->memballoons = g_ptr_array_new_with_free_func(
            (GDestroyNotify)vmm_balloon_def_free);
    if (!def->memballoons->len) {
        VmmBalloonDef *b = g_new0(VmmBalloonDef, 1);
        b->model = VMM_BALLOON_VIRTIO;
        b->pci_slot = -1;
        g_ptr_array_add(def->memballoons, b);
        added_balloon = true;
    }
    g_autoptr(GPtrArray) items = g_ptr_array_new();
    g_autoptr(GPtrArray) fields = g_ptr_array_new();
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    pci_devices(def, items, fields, names);
    g_autofree int *slots = g_new0(int, fields->len + 1);
    /* Plan first: on failure nothing changes. */
    if (!place_pci(fields, names, def, slots, err)) {
        if (added_balloon)
            g_ptr_array_set_size(def->memballoons, 0);
        return false;
    }
    for (guint i = 0; i < fields->len; i++)
        *(int *)g_ptr_array_index(fields, i) = slots[i];
    if (!def->has_uuid) {
        conf_random_uuid(def->uuid);
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
    n->tune = vmm_tune_def_copy(def->tune);
    n->seclabel = vmm_seclabel_def_copy(def->seclabel);
    conf_devices_copy(n, def);
    return n;
}

static bool str_eq(const char *a, const char *b)
{
    return g_strcmp0(a, b) == 0;
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
        !vmm_cpu_def_equal(a->cpu, b->cpu) || !vmm_tune_def_equal(a->tune, b->tune) ||
        !vmm_seclabel_def_equal(a->seclabel, b->seclabel))
        return false;
    return conf_devices_equal(a, b);
}
