/* virtio-net driver of the guest kit (net.c) and the little network stack
 * test=net, net-dhcp and net-bench use (test_net.c): Ethernet, ARP, IPv4,
 * ICMP echo, UDP, a DHCP client. Polled: the kit spins on the used rings
 * at CPL3, where it runs natively, so no queue interrupts are taken. */
#ifndef GK_NET_H
#define GK_NET_H

#include "virtio.h"

#define VIRTIO_ID_NET		1

/* feature bits (virtio 1.2, 5.1.3) */
#define VIRTIO_NET_F_CSUM	0
#define VIRTIO_NET_F_GUEST_CSUM	1
#define VIRTIO_NET_F_MTU	3
#define VIRTIO_NET_F_MAC	5
#define VIRTIO_NET_F_GUEST_TSO4	7
#define VIRTIO_NET_F_GUEST_TSO6	8
#define VIRTIO_NET_F_HOST_TSO4	11
#define VIRTIO_NET_F_HOST_TSO6	12
#define VIRTIO_NET_F_MRG_RXBUF	15
#define VIRTIO_NET_F_STATUS	16
#define VIRTIO_NET_F_CTRL_VQ	17
#define VIRTIO_NET_F_CTRL_RX	18
#define VIRTIO_NET_F_MQ		22
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23

/* configuration layout */
#define NETCFG_MAC		0
#define NETCFG_STATUS		6
#define NETCFG_MAX_PAIRS	8
#define NETCFG_MTU		10
#define VIRTIO_NET_S_LINK_UP	1

#define NET_HDR_LEN		12	/* struct virtio_net_hdr with num_buffers */
#define NET_BUF			2048	/* one receive / transmit slot */
#define NET_PAIRS_MAX		((VQ_MAX - 1) / 2)

struct net {
	struct vdev *v;
	u8 mac[6];
	u16 mtu, max_pairs, pairs;
	bool ctrl;			/* CTRL_VQ negotiated */
	u8 *rx[NET_PAIRS_MAX];		/* queue size x NET_BUF per rx queue */
	u8 *tx[NET_PAIRS_MAX];
	u16 tx_free[NET_PAIRS_MAX][VQ_SIZE_MAX];	/* free transmit slots */
	u16 tx_nfree[NET_PAIRS_MAX];
	u8 *ctrl_buf;
	u64 rx_pkts[NET_PAIRS_MAX], tx_pkts[NET_PAIRS_MAX];
	u64 rx_bytes, tx_bytes, tx_busy, rx_bad;
	u64 cfg_irqs;			/* configuration interrupts seen */
};

/* Reset, negotiate, queues for every pair the device has (up to
 * NET_PAIRS_MAX), receive buffers posted, DRIVER_OK, then VQ_PAIRS_SET
 * for 'pairs' (0: all). False with v->err set on failure. */
bool net_open(struct net *n, struct vdev *v, u16 pairs);
bool net_link_up(struct net *n);
/* Next received frame on pair p (pointer into the slot, valid until
 * net_rx_done); NULL when none waits. */
u8 *net_rx(struct net *n, int p, u32 *len, u16 *slot);
void net_rx_done(struct net *n, int p, u16 slot);
void net_rx_flush(struct net *n, int p);	/* repost done slots, one kick */
/* A transmit slot's frame area on pair p (NULL when all are in flight
 * even after reclaiming); then net_tx_send(len) queues it. */
u8 *net_tx_buf(struct net *n, int p, u16 *slot);
void net_tx_send(struct net *n, int p, u16 slot, u32 len, bool kick);
void net_tx_kick(struct net *n, int p);
/* control queue command; true when the device acked VIRTIO_NET_OK */
bool net_ctrl(struct net *n, u8 cls, u8 cmd, const void *data, u32 len);

/* One NIC as test=net, net-dhcp and net-bench drive it: virtio-net (dev
 * a struct net, pairs p), e1000 and rtl8139 (one pair: p is 0). */
struct nic_ops {
	const char *name;		/* "virtio", "e1000", "rtl8139" */
	/* next received frame (NULL: none), its slot given back, the given
	 * back slots published to the device */
	u8 *(*rx)(void *dev, int p, u32 *len, u16 *slot);
	void (*rx_done)(void *dev, int p, u16 slot);
	void (*rx_flush)(void *dev, int p);
	/* a transmit slot (NULL: all in flight); tx_send queues it, leaving
	 * the IPv4 and UDP checksums to the device where it offers that */
	u8 *(*tx_buf)(void *dev, int p, u16 *slot);
	void (*tx_send)(void *dev, int p, u16 slot, u32 len, bool kick);
	void (*tx_kick)(void *dev, int p);
	bool (*link_up)(void *dev);
	u64 (*link_irqs)(void *dev);	/* interrupts that may mean a link change */
	/* the device's counters into n (rx_pkts[0], tx_pkts[0], rx_bad,
	 * tx_busy); NULL when dev is n */
	void (*counts)(void *dev, struct net *n);
};
extern const struct nic_ops virtio_nic_ops, e1000_nic_ops, rtl8139_nic_ops;

/* --- test_net.c's protocol helpers (big-endian on the wire) ------------- */
static inline u16 be16(const u8 *p) { return (u16)(p[0] << 8 | p[1]); }
static inline u32 be32(const u8 *p) { return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3]; }
static inline void put16(u8 *p, u16 v) { p[0] = (u8)(v >> 8); p[1] = (u8)v; }
static inline void put32(u8 *p, u32 v) { p[0] = (u8)(v >> 24); p[1] = (u8)(v >> 16); p[2] = (u8)(v >> 8); p[3] = (u8)v; }
u16 ip_csum(const u8 *p, u32 len);

#endif
