/* The ATA drive behind any transport: the task file's command set (ATA8-ACS),
 * IDENTIFY, READ/WRITE in their PIO and DMA forms, FLUSH, SET FEATURES, the
 * PIO data register and DMA through the transport's scatter/gather list.
 * ide.c (PIIX3 ports and bus master, PRD tables) and ahci.c (AHCI ports,
 * command tables and PRDTs) are the transports; atapi.c is the CD-ROM's
 * packet command set on top. A command runs synchronously in the caller. */
#include "hw/ide_int.h"
#include "util/log.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

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

#define DMA_IOV        256
#define MAX_MULT       16
#define CHS_HEADS      16
#define CHS_SPT        63

void ide_log_once(IdeChannel *ch, unsigned kind, const char *fmt, ...)
{
    if (ch->logged & kind)
        return;
    ch->logged |= kind;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vmm_log_warn("%s: %s (logged once)", ch->label, msg);
}

/* ---- interrupts and command ends --------------------------------------- */

void ide_raise_irq(IdeChannel *ch)
{
    ch->ops->irq(ch);
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
int ata_blk_io(IdeDrive *d, VmmBlockOp op, uint64_t offset, struct iovec *iov,
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
int ata_flush_if_no_wce(IdeDrive *d)
{
    if (d->wce || !vmm_block_has_write_cache(d->blk))
        return 0;
    return ata_blk_io(d, VMM_BLOCK_FLUSH, 0, NULL, 0, 0);
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
    int r = ata_blk_io(d, VMM_BLOCK_READ, ch->lba * ch->sector_size, &iov, 1, n);
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
    int r = ata_blk_io(d, VMM_BLOCK_WRITE, ch->lba * ch->sector_size, &iov, 1, ch->end);
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
                if (ata_flush_if_no_wce(d) < 0) {
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

void ata_data_read(IdeChannel *ch, uint8_t *out, unsigned size)
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

void ata_data_write(IdeChannel *ch, const uint8_t *in, unsigned size)
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
/* ---- DMA through the transport's scatter/gather list ------------------- */

int ata_sg_map(IdeChannel *ch, AtaSgPos *pos, uint64_t want, struct iovec *iov, unsigned max,
               uint64_t *bytes, const char **why)
{
    unsigned n = 0;
    *bytes = 0;
    while (n < max && *bytes < want && !pos->last) {
        uint64_t addr;
        uint32_t len;
        if (!ch->ops->sg_entry(ch, pos->i, &addr, &len, &pos->last, why))
            return -1;
        pos->i++;
        len = (uint32_t)MIN((uint64_t)len, want - *bytes);
        uint8_t *p = vmm_vm_gpa_to_hva(ch->vm, addr, len);
        if (!p) {
            *why = "a scatter/gather entry points outside guest RAM";
            return -1;
        }
        iov[n++] = (struct iovec){ p, len };
        *bytes += len;
    }
    return (int)n;
}

static void dma_fail(IdeChannel *ch, unsigned kind, uint64_t done, const char *why)
{
    ide_log_once(ch, kind, "%s: DMA aborted: %s", ide_name(ch, ch->cur), why);
    ch->ops->dma_done(ch, done, false);
    IdeDrive *d = ide_cur(ch);
    if (d->atapi)
        atapi_cmd_error(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    else
        ata_error(ch, ATA_E_ABRT);
}

/* Move the whole transfer through the scatter/gather list, DMA_IOV entries
 * per block request. */
void ata_dma_run(IdeChannel *ch)
{
    IdeDrive *d = ide_cur(ch);
    bool to_mem = ch->xfer != XFER_DISK_OUT;
    const char *why = ch->ops->dma_check ? ch->ops->dma_check(ch, to_mem) : NULL;
    if (why)
        return dma_fail(ch, IDE_LOG_MASTER, 0, why);
    uint64_t total = ch->xfer == XFER_BUF_IN ? ch->end : ch->left;
    uint64_t done = 0, disk_off = ch->lba * ch->sector_size;
    struct iovec iov[DMA_IOV];
    AtaSgPos pos = { 0 };
    while (done < total) {
        if (pos.last)
            return dma_fail(ch, IDE_LOG_PRD, done, "the scatter/gather list (PRD table) "
                            "ends before the transfer");
        uint64_t batch;
        int n = ata_sg_map(ch, &pos, total - done, iov, DMA_IOV, &batch, &why);
        if (n < 0)
            return dma_fail(ch, IDE_LOG_PRD, done, why);
        if (ch->xfer == XFER_BUF_IN) {
            for (int i = 0; i < n; i++) {
                memcpy(iov[i].iov_base, ch->buf + done, iov[i].iov_len);
                done += iov[i].iov_len;
            }
            continue;
        }
        int r = ata_blk_io(d, to_mem ? VMM_BLOCK_READ : VMM_BLOCK_WRITE, disk_off + done, iov,
                           (unsigned)n, batch);
        if (r < 0)
            return dma_fail(ch, IDE_LOG_IO, done, g_strerror(-r));
        done += batch;
    }
    if (ch->xfer == XFER_DISK_OUT && ata_flush_if_no_wce(d) < 0)
        return dma_fail(ch, IDE_LOG_IO, done, "flush after a write failed");
    ch->ops->dma_done(ch, done, true);
    if (d->atapi)
        atapi_cmd_ok(ch);
    else
        ata_ok(ch, true);
}

/* The command is ready for DMA: run now if the transport is. */
static void dma_ready(IdeChannel *ch)
{
    IdeDrive *d = ide_cur(ch);
    ch->dma = true;
    d->tf.status = ATA_DRDY | ATA_DSC | ATA_DRQ;
    if (ch->ops->dma_ready(ch))
        ata_dma_run(ch);
}

/* ---- transfers the commands start --------------------------------------- */

void ide_start_buf_in(IdeChannel *ch, uint32_t len)
{
    ch->xfer = XFER_BUF_IN;
    ch->pos = 0;
    ch->end = len;
    ch->left = 0;
    if (ch->dma || ch->ops->sg_only)
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
    if (ch->dma || ch->ops->sg_only)
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
    if (ch->dma || ch->ops->sg_only)
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
    if (ch->ncq_depth) {                         /* SATA: NCQ, Gen1 and Gen2 speeds */
        w[75] = ch->ncq_depth - 1;
        w[76] = (1 << 8) | (1 << 2) | (1 << 1);
    }
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

void ata_command(IdeChannel *ch, uint8_t cmd)
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
        int r = ata_blk_io(d, VMM_BLOCK_FLUSH, 0, NULL, 0, 0);
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

void ata_channel_reset(IdeChannel *ch)
{
    ide_xfer_stop(ch);
    ch->select = 0xa0;
    ch->cur = 0;
    for (int u = 0; u < 2; u++)
        drive_reset(&ch->drive[u]);
}


bool ata_drive_open(IdeDrive *d, const char *path, int fd, GError **err)
{
    const VmmDiskDef *disk = d->disk;
    bool blockdev = disk->type == VMM_DISK_BLOCK;
    /* the disk's own source with its format and backing chain; a medium
     * change-media puts in is a raw ISO, opened by vmmd when fd >= 0 */
    VmmBlockDev *b = fd >= 0
        ? vmm_block_open_fd(fd, path, blockdev, disk->readonly, disk->cache, disk->io,
                            disk->discard, 1, err)
        : g_strcmp0(path, disk->path) == 0
        ? vmm_block_open_disk(disk, 1, err)
        : vmm_block_open(path, blockdev, disk->readonly, disk->cache, disk->io, disk->discard,
                         1, err);
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


bool ata_change_media(IdeChannel *ch, IdeDrive *d, const char *path, int fd, bool force,
                      GError **err)
{
    const char *target_dev = d->disk->target_dev;
    if (d->locked && !force) {
        if (fd >= 0)
            close(fd);
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_INVALID,
                    "disk %s: the guest has locked the tray (PREVENT MEDIUM REMOVAL); "
                    "use --force to change the medium anyway", target_dev);
        return false;
    }
    /* open the new image before dropping the old one: a bad path keeps
     * the medium that is in */
    IdeDrive fresh = *d;
    fresh.blk = NULL;
    fresh.medium = NULL;
    if (path && !ata_drive_open(&fresh, path, fd, err))
        return false;
    /* a command in flight on the drive ends with the attention (then
     * reported: SCSI reports a unit attention once) */
    bool busy = ch->xfer != XFER_NONE && &ch->drive[ch->cur] == d;
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
    vmm_log_info("disk %s: %s", target_dev, path ? "new medium inserted" : "medium ejected");
    return true;
}
