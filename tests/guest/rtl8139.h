/* Realtek RTL8139C+ driver of the guest kit (rtl8139.c), in both of the
 * chip's modes: classic (the receive ring buffer and four transmit
 * slots, as Linux's 8139too drives it) and C+ (descriptor rings with
 * checksum offload, as 8139cp does). Polled at CPL3 like the other NIC
 * drivers; INTx is used only by test=rtl8139's interrupt check. */
#ifndef GK_RTL8139_H
#define GK_RTL8139_H

#include "pcibus.h"

#define RTL_RING	32		/* C+ descriptors per ring */
#define RTL_BUF		2048
#define RTL_RXBUF_LEN	32768		/* classic: RBLEN 2 */

/* registers */
#define RTL_IDR0	0x00
#define RTL_MAR0	0x08
#define RTL_TSD0	0x10
#define RTL_TSAD0	0x20		/* C+: TxRingAddr */
#define RTL_HTXRING	0x28
#define RTL_RBSTART	0x30
#define RTL_CR		0x37
#define RTL_CAPR	0x38
#define RTL_CBR		0x3a
#define RTL_IMR		0x3c
#define RTL_ISR		0x3e
#define RTL_TCR		0x40
#define RTL_RCR		0x44
#define RTL_TCTR	0x48
#define RTL_MPC		0x4c
#define RTL_9346CR	0x50
#define RTL_TIMERINT	0x54
#define RTL_BMCR	0x62
#define RTL_BMSR	0x64
#define RTL_TXPOLL	0xd9
#define RTL_CPCR	0xe0
#define RTL_RXRING	0xe4

#define RTL_CR_RST	0x10
#define RTL_CR_RE	0x08
#define RTL_CR_TE	0x04
#define RTL_CR_BUFE	0x01
#define RTL_TSD_OWN	(1u << 13)
#define RTL_TSD_TOK	(1u << 15)
#define RTL_TSD_TABT	(1u << 30)
#define RTL_D_OWN	(1u << 31)
#define RTL_D_EOR	(1u << 30)
#define RTL_D_FS	(1u << 29)
#define RTL_D_LS	(1u << 28)
#define RTL_D_LGSEN	(1u << 27)
#define RTL_D_IPCS	(1u << 18)
#define RTL_D_UDPCS	(1u << 17)
#define RTL_D_TCPCS	(1u << 16)
#define RTL_D_RXERR	(1u << 20)

struct rtl8139 {
	struct pcif f;
	struct pci_bar bars[6];
	u64 mmio;
	u16 io;
	u8 gsi;				/* config space Interrupt Line */
	u8 rev;
	u8 mac[6];
	bool cplus;
	/* classic */
	u8 *rxbuf, *txb;
	u32 rx_off, done_off, rx_ends[64];
	u32 tx_next, tx_clean;		/* running counts, slot = n % 4 */
	/* C+ */
	u8 *rxd, *txd, *rxb;
	u16 rx_next, ctx_next, ctx_clean;
	u64 rx_csum_ok, rx_csum_bad;	/* C+: UDP/TCP frames by their checksum bits */
	u64 rx_pkts, tx_pkts, rx_bad, tx_busy;
	const char *err;
};

int rtl8139_find(struct pcif *out, int max);
/* Reset, MAC from the EEPROM, then rtl8139_start(cplus). False with
 * r->err set. */
bool rtl8139_open(struct rtl8139 *r, const struct pcif *f, bool cplus);
/* CR.RST, then filters, buffers or rings, receive and transmit on. */
void rtl8139_start(struct rtl8139 *r);
u8 rtl8139_rd8(struct rtl8139 *r, u32 reg);
u16 rtl8139_rd16(struct rtl8139 *r, u32 reg);
u32 rtl8139_rd32(struct rtl8139 *r, u32 reg);
void rtl8139_wr8(struct rtl8139 *r, u32 reg, u8 v);
void rtl8139_wr16(struct rtl8139 *r, u32 reg, u16 v);
void rtl8139_wr32(struct rtl8139 *r, u32 reg, u32 v);
u16 rtl8139_eeprom(struct rtl8139 *r, u8 addr);	/* 93C46 through 9346CR */
bool rtl8139_link_up(struct rtl8139 *r);
/* The shape of net.h's (nic_ops): next received frame (NULL: none), give
 * the slot back (in order), publish (CAPR in classic mode). */
u8 *rtl8139_rx(struct rtl8139 *r, u32 *len, u16 *slot);
void rtl8139_rx_done(struct rtl8139 *r, u16 slot);
void rtl8139_rx_flush(struct rtl8139 *r);
u8 *rtl8139_tx_buf(struct rtl8139 *r, u16 *slot);
/* flags: C+ descriptor offload bits (IPCS/UDPCS/TCPCS); 0 in classic
 * mode. Frames shorter than 60 bytes are padded. */
void rtl8139_tx_send(struct rtl8139 *r, u16 slot, u32 len, u32 flags);
/* Whether the frame in slot has left (TOK/TABT, or OWN cleared). */
bool rtl8139_tx_done(struct rtl8139 *r, u16 slot);

#endif
