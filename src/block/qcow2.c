/* qcow2 driver: see qcow2.h for the contract and the write ordering.
 *
 * Layout facts (docs/interop/qcow2.txt): big-endian everywhere; the virtual
 * disk maps through an L1 table to one-cluster L2 tables whose entries name
 * host clusters; every host cluster's use count lives in refcount blocks
 * found through the refcount table. Metadata entries are checked when used:
 * a bad one fails that request with -EIO and a message, never a crash or a
 * write outside the file. */
#include "block/qcow2.h"
#include "block/block.h"
#include "block/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define QCOW2_MAGIC 0x514649fbu              /* "QFI\xfb" */
#define MIN_CLUSTER_BITS 9
#define MAX_CLUSTER_BITS 21                  /* QEMU's limit: 2 MiB */
#define MAX_L1_BYTES (32u << 20)             /* QEMU's QCOW_MAX_L1_SIZE */
#define MAX_REFTABLE_BYTES (8u << 20)        /* QEMU's QCOW_MAX_REFTABLE_SIZE */
#define L2_CACHE_MAX_BYTES (32u << 20)       /* QEMU's DEFAULT_L2_CACHE_MAX_SIZE */
#define MAX_BACKING_DEPTH 256
#define BACKING_NAME_MAX 1023
/* Clusters reserved at a time (see fill_pool): one flush per this many
 * allocations, and at most this much leaked by a crash. */
#define POOL_MAX_CLUSTERS 64u
#define POOL_MAX_BYTES (4u << 20)

#define INCOMPAT_DIRTY (1ULL << 0)
#define INCOMPAT_CORRUPT (1ULL << 1)
#define INCOMPAT_DATA_FILE (1ULL << 2)
#define INCOMPAT_COMPRESSION (1ULL << 3)
#define INCOMPAT_EXTL2 (1ULL << 4)
#define INCOMPAT_KNOWN 0x1fULL

#define EXT_END 0x00000000u
#define EXT_BACKING_FORMAT 0xe2792acau
#define EXT_FEATURE_TABLE 0x6803f857u
#define EXT_CRYPTO 0x0537be77u
#define EXT_DATA_FILE 0x44415441u

#define OFFSET_MASK 0x00fffffffffffe00ULL    /* bits 9-55: L1, L2 entries */
#define L1E_RESERVED 0x7f000000000001ffULL
#define L2E_RESERVED 0x3f000000000001feULL   /* standard descriptor */
#define REFT_RESERVED 0x1ffULL
#define OFLAG_COPIED (1ULL << 63)
#define OFLAG_COMPRESSED (1ULL << 62)
#define OFLAG_ZERO 1ULL

typedef struct {
    uint64_t off;              /* host offset of the table; 0 = free slot */
    uint64_t used;             /* LRU tick */
    uint8_t *data;             /* one cluster, as on disk (big-endian) */
} L2Slot;

struct VmmQcow2 {
    char *path;
    int fd;
    bool own_fd;               /* backing files: opened here */
    bool readonly, direct, flush_meta, discard_unmap;
    size_t align;
    GMutex lock;               /* caches and tables */
    GRWLock rw;                /* readers share, mapping changes exclude */

    uint32_t version, cluster_bits, refcount_order, header_length;
    uint64_t cluster_size, size, file_size;
    uint64_t incompat, compat, autoclear;
    int compression;           /* 0 zlib, 1 zstd */
    bool ext_l2;
    unsigned l2_entry_bytes;   /* 8, or 16 with extended L2 entries */
    uint64_t l2_entries;       /* per table */
    uint32_t nb_snapshots;

    uint64_t l1_off;
    uint32_t l1_size;
    uint64_t *l1;              /* host order */
    uint64_t rt_off;
    uint64_t rt_entries;
    uint64_t *rt;              /* host order */
    uint64_t rb_entries;       /* refcounts per block */

    L2Slot *l2c;
    unsigned l2c_n;
    uint64_t l2c_tick;
    GHashTable *l2c_index;     /* table offset -> slot index + 1 */

    uint8_t *rb;               /* one cached refcount block (write-through) */
    uint64_t rb_off;           /* 0: none cached */

    uint8_t *cbuf;             /* compressed input, two clusters */
    uint8_t *dbuf;             /* decompressed cluster */
    uint64_t dbuf_for;         /* compressed descriptor dbuf holds; 0 none */
    uint8_t *scratch;          /* one cluster: copy-on-write assembly */
    z_stream zs;
    bool zs_init;
    ZSTD_DCtx *zd;

    unsigned mapped_io;        /* vmm_qcow2_map()ed I/Os in flight (atomic) */
    uint64_t free_hint;        /* no free cluster below this index */
    uint64_t pool_next, pool_end;  /* reserved clusters [next, end): refcount 1
                                    * on stable storage, not referenced yet */
    uint64_t meta_flushes;     /* ordering flushes done (atomic) */
    uint64_t allocated;        /* clusters with a non-zero refcount (atomic) */
    bool warned;

    VmmQcow2 *backing;         /* qcow2 backing, or NULL */
    int backing_fd;            /* raw backing, or -1 */
    uint64_t backing_size;
    char *backing_path;
};

static inline uint32_t be32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return GUINT32_FROM_BE(v); }
static inline uint64_t be64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return GUINT64_FROM_BE(v); }
static inline void put_be64(uint8_t *p, uint64_t v) { v = GUINT64_TO_BE(v); memcpy(p, &v, 8); }

static void *alloc_aligned(size_t len)
{
    void *p = NULL;
    if (posix_memalign(&p, 4096, MAX(len, (size_t)512)) != 0)
        return NULL;
    memset(p, 0, MAX(len, (size_t)512));
    return p;
}

/* A corrupt entry met while serving a request: one message per image, then
 * the request fails. */
G_GNUC_PRINTF(2, 3)
static int corrupt(VmmQcow2 *q, const char *fmt, ...)
{
    if (!q->warned) {
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_warning("qcow2 image '%s' is corrupt: %s; failing the request with an I/O error",
                  q->path, msg);
        q->warned = true;
    }
    return -EIO;
}

/* ------------------------------------------------------------------------ */
/* file I/O, honouring O_DIRECT alignment                                   */

static int raw_io(int fd, void *buf, size_t len, uint64_t off, bool write)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = write ? pwrite(fd, (char *)buf + done, len - done, (off_t)(off + done))
                          : pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0) {
            if (write)
                return -ENOSPC;
            memset((char *)buf + done, 0, len - done);   /* past the end: zeroes */
            break;
        }
        done += (size_t)r;
    }
    return 0;
}

static int file_io(VmmQcow2 *q, void *buf, size_t len, uint64_t off, bool write)
{
    int ret;
    uint64_t a = q->align;
    if (!q->direct || (((uintptr_t)buf | off | len) & (a - 1)) == 0) {
        ret = raw_io(q->fd, buf, len, off, write);
    } else {
        /* Unaligned under O_DIRECT: through an aligned copy of the covering
         * range (read-modify-write for writes; the image mutex is held). */
        uint64_t start = off & ~(a - 1), end = (off + len + a - 1) & ~(a - 1);
        uint8_t *tmp = NULL;
        if (posix_memalign((void **)&tmp, MAX(a, (uint64_t)4096), end - start) != 0)
            return -ENOMEM;
        ret = raw_io(q->fd, tmp, end - start, start, false);
        if (ret == 0) {
            if (write) {
                memcpy(tmp + (off - start), buf, len);
                ret = raw_io(q->fd, tmp, end - start, start, true);
            } else {
                memcpy(buf, tmp + (off - start), len);
            }
        }
        free(tmp);
    }
    if (ret == 0 && write && off + len > q->file_size)
        q->file_size = off + len;
    return ret;
}

static int meta_flush(VmmQcow2 *q)
{
    if (!q->flush_meta)
        return 0;
    __atomic_add_fetch(&q->meta_flushes, 1, __ATOMIC_RELAXED);
    return fdatasync(q->fd) < 0 ? -errno : 0;
}

/* The unit metadata is written in: 512 bytes, or the O_DIRECT unit. */
static size_t table_unit(VmmQcow2 *q)
{
    size_t unit = q->direct ? MAX(q->align, (size_t)512) : 512;
    return MIN(unit, (size_t)q->cluster_size);
}

/* Writes the sector of a cached table that holds byte pos, taken from the
 * cached copy (whole and up to date), so that O_DIRECT needs no
 * read-modify-write of the file. */
static int write_table_sector(VmmQcow2 *q, const uint8_t *table, uint64_t table_off, size_t pos)
{
    size_t unit = table_unit(q);
    size_t sec = pos & ~(unit - 1);
    return file_io(q, (void *)(table + sec), MIN(unit, (size_t)q->cluster_size - sec),
                   table_off + sec, true);
}

/* ------------------------------------------------------------------------ */
/* refcounts                                                                */

static uint64_t rb_get(VmmQcow2 *q, const uint8_t *rb, uint64_t i)
{
    unsigned order = q->refcount_order;
    if (order < 3) {
        unsigned bits = 1u << order, per = 8 / bits;
        return (rb[i / per] >> ((i % per) * bits)) & ((1u << bits) - 1);
    }
    const uint8_t *p = rb + i * (1u << (order - 3));
    switch (order) {
    case 3: return p[0];
    case 4: return ((uint64_t)p[0] << 8) | p[1];
    case 5: return be32(p);
    default: return be64(p);
    }
}

/* The byte position of entry i, for writing back its sector. */
static size_t rb_set(VmmQcow2 *q, uint8_t *rb, uint64_t i, uint64_t v)
{
    unsigned order = q->refcount_order;
    if (order < 3) {
        unsigned bits = 1u << order, per = 8 / bits, sh = (i % per) * bits;
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << sh);
        rb[i / per] = (uint8_t)((rb[i / per] & ~mask) | ((v << sh) & mask));
        return i / per;
    }
    size_t w = 1u << (order - 3), pos = i * w;
    uint8_t *p = rb + pos;
    switch (order) {
    case 3: p[0] = (uint8_t)v; break;
    case 4: p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; break;
    case 5: { uint32_t x = GUINT32_TO_BE((uint32_t)v); memcpy(p, &x, 4); break; }
    default: put_be64(p, v); break;
    }
    return pos;
}

static int check_meta_offset(VmmQcow2 *q, uint64_t off, const char *what)
{
    if (off & (q->cluster_size - 1))
        return corrupt(q, "%s at 0x%" G_GINT64_MODIFIER "x is not cluster-aligned", what, off);
    if (off < q->cluster_size)
        return corrupt(q, "%s at 0x%" G_GINT64_MODIFIER "x overlaps the header", what, off);
    if (off + q->cluster_size > q->file_size)
        return corrupt(q, "%s at 0x%" G_GINT64_MODIFIER "x is past the end of the file", what, off);
    return 0;
}

static int load_rb(VmmQcow2 *q, uint64_t rb_off)
{
    if (q->rb_off == rb_off)
        return 0;
    int r = check_meta_offset(q, rb_off, "refcount block");
    if (r < 0)
        return r;
    q->rb_off = 0;
    r = file_io(q, q->rb, q->cluster_size, rb_off, false);
    if (r < 0)
        return r;
    q->rb_off = rb_off;
    return 0;
}

static int get_refcount(VmmQcow2 *q, uint64_t idx, uint64_t *rc)
{
    uint64_t ti = idx / q->rb_entries;
    *rc = 0;
    if (ti >= q->rt_entries || q->rt[ti] == 0)
        return 0;
    int r = load_rb(q, q->rt[ti] & ~REFT_RESERVED);
    if (r < 0)
        return r;
    *rc = rb_get(q, q->rb, idx % q->rb_entries);
    return 0;
}

/* Sets the refcounts of clusters [idx, end), all in one refcount block, to
 * v, writing each sector of the block they touch once (a reserved run's
 * share one sector). */
static int set_refcounts(VmmQcow2 *q, uint64_t idx, uint64_t end, uint64_t v)
{
    uint64_t ti = idx / q->rb_entries;
    if (ti >= q->rt_entries || q->rt[ti] == 0)
        return corrupt(q, "no refcount block for cluster 0x%" G_GINT64_MODIFIER "x",
                       idx << q->cluster_bits);
    int r = load_rb(q, q->rt[ti] & ~REFT_RESERVED);
    if (r < 0)
        return r;
    size_t first = 0, last = 0;
    for (uint64_t i = idx; i < end; i++) {
        last = rb_set(q, q->rb, i % q->rb_entries, v);
        if (i == idx)
            first = last;
    }
    size_t unit = table_unit(q);
    for (size_t sec = first & ~(unit - 1); r >= 0 && sec <= last; sec += unit)
        r = write_table_sector(q, q->rb, q->rb_off, sec);
    if (r < 0)
        q->rb_off = 0;   /* the cached copy no longer matches the disk */
    return r;
}

/* Sets the refcount of an index whose refcount block exists. */
static int set_refcount(VmmQcow2 *q, uint64_t idx, uint64_t v)
{
    return set_refcounts(q, idx, idx + 1, v);
}

/* A new refcount block for table index ti, placed in the free cluster idx
 * it covers (so it counts itself): written and flushed before the table
 * entry naming it, which is flushed too. */
static int new_refcount_block(VmmQcow2 *q, uint64_t ti, uint64_t idx)
{
    uint64_t off = idx << q->cluster_bits;
    q->rb_off = 0;
    memset(q->rb, 0, q->cluster_size);
    rb_set(q, q->rb, idx % q->rb_entries, 1);
    int r = file_io(q, q->rb, q->cluster_size, off, true);
    if (r == 0)
        r = meta_flush(q);
    if (r < 0)
        return r;
    uint8_t sec[512];
    uint64_t pos = ti * 8, sec_off = q->rt_off + (pos & ~511ULL);
    q->rt[ti] = off;
    for (unsigned i = 0; i < 64; i++) {
        uint64_t e = (pos & ~511ULL) / 8 + i;
        put_be64(sec + i * 8, e < q->rt_entries ? q->rt[e] : 0);
    }
    r = file_io(q, sec, 512, sec_off, true);
    if (r == 0)
        r = meta_flush(q);
    if (r < 0) {
        q->rt[ti] = 0;
        return r;
    }
    q->rb_off = off;
    __atomic_add_fetch(&q->allocated, 1, __ATOMIC_RELAXED);
    return 0;
}

static int unref_range(VmmQcow2 *q, uint64_t off, uint64_t len, bool punch);

/* The refcount table is full: a bigger one goes past the end of the file,
 * after the refcount blocks that count it (and themselves). Blocks and
 * table are written and flushed, then the header switches to the new
 * table in one sector write (flushed), then the old table is freed. */
static int grow_refcount_table(VmmQcow2 *q, uint64_t need_ti)
{
    uint64_t rbe = q->rb_entries, cs = q->cluster_size;
    uint64_t end = (q->file_size + cs - 1) >> q->cluster_bits;
    uint64_t entries = q->rt_entries, nb = 0, tc = 0, first = 0, last = 0;
    /* start past the end of the file and anything the allocator handed out */
    uint64_t e = MAX(MAX(end, q->free_hint), q->pool_end);
    for (int round = 0; round < 64; round++) {
        while (entries <= need_ti || entries <= (e + nb + tc) / rbe)
            entries *= 2;
        tc = (entries * 8 + cs - 1) / cs;
        first = e / rbe;
        last = (e + nb + tc - 1) / rbe;
        uint64_t missing = 0;
        for (uint64_t ti = first; ti <= last; ti++)
            missing += ti >= q->rt_entries || !q->rt[ti];
        if (missing == nb && entries > last)
            break;
        nb = missing;
    }
    if (((uint64_t)tc << q->cluster_bits) > MAX_REFTABLE_BYTES || ((e + nb + tc) >> (56 - q->cluster_bits)))
        return -ENOSPC;
    g_autofree uint64_t *rt = g_new0(uint64_t, tc * cs / 8);
    memcpy(rt, q->rt, q->rt_entries * 8);
    /* new blocks, in the order of the table indexes they serve */
    uint64_t next_block = e;
    int r = 0;
    for (uint64_t ti = first; ti <= last && r == 0; ti++) {
        if (rt[ti])
            continue;
        rt[ti] = next_block++ << q->cluster_bits;
    }
    uint8_t *blk = alloc_aligned(cs);
    if (!blk)
        return -ENOMEM;
    q->rb_off = 0;
    for (uint64_t ti = first; ti <= last && r == 0; ti++) {
        bool is_new = ti >= q->rt_entries || !q->rt[ti];
        for (uint64_t idx = MAX(e, ti * rbe); idx < MIN(e + nb + tc, (ti + 1) * rbe); idx++) {
            if (is_new) {
                rb_set(q, blk, idx % rbe, 1);
            } else if ((r = set_refcount(q, idx, 1)) < 0) {
                break;
            }
        }
        if (is_new && r == 0) {
            r = file_io(q, blk, cs, rt[ti], true);
            memset(blk, 0, cs);
        }
    }
    free(blk);
    uint8_t *tbuf = r == 0 ? alloc_aligned(tc * cs) : NULL;
    if (r == 0 && !tbuf)
        r = -ENOMEM;
    if (r == 0) {
        for (uint64_t i = 0; i < tc * cs / 8; i++)
            put_be64(tbuf + i * 8, rt[i]);
        r = file_io(q, tbuf, tc * cs, (e + nb) << q->cluster_bits, true);
        free(tbuf);
    }
    if (r == 0)
        r = meta_flush(q);
    if (r < 0)
        return r;
    uint8_t hdr[12];
    put_be64(hdr, (e + nb) << q->cluster_bits);
    uint32_t c = GUINT32_TO_BE((uint32_t)tc);
    memcpy(hdr + 8, &c, 4);
    if ((r = file_io(q, hdr, 12, 48, true)) < 0 || (r = meta_flush(q)) < 0)
        return r;
    uint64_t old_off = q->rt_off, old_len = q->rt_entries * 8;
    g_free(q->rt);
    q->rt = g_steal_pointer(&rt);
    q->rt_off = (e + nb) << q->cluster_bits;
    q->rt_entries = tc * cs / 8;
    __atomic_add_fetch(&q->allocated, nb + tc, __ATOMIC_RELAXED);
    return unref_range(q, old_off, old_len, false);
}

/* Reserves the free clusters from idx on whose refcounts share idx's
 * sector (at most POOL_MAX_*): their refcounts go to 1 in one sector write
 * and one flush, and alloc_cluster hands them out with no refcount write or
 * flush of their own. This is what batches the ordering flush of
 * allocating writes, the way QEMU's refcount cache does: one flush for many
 * allocations. A crash leaks the clusters still reserved; a close gives
 * them back (release_pool). */
static int fill_pool(VmmQcow2 *q, uint64_t idx)
{
    uint64_t rbe = q->rb_entries, ti = idx / rbe;
    int r = load_rb(q, q->rt[ti] & ~REFT_RESERVED);
    if (r < 0)
        return r;
    uint64_t max = MAX(1u, MIN(POOL_MAX_CLUSTERS, POOL_MAX_BYTES >> q->cluster_bits));
    uint64_t limit = MIN(MIN(idx + max, (ti + 1) * rbe), 1ULL << (56 - q->cluster_bits));
    size_t unit = table_unit(q);
    size_t pos = (size_t)(((idx % rbe) << q->refcount_order) >> 3);
    uint64_t end = idx;
    while (end < limit && rb_get(q, q->rb, end % rbe) == 0 &&
           ((((end % rbe) << q->refcount_order) >> 3) & ~(unit - 1)) == (pos & ~(unit - 1)))
        rb_set(q, q->rb, end++ % rbe, 1);
    r = write_table_sector(q, q->rb, q->rb_off, pos);
    if (r < 0) {
        q->rb_off = 0;   /* the cached copy no longer matches the disk */
        return r;
    }
    q->free_hint = MAX(q->free_hint, end);
    /* Unflushed, the reservation is lost (leaked) on an error. */
    if ((r = meta_flush(q)) < 0)
        return r;
    q->pool_next = idx;
    q->pool_end = end;
    return 0;
}

/* Gives the reserved clusters back (close): a failure leaks them. */
static void release_pool(VmmQcow2 *q)
{
    /* fill_pool keeps a run in one refcount block */
    if (q->pool_next < q->pool_end && set_refcounts(q, q->pool_next, q->pool_end, 0) == 0) {
        q->free_hint = MIN(q->free_hint, q->pool_next);
        q->pool_next = q->pool_end;
    }
}

/* One free cluster whose refcount of 1 is on stable storage: an entry may
 * name it at once. */
static int alloc_cluster(VmmQcow2 *q, uint64_t *out)
{
    for (uint64_t idx = MAX(q->free_hint, 1); q->pool_next == q->pool_end; idx++) {
        uint64_t ti = idx / q->rb_entries;
        if (idx >> (56 - q->cluster_bits))
            return -ENOSPC;
        if (ti >= q->rt_entries) {
            int r = grow_refcount_table(q, ti);
            if (r < 0) {
                g_warning("qcow2 image '%s': cannot grow the refcount table (%"
                          G_GUINT64_FORMAT " entries): %s", q->path, q->rt_entries,
                          g_strerror(-r));
                return r;
            }
            idx--;      /* look at this index again, now covered */
            continue;
        }
        if (q->rt[ti] == 0) {
            int r = new_refcount_block(q, ti, idx);
            if (r < 0)
                return r;
            continue;
        }
        uint64_t rc;
        int r = get_refcount(q, idx, &rc);
        if (r == 0 && rc == 0)
            r = fill_pool(q, idx);
        if (r < 0)
            return r;
    }
    __atomic_add_fetch(&q->allocated, 1, __ATOMIC_RELAXED);
    *out = q->pool_next++ << q->cluster_bits;
    return 0;
}

/* Drops one reference to each host cluster of [off, off+len). The caller
 * has already removed (and flushed) the entry that held the reference. */
static int unref_range(VmmQcow2 *q, uint64_t off, uint64_t len, bool punch)
{
    for (uint64_t idx = off >> q->cluster_bits; idx <= (off + len - 1) >> q->cluster_bits; idx++) {
        uint64_t rc;
        int r = get_refcount(q, idx, &rc);
        if (r < 0)
            return r;
        if (rc == 0)
            return corrupt(q, "refcount of zero on the used cluster 0x%" G_GINT64_MODIFIER "x",
                           idx << q->cluster_bits);
        r = set_refcount(q, idx, rc - 1);
        if (r < 0)
            return r;
        if (rc == 1) {
            q->free_hint = MIN(q->free_hint, idx);
            __atomic_sub_fetch(&q->allocated, 1, __ATOMIC_RELAXED);
            if (punch && q->discard_unmap) {
                /* A hint to the file system; failure just keeps the blocks. */
                int G_GNUC_UNUSED x = fallocate(q->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                                (off_t)(idx << q->cluster_bits),
                                                (off_t)q->cluster_size);
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* L2 tables                                                                */

static int l2_load(VmmQcow2 *q, uint64_t l2_off, uint8_t **table)
{
    gpointer v = g_hash_table_lookup(q->l2c_index, &l2_off);
    if (v) {
        L2Slot *s = &q->l2c[GPOINTER_TO_UINT(v) - 1];
        s->used = ++q->l2c_tick;
        *table = s->data;
        return 0;
    }
    int r = check_meta_offset(q, l2_off, "L2 table");
    if (r < 0)
        return r;
    unsigned victim = 0;
    for (unsigned i = 0; i < q->l2c_n; i++) {
        if (q->l2c[i].off == 0) {
            victim = i;
            break;
        }
        if (q->l2c[i].used < q->l2c[victim].used)
            victim = i;
    }
    L2Slot *s = &q->l2c[victim];
    if (s->off)
        g_hash_table_remove(q->l2c_index, &s->off);
    s->off = 0;
    r = file_io(q, s->data, q->cluster_size, l2_off, false);
    if (r < 0)
        return r;
    s->off = l2_off;
    s->used = ++q->l2c_tick;
    g_hash_table_insert(q->l2c_index, &s->off, GUINT_TO_POINTER(victim + 1));
    *table = s->data;
    return 0;
}

/* The L2 entry (and subcluster bitmap) of guest cluster gc; table is NULL
 * when the L1 entry is empty. */
typedef struct {
    uint64_t entry, bitmap;
    uint8_t *table;            /* cached table, for updates */
    uint64_t l2_off;
    size_t pos;                /* byte position of the entry in the table */
} L2Ref;

static int l2_lookup(VmmQcow2 *q, uint64_t gc, L2Ref *ref)
{
    uint64_t l1i = gc / q->l2_entries;
    memset(ref, 0, sizeof(*ref));
    if (l1i >= q->l1_size)
        return corrupt(q, "guest cluster %" G_GUINT64_FORMAT " is beyond the L1 table", gc);
    uint64_t l1e = q->l1[l1i];
    if (l1e & L1E_RESERVED)
        return corrupt(q, "L1 entry %" G_GUINT64_FORMAT " has reserved bits set", l1i);
    uint64_t l2_off = l1e & OFFSET_MASK;
    if (!l2_off)
        return 0;
    int r = l2_load(q, l2_off, &ref->table);
    if (r < 0)
        return r;
    ref->l2_off = l2_off;
    ref->pos = (size_t)(gc % q->l2_entries) * q->l2_entry_bytes;
    ref->entry = be64(ref->table + ref->pos);
    if (q->ext_l2)
        ref->bitmap = be64(ref->table + ref->pos + 8);
    return 0;
}

static int l2_store(VmmQcow2 *q, L2Ref *ref, uint64_t entry, uint64_t bitmap)
{
    put_be64(ref->table + ref->pos, entry);
    if (q->ext_l2)
        put_be64(ref->table + ref->pos + 8, bitmap);
    ref->entry = entry;
    ref->bitmap = bitmap;
    return write_table_sector(q, ref->table, ref->l2_off, ref->pos);
}

/* Makes sure guest cluster gc has an L2 table we may write: a new one is
 * written (zeroed) and flushed before the L1 entry that names it. */
static int l2_prepare_write(VmmQcow2 *q, uint64_t gc, L2Ref *ref)
{
    int r = l2_lookup(q, gc, ref);
    if (r < 0)
        return r;
    uint64_t l1i = gc / q->l2_entries;
    if (ref->table) {
        if (!(q->l1[l1i] & OFLAG_COPIED))
            return corrupt(q, "L2 table at 0x%" G_GINT64_MODIFIER "x is shared (refcount > 1)",
                           ref->l2_off);
        return 0;
    }
    uint64_t off;
    r = alloc_cluster(q, &off);
    if (r < 0)
        return r;
    memset(q->scratch, 0, q->cluster_size);
    r = file_io(q, q->scratch, q->cluster_size, off, true);
    if (r == 0)
        r = meta_flush(q);
    if (r < 0)
        return r;
    uint64_t old = q->l1[l1i];
    q->l1[l1i] = off | OFLAG_COPIED;
    uint8_t e[8];
    put_be64(e, q->l1[l1i]);
    r = file_io(q, e, 8, q->l1_off + l1i * 8, true);
    if (r == 0)
        r = meta_flush(q);
    if (r < 0) {
        q->l1[l1i] = old;
        return r;
    }
    return l2_lookup(q, gc, ref);
}

/* ------------------------------------------------------------------------ */
/* reading                                                                  */

static int backing_read(VmmQcow2 *q, void *buf, uint64_t len, uint64_t off)
{
    uint64_t have = off < q->backing_size ? MIN(len, q->backing_size - off) : 0;
    if (have < len)
        memset((char *)buf + have, 0, len - have);
    if (!have)
        return 0;
    if (q->backing)
        return vmm_qcow2_read(q->backing, buf, have, off);
    if (q->backing_fd >= 0)
        return raw_io(q->backing_fd, buf, have, off, false);
    memset(buf, 0, have);
    return 0;
}

static int decompress(VmmQcow2 *q, uint64_t desc)
{
    if (q->dbuf_for == desc)
        return 0;
    unsigned x = 62 - (q->cluster_bits - 8);
    uint64_t coff = desc & ((1ULL << x) - 1);
    uint64_t nsec = (desc >> x) & ((1ULL << (62 - x)) - 1);
    uint64_t clen = (nsec + 1) * 512 - (coff & 511);
    if (coff < q->cluster_size || coff >= q->file_size)
        return corrupt(q, "compressed cluster at 0x%" G_GINT64_MODIFIER "x is %s", coff,
                       coff < q->cluster_size ? "in the header" : "past the end of the file");
    if (clen > 2 * q->cluster_size)
        return corrupt(q, "compressed cluster at 0x%" G_GINT64_MODIFIER "x is longer than "
                       "two clusters", coff);
    clen = MIN(clen, q->file_size - coff);   /* the last sector may be short */
    int r = file_io(q, q->cbuf, clen, coff, false);
    if (r < 0)
        return r;
    q->dbuf_for = 0;
    if (q->compression == 0) {
        /* Raw deflate with a 4 KiB window, as QEMU writes it. */
        if (!q->zs_init) {
            if (inflateInit2(&q->zs, -12) != Z_OK)
                return -ENOMEM;
            q->zs_init = true;
        } else {
            inflateReset(&q->zs);
        }
        q->zs.next_in = q->cbuf;
        q->zs.avail_in = (uInt)clen;
        q->zs.next_out = q->dbuf;
        q->zs.avail_out = (uInt)q->cluster_size;
        int zr = inflate(&q->zs, Z_FINISH);
        if ((zr != Z_STREAM_END && zr != Z_BUF_ERROR) || q->zs.avail_out != 0)
            return corrupt(q, "compressed cluster at 0x%" G_GINT64_MODIFIER "x does not "
                           "inflate to a cluster", coff);
    } else {
        if (!q->zd && !(q->zd = ZSTD_createDCtx()))
            return -ENOMEM;
        ZSTD_DCtx_reset(q->zd, ZSTD_reset_session_only);
        ZSTD_inBuffer in = { q->cbuf, clen, 0 };
        ZSTD_outBuffer out = { q->dbuf, q->cluster_size, 0 };
        /* The data is padded to a sector: stop once a cluster is out. */
        while (out.pos < out.size && in.pos < in.size) {
            size_t zr = ZSTD_decompressStream(q->zd, &out, &in);
            if (ZSTD_isError(zr) || zr == 0)
                break;
        }
        if (out.pos != out.size)
            return corrupt(q, "compressed cluster at 0x%" G_GINT64_MODIFIER "x does not "
                           "decompress (zstd) to a cluster", coff);
    }
    q->dbuf_for = desc;
    return 0;
}

static int check_data_offset(VmmQcow2 *q, uint64_t entry, uint64_t host)
{
    if (entry & L2E_RESERVED)
        return corrupt(q, "L2 entry 0x%" G_GINT64_MODIFIER "x has reserved bits set", entry);
    if (host < q->cluster_size)
        return corrupt(q, "data cluster at 0x%" G_GINT64_MODIFIER "x overlaps the header", host);
    if (host >= q->file_size)
        return corrupt(q, "data cluster at 0x%" G_GINT64_MODIFIER "x is past the end of the file",
                       host);
    return 0;
}

/* What reading [off, off+n) within one guest cluster (one subcluster with
 * extended L2 entries) takes: done here (zeroes, a compressed cluster,
 * under the mutex), or a read of the file or the backing file that the
 * caller does without the mutex. */
typedef enum { READ_DONE, READ_HOST, READ_BACKING } ReadPlan;

static int plan_chunk(VmmQcow2 *q, const L2Ref *ref, uint8_t *buf, uint64_t n, uint64_t off,
                      ReadPlan *plan, uint64_t *pos)
{
    uint64_t in = off & (q->cluster_size - 1), e = ref->entry;
    *plan = READ_DONE;
    if (e & OFLAG_COMPRESSED) {
        int r = decompress(q, e & ~(OFLAG_COMPRESSED | OFLAG_COPIED));
        if (r == 0)
            memcpy(buf, q->dbuf + in, n);
        return r;
    }
    uint64_t host = e & OFFSET_MASK;
    bool zero, alloc;
    if (q->ext_l2) {
        unsigned sc = (unsigned)(in / (q->cluster_size / 32));
        alloc = ref->bitmap & (1ULL << sc);
        zero = ref->bitmap & (1ULL << (sc + 32));
        if (alloc && zero)
            return corrupt(q, "subcluster %u is both allocated and zero", sc);
        if (alloc && (e & 1))
            return corrupt(q, "L2 entry 0x%" G_GINT64_MODIFIER "x has reserved bits set", e);
    } else {
        zero = e & OFLAG_ZERO;
        alloc = host != 0;
    }
    if (zero) {
        memset(buf, 0, n);
        return 0;
    }
    if (!alloc) {
        *plan = READ_BACKING;
        return 0;
    }
    int r = check_data_offset(q, e, host);
    *plan = READ_HOST;
    *pos = host + in;
    return r;
}

static uint64_t chunk_len(VmmQcow2 *q, uint64_t off, uint64_t len)
{
    uint64_t unit = q->ext_l2 ? q->cluster_size / 32 : q->cluster_size;
    return MIN(len, unit - (off & (unit - 1)));
}

/* Readers share q->rw (writers, which move clusters, exclude them) and
 * take the mutex only to look up the tables: data reads run in parallel. */
int vmm_qcow2_read(VmmQcow2 *q, void *buffer, uint64_t len, uint64_t off)
{
    if (off > q->size || len > q->size - off)
        return -EIO;
    uint8_t *buf = buffer;
    int r = 0;
    g_rw_lock_reader_lock(&q->rw);
    while (len && r == 0) {
        uint64_t n = chunk_len(q, off, len), pos = 0;
        ReadPlan plan = READ_DONE;
        L2Ref ref;
        g_mutex_lock(&q->lock);
        r = l2_lookup(q, off >> q->cluster_bits, &ref);
        if (r == 0)
            r = plan_chunk(q, &ref, buf, n, off, &plan, &pos);
        g_mutex_unlock(&q->lock);
        if (r == 0 && plan == READ_HOST)
            r = file_io(q, buf, n, pos, false);
        else if (r == 0 && plan == READ_BACKING)
            r = backing_read(q, buf, n, off);
        buf += n;
        off += n;
        len -= n;
    }
    g_rw_lock_reader_unlock(&q->rw);
    return r;
}

/* The L2 entry of guest cluster gc from the cache alone: false when its
 * table is not cached (or the L1 entry is bad); *entry 0 and *bitmap 0
 * when the L1 entry is empty. */
static bool l2_cached(VmmQcow2 *q, uint64_t gc, uint64_t *entry, uint64_t *bitmap)
{
    uint64_t l1i = gc / q->l2_entries;
    *entry = *bitmap = 0;
    if (l1i >= q->l1_size || (q->l1[l1i] & L1E_RESERVED))
        return false;
    uint64_t l2_off = q->l1[l1i] & OFFSET_MASK;
    if (!l2_off)
        return true;
    gpointer v = g_hash_table_lookup(q->l2c_index, &l2_off);
    if (!v)
        return false;
    L2Slot *s = &q->l2c[GPOINTER_TO_UINT(v) - 1];
    s->used = ++q->l2c_tick;
    size_t pos = (size_t)(gc % q->l2_entries) * q->l2_entry_bytes;
    *entry = be64(s->data + pos);
    if (q->ext_l2)
        *bitmap = be64(s->data + pos + 8);
    return true;
}

/* What one chunk (see chunk_len) maps to, for vmm_qcow2_map: host data
 * (*host set), zeroes, or anything else (MAP_SLOW). Entries the slow path
 * would call corrupt are MAP_SLOW, so that it reports them. */
static VmmQcow2Map map_chunk(VmmQcow2 *q, uint64_t off, uint64_t n, bool write, uint64_t *host)
{
    uint64_t e, bm, in = off & (q->cluster_size - 1);
    if (!l2_cached(q, off >> q->cluster_bits, &e, &bm) || (e & OFLAG_COMPRESSED))
        return VMM_QCOW2_MAP_SLOW;
    uint64_t h = e & OFFSET_MASK;
    bool zero, alloc;
    if (q->ext_l2) {
        unsigned sc = (unsigned)(in / (q->cluster_size / 32));
        alloc = bm & (1ULL << sc);
        zero = bm & (1ULL << (sc + 32));
        if ((alloc && zero) || (alloc && (e & 1)) || write)   /* subclusters: read only */
            return VMM_QCOW2_MAP_SLOW;
    } else {
        zero = e & OFLAG_ZERO;
        alloc = h != 0;
    }
    if (write) {
        /* in place: an allocated cluster of this image only, not shared */
        if (zero || !alloc || !(e & OFLAG_COPIED))
            return VMM_QCOW2_MAP_SLOW;
    } else if (zero || (!alloc && !q->backing && q->backing_fd < 0)) {
        return VMM_QCOW2_MAP_ZERO;
    } else if (!alloc) {
        return VMM_QCOW2_MAP_SLOW;   /* the backing file's */
    }
    if ((e & L2E_RESERVED) || h < q->cluster_size || h + in + n > q->file_size)
        return VMM_QCOW2_MAP_SLOW;
    *host = h + in;
    return VMM_QCOW2_MAP_HOST;
}

/* Readers and in-place writers of allocated clusters need no lock once the
 * host range is known (QEMU's qcow2 drops its lock around data I/O too):
 * the owner thread maps a request from the cached tables and sends it down
 * the same asynchronous path as a raw image. It never waits: a busy writer
 * or a table not cached sends the request the synchronous way. */
VmmQcow2Map vmm_qcow2_map(VmmQcow2 *q, uint64_t off, uint64_t len, bool write, uint64_t *host)
{
    if ((write && q->readonly) || len == 0 || off > q->size || len > q->size - off)
        return VMM_QCOW2_MAP_SLOW;
    if (!g_rw_lock_reader_trylock(&q->rw))
        return VMM_QCOW2_MAP_SLOW;
    if (!g_mutex_trylock(&q->lock)) {
        g_rw_lock_reader_unlock(&q->rw);
        return VMM_QCOW2_MAP_SLOW;
    }
    VmmQcow2Map m = VMM_QCOW2_MAP_SLOW, first = VMM_QCOW2_MAP_SLOW;
    uint64_t start = 0, next = 0;
    for (uint64_t o = off, left = len; left; ) {
        uint64_t n = chunk_len(q, o, left), h = 0;
        m = map_chunk(q, o, n, write, &h);
        if (o == off) {
            first = m;
            start = next = h;
        }
        /* one kind throughout, and host data in one contiguous range */
        if (m == VMM_QCOW2_MAP_SLOW || m != first || (m == VMM_QCOW2_MAP_HOST && h != next)) {
            m = VMM_QCOW2_MAP_SLOW;
            break;
        }
        next = h + n;
        o += n;
        left -= n;
    }
    if (m == VMM_QCOW2_MAP_HOST && q->direct && ((start | len) & (q->align - 1)))
        m = VMM_QCOW2_MAP_SLOW;
    if (m == VMM_QCOW2_MAP_HOST) {
        *host = start;
        __atomic_add_fetch(&q->mapped_io, 1, __ATOMIC_RELAXED);
    }
    g_mutex_unlock(&q->lock);
    g_rw_lock_reader_unlock(&q->rw);
    return m;
}

void vmm_qcow2_map_done(VmmQcow2 *q)
{
    __atomic_sub_fetch(&q->mapped_io, 1, __ATOMIC_RELEASE);
}

/* Everything that changes the mapping: alone, with the mutex. */
static void lock_writer(VmmQcow2 *q)
{
    g_rw_lock_writer_lock(&q->rw);
    g_mutex_lock(&q->lock);
}

static void unlock_writer(VmmQcow2 *q)
{
    g_mutex_unlock(&q->lock);
    g_rw_lock_writer_unlock(&q->rw);
}

/* ------------------------------------------------------------------------ */
/* writing                                                                  */

/* The host clusters an L2 entry holds a reference to, for freeing them. */
static bool entry_host_range(VmmQcow2 *q, uint64_t e, uint64_t *off, uint64_t *len)
{
    if (e & OFLAG_COMPRESSED) {
        unsigned x = 62 - (q->cluster_bits - 8);
        uint64_t coff = e & ((1ULL << x) - 1);
        uint64_t nsec = (e >> x) & ((1ULL << (62 - x)) - 1);
        *off = coff;
        *len = (nsec + 1) * 512 - (coff & 511);
        return coff >= q->cluster_size;
    }
    *off = e & OFFSET_MASK;
    *len = q->cluster_size;
    return *off != 0;
}

typedef struct {
    uint64_t off, len;
} HostRange;

/* Replaces an entry; the host clusters the old one held go on freed, to
 * be released by release_freed() once the entries are on disk. */
static int replace_entry(VmmQcow2 *q, L2Ref *ref, uint64_t entry, GArray *freed)
{
    uint64_t old = ref->entry;
    HostRange h;
    bool had = entry_host_range(q, old, &h.off, &h.len) &&
               ((old & OFLAG_COMPRESSED) || h.off != (entry & OFFSET_MASK));
    int r = l2_store(q, ref, entry, 0);
    if (r < 0 || !had)
        return r;
    if (old == q->dbuf_for || (old & ~(OFLAG_COMPRESSED | OFLAG_COPIED)) == q->dbuf_for)
        q->dbuf_for = 0;
    g_array_append_val(freed, h);
    return 0;
}

/* A cluster must not be freed (and reused) while I/O that vmm_qcow2_map()
 * pointed at it is in flight. New mappings fail while the caller holds the
 * writer lock, so the count only drains; the owner threads that complete
 * mapped I/O never wait for the locks, and freeing is rare (discard, COW of
 * a compressed or shared cluster): a short sleep is enough. */
static void wait_mapped_io(VmmQcow2 *q)
{
    while (__atomic_load_n(&q->mapped_io, __ATOMIC_ACQUIRE))
        g_usleep(20);
}

/* One flush for all the entries replaced, then the references they held
 * drop: a crash in between leaks clusters, never reuses a referenced one. */
static int release_freed(VmmQcow2 *q, GArray *freed, bool punch)
{
    if (freed->len == 0)
        return 0;
    int r = meta_flush(q);
    wait_mapped_io(q);
    for (guint i = 0; r == 0 && i < freed->len; i++) {
        HostRange *h = &g_array_index(freed, HostRange, i);
        r = unref_range(q, h->off, h->len, punch);
    }
    g_array_set_size(freed, 0);
    return r;
}

typedef struct {
    uint64_t gc, host;
} NewCluster;

/* Writes n bytes at off within guest cluster gc (data NULL: zeroes). A
 * cluster that needs a new host cluster gets it and its data here; its L2
 * entry is left to write_locked (pending), once all the data is written. */
static int write_chunk(VmmQcow2 *q, const uint8_t *data, uint64_t n, uint64_t off,
                       GArray *pending)
{
    uint64_t gc = off >> q->cluster_bits, in = off & (q->cluster_size - 1);
    L2Ref ref;
    int r = l2_prepare_write(q, gc, &ref);
    if (r < 0)
        return r;
    uint64_t e = ref.entry, host = e & OFFSET_MASK;
    bool compressed = e & OFLAG_COMPRESSED;

    if (!compressed && host && (e & OFLAG_COPIED)) {
        if ((r = check_data_offset(q, e, host)) < 0)
            return r;
        if (!(e & OFLAG_ZERO)) {
            if (data)
                return file_io(q, (void *)data, n, host + in, true);
            memset(q->scratch, 0, n);
            return file_io(q, q->scratch, n, host + in, true);
        }
        /* A preallocated zero cluster: fill it, then drop the zero flag. */
        memset(q->scratch, 0, q->cluster_size);
        if (data)
            memcpy(q->scratch + in, data, n);
        r = file_io(q, q->scratch, q->cluster_size, host, true);
        return r < 0 ? r : l2_store(q, &ref, host | OFLAG_COPIED, 0);
    }

    /* A new cluster: the old contents around the write (copy-on-write from
     * the backing file, a compressed or shared cluster) go with it. */
    const uint8_t *src = data;
    if (n < q->cluster_size || !data) {
        uint64_t gstart = gc << q->cluster_bits;
        uint64_t cl = MIN(q->cluster_size, q->size - gstart);
        memset(q->scratch, 0, q->cluster_size);
        if (n < cl) {
            if (compressed) {
                if ((r = decompress(q, e & ~(OFLAG_COMPRESSED | OFLAG_COPIED))) < 0)
                    return r;
                memcpy(q->scratch, q->dbuf, q->cluster_size);
            } else if (e & OFLAG_ZERO) {
                /* stays zero */
            } else if (host) {
                if ((r = check_data_offset(q, e, host)) < 0 ||
                    (r = file_io(q, q->scratch, q->cluster_size, host, false)) < 0)
                    return r;
            } else if ((r = backing_read(q, q->scratch, cl, gstart)) < 0) {
                return r;
            }
        }
        if (data)
            memcpy(q->scratch + in, data, n);
        else
            memset(q->scratch + in, 0, n);
        src = q->scratch;
    }
    uint64_t newoff;
    if ((r = alloc_cluster(q, &newoff)) < 0)
        return r;
    /* A cluster past the end of the file reads as zeroes already: when
     * zeroes are all the write would put around the data, the data alone
     * is written (QEMU writes zeroes there with fallocate; a partial last
     * cluster reads as zeroes past the end, here and in QEMU). */
    uint64_t wo = 0, wn = q->cluster_size;
    if (src == q->scratch && data && newoff >= q->file_size && !compressed && !host &&
        ((e & OFLAG_ZERO) || (!q->backing && q->backing_fd < 0)) &&
        (!q->direct || ((in | n) & (q->align - 1)) == 0)) {
        wo = in;
        wn = n;
    }
    if ((r = file_io(q, (void *)(src + wo), wn, newoff + wo, true)) < 0) {
        unref_range(q, newoff, q->cluster_size, false);
        return r;
    }
    NewCluster nc = { gc, newoff };
    g_array_append_val(pending, nc);
    return 0;
}

/* Data first (in place, or into new clusters, whose refcounts
 * alloc_cluster has on stable storage already), then the L2 entries naming
 * the new clusters. */
static int write_locked(VmmQcow2 *q, const uint8_t *buf, uint64_t len, uint64_t off)
{
    g_autoptr(GArray) pending = g_array_new(FALSE, FALSE, sizeof(NewCluster));
    int r = 0;
    while (len && r == 0) {
        uint64_t n = MIN(len, q->cluster_size - (off & (q->cluster_size - 1)));
        r = write_chunk(q, buf, n, off, pending);
        if (buf)
            buf += n;
        off += n;
        len -= n;
    }
    if (pending->len == 0)
        return r;
    g_autoptr(GArray) freed = g_array_new(FALSE, FALSE, sizeof(HostRange));
    for (guint i = 0; i < pending->len; i++) {
        NewCluster *nc = &g_array_index(pending, NewCluster, i);
        L2Ref ref;
        int x = l2_lookup(q, nc->gc, &ref);
        if (x == 0)
            x = replace_entry(q, &ref, nc->host | OFLAG_COPIED, freed);
        if (x < 0) {
            /* not referenced: give it back (a leak at worst if this fails) */
            unref_range(q, nc->host, q->cluster_size, false);
            r = r ? r : x;
        }
    }
    int x = release_freed(q, freed, false);
    return r ? r : x;
}

static int check_write(VmmQcow2 *q, uint64_t len, uint64_t off)
{
    if (q->readonly)
        return -EROFS;
    if (off > q->size || len > q->size - off)
        return -EIO;
    return 0;
}

int vmm_qcow2_write(VmmQcow2 *q, const void *buf, uint64_t len, uint64_t off)
{
    int r = check_write(q, len, off);
    if (r < 0)
        return r;
    lock_writer(q);
    r = write_locked(q, buf, len, off);
    unlock_writer(q);
    return r;
}

/* Whole clusters [first, last]: zero=true makes them read as zeroes (v3:
 * the zero flag; v2: unallocated without a backing file, else zeroes
 * written), zero=false discards them as QEMU does (v3: zero flag where
 * something could show through, v2: unallocated). */
static int clear_clusters(VmmQcow2 *q, uint64_t first, uint64_t last, bool zero, bool may_unmap)
{
    bool v3 = q->version >= 3, backing = q->backing_size != 0;
    g_autoptr(GArray) freed = g_array_new(FALSE, FALSE, sizeof(HostRange));
    int r = 0;
    for (uint64_t gc = first; gc <= last; gc++) {
        L2Ref ref;
        if ((r = l2_lookup(q, gc, &ref)) < 0)
            break;
        uint64_t e = ref.entry;
        bool compressed = e & OFLAG_COMPRESSED;
        bool allocated = compressed || (e & OFFSET_MASK);
        bool zero_flag = v3 && !compressed && (e & OFLAG_ZERO);
        if (!allocated && (zero_flag || !backing || !v3) && (zero_flag || !backing || !zero))
            continue;                       /* already reads as it should */
        if (!ref.table && (r = l2_prepare_write(q, gc, &ref)) < 0)
            return r;
        if (!v3) {
            if (zero && (backing || !may_unmap)) {
                /* v2 has no zero flag: write the zeroes. */
                r = write_locked(q, NULL, q->cluster_size, gc << q->cluster_bits);
            } else {
                r = replace_entry(q, &ref, 0, freed);
            }
        } else if (zero && !may_unmap && !compressed && (e & OFFSET_MASK) && (e & OFLAG_COPIED)) {
            r = zero_flag ? 0 : l2_store(q, &ref, e | OFLAG_ZERO, 0);   /* keeps its allocation */
        } else {
            r = replace_entry(q, &ref, OFLAG_ZERO, freed);
        }
        if (r < 0)
            break;
    }
    int x = release_freed(q, freed, true);
    return r ? r : x;
}

static int zero_or_discard(VmmQcow2 *q, uint64_t len, uint64_t off, bool zero, bool may_unmap)
{
    int r = check_write(q, len, off);
    if (r < 0 || len == 0)
        return r;
    if (q->ext_l2)
        return zero ? vmm_qcow2_write(q, NULL, len, off) : 0;
    /* Without the zero flag a discard would expose the backing file's
     * stale data: QEMU ignores it then, so do we. */
    if (!zero && q->version < 3 && (q->backing || q->backing_fd >= 0))
        return 0;
    uint64_t cs = q->cluster_size, end = off + len;
    uint64_t a = (off + cs - 1) & ~(cs - 1);
    /* The last cluster of an image whose size is not cluster-aligned is
     * whole when the range reaches the end. */
    uint64_t b = end == q->size ? (end + cs - 1) & ~(cs - 1) : end & ~(cs - 1);
    lock_writer(q);
    if (a >= b) {
        r = zero ? write_locked(q, NULL, len, off) : 0;
    } else {
        r = 0;
        if (zero && off < a)
            r = write_locked(q, NULL, a - off, off);
        if (r == 0)
            r = clear_clusters(q, a >> q->cluster_bits, (b >> q->cluster_bits) - 1, zero, may_unmap);
        if (r == 0 && zero && b < end)
            r = write_locked(q, NULL, end - b, b);
    }
    unlock_writer(q);
    return r;
}

int vmm_qcow2_discard(VmmQcow2 *q, uint64_t len, uint64_t off)
{
    return zero_or_discard(q, len, off, false, true);
}

int vmm_qcow2_write_zeroes(VmmQcow2 *q, uint64_t len, uint64_t off, bool may_unmap)
{
    return zero_or_discard(q, len, off, true, may_unmap);
}

int vmm_qcow2_flush(VmmQcow2 *q)
{
    if (q->readonly)
        return 0;
    return fdatasync(q->fd) < 0 ? -errno : 0;
}

uint64_t vmm_qcow2_size(VmmQcow2 *q) { return q->size; }

uint64_t vmm_qcow2_metadata_flushes(VmmQcow2 *q)
{
    return __atomic_load_n(&q->meta_flushes, __ATOMIC_RELAXED);
}

uint64_t vmm_qcow2_allocation(VmmQcow2 *q)
{
    return __atomic_load_n(&q->allocated, __ATOMIC_RELAXED) << q->cluster_bits;
}

/* The clusters in use, counted once at open from the refcount blocks (the
 * only place they are all read); the allocator keeps the count after. */
static int count_allocated(VmmQcow2 *q)
{
    uint64_t n = 0;
    for (uint64_t ti = 0; ti < q->rt_entries; ti++) {
        if (!q->rt[ti])
            continue;
        int r = load_rb(q, q->rt[ti]);
        if (r < 0)
            return r;
        for (uint64_t i = 0; i < q->rb_entries; i++)
            n += rb_get(q, q->rb, i) != 0;
    }
    q->allocated = n;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* open                                                                     */

bool vmm_qcow2_probe(int fd)
{
    uint8_t m[4];
    return pread(fd, m, 4, 0) == 4 && be32(m) == QCOW2_MAGIC;
}

void vmm_qcow2_close(VmmQcow2 *q)
{
    if (!q)
        return;
    if (!q->readonly)
        release_pool(q);
    vmm_qcow2_close(q->backing);
    if (q->backing_fd >= 0)
        close(q->backing_fd);
    if (q->own_fd && q->fd >= 0)
        close(q->fd);
    for (unsigned i = 0; i < q->l2c_n; i++)
        free(q->l2c[i].data);
    g_free(q->l2c);
    if (q->l2c_index)
        g_hash_table_unref(q->l2c_index);
    free(q->rb);
    free(q->cbuf);
    free(q->dbuf);
    free(q->scratch);
    if (q->zs_init)
        inflateEnd(&q->zs);
    ZSTD_freeDCtx(q->zd);
    g_free(q->l1);
    g_free(q->rt);
    g_free(q->backing_path);
    g_mutex_clear(&q->lock);
    g_rw_lock_clear(&q->rw);
    g_free(q->path);
    g_free(q);
}

G_GNUC_PRINTF(3, 4)
static bool fail(GError **err, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_INVALID, "qcow2 image '%s': %s", path, msg);
    return false;
}

/* Names of the unknown incompatible bits, from the image's feature table. */
static char *feature_names(const uint8_t *tbl, size_t len, uint64_t bits)
{
    GString *s = g_string_new(NULL);
    for (unsigned b = 0; b < 64; b++) {
        if (!(bits & (1ULL << b)))
            continue;
        const char *name = NULL;
        char buf[47];
        for (size_t i = 0; tbl && i + 48 <= len; i += 48) {
            if (tbl[i] == 0 && tbl[i + 1] == b) {
                memcpy(buf, tbl + i + 2, 46);
                buf[46] = 0;
                name = buf;
            }
        }
        g_autofree char *esc = name ? g_strescape(name, NULL) : NULL;
        g_string_append_printf(s, "%sbit %u%s%s%s", s->len ? ", " : "", b,
                               esc ? " (" : "", esc ? esc : "", esc ? ")" : "");
    }
    return g_string_free(s, FALSE);
}

/* The range [off, off+len) of the file is metadata: it must be
 * cluster-aligned, after the header cluster and inside the file. */
static bool check_table(VmmQcow2 *q, uint64_t off, uint64_t len, const char *what, GError **err)
{
    if (off & (q->cluster_size - 1))
        return fail(err, q->path, "the %s offset 0x%" G_GINT64_MODIFIER "x is not "
                    "cluster-aligned", what, off);
    if (off < q->cluster_size)
        return fail(err, q->path, "the %s at 0x%" G_GINT64_MODIFIER "x overlaps the header",
                    what, off);
    if (off > q->file_size || len > q->file_size - off)
        return fail(err, q->path, "the %s (0x%" G_GINT64_MODIFIER "x, %" G_GUINT64_FORMAT
                    " bytes) is past the end of the file (%" G_GUINT64_FORMAT " bytes): "
                    "the image is truncated or corrupt", what, off, len, q->file_size);
    return true;
}

static VmmQcow2 *open_chain(int fd, const char *path, const VmmQcow2Options *opts,
                            GHashTable *seen, unsigned depth, GError **err);

static bool open_backing(VmmQcow2 *q, const char *name, VmmImageFormat fmt,
                         const VmmImageBacking *next, GHashTable *seen, unsigned depth,
                         GError **err)
{
    if (depth >= MAX_BACKING_DEPTH)
        return fail(err, q->path, "the backing chain is deeper than %u images", MAX_BACKING_DEPTH);
    if (g_str_has_prefix(name, "json:"))
        return fail(err, q->path, "backing file name '%s' is a QEMU json: description, "
                    "which vmmd does not support", name);
    if (g_path_is_absolute(name)) {
        q->backing_path = g_strdup(name);
    } else {
        g_autofree char *dir = g_path_get_dirname(q->path);
        q->backing_path = g_build_filename(dir, name, NULL);
    }
    int bfd = open(q->backing_path, O_RDONLY | O_CLOEXEC);
    if (bfd < 0)
        return fail(err, q->path, "cannot open its backing file '%s': %s", q->backing_path,
                    g_strerror(errno));
    struct stat st;
    if (fstat(bfd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        close(bfd);
        return fail(err, q->path, "backing file '%s' is not a regular file or block device",
                    q->backing_path);
    }
    g_autofree char *key = g_strdup_printf("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT,
                                           (guint64)st.st_dev, (guint64)st.st_ino);
    if (g_hash_table_contains(seen, key)) {
        close(bfd);
        return fail(err, q->path, "the backing chain loops: '%s' is already in it",
                    q->backing_path);
    }
    g_hash_table_add(seen, g_steal_pointer(&key));
    if (!vmm_image_lock(bfd, q->backing_path, false, err)) {
        close(bfd);
        return false;
    }
    if (fmt == VMM_IMAGE_FORMAT_AUTO)
        fmt = vmm_qcow2_probe(bfd) ? VMM_IMAGE_FORMAT_QCOW2 : VMM_IMAGE_FORMAT_RAW;
    if (fmt == VMM_IMAGE_FORMAT_RAW) {
        off_t sz = lseek(bfd, 0, SEEK_END);   /* block devices too */
        if (sz < 0)
            sz = 0;
        q->backing_fd = bfd;
        q->backing_size = (uint64_t)sz;
        return true;
    }
    VmmQcow2Options bo = {
        .readonly = true, .align = 512, .flush_metadata = false, .backing = next,
    };
    q->backing = open_chain(bfd, q->backing_path, &bo, seen, depth + 1, err);
    if (!q->backing) {
        close(bfd);
        return false;
    }
    q->backing->own_fd = true;
    q->backing_size = q->backing->size;
    return true;
}

/* Every L1 entry and refcount table entry is checked at open; both tables
 * are small (at most 32 and 8 MiB). */
static bool check_tables(VmmQcow2 *q, GError **err)
{
    for (uint32_t i = 0; i < q->l1_size; i++) {
        uint64_t e = q->l1[i], off = e & OFFSET_MASK;
        if (e & L1E_RESERVED)
            return fail(err, q->path, "L1 entry %u (0x%" G_GINT64_MODIFIER "x) has reserved "
                        "bits set", i, e);
        if (off) {
            g_autofree char *what = g_strdup_printf("L2 table of L1 entry %u", i);
            if (!check_table(q, off, q->cluster_size, what, err))
                return false;
        }
    }
    for (uint64_t i = 0; i < q->rt_entries; i++) {
        uint64_t e = q->rt[i];
        if (e & REFT_RESERVED)
            return fail(err, q->path, "refcount table entry %" G_GUINT64_FORMAT
                        " (0x%" G_GINT64_MODIFIER "x) is not cluster-aligned", i, e);
        if (e) {
            g_autofree char *what = g_strdup_printf("refcount block %" G_GUINT64_FORMAT, i);
            if (!check_table(q, e, q->cluster_size, what, err))
                return false;
        }
    }
    /* Metadata clusters must not overlap each other and must be counted
     * as used: otherwise an allocation would hand one out as data. */
    g_autoptr(GHashTable) used = g_hash_table_new(g_int64_hash, g_int64_equal);
    g_autofree uint64_t *keys = g_new(uint64_t, 1 + q->l1_size + q->rt_entries +
                                      ((uint64_t)q->l1_size * 8 >> q->cluster_bits) + 1 +
                                      ((q->rt_entries * 8) >> q->cluster_bits) + 1);
    size_t nk = 0;
    struct { uint64_t off, len; const char *what; } ranges[2] = {
        { q->l1_off, (uint64_t)q->l1_size * 8, "L1 table" },
        { q->rt_off, q->rt_entries * 8, "refcount table" },
    };
    for (unsigned t = 0; t < 2; t++) {
        for (uint64_t o = ranges[t].off; o < ranges[t].off + ranges[t].len; o += q->cluster_size) {
            keys[nk] = o >> q->cluster_bits;
            if (!g_hash_table_add(used, &keys[nk]))
                return fail(err, q->path, "the %s overlaps other metadata at 0x%"
                            G_GINT64_MODIFIER "x", ranges[t].what, o);
            nk++;
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        uint64_t n = pass ? q->l1_size : q->rt_entries;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t off = pass ? q->l1[i] & OFFSET_MASK : q->rt[i];
            if (!off)
                continue;
            keys[nk] = off >> q->cluster_bits;
            if (!g_hash_table_add(used, &keys[nk]))
                return fail(err, q->path, "%s %" G_GUINT64_FORMAT " at 0x%" G_GINT64_MODIFIER
                            "x overlaps other metadata", pass ? "the L2 table of L1 entry"
                            : "refcount block", i, off);
            nk++;
        }
    }
    /* A dirty image's refcounts lag by design: repaired before writing. */
    if (q->incompat & INCOMPAT_DIRTY)
        return true;
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, used);
    while (g_hash_table_iter_next(&it, &k, NULL)) {
        uint64_t rc;
        if (get_refcount(q, *(uint64_t *)k, &rc) < 0)
            return fail(err, q->path, "cannot read the refcount of metadata cluster 0x%"
                        G_GINT64_MODIFIER "x", *(uint64_t *)k << q->cluster_bits);
        if (rc == 0)
            return fail(err, q->path, "refcount of zero on the used metadata cluster 0x%"
                        G_GINT64_MODIFIER "x", *(uint64_t *)k << q->cluster_bits);
    }
    q->warned = false;
    return true;
}

/* A dirty image (lazy refcounts, then a crash) has refcounts that lag
 * behind the L1/L2 tables. QEMU rebuilds them before it writes; so does
 * this: every cluster the tables name (header, L1, refcount table and
 * blocks, L2 tables, data and compressed clusters) is counted, the
 * refcount blocks are corrected, flushed, and the dirty bit cleared. */
static bool repair_refcounts(VmmQcow2 *q, GError **err)
{
    uint64_t cs = q->cluster_size, n = (q->file_size + cs - 1) >> q->cluster_bits;
    uint64_t max = q->refcount_order == 6 ? UINT64_MAX : (1ULL << (1u << q->refcount_order)) - 1;
    g_autofree uint32_t *want = g_new0(uint32_t, n + 1);
#define REF(off, len, what) do {                                                          \
        for (uint64_t c_ = (off) >> q->cluster_bits; c_ <= ((off) + (len) - 1) >> q->cluster_bits; c_++) { \
            if (c_ >= n)                                                                   \
                return fail(err, q->path, "cannot repair the refcounts of this dirty "    \
                            "image: %s at 0x%" G_GINT64_MODIFIER "x is past the end of the " \
                            "file", what, (uint64_t)(off));                              \
            want[c_]++;                                                                    \
        }                                                                                  \
    } while (0)
    REF(0, cs, "the header");
    if (q->l1_size)
        REF(q->l1_off, (uint64_t)q->l1_size * 8, "the L1 table");
    REF(q->rt_off, q->rt_entries * 8, "the refcount table");
    for (uint64_t i = 0; i < q->rt_entries; i++)
        if (q->rt[i])
            REF(q->rt[i], cs, "a refcount block");
    for (uint32_t i = 0; i < q->l1_size; i++) {
        uint64_t l2_off = q->l1[i] & OFFSET_MASK;
        if (!l2_off)
            continue;
        REF(l2_off, cs, "an L2 table");
        uint8_t *t;
        if (l2_load(q, l2_off, &t) < 0)
            return fail(err, q->path, "cannot read the L2 table at 0x%" G_GINT64_MODIFIER "x",
                        l2_off);
        for (uint64_t j = 0; j < q->l2_entries; j++) {
            uint64_t e = be64(t + j * q->l2_entry_bytes), off, len;
            if (entry_host_range(q, e, &off, &len))
                REF(off, len, "a data cluster");
        }
    }
#undef REF
    for (uint64_t ti = 0; ti < q->rt_entries; ti++) {
        uint64_t first = ti * q->rb_entries;
        if (first >= n && !q->rt[ti])
            break;
        for (uint64_t idx = first; idx < first + q->rb_entries && (q->rt[ti] || idx < n); idx++) {
            uint64_t w = idx < n ? want[idx] : 0, rc;
            if (w > max)
                return fail(err, q->path, "cannot repair the refcounts of this dirty image: "
                            "cluster 0x%" G_GINT64_MODIFIER "x has more references than "
                            "%u-bit refcounts hold", idx << q->cluster_bits,
                            1u << q->refcount_order);
            if (!q->rt[ti]) {
                if (w)
                    return fail(err, q->path, "cannot repair the refcounts of this dirty "
                                "image: no refcount block for cluster 0x%" G_GINT64_MODIFIER
                                "x", idx << q->cluster_bits);
                continue;
            }
            if (get_refcount(q, idx, &rc) < 0 || (rc != w && set_refcount(q, idx, w) < 0))
                return fail(err, q->path, "cannot repair the refcounts of this dirty image: "
                            "I/O error on its refcount blocks");
        }
    }
    uint8_t hdr[8];
    put_be64(hdr, q->incompat & ~INCOMPAT_DIRTY);
    bool flush = q->flush_meta;
    q->flush_meta = true;   /* the repair must be on disk before the bit goes */
    int r = meta_flush(q);
    if (r == 0)
        r = file_io(q, hdr, 8, 72, true);
    if (r == 0)
        r = meta_flush(q);
    q->flush_meta = flush;
    if (r < 0)
        return fail(err, q->path, "cannot clear the dirty bit: %s", g_strerror(-r));
    q->incompat &= ~INCOMPAT_DIRTY;
    g_message("qcow2 image '%s' was dirty (lazy refcounts): refcounts rebuilt, dirty bit "
              "cleared", q->path);
    return true;
}

static VmmQcow2 *open_chain(int fd, const char *path, const VmmQcow2Options *opts,
                            GHashTable *seen, unsigned depth, GError **err)
{
    /* Everything freed at out: is declared here (goto skips initialisers). */
    g_autofree uint8_t *feat = NULL;
    g_autofree char *bfmt = NULL, *backing_name = NULL;
    VmmQcow2 *q = g_new0(VmmQcow2, 1);
    g_mutex_init(&q->lock);
    g_rw_lock_init(&q->rw);
    q->path = g_strdup(path);
    q->fd = fd;
    q->backing_fd = -1;
    q->readonly = opts->readonly;
    q->direct = opts->direct;
    q->align = opts->direct ? MAX(opts->align, (size_t)1) : 1;
    q->flush_meta = opts->flush_metadata;
    q->discard_unmap = opts->discard_unmap;

    struct stat st;
    if (fstat(fd, &st) < 0) {
        fail(err, path, "cannot stat: %s", g_strerror(errno));
        goto out;
    }
    q->file_size = (uint64_t)st.st_size;

    uint8_t hdr[512] = { 0 };   /* the header and the extensions we read live here */
    uint8_t *first = alloc_aligned(4096);
    int r = first ? raw_io(fd, first, 4096, 0, false) : -ENOMEM;
    if (r == 0)
        memcpy(hdr, first, sizeof(hdr));
    if (r < 0) {
        free(first);
        fail(err, path, "cannot read the header: %s", g_strerror(-r));
        goto out;
    }
    if (q->file_size < 72) {
        free(first);
        fail(err, path, "the file is truncated (%" G_GUINT64_FORMAT " bytes, shorter than a "
             "qcow2 header)", q->file_size);
        goto out;
    }
    if (be32(hdr) != QCOW2_MAGIC) {
        free(first);
        fail(err, path, "not a qcow2 image (no QFI\\xfb magic)");
        goto out;
    }
    q->version = be32(hdr + 4);
    uint64_t backing_off = be64(hdr + 8);
    uint32_t backing_len = be32(hdr + 16);
    q->cluster_bits = be32(hdr + 20);
    q->size = be64(hdr + 24);
    uint32_t crypt = be32(hdr + 32);
    q->l1_size = be32(hdr + 36);
    q->l1_off = be64(hdr + 40);
    q->rt_off = be64(hdr + 48);
    uint32_t rt_clusters = be32(hdr + 56);
    q->nb_snapshots = be32(hdr + 60);
    q->refcount_order = 4;
    q->header_length = 72;
    if (q->version != 2 && q->version != 3) {
        free(first);
        fail(err, path, "unsupported qcow2 version %u (2 and 3 are)", q->version);
        goto out;
    }
    if (q->version == 3) {
        q->incompat = be64(hdr + 72);
        q->compat = be64(hdr + 80);
        q->autoclear = be64(hdr + 88);
        q->refcount_order = be32(hdr + 96);
        q->header_length = be32(hdr + 100);
        if (q->header_length < 104 || q->header_length % 8 || q->header_length > 4096 - 8) {
            free(first);
            fail(err, path, "invalid header length %u (a multiple of 8, at least 104)",
                 q->header_length);
            goto out;
        }
        if (q->header_length > 104)
            q->compression = hdr[104];
    }
    if (q->cluster_bits < MIN_CLUSTER_BITS || q->cluster_bits > MAX_CLUSTER_BITS) {
        free(first);
        fail(err, path, "cluster_bits %u is out of range (%u to %u: 512 bytes to 2 MiB clusters)",
             q->cluster_bits, MIN_CLUSTER_BITS, MAX_CLUSTER_BITS);
        goto out;
    }
    q->cluster_size = 1ULL << q->cluster_bits;
    if (q->file_size < MIN(q->cluster_size, (uint64_t)q->header_length)) {
        free(first);
        fail(err, path, "the file is truncated (%" G_GUINT64_FORMAT " bytes, the header needs %u)",
             q->file_size, q->header_length);
        goto out;
    }

    /* Header extensions: within the first cluster, 4 KiB read here. */
    size_t feat_len = 0;
    bool data_file_ext = false, crypto_ext = false;
    uint64_t ext_end = MIN(q->cluster_size, (uint64_t)4096);
    for (uint64_t p = q->header_length; p + 8 <= ext_end;) {
        uint32_t type = be32(first + p), len = be32(first + p + 4);
        if (type == EXT_END)
            break;
        if (len > ext_end - p - 8) {
            free(first);
            fail(err, path, "header extension 0x%08x at %" G_GUINT64_FORMAT
                 " runs past the header area", type, p);
            goto out;
        }
        const uint8_t *d = first + p + 8;
        if (type == EXT_BACKING_FORMAT && !bfmt)
            bfmt = g_strndup((const char *)d, len);
        else if (type == EXT_FEATURE_TABLE && !feat)
            feat = g_memdup2(d, feat_len = len);
        else if (type == EXT_DATA_FILE)
            data_file_ext = true;
        else if (type == EXT_CRYPTO)
            crypto_ext = true;
        p += 8 + (((uint64_t)len + 7) & ~7ULL);
    }
    if (backing_off) {
        if (backing_len == 0 || backing_len > BACKING_NAME_MAX ||
            /* subtracted, not added: an offset near 2^64 would wrap */
            backing_off > MIN(q->cluster_size, (uint64_t)4096) ||
            backing_len > MIN(q->cluster_size, (uint64_t)4096) - backing_off) {
            free(first);
            fail(err, path, "the backing file name (offset %" G_GUINT64_FORMAT ", %u bytes) is "
                 "not within the header cluster or longer than %u bytes", backing_off,
                 backing_len, BACKING_NAME_MAX);
            goto out;
        }
        backing_name = g_strndup((const char *)first + backing_off, backing_len);
        if (strlen(backing_name) != backing_len) {
            free(first);
            fail(err, path, "the backing file name contains a NUL byte");
            goto out;
        }
    }
    free(first);

    if (crypt != 0 || crypto_ext) {
        fail(err, path, "the image is encrypted (%s), which vmmd does not support",
             crypt == 1 ? "AES" : crypt == 2 ? "LUKS" : "unknown method");
        goto out;
    }
    if ((q->incompat & INCOMPAT_DATA_FILE) || data_file_ext) {
        fail(err, path, "the image keeps its data in an external data file, which vmmd "
             "does not support");
        goto out;
    }
    if (q->incompat & ~INCOMPAT_KNOWN) {
        g_autofree char *names = feature_names(feat, feat_len, q->incompat & ~INCOMPAT_KNOWN);
        fail(err, path, "the image uses unknown incompatible features: %s", names);
        goto out;
    }
    if (q->refcount_order > 6 || (q->version == 2 && q->refcount_order != 4)) {
        fail(err, path, "refcount_order %u is out of range (0 to 6)", q->refcount_order);
        goto out;
    }
    bool want_zstd = q->compression == 1;
    if (q->compression > 1 || want_zstd != !!(q->incompat & INCOMPAT_COMPRESSION)) {
        fail(err, path, "invalid compression type %d (0 zlib, 1 zstd; the compression type "
             "bit must be set exactly for zstd)", q->compression);
        goto out;
    }
    q->ext_l2 = q->incompat & INCOMPAT_EXTL2;
    if (q->ext_l2 && q->cluster_bits < 14) {
        fail(err, path, "extended L2 entries need clusters of at least 16 KiB");
        goto out;
    }
    if (!q->readonly) {
        const char *why = (q->incompat & INCOMPAT_CORRUPT)
            ? "it is marked corrupt (repair it with 'qemu-img check -r all')"
            : q->nb_snapshots ? "it has internal snapshots (writing would need copy-on-write "
                                "of shared clusters, which vmmd does not do)"
            : q->ext_l2 ? "it has extended L2 entries (subclusters), which vmmd only reads"
            : NULL;
        if (why) {
            fail(err, path, "cannot be opened for writing: %s; <readonly/> works", why);
            goto out;
        }
    }

    q->l2_entry_bytes = q->ext_l2 ? 16 : 8;
    q->l2_entries = q->cluster_size / q->l2_entry_bytes;
    q->rb_entries = q->cluster_size * 8 >> q->refcount_order;
    if (q->size > (UINT64_MAX >> 2)) {
        fail(err, path, "the virtual size %" G_GUINT64_FORMAT " bytes is too big", q->size);
        goto out;
    }
    uint64_t nclusters = (q->size + q->cluster_size - 1) >> q->cluster_bits;
    uint64_t l1_needed = (nclusters + q->l2_entries - 1) / q->l2_entries;
    if (l1_needed * 8 > MAX_L1_BYTES || (uint64_t)q->l1_size * 8 > MAX_L1_BYTES) {
        fail(err, path, "the image is too big: its L1 table would exceed %u MiB "
             "(virtual size %" G_GUINT64_FORMAT " bytes)", MAX_L1_BYTES >> 20, q->size);
        goto out;
    }
    if (q->size > (uint64_t)G_MAXINT64 - q->cluster_size) {
        fail(err, path, "the virtual size %" G_GUINT64_FORMAT " bytes is too big for this host",
             q->size);
        goto out;
    }
    if (q->l1_size < l1_needed) {
        fail(err, path, "the L1 table (%u entries) is too small for the virtual size "
             "(%" G_GUINT64_FORMAT " needed)", q->l1_size, l1_needed);
        goto out;
    }
    if (rt_clusters == 0 || ((uint64_t)rt_clusters << q->cluster_bits) > MAX_REFTABLE_BYTES) {
        fail(err, path, "the refcount table size (%u clusters) is %s", rt_clusters,
             rt_clusters ? "too big" : "zero");
        goto out;
    }
    q->rt_entries = ((uint64_t)rt_clusters << q->cluster_bits) / 8;
    if ((q->l1_size && !check_table(q, q->l1_off, (uint64_t)q->l1_size * 8, "L1 table", err)) ||
        !check_table(q, q->rt_off, (uint64_t)rt_clusters << q->cluster_bits, "refcount table", err))
        goto out;

    /* Tables are read through the cluster-aligned buffers O_DIRECT wants. */
    uint64_t l1_bytes = ((uint64_t)q->l1_size * 8 + q->cluster_size - 1) & ~(q->cluster_size - 1);
    uint64_t rt_bytes = q->rt_entries * 8;
    uint8_t *tmp = alloc_aligned(MAX(l1_bytes, rt_bytes));
    if (!tmp) {
        fail(err, path, "out of memory for the L1 and refcount tables");
        goto out;
    }
    q->l1 = g_new0(uint64_t, MAX(q->l1_size, 1u));
    q->rt = g_new(uint64_t, q->rt_entries);
    r = l1_bytes ? raw_io(fd, tmp, l1_bytes, q->l1_off, false) : 0;
    for (uint32_t i = 0; r == 0 && i < q->l1_size; i++)
        q->l1[i] = be64(tmp + i * 8);
    if (r == 0)
        r = raw_io(fd, tmp, rt_bytes, q->rt_off, false);
    for (uint64_t i = 0; r == 0 && i < q->rt_entries; i++)
        q->rt[i] = be64(tmp + i * 8);
    free(tmp);
    if (r < 0) {
        fail(err, path, "cannot read the L1 or refcount table: %s", g_strerror(-r));
        goto out;
    }

    /* L2 cache: QEMU's default, enough to map the whole disk, at most
     * 32 MiB, at least two tables. */
    uint64_t l2c_bytes = MIN(l1_needed * q->cluster_size, (uint64_t)L2_CACHE_MAX_BYTES);
    q->l2c_n = (unsigned)MAX(l2c_bytes >> q->cluster_bits, (uint64_t)2);
    q->l2c = g_new0(L2Slot, q->l2c_n);
    q->l2c_index = g_hash_table_new(g_int64_hash, g_int64_equal);
    bool oom = false;
    for (unsigned i = 0; i < q->l2c_n; i++)
        oom |= !(q->l2c[i].data = alloc_aligned(q->cluster_size));
    q->rb = alloc_aligned(q->cluster_size);
    q->cbuf = alloc_aligned(2 * q->cluster_size);
    q->dbuf = alloc_aligned(q->cluster_size);
    q->scratch = alloc_aligned(q->cluster_size);
    if (oom || !q->rb || !q->cbuf || !q->dbuf || !q->scratch) {
        fail(err, path, "out of memory for its caches");
        goto out;
    }
    if (!check_tables(q, err))
        goto out;
    if (!q->readonly && (q->incompat & INCOMPAT_DIRTY) && !repair_refcounts(q, err))
        goto out;
    if (count_allocated(q) < 0) {
        fail(err, path, "cannot read its refcount blocks");
        goto out;
    }

    /* Backing file: the caller's chain first, else the header's. */
    const VmmImageBacking *given = opts->backing;
    if (given && !given->none && given->path) {
        if (!open_backing(q, given->path, given->format, given->next, seen, depth, err))
            goto out;
    } else if (!(given && given->none) && backing_name) {
        VmmImageFormat f = VMM_IMAGE_FORMAT_AUTO;
        if (bfmt) {
            if (strcmp(bfmt, "raw") == 0) {
                f = VMM_IMAGE_FORMAT_RAW;
            } else if (strcmp(bfmt, "qcow2") == 0) {
                f = VMM_IMAGE_FORMAT_QCOW2;
            } else {
                g_autofree char *esc = g_strescape(bfmt, NULL);
                fail(err, path, "backing file format '%s' is not supported (raw and qcow2 are)",
                     esc);
                goto out;
            }
        }
        if (!open_backing(q, backing_name, f, NULL, seen, depth, err))
            goto out;
    }

    /* Writers clear the auto-clear bits they do not know (all of them:
     * bitmaps are not kept up to date here), as the format requires. */
    if (!q->readonly && q->autoclear) {
        uint8_t z[8] = { 0 };
        r = file_io(q, z, 8, 88, true);
        if (r == 0)
            r = meta_flush(q);
        if (r < 0) {
            fail(err, path, "cannot clear the auto-clear feature bits: %s", g_strerror(-r));
            goto out;
        }
        q->autoclear = 0;
    }
    return q;

out:
    q->fd = -1;
    vmm_qcow2_close(q);
    return NULL;
}

VmmQcow2 *vmm_qcow2_open(int fd, const char *path, const VmmQcow2Options *opts,
                         GError **err)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    struct stat st;
    if (fstat(fd, &st) == 0)
        g_hash_table_add(seen, g_strdup_printf("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT,
                                               (guint64)st.st_dev, (guint64)st.st_ino));
    return open_chain(fd, path, opts, seen, 0, err);
}
