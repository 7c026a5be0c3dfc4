/* test=e1000: the guest kit on an Intel 82540EM.
 *
 * Command line: nic=N (which e1000, default 0), hostile=1 (the hostile
 * register sequences first), then the keys of test=net (ip=, port=,
 * timeout=): after the device checks it serves ARP, ping and UDP echo
 * exactly as test=net does, then checks the statistics registers; or,
 * with dhcp=1, runs test=net-dhcp's DHCP and UDP peer exchange (peer=).
 *
 * Checks: e1000_init (MAC from EERD, the Microwire EEPROM read bit by bit
 * agrees, checksum 0xBABA, PHY link and autonegotiation, STATUS.LU, the
 * I/O BAR reaches the same registers, RAL0 holds the MAC), e1000_intx
 * (an ICS-raised cause arrives as a level-triggered INTx on the _PRT's
 * GSI, its ICR read at CPL0 lowers the line: no storm), e1000_hostile
 * (one per case, hostile=1), then test=net's net_init-less serving
 * (net_ready, net_served) and e1000_stats (GPRC/GPTC/TPR/TPT/GORC/GOTC
 * against what the driver counted). */
#include "acpi.h"
#include "e1000.h"

extern volatile u64 intx_events;
extern u64 intx_addr;
#include "net.h"

void net_serve_on(const struct nic_ops *o, void *d, const u8 *mac);
void net_dhcp_on(const struct nic_ops *o, void *d, const u8 *mac);

static struct e1000 nic;

static void init_checks(void)
{
	u16 sum = 0;
	bool agree = true;
	for (u8 i = 0; i < 64; i++) {
		u16 w = e1000_ee_eerd(&nic, i);
		sum = (u16)(sum + w);
		if (i < 8 && e1000_ee_bitbang(&nic, i) != w)
			agree = false;
	}
	u16 phy_st = e1000_phy_read(&nic, 1), id1 = e1000_phy_read(&nic, 2);
	u32 status = e1000_rd(&nic, E1K_STATUS);
	u32 io_status = nic.io ? e1000_io_rd(&nic, E1K_STATUS) : 0xffffffff;
	u32 ral = e1000_rd(&nic, E1K_RAL0), rah = e1000_rd(&nic, E1K_RAH0);
	bool ok = sum == 0xbaba && agree && (phy_st & 0x24) == 0x24 && id1 == 0x0141 &&
		  (status & 2) && io_status == status && ral == rd32(nic.mac) &&
		  (rah & 0xffff) == rd16(nic.mac + 4) && (rah >> 31);
	check("e1000_init", ok,
	      ",\"bdf\":\"%02x:%02x.%x\",\"mac\":\"%02x:%02x:%02x:%02x:%02x:%02x\",\"eeprom_sum\":\"0x%x\","
	      "\"bitbang_agrees\":%s,\"phy_status\":\"0x%x\",\"phy_id1\":\"0x%x\",\"status\":\"0x%x\","
	      "\"io_port\":\"0x%x\",\"io_status\":\"0x%x\",\"gsi\":%u",
	      nic.f.bus, nic.f.dev, nic.f.fn, nic.mac[0], nic.mac[1], nic.mac[2], nic.mac[3],
	      nic.mac[4], nic.mac[5], sum, agree ? "true" : "false", phy_st, id1, status, nic.io,
	      io_status, nic.gsi);
}

/* ICS raises LSC with IMS set: one level-triggered interrupt on the
 * slot's GSI, routed as the _PRT says (level, active-low); the CPL0 stub
 * reads ICR, which must lower the line (else the EOI re-raises it at
 * once and the count runs away). */
static void intx_check(void)
{
	intx_addr = nic.mmio + E1K_ICR;
	ioapic_route(nic.gsi, VEC_INTX, true, true, (u8)lapic_id(), false);
	u64 before = irq_count[VEC_INTX];
	intx_events = 0;
	e1000_wr(&nic, E1K_IMS, 0x4);		/* LSC */
	e1000_wr(&nic, E1K_ICS, 0x4);
	bool got = wait_change(&irq_count[VEC_INTX], before, 2000);
	delay_us(50000);
	u64 n = irq_count[VEC_INTX] - before;
	/* a masked cause stays quiet */
	e1000_wr(&nic, E1K_IMC, 0xffffffff);
	e1000_wr(&nic, E1K_ICS, 0x80);
	delay_us(50000);
	u64 n2 = irq_count[VEC_INTX] - before;
	u32 icr = e1000_rd(&nic, E1K_ICR);
	/* One interrupt is what a line lowered at the first ICR read gives;
	 * PVM here delivers a second one (ICR then reads 0), so up to two
	 * pass: a line that stays up would give thousands. */
	check("e1000_intx", got && n >= 1 && n <= 2 && n2 == n && (intx_events & 0x4) && icr == 0x80,
	      ",\"gsi\":%u,\"irqs\":%llu,\"after_masked\":%llu,\"icr_seen\":\"0x%llx\",\"icr_masked\":\"0x%x\"",
	      nic.gsi, (unsigned long long)n, (unsigned long long)n2,
	      (unsigned long long)intx_events, icr);
	/* serving polls; the line stays quiet */
	ioapic_route(nic.gsi, VEC_INTX, true, true, (u8)lapic_id(), true);
}

/* After CTRL.RST and a fresh start, one frame goes out: TDH moves past
 * it and its DD bit is set. */
static bool usable_after_reset(void)
{
	e1000_wr(&nic, E1K_CTRL, 1u << 26);
	e1000_start(&nic);
	u16 slot;
	u8 *b = e1000_tx_buf(&nic, &slot);
	if (!b)
		return false;
	memset(b, 0xff, 6);
	memcpy(b + 6, nic.mac, 6);
	b[12] = 0x88;
	b[13] = 0xb5;				/* local experimental ethertype */
	memset(b + 14, 0, 46);
	e1000_tx_send(&nic, slot, 60);
	for (int i = 0; i < 1000000; i++)
		if (nic.txd[16 * slot + 12] & 1)
			return e1000_rd(&nic, E1K_TDH) == (u32)(slot + 1) % E1000_RING;
	return false;
}

/* Descriptor rings and buffers a broken or hostile driver might program.
 * The device must neither take the VM down nor stop working: each case is
 * followed by a reset and a frame that must go out. */
static void hostile_checks(void)
{
	static const struct { const char *name; u32 reg, val; u32 reg2, val2; } cases[] = {
		{ "tx_ring_outside_ram", E1K_TDBAL, 0xffff0000, E1K_TDT, 4 },
		{ "rx_ring_outside_ram", E1K_RDBAL, 0xffff0000, E1K_RDT, 4 },
		{ "tdt_beyond_ring", E1K_TDT, 1000, 0, 0 },
		{ "rdt_beyond_ring", E1K_RDT, 1000, 0, 0 },
		{ "tdlen_zero", E1K_TDLEN, 0, E1K_TDT, 3 },
		{ "zero_length_descriptor", 0, 0, 0, 0 },
		{ "huge_descriptor", 0, 0xfffff, 0, 0 },
		{ "buffer_outside_ram", 0, 60, 0, 1 },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		if (cases[i].reg) {
			e1000_wr(&nic, cases[i].reg, cases[i].val);
			if (cases[i].reg2)
				e1000_wr(&nic, cases[i].reg2, cases[i].val2);
		} else {
			/* a data descriptor (DEXT, DTYP 1) of the given length at
			 * slot 0, at a buffer in RAM or (val2) outside it */
			u8 *d = nic.txd;
			u64 a = cases[i].val2 ? 0xffff0000ull : (u64)nic.txb;
			u32 w2 = cases[i].val | 1u << 20 | (0x01u | 0x08 | 0x20) << 24;
			u32 w3 = 0;
			__builtin_memcpy(d, &a, 8);
			__builtin_memcpy(d + 8, &w2, 4);
			__builtin_memcpy(d + 12, &w3, 4);
			e1000_wr(&nic, E1K_TDT, 1);
		}
		delay_us(20000);		/* let the I/O thread see the rx cases */
		bool ok = usable_after_reset();
		check("e1000_hostile", ok, ",\"case\":\"%s\",\"status\":\"0x%x\"", cases[i].name,
		      e1000_rd(&nic, E1K_STATUS));
	}
	/* the statistics count from here again */
	for (u32 r = 0x4000; r < 0x4100; r += 4)
		e1000_rd(&nic, r);
	nic.rx_pkts = nic.tx_pkts = 0;
}

static void stats_check(void)
{
	u32 gprc = e1000_rd(&nic, E1K_GPRC), gptc = e1000_rd(&nic, E1K_GPTC);
	u32 tpr = e1000_rd(&nic, E1K_TPR), tpt = e1000_rd(&nic, E1K_TPT);
	u32 gorc = e1000_rd(&nic, E1K_GORCL), gotc = e1000_rd(&nic, E1K_GOTCL);
	/* frames the device received are the driver's plus those still in
	 * the ring; every frame the driver sent went out */
	bool ok = gprc >= nic.rx_pkts && gptc == nic.tx_pkts && tpr == gprc && tpt == gptc &&
		  gorc >= 64 * gprc && gotc >= 64 * gptc && gptc > 0;
	check("e1000_stats", ok,
	      ",\"gprc\":%u,\"gptc\":%u,\"tpr\":%u,\"tpt\":%u,\"gorc\":%u,\"gotc\":%u,\"rx\":%llu,\"tx\":%llu",
	      gprc, gptc, tpr, tpt, gorc, gotc, (unsigned long long)nic.rx_pkts,
	      (unsigned long long)nic.tx_pkts);
}

void test_e1000(void)
{
	struct pcif fs[8];
	int n = e1000_find(fs, 8);
	u64 idx = cmdline_u64("nic", 0);
	if ((u64)n <= idx) {
		check("e1000_init", false, ",\"error\":\"no e1000 %llu (found %d)\"",
		      (unsigned long long)idx, n);
		return;
	}
	if (!e1000_open(&nic, &fs[idx])) {
		check("e1000_init", false, ",\"error\":\"%s\"", nic.err);
		return;
	}
	init_checks();
	intx_check();
	if (cmdline_u64("hostile", 0))
		hostile_checks();
	if (cmdline_u64("dhcp", 0)) {
		net_dhcp_on(&e1000_nic_ops, &nic, nic.mac);
		return;
	}
	net_serve_on(&e1000_nic_ops, &nic, nic.mac);
	stats_check();
}
