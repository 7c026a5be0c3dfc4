/* Port 0x80: the POST-code port firmware and Linux use as an I/O delay.
 * Writes are swallowed, reads return 0 rather than all-ones. */
#include "hw/port80.h"
#include "vmm/layout.h"

static uint64_t port80_read(void *opaque, uint64_t off, unsigned size) { return 0; }
static void port80_write(void *opaque, uint64_t off, uint64_t v, unsigned size) {}

static const VmmRegionOps port80_ops = { "post-port", port80_read, port80_write };

bool vmm_port80_register(VmmBus *pio, GError **err)
{
    return vmm_bus_register(pio, PORT_POST, 1, &port80_ops, NULL, err);
}
