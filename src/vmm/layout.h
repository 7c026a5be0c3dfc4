/* Guest physical memory map and platform wiring of a vmmd VM.
 * One place for every address the VMM, the ACPI tables and the guest kit
 * agree on; the guest kit discovers most of these through ACPI/e820 but the
 * values here are the ground truth. */
#ifndef VMM_LAYOUT_H
#define VMM_LAYOUT_H

/* --- low RAM, used by the boot loaders -------------------------------- */
#define LAYOUT_BOOT_GDT        0x00000500ULL  /* boot GDT (4 entries)       */
#define LAYOUT_BOOT_IDT        0x00000520ULL  /* empty IDT for the boot     */
#define LAYOUT_PVH_START_INFO  0x00006000ULL  /* struct hvm_start_info      */
#define LAYOUT_PVH_MEMMAP      0x00006040ULL  /* hvm_memmap_table_entry[]   */
#define LAYOUT_ZERO_PAGE       0x00007000ULL  /* Linux struct boot_params   */
#define LAYOUT_BOOT_STACK      0x00008ff0ULL  /* initial RSP/ESP            */
#define LAYOUT_PML4            0x00009000ULL  /* identity page tables:      */
#define LAYOUT_PDPT            0x0000a000ULL  /*   PML4, PDPT, 4 PDs with   */
#define LAYOUT_PD              0x0000b000ULL  /*   2 MiB pages, 0..4 GiB    */
#define LAYOUT_CMDLINE         0x00020000ULL  /* kernel command line        */
#define LAYOUT_CMDLINE_MAX     4096
#define LAYOUT_EBDA_START      0x0009fc00ULL  /* e820: reserved from here   */
#define LAYOUT_ACPI_BASE       0x000e0000ULL  /* RSDP + all ACPI tables     */
#define LAYOUT_ACPI_SIZE       0x00020000ULL  /*   (BIOS area, 128 KiB)     */
#define LAYOUT_HIGH_MEM        0x00100000ULL  /* 1 MiB: kernels load here   */

/* --- 32-bit hole ------------------------------------------------------ */
#define LAYOUT_LOWMEM_END      0xc0000000ULL  /* RAM below 4 GiB ends here  */
#define LAYOUT_PCI_MMIO_BASE   0xc0000000ULL  /* 32-bit PCI BAR window      */
#define LAYOUT_PCI_MMIO_SIZE   0x20000000ULL
#define LAYOUT_ECAM_BASE       0xe0000000ULL  /* PCIe MMCONFIG, buses 0-255 */
#define LAYOUT_ECAM_SIZE       0x10000000ULL
#define LAYOUT_GED_BASE        0xfeb00000ULL  /* ACPI GED event selector    */
#define LAYOUT_GED_SIZE        0x4
#define LAYOUT_ACPI_REGS_BASE  0xfeb00100ULL  /* sleep ctl/sts, reset reg   */
#define LAYOUT_ACPI_REGS_SIZE  0x3
#define LAYOUT_IOAPIC_BASE     0xfec00000ULL
#define LAYOUT_LAPIC_BASE      0xfee00000ULL
#define LAYOUT_HIGHMEM_START   0x100000000ULL /* RAM above 4 GiB            */
#define LAYOUT_TSS_ADDR        0xfffbd000ULL  /* KVM_SET_TSS_ADDR (3 pages) */

/* --- ACPI hardware-reduced registers (offsets from LAYOUT_ACPI_REGS_BASE),
 * the same layout QEMU's microvm uses ---------------------------------- */
#define ACPI_REG_SLEEP_CTL     0x0  /* write SLP_TYP<<2 | SLP_EN(1<<5) */
#define ACPI_REG_SLEEP_STS     0x1
#define ACPI_REG_RESET         0x2  /* write ACPI_RESET_VALUE to reset  */
#define ACPI_RESET_VALUE       0x42
#define ACPI_SLP_TYP_S5        5    /* \_S5 package value               */
#define ACPI_SLP_EN            (1u << 5)
#define ACPI_GED_EVT_PWR_DOWN  0x4  /* power-button bit, as dsdt.asl _EVT tests */

/* --- interrupts (GSIs on the in-kernel IOAPIC) ------------------------ */
#define GSI_KBD                1   /* i8042 keyboard                     */
#define GSI_PIT                2   /* ISA IRQ0 is overridden to GSI 2   */
#define GSI_COM1               4
#define GSI_COM2               3
#define GSI_RTC                8
#define GSI_AUX                12  /* i8042 aux (mouse) port            */
#define GSI_IDE0               14  /* primary IDE channel (ISA, edge)   */
#define GSI_IDE1               15  /* secondary IDE channel             */
#define GSI_GED                9   /* level, active high                */
#define GSI_PCI_INTX_BASE      16  /* INTA..D of slot d: 16+((d+pin)&3) */
#define IOAPIC_NR_PINS         24

/* --- legacy I/O ports ------------------------------------------------- */
#define PORT_COM1              0x3f8
#define PORT_COM2              0x2f8
#define PORT_COM3              0x3e8
#define PORT_COM4              0x2e8
#define PORT_I8042_DATA        0x60
#define PORT_I8042_CMD         0x64
#define PORT_RTC               0x70  /* index 0x70, data 0x71         */
#define PORT_POST              0x80  /* port 0x80 sink                 */
#define PORT_PCI_CONFIG_ADDR   0xcf8
#define PORT_PCI_CONFIG_DATA   0xcfc

#endif
