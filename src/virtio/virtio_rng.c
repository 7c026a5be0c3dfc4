/* virtio-rng. The guest posts device-writable buffers on its one queue; the
 * I/O thread fills them straight from the backend (readv() into the guest's
 * pages, or getrandom() per segment) and hands them back.
 *
 * Rate limit, as QEMU's virtio-rng max-bytes/period: at most rate_bytes in
 * each period; a period starts with the first request after the previous
 * one ended. When the quota is spent the requests stay on the avail ring
 * and a timerfd wakes the thread at the period's end. */
#include "virtio/virtio_rng.h"
#include "virtio/virtio_iothread.h"
#include "util/sandbox.h"
#include "virtio/virtio_pci.h"
#include "util/log.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define RNG_QUEUE_SIZE 64
#define RNG_MAX_IOV    64

struct VmmVirtioRng {
    const VmmRngDef *def;
    VmmVirtioDev *vdev;
    int fd;                      /* backend file, -1 for builtin */
    int timer_fd;
    VmmIoThread *io;
    VmmVirtqElem *elem;          /* large: one per device, used by the thread */

    uint64_t period_ns;
    uint64_t period_end;         /* CLOCK_MONOTONIC ns; 0 = no period running */
    uint64_t quota;              /* bytes left in the running period */
    bool waiting_fd;             /* backend had nothing: wait for POLLIN */
    bool backend_watched;

    uint64_t bytes, requests;    /* __atomic, for stats */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Bytes the rate limit allows now; arms the timer when none. */
static uint64_t allowance(VmmVirtioRng *r)
{
    if (!r->def->rate_bytes)
        return UINT64_MAX;
    uint64_t t = now_ns();
    if (!r->period_end || t >= r->period_end) {
        r->period_end = t + r->period_ns;
        r->quota = r->def->rate_bytes;
    }
    if (!r->quota) {
        struct itimerspec its = { .it_value = {
            .tv_sec = (time_t)(r->period_end / 1000000000ULL),
            .tv_nsec = (long)(r->period_end % 1000000000ULL) } };
        timerfd_settime(r->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
    }
    return r->quota;
}

/* Fills up to `want` bytes of iov from the backend: the count, 0 when the
 * backend has nothing right now, -errno on failure. */
static ssize_t fill(VmmVirtioRng *r, struct iovec *iov, unsigned n)
{
    if (r->fd >= 0) {
        ssize_t got = readv(r->fd, iov, (int)n);
        if (got < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (got == 0)
            return -ENODATA;   /* end of file: refused at open for non-devices */
        return got;
    }
    ssize_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        ssize_t got = getrandom(iov[i].iov_base, iov[i].iov_len, GRND_NONBLOCK);
        if (got < 0)
            return total ? total : (errno == EAGAIN || errno == EINTR ? 0 : -errno);
        total += got;
        if ((size_t)got < iov[i].iov_len)
            break;
    }
    return total;
}

/* Answers what the queue holds and the rate allows. */
static void process(VmmVirtioRng *r)
{
    VmmVirtq *vq = &r->vdev->queues[0].vq;
    bool pushed = false;
    while (!vmm_virtio_broken(r->vdev) && !r->waiting_fd) {
        uint64_t allow = allowance(r);
        if (!allow)
            break;
        g_autoptr(GError) err = NULL;
        int rc = vmm_virtq_pop(vq, r->elem, &err);
        if (rc == 0)
            break;
        if (rc < 0) {
            vmm_virtio_needs_reset(r->vdev, "requestq: %s", err->message);
            break;
        }
        uint64_t want = MIN(r->elem->in_bytes, allow);
        struct iovec iov[RNG_MAX_IOV];
        unsigned n = vmm_virtq_elem_iov(r->elem, true, 0, want, iov, RNG_MAX_IOV);
        ssize_t got = n ? fill(r, iov, n) : 0;
        if (got < 0) {
            vmm_virtq_unpop(vq, 1);
            vmm_virtio_needs_reset(r->vdev, "backend %s: %s",
                                   r->fd >= 0 ? vmm_rng_def_file(r->def) : "getrandom()",
                                   g_strerror((int)-got));
            break;
        }
        if (got == 0 && n) {
            /* Nothing to give yet: keep the request for when there is. */
            vmm_virtq_unpop(vq, 1);
            r->waiting_fd = r->fd >= 0;
            if (r->fd < 0) {
                /* getrandom() before the host's pool is ready: retry soon. */
                struct itimerspec its = { .it_value = { .tv_nsec = 10000000 } };
                timerfd_settime(r->timer_fd, 0, &its, NULL);
            }
            break;
        }
        /* A chain with no writable byte gets an empty answer (5.4.6.1). */
        vmm_virtq_push(vq, r->elem, (uint32_t)got);
        pushed = true;
        if (r->def->rate_bytes)
            r->quota -= (uint64_t)got;
        __atomic_add_fetch(&r->requests, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&r->bytes, (uint64_t)got, __ATOMIC_RELAXED);
    }
    if (pushed) {
        vmm_virtq_flush(vq);
        if (vmm_virtq_should_notify(vq))
            vmm_virtio_notify(r->vdev, 0);
    }
}

enum { EV_KICK, EV_TIMER, EV_BACKEND };

static void rng_ready(void *opaque)
{
    VmmVirtioRng *r = opaque;
    r->waiting_fd = false;
    r->backend_watched = false;
    process(r);
}

/* Watch the backend only while a request waits for it: a random device is
 * nearly always readable. */
static void rng_before_wait(void *opaque)
{
    VmmVirtioRng *r = opaque;
    if (r->waiting_fd == r->backend_watched)
        return;
    if (r->waiting_fd)
        r->backend_watched = vmm_iothread_watch(r->io, r->fd, EV_BACKEND, false);
    else {
        vmm_iothread_unwatch(r->io, r->fd);
        r->backend_watched = false;
    }
}

static void rng_event(void *opaque, uint32_t tag, bool stopping)
{
    (void)stopping;
    VmmVirtioRng *r = opaque;
    if (tag == EV_BACKEND)
        r->waiting_fd = false;
}

static void rng_after(void *opaque, bool stopping)
{
    if (!stopping)
        process(opaque);
}

static const VmmIoThreadOps rng_io_ops = {
    .kind = VMM_THREAD_RNG,
    .ready = rng_ready,
    .before_wait = rng_before_wait,
    .event = rng_event,
    .after = rng_after,
};

static bool rng_start(VmmVirtioDev *d, GError **err)
{
    (void)err;
    VmmVirtioRng *r = d->opaque;
    if (!d->queues[0].enabled)
        return true;
    vmm_iothread_watch(r->io, d->queues[0].kick_fd, EV_KICK, true);
    vmm_iothread_watch(r->io, r->timer_fd, EV_TIMER, true);
    g_autofree char *name = g_strdup_printf("rng-%s", d->name);
    vmm_iothread_start(r->io, name);
    return true;
}

static void rng_stop(VmmVirtioDev *d)
{
    VmmVirtioRng *r = d->opaque;
    vmm_iothread_stop(r->io);
}

static bool rng_features_ok(VmmVirtioDev *d, uint64_t features)
{
    (void)d;
    (void)features;
    return true;
}

static const VmmVirtioOps rng_ops = {
    .name = "virtio-rng",
    .virtio_id = 4,
    .pci_class = 0x00ff00,   /* unclassified, as QEMU's virtio-rng-pci */
    .features_ok = rng_features_ok,
    .start = rng_start,
    .stop = rng_stop,
};

/* A file backend must be a character device: a regular file runs out, a
 * FIFO or socket can block the thread forever. */
static int open_backend(const char *path, unsigned index, GError **err)
{
    int fd = vmm_sandbox_open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0);
    if (fd < 0) {
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "rng %u: cannot open backend '%s': %s", index, path, g_strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode)) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "rng %u: backend '%s' is not a character device (use /dev/urandom, "
                    "/dev/random or /dev/hwrng, or <backend model='builtin'/>)", index, path);
        close(fd);
        return -1;
    }
    return fd;
}

VmmVirtioRng *vmm_virtio_rng_new(VmmVm *vm, const VmmRngDef *def, unsigned index,
                                 int pci_slot, GError **err)
{
    VmmVirtioRng *r = g_new0(VmmVirtioRng, 1);
    r->def = def;
    r->fd = r->timer_fd = -1;
    if (def->backend == VMM_RNG_BACKEND_RANDOM &&
        (r->fd = open_backend(vmm_rng_def_file(def), index, err)) < 0) {
        vmm_virtio_rng_free(r);
        return NULL;
    }
    r->period_ns = (uint64_t)vmm_rng_def_period_ms(def) * 1000000ULL;
    r->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (r->timer_fd < 0) {
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "rng %u: cannot make its timerfd: %s", index, g_strerror(errno));
        vmm_virtio_rng_free(r);
        return NULL;
    }
    g_autofree char *name = g_strdup_printf("virtio-rng rng%u", index);
    if (!(r->io = vmm_iothread_new(name, &rng_io_ops, r, err))) {
        vmm_virtio_rng_free(r);
        return NULL;
    }
    r->elem = g_new(VmmVirtqElem, 1);
    uint64_t f = (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX);
    r->vdev = vmm_virtio_pci_new(vm, &rng_ops, r, name, 1, RNG_QUEUE_SIZE, f, 0, pci_slot, err);
    if (!r->vdev) {
        vmm_virtio_rng_free(r);
        return NULL;
    }
    return r;
}

void vmm_virtio_rng_free(VmmVirtioRng *r)
{
    if (!r)
        return;
    vmm_virtio_pci_free(r->vdev);   /* stops the thread */
    vmm_iothread_free(r->io);
    if (r->fd >= 0)
        close(r->fd);
    if (r->timer_fd >= 0)
        close(r->timer_fd);
    g_free(r->elem);
    g_free(r);
}

void vmm_virtio_rng_get_stats(VmmVirtioRng *r, uint64_t *bytes, uint64_t *requests)
{
    *bytes = __atomic_load_n(&r->bytes, __ATOMIC_RELAXED);
    *requests = __atomic_load_n(&r->requests, __ATOMIC_RELAXED);
}
