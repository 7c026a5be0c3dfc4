/* libvirt virtual networks under vmmd, all inside network namespaces made
 * here (never the host's interfaces or nftables): this test's own
 * namespace plays the host, a second one ("outside", a veth away) plays
 * the world with a UDP echo service. A NAT network gives a guest-kit VM a
 * lease by real dnsmasq, resolves the network's <dns><host> name at it and
 * carries its UDP through vmmd's nftables NAT to the outside; net-dhcp-leases
 * and domifaddr show the lease; a daemon restart keeps the network, the
 * same dnsmasq and the lease; an isolated network gives no route out;
 * net-destroy removes the bridge, dnsmasq and the table; bad definitions
 * and faults are clear errors that leave nothing behind. */
#include "daemon-harness.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUTSIDE_IP "10.200.0.2"
#define ECHO_PORT 7777

static pid_t echo_pid;
static int outside_ns = -1;

static bool ready(void)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_skip("/dev/kvm is not usable here");
        return false;
    }
    return true;
}

/* A new network namespace with lo up, held by the returned descriptor
 * (ip and nsenter reach it as /proc/PID/fd/FD); this process stays in
 * its own. */
static int netns_new(void)
{
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    g_assert_cmpint(self, >=, 0);
    g_assert_cmpint(unshare(CLONE_NEWNET), ==, 0);
    int ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    g_free(harness_sh_out("ip link set lo up"));
    g_assert_cmpint(setns(self, CLONE_NEWNET), ==, 0);
    close(self);
    return ns;
}

/* `cmd` by /bin/sh inside the namespace ns holds: its standard output */
static char *in_ns(int ns, const char *cmd)
{
    g_autofree char *q = g_shell_quote(cmd);
    g_autofree char *full = g_strdup_printf("nsenter --net=/proc/%d/fd/%d /bin/sh -c %s",
                                            (int)getpid(), ns, q);
    return harness_sh_out(full);
}

/* "outside": a namespace with a veth to ours and a UDP echo server, run
 * by a child that entered it. */
static void outside_up(void)
{
    outside_ns = netns_new();
    g_autofree char *cmd = g_strdup_printf(
        "ip link add vout0 type veth peer name vout1 && ip link set vout1 netns /proc/%d/fd/%d "
        "&& ip addr add 10.200.0.1/24 dev vout0 && ip link set vout0 up && echo ok",
        (int)getpid(), outside_ns);
    g_autofree char *out = harness_sh_out(cmd);
    g_assert_nonnull(strstr(out, "ok"));
    echo_pid = fork();
    g_assert_cmpint(echo_pid, >=, 0);
    if (echo_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (setns(outside_ns, CLONE_NEWNET) != 0)
            _exit(1);
        if (system("ip addr add " OUTSIDE_IP "/24 dev vout1 && ip link set vout1 up") != 0)
            _exit(1);
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(ECHO_PORT) };
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
            _exit(1);
        for (;;) {
            char buf[2048];
            struct sockaddr_in from;
            socklen_t fl = sizeof(from);
            ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
            if (n > 0) {
                /* the source it saw, for the test: NAT must have rewritten it */
                char seen[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &from.sin_addr, seen, sizeof(seen));
                fprintf(stderr, "outside echo: %zd bytes from %s\n", n, seen);
                sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
            }
        }
    }
}

static void outside_down(void)
{
    if (echo_pid > 0) {
        kill(echo_pid, SIGKILL);
        waitpid(echo_pid, NULL, 0);
    }
    echo_pid = 0;
    g_free(harness_sh_out("ip link del vout0 2>/dev/null"));
    if (outside_ns >= 0)
        close(outside_ns);
    outside_ns = -1;
}

static json_object *xml_args(const char *xml)
{
    json_object *a = json_object_new_object();
    json_object_object_add(a, "xml", json_object_new_string(xml));
    return a;
}

/* A daemon with network `name` defined from `xml` and started: the
 * connection to it */
static VmmProtoSync *daemon_with_network(Vmmd *v, const char *xml, const char *name)
{
    vmmd_init(v);
    vmmd_start(v);
    VmmProtoSync *s = connect_retry(v, v->sock, 5000);
    json_object_put(call_ok(s, "network-define", xml_args(xml)));
    json_object_put(call_ok(s, "network-start", name_args(name)));
    return s;
}

static char *vm_domain(Vmmd *v, const char *name, const char *cmdline, const char *iface)
{
    Dom d = { .name = name, .cmdline = cmdline };
    g_autofree char *xml = domain_xml(v, &d);
    GString *s = g_string_new(xml);
    char *at = strstr(s->str, "</devices>");
    g_string_insert(s, at - s->str, iface);
    return g_string_free(s, FALSE);
}

static bool nft_table_exists(const char *table)
{
    g_autofree char *cmd = g_strdup_printf("nft list table inet %s >/dev/null 2>&1 && echo yes",
                                           table);
    g_autofree char *out = harness_sh_out(cmd);
    return strstr(out, "yes") != NULL;
}

static bool link_exists(const char *name)
{
    g_autofree char *cmd = g_strdup_printf("ip link show %s >/dev/null 2>&1 && echo yes", name);
    g_autofree char *out = harness_sh_out(cmd);
    return strstr(out, "yes") != NULL;
}

static int dnsmasq_pid(Vmmd *v, const char *net)
{
    g_autofree char *p = g_strdup_printf("%s/networks/%s.pid", v->run, net);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(p, &text, NULL, NULL))
        return 0;
    int pid = atoi(text);
    return pid > 0 && kill(pid, 0) == 0 ? pid : 0;
}

/* Running, not a zombie: an adopted dnsmasq is nobody's child here once
 * the daemon that spawned it has gone, and is reaped whenever the
 * namespace's init gets to it. */
static bool pid_running(int pid)
{
    g_autofree char *p = g_strdup_printf("/proc/%d/stat", pid);
    g_autofree char *st = NULL;
    if (!g_file_get_contents(p, &st, NULL, NULL))
        return false;
    const char *end = strrchr(st, ')');
    return end && end[1] == ' ' && end[2] != 'Z' && end[2] != 'X';
}

/* An A record from dnsmasq on `server` through libresolv. */
static char *dns_lookup(const char *server, const char *name)
{
    struct __res_state rs;
    memset(&rs, 0, sizeof(rs));
    g_assert_cmpint(res_ninit(&rs), ==, 0);
    rs.nscount = 1;
    rs.nsaddr_list[0].sin_family = AF_INET;
    rs.nsaddr_list[0].sin_port = htons(53);
    inet_pton(AF_INET, server, &rs.nsaddr_list[0].sin_addr);
    rs.retry = 3;
    rs.retrans = 1;
    unsigned char ans[1024];
    int n = res_nquery(&rs, name, ns_c_in, ns_t_a, ans, sizeof(ans));
    char *out = NULL;
    ns_msg msg;
    if (n > 0 && ns_initparse(ans, n, &msg) == 0) {
        for (int i = 0; i < ns_msg_count(msg, ns_s_an) && !out; i++) {
            ns_rr rr;
            if (ns_parserr(&msg, ns_s_an, i, &rr) == 0 && ns_rr_type(rr) == ns_t_a &&
                ns_rr_rdlen(rr) == 4) {
                char a[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, ns_rr_rdata(rr), a, sizeof(a));
                out = g_strdup(a);
            }
        }
    }
    res_nclose(&rs);
    return out;
}

#define LAB_XML \
    "<network><name>lab</name>" \
    "<forward mode='nat'><nat><port start='1024' end='65535'/></nat></forward>" \
    "<bridge name='vmmlab0'/>" \
    "<dns><host ip='10.123.0.77'><hostname>db</hostname></host></dns>" \
    "<ip address='10.123.0.1' netmask='255.255.255.0'><dhcp>" \
    "<range start='10.123.0.100' end='10.123.0.150'/>" \
    "<host mac='52:54:00:12:30:42' name='vm42' ip='10.123.0.42'/>" \
    "</dhcp></ip></network>"

static void test_nat_network(void)
{
    if (!ready())
        return;
    outside_up();
    Vmmd v;
    g_autoptr(VmmProtoSync) s = daemon_with_network(&v, LAB_XML, "lab");
    /* the bridge with its address, dnsmasq, the nftables table */
    g_autofree char *addr = harness_sh_out("ip -br addr show vmmlab0");
    g_test_message("bridge: %s", addr);
    g_assert_nonnull(strstr(addr, "10.123.0.1/24"));
    int dpid = dnsmasq_pid(&v, "lab");
    g_assert_cmpint(dpid, >, 0);
    g_assert_true(nft_table_exists("vmmd_vmmlab0"));
    /* the <dns><host> name, from dnsmasq on the bridge */
    /* (dnsmasq binds to the bridge's address shortly after it starts) */
    g_autofree char *db = NULL;
    for (int i = 0; i < 50 && !db; i++) {
        db = dns_lookup("10.123.0.1", "db");
        if (!db)
            g_usleep(100000);
    }
    if (!db) {
        g_autofree char *dl = g_strdup_printf("%s/networks/lab.dnsmasq.log", v.run);
        g_autofree char *dlog = read_file(dl);
        g_test_message("dnsmasq: %s", dlog);
    }
    g_assert_cmpstr(db, ==, "10.123.0.77");

    /* a VM on it: DHCP gives it the reserved address and a router; its UDP
     * crosses the NAT to the outside namespace and comes back */
    g_autofree char *xml = vm_domain(&v, "vm42", "test=net-dhcp dns=db peer=" OUTSIDE_IP ":7777",
                                     "<interface type='network'><mac address='52:54:00:12:30:42'/>"
                                     "<source network='lab'/></interface>");
    json_object_put(call_ok(s, "domain-define", define_args(xml)));
    domain_op(s, "domain-start", "vm42");
    g_autofree char *serial = serial_path(&v, "vm42");
    wait_serial(serial, "\"check\":\"net_udp_peer\"", 1);
    g_autofree char *out = read_file(serial);
    g_test_message("guest: %s", out);
    g_assert_nonnull(strstr(out, "{\"check\":\"net_dhcp\",\"ok\":true,\"address\":\"10.123.0.42\","
                                 "\"router\":\"10.123.0.1\""));
    /* the guest resolves the <dns><host> name at the DNS server its lease
     * names: dnsmasq on the bridge */
    g_assert_nonnull(strstr(out, "{\"check\":\"net_dns\",\"ok\":true,\"name\":\"db\","
                                 "\"server\":\"10.123.0.1\",\"address\":\"10.123.0.77\""));
    g_assert_nonnull(strstr(out, "{\"check\":\"net_udp_peer\",\"ok\":true"));
    /* the live XML names the bridge, as libvirt's does */
    json_object *gx = call_ok(s, "domain-get-xml", name_args("vm42"));
    g_test_message("live XML: %s", get_str(gx, "xml"));
    g_assert_nonnull(strstr(get_str(gx, "xml"), "vmmlab0"));
    json_object_put(gx);
    /* the lease, in net-dhcp-leases and domifaddr */
    json_object *leases = call_ok(s, "network-dhcp-leases", name_args("lab"));
    g_test_message("leases: %s", json_object_to_json_string(leases));
    g_assert_cmpuint(json_object_array_length(leases), ==, 1);
    json_object *l0 = json_object_array_get_idx(leases, 0);
    g_assert_cmpstr(get_str(l0, "mac"), ==, "52:54:00:12:30:42");
    g_assert_cmpstr(get_str(l0, "ipaddr"), ==, "10.123.0.42");
    g_assert_cmpint(json_object_get_int(get(l0, "prefix")), ==, 24);
    json_object_put(leases);
    json_object *ifa = call_ok(s, "domain-interface-addresses", name_args("vm42"));
    json_object *addrs = get(json_object_array_get_idx(ifa, 0), "addrs");
    g_assert_cmpuint(json_object_array_length(addrs), ==, 1);
    g_assert_cmpstr(get_str(json_object_array_get_idx(addrs, 0), "ipaddr"), ==, "10.123.0.42");
    json_object_put(ifa);
    json_object *dx = call_ok(s, "network-get-xml", name_args("lab"));
    g_assert_nonnull(strstr(get_str(dx, "xml"), "<network connections='1'>"));
    json_object_put(dx);

    /* a daemon restart keeps the network, the same dnsmasq and the lease */
    g_clear_pointer(&s, vmm_proto_sync_free);
    g_assert_cmpint(vmmd_stop(&v, SIGTERM), ==, 0);
    vmmd_start(&v);
    s = connect_retry(&v, v.sock, 5000);
    json_object *info = call_ok(s, "network-info", name_args("lab"));
    g_assert_true(json_object_get_boolean(get(info, "active")));
    json_object_put(info);
    g_assert_cmpint(dnsmasq_pid(&v, "lab"), ==, dpid);
    leases = call_ok(s, "network-dhcp-leases", name_args("lab"));
    g_assert_cmpuint(json_object_array_length(leases), ==, 1);
    json_object_put(leases);
    g_autofree char *log = read_file(v.log);
    g_assert_nonnull(strstr(log, "network lab: re-attached to dnsmasq"));

    /* dnsmasq dying is logged and it comes back */
    kill(dpid, SIGKILL);
    int np = 0;
    for (int i = 0; i < 100 && ((np = dnsmasq_pid(&v, "lab")) == 0 || np == dpid); i++)
        g_usleep(50000);
    g_assert_cmpint(np, >, 0);
    g_assert_cmpint(np, !=, dpid);
    g_free(log);
    log = read_file(v.log);
    g_assert_nonnull(strstr(log, "dnsmasq (pid"));
    g_assert_nonnull(strstr(log, "exited unexpectedly; restarting it"));

    /* a network that is running cannot start twice; one that overlaps a
     * running one, or whose bridge name is in use, does not start and
     * leaves nothing behind */
    g_free(call_err(s, "network-start", name_args("lab"), VMM_PROTO_OPERATION_INVALID));
    json_object_put(call_ok(s, "network-define", xml_args(
        "<network><name>over</name><bridge name='vmmover0'/>"
        "<ip address='10.123.0.129' prefix='25'/></network>")));
    g_autofree char *m1 = call_err(s, "network-start", name_args("over"),
                                   VMM_PROTO_OPERATION_INVALID);
    g_assert_nonnull(strstr(m1, "overlaps"));
    g_assert_false(link_exists("vmmover0"));
    g_free(harness_sh_out("ip link add vmmbusy0 type bridge"));
    json_object_put(call_ok(s, "network-define", xml_args(
        "<network><name>busy</name><bridge name='vmmbusy0'/>"
        "<ip address='10.124.0.1' prefix='24'/></network>")));
    g_autofree char *m2 = call_err(s, "network-start", name_args("busy"),
                                   VMM_PROTO_OPERATION_INVALID);
    g_assert_nonnull(strstr(m2, "already in use"));
    g_free(harness_sh_out("ip link del vmmbusy0"));
    g_free(call_err(s, "network-start", name_args("nosuch"), VMM_PROTO_NETWORK_NOT_FOUND));
    g_free(call_err(s, "network-define", xml_args("<network><name>x</name><ip address="
                                                  "'10.0.0.0' prefix='24'/></network>"),
                    VMM_PROTO_INVALID_ARGUMENT));

    /* net-destroy: bridge, dnsmasq and table gone (the VM keeps running) */
    json_object_put(call_ok(s, "network-destroy", name_args("lab")));
    g_assert_false(link_exists("vmmlab0"));
    g_assert_false(nft_table_exists("vmmd_vmmlab0"));
    int after = 0;
    for (int i = 0; i < 50 && kill(np, 0) == 0; i++)
        g_usleep(20000);
    after = kill(np, 0) == 0;
    g_assert_false(after);
    /* a domain on a network that is not running does not start (vm42 has
     * powered off by now: the guest kit ends after its checks) */
    for (int i = 0; i < 200; i++) {
        g_autofree char *st = domain_state(s, "vm42");
        if (!strcmp(st, "shutoff"))
            break;
        g_usleep(50000);
    }
    g_autofree char *m3 = call_err(s, "domain-start", name_args("vm42"),
                                   VMM_PROTO_OPERATION_INVALID);
    g_assert_nonnull(strstr(m3, "network 'lab' is not active"));
    g_assert_cmpuint(count_workers(&v, "vm42"), ==, 0);
    vmmd_cleanup(&v);
    outside_down();
}

/* An isolated network: DHCP without a router, and no way out. */
static void test_isolated_network(void)
{
    if (!ready())
        return;
    outside_up();
    Vmmd v;
    g_autoptr(VmmProtoSync) s = daemon_with_network(&v,
        /* stp='off': with STP on, a new port waits 2 x 2 s (the kernel's
         * minimum forward delay) before it forwards, longer than the guest
         * kit's ARP wait */
        "<network><name>iso</name><bridge name='vmmiso0' stp='off'/>"
        "<ip address='10.125.0.1' prefix='24'><dhcp><range start='10.125.0.10' "
        "end='10.125.0.20'/></dhcp></ip></network>", "iso");
    /* two VMs on it: one echoes, the other's datagrams reach it */
    g_autofree char *a = vm_domain(&v, "isoa", "test=net ip=10.125.0.50",
                                   "<interface type='network'><source network='iso'/>"
                                   "</interface>");
    g_autofree char *b = vm_domain(&v, "isob", "test=net-peer ip=10.125.0.51 "
                                   "peer=10.125.0.50 count=20",
                                   "<interface type='network'><source network='iso'/>"
                                   "</interface>");
    g_autofree char *c = vm_domain(&v, "isoc", "test=net-dhcp peer=" OUTSIDE_IP ":7777",
                                   "<interface type='network'><source network='iso'/>"
                                   "</interface>");
    json_object_put(call_ok(s, "domain-define", define_args(a)));
    json_object_put(call_ok(s, "domain-define", define_args(b)));
    json_object_put(call_ok(s, "domain-define", define_args(c)));
    domain_op(s, "domain-start", "isoa");
    g_autofree char *sa = serial_path(&v, "isoa");
    wait_serial(sa, "\"net_ready\"", 1);
    domain_op(s, "domain-start", "isob");
    g_autofree char *sb = serial_path(&v, "isob");
    wait_serial(sb, "\"check\":\"net_udp_peer\"", 1);
    g_autofree char *ob = read_file(sb);
    g_test_message("peer guest: %s", ob);
    g_assert_nonnull(strstr(ob, "{\"check\":\"net_udp_peer\",\"ok\":true"));
    /* the third gets a lease but no router: the outside stays unreachable */
    domain_op(s, "domain-start", "isoc");
    g_autofree char *sc = serial_path(&v, "isoc");
    wait_serial(sc, "\"check\":\"net_udp_peer\"", 1);
    g_autofree char *oc = read_file(sc);
    g_test_message("isolated guest: %s", oc);
    g_assert_nonnull(strstr(oc, "{\"check\":\"net_dhcp\",\"ok\":true,\"address\":\"10.125.0."));
    g_assert_nonnull(strstr(oc, "\"router\":\"0.0.0.0\""));
    g_assert_nonnull(strstr(oc, "{\"check\":\"net_udp_peer\",\"ok\":false"));
    json_object_put(call_ok(s, "network-destroy", name_args("iso")));
    g_assert_false(link_exists("vmmiso0"));
    g_assert_false(nft_table_exists("vmmd_vmmiso0"));
    vmmd_cleanup(&v);
    outside_down();
}

/* --default-network=yes: libvirt's "default" defined and autostarted on
 * the first start only; a transient network (network-create) survives a
 * daemon restart and is gone once destroyed; dnsmasq missing: a clear
 * error, nothing left. */
static void test_default_and_no_dnsmasq(void)
{
    if (!ready())
        return;
    Vmmd v;
    vmmd_init(&v);
    static const char *const args[] = { "--default-network=yes", NULL };
    vmmd_start_full(&v, NULL, args);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    json_object *info = call_ok(s, "network-info", name_args("default"));
    g_assert_true(json_object_get_boolean(get(info, "active")));
    g_assert_true(json_object_get_boolean(get(info, "autostart")));
    g_assert_cmpstr(get_str(info, "bridge"), ==, "virbr0");
    json_object_put(info);
    g_autofree char *addr = harness_sh_out("ip -br addr show virbr0");
    g_assert_nonnull(strstr(addr, "192.168.122.1/24"));
    /* undefined, it stays gone across a restart */
    json_object_put(call_ok(s, "network-destroy", name_args("default")));
    json_object_put(call_ok(s, "network-undefine", name_args("default")));
    /* a transient network (network-create): running, not persistent, and
     * still known after the restart through its run state */
    json_object *cr = call_ok(s, "network-create", xml_args(
        "<network><name>tr</name><bridge name='vmmtr0'/><ip address='10.127.0.1' "
        "prefix='24'><dhcp><range start='10.127.0.10' end='10.127.0.20'/></dhcp></ip>"
        "</network>"));
    g_assert_true(json_object_get_boolean(get(cr, "active")));
    g_assert_false(json_object_get_boolean(get(cr, "persistent")));
    json_object_put(cr);
    g_assert_true(link_exists("vmmtr0"));
    int trpid = dnsmasq_pid(&v, "tr");
    g_assert_cmpint(trpid, >, 0);
    g_free(call_err(s, "network-undefine", name_args("tr"), VMM_PROTO_OPERATION_INVALID));
    g_clear_pointer(&s, vmm_proto_sync_free);
    g_assert_cmpint(vmmd_stop(&v, SIGTERM), ==, 0);
    static const char *const env[] = { "VMM_DNSMASQ", "/nonexistent/dnsmasq", NULL };
    vmmd_start_full(&v, env, args);
    s = connect_retry(&v, v.sock, 5000);
    g_free(call_err(s, "network-info", name_args("default"), VMM_PROTO_NETWORK_NOT_FOUND));
    info = call_ok(s, "network-info", name_args("tr"));
    g_assert_true(json_object_get_boolean(get(info, "active")));
    g_assert_false(json_object_get_boolean(get(info, "persistent")));
    json_object_put(info);
    g_assert_cmpint(dnsmasq_pid(&v, "tr"), ==, trpid);
    /* destroyed, it is gone: bridge, dnsmasq, table and the name */
    json_object_put(call_ok(s, "network-destroy", name_args("tr")));
    g_free(call_err(s, "network-info", name_args("tr"), VMM_PROTO_NETWORK_NOT_FOUND));
    g_assert_false(link_exists("vmmtr0"));
    g_assert_false(nft_table_exists("vmmd_vmmtr0"));
    for (int i = 0; i < 50 && pid_running(trpid); i++)
        g_usleep(20000);   /* SIGTERM sent; the adopted dnsmasq exits on its own time */
    g_assert_false(pid_running(trpid));
    json_object_put(call_ok(s, "network-define", xml_args(
        "<network><name>nod</name><bridge name='vmmnod0'/><ip address='10.126.0.1' "
        "prefix='24'><dhcp><range start='10.126.0.10' end='10.126.0.20'/></dhcp></ip>"
        "</network>")));
    g_autofree char *m = call_err(s, "network-start", name_args("nod"),
                                  VMM_PROTO_GENERIC_ERROR);
    g_assert_nonnull(strstr(m, "cannot run dnsmasq"));
    g_assert_false(link_exists("vmmnod0"));
    g_assert_false(nft_table_exists("vmmd_vmmnod0"));
    vmmd_cleanup(&v);
}

/* A veth pair VETH0 (on `bridge`) and VETH1 (in namespace ns), both ends'
 * addresses past duplicate address detection; what rdisc6 reports of the
 * router advertisement on VETH1. */
static char *router_advert(int ns, const char *bridge, const char *veth)
{
    g_autofree char *plug = g_strdup_printf(
        "ip link add %s0 type veth peer name %s1 && ip link set %s1 netns /proc/%d/fd/%d "
        "&& ip link set %s0 master %s up && echo ok", veth, veth, veth, (int)getpid(), ns,
        veth, bridge);
    g_autofree char *po = harness_sh_out(plug);
    g_assert_nonnull(strstr(po, "ok"));
    g_autofree char *up = g_strdup_printf("ip link set %s1 up", veth);
    g_free(in_ns(ns, up));
    g_autofree char *ll = g_strdup_printf("ip -6 addr show dev %s1 scope link", veth);
    g_autofree char *tent = g_strdup_printf("ip -6 addr show dev %s1 tentative", veth);
    g_autofree char *btent = g_strdup_printf("ip -6 addr show dev %s tentative", bridge);
    for (int i = 0; i < 100; i++) {
        g_autofree char *t1 = in_ns(ns, ll);
        g_autofree char *t2 = in_ns(ns, tent);
        g_autofree char *t3 = harness_sh_out(btent);
        if (strstr(t1, "fe80") && !*t2 && !*t3)
            break;
        g_usleep(100000);
    }
    g_autofree char *rd = g_strdup_printf("rdisc6 -1 -r 2 %s1 2>&1", veth);
    char *ra = NULL;
    for (int i = 0; i < 10 && !(ra && strstr(ra, "Prefix")); i++) {
        g_free(ra);
        ra = in_ns(ns, rd);
    }
    g_test_message("rdisc6 on %s:\n%s", bridge, ra);
    return ra;
}

/* IPv6: a NAT network with a DHCPv6 range. dnsmasq gets the range and
 * sends router advertisements; the IPv6 subnet is routed (libvirt never
 * masquerades IPv6). A client namespace, a veth away on the bridge, sees
 * the RA (rdisc6) and gets an address by DHCPv6 (dhclient -6), which
 * net-dhcp-leases then lists; an isolated IPv6 network without DHCP
 * advertises its prefix for SLAAC and no router. */
static void test_ipv6_network(void)
{
    g_autofree char *dhclient = g_find_program_in_path("dhclient");
    g_autofree char *rdisc6 = g_find_program_in_path("rdisc6");
    if (!dhclient || !rdisc6) {
        g_test_skip("dhclient (Debian package isc-dhcp-client) or rdisc6 (ndisc6) is not "
                    "installed");
        return;
    }
    Vmmd v;
    g_autoptr(VmmProtoSync) s = daemon_with_network(&v,
        "<network><name>six</name><forward mode='nat'/><bridge name='vmmsix0' stp='off'/>"
        "<ip address='10.129.0.1' prefix='24'/>"
        "<ip family='ipv6' address='fd00:6::1' prefix='64'><dhcp>"
        "<range start='fd00:6::100' end='fd00:6::1ff'/></dhcp></ip></network>", "six");
    g_autofree char *confp = g_strdup_printf("%s/networks/six.conf", v.run);
    g_autofree char *conf = read_file(confp);
    g_test_message("dnsmasq.conf:\n%s", conf);
    g_assert_nonnull(strstr(conf, "\ndhcp-range=fd00:6::100,fd00:6::1ff,64\n"));
    g_assert_nonnull(strstr(conf, "\nenable-ra\n"));
    /* routed both ways, not only replies; IPv6 forwarding on */
    g_autofree char *rules = harness_sh_out("nft list table inet vmmd_vmmsix0");
    g_test_message("rules:\n%s", rules);
    g_assert_nonnull(strstr(rules, "iifname \"vmmsix0\" ip6 saddr fd00:6::/64 accept"));
    g_assert_nonnull(strstr(rules, "oifname \"vmmsix0\" ip6 daddr fd00:6::/64 accept"));
    g_autofree char *fwd = read_file("/proc/sys/net/ipv6/conf/all/forwarding");
    g_assert_cmpstr(fwd, ==, "1\n");

    int ns = netns_new();
    /* the router advertisement: the prefix, stateful (DHCPv6), a router */
    g_autofree char *ra = router_advert(ns, "vmmsix0", "vsix");
    g_assert_true(g_regex_match_simple("Stateful address conf\\.\\s*:\\s*Yes", ra, 0, 0));
    g_assert_true(g_regex_match_simple("Prefix\\s*:\\s*fd00:6::/64", ra, 0, 0));
    g_assert_false(g_regex_match_simple("Router lifetime\\s*:\\s*0 ", ra, 0, 0));
    /* DHCPv6 from dnsmasq: dhclient records the address it was given
     * (-sf /bin/true: nothing configured in the namespace) */
    g_autofree char *lf = g_strdup_printf("%s/six.dhclient.leases", v.run);
    g_autofree char *pf = g_strdup_printf("%s/six.dhclient.pid", v.run);
    g_autofree char *nsp = g_strdup_printf("--net=/proc/%d/fd/%d", (int)getpid(), ns);
    const char *argv[] = { "nsenter", nsp, dhclient, "-6", "-d", "-1", "-v", "-lf", lf, "-pf",
                           pf, "-sf", "/bin/true", "vsix1", NULL };
    GPid dpid = 0;
    int dout = -1;
    g_autoptr(GError) e = NULL;
    /* in the foreground (-d): our child, ended below (it stays to renew) */
    g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
                                           G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                           G_SPAWN_STDERR_TO_DEV_NULL, die_with_parent, NULL,
                                           &dpid, NULL, &dout, NULL, &e));
    g_autofree char *lease = NULL;
    for (int i = 0; i < 600; i++) {
        g_free(lease);
        lease = read_file(lf);
        if (strstr(lease, "iaaddr ") || waitpid(dpid, NULL, WNOHANG) == dpid)
            break;
        g_usleep(100000);
    }
    kill(dpid, SIGTERM);
    waitpid(dpid, NULL, 0);
    close(dout);
    g_test_message("dhclient lease:\n%s", lease);
    char *ia = strstr(lease, "iaaddr ");
    g_assert_nonnull(ia);
    ia += strlen("iaaddr ");
    g_autofree char *addr = g_strndup(ia, strcspn(ia, " {\n"));
    g_assert_true(g_str_has_prefix(addr, "fd00:6::1"));
    /* dhclient's IAID, "ia-na b1:b2:b3:b4", as dnsmasq's decimal number */
    char *na = strstr(lease, "ia-na ");
    g_assert_nonnull(na);
    unsigned b[4] = { 0 };
    g_assert_cmpint(sscanf(na, "ia-na %x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3]), ==, 4);
    g_autofree char *iaid = g_strdup_printf("%u", b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
    /* ... and net-dhcp-leases lists it as an IPv6 lease in the /64 */
    json_object *leases = call_ok(s, "network-dhcp-leases", name_args("six"));
    g_test_message("leases: %s", json_object_to_json_string(leases));
    bool found = false;
    for (size_t i = 0; i < json_object_array_length(leases); i++) {
        json_object *l = json_object_array_get_idx(leases, i);
        if (!strcmp(get_str(l, "type"), "ipv6") && !strcmp(get_str(l, "ipaddr"), addr) &&
            json_object_get_int(get(l, "prefix")) == 64 && !strcmp(get_str(l, "iaid"), iaid))
            found = true;
    }
    json_object_put(leases);
    g_assert_true(found);
    /* virsh through the libvirt protocol: the same lease, as IPv6 */
    g_autofree char *virsh = g_find_program_in_path("virsh");
    if (virsh) {
        g_autofree char *vc = g_strdup_printf(
            "virsh -c 'vmm+unix:///system?socket=%s/libvirt-sock' net-dhcp-leases six 2>&1",
            v.run);
        g_autofree char *vo = harness_sh_out(vc);
        g_autofree char *want = g_strdup_printf(" ipv6 +%s/64 ", addr);
        g_test_message("virsh net-dhcp-leases six:\n%s", vo);
        g_assert_true(g_regex_match_simple(want, vo, 0, 0));
    }
    json_object_put(call_ok(s, "network-destroy", name_args("six")));
    g_assert_false(link_exists("vmmsix0"));
    g_free(harness_sh_out("ip link del vsix0 2>/dev/null"));

    /* IPv6 without DHCP on an isolated network: an RA-only prefix for
     * SLAAC, and no default router (router lifetime 0), as libvirt */
    json_object_put(call_ok(s, "network-define", xml_args(
        "<network><name>slaac</name><bridge name='vmmslc0' stp='off'/>"
        "<ip family='ipv6' address='fd00:7::1' prefix='64'/></network>")));
    json_object_put(call_ok(s, "network-start", name_args("slaac")));
    g_autofree char *sconfp = g_strdup_printf("%s/networks/slaac.conf", v.run);
    g_autofree char *sconf = read_file(sconfp);
    g_test_message("dnsmasq.conf:\n%s", sconf);
    g_assert_nonnull(strstr(sconf, "\ndhcp-range=fd00:7::1,ra-only\n"));
    g_assert_nonnull(strstr(sconf, "\nra-param=*,0,0\n"));
    g_autofree char *sra = router_advert(ns, "vmmslc0", "vslc");
    g_assert_true(g_regex_match_simple("Prefix\\s*:\\s*fd00:7::/64", sra, 0, 0));
    g_assert_true(g_regex_match_simple("Autonomous address conf\\.\\s*:\\s*Yes", sra, 0, 0));
    g_assert_true(g_regex_match_simple("Stateful address conf\\.\\s*:\\s*No", sra, 0, 0));
    g_assert_true(g_regex_match_simple("Router lifetime\\s*:\\s*0 ", sra, 0, 0));
    json_object_put(call_ok(s, "network-destroy", name_args("slaac")));
    g_free(harness_sh_out("ip link del vslc0 2>/dev/null"));
    close(ns);
    vmmd_cleanup(&v);
}

static void skip_no_netns(void)
{
    g_test_skip("cannot make a network namespace (unshare(CLONE_NEWNET) needs root)");
}

static void skip_no_tools(void)
{
    g_test_skip("nft (Debian package nftables) or dnsmasq (dnsmasq-base) is not installed");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGABRT, on_abort);
    g_autofree char *nft = g_find_program_in_path("nft");
    g_autofree char *dnsmasq = g_find_program_in_path("dnsmasq");
    if (!nft || !dnsmasq) {
        g_test_add_func("/network/tools", skip_no_tools);
    } else if (unshare(CLONE_NEWNET) == 0) {
        g_free(harness_sh_out("ip link set lo up"));
        g_test_add_func("/network/nat", test_nat_network);
        g_test_add_func("/network/isolated", test_isolated_network);
        g_test_add_func("/network/default-and-no-dnsmasq", test_default_and_no_dnsmasq);
        g_test_add_func("/network/ipv6", test_ipv6_network);
    } else {
        g_test_add_func("/network/netns", skip_no_netns);
    }
    return g_test_run();
}
