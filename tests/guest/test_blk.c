/* test=blk and test=blk-hostile: virtio-blk conformance and robustness.
 *
 * test=blk [disk=N] [serial=ID|ID0,ID1,..] [ro=1|R0,R1,..] [poll=1] [nofeat=B,B]
 *          [timeout_ms=MS] [msix=0] [seed=N]
 *   on every virtio-blk device (or only the N-th, 0-based, in PCI order):
 *   configuration and features, pattern writes and read-back across the
 *   disk, multi-descriptor / indirect / unaligned / any-layout buffers,
 *   FLUSH, WRITE_ZEROES, DISCARD, GET_ID, read-only, every queue of MQ,
 *   requests beyond capacity, unknown request types, interrupts.
 * test=blk-resize [resize_ms=MS] [resize_io=0]
 *   the first disk grown by the host while the kit waits: its capacity
 *   before and after the configuration interrupt, and (unless resize_io=0,
 *   for a back end that serves no I/O) the new last sector written and
 *   read back.
 * test=blk-hostile [disk=N] [hostile_ms=MS]
 *   malformed queues against one device; after each a reset, a full
 *   re-initialisation and a read that must succeed. */
#include "blk.h"

#define BUF_BYTES (512u * 1024)

static u64 seed;
static u8 *wbuf, *rbuf;
static u64 rng_state;

static u64 mix64(u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* 8 bytes per word, a function of (seed, disk, sector, word) */
static void pat_fill(u8 *p, u64 sector, u32 nsec, int disk)
{
	for (u32 s = 0; s < nsec; s++)
		for (u32 w = 0; w < 64; w++) {
			u64 v = mix64(seed ^ (u64)disk << 56 ^ (sector + s) << 6 ^ w);
			__builtin_memcpy(p + 512 * s + 8 * w, &v, 8);
		}
}

/* -1: matches; else the first differing byte offset */
static long pat_check(const u8 *p, u64 sector, u32 nsec, int disk)
{
	for (u32 s = 0; s < nsec; s++)
		for (u32 w = 0; w < 64; w++) {
			u64 v = mix64(seed ^ (u64)disk << 56 ^ (sector + s) << 6 ^ w), g;
			__builtin_memcpy(&g, p + 512 * s + 8 * w, 8);
			if (g != v)
				return 512 * s + 8 * w;
		}
	return -1;
}

static bool all_zero(const u8 *p, u32 n)
{
	for (u32 i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void bcheck(struct blk *b, const char *name, bool ok, const char *fmt, ...) FMT(4, 5);
static void bcheck(struct blk *b, const char *name, bool ok, const char *fmt, ...)
{
	char extra[1536], line[2048];
	struct ob o;
	va_list ap;
	va_start(ap, fmt);
	vfmt(extra, sizeof(extra), fmt, ap);
	va_end(ap);
	ob_init(&o, line, sizeof(line));
	check_begin(&o, name, ok);
	ob_printf(&o, ",\"disk\":%d,\"device\":\"%s\"%s", b->disk, b->v->bdf, extra);
	check_end(&o);
}

static void bskip(struct blk *b, const char *name, const char *reason)
{
	out("{\"check\":\"%s\",\"skip\":true,\"reason\":\"%s\",\"disk\":%d,\"device\":\"%s\"}", name, reason,
	    b->disk, b->v->bdf);
}

static int xfer(struct blk *b, int qi, u32 type, u64 sector, u32 nsec, u8 *buf)
{
	struct vbuf v[64];
	int n = blk_segs(b, v, 64, (u64)buf, nsec * 512, type == VIRTIO_BLK_T_IN, NULL, 0);
	if (n < 0)
		return BLK_NO_DESC;
	return blk_req(b, qi, type, sector, v, n, false);
}
static int wr(struct blk *b, int qi, u64 sector, u32 nsec, u8 *buf) { return xfer(b, qi, VIRTIO_BLK_T_OUT, sector, nsec, buf); }
static int rd(struct blk *b, int qi, u64 sector, u32 nsec, u8 *buf) { return xfer(b, qi, VIRTIO_BLK_T_IN, sector, nsec, buf); }

static bool common_setup(void)
{
	blk_cmdline();
	if (!wbuf) {
		wbuf = page_alloc(BUF_BYTES + 4096);
		rbuf = page_alloc(BUF_BYTES + 4096);
	}
	if (!wbuf || !rbuf) {
		check("blk_memory", false, ",\"error\":\"no RAM after the kit for buffers\"");
		return false;
	}
	/* seed=N makes the run repeatable: the same writes on two disks
	 * (a qcow2 and a raw image) leave the same contents. */
	char v[32];
	seed = cmdline_get("seed", v, sizeof(v)) ? mix64(strtou64(v, NULL)) : mix64(rdtsc());
	rng_state = seed | 1;
	return true;
}

static void report_open(struct blk *b, bool ok)
{
	char line[2048];
	struct ob o;
	struct vdev *d = b->v;
	ob_init(&o, line, sizeof(line));
	check_begin(&o, "blk_init", ok);
	ob_printf(&o, ",\"disk\":%d,\"device\":\"%s\"", b->disk, d->bdf);
	if (!ok) {
		ob_printf(&o, ",\"error\":");
		ob_jstr(&o, d->err ? d->err : "?");
		ob_printf(&o, ",\"status\":\"0x%02x\"", d->common ? virtio_status(d) : 0);
		blk_features_json(&o, "features_offered", d->offered);
		check_end(&o);
		return;
	}
	ob_printf(&o, ",\"capacity\":%llu,\"capacity_mib\":%llu,\"blk_size\":%u,\"size_max\":%u,\"seg_max\":%u",
		  (unsigned long long)b->capacity, (unsigned long long)(b->capacity >> 11), b->blk_size,
		  b->size_max, b->seg_max);
	ob_printf(&o, ",\"num_queues\":%u,\"device_queues\":%u,\"queue_size\":%u,\"wce\":%d,\"wce_source\":\"%s\",\"ro\":%s",
		  b->num_queues, d->max_queues, d->q[0].size, b->wce, b->wce_src, b->ro ? "true" : "false");
	ob_printf(&o, ",\"msix\":%s,\"msix_vectors\":%u,\"event_idx\":%s,\"indirect\":%s,\"poll\":%s",
		  d->msix_ok ? "true" : "false", d->msix_ok ? d->nvec : 0, d->event_idx ? "true" : "false",
		  d->indirect ? "true" : "false", d->poll ? "true" : "false");
	if (d->features & BIT(VIRTIO_BLK_F_DISCARD))
		ob_printf(&o, ",\"max_discard_sectors\":%u,\"max_discard_seg\":%u,\"discard_sector_alignment\":%u",
			  b->max_discard_sectors, b->max_discard_seg, b->discard_align);
	if (d->features & BIT(VIRTIO_BLK_F_WRITE_ZEROES))
		ob_printf(&o, ",\"max_write_zeroes_sectors\":%u,\"max_write_zeroes_seg\":%u,\"write_zeroes_may_unmap\":%u",
			  b->max_wz_sectors, b->max_wz_seg, b->wz_may_unmap);
	blk_features_json(&o, "features_offered", d->offered);
	blk_features_json(&o, "features", d->features);
	check_end(&o);
}

/* --- test=blk --------------------------------------------------------- */

static void t_rw_pattern(struct blk *b)
{
	struct { u64 s; u32 n; } req[40];
	int nr = 0, werr = 0, rerr = 0, bad = 0;
	u64 cap = b->capacity, bytes = 0;
	char first[160] = "";
#define ADD(S, N) do { u64 s_ = (S); u32 n_ = (N); \
		if (n_ && n_ <= cap && s_ <= cap - n_ && n_ * 512 <= BUF_BYTES && nr < 40) \
			req[nr].s = s_, req[nr].n = n_, nr++; } while (0)
	ADD(0, 1);
	ADD(1, 7);
	ADD(cap / 2 - 4, 8);
	ADD(cap / 2 + 4, 1);
	ADD(cap - 1, 1);
	ADD(cap - 16, 15);
	if (cap > 1024)
		ADD(rnd() % (cap - 256), 256);		/* 128 KiB */
	for (int i = 0; i < 16 && cap > 64; i++) {
		u32 n = 1 + (u32)(rnd() % 64);
		ADD(rnd() % (cap - n + 1), n);
	}
#undef ADD
	for (int i = 0; i < nr; i++) {
		pat_fill(wbuf, req[i].s, req[i].n, b->disk);
		int st = wr(b, i % b->num_queues, req[i].s, req[i].n, wbuf);
		if (st != VIRTIO_BLK_S_OK && !werr++)
			sfmt(first, sizeof(first), "{\"op\":\"write\",\"sector\":%llu,\"sectors\":%u,\"status\":\"%s\"}",
			     (unsigned long long)req[i].s, req[i].n, blk_status_name(st));
		bytes += 512ull * req[i].n;
	}
	for (int i = 0; i < nr; i++) {
		memset(rbuf, 0xa5, 512 * req[i].n);
		int st = rd(b, (i + 1) % b->num_queues, req[i].s, req[i].n, rbuf);
		long at = st == VIRTIO_BLK_S_OK ? pat_check(rbuf, req[i].s, req[i].n, b->disk) : -1;
		if (st != VIRTIO_BLK_S_OK) {
			if (!werr && !rerr)
				sfmt(first, sizeof(first), "{\"op\":\"read\",\"sector\":%llu,\"sectors\":%u,\"status\":\"%s\"}",
				     (unsigned long long)req[i].s, req[i].n, blk_status_name(st));
			rerr++;
		} else if (at >= 0) {
			if (!werr && !rerr && !bad)
				sfmt(first, sizeof(first), "{\"op\":\"compare\",\"sector\":%llu,\"sectors\":%u,\"offset\":%ld}",
				     (unsigned long long)req[i].s, req[i].n, at);
			bad++;
		}
	}
	bcheck(b, "blk_rw_pattern", nr > 0 && !werr && !rerr && !bad,
	       ",\"requests\":%d,\"bytes\":%llu,\"write_errors\":%d,\"read_errors\":%d,\"mismatches\":%d,\"first_failure\":%s",
	       nr, (unsigned long long)bytes, werr, rerr, bad, first[0] ? first : "null");
}

/* an 8 KiB write and read-back through differently split buffers */
static void t_split(struct blk *b, const char *name, bool indirect, u64 sector)
{
	static const u32 ws[] = { 1000, 3096, 512, 3584 }, rs[] = { 4096, 100, 3996 }, is[] = { 512, 1536, 2048, 4096 };
	struct vbuf v[8];
	sector &= ~7ull;
	pat_fill(wbuf, sector, 16, b->disk);
	int nw = indirect ? blk_segs(b, v, 4, (u64)wbuf, 8192, false, is, 4)
			  : blk_segs(b, v, 4, (u64)wbuf, 8192, false, ws, 4);
	int st1 = nw > 0 ? blk_req(b, 0, VIRTIO_BLK_T_OUT, sector, v, nw, indirect) : BLK_NO_DESC;
	memset(rbuf, 0x5a, 8192);
	int nrd = blk_segs(b, v, 3, (u64)rbuf, 8192, true, rs, 3);
	int st2 = nrd > 0 ? blk_req(b, 0, VIRTIO_BLK_T_IN, sector, v, nrd, indirect) : BLK_NO_DESC;
	long at = st2 == VIRTIO_BLK_S_OK ? pat_check(rbuf, sector, 16, b->disk) : -1;
	bcheck(b, name, st1 == VIRTIO_BLK_S_OK && st2 == VIRTIO_BLK_S_OK && at < 0,
	       ",\"sector\":%llu,\"write_segments\":%d,\"read_segments\":%d,\"write\":\"%s\",\"read\":\"%s\",\"mismatch_at\":%ld,\"read_used_len\":%u",
	       (unsigned long long)sector, nw, nrd, blk_status_name(st1), blk_status_name(st2), at, b->last_used_len);
}

static void t_unaligned(struct blk *b, u64 sector)
{
	u8 *w = wbuf + 3, *r = rbuf + 1001;
	pat_fill(w, sector, 3, b->disk);
	int st1 = wr(b, 0, sector, 3, w);
	memset(r, 0x11, 1536);
	int st2 = rd(b, 0, sector, 3, r);
	long at = st2 == VIRTIO_BLK_S_OK ? pat_check(r, sector, 3, b->disk) : -1;
	bcheck(b, "blk_unaligned_buffer", st1 == VIRTIO_BLK_S_OK && st2 == VIRTIO_BLK_S_OK && at < 0,
	       ",\"sector\":%llu,\"write_buf\":\"0x%llx\",\"read_buf\":\"0x%llx\",\"write\":\"%s\",\"read\":\"%s\",\"mismatch_at\":%ld",
	       (unsigned long long)sector, (unsigned long long)(u64)w, (unsigned long long)(u64)r,
	       blk_status_name(st1), blk_status_name(st2), at);
}

/* virtio 1.x: the device must not assume a particular arrangement of
 * descriptors (2.7.4): header and data in one buffer, data and status
 * in one buffer */
static void t_any_layout(struct blk *b, u64 sector)
{
	struct vbuf v[2];
	u8 *wb = wbuf + 65536, *rb = rbuf + 65536;
	struct blk_hdr *h = (struct blk_hdr *)wb;
	volatile u8 *st = wb + 16 + 1024 + 64;
	h->type = VIRTIO_BLK_T_OUT;
	h->reserved = 0;
	h->sector = sector;
	pat_fill(wb + 16, sector, 2, b->disk);
	v[0] = (struct vbuf){ (u64)wb, 16 + 1024, false };
	v[1] = (struct vbuf){ (u64)st, 1, true };
	int s1 = blk_raw(b, 0, v, 2, false, st);
	struct blk_hdr *rh = (struct blk_hdr *)(rb + 4096);
	rh->type = VIRTIO_BLK_T_IN;
	rh->reserved = 0;
	rh->sector = sector;
	memset(rb, 0x77, 1025);
	v[0] = (struct vbuf){ (u64)rh, 16, false };
	v[1] = (struct vbuf){ (u64)rb, 1024 + 1, true };
	int s2 = blk_raw(b, 0, v, 2, false, rb + 1024);
	long at = s2 == VIRTIO_BLK_S_OK ? pat_check(rb, sector, 2, b->disk) : -1;
	bcheck(b, "blk_any_layout", s1 == VIRTIO_BLK_S_OK && s2 == VIRTIO_BLK_S_OK && at < 0,
	       ",\"sector\":%llu,\"write_hdr_plus_data\":\"%s\",\"read_data_plus_status\":\"%s\",\"mismatch_at\":%ld",
	       (unsigned long long)sector, blk_status_name(s1), blk_status_name(s2), at);
}

static int dwz(struct blk *b, u32 type, u64 sector, u32 n, u32 flags)
{
	struct blk_dwz *seg = (struct blk_dwz *)(wbuf + BUF_BYTES);	/* spare page */
	seg->sector = sector;
	seg->num_sectors = n;
	seg->flags = flags;
	struct vbuf v = { (u64)seg, sizeof(*seg), false };
	return blk_req(b, 0, type, 0, &v, 1, false);
}

static void t_write_zeroes(struct blk *b, u64 sector)
{
	u32 n = 8;
	if (b->max_wz_sectors && b->max_wz_sectors < n)
		n = b->max_wz_sectors;
	sector &= ~7ull;
	pat_fill(wbuf, sector, 16, b->disk);
	int s0 = wr(b, 0, sector, 16, wbuf);
	int s1 = dwz(b, VIRTIO_BLK_T_WRITE_ZEROES, sector + 4, n, 0);
	memset(rbuf, 0x33, 8192);
	int s2 = rd(b, 0, sector, 16, rbuf);
	bool ok = s0 == 0 && s1 == 0 && s2 == 0 && pat_check(rbuf, sector, 4, b->disk) < 0 &&
		  all_zero(rbuf + 2048, 512 * n) &&
		  pat_check(rbuf + 2048 + 512 * n, sector + 4 + n, 12 - n, b->disk) < 0;
	int s3 = -100, s4 = -100;
	bool ok2 = true;
	if (b->wz_may_unmap) {				/* again with unmap set */
		wr(b, 0, sector, 16, wbuf);
		s3 = dwz(b, VIRTIO_BLK_T_WRITE_ZEROES, sector + 4, n, 1);
		memset(rbuf, 0x33, 8192);
		s4 = rd(b, 0, sector, 16, rbuf);
		ok2 = s3 == 0 && s4 == 0 && all_zero(rbuf + 2048, 512 * n) &&
		      pat_check(rbuf, sector, 4, b->disk) < 0;
	}
	bcheck(b, "blk_write_zeroes", ok && ok2,
	       ",\"sector\":%llu,\"sectors\":%u,\"status\":\"%s\",\"reads_zero\":%s,\"neighbours_intact\":%s,\"unmap_variant\":\"%s\",\"unmap_reads_zero\":%s",
	       (unsigned long long)(sector + 4), n, blk_status_name(s1),
	       s2 == 0 && all_zero(rbuf + 2048, 512 * n) ? "true" : "false", ok ? "true" : "false",
	       s3 == -100 ? "not-run" : blk_status_name(s3), ok2 ? "true" : "false");
}

static void t_discard(struct blk *b, u64 sector)
{
	u64 al = b->discard_align ? b->discard_align : 1;
	u32 n = al > 8 ? (u32)al : 8;
	if (b->max_discard_sectors && n > b->max_discard_sectors)
		n = b->max_discard_sectors;
	sector = (sector + al - 1) / al * al;
	if (sector + n > b->capacity) {
		bskip(b, "blk_discard", "disk too small for an aligned discard");
		return;
	}
	pat_fill(wbuf, sector, n, b->disk);
	wr(b, 0, sector, n, wbuf);
	int s1 = dwz(b, VIRTIO_BLK_T_DISCARD, sector, n, 0);
	int s2 = rd(b, 0, sector, n, rbuf);
	/* discarded data is undefined (5.2.6.2): only report what we read */
	bcheck(b, "blk_discard", s1 == 0 && s2 == 0,
	       ",\"sector\":%llu,\"sectors\":%u,\"status\":\"%s\",\"read_after\":\"%s\",\"reads_zero\":%s,\"reads_old_data\":%s",
	       (unsigned long long)sector, n, blk_status_name(s1), blk_status_name(s2),
	       s2 == 0 && all_zero(rbuf, 512 * n) ? "true" : "false",
	       s2 == 0 && pat_check(rbuf, sector, n, b->disk) < 0 ? "true" : "false");
}

/* 5.2.6.2 device: UNSUPP for unknown flags; UNSUPP for discard with unmap */
static void t_dwz_flags(struct blk *b, u64 sector)
{
	u64 f = b->v->features;
	int s1 = -100, s2 = -100;
	sector &= ~7ull;
	if (f & BIT(VIRTIO_BLK_F_DISCARD))
		s1 = dwz(b, VIRTIO_BLK_T_DISCARD, sector, 8, 1);
	if (f & BIT(VIRTIO_BLK_F_WRITE_ZEROES))
		s2 = dwz(b, VIRTIO_BLK_T_WRITE_ZEROES, sector, 8, 2);
	bcheck(b, "blk_dwz_flags", (s1 == -100 || s1 == VIRTIO_BLK_S_UNSUPP) && (s2 == -100 || s2 == VIRTIO_BLK_S_UNSUPP),
	       ",\"discard_unmap\":\"%s\",\"write_zeroes_reserved_flag\":\"%s\"",
	       s1 == -100 ? "not-run" : blk_status_name(s1), s2 == -100 ? "not-run" : blk_status_name(s2));
}

/* key=V (every disk) or key=V0,V1,... (disk i: element i; empty: none) */
static bool per_disk(const char *key, int disk, char *val, size_t n)
{
	char all[256];
	if (!cmdline_get(key, all, sizeof(all)))
		return false;
	const char *p = all;
	bool list = false;
	for (const char *c = all; *c; c++)
		list = list || *c == ',';
	if (list)
		for (int i = 0; i < disk && p; i++) {
			while (*p && *p != ',')
				p++;
			p = *p ? p + 1 : NULL;
		}
	if (!p)
		return false;
	size_t l = 0;
	while (p[l] && p[l] != ',')
		l++;
	if (!l)
		return false;
	if (l >= n)
		l = n - 1;
	memcpy(val, p, l);
	val[l] = 0;
	return true;
}

static void t_get_id(struct blk *b)
{
	char want[64], id[VIRTIO_BLK_ID_BYTES + 1];
	bool have = per_disk("serial", b->disk, want, sizeof(want));
	memset(rbuf, 0, 64);
	struct vbuf v = { (u64)rbuf, VIRTIO_BLK_ID_BYTES, true };
	int st = blk_req(b, 0, VIRTIO_BLK_T_GET_ID, 0, &v, 1, false);
	memcpy(id, rbuf, VIRTIO_BLK_ID_BYTES);
	id[VIRTIO_BLK_ID_BYTES] = 0;
	if (have)
		want[VIRTIO_BLK_ID_BYTES] = 0;
	bool match = have && st == 0 && !strcmp(id, want);
	char line[512];
	struct ob o;
	ob_init(&o, line, sizeof(line));
	check_begin(&o, "blk_get_id", have ? match : (st == 0 || st == VIRTIO_BLK_S_UNSUPP));
	ob_printf(&o, ",\"disk\":%d,\"device\":\"%s\",\"status\":\"%s\",\"id\":", b->disk, b->v->bdf, blk_status_name(st));
	ob_jstr(&o, st == 0 ? id : "");
	ob_printf(&o, ",\"expected\":");
	if (have)
		ob_jstr(&o, want);
	else
		ob_printf(&o, "null");
	check_end(&o);
}

static void t_read_only(struct blk *b, bool ro_cmdline)
{
	if (!b->ro && !ro_cmdline) {
		bskip(b, "blk_read_only", "device is writable (no VIRTIO_BLK_F_RO, no ro=1)");
		return;
	}
	u64 s = b->capacity / 2;
	int s1 = rd(b, 0, s, 8, rbuf);
	memcpy(rbuf + 65536, rbuf, 4096);
	pat_fill(wbuf, s, 8, b->disk);
	for (int i = 0; i < 4096; i++)
		wbuf[i] ^= rbuf[i] == wbuf[i] ? 0xff : 0;	/* surely different */
	int s2 = wr(b, 0, s, 8, wbuf);
	int s3 = rd(b, 0, s, 8, rbuf);
	bool same = s3 == 0 && !memcmp(rbuf, rbuf + 65536, 4096);
	bcheck(b, "blk_read_only", b->ro && s1 == 0 && s2 == VIRTIO_BLK_S_IOERR && same,
	       ",\"ro_offered\":%s,\"ro_cmdline\":%s,\"read\":\"%s\",\"write\":\"%s\",\"data_unchanged\":%s",
	       b->ro ? "true" : "false", ro_cmdline ? "true" : "false", blk_status_name(s1),
	       blk_status_name(s2), same ? "true" : "false");
}

static void t_mq(struct blk *b)
{
	struct vdev *d = b->v;
	if (b->num_queues < 2) {
		bskip(b, "blk_mq", d->features & BIT(VIRTIO_BLK_F_MQ) ? "device has one queue" : "no VIRTIO_BLK_F_MQ");
		return;
	}
	if (b->broken)
		return;
	u16 nq = b->num_queues, used0[VQ_MAX];
	u64 irq0[VQ_MAX];
	int head[VQ_MAX], st[VQ_MAX];
	for (u16 i = 0; i < nq; i++) {
		struct vq *q = &d->q[i];
		u8 *s = b->scratch + 4096 * i;
		struct blk_hdr *h = (struct blk_hdr *)s;
		h->type = VIRTIO_BLK_T_IN;
		h->reserved = 0;
		h->sector = i;
		s[64] = 0xff;
		struct vbuf v[3] = { { (u64)h, 16, false }, { (u64)(rbuf + 512 * i), 512, true }, { (u64)(s + 64), 1, true } };
		used0[i] = *q->used_idx;
		irq0[i] = virtio_q_irqs(q);
		head[i] = vq_add(q, v, 3, i, NULL);
		if (!d->poll && q->vector)
			vq_arm(q);
	}
	for (u16 i = 0; i < nq; i++)
		vq_kick(&d->q[i]);
	bool ok = true, vec_ok = true;
	char buf[1024];
	size_t bl = 0;
	buf[0] = 0;
	for (u16 i = 0; i < nq; i++) {
		struct vq *q = &d->q[i];
		int w = vq_wait(q, b->timeout_ms);
		u16 h = 0xffff;
		if (w > 0)
			vq_get(q, &h, NULL, NULL);
		st[i] = w > 0 ? (h == head[i] ? b->scratch[4096 * i + 64] : BLK_BAD_USED) : w == 0 ? BLK_TIMEOUT : BLK_NEEDS_RESET;
		if (st[i] < 0)
			b->broken = st[i];
		/* the interrupt may trail the used-ring update a little */
		if (!d->poll && q->vector)
			for (u64 end = rdtsc() + ms_to_tsc(100); virtio_q_irqs(q) == irq0[i] && rdtsc() < end;)
				cpu_relax();
		u64 irqs = virtio_q_irqs(q) - irq0[i];
		bool adv = *q->used_idx != used0[i];
		ok = ok && st[i] == 0 && adv;
		if (!d->poll && q->vector)
			vec_ok = vec_ok && irqs > 0;
		if (bl < sizeof(buf) - 128)
			bl += sfmt(buf + bl, sizeof(buf) - bl,
				   "%s{\"queue\":%u,\"status\":\"%s\",\"used_advanced\":%s,\"vector\":\"0x%02x\",\"interrupts\":%llu}",
				   i ? "," : "", i, blk_status_name(st[i]), adv ? "true" : "false", q->vector,
				   (unsigned long long)irqs);
	}
	bcheck(b, "blk_mq", ok && (d->poll || vec_ok),
	       ",\"queues\":%u,\"interrupts_checked\":%s,\"per_queue\":[%s]", nq,
	       !d->poll && d->msix_ok ? "true" : "false", buf);
}

static void t_beyond(struct blk *b)
{
	u64 cap = b->capacity;
	int s1 = rd(b, 0, cap, 1, rbuf);
	int s2 = rd(b, 0, cap - 1, 2, rbuf);
	int s3 = rd(b, 0, ~0ull, 1, rbuf);
	int s4 = b->ro ? -100 : wr(b, 0, cap, 1, wbuf);
	bcheck(b, "blk_beyond_capacity",
	       s1 == VIRTIO_BLK_S_IOERR && s2 == VIRTIO_BLK_S_IOERR && s3 == VIRTIO_BLK_S_IOERR &&
		       (s4 == -100 || s4 == VIRTIO_BLK_S_IOERR),
	       ",\"read_at_capacity\":\"%s\",\"read_across_end\":\"%s\",\"read_sector_2^64-1\":\"%s\",\"write_at_capacity\":\"%s\"",
	       blk_status_name(s1), blk_status_name(s2), blk_status_name(s3),
	       s4 == -100 ? "not-run" : blk_status_name(s4));
}

/* Without MSI-X the device interrupts through INTx and the ISR status
 * byte (virtio 1.2, 4.1.4.5): with queue interrupts enabled, a completed
 * request sets ISR bit 0 (the guest kit itself polls the used ring, and
 * reading ISR clears it, so it is read until the bit shows up). */
static void t_intx(struct blk *b)
{
	struct vdev *v = b->v;
	struct vq *q = &v->q[0];
	(void)mmio_read8(v->isr);
	vq_arm(q);
	int s = rd(b, 0, 0, 1, rbuf);
	u8 isr = 0;
	for (u64 end = rdtsc() + ms_to_tsc(b->timeout_ms); !(isr & 1) && rdtsc() < end;)
		isr |= mmio_read8(v->isr);
	vq_quiet(q);
	bcheck(b, "blk_intx", s == 0 && (isr & 1), ",\"status\":\"%s\",\"isr\":\"0x%02x\"",
	       blk_status_name(s), isr);
}

static void t_unsupported(struct blk *b)
{
	int s1 = blk_req(b, 0, 0xff, 0, NULL, 0, false);
	struct vbuf v = { (u64)rbuf, 512, true };
	int s2 = blk_req(b, 0, 0x1234566, 0, &v, 1, false);
	bcheck(b, "blk_unsupported_type", s1 == VIRTIO_BLK_S_UNSUPP && s2 == VIRTIO_BLK_S_UNSUPP,
	       ",\"type_0xff\":\"%s\",\"type_0x1234566_with_data\":\"%s\"", blk_status_name(s1), blk_status_name(s2));
}

static void test_one(struct blk *b, struct vdev *v, int disk)
{
	char rv[8];
	bool ro_cmdline = per_disk("ro", disk, rv, sizeof(rv)) && strcmp(rv, "0");
	bool ok = blk_open(b, v, disk, 0);
	report_open(b, ok);
	if (!ok)
		return;
	u64 irq0[VQ_MAX], cfg0 = virtio_cfg_irqs(v);
	for (int i = 0; i < b->num_queues; i++)
		irq0[i] = virtio_q_irqs(&v->q[i]);
	u64 cap = b->capacity;
	if (cap < 16) {
		bskip(b, "blk_io", "capacity below 16 sectors: nothing to test");
		virtio_reset(v);
		return;
	}
#define STEP(x) do { x; if (b->broken) goto broken; } while (0)
	if (cap < 2048) {
		bskip(b, "blk_rw_pattern", "disk smaller than 1 MiB");
	} else if (!b->ro) {
		STEP(t_rw_pattern(b));
		STEP(t_split(b, "blk_multi_desc", false, cap / 4));
		if (v->indirect)
			STEP(t_split(b, "blk_indirect", true, cap / 4 + 64));
		else
			bskip(b, "blk_indirect", "VIRTIO_F_INDIRECT_DESC not offered");
		STEP(t_unaligned(b, cap / 4 + 128));
		STEP(t_any_layout(b, cap / 4 + 192));
		if (v->features & BIT(VIRTIO_BLK_F_WRITE_ZEROES))
			STEP(t_write_zeroes(b, cap / 4 + 256));
		else
			bskip(b, "blk_write_zeroes", "VIRTIO_BLK_F_WRITE_ZEROES not offered");
		if (v->features & BIT(VIRTIO_BLK_F_DISCARD))
			STEP(t_discard(b, cap / 4 + 512));
		else
			bskip(b, "blk_discard", "VIRTIO_BLK_F_DISCARD not offered");
		if (v->features & (BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES)))
			STEP(t_dwz_flags(b, cap / 4 + 1024));
		if (v->features & BIT(VIRTIO_BLK_F_FLUSH)) {
			int s = blk_req(b, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false);
			STEP(bcheck(b, "blk_flush", s == 0, ",\"status\":\"%s\"", blk_status_name(s)));
		} else {
			bskip(b, "blk_flush", "VIRTIO_BLK_F_FLUSH not offered");
		}
	} else {
		int s1 = rd(b, 0, 0, 1, rbuf), s2 = rd(b, 0, cap / 2, 8, rbuf), s3 = rd(b, 0, cap - 1, 1, rbuf);
		STEP(bcheck(b, "blk_read", s1 == 0 && s2 == 0 && s3 == 0, ",\"first\":\"%s\",\"middle\":\"%s\",\"last\":\"%s\"",
			    blk_status_name(s1), blk_status_name(s2), blk_status_name(s3)));
	}
	STEP(t_get_id(b));
	STEP(t_read_only(b, ro_cmdline));
	STEP(t_mq(b));
	STEP(t_beyond(b));
	STEP(t_unsupported(b));
	if (!v->msix_ok && !v->poll)
		STEP(t_intx(b));
#undef STEP

	char per[512];
	size_t pl = 0;
	per[0] = 0;
	u64 bad = 0, notifies = 0, suppressed = 0;
	for (int i = 0; i < b->num_queues; i++) {
		struct vq *q = &v->q[i];
		pl += sfmt(per + pl, sizeof(per) - pl, "%s%llu", i ? "," : "",
			   (unsigned long long)(virtio_q_irqs(q) - irq0[i]));
		bad += q->bad_used;
		notifies += q->notifies;
		suppressed += q->kicks_suppressed;
	}
	u64 q0 = virtio_q_irqs(&v->q[0]) - irq0[0];
	bcheck(b, "blk_interrupts", bad == 0 && (v->poll || !v->msix_ok || q0 > 0),
	       ",\"mode\":\"%s\",\"queue_interrupts\":[%s],\"config_interrupts\":%llu,\"notifies\":%llu,\"notifies_suppressed\":%llu,\"bad_used_ids\":%llu",
	       v->poll ? "poll" : v->msix_ok ? "msix" : "no-msix-poll", per,
	       (unsigned long long)(virtio_cfg_irqs(v) - cfg0), (unsigned long long)notifies,
	       (unsigned long long)suppressed, (unsigned long long)bad);
	virtio_reset(v);
	return;
broken:
	bcheck(b, "blk_aborted", false,
	       ",\"reason\":\"%s: the remaining checks of this device were not run\",\"device_status\":\"0x%02x\"",
	       blk_status_name(b->broken), virtio_status(v));
	virtio_reset(v);
}

void test_blk(void)
{
	static struct vdev *devs[16];
	static struct blk b;
	char v[16];
	if (!common_setup())
		return;
	int n = virtio_find(VIRTIO_ID_BLOCK, devs, ARRAY_SIZE(devs));
	bool only = cmdline_get("disk", v, sizeof(v));
	int pick = only ? (int)strtou64(v, NULL) : -1;
	out("{\"event\":\"blk\",\"devices\":%d,\"disk\":%d,\"poll\":%s,\"seed\":\"0x%llx\",\"free_ram_mib\":%llu}", n, pick,
	    blk_poll ? "true" : "false", (unsigned long long)seed, (unsigned long long)(page_free_bytes() >> 20));
	if (!n || (only && pick >= n)) {
		check("blk_devices", false, ",\"error\":\"no virtio-blk device%s\",\"found\":%d", only ? " with that index" : "", n);
		return;
	}
	for (int i = 0; i < n; i++)
		if (!only || i == pick)
			test_one(&b, devs[i], i);
}

/* --- test=blk-hostile ------------------------------------------------- */

#define HS 16				/* sector the malformed reads aim at */
#define mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)

static u8 *hp;				/* 64 KiB: header 0, status 64, data 4096, tables 8192/12288 */

static void desc(struct vq *q, u16 i, u64 addr, u32 len, u16 flags, u16 next)
{
	q->desc[i].addr = addr;
	q->desc[i].len = len;
	q->desc[i].flags = flags;
	q->desc[i].next = next;
}

static void publish(struct vq *q, u16 head)
{
	q->avail_ring[q->shadow_avail & (q->size - 1)] = head;
	q->shadow_avail++;
	*q->avail_idx = q->shadow_avail;
	mb();
	q->kicked = q->shadow_avail;
	vq_notify(q);
}

static void hdr_in(void)
{
	struct blk_hdr *h = (struct blk_hdr *)hp;
	h->type = VIRTIO_BLK_T_IN;
	h->reserved = 0;
	h->sector = HS;
	hp[64] = 0xff;
}

#define HDR ((u64)hp)
#define STS ((u64)hp + 64)
#define DATA ((u64)hp + 4096)
#define R 0
#define W VRING_DESC_F_WRITE
#define N VRING_DESC_F_NEXT

static void h_loop(struct vq *q)
{
	desc(q, 0, HDR, 16, R | N, 1);
	desc(q, 1, DATA, 512, W | N, 0);
	publish(q, 0);
}
static void h_long_chain(struct vq *q)
{
	for (u16 i = 0; i < q->size; i++)
		desc(q, i, i ? DATA : HDR, i ? 512 : 16, (i ? W : R) | N, (u16)((i + 1) % q->size));
	publish(q, 0);
}
static void h_addr_outside(struct vq *q)
{
	desc(q, 0, HDR, 16, R | N, 1);
	desc(q, 1, 0xfff0000000ull, 512, W | N, 2);
	desc(q, 2, STS, 1, W, 0);
	publish(q, 0);
}
static void h_len_wraps(struct vq *q)
{
	desc(q, 0, HDR, 16, R | N, 1);
	desc(q, 1, 0xfffffffffffff000ull, 0x2000, W | N, 2);
	desc(q, 2, STS, 1, W, 0);
	publish(q, 0);
}
static void h_nested_indirect(struct vq *q)
{
	volatile struct vring_desc *t1 = (volatile struct vring_desc *)(hp + 8192);
	volatile struct vring_desc *t2 = (volatile struct vring_desc *)(hp + 12288);
	t2[0] = (struct vring_desc){ DATA, 512, W, 0 };
	t1[0] = (struct vring_desc){ HDR, 16, R | N, 1 };
	t1[1] = (struct vring_desc){ (u64)t2, 16, VRING_DESC_F_INDIRECT | N, 2 };
	t1[2] = (struct vring_desc){ STS, 1, W, 0 };
	desc(q, 0, (u64)t1, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(q, 0);
}
static void h_zero_len(struct vq *q)
{
	desc(q, 0, HDR, 16, R | N, 1);
	desc(q, 1, DATA, 0, W | N, 2);
	desc(q, 2, STS, 1, W, 0);
	publish(q, 0);
}
static void h_status_readable(struct vq *q)
{
	desc(q, 0, HDR, 16, R | N, 1);
	desc(q, 1, DATA, 512, W | N, 2);
	desc(q, 2, STS, 1, R, 0);
	publish(q, 0);
}
static void h_header_writable(struct vq *q)
{
	desc(q, 0, HDR, 16, W | N, 1);
	desc(q, 1, DATA, 512, W | N, 2);
	desc(q, 2, STS, 1, W, 0);
	publish(q, 0);
}
static void h_avail_jump(struct vq *q)
{
	desc(q, 0, HDR, 16, R | N, 1);
	desc(q, 1, DATA, 512, W | N, 2);
	desc(q, 2, STS, 1, W, 0);
	q->avail_ring[0] = 0;
	q->shadow_avail = (u16)(q->shadow_avail + q->size + 5);
	*q->avail_idx = q->shadow_avail;
	mb();
	q->kicked = q->shadow_avail;
	vq_notify(q);
}
static void h_head_range(struct vq *q)
{
	desc(q, 0, HDR, 16, R | N, 1);
	desc(q, 1, DATA, 512, W | N, 2);
	desc(q, 2, STS, 1, W, 0);
	publish(q, (u16)(q->size + 3));
}

static const struct {
	const char *name;
	void (*fn)(struct vq *q);
} hcases[] = {
	{ "desc_loop", h_loop },
	{ "chain_longer_than_queue", h_long_chain },
	{ "addr_outside_ram", h_addr_outside },
	{ "addr_len_wraps", h_len_wraps },
	{ "indirect_in_indirect", h_nested_indirect },
	{ "zero_length_data", h_zero_len },
	{ "status_device_readable", h_status_readable },
	{ "header_device_writable", h_header_writable },
	{ "avail_idx_jump", h_avail_jump },
	{ "head_out_of_range", h_head_range },
};

/* a correct read of sector 0..7 that must return what was there */
static int recover(struct blk *b, struct vdev *v, const u8 *expect, char *why, size_t wl)
{
	if (!blk_open(b, v, b->disk, 1)) {
		sfmt(why, wl, "re-init: %s", v->err ? v->err : "?");
		return -1;
	}
	memset(rbuf, 0xee, 4096);
	int s = rd(b, 0, 0, 8, rbuf);
	if (s != 0) {
		sfmt(why, wl, "read: %s", blk_status_name(s));
		return -1;
	}
	if (memcmp(rbuf, expect, 4096)) {
		sfmt(why, wl, "read returned other data");
		return -1;
	}
	return 0;
}

void test_blk_hostile(void)
{
	static struct vdev *devs[16];
	static struct blk b, b2;
	char v[24];
	if (!common_setup())
		return;
	int n = virtio_find(VIRTIO_ID_BLOCK, devs, ARRAY_SIZE(devs));
	int pick = cmdline_get("disk", v, sizeof(v)) ? (int)strtou64(v, NULL) : 0;
	u64 hms = cmdline_get("hostile_ms", v, sizeof(v)) ? strtou64(v, NULL) : 3000;
	if (!hms)
		hms = 3000;
	if (pick >= n) {
		check("blk_devices", false, ",\"error\":\"no virtio-blk device\",\"found\":%d", n);
		return;
	}
	hp = page_alloc(65536);
	u8 *expect = page_alloc(4096);
	struct vdev *d = devs[pick];
	bool ok = blk_open(&b, d, pick, 1);
	report_open(&b, ok);
	if (!ok || !hp || !expect)
		return;
	/* known data in sectors 0-7 (read-only disks: whatever is there) */
	int s0 = VIRTIO_BLK_S_OK;
	if (!b.ro) {
		pat_fill(wbuf, 0, 8, b.disk);
		s0 = wr(&b, 0, 0, 8, wbuf);
	}
	int s1 = rd(&b, 0, 0, 8, expect);
	if (s0 != 0 || s1 != 0 || (!b.ro && pat_check(expect, 0, 8, b.disk) >= 0)) {
		bcheck(&b, "blk_hostile_setup", false, ",\"write\":\"%s\",\"read\":\"%s\"", blk_status_name(s0),
		       blk_status_name(s1));
		return;
	}
	out("{\"event\":\"blk_hostile\",\"device\":\"%s\",\"cases\":%d,\"timeout_ms\":%llu,\"queue_size\":%u,\"indirect\":%s,\"poll\":%s}",
	    d->bdf, (int)ARRAY_SIZE(hcases), (unsigned long long)hms, d->q[0].size,
	    d->indirect ? "true" : "false", d->poll ? "true" : "false");

	for (size_t c = 0; c < ARRAY_SIZE(hcases); c++) {
		struct vq *q = &d->q[0];
		memset(hp, 0, 65536);
		hdr_in();
		u16 used0 = *q->used_idx;
		u64 cfg0 = virtio_cfg_irqs(d), t0 = rdtsc(), end = t0 + ms_to_tsc(hms);
		if (!d->poll && q->vector)
			vq_arm(q);
		hcases[c].fn(q);
		bool nr = false, done = false;
		u8 st = 0;
		for (;;) {
			u64 snap = irq_total;
			st = virtio_status(d);
			nr = st & VIRTIO_S_NEEDS_RESET;
			done = *q->used_idx != used0;
			u64 now = rdtsc();
			if (nr || done || now >= end)
				break;
			if (d->poll)
				delay_us(200);
			else
				virtio_sleep(snap, now + ms_to_tsc(10) < end ? now + ms_to_tsc(10) : end);
		}
		u64 ms = (rdtsc() - t0) / (tsc_hz / 1000);
		/* the configuration interrupt may trail the status bit */
		if (nr && d->msix_ok)
			for (u64 e2 = rdtsc() + ms_to_tsc(200); virtio_cfg_irqs(d) == cfg0 && rdtsc() < e2;)
				cpu_relax();
		bool cfg_irq = virtio_cfg_irqs(d) != cfg0;
		u32 uid = 0, ulen = 0;
		if (done) {
			volatile struct vring_used_elem *e = &q->used_ring[used0 & (q->size - 1)];
			uid = e->id;
			ulen = e->len;
			st = virtio_status(d);
			nr = st & VIRTIO_S_NEEDS_RESET;
		}
		const char *outcome = nr ? "needs_reset" : done ? (hp[64] == 1 ? "ioerr" : hp[64] == 2 ? "unsupp" : hp[64] == 0 ? "completed_ok" : "completed_other") : "hang";
		char why[128] = "";
		virtio_reset(d);
		int r = recover(&b, d, expect, why, sizeof(why));
		bcheck(&b, "blk_hostile", (nr || done) && r == 0,
		       ",\"case\":\"%s\",\"outcome\":\"%s\",\"needs_reset\":%s,\"config_irq\":%s,\"completed\":%s,\"used_id\":%u,\"used_len\":%u,\"status_byte\":\"0x%02x\",\"device_status\":\"0x%02x\",\"ms\":%llu,\"recovery\":\"%s\"",
		       hcases[c].name, outcome, nr ? "true" : "false", cfg_irq ? "true" : "false",
		       done ? "true" : "false", uid, ulen, hp[64], st, (unsigned long long)ms,
		       r == 0 ? "ok" : why);
	}

	/* is the rest of the machine still fine? */
	int other = -1;
	for (int i = 0; i < n; i++)
		if (i != pick) {
			other = i;
			break;
		}
	if (other >= 0) {
		bool o = blk_open(&b2, devs[other], other, 1);
		int s = o ? rd(&b2, 0, 0, 1, rbuf) : BLK_TIMEOUT;
		check("blk_hostile_other_device", o && s == 0,
		      ",\"method\":\"virtio-blk\",\"device\":\"%s\",\"init\":%s,\"read\":\"%s\"", devs[other]->bdf,
		      o ? "true" : "false", blk_status_name(s));
		virtio_reset(devs[other]);
	} else {
		u8 save = inb(COM1 + UART_SCR);
		outb(COM1 + UART_SCR, 0xa5);
		bool ser = inb(COM1 + UART_SCR) == 0xa5;
		outb(COM1 + UART_SCR, save);
		struct pcif host = { 0 };
		u32 id = pcib_read32(&host, 0);
		bool pci = (id & 0xffff) != 0xffff && (id & 0xffff) != 0;
		check("blk_hostile_other_device", ser && pci,
		      ",\"method\":\"serial+pci\",\"serial_scratch\":%s,\"pci_00_00_0\":\"0x%08x\"", ser ? "true" : "false", id);
	}
	virtio_reset(d);
}

/* --- test=blk-persist phase=write|verify seed=N ------------------------- */

/* Durability: phase=write writes a pattern derived from seed=N over a spread
 * of sectors of the first disk, flushes, prints {"event":"persisted"} and
 * idles, so the host can kill -9 the VMM at that moment; phase=verify (a
 * new VM on the same image) reads the sectors back and compares. */
#define PERSIST_REQS 32
#define PERSIST_SECTORS 8

void test_blk_persist(void)
{
	static struct vdev *devs[4];
	static struct blk b;
	char v[32];
	if (!common_setup())
		return;
	seed = cmdline_get("seed", v, sizeof(v)) ? strtou64(v, NULL) : 1;
	bool write = cmdline_get("phase", v, sizeof(v)) && !strcmp(v, "write");
	int n = virtio_find(VIRTIO_ID_BLOCK, devs, ARRAY_SIZE(devs));
	if (!n || !blk_open(&b, devs[0], 0, 1)) {
		check("blk_persist", false, ",\"error\":\"no usable virtio-blk device\",\"found\":%d", n);
		return;
	}
	u64 span = b.capacity / PERSIST_REQS;
	int errors = 0, bad = 0;
	for (int i = 0; i < PERSIST_REQS && span >= PERSIST_SECTORS; i++) {
		u64 s = i * span + (mix64(seed + i) % (span - PERSIST_SECTORS + 1));
		if (write) {
			pat_fill(wbuf, s, PERSIST_SECTORS, 0);
			errors += wr(&b, 0, s, PERSIST_SECTORS, wbuf) != VIRTIO_BLK_S_OK;
		} else {
			memset(rbuf, 0xa5, 512 * PERSIST_SECTORS);
			int st = rd(&b, 0, s, PERSIST_SECTORS, rbuf);
			errors += st != VIRTIO_BLK_S_OK;
			bad += st == VIRTIO_BLK_S_OK && pat_check(rbuf, s, PERSIST_SECTORS, 0) >= 0;
		}
	}
	if (!write) {
		check("blk_persist", !errors && !bad && span >= PERSIST_SECTORS,
		      ",\"phase\":\"verify\",\"seed\":%llu,\"requests\":%d,\"errors\":%d,\"mismatches\":%d",
		      (unsigned long long)seed, PERSIST_REQS, errors, bad);
		return;
	}
	int fl = (b.v->features & BIT(VIRTIO_BLK_F_FLUSH))
		 ? blk_req(&b, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false) : VIRTIO_BLK_S_OK;
	check("blk_persist_write", !errors && fl == VIRTIO_BLK_S_OK,
	      ",\"seed\":%llu,\"requests\":%d,\"errors\":%d,\"flush\":\"%s\",\"wce\":%d",
	      (unsigned long long)seed, PERSIST_REQS, errors, blk_status_name(fl), b.wce);
	out("{\"event\":\"persisted\",\"seed\":%llu}", (unsigned long long)seed);
	for (;;)
		sys_wait(NULL, 0);	/* until the host kills us */
}

/* --- test=blk-resize [resize_ms=MS] [resize_io=0] ---------------------- */

/* The event "resize_wait" tells the host to grow the disk (e.g. QMP
 * block_resize on qemu-storage-daemon); then up to resize_ms (default
 * 60 s) for a configuration interrupt with a new capacity. */
void test_blk_resize(void)
{
	static struct vdev *devs[4];
	static struct blk b;
	char v[32];
	if (!common_setup())
		return;
	u64 ms = cmdline_get("resize_ms", v, sizeof(v)) ? strtou64(v, NULL) : 60000;
	bool io = !(cmdline_get("resize_io", v, sizeof(v)) && !strcmp(v, "0"));
	int n = virtio_find(VIRTIO_ID_BLOCK, devs, ARRAY_SIZE(devs));
	if (!n || !blk_open(&b, devs[0], 0, 1)) {
		check("blk_resize", false, ",\"error\":\"no usable virtio-blk device\",\"found\":%d", n);
		return;
	}
	if (!b.v->msix_ok) {
		check("blk_resize", false, ",\"error\":\"no MSI-X: configuration interrupts are not counted\"");
		return;
	}
	u64 before = b.capacity, cfg0 = virtio_cfg_irqs(b.v), after = before;
	out("{\"event\":\"resize_wait\",\"capacity\":%llu}", (unsigned long long)before);
	u64 end = rdtsc() + ms_to_tsc(ms);
	while (rdtsc() < end) {
		u64 snap = irq_total;
		if (virtio_cfg_irqs(b.v) != cfg0 && (after = vcfg64(b.v, BLKCFG_CAPACITY)) != before)
			break;
		virtio_sleep(snap, end);
	}
	u64 cfg_irqs = virtio_cfg_irqs(b.v) - cfg0;
	/* the new end of the disk is usable */
	int ws = -1, rs = -1;
	long bad = -1;
	if (io && after > before) {
		pat_fill(wbuf, after - 1, 1, 0);
		ws = wr(&b, 0, after - 1, 1, wbuf);
		memset(rbuf, 0xa5, 512);
		rs = rd(&b, 0, after - 1, 1, rbuf);
		bad = rs == VIRTIO_BLK_S_OK ? pat_check(rbuf, after - 1, 1, 0) : 0;
	}
	check("blk_resize", cfg_irqs > 0 && after > before &&
	      (!io || (ws == VIRTIO_BLK_S_OK && rs == VIRTIO_BLK_S_OK && bad < 0)),
	      ",\"disk\":0,\"capacity_before\":%llu,\"capacity_after\":%llu,\"config_irqs\":%llu,"
	      "\"last_sector_write\":\"%s\",\"last_sector_read\":\"%s\",\"last_sector_match\":%s",
	      (unsigned long long)before, (unsigned long long)after, (unsigned long long)cfg_irqs,
	      ws < 0 ? "none" : blk_status_name(ws), rs < 0 ? "none" : blk_status_name(rs),
	      bad < 0 && rs == VIRTIO_BLK_S_OK ? "true" : "false");
}
