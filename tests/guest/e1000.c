/* The guest kit's e1000 driver: see e1000.h. Register and descriptor
 * layouts from Intel's 8254x software developer's manual. */
#include "e1000.h"
#include "net.h"		/* nic_ops; page_alloc */

#define IO_PORT		0xc000		/* the kit assigns no I/O BARs: this one is ours */

int e1000_find(struct pcif *out, int max)
{
	struct pcif fs[32];
	if (!pcib_init())
		return 0;
	int n = pcib_scan(fs, ARRAY_SIZE(fs)), k = 0;
	for (int i = 0; i < n && k < max; i++)
		if (fs[i].vendor == 0x8086 && fs[i].device == 0x100e)
			out[k++] = fs[i];
	return k;
}

u32 e1000_rd(struct e1000 *e, u32 reg) { return mmio_read32(e->mmio + reg); }
void e1000_wr(struct e1000 *e, u32 reg, u32 v) { mmio_write32(e->mmio + reg, v); }

u32 e1000_io_rd(struct e1000 *e, u32 reg)
{
	outl(e->io, reg);
	return inl((u16)(e->io + 4));
}

u16 e1000_ee_eerd(struct e1000 *e, u8 addr)
{
	e1000_wr(e, E1K_EERD, (u32)addr << 8 | 1);
	for (int i = 0; i < 100000; i++) {
		u32 v = e1000_rd(e, E1K_EERD);
		if (v & 0x10)
			return (u16)(v >> 16);
	}
	return 0xffff;
}

/* Microwire: request the EEPROM, chip select, clock out a start bit,
 * READ (10) and the 6-bit address on DI, clock in 16 bits on DO. */
static void ee_clock(struct e1000 *e, u32 eecd)
{
	e1000_wr(e, E1K_EECD, eecd | 0x1);
	e1000_wr(e, E1K_EECD, eecd);
}

u16 e1000_ee_bitbang(struct e1000 *e, u8 addr)
{
	u32 eecd = 0x40;			/* REQ */
	e1000_wr(e, E1K_EECD, eecd);
	for (int i = 0; i < 1000 && !(e1000_rd(e, E1K_EECD) & 0x80); i++)
		cpu_relax();
	eecd |= 0x2;				/* CS */
	e1000_wr(e, E1K_EECD, eecd);
	u32 out = 0x6u << 6 | (addr & 0x3f);	/* 9 bits */
	for (int i = 8; i >= 0; i--) {
		u32 v = (eecd & ~0x4u) | ((out >> i) & 1 ? 0x4 : 0);
		e1000_wr(e, E1K_EECD, v);
		ee_clock(e, v);
	}
	u16 d = 0;
	for (int i = 0; i < 16; i++) {
		e1000_wr(e, E1K_EECD, eecd | 0x1);
		d = (u16)(d << 1 | ((e1000_rd(e, E1K_EECD) >> 3) & 1));
		e1000_wr(e, E1K_EECD, eecd);
	}
	e1000_wr(e, E1K_EECD, 0);
	return d;
}

u16 e1000_phy_read(struct e1000 *e, u8 reg)
{
	e1000_wr(e, E1K_MDIC, 2u << 26 | 1u << 21 | (u32)reg << 16);
	for (int i = 0; i < 100000; i++) {
		u32 v = e1000_rd(e, E1K_MDIC);
		if (v & (1u << 30))
			return 0xffff;
		if (v & (1u << 28))
			return (u16)v;
	}
	return 0xffff;
}

bool e1000_link_up(struct e1000 *e)
{
	return e1000_rd(e, E1K_STATUS) & 0x2;
}

void e1000_start(struct e1000 *e)
{
	u64 rd = (u64)e->rxd, td = (u64)e->txd;
	e1000_wr(e, E1K_IMC, 0xffffffff);
	e1000_wr(e, E1K_RAL0, rd32(e->mac));
	e1000_wr(e, E1K_RAH0, rd16(e->mac + 4) | 1u << 31);
	for (int i = 0; i < 128; i++)
		e1000_wr(e, E1K_MTA + 4 * i, 0);
	memset(e->rxd, 0, 16 * E1000_RING);
	memset(e->txd, 0, 16 * E1000_RING);
	for (int i = 0; i < E1000_RING; i++) {
		u64 a = (u64)(e->rxb + E1000_BUF * i);
		__builtin_memcpy(e->rxd + 16 * i, &a, 8);
		e->rx_freed[i] = false;
	}
	e1000_wr(e, E1K_RDBAL, (u32)rd);
	e1000_wr(e, E1K_RDBAH, (u32)(rd >> 32));
	e1000_wr(e, E1K_RDLEN, 16 * E1000_RING);
	e1000_wr(e, E1K_RDH, 0);
	e1000_wr(e, E1K_RDT, E1000_RING - 1);	/* one descriptor stays ours */
	e1000_wr(e, E1K_RDTR, 0);
	e->rx_next = 0;
	e->rx_tail = E1000_RING - 1;
	e1000_wr(e, E1K_TDBAL, (u32)td);
	e1000_wr(e, E1K_TDBAH, (u32)(td >> 32));
	e1000_wr(e, E1K_TDLEN, 16 * E1000_RING);
	e1000_wr(e, E1K_TDH, 0);
	e1000_wr(e, E1K_TDT, 0);
	e->tx_next = e->tx_clean = 0;
	/* RCTL: EN, BAM, 2 KiB buffers, strip the FCS; TCTL: EN, PSP */
	e1000_wr(e, E1K_RCTL, 0x2 | 1u << 15 | 1u << 26);
	e1000_wr(e, E1K_TCTL, 0x2 | 0x8 | 0x10u << 4 | 0x40u << 12);
}

bool e1000_open(struct e1000 *e, const struct pcif *f)
{
	memset(e, 0, sizeof(*e));
	e->f = *f;
	if (!pcib_setup_bars(f, e->bars) || !e->bars[0].size || e->bars[0].io) {
		e->err = "BAR0 (MMIO) not assignable";
		return false;
	}
	e->mmio = e->bars[0].addr;
	for (int i = 1; i < 6; i++) {
		if (e->bars[i].size && e->bars[i].io) {
			pcib_write32(f, (u16)(0x10 + 4 * i), IO_PORT);
			e->io = IO_PORT;
		}
	}
	pcib_write16(f, 0x04, pcib_read16(f, 0x04) | PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER);
	e->gsi = pcib_read8(f, 0x3c);
	e1000_wr(e, E1K_CTRL, 1u << 26);	/* RST */
	for (int i = 0; i < 1000 && (e1000_rd(e, E1K_CTRL) & (1u << 26)); i++)
		cpu_relax();
	for (int i = 0; i < 3; i++) {
		u16 w = e1000_ee_eerd(e, (u8)i);
		e->mac[2 * i] = (u8)w;
		e->mac[2 * i + 1] = (u8)(w >> 8);
	}
	if (!e->rxd) {
		e->rxd = page_alloc(16 * E1000_RING);
		e->txd = page_alloc(16 * E1000_RING);
		e->rxb = page_alloc(E1000_BUF * E1000_RING);
		e->txb = page_alloc(E1000_BUF * E1000_RING);
	}
	if (!e->rxd || !e->txd || !e->rxb || !e->txb) {
		e->err = "out of memory for the rings";
		return false;
	}
	e1000_start(e);
	/* statistics count from here (they clear on read) */
	for (u32 r = 0x4000; r < 0x4100; r += 4)
		e1000_rd(e, r);
	return true;
}

u8 *e1000_rx(struct e1000 *e, u32 *len, u16 *slot)
{
	volatile u8 *d = e->rxd + 16 * e->rx_next;
	if (!(d[12] & 1)) {
		/* Nothing new: before waiting, a register read makes sure the
		 * device has seen the last RDT write, as E1000_WRITE_FLUSH does
		 * for posted writes. QEMU and vmm-worker have KVM queue writes
		 * to RDT (coalesced MMIO) until the vCPU next exits to them; a
		 * driver that only polls memory would otherwise leave the ring
		 * empty for a while. */
		if (e->rdt_posted) {
			e->rdt_posted = false;
			(void)e1000_rd(e, E1K_STATUS);
		}
		return NULL;
	}
	__asm__ volatile("" ::: "memory");
	u32 l = d[8] | (u32)d[9] << 8;
	u8 st = d[12], err = d[13];
	d[12] = 0;				/* consumed: never seen again as new */
	*slot = e->rx_next;
	e->rx_next = (u16)((e->rx_next + 1) % E1000_RING);
	if (!(st & 2) || err) {			/* no EOP or an error: not for us */
		e->rx_bad++;
		e1000_rx_done(e, *slot);
		return e1000_rx(e, len, slot);
	}
	e->rx_pkts++;
	*len = l;
	return e->rxb + E1000_BUF * *slot;
}

void e1000_rx_done(struct e1000 *e, u16 slot)
{
	e->rx_freed[slot] = true;
}

/* The device owns [RDH, RDT); descriptor rx_tail is ours and goes back
 * first once freed, then those after it, in ring order. */
void e1000_rx_flush(struct e1000 *e)
{
	u16 t = e->rx_tail;
	bool moved = false;
	for (int i = 0; i < E1000_RING - 1; i++) {
		u16 next = (u16)((t + 1) % E1000_RING);
		if (!e->rx_freed[next])
			break;
		e->rx_freed[next] = false;
		t = next;
		moved = true;
	}
	if (moved) {
		e->rx_tail = t;
		e1000_wr(e, E1K_RDT, t);
		e->rdt_posted = true;
	}
}

u8 *e1000_tx_buf(struct e1000 *e, u16 *slot)
{
	while (e->tx_clean != e->tx_next && (((volatile u8 *)e->txd)[16 * e->tx_clean + 12] & 1))
		e->tx_clean = (u16)((e->tx_clean + 1) % E1000_RING);
	/* two free entries: a checksummed frame takes a context descriptor too */
	if ((e->tx_next + 1) % E1000_RING == e->tx_clean ||
	    (e->tx_next + 2) % E1000_RING == e->tx_clean) {
		e->tx_busy++;
		return NULL;
	}
	*slot = e->tx_next;
	return e->txb + E1000_BUF * *slot;
}

void e1000_tx_send(struct e1000 *e, u16 slot, u32 len)
{
	u8 *d = e->txd + 16 * slot;
	u64 a = (u64)(e->txb + E1000_BUF * slot);
	u32 w2 = len | (0x01u | 0x02 | 0x08) << 24;	/* EOP IFCS RS */
	u32 w3 = 0;
	__builtin_memcpy(d, &a, 8);
	__builtin_memcpy(d + 8, &w2, 4);
	__builtin_memcpy(d + 12, &w3, 4);
	e->tx_next = (u16)((slot + 1) % E1000_RING);
	__asm__ volatile("" ::: "memory");
	e1000_wr(e, E1K_TDT, e->tx_next);
	e->tx_pkts++;
}

void e1000_tx_send_csum(struct e1000 *e, u16 slot, u32 len, u8 css, u8 cso)
{
	u16 data = (u16)((slot + 1) % E1000_RING);
	u8 *c = e->txd + 16 * slot, *d = e->txd + 16 * data;
	/* context: TUCSS, TUCSO, TUCSE 0 (to the end); TUCMD DEXT RS */
	u32 c0 = 0, c1 = css | (u32)cso << 8, c2 = (0x20u | 0x08) << 24, c3 = 0;
	__builtin_memcpy(c, &c0, 4);
	__builtin_memcpy(c + 4, &c1, 4);
	__builtin_memcpy(c + 8, &c2, 4);
	__builtin_memcpy(c + 12, &c3, 4);
	/* data (DTYP 1): EOP IFCS RS DEXT, POPTS TXSM */
	u64 a = (u64)(e->txb + E1000_BUF * slot);
	u32 w2 = len | 1u << 20 | (0x01u | 0x02 | 0x08 | 0x20) << 24, w3 = 0x02u << 8;
	__builtin_memcpy(d, &a, 8);
	__builtin_memcpy(d + 8, &w2, 4);
	__builtin_memcpy(d + 12, &w3, 4);
	e->tx_next = (u16)((data + 1) % E1000_RING);
	__asm__ volatile("" ::: "memory");
	e1000_wr(e, E1K_TDT, e->tx_next);
	e->tx_pkts++;
}

/* struct nic_ops over the e1000 (one pair) */
static u8 *en_rx(void *d, int p, u32 *len, u16 *slot) { (void)p; return e1000_rx(d, len, slot); }
static void en_rx_done(void *d, int p, u16 slot) { (void)p; e1000_rx_done(d, slot); }
static void en_rx_flush(void *d, int p) { (void)p; e1000_rx_flush(d); }
static u8 *en_tx_buf(void *d, int p, u16 *slot) { (void)p; return e1000_tx_buf(d, slot); }

/* UDP over IPv4: the device computes the checksum (context descriptor,
 * TXSM) from the pseudo-header sum put in its place; the host's stack
 * drops the datagram if it is wrong */
static void en_tx_send(void *d, int p, u16 slot, u32 len, bool kick)
{
	struct e1000 *e = d;
	(void)p, (void)kick;
	u8 *f = e->txb + E1000_BUF * slot;
	u32 ihl = (f[14] & 15) * 4u;
	if (len >= 14 + ihl + 8 && be16(f + 12) == 0x0800 && f[23] == 17 && ihl >= 20) {
		u8 *udp = f + 14 + ihl;
		u32 sum = 17u + be16(udp + 4);
		for (int i = 0; i < 8; i += 2)
			sum += be16(f + 26 + i);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		put16(udp + 6, (u16)sum);
		e1000_tx_send_csum(e, slot, len, (u8)(14 + ihl), (u8)(14 + ihl + 6));
	} else {
		e1000_tx_send(e, slot, len);
	}
}

static void en_tx_kick(void *d, int p) { (void)d, (void)p; }
static bool en_link_up(void *d) { return e1000_link_up(d); }
static u64 en_link_irqs(void *d) { (void)d; return irq_count[VEC_INTX]; }

static void en_counts(void *d, struct net *n)
{
	struct e1000 *e = d;
	n->rx_pkts[0] = e->rx_pkts;
	n->tx_pkts[0] = e->tx_pkts;
	n->rx_bad = e->rx_bad;
	n->tx_busy = e->tx_busy;
}

const struct nic_ops e1000_nic_ops = {
	"e1000", en_rx, en_rx_done, en_rx_flush, en_tx_buf, en_tx_send, en_tx_kick,
	en_link_up, en_link_irqs, en_counts,
};
