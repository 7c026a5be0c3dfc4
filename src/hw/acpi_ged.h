/* ACPI hardware-reduced platform registers: the Generic Event Device (GED)
 * that carries the power button, and the sleep control/status and reset
 * registers the FADT points at. */
#ifndef VMM_ACPI_GED_H
#define VMM_ACPI_GED_H

#include "hw/bus.h"

typedef struct VmmAcpiGed VmmAcpiGed;

typedef struct {
    void (*poweroff)(void *opaque);   /* guest wrote SLP_TYP=S5 | SLP_EN */
    void (*reset)(void *opaque);      /* guest wrote the reset value */
    void *opaque;
} VmmAcpiGedHandlers;

VmmAcpiGed *vmm_acpi_ged_new(VmmBus *mmio, VmmIrq *irq, const VmmAcpiGedHandlers *h,
                             GError **err);
void vmm_acpi_ged_free(VmmAcpiGed *ged);
/* Latch event bits (ACPI_GED_EVT_*) and assert the GED interrupt. */
void vmm_acpi_ged_raise(VmmAcpiGed *ged, uint32_t events);

#endif
