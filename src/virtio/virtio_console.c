/* virtio-console with multiport (virtio 1.2 section 5.3): the virtio-serial
 * device libvirt gives a VM for its virtio console and channels.
 *
 * Queues: port 0 receiveq/transmitq are 0 and 1, the control receiveq and
 * transmitq 2 and 3, port N >= 1 uses 2N + 2 and 2N + 3. One I/O thread
 * serves them all: guest output goes straight to the port's chardev
 * (which buffers and drops rather than stall the guest, as the UART does),
 * host input is kept per port until the guest has opened the port and
 * posted buffers (chardev backpressure holds the rest in the socket/pty).
 *
 * Control flow with the driver (5.3.6.2): DEVICE_READY -> a DEVICE_ADD per
 * port; PORT_READY -> CONSOLE_PORT (port 0), PORT_NAME (channels with a
 * name) and PORT_OPEN with the host side's state; PORT_OPEN from the driver
 * says whether the guest has the port open. Host sides that connect or go
 * away later are reported with PORT_OPEN too.
 *
 * A guest that breaks the ring rules puts the device in NEEDS_RESET (as the
 * other virtio devices do); a control message that makes no sense (short,
 * unknown event, a port that does not exist) is logged once per kind and
 * ignored, and the device carries on. */
#include "virtio/virtio_console.h"
#include "virtio/virtio_pci.h"
#include "util/chardev.h"
#include "util/log.h"
#include "vmm/vm.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define CON_QUEUE_SIZE   128
#define CON_IN_BUF       4096     /* host bytes held per port for the guest */
#define CON_MAX_IOV      64
#define CON_CTRL_BACKLOG 1024     /* control messages waiting for driver buffers */

/* 5.3.3 feature bits, 5.3.6.2 control events. */
#define F_MULTIPORT      1
#define F_EMERG_WRITE    2
enum {
    EV_DEVICE_READY = 0, EV_DEVICE_ADD = 1, EV_DEVICE_REMOVE = 2, EV_PORT_READY = 3,
    EV_CONSOLE_PORT = 4, EV_RESIZE = 5, EV_PORT_OPEN = 6, EV_PORT_NAME = 7,
};
#define CTRL_HDR         8        /* le32 id, le16 event, le16 value */
#define CFG_SIZE         12       /* le16 cols, rows; le32 max_nr_ports, emerg_wr */
#define CFG_EMERG_WR     8

#define Q_CTRL_RX        2
#define Q_CTRL_TX        3
static unsigned rxq(unsigned id) { return id ? 2 * id + 2 : 0; }
static unsigned txq(unsigned id) { return id ? 2 * id + 3 : 1; }

/* Complaints logged once per device. */
enum {
    BAD_SHORT_CTRL, BAD_PORT_ID, BAD_EVENT, BAD_VALUE, BAD_CTRL_ROOM, BAD_DRIVER_FAILED,
    BAD_BACKLOG, BAD_N,
};

typedef struct {
    const VmmChannelDef *def;
    VmmChardev *be;
    struct VmmVirtioConsole *con;
    unsigned id;
    bool added;                  /* DEVICE_ADD sent since the last reset */
    bool guest_ready;            /* PORT_READY 1 */
    gint guest_open;             /* PORT_OPEN 1 from the driver (atomic) */
    /* guarded by con->lock */
    bool host_open;
    uint8_t in[CON_IN_BUF];
    size_t in_len;
} Port;

struct VmmVirtioConsole {
    VmmVirtioDev *vdev;
    unsigned nr_ports;
    Port **ports;                /* [nr_ports], NULL where no port is configured */
    bool multiport;              /* negotiated; without it port 0 only, always open */
    int stop_fd, wake_fd;
    GThread *thread;
    VmmVirtqElem *elem;
    GMutex lock;                 /* ports' input and host_open, ctrl */
    GQueue ctrl;                 /* GBytes: control messages for the driver */
    gint complained[BAD_N];
};

static void complain(VmmVirtioConsole *c, int kind, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void complain(VmmVirtioConsole *c, int kind, const char *fmt, ...)
{
    if (!g_atomic_int_compare_and_exchange(&c->complained[kind], 0, 1))
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vmm_log_warn("%s: %s (ignored; logged once)", c->vdev->name, msg);
}

static void wake(VmmVirtioConsole *c)
{
    uint64_t one = 1;
    if (write(c->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        vmm_log_warn("%s: cannot wake its thread: %s", c->vdev->name, g_strerror(errno));
}

static bool queue_ok(VmmVirtioConsole *c, unsigned q)
{
    return q < c->vdev->nqueues && c->vdev->queues[q].enabled;
}

static Port *port_of(VmmVirtioConsole *c, uint32_t id)
{
    return id < c->nr_ports ? c->ports[id] : NULL;
}

/* ---- host side (main context thread) ------------------------------------ */

static size_t port_can_receive(void *opaque)
{
    Port *p = opaque;
    g_mutex_lock(&p->con->lock);
    size_t room = CON_IN_BUF - p->in_len;
    g_mutex_unlock(&p->con->lock);
    return room;
}

static void port_receive(void *opaque, const uint8_t *buf, size_t len)
{
    Port *p = opaque;
    g_mutex_lock(&p->con->lock);
    size_t n = MIN(len, CON_IN_BUF - p->in_len);   /* can_receive bounded it */
    memcpy(p->in + p->in_len, buf, n);
    p->in_len += n;
    g_mutex_unlock(&p->con->lock);
    wake(p->con);
}

/* Queues a control message for the driver; c->lock held. */
static void ctrl_queue_locked(VmmVirtioConsole *c, uint32_t id, uint16_t event, uint16_t value,
                              const char *extra)
{
    /* A driver that posts no control buffers while a peer keeps
     * reconnecting must not grow this without end. */
    if (g_queue_get_length(&c->ctrl) >= CON_CTRL_BACKLOG) {
        complain(c, BAD_BACKLOG, "the driver takes no control messages; %d are waiting, "
                 "newer ones are dropped", CON_CTRL_BACKLOG);
        return;
    }
    size_t xl = extra ? strlen(extra) : 0;
    uint8_t *m = g_malloc(CTRL_HDR + xl);
    pci_set_u32(m, id);
    pci_set_u16(m + 4, event);
    pci_set_u16(m + 6, value);
    if (xl)
        memcpy(m + CTRL_HDR, extra, xl);   /* the name is not NUL-terminated */
    g_queue_push_tail(&c->ctrl, g_bytes_new_take(m, CTRL_HDR + xl));
}

static void port_connect_changed(void *opaque, bool up)
{
    Port *p = opaque;
    VmmVirtioConsole *c = p->con;
    g_mutex_lock(&c->lock);
    p->host_open = up;
    if (!up)
        p->in_len = 0;   /* what the old peer sent is not for the next one */
    if (p->guest_ready && c->multiport)
        ctrl_queue_locked(c, p->id, EV_PORT_OPEN, up, NULL);
    g_mutex_unlock(&c->lock);
    wake(c);
}

/* ---- the I/O thread ------------------------------------------------------ */

static bool pop(VmmVirtioConsole *c, unsigned q, int *rc)
{
    g_autoptr(GError) err = NULL;
    *rc = vmm_virtq_pop(&c->vdev->queues[q].vq, c->elem, &err);
    if (*rc < 0)
        vmm_virtio_needs_reset(c->vdev, "queue %u: %s", q, err->message);
    return *rc > 0;
}

static void finish(VmmVirtioConsole *c, unsigned q, bool pushed)
{
    VmmVirtq *vq = &c->vdev->queues[q].vq;
    if (!pushed)
        return;
    vmm_virtq_flush(vq);
    if (vmm_virtq_should_notify(vq))
        vmm_virtio_notify(c->vdev, q);
}

static void send_ports_added(VmmVirtioConsole *c)
{
    g_mutex_lock(&c->lock);
    for (unsigned id = 0; id < c->nr_ports; id++) {
        Port *p = c->ports[id];
        if (p && !p->added) {
            p->added = true;
            ctrl_queue_locked(c, id, EV_DEVICE_ADD, 1, NULL);
        }
    }
    g_mutex_unlock(&c->lock);
}

static void port_ready(VmmVirtioConsole *c, Port *p)
{
    g_mutex_lock(&c->lock);
    p->guest_ready = true;
    if (p->def->kind == VMM_VSERIAL_CONSOLE)
        ctrl_queue_locked(c, p->id, EV_CONSOLE_PORT, 1, NULL);
    if (p->def->name)
        ctrl_queue_locked(c, p->id, EV_PORT_NAME, 1, p->def->name);
    p->host_open = p->be && vmm_chardev_connected(p->be);
    ctrl_queue_locked(c, p->id, EV_PORT_OPEN, p->host_open, NULL);
    g_mutex_unlock(&c->lock);
}

/* One message from the driver's control transmitq. */
static void handle_ctrl(VmmVirtioConsole *c, const uint8_t *m, size_t len)
{
    if (len < CTRL_HDR) {
        complain(c, BAD_SHORT_CTRL, "control message of %zu bytes (a header is %d)", len,
                 CTRL_HDR);
        return;
    }
    uint32_t id = (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 |
                  (uint32_t)m[3] << 24;
    uint16_t event = (uint16_t)(m[4] | m[5] << 8), value = (uint16_t)(m[6] | m[7] << 8);
    if (event == EV_DEVICE_READY) {
        if (value == 1)
            send_ports_added(c);
        else
            complain(c, BAD_DRIVER_FAILED, "the driver reports DEVICE_READY %u (it failed "
                     "to set up)", value);
        return;
    }
    if (event != EV_PORT_READY && event != EV_PORT_OPEN) {
        complain(c, BAD_EVENT, "control event %u (port %u) is not one a driver sends",
                 event, id);
        return;
    }
    Port *p = port_of(c, id);
    if (!p) {
        complain(c, BAD_PORT_ID, "control event %u for port %u, which does not exist "
                 "(the device has %u ports)", event, id, c->nr_ports);
        return;
    }
    if (value > 1) {
        complain(c, BAD_VALUE, "control event %u for port %u has value %u (0 or 1)", event,
                 id, value);
        return;
    }
    if (event == EV_PORT_READY) {
        if (value)
            port_ready(c, p);
        else
            vmm_log_info("%s: the guest could not set up port %u", c->vdev->name, id);
        return;
    }
    g_atomic_int_set(&p->guest_open, value);
}

static bool serve_ctrl_tx(VmmVirtioConsole *c)
{
    bool pushed = false, work = false;
    int rc;
    if (!queue_ok(c, Q_CTRL_TX))
        return false;
    while (!vmm_virtio_broken(c->vdev) && pop(c, Q_CTRL_TX, &rc)) {
        /* Longer than any message a driver sends: the rest is ignored. */
        uint8_t m[CTRL_HDR];
        size_t n = vmm_virtq_elem_read(c->elem, 0, m, sizeof(m));
        handle_ctrl(c, m, MIN(n, c->elem->out_bytes));
        vmm_virtq_push(&c->vdev->queues[Q_CTRL_TX].vq, c->elem, 0);
        pushed = work = true;
    }
    finish(c, Q_CTRL_TX, pushed);
    return work;
}

static void serve_ctrl_rx(VmmVirtioConsole *c)
{
    bool pushed = false;
    int rc;
    if (!queue_ok(c, Q_CTRL_RX))
        return;
    for (;;) {
        g_mutex_lock(&c->lock);
        GBytes *m = g_queue_peek_head(&c->ctrl);
        g_mutex_unlock(&c->lock);
        if (!m || vmm_virtio_broken(c->vdev) || !pop(c, Q_CTRL_RX, &rc))
            break;
        g_mutex_lock(&c->lock);
        g_queue_pop_head(&c->ctrl);
        g_mutex_unlock(&c->lock);
        gsize len;
        const uint8_t *data = g_bytes_get_data(m, &len);
        if (c->elem->in_bytes < len)
            complain(c, BAD_CTRL_ROOM, "a control receive buffer of %" G_GUINT64_FORMAT
                     " bytes is too small for a %zu-byte message; it is cut short",
                     c->elem->in_bytes, (size_t)len);
        size_t n = vmm_virtq_elem_write(c->elem, 0, data, len);
        vmm_virtq_push(&c->vdev->queues[Q_CTRL_RX].vq, c->elem, (uint32_t)n);
        g_bytes_unref(m);
        pushed = true;
    }
    finish(c, Q_CTRL_RX, pushed);
}

/* Guest output of one port to its host end (dropped without one). */
static void serve_tx(VmmVirtioConsole *c, Port *p)
{
    unsigned q = txq(p->id);
    bool pushed = false;
    int rc;
    if (!queue_ok(c, q))
        return;
    while (!vmm_virtio_broken(c->vdev) && pop(c, q, &rc)) {
        struct iovec iov[CON_MAX_IOV];
        size_t off = 0;
        unsigned n;
        while (p->be && off < c->elem->out_bytes &&
               (n = vmm_virtq_elem_iov(c->elem, false, off, c->elem->out_bytes - off, iov,
                                       CON_MAX_IOV)) > 0) {
            for (unsigned i = 0; i < n; i++) {
                vmm_chardev_write(p->be, iov[i].iov_base, iov[i].iov_len);
                off += iov[i].iov_len;
            }
        }
        vmm_virtq_push(&c->vdev->queues[q].vq, c->elem, 0);
        pushed = true;
    }
    finish(c, q, pushed);
}

/* Host input of one port into the guest's receive buffers, once the guest
 * has the port open. */
static void serve_rx(VmmVirtioConsole *c, Port *p)
{
    unsigned q = rxq(p->id);
    bool pushed = false, drained = false;
    int rc;
    if (!queue_ok(c, q) || !g_atomic_int_get(&p->guest_open))
        return;
    for (;;) {
        g_mutex_lock(&c->lock);
        size_t have = p->in_len;
        g_mutex_unlock(&c->lock);
        if (!have || vmm_virtio_broken(c->vdev) || !pop(c, q, &rc))
            break;
        g_mutex_lock(&c->lock);
        size_t n = vmm_virtq_elem_write(c->elem, 0, p->in, p->in_len);
        memmove(p->in, p->in + n, p->in_len - n);
        p->in_len -= n;
        g_mutex_unlock(&c->lock);
        /* A chain with no writable byte takes nothing and goes back used. */
        vmm_virtq_push(&c->vdev->queues[q].vq, c->elem, (uint32_t)n);
        pushed = drained = true;
    }
    finish(c, q, pushed);
    if (drained && p->be)
        vmm_chardev_accept_input(p->be);
}

static void serve_all(VmmVirtioConsole *c)
{
    if (c->multiport) {
        serve_ctrl_tx(c);
        serve_ctrl_rx(c);
    }
    for (unsigned id = 0; id < c->nr_ports; id++) {
        Port *p = c->ports[id];
        if (!p || (!c->multiport && id))
            continue;
        serve_tx(c, p);
        serve_rx(c, p);
    }
}

enum { EV_STOP = G_MAXUINT32 - 1, EV_WAKE = G_MAXUINT32 };

static gpointer console_thread(gpointer data)
{
    VmmVirtioConsole *c = data;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN };
    for (unsigned q = 0; q < c->vdev->nqueues; q++) {
        if (!queue_ok(c, q))
            continue;
        ev.data.u32 = q;
        epoll_ctl(ep, EPOLL_CTL_ADD, c->vdev->queues[q].kick_fd, &ev);
    }
    ev.data.u32 = EV_STOP;
    epoll_ctl(ep, EPOLL_CTL_ADD, c->stop_fd, &ev);
    ev.data.u32 = EV_WAKE;
    epoll_ctl(ep, EPOLL_CTL_ADD, c->wake_fd, &ev);
    serve_all(c);
    for (;;) {
        struct epoll_event evs[16];
        int n = epoll_wait(ep, evs, G_N_ELEMENTS(evs), -1);
        if (n < 0 && errno == EINTR)
            continue;
        bool stop = false;
        uint64_t v;
        for (int i = 0; i < n; i++) {
            uint32_t k = evs[i].data.u32;
            int fd = k == EV_STOP ? c->stop_fd : k == EV_WAKE ? c->wake_fd
                                                              : c->vdev->queues[k].kick_fd;
            stop |= k == EV_STOP;
            while (read(fd, &v, sizeof(v)) > 0)
                ;
        }
        if (stop)
            break;
        serve_all(c);
    }
    close(ep);
    return NULL;
}

/* ---- virtio-pci hooks ----------------------------------------------------- */

static bool console_features_ok(VmmVirtioDev *d, uint64_t features)
{
    VmmVirtioConsole *c = d->opaque;
    c->multiport = features & (1ULL << F_MULTIPORT);
    return true;
}

static bool console_start(VmmVirtioDev *d, GError **err)
{
    (void)err;
    VmmVirtioConsole *c = d->opaque;
    uint64_t junk;
    while (read(c->stop_fd, &junk, sizeof(junk)) > 0)
        ;
    if (!c->multiport && c->ports[0]) {
        /* A single-port driver: port 0 is there and open from the start. */
        c->ports[0]->guest_ready = true;
        g_atomic_int_set(&c->ports[0]->guest_open, 1);
    }
    g_autofree char *name = g_strdup_printf("con-%s", d->name);
    c->thread = g_thread_new(name, console_thread, c);
    return true;
}

static void console_stop(VmmVirtioDev *d)
{
    VmmVirtioConsole *c = d->opaque;
    if (c->thread) {
        uint64_t one = 1;
        if (write(c->stop_fd, &one, sizeof(one)) < 0)
            vmm_log_warn("%s: cannot stop its thread: %s", d->name, g_strerror(errno));
        g_thread_join(c->thread);
        c->thread = NULL;
    }
    /* A reset driver starts the port handshake over. */
    g_mutex_lock(&c->lock);
    g_queue_clear_full(&c->ctrl, (GDestroyNotify)g_bytes_unref);
    for (unsigned id = 0; id < c->nr_ports; id++) {
        Port *p = c->ports[id];
        if (!p)
            continue;
        p->added = p->guest_ready = false;
        g_atomic_int_set(&p->guest_open, 0);
    }
    g_mutex_unlock(&c->lock);
}

/* emerg_wr (VIRTIO_CONSOLE_F_EMERG_WRITE): one byte for port 0. */
static void console_config_write(VmmVirtioDev *d, unsigned off, uint64_t v, unsigned size)
{
    VmmVirtioConsole *c = d->opaque;
    if (off != CFG_EMERG_WR || size != 4 || !c->ports[0] || !c->ports[0]->be)
        return;
    uint8_t ch = (uint8_t)v;
    vmm_chardev_write(c->ports[0]->be, &ch, 1);
}

static const VmmVirtioOps console_ops = {
    .name = "virtio-console",
    .virtio_id = 3,
    .pci_class = 0x078000,   /* simple communication controller, as QEMU's virtio-serial-pci */
    .features_ok = console_features_ok,
    .start = console_start,
    .stop = console_stop,
    .config_write = console_config_write,
};

VmmVirtioConsole *vmm_virtio_console_new(VmmVm *vm, const GPtrArray *channels,
                                         VmmChardev *const *backends, unsigned nr_ports,
                                         int pci_slot, GError **err)
{
    VmmVirtioConsole *c = g_new0(VmmVirtioConsole, 1);
    g_mutex_init(&c->lock);
    g_queue_init(&c->ctrl);
    c->nr_ports = MAX(nr_ports, 1u);
    c->ports = g_new0(Port *, c->nr_ports);
    c->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->stop_fd < 0 || c->wake_fd < 0) {
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "virtio-serial: cannot make its eventfds: %s", g_strerror(errno));
        vmm_virtio_console_free(c);
        return NULL;
    }
    for (guint i = 0; channels && i < channels->len; i++) {
        const VmmChannelDef *def = g_ptr_array_index(channels, i);
        if (def->port >= c->nr_ports || c->ports[def->port]) {
            g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "virtio-serial: port %u is %s", def->port,
                        def->port >= c->nr_ports ? "beyond the device's ports" : "taken twice");
            vmm_virtio_console_free(c);
            return NULL;
        }
        Port *p = g_new0(Port, 1);
        p->def = def;
        p->be = backends ? backends[i] : NULL;
        p->con = c;
        p->id = def->port;
        c->ports[def->port] = p;
    }
    c->elem = g_new(VmmVirtqElem, 1);
    uint64_t f = (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
                 (1ULL << F_MULTIPORT) | (1ULL << F_EMERG_WRITE);
    c->vdev = vmm_virtio_pci_new(vm, &console_ops, c, "virtio-serial", 2 * (c->nr_ports + 1),
                                 CON_QUEUE_SIZE, f, CFG_SIZE, pci_slot, err);
    if (!c->vdev) {
        vmm_virtio_console_free(c);
        return NULL;
    }
    pci_set_u32(c->vdev->config + 4, c->nr_ports);
    for (unsigned id = 0; id < c->nr_ports; id++) {
        Port *p = c->ports[id];
        if (!p || !p->be)
            continue;
        p->host_open = vmm_chardev_connected(p->be);
        vmm_chardev_set_connect_handler(p->be, port_connect_changed, p);
        vmm_chardev_set_frontend(p->be, port_can_receive, port_receive, p);
    }
    return c;
}

void vmm_virtio_console_free(VmmVirtioConsole *c)
{
    if (!c)
        return;
    for (unsigned id = 0; c->ports && id < c->nr_ports; id++) {
        Port *p = c->ports[id];
        if (p && p->be) {
            vmm_chardev_set_frontend(p->be, NULL, NULL, NULL);
            vmm_chardev_set_connect_handler(p->be, NULL, NULL);
        }
    }
    vmm_virtio_pci_free(c->vdev);   /* stops the thread */
    for (unsigned id = 0; c->ports && id < c->nr_ports; id++)
        g_free(c->ports[id]);
    g_free(c->ports);
    g_queue_clear_full(&c->ctrl, (GDestroyNotify)g_bytes_unref);
    if (c->stop_fd >= 0)
        close(c->stop_fd);
    if (c->wake_fd >= 0)
        close(c->wake_fd);
    g_free(c->elem);
    g_mutex_clear(&c->lock);
    g_free(c);
}

bool vmm_virtio_console_guest_open(VmmVirtioConsole *c, unsigned id)
{
    Port *p = c ? port_of(c, id) : NULL;
    return p && g_atomic_int_get(&p->guest_open);
}
