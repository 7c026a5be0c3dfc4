/* PIIX3 IDE: the controller, its bus master and the ATA command set (ATA8-ACS;
 * the PIIX3/PIIX4 datasheets for the function's registers). ATAPI packets
 * are atapi.c's.
 *
 * Each channel is a task file per drive (writes go to both, reads come from
 * the selected one, as on a real cable) and one transfer at a time. I/O is
 * synchronous on the vCPU that asked for it: the guest waits on BSY anyway,
 * one command at a time per channel, and a request finishing before the
 * port write returns costs no second exit. A guest that breaks the rules
 * (PRD tables outside RAM or without an end, transfers past the disk,
 * commands to absent drives, writes in any order) gets ERR/ABRT or a bus
 * master error, a line in the log once per channel and kind, and nothing
 * else happens to the VM. */
#include "hw/ide_int.h"
#include "util/log.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

/* ATA commands (ATA8-ACS) this drive knows. */
enum {
    CMD_DEVICE_RESET = 0x08, CMD_READ_SECTORS = 0x20, CMD_READ_SECTORS_NR = 0x21,
    CMD_READ_SECTORS_EXT = 0x24, CMD_READ_DMA_EXT = 0x25, CMD_READ_MULTIPLE_EXT = 0x29,
    CMD_WRITE_SECTORS = 0x30, CMD_WRITE_SECTORS_NR = 0x31, CMD_WRITE_SECTORS_EXT = 0x34,
    CMD_WRITE_DMA_EXT = 0x35, CMD_WRITE_MULTIPLE_EXT = 0x39, CMD_READ_VERIFY = 0x40,
    CMD_READ_VERIFY_NR = 0x41, CMD_READ_VERIFY_EXT = 0x42, CMD_DIAGNOSTIC = 0x90,
    CMD_INIT_PARAMS = 0x91, CMD_PACKET = 0xa0, CMD_IDENTIFY_PACKET = 0xa1,
    CMD_READ_MULTIPLE = 0xc4, CMD_WRITE_MULTIPLE = 0xc5, CMD_SET_MULTIPLE = 0xc6,
    CMD_READ_DMA = 0xc8, CMD_READ_DMA_NR = 0xc9, CMD_WRITE_DMA = 0xca,
    CMD_WRITE_DMA_NR = 0xcb, CMD_STANDBY_IMMEDIATE = 0xe0, CMD_IDLE_IMMEDIATE = 0xe1,
    CMD_STANDBY = 0xe2, CMD_IDLE = 0xe3, CMD_CHECK_POWER = 0xe5, CMD_FLUSH = 0xe7,
    CMD_FLUSH_EXT = 0xea, CMD_IDENTIFY = 0xec, CMD_SET_FEATURES = 0xef,
};

/* Bus master registers (PIIX3 BMICx, BMISx, BMIDTPx). */
#define BM_CMD_START   0x01
#define BM_CMD_TO_MEM  0x08     /* "read": device to memory */
#define BM_ST_ACTIVE   0x01
#define BM_ST_ERROR    0x02
#define BM_ST_IRQ      0x04
#define BM_ST_CAPABLE  0x60     /* drive 0/1 DMA capable: software bits */
#define PRD_EOT        0x80000000u
#define PRD_MAX        8192     /* a table lies within one 64 KiB page */
#define DMA_IOV        256

#define MAX_MULT       16
#define CHS_HEADS      16
#define CHS_SPT        63

static const uint16_t cmd_ports[2] = { 0x1f0, 0x170 };
static const uint16_t ctl_ports[2] = { 0x3f6, 0x376 };

void ide_log_once(IdeChannel *ch, unsigned kind, const char *fmt, ...)
{
    if (ch->logged & kind)
        return;
    ch->logged |= kind;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vmm_log_warn("ide channel %u: %s (logged once)", ch->index, msg);
}

/* ---- interrupts and command ends --------------------------------------- */

/* Native mode: the channel's share of INTA is INTRQ unless nIEN masks it. */
static void intrq_update(IdeChannel *ch)
{
    if (ch->ide->native)
        vmm_irq_set(ch->irq, ch->intrq && !(ch->ctl & 0x02));
}

static void intrq_clear(IdeChannel *ch)
{
    if (ch->intrq) {
        ch->intrq = false;
        intrq_update(ch);
    }
}

void ide_raise_irq(IdeChannel *ch)
{
    ch->bm_status |= BM_ST_IRQ;
    if (ch->ide->native) {
        /* a PCI INTx is a level: INTRQ stays up until the host reads the
         * Status register or writes a command (ATA8-APT) */
        ch->intrq = true;
        intrq_update(ch);
        return;
    }
    if (ch->ctl & 0x02)          /* nIEN */
        return;
    /* ISA IRQ 14/15 are edge-triggered: one pulse per interrupt */
    vmm_irq_set(ch->irq, 1);
    vmm_irq_set(ch->irq, 0);
}

void ide_xfer_stop(IdeChannel *ch)
{
    ch->xfer = XFER_NONE;
    ch->dma = false;
    ch->pos = ch->end = ch->block = 0;
    ch->left = 0;
}

static void ata_ok(IdeChannel *ch, bool irq)
{
    IdeDrive *d = ide_cur(ch);
    ide_xfer_stop(ch);
    d->tf.status = ATA_DRDY | ATA_DSC;
    d->tf.error = 0;
    if (irq)
        ide_raise_irq(ch);
}

static void ata_error(IdeChannel *ch, uint8_t error)
{
    IdeDrive *d = ide_cur(ch);
    ide_xfer_stop(ch);
    if (d->atapi) {
        /* ATAPI drives answer ATA commands they lack with ABRT, keeping
         * their signature (that is how hosts tell them apart) */
        atapi_set_signature(d);
    }
    d->tf.status = ATA_DRDY | ATA_ERR;
    d->tf.error = error;
    ide_raise_irq(ch);
}

/* ---- block I/O ---------------------------------------------------------- */

static void sync_done(VmmBlockReq *req, int ret)
{
    *(int *)req->opaque = ret;
}

/* One synchronous request on the drive's queue (we hold the device lock, so
 * the queue has one owner at a time). */
static int blk_io(IdeDrive *d, VmmBlockOp op, uint64_t offset, struct iovec *iov,
                  unsigned iovcnt, uint64_t len)
{
    int ret = -EIO;
    VmmBlockReq req = { .op = op, .offset = offset, .len = len, .iov = iov,
                        .iovcnt = iovcnt, .complete = sync_done, .opaque = &ret };
    VmmBlockQueue *q = vmm_block_queue(d->blk, 0);
    vmm_block_submit(q, &req);
    vmm_block_queue_drain(q);
    return ret;
}

/* Write cache off in the guest: a write is done once it is stable. */
static int flush_if_no_wce(IdeDrive *d)
{
    if (d->wce || !vmm_block_has_write_cache(d->blk))
        return 0;
    return blk_io(d, VMM_BLOCK_FLUSH, 0, NULL, 0, 0);
}

/* ---- PIO ---------------------------------------------------------------- */

/* Set DRQ for the next block of a PIO transfer, or end it. Called with
 * pos at the end of the block just moved. */
static void pio_next(IdeChannel *ch, bool first);

static bool pio_refill(IdeChannel *ch)
{
    IdeDrive *d = ide_cur(ch);
    uint32_t n = (uint32_t)MIN(ch->left, (uint64_t)IDE_BUF_SIZE);
    ch->pos = 0;
    ch->end = n;
    if (ch->xfer == XFER_DISK_OUT)
        return true;
    struct iovec iov = { ch->buf, n };
    int r = blk_io(d, VMM_BLOCK_READ, ch->lba * ch->sector_size, &iov, 1, n);
    ch->lba += n / ch->sector_size;
    ch->left -= n;
    if (r < 0) {
        ide_log_once(ch, IDE_LOG_IO, "%s: read of %u bytes at sector %" G_GUINT64_FORMAT
                     " failed: %s", ide_name(ch, ch->cur), n, ch->lba, g_strerror(-r));
        if (d->atapi)
            atapi_cmd_error(ch, 0x3 /* MEDIUM ERROR */, 0x11 /* UNRECOVERED READ */);
        else
            ata_error(ch, ATA_E_UNC | ATA_E_ABRT);
        return false;
    }
    return true;
}

/* The host moved a whole chunk of an out transfer: write it. */
static bool pio_flush_out(IdeChannel *ch)
{
    IdeDrive *d = ide_cur(ch);
    struct iovec iov = { ch->buf, ch->end };
    int r = blk_io(d, VMM_BLOCK_WRITE, ch->lba * ch->sector_size, &iov, 1, ch->end);
    ch->lba += ch->end / ch->sector_size;
    ch->left -= ch->end;
    if (r < 0) {
        ide_log_once(ch, IDE_LOG_IO, "%s: write at sector %" G_GUINT64_FORMAT " failed: %s",
                     ide_name(ch, ch->cur), ch->lba, g_strerror(-r));
        ata_error(ch, ATA_E_ABRT);
        return false;
    }
    return true;
}

static void pio_next(IdeChannel *ch, bool first)
{
    IdeDrive *d = ide_cur(ch);
    if (ch->pos >= ch->end) {
        if (ch->xfer == XFER_DISK_OUT && !first) {
            if (!pio_flush_out(ch))
                return;
            if (ch->left == 0) {
                if (flush_if_no_wce(d) < 0) {
                    ata_error(ch, ATA_E_ABRT);
                    return;
                }
                ata_ok(ch, true);   /* PIO out: an interrupt after the last block too */
                return;
            }
        }
        if (ch->left == 0) {
            if (d->atapi)
                atapi_cmd_ok(ch);
            else
                ata_ok(ch, false);
            return;
        }
        if ((ch->xfer == XFER_DISK_IN || ch->xfer == XFER_DISK_OUT) && !pio_refill(ch))
            return;
    }
    uint32_t n = ch->block ? MIN(ch->block, ch->end - ch->pos) : ch->end - ch->pos;
    if (d->atapi) {
        d->tf.lbam = n & 0xff;
        d->tf.lbah = n >> 8;
        d->tf.nsector = ATAPI_IO;
    }
    d->tf.status = ATA_DRDY | ATA_DSC | ATA_DRQ;
    d->tf.error = 0;
    ch->drq_end = ch->pos + n;
    /* no interrupt before the first block of a PIO out command */
    if (!(first && ch->xfer == XFER_DISK_OUT))
        ide_raise_irq(ch);
}

static void data_read(IdeChannel *ch, uint8_t *out, unsigned size)
{
    IdeDrive *d = ide_cur(ch);
    if ((ch->xfer != XFER_BUF_IN && ch->xfer != XFER_DISK_IN) || ch->dma ||
        !(d->tf.status & ATA_DRQ)) {
        ide_log_once(ch, IDE_LOG_DATA, "data port read with no PIO data ready (command "
                     "register order?); read as zero");
        memset(out, 0, size);
        return;
    }
    unsigned n = MIN(size, ch->drq_end - ch->pos);
    memcpy(out, ch->buf + ch->pos, n);
    memset(out + n, 0, size - n);
    ch->pos += n;
    if (ch->pos >= ch->drq_end)
        pio_next(ch, false);
}

static void data_write(IdeChannel *ch, const uint8_t *in, unsigned size)
{
    IdeDrive *d = ide_cur(ch);
    if (ch->xfer == XFER_PACKET && (d->tf.status & ATA_DRQ)) {
        unsigned n = MIN(size, 12 - ch->pos);
        memcpy(ch->packet + ch->pos, in, n);
        ch->pos += n;
        if (ch->pos >= 12)
            atapi_packet(ch);
        return;
    }
    if (ch->xfer != XFER_DISK_OUT || ch->dma || !(d->tf.status & ATA_DRQ)) {
        ide_log_once(ch, IDE_LOG_DATA, "data port write with no PIO transfer waiting for "
                     "data; dropped");
        return;
    }
    unsigned n = MIN(size, ch->drq_end - ch->pos);
    memcpy(ch->buf + ch->pos, in, n);
    ch->pos += n;
    if (ch->pos >= ch->drq_end)
        pio_next(ch, false);
}

/* ---- bus-master DMA ----------------------------------------------------- */

static bool bus_master_enabled(VmmIde *ide)
{
    return pci_get_u16(ide->pci.cfg + PCI_COMMAND) & PCI_COMMAND_MASTER;
}

static void dma_fail(IdeChannel *ch, unsigned kind, const char *why)
{
    ide_log_once(ch, kind, "%s: DMA aborted: %s", ide_name(ch, ch->cur), why);
    ch->bm_status = (ch->bm_status & ~BM_ST_ACTIVE) | BM_ST_ERROR;
    IdeDrive *d = ide_cur(ch);
    if (d->atapi)
        atapi_cmd_error(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    else
        ata_error(ch, ATA_E_ABRT);
}

/* Move the whole transfer through the PRD table at bm_prd. */
static void dma_run(IdeChannel *ch)
{
    VmmIde *ide = ch->ide;
    IdeDrive *d = ide_cur(ch);
    bool to_mem = ch->xfer != XFER_DISK_OUT;
    if (!bus_master_enabled(ide))
        return dma_fail(ch, IDE_LOG_MASTER, "bus mastering is off in the PCI command register");
    if (!!(ch->bm_cmd & BM_CMD_TO_MEM) != to_mem)
        return dma_fail(ch, IDE_LOG_DIR, "the bus master direction bit disagrees with the "
                        "command");
    uint64_t total = ch->xfer == XFER_BUF_IN ? ch->end : ch->left;
    uint64_t done = 0, disk_off = ch->lba * ch->sector_size;
    struct iovec iov[DMA_IOV];
    unsigned n = 0;
    uint64_t batch = 0;
    bool eot = false;
    for (unsigned i = 0; i < PRD_MAX && done + batch < total && !eot; i++) {
        uint64_t pa = (uint64_t)ch->bm_prd + 8ull * i;
        const uint8_t *e = vmm_vm_gpa_to_hva(ide->vm, pa, 8);
        if (!e)
            return dma_fail(ch, IDE_LOG_PRD, "the PRD table is outside guest RAM");
        uint32_t addr = pci_get_u32(e), flags = pci_get_u32(e + 4);
        uint32_t len = flags & 0xfffe;
        if (!len)
            len = 0x10000;               /* a count of 0 means 64 KiB */
        eot = flags & PRD_EOT;
        len = (uint32_t)MIN((uint64_t)len, total - done - batch);
        uint8_t *p = vmm_vm_gpa_to_hva(ide->vm, addr & ~1u, len);
        if (!p)
            return dma_fail(ch, IDE_LOG_PRD, "a PRD entry points outside guest RAM");
        if (ch->xfer == XFER_BUF_IN) {
            memcpy(p, ch->buf + done, len);
            done += len;
            continue;
        }
        iov[n++] = (struct iovec){ p, len };
        batch += len;
        if (n == DMA_IOV || done + batch == total || eot) {
            int r = blk_io(d, to_mem ? VMM_BLOCK_READ : VMM_BLOCK_WRITE, disk_off + done,
                           iov, n, batch);
            if (r < 0)
                return dma_fail(ch, IDE_LOG_IO, g_strerror(-r));
            done += batch;
            batch = 0;
            n = 0;
        }
    }
    if (done < total)
        return dma_fail(ch, IDE_LOG_PRD, eot ? "the PRD table ends before the transfer"
                                             : "the PRD table has no end (8192 entries)");
    if (ch->xfer == XFER_DISK_OUT && flush_if_no_wce(d) < 0)
        return dma_fail(ch, IDE_LOG_IO, "flush after a write failed");
    ch->bm_status &= ~BM_ST_ACTIVE;
    if (d->atapi)
        atapi_cmd_ok(ch);
    else
        ata_ok(ch, true);
}

/* The command is ready for the bus master: run now if it was started. */
static void dma_ready(IdeChannel *ch)
{
    IdeDrive *d = ide_cur(ch);
    ch->dma = true;
    d->tf.status = ATA_DRDY | ATA_DSC | ATA_DRQ;
    if (ch->bm_cmd & BM_CMD_START)
        dma_run(ch);
}

/* ---- transfers the commands start --------------------------------------- */

void ide_start_buf_in(IdeChannel *ch, uint32_t len)
{
    ch->xfer = XFER_BUF_IN;
    ch->pos = 0;
    ch->end = len;
    ch->left = 0;
    if (ch->dma)
        return dma_ready(ch);
    if (len == 0)
        return pio_next(ch, false);
    /* ATAPI: at most the byte count limit per DRQ block (set by atapi.c) */
    if (!ch->block)
        ch->block = len;
    pio_next(ch, true);
}

void ide_start_disk_in(IdeChannel *ch, uint64_t lba, uint64_t count, uint32_t sector_size)
{
    ch->xfer = XFER_DISK_IN;
    ch->lba = lba;
    ch->sector_size = sector_size;
    ch->left = count * sector_size;
    ch->pos = ch->end = 0;
    if (ch->dma)
        return dma_ready(ch);
    pio_next(ch, true);
}

static void start_disk_out(IdeChannel *ch, uint64_t lba, uint64_t count)
{
    ch->xfer = XFER_DISK_OUT;
    ch->lba = lba;
    ch->sector_size = ATA_SECTOR;
    ch->left = count * ATA_SECTOR;
    ch->pos = ch->end = 0;
    if (ch->dma)
        return dma_ready(ch);
    pio_refill(ch);
    pio_next(ch, true);
}

/* ---- ATA commands ------------------------------------------------------- */

void ide_put_string(uint16_t *w, unsigned words, const char *s)
{
    size_t len = strlen(s);
    for (unsigned i = 0; i < words * 2; i++) {
        uint8_t c = i < len ? (uint8_t)s[i] : ' ';
        /* ATA strings: the first character in the high byte of a word */
        if (i & 1)
            w[i / 2] |= c;
        else
            w[i / 2] = (uint16_t)(c << 8);
    }
}

void ide_identify_serial(IdeDrive *d, uint16_t *w)
{
    g_autofree char *serial = d->disk->serial ? g_strdup(d->disk->serial)
                                              : g_strdup_printf("VMMD-%s", d->disk->target_dev);
    ide_put_string(w + 10, 10, serial);
    ide_put_string(w + 23, 4, "1.0");
}

static void ata_identify(IdeChannel *ch, IdeDrive *d)
{
    uint16_t *w = (uint16_t *)ch->buf;
    memset(w, 0, 512);
    uint64_t s = d->sectors;
    uint64_t cyl = MIN(s / (CHS_HEADS * CHS_SPT), (uint64_t)16383);
    bool wc = vmm_block_has_write_cache(d->blk);
    w[0] = 0x0040;                               /* fixed, not removable */
    w[1] = (uint16_t)cyl;
    w[3] = CHS_HEADS;
    w[6] = CHS_SPT;
    ide_identify_serial(d, w);
    ide_put_string(w + 27, 20, "VMMD HARDDISK");
    w[47] = 0x8000 | MAX_MULT;
    w[49] = (1 << 9) | (1 << 8);                 /* LBA, DMA */
    w[50] = 0x4000;
    w[51] = 0x200;
    w[53] = 0x0007;                              /* words 54-58, 64-70, 88 valid */
    w[54] = (uint16_t)cyl;
    w[55] = CHS_HEADS;
    w[56] = CHS_SPT;
    uint32_t chs = (uint32_t)(cyl * CHS_HEADS * CHS_SPT);
    w[57] = chs & 0xffff;
    w[58] = chs >> 16;
    w[59] = d->mult ? 0x100 | d->mult : 0;
    uint32_t lba28 = (uint32_t)MIN(s, (uint64_t)0x0fffffff);
    w[60] = lba28 & 0xffff;
    w[61] = lba28 >> 16;
    w[63] = 0x07 | (d->mwdma != 0xff ? 0x100 << d->mwdma : 0);   /* MWDMA 0-2 */
    w[64] = 0x03;                                /* PIO 3, 4 */
    w[65] = w[66] = w[67] = w[68] = 120;
    w[80] = 0x00f0;                              /* ATA/ATAPI-4 to -7 */
    w[81] = 0x0016;
    w[82] = (1 << 14) | (wc ? 1 << 5 : 0);       /* NOP, write cache */
    w[83] = (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10);  /* FLUSH EXT, FLUSH, LBA48 */
    w[84] = 1 << 14;
    w[85] = (wc && d->wce ? 1 << 5 : 0);
    w[86] = (1 << 13) | (1 << 12) | (1 << 10);
    w[87] = 1 << 14;
    w[88] = 0x3f | (d->udma != 0xff ? 0x100 << d->udma : 0);     /* UDMA 0-5 */
    w[93] = (1 << 14) | (1 << 13) | 1;           /* 80-wire cable */
    w[100] = s & 0xffff;
    w[101] = (s >> 16) & 0xffff;
    w[102] = (s >> 32) & 0xffff;
    w[103] = (s >> 48) & 0xffff;
    /* little-endian words on the data port */
    for (int i = 0; i < 256; i++)
        w[i] = GUINT16_TO_LE(w[i]);
}

/* The LBA and count of a read/write command; false (ABRT/IDNF given) when
 * they do not fit the disk. */
static bool ata_range(IdeChannel *ch, IdeDrive *d, uint8_t cmd, bool ext, uint64_t *lba,
                      uint64_t *count)
{
    IdeTaskFile *t = &d->tf;
    if (ext) {
        *lba = (uint64_t)t->hob_lbah << 40 | (uint64_t)t->hob_lbam << 32 |
               (uint64_t)t->hob_lbal << 24 | (uint64_t)t->lbah << 16 | t->lbam << 8 | t->lbal;
        *count = (uint64_t)t->hob_nsector << 8 | t->nsector;
        if (!*count)
            *count = 65536;
    } else {
        if (ch->select & 0x40) {
            *lba = (uint64_t)(ch->select & 0x0f) << 24 | (uint64_t)t->lbah << 16 |
                   t->lbam << 8 | t->lbal;
        } else {                                 /* CHS */
            uint64_t cyl = t->lbah << 8 | t->lbam, head = ch->select & 0x0f;
            if (t->lbal == 0 || t->lbal > CHS_SPT)
                goto bad;
            *lba = (cyl * CHS_HEADS + head) * CHS_SPT + t->lbal - 1;
        }
        *count = t->nsector ? t->nsector : 256;
    }
    if (*lba <= d->sectors && *count <= d->sectors - *lba)
        return true;
bad:
    ide_log_once(ch, IDE_LOG_RANGE, "%s: command %02xh asks for sectors past the end of "
                 "the disk (%" G_GUINT64_FORMAT " sectors)", ide_name(ch, ch->cur),
                 cmd, d->sectors);
    ata_error(ch, ATA_E_IDNF | ATA_E_ABRT);
    return false;
}

static void ata_rw(IdeChannel *ch, IdeDrive *d, uint8_t cmd)
{
    bool ext = cmd == CMD_READ_SECTORS_EXT || cmd == CMD_READ_DMA_EXT ||
               cmd == CMD_READ_MULTIPLE_EXT || cmd == CMD_WRITE_SECTORS_EXT ||
               cmd == CMD_WRITE_DMA_EXT || cmd == CMD_WRITE_MULTIPLE_EXT;
    bool dma = cmd == CMD_READ_DMA || cmd == CMD_READ_DMA_NR || cmd == CMD_READ_DMA_EXT ||
               cmd == CMD_WRITE_DMA || cmd == CMD_WRITE_DMA_NR || cmd == CMD_WRITE_DMA_EXT;
    bool mult = cmd == CMD_READ_MULTIPLE || cmd == CMD_READ_MULTIPLE_EXT ||
                cmd == CMD_WRITE_MULTIPLE || cmd == CMD_WRITE_MULTIPLE_EXT;
    bool write = cmd == CMD_WRITE_SECTORS || cmd == CMD_WRITE_SECTORS_NR ||
                 cmd == CMD_WRITE_SECTORS_EXT || cmd == CMD_WRITE_DMA ||
                 cmd == CMD_WRITE_DMA_NR || cmd == CMD_WRITE_DMA_EXT ||
                 cmd == CMD_WRITE_MULTIPLE || cmd == CMD_WRITE_MULTIPLE_EXT;
    uint64_t lba, count;
    if (mult && !d->mult) {
        ide_log_once(ch, IDE_LOG_CMD, "%s: READ/WRITE MULTIPLE before SET MULTIPLE MODE",
                     ide_name(ch, ch->cur));
        return ata_error(ch, ATA_E_ABRT);
    }
    if (write && vmm_block_is_readonly(d->blk)) {
        ide_log_once(ch, IDE_LOG_CMD, "%s: write to a read-only disk", ide_name(ch, ch->cur));
        return ata_error(ch, ATA_E_ABRT);
    }
    if (!ata_range(ch, d, cmd, ext, &lba, &count))
        return;
    ch->dma = dma;
    ch->block = (mult ? d->mult : 1) * ATA_SECTOR;
    if (write)
        start_disk_out(ch, lba, count);
    else
        ide_start_disk_in(ch, lba, count, ATA_SECTOR);
}

static void set_features(IdeChannel *ch, IdeDrive *d)
{
    switch (d->tf.feature) {
    case 0x02:                                   /* enable write cache */
    case 0x82:                                   /* disable write cache */
        if (!d->atapi)
            d->wce = d->tf.feature == 0x02;
        return ata_ok(ch, true);
    case 0x03: {                                 /* transfer mode */
        uint8_t mode = d->tf.nsector;
        if ((mode >> 3) <= 1 && (mode & 7) <= 4) {          /* PIO default / mode */
            d->mwdma = d->udma = 0xff;
        } else if ((mode >> 3) == 4 && (mode & 7) <= 2) {   /* multiword DMA */
            d->mwdma = mode & 7;
            d->udma = 0xff;
        } else if ((mode >> 3) == 8 && (mode & 7) <= 5) {   /* Ultra DMA */
            d->udma = mode & 7;
            d->mwdma = 0xff;
        } else {
            return ata_error(ch, ATA_E_ABRT);
        }
        return ata_ok(ch, true);
    }
    case 0x66: case 0xcc: case 0xaa: case 0x55:  /* defaults, look-ahead: no state */
        return ata_ok(ch, true);
    default:
        return ata_error(ch, ATA_E_ABRT);
    }
}

static void ata_command(IdeChannel *ch, uint8_t cmd)
{
    IdeDrive *d = &ch->drive[(ch->select >> 4) & 1];
    if (ch->xfer != XFER_NONE)
        ide_log_once(ch, IDE_LOG_OVERRIDE, "command %02xh written while a transfer was in "
                     "progress; the transfer is cancelled", cmd);
    ide_xfer_stop(ch);
    ch->cur = (ch->select >> 4) & 1;
    ch->block = 0;
    if (!d->present) {
        /* as on a cable with no such drive: nothing answers (status reads 0) */
        ide_log_once(ch, IDE_LOG_ABSENT, "command %02xh to the absent %s drive ignored", cmd,
                     ch->cur ? "slave" : "master");
        return;
    }
    if (d->atapi && cmd != CMD_DEVICE_RESET && cmd != CMD_PACKET &&
        cmd != CMD_IDENTIFY_PACKET && cmd != CMD_DIAGNOSTIC && cmd != CMD_SET_FEATURES &&
        cmd != CMD_CHECK_POWER && cmd != CMD_IDLE_IMMEDIATE && cmd != CMD_STANDBY_IMMEDIATE)
        return ata_error(ch, ATA_E_ABRT);
    switch (cmd) {
    case CMD_IDENTIFY:
        ata_identify(ch, d);
        ch->dma = false;
        ide_start_buf_in(ch, 512);   /* PIO in: the interrupt says the data is ready */
        return;
    case CMD_IDENTIFY_PACKET: {
        if (!d->atapi)
            return ata_error(ch, ATA_E_ABRT);
        memset(ch->buf, 0, 512);
        atapi_identify(ch, d, (uint16_t *)ch->buf);
        ch->dma = false;
        ide_start_buf_in(ch, 512);
        return;
    }
    case CMD_PACKET:
        if (!d->atapi)
            return ata_error(ch, ATA_E_ABRT);
        if (d->tf.feature & 0x02) {              /* OVL: no overlapped commands */
            ide_log_once(ch, IDE_LOG_CMD, "%s: overlapped PACKET refused",
                         ide_name(ch, ch->cur));
            return ata_error(ch, ATA_E_ABRT);
        }
        ch->dma = d->tf.feature & 0x01;
        ch->xfer = XFER_PACKET;
        ch->pos = 0;
        d->tf.nsector = ATAPI_CD;
        d->tf.status = ATA_DRDY | ATA_DSC | ATA_DRQ;
        return;                                  /* the host sends the packet */
    case CMD_DEVICE_RESET:
        if (!d->atapi)
            return ata_error(ch, ATA_E_ABRT);
        atapi_set_signature(d);
        d->tf.status = 0;
        d->tf.error = 0x01;
        return;
    case CMD_DIAGNOSTIC:
        for (int u = 0; u < 2; u++) {
            IdeDrive *x = &ch->drive[u];
            if (!x->present)
                continue;
            if (x->atapi) {
                atapi_set_signature(x);
                x->tf.status = 0;
            } else {
                x->tf.nsector = x->tf.lbal = 1;
                x->tf.lbam = x->tf.lbah = 0;
                x->tf.status = ATA_DRDY | ATA_DSC;
            }
            x->tf.error = 0x01;
        }
        ide_raise_irq(ch);
        return;
    case CMD_READ_SECTORS: case CMD_READ_SECTORS_NR: case CMD_READ_SECTORS_EXT:
    case CMD_READ_DMA: case CMD_READ_DMA_NR: case CMD_READ_DMA_EXT:
    case CMD_READ_MULTIPLE: case CMD_READ_MULTIPLE_EXT:
    case CMD_WRITE_SECTORS: case CMD_WRITE_SECTORS_NR: case CMD_WRITE_SECTORS_EXT:
    case CMD_WRITE_DMA: case CMD_WRITE_DMA_NR: case CMD_WRITE_DMA_EXT:
    case CMD_WRITE_MULTIPLE: case CMD_WRITE_MULTIPLE_EXT:
        return ata_rw(ch, d, cmd);
    case CMD_READ_VERIFY: case CMD_READ_VERIFY_NR: case CMD_READ_VERIFY_EXT: {
        uint64_t lba, count;
        if (ata_range(ch, d, cmd, cmd == CMD_READ_VERIFY_EXT, &lba, &count))
            ata_ok(ch, true);
        return;
    }
    case CMD_SET_MULTIPLE: {
        unsigned n = d->tf.nsector;
        /* 0 turns it off; else a power of two up to what IDENTIFY says */
        if (n > MAX_MULT || (n & (n - 1)))
            return ata_error(ch, ATA_E_ABRT);
        d->mult = n;
        return ata_ok(ch, true);
    }
    case CMD_SET_FEATURES:
        return set_features(ch, d);
    case CMD_FLUSH:
    case CMD_FLUSH_EXT: {
        int r = blk_io(d, VMM_BLOCK_FLUSH, 0, NULL, 0, 0);
        if (r < 0) {
            ide_log_once(ch, IDE_LOG_IO, "%s: flush failed: %s", ide_name(ch, ch->cur),
                         g_strerror(-r));
            return ata_error(ch, ATA_E_ABRT);
        }
        return ata_ok(ch, true);
    }
    case CMD_CHECK_POWER:
        d->tf.nsector = 0xff;                    /* active or idle */
        return ata_ok(ch, true);
    case CMD_INIT_PARAMS:
    case CMD_STANDBY_IMMEDIATE: case CMD_IDLE_IMMEDIATE: case CMD_STANDBY: case CMD_IDLE:
        return ata_ok(ch, true);
    default:
        ide_log_once(ch, IDE_LOG_CMD, "%s: unknown command %02xh aborted",
                     ide_name(ch, ch->cur), cmd);
        return ata_error(ch, ATA_E_ABRT);
    }
}

/* ---- reset -------------------------------------------------------------- */

static void drive_reset(IdeDrive *d)
{
    memset(&d->tf, 0, sizeof(d->tf));
    d->mult = 0;
    d->mwdma = d->udma = 0xff;
    d->wce = true;
    if (!d->present)
        return;
    if (d->atapi) {
        atapi_set_signature(d);
        d->tf.status = 0;
    } else {
        d->tf.nsector = d->tf.lbal = 1;
        d->tf.status = ATA_DRDY | ATA_DSC;
    }
    d->tf.error = 0x01;                          /* diagnostics passed */
}

static void channel_reset(IdeChannel *ch)
{
    ide_xfer_stop(ch);
    ch->select = 0xa0;
    ch->cur = 0;
    intrq_clear(ch);
    for (int u = 0; u < 2; u++)
        drive_reset(&ch->drive[u]);
}

/* ---- the task file ports ------------------------------------------------ */

static uint8_t reg_read(IdeChannel *ch, unsigned reg)
{
    unsigned unit = (ch->select >> 4) & 1;
    IdeDrive *d = &ch->drive[unit];
    /* no drive selected answers: the bus reads 0 (what hosts probe for) */
    if (!d->present)
        return 0;
    bool hob = ch->ctl & 0x80;
    IdeTaskFile *t = &d->tf;
    switch (reg) {
    case 1: return hob ? t->hob_feature : t->error;
    case 2: return hob ? t->hob_nsector : t->nsector;
    case 3: return hob ? t->hob_lbal : t->lbal;
    case 4: return hob ? t->hob_lbam : t->lbam;
    case 5: return hob ? t->hob_lbah : t->lbah;
    case 6: return ch->select | 0xa0;
    default: return t->status;
    }
}

static void reg_write(IdeChannel *ch, unsigned reg, uint8_t v)
{
    /* writes to the task file reach both drives, and clear HOB */
    ch->ctl &= ~0x80;
    for (int u = 0; u < 2; u++) {
        IdeTaskFile *t = &ch->drive[u].tf;
        switch (reg) {
        case 1: t->hob_feature = t->feature; t->feature = v; break;
        case 2: t->hob_nsector = t->nsector; t->nsector = v; break;
        case 3: t->hob_lbal = t->lbal; t->lbal = v; break;
        case 4: t->hob_lbam = t->lbam; t->lbam = v; break;
        case 5: t->hob_lbah = t->lbah; t->lbah = v; break;
        default: break;
        }
    }
    if (reg == 6) {
        ch->select = v;
    } else if (reg == 7) {
        intrq_clear(ch);
        ata_command(ch, v);
    }
}

static uint64_t cmd_read(void *opaque, uint64_t off, unsigned size)
{
    IdeChannel *ch = opaque;
    uint8_t b[8] = { 0 };
    g_mutex_lock(&ch->ide->lock);
    if (off == 0) {
        if (ide_cur(ch)->present || ch->drive[(ch->select >> 4) & 1].present)
            data_read(ch, b, size);
    } else {
        for (unsigned i = 0; i < size && off + i < 8; i++)
            b[i] = reg_read(ch, (unsigned)off + i);
        if (off + size > 7)
            intrq_clear(ch);     /* Status, not Alternate Status, acknowledges */
    }
    g_mutex_unlock(&ch->ide->lock);
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void cmd_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    IdeChannel *ch = opaque;
    uint8_t b[8];
    for (unsigned i = 0; i < 8; i++)
        b[i] = value >> (8 * i);
    g_mutex_lock(&ch->ide->lock);
    if (off == 0) {
        data_write(ch, b, size);
    } else {
        for (unsigned i = 0; i < size && off + i < 8; i++)
            reg_write(ch, (unsigned)off + i, b[i]);
    }
    g_mutex_unlock(&ch->ide->lock);
}

static uint64_t ctl_read(void *opaque, uint64_t off, unsigned size)
{
    (void)off;
    (void)size;
    IdeChannel *ch = opaque;
    g_mutex_lock(&ch->ide->lock);
    uint8_t v = reg_read(ch, 7);                 /* alternate status */
    g_mutex_unlock(&ch->ide->lock);
    return v;
}

static void ctl_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    (void)off;
    (void)size;
    IdeChannel *ch = opaque;
    g_mutex_lock(&ch->ide->lock);
    uint8_t old = ch->ctl;
    ch->ctl = (uint8_t)value;
    intrq_update(ch);            /* nIEN */
    if ((old & 0x04) && !(value & 0x04)) {       /* SRST released */
        channel_reset(ch);
    } else if (value & 0x04) {
        ide_xfer_stop(ch);
        for (int u = 0; u < 2; u++)
            if (ch->drive[u].present)
                ch->drive[u].tf.status = ATA_BSY | ATA_DSC;
    }
    g_mutex_unlock(&ch->ide->lock);
}

static const VmmRegionOps cmd_ops = { "ide-cmd", cmd_read, cmd_write };
static const VmmRegionOps ctl_ops = { "ide-ctl", ctl_read, ctl_write };

/* Native mode's control block BAR: 4 ports, the register at offset 2 (so
 * that 0x3f4/0x374 put it at the legacy 0x3f6/0x376); the rest float. */
#define CTL_BAR_REG 2

static uint64_t ctl_bar_read(void *opaque, uint64_t off, unsigned size)
{
    return off == CTL_BAR_REG ? ctl_read(opaque, 0, size) : ~(uint64_t)0;
}

static void ctl_bar_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    if (off == CTL_BAR_REG)
        ctl_write(opaque, 0, value, size);
}

static const VmmRegionOps ctl_bar_ops = { "ide-ctl", ctl_bar_read, ctl_bar_write };

/* ---- BAR4: the bus master ----------------------------------------------- */

static uint8_t bm_read_byte(IdeChannel *ch, unsigned r)
{
    switch (r) {
    case 0: return ch->bm_cmd;
    case 2: return ch->bm_status;
    case 4: case 5: case 6: case 7: return ch->bm_prd >> (8 * (r - 4));
    default: return 0;
    }
}

static void bm_write_byte(IdeChannel *ch, unsigned r, uint8_t v)
{
    switch (r) {
    case 0: {
        uint8_t old = ch->bm_cmd;
        if (old & BM_CMD_START)                  /* direction is fixed while active */
            v = (v & BM_CMD_START) | (old & BM_CMD_TO_MEM);
        ch->bm_cmd = v & (BM_CMD_START | BM_CMD_TO_MEM);
        if (!(old & BM_CMD_START) && (v & BM_CMD_START)) {
            ch->bm_status |= BM_ST_ACTIVE;
            if (ch->dma && ch->xfer != XFER_NONE && ch->xfer != XFER_PACKET)
                dma_run(ch);
        } else if ((old & BM_CMD_START) && !(v & BM_CMD_START)) {
            ch->bm_status &= ~BM_ST_ACTIVE;      /* stop: nothing runs behind the guest */
        }
        return;
    }
    case 2:
        ch->bm_status = (ch->bm_status & ~(BM_ST_ERROR | BM_ST_IRQ) & ~BM_ST_CAPABLE) |
                        (ch->bm_status & ~v & (BM_ST_ERROR | BM_ST_IRQ)) |
                        (v & BM_ST_CAPABLE);
        return;
    case 4: case 5: case 6: case 7: {
        unsigned sh = 8 * (r - 4);
        ch->bm_prd = ((ch->bm_prd & ~(0xffu << sh)) | ((uint32_t)v << sh)) & ~3u;
        return;
    }
    default:
        return;
    }
}

static uint64_t bm_read(void *opaque, uint64_t off, unsigned size)
{
    VmmIde *ide = opaque;
    uint64_t v = 0;
    g_mutex_lock(&ide->lock);
    for (unsigned i = 0; i < size && off + i < 16; i++)
        v |= (uint64_t)bm_read_byte(&ide->ch[(off + i) >> 3], (off + i) & 7) << (8 * i);
    g_mutex_unlock(&ide->lock);
    return v;
}

static void bm_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    VmmIde *ide = opaque;
    g_mutex_lock(&ide->lock);
    for (unsigned i = 0; i < size && off + i < 16; i++)
        bm_write_byte(&ide->ch[(off + i) >> 3], (off + i) & 7, value >> (8 * i));
    g_mutex_unlock(&ide->lock);
}

static const VmmRegionOps bm_ops = { "ide-bmdma", bm_read, bm_write };

static void ide_bar_mapped(VmmPciDevice *pci, int bar, uint64_t addr, bool mapped)
{
    VmmIde *ide = pci->opaque;
    if (bar >= 0 && bar <= 4) {
        ide->bar_mapped[bar] = mapped;
        ide->bar_addr[bar] = addr;
    }
}

/* Native mode's BARs 0-3 start at the compatibility addresses, so a guest
 * that uses fixed ports finds them there once it enables I/O decoding. */
static void native_bars_preset(VmmIde *ide)
{
    for (int c = 0; c < 2; c++) {
        pci_set_u32(ide->pci.cfg + PCI_BAR0 + 8 * c, cmd_ports[c] | 1);
        pci_set_u32(ide->pci.cfg + PCI_BAR0 + 8 * c + 4, (ctl_ports[c] - CTL_BAR_REG) | 1);
    }
}

static void ide_pci_reset(VmmPciDevice *pci)
{
    VmmIde *ide = pci->opaque;
    if (ide->native) {
        g_mutex_lock(&pci->lock);
        native_bars_preset(ide);
        g_mutex_unlock(&pci->lock);
    }
    g_mutex_lock(&ide->lock);
    for (int c = 0; c < 2; c++) {
        IdeChannel *ch = &ide->ch[c];
        ch->bm_cmd = 0;
        ch->bm_status = 0;
        ch->bm_prd = 0;
        ch->ctl = 0;
        channel_reset(ch);
    }
    g_mutex_unlock(&ide->lock);
}

static const VmmPciDeviceOps ide_pci_ops = {
    .name = "piix3-ide", .bar_mapped = ide_bar_mapped, .reset = ide_pci_reset,
};
static const VmmPciDeviceOps isa_pci_ops = { .name = "piix3-isa" };

/* ---- life cycle --------------------------------------------------------- */

static bool drive_open(IdeDrive *d, const char *path, GError **err)
{
    const VmmDiskDef *disk = d->disk;
    VmmBlockDev *b = vmm_block_open(path, disk->type == VMM_DISK_BLOCK, disk->readonly,
                                    disk->cache, disk->io, disk->discard, 1, err);
    if (!b)
        return false;
    d->blk = b;
    d->medium = g_strdup(path);
    d->sectors = vmm_block_size(b) / (d->atapi ? CD_SECTOR : ATA_SECTOR);
    return true;
}

void ide_drive_eject(IdeDrive *d)
{
    if (d->blk)
        vmm_block_close(d->blk);
    d->blk = NULL;
    g_clear_pointer(&d->medium, g_free);
    d->sectors = 0;
}

VmmIde *vmm_ide_new(VmmVm *vm, bool native, VmmIrq *irq0, VmmIrq *irq1, GError **err)
{
    VmmIde *ide = g_new0(VmmIde, 1);
    ide->vm = vm;
    ide->native = native;
    g_mutex_init(&ide->lock);
    VmmIrq *irqs[2] = { irq0, irq1 };
    for (int c = 0; c < 2; c++) {
        IdeChannel *ch = &ide->ch[c];
        ch->ide = ide;
        ch->index = c;
        ch->irq = irqs[c];
        ch->buf = g_malloc0(IDE_BUF_SIZE);
    }
    for (guint i = 0; vm->def->disks && i < vm->def->disks->len; i++) {
        const VmmDiskDef *disk = g_ptr_array_index(vm->def->disks, i);
        if (disk->bus != VMM_DISK_BUS_IDE)
            continue;
        IdeDrive *d = &ide->ch[disk->ide_bus % 2].drive[disk->ide_unit % 2];
        d->present = true;
        d->atapi = disk->device == VMM_DISK_DEVICE_CDROM;
        d->disk = disk;
        if (disk->path && !drive_open(d, disk->path, err)) {
            vmm_ide_free(ide);
            return NULL;
        }
    }
    for (int c = 0; c < 2; c++)
        channel_reset(&ide->ch[c]);
    /* function 0: the PIIX3 PCI-to-ISA bridge, multi-function */
    vmm_pci_device_init(&ide->isa, &isa_pci_ops, ide, 0x8086, 0x7000, 0x060100, 0, 0, 0);
    ide->isa.cfg[PCI_HEADER_TYPE] = 0x80;
    /* function 1: IDE, bus master; both channels in compatibility mode
     * (prog-if 0x80) or in native mode (0x8f: native, both programmable) */
    vmm_pci_device_init(&ide->pci, &ide_pci_ops, ide, 0x8086, 0x7010,
                        native ? 0x01018f : 0x010180, 0, 0, 0);
    vmm_pci_device_set_bar(&ide->pci, 4, 16, true, false, &bm_ops, ide);
    if (native) {
        for (int c = 0; c < 2; c++) {
            vmm_pci_device_set_bar(&ide->pci, 2 * c, 8, true, false, &cmd_ops, &ide->ch[c]);
            vmm_pci_device_set_bar(&ide->pci, 2 * c + 1, 4, true, false, &ctl_bar_ops,
                                   &ide->ch[c]);
        }
        native_bars_preset(ide);
        ide->pci.cfg[PCI_INTERRUPT_PIN] = 1;     /* INTA, both channels */
    }
    /* IDETIM: IDE decode enabled on both channels (a BIOS sets this; Linux's
     * ata_piix checks bit 15 before using a channel); timings writable */
    ide->pci.cfg[0x41] = ide->pci.cfg[0x43] = 0x80;
    memset(ide->pci.wmask + 0x40, 0xff, 0x10);
    if (!vmm_pci_host_add_function(vm->pci, &ide->isa, VMM_IDE_PCI_SLOT, 0, err) ||
        !vmm_pci_host_add_function(vm->pci, &ide->pci, VMM_IDE_PCI_SLOT, 1, err)) {
        vmm_ide_free(ide);
        return NULL;
    }
    for (int c = 0; c < 2 && !native; c++) {
        if (!vmm_bus_register(&vm->pio, cmd_ports[c], 8, &cmd_ops, &ide->ch[c], err) ||
            (ide->ports_registered[c] = true,
             !vmm_bus_register(&vm->pio, ctl_ports[c], 1, &ctl_ops, &ide->ch[c], err))) {
            if (ide->ports_registered[c])
                vmm_bus_unregister(&vm->pio, cmd_ports[c]);
            ide->ports_registered[c] = false;
            vmm_ide_free(ide);
            return NULL;
        }
    }
    return ide;
}

void vmm_ide_free(VmmIde *ide)
{
    if (!ide)
        return;
    for (int c = 0; c < 2; c++) {
        if (ide->ports_registered[c]) {
            vmm_bus_unregister(&ide->vm->pio, cmd_ports[c]);
            vmm_bus_unregister(&ide->vm->pio, ctl_ports[c]);
        }
    }
    for (int b = 0; b < 5; b++)
        if (ide->bar_mapped[b])
            vmm_bus_unregister(&ide->vm->pio, ide->bar_addr[b]);
    for (int c = 0; c < 2; c++) {
        for (int u = 0; u < 2; u++)
            ide_drive_eject(&ide->ch[c].drive[u]);
        g_free(ide->ch[c].buf);
    }
    g_mutex_clear(&ide->lock);
    g_free(ide);
}

static IdeDrive *find_drive(VmmIde *ide, const char *target_dev)
{
    for (int c = 0; c < 2; c++)
        for (int u = 0; u < 2; u++) {
            IdeDrive *d = &ide->ch[c].drive[u];
            if (d->present && strcmp(d->disk->target_dev, target_dev) == 0)
                return d;
        }
    return NULL;
}

bool vmm_ide_get_stats(VmmIde *ide, const char *target_dev, VmmBlockStats *out)
{
    memset(out, 0, sizeof(*out));
    if (!ide)
        return false;
    g_mutex_lock(&ide->lock);
    IdeDrive *d = find_drive(ide, target_dev);
    bool ok = d && d->blk;
    if (ok)
        vmm_block_get_stats(d->blk, out);
    g_mutex_unlock(&ide->lock);
    return ok;
}

char *vmm_ide_medium(VmmIde *ide, const char *target_dev)
{
    if (!ide)
        return NULL;
    g_mutex_lock(&ide->lock);
    IdeDrive *d = find_drive(ide, target_dev);
    char *m = d ? g_strdup(d->medium) : NULL;   /* a guest eject may free it */
    g_mutex_unlock(&ide->lock);
    return m;
}

bool vmm_ide_change_media(VmmIde *ide, const char *target_dev, const char *path, bool force,
                          GError **err)
{
    g_mutex_lock(&ide->lock);
    IdeDrive *d = find_drive(ide, target_dev);
    bool ok = false;
    if (!d || !d->atapi) {
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_INVALID,
                    "disk %s: no IDE CD-ROM of that name (change-media takes a "
                    "<disk device='cdrom'> target, hda to hdd)", target_dev);
    } else if (d->locked && !force) {
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_INVALID,
                    "disk %s: the guest has locked the tray (PREVENT MEDIUM REMOVAL); "
                    "use --force to change the medium anyway", target_dev);
    } else {
        /* open the new image before dropping the old one: a bad path keeps
         * the medium that is in */
        IdeDrive fresh = *d;
        fresh.blk = NULL;
        fresh.medium = NULL;
        if (!path || drive_open(&fresh, path, err)) {
            IdeChannel *ch = &ide->ch[d->disk->ide_bus % 2];
            /* a command in flight on the drive ends with the attention
             * (then reported: SCSI reports a unit attention once) */
            bool busy = ch->xfer != XFER_NONE && ch->cur == d->disk->ide_unit % 2;
            if (busy)
                atapi_cmd_error(ch, SENSE_UNIT_ATTENTION, ASC_MEDIUM_CHANGED);
            bool had = d->blk != NULL;
            ide_drive_eject(d);
            d->blk = fresh.blk;
            d->medium = fresh.medium;
            d->sectors = fresh.sectors;
            d->unit_attention = !busy;
            d->locked = false;
            d->media_event = path ? 2 : had ? 3 : 0;
            vmm_log_info("disk %s: %s", target_dev,
                         path ? "new medium inserted" : "medium ejected");
            ok = true;
        }
    }
    g_mutex_unlock(&ide->lock);
    return ok;
}
