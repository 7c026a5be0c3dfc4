/* test=net, test=net-dhcp, test=net-bench: the guest kit on a virtio-net
 * NIC, with just enough Ethernet, ARP, IPv4, ICMP, UDP and DHCP.
 *
 * Command line: nic=N (which virtio-net device, default 0), pairs=N
 * (VQ_PAIRS_SET; default all), ip=A.B.C.D (default 10.0.0.2), port=P (UDP
 * echo port, default 7), timeout=S (serve at most S seconds; default until
 * the ACPI power button).
 *   net        net_init; then answers ARP and ping, echoes UDP to port P on
 *              the queue pair it arrived on, and prints link changes, until
 *              the power button; then net_served with the counts.
 *   net-dhcp   DHCP discover/offer/request/ack (net_dhcp); with peer=IP:PORT
 *              one UDP exchange with a host service (net_udp_peer).
 *   net-peer   peer=IP[:PORT] count=N: N UDP datagrams to an on-link peer's
 *              echo port, each must come back (net_udp_peer).
 *   net-bench  mode=tx|rx|echo size=N (UDP payload bytes) secs=S
 *              dst=IP dport=P [dmac=xx:..]: one net_bench line with pps,
 *              Gbit/s, the per-queue packet counts and "nic".
 * nic=virtio|e1000|rtl8139 picks the NIC kind for any of them (the first
 * of that kind; rtl8139 in rtlmode=cplus (default) or classic), through
 * struct nic_ops. */
#include "acpi.h"
#include "net.h"
#include "e1000.h"
#include "rtl8139.h"

#define ETH_ARP		0x0806
#define ETH_IP		0x0800
#define IP_ICMP		1
#define IP_UDP		17

static struct net nic;
static u32 my_ip;
static u16 echo_port = 7;
static const u8 bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static struct {
	u64 arp, icmp, udp, other, sent;
} served;

/* The NIC under test: virtio-net (nic itself), or an e1000 or rtl8139
 * (test=e1000, test=rtl8139, net-bench nic=), which then has one queue
 * pair and keeps its counts in nic as well. */
static const struct nic_ops *ops = &virtio_nic_ops;
static void *dev = &nic;

static void sync_counts(void)
{
	if (ops->counts)
		ops->counts(dev, &nic);
}

static u8 *nrx(int p, u32 *len, u16 *slot)
{
	u8 *f = ops->rx(dev, p, len, slot);
	sync_counts();
	return f;
}

static void nrx_done(int p, u16 slot) { ops->rx_done(dev, p, slot); }
static void nrx_flush(int p) { ops->rx_flush(dev, p); }

static u8 *ntx_buf(int p, u16 *slot)
{
	u8 *b = ops->tx_buf(dev, p, slot);
	sync_counts();
	return b;
}

static void ntx_send(int p, u16 slot, u32 len, bool kick)
{
	ops->tx_send(dev, p, slot, len, kick);
	sync_counts();
}

static bool nlink(void) { return ops->link_up(dev); }
static u64 ncfg_irqs(void) { return ops->link_irqs(dev); }

static u32 parse_ip(const char *s, const char **end)
{
	u32 ip = 0;
	for (int i = 0; i < 4; i++) {
		const char *e;
		u64 v = strtou64(s, &e);
		if (e == s || v > 255)
			break;
		ip = ip << 8 | (u32)v;
		s = *e == '.' && i < 3 ? e + 1 : e;
	}
	if (end)
		*end = s;
	return ip;
}

static void fmt_mac(char *b, const u8 *m)
{
	sfmt(b, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void fmt_ip(char *b, u32 ip)
{
	sfmt(b, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

/* --- frame builders: each returns the length written ------------------ */

static u32 eth(u8 *f, const u8 *dst, u16 type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, nic.mac, 6);
	put16(f + 12, type);
	return 14;
}

static u32 ipv4(u8 *f, u32 src, u32 dst, u8 proto, u32 payload)
{
	memset(f, 0, 20);
	f[0] = 0x45;
	put16(f + 2, (u16)(20 + payload));
	f[8] = 64;
	f[9] = proto;
	put32(f + 12, src);
	put32(f + 16, dst);
	put16(f + 10, ip_csum(f, 20));
	return 20;
}

/* Ethernet + IPv4 + UDP header (checksum 0: optional in IPv4) + payload */
static u32 udp_frame(u8 *f, const u8 *dmac, u32 src, u16 sport, u32 dst, u16 dport,
		     const void *data, u32 len)
{
	u32 o = eth(f, dmac, ETH_IP);
	o += ipv4(f + o, src, dst, IP_UDP, 8 + len);
	put16(f + o, sport);
	put16(f + o + 2, dport);
	put16(f + o + 4, (u16)(8 + len));
	put16(f + o + 6, 0);
	if (data)
		memcpy(f + o + 8, data, len);
	return o + 8 + len;
}

static bool send_frame(int p, const void *frame, u32 len)
{
	u16 slot;
	u8 *b = ntx_buf(p, &slot);
	if (!b)
		return false;
	memcpy(b, frame, len);
	ntx_send(p, slot, len, true);
	served.sent++;
	return true;
}

static void arp_send(int p, u16 op, const u8 *tha, u32 tpa, const u8 *dst)
{
	u8 f[42];
	u32 o = eth(f, dst, ETH_ARP);
	put16(f + o, 1);			/* Ethernet */
	put16(f + o + 2, ETH_IP);
	f[o + 4] = 6;
	f[o + 5] = 4;
	put16(f + o + 6, op);
	memcpy(f + o + 8, nic.mac, 6);
	put32(f + o + 14, my_ip);
	memcpy(f + o + 18, tha, 6);
	put32(f + o + 24, tpa);
	send_frame(p, f, sizeof(f));
}

/* --- receive side ---------------------------------------------------- */

/* The answer to an ARP request for my_ip, a ping, or a UDP datagram to the
 * echo port, sent on pair p. Learns the MAC in an ARP reply for 'want_ip'.
 * Returns true for a UDP datagram to 'udp_port' (payload in *data, length in *dlen). */
static u32 want_ip;
static u8 want_mac[6];
static bool want_found;

static bool handle(int p, u8 *f, u32 len, u16 udp_port, u8 **data, u32 *dlen)
{
	if (len < 14)
		return false;
	u16 type = be16(f + 12);
	if (type == ETH_ARP && len >= 42) {
		u8 *a = f + 14;
		u16 op = be16(a + 6);
		u32 spa = be32(a + 14), tpa = be32(a + 24);
		if (op == 2 && want_ip && spa == want_ip) {
			memcpy(want_mac, a + 8, 6);
			want_found = true;
		}
		if (op == 1 && my_ip && tpa == my_ip) {
			served.arp++;
			arp_send(p, 2, a + 8, spa, a + 8);
		}
		return false;
	}
	if (type != ETH_IP || len < 34)
		return false;
	u8 *ip = f + 14;
	u32 ihl = (ip[0] & 15) * 4u, tot = be16(ip + 2);
	if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl || 14 + tot > len)
		return false;
	u32 src = be32(ip + 12), dst = be32(ip + 16);
	u8 *l4 = ip + ihl;
	u32 l4len = tot - ihl;
	if (ip[9] == IP_ICMP && dst == my_ip && l4len >= 8 && l4[0] == 8) {
		/* echo request: the same frame back, addresses swapped */
		static u8 r[NET_BUF];
		memcpy(r, f, 14 + tot);
		memcpy(r, f + 6, 6);
		memcpy(r + 6, nic.mac, 6);
		u8 *rip = r + 14;
		put32(rip + 12, my_ip);
		put32(rip + 16, src);
		put16(rip + 10, 0);
		put16(rip + 10, ip_csum(rip, ihl));
		u8 *icmp = rip + ihl;
		icmp[0] = 0;
		put16(icmp + 2, 0);
		put16(icmp + 2, ip_csum(icmp, l4len));
		served.icmp++;
		send_frame(p, r, 14 + tot);
		return false;
	}
	if (ip[9] != IP_UDP || l4len < 8)
		return false;
	u16 sport = be16(l4), dport = be16(l4 + 2), ulen = be16(l4 + 4);
	if (ulen < 8 || ulen > l4len)
		return false;
	if (udp_port && dport == udp_port) {
		*data = l4 + 8;
		*dlen = ulen - 8u;
		return true;
	}
	if (dst == my_ip && dport == echo_port) {
		static u8 r[NET_BUF];
		served.udp++;
		u32 n = udp_frame(r, f + 6, my_ip, echo_port, src, sport, l4 + 8, ulen - 8u);
		send_frame(p, r, n);
		return false;
	}
	served.other++;
	return false;
}

/* One pass over every receive queue; stops early and returns true when a
 * datagram for udp_port came in (its payload stays valid until the next
 * call). */
static u16 held_slot = 0xffff;
static int held_pair;

static bool poll_rx(u16 udp_port, u8 **data, u32 *dlen)
{
	if (held_slot != 0xffff) {
		nrx_done(held_pair, held_slot);
		nrx_flush(held_pair);
		held_slot = 0xffff;
	}
	for (int p = 0; p < nic.pairs; p++) {
		u32 len;
		u16 slot;
		u8 *f;
		int got = 0;
		while ((f = nrx(p, &len, &slot))) {
			got++;
			if (handle(p, f, len, udp_port, data, dlen)) {
				held_slot = slot;
				held_pair = p;
				nrx_flush(p);
				return true;
			}
			nrx_done(p, slot);
			if (got == 64)
				break;			/* let the other queues in */
		}
		if (got)
			nrx_flush(p);
	}
	return false;
}

static bool resolve(u32 ip, u8 *mac, u64 ms)
{
	want_ip = ip;
	want_found = false;
	for (int tries = 0; tries < 5 && !want_found; tries++) {
		arp_send(0, 1, (const u8[6]){ 0 }, ip, bcast);
		u64 end = rdtsc() + ms_to_tsc(ms / 5);
		while (!want_found && rdtsc() < end) {
			u8 *d;
			u32 l;
			poll_rx(0, &d, &l);
		}
	}
	want_ip = 0;
	if (want_found)
		memcpy(mac, want_mac, 6);
	return want_found;
}

/* --- set-up shared by the tests ------------------------------------------ */

static void net_params(void)
{
	char b[64];
	my_ip = parse_ip(cmdline_get("ip", b, sizeof(b)) ? b : "10.0.0.2", NULL);
	echo_port = (u16)cmdline_u64("port", 7);
}

static void use_nic(const struct nic_ops *o, void *d, const u8 *mac);
static bool emulated_open(const char *kind);

/* nic=N: virtio-net device N; nic=virtio|e1000|rtl8139: the first of
 * that kind (rtl8139: rtlmode=cplus|classic, default cplus) */
static bool nic_open(void)
{
	struct vdev *devs[8];
	char mac[18], kind[16];
	if (cmdline_get("nic", kind, sizeof(kind)) && (!strcmp(kind, "e1000") ||
						       !strcmp(kind, "rtl8139")))
		return emulated_open(kind);
	int nd = virtio_find(VIRTIO_ID_NET, devs, 8);
	u64 idx = cmdline_get("nic", kind, sizeof(kind)) && !strcmp(kind, "virtio")
		  ? 0 : cmdline_u64("nic", 0);
	if ((u64)nd <= idx) {
		check("net_init", false, ",\"error\":\"no virtio-net device %llu (found %d)\"",
		      (unsigned long long)idx, nd);
		return false;
	}
	net_params();
	struct vdev *d = devs[idx];
	bool ok = net_open(&nic, d, (u16)cmdline_u64("pairs", 0));
	fmt_mac(mac, nic.mac);
	char ipb[16];
	fmt_ip(ipb, my_ip);
	struct ob o;
	static char line[1024];
	ob_init(&o, line, sizeof(line));
	check_begin(&o, "net_init", ok);
	ob_printf(&o, ",\"bdf\":\"%s\",\"mac\":\"%s\",\"ip\":\"%s\",\"mtu\":%u,\"max_pairs\":%u,\"pairs\":%u,"
		  "\"ctrl_vq\":%s,\"link_up\":%s,\"offered\":\"0x%llx\",\"features\":\"0x%llx\"",
		  d->bdf, mac, ipb, nic.mtu, nic.max_pairs, nic.pairs, nic.ctrl ? "true" : "false",
		  ok && nlink() ? "true" : "false", (unsigned long long)d->offered,
		  (unsigned long long)d->features);
	if (!ok)
		ob_printf(&o, ",\"error\":\"%s\"", d->err ? d->err : "?");
	check_end(&o);
	return ok;
}

static void queue_counts(struct ob *o)
{
	ob_printf(o, ",\"rx_queues\":[");
	for (int p = 0; p < nic.pairs; p++)
		ob_printf(o, "%s%llu", p ? "," : "", (unsigned long long)nic.rx_pkts[p]);
	ob_printf(o, "],\"tx_queues\":[");
	for (int p = 0; p < nic.pairs; p++)
		ob_printf(o, "%s%llu", p ? "," : "", (unsigned long long)nic.tx_pkts[p]);
	ob_printf(o, "]");
}

static void net_serve(void);

/* test=net */
void test_net(void)
{
	if (nic_open())
		net_serve();
}

/* test=e1000 and test=rtl8139 run the rest of test=net or test=net-dhcp
 * on their NIC; net-bench nic=e1000|rtl8139 opens one here */
static void use_nic(const struct nic_ops *o, void *d, const u8 *mac)
{
	ops = o;
	dev = d;
	memcpy(nic.mac, mac, 6);
	nic.pairs = 1;
	nic.mtu = 1500;
	nic.rx_pkts[0] = nic.tx_pkts[0] = 0;
	net_params();
}

static bool emulated_open(const char *kind)
{
	static struct e1000 e;
	static struct rtl8139 r;
	struct pcif fs[4];
	char mac[18], mode[8] = "";
	bool rtl = !strcmp(kind, "rtl8139"), ok;
	int n = rtl ? rtl8139_find(fs, 4) : e1000_find(fs, 4);
	if (!n) {
		check("net_init", false, ",\"nic\":\"%s\",\"error\":\"no such device\"", kind);
		return false;
	}
	if (rtl) {
		if (!cmdline_get("rtlmode", mode, sizeof(mode)))
			strlcpy(mode, "cplus", sizeof(mode));
		ok = rtl8139_open(&r, &fs[0], strcmp(mode, "classic") != 0);
		if (ok)
			use_nic(&rtl8139_nic_ops, &r, r.mac);
	} else {
		ok = e1000_open(&e, &fs[0]);
		if (ok)
			use_nic(&e1000_nic_ops, &e, e.mac);
	}
	fmt_mac(mac, nic.mac);
	check("net_init", ok, ",\"nic\":\"%s\",\"rtlmode\":\"%s\",\"mac\":\"%s\",\"link_up\":%s,"
	      "\"error\":\"%s\"", kind, mode, mac, ok && nlink() ? "true" : "false",
	      ok ? "" : rtl ? r.err : e.err);
	return ok;
}

void net_serve_on(const struct nic_ops *o, void *d, const u8 *mac)
{
	use_nic(o, d, mac);
	net_serve();
}

/* ARP, ping and UDP echo until the power button or timeout=, then the
 * counts (net_served) */
static void net_serve(void)
{
	bool pb = powerbutton_arm();
	u64 secs = cmdline_u64("timeout", 0);
	u64 end = secs ? rdtsc() + ms_to_tsc(secs * 1000) : 0;
	bool link = nlink();
	u64 cfg = ncfg_irqs(), last_check = rdtsc();
	out("{\"event\":\"net_ready\",\"powerbutton\":%s}", pb ? "true" : "false");
	while (!(pb && powerbutton_pressed()) && !(end && rdtsc() >= end)) {
		u8 *d;
		u32 l;
		poll_rx(0, &d, &l);
		/* the link bit: on each configuration interrupt, and twice a second
		 * in case the interrupt was not delivered */
		u64 c = ncfg_irqs(), now = rdtsc();
		if (c != cfg || now - last_check > ms_to_tsc(500)) {
			bool up = nlink();
			if (up != link)
				out("{\"event\":\"net_link\",\"up\":%s,\"config_irqs\":%llu}",
				    up ? "true" : "false", (unsigned long long)c);
			link = up;
			cfg = c;
			last_check = now;
		}
	}
	struct ob o;
	static char line[1024];
	ob_init(&o, line, sizeof(line));
	check_begin(&o, "net_served", nic.rx_bad == 0);
	ob_printf(&o, ",\"arp\":%llu,\"icmp\":%llu,\"udp\":%llu,\"other\":%llu,\"sent\":%llu,\"rx_bad\":%llu,"
		  "\"tx_busy\":%llu,\"config_irqs\":%llu",
		  (unsigned long long)served.arp, (unsigned long long)served.icmp,
		  (unsigned long long)served.udp, (unsigned long long)served.other,
		  (unsigned long long)served.sent, (unsigned long long)nic.rx_bad,
		  (unsigned long long)nic.tx_busy, (unsigned long long)ncfg_irqs());
	queue_counts(&o);
	check_end(&o);
}

/* --- DHCP (RFC 2131) --------------------------------------------------- */

#define BOOTP_LEN	240			/* fixed part + magic cookie */

static u32 dhcp_msg(u8 *f, u8 type, u32 xid, u32 req_ip, u32 server)
{
	static u8 bp[BOOTP_LEN + 32];
	memset(bp, 0, sizeof(bp));
	bp[0] = 1;				/* BOOTREQUEST */
	bp[1] = 1;
	bp[2] = 6;
	put32(bp + 4, xid);
	put16(bp + 10, 0x8000);			/* broadcast replies: no address yet */
	memcpy(bp + 28, nic.mac, 6);
	put32(bp + 236, 0x63825363);
	u8 *o = bp + BOOTP_LEN;
	*o++ = 53; *o++ = 1; *o++ = type;
	if (req_ip) {
		*o++ = 50; *o++ = 4; put32(o, req_ip); o += 4;
	}
	if (server) {
		*o++ = 54; *o++ = 4; put32(o, server); o += 4;
	}
	*o++ = 55; *o++ = 3; *o++ = 1; *o++ = 3; *o++ = 6;
	*o++ = 255;
	return udp_frame(f, bcast, 0, 68, 0xffffffffu, 67, bp, (u32)(o - bp));
}

struct lease { u8 type; u32 yiaddr, server, router, mask, dns, time; };

static bool dhcp_parse(const u8 *d, u32 len, u32 xid, struct lease *l)
{
	if (len < BOOTP_LEN || d[0] != 2 || be32(d + 4) != xid || be32(d + 236) != 0x63825363)
		return false;
	memset(l, 0, sizeof(*l));
	l->yiaddr = be32(d + 16);
	for (u32 i = BOOTP_LEN; i < len && d[i] != 255;) {
		u8 t = d[i];
		if (t == 0) {
			i++;
			continue;
		}
		if (i + 2 > len || i + 2 + d[i + 1] > len)
			break;
		u8 n = d[i + 1];
		const u8 *v = d + i + 2;
		if (t == 53 && n >= 1) l->type = v[0];
		if (t == 54 && n >= 4) l->server = be32(v);
		if (t == 3 && n >= 4) l->router = be32(v);
		if (t == 1 && n >= 4) l->mask = be32(v);
		if (t == 6 && n >= 4) l->dns = be32(v);
		if (t == 51 && n >= 4) l->time = be32(v);
		i += 2u + n;
	}
	return l->type != 0;
}

static bool dhcp_step(u8 type, u8 want, u32 xid, u32 req, u32 server, struct lease *l)
{
	static u8 f[NET_BUF];
	for (int tries = 0; tries < 4; tries++) {
		send_frame(0, f, dhcp_msg(f, type, xid, req, server));
		u64 end = rdtsc() + ms_to_tsc(2000);
		while (rdtsc() < end) {
			u8 *d;
			u32 dl;
			if (poll_rx(68, &d, &dl) && dhcp_parse(d, dl, xid, l) && l->type == want)
				return true;
		}
	}
	return false;
}

static void udp_peer(const char *peer, u32 pip, u16 pport, u32 hop, u64 count);

/* test=net-dhcp */
static void net_dhcp(void);

void test_net_dhcp(void)
{
	if (nic_open())
		net_dhcp();
}

void net_dhcp_on(const struct nic_ops *o, void *d, const u8 *mac)
{
	use_nic(o, d, mac);
	net_dhcp();
}

/* DHCP, then (peer=) one UDP exchange with a host service */
static void net_dhcp(void)
{
	my_ip = 0;				/* none until the ACK */
	u32 xid = (u32)rdtsc() ^ 0x5eed1234u;
	struct lease offer, ack;
	char a[16], r[16], m[16], s[16];
	bool ok = dhcp_step(1, 2, xid, 0, 0, &offer) &&
		  dhcp_step(3, 5, xid, offer.yiaddr, offer.server, &ack);
	if (!ok) {
		check("net_dhcp", false, ",\"error\":\"no %s from a DHCP server\"",
		      offer.type == 2 ? "DHCPACK" : "DHCPOFFER");
		return;
	}
	my_ip = ack.yiaddr;
	fmt_ip(a, ack.yiaddr);
	fmt_ip(r, ack.router);
	fmt_ip(m, ack.mask);
	fmt_ip(s, ack.server);
	check("net_dhcp", ack.yiaddr != 0,
	      ",\"address\":\"%s\",\"router\":\"%s\",\"mask\":\"%s\",\"server\":\"%s\",\"lease_s\":%u",
	      a, r, m, s, ack.time);

	char peer[40];
	if (!cmdline_get("peer", peer, sizeof(peer)))
		return;
	const char *e;
	u32 pip = parse_ip(peer, &e);
	u16 pport = (u16)(*e == ':' ? strtou64(e + 1, NULL) : 7);
	/* on-link peers directly, others through the router */
	u32 hop = ack.mask && (pip & ack.mask) == (my_ip & ack.mask) ? pip : ack.router;
	udp_peer(peer, pip, pport, hop, 1);
}

/* count UDP datagrams, each different, to pip:pport through hop (resolved
 * by ARP); one net_udp_peer check, passed when every one came back whole. */
static void udp_peer(const char *peer, u32 pip, u16 pport, u32 hop, u64 count)
{
	char r[16];
	u8 hmac[6];
	if (!resolve(hop, hmac, 3000)) {
		fmt_ip(r, hop);
		check("net_udp_peer", false, ",\"error\":\"no ARP reply from %s\"", r);
		return;
	}
	static char msg[] = "guestkit-udp-hello-000000";
	const u32 ml = sizeof(msg) - 1;
	static u8 f[NET_BUF];
	u64 echoed = 0;
	u32 reply_bytes = 0;
	for (u64 i = 0; i < count; i++) {
		sfmt(msg + ml - 6, 7, "%06llu", (unsigned long long)(i % 1000000));
		bool got = false;
		u32 dl = 0;
		u8 *d = NULL;
		for (int tries = 0; tries < 5 && !got; tries++) {
			send_frame(0, f, udp_frame(f, hmac, my_ip, 40000, pip, pport, msg, ml));
			u64 end = rdtsc() + ms_to_tsc(1000);
			/* a late echo of an earlier datagram does not count for this one */
			while (!got && rdtsc() < end)
				got = poll_rx(40000, &d, &dl) && dl == ml && !memcmp(d, msg, ml);
		}
		if (got) {
			echoed++;
			reply_bytes = dl;
		}
	}
	check("net_udp_peer", echoed == count && count,
	      ",\"peer\":\"%s\",\"sent\":%llu,\"echoed\":%llu,\"reply_bytes\":%u", peer,
	      (unsigned long long)count, (unsigned long long)echoed, reply_bytes);
}

/* test=net-peer peer=IP[:PORT] count=N: another machine on the same link
 * (a second guest running test=net, say) echoes N datagrams */
void test_net_peer(void)
{
	if (!nic_open())
		return;
	char peer[40];
	if (!cmdline_get("peer", peer, sizeof(peer))) {
		check("net_udp_peer", false, ",\"error\":\"no peer= on the command line\"");
		return;
	}
	const char *e;
	u32 pip = parse_ip(peer, &e);
	u16 pport = (u16)(*e == ':' ? strtou64(e + 1, NULL) : 7);
	out("{\"event\":\"net_ready\",\"mode\":\"peer\"}");
	udp_peer(peer, pip, pport, pip, cmdline_u64("count", 4));
}

/* test=net-bench */
void test_net_bench(void)
{
	if (!nic_open())
		return;
	char mode[8], b[40];
	if (!cmdline_get("mode", mode, sizeof(mode)))
		strlcpy(mode, "tx", sizeof(mode));
	u32 size = (u32)cmdline_u64("size", 18);
	if (size > nic.mtu - 28u)
		size = nic.mtu - 28u;
	u64 secs = cmdline_u64("secs", 5);
	u32 dst = parse_ip(cmdline_get("dst", b, sizeof(b)) ? b : "10.0.0.1", NULL);
	u16 dport = (u16)cmdline_u64("dport", 9);
	u8 dmac[6];
	bool tx = !strcmp(mode, "tx");
	if (tx) {
		if (cmdline_get("dmac", b, sizeof(b))) {
			const char *s = b;
			for (int i = 0; i < 6; i++) {
				u8 v = 0;
				for (int k = 0; k < 2 && *s; k++, s++)
					v = (u8)(v << 4 | (*s <= '9' ? *s - '0' : (*s | 32) - 'a' + 10));
				dmac[i] = v;
				if (*s == ':')
					s++;
			}
		} else if (!resolve(dst, dmac, 3000)) {
			check("net_bench", false, ",\"error\":\"no ARP reply from dst\"");
			return;
		}
	}
	out("{\"event\":\"net_ready\",\"mode\":\"%s\"}", mode);
	u64 start = 0, stop = 0, pkts = 0, bytes = 0;
	if (tx) {
		/* one flow per queue pair (source port 10000 + pair), frames built
		 * once per slot and only re-queued */
		static u8 frame[NET_BUF];
		start = rdtsc();
		stop = start + ms_to_tsc(secs * 1000);
		while (rdtsc() < stop) {
			for (int p = 0; p < nic.pairs; p++) {
				int batch = 0;
				u16 slot;
				u8 *buf;
				while (batch < 32 && (buf = ntx_buf(p, &slot))) {
					u32 n = udp_frame(frame, dmac, my_ip, (u16)(10000 + p), dst, dport, NULL, size);
					memcpy(buf, frame, n);
					ntx_send(p, slot, n, false);
					pkts++;
					bytes += n;
					batch++;
				}
				ops->tx_kick(dev, p);
			}
		}
		stop = rdtsc();
	} else {
		/* rx / echo: the clock starts at the first datagram */
		bool echo = !strcmp(mode, "echo");
		u64 deadline = rdtsc() + ms_to_tsc((secs + 30) * 1000);
		u16 port = echo ? 0 : dport;
		if (echo)
			echo_port = dport;
		u64 base_rx = 0;
		for (int p = 0; p < nic.pairs; p++)
			base_rx += nic.rx_pkts[p];
		while (rdtsc() < deadline && (!start || rdtsc() < stop)) {
			u8 *d;
			u32 dl;
			if (poll_rx(port, &d, &dl)) {
				pkts++;
				bytes += dl + 42;
			}
			if (!start && (pkts || served.udp)) {
				start = rdtsc();
				stop = start + ms_to_tsc(secs * 1000);
			}
		}
		if (echo) {
			pkts = served.udp;
			bytes = pkts * (size + 42);
		}
		stop = rdtsc();
	}
	u64 ns = start && stop > start ? (stop - start) * 1000 / (tsc_hz / 1000000) : 0;
	u64 pps = ns ? pkts * 1000000000ull / ns : 0;
	u64 mbps = ns ? bytes * 8000ull / ns : 0;
	struct ob o;
	static char line[1024];
	ob_init(&o, line, sizeof(line));
	check_begin(&o, "net_bench", pkts > 0);
	ob_printf(&o, ",\"nic\":\"%s\",\"mode\":\"%s\",\"size\":%u,\"pairs\":%u,\"pkts\":%llu,\"secs\":%llu.%03llu,\"pps\":%llu,"
		  "\"mbit_s\":%llu,\"tx_busy\":%llu",
		  ops->name, mode, size, nic.pairs, (unsigned long long)pkts, (unsigned long long)(ns / 1000000000ull),
		  (unsigned long long)(ns / 1000000 % 1000), (unsigned long long)pps,
		  (unsigned long long)mbps, (unsigned long long)nic.tx_busy);
	queue_counts(&o);
	check_end(&o);
}

/* test=net-reflect: the NIC's back end returns every frame with the MAC
 * addresses swapped (DPDK testpmd's macswap forwarding). On every queue
 * pair, UDP frames of sizes from 60 bytes to the MTU go out one at a time
 * and must come back whole, addressed to us from the peer, on the same
 * pair. count=N frames per size and pair (4); dmac= the peer (the
 * back end ignores it; 02:00:00:00:00:01). One net_reflect check. */
void test_net_reflect(void)
{
	if (!nic_open())
		return;
	static const u8 peer[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
	static const u32 sizes[] = { 18, 64, 200, 512, 1000, 1400, 1472 };
	static u8 frame[NET_BUF], data[NET_BUF];
	u64 count = cmdline_u64("count", 4);
	u64 sent = 0, back = 0, bad = 0, wrong_q = 0, lost = 0;
	u32 biggest = 0;
	out("{\"event\":\"net_ready\",\"mode\":\"reflect\"}");
	for (int p = 0; p < nic.pairs; p++) {
		u64 lost_here = 0;
		for (u32 si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			u32 size = sizes[si] > nic.mtu - 28u ? nic.mtu - 28u : sizes[si];
			for (u64 k = 0; k < count; k++) {
				if (lost_here >= 2) {
					/* a dead pair: the rest is lost without waiting */
					lost++;
					continue;
				}
				for (u32 i = 0; i < size; i++)
					data[i] = (u8)(p * 31 + k * 7 + si * 3 + i);
				u32 n = udp_frame(frame, peer, my_ip, (u16)(20000 + p), my_ip, 9, data, size);
				if (!send_frame(p, frame, n)) {
					lost++;
					continue;
				}
				sent++;
				bool got = false;
				u64 end = rdtsc() + ms_to_tsc(2000);
				while (!got && rdtsc() < end) {
					for (int q = 0; q < nic.pairs && !got; q++) {
						u32 len;
						u16 slot;
						u8 *f = nrx(q, &len, &slot);
						if (!f)
							continue;
						got = true;
						bool same = len == n && !memcmp(f, nic.mac, 6) &&
							    !memcmp(f + 6, peer, 6) && !memcmp(f + 12, frame + 12, n - 12);
						if (!same)
							bad++;
						else if (q != p)
							wrong_q++;
						else
							back++;
						if (same && n > biggest)
							biggest = n;
						nrx_done(q, slot);
						nrx_flush(q);
					}
				}
				if (!got) {
					lost++;
					lost_here++;
				}
			}
		}
	}
	struct ob o;
	static char line[1024];
	ob_init(&o, line, sizeof(line));
	check_begin(&o, "net_reflect", sent && back == sent && !bad && !wrong_q && !lost);
	ob_printf(&o, ",\"sent\":%llu,\"back\":%llu,\"bad\":%llu,\"wrong_queue\":%llu,\"lost\":%llu,"
		  "\"biggest\":%u",
		  (unsigned long long)sent, (unsigned long long)back, (unsigned long long)bad,
		  (unsigned long long)wrong_q, (unsigned long long)lost, biggest);
	queue_counts(&o);
	check_end(&o);
}
