/* test=console: the virtio-serial device with VIRTIO_CONSOLE_F_MULTIPORT
 * (virtio 1.2 section 5.3), driven the way Linux's virtio_console does.
 *
 *   console_init      the device is found, MULTIPORT is negotiated,
 *                     max_nr_ports is read
 *   console_ports     DEVICE_READY brings a DEVICE_ADD per port; PORT_READY
 *                     brings CONSOLE_PORT for port 0 (when console=1) and
 *                     PORT_NAME with the name given as name= for the named
 *                     port (port=, default 1)
 *   console_echo      per port (the named port first, then hvc0 when
 *                     console=1): after PORT_OPEN, waits up to timeout=
 *                     seconds for a line from the host and sends back
 *                     "<which> got: <line>\n" (the host checks it); the
 *                     named port also records the host's PORT_OPEN 0 -> 1
 *   console_hostile   control messages for a port that does not exist, of
 *                     0 and 4 bytes, with an unknown event or value, a
 *                     device-writable transmit buffer, a zero-length and a
 *                     1 MiB transmit buffer: each comes back used and the
 *                     device is not in NEEDS_RESET; then a control buffer
 *                     outside guest RAM puts it in NEEDS_RESET, and after a
 *                     reset the handshake works again
 */
#include "virtio.h"

#define VIRTIO_ID_CONSOLE	3
#define F_MULTIPORT		1
#define EV_DEVICE_READY		0
#define EV_DEVICE_ADD		1
#define EV_PORT_READY		3
#define EV_CONSOLE_PORT		4
#define EV_PORT_OPEN		6
#define EV_PORT_NAME		7
#define CTRL_BUF		256
#define NCTRL			16
#define RX_BUF			512
#define NRX			4
#define MAXP			7		/* (VQ_MAX - 2) / 2 ports */
#define WAIT_MS			30000		/* a device that does not answer by then is broken */

static struct vdev *con;
static u32 nports;
static u8 *ctrl_rx, *ctrl_tx, *rx[MAXP], *tx;
static bool added[MAXP], console_seen[MAXP], host_open[MAXP], host_open_rise[MAXP];
static char names[MAXP][64];
static u64 unexpected;
/* host bytes per port not yet consumed */
static char inbuf[MAXP][256];
static u32 inlen[MAXP];

static struct vq *rxq(u32 id) { return &con->q[id ? 2 * id + 2 : 0]; }
static struct vq *txq(u32 id) { return &con->q[id ? 2 * id + 3 : 1]; }

static bool needs_reset(void) { return virtio_status(con) & VIRTIO_S_NEEDS_RESET; }

static void post_ctrl(u16 i)
{
	struct vbuf b = { (u64)(ctrl_rx + i * CTRL_BUF), CTRL_BUF, true };
	vq_add(&con->q[2], &b, 1, i, NULL);
}

static void post_rx(u32 id, u16 i)
{
	struct vbuf b = { (u64)(rx[id] + i * RX_BUF), RX_BUF, true };
	vq_add(rxq(id), &b, 1, i, NULL);
}

/* Waits for one used entry on q: 1, 0 on timeout, -1 NEEDS_RESET. */
static int wait_used(struct vq *q, u64 ms)
{
	return vq_wait(q, ms);
}

/* Sends one buffer on a transmit queue and waits for it to come back. */
static long send_buf(struct vq *q, u64 addr, u32 len, bool write)
{
	struct vbuf b = { addr, len, write };
	if (vq_add(q, &b, 1, 0, NULL) < 0)
		return -3;
	vq_kick(q);
	int w = wait_used(q, WAIT_MS);
	if (w <= 0)
		return w == 0 ? -1 : -2;
	u16 h;
	u32 used;
	vq_get(q, &h, &used, NULL);
	return used;
}

static long send_ctrl(u32 id, u16 event, u16 value)
{
	u8 *m = ctrl_tx;
	memcpy(m, &id, 4);
	memcpy(m + 4, &event, 2);
	memcpy(m + 6, &value, 2);
	return send_buf(&con->q[3], (u64)m, 8, false);
}

/* Takes what the control receiveq holds; reposts the buffers. */
static void drain_ctrl(void)
{
	u16 h;
	u32 len;
	u64 i;
	bool any = false;
	while (vq_get(&con->q[2], &h, &len, &i)) {
		const u8 *m = ctrl_rx + i * CTRL_BUF;
		u32 id = rd32(m);
		u16 ev = rd16(m + 4), val = rd16(m + 6);
		if (len < 8 || id >= MAXP) {
			unexpected++;
		} else if (ev == EV_DEVICE_ADD) {
			added[id] = true;
		} else if (ev == EV_CONSOLE_PORT) {
			console_seen[id] = true;
		} else if (ev == EV_PORT_NAME) {
			u32 n = len - 8 < sizeof(names[id]) - 1 ? len - 8 : sizeof(names[id]) - 1;
			memcpy(names[id], m + 8, n);
			names[id][n] = 0;
		} else if (ev == EV_PORT_OPEN) {
			if (val && !host_open[id])
				host_open_rise[id] = true;
			host_open[id] = val != 0;
		} else {
			unexpected++;
		}
		post_ctrl((u16)i);
		any = true;
	}
	if (any)
		vq_kick(&con->q[2]);
}

/* Takes host input of port id into inbuf; reposts the buffers. */
static void drain_rx(u32 id)
{
	u16 h;
	u32 len;
	u64 i;
	bool any = false;
	while (vq_get(rxq(id), &h, &len, &i)) {
		for (u32 k = 0; k < len && inlen[id] < sizeof(inbuf[id]) - 1; k++)
			inbuf[id][inlen[id]++] = (char)rx[id][i * RX_BUF + k];
		post_rx(id, (u16)i);
		any = true;
	}
	if (any)
		vq_kick(rxq(id));
}

/* Spins (the kit polls this device) until cond() or ms pass. */
static bool poll_until(bool (*cond)(u32), u32 arg, u64 ms)
{
	u64 end = rdtsc() + ms_to_tsc(ms), next_st = 0;
	for (;;) {
		drain_ctrl();
		for (u32 id = 0; id < nports; id++)
			drain_rx(id);
		if (cond(arg))
			return true;
		u64 now = rdtsc();
		if (now >= end)
			return false;
		if (now >= next_st) {
			if (needs_reset())
				return false;
			next_st = now + ms_to_tsc(10);
		}
		cpu_relax();
	}
}

static u32 expected_ports(void)
{
	u32 n = 0;
	for (u32 id = 0; id < nports; id++)
		n += added[id];
	return n;
}
static bool all_added(u32 want) { return expected_ports() >= want; }
static bool want_console_port;
static bool want_port_name;
/* every CONSOLE_PORT / PORT_NAME that PORT_READY should bring is here */
static bool ready_done(u32 id)
{
	return (!want_console_port || console_seen[0]) && (!want_port_name || names[id][0]);
}
static bool have_line(u32 id)
{
	for (u32 k = 0; k < inlen[id]; k++)
		if (inbuf[id][k] == '\n' || inbuf[id][k] == '\r')
			return true;
	return false;
}
static bool host_opened(u32 id) { return host_open[id]; }

static bool con_open(void)
{
	con->poll = true;
	nports = vcfg32(con, 4);
	u32 use = nports < MAXP ? nports : MAXP;
	if (!virtio_init(con, BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) | BIT(F_MULTIPORT),
			 (u16)(2 * (use + 1))))
		return false;
	nports = use;
	memset(added, 0, sizeof(added));
	memset(console_seen, 0, sizeof(console_seen));
	memset(host_open, 0, sizeof(host_open));
	memset(names, 0, sizeof(names));
	for (u16 i = 0; i < NCTRL; i++)
		post_ctrl(i);
	vq_kick(&con->q[2]);
	for (u32 id = 0; id < nports; id++) {
		for (u16 i = 0; i < NRX; i++)
			post_rx(id, i);
		vq_kick(rxq(id));
	}
	return true;
}

/* DEVICE_READY, then PORT_READY for each port added. */
static bool handshake(u32 want_ports, u64 ms)
{
	if (send_ctrl(0, EV_DEVICE_READY, 1) != 0)
		return false;
	if (!poll_until(all_added, want_ports, ms))
		return false;
	for (u32 id = 0; id < nports; id++)
		if (added[id] && send_ctrl(id, EV_PORT_READY, 1) != 0)
			return false;
	return true;
}

static void echo(u32 id, const char *which, u64 timeout_ms)
{
	bool was_open = host_open[id];
	long o = send_ctrl(id, EV_PORT_OPEN, 1);
	bool opened = o == 0 && poll_until(host_opened, id, timeout_ms);
	bool got = opened && poll_until(have_line, id, timeout_ms);
	u32 n = 0;
	while (n < inlen[id] && inbuf[id][n] != '\n' && inbuf[id][n] != '\r')
		n++;
	char line[320];
	int len = sfmt(line, sizeof(line), "%s got: ", which);
	memcpy(line + len, inbuf[id], n);
	len += (int)n;
	line[len++] = '\n';
	long sent = got ? send_buf(txq(id), (u64)memcpy(tx, line, (size_t)len), (u32)len, false)
			: -9;
	check("console_echo", got && sent == 0,
	      ",\"port\":%u,\"which\":\"%s\",\"host_open_before\":%s,\"host_open_rise\":%s,"
	      "\"line_bytes\":%u,\"sent\":%ld", id, which, was_open ? "true" : "false",
	      host_open_rise[id] ? "true" : "false", n, sent);
	inlen[id] = 0;
}

static void test_hostile(u32 named)
{
	struct vq *ctx = &con->q[3];
	u8 *big = page_alloc(1 << 20);
	long r[9];
	u32 bad = 99;
	memcpy(ctrl_tx, &bad, 4);
	memset(ctrl_tx + 4, 0, 4);
	r[0] = send_ctrl(99, EV_PORT_READY, 1);           /* no such port */
	r[1] = send_ctrl(0xffffffffu, EV_PORT_OPEN, 1);   /* nor this */
	r[2] = send_buf(ctx, (u64)ctrl_tx, 0, false);      /* zero-length message */
	r[3] = send_buf(ctx, (u64)ctrl_tx, 4, false);      /* short message */
	r[4] = send_ctrl(0, 42, 1);                        /* unknown event */
	r[5] = send_ctrl(named, EV_PORT_OPEN, 7);         /* bad value */
	r[6] = send_buf(txq(named), (u64)tx, 64, true);   /* writable tx buffer */
	r[7] = big ? send_buf(txq(named), (u64)big, 1 << 20, false) : -4;
	r[8] = send_buf(txq(0), (u64)tx, 0, false);       /* zero-length output */
	bool alive = !needs_reset();
	/* still working: a message on the named port goes through */
	long after = send_buf(txq(named), (u64)memcpy(tx, "after\n", 6), 6, false);
	bool all_used = true;
	for (int i = 0; i < 9; i++)
		all_used &= r[i] == 0;
	/* a control buffer outside guest RAM: the device needs a reset */
	long out = send_buf(ctx, 0x7f0000000000ull, 8, false);
	bool reset_seen = out == -2 || needs_reset();
	u32 want = expected_ports();
	bool again = con_open() && handshake(want, WAIT_MS);
	check("console_hostile", all_used && alive && after == 0 && reset_seen && again,
	      ",\"used\":[%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld],\"alive\":%s,\"after\":%ld,"
	      "\"outside_ram\":%ld,\"works_after_reset\":%s", r[0], r[1], r[2], r[3], r[4], r[5],
	      r[6], r[7], r[8], alive ? "true" : "false", after, out, again ? "true" : "false");
}

void test_console(void)
{
	struct vdev *devs[2];
	int n = virtio_find(VIRTIO_ID_CONSOLE, devs, 2);
	if (n < 1) {
		check("console_init", false, ",\"error\":\"no virtio-console device\"");
		return;
	}
	con = devs[0];
	ctrl_rx = page_alloc(NCTRL * CTRL_BUF);
	ctrl_tx = page_alloc(4096);
	tx = page_alloc(4096);
	for (u32 i = 0; i < MAXP; i++)
		rx[i] = page_alloc(NRX * RX_BUF);
	bool ok = con_open();
	bool multi = ok && (con->features & BIT(F_MULTIPORT));
	check("console_init", ok && multi, ",\"bdf\":\"%s\",\"devices\":%d,\"max_nr_ports\":%u,"
	      "\"features\":\"0x%llx\"", con->bdf, n, nports, (unsigned long long)con->features);
	if (!ok || !multi)
		return;
	bool want_console = cmdline_u64("console", 1) != 0;
	u32 named = (u32)cmdline_u64("port", 1);
	char want_name[64];
	if (!cmdline_get("name", want_name, sizeof(want_name)))
		want_name[0] = 0;
	u64 timeout_ms = cmdline_u64("timeout", 60) * 1000;
	u32 want_ports = (want_console ? 1 : 0) + (want_name[0] ? 1 : 0);
	bool hs = handshake(want_ports, WAIT_MS);
	want_console_port = want_console;
	want_port_name = want_name[0] && named < nports;
	if (hs)
		poll_until(ready_done, named < nports ? named : 0, WAIT_MS);
	bool name_ok = !want_name[0] || (named < nports && strcmp(names[named], want_name) == 0);
	bool cons_ok = console_seen[0] == want_console;
	check("console_ports", hs && name_ok && cons_ok && !unexpected,
	      ",\"ports_added\":%u,\"console_port\":%s,\"name\":\"%s\",\"unexpected\":%llu",
	      expected_ports(), console_seen[0] ? "true" : "false",
	      named < nports ? names[named] : "", (unsigned long long)unexpected);
	if (!hs)
		return;
	if (want_name[0] && named < nports)
		echo(named, "channel", timeout_ms);
	if (want_console)
		echo(0, "hvc0", timeout_ms);
	test_hostile(named < nports ? named : 0);
}
