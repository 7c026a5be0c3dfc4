/* The board: the one place that turns a domain definition into devices.
 * See board.c. */
#ifndef VMM_HW_BOARD_H
#define VMM_HW_BOARD_H

#include <glib.h>
#include <stdbool.h>

#include "net/netdev.h"

typedef struct VmmVm VmmVm;
typedef struct VmmChardev VmmChardev;

/* Creates every device vm->def asks for on vm's buses and interrupt lines.
 * serial_backends (indexed by port), channel_backends (one per
 * def->channels item) and netdevs (one per <interface>, in document order)
 * belong to the caller and may be NULL. On failure the
 * devices made so far stay in vm for vmm_board_free(). */
bool vmm_board_create(VmmVm *vm, VmmChardev *const *serial_backends,
                      VmmChardev *const *channel_backends, VmmNetdev *const *netdevs,
                      GError **err);
/* Frees what vmm_board_create made (safe on a half-built board). */
void vmm_board_free(VmmVm *vm);
/* The ACPI power button, when the board has one. */
bool vmm_board_has_power_button(VmmVm *vm);
void vmm_board_power_button(VmmVm *vm);

#endif
