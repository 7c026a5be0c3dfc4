/* Motorola MC146818 RTC and CMOS RAM, after the MC146818A datasheet and
 * what Linux's rtc-cmos / mc146818-lib expect.
 *
 * Time is not counted by the device: guest time = host time (+ the host's
 * UTC offset in localtime mode) + offset_us, computed on demand. While the
 * clock is halted (SET bit, or the divider chain held in reset) the time
 * registers show a frozen snapshot the guest may rewrite; resuming turns
 * the snapshot back into an offset. Interrupt flags are evaluated lazily
 * from the clocks whenever the guest looks, and by an optional timer source
 * so interrupts also arrive when it does not. */
#include "hw/rtc.h"

#include <time.h>

#define REG_SECONDS       0x00
#define REG_SECONDS_ALARM 0x01
#define REG_MINUTES       0x02
#define REG_MINUTES_ALARM 0x03
#define REG_HOURS         0x04
#define REG_HOURS_ALARM   0x05
#define REG_DAY_OF_WEEK   0x06
#define REG_DAY_OF_MONTH  0x07
#define REG_MONTH         0x08
#define REG_YEAR          0x09
#define REG_A             0x0a
#define REG_B             0x0b
#define REG_C             0x0c
#define REG_D             0x0d
#define REG_CENTURY       0x32   /* IBM PC BIOS convention; ACPI FADT points here */

#define A_UIP        0x80
#define A_DV_RESET   0x60   /* DV2:DV1 = 11: divider chain held in reset */
#define A_RS         0x0f

#define B_SET        0x80
#define B_PIE        0x40
#define B_AIE        0x20
#define B_UIE        0x10
#define B_SQWE       0x08
#define B_DM_BINARY  0x04
#define B_24H        0x02

#define C_IRQF       0x80
#define C_PF         0x40
#define C_AF         0x20
#define C_UF         0x10
#define C_FLAGS      (C_PF | C_AF | C_UF)   /* same bit positions as PIE/AIE/UIE */

#define D_VRT        0x80

#define USEC            1000000LL
#define RTC_HZ          32768    /* time base of the divider chain */
#define RTC_UIP_LEAD_US 244      /* UIP rises this long before an update... */
#define RTC_UPDATE_US   1984     /* ...and the update cycle lasts this long */

/* Days from 1970-01-01 to 0000-01-01 and to 10000-01-01: the range a
 * guest may set, so offsets stay far from overflow whatever it writes. */
#define RTC_MIN_SECS (-719528LL * 86400)
#define RTC_MAX_SECS (2932897LL * 86400 - 1)

typedef struct {
    int cent, yy, mon, mday, hour, min, sec;
    int wday;                 /* 1 = Sunday, as the RTC counts */
} RtcTime;

typedef struct {
    GSource base;
    VmmRtc *rtc;
} RtcSource;

struct VmmRtc {
    GMutex lock;
    VmmIrq *irq;
    bool localtime;
    int64_t (*clock)(void *opaque);   /* test clock, or NULL */
    void *clock_opaque;

    uint8_t cmos[128];        /* registers A-D live at 0x0a-0x0d */
    uint8_t index;
    int64_t offset_us;
    bool halted;
    RtcTime frozen;           /* shown while halted */
    int64_t last_sec;         /* guest second last seen by the update logic */
    int64_t last_period;      /* periodic-interrupt tick last seen */
    bool irq_level;

    GSourceFuncs timer_funcs; /* kept here: GLib wants them mutable and alive */
    GSource *timer;
};

/* ---- arithmetic --------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

/* Proleptic Gregorian calendar <-> days since 1970-01-01, by the era
 * method (400-year cycles of 146097 days, years starting in March). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static void secs_to_tm(int64_t secs, RtcTime *t)
{
    int64_t days = floor_div(secs, 86400), rem = floor_mod(secs, 86400);
    int64_t year;
    civil_from_days(days, &year, &t->mon, &t->mday);
    t->cent = (int)floor_div(year, 100);
    t->yy = (int)floor_mod(year, 100);
    t->hour = (int)(rem / 3600);
    t->min = (int)(rem / 60 % 60);
    t->sec = (int)(rem % 60);
    t->wday = (int)floor_mod(days + 4, 7) + 1;   /* 1970-01-01 was a Thursday */
}

/* Out-of-range fields (the guest may write anything) carry over into the
 * next larger unit instead of being rejected. */
static int64_t tm_to_secs(const RtcTime *t)
{
    int64_t mon0 = (int64_t)t->mon - 1;
    int64_t year = (int64_t)t->cent * 100 + t->yy + floor_div(mon0, 12);
    int64_t days = days_from_civil(year, (int)floor_mod(mon0, 12) + 1, 1) + t->mday - 1;
    int64_t secs = days * 86400 + (int64_t)t->hour * 3600 + (int64_t)t->min * 60 + t->sec;
    return CLAMP(secs, RTC_MIN_SECS, RTC_MAX_SECS);
}

/* ---- clocks -------------------------------------------------------------- */

static int64_t rtc_host_us(VmmRtc *s)
{
    return s->clock ? s->clock(s->clock_opaque) : g_get_real_time();
}

static int64_t rtc_mono_us(VmmRtc *s)
{
    return s->clock ? s->clock(s->clock_opaque) : g_get_monotonic_time();
}

/* What the guest clock reads now if it is running. */
static int64_t rtc_guest_us(VmmRtc *s)
{
    int64_t now = rtc_host_us(s);
    if (s->localtime) {
        time_t t = (time_t)floor_div(now, USEC);
        struct tm tm;
        if (localtime_r(&t, &tm))
            now += (int64_t)tm.tm_gmtoff * USEC;
    }
    return now + s->offset_us;
}

static uint8_t *reg(VmmRtc *s, unsigned idx)
{
    return &s->cmos[idx];
}

static bool rtc_divider_running(VmmRtc *s)
{
    return (*reg(s, REG_A) & A_DV_RESET) != A_DV_RESET;
}

/* Length of a periodic-interrupt period in 32.768 kHz ticks; 0 = none.
 * RS=1 and 2 give 256 and 128 Hz with this time base, like RS=8 and 9. */
static int64_t rtc_period_ticks(VmmRtc *s)
{
    unsigned rs = *reg(s, REG_A) & A_RS;
    if (rs == 0 || !rtc_divider_running(s))
        return 0;
    if (rs < 3)
        rs += 7;
    return 1LL << (rs - 1);
}

static int64_t rtc_ticks_now(VmmRtc *s)
{
    int64_t mono = rtc_mono_us(s);
    return floor_div(mono, USEC) * RTC_HZ + floor_mod(mono, USEC) * RTC_HZ / USEC;
}

static int64_t rtc_period_index(VmmRtc *s)
{
    int64_t ticks = rtc_period_ticks(s);
    return ticks ? floor_div(rtc_ticks_now(s), ticks) : 0;
}

/* ---- register encoding (DM and 24/12 bits of register B) -------------- */

static uint8_t to_reg(VmmRtc *s, int64_t v)
{
    if (*reg(s, REG_B) & B_DM_BINARY)
        return (uint8_t)v;
    v = floor_mod(v, 100);
    return (uint8_t)((v / 10) << 4 | v % 10);
}

static int from_reg(VmmRtc *s, uint8_t v)
{
    if (*reg(s, REG_B) & B_DM_BINARY)
        return v;
    return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t hour_to_reg(VmmRtc *s, int hour)
{
    if (*reg(s, REG_B) & B_24H)
        return to_reg(s, hour);
    int h12 = hour % 12;
    return to_reg(s, h12 ? h12 : 12) | (hour % 24 >= 12 ? 0x80 : 0);
}

static int hour_from_reg(VmmRtc *s, uint8_t v)
{
    if (*reg(s, REG_B) & B_24H)
        return from_reg(s, v);
    int h = from_reg(s, v & 0x7f);
    if (h == 12)
        h = 0;
    return (v & 0x80) ? h + 12 : h;
}

/* ---- halting and resuming the clock ------------------------------------- */

static void rtc_current_tm(VmmRtc *s, RtcTime *t)
{
    if (s->halted)
        *t = s->frozen;
    else
        secs_to_tm(floor_div(rtc_guest_us(s), USEC), t);
}

static void rtc_freeze(VmmRtc *s)
{
    rtc_current_tm(s, &s->frozen);
    s->halted = true;
}

/* The divider chain keeps its phase through SET, so the guest's next
 * second comes when it would have; released from reset, the first update
 * comes half a second later, as the datasheet says. */
static void rtc_thaw(VmmRtc *s, bool divider_released)
{
    int64_t secs = tm_to_secs(&s->frozen);
    int64_t now = rtc_guest_us(s);
    int64_t phase = divider_released ? USEC / 2 : floor_mod(now, USEC);
    s->offset_us += secs * USEC + phase - now;
    s->halted = false;
    s->last_sec = secs;      /* setting the clock is not an update cycle */
}

static bool rtc_should_halt(VmmRtc *s)
{
    return (*reg(s, REG_B) & B_SET) || !rtc_divider_running(s);
}

static bool rtc_uip(VmmRtc *s)
{
    if (s->halted)
        return false;
    int64_t frac = floor_mod(rtc_guest_us(s), USEC);
    return frac >= USEC - RTC_UIP_LEAD_US || frac < RTC_UPDATE_US;
}

/* ---- interrupts ----------------------------------------------------------- */

static bool rtc_alarm_matches(VmmRtc *s, int64_t sec)
{
    RtcTime t;
    secs_to_tm(sec, &t);
    const uint8_t now[3] = { to_reg(s, t.sec), to_reg(s, t.min), hour_to_reg(s, t.hour) };
    const uint8_t alarm[3] = { *reg(s, REG_SECONDS_ALARM), *reg(s, REG_MINUTES_ALARM),
                               *reg(s, REG_HOURS_ALARM) };
    for (int i = 0; i < 3; i++) {
        /* 11xxxxxx is "don't care": alarms every second/minute/hour. */
        if ((alarm[i] & 0xc0) != 0xc0 && alarm[i] != now[i])
            return false;
    }
    return true;
}

/* Catch the flags up with the clocks. Seconds crossed while nobody looked
 * set UF once, and the alarm is checked against the current second. */
static void rtc_tick(VmmRtc *s)
{
    uint8_t *c = reg(s, REG_C);
    if (!s->halted) {
        int64_t sec = floor_div(rtc_guest_us(s), USEC);
        if (sec != s->last_sec) {
            s->last_sec = sec;
            *c |= C_UF;
            if (rtc_alarm_matches(s, sec))
                *c |= C_AF;
        }
    }
    if (rtc_period_ticks(s)) {
        int64_t idx = rtc_period_index(s);
        if (idx != s->last_period) {
            s->last_period = idx;
            *c |= C_PF;
        }
    }
}

/* Monotonic time of the next event that would raise IRQ8, or -1. */
static int64_t rtc_next_deadline(VmmRtc *s)
{
    uint8_t b = *reg(s, REG_B);
    int64_t best = -1;

    /* While the line is up nothing new can be signalled until C is read. */
    if (s->irq_level)
        return -1;
    if ((b & (B_UIE | B_AIE)) && !s->halted)
        best = rtc_mono_us(s) + (USEC - floor_mod(rtc_guest_us(s), USEC));
    int64_t ticks = rtc_period_ticks(s);
    if ((b & B_PIE) && ticks) {
        int64_t next = (rtc_period_index(s) + 1) * ticks;
        int64_t us = floor_div(next, RTC_HZ) * USEC +
                     (floor_mod(next, RTC_HZ) * USEC + RTC_HZ - 1) / RTC_HZ;
        if (best < 0 || us < best)
            best = us;
    }
    return best;
}

/* IRQF = PF.PIE + AF.AIE + UF.UIE, and the IRQ pin follows IRQF. IRQ8 is
 * edge-triggered in the irqchip; the line falls when the guest reads C, so
 * each new flag after that is a new edge. */
static void rtc_sync(VmmRtc *s)
{
    uint8_t *c = reg(s, REG_C);
    if (*c & *reg(s, REG_B) & C_FLAGS)
        *c |= C_IRQF;
    else
        *c &= ~C_IRQF;
    bool level = *c & C_IRQF;
    if (level != s->irq_level) {
        s->irq_level = level;
        vmm_irq_set(s->irq, level);
    }
    if (s->timer)
        g_source_set_ready_time(s->timer, rtc_next_deadline(s));
}

static gboolean rtc_timer_dispatch(GSource *src, GSourceFunc cb, gpointer data)
{
    VmmRtc *s = ((RtcSource *)src)->rtc;
    (void)cb;
    (void)data;
    g_mutex_lock(&s->lock);
    rtc_tick(s);
    rtc_sync(s);
    g_mutex_unlock(&s->lock);
    return G_SOURCE_CONTINUE;
}

/* ---- register access ------------------------------------------------------ */

static bool is_time_reg(unsigned idx)
{
    switch (idx) {
    case REG_SECONDS: case REG_MINUTES: case REG_HOURS: case REG_DAY_OF_WEEK:
    case REG_DAY_OF_MONTH: case REG_MONTH: case REG_YEAR: case REG_CENTURY:
        return true;
    }
    return false;
}

static uint8_t rtc_read_time(VmmRtc *s, unsigned idx)
{
    RtcTime t;
    rtc_current_tm(s, &t);
    switch (idx) {
    case REG_SECONDS:      return to_reg(s, t.sec);
    case REG_MINUTES:      return to_reg(s, t.min);
    case REG_HOURS:        return hour_to_reg(s, t.hour);
    case REG_DAY_OF_WEEK:  return to_reg(s, t.wday);
    case REG_DAY_OF_MONTH: return to_reg(s, t.mday);
    case REG_MONTH:        return to_reg(s, t.mon);
    case REG_YEAR:         return to_reg(s, t.yy);
    default:               return to_reg(s, t.cent);
    }
}

/* Writing a time register while the clock runs sets the clock too (with
 * the seconds phase kept), as if the guest had used SET around it. */
static void rtc_write_time(VmmRtc *s, unsigned idx, uint8_t v)
{
    bool running = !s->halted;
    RtcTime *t = &s->frozen;

    if (running)
        rtc_freeze(s);
    switch (idx) {
    case REG_SECONDS:      t->sec = from_reg(s, v); break;
    case REG_MINUTES:      t->min = from_reg(s, v); break;
    case REG_HOURS:        t->hour = hour_from_reg(s, v); break;
    case REG_DAY_OF_WEEK:  t->wday = from_reg(s, v); break;  /* shown until resumed */
    case REG_DAY_OF_MONTH: t->mday = from_reg(s, v); break;
    case REG_MONTH:        t->mon = from_reg(s, v); break;
    case REG_YEAR:         t->yy = from_reg(s, v); break;
    default:               t->cent = from_reg(s, v); break;
    }
    if (running)
        rtc_thaw(s, false);
}

static void rtc_write_ab(VmmRtc *s, unsigned idx, uint8_t v)
{
    bool was_halted = s->halted;

    if (idx == REG_A) {
        uint8_t old = *reg(s, REG_A);
        *reg(s, REG_A) = v & ~A_UIP;            /* UIP is read-only */
        if ((old ^ v) & (A_RS | A_DV_RESET))
            s->last_period = rtc_period_index(s);  /* new rate: start counting now */
    } else {
        if (v & B_SET)
            v &= ~B_UIE;                        /* SET clears UIE */
        *reg(s, REG_B) = v;
    }
    bool halt = rtc_should_halt(s);
    if (!was_halted && halt)
        rtc_freeze(s);
    else if (was_halted && !halt)
        rtc_thaw(s, idx == REG_A);
}

static uint8_t rtc_read_data(VmmRtc *s)
{
    unsigned idx = s->index;
    uint8_t v;

    if (is_time_reg(idx))
        return rtc_read_time(s, idx);
    switch (idx) {
    case REG_A:
        return *reg(s, REG_A) | (rtc_uip(s) ? A_UIP : 0);
    case REG_C:
        v = *reg(s, REG_C);
        *reg(s, REG_C) = 0;                     /* read-to-clear */
        return v;
    case REG_D:
        return D_VRT;                           /* the battery is always fine */
    }
    return s->cmos[idx];
}

static void rtc_write_data(VmmRtc *s, uint8_t v)
{
    unsigned idx = s->index;

    if (is_time_reg(idx)) {
        rtc_write_time(s, idx, v);
        return;
    }
    switch (idx) {
    case REG_A:
    case REG_B:
        rtc_write_ab(s, idx, v);
        return;
    case REG_C:
    case REG_D:
        return;                                 /* read-only */
    }
    s->cmos[idx] = v;
}

static uint64_t rtc_io_read(void *opaque, uint64_t offset, unsigned size)
{
    VmmRtc *s = opaque;
    uint64_t val = 0;

    if (size > 8)
        size = 8;
    g_mutex_lock(&s->lock);
    rtc_tick(s);
    for (unsigned i = 0; i < size; i++) {
        uint8_t b = 0xff;   /* the index port is write-only */
        if (offset < VMM_RTC_REGION_LEN && i < VMM_RTC_REGION_LEN - offset &&
            offset + i == 1)
            b = rtc_read_data(s);
        val |= (uint64_t)b << (8 * i);
    }
    rtc_sync(s);
    g_mutex_unlock(&s->lock);
    return val;
}

static void rtc_io_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    VmmRtc *s = opaque;

    if (size > 8)
        size = 8;
    g_mutex_lock(&s->lock);
    rtc_tick(s);
    for (unsigned i = 0; i < size; i++) {
        if (offset >= VMM_RTC_REGION_LEN || i >= VMM_RTC_REGION_LEN - offset)
            break;
        uint8_t b = (uint8_t)(value >> (8 * i));
        if (offset + i == 0)
            s->index = b & 0x7f;                /* bit 7 masks NMI: not modelled */
        else
            rtc_write_data(s, b);
    }
    rtc_sync(s);
    g_mutex_unlock(&s->lock);
}

const VmmRegionOps vmm_rtc_ops = {
    .name = "rtc-cmos",
    .read = rtc_io_read,
    .write = rtc_io_write,
};

/* ---- lifecycle ------------------------------------------------------------ */

VmmRtc *vmm_rtc_new(VmmIrq *irq, bool localtime)
{
    VmmRtc *s = g_new0(VmmRtc, 1);
    g_mutex_init(&s->lock);
    s->irq = irq;
    s->localtime = localtime;
    if (localtime)
        tzset();   /* localtime_r need not read TZ itself */
    /* What firmware leaves: 32.768 kHz time base, 1024 Hz rate, BCD, 24 h. */
    *reg(s, REG_A) = 0x26;
    *reg(s, REG_B) = B_24H;
    *reg(s, REG_D) = D_VRT;
    s->last_sec = floor_div(rtc_guest_us(s), USEC);
    s->last_period = rtc_period_index(s);
    return s;
}

void vmm_rtc_free(VmmRtc *s)
{
    if (!s)
        return;
    if (s->timer) {
        g_source_destroy(s->timer);
        g_source_unref(s->timer);
    }
    g_mutex_clear(&s->lock);
    g_free(s);
}

void vmm_rtc_reset(VmmRtc *s)
{
    g_mutex_lock(&s->lock);
    *reg(s, REG_B) &= ~(B_PIE | B_AIE | B_UIE | B_SQWE);
    *reg(s, REG_C) = 0;
    s->index = 0;
    rtc_sync(s);
    g_mutex_unlock(&s->lock);
}

static void put16(VmmRtc *s, unsigned idx, uint64_t v)
{
    v = MIN(v, 0xffff);
    s->cmos[idx] = (uint8_t)(v & 0xff);
    s->cmos[idx + 1] = (uint8_t)(v >> 8);
}

void vmm_rtc_set_memory(VmmRtc *s, uint64_t lowmem, uint64_t highmem)
{
    const uint64_t mib = 1024 * 1024;
    uint64_t ext_kib = lowmem > mib ? (lowmem - mib) / 1024 : 0;
    uint64_t above16 = lowmem > 16 * mib ? (lowmem - 16 * mib) / 65536 : 0;
    uint64_t high = MIN(highmem / 65536, 0xffffff);

    g_mutex_lock(&s->lock);
    put16(s, 0x15, 640);
    put16(s, 0x17, ext_kib);
    put16(s, 0x30, ext_kib);
    put16(s, 0x34, above16);
    s->cmos[0x5b] = (uint8_t)(high & 0xff);
    s->cmos[0x5c] = (uint8_t)((high >> 8) & 0xff);
    s->cmos[0x5d] = (uint8_t)((high >> 16) & 0xff);
    /* Standard CMOS checksum: sum of 0x10-0x2d, big-endian at 0x2e. */
    unsigned sum = 0;
    for (unsigned i = 0x10; i <= 0x2d; i++)
        sum += s->cmos[i];
    s->cmos[0x2e] = (uint8_t)((sum >> 8) & 0xff);
    s->cmos[0x2f] = (uint8_t)(sum & 0xff);
    g_mutex_unlock(&s->lock);
}

void vmm_rtc_attach(VmmRtc *s, GMainContext *ctx)
{
    g_mutex_lock(&s->lock);
    if (!s->timer) {
        s->timer_funcs.dispatch = rtc_timer_dispatch;
        GSource *src = g_source_new(&s->timer_funcs, sizeof(RtcSource));
        ((RtcSource *)src)->rtc = s;
        g_source_set_name(src, "rtc");
        s->timer = src;
        rtc_sync(s);
        g_source_attach(src, ctx);
    }
    g_mutex_unlock(&s->lock);
}

void vmm_rtc_set_clock(VmmRtc *s, int64_t (*now_us)(void *opaque), void *opaque)
{
    g_mutex_lock(&s->lock);
    s->clock = now_us;
    s->clock_opaque = opaque;
    if (!s->halted)
        s->last_sec = floor_div(rtc_guest_us(s), USEC);
    s->last_period = rtc_period_index(s);
    g_mutex_unlock(&s->lock);
}
