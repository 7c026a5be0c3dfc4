/*
 * vmmd static DSDT, compiled to AML by iasl at build time and copied into
 * guest memory by acpi.c.
 *
 * The platform is ACPI hardware-reduced (see the FADT built in acpi.c):
 * there is no SCI, no GPE block and no PM1 register block. Platform events
 * reach the guest through the Generic Event Device below, and power-off
 * goes through the FADT sleep control register using \_S5.
 *
 * iasl cannot read src/vmm/layout.h (C integer suffixes), so its values are
 * repeated here, each with the name of the constant it must match;
 * tests/unit/test-acpi.c checks the compiled AML against layout.h.
 */
DefinitionBlock ("", "DSDT", 2, "VMMD  ", "VMMDVM  ", 0x00000001)
{
    /* HW-reduced S5: Linux writes SLP_TYP << 2 | SLP_EN to the FADT
     * SLEEP_CONTROL_REG; SLP_TYP = ACPI_SLP_TYP_S5. */
    Name (\_S5, Package () { 5, 0, 0, 0 })

    Scope (\_SB)
    {
        Device (PCI0)
        {
            Name (_HID, EisaId ("PNP0A08"))     /* PCI Express root bridge */
            Name (_CID, EisaId ("PNP0A03"))     /* ... and plain PCI for older OSes */
            Name (_SEG, Zero)
            Name (_BBN, Zero)
            Name (_UID, Zero)
            Name (_CBA, 0xE0000000)             /* LAYOUT_ECAM_BASE, matches MCFG */

            Name (_CRS, ResourceTemplate ()
            {
                WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
                    0x0000,             /* granularity */
                    0x0000,             /* min */
                    0x00FF,             /* max */
                    0x0000,             /* translation */
                    0x0100)             /* length */

                /* Config mechanism #1 ports, consumed by the bridge itself
                 * so nobody hands them out. */
                IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08)

                /* I/O windows around 0xcf8-0xcff. */
                WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
                    0x0000, 0x0000, 0x0CF7, 0x0000, 0x0CF8)
                WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
                    0x0000, 0x0D00, 0xFFFF, 0x0000, 0xF300)

                /* 32-bit BAR window: LAYOUT_PCI_MMIO_BASE, LAYOUT_PCI_MMIO_SIZE. */
                DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed,
                    NonCacheable, ReadWrite,
                    0x00000000,         /* granularity */
                    0xC0000000,         /* min */
                    0xDFFFFFFF,         /* max */
                    0x00000000,         /* translation */
                    0x20000000)         /* length */
            })

            /*
             * The VMM has no native hot-plug controller, AER or PME of its
             * own to keep, so the OS gets every control it asks for (as in
             * QEMU and Firecracker); only the PCI host bridge UUID is known.
             */
            Method (_OSC, 4, NotSerialized)
            {
                CreateDWordField (Arg3, 0, CDW1)
                If (Arg0 == ToUUID ("33db4d5b-1ff7-401c-9657-7441c03dd766"))
                {
                    If (Arg1 != One)
                    {
                        CDW1 |= 0x08            /* unrecognised revision */
                    }
                }
                Else
                {
                    CDW1 |= 0x04                /* unrecognised UUID */
                }
                Return (Arg3)
            }

            /*
             * INTx routing straight to IOAPIC GSIs (no link devices):
             * slot d, pin p (INTA=0..INTD=3) -> GSI_PCI_INTX_BASE + ((d + p) & 3).
             * Static GSIs in _PRT are level-triggered, active-low, shareable.
             */
            Name (_PRT, Package ()
            {
                Package () { 0x0000FFFF, 0, 0, 16 }, Package () { 0x0000FFFF, 1, 0, 17 },
                Package () { 0x0000FFFF, 2, 0, 18 }, Package () { 0x0000FFFF, 3, 0, 19 },
                Package () { 0x0001FFFF, 0, 0, 17 }, Package () { 0x0001FFFF, 1, 0, 18 },
                Package () { 0x0001FFFF, 2, 0, 19 }, Package () { 0x0001FFFF, 3, 0, 16 },
                Package () { 0x0002FFFF, 0, 0, 18 }, Package () { 0x0002FFFF, 1, 0, 19 },
                Package () { 0x0002FFFF, 2, 0, 16 }, Package () { 0x0002FFFF, 3, 0, 17 },
                Package () { 0x0003FFFF, 0, 0, 19 }, Package () { 0x0003FFFF, 1, 0, 16 },
                Package () { 0x0003FFFF, 2, 0, 17 }, Package () { 0x0003FFFF, 3, 0, 18 },
                Package () { 0x0004FFFF, 0, 0, 16 }, Package () { 0x0004FFFF, 1, 0, 17 },
                Package () { 0x0004FFFF, 2, 0, 18 }, Package () { 0x0004FFFF, 3, 0, 19 },
                Package () { 0x0005FFFF, 0, 0, 17 }, Package () { 0x0005FFFF, 1, 0, 18 },
                Package () { 0x0005FFFF, 2, 0, 19 }, Package () { 0x0005FFFF, 3, 0, 16 },
                Package () { 0x0006FFFF, 0, 0, 18 }, Package () { 0x0006FFFF, 1, 0, 19 },
                Package () { 0x0006FFFF, 2, 0, 16 }, Package () { 0x0006FFFF, 3, 0, 17 },
                Package () { 0x0007FFFF, 0, 0, 19 }, Package () { 0x0007FFFF, 1, 0, 16 },
                Package () { 0x0007FFFF, 2, 0, 17 }, Package () { 0x0007FFFF, 3, 0, 18 },
                Package () { 0x0008FFFF, 0, 0, 16 }, Package () { 0x0008FFFF, 1, 0, 17 },
                Package () { 0x0008FFFF, 2, 0, 18 }, Package () { 0x0008FFFF, 3, 0, 19 },
                Package () { 0x0009FFFF, 0, 0, 17 }, Package () { 0x0009FFFF, 1, 0, 18 },
                Package () { 0x0009FFFF, 2, 0, 19 }, Package () { 0x0009FFFF, 3, 0, 16 },
                Package () { 0x000AFFFF, 0, 0, 18 }, Package () { 0x000AFFFF, 1, 0, 19 },
                Package () { 0x000AFFFF, 2, 0, 16 }, Package () { 0x000AFFFF, 3, 0, 17 },
                Package () { 0x000BFFFF, 0, 0, 19 }, Package () { 0x000BFFFF, 1, 0, 16 },
                Package () { 0x000BFFFF, 2, 0, 17 }, Package () { 0x000BFFFF, 3, 0, 18 },
                Package () { 0x000CFFFF, 0, 0, 16 }, Package () { 0x000CFFFF, 1, 0, 17 },
                Package () { 0x000CFFFF, 2, 0, 18 }, Package () { 0x000CFFFF, 3, 0, 19 },
                Package () { 0x000DFFFF, 0, 0, 17 }, Package () { 0x000DFFFF, 1, 0, 18 },
                Package () { 0x000DFFFF, 2, 0, 19 }, Package () { 0x000DFFFF, 3, 0, 16 },
                Package () { 0x000EFFFF, 0, 0, 18 }, Package () { 0x000EFFFF, 1, 0, 19 },
                Package () { 0x000EFFFF, 2, 0, 16 }, Package () { 0x000EFFFF, 3, 0, 17 },
                Package () { 0x000FFFFF, 0, 0, 19 }, Package () { 0x000FFFFF, 1, 0, 16 },
                Package () { 0x000FFFFF, 2, 0, 17 }, Package () { 0x000FFFFF, 3, 0, 18 },
                Package () { 0x0010FFFF, 0, 0, 16 }, Package () { 0x0010FFFF, 1, 0, 17 },
                Package () { 0x0010FFFF, 2, 0, 18 }, Package () { 0x0010FFFF, 3, 0, 19 },
                Package () { 0x0011FFFF, 0, 0, 17 }, Package () { 0x0011FFFF, 1, 0, 18 },
                Package () { 0x0011FFFF, 2, 0, 19 }, Package () { 0x0011FFFF, 3, 0, 16 },
                Package () { 0x0012FFFF, 0, 0, 18 }, Package () { 0x0012FFFF, 1, 0, 19 },
                Package () { 0x0012FFFF, 2, 0, 16 }, Package () { 0x0012FFFF, 3, 0, 17 },
                Package () { 0x0013FFFF, 0, 0, 19 }, Package () { 0x0013FFFF, 1, 0, 16 },
                Package () { 0x0013FFFF, 2, 0, 17 }, Package () { 0x0013FFFF, 3, 0, 18 },
                Package () { 0x0014FFFF, 0, 0, 16 }, Package () { 0x0014FFFF, 1, 0, 17 },
                Package () { 0x0014FFFF, 2, 0, 18 }, Package () { 0x0014FFFF, 3, 0, 19 },
                Package () { 0x0015FFFF, 0, 0, 17 }, Package () { 0x0015FFFF, 1, 0, 18 },
                Package () { 0x0015FFFF, 2, 0, 19 }, Package () { 0x0015FFFF, 3, 0, 16 },
                Package () { 0x0016FFFF, 0, 0, 18 }, Package () { 0x0016FFFF, 1, 0, 19 },
                Package () { 0x0016FFFF, 2, 0, 16 }, Package () { 0x0016FFFF, 3, 0, 17 },
                Package () { 0x0017FFFF, 0, 0, 19 }, Package () { 0x0017FFFF, 1, 0, 16 },
                Package () { 0x0017FFFF, 2, 0, 17 }, Package () { 0x0017FFFF, 3, 0, 18 },
                Package () { 0x0018FFFF, 0, 0, 16 }, Package () { 0x0018FFFF, 1, 0, 17 },
                Package () { 0x0018FFFF, 2, 0, 18 }, Package () { 0x0018FFFF, 3, 0, 19 },
                Package () { 0x0019FFFF, 0, 0, 17 }, Package () { 0x0019FFFF, 1, 0, 18 },
                Package () { 0x0019FFFF, 2, 0, 19 }, Package () { 0x0019FFFF, 3, 0, 16 },
                Package () { 0x001AFFFF, 0, 0, 18 }, Package () { 0x001AFFFF, 1, 0, 19 },
                Package () { 0x001AFFFF, 2, 0, 16 }, Package () { 0x001AFFFF, 3, 0, 17 },
                Package () { 0x001BFFFF, 0, 0, 19 }, Package () { 0x001BFFFF, 1, 0, 16 },
                Package () { 0x001BFFFF, 2, 0, 17 }, Package () { 0x001BFFFF, 3, 0, 18 },
                Package () { 0x001CFFFF, 0, 0, 16 }, Package () { 0x001CFFFF, 1, 0, 17 },
                Package () { 0x001CFFFF, 2, 0, 18 }, Package () { 0x001CFFFF, 3, 0, 19 },
                Package () { 0x001DFFFF, 0, 0, 17 }, Package () { 0x001DFFFF, 1, 0, 18 },
                Package () { 0x001DFFFF, 2, 0, 19 }, Package () { 0x001DFFFF, 3, 0, 16 },
                Package () { 0x001EFFFF, 0, 0, 18 }, Package () { 0x001EFFFF, 1, 0, 19 },
                Package () { 0x001EFFFF, 2, 0, 16 }, Package () { 0x001EFFFF, 3, 0, 17 },
                Package () { 0x001FFFFF, 0, 0, 19 }, Package () { 0x001FFFFF, 1, 0, 16 },
                Package () { 0x001FFFFF, 2, 0, 17 }, Package () { 0x001FFFFF, 3, 0, 18 }
            })
        }

        /* MMCONFIG must sit in a motherboard resource, or Linux refuses
         * to use it (LAYOUT_ECAM_BASE, LAYOUT_ECAM_SIZE). */
        Device (MRES)
        {
            Name (_HID, EisaId ("PNP0C02"))
            Name (_UID, Zero)
            Name (_CRS, ResourceTemplate ()
            {
                Memory32Fixed (ReadWrite, 0xE0000000, 0x10000000)
            })
        }

        /* COM1: PORT_COM1, GSI_COM1. */
        Device (COM1)
        {
            Name (_HID, EisaId ("PNP0501"))
            Name (_UID, One)
            Name (_CRS, ResourceTemplate ()
            {
                IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08)
                IRQNoFlags () { 4 }
            })
        }

        /* i8042 keyboard controller: PORT_I8042_DATA, PORT_I8042_CMD, IRQ 1. */
        Device (KBD)
        {
            Name (_HID, EisaId ("PNP0303"))
            Name (_CRS, ResourceTemplate ()
            {
                IO (Decode16, 0x0060, 0x0060, 0x01, 0x01)
                IO (Decode16, 0x0064, 0x0064, 0x01, 0x01)
                IRQNoFlags () { 1 }
            })
        }

        /* The i8042's aux (PS/2 mouse) port, IRQ 12: the controller has it
         * (nothing is plugged in), and without this device Linux's i8042
         * PNP probe reports the port disabled. QEMU's DSDT has it too. */
        Device (MOU)
        {
            Name (_HID, EisaId ("PNP0F13"))
            Name (_CRS, ResourceTemplate ()
            {
                IRQNoFlags () { 12 }
            })
        }

        /* CMOS RTC: PORT_RTC (index, data), GSI_RTC. */
        Device (RTC)
        {
            Name (_HID, EisaId ("PNP0B00"))
            Name (_CRS, ResourceTemplate ()
            {
                IO (Decode16, 0x0070, 0x0070, 0x01, 0x02)
                IRQNoFlags () { 8 }
            })
        }

        /* Power button as a control-method device; the FADT says so with
         * its PWR_BUTTON flag, and there is no fixed-feature button in a
         * hardware-reduced platform. */
        Device (PWRB)
        {
            Name (_HID, EisaId ("PNP0C0C"))
            Name (_UID, Zero)
        }

        /*
         * Generic Event Device: the VMM sets bits in ESEL and raises GSI_GED
         * (level, active high); the OS runs _EVT, whose read of ESEL returns
         * the pending bits and clears them, letting the VMM lower the line.
         * Same register layout and event bits as QEMU's microvm GED.
         */
        Device (GED)
        {
            Name (_HID, "ACPI0013")
            Name (_UID, Zero)
            Name (_CRS, ResourceTemplate ()
            {
                Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, , , )
                {
                    9                           /* GSI_GED */
                }
            })

            /* LAYOUT_GED_BASE, LAYOUT_GED_SIZE */
            OperationRegion (EREG, SystemMemory, 0xFEB00000, 0x04)
            Field (EREG, DWordAcc, NoLock, WriteAsZeros)
            {
                ESEL, 32
            }

            Method (_EVT, 1, Serialized)
            {
                /* One read: it consumes the pending bits. */
                Local0 = ESEL
                If (Local0 & 0x04)              /* ACPI_GED_EVT_PWR_DOWN */
                {
                    Notify (\_SB.PWRB, 0x80)    /* button pressed */
                }
            }
        }
    }
}
