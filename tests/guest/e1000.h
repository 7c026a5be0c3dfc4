/* Intel 82540EM (e1000) driver of the guest kit (e1000.c): one receive and
 * one transmit ring of legacy descriptors, polled at CPL3 like the
 * virtio-net driver; INTx is used only by test=e1000's interrupt check. */
#ifndef GK_E1000_H
#define GK_E1000_H

#include "pcibus.h"

#define E1000_RING	32		/* descriptors per ring */
#define E1000_BUF	2048

/* registers */
#define E1K_CTRL	0x0000
#define E1K_STATUS	0x0008
#define E1K_EECD	0x0010
#define E1K_EERD	0x0014
#define E1K_MDIC	0x0020
#define E1K_ICR		0x00c0
#define E1K_ITR		0x00c4
#define E1K_ICS		0x00c8
#define E1K_IMS		0x00d0
#define E1K_IMC		0x00d8
#define E1K_RCTL	0x0100
#define E1K_TCTL	0x0400
#define E1K_RDBAL	0x2800
#define E1K_RDBAH	0x2804
#define E1K_RDLEN	0x2808
#define E1K_RDH		0x2810
#define E1K_RDT		0x2818
#define E1K_RDTR	0x2820
#define E1K_TDBAL	0x3800
#define E1K_TDBAH	0x3804
#define E1K_TDLEN	0x3808
#define E1K_TDH		0x3810
#define E1K_TDT		0x3818
#define E1K_GPRC	0x4074
#define E1K_GPTC	0x4080
#define E1K_GORCL	0x4088
#define E1K_GOTCL	0x4090
#define E1K_TPR		0x40d0
#define E1K_TPT		0x40d4
#define E1K_MTA		0x5200
#define E1K_RAL0	0x5400
#define E1K_RAH0	0x5404

struct e1000 {
	struct pcif f;
	struct pci_bar bars[6];
	u64 mmio;
	u16 io;
	u8 gsi;				/* config space Interrupt Line */
	u8 mac[6];
	u8 *rxd, *txd, *rxb, *txb;
	u16 rx_next, rx_tail, tx_next, tx_clean;
	bool rx_freed[E1000_RING];
	bool rdt_posted;		/* an RDT write not yet followed by a read */
	u64 rx_pkts, tx_pkts, rx_bad, tx_busy;
	const char *err;
};

int e1000_find(struct pcif *out, int max);
/* Reset, MAC from the EEPROM (EERD), filters, rings, receive and
 * transmit on. False with e->err set. */
bool e1000_open(struct e1000 *e, const struct pcif *f);
/* After CTRL.RST: rings, filters, receive and transmit on again. */
void e1000_start(struct e1000 *e);
u32 e1000_rd(struct e1000 *e, u32 reg);
void e1000_wr(struct e1000 *e, u32 reg, u32 v);
u32 e1000_io_rd(struct e1000 *e, u32 reg);	/* through IOADDR/IODATA */
u16 e1000_ee_eerd(struct e1000 *e, u8 addr);
u16 e1000_ee_bitbang(struct e1000 *e, u8 addr);	/* Microwire on EECD */
u16 e1000_phy_read(struct e1000 *e, u8 reg);	/* 0xffffffff-ish on error: returns 0xffff */
bool e1000_link_up(struct e1000 *e);
/* The same shape as net.h's: next received frame (NULL: none), give the
 * slot back (in any order), publish the given-back slots (RDT). */
u8 *e1000_rx(struct e1000 *e, u32 *len, u16 *slot);
void e1000_rx_done(struct e1000 *e, u16 slot);
void e1000_rx_flush(struct e1000 *e);
u8 *e1000_tx_buf(struct e1000 *e, u16 *slot);
void e1000_tx_send(struct e1000 *e, u16 slot, u32 len);
/* The same with the device inserting the checksum of [css, end) at cso:
 * a context descriptor, then a data descriptor with POPTS.TXSM (two ring
 * entries; e1000_tx_buf keeps room for them). The driver seeds the field
 * (the pseudo-header sum for TCP/UDP). */
void e1000_tx_send_csum(struct e1000 *e, u16 slot, u32 len, u8 css, u8 cso);

#endif
