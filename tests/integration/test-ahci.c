/* AHCI end to end on the real worker: the guest kit's test=ahci (IDENTIFY,
 * DMA, LBA48 above 2^28 sectors on a sparse 140 GiB image, FLUSH, NCQ with
 * 32 tags, errors, hostile command lists and PRDTs, COMRESET, ATAPI on a
 * raw 2048-byte-sector image) over three cache x io modes, with a second
 * disk that is a qcow2 overlay (made by qemu-img, placed on port 4 by its
 * <address>) which qemu-img then finds clean and holding what the guest
 * wrote; definitions vmmd refuses name why. */
#include "harness.h"
#include "proto/proto.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TIMEOUT 180.0
#define CD_SECTORS 300
#define QCOW2_PORT 4

/* The guest kit's fill(): what it writes with `tag`. */
static void fill(guint32 *w, size_t words, guint32 tag)
{
    for (guint32 i = 0; i < words; i++)
        w[i] = GUINT32_TO_LE(tag * 0x9e3779b9u ^ i * 0x85ebca6bu);
}

typedef struct { const char *cache, *io; } Mode;

static void test_guest(gconstpointer data)
{
    const Mode *m = data;
    g_autofree char *rel = harness_tmpdir();
    g_autofree char *dir = g_canonicalize_filename(rel, NULL);
    g_autofree char *img = harness_make_image(dir, "sda.img", 140 * 1024);
    g_autofree char *cd = harness_make_cd_image(dir, "cd.iso", CD_SECTORS, 0xcd000000u);
    g_autofree char *qi = g_find_program_in_path("qemu-img"), *qio = g_find_program_in_path("qemu-io");
    bool qemu_img = qi && qio;
    g_autofree char *top = g_build_filename(dir, "top.qcow2", NULL);
    g_autofree char *extra = NULL;
    if (qemu_img) {
        g_autofree char *cmd = g_strdup_printf(
            "cd '%s' && qemu-img create -q -f raw base.raw 16M && "
            "qemu-io -f raw -c 'write -P 0x5c 0 16M' base.raw >/dev/null && cp base.raw ref.raw && "
            "qemu-img create -q -f qcow2 -o cluster_size=65536 -b base.raw -F raw top.qcow2", dir);
        g_assert_cmpint(harness_sh(cmd), ==, 0);
        extra = g_strdup_printf(
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='%s' "
            "io='%s'/><source file='%s'/><target dev='sdc' bus='sata'/>"
            "<address type='drive' controller='0' bus='0' target='0' unit='%d'/></disk>",
            m->cache, m->io, top, QCOW2_PORT);
    } else {
        g_test_message("qemu-img/qemu-io not installed (Debian package qemu-utils): no qcow2 "
                       "disk");
        extra = g_strdup("");
    }
    g_autofree char *devs = g_strdup_printf(
        "<disk type='file' device='disk'><driver name='qemu' type='raw' cache='%s' io='%s'/>"
        "<source file='%s'/><target dev='sda' bus='sata'/></disk>"
        "<disk type='file' device='cdrom'><source file='%s'/><target dev='sdb' bus='sata'/>"
        "</disk>%s", m->cache, m->io, img, cd, extra);
    g_autofree char *cmdline = g_strdup_printf("test=ahci cd_sectors=%d", CD_SECTORS);
    HarnessDomain d = { .cmdline = cmdline, .extra_devices = devs };
    g_autoptr(HarnessRun) r = harness_run_guest(dir, &d, TIMEOUT);
    static const char *const must[] = {
        "ahci_pci", "ahci_identify", "ahci_dma_rw", "ahci_lba48", "ahci_flush", "ahci_ncq", "ahci_ncq_then_flush",
        "ahci_error_lba_range", "ahci_msi", "ahci_intx", "ahci_hostile_ct_outside_ram", "ahci_hostile_prd_outside_ram",
        "ahci_hostile_prd_zero", "ahci_hostile_prd_huge", "ahci_hostile_dma_past_end",
        "ahci_hostile_ncq_tag", "ahci_hostile_ci_unset_slot", "ahci_hostile_no_fre",
        "ahci_comreset", "ahci_atapi_identify", "ahci_atapi_inquiry", "ahci_atapi_capacity",
        "ahci_atapi_read10", "ahci_atapi_write_refused",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(must); i++) {
        g_autoptr(GPtrArray) c = harness_find(r, "check", must[i]);
        if (c->len != 1)
            g_test_message("check %s missing", must[i]);
        g_assert_cmpuint(c->len, ==, 1);
    }
    g_autoptr(GPtrArray) l48 = harness_find(r, "check", "ahci_lba48");
    json_object *above = NULL;
    g_assert_true(json_object_object_get_ex(l48->pdata[0], "above_2_28", &above));
    g_assert_true(json_object_get_boolean(above));
    /* the hostile sequences were logged */
    g_assert_nonnull(strstr(r->err, "command table is outside guest RAM"));
    g_assert_nonnull(strstr(r->err, "past the end of the disk"));
    g_assert_nonnull(strstr(r->err, "without FIS receive"));
    /* what the guest wrote by DMA at LBA 1000 (fill tag 3) is in the file */
    int fd = open(img, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    guint32 w[1024], want[1024];
    g_assert_cmpint(pread(fd, w, sizeof(w), 1000 * 512), ==, sizeof(w));
    close(fd);
    fill(want, G_N_ELEMENTS(want), 3);
    g_assert_cmpmem(w, sizeof(w), want, sizeof(want));
    if (!qemu_img)
        return;
    g_autoptr(GPtrArray) others = harness_find(r, "check", "ahci_other_disks");
    g_assert_cmpuint(others->len, ==, 1);
    json_object *ports = NULL;   /* the <address> put sdc on port 4 */
    g_assert_true(json_object_object_get_ex(others->pdata[0], "ports", &ports));
    g_assert_cmpint(json_object_get_int(ports), ==, 1 << QCOW2_PORT);
    /* the overlay: clean, and the base with the guest's 64 KiB at LBA 2048 */
    g_autofree char *ref = g_build_filename(dir, "ref.raw", NULL);
    g_autofree guint32 *pat = g_new(guint32, 16384);
    fill(pat, 16384, 50 + QCOW2_PORT);
    fd = open(ref, O_WRONLY);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, pat, 65536, 2048 * 512), ==, 65536);
    close(fd);
    g_autofree char *check = g_strdup_printf("qemu-img check -q '%s' && qemu-img compare -q "
                                             "-f qcow2 -F raw '%s' '%s'", top, top, ref);
    g_assert_cmpint(harness_sh(check), ==, 0);
}

/* query-stats while test=ahci runs (after its DMA check): the SATA disk's
 * counters, as domblkstat shows them, and the CD-ROM's entry; then
 * change-media on the SATA CD-ROM (refused on the disk). */
typedef struct {
    char *sock, *new_iso;
    json_object *blocks, *after;
    char *hda_err;
} Stats;

static json_object *query_blocks(VmmProtoSync *ctl)
{
    g_autoptr(GError) e = NULL;
    json_object *r = vmm_proto_sync_call(ctl, "query-stats", NULL, &e), *blocks, *out = NULL;
    if (r && json_object_object_get_ex(r, "block", &blocks))
        out = json_object_get(blocks);
    json_object_put(r);
    return out;
}

static char *change_media(VmmProtoSync *ctl, const char *dev, const char *source)
{
    json_object *a = json_object_new_object();
    json_object_object_add(a, "device", json_object_new_string(dev));
    json_object_object_add(a, "source", json_object_new_string(source));
    g_autoptr(GError) e = NULL;
    json_object *r = vmm_proto_sync_call(ctl, "change-media", a, &e);
    json_object_put(r);
    return r ? NULL : g_strdup(e->message);
}

static gboolean on_stats_line(const char *line, GPid pid, void *opaque)
{
    (void)pid;
    Stats *st = opaque;
    if (st->blocks || !strstr(line, "\"check\":\"ahci_dma_rw\""))
        return TRUE;
    g_autoptr(GError) e = NULL;
    VmmProtoSync *ctl = vmm_proto_sync_connect(st->sock, 10000, &e);
    if (!ctl) {
        g_test_message("control socket: %s", e->message);
        return TRUE;
    }
    st->blocks = query_blocks(ctl);
    /* a disk is no CD-ROM; the CD-ROM takes a new image of the same data
     * (the guest's CD checks then see a unit attention first) */
    st->hda_err = change_media(ctl, "sda", st->new_iso);
    g_autofree char *cd_err = change_media(ctl, "sdb", st->new_iso);
    if (cd_err)
        g_test_message("change-media sdb: %s", cd_err);
    else
        st->after = query_blocks(ctl);
    vmm_proto_sync_free(ctl);
    return TRUE;
}

static json_object *block_entry(json_object *blocks, const char *name)
{
    for (size_t i = 0; i < json_object_array_length(blocks); i++) {
        json_object *b = json_object_array_get_idx(blocks, i), *v;
        if (json_object_object_get_ex(b, "name", &v) &&
            strcmp(json_object_get_string(v), name) == 0)
            return b;
    }
    return NULL;
}

static gint64 block_field(json_object *blocks, const char *name, const char *field)
{
    json_object *b = block_entry(blocks, name), *v;
    if (!b)
        return -2;
    return json_object_object_get_ex(b, field, &v) ? json_object_get_int64(v) : -1;
}

static void test_stats(void)
{
    g_autofree char *rel = harness_tmpdir();
    g_autofree char *dir = g_canonicalize_filename(rel, NULL);
    g_autofree char *img = harness_make_image(dir, "sda.img", 64);
    g_autofree char *cd = harness_make_cd_image(dir, "cd.iso", CD_SECTORS, 0xcd000000u);
    g_autofree char *devs = g_strdup_printf(
        "<disk type='file' device='disk'><source file='%s'/><target dev='sda' bus='sata'/>"
        "</disk><disk type='file' device='cdrom'><source file='%s'/>"
        "<target dev='sdb' bus='sata'/></disk>", img, cd);
    g_autofree char *cmdline = g_strdup_printf("test=ahci cd_sectors=%d", CD_SECTORS);
    HarnessDomain d = { .cmdline = cmdline, .extra_devices = devs };
    g_autofree char *xml = harness_write_domain(dir, &d);
    Stats st = { .sock = g_build_filename(dir, "ctl.sock", NULL),
                 .new_iso = harness_make_cd_image(dir, "new.iso", CD_SECTORS, 0xcd000000u) };
    /* --no-sandbox: a confined worker opens no file, and change-media
     * opens one (as in test-ide) */
    const char *const args[] = { "--control-socket", st.sock, "--no-sandbox", NULL };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, args, TIMEOUT, on_stats_line, &st);
    harness_assert_clean_stderr(r);
    if (r->exit_status != 0 || harness_done_count(r, "failed") != 0)
        g_test_message("exit %d\nstdout:\n%s\nstderr:\n%s", r->exit_status, r->out, r->err);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_assert_cmpint(harness_done_count(r, "failed"), ==, 0);
    g_assert_nonnull(st.blocks);
    g_test_message("blocks: %s", json_object_to_json_string(st.blocks));
    /* by then: IDENTIFY (no I/O), WRITE DMA and READ DMA of 32 KiB, READ SECTORS */
    g_assert_cmpint(block_field(st.blocks, "sda", "wr_reqs"), >=, 1);
    g_assert_cmpint(block_field(st.blocks, "sda", "wr_bytes"), >=, 32768);
    g_assert_cmpint(block_field(st.blocks, "sda", "rd_reqs"), >=, 2);
    g_assert_cmpint(block_field(st.blocks, "sda", "rd_bytes"), >=, 32768 + 512);
    g_assert_cmpint(block_field(st.blocks, "sdb", "rd_reqs"), ==, 0);   /* not read yet */
    g_assert_nonnull(st.hda_err);
    g_assert_nonnull(strstr(st.hda_err, "no SATA CD-ROM"));
    g_assert_nonnull(st.after);
    json_object *path = NULL;
    g_assert_true(json_object_object_get_ex(block_entry(st.after, "sdb"), "path", &path));
    g_assert_cmpstr(json_object_get_string(path), ==, st.new_iso);
    g_assert_nonnull(strstr(r->err, "disk sdb: new medium inserted"));
    json_object_put(st.blocks);
    json_object_put(st.after);
    g_free(st.hda_err);
    g_free(st.new_iso);
    g_free(st.sock);
}

static void test_refused(void)
{
    static const char *cases[][2] = {
        { "<disk type='file' device='disk'><source file='%s'/><target dev='sdg' bus='sata'/>"
          "</disk>", "ports 0 to 5 (sda to sdf)" },
        { "<disk type='file' device='disk'><source file='%s'/><target dev='sda' bus='sata'/>"
          "<address type='drive' controller='0' bus='0' target='0' unit='6'/></disk>",
          "has ports 0 to 5" },
        { "<disk type='file' device='disk'><source file='%s'/><target dev='sda' bus='sata'/>"
          "</disk><disk type='file' device='disk'><source file='%s.2'/>"
          "<target dev='sdb' bus='sata'/>"
          "<address type='drive' controller='0' bus='0' target='0' unit='0'/></disk>",
          "both on SATA port 0" },
        { "<disk type='file' device='disk'><source file='%s'/><target dev='sda' bus='sata'/>"
          "</disk><disk type='file' device='disk'><source file='%s.2'/>"
          "<target dev='vda' bus='virtio'/><address type='pci' slot='0x1f'/></disk>",
          "holds the AHCI controller" },
        { "<disk type='file' device='disk'><source file='%s'/><target dev='hda' bus='sata'/>"
          "</disk>", "not supported on bus 'sata'" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *dir = harness_tmpdir();
        g_autofree char *img = harness_make_image(dir, "d.img", 8);
        g_autofree char *unused = harness_make_image(dir, "d.img.2", 8);
        g_autofree char *devs = g_strdup_printf(cases[i][0], img, img);
        harness_assert_refused(devs, cases[i][1], TIMEOUT);
    }
}

static void skip_no_kvm(void)
{
    g_test_skip("/dev/kvm is not accessible on this host");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_add_func("/ahci/no-kvm", skip_no_kvm);
        return g_test_run();
    }
    static const Mode modes[] = {
        { "writeback", "threads" }, { "none", "native" }, { "writethrough", "io_uring" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
        g_autofree char *path = g_strdup_printf("/ahci/guest/%s/%s", modes[i].io, modes[i].cache);
        g_test_add_data_func(path, &modes[i], test_guest);
    }
    g_test_add_func("/ahci/refused", test_refused);
    g_test_add_func("/ahci/stats", test_stats);
    return g_test_run();
}
