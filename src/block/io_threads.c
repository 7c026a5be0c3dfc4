/* io='threads': a pool of worker threads per device doing the blocking
 * preadv/pwritev/fdatasync/fallocate, as QEMU's thread pool does. The pool
 * also serves the other engines for what their kernel interface lacks
 * (discard and write-zeroes on Linux AIO, block-device ioctls).
 *
 * The work queue is an intrusive FIFO under one mutex (no allocation per
 * request). Threads start on demand, up to max_threads, and stay until the
 * device is closed. A submitter hands a "token" to each idle thread it wakes,
 * so that it knows exactly how many waiters are already spoken for and
 * starts a new thread only when the queued work exceeds them. Results go
 * back to the owning queue through vmm_block_post() (lock-free + eventfd). */
#include "block/block_int.h"
#include "util/sandbox.h"

#include <errno.h>

struct VmmBlockPool {
    VmmBlockDev *dev;
    GMutex lock;
    GCond cond;
    VmmBlockReqList work;
    unsigned max_threads;
    unsigned nthreads;
    unsigned idle;            /* waiting and not yet handed a token */
    unsigned tokens;          /* wake-ups handed out, not yet taken */
    bool stopping;
    GThread **threads;
};

static gpointer pool_thread(gpointer opaque)
{
    vmm_seccomp_enter_thread(VMM_THREAD_BLOCK);
    VmmBlockPool *p = opaque;

    g_mutex_lock(&p->lock);
    for (;;) {
        VmmBlockReq *req = req_list_pop(&p->work);
        if (!req) {
            if (p->stopping)
                break;
            p->idle++;
            while (p->tokens == 0 && !p->stopping)
                g_cond_wait(&p->cond, &p->lock);
            if (p->tokens)
                p->tokens--;
            else
                p->idle--;
            continue;
        }
        g_mutex_unlock(&p->lock);
        vmm_block_post(req, vmm_block_exec(p->dev, req));
        g_mutex_lock(&p->lock);
    }
    g_mutex_unlock(&p->lock);
    return NULL;
}

VmmBlockPool *vmm_block_pool_new(VmmBlockDev *dev, unsigned max_threads)
{
    VmmBlockPool *p = g_new0(VmmBlockPool, 1);
    p->dev = dev;
    g_mutex_init(&p->lock);
    g_cond_init(&p->cond);
    p->max_threads = MAX(max_threads, 1u);
    p->threads = g_new0(GThread *, p->max_threads);
    return p;
}

void vmm_block_pool_free(VmmBlockPool *p)
{
    if (!p)
        return;
    g_mutex_lock(&p->lock);
    p->stopping = true;
    g_cond_broadcast(&p->cond);
    g_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        g_thread_join(p->threads[i]);
    g_free(p->threads);
    g_cond_clear(&p->cond);
    g_mutex_clear(&p->lock);
    g_free(p);
}

void vmm_block_pool_submit(VmmBlockPool *p, VmmBlockReqList *chain, unsigned n)
{
    g_mutex_lock(&p->lock);
    req_list_concat(&p->work, chain);
    unsigned wake = MIN(n, p->idle);
    p->idle -= wake;
    p->tokens += wake;
    for (unsigned more = n - wake; more > 0 && p->nthreads < p->max_threads; more--) {
        GError *err = NULL;
        GThread *t = g_thread_try_new("vmm-blk-io", pool_thread, p, &err);
        if (!t) {
            g_warning("disk '%s': cannot start an I/O thread: %s", p->dev->path, err->message);
            g_error_free(err);
            break;
        }
        p->threads[p->nthreads++] = t;
    }
    if (p->nthreads == 0) {
        /* Nobody will ever run this work: fail it rather than hang. */
        VmmBlockReq *req;
        while ((req = req_list_pop(&p->work)))
            vmm_block_post(req, -EAGAIN);
    }
    g_mutex_unlock(&p->lock);
    /* After unlocking, so that the woken thread does not block on the
     * mutex at once; its token is already counted, nothing is lost. */
    for (unsigned i = 0; i < wake; i++)
        g_cond_signal(&p->cond);
}

void vmm_block_to_pool(VmmBlockQueue *q, VmmBlockReq *req)
{
    VmmBlockReqList one = { NULL, NULL };
    req_list_push(&one, req);
    vmm_block_pool_submit(q->dev->pool, &one, 1);
}

/* ------------------------------------------------------------------------ */
/* the engine                                                               */

typedef struct {
    VmmBlockReqList held;     /* plugged */
    unsigned nheld;
} ThreadsQueue;

static bool threads_queue_init(VmmBlockQueue *q, GError **err)
{
    (void)err;
    q->engine = g_new0(ThreadsQueue, 1);
    return true;
}

static void threads_queue_fini(VmmBlockQueue *q)
{
    g_free(q->engine);
    q->engine = NULL;
}

static void threads_kick(VmmBlockQueue *q)
{
    ThreadsQueue *tq = q->engine;
    if (tq->nheld) {
        unsigned n = tq->nheld;
        tq->nheld = 0;
        vmm_block_pool_submit(q->dev->pool, &tq->held, n);
    }
}

static void threads_submit(VmmBlockQueue *q, VmmBlockReq *req)
{
    ThreadsQueue *tq = q->engine;
    req_list_push(&tq->held, req);
    tq->nheld++;
    if (!q->plugged)
        threads_kick(q);
}

static void threads_reap(VmmBlockQueue *q, VmmBlockReqList *done)
{
    (void)q;   /* everything arrives through vmm_block_post() */
    (void)done;
}

static bool threads_pending(VmmBlockQueue *q)
{
    (void)q;   /* q->posted says it all */
    return false;
}

const VmmBlockEngine vmm_block_engine_threads = {
    .name = "threads",
    .queue_init = threads_queue_init,
    .queue_fini = threads_queue_fini,
    .submit = threads_submit,
    .kick = threads_kick,
    .reap = threads_reap,
    .pending = threads_pending,
};
