#include "virtio/virtio_net.h"
#include "util/sandbox.h"
#include "net/passt.h"
#include "virtio/virtio_net_proto.h"
#include "virtio/virtio_pci.h"
#include "virtio/virtio_spec.h"
#include "net/tap.h"
#include "vhost/vhost.h"
#include "vhost/vhost_kernel.h"
#include "vmm/vm.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#define NET_QUEUE_SIZE   256
#define CTRL_QUEUE_SIZE  64
#define RX_MAX_ELEMS     64      /* buffers one merged frame may span */
#define BATCH            64      /* frames per direction before publishing */
#define NET_IOV_MAX      IOV_MAX
#define RX_STARVE_US     20000   /* rx kicks off while frames wait this long */
#define RX_LOOK_MAX_US   1000    /* longest step between looks at a starved ring */

typedef struct {
    uint64_t rx_bytes, rx_pkts, rx_errs, rx_drop;
    uint64_t tx_bytes, tx_pkts, tx_errs, tx_drop;
} PairCounters;

typedef struct {
    VmmVirtioNet *net;
    unsigned index;
    int tap_fd;
    int stop_fd;
    int epoll_fd;
    GThread *thread;
    bool tap_armed;              /* tap fd in the epoll set (rx buffers wanted) */
    VmmVirtqElem *rx;            /* RX_MAX_ELEMS */
    VmmVirtqElem *tx;
    struct iovec iov[NET_IOV_MAX];
    VmmStreamRx *srx;            /* stream back end (passt): frames read ahead */
    uint8_t *junk;               /* frames dropped unread land here (made on first use) */
    bool rx_starved;             /* frames wait for rx buffers, kicks still off */
    gint64 rx_starved_at;        /* when the rx ring last ran dry after progress */
    gint64 rx_look_us;           /* step to the next look at the starved ring */
    PairCounters c;              /* written by the pair's thread, atomics */
} NetPair;

struct VmmVirtioNet {
    VmmVm *vm;
    VmmVirtioDev *vdev;
    char *name;
    uint8_t mac[6];
    unsigned mtu;
    unsigned npairs;
    NetPair *pairs;
    unsigned tap_offloads;
    uint64_t features;           /* negotiated (atomic reads from stats) */
    unsigned ctrl_index;         /* controlq: 2 * pairs used by the driver */
    unsigned active_pairs;       /* VQ_PAIRS_SET */
    gint link_up;
    uint64_t ctrl_errs;
    gint warned;                 /* one log line per kind of guest error */
    GMutex filter_lock;
    VmmNetRxFilter filter;
    VmmVirtqElem *ctrl_elem;
    gint64 rx_look_us;           /* first step of the looks at a starved rx ring, 0 = off */
    const struct NetBackend *be;   /* what moves the rx/tx frames */
    /* vhost back end: serves the rx/tx queues; the threads serve only the
     * control queue. vhost_kernel: vhost-net on tap_fd of pair 0. */
    VmmVhostDev *vhost;
    bool vhost_kernel;
};

/* The seam between the device model (config space, features, control
 * queue, statistics: the same for every back end) and what moves the
 * frames of the rx/tx queues: the I/O threads on a tap or passt's socket,
 * or a vhost back end. */
typedef struct NetBackend {
    /* DRIVER_OK: the rings of the first used_pairs pairs (and the control
     * queue) are set up. Starts moving frames, and the control queue's
     * thread. */
    bool (*start)(VmmVirtioNet *n, unsigned used_pairs, GError **err);
    /* Reset, after the threads are joined: nothing moves frames after. */
    void (*stop)(VmmVirtioNet *n);
    /* n->active_pairs (VQ_PAIRS_SET) or the link changed. */
    void (*update)(VmmVirtioNet *n, bool running);
} NetBackend;

#define WARN_TX   1
#define WARN_RX   2
#define WARN_CTRL 4

static void count(uint64_t *c, uint64_t v)
{
    __atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

/* Hostile input is counted every time, logged once per kind. */
static void guest_error(VmmVirtioNet *n, int kind, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void guest_error(VmmVirtioNet *n, int kind, const char *fmt, ...)
{
    if (g_atomic_int_or(&n->warned, kind) & kind)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vmm_log_warn("virtio-net %s: %s (counted in the error statistics; logged once)", n->name, msg);
}

static bool has(VmmVirtioNet *n, unsigned feature)
{
    return n->features & VNET_BIT(feature);
}

static VmmVirtq *vq_of(VmmVirtioNet *n, unsigned qi)
{
    return &n->vdev->queues[qi].vq;
}

static void publish(VmmVirtioNet *n, unsigned qi)
{
    VmmVirtq *vq = vq_of(n, qi);
    vmm_virtq_flush(vq);
    if (vmm_virtq_should_notify(vq))
        vmm_virtio_notify(n->vdev, qi);
}

static void arm_tap(NetPair *p, bool on)
{
    if (p->tap_armed == on)
        return;
    struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.u32 = 2 };
    epoll_ctl(p->epoll_fd, EPOLL_CTL_MOD, p->tap_fd, &ev);
    p->tap_armed = on;
}

/* Next element of a queue the device drains completely (tx, control):
 * false when it is empty with notifications re-armed, or broken (then
 * counted in *errs and the device needs a reset). */
static bool pop_next(VmmVirtioNet *n, VmmVirtq *vq, VmmVirtqElem *e, const char *what,
                     unsigned index, uint64_t *errs)
{
    while (!vmm_virtio_broken(n->vdev)) {
        g_autoptr(GError) err = NULL;
        int rc = vmm_virtq_pop(vq, e, &err);
        if (rc > 0)
            return true;
        if (rc < 0) {
            count(errs, 1);
            vmm_virtio_needs_reset(n->vdev, "%s queue %u: %s", what, index, err->message);
            return false;
        }
        if (!vmm_virtq_enable_notification(vq))
            return false;
        vmm_virtq_disable_notification(vq);
    }
    return false;
}

/* ---- transmit: guest -> tap --------------------------------------------- */

static void tx_one(NetPair *p, VmmVirtqElem *e)
{
    VmmVirtioNet *n = p->net;
    uint8_t raw[VIRTIO_NET_HDR_LEN];
    if (e->in_bytes || e->out_bytes < VIRTIO_NET_HDR_LEN) {
        count(&p->c.tx_errs, 1);
        guest_error(n, WARN_TX, "tx queue %u: chain %u has %s", p->index, e->head,
                    e->in_bytes ? "device-writable buffers" : "no room for the vnet header");
        return;
    }
    vmm_virtq_elem_read(e, 0, raw, sizeof(raw));
    VmmVnetHdr h;
    vmm_vnet_hdr_decode(raw, &h);
    size_t frame = e->out_bytes - VIRTIO_NET_HDR_LEN;
    const char *why;
    if (!vmm_vnet_hdr_check_tx(&h, n->features, frame, n->mtu, &why)) {
        count(&p->c.tx_errs, 1);
        guest_error(n, WARN_TX, "tx queue %u: frame dropped: %s", p->index, why);
        return;
    }
    if (!g_atomic_int_get(&n->link_up)) {
        count(&p->c.tx_drop, 1);
        return;
    }
    /* The kernel gets our checked copy of the header, the payload straight
     * from the guest's buffers. */
    h.num_buffers = 0;
    vmm_vnet_hdr_encode(&h, raw);
    p->iov[0] = (struct iovec){ raw, sizeof(raw) };
    unsigned cnt = 1 + vmm_virtq_elem_iov(e, false, VIRTIO_NET_HDR_LEN, frame, p->iov + 1,
                                          NET_IOV_MAX - 1);
    size_t got = 0;
    for (unsigned i = 1; i < cnt; i++)
        got += p->iov[i].iov_len;
    if (got != frame) {
        count(&p->c.tx_errs, 1);
        guest_error(n, WARN_TX, "tx queue %u: frame in more than %u pieces", p->index, NET_IOV_MAX - 1);
        return;
    }
    ssize_t w = p->srx ? vmm_stream_tx(p->tap_fd, p->iov + 1, (int)cnt - 1)
                       : writev(p->tap_fd, p->iov, cnt);
    if (w < 0) {
        /* EAGAIN: the tap's queue is full; EINVAL and friends: the kernel
         * refused the frame. Either way it is gone. */
        count(errno == EAGAIN || errno == ENOBUFS ? &p->c.tx_drop : &p->c.tx_errs, 1);
        return;
    }
    count(&p->c.tx_pkts, 1);
    count(&p->c.tx_bytes, frame);
}

static void process_tx(NetPair *p)
{
    VmmVirtioNet *n = p->net;
    unsigned qi = 2 * p->index + 1;
    VmmVirtq *vq = vq_of(n, qi);
    unsigned done = 0;
    vmm_virtq_disable_notification(vq);
    while (pop_next(n, vq, p->tx, "tx", p->index, &p->c.tx_errs)) {
        tx_one(p, p->tx);
        vmm_virtq_push(vq, p->tx, 0);
        if (++done % BATCH == 0)
            publish(n, qi);
    }
    publish(n, qi);
}

/* ---- receive: tap -> guest ------------------------------------------------ */

static size_t rx_max_frame(VmmVirtioNet *n)
{
    bool gso = has(n, VIRTIO_NET_F_GUEST_TSO4) || has(n, VIRTIO_NET_F_GUEST_TSO6) ||
               has(n, VIRTIO_NET_F_GUEST_UFO);
    return VIRTIO_NET_HDR_LEN + (gso ? VNET_MAX_GSO_FRAME : n->mtu + ETH_HLEN_VNET + VLAN_HLEN_VNET);
}

/* The stream back end's readv: the next whole frame, after an all-zero
 * vnet header (passt computes its checksums itself), copied into iov; -1
 * with EAGAIN when no whole frame has arrived yet, with EPIPE when the
 * peer is gone or broke the framing. */
static ssize_t stream_readv(NetPair *p, const struct iovec *iov, unsigned cnt)
{
    const uint8_t *f;
    size_t len;
    int r = vmm_stream_rx_next(p->srx, &f, &len);
    if (r == 0) {
        ssize_t got = vmm_stream_rx_fill(p->srx, p->tap_fd);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
            errno = EPIPE;
            return -1;
        }
        r = vmm_stream_rx_next(p->srx, &f, &len);
    }
    if (r <= 0) {
        errno = r < 0 ? EPIPE : EAGAIN;
        return -1;
    }
    static const uint8_t zero_hdr[VIRTIO_NET_HDR_LEN];
    size_t done = 0, src = 0, total = VIRTIO_NET_HDR_LEN + len;
    for (unsigned i = 0; i < cnt && done < total; i++) {
        size_t room = iov[i].iov_len;
        uint8_t *dst = iov[i].iov_base;
        while (room && done < total) {
            const uint8_t *from = done < VIRTIO_NET_HDR_LEN ? zero_hdr + done : f + src;
            size_t n = done < VIRTIO_NET_HDR_LEN ? VIRTIO_NET_HDR_LEN - done : len - src;
            n = MIN(n, room);
            memcpy(dst, from, n);
            dst += n;
            room -= n;
            done += n;
            if (done > VIRTIO_NET_HDR_LEN)
                src = done - VIRTIO_NET_HDR_LEN;
        }
    }
    return (ssize_t)done;
}

/* Reads and drops one frame (link down, or guest buffers too small). */
static bool rx_discard(NetPair *p)
{
    /* The pair's own, not a __thread array: glibc clears every thread's
     * static TLS at creation, so 64 KiB there were touched on each vCPU
     * and I/O thread of every VM, with or without a NIC. */
    const size_t len = VIRTIO_NET_HDR_LEN + VNET_MAX_GSO_FRAME;
    if (!p->junk)
        p->junk = g_malloc(len);
    if (p->srx) {
        struct iovec v = { p->junk, len };
        return stream_readv(p, &v, 1) >= 0;
    }
    return read(p->tap_fd, p->junk, len) >= 0;
}

typedef enum { RX_FRAME, RX_NO_FRAME, RX_NO_BUFFERS, RX_BROKEN } RxResult;

static RxResult rx_one(NetPair *p)
{
    VmmVirtioNet *n = p->net;
    unsigned qi = 2 * p->index;
    VmmVirtq *vq = vq_of(n, qi);
    if (!g_atomic_int_get(&n->link_up))
        return rx_discard(p) ? RX_FRAME : RX_NO_FRAME;
    bool mrg = has(n, VIRTIO_NET_F_MRG_RXBUF);
    size_t need = rx_max_frame(n);
    unsigned popped = 0;
    uint64_t room = 0;
    /* Enough buffers for the largest frame: the tap tells no size first. */
    while (room < need && popped < (mrg ? RX_MAX_ELEMS : 1u)) {
        VmmVirtqElem *e = &p->rx[popped];
        g_autoptr(GError) err = NULL;
        int rc = vmm_virtq_pop(vq, e, &err);
        if (rc < 0) {
            count(&p->c.rx_errs, 1);
            vmm_virtio_needs_reset(n->vdev, "rx queue %u: %s", p->index, err->message);
            return RX_BROKEN;
        }
        if (rc == 0)
            break;
        if (e->n_out || e->in_bytes < (popped ? 1 : VIRTIO_NET_HDR_LEN)) {
            /* Unusable: it and the buffers gathered before it go back
             * empty, in ring order (the driver drops zero-length ones). */
            count(&p->c.rx_errs, 1);
            guest_error(n, WARN_RX, "rx queue %u: chain %u %s", p->index, e->head,
                        e->n_out ? "has device-readable buffers" : "is shorter than the vnet header");
            for (unsigned i = 0; i <= popped; i++)
                vmm_virtq_push(vq, &p->rx[i], 0);
            popped = 0;
            room = 0;
            continue;
        }
        room += e->in_bytes;
        popped++;
    }
    if (room < need) {
        /* The ring as a whole is too small for a frame: drop it, count it. */
        bool hopeless = popped == (mrg ? RX_MAX_ELEMS : 1u) || popped == vq->size;
        vmm_virtq_unpop(vq, popped);
        if (hopeless) {
            if (!rx_discard(p))
                return RX_NO_FRAME;
            count(&p->c.rx_errs, 1);
            guest_error(n, WARN_RX, "rx queue %u: buffers of %" G_GUINT64_FORMAT
                        " bytes cannot hold a %zu-byte frame", p->index, room, need);
            return RX_FRAME;
        }
        return RX_NO_BUFFERS;
    }
    uint8_t raw[VIRTIO_NET_HDR_LEN] = { 0 };
    p->iov[0] = (struct iovec){ raw, sizeof(raw) };
    unsigned cnt = 1;
    for (unsigned i = 0; i < popped && cnt < NET_IOV_MAX; i++) {
        size_t off = i ? 0 : VIRTIO_NET_HDR_LEN;
        cnt += vmm_virtq_elem_iov(&p->rx[i], true, off, p->rx[i].in_bytes - off, p->iov + cnt,
                                  NET_IOV_MAX - cnt);
    }
    ssize_t r = p->srx ? stream_readv(p, p->iov, cnt) : readv(p->tap_fd, p->iov, cnt);
    if (r < 0) {
        vmm_virtq_unpop(vq, popped);
        if (errno != EAGAIN && errno != EINTR)
            count(&p->c.rx_errs, 1);
        return RX_NO_FRAME;
    }
    size_t frame = (size_t)r > VIRTIO_NET_HDR_LEN ? (size_t)r - VIRTIO_NET_HDR_LEN : 0;
    /* The destination address, from the guest buffer the kernel just
     * filled (vmm_virtq_elem_read covers only the readable part). */
    uint8_t dst[6] = { 0 };
    struct iovec div[6];
    unsigned dn = vmm_virtq_elem_iov(&p->rx[0], true, VIRTIO_NET_HDR_LEN, sizeof(dst), div, 6);
    for (unsigned i = 0, at = 0; i < dn; at += div[i].iov_len, i++)
        memcpy(dst + at, div[i].iov_base, div[i].iov_len);
    g_mutex_lock(&n->filter_lock);
    bool accept = frame >= ETH_HLEN_VNET && vmm_net_rx_filter_accept(&n->filter, dst);
    g_mutex_unlock(&n->filter_lock);
    if (!accept) {
        vmm_virtq_unpop(vq, popped);
        return RX_FRAME;
    }
    /* Spread the frame over the buffers in order; the rest go back. */
    size_t left = (size_t)r;
    unsigned used = 0;
    while (left && used < popped) {
        size_t take = MIN(left, p->rx[used].in_bytes);
        left -= take;
        used++;
    }
    VmmVnetHdr h;
    vmm_vnet_hdr_decode(raw, &h);
    h.num_buffers = used;
    vmm_vnet_hdr_encode(&h, raw);
    vmm_virtq_elem_write(&p->rx[0], 0, raw, sizeof(raw));
    left = (size_t)r;
    for (unsigned i = 0; i < used; i++) {
        size_t take = MIN(left, p->rx[i].in_bytes);
        vmm_virtq_push(vq, &p->rx[i], take);
        left -= take;
    }
    vmm_virtq_unpop(vq, popped - used);
    count(&p->c.rx_pkts, 1);
    count(&p->c.rx_bytes, frame);
    return RX_FRAME;
}

/* rearm: when the driver's buffers run out, ask for a kick; without it
 * kicks stay off and the pair thread looks at the ring (rx_starving). */
static void process_rx(NetPair *p, bool rearm)
{
    VmmVirtioNet *n = p->net;
    unsigned qi = 2 * p->index;
    VmmVirtq *vq = vq_of(n, qi);
    unsigned done = 0;
    p->rx_starved = false;
    vmm_virtq_disable_notification(vq);
    for (;;) {
        if (vmm_virtio_broken(n->vdev)) {
            arm_tap(p, false);
            break;
        }
        RxResult r = rx_one(p);
        if (r == RX_FRAME) {
            if (++done % BATCH == 0)
                publish(n, qi);
            continue;
        }
        if (r == RX_NO_BUFFERS) {
            /* Wait for the driver's kick; the tap keeps its frames. */
            if (!rearm) {
                if (done || !p->rx_starved_at) {
                    p->rx_starved_at = g_get_monotonic_time();
                    p->rx_look_us = n->rx_look_us;
                }
                p->rx_starved = true;
                arm_tap(p, false);
                break;
            }
            if (vmm_virtq_enable_notification(vq)) {
                vmm_virtq_disable_notification(vq);
                continue;
            }
            arm_tap(p, false);
            break;
        }
        if (r == RX_NO_FRAME)
            arm_tap(p, true);
        break;
    }
    if (!p->rx_starved)
        p->rx_starved_at = 0;
    /* Rx kicks stay off while buffers last: only running out (above)
     * asks the driver for one, which saves an exit per refill. */
    publish(n, qi);
}

/* ---- control queue ------------------------------------------------------- */

static void set_active_pairs(VmmVirtioNet *n, unsigned pairs)
{
    n->active_pairs = pairs;
    n->be->update(n, n->vdev->running);
}

static void ctrl_one(VmmVirtioNet *n, VmmVirtqElem *e)
{
    /* on the heap, not in static TLS (see rx_discard); commands are rare */
    g_autofree uint8_t *buf = g_malloc(VMM_NET_CTRL_MAX_LEN);
    uint8_t ack = VIRTIO_NET_ERR;
    const char *why = NULL;
    VmmNetCtrlResult res = { 0 };
    if (e->in_bytes < 1) {
        why = "command without room for the ack byte";
    } else if (e->out_bytes > VMM_NET_CTRL_MAX_LEN) {
        why = "command longer than any the device knows";
    } else {
        size_t len = vmm_virtq_elem_read(e, 0, buf, e->out_bytes);
        VmmNetCtrlLimits lim = { .features = n->features, .max_pairs = n->npairs };
        g_mutex_lock(&n->filter_lock);
        ack = vmm_net_ctrl_apply(buf, len, &lim, &n->filter, &res, &why);
        uint8_t mac[6];
        memcpy(mac, n->filter.mac, 6);
        g_mutex_unlock(&n->filter_lock);
        if (ack == VIRTIO_NET_OK && res.cls == VIRTIO_NET_CTRL_MAC &&
            res.cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
            /* The config space shows the address in use, as QEMU does. */
            g_mutex_lock(&n->vdev->lock);
            memcpy(n->vdev->config + VIRTIO_NET_CFG_MAC, mac, 6);
            g_mutex_unlock(&n->vdev->lock);
        }
        if (ack == VIRTIO_NET_OK && res.pairs)
            set_active_pairs(n, res.pairs);
    }
    if (ack != VIRTIO_NET_OK) {
        count(&n->ctrl_errs, 1);
        guest_error(n, WARN_CTRL, "control queue: %s", why);
    }
    if (e->in_bytes)
        vmm_virtq_elem_write(e, 0, &ack, 1);
}

static void process_ctrl(VmmVirtioNet *n)
{
    VmmVirtq *vq = vq_of(n, n->ctrl_index);
    vmm_virtq_disable_notification(vq);
    while (pop_next(n, vq, n->ctrl_elem, "control", 0, &n->ctrl_errs)) {
        ctrl_one(n, n->ctrl_elem);
        vmm_virtq_push(vq, n->ctrl_elem, n->ctrl_elem->in_bytes ? 1 : 0);
    }
    publish(n, n->ctrl_index);
}

/* ---- the pair threads ---------------------------------------------------- */

static void drain(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof(v)) > 0)
        ;
}

/* Frames wait for rx buffers: a kick on the first refill would make
 * every refill an exit, which slows the driver so much that the ring stays
 * empty (one exit a frame). So the pair thread keeps kicks off and looks
 * at the ring itself while frames wait, after rx_look_us, then at doubling
 * steps up to RX_LOOK_MAX_US (a vCPU that lost its CPU for a few ms on a
 * busy host finds no kick to pay when it comes back), and asks for a kick
 * only once the driver added nothing for RX_STARVE_US. It sleeps between
 * looks: spinning took CPU time from the vCPUs on a busy host. */
static void rx_starving(NetPair *p, gint64 now)
{
    if (now - p->rx_starved_at >= RX_STARVE_US)
        process_rx(p, true);
}

static gpointer pair_thread(gpointer data)
{
    vmm_seccomp_enter_thread(VMM_THREAD_NET);
    NetPair *p = data;
    VmmVirtioNet *n = p->net;
    VmmVirtioDev *d = n->vdev;
    unsigned rxq = 2 * p->index, txq = rxq + 1;
    bool ctrl = p->index == 0 && has(n, VIRTIO_NET_F_CTRL_VQ) && d->queues[n->ctrl_index].enabled;
    /* with a vhost back end, the rings are the back end's */
    bool rx_on = !n->vhost && d->queues[rxq].enabled, tx_on = !n->vhost && d->queues[txq].enabled;
    struct epoll_event ev = { .events = EPOLLIN };
    if (rx_on) {
        ev.data.u32 = 0;
        epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, d->queues[rxq].kick_fd, &ev);
    }
    if (tx_on) {
        ev.data.u32 = 1;
        epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, d->queues[txq].kick_fd, &ev);
    }
    ev.data.u32 = 2;
    ev.events = 0;
    if (!n->vhost)
        epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, p->tap_fd, &ev);
    p->tap_armed = false;
    ev.events = EPOLLIN;
    ev.data.u32 = 3;
    epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, p->stop_fd, &ev);
    if (ctrl) {
        ev.data.u32 = 4;
        epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, d->queues[n->ctrl_index].kick_fd, &ev);
        process_ctrl(n);
    }
    p->rx_starved = false;
    p->rx_starved_at = 0;
    /* Whatever the driver queued before DRIVER_OK. */
    bool rearm = !n->rx_look_us;
    if (tx_on)
        process_tx(p);
    if (rx_on)
        process_rx(p, rearm);
    for (bool stop = false; !stop;) {
        struct epoll_event evs[5];
        gint64 look = MAX(p->rx_look_us, 1);
        struct timespec step = { look / G_USEC_PER_SEC, look % G_USEC_PER_SEC * 1000 };
        int cnt = epoll_pwait2(p->epoll_fd, evs, G_N_ELEMENTS(evs), p->rx_starved ? &step : NULL,
                               NULL);
        if (cnt < 0 && errno == EINTR)
            continue;
        if (cnt == 0 && p->rx_starved) {
            /* A look at the ring of a starved rx queue (see rx_starving). */
            if (vmm_virtq_avail_pending(vq_of(n, rxq))) {
                process_rx(p, false);
            } else {
                p->rx_look_us = MIN(2 * p->rx_look_us, RX_LOOK_MAX_US);
                rx_starving(p, g_get_monotonic_time());
            }
        }
        for (int i = 0; i < cnt; i++) {
            switch (evs[i].data.u32) {
            case 0: drain(d->queues[rxq].kick_fd); process_rx(p, rearm); break;
            case 1: drain(d->queues[txq].kick_fd); process_tx(p); break;
            case 2: process_rx(p, rearm); break;
            case 3: stop = true; break;
            case 4: drain(d->queues[n->ctrl_index].kick_fd); process_ctrl(n); break;
            }
        }
    }
    /* Leave the epoll set empty for the next start. */
    if (!n->vhost)
        epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, p->tap_fd, NULL);
    epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, p->stop_fd, NULL);
    if (rx_on)
        epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, d->queues[rxq].kick_fd, NULL);
    if (tx_on)
        epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, d->queues[txq].kick_fd, NULL);
    if (ctrl)
        epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, d->queues[n->ctrl_index].kick_fd, NULL);
    return NULL;
}

/* ---- virtio device ops --------------------------------------------------- */

static unsigned tun_offloads(uint64_t f)
{
    unsigned t = 0;
    if (f & VNET_BIT(VIRTIO_NET_F_GUEST_CSUM)) t |= TUN_F_CSUM;
    if (f & VNET_BIT(VIRTIO_NET_F_GUEST_TSO4)) t |= TUN_F_TSO4;
    if (f & VNET_BIT(VIRTIO_NET_F_GUEST_TSO6)) t |= TUN_F_TSO6;
    if (f & VNET_BIT(VIRTIO_NET_F_GUEST_ECN)) t |= TUN_F_TSO_ECN;
    if (f & VNET_BIT(VIRTIO_NET_F_GUEST_UFO)) t |= TUN_F_UFO;
    return t;
}

static bool net_features_ok(VmmVirtioDev *d, uint64_t features)
{
    VmmVirtioNet *n = d->opaque;
    const char *why;
    if (!vmm_net_features_valid(features, &why)) {
        guest_error(n, WARN_CTRL, "features refused: %s", why);
        return false;
    }
    /* The tap hands the guest only what it negotiated. */
    for (unsigned i = 0; i < n->npairs && !n->pairs[i].srx && n->pairs[i].tap_fd >= 0; i++) {
        g_autoptr(GError) err = NULL;
        if (!vmm_tap_set_offload(n->pairs[i].tap_fd, n->name, tun_offloads(features), &err)) {
            vmm_log_warn("virtio-net %s: %s", n->name, err->message);
            return false;
        }
    }
    __atomic_store_n(&n->features, features, __ATOMIC_RELEASE);
    return true;
}

/* ---- back end: the I/O threads ------------------------------------------- */

static void start_thread(NetPair *p, const char *what)
{
    drain(p->stop_fd);
    g_autofree char *name = g_strdup_printf("net-%s-%s%u", p->net->name, what, p->index);
    p->thread = g_thread_new(name, pair_thread, p);
}

/* One thread per queue pair; the tap's queues follow VQ_PAIRS_SET. */
static void threads_update(VmmVirtioNet *n, bool running)
{
    (void)running;
    for (unsigned i = 0; i < n->npairs && !n->pairs[i].srx; i++) {
        g_autoptr(GError) err = NULL;
        if (!vmm_tap_enable_queue(n->pairs[i].tap_fd, n->name, i < n->active_pairs, &err))
            vmm_log_warn("virtio-net %s: %s", n->name, err->message);
    }
}

static bool threads_start(VmmVirtioNet *n, unsigned used_pairs, GError **err)
{
    (void)err;
    VmmVirtioDev *d = n->vdev;
    /* 5.1.6.5.5: only the first pair until VQ_PAIRS_SET. */
    set_active_pairs(n, 1);
    for (unsigned i = 0; i < used_pairs; i++) {
        if (!d->queues[2 * i].enabled && !d->queues[2 * i + 1].enabled &&
            !(i == 0 && d->queues[n->ctrl_index].enabled))
            continue;
        start_thread(&n->pairs[i], "q");
    }
    return true;
}

static void threads_stop(VmmVirtioNet *n)
{
    (void)n;
}

static const NetBackend threads_backend = { threads_start, threads_stop, threads_update };

/* ---- back end: vhost (vhost-user, or the kernel's vhost-net) -------------- */

/* The back end moves frames on the rings of the active pairs while the
 * link is up; the kernel's vhost-net has no ring enable and gets the tap
 * detached instead. The control queue's thread and domif-setlink may race:
 * the last call wins, with the current state. */
static void vhost_update(VmmVirtioNet *n, bool running)
{
    if (!running || !n->vhost)
        return;
    bool up = g_atomic_int_get(&n->link_up);
    for (unsigned i = 0; i < n->npairs; i++) {
        bool on = up && i < n->active_pairs;
        for (unsigned q = 2 * i; q < 2 * i + 2; q++) {
            g_autoptr(GError) err = NULL;
            bool ok = n->vhost_kernel
                ? i > 0 || vmm_vhost_kernel_net_set_backend(n->vhost, q,
                                                            on ? n->pairs[0].tap_fd : -1, &err)
                : vmm_vhost_enable_queue(n->vhost, q, on, &err);
            if (!ok)
                vmm_log_warn("virtio-net %s: %s", n->name, err->message);
        }
    }
}

static bool vhost_start(VmmVirtioNet *n, unsigned used_pairs, GError **err)
{
    VmmVirtioDev *d = n->vdev;
    /* The data queues go to the back end (fresh rings: the driver just
     * set them up), the control queue stays here. */
    if (!vmm_vhost_start_range(n->vhost, d, 0, 2 * used_pairs, NULL, err))
        return false;
    n->active_pairs = 1;
    vhost_update(n, true);   /* the tap, or the first pair only */
    if (has(n, VIRTIO_NET_F_CTRL_VQ) && d->queues[n->ctrl_index].enabled)
        start_thread(&n->pairs[0], "ctrl");
    return true;
}

static void vhost_stop(VmmVirtioNet *n)
{
    if (!n->vhost)
        return;   /* vmm_virtio_net_free closed it first */
    if (n->vhost_kernel)
        for (unsigned q = 0; q < 2; q++)
            vmm_vhost_kernel_net_set_backend(n->vhost, q, -1, NULL);
    vmm_vhost_stop(n->vhost, NULL, 0);
}

static const NetBackend vhost_backend = { vhost_start, vhost_stop, vhost_update };

/* ---- virtio device ops, continued ---------------------------------------- */

static bool net_start(VmmVirtioDev *d, GError **err)
{
    VmmVirtioNet *n = d->opaque;
    bool mq = has(n, VIRTIO_NET_F_MQ);
    /* 5.1.2: the control queue follows the pairs the driver uses. */
    unsigned used_pairs = mq ? n->npairs : 1;
    n->ctrl_index = 2 * used_pairs;
    return n->be->start(n, used_pairs, err);
}

static void stop_threads(VmmVirtioNet *n)
{
    for (unsigned i = 0; i < n->npairs; i++) {
        NetPair *p = &n->pairs[i];
        if (!p->thread)
            continue;
        uint64_t one = 1;
        if (write(p->stop_fd, &one, sizeof(one)) < 0)
            vmm_log_warn("virtio-net %s: cannot stop queue pair %u: %s", n->name, i, g_strerror(errno));
        g_thread_join(p->thread);
        p->thread = NULL;
    }
}

static void net_stop(VmmVirtioDev *d)
{
    VmmVirtioNet *n = d->opaque;
    stop_threads(n);
    n->be->stop(n);
    /* Reset state: a new driver starts promiscuous with all tap queues. */
    g_mutex_lock(&n->filter_lock);
    vmm_net_rx_filter_reset(&n->filter, n->mac);
    g_mutex_unlock(&n->filter_lock);
    set_active_pairs(n, n->npairs);
    __atomic_store_n(&n->features, 0, __ATOMIC_RELEASE);
}

static void net_irq_changed(VmmVirtioDev *d)
{
    VmmVirtioNet *n = d->opaque;
    vmm_vhost_irq_changed(n->vhost);
}

static const VmmVirtioOps net_ops = {
    .name = "virtio-net",
    .virtio_id = 1,
    .pci_class = 0x020000,
    .features_ok = net_features_ok,
    .start = net_start,
    .stop = net_stop,
    .irq_changed = net_irq_changed,
};

/* With a vhost back end, these bits are the back end's to do (QEMU's
 * user_feature_bits and kernel_feature_bits in hw/net/vhost_net.c): offered
 * only when the back end offers them. The rest (MAC, STATUS, the control
 * queue) the front end serves itself; the kernel's vhost-net leaves the
 * offloads to the tap. */
#define VHOST_COMMON_BITS                                                                   \
    (VNET_BIT(VIRTIO_F_INDIRECT_DESC) | VNET_BIT(VIRTIO_F_EVENT_IDX) |                     \
     VNET_BIT(VIRTIO_NET_F_MRG_RXBUF) | VNET_BIT(VIRTIO_NET_F_MTU))
#define VHOST_USER_BITS                                                                     \
    (VHOST_COMMON_BITS | VNET_BIT(VIRTIO_NET_F_CSUM) | VNET_BIT(VIRTIO_NET_F_GUEST_CSUM) |   \
     VNET_BIT(VIRTIO_NET_F_GUEST_TSO4) | VNET_BIT(VIRTIO_NET_F_GUEST_TSO6) |                 \
     VNET_BIT(VIRTIO_NET_F_GUEST_ECN) | VNET_BIT(VIRTIO_NET_F_GUEST_UFO) |                   \
     VNET_BIT(VIRTIO_NET_F_HOST_TSO4) | VNET_BIT(VIRTIO_NET_F_HOST_TSO6) |                   \
     VNET_BIT(VIRTIO_NET_F_HOST_ECN) | VNET_BIT(VIRTIO_NET_F_HOST_UFO) |                     \
     VNET_BIT(VIRTIO_NET_F_MQ))

/* Offered features: everything the tap (or vhost back end) can do, minus
 * what the configuration disables, minus what then lost its dependency. */
static uint64_t offered_features(unsigned tap_offloads, const VmmNetConfig *cfg)
{
    uint64_t f = VNET_BIT(VIRTIO_NET_F_MAC) | VNET_BIT(VIRTIO_NET_F_STATUS) |
                 VNET_BIT(VIRTIO_NET_F_MRG_RXBUF) | VNET_BIT(VIRTIO_NET_F_CTRL_VQ) |
                 VNET_BIT(VIRTIO_NET_F_CTRL_RX) | VNET_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR) |
                 VNET_BIT(VIRTIO_NET_F_CSUM) | VNET_BIT(VIRTIO_NET_F_HOST_TSO4) |
                 VNET_BIT(VIRTIO_NET_F_HOST_TSO6) | VNET_BIT(VIRTIO_NET_F_HOST_ECN) |
                 (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
    if (cfg->mtu)
        f |= VNET_BIT(VIRTIO_NET_F_MTU);
    if (cfg->queue_pairs > 1)
        f |= VNET_BIT(VIRTIO_NET_F_MQ);
    if (tap_offloads & TUN_F_UFO)
        f |= VNET_BIT(VIRTIO_NET_F_HOST_UFO) | VNET_BIT(VIRTIO_NET_F_GUEST_UFO);
    if (tap_offloads & TUN_F_CSUM)
        f |= VNET_BIT(VIRTIO_NET_F_GUEST_CSUM);
    if (tap_offloads & TUN_F_TSO4)
        f |= VNET_BIT(VIRTIO_NET_F_GUEST_TSO4);
    if (tap_offloads & TUN_F_TSO6)
        f |= VNET_BIT(VIRTIO_NET_F_GUEST_TSO6);
    if (tap_offloads & TUN_F_TSO_ECN)
        f |= VNET_BIT(VIRTIO_NET_F_GUEST_ECN);
    if (cfg->stream)
        /* no vnet header on the stream: no checksum or segmentation work
         * can be handed across it */
        f &= ~(VNET_BIT(VIRTIO_NET_F_CSUM) | VNET_BIT(VIRTIO_NET_F_HOST_TSO4) |
               VNET_BIT(VIRTIO_NET_F_HOST_TSO6) | VNET_BIT(VIRTIO_NET_F_HOST_ECN) |
               VNET_BIT(VIRTIO_NET_F_HOST_UFO) | VNET_BIT(VIRTIO_NET_F_GUEST_CSUM) |
               VNET_BIT(VIRTIO_NET_F_GUEST_TSO4) | VNET_BIT(VIRTIO_NET_F_GUEST_TSO6) |
               VNET_BIT(VIRTIO_NET_F_GUEST_ECN) | VNET_BIT(VIRTIO_NET_F_GUEST_UFO));
    if (cfg->vhost) {
        uint64_t theirs = vmm_vhost_features(cfg->vhost);
        uint64_t bits = cfg->tap_fds ? VHOST_COMMON_BITS : VHOST_USER_BITS;
        f &= ~(bits & ~theirs);
    }
    return vmm_net_features_fixup(f & ~cfg->disabled_features);
}

static bool valid_queue_size(unsigned s)
{
    return s >= 2 && s <= VMM_VIRTQ_MAX_BUFS && !(s & (s - 1));
}

/* The back end went away: the device cannot move frames any more. The
 * guest sees NEEDS_RESET; the worker and the other devices keep running. */
static void vhost_gone(void *opaque)
{
    VmmVirtioNet *n = opaque;
    vmm_virtio_backend_failed(n->vdev, "%s: the vhost back end hung up", vmm_vhost_name(n->vhost));
}

VmmVirtioNet *vmm_virtio_net_new(VmmVm *vm, const VmmNetConfig *cfg, GError **err)
{
    const char *name = cfg->name ? cfg->name : "net";
    unsigned rxs = cfg->rx_queue_size ? cfg->rx_queue_size : NET_QUEUE_SIZE;
    unsigned txs = cfg->tx_queue_size ? cfg->tx_queue_size : NET_QUEUE_SIZE;
    if (cfg->queue_pairs < 1 || cfg->queue_pairs > VMM_NET_MAX_PAIRS ||
        (cfg->stream && cfg->queue_pairs != 1)) {
        g_set_error(err, VMM_ERROR, 0, "virtio-net %s: %u queue pairs, the limit is 1..%u", name,
                    cfg->queue_pairs, VMM_NET_MAX_PAIRS);
        return NULL;
    }
    if (!valid_queue_size(rxs) || !valid_queue_size(txs)) {
        g_set_error(err, VMM_ERROR, 0, "virtio-net %s: queue sizes %u/%u: each must be a power "
                    "of two from 2 to %u", name, rxs, txs, VMM_VIRTQ_MAX_BUFS);
        return NULL;
    }
    if (cfg->vhost && cfg->tap_fds && cfg->queue_pairs != 1) {
        /* one /dev/vhost-net per pair would be needed */
        g_set_error(err, VMM_ERROR, 0, "virtio-net %s: the kernel's vhost-net back end serves "
                    "one queue pair here, %u asked for (use <driver name='qemu'>)", name,
                    cfg->queue_pairs);
        return NULL;
    }
    if (cfg->vhost && !cfg->tap_fds && 2 * cfg->queue_pairs > vmm_vhost_max_queues(cfg->vhost)) {
        g_set_error(err, VMM_ERROR, 0, "virtio-net %s: %u queue pairs asked for, the vhost-user "
                    "back end serves %u queues (%u pairs)", name, cfg->queue_pairs,
                    vmm_vhost_max_queues(cfg->vhost), vmm_vhost_max_queues(cfg->vhost) / 2);
        return NULL;
    }
    if (cfg->vhost && !(vmm_vhost_features(cfg->vhost) & VIRTIO_F_VERSION_1_BIT)) {
        g_set_error(err, VMM_ERROR, 0, "virtio-net %s: the vhost back end %s does not offer "
                    "VIRTIO_F_VERSION_1 (vmm-worker's devices are virtio 1.x only)", name,
                    vmm_vhost_name(cfg->vhost));
        return NULL;
    }
    if (cfg->mtu && (cfg->mtu < 68 || cfg->mtu > 65535)) {
        g_set_error(err, VMM_ERROR, 0, "virtio-net %s: MTU %u outside 68..65535", name, cfg->mtu);
        return NULL;
    }
    VmmVirtioNet *n = g_new0(VmmVirtioNet, 1);
    n->vm = vm;
    n->name = g_strdup(name);
    memcpy(n->mac, cfg->mac, 6);
    n->mtu = cfg->mtu ? cfg->mtu : 1500;
    n->npairs = cfg->queue_pairs;
    n->be = cfg->vhost ? &vhost_backend : &threads_backend;
    g_mutex_init(&n->filter_lock);
    vmm_net_rx_filter_reset(&n->filter, n->mac);
    g_atomic_int_set(&n->link_up, !cfg->link_down);
    n->pairs = g_new0(NetPair, n->npairs);
    for (unsigned i = 0; i < n->npairs; i++) {
        NetPair *p = &n->pairs[i];
        p->net = n;
        p->index = i;
        p->tap_fd = cfg->tap_fds ? cfg->tap_fds[i] : -1;
        if (cfg->stream) {
            p->srx = g_new0(VmmStreamRx, 1);
            fcntl(p->tap_fd, F_SETFL, fcntl(p->tap_fd, F_GETFL) | O_NONBLOCK);
        }
        p->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        p->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        p->rx = g_new(VmmVirtqElem, RX_MAX_ELEMS);
        p->tx = g_new(VmmVirtqElem, 1);
        if (p->stop_fd < 0 || p->epoll_fd < 0) {
            g_set_error(err, VMM_ERROR, 0, "virtio-net %s: eventfd/epoll: %s", name, g_strerror(errno));
            vmm_virtio_net_free(n);
            return NULL;
        }
    }
    n->ctrl_elem = g_new(VmmVirtqElem, 1);
    /* VMM_NET_RX_LOOK_US overrides the first step (0 = kick at once),
     * documented in vmmd(8). */
    const char *look = g_getenv("VMM_NET_RX_LOOK_US");
    n->rx_look_us = look ? (gint64)g_ascii_strtoull(look, NULL, 10) : 32;
    /* vhost-user: the back end's features decide the offloads (below) */
    n->tap_offloads = cfg->stream ? 0
                      : cfg->tap_fds ? vmm_tap_probe_offloads(cfg->tap_fds[0])
                                     : TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN |
                                       TUN_F_UFO;
    uint64_t f = offered_features(n->tap_offloads, cfg);
    unsigned nq = 2 * n->npairs + 1;
    g_autofree char *devname = g_strdup_printf("virtio-net %s", name);
    n->vdev = vmm_virtio_pci_new(vm, &net_ops, n, devname, nq, MAX(rxs, txs), f,
                                 VIRTIO_NET_CFG_SIZE, cfg->pci_slot, err);
    if (!n->vdev) {
        vmm_virtio_net_free(n);
        return NULL;
    }
    if (cfg->vhost) {
        n->vhost = cfg->vhost;
        n->vhost_kernel = cfg->tap_fds != NULL;
        vmm_vhost_set_disconnect_handler(n->vhost, vhost_gone, n);
    }
    for (unsigned i = 0; i < nq; i++) {
        VmmVirtioQueue *q = &n->vdev->queues[i];
        q->max_size = q->size = i == nq - 1 ? CTRL_QUEUE_SIZE : (i & 1) ? txs : rxs;
    }
    uint8_t *c = n->vdev->config;
    memcpy(c + VIRTIO_NET_CFG_MAC, n->mac, 6);
    pci_set_u16(c + VIRTIO_NET_CFG_STATUS, cfg->link_down ? 0 : VIRTIO_NET_S_LINK_UP);
    pci_set_u16(c + VIRTIO_NET_CFG_MAX_PAIRS, n->npairs);
    pci_set_u16(c + VIRTIO_NET_CFG_MTU, n->mtu);
    return n;
}

void vmm_virtio_net_free(VmmVirtioNet *n)
{
    if (!n)
        return;
    /* The vhost device first (vhost.h): its thread may call vhost_gone on
     * the VmmVirtioDev. The control queue's thread, which talks to it, is
     * stopped before. */
    if (n->vhost) {
        stop_threads(n);
        vmm_vhost_free(n->vhost);
        n->vhost = NULL;
    }
    vmm_virtio_pci_free(n->vdev);   /* stops the pair threads */
    for (unsigned i = 0; n->pairs && i < n->npairs; i++) {
        NetPair *p = &n->pairs[i];
        if (p->stop_fd >= 0)
            close(p->stop_fd);
        if (p->epoll_fd >= 0)
            close(p->epoll_fd);
        g_free(p->rx);
        g_free(p->tx);
        g_free(p->srx);
        g_free(p->junk);
    }
    g_free(n->pairs);
    g_free(n->ctrl_elem);
    g_mutex_clear(&n->filter_lock);
    g_free(n->name);
    g_free(n);
}

void vmm_virtio_net_set_link(VmmVirtioNet *n, bool up)
{
    if (g_atomic_int_exchange(&n->link_up, up) == up)
        return;
    g_mutex_lock(&n->vdev->lock);
    pci_set_u16(n->vdev->config + VIRTIO_NET_CFG_STATUS, up ? VIRTIO_NET_S_LINK_UP : 0);
    bool running = n->vdev->running;
    g_mutex_unlock(&n->vdev->lock);
    n->be->update(n, running);   /* vhost, link down: the back end stops moving frames */
    vmm_virtio_config_changed(n->vdev);
}

bool vmm_virtio_net_get_link(VmmVirtioNet *n)
{
    return g_atomic_int_get(&n->link_up);
}

static void add_pair(VmmNetStats *s, const PairCounters *c)
{
#define LD(f) s->f += __atomic_load_n(&c->f, __ATOMIC_RELAXED)
    LD(rx_bytes); LD(rx_pkts); LD(rx_errs); LD(rx_drop);
    LD(tx_bytes); LD(tx_pkts); LD(tx_errs); LD(tx_drop);
#undef LD
}

unsigned vmm_virtio_net_get_stats(VmmVirtioNet *n, VmmNetStats *total, VmmNetStats *per_pair,
                                  unsigned max)
{
    memset(total, 0, sizeof(*total));
    for (unsigned i = 0; i < n->npairs; i++) {
        add_pair(total, &n->pairs[i].c);
        if (per_pair && i < max) {
            memset(&per_pair[i], 0, sizeof(per_pair[i]));
            add_pair(&per_pair[i], &n->pairs[i].c);
        }
    }
    total->tx_errs += __atomic_load_n(&n->ctrl_errs, __ATOMIC_RELAXED);
    return n->npairs;
}

uint64_t vmm_virtio_net_features(VmmVirtioNet *n)
{
    return __atomic_load_n(&n->features, __ATOMIC_ACQUIRE);
}

const char *vmm_virtio_net_name(VmmVirtioNet *n)
{
    return n->name;
}

VmmVirtioDev *vmm_virtio_net_vdev(VmmVirtioNet *n)
{
    return n->vdev;
}
