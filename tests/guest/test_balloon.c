/* test=balloon: a virtio-balloon driver that follows the host's target.
 *
 * test=balloon [touch_mib=N] [step_mib=N] [cycles=N] [balloon_ms=MS] [hostile=1]
 *              [report_mib=N]
 *   touches N MiB of its RAM (a pool, one word per page), then follows
 *   num_pages in steps of step_mib: inflating gives the page frame numbers
 *   of pool pages it owns, deflating takes them back, checks that each
 *   returned page reads zero (the host dropped it) and holds fresh data
 *   written afterwards. The statistics queue is answered with figures
 *   measured from the kit's own memory state. It stops after `cycles`
 *   returns to an empty balloon (default 1), then rewrites and checks the
 *   whole pool. report_mib=N: first reports the pool's first N MiB as free
 *   (free page reporting). Progress lines: {"balloon":"ready"|"step",...}. With
 *   handshake=1 it then prints {"balloon":"reused"} and waits for a
 *   non-zero target before it ends, so the host can measure it first.
 *   report_wait=1: print {"balloon":"touched"} and report only once the
 *   host asks for statistics (set-balloon-period is the cue, the target
 *   stays), then print {"balloon":"reported"}. cycles=0: no target to follow.
 *   oom_mib=N: memory pressure, simulated: once the balloon is at its target
 *   and the host then asks for statistics (the cue), deflate N MiB of it
 *   without a target change (allowed only
 *   with DEFLATE_ON_OOM), use those pages, print {"balloon":"oom",...}, and
 *   hold them (no re-inflating) until the host changes the target. */
#include "virtio.h"

#define VIRTIO_ID_BALLOON	5
#define F_STATS_VQ		1
#define F_DEFLATE_ON_OOM	2
#define F_PAGE_REPORTING	5
#define REPORT_CHUNK		(4ull << 20)	/* Linux reports pageblocks */
#define REPORT_SG		32		/* chunks per request */
#define PAGE			4096ull
#define BATCH			256		/* PFNs per buffer, as Linux */

static u64 arg(const char *key, u64 dflt)
{
	char v[32];
	return cmdline_get(key, v, sizeof(v)) ? strtou64(v, NULL) : dflt;
}

static u64 mix64(u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static u8 *pool;
static u64 npool, in_balloon, gen = 1;
static u64 stale, bad_fresh, deflated;
static u32 *pfns;
static u8 *stats_buf;
static u64 stats_served;

static volatile u64 *word(u64 i) { return (volatile u64 *)(pool + i * PAGE); }

static u32 pfn_of(u64 i) { return (u32)(((u64)(pool + i * PAGE)) / PAGE); }

/* One buffer of k PFNs (in pfns[]) on queue qi; false on a device error. */
static bool send_pfns(struct vdev *d, int qi, u64 k)
{
	struct vbuf b = { (u64)pfns, (u32)(k * 4), false };
	return vq_submit_wait(&d->q[qi], &b, 1, NULL, 5000, NULL) == VQ_DONE;
}

/* Sends pool pages [first, first+n) on queue qi. */
static bool send_pages(struct vdev *d, int qi, u64 first, u64 n)
{
	for (u64 done = 0; done < n;) {
		u64 k = n - done < BATCH ? n - done : BATCH;
		for (u64 i = 0; i < k; i++)
			pfns[i] = pfn_of(first + done + i);
		if (!send_pfns(d, qi, k))
			return false;
		done += k;
	}
	return true;
}

/* Takes k pages back from the top of the balloon: each must read zero (the
 * host dropped it) and keep fresh data written now. */
static bool deflate(struct vdev *d, u64 k)
{
	u64 first = npool - in_balloon;
	bool ok = send_pages(d, 1, first, k);
	in_balloon -= k;
	gen++;
	for (u64 i = first; i < first + k; i++) {
		if (*word(i) != 0)
			stale++;
		*word(i) = mix64(i ^ gen << 40);
		if (*word(i) != mix64(i ^ gen << 40))
			bad_fresh++;
	}
	deflated += k;
	return ok;
}

/* hostile=1: what a broken or hostile driver sends, before the real work:
 * page frames outside RAM (top of the 32-bit space, just past RAM, the PCI
 * hole), a page inflated twice, a page deflated that was never inflated.
 * The host must ignore these 5 entries and keep serving. */
static bool hostile_pfns(struct vdev *d)
{
	u32 past_ram = (u32)((0x100000000ull < ram_usable_bytes() ? 0x200000000ull
				: 0x40000000ull + (64ull << 20)) / PAGE);
	pfns[0] = 0xffffffffu;
	pfns[1] = past_ram;
	pfns[2] = (u32)(0xc0000000ull / PAGE);
	pfns[3] = pfn_of(0);
	pfns[4] = pfn_of(0);
	if (!send_pfns(d, 0, 5))
		return false;
	pfns[0] = pfn_of(0);		/* back: valid */
	pfns[1] = pfn_of(1);		/* never given */
	if (!send_pfns(d, 1, 2))
		return false;
	*word(0) = mix64(0 ^ gen << 40);
	return true;
}

static bool hostile;

/* Free page reporting: pool pages [0, bytes) as device-writable chunks on
 * the reporting queue (the next one after the ones negotiated). */
static bool report_free(struct vdev *d, int qi, u64 bytes)
{
	struct vbuf b[REPORT_SG];
	for (u64 off = 0; off < bytes;) {
		int n = 0;
		for (; n < REPORT_SG && off < bytes; n++, off += REPORT_CHUNK) {
			b[n].addr = (u64)(pool + off);
			b[n].len = (u32)(bytes - off < REPORT_CHUNK ? bytes - off : REPORT_CHUNK);
			b[n].write = true;
		}
		if (vq_submit_wait(&d->q[qi], b, n, NULL, 5000, NULL) != VQ_DONE)
			return false;
	}
	return true;
}

/* The kit has no swap or page cache: free memory is what page_alloc has
 * left; hostile adds a tag virtio does not define. */
static unsigned stats_fill(void)
{
	u16 tags[] = { 0, 1, 2, 3, 4, 5, 6, 0xbeef };
	u64 total = ram_usable_bytes() - in_balloon * PAGE;
	u64 vals[] = { 0, 0, 0, 0, page_free_bytes(), total, page_free_bytes(), 1 };
	unsigned n = hostile ? 8 : 7;
	for (unsigned i = 0; i < n; i++) {
		__builtin_memcpy(stats_buf + 10 * i, &tags[i], 2);
		__builtin_memcpy(stats_buf + 10 * i + 2, &vals[i], 8);
	}
	return n;
}

static void stats_give(struct vdev *d)
{
	struct vbuf b = { (u64)stats_buf, 10 * stats_fill(), false };
	vq_add(&d->q[2], &b, 1, 0, NULL);
	vq_kick(&d->q[2]);
}

void test_balloon(void)
{
	struct vdev *devs[2];
	u64 touch = arg("touch_mib", 64) << 20, step = arg("step_mib", 64) << 20 >> 12;
	u64 cycles = arg("cycles", 1), limit_ms = arg("balloon_ms", 600000);
	hostile = arg("hostile", 0);
	if (virtio_find(VIRTIO_ID_BALLOON, devs, 2) < 1) {
		check("balloon_found", false, ",\"error\":\"no virtio-balloon device\"");
		return;
	}
	struct vdev *d = devs[0];
	u64 report = arg("report_mib", 0) << 20;
	bool ok = virtio_init(d, BIT(VIRTIO_F_VERSION_1) | BIT(F_STATS_VQ) | BIT(F_DEFLATE_ON_OOM) |
				 (report ? BIT(F_PAGE_REPORTING) : 0), report ? 4 : 3);
	bool has_stats = d->features & BIT(F_STATS_VQ);
	check("balloon_init", ok, ",\"features\":\"0x%llx\",\"offered\":\"0x%llx\"",
	      (unsigned long long)d->features, (unsigned long long)d->offered);
	if (!ok)
		return;
	pfns = page_alloc(PAGE);
	stats_buf = page_alloc(PAGE);
	if (has_stats)
		stats_give(d);
	if (touch > page_free_bytes() - (4ull << 20))
		touch = (page_free_bytes() - (4ull << 20)) & ~(PAGE - 1);
	pool = page_alloc(touch);
	npool = touch / PAGE;
	for (u64 i = 0; i < npool; i++)
		*word(i) = mix64(i ^ gen << 40);
	if (hostile)
		check("balloon_hostile_survived", hostile_pfns(d), ",\"entries\":5");
	if (report && report <= touch && arg("report_wait", 0)) {
		/* Wait for the host's cue: the stats buffer coming back. */
		out("{\"balloon\":\"touched\",\"touched_mib\":%llu}", (unsigned long long)(touch >> 20));
		u64 end = rdtsc() + ms_to_tsc(limit_ms);
		while (has_stats && !vq_pending(&d->q[2]) && rdtsc() < end)
			virtio_sleep(irq_total, rdtsc() + ms_to_tsc(20));
		if (has_stats && vq_get(&d->q[2], NULL, NULL, NULL)) {
			stats_served++;
			stats_give(d);
		}
	}
	if (report && report <= touch) {
		bool rep = d->features & BIT(F_PAGE_REPORTING);
		check("balloon_report", rep && report_free(d, has_stats ? 3 : 2, report),
		      ",\"negotiated\":%s,\"mib\":%llu", rep ? "true" : "false",
		      (unsigned long long)(report >> 20));
		if (arg("report_wait", 0))
			out("{\"balloon\":\"reported\",\"mib\":%llu}", (unsigned long long)(report >> 20));
	}
	out("{\"balloon\":\"ready\",\"touched_mib\":%llu}", (unsigned long long)(touch >> 20));

	u64 done_cycles = 0, beyond = 0, oom = arg("oom_mib", 0) << 20 >> 12, oom_target = 0;
	bool was_full = false, dev_ok = true, oom_done = false, cue = false;
	u64 deadline = rdtsc() + ms_to_tsc(limit_ms);
	while (done_cycles < cycles && dev_ok && rdtsc() < deadline) {
		if (has_stats && vq_pending(&d->q[2])) {
			u16 h;
			u32 len;
			vq_get(&d->q[2], &h, &len, NULL);
			stats_served++;
			stats_give(d);
			/* a stats request at the target: the host's cue for oom_mib */
			cue = in_balloon && in_balloon == vcfg32(d, 0);
		}
		u64 target = vcfg32(d, 0);
		if (target > npool) {
			beyond = target - npool;   /* more than the pool: give what we own */
			target = npool;
		}
		if (oom && !oom_done && cue && target == in_balloon && in_balloon >= oom) {
			bool can = d->features & BIT(F_DEFLATE_ON_OOM);
			oom_done = true;
			oom_target = vcfg32(d, 0);
			dev_ok = can && deflate(d, oom);
			mmio_write32(d->devcfg + 4, (u32)in_balloon);
			check("balloon_oom_deflate", dev_ok, ",\"negotiated\":%s,\"pages\":%llu",
			      can ? "true" : "false", (unsigned long long)oom);
			out("{\"balloon\":\"oom\",\"target\":%llu,\"actual\":%llu}",
			    (unsigned long long)oom_target, (unsigned long long)in_balloon);
			continue;
		}
		/* under pressure: the pages stay in use until the host decides */
		bool hold = oom_done && vcfg32(d, 0) == oom_target && target > in_balloon;
		if (target == in_balloon || hold) {
			if (was_full && in_balloon == 0) {
				done_cycles++;
				was_full = false;
				continue;
			}
			virtio_sleep(irq_total, rdtsc() + ms_to_tsc(20));
			continue;
		}
		if (target > in_balloon) {
			u64 k = target - in_balloon < step ? target - in_balloon : step;
			/* the stack's top: pool pages [npool - in_balloon - k, npool - in_balloon) */
			dev_ok = send_pages(d, 0, npool - in_balloon - k, k);
			in_balloon += k;
			was_full = true;
		} else {
			u64 k = in_balloon - target < step ? in_balloon - target : step;
			dev_ok = deflate(d, k);
		}
		mmio_write32(d->devcfg + 4, (u32)in_balloon);
		out("{\"balloon\":\"step\",\"target\":%llu,\"actual\":%llu}",
		    (unsigned long long)vcfg32(d, 0), (unsigned long long)in_balloon);
	}
	check("balloon_follow", dev_ok && done_cycles >= cycles,
	      ",\"cycles\":%llu,\"device_ok\":%s,\"beyond_pool_pages\":%llu",
	      (unsigned long long)done_cycles, dev_ok ? "true" : "false",
	      (unsigned long long)beyond);
	if (cycles)
		check("balloon_deflated_fresh", deflated > 0 && stale == 0 && bad_fresh == 0,
		      ",\"deflated_pages\":%llu,\"not_zero\":%llu,\"bad_fresh\":%llu",
		      (unsigned long long)deflated, (unsigned long long)stale,
		      (unsigned long long)bad_fresh);
	/* the whole pool is the guest's again: write and read every page */
	u64 bad = 0;
	gen++;
	for (u64 i = 0; i < npool; i++)
		*word(i) = mix64(i ^ gen << 40);
	for (u64 i = 0; i < npool; i++)
		if (*word(i) != mix64(i ^ gen << 40))
			bad++;
	check("balloon_reuse", bad == 0 && in_balloon == 0, ",\"pages\":%llu,\"bad\":%llu",
	      (unsigned long long)npool, (unsigned long long)bad);
	if (arg("handshake", 0)) {
		out("{\"balloon\":\"reused\"}");
		while (vcfg32(d, 0) == 0 && rdtsc() < deadline)
			virtio_sleep(irq_total, rdtsc() + ms_to_tsc(20));
	}
	if (has_stats)
		check("balloon_stats", stats_served > 0, ",\"requests\":%llu",
		      (unsigned long long)stats_served);
}
