/* Motorola MC146818 real-time clock with 128 bytes of CMOS RAM, as on the
 * PC: index port 0x70 (bit 7 is the NMI mask, ignored), data port 0x71.
 *   vmm_bus_register(pio, PORT_RTC, VMM_RTC_REGION_LEN, &vmm_rtc_ops, rtc, err);
 *
 * The clock runs from host time (UTC, or the host's local time when
 * localtime is set, like libvirt's <clock offset='utc'|'localtime'>) plus
 * an offset the guest changes by setting the clock. The interrupt flags of
 * register C are kept up to date on every access; to get update, alarm and
 * periodic interrupts on IRQ8 while the guest is not polling, attach the
 * RTC to the event loop with vmm_rtc_attach(). The IRQ line is driven with
 * the device lock held, so the VmmIrq hook must not call back into the RTC. */
#ifndef VMM_HW_RTC_H
#define VMM_HW_RTC_H

#include "hw/bus.h"

#include <stdbool.h>
#include <stdint.h>

#define VMM_RTC_REGION_LEN 2

typedef struct VmmRtc VmmRtc;

VmmRtc *vmm_rtc_new(VmmIrq *irq, bool localtime);
/* Detaches from the event loop too: call it from the loop's thread, or
 * once the loop no longer runs. */
void vmm_rtc_free(VmmRtc *rtc);
/* RESET pin: clears the interrupt enables and flags. Time, registers A and
 * the format bits of B, and the CMOS RAM survive, as they do on a PC. */
void vmm_rtc_reset(VmmRtc *rtc);
/* Record RAM sizes where a PC BIOS does: 0x15/0x16 base memory (640 KiB),
 * 0x17/0x18 and 0x30/0x31 KiB above 1 MiB (saturating at 0xffff),
 * 0x34/0x35 64 KiB units above 16 MiB below 4 GiB, 0x5b-0x5d 64 KiB units
 * above 4 GiB; and the 0x10-0x2d checksum at 0x2e/0x2f. */
void vmm_rtc_set_memory(VmmRtc *rtc, uint64_t lowmem_bytes, uint64_t highmem_bytes);
/* Deliver timed interrupts from this context's loop (NULL = the default
 * context). Without it, flags and the IRQ line only move when the guest
 * touches the RTC. Attach at most once. */
void vmm_rtc_attach(VmmRtc *rtc, GMainContext *ctx);
/* For tests: replace the host clock (microseconds since the epoch, UTC;
 * it also serves as the monotonic clock). Do not combine with attach. */
void vmm_rtc_set_clock(VmmRtc *rtc, int64_t (*now_us)(void *opaque), void *opaque);

/* Accesses wider than a byte are split into consecutive ports, so an
 * "outw index | value << 8" to 0x70 selects and writes in one go. */
extern const VmmRegionOps vmm_rtc_ops;

#endif
