/* Realtek RTL8139C+ (rtl8139), see rtl8139.h. Register offsets and bits
 * follow Realtek's RTL8139C(L)+ datasheet (rev. 1.6) and what Linux's
 * 8139cp.c and 8139too.c rely on. */
#include "hw/rtl8139.h"
#include "hw/pci.h"
#include "net/nicio.h"
#include "util/log.h"
#include "vmm/vm.h"

#include <errno.h>
#include <string.h>

#define RTL_VENDOR    0x10ec
#define RTL_DEVICE    0x8139
#define RTL_REVISION  0x20          /* C+: 8139cp binds, 8139too leaves it */
#define REG_SIZE      0x100

/* registers (byte offsets) */
#define IDR0       0x00
#define MAR0       0x08
#define TSD0       0x10             /* 4 x 32 bits */
#define TSAD0      0x20             /* 4 x 32; C+: TxRingAddr (64 bits) */
#define HTXRING    0x28             /* C+: high-priority TxRingAddr (64) */
#define RBSTART    0x30
#define CR         0x37
#define CAPR       0x38
#define CBR        0x3a
#define IMR        0x3c
#define ISR        0x3e
#define TCR        0x40
#define RCR        0x44
#define TCTR       0x48
#define MPC        0x4c
#define CR9346     0x50
#define CONFIG0    0x51
#define CONFIG1    0x52
#define TIMERINT   0x54
#define MSR        0x58
#define CONFIG3    0x59
#define CONFIG4    0x5a
#define MULINT     0x5c
#define TSAD_SUM   0x60
#define BMCR       0x62
#define BMSR       0x64
#define ANAR       0x66
#define ANLPAR     0x68
#define ANER       0x6a
#define CONFIG5    0xd8
#define TXPOLL     0xd9
#define RXMAXSIZE  0xda
#define CPCR       0xe0
#define INTRMIT    0xe2
#define RXRING     0xe4             /* 64 bits */

#define CR_RST     0x10
#define CR_RE      0x08
#define CR_TE      0x04
#define CR_BUFE    0x01

/* interrupt causes (IMR/ISR) */
#define INT_ROK      0x0001
#define INT_RER      0x0002
#define INT_TOK      0x0004
#define INT_TER      0x0008
#define INT_RXOVW    0x0010         /* C+: no receive descriptor */
#define INT_LINKCHG  0x0020
#define INT_FOVW     0x0040
#define INT_TXEMPTY  0x0080         /* C+: TDU */
#define INT_SWINT    0x0100
#define INT_TIMEOUT  0x4000
#define INT_ALL      0xc1ff

#define TSD_OWN    (1u << 13)
#define TSD_TUN    (1u << 14)
#define TSD_TOK    (1u << 15)
#define TSD_TABT   (1u << 30)
#define TSD_SIZE   0x1fff
#define TX_CLASSIC_MAX 1792         /* the transmit FIFO's limit */

#define RCR_AAP    0x01
#define RCR_APM    0x02
#define RCR_AM     0x04
#define RCR_AB     0x08
#define RCR_WRAP   0x80             /* 8139too's RxNoWrap: frames run past the end */
/* TCR's hardware version bits: RTL8139C+ */
#define TCR_HWVER  0x74800000u

/* classic receive header */
#define RXS_ROK    0x0001
#define RXS_BAR    0x2000
#define RXS_PAM    0x4000
#define RXS_MAR    0x8000

#define CP_TXON    0x0001
#define CP_RXON    0x0002
#define CP_RXCSUM  0x0020

#define TXPOLL_HPQ 0x80
#define TXPOLL_NPQ 0x40
#define TXPOLL_FSW 0x01

/* C+ descriptors: opts1, opts2, buffer address (64 bits) */
#define D_OWN      (1u << 31)
#define D_EOR      (1u << 30)
#define D_FS       (1u << 29)
#define D_LS       (1u << 28)
#define D_LGSEN    (1u << 27)
#define D_IPCS     (1u << 18)
#define D_UDPCS    (1u << 17)
#define D_TCPCS    (1u << 16)
#define D_TXERR    (1u << 23)
#define D_RXMCAST  (1u << 26)
#define D_RXERR    (1u << 20)
#define D_RXLONG   (1u << 21)
#define D_IPF      (1u << 15)
#define D_UDPF     (1u << 14)
#define D_TCPF     (1u << 13)
#define PID_TCP    1u
#define PID_UDP    2u
#define PID_IP     3u
#define RING_MAX   1024             /* descriptors per ring, the chip's limit */

#define TX_MAX     (0x10000 + 256)
#define RX_MAX     (0x10000 + 8)
#define MIN_FRAME  60
#define TCTR_MHZ   33               /* TCTR counts PCI clocks */

#define WARN_TX    1
#define WARN_RX    2

struct VmmRtl8139 {
    VmmVm *vm;
    VmmPciDevice pci;
    char *name;
    uint8_t mac[6];
    VmmNicIo *io;
    VmmIrq *intx;
    GMutex lock;                 /* everything below */
    uint8_t regs[REG_SIZE];
    uint16_t eeprom[64];
    struct {                     /* 93C46 shift state */
        unsigned bits, cmd;      /* command bits after the start bit */
        bool started, reading;
        uint16_t out;
        unsigned addr, left;
        uint8_t prev, dout;
    } ee;
    bool link_up, line;
    unsigned txi, htxi, rxi;     /* C+ ring positions */
    unsigned tx_next;            /* classic: the slot due next */
    gint64 tctr_zero;            /* TCTR = (now - tctr_zero) * 33 */
    gint64 timer_at;             /* TimerInt deadline, 0 = off */
    uint8_t *tx, *seg;
    size_t tx_len;
    bool tx_bad;
    bool rx_held;
    VmmNetStats st;
};

static uint16_t g16(const uint8_t *p) { return pci_get_u16(p); }
static uint32_t g32(const uint8_t *p) { return pci_get_u32(p); }
static uint64_t g64(const uint8_t *p) { return g32(p) | (uint64_t)g32(p + 4) << 32; }
#define R8(r, o)  ((r)->regs[o])
#define R16(r, o) g16((r)->regs + (o))
#define R32(r, o) g32((r)->regs + (o))
static void W16(VmmRtl8139 *r, unsigned o, uint16_t v) { pci_set_u16(r->regs + o, v); }
static void W32(VmmRtl8139 *r, unsigned o, uint32_t v) { pci_set_u32(r->regs + o, v); }

/* Hostile register values and descriptors: counted every time, logged
 * once per kind; the device keeps working. */
#define guest_error(dev, kind, ...) vmm_nicio_warn_once((dev)->io, kind, __VA_ARGS__)

/* ---- interrupts --------------------------------------------------------- */

static void set_line(VmmRtl8139 *r, bool on)
{
    if (r->line == on)
        return;
    r->line = on;
    vmm_irq_set(r->intx, on);
}

static void update_irq(VmmRtl8139 *r)
{
    /* config space has its own lock, taken inside ours */
    bool disabled = vmm_pci_config_read(&r->pci, PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE;
    set_line(r, !disabled && (R16(r, ISR) & R16(r, IMR)));
}

static void raise_cause(VmmRtl8139 *r, uint16_t cause)
{
    W16(r, ISR, R16(r, ISR) | cause);
    update_irq(r);
}

static gint64 now_us(void) { return g_get_monotonic_time(); }

static uint32_t tctr(VmmRtl8139 *r)
{
    return (uint32_t)((now_us() - r->tctr_zero) * TCTR_MHZ);
}

/* TimerInt: TimeOut when TCTR reaches it (again each time the counter
 * wraps round); 0 turns it off. */
static void timer_arm(VmmRtl8139 *r)
{
    uint32_t t = R32(r, TIMERINT), now = tctr(r);
    if (!t) {
        r->timer_at = 0;
        return;
    }
    uint32_t ticks = t - now;   /* modulo 2^32: the next time TCTR == t */
    r->timer_at = now_us() + (gint64)ticks / TCTR_MHZ + 1;
}

static gint64 nic_timers(void *opaque, gint64 now)
{
    VmmRtl8139 *r = opaque;
    g_mutex_lock(&r->lock);
    if (r->timer_at && now >= r->timer_at) {
        raise_cause(r, INT_TIMEOUT);
        r->timer_at = now + (gint64)(((uint64_t)1 << 32) / TCTR_MHZ);
    }
    gint64 next = r->timer_at;
    /* C+ receive has no doorbell: the driver hands descriptors back by
     * setting OWN in RAM only, so a frame waiting for one looks again
     * shortly (the chip polls the ring the same way) */
    if (r->rx_held && R16(r, CPCR) & CP_RXON && (!next || next > now + VMM_NICIO_RX_RETRY_US))
        next = now + VMM_NICIO_RX_RETRY_US;
    g_mutex_unlock(&r->lock);
    return next;
}

/* ---- the 93C46 EEPROM --------------------------------------------------- */

/* The layout 8139too and 8139cp read: word 0 the ID 0x8129, words 7-9
 * the MAC, PCI IDs at 1-4. */
static void eeprom_init(VmmRtl8139 *r)
{
    uint16_t *w = r->eeprom;
    memset(w, 0, sizeof(r->eeprom));
    w[0] = 0x8129;
    w[1] = RTL_VENDOR;
    w[2] = RTL_DEVICE;
    w[3] = RTL_VENDOR;
    w[4] = RTL_DEVICE;
    for (int i = 0; i < 3; i++)
        w[7 + i] = (uint16_t)(r->mac[2 * i] | r->mac[2 * i + 1] << 8);
}

#define EE_CS  0x08
#define EE_SK  0x04
#define EE_DI  0x02
#define EE_DO  0x01
#define EEM_MASK 0xc0
#define EEM_PROG 0x80

/* 9346CR in programming mode: a Microwire read is a start bit, opcode
 * 10 and a 6-bit address clocked in on SK's rising edges, then a dummy 0
 * and 16 data bits (then the next words, sequentially). Writes and the
 * other opcodes are ignored: the EEPROM is read-only here. */
static void eeprom_clock(VmmRtl8139 *r, uint8_t v)
{
    bool rise = (v & EE_SK) && !(r->ee.prev & EE_SK);
    if (!(v & EE_CS)) {
        memset(&r->ee, 0, sizeof(r->ee));
        r->ee.prev = v;
        return;
    }
    r->ee.prev = v;
    if (!rise)
        return;
    if (r->ee.reading) {
        r->ee.dout = r->ee.out >> 15;
        r->ee.out <<= 1;
        if (--r->ee.left == 0) {   /* sequential read: the next word */
            r->ee.addr = (r->ee.addr + 1) & 63;
            r->ee.out = r->eeprom[r->ee.addr];
            r->ee.left = 16;
        }
        return;
    }
    bool di = v & EE_DI;
    if (!r->ee.started) {
        r->ee.started = di;   /* leading zeros are not part of a command */
        return;
    }
    r->ee.cmd = r->ee.cmd << 1 | di;
    if (++r->ee.bits < 8)
        return;
    if ((r->ee.cmd >> 6) == 2) {   /* READ */
        r->ee.addr = r->ee.cmd & 63;
        r->ee.out = r->eeprom[r->ee.addr];
        r->ee.left = 16;
        r->ee.reading = true;
        r->ee.dout = 0;           /* the dummy bit */
    } else {
        r->ee.started = false;    /* EWEN/WRITE/ERASE: ignored */
        r->ee.bits = r->ee.cmd = 0;
    }
}

static void cr9346_write(VmmRtl8139 *r, uint8_t v)
{
    if ((v & EEM_MASK) == 0x40) {
        /* auto-load: the MAC from the EEPROM, back to normal mode */
        for (int i = 0; i < 3; i++) {
            r->regs[IDR0 + 2 * i] = (uint8_t)r->eeprom[7 + i];
            r->regs[IDR0 + 2 * i + 1] = (uint8_t)(r->eeprom[7 + i] >> 8);
        }
        R8(r, CR9346) = 0;
        return;
    }
    R8(r, CR9346) = v & ~EE_DO;
    if ((v & EEM_MASK) == EEM_PROG)
        eeprom_clock(r, v);
    else
        memset(&r->ee, 0, sizeof(r->ee));
}

/* ---- PHY ---------------------------------------------------------------- */

static void set_link_regs(VmmRtl8139 *r)
{
    /* 100BASE-TX full duplex capable, autonegotiation able; link and
     * autonegotiation complete when up */
    W16(r, BMSR, r->link_up ? 0x782d : 0x7809);
    W16(r, ANLPAR, r->link_up ? 0x45e1 : 0);
    /* MediaStatus: LINKB is "link fail"; AUX power present */
    R8(r, MSR) = r->link_up ? 0x10 : 0x14;
}

/* ---- reset -------------------------------------------------------------- */

static void soft_reset(VmmRtl8139 *r)
{
    /* CR.RST: the buffers and pointers, not the MAC, multicast filter
     * or PCI state */
    for (int i = 0; i < 4; i++)
        W32(r, TSD0 + 4 * i, TSD_OWN);
    R8(r, CR) = CR_BUFE;
    W16(r, CAPR, 0xfff0);        /* read pointer 0: CAPR is 16 behind it */
    W16(r, CBR, 0);
    W16(r, IMR, 0);
    W16(r, ISR, 0);
    W16(r, CPCR, 0);
    r->txi = r->htxi = r->rxi = r->tx_next = 0;
    r->tx_len = 0;
    r->tx_bad = r->rx_held = false;
    update_irq(r);
}

static void device_reset(VmmRtl8139 *r)
{
    memset(r->regs, 0, sizeof(r->regs));
    memcpy(r->regs + IDR0, r->mac, 6);
    W32(r, TCR, TCR_HWVER);
    W32(r, RCR, 0);
    R8(r, CONFIG0) = 0;
    R8(r, CONFIG1) = 0x0d;       /* PMEn, VPD, IOMAP|MEMMAP */
    R8(r, CONFIG3) = 0x01;       /* fast back-to-back */
    R8(r, CONFIG5) = 0;
    W16(r, BMCR, 0x3100);        /* 100 Mb/s, autonegotiation, full duplex */
    W16(r, ANAR, 0x05e1);
    W16(r, ANER, 0x0001);
    W16(r, RXMAXSIZE, 0x0600);
    memset(&r->ee, 0, sizeof(r->ee));
    r->tctr_zero = now_us();
    r->timer_at = 0;
    set_link_regs(r);
    soft_reset(r);
}

/* ---- transmit ------------------------------------------------------------- */

static void host_send(VmmRtl8139 *r, uint8_t *frame, size_t len)
{
    if (!r->link_up) {
        r->st.tx_drop++;
        return;
    }
    if (vmm_nicio_send(r->io, frame, len) < 0) {
        if (errno == EAGAIN || errno == ENOBUFS || errno == EPIPE)
            r->st.tx_drop++;
        else
            r->st.tx_errs++;
        return;
    }
    r->st.tx_pkts++;
    r->st.tx_bytes += len;
}

/* Classic mode: writing TSDn with OWN clear sends SIZE bytes from TSADn,
 * then the slot reports OWN|TOK and TOK is raised. */
static void tsd_write(VmmRtl8139 *r, unsigned slot, uint32_t v)
{
    W32(r, TSD0 + 4 * slot, v);
    if (v & TSD_OWN || !(R8(r, CR) & CR_TE))
        return;
    size_t len = v & TSD_SIZE;
    uint32_t addr = R32(r, TSAD0 + 4 * slot);
    const uint8_t *p = len ? vmm_vm_gpa_to_hva(r->vm, addr, len) : NULL;
    if (len > TX_CLASSIC_MAX || !p) {
        r->st.tx_errs++;
        if (len)
            guest_error(r, WARN_TX, "transmit slot %u: %zu bytes at 0x%x %s", slot, len, addr,
                        len > TX_CLASSIC_MAX ? "exceed the 1792-byte FIFO" : "are outside RAM");
        W32(r, TSD0 + 4 * slot, (v & ~TSD_SIZE) | TSD_OWN | TSD_TABT | (uint32_t)len);
        raise_cause(r, INT_TER);
        return;
    }
    memcpy(r->tx, p, len);
    host_send(r, r->tx, len);
    W32(r, TSD0 + 4 * slot, v | TSD_OWN | TSD_TOK);
    r->tx_next = (slot + 1) & 3;
    raise_cause(r, INT_TOK);
}

/* TSAD (the transmit status of all descriptors), computed */
static uint16_t tx_summary(VmmRtl8139 *r)
{
    uint16_t s = 0;
    for (unsigned i = 0; i < 4; i++) {
        uint32_t t = R32(r, TSD0 + 4 * i);
        s |= (uint16_t)((t & TSD_TOK ? 1u << 12 : 0) | (t & TSD_TUN ? 1u << 8 : 0) |
                        (t & TSD_TABT ? 1u << 4 : 0) | (t & TSD_OWN ? 1u : 0)) << i;
    }
    return s;
}

/* Checksum field at off over [start, len) plus `sum` (a pseudo-header),
 * the field itself counted as zero: the device computes it from
 * scratch, whatever the driver left there. */
static void put_csum(uint8_t *p, size_t len, size_t start, size_t off, uint32_t sum, bool udp)
{
    if (start > len || off + 2 > len)
        return;
    vmm_wr16be(p + off, 0);
    uint16_t c = (uint16_t)~vmm_csum_fold(vmm_csum_add(sum, p + start, len - start));
    if (udp && c == 0)
        c = 0xffff;
    vmm_wr16be(p + off, c);
}

/* The IPv4 header of an Ethernet frame: its length, 0 when there is none. */
static size_t ipv4_hdr(const uint8_t *f, size_t len)
{
    if (len < 34 || vmm_rd16be(f + 12) != 0x0800 || (f[14] >> 4) != 4)
        return 0;
    size_t ihl = (f[14] & 0xf) * 4u;
    return ihl >= 20 && 14 + ihl <= len ? ihl : 0;
}

/* The IPv4 pseudo-header's sum: addresses, protocol, L4 length. */
static uint32_t pseudo_sum(const uint8_t *f, size_t l4len)
{
    return vmm_csum_add(0, f + 26, 8) + f[23] + (uint32_t)l4len;
}

/* IPCS/UDPCS/TCPCS on an IPv4 frame (other frames go as they are). */
static void tx_csum(uint8_t *f, size_t len, uint32_t opts)
{
    size_t ihl = ipv4_hdr(f, len);
    if (!ihl)
        return;
    size_t tot = MIN((size_t)vmm_rd16be(f + 16), len - 14);
    if (opts & D_IPCS)
        put_csum(f, 14 + ihl, 14, 24, 0, false);
    if (tot <= ihl || (vmm_rd16be(f + 20) & 0x3fff))
        return;   /* no payload, or a fragment: no L4 header to fill */
    size_t l4 = 14 + ihl, l4len = tot - ihl, end = 14 + tot;
    if (opts & D_TCPCS && f[23] == 6 && l4len >= 20)
        put_csum(f, end, l4, l4 + 16, pseudo_sum(f, l4len), false);
    else if (opts & D_UDPCS && f[23] == 17 && l4len >= 8)
        put_csum(f, end, l4, l4 + 6, pseudo_sum(f, l4len), true);
}

/* Large send: TCP/IPv4 cut into MSS-byte segments, each with its IP
 * length, id and checksum, sequence number, flags and TCP checksum. */
static void tx_lso(VmmRtl8139 *r, size_t mss)
{
    uint8_t *f = r->tx;
    size_t len = r->tx_len, ihl = ipv4_hdr(f, len);
    size_t thl = ihl && f[23] == 6 && 14 + ihl + 20 <= len ? (f[14 + ihl + 12] >> 4) * 4u : 0;
    size_t hdr = 14 + ihl + thl;
    if (!thl || thl < 20 || hdr > len || mss < 8 || hdr + mss > TX_MAX) {
        r->st.tx_errs++;
        guest_error(r, WARN_TX, "large send of a %zu-byte frame that is not TCP/IPv4 with a "
                    "usable MSS (%zu)", len, mss);
        return;
    }
    size_t payload = len - hdr;
    uint16_t id = vmm_rd16be(f + 18);
    uint8_t *t = f + 14 + ihl;
    uint32_t seq = (uint32_t)vmm_rd16be(t + 4) << 16 | vmm_rd16be(t + 6);
    unsigned n = 0;
    for (size_t off = 0; off < payload || (payload == 0 && n == 0); off += mss, n++) {
        size_t chunk = MIN(mss, payload - off), sl = hdr + chunk;
        uint8_t *s = r->seg;
        memcpy(s, f, hdr);
        memcpy(s + hdr, f + hdr + off, chunk);
        vmm_wr16be(s + 16, (uint16_t)(sl - 14));
        vmm_wr16be(s + 18, (uint16_t)(id + n));
        uint32_t sq = seq + (uint32_t)off;
        vmm_wr16be(s + 14 + ihl + 4, (uint16_t)(sq >> 16));
        vmm_wr16be(s + 14 + ihl + 6, (uint16_t)sq);
        if (off + chunk < payload)
            s[14 + ihl + 13] &= (uint8_t)~0x09;   /* FIN, PSH: last segment only */
        tx_csum(s, sl, D_IPCS | D_TCPCS);
        host_send(r, s, sl);
        if (!payload)
            break;
    }
}

/* C+ mode: one transmit ring from its current position until a
 * descriptor the driver still owns (at most a ring's worth per poll). */
static void cp_tx_ring(VmmRtl8139 *r, unsigned reg, unsigned *idx)
{
    uint64_t base = R32(r, reg) | (uint64_t)R32(r, reg + 4) << 32;
    bool sent = false;
    for (unsigned n = 0; n < RING_MAX; n++) {
        uint8_t *d = vmm_vm_gpa_to_hva(r->vm, base + (uint64_t)16 * *idx, 16);
        if (!d) {
            r->st.tx_errs++;
            guest_error(r, WARN_TX, "transmit descriptor %u at 0x%" G_GINT64_MODIFIER "x is "
                        "outside RAM", *idx, base + (uint64_t)16 * *idx);
            raise_cause(r, INT_TER);
            return;
        }
        uint32_t o1 = __atomic_load_n((uint32_t *)d, __ATOMIC_ACQUIRE);
        o1 = GUINT32_FROM_LE(o1);
        if (!(o1 & D_OWN))
            break;
        size_t len = o1 & 0xffff;
        uint64_t addr = g64(d + 8);
        if (o1 & D_FS) {
            r->tx_len = 0;
            r->tx_bad = false;
        }
        if (len && !r->tx_bad) {
            const void *p = vmm_vm_gpa_to_hva(r->vm, addr, len);
            if (len > TX_MAX - r->tx_len || !p) {
                r->tx_bad = true;
                guest_error(r, WARN_TX, "transmit buffer 0x%" G_GINT64_MODIFIER "x+%zu %s",
                            addr, len, p ? "makes the frame longer than 64 KiB" : "is outside RAM");
            } else {
                memcpy(r->tx + r->tx_len, p, len);
                r->tx_len += len;
            }
        }
        uint32_t done = o1 & ~D_OWN;
        if (o1 & D_LS) {
            if (r->tx_bad || !r->tx_len) {
                r->st.tx_errs++;
                done |= D_TXERR;
            } else if (o1 & D_LGSEN) {
                tx_lso(r, (o1 >> 16) & 0x7ff);
            } else {
                tx_csum(r->tx, r->tx_len, o1);
                host_send(r, r->tx, r->tx_len);
            }
            r->tx_len = 0;
            r->tx_bad = false;
            sent = true;
        }
        __atomic_store_n((uint32_t *)d, GUINT32_TO_LE(done), __ATOMIC_RELEASE);
        *idx = o1 & D_EOR || *idx + 1 >= RING_MAX ? 0 : *idx + 1;
    }
    if (sent)
        raise_cause(r, INT_TOK);
}

static void txpoll_write(VmmRtl8139 *r, uint8_t v)
{
    if (v & TXPOLL_FSW)
        raise_cause(r, INT_SWINT);
    if (!(R8(r, CR) & CR_TE) || !(R16(r, CPCR) & CP_TXON))
        return;
    if (v & TXPOLL_HPQ)
        cp_tx_ring(r, HTXRING, &r->htxi);
    if (v & TXPOLL_NPQ)
        cp_tx_ring(r, TSAD0, &r->txi);
}

/* ---- receive -------------------------------------------------------------- */

/* Linux's ether_crc(): the CRC-32 computed MSB first, the multicast
 * hash's source (its top 6 bits pick a MAR bit). */
static uint32_t ether_crc_be(const uint8_t *p, size_t len)
{
    uint32_t c = ~0u;
    for (size_t i = 0; i < len; i++) {
        uint8_t o = p[i];
        for (int b = 0; b < 8; b++, o >>= 1)
            c = (c << 1) ^ (((c >> 31) ^ (o & 1)) ? 0x04c11db7u : 0);
    }
    return c;
}

/* RCR's filters; *status gets the classic header's PAM/BAR/MAR. */
static bool rx_filter(VmmRtl8139 *r, const uint8_t *dst, uint16_t *status)
{
    uint32_t rcr = R32(r, RCR);
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    if (!memcmp(dst, bcast, 6)) {
        *status = RXS_BAR;
        return rcr & (RCR_AB | RCR_AAP);
    }
    if (dst[0] & 1) {
        *status = RXS_MAR;
        if (rcr & RCR_AAP)
            return true;
        unsigned bit = ether_crc_be(dst, 6) >> 26;
        return rcr & RCR_AM && R8(r, MAR0 + bit / 8) >> (bit % 8) & 1;
    }
    *status = RXS_PAM;
    return rcr & RCR_AAP || (rcr & RCR_APM && !memcmp(dst, r->regs + IDR0, 6));
}

/* C+ receive checksum status: the protocol id and the fail bits. */
static uint32_t rx_csum_bits(const uint8_t *f, size_t len)
{
    size_t ihl = ipv4_hdr(f, len);
    if (!ihl)
        return 0;
    uint32_t bits = PID_IP << 16;
    if (vmm_csum_fold(vmm_csum_add(0, f + 14, ihl)) != 0xffff)
        bits |= D_IPF;
    size_t tot = vmm_rd16be(f + 16);
    if (tot < ihl || 14 + tot > len || (vmm_rd16be(f + 20) & 0x3fff))
        return bits;
    const uint8_t *l4 = f + 14 + ihl;
    size_t l4len = tot - ihl;
    uint32_t sum = pseudo_sum(f, l4len);
    if (f[23] == 6 && l4len >= 20) {
        bits = PID_TCP << 16 | (bits & D_IPF);
        if (vmm_csum_fold(vmm_csum_add(sum, l4, l4len)) != 0xffff)
            bits |= D_TCPF;
    } else if (f[23] == 17 && l4len >= 8) {
        bits = PID_UDP << 16 | (bits & D_IPF);
        if (vmm_rd16be(l4 + 6) && vmm_csum_fold(vmm_csum_add(sum, l4, l4len)) != 0xffff)
            bits |= D_UDPF;
    }
    return bits;
}

typedef enum { RX_DONE, RX_HOLD } RxResult;

/* C+ mode: the frame (with its FCS) into the next descriptor. */
static RxResult cp_rx(VmmRtl8139 *r, const uint8_t *f, size_t len, size_t wire, uint16_t fst)
{
    uint64_t base = R32(r, RXRING) | (uint64_t)R32(r, RXRING + 4) << 32;
    uint8_t *d = vmm_vm_gpa_to_hva(r->vm, base + (uint64_t)16 * r->rxi, 16);
    if (!d) {
        r->st.rx_errs++;
        guest_error(r, WARN_RX, "receive descriptor %u at 0x%" G_GINT64_MODIFIER "x is outside "
                    "RAM", r->rxi, base + (uint64_t)16 * r->rxi);
        raise_cause(r, INT_RER);
        return RX_DONE;
    }
    uint32_t o1 = GUINT32_FROM_LE(__atomic_load_n((uint32_t *)d, __ATOMIC_ACQUIRE));
    if (!(o1 & D_OWN)) {
        if (!r->rx_held) {
            r->rx_held = true;
            raise_cause(r, INT_RXOVW);
        }
        return RX_HOLD;
    }
    r->rx_held = false;
    size_t bs = o1 & 0x1fff;
    uint64_t addr = g64(d + 8);
    uint32_t st = (o1 & D_EOR) | D_FS | D_LS | (uint32_t)wire;
    uint8_t *buf = NULL;
    if (wire > bs) {
        st = (o1 & D_EOR) | D_FS | D_LS | D_RXERR | D_RXLONG | (uint32_t)MIN(wire, bs);
        r->st.rx_errs++;
    } else if (!(buf = vmm_vm_gpa_to_hva(r->vm, addr, wire))) {
        st |= D_RXERR;
        r->st.rx_errs++;
        guest_error(r, WARN_RX, "receive buffer 0x%" G_GINT64_MODIFIER "x+%zu is outside RAM",
                    addr, wire);
    }
    if (buf) {
        memcpy(buf, f, wire);
        if (fst & RXS_MAR)
            st |= D_RXMCAST;
        if (R16(r, CPCR) & CP_RXCSUM)
            st |= rx_csum_bits(f, len);
        r->st.rx_pkts++;
        r->st.rx_bytes += len;
    }
    pci_set_u32(d + 4, 0);
    __atomic_store_n((uint32_t *)d, GUINT32_TO_LE(st), __ATOMIC_RELEASE);   /* OWN last */
    r->rxi = o1 & D_EOR || r->rxi + 1 >= RING_MAX ? 0 : r->rxi + 1;
    raise_cause(r, st & D_RXERR ? INT_RER : INT_ROK);
    return RX_DONE;
}

/* Classic mode: the ring buffer of 8K << RBLEN bytes at RBSTART, each
 * frame behind a 4-byte header (status, length with the FCS), 4-byte
 * aligned; CAPR + 16 is where the driver reads, CBR where we write. */
static RxResult classic_rx(VmmRtl8139 *r, const uint8_t *f, size_t wire, uint16_t fst)
{
    uint32_t rcr = R32(r, RCR);
    size_t size = (size_t)8192 << ((rcr >> 11) & 3);
    size_t rd = (R16(r, CAPR) + 16u) % size, wr = R16(r, CBR) % size;
    size_t avail = (rd + size - wr) % size;
    if (!avail)
        avail = size;
    size_t need = (wire + 4 + 3) & ~(size_t)3;
    if (need >= avail) {
        if (need >= size) {
            r->st.rx_errs++;
            W32(r, MPC, R32(r, MPC) + 1);
            return RX_DONE;
        }
        if (!r->rx_held) {
            r->rx_held = true;
            W32(r, MPC, R32(r, MPC) + 1);
            raise_cause(r, INT_RXOVW);
        }
        return RX_HOLD;
    }
    r->rx_held = false;
    uint32_t base = R32(r, RBSTART);
    uint8_t hdr[4];
    pci_set_u16(hdr, fst | RXS_ROK);
    pci_set_u16(hdr + 2, (uint16_t)wire);
    /* header then frame; without WRAP the copy wraps to the start,
     * with it runs on past the end (8139too allocates the spare room) */
    const uint8_t *src[2] = { hdr, f };
    size_t lens[2] = { 4, wire }, pos = wr;
    bool ok = true;
    for (int k = 0; k < 2 && ok; k++) {
        size_t done = 0;
        while (done < lens[k] && ok) {
            size_t chunk = lens[k] - done;
            if (!(rcr & RCR_WRAP) && pos + chunk > size)
                chunk = size - pos;
            uint8_t *dst = vmm_vm_gpa_to_hva(r->vm, (uint64_t)base + pos, chunk);
            if (!dst) {
                ok = false;
                break;
            }
            memcpy(dst, src[k] + done, chunk);
            done += chunk;
            pos += chunk;
            if (!(rcr & RCR_WRAP) && pos >= size)
                pos = 0;
        }
    }
    if (!ok) {
        r->st.rx_errs++;
        guest_error(r, WARN_RX, "receive buffer at RBSTART 0x%x (%zu bytes) is outside RAM",
                    base, size);
        raise_cause(r, INT_RER);
        return RX_DONE;
    }
    W16(r, CBR, (uint16_t)((wr + need) % size));
    R8(r, CR) &= ~CR_BUFE;
    r->st.rx_pkts++;
    r->st.rx_bytes += wire - 4;
    raise_cause(r, INT_ROK);
    return RX_DONE;
}

static RxResult rx_deliver(VmmRtl8139 *r, uint8_t *f, size_t len)
{
    bool cplus = R16(r, CPCR) & CP_RXON;
    if (!(R8(r, CR) & CR_RE) || !r->link_up) {
        r->st.rx_drop++;
        return RX_DONE;
    }
    if (len < 14) {
        r->st.rx_errs++;
        return RX_DONE;
    }
    uint16_t fst = 0;
    if (!rx_filter(r, f, &fst))
        return RX_DONE;
    if (len < MIN_FRAME) {
        memset(f + len, 0, MIN_FRAME - len);
        len = MIN_FRAME;
    }
    uint32_t fcs = GUINT32_TO_LE(vmm_eth_crc(f, len));
    memcpy(f + len, &fcs, 4);   /* the FCS both modes hand over */
    return cplus ? cp_rx(r, f, len, len + 4, fst) : classic_rx(r, f, len + 4, fst);
}

static bool nic_rx(void *opaque, uint8_t *buf, size_t len)
{
    VmmRtl8139 *r = opaque;
    g_mutex_lock(&r->lock);
    RxResult res = rx_deliver(r, buf, len);
    g_mutex_unlock(&r->lock);
    return res == RX_DONE;
}

static const VmmNicIoOps nic_ops = { nic_rx, nic_timers };

/* ---- registers ------------------------------------------------------------ */

/* The register at byte `off`: its first byte and width (1 for the
 * byte-wide and unimplemented ones). */
static unsigned reg_width(unsigned off, unsigned *base)
{
    static const struct { uint8_t base, width; } wide[] = {
        { TSD0, 4 }, { TSD0 + 4, 4 }, { TSD0 + 8, 4 }, { TSD0 + 12, 4 },
        { TSAD0, 4 }, { TSAD0 + 4, 4 }, { TSAD0 + 8, 4 }, { TSAD0 + 12, 4 },
        { RBSTART, 4 }, { CAPR, 2 }, { CBR, 2 }, { IMR, 2 }, { ISR, 2 }, { TCR, 4 },
        { RCR, 4 }, { TCTR, 4 }, { MPC, 4 }, { TIMERINT, 4 }, { MULINT, 2 }, { TSAD_SUM, 2 },
        { BMCR, 2 }, { BMSR, 2 }, { ANAR, 2 }, { ANLPAR, 2 }, { ANER, 2 }, { RXMAXSIZE, 2 },
        { CPCR, 2 }, { INTRMIT, 2 }, { RXRING, 4 }, { RXRING + 4, 4 },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(wide); i++)
        if (off >= wide[i].base && off < wide[i].base + wide[i].width) {
            *base = wide[i].base;
            return wide[i].width;
        }
    *base = off;
    return 1;
}

static uint32_t reg_read(VmmRtl8139 *r, unsigned base, unsigned width)
{
    switch (base) {
    case TCTR:
        return tctr(r);
    case TSAD_SUM:
        return tx_summary(r);
    case CR9346: {
        uint8_t v = R8(r, CR9346);
        return (v & EEM_MASK) == EEM_PROG ? (v & ~EE_DO) | r->ee.dout : v;
    }
    }
    return width == 4 ? R32(r, base) : width == 2 ? R16(r, base) : R8(r, base);
}

/* A write of `v` to the bytes `mask` covers of the register at base. */
static void reg_write(VmmRtl8139 *r, unsigned base, unsigned width, uint32_t v, uint32_t mask)
{
    uint32_t old = reg_read(r, base, width), nv = (old & ~mask) | (v & mask);
    switch (base) {
    case IDR0 ... IDR0 + 5:
    case MAR0 ... MAR0 + 7:
    case TSAD0: case TSAD0 + 4: case TSAD0 + 8: case TSAD0 + 12:
    case RBSTART: case MULINT: case INTRMIT: case CONFIG0: case CONFIG3: case CONFIG4:
    case CONFIG1: case CONFIG5: case ANAR: case RXMAXSIZE:
        break;
    case RXRING: case RXRING + 4:
        r->rxi = 0;
        break;
    case TSD0: case TSD0 + 4: case TSD0 + 8: case TSD0 + 12:
        tsd_write(r, (base - TSD0) / 4, nv);
        return;
    case CR:
        if (v & CR_RST) {
            soft_reset(r);
            return;
        }
        R8(r, CR) = (uint8_t)((R8(r, CR) & CR_BUFE) | (v & (CR_RE | CR_TE)));
        vmm_nicio_wake(r->io);
        return;
    case CAPR:
        W16(r, CAPR, (uint16_t)nv);
        if ((nv + 16u) % ((size_t)8192 << ((R32(r, RCR) >> 11) & 3)) == R16(r, CBR))
            R8(r, CR) |= CR_BUFE;
        vmm_nicio_wake(r->io);
        return;
    case IMR:
        W16(r, IMR, (uint16_t)(nv & INT_ALL));
        update_irq(r);
        return;
    case ISR:
        W16(r, ISR, (uint16_t)(R16(r, ISR) & ~(v & mask)));   /* write 1 to clear */
        update_irq(r);
        return;
    case TCR:
        /* the hardware version bits are read-only; CLRABT self-clears */
        W32(r, TCR, (nv & ~(TCR_HWVER | 0x7c000000u | 1u)) | TCR_HWVER);
        return;
    case RCR:
        W32(r, RCR, nv);
        vmm_nicio_wake(r->io);
        return;
    case TCTR:
        r->tctr_zero = now_us();   /* any write restarts it from 0 */
        timer_arm(r);
        vmm_nicio_wake(r->io);
        return;
    case MPC:
        W32(r, MPC, 0);
        return;
    case CR9346:
        cr9346_write(r, (uint8_t)nv);
        return;
    case TIMERINT:
        W32(r, TIMERINT, nv);
        timer_arm(r);
        vmm_nicio_wake(r->io);
        return;
    case BMCR:
        /* reset and restart-autonegotiation complete at once */
        W16(r, BMCR, (uint16_t)(nv & ~0x8200u));
        return;
    case TXPOLL:
        txpoll_write(r, (uint8_t)(v & mask));
        return;
    case CPCR:
        W16(r, CPCR, (uint16_t)(nv & 0x007f));
        vmm_nicio_wake(r->io);
        return;
    default:
        return;   /* read-only or not implemented */
    }
    if (width == 4)
        W32(r, base, nv);
    else if (width == 2)
        W16(r, base, (uint16_t)nv);
    else
        R8(r, base) = (uint8_t)nv;
}

/* Any width at any offset: split along register boundaries. */
static uint64_t regs_read(void *opaque, uint64_t off, unsigned size)
{
    VmmRtl8139 *r = opaque;
    uint64_t val = 0;
    g_mutex_lock(&r->lock);
    for (unsigned i = 0; i < size && off + i < REG_SIZE;) {
        unsigned base, w = reg_width((unsigned)off + i, &base);
        uint32_t v = reg_read(r, base, w);
        for (; i < size && off + i < base + w; i++)
            val |= (uint64_t)((v >> (8 * (off + i - base))) & 0xff) << (8 * i);
    }
    g_mutex_unlock(&r->lock);
    return val;
}

static void regs_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    VmmRtl8139 *r = opaque;
    g_mutex_lock(&r->lock);
    for (unsigned i = 0; i < size && off + i < REG_SIZE;) {
        unsigned base, w = reg_width((unsigned)off + i, &base);
        uint32_t v = 0, mask = 0;
        for (; i < size && off + i < base + w; i++) {
            unsigned sh = 8 * (unsigned)(off + i - base);
            v |= (uint32_t)((val >> (8 * i)) & 0xff) << sh;
            mask |= 0xffu << sh;
        }
        reg_write(r, base, w, v, mask);
    }
    g_mutex_unlock(&r->lock);
}

static const VmmRegionOps io_ops = { "rtl8139-io", regs_read, regs_write };
static const VmmRegionOps mmio_ops = { "rtl8139-mmio", regs_read, regs_write };

static void pci_config_written(VmmPciDevice *dev, unsigned offset, unsigned size)
{
    VmmRtl8139 *r = dev->opaque;
    if (offset <= PCI_COMMAND + 1 && offset + size > PCI_COMMAND) {
        g_mutex_lock(&r->lock);
        update_irq(r);   /* INTx disable */
        g_mutex_unlock(&r->lock);
    }
}

static void pci_reset(VmmPciDevice *dev)
{
    VmmRtl8139 *r = dev->opaque;
    g_mutex_lock(&r->lock);
    device_reset(r);
    g_mutex_unlock(&r->lock);
}

static const VmmPciDeviceOps rtl_pci_ops = {
    .name = "rtl8139",
    .config_written = pci_config_written,
    .reset = pci_reset,
};

/* ---- life cycle ----------------------------------------------------------- */

VmmRtl8139 *vmm_rtl8139_new(VmmVm *vm, const VmmRtl8139Config *cfg, GError **err)
{
    const char *name = cfg->name ? cfg->name : "net";
    VmmRtl8139 *r = g_new0(VmmRtl8139, 1);
    r->vm = vm;
    r->name = g_strdup(name);
    memcpy(r->mac, cfg->mac, 6);
    r->link_up = !cfg->link_down;
    g_mutex_init(&r->lock);
    r->tx = g_malloc(TX_MAX);
    r->seg = g_malloc(TX_MAX);
    r->io = vmm_nicio_new("rtl8139", name, cfg->fd, cfg->stream, RX_MAX - 4, &nic_ops, r, err);
    if (!r->io) {
        vmm_rtl8139_free(r);
        return NULL;
    }
    eeprom_init(r);
    VmmPciDevice *p = &r->pci;
    vmm_pci_device_init(p, &rtl_pci_ops, r, RTL_VENDOR, RTL_DEVICE, 0x020000, RTL_REVISION,
                        RTL_VENDOR, RTL_DEVICE);
    p->cfg[PCI_INTERRUPT_PIN] = 1;
    vmm_pci_device_set_bar(p, 0, REG_SIZE, true, false, &io_ops, r);
    vmm_pci_device_set_bar(p, 1, REG_SIZE, false, false, &mmio_ops, r);
    if (!vmm_pci_host_add_device(vm->pci, p, cfg->pci_slot, err)) {
        p->host = NULL;
        vmm_rtl8139_free(r);
        return NULL;
    }
    /* the slot's INTA, as the DSDT's _PRT routes it */
    r->intx = vmm_irq_line_source(&vm->gsi_line[p->cfg[PCI_INTERRUPT_LINE] % IOAPIC_NR_PINS],
                                  err);
    if (!r->intx) {
        vmm_rtl8139_free(r);
        return NULL;
    }
    g_mutex_lock(&r->lock);
    device_reset(r);
    g_mutex_unlock(&r->lock);
    vmm_nicio_start(r->io);
    return r;
}

void vmm_rtl8139_free(VmmRtl8139 *r)
{
    if (!r)
        return;
    vmm_nicio_free(r->io);
    if (r->intx)
        set_line(r, false);
    for (int b = 0; b < 2 && r->pci.host; b++)
        if (r->pci.bar[b].mapped)
            vmm_bus_unregister(b ? &r->vm->mmio : &r->vm->pio, r->pci.bar[b].mapped_addr);
    g_mutex_clear(&r->lock);
    g_free(r->tx);
    g_free(r->seg);
    g_free(r->name);
    g_free(r);
}

const char *vmm_rtl8139_name(VmmRtl8139 *r)
{
    return r->name;
}

void vmm_rtl8139_get_stats(VmmRtl8139 *r, VmmNetStats *st)
{
    g_mutex_lock(&r->lock);
    *st = r->st;
    g_mutex_unlock(&r->lock);
}

void vmm_rtl8139_set_link(VmmRtl8139 *r, bool up)
{
    g_mutex_lock(&r->lock);
    if (r->link_up != up) {
        r->link_up = up;
        set_link_regs(r);
        raise_cause(r, INT_LINKCHG);
    }
    g_mutex_unlock(&r->lock);
}

bool vmm_rtl8139_get_link(VmmRtl8139 *r)
{
    g_mutex_lock(&r->lock);
    bool up = r->link_up;
    g_mutex_unlock(&r->lock);
    return up;
}
