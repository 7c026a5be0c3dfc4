/* <network>: libvirt's network XML, read strictly and written back in
 * libvirt's element order (virNetworkDefFormatBuf): name, uuid, title,
 * description, forward, bridge, mtu, mac, domain, dns, ip. */
#include "conf/network_conf.h"
#include "conf/conf_parse.h"
#include "conf/xml_read.h"

#include <arpa/inet.h>
#include <string.h>

#include <libxml/tree.h>

/* ---- addresses ----------------------------------------------------------- */

bool vmm_inet_addr_parse(const char *s, VmmInetAddr *a)
{
    memset(a, 0, sizeof(*a));
    if (inet_pton(AF_INET, s, &a->v4) == 1)
        a->family = AF_INET;
    else if (inet_pton(AF_INET6, s, &a->v6) == 1)
        a->family = AF_INET6;
    return a->family != 0;
}

char *vmm_inet_addr_to_string(const VmmInetAddr *a)
{
    char buf[INET6_ADDRSTRLEN];
    if (!a->family || !inet_ntop(a->family, &a->v4, buf, sizeof(buf)))
        return g_strdup("");
    return g_strdup(buf);
}

static const uint8_t *inet_bytes(const VmmInetAddr *a, unsigned *bits)
{
    *bits = a->family == AF_INET ? 32 : 128;
    return a->family == AF_INET ? (const uint8_t *)&a->v4 : a->v6.s6_addr;
}

bool vmm_inet_addr_in_subnet(const VmmInetAddr *a, const VmmInetAddr *net, unsigned prefix)
{
    unsigned bits;
    if (a->family != net->family)
        return false;
    const uint8_t *x = inet_bytes(a, &bits), *y = inet_bytes(net, &bits);
    for (unsigned i = 0; i < prefix && i < bits; i++) {
        uint8_t m = (uint8_t)(0x80 >> (i % 8));
        if ((x[i / 8] & m) != (y[i / 8] & m))
            return false;
    }
    return true;
}

VmmInetAddr vmm_inet_addr_network(const VmmInetAddr *a, unsigned prefix)
{
    VmmInetAddr net = *a;
    unsigned bits;
    uint8_t *b = (uint8_t *)inet_bytes(&net, &bits);
    for (unsigned i = prefix; i < bits; i++)
        b[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
    return net;
}

VmmInetAddr vmm_inet_netmask4(unsigned prefix)
{
    VmmInetAddr m = { .family = AF_INET };
    m.v4.s_addr = htonl(prefix ? 0xffffffffu << (32 - MIN(prefix, 32u)) : 0);
    return m;
}

static int inet_cmp(const VmmInetAddr *a, const VmmInetAddr *b)
{
    unsigned bits, unused;
    const uint8_t *x = inet_bytes(a, &bits), *y = inet_bytes(b, &unused);
    return memcmp(x, y, bits / 8);
}

/* The host part of `a` under `prefix` is all zeros (network) or all ones
 * (IPv4 broadcast). */
static bool host_part_is(const VmmInetAddr *a, unsigned prefix, bool ones)
{
    unsigned bits;
    const uint8_t *x = inet_bytes(a, &bits);
    for (unsigned i = prefix; i < bits; i++)
        if (!!(x[i / 8] & (0x80 >> (i % 8))) != ones)
            return false;
    return true;
}

/* 255.255.255.0 -> 24; -1 for a mask with holes. */
static int netmask_prefix(const struct in_addr *m)
{
    uint32_t v = ntohl(m->s_addr);
    int n = 0;
    while (n < 32 && (v & (0x80000000u >> n)))
        n++;
    return (n < 32 && (v << n)) ? -1 : n;
}

const char *vmm_network_forward_to_string(VmmNetworkForward f)
{
    static const char *const s[] = { "none", "nat", "route", "open" };
    return f <= VMM_NETWORK_FORWARD_OPEN ? s[f] : "?";
}

/* ---- freeing ------------------------------------------------------------- */

static void dhcp_host_free(gpointer p)
{
    VmmNetworkDhcpHost *h = p;
    g_free(h->name);
    g_free(h);
}

static void ip_def_free(gpointer p)
{
    VmmNetworkIpDef *ip = p;
    if (ip->ranges)
        g_array_unref(ip->ranges);
    if (ip->hosts)
        g_ptr_array_unref(ip->hosts);
    g_free(ip);
}

static void dns_host_free(gpointer p)
{
    VmmNetworkDnsHost *h = p;
    if (h->names)
        g_ptr_array_unref(h->names);
    g_free(h);
}

void vmm_network_def_free(VmmNetworkDef *def)
{
    if (!def)
        return;
    g_free(def->name);
    g_free(def->title);
    g_free(def->description);
    g_free(def->forward_dev);
    g_free(def->bridge);
    g_free(def->domain);
    if (def->dns_hosts)
        g_ptr_array_unref(def->dns_hosts);
    if (def->ips)
        g_ptr_array_unref(def->ips);
    g_free(def);
}

/* ---- parsing ------------------------------------------------------------- */

static bool parse_addr_attr(const ParseCtx *pc, xmlNodePtr node, const char *attr,
                            bool required, VmmInetAddr *out, GError **err)
{
    g_autofree char *v = get_attr(node, attr);
    g_autofree char *label = elem_label(node);
    if (!v) {
        if (required)
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "%s needs a '%s' attribute (an IP address)", label, attr);
        return true;
    }
    if (!vmm_inet_addr_parse(v, out)) {
        g_autofree char *shown = g_strescape(v, NULL);
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute '%s'='%s' on %s is not an IPv4 or IPv6 address", attr,
                         shown, label);
    }
    return true;
}

static bool parse_yesno(const ParseCtx *pc, xmlNodePtr node, const char *attr,
                        const char *const *values, int *out, GError **err)
{
    g_autofree char *v = get_attr(node, attr);
    return !v || parse_choice(pc, node, attr, v, values, NULL, out, err);
}

static bool parse_forward(const ParseCtx *pc, xmlNodePtr node, VmmNetworkDef *def,
                          GError **err)
{
    enum { F_NAT, F_INTERFACE, F_PF, F_DRIVER, F_ADDRESS, F_N };
    static const char *const names[] = { "nat", "interface", "pf", "driver", "address", NULL };
    static const char *const attrs[] = { "mode", "dev", NULL };
    static const char *const modes[] = { "", "nat", "route", "open", NULL };
    static const char *const known_modes[] = {
        "bridge", "private", "vepa", "passthrough", "hostdev", NULL };
    xmlNodePtr s[F_N] = { 0 };
    int idx;
    static const ConfElementShape shape = {
        attrs, "mode", "nat", NULL, modes, known_modes, names, F_INTERFACE };
    if (!conf_element_open(pc, node, &shape, &idx, s, err))
        return false;
    if (idx == 0)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<forward mode=''> is empty; use nat, route or open, or leave "
                         "<forward> out for an isolated network");
    def->forward = (VmmNetworkForward)idx;
    def->forward_dev = get_attr(node, "dev");
    if (def->forward_dev && (!*def->forward_dev || strlen(def->forward_dev) >= 16 ||
                             strpbrk(def->forward_dev, "/ \t\n"))) {
        g_autofree char *shown = g_strescape(def->forward_dev, NULL);
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<forward dev='%s'> is not an interface name (1 to 15 bytes)", shown);
    }
    if (s[F_NAT]) {
        static const char *const nat_attrs[] = { "ipv6", NULL };
        static const char *const nat_names[] = { "port", "address", NULL };
        static const char *const port_attrs[] = { "start", "end", NULL };
        xmlNodePtr n[2] = { 0 };
        if (def->forward != VMM_NETWORK_FORWARD_NAT)
            return conf_fail(pc, s[F_NAT], VMM_CONF_ERROR_INVALID, err,
                             "<nat> is only allowed in <forward mode='nat'>");
        if (!check_attrs(pc, s[F_NAT], nat_attrs, err) ||
            !collect_children(pc, s[F_NAT], nat_names, n, err))
            return false;
        if (xmlHasProp(s[F_NAT], (const xmlChar *)"ipv6"))
            return conf_fail(pc, s[F_NAT], VMM_CONF_ERROR_UNSUPPORTED, err,
                             "<nat ipv6=...> is not supported by vmmd (IPv6 is routed, "
                             "never masqueraded)");
        if (n[1])
            return unsupported_element(pc, n[1], err);
        if (n[0]) {
            if (!check_empty(pc, n[0], port_attrs, err) ||
                !parse_uint_attr(pc, n[0], "start", 1, 65535, false, &def->nat_port_start,
                                 err) ||
                !parse_uint_attr(pc, n[0], "end", 1, 65535, false, &def->nat_port_end, err))
                return false;
            if (!def->nat_port_start || !def->nat_port_end ||
                def->nat_port_start > def->nat_port_end)
                return conf_fail(pc, n[0], VMM_CONF_ERROR_INVALID, err,
                                 "<port start='%u' end='%u'> needs both, start <= end",
                                 def->nat_port_start, def->nat_port_end);
        }
    }
    return true;
}

static bool parse_bridge(const ParseCtx *pc, xmlNodePtr node, VmmNetworkDef *def,
                         GError **err)
{
    static const char *const attrs[] = { "name", "stp", "delay", NULL };
    static const char *const known[] = { "macTableManager", "zone", NULL };
    static const char *const onoff[] = { "off", "on", NULL };
    for (int i = 0; known[i]; i++)
        if (xmlHasProp(node, (const xmlChar *)known[i]))
            return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "attribute '%s' on <bridge> is not supported by vmmd",
                             known[i]);
    if (!check_empty(pc, node, attrs, err))
        return false;
    def->bridge = get_attr(node, "name");
    if (def->bridge && (!*def->bridge || strlen(def->bridge) >= 16 ||
                        strpbrk(def->bridge, "/ \t\n") ||
                        !strcmp(def->bridge, ".") || !strcmp(def->bridge, ".."))) {
        g_autofree char *shown = g_strescape(def->bridge, NULL);
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<bridge name='%s'> is not a valid interface name (1 to 15 "
                         "bytes, no '/' or whitespace)", shown);
    }
    int stp = 1;
    if (!parse_yesno(pc, node, "stp", onoff, &stp, err))
        return false;
    def->stp = stp;
    return parse_uint_attr(pc, node, "delay", 0, 3600, false, &def->delay, err);
}

static bool parse_dns(const ParseCtx *pc, xmlNodePtr node, VmmNetworkDef *def, GError **err)
{
    static const char *const attrs[] = { "enable", NULL };
    static const char *const yesno[] = { "no", "yes", NULL };
    if (xmlHasProp(node, (const xmlChar *)"forwardPlainNames"))
        return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                         "attribute 'forwardPlainNames' on <dns> is not supported by vmmd");
    if (!check_attrs(pc, node, attrs, err) || !check_content(pc, node, err) ||
        !parse_yesno(pc, node, "enable", yesno, &def->dns_enable, err))
        return false;
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (name_is(c, "forwarder") || name_is(c, "txt") || name_is(c, "srv"))
            return unsupported_element(pc, c, err);
        if (!name_is(c, "host")) {
            g_autofree char *l = elem_label(c);
            return conf_fail(pc, c, VMM_CONF_ERROR_INVALID, err,
                             "%s is not allowed in <dns> (host, forwarder, txt, srv are)", l);
        }
        static const char *const hattrs[] = { "ip", NULL };
        g_autofree VmmNetworkDnsHost *h = g_new0(VmmNetworkDnsHost, 1);
        if (!check_attrs(pc, c, hattrs, err) || !check_content(pc, c, err) ||
            !parse_addr_attr(pc, c, "ip", true, &h->ip, err))
            return false;
        h->names = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(def->dns_hosts, h);
        VmmNetworkDnsHost *kept = g_steal_pointer(&h);
        for (xmlNodePtr n = c->children; n; n = n->next) {
            if (n->type != XML_ELEMENT_NODE)
                continue;
            if (!name_is(n, "hostname")) {
                g_autofree char *l = elem_label(n);
                return conf_fail(pc, n, VMM_CONF_ERROR_INVALID, err,
                                 "%s is not allowed in <dns><host> (only <hostname>)", l);
            }
            char *name = NULL;
            if (!check_attrs(pc, n, NULL, err) || !leaf_token(pc, n, &name, err))
                return false;
            g_ptr_array_add(kept->names, name);
            if (!*name || strpbrk(name, " \t\n\r,/")) {
                g_autofree char *shown = g_strescape(name, NULL);
                return conf_fail(pc, n, VMM_CONF_ERROR_INVALID, err,
                                 "<hostname>%s</hostname> is not a host name", shown);
            }
        }
        if (!kept->names->len)
            return conf_fail(pc, c, VMM_CONF_ERROR_INVALID, err,
                             "<dns><host> needs at least one <hostname>");
    }
    return true;
}

void vmm_network_dhcp_host_free(VmmNetworkDhcpHost *h)
{
    dhcp_host_free(h);
}

/* <host mac='' name='' ip=''/> inside <dhcp>. */
static VmmNetworkDhcpHost *parse_dhcp_host(const ParseCtx *pc, xmlNodePtr c, GError **err)
{
    static const char *const hattrs[] = { "mac", "name", "ip", NULL };
    if (xmlHasProp(c, (const xmlChar *)"id")) {
        conf_fail(pc, c, VMM_CONF_ERROR_UNSUPPORTED, err,
                  "attribute 'id' on <dhcp><host> is not supported by vmmd");
        return NULL;
    }
    for (xmlNodePtr l = c->children; l; l = l->next)
        if (l->type == XML_ELEMENT_NODE) {
            unsupported_element(pc, l, err);
            return NULL;
        }
    g_autoptr(VmmNetworkDhcpHost) h = g_new0(VmmNetworkDhcpHost, 1);
    if (!check_attrs(pc, c, hattrs, err) || !check_content(pc, c, err) ||
        !parse_addr_attr(pc, c, "ip", false, &h->ip, err))
        return NULL;
    if (xmlHasProp(c, (const xmlChar *)"mac")) {
        if (!conf_parse_mac_attr(pc, c, "mac", h->mac, err))
            return NULL;
        h->has_mac = true;
    }
    h->name = get_attr(c, "name");
    if (!h->has_mac && !h->name) {
        conf_fail(pc, c, VMM_CONF_ERROR_INVALID, err, "<dhcp><host> needs a 'mac' or a 'name'");
        return NULL;
    }
    return g_steal_pointer(&h);
}

VmmNetworkDhcpHost *vmm_network_dhcp_host_parse(const char *xml, GError **err)
{
    ParseCtx pc = { .source = "<host> element" };
    xmlDocPtr doc = vmm_conf_read_xml(pc.source, xml, strlen(xml), err);
    if (!doc)
        return NULL;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    VmmNetworkDhcpHost *h = NULL;
    if (!name_is(root, "host")) {
        g_autofree char *l = elem_label(root);
        conf_fail(&pc, root, VMM_CONF_ERROR_INVALID, err, "expected <host mac='' name='' "
                  "ip=''/>, not %s", l);
    } else {
        h = parse_dhcp_host(&pc, root, err);
    }
    xmlFreeDoc(doc);
    return h;
}

static bool parse_dhcp(const ParseCtx *pc, xmlNodePtr node, VmmNetworkIpDef *ip,
                       GError **err)
{
    if (!check_attrs(pc, node, NULL, err) || !check_content(pc, node, err))
        return false;
    ip->has_dhcp = true;
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (name_is(c, "bootp"))
            return unsupported_element(pc, c, err);
        if (name_is(c, "range")) {
            static const char *const rattrs[] = { "start", "end", NULL };
            VmmNetworkDhcpRange r;
            memset(&r, 0, sizeof(r));
            for (xmlNodePtr l = c->children; l; l = l->next)
                if (l->type == XML_ELEMENT_NODE)
                    return unsupported_element(pc, l, err);
            if (!check_attrs(pc, c, rattrs, err) || !check_content(pc, c, err) ||
                !parse_addr_attr(pc, c, "start", true, &r.start, err) ||
                !parse_addr_attr(pc, c, "end", true, &r.end, err))
                return false;
            if (r.start.family != ip->address.family || r.end.family != ip->address.family ||
                !vmm_inet_addr_in_subnet(&r.start, &ip->address, ip->prefix) ||
                !vmm_inet_addr_in_subnet(&r.end, &ip->address, ip->prefix))
                return conf_fail(pc, c, VMM_CONF_ERROR_INVALID, err,
                                 "<range> must lie inside the <ip> subnet it is in");
            if (inet_cmp(&r.start, &r.end) > 0)
                return conf_fail(pc, c, VMM_CONF_ERROR_INVALID, err,
                                 "<range> start is above its end");
            if (host_part_is(&r.start, ip->prefix, false) ||
                (ip->address.family == AF_INET && host_part_is(&r.end, ip->prefix, true)))
                return conf_fail(pc, c, VMM_CONF_ERROR_INVALID, err,
                                 "<range> must not include the subnet's network or "
                                 "broadcast address");
            g_array_append_val(ip->ranges, r);
        } else if (name_is(c, "host")) {
            VmmNetworkDhcpHost *h = parse_dhcp_host(pc, c, err);
            if (!h)
                return false;
            g_ptr_array_add(ip->hosts, h);
            if (h->ip.family && !vmm_inet_addr_in_subnet(&h->ip, &ip->address, ip->prefix))
                return conf_fail(pc, c, VMM_CONF_ERROR_INVALID, err,
                                 "<dhcp><host ip=...> must lie inside the <ip> subnet");
        } else {
            g_autofree char *l = elem_label(c);
            return conf_fail(pc, c, VMM_CONF_ERROR_INVALID, err,
                             "%s is not allowed in <dhcp> (range, host are)", l);
        }
    }
    return true;
}

static bool parse_ip(const ParseCtx *pc, xmlNodePtr node, VmmNetworkDef *def, GError **err)
{
    static const char *const attrs[] = { "address", "netmask", "prefix", "family", NULL };
    static const char *const families[] = { "ipv4", "ipv6", NULL };
    static const char *const names[] = { "dhcp", "tftp", NULL };
    xmlNodePtr s[2] = { 0 };
    if (xmlHasProp(node, (const xmlChar *)"localPtr"))
        return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                         "attribute 'localPtr' on <ip> is not supported by vmmd");
    if (!check_attrs(pc, node, attrs, err) || !collect_children(pc, node, names, s, err))
        return false;
    if (s[1])
        return unsupported_element(pc, s[1], err);
    VmmNetworkIpDef *ip = g_new0(VmmNetworkIpDef, 1);
    ip->ranges = g_array_new(FALSE, TRUE, sizeof(VmmNetworkDhcpRange));
    ip->hosts = g_ptr_array_new_with_free_func(dhcp_host_free);
    g_ptr_array_add(def->ips, ip);
    if (!parse_addr_attr(pc, node, "address", true, &ip->address, err))
        return false;
    int fam = -1;
    if (!parse_yesno(pc, node, "family", families, &fam, err))
        return false;
    ip->family_given = fam >= 0;
    if (fam >= 0 && (fam == 0) != (ip->address.family == AF_INET))
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<ip family='%s'> does not match its address", families[fam]);
    g_autofree char *mask = get_attr(node, "netmask");
    g_autofree char *prefix = get_attr(node, "prefix");
    unsigned max = ip->address.family == AF_INET ? 32 : 128;
    if (mask && prefix)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<ip> has both 'netmask' and 'prefix'; give one");
    if (mask) {
        VmmInetAddr m;
        int p = -1;
        if (ip->address.family != AF_INET)
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "an IPv6 <ip> takes 'prefix', not 'netmask'");
        if (vmm_inet_addr_parse(mask, &m) && m.family == AF_INET)
            p = netmask_prefix(&m.v4);
        if (p < 1) {
            g_autofree char *shown = g_strescape(mask, NULL);
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "<ip netmask='%s'> is not a netmask (contiguous ones)", shown);
        }
        ip->prefix = (unsigned)p;
        ip->netmask_form = true;
    } else if (prefix) {
        if (!parse_uint_attr(pc, node, "prefix", 1, max, false, &ip->prefix, err))
            return false;
    } else {
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<ip> needs a 'netmask' or a 'prefix'");
    }
    if (ip->prefix > max - 2 ||
        host_part_is(&ip->address, ip->prefix, false) ||
        (ip->address.family == AF_INET && host_part_is(&ip->address, ip->prefix, true))) {
        g_autofree char *a = vmm_inet_addr_to_string(&ip->address);
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<ip address='%s'> with prefix %u is not a host address in a "
                         "subnet with room for guests", a, ip->prefix);
    }
    return !s[0] || parse_dhcp(pc, s[0], ip, err);
}

static bool parse_network(const ParseCtx *pc, xmlNodePtr root, VmmNetworkDef *def,
                          GError **err)
{
    /* <title>, <description>: libvirt 9.7 and later; libvirt 9.0's schema
     * has neither, so they are refused like the others vmmd lacks. */
    enum { N_NAME, N_UUID, N_TITLE, N_DESC, N_FORWARD, N_BRIDGE, N_MTU, N_MAC, N_DOMAIN,
           N_DNS, N_METADATA, N_BANDWIDTH, N_VLAN, N_PORTGROUP, N_ROUTE, N_VIRTUALPORT,
           N_PORT, N_N };
    static const char *const names[] = {
        "name", "uuid", "title", "description", "forward", "bridge", "mtu", "mac", "domain",
        "dns", "metadata", "bandwidth", "vlan", "portgroup", "route", "virtualport", "port",
        NULL };
    static const char *const attrs[] = { "connections", NULL };
    xmlNodePtr s[N_N] = { 0 };
    if (!name_is(root, "network")) {
        g_autofree char *l = elem_label(root);
        return conf_fail(pc, root, VMM_CONF_ERROR_INVALID, err,
                         "root element is %s; a network definition starts with <network>", l);
    }
    static const char *const known_attrs[] = { "ipv6", "trustGuestRxFilters", NULL };
    for (int i = 0; known_attrs[i]; i++)
        if (xmlHasProp(root, (const xmlChar *)known_attrs[i]))
            return conf_fail(pc, root, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "attribute '%s' on <network> is not supported by vmmd",
                             known_attrs[i]);
    /* connections= is what net-dumpxml shows on a running network; ignored */
    if (!check_attrs(pc, root, attrs, err))
        return false;
    /* <ip> may repeat: set the <ip>s aside, collect the others */
    g_autoptr(GPtrArray) ips = g_ptr_array_new();
    for (xmlNodePtr c = root->children, next; c; c = next) {
        next = c->next;
        if (c->type == XML_ELEMENT_NODE && name_is(c, "ip")) {
            g_ptr_array_add(ips, c);
            xmlUnlinkNode(c);
        }
    }
    bool ok = collect_children(pc, root, names, s, err);
    for (guint i = 0; i < ips->len; i++)
        xmlAddChild(root, ips->pdata[i]);
    if (!ok)
        return false;
    for (int k = N_TITLE; k < N_N; k++)
        if (s[k] && (k <= N_DESC || k >= N_METADATA))
            return unsupported_element(pc, s[k], err);
    if (!conf_parse_identity(pc, root, s + N_NAME, &def->name, def->uuid, &def->has_uuid,
                             &def->title, &def->description, err))
        return false;
    def->stp = true;
    if (s[N_FORWARD] && !parse_forward(pc, s[N_FORWARD], def, err))
        return false;
    if (s[N_BRIDGE] && !parse_bridge(pc, s[N_BRIDGE], def, err))
        return false;
    if (s[N_MTU]) {
        static const char *const mattrs[] = { "size", NULL };
        if (!check_empty(pc, s[N_MTU], mattrs, err) ||
            !parse_uint_attr(pc, s[N_MTU], "size", 68, 65535, false, &def->mtu, err))
            return false;
        if (!def->mtu)
            return conf_fail(pc, s[N_MTU], VMM_CONF_ERROR_INVALID, err,
                             "<mtu> needs a 'size'");
    }
    if (s[N_MAC]) {
        if (!conf_parse_mac(pc, s[N_MAC], def->mac, err))
            return false;
        def->has_mac = true;
    }
    if (s[N_DOMAIN]) {
        static const char *const dattrs[] = { "name", "localOnly", NULL };
        static const char *const yesno[] = { "no", "yes", NULL };
        int local = 0;
        if (xmlHasProp(s[N_DOMAIN], (const xmlChar *)"register"))
            return conf_fail(pc, s[N_DOMAIN], VMM_CONF_ERROR_UNSUPPORTED, err,
                             "attribute 'register' on <domain> is not supported by vmmd");
        if (!check_empty(pc, s[N_DOMAIN], dattrs, err) ||
            !parse_yesno(pc, s[N_DOMAIN], "localOnly", yesno, &local, err))
            return false;
        def->domain = get_attr(s[N_DOMAIN], "name");
        def->domain_local_only = local == 1;
        if (!def->domain || !*def->domain || strpbrk(def->domain, " \t\n,/"))
            return conf_fail(pc, s[N_DOMAIN], VMM_CONF_ERROR_INVALID, err,
                             "<domain> needs a 'name' that is a DNS domain");
    }
    if (s[N_DNS] && !parse_dns(pc, s[N_DNS], def, err))
        return false;
    bool dhcp_seen[2] = { false, false };
    for (guint i = 0; i < ips->len; i++) {
        if (!parse_ip(pc, ips->pdata[i], def, err))
            return false;
        const VmmNetworkIpDef *ip = def->ips->pdata[def->ips->len - 1];
        int f = ip->address.family == AF_INET6;
        if (ip->has_dhcp && dhcp_seen[f])
            return conf_fail(pc, ips->pdata[i], VMM_CONF_ERROR_INVALID, err,
                             "DHCP is supported for one %s <ip> per network (libvirt's rule)",
                             f ? "IPv6" : "IPv4");
        dhcp_seen[f] |= ip->has_dhcp;
    }
    if (def->forward != VMM_NETWORK_FORWARD_NONE && def->forward != VMM_NETWORK_FORWARD_OPEN &&
        !def->ips->len)
        return conf_fail(pc, root, VMM_CONF_ERROR_INVALID, err,
                         "<forward mode='%s'> needs an <ip> for the bridge to route from",
                         vmm_network_forward_to_string(def->forward));
    /* Two <ip>s of one subnet would give the bridge two addresses in it. */
    for (guint i = 0; i < def->ips->len; i++)
        for (guint j = 0; j < i; j++) {
            const VmmNetworkIpDef *a = def->ips->pdata[i], *b = def->ips->pdata[j];
            if (vmm_inet_addr_in_subnet(&a->address, &b->address, MIN(a->prefix, b->prefix)))
                return conf_fail(pc, ips->pdata[i], VMM_CONF_ERROR_INVALID, err,
                                 "this <ip>'s subnet overlaps an earlier <ip>'s");
        }
    return true;
}

static VmmNetworkDef *network_def_new(void)
{
    VmmNetworkDef *def = g_new0(VmmNetworkDef, 1);
    def->dns_enable = -1;
    def->dns_hosts = g_ptr_array_new_with_free_func(dns_host_free);
    def->ips = g_ptr_array_new_with_free_func(ip_def_free);
    return def;
}

VmmNetworkDef *vmm_network_def_parse_string(const char *xml, size_t len,
                                            const char *source_name, GError **err)
{
    ParseCtx pc = { .source = source_name ? source_name : "network XML" };
    g_return_val_if_fail(xml != NULL, NULL);
    if (len > VMM_NETWORK_XML_MAX_BYTES) {
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML,
                    "%s: %zu bytes; network documents larger than %d bytes are refused",
                    pc.source, len, VMM_NETWORK_XML_MAX_BYTES);
        return NULL;
    }
    xmlDocPtr doc = vmm_conf_read_xml(pc.source, xml, len, err);
    if (!doc)
        return NULL;
    g_autoptr(VmmNetworkDef) def = network_def_new();
    bool ok = parse_network(&pc, xmlDocGetRootElement(doc), def, err);
    xmlFreeDoc(doc);
    return ok ? g_steal_pointer(&def) : NULL;
}

VmmNetworkDef *vmm_network_def_copy(const VmmNetworkDef *def, const char *source_name,
                                    GError **err)
{
    g_autofree char *xml = vmm_network_def_format(def, 0, err);
    return xml ? vmm_network_def_parse_string(xml, strlen(xml), source_name, err) : NULL;
}

VmmNetworkDef *vmm_network_def_parse_file(const char *path, GError **err)
{
    size_t len;
    g_autofree char *buf = conf_read_file(path, "network XML", VMM_NETWORK_XML_MAX_BYTES, &len,
                                          err);
    return buf ? vmm_network_def_parse_string(buf, len, path, err) : NULL;
}

/* ---- defaults and checks ------------------------------------------------- */

void vmm_network_def_fill_defaults(VmmNetworkDef *def, GHashTable *taken)
{
    if (!def->has_uuid) {
        conf_random_uuid(def->uuid);
        def->has_uuid = true;
    }
    if (!def->bridge) {
        for (unsigned n = 0;; n++) {
            g_autofree char *name = g_strdup_printf("virbr%u", n);
            if (!taken || !g_hash_table_contains(taken, name)) {
                def->bridge = g_steal_pointer(&name);
                break;
            }
        }
    }
    if (!def->has_mac) {
        conf_random_mac(def->mac);
        def->has_mac = true;
    }
}

const VmmNetworkIpDef *vmm_network_def_ipv4(const VmmNetworkDef *def)
{
    for (guint i = 0; i < def->ips->len; i++) {
        const VmmNetworkIpDef *ip = def->ips->pdata[i];
        if (ip->address.family == AF_INET)
            return ip;
    }
    return NULL;
}

bool vmm_network_def_overlaps(const VmmNetworkDef *a, const VmmNetworkDef *b, char **what)
{
    for (guint i = 0; i < a->ips->len; i++)
        for (guint j = 0; j < b->ips->len; j++) {
            const VmmNetworkIpDef *x = a->ips->pdata[i], *y = b->ips->pdata[j];
            if (!vmm_inet_addr_in_subnet(&x->address, &y->address, MIN(x->prefix, y->prefix)))
                continue;
            if (what) {
                g_autofree char *xs = vmm_inet_addr_to_string(&x->address);
                g_autofree char *ys = vmm_inet_addr_to_string(&y->address);
                *what = g_strdup_printf("%s/%u overlaps %s/%u", xs, x->prefix, ys, y->prefix);
            }
            return true;
        }
    return false;
}

/* ---- formatting ---------------------------------------------------------- */

static void set_addr(xmlNodePtr n, const char *attr, const VmmInetAddr *a)
{
    g_autofree char *s = vmm_inet_addr_to_string(a);
    set_attr(n, attr, s);
}

static void format_ip(xmlNodePtr root, const VmmNetworkIpDef *ip)
{
    xmlNodePtr n = add_elem(root, "ip");
    if (ip->family_given)
        set_attr(n, "family", ip->address.family == AF_INET ? "ipv4" : "ipv6");
    set_addr(n, "address", &ip->address);
    if (ip->netmask_form) {
        VmmInetAddr m = vmm_inet_netmask4(ip->prefix);
        set_addr(n, "netmask", &m);
    } else {
        set_attrf(n, "prefix", "%u", ip->prefix);
    }
    if (!ip->ranges->len && !ip->hosts->len)   /* libvirt drops an empty <dhcp> */
        return;
    xmlNodePtr d = add_elem(n, "dhcp");
    for (guint i = 0; i < ip->ranges->len; i++) {
        const VmmNetworkDhcpRange *r = &g_array_index(ip->ranges, VmmNetworkDhcpRange, i);
        xmlNodePtr e = add_elem(d, "range");
        set_addr(e, "start", &r->start);
        set_addr(e, "end", &r->end);
    }
    for (guint i = 0; i < ip->hosts->len; i++) {
        const VmmNetworkDhcpHost *h = ip->hosts->pdata[i];
        xmlNodePtr e = add_elem(d, "host");
        if (h->has_mac)
            set_attrf(e, "mac", "%02x:%02x:%02x:%02x:%02x:%02x", h->mac[0], h->mac[1],
                      h->mac[2], h->mac[3], h->mac[4], h->mac[5]);
        if (h->name)
            set_attr(e, "name", h->name);
        if (h->ip.family)
            set_addr(e, "ip", &h->ip);
    }
}

static bool build_network(ConfWriter *w, xmlNodePtr root, const VmmNetworkDef *def,
                          unsigned connections)
{
    if (connections)
        set_attrf(root, "connections", "%u", connections);
    if (!conf_format_identity(w, root, def->name, def->uuid, def->has_uuid, def->title,
                              def->description))
        return false;
    if (def->forward != VMM_NETWORK_FORWARD_NONE) {
        xmlNodePtr f = add_elem(root, "forward");
        if (def->forward_dev && !set_attr_checked(w, f, "<forward dev>", "dev",
                                                  def->forward_dev))
            return false;
        set_attr(f, "mode", vmm_network_forward_to_string(def->forward));
        if (def->nat_port_start) {
            xmlNodePtr p = add_elem(add_elem(f, "nat"), "port");
            set_attrf(p, "start", "%u", def->nat_port_start);
            set_attrf(p, "end", "%u", def->nat_port_end);
        }
    }
    xmlNodePtr b = add_elem(root, "bridge");
    if (def->bridge && !set_attr_checked(w, b, "<bridge name>", "name", def->bridge))
        return false;
    set_attr(b, "stp", def->stp ? "on" : "off");
    set_attrf(b, "delay", "%u", def->delay);
    if (def->mtu)
        set_attrf(add_elem(root, "mtu"), "size", "%u", def->mtu);
    if (def->has_mac)
        set_attrf(add_elem(root, "mac"), "address", "%02x:%02x:%02x:%02x:%02x:%02x",
                  def->mac[0], def->mac[1], def->mac[2], def->mac[3], def->mac[4],
                  def->mac[5]);
    if (def->domain) {
        xmlNodePtr d = add_elem(root, "domain");
        if (!set_attr_checked(w, d, "<domain name>", "name", def->domain))
            return false;
        if (def->domain_local_only)
            set_attr(d, "localOnly", "yes");
    }
    if (def->dns_enable >= 0 || def->dns_hosts->len) {
        xmlNodePtr d = add_elem(root, "dns");
        if (def->dns_enable >= 0)
            set_attr(d, "enable", def->dns_enable ? "yes" : "no");
        for (guint i = 0; i < def->dns_hosts->len; i++) {
            const VmmNetworkDnsHost *h = def->dns_hosts->pdata[i];
            xmlNodePtr e = add_elem(d, "host");
            set_addr(e, "ip", &h->ip);
            for (guint k = 0; k < h->names->len; k++)
                if (!add_text(w, e, "hostname", h->names->pdata[k]))
                    return false;
        }
    }
    for (guint i = 0; i < def->ips->len; i++)
        format_ip(root, def->ips->pdata[i]);
    return !w->failed;
}

char *vmm_network_def_format(const VmmNetworkDef *def, unsigned connections, GError **err)
{
    g_return_val_if_fail(def != NULL, NULL);
    xmlInitParser();
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr root = xmlNewDocNode(doc, NULL, (const xmlChar *)"network", NULL);
    xmlDocSetRootElement(doc, root);
    ConfWriter w = { .doc = doc, .err = err };
    char *out = build_network(&w, root, def, connections)
                ? conf_serialize(doc, "network XML", err) : NULL;
    xmlFreeDoc(doc);
    return out;
}
