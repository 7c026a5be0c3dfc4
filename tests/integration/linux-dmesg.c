#include "linux-dmesg.h"

#include <stdbool.h>
#include <string.h>

/* Each pattern names what it is about; matching is case-insensitive. They
 * are written against the messages Linux 6.1 prints for broken or
 * incomplete firmware tables and devices (drivers/acpi, arch/x86/pci,
 * drivers/pci/msi, drivers/tty/serial/8250, drivers/rtc/rtc-cmos.c,
 * drivers/input/serio/i8042*, drivers/virtio, drivers/ata, drivers/net). */
static const struct { const char *name, *regex; } patterns[] = {
    { "firmware", "\\[Firmware (Bug|Warn|Info)\\]" },
    { "acpi", "ACPI ?(BIOS )?(Error|Warning|Exception)" },
    { "acpi", "ACPI: .*(failed|invalid|unable|not found|bad|mismatch|corrupt)" },
    /* Before "pci": virtio-pci lines are virtio's. */
    { "virtio", "virtio.*(error|failed|failure|broken|unsupported|timeout)" },
    { "pci", "(PCI|pci|MMCONFIG|ECAM).*(not reserved|conflict|can't claim|failed|"
             "no compatible bridge window|invalid|disabled|unable)" },
    { "interrupts", "(irq|IRQ|MSI|msi|APIC|apic).*(nobody cared|No irq handler|failed|"
                    "error|spurious|not found|disabled|bogus)" },
    { "uart", "(serial|8250|ttyS).*(error|failed|overrun|unknown|not found|timeout)" },
    { "rtc", "(rtc|RTC|hwclock|cmos).*(error|failed|invalid|not found|timed out|can't)" },
    { "i8042", "(i8042|serio|atkbd|PNP: PS/2).*(error|fail|timeout|No controller|"
               "disabled|can't|incorrect|spurious)" },
    { "kernel", "(WARNING:|BUG:|Oops|Call Trace|Kernel panic|general protection|"
                "segfault|soft lockup|hung task|taint|unable to open an initial console)" },
    { "clock", "(TSC|clocksource|timekeeping).*(unstable|doesn't count|skewed|"
               "marking|watchdog|failed)" },
    /* libata's error handling: a command that failed or timed out and was
     * recovered (reset, retried slower) still passes the data checks. */
    { "ata", "(ata[0-9]+|ahci|ata_piix|scsi|\\b(sd|sr) [0-9]).*(exception|failed|timeout|"
             "timed out|error|hard resetting|limiting speed|disabled due)" },
    /* NIC watchdogs and error interrupts, recovered by a reset. */
    { "net", "(e1000|8139cp|NETDEV WATCHDOG|eth[0-9]+).*(timeout|timed out|hang|error|"
             "failed|reset)" },
};

/* Lines the patterns catch that are not complaints about vmmd. */
static const char *const benign[] = {
    /* The test kernel has no PCIe port services (CONFIG_PCIEPORTBUS). */
    "PCIe port services disabled; not requesting _OSC control",
    /* A statement of the 8250 driver's configuration. */
    "Serial: 8250/16550 driver, ",
    /* The kernel's echo of its command line ("Command line:" and "Kernel
     * command line:"): console=ttyS0 and rcu_cpu_stall_timeout= are input,
     * not complaints. */
    "ommand line: ",
};

static bool is_benign(const char *line)
{
    for (size_t i = 0; i < G_N_ELEMENTS(benign); i++)
        if (strstr(line, benign[i]))
            return true;
    return false;
}

GPtrArray *linux_dmesg_complaints(const char *log, const char *skip_prefix)
{
    static GRegex *re[G_N_ELEMENTS(patterns)];
    for (size_t i = 0; i < G_N_ELEMENTS(patterns); i++) {
        if (!re[i]) {
            g_autoptr(GError) err = NULL;
            re[i] = g_regex_new(patterns[i].regex, G_REGEX_CASELESS | G_REGEX_OPTIMIZE, 0, &err);
            g_assert_no_error(err);
        }
    }
    GPtrArray *found = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
    for (size_t l = 0; lines[l]; l++) {
        const char *line = lines[l];
        if ((skip_prefix && strstr(line, skip_prefix) == line) || is_benign(line))
            continue;
        for (size_t i = 0; i < G_N_ELEMENTS(patterns); i++) {
            if (g_regex_match(re[i], line, 0, NULL)) {
                g_autofree char *text = g_strchomp(g_strdup(line));
                g_ptr_array_add(found, g_strdup_printf("%s: %s", patterns[i].name, text));
                break;
            }
        }
    }
    return found;
}
