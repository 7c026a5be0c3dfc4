/* BSP flow at CPL3: boot info, start line, timers, ACPI, APs, the test
 * named on the command line, the done line, power off. Also the CPL3 side
 * of fatal exceptions. */
#include "acpi.h"

/* filled by exc_common (isr.S) at CPL0 */
struct fatal_rec { u64 vector, error, rip, cr2; } fatal_rec[MAX_CPUS];
/* GED event bits, OR-ed in by ged_irq (isr.S) */
volatile u64 ged_events;
u64 ged_addr;
volatile u64 intx_events;		/* e1000 ICR bits read by the INTx stub */
u64 intx_addr;
u64 intx_w1c;			/* 1: intx_addr is a write-1-to-clear 16-bit ISR (rtl8139) */

char test_name[64];
extern char _bss_start[], _bss_end[];

void test_hello(void);
void test_pci(void);
void test_acpi(void);
void test_serial(void);
void test_reboot(void);
void test_poweroff(void);
void test_idle(void);
void test_fault(void);
void test_cpl0speed(void);
void test_syscall(void);
void test_cpuid(void);
void test_blk(void);
void test_balloon(void);
void test_blk_hostile(void);
void test_blk_bench(void);
void test_blk_persist(void);
void test_blk_resize(void);
void test_net(void);
void test_net_dhcp(void);
void test_net_bench(void);
void test_rng(void);
void test_console(void);
void test_ide(void);
void test_ahci(void);
void test_ide_media(void);
void test_net_reflect(void);
void test_net_peer(void);
void test_e1000(void);
void test_rtl8139(void);

static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
	{ "hello", test_hello }, { "pci", test_pci }, { "acpi", test_acpi },
	{ "serial", test_serial }, { "reboot", test_reboot },
	{ "poweroff", test_poweroff }, { "idle", test_idle }, { "fault", test_fault },
	{ "cpl0speed", test_cpl0speed }, { "syscall", test_syscall }, { "cpuid", test_cpuid },
	{ "balloon", test_balloon }, { "blk", test_blk }, { "blk-hostile", test_blk_hostile }, { "blk-bench", test_blk_bench },
	{ "blk-persist", test_blk_persist }, { "blk-resize", test_blk_resize }, { "net", test_net }, { "net-dhcp", test_net_dhcp },
	{ "net-bench", test_net_bench }, { "rng", test_rng }, { "console", test_console },
	{ "net-reflect", test_net_reflect }, { "net-peer", test_net_peer },
	{ "e1000", test_e1000 }, { "rtl8139", test_rtl8139 }, { "ide", test_ide }, { "ahci", test_ahci }, { "ide-media", test_ide_media },
};

NORETURN void idle_forever(void)
{
	for (;;)
		sys_wait(NULL, 0);
}

void report_cpu(u32 cpu)
{
	u32 r[4], id = lapic_id();
	cpuid(1, 0, r);
	check("cpu", id == r[1] >> 24, ",\"cpu\":%u,\"apic_id\":%u,\"cpuid_apic_id\":%u",
	      cpu, id, r[1] >> 24);
}

static NORETURN void poweroff(void)
{
	if (acpi.fadt) {
		acpi_poweroff();
		delay_us(1000000);
	}
	outb(0x64, 0xfe);		/* still here: i8042 reset, then triple fault */
	delay_us(1000000);
	sys_reset();
}

NORETURN void finish(void)
{
	if (!acpi.fadt)
		out("{\"event\":\"poweroff\",\"method\":\"i8042-reset\",\"reason\":\"no ACPI FADT\"}");
	out("{\"done\": true, \"passed\": %u, \"failed\": %u}", n_passed, n_failed);
	poweroff();
}

NORETURN void bsp_main(u64 kind, u64 info);
NORETURN void bsp_main(u64 kind, u64 info)
{
	static char buf[6144];
	struct ob o;

	memset(_bss_start, 0, _bss_end - _bss_start);
	serial_init();
	boot_parse((int)kind, info);

	ob_init(&o, buf, sizeof(buf));
	ob_printf(&o, "{\"event\":\"start\",\"boot\":\"%s\",\"cmdline\":", boot.kind_name);
	ob_jstr(&o, boot.cmdline);
	ob_printf(&o, "}");
	ob_emit(&o);
	if (!boot.valid)
		check("bootinfo", false, ",\"error\":\"no valid boot information from the loader\",\"info\":\"0x%llx\"",
		      (unsigned long long)info);

	lapic_init();
	time_init();
	u64 top = 0;
	for (int i = 0; i < boot.nmap; i++)		/* RAM, ACPI, NVS, persistent */
		if ((boot.map[i].type == 1 || boot.map[i].type == 3 || boot.map[i].type == 4 ||
		     boot.map[i].type == 7) && boot.map[i].addr + boot.map[i].size > top)
			top = boot.map[i].addr + boot.map[i].size;
	map_high(top);
	acpi_init();
	if (acpi.ecam)
		map_high(acpi.ecam + ((u64)acpi.ecam_bus_end + 1) * (1u << 20));
	if (!acpi.rsdp)
		out("{\"event\":\"no-acpi\"}");

	if (!cmdline_get("test", test_name, sizeof(test_name)))
		test_name[0] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++) {
		if (strcmp(test_name, tests[i].name))
			continue;
		if (tests[i].fn == test_hello)
			report_cpu(0);		/* the BSP's line comes first */
		smp_start();
		tests[i].fn();
		/* then=idle: stay up after the test until the ACPI power button
		 * (vmmctl shutdown), so a daemon-managed demo can be inspected. */
		char then[16];
		if (cmdline_get("then", then, sizeof(then)) && !strcmp(then, "idle") &&
		    tests[i].fn != test_idle)
			test_idle();
		finish();
	}
	ob_init(&o, buf, sizeof(buf));
	check_begin(&o, "cmdline", false);
	ob_printf(&o, ",\"error\":\"unknown or missing test=NAME\",\"test\":");
	ob_jstr(&o, test_name);
	check_end(&o);
	finish();
}

/* Entered from exc_common via iretq, on this CPU's user stack. */
NORETURN void fatal_entry(u64 cpu);
NORETURN void fatal_entry(u64 cpu)
{
	static volatile u32 claimed;
	if (__atomic_exchange_n(&claimed, 1, __ATOMIC_ACQUIRE))
		idle_forever();			/* another CPU is reporting */
	struct fatal_rec *f = &fatal_rec[cpu];
	serial_init();				/* may have been mid serial test */
	out_recover();
	out("{\"fatal\": {\"vector\":%llu,\"rip\":\"0x%llx\",\"error\":%llu,\"cr2\":\"0x%llx\",\"cpu\":%llu}}",
	    (unsigned long long)f->vector, (unsigned long long)f->rip,
	    (unsigned long long)f->error, (unsigned long long)f->cr2, (unsigned long long)cpu);
	__atomic_fetch_add(&n_failed, 1, __ATOMIC_RELAXED);
	finish();
}
