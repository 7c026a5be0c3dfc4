/* test=blk-bench over any disk bus: the arguments and the blk_bench line
 * all buses report (test_blkbench.c), and the emulated buses' workloads
 * (test_ide.c: bus=ide, test_ahci.c: bus=sata). */
#ifndef GK_BLKBENCH_H
#define GK_BLKBENCH_H

#include "lib.h"

struct bench_args {
	char rw[16];
	u64 bs, qd, secs, queues;
	bool rnd, write;
};

struct bench_res {
	const char *bus, *device;
	u64 qd, ios, errs, bad, lat_tsc, irqs, nots, sups, t0, t_last;
	u16 queues;
	bool timed_out, poll, event_idx, indirect;
};

/* The next block to use: random, or sequential from *seq (wrapping). */
u64 bench_next(const struct bench_args *a, u64 *seq, u64 blocks);
/* The check line: "blk_bench" with throughput, latency, interrupts and
 * notifications (register writes that start I/O) per request. */
void bench_report(const struct bench_args *a, const struct bench_res *r);
void bench_fail(const char *bus, const char *why);

void ide_bench(const struct bench_args *a);
void ahci_bench(const struct bench_args *a);

#endif
