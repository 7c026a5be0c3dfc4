/* libFuzzer target for the emulated platform devices a guest programs by
 * register: the 16550A UART, the i8042, the CMOS RTC, the PCI host bridge
 * (0xcf8/0xcfc and ECAM) and the ACPI GED, each created on its real bus
 * exactly as the VM does, driven through vmm_bus_read/write by arbitrary
 * access sequences. Interrupt lines record their levels; a level outside
 * 0/1 or a device driving a line it never raised low would abort here.
 *
 * Input: records of 8 bytes:
 *   [0] bit 0: write; bits 1-3: device (uart, i8042, rtc, pci-cf8, ecam, ged)
 *   [1] size: 1 << (b & 3)
 *   [2..3] offset in the device's window (little-endian, reduced modulo it)
 *   [4..7] value (writes)
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-devices. */
#include "hw/acpi_ged.h"
#include "hw/bus.h"
#include "hw/i8042.h"
#include "hw/pci.h"
#include "hw/rtc.h"
#include "hw/uart.h"
#include "vmm/layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    VmmIrq irq;
    int level;
} Line;

static void line_set(VmmIrq *irq, int level)
{
    Line *l = irq->opaque;
    if (level != 0 && level != 1) {
        fprintf(stderr, "fuzz-devices: irq %u driven to %d\n", irq->gsi, level);
        abort();
    }
    l->level = level;
}

static unsigned resets, poweroffs;
static void on_reset(void *opaque) { (void)opaque; resets++; }
static void on_poweroff(void *opaque) { (void)opaque; poweroffs++; }

static const struct {
    int bus;                 /* 0 pio, 1 mmio */
    uint64_t base, len;
} windows[] = {
    { 0, PORT_COM1, 8 },
    { 0, PORT_I8042_DATA, 5 },           /* 0x60 and 0x64 */
    { 0, PORT_RTC, 2 },
    { 0, PORT_PCI_CONFIG_ADDR, 8 },
    { 1, LAYOUT_ECAM_BASE, 1 << 20 },     /* bus 0 */
    { 1, LAYOUT_GED_BASE, 16 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    VmmBus pio, mmio;
    vmm_bus_init(&pio, "pio");
    vmm_bus_init(&mmio, "mmio");
    Line lines[4] = { 0 };
    for (unsigned i = 0; i < 4; i++) {
        lines[i].irq = (VmmIrq){ line_set, &lines[i], i };
    }
    VmmUart *uart = vmm_uart_new("serial0", &lines[0].irq, NULL, NULL, NULL);
    VmmI8042 *kbc = vmm_i8042_new(&lines[1].irq, &lines[2].irq, on_reset, NULL);
    VmmRtc *rtc = vmm_rtc_new(&lines[3].irq, false);
    VmmAcpiGedHandlers h = { on_poweroff, on_reset, NULL };
    if (!vmm_bus_register(&pio, PORT_COM1, 8, &vmm_uart_ops, uart, NULL) ||
        !vmm_i8042_register(kbc, &pio, NULL) ||
        !vmm_bus_register(&pio, PORT_RTC, 2, &vmm_rtc_ops, rtc, NULL))
        abort();
    VmmPciHost *pci = vmm_pci_host_new(&pio, &mmio, NULL);
    VmmAcpiGed *ged = vmm_acpi_ged_new(&mmio, &lines[0].irq, &h, NULL);
    if (!pci || !ged)
        abort();

    for (size_t at = 0; at + 8 <= size; at += 8) {
        const uint8_t *r = data + at;
        unsigned dev = (r[0] >> 1) % G_N_ELEMENTS(windows);
        unsigned sz = 1u << (r[1] & 3);
        uint64_t off = (uint64_t)(r[2] | r[3] << 8) % windows[dev].len;
        uint64_t value = (uint64_t)r[4] | (uint64_t)r[5] << 8 | (uint64_t)r[6] << 16 |
                         (uint64_t)r[7] << 24;
        VmmBus *bus = windows[dev].bus ? &mmio : &pio;
        uint64_t addr = windows[dev].base + off;
        if (r[0] & 1) {
            vmm_bus_write(bus, addr, sz, value);
        } else {
            uint64_t v = 0;
            vmm_bus_read(bus, addr, sz, &v);
            if (sz < 8 && (v >> (8 * sz)) != 0) {
                fprintf(stderr, "fuzz-devices: %u-byte read at 0x%llx returned 0x%llx\n", sz,
                        (unsigned long long)addr, (unsigned long long)v);
                abort();
            }
        }
    }

    vmm_acpi_ged_free(ged);
    vmm_pci_host_free(pci);
    vmm_rtc_free(rtc);
    vmm_i8042_free(kbc);
    vmm_uart_free(uart);
    vmm_bus_destroy(&pio);
    vmm_bus_destroy(&mmio);
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "devices");
}
#endif
