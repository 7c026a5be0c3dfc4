/* A real Linux guest on vmm-worker, its own drivers driving vmmd's devices.
 *
 * The kernel: the small patched 6.1 kernel that tests/linux/
 * build-kernel.sh builds (and caches) from Debian's linux-source-6.1, which
 * boots where guest CPL0 code is instruction-emulated (PVM hosts, see
 * DESIGN.md) as well as on VT-x/AMD-V; VMM_TEST_LINUX_KERNEL overrides it.
 * Not done yet: booting Debian's stock kernel where CPL0 runs natively (the
 * guest kit's cpl0speed probe cannot tell these hosts apart yet: it reports
 * kernel_native on PVM). The initramfs is made at test time
 * from busybox-static and tests/linux/init, which reports facts as
 * `linux: {JSON}` lines; the expectations live here.
 *
 * The domain carries every device vmmd offers a Linux guest, so one boot
 * checks them all with their Linux drivers: virtio-blk (three cache/io
 * modes), virtio-net, virtio-rng, virtio-console (hvc0 and a named channel,
 * bytes both ways through unix sockets), virtio-balloon (a lower target set
 * on the worker's control socket, seen as MemTotal dropping; free page
 * reporting), e1000 under e1000 and the RTL8139 under 8139cp (link, ping and
 * a TCP exchange with the host side of each one's tap), the PIIX3 IDE
 * function under ata_piix and the ICH9 AHCI function under ahci (on each a
 * disk read and written and an ATAPI CD-ROM read whole); data is compared
 * by checksum on both sides.
 *
 * One VM, two boots (each costs minutes here): the first runs every check,
 * marks vda and does `reboot -f`; the worker restarts it (<on_reboot>
 * restart); the second sees the mark, starts busybox acpid and says it is
 * ready; SIGTERM to the worker presses the ACPI power button, acpid runs
 * `poweroff -f`, and the worker exits 0 through ACPI S5. */
#include "harness.h"
#include "linux-dmesg.h"

#include "proto/proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#define REPORT "linux: "
#define MARKER "vmmd-linux-test-rebooted"
#define MIB (1024 * 1024)
#define DISK_MIB 8
#define GUEST_WRITE (64 * 1024)   /* what the guest writes at 2 MiB */

/* The checks are boots of minutes; give the whole run a generous bound
 * (1500 s ran out on a host loaded by a parallel suite once the AHCI and
 * RTL8139 checks were added, during the first boot's checks). */
#define RUN_TIMEOUT_S 2700
#define LINUX_NET_MAC "52:54:00:4c:1e:01"
#define NIC_TCP_BYTES 32768             /* each way, as the guest's init sends */
#define PORT_BYTES 4096                 /* each way on each console port */
#define CHANNEL_NAME "org.vmmd.linux.0"
#define MEMORY_MIB 256
#define BALLOON_MIB 64                  /* the target leaves the guest this much less */
#define CD_BYTES (2 * MIB)

/* Instructions the PVM host's emulator lacks (DESIGN.md), masked for the
 * guest kernel; harmless where CPL0 runs natively. To be done through
 * <cpu><feature policy='disable'/> once vmmd implements <cpu>. */
#define PVM_CMDLINE "noxsave clearcpuid=cx16,popcnt,rdtscp,114,invpcid,pcid,rdrand,rdseed," \
                    "smap,fsgsbase nokaslr mitigations=off " RCU_CMDLINE

/* Kernel code runs emulated here (~2 us an instruction) on vCPU threads that
 * share two cores with the rest of the suite: the default 21 s RCU stall
 * detector then reports a starved host, not a guest or device fault, and the
 * dmesg check would fail on it. 300 s is the kernel's maximum. */
#define RCU_CMDLINE "rcupdate.rcu_cpu_stall_timeout=300"

/* ctrl: the driver of the PCI function the guest found the disk on; dev:
 * the guest's name where that is stable (virtio-blk, in PCI order; the sd
 * names follow the order ata_piix and ahci probed in, so those disks are
 * told apart by ctrl). target, bus: the XML's. */
static const struct { const char *dev, *ctrl, *target, *bus, *cache, *io; } disks[] = {
    { "vda", "virtio-pci", "vda", "virtio", "writeback", "threads" },
    { "vdb", "virtio-pci", "vdb", "virtio", "none", "native" },
    { "vdc", "virtio-pci", "vdc", "virtio", "directsync", "io_uring" },
    { NULL, "ata_piix", "hda", "ide", "writeback", "threads" },
    { NULL, "ahci", "sda", "sata", "writeback", "threads" },
};
#define NR_VIRTIO_DISKS 3

/* The ATAPI CD-ROMs, an ISO image of its own each (seed): ctrl as above. */
static const struct { const char *ctrl, *target, *bus; guint32 seed; } cdroms[] = {
    { "ata_piix", "hdc", "ide", 77 },       /* the IDE secondary channel */
    { "ahci", "sdb", "sata", 78 },          /* AHCI port 1 */
};

/* The emulated NICs: driver, the XML's model, each on a tap made here with
 * the host's address and a TCP peer on port; the guest's init uses .2 of
 * the same /24 and holds the same addresses and ports. */
static const struct { const char *driver, *model, *mac, *tap, *host_ip; int port; } nics[] = {
    { "e1000", "e1000", "52:54:00:4c:1e:02", "lnxe0", "10.77.0.1", 5555 },
    /* vmmd's RTL8139 is a C+ (revision 0x20): 8139cp's, 8139too refuses it */
    { "8139cp", "rtl8139", "52:54:00:4c:1e:03", "lnxr0", "10.78.0.1", 5556 },
};
#define NR_NICS 2

/* ---- the host ends of the console ports and the NICs' TCP peers ------- */

/* A thread per peer: it connects to a console port's unix socket (or
 * accepts on a NIC's TCP listener), sends `send` once the guest said
 * it is ready (ready set from on_line; TCP: after receiving) and collects
 * recv_len bytes. Bounded by `stop`, set when the run ends. */
typedef struct {
    const char *what;
    char *path;                /* unix socket, or NULL: accept on listen_fd */
    int listen_fd;
    gint ready, stop;
    GBytes *send;
    gsize recv_len;
    GString *got;
    char *error;
    GThread *thread;
} Peer;

static bool peer_wait_fd(Peer *p, int fd, short ev)
{
    while (!g_atomic_int_get(&p->stop)) {
        struct pollfd pf = { fd, ev, 0 };
        int n = poll(&pf, 1, 200);
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
    return false;
}

static gpointer peer_thread(gpointer opaque)
{
    Peer *p = opaque;
    int fd = -1;
    if (p->path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        g_strlcpy(sa.sun_path, p->path, sizeof(sa.sun_path));
        while (!g_atomic_int_get(&p->stop)) {
            fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                break;
            if (fd >= 0)
                close(fd);
            fd = -1;
            g_usleep(100 * 1000);
        }
        while (fd >= 0 && !g_atomic_int_get(&p->ready) && !g_atomic_int_get(&p->stop))
            g_usleep(50 * 1000);
    } else if (peer_wait_fd(p, p->listen_fd, POLLIN)) {
        fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    }
    if (fd < 0) {
        p->error = g_strdup_printf("%s: no connection (%s)", p->what, g_strerror(errno));
        return NULL;
    }
    gsize len;
    const char *data = g_bytes_get_data(p->send, &len);
    gsize sent = 0;
    bool send_first = p->path != NULL;
    for (int round = 0; round < 2; round++) {
        if (send_first ? round == 1 : round == 0) {
            /* receive */
            while (p->got->len < p->recv_len && peer_wait_fd(p, fd, POLLIN)) {
                char buf[4096];
                ssize_t n = read(fd, buf, MIN(sizeof(buf), p->recv_len - p->got->len));
                if (n <= 0)
                    break;
                g_string_append_len(p->got, buf, n);
            }
        } else {
            while (sent < len && peer_wait_fd(p, fd, POLLOUT)) {
                ssize_t n = write(fd, data + sent, len - sent);
                if (n <= 0)
                    break;
                sent += (gsize)n;
            }
        }
    }
    if (sent < len)
        p->error = g_strdup_printf("%s: sent %zu of %zu bytes", p->what, sent, len);
    close(fd);
    return NULL;
}

/* Pseudo-random bytes; text (hex digits) for a tty, which is a text device. */
static GBytes *random_bytes(gsize len, guint32 seed, bool text)
{
    guint8 *b = g_malloc(len);
    GRand *rand = g_rand_new_with_seed(seed);
    for (gsize i = 0; i < len; i++)
        b[i] = text ? "0123456789abcdef"[g_rand_int(rand) % 16] : (guint8)g_rand_int(rand);
    g_rand_free(rand);
    return g_bytes_new_take(b, len);
}

static void peer_start(Peer *p, const char *what, char *path, int listen_fd, GBytes *send,
                       gsize recv_len)
{
    *p = (Peer){ .what = what, .path = path, .listen_fd = listen_fd, .send = send,
                 .recv_len = recv_len, .got = g_string_new(NULL) };
    p->thread = g_thread_new(what, peer_thread, p);
}

static void peer_stop(Peer *p)
{
    g_atomic_int_set(&p->stop, 1);
    g_thread_join(p->thread);
}

static void peer_free(Peer *p)
{
    g_free(p->path);
    g_bytes_unref(p->send);
    g_string_free(p->got, TRUE);
    g_free(p->error);
}

static char *md5_hex(const void *data, gsize len)
{
    return g_compute_checksum_for_data(G_CHECKSUM_MD5, data, len);
}

enum { PEER_HVC, PEER_CHANNEL, PEER_NIC0, NR_PEERS = PEER_NIC0 + NR_NICS };
G_STATIC_ASSERT(G_N_ELEMENTS(nics) == NR_NICS);

/* ---- what the guest said, and when ---------------------------------- */

typedef struct {
    GPtrArray *reports;            /* json_object* of every `linux:` line */
    gint64 t0, t_first_line, t_userspace[2], t_checks_done, t_ready;
    unsigned boots;                /* `userspace` events seen */
    bool sigterm_sent;
    Peer peers[NR_PEERS];
    char *ctl_path;                /* the worker's control socket */
    VmmProtoSync *ctl;
    char *set_memory_error;        /* NULL: set-memory succeeded (or was not asked) */
    json_object *balloon_stats;    /* query-stats' balloon object at checks-done */
} LinuxRun;

static json_object *ctl_call(LinuxRun *lr, const char *cmd, json_object *args, char **error)
{
    g_autoptr(GError) e = NULL;
    if (!lr->ctl)
        lr->ctl = vmm_proto_sync_connect(lr->ctl_path, 10000, &e);
    json_object *r = lr->ctl ? vmm_proto_sync_call(lr->ctl, cmd, args, &e) : NULL;
    if (!lr->ctl)
        json_object_put(args);
    if (!r && error)
        *error = g_strdup_printf("%s: %s", cmd, e ? e->message : "failed");
    return r;
}

static void put_json(gpointer o)
{
    json_object_put(o);
}

static json_object *parse_report(const char *line)
{
    const char *p = strstr(line, REPORT);
    return p ? json_tokener_parse(p + strlen(REPORT)) : NULL;
}

static const char *str(json_object *o, const char *key)
{
    json_object *v;
    return o && json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static gint64 jint(json_object *o, const char *key)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : -1;
}

static bool is(json_object *o, const char *key, const char *value)
{
    const char *s = str(o, key);
    return s && strcmp(s, value) == 0;
}

static gboolean on_line(const char *line, GPid pid, void *opaque)
{
    LinuxRun *lr = opaque;
    gint64 now = g_get_monotonic_time();
    if (!lr->t_first_line && *line)
        lr->t_first_line = now;
    json_object *o = parse_report(line);
    if (!o)
        return TRUE;
    g_ptr_array_add(lr->reports, o);
    if (is(o, "event", "userspace") && lr->boots < 2)
        lr->t_userspace[lr->boots++] = now;
    if (is(o, "event", "hvc-ready"))
        g_atomic_int_set(&lr->peers[PEER_HVC].ready, 1);
    if (is(o, "event", "vport-ready") && is(o, "name", CHANNEL_NAME))
        g_atomic_int_set(&lr->peers[PEER_CHANNEL].ready, 1);
    if (is(o, "event", "balloon-ready")) {
        /* what `vmmctl setmem` asks the daemon, which asks the worker */
        json_object *a = json_object_new_object();
        json_object_object_add(a, "size_kib",
                               json_object_new_int64((MEMORY_MIB - BALLOON_MIB) * 1024));
        json_object_put(ctl_call(lr, "set-memory", a, &lr->set_memory_error));
    }
    if (is(o, "event", "checks-done") && !lr->t_checks_done) {
        lr->t_checks_done = now;
        json_object *st = ctl_call(lr, "query-stats", NULL, NULL), *b;
        if (st && json_object_object_get_ex(st, "balloon", &b))
            lr->balloon_stats = json_object_get(b);
        json_object_put(st);
    }
    if (is(o, "event", "ready") && !lr->sigterm_sent) {
        lr->t_ready = now;
        lr->sigterm_sent = true;
        kill(pid, SIGTERM);             /* the ACPI power button */
    }
    return TRUE;
}

static GPtrArray *checks(LinuxRun *lr, const char *name)
{
    GPtrArray *res = g_ptr_array_new();
    for (guint i = 0; i < lr->reports->len; i++)
        if (is(lr->reports->pdata[i], "check", name))
            g_ptr_array_add(res, lr->reports->pdata[i]);
    return res;
}

static json_object *check1(LinuxRun *lr, const char *name)
{
    g_autoptr(GPtrArray) c = checks(lr, name);
    return c->len ? c->pdata[0] : NULL;
}

/* Every check is judged and reported; a failing one fails the test but
 * does not hide the others. */
static void verdict(bool ok, json_object *report, const char *what, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
static void verdict(bool ok, json_object *report, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_test_message("%s %s: %s%s%s", ok ? "ok  " : "FAIL", what, why, report ? " -- " : "",
                   report ? json_object_to_json_string(report) : "");
    if (!ok)
        g_test_fail();
}

/* ---- the host side of the disks ------------------------------------- */

static char *sha256_hex(const guint8 *data, gsize len)
{
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
}

/* A raw image with 1 MiB of pseudo-random data at 1 MiB (the guest reads
 * it); returns that data's SHA-256. */
static char *make_image(const char *path, guint32 seed)
{
    g_autofree guint8 *buf = g_malloc0((gsize)DISK_MIB * MIB);
    GRand *rand = g_rand_new_with_seed(seed);
    for (gsize i = MIB; i < 2 * MIB; i += 4) {
        guint32 v = g_rand_int(rand);
        memcpy(buf + i, &v, 4);
    }
    g_rand_free(rand);
    g_autoptr(GError) err = NULL;
    g_assert_true(g_file_set_contents(path, (char *)buf, (gssize)DISK_MIB * MIB, &err));
    return sha256_hex(buf + MIB, MIB);
}

static char *image_sha256(const char *path, gsize offset, gsize len)
{
    g_autofree char *data = NULL;
    gsize n = 0;
    if (!g_file_get_contents(path, &data, &n, NULL) || n < offset + len)
        return g_strdup("(image unreadable)");
    return sha256_hex((guint8 *)data + offset, len);
}

/* ---- the kernel and the initramfs --------------------------------------- */

static bool run_script(const char *const *argv, char **out)
{
    g_autoptr(GError) err = NULL;
    int status = 0;
    g_autofree char *errs = NULL;
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, &errs,
                      &status, &err) || !g_spawn_check_wait_status(status, NULL)) {
        g_test_message("%s failed: %s\n%s", argv[0], err ? err->message : "", errs ? errs : "");
        return false;
    }
    return true;
}

/* ---- the test ------------------------------------------------------------ */

static void judge_pci(LinuxRun *lr)
{
    g_autoptr(GPtrArray) pci = checks(lr, "pci");
    unsigned blk = 0, net = 0, rng = 0, others = 0;
    for (guint i = 0; i < pci->len; i++) {
        json_object *o = pci->pdata[i];
        const char *id = str(o, "id"), *cls = str(o, "class");
        if (cls && g_str_has_prefix(cls, "0x0600")) {
            verdict(true, o, "pci", "host bridge (no driver expected)");
        } else if (id && (!strcmp(id, "1af4:1042") || !strcmp(id, "1af4:1001"))) {
            bool ok = is(o, "driver", "virtio-pci") && is(o, "virtio_driver", "virtio_blk");
            blk += ok;
            verdict(ok, o, "pci", "virtio-blk bound to virtio-pci and virtio_blk");
            /* Linux 6.1 names every vector PCI-MSI in /proc/interrupts;
             * the guest reads the MSI-X capability's enable bit. */
            verdict(is(o, "msix", "enabled"), NULL, "msix", "%s: MSI-X enabled", str(o, "dev"));
        } else if (id && !strcmp(id, "1af4:1041")) {
            bool ok = is(o, "driver", "virtio-pci") && is(o, "virtio_driver", "virtio_net");
            net += ok;
            verdict(ok, o, "pci", "virtio-net bound to virtio-pci and virtio_net");
            verdict(is(o, "msix", "enabled"), NULL, "msix", "%s: MSI-X enabled", str(o, "dev"));
        } else if (id && !strcmp(id, "1af4:1044")) {
            bool ok = is(o, "driver", "virtio-pci") && is(o, "virtio_driver", "virtio_rng");
            rng += ok;
            verdict(ok, o, "pci", "virtio-rng bound to virtio-pci and virtio_rng");
        } else if (id && !strcmp(id, "1af4:1043")) {
            bool ok = is(o, "driver", "virtio-pci") && is(o, "virtio_driver", "virtio_console");
            others += ok;
            verdict(ok, o, "pci", "virtio-console bound to virtio-pci and virtio_console");
        } else if (id && !strcmp(id, "1af4:1045")) {
            bool ok = is(o, "driver", "virtio-pci") && is(o, "virtio_driver", "virtio_balloon");
            others += ok;
            verdict(ok, o, "pci", "virtio-balloon bound to virtio-pci and virtio_balloon");
        } else if (id && !strcmp(id, "8086:100e")) {
            others += is(o, "driver", "e1000");
            verdict(is(o, "driver", "e1000"), o, "pci", "the 82540EM bound to e1000");
        } else if (id && !strcmp(id, "10ec:8139")) {
            others += is(o, "driver", "8139cp");
            verdict(is(o, "driver", "8139cp"), o, "pci", "the RTL8139 bound to 8139cp");
        } else if (id && !strcmp(id, "8086:2922")) {
            /* SATA, AHCI 1.0 programming interface */
            bool ok = is(o, "driver", "ahci") && is(o, "class", "0x010601");
            others += ok;
            verdict(ok, o, "pci", "the ICH9 AHCI function (class 0x010601) bound to ahci");
        } else if (id && !strcmp(id, "8086:7010")) {
            /* prog-if 0x8f: PCI native mode under hardware-reduced ACPI */
            bool ok = is(o, "driver", "ata_piix") && is(o, "class", "0x01018f");
            others += ok;
            verdict(ok, o, "pci", "the PIIX3 IDE function (native mode) bound to ata_piix");
        } else if (id && !strcmp(id, "8086:7000")) {
            verdict(true, o, "pci", "PIIX3 ISA bridge (no driver expected)");
        } else {
            verdict(false, o, "pci", "vmmd created a device this test has no expectation for");
        }
    }
    verdict(blk == NR_VIRTIO_DISKS, NULL, "pci", "%u of %d virtio-blk devices bound", blk,
            NR_VIRTIO_DISKS);
    verdict(others == 6, NULL, "pci", "%u of 6 of virtio-console, virtio-balloon, e1000, "
            "RTL8139, IDE and AHCI bound", others);
    verdict(net == 1, NULL, "pci", "%u of 1 virtio-net device bound", net);
    verdict(rng == 1, NULL, "pci", "%u of 1 virtio-rng device bound", rng);
}

/* Linux's virtio_rng is the guest's hw_random source and /dev/hwrng reads
 * bytes from it that are neither constant nor repeated. */
static void judge_rng(LinuxRun *lr)
{
    g_autoptr(GPtrArray) r = checks(lr, "rng");
    verdict(r->len == 1, NULL, "rng", "%u rng report(s)", r->len);
    if (r->len != 1)
        return;
    json_object *o = r->pdata[0];
    const char *cur = str(o, "current"), *a = str(o, "a"), *b = str(o, "b");
    verdict(cur && g_str_has_prefix(cur, "virtio_rng"), o, "rng",
            "hw_random uses virtio_rng");
    bool varied = a && strlen(a) == 64 && strspn(a, "0") != 64 && strspn(a, "f") != 64;
    verdict(varied && b && strcmp(a, b) != 0, o, "rng",
            "/dev/hwrng gave 32 bytes twice, not constant, not the same");
}

/* Linux's virtio_net bound the device and read the MAC and MTU of the
 * definition from its configuration space. */
static void judge_net(LinuxRun *lr)
{
    g_autoptr(GPtrArray) n = checks(lr, "net");
    verdict(n->len == 1 + NR_NICS, NULL, "net", "%u network interface(s) in the guest (want %d)",
            n->len, 1 + NR_NICS);
    for (guint i = 0; i < n->len; i++) {
        json_object *o = n->pdata[i];
        size_t k = 0;
        while (k < NR_NICS && !is(o, "driver", nics[k].driver))
            k++;
        if (k < NR_NICS) {
            verdict(is(o, "mac", nics[k].mac), o, "net", "%s: MAC %s from the device",
                    nics[k].driver, nics[k].mac);
            continue;
        }
        verdict(is(o, "driver", "virtio_net"), o, "net", "driven by virtio_net");
        verdict(is(o, "mac", LINUX_NET_MAC), o, "net", "MAC " LINUX_NET_MAC " from the XML");
        verdict(is(o, "mtu", "1400"), o, "net", "MTU 1400 from <mtu>");
    }
}

static void judge_irqs(LinuxRun *lr)
{
    g_autoptr(GPtrArray) irq = checks(lr, "irq");
    g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GRegex) re = g_regex_new("PCI-MSI.*(virtio[0-9]+)-req", 0, 0, NULL);
    for (guint i = 0; i < irq->len; i++) {
        json_object *o = irq->pdata[i], *count = NULL;
        g_autoptr(GMatchInfo) m = NULL;
        json_object_object_get_ex(o, "count", &count);
        if (g_regex_match(re, str(o, "line"), 0, &m) && json_object_get_int(count) > 0)
            g_hash_table_add(used, g_match_info_fetch(m, 1));
    }
    verdict(g_hash_table_size(used) == NR_VIRTIO_DISKS, NULL, "msix",
            "%u virtio devices took request interrupts through MSI vectors (want %d)",
            g_hash_table_size(used), NR_VIRTIO_DISKS);

    /* ahci enables the AHCI function's MSI (one vector, named after it) */
    json_object *ahci = NULL;
    for (guint i = 0; i < irq->len; i++)
        if (strstr(str(irq->pdata[i], "line"), "ahci"))
            ahci = irq->pdata[i];
    verdict(ahci && jint(ahci, "count") > 0, ahci, "msi", "ahci took interrupts through MSI");

    /* INTx: ata_piix and the NICs (by interface name) on IO-APIC level
     * lines the _PRT routes; each took interrupts, and the
     * spurious-interrupt detector's `unhandled` (the handler found nothing:
     * an interrupt raised twice) is reported. */
    g_autoptr(GPtrArray) intx = checks(lr, "intx");
    g_autoptr(GPtrArray) users = g_ptr_array_new();
    g_ptr_array_add(users, "ata_piix");
    g_autoptr(GPtrArray) nic = checks(lr, "nic");
    for (guint i = 0; i < nic->len; i++)
        if (str(nic->pdata[i], "if"))
            g_ptr_array_add(users, (char *)str(nic->pdata[i], "if"));
    verdict(users->len == 1 + NR_NICS, NULL, "intx", "%u of %d NICs named their interface",
            users->len - 1, NR_NICS);
    for (guint u = 0; u < users->len; u++) {
        json_object *o = NULL;
        for (guint i = 0; i < intx->len; i++)
            if (strstr(str(intx->pdata[i], "line"), users->pdata[u]))
                o = intx->pdata[i];
        verdict(o && strstr(str(o, "line"), "fasteoi") && jint(o, "count") > 0, o, "intx",
                "%s took interrupts on a level IO-APIC line", (char *)users->pdata[u]);
    }
}

static void judge_disks(LinuxRun *lr, char **images, char **host_sha)
{
    g_autoptr(GPtrArray) blk = checks(lr, "blk");
    for (size_t d = 0; d < G_N_ELEMENTS(disks); d++) {
        json_object *o = NULL, *ok = NULL;
        for (guint i = 0; i < blk->len; i++)
            if (is(blk->pdata[i], "ctrl", disks[d].ctrl) &&
                (!disks[d].dev || is(blk->pdata[i], "dev", disks[d].dev)))
                o = blk->pdata[i];
        g_autofree char *what = g_strdup_printf("blk %s (%s bus=%s cache=%s io=%s)",
                                                disks[d].dev ? disks[d].dev : disks[d].ctrl,
                                                disks[d].target, disks[d].bus, disks[d].cache,
                                                disks[d].io);
        if (!o) {
            verdict(false, NULL, what, "no report");
            continue;
        }
        g_autofree char *written = image_sha256(images[d], 2 * MIB, GUEST_WRITE);
        json_object_object_get_ex(o, "ok", &ok);
        verdict(json_object_get_boolean(ok), o, what, "guest read back what it wrote");
        verdict(is(o, "read_host_sha256", host_sha[d]), NULL, what,
                "guest read the host's pattern (sha256 %s)", host_sha[d]);
        verdict(is(o, "wrote_sha256", written), NULL, what,
                "the image holds what the guest wrote (sha256 %s)", written);
    }
    g_autofree char *mark = NULL;
    gsize n = 0;
    g_file_get_contents(images[0], &mark, &n, NULL);
    verdict(n >= strlen(MARKER) && !memcmp(mark, MARKER, strlen(MARKER)), NULL, "blk vda",
            "the reboot mark reached the image");
}

static void judge_platform(LinuxRun *lr)
{
    json_object *o = check1(lr, "cpus");
    verdict(is(o, "online", "0-1"), o, "cpus", "2 vCPUs online");

    o = check1(lr, "rtc");
    json_object *ok = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *year = g_strdup_printf("%d", g_date_time_get_year(now));
    verdict(o && json_object_object_get_ex(o, "ok", &ok) && json_object_get_boolean(ok) &&
            g_str_has_prefix(str(o, "rtc0"), "rtc_cmos") && strstr(str(o, "hwclock"), year), o, "rtc",
            "hwclock read rtc_cmos (year %s)", year);

    o = check1(lr, "i8042");
    verdict(o && strstr(str(o, "serio"), "serio0") &&
            strstr(str(o, "input"), "AT Translated Set 2 keyboard") &&
            strstr(str(o, "input"), "Power Button"), o, "i8042",
            "keyboard on serio0, ACPI power button");

    o = check1(lr, "serial");
    /* Not the IRQ number: without a legacy PIC Linux numbers ISA IRQs
     * dynamically (IRQ 4 shows as e.g. 26). */
    verdict(o && strstr(str(o, "ttyS0"), "uart:16550A") && strstr(str(o, "ttyS0"), "port:000003F8"),
            o, "serial", "ttyS0 is a 16550A at 0x3f8");
}

/* The CD-ROMs: the sr on each controller has its ISO's size and content. */
static void judge_cdroms(LinuxRun *lr, char **cd_md5)
{
    g_autoptr(GPtrArray) cd = checks(lr, "cdrom");
    for (size_t c = 0; c < G_N_ELEMENTS(cdroms); c++) {
        json_object *o = NULL;
        for (guint i = 0; i < cd->len; i++)
            if (is(cd->pdata[i], "ctrl", cdroms[c].ctrl))
                o = cd->pdata[i];
        g_autofree char *what = g_strdup_printf("cdrom %s (%s bus=%s)", cdroms[c].ctrl,
                                                cdroms[c].target, cdroms[c].bus);
        verdict(jint(o, "size") == CD_BYTES / 512 && is(o, "md5", cd_md5[c]), o, what,
                "%s read the whole ISO (%d sectors of 512, md5 %s)", cdroms[c].ctrl,
                CD_BYTES / 512, cd_md5[c]);
    }
}

/* Console ports: what the host sent is what the guest read, what the
 * guest wrote is what the host received, both ways on both ports. */
static void judge_ports(LinuxRun *lr)
{
    static const struct { int peer; const char *port, *name; } ports[] = {
        { PEER_HVC, "hvc0", "" }, { PEER_CHANNEL, NULL, CHANNEL_NAME } };
    g_autoptr(GPtrArray) v = checks(lr, "vport");
    for (size_t i = 0; i < G_N_ELEMENTS(ports); i++) {
        Peer *p = &lr->peers[ports[i].peer];
        json_object *o = NULL;
        for (guint k = 0; k < v->len; k++)
            if (is(v->pdata[k], "name", ports[i].name) &&
                (!ports[i].port || is(v->pdata[k], "port", ports[i].port)))
                o = v->pdata[k];
        gsize len;
        const void *sent = g_bytes_get_data(p->send, &len);
        g_autofree char *sent_md5 = md5_hex(sent, len);
        g_autofree char *got_md5 = md5_hex(p->got->str, p->got->len);
        verdict(o && is(o, "read_md5", sent_md5), o, p->what,
                "the guest read the host's %zu bytes (md5 %s)%s%s", len, sent_md5,
                p->error ? ": " : "", p->error ? p->error : "");
        verdict(o && p->got->len == PORT_BYTES && is(o, "wrote_md5", got_md5), NULL, p->what,
                "the host received the guest's %d bytes (got %zu, md5 %s)", PORT_BYTES,
                p->got->len, got_md5);
    }
}

/* The balloon: the guest's MemTotal dropped by exactly the target's
 * difference, the worker counts those pages inflated, and free page
 * reporting reported some. */
static void judge_balloon(LinuxRun *lr)
{
    json_object *o = check1(lr, "balloon");
    verdict(!lr->set_memory_error, NULL, "balloon", "set-memory to %d MiB: %s",
            MEMORY_MIB - BALLOON_MIB, lr->set_memory_error ? lr->set_memory_error : "ok");
    gint64 drop = jint(o, "memtotal_before_kib") - jint(o, "memtotal_after_kib");
    verdict(o && drop == BALLOON_MIB * 1024, o, "balloon",
            "MemTotal dropped by %" G_GINT64_FORMAT " KiB (want %d)", drop, BALLOON_MIB * 1024);
    json_object *b = lr->balloon_stats;
    verdict(jint(b, "target_pages") == BALLOON_MIB * 256 &&
            jint(b, "inflated_pages") == BALLOON_MIB * 256, b, "balloon",
            "the worker holds %d pages inflated", BALLOON_MIB * 256);
    verdict(jint(b, "reported_pages") > 0, NULL, "balloon",
            "free page reporting reported %" G_GINT64_FORMAT " pages", jint(b, "reported_pages"));
}

/* Each NIC: the link came up, ping answered, and TCP carried the data both
 * ways unchanged. */
static void judge_nics(LinuxRun *lr)
{
    g_autoptr(GPtrArray) reports = checks(lr, "nic");
    for (size_t k = 0; k < NR_NICS; k++) {
        Peer *p = &lr->peers[PEER_NIC0 + k];
        const char *what = nics[k].driver;
        json_object *o = NULL;
        for (guint i = 0; i < reports->len; i++)
            if (is(reports->pdata[i], "driver", what))
                o = reports->pdata[i];
        verdict(o && is(o, "carrier", "1") && is(o, "operstate", "up"), o, what, "link up");
        verdict(o && is(o, "ping_received", "3"), NULL, what, "3 of 3 pings to %s answered",
                nics[k].host_ip);
        gsize len;
        const void *sent = g_bytes_get_data(p->send, &len);
        g_autofree char *sent_md5 = md5_hex(sent, len);
        g_autofree char *got_md5 = md5_hex(p->got->str, p->got->len);
        verdict(o && jint(o, "received") == (gint64)len && is(o, "received_md5", sent_md5), NULL,
                what, "the guest received the host's %zu TCP bytes (md5 %s)%s%s", len, sent_md5,
                p->error ? ": " : "", p->error ? p->error : "");
        verdict(o && p->got->len == NIC_TCP_BYTES && is(o, "sent_md5", got_md5), NULL, what,
                "the host received the guest's %d TCP bytes (got %zu, md5 %s)", NIC_TCP_BYTES,
                p->got->len, got_md5);
    }
}

/* The host side of NIC k's tap and a TCP listener on it; -1 on failure. */
static int nic_host_side(size_t k)
{
    g_autofree char *cmd = g_strdup_printf(
        "ip tuntap add %s mode tap && ip addr add %s/24 dev %s && ip link set %s up && echo ok",
        nics[k].tap, nics[k].host_ip, nics[k].tap, nics[k].tap);
    g_autofree char *out = harness_sh_out(cmd);
    if (!strstr(out, "ok")) {
        g_test_message("cannot make tap %s with %s", nics[k].tap, nics[k].host_ip);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(nics[k].port) };
    inet_pton(AF_INET, nics[k].host_ip, &sa.sin_addr);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
        g_test_message("TCP listener on %s: %s", nics[k].host_ip, g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void test_linux(void)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_skip("/dev/kvm is not usable here");
        return;
    }
    const char *srcdir = harness_srcdir();
    g_autofree char *kernel = g_strdup(g_getenv("VMM_TEST_LINUX_KERNEL"));
    if (!kernel) {
        if (access("/usr/src/linux-source-6.1.tar.xz", R_OK) != 0 || access("/bin/busybox", X_OK)) {
            g_test_skip("linux-source-6.1 or busybox-static is not installed (.ci/setup installs them)");
            return;
        }
        g_autofree char *script = g_build_filename(srcdir, "tests/linux/build-kernel.sh", NULL);
        const char *argv[] = { script, NULL };
        g_autofree char *out = NULL;
        g_assert_true(run_script(argv, &out));
        kernel = g_strdup(g_strchomp(out));
    }
    g_test_message("kernel %s", kernel);

    g_autofree char *dir = harness_tmpdir();
    g_autofree char *initrd = g_build_filename(dir, "initramfs.cpio", NULL);
    g_autofree char *mk = g_build_filename(srcdir, "tests/linux/make-initramfs.sh", NULL);
    const char *mk_argv[] = { mk, initrd, NULL };
    g_assert_true(run_script(mk_argv, NULL));

    GString *devs = g_string_new(NULL);
    char *images[G_N_ELEMENTS(disks)], *host_sha[G_N_ELEMENTS(disks)];
    for (size_t d = 0; d < G_N_ELEMENTS(disks); d++) {
        images[d] = g_strdup_printf("%s/%s.img", dir, disks[d].target);
        host_sha[d] = make_image(images[d], 1000 + d);
        g_autofree char *x = g_markup_printf_escaped(
            "<disk type='file' device='disk'><driver name='qemu' type='raw' cache='%s' io='%s'/>"
            "<source file='%s'/><target dev='%s' bus='%s'/></disk>",
            disks[d].cache, disks[d].io, images[d], disks[d].target, disks[d].bus);
        g_string_append(devs, x);
    }
    char *cd_md5[G_N_ELEMENTS(cdroms)];
    for (size_t c = 0; c < G_N_ELEMENTS(cdroms); c++) {
        g_autofree char *cd = g_strdup_printf("%s/%s.iso", dir, cdroms[c].target);
        g_autoptr(GBytes) cd_data = random_bytes(CD_BYTES, cdroms[c].seed, false);
        g_assert_true(g_file_set_contents(cd, g_bytes_get_data(cd_data, NULL), CD_BYTES, NULL));
        cd_md5[c] = md5_hex(g_bytes_get_data(cd_data, NULL), CD_BYTES);
        g_autofree char *x = g_markup_printf_escaped(
            "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='%s'/>"
            "<target dev='%s' bus='%s'/><readonly/></disk>", cd, cdroms[c].target, cdroms[c].bus);
        g_string_append(devs, x);
    }
    /* one virtio NIC on a tap the worker makes in the test's own network
     * namespace; the emulated ones on taps made here with an address and a
     * peer each */
    g_string_append(devs, "<interface type='ethernet'><mac address='" LINUX_NET_MAC "'/>"
                          "<mtu size='1400'/><model type='virtio'/></interface>");
    int listen_fd[NR_NICS];
    for (size_t k = 0; k < NR_NICS; k++) {
        listen_fd[k] = nic_host_side(k);
        g_assert_cmpint(listen_fd[k], >=, 0);
        g_autofree char *x = g_markup_printf_escaped(
            "<interface type='ethernet'><mac address='%s'/><target dev='%s' managed='no'/>"
            "<model type='%s'/></interface>", nics[k].mac, nics[k].tap, nics[k].model);
        g_string_append(devs, x);
    }
    g_string_append(devs, "<rng model='virtio'><backend model='random'>/dev/urandom</backend>"
                          "</rng>");
    /* the virtio console and a named channel on unix sockets the worker binds */
    g_autofree char *hvc_sock = g_build_filename(dir, "hvc0.sock", NULL);
    g_autofree char *chan_sock = g_build_filename(dir, "channel.sock", NULL);
    g_autofree char *ports = g_markup_printf_escaped(
        "<console type='unix'><source mode='bind' path='%s'/><target type='virtio'/></console>"
        "<channel type='unix'><source mode='bind' path='%s'/>"
        "<target type='virtio' name='" CHANNEL_NAME "'/></channel>", hvc_sock, chan_sock);
    g_string_append(devs, ports);
    /* no <stats period>: every statistics round costs the guest emulated
     * kernel code here, and nothing below needs them */
    g_string_append(devs, "<memballoon model='virtio' freePageReporting='on'/>");
    const char *cmdline = "console=ttyS0 rdinit=/init panic=-1 " PVM_CMDLINE;
    g_autofree char *xml = g_markup_printf_escaped(
        "<domain type='kvm'><name>linux</name><memory unit='MiB'>%d</memory><vcpu>2</vcpu>"
        "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel><initrd>%s</initrd>"
        "<cmdline>%s</cmdline></os><features><acpi/><apic/></features>"
        "<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot>"
        "<on_crash>destroy</on_crash><devices>",
        MEMORY_MIB, kernel, initrd, cmdline);
    g_autofree char *doc = g_strconcat(xml, devs->str,
                                       "<serial type='stdio'><target port='0'/></serial>"
                                       "</devices></domain>", NULL);
    g_string_free(devs, TRUE);
    g_autofree char *xml_path = g_build_filename(dir, "linux.xml", NULL);
    g_assert_true(g_file_set_contents(xml_path, doc, -1, NULL));

    LinuxRun lr = { .reports = g_ptr_array_new_with_free_func(put_json) };
    lr.ctl_path = g_build_filename(dir, "ctl.sock", NULL);
    peer_start(&lr.peers[PEER_HVC], "virtio-console hvc0", g_strdup(hvc_sock), -1,
               random_bytes(PORT_BYTES, 11, true), PORT_BYTES);
    peer_start(&lr.peers[PEER_CHANNEL], "virtio-serial " CHANNEL_NAME, g_strdup(chan_sock), -1,
               random_bytes(PORT_BYTES, 12, false), PORT_BYTES);
    for (size_t k = 0; k < NR_NICS; k++) {
        g_autofree char *what = g_strdup_printf("%s TCP", nics[k].driver);
        peer_start(&lr.peers[PEER_NIC0 + k], g_intern_string(what), NULL, listen_fd[k],
                   random_bytes(NIC_TCP_BYTES, 13 + k, false), NIC_TCP_BYTES);
    }
    lr.t0 = g_get_monotonic_time();
    const char *const args[] = { "--control-socket", lr.ctl_path, NULL };
    g_autoptr(HarnessRun) r = harness_run_worker(xml_path, args, RUN_TIMEOUT_S, on_line, &lr);
    for (int i = 0; i < NR_PEERS; i++)
        peer_stop(&lr.peers[i]);
    for (size_t k = 0; k < NR_NICS; k++)
        close(listen_fd[k]);
    harness_assert_clean_stderr(r);

#define SECS(t) ((t) ? ((t) - lr.t0) / 1e6 : -1.0)
    g_test_message("timeline (s since start, -1 = never): first console line %.1f, "
                   "userspace %.1f, checks done %.1f, userspace after reboot %.1f, "
                   "ready for the power button %.1f, worker exit %.1f",
                   SECS(lr.t_first_line), SECS(lr.t_userspace[0]), SECS(lr.t_checks_done),
                   SECS(lr.t_userspace[1]), SECS(lr.t_ready), r->seconds);
#undef SECS

    judge_pci(&lr);
    judge_net(&lr);
    judge_rng(&lr);
    judge_irqs(&lr);
    judge_disks(&lr, images, host_sha);
    judge_cdroms(&lr, cd_md5);
    judge_ports(&lr);
    judge_balloon(&lr);
    judge_nics(&lr);
    judge_platform(&lr);

    g_autoptr(GPtrArray) complaints = linux_dmesg_complaints(r->out, REPORT);
    for (guint i = 0; i < complaints->len; i++)
        verdict(false, NULL, "dmesg", "%s", (char *)complaints->pdata[i]);
    verdict(complaints->len == 0, NULL, "dmesg", "%u complaints in the kernel log",
            complaints->len);
    if (complaints->len) {
        /* The lines before the first one say what it is (a stall report,
         * a WARNING's location) when the pattern caught only its trace. */
        const char *text = strchr(complaints->pdata[0], ':');   /* "kernel: LINE" */
        const char *at = text ? strstr(r->out, text + 2) : NULL;
        if (at) {
            const char *from = at;
            for (int n = 0; n < 12 && from > r->out + 1; n++) {
                const char *nl = memrchr(r->out, '\n', (size_t)(from - r->out - 1));
                from = nl ? nl + 1 : r->out;
            }
            g_test_message("console around the first complaint:\n%.*s",
                           (int)MIN(strlen(from), (size_t)(at - from) + 2048), from);
        }
    }

    verdict(lr.boots == 2 && check1(&lr, "rebooted") && strstr(r->err, "restarting the guest"),
            NULL, "reboot",
            "reboot -f restarted the VM (<on_reboot>restart), %u boots", lr.boots);
    g_autoptr(GPtrArray) pb = g_ptr_array_new();
    for (guint i = 0; i < lr.reports->len; i++)
        if (is(lr.reports->pdata[i], "event", "powerbutton"))
            g_ptr_array_add(pb, lr.reports->pdata[i]);
    verdict(pb->len == 1, NULL, "power button", "acpid saw the ACPI power button");
    verdict(r->exit_status == 0 && strstr(r->err, "poweroff"), NULL, "power off",
            "the worker exited %d (want 0, ACPI S5)", r->exit_status);

    if (g_test_failed()) {
        g_test_message("console (last 8 KiB):\n%s\nworker stderr:\n%s",
                       r->out + (strlen(r->out) > 8192 ? strlen(r->out) - 8192 : 0), r->err);
        /* the whole console, for a boot of many minutes that went wrong early */
        if (g_file_set_contents("test-linux.console", r->out, -1, NULL))
            g_test_message("whole console in test-linux.console");
    }
    for (size_t d = 0; d < G_N_ELEMENTS(disks); d++) {
        g_free(images[d]);
        g_free(host_sha[d]);
    }
    for (size_t c = 0; c < G_N_ELEMENTS(cdroms); c++)
        g_free(cd_md5[c]);
    for (int i = 0; i < NR_PEERS; i++)
        peer_free(&lr.peers[i]);
    if (lr.ctl)
        vmm_proto_sync_free(lr.ctl);
    json_object_put(lr.balloon_stats);
    g_free(lr.set_memory_error);
    g_free(lr.ctl_path);
    g_ptr_array_free(lr.reports, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* the guest's NIC gets its tap in a network namespace of this test's
     * own, which vanishes with it (best effort: as root it always works) */
    if (unshare(CLONE_NEWNET) < 0)
        g_test_message("no private network namespace (%s): the tap is made in this one",
                       g_strerror(errno));
    g_test_add_func("/linux/boot-checks-reboot-poweroff", test_linux);
    return g_test_run();
}
