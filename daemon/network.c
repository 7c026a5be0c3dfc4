/* Virtual networks, as libvirt's network driver runs them: definitions in
 * <config>/networks (NAME.xml; autostart/NAME marks autostart), and for a
 * running network a Linux bridge with the <ip> addresses, a dnsmasq bound
 * to that bridge only for DHCP and DNS, and the forwarding and NAT rules
 * in an nftables table of its own (inet vmmd_BRIDGE). <run>/networks holds
 * the live definition (NAME.xml: the network is active), dnsmasq's conf
 * (DHCP hosts and DNS records in it: dnsmasq reads it as root, before it
 * drops privileges), lease file and pid, so a restarted daemon re-attaches
 * without dropping leases. */
#include "vmmd.h"

#include "conf/network_conf.h"
#include "net/ifctl.h"
#include "proto/proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <fcntl.h>
#include <net/if.h>
#include <nftables/libnftables.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#define NET_XML_MAX VMM_NETWORK_XML_MAX_BYTES
#define DNSMASQ_RESTARTS 5           /* within DNSMASQ_WINDOW_S, then give up */
#define DNSMASQ_WINDOW_S 60

struct VmmdNetwork {
    VmmDaemon *daemon;
    char *name;
    VmmNetworkDef *def;          /* persistent definition; NULL: transient */
    VmmNetworkDef *live;         /* while active */
    bool autostart;
    pid_t dnsmasq;               /* 0: none */
    bool dnsmasq_own;            /* our child: reap it */
    int dnsmasq_pidfd;
    GSource *dnsmasq_watch;
    gint64 window_start;
    unsigned restarts;
};

static const char *dnsmasq_path(void)
{
    const char *p = g_getenv("VMM_DNSMASQ");
    return p && *p ? p : "dnsmasq";
}

static char *run_file(VmmdNetwork *n, const char *ext)
{
    return g_strdup_printf("%s/%s.%s", n->daemon->net_run_dir, n->name, ext);
}

static void net_log(VmmdNetwork *n, int prio, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void net_log(VmmdNetwork *n, int prio, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vmmd_log(n->daemon, NULL, prio, "network %s: %s", n->name, msg);
}

static void network_free(VmmdNetwork *n)
{
    if (n->dnsmasq_watch) {
        g_source_destroy(n->dnsmasq_watch);
        g_source_unref(n->dnsmasq_watch);
    }
    if (n->dnsmasq_pidfd >= 0)
        close(n->dnsmasq_pidfd);
    vmm_network_def_free(n->def);
    vmm_network_def_free(n->live);
    g_free(n->name);
    g_free(n);
}

static VmmdNetwork *network_new(VmmDaemon *d, const char *name)
{
    VmmdNetwork *n = g_new0(VmmdNetwork, 1);
    n->daemon = d;
    n->name = g_strdup(name);
    n->dnsmasq_pidfd = -1;
    g_hash_table_insert(d->networks, n->name, n);
    return n;
}

bool vmmd_network_is_active(const VmmdNetwork *n)
{
    return n->live != NULL;
}

const VmmNetworkDef *vmmd_network_current_def(const VmmdNetwork *n)
{
    return n->live ? n->live : n->def;
}

const VmmNetworkDef *vmmd_network_config_def(const VmmdNetwork *n)
{
    return n->def;
}

/* ---- nftables ------------------------------------------------------------ */

/* The table's name: vmmd_ and the bridge's name with anything but
 * letters, digits and '_' as '_'. */
static char *nft_table(const char *bridge)
{
    GString *s = g_string_new("vmmd_");
    for (const char *p = bridge; *p; p++)
        g_string_append_c(s, g_ascii_isalnum(*p) ? *p : '_');
    return g_string_free(s, FALSE);
}

static bool nft_run(const char *cmds, const char *what, GError **err)
{
    struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx) {
        vmm_proto_set_error(err, VMM_PROTO_GENERIC_ERROR, "%s: cannot use nftables "
                            "(libnftables could not start)", what);
        return false;
    }
    nft_ctx_buffer_error(ctx);
    nft_ctx_buffer_output(ctx);
    int rc = nft_run_cmd_from_buffer(ctx, cmds);
    if (rc != 0) {
        g_autofree char *msg = g_strstrip(g_strdup(nft_ctx_get_error_buffer(ctx)));
        for (char *p = msg; *p; p++)
            if (*p == '\n')
                *p = ' ';
        vmm_proto_set_error(err, VMM_PROTO_GENERIC_ERROR, "%s: nftables refused the rules "
                            "(is nf_tables available in this kernel?): %s", what, msg);
    }
    nft_ctx_free(ctx);
    return rc == 0;
}

static void append_subnet(GString *s, const VmmNetworkIpDef *ip)
{
    VmmInetAddr net = vmm_inet_addr_network(&ip->address, ip->prefix);
    g_autofree char *a = vmm_inet_addr_to_string(&net);
    g_string_append_printf(s, "%s/%u", a, ip->prefix);
}

static char *nft_rules(const VmmNetworkDef *def)
{
    g_autofree char *table = nft_table(def->bridge);
    GString *s = g_string_new(NULL);
    /* add+delete first: the table is replaced atomically, never doubled */
    g_string_append_printf(s, "add table inet %s\ndelete table inet %s\n", table, table);
    g_string_append_printf(s, "table inet %s {\n chain forward {\n  type filter hook forward "
                              "priority filter; policy accept;\n", table);
    g_autofree char *out = def->forward_dev ? g_strdup_printf(" oifname \"%s\"",
                                                              def->forward_dev)
                                            : g_strdup("");
    g_autofree char *in = def->forward_dev ? g_strdup_printf(" iifname \"%s\"",
                                                             def->forward_dev)
                                           : g_strdup("");
    if (def->forward == VMM_NETWORK_FORWARD_NAT || def->forward == VMM_NETWORK_FORWARD_ROUTE) {
        for (guint i = 0; i < def->ips->len; i++) {
            const VmmNetworkIpDef *ip = def->ips->pdata[i];
            const char *fam = ip->address.family == AF_INET ? "ip" : "ip6";
            if (def->forward == VMM_NETWORK_FORWARD_NAT && ip->address.family != AF_INET)
                continue;   /* libvirt: IPv6 on a NAT network is not forwarded */
            g_string_append_printf(s, "  iifname \"%s\"%s %s saddr ", def->bridge, out, fam);
            append_subnet(s, ip);
            g_string_append(s, " accept\n");
            g_string_append_printf(s, "  oifname \"%s\"%s %s daddr ", def->bridge, in, fam);
            append_subnet(s, ip);
            g_string_append(s, def->forward == VMM_NETWORK_FORWARD_NAT
                                   ? " ct state established,related accept\n" : " accept\n");
        }
    }
    /* between the network's own ports, and nothing else in or out */
    g_string_append_printf(s, "  iifname \"%s\" oifname \"%s\" accept\n", def->bridge,
                           def->bridge);
    g_string_append_printf(s, "  iifname \"%s\" reject\n  oifname \"%s\" reject\n }\n",
                           def->bridge, def->bridge);
    if (def->forward == VMM_NETWORK_FORWARD_NAT) {
        g_string_append(s, " chain postrouting {\n  type nat hook postrouting priority "
                           "srcnat; policy accept;\n");
        for (guint i = 0; i < def->ips->len; i++) {
            const VmmNetworkIpDef *ip = def->ips->pdata[i];
            if (ip->address.family != AF_INET)
                continue;
            GString *sub = g_string_new(NULL);
            append_subnet(sub, ip);
            /* multicast and broadcast stay unmasqueraded, as libvirt's rules */
            g_string_append_printf(s, "  ip saddr %s ip daddr 224.0.0.0/24 return\n", sub->str);
            g_string_append_printf(s, "  ip saddr %s ip daddr 255.255.255.255 return\n",
                                   sub->str);
            g_autofree char *ports = def->nat_port_start
                ? g_strdup_printf(" to :%u-%u", def->nat_port_start, def->nat_port_end)
                : g_strdup("");
            g_string_append_printf(s, "  ip saddr %s ip daddr != %s%s meta l4proto { tcp, udp } "
                                      "masquerade%s\n", sub->str, sub->str, out, ports);
            g_string_append_printf(s, "  ip saddr %s ip daddr != %s%s masquerade\n", sub->str,
                                   sub->str, out);
            g_string_free(sub, TRUE);
        }
        g_string_append(s, " }\n");
    }
    g_string_append(s, "}\n");
    return g_string_free(s, FALSE);
}

static bool nft_install(const VmmNetworkDef *def, GError **err)
{
    if (def->forward == VMM_NETWORK_FORWARD_OPEN)
        return true;   /* libvirt's 'open': no firewall rules at all */
    g_autofree char *rules = nft_rules(def);
    g_autofree char *what = g_strdup_printf("network %s", def->name);
    return nft_run(rules, what, err);
}

static void nft_remove(const VmmNetworkDef *def)
{
    if (def->forward == VMM_NETWORK_FORWARD_OPEN)
        return;
    g_autofree char *table = nft_table(def->bridge);
    g_autofree char *cmds = g_strdup_printf("add table inet %s\ndelete table inet %s\n", table,
                                            table);
    g_autoptr(GError) e = NULL;
    nft_run(cmds, "removing rules", &e);
}

/* ---- dnsmasq ------------------------------------------------------------- */

static bool network_wants_dnsmasq(const VmmNetworkDef *def)
{
    for (guint i = 0; i < def->ips->len; i++) {
        const VmmNetworkIpDef *ip = def->ips->pdata[i];
        if (ip->ranges->len || ip->hosts->len)
            return true;
    }
    return def->ips->len && def->dns_enable != 0;
}

static guint64 range_size(const VmmNetworkDhcpRange *r)
{
    if (r->start.family != AF_INET)
        return 0;
    return (guint64)ntohl(r->end.v4.s_addr) - ntohl(r->start.v4.s_addr) + 1;
}

static bool write_run_file(VmmdNetwork *n, const char *ext, const char *text, GError **err)
{
    g_autofree char *name = g_strdup_printf("%s.%s", n->name, ext);
    return vmmd_write_file_atomic(n->daemon->net_run_dir, name, text, strlen(text), 0644, err);
}

static bool dnsmasq_files(VmmdNetwork *n, GError **err)
{
    const VmmNetworkDef *def = n->live;
    g_autofree char *leases = run_file(n, "leases");
    GString *c = g_string_new("# written by vmmd; changes are overwritten\n");
    g_string_append(c, "strict-order\nexcept-interface=lo\nbind-dynamic\n");
    g_string_append_printf(c, "interface=%s\n", def->bridge);
    if (def->domain) {
        g_string_append_printf(c, "domain=%s\nexpand-hosts\n", def->domain);
        if (def->domain_local_only)
            g_string_append_printf(c, "local=/%s/\n", def->domain);
    }
    if (def->dns_enable == 0)
        g_string_append(c, "port=0\n");
    GString *hosts = g_string_new(NULL), *dns = g_string_new(NULL);
    bool dhcp = false;
    guint64 lease_max = 0;
    for (guint i = 0; i < def->ips->len; i++) {
        const VmmNetworkIpDef *ip = def->ips->pdata[i];
        for (guint r = 0; r < ip->ranges->len; r++) {
            const VmmNetworkDhcpRange *rg = &g_array_index(ip->ranges, VmmNetworkDhcpRange, r);
            g_autofree char *s = vmm_inet_addr_to_string(&rg->start);
            g_autofree char *e = vmm_inet_addr_to_string(&rg->end);
            if (ip->address.family == AF_INET) {
                VmmInetAddr m = vmm_inet_netmask4(ip->prefix);
                g_autofree char *mask = vmm_inet_addr_to_string(&m);
                g_string_append_printf(c, "dhcp-range=%s,%s,%s\n", s, e, mask);
            } else {
                g_string_append_printf(c, "dhcp-range=%s,%s,%u\nenable-ra\n", s, e,
                                       ip->prefix);
            }
            lease_max += range_size(rg);
            dhcp = true;
        }
        for (guint h = 0; h < ip->hosts->len; h++) {
            const VmmNetworkDhcpHost *host = ip->hosts->pdata[h];
            GString *line = g_string_new(NULL);
            if (host->has_mac)
                g_string_append_printf(line, "%02x:%02x:%02x:%02x:%02x:%02x", host->mac[0],
                                       host->mac[1], host->mac[2], host->mac[3], host->mac[4],
                                       host->mac[5]);
            if (host->ip.family) {
                g_autofree char *a = vmm_inet_addr_to_string(&host->ip);
                g_string_append_printf(line, "%s%s%s%s", line->len ? "," : "",
                                       host->ip.family == AF_INET6 ? "[" : "", a,
                                       host->ip.family == AF_INET6 ? "]" : "");
            }
            if (host->name)
                g_string_append_printf(line, "%s%s", line->len ? "," : "", host->name);
            /* in the conf file: dnsmasq reads it as root before it drops
             * privileges (a hosts file would be re-read as nobody) */
            g_string_append_printf(hosts, "dhcp-host=%s\n", line->str);
            g_string_free(line, TRUE);
            dhcp = true;
        }
    }
    for (guint i = 0; i < def->dns_hosts->len; i++) {
        const VmmNetworkDnsHost *h = def->dns_hosts->pdata[i];
        g_autofree char *a = vmm_inet_addr_to_string(&h->ip);
        g_string_append(dns, "host-record=");
        for (guint k = 0; k < h->names->len; k++)
            g_string_append_printf(dns, "%s,", (const char *)h->names->pdata[k]);
        g_string_append_printf(dns, "%s\n", a);
    }
    if (dhcp) {
        g_string_append(c, "dhcp-no-override\ndhcp-authoritative\n");
        if (def->forward == VMM_NETWORK_FORWARD_NONE)
            g_string_append(c, "dhcp-option=3\n");   /* isolated: no router, as libvirt */
        if (lease_max)
            g_string_append_printf(c, "dhcp-lease-max=%" G_GUINT64_FORMAT "\n", lease_max);
        g_string_append_printf(c, "dhcp-leasefile=%s\n", leases);
    }
    g_string_append(c, hosts->str);
    g_string_append(c, dns->str);
    bool ok = write_run_file(n, "conf", c->str, err);
    g_string_free(hosts, TRUE);
    g_string_free(dns, TRUE);
    g_string_free(c, TRUE);
    return ok;
}

static void dnsmasq_unwatch(VmmdNetwork *n)
{
    if (n->dnsmasq_watch) {
        g_source_destroy(n->dnsmasq_watch);
        g_clear_pointer(&n->dnsmasq_watch, g_source_unref);
    }
    if (n->dnsmasq_pidfd >= 0)
        close(n->dnsmasq_pidfd);
    n->dnsmasq_pidfd = -1;
}

static bool dnsmasq_spawn(VmmdNetwork *n, GError **err);

static gboolean on_dnsmasq_exit(gint fd, GIOCondition cond, gpointer opaque)
{
    VmmdNetwork *n = opaque;
    (void)fd;
    (void)cond;
    pid_t pid = n->dnsmasq;
    int status = 0;
    if (n->dnsmasq_own)
        waitpid(pid, &status, WNOHANG);
    g_clear_pointer(&n->dnsmasq_watch, g_source_unref);
    close(n->dnsmasq_pidfd);
    n->dnsmasq_pidfd = -1;
    n->dnsmasq = 0;
    g_autofree char *pidf = run_file(n, "pid");
    unlink(pidf);
    if (!n->live)
        return G_SOURCE_REMOVE;
    gint64 now = g_get_monotonic_time() / G_USEC_PER_SEC;
    if (now - n->window_start > DNSMASQ_WINDOW_S) {
        n->window_start = now;
        n->restarts = 0;
    }
    g_autofree char *log = run_file(n, "dnsmasq.log");
    if (++n->restarts > DNSMASQ_RESTARTS) {
        net_log(n, LOG_ERR, "dnsmasq (pid %d) exited again; %u restarts within %d s, giving "
                "up: the network has no DHCP or DNS until net-destroy and net-start (its "
                "messages: %s)", (int)pid, DNSMASQ_RESTARTS, DNSMASQ_WINDOW_S, log);
        return G_SOURCE_REMOVE;
    }
    g_autoptr(GError) e = NULL;
    net_log(n, LOG_ERR, "dnsmasq (pid %d) exited unexpectedly%s; restarting it (its messages: "
            "%s)", (int)pid, n->dnsmasq_own && WIFSIGNALED(status) ? " on a signal" : "", log);
    if (!dnsmasq_spawn(n, &e))
        net_log(n, LOG_ERR, "%s", e->message);
    return G_SOURCE_REMOVE;
}

static bool dnsmasq_watch(VmmdNetwork *n, GError **err)
{
    int fd = (int)syscall(SYS_pidfd_open, n->dnsmasq, 0);
    if (fd < 0) {
        vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR, "network %s: cannot watch dnsmasq "
                            "pid %d: %s", n->name, (int)n->dnsmasq, g_strerror(errno));
        return false;
    }
    n->dnsmasq_pidfd = fd;
    n->dnsmasq_watch = g_unix_fd_source_new(fd, G_IO_IN);
    g_source_set_callback(n->dnsmasq_watch, (GSourceFunc)(void (*)(void))on_dnsmasq_exit, n,
                          NULL);
    g_source_attach(n->dnsmasq_watch, NULL);
    return true;
}

static void child_setsid(gpointer unused)
{
    (void)unused;
    setsid();   /* outlives a restart of vmmd, like the workers */
}

static bool dnsmasq_spawn(VmmdNetwork *n, GError **err)
{
    g_autofree char *conf = run_file(n, "conf");
    g_autofree char *log = run_file(n, "dnsmasq.log");
    g_autofree char *conf_arg = g_strdup_printf("--conf-file=%s", conf);
    const char *argv[] = { dnsmasq_path(), conf_arg, "--keep-in-foreground", "--log-facility=-",
                           NULL };
    int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    GError *e = NULL;
    GPid pid = 0;
    gboolean ok = g_spawn_async_with_fds(NULL, (char **)argv, NULL,
                                         G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                                         child_setsid, NULL, &pid, -1, logfd, logfd, &e);
    if (logfd >= 0)
        close(logfd);
    if (!ok) {
        vmm_proto_set_error(err, VMM_PROTO_GENERIC_ERROR, "network %s: cannot run dnsmasq "
                            "(Debian package dnsmasq-base): %s", n->name, e->message);
        g_error_free(e);
        return false;
    }
    n->dnsmasq = pid;
    n->dnsmasq_own = true;
    g_autofree char *pidtext = g_strdup_printf("%d\n", (int)pid);
    if (!write_run_file(n, "pid", pidtext, err) || !dnsmasq_watch(n, err)) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        n->dnsmasq = 0;
        return false;
    }
    net_log(n, LOG_INFO, "dnsmasq started, pid %d", (int)pid);
    return true;
}

static void dnsmasq_stop(VmmdNetwork *n)
{
    dnsmasq_unwatch(n);
    if (n->dnsmasq > 0) {
        kill(n->dnsmasq, SIGTERM);
        if (n->dnsmasq_own)
            waitpid(n->dnsmasq, NULL, 0);
    }
    n->dnsmasq = 0;
    g_autofree char *pidf = run_file(n, "pid");
    unlink(pidf);
}

/* ---- start and stop ------------------------------------------------------ */

static bool sysctl_on(const char *path, GError **err)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    bool ok = fd >= 0 && write(fd, "1\n", 2) == 2;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (!ok)
        vmm_proto_set_error(err, VMM_PROTO_GENERIC_ERROR, "cannot enable forwarding (%s): %s",
                            path, g_strerror(e));
    return ok;
}

static void run_files_remove(VmmdNetwork *n)
{
    static const char *const exts[] = { "xml", "conf", "pid" };
    for (size_t i = 0; i < G_N_ELEMENTS(exts); i++) {
        g_autofree char *p = run_file(n, exts[i]);
        unlink(p);
    }
}

/* Undoes whatever network_up did, in reverse. */
static void network_down(VmmdNetwork *n, const VmmNetworkDef *def, bool bridge_made)
{
    dnsmasq_stop(n);
    nft_remove(def);
    g_autoptr(GError) e = NULL;
    if (bridge_made && !vmm_bridge_delete(def->bridge, &e))
        net_log(n, LOG_WARNING, "%s", e->message);
}

static bool bridge_up(const VmmNetworkDef *def, GError **err)
{
    GError *e = NULL;
    bool ok = vmm_bridge_create(def->bridge, &e) &&
              vmm_if_set_mac("bridge", def->bridge, def->mac, &e) &&
              (!def->mtu || vmm_if_set_mtu("bridge", def->bridge, def->mtu, &e)) &&
              vmm_bridge_set_stp(def->bridge, def->stp, def->delay, &e);
    for (guint i = 0; ok && i < def->ips->len; i++) {
        const VmmNetworkIpDef *ip = def->ips->pdata[i];
        ok = ip->address.family == AF_INET
                 ? vmm_if_add_ipv4("bridge", def->bridge, &ip->address.v4, ip->prefix, &e)
                 : vmm_if_add_ipv6("bridge", def->bridge, &ip->address.v6, ip->prefix, &e);
    }
    ok = ok && vmm_if_set_up("bridge", def->bridge, true, &e);
    if (!ok) {
        vmm_proto_set_error(err, VMM_PROTO_GENERIC_ERROR, "network %s: %s", def->name,
                            e->message);
        g_error_free(e);
    }
    return ok;
}

bool vmmd_network_start(VmmdNetwork *n, GError **err)
{
    VmmDaemon *d = n->daemon;
    if (n->live) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                            "network is already active");
        return false;
    }
    const VmmNetworkDef *def = n->def;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, d->networks);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        VmmdNetwork *o = v;
        g_autofree char *what = NULL;
        if (o == n || !o->live)
            continue;
        if (vmm_network_def_overlaps(def, o->live, &what)) {
            vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "network '%s' cannot start: "
                                "its subnet %s of running network '%s'", n->name, what,
                                o->name);
            return false;
        }
    }
    if (vmm_if_exists(def->bridge)) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "network '%s' cannot start: "
                            "bridge name '%s' is already in use by an interface on this host",
                            n->name, def->bridge);
        return false;
    }
    bool bridge_made = false;
    g_autoptr(VmmNetworkDef) live = vmm_network_def_copy(def, n->name, err);
    if (!live)
        return false;
    n->live = live;
    bool ok = bridge_up(live, err);
    bridge_made = ok || vmm_if_exists(live->bridge);
    if (ok && (live->forward == VMM_NETWORK_FORWARD_NAT ||
               live->forward == VMM_NETWORK_FORWARD_ROUTE)) {
        bool v4 = vmm_network_def_ipv4(live) != NULL, v6 = false;
        for (guint i = 0; i < live->ips->len; i++)
            v6 |= ((VmmNetworkIpDef *)live->ips->pdata[i])->address.family == AF_INET6;
        ok = (!v4 || sysctl_on("/proc/sys/net/ipv4/ip_forward", err)) &&
             (!v6 || live->forward != VMM_NETWORK_FORWARD_ROUTE ||
              sysctl_on("/proc/sys/net/ipv6/conf/all/forwarding", err));
    }
    ok = ok && nft_install(live, err);
    g_autofree char *xml = ok ? vmm_network_def_format(live, 0, err) : NULL;
    ok = ok && xml && write_run_file(n, "xml", xml, err);
    ok = ok && (!network_wants_dnsmasq(live) || (dnsmasq_files(n, err) &&
                                                 dnsmasq_spawn(n, err)));
    if (!ok) {
        n->live = NULL;
        network_down(n, live, bridge_made);
        run_files_remove(n);
        net_log(n, LOG_ERR, "start failed, everything undone: %s", (*err)->message);
        return false;
    }
    n->live = g_steal_pointer(&live);
    n->restarts = 0;
    net_log(n, LOG_INFO, "started on bridge %s", n->live->bridge);
    vmmd_libvirt_network_event(d, n->name, n->live->uuid, VMMD_NET_EVENT_STARTED);
    return true;
}

static bool network_remove_if_gone(VmmdNetwork *n)
{
    if (n->def || n->live)
        return false;
    /* neither defined nor running: its leases go with it, as libvirt's
     * networkRemoveInactive removes them (a stop keeps them for the next
     * start) */
    g_autofree char *leases = run_file(n, "leases");
    unlink(leases);
    g_hash_table_remove(n->daemon->networks, n->name);   /* frees n */
    return true;
}

bool vmmd_network_destroy(VmmdNetwork *n, GError **err)
{
    if (!n->live) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "network is not active");
        return false;
    }
    VmmNetworkDef *live = g_steal_pointer(&n->live);
    network_down(n, live, true);
    run_files_remove(n);
    net_log(n, LOG_INFO, "stopped; bridge %s removed", live->bridge);
    vmmd_libvirt_network_event(n->daemon, n->name, live->uuid, VMMD_NET_EVENT_STOPPED);
    vmm_network_def_free(live);
    network_remove_if_gone(n);
    return true;
}

/* ---- definitions --------------------------------------------------------- */

static GHashTable *bridges_taken(VmmDaemon *d, const VmmdNetwork *except)
{
    GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, d->networks);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        VmmdNetwork *o = v;
        const VmmNetworkDef *cur = vmmd_network_current_def(o);
        if (o != except && cur && cur->bridge)
            g_hash_table_add(t, g_strdup(cur->bridge));
    }
    /* and interfaces that exist, as libvirt skips them: one walk of the
     * host's interfaces */
    struct if_nameindex *ifs = if_nameindex();
    for (struct if_nameindex *i = ifs; i && i->if_index; i++)
        g_hash_table_add(t, g_strdup(i->if_name));
    if (ifs)
        if_freenameindex(ifs);
    return t;
}

VmmdNetwork *vmmd_network_lookup(VmmDaemon *d, const char *name_or_uuid)
{
    VmmdNetwork *n = g_hash_table_lookup(d->networks, name_or_uuid);
    if (n)
        return n;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, d->networks);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        char u[VMMD_UUID_STRLEN];
        vmmd_uuid_format(vmmd_network_current_def(v)->uuid, u);
        if (!g_ascii_strcasecmp(u, name_or_uuid))
            return v;
    }
    return NULL;
}

static bool save_def(VmmDaemon *d, const VmmNetworkDef *def, GError **err)
{
    g_autofree char *xml = vmm_network_def_format(def, 0, err);
    g_autofree char *file = g_strdup_printf("%s.xml", def->name);
    return xml && vmmd_write_file_atomic(d->networks_dir, file, xml, strlen(xml), 0600, err);
}

VmmdNetwork *vmmd_network_define(VmmDaemon *d, const char *xml, GError **err)
{
    GError *e = NULL;
    g_autoptr(VmmNetworkDef) def = vmm_network_def_parse_string(xml, strlen(xml), NULL, &e);
    if (!def) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT, "%s", e->message);
        g_error_free(e);
        return NULL;
    }
    VmmdNetwork *n = g_hash_table_lookup(d->networks, def->name);
    /* libvirt: the same name keeps its uuid; another network's uuid is refused */
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, d->networks);
    while (def->has_uuid && g_hash_table_iter_next(&it, NULL, &v)) {
        VmmdNetwork *o = v;
        const VmmNetworkDef *cur = vmmd_network_current_def(o);
        if (o != n && cur && !memcmp(cur->uuid, def->uuid, 16)) {
            vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "network '%s' already "
                                "exists with the uuid of the new definition", o->name);
            return NULL;
        }
    }
    if (n && !def->has_uuid) {
        memcpy(def->uuid, vmmd_network_current_def(n)->uuid, 16);
        def->has_uuid = true;
    } else if (n && memcmp(vmmd_network_current_def(n)->uuid, def->uuid, 16)) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "network '%s' is already "
                            "defined with another uuid", def->name);
        return NULL;
    }
    if (!def->bridge && n && vmmd_network_current_def(n)->bridge)
        def->bridge = g_strdup(vmmd_network_current_def(n)->bridge);
    g_autoptr(GHashTable) taken = bridges_taken(d, n);
    if (def->bridge && g_hash_table_contains(taken, def->bridge) &&
        !(n && n->live && !g_strcmp0(n->live->bridge, def->bridge))) {
        GHashTableIter bi;
        g_hash_table_iter_init(&bi, d->networks);
        while (g_hash_table_iter_next(&bi, NULL, &v)) {
            const VmmNetworkDef *cur = vmmd_network_current_def(v);
            if (v != n && cur && !g_strcmp0(cur->bridge, def->bridge)) {
                vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "bridge name '%s' is "
                                    "already used by network '%s'", def->bridge,
                                    ((VmmdNetwork *)v)->name);
                return NULL;
            }
        }
    }
    vmm_network_def_fill_defaults(def, taken);
    if (!save_def(d, def, err))
        return NULL;
    if (!n)
        n = network_new(d, def->name);
    vmm_network_def_free(n->def);
    n->def = g_steal_pointer(&def);
    net_log(n, LOG_INFO, "defined");
    vmmd_libvirt_network_event(d, n->name, n->def->uuid, VMMD_NET_EVENT_DEFINED);
    return n;
}

bool vmmd_network_undefine(VmmdNetwork *n, GError **err)
{
    VmmDaemon *d = n->daemon;
    if (!n->def) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "cannot undefine transient "
                            "network");
        return false;
    }
    g_autofree char *file = g_strdup_printf("%s.xml", n->name);
    if (!vmmd_remove_file(d->net_autostart_dir, n->name, err) ||
        !vmmd_remove_file(d->networks_dir, file, err))
        return false;
    n->autostart = false;
    vmmd_libvirt_network_event(d, n->name, n->def->uuid, VMMD_NET_EVENT_UNDEFINED);
    g_clear_pointer(&n->def, vmm_network_def_free);
    net_log(n, LOG_INFO, "undefined%s", n->live ? " (it keeps running, transient)" : "");
    network_remove_if_gone(n);
    return true;
}

bool vmmd_network_set_autostart(VmmdNetwork *n, bool on, GError **err)
{
    VmmDaemon *d = n->daemon;
    if (!n->def) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "cannot set autostart for "
                            "transient network");
        return false;
    }
    if (on && !vmmd_write_file_atomic(d->net_autostart_dir, n->name, "", 0, 0644, err))
        return false;
    if (!on && !vmmd_remove_file(d->net_autostart_dir, n->name, err))
        return false;
    n->autostart = on;
    return true;
}

bool vmmd_network_is_autostart(const VmmdNetwork *n)
{
    return n->autostart;
}

bool vmmd_network_is_persistent(const VmmdNetwork *n)
{
    return n->def != NULL;
}

const char *vmmd_network_name(const VmmdNetwork *n)
{
    return n->name;
}

GPtrArray *vmmd_network_list(VmmDaemon *d)
{
    return vmmd_sorted_values(d->networks);
}

/* Domains' interfaces on this network (for connections='N'). */
unsigned vmmd_network_connections(const VmmdNetwork *n)
{
    unsigned count = 0;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, n->daemon->domains);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        const VmmdDomain *dom = v;
        if (!vmmd_domain_is_active(dom) || !dom->live_def || !dom->live_def->nets)
            continue;
        for (guint i = 0; i < dom->live_def->nets->len; i++) {
            const VmmNetDef *nd = dom->live_def->nets->pdata[i];
            if (nd->type == VMM_NET_NETWORK && !g_strcmp0(nd->network, n->name))
                count++;
        }
    }
    return count;
}

bool vmmd_networks_resolve(VmmDaemon *d, VmmDomainDef *live, GError **err)
{
    for (guint i = 0; live->nets && i < live->nets->len; i++) {
        VmmNetDef *nd = live->nets->pdata[i];
        if (nd->type != VMM_NET_NETWORK)
            continue;
        VmmdNetwork *n = g_hash_table_lookup(d->networks, nd->network);
        if (!n) {
            vmm_proto_set_error(err, VMM_PROTO_NETWORK_NOT_FOUND, "interface %u: network '%s' is not "
                                "defined (net-define, then net-start)", i, nd->network);
            return false;
        }
        if (!n->live) {
            vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "interface %u: network '%s' "
                                "is not active (net-start %s)", i, nd->network, nd->network);
            return false;
        }
        g_free(nd->bridge);
        nd->bridge = g_strdup(n->live->bridge);
        if (!nd->mtu && n->live->mtu)
            nd->mtu = n->live->mtu;   /* libvirt: the network's MTU for its taps */
    }
    return true;
}

/* ---- DHCP leases --------------------------------------------------------- */

/* dnsmasq's lease file: "EXPIRY MAC IP HOSTNAME CLIENTID" per IPv4 lease;
 * after a "duid" line, "EXPIRY IAID IP HOSTNAME DUID" per IPv6 lease. */
json_object *vmmd_network_leases(VmmdNetwork *n, const char *mac)
{
    json_object *arr = json_object_new_array();
    if (!n->live)
        return arr;
    g_autofree char *path = run_file(n, "leases");
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return arr;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    bool v6 = false;
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, " ", -1);
        if (g_strv_length(f) >= 2 && !strcmp(f[0], "duid")) {
            v6 = true;
            continue;
        }
        if (g_strv_length(f) < 5)
            continue;
        VmmInetAddr a;
        vmm_inet_addr_parse(f[2], &a);
        unsigned prefix = 0;
        for (guint i = 0; i < n->live->ips->len; i++) {
            const VmmNetworkIpDef *ip = n->live->ips->pdata[i];
            if (vmm_inet_addr_in_subnet(&a, &ip->address, ip->prefix))
                prefix = ip->prefix;
        }
        if (!a.family || !prefix)
            continue;
        const char *lmac = v6 ? NULL : f[1];
        if (mac && (!lmac || g_ascii_strcasecmp(mac, lmac)))
            continue;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "expiry-time", json_object_new_int64(g_ascii_strtoll(f[0],
                                                                                     NULL, 10)));
        json_object_object_add(o, "mac", lmac ? json_object_new_string(lmac) : NULL);
        json_object_object_add(o, "type", json_object_new_string(v6 ? "ipv6" : "ipv4"));
        json_object_object_add(o, "ipaddr", json_object_new_string(f[2]));
        json_object_object_add(o, "prefix", json_object_new_int((int)prefix));
        json_object_object_add(o, "hostname", strcmp(f[3], "*") ? json_object_new_string(f[3])
                                                                : NULL);
        json_object_object_add(o, "clientid", strcmp(f[4], "*") ? json_object_new_string(f[4])
                                                                : NULL);
        json_object_object_add(o, "iface", json_object_new_string(n->live->bridge));
        json_object_array_add(arr, o);
    }
    return arr;
}

/* ---- net-update ip-dhcp-host --------------------------------------------- */

static VmmNetworkIpDef *dhcp_ip(VmmNetworkDef *def, int family)
{
    for (guint i = 0; i < def->ips->len; i++) {
        VmmNetworkIpDef *ip = def->ips->pdata[i];
        if (ip->address.family == family && (ip->has_dhcp || ip->ranges->len ||
                                             ip->hosts->len))
            return ip;
    }
    return NULL;
}

/* Applies a host change to a copy of `def`, then re-parses the result, so
 * every rule of net-define holds for it (the host inside the subnet, ...). */
static VmmNetworkDef *with_host(const VmmNetworkDef *def, const char *cmd, const char *host_xml,
                                GError **err)
{
    GError *e = NULL;
    g_autoptr(VmmNetworkDhcpHost) want = vmm_network_dhcp_host_parse(host_xml, &e);
    if (!want) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT, "%s", e->message);
        g_error_free(e);
        return NULL;
    }
    g_autoptr(VmmNetworkDef) copy = vmm_network_def_copy(def, "net", err);
    if (!copy)
        return NULL;
    VmmNetworkIpDef *ip = dhcp_ip(copy, want->ip.family ? want->ip.family : AF_INET);
    if (!ip) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "couldn't update dhcp host "
                            "entry - no <ip> element with <dhcp> found in network '%s'",
                            def->name);
        return NULL;
    }
    int found = -1;
    for (guint i = 0; i < ip->hosts->len && found < 0; i++) {
        const VmmNetworkDhcpHost *h = ip->hosts->pdata[i];
        if ((want->has_mac && h->has_mac && !memcmp(h->mac, want->mac, 6)) ||
            (!want->has_mac && want->name && h->name && !strcmp(h->name, want->name)))
            found = (int)i;
    }
    bool add = !strcmp(cmd, "add") || !strcmp(cmd, "add-last") || !strcmp(cmd, "add-first");
    bool modify = !strcmp(cmd, "modify"), del = !strcmp(cmd, "delete");
    if (!add && !modify && !del) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT, "net-update: unknown command '%s' "
                            "(add, add-first, add-last, delete, modify)", cmd);
        return NULL;
    }
    if ((del || modify) && found < 0) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "couldn't locate a matching dhcp "
                            "host entry in network '%s'", def->name);
        return NULL;
    }
    if (add && found >= 0) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "there is an existing dhcp host "
                            "entry in network '%s' that matches \"%s\"", def->name,
                            host_xml);
        return NULL;
    }
    if (del || modify)
        g_ptr_array_remove_index(ip->hosts, (guint)found);
    if (modify)
        g_ptr_array_insert(ip->hosts, found, g_steal_pointer(&want));
    else if (add)
        g_ptr_array_insert(ip->hosts, !strcmp(cmd, "add-first") ? 0 : -1,
                           g_steal_pointer(&want));
    g_autofree char *out = vmm_network_def_format(copy, 0, err);
    if (!out)
        return NULL;
    VmmNetworkDef *res = vmm_network_def_parse_string(out, strlen(out), "net-update", &e);
    if (!res) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "%s", e->message);
        g_error_free(e);
    }
    return res;
}

bool vmmd_network_update(VmmdNetwork *n, const char *cmd, const char *section,
                         const char *xml, bool live, bool config, GError **err)
{
    if (strcmp(section, "ip-dhcp-host")) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT, "can't update '%s' section "
                            "of network '%s' (vmmd updates ip-dhcp-host)", section, n->name);
        return false;
    }
    /* neither (virsh's --current): the running network if it runs, else
     * the definition, as libvirt's network driver does */
    if (!live && !config)
        live = n->live != NULL, config = n->live == NULL;
    if (live && !n->live) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "network is not running");
        return false;
    }
    if (config && !n->def) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "cannot change persistent "
                            "config of a transient network");
        return false;
    }
    g_autoptr(VmmNetworkDef) new_live = live ? with_host(n->live, cmd, xml, err) : NULL;
    if (live && !new_live)
        return false;
    g_autoptr(VmmNetworkDef) new_def = config ? with_host(n->def, cmd, xml, err) : NULL;
    if (config && !new_def)
        return false;
    if (config) {
        if (!save_def(n->daemon, new_def, err))
            return false;
        vmm_network_def_free(n->def);
        n->def = g_steal_pointer(&new_def);
    }
    if (live) {
        g_autofree char *lx = vmm_network_def_format(new_live, 0, err);
        if (!lx || !write_run_file(n, "xml", lx, err))
            return false;
        vmm_network_def_free(n->live);
        n->live = g_steal_pointer(&new_live);
        /* dnsmasq reads its files as root at start only: restart it (the
         * lease file keeps the leases) */
        dnsmasq_stop(n);
        if (network_wants_dnsmasq(n->live) && (!dnsmasq_files(n, err) ||
                                               !dnsmasq_spawn(n, err)))
            return false;
    }
    return true;
}

/* ---- daemon start and stop ----------------------------------------------- */

static const char *const DEFAULT_NETWORK_XML =
    "<network>\n"
    "  <name>default</name>\n"
    "  <forward mode='nat'>\n"
    "    <nat>\n"
    "      <port start='1024' end='65535'/>\n"
    "    </nat>\n"
    "  </forward>\n"
    "  <bridge name='virbr0' stp='on' delay='0'/>\n"
    "  <ip address='192.168.122.1' netmask='255.255.255.0'>\n"
    "    <dhcp>\n"
    "      <range start='192.168.122.2' end='192.168.122.254'/>\n"
    "    </dhcp>\n"
    "  </ip>\n"
    "</network>\n";

static bool make_dir(const char *dir, mode_t mode, GError **err)
{
    if (g_mkdir_with_parents(dir, mode) == 0)
        return true;
    vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR, "cannot create '%s': %s", dir,
                        g_strerror(errno));
    return false;
}

/* A dnsmasq from before a daemon restart: alive and running our conf? */
static void adopt_dnsmasq(VmmdNetwork *n)
{
    g_autofree char *pidf = run_file(n, "pid");
    g_autofree char *text = NULL;
    g_autofree char *conf = run_file(n, "conf");
    if (g_file_get_contents(pidf, &text, NULL, NULL)) {
        pid_t pid = (pid_t)g_ascii_strtoll(text, NULL, 10);
        g_autofree char *cmdf = g_strdup_printf("/proc/%d/cmdline", (int)pid);
        g_autofree char *cmd = NULL;
        gsize len = 0;
        if (pid > 0 && g_file_get_contents(cmdf, &cmd, &len, NULL) &&
            memmem(cmd, len, conf, strlen(conf))) {
            n->dnsmasq = pid;
            n->dnsmasq_own = false;
            g_autoptr(GError) e = NULL;
            if (dnsmasq_watch(n, &e)) {
                net_log(n, LOG_INFO, "re-attached to dnsmasq pid %d", (int)pid);
                return;
            }
            n->dnsmasq = 0;
        }
    }
    g_autoptr(GError) e = NULL;
    if (network_wants_dnsmasq(n->live) && (!dnsmasq_files(n, &e) || !dnsmasq_spawn(n, &e)))
        net_log(n, LOG_ERR, "%s", e->message);
}

bool vmmd_networks_init(VmmDaemon *d, bool default_network, GError **err)
{
    d->networks = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify)network_free);
    d->networks_dir = g_build_filename(d->config_dir, "networks", NULL);
    d->net_autostart_dir = g_build_filename(d->networks_dir, "autostart", NULL);
    d->net_run_dir = g_build_filename(d->run_dir, "networks", NULL);
    bool first = !g_file_test(d->networks_dir, G_FILE_TEST_IS_DIR);
    if (!make_dir(d->net_autostart_dir, 0700, err) || !make_dir(d->net_run_dir, 0755, err))
        return false;
    g_autoptr(GDir) dir = g_dir_open(d->networks_dir, 0, NULL);
    for (const char *f; dir && (f = g_dir_read_name(dir));) {
        if (!g_str_has_suffix(f, ".xml"))
            continue;
        g_autofree char *path = g_build_filename(d->networks_dir, f, NULL);
        GError *e = NULL;
        VmmNetworkDef *def = vmm_network_def_parse_file(path, &e);
        g_autofree char *stem = g_strndup(f, strlen(f) - 4);
        if (!def || strcmp(def->name, stem)) {
            vmmd_log(d, NULL, LOG_ERR, "network definition %s ignored: %s", path,
                     def ? "its <name> differs from the file name" : e->message);
            g_clear_error(&e);
            vmm_network_def_free(def);
            continue;
        }
        VmmdNetwork *n = network_new(d, def->name);
        n->def = def;
        g_autofree char *flag = g_build_filename(d->net_autostart_dir, def->name, NULL);
        n->autostart = g_file_test(flag, G_FILE_TEST_EXISTS);
    }
    /* re-attach running networks */
    g_autoptr(GDir) run = g_dir_open(d->net_run_dir, 0, NULL);
    for (const char *f; run && (f = g_dir_read_name(run));) {
        if (!g_str_has_suffix(f, ".xml"))
            continue;
        g_autofree char *path = g_build_filename(d->net_run_dir, f, NULL);
        g_autoptr(GError) e = NULL;
        g_autoptr(VmmNetworkDef) live = vmm_network_def_parse_file(path, &e);
        if (!live) {
            vmmd_log(d, NULL, LOG_ERR, "running network state %s ignored: %s", path,
                     e->message);
            continue;
        }
        VmmdNetwork *n = g_hash_table_lookup(d->networks, live->name);
        if (!n)
            n = network_new(d, live->name);
        if (!vmm_if_exists(live->bridge)) {
            net_log(n, LOG_WARNING, "bridge %s is gone; the network is inactive",
                    live->bridge);
            nft_remove(live);
            run_files_remove(n);
            network_remove_if_gone(n);
            continue;
        }
        n->live = g_steal_pointer(&live);
        adopt_dnsmasq(n);
    }
    if (first && default_network && !g_hash_table_contains(d->networks, "default")) {
        /* libvirt's packaging: "default" defined and autostarted once */
        GError *e = NULL;
        VmmdNetwork *n = vmmd_network_define(d, DEFAULT_NETWORK_XML, &e);
        if (!n || !vmmd_network_set_autostart(n, true, &e)) {
            vmmd_log(d, NULL, LOG_WARNING, "cannot define the default network: %s",
                     e->message);
            g_clear_error(&e);
        }
    }
    return true;
}

void vmmd_networks_autostart(VmmDaemon *d)
{
    g_autoptr(GPtrArray) all = vmmd_network_list(d);
    for (guint i = 0; i < all->len; i++) {
        VmmdNetwork *n = all->pdata[i];
        g_autoptr(GError) e = NULL;
        if (n->autostart && !n->live && !vmmd_network_start(n, &e))
            net_log(n, LOG_ERR, "autostart failed: %s", e->message);
    }
}

/* At daemon exit: networks keep running (the next daemon re-attaches). */
void vmmd_networks_release(VmmDaemon *d)
{
    if (d->networks)
        g_hash_table_remove_all(d->networks);
}
