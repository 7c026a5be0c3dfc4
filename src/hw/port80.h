#ifndef VMM_PORT80_H
#define VMM_PORT80_H
#include "hw/bus.h"
bool vmm_port80_register(VmmBus *pio, GError **err);
#endif
