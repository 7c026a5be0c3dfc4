/* virtio-blk driver of the guest kit (blk.c), used by test=blk,
 * test=blk-hostile (test_blk.c) and test=blk-bench (test_blkbench.c). */
#ifndef GK_BLK_H
#define GK_BLK_H

#include "virtio.h"

/* feature bits (virtio 1.2, 5.2.3) */
#define VIRTIO_BLK_F_SIZE_MAX	1
#define VIRTIO_BLK_F_SEG_MAX	2
#define VIRTIO_BLK_F_GEOMETRY	4
#define VIRTIO_BLK_F_RO		5
#define VIRTIO_BLK_F_BLK_SIZE	6
#define VIRTIO_BLK_F_FLUSH	9
#define VIRTIO_BLK_F_TOPOLOGY	10
#define VIRTIO_BLK_F_CONFIG_WCE	11
#define VIRTIO_BLK_F_MQ		12
#define VIRTIO_BLK_F_DISCARD	13
#define VIRTIO_BLK_F_WRITE_ZEROES 14
#define VIRTIO_BLK_F_LIFETIME	15
#define VIRTIO_BLK_F_SECURE_ERASE 16
#define VIRTIO_BLK_F_ZONED	17

/* request types and status */
#define VIRTIO_BLK_T_IN		0
#define VIRTIO_BLK_T_OUT	1
#define VIRTIO_BLK_T_FLUSH	4
#define VIRTIO_BLK_T_GET_ID	8
#define VIRTIO_BLK_T_DISCARD	11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK		0
#define VIRTIO_BLK_S_IOERR	1
#define VIRTIO_BLK_S_UNSUPP	2
#define VIRTIO_BLK_ID_BYTES	20

/* configuration layout offsets */
#define BLKCFG_CAPACITY		0
#define BLKCFG_SIZE_MAX		8
#define BLKCFG_SEG_MAX		12
#define BLKCFG_BLK_SIZE		20
#define BLKCFG_WRITEBACK	32
#define BLKCFG_NUM_QUEUES	34
#define BLKCFG_MAX_DISCARD_SECTORS 36
#define BLKCFG_MAX_DISCARD_SEG	40
#define BLKCFG_DISCARD_ALIGN	44
#define BLKCFG_MAX_WZ_SECTORS	48
#define BLKCFG_MAX_WZ_SEG	52
#define BLKCFG_WZ_MAY_UNMAP	56

/* blk_req results below 0 */
#define BLK_TIMEOUT		(-1)
#define BLK_NEEDS_RESET		(-2)
#define BLK_NO_DESC		(-3)
#define BLK_BAD_USED		(-4)
#define BLK_BROKEN		(-5)	/* an earlier request timed out / needed a reset */

struct blk_hdr {
	u32 type;
	u32 reserved;
	u64 sector;
};
struct blk_dwz {			/* discard / write zeroes segment */
	u64 sector;
	u32 num_sectors;
	u32 flags;			/* bit 0: unmap */
};

struct blk {
	struct vdev *v;
	int disk;			/* index among the virtio-blk devices */
	u64 capacity;			/* 512-byte sectors */
	u32 blk_size, size_max, seg_max;
	u16 num_queues;			/* queues in use */
	u32 max_discard_sectors, max_discard_seg, discard_align;
	u32 max_wz_sectors, max_wz_seg;
	u8 wz_may_unmap;
	int wce;			/* 1 writeback, 0 writethrough */
	const char *wce_src;		/* "config" (CONFIG_WCE), "flush" (assumed), "none" */
	bool ro;			/* VIRTIO_BLK_F_RO negotiated */
	u8 *scratch;			/* 4 KiB per queue: header, status, indirect table */
	u64 timeout_ms;
	u32 last_used_len;
	int broken;			/* 0, or the result that broke the queue */
};

extern bool blk_poll;			/* poll=1 */
extern u64 blk_nofeat;			/* nofeat=BIT,BIT...: never negotiated */
void blk_cmdline(void);			/* poll=, nofeat=, timeout_ms= */
u64 blk_wanted(void);
/* Reset, negotiate, read the configuration, set up nq queues (0: all the
 * device has, up to VQ_MAX), DRIVER_OK. */
bool blk_open(struct blk *b, struct vdev *v, int disk, u16 nq);
void blk_features_json(struct ob *o, const char *key, u64 f);
/* One request on queue qi: header, data buffers, status; waits for it.
 * Returns the status byte, or BLK_TIMEOUT / BLK_NEEDS_RESET / ... */
int blk_req(struct blk *b, int qi, u32 type, u64 sector, const struct vbuf *data, int n, bool indirect);
/* The same with a caller-built chain (status at *status, preset to 0xff). */
int blk_raw(struct blk *b, int qi, const struct vbuf *bufs, int n, bool indirect, volatile u8 *status);
const char *blk_status_name(int s);
/* split [addr, addr+len) into up to max buffers, following sizes[] (cycled)
 * and size_max; returns the count */
int blk_segs(struct blk *b, struct vbuf *out, int max, u64 addr, u32 len, bool write,
	     const u32 *sizes, int nsizes);

#endif
