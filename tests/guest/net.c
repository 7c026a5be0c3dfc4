/* virtio-net driver (virtio 1.2 section 5.1) on top of virtio.c.
 * Queues: rx0 tx0 rx1 tx1 ... then the control queue. Every receive
 * descriptor is one NET_BUF slot (header + a whole frame: the kit never
 * asks for guest offloads, so frames stay within the MTU); transmit slots
 * are the same size. Polled, with interrupts suppressed on every queue. */
#include "net.h"

static const u64 net_wanted = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MAC) |
	BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_MTU) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
	BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_MQ);

#define VIRTIO_NET_CTRL_MQ	4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0

u16 ip_csum(const u8 *p, u32 len)
{
	u32 s = 0;
	for (u32 i = 0; i + 1 < len; i += 2)
		s += be16(p + i);
	if (len & 1)
		s += (u32)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (u16)~s;
}

static struct vq *rxq(struct net *n, int p) { return &n->v->q[2 * p]; }
static struct vq *txq(struct net *n, int p) { return &n->v->q[2 * p + 1]; }

bool net_open(struct net *n, struct vdev *v, u16 pairs)
{
	struct vdev *d = v;
	memset(n, 0, sizeof(*n));
	n->v = v;
	d->poll = true;
	if (!d->common || !d->devcfg) {
		if (!d->err)
			d->err = "no device configuration capability";
		return false;
	}
	if (!virtio_reset(d))
		return false;
	u64 want = net_wanted;
	/* max_virtqueue_pairs exists when MQ is offered; the kit drives at most
	 * VQ_MAX queues, so MQ (and the control queue after the last pair) is
	 * only taken when they fit */
	mmio_write32(d->common + VPCI_DFSELECT, 0);
	u32 offered = mmio_read32(d->common + VPCI_DF);
	u16 max = 1;
	if (offered & BIT(VIRTIO_NET_F_MQ) && d->devcfg_len >= 10)
		max = vcfg16(d, NETCFG_MAX_PAIRS);
	if (!max || max > NET_PAIRS_MAX) {
		want &= ~BIT(VIRTIO_NET_F_MQ);
		max = 1;
	}
	if (!virtio_negotiate(d, want))
		return false;
	u64 f = d->features;
	n->ctrl = f & BIT(VIRTIO_NET_F_CTRL_VQ);
	n->max_pairs = f & BIT(VIRTIO_NET_F_MQ) ? max : 1;
	for (int i = 0; i < 6; i++)
		n->mac[i] = f & BIT(VIRTIO_NET_F_MAC) ? vcfg8(d, NETCFG_MAC + i) : (u8)(i ? 0x10 + i : 0x02);
	n->mtu = f & BIT(VIRTIO_NET_F_MTU) && d->devcfg_len >= 12 ? vcfg16(d, NETCFG_MTU) : 1500;
	u16 nq = (u16)(2 * n->max_pairs + (n->ctrl ? 1 : 0));
	if (!virtio_setup_queues(d, nq)) {
		virtio_fail(d);
		return false;
	}
	for (u16 i = 0; i < nq; i++)
		vq_quiet(&d->q[i]);
	for (int p = 0; p < n->max_pairs; p++) {
		u16 rs = rxq(n, p)->size, ts = txq(n, p)->size;
		if (!n->rx[p])
			n->rx[p] = page_alloc((u64)VQ_SIZE_MAX * NET_BUF);
		if (!n->tx[p])
			n->tx[p] = page_alloc((u64)VQ_SIZE_MAX * NET_BUF);
		if (!n->rx[p] || !n->tx[p]) {
			d->err = "out of memory for packet buffers";
			virtio_fail(d);
			return false;
		}
		for (u16 s = 0; s < rs; s++)
			net_rx_done(n, p, s);
		for (u16 s = 0; s < ts; s++)
			n->tx_free[p][s] = s;
		n->tx_nfree[p] = ts;
	}
	if (n->ctrl && !n->ctrl_buf)
		n->ctrl_buf = page_alloc(4096);
	virtio_driver_ok(d);
	for (int p = 0; p < n->max_pairs; p++)
		vq_kick(rxq(n, p));
	n->pairs = 1;
	if (!pairs || pairs > n->max_pairs)
		pairs = n->max_pairs;
	if (pairs > 1) {
		u8 data[2] = { (u8)pairs, (u8)(pairs >> 8) };
		if (!net_ctrl(n, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, data, 2)) {
			d->err = "VQ_PAIRS_SET refused";
			return false;
		}
	}
	n->pairs = pairs;
	return true;
}

bool net_link_up(struct net *n)
{
	if (!(n->v->features & BIT(VIRTIO_NET_F_STATUS)))
		return true;
	return vcfg16(n->v, NETCFG_STATUS) & VIRTIO_NET_S_LINK_UP;
}

u8 *net_rx(struct net *n, int p, u32 *len, u16 *slot)
{
	struct vq *q = rxq(n, p);
	u64 cookie;
	u32 l;
	while (vq_get(q, NULL, &l, &cookie)) {
		if (cookie >= q->size || l < NET_HDR_LEN || l > NET_BUF) {
			n->rx_bad++;
			if (cookie < q->size)
				net_rx_done(n, p, (u16)cookie);
			continue;
		}
		n->rx_pkts[p]++;
		n->rx_bytes += l - NET_HDR_LEN;
		*len = l - NET_HDR_LEN;
		*slot = (u16)cookie;
		return n->rx[p] + cookie * NET_BUF + NET_HDR_LEN;
	}
	return NULL;
}

void net_rx_done(struct net *n, int p, u16 slot)
{
	struct vbuf b = { (u64)(n->rx[p] + (u64)slot * NET_BUF), NET_BUF, true };
	vq_add(rxq(n, p), &b, 1, slot, NULL);
}

void net_rx_flush(struct net *n, int p) { vq_kick(rxq(n, p)); }

u8 *net_tx_buf(struct net *n, int p, u16 *slot)
{
	struct vq *q = txq(n, p);
	u64 cookie;
	while (vq_get(q, NULL, NULL, &cookie))
		if (cookie < q->size)
			n->tx_free[p][n->tx_nfree[p]++] = (u16)cookie;
	if (!n->tx_nfree[p]) {
		n->tx_busy++;
		return NULL;
	}
	*slot = n->tx_free[p][--n->tx_nfree[p]];
	u8 *b = n->tx[p] + (u64)*slot * NET_BUF;
	memset(b, 0, NET_HDR_LEN);		/* no offloads: an all-zero header */
	return b + NET_HDR_LEN;
}

void net_tx_send(struct net *n, int p, u16 slot, u32 len, bool kick)
{
	struct vbuf b = { (u64)(n->tx[p] + (u64)slot * NET_BUF), NET_HDR_LEN + len, false };
	vq_add(txq(n, p), &b, 1, slot, NULL);
	n->tx_pkts[p]++;
	n->tx_bytes += len;
	if (kick)
		vq_kick(txq(n, p));
}

void net_tx_kick(struct net *n, int p) { vq_kick(txq(n, p)); }

bool net_ctrl(struct net *n, u8 cls, u8 cmd, const void *data, u32 len)
{
	if (!n->ctrl || len > 1024)
		return false;
	struct vq *q = &n->v->q[2 * n->max_pairs];
	u8 *b = n->ctrl_buf;
	b[0] = cls;
	b[1] = cmd;
	memcpy(b + 2, data, len);
	volatile u8 *ack = b + 2048;
	*ack = 0xff;
	struct vbuf bufs[2] = { { (u64)b, 2 + len, false }, { (u64)ack, 1, true } };
	return vq_submit_wait(q, bufs, 2, NULL, 2000, NULL) == VQ_DONE && *ack == 0;
}

/* struct nic_ops over virtio-net: dev is the struct net itself */
static u8 *vn_rx(void *d, int p, u32 *len, u16 *slot) { return net_rx(d, p, len, slot); }
static void vn_rx_done(void *d, int p, u16 slot) { net_rx_done(d, p, slot); }
static void vn_rx_flush(void *d, int p) { net_rx_flush(d, p); }
static u8 *vn_tx_buf(void *d, int p, u16 *slot) { return net_tx_buf(d, p, slot); }
static void vn_tx_send(void *d, int p, u16 slot, u32 len, bool kick)
{
	net_tx_send(d, p, slot, len, kick);
}
static void vn_tx_kick(void *d, int p) { net_tx_kick(d, p); }
static bool vn_link_up(void *d) { return net_link_up(d); }
static u64 vn_link_irqs(void *d) { return virtio_cfg_irqs(((struct net *)d)->v); }

const struct nic_ops virtio_nic_ops = {
	"virtio", vn_rx, vn_rx_done, vn_rx_flush, vn_tx_buf, vn_tx_send, vn_tx_kick,
	vn_link_up, vn_link_irqs, NULL,
};
