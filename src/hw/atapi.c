/* ATAPI CD-ROM: the PACKET command's SCSI/MMC commands (SPC-3, MMC-5) on a
 * read-only image of 2048-byte sectors, with media change reported as
 * UNIT ATTENTION and through GET EVENT STATUS NOTIFICATION. */
#include "hw/ide_int.h"

#include <string.h>

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put_be16(uint8_t *p, uint32_t v) { p[0] = v >> 8; p[1] = v; }
static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

void atapi_set_signature(IdeDrive *d)
{
    d->tf.nsector = 1;
    d->tf.lbal = 1;
    d->tf.lbam = 0x14;
    d->tf.lbah = 0xeb;
}

void atapi_identify(IdeChannel *ch, IdeDrive *d, uint16_t *w)
{
    (void)ch;
    /* ATAPI, CD-ROM (type 5), removable, DRQ within 50 us, 12-byte packets */
    w[0] = (2 << 14) | (5 << 8) | (1 << 7) | (2 << 5);
    ide_identify_serial(d, w);
    ide_put_string(w + 27, 20, "VMMD DVD-ROM");
    w[49] = (1 << 9) | (1 << 8);                 /* LBA, DMA */
    w[53] = 0x0007;
    w[63] = 0x07 | (d->mwdma != 0xff ? 0x100 << d->mwdma : 0);
    w[64] = 0x03;
    w[65] = w[66] = w[67] = w[68] = 120;
    w[71] = 30;
    w[72] = 30;
    w[80] = 0x001e;                              /* ATA/ATAPI-1 to -4 */
    w[82] = 1 << 4;                              /* PACKET */
    w[88] = 0x3f | (d->udma != 0xff ? 0x100 << d->udma : 0);
    w[93] = (1 << 14) | (1 << 13) | 1;
    for (int i = 0; i < 256; i++)
        w[i] = GUINT16_TO_LE(w[i]);
}

void atapi_cmd_ok(IdeChannel *ch)
{
    IdeDrive *d = ide_cur(ch);
    ide_xfer_stop(ch);
    d->sense_key = SENSE_NONE;
    d->asc = 0;
    d->tf.status = ATA_DRDY | ATA_DSC;
    d->tf.error = 0;
    d->tf.nsector = ATAPI_IO | ATAPI_CD;
    ide_raise_irq(ch);
}

void atapi_cmd_error(IdeChannel *ch, uint8_t key, uint8_t asc)
{
    IdeDrive *d = ide_cur(ch);
    ide_xfer_stop(ch);
    d->sense_key = key;
    d->asc = asc;
    d->tf.status = ATA_DRDY | ATA_ERR;
    d->tf.error = (uint8_t)(key << 4) | ATA_E_ABRT;
    d->tf.nsector = ATAPI_IO | ATAPI_CD;
    ide_raise_irq(ch);
}

/* Reply with len bytes of ch->buf, cut to the host's allocation length. */
static void reply(IdeChannel *ch, uint32_t len, uint32_t alloc)
{
    ide_start_buf_in(ch, MIN(len, alloc));
}

static void lba_to_msf(uint8_t *p, uint64_t lba)
{
    lba += 150;                                  /* the 2-second pregap */
    p[0] = 0;
    p[1] = (uint8_t)(lba / (75 * 60));
    p[2] = (uint8_t)((lba / 75) % 60);
    p[3] = (uint8_t)(lba % 75);
}

static void put_addr(uint8_t *p, uint64_t lba, bool msf)
{
    if (msf)
        lba_to_msf(p, lba);
    else
        put_be32(p, (uint32_t)lba);
}

static void read_toc(IdeChannel *ch, IdeDrive *d, const uint8_t *cdb)
{
    uint8_t *b = ch->buf;
    bool msf = cdb[1] & 2;
    unsigned format = cdb[2] & 0x0f;
    if (!format)
        format = cdb[9] >> 6;                    /* the old SFF-8020 place */
    uint32_t alloc = be16(cdb + 7), len;
    memset(b, 0, 32);
    switch (format) {
    case 0: {                                    /* TOC: track 1 and the lead-out */
        unsigned start = cdb[6];
        if (start > 1 && start != 0xaa)
            return atapi_cmd_error(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
        b[2] = b[3] = 1;
        uint8_t *t = b + 4;
        if (start <= 1) {
            t[1] = 0x14;                         /* ADR 1, data track */
            t[2] = 1;
            put_addr(t + 4, 0, msf);
            t += 8;
        }
        t[1] = 0x14;
        t[2] = 0xaa;
        put_addr(t + 4, d->sectors, msf);
        t += 8;
        len = (uint32_t)(t - b);
        break;
    }
    case 1:                                      /* session information */
        b[2] = b[3] = 1;
        b[5] = 0x14;
        b[6] = 1;
        put_addr(b + 8, 0, msf);
        len = 12;
        break;
    default:
        return atapi_cmd_error(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    }
    put_be16(b, len - 2);
    reply(ch, len, alloc);
}

static void mode_sense(IdeChannel *ch, IdeDrive *d, const uint8_t *cdb)
{
    uint8_t *b = ch->buf;
    unsigned page = cdb[2] & 0x3f, pc = cdb[2] >> 6;
    uint32_t alloc = be16(cdb + 7), len = 8;
    if (pc == 3)                                 /* saved values: none */
        return atapi_cmd_error(ch, SENSE_ILLEGAL_REQUEST, 0x39);
    memset(b, 0, 64);
    if (page == 0x01 || page == 0x3f) {          /* read error recovery */
        b[len] = 0x01;
        b[len + 1] = 0x0a;
        b[len + 3] = 5;                          /* read retry count */
        len += 12;
    }
    if (page == 0x2a || page == 0x3f) {          /* capabilities and mechanical status */
        uint8_t *p = b + len;
        p[0] = 0x2a;
        p[1] = 0x14;
        p[2] = 0x3b;                             /* reads CD-R/RW, DVD-ROM/R/RAM */
        p[4] = 0x71;
        p[5] = 3 << 5;
        p[6] = 0x29 | (d->locked ? 0x02 : 0);    /* lock, eject, tray loader */
        put_be16(p + 8, 706);                    /* max speed, kB/s */
        put_be16(p + 10, 2);
        put_be16(p + 12, 512);
        put_be16(p + 14, 706);
        len += 22;
    }
    if (len == 8)
        return atapi_cmd_error(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    put_be16(b, len - 2);
    b[2] = d->blk ? 0x01 : 0x70;                 /* medium type: 120 mm data / no disc */
    reply(ch, len, alloc);
}

static void get_configuration(IdeChannel *ch, IdeDrive *d, const uint8_t *cdb)
{
    uint8_t *b = ch->buf;
    unsigned rt = cdb[1] & 3, start = be16(cdb + 2);
    uint32_t alloc = be16(cdb + 7), len = 8;
    if (rt == 3)
        return atapi_cmd_error(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    /* a DVD image is one larger than a CD holds (about 800 MB) */
    bool dvd = d->blk && d->sectors > 400000;
    unsigned profile = !d->blk ? 0 : dvd ? 0x0010 : 0x0008;
    memset(b, 0, 64);
    put_be16(b + 6, profile);
    static const unsigned features[] = { 0x0000, 0x0001, 0x0003 };
    for (unsigned i = 0; i < G_N_ELEMENTS(features); i++) {
        unsigned f = features[i];
        if (f < start || (rt == 2 && f != start))
            continue;
        uint8_t *p = b + len;
        put_be16(p, f);
        switch (f) {
        case 0x0000:                             /* profile list */
            p[2] = 0x03;
            p[3] = 8;
            put_be16(p + 4, 0x0010);
            p[6] = dvd;
            put_be16(p + 8, 0x0008);
            p[10] = d->blk && !dvd;
            len += 12;
            break;
        case 0x0001:                             /* core: ATAPI */
            p[2] = 0x0b;
            p[3] = 8;
            put_be32(p + 4, 2);
            p[8] = 1;
            len += 12;
            break;
        default:                                 /* removable medium: tray, eject, lock */
            p[2] = 0x03;
            p[3] = 4;
            p[4] = (1 << 5) | 0x08 | 0x01 | (d->locked ? 0x04 : 0);
            len += 8;
            break;
        }
    }
    put_be32(b, len - 4);
    reply(ch, len, alloc);
}

static void event_status(IdeChannel *ch, IdeDrive *d, const uint8_t *cdb)
{
    uint8_t *b = ch->buf;
    uint32_t alloc = be16(cdb + 7);
    if (!(cdb[1] & 1))                           /* asynchronous: not supported */
        return atapi_cmd_error(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
    memset(b, 0, 8);
    b[3] = 0x10;                                 /* supported: media class */
    if (cdb[4] & 0x10) {
        put_be16(b, 6);
        b[2] = 0x04;
        b[4] = d->media_event;
        b[5] = d->blk ? 0x02 : 0x00;             /* media present */
        d->media_event = 0;                      /* reported */
        reply(ch, 8, alloc);
    } else {
        put_be16(b, 2);
        b[2] = 0x80;                             /* no event available */
        reply(ch, 4, alloc);
    }
}

void atapi_packet(IdeChannel *ch)
{
    IdeDrive *d = ide_cur(ch);
    uint8_t cdb[12];
    memcpy(cdb, ch->packet, sizeof(cdb));
    /* PIO: at most the byte count limit per DRQ block, even, never 0 */
    uint32_t bcl = d->tf.lbam | d->tf.lbah << 8;
    bcl &= ~1u;
    ch->block = bcl ? bcl : 0xfffe;
    ch->xfer = XFER_NONE;
    uint8_t op = cdb[0];
    uint8_t *b = ch->buf;

    /* commands that report state and so may run with an attention pending */
    bool ua_ok = op == 0x03 || op == 0x12 || op == 0x46 || op == 0x4a;
    if (d->unit_attention && !ua_ok) {
        d->unit_attention = false;
        return atapi_cmd_error(ch, SENSE_UNIT_ATTENTION, ASC_MEDIUM_CHANGED);
    }
    bool needs_medium = op == 0x00 || op == 0x25 || op == 0x28 || op == 0xa8 || op == 0x43;
    if (needs_medium && !d->blk)
        return atapi_cmd_error(ch, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT);

    switch (op) {
    case 0x00:                                   /* TEST UNIT READY */
        return atapi_cmd_ok(ch);
    case 0x03: {                                 /* REQUEST SENSE */
        memset(b, 0, 18);
        b[0] = 0x70;
        b[7] = 10;
        if (d->unit_attention) {
            d->unit_attention = false;
            b[2] = SENSE_UNIT_ATTENTION;
            b[12] = ASC_MEDIUM_CHANGED;
        } else {
            b[2] = d->sense_key;
            b[12] = d->asc;
        }
        d->sense_key = SENSE_NONE;
        d->asc = 0;
        return reply(ch, 18, cdb[4]);
    }
    case 0x12:                                   /* INQUIRY */
        if (cdb[1] & 1)                          /* no vital product data pages */
            return atapi_cmd_error(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
        memset(b, 0, 36);
        b[0] = 0x05;                             /* CD/DVD */
        b[1] = 0x80;                             /* removable */
        b[2] = 0x00;
        b[3] = 0x21;                             /* ATAPI, response format 1 */
        b[4] = 31;
        memcpy(b + 8, "VMMD    ", 8);
        memcpy(b + 16, "DVD-ROM         ", 16);
        memcpy(b + 32, "1.0 ", 4);
        return reply(ch, 36, be16(cdb + 3));
    case 0x1b:                                   /* START STOP UNIT */
        if ((cdb[4] & 3) == 2) {                 /* eject */
            if (d->locked)
                return atapi_cmd_error(ch, SENSE_ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED);
            if (d->blk)
                d->media_event = 3;
            ide_drive_eject(d);
        }
        return atapi_cmd_ok(ch);
    case 0x1e:                                   /* PREVENT ALLOW MEDIUM REMOVAL */
        d->locked = cdb[4] & 1;
        return atapi_cmd_ok(ch);
    case 0x25:                                   /* READ CAPACITY */
        put_be32(b, d->sectors ? (uint32_t)MIN(d->sectors - 1, (uint64_t)G_MAXUINT32) : 0);
        put_be32(b + 4, CD_SECTOR);
        return reply(ch, 8, 8);
    case 0x28:                                   /* READ(10) */
    case 0xa8: {                                 /* READ(12) */
        uint64_t lba = be32(cdb + 2);
        uint64_t count = op == 0x28 ? be16(cdb + 7) : be32(cdb + 6);
        if (lba > d->sectors || count > d->sectors - lba) {
            ide_log_once(ch, IDE_LOG_RANGE, "%s: READ of sectors past the end of the "
                         "medium (%" G_GUINT64_FORMAT " sectors)", ide_name(ch, ch->cur),
                         d->sectors);
            return atapi_cmd_error(ch, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
        }
        if (!count)
            return atapi_cmd_ok(ch);
        return ide_start_disk_in(ch, lba, count, CD_SECTOR);
    }
    case 0x43:                                   /* READ TOC/PMA/ATIP */
        return read_toc(ch, d, cdb);
    case 0x46:                                   /* GET CONFIGURATION */
        return get_configuration(ch, d, cdb);
    case 0x4a:                                   /* GET EVENT STATUS NOTIFICATION */
        return event_status(ch, d, cdb);
    case 0x5a:                                   /* MODE SENSE(10) */
        return mode_sense(ch, d, cdb);
    default:
        ide_log_once(ch, IDE_LOG_CMD, "%s: unsupported packet command %02xh",
                     ide_name(ch, ch->cur), op);
        return atapi_cmd_error(ch, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
    }
}
