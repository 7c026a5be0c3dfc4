/* vmmd killed at any moment, and a run directory that is full or unsafe.
 *
 * The daemon is SIGKILLed at a sweep of delays after a start, a shutdown
 * and a destroy request (not one lucky timing), restarted, and each time
 * there must be at most one worker per domain, a worker must never run
 * unknown to the daemon (a second start would run a second one on the same
 * disk), and destroy must end it. The run directory is a tiny tmpfs with 0,
 * 1, 2... free pages: a start either succeeds fully (a restarted daemon
 * still finds the worker) or fails with a clear error and leaves no
 * worker. A run directory writable by others or owned by another user,
 * and planted symbolic links, are refused. */
#include "config.h"
#include "daemon-harness.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../raw-socket.h"

/* Sends one request without waiting for its reply: the daemon is killed
 * while it works on it. */
static void send_request(Vmmd *v, const char *cmd, const char *name)
{
    int fd = raw_connect(v->sock);
    g_autoptr(GString) buf = g_string_new(NULL);
    g_free(raw_line(fd, buf));     /* the greeting: the daemon has the client */
    g_autofree char *req = g_strdup_printf(
        "{\"execute\":\"%s\",\"arguments\":{\"name\":\"%s\"},\"id\":1}\n", cmd, name);
    raw_send(fd, req);
    close(fd);
}

static bool inactive(const char *state)
{
    return !strcmp(state, "shutoff") || !strcmp(state, "crashed");
}

/* After a restart: the daemon knows every worker there is, and a start
 * never adds a second one; destroy ends it. */
static void check_one_worker(Vmmd *v, VmmProtoSync *s, const char *name, const char *when)
{
    guint n = count_workers(v, name);
    g_autofree char *st = domain_state(s, name);
    if (n > 1 || (n == 1 && inactive(st))) {
        g_test_message("%s: %u workers of %s, daemon says %s", when, n, name, st);
        dump_logs();
    }
    g_assert_cmpuint(n, <=, 1);
    if (inactive(st)) {
        /* The worker may have been ending by itself (a shutdown): it is
         * gone by now or the daemon would not say so. */
        g_assert_cmpuint(count_workers(v, name), ==, 0);
        domain_op(s, "domain-start", name);
    } else {
        g_free(call_err(s, "domain-start", name_args(name), VMM_PROTO_OPERATION_INVALID));
    }
    if (count_workers(v, name) != 1) {
        g_test_message("%s: %u workers of %s after a start", when, count_workers(v, name), name);
        dump_logs();
    }
    g_assert_cmpuint(count_workers(v, name), ==, 1);
    /* A worker adopted mid-start may still be setting up: destroy works
     * whatever it is doing, and answers once it is gone. */
    g_autoptr(GError) err = NULL;
    json_object_put(vmm_proto_sync_call(s, "domain-destroy", name_args(name), &err));
    if (err)     /* it powered off by itself between the two calls */
        g_assert_error(err, VMM_PROTO_ERROR, VMM_PROTO_OPERATION_INVALID);
    g_assert_cmpuint(count_workers(v, name), ==, 0);
    g_autofree char *after = domain_state(s, name);
    g_assert_true(inactive(after));
}

static void restart(Vmmd *v, VmmProtoSync **s)
{
    g_clear_pointer(s, vmm_proto_sync_free);
    if (v->pid > 0)
        vmmd_stop(v, SIGKILL);
    vmmd_start(v);
    *s = connect_retry(v, v->sock, 5000);
}

/* Delays in ms after the request at which the daemon dies: every 2 ms
 * over the first 30 (spawn and state writes happen there), then wider. */
static const int delays[] = { 0, 1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
                              40, 60, 100 };

/* The size of a file, -1 if missing. */
static goffset file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Waits (bounded) until the domain's log grows: the daemon writes its
 * "starting domain" line just before it spawns the worker, so what
 * follows is the moment a worker exists that a dying daemon may not yet
 * have recorded. Polls without sleeping: the moment is short. */
static void wait_log_growth(Vmmd *v, const char *name, goffset before)
{
    g_autofree char *log = g_strdup_printf("%s/%s.log", v->run, name);
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (file_size(log) <= before && g_get_monotonic_time() < deadline)
        ;
}

typedef enum { KILL_IN_START, KILL_IN_SHUTDOWN, KILL_IN_DESTROY } KillIn;

/* Starts, and kills the daemon `us` microseconds after its log line that
 * precedes the spawn. */
static void kill_after_spawn_sweep(void)
{
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    const char *name = "ks";
    Dom d = { .name = name };
    g_free(define(s, &v, &d));
    g_autofree char *log = g_strdup_printf("%s/%s.log", v.run, name);
    for (int us = 0; us <= 4000; us += 250) {
        goffset before = file_size(log);
        send_request(&v, "domain-start", name);
        wait_log_growth(&v, name, before);
        if (us)
            g_usleep((gulong)us);
        vmm_proto_sync_free(g_steal_pointer(&s));
        vmmd_stop(&v, SIGKILL);
        g_assert_cmpuint(count_workers(&v, name), <=, 1);
        restart(&v, &s);
        g_autofree char *when = g_strdup_printf("domain-start, daemon killed %d us after "
                                                "its log line before the spawn", us);
        check_one_worker(&v, s, name, when);
    }
    vmmd_cleanup(&v);
}

static void kill_sweep(KillIn what, guint step)
{
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    const char *name = "k";
    Dom d = { .name = name };
    g_free(define(s, &v, &d));
    for (guint i = 0; i < G_N_ELEMENTS(delays); i += step) {
        if (what != KILL_IN_START)
            start_idle(s, &v, name);
        const char *cmd = what == KILL_IN_START ? "domain-start"
                        : what == KILL_IN_SHUTDOWN ? "domain-shutdown" : "domain-destroy";
        send_request(&v, cmd, name);
        g_usleep((gulong)delays[i] * 1000);
        vmm_proto_sync_free(g_steal_pointer(&s));
        vmmd_stop(&v, SIGKILL);
        g_assert_cmpuint(count_workers(&v, name), <=, 1);
        restart(&v, &s);
        g_autofree char *when = g_strdup_printf("%s, daemon killed after %d ms", cmd, delays[i]);
        check_one_worker(&v, s, name, when);
    }
    vmmd_cleanup(&v);
}

static void test_kill_in_start(void)
{
    kill_sweep(KILL_IN_START, 1);
    kill_after_spawn_sweep();
}

static void test_kill_in_shutdown(void)
{
    kill_sweep(KILL_IN_SHUTDOWN, 3);
}

static void test_kill_in_destroy(void)
{
    kill_sweep(KILL_IN_DESTROY, 3);
}

/* A worker the daemon has no state file for (lost, or never written by an
 * older vmmd) is found by its lock and adopted. */
static void test_unrecorded_worker(void)
{
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "lost" };
    g_free(define(s, &v, &d));
    start_idle(s, &v, "lost");
    int pid = worker_pid_of(&v, "lost");
    g_autofree char *json = g_strdup_printf("%s/lost.json", v.run);
    restart(&v, &s);                       /* first, with the state file */
    g_assert_cmpint(g_unlink(json), ==, 0);
    restart(&v, &s);
    g_autofree char *st = domain_state(s, "lost");
    g_assert_cmpstr(st, ==, "running");
    g_assert_cmpint(worker_pid_of(&v, "lost"), ==, pid);
    g_assert_cmpuint(count_workers(&v, "lost"), ==, 1);
    domain_op(s, "domain-destroy", "lost");
    g_assert_cmpuint(count_workers(&v, "lost"), ==, 0);
    vmmd_cleanup(&v);
}

/* ---- a full run directory ---------------------------------------------- */

/* Fills the file system of `dir` so that exactly `pages` pages stay free. */
static void leave_free_pages(const char *dir, unsigned pages)
{
    g_autofree char *path = g_build_filename(dir, ".filler", NULL);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    g_assert_cmpint(fd, >=, 0);
    char page[4096];
    memset(page, 'x', sizeof(page));
    off_t size = lseek(fd, 0, SEEK_END);
    for (;;) {
        ssize_t n = pwrite(fd, page, sizeof(page), size);
        if (n < (ssize_t)sizeof(page))
            break;
        size += n;
    }
    g_assert_cmpint(ftruncate(fd, size - (off_t)pages * 4096), ==, 0);
    close(fd);
    struct statvfs sv;
    g_assert_cmpint(statvfs(dir, &sv), ==, 0);
    g_assert_cmpuint(sv.f_bsize, ==, 4096);
    g_assert_cmpuint(sv.f_bfree, ==, pages);
}

static void test_full_run_dir(void)
{
    /* A private mount namespace: the tmpfs is seen by this program and the
     * daemon and workers it starts, and goes with them. */
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        g_autofree char *why = g_strdup_printf("cannot make a mount namespace for a tmpfs: %s",
                                               g_strerror(errno));
        g_test_skip(why);
        return;
    }
    bool succeeded = false;
    for (unsigned pages = 0; pages <= 8 && !succeeded; pages++) {
        Vmmd v;
        vmmd_init(&v);
        g_assert_cmpint(g_mkdir_with_parents(v.run, 0755), ==, 0);
        g_assert_cmpint(mount("vmmd-test", v.run, "tmpfs", MS_NOSUID | MS_NODEV,
                              "size=256k,mode=0755"), ==, 0);
        vmmd_start(&v);
        g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
        Dom d = { .name = "full" };
        g_free(define(s, &v, &d));
        leave_free_pages(v.run, pages);
        g_autoptr(GError) err = NULL;
        json_object_put(vmm_proto_sync_call(s, "domain-start", name_args("full"), &err));
        g_test_message("%u free pages: %s", pages, err ? err->message : "started");
        if (err) {
            g_assert_nonnull(strstr(err->message, "No space left on device"));
            g_assert_nonnull(strstr(err->message, v.run));      /* names the file */
            g_assert_cmpuint(count_workers(&v, "full"), ==, 0);
            restart(&v, &s);
            g_autofree char *st = domain_state(s, "full");
            g_assert_true(inactive(st));
            g_assert_cmpuint(count_workers(&v, "full"), ==, 0);
        } else {
            succeeded = true;
            int pid = worker_pid_of(&v, "full");
            g_assert_cmpuint(count_workers(&v, "full"), ==, 1);
            restart(&v, &s);
            g_autofree char *st = domain_state(s, "full");
            g_assert_false(inactive(st));
            g_assert_cmpint(worker_pid_of(&v, "full"), ==, pid);
            check_one_worker(&v, s, "full", "full run directory");
        }
        /* 0, 1 and 2 free pages are too few for the pid, XML and state files. */
        g_assert_true(err || pages > 2);
        vmm_proto_sync_free(g_steal_pointer(&s));
        vmmd_stop(&v, SIGKILL);
        g_autofree char *run = g_strdup(v.run);
        vmmd_cleanup(&v);
        g_assert_cmpint(umount2(run, MNT_DETACH), ==, 0);
    }
    g_assert_true(succeeded);
}

/* ---- unsafe run directories -------------------------------------------- */

static void expect_refused(Vmmd *v, const char *needle)
{
    g_autofree char *bin = harness_path("daemon/vmmd");
    g_autofree char *worker = harness_path("src/vmm-worker");
    char *argv[] = { bin, "--config-dir", v->cfg, "--run-dir", v->run, "--worker", worker, NULL };
    GPid pid = spawn_logged(v, argv, NULL);
    int st = wait_exit(pid, 15000);
    g_assert_true(WIFEXITED(st));
    g_assert_cmpint(WEXITSTATUS(st), ==, 1);
    g_autofree char *log = read_file(v->log);
    if (!strstr(log, needle))
        g_test_message("expected '%s' in vmmd's log:\n%s", needle, log);
    g_assert_nonnull(strstr(log, needle));
    g_assert_cmpint(truncate(v->log, 0), ==, 0);
}

static void test_unsafe_run_dir(void)
{
    Vmmd v;
    vmmd_init(&v);
    g_assert_cmpint(g_mkdir_with_parents(v.run, 0755), ==, 0);
    g_assert_cmpint(chmod(v.run, 0777), ==, 0);
    expect_refused(&v, "is writable by others (mode 0777)");
    g_assert_cmpint(chmod(v.run, 0775), ==, 0);
    expect_refused(&v, "is writable by its group (mode 0775)");
    g_assert_cmpint(chmod(v.run, 0755), ==, 0);
    if (geteuid() == 0) {
        g_assert_cmpint(chown(v.run, 12345, 12345), ==, 0);
        expect_refused(&v, "is owned by uid 12345");
        g_assert_cmpint(chown(v.run, 0, 0), ==, 0);
    }
    /* The run directory itself a symbolic link. */
    g_autofree char *real = g_build_filename(v.dir, "real-run", NULL);
    g_assert_cmpint(g_rename(v.run, real), ==, 0);
    g_assert_cmpint(symlink(real, v.run), ==, 0);
    expect_refused(&v, "it is a symbolic link");
    g_assert_cmpint(g_unlink(v.run), ==, 0);
    g_assert_cmpint(g_rename(real, v.run), ==, 0);

    /* Symbolic links planted where the daemon writes a domain's files are
     * not followed: the start fails and names the file. */
    vmmd_start(&v);
    /* A second daemon on the same run directory is refused and names the
     * first. */
    g_autofree char *other = g_strdup_printf("another vmmd (pid %d) is already running", v.pid);
    expect_refused(&v, other);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "planted" };
    g_free(define(s, &v, &d));
    g_autofree char *victim = g_build_filename(v.dir, "victim", NULL);
    g_assert_true(g_file_set_contents(victim, "precious\n", -1, NULL));
    const char *exts[] = { "log", "pid" };
    for (unsigned i = 0; i < G_N_ELEMENTS(exts); i++) {
        g_autofree char *link = g_strdup_printf("%s/planted.%s", v.run, exts[i]);
        g_assert_cmpint(symlink(victim, link), ==, 0);
        g_autofree char *msg = call_err(s, "domain-start", name_args("planted"),
                                        VMM_PROTO_INTERNAL_ERROR);
        g_assert_nonnull(strstr(msg, link));
        g_assert_nonnull(strstr(msg, "symbolic link"));
        g_assert_cmpuint(count_workers(&v, "planted"), ==, 0);
        g_autofree char *text = read_file(victim);
        g_assert_cmpstr(text, ==, "precious\n");
        g_assert_cmpint(g_unlink(link), ==, 0);
    }
    /* A FIFO for a log would block the daemon or take the worker's output. */
    g_autofree char *fifo = g_strdup_printf("%s/planted.log", v.run);
    g_unlink(fifo);       /* the log the pid-file attempt created */
    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    g_autofree char *msg = call_err(s, "domain-start", name_args("planted"),
                                    VMM_PROTO_INTERNAL_ERROR);
    g_test_message("FIFO log: %s", msg);
    g_assert_nonnull(strstr(msg, "not a regular file"));
    g_assert_cmpuint(count_workers(&v, "planted"), ==, 0);
    g_assert_cmpint(g_unlink(fifo), ==, 0);
    /* With the plants gone it starts. */
    start_idle(s, &v, "planted");
    domain_op(s, "domain-destroy", "planted");
    vmmd_cleanup(&v);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGABRT, on_abort);
    g_autofree char *kit = harness_path("tests/guest/guestkit.elf");
    g_test_add_func("/daemon-crash/unsafe-run-dir", test_unsafe_run_dir);
    if (access("/dev/kvm", R_OK | W_OK) == 0 && g_file_test(kit, G_FILE_TEST_EXISTS)) {
        g_test_add_func("/daemon-crash/kill-in-start", test_kill_in_start);
        g_test_add_func("/daemon-crash/kill-in-shutdown", test_kill_in_shutdown);
        g_test_add_func("/daemon-crash/kill-in-destroy", test_kill_in_destroy);
        g_test_add_func("/daemon-crash/unrecorded-worker", test_unrecorded_worker);
        /* Last: it leaves this program in its own mount namespace. */
        g_test_add_func("/daemon-crash/full-run-dir", test_full_run_dir);
    } else {
        g_test_message("no /dev/kvm or guest kit: the worker tests are skipped");
    }
    return g_test_run();
}
