/* The Linux test's list of kernel log complaints about vmmd's devices:
 * warnings and errors about the ACPI tables, PCI/ECAM, interrupts, the
 * UART, the RTC, the i8042 and virtio, plus generic kernel warnings. */
#ifndef VMM_TEST_LINUX_DMESG_H
#define VMM_TEST_LINUX_DMESG_H

#include <glib.h>

/* The lines of `log` that match a complaint pattern (newly allocated
 * strings), each prefixed with the pattern's name: "acpi: <line>". Lines
 * starting with `skip_prefix` (the guest's own reports) are not kernel
 * log and are ignored. */
GPtrArray *linux_dmesg_complaints(const char *log, const char *skip_prefix);

#endif
