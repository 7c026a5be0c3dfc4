/* The e1000 device model (src/hw/e1000.c) through its registers, as a
 * driver reaches them over the PCI host and the MMIO/PIO buses, with a
 * datagram socketpair standing in for the tap queue (same framing: a
 * 12-byte vnet header, then the frame). Checksums the device writes are
 * checked by recomputing them here from the frame bytes. */
#include "hw/e1000.h"
#include "hw/pci.h"
#include "util/log.h"
#include "vmm/layout.h"
#include "vmm/vm.h"
#include "test-nic-vm.h"

#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define RAM   0x100000
#define SLOT  3
#define BAR0  LAYOUT_PCI_MMIO_BASE
#define IOBAR 0xc000
#define MAC   "\x52\x54\x00\x12\x34\x56"

typedef struct {
    NicVm n;
    VmmE1000 *e;
} Fx;

#define cfg_write(f, ...) nic_cfg_write(&(f)->n, __VA_ARGS__)
#define cfg_read(f, ...) nic_cfg_read(&(f)->n, __VA_ARGS__)

static uint32_t rd(Fx *f, unsigned reg)
{
    uint64_t v = 0;
    vmm_bus_read(&f->n.vm.mmio, BAR0 + reg, 4, &v);
    return (uint32_t)v;
}

static void wr(Fx *f, unsigned reg, uint32_t v)
{
    vmm_bus_write(&f->n.vm.mmio, BAR0 + reg, 4, v);
}

static void fx_init(Fx *f, bool link_down)
{
    memset(f, 0, sizeof(*f));
    nic_vm_init(&f->n, RAM, SLOT);
    VmmVm *vm = &f->n.vm;
    VmmE1000Config cfg = { .name = "t0", .fd = f->n.nic_fd, .link_down = link_down,
                           .pci_slot = SLOT };
    memcpy(cfg.mac, MAC, 6);
    g_autoptr(GError) err = NULL;
    f->e = vmm_e1000_new(vm, &cfg, &err);
    g_assert_no_error(err);
    /* as firmware leaves it */
    cfg_write(f, PCI_BAR0, 4, BAR0);
    cfg_write(f, PCI_BAR0 + 4, 4, IOBAR);
    cfg_write(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
}

static void fx_free(Fx *f)
{
    vmm_e1000_free(f->e);
    nic_vm_free(&f->n);
}

static void test_pci(void)
{
    Fx f;
    fx_init(&f, false);
    g_assert_cmphex(cfg_read(&f, 0, 4), ==, 0x100e8086);
    g_assert_cmphex(cfg_read(&f, 8, 4) >> 8, ==, 0x020000);
    g_assert_cmpuint(cfg_read(&f, PCI_INTERRUPT_PIN, 1), ==, 1);
    /* the slot's INTA as _PRT wires it */
    g_assert_cmpuint(cfg_read(&f, PCI_INTERRUPT_LINE, 1), ==, GSI_PCI_INTX_BASE + (SLOT & 3));
    /* BAR1 is I/O: IOADDR/IODATA reach the same registers as BAR0 */
    g_assert_cmphex(cfg_read(&f, PCI_BAR0 + 4, 4) & 1, ==, 1);
    vmm_bus_write(&f.n.vm.pio, IOBAR, 4, 0x0008);   /* STATUS */
    uint64_t v = 0;
    vmm_bus_read(&f.n.vm.pio, IOBAR + 4, 4, &v);
    g_assert_cmphex(v, ==, rd(&f, 0x0008));
    g_assert_cmphex(v & 0x2, ==, 0x2);   /* link up */
    fx_free(&f);
}

/* The Microwire sequence Linux's e1000 uses for the 82540. */
static void ee_out(Fx *f, uint32_t *eecd, uint32_t data, unsigned bits)
{
    for (unsigned i = bits; i-- > 0;) {
        *eecd = (*eecd & ~0x4u) | ((data >> i) & 1 ? 0x4 : 0);
        wr(f, 0x10, *eecd);
        wr(f, 0x10, *eecd | 0x1);
        wr(f, 0x10, *eecd);
    }
}

static uint16_t ee_read(Fx *f, unsigned addr)
{
    uint32_t eecd = 0x40;        /* REQ */
    wr(f, 0x10, eecd);
    g_assert_cmphex(rd(f, 0x10) & 0x80, ==, 0x80);   /* GNT */
    eecd |= 0x2;                 /* CS */
    wr(f, 0x10, eecd);
    ee_out(f, &eecd, 0x6, 3);    /* start bit + READ */
    ee_out(f, &eecd, addr, 6);
    uint16_t d = 0;
    for (int i = 0; i < 16; i++) {
        wr(f, 0x10, eecd | 0x1);
        d = (uint16_t)(d << 1 | !!(rd(f, 0x10) & 0x8));
        wr(f, 0x10, eecd);
    }
    wr(f, 0x10, 0);              /* CS down, REQ released */
    return d;
}

static void test_eeprom_phy(void)
{
    Fx f;
    fx_init(&f, false);
    uint16_t sum = 0;
    for (unsigned i = 0; i < 64; i++) {
        uint16_t w = ee_read(&f, i);
        sum += w;
        wr(&f, 0x14, i << 8 | 1);   /* EERD agrees */
        g_assert_cmphex(rd(&f, 0x14), ==, (uint32_t)w << 16 | i << 8 | 0x10);
        if (i < 3)
            g_assert_cmphex(w, ==, (uint8_t)MAC[2 * i] | (uint8_t)MAC[2 * i + 1] << 8);
    }
    g_assert_cmphex(sum, ==, 0xbaba);
    /* MDIC: PHY 1 register 1: link up, autonegotiation complete */
    wr(&f, 0x20, 2u << 26 | 1u << 21 | 1u << 16);
    uint32_t m = rd(&f, 0x20);
    g_assert_cmphex(m & (1u << 28), !=, 0);
    g_assert_cmphex(m & 0x24, ==, 0x24);
    wr(&f, 0x20, 2u << 26 | 1u << 21 | 2u << 16);
    g_assert_cmphex(rd(&f, 0x20) & 0xffff, ==, 0x0141);
    /* another PHY address: error */
    wr(&f, 0x20, 2u << 26 | 2u << 21 | 1u << 16);
    g_assert_cmphex(rd(&f, 0x20) & (1u << 30), !=, 0);
    fx_free(&f);

    fx_init(&f, true);   /* <link state='down'/> */
    g_assert_cmphex(rd(&f, 0x8) & 2, ==, 0);
    wr(&f, 0x20, 2u << 26 | 1u << 21 | 1u << 16);
    g_assert_cmphex(rd(&f, 0x20) & 0x4, ==, 0);
    wr(&f, 0xd0, 0x4);            /* IMS: LSC */
    vmm_e1000_set_link(f.e, true);
    g_assert_cmphex(rd(&f, 0x8) & 2, ==, 2);
    g_assert_cmpint(f.n.line.level, ==, 1);
    g_assert_cmphex(rd(&f, 0xc0), ==, 0x4);
    fx_free(&f);
}

static void test_interrupts(void)
{
    Fx f;
    fx_init(&f, false);
    wr(&f, 0xc8, 0x4);            /* ICS: LSC, masked */
    g_assert_cmpint(f.n.line.level, ==, 0);
    wr(&f, 0xd0, 0x4);            /* IMS */
    g_assert_cmpint(f.n.line.level, ==, 1);
    wr(&f, 0xd8, 0x4);            /* IMC */
    g_assert_cmpint(f.n.line.level, ==, 0);
    wr(&f, 0xd0, 0x4);
    g_assert_cmpint(f.n.line.level, ==, 1);
    /* INTx disable in the command register holds the line low */
    cfg_write(&f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_INTX_DISABLE);
    g_assert_cmpint(f.n.line.level, ==, 0);
    cfg_write(&f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
    g_assert_cmpint(f.n.line.level, ==, 1);
    g_assert_cmphex(rd(&f, 0xc0), ==, 0x4);   /* read to clear */
    g_assert_cmpint(f.n.line.level, ==, 0);
    g_assert_cmphex(rd(&f, 0xc0), ==, 0);
    /* CTRL.RST: masks and causes gone */
    wr(&f, 0xc8, 0x80);
    wr(&f, 0x0, 1u << 26);
    g_assert_cmphex(rd(&f, 0xd0), ==, 0);
    g_assert_cmphex(rd(&f, 0xc0), ==, 0);
    g_assert_cmpuint(f.n.line.redundant, ==, 0);
    fx_free(&f);
}

/* ---- transmit ---- */

#define TXR   0x1000      /* transmit ring: 8 descriptors */
#define RXR   0x2000      /* receive ring: 8 descriptors */
#define BUF   0x10000     /* packet buffers */

static void tx_setup(Fx *f)
{
    wr(f, 0x3800, TXR);
    wr(f, 0x3804, 0);
    wr(f, 0x3808, 8 * 16);
    wr(f, 0x3810, 0);
    wr(f, 0x3818, 0);
    wr(f, 0x400, 0x2 | 0x8);      /* TCTL: EN, PSP */
}

static void put_desc(Fx *f, unsigned ring, unsigned i, uint64_t a, uint32_t w2, uint32_t w3)
{
    uint8_t *d = f->n.vm.ram + ring + 16 * i;
    memcpy(d, &a, 8);
    memcpy(d + 8, &w2, 4);
    memcpy(d + 12, &w3, 4);
}

static size_t peer_recv(Fx *f, uint8_t *buf, size_t max)
{
    ssize_t n = recv(f->n.peer, buf, max, MSG_DONTWAIT);
    g_assert_cmpint(n, >, 12);
    for (int i = 0; i < 12; i++)
        g_assert_cmpuint(buf[i], ==, 0);   /* nothing asked of the host */
    return (size_t)n - 12;
}

/* Ethernet + IPv4 + TCP headers (54 bytes) at p, payload length pl. */
static void tcp_headers(uint8_t *p, size_t pl, uint8_t flags)
{
    memset(p, 0, 54);
    memcpy(p, "\x02\0\0\0\0\x01", 6);
    memcpy(p + 6, MAC, 6);
    p[12] = 0x08;
    p[14] = 0x45;
    p[16] = (uint8_t)((40 + pl) >> 8);
    p[17] = (uint8_t)(40 + pl);
    p[18] = 0x12;                 /* id 0x1234 */
    p[19] = 0x34;
    p[22] = 64;
    p[23] = 6;
    memcpy(p + 26, "\x0a\0\0\x02\x0a\0\0\x01", 8);
    p[34] = 0x30; p[35] = 0x39;   /* ports */
    p[36] = 0x00; p[37] = 0x50;
    memcpy(p + 38, "\x10\x00\x00\x00", 4);   /* seq 0x10000000 */
    p[46] = 0x50;                 /* data offset 5 */
    p[47] = flags;
    p[48] = 0xff;
}

static bool tcp_ok(const uint8_t *p, size_t len)
{
    size_t tot = (size_t)(p[16] << 8 | p[17]);
    if (tot + 14 != len || sum16(p + 14, 20, 0) != 0xffff)
        return false;
    uint32_t ph = sum16(p + 26, 8, 0) + 6 + (uint32_t)(tot - 20);
    return sum16(p + 34, tot - 20, ph) == 0xffff;
}

static void test_tx(void)
{
    Fx f;
    fx_init(&f, false);
    tx_setup(&f);
    wr(&f, 0xd0, 0x1);            /* IMS: TXDW */
    /* legacy, two descriptors, checksum inserted over TCP: CSS 34, CSO 50
     * (the driver seeds the field with the pseudo-header sum) */
    uint8_t *pkt = f.n.vm.ram + BUF;
    size_t pl = 100;
    tcp_headers(pkt, pl, 0x18);
    for (size_t i = 0; i < pl; i++)
        pkt[54 + i] = (uint8_t)i;
    pkt[24] = pkt[25] = 0;
    uint16_t ipc = (uint16_t)~sum16(pkt + 14, 20, 0);
    pkt[24] = (uint8_t)(ipc >> 8);
    pkt[25] = (uint8_t)ipc;
    uint16_t seed = sum16((uint8_t[]){ 0, 0 }, 2, sum16(pkt + 26, 8, 0) + 6u + 20 + (uint32_t)pl);
    pkt[50] = (uint8_t)(seed >> 8);
    pkt[51] = (uint8_t)seed;
    put_desc(&f, TXR, 0, BUF, 40, 0);                                  /* no EOP */
    put_desc(&f, TXR, 1, BUF + 40, (54 + pl - 40) | 50u << 16 | (0x1 | 0x4 | 0x8) << 24,
             34u << 8);                                                /* EOP IC RS */
    wr(&f, 0x3818, 2);
    g_assert_cmpuint(rd(&f, 0x3810), ==, 2);
    g_assert_cmphex(f.n.vm.ram[TXR + 16 + 12] & 1, ==, 1);               /* DD */
    g_assert_cmpint(f.n.line.level, ==, 1);
    uint8_t buf[70000];
    size_t n = peer_recv(&f, buf, sizeof(buf));
    g_assert_cmpuint(n, ==, 54 + pl);
    g_assert_true(tcp_ok(buf + 12, n));
    g_assert_cmpmem(buf + 12 + 54, pl, pkt + 54, pl);
    g_assert_cmphex(rd(&f, 0xc0) & 0x3, ==, 0x3);                      /* TXDW TXQE */
    g_assert_cmpuint(rd(&f, 0x4080), ==, 1);                           /* GPTC */
    g_assert_cmpuint(rd(&f, 0x4080), ==, 0);                           /* clear on read */
    g_assert_cmpuint(rd(&f, 0x4090), ==, 54 + pl + 4);                 /* GOTCL */
    g_assert_cmpuint(rd(&f, 0x40d4), ==, 1);                           /* TPT */

    /* TSO: a context, then one data descriptor of 54 + 2500 bytes, MSS
     * 1000: three segments, every length, id, sequence number and
     * checksum right, FIN and PSH on the last only */
    pl = 2500;
    tcp_headers(pkt, pl, 0x19);
    for (size_t i = 0; i < pl; i++)
        pkt[54 + i] = (uint8_t)(i * 7);
    pkt[16] = pkt[17] = 0;        /* Linux zeroes the IP length and checksum */
    /* the pseudo-header without the length */
    seed = sum16((uint8_t[]){ 0, 0 }, 2, sum16(pkt + 26, 8, 0) + 6u);
    pkt[50] = (uint8_t)(seed >> 8);
    pkt[51] = (uint8_t)seed;
    /* context: IPCSS 14, IPCSO 24, IPCSE 33; TUCSS 34, TUCSO 50;
     * PAYLEN, TUCMD = TCP|IP|TSE|DEXT, HDRLEN 54, MSS 1000 */
    uint64_t c0 = 14 | 24u << 8 | 33u << 16 | (uint64_t)(34 | 50u << 8) << 32;
    put_desc(&f, TXR, 2, c0, (uint32_t)pl | (0x01 | 0x02 | 0x04 | 0x20 | 0x08) << 24,
             54u << 8 | 1000u << 16);
    put_desc(&f, TXR, 3, BUF, (uint32_t)(54 + pl) | 1u << 20 | (0x01 | 0x04 | 0x08 | 0x20) << 24,
             (0x01 | 0x02) << 8);                                      /* POPTS IXSM TXSM */
    wr(&f, 0x3818, 4);
    for (unsigned s = 0; s < 3; s++) {
        n = peer_recv(&f, buf, sizeof(buf));
        size_t chunk = s < 2 ? 1000 : 500;
        g_assert_cmpuint(n, ==, 54 + chunk);
        g_assert_true(tcp_ok(buf + 12, n));
        const uint8_t *h = buf + 12;
        g_assert_cmpuint((unsigned)(h[18] << 8 | h[19]), ==, 0x1234 + s);
        uint32_t seq = (uint32_t)h[38] << 24 | h[39] << 16 | h[40] << 8 | h[41];
        g_assert_cmphex(seq, ==, 0x10000000u + 1000 * s);
        g_assert_cmphex(h[47], ==, s < 2 ? 0x10 : 0x19);
        g_assert_cmpmem(h + 54, chunk, pkt + 54 + 1000 * s, chunk);
    }
    g_assert_cmpint(recv(f.n.peer, buf, sizeof(buf), MSG_DONTWAIT), <, 0);
    g_assert_cmpuint(rd(&f, 0x40f8), ==, 1);                           /* TSCTC */
    g_assert_cmpuint(rd(&f, 0x4080), ==, 3);
    VmmNetStats st;
    vmm_e1000_get_stats(f.e, &st);
    g_assert_cmpuint(st.tx_pkts, ==, 4);
    g_assert_cmpuint(st.tx_errs, ==, 0);
    fx_free(&f);
}

/* Descriptors a hostile or broken driver writes: nothing moves, nothing
 * crashes, and after CTRL.RST the device transmits again. */
static void test_tx_hostile(void)
{
    Fx f;
    fx_init(&f, false);
    tx_setup(&f);
    uint8_t buf[2048];
    /* TDT beyond the ring */
    wr(&f, 0x3818, 100);
    g_assert_cmpuint(rd(&f, 0x3810), ==, 0);
    /* the ring outside RAM */
    wr(&f, 0x3818, 0);
    wr(&f, 0x3800, 0xfff00000);
    wr(&f, 0x3818, 1);
    g_assert_cmpuint(rd(&f, 0x3810), ==, 0);
    wr(&f, 0x3800, TXR);
    wr(&f, 0x3818, 0);
    /* zero-length, outside RAM, and huge (1 MiB) data descriptors */
    put_desc(&f, TXR, 0, BUF, 0 | (0x1 | 0x8) << 24, 0);
    put_desc(&f, TXR, 1, 0xfff00000, 60 | (0x1 | 0x8) << 24, 0);
    put_desc(&f, TXR, 2, BUF, 0xfffff | 1u << 20 | (0x1 | 0x8 | 0x20) << 24, 0);
    wr(&f, 0x3818, 3);
    g_assert_cmpuint(rd(&f, 0x3810), ==, 3);
    g_assert_cmpint(recv(f.n.peer, buf, sizeof(buf), MSG_DONTWAIT), <, 0);
    VmmNetStats st;
    vmm_e1000_get_stats(f.e, &st);
    /* two refused kicks (TDT beyond the ring, the ring outside RAM) and
     * two dropped packets */
    g_assert_cmpuint(st.tx_errs, ==, 4);
    /* reset, then an ordinary frame */
    wr(&f, 0x0, 1u << 26);
    tx_setup(&f);
    memset(f.n.vm.ram + BUF, 0xab, 60);
    put_desc(&f, TXR, 0, BUF, 60 | (0x1 | 0x8) << 24, 0);
    wr(&f, 0x3818, 1);
    g_assert_cmpuint(peer_recv(&f, buf, sizeof(buf)), ==, 60);
    fx_free(&f);
}

/* ---- receive ---- */

static void rx_setup(Fx *f, uint32_t rctl)
{
    for (unsigned i = 0; i < 8; i++)
        put_desc(f, RXR, i, BUF + 2048 * i, 0, 0);
    wr(f, 0x2800, RXR);
    wr(f, 0x2804, 0);
    wr(f, 0x2808, 8 * 16);
    wr(f, 0x2810, 0);
    wr(f, 0x2818, 7);
    wr(f, 0x100, rctl);
}

static void peer_send(Fx *f, const char *dst, size_t len, uint8_t fill)
{
    uint8_t b[12 + 2048] = { 0 };
    memcpy(b + 12, dst, 6);
    memcpy(b + 18, "\x02\0\0\0\0\x01", 6);
    memset(b + 24, fill, len - 12);
    g_assert_cmpint(send(f->n.peer, b, 12 + len, 0), ==, (ssize_t)(12 + len));
}

/* Waits (bounded, generously) for descriptor i's DD bit. */
static bool rx_wait(Fx *f, unsigned i)
{
    volatile uint8_t *st = f->n.vm.ram + RXR + 16 * i + 12;
    return NIC_WAIT(*st & 1);
}

static void test_rx(void)
{
    Fx f;
    fx_init(&f, false);
    wr(&f, 0xd0, 0x80);           /* IMS: RXT0 */
    rx_setup(&f, 0x2 | (1u << 15) | (1u << 26));   /* EN BAM SECRC, 2 KiB buffers */
    peer_send(&f, "\x02\0\0\0\0\x09", 100, 1);     /* not ours: filtered */
    peer_send(&f, MAC, 100, 2);
    g_assert_true(rx_wait(&f, 0));
    uint8_t *d = f.n.vm.ram + RXR;
    g_assert_cmpuint(d[8] | d[9] << 8, ==, 100);
    g_assert_cmphex(d[12] & 0x3, ==, 0x3);         /* DD EOP */
    g_assert_cmpmem(f.n.vm.ram + BUF, 6, MAC, 6);
    g_assert_cmpuint(f.n.vm.ram[BUF + 99], ==, 2);
    peer_send(&f, "\xff\xff\xff\xff\xff\xff", 30, 3);   /* broadcast, padded to 60 */
    g_assert_true(rx_wait(&f, 1));
    g_assert_cmpuint(d[16 + 8], ==, 60);
    /* multicast 01:00:5e:00:00:fb: dropped until its MTA bit (MO 0:
     * bits 47:36 of the address = 0xfb0) is set; a unicast frame behind
     * it shows it was passed over */
    peer_send(&f, "\x01\x00\x5e\x00\x00\xfb", 80, 4);
    peer_send(&f, MAC, 100, 9);
    g_assert_true(rx_wait(&f, 2));
    g_assert_cmpuint(f.n.vm.ram[BUF + 2 * 2048 + 99], ==, 9);
    wr(&f, 0x5200 + 4 * (0xfb0 >> 5), 1u << (0xfb0 & 31));
    peer_send(&f, "\x01\x00\x5e\x00\x00\xfb", 80, 5);
    g_assert_true(rx_wait(&f, 3));
    g_assert_cmpuint(f.n.vm.ram[BUF + 3 * 2048 + 79], ==, 5);
    /* without SECRC the FCS is there */
    wr(&f, 0x100, 0x2 | (1u << 15));
    peer_send(&f, MAC, 100, 6);
    g_assert_true(rx_wait(&f, 4));
    g_assert_cmpuint(d[64 + 8], ==, 104);
    g_assert_cmpint(f.n.line.level, ==, 1);
    g_assert_cmphex(rd(&f, 0xc0) & 0x80, ==, 0x80);
    g_assert_cmpuint(rd(&f, 0x4074), ==, 5);       /* GPRC */
    g_assert_cmpuint(rd(&f, 0x4078), ==, 1);       /* BPRC */
    g_assert_cmpuint(rd(&f, 0x407c), ==, 1);       /* MPRC */
    g_assert_cmpuint(rd(&f, 0x2810), ==, 5);       /* RDH */
    /* a ring outside RAM: the frame is dropped, the worker goes on; after
     * a reset the device receives again */
    wr(&f, 0x2800, 0xfff00000);
    peer_send(&f, MAC, 100, 7);
    VmmNetStats st = { 0 };
    for (int t = 0; t < 20000 && !st.rx_errs; t++) {
        g_usleep(500);
        vmm_e1000_get_stats(f.e, &st);
    }
    g_assert_cmpuint(st.rx_errs, ==, 1);
    wr(&f, 0x0, 1u << 26);
    memset(f.n.vm.ram + RXR, 0, 8 * 16);
    rx_setup(&f, 0x2 | (1u << 26));
    peer_send(&f, MAC, 100, 8);
    g_assert_true(rx_wait(&f, 0));
    g_assert_cmpuint(f.n.vm.ram[BUF + 99], ==, 8);
    fx_free(&f);
}

/* A whole frame from the host side. */
static void peer_send_frame(Fx *f, const uint8_t *frame, size_t len)
{
    uint8_t b[12 + 2048] = { 0 };
    memcpy(b + 12, frame, len);
    g_assert_cmpint(send(f->n.peer, b, 12 + len, 0), ==, (ssize_t)(12 + len));
}

/* RXCSUM: IPv4 and TCP checksums checked, the status and error bits as
 * the driver reads them */
static void test_rx_csum(void)
{
    Fx f;
    fx_init(&f, false);
    rx_setup(&f, 0x2 | (1u << 26));
    wr(&f, 0x5000, 0x300);        /* IPOFLD, TUOFLD */
    uint8_t p[54 + 40];
    size_t pl = 40;
    tcp_headers(p, pl, 0x18);
    memcpy(p, MAC, 6);            /* to us */
    memcpy(p + 6, "\x02\0\0\0\0\x01", 6);
    for (size_t i = 0; i < pl; i++)
        p[54 + i] = (uint8_t)(i + 1);
    uint16_t ipc = (uint16_t)~sum16(p + 14, 20, 0);
    p[24] = (uint8_t)(ipc >> 8);
    p[25] = (uint8_t)ipc;
    uint16_t tc = (uint16_t)~sum16(p + 34, 20 + pl, sum16(p + 26, 8, 0) + 6u + 20 + (uint32_t)pl);
    p[50] = (uint8_t)(tc >> 8);
    p[51] = (uint8_t)tc;
    g_assert_true(tcp_ok(p, sizeof(p)));
    peer_send_frame(&f, p, sizeof(p));
    p[60] ^= 1;                   /* payload damaged: TCP checksum wrong */
    peer_send_frame(&f, p, sizeof(p));
    p[60] ^= 1;
    p[22] = 63;                   /* TTL changed: IP header checksum wrong */
    peer_send_frame(&f, p, sizeof(p));
    g_assert_true(rx_wait(&f, 2));
    const uint8_t *d = f.n.vm.ram + RXR;
    g_assert_cmphex(d[12] & 0x64, ==, 0x60);        /* IPCS TCPCS, not IXSM */
    g_assert_cmphex(d[13], ==, 0);
    g_assert_cmphex(d[16 + 12] & 0x60, ==, 0x60);
    g_assert_cmphex(d[16 + 13], ==, 0x20);          /* TCPE */
    g_assert_cmphex(d[32 + 13] & 0x40, ==, 0x40);   /* IPE */
    fx_free(&f);
}

static int line_level(Fx *f)
{
    g_mutex_lock(&f->n.line.lock);
    int l = f->n.line.level;
    g_mutex_unlock(&f->n.line.lock);
    return l;
}

/* Waits (bounded, a hang guard) for the line to be at `level`. */
static bool line_wait(Fx *f, int level)
{
    return NIC_WAIT(line_level(f) == level);
}

/* Causes held back by the moderation timers (RDTR, TIDV with IDE, ITR)
 * are raised when they expire, never lost. No timing is asserted. */
static void test_moderation(void)
{
    Fx f;
    fx_init(&f, false);
    wr(&f, 0xd0, 0x80 | 0x1);     /* IMS: RXT0, TXDW */
    /* receive: RDTR 200 x 1.024 us, no absolute timer */
    rx_setup(&f, 0x2 | (1u << 26));
    wr(&f, 0x2820, 200);
    peer_send(&f, MAC, 100, 1);
    g_assert_true(rx_wait(&f, 0));
    g_assert_true(line_wait(&f, 1));
    g_assert_cmphex(rd(&f, 0xc0) & 0x80, ==, 0x80);
    g_assert_cmpint(f.n.line.level, ==, 0);
    /* transmit: IDE with TIDV 300 and TADV 1000 */
    tx_setup(&f);
    wr(&f, 0x3820, 300);
    wr(&f, 0x382c, 1000);
    memset(f.n.vm.ram + BUF, 0xab, 60);
    put_desc(&f, TXR, 0, BUF, 60 | (0x1u | 0x8 | 0x80) << 24, 0);
    wr(&f, 0x3818, 1);
    g_assert_true(line_wait(&f, 1));
    g_assert_cmphex(rd(&f, 0xc0) & 0x1, ==, 0x1);
    /* ITR 0xffff (16.8 ms between interrupts): the second cause still
     * comes */
    wr(&f, 0xc4, 0xffff);
    wr(&f, 0xc8, 0x80);
    g_assert_true(line_wait(&f, 1));
    rd(&f, 0xc0);
    wr(&f, 0xc8, 0x80);
    g_assert_true(line_wait(&f, 1));
    g_assert_cmphex(rd(&f, 0xc0), ==, 0x80);
    g_assert_cmpuint(f.n.line.redundant, ==, 0);
    fx_free(&f);
}

/* RDT writes wait in KVM's coalesced MMIO queue (the guest writes it once
 * per frame; as exits those writes cost more than the frames): with a
 * frame held for want of descriptors, the device finds the queued RDT
 * write by itself, with no register access to push it in (the guest kit's
 * and Linux's drivers may poll memory or halt after writing RDT). The
 * queue is a page laid out as KVM's; the zone is registered with a real
 * KVM VM. */
static void test_rdt_queued(void)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        g_test_skip("no /dev/kvm: the coalesced MMIO zone cannot be registered");
        return;
    }
    Fx f;
    fx_init(&f, false);
    VmmVm *vm = &f.n.vm;
    vm->vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
    g_assert_cmpint(vm->vm_fd, >=, 0);
    long page = sysconf(_SC_PAGESIZE);
    struct kvm_coalesced_mmio_ring *q = g_malloc0(page);
    vm->coalesced = q;
    vm->coalesced_page = (int)ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
    if (vm->coalesced_page <= 0) {
        g_test_skip("KVM offers no coalesced MMIO here");
    } else {
        /* the guest maps BAR0 again, now that the VM has the queue */
        cfg_write(&f, PCI_COMMAND, 2, 0);
        cfg_write(&f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        rx_setup(&f, 0x2 | (1u << 26));   /* RDH 0, RDT 7: seven descriptors */
        for (unsigned i = 0; i < 8; i++)
            peer_send(&f, MAC, 100, (uint8_t)(i + 1));
        g_assert_true(rx_wait(&f, 6));
        /* the eighth waits: RNBC counts it once */
        uint32_t rnbc = 0;
        for (int t = 0; t < 20000 && !rnbc; t++) {
            g_usleep(500);
            rnbc = rd(&f, 0x40a0);
        }
        g_assert_cmpuint(rnbc, ==, 1);
        /* the guest hands descriptor 7 back: RDT 0, as KVM queues it */
        struct kvm_coalesced_mmio *w = &q->coalesced_mmio[0];
        w->phys_addr = BAR0 + 0x2818;
        w->len = 4;
        memset(w->data, 0, sizeof(w->data));
        __atomic_store_n(&q->last, 1, __ATOMIC_RELEASE);
        g_assert_true(rx_wait(&f, 7));
        g_assert_cmpuint(f.n.vm.ram[BUF + 7 * 2048 + 99], ==, 8);
        g_assert_cmpuint(__atomic_load_n(&q->first, __ATOMIC_ACQUIRE), ==, 1);
        g_assert_cmpuint(rd(&f, 0x2818), ==, 0);
        g_assert_cmpuint(rd(&f, 0x2810), ==, 0);   /* RDH followed round */
    }
    fx_free(&f);
    vm->coalesced = NULL;
    g_free(q);
    close(vm->vm_fd);
    close(kvm);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    vmm_log_set_level(VMM_LOG_ERROR);
    g_test_add_func("/e1000/pci", test_pci);
    g_test_add_func("/e1000/eeprom-phy", test_eeprom_phy);
    g_test_add_func("/e1000/interrupts", test_interrupts);
    g_test_add_func("/e1000/tx", test_tx);
    g_test_add_func("/e1000/tx-hostile", test_tx_hostile);
    g_test_add_func("/e1000/rx", test_rx);
    g_test_add_func("/e1000/rx-csum", test_rx_csum);
    g_test_add_func("/e1000/moderation", test_moderation);
    g_test_add_func("/e1000/rdt-queued", test_rdt_queued);
    return g_test_run();
}
