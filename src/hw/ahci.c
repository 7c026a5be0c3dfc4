/* AHCI 1.3 host bus adapter (Serial ATA AHCI 1.3 specification; the ICH9
 * datasheet for the PCI function): generic host control, six ports with a
 * command list of 32 slots, command tables (CFIS, ACMD, PRDT), the received
 * FIS area, NCQ (READ/WRITE FPDMA QUEUED) and MSI or INTx.
 *
 * Each port is a transport for the drive core (ata.c, atapi.c): a command's
 * Register H2D FIS is loaded into the drive's task file and run there; its
 * data (PIO or DMA alike) moves through the command's PRDT. Commands run
 * synchronously on the vCPU that wrote PxCI; the NCQ commands of one PxCI
 * write go to the block queue together and complete in whatever order the
 * back end finishes them, then one Set Device Bits FIS reports them.
 *
 * A guest that breaks the rules (command lists, tables or FIS areas outside
 * RAM, PRDTs that are empty, short or outside RAM, LBAs past the disk,
 * NCQ tags that do not match their slot, a port started without FRE) gets a
 * task file error (PxIS.TFES) or a host bus fatal error (PxIS.HBFS) on that
 * port, a line in the log once per port and kind, and the port works again
 * after the guest restarts it (PxCMD.ST) or resets it (COMRESET). */
#include "hw/ahci.h"
#include "hw/ide_int.h"
#include "hw/pci.h"
#include "util/log.h"
#include "vmm/irq.h"
#include "vmm/layout.h"
#include "vmm/vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define ABAR          5
#define ABAR_SIZE     0x1000
#define SLOTS         32

/* Generic host control (AHCI 1.3 section 3.1). */
enum { HBA_CAP = 0x00, HBA_GHC = 0x04, HBA_IS = 0x08, HBA_PI = 0x0c, HBA_VS = 0x10,
       HBA_CAP2 = 0x24, HBA_PORTS = 0x100, PORT_SIZE = 0x80 };
#define CAP_S64A      (1u << 31)
#define CAP_SNCQ      (1u << 30)
#define CAP_SSS       (1u << 27)   /* staggered spin-up: PxCMD.SUD is the guest's */
#define CAP_ISS_GEN2  (2u << 20)
#define CAP_SAM       (1u << 18)   /* AHCI only: GHC.AE reads 1 */
#define GHC_HR        (1u << 0)
#define GHC_IE        (1u << 1)
#define GHC_AE        (1u << 31)
#define AHCI_VERSION  0x00010300

/* Port registers (section 3.3). */
enum { PX_CLB = 0x00, PX_CLBU = 0x04, PX_FB = 0x08, PX_FBU = 0x0c, PX_IS = 0x10, PX_IE = 0x14,
       PX_CMD = 0x18, PX_TFD = 0x20, PX_SIG = 0x24, PX_SSTS = 0x28, PX_SCTL = 0x2c,
       PX_SERR = 0x30, PX_SACT = 0x34, PX_CI = 0x38, PX_SNTF = 0x3c };
#define IS_DHRS       (1u << 0)    /* D2H register FIS */
#define IS_PSS        (1u << 1)    /* PIO setup FIS */
#define IS_SDBS       (1u << 3)    /* set device bits FIS */
#define IS_DPS        (1u << 5)    /* a PRD with the I bit was processed */
#define IS_HBFS       (1u << 29)   /* host bus fatal error */
#define IS_TFES       (1u << 30)   /* task file error */
#define IS_VALID      0xfdc000ffu
#define CMD_ST        (1u << 0)
#define CMD_SUD       (1u << 1)
#define CMD_POD       (1u << 2)
#define CMD_CLO       (1u << 3)
#define CMD_FRE       (1u << 4)
#define CMD_FR        (1u << 14)
#define CMD_CR        (1u << 15)
#define CMD_ATAPI     (1u << 24)
#define CMD_CCS_SHIFT 8
#define SSTS_UP       0x123        /* IPM active, Gen2 speed, DET device + phy */
#define SIG_ATA       0x00000101u
#define SIG_ATAPI     0xeb140101u

/* Command header DW0 (section 4.2.2) and the FIS layouts (SATA 3.x). */
#define HDR_CFL       0x1f
#define HDR_ATAPI     (1u << 5)
#define FIS_H2D       0x27
#define FIS_D2H       0x34
#define FIS_SDB       0xa1
#define FIS_PIO_SETUP 0x5f
#define RX_PIO        0x20
#define RX_D2H        0x40
#define RX_SDB        0x58
#define CT_ACMD       0x40
#define CT_PRDT       0x80
#define PRD_DBC       0x3fffffu
#define PRD_I         (1u << 31)

#define CMD_READ_FPDMA  0x60
#define CMD_WRITE_FPDMA 0x61

typedef struct AhciPort AhciPort;

/* An NCQ command handed to the block queue. */
typedef struct {
    VmmBlockReq req;
    AhciPort *port;
    unsigned slot;
    struct iovec *iov;
    bool fua;
    int ret;
} NcqReq;

struct AhciPort {
    VmmAhci *ahci;
    unsigned index;
    bool present;
    IdeChannel ch;                 /* one drive: ch.drive[0] */
    uint32_t clb, clbu, fb, fbu, is, ie, cmd, tfd, sig, sctl, serr, sact, ci;
    bool link;                     /* PxSSTS.DET = 3 */
    bool stalled;                  /* an error stopped command processing until ST 1->0 */
    /* the command whose PRDT the drive core walks */
    uint64_t ctba;
    unsigned prdtl;
    uint64_t bytes;
    bool irq_req, dps, data_in;
    NcqReq ncq[SLOTS];
};

struct VmmAhci {
    VmmVm *vm;
    GMutex lock;
    VmmPciDevice pci;
    VmmIrq *intx;
    unsigned msi_cap;
    uint32_t ghc, is;
    AhciPort port[VMM_AHCI_PORTS];
};

static uint64_t u64_of(uint32_t lo, uint32_t hi) { return (uint64_t)hi << 32 | lo; }

/* ---- interrupts --------------------------------------------------------- */

static bool msi_enabled(VmmAhci *a)
{
    return pci_get_u16(a->pci.cfg + a->msi_cap + 2) & 1;
}

static void signal_msi(VmmAhci *a)
{
    const uint8_t *c = a->pci.cfg + a->msi_cap;
    struct kvm_msi m = { .address_lo = pci_get_u32(c + 4), .address_hi = pci_get_u32(c + 8),
                         .data = pci_get_u16(c + 12) };
    if (ioctl(a->vm->vm_fd, KVM_SIGNAL_MSI, &m) < 0)
        vmm_log_warn("ahci: cannot signal MSI: %s", g_strerror(errno));
}

/* IS collects the ports with an enabled cause; INTx follows it as a level,
 * MSI fires once per new cause (`edge`). */
static void update_irq(VmmAhci *a, bool edge)
{
    for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
        if (a->port[i].is & a->port[i].ie)
            a->is |= 1u << i;
    bool level = (a->ghc & GHC_IE) && a->is;
    bool msi = msi_enabled(a);
    bool intx_off = pci_get_u16(a->pci.cfg + PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
    vmm_irq_set(a->intx, level && !msi && !intx_off);
    if (level && msi && edge)
        signal_msi(a);
}

static void port_event(AhciPort *p, uint32_t bits)
{
    p->is |= bits;
    update_irq(p->ahci, (bits & p->ie) != 0);
}

/* ---- the received FIS area ---------------------------------------------- */

static uint8_t *fis_area(AhciPort *p, unsigned off, unsigned len)
{
    if (!(p->cmd & CMD_FRE))                     /* not received (see cmd_write's log) */
        return NULL;
    uint8_t *f = vmm_vm_gpa_to_hva(p->ahci->vm, u64_of(p->fb, p->fbu) + off, len);
    if (!f)
        ide_log_once(&p->ch, IDE_LOG_FIS, "the received FIS area (PxFB) is outside guest "
                     "RAM; FISes are dropped");
    return f;
}

static void set_tfd(AhciPort *p)
{
    IdeTaskFile *t = &p->ch.drive[0].tf;
    p->tfd = (uint32_t)t->error << 8 | t->status;
}

/* The task file fields a device-to-host FIS carries (the Register D2H
 * and PIO Setup layouts agree on bytes 0-13). */
static void fis_task_file(uint8_t *f, uint8_t type, uint8_t flags, const IdeTaskFile *t,
                          uint8_t select)
{
    memset(f, 0, 20);
    f[0] = type;
    f[1] = flags;
    f[2] = t->status;
    f[3] = t->error;
    f[4] = t->lbal;
    f[5] = t->lbam;
    f[6] = t->lbah;
    f[7] = select;
    f[8] = t->hob_lbal;
    f[9] = t->hob_lbam;
    f[10] = t->hob_lbah;
    f[12] = t->nsector;
    f[13] = t->hob_nsector;
}

/* The drive's Register D2H FIS: its task file after a command or reset. */
static void post_d2h(AhciPort *p, bool irq)
{
    IdeTaskFile *t = &p->ch.drive[0].tf;
    set_tfd(p);
    uint8_t *f = fis_area(p, RX_D2H, 20);
    if (!f)
        return;
    fis_task_file(f, FIS_D2H, irq ? 0x40 : 0, t, p->ch.select);
}

/* Data went to the host: the PIO Setup FIS, whose E_Status hosts read for
 * the end state of PIO data-in commands (Linux's ahci_qc_fill_rtf). */
static void post_pio_setup(AhciPort *p)
{
    IdeTaskFile *t = &p->ch.drive[0].tf;
    uint8_t *f = fis_area(p, RX_PIO, 20);
    if (!f)
        return;
    fis_task_file(f, FIS_PIO_SETUP, 0x20 | 0x40, t, p->ch.select);   /* D to H, interrupt */
    f[15] = t->status;                           /* E_Status */
    uint16_t n = (uint16_t)MIN(p->bytes, (uint64_t)0xffff);
    f[16] = n & 0xff;
    f[17] = n >> 8;
}

static void post_sdb(AhciPort *p, uint32_t done, uint8_t status, uint8_t error)
{
    uint8_t *f = fis_area(p, RX_SDB, 8);
    if (!f)
        return;
    f[0] = FIS_SDB;
    f[1] = 0x40;
    f[2] = status & 0x77;
    f[3] = error;
    f[4] = done & 0xff;
    f[5] = (done >> 8) & 0xff;
    f[6] = (done >> 16) & 0xff;
    f[7] = done >> 24;
}

/* ---- the drive core's transport ----------------------------------------- */

static void ahci_irq(IdeChannel *ch)
{
    AhciPort *p = ch->opaque;
    p->irq_req = true;
}

static bool ahci_dma_ready(IdeChannel *ch)
{
    (void)ch;
    return true;                                 /* the PRDT is there with the command */
}

static const char *ahci_dma_check(IdeChannel *ch, bool to_mem)
{
    (void)to_mem;
    AhciPort *p = ch->opaque;
    if (!(pci_get_u16(p->ahci->pci.cfg + PCI_COMMAND) & PCI_COMMAND_MASTER))
        return "bus mastering is off in the PCI command register";
    return NULL;
}

static bool ahci_sg_entry(IdeChannel *ch, unsigned i, uint64_t *addr, uint32_t *len, bool *last,
                          const char **why)
{
    AhciPort *p = ch->opaque;
    if (i >= p->prdtl) {
        *why = p->prdtl ? "the PRDT holds fewer bytes than the command transfers"
                        : "the command transfers data but has no PRDT (PRDTL 0)";
        return false;
    }
    const uint8_t *e = vmm_vm_gpa_to_hva(p->ahci->vm, p->ctba + CT_PRDT + 16ull * i, 16);
    if (!e) {
        *why = "a PRDT entry is outside guest RAM";
        return false;
    }
    uint32_t dw3 = pci_get_u32(e + 12);
    *addr = u64_of(pci_get_u32(e) & ~1u, pci_get_u32(e + 4));
    *len = (dw3 & PRD_DBC) + 1;                  /* byte count, 0-based */
    *last = i + 1 == p->prdtl;
    if (dw3 & PRD_I)
        p->dps = true;
    return true;
}

static void ahci_dma_done(IdeChannel *ch, uint64_t bytes, bool ok)
{
    (void)ok;
    AhciPort *p = ch->opaque;
    p->bytes = bytes;
    if (ch->xfer != XFER_DISK_OUT)
        p->data_in = true;
}

static const IdeTransport ahci_transport = {
    .irq = ahci_irq, .dma_ready = ahci_dma_ready, .dma_check = ahci_dma_check,
    .sg_entry = ahci_sg_entry, .dma_done = ahci_dma_done, .sg_only = true,
};

/* ---- commands ----------------------------------------------------------- */

/* An error that stops the port: the guest recovers with ST 1->0 (then 0->1)
 * or a COMRESET. */
static void port_fail(AhciPort *p, uint32_t is_bit, uint8_t error)
{
    IdeDrive *d = &p->ch.drive[0];
    ide_xfer_stop(&p->ch);
    d->tf.status = ATA_DRDY | ATA_ERR;
    d->tf.error = error;
    p->stalled = true;
    post_d2h(p, true);
    port_event(p, is_bit);
}

/* The device after a reset (COMRESET, SRST, spin-up): its signature in
 * PxSIG and an initial Register D2H FIS. */
static void drive_signature(AhciPort *p)
{
    ata_channel_reset(&p->ch);
    IdeDrive *d = &p->ch.drive[0];
    p->sig = d->atapi ? SIG_ATAPI : SIG_ATA;
    post_d2h(p, false);
}

static void load_task_file(AhciPort *p, const uint8_t *cfis)
{
    IdeTaskFile *t = &p->ch.drive[0].tf;
    t->feature = cfis[3];
    t->lbal = cfis[4];
    t->lbam = cfis[5];
    t->lbah = cfis[6];
    t->hob_lbal = cfis[8];
    t->hob_lbam = cfis[9];
    t->hob_lbah = cfis[10];
    t->hob_feature = cfis[11];
    t->nsector = cfis[12];
    t->hob_nsector = cfis[13];
    /* one drive per port: always "unit 0" of the drive core */
    p->ch.select = (cfis[7] & ~0x10) | 0xa0;
}

/* A Register H2D FIS with C = 0: a device control write (SRST). */
static void control_fis(AhciPort *p, const uint8_t *cfis)
{
    uint8_t old = p->ch.ctl;
    p->ch.ctl = cfis[15];
    if (cfis[15] & 0x04) {
        ide_xfer_stop(&p->ch);
        p->ch.drive[0].tf.status = ATA_BSY;
        set_tfd(p);
    } else if (old & 0x04) {
        drive_signature(p);
    }
}

/* A non-queued command: runs to its end in the drive core. */
static void run_command(AhciPort *p, unsigned slot, uint8_t *hdr, const uint8_t *ct)
{
    IdeChannel *ch = &p->ch;
    IdeDrive *d = &ch->drive[0];
    p->irq_req = p->dps = p->data_in = false;
    p->bytes = 0;
    load_task_file(p, ct);
    ata_command(ch, ct[2]);
    if (ch->xfer == XFER_PACKET) {
        if (!(pci_get_u32(hdr) & HDR_ATAPI))
            ide_log_once(ch, IDE_LOG_CMD, "%s: PACKET in a command header without the A "
                         "bit; the ACMD is used anyway", ide_name(ch, 0));
        memcpy(ch->packet, ct + CT_ACMD, 12);
        atapi_packet(ch);
    }
    if (ch->xfer != XFER_NONE) {                 /* cannot happen with sg_only; be safe */
        ide_log_once(ch, IDE_LOG_CMD, "%s: command %02xh did not finish; aborted",
                     ide_name(ch, 0), ct[2]);
        ide_xfer_stop(ch);
        d->tf.status = ATA_DRDY | ATA_ERR;
        d->tf.error = ATA_E_ABRT;
    }
    pci_set_u32(hdr + 4, (uint32_t)p->bytes);    /* PRDBC */
    if (p->data_in)
        post_pio_setup(p);
    post_d2h(p, true);
    if (d->tf.status & ATA_ERR) {
        p->stalled = true;                       /* PxCI keeps the failed slot */
        port_event(p, IS_TFES | IS_DHRS);
        return;
    }
    p->ci &= ~(1u << slot);
    port_event(p, IS_DHRS | (p->dps ? IS_DPS : 0));
}

static void ncq_done(VmmBlockReq *req, int ret)
{
    ((NcqReq *)req->opaque)->ret = ret;
}

/* Queue one READ/WRITE FPDMA QUEUED; false (logged) when it is refused. */
static bool ncq_submit(AhciPort *p, unsigned slot, const uint8_t *ct, VmmBlockQueue *q)
{
    IdeChannel *ch = &p->ch;
    IdeDrive *d = &ch->drive[0];
    bool write = ct[2] == CMD_WRITE_FPDMA;
    unsigned tag = ct[12] >> 3;
    uint64_t count = (uint64_t)ct[11] << 8 | ct[3];
    uint64_t lba = (uint64_t)ct[10] << 40 | (uint64_t)ct[9] << 32 | (uint64_t)ct[8] << 24 |
                   (uint64_t)ct[6] << 16 | (uint64_t)ct[5] << 8 | ct[4];
    if (!count)
        count = 65536;
    if (d->atapi || !d->blk) {
        ide_log_once(ch, IDE_LOG_NCQ, "%s: FPDMA QUEUED to an ATAPI device refused",
                     ide_name(ch, 0));
        return false;
    }
    if (tag != slot || !(p->sact & (1u << slot))) {
        ide_log_once(ch, IDE_LOG_NCQ, "%s: NCQ command in slot %u with tag %u%s refused (the "
                     "tag must be the slot, and PxSACT set before PxCI)", ide_name(ch, 0),
                     slot, tag, p->sact & (1u << slot) ? "" : " and PxSACT clear");
        return false;
    }
    if (write && vmm_block_is_readonly(d->blk)) {
        ide_log_once(ch, IDE_LOG_CMD, "%s: write to a read-only disk", ide_name(ch, 0));
        return false;
    }
    if (lba > d->sectors || count > d->sectors - lba) {
        ide_log_once(ch, IDE_LOG_RANGE, "%s: NCQ command asks for sectors past the end of "
                     "the disk (%" G_GUINT64_FORMAT " sectors)", ide_name(ch, 0), d->sectors);
        return false;
    }
    NcqReq *r = &p->ncq[slot];
    uint64_t want = count * ATA_SECTOR, got;
    const char *why = "";
    AtaSgPos pos = { 0 };
    r->iov = g_new(struct iovec, MAX(p->prdtl, 1u));
    const char *off = ahci_dma_check(ch, !write);
    int n = off ? -1 : ata_sg_map(ch, &pos, want, r->iov, MAX(p->prdtl, 1u), &got, &why);
    if (n < 0 || got < want) {
        ide_log_once(ch, IDE_LOG_PRD, "%s: NCQ command in slot %u refused: %s",
                     ide_name(ch, 0), slot, off ? off : n < 0 ? why
                     : "the PRDT holds fewer bytes than the command transfers");
        g_clear_pointer(&r->iov, g_free);
        return false;
    }
    r->port = p;
    r->slot = slot;
    r->fua = ct[7] & 0x80;
    r->ret = -EINPROGRESS;
    r->req = (VmmBlockReq){ .op = write ? VMM_BLOCK_WRITE : VMM_BLOCK_READ,
                            .offset = lba * ATA_SECTOR, .len = want, .iov = r->iov,
                            .iovcnt = (unsigned)n, .complete = ncq_done, .opaque = r };
    vmm_block_submit(q, &r->req);
    return true;
}

/* One pass over the slots set in PxCI, in slot order: the NCQ commands
 * together, up to the first non-queued command after them; true when the
 * queued ones completed and a later pass may run what waited for them. */
static bool port_pass(AhciPort *p)
{
    VmmVm *vm = p->ahci->vm;
    IdeDrive *d = &p->ch.drive[0];
    uint32_t queued = 0, refused = 0;
    bool writes = false, fua = false;
    VmmBlockQueue *q = d->blk ? vmm_block_queue(d->blk, 0) : NULL;
    for (unsigned slot = 0; slot < SLOTS && !p->stalled; slot++) {
        if (!(p->ci & (1u << slot)) || (queued & (1u << slot)))
            continue;
        if (!(p->cmd & CMD_ST))
            break;
        p->cmd = (p->cmd & ~(0x1fu << CMD_CCS_SHIFT)) | slot << CMD_CCS_SHIFT;
        uint8_t *hdr = vmm_vm_gpa_to_hva(vm, u64_of(p->clb, p->clbu) + 32ull * slot, 32);
        if (!hdr) {
            ide_log_once(&p->ch, IDE_LOG_CMDLIST, "the command list (PxCLB) is outside guest "
                         "RAM; port stopped (host bus fatal error)");
            port_fail(p, IS_HBFS, ATA_E_ABRT);
            break;
        }
        uint32_t dw0 = pci_get_u32(hdr);
        p->ctba = u64_of(pci_get_u32(hdr + 8) & ~0x7fu, pci_get_u32(hdr + 12));
        p->prdtl = dw0 >> 16;
        const uint8_t *ct = vmm_vm_gpa_to_hva(vm, p->ctba, CT_PRDT);
        if (!ct) {
            ide_log_once(&p->ch, IDE_LOG_CMDLIST, "slot %u: the command table is outside "
                         "guest RAM; port stopped (host bus fatal error)", slot);
            port_fail(p, IS_HBFS, ATA_E_ABRT);
            break;
        }
        if (ct[0] != FIS_H2D || (dw0 & HDR_CFL) < 5) {
            ide_log_once(&p->ch, IDE_LOG_CMDLIST, "slot %u: the command FIS is no Register "
                         "H2D FIS (type %02xh, %u dwords); aborted", slot, ct[0],
                         dw0 & HDR_CFL);
            port_fail(p, IS_TFES, ATA_E_ABRT);
            break;
        }
        if (!p->present) {
            port_fail(p, IS_TFES, ATA_E_ABRT);
            break;
        }
        if (!(ct[1] & 0x80)) {
            control_fis(p, ct);
            pci_set_u32(hdr + 4, 0);
            p->ci &= ~(1u << slot);
            continue;
        }
        if (ct[2] == CMD_READ_FPDMA || ct[2] == CMD_WRITE_FPDMA) {
            if (q && ncq_submit(p, slot, ct, q)) {
                queued |= 1u << slot;
                writes |= ct[2] == CMD_WRITE_FPDMA;
                fua |= p->ncq[slot].fua;
            } else {
                refused |= 1u << slot;
                break;                           /* the device aborts the queue */
            }
            continue;
        }
        if (queued)                              /* a non-queued command waits for the queue */
            break;
        run_command(p, slot, hdr, ct);
    }
    if (!queued && !refused)
        return false;
    /* the drive accepted the queued commands: PxCI clears, PxSACT stays */
    p->ci &= ~queued;
    if (queued)
        vmm_block_queue_drain(q);
    uint32_t done = 0, failed = refused;
    for (unsigned slot = 0; slot < SLOTS; slot++) {
        if (!(queued & (1u << slot)))
            continue;
        NcqReq *r = &p->ncq[slot];
        if (r->ret < 0) {
            ide_log_once(&p->ch, IDE_LOG_IO, "%s: NCQ %s at byte %" G_GUINT64_FORMAT
                         " failed: %s", ide_name(&p->ch, 0),
                         r->req.op == VMM_BLOCK_WRITE ? "write" : "read", r->req.offset,
                         g_strerror(-r->ret));
            failed |= 1u << slot;
        } else {
            done |= 1u << slot;
        }
        g_clear_pointer(&r->iov, g_free);
    }
    if (done && writes) {
        int fr = fua ? ata_blk_io(d, VMM_BLOCK_FLUSH, 0, NULL, 0, 0) : ata_flush_if_no_wce(d);
        if (fr < 0) {
            failed |= done & p->sact;
            done = 0;
        }
    }
    if (done) {
        p->sact &= ~done;
        d->tf.status = ATA_DRDY | ATA_DSC;
        d->tf.error = 0;
        set_tfd(p);
        post_sdb(p, done, d->tf.status, 0);
        port_event(p, IS_SDBS);
    }
    if (failed) {
        /* as a drive does: the error stops the queue; the guest's error
         * handling restarts the port (the failed slots stay in PxSACT) */
        d->tf.status = ATA_DRDY | ATA_ERR;
        d->tf.error = ATA_E_ABRT | ATA_E_IDNF;
        set_tfd(p);
        post_sdb(p, 0, d->tf.status, d->tf.error);
        p->stalled = true;
        port_event(p, IS_TFES | IS_SDBS);
    }
    return queued && !failed;
}

/* Run every slot set in PxCI; each pass clears at least one slot. */
static void port_process(AhciPort *p)
{
    while (port_pass(p) && p->ci && !p->stalled && (p->cmd & CMD_ST))
        ;
}

/* ---- ports -------------------------------------------------------------- */

static void link_up(AhciPort *p)
{
    p->link = p->present;
    if (p->link)
        drive_signature(p);
}

/* COMRESET (PxSCTL.DET = 1) or a port reset: no command survives. */
static void port_reset(AhciPort *p)
{
    ide_xfer_stop(&p->ch);
    p->ci = p->sact = 0;
    p->stalled = false;
    p->link = false;
    p->ch.drive[0].tf.status = ATA_BSY;
    set_tfd(p);
    p->sig = 0xffffffffu;
}

static uint32_t port_read(AhciPort *p, unsigned reg)
{
    switch (reg) {
    case PX_CLB: return p->clb;
    case PX_CLBU: return p->clbu;
    case PX_FB: return p->fb;
    case PX_FBU: return p->fbu;
    case PX_IS: return p->is;
    case PX_IE: return p->ie;
    case PX_CMD: return p->cmd;
    case PX_TFD: return p->tfd;
    case PX_SIG: return p->sig;
    case PX_SSTS:
        if (p->link)
            return SSTS_UP;
        return p->present && (p->sctl & 0xf) != 4 ? 1 : 0;   /* present, no phy */
    case PX_SCTL: return p->sctl;
    case PX_SERR: return p->serr;
    case PX_SACT: return p->sact;
    case PX_CI: return p->ci;
    default: return 0;
    }
}

static void cmd_write(AhciPort *p, uint32_t v)
{
    uint32_t old = p->cmd;
    uint32_t rw = CMD_ST | CMD_SUD | CMD_POD | CMD_FRE;
    p->cmd = (p->cmd & ~rw) | (v & rw);
    p->cmd = (p->cmd & ~CMD_FR) | (p->cmd & CMD_FRE ? CMD_FR : 0);
    if ((v & CMD_CLO) && p->present) {           /* command list override: drop BSY/DRQ */
        p->ch.drive[0].tf.status &= ~(ATA_BSY | ATA_DRQ);
        set_tfd(p);
    }
    if (!(old & CMD_SUD) && (v & CMD_SUD) && (p->sctl & 0xf) == 0)
        link_up(p);                              /* spin-up: COMINIT from the device */
    if (!(old & CMD_ST) && (v & CMD_ST)) {
        if (!(v & CMD_FRE))
            ide_log_once(&p->ch, IDE_LOG_PORT, "port started (PxCMD.ST) without FIS receive "
                         "(PxCMD.FRE); commands run but post no FIS");
        p->cmd |= CMD_CR;
    } else if ((old & CMD_ST) && !(v & CMD_ST)) {
        /* stop: PxCI and PxSACT clear, an error stall ends */
        p->cmd &= ~(CMD_CR | (0x1fu << CMD_CCS_SHIFT));
        p->ci = p->sact = 0;
        p->stalled = false;
    }
}

static void sctl_write(AhciPort *p, uint32_t v)
{
    uint32_t old = p->sctl;
    p->sctl = v & 0xfff;
    unsigned det = v & 0xf, was = old & 0xf;
    if (det == 1 && was != 1) {
        if (p->cmd & CMD_ST)
            ide_log_once(&p->ch, IDE_LOG_PORT, "COMRESET (PxSCTL.DET = 1) while the port "
                         "runs (PxCMD.ST); the port is reset anyway");
        port_reset(p);
    } else if (det == 0 && was == 1 && (p->cmd & CMD_SUD)) {
        link_up(p);
    } else if (det == 4) {
        port_reset(p);
    }
}

static void port_write(AhciPort *p, unsigned reg, uint32_t v)
{
    switch (reg) {
    case PX_CLB: p->clb = v & ~0x3ffu; return;
    case PX_CLBU: p->clbu = v; return;
    case PX_FB: p->fb = v & ~0xffu; return;
    case PX_FBU: p->fbu = v; return;
    case PX_IS: p->is &= ~v; update_irq(p->ahci, false); return;
    case PX_IE: p->ie = v & IS_VALID; update_irq(p->ahci, (p->is & p->ie) != 0); return;
    case PX_CMD: cmd_write(p, v); break;
    case PX_SCTL: sctl_write(p, v); return;
    case PX_SERR: p->serr &= ~v; return;
    case PX_SACT:
        if (p->cmd & CMD_ST)
            p->sact |= v;
        return;
    case PX_CI:
        if (!(p->cmd & CMD_ST)) {
            ide_log_once(&p->ch, IDE_LOG_PORT, "PxCI written while the port is stopped "
                         "(PxCMD.ST = 0); ignored");
            return;
        }
        p->ci |= v;
        break;
    default:
        return;
    }
    if ((p->cmd & CMD_ST) && p->ci && !p->stalled)
        port_process(p);
}

/* ---- the HBA ------------------------------------------------------------ */

static void hba_reset(VmmAhci *a)
{
    a->ghc = GHC_AE;
    a->is = 0;
    for (unsigned i = 0; i < VMM_AHCI_PORTS; i++) {
        AhciPort *p = &a->port[i];
        port_reset(p);
        p->is = p->ie = p->serr = p->sctl = 0;
        p->cmd = p->ch.drive[0].atapi ? CMD_ATAPI : 0;
        p->ch.ctl = 0;
    }
    update_irq(a, false);
}

static uint32_t hba_read(VmmAhci *a, unsigned off)
{
    if (off >= HBA_PORTS) {
        unsigned i = (off - HBA_PORTS) / PORT_SIZE;
        return i < VMM_AHCI_PORTS ? port_read(&a->port[i], (off - HBA_PORTS) % PORT_SIZE) : 0;
    }
    switch (off) {
    case HBA_CAP:
        return CAP_S64A | CAP_SNCQ | CAP_SSS | CAP_ISS_GEN2 | CAP_SAM |
               (SLOTS - 1) << 8 | (VMM_AHCI_PORTS - 1);
    case HBA_GHC: return a->ghc;
    case HBA_IS: return a->is;
    case HBA_PI: return (1u << VMM_AHCI_PORTS) - 1;
    case HBA_VS: return AHCI_VERSION;
    default: return 0;                           /* CCC, EM, CAP2, BOHC: none */
    }
}

static void hba_write(VmmAhci *a, unsigned off, uint32_t v)
{
    if (off >= HBA_PORTS) {
        unsigned i = (off - HBA_PORTS) / PORT_SIZE;
        if (i < VMM_AHCI_PORTS)
            port_write(&a->port[i], (off - HBA_PORTS) % PORT_SIZE, v);
        return;
    }
    switch (off) {
    case HBA_GHC:
        if (v & GHC_HR) {
            hba_reset(a);                        /* done at once: HR reads back 0 */
            return;
        }
        a->ghc = GHC_AE | (v & GHC_IE);
        update_irq(a, true);
        return;
    case HBA_IS:
        a->is &= ~v;
        update_irq(a, false);                    /* ports still pending set it again */
        return;
    default:
        return;
    }
}

static uint64_t abar_read(void *opaque, uint64_t off, unsigned size)
{
    VmmAhci *a = opaque;
    g_mutex_lock(&a->lock);
    uint64_t v = hba_read(a, (unsigned)off & ~3u);
    if (size == 8)
        v |= (uint64_t)hba_read(a, ((unsigned)off & ~3u) + 4) << 32;
    else
        v = (v >> (8 * (off & 3))) & (size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1);
    g_mutex_unlock(&a->lock);
    return v;
}

static void abar_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    VmmAhci *a = opaque;
    g_mutex_lock(&a->lock);
    if (size == 4 && !(off & 3)) {
        hba_write(a, (unsigned)off, (uint32_t)value);
    } else if (size == 8 && !(off & 7)) {
        hba_write(a, (unsigned)off, (uint32_t)value);
        hba_write(a, (unsigned)off + 4, (uint32_t)(value >> 32));
    } else {
        /* registers are dwords (AHCI 1.3 section 3); a part write of a
         * write-1-to-clear or command register has no sane meaning */
        unsigned i = off >= HBA_PORTS ? (unsigned)(off - HBA_PORTS) / PORT_SIZE : 0;
        ide_log_once(&a->port[MIN(i, VMM_AHCI_PORTS - 1)].ch, IDE_LOG_REG,
                     "%u-byte write at ABAR offset %#x ignored (registers take dword "
                     "writes)", size, (unsigned)off);
    }
    g_mutex_unlock(&a->lock);
}

static const VmmRegionOps abar_ops = { "ahci-abar", abar_read, abar_write };

static void ahci_config_written(VmmPciDevice *pci, unsigned offset, unsigned size)
{
    (void)offset;
    (void)size;
    VmmAhci *a = pci->opaque;
    g_mutex_lock(&a->lock);
    update_irq(a, false);                        /* INTx disable, MSI enable */
    g_mutex_unlock(&a->lock);
}

static void ahci_pci_reset(VmmPciDevice *pci)
{
    VmmAhci *a = pci->opaque;
    g_mutex_lock(&a->lock);
    hba_reset(a);
    g_mutex_unlock(&a->lock);
}

static const VmmPciDeviceOps ahci_pci_ops = {
    .name = "ich9-ahci", .config_written = ahci_config_written, .reset = ahci_pci_reset,
};

/* ---- life cycle --------------------------------------------------------- */

VmmAhci *vmm_ahci_new(VmmVm *vm, int slot, GError **err)
{
    VmmAhci *a = g_new0(VmmAhci, 1);
    a->vm = vm;
    g_mutex_init(&a->lock);
    for (unsigned i = 0; i < VMM_AHCI_PORTS; i++) {
        AhciPort *p = &a->port[i];
        p->ahci = a;
        p->index = i;
        p->ch.vm = vm;
        p->ch.ops = &ahci_transport;
        p->ch.opaque = p;
        p->ch.index = i;
        p->ch.ncq_depth = SLOTS;
        p->ch.buf = g_malloc0(IDE_BUF_SIZE);
        g_snprintf(p->ch.label, sizeof(p->ch.label), "ahci port %u", i);
    }
    for (guint i = 0; vm->def->disks && i < vm->def->disks->len; i++) {
        const VmmDiskDef *disk = g_ptr_array_index(vm->def->disks, i);
        if (disk->bus != VMM_DISK_BUS_SATA)
            continue;
        AhciPort *p = &a->port[disk->ide_unit % VMM_AHCI_PORTS];
        IdeDrive *d = &p->ch.drive[0];
        p->present = d->present = true;
        d->atapi = disk->device == VMM_DISK_DEVICE_CDROM;
        d->disk = disk;
        if (disk->path && !ata_drive_open(d, disk->path, -1, err)) {
            vmm_ahci_free(a);
            return NULL;
        }
    }
    hba_reset(a);
    VmmPciDevice *pci = &a->pci;
    vmm_pci_device_init(pci, &ahci_pci_ops, a, 0x8086, 0x2922, 0x010601, 0x02, 0x1af4, 0x1100);
    pci->cfg[PCI_INTERRUPT_PIN] = 1;
    vmm_pci_device_set_bar(pci, ABAR, ABAR_SIZE, false, false, &abar_ops, a);
    /* MSI: one vector, 64-bit address, no per-vector masking */
    a->msi_cap = vmm_pci_device_add_capability(pci, 0x05, 14);
    pci->cfg[a->msi_cap + 2] = 0x80;
    pci->wmask[a->msi_cap + 2] = 0x71;           /* enable, multiple message enable */
    pci_set_u32(pci->wmask + a->msi_cap + 4, 0xfffffffc);
    pci_set_u32(pci->wmask + a->msi_cap + 8, 0xffffffff);
    pci_set_u16(pci->wmask + a->msi_cap + 12, 0xffff);
    /* ICH9 PCS: ports enabled (Linux's Intel quirk rewrites it) */
    pci->cfg[0x92] = (1u << VMM_AHCI_PORTS) - 1;
    pci->wmask[0x92] = 0xff;
    if (!vmm_pci_host_add_device(vm->pci, pci, slot, err)) {
        pci->host = NULL;
        vmm_ahci_free(a);
        return NULL;
    }
    a->intx = vmm_irq_line_source(&vm->gsi_line[pci->cfg[PCI_INTERRUPT_LINE] % IOAPIC_NR_PINS],
                                  err);
    if (!a->intx) {
        vmm_ahci_free(a);
        return NULL;
    }
    return a;
}

void vmm_ahci_free(VmmAhci *a)
{
    if (!a)
        return;
    if (a->intx)
        vmm_irq_set(a->intx, 0);
    if (a->pci.host && a->pci.bar[ABAR].mapped)
        vmm_bus_unregister(&a->vm->mmio, a->pci.bar[ABAR].mapped_addr);
    for (unsigned i = 0; i < VMM_AHCI_PORTS; i++) {
        ide_drive_eject(&a->port[i].ch.drive[0]);
        g_free(a->port[i].ch.buf);
    }
    g_mutex_clear(&a->lock);
    g_free(a);
}

static IdeDrive *find_drive(VmmAhci *a, const char *target_dev, AhciPort **port);

bool vmm_ahci_get_stats(VmmAhci *a, const char *target_dev, VmmBlockStats *out)
{
    memset(out, 0, sizeof(*out));
    if (!a)
        return false;
    AhciPort *p;
    g_mutex_lock(&a->lock);
    IdeDrive *d = find_drive(a, target_dev, &p);
    bool ok = d && d->blk;
    if (ok)
        vmm_block_get_stats(d->blk, out);
    g_mutex_unlock(&a->lock);
    return ok;
}

static IdeDrive *find_drive(VmmAhci *a, const char *target_dev, AhciPort **port)
{
    for (unsigned i = 0; i < VMM_AHCI_PORTS; i++) {
        IdeDrive *d = &a->port[i].ch.drive[0];
        if (d->present && strcmp(d->disk->target_dev, target_dev) == 0) {
            *port = &a->port[i];
            return d;
        }
    }
    return NULL;
}

char *vmm_ahci_medium(VmmAhci *a, const char *target_dev)
{
    if (!a)
        return NULL;
    AhciPort *p;
    g_mutex_lock(&a->lock);
    IdeDrive *d = find_drive(a, target_dev, &p);
    char *m = d ? g_strdup(d->medium) : NULL;   /* a guest eject may free it */
    g_mutex_unlock(&a->lock);
    return m;
}

bool vmm_ahci_change_media(VmmAhci *a, const char *target_dev, const char *path, int fd,
                           bool force, GError **err)
{
    AhciPort *p = NULL;
    g_mutex_lock(&a->lock);
    IdeDrive *d = find_drive(a, target_dev, &p);
    bool ok = false;
    if (!d || !d->atapi)
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_INVALID,
                    "disk %s: no SATA CD-ROM of that name (change-media takes a "
                    "<disk device='cdrom'> target)", target_dev);
    else {
        ok = ata_change_media(&p->ch, d, path, fd, force, err);
        fd = -1;
    }
    g_mutex_unlock(&a->lock);
    if (fd >= 0)
        close(fd);
    return ok;
}
