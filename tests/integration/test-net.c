/* virtio-net against real taps: the test creates a VM context (KVM, RAM,
 * PCI host; no vCPU runs), plugs the device in, and plays the guest driver
 * itself: PCI BAR, virtio-pci common config, rings written into guest RAM,
 * kicks. The host side is a tap in a fresh network namespace with an
 * AF_PACKET socket on it, exchanging real frames with the device:
 * every frame size up to the MTU both ways, the MAC in config space,
 * link down/up with its config interrupt, control-queue RX/MAC commands,
 * four queue pairs each carrying traffic, and hostile chains counted in
 * the error statistics. SKIPs without /dev/kvm or without the right to
 * create a network namespace. */
#include "harness.h"
#include "conf/domain_conf.h"
#include "hw/pci.h"
#include "net/tap.h"
#include "virtio/virtio_net.h"
#include "virtio/virtio_net_proto.h"
#include "virtio/virtio_pci.h"
#include "vmm/vm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BAR_ADDR     0xc0000000ULL
#define RING_BASE    0x1000000ULL     /* 16 MiB: rings, then buffers */
#define QSIZE        256
#define BUF_SIZE     2048
#define ETHERTYPE_T  0x88b5           /* IEEE local experimental: our frames */
#define WAIT_US      (30 * G_USEC_PER_SEC)   /* hang guard, not a timing check */

static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t PEER[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };

typedef struct {
    uint16_t size;
    uint64_t desc, avail, used, bufs;
    uint16_t avail_idx, used_seen;
} TQ;

typedef struct {
    VmmDomainDef *def;
    VmmVm *vm;
    VmmTap *tap;
    VmmVirtioNet *net;
    VmmVirtioDev *d;
    unsigned pairs, nq;
    TQ q[2 * 4 + 1];
    uint32_t common, isr, devcfg, notify, notify_mult;
    int pkt;                 /* AF_PACKET socket on the tap */
    int ifindex;
    uint64_t next_gpa;
} Fx;

static uint8_t *ram(Fx *f, uint64_t gpa, uint64_t len)
{
    uint8_t *p = vmm_vm_gpa_to_hva(f->vm, gpa, len);
    g_assert_nonnull(p);
    return p;
}

static uint64_t rd(Fx *f, uint32_t off, unsigned size)
{
    uint64_t v = 0;
    g_assert_true(vmm_bus_read(&f->vm->mmio, BAR_ADDR + off, size, &v));
    return v;
}

static void wr(Fx *f, uint32_t off, unsigned size, uint64_t v)
{
    g_assert_true(vmm_bus_write(&f->vm->mmio, BAR_ADDR + off, size, v));
}

/* The driver finds the virtio structures through the vendor capabilities. */
static void find_caps(Fx *f)
{
    VmmPciDevice *pci = &f->d->pci;
    for (unsigned c = vmm_pci_config_read(pci, PCI_CAPABILITY_LIST, 1); c; c = vmm_pci_config_read(pci, c + 1, 1)) {
        if (vmm_pci_config_read(pci, c, 1) != 0x09)
            continue;
        uint32_t off = vmm_pci_config_read(pci, c + 8, 4);
        switch (vmm_pci_config_read(pci, c + 3, 1)) {
        case 1: f->common = off; break;
        case 2: f->notify = off; f->notify_mult = vmm_pci_config_read(pci, c + 16, 4); break;
        case 3: f->isr = off; break;
        case 4: f->devcfg = off; break;
        }
    }
    g_assert_cmpuint(f->notify, !=, 0);
    g_assert_cmpuint(f->devcfg, !=, 0);
}

static void sysctl(const char *path, const char *v)
{
    FILE *fp = fopen(path, "w");
    if (fp) {
        fputs(v, fp);
        fclose(fp);
    }
}

static void fx_init_mtu(Fx *f, unsigned pairs, uint64_t disabled, unsigned mtu)
{
    memset(f, 0, sizeof(*f));
    g_autofree char *dir = harness_tmpdir();
    HarnessDomain hd = { .memory_mib = 64, .cmdline = "test=none", .serial_xml = "" };
    g_autofree char *xml = harness_write_domain(dir, &hd);
    g_autoptr(GError) err = NULL;
    f->def = vmm_domain_def_parse_file(xml, &err);
    g_assert_no_error(err);
    f->vm = vmm_vm_new(f->def, NULL, NULL, NULL, NULL, &err);
    g_assert_no_error(err);
    f->pairs = pairs;
    f->tap = vmm_tap_open(NULL, pairs, &err);
    g_assert_no_error(err);
    g_autofree char *v6 = g_strdup_printf("/proc/sys/net/ipv6/conf/%s/disable_ipv6", f->tap->name);
    sysctl(v6, "1");   /* no router solicitations in the way */
    g_assert_true(vmm_tap_set_mtu(f->tap, mtu, &err));
    g_assert_true(vmm_tap_set_up(f->tap, true, &err));
    VmmNetConfig cfg = { .name = f->tap->name, .mtu = mtu, .queue_pairs = pairs,
                         .tap_fds = f->tap->fds, .disabled_features = disabled, .pci_slot = -1 };
    memcpy(cfg.mac, MAC, 6);
    f->net = vmm_virtio_net_new(f->vm, &cfg, &err);
    g_assert_no_error(err);
    f->d = vmm_virtio_net_vdev(f->net);
    f->nq = 2 * pairs + 1;
    /* Map BAR0 and enable memory decoding, as firmware would. */
    VmmPciDevice *pci = &f->d->pci;
    vmm_pci_config_write(pci, PCI_BAR0, (uint32_t)BAR_ADDR, 4);
    vmm_pci_config_write(pci, PCI_BAR0 + 4, 0, 4);
    vmm_pci_config_write(pci, PCI_COMMAND, 0x6, 2);
    find_caps(f);

    f->ifindex = if_nametoindex(f->tap->name);
    f->pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    g_assert_cmpint(f->pkt, >=, 0);
    int one = 1;
    setsockopt(f->pkt, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                               .sll_ifindex = f->ifindex };
    g_assert_cmpint(bind(f->pkt, (struct sockaddr *)&sll, sizeof(sll)), ==, 0);
    struct timeval tv = { .tv_sec = 30 };
    setsockopt(f->pkt, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static void fx_init(Fx *f, unsigned pairs, uint64_t disabled)
{
    fx_init_mtu(f, pairs, disabled, 1500);
}

static void fx_free(Fx *f)
{
    vmm_virtio_net_free(f->net);
    vmm_tap_close(f->tap);
    close(f->pkt);
    vmm_vm_free(f->vm);
    vmm_domain_def_free(f->def);
}

/* ---- the driver side ----------------------------------------------------- */

static uint64_t features_of(Fx *f)
{
    wr(f, f->common + 0x00, 4, 0);
    uint64_t lo = rd(f, f->common + 0x04, 4);
    wr(f, f->common + 0x00, 4, 1);
    return lo | rd(f, f->common + 0x04, 4) << 32;
}

static void setup_queue(Fx *f, unsigned qi)
{
    TQ *q = &f->q[qi];
    wr(f, f->common + 0x16, 2, qi);
    q->size = rd(f, f->common + 0x18, 2);
    g_assert_cmpuint(q->size, >=, 2);
    q->desc = f->next_gpa;
    q->avail = q->desc + 16 * q->size;
    q->used = (q->avail + 6 + 2 * q->size + 3) & ~3ULL;
    q->bufs = (q->used + 6 + 8 * q->size + 4095) & ~4095ULL;
    f->next_gpa = q->bufs + (uint64_t)q->size * BUF_SIZE;
    q->avail_idx = q->used_seen = 0;
    memset(ram(f, q->desc, q->bufs - q->desc), 0, q->bufs - q->desc);
    wr(f, f->common + 0x20, 8, q->desc);
    wr(f, f->common + 0x28, 8, q->avail);
    wr(f, f->common + 0x30, 8, q->used);
    wr(f, f->common + 0x1c, 2, 1);
}

static void driver_init(Fx *f, uint64_t want)
{
    wr(f, f->common + 0x14, 1, 0);
    wr(f, f->common + 0x14, 1, 1 | 2);
    uint64_t feat = features_of(f) & (want | VIRTIO_F_VERSION_1_BIT);
    wr(f, f->common + 0x08, 4, 0);
    wr(f, f->common + 0x0c, 4, (uint32_t)feat);
    wr(f, f->common + 0x08, 4, 1);
    wr(f, f->common + 0x0c, 4, feat >> 32);
    wr(f, f->common + 0x14, 1, 1 | 2 | 8);
    g_assert_cmpuint(rd(f, f->common + 0x14, 1) & 8, ==, 8);
    f->next_gpa = RING_BASE;
    unsigned nq = (feat & VNET_BIT(VIRTIO_NET_F_MQ)) ? f->nq : 3;
    for (unsigned i = 0; i < nq; i++)
        setup_queue(f, i);
    wr(f, f->common + 0x14, 1, 1 | 2 | 8 | 4);
}

static void put_desc(Fx *f, TQ *q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *d = ram(f, q->desc + 16 * i, 16);
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

static void make_avail(Fx *f, unsigned qi, uint16_t head)
{
    TQ *q = &f->q[qi];
    uint16_t *ring = (uint16_t *)ram(f, q->avail + 4, 2 * q->size);
    ring[q->avail_idx % q->size] = head;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    q->avail_idx++;
    memcpy(ram(f, q->avail + 2, 2), &q->avail_idx, 2);
}

static void kick(Fx *f, unsigned qi)
{
    wr(f, f->notify + qi * f->notify_mult, 2, qi);
}

static uint16_t used_idx(Fx *f, unsigned qi)
{
    return __atomic_load_n((uint16_t *)ram(f, f->q[qi].used + 2, 2), __ATOMIC_ACQUIRE);
}

/* Waits for the next used element; returns its id and len. */
static void wait_used(Fx *f, unsigned qi, uint32_t *id, uint32_t *len)
{
    TQ *q = &f->q[qi];
    gint64 end = g_get_monotonic_time() + WAIT_US;
    while (used_idx(f, qi) == q->used_seen) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_usleep(50);
    }
    uint8_t *e = ram(f, q->used + 4 + 8 * (q->used_seen % q->size), 8);
    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
    q->used_seen++;
}

/* Posts rx buffer `slot` (one writable descriptor of BUF_SIZE). */
static void post_rx(Fx *f, unsigned qi, unsigned slot)
{
    TQ *q = &f->q[qi];
    put_desc(f, q, slot, q->bufs + (uint64_t)slot * BUF_SIZE, BUF_SIZE, 2, 0);
    make_avail(f, qi, slot);
}

static void fill_rx(Fx *f, unsigned qi)
{
    for (unsigned s = 0; s < f->q[qi].size; s++)
        post_rx(f, qi, s);
    kick(f, qi);
}

/* Makes frame[len] with header hdr available on tx queue qi as a
 * two-descriptor chain, without a kick; returns the chain's head. */
static unsigned tx_post(Fx *f, unsigned qi, const VmmVnetHdr *hdr, const uint8_t *frame, size_t len)
{
    TQ *q = &f->q[qi];
    unsigned slot = (q->avail_idx * 2) % q->size;
    uint64_t b = q->bufs + (uint64_t)slot * BUF_SIZE;
    VmmVnetHdr h0 = { 0 };
    vmm_vnet_hdr_encode(hdr ? hdr : &h0, ram(f, b, VIRTIO_NET_HDR_LEN));
    memcpy(ram(f, b + BUF_SIZE, len), frame, len);
    put_desc(f, q, slot, b, VIRTIO_NET_HDR_LEN, 1, slot + 1);
    put_desc(f, q, slot + 1, b + BUF_SIZE, len, 0, 0);
    make_avail(f, qi, slot);
    return slot;
}

/* Transmits frame[len] with header hdr on tx queue qi; returns after the
 * device completed it. */
static void tx_frame(Fx *f, unsigned qi, const VmmVnetHdr *hdr, const uint8_t *frame, size_t len)
{
    unsigned slot = tx_post(f, qi, hdr, frame, len);
    kick(f, qi);
    uint32_t id, l;
    wait_used(f, qi, &id, &l);
    g_assert_cmpuint(id, ==, slot);
}

/* Kicks queue qi unless the device suppresses notifications (used->flags
 * NO_NOTIFY, without EVENT_IDX), as drivers do; true when it kicked. */
static bool kick_if_wanted(Fx *f, unsigned qi)
{
    /* The avail idx store before the flags load (the driver's mb). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t flags = __atomic_load_n((uint16_t *)ram(f, f->q[qi].used, 2), __ATOMIC_ACQUIRE);
    if (flags & 1)
        return false;
    kick(f, qi);
    return true;
}

static size_t make_frame(uint8_t *buf, const uint8_t *dst, const uint8_t *src, size_t len, uint32_t tag)
{
    memcpy(buf, dst, 6);
    memcpy(buf + 6, src, 6);
    buf[12] = ETHERTYPE_T >> 8;
    buf[13] = ETHERTYPE_T & 0xff;
    for (size_t i = 14; i < len; i++)
        buf[i] = (uint8_t)(i * 7 + tag);
    if (len >= 18)
        memcpy(buf + 14, &tag, 4);
    return len;
}

/* Next frame of ours on the host side (others, e.g. IPv6 noise, skipped). */
static ssize_t host_recv(Fx *f, uint8_t *buf, size_t cap)
{
    for (;;) {
        ssize_t n = recv(f->pkt, buf, cap, 0);
        g_assert_cmpint(n, >=, 0);
        if (n >= 14 && buf[12] == (ETHERTYPE_T >> 8) && buf[13] == (ETHERTYPE_T & 0xff))
            return n;
    }
}

static void host_send(Fx *f, const uint8_t *frame, size_t len)
{
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = f->ifindex, .sll_halen = 6 };
    memcpy(sll.sll_addr, frame, 6);
    g_assert_cmpint(sendto(f->pkt, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)), ==, (ssize_t)len);
}

/* Receives the next frame of ours from rx queue qi into out; reposts the buffer. */
static size_t guest_recv(Fx *f, unsigned qi, uint8_t *out)
{
    for (;;) {
        uint32_t id, len;
        wait_used(f, qi, &id, &len);
        g_assert_cmpuint(id, <, f->q[qi].size);
        g_assert_cmpuint(len, >=, VIRTIO_NET_HDR_LEN);
        uint8_t *b = ram(f, f->q[qi].bufs + (uint64_t)id * BUF_SIZE, BUF_SIZE);
        VmmVnetHdr h;
        vmm_vnet_hdr_decode(b, &h);
        g_assert_cmpuint(h.num_buffers, ==, 1);
        size_t n = len - VIRTIO_NET_HDR_LEN;
        memcpy(out, b + VIRTIO_NET_HDR_LEN, n);
        post_rx(f, qi, id);
        kick(f, qi);
        if (n >= 14 && out[12] == (ETHERTYPE_T >> 8) && out[13] == (ETHERTYPE_T & 0xff))
            return n;
    }
}

static uint8_t ctrl_cmd(Fx *f, const uint8_t *cmd, size_t len)
{
    unsigned qi = f->nq - 1;
    if (!(vmm_virtio_net_features(f->net) & VNET_BIT(VIRTIO_NET_F_MQ)))
        qi = 2;
    TQ *q = &f->q[qi];
    unsigned slot = (q->avail_idx * 2) % q->size;
    uint64_t b = q->bufs + (uint64_t)slot * BUF_SIZE;
    memcpy(ram(f, b, len), cmd, len);
    uint8_t *ack = ram(f, b + BUF_SIZE, 1);
    *ack = 0xee;
    put_desc(f, q, slot, b, len, 1, slot + 1);
    put_desc(f, q, slot + 1, b + BUF_SIZE, 1, 2, 0);
    make_avail(f, qi, slot);
    kick(f, qi);
    uint32_t id, l;
    wait_used(f, qi, &id, &l);
    g_assert_cmpuint(l, ==, 1);
    return *ack;
}

static VmmNetStats stats(Fx *f)
{
    VmmNetStats s;
    vmm_virtio_net_get_stats(f->net, &s, NULL, 0);
    return s;
}

#define BASE_FEATURES (VNET_BIT(VIRTIO_NET_F_MAC) | VNET_BIT(VIRTIO_NET_F_STATUS) | \
                       VNET_BIT(VIRTIO_NET_F_MTU) | VNET_BIT(VIRTIO_NET_F_CTRL_VQ) | \
                       VNET_BIT(VIRTIO_NET_F_CTRL_RX) | VNET_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR))

/* ---- tests ------------------------------------------------------------------ */

static void test_frames(void)
{
    Fx f;
    fx_init(&f, 1, 0);
    driver_init(&f, BASE_FEATURES);
    /* The MAC, link and MTU the driver reads from config space. */
    for (unsigned i = 0; i < 6; i++)
        g_assert_cmpuint(rd(&f, f.devcfg + i, 1), ==, MAC[i]);
    g_assert_cmpuint(rd(&f, f.devcfg + VIRTIO_NET_CFG_STATUS, 2), ==, VIRTIO_NET_S_LINK_UP);
    g_assert_cmpuint(rd(&f, f.devcfg + VIRTIO_NET_CFG_MTU, 2), ==, 1500);
    fill_rx(&f, 0);
    uint8_t frame[1600], got[BUF_SIZE];
    uint64_t bytes = 0;
    /* Guest -> host: every size from an Ethernet header to MTU + header. */
    for (size_t len = 14; len <= 1514; len++) {
        make_frame(frame, PEER, MAC, len, (uint32_t)len);
        tx_frame(&f, 1, NULL, frame, len);
        ssize_t n = host_recv(&f, got, sizeof(got));
        g_assert_cmpint(n, ==, (ssize_t)len);
        g_assert_cmpmem(got, n, frame, len);
        g_assert_cmpmem(got + 6, 6, MAC, 6);    /* the host sees the MAC */
        bytes += len;
    }
    VmmNetStats s = stats(&f);
    g_assert_cmpuint(s.tx_pkts, ==, 1501);
    g_assert_cmpuint(s.tx_bytes, ==, bytes);
    g_assert_cmpuint(s.tx_errs, ==, 0);
    /* Host -> guest, the same sizes. */
    for (size_t len = 14; len <= 1514; len++) {
        make_frame(frame, MAC, PEER, len, (uint32_t)len + 1);
        host_send(&f, frame, len);
        size_t n = guest_recv(&f, 0, got);
        g_assert_cmpuint(n, ==, len);
        g_assert_cmpmem(got, n, frame, len);
    }
    s = stats(&f);
    g_assert_cmpuint(s.rx_pkts, >=, 1501);
    g_assert_cmpuint(s.rx_errs, ==, 0);
    fx_free(&f);
}

/* MTU 4000 with 2 KiB buffers: with MRG_RXBUF a frame spans buffers,
 * num_buffers says how many, and the bytes arrive in order. */
static void test_mrg(void)
{
    Fx f;
    fx_init_mtu(&f, 1, 0, 4000);
    driver_init(&f, BASE_FEATURES | VNET_BIT(VIRTIO_NET_F_MRG_RXBUF));
    fill_rx(&f, 0);
    static uint8_t frame[4100], got[3 * BUF_SIZE];
    const size_t sizes[] = { 60, 2036, 2037, 3000, 4014 };
    for (unsigned k = 0; k < G_N_ELEMENTS(sizes); k++) {
        size_t len = sizes[k];
        make_frame(frame, MAC, PEER, len, 300 + k);
        host_send(&f, frame, len);
        uint32_t id, l;
        wait_used(&f, 0, &id, &l);
        uint8_t *b = ram(&f, f.q[0].bufs + (uint64_t)id * BUF_SIZE, BUF_SIZE);
        VmmVnetHdr h;
        vmm_vnet_hdr_decode(b, &h);
        size_t n = l - VIRTIO_NET_HDR_LEN;
        memcpy(got, b + VIRTIO_NET_HDR_LEN, n);
        post_rx(&f, 0, id);
        for (unsigned i = 1; i < h.num_buffers; i++) {
            wait_used(&f, 0, &id, &l);
            memcpy(got + n, ram(&f, f.q[0].bufs + (uint64_t)id * BUF_SIZE, l), l);
            n += l;
            post_rx(&f, 0, id);
        }
        kick(&f, 0);
        g_assert_cmpuint(h.num_buffers, ==, (len + VIRTIO_NET_HDR_LEN + BUF_SIZE - 1) / BUF_SIZE);
        g_assert_cmpuint(n, ==, len);
        g_assert_cmpmem(got, n, frame, len);
    }
    g_assert_cmpuint(stats(&f).rx_errs, ==, 0);
    fx_free(&f);
}

/* A driver that skips the kick whenever used->flags says NO_NOTIFY never
 * stalls: while the device keeps kicks off (polling a ring it just
 * drained, or with frames waiting for rx buffers) it must come back to
 * the ring by itself. The rx half starts with one buffer for a burst of
 * frames, so the device runs out of buffers at every frame. */
static void test_suppressed(void)
{
    Fx f;
    fx_init(&f, 1, 0);
    driver_init(&f, BASE_FEATURES);
    uint8_t frame[128], got[BUF_SIZE];
    unsigned kicks = 0;
    for (uint32_t k = 0; k < 64; k++) {
        make_frame(frame, PEER, MAC, 100, 500 + k);
        unsigned slot = tx_post(&f, 1, NULL, frame, 100);
        kicks += kick_if_wanted(&f, 1);
        g_assert_cmpint(host_recv(&f, got, sizeof(got)), ==, 100);
        g_assert_cmpmem(got, 100, frame, 100);
        uint32_t id, l;
        wait_used(&f, 1, &id, &l);
        g_assert_cmpuint(id, ==, slot);
    }
    g_test_message("tx: 64 frames, %u kicks", kicks);
    post_rx(&f, 0, 0);
    kick(&f, 0);
    enum { BURST = 16 };
    for (uint32_t k = 0; k < BURST; k++) {
        make_frame(frame, MAC, PEER, 100, 700 + k);
        host_send(&f, frame, 100);
    }
    kicks = 0;
    for (uint32_t k = 0; k < BURST;) {
        uint32_t id, len;
        wait_used(&f, 0, &id, &len);
        g_assert_cmpuint(id, ==, 0);
        g_assert_cmpuint(len, >=, VIRTIO_NET_HDR_LEN);
        uint8_t *b = ram(&f, f.q[0].bufs, BUF_SIZE) + VIRTIO_NET_HDR_LEN;
        bool ours = len - VIRTIO_NET_HDR_LEN == 100 && b[12] == (ETHERTYPE_T >> 8) &&
                    b[13] == (ETHERTYPE_T & 0xff);
        if (ours) {
            make_frame(frame, MAC, PEER, 100, 700 + k);
            g_assert_cmpmem(b, 100, frame, 100);
            k++;
        }
        post_rx(&f, 0, 0);
        kicks += kick_if_wanted(&f, 0);
    }
    g_test_message("rx: %u frames through one buffer, %u kicks", BURST, kicks);
    g_assert_cmpuint(stats(&f).rx_errs, ==, 0);
    fx_free(&f);
}

static void test_link(void)
{
    Fx f;
    fx_init(&f, 1, 0);
    driver_init(&f, BASE_FEATURES);
    rd(&f, f.isr, 1);                           /* clear */
    uint8_t gen = rd(&f, f.common + 0x15, 1);
    g_assert_true(vmm_virtio_net_get_link(f.net));
    vmm_virtio_net_set_link(f.net, false);
    g_assert_false(vmm_virtio_net_get_link(f.net));
    g_assert_cmpuint(rd(&f, f.isr, 1) & 2, ==, 2);   /* config interrupt */
    g_assert_cmpuint(rd(&f, f.devcfg + VIRTIO_NET_CFG_STATUS, 2), ==, 0);
    g_assert_cmpuint(rd(&f, f.common + 0x15, 1), !=, gen);
    /* Down: transmitted frames go nowhere, counted as drops. */
    uint8_t frame[64];
    make_frame(frame, PEER, MAC, 64, 1);
    tx_frame(&f, 1, NULL, frame, 64);
    g_assert_cmpuint(stats(&f).tx_drop, ==, 1);
    g_assert_cmpuint(stats(&f).tx_pkts, ==, 0);
    vmm_virtio_net_set_link(f.net, true);
    g_assert_cmpuint(rd(&f, f.isr, 1) & 2, ==, 2);
    g_assert_cmpuint(rd(&f, f.devcfg + VIRTIO_NET_CFG_STATUS, 2), ==, VIRTIO_NET_S_LINK_UP);
    tx_frame(&f, 1, NULL, frame, 64);
    uint8_t got[BUF_SIZE];
    g_assert_cmpint(host_recv(&f, got, sizeof(got)), ==, 64);
    g_assert_cmpuint(stats(&f).tx_pkts, ==, 1);
    fx_free(&f);
}

static void test_ctrl(void)
{
    Fx f;
    fx_init(&f, 1, 0);
    /* This driver also takes mergeable buffers and event indexes. */
    driver_init(&f, BASE_FEATURES | VNET_BIT(VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_F_EVENT_IDX));
    g_assert_cmphex(vmm_virtio_net_features(f.net) & (VNET_BIT(VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_F_EVENT_IDX)),
                    ==, VNET_BIT(VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_F_EVENT_IDX));
    fill_rx(&f, 0);
    uint8_t a[64], b[64], got[BUF_SIZE];
    const uint8_t other[6] = { 0x52, 0x54, 0x00, 0x77, 0x77, 0x77 };
    /* Promiscuous after reset: a frame for another MAC arrives. */
    make_frame(a, other, PEER, 64, 100);
    host_send(&f, a, 64);
    g_assert_cmpuint(guest_recv(&f, 0, got), ==, 64);
    g_assert_cmpmem(got, 6, other, 6);
    /* PROMISC off: it is filtered, ours after it arrives first. */
    const uint8_t promisc_off[] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 0 };
    g_assert_cmpuint(ctrl_cmd(&f, promisc_off, 3), ==, VIRTIO_NET_OK);
    make_frame(b, MAC, PEER, 64, 101);
    host_send(&f, a, 64);
    host_send(&f, b, 64);
    guest_recv(&f, 0, got);
    g_assert_cmpmem(got, 64, b, 64);
    /* MAC_ADDR_SET: the new address is accepted and shown in config. */
    uint8_t set[8] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET };
    memcpy(set + 2, other, 6);
    g_assert_cmpuint(ctrl_cmd(&f, set, 8), ==, VIRTIO_NET_OK);
    for (unsigned i = 0; i < 6; i++)
        g_assert_cmpuint(rd(&f, f.devcfg + i, 1), ==, other[i]);
    host_send(&f, b, 64);      /* old MAC: filtered now */
    host_send(&f, a, 64);
    guest_recv(&f, 0, got);
    g_assert_cmpmem(got, 64, a, 64);
    /* MAC table: one extra unicast address. */
    uint8_t table[2 + 4 + 6 + 4] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 1 };
    memcpy(table + 6, MAC, 6);
    g_assert_cmpuint(ctrl_cmd(&f, table, sizeof(table)), ==, VIRTIO_NET_OK);
    host_send(&f, b, 64);
    guest_recv(&f, 0, got);
    g_assert_cmpmem(got, 64, b, 64);
    /* Garbage: ERR ack, counted, the device goes on. */
    uint64_t errs = stats(&f).tx_errs;
    const uint8_t junk[] = { 9, 9, 9 };
    g_assert_cmpuint(ctrl_cmd(&f, junk, 3), ==, VIRTIO_NET_ERR);
    const uint8_t mq[] = { VIRTIO_NET_CTRL_MQ, 0, 2, 0 };   /* MQ not negotiated */
    g_assert_cmpuint(ctrl_cmd(&f, mq, 4), ==, VIRTIO_NET_ERR);
    g_assert_cmpuint(stats(&f).tx_errs, ==, errs + 2);
    host_send(&f, a, 64);
    guest_recv(&f, 0, got);
    g_assert_cmpmem(got, 64, a, 64);
    fx_free(&f);
}

static void test_mq(void)
{
    Fx f;
    fx_init(&f, 4, 0);
    driver_init(&f, BASE_FEATURES | VNET_BIT(VIRTIO_NET_F_MQ));
    g_assert_cmpuint(rd(&f, f.devcfg + VIRTIO_NET_CFG_MAX_PAIRS, 2), ==, 4);
    const uint8_t too_many[] = { VIRTIO_NET_CTRL_MQ, 0, 5, 0 };
    g_assert_cmpuint(ctrl_cmd(&f, too_many, 4), ==, VIRTIO_NET_ERR);
    const uint8_t four[] = { VIRTIO_NET_CTRL_MQ, 0, 4, 0 };
    g_assert_cmpuint(ctrl_cmd(&f, four, 4), ==, VIRTIO_NET_OK);
    for (unsigned p = 0; p < 4; p++)
        fill_rx(&f, 2 * p);
    uint8_t frame[128], got[BUF_SIZE];
    /* Each pair transmits. */
    for (unsigned p = 0; p < 4; p++) {
        make_frame(frame, PEER, MAC, 100, 200 + p);
        tx_frame(&f, 2 * p + 1, NULL, frame, 100);
        g_assert_cmpint(host_recv(&f, got, sizeof(got)), ==, 100);
    }
    /* The tap spreads IPv4 flows over its queues: send UDP flows until
     * every pair has received one. */
    VmmNetStats per[4];
    unsigned flows = 0;
    for (;; flows++) {
        vmm_virtio_net_get_stats(f.net, &(VmmNetStats){ 0 }, per, 4);
        if (per[0].rx_pkts && per[1].rx_pkts && per[2].rx_pkts && per[3].rx_pkts)
            break;
        g_assert_cmpuint(flows, <, 4096);
        uint8_t ip[14 + 20 + 8 + 16] = { 0 };
        memcpy(ip, MAC, 6);
        memcpy(ip + 6, PEER, 6);
        ip[12] = 0x08;
        ip[14] = 0x45;
        ip[16] = 0; ip[17] = sizeof(ip) - 14;
        ip[22] = 64; ip[23] = 17;
        memcpy(ip + 26, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
        ip[34] = flows >> 8; ip[35] = flows; ip[36] = 0x30; ip[37] = 0x39;
        ip[39] = 8 + 16;
        host_send(&f, ip, sizeof(ip));
        /* Let the frame land before looking at the counters again. */
        gint64 end = g_get_monotonic_time() + WAIT_US;
        VmmNetStats t;
        while (vmm_virtio_net_get_stats(f.net, &t, NULL, 0), t.rx_pkts < flows + 1)
            g_assert_cmpint(g_get_monotonic_time(), <, end);
        for (unsigned p = 0; p < 4; p++) {
            /* Repost what was used. */
            while (used_idx(&f, 2 * p) != f.q[2 * p].used_seen) {
                uint32_t id, len;
                wait_used(&f, 2 * p, &id, &len);
                post_rx(&f, 2 * p, id);
                kick(&f, 2 * p);
            }
        }
    }
    for (unsigned p = 0; p < 4; p++) {
        g_test_message("pair %u: rx %" G_GUINT64_FORMAT " tx %" G_GUINT64_FORMAT, p,
                       per[p].rx_pkts, per[p].tx_pkts);
        g_assert_cmpuint(per[p].tx_pkts, ==, 1);
        g_assert_cmpuint(per[p].rx_pkts, >=, 1);
    }
    fx_free(&f);
}

static void test_hostile(void)
{
    Fx f;
    fx_init(&f, 1, 0);
    driver_init(&f, BASE_FEATURES | VNET_BIT(VIRTIO_NET_F_CSUM) | VNET_BIT(VIRTIO_NET_F_HOST_TSO4));
    uint8_t frame[2000], got[BUF_SIZE];
    /* MTU 1500 + Ethernet header + one VLAN tag is the largest. */
    make_frame(frame, PEER, MAC, 1519, 1);
    tx_frame(&f, 1, NULL, frame, 1519);                       /* over the MTU */
    VmmVnetHdr gso0 = { .flags = 1, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .hdr_len = 54,
                        .gso_size = 0, .csum_start = 34, .csum_offset = 16 };
    tx_frame(&f, 1, &gso0, frame, 200);                      /* gso_size 0 */
    VmmVnetHdr past = gso0;
    past.gso_size = 1400;
    past.hdr_len = 500;
    tx_frame(&f, 1, &past, frame, 200);                      /* hdr_len past the frame */
    VmmVnetHdr csum = { .flags = 1, .csum_start = 190, .csum_offset = 20 };
    tx_frame(&f, 1, &csum, frame, 200);                      /* csum field outside */
    g_assert_cmpuint(stats(&f).tx_errs, ==, 4);
    g_assert_cmpuint(stats(&f).tx_pkts, ==, 0);
    /* A well-formed TSO frame (IPv4/TCP, 1448-byte segments) passes the
     * same checks and the kernel takes it. */
    uint8_t tso[14 + 20 + 20 + 1900] = { 0 };
    memcpy(tso, PEER, 6);
    memcpy(tso + 6, MAC, 6);
    tso[12] = 0x08;
    tso[14] = 0x45;
    tso[16] = (sizeof(tso) - 14) >> 8;
    tso[17] = (sizeof(tso) - 14) & 0xff;
    tso[22] = 64;
    tso[23] = 6;
    memcpy(tso + 26, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    tso[34 + 12] = 5 << 4;                                   /* TCP data offset */
    tso[34 + 13] = 0x10;                                     /* ACK */
    VmmVnetHdr good = { .flags = 1, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .hdr_len = 54,
                        .gso_size = 1448, .csum_start = 34, .csum_offset = 16 };
    tx_frame(&f, 1, &good, tso, sizeof(tso));
    g_assert_cmpuint(stats(&f).tx_errs, ==, 4);
    g_assert_cmpuint(stats(&f).tx_pkts, ==, 1);
    /* A tx chain with a device-writable buffer. */
    TQ *q = &f.q[1];
    unsigned slot = (q->avail_idx * 2) % q->size;
    put_desc(&f, q, slot, q->bufs, 64, 1, slot + 1);
    put_desc(&f, q, slot + 1, q->bufs + BUF_SIZE, 64, 2, 0);
    make_avail(&f, 1, slot);
    kick(&f, 1);
    uint32_t id, len;
    wait_used(&f, 1, &id, &len);
    g_assert_cmpuint(stats(&f).tx_errs, ==, 5);
    /* An rx buffer shorter than the vnet header: returned empty, counted. */
    TQ *r = &f.q[0];
    put_desc(&f, r, 0, r->bufs, 4, 2, 0);
    make_avail(&f, 0, 0);
    kick(&f, 0);
    wait_used(&f, 0, &id, &len);
    g_assert_cmpuint(len, ==, 0);
    g_assert_cmpuint(stats(&f).rx_errs, ==, 1);
    /* Without MRG_RXBUF a 100-byte buffer cannot take an MTU-sized frame:
     * the frame is dropped and counted, the buffer stays with the device. */
    put_desc(&f, r, 1, r->bufs + BUF_SIZE, 100, 2, 0);
    make_avail(&f, 0, 1);
    kick(&f, 0);
    make_frame(frame, MAC, PEER, 64, 3);
    host_send(&f, frame, 64);
    gint64 until = g_get_monotonic_time() + WAIT_US;
    while (stats(&f).rx_errs < 2)
        g_assert_cmpint(g_get_monotonic_time(), <, until);
    g_assert_cmpuint(stats(&f).rx_errs, ==, 2);
    g_assert_cmpuint(stats(&f).rx_pkts, ==, 0);
    g_assert_cmpuint(used_idx(&f, 0), ==, r->used_seen);
    /* The device still works. */
    make_frame(frame, PEER, MAC, 64, 2);
    tx_frame(&f, 1, NULL, frame, 64);
    g_assert_cmpint(host_recv(&f, got, sizeof(got)), ==, 64);
    /* A broken ring (avail idx far ahead): NEEDS_RESET, then a reset and
     * a new driver bring it back. */
    uint16_t bogus = q->avail_idx + q->size + 5;
    memcpy(ram(&f, q->avail + 2, 2), &bogus, 2);
    kick(&f, 1);
    gint64 end = g_get_monotonic_time() + WAIT_US;
    while (!(rd(&f, f.common + 0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
        g_assert_cmpint(g_get_monotonic_time(), <, end);
    driver_init(&f, BASE_FEATURES);
    g_assert_cmpuint(rd(&f, f.common + 0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, ==, 0);
    tx_frame(&f, 1, NULL, frame, 64);
    g_assert_cmpint(host_recv(&f, got, sizeof(got)), ==, 64);
    fx_free(&f);
}

static bool iface_exists(const char *name)
{
    return if_nametoindex(name) != 0;
}

/* `ip -o link show dev NAME` (sysfs shows the namespace it was mounted in). */
static char *ip_link(const char *name)
{
    g_autofree char *cmd = g_strdup_printf("ip -o link show dev %s", name);
    char *out = NULL;
    int status = 0;
    g_assert_true(g_spawn_command_line_sync(cmd, &out, NULL, &status, NULL));
    g_assert_cmpint(status, ==, 0);
    return out;
}

/* The tap layer on its own: create, open by name, multiqueue, MTU, up,
 * bridge, the busy and missing-bridge errors, persistent taps. */
static void test_tap(void)
{
    g_autoptr(GError) err = NULL;
    VmmTap *t = vmm_tap_open(NULL, 2, &err);
    g_assert_no_error(err);
    g_assert_true(g_str_has_prefix(t->name, "vnet"));
    g_assert_true(t->created);
    g_assert_cmpuint(t->nqueues, ==, 2);
    g_assert_true(t->offloads & TUN_F_CSUM);
    g_assert_true(vmm_tap_set_mtu(t, 9000, &err));
    g_assert_true(vmm_tap_set_up(t, true, &err));
    g_autofree char *link = ip_link(t->name);
    g_assert_nonnull(strstr(link, " mtu 9000 "));
    g_assert_nonnull(strstr(link, ",UP"));
    /* A bridge that does not exist: one line naming tap, bridge, cause. */
    g_assert_false(vmm_tap_attach_bridge(t, "nobr0", &err));
    g_autofree char *want = g_strdup_printf("tap %s: attach to bridge nobr0: no such bridge", t->name);
    g_assert_cmpstr(err->message, ==, want);
    g_clear_error(&err);
    g_assert_cmpint(system("ip link add vmmbr0 type bridge"), ==, 0);
    g_assert_true(vmm_tap_attach_bridge(t, "vmmbr0", &err));
    g_autofree char *link2 = ip_link(t->name);
    g_assert_nonnull(strstr(link2, " master vmmbr0 "));
    /* Busy: a single-queue open of a multiqueue tap in use. */
    VmmTap *busy = vmm_tap_open(t->name, 1, &err);
    g_assert_null(busy);
    g_assert_nonnull(strstr(err->message, t->name));
    g_assert_nonnull(strstr(err->message, "TUNSETIFF"));
    g_clear_error(&err);
    g_autofree char *name = g_strdup(t->name);
    vmm_tap_close(t);
    g_assert_false(iface_exists(name));       /* non-persistent: gone */
    /* Persistent: survives its fds, reopened by name, deleted. */
    t = vmm_tap_open("vmmtap%d", 1, &err);
    g_assert_no_error(err);
    g_assert_true(vmm_tap_set_persist(t, true, &err));
    g_free(name);
    name = g_strdup(t->name);
    t->created = false;                       /* as if another process made it */
    vmm_tap_close(t);
    g_assert_true(iface_exists(name));
    t = vmm_tap_open(name, 1, &err);
    g_assert_no_error(err);
    g_assert_false(t->created);
    vmm_tap_close(t);
    g_assert_true(iface_exists(name));
    g_assert_true(vmm_tap_delete(name, &err));
    g_assert_false(iface_exists(name));
    g_assert_false(vmm_tap_delete(name, &err));
    g_assert_nonnull(strstr(err->message, name));
    g_assert_cmpint(system("ip link del vmmbr0"), ==, 0);
}

static void skip(gconstpointer why)
{
    g_test_skip(why);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    const char *why = NULL;
    if (access("/dev/kvm", R_OK | W_OK) != 0)
        why = "/dev/kvm is not accessible on this host";
    else if (unshare(CLONE_NEWNET) != 0)
        why = "cannot create a network namespace (needs CAP_NET_ADMIN)";
    else if (access("/dev/net/tun", R_OK | W_OK) != 0)
        why = "/dev/net/tun is not accessible";
    if (why) {
        g_test_add_data_func("/net/skipped", why, skip);
        return g_test_run();
    }
    g_test_add_func("/net/tap", test_tap);
    g_test_add_func("/net/frames", test_frames);
    g_test_add_func("/net/mrg", test_mrg);
    g_test_add_func("/net/link", test_link);
    g_test_add_func("/net/suppressed", test_suppressed);
    g_test_add_func("/net/ctrl", test_ctrl);
    g_test_add_func("/net/mq", test_mq);
    g_test_add_func("/net/hostile", test_hostile);
    return g_test_run();
}
