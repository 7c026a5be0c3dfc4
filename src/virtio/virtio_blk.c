#include "virtio/virtio_blk.h"
#include "util/sandbox.h"
#include "virtio/virtio_blk_req.h"
#include "virtio/virtio_iothread.h"
#include "virtio/virtio_pci.h"
#include "virtio/virtio_spec.h"
#include "vmm/vm.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLK_QUEUE_SIZE   256
#define BLK_CONFIG_SIZE  60
#define BLK_MAX_IOV      (BLK_QUEUE_SIZE + 2)

typedef struct BlkQueue BlkQueue;

typedef struct {
    VmmBlockReq breq;
    BlkQueue *q;
    VmmVirtqElem elem;
    uint8_t *status;
    uint32_t written;
    bool flush_after;            /* guest turned the write cache off */
    struct iovec iov[BLK_MAX_IOV];
} BlkReq;

struct BlkQueue {
    VmmVirtioBlk *blk;
    unsigned index;
    VmmBlockQueue *bq;
    VmmIoThread *io;
    BlkReq *reqs;
    GPtrArray *free_reqs;
    unsigned inflight;
    bool completed;              /* pushed since the last flush */
    /* Adaptive busy-poll windows (ns), one per source of work, as QEMU
     * keeps one per handler: the guest's avail ring and the backend's
     * completions. The thread polls for the larger of those that can
     * bring work; each grows when its work came a little too late for it
     * and drops to 0 when the work came after more than the maximum. */
    uint64_t poll_win[2];
    uint64_t idle_since;         /* last work before a wait, 0 = not waiting */
};

/* The I/O thread's event sources, also the index of their poll window. */
enum { EV_KICK, EV_BACKEND };

struct VmmVirtioBlk {
    VmmVm *vm;
    const VmmDiskDef *disk;
    VmmBlockDev *dev;
    VmmVirtioDev *vdev;
    uint64_t capacity;           /* sectors */
    unsigned nqueues;
    BlkQueue *queues;
    gint wce;                    /* guest-visible write cache enable */
    uint64_t poll_ns;            /* I/O thread busy-poll window, 0 = off */
    bool discard;
    VmmBlkLimits limits;
};

static void put_le32(uint8_t *p, uint32_t v) { pci_set_u32(p, v); }
static void put_le64(uint8_t *p, uint64_t v) { pci_set_u32(p, v); pci_set_u32(p + 4, v >> 32); }

/* ---- requests --------------------------------------------------------- */

static void finish(BlkReq *r, uint8_t status)
{
    BlkQueue *q = r->q;
    *r->status = status;
    vmm_virtq_push(&q->blk->vdev->queues[q->index].vq, &r->elem, r->written);
    q->completed = true;
    q->inflight--;
    g_ptr_array_add(q->free_reqs, r);
}

static void on_complete(VmmBlockReq *breq, int ret)
{
    BlkReq *r = (BlkReq *)breq;
    if (ret >= 0 && r->flush_after) {
        /* Write cache off in the guest: a write is done once it is stable. */
        r->flush_after = false;
        r->breq.op = VMM_BLOCK_FLUSH;
        vmm_block_submit(r->q->bq, &r->breq);
        vmm_block_queue_kick(r->q->bq);
        return;
    }
    finish(r, ret < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

static void submit(BlkReq *r, VmmBlockOp op, uint64_t offset, uint64_t len)
{
    r->breq.op = op;
    r->breq.offset = offset;
    r->breq.len = len;
    r->breq.complete = on_complete;
    r->breq.opaque = r;
    vmm_block_submit(r->q->bq, &r->breq);
}

/* Starts one popped element; false when it cannot even be answered (the
 * device then needs a reset). */
static bool handle(BlkQueue *q, BlkReq *r)
{
    VmmVirtioBlk *b = q->blk;
    VmmVirtqElem *e = &r->elem;
    VmmBlkParsed p;
    const char *why;
    if (!vmm_blk_parse_request(e, &b->limits, &p, &why)) {
        vmm_virtio_needs_reset(b->vdev, "queue %u: request %u: %s", q->index, e->head, why);
        return false;
    }
    r->q = q;
    r->status = vmm_virtq_elem_status_ptr(e);   /* non-NULL: the parser checked */
    r->written = p.written;
    r->flush_after = false;
    q->inflight++;    /* balanced by finish() */
    if (p.get_id) {
        uint8_t id[VIRTIO_BLK_ID_BYTES] = { 0 };
        if (b->disk->serial)
            memcpy(id, b->disk->serial, MIN(strlen(b->disk->serial), sizeof(id)));
        vmm_virtq_elem_write(e, 0, id, p.written - 1);
    }
    if (!p.submit) {
        finish(r, p.status);
        return true;
    }
    r->breq.iov = r->iov;
    r->breq.iovcnt = p.op == VMM_BLOCK_READ || p.op == VMM_BLOCK_WRITE
        ? vmm_virtq_elem_iov(e, p.data_writable, p.data_offset, p.len, r->iov, BLK_MAX_IOV)
        : 0;
    r->flush_after = p.op == VMM_BLOCK_WRITE && !g_atomic_int_get(&b->wce) &&
                     vmm_block_has_write_cache(b->dev);
    submit(r, p.op, p.offset, p.len);
    return true;
}

/* Pops and starts what the driver made available, while requests are free. */
static void take_avail(BlkQueue *q)
{
    VmmVirtioBlk *b = q->blk;
    VmmVirtq *vq = &b->vdev->queues[q->index].vq;
    while (q->free_reqs->len && !vmm_virtio_broken(b->vdev)) {
        BlkReq *r = g_ptr_array_index(q->free_reqs, q->free_reqs->len - 1);
        g_autoptr(GError) err = NULL;
        int rc = vmm_virtq_pop(vq, &r->elem, &err);
        if (rc == 0)
            break;
        if (rc < 0) {
            vmm_virtio_needs_reset(b->vdev, "queue %u: %s", q->index, err->message);
            break;
        }
        g_ptr_array_remove_index_fast(q->free_reqs, q->free_reqs->len - 1);
        if (!handle(q, r)) {
            g_ptr_array_add(q->free_reqs, r);
            break;
        }
    }
}

/* Takes everything available; notifications stay off while we drain and
 * are back on when it returns (unless out of requests or broken). */
static void process(BlkQueue *q)
{
    VmmVirtioBlk *b = q->blk;
    VmmVirtq *vq = &b->vdev->queues[q->index].vq;
    /* One hand-over to the kernel or the pool for the whole batch. */
    vmm_block_queue_plug(q->bq);
    for (;;) {
        vmm_virtq_disable_notification(vq);
        take_avail(q);
        if (vmm_virtio_broken(b->vdev) || !q->free_reqs->len ||
            !vmm_virtq_enable_notification(vq))
            break;
    }
    vmm_block_queue_kick(q->bq);
}

static void publish(BlkQueue *q)
{
    if (!q->completed)
        return;
    q->completed = false;
    VmmVirtq *vq = &q->blk->vdev->queues[q->index].vq;
    vmm_virtq_flush(vq);
    if (vmm_virtq_should_notify(vq))
        vmm_virtio_notify(q->blk->vdev, q->index);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

#define POLL_START_NS   4000    /* QEMU's first step from 0 */
#define POLL_GROW       2       /* QEMU's default poll-grow */
#define POLL_CLOCK_SPINS 16     /* spins (~1 us) between clock reads */

/* QEMU's adjust_polling_time() with poll-grow 2 and poll-shrink 0: work
 * that came block_ns after the thread went idle. */
static void adjust_window(BlkQueue *q, unsigned src, uint64_t block_ns)
{
    uint64_t max = q->blk->poll_ns, *w = &q->poll_win[src];
    if (block_ns <= *w)
        return;                                  /* caught: keep it */
    if (block_ns > max)
        *w = 0;                                  /* would not pay: stop */
    else
        *w = MIN(*w ? *w * POLL_GROW : POLL_START_NS, max);
}

/* How long to poll now: completions can only come with requests in flight,
 * and new requests are only taken while some are free. */
static uint64_t poll_window(BlkQueue *q)
{
    uint64_t w = 0;
    if (q->inflight)
        w = q->poll_win[EV_BACKEND];
    if (q->free_reqs->len)
        w = MAX(w, q->poll_win[EV_KICK]);
    return w;
}

/* Busy-polls the avail ring and the backend's completion ring for the
 * adaptive window with guest notifications off the whole time (a request
 * that arrives meanwhile costs the guest no notify exit, ~50 us on PVM),
 * then re-arms them and looks once more before the thread sleeps. Each
 * spin is a few loads from shared memory: no system call, and a clock
 * read only every POLL_CLOCK_SPINS spins or after work. */
static void poll_queue(BlkQueue *q)
{
    VmmVirtq *vq = &q->blk->vdev->queues[q->index].vq;
    uint64_t idle = now_ns(), win = poll_window(q);
    if (win) {
        unsigned spins = 0;
        vmm_virtq_disable_notification(vq);
        while (!vmm_virtio_broken(q->blk->vdev)) {
            bool work = false;
            if (q->free_reqs->len && vmm_virtq_avail_pending(vq)) {
                vmm_block_queue_plug(q->bq);
                take_avail(q);
                vmm_block_queue_kick(q->bq);
                publish(q);   /* those answered at once: GET_ID, UNSUPP, IOERR */
                adjust_window(q, EV_KICK, now_ns() - idle);
                work = true;
            }
            if (q->inflight && vmm_block_queue_pending(q->bq)) {
                vmm_block_queue_complete(q->bq);
                publish(q);
                adjust_window(q, EV_BACKEND, now_ns() - idle);
                work = true;
            }
            if (work) {
                idle = now_ns();
                spins = 0;
                if (!(win = poll_window(q)))
                    break;
            } else if (++spins % POLL_CLOCK_SPINS == 0 && now_ns() - idle >= win) {
                break;
            } else {
                __builtin_ia32_pause();
            }
        }
    }
    q->idle_since = idle;
    /* Re-arm, then look once more: a buffer may have slipped in. What it
     * answered at once goes out now: the thread sleeps next, and the guest
     * may be waiting for just that answer. */
    if (vmm_virtq_enable_notification(vq))
        process(q);
    publish(q);
}

/* Woken from a wait by src: QEMU counts the time since the thread went
 * idle (polling included) against that source's window. */
static void woken(BlkQueue *q, unsigned src)
{
    if (q->idle_since) {
        adjust_window(q, src, now_ns() - q->idle_since);
        q->idle_since = 0;
    }
}

static void blk_ready(void *opaque)
{
    process(opaque);   /* kicks that came before we started */
}

static void blk_before_wait(void *opaque)
{
    BlkQueue *q = opaque;
    if (q->blk->poll_ns)
        poll_queue(q);
}

static void blk_event(void *opaque, uint32_t tag, bool stopping)
{
    BlkQueue *q = opaque;
    if (q->blk->poll_ns)
        woken(q, tag);
    if (tag == EV_BACKEND) {
        vmm_block_queue_complete(q->bq);
        publish(q);
        /* Completions freed slots: take what waited for them. */
    }
    if (!stopping)
        process(q);
}

static void blk_after(void *opaque, bool stopping)
{
    (void)stopping;
    publish(opaque);
}

/* Requests in the backend finish before the thread does. */
static bool blk_busy(void *opaque)
{
    return ((BlkQueue *)opaque)->inflight;
}

static const VmmIoThreadOps blk_io_ops = {
    .kind = VMM_THREAD_BLOCK,
    .ready = blk_ready,
    .before_wait = blk_before_wait,
    .event = blk_event,
    .after = blk_after,
    .busy = blk_busy,
};

/* ---- virtio device ops -------------------------------------------------- */

static bool blk_start(VmmVirtioDev *d, GError **err)
{
    (void)err;
    VmmVirtioBlk *b = d->opaque;
    for (unsigned i = 0; i < b->nqueues; i++) {
        BlkQueue *q = &b->queues[i];
        if (!d->queues[i].enabled)
            continue;
        vmm_iothread_watch(q->io, d->queues[i].kick_fd, EV_KICK, true);
        vmm_iothread_watch(q->io, vmm_block_queue_fd(q->bq), EV_BACKEND, false);
        g_autofree char *name = g_strdup_printf("blk-%s-q%u", b->disk->target_dev, i);
        vmm_iothread_start(q->io, name);
    }
    return true;
}

static void blk_stop(VmmVirtioDev *d)
{
    VmmVirtioBlk *b = d->opaque;
    for (unsigned i = 0; i < b->nqueues; i++)
        vmm_iothread_stop(b->queues[i].io);
}

static bool blk_features_ok(VmmVirtioDev *d, uint64_t features)
{
    VmmVirtioBlk *b = d->opaque;
    /* Without CONFIG_WCE the driver cannot see the write cache; QEMU then
     * keeps it only if FLUSH was negotiated. */
    if (!(features & (1ULL << VIRTIO_BLK_F_CONFIG_WCE)))
        g_atomic_int_set(&b->wce, !!(features & (1ULL << VIRTIO_BLK_F_FLUSH)) &&
                                      vmm_block_has_write_cache(b->dev));
    return true;
}

static void blk_config_write(VmmVirtioDev *d, unsigned off, uint64_t v, unsigned size)
{
    VmmVirtioBlk *b = d->opaque;
    /* Only the writeback byte is writable, and only with a write cache. */
    if (off == 32 && size == 1 && vmm_block_has_write_cache(b->dev)) {
        g_atomic_int_set(&b->wce, v & 1);
        g_mutex_lock(&d->lock);
        d->config[32] = v & 1;
        g_mutex_unlock(&d->lock);
    }
}

static const VmmVirtioOps blk_ops = {
    .name = "virtio-blk",
    .virtio_id = 2,
    .pci_class = 0x010000,
    .features_ok = blk_features_ok,
    .start = blk_start,
    .stop = blk_stop,
    .config_write = blk_config_write,
};

VmmVirtioBlk *vmm_virtio_blk_new(VmmVm *vm, const VmmDiskDef *disk, int pci_slot,
                                 GError **err)
{
    VmmVirtioBlk *b = g_new0(VmmVirtioBlk, 1);
    b->vm = vm;
    b->disk = disk;
    b->nqueues = disk->queues ? disk->queues : MIN(vm->nr_vcpus, VMM_MAX_DISK_QUEUES);
    b->dev = vmm_block_open_disk(disk, b->nqueues, err);
    if (!b->dev) {
        vmm_virtio_blk_free(b);
        return NULL;
    }
    b->capacity = vmm_block_size(b->dev) / VIRTIO_BLK_SECTOR;
    b->discard = disk->discard == VMM_DISCARD_UNMAP && vmm_block_supports_discard(b->dev);
    b->limits = (VmmBlkLimits){ .capacity = b->capacity, .readonly = disk->readonly,
                                .discard = b->discard, .serial = disk->serial };
    /* The most the adaptive window grows to: QEMU's default iothread
     * poll-max-ns, 32 us; VMM_BLK_POLL_US overrides it (0 = off),
     * documented in vmmd(8). */
    const char *poll = g_getenv("VMM_BLK_POLL_US");
    b->poll_ns = poll ? g_ascii_strtoull(poll, NULL, 10) * 1000 : 32000;
    bool wc = vmm_block_has_write_cache(b->dev);
    g_atomic_int_set(&b->wce, wc);
    uint64_t f = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH) |
                 (1ULL << VIRTIO_BLK_F_CONFIG_WCE) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
                 (1ULL << VIRTIO_RING_F_EVENT_IDX);
    if (disk->readonly)
        f |= 1ULL << VIRTIO_BLK_F_RO;
    if (b->nqueues > 1)
        f |= 1ULL << VIRTIO_BLK_F_MQ;
    if (b->discard)
        f |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
    g_autofree char *name = g_strdup_printf("virtio-blk %s", disk->target_dev);
    b->vdev = vmm_virtio_pci_new(vm, &blk_ops, b, name, b->nqueues, BLK_QUEUE_SIZE, f,
                                 BLK_CONFIG_SIZE, pci_slot, err);
    if (!b->vdev) {
        vmm_virtio_blk_free(b);
        return NULL;
    }
    uint8_t *c = b->vdev->config;
    put_le64(c + 0, b->capacity);
    put_le32(c + 12, BLK_QUEUE_SIZE - 2);          /* seg_max */
    put_le32(c + 20, VIRTIO_BLK_SECTOR);                  /* blk_size */
    c[32] = wc;                                    /* writeback */
    pci_set_u16(c + 34, b->nqueues);
    if (b->discard) {
        put_le32(c + 36, 0x3fffff);                /* max_discard_sectors */
        put_le32(c + 40, 1);                       /* max_discard_seg */
        put_le32(c + 44, 8);                       /* discard_sector_alignment (4 KiB) */
        put_le32(c + 48, 0x3fffff);                /* max_write_zeroes_sectors */
        put_le32(c + 52, 1);                       /* max_write_zeroes_seg */
        c[56] = 1;                                 /* write_zeroes_may_unmap */
    }
    b->queues = g_new0(BlkQueue, b->nqueues);
    for (unsigned i = 0; i < b->nqueues; i++) {
        BlkQueue *q = &b->queues[i];
        q->blk = b;
        q->index = i;
        q->bq = vmm_block_queue(b->dev, i);
        g_autofree char *what = g_strdup_printf("%s queue %u", name, i);
        if (!(q->io = vmm_iothread_new(what, &blk_io_ops, q, err))) {
            vmm_virtio_blk_free(b);
            return NULL;
        }
        q->reqs = g_new0(BlkReq, BLK_QUEUE_SIZE);
        q->free_reqs = g_ptr_array_sized_new(BLK_QUEUE_SIZE);
        for (unsigned j = 0; j < BLK_QUEUE_SIZE; j++)
            g_ptr_array_add(q->free_reqs, &q->reqs[j]);
    }
    return b;
}

void vmm_virtio_blk_free(VmmVirtioBlk *b)
{
    if (!b)
        return;
    vmm_virtio_pci_free(b->vdev);   /* stops the queue threads */
    for (unsigned i = 0; b->queues && i < b->nqueues; i++) {
        BlkQueue *q = &b->queues[i];
        vmm_iothread_free(q->io);
        g_free(q->reqs);
        if (q->free_reqs)
            g_ptr_array_free(q->free_reqs, TRUE);
    }
    g_free(b->queues);
    if (b->dev)
        vmm_block_close(b->dev);
    g_free(b);
}

void vmm_virtio_blk_get_stats(VmmVirtioBlk *b, VmmBlockStats *out)
{
    vmm_block_get_stats(b->dev, out);
}

const VmmDiskDef *vmm_virtio_blk_disk(VmmVirtioBlk *b)
{
    return b->disk;
}
