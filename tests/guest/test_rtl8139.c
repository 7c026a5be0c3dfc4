/* test=rtl8139: the guest kit on a Realtek RTL8139C+.
 *
 * Command line: rtlmode=cplus|classic (default cplus: descriptor rings
 * and checksum offload, as Linux's 8139cp; classic: the receive ring
 * buffer and four transmit slots, as 8139too), hostile=1 (the hostile
 * register sequences first), then the keys of test=net (ip=, port=,
 * timeout=): after the device checks it serves ARP, ping and UDP echo
 * exactly as test=net does; or, with dhcp=1, runs test=net-dhcp's DHCP
 * and UDP peer exchange (peer=).
 *
 * Checks: rtl8139_init (revision 0x20, EEPROM ID 0x8129 and the MAC in
 * words 7-9 equal to IDR0-5, the I/O BAR reaches the same registers,
 * BasicModeStatus link and autonegotiation complete, TCR's C+ version),
 * rtl8139_intx (a TimerInt timeout arrives as a level-triggered INTx on
 * the _PRT's GSI, the CPL0 stub's write-1-to-clear of ISR lowers the
 * line, a masked cause stays quiet), rtl8139_hostile (one per case,
 * hostile=1), then test=net's serving (net_ready, net_served) and, in C+
 * mode, rtl8139_csum (received UDP/TCP frames carried the device's
 * checksum-good bits; the echo replies went out with IPCS/UDPCS and the
 * host accepted them). */
#include "acpi.h"
#include "net.h"
#include "rtl8139.h"

extern volatile u64 intx_events;
extern u64 intx_addr, intx_w1c;
void net_serve_on(const struct nic_ops *o, void *d, const u8 *mac);
void net_dhcp_on(const struct nic_ops *o, void *d, const u8 *mac);

static struct rtl8139 nic;

static void init_checks(void)
{
	u16 id = rtl8139_eeprom(&nic, 0);
	u8 idr[6];
	for (int i = 0; i < 6; i++)
		idr[i] = rtl8139_rd8(&nic, RTL_IDR0 + i);
	u32 io_idr = nic.io ? inl(nic.io) : 0xffffffff;
	u16 bmsr = rtl8139_rd16(&nic, RTL_BMSR);
	u32 tcr = rtl8139_rd32(&nic, RTL_TCR);
	bool ok = nic.rev == 0x20 && id == 0x8129 && !memcmp(idr, nic.mac, 6) &&
		  io_idr == rd32(idr) && (bmsr & 0x24) == 0x24 && (tcr & 0x7cc00000) == 0x74800000;
	check("rtl8139_init", ok,
	      ",\"bdf\":\"%02x:%02x.%x\",\"mode\":\"%s\",\"revision\":\"0x%x\",\"eeprom_id\":\"0x%x\","
	      "\"mac\":\"%02x:%02x:%02x:%02x:%02x:%02x\",\"idr_matches\":%s,\"io_port\":\"0x%x\","
	      "\"bmsr\":\"0x%x\",\"tcr\":\"0x%x\",\"gsi\":%u",
	      nic.f.bus, nic.f.dev, nic.f.fn, nic.cplus ? "cplus" : "classic", nic.rev, id,
	      nic.mac[0], nic.mac[1], nic.mac[2], nic.mac[3], nic.mac[4], nic.mac[5],
	      memcmp(idr, nic.mac, 6) ? "false" : "true", nic.io, bmsr, tcr, nic.gsi);
}

/* TimerInt: TimeOut when TCTR (33 MHz, restarted by any write) reaches
 * it; with IMR set, one level-triggered interrupt on the slot's GSI that
 * the CPL0 stub acknowledges by writing the ISR bits back. */
static void intx_check(void)
{
	intx_addr = nic.mmio + RTL_ISR;
	intx_w1c = 1;
	ioapic_route(nic.gsi, VEC_INTX, true, true, (u8)lapic_id(), false);
	u64 before = irq_count[VEC_INTX];
	intx_events = 0;
	rtl8139_wr16(&nic, RTL_IMR, 0x4000);
	rtl8139_wr32(&nic, RTL_TIMERINT, 33 * 2000);	/* 2 ms */
	rtl8139_wr32(&nic, RTL_TCTR, 0);
	bool got = wait_change(&irq_count[VEC_INTX], before, 2000);
	rtl8139_wr32(&nic, RTL_TIMERINT, 0);
	delay_us(50000);
	u64 n = irq_count[VEC_INTX] - before;
	/* a masked cause stays quiet: the software interrupt of TxPoll */
	rtl8139_wr16(&nic, RTL_IMR, 0);
	rtl8139_wr8(&nic, RTL_TXPOLL, 0x01);
	delay_us(50000);
	u64 n2 = irq_count[VEC_INTX] - before;
	u16 isr = rtl8139_rd16(&nic, RTL_ISR);
	rtl8139_wr16(&nic, RTL_ISR, isr);
	/* PVM may deliver a second one for a lowered level line (see
	 * test_e1000.c); a line that stays up gives thousands */
	check("rtl8139_intx", got && n >= 1 && n <= 2 && n2 == n && (intx_events & 0x4000) &&
	      (isr & 0x100),
	      ",\"gsi\":%u,\"irqs\":%llu,\"after_masked\":%llu,\"isr_seen\":\"0x%llx\",\"isr_masked\":\"0x%x\"",
	      nic.gsi, (unsigned long long)n, (unsigned long long)n2,
	      (unsigned long long)intx_events, isr);
	ioapic_route(nic.gsi, VEC_INTX, true, true, (u8)lapic_id(), true);
}

/* After CR.RST and a fresh start, one frame goes out. */
static bool usable_after_reset(void)
{
	rtl8139_start(&nic);
	u16 slot;
	u8 *b = rtl8139_tx_buf(&nic, &slot);
	if (!b)
		return false;
	memset(b, 0xff, 6);
	memcpy(b + 6, nic.mac, 6);
	b[12] = 0x88;
	b[13] = 0xb5;				/* local experimental ethertype */
	memset(b + 14, 0, 46);
	rtl8139_tx_send(&nic, slot, 60, 0);
	for (int i = 0; i < 1000000; i++)
		if (rtl8139_tx_done(&nic, slot))
			return nic.cplus || (rtl8139_rd32(&nic, RTL_TSD0 + 4 * slot) & RTL_TSD_TOK);
	return false;
}

static void cp_desc(u8 *d, u32 opts1, u64 addr)
{
	u32 z = 0;
	__builtin_memcpy(d + 4, &z, 4);
	__builtin_memcpy(d + 8, &addr, 8);
	__asm__ volatile("" ::: "memory");
	*(volatile u32 *)d = opts1;
}

/* What a broken or hostile driver might program. The device must
 * neither take the VM down nor stop working: each case is followed by a
 * reset and a frame that must go out. */
static void hostile_checks(void)
{
	static const char *const classic[] = {
		"rbstart_outside_ram", "tx_buffer_outside_ram", "tx_huge", "tx_zero_length",
		"capr_garbage",
	};
	static const char *const cplus[] = {
		"tx_ring_outside_ram", "rx_ring_outside_ram", "zero_length_descriptor",
		"huge_descriptor", "descriptor_loop", "buffer_outside_ram", "large_send_bad_mss",
		"rx_buffer_outside_ram",
	};
	unsigned n = nic.cplus ? ARRAY_SIZE(cplus) : ARRAY_SIZE(classic);
	for (unsigned i = 0; i < n; i++) {
		const char *name = nic.cplus ? cplus[i] : classic[i];
		u8 *d = nic.txd;
		switch (nic.cplus ? 10 + i : i) {
		case 0:
			rtl8139_wr32(&nic, RTL_RBSTART, 0xfff00000);
			break;
		case 1:
			rtl8139_wr32(&nic, RTL_TSAD0, 0xffff0000);
			rtl8139_wr32(&nic, RTL_TSD0, 60);
			break;
		case 2:
			rtl8139_wr32(&nic, RTL_TSD0, 0x1fff);
			break;
		case 3:
			rtl8139_wr32(&nic, RTL_TSD0, 0);
			break;
		case 4:
			rtl8139_wr16(&nic, RTL_CAPR, 0x7777);
			break;
		case 10:
			rtl8139_wr32(&nic, RTL_TSAD0, 0xffff0000);
			rtl8139_wr8(&nic, RTL_TXPOLL, 0x40);
			break;
		case 11:
			rtl8139_wr32(&nic, RTL_RXRING, 0xffff0000);
			break;
		case 12:
			cp_desc(d, RTL_D_OWN | RTL_D_FS | RTL_D_LS, (u64)nic.txb);
			rtl8139_wr8(&nic, RTL_TXPOLL, 0x40);
			break;
		case 13:
			/* two 64 KiB fragments: longer than any frame */
			cp_desc(d + 16, RTL_D_OWN | RTL_D_LS | 0xffff, (u64)nic.txb);
			cp_desc(d, RTL_D_OWN | RTL_D_FS | 0xffff, (u64)nic.txb);
			rtl8139_wr8(&nic, RTL_TXPOLL, 0x40);
			break;
		case 14:
			/* every descriptor owned, none the last fragment, the ring
			 * ending at each: the device must stop */
			for (int k = 0; k < RTL_RING; k++)
				cp_desc(d + 16 * k, RTL_D_OWN | RTL_D_EOR | 64, (u64)nic.txb);
			rtl8139_wr8(&nic, RTL_TXPOLL, 0x40 | 0x80);
			break;
		case 15:
			cp_desc(d, RTL_D_OWN | RTL_D_FS | RTL_D_LS | 60, 0xffff0000ull);
			rtl8139_wr8(&nic, RTL_TXPOLL, 0x40);
			break;
		case 16:
			cp_desc(d, RTL_D_OWN | RTL_D_FS | RTL_D_LS | RTL_D_LGSEN | 1u << 16 | 60,
				(u64)nic.txb);
			rtl8139_wr8(&nic, RTL_TXPOLL, 0x40);
			break;
		case 17:
			for (int k = 0; k < RTL_RING; k++)
				cp_desc(nic.rxd + 16 * k, RTL_D_OWN | (k == RTL_RING - 1 ? RTL_D_EOR : 0) |
					RTL_BUF, 0xfff00000ull);
			break;
		}
		delay_us(20000);		/* let the I/O thread see the rx cases */
		bool ok = usable_after_reset();
		check("rtl8139_hostile", ok, ",\"case\":\"%s\",\"isr\":\"0x%x\"", name,
		      rtl8139_rd16(&nic, RTL_ISR));
	}
	nic.rx_pkts = nic.tx_pkts = 0;
}

void test_rtl8139(void)
{
	struct pcif fs[8];
	char mode[8];
	int n = rtl8139_find(fs, 8);
	if (!n) {
		check("rtl8139_init", false, ",\"error\":\"no rtl8139 found\"");
		return;
	}
	bool cplus = !cmdline_get("rtlmode", mode, sizeof(mode)) || strcmp(mode, "classic");
	if (!rtl8139_open(&nic, &fs[0], cplus)) {
		check("rtl8139_init", false, ",\"error\":\"%s\"", nic.err);
		return;
	}
	init_checks();
	intx_check();
	if (cmdline_u64("hostile", 0))
		hostile_checks();
	if (cmdline_u64("dhcp", 0)) {
		net_dhcp_on(&rtl8139_nic_ops, &nic, nic.mac);
		return;
	}
	net_serve_on(&rtl8139_nic_ops, &nic, nic.mac);
	if (cplus)
		check("rtl8139_csum", nic.rx_csum_ok > 0 && nic.rx_csum_bad == 0,
		      ",\"rx_csum_ok\":%llu,\"rx_csum_bad\":%llu,\"tx\":%llu",
		      (unsigned long long)nic.rx_csum_ok, (unsigned long long)nic.rx_csum_bad,
		      (unsigned long long)nic.tx_pkts);
}
