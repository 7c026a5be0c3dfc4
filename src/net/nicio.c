/* The host side of an emulated NIC, see nicio.h. */
#include "net/nicio.h"
#include "net/passt.h"
#include "net/tap.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#define VNET_HDR   12        /* the tap's header: always zero both ways */
#define RX_BATCH   64

struct VmmNicIo {
    char *kind, *name;
    int fd;
    VmmStreamRx *srx;            /* passt's framing (NULL: a tap) */
    const VmmNicIoOps *ops;
    void *opaque;
    uint8_t *rx;                 /* I/O thread: the frame not yet taken */
    size_t rx_max, rx_len;
    bool rx_have, armed;
    gint peer_gone;
    gint warned;                 /* vmm_nicio_warn_once() kinds logged */
    int stop_fd, wake_fd, epoll_fd;
    GThread *thread;
};

uint32_t vmm_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

uint16_t vmm_csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static const uint32_t *crc_table(void)
{
    static uint32_t t[256];
    static gsize done;
    if (g_once_init_enter(&done)) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        g_once_init_leave(&done, 1);
    }
    return t;
}

uint32_t vmm_eth_crc(const uint8_t *p, size_t len)
{
    const uint32_t *t = crc_table();
    uint32_t c = ~0u;
    for (size_t i = 0; i < len; i++)
        c = t[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return ~c;
}

void vmm_nicio_warn_once(VmmNicIo *io, int kind, const char *fmt, ...)
{
    if (g_atomic_int_or(&io->warned, kind) & kind)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vmm_log_warn("%s %s: %s (counted in the error statistics; logged once)", io->kind, io->name,
                 msg);
}

void vmm_nicio_wake(VmmNicIo *io)
{
    uint64_t one = 1;
    if (write(io->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        vmm_log_warn("%s %s: eventfd write: %s", io->kind, io->name, g_strerror(errno));
}

int vmm_nicio_send(VmmNicIo *io, const uint8_t *frame, size_t len)
{
    if (g_atomic_int_get(&io->peer_gone)) {
        errno = EPIPE;
        return -1;
    }
    static const uint8_t hdr[VNET_HDR];
    struct iovec iov[2] = { { (void *)hdr, VNET_HDR }, { (void *)frame, len } };
    ssize_t w = io->srx ? vmm_stream_tx(io->fd, iov + 1, 1) : writev(io->fd, iov, 2);
    return w < 0 ? -1 : 0;
}

/* The next frame from the host into io->rx: 1, 0 when none waits, -1 when
 * the peer is gone (passt exited or broke its framing). */
static int rx_read(VmmNicIo *io)
{
    if (io->srx) {
        const uint8_t *f;
        size_t len;
        int r = vmm_stream_rx_next(io->srx, &f, &len);
        if (r == 0) {
            ssize_t got = vmm_stream_rx_fill(io->srx, io->fd);
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
                return -1;
            r = vmm_stream_rx_next(io->srx, &f, &len);
        }
        if (r <= 0)
            return r;
        io->rx_len = MIN(len, io->rx_max);
        memcpy(io->rx, f, io->rx_len);
        return 1;
    }
    uint8_t hdr[VNET_HDR];
    struct iovec iov[2] = { { hdr, VNET_HDR }, { io->rx, io->rx_max } };
    ssize_t r = readv(io->fd, iov, 2);
    if (r < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (r <= VNET_HDR)
        return r == 0 ? -1 : 0;
    io->rx_len = (size_t)r - VNET_HDR;
    return 1;
}

static void arm_fd(VmmNicIo *io, bool on)
{
    if (io->armed == on)
        return;
    struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.u32 = 0 };
    epoll_ctl(io->epoll_fd, EPOLL_CTL_MOD, io->fd, &ev);
    io->armed = on;
}

static void drain(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof(v)) > 0)
        ;
}

/* Moves up to RX_BATCH frames; returns whether to watch the host fd. */
static bool rx_work(VmmNicIo *io)
{
    for (unsigned i = 0; i < RX_BATCH; i++) {
        if (!io->rx_have) {
            int r = rx_read(io);
            if (r < 0) {
                vmm_log_warn("%s %s: the host side closed or broke its framing; no more "
                             "frames move", io->kind, io->name);
                g_atomic_int_set(&io->peer_gone, 1);   /* transmit stops too */
                return false;
            }
            if (r == 0)
                return true;
            io->rx_have = true;
        }
        if (!io->ops->rx(io->opaque, io->rx, io->rx_len))
            return false;
        io->rx_have = false;
    }
    return true;
}

static gpointer io_thread(gpointer data)
{
    VmmNicIo *io = data;
    for (;;) {
        bool watch = !g_atomic_int_get(&io->peer_gone) && rx_work(io);
        gint64 now = g_get_monotonic_time();
        gint64 next = io->ops->timers ? io->ops->timers(io->opaque, now) : 0;
        arm_fd(io, watch);
        struct timespec ts = { 0, 0 };
        if (next) {
            gint64 d = MAX(next - now, 0);
            ts = (struct timespec){ d / G_USEC_PER_SEC, d % G_USEC_PER_SEC * 1000 };
        }
        struct epoll_event evs[3];
        int cnt = epoll_pwait2(io->epoll_fd, evs, G_N_ELEMENTS(evs), next ? &ts : NULL, NULL);
        for (int i = 0; i < cnt; i++) {
            if (evs[i].data.u32 == 2)
                return NULL;
            if (evs[i].data.u32 == 1)
                drain(io->wake_fd);
        }
    }
}

VmmNicIo *vmm_nicio_new(const char *kind, const char *name, int fd, bool stream, size_t rx_max,
                        const VmmNicIoOps *ops, void *opaque, GError **err)
{
    if (fd < 0) {
        g_set_error(err, VMM_ERROR, 0, "%s %s: no host side (tap or passt) to attach", kind, name);
        return NULL;
    }
    VmmNicIo *io = g_new0(VmmNicIo, 1);
    io->kind = g_strdup(kind);
    io->name = g_strdup(name);
    io->fd = fd;
    io->ops = ops;
    io->opaque = opaque;
    io->rx_max = rx_max;
    io->rx = g_malloc(rx_max + 64);
    if (stream)
        io->srx = g_new0(VmmStreamRx, 1);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (!stream) {
        /* No offloads towards the guest: the tap hands over whole frames
         * with their checksums, which is what a real wire carries. */
        g_autoptr(GError) e2 = NULL;
        if (!vmm_tap_set_offload(fd, name, 0, &e2))
            vmm_log_info("%s %s: %s", kind, name, e2->message);
    }
    io->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    io->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    io->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (io->stop_fd < 0 || io->wake_fd < 0 || io->epoll_fd < 0) {
        g_set_error(err, VMM_ERROR, 0, "%s %s: eventfd/epoll: %s", kind, name, g_strerror(errno));
        vmm_nicio_free(io);
        return NULL;
    }
    struct epoll_event ev = { .events = 0, .data.u32 = 0 };
    if (epoll_ctl(io->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        g_set_error(err, VMM_ERROR, 0, "%s %s: cannot watch the host side: %s", kind, name,
                    g_strerror(errno));
        vmm_nicio_free(io);
        return NULL;
    }
    ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 1 };
    epoll_ctl(io->epoll_fd, EPOLL_CTL_ADD, io->wake_fd, &ev);
    ev.data.u32 = 2;
    epoll_ctl(io->epoll_fd, EPOLL_CTL_ADD, io->stop_fd, &ev);
    return io;
}

void vmm_nicio_start(VmmNicIo *io)
{
    g_autofree char *tname = g_strdup_printf("net-%s-%s", io->name, io->kind);
    io->thread = g_thread_new(tname, io_thread, io);
}

void vmm_nicio_free(VmmNicIo *io)
{
    if (!io)
        return;
    if (io->thread) {
        uint64_t one = 1;
        if (write(io->stop_fd, &one, sizeof(one)) < 0)
            vmm_log_warn("%s %s: cannot stop the I/O thread: %s", io->kind, io->name,
                         g_strerror(errno));
        g_thread_join(io->thread);
    }
    if (io->stop_fd >= 0)
        close(io->stop_fd);
    if (io->wake_fd >= 0)
        close(io->wake_fd);
    if (io->epoll_fd >= 0)
        close(io->epoll_fd);
    g_free(io->rx);
    g_free(io->srx);
    g_free(io->kind);
    g_free(io->name);
    g_free(io);
}
