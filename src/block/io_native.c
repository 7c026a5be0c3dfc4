/* io='native': Linux AIO through the raw system calls (no libaio), one
 * context per queue, completion signalled on the queue's eventfd with
 * IOCB_FLAG_RESFD. Only O_DIRECT makes Linux AIO asynchronous, hence the
 * cache none/directsync requirement checked at open.
 *
 * Completions are read straight from the context's ring in our memory, as
 * libaio and QEMU do, which spares an io_getevents call per batch. Linux AIO
 * has no discard or write-zeroes: those go to the device's thread pool, as
 * does FDSYNC on kernels older than 4.18 that refuse it, and any short
 * transfer (the pool finishes it, or reads zeroes past the end of file). */
#include "block/block_int.h"

#include <errno.h>
#include <linux/aio_abi.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NATIVE_DEPTH 256          /* requests in the kernel per queue */

/* The kernel's completion ring at the address of the context (fs/aio.c). */
struct aio_ring_hdr {
    unsigned id, nr, head, tail;
    unsigned magic, compat_features, incompat_features, header_length;
    struct io_event io_events[];
};
#define AIO_RING_MAGIC 0xa10a10a1

typedef struct {
    aio_context_t ctx;
    unsigned inflight;                   /* accepted by io_submit */
    struct iocb *batch[NATIVE_DEPTH];    /* prepared, not yet accepted */
    unsigned nbatch;
    VmmBlockReqList waiting;             /* beyond NATIVE_DEPTH */
    bool fdsync_unsupported;
    struct io_event events[NATIVE_DEPTH];
} NativeQueue;

_Static_assert(sizeof(struct iocb) <= sizeof(((VmmBlockReqPriv *)0)->engine),
               "the iocb lives in the request");

static long sys_io_setup(unsigned nr, aio_context_t *ctx)
{
    return syscall(__NR_io_setup, nr, ctx);
}

static long sys_io_destroy(aio_context_t ctx)
{
    return syscall(__NR_io_destroy, ctx);
}

static long sys_io_submit(aio_context_t ctx, long nr, struct iocb **iocbs)
{
    return syscall(__NR_io_submit, ctx, nr, iocbs);
}

static long sys_io_getevents(aio_context_t ctx, long min_nr, long nr,
                             struct io_event *events, struct timespec *timeout)
{
    return syscall(__NR_io_getevents, ctx, min_nr, nr, events, timeout);
}

static bool native_queue_init(VmmBlockQueue *q, GError **err)
{
    NativeQueue *nq = g_new0(NativeQueue, 1);
    if (sys_io_setup(NATIVE_DEPTH, &nq->ctx) < 0) {
        int e = errno;
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_UNSUPPORTED,
                    "disk '%s': cannot create a Linux AIO context for io='native' "
                    "(io_setup): %s%s", q->dev->path, g_strerror(e),
                    e == EAGAIN ? " (fs.aio-max-nr reached)" : "");
        g_free(nq);
        return false;
    }
    q->engine = nq;
    return true;
}

static void native_queue_fini(VmmBlockQueue *q)
{
    NativeQueue *nq = q->engine;
    if (!nq)
        return;
    sys_io_destroy(nq->ctx);
    g_free(nq);
    q->engine = NULL;
}

static void prep(VmmBlockQueue *q, VmmBlockReq *req)
{
    struct iocb *cb = (struct iocb *)req->priv.engine;
    memset(cb, 0, sizeof(*cb));
    cb->aio_data = (uint64_t)(uintptr_t)req;
    cb->aio_fildes = (uint32_t)q->dev->fd;
    cb->aio_flags = IOCB_FLAG_RESFD;
    cb->aio_resfd = (uint32_t)q->efd;
    cb->aio_offset = (int64_t)req->priv.off;
    if (req->op == VMM_BLOCK_FLUSH) {
        cb->aio_lio_opcode = IOCB_CMD_FDSYNC;
    } else if (req->priv.iovcnt == 1) {
        /* One buffer: PREAD/PWRITE spare the kernel importing a vector. */
        cb->aio_lio_opcode = req->op == VMM_BLOCK_READ ? IOCB_CMD_PREAD : IOCB_CMD_PWRITE;
        cb->aio_buf = (uint64_t)(uintptr_t)req->priv.iov[0].iov_base;
        cb->aio_nbytes = req->priv.iov[0].iov_len;
    } else {
        cb->aio_lio_opcode = req->op == VMM_BLOCK_READ ? IOCB_CMD_PREADV : IOCB_CMD_PWRITEV;
        cb->aio_buf = (uint64_t)(uintptr_t)req->priv.iov;
        cb->aio_nbytes = req->priv.iovcnt;
    }
}

static void native_flush_batch(VmmBlockQueue *q)
{
    NativeQueue *nq = q->engine;
    while (nq->nbatch > 0) {
        long r = sys_io_submit(nq->ctx, nq->nbatch, nq->batch);
        if (r > 0) {
            nq->inflight += (unsigned)r;
            nq->nbatch -= (unsigned)r;
            memmove(nq->batch, nq->batch + r, nq->nbatch * sizeof(nq->batch[0]));
            continue;
        }
        int e = r < 0 ? errno : EAGAIN;
        if (e == EAGAIN || e == EINTR) {
            /* Retried on the next completion; with none to come, make one. */
            if (nq->inflight == 0)
                vmm_block_queue_signal(q);
            return;
        }
        /* The first iocb was refused: fail it alone and go on. */
        VmmBlockReq *req = (VmmBlockReq *)(uintptr_t)nq->batch[0]->aio_data;
        nq->nbatch--;
        memmove(nq->batch, nq->batch + 1, nq->nbatch * sizeof(nq->batch[0]));
        if (req->op == VMM_BLOCK_FLUSH && e == EINVAL) {
            nq->fdsync_unsupported = true;
            vmm_block_to_pool(q, req);
        } else {
            vmm_block_post_local(q, req, -e);
        }
    }
}

static void native_submit(VmmBlockQueue *q, VmmBlockReq *req)
{
    NativeQueue *nq = q->engine;
    if (req->op == VMM_BLOCK_DISCARD || req->op == VMM_BLOCK_WRITE_ZEROES ||
        (req->op == VMM_BLOCK_FLUSH && nq->fdsync_unsupported)) {
        vmm_block_to_pool(q, req);
        return;
    }
    if (nq->inflight + nq->nbatch >= NATIVE_DEPTH || nq->waiting.head) {
        req_list_push(&nq->waiting, req);
        return;
    }
    prep(q, req);
    nq->batch[nq->nbatch++] = (struct iocb *)req->priv.engine;
    if (!q->plugged)
        native_flush_batch(q);
}

static void native_kick(VmmBlockQueue *q)
{
    native_flush_batch(q);
}

static unsigned get_events(NativeQueue *nq)
{
    struct aio_ring_hdr *ring = (struct aio_ring_hdr *)(uintptr_t)nq->ctx;
    if (ring->magic != AIO_RING_MAGIC || ring->incompat_features != 0) {
        struct timespec zero = { 0, 0 };
        long r = sys_io_getevents(nq->ctx, 0, NATIVE_DEPTH, nq->events, &zero);
        return r > 0 ? (unsigned)r : 0;
    }
    unsigned head = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
    unsigned tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
    unsigned nr = ring->nr, n = 0;
    while (head != tail && n < NATIVE_DEPTH) {
        nq->events[n++] = ring->io_events[head];
        head = head + 1 == nr ? 0 : head + 1;
    }
    /* Publishing head frees the slots for the kernel's accounting. */
    __atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
    return n;
}

static void native_reap(VmmBlockQueue *q, VmmBlockReqList *done)
{
    NativeQueue *nq = q->engine;
    unsigned n;
    do {
        n = get_events(nq);
        for (unsigned i = 0; i < n; i++) {
            VmmBlockReq *req = (VmmBlockReq *)(uintptr_t)nq->events[i].data;
            int64_t res = nq->events[i].res;
            nq->inflight--;
            if (req->op == VMM_BLOCK_FLUSH) {
                if (res == -EINVAL) {
                    nq->fdsync_unsupported = true;
                    vmm_block_to_pool(q, req);
                    continue;
                }
                req->priv.ret = res < 0 ? (int)res : 0;
            } else if (res >= 0 && (uint64_t)res < req->len) {
                vmm_block_to_pool(q, req);   /* short: the pool loops */
                continue;
            } else {
                req->priv.ret = res < 0 ? (int)res : 0;
            }
            req_list_push(done, req);
        }
    } while (n == NATIVE_DEPTH);

    VmmBlockReq *req;
    while (nq->inflight + nq->nbatch < NATIVE_DEPTH && (req = req_list_pop(&nq->waiting))) {
        prep(q, req);
        nq->batch[nq->nbatch++] = (struct iocb *)req->priv.engine;
    }
    if (!q->plugged)
        native_flush_batch(q);
}

const VmmBlockEngine vmm_block_engine_native = {
    .name = "native",
    .queue_init = native_queue_init,
    .queue_fini = native_queue_fini,
    .submit = native_submit,
    .kick = native_kick,
    .reap = native_reap,
};
