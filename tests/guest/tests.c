/* Tests: hello, acpi, reboot, poweroff, idle. (pci.c and test_serial.c
 * hold the larger ones.) Each prints check lines; main.c prints the done
 * line and powers off when the test function returns. */
#include "acpi.h"

extern volatile u64 ged_events;
extern u64 ged_addr;

void test_hello(void)
{
	static char buf[12288];
	struct ob o;
	u64 mib = ram_usable_bytes() >> 20;

	ob_init(&o, buf, sizeof(buf));
	check_begin(&o, "hello", mib > 0 && cpus_online == (u64)smp_expected);
	ob_printf(&o, ",\"memory_mib\":%llu,\"e820\":[", (unsigned long long)mib);
	for (int i = 0; i < boot.nmap; i++)
		ob_printf(&o, "%s{\"addr\":\"0x%llx\",\"size\":\"0x%llx\",\"type\":%u}", i ? "," : "",
			  (unsigned long long)boot.map[i].addr, (unsigned long long)boot.map[i].size,
			  boot.map[i].type);
	ob_printf(&o, "],\"cpus\":%llu,\"cmdline\":", (unsigned long long)cpus_online);
	ob_jstr(&o, boot.cmdline);
	check_end(&o);

	/* RAM above 4 GiB is mapped by map_high(): touch both ends of it */
	u64 high = 0;
	bool ok = true;
	for (int i = 0; i < boot.nmap; i++) {
		const struct e820 *e = &boot.map[i];
		if (e->type != 1 || e->addr + e->size <= 0x100000000ull || e->size < 16)
			continue;
		u64 lo = e->addr < 0x100000000ull ? 0x100000000ull : e->addr;
		u64 probe[2] = { lo, (e->addr + e->size - 8) & ~7ull };
		for (int k = 0; k < 2; k++) {
			volatile u64 *p = (volatile u64 *)probe[k];
			u64 save = *p;
			*p = probe[k] ^ 0x5a5a5a5a5a5a5a5aull;
			ok = ok && *p == (probe[k] ^ 0x5a5a5a5a5a5a5a5aull);
			*p = save;
		}
		high += e->addr + e->size - lo;
	}
	if (high)
		check("memory_high", ok, ",\"mib_above_4g\":%llu", (unsigned long long)(high >> 20));
}

void test_acpi(void)
{
	char buf[6144];
	struct ob o;

	if (!acpi.rsdp) {
		check("acpi_rsdp", false, ",\"error\":\"RSDP not found (boot info, EBDA, 0xe0000-0xfffff)\"");
		return;
	}
	check("acpi_rsdp", acpi.rsdp_csum_ok && acpi.rsdp_xcsum_ok,
	      ",\"addr\":\"0x%llx\",\"source\":\"%s\",\"revision\":%u,\"checksum\":%s,\"ext_checksum\":%s",
	      (unsigned long long)acpi.rsdp, acpi.rsdp_src, acpi.rsdp_rev,
	      acpi.rsdp_csum_ok ? "true" : "false", acpi.rsdp_xcsum_ok ? "true" : "false");
	check("acpi_root", acpi.root && acpi.root_csum_ok, ",\"table\":\"%s\",\"addr\":\"0x%llx\"",
	      acpi.root_is_xsdt ? "XSDT" : "RSDT", (unsigned long long)acpi.root);

	bool all = acpi.ntab > 0;
	for (int i = 0; i < acpi.ntab; i++)
		all = all && acpi.tab[i].csum_ok;
	ob_init(&o, buf, sizeof(buf));
	check_begin(&o, "acpi_checksums", all);
	ob_printf(&o, ",\"tables\":[");
	for (int i = 0; i < acpi.ntab; i++)
		ob_printf(&o, "%s{\"sig\":\"%s\",\"addr\":\"0x%llx\",\"len\":%u,\"ok\":%s}", i ? "," : "",
			  acpi.tab[i].sig, (unsigned long long)acpi.tab[i].addr, acpi.tab[i].len,
			  acpi.tab[i].csum_ok ? "true" : "false");
	ob_printf(&o, "]");
	check_end(&o);

	ob_init(&o, buf, sizeof(buf));
	bool req = acpi.fadt && acpi.madt && acpi.dsdt && acpi.mcfg;
	check_begin(&o, "acpi_required", req);
	ob_printf(&o, ",\"missing\":[");
	const char *sep = "";
	if (!acpi.fadt) ob_printf(&o, "%s\"FACP\"", sep), sep = ",";
	if (!acpi.madt) ob_printf(&o, "%s\"APIC\"", sep), sep = ",";
	if (!acpi.dsdt) ob_printf(&o, "%s\"DSDT\"", sep), sep = ",";
	if (!acpi.mcfg) ob_printf(&o, "%s\"MCFG\"", sep), sep = ",";
	ob_printf(&o, "],\"hw_reduced\":%s,\"s5_typ\":%d,\"ged\":%s,\"ecam\":\"0x%llx\",\"ioapic\":\"0x%llx\"",
		  acpi.hw_reduced ? "true" : "false", acpi.s5_typ, acpi.has_ged ? "true" : "false",
		  (unsigned long long)acpi.ecam, (unsigned long long)acpi.ioapic_addr);
	if (acpi.has_ged)
		ob_printf(&o, ",\"ged_addr\":\"0x%llx\",\"ged_gsi\":%u", (unsigned long long)acpi.ged_addr,
			  acpi.ged_gsi);
	check_end(&o);

	check("acpi_madt_cpus", acpi.ncpus == (int)cpus_online, ",\"madt_cpus\":%d,\"cpus\":%llu",
	      acpi.ncpus, (unsigned long long)cpus_online);
}

void test_reboot(void)
{
	char method[16];
	if (!cmdline_get("method", method, sizeof(method)))
		strlcpy(method, "kbd", sizeof(method));

	if (!strcmp(method, "kbd")) {
		out("{\"event\":\"reboot\",\"method\":\"kbd\"}");
		outb(0x64, 0xfe);		/* i8042: pulse the reset line */
	} else if (!strcmp(method, "acpi")) {
		const u8 *f = (const u8 *)acpi.fadt;
		if (!f || rd32(f + 4) < 129 || !rd64(f + 120)) {
			check("reboot", false, ",\"method\":\"acpi\",\"error\":\"no FADT RESET_REG\"");
			return;
		}
		out("{\"event\":\"reboot\",\"method\":\"acpi\",\"reset_reg\":\"0x%llx\",\"space\":%u,\"value\":\"0x%x\",\"flag\":%s}",
		    (unsigned long long)rd64(f + 120), f[116], f[128],
		    (acpi.fadt_flags & (1u << 10)) ? "true" : "false");
		acpi_reset();
	} else {
		check("cmdline", false, ",\"error\":\"unknown reboot method\",\"method\":\"%s\"", method);
		return;
	}
	delay_us(2000000);
	check("reboot", false, ",\"method\":\"%s\",\"error\":\"still running 2 s after the reset request\"",
	      method);
}

void test_poweroff(void)
{
	const char *m = !acpi.fadt ? "i8042-reset" : acpi.hw_reduced ? "acpi-sleep-control" : "acpi-pm1";
	out("{\"event\":\"poweroff\",\"method\":\"%s\"}", m);
	/* main.c prints the done line and powers off */
}

/* How fast this host runs guest CPL0 code the way a Linux kernel does:
 * at boot, before any CPL3 code ran (entry64.S times a loop there); plain
 * code at the kernel-map addresses (0xffffffff80000000 + physical); and
 * the interrupt-flag save/restore a kernel executes constantly
 * (pushf; cli; popf). On PVM the first is emulated (~1 us/instruction)
 * while CPL0 code entered from CPL3 through the IDT runs natively. Each loop is timed with the TSC. With hardware
 * virtualization all of it runs natively (~1 ns per instruction); where
 * CPL0 is emulated a stock Linux kernel cannot boot. The Linux boot test
 * reads "kernel_native". */
#define KERNEL_MAP 0xffffffff80000000ull
extern u64 pml4[], pdpt[], kalias_pdpt[];
extern char cpl0_spin[], cpl0_spin_irqflags[];
extern u64 boot_spin_tsc[2];

/* Picoseconds per instruction of fn (insns instructions per round). */
static u64 spin_ps(u64 fn, u64 rounds, u64 insns)
{
	u64 t0 = rdtsc();
	sys_spin(rounds, fn);
	u64 dt = rdtsc() - t0;
	return dt * 1000 / (tsc_hz / 1000000) / (insns * rounds);
}

#define NS3(ps) (unsigned long long)((ps) / 1000), (unsigned long long)((ps) % 1000)

void test_cpl0speed(void)
{
	/* PML4[511] -> kalias_pdpt; its entry 510 -> the PD of 0-1 GiB. */
	kalias_pdpt[510] = (pdpt[0] & ~0xfffull) | 0x3;
	pml4[511] = (u64)kalias_pdpt | 0x3;
	sys_flush_tlb();
	u64 plain = spin_ps(KERNEL_MAP + (u64)cpl0_spin, 100000, 2);
	u64 irqf = spin_ps(KERNEL_MAP + (u64)cpl0_spin_irqflags, 2000, 5);
	u64 boot = (boot_spin_tsc[1] - boot_spin_tsc[0]) * 1000 / (tsc_hz / 1000000) /
		   (2 * BOOT_SPIN_ROUNDS);
	u64 worst = plain > irqf ? plain : irqf;
	worst = worst > boot ? worst : boot;
	check("cpl0_speed", true,
	      ",\"boot_ns_per_insn\":%llu.%03llu,\"plain_ns_per_insn\":%llu.%03llu,"
	      "\"irqflags_ns_per_insn\":%llu.%03llu,\"kernel_native\":%s",
	      NS3(boot), NS3(plain), NS3(irqf), worst < 50000 ? "true" : "false");
}

/* SYSCALL from CPL3 into CPL0, as every Linux system call does: the target
 * must run at CPL0 (it records CS & 3), return rax+1 and be entered once.
 * The start line goes out first: on hosts where SYSCALL triple-faults the
 * guest the VM resets instead of printing the check, and the host side
 * sees that as a reset. On PVM the target runs at CPL3 ("cpl":3): the
 * check fails, honestly. Nothing else in the kit uses SYSCALL. */
volatile u64 syscall_count, syscall_cpl = 99;
extern char syscall_entry[];

void test_syscall(void)
{
	out("{\"event\":\"syscall\",\"note\":\"a reset now means SYSCALL is unusable\"}");
	u64 nr = SYS_SYSCALL_ON, handler = (u64)syscall_entry;
	__asm__ volatile("int3" : "+a"(nr), "+D"(handler) :: "memory");
	u64 before = syscall_count, v = 41;
	__asm__ volatile("syscall" : "+a"(v) :: "rcx", "r11", "rdx", "memory");
	u64 entered = syscall_count - before, cpl = syscall_cpl;
	check("syscall", v == 42 && entered == 1 && cpl == 0,
	      ",\"result\":%llu,\"entered\":%llu,\"cpl\":%llu%s",
	      (unsigned long long)v, (unsigned long long)entered, (unsigned long long)cpl,
	      cpl == 3 ? ",\"reason\":\"SYSCALL left the vCPU at CPL3\"" : "");
}

/* Wait for the ACPI power button: a GED event selector bit (from the DSDT's
 * _EVT, default 0x4), GED interrupt
 * routed level-triggered through the IOAPIC. timeout=SECONDS bounds the
 * wait; without it the guest idles until the button comes. */
bool powerbutton_arm(void)
{
	if (!acpi.has_ged)
		return false;
	/* No draining read of the event selector first: a press that came
	 * before we got here is still latched (level-triggered) and is
	 * delivered as soon as the IOAPIC entry is unmasked. */
	ged_addr = acpi.ged_addr;
	ioapic_route(acpi.ged_gsi, VEC_GED, acpi.ged_level, acpi.ged_low, (u8)lapic_id(), false);
	return true;
}

bool powerbutton_pressed(void) { return ged_events & acpi.ged_pwr_bit; }

void test_idle(void)
{
	char tbuf[24];
	u64 timeout_ms = cmdline_get("timeout", tbuf, sizeof(tbuf)) ? strtou64(tbuf, NULL) * 1000 : 0;

	if (!powerbutton_arm()) {
		out("{\"event\":\"idle\",\"ged\":false}");
		skip("idle_powerbutton", "no ACPI GED (ACPI0013) in the DSDT");
		return;
	}
	out("{\"event\":\"idle\",\"ged\":true,\"ged_addr\":\"0x%llx\",\"gsi\":%u,\"level\":%s,\"active_low\":%s,\"power_bit\":\"0x%x\",\"timeout_s\":%llu}",
	    (unsigned long long)acpi.ged_addr, acpi.ged_gsi, acpi.ged_level ? "true" : "false",
	    acpi.ged_low ? "true" : "false", acpi.ged_pwr_bit, (unsigned long long)(timeout_ms / 1000));

	u64 end = timeout_ms ? rdtsc() + ms_to_tsc(timeout_ms) : 0;
	for (;;) {
		u64 ev = ged_events;
		if (ev & acpi.ged_pwr_bit)
			break;
		u64 left = 0;
		if (end) {
			u64 now = rdtsc();
			if (now >= end) {
				check("idle_powerbutton", false,
				      ",\"error\":\"timeout\",\"events\":\"0x%llx\",\"interrupts\":%llu",
				      (unsigned long long)ev, (unsigned long long)irq_count[VEC_GED]);
				return;
			}
			left = (end - now) / (tsc_hz / 1000) + 1;
		}
		wait_change(&ged_events, ev, left);
	}
	out("{\"event\":\"powerbutton\"}");
}

/* test=fault [kind=pf|ud|gp]: exercise the fatal-exception path. */
void test_fault(void)
{
	char kind[8];
	if (!cmdline_get("kind", kind, sizeof(kind)))
		strlcpy(kind, "pf", sizeof(kind));
	out("{\"event\":\"fault\",\"kind\":\"%s\"}", kind);
	if (!strcmp(kind, "ud"))
		__asm__ volatile("ud2");
	else if (!strcmp(kind, "gp"))
		(void)*(volatile u64 *)0x8000000000000000ull;	/* non-canonical */
	else
		(void)*(volatile u64 *)0x10000000000ull;	/* 1 TiB: not mapped */
	check("fault", false, ",\"error\":\"no exception\"");
}
