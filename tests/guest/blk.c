/* virtio-blk driver (virtio 1.2 section 5.2) on top of virtio.c. */
#include "blk.h"

bool blk_poll;
u64 blk_nofeat;
static u64 timeout_default = 5000;

static const char *const blk_feat[] = {
	[VIRTIO_BLK_F_SIZE_MAX] = "SIZE_MAX", [VIRTIO_BLK_F_SEG_MAX] = "SEG_MAX",
	[VIRTIO_BLK_F_GEOMETRY] = "GEOMETRY", [VIRTIO_BLK_F_RO] = "RO",
	[VIRTIO_BLK_F_BLK_SIZE] = "BLK_SIZE", [VIRTIO_BLK_F_FLUSH] = "FLUSH",
	[VIRTIO_BLK_F_TOPOLOGY] = "TOPOLOGY", [VIRTIO_BLK_F_CONFIG_WCE] = "CONFIG_WCE",
	[VIRTIO_BLK_F_MQ] = "MQ", [VIRTIO_BLK_F_DISCARD] = "DISCARD",
	[VIRTIO_BLK_F_WRITE_ZEROES] = "WRITE_ZEROES", [VIRTIO_BLK_F_LIFETIME] = "LIFETIME",
	[VIRTIO_BLK_F_SECURE_ERASE] = "SECURE_ERASE", [VIRTIO_BLK_F_ZONED] = "ZONED",
};

void blk_cmdline(void)
{
	char v[64];
	blk_poll = cmdline_get("poll", v, sizeof(v)) && strcmp(v, "0");
	if (cmdline_get("timeout_ms", v, sizeof(v)) && strtou64(v, NULL))
		timeout_default = strtou64(v, NULL);
	blk_nofeat = 0;
	if (cmdline_get("nofeat", v, sizeof(v))) {
		const char *s = v;
		while (*s) {
			const char *e;
			u64 bit = strtou64(s, &e);
			if (e == s)
				break;
			if (bit < 64)
				blk_nofeat |= BIT(bit);
			s = *e == ',' ? e + 1 : e;
		}
	}
}

u64 blk_wanted(void)
{
	/* what the brief asks for, plus SIZE_MAX (the kit honours size_max)
	 * and CONFIG_WCE (so that "writeback" can be read legitimately) */
	u64 w = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) |
		BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_MQ) | BIT(VIRTIO_BLK_F_DISCARD) |
		BIT(VIRTIO_BLK_F_WRITE_ZEROES) | BIT(VIRTIO_BLK_F_RO) | BIT(VIRTIO_BLK_F_BLK_SIZE) |
		BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_SIZE_MAX) | BIT(VIRTIO_BLK_F_CONFIG_WCE);
	return (w & ~blk_nofeat) | BIT(VIRTIO_F_VERSION_1);
}

void blk_features_json(struct ob *o, const char *key, u64 f)
{
	ob_printf(o, ",\"%s\":\"0x%llx\",\"%s_names\":[", key, (unsigned long long)f, key);
	const char *sep = "";
	for (int i = 0; i < 64; i++) {
		if (!(f & BIT(i)))
			continue;
		const char *n = i < (int)ARRAY_SIZE(blk_feat) ? blk_feat[i] : NULL;
		if (!n)
			n = virtio_feature_name(i);
		if (n)
			ob_printf(o, "%s\"%s\"", sep, n);
		else
			ob_printf(o, "%s\"bit%d\"", sep, i);
		sep = ",";
	}
	ob_printf(o, "]");
}

bool blk_open(struct blk *b, struct vdev *v, int disk, u16 nq)
{
	struct vdev *d = v;
	memset(b, 0, sizeof(*b));
	b->v = v;
	b->disk = disk;
	b->timeout_ms = timeout_default;
	d->poll = blk_poll;
	if (!d->common || !d->devcfg) {
		if (!d->err)
			d->err = "no device configuration capability";
		return false;
	}
	if (!virtio_reset(d) || !virtio_negotiate(d, blk_wanted()))
		return false;
	u64 f = d->features;
	u32 cl = d->devcfg_len;
	b->capacity = vcfg64(d, BLKCFG_CAPACITY);
	b->size_max = (f & BIT(VIRTIO_BLK_F_SIZE_MAX)) && cl >= 12 ? vcfg32(d, BLKCFG_SIZE_MAX) : 0;
	b->seg_max = (f & BIT(VIRTIO_BLK_F_SEG_MAX)) && cl >= 16 ? vcfg32(d, BLKCFG_SEG_MAX) : 0;
	b->blk_size = (f & BIT(VIRTIO_BLK_F_BLK_SIZE)) && cl >= 24 ? vcfg32(d, BLKCFG_BLK_SIZE) : 512;
	u16 mq = (f & BIT(VIRTIO_BLK_F_MQ)) && cl >= 36 ? vcfg16(d, BLKCFG_NUM_QUEUES) : 1;
	if (f & BIT(VIRTIO_BLK_F_DISCARD) && cl >= 48) {
		b->max_discard_sectors = vcfg32(d, BLKCFG_MAX_DISCARD_SECTORS);
		b->max_discard_seg = vcfg32(d, BLKCFG_MAX_DISCARD_SEG);
		b->discard_align = vcfg32(d, BLKCFG_DISCARD_ALIGN);
	}
	if (f & BIT(VIRTIO_BLK_F_WRITE_ZEROES) && cl >= 57) {
		b->max_wz_sectors = vcfg32(d, BLKCFG_MAX_WZ_SECTORS);
		b->max_wz_seg = vcfg32(d, BLKCFG_MAX_WZ_SEG);
		b->wz_may_unmap = vcfg8(d, BLKCFG_WZ_MAY_UNMAP);
	}
	/* writeback may only be read after FEATURES_OK (5.2.5.1) */
	if ((f & BIT(VIRTIO_BLK_F_CONFIG_WCE)) && cl >= 33) {
		b->wce = vcfg8(d, BLKCFG_WRITEBACK);
		b->wce_src = "config";
	} else if (f & BIT(VIRTIO_BLK_F_FLUSH)) {
		b->wce = 1;
		b->wce_src = "flush";
	} else {
		b->wce = 0;
		b->wce_src = "none";
	}
	b->ro = f & BIT(VIRTIO_BLK_F_RO);
	if (!mq)
		mq = 1;
	if (mq > d->max_queues)
		mq = d->max_queues;
	if (mq > VQ_MAX)
		mq = VQ_MAX;
	if (!nq || nq > mq)
		nq = mq;
	b->num_queues = nq;
	if (!b->scratch) {
		/* one page per queue the device could ever be opened with */
		b->scratch = page_alloc(4096ull * VQ_MAX);
		if (!b->scratch) {
			d->err = "out of memory";
			return false;
		}
	}
	if (!virtio_setup_queues(d, nq)) {
		virtio_fail(d);
		return false;
	}
	virtio_driver_ok(d);
	return true;
}

const char *blk_status_name(int s)
{
	switch (s) {
	case VIRTIO_BLK_S_OK: return "ok";
	case VIRTIO_BLK_S_IOERR: return "ioerr";
	case VIRTIO_BLK_S_UNSUPP: return "unsupp";
	case BLK_TIMEOUT: return "timeout";
	case BLK_NEEDS_RESET: return "needs_reset";
	case BLK_NO_DESC: return "no_descriptors";
	case BLK_BAD_USED: return "bad_used_id";
	case BLK_BROKEN: return "not-run-device-broken";
	}
	return "other";
}

int blk_raw(struct blk *b, int qi, const struct vbuf *bufs, int n, bool indirect, volatile u8 *status)
{
	struct vq *q = &b->v->q[qi];
	volatile struct vring_desc *itab = indirect ? (volatile struct vring_desc *)(b->scratch + 4096 * qi + 512) : NULL;
	if (b->broken)
		return BLK_BROKEN;		/* do not stack timeouts on a dead device */
	if (indirect && n > 224)
		return BLK_NO_DESC;
	*status = 0xff;
	switch (vq_submit_wait(q, bufs, n, itab, b->timeout_ms, &b->last_used_len)) {
	case VQ_DONE:
		return *status;
	case VQ_NO_DESC:
		return BLK_NO_DESC;
	case VQ_TIMEOUT:
		return b->broken = BLK_TIMEOUT;
	case VQ_RESET:
		return b->broken = BLK_NEEDS_RESET;
	default:
		return b->broken = BLK_BAD_USED;
	}
}

int blk_req(struct blk *b, int qi, u32 type, u64 sector, const struct vbuf *data, int n, bool indirect)
{
	struct vbuf bufs[72];
	u8 *s = b->scratch + 4096 * qi;
	struct blk_hdr *h = (struct blk_hdr *)s;
	volatile u8 *status = s + 64;
	if (n > 64)
		return BLK_NO_DESC;
	h->type = type;
	h->reserved = 0;
	h->sector = sector;
	bufs[0] = (struct vbuf){ (u64)h, sizeof(*h), false };
	for (int i = 0; i < n; i++)
		bufs[1 + i] = data[i];
	bufs[1 + n] = (struct vbuf){ (u64)status, 1, true };
	return blk_raw(b, qi, bufs, n + 2, indirect, status);
}

int blk_segs(struct blk *b, struct vbuf *out, int max, u64 addr, u32 len, bool write,
	     const u32 *sizes, int nsizes)
{
	int n = 0;
	u32 lim = b->v->features & BIT(VIRTIO_BLK_F_SIZE_MAX) && b->size_max ? b->size_max : ~0u;
	if (b->seg_max && (u32)max > b->seg_max)
		max = (int)b->seg_max;
	while (len && n < max) {
		u32 s = nsizes ? sizes[n % nsizes] : len;
		if (!s || s > len || n + 1 == max)
			s = len;
		if (s > lim)
			s = lim;
		out[n++] = (struct vbuf){ addr, s, write };
		addr += s;
		len -= s;
	}
	return len ? -1 : n;
}
