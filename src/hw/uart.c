/* 16550A UART, after the National Semiconductor PC16550D datasheet.
 *
 * Transmission is instantaneous: a THR write hands the byte to the backend
 * at once, so THRE and TEMT are set again before the guest can look and the
 * guest-visible transmit FIFO is always empty. Reception has a real 16-byte
 * FIFO with trigger levels and overrun. There is no character-timeout timer:
 * host input arrives in bursts (one vmm_uart_receive() call), so the
 * "no more characters for 4 character times" condition is taken as met as
 * soon as the burst has been delivered. */
#include "hw/uart.h"
#include "util/log.h"

/* Register offsets (DLAB selects DLL/DLM at 0/1). */
enum {
    REG_RBR_THR = 0, REG_IER = 1, REG_IIR_FCR = 2, REG_LCR = 3,
    REG_MCR = 4, REG_LSR = 5, REG_MSR = 6, REG_SCR = 7,
};

#define IER_ERBFI  0x01   /* received data available */
#define IER_ETBEI  0x02   /* transmitter holding register empty */
#define IER_ELSI   0x04   /* receiver line status */
#define IER_EDSSI  0x08   /* modem status */

#define IIR_MSI    0x00
#define IIR_NONE   0x01
#define IIR_THRI   0x02
#define IIR_RDI    0x04
#define IIR_RLSI   0x06
#define IIR_CTI    0x0c
#define IIR_FIFOS  0xc0

#define FCR_ENABLE   0x01
#define FCR_RX_RESET 0x02
#define FCR_TX_RESET 0x04
#define FCR_DMA      0x08
#define FCR_TRIGGER  0xc0

#define LCR_DLAB   0x80

#define MCR_DTR    0x01
#define MCR_RTS    0x02
#define MCR_OUT1   0x04
#define MCR_OUT2   0x08
#define MCR_LOOP   0x10

#define LSR_DR     0x01
#define LSR_OE     0x02
#define LSR_PE     0x04
#define LSR_FE     0x08
#define LSR_BI     0x10
#define LSR_THRE   0x20
#define LSR_TEMT   0x40

#define MSR_DCTS   0x01
#define MSR_DDSR   0x02
#define MSR_TERI   0x04
#define MSR_DDCD   0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS    0x10
#define MSR_DSR    0x20
#define MSR_RI     0x40
#define MSR_DCD    0x80

/* The backends have no modem lines: present a connected, ready terminal. */
#define UART_MODEM_INPUTS (MSR_DCD | MSR_DSR | MSR_CTS)

/* Bytes between the guest's THR writes and the backend's tx(): the "wire".
 * It only fills up if the backend blocks, and then the overflow is lost
 * rather than stalling vCPUs. */
#define UART_TXQ_SIZE 4096

struct VmmUart {
    GMutex lock;
    char *name;
    VmmIrq *irq;
    VmmUartTxFn tx;
    VmmUartRxSpaceFn rx_space;
    void *backend;

    uint8_t ier, lcr, mcr, fcr, msr, scr;
    uint8_t lsr_errors;        /* OE/PE/FE/BI, latched until LSR is read */
    uint16_t divisor;
    bool thr_ipending;         /* THRE interrupt condition, see uart_pending() */
    bool irq_level;            /* level the line was last driven to */

    uint8_t rx[VMM_UART_FIFO_SIZE];
    unsigned rx_head, rx_count;
    uint8_t rx_last;           /* RBR reads this when the FIFO is empty */

    uint8_t txq[UART_TXQ_SIZE];
    size_t txq_head, txq_len;
    bool tx_busy;              /* some thread is inside tx() */
    uint64_t tx_dropped;
};

static bool uart_fifo_on(const VmmUart *s)
{
    return s->fcr & FCR_ENABLE;
}

/* With FIFOs off the 16450-compatible receiver holds one character. */
static unsigned uart_rx_capacity(const VmmUart *s)
{
    return uart_fifo_on(s) ? VMM_UART_FIFO_SIZE : 1;
}

static unsigned uart_rx_trigger(const VmmUart *s)
{
    static const unsigned levels[4] = { 1, 4, 8, 14 };
    return uart_fifo_on(s) ? levels[(s->fcr & FCR_TRIGGER) >> 6] : 1;
}

static size_t uart_can_receive_locked(const VmmUart *s)
{
    unsigned cap = uart_rx_capacity(s);
    if (s->mcr & MCR_LOOP)
        return 0;
    return cap > s->rx_count ? cap - s->rx_count : 0;
}

static void uart_rx_clear(VmmUart *s)
{
    s->rx_head = 0;
    s->rx_count = 0;
}

static void uart_rx_push(VmmUart *s, uint8_t b)
{
    if (s->rx_count < uart_rx_capacity(s)) {
        s->rx[(s->rx_head + s->rx_count) % VMM_UART_FIFO_SIZE] = b;
        s->rx_count++;
    } else if (uart_fifo_on(s)) {
        /* FIFO mode: the character in the shift register is lost. */
        s->lsr_errors |= LSR_OE;
    } else {
        /* 16450 mode: the new character overwrites the unread one. */
        s->rx[s->rx_head] = b;
        s->lsr_errors |= LSR_OE;
    }
}

static void uart_txq_push(VmmUart *s, uint8_t b)
{
    if (!s->tx)
        return;
    if (s->txq_len == UART_TXQ_SIZE) {
        if (s->tx_dropped++ == 0)
            vmm_log_warn("%s: backend is not consuming output; dropping bytes", s->name);
        return;
    }
    s->txq[(s->txq_head + s->txq_len) % UART_TXQ_SIZE] = b;
    s->txq_len++;
}

/* Modem status inputs: the terminal's lines, or in loopback the MCR
 * outputs wired back (DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD). Changes
 * latch the delta bits. */
static void uart_update_msr(VmmUart *s)
{
    uint8_t in = UART_MODEM_INPUTS;
    if (s->mcr & MCR_LOOP) {
        in = 0;
        if (s->mcr & MCR_DTR)
            in |= MSR_DSR;
        if (s->mcr & MCR_RTS)
            in |= MSR_CTS;
        if (s->mcr & MCR_OUT1)
            in |= MSR_RI;
        if (s->mcr & MCR_OUT2)
            in |= MSR_DCD;
    }
    uint8_t old = s->msr & ~MSR_DELTAS;
    uint8_t changed = old ^ in;
    uint8_t delta = 0;
    if (changed & MSR_CTS)
        delta |= MSR_DCTS;
    if (changed & MSR_DSR)
        delta |= MSR_DDSR;
    if (changed & MSR_DCD)
        delta |= MSR_DDCD;
    if ((old & MSR_RI) && !(in & MSR_RI))   /* trailing edge only */
        delta |= MSR_TERI;
    s->msr = in | (s->msr & MSR_DELTAS) | delta;
}

/* Highest-priority enabled interrupt, as IIR bits 3:0. */
static uint8_t uart_pending(const VmmUart *s)
{
    if ((s->ier & IER_ELSI) && s->lsr_errors)
        return IIR_RLSI;
    if ((s->ier & IER_ERBFI) && s->rx_count > 0) {
        if (!uart_fifo_on(s) || s->rx_count >= uart_rx_trigger(s))
            return IIR_RDI;
        return IIR_CTI;
    }
    if ((s->ier & IER_ETBEI) && s->thr_ipending)
        return IIR_THRI;
    if ((s->ier & IER_EDSSI) && (s->msr & MSR_DELTAS))
        return IIR_MSI;
    return IIR_NONE;
}

/* The ISA pin is edge-triggered in the irqchip. Driving it as a level that
 * follows "something pending" means it falls whenever the guest has
 * consumed every condition (Linux's handler loops on IIR until NO_INT),
 * so the next condition is a fresh rising edge. OUT2 gates the line as the
 * tri-state buffer on PC serial cards does. */
static void uart_update_irq(VmmUart *s)
{
    bool level = uart_pending(s) != IIR_NONE && (s->mcr & MCR_OUT2);
    if (level != s->irq_level) {
        s->irq_level = level;
        vmm_irq_set(s->irq, level);
    }
}

static uint8_t uart_read_reg(VmmUart *s, unsigned reg)
{
    uint8_t v;

    switch (reg) {
    case REG_RBR_THR:
        if (s->lcr & LCR_DLAB)
            return (uint8_t)(s->divisor & 0xff);
        if (s->rx_count > 0) {
            s->rx_last = s->rx[s->rx_head];
            s->rx_head = (s->rx_head + 1) % VMM_UART_FIFO_SIZE;
            s->rx_count--;
        }
        return s->rx_last;
    case REG_IER:
        return (s->lcr & LCR_DLAB) ? (uint8_t)(s->divisor >> 8) : s->ier;
    case REG_IIR_FCR:
        v = uart_pending(s);
        /* Reading IIR clears a THRE interrupt only when it is the one shown. */
        if (v == IIR_THRI)
            s->thr_ipending = false;
        return v | (uart_fifo_on(s) ? IIR_FIFOS : 0);
    case REG_LCR:
        return s->lcr;
    case REG_MCR:
        return s->mcr;
    case REG_LSR:
        v = s->lsr_errors | LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
        s->lsr_errors = 0;
        return v;
    case REG_MSR:
        v = s->msr;
        s->msr &= ~MSR_DELTAS;
        return v;
    case REG_SCR:
        return s->scr;
    }
    return 0xff;
}

static void uart_write_fcr(VmmUart *s, uint8_t v)
{
    /* Switching FIFO mode on or off empties both FIFOs. */
    if ((v ^ s->fcr) & FCR_ENABLE)
        uart_rx_clear(s);
    /* The other bits are only programmed while FCR0 is written as 1. */
    if (!(v & FCR_ENABLE)) {
        s->fcr = 0;
        return;
    }
    if (v & FCR_RX_RESET)
        uart_rx_clear(s);
    /* FCR_TX_RESET: the transmit FIFO is always empty here. */
    s->fcr = v & (FCR_ENABLE | FCR_DMA | FCR_TRIGGER);
}

static void uart_write_reg(VmmUart *s, unsigned reg, uint8_t v)
{
    uint8_t old;

    switch (reg) {
    case REG_RBR_THR:
        if (s->lcr & LCR_DLAB) {
            s->divisor = (s->divisor & 0xff00) | v;
            break;
        }
        if (s->mcr & MCR_LOOP)
            uart_rx_push(s, v);     /* the serial output is wired to the input */
        else
            uart_txq_push(s, v);
        /* The write cleared THRE; the byte left at once, so THR is empty
         * again and the THRE interrupt condition is re-armed. */
        s->thr_ipending = true;
        break;
    case REG_IER:
        if (s->lcr & LCR_DLAB) {
            s->divisor = (s->divisor & 0x00ff) | (uint16_t)(v << 8);
            break;
        }
        old = s->ier;
        s->ier = v & 0x0f;
        /* Enabling ETBEI while THR is empty (always, here) raises the THRE
         * interrupt; Linux's 8250 relies on this to start transmission and
         * tests it at startup (UART_BUG_THRE). */
        if ((s->ier & IER_ETBEI) && !(old & IER_ETBEI))
            s->thr_ipending = true;
        else if (!(s->ier & IER_ETBEI))
            s->thr_ipending = false;
        break;
    case REG_IIR_FCR:
        uart_write_fcr(s, v);
        break;
    case REG_LCR:
        s->lcr = v;
        break;
    case REG_MCR:
        s->mcr = v & 0x1f;
        uart_update_msr(s);
        break;
    case REG_SCR:
        s->scr = v;
        break;
    default:
        /* LSR and MSR writes are factory-test only: ignored. */
        break;
    }
}

/* Hand queued output to the backend without the lock, so tx() may call
 * back into the UART. Only one thread at a time does it, so bytes keep
 * their THR order even when several vCPUs write. */
static void uart_flush_tx(VmmUart *s)
{
    uint8_t chunk[256];

    g_mutex_lock(&s->lock);
    if (s->tx_busy) {
        /* That thread picks up our bytes before it stops. */
        g_mutex_unlock(&s->lock);
        return;
    }
    s->tx_busy = true;
    while (s->txq_len > 0) {
        size_t n = 0;
        while (n < sizeof(chunk) && s->txq_len > 0) {
            chunk[n++] = s->txq[s->txq_head];
            s->txq_head = (s->txq_head + 1) % UART_TXQ_SIZE;
            s->txq_len--;
        }
        g_mutex_unlock(&s->lock);
        s->tx(s->backend, chunk, n);
        g_mutex_lock(&s->lock);
    }
    s->tx_busy = false;
    g_mutex_unlock(&s->lock);
}

static uint64_t uart_io_read(void *opaque, uint64_t offset, unsigned size)
{
    VmmUart *s = opaque;
    uint64_t val = 0;

    if (size > 8)
        size = 8;
    g_mutex_lock(&s->lock);
    size_t room = uart_can_receive_locked(s);
    for (unsigned i = 0; i < size; i++) {
        uint8_t b = 0xff;
        if (offset < VMM_UART_REGION_LEN && i < VMM_UART_REGION_LEN - offset)
            b = uart_read_reg(s, (unsigned)(offset + i));
        val |= (uint64_t)b << (8 * i);
    }
    uart_update_irq(s);
    bool notify = room == 0 && uart_can_receive_locked(s) > 0;
    g_mutex_unlock(&s->lock);
    if (notify && s->rx_space)
        s->rx_space(s->backend);
    return val;
}

static void uart_io_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    VmmUart *s = opaque;

    if (size > 8)
        size = 8;
    g_mutex_lock(&s->lock);
    size_t room = uart_can_receive_locked(s);
    for (unsigned i = 0; i < size; i++) {
        if (offset < VMM_UART_REGION_LEN && i < VMM_UART_REGION_LEN - offset)
            uart_write_reg(s, (unsigned)(offset + i), (uint8_t)(value >> (8 * i)));
    }
    uart_update_irq(s);
    bool notify = room == 0 && uart_can_receive_locked(s) > 0;
    bool flush = s->txq_len > 0;
    g_mutex_unlock(&s->lock);
    if (flush)
        uart_flush_tx(s);
    if (notify && s->rx_space)
        s->rx_space(s->backend);
}

const VmmRegionOps vmm_uart_ops = {
    .name = "uart16550",
    .read = uart_io_read,
    .write = uart_io_write,
};

size_t vmm_uart_can_receive(VmmUart *s)
{
    g_mutex_lock(&s->lock);
    size_t n = uart_can_receive_locked(s);
    g_mutex_unlock(&s->lock);
    return n;
}

void vmm_uart_receive(VmmUart *s, const uint8_t *buf, size_t len)
{
    if (!buf)
        return;
    g_mutex_lock(&s->lock);
    /* In loopback the serial input is disconnected from the pins. */
    if (!(s->mcr & MCR_LOOP)) {
        for (size_t i = 0; i < len; i++) {
            if (s->rx_count == uart_rx_capacity(s)) {
                if (uart_fifo_on(s)) {
                    s->lsr_errors |= LSR_OE;   /* the rest is lost as well */
                    break;
                }
                i = len - 1;   /* 16450: each byte overwrites the previous */
            }
            uart_rx_push(s, buf[i]);
        }
    }
    uart_update_irq(s);
    g_mutex_unlock(&s->lock);
}

void vmm_uart_reset(VmmUart *s)
{
    g_mutex_lock(&s->lock);
    size_t room = uart_can_receive_locked(s);
    /* Master reset leaves RBR, THR, SCR and the divisor latch alone (per the
     * datasheet's reset table); everything else returns to power-on values. */
    s->ier = 0;
    s->lcr = 0;
    s->mcr = 0;
    s->fcr = 0;
    s->lsr_errors = 0;
    s->thr_ipending = false;
    uart_rx_clear(s);
    s->msr = UART_MODEM_INPUTS;
    uart_update_irq(s);
    bool notify = room == 0 && uart_can_receive_locked(s) > 0;
    g_mutex_unlock(&s->lock);
    if (notify && s->rx_space)
        s->rx_space(s->backend);
}

VmmUart *vmm_uart_new(const char *name, VmmIrq *irq, VmmUartTxFn tx,
                      VmmUartRxSpaceFn rx_space, void *backend_opaque)
{
    VmmUart *s = g_new0(VmmUart, 1);
    g_mutex_init(&s->lock);
    s->name = g_strdup(name ? name : "uart");
    s->irq = irq;
    s->tx = tx;
    s->rx_space = rx_space;
    s->backend = backend_opaque;
    s->divisor = 12;          /* 9600 baud, what firmware usually leaves */
    s->msr = UART_MODEM_INPUTS;
    return s;
}

void vmm_uart_free(VmmUart *s)
{
    if (!s)
        return;
    g_mutex_clear(&s->lock);
    g_free(s->name);
    g_free(s);
}
