/* i8042: controller commands, the keyboard behind it, interrupt edges,
 * the reset line, Linux's probe sequence and a hostile guest. Driven
 * through a real pio bus at 0x60/0x64. */
#include "hw/i8042.h"
#include "util/log.h"
#include "vmm/layout.h"

#include <string.h>
#include "test-irq.h"

#define STS_OBF     0x01
#define STS_IBF     0x02
#define STS_SYS     0x04
#define STS_CMD     0x08
#define STS_AUXDATA 0x20
#define STS_TIMEOUT 0x40


typedef struct {
    VmmBus bus;
    VmmI8042 *kbc;
    TestIrq kbd, aux;
    unsigned resets;
} Fixture;

static void on_reset(void *opaque)
{
    Fixture *f = opaque;
    f->resets++;
}

static void fx_setup(Fixture *f, gconstpointer data)
{
    (void)data;
    memset(f, 0, sizeof(*f));
    f->kbd.irq = (VmmIrq){ .set = test_irq_set, .opaque = &f->kbd, .gsi = 1 };
    f->aux.irq = (VmmIrq){ .set = test_irq_set, .opaque = &f->aux, .gsi = 12 };
    f->kbc = vmm_i8042_new(&f->kbd.irq, &f->aux.irq, on_reset, f);
    vmm_bus_init(&f->bus, "pio");
    g_assert_true(vmm_i8042_register(f->kbc, &f->bus, NULL));
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    g_assert_cmpuint(f->kbd.redundant, ==, 0);
    g_assert_cmpuint(f->aux.redundant, ==, 0);
    vmm_bus_destroy(&f->bus);
    vmm_i8042_free(f->kbc);
}

static uint8_t status(Fixture *f)
{
    uint64_t v = 0;
    g_assert_true(vmm_bus_read(&f->bus, PORT_I8042_CMD, 1, &v));
    g_assert_cmphex(v & STS_IBF, ==, 0);        /* commands complete instantly */
    return (uint8_t)v;
}

static uint8_t data_in(Fixture *f)
{
    uint64_t v = 0;
    g_assert_true(vmm_bus_read(&f->bus, PORT_I8042_DATA, 1, &v));
    return (uint8_t)v;
}

static void cmd(Fixture *f, uint8_t c)
{
    g_assert_true(vmm_bus_write(&f->bus, PORT_I8042_CMD, 1, c));
}

static void data_out(Fixture *f, uint8_t v)
{
    g_assert_true(vmm_bus_write(&f->bus, PORT_I8042_DATA, 1, v));
}

/* Read one byte the way Linux's i8042_wait_read() does. */
static uint8_t expect_byte(Fixture *f)
{
    g_assert_cmphex(status(f) & STS_OBF, ==, STS_OBF);
    return data_in(f);
}

static void expect_empty(Fixture *f)
{
    g_assert_cmphex(status(f) & STS_OBF, ==, 0);
}

static uint8_t read_ctr(Fixture *f)
{
    cmd(f, 0x20);
    return expect_byte(f);
}

static void write_ctr(Fixture *f, uint8_t v)
{
    cmd(f, 0x60);
    data_out(f, v);
}

/* ---------------------------------------------------------------------- */

static void test_selftest(Fixture *f, gconstpointer d)
{
    (void)d;
    expect_empty(f);
    g_assert_cmphex(status(f) & STS_SYS, ==, STS_SYS);
    cmd(f, 0xaa);
    g_assert_cmphex(status(f) & (STS_OBF | STS_CMD | STS_AUXDATA), ==, STS_OBF | STS_CMD);
    g_assert_cmphex(data_in(f), ==, 0x55);
    expect_empty(f);
    cmd(f, 0xab);                                /* keyboard interface test */
    g_assert_cmphex(expect_byte(f), ==, 0x00);
    cmd(f, 0xa9);                                /* aux interface test */
    g_assert_cmphex(expect_byte(f), ==, 0x00);
    expect_empty(f);
}

static void test_command_byte(Fixture *f, gconstpointer d)
{
    (void)d;
    g_assert_cmphex(read_ctr(f), ==, 0x65);
    write_ctr(f, 0x47);
    g_assert_cmphex(status(f) & STS_CMD, ==, 0);  /* last write was data */
    g_assert_cmphex(read_ctr(f), ==, 0x47);
    cmd(f, 0xad);
    g_assert_cmphex(read_ctr(f) & 0x10, ==, 0x10);
    cmd(f, 0xae);
    g_assert_cmphex(read_ctr(f) & 0x10, ==, 0x00);
    cmd(f, 0xa7);
    g_assert_cmphex(read_ctr(f) & 0x20, ==, 0x20);
    cmd(f, 0xa8);
    g_assert_cmphex(read_ctr(f) & 0x20, ==, 0x00);
    write_ctr(f, 0x00);
    g_assert_cmphex(status(f) & STS_SYS, ==, 0);  /* SYS follows the command byte */
    g_assert_cmphex(read_ctr(f), ==, 0x00);
    /* The other controller RAM bytes round-trip too. */
    cmd(f, 0x65);
    data_out(f, 0x3c);
    cmd(f, 0x25);
    g_assert_cmphex(expect_byte(f), ==, 0x3c);
}

static void test_keyboard_commands(Fixture *f, gconstpointer d)
{
    (void)d;
    data_out(f, 0xff);                           /* reset */
    g_assert_cmphex(expect_byte(f), ==, 0xfa);
    g_assert_cmphex(expect_byte(f), ==, 0xaa);
    expect_empty(f);
    data_out(f, 0xf2);                           /* identify */
    g_assert_cmphex(expect_byte(f), ==, 0xfa);
    g_assert_cmphex(expect_byte(f), ==, 0xab);
    g_assert_cmphex(expect_byte(f), ==, 0x83);
    data_out(f, 0xed);                           /* LEDs + parameter */
    g_assert_cmphex(expect_byte(f), ==, 0xfa);
    data_out(f, 0x07);
    g_assert_cmphex(expect_byte(f), ==, 0xfa);
    data_out(f, 0xf0);                           /* query the scan code set */
    g_assert_cmphex(expect_byte(f), ==, 0xfa);
    data_out(f, 0x00);
    g_assert_cmphex(expect_byte(f), ==, 0xfa);
    g_assert_cmphex(expect_byte(f), ==, 0x02);
    data_out(f, 0xf5);
    g_assert_cmphex(expect_byte(f), ==, 0xfa);
    data_out(f, 0xf4);
    g_assert_cmphex(expect_byte(f), ==, 0xfa);
    data_out(f, 0xee);                           /* echo */
    g_assert_cmphex(expect_byte(f), ==, 0xee);
    data_out(f, 0xf3);
    data_out(f, 0x20);
    g_assert_cmphex(expect_byte(f), ==, 0xfa);
    g_assert_cmphex(expect_byte(f), ==, 0xfa);
    expect_empty(f);
}

static void test_keyboard_irq_edges(Fixture *f, gconstpointer d)
{
    (void)d;
    /* Command byte 0x65 has the keyboard interrupt on. */
    data_out(f, 0xff);
    g_assert_cmpuint(f->kbd.rises, ==, 1);
    g_assert_cmpint(f->kbd.level, ==, 1);
    g_assert_cmphex(data_in(f), ==, 0xfa);
    /* The next byte must come with its own edge: Linux reads one byte
     * per interrupt. */
    g_assert_cmpuint(f->kbd.rises, ==, 2);
    g_assert_cmpuint(f->kbd.falls, ==, 1);
    g_assert_cmphex(data_in(f), ==, 0xaa);
    g_assert_cmpint(f->kbd.level, ==, 0);
    g_assert_cmpuint(f->aux.rises, ==, 0);

    /* Keyboard interrupt off: data waits, no line. */
    write_ctr(f, 0x64);
    data_out(f, 0xf2);                           /* re-enables the kbd interface only */
    g_assert_cmpint(f->kbd.level, ==, 0);
    g_assert_cmphex(status(f) & STS_OBF, ==, STS_OBF);
    /* Turning it on with a byte waiting raises the line. */
    write_ctr(f, 0x65);
    g_assert_cmpint(f->kbd.level, ==, 1);
    while (status(f) & STS_OBF)
        data_in(f);
    g_assert_cmpint(f->kbd.level, ==, 0);

    /* A disabled keyboard interface holds its bytes back. */
    data_out(f, 0xf2);
    data_in(f);                                  /* FA; AB moves into the buffer */
    cmd(f, 0xad);
    g_assert_cmphex(expect_byte(f), ==, 0xab);   /* already in the output buffer */
    expect_empty(f);                             /* 83 is held by the keyboard */
    cmd(f, 0xae);
    g_assert_cmphex(expect_byte(f), ==, 0x83);
}

static void test_aux_port(Fixture *f, gconstpointer d)
{
    (void)d;
    /* Linux's AUX_LOOP check: the byte returns flagged as aux data. */
    cmd(f, 0xd3);
    data_out(f, 0x5a);
    g_assert_cmphex(status(f) & (STS_OBF | STS_AUXDATA), ==, STS_OBF | STS_AUXDATA);
    g_assert_cmpuint(f->aux.rises, ==, 0);       /* aux interrupt is off at reset */
    g_assert_cmphex(data_in(f), ==, 0x5a);
    /* With the aux interrupt on, IRQ12 (not IRQ1) fires. */
    write_ctr(f, 0x47);
    cmd(f, 0xd3);
    data_out(f, 0xa5);
    g_assert_cmpuint(f->aux.rises, ==, 1);
    g_assert_cmpint(f->kbd.level, ==, 0);
    g_assert_cmphex(data_in(f), ==, 0xa5);
    g_assert_cmpint(f->aux.level, ==, 0);
    /* Nothing is plugged in: a byte for the mouse times out. */
    cmd(f, 0xd4);
    data_out(f, 0xf2);
    g_assert_cmphex(status(f) & (STS_OBF | STS_AUXDATA | STS_TIMEOUT), ==,
                    STS_OBF | STS_AUXDATA | STS_TIMEOUT);
    g_assert_cmphex(data_in(f), ==, 0xfe);
    g_assert_cmphex(status(f) & STS_TIMEOUT, ==, 0);
    /* 0xD2 writes the keyboard output buffer. */
    cmd(f, 0xd2);
    data_out(f, 0x1c);
    g_assert_cmphex(status(f) & (STS_OBF | STS_AUXDATA), ==, STS_OBF);
    g_assert_cmphex(data_in(f), ==, 0x1c);
}

static void test_reset_line(Fixture *f, gconstpointer d)
{
    (void)d;
    cmd(f, 0xfe);
    g_assert_cmpuint(f->resets, ==, 1);
    cmd(f, 0xff);                                /* pulses nothing */
    g_assert_cmpuint(f->resets, ==, 1);
    cmd(f, 0xd0);                                /* output port: reset high, A20 on */
    g_assert_cmphex(expect_byte(f) & 0x03, ==, 0x03);
    cmd(f, 0xd1);
    data_out(f, 0xdf);                           /* the classic A20-enable write */
    g_assert_cmpuint(f->resets, ==, 1);
    cmd(f, 0xd0);
    g_assert_cmphex(expect_byte(f) & 0xcf, ==, 0xcf);
    cmd(f, 0xd1);
    data_out(f, 0xde);                           /* bit 0 low: reset */
    g_assert_cmpuint(f->resets, ==, 2);
    /* A data byte after an abandoned 0xD1 goes to the keyboard instead. */
    cmd(f, 0xd1);
    cmd(f, 0xae);
    data_out(f, 0x00);
    g_assert_cmpuint(f->resets, ==, 2);
    g_assert_cmphex(expect_byte(f), ==, 0xfa);
}

/* The sequence Linux's i8042_probe()/i8042_check_aux() performs. */
static void test_linux_probe(Fixture *f, gconstpointer d)
{
    (void)d;
    int flushed = 0;
    while ((status(f) & STS_OBF) && flushed < 16) {
        data_in(f);
        flushed++;
    }
    g_assert_cmpint(flushed, <, 16);
    g_assert_cmphex(status(f), !=, 0xff);
    cmd(f, 0xaa);
    g_assert_cmphex(expect_byte(f), ==, 0x55);
    uint8_t ctr = read_ctr(f);
    g_assert_cmphex(read_ctr(f), ==, ctr);       /* "stable CTR read" */
    ctr |= 0x10;                                 /* KBDDIS */
    ctr &= ~0x01;
    ctr |= 0x20;
    ctr &= ~0x02;
    write_ctr(f, ctr);
    /* check_aux: loopback, bit assignment test. */
    cmd(f, 0xd3);
    data_out(f, 0x5a);
    g_assert_cmphex(status(f) & STS_AUXDATA, ==, STS_AUXDATA);
    g_assert_cmphex(expect_byte(f), ==, 0x5a);
    write_ctr(f, ctr & ~0x20);
    g_assert_cmphex(read_ctr(f) & 0x20, ==, 0x00);
    write_ctr(f, ctr | 0x20);
    g_assert_cmphex(read_ctr(f) & 0x20, ==, 0x20);
    /* Not a multiplexing controller: the third loop byte comes back as is. */
    static const uint8_t mux[3] = { 0xf0, 0x56, 0xa4 };
    for (int i = 0; i < 3; i++) {
        cmd(f, 0xd3);
        data_out(f, mux[i]);
        g_assert_cmphex(expect_byte(f), ==, mux[i]);
    }
    /* Enable the keyboard port with its interrupt and talk to atkbd-style. */
    write_ctr(f, (ctr & ~0x10) | 0x01);
    data_out(f, 0xf2);
    g_assert_cmpint(f->kbd.level, ==, 1);
    g_assert_cmphex(data_in(f), ==, 0xfa);
    g_assert_cmphex(data_in(f), ==, 0xab);
    g_assert_cmphex(data_in(f), ==, 0x83);
    g_assert_cmpint(f->kbd.level, ==, 0);
}

static void test_device_reset(Fixture *f, gconstpointer d)
{
    (void)d;
    data_out(f, 0xf2);
    g_assert_cmpint(f->kbd.level, ==, 1);
    write_ctr(f, 0x00);
    cmd(f, 0xd1);                                /* left pending */
    vmm_i8042_reset(f->kbc);
    g_assert_cmpint(f->kbd.level, ==, 0);
    expect_empty(f);
    g_assert_cmphex(read_ctr(f), ==, 0x65);
    data_out(f, 0xee);                           /* not taken as output-port data */
    g_assert_cmpuint(f->resets, ==, 0);
    g_assert_cmphex(expect_byte(f), ==, 0xee);
}

static void test_hostile(Fixture *f, gconstpointer d)
{
    (void)d;
    static const unsigned sizes[] = { 0, 1, 2, 3, 4, 8, 16 };
    const VmmRegionOps *ops[2] = { &vmm_i8042_data_ops, &vmm_i8042_cmd_ops };
    for (int round = 0; round < 50000; round++) {
        const VmmRegionOps *o = ops[g_test_rand_int_range(0, 2)];
        uint64_t off = g_test_rand_int_range(0, 3) == 0 ? (uint64_t)g_test_rand_int() : 0;
        unsigned size = sizes[g_test_rand_int_range(0, G_N_ELEMENTS(sizes))];
        uint64_t val = ((uint64_t)g_test_rand_int() << 32) | g_test_rand_int();
        if (g_test_rand_bit())
            o->write(f->kbc, off, val, size);
        else
            (void)o->read(f->kbc, off, size);
    }
    /* Every offset (and a few past the end) x every bus size x random values. */
    for (int o = 0; o < 2; o++) {
        for (uint64_t off = 0; off < 4; off++) {
            for (unsigned sz = 1; sz <= 8; sz *= 2) {
                for (int k = 0; k < 256; k++) {
                    uint64_t val = ((uint64_t)g_test_rand_int() << 32) | g_test_rand_int();
                    ops[o]->write(f->kbc, off, val, sz);
                    (void)ops[o]->read(f->kbc, off, sz);
                }
            }
        }
    }
    /* A guest that never reads: queues stay bounded. */
    for (int i = 0; i < 1000; i++)
        data_out(f, 0xf2);
    int n = 0;
    while ((status(f) & STS_OBF) && n < 1000) {
        data_in(f);
        n++;
    }
    g_assert_cmpint(n, <=, 40);
    /* Every port around the controller, every bus size. */
    for (uint64_t port = 0x5c; port < 0x6c; port++) {
        for (unsigned s = 1; s <= 8; s *= 2) {
            uint64_t v;
            vmm_bus_write(&f->bus, port, s, g_test_rand_int());
            vmm_bus_read(&f->bus, port, s, &v);
        }
    }
    vmm_i8042_reset(f->kbc);
    cmd(f, 0xaa);
    g_assert_cmphex(expect_byte(f), ==, 0x55);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    vmm_log_set_level(VMM_LOG_WARN);   /* the hostile test probes unassigned ports */
#define ADD(path, fn) g_test_add("/i8042/" path, Fixture, NULL, fx_setup, fn, fx_teardown)
    ADD("selftest", test_selftest);
    ADD("command-byte", test_command_byte);
    ADD("keyboard-commands", test_keyboard_commands);
    ADD("keyboard-irq-edges", test_keyboard_irq_edges);
    ADD("aux-port", test_aux_port);
    ADD("reset-line", test_reset_line);
    ADD("linux-probe", test_linux_probe);
    ADD("device-reset", test_device_reset);
    ADD("hostile", test_hostile);
#undef ADD
    return g_test_run();
}
