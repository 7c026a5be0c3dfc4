/* libFuzzer target for the virtio-pci register interface
 * (src/virtio/virtio_pci.c): common configuration, notify, ISR, device
 * configuration, the MSI-X table and PBA, and PCI configuration space
 * including the VIRTIO_PCI_CAP_PCI_CFG window, reached through the PCI
 * host (ECAM and 0xcf8/0xcfc) and the MMIO bus as a guest reaches them.
 * Behind it is a real device model, with its I/O threads: virtio-blk on
 * a memfd disk, virtio-net on socketpairs (datagram ones as two tap
 * queues, or one stream as passt's), virtio-balloon (inflate, deflate,
 * stats and free page reporting queues: the PFN lists and stat records a
 * guest writes) or virtio-rng (getrandom() under a rate limit, or
 * /dev/urandom), and a small guest RAM (a memfd, as the worker's, so the
 * balloon really punches holes in it) the input can write rings into, so
 * feature negotiation, queue setup, DRIVER_OK, requests and reset all
 * run;
 * or virtio-console with multiport (the virtio console on a real
 * unix-socket chardev whose peer the input writes to, a named port with no
 * host end, and a port id with no port), whose control messages run too.
 *
 * Only the kernel is fake: the link wraps ioctl() (-Wl,--wrap=ioctl), and
 * KVM_SET_GSI_ROUTING, KVM_IRQFD and KVM_IOEVENTFD on the VM's fd (and
 * TUNSETOFFLOAD and TUNSETQUEUE on the datagram sockets standing in for
 * tap queues) are
 * answered here the way the kernel answers them, recording routes, irqfds and
 * ioeventfds. A guest write that matches an ioeventfd signals it instead
 * of reaching the bus, as in KVM. Everything else (src/vmm/irq.c, the
 * PCI host, the device) is the real code. The device must never give KVM
 * a request it would refuse (an irqfd twice, one on a GSI without a route,
 * an ioeventfd twice or one that is not there), must leave nothing
 * assigned once freed, must run one thread per queue at most, and must
 * drive interrupt lines only to 0 or 1.
 *
 * Input: [0] the device (0 virtio-blk, 1 virtio-net with two queue pairs,
 * 2 virtio-net on a stream, 3 virtio-balloon with every feature, 4
 * virtio-rng builtin with <rate bytes='256' period='10'/>, 5 virtio-rng
 * on /dev/urandom, 6 virtio-console), then records of 8 bytes:
 *   [0] bit 0: write; bits 1-3: where
 *       0 config space by ECAM, 1 BAR0 (whole), 2 common config,
 *       3 notify, 4 MSI-X table (PBA with offset bit 15), 5 device
 *       config and ISR (offset bit 15), 6 guest RAM (a read: a frame of
 *       offset % 2048 bytes from RAM's start to the net device, on the
 *       pair of offset bit 15; to the console's host end), 7 config space
 *       by 0xcf8/0xcfc
 *   [1] size: 1 << (b & 3)
 *   [2..3] offset (little-endian, reduced to the region)
 *   [4..7] value (writes)
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-virtio-pci. */
#include "hw/bus.h"
#include "hw/pci.h"
#include "util/log.h"
#include "virtio/virtio_balloon.h"
#include "util/chardev.h"
#include "virtio/virtio_blk.h"
#include "virtio/virtio_console.h"
#include "virtio/virtio_net.h"
#include "virtio/virtio_rng.h"
#include "vmm/irq.h"
#include "vmm/layout.h"
#include "vmm/vm.h"
#include "fuzz-vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RAM_SIZE   0x10000
#define SLOT       3
#define BAR_BASE   LAYOUT_PCI_MMIO_BASE
#define MAX_GSI    4096

/* ---- the fake KVM ------------------------------------------------------- */

typedef struct {
    int fd, gsi;
} Irqfd;

typedef struct {
    int fd;
    uint64_t addr;
    unsigned len;
    bool pio;
} Ioeventfd;

static struct {
    int vm_fd;
    GMutex lock;
    GArray *irqfds;          /* Irqfd */
    GArray *ioeventfds;      /* Ioeventfd */
    bool routed[MAX_GSI];
    unsigned irqfd_assigns;  /* this input's, for VMM_FUZZ_VERBOSE */
    int tap_fds[2];          /* the socketpair ends standing in for tap queues */
} kvm;

static void G_GNUC_PRINTF(1, 2) fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz-virtio-pci: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

static int set_gsi_routing(const struct kvm_irq_routing *t)
{
    if (t->nr > MAX_GSI)
        return -EINVAL;
    bool routed[MAX_GSI] = { false };
    for (unsigned i = 0; i < t->nr; i++) {
        if (t->entries[i].gsi >= MAX_GSI)
            return -EINVAL;
        routed[t->entries[i].gsi] = true;
    }
    memcpy(kvm.routed, routed, sizeof(routed));
    return 0;
}

static int irqfd(const struct kvm_irqfd *a)
{
    if (a->flags & KVM_IRQFD_FLAG_DEASSIGN) {
        for (guint i = 0; i < kvm.irqfds->len; i++) {
            Irqfd *f = &g_array_index(kvm.irqfds, Irqfd, i);
            if (f->fd == (int)a->fd && f->gsi == (int)a->gsi) {
                g_array_remove_index(kvm.irqfds, i);
                return 0;
            }
        }
        fail("irqfd deassign of fd %u gsi %u, which is not assigned", a->fd, a->gsi);
    }
    if (a->gsi >= MAX_GSI || !kvm.routed[a->gsi])
        fail("irqfd on gsi %u, which has no route: its interrupts would go nowhere", a->gsi);
    for (guint i = 0; i < kvm.irqfds->len; i++)
        if (g_array_index(kvm.irqfds, Irqfd, i).fd == (int)a->fd)
            fail("irqfd fd %u assigned twice (KVM: EBUSY)", a->fd);
    Irqfd f = { a->fd, a->gsi };
    g_array_append_val(kvm.irqfds, f);
    kvm.irqfd_assigns++;
    return 0;
}

static int ioeventfd(const struct kvm_ioeventfd *a)
{
    bool pio = a->flags & KVM_IOEVENTFD_FLAG_PIO;
    for (guint i = 0; i < kvm.ioeventfds->len; i++) {
        Ioeventfd *e = &g_array_index(kvm.ioeventfds, Ioeventfd, i);
        if (e->addr != a->addr || e->len != a->len || e->pio != pio)
            continue;
        if (a->flags & KVM_IOEVENTFD_FLAG_DEASSIGN) {
            if (e->fd != a->fd)
                fail("ioeventfd deassign at 0x%llx with another fd",
                     (unsigned long long)a->addr);
            g_array_remove_index(kvm.ioeventfds, i);
            return 0;
        }
        fail("ioeventfd at 0x%llx assigned twice (KVM: EEXIST)", (unsigned long long)a->addr);
    }
    if (a->flags & KVM_IOEVENTFD_FLAG_DEASSIGN)
        fail("ioeventfd deassign at 0x%llx, which is not assigned (KVM: ENOENT)",
             (unsigned long long)a->addr);
    Ioeventfd e = { a->fd, a->addr, a->len, pio };
    g_array_append_val(kvm.ioeventfds, e);
    return 0;
}

int __real_ioctl(int fd, unsigned long req, void *arg);
int __wrap_ioctl(int fd, unsigned long req, void *arg);
int __wrap_ioctl(int fd, unsigned long req, void *arg)
{
    if (fd >= 0 && (fd == kvm.tap_fds[0] || fd == kvm.tap_fds[1])) {
        /* A tap takes any set of the offloads it knows, and attaches or
         * detaches a queue. */
        if (req == TUNSETOFFLOAD && !((unsigned long)arg & ~(unsigned long)(
                TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO)))
            return 0;
        if (req == TUNSETQUEUE)
            return 0;
        errno = EINVAL;
        return -1;
    }
    if (fd != kvm.vm_fd || fd < 0)
        return __real_ioctl(fd, req, arg);
    int r;
    g_mutex_lock(&kvm.lock);
    switch (req) {
    case KVM_SET_GSI_ROUTING: r = set_gsi_routing(arg); break;
    case KVM_IRQFD: r = irqfd(arg); break;
    case KVM_IOEVENTFD: r = ioeventfd(arg); break;
    default: fail("unexpected ioctl 0x%lx on the VM", req);
    }
    g_mutex_unlock(&kvm.lock);
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return 0;
}

/* A guest MMIO write that KVM would turn into an eventfd signal. */
static bool ioeventfd_match(uint64_t addr, unsigned len)
{
    int fd = -1;
    g_mutex_lock(&kvm.lock);
    for (guint i = 0; i < kvm.ioeventfds->len; i++) {
        Ioeventfd *e = &g_array_index(kvm.ioeventfds, Ioeventfd, i);
        if (!e->pio && e->addr == addr && (!e->len || e->len == len))
            fd = e->fd;
    }
    g_mutex_unlock(&kvm.lock);
    uint64_t one = 1;
    if (fd >= 0 && write(fd, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
        fail("ioeventfd write: %s", g_strerror(errno));
    return fd >= 0;
}

/* ---- the VM around the device --------------------------------------------- */

static void line_set(VmmIrq *irq, int level)
{
    if (level != 0 && level != 1)
        fail("gsi %u driven to %d", irq->gsi, level);
}

static void guest_access(VmmVm *vm, bool write, bool pio, uint64_t addr, unsigned sz, uint64_t *v)
{
    VmmBus *bus = pio ? &vm->pio : &vm->mmio;
    if (write) {
        if (!pio && ioeventfd_match(addr, sz))
            return;
        vmm_bus_write(bus, addr, sz, *v);
        return;
    }
    *v = 0;
    vmm_bus_read(bus, addr, sz, v);
    if (sz < 8 && (*v >> (8 * sz)) != 0)
        fail("%u-byte read at 0x%llx returned 0x%llx", sz, (unsigned long long)addr,
             (unsigned long long)*v);
}

static void cfg_write(VmmVm *vm, unsigned off, unsigned sz, uint64_t v)
{
    guest_access(vm, true, false, LAYOUT_ECAM_BASE + (SLOT << 15) + off, sz, &v);
}

/* Threads by name. *dup: a queue thread's name seen twice; *unnamed:
 * those still bearing the program's own name (GLib names a new thread
 * from inside it, a moment after g_thread_new returns). */
static GHashTable *thread_names(unsigned *unnamed, char **dup)
{
    g_autofree char *self = NULL;
    g_file_get_contents("/proc/self/comm", &self, NULL, NULL);
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    *unnamed = 0;
    GDir *dir = g_dir_open("/proc/self/task", 0, NULL);
    const char *tid;
    while (dir && (tid = g_dir_read_name(dir))) {
        g_autofree char *path = g_strdup_printf("/proc/self/task/%s/comm", tid);
        g_autofree char *statpath = g_strdup_printf("/proc/self/task/%s/stat", tid);
        g_autofree char *stat = NULL;
        char *comm = NULL;
        if (!g_file_get_contents(statpath, &stat, NULL, NULL) ||
            !g_file_get_contents(path, &comm, NULL, NULL))
            continue;   /* it just ended */
        /* A joined thread can stay listed a while on a loaded machine;
         * it has left the process's memory by then (vsize, field 23, is
         * 0), a live one has not. */
        const char *f = strrchr(stat, ')');
        for (unsigned field = 2; f && field < 23; field++)
            f = strchr(f + 1, ' ');
        if (!f || g_ascii_strtoull(f + 1, NULL, 10) == 0) {
            g_free(comm);
            continue;
        }
        if (self && !strcmp(comm, self))
            ++*unnamed;
        g_strchomp(comm);
        if (!g_hash_table_add(seen, comm) && dup && !*dup &&
            (g_str_has_prefix(comm, "blk-") || g_str_has_prefix(comm, "net-") ||
             g_str_has_prefix(comm, "rng-") || !strcmp(comm, "balloon")))
            *dup = g_strdup(comm);
    }
    if (dir)
        g_dir_close(dir);
    return seen;
}

/* Each queue has at most one thread serving it (they are named after
 * the queue: blk-vda-q0, net-vnet0-q1): a second one would outlive the
 * device, which joins only the one it knows. Such a pair waits for work
 * and stays; what can pass is a new thread not yet named, or a joined
 * one in the instant before it leaves the memory map, so look again
 * until the picture is steady. */
static void check_queue_threads(unsigned unnamed_before)
{
    for (unsigned tries = 0;; tries++) {
        unsigned unnamed;
        g_autofree char *dup = NULL;
        g_autoptr(GHashTable) seen = thread_names(&unnamed, &dup);
        if ((unnamed > unnamed_before || dup) && tries < 2000) {
            g_usleep(100);
            continue;
        }
        if (dup)
            fail("two threads serve queue %s", dup);
        return;
    }
}

/* The console's host end: a chardev connected to a socket we listen on,
 * so the input can play the peer. */
static VmmChardev *console_backend(int *peer)
{
    static int listen_fd = -1;
    static char path[108];
    if (listen_fd < 0) {
        g_autofree char *dir = g_dir_make_tmp("fuzz-console-XXXXXX", NULL);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (!dir)
            abort();
        snprintf(path, sizeof(path), "%s/s", dir);
        strcpy(sa.sun_path, path);
        listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(listen_fd, 4) < 0)
            fail("console socket: %s", g_strerror(errno));
    }
    VmmChrDef def = { .type = VMM_CHR_UNIX, .path = path };
    GError *err = NULL;
    VmmChardev *c = vmm_chardev_open(&def, "console1", NULL, &err);
    if (!c)
        fail("%s", err->message);
    *peer = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (*peer < 0)
        fail("accept: %s", g_strerror(errno));
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *ram;
    static int ram_fd = -1, disk_fd = -1;
    static char disk_path[64];
    if (!ram) {
        if (!g_getenv("VMM_FUZZ_VERBOSE"))
            vmm_log_set_level(VMM_LOG_ERROR);
        /* No busy-polling I/O threads: they would eat the fuzzer's time. */
        g_setenv("VMM_BLK_POLL_US", "0", TRUE);
        /* Shared memfd RAM, as the worker's: the balloon punches holes in it. */
        ram_fd = memfd_create("fuzz-ram", MFD_CLOEXEC);
        if (ram_fd < 0 || ftruncate(ram_fd, RAM_SIZE) < 0)
            abort();
        ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ram_fd, 0);
        disk_fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
        kvm.vm_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (ram == MAP_FAILED || disk_fd < 0 || kvm.vm_fd < 0 || ftruncate(disk_fd, 1 << 20) < 0)
            abort();
        snprintf(disk_path, sizeof(disk_path), "/proc/self/fd/%d", disk_fd);
        g_mutex_init(&kvm.lock);
        kvm.tap_fds[0] = kvm.tap_fds[1] = -1;
        kvm.irqfds = g_array_new(FALSE, FALSE, sizeof(Irqfd));
        kvm.ioeventfds = g_array_new(FALSE, FALSE, sizeof(Ioeventfd));
    }
    memset(ram, 0, RAM_SIZE);
    kvm.irqfd_assigns = 0;
    unsigned unnamed_before;
    g_hash_table_unref(thread_names(&unnamed_before, NULL));

    VmmVm *vm = fuzz_vm_new(ram, RAM_SIZE, line_set);
    vm->vm_fd = kvm.vm_fd;
    vm->mem_fd = ram_fd;   /* the balloon punches holes in it */
    vm->nr_vcpus = 2;
    if (!vmm_irq_routing_init(vm, NULL))
        abort();
    unsigned dev = size ? data[0] % 7 : 0;
    VmmDiskDef disk = { .path = disk_path, .target_dev = (char *)"vda", .queues = 2,
                        .pci_slot = SLOT };
    int peer[2] = { -1, -1 }, tap[2] = { -1, -1 };
    VmmVirtioBlk *blk = NULL;
    VmmVirtioNet *net = NULL;
    VmmVirtioBalloon *balloon = NULL;
    VmmVirtioRng *rng = NULL;
    VmmBalloonDef bdef = { .autodeflate = VMM_TRI_ON, .free_page_reporting = VMM_TRI_ON,
                           .pci_slot = SLOT };
    VmmRngDef rdef = { .backend = dev == 4 ? VMM_RNG_BACKEND_BUILTIN : VMM_RNG_BACKEND_RANDOM,
                       .path = (char *)"/dev/urandom", .rate_bytes = dev == 4 ? 256 : 0,
                       .rate_period_ms = 10, .pci_slot = SLOT };
    VmmVirtioConsole *con = NULL;
    VmmChardev *con_be[2] = { NULL, NULL };
    static VmmChannelDef ports[2] = {
        { .kind = VMM_VSERIAL_CONSOLE, .port = 0 },
        { .kind = VMM_VSERIAL_CHANNEL, .name = (char *)"org.qemu.guest_agent.0", .port = 1 },
    };
    GPtrArray *chans = g_ptr_array_new();
    g_ptr_array_add(chans, &ports[0]);
    g_ptr_array_add(chans, &ports[1]);
    GError *err = NULL;
    if (dev == 0) {
        blk = vmm_virtio_blk_new(vm, &disk, SLOT, &err);
    } else if (dev == 3) {
        balloon = vmm_virtio_balloon_new(vm, &bdef, SLOT, &err);
    } else if (dev == 4 || dev == 5) {
        rng = vmm_virtio_rng_new(vm, &rdef, 0, SLOT, &err);
    } else if (dev == 6) {
        con_be[0] = console_backend(&peer[0]);
        /* three ports: 0 and 1 configured, 2 not */
        con = vmm_virtio_console_new(vm, chans, con_be, 3, SLOT, &err);
    } else {
        unsigned pairs = dev == 1 ? 2 : 1;
        for (unsigned i = 0; i < pairs; i++) {
            int sv[2];
            if (socketpair(AF_UNIX, (dev == 1 ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK |
                           SOCK_CLOEXEC, 0, sv) < 0)
                fail("socketpair: %s", g_strerror(errno));
            tap[i] = sv[0];
            peer[i] = sv[1];
            if (dev == 1)
                kvm.tap_fds[i] = tap[i];
        }
        VmmNetConfig nc = { .name = "vnet0", .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 },
                            .queue_pairs = pairs, .tap_fds = tap, .stream = dev == 2,
                            .rx_queue_size = 16, .tx_queue_size = 16, .pci_slot = SLOT };
        net = vmm_virtio_net_new(vm, &nc, &err);
    }
    if (!blk && !net && !balloon && !rng && !con)
        fail("%s", err->message);
    /* As firmware leaves it: BAR0 placed, memory decoding and bus mastering on. */
    cfg_write(vm, PCI_BAR0, 4, BAR_BASE);
    cfg_write(vm, PCI_BAR0 + 4, 4, BAR_BASE >> 32);
    cfg_write(vm, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

    for (size_t at = 1; at + 8 <= size; at += 8) {
        const uint8_t *r = data + at;
        bool write = r[0] & 1;
        unsigned sz = 1u << (r[1] & 3);
        unsigned off = r[2] | r[3] << 8;
        uint64_t v = (uint64_t)r[4] | (uint64_t)r[5] << 8 | (uint64_t)r[6] << 16 |
                     (uint64_t)r[7] << 24;
        switch ((r[0] >> 1) & 7) {
        case 0:
            guest_access(vm, write, false, LAYOUT_ECAM_BASE + (SLOT << 15) + off % PCI_CFG_SIZE, sz,
                   &v);
            break;
        case 1: guest_access(vm, write, false, BAR_BASE + off % 0x8000, sz, &v); break;
        case 2:
            guest_access(vm, write, false, BAR_BASE + off % 0x40, sz, &v);
            if (write && sz == 2 && (off % 0x40 == 0x10 || off % 0x40 == 0x1a)) {
                /* A vector reads back as written or as NO_VECTOR, never as
                 * one the device does not have (virtio 1.2, 4.1.5.1.2). */
                uint64_t back;
                guest_access(vm, false, false, BAR_BASE + off % 0x40, 2, &back);
                uint64_t nq;
                guest_access(vm, false, false, BAR_BASE + 0x12, 2, &nq);
                /* nq + 1 vectors; nq 0: the guest moved the BAR away */
                if (nq && back != 0xffff && (back != (v & 0xffff) || back > nq))
                    fail("vector 0x%llx at 0x%x reads back as 0x%llx", (unsigned long long)v,
                         off % 0x40, (unsigned long long)back);
            }
            break;
        case 3: guest_access(vm, write, false, BAR_BASE + 0x3000 + off % 0x40, sz, &v); break;
        case 4:
            guest_access(vm, write, false, BAR_BASE + (off & 0x8000 ? 0x5000 : 0x4000) + off % 0x40,
                   sz, &v);
            break;
        case 5:
            guest_access(vm, write, false, BAR_BASE + (off & 0x8000 ? 0x1000 : 0x2000) + off % 0x40,
                   sz, &v);
            break;
        case 6:
            if (write)
                memcpy(ram + off % (RAM_SIZE - 8), &v, sz);
            else if (peer[(off >> 15) & 1] >= 0 &&
                     send(peer[(off >> 15) & 1], ram, off % 2048, MSG_DONTWAIT) < 0 &&
                     errno != EAGAIN)
                fail("frame to the device: %s", g_strerror(errno));
            break;
        case 7: {
            uint64_t a = 0x80000000u | SLOT << 11 | (off & 0xfc);
            guest_access(vm, true, true, PORT_PCI_CONFIG_ADDR, 4, &a);
            guest_access(vm, write, true, PORT_PCI_CONFIG_DATA + (off & 3), MIN(sz, 4u), &v);
            break;
        }
        }
        /* the console's host end reads what the peer sent on this thread */
        while (con && g_main_context_iteration(NULL, FALSE))
            ;
    }

    check_queue_threads(unnamed_before);
    /* Joins the I/O threads: their work is done. */
    if (balloon) {
        /* Whatever the guest sent, the host never counts more pages in the
         * balloon than RAM has. */
        VmmBalloonStats st;
        vmm_virtio_balloon_get_stats(balloon, &st);
        if (st.inflated > RAM_SIZE / VMM_BALLOON_PAGE)
            fail("balloon counts %llu pages inflated, RAM has %llu",
                 (unsigned long long)st.inflated, (unsigned long long)(RAM_SIZE / VMM_BALLOON_PAGE));
    }
    vmm_virtio_blk_free(blk);
    vmm_virtio_net_free(net);
    vmm_virtio_balloon_free(balloon);
    vmm_virtio_rng_free(rng);
    vmm_virtio_console_free(con);
    vmm_chardev_close(con_be[0]);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_ptr_array_unref(chans);
    for (unsigned i = 0; i < 2; i++) {
        kvm.tap_fds[i] = -1;
        if (tap[i] >= 0)
            close(tap[i]);
        if (peer[i] >= 0)
            close(peer[i]);
    }
    if (g_getenv("VMM_FUZZ_VERBOSE")) {
        /* The seeds' used rings (blk: 0x3000; net: rx, tx, ctrl; balloon and
         * rng: 0x1000 per queue, used at +0x200): did
         * the device answer? */
        static const unsigned used[] = { 0x1200, 0x2200, 0x3000, 0x3200, 0x4200, 0x5200 };
        fprintf(stderr, " ");
        for (unsigned i = 0; i < G_N_ELEMENTS(used); i++)
            fprintf(stderr, " used.idx@0x%x %u", used[i], ram[used[i] + 2] | ram[used[i] + 3] << 8);
        fprintf(stderr, ", %u irqfds assigned\n", kvm.irqfd_assigns);
    }
    if (kvm.irqfds->len || kvm.ioeventfds->len)
        fail("%u irqfds and %u ioeventfds still assigned after the device was freed",
             kvm.irqfds->len, kvm.ioeventfds->len);
    for (unsigned gsi = IOAPIC_NR_PINS; gsi < MAX_GSI; gsi++)
        if (kvm.routed[gsi])
            fail("MSI route gsi %u left behind by the freed device", gsi);
    vmm_irq_routing_free(vm);
    fuzz_vm_free(vm);
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "virtio-pci");
}
#endif
