/* Helpers for the vmmd integration tests; see daemon-harness.h. */
#include "config.h"
#include "daemon-harness.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The daemon of the running test, for diagnostics when a wait fails. */
Vmmd *current;

json_object *get(json_object *o, const char *k)
{
    json_object *v = NULL;
    json_object_object_get_ex(o, k, &v);
    return v;
}

const char *get_str(json_object *o, const char *k)
{
    return json_object_get_string(get(o, k));
}

/* ---- the daemon process ------------------------------------------------- */

void vmmd_init(Vmmd *v)
{
    memset(v, 0, sizeof(*v));
    current = v;
    v->dir = harness_tmpdir();
    v->cfg = g_build_filename(v->dir, "cfg", NULL);
    v->run = g_build_filename(v->dir, "run", NULL);
    v->sock = g_build_filename(v->run, "vmmd.sock", NULL);
    v->ro_sock = g_build_filename(v->run, "vmmd-ro.sock", NULL);
    v->log = g_build_filename(v->dir, "vmmd.log", NULL);
}

char *read_file(const char *path)
{
    char *s = NULL;
    if (!g_file_get_contents(path, &s, NULL, NULL))
        return g_strdup("");
    return s;
}

char **daemon_env(const char *const *extra)
{
    char **env = g_get_environ();
    g_autofree char *schemas = g_build_filename(harness_srcdir(), "schemas", NULL);
    env = g_environ_setenv(env, "VMM_SCHEMA_DIR", schemas, TRUE);
    env = g_environ_unsetenv(env, "NOTIFY_SOCKET");
    env = g_environ_unsetenv(env, "WATCHDOG_USEC");
    env = g_environ_unsetenv(env, "LISTEN_FDS");
    for (int i = 0; extra && extra[i] && extra[i + 1]; i += 2)
        env = g_environ_setenv(env, extra[i], extra[i + 1], TRUE);
    return env;
}

/* The daemon dies with the test program, whatever ends it. */
void die_with_parent(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* Spawns argv with stdout/stderr appended to the daemon log. */
GPid spawn_logged(Vmmd *v, char **argv, const char *const *extra_env)
{
    int logfd = open(v->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    g_assert_cmpint(logfd, >=, 0);
    g_auto(GStrv) env = daemon_env(extra_env);
    GPid pid = 0;
    g_autoptr(GError) err = NULL;
    gboolean ok = g_spawn_async_with_fds(NULL, argv, env,
                                         G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL,
                                         die_with_parent, NULL, &pid, -1, logfd, logfd, &err);
    close(logfd);
    g_assert_no_error(err);
    g_assert_true(ok);
    return pid;
}

int wait_exit(GPid pid, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        g_assert_cmpint(r, ==, 0);
        if (g_get_monotonic_time() > deadline)
            return -1;
        g_usleep(10 * 1000);
    }
}

bool alive(GPid pid)
{
    int status;
    return waitpid(pid, &status, WNOHANG) == 0;
}

/* Connects to a socket that may not be there yet. */
VmmProtoSync *connect_retry(Vmmd *v, const char *path, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        g_autoptr(GError) err = NULL;
        VmmProtoSync *s = vmm_proto_sync_connect(path, 2000, &err);
        if (s) {
            vmm_proto_sync_set_timeout(s, CALL_TIMEOUT_MS);
            return s;
        }
        if (v && v->pid && !alive(v->pid)) {
            g_autofree char *log = read_file(v->log);
            g_test_message("vmmd exited; its log:\n%s", log);
            g_assert_not_reached();
        }
        if (g_get_monotonic_time() > deadline) {
            g_test_message("cannot connect to %s: %s", path, err->message);
            g_assert_not_reached();
        }
        g_usleep(20 * 1000);
    }
}

/* Every test daemon gets its own cgroup partition (unless its vmmd.conf
 * names one): daemons of tests run in parallel never share a VM's group,
 * and cleanup removes what a killed worker left. */
static void own_partition(Vmmd *v)
{
    g_autofree char *conf = g_build_filename(v->cfg, "vmmd.conf", NULL);
    g_autofree char *text = read_file(conf);
    if (strstr(text, "[cgroup]"))
        return;
    g_free(v->partition);
    g_autofree char *base = g_path_get_basename(v->dir);
    v->partition = g_strdup_printf("vmmd-%s", base);
    g_assert_cmpint(g_mkdir_with_parents(v->cfg, 0755), ==, 0);
    g_autofree char *more = g_strdup_printf("%s%s[cgroup]\npartition=%s\n", text,
                                            *text && !g_str_has_suffix(text, "\n") ? "\n" : "",
                                            v->partition);
    g_assert_true(g_file_set_contents(conf, more, -1, NULL));
}

/* rmdir DIR and the groups below it, deepest first. */
static void remove_groups(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *n;
    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, n, NULL);
        if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
            remove_groups(p);
    }
    if (d)
        g_dir_close(d);
    for (int i = 0; i < 100 && rmdir(dir) < 0 && errno == EBUSY; i++)
        g_usleep(20 * 1000);   /* a killed worker leaves its group late */
}

static void remove_partition_groups(const char *partition)
{
    g_autofree char *text = read_file("/proc/self/cgroup");
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, ":", 3);
        if (g_strv_length(f) != 3)
            continue;
        g_auto(GStrv) ctrls = g_strsplit(*f[1] ? f[1] : "unified", ",", -1);
        for (char **c = ctrls; *c; c++) {
            g_autofree char *dir = g_strdup_printf("/sys/fs/cgroup/%s%s/%s", *c, f[2], partition);
            if (g_file_test(dir, G_FILE_TEST_IS_DIR))
                remove_groups(dir);
        }
    }
}

void vmmd_start_full(Vmmd *v, const char *const *extra_env, const char *const *extra_args)
{
    own_partition(v);
    g_autofree char *bin = harness_path("daemon/vmmd");
    g_autofree char *worker = harness_path("src/vmm-worker");
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    const char *base[] = { bin, "--config-dir", v->cfg, "--run-dir", v->run, "--worker", worker,
                           "--verbose" };
    for (unsigned i = 0; i < G_N_ELEMENTS(base); i++)
        g_ptr_array_add(args, (char *)base[i]);
    for (unsigned i = 0; extra_args && extra_args[i]; i++)
        g_ptr_array_add(args, (char *)extra_args[i]);
    g_ptr_array_add(args, NULL);
    char **argv = (char **)args->pdata;
    /* A socket left by a killed daemon would accept no connection; wait
     * for the new daemon's own. */
    v->pid = spawn_logged(v, argv, extra_env);
    gint64 deadline = g_get_monotonic_time() + 15 * G_USEC_PER_SEC;
    for (;;) {
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmProtoSync) s = vmm_proto_sync_connect(v->sock, 2000, &err);
        if (s)
            break;
        if (!alive(v->pid)) {
            g_autofree char *log = read_file(v->log);
            g_test_message("vmmd exited at start; its log:\n%s", log);
            g_assert_not_reached();
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(20 * 1000);
    }
}

void vmmd_start_env(Vmmd *v, const char *const *extra_env)
{
    vmmd_start_full(v, extra_env, NULL);
}

void vmmd_start(Vmmd *v)
{
    vmmd_start_env(v, NULL);
}

int vmmd_stop(Vmmd *v, int sig)
{
    g_assert_cmpint(v->pid, >, 0);
    kill(v->pid, sig);
    int st = wait_exit(v->pid, 15000);
    g_assert_cmpint(st, !=, -1);
    v->pid = 0;
    return st;
}

void assert_no_sanitizer_report(const char *what, const char *text)
{
    if (strstr(text, "AddressSanitizer") || strstr(text, "runtime error:") ||
        strstr(text, "LeakSanitizer")) {
        g_test_message("sanitizer report in %s:\n%s", what, text);
        g_test_fail();
    }
}

/* Pids of the workers running domains of this daemon (by their command
 * line, which names our run directory). A worker's own child (it builds
 * its seccomp filters in one, for a moment) is not a second worker. */
GArray *worker_pids(Vmmd *v, const char *name)
{
    GArray *pids = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GArray) ppids = g_array_new(FALSE, FALSE, sizeof(int));
    g_autofree char *want = name ? g_strdup_printf("%s/%s.sock", v->run, name)
                                 : g_strdup_printf("%s/", v->run);
    GDir *d = g_dir_open("/proc", 0, NULL);
    const char *n;
    while ((n = g_dir_read_name(d))) {
        int pid = atoi(n);
        if (pid <= 0)
            continue;
        g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", pid);
        g_autofree char *cmd = NULL;
        gsize len = 0;
        if (!g_file_get_contents(path, &cmd, &len, NULL) || len == 0)
            continue;
        /* argv: vmm-worker --xml X --control-socket S --exit-file E */
        bool is_worker = false, match = false;
        for (gsize off = 0; off < len; off += strlen(cmd + off) + 1) {
            const char *arg = cmd + off;
            if (g_str_has_suffix(arg, "vmm-worker") && off == 0)
                is_worker = true;
            if (name ? strcmp(arg, want) == 0 : g_str_has_prefix(arg, want))
                match = true;
        }
        g_autofree char *stat = g_strdup_printf("/proc/%d/stat", pid);
        g_autofree char *st = read_file(stat);
        const char *p = strrchr(st, ')');
        int ppid = 0;
        if (is_worker && match && p && p[2] != 'Z' && sscanf(p + 3, "%d", &ppid) == 1) {
            g_array_append_val(pids, pid);
            g_array_append_val(ppids, ppid);
        }
    }
    g_dir_close(d);
    for (guint i = pids->len; i-- > 0;)
        for (guint j = 0; j < pids->len; j++)
            if (g_array_index(ppids, int, i) == g_array_index(pids, int, j)) {
                g_array_remove_index(pids, i);
                g_array_remove_index(ppids, i);
                break;
            }
    return pids;
}

void dump_logs(void)
{
    if (!current)
        return;
    g_autofree char *log = read_file(current->log);
    g_test_message("vmmd's log:\n%s", log);
    GDir *d = g_dir_open(current->run, 0, NULL);
    const char *n;
    while (d && (n = g_dir_read_name(d))) {
        if (!g_str_has_suffix(n, ".log"))
            continue;
        g_autofree char *p = g_build_filename(current->run, n, NULL);
        g_autofree char *wl = read_file(p);
        g_test_message("%s:\n%s", n, wl);
    }
    if (d)
        g_dir_close(d);
}

guint count_workers(Vmmd *v, const char *name)
{
    g_autoptr(GArray) pids = worker_pids(v, name);
    return pids->len;
}

/* End of a test: no daemon, no workers left, no sanitizer reports, no
 * worker stopped by its seccomp allow-list. */
void vmmd_cleanup(Vmmd *v)
{
    if (v->pid > 0)
        vmmd_stop(v, SIGKILL);
    g_autoptr(GArray) pids = worker_pids(v, NULL);
    for (guint i = 0; i < pids->len; i++)
        kill(g_array_index(pids, int, i), SIGKILL);
    if (v->partition)
        remove_partition_groups(v->partition);
    g_clear_pointer(&v->partition, g_free);
    g_autofree char *log = read_file(v->log);
    assert_no_sanitizer_report("vmmd's log", log);
    GDir *d = g_dir_open(v->run, 0, NULL);
    const char *n;
    while (d && (n = g_dir_read_name(d))) {
        if (!g_str_has_suffix(n, ".log"))
            continue;
        g_autofree char *p = g_build_filename(v->run, n, NULL);
        g_autofree char *wl = read_file(p);
        assert_no_sanitizer_report(n, wl);
        /* a worker the sandbox stopped: its allow-list lacks a call */
        if (strstr(wl, "\nseccomp: ")) {
            g_test_message("the worker's seccomp allow-list stopped it, in %s:\n%s", n, wl);
            g_test_fail();
        }
    }
    if (d)
        g_dir_close(d);
    current = NULL;
    g_free(v->cfg);
    g_free(v->run);
    g_free(v->sock);
    g_free(v->ro_sock);
    g_free(v->log);
    g_free(v->dir);
}

/* ---- protocol helpers --------------------------------------------------- */

json_object *call_ok(VmmProtoSync *s, const char *cmd, json_object *args)
{
    g_autoptr(GError) err = NULL;
    json_object *ret = vmm_proto_sync_call(s, cmd, args, &err);
    if (err)
        g_test_message("%s failed: %s", cmd, err->message);
    g_assert_no_error(err);
    return ret;
}

void call_void(VmmProtoSync *s, const char *cmd, json_object *args)
{
    json_object_put(call_ok(s, cmd, args));
}

/* The error class of a call that must fail; returns its message. */
char *call_err(VmmProtoSync *s, const char *cmd, json_object *args, VmmProtoErrorClass cls)
{
    GError *err = NULL;
    json_object *ret = vmm_proto_sync_call(s, cmd, args, &err);
    if (ret)
        g_test_message("%s unexpectedly returned %s", cmd, json_object_to_json_string(ret));
    g_assert_null(ret);
    g_assert_nonnull(err);
    if (!g_error_matches(err, VMM_PROTO_ERROR, cls))
        g_test_message("%s: expected %s, got: %s", cmd, vmm_proto_error_class_name(cls),
                       err->message);
    g_assert_error(err, VMM_PROTO_ERROR, (int)cls);
    char *msg = g_strdup(err->message);
    g_error_free(err);
    return msg;
}

json_object *name_args(const char *name)
{
    json_object *a = json_object_new_object();
    json_object_object_add(a, "name", json_object_new_string(name));
    return a;
}

void domain_op(VmmProtoSync *s, const char *cmd, const char *name)
{
    call_void(s, cmd, name_args(name));
}

json_object *domain_info(VmmProtoSync *s, const char *name)
{
    return call_ok(s, "domain-info", name_args(name));
}

char *domain_state(VmmProtoSync *s, const char *name)
{
    json_object *i = domain_info(s, name);
    char *st = g_strdup(get_str(i, "state"));
    json_object_put(i);
    return st;
}

/* Waits for DOMAIN_STATE of `name` with `state` (and `reason` if given);
 * other events are skipped. Returns the event's data. */
json_object *wait_state(VmmProtoSync *s, const char *name, const char *state,
                        const char *reason)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)EVENT_TIMEOUT_MS * 1000;
    for (;;) {
        int left = (int)((deadline - g_get_monotonic_time()) / 1000);
        g_autoptr(GError) err = NULL;
        json_object *ev = vmm_proto_sync_next_event(s, MAX(left, 0), &err);
        if (!ev) {
            g_test_message("waiting for %s %s (%s): %s", name, state, reason ? reason : "*",
                           err->message);
            dump_logs();
        }
        g_assert_nonnull(ev);
        json_object *data = get(ev, "data");
        if (!g_strcmp0(get_str(ev, "event"), "DOMAIN_STATE") &&
            !g_strcmp0(get_str(data, "name"), name) && !g_strcmp0(get_str(data, "state"), state) &&
            (!reason || !g_strcmp0(get_str(data, "reason"), reason))) {
            json_object *r = json_object_get(data);
            json_object_put(ev);
            return r;
        }
        json_object_put(ev);
    }
}

json_object *wait_event(VmmProtoSync *s, const char *event, const char *name)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)EVENT_TIMEOUT_MS * 1000;
    for (;;) {
        int left = (int)((deadline - g_get_monotonic_time()) / 1000);
        g_autoptr(GError) err = NULL;
        json_object *ev = vmm_proto_sync_next_event(s, MAX(left, 0), &err);
        g_assert_no_error(err);
        if (!g_strcmp0(get_str(ev, "event"), event) &&
            !g_strcmp0(get_str(get(ev, "data"), "name"), name)) {
            json_object *r = json_object_get(get(ev, "data"));
            json_object_put(ev);
            return r;
        }
        json_object_put(ev);
    }
}

/* Waits until the serial log has `count` lines containing `needle`. */
void wait_serial(const char *path, const char *needle, int count)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *text = read_file(path);
        /* Only lines the guest has finished count: the serial file is read
         * while the worker writes it, and a caller reads the line next. */
        int n = 0;
        for (const char *p = text; (p = strstr(p, needle)); p++)
            if (strchr(p, '\n'))
                n++;
        if (n >= count)
            return;
        if (g_get_monotonic_time() > deadline) {
            g_test_message("serial %s has %d of %d '%s':\n%s", path, n, count, needle, text);
            dump_logs();
            g_assert_not_reached();
        }
        g_usleep(20 * 1000);
    }
}

char *serial_path(Vmmd *v, const char *name)
{
    g_autofree char *f = g_strdup_printf("%s.serial", name);
    return g_build_filename(v->dir, f, NULL);
}

char *domain_xml(Vmmd *v, const Dom *d)
{
    g_autofree char *kernel = harness_path("tests/guest/guestkit.elf");
    g_autofree char *serial = d->serial ? g_strdup(d->serial) : serial_path(v, d->name);
    g_autofree char *uuid = d->uuid ? g_strdup_printf("  <uuid>%s</uuid>\n", d->uuid) : g_strdup("");
    g_autofree char *ser = d->no_serial ? g_strdup("")
        : g_strdup_printf("<serial type='file'><source path='%s'/><target port='0'/></serial>",
                          serial);
    return g_strdup_printf(
        "<domain type='kvm'>\n"
        "  <name>%s</name>\n%s"
        "  <memory unit='MiB'>64</memory>\n"
        "  <vcpu>1</vcpu>\n"
        "  <os>\n"
        "    <type arch='x86_64'>hvm</type>\n"
        "    <kernel>%s</kernel>\n"
        "    <cmdline>%s</cmdline>\n"
        "  </os>\n"
        "  <features>%s<apic/></features>\n"
        "  <on_poweroff>%s</on_poweroff>\n"
        "  <on_reboot>restart</on_reboot>\n"
        "  <on_crash>destroy</on_crash>\n"
        "  <devices>%s%s</devices>\n"
        "</domain>\n",
        d->name, uuid, kernel, d->cmdline ? d->cmdline : "test=idle",
        d->no_acpi ? "" : "<acpi/>", d->on_poweroff ? d->on_poweroff : "destroy", ser,
        d->extra_devices ? d->extra_devices : "");
}

json_object *define_args(const char *xml)
{
    json_object *a = json_object_new_object();
    json_object_object_add(a, "xml", json_object_new_string(xml));
    return a;
}

char *define(VmmProtoSync *s, Vmmd *v, const Dom *d)
{
    g_autofree char *xml = domain_xml(v, d);
    json_object *r = call_ok(s, "domain-define", define_args(xml));
    g_assert_cmpstr(get_str(r, "name"), ==, d->name);
    char *uuid = g_strdup(get_str(r, "uuid"));
    g_assert_cmpuint(strlen(uuid), ==, 36);
    json_object_put(r);
    return uuid;
}

json_object *list(VmmProtoSync *s, bool all)
{
    json_object *a = json_object_new_object();
    json_object_object_add(a, "all", json_object_new_boolean(all));
    return call_ok(s, "domain-list", a);
}

json_object *list_find(json_object *l, const char *name)
{
    for (size_t i = 0; i < json_object_array_length(l); i++)
        if (!g_strcmp0(get_str(json_object_array_get_idx(l, i), "name"), name))
            return json_object_array_get_idx(l, i);
    return NULL;
}

/* domain-shutdown (the ACPI power button), then the shutoff event. One
 * press must do: a press the guest kit missed would be a bug. */
void shutdown_and_wait(VmmProtoSync *s, VmmProtoSync *ev, const char *name)
{
    g_autoptr(GError) err = NULL;
    json_object *r = vmm_proto_sync_call(s, "domain-shutdown", name_args(name), &err);
    g_assert_no_error(err);
    json_object_put(r);
    gint64 deadline = g_get_monotonic_time() + 15 * G_USEC_PER_SEC;
    while (g_get_monotonic_time() < deadline) {
        g_autoptr(GError) e2 = NULL;
        json_object *e = vmm_proto_sync_next_event(ev, 200, &e2);
        json_object *data = get(e, "data");
        bool done = e && !g_strcmp0(get_str(e, "event"), "DOMAIN_STATE") &&
                    !g_strcmp0(get_str(data, "name"), name) &&
                    !g_strcmp0(get_str(data, "state"), "shutoff");
        if (done)
            g_assert_cmpstr(get_str(data, "reason"), ==, "shutdown");
        json_object_put(e);
        if (done)
            return;
    }
    g_test_message("%s: no shutoff within 15 s of the power button", name);
    dump_logs();
    g_assert_not_reached();
}

/* Starts and waits until the guest kit idles (its ACPI handler is up).
 * The worker truncates the serial file at each start; so do we, first. */
void start_idle(VmmProtoSync *s, Vmmd *v, const char *name)
{
    g_autofree char *serial = serial_path(v, name);
    g_unlink(serial);
    domain_op(s, "domain-start", name);
    wait_serial(serial, "\"event\":\"idle\"", 1);
}

/* A domain started behind our back (autostart) is running once the
 * daemon has heard from its worker. */
void wait_running(VmmProtoSync *s, const char *name)
{
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *st = domain_state(s, name);
        if (!strcmp(st, "running"))
            return;
        if (g_get_monotonic_time() > deadline) {
            g_test_message("%s is still %s", name, st);
            dump_logs();
            g_assert_not_reached();
        }
        g_usleep(20 * 1000);
    }
}

int worker_pid_of(Vmmd *v, const char *name)
{
    g_autofree char *f = g_strdup_printf("%s/%s.pid", v->run, name);
    g_autofree char *text = read_file(f);
    return atoi(text);
}

/* A failed assertion aborts: take the workers of the test's daemon down
 * too (they are in their own sessions, by design), so a failure leaves no
 * VMs running. Not async-signal-safe, but the process is dying anyway. */
void on_abort(int sig)
{
    signal(SIGABRT, SIG_DFL);
    if (current && current->run) {
        if (current->pid > 0)
            kill(current->pid, SIGKILL);
        GArray *pids = worker_pids(current, NULL);
        for (guint i = 0; i < pids->len; i++)
            kill(g_array_index(pids, int, i), SIGKILL);
    }
    raise(SIGABRT);
}
