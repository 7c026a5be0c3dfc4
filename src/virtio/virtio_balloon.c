/* virtio-balloon device. Guest-supplied page frame numbers are checked
 * against RAM one by one; the host keeps its own bitmap of ballooned pages
 * so duplicates and deflates of pages never inflated are recognised, and
 * nothing the guest sends can make the host touch memory outside RAM. */
#include "virtio/virtio_balloon.h"
#include "virtio/virtio_iothread.h"
#include "util/sandbox.h"
#include "virtio/virtio_pci.h"
#include "virtio/virtio_spec.h"
#include "vmm/vm.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BALLOON_QUEUE_SIZE 128
#define BALLOON_CONFIG_SIZE 16          /* num_pages, actual, cmd id, poison */
#define BALLOON_NQUEUES 4               /* inflate, deflate, stats, reporting */
#define STAT_BYTES 10                   /* le16 tag, le64 val (packed) */

#define F_STATS_VQ       1
#define F_DEFLATE_ON_OOM 2
#define F_PAGE_REPORTING 5

enum { Q_INFLATE, Q_DEFLATE, Q_STATS, Q_REPORT, Q_ROLES };
/* one-time warnings, bits of warned */
enum { W_BAD_PFN = 1, W_DUP = 2, W_BAD_DEFLATE = 4, W_OVER = 8, W_STATS = 16, W_PUNCH = 32 };

struct VmmVirtioBalloon {
    VmmVm *vm;
    VmmVirtioDev *vdev;
    int role_queue[Q_ROLES];        /* queue index of each role, -1 = absent */
    VmmIoThread *io;
    int timer_fd;
    VmmVirtqElem *elem;             /* inflate/deflate/report buffer, used by the thread */
    gint period;                    /* seconds, atomic */
    VmmVirtqElem *stats_elem;       /* the driver's stats buffer while we hold it */
    bool holding_stats;

    GMutex lock;                    /* everything below */
    uint8_t *map;                   /* one bit per RAM page: in the balloon */
    uint64_t ram_pages;
    VmmBalloonStats st;
    unsigned warned;
};

static void warn_once(VmmVirtioBalloon *b, unsigned bit, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
static void warn_once(VmmVirtioBalloon *b, unsigned bit, const char *fmt, ...)
{
    if (b->warned & bit)
        return;
    b->warned |= bit;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vmm_log_warn("%s: %s (further cases are counted, not logged)", b->vdev->name, msg);
}

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* ---- giving memory back ------------------------------------------------- */

/* [off, off+len) of the RAM memfd back to the host: the pages read as zero
 * afterwards and no longer count in the worker's RSS (shmem). */
static void discard(VmmVirtioBalloon *b, uint64_t off, uint64_t len)
{
    if (!len)
        return;
    if (fallocate(b->vm->mem_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                  (off_t)len) < 0 &&
        madvise(b->vm->ram + off, len, MADV_REMOVE) < 0)
        warn_once(b, W_PUNCH, "cannot return %" G_GUINT64_FORMAT " bytes at RAM offset 0x%"
                  G_GINT64_MODIFIER "x to the host: %s", len, off, g_strerror(errno));
}

/* RAM page index of a guest PFN, or -1 when it is not RAM. */
static int64_t pfn_to_page(VmmVirtioBalloon *b, uint64_t pfn)
{
    if (pfn > G_MAXUINT64 / VMM_BALLOON_PAGE)
        return -1;
    uint8_t *hva = vmm_vm_gpa_to_hva(b->vm, pfn * VMM_BALLOON_PAGE, VMM_BALLOON_PAGE);
    return hva ? (int64_t)((uint64_t)(hva - b->vm->ram) / VMM_BALLOON_PAGE) : -1;
}

/* One inflate or deflate buffer: le32 PFNs. Contiguous runs are discarded
 * with one call. */
static void handle_pfns(VmmVirtioBalloon *b, const VmmVirtqElem *e, bool inflate)
{
    uint32_t buf[256];
    uint64_t run_start = 0, run_len = 0;
    size_t total = e->out_bytes / 4;
    for (size_t done = 0; done < total;) {
        size_t n = MIN(total - done, G_N_ELEMENTS(buf));
        n = vmm_virtq_elem_read(e, done * 4, buf, n * 4) / 4;
        if (!n)
            break;
        g_mutex_lock(&b->lock);
        for (size_t i = 0; i < n; i++) {
            uint64_t pfn = le((const uint8_t *)&buf[i], 4);
            int64_t pg = pfn_to_page(b, pfn);
            if (pg < 0) {
                b->st.bad_pfns++;
                warn_once(b, W_BAD_PFN, "guest gave page frame 0x%" G_GINT64_MODIFIER "x, "
                          "which is not RAM; ignored", pfn);
                continue;
            }
            uint8_t bit = (uint8_t)(1u << (pg & 7));
            bool in = b->map[pg >> 3] & bit;
            if (inflate) {
                if (in) {
                    b->st.dup_inflates++;
                    warn_once(b, W_DUP, "guest inflated page frame 0x%" G_GINT64_MODIFIER
                              "x twice; ignored", pfn);
                    continue;
                }
                if (b->st.inflated >= b->st.num_pages) {
                    /* Taking more than asked only costs the guest: allowed,
                     * but counted. */
                    b->st.over_target++;
                    warn_once(b, W_OVER, "guest inflates past the target of %"
                              G_GUINT64_FORMAT " pages", b->st.num_pages);
                }
                b->map[pg >> 3] |= bit;
                b->st.inflated++;
                uint64_t off = (uint64_t)pg * VMM_BALLOON_PAGE;
                if (run_len && run_start + run_len == off) {
                    run_len += VMM_BALLOON_PAGE;
                } else {
                    discard(b, run_start, run_len);
                    run_start = off;
                    run_len = VMM_BALLOON_PAGE;
                }
            } else {
                if (!in) {
                    b->st.bad_deflates++;
                    warn_once(b, W_BAD_DEFLATE, "guest deflated page frame 0x%"
                              G_GINT64_MODIFIER "x, which is not in the balloon; ignored",
                              pfn);
                    continue;
                }
                /* Nothing to do on the host: the hole refills on touch. */
                b->map[pg >> 3] &= (uint8_t)~bit;
                b->st.inflated--;
            }
        }
        discard(b, run_start, run_len);
        run_len = 0;
        g_mutex_unlock(&b->lock);
        done += n;
    }
}

/* Free page reporting: each device-writable buffer is a free range. */
static void handle_report(VmmVirtioBalloon *b, const VmmVirtqElem *e)
{
    g_mutex_lock(&b->lock);
    for (unsigned i = e->n_out; i < e->nbufs; i++) {
        const VmmVirtqBuf *buf = &e->bufs[i];
        uint64_t off = (uint64_t)((uint8_t *)buf->hva - b->vm->ram);
        uint64_t start = (off + VMM_BALLOON_PAGE - 1) & ~(VMM_BALLOON_PAGE - 1);
        uint64_t end = (off + buf->len) & ~(VMM_BALLOON_PAGE - 1);
        if (end > start) {
            discard(b, start, end - start);
            b->st.reported += (end - start) / VMM_BALLOON_PAGE;
        }
    }
    g_mutex_unlock(&b->lock);
}

/* ---- statistics ---------------------------------------------------------- */

static void take_stats(VmmVirtioBalloon *b, const VmmVirtqElem *e)
{
    uint8_t rec[STAT_BYTES];
    g_mutex_lock(&b->lock);
    for (size_t off = 0; off + STAT_BYTES <= e->out_bytes; off += STAT_BYTES) {
        if (vmm_virtq_elem_read(e, off, rec, STAT_BYTES) != STAT_BYTES)
            break;
        unsigned tag = (unsigned)le(rec, 2);
        if (tag >= VMM_BALLOON_S_N) {
            b->st.bad_stats++;
            warn_once(b, W_STATS, "guest reported statistic tag %u, which virtio does not "
                      "define; ignored", tag);
            continue;
        }
        b->st.val[tag] = le(rec + 2, 8);
        b->st.has[tag] = true;
    }
    b->st.last_update = g_get_real_time() / G_USEC_PER_SEC;
    g_mutex_unlock(&b->lock);
}

static void arm_timer(VmmVirtioBalloon *b)
{
    unsigned p = (unsigned)g_atomic_int_get(&b->period);
    struct itimerspec its = { .it_interval = { p, 0 }, .it_value = { p, 0 } };
    timerfd_settime(b->timer_fd, 0, &its, NULL);
}

/* ---- the queue thread ---------------------------------------------------- */

static void serve(VmmVirtioBalloon *b, int role, VmmVirtqElem *e)
{
    int qi = b->role_queue[role];
    if (qi < 0)
        return;
    VmmVirtq *vq = &b->vdev->queues[qi].vq;
    bool pushed = false;
    for (;;) {
        if (vmm_virtio_broken(b->vdev) || (role == Q_STATS && b->holding_stats))
            break;
        g_autoptr(GError) err = NULL;
        VmmVirtqElem *into = role == Q_STATS ? b->stats_elem : e;
        int rc = vmm_virtq_pop(vq, into, &err);
        if (rc == 0)
            break;
        if (rc < 0) {
            vmm_virtio_needs_reset(b->vdev, "queue %d: %s", qi, err->message);
            return;
        }
        switch (role) {
        case Q_INFLATE: handle_pfns(b, into, true); break;
        case Q_DEFLATE: handle_pfns(b, into, false); break;
        case Q_REPORT: handle_report(b, into); break;
        case Q_STATS:
            /* Kept until the next period: returning it asks for new stats. */
            take_stats(b, into);
            b->holding_stats = true;
            continue;
        }
        vmm_virtq_push(vq, into, 0);
        pushed = true;
    }
    if (pushed) {
        vmm_virtq_flush(vq);
        if (vmm_virtq_should_notify(vq))
            vmm_virtio_notify(b->vdev, (unsigned)qi);
    }
}

static void request_stats(VmmVirtioBalloon *b)
{
    int qi = b->role_queue[Q_STATS];
    if (qi < 0 || !b->holding_stats || vmm_virtio_broken(b->vdev))
        return;
    VmmVirtq *vq = &b->vdev->queues[qi].vq;
    b->holding_stats = false;
    vmm_virtq_push(vq, b->stats_elem, 0);
    vmm_virtq_flush(vq);
    vmm_virtio_notify(b->vdev, (unsigned)qi);
}

#define EV_TIMER Q_ROLES

static void balloon_ready(void *opaque)
{
    VmmVirtioBalloon *b = opaque;
    for (int r = 0; r < Q_ROLES; r++)
        serve(b, r, b->elem);   /* kicks that came before we started */
    arm_timer(b);
}

static void balloon_event(void *opaque, uint32_t tag, bool stopping)
{
    VmmVirtioBalloon *b = opaque;
    if (stopping)
        return;
    if (tag == EV_TIMER)
        request_stats(b);
    else
        serve(b, (int)tag, b->elem);
}

static const VmmIoThreadOps balloon_io_ops = {
    .kind = VMM_THREAD_BALLOON,
    .ready = balloon_ready,
    .event = balloon_event,
};

/* ---- virtio device ops --------------------------------------------------- */

static bool balloon_start(VmmVirtioDev *d, GError **err)
{
    (void)err;
    VmmVirtioBalloon *b = d->opaque;
    /* Queues are numbered over the features negotiated (5.5.2): the stats
     * and reporting queues move down when the ones before them are absent. */
    int next = 0;
    b->role_queue[Q_INFLATE] = next++;
    b->role_queue[Q_DEFLATE] = next++;
    b->role_queue[Q_STATS] = d->guest_features & (1ULL << F_STATS_VQ) ? next++ : -1;
    b->role_queue[Q_REPORT] = d->guest_features & (1ULL << F_PAGE_REPORTING) ? next++ : -1;
    for (int r = 0; r < Q_ROLES; r++)
        if (b->role_queue[r] >= 0 && !d->queues[b->role_queue[r]].enabled)
            b->role_queue[r] = -1;
    b->holding_stats = false;
    for (int r = 0; r < Q_ROLES; r++)
        if (b->role_queue[r] >= 0)
            vmm_iothread_watch(b->io, d->queues[b->role_queue[r]].kick_fd, (uint32_t)r, true);
    vmm_iothread_watch(b->io, b->timer_fd, EV_TIMER, true);
    vmm_iothread_start(b->io, "balloon");
    return true;
}

static void balloon_stop(VmmVirtioDev *d)
{
    VmmVirtioBalloon *b = d->opaque;
    if (!vmm_iothread_running(b->io))
        return;
    vmm_iothread_stop(b->io);
    /* A reset guest starts over with every page of its RAM (5.5.6.1). */
    g_mutex_lock(&b->lock);
    memset(b->map, 0, (b->ram_pages + 7) / 8);
    b->st.inflated = 0;
    g_mutex_unlock(&b->lock);
}

static void balloon_config_write(VmmVirtioDev *d, unsigned off, uint64_t v, unsigned size)
{
    /* The driver writes only `actual` (offset 4). */
    if (off != 4 || size != 4)
        return;
    g_mutex_lock(&d->lock);
    pci_set_u32(d->config + 4, (uint32_t)v);
    g_mutex_unlock(&d->lock);
}

static const VmmVirtioOps balloon_ops = {
    .name = "virtio-balloon",
    .virtio_id = 5,
    .pci_class = 0x050000,     /* memory controller, as QEMU's */
    .start = balloon_start,
    .stop = balloon_stop,
    .config_write = balloon_config_write,
};

VmmVirtioBalloon *vmm_virtio_balloon_new(VmmVm *vm, const VmmBalloonDef *def, int pci_slot,
                                         GError **err)
{
    VmmVirtioBalloon *b = g_new0(VmmVirtioBalloon, 1);
    b->vm = vm;
    g_mutex_init(&b->lock);
    b->ram_pages = vm->ram_size / VMM_BALLOON_PAGE;
    b->map = g_malloc0((b->ram_pages + 7) / 8);
    b->stats_elem = g_new0(VmmVirtqElem, 1);
    b->elem = g_new(VmmVirtqElem, 1);
    b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    g_atomic_int_set(&b->period, (gint)def->stats_period);
    if (b->timer_fd < 0) {
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "virtio-balloon: cannot create its timerfd: %s", g_strerror(errno));
        vmm_virtio_balloon_free(b);
        return NULL;
    }
    if (!(b->io = vmm_iothread_new("virtio-balloon", &balloon_io_ops, b, err))) {
        vmm_virtio_balloon_free(b);
        return NULL;
    }
    uint64_t f = 1ULL << F_STATS_VQ;
    if (def->autodeflate == VMM_TRI_ON)
        f |= 1ULL << F_DEFLATE_ON_OOM;
    if (def->free_page_reporting == VMM_TRI_ON)
        f |= 1ULL << F_PAGE_REPORTING;
    b->vdev = vmm_virtio_pci_new(vm, &balloon_ops, b, "virtio-balloon", BALLOON_NQUEUES,
                                 BALLOON_QUEUE_SIZE, f, BALLOON_CONFIG_SIZE, pci_slot, err);
    if (!b->vdev) {
        vmm_virtio_balloon_free(b);
        return NULL;
    }
    return b;
}

void vmm_virtio_balloon_free(VmmVirtioBalloon *b)
{
    if (!b)
        return;
    vmm_virtio_pci_free(b->vdev);   /* stops the thread */
    vmm_iothread_free(b->io);
    if (b->timer_fd >= 0)
        close(b->timer_fd);
    g_free(b->elem);
    g_free(b->stats_elem);
    g_free(b->map);
    g_mutex_clear(&b->lock);
    g_free(b);
}

static void set_target(VmmVirtioBalloon *b, uint64_t num_pages, bool notify)
{
    num_pages = MIN(num_pages, b->ram_pages);
    g_mutex_lock(&b->lock);
    b->st.num_pages = num_pages;
    g_mutex_unlock(&b->lock);
    g_mutex_lock(&b->vdev->lock);
    pci_set_u32(b->vdev->config + 0, (uint32_t)num_pages);
    g_mutex_unlock(&b->vdev->lock);
    if (notify)
        vmm_virtio_config_changed(b->vdev);
}

void vmm_virtio_balloon_set_target(VmmVirtioBalloon *b, uint64_t num_pages)
{
    set_target(b, num_pages, true);
}

void vmm_virtio_balloon_preset_target(VmmVirtioBalloon *b, uint64_t num_pages)
{
    set_target(b, num_pages, false);
}

void vmm_virtio_balloon_set_period(VmmVirtioBalloon *b, unsigned seconds)
{
    g_atomic_int_set(&b->period, (gint)MIN(seconds, VMM_BALLOON_PERIOD_MAX));
    arm_timer(b);   /* timerfd_settime may be called from any thread */
}

unsigned vmm_virtio_balloon_get_period(VmmVirtioBalloon *b)
{
    return (unsigned)g_atomic_int_get(&b->period);
}

void vmm_virtio_balloon_get_stats(VmmVirtioBalloon *b, VmmBalloonStats *out)
{
    g_mutex_lock(&b->lock);
    *out = b->st;
    g_mutex_unlock(&b->lock);
    g_mutex_lock(&b->vdev->lock);
    out->actual = le(b->vdev->config + 4, 4);
    g_mutex_unlock(&b->vdev->lock);
}
