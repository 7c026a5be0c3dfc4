/* test=serial: 16550A behaviour of COM1 — scratch register, FIFO, loopback
 * data path and overrun, modem-status loopback, THRE and received-data
 * interrupts through the IOAPIC. COM1 is our console, so output is
 * buffered (out_defer) until the UART is back to normal. */
#include "acpi.h"

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

static u8 rd(int r) { return inb(COM1 + r); }
static void wr(int r, u8 v) { outb(COM1 + r, v); }
static const char *tf(bool b) { return b ? "true" : "false"; }

static void drain(void)
{
	for (int i = 0; i < 64 && (rd(UART_LSR) & LSR_DR); i++)
		(void)rd(UART_RBR);
	(void)rd(UART_LSR);			/* clears OE */
	(void)rd(UART_IIR);
	(void)rd(UART_MSR);
}

static void tx(u8 c)
{
	u64 end = rdtsc() + ms_to_tsc(100);
	while (!(rd(UART_LSR) & LSR_THRE) && rdtsc() < end)
		cpu_relax();
	wr(UART_THR, c);
}

/* read up to max bytes while LSR.DR says there are some */
static int rx_all(u8 *buf, int max)
{
	int n = 0;
	while (n < max && (rd(UART_LSR) & LSR_DR))
		buf[n++] = rd(UART_RBR);
	return n;
}

static void t_scratch(void)
{
	wr(UART_SCR, 0x5a);
	u8 a = rd(UART_SCR);
	wr(UART_SCR, 0xa5);
	u8 b = rd(UART_SCR);
	wr(UART_SCR, 0);
	check("serial_scratch", a == 0x5a && b == 0xa5, ",\"read\":[\"0x%02x\",\"0x%02x\"]", a, b);
}

static void t_fifo(void)
{
	wr(UART_FCR, 0x07);
	u8 iir = rd(UART_IIR);
	check("serial_fifo", (iir & 0xc0) == 0xc0, ",\"iir\":\"0x%02x\"", iir);
}

static void t_loopback(void)
{
	u8 buf[64];
	bool order = true;

	wr(UART_MCR, MCR_LOOP);
	drain();
	for (int i = 0; i < 16; i++)
		tx((u8)('a' + i));
	bool dr_set = rd(UART_LSR) & LSR_DR;
	int n = rx_all(buf, 64);
	for (int i = 0; i < n && i < 16; i++)
		order = order && buf[i] == 'a' + i;
	bool dr_clear = !(rd(UART_LSR) & LSR_DR);
	check("serial_loopback", dr_set && n == 16 && order && dr_clear,
	      ",\"received\":%d,\"in_order\":%s,\"dr_set\":%s,\"dr_clear_after\":%s", n, tf(order),
	      tf(dr_set), tf(dr_clear));

	/* 20 bytes into a 16-byte receive FIFO: overrun, first 16 kept */
	drain();
	for (int i = 0; i < 20; i++)
		tx((u8)('A' + i));
	u8 lsr = rd(UART_LSR);
	n = rx_all(buf, 64);
	order = true;
	for (int i = 0; i < n && i < 16; i++)
		order = order && buf[i] == 'A' + i;
	u8 lsr2 = rd(UART_LSR);
	check("serial_overrun", (lsr & LSR_OE) && (lsr & LSR_DR) && n == 16 && order && !(lsr2 & LSR_OE),
	      ",\"lsr\":\"0x%02x\",\"kept\":%d,\"in_order\":%s,\"lsr_after\":\"0x%02x\"", lsr, n, tf(order),
	      lsr2);
}

static void t_msr(void)
{
	static const u8 mcr[] = { 0, MCR_DTR, MCR_RTS, MCR_OUT1, MCR_OUT2, 0x0f };
	char got[128] = "";
	size_t gl = 0;
	bool ok = true;

	for (size_t i = 0; i < ARRAY_SIZE(mcr); i++) {
		wr(UART_MCR, MCR_LOOP | mcr[i]);
		u8 m = rd(UART_MSR) & 0xf0;
		/* DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
		u8 want = (mcr[i] & MCR_DTR ? 0x20 : 0) | (mcr[i] & MCR_RTS ? 0x10 : 0) |
			  (mcr[i] & MCR_OUT1 ? 0x40 : 0) | (mcr[i] & MCR_OUT2 ? 0x80 : 0);
		ok = ok && m == want;
		gl += sfmt(got + gl, sizeof(got) - gl, "%s\"0x%02x\"", i ? "," : "", m);
	}
	check("serial_msr_loopback", ok, ",\"mcr\":[\"0x00\",\"0x01\",\"0x02\",\"0x04\",\"0x08\",\"0x0f\"],\"msr\":[%s]", got);
}

static void t_irq(void)
{
	u32 gsi;
	bool level, low;
	u8 bsp = (u8)lapic_id();
	volatile u64 *cnt = &irq_count[VEC_SERIAL];

	acpi_isa_irq(4, &gsi, &level, &low);
	wr(UART_IER, 0);
	wr(UART_MCR, MCR_DTR | MCR_RTS | MCR_OUT2);	/* OUT2 gates the IRQ on PCs */
	drain();
	ioapic_route(gsi, VEC_SERIAL, level, low, bsp, false);

	/* THR empty interrupt: enabling ETBEI with an empty THR raises it */
	u64 c0 = *cnt;
	wr(UART_IER, 0x02);
	bool got = wait_change(cnt, c0, 500);
	u8 iir = rd(UART_IIR);			/* reading IIR clears THRE */
	u8 iir2 = rd(UART_IIR);
	wr(UART_IER, 0);
	check("serial_irq_thre", got && (iir & 0x0f) == 0x02 && (iir2 & 0x01),
	      ",\"gsi\":%u,\"vector\":%u,\"irqs\":%llu,\"iir\":\"0x%02x\",\"iir_after\":\"0x%02x\"", gsi,
	      VEC_SERIAL, (unsigned long long)(*cnt - c0), iir, iir2);

	/* received-data interrupt, fed through loopback */
	wr(UART_MCR, MCR_LOOP | MCR_OUT2);
	drain();
	wr(UART_IER, 0x01);
	c0 = *cnt;
	tx('Z');
	got = wait_change(cnt, c0, 500);
	iir = rd(UART_IIR);
	u8 c = rd(UART_RBR);
	iir2 = rd(UART_IIR);
	wr(UART_IER, 0);
	check("serial_irq_rx", got && (iir & 0x0f) == 0x04 && c == 'Z' && (iir2 & 0x01),
	      ",\"gsi\":%u,\"vector\":%u,\"irqs\":%llu,\"iir\":\"0x%02x\",\"data\":\"0x%02x\",\"iir_after\":\"0x%02x\"",
	      gsi, VEC_SERIAL, (unsigned long long)(*cnt - c0), iir, c, iir2);

	ioapic_route(gsi, VEC_SERIAL, level, low, bsp, true);
}

void test_serial(void)
{
	u64 end = rdtsc() + ms_to_tsc(100);
	while (!(rd(UART_LSR) & 0x40) && rdtsc() < end)	/* TEMT: our output is out */
		cpu_relax();
	out_defer(true);
	t_scratch();
	t_fifo();
	t_loopback();
	t_msr();
	t_irq();
	serial_init();				/* normal mode, FIFO on, IER 0 */
	drain();
	out_defer(false);
}
