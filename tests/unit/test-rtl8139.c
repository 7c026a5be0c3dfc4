/* The rtl8139 device model (src/hw/rtl8139.c) through its registers, as a
 * driver reaches them over the PCI host and the I/O and MMIO buses, with a
 * datagram socketpair standing in for the tap queue (a 12-byte vnet
 * header, then the frame). Checksums the device writes are checked by
 * recomputing them here from the frame bytes. */
#include "hw/rtl8139.h"
#include "hw/pci.h"
#include "util/log.h"
#include "vmm/layout.h"
#include "vmm/vm.h"
#include "test-nic-vm.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define RAM   0x100000
#define SLOT  3
#define IOBAR 0xc100
#define BAR1  LAYOUT_PCI_MMIO_BASE
#define MAC   "\x52\x54\x00\x12\x34\x56"
#define PEER  "\x02\0\0\0\0\x01"
#define TXR   0x10000          /* C+ rings / classic receive buffer */
#define RXR   0x11000
#define RBUF  0x20000
#define BUF   0x40000

typedef struct {
    NicVm n;
    VmmRtl8139 *r;
} Fx;

#define cfg_write(f, ...) nic_cfg_write(&(f)->n, __VA_ARGS__)
#define cfg_read(f, ...) nic_cfg_read(&(f)->n, __VA_ARGS__)

static uint32_t rd(Fx *f, unsigned reg, unsigned size)
{
    uint64_t v = 0;
    vmm_bus_read(&f->n.vm.mmio, BAR1 + reg, size, &v);
    return (uint32_t)v;
}

static void wr(Fx *f, unsigned reg, unsigned size, uint32_t v)
{
    vmm_bus_write(&f->n.vm.mmio, BAR1 + reg, size, v);
}

static void fx_init(Fx *f, bool link_down)
{
    memset(f, 0, sizeof(*f));
    nic_vm_init(&f->n, RAM, SLOT);
    VmmVm *vm = &f->n.vm;
    VmmRtl8139Config cfg = { .name = "t0", .fd = f->n.nic_fd, .link_down = link_down,
                             .pci_slot = SLOT };
    memcpy(cfg.mac, MAC, 6);
    g_autoptr(GError) err = NULL;
    f->r = vmm_rtl8139_new(vm, &cfg, &err);
    g_assert_no_error(err);
    cfg_write(f, PCI_BAR0, 4, IOBAR);
    cfg_write(f, PCI_BAR0 + 4, 4, BAR1);
    cfg_write(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
}

static void fx_free(Fx *f)
{
    vmm_rtl8139_free(f->r);
    nic_vm_free(&f->n);
}

static void test_pci(void)
{
    Fx f;
    fx_init(&f, false);
    g_assert_cmphex(cfg_read(&f, 0, 4), ==, 0x813910ec);
    g_assert_cmphex(cfg_read(&f, 8, 4), ==, 0x02000020);   /* class, revision C+ */
    g_assert_cmpuint(cfg_read(&f, PCI_INTERRUPT_PIN, 1), ==, 1);
    /* BAR0 is I/O and reaches the same registers as BAR1 */
    g_assert_cmphex(cfg_read(&f, PCI_BAR0, 4) & 1, ==, 1);
    uint64_t v = 0;
    vmm_bus_read(&f.n.vm.pio, IOBAR, 4, &v);
    g_assert_cmphex(v, ==, rd(&f, 0, 4));
    uint8_t idr[6];
    for (int i = 0; i < 6; i++)
        idr[i] = (uint8_t)rd(&f, i, 1);
    g_assert_cmpmem(idr, 6, MAC, 6);
    /* link and autonegotiation complete; TCR says RTL8139C+ */
    g_assert_cmphex(rd(&f, 0x64, 2) & 0x24, ==, 0x24);
    g_assert_cmphex(rd(&f, 0x40, 4) & 0x7cc00000, ==, 0x74800000);
    fx_free(&f);

    fx_init(&f, true);
    g_assert_cmphex(rd(&f, 0x64, 2) & 0x04, ==, 0);
    vmm_rtl8139_set_link(f.r, true);
    g_assert_cmphex(rd(&f, 0x64, 2) & 0x04, ==, 0x04);
    g_assert_cmphex(rd(&f, 0x3e, 2) & 0x20, ==, 0x20);   /* LinkChg */
    fx_free(&f);
}

/* 8139too's read_eeprom(), byte for byte. */
static uint16_t ee_read(Fx *f, unsigned addr)
{
    const uint8_t enb = 0x88;
    wr(f, 0x50, 1, 0x80);
    wr(f, 0x50, 1, enb);
    unsigned cmd = 6u << 6 | addr;
    for (int i = 10; i >= 0; i--) {
        uint8_t d = (cmd >> i) & 1 ? 2 : 0;
        wr(f, 0x50, 1, enb | d);
        wr(f, 0x50, 1, enb | d | 4);
    }
    wr(f, 0x50, 1, enb);
    uint16_t v = 0;
    for (int i = 0; i < 16; i++) {
        wr(f, 0x50, 1, enb | 4);
        v = (uint16_t)(v << 1 | (rd(f, 0x50, 1) & 1));
        wr(f, 0x50, 1, enb);
    }
    wr(f, 0x50, 1, 0);
    return v;
}

static void test_eeprom(void)
{
    Fx f;
    fx_init(&f, false);
    g_assert_cmphex(ee_read(&f, 0), ==, 0x8129);
    g_assert_cmphex(ee_read(&f, 7), ==, 0x5452);
    g_assert_cmphex(ee_read(&f, 8), ==, 0x1200);
    g_assert_cmphex(ee_read(&f, 9), ==, 0x5634);
    /* auto-load puts the EEPROM's MAC back into IDR */
    wr(&f, 0, 4, 0);
    wr(&f, 0x50, 1, 0x40);
    g_assert_cmphex(rd(&f, 0, 4), ==, 0x12005452);
    g_assert_cmphex(rd(&f, 0x50, 1), ==, 0);
    fx_free(&f);
}

static void test_interrupts(void)
{
    Fx f;
    fx_init(&f, false);
    wr(&f, 0x3c, 2, 0x0100);                 /* IMR: SWInt */
    wr(&f, 0xd9, 1, 0x01);                   /* TxPoll FSWInt */
    g_assert_cmpint(f.n.line.level, ==, 1);
    g_assert_cmphex(rd(&f, 0x3e, 2), ==, 0x0100);
    wr(&f, 0x3e, 2, 0x0001);                 /* another bit: ISR unchanged */
    g_assert_cmpint(f.n.line.level, ==, 1);
    wr(&f, 0x3e, 2, 0x0100);                 /* write 1 to clear */
    g_assert_cmpint(f.n.line.level, ==, 0);
    /* INTx disable in the command register holds the line down */
    wr(&f, 0xd9, 1, 0x01);
    g_assert_cmpint(f.n.line.level, ==, 1);
    cfg_write(&f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
    g_assert_cmpint(f.n.line.level, ==, 0);
    g_assert_cmpuint(f.n.line.redundant, ==, 0);
    fx_free(&f);
}

static size_t peer_recv(Fx *f, uint8_t *buf, size_t max)
{
    ssize_t n = recv(f->n.peer, buf, max, MSG_DONTWAIT);
    g_assert_cmpint(n, >, 12);
    return (size_t)n - 12;
}

/* Ethernet + IPv4 + UDP (proto 17) or TCP (6) headers at p, payload pl;
 * checksum fields garbage, for the device to fill. Returns the length. */
static size_t ip_frame(uint8_t *p, uint8_t proto, size_t pl)
{
    size_t l4 = proto == 6 ? 20 : 8, len = 34 + l4 + pl;
    memset(p, 0, len);
    memcpy(p, PEER, 6);
    memcpy(p + 6, MAC, 6);
    p[12] = 0x08;
    p[14] = 0x45;
    p[16] = (uint8_t)((len - 14) >> 8);
    p[17] = (uint8_t)(len - 14);
    p[18] = 0x12;
    p[22] = 64;
    p[23] = proto;
    p[24] = 0xde, p[25] = 0xad;
    memcpy(p + 26, "\x0a\0\0\x02\x0a\0\0\x01", 8);
    p[34] = 0x30, p[35] = 0x39, p[36] = 0, p[37] = 7;
    if (proto == 6) {
        p[46] = 0x50;
        p[47] = 0x18;   /* PSH ACK */
        p[50] = 0xbe, p[51] = 0xef;
    } else {
        p[38] = (uint8_t)((8 + pl) >> 8);
        p[39] = (uint8_t)(8 + pl);
        p[40] = 0xbe, p[41] = 0xef;
    }
    for (size_t i = 0; i < pl; i++)
        p[34 + l4 + i] = (uint8_t)(i * 7);
    return len;
}

static bool ip_ok(const uint8_t *p, size_t len)
{
    size_t tot = (size_t)(p[16] << 8 | p[17]);
    if (tot + 14 != len || sum16(p + 14, 20, 0) != 0xffff)
        return false;
    uint32_t ph = sum16(p + 26, 8, 0) + p[23] + (uint32_t)(tot - 20);
    return sum16(p + 34, tot - 20, ph) == 0xffff;
}

static void classic_tx_setup(Fx *f)
{
    wr(f, 0x37, 1, 0x10);                    /* reset */
    wr(f, 0x37, 1, 0x0c);                    /* RE TE */
}

static void test_classic_tx(void)
{
    Fx f;
    fx_init(&f, false);
    classic_tx_setup(&f);
    uint8_t buf[2048];
    size_t len = ip_frame(f.n.vm.ram + BUF, 17, 100);
    wr(&f, 0x3c, 2, 0x000c);                 /* TOK TER */
    wr(&f, 0x20, 4, BUF);
    wr(&f, 0x10, 4, (uint32_t)len);
    g_assert_cmpuint(peer_recv(&f, buf, sizeof(buf)), ==, len);
    g_assert_cmpmem(buf + 12, len, f.n.vm.ram + BUF, len);   /* no offload here */
    g_assert_cmphex(rd(&f, 0x10, 4) & 0xe000, ==, 0xa000);   /* TOK OWN */
    g_assert_cmphex(rd(&f, 0x3e, 2), ==, 0x0004);
    g_assert_cmpint(f.n.line.level, ==, 1);
    g_assert_cmphex(rd(&f, 0x60, 2) & 0x1001, ==, 0x1001);  /* TSAD: TOK0 OWN0 */
    wr(&f, 0x3e, 2, 0xffff);
    /* hostile: longer than the FIFO, outside RAM: aborted, nothing sent */
    wr(&f, 0x14, 4, 0x1fff);
    g_assert_cmphex(rd(&f, 0x14, 4) & (1u << 30), ==, 1u << 30);
    wr(&f, 0x28, 4, 0xfffff000);
    wr(&f, 0x18, 4, 60);
    g_assert_cmphex(rd(&f, 0x18, 4) & (1u << 30), ==, 1u << 30);
    g_assert_cmphex(rd(&f, 0x3e, 2), ==, 0x0008);
    g_assert_cmpint(recv(f.n.peer, buf, sizeof(buf), MSG_DONTWAIT), <, 0);
    VmmNetStats st;
    vmm_rtl8139_get_stats(f.r, &st);
    g_assert_cmpuint(st.tx_pkts, ==, 1);
    g_assert_cmpuint(st.tx_errs, ==, 2);
    fx_free(&f);
}

static void peer_send(Fx *f, const uint8_t *frame, size_t len)
{
    uint8_t b[12 + 2048] = { 0 };
    memcpy(b + 12, frame, len);
    g_assert_cmpint(send(f->n.peer, b, 12 + len, 0), ==, (ssize_t)(12 + len));
}

static void test_classic_rx(void)
{
    Fx f;
    fx_init(&f, false);
    classic_tx_setup(&f);
    wr(&f, 0x30, 4, RBUF);
    wr(&f, 0x44, 4, 0x02 | 0x08 | 0x80);     /* APM AB WRAP, 8K ring */
    g_assert_cmphex(rd(&f, 0x37, 1) & 1, ==, 1);   /* BUFE */
    uint8_t fr[200];
    size_t len = ip_frame(fr, 17, 40);
    memcpy(fr, "\x02\0\0\0\0\x09", 6);       /* not ours: filtered */
    peer_send(&f, fr, len);
    memcpy(fr, MAC, 6);
    peer_send(&f, fr, len);
    g_assert_true(NIC_WAIT(rd(&f, 0x3e, 2) & 0x0001));
    uint8_t *h = f.n.vm.ram + RBUF;
    g_assert_cmphex(h[0] | h[1] << 8, ==, 0x4001);        /* PAM ROK */
    g_assert_cmpuint(h[2] | h[3] << 8, ==, len + 4);      /* with the FCS */
    g_assert_cmpmem(h + 4, len, fr, len);
    size_t next = (len + 8 + 3) & ~3u;
    g_assert_cmpuint(rd(&f, 0x3a, 2), ==, next);
    g_assert_cmphex(rd(&f, 0x37, 1) & 1, ==, 0);
    /* the driver catches up: CAPR = read pointer - 16; buffer empty */
    wr(&f, 0x38, 2, (uint32_t)(next - 16));
    g_assert_cmphex(rd(&f, 0x37, 1) & 1, ==, 1);
    /* broadcast: the header says BAR */
    wr(&f, 0x3e, 2, 0xffff);
    memcpy(fr, "\xff\xff\xff\xff\xff\xff", 6);
    peer_send(&f, fr, len);
    g_assert_true(NIC_WAIT(rd(&f, 0x3e, 2) & 0x0001));
    g_assert_cmphex(f.n.vm.ram[RBUF + next + 1], ==, 0x20);   /* BAR */
    /* hostile: RBSTART outside RAM; counted, the device goes on */
    wr(&f, 0x3e, 2, 0xffff);
    wr(&f, 0x30, 4, 0xfff00000);
    peer_send(&f, fr, len);
    g_assert_true(NIC_WAIT(rd(&f, 0x3e, 2) & 0x0002));                 /* RER */
    VmmNetStats st;
    vmm_rtl8139_get_stats(f.r, &st);
    g_assert_cmpuint(st.rx_pkts, ==, 2);
    g_assert_cmpuint(st.rx_errs, ==, 1);
    fx_free(&f);
}

static void cp_desc(Fx *f, unsigned ring, unsigned i, uint32_t opts1, uint64_t addr)
{
    uint8_t *d = f->n.vm.ram + ring + 16 * i;
    memset(d + 4, 0, 4);
    memcpy(d + 8, &addr, 8);
    memcpy(d, &opts1, 4);
}

static uint32_t opts1(Fx *f, unsigned ring, unsigned i)
{
    uint32_t v;
    memcpy(&v, f->n.vm.ram + ring + 16 * i, 4);
    return v;
}

/* Whether receive descriptor i still belongs to the device (OWN). */
static bool rx_owned(Fx *f, unsigned i)
{
    return opts1(f, RXR, i) >> 31;
}

static void cplus_setup(Fx *f)
{
    wr(f, 0x37, 1, 0x10);
    wr(f, 0xe0, 2, 0x0023);                  /* CpRxOn CpTxOn RxChkSum */
    wr(f, 0x20, 4, TXR);
    wr(f, 0x24, 4, 0);
    wr(f, 0xe4, 4, RXR);
    wr(f, 0xe8, 4, 0);
    wr(f, 0x37, 1, 0x0c);
    wr(f, 0x44, 4, 0x02 | 0x08);
}

static void test_cplus_tx(void)
{
    Fx f;
    fx_init(&f, false);
    cplus_setup(&f);
    uint8_t buf[2048];
    /* UDP in two fragments, IPCS|UDPCS: both checksums right */
    size_t len = ip_frame(f.n.vm.ram + BUF, 17, 300);
    memmove(f.n.vm.ram + BUF + 0x1000, f.n.vm.ram + BUF + 100, len - 100);
    cp_desc(&f, TXR, 1, (1u << 31) | (1u << 28) | (1u << 18) | (1u << 17) | (uint32_t)(len - 100),
            BUF + 0x1000);
    cp_desc(&f, TXR, 0, (1u << 31) | (1u << 29) | 100, BUF);
    wr(&f, 0xd9, 1, 0x40);
    size_t n = peer_recv(&f, buf, sizeof(buf));
    g_assert_cmpuint(n, ==, len);
    g_assert_true(ip_ok(buf + 12, n));
    g_assert_cmphex(opts1(&f, TXR, 0) >> 31, ==, 0);
    g_assert_cmphex(opts1(&f, TXR, 1) >> 31, ==, 0);
    g_assert_cmphex(rd(&f, 0x3e, 2) & 4, ==, 4);
    /* large send: a 3000-byte TCP payload at MSS 1000, three segments */
    static uint8_t big[4096];
    len = ip_frame(big, 6, 3000);
    memcpy(f.n.vm.ram + BUF, big, len);
    cp_desc(&f, TXR, 2, (1u << 31) | (1u << 30) | (3u << 28) | (1u << 27) | 1000u << 16 |
            (uint32_t)len, BUF);
    wr(&f, 0xd9, 1, 0x40);
    for (unsigned s = 0; s < 3; s++) {
        n = peer_recv(&f, buf, sizeof(buf));
        g_assert_cmpuint(n, ==, 54 + 1000);
        g_assert_true(ip_ok(buf + 12, n));
        g_assert_cmpuint(buf[12 + 19], ==, 0x00 + s);               /* IP id */
        g_assert_cmpuint(buf[12 + 47] & 0x08, ==, s == 2 ? 0x08 : 0);   /* PSH last */
        g_assert_cmpmem(buf + 12 + 54, 1000, big + 54 + 1000 * s, 1000);
    }
    g_assert_cmpint(recv(f.n.peer, buf, sizeof(buf), MSG_DONTWAIT), <, 0);
    /* EOR took the ring back to 0 */
    len = ip_frame(f.n.vm.ram + BUF, 17, 10);
    cp_desc(&f, TXR, 0, (1u << 31) | (3u << 28) | (uint32_t)len, BUF);
    wr(&f, 0xd9, 1, 0x40);
    g_assert_cmpuint(peer_recv(&f, buf, sizeof(buf)), ==, len);
    /* hostile: a ring outside RAM, a buffer outside RAM, huge fragments,
     * every descriptor owned with no last fragment */
    cp_desc(&f, TXR, 1, (1u << 31) | (3u << 28) | 60, 0xfff00000);
    cp_desc(&f, TXR, 2, (1u << 31) | (1u << 29) | 0xffff, BUF);
    cp_desc(&f, TXR, 3, (1u << 31) | (1u << 28) | (1u << 30) | 0xffff, BUF);
    wr(&f, 0xd9, 1, 0x40);
    g_assert_cmphex(opts1(&f, TXR, 1), ==, (1u << 23) | (3u << 28) | 60);   /* TxErr */
    g_assert_cmphex(opts1(&f, TXR, 3) & (1u << 23), ==, 1u << 23);
    for (unsigned i = 0; i < 64; i++)
        cp_desc(&f, TXR, i, (1u << 31) | 64, BUF);
    wr(&f, 0xd9, 1, 0x40);
    wr(&f, 0x20, 4, 0xfffff000);
    wr(&f, 0xd9, 1, 0x40);
    g_assert_cmpint(recv(f.n.peer, buf, sizeof(buf), MSG_DONTWAIT), <, 0);
    fx_free(&f);
}

static void test_cplus_rx(void)
{
    Fx f;
    fx_init(&f, false);
    for (unsigned i = 0; i < 4; i++)
        cp_desc(&f, RXR, i, (1u << 31) | (i == 3 ? 1u << 30 : 0) | 2048, BUF + 2048 * i);
    cplus_setup(&f);
    uint8_t fr[300];
    size_t len = ip_frame(fr, 17, 40);
    memcpy(fr, MAC, 6);
    /* make the checksums right, as a sender would */
    fr[24] = fr[25] = 0;
    uint16_t c = (uint16_t)~sum16(fr + 14, 20, 0);
    fr[24] = (uint8_t)(c >> 8), fr[25] = (uint8_t)c;
    fr[40] = fr[41] = 0;
    c = (uint16_t)~sum16(fr + 34, len - 34, sum16(fr + 26, 8, 0) + 17u + (uint32_t)(len - 34));
    fr[40] = (uint8_t)(c >> 8), fr[41] = (uint8_t)c;
    peer_send(&f, fr, len);
    fr[60] ^= 1;                             /* payload corrupted */
    peer_send(&f, fr, len);
    g_assert_true(NIC_WAIT(!rx_owned(&f, 0)));
    g_assert_true(NIC_WAIT(!rx_owned(&f, 1)));
    uint32_t o = opts1(&f, RXR, 0);
    g_assert_cmphex(o & 0x1fff, ==, len + 4);
    g_assert_cmphex(o & (3u << 28), ==, 3u << 28);          /* FS LS */
    g_assert_cmphex((o >> 16) & 3, ==, 2);                  /* UDP */
    g_assert_cmphex(o & (7u << 13), ==, 0);                 /* no fail bits */
    g_assert_cmpmem(f.n.vm.ram + BUF, 60, fr, 60);   /* before the flipped byte */
    o = opts1(&f, RXR, 1);
    g_assert_cmphex(o & (1u << 14), ==, 1u << 14);          /* UDPF */
    /* hostile: a buffer outside RAM, then a ring outside RAM */
    cp_desc(&f, RXR, 2, (1u << 31) | 2048, 0xfff00000);
    peer_send(&f, fr, len);
    g_assert_true(NIC_WAIT(!rx_owned(&f, 2)));
    g_assert_cmphex(opts1(&f, RXR, 2) & (1u << 20), ==, 1u << 20);   /* RxError */
    wr(&f, 0xe4, 4, 0xfffff000);
    wr(&f, 0x3e, 2, 0xffff);
    peer_send(&f, fr, len);
    g_assert_true(NIC_WAIT(rd(&f, 0x3e, 2) & 0x0002));
    VmmNetStats st;
    vmm_rtl8139_get_stats(f.r, &st);
    g_assert_cmpuint(st.rx_pkts, ==, 2);
    g_assert_cmpuint(st.rx_errs, ==, 2);
    fx_free(&f);
}

/* C+ receive has no doorbell: a frame that found no descriptor goes in
 * once the driver sets OWN again, with no register write. */
static void test_cplus_rx_refill(void)
{
    Fx f;
    fx_init(&f, false);
    cp_desc(&f, RXR, 0, (1u << 31) | (1u << 30) | 2048, BUF);   /* a ring of one */
    cplus_setup(&f);
    uint8_t fr[300];
    size_t len = ip_frame(fr, 17, 40);
    memcpy(fr, MAC, 6);
    peer_send(&f, fr, len);
    fr[60] = 0x77;
    peer_send(&f, fr, len);
    g_assert_true(NIC_WAIT(!rx_owned(&f, 0)));
    g_assert_true(NIC_WAIT(rd(&f, 0x3e, 2) & 0x0010));                 /* RxEmpty: none left */
    g_assert_cmpuint(f.n.vm.ram[BUF + 60], !=, 0x77);
    cp_desc(&f, RXR, 0, (1u << 31) | (1u << 30) | 2048, BUF);
    g_assert_true(NIC_WAIT(!rx_owned(&f, 0)));
    g_assert_cmpuint(f.n.vm.ram[BUF + 60], ==, 0x77);
    fx_free(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    vmm_log_set_level(VMM_LOG_ERROR);
    g_test_add_func("/rtl8139/pci", test_pci);
    g_test_add_func("/rtl8139/eeprom", test_eeprom);
    g_test_add_func("/rtl8139/interrupts", test_interrupts);
    g_test_add_func("/rtl8139/classic-tx", test_classic_tx);
    g_test_add_func("/rtl8139/classic-rx", test_classic_rx);
    g_test_add_func("/rtl8139/cplus-tx", test_cplus_tx);
    g_test_add_func("/rtl8139/cplus-rx", test_cplus_rx);
    g_test_add_func("/rtl8139/cplus-rx-refill", test_cplus_rx_refill);
    return g_test_run();
}
