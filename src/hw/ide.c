/* PIIX3 IDE: the controller's ports and its bus master (the PIIX3/PIIX4
 * datasheets), as a transport for the ATA drive core (ata.c, atapi.c).
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

/* Bus master registers (PIIX3 BMICx, BMISx, BMIDTPx). */
#define BM_CMD_START   0x01
#define BM_CMD_TO_MEM  0x08     /* "read": device to memory */
#define BM_ST_ACTIVE   0x01
#define BM_ST_ERROR    0x02
#define BM_ST_IRQ      0x04
#define BM_ST_CAPABLE  0x60     /* drive 0/1 DMA capable: software bits */
#define PRD_EOT        0x80000000u
#define PRD_MAX        8192     /* a table lies within one 64 KiB page */

static const uint16_t cmd_ports[2] = { 0x1f0, 0x170 };
static const uint16_t ctl_ports[2] = { 0x3f6, 0x376 };

/* ---- the transport: ISA IRQ line, bus master, PRD tables ---------------- */

/* The drive's INTRQ: asserted while an interrupt is pending and nIEN is
 * clear; with nIEN set the drive leaves it in high impedance (ATA, the
 * Device Control register). Tracked in native mode only. */
static bool intrq_line(const IdeChannel *ch)
{
    return ch->intrq && !(ch->ctl & 0x02);
}

/* Native mode: the channel's share of INTA follows INTRQ, and BMIS's
 * interrupt bit latches its rising edge (was: the line before). */
static void intrq_update(IdeChannel *ch, bool was)
{
    if (!ch->ide->native)
        return;
    bool up = intrq_line(ch);
    if (up && !was)
        ch->bm_status |= BM_ST_IRQ;
    vmm_irq_set(ch->irq, up);
}

static void intrq_clear(IdeChannel *ch)
{
    if (ch->intrq) {
        bool was = intrq_line(ch);
        ch->intrq = false;
        intrq_update(ch, was);
    }
}

/* BMIS bit 2 (IDE Interrupt Status) says the drive asserted its interrupt
 * line (PIIX3/PIIX4 datasheets, BMISx: it latches an assertion edge).
 * With nIEN set the drive never drives the line, so the bit stays clear,
 * as on real hardware and in QEMU; a driver polling with nIEN set watches
 * the bus master's Active bit and the drive's status instead. */
static void ide_irq(IdeChannel *ch)
{
    if (ch->ide->native) {
        /* a PCI INTx is a level: INTRQ stays up until the host reads the
         * Status register or writes a command (ATA8-APT) */
        bool was = intrq_line(ch);
        ch->intrq = true;
        intrq_update(ch, was);
        return;
    }
    if (ch->ctl & 0x02)          /* nIEN */
        return;
    ch->bm_status |= BM_ST_IRQ;
    /* ISA IRQ 14/15 are edge-triggered: one pulse per interrupt */
    vmm_irq_set(ch->irq, 1);
    vmm_irq_set(ch->irq, 0);
}

static bool ide_dma_ready(IdeChannel *ch)
{
    return ch->bm_cmd & BM_CMD_START;
}

static const char *ide_dma_check(IdeChannel *ch, bool to_mem)
{
    if (!(pci_get_u16(ch->ide->pci.cfg + PCI_COMMAND) & PCI_COMMAND_MASTER))
        return "bus mastering is off in the PCI command register";
    if (!!(ch->bm_cmd & BM_CMD_TO_MEM) != to_mem)
        return "the bus master direction bit disagrees with the command";
    return NULL;
}

/* PRD i: 8 bytes at bm_prd; a count of 0 means 64 KiB */
static bool ide_sg_entry(IdeChannel *ch, unsigned i, uint64_t *addr, uint32_t *len, bool *last,
                         const char **why)
{
    if (i >= PRD_MAX) {
        *why = "the PRD table has no end (8192 entries)";
        return false;
    }
    const uint8_t *e = vmm_vm_gpa_to_hva(ch->vm, (uint64_t)ch->bm_prd + 8ull * i, 8);
    if (!e) {
        *why = "the PRD table is outside guest RAM";
        return false;
    }
    uint32_t flags = pci_get_u32(e + 4);
    *addr = pci_get_u32(e) & ~1u;
    *len = flags & 0xfffe;
    if (!*len)
        *len = 0x10000;
    *last = flags & PRD_EOT;
    return true;
}

static void ide_dma_done(IdeChannel *ch, uint64_t bytes, bool ok)
{
    (void)bytes;
    ch->bm_status &= ~BM_ST_ACTIVE;
    if (!ok)
        ch->bm_status |= BM_ST_ERROR;
}

static const IdeTransport ide_transport = {
    .irq = ide_irq, .dma_ready = ide_dma_ready, .dma_check = ide_dma_check,
    .sg_entry = ide_sg_entry, .dma_done = ide_dma_done,
};

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
            ata_data_read(ch, b, size);
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
        ata_data_write(ch, b, size);
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
    bool was = intrq_line(ch);
    uint8_t old = ch->ctl;
    ch->ctl = (uint8_t)value;
    intrq_update(ch, was);       /* nIEN */
    if ((old & 0x04) && !(value & 0x04)) {       /* SRST released */
        intrq_clear(ch);
        ata_channel_reset(ch);
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
                ata_dma_run(ch);
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
        intrq_clear(ch);
        ata_channel_reset(ch);
    }
    g_mutex_unlock(&ide->lock);
}

static const VmmPciDeviceOps ide_pci_ops = {
    .name = "piix3-ide", .bar_mapped = ide_bar_mapped, .reset = ide_pci_reset,
};
static const VmmPciDeviceOps isa_pci_ops = { .name = "piix3-isa" };

/* ---- life cycle --------------------------------------------------------- */

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
        ch->vm = vm;
        ch->ops = &ide_transport;
        g_snprintf(ch->label, sizeof(ch->label), "ide channel %d", c);
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
        if (disk->path && !ata_drive_open(d, disk->path, -1, err)) {
            vmm_ide_free(ide);
            return NULL;
        }
    }
    for (int c = 0; c < 2; c++)
        ata_channel_reset(&ide->ch[c]);
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

bool vmm_ide_change_media(VmmIde *ide, const char *target_dev, const char *path, int fd,
                          bool force, GError **err)
{
    g_mutex_lock(&ide->lock);
    IdeDrive *d = find_drive(ide, target_dev);
    bool ok = false;
    if (!d || !d->atapi) {
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_INVALID,
                    "disk %s: no IDE CD-ROM of that name (change-media takes a "
                    "<disk device='cdrom'> target, hda to hdd)", target_dev);
    } else {
        ok = ata_change_media(&ide->ch[d->disk->ide_bus % 2], d, path, fd, force, err);
        fd = -1;
    }
    g_mutex_unlock(&ide->lock);
    if (fd >= 0)
        close(fd);
    return ok;
}
