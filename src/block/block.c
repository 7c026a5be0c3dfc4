/* Block backends: opening the source with the cache= flags, the request
 * path common to every engine (checks, O_DIRECT bounce buffers, statistics,
 * completion lists) and the synchronous operations the thread pool runs.
 *
 * Completions reach the owner of a queue three ways, all drained by
 * vmm_block_queue_complete():
 *  - q->local: finished at submit time (errors, no-op flushes), owner only;
 *  - q->posted: a lock-free LIFO that pool threads push onto;
 *  - the engine's kernel queue (io_uring CQ, AIO ring), via engine->reap.
 * All three signal q->efd when they go from empty to non-empty (the kernel
 * signals it for io_uring and AIO), and complete() clears it before looking,
 * so no completion is left behind without the fd being readable. */
#include "block/block_int.h"
#include "util/sandbox.h"
#include "block/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX_THREADS 64          /* as QEMU's thread pool */
#define ZERO_CHUNK (1024 * 1024)     /* write-zeroes fallback buffer */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* open / close                                                             */

static void probe_alignment(VmmBlockDev *dev)
{
    uint32_t lbs = 512;
    if (dev->block_device) {
        int sz = 0;
        if (ioctl(dev->fd, BLKSSZGET, &sz) == 0 && sz >= 512)
            lbs = (uint32_t)sz;
    }
    /* Without better knowledge, buffers at page boundaries always work. */
    dev->len_align = lbs;
    dev->mem_align = dev->block_device ? lbs : 4096;
#ifdef STATX_DIOALIGN
    struct statx stx;
    if (dev->direct &&
        statx(dev->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
        (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align != 0) {
        dev->len_align = stx.stx_dio_offset_align;
        dev->mem_align = stx.stx_dio_mem_align ? stx.stx_dio_mem_align : 1;
    }
#endif
    dev->logical_block_size = lbs;
    if (dev->direct && dev->len_align > lbs)
        dev->logical_block_size = (uint32_t)dev->len_align;
}

int vmm_block_open_flags(bool readonly, VmmCacheMode cache)
{
    int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    if (cache == VMM_CACHE_NONE || cache == VMM_CACHE_DIRECTSYNC)
        flags |= O_DIRECT;
    if (cache == VMM_CACHE_WRITETHROUGH || cache == VMM_CACHE_DIRECTSYNC)
        flags |= O_DSYNC;
    return flags;
}

/* A descriptor opened by someone else (vmmd) must be what we would have
 * opened: the cache mode's O_DIRECT/O_DSYNC, and no write access a
 * read-only disk should not have. */
static bool check_given_fd(VmmBlockDev *dev, GError **err)
{
    int want = vmm_block_open_flags(dev->readonly, dev->cache);
    int got = fcntl(dev->fd, F_GETFL);
    int mask = O_ACCMODE | O_DIRECT | O_DSYNC;
    if (got < 0 || (got & mask) != (want & mask)) {
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_OPEN,
                    "disk '%s': the descriptor passed for it is open %s%s%s, but a %s disk "
                    "with cache='%s' needs %s%s%s", dev->path,
                    got < 0 ? "(unknown)" : (got & O_ACCMODE) == O_RDONLY ? "read-only"
                                                                          : "read-write",
                    got >= 0 && (got & O_DIRECT) ? " with O_DIRECT" : "",
                    got >= 0 && (got & O_DSYNC) == O_DSYNC ? " with O_DSYNC" : "",
                    dev->readonly ? "read-only" : "writable",
                    vmm_cache_mode_to_string(dev->cache),
                    dev->readonly ? "read-only" : "read-write",
                    want & O_DIRECT ? " with O_DIRECT" : "",
                    (want & O_DSYNC) == O_DSYNC ? " with O_DSYNC" : "");
        return false;
    }
    return true;
}

static bool open_source(VmmBlockDev *dev, GError **err)
{
    int flags = vmm_block_open_flags(dev->readonly, dev->cache);

    if (dev->fd >= 0) {
        if (!check_given_fd(dev, err))
            return false;
    } else {
        dev->fd = vmm_sandbox_open(dev->path, flags, 0);
    }
    if (dev->fd < 0) {
        int e = errno;
        if (e == EINVAL && dev->direct) {
            g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_OPEN,
                        "disk '%s': cannot open with O_DIRECT for cache='%s': "
                        "its filesystem does not support direct I/O (%s)",
                        dev->path, vmm_cache_mode_to_string(dev->cache), g_strerror(e));
        } else {
            g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_OPEN,
                        "disk '%s': cannot open %s: %s", dev->path,
                        dev->readonly ? "read-only" : "read-write", g_strerror(e));
        }
        return false;
    }

    struct stat st;
    if (fstat(dev->fd, &st) < 0) {
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_OPEN,
                    "disk '%s': cannot stat: %s", dev->path, g_strerror(errno));
        return false;
    }
    if (dev->block_device && !S_ISBLK(st.st_mode)) {
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_INVALID,
                    "disk '%s': not a block device, as <disk type='block'> requires",
                    dev->path);
        return false;
    }
    if (!dev->block_device && !S_ISREG(st.st_mode)) {
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_INVALID,
                    "disk '%s': not a regular file, as <disk type='file'> requires%s",
                    dev->path, S_ISBLK(st.st_mode) ? " (use <disk type='block'>)" : "");
        return false;
    }

    if (dev->block_device) {
        uint64_t bytes = 0;
        if (ioctl(dev->fd, BLKGETSIZE64, &bytes) < 0) {
            g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_OPEN,
                        "disk '%s': cannot get the device size (BLKGETSIZE64): %s",
                        dev->path, g_strerror(errno));
            return false;
        }
        dev->size = bytes;
    } else {
        dev->size = (uint64_t)st.st_size;
    }
    if (!vmm_image_lock(dev->fd, dev->path, !dev->readonly, err))
        return false;
    probe_alignment(dev);
    return true;
}

static void queue_free_bounce_cache(VmmBlockQueue *q)
{
    while (q->n_bounce_cache)
        free(q->bounce_cache[--q->n_bounce_cache]);
}

VmmBlockDev *vmm_block_open(const char *path, bool block_device, bool readonly,
                            VmmCacheMode cache, VmmIoMode io,
                            VmmDiscardMode discard, unsigned nqueues,
                            GError **err)
{
    return vmm_block_open_image(path, VMM_IMAGE_FORMAT_RAW, NULL, block_device, readonly,
                                cache, io, discard, nqueues, err);
}

VmmBlockDev *vmm_block_open_disk(const VmmDiskDef *disk, unsigned nqueues, GError **err)
{
    /* <backingStore> levels, linked as the qcow2 layer takes them */
    unsigned n = 0;
    for (const VmmDiskBackingStore *b = disk->backing; b; b = b->next)
        n++;
    g_autofree VmmImageBacking *chain = g_new0(VmmImageBacking, MAX(n, 1u));
    unsigned i = 0;
    for (const VmmDiskBackingStore *b = disk->backing; b; b = b->next, i++) {
        chain[i].none = b->none;
        chain[i].path = b->path;
        chain[i].format = b->format == VMM_DISK_FORMAT_QCOW2 ? VMM_IMAGE_FORMAT_QCOW2
                                                             : VMM_IMAGE_FORMAT_RAW;
        chain[i].next = i + 1 < n ? &chain[i + 1] : NULL;
    }
    return vmm_block_open_image(disk->path, disk->format == VMM_DISK_FORMAT_QCOW2
                                ? VMM_IMAGE_FORMAT_QCOW2 : VMM_IMAGE_FORMAT_RAW,
                                n ? chain : NULL, disk->type == VMM_DISK_BLOCK,
                                disk->readonly, disk->cache, disk->io, disk->discard,
                                nqueues, err);
}

static bool open_format(VmmBlockDev *dev, VmmImageFormat format,
                        const VmmImageBacking *backing, GError **err)
{
    if (format == VMM_IMAGE_FORMAT_RAW)
        return true;
    if (format != VMM_IMAGE_FORMAT_QCOW2) {
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_INVALID,
                    "disk '%s': the image format must be given (raw or qcow2)", dev->path);
        return false;
    }
    dev->source_size = dev->size;
    VmmQcow2Options o = {
        .readonly = dev->readonly, .direct = dev->direct, .align = dev->len_align,
        .flush_metadata = dev->cache != VMM_CACHE_UNSAFE,
        .discard_unmap = dev->discard == VMM_DISCARD_UNMAP, .backing = backing,
    };
    o.align = MAX(o.align, dev->mem_align);
    dev->qcow2 = vmm_qcow2_open(dev->fd, dev->path, &o, err);
    if (!dev->qcow2)
        return false;
    dev->size = vmm_qcow2_size(dev->qcow2);
    return true;
}

static VmmBlockDev *block_open(const char *path, int fd, VmmImageFormat format,
                               const VmmImageBacking *backing, bool block_device,
                               bool readonly, VmmCacheMode cache, VmmIoMode io,
                               VmmDiscardMode discard, unsigned nqueues, GError **err);

VmmBlockDev *vmm_block_open_image(const char *path, VmmImageFormat format,
                                  const VmmImageBacking *backing, bool block_device,
                                  bool readonly, VmmCacheMode cache, VmmIoMode io,
                                  VmmDiscardMode discard, unsigned nqueues, GError **err)
{
    return block_open(path, -1, format, backing, block_device, readonly, cache, io, discard,
                      nqueues, err);
}

VmmBlockDev *vmm_block_open_fd(int fd, const char *path, bool block_device, bool readonly,
                               VmmCacheMode cache, VmmIoMode io, VmmDiscardMode discard,
                               unsigned nqueues, GError **err)
{
    return block_open(path, fd, VMM_IMAGE_FORMAT_RAW, NULL, block_device, readonly, cache, io,
                      discard, nqueues, err);
}

static VmmBlockDev *block_open(const char *path, int fd, VmmImageFormat format,
                               const VmmImageBacking *backing, bool block_device,
                               bool readonly, VmmCacheMode cache, VmmIoMode io,
                               VmmDiscardMode discard, unsigned nqueues, GError **err)
{
    g_return_val_if_fail(path != NULL, NULL);

    if (nqueues == 0 || nqueues > VMM_BLOCK_MAX_QUEUES) {
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_INVALID,
                    "disk '%s': %u queues requested, between 1 and %u supported",
                    path, nqueues, VMM_BLOCK_MAX_QUEUES);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if ((unsigned)cache > VMM_CACHE_UNSAFE || (unsigned)io > VMM_IO_URING) {
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_INVALID,
                    "disk '%s': invalid cache or io mode", path);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    bool direct = cache == VMM_CACHE_NONE || cache == VMM_CACHE_DIRECTSYNC;
    /* Linux AIO is only asynchronous with O_DIRECT; libvirt refuses it too. */
    if (io == VMM_IO_NATIVE && !direct) {
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_UNSUPPORTED,
                    "disk '%s': native I/O needs either no disk cache or "
                    "directsync cache mode (cache='%s')", path,
                    vmm_cache_mode_to_string(cache));
        if (fd >= 0)
            close(fd);
        return NULL;
    }

    VmmBlockDev *dev = g_new0(VmmBlockDev, 1);
    dev->path = g_strdup(path);
    dev->fd = fd;   /* given (and checked by open_source), or -1: opened there */
    dev->block_device = block_device;
    dev->readonly = readonly;
    dev->direct = direct;
    dev->cache = cache;
    dev->io = io;
    dev->discard = discard;
    dev->engine = io == VMM_IO_NATIVE ? &vmm_block_engine_native
                : io == VMM_IO_URING ? &vmm_block_engine_uring
                : &vmm_block_engine_threads;

    if (!open_source(dev, err) || !open_format(dev, format, backing, err)) {
        if (dev->fd >= 0)
            close(dev->fd);
        g_free(dev->path);
        g_free(dev);
        return NULL;
    }

    dev->pool = vmm_block_pool_new(dev, POOL_MAX_THREADS);
    dev->queues = g_aligned_alloc0(nqueues, sizeof(VmmBlockQueue), 64);
    for (unsigned i = 0; i < nqueues; i++) {
        VmmBlockQueue *q = &dev->queues[i];
        q->dev = dev;
        q->index = i;
        q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (q->efd < 0) {
            g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_OPEN,
                        "disk '%s': cannot create an eventfd for queue %u: %s",
                        path, i, g_strerror(errno));
            dev->nqueues = i;
            vmm_block_close(dev);
            return NULL;
        }
        if (!dev->engine->queue_init(q, err)) {
            close(q->efd);
            dev->nqueues = i;
            vmm_block_close(dev);
            return NULL;
        }
        dev->nqueues = i + 1;
    }
    return dev;
}

void vmm_block_close(VmmBlockDev *dev)
{
    if (!dev)
        return;
    for (unsigned i = 0; i < dev->nqueues; i++)
        vmm_block_queue_drain(&dev->queues[i]);
    for (unsigned i = 0; i < dev->nqueues; i++) {
        VmmBlockQueue *q = &dev->queues[i];
        dev->engine->queue_fini(q);
        queue_free_bounce_cache(q);
        close(q->efd);
    }
    vmm_block_pool_free(dev->pool);
    vmm_qcow2_close(dev->qcow2);
    g_aligned_free(dev->queues);
    if (dev->fd >= 0)
        close(dev->fd);
    g_free(dev->path);
    g_free(dev);
}

uint64_t vmm_block_size(VmmBlockDev *dev) { return dev->size; }
uint32_t vmm_block_logical_block_size(VmmBlockDev *dev) { return dev->logical_block_size; }
bool vmm_block_is_readonly(VmmBlockDev *dev) { return dev->readonly; }
const char *vmm_block_path(VmmBlockDev *dev) { return dev->path; }
unsigned vmm_block_nqueues(VmmBlockDev *dev) { return dev->nqueues; }
int vmm_block_fd_for_testing(VmmBlockDev *dev) { return dev->fd; }

uint64_t vmm_block_allocation(VmmBlockDev *dev)
{
    if (dev->qcow2)
        return vmm_qcow2_allocation(dev->qcow2);
    struct stat st;
    if (dev->block_device || fstat(dev->fd, &st) < 0)
        return vmm_block_physical(dev);
    return (uint64_t)st.st_blocks * 512;
}

uint64_t vmm_block_physical(VmmBlockDev *dev)
{
    struct stat st;
    if (dev->block_device || fstat(dev->fd, &st) < 0)
        return dev->qcow2 ? dev->source_size : dev->size;
    return (uint64_t)st.st_size;
}

bool vmm_block_has_write_cache(VmmBlockDev *dev)
{
    return dev->cache == VMM_CACHE_WRITEBACK || dev->cache == VMM_CACHE_NONE ||
           dev->cache == VMM_CACHE_UNSAFE;
}

bool vmm_block_supports_discard(VmmBlockDev *dev)
{
    return dev->discard == VMM_DISCARD_UNMAP && !dev->readonly;
}

VmmBlockQueue *vmm_block_queue(VmmBlockDev *dev, unsigned index)
{
    g_return_val_if_fail(index < dev->nqueues, NULL);
    return &dev->queues[index];
}

int vmm_block_queue_fd(VmmBlockQueue *q) { return q->efd; }
unsigned vmm_block_queue_inflight(VmmBlockQueue *q) { return q->inflight; }

/* ------------------------------------------------------------------------ */
/* statistics                                                               */

/* Single writer per queue: a relaxed load and store is enough to never tear,
 * and avoids a locked add on the fast path. */
static inline void stat_add(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

void vmm_block_get_stats(VmmBlockDev *dev, VmmBlockStats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < dev->nqueues; i++) {
        const VmmBlockQueueStats *s = &dev->queues[i].stats;
#define SUM(f) out->f += __atomic_load_n(&s->f, __ATOMIC_RELAXED)
        SUM(rd_reqs); SUM(rd_bytes); SUM(rd_ns);
        SUM(wr_reqs); SUM(wr_bytes); SUM(wr_ns);
        SUM(fl_reqs); SUM(fl_ns); SUM(errors);
#undef SUM
    }
    out->capacity = dev->size;
    out->allocation = vmm_block_allocation(dev);
    out->physical = vmm_block_physical(dev);
}

static void account(VmmBlockQueue *q, VmmBlockReq *req, int ret)
{
    VmmBlockQueueStats *s = &q->stats;
    uint64_t ns = now_ns() - req->priv.start_ns;
    if (ret < 0)
        stat_add(&s->errors, 1);
    switch (req->op) {
    case VMM_BLOCK_READ:
        stat_add(&s->rd_reqs, 1);
        stat_add(&s->rd_ns, ns);
        if (ret >= 0)
            stat_add(&s->rd_bytes, req->len);
        break;
    case VMM_BLOCK_WRITE:
        stat_add(&s->wr_reqs, 1);
        stat_add(&s->wr_ns, ns);
        if (ret >= 0)
            stat_add(&s->wr_bytes, req->len);
        break;
    case VMM_BLOCK_FLUSH:
        stat_add(&s->fl_reqs, 1);
        stat_add(&s->fl_ns, ns);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* O_DIRECT bounce buffers                                                  */

static size_t iov_copy_to_buf(const struct iovec *iov, unsigned cnt, void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < cnt && done < len; i++) {
        size_t n = MIN(iov[i].iov_len, len - done);
        memcpy((char *)buf + done, iov[i].iov_base, n);
        done += n;
    }
    return done;
}

static size_t iov_copy_from_buf(const struct iovec *iov, unsigned cnt, const void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < cnt && done < len; i++) {
        size_t n = MIN(iov[i].iov_len, len - done);
        memcpy(iov[i].iov_base, (const char *)buf + done, n);
        done += n;
    }
    return done;
}

static void iov_zero_from(const struct iovec *iov, unsigned cnt, size_t skip)
{
    for (unsigned i = 0; i < cnt; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        memset((char *)iov[i].iov_base + skip, 0, iov[i].iov_len - skip);
        skip = 0;
    }
}

static uint64_t iov_size(const struct iovec *iov, unsigned cnt)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < cnt; i++)
        n += iov[i].iov_len;
    return n;
}

static bool needs_bounce(VmmBlockDev *dev, const VmmBlockReq *req)
{
    if (req->iovcnt > IOV_MAX)   /* preadv, io_uring and AIO all refuse more */
        return true;
    if (dev->qcow2 && !req->priv.mapped)   /* the format layer works on one linear buffer */
        return true;
    if (!dev->direct)
        return false;
    uintptr_t mem_mask = dev->mem_align - 1, len_mask = dev->len_align - 1;
    for (unsigned i = 0; i < req->iovcnt; i++) {
        if (((uintptr_t)req->iov[i].iov_base & mem_mask) || (req->iov[i].iov_len & len_mask))
            return true;
    }
    return false;
}

static void *bounce_get(VmmBlockQueue *q, size_t len, size_t *size)
{
    if (len <= VMM_BLOCK_BOUNCE_CACHED_SIZE && q->n_bounce_cache) {
        *size = VMM_BLOCK_BOUNCE_CACHED_SIZE;
        return q->bounce_cache[--q->n_bounce_cache];
    }
    size_t align = MAX(q->dev->mem_align, (size_t)4096);
    size_t sz = len <= VMM_BLOCK_BOUNCE_CACHED_SIZE ? VMM_BLOCK_BOUNCE_CACHED_SIZE
                                                    : (len + 4095) & ~(size_t)4095;
    void *p = NULL;
    if (posix_memalign(&p, align, sz) != 0)
        return NULL;
    *size = sz;
    return p;
}

static void bounce_put(VmmBlockQueue *q, void *p, size_t size)
{
    if (size == VMM_BLOCK_BOUNCE_CACHED_SIZE && q->n_bounce_cache < VMM_BLOCK_BOUNCE_CACHE)
        q->bounce_cache[q->n_bounce_cache++] = p;
    else
        free(p);
}

/* ------------------------------------------------------------------------ */
/* submission and completion                                                */

void vmm_block_queue_signal(VmmBlockQueue *q)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is saturated: it is readable anyway. */
    ssize_t r G_GNUC_UNUSED = write(q->efd, &one, sizeof(one));
}

void vmm_block_post_local(VmmBlockQueue *q, VmmBlockReq *req, int ret)
{
    req->priv.ret = ret;
    bool was_empty = q->local.head == NULL;
    req_list_push(&q->local, req);
    if (was_empty)
        vmm_block_queue_signal(q);
}

void vmm_block_post(VmmBlockReq *req, int ret)
{
    VmmBlockQueue *q = req->priv.q;
    req->priv.ret = ret;
    VmmBlockReq *old = __atomic_load_n(&q->posted, __ATOMIC_RELAXED);
    do {
        req->priv.next = old;
    } while (!__atomic_compare_exchange_n(&q->posted, &old, req, true,
                                          __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    if (old == NULL)
        vmm_block_queue_signal(q);
}

void vmm_block_submit(VmmBlockQueue *q, VmmBlockReq *req)
{
    VmmBlockDev *dev = q->dev;
    req->priv.q = q;
    req->priv.next = NULL;
    req->priv.ret = 0;
    req->priv.bounce = NULL;
    req->priv.iov = req->iov;
    req->priv.iovcnt = req->iovcnt;
    req->priv.start_ns = now_ns();
    req->priv.off = req->offset;
    req->priv.mapped = false;
    q->inflight++;

    switch (req->op) {
    case VMM_BLOCK_READ:
        break;
    case VMM_BLOCK_WRITE:
    case VMM_BLOCK_DISCARD:
    case VMM_BLOCK_WRITE_ZEROES:
        if (dev->readonly) {
            vmm_block_post_local(q, req, -EROFS);
            return;
        }
        break;
    case VMM_BLOCK_FLUSH:
        /* unsafe: the guest's flushes are ignored on purpose. */
        if (dev->cache == VMM_CACHE_UNSAFE || dev->readonly) {
            vmm_block_post_local(q, req, 0);
            return;
        }
        break;
    default:
        vmm_block_post_local(q, req, -EINVAL);
        return;
    }

    if (req->op != VMM_BLOCK_FLUSH) {
        /* The result of a transfer is its length, as an int; the engines
         * and the bounce copies trust len to describe the vector. */
        if ((req->op == VMM_BLOCK_READ || req->op == VMM_BLOCK_WRITE) &&
            (req->len > INT_MAX || iov_size(req->iov, req->iovcnt) != req->len)) {
            vmm_block_post_local(q, req, -EINVAL);
            return;
        }
        if (req->offset > dev->size || req->len > dev->size - req->offset) {
            vmm_block_post_local(q, req, -EIO);
            return;
        }
        if (req->len == 0 || (req->op == VMM_BLOCK_DISCARD && dev->discard != VMM_DISCARD_UNMAP)) {
            vmm_block_post_local(q, req, 0);
            return;
        }
    }

    if (dev->qcow2 && (req->op == VMM_BLOCK_READ || req->op == VMM_BLOCK_WRITE)) {
        uint64_t host = 0;
        switch (vmm_qcow2_map(dev->qcow2, req->offset, req->len, req->op == VMM_BLOCK_WRITE,
                              &host)) {
        case VMM_QCOW2_MAP_HOST:
            req->priv.off = host;
            req->priv.mapped = true;
            break;
        case VMM_QCOW2_MAP_ZERO:
            iov_zero_from(req->iov, req->iovcnt, 0);
            vmm_block_post_local(q, req, 0);
            return;
        case VMM_QCOW2_MAP_SLOW:
            break;
        }
    }
    if ((req->op == VMM_BLOCK_READ || req->op == VMM_BLOCK_WRITE) && needs_bounce(dev, req)) {
        size_t size = 0;
        void *buf = bounce_get(q, req->len, &size);
        if (!buf) {
            vmm_block_post_local(q, req, -ENOMEM);
            return;
        }
        if (req->op == VMM_BLOCK_WRITE)
            iov_copy_to_buf(req->iov, req->iovcnt, buf, req->len);
        req->priv.bounce = buf;
        req->priv.bounce_size = size;
        req->priv.bounce_iov.iov_base = buf;
        req->priv.bounce_iov.iov_len = req->len;
        req->priv.iov = &req->priv.bounce_iov;
        req->priv.iovcnt = 1;
    }
    /* The format layer is synchronous: its requests go to the pool, but
     * for those mapped to the image file, which the engine does as raw. */
    if (dev->qcow2 && !req->priv.mapped)
        vmm_block_to_pool(q, req);
    else
        dev->engine->submit(q, req);
}

void vmm_block_queue_plug(VmmBlockQueue *q)
{
    q->plugged = true;
}

void vmm_block_queue_kick(VmmBlockQueue *q)
{
    q->plugged = false;
    q->dev->engine->kick(q);
}

static void finish(VmmBlockQueue *q, VmmBlockReq *req)
{
    int ret = req->priv.ret;
    if (req->priv.bounce) {
        if (req->op == VMM_BLOCK_READ && ret >= 0)
            iov_copy_from_buf(req->iov, req->iovcnt, req->priv.bounce, req->len);
        bounce_put(q, req->priv.bounce, req->priv.bounce_size);
        req->priv.bounce = NULL;
    }
    if (req->priv.mapped) {
        vmm_qcow2_map_done(q->dev->qcow2);
        req->priv.mapped = false;
    }
    if (ret >= 0)
        ret = (req->op == VMM_BLOCK_READ || req->op == VMM_BLOCK_WRITE) ? (int)req->len : 0;
    account(q, req, ret);
    q->inflight--;
    req->complete(req, ret);
}

unsigned vmm_block_queue_complete(VmmBlockQueue *q)
{
    uint64_t cnt;
    /* Clear first: whatever is posted after this point signals again. */
    ssize_t r G_GNUC_UNUSED = read(q->efd, &cnt, sizeof(cnt));

    VmmBlockReqList done = q->local;
    q->local.head = q->local.tail = NULL;

    VmmBlockReq *posted = __atomic_exchange_n(&q->posted, NULL, __ATOMIC_ACQUIRE);
    if (posted) {
        /* LIFO to FIFO: the newest becomes the tail. */
        VmmBlockReqList l = { NULL, posted };
        while (posted) {
            VmmBlockReq *next = posted->priv.next;
            posted->priv.next = l.head;
            l.head = posted;
            posted = next;
        }
        req_list_concat(&done, &l);
    }

    q->dev->engine->reap(q, &done);

    unsigned n = 0;
    VmmBlockReq *req;
    /* Requests the callbacks submit go out together at the end, in one
     * io_uring_enter / io_submit / pool wake-up. */
    bool plug = !q->plugged && done.head;
    if (plug)
        q->plugged = true;
    /* The callback may resubmit req, which reuses priv.next: pop first. */
    while ((req = req_list_pop(&done))) {
        finish(q, req);
        n++;
    }
    if (plug)
        vmm_block_queue_kick(q);
    return n;
}

bool vmm_block_queue_pending(VmmBlockQueue *q)
{
    if (q->local.head || __atomic_load_n(&q->posted, __ATOMIC_ACQUIRE))
        return true;
    if (!q->dev->engine->pending)
        return q->inflight > 0;
    return q->dev->engine->pending(q);
}

void vmm_block_queue_drain(VmmBlockQueue *q)
{
    if (q->plugged)
        vmm_block_queue_kick(q);
    while (q->inflight > 0) {
        if (vmm_block_queue_complete(q) == 0 && q->inflight > 0) {
            struct pollfd pfd = { .fd = q->efd, .events = POLLIN };
            poll(&pfd, 1, 100);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* synchronous operations (pool threads)                                    */

static int rw_loop(VmmBlockDev *dev, VmmBlockReq *req, bool write)
{
    struct iovec *iov = req->priv.iov;
    int cnt = (int)req->priv.iovcnt;
    uint64_t off = req->priv.off, left = req->len;
    struct iovec *copy = NULL;
    int ret = 0;

    while (left > 0) {
        ssize_t r = write ? pwritev(dev->fd, iov, cnt, (off_t)off)
                          : preadv(dev->fd, iov, cnt, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            break;
        }
        if ((uint64_t)r >= left)
            break;
        if (r == 0) {
            if (write) {
                ret = -ENOSPC;
            } else {
                iov_zero_from(iov, (unsigned)cnt, 0);   /* end of file */
            }
            break;
        }
        /* Short transfer (rare): continue on a private copy of the vector. */
        if (!copy) {
            copy = g_memdup2(iov, sizeof(*iov) * (size_t)cnt);
            iov = copy;
        }
        size_t skip = (size_t)r;
        while (cnt > 0 && skip >= iov->iov_len) {
            skip -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + skip;
            iov->iov_len -= skip;
        }
        off += (uint64_t)r;
        left -= (uint64_t)r;
    }
    g_free(copy);
    return ret;
}

static int do_fallocate(VmmBlockDev *dev, int mode, uint64_t off, uint64_t len)
{
    int r;
    do {
        r = fallocate(dev->fd, mode, (off_t)off, (off_t)len);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

static int write_zeroes_by_writing(VmmBlockDev *dev, uint64_t off, uint64_t len)
{
    size_t chunk = (size_t)MIN(len, (uint64_t)ZERO_CHUNK);
    void *buf = NULL;
    if (posix_memalign(&buf, MAX(dev->mem_align, (size_t)4096), chunk) != 0)
        return -ENOMEM;
    memset(buf, 0, chunk);
    int ret = 0;
    while (len > 0) {
        size_t n = (size_t)MIN(len, (uint64_t)chunk);
        ssize_t r = pwrite(dev->fd, buf, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            ret = r < 0 ? -errno : -ENOSPC;
            break;
        }
        off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    free(buf);
    return ret;
}

static bool unsupported(int ret)
{
    return ret == -EOPNOTSUPP || ret == -ENOTTY || ret == -ENOSYS || ret == -EINVAL;
}

static int do_discard(VmmBlockDev *dev, uint64_t off, uint64_t len)
{
    int ret;
    if (dev->block_device) {
        uint64_t range[2] = { off, len };
        ret = ioctl(dev->fd, BLKDISCARD, range) < 0 ? -errno : 0;
    } else {
        ret = do_fallocate(dev, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
    }
    /* Discard is a hint: a source that cannot deallocate just keeps the data. */
    return unsupported(ret) ? 0 : ret;
}

static int do_write_zeroes(VmmBlockDev *dev, uint64_t off, uint64_t len)
{
    int ret;
    if (dev->block_device) {
        uint64_t range[2] = { off, len };
        ret = ioctl(dev->fd, BLKZEROOUT, range) < 0 ? -errno : 0;
    } else {
        ret = do_fallocate(dev, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len);
        /* Deallocating is only allowed with discard='unmap'. */
        if (unsupported(ret) && dev->discard == VMM_DISCARD_UNMAP)
            ret = do_fallocate(dev, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
    }
    if (unsupported(ret))
        ret = write_zeroes_by_writing(dev, off, len);
    return ret;
}

/* fallocate and the ioctls ignore O_DSYNC: without a write cache the guest
 * expects them on stable storage when they complete, as writes are. */
static int sync_if_writethrough(VmmBlockDev *dev, int ret)
{
    if (ret == 0 && !vmm_block_has_write_cache(dev) && fdatasync(dev->fd) < 0)
        ret = -errno;
    return ret;
}

static int qcow2_exec(VmmBlockDev *dev, VmmBlockReq *req)
{
    VmmQcow2 *q = dev->qcow2;
    void *buf = req->priv.iovcnt ? req->priv.iov[0].iov_base : NULL;
    switch (req->op) {
    case VMM_BLOCK_READ:
        return vmm_qcow2_read(q, buf, req->len, req->offset);
    case VMM_BLOCK_WRITE:
        return vmm_qcow2_write(q, buf, req->len, req->offset);   /* O_DSYNC if needed */
    case VMM_BLOCK_FLUSH:
        return vmm_qcow2_flush(q);
    case VMM_BLOCK_DISCARD:
        return sync_if_writethrough(dev, vmm_qcow2_discard(q, req->len, req->offset));
    case VMM_BLOCK_WRITE_ZEROES:
        return sync_if_writethrough(dev, vmm_qcow2_write_zeroes(q, req->len, req->offset,
                                                                dev->discard == VMM_DISCARD_UNMAP));
    }
    return -EINVAL;
}

int vmm_block_exec(VmmBlockDev *dev, VmmBlockReq *req)
{
    if (dev->qcow2 && !req->priv.mapped)
        return qcow2_exec(dev, req);
    switch (req->op) {
    case VMM_BLOCK_READ:
        return rw_loop(dev, req, false);
    case VMM_BLOCK_WRITE:
        return rw_loop(dev, req, true);
    case VMM_BLOCK_FLUSH:
        return fdatasync(dev->fd) < 0 ? -errno : 0;
    case VMM_BLOCK_DISCARD:
        return sync_if_writethrough(dev, do_discard(dev, req->offset, req->len));
    case VMM_BLOCK_WRITE_ZEROES:
        return sync_if_writethrough(dev, do_write_zeroes(dev, req->offset, req->len));
    }
    return -EINVAL;
}
