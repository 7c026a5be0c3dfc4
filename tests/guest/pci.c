/* test=pci: enumerate bus 0 through ECAM (from MCFG) and through config
 * mechanism #1 (0xcf8/0xcfc), compare what both see, size the BARs. */
#include "acpi.h"

#define CF8 0xcf8
#define CFC 0xcfc
#define ECAM_DEFAULT 0xe0000000ull	/* vmmd layout.h, QEMU microvm */

struct pdev {
	u8 dev, fn;
	bool ecam, cf8;			/* seen by each method */
	u32 cfg_e[16], cfg_c[16];	/* first 64 bytes */
};

static bool have_ecam, have_cf8;

static u32 cf8_addr(u8 dev, u8 fn, u16 off) { return 0x80000000u | dev << 11 | fn << 8 | (off & 0xfc); }
static u64 ecam_addr(u8 dev, u8 fn, u16 off)
{
	return acpi.ecam + ((u64)dev << 15 | (u64)fn << 12 | off);	/* bus 0 */
}

static u32 cf8_read(u8 dev, u8 fn, u16 off) { outl(CF8, cf8_addr(dev, fn, off)); return inl(CFC); }
static void cf8_write(u8 dev, u8 fn, u16 off, u32 v) { outl(CF8, cf8_addr(dev, fn, off)); outl(CFC, v); }

/* config access for BAR sizing: ECAM when there is one */
static u32 cfg_read(u8 dev, u8 fn, u16 off)
{
	return have_ecam ? mmio_read32(ecam_addr(dev, fn, off)) : cf8_read(dev, fn, off);
}
static void cfg_write(u8 dev, u8 fn, u16 off, u32 v)
{
	if (have_ecam)
		mmio_write32(ecam_addr(dev, fn, off), v);
	else
		cf8_write(dev, fn, off, v);
}

static u32 size_reg(u8 dev, u8 fn, u16 off, bool *restored)
{
	u32 orig = cfg_read(dev, fn, off);
	cfg_write(dev, fn, off, 0xffffffff);
	u32 m = cfg_read(dev, fn, off);
	cfg_write(dev, fn, off, orig);
	*restored = *restored && cfg_read(dev, fn, off) == orig;
	return m;
}

/* Size every implemented BAR with decoding off; one check per device. */
static bool size_bars(const struct pdev *d)
{
	u32 *cfg = d->ecam ? (u32 *)d->cfg_e : (u32 *)d->cfg_c;
	u8 htype = (cfg[3] >> 16) & 0x7f;
	int nbars = htype == 0 ? 6 : htype == 1 ? 2 : 0;
	char buf[2048];
	struct ob o;
	int found = 0;
	bool ok = true, restored = true;

	if (!nbars)
		return false;
	u32 cmd = cfg_read(d->dev, d->fn, 0x04);
	cfg_write(d->dev, d->fn, 0x04, cmd & ~3u);		/* IO/MEM decode off */
	ob_init(&o, buf, sizeof(buf));
	ob_printf(&o, ",\"bdf\":\"00:%02x.%x\",\"bars\":[", d->dev, d->fn);
	for (int i = 0; i < nbars; i++) {
		u16 off = 0x10 + 4 * i;
		u32 orig = cfg_read(d->dev, d->fn, off);
		u32 m = size_reg(d->dev, d->fn, off, &restored);
		if (!m)
			continue;			/* not implemented */
		const char *type;
		bool is64 = false;
		u64 size;
		if (orig & 1) {
			type = "io";
			u32 mask = m & ~3u;
			if (!(mask >> 16))
				mask |= 0xffff0000u;	/* 16-bit I/O decoder */
			size = (u32)(~mask + 1);
		} else if (((orig >> 1) & 3) == 2 && i + 1 < nbars) {
			type = "mem64";
			is64 = true;
			u32 mh = size_reg(d->dev, d->fn, off + 4, &restored);
			size = ~((u64)mh << 32 | (m & ~0xfu)) + 1;
		} else {
			type = "mem32";
			size = (u32)(~(m & ~0xfu) + 1);
		}
		bool good = size && !(size & (size - 1)) && size >= ((orig & 1) ? 4 : 16);
		ok = ok && good;
		ob_printf(&o, "%s{\"bar\":%d,\"type\":\"%s\",\"mask\":\"0x%08x\",\"size\":\"0x%llx\",\"ok\":%s}",
			  found++ ? "," : "", i, type, m, (unsigned long long)size, good ? "true" : "false");
		if (is64)
			i++;				/* upper half consumed */
	}
	cfg_write(d->dev, d->fn, 0x04, cmd);
	restored = restored && cfg_read(d->dev, d->fn, 0x04) == cmd;
	if (!found)
		return false;
	ob_printf(&o, "],\"restored\":%s", restored ? "true" : "false");
	char line[2304];
	struct ob c;
	ob_init(&c, line, sizeof(line));
	check_begin(&c, "pci_bar_sizing", ok && restored);
	ob_printf(&c, "%s", buf);
	check_end(&c);
	return true;
}

void test_pci(void)
{
	static struct pdev devs[256];
	int n = 0, mismatched = 0;
	char mism[512] = "";
	size_t ml = 0;

	have_ecam = acpi.ecam && acpi.ecam_bus_start == 0;
	const char *ecam_src = have_ecam ? "mcfg" : "none";
	if (!acpi.mcfg) {
		/* No MCFG (QEMU microvm describes its ECAM only in AML): try the
		 * platform default and accept it if 00:00.0 answers there. */
		u32 id = mmio_read32(ECAM_DEFAULT);
		if ((id & 0xffff) != 0xffff && (id & 0xffff) != 0) {
			acpi.ecam = ECAM_DEFAULT;
			acpi.ecam_bus_end = 0;
			have_ecam = true;
			ecam_src = "probe";
		}
	}
	outl(CF8, 0x80000000u);
	have_cf8 = inl(CF8) == 0x80000000u;		/* mechanism #1 latches the address */
	outl(CF8, 0);
	out("{\"event\":\"pci_access\",\"ecam\":\"0x%llx\",\"ecam_source\":\"%s\",\"ecam_buses\":\"%u-%u\",\"cf8\":%s}",
	    (unsigned long long)(have_ecam ? acpi.ecam : 0), ecam_src, acpi.ecam_bus_start,
	    acpi.ecam_bus_end, have_cf8 ? "true" : "false");
	if (!have_ecam && !have_cf8) {
		check("pci_devices", false, ",\"error\":\"no ECAM (MCFG) and no port 0xcf8\"");
		return;
	}

	for (u8 dev = 0; dev < 32; dev++) {
		for (u8 fn = 0; fn < 8; fn++) {
			struct pdev *d = &devs[n];
			memset(d, 0, sizeof(*d));
			d->dev = dev;
			d->fn = fn;
			for (int i = 0; i < 16; i++) {
				d->cfg_e[i] = have_ecam ? mmio_read32(ecam_addr(dev, fn, 4 * i)) : ~0u;
				d->cfg_c[i] = have_cf8 ? cf8_read(dev, fn, 4 * i) : ~0u;
				if (i == 0 && (d->cfg_e[0] & 0xffff) == 0xffff && (d->cfg_c[0] & 0xffff) == 0xffff)
					break;
			}
			d->ecam = (d->cfg_e[0] & 0xffff) != 0xffff;
			d->cf8 = (d->cfg_c[0] & 0xffff) != 0xffff;
			if (!d->ecam && !d->cf8) {
				if (fn == 0)
					break;		/* no function 0: no device */
				continue;
			}
			u32 *cfg = d->ecam ? d->cfg_e : d->cfg_c;
			out("{\"event\":\"pci\",\"bdf\":\"00:%02x.%x\",\"vendor\":\"0x%04x\",\"device\":\"0x%04x\",\"class\":\"0x%06x\",\"header\":%u,\"ecam\":%s,\"cf8\":%s}",
			    dev, fn, cfg[0] & 0xffff, cfg[0] >> 16, cfg[2] >> 8, (cfg[3] >> 16) & 0xff,
			    d->ecam ? "true" : "false", d->cf8 ? "true" : "false");
			if (have_ecam && have_cf8 &&
			    (d->ecam != d->cf8 || memcmp(d->cfg_e, d->cfg_c, sizeof(d->cfg_e)))) {
				mismatched++;
				if (ml < sizeof(mism) - 16)
					ml += sfmt(mism + ml, sizeof(mism) - ml, "%s\"00:%02x.%x\"",
						   ml ? "," : "", dev, fn);
			}
			n++;
			if (fn == 0 && !((cfg[3] >> 16) & 0x80))
				break;			/* single-function device */
		}
	}

	check("pci_devices", n > 0, ",\"count\":%d", n);
	if (have_ecam && have_cf8)
		check("pci_ecam_vs_cf8", mismatched == 0, ",\"devices\":%d,\"mismatched\":[%s]", n, mism);
	else
		skip("pci_ecam_vs_cf8", have_ecam ? "no config mechanism #1 (port 0xcf8)"
						  : "no ECAM (no MCFG table, nothing at 0xe0000000)");

	bool any = false;
	for (int i = 0; i < n; i++)
		any = size_bars(&devs[i]) || any;
	if (!any)
		skip("pci_bar_sizing", "no device with implemented BARs");
}
