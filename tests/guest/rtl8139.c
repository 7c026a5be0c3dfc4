/* The guest kit's RTL8139C+ driver: see rtl8139.h. Registers and
 * descriptors as in Realtek's RTL8139C+ datasheet. */
#include "rtl8139.h"
#include "net.h"		/* nic_ops; page_alloc */

#define IO_PORT		0xc100		/* the kit assigns no I/O BARs (e1000.c has 0xc000) */

int rtl8139_find(struct pcif *out, int max)
{
	struct pcif fs[32];
	if (!pcib_init())
		return 0;
	int n = pcib_scan(fs, ARRAY_SIZE(fs)), k = 0;
	for (int i = 0; i < n && k < max; i++)
		if (fs[i].vendor == 0x10ec && fs[i].device == 0x8139)
			out[k++] = fs[i];
	return k;
}

u8 rtl8139_rd8(struct rtl8139 *r, u32 reg) { return mmio_read8(r->mmio + reg); }
u16 rtl8139_rd16(struct rtl8139 *r, u32 reg) { return mmio_read16(r->mmio + reg); }
u32 rtl8139_rd32(struct rtl8139 *r, u32 reg) { return mmio_read32(r->mmio + reg); }
void rtl8139_wr8(struct rtl8139 *r, u32 reg, u8 v) { mmio_write8(r->mmio + reg, v); }
void rtl8139_wr16(struct rtl8139 *r, u32 reg, u16 v) { mmio_write16(r->mmio + reg, v); }
void rtl8139_wr32(struct rtl8139 *r, u32 reg, u32 v) { mmio_write32(r->mmio + reg, v); }

/* 93C46 in 9346CR's programming mode (EEM 10): chip select, then the
 * start bit, READ (10) and the 6-bit address on EEDI, each clocked by
 * EESK; then 16 bits on EEDO, MSB first (the way 8139too reads it). */
u16 rtl8139_eeprom(struct rtl8139 *r, u8 addr)
{
	const u8 enb = 0x80 | 0x08;
	rtl8139_wr8(r, RTL_9346CR, 0x80);
	rtl8139_wr8(r, RTL_9346CR, enb);
	u32 cmd = 0x6u << 6 | (addr & 0x3f);
	for (int i = 10; i >= 0; i--) {
		u8 d = (cmd >> i) & 1 ? 0x02 : 0;
		rtl8139_wr8(r, RTL_9346CR, enb | d);
		rtl8139_wr8(r, RTL_9346CR, enb | d | 0x04);
	}
	rtl8139_wr8(r, RTL_9346CR, enb);
	u16 v = 0;
	for (int i = 0; i < 16; i++) {
		rtl8139_wr8(r, RTL_9346CR, enb | 0x04);
		v = (u16)(v << 1 | (rtl8139_rd8(r, RTL_9346CR) & 1));
		rtl8139_wr8(r, RTL_9346CR, enb);
	}
	rtl8139_wr8(r, RTL_9346CR, 0);
	return v;
}

bool rtl8139_link_up(struct rtl8139 *r)
{
	return rtl8139_rd16(r, RTL_BMSR) & 0x04;
}

static void rx_desc(struct rtl8139 *r, u16 i)
{
	u8 *d = r->rxd + 16 * i;
	u64 a = (u64)(r->rxb + RTL_BUF * i);
	u32 o2 = 0;
	__builtin_memcpy(d + 4, &o2, 4);
	__builtin_memcpy(d + 8, &a, 8);
	__asm__ volatile("" ::: "memory");
	*(volatile u32 *)d = RTL_D_OWN | (i == RTL_RING - 1 ? RTL_D_EOR : 0) | RTL_BUF;
}

void rtl8139_start(struct rtl8139 *r)
{
	rtl8139_wr8(r, RTL_CR, RTL_CR_RST);
	for (int i = 0; i < 1000 && (rtl8139_rd8(r, RTL_CR) & RTL_CR_RST); i++)
		cpu_relax();
	rtl8139_wr16(r, RTL_IMR, 0);
	rtl8139_wr16(r, RTL_ISR, 0xffff);
	for (int i = 0; i < 8; i++)
		rtl8139_wr8(r, RTL_MAR0 + i, 0);
	rtl8139_wr32(r, RTL_TCR, 6u << 8);	/* MXDMA 1024 */
	r->rx_pkts = r->tx_pkts = 0;
	if (r->cplus) {
		memset(r->txd, 0, 16 * RTL_RING);
		for (u16 i = 0; i < RTL_RING; i++)
			rx_desc(r, i);
		r->rx_next = r->ctx_next = r->ctx_clean = 0;
		u64 td = (u64)r->txd, rd = (u64)r->rxd;
		/* CpRxOn, CpTxOn, RxChkSum, as 8139cp sets them first */
		rtl8139_wr16(r, RTL_CPCR, 0x0002 | 0x0001 | 0x0020);
		rtl8139_wr32(r, RTL_TSAD0, (u32)td);
		rtl8139_wr32(r, RTL_TSAD0 + 4, (u32)(td >> 32));
		rtl8139_wr32(r, RTL_HTXRING, 0);
		rtl8139_wr32(r, RTL_HTXRING + 4, 0);
		rtl8139_wr32(r, RTL_RXRING, (u32)rd);
		rtl8139_wr32(r, RTL_RXRING + 4, (u32)(rd >> 32));
	} else {
		rtl8139_wr32(r, RTL_RBSTART, (u32)(u64)r->rxbuf);
		for (int i = 0; i < 4; i++)
			rtl8139_wr32(r, RTL_TSAD0 + 4 * i, (u32)(u64)(r->txb + RTL_BUF * i));
		r->rx_off = r->done_off = 0;
		r->tx_next = r->tx_clean = 0;
	}
	rtl8139_wr8(r, RTL_CR, RTL_CR_RE | RTL_CR_TE);
	/* ours, broadcast; RBLEN 32K with WRAP (frames run on past the end,
	 * 8139too's RxNoWrap) */
	rtl8139_wr32(r, RTL_RCR, 0x02 | 0x08 | 0x80 | 2u << 11 | 7u << 8);
}

bool rtl8139_open(struct rtl8139 *r, const struct pcif *f, bool cplus)
{
	u8 *keep[5] = { r->rxbuf, r->txb, r->rxd, r->txd, r->rxb };
	memset(r, 0, sizeof(*r));
	r->rxbuf = keep[0], r->txb = keep[1], r->rxd = keep[2], r->txd = keep[3], r->rxb = keep[4];
	r->f = *f;
	r->cplus = cplus;
	r->rev = pcib_read8(f, 0x08);
	if (!pcib_setup_bars(f, r->bars) || !r->bars[1].size || r->bars[1].io) {
		r->err = "BAR1 (MMIO) not assignable";
		return false;
	}
	r->mmio = r->bars[1].addr;
	if (r->bars[0].size && r->bars[0].io) {
		pcib_write32(f, 0x10, IO_PORT);
		r->io = IO_PORT;
	}
	pcib_write16(f, 0x04, pcib_read16(f, 0x04) | PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER);
	r->gsi = pcib_read8(f, 0x3c);
	for (int i = 0; i < 3; i++) {
		u16 w = rtl8139_eeprom(r, (u8)(7 + i));
		r->mac[2 * i] = (u8)w;
		r->mac[2 * i + 1] = (u8)(w >> 8);
	}
	if (!r->rxbuf) {
		/* the ring plus the room WRAP lets a frame run into */
		r->rxbuf = page_alloc(RTL_RXBUF_LEN + 16 + 2048);
		r->txb = page_alloc(RTL_BUF * RTL_RING);
		r->rxd = page_alloc(16 * RTL_RING);
		r->txd = page_alloc(16 * RTL_RING);
		r->rxb = page_alloc(RTL_BUF * RTL_RING);
	}
	if (!r->rxbuf || !r->txb || !r->rxd || !r->txd || !r->rxb) {
		r->err = "out of memory for the buffers";
		return false;
	}
	rtl8139_start(r);
	return true;
}

static u8 *rx_classic(struct rtl8139 *r, u32 *len, u16 *slot)
{
	for (;;) {
		if (r->rx_off == rtl8139_rd16(r, RTL_CBR))
			return NULL;
		u8 *h = r->rxbuf + r->rx_off;
		u16 st = rd16(h), l = rd16(h + 2);
		u32 end = (r->rx_off + l + 4 + 3) & ~3u;
		*slot = (u16)(r->rx_pkts + r->rx_bad) % 64;
		r->rx_ends[*slot] = end % RTL_RXBUF_LEN;
		r->rx_off = end % RTL_RXBUF_LEN;
		if (!(st & 1) || l < 64 || l > 1522) {
			r->rx_bad++;
			rtl8139_rx_done(r, *slot);
			continue;
		}
		r->rx_pkts++;
		*len = l - 4u;			/* without the FCS */
		return h + 4;
	}
}

static u8 *rx_cplus(struct rtl8139 *r, u32 *len, u16 *slot)
{
	for (;;) {
		volatile u32 *d = (volatile u32 *)(r->rxd + 16 * r->rx_next);
		u32 o1 = *d;
		if (o1 & RTL_D_OWN)
			return NULL;
		__asm__ volatile("" ::: "memory");
		*slot = r->rx_next;
		r->rx_next = (u16)((r->rx_next + 1) % RTL_RING);
		u32 l = o1 & 0x1fff;
		if ((o1 & (RTL_D_FS | RTL_D_LS)) != (RTL_D_FS | RTL_D_LS) || (o1 & RTL_D_RXERR) || l < 64) {
			r->rx_bad++;
			rtl8139_rx_done(r, *slot);
			continue;
		}
		/* protocol id 1 TCP, 2 UDP; TCPF 13, UDPF 14 */
		u32 pid = (o1 >> 16) & 3;
		if (pid == 1 || pid == 2) {
			if (o1 & (pid == 1 ? 1u << 13 : 1u << 14))
				r->rx_csum_bad++;
			else
				r->rx_csum_ok++;
		}
		r->rx_pkts++;
		*len = l - 4;
		return r->rxb + RTL_BUF * *slot;
	}
}

u8 *rtl8139_rx(struct rtl8139 *r, u32 *len, u16 *slot)
{
	return r->cplus ? rx_cplus(r, len, slot) : rx_classic(r, len, slot);
}

void rtl8139_rx_done(struct rtl8139 *r, u16 slot)
{
	if (r->cplus)
		rx_desc(r, slot);
	else
		r->done_off = r->rx_ends[slot];
}

/* classic: CAPR trails the read pointer by 16 (8139too writes cur - 16) */
void rtl8139_rx_flush(struct rtl8139 *r)
{
	if (!r->cplus)
		rtl8139_wr16(r, RTL_CAPR, (u16)(r->done_off - 16));
}

bool rtl8139_tx_done(struct rtl8139 *r, u16 slot)
{
	if (r->cplus)
		return !(*(volatile u32 *)(r->txd + 16 * slot) & RTL_D_OWN);
	return rtl8139_rd32(r, RTL_TSD0 + 4 * (slot % 4)) & (RTL_TSD_TOK | RTL_TSD_TABT);
}

u8 *rtl8139_tx_buf(struct rtl8139 *r, u16 *slot)
{
	if (r->cplus) {
		while (r->ctx_clean != r->ctx_next && rtl8139_tx_done(r, r->ctx_clean))
			r->ctx_clean = (u16)((r->ctx_clean + 1) % RTL_RING);
		if ((r->ctx_next + 1) % RTL_RING == r->ctx_clean) {
			r->tx_busy++;
			return NULL;
		}
		*slot = r->ctx_next;
		return r->txb + RTL_BUF * *slot;
	}
	while (r->tx_clean != r->tx_next && rtl8139_tx_done(r, (u16)(r->tx_clean % 4)))
		r->tx_clean++;
	if (r->tx_next - r->tx_clean >= 4) {
		r->tx_busy++;
		return NULL;
	}
	*slot = (u16)(r->tx_next % 4);
	return r->txb + RTL_BUF * *slot;
}

void rtl8139_tx_send(struct rtl8139 *r, u16 slot, u32 len, u32 flags)
{
	u8 *b = r->txb + RTL_BUF * slot;
	if (len < 60) {
		memset(b + len, 0, 60 - len);
		len = 60;
	}
	__asm__ volatile("" ::: "memory");
	if (r->cplus) {
		u8 *d = r->txd + 16 * slot;
		u64 a = (u64)b;
		u32 o2 = 0;
		__builtin_memcpy(d + 4, &o2, 4);
		__builtin_memcpy(d + 8, &a, 8);
		__asm__ volatile("" ::: "memory");
		*(volatile u32 *)d = RTL_D_OWN | RTL_D_FS | RTL_D_LS | flags | len |
				     (slot == RTL_RING - 1 ? RTL_D_EOR : 0);
		r->ctx_next = (u16)((slot + 1) % RTL_RING);
		rtl8139_wr8(r, RTL_TXPOLL, 0x40);	/* NPQ */
	} else {
		/* early transmit threshold as 8139too sets it; OWN clear starts it */
		rtl8139_wr32(r, RTL_TSD0 + 4 * slot, (0x100u << 11 & 0x003f0000) | len);
		r->tx_next++;
	}
	r->tx_pkts++;
}

/* struct nic_ops over the rtl8139 (one pair) */
static u8 *rt_rx(void *d, int p, u32 *len, u16 *slot) { (void)p; return rtl8139_rx(d, len, slot); }
static void rt_rx_done(void *d, int p, u16 slot) { (void)p; rtl8139_rx_done(d, slot); }
static void rt_rx_flush(void *d, int p) { (void)p; rtl8139_rx_flush(d); }
static u8 *rt_tx_buf(void *d, int p, u16 *slot) { (void)p; return rtl8139_tx_buf(d, slot); }

/* C+ mode: IPv4 header and UDP/TCP checksums left to the device
 * (IPCS/UDPCS/TCPCS), the IP header's zeroed here so that a device that
 * does not fill it in gets the frame dropped by the host's stack; classic
 * mode has no offload and sends the frame as built. */
static void rt_tx_send(void *d, int p, u16 slot, u32 len, bool kick)
{
	struct rtl8139 *r = d;
	(void)p, (void)kick;
	u8 *f = r->txb + RTL_BUF * slot;
	u32 flags = 0, ihl = (f[14] & 15) * 4u;
	if (r->cplus && len >= 34 && be16(f + 12) == 0x0800 && ihl >= 20 && 14 + ihl <= len) {
		put16(f + 24, 0);
		flags = RTL_D_IPCS;
		if (f[23] == 17 && len >= 14 + ihl + 8) {
			put16(f + 14 + ihl + 6, 0);
			flags |= RTL_D_UDPCS;
		} else if (f[23] == 6) {
			flags |= RTL_D_TCPCS;
		}
	}
	rtl8139_tx_send(r, slot, len, flags);
}

static void rt_tx_kick(void *d, int p) { (void)d, (void)p; }
static bool rt_link_up(void *d) { return rtl8139_link_up(d); }
static u64 rt_link_irqs(void *d) { (void)d; return irq_count[VEC_INTX]; }

static void rt_counts(void *d, struct net *n)
{
	struct rtl8139 *r = d;
	n->rx_pkts[0] = r->rx_pkts;
	n->tx_pkts[0] = r->tx_pkts;
	n->rx_bad = r->rx_bad;
	n->tx_busy = r->tx_busy;
}

const struct nic_ops rtl8139_nic_ops = {
	"rtl8139", rt_rx, rt_rx_done, rt_rx_flush, rt_tx_buf, rt_tx_send, rt_tx_kick,
	rt_link_up, rt_link_irqs, rt_counts,
};
