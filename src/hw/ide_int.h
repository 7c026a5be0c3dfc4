/* Internals shared by the IDE controller (ide.c) and its ATAPI command set
 * (atapi.c). Everything here is under VmmIde.lock. */
#ifndef VMM_HW_IDE_INT_H
#define VMM_HW_IDE_INT_H

#include "hw/ide.h"
#include "hw/pci.h"

#include <stdint.h>

/* Status and error register bits (ATA8-ACS). */
#define ATA_ERR   0x01
#define ATA_DRQ   0x08
#define ATA_DSC   0x10
#define ATA_DF    0x20
#define ATA_DRDY  0x40
#define ATA_BSY   0x80
#define ATA_E_ABRT 0x04
#define ATA_E_IDNF 0x10
#define ATA_E_UNC  0x40

/* ATAPI interrupt reason (the sector count register). */
#define ATAPI_CD  0x01
#define ATAPI_IO  0x02

#define ATA_SECTOR   512u
#define CD_SECTOR    2048u
#define IDE_BUF_SIZE (128u * 1024)     /* one PIO chunk: 256 ATA or 64 CD sectors */

/* SCSI sense keys and additional sense codes the CD-ROM reports. */
#define SENSE_NONE            0x0
#define SENSE_NOT_READY       0x2
#define SENSE_ILLEGAL_REQUEST 0x5
#define SENSE_UNIT_ATTENTION  0x6
#define ASC_INVALID_OPCODE    0x20
#define ASC_LBA_OUT_OF_RANGE  0x21
#define ASC_INVALID_FIELD     0x24
#define ASC_MEDIUM_CHANGED    0x28
#define ASC_MEDIUM_NOT_PRESENT 0x3a
#define ASC_REMOVAL_PREVENTED 0x53

typedef struct IdeChannel IdeChannel;

/* What the data port (PIO) or the bus master (DMA) moves. */
typedef enum {
    XFER_NONE,
    XFER_BUF_IN,       /* ch->buf to the host: IDENTIFY, ATAPI replies */
    XFER_DISK_IN,      /* disk sectors to the host */
    XFER_DISK_OUT,     /* host to disk sectors */
    XFER_PACKET,       /* the 12-byte ATAPI command packet */
} IdeXfer;

typedef struct {
    uint8_t feature, nsector, lbal, lbam, lbah;
    uint8_t hob_feature, hob_nsector, hob_lbal, hob_lbam, hob_lbah;
    uint8_t status, error;
} IdeTaskFile;

typedef struct {
    bool present, atapi;
    const VmmDiskDef *disk;
    VmmBlockDev *blk;          /* NULL: an empty CD-ROM tray */
    char *medium;              /* the path of blk */
    uint64_t sectors;          /* of 512 (ATA) or 2048 bytes (ATAPI) */
    IdeTaskFile tf;
    unsigned mult;             /* SET MULTIPLE MODE: sectors per DRQ block, 0 = off */
    bool wce;                  /* write cache enabled (SET FEATURES 02h/82h) */
    uint8_t mwdma, udma;       /* selected modes, 0xff = none */
    /* ATAPI */
    uint8_t sense_key, asc;
    bool unit_attention, locked;
    uint8_t media_event;       /* GET EVENT STATUS: 0 none, 2 new media, 3 removal */
} IdeDrive;

struct IdeChannel {
    VmmIde *ide;
    unsigned index;
    IdeDrive drive[2];
    uint8_t select, ctl;
    VmmIrq *irq;
    bool intrq;                /* native mode: INTRQ, held until Status is read */
    /* the transfer in progress, on drive `cur` */
    unsigned cur;
    IdeXfer xfer;
    bool dma;                  /* waits for (or runs on) the bus master */
    bool lba48;
    uint8_t *buf;
    uint32_t pos, end;         /* PIO: bytes of buf already moved / filled */
    uint32_t drq_end;          /* PIO: the end of the current DRQ block in buf */
    uint32_t block;            /* bytes per DRQ block (PIO) */
    uint64_t lba;              /* next sector of the disk transfer */
    uint64_t left;             /* bytes of the whole transfer not yet in buf */
    uint32_t sector_size;
    uint8_t packet[12];
    /* bus master (BAR4 + 8 * index) */
    uint8_t bm_cmd, bm_status;
    uint32_t bm_prd;
    unsigned logged;           /* IDE_LOG_* bits already logged */
};

struct VmmIde {
    VmmVm *vm;
    GMutex lock;
    VmmPciDevice isa, pci;
    IdeChannel ch[2];
    bool native;               /* PCI native mode: BARs 0-3, INTA (see ide.h) */
    bool bar_mapped[5];
    uint64_t bar_addr[5];
    bool ports_registered[2];
};

/* Log a guest mistake once per channel and kind. */
enum {
    IDE_LOG_ABSENT = 1 << 0, IDE_LOG_RANGE = 1 << 1, IDE_LOG_PRD = 1 << 2,
    IDE_LOG_DIR = 1 << 3, IDE_LOG_CMD = 1 << 4, IDE_LOG_IO = 1 << 5,
    IDE_LOG_DATA = 1 << 6, IDE_LOG_OVERRIDE = 1 << 7, IDE_LOG_MASTER = 1 << 8,
};
void ide_log_once(IdeChannel *ch, unsigned kind, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static inline IdeDrive *ide_cur(IdeChannel *ch) { return &ch->drive[ch->cur]; }
static inline const char *ide_name(IdeChannel *ch, unsigned unit)
{
    return ch->drive[unit].disk ? ch->drive[unit].disk->target_dev : "(absent)";
}

/* ide.c, for atapi.c */
void ide_raise_irq(IdeChannel *ch);
void ide_xfer_stop(IdeChannel *ch);
void ide_identify_serial(IdeDrive *d, uint16_t *w);
void ide_drive_eject(IdeDrive *d);
/* Start sending ch->buf[0..len) to the host (PIO or DMA as the command asked). */
void ide_start_buf_in(IdeChannel *ch, uint32_t len);
/* Start reading `count` sectors of sector_size from lba to the host. */
void ide_start_disk_in(IdeChannel *ch, uint64_t lba, uint64_t count, uint32_t sector_size);

/* atapi.c */
void atapi_identify(IdeChannel *ch, IdeDrive *d, uint16_t *w);
void atapi_set_signature(IdeDrive *d);
/* The 12 bytes in ch->packet are complete: run them. */
void atapi_packet(IdeChannel *ch);
/* The command ended: interrupt reason "complete", sense in the error register. */
void atapi_cmd_ok(IdeChannel *ch);
void atapi_cmd_error(IdeChannel *ch, uint8_t key, uint8_t asc);
/* Fills ATA IDENTIFY strings: space padded, bytes swapped within words. */
void ide_put_string(uint16_t *w, unsigned words, const char *s);

#endif
