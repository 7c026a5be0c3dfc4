/* What one worker holds, another (or QEMU) cannot take: disk image locks
 * between two real vmm-workers and with qemu-img/qemu-io (QEMU's lock
 * bytes), and serial unix bind paths that name a file, a live socket or
 * vmmd's run directory. */
#include "harness.h"

#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define BOOT_TIMEOUT 60.0

static char *make_image(const char *dir, const char *name)
{
    char *path = g_build_filename(dir, name, NULL);
    g_assert_true(g_file_set_contents(path, "", 0, NULL));
    g_assert_cmpint(truncate(path, 8 * 1024 * 1024), ==, 0);
    return path;
}

static char *disk_xml(const char *img, const char *dev, gboolean readonly)
{
    return g_strdup_printf("<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                           "<source file='%s'/><target dev='%s' bus='virtio'/>%s</disk>",
                           img, dev, readonly ? "<readonly/>" : "");
}

/* A domain named `name` idling with the image as vda, in its own dir. */
static char *write_domain(const char *name, const char *img, gboolean readonly,
                          const char *cmdline)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *disk = disk_xml(img, "vda", readonly);
    HarnessDomain d = { .name = name, .cmdline = cmdline, .extra_devices = disk };
    return harness_write_domain(dir, &d);
}

/* Runs `fn` once the first worker's guest idles (its disks are open),
 * then presses its power button. */
typedef struct {
    void (*fn)(void *arg, GPid first);
    void *arg;
    gboolean ran;
} WhileRunning;

static gboolean on_first_line(const char *line, GPid pid, void *opaque)
{
    WhileRunning *w = opaque;
    if (!w->ran && strstr(line, "\"event\":\"idle\"")) {
        w->ran = TRUE;
        w->fn(w->arg, pid);
        kill(pid, SIGTERM);
    }
    return TRUE;
}

static void run_first(const char *xml, void (*fn)(void *, GPid), void *arg)
{
    WhileRunning w = { .fn = fn, .arg = arg };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, BOOT_TIMEOUT, on_first_line, &w);
    harness_assert_clean_stderr(r);
    if (!w.ran || r->exit_status != 0)
        g_test_message("first worker: exit %d\nstderr:\n%s", r->exit_status, r->err);
    g_assert_true(w.ran);
    g_assert_cmpint(r->exit_status, ==, 0);
}

typedef struct {
    const char *img;
    gboolean readonly;          /* the second domain's disk */
    const char *expect;         /* NULL: the second runs; else in its error */
} Second;

static void second_domain(void *arg, GPid first)
{
    Second *s = arg;
    g_autofree char *xml = write_domain("second", s->img, s->readonly, "test=hello");
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, BOOT_TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r);
    g_test_message("second worker: exit %d, stderr: %s", r->exit_status, r->err);
    if (!s->expect) {
        g_assert_cmpint(r->exit_status, ==, 0);
        return;
    }
    g_assert_cmpint(r->exit_status, ==, 1);
    g_assert_nonnull(strstr(r->err, s->img));
    g_autofree char *holder = g_strdup_printf("domain 'first' (vmm-worker pid %d)", (int)first);
    g_assert_nonnull(strstr(r->err, holder));
    g_assert_nonnull(strstr(r->err, s->expect));
}

typedef struct {
    gboolean first_ro, second_ro;
    const char *expect;         /* NULL: both run */
} Pair;

static const Pair two_writers = { FALSE, FALSE, "cannot lock the image for read-write use" };
static const Pair two_readers = { TRUE, TRUE, NULL };
static const Pair writer_after_reader = { TRUE, FALSE, "does not let others write to it" };

static void test_pair(gconstpointer data)
{
    const Pair *p = data;
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *img = make_image(dir, "shared.img");
    g_autofree char *xml = write_domain("first", img, p->first_ro, "test=idle");
    Second s = { .img = img, .readonly = p->second_ro, .expect = p->expect };
    run_first(xml, second_domain, &s);
    /* The first one is gone, and its lock with it. */
    g_autofree char *again = write_domain("second", img, p->second_ro, "test=hello");
    g_autoptr(HarnessRun) r = harness_run_worker(again, NULL, BOOT_TIMEOUT, NULL, NULL);
    g_assert_cmpint(r->exit_status, ==, 0);
}

/* ---- QEMU's tools honour our locks, and we honour theirs ---------------- */

static int run_tool(const char *const *argv, char **err_out)
{
    int status = -1;
    g_autoptr(GError) err = NULL;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH |
                               G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, err_out,
                               &status, &err));
    g_assert_no_error(err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void qemu_tools_refused(void *arg, GPid first)
{
    (void)first;
    const char *img = arg;
    g_autofree char *copy = g_strconcat(img, ".copy", NULL);
    const char *convert[] = { "qemu-img", "convert", "-f", "raw", "-O", "raw", img, copy, NULL };
    g_autofree char *err = NULL;
    g_assert_cmpint(run_tool(convert, &err), !=, 0);
    g_test_message("qemu-img convert: %s", err);
    g_assert_nonnull(strstr(err, "Failed to get shared \"write\" lock"));
    g_clear_pointer(&err, g_free);
    const char *io[] = { "qemu-io", "-f", "raw", "-c", "read 0 512", img, NULL };
    g_assert_cmpint(run_tool(io, &err), !=, 0);
    g_test_message("qemu-io: %s", err);
    g_assert_nonnull(strstr(err, "lock"));
}

static void qemu_reader_shares(void *arg, GPid first)
{
    (void)first;
    const char *io[] = { "qemu-io", "-r", "-f", "raw", "-c", "read 0 512", arg, NULL };
    g_autofree char *err = NULL;
    g_assert_cmpint(run_tool(io, &err), ==, 0);
    const char *rw[] = { "qemu-io", "-f", "raw", "-c", "write 0 512", arg, NULL };
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_tool(rw, &err), !=, 0);
    g_assert_nonnull(strstr(err, "Failed to get \"write\" lock"));
}

static void test_qemu(void)
{
    g_autofree char *qemu_io = g_find_program_in_path("qemu-io");
    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");
    if (!qemu_io || !qemu_img) {
        g_test_skip("qemu-io or qemu-img is not installed (Debian package qemu-utils)");
        return;
    }
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *img = make_image(dir, "q.img");
    g_autofree char *xml = write_domain("first", img, FALSE, "test=idle");
    run_first(xml, qemu_tools_refused, img);
    g_autofree char *ro = write_domain("first", img, TRUE, "test=idle");
    run_first(ro, qemu_reader_shares, img);

    /* qemu-io holds the image read-write (it prints its prompt once the
     * image is open); the worker is refused and names it. */
    const char *argv[] = { qemu_io, "-f", "raw", img, NULL };
    GPid pid;
    int in_fd, out_fd;
    g_autoptr(GError) err = NULL;
    g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
                                           G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                                           &in_fd, &out_fd, NULL, &err));
    g_autoptr(GString) out = g_string_new(NULL);
    char buf[256];
    ssize_t n;
    while (!strstr(out->str, "qemu-io>") && (n = read(out_fd, buf, sizeof(buf))) > 0)
        g_string_append_len(out, buf, n);
    g_assert_nonnull(strstr(out->str, "qemu-io>"));
    g_autofree char *second = write_domain("second", img, TRUE, "test=hello");
    g_autoptr(HarnessRun) r = harness_run_worker(second, NULL, BOOT_TIMEOUT, NULL, NULL);
    g_test_message("worker vs qemu-io: exit %d, stderr: %s", r->exit_status, r->err);
    g_assert_cmpint(r->exit_status, ==, 1);
    g_autofree char *holder = g_strdup_printf("process %d (qemu-io)", (int)pid);
    g_assert_nonnull(strstr(r->err, holder));
    g_assert_nonnull(strstr(r->err, img));
    g_assert_nonnull(strstr(r->err, "has it open read-write"));
    close(in_fd);                               /* EOF: qemu-io quits */
    int status;
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    close(out_fd);
    g_spawn_close_pid(pid);
}

/* ---- serial unix bind paths ---------------------------------------------- */

static HarnessRun *run_with_bind(const char *path, const char *const *args)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *serial = g_strdup_printf(
        "<serial type='stdio'><target port='0'/></serial>"
        "<serial type='unix'><source mode='bind' path='%s'/><target port='1'/></serial>",
        path);
    HarnessDomain d = { .cmdline = "test=hello", .serial_xml = serial };
    g_autofree char *xml = harness_write_domain(dir, &d);
    HarnessRun *r = harness_run_worker(xml, args, BOOT_TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r);
    g_test_message("bind '%s': exit %d, stderr: %s", path, r->exit_status, r->err);
    return r;
}

static int listener(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(fd, 1), ==, 0);
    return fd;
}

static void test_serial_bind(void)
{
    g_autofree char *dir = harness_tmpdir();

    /* a regular file is left alone */
    g_autofree char *file = g_build_filename(dir, "precious.txt", NULL);
    g_assert_true(g_file_set_contents(file, "precious", -1, NULL));
    g_autoptr(HarnessRun) r1 = run_with_bind(file, NULL);
    g_assert_cmpint(r1->exit_status, ==, 1);
    g_assert_nonnull(strstr(r1->err, file));
    g_assert_nonnull(strstr(r1->err, "is not a socket"));
    g_autofree char *content = NULL;
    g_assert_true(g_file_get_contents(file, &content, NULL, NULL));
    g_assert_cmpstr(content, ==, "precious");

    /* a socket someone listens on is not taken over */
    g_autofree char *live = g_build_filename(dir, "live.sock", NULL);
    int lfd = listener(live);
    struct stat before, after;
    g_assert_cmpint(lstat(live, &before), ==, 0);
    g_autoptr(HarnessRun) r2 = run_with_bind(live, NULL);
    g_assert_cmpint(r2->exit_status, ==, 1);
    g_assert_nonnull(strstr(r2->err, live));
    g_assert_nonnull(strstr(r2->err, "a process is listening on it"));
    g_assert_cmpint(lstat(live, &after), ==, 0);
    g_assert_cmpuint(after.st_ino, ==, before.st_ino);
    close(lfd);

    /* a stale one (its listener gone) is replaced; the confined worker
     * cannot remove it at exit (it is outside its private root, vmmd(8)
     * SANDBOX), so the next start replaces it again, and an unconfined one
     * removes it */
    g_autofree char *stale = g_build_filename(dir, "stale.sock", NULL);
    close(listener(stale));
    g_autoptr(HarnessRun) r3 = run_with_bind(stale, NULL);
    g_assert_cmpint(r3->exit_status, ==, 0);
    g_assert_nonnull(r3->done);
    g_assert_true(g_file_test(stale, G_FILE_TEST_EXISTS));
    const char *unconfined[] = { "--no-sandbox", NULL };
    g_autoptr(HarnessRun) r3b = run_with_bind(stale, unconfined);
    g_assert_cmpint(r3b->exit_status, ==, 0);
    g_assert_nonnull(r3b->done);
    g_assert_false(g_file_test(stale, G_FILE_TEST_EXISTS));

    /* vmmd's run directory is off limits, even when the path is free */
    g_autofree char *run = g_build_filename(dir, "run", NULL);
    g_assert_cmpint(mkdir(run, 0700), ==, 0);
    g_autofree char *in_run = g_build_filename(run, "vmmd.sock", NULL);
    const char *args[] = { "--run-dir", run, NULL };
    g_autoptr(HarnessRun) r4 = run_with_bind(in_run, args);
    g_assert_cmpint(r4->exit_status, ==, 1);
    g_assert_nonnull(strstr(r4->err, in_run));
    g_assert_nonnull(strstr(r4->err, "inside vmmd's run directory"));
    g_assert_false(g_file_test(in_run, G_FILE_TEST_EXISTS));
}

static void skip_no_kvm(void)
{
    g_test_skip("/dev/kvm is not accessible on this host");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_add_func("/worker-lock/no-kvm", skip_no_kvm);
        return g_test_run();
    }
    g_test_add_data_func("/worker-lock/image/two-writers", &two_writers, test_pair);
    g_test_add_data_func("/worker-lock/image/two-readers", &two_readers, test_pair);
    g_test_add_data_func("/worker-lock/image/writer-after-reader", &writer_after_reader,
                         test_pair);
    g_test_add_func("/worker-lock/image/qemu", test_qemu);
    g_test_add_func("/worker-lock/serial-bind", test_serial_bind);
    return g_test_run();
}
