/* 16550A UART (PC serial port), emulated on 8 I/O ports.
 *
 * Register it on the pio bus at the port base, length VMM_UART_REGION_LEN:
 *   vmm_bus_register(pio, PORT_COM1, VMM_UART_REGION_LEN, &vmm_uart_ops, uart, err);
 *
 * Backend coupling (the character device on the host side):
 *  - tx(opaque, buf, len): bytes the guest transmitted, in order. Called
 *    without the UART lock held, so it may call vmm_uart_can_receive() and
 *    vmm_uart_receive(); it runs on the vCPU thread that wrote THR (or on
 *    another vCPU thread that is already handing bytes over).
 *  - rx_space(opaque): the guest freed space in a receive FIFO that was full
 *    (vmm_uart_can_receive() went from 0 to non-zero); the backend should
 *    resume reading its input. Also called without the UART lock held.
 *  - vmm_uart_can_receive() / vmm_uart_receive(): host input, from any thread.
 *
 * The interrupt line is driven through vmm_irq_set() with the device lock
 * held (so level changes reach the irqchip in order); the VmmIrq set hook
 * must therefore not call back into the UART. */
#ifndef VMM_HW_UART_H
#define VMM_HW_UART_H

#include "hw/bus.h"

#include <stddef.h>
#include <stdint.h>

#define VMM_UART_REGION_LEN 8
#define VMM_UART_FIFO_SIZE  16

typedef struct VmmUart VmmUart;

typedef void (*VmmUartTxFn)(void *opaque, const uint8_t *buf, size_t len);
typedef void (*VmmUartRxSpaceFn)(void *opaque);

/* name is copied (for logs). irq may be NULL (no interrupt wired); tx and
 * rx_space may be NULL (output discarded, no flow-control notification). */
VmmUart *vmm_uart_new(const char *name, VmmIrq *irq, VmmUartTxFn tx,
                      VmmUartRxSpaceFn rx_space, void *backend_opaque);
/* No vCPU or backend thread may use the UART any more. */
void vmm_uart_free(VmmUart *uart);
/* Hardware reset (MR pin): registers to power-on values, FIFOs emptied. */
void vmm_uart_reset(VmmUart *uart);

/* Free receive FIFO slots (1 when FIFOs are off); 0 in loopback mode,
 * where the serial input is disconnected. */
size_t vmm_uart_can_receive(VmmUart *uart);
/* Push host input. Bytes beyond vmm_uart_can_receive() are an overrun:
 * lost, and LSR.OE is set, as on the wire. Dropped in loopback mode. */
void vmm_uart_receive(VmmUart *uart, const uint8_t *buf, size_t len);

/* Accesses of any size are split into byte accesses of consecutive
 * registers, as an 8-bit ISA device sees them. */
extern const VmmRegionOps vmm_uart_ops;

#endif
