#include "virtio/virtio_blk.h"
#include "virtio/virtio_pci.h"
#include "virtio/virtio_spec.h"
#include "vmm/vm.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define BLK_QUEUE_SIZE   256
#define BLK_SECTOR       512ULL
#define BLK_ID_BYTES     20
#define BLK_CONFIG_SIZE  60
#define BLK_MAX_IOV      (BLK_QUEUE_SIZE + 2)

/* Request types and status (virtio 1.2, 5.2.6). */
#define T_IN            0
#define T_OUT           1
#define T_FLUSH         4
#define T_GET_ID        8
#define T_DISCARD       11
#define T_WRITE_ZEROES  13
#define S_OK            0
#define S_IOERR         1
#define S_UNSUPP        2

/* Feature bits (5.2.3). */
#define F_SIZE_MAX      1
#define F_SEG_MAX       2
#define F_RO            5
#define F_BLK_SIZE      6
#define F_FLUSH         9
#define F_CONFIG_WCE    11
#define F_MQ            12
#define F_DISCARD       13
#define F_WRITE_ZEROES  14

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
    GThread *thread;
    int stop_fd;
    BlkReq *reqs;
    GPtrArray *free_reqs;
    unsigned inflight;
    bool completed;              /* pushed since the last flush */
};

struct VmmVirtioBlk {
    VmmVm *vm;
    const VmmDiskDef *disk;
    VmmBlockDev *dev;
    VmmVirtioDev *vdev;
    uint64_t capacity;           /* sectors */
    unsigned nqueues;
    BlkQueue *queues;
    gint wce;                    /* guest-visible write cache enable */
    bool discard;
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
    finish(r, ret < 0 ? S_IOERR : S_OK);
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

static bool in_range(VmmVirtioBlk *b, uint64_t sector, uint64_t bytes)
{
    uint64_t sectors = bytes / BLK_SECTOR;
    return sector <= b->capacity && sectors <= b->capacity - sector;
}

/* The status byte is the last device-writable byte of the chain. */
static uint8_t *status_byte(VmmVirtqElem *e)
{
    const VmmVirtqBuf *last = &e->bufs[e->nbufs - 1];
    return (uint8_t *)last->hva + last->len - 1;
}

/* Parses one popped element and starts it; false when the queue is beyond
 * a per-request error (the device then needs a reset). */
static bool handle(BlkQueue *q, BlkReq *r)
{
    VmmVirtioBlk *b = q->blk;
    VmmVirtqElem *e = &r->elem;
    r->q = q;
    r->written = 0;
    r->flush_after = false;
    if (e->in_bytes < 1 || !e->nbufs || !e->bufs[e->nbufs - 1].device_writable ||
        e->bufs[e->nbufs - 1].len == 0) {
        vmm_virtio_needs_reset(b->vdev, "queue %u: request %u has no device-writable status "
                               "byte", q->index, e->head);
        return false;
    }
    r->status = status_byte(e);
    r->written = 1;
    q->inflight++;    /* balanced by finish() */
    uint8_t hdr[16];
    if (vmm_virtq_elem_read(e, 0, hdr, sizeof(hdr)) != sizeof(hdr)) {
        finish(r, S_IOERR);
        return true;
    }
    uint32_t type = pci_get_u32(hdr);
    uint64_t sector = pci_get_u32(hdr + 8) | (uint64_t)pci_get_u32(hdr + 12) << 32;
    uint64_t out_data = e->out_bytes - sizeof(hdr), in_data = e->in_bytes - 1;
    switch (type) {
    case T_IN:
        if (in_data % BLK_SECTOR || !in_range(b, sector, in_data))
            break;
        r->breq.iovcnt = vmm_virtq_elem_iov(e, true, 0, in_data, r->iov, BLK_MAX_IOV);
        r->breq.iov = r->iov;
        r->written = in_data + 1;
        submit(r, VMM_BLOCK_READ, sector * BLK_SECTOR, in_data);
        return true;
    case T_OUT:
        if (b->disk->readonly || out_data % BLK_SECTOR || !in_range(b, sector, out_data))
            break;
        r->breq.iovcnt = vmm_virtq_elem_iov(e, false, sizeof(hdr), out_data, r->iov, BLK_MAX_IOV);
        r->breq.iov = r->iov;
        r->flush_after = !g_atomic_int_get(&b->wce) && vmm_block_has_write_cache(b->dev);
        submit(r, VMM_BLOCK_WRITE, sector * BLK_SECTOR, out_data);
        return true;
    case T_FLUSH:
        submit(r, VMM_BLOCK_FLUSH, 0, 0);
        return true;
    case T_GET_ID: {
        uint8_t id[BLK_ID_BYTES] = { 0 };
        if (b->disk->serial)
            memcpy(id, b->disk->serial, MIN(strlen(b->disk->serial), sizeof(id)));
        size_t n = vmm_virtq_elem_write(e, 0, id, MIN(in_data, sizeof(id)));
        r->written = n + 1;
        finish(r, S_OK);
        return true;
    }
    case T_DISCARD:
    case T_WRITE_ZEROES: {
        uint8_t seg[16];
        if (!b->discard) {
            finish(r, S_UNSUPP);
            return true;
        }
        /* max_discard_seg = max_write_zeroes_seg = 1. */
        if (b->disk->readonly || out_data != sizeof(seg) ||
            vmm_virtq_elem_read(e, sizeof(hdr), seg, sizeof(seg)) != sizeof(seg))
            break;
        uint64_t s = pci_get_u32(seg) | (uint64_t)pci_get_u32(seg + 4) << 32;
        uint64_t n = pci_get_u32(seg + 8);
        uint32_t flags = pci_get_u32(seg + 12);
        /* Discard with the unmap flag, and reserved flags: UNSUPP (5.2.6.2). */
        if (type == T_DISCARD ? flags != 0 : (flags & ~1u) != 0) {
            finish(r, S_UNSUPP);
            return true;
        }
        if (!in_range(b, s, n * BLK_SECTOR))
            break;
        submit(r, type == T_DISCARD ? VMM_BLOCK_DISCARD : VMM_BLOCK_WRITE_ZEROES,
               s * BLK_SECTOR, n * BLK_SECTOR);
        return true;
    }
    default:
        finish(r, S_UNSUPP);
        return true;
    }
    finish(r, S_IOERR);
    return true;
}

/* Takes everything available; notifications stay off while we drain. */
static void process(BlkQueue *q)
{
    VmmVirtioBlk *b = q->blk;
    VmmVirtq *vq = &b->vdev->queues[q->index].vq;
    /* One hand-over to the kernel or the pool for the whole batch. */
    vmm_block_queue_plug(q->bq);
    for (;;) {
        vmm_virtq_disable_notification(vq);
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

static gpointer queue_thread(gpointer data)
{
    BlkQueue *q = data;
    VmmVirtioQueue *vq = &q->blk->vdev->queues[q->index];
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN };
    ev.data.u32 = 0;
    epoll_ctl(ep, EPOLL_CTL_ADD, vq->kick_fd, &ev);
    ev.data.u32 = 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, vmm_block_queue_fd(q->bq), &ev);
    ev.data.u32 = 2;
    epoll_ctl(ep, EPOLL_CTL_ADD, q->stop_fd, &ev);
    /* Kicks that came before we started. */
    process(q);
    bool stopping = false;
    while (!stopping || q->inflight) {
        struct epoll_event evs[3];
        int n = epoll_wait(ep, evs, 3, -1);
        if (n < 0 && errno == EINTR)
            continue;
        for (int i = 0; i < n; i++) {
            uint64_t v;
            switch (evs[i].data.u32) {
            case 0:
                while (read(vq->kick_fd, &v, sizeof(v)) > 0)
                    ;
                if (!stopping)
                    process(q);
                break;
            case 1:
                vmm_block_queue_complete(q->bq);
                publish(q);
                /* Completions freed slots: take what waited for them. */
                if (!stopping)
                    process(q);
                break;
            case 2:
                stopping = true;
                break;
            }
        }
        publish(q);
    }
    close(ep);
    return NULL;
}

/* ---- virtio device ops -------------------------------------------------- */

static bool blk_start(VmmVirtioDev *d, GError **err)
{
    VmmVirtioBlk *b = d->opaque;
    for (unsigned i = 0; i < b->nqueues; i++) {
        BlkQueue *q = &b->queues[i];
        if (!d->queues[i].enabled)
            continue;
        uint64_t junk;
        while (read(q->stop_fd, &junk, sizeof(junk)) > 0)
            ;
        g_autofree char *name = g_strdup_printf("blk-%s-q%u", b->disk->target_dev, i);
        q->thread = g_thread_new(name, queue_thread, q);
    }
    return true;
}

static void blk_stop(VmmVirtioDev *d)
{
    VmmVirtioBlk *b = d->opaque;
    for (unsigned i = 0; i < b->nqueues; i++) {
        BlkQueue *q = &b->queues[i];
        if (!q->thread)
            continue;
        uint64_t one = 1;
        if (write(q->stop_fd, &one, sizeof(one)) < 0)
            vmm_log_warn("%s: cannot stop queue %u: %s", d->name, i, g_strerror(errno));
        g_thread_join(q->thread);
        q->thread = NULL;
    }
}

static bool blk_features_ok(VmmVirtioDev *d, uint64_t features)
{
    VmmVirtioBlk *b = d->opaque;
    /* Without CONFIG_WCE the driver cannot see the write cache; QEMU then
     * keeps it only if FLUSH was negotiated. */
    if (!(features & (1ULL << F_CONFIG_WCE)))
        g_atomic_int_set(&b->wce, !!(features & (1ULL << F_FLUSH)) &&
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

VmmVirtioBlk *vmm_virtio_blk_new(VmmVm *vm, const VmmDiskDef *disk, GError **err)
{
    VmmVirtioBlk *b = g_new0(VmmVirtioBlk, 1);
    b->vm = vm;
    b->disk = disk;
    b->nqueues = disk->queues ? disk->queues : MIN(vm->nr_vcpus, VMM_MAX_DISK_QUEUES);
    b->dev = vmm_block_open(disk->path, disk->type == VMM_DISK_BLOCK, disk->readonly,
                            disk->cache, disk->io, disk->discard, b->nqueues, err);
    if (!b->dev) {
        vmm_virtio_blk_free(b);
        return NULL;
    }
    b->capacity = vmm_block_size(b->dev) / BLK_SECTOR;
    b->discard = disk->discard == VMM_DISCARD_UNMAP && vmm_block_supports_discard(b->dev);
    bool wc = vmm_block_has_write_cache(b->dev);
    g_atomic_int_set(&b->wce, wc);
    uint64_t f = (1ULL << F_SEG_MAX) | (1ULL << F_BLK_SIZE) | (1ULL << F_FLUSH) |
                 (1ULL << F_CONFIG_WCE) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
                 (1ULL << VIRTIO_RING_F_EVENT_IDX);
    if (disk->readonly)
        f |= 1ULL << F_RO;
    if (b->nqueues > 1)
        f |= 1ULL << F_MQ;
    if (b->discard)
        f |= (1ULL << F_DISCARD) | (1ULL << F_WRITE_ZEROES);
    g_autofree char *name = g_strdup_printf("virtio-blk %s", disk->target_dev);
    b->vdev = vmm_virtio_pci_new(vm, &blk_ops, b, name, b->nqueues, BLK_QUEUE_SIZE, f,
                                 BLK_CONFIG_SIZE, disk->pci_slot, err);
    if (!b->vdev) {
        vmm_virtio_blk_free(b);
        return NULL;
    }
    uint8_t *c = b->vdev->config;
    put_le64(c + 0, b->capacity);
    put_le32(c + 12, BLK_QUEUE_SIZE - 2);          /* seg_max */
    put_le32(c + 20, BLK_SECTOR);                  /* blk_size */
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
        q->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
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
        if (q->stop_fd >= 0)
            close(q->stop_fd);
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
