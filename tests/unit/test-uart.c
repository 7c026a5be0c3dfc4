/* 16550A UART: registers, FIFOs, loopback, overrun, IIR priorities,
 * interrupt edges, backend coupling, and a hostile guest. The device is
 * driven through a real pio bus at COM1, as a guest would. */
#include "hw/uart.h"
#include "util/log.h"
#include "vmm/layout.h"

#include <string.h>
#include "test-irq.h"

#define BASE PORT_COM1

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3,
       MCR = 4, LSR = 5, MSR = 6, SCR = 7 };


typedef struct {
    VmmBus bus;
    VmmUart *uart;
    TestIrq irq;
    GMutex be_lock;
    GByteArray *out;          /* what tx() received */
    unsigned tx_calls;
    unsigned rx_space_calls;
    bool reenter;             /* tx() calls back into the UART */
} Fixture;

static void be_tx(void *opaque, const uint8_t *buf, size_t len)
{
    Fixture *f = opaque;
    if (f->reenter) {
        /* Must not deadlock: tx() runs without the UART lock. */
        uint8_t echo = 'e';
        if (vmm_uart_can_receive(f->uart) > 0)
            vmm_uart_receive(f->uart, &echo, 1);
    }
    g_mutex_lock(&f->be_lock);
    g_byte_array_append(f->out, buf, (guint)len);
    f->tx_calls++;
    g_mutex_unlock(&f->be_lock);
}

static void be_rx_space(void *opaque)
{
    Fixture *f = opaque;
    g_mutex_lock(&f->be_lock);
    f->rx_space_calls++;
    g_mutex_unlock(&f->be_lock);
}

static void fx_setup(Fixture *f, gconstpointer data)
{
    (void)data;
    memset(f, 0, sizeof(*f));
    g_mutex_init(&f->irq.lock);
    g_mutex_init(&f->be_lock);
    f->irq.irq = (VmmIrq){ .set = test_irq_set, .opaque = &f->irq, .gsi = GSI_COM1 };
    f->out = g_byte_array_new();
    f->uart = vmm_uart_new("serial0", &f->irq.irq, be_tx, be_rx_space, f);
    vmm_bus_init(&f->bus, "pio");
    g_assert_true(vmm_bus_register(&f->bus, BASE, VMM_UART_REGION_LEN, &vmm_uart_ops,
                                   f->uart, NULL));
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    g_assert_cmpuint(f->irq.redundant, ==, 0);   /* only level changes are driven */
    vmm_bus_destroy(&f->bus);
    vmm_uart_free(f->uart);
    g_byte_array_free(f->out, TRUE);
    g_mutex_clear(&f->irq.lock);
    g_mutex_clear(&f->be_lock);
}

static uint8_t in8(Fixture *f, unsigned reg)
{
    uint64_t v = 0;
    g_assert_true(vmm_bus_read(&f->bus, BASE + reg, 1, &v));
    return (uint8_t)v;
}

static void out8(Fixture *f, unsigned reg, uint8_t v)
{
    g_assert_true(vmm_bus_write(&f->bus, BASE + reg, 1, v));
}

static void feed(Fixture *f, const char *s)
{
    vmm_uart_receive(f->uart, (const uint8_t *)s, strlen(s));
}

/* ---------------------------------------------------------------------- */

static void test_reset_values(Fixture *f, gconstpointer d)
{
    (void)d;
    g_assert_cmphex(in8(f, IER), ==, 0x00);
    g_assert_cmphex(in8(f, IIR), ==, 0x01);
    g_assert_cmphex(in8(f, LCR), ==, 0x00);
    g_assert_cmphex(in8(f, MCR), ==, 0x00);
    g_assert_cmphex(in8(f, LSR), ==, 0x60);     /* THRE | TEMT */
    g_assert_cmphex(in8(f, MSR), ==, 0xb0);     /* DCD | DSR | CTS, no deltas */
    g_assert_cmpint(f->irq.level, ==, 0);
    g_assert_cmpuint(vmm_uart_can_receive(f->uart), ==, 1);   /* 16450 mode */
}

static void test_scratch_and_divisor(Fixture *f, gconstpointer d)
{
    (void)d;
    out8(f, SCR, 0x5a);
    g_assert_cmphex(in8(f, SCR), ==, 0x5a);
    out8(f, IER, 0x05);
    out8(f, LCR, 0x83);                          /* DLAB, 8N1 */
    out8(f, DLL, 0x01);
    out8(f, DLM, 0x00);
    g_assert_cmphex(in8(f, DLL), ==, 0x01);
    g_assert_cmphex(in8(f, DLM), ==, 0x00);
    out8(f, DLM, 0x12);
    g_assert_cmphex(in8(f, DLM), ==, 0x12);
    out8(f, LCR, 0x03);
    g_assert_cmphex(in8(f, LCR), ==, 0x03);
    g_assert_cmphex(in8(f, IER), ==, 0x05);      /* DLM writes did not touch IER */
    /* With DLAB set THR writes program the divisor, nothing is sent. */
    out8(f, LCR, 0x80);
    out8(f, THR, 'x');
    g_assert_cmpuint(f->out->len, ==, 0);
    out8(f, LCR, 0x03);
    /* A 16-bit access spans two registers, as on the ISA bus. */
    uint64_t v = 0;
    g_assert_true(vmm_bus_read(&f->bus, BASE + LCR, 2, &v));
    g_assert_cmphex(v, ==, 0x0003);              /* LCR, then MCR */
}

static void test_tx_backend(Fixture *f, gconstpointer d)
{
    (void)d;
    const char *msg = "hello, world\n";
    for (const char *p = msg; *p; p++) {
        out8(f, THR, (uint8_t)*p);
        /* Sent at once: the guest never waits for THRE. */
        g_assert_cmphex(in8(f, LSR) & 0x60, ==, 0x60);
    }
    g_assert_cmpuint(f->out->len, ==, strlen(msg));
    g_assert_cmpmem(f->out->data, f->out->len, msg, strlen(msg));
    g_assert_cmpint(f->irq.level, ==, 0);        /* IER is 0: no interrupt */
}

static void test_tx_reentrant(Fixture *f, gconstpointer d)
{
    (void)d;
    f->reenter = true;
    out8(f, THR, 'a');
    g_assert_cmpuint(f->out->len, ==, 1);
    /* The backend's echo arrived during tx(). */
    g_assert_cmphex(in8(f, LSR) & 0x01, ==, 0x01);
    g_assert_cmphex(in8(f, RBR), ==, 'e');
}

static void test_rx_basic(Fixture *f, gconstpointer d)
{
    (void)d;
    feed(f, "A");
    g_assert_cmphex(in8(f, LSR), ==, 0x61);
    g_assert_cmphex(in8(f, RBR), ==, 'A');
    g_assert_cmphex(in8(f, LSR), ==, 0x60);
    /* 16450 mode holds one character: the next overwrites it (overrun). */
    feed(f, "BC");
    g_assert_cmphex(in8(f, LSR), ==, 0x63);      /* DR | OE */
    g_assert_cmphex(in8(f, LSR), ==, 0x61);      /* OE cleared by the read */
    g_assert_cmphex(in8(f, RBR), ==, 'C');
    g_assert_cmphex(in8(f, RBR), ==, 'C');       /* empty RBR repeats the last byte */
}

static void test_fifo_overrun(Fixture *f, gconstpointer d)
{
    (void)d;
    out8(f, FCR, 0x07);                          /* enable, reset both */
    g_assert_cmphex(in8(f, IIR), ==, 0xc1);      /* FIFOs on, nothing pending */
    g_assert_cmpuint(vmm_uart_can_receive(f->uart), ==, 16);
    feed(f, "0123456789abcdef");
    g_assert_cmpuint(vmm_uart_can_receive(f->uart), ==, 0);
    g_assert_cmphex(in8(f, LSR), ==, 0x61);      /* full, no overrun yet */
    feed(f, "X");                                /* the 17th byte */
    g_assert_cmphex(in8(f, LSR), ==, 0x63);
    g_assert_cmphex(in8(f, LSR), ==, 0x61);
    char got[17] = { 0 };
    for (int i = 0; i < 16; i++)
        got[i] = (char)in8(f, RBR);
    g_assert_cmpstr(got, ==, "0123456789abcdef");
    g_assert_cmphex(in8(f, LSR), ==, 0x60);      /* X was lost */
    /* RX FIFO reset empties it; disabling FIFOs empties it too. */
    feed(f, "abc");
    out8(f, FCR, 0x03);
    g_assert_cmphex(in8(f, LSR) & 0x01, ==, 0);
    feed(f, "abc");
    out8(f, FCR, 0x00);
    g_assert_cmphex(in8(f, LSR) & 0x01, ==, 0);
    g_assert_cmphex(in8(f, IIR), ==, 0x01);      /* FIFO bits gone */
}

static void test_trigger_levels(Fixture *f, gconstpointer d)
{
    (void)d;
    out8(f, IER, 0x01);
    out8(f, FCR, 0xc7);                          /* trigger 14 */
    feed(f, "abcd");
    g_assert_cmphex(in8(f, IIR), ==, 0xcc);      /* below trigger: char timeout */
    feed(f, "efghijklmn");                       /* 14 now */
    g_assert_cmphex(in8(f, IIR), ==, 0xc4);      /* data available */
    for (int i = 0; i < 14; i++)
        in8(f, RBR);
    g_assert_cmphex(in8(f, IIR), ==, 0xc1);
    out8(f, FCR, 0x41);                          /* trigger 4 */
    feed(f, "abcd");
    g_assert_cmphex(in8(f, IIR), ==, 0xc4);
    in8(f, RBR);
    g_assert_cmphex(in8(f, IIR), ==, 0xcc);
}

static void test_loopback(Fixture *f, gconstpointer d)
{
    (void)d;
    out8(f, FCR, 0x07);
    out8(f, MCR, 0x10 | 0x0a);                   /* LOOP | RTS | OUT2 */
    /* Linux's autoconfig loopback check. */
    g_assert_cmphex(in8(f, MSR) & 0xf0, ==, 0x90);
    out8(f, MCR, 0x1f);
    g_assert_cmphex(in8(f, MSR) & 0xf0, ==, 0xf0);
    out8(f, MCR, 0x10);
    g_assert_cmphex(in8(f, MSR), ==, 0x0f);      /* all fell: DCTS DDSR TERI DDCD */
    g_assert_cmphex(in8(f, MSR), ==, 0x00);      /* deltas cleared by the read */

    g_assert_cmpuint(vmm_uart_can_receive(f->uart), ==, 0);
    feed(f, "zz");                               /* input disconnected in loopback */
    g_assert_cmphex(in8(f, LSR) & 0x01, ==, 0);
    out8(f, THR, 'L');
    out8(f, THR, 'B');
    g_assert_cmpuint(f->out->len, ==, 0);        /* nothing reaches the backend */
    g_assert_cmphex(in8(f, LSR), ==, 0x61);
    g_assert_cmphex(in8(f, RBR), ==, 'L');
    g_assert_cmphex(in8(f, RBR), ==, 'B');
    /* Overrun through loopback too. */
    for (int i = 0; i < 17; i++)
        out8(f, THR, (uint8_t)i);
    g_assert_cmphex(in8(f, LSR), ==, 0x63);
    out8(f, MCR, 0x00);
    g_assert_cmphex(in8(f, MSR) & 0xf0, ==, 0xb0);
    out8(f, THR, 'T');
    g_assert_cmpuint(f->out->len, ==, 1);
}

static void test_iir_priorities(Fixture *f, gconstpointer d)
{
    (void)d;
    out8(f, FCR, 0x07);                          /* trigger 1 */
    out8(f, MCR, 0x10 | 0x08);                   /* LOOP | OUT2 */
    for (int i = 0; i < 17; i++)                 /* 16 queued + overrun */
        out8(f, THR, (uint8_t)('a' + i));
    out8(f, MCR, 0x10 | 0x08 | 0x01);            /* DTR -> DSR: modem status delta */
    out8(f, IER, 0x0f);
    g_assert_cmpint(f->irq.level, ==, 1);

    g_assert_cmphex(in8(f, IIR), ==, 0xc6);      /* line status first */
    g_assert_cmphex(in8(f, IIR), ==, 0xc6);      /* reading IIR does not clear it */
    g_assert_cmphex(in8(f, LSR), ==, 0x63);
    g_assert_cmphex(in8(f, IIR), ==, 0xc4);      /* then received data */
    for (int i = 0; i < 16; i++)
        g_assert_cmphex(in8(f, RBR), ==, 'a' + i);
    g_assert_cmphex(in8(f, IIR), ==, 0xc2);      /* then THR empty... */
    g_assert_cmpint(f->irq.level, ==, 1);
    g_assert_cmphex(in8(f, IIR), ==, 0xc0);      /* ...cleared by that read; modem status */
    g_assert_cmphex(in8(f, MSR) & 0x0f, !=, 0);
    g_assert_cmphex(in8(f, IIR), ==, 0xc1);
    g_assert_cmpint(f->irq.level, ==, 0);
}

static void test_thre_edges(Fixture *f, gconstpointer d)
{
    (void)d;
    TestIrq *irq = &f->irq;
    out8(f, MCR, 0x08);                          /* OUT2 */
    out8(f, IER, 0x02);                          /* THR is empty: raises at once */
    g_assert_cmpuint(irq->rises, ==, 1);
    g_assert_cmphex(in8(f, IIR), ==, 0x02);
    g_assert_cmpint(irq->level, ==, 0);          /* cleared by reading IIR */
    g_assert_cmphex(in8(f, IIR), ==, 0x01);

    out8(f, THR, 'x');                           /* THR empties again: new edge */
    g_assert_cmpuint(irq->rises, ==, 2);
    out8(f, THR, 'y');                           /* still pending: no spurious edge */
    g_assert_cmpuint(irq->rises, ==, 2);
    g_assert_cmpint(irq->level, ==, 1);
    g_assert_cmphex(in8(f, IIR), ==, 0x02);
    g_assert_cmpuint(irq->falls, ==, 2);

    /* Disabling drops the line; re-enabling with THR empty raises it. */
    out8(f, THR, 'z');
    g_assert_cmpuint(irq->rises, ==, 3);
    out8(f, IER, 0x00);
    g_assert_cmpint(irq->level, ==, 0);
    out8(f, IER, 0x02);
    g_assert_cmpuint(irq->rises, ==, 4);
    out8(f, IER, 0x00);

    /* Linux 8250 UART_BUG_THRE probe: THRE must be re-asserted. */
    out8(f, IER, 0x02);
    in8(f, IIR);
    out8(f, IER, 0x00);
    out8(f, IER, 0x02);
    g_assert_cmphex(in8(f, IIR) & 0x01, ==, 0x00);
    out8(f, IER, 0x00);

    /* OUT2 gates the line but not IIR. */
    unsigned rises = irq->rises;
    out8(f, MCR, 0x00);
    out8(f, IER, 0x02);
    g_assert_cmpint(irq->level, ==, 0);
    g_assert_cmpuint(irq->rises, ==, rises);
    out8(f, MCR, 0x08);
    g_assert_cmpint(irq->level, ==, 1);
    g_assert_cmpuint(irq->rises, ==, rises + 1);
    out8(f, MCR, 0x00);
    g_assert_cmpint(irq->level, ==, 0);
    g_assert_cmphex(in8(f, IIR), ==, 0x02);
}

static void test_rx_edges(Fixture *f, gconstpointer d)
{
    (void)d;
    TestIrq *irq = &f->irq;
    out8(f, FCR, 0x01);
    out8(f, MCR, 0x08);
    out8(f, IER, 0x01 | 0x04);
    feed(f, "ab");
    g_assert_cmpuint(irq->rises, ==, 1);
    g_assert_cmphex(in8(f, IIR), ==, 0xc4);
    feed(f, "c");                                /* line already up: no new edge */
    g_assert_cmpuint(irq->rises, ==, 1);
    in8(f, RBR);
    in8(f, RBR);
    g_assert_cmpint(irq->level, ==, 1);
    in8(f, RBR);
    g_assert_cmpint(irq->level, ==, 0);          /* guest drained it... */
    feed(f, "d");
    g_assert_cmpuint(irq->rises, ==, 2);         /* ...so new data is a new edge */
    in8(f, RBR);
    /* Overrun is a line-status interrupt until LSR is read. */
    for (int i = 0; i < 17; i++)
        feed(f, "x");
    g_assert_cmphex(in8(f, IIR), ==, 0xc6);
    in8(f, LSR);
    g_assert_cmphex(in8(f, IIR), ==, 0xc4);
}

static void test_flow_control(Fixture *f, gconstpointer d)
{
    (void)d;
    out8(f, FCR, 0x01);
    feed(f, "0123456789abcdef");
    g_assert_cmpuint(vmm_uart_can_receive(f->uart), ==, 0);
    g_assert_cmpuint(f->rx_space_calls, ==, 0);
    in8(f, RBR);                                 /* space appears in a full FIFO */
    g_assert_cmpuint(f->rx_space_calls, ==, 1);
    g_assert_cmpuint(vmm_uart_can_receive(f->uart), ==, 1);
    in8(f, RBR);                                 /* was not full: no new call */
    g_assert_cmpuint(f->rx_space_calls, ==, 1);
    feed(f, "AB");
    out8(f, FCR, 0x03);                          /* FIFO reset frees it all */
    g_assert_cmpuint(f->rx_space_calls, ==, 2);
    out8(f, MCR, 0x10);                          /* loopback: input disconnected */
    g_assert_cmpuint(vmm_uart_can_receive(f->uart), ==, 0);
    out8(f, MCR, 0x00);
    g_assert_cmpuint(f->rx_space_calls, ==, 3);
    g_assert_cmpuint(vmm_uart_can_receive(f->uart), ==, 16);
    /* A backend that honours can_receive never overruns. */
    char buf[40];
    memset(buf, 'q', sizeof(buf));
    size_t room = vmm_uart_can_receive(f->uart);
    vmm_uart_receive(f->uart, (const uint8_t *)buf, MIN(room, sizeof(buf)));
    g_assert_cmphex(in8(f, LSR), ==, 0x61);
}

static void test_reset(Fixture *f, gconstpointer d)
{
    (void)d;
    out8(f, FCR, 0x01);
    out8(f, MCR, 0x08);
    out8(f, IER, 0x0f);
    out8(f, SCR, 0x42);
    feed(f, "0123456789abcdef");
    g_assert_cmpint(f->irq.level, ==, 1);
    vmm_uart_reset(f->uart);
    g_assert_cmpint(f->irq.level, ==, 0);
    g_assert_cmpuint(f->rx_space_calls, ==, 1);
    g_assert_cmphex(in8(f, IER), ==, 0);
    g_assert_cmphex(in8(f, IIR), ==, 0x01);
    g_assert_cmphex(in8(f, LSR), ==, 0x60);
    g_assert_cmphex(in8(f, SCR), ==, 0x42);      /* not affected by master reset */
}

/* ---- concurrency --------------------------------------------------------- */

#define THREAD_BYTES 2000

static gpointer writer_thread(gpointer data)
{
    Fixture *f = data;
    for (int i = 0; i < THREAD_BYTES; i++) {
        vmm_bus_write(&f->bus, BASE + THR, 1, 'w');
        uint64_t v;
        vmm_bus_read(&f->bus, BASE + IIR, 1, &v);
    }
    return NULL;
}

static gpointer reader_thread(gpointer data)
{
    Fixture *f = data;
    for (int i = 0; i < THREAD_BYTES; i++) {
        uint8_t b = (uint8_t)i;
        if (vmm_uart_can_receive(f->uart))
            vmm_uart_receive(f->uart, &b, 1);
        uint64_t v;
        vmm_bus_read(&f->bus, BASE + RBR, 1, &v);
        vmm_bus_read(&f->bus, BASE + LSR, 1, &v);
    }
    return NULL;
}

static void test_threads(Fixture *f, gconstpointer d)
{
    (void)d;
    out8(f, FCR, 0x01);
    out8(f, MCR, 0x08);
    out8(f, IER, 0x0f);
    GThread *t[4];
    t[0] = g_thread_new("w0", writer_thread, f);
    t[1] = g_thread_new("w1", writer_thread, f);
    t[2] = g_thread_new("w2", writer_thread, f);
    t[3] = g_thread_new("r", reader_thread, f);
    for (int i = 0; i < 4; i++)
        g_thread_join(t[i]);
    g_assert_cmpuint(f->out->len, ==, 3 * THREAD_BYTES);   /* nothing lost or doubled */
    /* Drain and check the line ends consistent with IIR. */
    while (in8(f, LSR) & 0x01)
        in8(f, RBR);
    while (!(in8(f, IIR) & 0x01))
        in8(f, MSR);
    g_assert_cmpint(f->irq.level, ==, 0);
}

/* ---- hostile guest -------------------------------------------------------- */

static void test_hostile(Fixture *f, gconstpointer d)
{
    (void)d;
    static const unsigned sizes[] = { 0, 1, 2, 3, 4, 8, 16 };
    for (int round = 0; round < 20000; round++) {
        uint64_t off = g_test_rand_int_range(0, 12);
        if (round % 997 == 0)
            off = G_MAXUINT64 - g_test_rand_int_range(0, 4);   /* wrap-around offsets */
        unsigned size = sizes[g_test_rand_int_range(0, G_N_ELEMENTS(sizes))];
        uint64_t val = ((uint64_t)g_test_rand_int() << 32) | g_test_rand_int();
        /* Straight to the ops: the bus would filter most of these. */
        if (g_test_rand_bit())
            vmm_uart_ops.write(f->uart, off, val, size);
        else
            (void)vmm_uart_ops.read(f->uart, off, size);
        if (round % 7 == 0) {
            uint8_t junk[64];
            for (size_t i = 0; i < sizeof(junk); i++)
                junk[i] = (uint8_t)g_test_rand_int();
            size_t n = g_test_rand_int_range(0, sizeof(junk));
            vmm_uart_receive(f->uart, junk, n);
        }
        if (round % 5000 == 0)
            vmm_uart_reset(f->uart);
    }
    /* Every offset (and a few past the end) x every bus size x random values. */
    for (uint64_t off = 0; off < VMM_UART_REGION_LEN + 4; off++) {
        for (unsigned sz = 1; sz <= 8; sz *= 2) {
            for (int k = 0; k < 64; k++) {
                uint64_t val = ((uint64_t)g_test_rand_int() << 32) | g_test_rand_int();
                vmm_uart_ops.write(f->uart, off, val, sz);
                (void)vmm_uart_ops.read(f->uart, off, sz);
            }
        }
    }
    /* And through the bus at every port and size. */
    for (unsigned port = 0; port < 16; port++) {
        for (unsigned s = 1; s <= 8; s *= 2) {
            uint64_t v;
            vmm_bus_write(&f->bus, BASE - 4 + port, s, g_test_rand_int());
            vmm_bus_read(&f->bus, BASE - 4 + port, s, &v);
        }
    }
    /* Still a working UART afterwards. */
    vmm_uart_reset(f->uart);
    out8(f, LCR, 0x03);
    out8(f, SCR, 0xa5);
    g_assert_cmphex(in8(f, SCR), ==, 0xa5);
    g_assert_cmphex(in8(f, IIR), ==, 0x01);
    g_assert_cmpint(f->irq.level, ==, 0);
    guint before = f->out->len;
    out8(f, THR, '!');
    g_assert_cmpuint(f->out->len, ==, before + 1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    vmm_log_set_level(VMM_LOG_WARN);   /* the hostile test probes unassigned ports */
#define ADD(path, fn) g_test_add("/uart/" path, Fixture, NULL, fx_setup, fn, fx_teardown)
    ADD("reset-values", test_reset_values);
    ADD("scratch-divisor", test_scratch_and_divisor);
    ADD("tx-backend", test_tx_backend);
    ADD("tx-reentrant", test_tx_reentrant);
    ADD("rx-basic", test_rx_basic);
    ADD("fifo-overrun", test_fifo_overrun);
    ADD("trigger-levels", test_trigger_levels);
    ADD("loopback", test_loopback);
    ADD("iir-priorities", test_iir_priorities);
    ADD("thre-edges", test_thre_edges);
    ADD("rx-edges", test_rx_edges);
    ADD("flow-control", test_flow_control);
    ADD("reset", test_reset);
    ADD("threads", test_threads);
    ADD("hostile", test_hostile);
#undef ADD
    return g_test_run();
}
