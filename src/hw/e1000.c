/* Intel 82540EM (e1000), see e1000.h. Register offsets, bit positions and
 * descriptor layouts follow Intel's "PCI/PCI-X Family of Gigabit Ethernet
 * Controllers Software Developer's Manual" (8254x, rev. 4.0). */
#include "hw/e1000.h"
#include "hw/pci.h"
#include "net/nicio.h"
#include "util/log.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define E1000_VENDOR      0x8086
#define E1000_DEVICE      0x100e      /* 82540EM-A, desktop */
#define E1000_SUBSYS      0x001e      /* PRO/1000 MT Desktop Adapter */
#define MMIO_SIZE         0x20000
#define IO_SIZE           0x40
#define REG_WORDS         (MMIO_SIZE / 4)

/* registers (byte offsets) */
#define CTRL     0x0000
#define STATUS   0x0008
#define EECD     0x0010
#define EERD     0x0014
#define MDIC     0x0020
#define ICR      0x00c0
#define ITR      0x00c4
#define ICS      0x00c8
#define IMS      0x00d0
#define IMC      0x00d8
#define RCTL     0x0100
#define TCTL     0x0400
#define LEDCTL   0x0e00
#define PBA      0x1000
#define RDBAL    0x2800
#define RDBAH    0x2804
#define RDLEN    0x2808
#define RDH      0x2810
#define RDT      0x2818
#define RDTR     0x2820
#define RADV     0x282c
#define TDBAL    0x3800
#define TDBAH    0x3804
#define TDLEN    0x3808
#define TDH      0x3810
#define TDT      0x3818
#define TIDV     0x3820
#define TADV     0x382c
#define STATS    0x4000      /* 0x4000-0x40ff: statistics, clear on read */
#define STATS_END 0x4100
#define RXCSUM   0x5000
#define MTA      0x5200      /* 128 words */
#define RA       0x5400      /* 16 x (RAL, RAH) */
#define VET      0x0038

/* statistics registers */
#define S_MPC    0x4010
#define S_PRC64  0x405c      /* PRC64..PRC1522: 6 consecutive bins */
#define S_GPRC   0x4074
#define S_BPRC   0x4078
#define S_MPRC   0x407c
#define S_GPTC   0x4080
#define S_GORCL  0x4088
#define S_GORCH  0x408c
#define S_GOTCL  0x4090
#define S_GOTCH  0x4094
#define S_RNBC   0x40a0
#define S_ROC    0x40ac
#define S_TORL   0x40c0
#define S_TORH   0x40c4
#define S_TOTL   0x40c8
#define S_TOTH   0x40cc
#define S_TPR    0x40d0
#define S_TPT    0x40d4
#define S_PTC64  0x40d8      /* PTC64..PTC1522 */
#define S_MPTC   0x40f0
#define S_BPTC   0x40f4
#define S_TSCTC  0x40f8
#define S_TSCTFC 0x40fc

#define CTRL_RST       (1u << 26)
#define CTRL_VME       (1u << 30)
#define CTRL_PHY_RST   (1u << 31)
#define STATUS_FD      0x1
#define STATUS_LU      0x2
#define STATUS_1000    0x80
#define EECD_SK        0x01
#define EECD_CS        0x02
#define EECD_DI        0x04
#define EECD_DO        0x08
#define EECD_REQ       0x40
#define EECD_GNT       0x80
#define EECD_PRES      0x100
#define EERD_START     0x1
#define EERD_DONE      0x10
#define MDIC_OP_WRITE  (1u << 26)
#define MDIC_OP_READ   (2u << 26)
#define MDIC_READY     (1u << 28)
#define MDIC_INT_EN    (1u << 29)
#define MDIC_ERROR     (1u << 30)

/* interrupt causes (ICR/ICS/IMS/IMC) */
#define INT_TXDW   0x0001
#define INT_TXQE   0x0002
#define INT_LSC    0x0004
#define INT_RXDMT0 0x0010
#define INT_RXO    0x0040
#define INT_RXT0   0x0080
#define INT_MDAC   0x0200
#define INT_ALL    0x0001f6df   /* the causes the 82540 has */

#define RCTL_EN    (1u << 1)
#define RCTL_UPE   (1u << 3)
#define RCTL_MPE   (1u << 4)
#define RCTL_LPE   (1u << 5)
#define RCTL_BAM   (1u << 15)
#define RCTL_BSEX  (1u << 25)
#define RCTL_SECRC (1u << 26)
#define TCTL_EN    (1u << 1)
#define TCTL_PSP   (1u << 3)
#define RXCSUM_IPOFLD (1u << 8)
#define RXCSUM_TUOFLD (1u << 9)
#define RAH_AV     (1u << 31)

/* descriptors: byte 11 is the command of every transmit kind */
#define TXD_EOP    0x01
#define TXD_IFCS   0x02
#define TXD_IC     0x04      /* legacy: insert checksum */
#define TXD_TSE    0x04      /* data: TCP segmentation */
#define TXD_RS     0x08
#define TXD_DEXT   0x20
#define TXD_VLE    0x40
#define TXD_IDE    0x80
#define TUCMD_TCP  0x01
#define TUCMD_IP   0x02      /* IPv4 (else IPv6) */
#define POPTS_IXSM 0x01
#define POPTS_TXSM 0x02
#define TXD_STA_DD 0x01
#define RXD_DD     0x01
#define RXD_EOP    0x02
#define RXD_IXSM   0x04
#define RXD_TCPCS  0x20
#define RXD_IPCS   0x40
#define RXE_TCPE   0x20
#define RXE_IPE    0x40
#define RXE_RXE    0x80

#define PHY_ADDR   1
#define TX_MAX     (0x10000 + 256)  /* largest TSO packet: 64 KiB plus headers */
#define RX_MAX     (0x10000 + 8)
#define MIN_FRAME  60

#define WARN_TX    1
#define WARN_RX    2
#define WARN_REG   4

typedef struct {
    uint8_t ipcss, ipcso, tucss, tucso, tucmd, hdrlen;
    uint16_t ipcse, tucse, mss;
    uint32_t paylen;
} TxContext;

struct VmmE1000 {
    VmmVm *vm;
    VmmPciDevice pci;
    char *name;
    uint8_t mac[6];
    VmmNicIo *io;                /* the host side and the I/O thread */
    VmmIrq *intx;
    GMutex lock;                 /* everything below */
    uint32_t regs[REG_WORDS];
    uint16_t eeprom[64];
    uint16_t phy[32];
    uint32_t ioaddr;
    struct {                     /* Microwire shift state */
        unsigned bits_in, bits_out;
        uint32_t val_in;
        bool reading;
        unsigned addr;
    } ee;
    bool link_up;
    bool line;                   /* INTx asserted */
    gint64 itr_next;             /* ITR: no new interrupt before this */
    gint64 itr_at, rdtr_at, radv_at, tidv_at, tadv_at;   /* timers (us), 0 = off */
    /* transmit: the packet being gathered, and the current context */
    TxContext ctx;
    uint8_t *tx;
    size_t tx_len;
    bool tx_bad, tx_tse, tx_ext, tx_ic, tx_vle;
    uint8_t tx_popts;
    uint16_t tx_vlan;
    uint8_t *seg;                /* one TSO segment */
    /* receive: a frame read from the host and not yet given to the guest */
    uint8_t *rx;
    size_t rx_len;
    bool rx_held;                /* waiting for descriptors (counted once) */
    bool rx_woken;               /* an RDT write woke the I/O thread, which has not looked yet */
    gint rdt_queued;             /* atomic: RDT writes wait in KVM's coalesced MMIO queue */
    VmmNetStats st;
};

#define eth_crc vmm_eth_crc
#define csum_add vmm_csum_add
#define csum_fold vmm_csum_fold
#define rd16be vmm_rd16be
#define wr16be vmm_wr16be
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return pci_get_u32(p); }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

#define R(e, off) ((e)->regs[(off) >> 2])

/* Hostile register values and descriptors: counted every time, logged
 * once per kind; the device keeps working. */
#define guest_error(dev, kind, ...) vmm_nicio_warn_once((dev)->io, kind, __VA_ARGS__)

static void wake(VmmE1000 *e)
{
    vmm_nicio_wake(e->io);
}

static void stat_add(VmmE1000 *e, unsigned off, uint32_t v) { R(e, off) += v; }

static void stat_add64(VmmE1000 *e, unsigned lo, uint64_t v)
{
    uint64_t cur = R(e, lo) | (uint64_t)R(e, lo + 4) << 32;
    cur += v;
    R(e, lo) = (uint32_t)cur;
    R(e, lo + 4) = (uint32_t)(cur >> 32);
}

/* PRC64/PTC64... bins: 64, 65-127, 128-255, 256-511, 512-1023, 1024+
 * (lengths with the FCS) */
static void stat_size(VmmE1000 *e, unsigned base, size_t len)
{
    static const size_t lim[] = { 64, 127, 255, 511, 1023 };
    unsigned i = 0;
    while (i < G_N_ELEMENTS(lim) && len > lim[i])
        i++;
    stat_add(e, base + 4 * i, 1);
}

/* ---- interrupts --------------------------------------------------------- */

static gint64 now_us(void) { return g_get_monotonic_time(); }

/* 1.024 us units (RDTR, RADV, TIDV, TADV) */
static gint64 delay_us(uint32_t units) { return (gint64)units * 1024 / 1000 + 1; }

static void set_line(VmmE1000 *e, bool on)
{
    if (e->line == on)
        return;
    e->line = on;
    vmm_irq_set(e->intx, on);
}

/* The line follows ICR & IMS, except that ITR spaces assertions at least
 * ITR x 256 ns apart (the rest waits in itr_at). */
static void update_irq(VmmE1000 *e)
{
    /* config space has its own lock, taken inside ours (never the other
     * way round: the PCI layer calls us without it) */
    bool disabled = vmm_pci_config_read(&e->pci, PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE;
    if (!(R(e, ICR) & R(e, IMS)) || disabled) {
        set_line(e, false);
        e->itr_at = 0;
        return;
    }
    if (e->line)
        return;
    gint64 now = now_us();
    uint32_t itr = R(e, ITR) & 0xffff;
    if (itr && now < e->itr_next) {
        if (!e->itr_at) {
            e->itr_at = e->itr_next;
            wake(e);
        }
        return;
    }
    e->itr_at = 0;
    e->itr_next = now + (gint64)itr * 256 / 1000;
    set_line(e, true);
}

static void raise_cause(VmmE1000 *e, uint32_t cause)
{
    R(e, ICR) |= cause;
    update_irq(e);
}

/* A cause behind a delay timer (restarted by each event) and an absolute
 * one (started by the first): whichever expires first raises it. */
static void delayed_cause(VmmE1000 *e, uint32_t cause, uint32_t delay, uint32_t abs,
                          gint64 *delay_at, gint64 *abs_at)
{
    if (!delay) {
        *delay_at = *abs_at = 0;
        raise_cause(e, cause);
        return;
    }
    gint64 now = now_us();
    *delay_at = now + delay_us(delay);
    if (abs && !*abs_at)
        *abs_at = now + delay_us(abs);
    wake(e);
}

static void rx_interrupt(VmmE1000 *e)
{
    delayed_cause(e, INT_RXT0, R(e, RDTR) & 0xffff, R(e, RADV) & 0xffff, &e->rdtr_at,
                  &e->radv_at);
}

static bool expired(gint64 *at, gint64 now)
{
    return *at && now >= *at;
}

/* Runs due timers; returns the next deadline (0: none). */
static gint64 run_timers(VmmE1000 *e, gint64 now)
{
    if (expired(&e->rdtr_at, now) || expired(&e->radv_at, now)) {
        e->rdtr_at = e->radv_at = 0;
        R(e, ICR) |= INT_RXT0;
    }
    if (expired(&e->tidv_at, now) || expired(&e->tadv_at, now)) {
        e->tidv_at = e->tadv_at = 0;
        R(e, ICR) |= INT_TXDW;
    }
    if (expired(&e->itr_at, now))
        e->itr_at = 0;
    update_irq(e);
    gint64 next = 0;
    gint64 all[] = { e->rdtr_at, e->radv_at, e->tidv_at, e->tadv_at, e->itr_at };
    for (unsigned i = 0; i < G_N_ELEMENTS(all); i++)
        if (all[i] && (!next || all[i] < next))
            next = all[i];
    return next;
}

/* ---- EEPROM, PHY, reset ---------------------------------------------------- */

static void eeprom_init(VmmE1000 *e)
{
    uint16_t *w = e->eeprom;
    for (unsigned i = 0; i < 64; i++)
        w[i] = 0xffff;
    for (unsigned i = 0; i < 3; i++)
        w[i] = (uint16_t)(e->mac[2 * i] | e->mac[2 * i + 1] << 8);
    w[0x03] = 0x0000;            /* compatibility */
    w[0x0a] = 0x0000;            /* initialization control 1 */
    w[0x0b] = E1000_SUBSYS;      /* subsystem id */
    w[0x0c] = E1000_VENDOR;      /* subsystem vendor */
    w[0x0d] = E1000_DEVICE;
    w[0x0e] = E1000_VENDOR;
    w[0x0f] = 0x0000;            /* initialization control 2 */
    w[0x24] = 0x0000;            /* initialization control 3 (no APM) */
    /* 0x3f makes the sum of words 0x00-0x3f 0xBABA, which drivers check */
    uint16_t sum = 0;
    for (unsigned i = 0; i < 0x3f; i++)
        sum += w[i];
    w[0x3f] = (uint16_t)(0xbaba - sum);
}

/* An M88E1011 (the 82540EM's PHY): copper, autonegotiation complete,
 * link partner 1000/100/10 full duplex. */
static void phy_reset(VmmE1000 *e)
{
    memset(e->phy, 0, sizeof(e->phy));
    e->phy[0x00] = 0x1140;               /* autoneg on, 1000 Mb/s, full duplex */
    e->phy[0x01] = e->link_up ? 0x796d : 0x7949;   /* + link up, AN complete */
    e->phy[0x02] = 0x0141;               /* PHY id: Marvell 88E1011 */
    e->phy[0x03] = 0x0c20;
    e->phy[0x04] = 0x0de1;               /* advertised */
    e->phy[0x05] = 0x45e1;               /* link partner */
    e->phy[0x06] = 0x0001;
    e->phy[0x09] = 0x0e00;
    e->phy[0x0a] = e->link_up ? 0x3c00 : 0;
    e->phy[0x0f] = 0x3000;
    e->phy[0x10] = 0x0068;
    e->phy[0x11] = e->link_up ? 0xac00 : 0x0000;   /* 1000 FD, resolved, link */
}

static void set_status(VmmE1000 *e)
{
    R(e, STATUS) = STATUS_FD | STATUS_1000 | (e->link_up ? STATUS_LU : 0);
}

static void device_reset(VmmE1000 *e)
{
    memset(e->regs, 0, sizeof(e->regs));
    memset(&e->ee, 0, sizeof(e->ee));
    memset(&e->ctx, 0, sizeof(e->ctx));
    R(e, CTRL) = 0x00000240;             /* SLU, ASDE */
    set_status(e);
    R(e, EECD) = EECD_PRES;
    R(e, LEDCTL) = 0x07068302;
    R(e, PBA) = 0x00100030;              /* 48 KiB rx, 16 KiB tx */
    R(e, VET) = 0x8100;
    R(e, RXCSUM) = 0;
    /* RAL0/RAH0 loaded from the EEPROM, as the hardware does */
    R(e, RA) = pci_get_u32(e->mac);
    R(e, RA + 4) = e->mac[4] | e->mac[5] << 8 | RAH_AV;
    phy_reset(e);
    e->tx_len = 0;
    e->tx_bad = e->tx_tse = e->tx_ext = e->tx_ic = e->tx_vle = false;
    e->rdtr_at = e->radv_at = e->tidv_at = e->tadv_at = e->itr_at = 0;
    e->itr_next = 0;
    e->rx_held = e->rx_woken = false;
    set_line(e, false);
    wake(e);
}

/* Microwire, as the 82540's driver bit-bangs it: with CS up, DI is
 * sampled on each rising SK: a start bit, opcode 10 (READ) and a 6-bit
 * address; then each rising SK shifts out the next data bit (MSB first)
 * on DO, running on into the following words. */
static void eecd_write(VmmE1000 *e, uint32_t v)
{
    uint32_t old = R(e, EECD);
    R(e, EECD) = (v & (EECD_SK | EECD_CS | EECD_DI | EECD_REQ)) | EECD_PRES |
                 (v & EECD_REQ ? EECD_GNT : 0);
    if (!(v & EECD_CS)) {
        memset(&e->ee, 0, sizeof(e->ee));
        return;
    }
    if ((old & EECD_SK) || !(v & EECD_SK))
        return;   /* not a rising edge */
    if (e->ee.reading) {
        e->ee.bits_out++;
        return;
    }
    e->ee.val_in = e->ee.val_in << 1 | !!(v & EECD_DI);
    if (e->ee.bits_in == 0 && !(v & EECD_DI))
        return;   /* waiting for the start bit */
    if (++e->ee.bits_in == 9) {
        if (((e->ee.val_in >> 6) & 7) == 6) {
            e->ee.reading = true;
            e->ee.addr = e->ee.val_in & 0x3f;
            e->ee.bits_out = 0;
        } else {
            e->ee.bits_in = 0;   /* not a read (EWEN, WRITE...): ignored */
            e->ee.val_in = 0;
        }
    }
}

static uint32_t eecd_read(VmmE1000 *e)
{
    uint32_t v = R(e, EECD) & ~EECD_DO;
    if (e->ee.reading && e->ee.bits_out > 0) {
        unsigned bit = e->ee.bits_out - 1;
        uint16_t word = e->eeprom[(e->ee.addr + bit / 16) & 0x3f];
        if (word >> (15 - bit % 16) & 1)
            v |= EECD_DO;
    }
    return v;
}

static void mdic_write(VmmE1000 *e, uint32_t v)
{
    unsigned reg = (v >> 16) & 0x1f, phy = (v >> 21) & 0x1f;
    uint32_t op = v & (3u << 26);
    uint32_t r = v & ~(MDIC_READY | MDIC_ERROR);
    if (phy != PHY_ADDR || (op != MDIC_OP_READ && op != MDIC_OP_WRITE)) {
        r |= MDIC_ERROR;
    } else if (op == MDIC_OP_READ) {
        r = (r & ~0xffffu) | e->phy[reg];
    } else if (reg == 0x00) {
        /* reset and restart-autonegotiation complete at once */
        e->phy[0] = (uint16_t)(v & ~(0x8000u | 0x0200u));
    } else if (reg != 0x01 && reg != 0x02 && reg != 0x03 && reg != 0x05 && reg != 0x11) {
        e->phy[reg] = (uint16_t)v;   /* the status and id registers are read-only */
    }
    R(e, MDIC) = r | MDIC_READY;
    if (v & MDIC_INT_EN)
        raise_cause(e, INT_MDAC);
}

/* ---- transmit ------------------------------------------------------------- */

/* The stored checksum of [start, end) at off, the field's own contents
 * included (the driver seeds it, e.g. with the pseudo-header sum), plus
 * `extra`. Out-of-frame offsets (a guest's mistake) leave the frame as
 * it is. */
static void put_csum(uint8_t *p, size_t len, size_t start, size_t off, size_t end,
                     uint32_t extra)
{
    if (end > len || end == 0)
        end = len;
    if (start >= end || off + 2 > len)
        return;
    uint16_t c = (uint16_t)~csum_fold(csum_add(extra, p + start, end - start));
    wr16be(p + off, c);
}

static void host_send(VmmE1000 *e, uint8_t *frame, size_t len)
{
    if (R(e, TCTL) & TCTL_PSP && len < MIN_FRAME) {
        memset(frame + len, 0, MIN_FRAME - len);
        len = MIN_FRAME;
    }
    stat_add(e, S_TPT, 1);
    stat_add64(e, S_TOTL, len + 4);
    if (!e->link_up) {
        e->st.tx_drop++;
        return;
    }
    if (vmm_nicio_send(e->io, frame, len) < 0) {
        if (errno == EAGAIN || errno == ENOBUFS || errno == EPIPE)
            e->st.tx_drop++;
        else
            e->st.tx_errs++;
        return;
    }
    stat_add(e, S_GPTC, 1);
    stat_add64(e, S_GOTCL, len + 4);
    stat_size(e, S_PTC64, len + 4);
    if (frame[0] & 1)
        stat_add(e, memcmp(frame, "\xff\xff\xff\xff\xff\xff", 6) ? S_MPTC : S_BPTC, 1);
    e->st.tx_pkts++;
    e->st.tx_bytes += len;
}

/* VLE with CTRL.VME: the 802.1Q tag goes in after the addresses. */
static size_t insert_vlan(VmmE1000 *e, uint8_t *p, size_t len)
{
    if (!e->tx_vle || !(R(e, CTRL) & CTRL_VME) || len < 12 || len + 4 > TX_MAX)
        return len;
    memmove(p + 16, p + 12, len - 12);
    wr16be(p + 12, (uint16_t)R(e, VET));
    wr16be(p + 14, e->tx_vlan);
    return len + 4;
}

/* TCP segmentation: every segment is the header template plus up to MSS
 * bytes, with the IP length and id, the TCP sequence number and flags (or
 * the UDP length) and the checksums the context asks for made right. */
static void tso_send(VmmE1000 *e)
{
    const TxContext *c = &e->ctx;
    size_t hdr = c->hdrlen, mss = c->mss;
    if (!hdr || hdr >= e->tx_len || mss < 8 || hdr + mss > TX_MAX - 4 ||
        (size_t)c->tucss + 20 > hdr || (size_t)c->ipcss + 20 > hdr) {
        e->st.tx_errs++;
        stat_add(e, S_TSCTFC, 1);
        guest_error(e, WARN_TX, "TSO context unusable (header %zu bytes, MSS %zu, for a "
                    "%zu-byte packet)", hdr, mss, e->tx_len);
        return;
    }
    bool ipv4 = c->tucmd & TUCMD_IP, tcp = c->tucmd & TUCMD_TCP;
    size_t payload = e->tx_len - hdr;
    uint16_t ip_id = rd16be(e->tx + c->ipcss + 4);
    uint32_t seq = (uint32_t)rd16be(e->tx + c->tucss + 4) << 16 | rd16be(e->tx + c->tucss + 6);
    unsigned n = 0;
    for (size_t off = 0; off < payload; off += mss, n++) {
        size_t chunk = MIN(mss, payload - off), len = hdr + chunk;
        bool last = off + chunk == payload;
        uint8_t *s = e->seg;
        memcpy(s, e->tx, hdr);
        memcpy(s + hdr, e->tx + hdr + off, chunk);
        if (ipv4) {
            wr16be(s + c->ipcss + 2, (uint16_t)(len - c->ipcss));
            wr16be(s + c->ipcss + 4, (uint16_t)(ip_id + n));
        } else {
            wr16be(s + c->ipcss + 4, (uint16_t)(len - c->ipcss - 40));
        }
        size_t l4 = len - c->tucss;
        if (tcp) {
            uint32_t sq = seq + (uint32_t)off;
            wr16be(s + c->tucss + 4, (uint16_t)(sq >> 16));
            wr16be(s + c->tucss + 6, (uint16_t)sq);
            if (!last)
                s[c->tucss + 13] &= (uint8_t)~0x09;   /* FIN, PSH: last segment only */
        } else {
            wr16be(s + c->tucss + 4, (uint16_t)l4);
        }
        if (e->tx_popts & POPTS_IXSM && ipv4)
            put_csum(s, len, c->ipcss, c->ipcso, (size_t)c->ipcse + 1, 0);
        if (e->tx_popts & POPTS_TXSM)
            /* the seed is the pseudo-header sum without the length */
            put_csum(s, len, c->tucss, c->tucso, 0, (uint32_t)l4);
        len = insert_vlan(e, s, len);
        host_send(e, s, len);
    }
}

static void tx_packet(VmmE1000 *e)
{
    if (e->tx_bad) {
        e->st.tx_errs++;
    } else if (e->tx_ext && e->tx_tse) {
        tso_send(e);
    } else if (e->tx_len) {
        const TxContext *c = &e->ctx;
        if (e->tx_ext && e->tx_popts & POPTS_IXSM)
            put_csum(e->tx, e->tx_len, c->ipcss, c->ipcso, (size_t)c->ipcse + 1, 0);
        if (e->tx_ext && e->tx_popts & POPTS_TXSM)
            put_csum(e->tx, e->tx_len, c->tucss, c->tucso, c->tucse ? (size_t)c->tucse + 1 : 0, 0);
        e->tx_len = insert_vlan(e, e->tx, e->tx_len);
        host_send(e, e->tx, e->tx_len);
    }
    e->tx_len = 0;
    e->tx_bad = e->tx_tse = e->tx_ext = e->tx_ic = e->tx_vle = false;
}

static void tx_append(VmmE1000 *e, uint64_t addr, size_t len)
{
    if (!len || e->tx_bad)
        return;
    if (len > TX_MAX - 4 - e->tx_len) {
        e->tx_bad = true;
        guest_error(e, WARN_TX, "transmit packet longer than %u bytes (a %zu-byte descriptor)",
                    TX_MAX - 4, len);
        return;
    }
    const void *p = vmm_vm_gpa_to_hva(e->vm, addr, len);
    if (!p) {
        e->tx_bad = true;
        guest_error(e, WARN_TX, "transmit buffer 0x%" G_GINT64_MODIFIER "x+%zu outside RAM",
                    addr, len);
        return;
    }
    memcpy(e->tx + e->tx_len, p, len);
    e->tx_len += len;
}

/* One descriptor; returns its command byte (RS, IDE for the caller). */
static uint8_t tx_desc(VmmE1000 *e, uint8_t *d)
{
    uint8_t cmd = d[11];
    if (cmd & TXD_DEXT) {
        unsigned dtyp = d[10] >> 4;
        if (dtyp == 0) {          /* context */
            TxContext *c = &e->ctx;
            c->ipcss = d[0];
            c->ipcso = d[1];
            c->ipcse = le16(d + 2);
            c->tucss = d[4];
            c->tucso = d[5];
            c->tucse = le16(d + 6);
            c->paylen = le32(d + 8) & 0xfffff;
            c->tucmd = cmd;
            c->hdrlen = d[13];
            c->mss = le16(d + 14);
            if (cmd & TXD_TSE)
                stat_add(e, S_TSCTC, 1);
            return cmd;
        }
        if (dtyp != 1) {
            e->tx_bad = true;
            guest_error(e, WARN_TX, "transmit descriptor of unknown type %u", dtyp);
        } else {
            if (!e->tx_len && !e->tx_ext) {
                /* the first data descriptor decides the packet's options */
                e->tx_ext = true;
                e->tx_tse = cmd & TXD_TSE;
                e->tx_popts = d[13];
            }
            tx_append(e, le64(d), le32(d + 8) & 0xfffff);
        }
    } else {
        if (e->tx_ext) {
            e->tx_bad = true;
            guest_error(e, WARN_TX, "legacy descriptor inside an extended packet");
        }
        tx_append(e, le64(d), le16(d + 8));
        if (cmd & TXD_EOP && cmd & TXD_IC && !e->tx_bad)
            put_csum(e->tx, e->tx_len, d[13], d[10], 0, 0);
    }
    e->tx_vle |= cmd & TXD_VLE;
    e->tx_vlan = le16(d + 14);
    if (cmd & TXD_EOP)
        tx_packet(e);
    return cmd;
}

/* Ring geometry check shared by both directions: the ring in RAM, head
 * and tail inside it. */
static uint8_t *ring(VmmE1000 *e, unsigned bal, unsigned *n, const char *what)
{
    uint64_t base = (R(e, bal) & ~0xfu) | (uint64_t)R(e, bal + 4) << 32;
    *n = R(e, bal + 8) / 16;
    uint32_t head = R(e, bal + 0x10), tail = R(e, bal + 0x18);
    if (!*n)
        return NULL;
    if (head >= *n || tail >= *n) {
        guest_error(e, what[0] == 't' ? WARN_TX : WARN_RX, "%s head %u or tail %u beyond the "
                    "%u-descriptor ring", what, head, tail, *n);
        return NULL;
    }
    uint8_t *r = vmm_vm_gpa_to_hva(e->vm, base, (uint64_t)*n * 16);
    if (!r)
        guest_error(e, what[0] == 't' ? WARN_TX : WARN_RX, "%s ring at 0x%" G_GINT64_MODIFIER
                    "x (%u descriptors) outside RAM", what, base, *n);
    return r;
}

static void process_tx(VmmE1000 *e)
{
    if (!(R(e, TCTL) & TCTL_EN))
        return;
    unsigned n;
    uint8_t *r = ring(e, TDBAL, &n, "transmit");
    if (!r) {
        if (R(e, TDH) != R(e, TDT))
            e->st.tx_errs++;
        return;
    }
    bool done = false, delayed = false;
    while (R(e, TDH) != R(e, TDT)) {
        uint8_t *d = r + 16 * R(e, TDH);
        uint8_t cmd = tx_desc(e, d);
        if (cmd & TXD_RS) {
            d[12] |= TXD_STA_DD;
            done = true;
            delayed |= (cmd & TXD_IDE) != 0;
        }
        R(e, TDH) = (R(e, TDH) + 1) % n;
    }
    if (done) {
        if (delayed)
            delayed_cause(e, INT_TXDW, R(e, TIDV) & 0xffff, R(e, TADV) & 0xffff, &e->tidv_at,
                          &e->tadv_at);
        else
            R(e, ICR) |= INT_TXDW;
    }
    raise_cause(e, INT_TXQE);
}

/* ---- receive -------------------------------------------------------------- */

static bool rx_filter(VmmE1000 *e, const uint8_t *dst)
{
    uint32_t rctl = R(e, RCTL);
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    bool mcast = dst[0] & 1;
    if (!memcmp(dst, bcast, 6) && rctl & RCTL_BAM)
        return true;
    if (mcast ? rctl & RCTL_MPE : rctl & RCTL_UPE)
        return true;
    for (unsigned i = 0; i < 16; i++) {
        uint32_t hi = R(e, RA + 8 * i + 4);
        if (hi & RAH_AV && le32(dst) == R(e, RA + 8 * i) && le16(dst + 4) == (hi & 0xffff))
            return true;
    }
    if (!mcast)
        return false;
    /* MTA: 12 bits of the address picked by RCTL.MO */
    static const unsigned shift[4] = { 4, 3, 2, 0 };
    unsigned mo = (rctl >> 12) & 3;
    unsigned h = ((dst[4] >> shift[mo]) | (unsigned)dst[5] << (8 - shift[mo])) & 0xfff;
    return R(e, MTA + 4 * (h >> 5)) >> (h & 31) & 1;
}

static size_t rx_buf_size(uint32_t rctl)
{
    unsigned bs = (rctl >> 16) & 3;
    if (rctl & RCTL_BSEX)
        return bs ? 16384u >> (bs - 1) : 2048;
    return 2048u >> bs;
}

/* RXCSUM: the IPv4 header and TCP/UDP checksums checked, as the status
 * and error bits say; *pcsum the sum from PCSS. */
static void rx_checksum(VmmE1000 *e, const uint8_t *f, size_t len, uint8_t *status,
                        uint8_t *errors, uint16_t *pcsum)
{
    uint32_t rx = R(e, RXCSUM);
    size_t pcss = rx & 0xff;
    *pcsum = pcss < len ? csum_fold(csum_add(0, f + pcss, len - pcss)) : 0;
    if (!(rx & (RXCSUM_IPOFLD | RXCSUM_TUOFLD))) {
        *status |= RXD_IXSM;
        return;
    }
    if (len < 34 || rd16be(f + 12) != 0x0800 || (f[14] >> 4) != 4)
        return;
    size_t ihl = (f[14] & 0xf) * 4u, tot = rd16be(f + 16);
    if (ihl < 20 || 14 + ihl > len || tot < ihl || 14 + tot > len)
        return;
    if (rx & RXCSUM_IPOFLD) {
        *status |= RXD_IPCS;
        if (csum_fold(csum_add(0, f + 14, ihl)) != 0xffff)
            *errors |= RXE_IPE;
    }
    uint8_t proto = f[23];
    bool frag = (rd16be(f + 20) & 0x3fff) != 0;
    if (!(rx & RXCSUM_TUOFLD) || frag || (proto != 6 && proto != 17))
        return;
    const uint8_t *l4 = f + 14 + ihl;
    size_t l4len = tot - ihl;
    if (proto == 17 && (l4len < 8 || rd16be(l4 + 6) == 0))
        return;   /* UDP without a checksum */
    uint32_t sum = csum_add(0, f + 26, 8) + proto + (uint32_t)l4len;
    *status |= RXD_TCPCS;
    if (csum_fold(csum_add(sum, l4, l4len)) != 0xffff)
        *errors |= RXE_TCPE;
}

typedef enum { RX_DONE, RX_HOLD } RxResult;

/* Gives the frame in e->rx to the guest (under the lock). HOLD: too few
 * descriptors now; the frame waits for the driver's next RDT. */
static RxResult rx_deliver(VmmE1000 *e)
{
    uint32_t rctl = R(e, RCTL);
    size_t len = e->rx_len;
    if (!(rctl & RCTL_EN) || !e->link_up) {
        e->st.rx_drop++;
        return RX_DONE;
    }
    if (len < 14) {
        e->st.rx_errs++;
        return RX_DONE;
    }
    if (!rx_filter(e, e->rx))
        return RX_DONE;
    if (len < MIN_FRAME) {
        memset(e->rx + len, 0, MIN_FRAME - len);
        len = MIN_FRAME;
    }
    size_t wire = len + 4;   /* with the FCS */
    if (wire > (rctl & RCTL_LPE ? 16384u : 1522u)) {
        stat_add(e, S_ROC, 1);
        e->st.rx_drop++;
        return RX_DONE;
    }
    uint8_t status = 0, errors = 0;
    uint16_t pcsum;
    rx_checksum(e, e->rx, len, &status, &errors, &pcsum);
    if (!(rctl & RCTL_SECRC)) {
        uint32_t fcs = eth_crc(e->rx, len);
        memcpy(e->rx + len, &fcs, 4);   /* little-endian on the wire */
        len += 4;
    }
    unsigned n;
    uint8_t *r = ring(e, RDBAL, &n, "receive");
    size_t bs = rx_buf_size(rctl);
    unsigned need = (unsigned)((len + bs - 1) / bs);
    unsigned avail = r ? (R(e, RDT) + n - R(e, RDH)) % n : 0;
    if (avail < need) {
        if (!r || need >= n) {
            /* this ring can never take it */
            stat_add(e, S_MPC, 1);
            e->st.rx_errs++;
            return RX_DONE;
        }
        if (!e->rx_held) {
            e->rx_held = true;
            stat_add(e, S_RNBC, 1);
            raise_cause(e, INT_RXDMT0);
        }
        return RX_HOLD;
    }
    e->rx_held = false;
    size_t off = 0;
    for (unsigned i = 0; i < need; i++) {
        uint8_t *d = r + 16 * R(e, RDH);
        size_t chunk = MIN(bs, len - off);
        uint8_t *buf = vmm_vm_gpa_to_hva(e->vm, le64(d), chunk);
        uint8_t st = RXD_DD | (i + 1 == need ? RXD_EOP | status : 0);
        uint8_t er = i + 1 == need ? errors : 0;
        if (buf) {
            memcpy(buf, e->rx + off, chunk);
        } else {
            er |= RXE_RXE;   /* the driver drops it; the ring moves on */
            e->st.rx_errs++;
            guest_error(e, WARN_RX, "receive buffer 0x%" G_GINT64_MODIFIER "x outside RAM",
                        le64(d));
        }
        d[8] = (uint8_t)chunk;
        d[9] = (uint8_t)(chunk >> 8);
        d[10] = (uint8_t)pcsum;
        d[11] = (uint8_t)(pcsum >> 8);
        d[13] = er;
        d[14] = d[15] = 0;
        __atomic_store_n(&d[12], st, __ATOMIC_RELEASE);   /* DD last */
        off += chunk;
        R(e, RDH) = (R(e, RDH) + 1) % n;
    }
    stat_add(e, S_TPR, 1);
    stat_add(e, S_GPRC, 1);
    stat_add64(e, S_GORCL, wire);
    stat_add64(e, S_TORL, wire);
    stat_size(e, S_PRC64, wire);
    if (e->rx[0] & 1)
        stat_add(e, memcmp(e->rx, "\xff\xff\xff\xff\xff\xff", 6) ? S_MPRC : S_BPRC, 1);
    e->st.rx_pkts++;
    e->st.rx_bytes += e->rx_len;
    unsigned left = (R(e, RDT) + n - R(e, RDH)) % n;
    if (left <= n >> (1 + ((rctl >> 8) & 3)))
        R(e, ICR) |= INT_RXDMT0;
    rx_interrupt(e);
    return RX_DONE;
}

/* ---- the I/O thread (nicio) -------------------------------------------- */

static bool nic_rx(void *opaque, uint8_t *buf, size_t len)
{
    VmmE1000 *e = opaque;
    g_mutex_lock(&e->lock);
    e->rx = buf;
    e->rx_len = len;
    e->rx_woken = false;
    RxResult res = rx_deliver(e);
    g_mutex_unlock(&e->lock);
    return res == RX_DONE;
}

static gint64 nic_timers(void *opaque, gint64 now)
{
    VmmE1000 *e = opaque;
    /* RDT writes still queued (see bar_mapped) may free what a held frame
     * waits for: applied, they wake this thread to deliver it */
    vmm_vm_coalesced_flush(e->vm);
    g_mutex_lock(&e->lock);
    gint64 next = run_timers(e, now);
    if (e->rx_held && g_atomic_int_get(&e->rdt_queued) && (!next || next > now + VMM_NICIO_RX_RETRY_US))
        next = now + VMM_NICIO_RX_RETRY_US;
    g_mutex_unlock(&e->lock);
    return next;
}

static const VmmNicIoOps nic_ops = { nic_rx, nic_timers };

/* ---- registers ------------------------------------------------------------ */

static uint32_t reg_read(VmmE1000 *e, unsigned off)
{
    uint32_t v = R(e, off);
    switch (off) {
    case ICR:
        R(e, ICR) = 0;   /* read to clear */
        update_irq(e);
        return v;
    case EECD:
        return eecd_read(e);
    case IMC:
    case ICS:
        return 0;
    }
    if (off >= STATS && off < STATS_END) {
        /* clear on read; a 64-bit pair when its high half is read */
        if (off == S_GORCL || off == S_GOTCL || off == S_TORL || off == S_TOTL)
            return v;
        R(e, off) = 0;
        if (off == S_GORCH || off == S_GOTCH || off == S_TORH || off == S_TOTH)
            R(e, off - 4) = 0;
    }
    return v;
}

static void reg_write(VmmE1000 *e, unsigned off, uint32_t v)
{
    switch (off) {
    case CTRL:
        if (v & CTRL_RST) {
            device_reset(e);
            return;
        }
        if (v & CTRL_PHY_RST)
            phy_reset(e);
        R(e, CTRL) = v & ~(CTRL_RST | CTRL_PHY_RST);
        return;
    case STATUS:
        return;
    case EECD:
        eecd_write(e, v);
        return;
    case EERD:
        if (v & EERD_START) {
            unsigned a = (v >> 8) & 0xff;
            R(e, EERD) = (uint32_t)(a < 64 ? e->eeprom[a] : 0) << 16 | a << 8 | EERD_DONE;
        }
        return;
    case MDIC:
        mdic_write(e, v);
        return;
    case ICR:
        R(e, ICR) &= ~v;
        update_irq(e);
        return;
    case ICS:
        raise_cause(e, v & INT_ALL);
        return;
    case IMS:
        R(e, IMS) |= v & INT_ALL;
        update_irq(e);
        return;
    case IMC:
        R(e, IMS) &= ~v;
        update_irq(e);
        return;
    case ITR:
        R(e, ITR) = v & 0xffff;
        return;
    case RCTL:
        R(e, RCTL) = v;
        wake(e);
        return;
    case RDLEN:
    case TDLEN:
        R(e, off) = v & 0xfff80;
        return;
    case RDH:
    case TDH:
        R(e, off) = v & 0xffff;
        return;
    case RDT:
        R(e, RDT) = v & 0xffff;
        /* once per look: else the I/O thread waits for a frame, not for
         * us, or is already on its way (a flush brings many RDT writes) */
        if (e->rx_held && !e->rx_woken) {
            e->rx_woken = true;
            wake(e);
        }
        return;
    case RDTR:
        R(e, RDTR) = v & 0xffff;
        if (v & (1u << 31)) {   /* FPD: flush the pending receive interrupt now */
            if (e->rdtr_at || e->radv_at) {
                e->rdtr_at = e->radv_at = 0;
                raise_cause(e, INT_RXT0);
            }
        }
        return;
    case RADV:
    case TIDV:
    case TADV:
        R(e, off) = v & 0xffff;
        return;
    case TDT:
        R(e, TDT) = v & 0xffff;
        process_tx(e);
        return;
    case TCTL:
        R(e, TCTL) = v;
        process_tx(e);
        return;
    }
    if (off >= STATS && off < STATS_END)
        return;   /* read-only */
    R(e, off) = v;
}

/* Registers are 32-bit; narrower accesses see part of one, wider ones
 * two. */
static uint64_t regs_read(VmmE1000 *e, uint64_t off, unsigned size)
{
    if (size == 8)
        return regs_read(e, off, 4) | regs_read(e, off + 4, 4) << 32;
    unsigned word = (unsigned)off & ~3u, sh = 8 * ((unsigned)off & 3);
    if (word >= MMIO_SIZE)
        return 0;
    g_mutex_lock(&e->lock);
    uint32_t v = reg_read(e, word);
    g_mutex_unlock(&e->lock);
    uint64_t mask = size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
    return (v >> sh) & mask;
}

static void regs_write(VmmE1000 *e, uint64_t off, uint64_t val, unsigned size)
{
    if (size == 8) {
        regs_write(e, off, (uint32_t)val, 4);
        regs_write(e, off + 4, val >> 32, 4);
        return;
    }
    unsigned word = (unsigned)off & ~3u, sh = 8 * ((unsigned)off & 3);
    if (word >= MMIO_SIZE)
        return;
    g_mutex_lock(&e->lock);
    uint32_t v = (uint32_t)val;
    if (size < 4) {
        uint32_t mask = ((1u << (8 * size)) - 1) << sh;
        v = (R(e, word) & ~mask) | ((v << sh) & mask);
    }
    reg_write(e, word, v);
    g_mutex_unlock(&e->lock);
}

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
    return regs_read(opaque, off, size);
}

static void mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    regs_write(opaque, off, val, size);
}

/* The I/O BAR: IOADDR at 0 selects a register, IODATA at 4 reaches it. */
static uint64_t io_read(void *opaque, uint64_t off, unsigned size)
{
    VmmE1000 *e = opaque;
    if (off < 4) {
        g_mutex_lock(&e->lock);
        uint32_t a = e->ioaddr;
        g_mutex_unlock(&e->lock);
        return (a >> (8 * off)) & (size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1);
    }
    if (off >= 8)
        return 0;
    g_mutex_lock(&e->lock);
    uint32_t a = e->ioaddr & 0x1fffc;
    g_mutex_unlock(&e->lock);
    return regs_read(e, a + (off - 4), MIN(size, 4u));
}

static void io_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    VmmE1000 *e = opaque;
    if (off < 4) {
        g_mutex_lock(&e->lock);
        if (size >= 4 && off == 0)
            e->ioaddr = (uint32_t)val;
        else {
            unsigned sh = 8 * (unsigned)off;
            uint32_t mask = (uint32_t)(((1ull << (8 * MIN(size, 4u))) - 1) << sh);
            e->ioaddr = (e->ioaddr & ~mask) | ((uint32_t)(val << sh) & mask);
        }
        g_mutex_unlock(&e->lock);
        return;
    }
    if (off >= 8)
        return;
    g_mutex_lock(&e->lock);
    uint32_t a = e->ioaddr & 0x1fffc;
    g_mutex_unlock(&e->lock);
    regs_write(e, a + (off - 4), val, MIN(size, 4u));
}

static const VmmRegionOps mmio_ops = { "e1000-mmio", mmio_read, mmio_write };
static const VmmRegionOps io_ops = { "e1000-io", io_read, io_write };

static void pci_config_written(VmmPciDevice *dev, unsigned offset, unsigned size)
{
    VmmE1000 *e = dev->opaque;
    if (offset <= PCI_COMMAND + 1 && offset + size > PCI_COMMAND) {
        g_mutex_lock(&e->lock);
        update_irq(e);   /* INTx disable */
        g_mutex_unlock(&e->lock);
    }
}

/* RDT is the receive doorbell, written once per refill (Linux's e1000 and
 * the guest kit: once per frame): as a VM exit to the worker each costs
 * more than the frame itself. Like QEMU (which coalesces all but a few
 * e1000 registers), the writes go to KVM's coalesced MMIO queue instead;
 * they reach the device at the vCPU's next exit (any register read, the
 * interrupt handler's ICR, an IMS write: the driver's next look at the
 * device), or when the I/O thread, holding a frame for want of
 * descriptors, looks for them (nic_timers) as the chip would see the tail
 * move. Only RDT: every other register has effects the guest waits on. */
static void bar_mapped(VmmPciDevice *dev, int bar, uint64_t addr, bool mapped)
{
    VmmE1000 *e = dev->opaque;
    if (bar != 0 || !e->vm->coalesced_page)
        return;   /* no queue on this host: RDT writes exit, as other registers do */
    g_autoptr(GError) err = NULL;
    bool ok = vmm_vm_coalesce_mmio(e->vm, addr + RDT, 4, mapped, &err);
    if (!ok)
        vmm_log_warn("e1000 %s: receive doorbell writes will exit: %s", e->name, err->message);
    /* atomic, not e->lock: we are called under the config space lock */
    g_atomic_int_set(&e->rdt_queued, mapped && ok);
}

static void pci_reset(VmmPciDevice *dev)
{
    VmmE1000 *e = dev->opaque;
    g_mutex_lock(&e->lock);
    device_reset(e);
    g_mutex_unlock(&e->lock);
}

static const VmmPciDeviceOps e1000_pci_ops = {
    .name = "e1000",
    .config_written = pci_config_written,
    .bar_mapped = bar_mapped,
    .reset = pci_reset,
};

/* ---- life cycle ----------------------------------------------------------- */

VmmE1000 *vmm_e1000_new(VmmVm *vm, const VmmE1000Config *cfg, GError **err)
{
    const char *name = cfg->name ? cfg->name : "net";
    VmmE1000 *e = g_new0(VmmE1000, 1);
    e->vm = vm;
    e->name = g_strdup(name);
    memcpy(e->mac, cfg->mac, 6);
    e->link_up = !cfg->link_down;
    g_mutex_init(&e->lock);
    e->tx = g_malloc(TX_MAX);
    e->seg = g_malloc(TX_MAX);
    e->io = vmm_nicio_new("e1000", name, cfg->fd, cfg->stream, RX_MAX - 4, &nic_ops, e, err);
    if (!e->io) {
        vmm_e1000_free(e);
        return NULL;
    }
    eeprom_init(e);
    VmmPciDevice *p = &e->pci;
    vmm_pci_device_init(p, &e1000_pci_ops, e, E1000_VENDOR, E1000_DEVICE, 0x020000, 0x03,
                        E1000_VENDOR, E1000_SUBSYS);
    p->cfg[PCI_INTERRUPT_PIN] = 1;
    vmm_pci_device_set_bar(p, 0, MMIO_SIZE, false, false, &mmio_ops, e);
    vmm_pci_device_set_bar(p, 1, IO_SIZE, true, false, &io_ops, e);
    if (!vmm_pci_host_add_device(vm->pci, p, cfg->pci_slot, err)) {
        p->host = NULL;
        vmm_e1000_free(e);
        return NULL;
    }
    /* the slot's INTA, as the DSDT's _PRT routes it; a source of our own
     * on the shared line */
    e->intx = vmm_irq_line_source(&vm->gsi_line[p->cfg[PCI_INTERRUPT_LINE] % IOAPIC_NR_PINS],
                                  err);
    if (!e->intx) {
        vmm_e1000_free(e);
        return NULL;
    }
    g_mutex_lock(&e->lock);
    device_reset(e);
    g_mutex_unlock(&e->lock);
    vmm_nicio_start(e->io);
    return e;
}

void vmm_e1000_free(VmmE1000 *e)
{
    if (!e)
        return;
    vmm_nicio_free(e->io);
    set_line(e, false);
    for (int b = 0; b < 2 && e->pci.host; b++)
        if (e->pci.bar[b].mapped)
            vmm_bus_unregister(b ? &e->vm->pio : &e->vm->mmio, e->pci.bar[b].mapped_addr);
    g_mutex_clear(&e->lock);
    g_free(e->tx);
    g_free(e->seg);
    g_free(e->name);
    g_free(e);
}

const char *vmm_e1000_name(VmmE1000 *e)
{
    return e->name;
}

void vmm_e1000_get_stats(VmmE1000 *e, VmmNetStats *st)
{
    g_mutex_lock(&e->lock);
    *st = e->st;
    g_mutex_unlock(&e->lock);
}

void vmm_e1000_set_link(VmmE1000 *e, bool up)
{
    g_mutex_lock(&e->lock);
    if (e->link_up != up) {
        e->link_up = up;
        set_status(e);
        uint16_t ctl = e->phy[0];
        phy_reset(e);
        e->phy[0] = ctl;
        raise_cause(e, INT_LSC);
    }
    g_mutex_unlock(&e->lock);
}

bool vmm_e1000_get_link(VmmE1000 *e)
{
    g_mutex_lock(&e->lock);
    bool up = e->link_up;
    g_mutex_unlock(&e->lock);
    return up;
}
