/* The AHCI port and its ATA drive (src/hw/ahci.c over ata.c) without KVM:
 * a guest RAM the test writes command lists, tables and PRDTs into, the
 * ABAR reached through the MMIO bus as a guest reaches it, and a real disk
 * (a memfd image through src/block/). The NCQ error path as SATA defines
 * it and libata relies on: a queued read past the end of the disk among
 * good ones, the Set Device Bits FIS with the error, the port stopped, the
 * drive aborting other commands, READ LOG (DMA) EXT of the NCQ Command
 * Error log (page 10h: tag, status, error, LBA, count, checksum) and of
 * the log directory, and the queue working again; a queued read the back
 * end fails (UNC), on a qcow2 image qemu-img made and the test corrupted. */
#include "../fuzz/fuzz-vm.h"
#include "hw/ahci.h"
#include "util/log.h"
#include "vmm/layout.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM_SIZE  0x100000
#define ABAR      0xc0000000u
#define PCI_SLOT  0x1f
#define SECTORS   2048u                  /* the disk: 1 MiB */
#define CLB       0x10000u
#define FB        0x11000u
#define CT(slot)  (0x20000u + 0x100u * (slot))
#define BUF(slot) (0x40000u + 0x1000u * (slot))
#define PORT(r)   (ABAR + 0x100 + (r))   /* port 0 */

enum { PX_IS = 0x10, PX_CMD = 0x18, PX_TFD = 0x20, PX_SCTL = 0x2c, PX_SACT = 0x34,
       PX_CI = 0x38 };
#define IS_SDBS (1u << 3)
#define IS_TFES (1u << 30)
#define CMD_ST  0x01
#define CMD_UP  0x16                     /* FRE | POD | SUD */

typedef struct {
    uint8_t *ram;
    VmmVm *vm;
    VmmDomainDef def;
    VmmDiskDef disk;
    VmmAhci *ahci;
    int fd;
} Rig;

static void no_line(VmmIrq *irq, int level)
{
    (void)irq;
    (void)level;
}

static uint32_t rd(Rig *r, uint64_t addr)
{
    uint64_t v = 0;
    vmm_bus_read(&r->vm->mmio, addr, 4, &v);
    return (uint32_t)v;
}

static void wr(Rig *r, uint64_t addr, uint32_t v)
{
    vmm_bus_write(&r->vm->mmio, addr, 4, v);
}

/* Sector s of the disk holds the bytes s * 7 + i. */
static uint8_t disk_byte(uint64_t s, unsigned i)
{
    return (uint8_t)(s * 7 + i);
}

/* Port 0's disk: qcow2 image `path`, or NULL: a raw memfd of disk_byte(). */
static void rig_init_disk(Rig *r, const char *qcow2)
{
    memset(r, 0, sizeof(*r));
    r->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_assert_true(r->ram != MAP_FAILED);
    r->fd = memfd_create("test-ahci-disk", MFD_CLOEXEC);
    g_assert_cmpint(r->fd, >=, 0);
    g_autofree uint8_t *img = g_malloc(SECTORS * 512);
    for (unsigned s = 0; s < SECTORS; s++)
        for (unsigned i = 0; i < 512; i++)
            img[s * 512 + i] = disk_byte(s, i);
    g_assert_cmpint(pwrite(r->fd, img, SECTORS * 512, 0), ==, SECTORS * 512);
    r->disk = (VmmDiskDef){ .path = qcow2 ? g_strdup(qcow2)
                                          : g_strdup_printf("/proc/self/fd/%d", r->fd),
                            .format = qcow2 ? VMM_DISK_FORMAT_QCOW2 : VMM_DISK_FORMAT_RAW,
                            .target_dev = (char *)"sda", .bus = VMM_DISK_BUS_SATA,
                            .pci_slot = -1 };
    r->def.disks = g_ptr_array_new();
    g_ptr_array_add(r->def.disks, &r->disk);
    r->vm = fuzz_vm_new(r->ram, RAM_SIZE, no_line);
    r->vm->def = &r->def;
    r->vm->vm_fd = -1;
    g_autoptr(GError) err = NULL;
    r->ahci = vmm_ahci_new(r->vm, PCI_SLOT, &err);
    g_assert_no_error(err);
    uint64_t cfg = LAYOUT_ECAM_BASE + (PCI_SLOT << 15);
    vmm_bus_write(&r->vm->mmio, cfg + 0x24, 4, ABAR);
    vmm_bus_write(&r->vm->mmio, cfg + PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    wr(r, PORT(0x00), CLB);
    wr(r, PORT(0x08), FB);
    wr(r, PORT(PX_CMD), CMD_UP);         /* spin-up: the link comes up */
    wr(r, PORT(PX_CMD), CMD_UP | CMD_ST);
}

static void rig_init(Rig *r)
{
    rig_init_disk(r, NULL);
}

static void rig_free(Rig *r)
{
    vmm_ahci_free(r->ahci);
    fuzz_vm_free(r->vm);
    g_ptr_array_free(r->def.disks, TRUE);
    g_free(r->disk.path);
    close(r->fd);
    munmap(r->ram, RAM_SIZE);
}

/* What libahci's ahci_stop_engine + ahci_start_engine do. */
static void port_restart(Rig *r)
{
    wr(r, PORT(PX_CMD), CMD_UP);
    g_assert_cmphex(rd(r, PORT(PX_CI)), ==, 0);
    g_assert_cmphex(rd(r, PORT(PX_SACT)), ==, 0);
    wr(r, PORT(PX_IS), 0xffffffffu);
    wr(r, PORT(PX_CMD), CMD_UP | CMD_ST);
}

/* Slot's header and table: a Register H2D FIS and one PRD of bytes at BUF(slot). */
static void prep(Rig *r, unsigned slot, uint8_t cmd, uint64_t lba, uint16_t count,
                 uint16_t feature, uint32_t bytes)
{
    uint8_t *h = r->ram + CLB + 32 * slot, *ct = r->ram + CT(slot);
    memset(ct, 0, 0x100);
    ct[0] = 0x27;
    ct[1] = 0x80;
    ct[2] = cmd;
    ct[3] = (uint8_t)feature;
    for (int i = 0; i < 3; i++) {
        ct[4 + i] = (uint8_t)(lba >> (8 * i));
        ct[8 + i] = (uint8_t)(lba >> (24 + 8 * i));
    }
    ct[7] = 0x40;
    ct[11] = (uint8_t)(feature >> 8);
    ct[12] = (uint8_t)count;
    ct[13] = (uint8_t)(count >> 8);
    pci_set_u32(ct + 0x80, BUF(slot));
    pci_set_u32(ct + 0x8c, bytes - 1);
    memset(h, 0, 32);
    pci_set_u32(h, 5 | 1u << 16);        /* CFL 5 dwords, one PRD */
    pci_set_u32(h + 8, CT(slot));
    memset(r->ram + BUF(slot), 0xee, bytes);
}

/* READ FPDMA QUEUED of n sectors at lba, tag = slot. */
static void prep_ncq(Rig *r, unsigned slot, uint64_t lba, uint16_t n)
{
    prep(r, slot, 0x60, lba, (uint16_t)(slot << 3), n, n * 512u);
}

/* Issue one non-queued command in slot 0: PxTFD after it. */
static uint32_t run1(Rig *r, uint8_t cmd, uint64_t lba, uint16_t count, uint32_t bytes)
{
    prep(r, 0, cmd, lba, count, 0, bytes ? bytes : 512);
    wr(r, PORT(PX_CI), 1);
    return rd(r, PORT(PX_TFD));
}

static bool sectors_read(Rig *r, unsigned slot, uint64_t lba, unsigned n)
{
    for (unsigned i = 0; i < n * 512; i++)
        if (r->ram[BUF(slot) + i] != disk_byte(lba + i / 512, i % 512))
            return false;
    return true;
}

static uint8_t sum8(const uint8_t *p, unsigned n)
{
    uint8_t s = 0;
    for (unsigned i = 0; i < n; i++)
        s += p[i];
    return s;
}

/* Tags 0, 1 and 3 good, tag 2 past the end: the port stops on tag 2. */
static void ncq_fail_tag2(Rig *r)
{
    for (unsigned s = 0; s < 4; s++)
        prep_ncq(r, s, s == 2 ? SECTORS - 4 : 100 + 8 * s, 8);
    wr(r, PORT(PX_SACT), 0xf);
    wr(r, PORT(PX_CI), 0xf);
}

static void test_log_page_10h(void)
{
    Rig r;
    rig_init(&r);
    ncq_fail_tag2(&r);
    uint32_t is = rd(&r, PORT(PX_IS));
    g_assert_cmphex(is & (IS_TFES | IS_SDBS), ==, IS_TFES | IS_SDBS);
    g_assert_cmphex(rd(&r, PORT(PX_TFD)), ==, 0x1441);          /* IDNF|ABRT, DRDY|ERR */
    /* one SDB FIS: tags 0 and 1 done, the error */
    const uint8_t *sdb = r.ram + FB + 0x58;
    g_assert_cmphex(sdb[0], ==, 0xa1);
    g_assert_cmphex(sdb[2], ==, 0x41);
    g_assert_cmphex(sdb[3], ==, 0x14);
    g_assert_cmphex(pci_get_u32(sdb + 4), ==, 0x3);
    g_assert_true(sectors_read(&r, 0, 100, 8));
    g_assert_true(sectors_read(&r, 1, 108, 8));
    /* tag 2 failed and tag 3 never ran: both still outstanding */
    g_assert_cmphex(rd(&r, PORT(PX_SACT)), ==, 0xc);
    g_assert_cmphex(rd(&r, PORT(PX_CI)) & 0x8, ==, 0x8);
    /* the port runs nothing until restarted */
    wr(&r, PORT(PX_CI), 0x10);
    g_assert_cmphex(rd(&r, PORT(PX_CI)) & 0x10, ==, 0x10);
    port_restart(&r);

    /* the drive's error condition: anything but the log is aborted */
    g_assert_cmphex(run1(&r, 0xc8, 100, 8, 4096), ==, 0x0441);
    g_assert_cmphex(rd(&r, PORT(PX_IS)) & IS_TFES, ==, IS_TFES);
    port_restart(&r);
    prep_ncq(&r, 0, 100, 8);
    wr(&r, PORT(PX_SACT), 1);
    wr(&r, PORT(PX_CI), 1);
    g_assert_cmphex(rd(&r, PORT(PX_TFD)), ==, 0x0441);
    port_restart(&r);

    /* READ LOG DMA EXT, page 10h */
    g_assert_cmphex(run1(&r, 0x47, 0x10, 1, 512), ==, 0x50);
    const uint8_t *log = r.ram + BUF(0);
    g_assert_cmpuint(pci_get_u32(r.ram + CLB + 4), ==, 512);    /* PRDBC */
    g_assert_cmphex(log[0], ==, 2);                              /* NQ 0, tag 2 */
    g_assert_cmphex(log[1], ==, 0);
    g_assert_cmphex(log[2], ==, 0x41);
    g_assert_cmphex(log[3], ==, 0x14);
    uint64_t lba = log[4] | log[5] << 8 | (uint64_t)log[6] << 16 | (uint64_t)log[8] << 24 |
                   (uint64_t)log[9] << 32 | (uint64_t)log[10] << 40;
    g_assert_cmpuint(lba, ==, SECTORS - 4);
    g_assert_cmphex(log[7], ==, 0x40);
    g_assert_cmpuint(log[12] | log[13] << 8, ==, 8);
    for (unsigned i = 14; i < 511; i++)
        g_assert_cmphex(log[i], ==, 0);
    g_assert_cmphex(sum8(log, 512), ==, 0);
    g_assert_cmphex(log[511], !=, 0);

    /* the condition ended: the page now says no queued command failed */
    g_assert_cmphex(run1(&r, 0x2f, 0x10, 1, 512), ==, 0x50);
    g_assert_cmphex(log[0], ==, 0x80);
    g_assert_cmphex(sum8(log, 512), ==, 0);

    /* and the queue works: all four tags in range */
    for (unsigned s = 0; s < 4; s++)
        prep_ncq(&r, s, 200 + 8 * s, 8);
    wr(&r, PORT(PX_SACT), 0xf);
    wr(&r, PORT(PX_CI), 0xf);
    g_assert_cmphex(rd(&r, PORT(PX_SACT)), ==, 0);
    g_assert_cmphex(rd(&r, PORT(PX_CI)), ==, 0);
    g_assert_cmphex(rd(&r, PORT(PX_TFD)), ==, 0x50);
    for (unsigned s = 0; s < 4; s++)
        g_assert_true(sectors_read(&r, s, 200 + 8 * s, 8));
    rig_free(&r);
}

/* A sector the back end cannot read (a qcow2 L2 entry pointing past the
 * end of the image, as test-qcow2 makes it): that queued read fails with
 * UNC among good ones, and page 10h names it. */
static void test_read_error(void)
{
    g_autofree char *qi = g_find_program_in_path("qemu-img");
    g_autofree char *qio = g_find_program_in_path("qemu-io");
    if (!qi || !qio) {
        g_test_skip("qemu-img/qemu-io not installed (Debian package qemu-utils)");
        return;
    }
    g_autofree char *dir = g_dir_make_tmp("test-ahci-XXXXXX", NULL);
    g_assert_nonnull(dir);
    g_autofree char *img = g_build_filename(dir, "bad.qcow2", NULL);
    g_autofree char *sh = g_strdup_printf("qemu-img create -q -f qcow2 -o cluster_size=65536 "
                                          "'%s' 1M && qemu-io -c 'write -P 0x5a 0 128k' '%s' "
                                          ">/dev/null", img, img);
    char *argv[] = { (char *)"/bin/sh", (char *)"-c", sh, NULL };
    int status = -1;
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL,
                               &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    /* L2 entry 1 (sectors 128-255) to 32 TiB: past the end of the file */
    int fd = open(img, O_RDWR);
    g_assert_cmpint(fd, >=, 0);
    uint64_t l1, l1e, bad = GUINT64_TO_BE(0x8000000000000000ull | 1ull << 45);
    g_assert_cmpint(pread(fd, &l1, 8, 40), ==, 8);
    g_assert_cmpint(pread(fd, &l1e, 8, (off_t)GUINT64_FROM_BE(l1)), ==, 8);
    off_t l2 = (off_t)(GUINT64_FROM_BE(l1e) & 0x00fffffffffffe00ull);
    g_assert_cmpint(pwrite(fd, &bad, 8, l2 + 8), ==, 8);
    close(fd);

    Rig r;
    rig_init_disk(&r, img);
    static const uint64_t lba[3] = { 0, 128, 16 };
    for (unsigned s = 0; s < 3; s++)
        prep_ncq(&r, s, lba[s], 8);
    g_test_expect_message(NULL, G_LOG_LEVEL_WARNING, "*past the end of the file*");
    wr(&r, PORT(PX_SACT), 0x7);
    wr(&r, PORT(PX_CI), 0x7);
    g_test_assert_expected_messages();
    g_assert_cmphex(rd(&r, PORT(PX_IS)) & IS_TFES, ==, IS_TFES);
    g_assert_cmphex(rd(&r, PORT(PX_TFD)), ==, 0x4041);          /* UNC */
    const uint8_t *sdb = r.ram + FB + 0x58;
    g_assert_cmphex(sdb[3], ==, 0x40);
    g_assert_cmphex(pci_get_u32(sdb + 4), ==, 0x5);             /* tags 0 and 2 done */
    g_assert_cmphex(rd(&r, PORT(PX_SACT)), ==, 0x2);
    for (unsigned i = 0; i < 4096; i++) {
        g_assert_cmphex(r.ram[BUF(0) + i], ==, 0x5a);
        g_assert_cmphex(r.ram[BUF(2) + i], ==, 0x5a);
    }
    port_restart(&r);
    g_assert_cmphex(run1(&r, 0x47, 0x10, 1, 512), ==, 0x50);
    const uint8_t *log = r.ram + BUF(0);
    g_assert_cmphex(log[0], ==, 1);
    g_assert_cmphex(log[3], ==, 0x40);
    g_assert_cmpuint(log[4] | log[5] << 8, ==, 128);
    g_assert_cmpuint(log[12], ==, 8);
    g_assert_cmphex(sum8(log, 512), ==, 0);
    rig_free(&r);
    g_unlink(img);
    g_rmdir(dir);
}

/* A COMRESET ends the error condition as well (the log is lost). */
static void test_reset_clears(void)
{
    Rig r;
    rig_init(&r);
    ncq_fail_tag2(&r);
    g_assert_cmphex(rd(&r, PORT(PX_IS)) & IS_TFES, ==, IS_TFES);
    wr(&r, PORT(PX_CMD), CMD_UP);
    wr(&r, PORT(PX_SCTL), 0x301);
    wr(&r, PORT(PX_SCTL), 0x300);
    wr(&r, PORT(PX_IS), 0xffffffffu);
    wr(&r, PORT(PX_CMD), CMD_UP | CMD_ST);
    g_assert_cmphex(run1(&r, 0xc8, 100, 8, 4096), ==, 0x50);
    g_assert_true(sectors_read(&r, 0, 100, 8));
    g_assert_cmphex(run1(&r, 0x47, 0x10, 1, 512), ==, 0x50);
    g_assert_cmphex(r.ram[BUF(0)], ==, 0x80);
    rig_free(&r);
}

/* The directory, IDENTIFY's GPL bits, and logs or pages the drive lacks. */
static void test_directory(void)
{
    Rig r;
    rig_init(&r);
    g_assert_cmphex(run1(&r, 0x2f, 0x00, 1, 512), ==, 0x50);
    const uint8_t *dir = r.ram + BUF(0);
    for (unsigned w = 0; w < 256; w++)
        g_assert_cmpuint(dir[2 * w] | dir[2 * w + 1] << 8, ==, w == 0 || w == 0x10 ? 1 : 0);
    g_assert_cmphex(run1(&r, 0xec, 0, 0, 512), ==, 0x50);
    const uint8_t *id = r.ram + BUF(0);
    g_assert_cmphex(id[2 * 84] & 0x20, ==, 0x20);
    g_assert_cmphex(id[2 * 87] & 0x20, ==, 0x20);
    g_assert_cmphex(id[2 * 86 + 1] & 0x80, ==, 0x80);
    g_assert_cmphex(id[2 * 119] & 0x08, ==, 0x08);
    g_assert_cmphex(id[2 * 120] & 0x08, ==, 0x08);
    /* log 30h (not kept), page 1 of log 10h, no pages: command aborted */
    static const struct { uint64_t lba; uint16_t count; } bad[] = {
        { 0x30, 1 }, { 0x110, 1 }, { 0x10, 0 }, { 0x10, 2 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_cmphex(run1(&r, 0x2f, bad[i].lba, bad[i].count, 512), ==, 0x0441);
        port_restart(&r);
    }
    rig_free(&r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    vmm_log_set_level(VMM_LOG_ERROR);   /* the hostile cases log warnings */
    g_test_add_func("/ahci/ncq-error/log-page-10h", test_log_page_10h);
    g_test_add_func("/ahci/ncq-error/read-error", test_read_error);
    g_test_add_func("/ahci/ncq-error/comreset", test_reset_clears);
    g_test_add_func("/ahci/read-log/directory", test_directory);
    return g_test_run();
}
