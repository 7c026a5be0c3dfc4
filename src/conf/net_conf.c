/* <interface>: parsing (strict, libvirt's forms and defaults) and the
 * canonical output. */
#include "conf/net_conf.h"

#include <stddef.h>
#include <string.h>

#include "conf/conf_parse.h"

static const char *const types[] = { "bridge", "ethernet", "user", "vhostuser", "network",
                                     NULL };
static const char *const known_types[] = {
    "direct", "hostdev", "mcast", "server", "client", "udp", "vdpa",
    "internal", "null", "vds", NULL };
static const char *const models[] = { "virtio", "e1000", "rtl8139", NULL };
static const char *const drivers[] = { "", "vhost", "qemu", NULL };
static const char *const host_attrs[] = {
    "csum", "gso", "tso4", "tso6", "ecn", "ufo", "mrg_rxbuf", NULL };
static const char *const guest_attrs[] = { "csum", "tso4", "tso6", "ecn", "ufo", NULL };
static const char *const onoff[] = { "", "on", "off", NULL };

const char *vmm_net_type_to_string(VmmNetType t)
{
    return types[t];
}

const char *vmm_net_model_to_string(VmmNetModel m)
{
    return models[m];
}

void vmm_net_mac_format(const uint8_t mac[6], char out[18])
{
    g_snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
               mac[4], mac[5]);
}

static bool parse_tristates(const ParseCtx *pc, xmlNodePtr node, const char *const *names,
                            VmmTristate *out, GError **err)
{
    if (!check_empty(pc, node, names, err))
        return false;
    for (int i = 0; names[i]; i++) {
        g_autofree char *v = get_attr(node, names[i]);
        int idx;
        if (v && !parse_choice(pc, node, names[i], v, onoff + 1, NULL, &idx, err))
            return false;
        if (v)
            out[i] = (VmmTristate)(idx + 1);
    }
    return true;
}

static bool parse_driver(const ParseCtx *pc, xmlNodePtr node, VmmNetDef *net, GError **err)
{
    static const char *const attrs[] = {
        "name", "queues", "rx_queue_size", "tx_queue_size", NULL };
    static const char *const known_attrs[] = {
        "txmode", "ioeventfd", "event_idx", "iommu", "ats", "packed", "page_per_vq",
        "rss", "rss_hash_report", NULL };
    enum { K_HOST, K_GUEST, K_N };
    static const char *const names[] = { "host", "guest", NULL };
    xmlNodePtr s[K_N] = { 0 };
    for (xmlAttrPtr a = node->properties; a; a = a->next)
        for (int i = 0; !a->ns && known_attrs[i]; i++)
            if (!strcmp((const char *)a->name, known_attrs[i]))
                return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                                 "attribute '%s' on <interface>/<driver> is not supported "
                                 "by vmmd", known_attrs[i]);
    if (!check_attrs(pc, node, attrs, err) || !collect_children(pc, node, names, s, err))
        return false;
    g_autofree char *name = get_attr(node, "name");
    int idx;
    if (name) {
        if (!parse_choice(pc, node, "name", name, drivers + 1, NULL, &idx, err))
            return false;
        net->driver = (VmmNetDriver)(idx + 1);
    }
    /* QEMU's limits: rx/tx queue sizes are powers of two from 256 to 1024 */
    if (!parse_uint_attr(pc, node, "queues", 1, VMM_NET_MAX_QUEUES, false, &net->queues, err) ||
        !parse_uint_attr(pc, node, "rx_queue_size", 256, 1024, true, &net->rx_queue_size, err) ||
        !parse_uint_attr(pc, node, "tx_queue_size", 256, 1024, true, &net->tx_queue_size, err))
        return false;
    if (s[K_HOST] && !parse_tristates(pc, s[K_HOST], host_attrs, net->host, err))
        return false;
    if (s[K_GUEST] && !parse_tristates(pc, s[K_GUEST], guest_attrs, net->guest, err))
        return false;
    return true;
}

static bool ifname_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > VMM_NET_IFNAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (const char *p = s; *p; p++)
        if (*p == '/' || *p == ':' || g_ascii_isspace(*p) || !g_ascii_isprint(*p))
            return false;
    return true;
}

static bool parse_ifname(const ParseCtx *pc, xmlNodePtr node, const char *attr, char **out,
                         GError **err)
{
    g_autofree char *v = get_attr(node, attr);
    if (!v)
        return true;
    if (!ifname_ok(v)) {
        g_autofree char *shown = g_strescape(v, NULL);
        g_autofree char *label = elem_label(node);
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute '%s'='%s' on %s is not a network interface name (1 to %d "
                         "printable characters, no '/', ':' or spaces)", attr, shown, label,
                         VMM_NET_IFNAME_MAX);
    }
    *out = g_steal_pointer(&v);
    return true;
}

static bool parse_source(const ParseCtx *pc, xmlNodePtr node, VmmNetDef *net, GError **err)
{
    if (net->type == VMM_NET_NETWORK) {
        /* bridge=: what a running domain's XML shows (libvirt's too) */
        static const char *const attrs[] = { "network", "bridge", NULL };
        if (xmlHasProp(node, (const xmlChar *)"portgroup"))
            return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "attribute 'portgroup' on <source> is not supported by vmmd");
        if (!check_empty(pc, node, attrs, err) ||
            !parse_ifname(pc, node, "bridge", &net->bridge, err))
            return false;
        net->network = get_attr(node, "network");
        if (!net->network || !*net->network || strchr(net->network, '/') ||
            net->network[0] == '.')
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "<source network='NAME'/> needs the name of a virtual network");
        return true;
    }
    if (net->type == VMM_NET_BRIDGE) {
        static const char *const attrs[] = { "bridge", NULL };
        if (!check_empty(pc, node, attrs, err) ||
            !parse_ifname(pc, node, "bridge", &net->bridge, err))
            return false;
        return true;
    }
    if (net->type == VMM_NET_VHOSTUSER) {
        static const char *const attrs[] = { "type", "path", "mode", NULL };
        static const char *const stypes[] = { "unix", NULL };
        static const char *const modes[] = { "client", "server", NULL };
        int idx;
        if (!check_empty(pc, node, attrs, err))
            return false;
        g_autofree char *t = get_attr(node, "type");
        g_autofree char *path = get_attr(node, "path");
        g_autofree char *mode = get_attr(node, "mode");
        if (!t || !path || !mode)
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "<source> of a vhostuser interface needs type='unix', path= and "
                             "mode='client|server'");
        if (!parse_choice(pc, node, "type", t, stypes, NULL, &idx, err) ||
            !parse_choice(pc, node, "mode", mode, modes, NULL, &idx, err))
            return false;
        if (!g_path_is_absolute(path) || strlen(path) > 107)
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "<source path> of a vhostuser interface must be an absolute "
                             "path of at most 107 bytes (a unix socket)");
        net->socket_server = idx == 1;
        net->socket_path = g_steal_pointer(&path);
        return true;
    }
    g_autofree char *label = elem_label(node);
    return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                     "<source> is not supported on an interface of type '%s'",
                     types[net->type]);
}

static bool parse_target(const ParseCtx *pc, xmlNodePtr node, VmmNetDef *net, GError **err)
{
    static const char *const attrs[] = { "dev", "managed", NULL };
    static const char *const yesno[] = { "yes", "no", NULL };
    if (!check_empty(pc, node, attrs, err) ||
        !parse_ifname(pc, node, "dev", &net->target_dev, err))
        return false;
    g_autofree char *managed = get_attr(node, "managed");
    int idx;
    if (managed) {
        if (!parse_choice(pc, node, "managed", managed, yesno, NULL, &idx, err))
            return false;
        if (idx == 1 && net->type != VMM_NET_ETHERNET)
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "<target managed='no'> is only meaningful for type='ethernet' "
                             "(an existing tap)");
        if (idx == 1 && !net->target_dev)
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "<target managed='no'> needs dev= naming the existing tap");
        net->managed_no = idx == 1;
    }
    return true;
}

static VmmNetDef *net_def_parse(const char *source, xmlNodePtr node, unsigned index,
                                xmlNodePtr *pci_slots, GError **err)
{
    enum { K_MAC, K_SOURCE, K_TARGET, K_MODEL, K_DRIVER, K_LINK, K_MTU, K_BACKEND, K_ADDRESS,
           K_ALIAS, K_BOOT, K_ROM, K_FILTER, K_BANDWIDTH, K_VLAN, K_IP, K_ROUTE, K_PORT,
           K_TUNE, K_COALESCE, K_N };
    static const char *const names[] = {
        "mac", "source", "target", "model", "driver", "link", "mtu", "backend", "address",
        "alias", "boot", "rom", "filterref", "bandwidth", "vlan", "ip", "route", "port",
        "tune", "coalesce", NULL };
    static const char *const attrs[] = { "type", NULL };
    xmlNodePtr s[K_N] = { 0 };
    g_autofree char *subject = g_strdup_printf("interface %u: ", index);
    ParseCtx ctx = { source, subject };
    const ParseCtx *pc = &ctx;
    int idx;

    g_autoptr(VmmNetDef) net = g_new0(VmmNetDef, 1);
    net->pci_slot = -1;
    static const ConfElementShape shape = {
        attrs, "type", NULL, "a 'type' attribute (vmmd supports network, bridge, ethernet, "
        "user, vhostuser)", types, known_types, names, K_ALIAS };
    if (!conf_element_open(pc, node, &shape, &idx, s, err))
        return NULL;
    net->type = (VmmNetType)idx;

    if (s[K_MAC]) {
        if (!conf_parse_mac(pc, s[K_MAC], net->mac, err))
            return NULL;
    } else {
        conf_random_mac(net->mac);
    }
    if (s[K_MODEL]) {
        static const char *const mattrs[] = { "type", NULL };
        static const char *const known_models[] = {
            "e1000e", "ne2k_pci", "pcnet", "virtio-transitional",
            "virtio-non-transitional", "vmxnet3", "igb", NULL };
        g_autofree char *m = get_attr(s[K_MODEL], "type");
        if (!check_empty(pc, s[K_MODEL], mattrs, err))
            return NULL;
        if (!m) {
            conf_fail(pc, s[K_MODEL], VMM_CONF_ERROR_INVALID, err, "<model> needs type=");
            return NULL;
        }
        if (!parse_choice(pc, s[K_MODEL], "type", m, models, known_models, &idx, err))
            return NULL;
        net->model = (VmmNetModel)idx;
    }
    if (s[K_SOURCE] && !parse_source(pc, s[K_SOURCE], net, err))
        return NULL;
    if (net->type == VMM_NET_NETWORK && !net->network) {
        conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                  "an interface of type 'network' needs <source network='NAME'/>");
        return NULL;
    }
    if (net->type == VMM_NET_BRIDGE && !net->bridge) {
        conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                  "an interface of type 'bridge' needs <source bridge='NAME'/>");
        return NULL;
    }
    if (net->type == VMM_NET_VHOSTUSER && !net->socket_path) {
        conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                  "an interface of type 'vhostuser' needs <source type='unix' path=... "
                  "mode=...>");
        return NULL;
    }
    if (s[K_TARGET] && !parse_target(pc, s[K_TARGET], net, err))
        return NULL;
    if (s[K_DRIVER] && !parse_driver(pc, s[K_DRIVER], net, err))
        return NULL;
    if (s[K_LINK]) {
        static const char *const lattrs[] = { "state", NULL };
        static const char *const states[] = { "up", "down", NULL };
        g_autofree char *st = get_attr(s[K_LINK], "state");
        if (!check_empty(pc, s[K_LINK], lattrs, err) ||
            (st && !parse_choice(pc, s[K_LINK], "state", st, states, NULL, &idx, err)))
            return NULL;
        net->link_down = st && idx == 1;
    }
    if (s[K_MTU]) {
        static const char *const mattrs[] = { "size", NULL };
        if (!check_empty(pc, s[K_MTU], mattrs, err) ||
            !parse_uint_attr(pc, s[K_MTU], "size", 68, 65535, false, &net->mtu, err))
            return NULL;
        if (!net->mtu) {
            conf_fail(pc, s[K_MTU], VMM_CONF_ERROR_INVALID, err, "<mtu> needs size=");
            return NULL;
        }
    }
    if (s[K_BACKEND]) {
        static const char *const battrs[] = { "type", NULL };
        static const char *const backends[] = { "passt", NULL };
        g_autofree char *b = get_attr(s[K_BACKEND], "type");
        if (net->type != VMM_NET_USER) {
            conf_fail(pc, s[K_BACKEND], VMM_CONF_ERROR_INVALID, err,
                      "<backend> belongs to interfaces of type 'user'");
            return NULL;
        }
        if (!check_empty(pc, s[K_BACKEND], battrs, err) ||
            (b && !parse_choice(pc, s[K_BACKEND], "type", b, backends, NULL, &idx, err)))
            return NULL;
    }
    if (net->type == VMM_NET_VHOSTUSER && !s[K_MODEL]) {
        /* libvirt's rule: the back end speaks virtio-net, so the model must
         * say so (it refuses a missing <model> as well) */
        conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                  "an interface of type 'vhostuser' needs <model type='virtio'/> (the "
                  "vhost-user back end serves virtio-net queues)");
        return NULL;
    }
    if (net->type == VMM_NET_VHOSTUSER && net->driver == VMM_NET_DRIVER_VHOST) {
        conf_fail(pc, s[K_DRIVER], VMM_CONF_ERROR_INVALID, err,
                  "<driver name='vhost'> (vhost-net) does not apply to a vhostuser interface");
        return NULL;
    }
    if (net->model != VMM_NET_MODEL_VIRTIO) {
        /* An emulated NIC: one queue, vmm-worker's own back end, the
         * checksum and segmentation work done in the device model. */
        const char *why = NULL;
        bool offloads = false;
        for (int k = 0; k < VMM_NET_HOST_N; k++)
            offloads |= net->host[k] != VMM_TRI_DEFAULT;
        for (int k = 0; k < VMM_NET_GUEST_N; k++)
            offloads |= net->guest[k] != VMM_TRI_DEFAULT;
        if (net->type == VMM_NET_VHOSTUSER)
            why = "an interface of type 'vhostuser' (its back end serves virtio-net queues)";
        else if (net->driver == VMM_NET_DRIVER_VHOST)
            why = "<driver name='vhost'> (vhost-net serves virtio-net queues)";
        else if (net->queues > 1 || net->rx_queue_size || net->tx_queue_size || offloads)
            why = "<driver> queues, queue sizes or offload settings (virtio-net's)";
        if (why) {
            conf_fail(pc, s[K_MODEL], VMM_CONF_ERROR_INVALID, err,
                      "<model type='%s'> does not go with %s",
                      vmm_net_model_to_string(net->model), why);
            return NULL;
        }
    }
    if (s[K_ADDRESS] && !parse_pci_address(pc, s[K_ADDRESS], pci_slots, &net->pci_slot, err))
        return NULL;
    return g_steal_pointer(&net);
}

static void net_def_format(xmlNodePtr devices, const VmmNetDef *net)
{
    char mac[18];
    xmlNodePtr i = add_elem(devices, "interface");
    set_attr(i, "type", types[net->type]);
    vmm_net_mac_format(net->mac, mac);
    set_attr(add_elem(i, "mac"), "address", mac);
    if (net->type == VMM_NET_NETWORK) {
        xmlNodePtr src = add_elem(i, "source");
        set_attr(src, "network", net->network);
        if (net->bridge)
            set_attr(src, "bridge", net->bridge);
    }
    if (net->type == VMM_NET_BRIDGE)
        set_attr(add_elem(i, "source"), "bridge", net->bridge);
    if (net->type == VMM_NET_VHOSTUSER) {
        xmlNodePtr s = add_elem(i, "source");
        set_attr(s, "type", "unix");
        set_attr(s, "path", net->socket_path);
        set_attr(s, "mode", net->socket_server ? "server" : "client");
    }
    if (net->target_dev) {
        xmlNodePtr t = add_elem(i, "target");
        set_attr(t, "dev", net->target_dev);
        if (net->managed_no)
            set_attr(t, "managed", "no");
    }
    set_attr(add_elem(i, "model"), "type", models[net->model]);
    bool host = false, guest = false;
    for (int k = 0; k < VMM_NET_HOST_N; k++)
        host |= net->host[k] != VMM_TRI_DEFAULT;
    for (int k = 0; k < VMM_NET_GUEST_N; k++)
        guest |= net->guest[k] != VMM_TRI_DEFAULT;
    if (net->driver || net->queues || net->rx_queue_size || net->tx_queue_size || host || guest) {
        xmlNodePtr d = add_elem(i, "driver");
        if (net->driver)
            set_attr(d, "name", drivers[net->driver]);
        if (net->queues)
            set_attrf(d, "queues", "%u", net->queues);
        if (net->rx_queue_size)
            set_attrf(d, "rx_queue_size", "%u", net->rx_queue_size);
        if (net->tx_queue_size)
            set_attrf(d, "tx_queue_size", "%u", net->tx_queue_size);
        if (host) {
            xmlNodePtr h = add_elem(d, "host");
            for (int k = 0; k < VMM_NET_HOST_N; k++)
                if (net->host[k])
                    set_attr(h, host_attrs[k], onoff[net->host[k]]);
        }
        if (guest) {
            xmlNodePtr g = add_elem(d, "guest");
            for (int k = 0; k < VMM_NET_GUEST_N; k++)
                if (net->guest[k])
                    set_attr(g, guest_attrs[k], onoff[net->guest[k]]);
        }
    }
    if (net->type == VMM_NET_USER)
        set_attr(add_elem(i, "backend"), "type", "passt");
    if (net->link_down)
        set_attr(add_elem(i, "link"), "state", "down");
    if (net->mtu)
        set_attrf(add_elem(i, "mtu"), "size", "%u", net->mtu);
    if (net->pci_slot >= 0)
        format_pci_address(i, net->pci_slot);
}

static gpointer net_def_copy(gconstpointer p)
{
    const VmmNetDef *net = p;
    VmmNetDef *n = g_memdup2(net, sizeof(*net));
    n->bridge = g_strdup(net->bridge);
    n->network = g_strdup(net->network);
    n->target_dev = g_strdup(net->target_dev);
    n->socket_path = g_strdup(net->socket_path);
    return n;
}

static bool net_def_equal(gconstpointer x, gconstpointer y)
{
    const VmmNetDef *a = x, *b = y;
    return a->type == b->type && a->model == b->model && !memcmp(a->mac, b->mac, 6) &&
           !g_strcmp0(a->bridge, b->bridge) && !g_strcmp0(a->network, b->network) &&
           !g_strcmp0(a->target_dev, b->target_dev) &&
           a->managed_no == b->managed_no && a->driver == b->driver && a->queues == b->queues &&
           a->rx_queue_size == b->rx_queue_size && a->tx_queue_size == b->tx_queue_size &&
           !memcmp(a->host, b->host, sizeof(a->host)) &&
           !memcmp(a->guest, b->guest, sizeof(a->guest)) && a->link_down == b->link_down &&
           a->mtu == b->mtu && !g_strcmp0(a->socket_path, b->socket_path) &&
           a->socket_server == b->socket_server && a->pci_slot == b->pci_slot;
}

static bool net_parse(ConfDevices *d, void *state, xmlNodePtr node, GError **err)
{
    (void)state;
    VmmNetDef *net = net_def_parse(d->pc->source, node, d->def->nets->len, d->pci_slots, err);
    if (!net)
        return false;
    g_ptr_array_add(d->def->nets, net);
    return true;
}

static bool nets_format(ConfWriter *w, xmlNodePtr devices, const VmmDomainDef *def)
{
    for (guint i = 0; def->nets && i < def->nets->len; i++) {
        const VmmNetDef *net = g_ptr_array_index(def->nets, i);
        if ((net->bridge && !check_value(w, "interface bridge", net->bridge)) ||
            (net->network && !check_value(w, "interface network", net->network)) ||
            (net->target_dev && !check_value(w, "interface target", net->target_dev)) ||
            (net->socket_path && !check_value(w, "interface socket path", net->socket_path)))
            return false;
        net_def_format(devices, net);
    }
    return true;
}

static const char *const net_elements[] = { "interface", NULL };

static int *net_pci_slot(gpointer item) { return &((VmmNetDef *)item)->pci_slot; }
static char *net_name(gconstpointer item, guint index)
{
    (void)item;
    return g_strdup_printf("interface %u", index);
}

const ConfDeviceClass conf_net_class = {
    .elements = net_elements,
    .parse = net_parse,
    .format = nets_format,
    .list_offset = offsetof(VmmDomainDef, nets),
    .item_free = (GDestroyNotify)vmm_net_def_free,
    .item_copy = net_def_copy,
    .item_equal = net_def_equal,
    .item_pci_slot = net_pci_slot,
    .item_name = net_name,
};

void vmm_net_def_free(VmmNetDef *net)
{
    if (!net)
        return;
    g_free(net->bridge);
    g_free(net->network);
    g_free(net->target_dev);
    g_free(net->socket_path);
    g_free(net);
}
