/* The bus: registration, overlap rejection, dispatch, unknown addresses. */
#include "hw/bus.h"

typedef struct {
    uint64_t last_off, last_val;
    unsigned last_size, reads, writes;
} Dev;

static uint64_t dev_read(void *o, uint64_t off, unsigned size)
{
    Dev *d = o;
    d->reads++;
    d->last_off = off;
    d->last_size = size;
    return 0x1122334455667788ULL;
}

static void dev_write(void *o, uint64_t off, uint64_t v, unsigned size)
{
    Dev *d = o;
    d->writes++;
    d->last_off = off;
    d->last_val = v;
    d->last_size = size;
}

static const VmmRegionOps ops_a = { "dev-a", dev_read, dev_write };
static const VmmRegionOps ops_b = { "dev-b", dev_read, dev_write };

static void test_dispatch(void)
{
    VmmBus bus;
    Dev a = { 0 }, b = { 0 };
    vmm_bus_init(&bus, "pio");
    g_assert_true(vmm_bus_register(&bus, 0x3f8, 8, &ops_a, &a, NULL));
    g_assert_true(vmm_bus_register(&bus, 0x60, 1, &ops_b, &b, NULL));
    uint64_t v;
    g_assert_true(vmm_bus_read(&bus, 0x3fa, 1, &v));
    g_assert_cmphex(v, ==, 0x88);
    g_assert_cmpuint(a.last_off, ==, 2);
    g_assert_true(vmm_bus_write(&bus, 0x60, 1, 0x1fe));
    g_assert_cmphex(b.last_val, ==, 0xfe);   /* truncated to the access size */
    g_assert_true(vmm_bus_read(&bus, 0x3f8, 4, &v));
    g_assert_cmphex(v, ==, 0x55667788);
    vmm_bus_destroy(&bus);
}

static void test_overlap(void)
{
    VmmBus bus;
    Dev a = { 0 };
    g_autoptr(GError) err = NULL;
    vmm_bus_init(&bus, "mmio");
    g_assert_true(vmm_bus_register(&bus, 0x1000, 0x100, &ops_a, &a, NULL));
    g_assert_false(vmm_bus_register(&bus, 0x10ff, 1, &ops_b, &a, &err));
    g_assert_nonnull(strstr(err->message, "dev-a"));
    g_assert_nonnull(strstr(err->message, "dev-b"));
    g_clear_error(&err);
    g_assert_false(vmm_bus_register(&bus, 0xfff, 2, &ops_b, &a, &err));
    g_clear_error(&err);
    g_assert_false(vmm_bus_register(&bus, ~0ULL - 1, 4, &ops_b, &a, &err));  /* wraps */
    g_clear_error(&err);
    g_assert_true(vmm_bus_register(&bus, 0x1100, 1, &ops_b, &a, NULL));     /* adjacent */
    vmm_bus_unregister(&bus, 0x1000);
    g_assert_true(vmm_bus_register(&bus, 0x1000, 0x100, &ops_a, &a, NULL));
    vmm_bus_destroy(&bus);
}

static void test_unknown(void)
{
    VmmBus bus;
    Dev a = { 0 };
    vmm_bus_init(&bus, "pio");
    g_assert_true(vmm_bus_register(&bus, 0x70, 2, &ops_a, &a, NULL));
    uint64_t v = 0;
    g_assert_false(vmm_bus_read(&bus, 0x1234, 2, &v));
    g_assert_cmphex(v, ==, 0xffff);
    g_assert_false(vmm_bus_read(&bus, 0x1234, 8, &v));
    g_assert_cmphex(v, ==, ~0ULL);
    /* Straddling the end of a region is not the device's access. */
    g_assert_false(vmm_bus_read(&bus, 0x71, 2, &v));
    g_assert_false(vmm_bus_write(&bus, 0x71, 4, 0));
    g_assert_cmpuint(a.reads + a.writes, ==, 0);
    /* Odd sizes are refused, not passed on. */
    g_assert_false(vmm_bus_read(&bus, 0x70, 3, &v));
    /* Many distinct unknown addresses: logged once each, bounded memory. */
    for (uint64_t p = 0; p < 10000; p++)
        vmm_bus_write(&bus, 0x100000 + p, 1, p);
    g_assert_cmpuint(g_hash_table_size(bus.unknown_seen), <=, 65);
    vmm_bus_destroy(&bus);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/bus/dispatch", test_dispatch);
    g_test_add_func("/bus/overlap", test_overlap);
    g_test_add_func("/bus/unknown", test_unknown);
    return g_test_run();
}
