/* Intel 8042 keyboard controller with a PS/2 keyboard attached and an
 * empty auxiliary (mouse) port. It exists so that guests find the
 * controller Linux's i8042 driver probes for, and for its reset line.
 *
 * Two one-byte regions on the pio bus: data at PORT_I8042_DATA (0x60) with
 * vmm_i8042_data_ops, status/command at PORT_I8042_CMD (0x64) with
 * vmm_i8042_cmd_ops; vmm_i8042_register() does both. */
#ifndef VMM_HW_I8042_H
#define VMM_HW_I8042_H

#include "hw/bus.h"

typedef struct VmmI8042 VmmI8042;

/* kbd_irq is ISA IRQ1, aux_irq ISA IRQ12 (either may be NULL).
 * reset_request is called when the guest pulses the CPU reset line
 * (command 0xFE, any 0xF0-0xFF pulse with bit 0 clear, or an output-port
 * write with bit 0 clear); it is called without the device lock held and may
 * be called several times in a row (Linux retries 0xFE). */
VmmI8042 *vmm_i8042_new(VmmIrq *kbd_irq, VmmIrq *aux_irq,
                        void (*reset_request)(void *opaque), void *opaque);
void vmm_i8042_free(VmmI8042 *kbc);
/* Back to the state firmware leaves: command byte 0x65 (keyboard IRQ on,
 * system flag, aux disabled, translation on), buffers empty. */
void vmm_i8042_reset(VmmI8042 *kbc);
/* Registers both regions on the pio bus; on failure nothing stays registered. */
bool vmm_i8042_register(VmmI8042 *kbc, VmmBus *pio, GError **err);

extern const VmmRegionOps vmm_i8042_data_ops;   /* port 0x60, length 1 */
extern const VmmRegionOps vmm_i8042_cmd_ops;    /* port 0x64, length 1 */

#endif
