/* test=rng: the virtio-rng device (virtio 1.2 section 5.4).
 *
 *   rng_init      the device is found and accepts the driver
 *   rng_bytes     requests are answered with bytes that are not constant and
 *                 differ between requests (a device that returns zeroes, or
 *                 the same block twice, fails)
 *   rng_rate      with rate=BYTES period=MS (what the domain's <rate> says):
 *                 secs= seconds of back-to-back requests keep being answered;
 *                 bytes and time are reported for the host to judge the
 *                 limit by its own clock (test-rng)
 *   rng_hostile   a chain with no writable buffer gets an empty answer and
 *                 the device keeps working; a buffer outside guest RAM puts it
 *                 in NEEDS_RESET, and after a reset it works again
 */
#include "virtio.h"

#define VIRTIO_ID_RNG 4
#define REQ 256

static struct vdev *rng;
static u8 *buf;

static bool rng_open(void)
{
	rng->poll = false;
	return virtio_init(rng, BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX), 1);
}

/* One request of `len` bytes at `addr`: the used length, or -1 timeout,
 * -2 NEEDS_RESET, -3 no descriptor or a wrong used entry. */
static long request(u64 addr, u32 len, bool write, u64 ms)
{
	struct vbuf b = { addr, len, write };
	u32 used;
	int rc = vq_submit_wait(&rng->q[0], &b, 1, NULL, ms, &used);
	if (rc == VQ_DONE)
		return used;
	return rc == VQ_TIMEOUT ? -1 : rc == VQ_RESET ? -2 : -3;
}

static bool constant(const u8 *p, long n)
{
	for (long i = 1; i < n; i++)
		if (p[i] != p[0])
			return false;
	return true;
}

static void test_bytes(void)
{
	long a = request((u64)buf, REQ, true, 5000);
	bool ok = a > 0 && a <= REQ && !constant(buf, a);
	u8 first[REQ] = { 0 };
	memcpy(first, buf, ok ? (size_t)a : 0);
	long b = request((u64)buf, REQ, true, 5000);
	bool differ = b > 0 && (a != b || memcmp(first, buf, (size_t)b) != 0);
	check("rng_bytes", ok && differ, ",\"first\":%ld,\"second\":%ld,\"differ\":%s", a, b,
	      differ ? "true" : "false");
}

static void test_rate(void)
{
	u64 bytes = cmdline_u64("rate", 0), period = cmdline_u64("period", 1000);
	u64 secs = cmdline_u64("secs", 3);
	if (!bytes) {
		/* No limit: how fast the device answers 4 KiB requests. */
		u64 t0 = rdtsc(), end = t0 + ms_to_tsc(secs * 1000), total = 0, n = 0;
		long got = 0;
		while (rdtsc() < end && (got = request((u64)buf, 4096, true, 5000)) > 0) {
			total += (u64)got;
			n++;
		}
		u64 us = (rdtsc() - t0) * 1000000 / tsc_hz;
		check("rng_rate", got > 0, ",\"limit\":null,\"bytes\":%llu,\"requests\":%llu,\"us\":%llu",
		      (unsigned long long)total, (unsigned long long)n, (unsigned long long)us);
		return;
	}
	u64 t0 = rdtsc(), end = t0 + ms_to_tsc(secs * 1000), total = 0, n = 0;
	long got = 0;
	while (rdtsc() < end) {
		got = request((u64)buf, REQ, true, period * 3 + 2000);
		if (got <= 0)
			break;
		total += (u64)got;
		n++;
	}
	u64 us = (rdtsc() - t0) * 1000000 / tsc_hz;
	/* Periods that can have started while we asked: the elapsed time over
	 * the period, rounded up, plus the one that began with the first request.
	 * The guest's clock is calibrated against its LAPIC timer and can run
	 * slow on a loaded host, so the host (test-rng) judges the limit with
	 * its own clock; here it is reported, and a device that stops
	 * answering fails. */
	u64 periods = (us + period * 1000 - 1) / (period * 1000) + 1;
	bool ok = got > 0 && total > 0;
	check("rng_rate", ok,
	      ",\"limit\":%llu,\"period_ms\":%llu,\"bytes\":%llu,\"requests\":%llu,\"us\":%llu,"
	      "\"max_allowed\":%llu,\"last\":%ld",
	      (unsigned long long)bytes, (unsigned long long)period, (unsigned long long)total,
	      (unsigned long long)n, (unsigned long long)us, (unsigned long long)(periods * bytes), got);
}

static void test_hostile(void)
{
	/* Only a device-readable buffer: nothing to fill. */
	long ro = request((u64)buf, 64, false, 5000);
	long after = request((u64)buf, 64, true, 5000);
	/* A writable buffer far outside guest RAM. */
	long bad = request(0x7f0000000000ull, 64, true, 5000);
	u8 st = virtio_status(rng);
	bool reset_seen = bad == -2 || (st & VIRTIO_S_NEEDS_RESET);
	bool again = rng_open() && request((u64)buf, 64, true, 5000) > 0;
	check("rng_hostile", ro == 0 && after > 0 && reset_seen && again,
	      ",\"readonly_used\":%ld,\"after\":%ld,\"outside_ram\":%ld,\"status\":\"0x%x\","
	      "\"works_after_reset\":%s", ro, after, bad, st, again ? "true" : "false");
}

void test_rng(void)
{
	struct vdev *devs[4];
	int n = virtio_find(VIRTIO_ID_RNG, devs, 4);
	if (n < 1) {
		check("rng_init", false, ",\"error\":\"no virtio-rng device\"");
		return;
	}
	rng = devs[cmdline_u64("rng", 0) < (u64)n ? cmdline_u64("rng", 0) : 0];
	buf = page_alloc(8192);
	bool ok = rng_open();
	check("rng_init", ok, ",\"bdf\":\"%s\",\"devices\":%d,\"features\":\"0x%llx\"%s%s%s", rng->bdf, n,
	      (unsigned long long)rng->features, ok ? "" : ",\"error\":\"",
	      ok ? "" : (rng->err ? rng->err : "?"), ok ? "" : "\"");
	if (!ok)
		return;
	test_bytes();
	test_rate();
	test_hostile();
}
