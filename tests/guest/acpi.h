/* ACPI discovery results (acpi.c). */
#ifndef GK_ACPI_H
#define GK_ACPI_H

#include "lib.h"

struct acpi_table {
	char sig[5];
	u64 addr;
	u32 len;
	bool csum_ok;
};

struct acpi_iso {			/* MADT interrupt source override */
	u8 irq;
	u32 gsi;
	u16 flags;
};

struct acpi {
	u64 rsdp;				/* 0: no ACPI */
	const char *rsdp_src;			/* "boot", "ebda", "bios" */
	u8 rsdp_rev;
	bool rsdp_csum_ok, rsdp_xcsum_ok;
	u64 root;				/* XSDT or RSDT */
	bool root_is_xsdt, root_csum_ok;
	struct acpi_table tab[48];
	int ntab;
	u64 fadt, madt, mcfg, dsdt;
	bool dsdt_csum_ok;
	/* MADT */
	u64 lapic_addr;
	int ncpus;				/* enabled LAPIC/x2APIC entries */
	u32 cpu_apic[MAX_CPUS * 2];
	u64 ioapic_addr;
	u32 ioapic_gsi_base;
	int nioapic;
	struct acpi_iso iso[16];
	int niso;
	/* MCFG (segment 0) */
	u64 ecam;
	u8 ecam_bus_start, ecam_bus_end;
	/* FADT */
	u32 fadt_flags;
	bool hw_reduced;
	int s5_typ;				/* -1: _S5_ not found in DSDT */
	/* GED (ACPI0013) from the DSDT, defaults per the platform */
	bool has_ged;
	u64 ged_addr;
	u32 ged_gsi;
	bool ged_level, ged_low;
	u32 ged_pwr_bit;			/* event selector bit of the power button */
};

extern struct acpi acpi;

void acpi_init(void);
u8 acpi_sum(const void *p, size_t n);
const u8 *acpi_find(const char *sig);
void acpi_isa_irq(u8 irq, u32 *gsi, bool *level, bool *low);
void acpi_poweroff(void);		/* returns only if it did not work */
bool acpi_reset(void);			/* false: no reset register */
/* tests.c: route the GED's power button (false: no GED); then poll */
bool powerbutton_arm(void);
bool powerbutton_pressed(void);

#endif
