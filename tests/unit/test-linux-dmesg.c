/* The Linux test's kernel-log matcher (tests/integration/linux-dmesg.c):
 * it passes a clean log and catches a planted complaint of every kind. */
#include "../integration/linux-dmesg.h"

#include <glib.h>

/* Lines from a clean boot of the test kernel on vmm-worker. */
static const char clean_log[] =
    "[    0.000000] Linux version 6.1.0 (root@host) #1 SMP\n"
    "[    0.000000] Command line: console=ttyS0 rdinit=/init panic=-1 noxsave "
    "rcupdate.rcu_cpu_stall_timeout=300\n"
    "[   10.368420] Kernel command line: console=ttyS0 rdinit=/init panic=-1 noxsave "
    "rcupdate.rcu_cpu_stall_timeout=300\n"
    "[    0.000000] ACPI: RSDP 0x00000000000E0000 000024 (v02 VMMD  )\n"
    "[    0.000000] ACPI: MCFG 0x000000000009F1C0 00003C (v01 VMMD   VMMDMCFG 00000001 VMMD 00000001)\n"
    "[    0.010000] PCI: MMCONFIG for domain 0000 [bus 00-00] at [mem 0xb0000000-0xb00fffff] (base 0xb0000000)\n"
    "[    0.020000] pci 0000:00:01.0: [1af4:1042] type 00 class 0x010000\n"
    "[    0.030000] virtio_blk virtio0: [vda] 16384 512-byte logical blocks (8.39 MB/8.00 MiB)\n"
    "[    0.035000] acpi PNP0A08:00: PCIe port services disabled; not requesting _OSC control\n"
    "[    0.036000] Serial: 8250/16550 driver, 4 ports, IRQ sharing disabled\n"
    "[    0.040000] serial8250: ttyS0 at I/O 0x3f8 (irq = 4, base_baud = 115200) is a 16550A\n"
    "[    0.050000] rtc_cmos 00:00: RTC can wake from S4\n"
    "[    0.060000] serio: i8042 KBD port at 0x60,0x64 irq 1\n"
    "[    0.070000] input: AT Translated Set 2 keyboard as /devices/platform/i8042/serio0/input/input1\n"
    "[    0.080000] scsi host0: ata_piix\n"
    "[    0.080000] ata1: PATA max MWDMA2 cmd 0x1f0 ctl 0x3f6 bmdma 0xc040 irq 24\n"
    "[    0.090000] ahci 0000:00:1f.0: AHCI 0001.0300 32 slots 6 ports 3 Gbps 0x3f impl SATA mode\n"
    "[    0.090000] ahci 0000:00:1f.0: flags: 64bit ncq stag only pio \n"
    "[    0.100000] ata7: SATA link up 3.0 Gbps (SStatus 123 SControl 300)\n"
    "[    0.100000] ata8: SATA link down (SStatus 0 SControl 300)\n"
    "[    0.110000] ata7.00: configured for UDMA/133\n"
    "[    0.120000] sd 6:0:0:0: [sdb] Write cache: enabled, read cache: enabled, doesn't support DPO or FUA\n"
    "[    0.130000] e1000 0000:00:06.0 eth1: (PCI:33MHz:32-bit) 52:54:00:4c:1e:02\n"
    "[    0.140000] e1000: eth1 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: RX\n"
    "[    0.150000] 8139cp 0000:00:07.0 eth2: RTL-8139C+ at 0x(____ptrval____), 52:54:00:4c:1e:03, IRQ 25\n"
    "linux: {\"check\":\"rtc\",\"hwclock\":\"error: ignored, a report not a kernel line\"}\n";

static void test_clean(void)
{
    g_autoptr(GPtrArray) c = linux_dmesg_complaints(clean_log, "linux: ");
    for (guint i = 0; i < c->len; i++)
        g_test_message("unexpected: %s", (char *)c->pdata[i]);
    g_assert_cmpuint(c->len, ==, 0);
}

/* One planted line per kind of complaint, each from a real Linux message. */
static const struct { const char *kind, *line; } planted[] = {
    { "firmware", "[    0.100000] [Firmware Bug]: TSC doesn't count with P0 frequency!" },
    { "acpi", "[    0.200000] ACPI BIOS Error (bug): Could not resolve symbol [\\_SB.PCI0], AE_NOT_FOUND" },
    { "acpi", "[    0.200000] ACPI: Unable to map lapic to logical cpu number" },
    { "pci", "[    0.300000] PCI: MMCONFIG at [mem 0xb0000000-0xbfffffff] not reserved in ACPI motherboard resources" },
    { "interrupts", "[    0.400000] irq 11: nobody cared (try booting with the \"irqpoll\" option)" },
    { "uart", "[    0.500000] serial8250: too much work for irq4, overrun" },
    { "rtc", "[    0.600000] rtc_cmos 00:00: hctosys: unable to read the hardware clock, error -22" },
    { "i8042", "[    0.700000] i8042: PNP: PS/2 appears to have AUX port disabled, if this is incorrect please boot with i8042.nopnp" },
    { "virtio", "[    0.800000] virtio-pci 0000:00:01.0: virtio: device uses modern interface but does not have VIRTIO_F_VERSION_1, failed" },
    { "kernel", "[    0.900000] WARNING: CPU: 0 PID: 1 at arch/x86/kernel/fpu/core.c:100 fpu__drop" },
    { "clock", "[    1.000000] clocksource: Marking clocksource 'tsc' as unstable because the skew is too large" },
    { "ata", "[    1.100000] ata7.00: exception Emask 0x0 SAct 0x1 SErr 0x0 action 0x6 frozen" },
    { "ata", "[    1.100000] ata7: hard resetting link" },
    { "ata", "[    1.100000] sd 6:0:0:0: [sdb] tag#0 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK" },
    { "net", "[    1.200000] 8139cp 0000:00:07.0 eth2: Transmit timeout, status  d   2b    5 80ff" },
    { "net", "[    1.200000] NETDEV WATCHDOG: eth1 (e1000): transmit queue 0 timed out" },
};

static void test_planted(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(planted); i++) {
        g_autofree char *log = g_strconcat(clean_log, planted[i].line, "\n", NULL);
        g_autoptr(GPtrArray) c = linux_dmesg_complaints(log, "linux: ");
        g_assert_cmpuint(c->len, ==, 1);
        g_autofree char *want = g_strdup_printf("%s: %s", planted[i].kind, planted[i].line);
        g_assert_cmpstr(c->pdata[0], ==, want);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/linux-dmesg/clean", test_clean);
    g_test_add_func("/linux-dmesg/planted", test_planted);
    return g_test_run();
}
