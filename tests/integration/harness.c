#include "harness.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *harness_builddir(void)
{
    const char *b = g_getenv("VMM_TOP_BUILDDIR");
    return b ? b : ".";
}

const char *harness_srcdir(void)
{
    const char *s = g_getenv("VMM_TOP_SRCDIR");
    return s ? s : ".";
}

char *harness_path(const char *relative)
{
    return g_build_filename(harness_builddir(), relative, NULL);
}

static GPtrArray *tmpdirs;

static void remove_tree(const char *path)
{
    GDir *d = g_dir_open(path, 0, NULL);
    if (d) {
        const char *n;
        while ((n = g_dir_read_name(d))) {
            g_autofree char *p = g_build_filename(path, n, NULL);
            if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
                remove_tree(p);
            else
                g_unlink(p);
        }
        g_dir_close(d);
    }
    g_rmdir(path);
}

static void cleanup_tmpdirs(void)
{
    for (guint i = 0; tmpdirs && i < tmpdirs->len; i++)
        remove_tree(g_ptr_array_index(tmpdirs, i));
}

/* Under the build directory (a real filesystem: disk images need O_DIRECT,
 * which tmpfs lacks), or $VMM_TEST_TMPDIR. */
char *harness_tmpdir(void)
{
    const char *base = g_getenv("VMM_TEST_TMPDIR");
    g_autofree char *dflt = g_build_filename(harness_builddir(), "tests", "tmp", NULL);
    if (!base)
        base = dflt;
    g_mkdir_with_parents(base, 0700);
    char *d = g_build_filename(base, "vmmd-test-XXXXXX", NULL);
    g_assert_nonnull(g_mkdtemp(d));
    if (!tmpdirs) {
        tmpdirs = g_ptr_array_new_with_free_func(g_free);
        atexit(cleanup_tmpdirs);
    }
    g_ptr_array_add(tmpdirs, g_strdup(d));
    return d;
}

char *harness_make_image(const char *dir, const char *name, unsigned mib)
{
    char *path = g_build_filename(dir, name, NULL);
    FILE *f = fopen(path, "w");
    g_assert_nonnull(f);
    g_assert_cmpint(ftruncate(fileno(f), (off_t)mib << 20), ==, 0);
    fclose(f);
    return path;
}

char *harness_write_domain(const char *dir, const HarnessDomain *d)
{
    g_autofree char *kernel = d->kernel ? g_strdup(d->kernel)
                                        : harness_path("tests/guest/guestkit.elf");
    g_autofree char *cmdline = g_markup_escape_text(d->cmdline ? d->cmdline : "test=hello", -1);
    GString *x = g_string_new(NULL);
    g_string_append_printf(x,
        "<domain type='kvm'>\n"
        "  <name>%s</name>\n"
        "  <memory unit='MiB'>%u</memory>\n"
        "  <vcpu>%u</vcpu>\n"
        "  <os>\n"
        "    <type arch='x86_64'>hvm</type>\n"
        "    <kernel>%s</kernel>\n"
        "    <cmdline>%s</cmdline>\n"
        "  </os>\n"
        "  <features>%s<apic/></features>\n"
        "  %s\n"
        "  <on_poweroff>%s</on_poweroff>\n"
        "  <on_reboot>%s</on_reboot>\n"
        "  <on_crash>destroy</on_crash>\n"
        "  <devices>\n"
        "    %s\n"
        "    %s\n"
        "  </devices>\n"
        "</domain>\n",
        d->name ? d->name : "test", d->memory_mib ? d->memory_mib : 128,
        d->vcpus ? d->vcpus : 1, kernel, cmdline, d->no_acpi ? "" : "<acpi/>",
        d->cpu_xml ? d->cpu_xml : "",
        d->on_poweroff ? d->on_poweroff : "destroy", d->on_reboot ? d->on_reboot : "destroy",
        d->serial_xml ? d->serial_xml : "<serial type='stdio'><target port='0'/></serial>",
        d->extra_devices ? d->extra_devices : "");
    char *path = g_build_filename(dir, "domain.xml", NULL);
    g_autoptr(GError) err = NULL;
    g_file_set_contents(path, x->str, x->len, &err);
    g_assert_no_error(err);
    g_string_free(x, TRUE);
    return path;
}

typedef struct {
    GMainLoop *loop;
    GString *out, *err, *line;
    int open_streams;
    gboolean exited;
    int wait_status;
    GPid pid;
    gboolean (*on_line)(const char *line, GPid pid, void *opaque);
    void *opaque;
    gboolean timed_out;
} RunCtx;

static void maybe_quit(RunCtx *c)
{
    if (c->exited && c->open_streams == 0)
        g_main_loop_quit(c->loop);
}

static gboolean on_out(GIOChannel *ch, GIOCondition cond, gpointer data)
{
    RunCtx *c = data;
    char buf[4096];
    gsize n = 0;
    GIOStatus st = g_io_channel_read_chars(ch, buf, sizeof(buf), &n, NULL);
    if (n > 0) {
        g_string_append_len(c->out, buf, n);
        for (gsize i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                if (c->on_line && !c->exited)
                    c->on_line(c->line->str, c->pid, c->opaque);
                g_string_truncate(c->line, 0);
            } else {
                g_string_append_c(c->line, buf[i]);
            }
        }
    }
    if (st == G_IO_STATUS_EOF || st == G_IO_STATUS_ERROR || (cond & (G_IO_HUP | G_IO_ERR) && n == 0)) {
        c->open_streams--;
        maybe_quit(c);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_err(GIOChannel *ch, GIOCondition cond, gpointer data)
{
    RunCtx *c = data;
    char buf[4096];
    gsize n = 0;
    GIOStatus st = g_io_channel_read_chars(ch, buf, sizeof(buf), &n, NULL);
    if (n > 0)
        g_string_append_len(c->err, buf, n);
    if (st == G_IO_STATUS_EOF || st == G_IO_STATUS_ERROR || (cond & (G_IO_HUP | G_IO_ERR) && n == 0)) {
        c->open_streams--;
        maybe_quit(c);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static void on_exit_cb(GPid pid, gint status, gpointer data)
{
    RunCtx *c = data;
    c->exited = TRUE;
    c->wait_status = status;
    g_spawn_close_pid(pid);
    maybe_quit(c);
}

static gboolean on_timeout(gpointer data)
{
    RunCtx *c = data;
    if (!c->exited) {
        c->timed_out = TRUE;
        kill(c->pid, SIGKILL);
    }
    return G_SOURCE_REMOVE;
}

static GIOChannel *watch_fd(int fd, GIOFunc fn, RunCtx *c, GMainContext *ctx)
{
    GIOChannel *ch = g_io_channel_unix_new(fd);
    g_io_channel_set_encoding(ch, NULL, NULL);
    g_io_channel_set_buffered(ch, FALSE);
    g_io_channel_set_close_on_unref(ch, TRUE);
    GSource *src = g_io_create_watch(ch, G_IO_IN | G_IO_HUP | G_IO_ERR);
    g_source_set_callback(src, (GSourceFunc)(void (*)(void))fn, c, NULL);
    g_source_attach(src, ctx);
    g_source_unref(src);
    return ch;
}

static void put_json(gpointer o)
{
    json_object_put(o);
}

HarnessRun *harness_run_worker(const char *xml_path, const char *const *extra_args,
                               double timeout_s,
                               gboolean (*on_line)(const char *line, GPid pid, void *opaque),
                               void *opaque)
{
    g_autofree char *worker = harness_path("src/vmm-worker");
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, worker);
    g_ptr_array_add(argv, (char *)"--xml");
    g_ptr_array_add(argv, (char *)xml_path);
    for (unsigned i = 0; extra_args && extra_args[i]; i++)
        g_ptr_array_add(argv, (char *)extra_args[i]);
    g_ptr_array_add(argv, NULL);

    RunCtx c = { 0 };
    GMainContext *ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    c.loop = g_main_loop_new(ctx, FALSE);
    c.out = g_string_new(NULL);
    c.err = g_string_new(NULL);
    c.line = g_string_new(NULL);
    c.on_line = on_line;
    c.opaque = opaque;
    int fd_out, fd_err;
    g_autoptr(GError) err = NULL;
    gint64 t0 = g_get_monotonic_time();
    /* The worker is leak-checked (the suite's ASAN_OPTIONS turn that off
     * for the rest): a confined one skips the check itself, since its
     * seccomp filter forbids what LeakSanitizer does at exit. */
    g_auto(GStrv) env = g_get_environ();
    const char *asan = g_environ_getenv(env, "ASAN_OPTIONS");
    g_autofree char *leaks = g_strdup_printf("%s%sdetect_leaks=1", asan ? asan : "",
                                             asan && *asan ? ":" : "");
    env = g_environ_setenv(env, "ASAN_OPTIONS", leaks, TRUE);
    gboolean ok = g_spawn_async_with_pipes(NULL, (char **)argv->pdata, env,
                                           G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &c.pid,
                                           NULL, &fd_out, &fd_err, &err);
    g_assert_no_error(err);
    g_assert_true(ok);
    GIOChannel *ch_out = watch_fd(fd_out, on_out, &c, ctx);
    GIOChannel *ch_err = watch_fd(fd_err, on_err, &c, ctx);
    c.open_streams = 2;
    GSource *child = g_child_watch_source_new(c.pid);
    g_source_set_callback(child, (GSourceFunc)(void (*)(void))on_exit_cb, &c, NULL);
    g_source_attach(child, ctx);
    g_source_unref(child);
    GSource *to = g_timeout_source_new((guint)(timeout_s * 1000));
    g_source_set_callback(to, on_timeout, &c, NULL);
    g_source_attach(to, ctx);
    g_main_loop_run(c.loop);
    g_source_destroy(to);
    g_source_unref(to);
    g_io_channel_unref(ch_out);
    g_io_channel_unref(ch_err);
    g_main_loop_unref(c.loop);
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);
    g_ptr_array_free(argv, TRUE);

    HarnessRun *r = g_new0(HarnessRun, 1);
    r->seconds = (g_get_monotonic_time() - t0) / 1e6;
    r->out = g_string_free(c.out, FALSE);
    r->err = g_string_free(c.err, FALSE);
    g_string_free(c.line, TRUE);
    if (WIFEXITED(c.wait_status)) {
        r->exit_status = WEXITSTATUS(c.wait_status);
    } else {
        r->exit_status = -1;
        r->term_signal = WTERMSIG(c.wait_status);
    }
    r->reports = g_ptr_array_new_with_free_func(put_json);
    g_auto(GStrv) lines = g_strsplit(r->out, "\n", -1);
    for (unsigned i = 0; lines[i]; i++) {
        const char *p = strstr(lines[i], "guestkit: ");
        if (!p)
            continue;
        json_object *o = json_tokener_parse(p + strlen("guestkit: "));
        if (!o)
            continue;
        g_ptr_array_add(r->reports, o);
        json_object *v;
        if (json_object_object_get_ex(o, "done", &v))
            r->done = o;
    }
    if (c.timed_out)
        g_test_message("vmm-worker timed out after %.0f s; stderr:\n%s", timeout_s, r->err);
    return r;
}

void harness_run_free(HarnessRun *r)
{
    if (!r)
        return;
    g_free(r->out);
    g_free(r->err);
    g_ptr_array_free(r->reports, TRUE);
    g_free(r);
}

GPtrArray *harness_find(HarnessRun *r, const char *key, const char *value)
{
    GPtrArray *res = g_ptr_array_new();
    for (guint i = 0; i < r->reports->len; i++) {
        json_object *o = g_ptr_array_index(r->reports, i), *v;
        if (!json_object_object_get_ex(o, key, &v))
            continue;
        if (value && (!json_object_is_type(v, json_type_string) ||
                      strcmp(json_object_get_string(v), value) != 0))
            continue;
        g_ptr_array_add(res, o);
    }
    return res;
}

int harness_done_count(HarnessRun *r, const char *field)
{
    json_object *v;
    if (!r->done || !json_object_object_get_ex(r->done, field, &v))
        return -1;
    return json_object_get_int(v);
}

void harness_assert_clean_stderr(HarnessRun *r)
{
    if (strstr(r->err, "AddressSanitizer") || strstr(r->err, "runtime error:") ||
        strstr(r->err, "LeakSanitizer")) {
        g_test_message("sanitizer report:\n%s", r->err);
        g_test_fail();
    }
    /* The sandbox stopped the worker: its allow-list lacks a call. */
    if (strstr(r->err, "seccomp: ")) {
        g_test_message("the worker's seccomp allow-list stopped it:\n%s", r->err);
        g_test_fail();
    }
}

char *harness_sh_out(const char *cmd)
{
    char *out = NULL;
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                      NULL, NULL, NULL))
        return g_strdup("");
    return out;
}

/* testpmd: see harness.h. No hugepages or PCI needed
 * (bench/vhost-user.md); --stats-period keeps it up without a terminal. */
/* testpmd busy-polls a core: it must not outlive a test that fails */
static void testpmd_child_setup(gpointer data)
{
    (void)data;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* client: testpmd connects to a socket vmm-worker listens on (retrying
 * until it is there) instead of listening itself */
bool harness_testpmd_start(HarnessTestpmd *t, unsigned queues, bool client)
{
    g_autofree char *bin = g_find_program_in_path("dpdk-testpmd");
    if (!bin) {
        g_test_skip("dpdk-testpmd is not installed (Debian package dpdk-dev)");
        return false;
    }
    g_autofree char *tmp = harness_tmpdir();
    g_autofree char *dir = g_canonicalize_filename(tmp, NULL);   /* XML wants absolute */
    t->sock = g_build_filename(dir, "testpmd.sock", NULL);
    t->log = g_build_filename(dir, "testpmd.log", NULL);
    g_autofree char *vdev = g_strdup_printf("net_vhost0,iface=%s,queues=%u,client=%d", t->sock,
                                            queues, client);
    g_autofree char *prefix = g_strdup_printf("vmmtest%d", (int)getpid());
    g_autofree char *q = g_strdup_printf("%u", queues);
    g_autofree char *rxq = g_strdup_printf("--rxq=%u", queues);
    g_autofree char *txq = g_strdup_printf("--txq=%u", queues);
    const char *argv[] = { bin, "--no-huge", "-m", "256", "--no-pci", "-l", "0-1",
                           "--file-prefix", prefix, "--vdev", vdev, "--", "--total-num-mbufs=8192",
                           rxq, txq, "--forward-mode=macswap", "--auto-start",
                           "--stats-period", "60", NULL };
    int fd = open(t->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_autoptr(GError) err = NULL;
    gboolean ok = g_spawn_async_with_fds(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                         testpmd_child_setup, NULL, &t->pid, -1, fd, fd, &err);
    close(fd);
    g_assert_no_error(err);
    g_assert_true(ok);
    if (client)
        return true;
    /* the socket appears once testpmd's port is set up (hang guard) */
    struct stat st;
    for (int i = 0; i < 600 && stat(t->sock, &st) != 0; i++)
        g_usleep(50000);
    if (stat(t->sock, &st) != 0) {
        g_autofree char *out = NULL;
        g_file_get_contents(t->log, &out, NULL, NULL);
        g_test_message("testpmd did not create %s:\n%s", t->sock, out ? out : "");
        g_test_fail();
        return false;
    }
    return true;
}

/* SIGINT: testpmd stops its ports and exits */
void harness_testpmd_stop(HarnessTestpmd *t)
{
    if (t->pid > 0) {
        kill(t->pid, SIGINT);
        int status;
        waitpid(t->pid, &status, 0);
        g_spawn_close_pid(t->pid);
        t->pid = 0;
    }
    g_autofree char *out = NULL;
    if (g_file_get_contents(t->log, &out, NULL, NULL)) {
        const char *stats = strstr(out, "Accumulated forward statistics");
        g_test_message("testpmd: %s", stats ? stats : "(no statistics)");
    }
    g_clear_pointer(&t->sock, g_free);
    g_clear_pointer(&t->log, g_free);
}

int harness_sh(const char *cmd)
{
    int status = -1;
    g_autofree char *out = NULL, *errs = NULL;
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL, &out, &errs,
                               &status, NULL));
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    if (rc)
        g_test_message("`%s` exited %d: %s%s", cmd, rc, out, errs);
    return rc;
}

bool harness_have_qemu_img(void)
{
    g_autofree char *img = g_find_program_in_path("qemu-img");
    g_autofree char *io = g_find_program_in_path("qemu-io");
    if (!img || !io)
        g_test_skip("qemu-img/qemu-io not installed (Debian package qemu-utils)");
    return img && io;
}

char *harness_make_cd_image(const char *dir, const char *name, guint32 sectors, guint32 base)
{
    char *path = g_build_filename(dir, name, NULL);
    g_autofree guint32 *data = g_new(guint32, sectors * 512);
    for (guint32 i = 0; i < sectors * 512; i++)
        data[i] = GUINT32_TO_LE(base + i);
    g_assert_true(g_file_set_contents(path, (const char *)data, sectors * 2048, NULL));
    return path;
}

HarnessRun *harness_run_guest(const char *dir, const HarnessDomain *d, double timeout_s)
{
    g_autofree char *xml = harness_write_domain(dir, d);
    HarnessRun *r = harness_run_worker(xml, NULL, timeout_s, NULL, NULL);
    harness_assert_clean_stderr(r);
    if (r->exit_status != 0 || harness_done_count(r, "failed") != 0)
        g_test_message("exit %d\nstdout:\n%s\nstderr:\n%s", r->exit_status, r->out, r->err);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_assert_cmpint(harness_done_count(r, "failed"), ==, 0);
    return r;
}

void harness_assert_refused(const char *devs, const char *want, double timeout_s)
{
    g_autofree char *dir = harness_tmpdir();
    HarnessDomain d = { .cmdline = "test=hello", .extra_devices = devs };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, timeout_s, NULL, NULL);
    if (!strstr(r->err, want))
        g_test_message("stderr:\n%s", r->err);
    g_assert_cmpint(r->exit_status, !=, 0);
    g_assert_nonnull(strstr(r->err, want));
}

void harness_assert_refused_cases(const char *const (*cases)[2], size_t n, double timeout_s)
{
    for (size_t i = 0; i < n; i++) {
        g_autofree char *dir = harness_tmpdir();
        g_autofree char *img = harness_make_image(dir, "d.img", 8);
        g_autofree char *second = harness_make_image(dir, "d.img.2", 8);
        g_autofree char *devs = g_strdup_printf(cases[i][0], img, img);
        harness_assert_refused(devs, cases[i][1], timeout_s);
    }
}

static void skip_no_kvm(void)
{
    g_test_skip("/dev/kvm is not accessible on this host");
}

bool harness_init_disk_tests(int *argc, char ***argv, const char *prefix, GTestDataFunc guest)
{
    g_test_init(argc, argv, NULL);
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_autofree char *path = g_strdup_printf("%s/no-kvm", prefix);
        g_test_add_func(path, skip_no_kvm);
        return false;
    }
    static const HarnessDiskMode modes[] = {
        { "writeback", "threads" }, { "none", "native" }, { "writethrough", "io_uring" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
        g_autofree char *path = g_strdup_printf("%s/guest/%s/%s", prefix, modes[i].io,
                                                modes[i].cache);
        g_test_add_data_func(path, &modes[i], guest);
    }
    return true;
}

/* Debian's qemu-storage-daemon exporting DIR/vu.img (new: made, QSD_IMG_MIB) as a
 * vhost-user-blk server on DIR/vu.sock; returns once the socket exists. */
void qsd_start_on(Qsd *q, const char *dir, bool new_image)
{
    q->img = new_image ? harness_make_image(dir, "vu.img", QSD_IMG_MIB)
                       : g_build_filename(dir, "vu.img", NULL);
    q->sock = g_build_filename(dir, "vu.sock", NULL);
    g_autofree char *bd = g_strdup_printf("driver=file,node-name=f0,filename=%s", q->img);
    g_autofree char *ex = g_strdup_printf("type=vhost-user-blk,id=e0,node-name=f0,"
                                          "addr.type=unix,addr.path=%s,writable=on", q->sock);
    g_autofree char *chr = q->qmp ? g_strdup_printf("socket,id=qmp0,path=%s,server=on,"
                                                    "wait=off", q->qmp) : NULL;
    const char *argv[] = { "qemu-storage-daemon", "--blockdev", bd, "--export", ex,
                           q->qmp ? "--chardev" : NULL, chr, "--monitor", "chardev=qmp0",
                           NULL };
    g_autoptr(GError) err = NULL;
    g_assert_true(g_spawn_async(NULL, (char **)argv, NULL,
                                G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                &q->pid, &err));
    g_assert_no_error(err);
    /* The socket appears once the export listens (a hang guard, not a
     * timing assertion). */
    for (int i = 0; i < 3000 && !g_file_test(q->sock, G_FILE_TEST_EXISTS); i++) {
        int st;
        g_assert_cmpint(waitpid(q->pid, &st, WNOHANG), ==, 0);
        g_usleep(10000);
    }
    g_assert_true(g_file_test(q->sock, G_FILE_TEST_EXISTS));
}

void qsd_start(Qsd *q, const char *dir)
{
    qsd_start_on(q, dir, true);
}

void qsd_kill(Qsd *q)
{
    kill(q->pid, SIGKILL);
    waitpid(q->pid, NULL, 0);
    q->pid = 0;
    g_unlink(q->sock);
}

void qsd_restart(Qsd *q)
{
    if (q->pid > 0)
        qsd_kill(q);
    g_autofree char *dir = g_path_get_dirname(q->sock);
    g_free(q->sock);
    g_free(q->img);
    qsd_start_on(q, dir, false);
}

void qsd_stop(Qsd *q)
{
    if (q->pid > 0) {
        kill(q->pid, SIGTERM);
        waitpid(q->pid, NULL, 0);
        q->pid = 0;
    }
}

void qsd_free(Qsd *q)
{
    qsd_stop(q);
    g_free(q->sock);
    g_free(q->img);
    g_free(q->qmp);
}
