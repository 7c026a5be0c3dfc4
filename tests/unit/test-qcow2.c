/* src/block/qcow2.c checked against QEMU's own tools (Debian's qemu-utils):
 * images made by qemu-img (cluster sizes 4 KiB to 2 MiB, v2 and v3,
 * compressed with zlib and zstd, extended L2, backing chains) read back
 * byte for byte as `qemu-img convert -O raw` does; writes, discards and
 * write-zeroes done through the driver and, on a copy, by qemu-io give
 * images that `qemu-img compare` finds identical and `qemu-img check` finds
 * clean; hostile images are refused at open with the file and the problem
 * named. Skips (with the reason) when qemu-img is not installed.
 *
 * Files live in $VMM_TEST_TMPDIR, else the current directory. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "block/block.h"
#include "block/qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IMG_SIZE (6u * 1024 * 1024 + 512 * 3)   /* not cluster-aligned on purpose */

static char *test_dir;

static char *tpath(const char *name)
{
    return g_build_filename(test_dir, name, NULL);
}

/* Runs a shell command (qemu-img, qemu-io); returns its exit status. */
G_GNUC_PRINTF(1, 2)
static int sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *out = NULL, *errs = NULL;
    int status = -1;
    g_autoptr(GError) err = NULL;
    char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    if (!g_spawn_sync(test_dir, argv, NULL, 0, NULL, NULL, &out, &errs, &status, &err))
        g_error("%s: %s", cmd, err->message);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    if (rc != 0)
        g_test_message("`%s` exited %d: %s%s", cmd, rc, out, errs);
    return rc;
}

static guint8 *read_file_all(const char *path, gsize *len)
{
    gchar *data = NULL;
    g_autoptr(GError) err = NULL;
    g_assert_true(g_file_get_contents(path, &data, len, &err));
    return (guint8 *)data;
}

/* A raw source with something in every kind of region: random data, zero
 * runs, short patterns that compress well. */
static void make_source(const char *path, guint32 seed)
{
    g_autoptr(GRand) r = g_rand_new_with_seed(seed);
    guint8 *buf = g_malloc0(IMG_SIZE);
    for (size_t off = 0; off < IMG_SIZE; off += 4096) {
        size_t n = MIN((size_t)4096, IMG_SIZE - off);
        switch (g_rand_int_range(r, 0, 4)) {
        case 0: break;                                   /* zeroes */
        case 1: memset(buf + off, g_rand_int_range(r, 1, 255), n); break;
        default:
            for (size_t i = 0; i < n; i++)
                buf[off + i] = (guint8)g_rand_int(r);
        }
    }
    g_assert_true(g_file_set_contents(path, (char *)buf, IMG_SIZE, NULL));
    g_free(buf);
}

/* cache='unsafe' (no ordering flushes): for the tests that allocate
 * thousands of small clusters, where fdatasync would dominate. */
static bool unsafe_meta;

static VmmQcow2 *open_q(const char *path, bool readonly, int *fd, GError **err)
{
    *fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    g_assert_cmpint(*fd, >=, 0);
    VmmQcow2Options o = { .readonly = readonly, .align = 512, .flush_metadata = !unsafe_meta,
                          .discard_unmap = true };
    VmmQcow2 *q = vmm_qcow2_open(*fd, path, &o, err);
    if (!q) {
        close(*fd);
        *fd = -1;
    }
    return q;
}

/* Reads the whole image through the driver, in pieces of odd sizes that
 * cross cluster boundaries, and compares with qemu-img's raw conversion. */
static void assert_reads_as_qemu(const char *img)
{
    g_autofree char *raw = g_strconcat(img, ".raw", NULL);
    g_assert_cmpint(sh("qemu-img convert -O raw '%s' '%s'", img, raw), ==, 0);
    gsize len;
    g_autofree guint8 *want = read_file_all(raw, &len);
    g_autoptr(GError) err = NULL;
    int fd;
    VmmQcow2 *q = open_q(img, true, &fd, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(vmm_qcow2_size(q), ==, len);
    g_autofree guint8 *got = g_malloc(len);
    uint64_t off = 0, step = 12345;
    while (off < len) {
        uint64_t n = MIN(step, len - off);
        g_assert_cmpint(vmm_qcow2_read(q, got + off, n, off), ==, 0);
        off += n;
        step = step * 3 % 400000 + 512;
    }
    for (size_t i = 0; i < len; i++) {
        if (got[i] != want[i])
            g_error("%s: byte %zu reads 0x%02x, qemu-img says 0x%02x", img, i, got[i], want[i]);
    }
    vmm_qcow2_close(q);
    close(fd);
    g_unlink(raw);
}

static bool have_qemu_img(void)
{
    g_autofree char *img = g_find_program_in_path("qemu-img");
    g_autofree char *io = g_find_program_in_path("qemu-io");
    if (!img || !io) {
        g_test_skip("qemu-img/qemu-io not installed (Debian package qemu-utils)");
        return false;
    }
    return true;
}

/* Every cluster size from 4 KiB to 2 MiB, v2 and v3, plain, compressed
 * (zlib; zstd for v3) and with extended L2 entries. */
static void test_read_matrix(void)
{
    if (!have_qemu_img())
        return;
    g_autofree char *src = tpath("src.raw");
    make_source(src, 1);
    static const unsigned sizes[] = { 4096, 16384, 65536, 262144, 2097152 };
    for (unsigned s = 0; s < G_N_ELEMENTS(sizes); s++) {
        for (int v3 = 0; v3 < 2; v3++) {
            for (int variant = 0; variant < 4; variant++) {
                const char *extra = variant == 0 ? "" : variant == 1 ? "-c"
                                  : variant == 2 ? "-c -o compression_type=zstd"
                                  : "-o extended_l2=on";
                if (variant >= 2 && !v3)
                    continue;
                if (variant == 3 && sizes[s] < 16384)
                    continue;
                g_autofree char *img = tpath("m.qcow2");
                g_unlink(img);
                g_assert_cmpint(sh("qemu-img convert -f raw -O qcow2 -o cluster_size=%u,compat=%s "
                                   "%s '%s' '%s'", sizes[s], v3 ? "1.1" : "0.10", extra, src, img),
                                ==, 0);
                g_test_message("cluster %u v%d %s", sizes[s], v3 ? 3 : 2, extra);
                assert_reads_as_qemu(img);
            }
        }
    }
    /* Subclusters that are partly allocated, partly zero, partly backing. */
    g_autofree char *base = tpath("sc-base.qcow2"), *top = tpath("sc-top.qcow2");
    g_assert_cmpint(sh("qemu-img convert -f raw -O qcow2 '%s' '%s'", src, base), ==, 0);
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=65536 "
                       "-b '%s' -F qcow2 '%s'", base, top), ==, 0);
    g_assert_cmpint(sh("qemu-io -c 'write -P 0x5a 2048 3000' -c 'write -z 65536 8192' "
                       "-c 'write -P 0x11 200000 70000' '%s' >/dev/null", top), ==, 0);
    assert_reads_as_qemu(top);
}

/* Chains: raw and qcow2 backing files, relative names, three levels. */
static void test_backing_chain(void)
{
    if (!have_qemu_img())
        return;
    g_autofree char *src = tpath("chain-src.raw");
    make_source(src, 2);
    g_autofree char *mid = tpath("chain-mid.qcow2"), *top = tpath("chain-top.qcow2");
    g_autofree char *top2 = tpath("chain-top2.qcow2");
    /* raw base, named relatively */
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=4096 "
                       "-b chain-src.raw -F raw '%s'", mid), ==, 0);
    g_assert_cmpint(sh("qemu-io -c 'write -P 0x77 5000 70000' '%s' >/dev/null", mid), ==, 0);
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 -b chain-mid.qcow2 -F qcow2 '%s'", top), ==, 0);
    g_assert_cmpint(sh("qemu-io -c 'write -P 0x33 60000 9000' -c 'write -z 1048576 65536' "
                       "'%s' >/dev/null", top), ==, 0);
    assert_reads_as_qemu(mid);
    assert_reads_as_qemu(top);
    /* A backing file shorter than the overlay reads as zeroes beyond it. */
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 -b chain-top.qcow2 -F qcow2 '%s' 8M",
                       top2), ==, 0);
    assert_reads_as_qemu(top2);
}

/* The same operations on two copies of an image, one through the driver,
 * one by qemu-io: identical contents, and ours passes qemu-img check. */
typedef struct {
    char op;              /* w(rite) d(iscard) z(ero) */
    uint64_t off, len;
    guint8 pat;
} Op;

static void run_ops_compare(const char *img, const Op *ops, size_t nops)
{
    g_autofree char *theirs = g_strconcat(img, ".qemu", NULL);
    g_assert_cmpint(sh("cp '%s' '%s'", img, theirs), ==, 0);
    GString *cmd = g_string_new("qemu-io -d unmap");
    g_autoptr(GError) err = NULL;
    int fd;
    VmmQcow2 *q = open_q(img, false, &fd, &err);
    g_assert_no_error(err);
    for (size_t i = 0; i < nops; i++) {
        const Op *o = &ops[i];
        int r;
        if (o->op == 'w') {
            guint8 *buf = g_malloc(o->len);
            memset(buf, o->pat, o->len);
            r = vmm_qcow2_write(q, buf, o->len, o->off);
            g_free(buf);
            g_string_append_printf(cmd, " -c 'write -P 0x%02x %" G_GUINT64_FORMAT " %"
                                   G_GUINT64_FORMAT "'", o->pat, o->off, o->len);
        } else if (o->op == 'd') {
            r = vmm_qcow2_discard(q, o->len, o->off);
            g_string_append_printf(cmd, " -c 'discard %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                                   "'", o->off, o->len);
        } else {
            r = vmm_qcow2_write_zeroes(q, o->len, o->off, true);
            g_string_append_printf(cmd, " -c 'write -z -u %" G_GUINT64_FORMAT " %"
                                   G_GUINT64_FORMAT "'", o->off, o->len);
        }
        if (r != 0)
            g_error("%s: op %zu (%c %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT ") failed: %s",
                    img, i, o->op, o->off, o->len, g_strerror(-r));
    }
    g_assert_cmpint(vmm_qcow2_flush(q), ==, 0);
    /* The allocation count kept while writing equals a fresh count. */
    uint64_t kept = vmm_qcow2_allocation(q);
    vmm_qcow2_close(q);
    close(fd);
    q = open_q(img, true, &fd, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(vmm_qcow2_allocation(q), ==, kept);
    vmm_qcow2_close(q);
    close(fd);
    g_string_append_printf(cmd, " '%s' >/dev/null", theirs);
    g_test_message("%s", cmd->str);
    g_assert_cmpint(sh("%s", cmd->str), ==, 0);
    g_string_free(cmd, TRUE);
    g_assert_cmpint(sh("qemu-img check -q '%s'", img), ==, 0);
    g_assert_cmpint(sh("qemu-img compare '%s' '%s'", img, theirs), ==, 0);
    assert_reads_as_qemu(img);
    g_unlink(theirs);
}

static void random_ops(GRand *r, Op *ops, size_t n, uint64_t size, uint64_t cs)
{
    for (size_t i = 0; i < n; i++) {
        Op *o = &ops[i];
        int k = g_rand_int_range(r, 0, 10);
        o->op = k < 6 ? 'w' : k < 8 ? 'd' : 'z';
        uint64_t unit = g_rand_boolean(r) ? cs : 512;
        o->off = (uint64_t)g_rand_int_range(r, 0, (gint32)(size / unit)) * unit;
        /* MIN() evaluates twice: draw first */
        uint64_t want = (uint64_t)g_rand_int_range(r, 1, 5) * unit +
                        (g_rand_boolean(r) ? 512 * (uint64_t)g_rand_int_range(r, 0, 8) : 0);
        o->len = MIN(want, size - o->off);
        if (o->len == 0)
            o->len = MIN((uint64_t)512, size - o->off);
        o->pat = (guint8)g_rand_int_range(r, 1, 256);
    }
}

static void test_write_matrix(void)
{
    if (!have_qemu_img())
        return;
    g_autofree char *src = tpath("w-src.raw");
    make_source(src, 3);
    g_autofree char *base = tpath("w-base.qcow2");
    g_assert_cmpint(sh("qemu-img convert -f raw -O qcow2 -c '%s' '%s'", src, base), ==, 0);
    static const unsigned sizes[] = { 4096, 65536, 2097152 };
    g_autoptr(GRand) r = g_rand_new_with_seed(42);
    for (unsigned s = 0; s < G_N_ELEMENTS(sizes); s++) {
        for (int v3 = 0; v3 < 2; v3++) {
            for (int kind = 0; kind < 4; kind++) {
                /* 0 empty, 1 with a backing file, 2 converted (data in place),
                 * 3 compressed (every write re-allocates) */
                g_autofree char *img = tpath("w.qcow2");
                g_unlink(img);
                const char *compat = v3 ? "1.1" : "0.10";
                if (kind == 0)
                    g_assert_cmpint(sh("qemu-img create -q -f qcow2 -o cluster_size=%u,compat=%s "
                                       "'%s' %u", sizes[s], compat, img, IMG_SIZE), ==, 0);
                else if (kind == 1)
                    g_assert_cmpint(sh("qemu-img create -q -f qcow2 -o cluster_size=%u,compat=%s "
                                       "-b w-base.qcow2 -F qcow2 '%s'", sizes[s], compat, img), ==, 0);
                else
                    g_assert_cmpint(sh("qemu-img convert -f raw -O qcow2 %s -o cluster_size=%u,"
                                       "compat=%s '%s' '%s'", kind == 3 ? "-c" : "", sizes[s],
                                       compat, src, img), ==, 0);
                Op ops[60];
                random_ops(r, ops, G_N_ELEMENTS(ops), IMG_SIZE, sizes[s]);
                /* and the unaligned tail of the disk */
                ops[0] = (Op){ 'w', IMG_SIZE - 1024, 1024, 0xee };
                g_test_message("cluster %u v%d kind %d", sizes[s], v3 ? 3 : 2, kind);
                run_ops_compare(img, ops, G_N_ELEMENTS(ops));
            }
        }
    }
}

/* Refcount blocks allocated on the way: an image that grows past what its
 * first refcount block covers (4 KiB clusters, 16-bit refcounts: 2048
 * clusters = 8 MiB) stays consistent. */
static void test_grow_refcounts(void)
{
    if (!have_qemu_img())
        return;
    g_autofree char *img = tpath("grow.qcow2");
    g_unlink(img);
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 -o cluster_size=4096 '%s' 32M", img), ==, 0);
    Op ops[] = { { 'w', 0, 30u << 20, 0x42 }, { 'd', 4u << 20, 8u << 20, 0 },
                 { 'w', 5u << 20, 1u << 20, 0x43 } };
    run_ops_compare(img, ops, G_N_ELEMENTS(ops));

    /* 512-byte clusters: qemu-img's one-cluster refcount table covers 8 MiB
     * of file with v2's 16-bit refcounts, 2 MiB with 64-bit ones; writing
     * more makes it grow (several times in the second case). */
    static const char *const opts[] = { "compat=0.10", "refcount_bits=64" };
    unsafe_meta = true;
    for (unsigned i = 0; i < G_N_ELEMENTS(opts); i++) {
        g_unlink(img);
        g_assert_cmpint(sh("qemu-img create -q -f qcow2 -o cluster_size=512,%s '%s' 40M",
                           opts[i], img), ==, 0);
        Op grow[] = { { 'w', 0, 9u << 20, 0x44 }, { 'd', 1u << 20, 1u << 20, 0 },
                      { 'w', 30u << 20, 1u << 20, 0x45 } };
        run_ops_compare(img, grow, G_N_ELEMENTS(grow));
    }
    unsafe_meta = false;
}

/* ---- hostile images ----------------------------------------------------- */

static void patch(const char *path, uint64_t off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, bytes, n, (off_t)off), ==, (ssize_t)n);
    close(fd);
}

static void patch_be32(const char *path, uint64_t off, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    patch(path, off, &v, 4);
}

static void patch_be64(const char *path, uint64_t off, uint64_t v)
{
    v = GUINT64_TO_BE(v);
    patch(path, off, &v, 8);
}

static void assert_refused(const char *img, bool readonly, const char *what)
{
    g_autoptr(GError) err = NULL;
    int fd;
    VmmQcow2 *q = open_q(img, readonly, &fd, &err);
    if (q)
        g_error("%s opened although %s", img, what);
    g_assert_nonnull(err);
    g_test_message("%s", err->message);
    if (!strstr(err->message, img) || !strstr(err->message, what))
        g_error("error '%s' does not name the file and '%s'", err->message, what);
}

static char *fresh(const char *opts)
{
    char *img = tpath("bad.qcow2");
    g_unlink(img);
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 %s '%s' 64M", opts, img), ==, 0);
    g_assert_cmpint(sh("qemu-io -c 'write -P 1 0 128k' '%s' >/dev/null", img), ==, 0);
    return img;
}

static void test_bad_images(void)
{
    if (!have_qemu_img())
        return;
    char *img;
    img = fresh("");
    g_assert_cmpint(truncate(img, 40), ==, 0);
    assert_refused(img, true, "truncated");
    g_free(img);

    img = fresh("");
    g_assert_cmpint(truncate(img, 65536 * 2), ==, 0);   /* cuts the tables off */
    assert_refused(img, true, "past the end of the file");
    g_free(img);

    img = fresh("");
    patch_be64(img, 40, 1ULL << 40);                    /* L1 far past EOF */
    assert_refused(img, true, "L1 table");
    g_free(img);

    img = fresh("");
    patch_be64(img, 48, 0);                             /* refcount table in the header */
    assert_refused(img, true, "overlaps the header");
    g_free(img);

    img = fresh("");
    patch_be32(img, 20, 30);
    assert_refused(img, true, "cluster_bits 30 is out of range");
    g_free(img);

    img = fresh("");
    patch_be32(img, 32, 2);
    assert_refused(img, true, "encrypted");
    g_free(img);

    img = fresh("");
    patch_be64(img, 72, 1ULL << 2);
    assert_refused(img, true, "external data file");
    g_free(img);

    img = fresh("");
    patch_be64(img, 72, 1ULL << 9);
    assert_refused(img, true, "unknown incompatible features: bit 9");
    g_free(img);

    img = fresh("");
    patch_be64(img, 24, 1ULL << 61);                    /* virtual size vs L1 table */
    assert_refused(img, true, "too big");
    g_free(img);

    img = fresh("");
    patch_be64(img, 8, ~0ULL);                          /* backing name offset wraps */
    patch_be32(img, 16, 8);
    assert_refused(img, true, "backing file name");
    g_free(img);

    img = fresh("");
    patch_be64(img, 72, 2);                             /* corrupt: only read-only */
    assert_refused(img, false, "corrupt");
    g_free(img);

    /* An L1 entry into the header, one past the end. */
    img = fresh("");
    {
        int fd = open(img, O_RDONLY);
        guint64 l1;
        g_assert_cmpint(pread(fd, &l1, 8, 40), ==, 8);
        close(fd);
        patch_be64(img, GUINT64_FROM_BE(l1), 0x8000000000000000ULL | 512);
        assert_refused(img, true, "not cluster-aligned");
        patch_be64(img, GUINT64_FROM_BE(l1), 0x8000000000000000ULL | (1ULL << 40));
        assert_refused(img, true, "past the end of the file");
        patch_be64(img, GUINT64_FROM_BE(l1), 0x8000000000000000ULL);
        g_assert_cmpint(truncate(img, 0), ==, 0);
    }
    g_free(img);

    /* A refcount of zero on the L2 table. */
    img = fresh("-o cluster_size=65536");
    {
        int fd = open(img, O_RDONLY);
        guint64 rt, l1, l1e, rb;
        g_assert_cmpint(pread(fd, &l1, 8, 40), ==, 8);
        g_assert_cmpint(pread(fd, &rt, 8, 48), ==, 8);
        g_assert_cmpint(pread(fd, &l1e, 8, (off_t)GUINT64_FROM_BE(l1)), ==, 8);
        g_assert_cmpint(pread(fd, &rb, 8, (off_t)GUINT64_FROM_BE(rt)), ==, 8);
        close(fd);
        uint64_t l2 = GUINT64_FROM_BE(l1e) & 0x00fffffffffffe00ULL;
        guint16 zero = 0;
        patch(img, GUINT64_FROM_BE(rb) + (l2 >> 16) * 2, &zero, 2);
        assert_refused(img, true, "refcount of zero");
    }
    g_free(img);

    /* Backing files: missing, and a loop. */
    g_autofree char *a = tpath("loop-a.qcow2"), *b = tpath("loop-b.qcow2");
    g_autofree char *miss = tpath("missing-top.qcow2");
    g_unlink(a);
    g_unlink(b);
    g_unlink(miss);
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 '%s' 1M && "
                       "qemu-img create -q -f qcow2 -b loop-a.qcow2 -F qcow2 '%s' && "
                       "qemu-img rebase -u -b loop-b.qcow2 -F qcow2 '%s'", a, b, a), ==, 0);
    assert_refused(a, true, "loops");
    g_assert_cmpint(sh("qemu-img create -q -u -f qcow2 -b nonexistent.qcow2 -F qcow2 '%s' 1M",
                       miss), ==, 0);
    assert_refused(miss, true, "nonexistent.qcow2");
}

/* Lazy refcounts and a crash (qemu-io's abort): the image is left dirty
 * with refcounts behind its tables. Opened for writing it is repaired as
 * QEMU repairs it, keeps its contents, and qemu-img check is content. */
static void test_dirty(void)
{
    if (!have_qemu_img())
        return;
    g_autofree char *img = tpath("dirty.qcow2");
    g_unlink(img);
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 -o cluster_size=4096,lazy_refcounts=on "
                       "'%s' 16M && qemu-io -c 'write -P 0x61 0 1M' -c 'write -P 0x62 8M 64k' "
                       "-c abort '%s' >/dev/null 2>&1; true", img, img), ==, 0);
    int fd = open(img, O_RDONLY);
    guint64 inc;
    g_assert_cmpint(pread(fd, &inc, 8, 72), ==, 8);
    close(fd);
    g_assert_cmpuint(GUINT64_FROM_BE(inc) & 1, ==, 1);       /* dirty */
    g_assert_cmpint(sh("qemu-img check -q '%s'", img), !=, 0);  /* refcounts are off */
    g_autofree char *raw = tpath("dirty.raw");
    g_assert_cmpint(sh("qemu-img convert -O raw '%s' '%s'", img, raw), ==, 0);
    g_autoptr(GError) err = NULL;
    VmmQcow2 *q = open_q(img, false, &fd, &err);
    g_assert_no_error(err);
    guint8 buf[512];
    memset(buf, 0x63, sizeof(buf));
    g_assert_cmpint(vmm_qcow2_write(q, buf, sizeof(buf), 12u << 20), ==, 0);
    vmm_qcow2_close(q);
    close(fd);
    g_assert_cmpint(sh("qemu-io -f raw -c 'write -P 0x63 12M 512' '%s' >/dev/null", raw), ==, 0);
    fd = open(img, O_RDONLY);
    g_assert_cmpint(pread(fd, &inc, 8, 72), ==, 8);
    close(fd);
    g_assert_cmpuint(GUINT64_FROM_BE(inc) & 1, ==, 0);
    g_assert_cmpint(sh("qemu-img check -q '%s'", img), ==, 0);
    g_assert_cmpint(sh("qemu-img compare -q -F raw '%s' '%s'", img, raw), ==, 0);
}

/* Runtime corruption: an L2 entry pointing past the end of the file fails
 * that read with EIO, the image stays usable elsewhere. */
static void test_runtime_corruption(void)
{
    if (!have_qemu_img())
        return;
    g_autofree char *img = tpath("rt.qcow2");
    g_unlink(img);
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 '%s' 64M && "
                       "qemu-io -c 'write -P 7 0 128k' '%s' >/dev/null", img, img), ==, 0);
    int fd = open(img, O_RDONLY);
    guint64 l1, l1e;
    g_assert_cmpint(pread(fd, &l1, 8, 40), ==, 8);
    g_assert_cmpint(pread(fd, &l1e, 8, (off_t)GUINT64_FROM_BE(l1)), ==, 8);
    close(fd);
    uint64_t l2 = GUINT64_FROM_BE(l1e) & 0x00fffffffffffe00ULL;
    patch_be64(img, l2, 0x8000000000000000ULL | (1ULL << 45));
    g_autoptr(GError) err = NULL;
    VmmQcow2 *q = open_q(img, false, &fd, &err);
    g_assert_no_error(err);
    guint8 buf[4096];
    g_test_expect_message(NULL, G_LOG_LEVEL_WARNING, "*past the end of the file*");
    g_assert_cmpint(vmm_qcow2_read(q, buf, sizeof(buf), 0), ==, -EIO);
    g_assert_cmpint(vmm_qcow2_write(q, buf, sizeof(buf), 0), ==, -EIO);
    g_test_assert_expected_messages();
    g_assert_cmpint(vmm_qcow2_read(q, buf, sizeof(buf), 65536), ==, 0);
    g_assert_cmpuint(buf[0], ==, 7);
    vmm_qcow2_close(q);
    close(fd);
}

/* Readers in parallel with a writer (allocating, discarding, zeroing in
 * the second half of the disk): the readers of the first half always see
 * the image's bytes, the writer's data reads back. */
typedef struct {
    VmmQcow2 *q;
    const guint8 *want;
    guint32 seed;
    int failures;
} Reader;

static gpointer reader_thread(gpointer p)
{
    Reader *rd = p;
    g_autoptr(GRand) r = g_rand_new_with_seed(rd->seed);
    guint8 *buf = g_malloc(65536);
    for (int i = 0; i < 3000; i++) {
        uint64_t n = 512 * (uint64_t)g_rand_int_range(r, 1, 128);
        uint64_t off = 512 * (uint64_t)g_rand_int_range(r, 0, (gint32)((IMG_SIZE / 2 - n) / 512));
        if (vmm_qcow2_read(rd->q, buf, n, off) != 0 || memcmp(buf, rd->want + off, n) != 0)
            rd->failures++;
    }
    g_free(buf);
    return NULL;
}

static void test_parallel(void)
{
    if (!have_qemu_img())
        return;
    g_autofree char *src = tpath("p-src.raw"), *img = tpath("p.qcow2");
    make_source(src, 9);
    g_unlink(img);
    g_assert_cmpint(sh("qemu-img convert -f raw -O qcow2 -o cluster_size=4096 -c '%s' '%s'",
                       src, img), ==, 0);
    gsize len;
    g_autofree guint8 *want = read_file_all(src, &len);
    g_autoptr(GError) err = NULL;
    int fd;
    VmmQcow2 *q = open_q(img, false, &fd, &err);
    g_assert_no_error(err);
    Reader rd[3];
    GThread *t[3];
    for (unsigned i = 0; i < 3; i++) {
        rd[i] = (Reader){ q, want, 100 + i, 0 };
        t[i] = g_thread_new("reader", reader_thread, &rd[i]);
    }
    g_autoptr(GRand) r = g_rand_new_with_seed(7);
    guint8 *buf = g_malloc(65536), *back = g_malloc(65536);
    for (int i = 0; i < 400; i++) {
        uint64_t n = 512 * (uint64_t)g_rand_int_range(r, 1, 128);
        uint64_t off = IMG_SIZE / 2 + 512 * (uint64_t)g_rand_int_range(r, 0, (gint32)((IMG_SIZE / 2 - n) / 512));
        memset(buf, i, n);
        g_assert_cmpint(vmm_qcow2_write(q, buf, n, off), ==, 0);
        g_assert_cmpint(vmm_qcow2_read(q, back, n, off), ==, 0);
        g_assert_cmpint(memcmp(buf, back, n), ==, 0);
        if (i % 7 == 0)
            g_assert_cmpint(vmm_qcow2_discard(q, n, off), ==, 0);
        if (i % 11 == 0)
            g_assert_cmpint(vmm_qcow2_write_zeroes(q, n, off, true), ==, 0);
    }
    for (unsigned i = 0; i < 3; i++) {
        g_thread_join(t[i]);
        g_assert_cmpint(rd[i].failures, ==, 0);
    }
    g_free(buf);
    g_free(back);
    vmm_qcow2_close(q);
    close(fd);
    g_assert_cmpint(sh("qemu-img check -q '%s'", img), ==, 0);
}

/* Allocating writes share their ordering flushes: threads writing 4 KiB
 * into distinct unallocated clusters of a fresh image, at the same time
 * (as the block layer's pool threads do at a queue depth of 32), need far
 * fewer fdatasyncs than allocations (one per request without batching);
 * the data reads back and qemu-img check finds no leak once closed. With
 * cache='unsafe' there is no flush at all. */
typedef struct {
    VmmQcow2 *q;
    unsigned first, n;
} Allocator;

#define BATCH_CLUSTERS 256u

static gpointer alloc_thread(gpointer p)
{
    Allocator *a = p;
    guint8 buf[4096];
    for (unsigned i = a->first; i < a->first + a->n; i++) {
        memset(buf, (int)(i * 7 + 1), sizeof(buf));
        /* spread over the disk: clusters of no common L2 table order */
        uint64_t gc = (i * 97u) % BATCH_CLUSTERS;
        g_assert_cmpint(vmm_qcow2_write(a->q, buf, sizeof(buf), gc * 65536 + 8192), ==, 0);
    }
    return NULL;
}

static void test_batched_flushes(void)
{
    if (!have_qemu_img())
        return;
    g_autofree char *img = tpath("f.qcow2");
    g_unlink(img);
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 -o cluster_size=65536 '%s' %u",
                       img, BATCH_CLUSTERS * 65536), ==, 0);
    g_autoptr(GError) err = NULL;
    int fd;
    bool was_unsafe = unsafe_meta;
    unsafe_meta = false;       /* the flushes are what is counted */
    VmmQcow2 *q = open_q(img, false, &fd, &err);
    unsafe_meta = was_unsafe;
    g_assert_no_error(err);
    Allocator a[8];
    GThread *t[8];
    for (unsigned i = 0; i < 8; i++) {
        a[i] = (Allocator){ q, i * (BATCH_CLUSTERS / 8), BATCH_CLUSTERS / 8 };
        t[i] = g_thread_new("allocator", alloc_thread, &a[i]);
    }
    for (unsigned i = 0; i < 8; i++)
        g_thread_join(t[i]);
    uint64_t flushes = vmm_qcow2_metadata_flushes(q);
    g_test_message("%u allocating writes, %" G_GUINT64_FORMAT " ordering flushes",
                   BATCH_CLUSTERS, flushes);
    g_assert_cmpuint(flushes, >, 0);
    g_assert_cmpuint(flushes, <=, BATCH_CLUSTERS / 16);
    guint8 buf[4096];
    for (unsigned i = 0; i < BATCH_CLUSTERS; i++) {
        uint64_t gc = (i * 97u) % BATCH_CLUSTERS;
        g_assert_cmpint(vmm_qcow2_read(q, buf, sizeof(buf), gc * 65536 + 8192), ==, 0);
        g_assert_cmpuint(buf[0], ==, (guint8)(i * 7 + 1));
        g_assert_cmpuint(buf[4095], ==, (guint8)(i * 7 + 1));
    }
    /* in use: the data, header, refcount table and block, L1 and L2 tables
     * (not the clusters reserved but not handed out) */
    g_assert_cmpuint(vmm_qcow2_allocation(q), ==, (uint64_t)(BATCH_CLUSTERS + 5) * 65536);
    vmm_qcow2_close(q);
    close(fd);
    /* Close gave the reserved rest back: counted again from the refcounts
     * (qemu-img check does not see leaks past the end of the file). */
    q = open_q(img, true, &fd, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(vmm_qcow2_allocation(q), ==, (uint64_t)(BATCH_CLUSTERS + 5) * 65536);
    vmm_qcow2_close(q);
    close(fd);
    g_assert_cmpint(sh("qemu-img check -q '%s'", img), ==, 0);
    assert_reads_as_qemu(img);

    /* cache='unsafe': no flushes at all, as QEMU */
    g_unlink(img);
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 -o cluster_size=65536 '%s' %u",
                       img, BATCH_CLUSTERS * 65536), ==, 0);
    unsafe_meta = true;
    q = open_q(img, false, &fd, &err);
    unsafe_meta = was_unsafe;
    g_assert_no_error(err);
    Allocator one = { q, 0, BATCH_CLUSTERS };
    alloc_thread(&one);
    g_assert_cmpuint(vmm_qcow2_metadata_flushes(q), ==, 0);
    vmm_qcow2_close(q);
    close(fd);
    g_assert_cmpint(sh("qemu-img check -q '%s'", img), ==, 0);
}

/* vmm_qcow2_map, which lets block.c send reads and in-place writes straight
 * to the image file: the host range it gives holds the guest's data, it
 * sends everything else (tables not cached, backing data, compressed,
 * shared or scattered clusters) the synchronous way, and a cluster it
 * mapped is not freed until the I/O is done. */
typedef struct {
    VmmQcow2 *q;
    uint64_t off;
    gint done;
} Discarder;

static gpointer discard_thread(gpointer p)
{
    Discarder *d = p;
    g_assert_cmpint(vmm_qcow2_discard(d->q, 65536, d->off), ==, 0);
    g_atomic_int_set(&d->done, 1);
    return NULL;
}

static void test_map(void)
{
    if (!have_qemu_img())
        return;
    g_autofree char *img = tpath("m.qcow2"), *base = tpath("m-base.raw");
    g_autofree char *ovl = tpath("m-ovl.qcow2"), *cmp = tpath("m-c.qcow2");
    g_unlink(img);
    g_assert_cmpint(sh("qemu-img create -q -f qcow2 -o cluster_size=65536 '%s' 8M", img), ==, 0);
    g_autoptr(GError) err = NULL;
    int fd;
    VmmQcow2 *q = open_q(img, false, &fd, &err);
    g_assert_no_error(err);
    uint64_t host = 0;
    /* nothing allocated, no backing file: zeroes, no I/O */
    g_assert_cmpint(vmm_qcow2_map(q, 4096, 4096, false, &host), ==, VMM_QCOW2_MAP_ZERO);
    g_assert_cmpint(vmm_qcow2_map(q, 4096, 4096, true, &host), ==, VMM_QCOW2_MAP_SLOW);
    /* cluster 3, then 2: allocated in that order, so not contiguous */
    guint8 buf[8192], back[8192];
    memset(buf, 0x5a, sizeof(buf));
    g_assert_cmpint(vmm_qcow2_write(q, buf, sizeof(buf), 3 * 65536), ==, 0);
    g_assert_cmpint(vmm_qcow2_write(q, buf, sizeof(buf), 2 * 65536), ==, 0);
    /* new clusters past the end of the file: only the data was written,
     * and the rest of the cluster (past the end now) reads as zeroes */
    struct stat sb;
    g_assert_cmpint(fstat(fd, &sb), ==, 0);
    g_assert_cmpint(sb.st_size % 65536, ==, sizeof(buf));
    guint8 *tail = g_malloc(65536);
    g_assert_cmpint(vmm_qcow2_read(q, tail, 65536, 2 * 65536), ==, 0);
    g_assert_cmpint(memcmp(tail, buf, sizeof(buf)), ==, 0);
    for (size_t i = sizeof(buf); i < 65536; i++)
        g_assert_cmpint(tail[i], ==, 0);
    g_free(tail);
    g_assert_cmpint(vmm_qcow2_map(q, 3 * 65536 + 4096, 4096, false, &host), ==, VMM_QCOW2_MAP_HOST);
    g_assert_cmpint(pread(fd, back, 4096, (off_t)host), ==, 4096);
    g_assert_cmpint(memcmp(back, buf, 4096), ==, 0);
    vmm_qcow2_map_done(q);
    g_assert_cmpint(vmm_qcow2_map(q, 3 * 65536, 8192, true, &host), ==, VMM_QCOW2_MAP_HOST);
    memset(buf, 0x6b, sizeof(buf));
    g_assert_cmpint(pwrite(fd, buf, sizeof(buf), (off_t)host), ==, (ssize_t)sizeof(buf));
    vmm_qcow2_map_done(q);
    g_assert_cmpint(vmm_qcow2_read(q, back, sizeof(back), 3 * 65536), ==, 0);
    g_assert_cmpint(memcmp(back, buf, sizeof(buf)), ==, 0);
    g_assert_cmpint(vmm_qcow2_map(q, 3 * 65536 - 4096, 8192, false, &host), ==, VMM_QCOW2_MAP_SLOW);
    /* half allocated, half zeroes */
    g_assert_cmpint(vmm_qcow2_map(q, 4 * 65536 - 4096, 8192, false, &host), ==, VMM_QCOW2_MAP_SLOW);
    /* past the end */
    g_assert_cmpint(vmm_qcow2_map(q, 8 << 20, 512, false, &host), ==, VMM_QCOW2_MAP_SLOW);

    /* a discard of a mapped cluster waits for map_done */
    g_assert_cmpint(vmm_qcow2_map(q, 3 * 65536, 4096, false, &host), ==, VMM_QCOW2_MAP_HOST);
    Discarder d = { q, 3 * 65536, 0 };
    GThread *t = g_thread_new("discard", discard_thread, &d);
    g_usleep(100000);
    g_assert_cmpint(g_atomic_int_get(&d.done), ==, 0);
    /* the writer holds the image: mapping more must not wait for it */
    g_assert_cmpint(vmm_qcow2_map(q, 2 * 65536, 4096, false, &host), ==, VMM_QCOW2_MAP_SLOW);
    vmm_qcow2_map_done(q);
    g_thread_join(t);
    g_assert_cmpint(g_atomic_int_get(&d.done), ==, 1);
    g_assert_cmpint(vmm_qcow2_map(q, 3 * 65536, 4096, false, &host), ==, VMM_QCOW2_MAP_ZERO);
    vmm_qcow2_close(q);
    close(fd);
    g_assert_cmpint(sh("qemu-img check -q '%s'", img), ==, 0);

    /* backing data and compressed clusters are the driver's */
    g_autofree char *src = tpath("m-src.raw");
    make_source(src, 11);
    g_unlink(ovl);
    g_unlink(cmp);
    g_assert_cmpint(sh("cp '%s' '%s' && qemu-img create -q -f qcow2 -b '%s' -F raw '%s'",
                       src, base, base, ovl), ==, 0);
    g_assert_cmpint(sh("qemu-img convert -c -f raw -O qcow2 '%s' '%s'", src, cmp), ==, 0);
    const char *imgs[] = { ovl, cmp };
    for (unsigned i = 0; i < G_N_ELEMENTS(imgs); i++) {
        q = open_q(imgs[i], true, &fd, &err);
        g_assert_no_error(err);
        guint8 c;
        g_assert_cmpint(vmm_qcow2_read(q, &c, 1, 0), ==, 0);   /* caches the table */
        for (uint64_t off = 0; off < 1 << 20; off += 65536)
            g_assert_cmpint(vmm_qcow2_map(q, off, 4096, false, &host), !=, VMM_QCOW2_MAP_HOST);
        g_assert_cmpint(vmm_qcow2_map(q, 0, 4096, true, &host), ==, VMM_QCOW2_MAP_SLOW);
        vmm_qcow2_close(q);
        close(fd);
    }
}

/* Through the block layer: every io mode and cache mode serves a qcow2 disk. */
static void done_cb(VmmBlockReq *req, int ret)
{
    *(int *)req->opaque = ret;
}

static int block_rw(VmmBlockDev *dev, VmmBlockOp op, void *buf, uint64_t len, uint64_t off)
{
    VmmBlockQueue *q = vmm_block_queue(dev, 0);
    struct iovec iov = { buf, len };
    int ret = 1;
    VmmBlockReq req = { .op = op, .offset = off, .len = len, .iov = &iov, .iovcnt = buf ? 1 : 0,
                        .complete = done_cb, .opaque = &ret };
    vmm_block_submit(q, &req);
    vmm_block_queue_drain(q);
    return ret;
}

static void test_block_layer(void)
{
    if (!have_qemu_img())
        return;
    g_autofree char *src = tpath("b-src.raw"), *img = tpath("b.qcow2");
    make_source(src, 5);
    g_unlink(img);
    g_assert_cmpint(sh("qemu-img convert -f raw -O qcow2 '%s' '%s'", src, img), ==, 0);
    gsize len;
    g_autofree guint8 *want = read_file_all(src, &len);
    static const VmmCacheMode caches[] = { VMM_CACHE_WRITEBACK, VMM_CACHE_NONE,
                                           VMM_CACHE_DIRECTSYNC, VMM_CACHE_UNSAFE,
                                           VMM_CACHE_WRITETHROUGH };
    static const VmmIoMode ios[] = { VMM_IO_THREADS, VMM_IO_NATIVE, VMM_IO_URING };
    void *buf = NULL;
    g_assert_cmpint(posix_memalign(&buf, 4096, 1 << 20), ==, 0);
    for (unsigned c = 0; c < G_N_ELEMENTS(caches); c++) {
        for (unsigned i = 0; i < G_N_ELEMENTS(ios); i++) {
            bool direct = caches[c] == VMM_CACHE_NONE || caches[c] == VMM_CACHE_DIRECTSYNC;
            if (ios[i] == VMM_IO_NATIVE && !direct)
                continue;
            g_autoptr(GError) err = NULL;
            VmmBlockDev *dev = vmm_block_open_image(img, VMM_IMAGE_FORMAT_QCOW2, NULL, false,
                                                    false, caches[c], ios[i],
                                                    VMM_DISCARD_UNMAP, 1, &err);
            if (!dev && direct && err && strstr(err->message, "direct I/O")) {
                g_test_message("no O_DIRECT here: %s", err->message);
                continue;
            }
            g_assert_no_error(err);
            g_assert_cmpuint(vmm_block_size(dev), ==, len);
            for (uint64_t off = 0; off < len; off += 1 << 20) {
                uint64_t n = MIN((uint64_t)1 << 20, len - off);
                g_assert_cmpint(block_rw(dev, VMM_BLOCK_READ, buf, n, off), ==, (int)n);
                g_assert_cmpint(memcmp(buf, want + off, n), ==, 0);
            }
            /* a write at an odd 512-byte offset, read back */
            memset(buf, 0x10 + c * 3 + i, 5120);
            memset(want + 70144, 0x10 + c * 3 + i, 5120);
            g_assert_cmpint(block_rw(dev, VMM_BLOCK_WRITE, buf, 5120, 70144), ==, 5120);
            g_assert_cmpint(block_rw(dev, VMM_BLOCK_FLUSH, NULL, 0, 0), ==, 0);
            g_assert_cmpint(block_rw(dev, VMM_BLOCK_READ, buf, 8192, 69632), ==, 8192);
            g_assert_cmpint(memcmp(buf, want + 69632, 8192), ==, 0);
            VmmBlockStats st;
            vmm_block_get_stats(dev, &st);
            struct stat sb;
            g_assert_cmpint(stat(img, &sb), ==, 0);
            g_assert_cmpuint(st.capacity, ==, len);
            g_assert_cmpuint(st.physical, ==, (uint64_t)sb.st_size);
            /* every cluster of the file but its tail is in use */
            g_assert_cmpuint(st.allocation, >, (uint64_t)sb.st_size / 2);
            g_assert_cmpuint(st.allocation, <=, (uint64_t)sb.st_size + 65535);
            vmm_block_close(dev);
            g_assert_cmpint(sh("qemu-img check -q '%s'", img), ==, 0);
        }
    }
    free(buf);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    const char *base = g_getenv("VMM_TEST_TMPDIR");
    g_autofree char *cwd = g_get_current_dir();
    g_autofree char *tmpl = g_build_filename(base ? base : cwd, "test-qcow2-XXXXXX", NULL);
    test_dir = g_mkdtemp(tmpl);
    g_assert_nonnull(test_dir);
    test_dir = g_strdup(test_dir);

    g_test_add_func("/qcow2/read-matrix", test_read_matrix);
    g_test_add_func("/qcow2/backing-chain", test_backing_chain);
    g_test_add_func("/qcow2/write-matrix", test_write_matrix);
    g_test_add_func("/qcow2/grow-refcounts", test_grow_refcounts);
    g_test_add_func("/qcow2/bad-images", test_bad_images);
    g_test_add_func("/qcow2/dirty", test_dirty);
    g_test_add_func("/qcow2/runtime-corruption", test_runtime_corruption);
    g_test_add_func("/qcow2/parallel", test_parallel);
    g_test_add_func("/qcow2/block-layer", test_block_layer);
    g_test_add_func("/qcow2/map", test_map);
    g_test_add_func("/qcow2/batched-flushes", test_batched_flushes);
    int rc = g_test_run();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", test_dir);
    if (system(cmd) != 0)
        g_printerr("could not remove %s\n", test_dir);
    g_free(test_dir);
    return rc;
}
