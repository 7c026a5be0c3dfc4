/* Block backends behind virtio-blk: a raw image file or a host block device,
 * opened with libvirt's <driver cache=... io=... discard=...> and QEMU's
 * meaning of them.
 *
 *   cache=        open flags          guest write cache   FLUSH
 *   writeback     (page cache)        yes                 fdatasync
 *   writethrough  O_DSYNC             no                  fdatasync
 *   none          O_DIRECT            yes                 fdatasync
 *   directsync    O_DIRECT|O_DSYNC    no                  fdatasync
 *   unsafe        (page cache)        yes                 ignored
 *
 *   io=threads    a per-device pool of threads doing preadv/pwritev/...
 *   io=native     Linux AIO, one context per queue (cache none/directsync)
 *   io=io_uring   one ring per queue
 *
 * Threading: a VmmBlockQueue belongs to one thread at a time (the owner,
 * usually the thread serving one virtqueue). submit/plug/kick/complete/drain
 * on a queue are called only by its owner; they take no lock on the fast
 * path, and completion callbacks run only inside vmm_block_queue_complete()
 * (or drain) on the owner. Different queues of a device may be used by
 * different threads concurrently. vmm_block_get_stats() may be called from
 * any thread. */
#ifndef VMM_BLOCK_H
#define VMM_BLOCK_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "conf/domain_conf.h"

#define VMM_BLOCK_ERROR (vmm_block_error_quark())
GQuark vmm_block_error_quark(void);
typedef enum {
    VMM_BLOCK_ERROR_OPEN,          /* the source cannot be opened or sized */
    VMM_BLOCK_ERROR_UNSUPPORTED,   /* cache/io combination refused, no io_uring... */
    VMM_BLOCK_ERROR_INVALID,       /* wrong source type, bad argument */
    VMM_BLOCK_ERROR_LOCKED,        /* another process holds a conflicting image lock */
} VmmBlockError;

#define VMM_BLOCK_MAX_QUEUES 64

typedef struct VmmBlockDev VmmBlockDev;
typedef struct VmmBlockQueue VmmBlockQueue;    /* one submission context per virtqueue */

typedef enum {
    VMM_BLOCK_READ,
    VMM_BLOCK_WRITE,
    VMM_BLOCK_FLUSH,
    VMM_BLOCK_DISCARD,
    VMM_BLOCK_WRITE_ZEROES,
} VmmBlockOp;

typedef struct VmmBlockReq VmmBlockReq;

/* The backend's part of a request. It lives inside the request so that the
 * fast path allocates nothing; callers must not touch it. */
typedef struct {
    VmmBlockReq *next;          /* work queue, completion lists */
    VmmBlockQueue *q;
    struct iovec *iov;          /* what the engine transfers: guest iov or bounce */
    unsigned iovcnt;
    int ret;
    uint64_t start_ns;
    uint64_t off;               /* where in dev->fd: offset, or the qcow2 host offset */
    bool mapped;                /* a qcow2 request sent to the engine (vmm_qcow2_map) */
    void *bounce;               /* aligned copy for O_DIRECT, or NULL */
    size_t bounce_size;
    struct iovec bounce_iov;
    uint64_t engine[8];         /* engine scratch (the Linux AIO iocb) */
} VmmBlockReqPriv;

struct VmmBlockReq {
    VmmBlockOp op;
    uint64_t offset, len;       /* bytes; for READ/WRITE len = sum of iov lengths */
    struct iovec *iov;          /* guest buffers for READ/WRITE, caller-owned until completion */
    unsigned iovcnt;
    /* ret: READ/WRITE: len on success; other ops: 0; -errno on failure
     * (-EROFS for writes to a read-only disk, -EIO outside the disk).
     * The request may be resubmitted from inside its callback. */
    void (*complete)(VmmBlockReq *req, int ret);
    void *opaque;
    VmmBlockReqPriv priv;
};

typedef enum {
    VMM_IMAGE_FORMAT_AUTO = 0,  /* backing only: from the header, else probed */
    VMM_IMAGE_FORMAT_RAW,
    VMM_IMAGE_FORMAT_QCOW2,
} VmmImageFormat;

/* One level of a backing chain given by the caller (libvirt's
 * <backingStore>): overrides what the image header names. */
typedef struct VmmImageBacking {
    bool none;                          /* <backingStore/>: no backing file */
    VmmImageFormat format;
    const char *path;
    const struct VmmImageBacking *next; /* NULL: the header decides below */
} VmmImageBacking;

/* path: <source file=...> or <source dev=...>; block_device: <disk type='block'>
 * (the path must then be a block device, and a file disk must be a regular
 * file). The image is locked as QEMU locks it (block/lock.h): shared when
 * readonly, else exclusive; VMM_BLOCK_ERROR_LOCKED names the holder. nqueues: 1..VMM_BLOCK_MAX_QUEUES. discard: <driver discard=...>;
 * with 'ignore', DISCARD requests succeed without doing anything (as QEMU). */
VmmBlockDev *vmm_block_open(const char *path, bool block_device, bool readonly,
                            VmmCacheMode cache, VmmIoMode io,
                            VmmDiscardMode discard, unsigned nqueues,
                            GError **err);
/* The same for an image in format (RAW or QCOW2; AUTO is refused): a qcow2
 * image is served by src/block/qcow2.c on the pool threads whatever io= says,
 * with its backing chain (backing overrides the header's, as libvirt's
 * <backingStore> does) opened read-only. */
VmmBlockDev *vmm_block_open_image(const char *path, VmmImageFormat format,
                                  const VmmImageBacking *backing, bool block_device,
                                  bool readonly, VmmCacheMode cache, VmmIoMode io,
                                  VmmDiscardMode discard, unsigned nqueues, GError **err);
/* A raw image someone else opened (vmmd, for a confined worker): fd is
 * consumed, and must be open the way vmm_block_open_flags() says for
 * readonly and cache, else the open fails naming the difference. path
 * names the image in messages and statistics. */
VmmBlockDev *vmm_block_open_fd(int fd, const char *path, bool block_device, bool readonly,
                               VmmCacheMode cache, VmmIoMode io, VmmDiscardMode discard,
                               unsigned nqueues, GError **err);
/* open(2) flags for an image: access mode, close-on-exec, and the cache
 * mode's O_DIRECT (none, directsync) and O_DSYNC (writethrough, directsync). */
int vmm_block_open_flags(bool readonly, VmmCacheMode cache);
/* The disk a <disk> element describes: its source, format, backing chain
 * and <driver> modes. */
VmmBlockDev *vmm_block_open_disk(const VmmDiskDef *disk, unsigned nqueues, GError **err);
/* qcow2: the bytes of the image file in use (allocated clusters); raw: the
 * file's allocated blocks (st_blocks); a block device: its size. */
uint64_t vmm_block_allocation(VmmBlockDev *dev);
/* The size of the image file or block device itself (for qcow2 not the
 * virtual size vmm_block_size() gives). */
uint64_t vmm_block_physical(VmmBlockDev *dev);
/* Waits for requests still in flight (running their callbacks in the
 * calling thread: the queue owners must have stopped using the queues). */
void vmm_block_close(VmmBlockDev *dev);

uint64_t vmm_block_size(VmmBlockDev *dev);              /* bytes, fixed at open */
/* cache writeback/none/unsafe: the device offers VIRTIO_BLK_F_FLUSH with WCE on. */
bool vmm_block_has_write_cache(VmmBlockDev *dev);
/* discard='unmap' on a writable disk: the device offers VIRTIO_BLK_F_DISCARD. */
bool vmm_block_supports_discard(VmmBlockDev *dev);
/* The source's logical block size (VIRTIO_BLK_F_BLK_SIZE); 512 for files. */
uint32_t vmm_block_logical_block_size(VmmBlockDev *dev);
bool vmm_block_is_readonly(VmmBlockDev *dev);
const char *vmm_block_path(VmmBlockDev *dev);
unsigned vmm_block_nqueues(VmmBlockDev *dev);

VmmBlockQueue *vmm_block_queue(VmmBlockDev *dev, unsigned index);

/* Submit; never blocks for I/O (io=native may, as Linux AIO does, when the
 * kernel itself blocks in io_submit). */
void vmm_block_submit(VmmBlockQueue *q, VmmBlockReq *req);
/* Batching: after plug, submissions are held until kick, which hands them
 * to the kernel or the pool at once (one io_uring_enter / io_submit / pool
 * wake-up). Without plug each submit goes out immediately and kick is a
 * no-op. */
void vmm_block_queue_plug(VmmBlockQueue *q);
void vmm_block_queue_kick(VmmBlockQueue *q);
/* An eventfd, readable when completions are pending, for the owner's poll loop. */
int vmm_block_queue_fd(VmmBlockQueue *q);
/* Runs completion callbacks for everything finished; returns how many.
 * Costs one read() of the eventfd plus a look at user-space rings, so it
 * may also be called from a busy-poll loop. Requests the callbacks submit
 * are batched (implicit plug) and go out when it returns. */
unsigned vmm_block_queue_complete(VmmBlockQueue *q);
/* Whether vmm_block_queue_complete() has something to do, without a system
 * call (io_uring: the CQ ring's tail; threads: the posted list; io=native:
 * true while requests are in flight): for busy-poll loops, which then call
 * complete() only when it pays. */
bool vmm_block_queue_pending(VmmBlockQueue *q);
/* Blocks until every request submitted on q has completed (callbacks run). */
void vmm_block_queue_drain(VmmBlockQueue *q);
/* Requests submitted and not yet completed on q. */
unsigned vmm_block_queue_inflight(VmmBlockQueue *q);

/* Per device, with the names of `virsh domblkstat` (rd.reqs, rd.bytes,
 * rd.times, ...): requests, bytes and total nanoseconds for reads, writes
 * and flushes; errors counts failed requests of any kind. */
typedef struct {
    uint64_t rd_reqs, rd_bytes, rd_ns;
    uint64_t wr_reqs, wr_bytes, wr_ns;
    uint64_t fl_reqs, fl_ns;
    uint64_t errors;
    /* virsh domstats' block.N.capacity, .allocation, .physical: the size
     * the guest sees, the bytes of the image in use (vmm_block_allocation)
     * and the size of the file (vmm_block_physical). */
    uint64_t capacity, allocation, physical;
} VmmBlockStats;
void vmm_block_get_stats(VmmBlockDev *dev, VmmBlockStats *out);

/* For tests only: the open file descriptor (to check its flags). */
int vmm_block_fd_for_testing(VmmBlockDev *dev);

#endif
