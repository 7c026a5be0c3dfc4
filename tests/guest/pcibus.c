/* PCI bus access for drivers: config space (ECAM from the MCFG, else the
 * platform default 0xe0000000 if a device answers there, else port
 * 0xcf8), bus-0 enumeration, BAR assignment, MSI-X.
 *
 * vmmd assigns no BARs (there is no firmware), QEMU's SeaBIOS does on
 * q35 and nothing does on microvm: memory BARs left at 0 (or placed above
 * 4 GiB, which the kit does not map as MMIO) get an address from the host
 * bridge's 32-bit window, found as a DWord/QWord memory descriptor in the
 * DSDT (PCI0._CRS), else 0xc0000000-0xdfffffff (vmmd's layout.h). The
 * allocator steps around every BAR some other device already decodes. */
#include "acpi.h"
#include "pcibus.h"

#define CF8 0xcf8
#define CFC 0xcfc
#define ECAM_DEFAULT 0xe0000000ull
#define WIN_DEFAULT_BASE 0xc0000000ull
#define WIN_DEFAULT_END 0xe0000000ull
#define MMIO_LIMIT 0xfec00000ull		/* IOAPIC, LAPIC, firmware above */

static u64 ecam;				/* 0: use 0xcf8 */
static bool have_cf8, inited;
u64 pcib_win_base, pcib_win_end;
const char *pcib_win_src = "none";

static u32 cf8_addr(const struct pcif *f, u16 off)
{
	return 0x80000000u | (u32)f->bus << 16 | (u32)f->dev << 11 | (u32)f->fn << 8 | (off & 0xfc);
}
static u64 ecam_addr(const struct pcif *f, u16 off)
{
	return ecam + ((u64)f->bus << 20 | (u64)f->dev << 15 | (u64)f->fn << 12 | off);
}

u32 pcib_read32(const struct pcif *f, u16 off)
{
	if (ecam)
		return mmio_read32(ecam_addr(f, off));
	outl(CF8, cf8_addr(f, off));
	return inl(CFC);
}
u16 pcib_read16(const struct pcif *f, u16 off)
{
	if (ecam)
		return mmio_read16(ecam_addr(f, off));
	outl(CF8, cf8_addr(f, off));
	return inw(CFC + (off & 2));
}
u8 pcib_read8(const struct pcif *f, u16 off)
{
	if (ecam)
		return mmio_read8(ecam_addr(f, off));
	outl(CF8, cf8_addr(f, off));
	return inb(CFC + (off & 3));
}
void pcib_write32(const struct pcif *f, u16 off, u32 v)
{
	if (ecam) {
		mmio_write32(ecam_addr(f, off), v);
		return;
	}
	outl(CF8, cf8_addr(f, off));
	outl(CFC, v);
}
void pcib_write16(const struct pcif *f, u16 off, u16 v)
{
	if (ecam) {
		mmio_write16(ecam_addr(f, off), v);
		return;
	}
	outl(CF8, cf8_addr(f, off));
	outw(CFC + (off & 2), v);
}
void pcib_write8(const struct pcif *f, u16 off, u8 v)
{
	if (ecam) {
		mmio_write8(ecam_addr(f, off), v);
		return;
	}
	outl(CF8, cf8_addr(f, off));
	outb(CFC + (off & 3), v);
}

const char *pcib_method(void) { return ecam ? "ecam" : "cf8"; }

/* The host bridge's 32-bit memory window from the DSDT: DWord (0x87) and
 * QWord (0x8a) address space descriptors of type memory whose length
 * matches max - min + 1. Prefer a window at or above 3 GiB (the kit maps
 * 3-4 GiB uncached), else the largest one. */
static void find_window(void)
{
	u64 bb = 0, be = 0;
	bool bhi = false;

	if (acpi.dsdt) {
		const u8 *d = (const u8 *)acpi.dsdt;
		u32 len = rd32(d + 4);
		for (u32 i = 36; i + 46 <= len; i++) {
			u64 mn, mx, ln;
			if (d[i] == 0x87 && d[i + 1] == 0x17 && d[i + 2] == 0 && d[i + 3] == 0) {
				mn = rd32(d + i + 10);
				mx = rd32(d + i + 14);
				ln = rd32(d + i + 22);
			} else if (d[i] == 0x8a && d[i + 1] == 0x2b && d[i + 2] == 0 && d[i + 3] == 0) {
				mn = rd64(d + i + 14);
				mx = rd64(d + i + 22);
				ln = rd64(d + i + 38);
			} else {
				continue;
			}
			if (mx < mn || ln != mx - mn + 1)
				continue;
			u64 e = mx + 1;
			if (mn < 0x100000 || e > MMIO_LIMIT || e - mn < (1u << 20))
				continue;
			bool hi = mn >= 0xc0000000ull;
			if ((hi && !bhi) || (hi == bhi && e - mn > be - bb)) {
				bb = mn;
				be = e;
				bhi = hi;
			}
		}
	}
	if (be) {
		pcib_win_base = bb;
		pcib_win_end = be;
		pcib_win_src = "dsdt";
	} else {
		pcib_win_base = WIN_DEFAULT_BASE;
		pcib_win_end = WIN_DEFAULT_END;
		pcib_win_src = "default";
	}
}

bool pcib_init(void)
{
	if (inited)
		return ecam || have_cf8;
	inited = true;
	if (acpi.mcfg && acpi.ecam && acpi.ecam_bus_start == 0) {
		ecam = acpi.ecam;
	} else if (!acpi.mcfg) {
		/* no MCFG (QEMU microvm): the platform default, if 00:00.0 answers */
		u32 id = mmio_read32(ECAM_DEFAULT);
		if ((id & 0xffff) != 0xffff && (id & 0xffff) != 0)
			ecam = ECAM_DEFAULT;
	}
	if (!ecam) {
		outl(CF8, 0x80000000u);
		have_cf8 = inl(CF8) == 0x80000000u;
		outl(CF8, 0);
	}
	find_window();
	out("{\"event\":\"pcibus\",\"access\":\"%s\",\"ecam\":\"0x%llx\",\"window\":\"0x%llx-0x%llx\",\"window_source\":\"%s\"}",
	    ecam ? "ecam" : have_cf8 ? "cf8" : "none", (unsigned long long)ecam,
	    (unsigned long long)pcib_win_base, (unsigned long long)(pcib_win_end - 1), pcib_win_src);
	return ecam || have_cf8;
}

int pcib_scan(struct pcif *out, int max)
{
	int n = 0;
	for (u8 dev = 0; dev < 32; dev++) {
		for (u8 fn = 0; fn < 8 && n < max; fn++) {
			struct pcif f = { .bus = 0, .dev = dev, .fn = fn };
			u32 id = pcib_read32(&f, 0);
			if ((id & 0xffff) == 0xffff || (id & 0xffff) == 0) {
				if (fn == 0)
					break;
				continue;
			}
			f.vendor = id & 0xffff;
			f.device = id >> 16;
			f.class = pcib_read32(&f, 8) >> 8;
			f.htype = pcib_read8(&f, 0x0e);
			out[n++] = f;
			if (fn == 0 && !(f.htype & 0x80))
				break;
		}
	}
	return n;
}

u8 pcib_cap(const struct pcif *f, u8 id, u8 after)
{
	if (!(pcib_read16(f, 0x06) & 0x10))		/* status: capability list */
		return 0;
	u8 p = after ? pcib_read8(f, after + 1) : pcib_read8(f, 0x34);
	for (int guard = 0; p >= 0x40 && guard < 48; guard++) {
		p &= 0xfc;
		if (pcib_read8(f, p) == id)
			return p;
		p = pcib_read8(f, p + 1);
	}
	return 0;
}

/* --- BARs ------------------------------------------------------------- */

static struct { u64 a, e; } busy[128];	/* decoded or handed-out ranges */
static int nbusy;
static bool busy_scanned;

static void busy_add(u64 a, u64 size)
{
	if (nbusy < (int)ARRAY_SIZE(busy) && size)
		busy[nbusy].a = a, busy[nbusy].e = a + size, nbusy++;
}

/* Size the BARs of f (memory decoding off meanwhile). */
static void size_bars(const struct pcif *f, struct pci_bar b[6])
{
	u8 ht = f->htype & 0x7f;
	int nb = ht == 0 ? 6 : ht == 1 ? 2 : 0;
	memset(b, 0, 6 * sizeof(*b));
	for (int i = 0; i < 6; i++)
		b[i].src = "none";
	if (!nb)
		return;
	u16 cmd = pcib_read16(f, 0x04);
	pcib_write16(f, 0x04, cmd & ~(PCI_CMD_IO | PCI_CMD_MEM));
	for (int i = 0; i < nb; i++) {
		u16 off = 0x10 + 4 * i;
		u32 orig = pcib_read32(f, off);
		pcib_write32(f, off, 0xffffffff);
		u32 m = pcib_read32(f, off);
		pcib_write32(f, off, orig);
		if (!m)
			continue;
		if (orig & 1) {
			u32 mask = m & ~3u;
			if (!(mask >> 16))
				mask |= 0xffff0000u;
			b[i].io = true;
			b[i].size = (u32)(~mask + 1);
			b[i].addr = orig & ~3u;
		} else if (((orig >> 1) & 3) == 2 && i + 1 < nb) {
			u32 oh = pcib_read32(f, off + 4);
			pcib_write32(f, off + 4, 0xffffffff);
			u32 mh = pcib_read32(f, off + 4);
			pcib_write32(f, off + 4, oh);
			b[i].is64 = true;
			b[i].size = ~((u64)mh << 32 | (m & ~0xfu)) + 1;
			b[i].addr = (u64)oh << 32 | (orig & ~0xfu);
			i++;				/* upper half */
		} else {
			b[i].size = (u32)(~(m & ~0xfu) + 1);
			b[i].addr = orig & ~0xfu;
		}
	}
	pcib_write16(f, 0x04, cmd);
}

static void scan_busy(void)
{
	static struct pcif fs[64];
	struct pci_bar b[6];
	busy_scanned = true;
	if (ecam)
		busy_add(ecam, (u64)(acpi.mcfg ? acpi.ecam_bus_end + 1 : 1) << 20);
	int n = pcib_scan(fs, ARRAY_SIZE(fs));
	for (int k = 0; k < n; k++) {
		size_bars(&fs[k], b);
		for (int i = 0; i < 6; i++)
			if (b[i].size && !b[i].io && b[i].addr)
				busy_add(b[i].addr, b[i].size);
	}
}

static u64 alloc_mmio(u64 size)
{
	if (size < 4096)
		size = 4096;			/* own page: nothing shares its mapping */
	u64 a = (pcib_win_base + size - 1) & ~(size - 1);
	for (int guard = 0; guard < 1000; guard++) {
		if (a + size > pcib_win_end)
			return 0;
		bool clash = false;
		for (int i = 0; i < nbusy; i++) {
			if (a < busy[i].e && busy[i].a < a + size) {
				a = (busy[i].e + size - 1) & ~(size - 1);
				clash = true;
				break;
			}
		}
		if (!clash) {
			busy_add(a, size);
			return a;
		}
	}
	return 0;
}

bool pcib_setup_bars(const struct pcif *f, struct pci_bar b[6])
{
	bool ok = true;
	if (!busy_scanned)
		scan_busy();
	size_bars(f, b);
	u16 cmd = pcib_read16(f, 0x04);
	pcib_write16(f, 0x04, cmd & ~(PCI_CMD_IO | PCI_CMD_MEM));
	for (int i = 0; i < 6; i++) {
		struct pci_bar *p = &b[i];
		if (!p->size || p->io)
			continue;
		if (p->addr && p->addr + p->size <= 0x100000000ull) {
			p->src = "firmware";
		} else {
			u64 a = alloc_mmio(p->size);
			if (!a) {
				ok = false;
				p->src = "none";
			} else {
				u16 off = 0x10 + 4 * i;
				pcib_write32(f, off, (u32)a | (pcib_read32(f, off) & 0xf));
				if (p->is64)
					pcib_write32(f, off + 4, 0);
				u64 back = pcib_read32(f, off) & ~0xfull;
				if (p->is64)
					back |= (u64)pcib_read32(f, off + 4) << 32;
				ok = ok && back == a;
				p->addr = a;
				p->src = "kit";
			}
		}
		out("{\"event\":\"pci_bar\",\"bdf\":\"%02x:%02x.%x\",\"bar\":%d,\"type\":\"%s\",\"addr\":\"0x%llx\",\"size\":\"0x%llx\",\"assigned_by\":\"%s\"}",
		    f->bus, f->dev, f->fn, i, p->is64 ? "mem64" : "mem32", (unsigned long long)p->addr,
		    (unsigned long long)p->size, p->src);
	}
	pcib_write16(f, 0x04, (cmd & ~PCI_CMD_IO) | PCI_CMD_MEM | PCI_CMD_MASTER);
	return ok;
}

/* --- MSI-X ------------------------------------------------------------ */

bool pcib_msix_find(const struct pcif *f, const struct pci_bar b[6], struct msix *m)
{
	memset(m, 0, sizeof(*m));
	u8 c = pcib_cap(f, PCI_CAP_MSIX, 0);
	if (!c)
		return false;
	u32 t = pcib_read32(f, c + 4), p = pcib_read32(f, c + 8);
	if ((t & 7) > 5 || (p & 7) > 5 || !b[t & 7].size || b[t & 7].io || !b[t & 7].addr)
		return false;
	m->cap = c;
	m->n = (pcib_read16(f, c + 2) & 0x7ff) + 1;
	m->table = b[t & 7].addr + (t & ~7u);
	m->pba = b[p & 7].addr + (p & ~7u);
	return true;
}

void pcib_msix_set(const struct msix *m, u16 entry, u32 apic, u8 vector)
{
	u64 e = m->table + 16ull * entry;
	mmio_write32(e + 12, 1);			/* masked while changing */
	mmio_write32(e + 0, 0xfee00000u | (apic & 0xff) << 12);
	mmio_write32(e + 4, 0);
	mmio_write32(e + 8, vector);			/* fixed, edge */
	mmio_write32(e + 12, 0);
}

void pcib_msix_enable(const struct pcif *f, const struct msix *m, bool on)
{
	u16 ctl = pcib_read16(f, m->cap + 2);
	ctl &= ~0x4000;					/* function mask off */
	ctl = on ? ctl | 0x8000 : ctl & ~0x8000;
	pcib_write16(f, m->cap + 2, ctl);
	u16 cmd = pcib_read16(f, 0x04);
	pcib_write16(f, 0x04, on ? cmd | PCI_CMD_INTX_OFF : cmd & ~PCI_CMD_INTX_OFF);
}
