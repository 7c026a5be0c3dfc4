/* test=cpuid: what each vCPU's CPUID says about the topology and the
 * features the domain's <cpu> shapes, and the MADT's APIC ids, for the
 * host side to compare with the definition. CPUID runs at CPL0 (cpuid()
 * in lib.h), where the hypervisor answers with the VMM's table. */
#include "acpi.h"

static void regs(struct ob *o, const char *sep, u32 leaf, u32 sub)
{
	u32 r[4];
	cpuid(leaf, sub, r);
	ob_printf(o, "%s[%u,%u,%u,%u]", sep, r[0], r[1], r[2], r[3]);
}

/* One line per CPU; runs on the BSP and on every AP (ap_main). */
void cpuid_report(u32 cpu)
{
	static char bufs[MAX_CPUS][2048];
	struct ob o;
	u32 r[4], max, id = lapic_id();
	cpuid(0, 0, r);
	max = r[0];
	ob_init(&o, bufs[cpu % MAX_CPUS], sizeof(bufs[0]));
	ob_printf(&o, "{\"event\":\"cpuid\",\"cpu\":%u,\"lapic_id\":%u,\"max_leaf\":%u", cpu, id, max);
	regs(&o, ",\"leaf1\":", 1, 0);
	regs(&o, ",\"leaf7\":", 7, 0);
	ob_printf(&o, ",\"leaf4\":[");
	for (u32 i = 0; i < 4; i++)
		regs(&o, i ? "," : "", 4, i);
	ob_printf(&o, "],\"leafb\":[");
	for (u32 i = 0; max >= 0xb && i < 3; i++)
		regs(&o, i ? "," : "", 0xb, i);
	ob_printf(&o, "],\"leaf1f\":[");
	for (u32 i = 0; max >= 0x1f && i < 4; i++)
		regs(&o, i ? "," : "", 0x1f, i);
	ob_printf(&o, "],\"leafd\":[");
	for (u32 i = 0; max >= 0xd && i < 10; i++)
		regs(&o, i ? "," : "", 0xd, i);
	/* KVM's signature and paravirt features (KVM_CPUID_FEATURES) */
	ob_printf(&o, "],\"leafkvm\":[");
	regs(&o, "", 0x40000000, 0);
	regs(&o, ",", 0x40000001, 0);
	ob_printf(&o, "]}");
	ob_emit(&o);
	cpuid(1, 0, r);
	u32 x2 = id;
	if (max >= 0xb) {
		u32 b[4];
		cpuid(0xb, 0, b);
		x2 = b[3];
	}
	check("cpuid_apic_id", r[1] >> 24 == id && x2 == id,
	      ",\"cpu\":%u,\"lapic_id\":%u,\"leaf1_apic_id\":%u,\"x2apic_id\":%u",
	      cpu, id, r[1] >> 24, x2);
}

void test_cpuid(void)
{
	char buf[512];
	struct ob o;
	ob_init(&o, buf, sizeof(buf));
	ob_printf(&o, "{\"event\":\"madt\",\"apic_ids\":[");
	for (int i = 0; i < acpi.ncpus; i++)
		ob_printf(&o, "%s%u", i ? "," : "", acpi.cpu_apic[i]);
	ob_printf(&o, "]}");
	ob_emit(&o);
	cpuid_report(0);
}
