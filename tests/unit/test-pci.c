/* PCI host: config mechanism #1 and ECAM agree, BAR sizing and mapping. */
#include "hw/pci.h"
#include "vmm/layout.h"

typedef struct { unsigned reads; } BarDev;

static uint64_t bar_read(void *o, uint64_t off, unsigned size)
{
    ((BarDev *)o)->reads++;
    return 0xabcd;
}
static void bar_write(void *o, uint64_t off, uint64_t v, unsigned size) {}
static const VmmRegionOps bar_ops = { "test-bar", bar_read, bar_write };
static const VmmPciDeviceOps dev_ops = { .name = "test-dev" };

static uint32_t cf8_read32(VmmBus *pio, unsigned dev, unsigned reg)
{
    uint64_t v;
    vmm_bus_write(pio, PORT_PCI_CONFIG_ADDR, 4, 0x80000000u | dev << 11 | reg);
    vmm_bus_read(pio, PORT_PCI_CONFIG_DATA, 4, &v);
    return v;
}

static void cf8_write32(VmmBus *pio, unsigned dev, unsigned reg, uint32_t val)
{
    vmm_bus_write(pio, PORT_PCI_CONFIG_ADDR, 4, 0x80000000u | dev << 11 | reg);
    vmm_bus_write(pio, PORT_PCI_CONFIG_DATA, 4, val);
}

static void test_enumerate(void)
{
    VmmBus pio, mmio;
    vmm_bus_init(&pio, "pio");
    vmm_bus_init(&mmio, "mmio");
    VmmPciHost *h = vmm_pci_host_new(&pio, &mmio, NULL);
    g_assert_nonnull(h);
    /* The host bridge at 00:00.0, class 0x0600. */
    g_assert_cmphex(cf8_read32(&pio, 0, 0), ==, 0x00081b36);
    g_assert_cmphex(cf8_read32(&pio, 0, 8) >> 16, ==, 0x0600);
    uint64_t v;
    vmm_bus_read(&mmio, LAYOUT_ECAM_BASE, 4, &v);
    g_assert_cmphex(v, ==, 0x00081b36);
    /* Empty slots, other buses, other functions read as all-ones. */
    g_assert_cmphex(cf8_read32(&pio, 5, 0), ==, 0xffffffff);
    vmm_bus_read(&mmio, LAYOUT_ECAM_BASE + (1 << 20), 4, &v);
    g_assert_cmphex(v, ==, 0xffffffff);
    vmm_bus_read(&mmio, LAYOUT_ECAM_BASE + (1 << 12), 4, &v);
    g_assert_cmphex(v, ==, 0xffffffff);
    /* Enable bit clear: no config cycle. */
    vmm_bus_write(&pio, PORT_PCI_CONFIG_ADDR, 4, 0);
    vmm_bus_read(&pio, PORT_PCI_CONFIG_DATA, 4, &v);
    g_assert_cmphex(v, ==, 0xffffffff);
    /* Byte and word reads through 0xcfc+n. */
    vmm_bus_write(&pio, PORT_PCI_CONFIG_ADDR, 4, 0x80000000u);
    vmm_bus_read(&pio, PORT_PCI_CONFIG_DATA + 2, 2, &v);
    g_assert_cmphex(v, ==, 0x0008);
    /* Read-only registers stay read-only. */
    cf8_write32(&pio, 0, 0, 0x12345678);
    g_assert_cmphex(cf8_read32(&pio, 0, 0), ==, 0x00081b36);
    vmm_pci_host_free(h);
    vmm_bus_destroy(&pio);
    vmm_bus_destroy(&mmio);
}

static void test_bars(void)
{
    VmmBus pio, mmio;
    vmm_bus_init(&pio, "pio");
    vmm_bus_init(&mmio, "mmio");
    VmmPciHost *h = vmm_pci_host_new(&pio, &mmio, NULL);
    VmmPciDevice dev;
    BarDev bd = { 0 };
    vmm_pci_device_init(&dev, &dev_ops, &bd, 0x1af4, 0x1042, 0x010000, 1, 0x1af4, 2);
    vmm_pci_device_set_bar(&dev, 0, 0x4000, false, true, &bar_ops, &bd);
    vmm_pci_device_set_bar(&dev, 2, 0x20, true, false, &bar_ops, &bd);
    g_assert_cmpuint(vmm_pci_device_add_capability(&dev, 0x11, 12), ==, 0x40);
    g_assert_cmpuint(vmm_pci_device_add_capability(&dev, 0x09, 16), ==, 0x4c);
    g_assert_true(vmm_pci_host_add_device(h, &dev, 3, NULL));
    /* Sizing: all-ones reads back the size mask with the type bits. */
    cf8_write32(&pio, 3, 0x10, 0xffffffff);
    g_assert_cmphex(cf8_read32(&pio, 3, 0x10), ==, 0xffffc004);
    cf8_write32(&pio, 3, 0x14, 0xffffffff);
    g_assert_cmphex(cf8_read32(&pio, 3, 0x14), ==, 0xffffffff);
    cf8_write32(&pio, 3, 0x18, 0xffffffff);
    g_assert_cmphex(cf8_read32(&pio, 3, 0x18), ==, 0xffffffe1);
    /* Unimplemented BAR stays zero. */
    cf8_write32(&pio, 3, 0x1c, 0xffffffff);
    g_assert_cmphex(cf8_read32(&pio, 3, 0x1c), ==, 0);
    /* Place and enable: the BAR appears on the bus only with decoding on. */
    cf8_write32(&pio, 3, 0x10, 0xc0004000);
    cf8_write32(&pio, 3, 0x14, 0);
    cf8_write32(&pio, 3, 0x18, 0x1000);
    uint64_t v;
    g_assert_false(vmm_bus_read(&mmio, 0xc0004000, 4, &v));
    cf8_write32(&pio, 3, 0x04, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
    g_assert_true(vmm_bus_read(&mmio, 0xc0004010, 4, &v));
    g_assert_cmphex(v, ==, 0xabcd);
    g_assert_true(vmm_bus_read(&pio, 0x1004, 2, &v));
    /* Moving the BAR moves the region. */
    cf8_write32(&pio, 3, 0x10, 0xc0008000);
    g_assert_false(vmm_bus_read(&mmio, 0xc0004000, 4, &v));
    g_assert_true(vmm_bus_read(&mmio, 0xc0008000, 4, &v));
    /* Capability list is chained. */
    g_assert_cmphex(cf8_read32(&pio, 3, 0x34) & 0xff, ==, 0x40);
    g_assert_cmphex((cf8_read32(&pio, 3, 0x40) >> 8) & 0xff, ==, 0x4c);
    g_assert_cmphex(cf8_read32(&pio, 3, 0x04) >> 16 & PCI_STATUS_CAP_LIST, !=, 0);
    /* INTx line follows the _PRT swizzle. */
    vmm_pci_host_reset(h);
    g_assert_false(vmm_bus_read(&mmio, 0xc0008000, 4, &v));
    /* Hostile: every offset and size, random values; nothing breaks. */
    GRand *r = g_rand_new_with_seed(42);
    for (unsigned off = 0; off < 4096; off++)
        for (unsigned s = 1; s <= 4; s *= 2)
            vmm_bus_write(&mmio, LAYOUT_ECAM_BASE + (3 << 15) + off, s, g_rand_int(r));
    g_rand_free(r);
    vmm_pci_host_free(h);
    vmm_bus_destroy(&pio);
    vmm_bus_destroy(&mmio);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pci/enumerate", test_enumerate);
    g_test_add_func("/pci/bars", test_bars);
    return g_test_run();
}
