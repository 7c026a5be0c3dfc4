/* Internals of the ATA/ATAPI drive (ata.c, atapi.c) and its transports: the
 * PIIX3 IDE channels (ide.c) and the AHCI ports (ahci.c). An IdeChannel is
 * one task-file bus with its drives (two on IDE, one on an AHCI port);
 * the transport behind it supplies interrupts and the scatter/gather list.
 * Everything here is under the owning controller's lock. */
#ifndef VMM_HW_IDE_INT_H
#define VMM_HW_IDE_INT_H

#include "hw/ide.h"
#include "hw/pci.h"

#include <stdint.h>
#include <sys/uio.h>

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
    /* The NCQ error condition (SATA 3.x 13.6.4): a queued command failed;
     * until READ LOG (DMA) EXT reads log page 10h, or a reset, the drive
     * aborts every other command. The failed command, for that page: */
    struct {
        bool pending;
        uint8_t tag, status, error, device;
        uint64_t lba;
        uint16_t count;
    } ncq_err;
} IdeDrive;

/* What a transport does for the drive core. */
typedef struct {
    /* the drive asks for an interrupt (command end, PIO data ready) */
    void (*irq)(IdeChannel *ch);
    /* a DMA command is ready: true to move the data now, false when the
     * transport calls ata_dma_run() later (IDE: once the bus master starts) */
    bool (*dma_ready)(IdeChannel *ch);
    /* NULL, or why DMA in this direction cannot run now (the command aborts) */
    const char *(*dma_check)(IdeChannel *ch, bool to_mem);
    /* entry i of the scatter/gather list: guest address and length, *last
     * on its final entry; false with *why when there is no entry i */
    bool (*sg_entry)(IdeChannel *ch, unsigned i, uint64_t *addr, uint32_t *len, bool *last,
                     const char **why);
    /* the DMA transfer ended after `bytes`, ok or aborted */
    void (*dma_done)(IdeChannel *ch, uint64_t bytes, bool ok);
    /* no PIO data register: PIO commands move their data through the
     * scatter/gather list as well (AHCI) */
    bool sg_only;
} IdeTransport;

struct IdeChannel {
    VmmIde *ide;               /* ide.c's controller, NULL on other transports */
    VmmVm *vm;
    const IdeTransport *ops;
    void *opaque;              /* the transport's (AHCI: its port) */
    char label[32];            /* "ide channel 0", "ahci port 2": for the log */
    unsigned index;
    unsigned ncq_depth;        /* IDENTIFY reports NCQ with this queue depth (AHCI) */
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
    /* AHCI */
    IDE_LOG_CMDLIST = 1 << 9, IDE_LOG_FIS = 1 << 10, IDE_LOG_NCQ = 1 << 11,
    IDE_LOG_PORT = 1 << 12, IDE_LOG_REG = 1 << 13, IDE_LOG_NCQERR = 1 << 14,
};
void ide_log_once(IdeChannel *ch, unsigned kind, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Scatter/gather walk state for ata_sg_map(). */
typedef struct {
    unsigned i;                /* the next entry */
    bool last;                 /* the final entry was taken */
} AtaSgPos;

static inline IdeDrive *ide_cur(IdeChannel *ch) { return &ch->drive[ch->cur]; }
static inline const char *ide_name(IdeChannel *ch, unsigned unit)
{
    return ch->drive[unit].disk ? ch->drive[unit].disk->target_dev : "(absent)";
}

/* ata.c */
void ide_raise_irq(IdeChannel *ch);
void ide_xfer_stop(IdeChannel *ch);
void ide_identify_serial(IdeDrive *d, uint16_t *w);
void ide_drive_eject(IdeDrive *d);
/* Start sending ch->buf[0..len) to the host (PIO or DMA as the command asked). */
void ide_start_buf_in(IdeChannel *ch, uint32_t len);
/* Start reading `count` sectors of sector_size from lba to the host. */
void ide_start_disk_in(IdeChannel *ch, uint64_t lba, uint64_t count, uint32_t sector_size);
/* The task file holds a command (written to the command register, or
 * loaded from a Register H2D FIS): run it on the selected drive. */
void ata_command(IdeChannel *ch, uint8_t cmd);
/* Move the DMA transfer the current command waits for. */
void ata_dma_run(IdeChannel *ch);
/* Map the next entries of the scatter/gather list, at most `want` bytes in
 * at most max iovecs (the last one cut to fit); returns their number and
 * *bytes, or -1 with *why when an entry is missing or outside guest RAM. */
int ata_sg_map(IdeChannel *ch, AtaSgPos *pos, uint64_t want, struct iovec *iov, unsigned max,
               uint64_t *bytes, const char **why);
/* The PIO data register. */
void ata_data_read(IdeChannel *ch, uint8_t *out, unsigned size);
void ata_data_write(IdeChannel *ch, const uint8_t *in, unsigned size);
/* Power-on / reset state of the drives, with their signatures. */
void ata_channel_reset(IdeChannel *ch);
/* Open path as the drive's medium with the disk's cache and io modes; fd
 * >= 0: path already opened by vmmd, consumed. */
bool ata_drive_open(IdeDrive *d, const char *path, int fd, GError **err);
/* vmmctl change-media on CD-ROM d of ch: path (NULL = eject) goes in; the
 * guest sees UNIT ATTENTION and a media event. fd as vmm_ide_change_media()
 * (consumed in every case). Refused when an eject comes with a descriptor,
 * the guest locked the tray and force is false, or path cannot be opened. */
bool ata_change_media(IdeChannel *ch, IdeDrive *d, const char *path, int fd, bool force,
                      GError **err);
/* Queued command `tag` of count sectors at lba failed with `error` (the
 * ATA error register): the drive enters the NCQ error condition, with what
 * log page 10h reports. A second failure before the log is read keeps the
 * first one's record. */
void ata_ncq_error(IdeDrive *d, unsigned tag, uint8_t error, uint64_t lba, uint32_t count);
/* Page `page` of general purpose log `log` (ACS-3 table A.2) into out[512];
 * false when the drive has no such page. Reading page 0 of log 10h ends
 * the NCQ error condition. */
bool ata_read_log(IdeChannel *ch, IdeDrive *d, uint8_t log, unsigned page, uint8_t *out);
/* One synchronous request on the drive's block queue. */
int ata_blk_io(IdeDrive *d, VmmBlockOp op, uint64_t offset, struct iovec *iov,
               unsigned iovcnt, uint64_t len);
/* After a write: flush when the guest turned the write cache off. */
int ata_flush_if_no_wce(IdeDrive *d);

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
