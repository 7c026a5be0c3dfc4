/* io='io_uring': one ring per queue (liburing), the queue's eventfd
 * registered with the ring so the owner's poll loop sees completions.
 * READV/WRITEV, FSYNC with IORING_FSYNC_DATASYNC, and FALLOCATE for
 * discard/write-zeroes on files with a write cache. The thread pool takes
 * what the ring cannot finish cleanly: block-device ioctls, fallocate
 * without a write cache (it must be followed by fdatasync), a fallocate mode
 * the filesystem lacks, short transfers and -EAGAIN.
 *
 * At most CQ-size requests are in the ring, so the completion queue never
 * overflows; the rest wait on a list in submission order. */
#include "block/block_int.h"

#include <errno.h>
#include <linux/falloc.h>
#include <liburing.h>

#define URING_ENTRIES 128                     /* SQ; the CQ gets twice that */
#define URING_MAX_INFLIGHT (2 * URING_ENTRIES)

typedef struct {
    struct io_uring ring;
    unsigned inflight;            /* SQEs taken and not yet reaped */
    VmmBlockReqList waiting;
} UringQueue;

static bool uring_queue_init(VmmBlockQueue *q, GError **err)
{
    UringQueue *uq = g_new0(UringQueue, 1);
    int r = io_uring_queue_init(URING_ENTRIES, &uq->ring, 0);
    if (r < 0) {
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_UNSUPPORTED,
                    "disk '%s': cannot set up an io_uring for io='io_uring': %s%s",
                    q->dev->path, g_strerror(-r),
                    r == -EPERM || r == -ENOSYS ? " (io_uring disabled on this host?)" : "");
        g_free(uq);
        return false;
    }
    r = io_uring_register_eventfd(&uq->ring, q->efd);
    if (r < 0) {
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_UNSUPPORTED,
                    "disk '%s': cannot register an eventfd with io_uring: %s",
                    q->dev->path, g_strerror(-r));
        io_uring_queue_exit(&uq->ring);
        g_free(uq);
        return false;
    }
    q->engine = uq;
    return true;
}

static void uring_queue_fini(VmmBlockQueue *q)
{
    UringQueue *uq = q->engine;
    if (!uq)
        return;
    io_uring_queue_exit(&uq->ring);
    g_free(uq);
    q->engine = NULL;
}

static bool via_pool(VmmBlockDev *dev, const VmmBlockReq *req)
{
    if (req->op != VMM_BLOCK_DISCARD && req->op != VMM_BLOCK_WRITE_ZEROES)
        return false;
    return dev->block_device || !vmm_block_has_write_cache(dev);
}

static void do_submit(VmmBlockQueue *q)
{
    UringQueue *uq = q->engine;
    if (io_uring_sq_ready(&uq->ring) == 0)
        return;
    int r = io_uring_submit(&uq->ring);
    /* -EBUSY/-EAGAIN/-EINTR, or stopped early: try again from complete(). */
    if (r < 0 || io_uring_sq_ready(&uq->ring) > 0)
        vmm_block_queue_signal(q);
}

/* Takes an SQE for req; false when the ring is full. */
static bool prep(VmmBlockQueue *q, VmmBlockReq *req)
{
    UringQueue *uq = q->engine;
    VmmBlockDev *dev = q->dev;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&uq->ring);
    if (!sqe) {
        do_submit(q);
        sqe = io_uring_get_sqe(&uq->ring);
        if (!sqe)
            return false;
    }
    switch (req->op) {
    case VMM_BLOCK_READ:
        io_uring_prep_readv(sqe, dev->fd, req->priv.iov, req->priv.iovcnt, req->priv.off);
        break;
    case VMM_BLOCK_WRITE:
        io_uring_prep_writev(sqe, dev->fd, req->priv.iov, req->priv.iovcnt, req->priv.off);
        break;
    case VMM_BLOCK_FLUSH:
        io_uring_prep_fsync(sqe, dev->fd, IORING_FSYNC_DATASYNC);
        break;
    case VMM_BLOCK_DISCARD:
        io_uring_prep_fallocate(sqe, dev->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                (off_t)req->offset, (off_t)req->len);
        break;
    case VMM_BLOCK_WRITE_ZEROES:
        io_uring_prep_fallocate(sqe, dev->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                                (off_t)req->offset, (off_t)req->len);
        break;
    }
    io_uring_sqe_set_data(sqe, req);
    uq->inflight++;
    return true;
}

static void uring_submit(VmmBlockQueue *q, VmmBlockReq *req)
{
    UringQueue *uq = q->engine;
    if (via_pool(q->dev, req)) {
        vmm_block_to_pool(q, req);
        return;
    }
    if (uq->waiting.head || uq->inflight >= URING_MAX_INFLIGHT || !prep(q, req)) {
        req_list_push(&uq->waiting, req);
        if (uq->inflight == 0)
            vmm_block_queue_signal(q);   /* nothing in the ring will wake us */
        return;
    }
    if (!q->plugged)
        do_submit(q);
}

static void uring_kick(VmmBlockQueue *q)
{
    do_submit(q);
}

static void uring_reap(VmmBlockQueue *q, VmmBlockReqList *done)
{
    UringQueue *uq = q->engine;
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;

    io_uring_for_each_cqe(&uq->ring, head, cqe) {
        VmmBlockReq *req = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        n++;
        switch (req->op) {
        case VMM_BLOCK_READ:
        case VMM_BLOCK_WRITE:
            if ((res >= 0 && (uint64_t)res < req->len) || res == -EAGAIN || res == -EINTR) {
                vmm_block_to_pool(q, req);
                continue;
            }
            req->priv.ret = res < 0 ? res : 0;
            break;
        case VMM_BLOCK_DISCARD:
            /* Discard is a hint (see do_discard in block.c). */
            req->priv.ret = (res == -EOPNOTSUPP || res == -EINVAL) ? 0 : MIN(res, 0);
            break;
        case VMM_BLOCK_WRITE_ZEROES:
            if (res == -EOPNOTSUPP || res == -EINVAL || res == -EAGAIN || res == -EINTR) {
                vmm_block_to_pool(q, req);   /* it has the fallbacks */
                continue;
            }
            req->priv.ret = MIN(res, 0);
            break;
        case VMM_BLOCK_FLUSH:
            if (res == -EAGAIN || res == -EINTR) {
                vmm_block_to_pool(q, req);
                continue;
            }
            req->priv.ret = MIN(res, 0);
            break;
        }
        req_list_push(done, req);
    }
    io_uring_cq_advance(&uq->ring, n);
    uq->inflight -= n;

    VmmBlockReq *req;
    while (uq->waiting.head && uq->inflight < URING_MAX_INFLIGHT) {
        req = uq->waiting.head;
        if (!prep(q, req))
            break;
        req_list_pop(&uq->waiting);
    }
    if (!q->plugged)
        do_submit(q);
}

/* The CQ ring is shared memory: peeking at its tail costs no syscall. */
static bool uring_pending(VmmBlockQueue *q)
{
    UringQueue *uq = q->engine;
    return io_uring_cq_ready(&uq->ring) || io_uring_sq_ready(&uq->ring) ||
           (uq->waiting.head && uq->inflight < URING_MAX_INFLIGHT);
}

const VmmBlockEngine vmm_block_engine_uring = {
    .name = "io_uring",
    .queue_init = uring_queue_init,
    .queue_fini = uring_queue_fini,
    .submit = uring_submit,
    .kick = uring_kick,
    .reap = uring_reap,
    .pending = uring_pending,
};
