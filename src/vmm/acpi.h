/* ACPI tables of a vmmd VM: RSDP, XSDT, FADT, DSDT, MADT and MCFG, built
 * at VM creation into the BIOS area of guest memory. The platform they
 * describe is ACPI hardware-reduced: events come through the Generic Event
 * Device and power-off/reset through the registers at LAYOUT_ACPI_REGS_BASE
 * (src/hw/acpi_ged.c), which is what makes these tables true. */
#ifndef VMM_ACPI_H
#define VMM_ACPI_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* xAPIC ids are 8 bits and 0xff is the broadcast id. */
#define VMM_ACPI_MAX_CPUS   255

/* The in-kernel IOAPIC's ID register resets to 0 and is only 4 bits wide,
 * so no id can stay clear of the LAPIC ids of a large VM anyway; since the
 * P4/xAPIC, IOAPIC and LAPIC ids no longer share one APIC bus (QEMU and
 * Firecracker use 0 too). */
#define VMM_ACPI_IOAPIC_ID  0

typedef struct {
    unsigned nr_cpus;
    /* APIC id of each CPU (nr_cpus entries, the boot CPU's 0 first, each
     * at most 254; the topology's, see vmm_cpu_apic_id), or NULL for ids
     * 0..nr_cpus-1. The MADT's processor UIDs are 0..nr_cpus-1. */
    const uint32_t *apic_ids;
} VmmAcpiConfig;

#define VMM_ACPI_ERROR (vmm_acpi_error_quark())
GQuark vmm_acpi_error_quark(void);

typedef enum {
    VMM_ACPI_ERROR_INVALID,   /* bad configuration or base address */
    VMM_ACPI_ERROR_NO_SPACE,  /* the tables do not fit in the buffer */
} VmmAcpiError;

/* Lays out RSDP, XSDT, FADT, DSDT, MADT and MCFG into buf, which is guest
 * memory at guest-physical base_gpa, `size` bytes long (the VMM passes
 * LAYOUT_ACPI_BASE/LAYOUT_ACPI_SIZE, inside 0xe0000-0xfffff so legacy RSDP
 * scans find it). The RSDP is at the start of buf; *rsdp_gpa gets its
 * address. The whole buffer is rewritten (unused bytes are zeroed).
 * Fails, leaving *rsdp_gpa alone, when base_gpa is not 16-byte aligned,
 * nr_cpus is not 1..VMM_ACPI_MAX_CPUS, an APIC id is above 254 or the
 * boot CPU's is not 0, or the tables do not fit. */
bool vmm_acpi_build(uint8_t *buf, uint64_t base_gpa, size_t size,
                    const VmmAcpiConfig *cfg, uint64_t *rsdp_gpa, GError **err);

#endif
