/* test=ide: the PIIX3 IDE function, driven the way ata_piix drives it.
 *
 * test=ide [cd_sectors=N] [cd=empty]
 *   hda (primary master): IDENTIFY, PIO READ/WRITE SECTORS and MULTIPLE,
 *   bus-master READ/WRITE DMA, the EXT (LBA48) forms, FLUSH CACHE (EXT),
 *   and hostile sequences (LBA past the end, DMA past the end, PRD tables
 *   outside RAM, PRD tables without an end, data port accesses with no
 *   command, commands to the absent slave), each answered with an error
 *   while the drive keeps working.
 *   hdc (secondary master), an ATAPI CD-ROM with a raw image whose 32-bit
 *   word k of sector s is 0xcd000000 + s * 512 + k: signature, IDENTIFY
 *   PACKET, INQUIRY, TEST UNIT READY, READ CAPACITY (cd_sectors), READ(10)
 *   by PIO, READ(12) by DMA, REQUEST SENSE after an out-of-range read, MODE
 *   SENSE, GET CONFIGURATION, READ TOC, GET EVENT STATUS, PREVENT + eject
 *   refused, eject, then NOT READY. Writes go to the disk: it is scratch. */
#include "ata.h"
#include "blkbench.h"
#include "pcibus.h"

#define ST_ERR  0x01
#define ST_DRQ  0x08
#define ST_DRDY 0x40
#define ST_BSY  0x80

static u16 bm;                             /* BAR4 */
static u8 buf[64 * 1024] __attribute__((aligned(4096)));
static u8 buf2[64 * 1024] __attribute__((aligned(4096)));
/* a PRD table lies within one 64 KiB page; the no-end test fills one */
static u32 prd[16384] __attribute__((aligned(65536)));

static const u16 cmdp[2] = { 0x1f0, 0x170 }, ctlp[2] = { 0x3f6, 0x376 };

static u8 st(int c) { return inb(cmdp[c] + 7); }

static u8 wait_ready(int c)
{
	u8 s = 0;
	for (int i = 0; i < 1000000; i++) {
		s = inb(ctlp[c]);
		if (!(s & ST_BSY))
			break;
	}
	return st(c);
}

static void sel(int c, int unit, u8 lba_hi)
{
	outb(cmdp[c] + 6, 0xe0 | unit << 4 | (lba_hi & 0x0f));
	wait_ready(c);
}

static void tf28(int c, int unit, u64 lba, u32 n)
{
	sel(c, unit, (u8)(lba >> 24));
	outb(cmdp[c] + 2, (u8)n);
	outb(cmdp[c] + 3, (u8)lba);
	outb(cmdp[c] + 4, (u8)(lba >> 8));
	outb(cmdp[c] + 5, (u8)(lba >> 16));
}

static void tf48(int c, int unit, u64 lba, u32 n)
{
	sel(c, unit, 0);
	outb(cmdp[c] + 2, (u8)(n >> 8));
	outb(cmdp[c] + 3, (u8)(lba >> 24));
	outb(cmdp[c] + 4, (u8)(lba >> 32));
	outb(cmdp[c] + 5, (u8)(lba >> 40));
	outb(cmdp[c] + 2, (u8)n);
	outb(cmdp[c] + 3, (u8)lba);
	outb(cmdp[c] + 4, (u8)(lba >> 8));
	outb(cmdp[c] + 5, (u8)(lba >> 16));
}

/* PIO data-in of nsec sectors, block = sectors per DRQ block; status after */
static u8 pio_in(int c, u8 *p, u32 bytes)
{
	u16 *w = (u16 *)p;
	for (u32 done = 0; done < bytes;) {
		u8 s = wait_ready(c);
		if (s & ST_ERR || !(s & ST_DRQ))
			return s;
		for (int i = 0; i < 256; i++)
			w[(done >> 1) + i] = inw(cmdp[c]);
		done += 512;
	}
	return wait_ready(c);
}

static u8 pio_out(int c, const u8 *p, u32 bytes)
{
	const u16 *w = (const u16 *)p;
	for (u32 done = 0; done < bytes;) {
		u8 s = wait_ready(c);
		if (s & ST_ERR || !(s & ST_DRQ))
			return s;
		for (int i = 0; i < 256; i++)
			outw(cmdp[c], w[(done >> 1) + i]);
		done += 512;
	}
	return wait_ready(c);
}

/* One PRD entry per 4 KiB piece of p, the last with EOT. */
static void prd_set(const u8 *p, u32 bytes)
{
	u32 n = 0;
	for (u32 off = 0; off < bytes; off += 4096, n++) {
		u32 len = bytes - off < 4096 ? bytes - off : 4096;
		prd[2 * n] = (u32)(u64)(p + off);
		prd[2 * n + 1] = len | (off + len >= bytes ? 0x80000000u : 0);
	}
}

/* Bus-master DMA for a command already in the task file; returns the ATA
 * status, *bms the bus master status. */
static u8 dma(int c, u8 cmd, bool to_mem, u8 *bms)
{
	u16 b = bm + 8 * c;
	outb(b, 0);
	outb(b + 2, 0x06);                          /* clear error and interrupt */
	outl(b + 4, (u32)(u64)prd);
	outb(b, to_mem ? 0x08 : 0);
	outb(cmdp[c] + 7, cmd);
	outb(b, (to_mem ? 0x08 : 0) | 1);
	/* The end of the transfer is the bus master going inactive (or
	 * flagging an error): a drive may keep BSY clear and DRQ set while
	 * the DMA runs (QEMU does), and with nIEN set it raises no interrupt,
	 * so the interrupt bit need not come either. A command the drive
	 * refused ends with neither BSY nor DRQ while the bus master waits. */
	for (int i = 0; i < 1000000; i++) {
		u8 v = inb(b + 2);
		if (!(v & 1) || (v & 6) || !(inb(ctlp[c]) & (ST_BSY | ST_DRQ)))
			break;
	}
	u8 s = wait_ready(c);
	*bms = inb(b + 2);
	outb(b, 0);
	outb(b + 2, 0x06);
	return s;
}


static u64 ata_sectors;

static void disk_tests(void)
{
	u8 s, bms;
	/* IDENTIFY DEVICE */
	sel(0, 0, 0);
	outb(cmdp[0] + 7, 0xec);
	s = pio_in(0, buf, 512);
	u16 *id = (u16 *)buf;
	char model[41];
	ata_id_model(id, model);
	u32 lba28 = id[60] | (u32)id[61] << 16;
	ata_sectors = ata_id_sectors(id);
	bool lba48 = id[83] & (1 << 10), flush = (id[83] & (3 << 12)) == (3 << 12);
	check("ide_identify", !(s & ST_ERR) && !strncmp(model, "VMMD HARDDISK", 13) && lba48 &&
	      flush && (id[49] & 0x300) == 0x300 && (id[63] & 7) == 7 && ata_sectors > 0 &&
	      lba28 == (ata_sectors < 0x0fffffff ? ata_sectors : 0x0fffffff),
	      ",\"sectors\":%llu,\"lba28\":%u,\"lba48\":%s,\"flush\":%s",
	      (unsigned long long)ata_sectors, lba28, lba48 ? "true" : "false",
	      flush ? "true" : "false");

	/* PIO READ/WRITE SECTORS */
	ata_fill(buf, 8 * 512, 1);
	tf28(0, 0, 100, 8);
	outb(cmdp[0] + 7, 0x30);
	u8 sw = pio_out(0, buf, 8 * 512);
	memset(buf2, 0, 8 * 512);
	tf28(0, 0, 100, 8);
	outb(cmdp[0] + 7, 0x20);
	s = pio_in(0, buf2, 8 * 512);
	check("ide_pio_rw", !(sw & ST_ERR) && !(s & ST_ERR) && !memcmp(buf, buf2, 8 * 512),
	      ",\"status\":%u", s);

	/* SET MULTIPLE 8 + READ/WRITE MULTIPLE of 16 sectors (DRQ blocks of 8) */
	sel(0, 0, 0);
	outb(cmdp[0] + 2, 8);
	outb(cmdp[0] + 7, 0xc6);
	u8 sm = wait_ready(0);
	ata_fill(buf, 16 * 512, 2);
	tf28(0, 0, 200, 16);
	outb(cmdp[0] + 7, 0xc5);
	sw = pio_out(0, buf, 16 * 512);
	memset(buf2, 0, 16 * 512);
	tf28(0, 0, 200, 16);
	outb(cmdp[0] + 7, 0xc4);
	s = pio_in(0, buf2, 16 * 512);
	check("ide_multiple", !(sm & ST_ERR) && !(sw & ST_ERR) && !(s & ST_ERR) &&
	      !memcmp(buf, buf2, 16 * 512), ",\"status\":%u", s);

	/* DMA: 64 sectors, 8 PRD entries each way; PIO cross-check */
	ata_fill(buf, 32768, 3);
	prd_set(buf, 32768);
	tf28(0, 0, 1000, 64);
	u8 swd = dma(0, 0xca, false, &bms);
	u8 bmw = bms;
	memset(buf2, 0, 32768);
	prd_set(buf2, 32768);
	tf28(0, 0, 1000, 64);
	/* BMIS bit 2 says the drive asserted its interrupt line (PIIX3/4
	 * datasheets): not with nIEN set (the write above), but with it clear
	 * (this read; IRQ14 is masked at the 8259 and the I/O APIC) */
	outb(ctlp[0], 0x00);
	s = dma(0, 0xc8, true, &bms);
	outb(ctlp[0], 0x02);
	bool same = !memcmp(buf, buf2, 32768);
	memset(buf2, 0, 512);
	tf28(0, 0, 1063, 1);
	outb(cmdp[0] + 7, 0x20);
	u8 sp = pio_in(0, buf2, 512);
	check("ide_dma_rw", !(swd & ST_ERR) && !(s & ST_ERR) && !(sp & ST_ERR) && same &&
	      !(bmw & 6) && (bms & 4) && !(bms & 3) && !memcmp(buf + 63 * 512, buf2, 512),
	      ",\"status\":%u,\"bm_write\":%u,\"bm_read\":%u", s, bmw, bms);

	/* LBA48: WRITE DMA EXT at the last 8 sectors (beyond 2^28 on a big
	 * disk), READ SECTORS EXT back */
	u64 hi = ata_sectors - 8;
	ata_fill(buf, 4096, 4);
	prd_set(buf, 4096);
	tf48(0, 0, hi, 8);
	swd = dma(0, 0x35, false, &bms);
	memset(buf2, 0, 4096);
	tf48(0, 0, hi, 8);
	outb(cmdp[0] + 7, 0x24);
	s = pio_in(0, buf2, 4096);
	/* and READ DMA EXT of the same */
	memset(buf2 + 8192, 0, 4096);
	prd_set(buf2 + 8192, 4096);
	tf48(0, 0, hi, 8);
	u8 sd = dma(0, 0x25, true, &bms);
	check("ide_lba48", !(swd & ST_ERR) && !(s & ST_ERR) && !(sd & ST_ERR) &&
	      !memcmp(buf, buf2, 4096) && !memcmp(buf, buf2 + 8192, 4096),
	      ",\"lba\":%llu,\"above_2_28\":%s", (unsigned long long)hi,
	      hi >= 0x10000000ull ? "true" : "false");

	/* FLUSH CACHE and FLUSH CACHE EXT */
	sel(0, 0, 0);
	outb(cmdp[0] + 7, 0xe7);
	u8 f1 = wait_ready(0);
	outb(cmdp[0] + 7, 0xea);
	u8 f2 = wait_ready(0);
	check("ide_flush", !(f1 & ST_ERR) && !(f2 & ST_ERR) && (f1 & ST_DRDY),
	      ",\"status\":[%u,%u]", f1, f2);
}

/* After each hostile sequence: the drive still reads by PIO and DMA. */
static bool still_works(void)
{
	memset(buf2, 0, 4096);
	tf28(0, 0, 100, 8);
	outb(cmdp[0] + 7, 0x20);
	u8 s = pio_in(0, buf2, 4096);
	ata_fill(buf, 4096, 1);
	bool ok = !(s & ST_ERR) && !memcmp(buf, buf2, 4096);
	u8 bms;
	memset(buf2, 0, 4096);
	prd_set(buf2, 4096);
	tf28(0, 0, 100, 8);
	s = dma(0, 0xc8, true, &bms);
	return ok && !(s & ST_ERR) && !memcmp(buf, buf2, 4096);
}

static void hostile_tests(void)
{
	u8 s, e, bms;
	/* LBA past the end (PIO) */
	tf48(0, 0, ata_sectors, 1);
	outb(cmdp[0] + 7, 0x24);
	s = wait_ready(0);
	e = inb(cmdp[0] + 1);
	check("ide_hostile_lba_range", (s & ST_ERR) && (e & 0x10) && still_works(),
	      ",\"status\":%u,\"error\":%u", s, e);

	/* DMA running past the end of the disk */
	prd_set(buf2, 4096);
	tf48(0, 0, ata_sectors - 1, 8);
	s = dma(0, 0x25, true, &bms);
	check("ide_hostile_dma_past_end", (s & ST_ERR) && still_works(), ",\"status\":%u", s);

	/* PRD table outside RAM */
	u16 b = bm;
	tf28(0, 0, 0, 8);
	outb(b, 0);
	outb(b + 2, 6);
	outl(b + 4, 0xfebf0000u);
	outb(b, 0x08);
	outb(cmdp[0] + 7, 0xc8);
	outb(b, 0x09);
	s = wait_ready(0);
	bms = inb(b + 2);
	outb(b, 0);
	outb(b + 2, 6);
	check("ide_hostile_prd_outside_ram", (s & ST_ERR) && (bms & 2) && still_works(),
	      ",\"status\":%u,\"bm\":%u", s, bms);

	/* a PRD entry pointing outside RAM */
	prd[0] = 0xfebf0000u;
	prd[1] = 4096 | 0x80000000u;
	tf28(0, 0, 0, 8);
	s = dma(0, 0xc8, true, &bms);
	check("ide_hostile_prd_data_outside_ram", (s & ST_ERR) && (bms & 2) && still_works(),
	      ",\"status\":%u,\"bm\":%u", s, bms);

	/* a PRD table with no end: 8192 two-byte entries, none with EOT */
	for (int i = 0; i < 8192; i++) {
		prd[2 * i] = (u32)(u64)buf2;
		prd[2 * i + 1] = 2;
	}
	tf28(0, 0, 0, 64);
	s = dma(0, 0xc8, true, &bms);
	check("ide_hostile_prd_no_end", (s & ST_ERR) && (bms & 2) && still_works(),
	      ",\"status\":%u,\"bm\":%u", s, bms);

	/* a PRD table shorter than the transfer */
	prd_set(buf2, 1024);
	tf28(0, 0, 0, 8);
	s = dma(0, 0xc8, true, &bms);
	check("ide_hostile_prd_short", (s & ST_ERR) && (bms & 2) && still_works(),
	      ",\"status\":%u,\"bm\":%u", s, bms);

	/* data port with no command; BM start with no command; a command
	 * replacing one mid-transfer */
	sel(0, 0, 0);
	for (int i = 0; i < 8; i++)
		(void)inw(cmdp[0]);
	outw(cmdp[0], 0x1234);
	outb(b, 0x09);
	outb(b, 0);
	tf28(0, 0, 100, 8);
	outb(cmdp[0] + 7, 0x20);
	(void)inw(cmdp[0]);
	check("ide_hostile_order", still_works(), ",\"after\":\"read ok\"");

	/* the absent slave: nothing answers (status 0), commands go nowhere */
	sel(0, 1, 0);
	outb(cmdp[0] + 7, 0xec);
	u8 sa = inb(cmdp[0] + 7);
	outb(cmdp[0] + 7, 0xc8);
	u8 sb = inb(cmdp[0] + 7);
	check("ide_hostile_absent", sa == 0 && sb == 0 && still_works(),
	      ",\"status\":[%u,%u]", sa, sb);

	/* zero-length: SET MULTIPLE with a bad count, ATAPI command to an ATA disk */
	sel(0, 0, 0);
	outb(cmdp[0] + 2, 3);
	outb(cmdp[0] + 7, 0xc6);
	u8 s1 = wait_ready(0);
	outb(cmdp[0] + 7, 0xa0);
	u8 s2 = wait_ready(0);
	check("ide_hostile_bad_commands", (s1 & ST_ERR) && (s2 & ST_ERR) && still_works(),
	      ",\"status\":[%u,%u]", s1, s2);
}

/* ---- ATAPI on hdc --------------------------------------------------------- */

/* Sends a packet; PIO data into p (at most max bytes). Returns the status
 * at the end; *got the bytes moved. */
static u16 byte_limit = 0xfffe;            /* PIO bytes per DRQ block */

static u8 packet(const u8 *cdb, u8 *p, u32 max, u32 *got, bool use_dma)
{
	int c = 1;
	sel(c, 0, 0);
	outb(cmdp[c] + 1, use_dma ? 1 : 0);
	outb(cmdp[c] + 4, (u8)byte_limit);
	outb(cmdp[c] + 5, (u8)(byte_limit >> 8));
	u16 b = bm + 8;
	if (use_dma) {
		outb(b, 0);
		outb(b + 2, 6);
		outl(b + 4, (u32)(u64)prd);
		outb(b, 0x08);
	}
	outb(cmdp[c] + 7, 0xa0);
	u8 s = wait_ready(c);
	if (!(s & ST_DRQ))
		return s;
	for (int i = 0; i < 6; i++)
		outw(cmdp[c], (u16)(cdb[2 * i] | cdb[2 * i + 1] << 8));
	*got = 0;
	if (use_dma) {
		outb(b, 0x09);
		s = wait_ready(c);
		outb(b, 0);
		*got = max;
		return s;
	}
	for (;;) {
		s = wait_ready(c);
		if (!(s & ST_DRQ) || (s & ST_ERR))
			return s;
		u32 n = inb(cmdp[c] + 4) | (u32)inb(cmdp[c] + 5) << 8;
		for (u32 i = 0; i < n; i += 2) {
			u16 v = inw(cmdp[c]);
			if (*got + i + 1 < max) {
				p[*got + i] = (u8)v;
				p[*got + i + 1] = (u8)(v >> 8);
			}
		}
		*got += n;
	}
}

static u32 cd_base = 0xcd000000u;

static bool cd_pattern(const u8 *p, u32 lba, u32 n)
{
	for (u32 s = 0; s < n; s++)
		for (u32 k = 0; k < 512; k++)
			if (((const u32 *)p)[s * 512 + k] != cd_base + (lba + s) * 512 + k)
				return false;
	return true;
}

/* cd=empty: hdc is a CD-ROM with an empty tray */
static void cdrom_empty_tests(void)
{
	u32 got;
	u8 cdb[12] = { 0 };
	sel(1, 0, 0);
	outb(cmdp[1] + 7, 0xa1);
	u8 s = pio_in(1, buf, 512);
	u16 *id = (u16 *)buf;
	check("atapi_identify", !(s & ST_ERR) && ((id[0] >> 8) & 0x1f) == 5, ",\"word0\":%u", id[0]);
	s = packet(cdb, buf, 0, &got, false);
	u8 key = inb(cmdp[1] + 1) >> 4;
	cdb[0] = 0x03;
	cdb[4] = 18;
	u8 s2 = packet(cdb, buf, 18, &got, false);
	u8 asc = buf[12];
	memset(cdb, 0, 12);
	cdb[0] = 0x4a;
	cdb[1] = 1;
	cdb[4] = 0x10;
	cdb[8] = 8;
	u8 s3 = packet(cdb, buf, 8, &got, false);
	check("atapi_empty_tray", (s & ST_ERR) && key == 2 && !(s2 & ST_ERR) && asc == 0x3a &&
	      !(s3 & ST_ERR) && !(buf[5] & 2), ",\"sense_key\":%u,\"asc\":%u", key, asc);
}

static void cdrom_tests(void)
{
	u32 got;
	u8 cdb[12];
	u64 want = cmdline_u64("cd_sectors", 0);
	char mode[16];
	if (cmdline_get("cd", mode, sizeof(mode)) && !strcmp(mode, "empty"))
		return cdrom_empty_tests();

	/* the ATAPI signature; IDENTIFY DEVICE is aborted */
	sel(1, 0, 0);
	outb(cmdp[1] + 7, 0xec);
	u8 s = wait_ready(1);
	u8 m = inb(cmdp[1] + 4), h = inb(cmdp[1] + 5);
	outb(cmdp[1] + 7, 0xa1);
	u8 s2 = pio_in(1, buf, 512);
	u16 *id = (u16 *)buf;
	check("atapi_identify", (s & ST_ERR) && m == 0x14 && h == 0xeb && !(s2 & ST_ERR) &&
	      (id[0] >> 14) == 2 && ((id[0] >> 8) & 0x1f) == 5, ",\"sig\":[%u,%u],\"word0\":%u",
	      m, h, id[0]);

	memset(cdb, 0, 12);
	cdb[0] = 0x12;
	cdb[4] = 36;
	s = packet(cdb, buf, 36, &got, false);
	check("atapi_inquiry", !(s & ST_ERR) && got == 36 && buf[0] == 5 && (buf[1] & 0x80) &&
	      !memcmp(buf + 8, "VMMD", 4), ",\"bytes\":%u", got);

	memset(cdb, 0, 12);
	s = packet(cdb, buf, 0, &got, false);
	check("atapi_test_unit_ready", !(s & ST_ERR), ",\"status\":%u", s);

	memset(cdb, 0, 12);
	cdb[0] = 0x25;
	s = packet(cdb, buf, 8, &got, false);
	u32 last = (u32)buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3];
	u32 bl = (u32)buf[4] << 24 | buf[5] << 16 | buf[6] << 8 | buf[7];
	check("atapi_read_capacity", !(s & ST_ERR) && bl == 2048 && last + 1 == want,
	      ",\"sectors\":%u,\"block\":%u", last + 1, bl);

	/* READ(10) by PIO: 4 sectors at 2 */
	memset(cdb, 0, 12);
	cdb[0] = 0x28;
	cdb[5] = 2;
	cdb[8] = 4;
	memset(buf, 0, 8192);
	s = packet(cdb, buf, 8192, &got, false);
	check("atapi_read10_pio", !(s & ST_ERR) && got == 8192 && cd_pattern(buf, 2, 4),
	      ",\"bytes\":%u", got);

	/* READ(12) by DMA: 8 sectors at 5 */
	memset(cdb, 0, 12);
	cdb[0] = 0xa8;
	cdb[5] = 5;
	cdb[9] = 8;
	memset(buf2, 0, 16384);
	prd_set(buf2, 16384);
	s = packet(cdb, buf2, 16384, &got, true);
	u8 bms = inb(bm + 8 + 2);
	outb(bm + 8 + 2, 6);
	check("atapi_read12_dma", !(s & ST_ERR) && !(bms & 2) && cd_pattern(buf2, 5, 8),
	      ",\"status\":%u,\"bm\":%u", s, bms);

	/* zero lengths: READ(10) of no sectors; a byte count limit of 0 (taken
	 * as 0xfffe); an odd one (rounded down: READ(10) in 2047-byte blocks) */
	memset(cdb, 0, 12);
	cdb[0] = 0x28;
	cdb[5] = 2;
	u8 z = packet(cdb, buf, 0, &got, false);
	u32 zgot = got;
	byte_limit = 0;
	memset(cdb, 0, 12);
	cdb[0] = 0x12;
	cdb[4] = 36;
	u8 z2 = packet(cdb, buf, 36, &got, false);
	u32 z2got = got;
	byte_limit = 2047;
	memset(cdb, 0, 12);
	cdb[0] = 0x28;
	cdb[5] = 3;
	cdb[8] = 1;
	memset(buf, 0, 2048);
	u8 z3 = packet(cdb, buf, 2048, &got, false);
	byte_limit = 0xfffe;
	check("atapi_zero_and_odd_lengths", !(z & ST_ERR) && zgot == 0 && !(z2 & ST_ERR) &&
	      z2got == 36 && !(z3 & ST_ERR) && got == 2048 && cd_pattern(buf, 3, 1),
	      ",\"read0_bytes\":%u,\"inquiry_bytes\":%u,\"odd_limit_bytes\":%u", zgot, z2got, got);

	/* out of range, then REQUEST SENSE says why */
	memset(cdb, 0, 12);
	cdb[0] = 0x28;
	cdb[2] = (u8)(want >> 24);
	cdb[3] = (u8)(want >> 16);
	cdb[4] = (u8)(want >> 8);
	cdb[5] = (u8)want;
	cdb[8] = 1;
	s = packet(cdb, buf, 2048, &got, false);
	u8 err = inb(cmdp[1] + 1);
	memset(cdb, 0, 12);
	cdb[0] = 0x03;
	cdb[4] = 18;
	u8 s3 = packet(cdb, buf, 18, &got, false);
	check("atapi_request_sense", (s & ST_ERR) && (err >> 4) == 5 && !(s3 & ST_ERR) &&
	      (buf[2] & 0xf) == 5 && buf[12] == 0x21, ",\"key\":%u,\"asc\":%u", buf[2] & 0xf,
	      buf[12]);

	memset(cdb, 0, 12);
	cdb[0] = 0x5a;
	cdb[2] = 0x2a;
	cdb[8] = 64;
	s = packet(cdb, buf, 64, &got, false);
	check("atapi_mode_sense", !(s & ST_ERR) && got >= 16 && buf[8] == 0x2a, ",\"bytes\":%u",
	      got);

	memset(cdb, 0, 12);
	cdb[0] = 0x46;
	cdb[8] = 64;
	s = packet(cdb, buf, 64, &got, false);
	u32 prof = (u32)buf[6] << 8 | buf[7];
	check("atapi_get_configuration", !(s & ST_ERR) && (prof == 8 || prof == 0x10),
	      ",\"profile\":%u", prof);

	memset(cdb, 0, 12);
	cdb[0] = 0x43;
	cdb[8] = 64;
	s = packet(cdb, buf, 64, &got, false);
	u32 leadout = (u32)buf[16] << 24 | buf[17] << 16 | buf[18] << 8 | buf[19];
	check("atapi_read_toc", !(s & ST_ERR) && buf[3] == 1 && buf[14] == 0xaa &&
	      leadout == want, ",\"leadout\":%u", leadout);

	memset(cdb, 0, 12);
	cdb[0] = 0x4a;
	cdb[1] = 1;
	cdb[4] = 0x10;
	cdb[8] = 8;
	s = packet(cdb, buf, 8, &got, false);
	check("atapi_event_status", !(s & ST_ERR) && buf[2] == 4 && (buf[5] & 2),
	      ",\"media_status\":%u", buf[5]);

	/* PREVENT: eject refused; ALLOW: eject works; then NOT READY */
	memset(cdb, 0, 12);
	cdb[0] = 0x1e;
	cdb[4] = 1;
	u8 p1 = packet(cdb, buf, 0, &got, false);
	memset(cdb, 0, 12);
	cdb[0] = 0x1b;
	cdb[4] = 2;
	u8 e1 = packet(cdb, buf, 0, &got, false);
	memset(cdb, 0, 12);
	cdb[0] = 0x1e;
	u8 p2 = packet(cdb, buf, 0, &got, false);
	memset(cdb, 0, 12);
	cdb[0] = 0x1b;
	cdb[4] = 2;
	u8 e2 = packet(cdb, buf, 0, &got, false);
	memset(cdb, 0, 12);
	u8 t = packet(cdb, buf, 0, &got, false);
	u8 terr = inb(cmdp[1] + 1);
	check("atapi_eject", !(p1 & ST_ERR) && (e1 & ST_ERR) && !(p2 & ST_ERR) && !(e2 & ST_ERR) &&
	      (t & ST_ERR) && (terr >> 4) == 2, ",\"tur_after_eject_key\":%u", terr >> 4);
}

void test_ide(void)
{
	struct pcif fs[64];
	if (!pcib_init()) {
		check("ide_pci", false, ",\"error\":\"no PCI configuration access\"");
		return;
	}
	int n = pcib_scan(fs, 64);
	const struct pcif *ide = NULL, *isa = NULL;
	for (int i = 0; i < n; i++) {
		if (fs[i].vendor == 0x8086 && fs[i].device == 0x7010)
			ide = &fs[i];
		if (fs[i].vendor == 0x8086 && fs[i].device == 0x7000)
			isa = &fs[i];
	}
	check("ide_pci", ide && isa && ide->dev == 1 && ide->fn == 1 && (isa->htype & 0x80) &&
	      ide && (ide->class >> 8) == 0x0101, ",\"found\":%s", ide ? "true" : "false");
	if (!ide)
		return;
	/* BAR4: 16 ports of bus master registers; I/O decoding and mastering */
	bm = 0xc040;
	pcib_write32(ide, 0x20, bm | 1);
	pcib_write16(ide, 0x04, PCI_CMD_IO | PCI_CMD_MASTER);
	outb(ctlp[0], 0x02);                        /* nIEN: the kit polls */
	outb(ctlp[1], 0x02);
	disk_tests();
	hostile_tests();
	cdrom_tests();   /* cd=empty: the tray is empty, NOT READY is the check */
}

/* The PIIX3 IDE function found, BAR4 (bus master) placed, I/O decoding
 * and mastering on; NULL, or why not. */
static const char *ide_setup(void)
{
	struct pcif fs[64];
	if (!pcib_init())
		return "no PCI configuration access";
	int n = pcib_scan(fs, 64);
	for (int i = 0; i < n; i++) {
		if (fs[i].vendor != 0x8086 || fs[i].device != 0x7010)
			continue;
		bm = 0xc040;
		pcib_write32(&fs[i], 0x20, bm | 1);
		pcib_write16(&fs[i], 0x04, PCI_CMD_IO | PCI_CMD_MASTER);
		return NULL;
	}
	return "no PIIX3 IDE function";
}

/* TEST UNIT READY until it fails with sense key `key` (the error register's
 * high nibble), for at most ms; the key seen last. */
static u8 tur_until(u8 key, u64 ms)
{
	u8 cdb[12] = { 0 }, k = 0;
	u32 got;
	for (u64 t = 0; t < ms; t += 20) {
		u8 s = packet(cdb, buf, 0, &got, false);
		k = s & ST_ERR ? inb(cmdp[1] + 1) >> 4 : 0;
		if (k == key)
			return k;
		delay_us(20000);
	}
	return k;
}

static u8 cap_status, cap_error;

static u32 read_capacity(void)
{
	u8 cdb[12] = { 0x25 };
	u32 got;
	u8 s = packet(cdb, buf, 8, &got, false);
	cap_status = s;
	cap_error = inb(cmdp[1] + 1);
	if (s & ST_ERR)
		return 0;
	return ((u32)buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3]) + 1;
}

/* test=ide-media cd_sectors=N new_sectors=M: media changes by the host
 * (vmmctl change-media) on hdc, in step with it: "ready" -> the host puts
 * an image whose words start at 0xce000000 in; the guest sees UNIT
 * ATTENTION, the media event, the new capacity and data; "locked" (the
 * guest prevents removal) -> the host's eject is refused, a forced one
 * goes through; the guest sees UNIT ATTENTION, then NOT READY. */
void test_ide_media(void)
{
	const char *why = ide_setup();
	if (why)
		return check("ide_media_pci", false, ",\"error\":\"%s\"", why);
	outb(ctlp[1], 0x02);
	u64 first = cmdline_u64("cd_sectors", 0), second = cmdline_u64("new_sectors", 0);
	u32 cap0 = read_capacity();
	check("ide_media_initial", cap0 == first, ",\"sectors\":%u", cap0);
	out("{\"media\":\"ready\"}");
	u8 k = tur_until(6, 60000);
	u8 cdb[12] = { 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8 };
	u32 got;
	u8 s = packet(cdb, buf, 8, &got, false);
	u8 ev = buf[4], present = buf[5];
	u32 cap1 = read_capacity();
	u8 rd[12] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 2 };
	cd_base = 0xce000000u;
	memset(buf, 0, 4096);
	u8 s2 = packet(rd, buf, 4096, &got, false);
	check("ide_media_change", k == 6 && !(s & ST_ERR) && ev == 2 && (present & 2) &&
	      cap1 == second && !(s2 & ST_ERR) && cd_pattern(buf, 1, 2),
	      ",\"sense_key\":%u,\"event\":%u,\"sectors\":%u,\"capacity_status\":%u,"
	      "\"capacity_error\":%u", k, ev, cap1, cap_status, cap_error);
	u8 lock[12] = { 0x1e, 0, 0, 0, 1 };
	packet(lock, buf, 0, &got, false);
	out("{\"media\":\"locked\"}");
	k = tur_until(6, 60000);
	u8 k2 = tur_until(2, 2000);
	u8 asc;
	u8 rs[12] = { 0x03, 0, 0, 0, 18 };
	packet(rs, buf, 18, &got, false);
	asc = buf[12];
	check("ide_media_eject", k == 6 && k2 == 2 && asc == 0x3a && read_capacity() == 0,
	      ",\"sense_key\":%u,\"then\":%u,\"asc\":%u", k, k2, asc);
}

/* test=blk-bench bus=ide: the primary master by bus-master DMA (READ/WRITE
 * DMA EXT), one command at a time as the bus allows (qd 1), polled;
 * "notifies" counts the command register writes that start them. */
/* PIO as ata_piix moves it: one REP INSW/OUTSW of 256 words per sector
 * (KVM hands a REP INSW to the VMM in one exit; a REP OUTSW, measured
 * here, exits per word) */
static void insw_rep(u16 port, void *p, u32 n)
{
	__asm__ volatile("rep insw" : "+D"(p), "+c"(n) : "d"(port) : "memory");
}

static void outsw_rep(u16 port, const void *p, u32 n)
{
	__asm__ volatile("rep outsw" : "+S"(p), "+c"(n) : "d"(port) : "memory");
}

/* READ/WRITE SECTORS EXT of nsec sectors by PIO; the final ATA status, or
 * the status that stopped it (ERR, or no DRQ for a sector still due). */
static u8 pio_sectors(u64 lba, u32 nsec, bool write)
{
	tf48(0, 0, lba, nsec);
	outb(cmdp[0] + 7, write ? 0x34 : 0x24);
	for (u32 i = 0; i < nsec; i++) {
		u8 s = wait_ready(0);
		if (s & ST_ERR || !(s & ST_DRQ))
			return s | ST_ERR;
		if (write)
			outsw_rep(cmdp[0], buf + 512 * i, 256);
		else
			insw_rep(cmdp[0], buf + 512 * i, 256);
	}
	return wait_ready(0);
}

/* test=blk-bench bus=ide [pio=1]: hda at qd 1 by bus-master DMA, or by PIO
 * with pio=1. A request counts as an error unless it ended with neither
 * ERR, BSY nor DRQ and (DMA) the bus master inactive without error. */
void ide_bench(const struct bench_args *a)
{
	bool pio = cmdline_u64("pio", 0);
	if (a->bs > 32768)
		return bench_fail("ide", "bs above 32 KiB (the kit's DMA buffer)");
	const char *why = ide_setup();
	if (why)
		return bench_fail("ide", why);
	/* an I/O BAR the host bridge does not route reads as all ones (QEMU's
	 * microvm has no PCI I/O window); the commands would then never move
	 * data while their status looks clean */
	if (!pio && inb(bm + 2) == 0xff)
		return bench_fail("ide", "the bus master BAR4 at 0xc040 does not decode (status reads 0xff): no PCI I/O window?");
	outb(ctlp[0], 0x02);
	sel(0, 0, 0);
	outb(cmdp[0] + 7, 0xec);
	if (pio_in(0, buf, 512) & ST_ERR)
		return bench_fail("ide", "IDENTIFY failed");
	u16 *id = (u16 *)buf;
	u64 total = ata_id_sectors(id);
	u64 nsec = a->bs / 512, blocks = total / nsec, seq = 0;
	if (!blocks)
		return bench_fail("ide", "disk smaller than bs");
	u64 ios = 0, errs = 0, lat = 0;
	bench_start(a, "ide", pio ? "hda-pio" : "hda", 1);
	u64 t0 = rdtsc(), end = t0 + a->secs * tsc_hz, t_last = t0;
	prd_set(buf, (u32)a->bs);
	while (rdtsc() < end) {
		u64 t = rdtsc();
		u64 lba = bench_next(a, &seq, blocks) * nsec;
		u8 bms = 0, s;
		if (pio) {
			s = pio_sectors(lba, (u32)nsec, a->write);
		} else {
			tf48(0, 0, lba, (u32)nsec);
			s = dma(0, a->write ? 0x35 : 0x25, !a->write, &bms);
		}
		t_last = rdtsc();
		lat += t_last - t;
		ios++;
		if (s & (ST_ERR | ST_BSY | ST_DRQ) || bms & 3)
			errs++;
	}
	struct bench_res r = { .bus = "ide", .device = pio ? "hda-pio" : "hda", .qd = 1, .ios = ios, .errs = errs,
			       .lat_tsc = lat, .nots = ios, .t0 = t0, .t_last = t_last, .queues = 1,
			       .poll = true };
	bench_report(a, &r);
}
