/* The kit's polled AHCI driver (see ahci.h). */
#include "ahci.h"
#include "virtio.h"			/* page_alloc */

#define GHC_HR	1u
#define GHC_AE	(1u << 31)

static bool poll32(u64 addr, u32 mask, u32 want, u64 ms)
{
	u64 end = rdtsc() + ms_to_tsc(ms);
	while ((mmio_read32(addr) & mask) != want)
		if (rdtsc() > end)
			return false;
	return true;
}

void ahci_port_start(struct ahci *h, int port)
{
	u32 cmd = ahci_rd(h, port, PX_CMD);
	ahci_wr(h, port, PX_CMD, cmd & ~PX_CMD_ST);
	poll32(ahci_preg(h, port, PX_CMD), PX_CMD_CR, 0, 500);
	ahci_wr(h, port, PX_SERR, 0xffffffff);
	ahci_wr(h, port, PX_IS, 0xffffffff);
	ahci_wr(h, port, PX_CMD, PX_CMD_FRE | PX_CMD_SUD | PX_CMD_POD);
	ahci_wr(h, port, PX_CMD, PX_CMD_FRE | PX_CMD_SUD | PX_CMD_POD | PX_CMD_ST);
}

void ahci_comreset(struct ahci *h, int port)
{
	ahci_wr(h, port, PX_CMD, ahci_rd(h, port, PX_CMD) & ~PX_CMD_ST);
	poll32(ahci_preg(h, port, PX_CMD), PX_CMD_CR, 0, 500);
	ahci_wr(h, port, PX_SCTL, 0x301);		/* DET = 1: COMRESET */
	delay_us(1000);
	ahci_wr(h, port, PX_SCTL, 0x300);
	poll32(ahci_preg(h, port, PX_SSTS), 0xf, 3, 500);
	poll32(ahci_preg(h, port, PX_TFD), 0x88, 0, 500);
	ahci_port_start(h, port);
}

bool ahci_init(struct ahci *h, const char **why)
{
	struct pcif fs[64];
	struct pci_bar bars[6];
	if (!pcib_init()) {
		*why = "no PCI configuration access";
		return false;
	}
	int n = pcib_scan(fs, 64), i;
	for (i = 0; i < n; i++)
		if (fs[i].vendor == 0x8086 && fs[i].device == 0x2922)
			break;
	if (i == n) {
		*why = "no AHCI controller (8086:2922)";
		return false;
	}
	h->f = fs[i];
	if (!pcib_setup_bars(&h->f, bars) || !bars[5].size) {
		*why = "no ABAR (BAR5)";
		return false;
	}
	h->abar = bars[5].addr;
	pcib_write16(&h->f, 0x04, PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_INTX_OFF);
	mmio_write32(h->abar + 4, GHC_HR);
	if (!poll32(h->abar + 4, GHC_HR, 0, 1000)) {
		*why = "GHC.HR did not clear";
		return false;
	}
	mmio_write32(h->abar + 4, GHC_AE);		/* polled: GHC.IE off */
	h->cap = mmio_read32(h->abar);
	h->pi = mmio_read32(h->abar + 0x0c);
	for (int p = 0; p < AHCI_PORTS; p++) {
		h->sig[p] = 0;
		if (!(h->pi & (1u << p)))
			continue;
		if (!h->clb[p]) {
			h->clb[p] = page_alloc(4096);	/* 1 KiB list + 256-byte FIS area */
			h->fb[p] = h->clb[p] + 2048;
			h->ct[p] = page_alloc(32 * AHCI_CT_SIZE);
		}
		if (!h->clb[p] || !h->ct[p]) {
			*why = "out of memory";
			return false;
		}
		ahci_wr(h, p, PX_CLB, (u32)(u64)h->clb[p]);
		ahci_wr(h, p, PX_CLBU, (u32)((u64)h->clb[p] >> 32));
		ahci_wr(h, p, PX_FB, (u32)(u64)h->fb[p]);
		ahci_wr(h, p, PX_FBU, (u32)((u64)h->fb[p] >> 32));
		ahci_wr(h, p, PX_CMD, PX_CMD_FRE | PX_CMD_SUD | PX_CMD_POD);	/* spin up */
		if (!poll32(ahci_preg(h, p, PX_SSTS), 0xf, 3, 50))
			continue;				/* no device */
		poll32(ahci_preg(h, p, PX_TFD), 0x88, 0, 500);
		h->sig[p] = ahci_rd(h, p, PX_SIG);
		ahci_port_start(h, p);
	}
	return true;
}

void ahci_fis(u8 *f, u8 cmd, u64 lba, u32 count, u16 feature)
{
	memset(f, 0, 20);
	f[0] = 0x27;
	f[1] = 0x80;					/* C: a command */
	f[2] = cmd;
	f[3] = (u8)feature;
	f[4] = (u8)lba;
	f[5] = (u8)(lba >> 8);
	f[6] = (u8)(lba >> 16);
	f[7] = 0x40 | (u8)((lba >> 24) & 0x0f);		/* LBA mode; LBA28 bits 27:24 */
	f[8] = (u8)(lba >> 24);
	f[9] = (u8)(lba >> 32);
	f[10] = (u8)(lba >> 40);
	f[11] = (u8)(feature >> 8);
	f[12] = (u8)count;
	f[13] = (u8)(count >> 8);
}

void ahci_fis_ncq(u8 *f, bool write, u64 lba, u32 count, int tag)
{
	ahci_fis(f, write ? 0x61 : 0x60, lba, 0, (u16)count);
	f[7] = 0x40;
	f[12] = (u8)(tag << 3);
}

void ahci_prep(struct ahci *h, int port, int slot, const u8 *cfis, const u8 *acmd, bool write,
	       void *buf, u32 bytes, u32 chunk)
{
	u8 *ct = ahci_ct(h, port, slot), *hd = ahci_hdr(h, port, slot);
	memcpy(ct, cfis, 20);
	if (acmd)
		memcpy(ct + 0x40, acmd, 12);
	u32 n = 0;
	for (u32 off = 0; off < bytes && n < AHCI_PRDS; off += chunk, n++) {
		u32 len = bytes - off < chunk ? bytes - off : chunk;
		u8 *e = ct + 0x80 + 16 * n;
		u64 a = (u64)buf + off;
		memcpy(e, &(u32){ (u32)a }, 4);
		memcpy(e + 4, &(u32){ (u32)(a >> 32) }, 4);
		memcpy(e + 8, &(u32){ 0 }, 4);
		memcpy(e + 12, &(u32){ len - 1 }, 4);
	}
	u32 dw0 = 5 | (acmd ? 1u << 5 : 0) | (write ? 1u << 6 : 0) | n << 16;
	memcpy(hd, &dw0, 4);
	memcpy(hd + 4, &(u32){ 0 }, 4);
	memcpy(hd + 8, &(u32){ (u32)(u64)ct }, 4);
	memcpy(hd + 12, &(u32){ (u32)((u64)ct >> 32) }, 4);
}

u32 ahci_run(struct ahci *h, int port, u32 mask, bool ncq, u32 *is)
{
	if (ncq)
		ahci_wr(h, port, PX_SACT, mask);
	ahci_wr(h, port, PX_CI, mask);
	u64 end = rdtsc() + ms_to_tsc(5000);
	u32 s = 0;
	for (;;) {
		s = ahci_rd(h, port, PX_IS);
		u32 busy = ahci_rd(h, port, PX_CI) | (ncq ? ahci_rd(h, port, PX_SACT) : 0);
		if (!(busy & mask) || (s & (PX_IS_TFES | PX_IS_HBFS)) || rdtsc() > end)
			break;
	}
	if (is)
		*is = s;
	ahci_wr(h, port, PX_IS, s);
	if (s & PX_IS_HBFS)
		return 0xffffffffu;
	return ahci_rd(h, port, PX_TFD);
}

u32 ahci_cmd(struct ahci *h, int port, u8 cmd, u64 lba, u32 count, bool write, void *buf,
	     u32 bytes)
{
	u8 f[20];
	ahci_fis(f, cmd, lba, count, 0);
	ahci_prep(h, port, 0, f, NULL, write, buf, bytes, 4096);
	return ahci_run(h, port, 1, false, NULL);
}
