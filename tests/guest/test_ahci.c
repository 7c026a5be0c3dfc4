/* test=ahci [cd_sectors=N]: the ICH9 AHCI function, driven the way libahci
 * drives it (polled: GHC.IE stays off).
 *   The first ATA port: IDENTIFY (PIO data-in through the PRDT, NCQ
 *   reported), WRITE/READ DMA with 8 PRD entries, READ SECTORS cross-check,
 *   the EXT (LBA48) forms at the end of the disk, FLUSH CACHE (EXT), NCQ
 *   with 32 tags in flight both ways, errors (LBA past the end by DMA and by
 *   NCQ: task file error, the port restarts and works).
 *   Every other ATA port: a write/read pattern check.
 *   The first ATAPI port, a raw image whose 32-bit word k of sector s is
 *   0xcd000000 + s * 512 + k: signature, IDENTIFY PACKET, INQUIRY, READ
 *   CAPACITY (cd_sectors), READ(10), a write refused.
 *   Hostile sequences on the ATA port, each followed by a check that it
 *   still works: a command table outside RAM, PRD entries outside RAM, a
 *   PRDT of no entries, a huge PRD past the end of RAM, a PRDT holding
 *   more than the transfer, an NCQ command whose tag is not its slot, a CI
 *   bit for a slot never set up, a port started without FRE; at the end a
 *   COMRESET and the port works. Writes go to the disks: they are
 *   scratch. */
#include "ahci.h"
#include "ata.h"
#include "blkbench.h"
#include "virtio.h"

#define SIG_ATA   0x00000101u
#define SIG_ATAPI 0xeb140101u
#define TFD_ERR   0x01

static struct ahci h;
static u8 buf[256 * 1024] __attribute__((aligned(4096)));
static u8 buf2[256 * 1024] __attribute__((aligned(4096)));
static u64 sectors;


static bool ok(u32 tfd) { return tfd != 0xffffffffu && !(tfd & TFD_ERR); }

/* The drive still reads what the first data check wrote at LBA 1000. */
static bool still_works(int p)
{
	ata_fill(buf, 4096, 3);
	memset(buf2, 0, 4096);
	u32 t = ahci_cmd(&h, p, 0xc8, 1000, 8, false, buf2, 4096);
	return ok(t) && !memcmp(buf, buf2, 4096);
}

static void disk_tests(int p)
{
	u32 t, t2;
	memset(buf, 0, 512);
	t = ahci_cmd(&h, p, 0xec, 0, 0, false, buf, 512);
	u16 *id = (u16 *)buf;
	char model[41];
	ata_id_model(id, model);
	sectors = ata_id_sectors(id);
	u32 prdbc = rd32(ahci_hdr(&h, p, 0) + 4);
	u8 *pio = h.fb[p] + 0x20;
	check("ahci_identify", ok(t) && !strncmp(model, "VMMD HARDDISK", 13) && sectors &&
	      (id[76] & (1 << 8)) && (id[75] & 0x1f) == 31 && prdbc == 512 && pio[0] == 0x5f &&
	      !(pio[15] & TFD_ERR), ",\"sectors\":%llu,\"ncq_depth\":%u,\"prdbc\":%u,\"tfd\":%u",
	      (unsigned long long)sectors, (id[75] & 0x1f) + 1, prdbc, t);

	/* DMA: 64 sectors in 8 PRD entries each way; a PIO read of the last */
	ata_fill(buf, 32768, 3);
	t = ahci_cmd(&h, p, 0xca, 1000, 64, true, buf, 32768);
	memset(buf2, 0, 32768);
	t2 = ahci_cmd(&h, p, 0xc8, 1000, 64, false, buf2, 32768);
	u8 *d2h = h.fb[p] + 0x40;
	bool same = !memcmp(buf, buf2, 32768);
	memset(buf2, 0, 512);
	u32 t3 = ahci_cmd(&h, p, 0x20, 1063, 1, false, buf2, 512);
	check("ahci_dma_rw", ok(t) && ok(t2) && ok(t3) && same && d2h[0] == 0x34 &&
	      !memcmp(buf + 63 * 512, buf2, 512), ",\"tfd\":[%u,%u,%u]", t, t2, t3);

	u64 hi = sectors - 8;
	ata_fill(buf, 4096, 4);
	t = ahci_cmd(&h, p, 0x35, hi, 8, true, buf, 4096);
	memset(buf2, 0, 4096);
	t2 = ahci_cmd(&h, p, 0x25, hi, 8, false, buf2, 4096);
	check("ahci_lba48", ok(t) && ok(t2) && !memcmp(buf, buf2, 4096),
	      ",\"lba\":%llu,\"above_2_28\":%s", (unsigned long long)hi,
	      hi >= 0x10000000ull ? "true" : "false");

	t = ahci_cmd(&h, p, 0xe7, 0, 0, false, NULL, 0);
	t2 = ahci_cmd(&h, p, 0xea, 0, 0, false, NULL, 0);
	check("ahci_flush", ok(t) && ok(t2), ",\"tfd\":[%u,%u]", t, t2);

	/* NCQ: 32 tags of 8 sectors (4 KiB in two PRD entries) at once */
	u8 f[20];
	for (int s = 0; s < 32; s++) {
		ata_fill(buf + 4096 * s, 4096, 100 + (u32)s);
		ahci_fis_ncq(f, true, 5000 + 8 * (u64)s, 8, s);
		ahci_prep(&h, p, s, f, NULL, true, buf + 4096 * s, 4096, 2048);
	}
	u32 is;
	t = ahci_run(&h, p, 0xffffffffu, true, &is);
	u8 *sdb = h.fb[p] + 0x58;
	bool sdb_ok = sdb[0] == 0xa1;
	memset(buf2, 0, 32 * 4096);
	for (int s = 0; s < 32; s++) {
		ahci_fis_ncq(f, false, 5000 + 8 * (u64)s, 8, s);
		ahci_prep(&h, p, s, f, NULL, false, buf2 + 4096 * s, 4096, 4096);
	}
	t2 = ahci_run(&h, p, 0xffffffffu, true, NULL);
	u32 sact = ahci_rd(&h, p, PX_SACT);
	check("ahci_ncq", ok(t) && ok(t2) && sdb_ok && (is & (1u << 3)) && !sact &&
	      !memcmp(buf, buf2, 32 * 4096), ",\"tags\":32,\"tfd\":[%u,%u],\"is\":%u,\"sact\":%u",
	      t, t2, is, sact);

	/* queued reads and a non-queued FLUSH in one PxCI write: the FLUSH
	 * runs once the queue has drained */
	for (int q = 0; q < 4; q++) {
		ahci_fis_ncq(f, false, 5000 + 8 * (u64)q, 8, q);
		ahci_prep(&h, p, q, f, NULL, false, buf2 + 4096 * q, 4096, 4096);
	}
	ahci_fis(f, 0xe7, 0, 0, 0);
	ahci_prep(&h, p, 4, f, NULL, false, NULL, 0, 4096);
	ahci_wr(&h, p, PX_SACT, 0xf);
	ahci_wr(&h, p, PX_CI, 0x1f);
	u64 end = rdtsc() + ms_to_tsc(2000);
	while (((ahci_rd(&h, p, PX_CI) & 0x1f) || ahci_rd(&h, p, PX_SACT)) && rdtsc() < end)
		cpu_relax();
	u32 ci = ahci_rd(&h, p, PX_CI), tfd = ahci_rd(&h, p, PX_TFD);
	ahci_wr(&h, p, PX_IS, 0xffffffff);
	check("ahci_ncq_then_flush", !(ci & 0x1f) && !ahci_rd(&h, p, PX_SACT) && ok(tfd),
	      ",\"ci\":%u,\"tfd\":%u", ci, tfd);

	/* errors: LBA past the end, by DMA and by NCQ */
	t = ahci_cmd(&h, p, 0x25, sectors - 4, 8, false, buf2, 4096);
	ahci_port_start(&h, p);
	bool w1 = still_works(p);
	ahci_fis_ncq(f, false, sectors, 8, 0);
	ahci_prep(&h, p, 0, f, NULL, false, buf2, 4096, 4096);
	t2 = ahci_run(&h, p, 1, true, &is);
	ahci_port_start(&h, p);
	check("ahci_error_lba_range", (t & TFD_ERR) && (t2 & TFD_ERR) && (is & PX_IS_TFES) && w1 &&
	      still_works(p), ",\"tfd\":[%u,%u]", t, t2);
}

/* MSI: one vector (0xe0 here, free in test=ahci) for a command's D2H FIS
 * once GHC.IE and PxIE allow it; none while GHC.IE is off. */
#define VEC_AHCI 0xe0
static void msi_test(int p)
{
	u8 cap = pcib_cap(&h.f, 0x05, 0);
	if (!cap) {
		check("ahci_msi", false, ",\"error\":\"no MSI capability\"");
		return;
	}
	pcib_write32(&h.f, cap + 4, 0xfee00000u | lapic_id() << 12);
	pcib_write32(&h.f, cap + 8, 0);
	pcib_write16(&h.f, cap + 12, VEC_AHCI);
	pcib_write16(&h.f, cap + 2, pcib_read16(&h.f, cap + 2) | 1);
	ahci_wr(&h, p, PX_IE, 1u << 0);			/* DHRS */
	u64 before = irq_count[VEC_AHCI];
	u32 t = ahci_cmd(&h, p, 0xe7, 0, 0, false, NULL, 0);	/* GHC.IE off: no MSI */
	delay_us(20000);
	u64 quiet = irq_count[VEC_AHCI] - before;
	mmio_write32(h.abar + 0x08, 0xffffffff);
	mmio_write32(h.abar + 0x04, (1u << 31) | 2);	/* AE | IE */
	before = irq_count[VEC_AHCI];
	u32 t2 = ahci_cmd(&h, p, 0xe7, 0, 0, false, NULL, 0);
	bool got = wait_change(&irq_count[VEC_AHCI], before, 2000);
	u32 is = mmio_read32(h.abar + 0x08);
	ahci_wr(&h, p, PX_IS, 0xffffffff);
	mmio_write32(h.abar + 0x08, is);
	mmio_write32(h.abar + 0x04, 1u << 31);
	ahci_wr(&h, p, PX_IE, 0);
	pcib_write16(&h.f, cap + 2, pcib_read16(&h.f, cap + 2) & ~1);
	check("ahci_msi", ok(t) && ok(t2) && !quiet && got && (is & (1u << p)),
	      ",\"interrupts\":%llu,\"without_ie\":%llu,\"is\":%u",
	      (unsigned long long)(irq_count[VEC_AHCI] - before), (unsigned long long)quiet, is);
}

/* INTx when MSI is off: the slot's line (config Interrupt Line) goes high
 * with a D2H FIS and low once PxIS and IS are cleared. Routed edge-
 * triggered here so that the kit counts assertions without a CPL0 handler
 * that knows AHCI: one interrupt per rising edge. */
#define VEC_AHCI_INTX 0xe1
static void intx_test(int p)
{
	u8 gsi = pcib_read8(&h.f, 0x3c);
	pcib_write16(&h.f, 0x04, PCI_CMD_MEM | PCI_CMD_MASTER);	/* INTx on */
	ioapic_route(gsi, VEC_AHCI_INTX, false, true, (u8)lapic_id(), false);
	ahci_wr(&h, p, PX_IE, 1u << 0);
	mmio_write32(h.abar + 0x04, (1u << 31) | 2);
	u64 before = irq_count[VEC_AHCI_INTX];
	u32 t = ahci_cmd(&h, p, 0xe7, 0, 0, false, NULL, 0);
	bool got = wait_change(&irq_count[VEC_AHCI_INTX], before, 2000);
	/* cleared, then a second command: a second edge */
	u32 is = mmio_read32(h.abar + 0x08);
	mmio_write32(h.abar + 0x08, is);
	u32 t2 = ahci_cmd(&h, p, 0xe7, 0, 0, false, NULL, 0);
	bool got2 = wait_change(&irq_count[VEC_AHCI_INTX], before + 1, 2000);
	mmio_write32(h.abar + 0x08, mmio_read32(h.abar + 0x08));
	mmio_write32(h.abar + 0x04, 1u << 31);
	ahci_wr(&h, p, PX_IE, 0);
	ioapic_route(gsi, VEC_AHCI_INTX, false, true, (u8)lapic_id(), true);
	pcib_write16(&h.f, 0x04, PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_INTX_OFF);
	check("ahci_intx", ok(t) && ok(t2) && got && got2 && (is & (1u << p)),
	      ",\"gsi\":%u,\"interrupts\":%llu,\"is\":%u", gsi,
	      (unsigned long long)(irq_count[VEC_AHCI_INTX] - before), is);
}

static void other_disk(int p, bool *all, int *count, u32 *ports)
{
	*ports |= 1u << p;
	ata_fill(buf, 65536, 50 + (u32)p);
	u32 t = ahci_cmd(&h, p, 0x35, 2048, 128, true, buf, 65536);
	memset(buf2, 0, 65536);
	u32 t2 = ahci_cmd(&h, p, 0x25, 2048, 128, false, buf2, 65536);
	*all = *all && ok(t) && ok(t2) && !memcmp(buf, buf2, 65536);
	(*count)++;
}

static void hostile_tests(int p)
{
	u8 f[20];
	u32 t, is;
	u8 *hd = ahci_hdr(&h, p, 0), *ct = ahci_ct(&h, p, 0);
	const u64 far = 0x7f0000000000ull;		/* beyond RAM and the MMIO window */

	/* the command table outside RAM: host bus fatal error */
	ahci_fis(f, 0xc8, 1000, 8, 0);
	ahci_prep(&h, p, 0, f, NULL, false, buf2, 4096, 4096);
	memcpy(hd + 8, &(u32){ 0 }, 4);
	memcpy(hd + 12, &(u32){ (u32)(far >> 32) }, 4);
	t = ahci_run(&h, p, 1, false, &is);
	ahci_port_start(&h, p);
	check("ahci_hostile_ct_outside_ram", t == 0xffffffffu && (is & PX_IS_HBFS) && still_works(p),
	      ",\"is\":%u", is);

	/* a PRD entry outside RAM */
	ahci_prep(&h, p, 0, f, NULL, false, buf2, 4096, 4096);
	memcpy(ct + 0x80, &(u32){ 0 }, 4);
	memcpy(ct + 0x84, &(u32){ (u32)(far >> 32) }, 4);
	t = ahci_run(&h, p, 1, false, &is);
	ahci_port_start(&h, p);
	check("ahci_hostile_prd_outside_ram", (t & TFD_ERR) && (is & PX_IS_TFES) && still_works(p),
	      ",\"tfd\":%u", t);

	/* no PRDT entries for a data command */
	ahci_prep(&h, p, 0, f, NULL, false, buf2, 0, 4096);
	t = ahci_run(&h, p, 1, false, &is);
	ahci_port_start(&h, p);
	check("ahci_hostile_prd_zero", (t & TFD_ERR) && still_works(p), ",\"tfd\":%u", t);

	/* a PRD of 64 KiB for a 4 KiB read is fine (the transfer decides);
	 * one huge (4 MiB) PRD from the last page of guest RAM is not */
	ahci_prep(&h, p, 0, f, NULL, false, buf2, 4096, 4096);
	memcpy(ct + 0x8c, &(u32){ 0xffff }, 4);
	t = ahci_run(&h, p, 1, false, &is);
	u64 a = ram_usable_bytes() - 4096;
	ahci_fis(f, 0x25, 0, 8192, 0);			/* READ DMA EXT of 4 MiB */
	ahci_prep(&h, p, 0, f, NULL, false, buf2, 4096, 4096);
	memcpy(ct + 0x80, &(u32){ (u32)a }, 4);
	memcpy(ct + 0x84, &(u32){ (u32)(a >> 32) }, 4);
	memcpy(ct + 0x8c, &(u32){ 0x3fffff }, 4);
	u32 t2 = ahci_run(&h, p, 1, false, &is);
	ahci_port_start(&h, p);
	check("ahci_hostile_prd_huge", ok(t) && (t2 & TFD_ERR) && still_works(p),
	      ",\"tfd\":[%u,%u]", t, t2);

	/* a DMA past the end of the disk */
	ahci_fis(f, 0x25, sectors - 1, 8, 0);
	ahci_prep(&h, p, 0, f, NULL, false, buf2, 4096, 4096);
	t = ahci_run(&h, p, 1, false, &is);
	ahci_port_start(&h, p);
	check("ahci_hostile_dma_past_end", (t & TFD_ERR) && still_works(p), ",\"tfd\":%u", t);

	/* NCQ with a tag that is not its slot */
	ahci_fis_ncq(f, false, 1000, 8, 5);
	ahci_prep(&h, p, 0, f, NULL, false, buf2, 4096, 4096);
	t = ahci_run(&h, p, 1, true, &is);
	ahci_port_start(&h, p);
	check("ahci_hostile_ncq_tag", (t & TFD_ERR) && (is & PX_IS_TFES) && still_works(p),
	      ",\"tfd\":%u", t);

	/* a CI bit for a slot never set up (a zeroed header and table) */
	memset(ahci_hdr(&h, p, 17), 0, 32);
	t = ahci_run(&h, p, 1u << 17, false, &is);
	ahci_port_start(&h, p);
	check("ahci_hostile_ci_unset_slot", t == 0xffffffffu || (t & TFD_ERR), ",\"tfd\":%u,\"is\":%u",
	      t, is);
	bool w = still_works(p);

	/* started without FRE: commands run, no FIS arrives */
	ahci_wr(&h, p, PX_CMD, ahci_rd(&h, p, PX_CMD) & ~PX_CMD_ST);
	ahci_wr(&h, p, PX_CMD, PX_CMD_SUD | PX_CMD_POD);
	ahci_wr(&h, p, PX_CMD, PX_CMD_SUD | PX_CMD_POD | PX_CMD_ST);
	memset(h.fb[p], 0, 256);
	ata_fill(buf, 4096, 3);
	memset(buf2, 0, 4096);
	t = ahci_cmd(&h, p, 0xc8, 1000, 8, false, buf2, 4096);
	bool nofis = h.fb[p][0x40] == 0;
	check("ahci_hostile_no_fre", w && ok(t) && nofis && !memcmp(buf, buf2, 4096),
	      ",\"tfd\":%u", t);
	ahci_port_start(&h, p);

	/* after all that, a COMRESET and the port works */
	ahci_comreset(&h, p);
	u32 sig = ahci_rd(&h, p, PX_SIG), ssts = ahci_rd(&h, p, PX_SSTS);
	check("ahci_comreset", sig == SIG_ATA && (ssts & 0xf) == 3 && still_works(p),
	      ",\"sig\":%u,\"ssts\":%u", sig, ssts);
}

static u32 cd_base = 0xcd000000u;

static void cdrom_tests(int p)
{
	u8 f[20], cdb[12];
	u32 t, t2;
	memset(buf, 0, 512);
	t = ahci_cmd(&h, p, 0xa1, 0, 0, false, buf, 512);
	u16 *id = (u16 *)buf;
	check("ahci_atapi_identify", h.sig[p] == SIG_ATAPI && ok(t) && (id[0] >> 14) == 2 &&
	      ((id[0] >> 8) & 0x1f) == 5, ",\"sig\":%u,\"word0\":%u", h.sig[p], id[0]);

	memset(cdb, 0, 12);
	cdb[0] = 0x12;
	cdb[4] = 36;
	ahci_fis(f, 0xa0, 0, 0, 1);			/* PACKET, DMA */
	f[5] = 0xfe;
	f[6] = 0xff;
	memset(buf, 0, 64);
	ahci_prep(&h, p, 0, f, cdb, false, buf, 36, 4096);
	t = ahci_run(&h, p, 1, false, NULL);
	check("ahci_atapi_inquiry", ok(t) && buf[0] == 5 && !memcmp(buf + 8, "VMMD", 4),
	      ",\"tfd\":%u", t);

	/* TEST UNIT READY: the unit attention of a fresh medium may come first */
	memset(cdb, 0, 12);
	ahci_prep(&h, p, 0, f, cdb, false, NULL, 0, 4096);
	t = ahci_run(&h, p, 1, false, NULL);
	if (t & TFD_ERR) {
		ahci_port_start(&h, p);
		ahci_prep(&h, p, 0, f, cdb, false, NULL, 0, 4096);
		t = ahci_run(&h, p, 1, false, NULL);
	}
	memset(cdb, 0, 12);
	cdb[0] = 0x25;
	memset(buf, 0, 8);
	ahci_prep(&h, p, 0, f, cdb, false, buf, 8, 4096);
	t2 = ahci_run(&h, p, 1, false, NULL);
	u32 last = (u32)buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3];
	u64 want = cmdline_u64("cd_sectors", 0);
	check("ahci_atapi_capacity", ok(t) && ok(t2) && (!want || last + 1 == want),
	      ",\"sectors\":%u", last + 1);

	/* READ(10) of 16 sectors at 10 */
	memset(cdb, 0, 12);
	cdb[0] = 0x28;
	cdb[5] = 10;
	cdb[8] = 16;
	memset(buf, 0, 16 * 2048);
	ahci_prep(&h, p, 0, f, cdb, false, buf, 16 * 2048, 8192);
	t = ahci_run(&h, p, 1, false, NULL);
	bool pat = true;
	for (u32 s = 0; s < 16; s++)
		for (u32 k = 0; k < 512; k++)
			if (((u32 *)buf)[s * 512 + k] != cd_base + (10 + s) * 512 + k)
				pat = false;
	check("ahci_atapi_read10", ok(t) && pat, ",\"tfd\":%u", t);

	/* a write to the CD-ROM: refused, the drive stays usable */
	t = ahci_cmd(&h, p, 0xca, 0, 8, true, buf, 4096);
	ahci_port_start(&h, p);
	ahci_prep(&h, p, 0, f, cdb, false, buf, 16 * 2048, 8192);
	t2 = ahci_run(&h, p, 1, false, NULL);
	check("ahci_atapi_write_refused", (t & TFD_ERR) && ok(t2), ",\"tfd\":[%u,%u]", t, t2);
}

void test_ahci(void)
{
	const char *why = "";
	bool up = ahci_init(&h, &why);
	u32 vs = up ? mmio_read32(h.abar + 0x10) : 0;
	u32 cls = up ? pcib_read32(&h.f, 0x08) >> 8 : 0;
	check("ahci_pci", up && cls == 0x010601 && (h.cap & (1u << 31)) && (h.cap & (1u << 30)) &&
	      ((h.cap >> 8) & 0x1f) == 31 && vs == 0x10300 && h.pi,
	      ",\"cap\":%u,\"pi\":%u,\"vs\":%u,\"class\":%u,\"error\":\"%s\"", h.cap, h.pi, vs,
	      cls, why);
	if (!up)
		return;
	int ata = -1, atapi = -1, others = 0;
	u32 other_ports = 0;
	bool others_ok = true;
	for (int p = 0; p < AHCI_PORTS; p++) {
		if (h.sig[p] == SIG_ATA && ata < 0)
			ata = p;
		else if (h.sig[p] == SIG_ATAPI && atapi < 0)
			atapi = p;
	}
	if (ata >= 0) {
		disk_tests(ata);
		msi_test(ata);
		intx_test(ata);
		for (int p = 0; p < AHCI_PORTS; p++)
			if (p != ata && h.sig[p] == SIG_ATA)
				other_disk(p, &others_ok, &others, &other_ports);
		if (others)
			check("ahci_other_disks", others_ok, ",\"disks\":%d,\"ports\":%u", others,
			      other_ports);
		hostile_tests(ata);
	}
	if (atapi >= 0)
		cdrom_tests(atapi);
}

/* test=blk-bench bus=sata: NCQ on the first AHCI disk, up to 32 commands
 * in flight, polled; "notifies" counts the PxCI writes that start them. */
void ahci_bench(const struct bench_args *a)
{
	const char *why = "";
	if (!ahci_init(&h, &why))
		return bench_fail("sata", why);
	int p = -1;
	for (int i = 0; i < AHCI_PORTS && p < 0; i++)
		if (h.sig[i] == SIG_ATA)
			p = i;
	if (p < 0)
		return bench_fail("sata", "no AHCI disk");
	static u8 idb[512] __attribute__((aligned(512)));
	if (!ok(ahci_cmd(&h, p, 0xec, 0, 0, false, idb, 512)))
		return bench_fail("sata", "IDENTIFY failed");
	u16 *id = (u16 *)idb;
	u64 secs_total = ata_id_sectors(id);
	u64 nsec = a->bs / 512, blocks = secs_total / nsec;
	u64 qd = a->qd > 32 ? 32 : a->qd;
	if (!blocks || a->bs > AHCI_PRDS * 4096ull)
		return bench_fail("sata", "disk smaller than bs, or bs above 256 KiB");
	u8 *data = page_alloc(qd * a->bs);
	if (!data)
		return bench_fail("sata", "out of memory");
	u64 t_sub[32], seq = 0, ios = 0, errs = 0, lat = 0, nots = 0;
	u8 f[20];
	char dev[16];
	sfmt(dev, sizeof(dev), "port%d", p);
	u32 all = qd == 32 ? 0xffffffffu : (1u << qd) - 1, busy = 0;
	u64 t0 = rdtsc(), end = t0 + a->secs * tsc_hz, t_last = t0;
	bool timed_out = false;
	for (;;) {
		u64 now = rdtsc();
		u32 fresh = now < end ? all & ~busy : 0;
		if (fresh) {
			for (int s = 0; s < 32; s++) {
				if (!(fresh & (1u << s)))
					continue;
				u64 b = bench_next(a, &seq, blocks);
				ahci_fis_ncq(f, a->write, b * nsec, (u32)nsec, s);
				ahci_prep(&h, p, s, f, NULL, a->write, data + a->bs * (u64)s, (u32)a->bs, 4096);
				t_sub[s] = rdtsc();
			}
			busy |= fresh;
			ahci_wr(&h, p, PX_SACT, fresh);
			ahci_wr(&h, p, PX_CI, fresh);
			nots++;
		}
		if (!busy)
			break;
		u32 sact = ahci_rd(&h, p, PX_SACT), is = ahci_rd(&h, p, PX_IS);
		u32 done = busy & ~sact;
		if (is & (PX_IS_TFES | PX_IS_HBFS)) {
			for (u32 b = busy; b; b &= b - 1)	/* no popcnt here */
				errs++;
			ahci_port_start(&h, p);
			break;
		}
		if (done) {
			ahci_wr(&h, p, PX_IS, is);
			u64 t = rdtsc();
			for (int s = 0; s < 32; s++)
				if (done & (1u << s)) {
					lat += t - t_sub[s];
					ios++;
				}
			t_last = t;
			busy &= ~done;
		} else if (now > end + ms_to_tsc(5000)) {
			timed_out = true;
			break;
		}
	}
	struct bench_res r = { .bus = "sata", .device = dev, .qd = qd, .ios = ios, .errs = errs,
			       .lat_tsc = lat, .nots = nots, .t0 = t0, .t_last = t_last, .queues = 1,
			       .timed_out = timed_out, .poll = true };
	bench_report(a, &r);
}
