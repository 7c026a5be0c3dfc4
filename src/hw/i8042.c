/* Intel 8042 keyboard controller, as the IBM AT documented it and Linux's
 * i8042/atkbd/psmouse drivers use it.
 *
 * Bytes for the guest wait in two small queues, one for the controller's
 * own replies and one for the keyboard, and move one at a time into the
 * single output buffer the guest reads at port 0x60. Every byte that moves
 * in is announced by a fresh rising edge on IRQ1 (keyboard) or IRQ12 (aux):
 * the ISA pins are edge-triggered and Linux reads one byte per interrupt.
 * Commands complete instantly, so the input buffer is never full (IBF=0).
 * No mouse is attached: bytes sent to the aux device come back as a
 * time-out (0xFE with the timeout status bit), as on a real controller with
 * an empty PS/2 port, so psmouse gives up at once. */
#include "hw/i8042.h"
#include "vmm/layout.h"

#include <string.h>

#define STS_OBF       0x01
#define STS_IBF       0x02
#define STS_SYS       0x04
#define STS_CMD       0x08   /* last write went to port 0x64 */
#define STS_UNLOCKED  0x10   /* keyboard not inhibited by the key lock */
#define STS_AUXDATA   0x20
#define STS_TIMEOUT   0x40

#define CCB_KBDINT    0x01
#define CCB_AUXINT    0x02
#define CCB_SYS       0x04
#define CCB_KBDDIS    0x10
#define CCB_AUXDIS    0x20
#define CCB_XLATE     0x40
#define CCB_RESET     (CCB_XLATE | CCB_AUXDIS | CCB_SYS | CCB_KBDINT)

#define OUT_RESET     0x01   /* CPU reset line, active low */
#define OUT_A20       0x02
#define OUT_KBD_OBF   0x10   /* IRQ1 pin */
#define OUT_AUX_OBF   0x20   /* IRQ12 pin */

#define KBD_ACK       0xfa
#define KBD_BAT_OK    0xaa
#define KBD_ECHO      0xee
#define AUX_NO_DEVICE 0xfe

/* Queue entry flags, copied to the status register with the byte. */
#define Q_AUX         0x01
#define Q_TIMEOUT     0x02

#define I8042_QUEUE_LEN 16
#define I8042_RAM_LEN   32   /* controller RAM 0x00-0x1f; byte 0 is the command byte */

typedef struct {
    uint8_t data[I8042_QUEUE_LEN];
    uint8_t flags[I8042_QUEUE_LEN];
    unsigned head, len;
} I8042Queue;

struct VmmI8042 {
    GMutex lock;
    VmmIrq *kbd_irq, *aux_irq;
    void (*reset_request)(void *opaque);
    void *opaque;

    uint8_t ram[I8042_RAM_LEN];
    uint8_t outport;
    uint8_t pending;            /* command awaiting its data byte, or 0 */
    bool last_was_cmd;

    uint8_t ob, ob_flags;       /* output buffer */
    bool ob_full;
    I8042Queue ctrl, kbd;

    /* PS/2 keyboard */
    uint8_t kbd_pending;        /* keyboard command awaiting its parameter, or 0 */
    uint8_t kbd_leds, kbd_set, kbd_rate;

    bool kbd_level, aux_level;
};

static void q_clear(I8042Queue *q)
{
    q->head = 0;
    q->len = 0;
}

/* A full queue drops the byte: only a guest that never reads can fill it. */
static void q_push(I8042Queue *q, uint8_t b, uint8_t flags)
{
    if (q->len == I8042_QUEUE_LEN)
        return;
    unsigned i = (q->head + q->len) % I8042_QUEUE_LEN;
    q->data[i] = b;
    q->flags[i] = flags;
    q->len++;
}

static bool q_pop(I8042Queue *q, uint8_t *b, uint8_t *flags)
{
    if (q->len == 0)
        return false;
    *b = q->data[q->head];
    *flags = q->flags[q->head];
    q->head = (q->head + 1) % I8042_QUEUE_LEN;
    q->len--;
    return true;
}

static uint8_t *ccb(VmmI8042 *s)
{
    return &s->ram[0];
}

static void i8042_update_irq(VmmI8042 *s)
{
    bool aux = s->ob_full && (s->ob_flags & Q_AUX);
    bool kbd_level = s->ob_full && !aux && (*ccb(s) & CCB_KBDINT);
    bool aux_level = aux && (*ccb(s) & CCB_AUXINT);

    if (kbd_level != s->kbd_level) {
        s->kbd_level = kbd_level;
        vmm_irq_set(s->kbd_irq, kbd_level);
    }
    if (aux_level != s->aux_level) {
        s->aux_level = aux_level;
        vmm_irq_set(s->aux_irq, aux_level);
    }
}

/* Controller replies first; keyboard bytes only while its interface is
 * enabled (a disabled keyboard holds its data). */
static void i8042_refill(VmmI8042 *s)
{
    if (s->ob_full)
        return;
    if (q_pop(&s->ctrl, &s->ob, &s->ob_flags) ||
        (!(*ccb(s) & CCB_KBDDIS) && q_pop(&s->kbd, &s->ob, &s->ob_flags)))
        s->ob_full = true;
}

static void kbd_reply(VmmI8042 *s, uint8_t b)
{
    q_push(&s->kbd, b, 0);
}

static void kbd_defaults(VmmI8042 *s)
{
    s->kbd_pending = 0;
    s->kbd_set = 2;
    s->kbd_rate = 0x2b;   /* 10.9 cps, 500 ms: the power-on typematic default */
}

/* A byte for the PS/2 keyboard (port 0x60 with no controller command pending). */
static void kbd_write(VmmI8042 *s, uint8_t v)
{
    if (s->kbd_pending) {
        uint8_t cmd = s->kbd_pending;
        s->kbd_pending = 0;
        kbd_reply(s, KBD_ACK);
        switch (cmd) {
        case 0xed:
            s->kbd_leds = v & 0x07;
            break;
        case 0xf3:
            s->kbd_rate = v & 0x7f;
            break;
        case 0xf0:
            if (v == 0)
                kbd_reply(s, s->kbd_set);
            else if (v <= 3)
                s->kbd_set = v;
            break;
        }
        return;
    }
    switch (v) {
    case 0xed:          /* set LEDs */
    case 0xf0:          /* get/set scan code set */
    case 0xf3:          /* set typematic rate */
        s->kbd_pending = v;
        kbd_reply(s, KBD_ACK);
        break;
    case 0xee:          /* echo */
        kbd_reply(s, KBD_ECHO);
        break;
    case 0xf2:          /* identify: MF2 keyboard */
        kbd_reply(s, KBD_ACK);
        kbd_reply(s, 0xab);
        kbd_reply(s, 0x83);
        break;
    case 0xf5:          /* disable scanning, defaults */
    case 0xf6:          /* defaults */
        kbd_defaults(s);
        kbd_reply(s, KBD_ACK);
        break;
    case 0xff:          /* reset and self test (BAT) */
        q_clear(&s->kbd);
        kbd_defaults(s);
        s->kbd_leds = 0;
        kbd_reply(s, KBD_ACK);
        kbd_reply(s, KBD_BAT_OK);
        break;
    default:            /* 0xf4 enable, 0xf7-0xfd set-3 modes, 0xfe resend... */
        kbd_reply(s, KBD_ACK);
        break;
    }
}

static uint8_t i8042_outport(VmmI8042 *s)
{
    uint8_t v = s->outport & ~(OUT_KBD_OBF | OUT_AUX_OBF);
    if (s->ob_full)
        v |= (s->ob_flags & Q_AUX) ? OUT_AUX_OBF : OUT_KBD_OBF;
    return v;
}

/* Returns true when the guest pulsed the reset line. */
static bool i8042_write_cmd(VmmI8042 *s, uint8_t cmd)
{
    s->last_was_cmd = true;
    s->pending = 0;      /* a new command abandons one waiting for data */

    if (cmd >= 0x20 && cmd <= 0x3f) {           /* read controller RAM */
        q_push(&s->ctrl, s->ram[cmd & 0x1f], 0);
        return false;
    }
    if (cmd >= 0x60 && cmd <= 0x7f) {           /* write controller RAM */
        s->pending = cmd;
        return false;
    }
    if (cmd >= 0xf0)                            /* pulse output port bits 3:0 low */
        return !(cmd & OUT_RESET);

    switch (cmd) {
    case 0xa7:
        *ccb(s) |= CCB_AUXDIS;
        break;
    case 0xa8:
        *ccb(s) &= ~CCB_AUXDIS;
        break;
    case 0xa9:                                  /* aux interface test: no error */
    case 0xab:                                  /* kbd interface test: no error */
        q_push(&s->ctrl, 0x00, 0);
        break;
    case 0xaa:                                  /* controller self test */
        *ccb(s) |= CCB_SYS;
        q_push(&s->ctrl, 0x55, 0);
        break;
    case 0xad:
        *ccb(s) |= CCB_KBDDIS;
        break;
    case 0xae:
        *ccb(s) &= ~CCB_KBDDIS;
        break;
    case 0xc0:                                  /* input port: keyboard not inhibited */
        q_push(&s->ctrl, 0x80, 0);
        break;
    case 0xd0:
        q_push(&s->ctrl, i8042_outport(s), 0);
        break;
    case 0xd1:                                  /* write output port */
    case 0xd2:                                  /* write keyboard output buffer */
    case 0xd3:                                  /* write aux output buffer */
    case 0xd4:                                  /* write to aux device */
        s->pending = cmd;
        break;
    case 0xdd:
        s->outport &= ~OUT_A20;
        break;
    case 0xdf:
        s->outport |= OUT_A20;
        break;
    default:
        /* Vendor and password commands: ignored, as unknown commands are. */
        break;
    }
    return false;
}

/* Returns true when the guest pulled the reset line through the output port. */
static bool i8042_write_data(VmmI8042 *s, uint8_t v)
{
    uint8_t cmd = s->pending;

    s->last_was_cmd = false;
    s->pending = 0;
    if (cmd >= 0x60 && cmd <= 0x7f) {
        s->ram[cmd & 0x1f] = v;
        return false;
    }
    switch (cmd) {
    case 0xd1:
        /* A20 is always on in this machine; the bit is only remembered. */
        s->outport = v;
        return !(v & OUT_RESET);
    case 0xd2:
        q_push(&s->ctrl, v, 0);
        return false;
    case 0xd3:
        q_push(&s->ctrl, v, Q_AUX);
        return false;
    case 0xd4:
        q_push(&s->ctrl, AUX_NO_DEVICE, Q_AUX | Q_TIMEOUT);
        return false;
    default:
        /* Sending to the keyboard re-enables its interface, as the 8042
         * firmware does before clocking the byte out. */
        *ccb(s) &= ~CCB_KBDDIS;
        kbd_write(s, v);
        return false;
    }
}

static uint8_t i8042_read_status(VmmI8042 *s)
{
    uint8_t v = STS_UNLOCKED;
    if (s->ob_full) {
        v |= STS_OBF;
        if (s->ob_flags & Q_AUX)
            v |= STS_AUXDATA;
        if (s->ob_flags & Q_TIMEOUT)
            v |= STS_TIMEOUT;
    }
    if (*ccb(s) & CCB_SYS)
        v |= STS_SYS;
    if (s->last_was_cmd)
        v |= STS_CMD;
    return v;
}

static uint8_t i8042_read_data(VmmI8042 *s)
{
    uint8_t v = s->ob;   /* an empty buffer reads as its last byte */
    if (s->ob_full) {
        s->ob_full = false;
        /* Let the line fall before the next byte moves in, so that byte
         * gets its own edge. */
        i8042_update_irq(s);
        i8042_refill(s);
    }
    return v;
}

static void i8042_finish(VmmI8042 *s, bool reset)
{
    i8042_refill(s);
    i8042_update_irq(s);
    g_mutex_unlock(&s->lock);
    if (reset && s->reset_request)
        s->reset_request(s->opaque);
}

/* Each region is one byte wide; any other bytes of a wider access read as
 * an unassigned port would (all ones) and are not written. */
static uint64_t i8042_data_read(void *opaque, uint64_t offset, unsigned size)
{
    VmmI8042 *s = opaque;
    uint64_t v = size >= 8 ? ~0ULL : ~0ULL << (size * 8);
    if (offset != 0 || size == 0)
        return ~0ULL;
    g_mutex_lock(&s->lock);
    v |= i8042_read_data(s);
    i8042_finish(s, false);
    return v;
}

static void i8042_data_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    VmmI8042 *s = opaque;
    if (offset != 0 || size == 0)
        return;
    g_mutex_lock(&s->lock);
    bool reset = i8042_write_data(s, (uint8_t)value);
    i8042_finish(s, reset);
}

static uint64_t i8042_cmd_read(void *opaque, uint64_t offset, unsigned size)
{
    VmmI8042 *s = opaque;
    uint64_t v = size >= 8 ? ~0ULL : ~0ULL << (size * 8);
    if (offset != 0 || size == 0)
        return ~0ULL;
    g_mutex_lock(&s->lock);
    v |= i8042_read_status(s);
    g_mutex_unlock(&s->lock);
    return v;
}

static void i8042_cmd_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    VmmI8042 *s = opaque;
    if (offset != 0 || size == 0)
        return;
    g_mutex_lock(&s->lock);
    bool reset = i8042_write_cmd(s, (uint8_t)value);
    i8042_finish(s, reset);
}

const VmmRegionOps vmm_i8042_data_ops = {
    .name = "i8042-data",
    .read = i8042_data_read,
    .write = i8042_data_write,
};

const VmmRegionOps vmm_i8042_cmd_ops = {
    .name = "i8042-cmd",
    .read = i8042_cmd_read,
    .write = i8042_cmd_write,
};

void vmm_i8042_reset(VmmI8042 *s)
{
    g_mutex_lock(&s->lock);
    memset(s->ram, 0, sizeof(s->ram));
    *ccb(s) = CCB_RESET;
    s->outport = OUT_RESET | OUT_A20;
    s->pending = 0;
    s->last_was_cmd = false;
    s->ob = 0;
    s->ob_flags = 0;
    s->ob_full = false;
    q_clear(&s->ctrl);
    q_clear(&s->kbd);
    kbd_defaults(s);
    s->kbd_leds = 0;
    i8042_update_irq(s);
    g_mutex_unlock(&s->lock);
}

VmmI8042 *vmm_i8042_new(VmmIrq *kbd_irq, VmmIrq *aux_irq,
                        void (*reset_request)(void *opaque), void *opaque)
{
    VmmI8042 *s = g_new0(VmmI8042, 1);
    g_mutex_init(&s->lock);
    s->kbd_irq = kbd_irq;
    s->aux_irq = aux_irq;
    s->reset_request = reset_request;
    s->opaque = opaque;
    vmm_i8042_reset(s);
    return s;
}

void vmm_i8042_free(VmmI8042 *s)
{
    if (!s)
        return;
    g_mutex_clear(&s->lock);
    g_free(s);
}

bool vmm_i8042_register(VmmI8042 *s, VmmBus *pio, GError **err)
{
    if (!vmm_bus_register(pio, PORT_I8042_DATA, 1, &vmm_i8042_data_ops, s, err))
        return false;
    if (!vmm_bus_register(pio, PORT_I8042_CMD, 1, &vmm_i8042_cmd_ops, s, err)) {
        vmm_bus_unregister(pio, PORT_I8042_DATA);
        return false;
    }
    return true;
}
