/* COM1 as the console: 115200 8N1, FIFO on, polled. Port I/O is a VM exit
 * each, so poll LSR once per 16 bytes (the FIFO depth). */
#include "lib.h"

void serial_init(void)
{
	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_LCR, 0x80);		/* DLAB */
	outb(COM1 + UART_DLL, 1);		/* 115200 */
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, 0x03);		/* 8N1 */
	outb(COM1 + UART_FCR, 0x07);		/* FIFO on, both cleared */
	outb(COM1 + UART_MCR, 0x03);		/* DTR | RTS */
}

void serial_write(const char *s, size_t n)
{
	while (n) {
		u64 end = rdtsc() + ms_to_tsc(100);
		while (!(inb(COM1 + UART_LSR) & LSR_THRE) && rdtsc() < end)
			cpu_relax();
		size_t c = n < 16 ? n : 16;
		for (size_t i = 0; i < c; i++)
			outb(COM1 + UART_THR, (u8)s[i]);
		s += c;
		n -= c;
	}
}
