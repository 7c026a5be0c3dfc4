/* A polled AHCI driver (ahci.c), the way Linux's libahci sets a port up:
 * HBA reset, AE, per port a command list, a received FIS area, FRE, SUD,
 * then ST. Used by test=ahci and test=blk-bench bus=sata. */
#ifndef GK_AHCI_H
#define GK_AHCI_H

#include "pcibus.h"

#define AHCI_PORTS	6
#define AHCI_PRDS	64		/* PRDT entries per command table */
#define AHCI_CT_SIZE	(0x80 + 16 * AHCI_PRDS)

enum { PX_CLB = 0x00, PX_CLBU = 0x04, PX_FB = 0x08, PX_FBU = 0x0c, PX_IS = 0x10, PX_IE = 0x14,
       PX_CMD = 0x18, PX_TFD = 0x20, PX_SIG = 0x24, PX_SSTS = 0x28, PX_SCTL = 0x2c,
       PX_SERR = 0x30, PX_SACT = 0x34, PX_CI = 0x38 };
#define PX_IS_TFES	(1u << 30)
#define PX_IS_HBFS	(1u << 29)
#define PX_CMD_ST	(1u << 0)
#define PX_CMD_SUD	(1u << 1)
#define PX_CMD_POD	(1u << 2)
#define PX_CMD_FRE	(1u << 4)
#define PX_CMD_CR	(1u << 15)

struct ahci {
	struct pcif f;
	u64 abar;
	u32 cap, pi;
	u32 sig[AHCI_PORTS];		/* 0: no link */
	u8 *clb[AHCI_PORTS];		/* 32 command headers */
	u8 *fb[AHCI_PORTS];		/* received FIS area */
	u8 *ct[AHCI_PORTS];		/* 32 command tables */
};

static inline u64 ahci_preg(const struct ahci *h, int port, u32 r)
{
	return h->abar + 0x100 + 0x80u * (u32)port + r;
}
static inline u32 ahci_rd(const struct ahci *h, int port, u32 r) { return mmio_read32(ahci_preg(h, port, r)); }
static inline void ahci_wr(const struct ahci *h, int port, u32 r, u32 v) { mmio_write32(ahci_preg(h, port, r), v); }
static inline u8 *ahci_ct(const struct ahci *h, int port, int slot) { return h->ct[port] + AHCI_CT_SIZE * slot; }
static inline u8 *ahci_hdr(const struct ahci *h, int port, int slot) { return h->clb[port] + 32 * slot; }

/* Find the controller, reset it, bring up every port with a link; NULL
 * with *why on failure. */
bool ahci_init(struct ahci *h, const char **why);
/* (Re)start a port: ST off, wait CR clear, clear IS/SERR, FRE + ST on. */
void ahci_port_start(struct ahci *h, int port);
/* COMRESET through PxSCTL.DET, then start. */
void ahci_comreset(struct ahci *h, int port);
/* Register H2D FIS for a command. */
void ahci_fis(u8 *cfis, u8 cmd, u64 lba, u32 count, u16 feature);
/* NCQ: READ/WRITE FPDMA QUEUED, tag = slot. */
void ahci_fis_ncq(u8 *cfis, bool write, u64 lba, u32 count, int tag);
/* Fill slot's header and table: cfis (20 bytes), optional 12-byte ATAPI
 * packet, buf split into PRD entries of at most chunk bytes. */
void ahci_prep(struct ahci *h, int port, int slot, const u8 *cfis, const u8 *acmd, bool write,
	       void *buf, u32 bytes, u32 chunk);
/* Issue the slots in mask (NCQ: PxSACT first) and poll until they clear
 * or the port reports an error; returns PxTFD, or 0xffffffff when it
 * reported a host bus fatal error, with *is the PxIS seen. */
u32 ahci_run(struct ahci *h, int port, u32 mask, bool ncq, u32 *is);
/* One non-queued command of bytes to/from buf: PxTFD after it. */
u32 ahci_cmd(struct ahci *h, int port, u8 cmd, u64 lba, u32 count, bool write, void *buf,
	     u32 bytes);

#endif
