/* MC146818 RTC/CMOS: time formats, host time, NVRAM, setting the clock,
 * UIP, interrupt flags and IRQ8, memory-size bytes, and a hostile guest.
 * Most tests run on a fake host clock so they are exact and instant; the
 * host-time, UIP and timer tests use the real one. */
#include "hw/rtc.h"
#include "util/log.h"
#include "vmm/layout.h"

#include <string.h>
#include "test-irq.h"

#define USEC 1000000LL


typedef struct {
    VmmBus bus;
    VmmRtc *rtc;
    TestIrq irq;
    int64_t now_us;        /* the fake host clock */
} Fixture;

static int64_t fake_clock(void *opaque)
{
    return ((Fixture *)opaque)->now_us;
}

static int64_t utc_us(int y, int mo, int d, int h, int mi, int s)
{
    GDateTime *dt = g_date_time_new_utc(y, mo, d, h, mi, s);
    int64_t v = g_date_time_to_unix(dt) * USEC;
    g_date_time_unref(dt);
    return v;
}

static void fx_init(Fixture *f, bool localtime, bool fake)
{
    memset(f, 0, sizeof(*f));
    f->irq.irq = (VmmIrq){ .set = test_irq_set, .opaque = &f->irq, .gsi = GSI_RTC };
    f->rtc = vmm_rtc_new(&f->irq.irq, localtime);
    if (fake) {
        f->now_us = utc_us(2024, 2, 29, 13, 45, 56) + 250000;   /* a Thursday */
        vmm_rtc_set_clock(f->rtc, fake_clock, f);
    }
    vmm_bus_init(&f->bus, "pio");
    g_assert_true(vmm_bus_register(&f->bus, PORT_RTC, VMM_RTC_REGION_LEN, &vmm_rtc_ops,
                                   f->rtc, NULL));
}

static void fx_setup(Fixture *f, gconstpointer data)
{
    (void)data;
    fx_init(f, false, true);
}

static void fx_setup_real(Fixture *f, gconstpointer data)
{
    (void)data;
    fx_init(f, false, false);
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
    (void)data;
    g_assert_cmpuint(f->irq.redundant, ==, 0);
    vmm_bus_destroy(&f->bus);
    vmm_rtc_free(f->rtc);
}

static uint8_t cmos_in(Fixture *f, uint8_t idx)
{
    uint64_t v = 0;
    g_assert_true(vmm_bus_write(&f->bus, PORT_RTC, 1, idx | 0x80));   /* NMI bit set */
    g_assert_true(vmm_bus_read(&f->bus, PORT_RTC + 1, 1, &v));
    return (uint8_t)v;
}

static void cmos_out(Fixture *f, uint8_t idx, uint8_t v)
{
    g_assert_true(vmm_bus_write(&f->bus, PORT_RTC, 1, idx));
    g_assert_true(vmm_bus_write(&f->bus, PORT_RTC + 1, 1, v));
}

static int bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 0x0f);
}

/* ---------------------------------------------------------------------- */

static void test_bcd_binary(Fixture *f, gconstpointer d)
{
    (void)d;
    g_assert_cmphex(cmos_in(f, 0x0a), ==, 0x26);
    g_assert_cmphex(cmos_in(f, 0x0b), ==, 0x02);   /* BCD, 24 h */
    g_assert_cmphex(cmos_in(f, 0x00), ==, 0x56);
    g_assert_cmphex(cmos_in(f, 0x02), ==, 0x45);
    g_assert_cmphex(cmos_in(f, 0x04), ==, 0x13);
    g_assert_cmphex(cmos_in(f, 0x06), ==, 0x05);   /* Thursday, Sunday = 1 */
    g_assert_cmphex(cmos_in(f, 0x07), ==, 0x29);
    g_assert_cmphex(cmos_in(f, 0x08), ==, 0x02);
    g_assert_cmphex(cmos_in(f, 0x09), ==, 0x24);
    g_assert_cmphex(cmos_in(f, 0x32), ==, 0x20);
    cmos_out(f, 0x0b, 0x06);                       /* binary, 24 h */
    g_assert_cmpuint(cmos_in(f, 0x00), ==, 56);
    g_assert_cmpuint(cmos_in(f, 0x02), ==, 45);
    g_assert_cmpuint(cmos_in(f, 0x04), ==, 13);
    g_assert_cmpuint(cmos_in(f, 0x06), ==, 5);
    g_assert_cmpuint(cmos_in(f, 0x07), ==, 29);
    g_assert_cmpuint(cmos_in(f, 0x08), ==, 2);
    g_assert_cmpuint(cmos_in(f, 0x09), ==, 24);
    g_assert_cmpuint(cmos_in(f, 0x32), ==, 20);
    /* The clock runs: one second later. */
    f->now_us += USEC;
    g_assert_cmpuint(cmos_in(f, 0x00), ==, 57);
    /* ...across a leap day into March. */
    f->now_us = utc_us(2024, 2, 29, 23, 59, 59) + USEC;
    g_assert_cmpuint(cmos_in(f, 0x07), ==, 1);
    g_assert_cmpuint(cmos_in(f, 0x08), ==, 3);
    g_assert_cmpuint(cmos_in(f, 0x06), ==, 6);
}

static void test_12_hour(Fixture *f, gconstpointer d)
{
    (void)d;
    cmos_out(f, 0x0b, 0x00);                       /* BCD, 12 h */
    g_assert_cmphex(cmos_in(f, 0x04), ==, 0x81);   /* 1 PM */
    f->now_us = utc_us(2024, 3, 1, 0, 30, 0);
    g_assert_cmphex(cmos_in(f, 0x04), ==, 0x12);   /* 12 AM */
    f->now_us = utc_us(2024, 3, 1, 12, 30, 0);
    g_assert_cmphex(cmos_in(f, 0x04), ==, 0x92);   /* 12 PM */
    f->now_us = utc_us(2024, 3, 1, 11, 30, 0);
    g_assert_cmphex(cmos_in(f, 0x04), ==, 0x11);
    cmos_out(f, 0x0b, 0x04);                       /* binary, 12 h */
    f->now_us = utc_us(2024, 3, 1, 23, 0, 0);
    g_assert_cmphex(cmos_in(f, 0x04), ==, 0x8b);
    /* Setting the clock in 12 h mode: 10 PM. */
    cmos_out(f, 0x0b, 0x80);                       /* SET, BCD, 12 h */
    cmos_out(f, 0x04, 0x90);
    cmos_out(f, 0x0b, 0x02);
    g_assert_cmphex(cmos_in(f, 0x04), ==, 0x22);
}

/* Read the clock as Linux's mc146818_get_time() does (UIP clear, BCD). */
static GDateTime *read_rtc_utc(Fixture *f)
{
    for (int tries = 0; tries < 100000; tries++) {
        if (cmos_in(f, 0x0a) & 0x80)
            continue;
        uint8_t s = cmos_in(f, 0x00), mi = cmos_in(f, 0x02), h = cmos_in(f, 0x04);
        uint8_t dd = cmos_in(f, 0x07), mo = cmos_in(f, 0x08), y = cmos_in(f, 0x09);
        uint8_t c = cmos_in(f, 0x32);
        if (cmos_in(f, 0x00) != s)
            continue;
        return g_date_time_new_utc(bcd(c) * 100 + bcd(y), bcd(mo), bcd(dd), bcd(h),
                                   bcd(mi), bcd(s));
    }
    g_assert_not_reached();
}

static void check_close(GDateTime *a, GDateTime *b)
{
    GTimeSpan diff = g_date_time_difference(a, b);
    g_assert_cmpint(ABS(diff), <=, 2 * G_TIME_SPAN_SECOND);
}

/* Wall-clock fields of a local time, as a UTC value, for comparison. */
static GDateTime *as_utc_fields(GDateTime *t)
{
    return g_date_time_new_utc(g_date_time_get_year(t), g_date_time_get_month(t),
                               g_date_time_get_day_of_month(t), g_date_time_get_hour(t),
                               g_date_time_get_minute(t), g_date_time_get_second(t));
}

static void test_host_time(Fixture *f, gconstpointer d)
{
    (void)d;
    GDateTime *rtc = read_rtc_utc(f);
    GDateTime *now = g_date_time_new_now_utc();
    check_close(rtc, now);
    g_date_time_unref(rtc);
    g_date_time_unref(now);

    Fixture lf;
    fx_init(&lf, true, false);
    rtc = read_rtc_utc(&lf);
    GDateTime *local = g_date_time_new_now_local();
    now = as_utc_fields(local);
    check_close(rtc, now);
    g_date_time_unref(rtc);
    g_date_time_unref(now);
    g_date_time_unref(local);
    fx_teardown(&lf, NULL);
}

static void test_nvram(Fixture *f, gconstpointer d)
{
    (void)d;
    for (unsigned i = 0x0e; i < 0x80; i++) {
        if (i != 0x32)
            cmos_out(f, i, (uint8_t)(i * 7) ^ 0x5a);
    }
    f->now_us += 3 * USEC;
    vmm_rtc_reset(f->rtc);
    for (unsigned i = 0x0e; i < 0x80; i++) {
        if (i != 0x32)
            g_assert_cmphex(cmos_in(f, i), ==, (uint8_t)(i * 7) ^ 0x5a);
    }
    /* Alarm registers are plain storage too. */
    cmos_out(f, 0x01, 0x12);
    cmos_out(f, 0x03, 0x34);
    cmos_out(f, 0x05, 0x56);
    g_assert_cmphex(cmos_in(f, 0x01), ==, 0x12);
    g_assert_cmphex(cmos_in(f, 0x03), ==, 0x34);
    g_assert_cmphex(cmos_in(f, 0x05), ==, 0x56);
}

static void write_time(Fixture *f)
{
    cmos_out(f, 0x00, 0x06);
    cmos_out(f, 0x02, 0x05);
    cmos_out(f, 0x04, 0x04);
    cmos_out(f, 0x07, 0x03);
    cmos_out(f, 0x08, 0x02);
    cmos_out(f, 0x09, 0x01);
    cmos_out(f, 0x32, 0x20);
}

static void check_time(Fixture *f, uint8_t sec)
{
    g_assert_cmphex(cmos_in(f, 0x00), ==, sec);
    g_assert_cmphex(cmos_in(f, 0x02), ==, 0x05);
    g_assert_cmphex(cmos_in(f, 0x04), ==, 0x04);
    g_assert_cmphex(cmos_in(f, 0x07), ==, 0x03);
    g_assert_cmphex(cmos_in(f, 0x08), ==, 0x02);
    g_assert_cmphex(cmos_in(f, 0x09), ==, 0x01);
    g_assert_cmphex(cmos_in(f, 0x32), ==, 0x20);
}

static void test_set_clock(Fixture *f, gconstpointer d)
{
    (void)d;
    cmos_out(f, 0x0b, 0x12);                       /* UIE */
    cmos_out(f, 0x0b, 0x92);                       /* SET clears UIE */
    g_assert_cmphex(cmos_in(f, 0x0b), ==, 0x82);
    write_time(f);
    f->now_us += 10 * USEC;                        /* frozen while SET */
    check_time(f, 0x06);
    g_assert_cmphex(cmos_in(f, 0x0a) & 0x80, ==, 0);   /* no UIP while SET */
    cmos_out(f, 0x0b, 0x02);
    check_time(f, 0x06);
    g_assert_cmphex(cmos_in(f, 0x06), ==, 0x07);   /* 2001-02-03 was a Saturday */
    /* The divider kept its phase (host .25): the next second is 0.75 s away. */
    f->now_us += 700000;
    check_time(f, 0x06);
    f->now_us += 100000;
    check_time(f, 0x07);
    f->now_us += 52 * USEC;
    check_time(f, 0x59);
    /* The offset sticks: one hour on. */
    f->now_us += 3600 * USEC - 52 * USEC;
    g_assert_cmphex(cmos_in(f, 0x04), ==, 0x05);

    /* Linux's sequence also holds the divider in reset; releasing it starts
     * the first update half a second later. */
    cmos_out(f, 0x0b, 0x82);
    cmos_out(f, 0x0a, 0x76);
    write_time(f);
    cmos_out(f, 0x0b, 0x02);                       /* still halted by the divider */
    f->now_us += 5 * USEC;
    check_time(f, 0x06);
    cmos_out(f, 0x0a, 0x26);
    f->now_us += 400000;
    check_time(f, 0x06);
    f->now_us += 200000;
    check_time(f, 0x07);

    /* Writing a time register while running sets the clock as well. */
    cmos_out(f, 0x09, 0x30);
    g_assert_cmphex(cmos_in(f, 0x09), ==, 0x30);
    g_assert_cmphex(cmos_in(f, 0x00), ==, 0x07);
}

static void test_uip(Fixture *f, gconstpointer d)
{
    (void)d;
    int64_t sec = utc_us(2024, 3, 1, 0, 0, 0);
    f->now_us = sec + 500000;
    g_assert_cmphex(cmos_in(f, 0x0a), ==, 0x26);
    f->now_us = sec + USEC - 100;                  /* 244 us before the update */
    g_assert_cmphex(cmos_in(f, 0x0a), ==, 0xa6);
    f->now_us = sec + USEC + 1000;                 /* during the update */
    g_assert_cmphex(cmos_in(f, 0x0a), ==, 0xa6);
    f->now_us = sec + USEC + 2000;                 /* after it */
    g_assert_cmphex(cmos_in(f, 0x0a), ==, 0x26);
    cmos_out(f, 0x0a, 0xa6);                       /* UIP is read-only */
    g_assert_cmphex(cmos_in(f, 0x0a), ==, 0x26);
    f->now_us = sec + 100;
    cmos_out(f, 0x0b, 0x82);
    g_assert_cmphex(cmos_in(f, 0x0a), ==, 0x26);   /* SET: no updates, no UIP */
}

static void test_uip_real(Fixture *f, gconstpointer d)
{
    (void)d;
    /* hwclock-style: wait for UIP to rise, then to fall. The deadline only
     * guards against a hang (a loaded machine may sleep through several of
     * the 244 us windows); UIP must not stay up for anything like a second. */
    gint64 deadline = g_get_monotonic_time() + 60 * G_TIME_SPAN_SECOND;
    while (!(cmos_in(f, 0x0a) & 0x80))
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    gint64 rose = g_get_monotonic_time();
    while (cmos_in(f, 0x0a) & 0x80)
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    g_assert_cmpint(g_get_monotonic_time() - rose, <, G_TIME_SPAN_SECOND);
}

static void test_registers_c_d(Fixture *f, gconstpointer d)
{
    (void)d;
    g_assert_cmphex(cmos_in(f, 0x0d), ==, 0x80);
    cmos_out(f, 0x0d, 0x00);
    g_assert_cmphex(cmos_in(f, 0x0d), ==, 0x80);
    cmos_in(f, 0x0c);
    cmos_out(f, 0x0c, 0xff);
    g_assert_cmphex(cmos_in(f, 0x0c), ==, 0x00);
}

static void test_update_interrupt(Fixture *f, gconstpointer d)
{
    (void)d;
    TestIrq *irq = &f->irq;
    cmos_in(f, 0x0c);
    cmos_out(f, 0x0b, 0x12);                       /* UIE */
    g_assert_cmpint(irq->level, ==, 0);
    f->now_us += USEC;
    cmos_in(f, 0x0a);                              /* any access catches up */
    g_assert_cmpint(irq->level, ==, 1);
    g_assert_cmpuint(irq->rises, ==, 1);
    /* IRQF | UF; PF ticks at the default 1024 Hz without PIE: ignore it. */
    g_assert_cmphex(cmos_in(f, 0x0c) & ~0x40, ==, 0x90);
    g_assert_cmpint(irq->level, ==, 0);            /* reading C lowers the line */
    g_assert_cmphex(cmos_in(f, 0x0c), ==, 0x00);
    f->now_us += USEC / 2;
    g_assert_cmphex(cmos_in(f, 0x0c) & ~0x40, ==, 0x00);
    f->now_us += USEC / 2;
    cmos_in(f, 0x0a);
    g_assert_cmpuint(irq->rises, ==, 2);           /* a new edge per update */
    /* Disabling UIE drops IRQF and the line; UF stays set. */
    cmos_out(f, 0x0b, 0x02);
    g_assert_cmpint(irq->level, ==, 0);
    g_assert_cmphex(cmos_in(f, 0x0c) & ~0x40, ==, 0x10);
}

static void test_alarm_interrupt(Fixture *f, gconstpointer d)
{
    (void)d;
    TestIrq *irq = &f->irq;
    /* Now 13:45:56; alarm at 13:45:58. */
    cmos_out(f, 0x01, 0x58);
    cmos_out(f, 0x03, 0x45);
    cmos_out(f, 0x05, 0x13);
    cmos_in(f, 0x0c);
    cmos_out(f, 0x0b, 0x22);                       /* AIE */
    f->now_us += USEC;
    g_assert_cmphex(cmos_in(f, 0x0c) & ~0x40, ==, 0x10);   /* UF only, no interrupt */
    g_assert_cmpuint(irq->rises, ==, 0);
    f->now_us += USEC;
    cmos_in(f, 0x0a);
    g_assert_cmpint(irq->level, ==, 1);
    g_assert_cmphex(cmos_in(f, 0x0c) & ~0x40, ==, 0xb0);   /* IRQF | AF | UF */
    /* Don't-care bytes: every second. */
    cmos_out(f, 0x01, 0xc0);
    cmos_out(f, 0x03, 0xff);
    cmos_out(f, 0x05, 0xc3);
    f->now_us += USEC;
    g_assert_cmphex(cmos_in(f, 0x0c) & ~0x40, ==, 0xb0);
}

static void test_periodic_interrupt(Fixture *f, gconstpointer d)
{
    (void)d;
    TestIrq *irq = &f->irq;
    f->now_us = utc_us(2024, 3, 1, 0, 0, 0) + 100;
    cmos_out(f, 0x0a, 0x2f);                       /* 2 Hz */
    cmos_in(f, 0x0c);
    f->now_us += 450000;
    g_assert_cmphex(cmos_in(f, 0x0c), ==, 0x00);
    f->now_us += 100000;                           /* crossed 0.5 s */
    g_assert_cmphex(cmos_in(f, 0x0c), ==, 0x40);   /* PF without PIE: flag only */
    g_assert_cmpuint(irq->rises, ==, 0);
    cmos_out(f, 0x0b, 0x42);                       /* PIE */
    f->now_us += 500000;
    cmos_in(f, 0x0a);
    g_assert_cmpint(irq->level, ==, 1);
    g_assert_cmphex(cmos_in(f, 0x0c) & 0xc0, ==, 0xc0);
    g_assert_cmpint(irq->level, ==, 0);
    /* Rate 0 stops it. */
    cmos_out(f, 0x0a, 0x20);
    f->now_us += 2 * USEC;
    g_assert_cmphex(cmos_in(f, 0x0c) & 0x40, ==, 0);
    /* A reset clears enables and flags. */
    cmos_out(f, 0x0a, 0x26);
    f->now_us += USEC;
    cmos_in(f, 0x0a);
    g_assert_cmpint(irq->level, ==, 1);
    vmm_rtc_reset(f->rtc);
    g_assert_cmpint(irq->level, ==, 0);
    g_assert_cmphex(cmos_in(f, 0x0b), ==, 0x02);
}

static gboolean timeout_cb(gpointer data)
{
    *(bool *)data = true;
    return G_SOURCE_REMOVE;
}

static void test_timer_source(Fixture *f, gconstpointer d)
{
    (void)d;
    GMainContext *ctx = g_main_context_new();
    vmm_rtc_attach(f->rtc, ctx);
    cmos_in(f, 0x0c);
    cmos_out(f, 0x0b, 0x12);                       /* UIE */
    bool expired = false;
    GSource *to = g_timeout_source_new(3000);
    g_source_set_callback(to, timeout_cb, &expired, NULL);
    g_source_attach(to, ctx);
    /* Nobody touches the RTC: the interrupt must come from the timer. */
    while (f->irq.level == 0 && !expired)
        g_main_context_iteration(ctx, TRUE);
    g_assert_false(expired);
    g_assert_cmphex(cmos_in(f, 0x0c) & ~0x40, ==, 0x90);
    g_source_destroy(to);
    g_source_unref(to);
    vmm_bus_unregister(&f->bus, PORT_RTC);
    vmm_rtc_free(f->rtc);                          /* detaches from ctx */
    f->rtc = vmm_rtc_new(NULL, false);
    g_main_context_unref(ctx);
}

static void test_memory(Fixture *f, gconstpointer d)
{
    (void)d;
    const uint64_t mib = 1024 * 1024;
    vmm_rtc_set_memory(f->rtc, 3072 * mib, 5120 * mib);
    g_assert_cmphex(cmos_in(f, 0x15), ==, 0x80);   /* 640 KiB */
    g_assert_cmphex(cmos_in(f, 0x16), ==, 0x02);
    g_assert_cmphex(cmos_in(f, 0x17), ==, 0xff);   /* saturated */
    g_assert_cmphex(cmos_in(f, 0x18), ==, 0xff);
    g_assert_cmphex(cmos_in(f, 0x30), ==, 0xff);
    g_assert_cmphex(cmos_in(f, 0x31), ==, 0xff);
    g_assert_cmphex(cmos_in(f, 0x34), ==, 0x00);   /* (3 GiB - 16 MiB) / 64 KiB = 0xbf00 */
    g_assert_cmphex(cmos_in(f, 0x35), ==, 0xbf);
    g_assert_cmphex(cmos_in(f, 0x5b), ==, 0x00);   /* 5 GiB / 64 KiB = 0x014000 */
    g_assert_cmphex(cmos_in(f, 0x5c), ==, 0x40);
    g_assert_cmphex(cmos_in(f, 0x5d), ==, 0x01);
    unsigned sum = 0;
    for (unsigned i = 0x10; i <= 0x2d; i++)
        sum += cmos_in(f, i);
    g_assert_cmphex(cmos_in(f, 0x2e), ==, sum >> 8);
    g_assert_cmphex(cmos_in(f, 0x2f), ==, sum & 0xff);

    vmm_rtc_set_memory(f->rtc, 32 * mib, 0);
    g_assert_cmphex(cmos_in(f, 0x17) | cmos_in(f, 0x18) << 8, ==, 31744);
    g_assert_cmphex(cmos_in(f, 0x30) | cmos_in(f, 0x31) << 8, ==, 31744);
    g_assert_cmphex(cmos_in(f, 0x34) | cmos_in(f, 0x35) << 8, ==, 256);
    g_assert_cmphex(cmos_in(f, 0x5b) | cmos_in(f, 0x5c) | cmos_in(f, 0x5d), ==, 0);
    vmm_rtc_set_memory(f->rtc, 512 * 1024, ~0ULL);   /* absurd sizes saturate */
    g_assert_cmphex(cmos_in(f, 0x17) | cmos_in(f, 0x18) | cmos_in(f, 0x34), ==, 0);
    g_assert_cmphex(cmos_in(f, 0x5b) & cmos_in(f, 0x5c) & cmos_in(f, 0x5d), ==, 0xff);
}

static void test_wide_access(Fixture *f, gconstpointer d)
{
    (void)d;
    /* "outw 0x70" selects the index and writes the data port at once. */
    g_assert_true(vmm_bus_write(&f->bus, PORT_RTC, 2, 0x40 | 0x99 << 8));
    g_assert_cmphex(cmos_in(f, 0x40), ==, 0x99);
    uint64_t v = 0;
    g_assert_true(vmm_bus_read(&f->bus, PORT_RTC, 2, &v));
    g_assert_cmphex(v, ==, 0x99ff);                /* index port reads as 0xff */
}

static void test_hostile(Fixture *f, gconstpointer d)
{
    (void)d;
    static const unsigned sizes[] = { 0, 1, 2, 3, 4, 8, 16 };
    Fixture lf;
    fx_init(&lf, true, true);
    Fixture *devs[2] = { f, &lf };
    for (int round = 0; round < 100000; round++) {
        Fixture *x = devs[round & 1];
        uint64_t off = g_test_rand_int_range(0, 4);
        if (round % 1001 == 0)
            off = G_MAXUINT64 - g_test_rand_int_range(0, 4);
        unsigned size = sizes[g_test_rand_int_range(0, G_N_ELEMENTS(sizes))];
        uint64_t val = ((uint64_t)g_test_rand_int() << 32) | g_test_rand_int();
        /* Bias towards the interesting registers. */
        if (g_test_rand_int_range(0, 3) == 0)
            vmm_rtc_ops.write(x->rtc, 0, g_test_rand_int_range(0, 0x0e), 1);
        if (g_test_rand_bit())
            vmm_rtc_ops.write(x->rtc, off, val, size);
        else
            (void)vmm_rtc_ops.read(x->rtc, off, size);
        if (round % 13 == 0)
            x->now_us += g_test_rand_int_range(0, 3 * USEC);
        if (round % 20000 == 0)
            vmm_rtc_reset(x->rtc);
    }
    /* Every offset (and a few past the end) x every bus size x random values,
     * for every CMOS index. */
    for (unsigned idx = 0; idx < 0x100; idx++) {
        for (uint64_t off = 0; off < VMM_RTC_REGION_LEN + 2; off++) {
            for (unsigned sz = 1; sz <= 8; sz *= 2) {
                uint64_t val = ((uint64_t)g_test_rand_int() << 32) | g_test_rand_int();
                vmm_rtc_ops.write(f->rtc, 0, idx, 1);
                vmm_rtc_ops.write(f->rtc, off, val, sz);
                vmm_rtc_ops.write(f->rtc, 0, idx, 1);
                (void)vmm_rtc_ops.read(f->rtc, off, sz);
            }
        }
    }
    /* Saturate the clock both ways through the set path. */
    for (int dir = 0; dir < 2; dir++) {
        cmos_out(f, 0x0b, 0x86);                   /* SET, binary */
        for (unsigned r = 0; r <= 9; r++)
            cmos_out(f, r, dir ? 0xff : 0x00);
        cmos_out(f, 0x32, dir ? 0xff : 0x00);
        cmos_out(f, 0x0b, 0x06);
        for (unsigned r = 0; r <= 9; r++)
            cmos_in(f, r);
        f->now_us += 10 * USEC;
        cmos_in(f, 0x32);
    }
    /* Still a sane clock afterwards. */
    vmm_rtc_reset(f->rtc);
    cmos_out(f, 0x0a, 0x26);
    cmos_out(f, 0x0b, 0x82);
    write_time(f);
    cmos_out(f, 0x0b, 0x02);
    check_time(f, 0x06);
    fx_teardown(&lf, NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    vmm_log_set_level(VMM_LOG_WARN);
#define ADD(path, fn) g_test_add("/rtc/" path, Fixture, NULL, fx_setup, fn, fx_teardown)
#define ADD_REAL(path, fn) \
    g_test_add("/rtc/" path, Fixture, NULL, fx_setup_real, fn, fx_teardown)
    ADD("bcd-binary", test_bcd_binary);
    ADD("12-hour", test_12_hour);
    ADD_REAL("host-time", test_host_time);
    ADD("nvram", test_nvram);
    ADD("set-clock", test_set_clock);
    ADD("uip", test_uip);
    ADD_REAL("uip-real", test_uip_real);
    ADD("registers-c-d", test_registers_c_d);
    ADD("update-interrupt", test_update_interrupt);
    ADD("alarm-interrupt", test_alarm_interrupt);
    ADD("periodic-interrupt", test_periodic_interrupt);
    ADD_REAL("timer-source", test_timer_source);
    ADD("memory", test_memory);
    ADD("wide-access", test_wide_access);
    ADD("hostile", test_hostile);
#undef ADD
#undef ADD_REAL
    return g_test_run();
}
