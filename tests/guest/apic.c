/* Local APIC and IOAPIC from CPL3 (both mapped User), TSC timekeeping and
 * bounded waits. Idling is the SYS_WAIT call (sti;hlt at CPL0); a one-shot
 * LAPIC timer bounds each sleep so no wait can hang. */
#include "acpi.h"

#define LAPIC_ID	0x020
#define LAPIC_TPR	0x080
#define LAPIC_SVR	0x0f0
#define LAPIC_LVT_TIMER	0x320
#define LAPIC_TICR	0x380
#define LAPIC_TDCR	0x3e0

volatile u64 irq_count[256];		/* incremented by the CPL0 stubs */
volatile u64 irq_total;			/* any counted interrupt */
u64 tsc_hz = 2000000000;		/* until time_init() knows better */
bool timer_ok;

u32 lapic_read(u32 reg) { return mmio_read32(LAPIC_BASE + reg); }
void lapic_write(u32 reg, u32 v) { mmio_write32(LAPIC_BASE + reg, v); }
u32 lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }

void lapic_init(void)
{
	lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);	/* software enable */
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_TDCR, 0xb);			/* divide by 1 */
	lapic_write(LAPIC_LVT_TIMER, VEC_TIMER);	/* one-shot */
}

u64 ms_to_tsc(u64 ms) { return ms * (tsc_hz / 1000); }

void delay_us(u64 us)
{
	u64 end = rdtsc() + us * (tsc_hz / 1000000);
	while (rdtsc() < end)
		cpu_relax();
}

/* TSC rate from CPUID when the CPU says, else measured against 10 ms of
 * LAPIC timer (KVM and QEMU run it at 1 GHz). Also proves the timer
 * interrupt reaches us; without it, waits spin instead of sleeping. */
void time_init(void)
{
	u32 r[4], max, hz = 0;
	const char *src = "default";

	cpuid(0, 0, r);
	max = r[0];
	if (max >= 0x15) {
		cpuid(0x15, 0, r);
		if (r[0] && r[1] && r[2]) {
			hz = (u32)((u64)r[2] * r[1] / r[0]);
			src = "cpuid15";
		}
	}
	if (!hz && max >= 0x16) {
		cpuid(0x16, 0, r);
		if (r[0]) {
			hz = r[0] * 1000000u;
			src = "cpuid16";
		}
	}
	cpuid(1, 0, r);
	if (!hz && (r[2] & (1u << 31))) {		/* hypervisor leaf 0x40000010 */
		cpuid(0x40000000, 0, r);
		if (r[0] >= 0x40000010) {
			cpuid(0x40000010, 0, r);
			if (r[0]) {
				hz = r[0] * 1000u;
				src = "hv";
			}
		}
	}
	if (hz)
		tsc_hz = hz;

	/* A timer interrupt can only come late (the vCPU was not running when
	 * it fell due), never early: the shortest of a few 10 ms one-shots is
	 * the best measure of the TSC rate on a loaded host. */
	u64 dt = ~0ull;
	timer_ok = true;
	for (int i = 0; i < 5 && timer_ok; i++) {
		u64 c0 = irq_count[VEC_TIMER];
		u64 t0 = rdtsc();
		lapic_write(LAPIC_TICR, 10000000);	/* 10 ms at 1 GHz */
		while (irq_count[VEC_TIMER] == c0 && rdtsc() - t0 < 2000000000ull)
			cpu_relax();
		u64 d = rdtsc() - t0;
		timer_ok = irq_count[VEC_TIMER] != c0;
		if (d < dt)
			dt = d;
	}
	if (timer_ok && !hz) {
		tsc_hz = dt * 100;
		src = "lapic-timer";
	}
	out("{\"event\":\"time\",\"tsc_hz\":%llu,\"source\":\"%s\",\"lapic_timer\":%s,\"timer_10ms_tsc\":%llu}",
	    (unsigned long long)tsc_hz, src, timer_ok ? "true" : "false",
	    (unsigned long long)(timer_ok ? dt : 0));
}

bool wait_change(volatile u64 *p, u64 old, u64 ms)
{
	u64 end = ms ? rdtsc() + ms_to_tsc(ms) : ~0ull;
	for (;;) {
		u64 snap = irq_total;
		if (*p != old)
			return true;
		u64 now = rdtsc();
		if (now >= end)
			return false;
		if (ms && !timer_ok) {
			cpu_relax();
			continue;
		}
		if (ms) {
			u64 ns = (end - now) / (tsc_hz / 1000000) * 1000;
			if (ns > 50000000)
				ns = 50000000;		/* re-check at least every 50 ms */
			if (ns < 10000)
				ns = 10000;
			lapic_write(LAPIC_TICR, (u32)ns);
		}
		sys_wait(&irq_total, snap);		/* returns on any interrupt */
	}
}

/* --- IOAPIC (the one covering GSI 0 from the MADT, default 0xfec00000) --- */
static u64 ioapic_base(void) { return acpi.ioapic_addr ? acpi.ioapic_addr : 0xfec00000ull; }

static void ioapic_write(u32 reg, u32 v)
{
	mmio_write32(ioapic_base(), reg);
	mmio_write32(ioapic_base() + 0x10, v);
}

void ioapic_route(u32 gsi, u8 vector, bool level, bool active_low, u8 dest, bool masked)
{
	u32 pin = gsi - acpi.ioapic_gsi_base;
	u32 lo = vector | (active_low ? 1u << 13 : 0) | (level ? 1u << 15 : 0) | (masked ? 1u << 16 : 0);
	ioapic_write(0x10 + 2 * pin, 1u << 16);		/* mask while changing */
	ioapic_write(0x11 + 2 * pin, (u32)dest << 24);
	ioapic_write(0x10 + 2 * pin, lo);
}
