/* qcow2 images (QEMU's docs/interop/qcow2.txt), versions 2 and 3, read and
 * written natively, with backing chains of raw or qcow2 files.
 *
 * Every operation is synchronous (pread/pwrite on the image's fd); block.c
 * runs them on its pool threads, except reads and in-place writes of
 * clusters whose tables are cached, which vmm_qcow2_map() lets block.c send
 * straight to the image file through the disk's I/O engine. Reads of data run in parallel (a mutex
 * covers only the table lookups); writes, discards and write-zeroes, which
 * allocate and free clusters, run alone.
 * Metadata is written through (no dirty metadata cache), in an order that
 * keeps the image consistent after a crash: a new cluster's refcount is on
 * disk (flushed) before any L2 entry points at it, a new L2 table before the
 * L1 entry, and an L2 entry is cleared (and flushed) before the refcount of
 * the cluster it referenced drops. A crash can leak clusters, never corrupt.
 * Free clusters are reserved in runs (refcounts of up to 64 clusters, 4 MiB,
 * written and flushed at once) and handed out from the run without a
 * refcount write or flush: one ordering flush serves many allocating
 * writes, and a crash leaks at most the run's unused rest, which close
 * gives back. */
#ifndef VMM_QCOW2_H
#define VMM_QCOW2_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"

typedef struct VmmQcow2 VmmQcow2;

typedef struct {
    bool readonly;
    bool direct;              /* fd has O_DIRECT: I/O aligned to align */
    size_t align;             /* O_DIRECT offset/length/buffer alignment */
    bool flush_metadata;      /* false for cache='unsafe': no ordering flushes */
    bool discard_unmap;       /* discard='unmap': freed clusters punched out */
    const VmmImageBacking *backing;  /* NULL: from the header */
} VmmQcow2Options;

/* True when the first bytes of fd are the qcow2 magic. */
bool vmm_qcow2_probe(int fd);

/* Opens the image on fd (not taken over; the caller keeps it open until
 * close). path names the image in errors and resolves a relative backing
 * file name. Validates the header and metadata tables; any problem is an
 * error naming the file and what is wrong. */
VmmQcow2 *vmm_qcow2_open(int fd, const char *path, const VmmQcow2Options *opts,
                         GError **err);
void vmm_qcow2_close(VmmQcow2 *q);

uint64_t vmm_qcow2_size(VmmQcow2 *q);          /* virtual size, bytes */
/* The ordering flushes (fdatasync of the image) done so far, not counting
 * vmm_qcow2_flush(); any thread. */
uint64_t vmm_qcow2_metadata_flushes(VmmQcow2 *q);
/* Bytes of the image file in use: the host clusters allocated (refcount
 * non-zero), counted at open and kept up to date; any thread. */
uint64_t vmm_qcow2_allocation(VmmQcow2 *q);

/* 0 or -errno (-EIO for corrupt metadata met at run time, logged once with
 * the file and what is wrong). Ranges must lie within the virtual size. */
int vmm_qcow2_read(VmmQcow2 *q, void *buf, uint64_t len, uint64_t off);
int vmm_qcow2_write(VmmQcow2 *q, const void *buf, uint64_t len, uint64_t off);
/* Whole clusters in the range are deallocated (v3: they read as zeroes,
 * as QEMU does), partial clusters are left alone (discard is a hint). */
int vmm_qcow2_discard(VmmQcow2 *q, uint64_t len, uint64_t off);
/* may_unmap: whole clusters may lose their host allocation. */
int vmm_qcow2_write_zeroes(VmmQcow2 *q, uint64_t len, uint64_t off, bool may_unmap);
int vmm_qcow2_flush(VmmQcow2 *q);

typedef enum {
    VMM_QCOW2_MAP_SLOW,   /* needs vmm_qcow2_read/write (pool threads) */
    VMM_QCOW2_MAP_HOST,   /* *host: one contiguous range of the image file */
    VMM_QCOW2_MAP_ZERO,   /* reads as zeroes (reads only) */
} VmmQcow2Map;

/* Maps [off, off+len) from the cached tables without blocking or I/O (any
 * thread): MAP_HOST when all of it is data in allocated clusters of this
 * image (writes: not shared, so written in place) in consecutive host
 * clusters, aligned for O_DIRECT; MAP_ZERO when all of it reads as zeroes.
 * After MAP_HOST the caller transfers the range on the image's fd itself
 * and then calls vmm_qcow2_map_done(): until then no cluster of the range
 * is freed. */
VmmQcow2Map vmm_qcow2_map(VmmQcow2 *q, uint64_t off, uint64_t len, bool write,
                          uint64_t *host);
void vmm_qcow2_map_done(VmmQcow2 *q);

#endif
