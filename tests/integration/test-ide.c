/* IDE end to end on the real worker: the guest kit's test=ide (ATA PIO and
 * DMA, LBA48 above 2^28 sectors on a sparse 140 GiB image, flush, hostile
 * PRD tables and register orders, ATAPI on a raw 2048-byte-sector image)
 * over several cache x io modes; the data the guest wrote is in the image
 * file afterwards; definitions vmmd refuses name why. */
#include "daemon-harness.h"
#include "harness.h"
#include "proto/proto.h"
#include "block/block.h"

#include <signal.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TIMEOUT 180.0
#define CD_SECTORS 300

static char *make_cd(const char *dir)
{
    return harness_make_cd_image(dir, "cd.iso", CD_SECTORS, 0xcd000000u);
}

typedef struct { const char *cache, *io; } Mode;

static void test_guest(gconstpointer data)
{
    const Mode *m = data;
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *img = harness_make_image(dir, "hda.img", 140 * 1024);
    g_autofree char *cd = make_cd(dir);
    g_autofree char *devs = g_strdup_printf(
        "<disk type='file' device='disk'><driver name='qemu' type='raw' cache='%s' io='%s'/>"
        "<source file='%s'/><target dev='hda' bus='ide'/></disk>"
        "<disk type='file' device='cdrom'><source file='%s'/><target dev='hdc' bus='ide'/>"
        "</disk>", m->cache, m->io, img, cd);
    g_autofree char *cmdline = g_strdup_printf("test=ide cd_sectors=%d", CD_SECTORS);
    HarnessDomain d = { .cmdline = cmdline, .extra_devices = devs };
    g_autoptr(HarnessRun) r = harness_run_guest(dir, &d, TIMEOUT);
    /* every group ran: disk, hostile, CD-ROM */
    static const char *const must[] = {
        "ide_identify", "ide_pio_rw", "ide_multiple", "ide_dma_rw", "ide_lba48", "ide_flush",
        "ide_hostile_lba_range", "ide_hostile_dma_past_end", "ide_hostile_prd_outside_ram",
        "ide_hostile_prd_no_end", "ide_hostile_prd_short", "ide_hostile_order",
        "ide_hostile_absent", "atapi_identify", "atapi_read10_pio", "atapi_read12_dma",
        "atapi_request_sense", "atapi_zero_and_odd_lengths", "atapi_eject",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(must); i++) {
        g_autoptr(GPtrArray) c = harness_find(r, "check", must[i]);
        if (c->len != 1)
            g_test_message("check %s missing", must[i]);
        g_assert_cmpuint(c->len, ==, 1);
    }
    g_autoptr(GPtrArray) l48 = harness_find(r, "check", "ide_lba48");
    json_object *above = NULL;
    g_assert_true(json_object_object_get_ex(l48->pdata[0], "above_2_28", &above));
    g_assert_true(json_object_get_boolean(above));
    /* the hostile sequences were logged, once each */
    g_assert_nonnull(strstr(r->err, "PRD table is outside guest RAM"));
    g_assert_nonnull(strstr(r->err, "past the end of the disk"));
    /* what the guest wrote by PIO at LBA 100 (fill tag 1) is in the file */
    int fd = open(img, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    guint32 w[1024];
    g_assert_cmpint(pread(fd, w, sizeof(w), 100 * 512), ==, sizeof(w));
    close(fd);
    for (guint32 i = 0; i < G_N_ELEMENTS(w); i++)
        g_assert_cmphex(GUINT32_FROM_LE(w[i]), ==, 1 * 0x9e3779b9u ^ i * 0x85ebca6bu);
}

/* hda a qcow2 overlay (qemu-img) on a raw base filled with 0x5c: test=ide
 * passes on it, qemu-img finds it clean, it holds the guest's PIO write at
 * LBA 100 and still reads the base where the guest wrote nothing. */
static void test_qcow2(void)
{
    if (!harness_have_qemu_img())
        return;
    g_autofree char *rel = harness_tmpdir();
    g_autofree char *dir = g_canonicalize_filename(rel, NULL);
    g_autofree char *cmd = g_strdup_printf(
        "cd '%s' && qemu-img create -q -f raw base.raw 64M && "
        "qemu-io -f raw -c 'write -P 0x5c 0 64M' base.raw >/dev/null && "
        "qemu-img create -q -f qcow2 -o cluster_size=65536 -b base.raw -F raw top.qcow2", dir);
    g_assert_cmpint(harness_sh(cmd), ==, 0);
    g_autofree char *top = g_build_filename(dir, "top.qcow2", NULL);
    g_autofree char *cd = make_cd(dir);
    g_autofree char *devs = g_strdup_printf(
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none' "
        "io='native'/><source file='%s'/><target dev='hda' bus='ide'/></disk>"
        "<disk type='file' device='cdrom'><source file='%s'/><target dev='hdc' bus='ide'/>"
        "</disk>", top, cd);
    g_autofree char *cmdline = g_strdup_printf("test=ide cd_sectors=%d", CD_SECTORS);
    HarnessDomain d = { .cmdline = cmdline, .extra_devices = devs };
    g_autoptr(HarnessRun) r = harness_run_guest(dir, &d, TIMEOUT);
    g_autoptr(GPtrArray) id = harness_find(r, "check", "ide_identify");
    json_object *sectors = NULL;
    g_assert_cmpuint(id->len, ==, 1);
    g_assert_true(json_object_object_get_ex(id->pdata[0], "sectors", &sectors));
    g_assert_cmpint(json_object_get_int64(sectors), ==, 64 * 2048);   /* the virtual size */
    g_autofree char *conv = g_strdup_printf("cd '%s' && qemu-img check -q top.qcow2 && "
                                            "qemu-img convert -f qcow2 -O raw top.qcow2 out.raw",
                                            dir);
    g_assert_cmpint(harness_sh(conv), ==, 0);
    g_autofree char *out = g_build_filename(dir, "out.raw", NULL);
    int fd = open(out, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    guint32 w[1024];
    g_assert_cmpint(pread(fd, w, sizeof(w), 100 * 512), ==, sizeof(w));
    for (guint32 i = 0; i < G_N_ELEMENTS(w); i++)
        g_assert_cmphex(GUINT32_FROM_LE(w[i]), ==, 1 * 0x9e3779b9u ^ i * 0x85ebca6bu);
    guint8 b[512];
    g_assert_cmpint(pread(fd, b, sizeof(b), 50 * 512), ==, sizeof(b));
    close(fd);
    for (size_t i = 0; i < sizeof(b); i++)
        g_assert_cmphex(b[i], ==, 0x5c);
}

static void test_refused(void)
{
    static const char *cases[][2] = {
        { "<disk type='file' device='disk'><source file='%s'/><target dev='hde' bus='ide'/>"
          "</disk>", "hda, hdb, hdc and hdd" },
        { "<disk type='file' device='cdrom'><source file='%s'/><target dev='vda' bus='virtio'/>"
          "</disk>", "needs <target bus='ide'>" },
        { "<disk type='file' device='disk'><source file='%s'/><target dev='hda' bus='ide'/>"
          "<address type='drive' controller='0' bus='1' target='0' unit='0'/></disk>",
          "does not match target dev 'hda'" },
        { "<disk type='file' device='disk'><source file='%s'/><target dev='hda' bus='ide'/>"
          "</disk><disk type='file' device='disk'><source file='%s.2'/>"
          "<target dev='vda' bus='virtio'/><address type='pci' slot='1'/></disk>",
          "holds the IDE controller" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *dir = harness_tmpdir();
        g_autofree char *img = harness_make_image(dir, "d.img", 8);
        g_autofree char *unused = harness_make_image(dir, "d.img.2", 8);
        g_autofree char *devs = g_strdup_printf(cases[i][0], img, img);
        harness_assert_refused(devs, cases[i][1], TIMEOUT);
    }
}

/* change-media through the worker's control socket, in step with the
 * guest's test=ide-media. */
#define NEW_SECTORS 77

typedef struct {
    char *sock, *new_iso;
    VmmProtoSync *ctl;
    char *insert_err, *locked_err, *forced_err, *nofd_err;
    int steps;
    json_object *block;          /* query-stats' hdc entry after the change */
} Media;

/* fd: the image opened as vmmd opens it (the confined worker opens no
 * file), -1 for none */
static char *change_media_fd(Media *m, const char *source, int fd, bool force)
{
    json_object *a = json_object_new_object();
    json_object_object_add(a, "device", json_object_new_string("hdc"));
    if (source)
        json_object_object_add(a, "source", json_object_new_string(source));
    json_object_object_add(a, "force", json_object_new_boolean(force));
    g_autoptr(GError) e = NULL;
    json_object *r = vmm_proto_sync_call_fd(m->ctl, "change-media", a, fd, &e);
    json_object_put(r);
    return r ? NULL : g_strdup(e->message);
}

static char *change_media(Media *m, const char *source, bool force)
{
    return change_media_fd(m, source, -1, force);
}

static gboolean on_media_line(const char *line, GPid pid, void *opaque)
{
    Media *m = opaque;
    (void)pid;
    if (strstr(line, "{\"media\":\"ready\"}")) {
        g_autoptr(GError) e = NULL;
        m->ctl = vmm_proto_sync_connect(m->sock, 10000, &e);
        if (!m->ctl) {
            g_test_message("control socket: %s", e->message);
            return TRUE;
        }
        /* by path alone: the confined worker cannot open it, and says so */
        m->nofd_err = change_media(m, m->new_iso, false);
        int fd = open(m->new_iso, vmm_block_open_flags(true, VMM_CACHE_WRITEBACK));
        g_assert_cmpint(fd, >=, 0);
        m->insert_err = change_media_fd(m, m->new_iso, fd, false);
        m->steps++;
    } else if (strstr(line, "{\"media\":\"locked\"}") && m->ctl) {
        g_autoptr(GError) e = NULL;
        json_object *st = vmm_proto_sync_call(m->ctl, "query-stats", NULL, &e), *blocks;
        if (st && json_object_object_get_ex(st, "block", &blocks) &&
            json_object_array_length(blocks) == 1)
            m->block = json_object_get(json_object_array_get_idx(blocks, 0));
        json_object_put(st);
        m->locked_err = change_media(m, NULL, false);
        m->forced_err = change_media(m, NULL, true);
        m->steps++;
    }
    return TRUE;
}

/* empty: the domain starts with an empty tray (no <source>) */
static void test_media(gconstpointer data)
{
    bool empty = GPOINTER_TO_INT(data);
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *cd = make_cd(dir);
    Media m = { .sock = g_build_filename(dir, "ctl.sock", NULL),
                .new_iso = harness_make_cd_image(dir, "new.iso", NEW_SECTORS, 0xce000000u) };
    g_autofree char *src = empty ? g_strdup("") : g_strdup_printf("<source file='%s'/>", cd);
    g_autofree char *devs = g_strdup_printf(
        "<disk type='file' device='cdrom'>%s<target dev='hdc' bus='ide'/></disk>", src);
    g_autofree char *cmdline = g_strdup_printf("test=ide-media cd_sectors=%d new_sectors=%d",
                                               empty ? 0 : CD_SECTORS, NEW_SECTORS);
    HarnessDomain d = { .cmdline = cmdline, .extra_devices = devs };
    g_autofree char *xml = harness_write_domain(dir, &d);
    /* sandboxed: the new medium comes as a descriptor, as vmmd sends it */
    const char *const args[] = { "--control-socket", m.sock, NULL };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, args, TIMEOUT, on_media_line, &m);
    if (m.ctl)
        vmm_proto_sync_free(m.ctl);
    harness_assert_clean_stderr(r);
    if (r->exit_status != 0 || harness_done_count(r, "failed") != 0)
        g_test_message("exit %d\nstdout:\n%s\nstderr:\n%s", r->exit_status, r->out, r->err);
    g_assert_cmpint(m.steps, ==, 2);
    g_test_message("by path: %s", m.nofd_err);
    g_assert_nonnull(m.nofd_err);
    g_assert_nonnull(strstr(m.nofd_err, "cannot open"));
    g_assert_nonnull(strstr(m.nofd_err, m.new_iso));
    g_assert_nonnull(strstr(m.nofd_err, "opens no file"));
    g_assert_null(m.insert_err);
    /* the guest locked the tray: refused without force, done with it */
    g_assert_nonnull(m.locked_err);
    g_assert_nonnull(strstr(m.locked_err, "locked the tray"));
    g_assert_null(m.forced_err);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_assert_cmpint(harness_done_count(r, "failed"), ==, 0);
    g_autoptr(GPtrArray) ch = harness_find(r, "check", "ide_media_change");
    g_autoptr(GPtrArray) ej = harness_find(r, "check", "ide_media_eject");
    g_assert_cmpuint(ch->len, ==, 1);
    g_assert_cmpuint(ej->len, ==, 1);
    /* domblkstat's numbers: the new medium, one READ(10) of two sectors */
    g_assert_nonnull(m.block);
    json_object *v;
    g_assert_true(json_object_object_get_ex(m.block, "path", &v));
    g_assert_cmpstr(json_object_get_string(v), ==, m.new_iso);
    g_assert_true(json_object_object_get_ex(m.block, "rd_reqs", &v));
    g_assert_cmpint(json_object_get_int64(v), ==, 1);
    g_assert_true(json_object_object_get_ex(m.block, "rd_bytes", &v));
    g_assert_cmpint(json_object_get_int64(v), ==, 4096);
    json_object_put(m.block);
    g_free(m.insert_err);
    g_free(m.nofd_err);
    g_free(m.locked_err);
    g_free(m.forced_err);
    g_free(m.sock);
    g_free(m.new_iso);
}

/* vmmctl change-media through the daemon, as a user types it. */
static bool vmmctl(Vmmd *v, char **out, char **err, ...)
{
    g_autofree char *ctl = harness_path("client/vmmctl");
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, ctl);
    g_ptr_array_add(argv, (char *)"-c");
    g_ptr_array_add(argv, v->sock);
    va_list ap;
    va_start(ap, err);
    for (char *a; (a = va_arg(ap, char *));)
        g_ptr_array_add(argv, a);
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    int status = -1;
    g_autoptr(GError) e = NULL;
    bool ran = g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out,
                            err, &status, &e);
    g_ptr_array_free(argv, TRUE);
    g_assert_true(ran);
    return g_spawn_check_wait_status(status, NULL);
}

static void test_daemon(void)
{
    signal(SIGABRT, on_abort);
    Vmmd v;
    vmmd_init(&v);
    /* sandboxed: vmmd opens the new image and passes its descriptor */
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    g_autofree char *cd = make_cd(v.dir);
    g_autofree char *new_iso = harness_make_cd_image(v.dir, "new.iso", NEW_SECTORS, 0xce000000u);
    g_autofree char *cmdline = g_strdup_printf("test=ide-media cd_sectors=%d new_sectors=%d",
                                               CD_SECTORS, NEW_SECTORS);
    Dom d = { .name = "cd1", .cmdline = cmdline };
    g_autofree char *base = domain_xml(&v, &d);
    GString *xml = g_string_new(base);
    g_autofree char *disk = g_strdup_printf("<disk type='file' device='cdrom'><source file='%s'/>"
                                            "<target dev='hdc' bus='ide'/></disk>", cd);
    g_string_insert(xml, strstr(xml->str, "</devices>") - xml->str, disk);
    json_object_put(call_ok(s, "domain-define", define_args(xml->str)));
    g_string_free(xml, TRUE);
    domain_op(s, "domain-start", "cd1");
    wait_running(s, "cd1");
    g_autofree char *serial = serial_path(&v, "cd1");
    wait_serial(serial, "{\"media\":\"ready\"}", 1);
    g_autofree char *o1 = NULL, *e1 = NULL, *o2 = NULL, *e2 = NULL, *o3 = NULL, *e3 = NULL;
    g_autofree char *o4 = NULL, *e4 = NULL;
    /* not a CD-ROM: refused by name */
    g_assert_false(vmmctl(&v, &o4, &e4, "change-media", "cd1", "hda", "--eject", NULL));
    g_assert_nonnull(strstr(e4, "has no CD-ROM 'hda'"));
    g_assert_true(vmmctl(&v, &o1, &e1, "change-media", "cd1", "hdc", new_iso, "--insert", NULL));
    g_assert_nonnull(strstr(o1, "Successfully inserted media."));
    wait_serial(serial, "{\"media\":\"locked\"}", 1);
    /* domblkstat counts the CD-ROM as virsh does: the new medium's one read */
    g_autofree char *o5 = NULL, *e5 = NULL;
    g_assert_true(vmmctl(&v, &o5, &e5, "domblkstat", "cd1", "hdc", NULL));
    g_test_message("domblkstat: %s", o5);
    g_assert_nonnull(strstr(o5, "hdc rd_req 1\n"));
    g_assert_nonnull(strstr(o5, "hdc rd_bytes 4096\n"));
    g_assert_false(vmmctl(&v, &o2, &e2, "change-media", "cd1", "hdc", "--eject", NULL));
    g_test_message("refused: %s", e2);
    g_assert_nonnull(strstr(e2, "locked the tray"));
    g_assert_true(vmmctl(&v, &o3, &e3, "change-media", "cd1", "hdc", "--eject", "--force",
                         NULL));
    g_assert_nonnull(strstr(o3, "Successfully ejected media."));
    wait_serial(serial, "\"check\":\"ide_media_eject\",\"ok\":true", 1);
    wait_serial(serial, "\"failed\": 0", 1);
    vmmd_cleanup(&v);
}

static void skip_no_kvm(void)
{
    g_test_skip("/dev/kvm is not accessible on this host");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_add_func("/ide/no-kvm", skip_no_kvm);
        return g_test_run();
    }
    static const Mode modes[] = {
        { "writeback", "threads" }, { "none", "native" }, { "writethrough", "io_uring" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
        g_autofree char *path = g_strdup_printf("/ide/guest/%s/%s", modes[i].io, modes[i].cache);
        g_test_add_data_func(path, &modes[i], test_guest);
    }
    g_test_add_func("/ide/qcow2", test_qcow2);
    g_test_add_func("/ide/refused", test_refused);
    g_test_add_data_func("/ide/media/change", GINT_TO_POINTER(0), test_media);
    g_test_add_data_func("/ide/media/empty-tray", GINT_TO_POINTER(1), test_media);
    g_test_add_func("/ide/daemon/change-media", test_daemon);
    return g_test_run();
}
