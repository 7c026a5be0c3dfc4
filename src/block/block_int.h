/* Internals shared by block.c and the I/O engines (io_threads.c,
 * io_native.c, io_uring.c). Not for device code. */
#ifndef VMM_BLOCK_INT_H
#define VMM_BLOCK_INT_H

#include "block/block.h"
#include "block/qcow2.h"

#include <sys/types.h>

/* A FIFO of requests linked through priv.next. */
typedef struct {
    VmmBlockReq *head, *tail;
} VmmBlockReqList;

static inline void req_list_push(VmmBlockReqList *l, VmmBlockReq *req)
{
    req->priv.next = NULL;
    if (l->tail)
        l->tail->priv.next = req;
    else
        l->head = req;
    l->tail = req;
}

static inline VmmBlockReq *req_list_pop(VmmBlockReqList *l)
{
    VmmBlockReq *req = l->head;
    if (req) {
        l->head = req->priv.next;
        if (!l->head)
            l->tail = NULL;
        req->priv.next = NULL;
    }
    return req;
}

static inline void req_list_concat(VmmBlockReqList *l, VmmBlockReqList *more)
{
    if (!more->head)
        return;
    if (l->tail)
        l->tail->priv.next = more->head;
    else
        l->head = more->head;
    l->tail = more->tail;
    more->head = more->tail = NULL;
}

typedef struct VmmBlockEngine {
    const char *name;
    bool (*queue_init)(VmmBlockQueue *q, GError **err);
    void (*queue_fini)(VmmBlockQueue *q);       /* nothing in flight */
    /* READ/WRITE use req->priv.iov/iovcnt; may hold the request until
     * kick when q->plugged. Errors are reported through vmm_block_post(). */
    void (*submit)(VmmBlockQueue *q, VmmBlockReq *req);
    void (*kick)(VmmBlockQueue *q);
    /* Append requests the kernel finished (priv.ret set) to done. */
    void (*reap)(VmmBlockQueue *q, VmmBlockReqList *done);
    /* Whether reap would find something (or has work to retry), from
     * user-space state only: no system call, a busy-poll loop asks it every
     * spin. NULL: unknown, the caller must reap whenever requests are in
     * flight. */
    bool (*pending)(VmmBlockQueue *q);
} VmmBlockEngine;

extern const VmmBlockEngine vmm_block_engine_threads;
extern const VmmBlockEngine vmm_block_engine_native;
extern const VmmBlockEngine vmm_block_engine_uring;

typedef struct VmmBlockPool VmmBlockPool;

/* Counters of one queue: written by its owner only (relaxed atomic stores,
 * no locked instructions), read by anyone. */
typedef struct {
    uint64_t rd_reqs, rd_bytes, rd_ns;
    uint64_t wr_reqs, wr_bytes, wr_ns;
    uint64_t fl_reqs, fl_ns;
    uint64_t errors;
} VmmBlockQueueStats;

#define VMM_BLOCK_BOUNCE_CACHE 16            /* buffers kept per queue */
#define VMM_BLOCK_BOUNCE_CACHED_SIZE (128 * 1024)

struct VmmBlockQueue {
    VmmBlockDev *dev;
    unsigned index;
    int efd;                      /* eventfd: completions pending */
    bool plugged;
    unsigned inflight;            /* owner only */
    VmmBlockReqList local;        /* owner: completed without the engine */
    VmmBlockReq *posted;          /* LIFO pushed by pool threads (atomic) */
    VmmBlockQueueStats stats;
    void *bounce_cache[VMM_BLOCK_BOUNCE_CACHE];
    unsigned n_bounce_cache;
    void *engine;                 /* the engine's per-queue state */
} __attribute__((aligned(64)));   /* queues are used by different threads */

struct VmmBlockDev {
    char *path;
    int fd;
    bool block_device;
    bool readonly;
    bool direct;                  /* O_DIRECT */
    VmmCacheMode cache;
    VmmIoMode io;
    VmmDiscardMode discard;
    uint64_t size;                /* what the guest sees: raw or virtual size */
    uint64_t source_size;         /* the file or device itself, at open */
    uint32_t logical_block_size;
    size_t mem_align;             /* O_DIRECT buffer address alignment */
    size_t len_align;             /* O_DIRECT offset and segment length alignment */
    const VmmBlockEngine *engine;
    VmmQcow2 *qcow2;              /* format layer, or NULL for raw */
    VmmBlockPool *pool;           /* threads engine; others for discard & co */
    unsigned nqueues;
    VmmBlockQueue *queues;        /* nqueues, cache-line aligned */
};

/* Performs req synchronously on dev (pool threads); returns priv.ret.
 * Reads and writes loop over short transfers; a read past the end of the
 * file completes with zeroes. The async engines send whatever the kernel
 * did not finish cleanly (a short transfer, -EAGAIN) here, whole: reading or
 * writing the same data again is harmless. */
int vmm_block_exec(VmmBlockDev *dev, VmmBlockReq *req);

/* Completion from any thread (pool threads); wakes the owner. */
void vmm_block_post(VmmBlockReq *req, int ret);
/* Completion from the owner thread outside reap (immediate errors). */
void vmm_block_post_local(VmmBlockQueue *q, VmmBlockReq *req, int ret);
/* Wakes the owner so that it calls vmm_block_queue_complete() (engines
 * with work left to retry). */
void vmm_block_queue_signal(VmmBlockQueue *q);

/* Pool of threads running vmm_block_exec(); threads start on demand. */
void vmm_block_to_pool(VmmBlockQueue *q, VmmBlockReq *req);
VmmBlockPool *vmm_block_pool_new(VmmBlockDev *dev, unsigned max_threads);
void vmm_block_pool_free(VmmBlockPool *pool);
/* Queues a chain (linked through priv.next) of n requests. */
void vmm_block_pool_submit(VmmBlockPool *pool, VmmBlockReqList *chain, unsigned n);

#endif
