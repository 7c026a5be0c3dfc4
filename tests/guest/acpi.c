/* ACPI discovery: RSDP, XSDT/RSDT, FADT, MADT, MCFG, a little DSDT AML
 * pattern matching (_S5_, the GED device), power off and reset. */
#include "acpi.h"

struct acpi acpi;

u8 acpi_sum(const void *p, size_t n)
{
	const u8 *b = p;
	u8 s = 0;
	while (n--)
		s += *b++;
	return s;
}

static bool rsdp_at(u64 a)
{
	return !memcmp((const void *)a, "RSD PTR ", 8) && acpi_sum((const void *)a, 20) == 0;
}

static u64 scan_rsdp(u64 start, u64 len)
{
	for (u64 a = start; a + 20 <= start + len; a += 16)
		if (rsdp_at(a))
			return a;
	return 0;
}

static void find_rsdp(void)
{
	u64 ebda = (u64)rd16((const void *)0x40e) << 4;

	if (boot.rsdp && boot.rsdp < 0x100000000ull &&
	    !memcmp((const void *)boot.rsdp, "RSD PTR ", 8)) {
		acpi.rsdp = boot.rsdp;
		acpi.rsdp_src = "boot";
	} else if (ebda >= 0x80000 && ebda < 0xa0000 && (acpi.rsdp = scan_rsdp(ebda, 1024))) {
		acpi.rsdp_src = "ebda";
	} else if ((acpi.rsdp = scan_rsdp(0xe0000, 0x20000))) {
		acpi.rsdp_src = "bios";
	}
}

static bool table_sane(u64 a)
{
	if (!a || a >= 0x100000000ull * 64)
		return false;
	u32 len = rd32((const void *)(a + 4));
	return len >= 36 && len < (16u << 20);
}

static void add_table(u64 a)
{
	if (!table_sane(a) || acpi.ntab >= (int)ARRAY_SIZE(acpi.tab))
		return;
	struct acpi_table *t = &acpi.tab[acpi.ntab++];
	memcpy(t->sig, (const void *)a, 4);
	t->sig[4] = 0;
	for (int i = 0; i < 4; i++)		/* keep the JSON printable */
		if (t->sig[i] < 0x20 || t->sig[i] > 0x7e)
			t->sig[i] = '?';
	t->addr = a;
	t->len = rd32((const void *)(a + 4));
	t->csum_ok = acpi_sum((const void *)a, t->len) == 0;
}

const u8 *acpi_find(const char *sig)
{
	for (int i = 0; i < acpi.ntab; i++)
		if (!memcmp(acpi.tab[i].sig, sig, 4))
			return (const u8 *)acpi.tab[i].addr;
	return NULL;
}

static void parse_madt(const u8 *m)
{
	u32 len = rd32(m + 4);
	acpi.lapic_addr = rd32(m + 36);
	for (u32 off = 44; off + 2 <= len;) {
		const u8 *e = m + off;
		if (e[1] < 2)
			break;
		switch (e[0]) {
		case 0:				/* Processor Local APIC */
			if ((rd32(e + 4) & 1) && acpi.ncpus < (int)ARRAY_SIZE(acpi.cpu_apic))
				acpi.cpu_apic[acpi.ncpus++] = e[3];
			break;
		case 9:				/* Processor Local x2APIC */
			if ((rd32(e + 8) & 1) && acpi.ncpus < (int)ARRAY_SIZE(acpi.cpu_apic))
				acpi.cpu_apic[acpi.ncpus++] = rd32(e + 4);
			break;
		case 1:				/* I/O APIC: keep the one with GSI base 0 */
			if (!acpi.nioapic++ || rd32(e + 8) == 0) {
				acpi.ioapic_addr = rd32(e + 4);
				acpi.ioapic_gsi_base = rd32(e + 8);
			}
			break;
		case 2:				/* Interrupt Source Override */
			if (acpi.niso < (int)ARRAY_SIZE(acpi.iso))
				acpi.iso[acpi.niso++] = (struct acpi_iso){ e[3], rd32(e + 4), rd16(e + 8) };
			break;
		case 5:				/* Local APIC address override */
			acpi.lapic_addr = rd64(e + 4);
			break;
		}
		off += e[1];
	}
}

static void parse_mcfg(const u8 *m)
{
	u32 len = rd32(m + 4);
	for (u32 off = 44; off + 16 <= len; off += 16) {
		if (rd16(m + off + 8) == 0) {	/* PCI segment 0 */
			acpi.ecam = rd64(m + off);
			acpi.ecam_bus_start = m[off + 10];
			acpi.ecam_bus_end = m[off + 11];
			return;
		}
	}
}

static const u8 *memfind(const u8 *p, u32 len, const char *pat, u32 plen)
{
	for (u32 i = 0; i + plen <= len; i++)
		if (!memcmp(p + i, pat, plen))
			return p + i;
	return NULL;
}

/* Name(_S5_, Package(){ SLP_TYP, ... }): first element */
static int find_s5(const u8 *d, u32 len)
{
	for (u32 i = 36; i + 9 <= len; i++) {
		if (memcmp(d + i, "_S5_", 4) || d[i + 4] != 0x12)	/* PackageOp */
			continue;
		const u8 *p = d + i + 5;
		p += (p[0] >> 6) + 1;		/* PkgLength */
		p++;				/* NumElements */
		if (p + 2 > d + len)
			break;
		switch (p[0]) {
		case 0x00: return 0;		/* ZeroOp */
		case 0x01: return 1;		/* OneOp */
		case 0x0a: return p[1];		/* BytePrefix */
		case 0x0b: return p[1];		/* WordPrefix (low byte) */
		}
	}
	return -1;
}

/* The GED: _HID "ACPI0013"; its Interrupt() descriptor and the SystemMemory
 * OperationRegion holding the event selector are found near it. */
static void find_ged(const u8 *d, u32 len)
{
	const u8 *h = memfind(d, len, "ACPI0013", 8);
	if (!h)
		return;
	acpi.has_ged = true;
	u32 at = (u32)(h - d);
	const u8 *lo = d + (at > 128 ? at - 128 : 0);
	const u8 *hi = d + (len - at > 1024 ? at + 1024 : len);
	bool irq = false, reg = false;
	for (const u8 *p = lo; p + 12 < hi; p++) {
		if (!irq && p > h && p[0] == 0x89 && p[1] >= 6 && p[2] == 0 && p[4] >= 1) {
			/* Extended Interrupt Descriptor: flags bit1 edge, bit2 active-low */
			acpi.ged_gsi = rd32(p + 5);
			acpi.ged_level = !(p[3] & 2);
			acpi.ged_low = p[3] & 4;
			irq = true;
		}
		if (!reg && p[0] == 0x5b && p[1] == 0x80 && p[6] == 0x00 && p[7] == 0x0c) {
			acpi.ged_addr = rd32(p + 8);	/* OpRegion, SystemMemory, DWordConst */
			reg = true;
		}
	}
}

/* AML integer at p (ZeroOp, OneOp, Byte/Word/DWordConst); -1 if none */
static long aml_int(const u8 *p)
{
	switch (p[0]) {
	case 0x00: return 0;
	case 0x01: return 1;
	case 0x0a: return p[1];
	case 0x0b: return rd16(p + 1);
	case 0x0c: return rd32(p + 1);
	}
	return -1;
}

/* Which GED event bit means "power button": the _EVT method does
 * If ((ESEL & bit) == bit) { Notify (PWRB, 0x80) }. Find the Notify and
 * take the mask of the nearest And before it. QEMU uses 0x2, vmmd 0x4. */
static void find_ged_pwr_bit(const u8 *d, u32 len)
{
	for (u32 i = 36; i + 16 < len; i++) {
		if (d[i] != 0x86 || !memfind(d + i + 1, 11, "PWRB", 4))	/* NotifyOp */
			continue;
		const u8 *n = memfind(d + i + 1, 11, "PWRB", 4) + 4;
		if (n[0] != 0x0a || n[1] != 0x80)
			continue;
		for (u32 j = i - 1; j > 36 && j + 48 > i; j--) {
			if (d[j] != 0x7b)				/* AndOp */
				continue;
			const u8 *p = d + j + 1;
			if (*p >= 0x60 && *p <= 0x6e)			/* LocalX / ArgX */
				p++;
			else {
				while (*p == '\\' || *p == '^')
					p++;
				p += *p == 0x2e ? 9 : *p == 0x2f ? 2 + 4 * p[1] : 4;
			}
			long bit = aml_int(p);
			if (bit > 0 && !(bit & (bit - 1))) {
				acpi.ged_pwr_bit = (u32)bit;
				return;
			}
		}
	}
}

void acpi_init(void)
{
	acpi.s5_typ = -1;
	acpi.ged_addr = 0xfeb00000;		/* platform defaults (vmmd, microvm) */
	acpi.ged_gsi = 9;
	acpi.ged_level = true;
	acpi.ged_pwr_bit = 0x4;
	find_rsdp();
	if (!acpi.rsdp)
		return;
	const u8 *r = (const u8 *)acpi.rsdp;
	acpi.rsdp_rev = r[15];
	acpi.rsdp_csum_ok = acpi_sum(r, 20) == 0;
	acpi.rsdp_xcsum_ok = true;
	if (acpi.rsdp_rev >= 2) {
		u32 len = rd32(r + 20);
		acpi.rsdp_xcsum_ok = len >= 36 && len < 4096 && acpi_sum(r, len) == 0;
		acpi.root = rd64(r + 24);
		acpi.root_is_xsdt = acpi.root != 0;
	}
	if (!acpi.root)
		acpi.root = rd32(r + 16);
	if (!table_sane(acpi.root))
		return;
	const u8 *root = (const u8 *)acpi.root;
	u32 rlen = rd32(root + 4);
	acpi.root_csum_ok = acpi_sum(root, rlen) == 0;
	u32 esz = acpi.root_is_xsdt ? 8 : 4;
	for (u32 off = 36; off + esz <= rlen; off += esz)
		add_table(acpi.root_is_xsdt ? rd64(root + off) : rd32(root + off));

	const u8 *f = acpi_find("FACP");
	if (f) {
		u32 flen = rd32(f + 4);
		acpi.fadt = (u64)f;
		acpi.fadt_flags = flen >= 116 ? rd32(f + 112) : 0;
		acpi.hw_reduced = acpi.fadt_flags & (1u << 20);
		u64 dsdt = flen >= 148 ? rd64(f + 140) : 0;
		if (!dsdt)
			dsdt = rd32(f + 40);
		if (table_sane(dsdt)) {
			acpi.dsdt = dsdt;
			add_table(dsdt);
			u32 dlen = rd32((const void *)(dsdt + 4));
			acpi.dsdt_csum_ok = acpi_sum((const void *)dsdt, dlen) == 0;
			acpi.s5_typ = find_s5((const u8 *)dsdt, dlen);
			find_ged((const u8 *)dsdt, dlen);
			if (acpi.has_ged)
				find_ged_pwr_bit((const u8 *)dsdt, dlen);
		}
	}
	if ((acpi.madt = (u64)acpi_find("APIC")))
		parse_madt((const u8 *)acpi.madt);
	if ((acpi.mcfg = (u64)acpi_find("MCFG")))
		parse_mcfg((const u8 *)acpi.mcfg);
}

void acpi_isa_irq(u8 irq, u32 *gsi, bool *level, bool *low)
{
	*gsi = irq;
	*level = false;
	*low = false;
	for (int i = 0; i < acpi.niso; i++) {
		if (acpi.iso[i].irq != irq)
			continue;
		*gsi = acpi.iso[i].gsi;
		*low = (acpi.iso[i].flags & 3) == 3;
		*level = ((acpi.iso[i].flags >> 2) & 3) == 3;
	}
}

/* Generic Address Structure write: system memory or system I/O */
static bool gas_write(const u8 *gas, u32 v)
{
	u64 a = rd64(gas + 4);
	u8 width = gas[1] ? gas[1] : 8 << (gas[3] ? gas[3] - 1 : 0);
	if (!a)
		return false;
	if (gas[0] == 0) {
		if (width <= 8) mmio_write8(a, (u8)v);
		else if (width <= 16) mmio_write16(a, (u16)v);
		else mmio_write32(a, v);
	} else if (gas[0] == 1) {
		if (width <= 8) outb((u16)a, (u8)v);
		else if (width <= 16) outw((u16)a, (u16)v);
		else outl((u16)a, v);
	} else {
		return false;
	}
	return true;
}

void acpi_poweroff(void)
{
	const u8 *f = (const u8 *)acpi.fadt;
	if (!f)
		return;
	u32 flen = rd32(f + 4);
	if (acpi.hw_reduced) {
		u32 typ = acpi.s5_typ >= 0 ? (u32)acpi.s5_typ : 5;
		if (flen >= 256)
			gas_write(f + 244, (typ & 7) << 2 | 1u << 5);	/* SLEEP_CONTROL_REG */
		return;
	}
	u16 typ = acpi.s5_typ >= 0 ? (u16)acpi.s5_typ : 0;
	u16 pm1a = (u16)rd32(f + 64), pm1b = (u16)rd32(f + 68);
	if (!pm1a && flen >= 184 && f[172] == 1)
		pm1a = (u16)rd64(f + 176);		/* X_PM1a_CNT_BLK, I/O */
	if (!pm1a)
		return;
	u16 v = (inw(pm1a) & 1) | (typ & 7) << 10 | 1u << 13;	/* keep SCI_EN */
	if (pm1b)
		outw(pm1b, v);
	outw(pm1a, v);
}

bool acpi_reset(void)
{
	const u8 *f = (const u8 *)acpi.fadt;
	if (!f || rd32(f + 4) < 129)
		return false;
	return gas_write(f + 116, f[128]);
}
