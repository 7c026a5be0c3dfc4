/* test=blk-bench rw=randread|randwrite|read|write bs=4096 qd=N secs=S
 *                [bus=virtio|ide|sata] [queues=K] [poll=1] [disk=N] [nofeat=B,B]
 * bus=ide runs on the PIIX3's primary master by bus-master DMA, one
 * command at a time (qd=1, reported as such); bus=sata on the first AHCI
 * disk with NCQ, up to 32 commands in flight; both poll. The virtio path:
 * Keeps qd requests in flight, spread over K queues, for S seconds (TSC)
 * and reports IOPS, MB/s (10^6 bytes), mean latency, interrupts and
 * queue notifications. Requests are pre-built descriptor chains (or one
 * indirect descriptor each when the ring is too small), so a submission
 * is a header write and an avail ring entry; every pass over the used
 * rings refills what completed and notifies each queue at most once,
 * only when the device asked for it (avail_event with EVENT_IDX, else
 * VIRTQ_USED_F_NO_NOTIFY). Interrupts: used_event is re-armed only
 * before sleeping, so a burst of completions costs one interrupt;
 * poll=1 keeps them off and spins on used->idx. */
#include "blk.h"
#include "blkbench.h"

#define mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define MAX_SLOTS 1024

struct slot {
	u64 t_submit;
	struct blk_hdr *h;
	volatile u8 *status;
	u16 head;
	bool busy;
};

static u64 rng;
static u64 rnd(void)
{
	if (!rng)
		rng = rdtsc() | 1;
	u64 x = rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

u64 bench_next(const struct bench_args *a, u64 *seq, u64 blocks)
{
	if (a->rnd)
		return rnd() % blocks;
	u64 b = *seq;
	if (++*seq >= blocks)
		*seq = 0;
	return b;
}

void bench_fail(const char *bus, const char *why)
{
	check("blk_bench", false, ",\"bus\":\"%s\",\"error\":\"%s\"", bus, why);
}

void bench_report(const struct bench_args *a, const struct bench_res *r)
{
	u64 ios = r->ios, irqs = r->irqs, nots = r->nots;
	u64 per_us = tsc_hz / 1000000;
	u64 el_us = (r->t_last - r->t0) / per_us;
	if (!el_us)
		el_us = 1;
	u64 bytes = ios * a->bs;
	u64 iops = ios * 1000000 / el_us;
	u64 mb100 = bytes * 100 / el_us;		/* bytes per us = MB/s */
	u64 lat_ns = ios ? r->lat_tsc * 1000 / per_us / ios : 0;
	check("blk_bench", ios > 0 && !r->errs && !r->bad && !r->timed_out,
	      ",\"rw\":\"%s\",\"bs\":%llu,\"qd\":%llu,\"iops\":%llu,\"mbps\":%llu.%02llu,\"lat_us_avg\":%llu.%03llu,\"interrupts\":%llu,\"notifies\":%llu"
	      ",\"notifies_suppressed\":%llu,\"queues\":%u,\"secs\":%llu,\"elapsed_ms\":%llu,\"ios\":%llu,\"errors\":%llu,\"bad_used\":%llu,\"drain_timeout\":%s"
	      ",\"poll\":%s,\"event_idx\":%s,\"indirect\":%s,\"device\":\"%s\",\"qd_requested\":%llu,\"irqs_per_io\":%llu.%03llu,\"notifies_per_io\":%llu.%03llu"
	      ",\"bus\":\"%s\"",
	      a->rw, (unsigned long long)a->bs, (unsigned long long)r->qd, (unsigned long long)iops,
	      (unsigned long long)(mb100 / 100), (unsigned long long)(mb100 % 100),
	      (unsigned long long)(lat_ns / 1000), (unsigned long long)(lat_ns % 1000),
	      (unsigned long long)irqs, (unsigned long long)nots, (unsigned long long)r->sups, r->queues,
	      (unsigned long long)a->secs, (unsigned long long)(el_us / 1000), (unsigned long long)ios,
	      (unsigned long long)r->errs, (unsigned long long)r->bad, r->timed_out ? "true" : "false",
	      r->poll ? "true" : "false", r->event_idx ? "true" : "false", r->indirect ? "true" : "false", r->device,
	      (unsigned long long)a->qd, (unsigned long long)(ios ? irqs / ios : 0),
	      (unsigned long long)(ios ? irqs * 1000 / ios % 1000 : 0), (unsigned long long)(ios ? nots / ios : 0),
	      (unsigned long long)(ios ? nots * 1000 / ios % 1000 : 0), r->bus);
}

void test_blk_bench(void)
{
	static struct vdev *devs[16];
	static struct blk b;
	static struct slot *slotmem;
	static u16 *headmem;
	char rw[16], v[24];
	u64 bs = 4096, qd = 32, secs = 5, queues = 1;
	int pick = 0;

	blk_cmdline();
	if (!cmdline_get("rw", rw, sizeof(rw)))
		strlcpy(rw, "randread", sizeof(rw));
	if (cmdline_get("bs", v, sizeof(v)))
		bs = strtou64(v, NULL);
	if (cmdline_get("qd", v, sizeof(v)))
		qd = strtou64(v, NULL);
	if (cmdline_get("secs", v, sizeof(v)))
		secs = strtou64(v, NULL);
	if (cmdline_get("queues", v, sizeof(v)))
		queues = strtou64(v, NULL);
	if (cmdline_get("disk", v, sizeof(v)))
		pick = (int)strtou64(v, NULL);
	bool rnd_off = !strcmp(rw, "randread") || !strcmp(rw, "randwrite");
	bool write = !strcmp(rw, "randwrite") || !strcmp(rw, "write");
	if (!rnd_off && !write && strcmp(rw, "read")) {
		check("blk_bench", false, ",\"error\":\"rw must be randread, randwrite, read or write\",\"rw\":\"%s\"", rw);
		return;
	}
	if (!bs || bs % 512 || bs > (1u << 20) || !qd || !secs || !queues) {
		check("blk_bench", false, ",\"error\":\"bad bs/qd/secs/queues (bs: multiple of 512 up to 1 MiB)\",\"bs\":%llu,\"qd\":%llu",
		      (unsigned long long)bs, (unsigned long long)qd);
		return;
	}
	char bus[16];
	if (!cmdline_get("bus", bus, sizeof(bus)))
		strlcpy(bus, "virtio", sizeof(bus));
	if (strcmp(bus, "virtio")) {
		struct bench_args a = { .bs = bs, .qd = qd, .secs = secs, .queues = 1,
					.rnd = rnd_off, .write = write };
		strlcpy(a.rw, rw, sizeof(a.rw));
		if (!strcmp(bus, "ide"))
			ide_bench(&a);
		else if (!strcmp(bus, "sata"))
			ahci_bench(&a);
		else
			bench_fail(bus, "bus must be virtio, ide or sata");
		return;
	}
	int n = virtio_find(VIRTIO_ID_BLOCK, devs, ARRAY_SIZE(devs));
	if (pick >= n) {
		check("blk_bench", false, ",\"error\":\"no virtio-blk device\",\"found\":%d", n);
		return;
	}
	struct vdev *d = devs[pick];
	if (!blk_open(&b, d, pick, queues > VQ_MAX ? VQ_MAX : (u16)queues)) {
		check("blk_bench", false, ",\"error\":\"init: %s\",\"device\":\"%s\"", d->err ? d->err : "?", d->bdf);
		return;
	}
	u16 K = b.num_queues;
	u64 nsec = bs / 512, blocks = b.capacity / nsec;
	if (!blocks || (write && b.ro)) {
		check("blk_bench", false, ",\"error\":\"%s\",\"device\":\"%s\"", write ? "read-only disk" : "disk smaller than bs", d->bdf);
		virtio_reset(d);
		return;
	}

	/* descriptors per request: header, data segments, status */
	u32 seg = b.size_max && b.size_max < bs ? b.size_max & ~511u : (u32)bs;
	if (!seg)
		seg = 512;
	u32 nseg = (u32)((bs + seg - 1) / seg);
	if (b.seg_max && nseg > b.seg_max) {
		check("blk_bench", false, ",\"error\":\"bs needs %u segments, seg_max is %u\"", nseg, b.seg_max);
		virtio_reset(d);
		return;
	}
	u32 per = nseg + 2;
	u16 qs = d->q[0].size;
	bool indirect = false;
	u64 spq_max = qs / per;
	u64 want_spq = (qd + K - 1) / K;
	if (want_spq > spq_max && d->indirect && per <= 64) {
		indirect = true;
		spq_max = qs;
	}
	if (spq_max > MAX_SLOTS)
		spq_max = MAX_SLOTS;
	u64 qd_eff = qd;
	if (qd_eff > spq_max * K)
		qd_eff = spq_max * K;
	u64 mem_cap = page_free_bytes() / 2 / (bs + 4096);
	if (qd_eff > mem_cap)
		qd_eff = mem_cap;
	if (!qd_eff) {
		check("blk_bench", false, ",\"error\":\"no room for any request\"");
		virtio_reset(d);
		return;
	}

	/* buffers and pre-built chains */
	u8 *data = page_alloc(qd_eff * bs);
	u8 *small = page_alloc(qd_eff * 64);			/* header 16 + status */
	u8 *itabs = indirect ? page_alloc(qd_eff * 16 * per) : NULL;
	if (!data || !small || (indirect && !itabs)) {
		check("blk_bench", false, ",\"error\":\"out of memory\"");
		virtio_reset(d);
		return;
	}
	if (!slotmem) {
		slotmem = page_alloc(sizeof(struct slot) * VQ_MAX * MAX_SLOTS);
		headmem = page_alloc(2ull * VQ_MAX * VQ_SIZE_MAX);
	}
	if (!slotmem || !headmem) {
		check("blk_bench", false, ",\"error\":\"out of memory\"");
		virtio_reset(d);
		return;
	}
#define slots(k, s) (&slotmem[(k) * MAX_SLOTS + (s)])
#define head_slot(k, h) headmem[(k) * VQ_SIZE_MAX + (h)]
	u16 spq[VQ_MAX];
	u64 sidx = 0;
	for (u16 k = 0; k < K; k++) {
		spq[k] = (u16)(qd_eff / K + (k < qd_eff % K));
		struct vq *q = &d->q[k];
		for (u16 s = 0; s < spq[k]; s++, sidx++) {
			struct slot *sl = slots(k, s);
			sl->h = (struct blk_hdr *)(small + 64 * sidx);
			sl->status = small + 64 * sidx + 32;
			sl->h->type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
			u64 buf = (u64)(data + bs * sidx);
			volatile struct vring_desc *t;
			u16 base;
			if (indirect) {
				t = (volatile struct vring_desc *)(itabs + 16ull * per * sidx);
				base = 0;
				sl->head = s;
				q->desc[s].addr = (u64)t;
				q->desc[s].len = 16 * per;
				q->desc[s].flags = VRING_DESC_F_INDIRECT;
				q->desc[s].next = 0;
			} else {
				t = q->desc;
				base = (u16)(s * per);
				sl->head = base;
			}
			for (u32 i = 0; i < per; i++) {
				u64 a;
				u32 l;
				u16 fl;
				if (i == 0) {
					a = (u64)sl->h, l = 16, fl = 0;
				} else if (i == per - 1) {
					a = (u64)sl->status, l = 1, fl = VRING_DESC_F_WRITE;
				} else {
					a = buf + (u64)seg * (i - 1);
					l = (u32)(bs - (u64)seg * (i - 1) < seg ? bs - (u64)seg * (i - 1) : seg);
					fl = write ? 0 : VRING_DESC_F_WRITE;
				}
				t[base + i].addr = a;
				t[base + i].len = l;
				t[base + i].flags = fl | (i + 1 < per ? VRING_DESC_F_NEXT : 0);
				t[base + i].next = (u16)(i + 1 < per ? base + i + 1 : 0);
			}
			head_slot(k, sl->head) = s;
			sl->busy = false;
		}
	}

	u64 seq = 0;
	u64 irq0 = virtio_all_irqs(d), not0 = 0, sup0 = 0;
	for (u16 k = 0; k < K; k++) {
		not0 += d->q[k].notifies;
		sup0 += d->q[k].kicks_suppressed;
		vq_quiet(&d->q[k]);		/* interrupts only when about to sleep */
	}
	out("{\"event\":\"blk_bench\",\"device\":\"%s\",\"rw\":\"%s\",\"bs\":%llu,\"qd\":%llu,\"queues\":%u,\"secs\":%llu,\"poll\":%s,\"event_idx\":%s,\"indirect\":%s,\"segments\":%u}",
	    d->bdf, rw, (unsigned long long)bs, (unsigned long long)qd_eff, K, (unsigned long long)secs,
	    d->poll ? "true" : "false", d->event_idx ? "true" : "false", indirect ? "true" : "false", nseg);

	u64 ios = 0, errs = 0, bad = 0, lat = 0, inflight = 0, t_last;
	u64 t0 = rdtsc(), end = t0 + secs * tsc_hz, drain_end = end + ms_to_tsc(5000);
#define SUBMIT(k, sl) do { \
		u64 blk_ = rnd_off ? rnd() % blocks : seq; \
		if (!rnd_off && ++seq >= blocks) seq = 0; \
		(sl)->h->sector = blk_ * nsec; \
		*(sl)->status = 0xff; \
		(sl)->busy = true; \
		(sl)->t_submit = rdtsc(); \
		vq_push_head(&d->q[k], (sl)->head); \
		inflight++; \
	} while (0)
	for (u16 k = 0; k < K; k++) {
		for (u16 s = 0; s < spq[k]; s++)
			SUBMIT(k, slots(k, s));
		vq_kick(&d->q[k]);
	}
	t_last = t0;
	bool timed_out = false;
	while (inflight) {
		u64 now = rdtsc();
		bool stop = now >= end;
		u64 got = 0;
		for (u16 k = 0; k < K; k++) {
			struct vq *q = &d->q[k];
			u16 ui = *q->used_idx;
			if (ui == q->last_used)
				continue;
			__asm__ volatile("" ::: "memory");
			while (q->last_used != ui) {
				volatile struct vring_used_elem *e = &q->used_ring[q->last_used & (q->size - 1)];
				u32 id = e->id;
				q->last_used++;
				got++;
				struct slot *sl = id < q->size && head_slot(k, id) < spq[k] ? slots(k, head_slot(k, id)) : NULL;
				if (!sl || sl->head != id || !sl->busy) {
					bad++;
					continue;
				}
				u64 t = rdtsc();
				t_last = t;
				lat += t - sl->t_submit;
				ios++;
				inflight--;
				sl->busy = false;
				if (*sl->status != VIRTIO_BLK_S_OK)
					errs++;
				if (!stop)
					SUBMIT(k, sl);
			}
			if (d->poll)
				vq_quiet(q);
			vq_kick(q);			/* one decision per pass, notifies only if asked */
		}
		if (got || !inflight)
			continue;
		if (stop && now >= drain_end) {
			timed_out = true;
			break;
		}
		if (d->poll) {
			cpu_relax();
			continue;
		}
		u64 snap = irq_total;
		bool pending = false;
		for (u16 k = 0; k < K; k++)
			if (d->q[k].vector && !vq_arm(&d->q[k]))
				pending = true;
		if (pending)
			continue;
		virtio_sleep(snap, stop ? drain_end : end);
		for (u16 k = 0; k < K; k++)		/* none per completion while we work */
			vq_quiet(&d->q[k]);
	}
#undef SUBMIT
	u64 irqs = virtio_all_irqs(d) - irq0, nots = 0, sups = 0;
	for (u16 k = 0; k < K; k++) {
		nots += d->q[k].notifies;
		sups += d->q[k].kicks_suppressed;
	}
	nots -= not0;
	sups -= sup0;
	struct bench_args a = { .bs = bs, .qd = qd, .secs = secs, .queues = K };
	strlcpy(a.rw, rw, sizeof(a.rw));
	struct bench_res res = { .bus = "virtio", .device = d->bdf, .qd = qd_eff, .ios = ios,
				 .errs = errs, .bad = bad, .lat_tsc = lat, .irqs = irqs, .nots = nots,
				 .sups = sups, .t0 = t0, .t_last = t_last, .queues = K,
				 .timed_out = timed_out, .poll = d->poll, .event_idx = d->event_idx,
				 .indirect = indirect };
	bench_report(&a, &res);
	virtio_reset(d);
}
