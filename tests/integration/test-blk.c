/* virtio-blk end to end on the real worker: the guest kit's test=blk for
 * every cache x io combination libvirt allows (with discard, serial, a
 * read-only second disk and multiqueue), the refused combinations, the
 * hostile-queue test, and durability: data written and flushed survives
 * kill -9 of the worker, read back by a second boot; qcow2 disks: the same
 * run on a qcow2 overlay and on a raw copy compared with qemu-img, guest
 * discards on qcow2, and kill -9 mid-write leaving no corruption; the I/O
 * thread's busy-poll keeping guest notifications off while it polls. */
#include "harness.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TIMEOUT 90.0

static const char *caches[] = { "writeback", "writethrough", "none", "directsync", "unsafe" };
static const char *ios[] = { "threads", "native", "io_uring" };

static bool allowed(const char *cache, const char *io)
{
    return strcmp(io, "native") || !strcmp(cache, "none") || !strcmp(cache, "directsync");
}

static char *disk_xml(const char *img, const char *dev, const char *cache, const char *io,
                      const char *extra_driver, const char *extra)
{
    return g_strdup_printf("<disk type='file' device='disk'>"
                           "<driver name='qemu' type='raw' cache='%s' io='%s'%s/>"
                           "<source file='%s'/><target dev='%s' bus='virtio'/>%s</disk>",
                           cache, io, extra_driver ? extra_driver : "", img, dev,
                           extra ? extra : "");
}

typedef struct { const char *cache, *io; } Combo;

static void test_combo(gconstpointer data)
{
    const Combo *c = data;
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *img = harness_make_image(dir, "vda.img", 64);
    g_autofree char *ro = harness_make_image(dir, "vdb.img", 8);
    g_autofree char *d1 = disk_xml(img, "vda", c->cache, c->io, " discard='unmap' queues='2'",
                                   "<serial>vmmd-0001</serial>");
    g_autofree char *d2 = disk_xml(ro, "vdb", c->cache, c->io, NULL,
                                   "<readonly/><serial>ro-disk</serial>");
    g_autofree char *devs = g_strconcat(d1, d2, NULL);
    HarnessDomain d = { .vcpus = 2, .memory_mib = 256,
                        .cmdline = "test=blk serial=vmmd-0001,ro-disk ro=0,1",
                        .extra_devices = devs };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r);
    if (r->exit_status != 0 || harness_done_count(r, "failed") != 0)
        g_test_message("exit %d\nstdout:\n%s\nstderr:\n%s", r->exit_status, r->out, r->err);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_assert_cmpint(harness_done_count(r, "failed"), ==, 0);
    /* Both disks initialised, GET_ID, multiqueue and the read-only checks ran. */
    g_autoptr(GPtrArray) init = harness_find(r, "check", "blk_init");
    g_assert_cmpuint(init->len, ==, 2);
    g_autoptr(GPtrArray) mq = harness_find(r, "check", "blk_mq");
    g_assert_cmpuint(mq->len, >=, 1);
    g_autoptr(GPtrArray) id = harness_find(r, "check", "blk_get_id");
    g_assert_cmpuint(id->len, ==, 2);
    g_autoptr(GPtrArray) rof = harness_find(r, "check", "blk_read_only");
    g_assert_cmpuint(rof->len, >=, 1);
    /* The write-cache view matches the mode: WCE on for writeback, none,
     * unsafe; off for writethrough and directsync. */
    json_object *wce = NULL;
    g_assert_true(json_object_object_get_ex(init->pdata[0], "wce", &wce));
    bool want = strcmp(c->cache, "writethrough") && strcmp(c->cache, "directsync");
    g_assert_cmpint(json_object_get_int(wce), ==, want);
}

static void test_refused(void)
{
    /* libvirt's rule: native needs no host cache; a bad format is named. */
    static const char *cases[][3] = {
        { "writeback", "native", "native I/O needs either no disk cache or directsync" },
        { "writethrough", "native", "native I/O needs" },
        { "unsafe", "native", "native I/O needs" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *dir = harness_tmpdir();
        g_autofree char *img = harness_make_image(dir, "vda.img", 8);
        g_autofree char *disk = disk_xml(img, "vda", cases[i][0], cases[i][1], NULL, NULL);
        HarnessDomain d = { .cmdline = "test=blk", .extra_devices = disk };
        g_autofree char *xml = harness_write_domain(dir, &d);
        g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, 30, NULL, NULL);
        harness_assert_clean_stderr(r);
        g_assert_cmpint(r->exit_status, ==, 1);
        g_assert_nonnull(strstr(r->err, cases[i][2]));
    }
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *img = harness_make_image(dir, "vda.img", 8);
    /* a raw file given as qcow2: the header check names it */
    g_autofree char *qcow = g_strdup_printf(
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='%s'/><target dev='vda' bus='virtio'/></disk>", img);
    HarnessDomain d = { .cmdline = "test=blk", .extra_devices = qcow };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, 30, NULL, NULL);
    g_assert_cmpint(r->exit_status, ==, 1);
    g_assert_nonnull(strstr(r->err, "qcow2"));
    /* A missing image: the path and the reason, no crash. */
    g_autofree char *missing = disk_xml("/nonexistent/disk.img", "vda", "none", "threads", NULL, NULL);
    HarnessDomain m = { .cmdline = "test=blk", .extra_devices = missing };
    g_autofree char *xml2 = harness_write_domain(dir, &m);
    g_autoptr(HarnessRun) r2 = harness_run_worker(xml2, NULL, 30, NULL, NULL);
    harness_assert_clean_stderr(r2);
    g_assert_cmpint(r2->exit_status, ==, 1);
    g_assert_nonnull(strstr(r2->err, "/nonexistent/disk.img"));
}

static void test_hostile(void)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *img = harness_make_image(dir, "vda.img", 16);
    g_autofree char *img2 = harness_make_image(dir, "vdb.img", 16);
    g_autofree char *d1 = disk_xml(img, "vda", "none", "io_uring", NULL, NULL);
    g_autofree char *d2 = disk_xml(img2, "vdb", "writeback", "threads", NULL, NULL);
    g_autofree char *devs = g_strconcat(d1, d2, NULL);
    HarnessDomain d = { .vcpus = 2, .cmdline = "test=blk-hostile", .extra_devices = devs };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r);
    if (r->exit_status != 0 || harness_done_count(r, "failed") != 0)
        g_test_message("stdout:\n%s\nstderr:\n%s", r->out, r->err);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_assert_cmpint(harness_done_count(r, "failed"), ==, 0);
    g_autoptr(GPtrArray) cases = harness_find(r, "check", "blk_hostile");
    g_assert_cmpuint(cases->len, >=, 10);
    /* Each broken-queue case left one line in the worker's log. */
    g_assert_nonnull(strstr(r->err, "needs a reset: queue 0: descriptor loop"));
    g_assert_nonnull(strstr(r->err, "outside guest RAM"));
    g_autoptr(GPtrArray) other = harness_find(r, "check", "blk_hostile_other_device");
    g_assert_cmpuint(other->len, ==, 1);
}

/* With polling on, a guest that resubmits as soon as it sees a completion
 * (QD1, polling the used ring) finds notifications suppressed: fewer
 * notifies than requests. The window's maximum (200 ms) is raised far above
 * the guest's turnaround (emulated CPL0 on PVM is slow, and a loaded host
 * deschedules the vCPU for milliseconds: with 2 ms the window fell to zero
 * often enough to fail beside other tests) so that the result does not hang
 * on timing; 1.000 per request means the poll loop re-armed them. */
static void test_poll_suppresses(void)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *img = harness_make_image(dir, "vda.img", 16);
    g_autofree char *disk = disk_xml(img, "vda", "writeback", "io_uring", NULL, NULL);
    HarnessDomain d = { .cmdline = "test=blk-bench rw=randread bs=4096 qd=1 secs=2 poll=1",
                        .extra_devices = disk };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_setenv("VMM_BLK_POLL_US", "200000", TRUE);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    g_unsetenv("VMM_BLK_POLL_US");
    harness_assert_clean_stderr(r);
    g_autoptr(GPtrArray) res = harness_find(r, "check", "blk_bench");
    if (r->exit_status != 0 || res->len != 1)
        g_test_message("stdout:\n%s\nstderr:\n%s", r->out, r->err);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_assert_cmpuint(res->len, ==, 1);
    json_object *ios, *nots;
    g_assert_true(json_object_object_get_ex(res->pdata[0], "ios", &ios));
    g_assert_true(json_object_object_get_ex(res->pdata[0], "notifies", &nots));
    g_test_message("%" G_GINT64_FORMAT " requests, %" G_GINT64_FORMAT " notifies",
                   json_object_get_int64(ios), json_object_get_int64(nots));
    g_assert_cmpint(json_object_get_int64(ios), >=, 20);
    g_assert_cmpint(json_object_get_int64(nots) * 2, <, json_object_get_int64(ios));
}

static gboolean kill_when_persisted(const char *line, GPid pid, void *opaque)
{
    if (strstr(line, "\"event\":\"persisted\""))
        kill(pid, SIGKILL);
    return TRUE;
}

static void test_durability(gconstpointer data)
{
    const char *cache = data;
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *img = harness_make_image(dir, "vda.img", 32);
    g_autofree char *disk = disk_xml(img, "vda", cache, "threads", NULL, NULL);
    HarnessDomain w = { .cmdline = "test=blk-persist phase=write seed=4242", .extra_devices = disk };
    g_autofree char *xml = harness_write_domain(dir, &w);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, kill_when_persisted, NULL);
    g_assert_cmpint(r->term_signal, ==, SIGKILL);      /* killed mid-flight */
    g_autoptr(GPtrArray) wr = harness_find(r, "check", "blk_persist_write");
    g_assert_cmpuint(wr->len, ==, 1);
    HarnessDomain v = { .cmdline = "test=blk-persist phase=verify seed=4242", .extra_devices = disk };
    g_autofree char *xml2 = harness_write_domain(dir, &v);
    g_autoptr(HarnessRun) r2 = harness_run_worker(xml2, NULL, TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r2);
    if (harness_done_count(r2, "failed") != 0)
        g_test_message("stdout:\n%s", r2->out);
    g_assert_cmpint(r2->exit_status, ==, 0);
    g_assert_cmpint(harness_done_count(r2, "failed"), ==, 0);
    g_autoptr(GPtrArray) ok = harness_find(r2, "check", "blk_persist");
    g_assert_cmpuint(ok->len, ==, 1);
}

/* ---- qcow2 ---------------------------------------------------------- */


static char *qcow2_disk_xml(const char *img, const char *cache, const char *io,
                            const char *discard, const char *backing)
{
    return g_strdup_printf("<disk type='file' device='disk'>"
                           "<driver name='qemu' type='qcow2' cache='%s' io='%s' discard='%s'/>"
                           "<source file='%s'/>%s<target dev='vda' bus='virtio'/></disk>",
                           cache, io, discard, img, backing ? backing : "");
}

static HarnessRun *run_blk(const char *dir, const char *disk, const char *cmdline)
{
    HarnessDomain d = { .cmdline = cmdline, .extra_devices = disk };
    return harness_run_guest(dir, &d, TIMEOUT);
}

/* test=blk on a qcow2 overlay of a raw base (allocating writes copy the
 * base's data around them), and the same run (same seed) on a copy of the
 * base as a raw disk: qemu-img finds the overlay clean and identical. The
 * chain comes from the image header, then from <backingStore>. */
static void test_qcow2_vs_raw(gconstpointer data)
{
    const char *const *mode = data;   /* cache, io */
    if (!harness_have_qemu_img())
        return;
    g_autofree char *rel = harness_tmpdir();
    g_autofree char *dir = g_canonicalize_filename(rel, NULL);
    g_autofree char *cmd = g_strdup_printf(
        "cd '%s' && qemu-img create -q -f raw base.raw 64M && "
        "qemu-io -f raw -c 'write -P 0x5c 0 64M' base.raw >/dev/null && cp base.raw ref.raw && "
        "qemu-img create -q -f qcow2 -o cluster_size=65536 -b base.raw -F raw top.qcow2 && "
        "qemu-img create -q -f qcow2 -o cluster_size=65536 -b base.raw -F raw top2.qcow2", dir);
    g_assert_cmpint(harness_sh(cmd), ==, 0);
    g_autofree char *top = g_build_filename(dir, "top.qcow2", NULL);
    g_autofree char *top2 = g_build_filename(dir, "top2.qcow2", NULL);
    g_autofree char *ref = g_build_filename(dir, "ref.raw", NULL);
    g_autofree char *base = g_build_filename(dir, "base.raw", NULL);
    /* discard='ignore': a raw image zeroes discarded sectors, a qcow2 one
     * only whole clusters; write-zeroes is what both must agree on. */
    g_autofree char *dq = qcow2_disk_xml(top, mode[0], mode[1], "ignore", NULL);
    g_autoptr(HarnessRun) r1 = run_blk(dir, dq, "test=blk seed=77");
    g_autofree char *bs = g_strdup_printf("<backingStore type='file'><format type='raw'/>"
                                          "<source file='%s'/><backingStore/></backingStore>",
                                          base);
    g_autofree char *dq2 = qcow2_disk_xml(top2, mode[0], mode[1], "ignore", bs);
    g_autoptr(HarnessRun) r3 = run_blk(dir, dq2, "test=blk seed=77");
    g_autofree char *dr = disk_xml(ref, "vda", mode[0], mode[1], NULL, NULL);
    g_autoptr(HarnessRun) r2 = run_blk(dir, dr, "test=blk seed=77");
    g_autoptr(GPtrArray) wz = harness_find(r1, "check", "blk_write_zeroes");
    g_test_message("write_zeroes checks on qcow2: %u", wz->len);
    g_autofree char *check = g_strdup_printf("qemu-img check -q '%s' && qemu-img check -q '%s'",
                                             top, top2);
    g_assert_cmpint(harness_sh(check), ==, 0);
    g_autofree char *cmp = g_strdup_printf("qemu-img compare -f qcow2 -F raw '%s' '%s' && "
                                           "qemu-img compare -f qcow2 -F raw '%s' '%s'",
                                           top, ref, top2, ref);
    g_assert_cmpint(harness_sh(cmp), ==, 0);
}

/* A fresh qcow2 image of 4 KiB clusters in a new directory (absolute
 * paths: libvirt wants them in <source>). */
static char *fresh_qcow2(const char *name, const char *size, char **dir)
{
    g_autofree char *rel = harness_tmpdir();
    *dir = g_canonicalize_filename(rel, NULL);
    char *img = g_build_filename(*dir, name, NULL);
    g_autofree char *cmd = g_strdup_printf("qemu-img create -q -f qcow2 -o cluster_size=4096 "
                                           "'%s' %s", img, size);
    g_assert_cmpint(harness_sh(cmd), ==, 0);
    return img;
}

/* discard='unmap' on a fresh v3 image: the guest's discards free clusters,
 * and the image stays clean. */
static void test_qcow2_discard(void)
{
    if (!harness_have_qemu_img())
        return;
    g_autofree char *dir = NULL;
    g_autofree char *img = fresh_qcow2("d.qcow2", "64M", &dir);
    g_autofree char *d = qcow2_disk_xml(img, "none", "io_uring", "unmap", NULL);
    g_autoptr(HarnessRun) r = run_blk(dir, d, "test=blk");
    g_autoptr(GPtrArray) dc = harness_find(r, "check", "blk_discard");
    g_assert_cmpuint(dc->len, >=, 1);
    g_autofree char *check = g_strdup_printf("qemu-img check -q '%s'", img);
    g_assert_cmpint(harness_sh(check), ==, 0);
}

/* kill -9 in the middle of writes with cache=writeback: no corruption
 * (leaked clusters allowed, qemu-img check's exit status 3), and every
 * flushed write is there on the next boot. */
static void test_qcow2_kill(void)
{
    if (!harness_have_qemu_img())
        return;
    g_autofree char *dir = NULL;
    g_autofree char *img = fresh_qcow2("k.qcow2", "32M", &dir);
    g_autofree char *disk = qcow2_disk_xml(img, "writeback", "threads", "unmap", NULL);
    HarnessDomain w = { .cmdline = "test=blk-persist phase=write seed=4343", .extra_devices = disk };
    g_autofree char *xml = harness_write_domain(dir, &w);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, kill_when_persisted, NULL);
    g_assert_cmpint(r->term_signal, ==, SIGKILL);
    g_autofree char *check = g_strdup_printf("qemu-img check -q '%s'; s=$?; "
                                             "[ $s -eq 0 ] || [ $s -eq 3 ]", img);
    g_assert_cmpint(harness_sh(check), ==, 0);
    g_autoptr(HarnessRun) r2 = run_blk(dir, disk, "test=blk-persist phase=verify seed=4343");
    g_autoptr(GPtrArray) ok = harness_find(r2, "check", "blk_persist");
    g_assert_cmpuint(ok->len, ==, 1);
}

static void skip_no_kvm(void)
{
    g_test_skip("/dev/kvm is not accessible on this host");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_add_func("/blk/no-kvm", skip_no_kvm);
        return g_test_run();
    }
    static Combo combos[G_N_ELEMENTS(caches) * G_N_ELEMENTS(ios)];
    unsigned n = 0;
    for (unsigned i = 0; i < G_N_ELEMENTS(ios); i++) {
        for (unsigned j = 0; j < G_N_ELEMENTS(caches); j++) {
            if (!allowed(caches[j], ios[i]))
                continue;
            combos[n] = (Combo){ caches[j], ios[i] };
            g_autofree char *path = g_strdup_printf("/blk/combo/%s/%s", ios[i], caches[j]);
            g_test_add_data_func(path, &combos[n++], test_combo);
        }
    }
    g_test_add_func("/blk/refused", test_refused);
    g_test_add_func("/blk/hostile", test_hostile);
    g_test_add_func("/blk/poll-suppresses-notify", test_poll_suppresses);
    g_test_add_data_func("/blk/durability/none", "none", test_durability);
    g_test_add_data_func("/blk/durability/writethrough", "writethrough", test_durability);
    g_test_add_data_func("/blk/durability/directsync", "directsync", test_durability);
    static const char *const q_modes[][2] = {
        { "writeback", "threads" }, { "none", "native" }, { "unsafe", "io_uring" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(q_modes); i++) {
        g_autofree char *path = g_strdup_printf("/blk/qcow2/vs-raw/%s/%s", q_modes[i][1],
                                                q_modes[i][0]);
        g_test_add_data_func(path, q_modes[i], test_qcow2_vs_raw);
    }
    g_test_add_func("/blk/qcow2/discard", test_qcow2_discard);
    g_test_add_func("/blk/qcow2/kill", test_qcow2_kill);
    return g_test_run();
}
