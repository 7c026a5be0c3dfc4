/* Starting the APs from CPL3: the LAPIC is mapped User, so the BSP writes
 * the ICR itself (INIT-SIPI-SIPI). Each AP runs trampoline.S ->
 * pm32_common -> ap_entry64 and arrives in ap_main() at CPL3. */
#include "acpi.h"

#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310

extern const u8 tramp_start[], tramp_end[];

u8 apic_to_cpu[256];			/* read by ap_entry64 (CPL0) */
volatile u64 cpus_online = 1;
int smp_expected = 1;
u32 cpu_apic_id[MAX_CPUS];
static volatile u64 ap_done;

static void ipi(u32 apic, u32 lo)
{
	u64 end = rdtsc() + ms_to_tsc(10);
	while ((lapic_read(LAPIC_ICR_LO) & (1u << 12)) && rdtsc() < end)
		cpu_relax();
	lapic_write(LAPIC_ICR_HI, apic << 24);
	lapic_write(LAPIC_ICR_LO, lo);
}

/* spin (CPL3 is native speed) until *p >= n or ms elapse */
static bool wait_count(volatile u64 *p, u64 n, u64 ms)
{
	u64 end = rdtsc() + ms_to_tsc(ms);
	while (*p < n)
		if (rdtsc() >= end)
			return false;
		else
			cpu_relax();
	return true;
}

void smp_start(void)
{
	u32 self = lapic_id();
	u32 ids[MAX_CPUS * 2];
	int n = 0, started = 1;
	const char *src = "madt";
	char bad[256] = "";
	size_t bl = 0;

	if (acpi.ncpus) {
		for (int i = 0; i < acpi.ncpus; i++)
			ids[n++] = acpi.cpu_apic[i];
	} else {
		/* no MADT: assume APIC IDs 0..count-1 (CPUID 0xB, else leaf 1) */
		u32 r[4], count = 1;
		src = "cpuid";
		cpuid(0, 0, r);
		if (r[0] >= 0xb) {
			cpuid(0xb, 1, r);
			count = r[1] & 0xffff;
		}
		if (count <= 1) {
			cpuid(1, 0, r);
			count = (r[3] & (1u << 28)) ? (r[1] >> 16) & 0xff : 1;
		}
		for (u32 i = 0; i < count && n < (int)ARRAY_SIZE(ids); i++)
			ids[n++] = i;
	}
	smp_expected = n > MAX_CPUS ? MAX_CPUS : (n ? n : 1);

	memset(apic_to_cpu, 0, sizeof(apic_to_cpu));
	cpu_apic_id[0] = self;
	memcpy((void *)TRAMP_BASE, tramp_start, tramp_end - tramp_start);

	int slot = 1;
	for (int i = 0; i < n; i++) {
		u32 id = ids[i];
		if (id == self)
			continue;
		if (slot >= MAX_CPUS || id > 255) {
			if (bl < sizeof(bad) - 16)
				bl += sfmt(bad + bl, sizeof(bad) - bl, "%s%u", bl ? "," : "", id);
			continue;
		}
		/* each AP finds its slot by APIC ID, so a late one cannot
		 * take another's stacks */
		apic_to_cpu[id] = (u8)slot;
		cpu_apic_id[slot] = id;
		slot++;
		u64 want = cpus_online + 1;
		ipi(id, 0x4500);			/* INIT */
		delay_us(10000);
		ipi(id, 0x4600 | (TRAMP_BASE >> 12));	/* SIPI */
		if (!wait_count(&cpus_online, want, 10)) {
			ipi(id, 0x4600 | (TRAMP_BASE >> 12));
			wait_count(&cpus_online, want, 3000);
		}
		if (cpus_online >= want)
			started++;
		else if (bl < sizeof(bad) - 16)
			bl += sfmt(bad + bl, sizeof(bad) - bl, "%s%u", bl ? "," : "", id);
	}
	/* let the APs finish their own output (test=hello) */
	wait_count(&ap_done, (u64)started - 1, 2000);
	check("smp", started == smp_expected,
	      ",\"source\":\"%s\",\"expected\":%d,\"started\":%d,\"bsp_apic_id\":%u,\"failed_apic_ids\":[%s]",
	      src, smp_expected, started, self, bad);
}

NORETURN void ap_main(u32 cpu);
NORETURN void ap_main(u32 cpu)
{
	lapic_init();
	__atomic_fetch_add(&cpus_online, 1, __ATOMIC_SEQ_CST);
	if (!strcmp(test_name, "hello"))
		report_cpu(cpu);
	else if (!strcmp(test_name, "cpuid"))
		cpuid_report(cpu);
	__atomic_fetch_add(&ap_done, 1, __ATOMIC_SEQ_CST);
	idle_forever();
}
