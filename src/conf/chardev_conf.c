/* <serial> and <console>: parsing (strict, libvirt's forms, port
 * assignment and console aliasing) and the canonical output. */
#include "conf/chardev_conf.h"

#include <stddef.h>
#include <string.h>
#include <sys/un.h>

#include "conf/conf_parse.h"

#define UNIX_PATH_MAX_LEN (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

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

bool conf_chr_parse_backend(const ParseCtx *pc, xmlNodePtr node, xmlNodePtr source,
                            VmmChrDef *def, GError **err)
{
    /* Index order matches VmmChrType. */
    static const char *const types[] = { "stdio", "file", "pty", "unix", NULL };
    static const char *const known_types[] = {
        "dev", "pipe", "tcp", "udp", "null", "vc", "spicevmc", "spiceport",
        "nmdm", "qemu-vdagent", "dbus", NULL };
    int idx;
    /* libvirt's default when type is missing. */
    g_autofree char *type = get_attr(node, "type");
    if (!parse_choice(pc, node, "type", type ? type : "pty", types, known_types,
                      &idx, err))
        return false;
    def->type = (VmmChrType)idx;
    return parse_chr_source(pc, node, source, def, err);
}

static bool parse_chr(const ParseCtx *pc, xmlNodePtr node, bool console,
                      ChrItem **out, GError **err)
{
    static const char *const attrs[] = { "type", NULL };
    static const char *const names[] = { "source", "target", NULL };
    xmlNodePtr s[2] = { 0 };
    g_autoptr(VmmChrDef) def = g_new0(VmmChrDef, 1);

    if (!check_attrs(pc, node, attrs, err) || !collect_children(pc, node, names, s, err))
        return false;
    if (!conf_chr_parse_backend(pc, node, s[0], def, err))
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

bool conf_chr_format_source(ConfWriter *w, xmlNodePtr parent, const VmmChrDef *chr,
                            const char *what)
{
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
                "cannot format domain XML: %s: unknown type %d", what, (int)chr->type);
    w->failed = true;
    return false;
}

/* <serial> for each port and, like libvirt, a <console> aliasing the first
 * one (same type and source, target port = that serial's port). */
static bool format_serials(ConfWriter *w, xmlNodePtr devices, const GPtrArray *serials)
{
    for (guint i = 0; serials && i < serials->len; i++) {
        const VmmChrDef *chr = g_ptr_array_index(serials, i);
        g_autofree char *what = g_strdup_printf("serial port %u source path", chr->port);
        xmlNodePtr s = add_elem(devices, "serial");
        set_attr(s, "type", vmm_chr_type_to_string(chr->type));
        if (!conf_chr_format_source(w, s, chr, what))
            return false;
        xmlNodePtr t = add_elem(s, "target");
        set_attr(t, "type", "isa-serial");
        set_attrf(t, "port", "%u", chr->port);
        xmlNodePtr m = add_elem(t, "model");
        set_attr(m, "name", "isa-serial");
    }
    if (serials && serials->len > 0) {
        const VmmChrDef *chr = g_ptr_array_index(serials, 0);
        g_autofree char *what = g_strdup_printf("serial port %u source path", chr->port);
        xmlNodePtr c = add_elem(devices, "console");
        set_attr(c, "type", vmm_chr_type_to_string(chr->type));
        if (!conf_chr_format_source(w, c, chr, what))
            return false;
        xmlNodePtr t = add_elem(c, "target");
        set_attr(t, "type", "serial");
        set_attrf(t, "port", "%u", chr->port);
    }
    return true;
}


/* The <serial>s read so far and the first <console>. */
typedef struct {
    GPtrArray *serials;   /* ChrItem* */
    ChrItem *console;
} ChrSeen;

static void *chr_seen_new(void)
{
    ChrSeen *seen = g_new0(ChrSeen, 1);
    seen->serials = g_ptr_array_new_with_free_func(chr_item_free);
    return seen;
}

static void chr_seen_free(void *p)
{
    ChrSeen *seen = p;
    if (seen->console)
        chr_item_free(seen->console);
    g_ptr_array_unref(seen->serials);
    g_free(seen);
}

/* <console><target type='virtio'/>: a virtio console port (vserial_conf.c). */
static bool console_target_is_virtio(xmlNodePtr console)
{
    for (xmlNodePtr t = console->children; t; t = t->next) {
        if (t->type != XML_ELEMENT_NODE || !name_is(t, "target"))
            continue;
        g_autofree char *type = get_attr(t, "type");
        return g_strcmp0(type, "virtio") == 0;
    }
    return false;
}

static bool chr_parse(ConfDevices *d, void *state, xmlNodePtr c, GError **err)
{
    ChrSeen *seen = state;
    const ParseCtx *pc = d->pc;
    ChrItem *it;
    if (name_is(c, "serial")) {
        if (!parse_chr(pc, c, false, &it, err))
            return false;
        g_ptr_array_add(seen->serials, it);
        return true;
    }
    if (console_target_is_virtio(c))
        return conf_vserial_console_parse(d, c, err);
    if (!parse_chr(pc, c, true, &it, err))
        return false;
    if (seen->console) {
        chr_item_free(it);
        return conf_fail(pc, c, VMM_CONF_ERROR_INVALID, err,
                         "only the first <console> can be a serial console "
                         "(first <console> on line %ld); another one needs "
                         "<target type='virtio'/>", line_of(seen->console->node));
    }
    seen->console = it;
    return true;
}

static bool chr_finish(ConfDevices *d, void *state, GError **err)
{
    ChrSeen *seen = state;
    return resolve_serials(d->pc, seen->serials, &seen->console, d->def, err);
}

static bool serials_format(ConfWriter *w, xmlNodePtr devices, const VmmDomainDef *def)
{
    return format_serials(w, devices, def->serials);
}

static gpointer chr_copy(gconstpointer p)
{
    const VmmChrDef *c = p;
    VmmChrDef *n = g_new0(VmmChrDef, 1);
    *n = *c;
    n->path = g_strdup(c->path);
    return n;
}

static bool chr_equal(gconstpointer x, gconstpointer y)
{
    const VmmChrDef *a = x, *b = y;
    return a->type == b->type && g_strcmp0(a->path, b->path) == 0 &&
           a->append == b->append && a->listen == b->listen && a->port == b->port;
}

static const char *const chr_elements[] = { "serial", "console", NULL };

const ConfDeviceClass conf_chardev_class = {
    .elements = chr_elements,
    .state_new = chr_seen_new,
    .state_free = chr_seen_free,
    .parse = chr_parse,
    .finish = chr_finish,
    .format = serials_format,
    .list = &conf_chardev_list,
    .item_copy = chr_copy,
    .item_equal = chr_equal,
};
