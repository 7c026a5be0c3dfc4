/* Unit tests for src/block/ with real files (and a loop device when the
 * host lets us create one): every allowed cache x io combination, O_DIRECT
 * bounce buffers, discard and write-zeroes, read-only disks, statistics,
 * queue depth 64 and beyond the engines' ring sizes.
 *
 * Files live in $VMM_TEST_TMPDIR, else the current directory: /tmp may be a
 * tmpfs without O_DIRECT.
 *
 * `test-block -m perf -p /block/perf` runs a 4 KiB random-read benchmark
 * (QD 1 and 32, each engine, cache=none) on $VMM_BENCH_FILE or a 1 GiB file
 * it creates. Knobs: VMM_BENCH_SIZE_MB, VMM_BENCH_SECONDS (5),
 * VMM_BENCH_ENGINES ("threads,native,io_uring"), VMM_BENCH_QD (one depth),
 * VMM_BENCH_BUSYPOLL (spin on vmm_block_queue_complete() instead of poll),
 * VMM_BENCH_FORMAT=qcow2 (VMM_BENCH_FILE is a qcow2 image: its virtual
 * disk is read through src/block/qcow2.c).
 * VMM_BENCH_FILE may be a block device, e.g. a loop device over a tmpfs
 * file, which takes the disk's noise out of the numbers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <limits.h>
#include <linux/fs.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FILE_SIZE (4u * 1024 * 1024)

/* The scratch directory of this test run (created in main). */
static char *test_dir;
static bool dir_has_odirect;

static const VmmCacheMode all_caches[] = {
    VMM_CACHE_WRITEBACK, VMM_CACHE_WRITETHROUGH, VMM_CACHE_NONE,
    VMM_CACHE_DIRECTSYNC, VMM_CACHE_UNSAFE,
};
static const VmmIoMode all_ios[] = { VMM_IO_THREADS, VMM_IO_NATIVE, VMM_IO_URING };

static const char *cache_str(VmmCacheMode c)
{
    static const char *const n[] = { "writeback", "writethrough", "none", "directsync", "unsafe" };
    return n[c];
}

static const char *io_str(VmmIoMode io)
{
    static const char *const n[] = { "threads", "native", "io_uring" };
    return n[io];
}

static bool is_direct(VmmCacheMode c)
{
    return c == VMM_CACHE_NONE || c == VMM_CACHE_DIRECTSYNC;
}

static bool allowed(VmmCacheMode c, VmmIoMode io)
{
    return io != VMM_IO_NATIVE || is_direct(c);
}

/* ------------------------------------------------------------------------ */
/* helpers                                                                  */

static char *make_file(const char *name, uint64_t size)
{
    char *path = g_build_filename(test_dir, name, NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, (off_t)size), ==, 0);
    close(fd);
    return path;
}

static uint8_t pattern(uint64_t off, uint8_t seed)
{
    return (uint8_t)(((off * 2654435761u) >> 9) ^ (off >> 9) ^ seed ^ 0x5a);
}

static void fill(uint8_t *p, uint64_t off, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = pattern(off + i, seed);
}

static void check_pattern(const uint8_t *p, uint64_t off, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != pattern(off + i, seed))
            g_error("byte at offset %" G_GUINT64_FORMAT ": got %#x, want %#x",
                    off + i, p[i], pattern(off + i, seed));
    }
}

static void check_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i])
            g_error("byte %zu not zero (%#x)", i, p[i]);
    }
}

typedef enum { BUF_ALIGNED, BUF_UNALIGNED, BUF_SPLIT, BUF_SECTORS, BUF_MANY, N_BUF_KINDS } BufKind;
static const char *const buf_kind_names[] = { "aligned", "unaligned", "split", "sectors", "many" };

/* A guest buffer: contiguous data, described by an iovec in several ways. */
typedef struct {
    void *mem;
    uint8_t *data;
    size_t len;
    struct iovec *iov;
    unsigned iovcnt;
} TBuf;

static void tbuf_init(TBuf *b, BufKind kind, size_t len)
{
    g_assert_cmpint(posix_memalign(&b->mem, 4096, len + 4096), ==, 0);
    b->len = len;
    bool unaligned = kind == BUF_UNALIGNED || kind == BUF_SPLIT;
    b->data = (uint8_t *)b->mem + (unaligned ? 3 : 0);
    b->iov = g_new0(struct iovec, len / 7 + 2);
    b->iovcnt = 0;
    size_t seg_cycle[] = { 100, 1000, 7, 3000 };
    size_t done = 0;
    while (done < len) {
        size_t n;
        switch (kind) {
        case BUF_SPLIT:
            n = seg_cycle[b->iovcnt % 4];
            break;
        case BUF_SECTORS:
            n = 512;
            break;
        case BUF_MANY:
            n = 8;          /* far beyond IOV_MAX segments */
            break;
        default:
            n = len;
        }
        n = MIN(n, len - done);
        b->iov[b->iovcnt].iov_base = b->data + done;
        b->iov[b->iovcnt].iov_len = n;
        b->iovcnt++;
        done += n;
    }
}

static void tbuf_clear(TBuf *b)
{
    free(b->mem);
    g_free(b->iov);
}

typedef struct {
    VmmBlockReq req;
    int ret;
    unsigned calls;
} TReq;

static void treq_done(VmmBlockReq *req, int ret)
{
    TReq *t = req->opaque;
    t->ret = ret;
    t->calls++;
}

/* Waits on the queue's fd as a poll loop would, so that a missing wake-up
 * fails the test instead of being papered over by busy polling. */
static void wait_idle(VmmBlockQueue *q)
{
    while (vmm_block_queue_inflight(q) > 0) {
        struct pollfd pfd = { .fd = vmm_block_queue_fd(q), .events = POLLIN };
        int r = poll(&pfd, 1, 20000);
        g_assert_cmpint(r, ==, 1);
        vmm_block_queue_complete(q);
    }
}

static int do_req(VmmBlockQueue *q, VmmBlockOp op, uint64_t off, uint64_t len,
                  struct iovec *iov, unsigned iovcnt)
{
    TReq t = { .req = { .op = op, .offset = off, .len = len, .iov = iov,
                        .iovcnt = iovcnt, .complete = treq_done } };
    t.req.opaque = &t;
    vmm_block_submit(q, &t.req);
    wait_idle(q);
    g_assert_cmpuint(t.calls, ==, 1);
    return t.ret;
}

static int do_rw(VmmBlockQueue *q, VmmBlockOp op, uint64_t off, TBuf *b)
{
    return do_req(q, op, off, b->len, b->iov, b->iovcnt);
}

static void read_file_direct(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, buf, len, (off_t)off), ==, (ssize_t)len);
    close(fd);
}

/* ------------------------------------------------------------------------ */
/* every allowed cache x io combination                                     */

typedef struct {
    VmmCacheMode cache;
    VmmIoMode io;
} Combo;

typedef struct {
    uint64_t off;
    size_t len;
} Extent;

static void test_combo(gconstpointer data)
{
    const Combo *c = data;
    if (is_direct(c->cache) && !dir_has_odirect) {
        g_test_skip("the test directory's filesystem has no O_DIRECT (set VMM_TEST_TMPDIR)");
        return;
    }
    g_autofree char *path = make_file("combo.img", FILE_SIZE);
    g_autoptr(GError) err = NULL;
    VmmBlockDev *dev = vmm_block_open(path, false, false, c->cache, c->io,
                                      VMM_DISCARD_UNMAP, 2, &err);
    g_assert_no_error(err);
    g_assert_nonnull(dev);

    /* open flags: what cache= promises */
    int fl = fcntl(vmm_block_fd_for_testing(dev), F_GETFL);
    g_assert_cmpint(fl, >=, 0);
    g_assert_cmpint(fl & O_ACCMODE, ==, O_RDWR);
    g_assert_cmpint(!!(fl & O_DIRECT), ==, is_direct(c->cache));
    bool dsync = c->cache == VMM_CACHE_WRITETHROUGH || c->cache == VMM_CACHE_DIRECTSYNC;
    g_assert_cmpint(!!(fl & O_DSYNC), ==, dsync);
    g_assert_cmpint(vmm_block_has_write_cache(dev), ==, !dsync);
    g_assert_true(vmm_block_supports_discard(dev));
    g_assert_cmpuint(vmm_block_size(dev), ==, FILE_SIZE);
    g_assert_cmpuint(vmm_block_nqueues(dev), ==, 2);
    g_assert_cmpuint(vmm_block_logical_block_size(dev), >=, 512);

    static const Extent extents[] = {
        { 0, 512 }, { 512, 4096 }, { 3 * 4096 + 512, 8192 + 1024 },
        { 1024 * 1024 - 512, 512 }, { 1536 * 1024, 256 * 1024 },
        { 3 * 1024 * 1024 + 512, 64 * 1024 },
    };
    uint64_t rd = 0, wr = 0, rd_bytes = 0, wr_bytes = 0, nfl = 0;
    uint8_t seed = 1, last_seed = 0;
    for (unsigned e = 0; e < G_N_ELEMENTS(extents); e++) {
        for (int wk = 0; wk < N_BUF_KINDS; wk++, seed++) {
            const Extent *x = &extents[e];
            if (wk == BUF_MANY && x->len / 8 <= IOV_MAX)
                continue;
            int rk = (wk + 1 + e) % N_BUF_KINDS;   /* read with another layout */
            if (rk == BUF_MANY && x->len / 8 <= IOV_MAX)
                rk = BUF_SPLIT;
            VmmBlockQueue *q = vmm_block_queue(dev, (e + (unsigned)wk) % 2);
            TBuf w, r;
            tbuf_init(&w, wk, x->len);
            tbuf_init(&r, rk, x->len);
            fill(w.data, x->off, x->len, seed);
            memset(r.data, 0xcc, x->len);
            int ret = do_rw(q, VMM_BLOCK_WRITE, x->off, &w);
            if (ret != (int)x->len)
                g_error("write %s at %" G_GUINT64_FORMAT "+%zu: %d", buf_kind_names[wk],
                        x->off, x->len, ret);
            g_assert_cmpint(do_rw(q, VMM_BLOCK_READ, x->off, &r), ==, (int)x->len);
            check_pattern(r.data, x->off, x->len, seed);
            last_seed = seed;
            rd++, wr++, rd_bytes += x->len, wr_bytes += x->len;
            tbuf_clear(&w);
            tbuf_clear(&r);
        }
        /* The file itself holds what the last write put there. */
        g_assert_cmpint(do_req(vmm_block_queue(dev, 0), VMM_BLOCK_FLUSH, 0, 0, NULL, 0), ==, 0);
        nfl++;
        g_autofree uint8_t *chk = g_malloc(extents[e].len);
        read_file_direct(path, extents[e].off, chk, extents[e].len);
        check_pattern(chk, extents[e].off, extents[e].len, last_seed);
    }

    VmmBlockQueue *q = vmm_block_queue(dev, 0);
    TBuf b;
    /* discard: punched holes read as zeroes */
    tbuf_init(&b, BUF_ALIGNED, 64 * 1024);
    fill(b.data, 1024 * 1024, b.len, 77);
    g_assert_cmpint(do_rw(q, VMM_BLOCK_WRITE, 1024 * 1024, &b), ==, (int)b.len);
    g_assert_cmpint(do_req(q, VMM_BLOCK_DISCARD, 1024 * 1024, b.len, NULL, 0), ==, 0);
    memset(b.data, 0xcc, b.len);
    g_assert_cmpint(do_rw(q, VMM_BLOCK_READ, 1024 * 1024, &b), ==, (int)b.len);
    check_zero(b.data, b.len);
    wr++, rd++, wr_bytes += b.len, rd_bytes += b.len;
    tbuf_clear(&b);

    /* write-zeroes on a 512-byte but not 4 KiB aligned range */
    tbuf_init(&b, BUF_UNALIGNED, 64 * 1024);
    uint64_t base = 2 * 1024 * 1024;
    fill(b.data, base, b.len, 78);
    g_assert_cmpint(do_rw(q, VMM_BLOCK_WRITE, base, &b), ==, (int)b.len);
    g_assert_cmpint(do_req(q, VMM_BLOCK_WRITE_ZEROES, base + 512, 8192 + 1024, NULL, 0), ==, 0);
    memset(b.data, 0xcc, b.len);
    g_assert_cmpint(do_rw(q, VMM_BLOCK_READ, base, &b), ==, (int)b.len);
    check_pattern(b.data, base, 512, 78);
    check_zero(b.data + 512, 8192 + 1024);
    check_pattern(b.data + 512 + 8192 + 1024, base + 512 + 8192 + 1024,
                  b.len - 512 - 8192 - 1024, 78);
    wr++, rd++, wr_bytes += b.len, rd_bytes += b.len;
    tbuf_clear(&b);

    /* outside the disk */
    tbuf_init(&b, BUF_ALIGNED, 4096);
    g_assert_cmpint(do_rw(q, VMM_BLOCK_READ, FILE_SIZE - 512, &b), ==, -EIO);
    g_assert_cmpint(do_rw(q, VMM_BLOCK_WRITE, FILE_SIZE, &b), ==, -EIO);
    g_assert_cmpint(do_req(q, VMM_BLOCK_DISCARD, FILE_SIZE - 512, 1024, NULL, 0), ==, -EIO);
    rd++, wr++;
    tbuf_clear(&b);

    VmmBlockStats st;
    vmm_block_get_stats(dev, &st);
    g_assert_cmpuint(st.rd_reqs, ==, rd);
    g_assert_cmpuint(st.wr_reqs, ==, wr);
    g_assert_cmpuint(st.rd_bytes, ==, rd_bytes);
    g_assert_cmpuint(st.wr_bytes, ==, wr_bytes);
    g_assert_cmpuint(st.fl_reqs, ==, nfl);
    g_assert_cmpuint(st.errors, ==, 3);
    g_assert_cmpuint(st.rd_ns, >, 0);
    g_assert_cmpuint(st.wr_ns, >, 0);
    g_assert_cmpuint(st.fl_ns, >, 0);

    vmm_block_close(dev);
    g_unlink(path);
}

static void test_native_refused(void)
{
    g_autofree char *path = make_file("refused.img", FILE_SIZE);
    for (unsigned i = 0; i < G_N_ELEMENTS(all_caches); i++) {
        VmmCacheMode c = all_caches[i];
        if (is_direct(c))
            continue;
        g_autoptr(GError) err = NULL;
        VmmBlockDev *dev = vmm_block_open(path, false, false, c, VMM_IO_NATIVE,
                                          VMM_DISCARD_IGNORE, 1, &err);
        g_assert_null(dev);
        g_assert_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_UNSUPPORTED);
        g_assert_nonnull(strstr(err->message,
                                "native I/O needs either no disk cache or directsync cache mode"));
        g_assert_nonnull(strstr(err->message, path));
    }
    g_unlink(path);
}

static void test_open_errors(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *missing = g_build_filename(test_dir, "no-such.img", NULL);
    VmmBlockDev *dev = vmm_block_open(missing, false, false, VMM_CACHE_WRITEBACK,
                                      VMM_IO_THREADS, VMM_DISCARD_IGNORE, 1, &err);
    g_assert_null(dev);
    g_assert_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_OPEN);
    g_assert_nonnull(strstr(err->message, missing));
    g_assert_nonnull(strstr(err->message, g_strerror(ENOENT)));
    g_clear_error(&err);

    /* type='block' on a regular file, and a directory as a file */
    g_autofree char *path = make_file("notblock.img", FILE_SIZE);
    dev = vmm_block_open(path, true, false, VMM_CACHE_WRITEBACK, VMM_IO_THREADS,
                         VMM_DISCARD_IGNORE, 1, &err);
    g_assert_null(dev);
    g_assert_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "not a block device"));
    g_clear_error(&err);
    dev = vmm_block_open(test_dir, false, true, VMM_CACHE_WRITEBACK, VMM_IO_THREADS,
                         VMM_DISCARD_IGNORE, 1, &err);
    g_assert_null(dev);
    g_assert_nonnull(strstr(err->message, "not a regular file"));
    g_clear_error(&err);

    dev = vmm_block_open(path, false, false, VMM_CACHE_WRITEBACK, VMM_IO_THREADS,
                         VMM_DISCARD_IGNORE, 0, &err);
    g_assert_null(dev);
    g_assert_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_INVALID);
    g_clear_error(&err);
    g_unlink(path);

    /* O_DIRECT refused by a filesystem: the message says why */
    char shm[] = "/dev/shm/vmm-test-block-XXXXXX";
    int fd = mkstemp(shm);
    if (fd >= 0) {
        close(fd);
        int dfd = open(shm, O_RDWR | O_DIRECT);
        if (dfd >= 0) {
            close(dfd);
        } else {
            dev = vmm_block_open(shm, false, false, VMM_CACHE_NONE, VMM_IO_THREADS,
                                 VMM_DISCARD_IGNORE, 1, &err);
            g_assert_null(dev);
            g_assert_nonnull(strstr(err->message, "direct I/O"));
            g_assert_nonnull(strstr(err->message, shm));
            g_clear_error(&err);
        }
        unlink(shm);
    }
}

static void test_readonly(void)
{
    g_autofree char *path = make_file("ro.img", FILE_SIZE);
    for (unsigned i = 0; i < G_N_ELEMENTS(all_ios); i++) {
        VmmCacheMode cache = dir_has_odirect ? VMM_CACHE_NONE : VMM_CACHE_WRITEBACK;
        if (!allowed(cache, all_ios[i]))
            continue;
        g_autoptr(GError) err = NULL;
        VmmBlockDev *dev = vmm_block_open(path, false, true, cache, all_ios[i],
                                          VMM_DISCARD_UNMAP, 1, &err);
        g_assert_no_error(err);
        g_assert_true(vmm_block_is_readonly(dev));
        g_assert_false(vmm_block_supports_discard(dev));
        int fl = fcntl(vmm_block_fd_for_testing(dev), F_GETFL);
        g_assert_cmpint(fl & O_ACCMODE, ==, O_RDONLY);
        VmmBlockQueue *q = vmm_block_queue(dev, 0);
        TBuf b;
        tbuf_init(&b, BUF_ALIGNED, 4096);
        g_assert_cmpint(do_rw(q, VMM_BLOCK_READ, 0, &b), ==, 4096);
        g_assert_cmpint(do_rw(q, VMM_BLOCK_WRITE, 0, &b), ==, -EROFS);
        g_assert_cmpint(do_req(q, VMM_BLOCK_DISCARD, 0, 4096, NULL, 0), ==, -EROFS);
        g_assert_cmpint(do_req(q, VMM_BLOCK_WRITE_ZEROES, 0, 4096, NULL, 0), ==, -EROFS);
        g_assert_cmpint(do_req(q, VMM_BLOCK_FLUSH, 0, 0, NULL, 0), ==, 0);
        VmmBlockStats st;
        vmm_block_get_stats(dev, &st);
        g_assert_cmpuint(st.errors, ==, 3);
        g_assert_cmpuint(st.wr_bytes, ==, 0);
        tbuf_clear(&b);
        vmm_block_close(dev);
    }
    g_unlink(path);
}

/* discard='ignore': discard does nothing, write-zeroes still zeroes. */
static void test_discard_ignore(void)
{
    g_autofree char *path = make_file("ign.img", FILE_SIZE);
    for (unsigned i = 0; i < G_N_ELEMENTS(all_ios); i++) {
        VmmCacheMode cache = dir_has_odirect ? VMM_CACHE_NONE : VMM_CACHE_WRITEBACK;
        g_autoptr(GError) err = NULL;
        VmmBlockDev *dev = vmm_block_open(path, false, false, cache, all_ios[i],
                                          VMM_DISCARD_IGNORE, 1, &err);
        g_assert_no_error(err);
        g_assert_false(vmm_block_supports_discard(dev));
        VmmBlockQueue *q = vmm_block_queue(dev, 0);
        TBuf b;
        tbuf_init(&b, BUF_ALIGNED, 8192);
        fill(b.data, 0, b.len, 9);
        g_assert_cmpint(do_rw(q, VMM_BLOCK_WRITE, 0, &b), ==, 8192);
        g_assert_cmpint(do_req(q, VMM_BLOCK_DISCARD, 0, 8192, NULL, 0), ==, 0);
        g_assert_cmpint(do_rw(q, VMM_BLOCK_READ, 0, &b), ==, 8192);
        check_pattern(b.data, 0, b.len, 9);
        g_assert_cmpint(do_req(q, VMM_BLOCK_WRITE_ZEROES, 4096, 4096, NULL, 0), ==, 0);
        g_assert_cmpint(do_rw(q, VMM_BLOCK_READ, 0, &b), ==, 8192);
        check_pattern(b.data, 0, 4096, 9);
        check_zero(b.data + 4096, 4096);
        tbuf_clear(&b);
        vmm_block_close(dev);
    }
    g_unlink(path);
}

/* Malformed requests fail alone, without reaching the engine. */
static void test_bad_requests(void)
{
    g_autofree char *path = make_file("bad.img", FILE_SIZE);
    for (unsigned i = 0; i < G_N_ELEMENTS(all_ios); i++) {
        VmmCacheMode cache = dir_has_odirect ? VMM_CACHE_NONE : VMM_CACHE_WRITEBACK;
        g_autoptr(GError) err = NULL;
        VmmBlockDev *dev = vmm_block_open(path, false, false, cache, all_ios[i],
                                          VMM_DISCARD_UNMAP, 1, &err);
        g_assert_no_error(err);
        VmmBlockQueue *q = vmm_block_queue(dev, 0);
        TBuf b;
        tbuf_init(&b, BUF_ALIGNED, 4096);
        g_assert_cmpint(do_req(q, VMM_BLOCK_READ, 0, 8192, b.iov, b.iovcnt), ==, -EINVAL);
        g_assert_cmpint(do_req(q, VMM_BLOCK_WRITE, 0, 2048, b.iov, b.iovcnt), ==, -EINVAL);
        g_assert_cmpint(do_req(q, (VmmBlockOp)42, 0, 4096, b.iov, b.iovcnt), ==, -EINVAL);
        g_assert_cmpint(do_req(q, VMM_BLOCK_READ, 0, 0, NULL, 0), ==, 0);
        g_assert_cmpint(do_req(q, VMM_BLOCK_WRITE_ZEROES, UINT64_MAX - 511, 1024, NULL, 0), ==, -EIO);
        g_assert_cmpint(do_req(q, VMM_BLOCK_READ, FILE_SIZE, 0, NULL, 0), ==, 0);
        tbuf_clear(&b);
        vmm_block_close(dev);
    }
    g_unlink(path);
}

/* A file that shrinks under the disk: the kernel returns short reads, and
 * what lies past the new end reads as zeroes (the engines' short path). */
static void test_short_read(gconstpointer data)
{
    const Combo *c = data;
    VmmCacheMode cache = c->cache;
    VmmIoMode io = c->io;
    if (is_direct(cache) && !dir_has_odirect) {
        g_test_skip("no O_DIRECT in the test directory");
        return;
    }
    g_autofree char *path = make_file("short.img", FILE_SIZE);
    g_autoptr(GError) err = NULL;
    VmmBlockDev *dev = vmm_block_open(path, false, false, cache, io, VMM_DISCARD_UNMAP, 1, &err);
    g_assert_no_error(err);
    VmmBlockQueue *q = vmm_block_queue(dev, 0);
    TBuf b;
    tbuf_init(&b, BUF_ALIGNED, 16384);
    uint64_t off = FILE_SIZE / 2 - 8192;
    fill(b.data, off, b.len, 5);
    g_assert_cmpint(do_rw(q, VMM_BLOCK_WRITE, off, &b), ==, 16384);
    g_assert_cmpint(truncate(path, FILE_SIZE / 2), ==, 0);
    memset(b.data, 0xcc, b.len);
    g_assert_cmpint(do_rw(q, VMM_BLOCK_READ, off, &b), ==, 16384);
    check_pattern(b.data, off, 8192, 5);
    check_zero(b.data + 8192, 8192);
    tbuf_clear(&b);
    vmm_block_close(dev);
    g_unlink(path);
}

/* unsafe: flushes complete at once, and are still counted */
static void test_unsafe_flush(void)
{
    g_autofree char *path = make_file("unsafe.img", FILE_SIZE);
    g_autoptr(GError) err = NULL;
    VmmBlockDev *dev = vmm_block_open(path, false, false, VMM_CACHE_UNSAFE, VMM_IO_URING,
                                      VMM_DISCARD_IGNORE, 1, &err);
    g_assert_no_error(err);
    g_assert_true(vmm_block_has_write_cache(dev));
    for (int i = 0; i < 10; i++)
        g_assert_cmpint(do_req(vmm_block_queue(dev, 0), VMM_BLOCK_FLUSH, 0, 0, NULL, 0), ==, 0);
    VmmBlockStats st;
    vmm_block_get_stats(dev, &st);
    g_assert_cmpuint(st.fl_reqs, ==, 10);
    vmm_block_close(dev);
    g_unlink(path);
}

/* ------------------------------------------------------------------------ */
/* queue depth: 64 requests in flight, each completed exactly once          */

#define QD 64
#define QD_BLOCKS 4096            /* 16 MiB of 4 KiB blocks */
#define QD_OPS 3000

typedef struct QdCtx QdCtx;
typedef struct {
    VmmBlockReq req;
    QdCtx *ctx;
    unsigned slot;
    unsigned submitted, completed;
    unsigned block;
    bool is_write;
    struct iovec iov;
    uint8_t *buf;
} QdReq;

struct QdCtx {
    VmmBlockQueue *q;
    QdReq r[QD];
    uint8_t gen[QD_BLOCKS];       /* generation last written to each block */
    unsigned issued, finished;
    uint64_t rng;
    bool unaligned;
};

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void qd_issue(QdCtx *c, QdReq *r)
{
    /* Slot i only touches blocks i, i+QD, ...: no two requests in flight
     * overlap, so every read has one right answer. */
    r->block = r->slot + QD * (unsigned)(xorshift(&c->rng) % (QD_BLOCKS / QD));
    r->is_write = xorshift(&c->rng) % 3 == 0;
    r->req.op = r->is_write ? VMM_BLOCK_WRITE : VMM_BLOCK_READ;
    r->req.offset = (uint64_t)r->block * 4096;
    r->req.len = 4096;
    if (r->is_write) {
        uint8_t g = (uint8_t)(c->gen[r->block] + 1);
        fill(r->buf, r->req.offset, 4096, g);
    }
    r->submitted++;
    c->issued++;
    vmm_block_submit(c->q, &r->req);
}

static void qd_done(VmmBlockReq *req, int ret)
{
    QdReq *r = req->opaque;
    QdCtx *c = r->ctx;
    r->completed++;
    g_assert_cmpuint(r->completed, ==, r->submitted);
    g_assert_cmpint(ret, ==, 4096);
    if (r->is_write)
        c->gen[r->block]++;
    else
        check_pattern(r->buf, r->req.offset, 4096, c->gen[r->block]);
    c->finished++;
    if (c->issued < QD_OPS)
        qd_issue(c, r);       /* resubmitting from the callback */
}

static void run_qd(VmmCacheMode cache, VmmIoMode io, bool unaligned)
{
    g_autofree char *path = make_file("qd.img", (uint64_t)QD_BLOCKS * 4096);
    /* Generation 0 is the pattern with seed 0 everywhere. */
    {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        g_autofree uint8_t *all = g_malloc((size_t)QD_BLOCKS * 4096);
        fill(all, 0, (size_t)QD_BLOCKS * 4096, 0);
        g_assert_cmpint(pwrite(fd, all, (size_t)QD_BLOCKS * 4096, 0), ==, QD_BLOCKS * 4096);
        close(fd);
    }
    g_autoptr(GError) err = NULL;
    VmmBlockDev *dev = vmm_block_open(path, false, false, cache, io, VMM_DISCARD_UNMAP, 1, &err);
    g_assert_no_error(err);
    QdCtx *c = g_new0(QdCtx, 1);
    c->q = vmm_block_queue(dev, 0);
    c->rng = 0x9e3779b97f4a7c15ull;
    void *mem = NULL;
    g_assert_cmpint(posix_memalign(&mem, 4096, (size_t)QD * 8192), ==, 0);
    for (unsigned i = 0; i < QD; i++) {
        QdReq *r = &c->r[i];
        r->ctx = c;
        r->slot = i;
        r->buf = (uint8_t *)mem + (size_t)i * 8192 + (unaligned ? 64 : 0);
        r->iov.iov_base = r->buf;
        r->iov.iov_len = 4096;
        r->req.iov = &r->iov;
        r->req.iovcnt = 1;
        r->req.complete = qd_done;
        r->req.opaque = r;
    }
    vmm_block_queue_plug(c->q);
    for (unsigned i = 0; i < QD; i++)
        qd_issue(c, &c->r[i]);
    vmm_block_queue_kick(c->q);
    g_assert_cmpuint(vmm_block_queue_inflight(c->q), ==, QD);
    wait_idle(c->q);
    g_assert_cmpuint(c->finished, ==, QD_OPS);
    for (unsigned i = 0; i < QD; i++)
        g_assert_cmpuint(c->r[i].completed, ==, c->r[i].submitted);
    VmmBlockStats st;
    vmm_block_get_stats(dev, &st);
    g_assert_cmpuint(st.rd_reqs + st.wr_reqs, ==, QD_OPS);
    g_assert_cmpuint(st.errors, ==, 0);
    vmm_block_close(dev);
    free(mem);
    g_free(c);
    g_unlink(path);
}

static void test_qd(gconstpointer data)
{
    const Combo *c = data;
    if (is_direct(c->cache) && !dir_has_odirect) {
        g_test_skip("no O_DIRECT in the test directory");
        return;
    }
    run_qd(c->cache, c->io, false);
    run_qd(c->cache, c->io, true);    /* every request bounced */
}

/* More requests at once than any ring or AIO context holds. */
static void test_overflow(gconstpointer data)
{
    VmmIoMode io = (VmmIoMode)GPOINTER_TO_INT(data);
    VmmCacheMode cache = dir_has_odirect ? VMM_CACHE_NONE : VMM_CACHE_WRITEBACK;
    if (!allowed(cache, io)) {
        g_test_skip("no O_DIRECT in the test directory");
        return;
    }
    enum { N = 1500 };
    g_autofree char *path = make_file("over.img", FILE_SIZE);
    g_autoptr(GError) err = NULL;
    VmmBlockDev *dev = vmm_block_open(path, false, false, cache, io, VMM_DISCARD_UNMAP, 1, &err);
    g_assert_no_error(err);
    VmmBlockQueue *q = vmm_block_queue(dev, 0);
    TReq *t = g_new0(TReq, N);
    void *mem = NULL;
    g_assert_cmpint(posix_memalign(&mem, 4096, (size_t)N * 512), ==, 0);
    struct iovec *iov = g_new(struct iovec, N);
    for (unsigned pass = 0; pass < 2; pass++) {
        if (pass == 1)
            vmm_block_queue_plug(q);
        for (unsigned i = 0; i < N; i++) {
            iov[i].iov_base = (uint8_t *)mem + (size_t)i * 512;
            iov[i].iov_len = 512;
            t[i] = (TReq){ .req = { .op = i % 5 == 4 ? VMM_BLOCK_FLUSH : VMM_BLOCK_READ,
                                    .offset = (uint64_t)i * 512, .len = 512,
                                    .iov = &iov[i], .iovcnt = 1, .complete = treq_done,
                                    .opaque = &t[i] } };
            vmm_block_submit(q, &t[i].req);
        }
        if (pass == 1)
            vmm_block_queue_kick(q);
        wait_idle(q);
        for (unsigned i = 0; i < N; i++) {
            g_assert_cmpuint(t[i].calls, ==, 1);
            g_assert_cmpint(t[i].ret, ==, t[i].req.op == VMM_BLOCK_READ ? 512 : 0);
        }
    }
    vmm_block_close(dev);
    free(mem);
    g_free(iov);
    g_free(t);
    g_unlink(path);
}

/* close() waits for what is still in flight */
static void test_close_inflight(void)
{
    g_autofree char *path = make_file("close.img", FILE_SIZE);
    for (unsigned i = 0; i < G_N_ELEMENTS(all_ios); i++) {
        VmmCacheMode cache = dir_has_odirect ? VMM_CACHE_NONE : VMM_CACHE_WRITEBACK;
        if (!allowed(cache, all_ios[i]))
            continue;
        g_autoptr(GError) err = NULL;
        VmmBlockDev *dev = vmm_block_open(path, false, false, cache, all_ios[i],
                                          VMM_DISCARD_UNMAP, 1, &err);
        g_assert_no_error(err);
        TBuf b[8];
        TReq t[8];
        for (unsigned k = 0; k < 8; k++) {
            tbuf_init(&b[k], BUF_ALIGNED, 65536);
            t[k] = (TReq){ .req = { .op = VMM_BLOCK_READ, .offset = k * 65536u, .len = 65536,
                                    .iov = b[k].iov, .iovcnt = b[k].iovcnt,
                                    .complete = treq_done, .opaque = &t[k] } };
            vmm_block_submit(vmm_block_queue(dev, 0), &t[k].req);
        }
        vmm_block_close(dev);
        for (unsigned k = 0; k < 8; k++) {
            g_assert_cmpuint(t[k].calls, ==, 1);
            g_assert_cmpint(t[k].ret, ==, 65536);
            tbuf_clear(&b[k]);
        }
    }
    g_unlink(path);
}

/* ------------------------------------------------------------------------ */
/* a block device: a loop device on a file, when the host allows it         */

static bool run_cmd(const char *const *argv, char **out)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *o = NULL, *e = NULL;
    int status = 0;
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                      &o, &e, &status, &err))
        return false;
    if (!g_spawn_check_wait_status(status, NULL))
        return false;
    if (out)
        *out = g_strstrip(g_steal_pointer(&o));
    return true;
}

static void test_block_device(void)
{
    const uint64_t size = 8u * 1024 * 1024;
    g_autofree char *file = make_file("loop.img", size);
    g_autofree char *loop = NULL;
    const char *setup[] = { "losetup", "--find", "--show", file, NULL };
    if (!run_cmd(setup, &loop) || !g_str_has_prefix(loop, "/dev/loop")) {
        g_test_skip("cannot create a loop device here (losetup needs root)");
        g_unlink(file);
        return;
    }

    g_autoptr(GError) err = NULL;
    VmmBlockDev *dev = vmm_block_open(loop, false, false, VMM_CACHE_WRITEBACK,
                                      VMM_IO_THREADS, VMM_DISCARD_UNMAP, 1, &err);
    g_assert_null(dev);
    g_assert_nonnull(strstr(err->message, "type='block'"));
    g_clear_error(&err);

    uint8_t seed = 40;
    for (unsigned ci = 0; ci < G_N_ELEMENTS(all_caches); ci++) {
        for (unsigned ii = 0; ii < G_N_ELEMENTS(all_ios); ii++, seed++) {
            VmmCacheMode cache = all_caches[ci];
            VmmIoMode io = all_ios[ii];
            if (!allowed(cache, io))
                continue;
            dev = vmm_block_open(loop, true, false, cache, io, VMM_DISCARD_UNMAP, 1, &err);
            g_assert_no_error(err);
            g_assert_cmpuint(vmm_block_size(dev), ==, size);
            int bdev_lbs = 0;
            g_assert_cmpint(ioctl(vmm_block_fd_for_testing(dev), BLKSSZGET, &bdev_lbs), ==, 0);
            g_assert_cmpuint(vmm_block_logical_block_size(dev), ==, (unsigned)bdev_lbs);
            VmmBlockQueue *q = vmm_block_queue(dev, 0);
            for (int k = 0; k < N_BUF_KINDS; k++) {
                TBuf b;
                size_t len = k == BUF_MANY ? 16384 : 8192 + 512;
                uint64_t off = 512 + (uint64_t)k * 65536;
                tbuf_init(&b, k, len);
                fill(b.data, off, len, seed);
                g_assert_cmpint(do_rw(q, VMM_BLOCK_WRITE, off, &b), ==, (int)len);
                memset(b.data, 0, len);
                g_assert_cmpint(do_rw(q, VMM_BLOCK_READ, off, &b), ==, (int)len);
                check_pattern(b.data, off, len, seed);
                tbuf_clear(&b);
            }
            g_assert_cmpint(do_req(q, VMM_BLOCK_FLUSH, 0, 0, NULL, 0), ==, 0);
            TBuf b;
            tbuf_init(&b, BUF_ALIGNED, 65536);
            g_assert_cmpint(do_req(q, VMM_BLOCK_WRITE_ZEROES, 512, 8192, NULL, 0), ==, 0);
            g_assert_cmpint(do_rw(q, VMM_BLOCK_READ, 0, &b), ==, 65536);
            check_zero(b.data + 512, 8192);
            check_pattern(b.data + 8704, 8704, 512, seed);
            /* A loop device discards by punching a hole in its file. */
            g_assert_cmpint(do_req(q, VMM_BLOCK_DISCARD, 65536, 65536, NULL, 0), ==, 0);
            g_assert_cmpint(do_rw(q, VMM_BLOCK_READ, 65536, &b), ==, 65536);
            check_zero(b.data, b.len);
            tbuf_clear(&b);
            vmm_block_close(dev);
        }
    }
    const char *detach[] = { "losetup", "--detach", loop, NULL };
    g_assert_true(run_cmd(detach, NULL));
    g_unlink(file);
}

/* ------------------------------------------------------------------------ */
/* microbenchmark: 4 KiB random reads, cache=none (-m perf)                 */

typedef struct {
    VmmBlockReq req;
    struct iovec iov;
    uint64_t *rng;
    uint64_t nblocks;
    uint64_t *done;
    bool *stop;
} BenchReq;

static void bench_done(VmmBlockReq *req, int ret)
{
    BenchReq *b = req->opaque;
    g_assert_cmpint(ret, ==, 4096);
    (*b->done)++;
    if (!*b->stop) {
        req->offset = (xorshift(b->rng) % b->nblocks) * 4096;
        vmm_block_submit(req->priv.q, req);
    }
}

static void test_perf(void)
{
    if (!g_test_perf()) {
        g_test_skip("benchmark: run with -m perf");
        return;
    }
    if (!dir_has_odirect) {
        g_test_skip("no O_DIRECT in the test directory");
        return;
    }
    const char *env_mb = g_getenv("VMM_BENCH_SIZE_MB");
    const char *env_s = g_getenv("VMM_BENCH_SECONDS");
    uint64_t size = (env_mb ? g_ascii_strtoull(env_mb, NULL, 10) : 1024) * 1024 * 1024;
    double seconds = env_s ? g_ascii_strtod(env_s, NULL) : 5.0;
    g_autofree char *path = g_strdup(g_getenv("VMM_BENCH_FILE"));
    if (!path)
        path = g_build_filename(test_dir, "bench.img", NULL);
    struct stat st;
    bool bdev = stat(path, &st) == 0 && S_ISBLK(st.st_mode);
    bool qcow = g_strcmp0(g_getenv("VMM_BENCH_FORMAT"), "qcow2") == 0;
    if (qcow) {
        g_assert_cmpint(stat(path, &st), ==, 0);   /* made by qemu-img, not here */
    } else if (bdev) {
        int bfd = open(path, O_RDONLY | O_CLOEXEC);
        g_assert_cmpint(bfd, >=, 0);
        g_assert_cmpint(ioctl(bfd, BLKGETSIZE64, &size), ==, 0);
        close(bfd);
    } else if (stat(path, &st) < 0 || (uint64_t)st.st_size < size) {
        /* Real data: reads of holes never reach the disk. */
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        g_assert_cmpint(fd, >=, 0);
        g_autofree uint8_t *chunk = g_malloc(1 << 20);
        for (uint64_t off = 0; off < size; off += 1 << 20) {
            fill(chunk, off, 1 << 20, 3);
            g_assert_cmpint(pwrite(fd, chunk, 1 << 20, (off_t)off), ==, 1 << 20);
        }
        fsync(fd);
        close(fd);
    } else {
        size = (uint64_t)st.st_size;
    }
    /* Cold cache is irrelevant for O_DIRECT, but drop it anyway. */
    int fd = open(path, O_RDONLY);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);

    g_test_message("4 KiB random reads, cache=none, %.0f s each, file %s (%" G_GUINT64_FORMAT " MiB)",
                   seconds, path, size >> 20);
    g_test_message("%-9s %3s %10s %10s", "engine", "QD", "IOPS", "lat(us)");
    unsigned qds[] = { 1, 32 };
    if (g_getenv("VMM_BENCH_QD"))    /* one depth only */
        qds[0] = qds[1] = (unsigned)g_ascii_strtoull(g_getenv("VMM_BENCH_QD"), NULL, 10);
    const char *only = g_getenv("VMM_BENCH_ENGINES");   /* e.g. "threads,native" */
    for (unsigned ii = 0; ii < G_N_ELEMENTS(all_ios); ii++) {
        if (only && !strstr(only, io_str(all_ios[ii])))
            continue;
        for (unsigned qi = 0; qi < G_N_ELEMENTS(qds); qi++) {
            unsigned qd = qds[qi];
            if (qi > 0 && qd == qds[0])
                break;
            g_autoptr(GError) err = NULL;
            VmmBlockDev *dev = vmm_block_open_image(path, qcow ? VMM_IMAGE_FORMAT_QCOW2
                                                    : VMM_IMAGE_FORMAT_RAW, NULL, bdev, true,
                                                    VMM_CACHE_NONE, all_ios[ii],
                                                    VMM_DISCARD_IGNORE, 1, &err);
            g_assert_no_error(err);
            size = vmm_block_size(dev);
            VmmBlockQueue *q = vmm_block_queue(dev, 0);
            BenchReq *br = g_new0(BenchReq, qd);
            void *mem = NULL;
            g_assert_cmpint(posix_memalign(&mem, 4096, (size_t)qd * 4096), ==, 0);
            uint64_t rng = 0x1234567887654321ull ^ qd, done = 0;
            bool stop = false;
            gint64 t0 = g_get_monotonic_time();
            for (unsigned i = 0; i < qd; i++) {
                BenchReq *b = &br[i];
                b->iov = (struct iovec){ (uint8_t *)mem + (size_t)i * 4096, 4096 };
                b->rng = &rng;
                b->nblocks = size / 4096;
                b->done = &done;
                b->stop = &stop;
                b->req = (VmmBlockReq){ .op = VMM_BLOCK_READ, .len = 4096, .iov = &b->iov,
                                        .iovcnt = 1, .complete = bench_done, .opaque = b,
                                        .offset = (xorshift(&rng) % b->nblocks) * 4096 };
                vmm_block_submit(q, &b->req);
            }
            struct pollfd pfd = { .fd = vmm_block_queue_fd(q), .events = POLLIN };
            gint64 end = t0 + (gint64)(seconds * 1e6);
            const char *bp = g_getenv("VMM_BENCH_BUSYPOLL");
            bool busy = bp && *bp && !g_str_equal(bp, "0");
            while (g_get_monotonic_time() < end) {
                if (!busy)
                    poll(&pfd, 1, 1000);
                vmm_block_queue_complete(q);
            }
            uint64_t counted = done;
            gint64 t1 = g_get_monotonic_time();
            stop = true;
            vmm_block_queue_drain(q);
            VmmBlockStats s;
            vmm_block_get_stats(dev, &s);
            double iops = (double)counted / ((double)(t1 - t0) / 1e6);
            g_test_message("%-9s %3u %10.0f %10.1f", io_str(all_ios[ii]), qd, iops,
                           (double)s.rd_ns / (double)s.rd_reqs / 1000.0);
            vmm_block_close(dev);
            free(mem);
            g_free(br);
        }
    }
}

/* ------------------------------------------------------------------------ */

static void remove_test_dir(void)
{
    g_autoptr(GDir) d = g_dir_open(test_dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(test_dir, name, NULL);
        if (!g_getenv("VMM_BENCH_FILE") || !g_str_equal(name, "bench.img"))
            g_unlink(p);
    }
    g_rmdir(test_dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    const char *base = g_getenv("VMM_TEST_TMPDIR");
    g_autofree char *tmpl = g_build_filename(base ? base : ".", "test-block-XXXXXX", NULL);
    if (!g_mkdtemp(tmpl))
        g_error("cannot create a directory in %s: %s", base ? base : ".", g_strerror(errno));
    test_dir = tmpl;
    {
        g_autofree char *probe = g_build_filename(test_dir, "odirect", NULL);
        int fd = open(probe, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
        dir_has_odirect = fd >= 0;
        if (fd >= 0)
            close(fd);
        g_unlink(probe);
    }

    static Combo combos[G_N_ELEMENTS(all_caches) * G_N_ELEMENTS(all_ios)];
    unsigned n = 0;
    for (unsigned ii = 0; ii < G_N_ELEMENTS(all_ios); ii++) {
        for (unsigned ci = 0; ci < G_N_ELEMENTS(all_caches); ci++) {
            if (!allowed(all_caches[ci], all_ios[ii]))
                continue;
            combos[n] = (Combo){ all_caches[ci], all_ios[ii] };
            g_autofree char *name = g_strdup_printf("/block/combo/%s/%s",
                                                    io_str(all_ios[ii]), cache_str(all_caches[ci]));
            g_test_add_data_func(name, &combos[n], test_combo);
            n++;
        }
    }
    g_test_add_func("/block/native-refused", test_native_refused);
    g_test_add_func("/block/open-errors", test_open_errors);
    g_test_add_func("/block/readonly", test_readonly);
    g_test_add_func("/block/discard-ignore", test_discard_ignore);
    g_test_add_func("/block/unsafe-flush", test_unsafe_flush);
    g_test_add_func("/block/bad-requests", test_bad_requests);
    static const Combo qd_combos[] = {
        { VMM_CACHE_NONE, VMM_IO_THREADS }, { VMM_CACHE_WRITEBACK, VMM_IO_THREADS },
        { VMM_CACHE_NONE, VMM_IO_NATIVE }, { VMM_CACHE_DIRECTSYNC, VMM_IO_NATIVE },
        { VMM_CACHE_NONE, VMM_IO_URING }, { VMM_CACHE_WRITEBACK, VMM_IO_URING },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(qd_combos); i++) {
        g_autofree char *name = g_strdup_printf("/block/qd64/%s/%s", io_str(qd_combos[i].io),
                                                cache_str(qd_combos[i].cache));
        g_test_add_data_func(name, &qd_combos[i], test_qd);
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(all_ios); i++) {
        g_autofree char *name = g_strdup_printf("/block/overflow/%s", io_str(all_ios[i]));
        g_test_add_data_func(name, GINT_TO_POINTER(all_ios[i]), test_overflow);
    }
    /* With O_DIRECT ext4 zeroes past the end itself; buffered reads do not. */
    static const Combo short_combos[] = {
        { VMM_CACHE_WRITEBACK, VMM_IO_THREADS }, { VMM_CACHE_NONE, VMM_IO_THREADS },
        { VMM_CACHE_NONE, VMM_IO_NATIVE },
        { VMM_CACHE_WRITEBACK, VMM_IO_URING }, { VMM_CACHE_NONE, VMM_IO_URING },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(short_combos); i++) {
        g_autofree char *name = g_strdup_printf("/block/short-read/%s/%s",
                                                io_str(short_combos[i].io),
                                                cache_str(short_combos[i].cache));
        g_test_add_data_func(name, &short_combos[i], test_short_read);
    }
    g_test_add_func("/block/close-inflight", test_close_inflight);
    g_test_add_func("/block/block-device", test_block_device);
    g_test_add_func("/block/perf", test_perf);

    int ret = g_test_run();
    remove_test_dir();
    return ret;
}
