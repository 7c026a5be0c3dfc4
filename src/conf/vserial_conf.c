/* <controller type='virtio-serial'>, virtio <console>s and <channel>s:
 * parsing (strict, libvirt's forms), port assignment as libvirt does it
 * (a virtio console takes port 0, channels the first free port from 1)
 * and the canonical output. */
#include "conf/vserial_conf.h"

#include <stddef.h>
#include <string.h>

#include "conf/conf_parse.h"

/* ---- <controller> ------------------------------------------------------- */

static bool controller_parse(ConfDevices *d, void *state, xmlNodePtr node, GError **err)
{
    enum { K_ADDRESS, K_ALIAS, K_DRIVER, K_N };
    static const char *const names[] = { "address", "alias", "driver", NULL };
    static const char *const attrs[] = { "type", "index", "ports", "vectors", NULL };
    static const char *const types[] = { "virtio-serial", NULL };
    static const char *const known_types[] = {
        "ide", "fdc", "scsi", "sata", "usb", "ccid", "xenbus", "pci", "isa", NULL };
    ParseCtx ctx = { d->pc->source, "controller: " };
    const ParseCtx *pc = &ctx;
    xmlNodePtr s[K_N] = { 0 };
    int idx;
    (void)state;

    if (!check_attrs(pc, node, attrs, err) || !collect_children(pc, node, names, s, err))
        return false;
    g_autofree char *type = get_attr(node, "type");
    if (!type)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<controller> needs a 'type' attribute (vmmd supports "
                         "'virtio-serial')");
    if (!parse_choice(pc, node, "type", type, types, known_types, &idx, err))
        return false;
    for (int k = K_ALIAS; k < K_N; k++)
        if (s[k])
            return unsupported_element(pc, s[k], err);
    g_autofree char *vectors = get_attr(node, "vectors");
    if (vectors)
        return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                         "attribute 'vectors' on <controller type='virtio-serial'> is not "
                         "supported: vmmd gives every queue an MSI-X vector");
    unsigned index = 0;
    if (!parse_uint_attr(pc, node, "index", 0, 0, false, &index, err))
        return false;
    if (d->def->controllers->len)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<devices> has more than one <controller type='virtio-serial'>: "
                         "vmmd puts every virtio console and channel on one controller, "
                         "index 0");
    g_autofree VmmControllerDef *c = g_new0(VmmControllerDef, 1);
    c->pci_slot = -1;
    if (!parse_uint_attr(pc, node, "ports", 1, VMM_VSERIAL_MAX_PORTS, false, &c->ports, err))
        return false;
    if (s[K_ADDRESS] && !parse_pci_address(pc, s[K_ADDRESS], d->pci_slots, &c->pci_slot, err))
        return false;
    g_ptr_array_add(d->def->controllers, g_steal_pointer(&c));
    return true;
}

/* libvirt adds the controller that virtio consoles and channels need. */
static bool controller_finish(ConfDevices *d, void *state, GError **err)
{
    (void)state;
    (void)err;
    if (d->def->channels->len && !d->def->controllers->len) {
        VmmControllerDef *c = g_new0(VmmControllerDef, 1);
        c->pci_slot = -1;
        g_ptr_array_add(d->def->controllers, c);
    }
    return true;
}

static bool controllers_format(ConfWriter *w, xmlNodePtr devices, const VmmDomainDef *def)
{
    (void)w;
    for (guint i = 0; def->controllers && i < def->controllers->len; i++) {
        const VmmControllerDef *c = g_ptr_array_index(def->controllers, i);
        xmlNodePtr n = add_elem(devices, "controller");
        set_attr(n, "type", "virtio-serial");
        set_attrf(n, "index", "%u", c->index);
        if (c->ports)
            set_attrf(n, "ports", "%u", c->ports);
        if (c->pci_slot >= 0)
            format_pci_address(n, c->pci_slot);
    }
    return true;
}

static gpointer controller_copy(gconstpointer p)
{
    return g_memdup2(p, sizeof(VmmControllerDef));
}

static bool controller_equal(gconstpointer x, gconstpointer y)
{
    const VmmControllerDef *a = x, *b = y;
    return a->index == b->index && a->ports == b->ports && a->pci_slot == b->pci_slot;
}

static const char *const controller_elements[] = { "controller", NULL };

const ConfDeviceClass conf_controller_class = {
    .elements = controller_elements,
    .parse = controller_parse,
    .finish = controller_finish,
    .format = controllers_format,
    .list = &conf_controller_list,
    .item_copy = controller_copy,
    .item_equal = controller_equal,
};

/* ---- virtio <console> and <channel> ------------------------------------- */

/* <address type='virtio-serial' controller='0' bus='0' port='N'/>. */
static bool parse_vserial_address(const ParseCtx *pc, xmlNodePtr node, VmmChannelDef *ch,
                                  GError **err)
{
    static const char *const attrs[] = { "type", "controller", "bus", "port", NULL };
    static const char *const types[] = { "virtio-serial", NULL };
    static const char *const known_types[] = {
        "pci", "drive", "ccid", "usb", "spapr-vio", "ccw", "isa", "virtio-mmio", "dimm",
        "unassigned", NULL };
    int idx;
    unsigned zero = 0;
    g_autofree char *type = get_attr(node, "type");
    if (!type)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<address> needs type='virtio-serial'");
    if (!check_empty(pc, node, attrs, err) ||
        !parse_choice(pc, node, "type", type, types, known_types, &idx, err) ||
        !parse_uint_attr(pc, node, "controller", 0, 0, false, &zero, err) ||
        !parse_uint_attr(pc, node, "bus", 0, 0, false, &zero, err))
        return false;
    g_autofree char *port = get_attr(node, "port");
    if (!port)
        return true;   /* libvirt assigns it */
    /* Port 0 belongs to the virtio console (QEMU refuses a channel there). */
    unsigned min = ch->kind == VMM_VSERIAL_CONSOLE ? 0 : 1;
    if (!parse_uint_attr(pc, node, "port", min, VMM_VSERIAL_MAX_PORTS - 1, false, &ch->port,
                         err))
        return false;
    if (ch->kind == VMM_VSERIAL_CONSOLE && ch->port != 0)
        return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                         "a virtio console on virtio-serial port %u is not supported: "
                         "vmmd's virtio console is port 0 (hvc0)", ch->port);
    ch->port_set = true;
    return true;
}

/* A name that is safe as a path component and in guest sysfs: printable
 * ASCII without '/', not "." or "..". */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > VMM_VSERIAL_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s > '~' || *s == '/')
            return false;
    return true;
}

static bool parse_channel_target(const ParseCtx *pc, xmlNodePtr tgt, VmmChannelDef *ch,
                                 GError **err)
{
    static const char *const console_attrs[] = { "type", "port", NULL };
    static const char *const channel_attrs[] = { "type", "name", "state", NULL };
    static const char *const types[] = { "virtio", NULL };
    static const char *const known_types[] = { "guestfwd", "xen", NULL };
    bool console = ch->kind == VMM_VSERIAL_CONSOLE;
    int idx;
    if (!check_empty(pc, tgt, console ? console_attrs : channel_attrs, err))
        return false;
    g_autofree char *type = get_attr(tgt, "type");
    if (!type)
        return conf_fail(pc, tgt, VMM_CONF_ERROR_INVALID, err,
                         "<target> needs type='virtio'");
    if (!parse_choice(pc, tgt, "type", type, types, known_types, &idx, err))
        return false;
    if (console)
        return parse_uint_attr(pc, tgt, "port", 0, VMM_VSERIAL_MAX_PORTS, false,
                               &ch->target_port, err);
    g_autofree char *state = get_attr(tgt, "state");
    if (state)   /* libvirt writes it in live XML only, and never reads it */
        return conf_fail(pc, tgt, VMM_CONF_ERROR_INVALID, err,
                         "attribute 'state' on <target> is output only (libvirt reports "
                         "whether the guest opened the port there)");
    ch->name = get_attr(tgt, "name");
    if (ch->name && !name_ok(ch->name)) {
        g_autofree char *shown = g_strescape(ch->name, NULL);
        return conf_fail(pc, tgt, VMM_CONF_ERROR_INVALID, err,
                         "attribute 'name'='%s' on <target> is invalid: 1 to %d printable "
                         "characters without spaces or '/'", shown, VMM_VSERIAL_NAME_MAX);
    }
    return true;
}

static bool channel_parse_node(ConfDevices *d, xmlNodePtr node, VmmVserialKind kind,
                               GError **err)
{
    enum { K_SOURCE, K_TARGET, K_ADDRESS, K_ALIAS, K_LOG, K_PROTOCOL, K_N };
    static const char *const names[] = { "source", "target", "address", "alias", "log",
                                         "protocol", NULL };
    static const char *const attrs[] = { "type", NULL };
    xmlNodePtr s[K_N] = { 0 };
    g_autofree char *subject = kind == VMM_VSERIAL_CONSOLE
        ? g_strdup("virtio console: ")
        : g_strdup_printf("channel %u: ", d->def->channels->len);
    ParseCtx ctx = { d->pc->source, subject };
    const ParseCtx *pc = &ctx;

    g_autoptr(VmmChannelDef) ch = g_new0(VmmChannelDef, 1);
    ch->kind = kind;
    ch->target_port = G_MAXUINT;   /* not given: channel_finish picks libvirt's */
    if (!check_attrs(pc, node, attrs, err) || !collect_children(pc, node, names, s, err))
        return false;
    for (int k = K_ALIAS; k < K_N; k++)
        if (s[k])
            return unsupported_element(pc, s[k], err);
    if (!s[K_TARGET])
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<channel> needs <target type='virtio' name='...'/>");
    if (!parse_channel_target(pc, s[K_TARGET], ch, err))
        return false;
    /* libvirt generates the socket path of a named unix channel in bind
     * mode; vmm-worker does it at start (vmm_channel_auto_path). */
    xmlNodePtr src = s[K_SOURCE];
    g_autofree char *type = get_attr(node, "type");
    bool auto_path = false;
    if (kind == VMM_VSERIAL_CHANNEL && src && g_strcmp0(type, "unix") == 0) {
        g_autofree char *path = get_attr(src, "path");
        g_autofree char *mode = get_attr(src, "mode");
        auto_path = !path && g_strcmp0(mode, "bind") == 0;
    }
    if (auto_path) {
        static const char *const src_attrs[] = { "mode", NULL };
        if (!check_empty(pc, src, src_attrs, err))
            return false;
        if (!ch->name)
            return conf_fail(pc, src, VMM_CONF_ERROR_INVALID, err,
                             "a unix channel without a source path needs <target name=...>, "
                             "from which vmmd makes the path");
        ch->chr.type = VMM_CHR_UNIX;
        ch->chr.listen = true;
    } else if (!conf_chr_parse_backend(pc, node, src, &ch->chr, err)) {
        return false;
    }
    if (s[K_ADDRESS] && !parse_vserial_address(pc, s[K_ADDRESS], ch, err))
        return false;
    for (guint i = 0; i < d->def->channels->len; i++) {
        const VmmChannelDef *o = g_ptr_array_index(d->def->channels, i);
        if (kind == VMM_VSERIAL_CONSOLE && o->kind == kind)
            return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "a second <console> with <target type='virtio'/> (the first on "
                             "line %ld): vmmd has one virtio console, hvc0", o->line);
        if (ch->name && o->name && !strcmp(o->name, ch->name))
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "channel name '%s' is taken (by the channel on line %ld)",
                             ch->name, o->line);
        if (ch->port_set && o->port_set && o->port == ch->port)
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "virtio-serial port %u is taken (by the channel on line %ld)",
                             ch->port, o->line);
    }
    ch->line = line_of(node);
    g_ptr_array_add(d->def->channels, g_steal_pointer(&ch));
    return true;
}

bool conf_vserial_console_parse(ConfDevices *d, xmlNodePtr node, GError **err)
{
    return channel_parse_node(d, node, VMM_VSERIAL_CONSOLE, err);
}

static bool channel_parse(ConfDevices *d, void *state, xmlNodePtr node, GError **err)
{
    (void)state;
    return channel_parse_node(d, node, VMM_VSERIAL_CHANNEL, err);
}

static gint channel_cmp(gconstpointer a, gconstpointer b)
{
    const VmmChannelDef *x = *(VmmChannelDef *const *)a, *y = *(VmmChannelDef *const *)b;
    return (int)x->kind - (int)y->kind;   /* consoles first; stable within a kind */
}

/* After all elements: the virtio console on port 0, channels without an
 * address on the first free port from 1 (libvirt's
 * virDomainVirtioSerialAddrAutoAssign), all within the controller's
 * ports=. Duplicates were refused while parsing. */
static bool channel_finish(ConfDevices *d, void *state, GError **err)
{
    (void)state;
    GPtrArray *chs = d->def->channels;
    bool used[VMM_VSERIAL_MAX_PORTS] = { 0 };
    g_ptr_array_sort(chs, channel_cmp);   /* stable: consoles first, then document order */
    for (guint i = 0; i < chs->len; i++) {
        VmmChannelDef *ch = g_ptr_array_index(chs, i);
        if (ch->kind == VMM_VSERIAL_CONSOLE) {
            ch->port = 0;
            ch->port_set = true;
            /* libvirt: the console after the serial one (console0) is 1 */
            if (ch->target_port == G_MAXUINT)
                ch->target_port = d->def->serials->len ? 1 : 0;
        }
        if (ch->port_set)
            used[ch->port] = true;
    }
    const VmmControllerDef *c = d->def->controllers->len
        ? g_ptr_array_index(d->def->controllers, 0) : NULL;
    unsigned limit = c && c->ports ? c->ports : VMM_VSERIAL_MAX_PORTS;
    for (guint i = 0; i < chs->len; i++) {
        VmmChannelDef *ch = g_ptr_array_index(chs, i);
        if (!ch->port_set) {
            unsigned p = 1;
            while (p < limit && used[p])
                p++;
            ch->port = p;
            ch->port_set = used[MIN(p, VMM_VSERIAL_MAX_PORTS - 1)] = true;
        }
        if (ch->port >= limit) {
            /* conf_fail's form; the element is gone, its line kept */
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "%s:%ld: no virtio-serial port for this %s: the controller has "
                        "ports 0 to %u", d->pc->source, ch->line,
                        ch->kind == VMM_VSERIAL_CONSOLE ? "console" : "channel", limit - 1);
            return false;
        }
    }
    return true;
}

static bool channels_format(ConfWriter *w, xmlNodePtr devices, const VmmDomainDef *def)
{
    for (guint i = 0; def->channels && i < def->channels->len; i++) {
        const VmmChannelDef *ch = g_ptr_array_index(def->channels, i);
        bool console = ch->kind == VMM_VSERIAL_CONSOLE;
        g_autofree char *what = console ? g_strdup("virtio console source path")
                                        : g_strdup_printf("channel %u source path", i);
        xmlNodePtr n = add_elem(devices, console ? "console" : "channel");
        set_attr(n, "type", vmm_chr_type_to_string(ch->chr.type));
        if (ch->chr.type == VMM_CHR_UNIX && !ch->chr.path) {
            xmlNodePtr src = add_elem(n, "source");
            set_attr(src, "mode", "bind");
        } else if (!conf_chr_format_source(w, n, &ch->chr, what)) {
            return false;
        }
        xmlNodePtr t = add_elem(n, "target");
        set_attr(t, "type", "virtio");
        if (console) {
            set_attrf(t, "port", "%u", ch->target_port);
            continue;
        }
        if (ch->name && !set_attr_checked(w, t, "channel name", "name", ch->name))
            return false;
        xmlNodePtr a = add_elem(n, "address");
        set_attr(a, "type", "virtio-serial");
        set_attr(a, "controller", "0");
        set_attr(a, "bus", "0");
        set_attrf(a, "port", "%u", ch->port);
    }
    return true;
}

static gpointer channel_copy(gconstpointer p)
{
    const VmmChannelDef *c = p;
    VmmChannelDef *n = g_memdup2(c, sizeof(*c));
    n->chr.path = g_strdup(c->chr.path);
    n->name = g_strdup(c->name);
    return n;
}

static bool channel_equal(gconstpointer x, gconstpointer y)
{
    const VmmChannelDef *a = x, *b = y;
    return a->kind == b->kind && a->chr.type == b->chr.type &&
           g_strcmp0(a->chr.path, b->chr.path) == 0 && a->chr.append == b->chr.append &&
           a->chr.listen == b->chr.listen && g_strcmp0(a->name, b->name) == 0 &&
           a->target_port == b->target_port && a->port == b->port;
}

static const char *const channel_elements[] = { "channel", NULL };

const ConfDeviceClass conf_channel_class = {
    .elements = channel_elements,
    .parse = channel_parse,
    .finish = channel_finish,
    .format = channels_format,
    .list = &conf_channel_list,
    .item_copy = channel_copy,
    .item_equal = channel_equal,
};
