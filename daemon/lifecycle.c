/* Domain lifecycle: starting workers, supervising them, stopping them, and
 * re-attaching to them after a daemon restart.
 *
 * A worker runs in its own session (setsid) so that stopping the daemon
 * never stops a VM. It is watched through a pidfd, which works the same
 * for our own children and for workers adopted from a previous daemon;
 * our own children are also reaped with waitpid for their exit status,
 * adopted ones report through <run>/NAME.exit. A pid from a state file is
 * adopted only if /proc/PID/stat shows the same start time, so a recycled
 * pid is never mistaken for a worker.
 *
 * One lifecycle operation (job) runs per domain at a time; destroy is the
 * exception: it may interrupt any of them, as libvirt's does. */
#include "config.h"
#include "conf/domain_format.h"
#include "conf/domain_desc.h"
#include "daemon/run_files.h"
#include "daemon/vmmd.h"
#include "net/netdev.h"
#include "worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#define CONNECT_POLL_MS 50
#define RUN_XML_MAX (4 * 1024 * 1024)
#define PID_FILE_MAX 64
/* A restarted daemon that finds NAME.pid locked but no pid in it waits this
 * long for the worker (between fork and exec) to write it. */
#define PID_WRITE_WAIT_MS 2000
#define LOG_TAIL_BYTES 4096

static const char *const state_names[] = {
    [VMMD_STATE_NOSTATE] = "nostate", [VMMD_STATE_RUNNING] = "running",
    [VMMD_STATE_BLOCKED] = "blocked", [VMMD_STATE_PAUSED] = "paused",
    [VMMD_STATE_SHUTDOWN] = "shutdown", [VMMD_STATE_SHUTOFF] = "shutoff",
    [VMMD_STATE_CRASHED] = "crashed",
};

const char *vmmd_state_name(VmmdState s)
{
    return (unsigned)s < G_N_ELEMENTS(state_names) ? state_names[s] : "nostate";
}

static VmmdState state_from_name(const char *name)
{
    for (unsigned i = 0; name && i < G_N_ELEMENTS(state_names); i++)
        if (strcmp(state_names[i], name) == 0)
            return (VmmdState)i;
    return VMMD_STATE_NOSTATE;
}

/* libvirt's reason strings, indexed by their enum values. */
static const char *const running_reasons[] = {
    "unknown", "booted", "migrated", "restored", "from snapshot", "unpaused",
    "migration canceled", "save canceled", "wakeup", "crashed", "post-copy", NULL };
static const char *const paused_reasons[] = {
    "unknown", "user", "migration", "save", "dump", "ioerror", "watchdog", "from snapshot",
    "shutdown", "snapshot", "panicked", "starting up", NULL };
static const char *const shutdown_reasons[] = { "unknown", "user", NULL };
static const char *const shutoff_reasons[] = {
    "unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed",
    "from snapshot", "daemon", NULL };
static const char *const crashed_reasons[] = { "unknown", "panicked", NULL };

int vmmd_reason_number(VmmdState s, const char *reason)
{
    const char *const *t = s == VMMD_STATE_RUNNING ? running_reasons
                         : s == VMMD_STATE_PAUSED ? paused_reasons
                         : s == VMMD_STATE_SHUTDOWN ? shutdown_reasons
                         : s == VMMD_STATE_SHUTOFF ? shutoff_reasons
                         : s == VMMD_STATE_CRASHED ? crashed_reasons : NULL;
    for (int i = 0; t && reason && t[i]; i++)
        if (strcmp(t[i], reason) == 0)
            return i;
    return 0;
}

/* Reasons are kept as static strings; map a parsed one back to ours. */
static const char *static_reason(const char *r)
{
    static const char *const all[] = { "unknown", "booted", "unpaused", "user", "shutdown",
                                       "destroyed", "crashed", "failed", "panicked",
                                       "starting up", "daemon", NULL };
    for (int i = 0; r && all[i]; i++)
        if (strcmp(all[i], r) == 0)
            return all[i];
    return "unknown";
}

bool vmmd_domain_is_active(const VmmdDomain *dom)
{
    return dom->pid > 0;
}

static const char *job_name(VmmdJob j)
{
    switch (j) {
    case VMMD_JOB_START: return "a start";
    case VMMD_JOB_SHUTDOWN: return "a shutdown request";
    case VMMD_JOB_REBOOT: return "a reboot request";
    case VMMD_JOB_SUSPEND: return "a suspend";
    case VMMD_JOB_RESUME: return "a resume";
    default: return "nothing";
    }
}

static char *run_path(const VmmdDomain *dom, const char *ext)
{
    g_autofree char *file = g_strdup_printf("%s.%s", dom->name, ext);
    return g_build_filename(dom->daemon->run_dir, file, NULL);
}

/* ------------------------------------------------------------------------ */
/* /proc                                                                    */

typedef struct {
    char state;
    guint64 utime, stime;      /* clock ticks */
    guint64 start_time;        /* clock ticks since boot */
} ProcStat;

static bool read_proc_stat(pid_t pid, ProcStat *ps)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return false;
    /* The command name is in parentheses and may hold anything: fields
     * start after the last ')'. */
    const char *p = strrchr(text, ')');
    if (!p)
        return false;
    g_auto(GStrv) f = g_strsplit(p + 2, " ", 0);
    if (g_strv_length(f) < 20)
        return false;
    ps->state = f[0][0];              /* field 3 */
    ps->utime = g_ascii_strtoull(f[11], NULL, 10);       /* field 14 */
    ps->stime = g_ascii_strtoull(f[12], NULL, 10);       /* field 15 */
    ps->start_time = g_ascii_strtoull(f[19], NULL, 10);  /* field 22 */
    return true;
}

bool vmmd_domain_cpu_times(const VmmdDomain *dom, guint64 *user_ns, guint64 *system_ns)
{
    ProcStat ps;
    if (dom->pid <= 0 || !read_proc_stat(dom->pid, &ps))
        return false;
    long hz = sysconf(_SC_CLK_TCK);
    guint64 tick = 1000000000ULL / (guint64)(hz > 0 ? hz : 100);
    *user_ns = ps.utime * tick;
    *system_ns = ps.stime * tick;
    return true;
}

guint64 vmmd_domain_cpu_time_ns(const VmmdDomain *dom)
{
    guint64 user, sys;
    return vmmd_domain_cpu_times(dom, &user, &sys) ? user + sys : 0;
}

/* "se.statistics.wait_sum" (older kernels) or "wait_sum" in a task's
 * sched file, in ms with a fraction; the file exists only with
 * CONFIG_SCHED_DEBUG. */
static bool read_wait_sum(const char *task_dir, guint64 *ns)
{
    g_autofree char *path = g_build_filename(task_dir, "sched", NULL);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return false;
    g_auto(GStrv) lines = g_strsplit(text, "\n", 0);
    for (guint i = 0; lines[i]; i++) {
        char *colon = strchr(lines[i], ':');
        if (!colon)
            continue;
        *colon = 0;
        g_strstrip(lines[i]);
        if (strcmp(lines[i], "se.statistics.wait_sum") && strcmp(lines[i], "se.wait_sum") &&
            strcmp(lines[i], "wait_sum"))
            continue;
        double ms = g_ascii_strtod(colon + 1, NULL);
        *ns = ms > 0 ? (guint64)(ms * 1e6) : 0;
        return true;
    }
    return false;
}

bool vmmd_domain_vcpu_sched(const VmmdDomain *dom, unsigned index, VmmdVcpuSched *out)
{
    memset(out, 0, sizeof(*out));
    if (dom->pid <= 0)
        return false;
    /* the worker names its vCPU threads "vcpuN" (pthread_setname_np) */
    g_autofree char *want = g_strdup_printf("vcpu%u\n", index);
    g_autofree char *tasks = g_strdup_printf("/proc/%d/task", (int)dom->pid);
    g_autoptr(GDir) dir = g_dir_open(tasks, 0, NULL);
    const char *tid;
    while (dir && (tid = g_dir_read_name(dir))) {
        g_autofree char *task_dir = g_build_filename(tasks, tid, NULL);
        g_autofree char *comm_path = g_build_filename(task_dir, "comm", NULL);
        g_autofree char *comm = NULL;
        if (!g_file_get_contents(comm_path, &comm, NULL, NULL) || strcmp(comm, want) != 0)
            continue;
        /* schedstat: time on the CPU, time waiting on a run queue (ns), slices */
        g_autofree char *ss_path = g_build_filename(task_dir, "schedstat", NULL);
        g_autofree char *ss = NULL;
        guint64 run, delay;
        if (g_file_get_contents(ss_path, &ss, NULL, NULL) &&
            sscanf(ss, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, &run, &delay) == 2) {
            out->delay_ns = delay;
            out->has_delay = true;
        }
        out->has_wait = read_wait_sum(task_dir, &out->wait_ns);
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* state                                                                    */

/* NAME.json: what a restarted daemon needs to adopt the worker. Written
 * (and synced) before the worker is spawned, with pid 0 and the reason
 * "starting up"; the pid is in NAME.pid, which the worker holds locked. */
static bool write_state_file_err(VmmdDomain *dom, GError **err)
{
    VmmDaemon *d = dom->daemon;
    json_object *o = json_object_new_object();
    g_autofree char *xml_path = run_path(dom, "xml");
    json_object_object_add(o, "name", json_object_new_string(dom->name));
    json_object_object_add(o, "uuid", json_object_new_string(dom->uuid));
    json_object_object_add(o, "pid", json_object_new_int(dom->pid));
    json_object_object_add(o, "pid_start_time", json_object_new_int64((gint64)dom->pid_start_time));
    json_object_object_add(o, "state", json_object_new_string(vmmd_state_name(dom->state)));
    json_object_object_add(o, "reason", json_object_new_string(dom->reason));
    json_object_object_add(o, "started_at", json_object_new_int64(dom->started_at));
    json_object_object_add(o, "xml_path", json_object_new_string(xml_path));
    json_object_object_add(o, "id", json_object_new_int(dom->id));
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
    g_autofree char *file = g_strdup_printf("%s.json", dom->name);
    bool ok = vmmd_write_file_atomic_at(d->run_fd, d->run_dir, file, text, strlen(text), 0644,
                                        err);
    json_object_put(o);
    return ok;
}

/* Later updates: the file already records the worker, so a failure leaves
 * an older state that re-attach corrects with query-status. */
static void write_state_file(VmmdDomain *dom)
{
    GError *err = NULL;
    if (!write_state_file_err(dom, &err)) {
        vmmd_log(dom->daemon, dom, LOG_ERR, "%s", err->message);
        g_error_free(err);
    }
}

static void set_state(VmmdDomain *dom, VmmdState state, const char *reason, const char *detail)
{
    VmmDaemon *d = dom->daemon;
    if (dom->state == state && strcmp(dom->reason, reason) == 0)
        return;
    /* libvirt reports a new state, not a new reason (a guest reset is its
     * reboot event, not a second start). */
    bool changed = dom->state != state;
    dom->state = state;
    dom->reason = reason;
    vmmd_log(d, dom, LOG_INFO, "state %s (%s)%s%s", vmmd_state_name(state), reason,
             detail ? ": " : "", detail ? detail : "");
    if (vmmd_domain_is_active(dom))
        write_state_file(dom);
    if (changed)
        vmmd_libvirt_state_event(dom);
    if (!d->server)
        return;
    json_object *data = json_object_new_object();
    json_object_object_add(data, "name", json_object_new_string(dom->name));
    json_object_object_add(data, "uuid", json_object_new_string(dom->uuid));
    json_object_object_add(data, "state", json_object_new_string(vmmd_state_name(state)));
    json_object_object_add(data, "reason", json_object_new_string(reason));
    if (detail)
        json_object_object_add(data, "detail", json_object_new_string(detail));
    vmm_proto_server_broadcast(d->server, "DOMAIN_STATE", data);
}

static void remove_run_file(VmmdDomain *dom, const char *ext)
{
    g_autofree char *file = g_strdup_printf("%s.%s", dom->name, ext);
    unlinkat(dom->daemon->run_fd, file, 0);
}

/* The state file goes last: while it is there, a restarted daemon looks
 * for the worker. */
static void remove_run_files(VmmdDomain *dom)
{
    /* the images' owners back, the dynamic uid free (RUNDIR/NAME.seclabel) */
    vmmd_seclabel_release(dom);
    static const char *const exts[] = { "pid", "sock", "xml", "exit", "json" };
    for (unsigned i = 0; i < G_N_ELEMENTS(exts); i++)
        remove_run_file(dom, exts[i]);
}

/* The last lines of the worker's log: why it failed, in its own words. */
static char *log_tail(VmmdDomain *dom)
{
    g_autofree char *file = g_strdup_printf("%s.log", dom->name);
    int fd = openat(dom->daemon->run_fd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > LOG_TAIL_BYTES ? size - LOG_TAIL_BYTES : 0;
    char buf[LOG_TAIL_BYTES + 1];
    ssize_t n = pread(fd, buf, LOG_TAIL_BYTES, from);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = 0;
    g_auto(GStrv) lines = g_strsplit(buf, "\n", -1);
    /* The last non-empty line that is not our own start marker. */
    for (int i = (int)g_strv_length(lines) - 1; i >= 0; i--) {
        char *l = g_strstrip(lines[i]);
        if (*l && !g_str_has_prefix(l, "--- vmmd"))
            return g_utf8_make_valid(l, -1);
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* the worker connection                                                    */

static void clear_source(GSource **s)
{
    if (*s) {
        g_source_destroy(*s);
        g_source_unref(*s);
        *s = NULL;
    }
}

/* <vcpupin>, <emulatorpin> and the vcpuN/emulator groups for the worker's
 * threads as they are now. */
static bool place_threads(VmmdDomain *dom, GError **err)
{
    return !dom->live_def ||
           vmmd_cgroup_place_threads(dom->cgroup, dom->pid, dom->live_def, err);
}

typedef struct {
    VmmdDomain *dom;
    unsigned run;
    bool adopt;
    bool after_reset;            /* only to place the new vCPU threads */
} StatusCall;

static void on_status(VmmProtoClient *c, json_object *ret, const GError *err, void *opaque);

static void on_worker_event(VmmProtoClient *c, const char *event, json_object *data, void *opaque)
{
    VmmdDomain *dom = opaque;
    VmmDaemon *d = dom->daemon;
    vmmd_log(d, dom, LOG_DEBUG, "worker event %s", event);
    if (strcmp(event, "STOP") == 0) {
        if (dom->state == VMMD_STATE_RUNNING)
            set_state(dom, VMMD_STATE_PAUSED, "user", NULL);
    } else if (strcmp(event, "RESUME") == 0) {
        if (dom->state == VMMD_STATE_PAUSED)
            set_state(dom, VMMD_STATE_RUNNING, "unpaused", NULL);
    } else if (strcmp(event, "RESET") == 0) {
        /* The guest restarted inside the same worker: a fresh boot, as
         * libvirt reports it (running/booted, whatever came before). A
         * running guest's reset is only the reboot event for libvirt's
         * QEMU driver, not a lifecycle one: the reason changes quietly. */
        if (dom->state == VMMD_STATE_RUNNING) {
            dom->reason = "booted";
            write_state_file(dom);
        } else {
            set_state(dom, VMMD_STATE_RUNNING, "booted", NULL);
        }
        /* A reset makes new vCPU threads, which exist once the worker
         * answers again: place them then. */
        if (dom->cgroup || (dom->live_def && dom->live_def->tune)) {
            StatusCall *sc = g_new0(StatusCall, 1);
            sc->dom = dom;
            sc->run = dom->run;
            sc->after_reset = true;
            if (!vmmd_domain_worker_call(dom, "query-status", NULL, on_status, sc, NULL))
                g_free(sc);
        }
        vmmd_libvirt_reboot_event(dom);
        json_object *ev = json_object_new_object();
        json_object_object_add(ev, "name", json_object_new_string(dom->name));
        json_object_object_add(ev, "uuid", json_object_new_string(dom->uuid));
        if (d->server)
            vmm_proto_server_broadcast(d->server, "DOMAIN_REBOOT", ev);
        else
            json_object_put(ev);
    } else if (strcmp(event, "VHOST_USER_SOCKET") == 0) {
        vmmd_vhost_user_socket_request(dom, data);
    } else if (strcmp(event, "SHUTDOWN") == 0) {
        json_object *r = json_object_object_get(data, "reason");
        const char *reason = json_object_get_string(r);
        g_free(dom->exit_reason);
        dom->exit_reason = g_strdup(reason);
        /* The guest is going down; the worker's exit makes it shutoff. */
        if (g_strcmp0(reason, "poweroff") == 0)
            set_state(dom, VMMD_STATE_SHUTDOWN, dom->shutdown_requested ? "user" : "unknown", NULL);
        else if (g_strcmp0(reason, "crash") == 0)
            set_state(dom, VMMD_STATE_CRASHED, "panicked", NULL);
    }
}

static void on_worker_close(VmmProtoClient *c, void *opaque)
{
    VmmdDomain *dom = opaque;
    if (dom->worker == c) {
        dom->worker = NULL;
        /* Usually the worker is exiting; the pidfd tells. Otherwise the
         * next command reconnects. */
        vmmd_log(dom->daemon, dom, LOG_DEBUG, "worker closed its control connection");
    }
    vmm_proto_client_free(c);
}

/* Never blocks: a worker busy setting up its VM must not stall the daemon
 * while it sends its greeting. */
static bool worker_connect(VmmdDomain *dom, GError **err)
{
    g_autofree char *sock = run_path(dom, "sock");
    VmmProtoClient *c = vmm_proto_client_connect_async(sock, NULL, err);
    if (!c)
        return false;
    vmm_proto_client_set_timeout(c, VMMD_WORKER_CALL_TIMEOUT_MS);
    vmm_proto_client_on_event(c, on_worker_event, dom);
    vmm_proto_client_on_close(c, on_worker_close, dom);
    dom->worker = c;
    return true;
}

bool vmmd_domain_worker_call(VmmdDomain *dom, const char *cmd, json_object *args,
                             VmmProtoReplyFn fn, void *opaque, GError **err)
{
    return vmmd_domain_worker_call_fd(dom, cmd, args, -1, fn, opaque, err);
}

bool vmmd_domain_worker_call_fd(VmmdDomain *dom, const char *cmd, json_object *args, int fd,
                                VmmProtoReplyFn fn, void *opaque, GError **err)
{
    if (!vmmd_domain_is_active(dom)) {
        if (fd >= 0)
            close(fd);
        json_object_put(args);
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "domain is not running");
        return false;
    }
    if (dom->worker && !vmm_proto_client_is_connected(dom->worker)) {
        vmm_proto_client_free(dom->worker);
        dom->worker = NULL;
    }
    GError *e = NULL;
    if (!dom->worker && !worker_connect(dom, &e)) {
        if (fd >= 0)
            close(fd);
        json_object_put(args);
        vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR,
                            "cannot reach the worker of domain '%s': %s", dom->name, e->message);
        g_error_free(e);
        return false;
    }
    vmm_proto_client_call_fd(dom->worker, cmd, args, fd, fn, opaque);
    return true;
}

/* ------------------------------------------------------------------------ */
/* exit                                                                     */

typedef struct {
    VmmdState state;
    const char *reason;
    char *detail;
} Outcome;

/* False when there is no usable exit file: one that exists but cannot be
 * read or parsed is logged with the reason (a missing one is normal: a
 * worker killed by a signal writes none). */
static bool read_exit_file(VmmdDomain *dom, VmmdExitFile *ef)
{
    VmmDaemon *d = dom->daemon;
    g_autofree char *file = g_strdup_printf("%s.exit", dom->name);
    GError *err = NULL;
    gsize len = 0;
    g_autofree char *text = vmmd_read_file_at(d->run_fd, d->run_dir, file, VMMD_RUN_FILE_MAX,
                                              &len, &err);
    /* Empty: the worker opened it at start and ended without a word. */
    if (text && len == 0)
        return false;
    if (text && vmmd_exit_file_parse(text, len, ef, &err))
        return true;
    if (text)
        g_prefix_error(&err, "%s/%s: ", d->run_dir, file);
    if (!g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        vmmd_log(d, dom, LOG_WARNING, "%s", err->message);
    g_error_free(err);
    return false;
}

static void outcome_from_status(int code, Outcome *out)
{
    switch (code) {
    case VMM_WORKER_EXIT_POWEROFF:
    case VMM_WORKER_EXIT_REBOOT:
        out->state = VMMD_STATE_SHUTOFF;
        out->reason = "shutdown";
        break;
    case VMM_WORKER_EXIT_CRASH:
        out->state = VMMD_STATE_CRASHED;
        out->reason = "panicked";
        break;
    case VMM_WORKER_EXIT_KILLED:
        out->state = VMMD_STATE_SHUTOFF;
        out->reason = "destroyed";
        break;
    case VMM_WORKER_EXIT_SECCOMP:
        /* The sandbox stopped it: a crash, with the call in the detail. */
        out->state = VMMD_STATE_CRASHED;
        out->reason = "unknown";
        break;
    default:
        out->state = VMMD_STATE_SHUTOFF;
        out->reason = "failed";
        break;
    }
}

/* What the end of a worker means, from the exit file, else the wait
 * status (own children), else: it died without a word, a crash. */
static void classify_exit(VmmdDomain *dom, bool have_status, int wstatus, Outcome *out)
{
    VmmdExitFile ef;
    if (read_exit_file(dom, &ef)) {
        const char *reason = ef.reason ? ef.reason : "";
        int status = ef.status;
        out->detail = g_steal_pointer(&ef.detail);
        if (!g_strcmp0(reason, "poweroff") || !g_strcmp0(reason, "reset"))
            outcome_from_status(VMM_WORKER_EXIT_POWEROFF, out);
        else if (!g_strcmp0(reason, "crash"))
            outcome_from_status(VMM_WORKER_EXIT_CRASH, out);
        else if (!g_strcmp0(reason, "killed"))
            outcome_from_status(VMM_WORKER_EXIT_KILLED, out);
        else if (!g_strcmp0(reason, "error"))
            outcome_from_status(VMM_WORKER_EXIT_ERROR, out);
        else
            outcome_from_status(status, out);
        vmmd_exit_file_clear(&ef);
        return;
    }
    if (have_status && WIFEXITED(wstatus)) {
        outcome_from_status(WEXITSTATUS(wstatus), out);
        if (WEXITSTATUS(wstatus) == VMM_WORKER_EXIT_ERROR)
            out->detail = log_tail(dom);
        return;
    }
    out->state = VMMD_STATE_CRASHED;
    out->reason = "crashed";
    if (have_status && WIFSIGNALED(wstatus))
        out->detail = g_strdup_printf("the worker was killed by signal %d (SIG%s)",
                                      WTERMSIG(wstatus), sigabbrev_np(WTERMSIG(wstatus))
                                          ? sigabbrev_np(WTERMSIG(wstatus)) : "?");
    else
        out->detail = g_strdup("the worker died without writing its exit file");
}

static void answer_destroy_waiters(VmmdDomain *dom, const char *error)
{
    GPtrArray *w = dom->destroy_waiters;
    dom->destroy_waiters = g_ptr_array_new();
    for (guint i = 0; i < w->len; i++) {
        if (error)
            vmm_proto_pending_error(w->pdata[i], VMM_PROTO_INTERNAL_ERROR, "%s", error);
        else
            vmm_proto_pending_return(w->pdata[i], NULL);
    }
    g_ptr_array_free(w, TRUE);
}

/* Lets go of the worker: connection, pidfd, timers. Pending requests are
 * answered with an error (the worker's in-flight calls through their
 * callbacks). The process and its run files are left alone. */
static void detach_worker(VmmdDomain *dom)
{
    clear_source(&dom->pid_watch);
    clear_source(&dom->connect_timer);
    clear_source(&dom->shutdown_timer);
    clear_source(&dom->kill_timer);
    if (dom->pidfd >= 0)
        close(dom->pidfd);
    dom->pidfd = -1;
    if (dom->worker) {
        VmmProtoClient *c = dom->worker;
        dom->worker = NULL;
        vmm_proto_client_free(c);
    }
}

/* A worker that died without a word while its memory group counts an OOM
 * kill was stopped by the kernel for reaching <memtune>'s limit: say so.
 * Then its groups go. */
static void cgroup_gone(VmmdDomain *dom, Outcome *out)
{
    if (!dom->cgroup)
        return;
    guint64 kills = vmmd_cgroup_oom_kills(dom->cgroup);
    if (kills && out->state == VMMD_STATE_CRASHED && !strcmp(out->reason, "crashed")) {
        const VmmDomainDef *def = dom->live_def;
        guint64 hard = def && def->tune ? def->tune->hard_limit_kib : 0;
        g_autofree char *limit = hard ? g_strdup_printf("<memtune><hard_limit> %" G_GUINT64_FORMAT
                                                        " KiB", hard)
                                      : g_strdup("the limit of its memory cgroup");
        g_autofree char *was = out->detail;
        out->detail = g_strdup_printf("out of memory: the kernel's OOM killer stopped the worker "
                                      "at %s (%s of %s: oom_kill %" G_GUINT64_FORMAT ")%s%s",
                                      limit, dom->daemon->cgroup_v2 ? "memory.events"
                                                                    : "memory.oom_control",
                                      vmmd_cgroup_dir(dom->cgroup, VMMD_CG_MEMORY), kills,
                                      was ? "; " : "", was ? was : "");
    }
    vmmd_cgroup_remove(dom->cgroup);
    dom->cgroup = NULL;
}

static void worker_gone(VmmdDomain *dom, bool have_status, int wstatus)
{
    VmmDaemon *d = dom->daemon;
    Outcome out = { 0 };
    classify_exit(dom, have_status, wstatus, &out);
    cgroup_gone(dom, &out);
    bool starting = dom->job == VMMD_JOB_START;
    /* A guest can power off (or crash) before the daemon even reached the
     * worker's socket: the start worked, the domain then stopped. */
    bool started = starting && !dom->destroy_requested &&
                   ((out.state == VMMD_STATE_SHUTOFF && !strcmp(out.reason, "shutdown")) ||
                    (out.state == VMMD_STATE_CRASHED && !strcmp(out.reason, "panicked")));
    if (dom->destroy_requested) {
        out.state = VMMD_STATE_SHUTOFF;
        out.reason = "destroyed";
    } else if (starting && !started) {
        out.state = VMMD_STATE_SHUTOFF;
        out.reason = "failed";
        if (dom->start_error) {
            g_free(out.detail);
            out.detail = g_steal_pointer(&dom->start_error);
        } else if (!out.detail) {
            out.detail = log_tail(dom);
        }
    }
    g_clear_pointer(&dom->start_error, g_free);
    bool restart = !dom->destroy_requested && (!starting || started) &&
                   out.state == VMMD_STATE_SHUTOFF && strcmp(out.reason, "shutdown") == 0 &&
                   g_strcmp0(dom->exit_reason, "reset") != 0 && dom->live_def &&
                   dom->live_def->on_poweroff == VMM_ACTION_RESTART;

    /* In-flight calls fail as the connection goes; a new run number makes
     * their callbacks stand aside, and the pending requests are answered
     * here instead. */
    dom->run++;
    detach_worker(dom);
    VmmProtoPending *p = dom->job_pending;
    dom->job_pending = NULL;
    dom->job = VMMD_JOB_NONE;
    if (started) {
        set_state(dom, VMMD_STATE_RUNNING, "booted", NULL);
        if (p)
            vmm_proto_pending_return(p, NULL);
    } else if (starting && p) {
        if (dom->destroy_requested)
            vmm_proto_pending_error(p, VMM_PROTO_OPERATION_INVALID,
                                    "domain '%s' was destroyed while starting", dom->name);
        else
            vmm_proto_pending_error(p, VMM_PROTO_OPERATION_INVALID,
                                    "domain '%s' failed to start: %s", dom->name,
                                    out.detail ? out.detail : "the worker exited");
    } else if (p) {
        vmm_proto_pending_error(p, VMM_PROTO_OPERATION_INVALID,
                                "domain '%s' stopped before the request completed", dom->name);
    }
    remove_run_files(dom);
    dom->pid = 0;
    dom->pid_start_time = 0;
    dom->id = -1;
    dom->own_child = false;
    dom->adopted = false;
    dom->destroy_requested = false;
    const char *shutdown_reason = dom->shutdown_requested ? "user" : "unknown";
    dom->shutdown_requested = false;
    g_clear_pointer(&dom->exit_reason, g_free);
    g_clear_pointer(&dom->live_xml, g_free);
    vmmd_vhost_user_sockets_remove(dom->live_def);
    g_clear_pointer(&dom->live_def, vmm_domain_def_free);
    /* A guest that powered off passes through "in shutdown" first, as
     * libvirt reports it (its Shutdown event, then Stopped), even when the
     * worker's exit is seen before its SHUTDOWN event. */
    if (out.state == VMMD_STATE_SHUTOFF && strcmp(out.reason, "shutdown") == 0 &&
        dom->state == VMMD_STATE_RUNNING)
        set_state(dom, VMMD_STATE_SHUTDOWN, shutdown_reason, NULL);
    set_state(dom, out.state, out.reason, out.detail);
    answer_destroy_waiters(dom, NULL);
    g_free(out.detail);

    if (!dom->persistent) {
        g_hash_table_remove(d->domains, dom->name);    /* transient: gone with its worker */
        return;
    }
    if (restart) {
        GError *err = NULL;
        vmmd_log(d, dom, LOG_INFO, "powered off and <on_poweroff> is restart: starting again");
        if (!vmmd_domain_start(dom, NULL, &err)) {
            vmmd_log(d, dom, LOG_ERR, "restart failed: %s", err->message);
            g_error_free(err);
        }
    }
}

static gboolean on_pidfd(gint fd, GIOCondition cond, gpointer data)
{
    VmmdDomain *dom = data;
    int wstatus = 0;
    bool have_status = false;
    if (dom->own_child) {
        /* The pidfd is readable once the whole thread group is gone, so the
         * zombie is there; allow the kernel a moment all the same. */
        for (int tries = 0; tries < 50; tries++) {
            pid_t r = waitpid(dom->pid, &wstatus, WNOHANG);
            if (r == dom->pid) {
                have_status = true;
                break;
            }
            if (r < 0 && errno != EINTR)
                break;
            g_usleep(1000);
        }
    }
    /* The source is being dispatched: drop it without destroying it twice. */
    g_source_unref(dom->pid_watch);
    dom->pid_watch = NULL;
    worker_gone(dom, have_status, wstatus);
    return G_SOURCE_REMOVE;
}

static bool watch_pid(VmmdDomain *dom, GError **err)
{
    int fd = pidfd_open(dom->pid, 0);
    if (fd < 0) {
        int e = errno;
        vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR, "cannot watch worker pid %d: %s",
                            (int)dom->pid, g_strerror(e));
        return false;
    }
    dom->pidfd = fd;
    dom->pid_watch = g_unix_fd_source_new(fd, G_IO_IN);
    g_source_set_callback(dom->pid_watch, (GSourceFunc)(void (*)(void))on_pidfd, dom, NULL);
    g_source_attach(dom->pid_watch, NULL);
    return true;
}

static void kill_worker(VmmdDomain *dom)
{
    if (dom->pidfd >= 0 && pidfd_send_signal(dom->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
        vmmd_log(dom->daemon, dom, LOG_ERR, "cannot kill worker %d: %s", (int)dom->pid,
                 g_strerror(errno));
}

/* ------------------------------------------------------------------------ */
/* start                                                                    */

/* The worker gets NAME.pid's open file description, locked (an OFD lock)
 * by the daemon before the fork, as this fd; the lock lives exactly as long
 * as the worker holds it, so any later daemon finds a live worker by it. */
#define WORKER_STATE_LOCK_FD 3

/* "PID\n", from the child itself between fork and exec: the file names the
 * lock holder before the worker runs, whenever the daemon dies. Only
 * async-signal-safe calls here. */
static void child_write_pid(void)
{
    /* The pid in the daemon's namespace: the worker is PID 1 of its own
     * (see spawn_pidns_enter), and /proc (the daemon's mount) names it as
     * the daemon sees it. */
    char self[24];
    ssize_t sl = readlink("/proc/self", self, sizeof(self) - 1);
    unsigned long pid = 0;
    for (ssize_t i = 0; i < sl && self[i] >= '0' && self[i] <= '9'; i++)
        pid = pid * 10 + (unsigned long)(self[i] - '0');
    if (!pid)
        pid = (unsigned long)getpid();
    char buf[24];
    int n = sizeof(buf);
    buf[--n] = '\n';
    for (unsigned long v = pid; v || n == (int)sizeof(buf) - 1; v /= 10)
        buf[--n] = (char)('0' + v % 10);
    size_t len = sizeof(buf) - (size_t)n;
    if (pwrite(WORKER_STATE_LOCK_FD, buf + n, len, 0) != (ssize_t)len ||
        ftruncate(WORKER_STATE_LOCK_FD, (off_t)len) < 0) {
        static const char msg[] = "vmmd: cannot write the worker's pid file\n";
        if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
        }
        _exit(VMM_WORKER_EXIT_ERROR);
    }
}

/* What the child does between fork and exec besides its pid file. */
typedef struct {
    char **procs;            /* cgroup.procs files to enter */
    char oom_score_adj[16];  /* for /proc/self/oom_score_adj */
} ChildSetup;

/* Writes `text` to `path`; async-signal-safe. False on failure. */
static bool child_write(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len;
    close(fd);
    return ok;
}

static void child_fail(const char *what, const char *path)
{
    static const char pre[] = "vmmd: cannot ";
    if (write(STDERR_FILENO, pre, sizeof(pre) - 1) < 0 ||
        write(STDERR_FILENO, what, strlen(what)) < 0 ||
        write(STDERR_FILENO, path, strlen(path)) < 0 || write(STDERR_FILENO, "\n", 1) < 0) {
    }
    _exit(VMM_WORKER_EXIT_ERROR);
}

static void child_setup(gpointer data)
{
    const ChildSetup *cs = data;
    child_write_pid();
    /* Into the VM's cgroups before exec: all the worker allocates is
     * charged there ("0" is the writing process). */
    for (char **p = cs->procs; p && *p; p++)
        if (!child_write(*p, "0"))
            child_fail("enter the VM's cgroup: ", *p);
    if (!child_write("/proc/self/oom_score_adj", cs->oom_score_adj))
        child_fail("set ", "/proc/self/oom_score_adj");
    /* Own session: a signal to the daemon's process group or a closing
     * terminal never reaches the VM. */
    setsid();
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void start_failed(VmmdDomain *dom, const char *why);
/* The worker runs in a PID namespace of its own, as its PID 1 (as
 * Firecracker's jailer puts the VMM): it sees no other process, and when
 * it exits nothing it might have left survives it. The spawning thread
 * sets the namespace of its next child only (unshare(CLONE_NEWPID)), and
 * goes back to its own for later children (setns) right after the spawn.
 * The daemon keeps the pid of its own namespace for kill(), /proc/PID,
 * the pid file and re-attaching. Returns the fd to go back with, or -1
 * when the worker shares the daemon's namespace (no sandbox, or no
 * CAP_SYS_ADMIN). */
static int spawn_pidns_enter(VmmdDomain *dom)
{
    VmmDaemon *d = dom->daemon;
    if (!d->worker_sandbox || geteuid() != 0)
        return -1;
    int own = open("/proc/thread-self/ns/pid", O_RDONLY | O_CLOEXEC);
    if (own < 0 || unshare(CLONE_NEWPID) < 0) {
        vmmd_log(d, dom, LOG_WARNING, "the worker shares the daemon's PID namespace: %s: %s",
                 own < 0 ? "cannot open /proc/thread-self/ns/pid" : "unshare(CLONE_NEWPID)",
                 g_strerror(errno));
        if (own >= 0)
            close(own);
        return -1;
    }
    return own;
}

static void spawn_pidns_leave(VmmdDomain *dom, int own)
{
    if (own < 0)
        return;
    if (setns(own, CLONE_NEWPID) < 0)
        vmmd_log(dom->daemon, dom, LOG_ERR, "cannot return to the daemon's PID namespace "
                 "after starting the worker (later children get a new one): %s",
                 g_strerror(errno));
    close(own);
}

static void start_done(VmmdDomain *dom, json_object *status)
{
    const char *st = json_object_get_string(json_object_object_get(status, "state"));
    GError *perr = NULL;
    if (!place_threads(dom, &perr)) {
        start_failed(dom, perr->message);
        g_error_free(perr);
        return;
    }
    clear_source(&dom->connect_timer);
    dom->job = VMMD_JOB_NONE;
    if (g_strcmp0(st, "paused") == 0)
        set_state(dom, VMMD_STATE_PAUSED, "user", NULL);
    else
        set_state(dom, VMMD_STATE_RUNNING, "booted", NULL);
    vmmd_log(dom->daemon, dom, LOG_INFO, "worker pid %d is running the domain (id %d)",
             (int)dom->pid, dom->id);
    if (dom->job_pending)
        vmm_proto_pending_return(dom->job_pending, NULL);
    dom->job_pending = NULL;
}

static void start_failed(VmmdDomain *dom, const char *why)
{
    /* The worker is killed; worker_gone() then answers the start with why
     * (unless the worker's own exit file shows the guest did run). */
    vmmd_log(dom->daemon, dom, LOG_ERR, "start failed: %s", why);
    clear_source(&dom->connect_timer);
    g_free(dom->start_error);
    dom->start_error = g_strdup(why);
    kill_worker(dom);
}


static void drop_worker_connection(VmmdDomain *dom)
{
    if (dom->worker) {
        VmmProtoClient *old = dom->worker;
        dom->worker = NULL;
        vmm_proto_client_free(old);
    }
}

static void on_status(VmmProtoClient *c, json_object *ret, const GError *err, void *opaque)
{
    StatusCall *sc = opaque;
    VmmdDomain *dom = sc->dom;
    bool current = sc->run == dom->run && vmmd_domain_is_active(dom) && !dom->daemon->shutting_down;
    bool adopt = sc->adopt, after_reset = sc->after_reset;
    g_free(sc);
    if (!current)
        return;
    if (after_reset) {
        GError *perr = NULL;
        if (ret && !place_threads(dom, &perr)) {
            vmmd_log(dom->daemon, dom, LOG_ERR, "after the guest's reset: %s", perr->message);
            g_error_free(perr);
        }
        return;
    }
    if (!ret && err->domain == G_IO_ERROR) {
        /* No answer on this connection: usually the worker is exiting,
         * which its pidfd reports; otherwise the timer tries again until
         * the deadline. */
        if (dom->worker == c)
            drop_worker_connection(dom);
        return;
    }
    if (!adopt && dom->job == VMMD_JOB_START && ret &&
        g_strcmp0(json_object_get_string(json_object_object_get(ret, "state")), "shutdown") == 0) {
        /* No VM: the worker failed before its guest ran (confinement, a
         * device) and answered while flushing its last events on the way
         * out, or the guest already stopped. Its exit says which
         * (worker_gone); the connect timer's deadline stands for one that
         * stays. */
        vmmd_log(dom->daemon, dom, LOG_INFO, "the worker has no running guest; waiting for "
                 "its exit status");
        return;
    }
    clear_source(&dom->connect_timer);
    if (adopt) {
        /* Re-attached: the worker knows whether the guest is paused. */
        const char *st = ret ? json_object_get_string(json_object_object_get(ret, "state")) : NULL;
        if (g_strcmp0(st, "paused") == 0 && dom->state != VMMD_STATE_PAUSED)
            set_state(dom, VMMD_STATE_PAUSED, "user", NULL);
        else if (g_strcmp0(st, "running") == 0 && dom->state != VMMD_STATE_RUNNING)
            set_state(dom, VMMD_STATE_RUNNING, "booted", NULL);
        /* a reset while no daemon watched made new vCPU threads */
        GError *perr = NULL;
        if (!place_threads(dom, &perr)) {
            vmmd_log(dom->daemon, dom, LOG_ERR, "re-attached: %s", perr->message);
            g_error_free(perr);
        }
        return;
    }
    if (dom->job != VMMD_JOB_START)
        return;
    if (ret) {
        start_done(dom, ret);
    } else {
        g_autofree char *why = g_strdup_printf("query-status failed: %s", err->message);
        start_failed(dom, why);
    }
}

/* Start and re-attach: connect to the control socket and ask query-status
 * until it answers or the deadline passes. The timer stays armed while a
 * connection attempt is in flight, so the deadline always holds. */
static gboolean connect_tick(gpointer data)
{
    VmmdDomain *dom = data;
    VmmDaemon *d = dom->daemon;
    if (g_get_monotonic_time() >= dom->connect_deadline) {
        g_source_unref(dom->connect_timer);
        dom->connect_timer = NULL;
        if (dom->job == VMMD_JOB_START) {
            g_autofree char *why = g_strdup_printf(
                "the worker did not answer on its control socket within %d s",
                VMMD_START_TIMEOUT_MS / 1000);
            start_failed(dom, why);
        } else {
            /* Adopted and mute: keep supervising it; commands retry. */
            vmmd_log(d, dom, LOG_ERR, "the re-attached worker (pid %d) does not answer on its "
                     "control socket", (int)dom->pid);
        }
        return G_SOURCE_REMOVE;
    }
    if (dom->worker)
        return G_SOURCE_CONTINUE;     /* an attempt is under way */
    GError *err = NULL;
    if (!worker_connect(dom, &err)) {
        g_error_free(err);            /* not listening yet */
        return G_SOURCE_CONTINUE;
    }
    StatusCall *sc = g_new0(StatusCall, 1);
    sc->dom = dom;
    sc->run = dom->run;
    sc->adopt = dom->job != VMMD_JOB_START;
    vmm_proto_client_call(dom->worker, "query-status", NULL, on_status, sc);
    return G_SOURCE_CONTINUE;
}

static void start_connecting(VmmdDomain *dom)
{
    if (dom->connect_timer)
        return;
    dom->connect_timer = g_timeout_source_new(CONNECT_POLL_MS);
    g_source_set_callback(dom->connect_timer, connect_tick, dom, NULL);
    g_source_attach(dom->connect_timer, NULL);
}

static char **worker_environment(void)
{
    /* The daemon's systemd plumbing is not the worker's. */
    static const char *const drop[] = { "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                                        "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                                        "JOURNAL_STREAM" };
    char **env = g_get_environ();
    for (unsigned i = 0; i < G_N_ELEMENTS(drop); i++)
        env = g_environ_unsetenv(env, drop[i]);
    return env;
}

static bool busy(VmmdDomain *dom, GError **err)
{
    if (dom->job == VMMD_JOB_NONE && !dom->destroy_requested)
        return false;
    vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "domain '%s' is busy: %s is in "
                        "progress", dom->name, dom->destroy_requested ? "a destroy"
                                                                       : job_name(dom->job));
    return true;
}

/* Opens NAME.pid and takes its OFD write lock; the lock fails (EAGAIN)
 * while any worker of this domain lives. Returns the fd or -1. */
static int open_pid_file(VmmdDomain *dom, bool create, GError **err)
{
    VmmDaemon *d = dom->daemon;
    g_autofree char *file = g_strdup_printf("%s.pid", dom->name);
    int fd = openat(d->run_fd, file, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK |
                                         (create ? O_CREAT : 0), 0644);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        close(fd);
        fd = -1;
        errno = EINVAL;
    }
    if (fd < 0) {
        int e = errno;
        vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR, "cannot open '%s/%s': %s",
                            d->run_dir, file, e == ELOOP ? "it is a symbolic link"
                                              : e == EINVAL ? "not a regular file"
                                              : g_strerror(e));
    }
    return fd;
}

/* The pid written in NAME.pid (0 if none yet). */
static pid_t read_pid_fd(int fd)
{
    char buf[PID_FILE_MAX];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    gint64 v = g_ascii_strtoll(buf, NULL, 10);
    return v > 0 && v < G_MAXINT ? (pid_t)v : 0;
}

/* Whether some process (a worker) holds the lock on the pid file. */
static bool pid_file_locked(int fd)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return false;
    return fl.l_type != F_UNLCK;
}

static bool lock_pid_file(VmmdDomain *dom, int fd, GError **err)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
        return true;
    int e = errno;
    if (e == EAGAIN || e == EACCES) {
        pid_t other = read_pid_fd(fd);
        g_autofree char *who = other ? g_strdup_printf(" (pid %d)", (int)other) : g_strdup("");
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                            "domain '%s' already has a worker process%s that this vmmd does "
                            "not supervise (it holds the lock on %s/%s.pid); stop it first",
                            dom->name, who, dom->daemon->run_dir, dom->name);
    } else {
        vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR, "cannot lock '%s/%s.pid': %s",
                            dom->daemon->run_dir, dom->name, g_strerror(e));
    }
    return false;
}

/* Everything a restarted daemon needs, on disk and synced before the
 * worker exists: NAME.pid (locked, a placeholder the child overwrites with
 * its pid; the placeholder also reserves the file's space), NAME.xml and
 * NAME.json marked "starting up". Returns the locked pid file's fd. */
static int prepare_run_files(VmmdDomain *dom, GError **err)
{
    VmmDaemon *d = dom->daemon;
    int fd = open_pid_file(dom, true, err);
    if (fd < 0)
        return -1;
    if (!lock_pid_file(dom, fd, err)) {
        close(fd);
        return -1;
    }
    remove_run_file(dom, "sock");
    remove_run_file(dom, "exit");
    g_autofree char *xml_file = g_strdup_printf("%s.xml", dom->name);
    static const char placeholder[] = "0\n";
    if (ftruncate(fd, 0) < 0 || pwrite(fd, placeholder, 2, 0) != 2 || fsync(fd) < 0) {
        int e = errno;
        vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR, "cannot write '%s/%s.pid': %s",
                            d->run_dir, dom->name, g_strerror(e));
        goto fail;
    }
    if (!vmmd_write_file_atomic_at(d->run_fd, d->run_dir, xml_file, dom->xml, strlen(dom->xml),
                                   0600, err))
        goto fail;
    dom->state = VMMD_STATE_PAUSED;
    dom->reason = "starting up";
    if (!write_state_file_err(dom, err))
        goto fail;
    return fd;

fail:
    dom->state = VMMD_STATE_SHUTOFF;
    dom->reason = "failed";
    remove_run_files(dom);
    close(fd);
    return -1;
}

/* A worker that cannot be recorded must not run: kill it and forget it. */
static void abandon_start(VmmdDomain *dom, pid_t pid)
{
    if (dom->pidfd >= 0)
        pidfd_send_signal(dom->pidfd, SIGKILL, NULL, 0);
    else
        kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    vmmd_cgroup_remove(dom->cgroup);
    dom->cgroup = NULL;
    dom->run++;
    detach_worker(dom);
    dom->pid = 0;
    dom->pid_start_time = 0;
    dom->id = -1;
    dom->own_child = false;
    dom->state = VMMD_STATE_SHUTOFF;
    dom->reason = "failed";
    g_clear_pointer(&dom->live_xml, g_free);
    vmmd_vhost_user_sockets_remove(dom->live_def);
    g_clear_pointer(&dom->live_def, vmm_domain_def_free);
    remove_run_files(dom);
}

static void close_fds(GArray *fds)
{
    for (guint i = 0; i < fds->len; i++)
        close(g_array_index(fds, int, i));
    g_array_set_size(fds, 0);
}

/* What a start has opened so far: given back when it fails. */
typedef struct {
    int logfd;
    VmmNetdev **netdevs;
    guint nnets;            /* opened so far */
    GArray *vu_fds;         /* vhost-user sockets, or NULL */
    const VmmDomainDef *vu_def;   /* whose they are */
} StartOpened;

/* A failed start: e (taken, may be NULL when err is set) becomes err,
 * what was opened is closed, and the log says why. */
static bool start_refused(VmmdDomain *dom, StartOpened *o, GError *e, GError **err)
{
    if (e) {
        vmm_proto_set_error(err, VMM_PROTO_GENERIC_ERROR, "cannot start domain '%s': %s",
                            dom->name, e->message);
        g_error_free(e);
    }
    if (o->vu_fds) {
        close_fds(o->vu_fds);
        vmmd_vhost_user_sockets_remove(o->vu_def);
    }
    for (guint k = 0; k < o->nnets; k++)
        vmm_netdev_close(o->netdevs[k]);
    close(o->logfd);
    vmmd_log(dom->daemon, dom, LOG_ERR, "start failed: %s", (*err)->message);
    return false;
}

/* `def`'s machine description in a memfd, sealed against change: the
 * worker reads it from the start. */
static int desc_memfd(const VmmDomainDef *def, GError **err)
{
    g_autofree char *desc = vmm_domain_desc_to_json(def);
    size_t len = strlen(desc);
    int fd = memfd_create("vmm-machine-description", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 || write(fd, desc, len) != (ssize_t)len ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
        int e = errno;
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e),
                    "cannot pass the machine description in a memfd: %s", g_strerror(e));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

bool vmmd_domain_start(VmmdDomain *dom, VmmProtoPending *p, GError **err)
{
    VmmDaemon *d = dom->daemon;
    if (busy(dom, err))
        return false;
    if (vmmd_domain_is_active(dom)) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "domain '%s' is already %s",
                            dom->name, vmmd_state_name(dom->state));
        return false;
    }
    g_autofree char *sock = run_path(dom, "sock");
    if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR,
                            "the worker's socket path '%s' is too long for a unix socket; "
                            "use a shorter run directory or domain name", sock);
        return false;
    }
    g_autofree char *exit_path = run_path(dom, "exit");
    g_autofree char *log_path = run_path(dom, "log");
    g_autofree char *log_file = g_strdup_printf("%s.log", dom->name);
    GError *e = NULL;
    int logfd = openat(d->run_fd, log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
                                                O_NOCTTY | O_NOFOLLOW | O_NONBLOCK, 0600);
    struct stat lst;
    if (logfd >= 0 && fstat(logfd, &lst) == 0 && !S_ISREG(lst.st_mode)) {
        close(logfd);
        logfd = -1;
        errno = EINVAL;
    } else if (logfd < 0 && errno == ENXIO) {
        errno = EINVAL;       /* a FIFO without reader (O_NONBLOCK) or a socket */
    }
    if (logfd < 0) {
        int errsv = errno;
        vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR, "cannot open '%s': %s", log_path,
                            errsv == ELOOP ? "it is a symbolic link"
                            : errsv == EINVAL ? "not a regular file" : g_strerror(errsv));
        return false;
    }
    /* The host side of every interface (taps, passt), opened here with the
     * daemon's privileges and handed to the worker: a VM whose network
     * cannot be set up does not start, and nothing is left behind. */
    /* <interface type='network'>: the running network's bridge */
    g_autoptr(VmmDomainDef) live = vmm_domain_def_copy(dom->def);
    StartOpened opened = { .logfd = logfd };
    if (!vmmd_networks_resolve(d, live, err)) {
        g_prefix_error(err, "cannot start domain '%s': ", dom->name);
        return start_refused(dom, &opened, NULL, err);
    }
    guint nnets = live->nets ? live->nets->len : 0;
    g_autofree VmmNetdev **netdevs = g_new0(VmmNetdev *, nnets + 1);
    opened.netdevs = netdevs;
    for (guint i = 0; i < nnets; i++, opened.nnets = i) {
        netdevs[i] = vmm_netdev_open(g_ptr_array_index(live->nets, i), i, &e);
        if (!netdevs[i])
            return start_refused(dom, &opened, g_steal_pointer(&e), err);
    }
    /* Every vhost-user socket, made here too: the confined worker can
     * neither see the paths nor write to a back end's socket. */
    g_autoptr(GArray) vu_fds = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GPtrArray) vu_keys = g_ptr_array_new_with_free_func(g_free);
    opened.vu_fds = vu_fds;
    opened.vu_def = live;
    if (!vmmd_vhost_user_sockets_open(live, vu_fds, vu_keys, &e))
        return start_refused(dom, &opened, g_steal_pointer(&e), err);
    VmmdState old_state = dom->state;
    const char *old_reason = dom->reason;
    int id = d->next_id;
    dom->id = id;
    dom->pid = 0;
    dom->pid_start_time = 0;
    dom->started_at = g_get_real_time() / G_USEC_PER_SEC;
    int lockfd = prepare_run_files(dom, err);
    g_autofree char *label_user = NULL, *label_group = NULL;
    if (lockfd >= 0 && !vmmd_seclabel_prepare(dom, live, &label_user, &label_group, err)) {
        close(lockfd);
        lockfd = -1;
        remove_run_files(dom);
    }
    if (lockfd < 0) {
        dom->id = -1;
        dom->state = old_state;
        dom->reason = old_reason;
        return start_refused(dom, &opened, NULL, err);
    }
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format_iso8601(now);
    g_autofree char *header = g_strdup_printf("--- vmmd: starting domain %s at %s\n",
                                              dom->name, stamp);
    if (write(logfd, header, strlen(header)) < 0)
        vmmd_log(d, dom, LOG_WARNING, "cannot write to %s: %s", log_path, g_strerror(errno));

    /* The VM's cgroups, with its limits, before the worker exists; it
     * enters them itself before exec (child_setup). */
    VmmdCgroup *cg = vmmd_cgroup_create(d, dom->name, live, &e);
    if (!cg && e) {
        close(lockfd);
        dom->id = -1;
        dom->state = VMMD_STATE_SHUTOFF;
        dom->reason = "failed";
        remove_run_files(dom);
        return start_refused(dom, &opened, g_steal_pointer(&e), err);
    }
    ChildSetup setup = { .procs = vmmd_cgroup_procs_files(cg) };
    g_snprintf(setup.oom_score_adj, sizeof(setup.oom_score_adj), "%d", d->worker_oom_score_adj);
    g_autofree char *lock_arg = g_strdup_printf("%d", WORKER_STATE_LOCK_FD);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    const char *fixed[] = { d->worker_path, "--control-socket", sock,
                            "--exit-file", exit_path, "--state-lock-fd", lock_arg,
                            "--run-dir", d->run_dir };
    for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++)
        g_ptr_array_add(argv, g_strdup(fixed[i]));
    /* the state lock at fd 3, then every interface's fds, as --net-fds */
    g_autoptr(GArray) source_fds = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GArray) target_fds = g_array_new(FALSE, FALSE, sizeof(int));
    int next_fd = WORKER_STATE_LOCK_FD;
    g_array_append_val(source_fds, lockfd);
    g_array_append_val(target_fds, next_fd);
    /* vmmd.conf [worker]: who the worker runs the guest as (vmmd(8)) */
    if (!d->worker_sandbox)
        g_ptr_array_add(argv, g_strdup("--no-sandbox"));
    /* the domain's <seclabel>, else vmmd.conf's */
    const char *wuser = label_user ? label_user : d->worker_user;
    const char *wgroup = label_user ? label_group : d->worker_group;
    if (wuser) {
        g_ptr_array_add(argv, g_strdup("--user"));
        g_ptr_array_add(argv, g_strdup(wuser));
    }
    if (wgroup) {
        g_ptr_array_add(argv, g_strdup("--group"));
        g_ptr_array_add(argv, g_strdup(wgroup));
    }
    for (guint i = 0; i < nnets; i++) {
        if (!netdevs[i]->nfds)
            continue;   /* vhost-user: its socket follows */
        GString *a = g_string_new(NULL);
        g_string_printf(a, "%u:", i);
        for (unsigned q = 0; q < netdevs[i]->nfds; q++) {
            next_fd++;
            g_array_append_val(source_fds, netdevs[i]->fds[q]);
            g_array_append_val(target_fds, next_fd);
            g_string_append_printf(a, "%s%d", q ? "," : "", next_fd);
        }
        g_ptr_array_add(argv, g_strdup("--net-fds"));
        g_ptr_array_add(argv, g_string_free(a, FALSE));
    }
    for (guint i = 0; i < vu_fds->len; i++) {
        next_fd++;
        g_array_append_val(source_fds, g_array_index(vu_fds, int, i));
        g_array_append_val(target_fds, next_fd);
        g_ptr_array_add(argv, g_strdup("--vhost-user-fd"));
        g_ptr_array_add(argv, g_strdup_printf("%s:%d", (char *)vu_keys->pdata[i], next_fd));
    }
    /* What to run: the definition as parsed and resolved here, as a
     * machine description in a sealed memfd; the worker parses no XML. */
    int descfd = desc_memfd(live, &e);
    if (descfd >= 0) {
        next_fd++;
        g_array_append_val(source_fds, descfd);
        g_array_append_val(target_fds, next_fd);
        g_ptr_array_add(argv, g_strdup("--desc-fd"));
        g_ptr_array_add(argv, g_strdup_printf("%d", next_fd));
    }
    g_ptr_array_add(argv, NULL);
    g_auto(GStrv) env = worker_environment();
    GPid pid = 0;
    gboolean ok = FALSE;
    if (descfd >= 0) {
        int own_pidns = spawn_pidns_enter(dom);
        ok = g_spawn_async_with_pipes_and_fds(
            NULL, (const char *const *)argv->pdata, (const char *const *)env,
            G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, child_setup, &setup,
            -1, logfd, logfd, (const int *)source_fds->data, (const int *)target_fds->data,
            source_fds->len, &pid, NULL, NULL, NULL, &e);
        spawn_pidns_leave(dom, own_pidns);
        close(descfd);
    }
    close(logfd);
    /* From here the worker alone holds the lock, the taps, passt's and
     * the vhost-user back ends' sockets: a tap made here disappears with
     * the worker. */
    close(lockfd);
    close_fds(vu_fds);
    g_autoptr(GPtrArray) ifnames = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < nnets; i++) {
        g_ptr_array_add(ifnames, netdevs[i]->ifname[0] ? g_strdup(netdevs[i]->ifname) : NULL);
        if (ok)
            vmm_netdev_release(netdevs[i]);
        else
            vmm_netdev_close(netdevs[i]);
    }
    g_strfreev(setup.procs);
    if (!ok) {
        vmmd_cgroup_remove(cg);
        vmmd_vhost_user_sockets_remove(live);
        vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR, "cannot run the worker '%s': %s",
                            d->worker_path, e->message);
        g_error_free(e);
        dom->id = -1;
        dom->state = VMMD_STATE_SHUTOFF;
        dom->reason = "failed";
        remove_run_files(dom);
        return false;
    }
    dom->run++;
    dom->pid = pid;
    dom->cgroup = cg;
    dom->own_child = true;
    ProcStat ps = { 0 };
    if (read_proc_stat(pid, &ps))
        dom->pid_start_time = ps.start_time;
    dom->live_def = g_steal_pointer(&live);
    /* the live definition names the taps made for it, as libvirt's does */
    for (guint i = 0; i < nnets; i++) {
        VmmNetDef *live = g_ptr_array_index(dom->live_def->nets, i);
        if (!live->target_dev)
            live->target_dev = g_steal_pointer(&g_ptr_array_index(ifnames, i));
    }
    /* and the bridges of its virtual networks */
    dom->live_xml = vmm_domain_def_format(dom->live_def, NULL);
    if (!dom->live_xml)
        dom->live_xml = g_strdup(dom->xml);
    if (!watch_pid(dom, err)) {
        /* Cannot supervise it: do not leave it running unsupervised. */
        abandon_start(dom, pid);
        return false;
    }
    /* Records the pid for tools and for the re-attach path that does not
     * need the lock; the lock already makes the worker findable. */
    if (!write_state_file_err(dom, err)) {
        vmmd_log(d, dom, LOG_ERR, "start failed: %s; killing worker pid %d", (*err)->message,
                 (int)pid);
        abandon_start(dom, pid);
        return false;
    }
    d->next_id = id + 1;
    dom->job = VMMD_JOB_START;
    dom->job_pending = p;
    dom->connect_deadline = g_get_monotonic_time() + (gint64)VMMD_START_TIMEOUT_MS * 1000;
    vmmd_log(d, dom, LOG_INFO, "started worker pid %d", (int)pid);
    start_connecting(dom);
    return true;
}

/* ------------------------------------------------------------------------ */
/* requests to a running worker                                            */

typedef struct {
    VmmdDomain *dom;
    unsigned run;
    VmmdJob job;
    int timeout_s;
} JobCall;

static gboolean shutdown_timeout(gpointer data)
{
    VmmdDomain *dom = data;
    g_source_unref(dom->shutdown_timer);
    dom->shutdown_timer = NULL;
    vmmd_log(dom->daemon, dom, LOG_INFO, "still running after the shutdown timeout: destroying");
    GError *err = NULL;
    if (!vmmd_domain_destroy(dom, NULL, &err)) {
        vmmd_log(dom->daemon, dom, LOG_ERR, "%s", err->message);
        g_error_free(err);
    }
    return G_SOURCE_REMOVE;
}

static void on_job_reply(VmmProtoClient *c, json_object *ret, const GError *err, void *opaque)
{
    JobCall *jc = opaque;
    VmmdDomain *dom = jc->dom;
    VmmdJob job = jc->job;
    int timeout_s = jc->timeout_s;
    bool current = jc->run == dom->run && dom->job == job;
    g_free(jc);
    if (!current)
        return;
    VmmProtoPending *p = dom->job_pending;
    dom->job_pending = NULL;
    dom->job = VMMD_JOB_NONE;
    if (!ret) {
        vmmd_log(dom->daemon, dom, LOG_ERR, "%s failed: %s", job_name(job), err->message);
        if (p)
            vmm_proto_pending_error(p, err->domain == VMM_PROTO_ERROR ? err->code
                                                                       : VMM_PROTO_INTERNAL_ERROR,
                                    "domain '%s': %s", dom->name, err->message);
        return;
    }
    if (dom->daemon->shutting_down) {
        if (p)
            vmm_proto_pending_return(p, NULL);
        return;
    }
    switch (job) {
    case VMMD_JOB_SUSPEND:
        set_state(dom, VMMD_STATE_PAUSED, "user", NULL);
        break;
    case VMMD_JOB_RESUME:
        set_state(dom, VMMD_STATE_RUNNING, "unpaused", NULL);
        break;
    case VMMD_JOB_SHUTDOWN:
        dom->shutdown_requested = true;
        if (timeout_s > 0) {
            clear_source(&dom->shutdown_timer);
            /* Not _seconds(): that one may fire up to a second early. */
            dom->shutdown_timer = g_timeout_source_new((guint)timeout_s * 1000);
            g_source_set_callback(dom->shutdown_timer, shutdown_timeout, dom, NULL);
            g_source_attach(dom->shutdown_timer, NULL);
        }
        break;
    default:
        break;
    }
    if (p)
        vmm_proto_pending_return(p, NULL);
}

static bool need_running(VmmdDomain *dom, GError **err)
{
    if (busy(dom, err))
        return false;
    if (!vmmd_domain_is_active(dom)) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "domain is not running");
        return false;
    }
    return true;
}

static bool job_call(VmmdDomain *dom, VmmdJob job, const char *cmd, int timeout_s,
                     VmmProtoPending *p, GError **err)
{
    JobCall *jc = g_new0(JobCall, 1);
    jc->dom = dom;
    jc->run = dom->run;
    jc->job = job;
    jc->timeout_s = timeout_s;
    dom->job = job;
    dom->job_pending = p;
    if (!vmmd_domain_worker_call(dom, cmd, NULL, on_job_reply, jc, err)) {
        dom->job = VMMD_JOB_NONE;
        dom->job_pending = NULL;
        g_free(jc);
        return false;
    }
    return true;
}

bool vmmd_domain_shutdown(VmmdDomain *dom, int timeout_s, VmmProtoPending *p, GError **err)
{
    if (!need_running(dom, err))
        return false;
    const VmmDomainDef *def = vmmd_domain_current_def(dom);
    if (def && !def->acpi) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                            "domain '%s' has no ACPI (<features><acpi/>), so it has no power "
                            "button to press; use domain-destroy", dom->name);
        return false;
    }
    return job_call(dom, VMMD_JOB_SHUTDOWN, "system-powerdown", timeout_s, p, err);
}

bool vmmd_domain_reboot(VmmdDomain *dom, VmmProtoPending *p, GError **err)
{
    return need_running(dom, err) && job_call(dom, VMMD_JOB_REBOOT, "system-reset", 0, p, err);
}

bool vmmd_domain_suspend(VmmdDomain *dom, VmmProtoPending *p, GError **err)
{
    if (!need_running(dom, err))
        return false;
    if (dom->state == VMMD_STATE_PAUSED) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "domain '%s' is already paused",
                            dom->name);
        return false;
    }
    return job_call(dom, VMMD_JOB_SUSPEND, "stop", 0, p, err);
}

bool vmmd_domain_resume(VmmdDomain *dom, VmmProtoPending *p, GError **err)
{
    if (!need_running(dom, err))
        return false;
    if (dom->state != VMMD_STATE_PAUSED) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "domain '%s' is not paused",
                            dom->name);
        return false;
    }
    return job_call(dom, VMMD_JOB_RESUME, "cont", 0, p, err);
}

/* ------------------------------------------------------------------------ */
/* destroy                                                                  */

static gboolean destroy_kill(gpointer data)
{
    VmmdDomain *dom = data;
    g_source_unref(dom->kill_timer);
    dom->kill_timer = NULL;
    vmmd_log(dom->daemon, dom, LOG_WARNING, "the worker did not stop after 'quit': killing it");
    kill_worker(dom);
    return G_SOURCE_REMOVE;
}

typedef struct {
    VmmdDomain *dom;
    unsigned run;
} QuitCall;

static void on_quit(VmmProtoClient *c, json_object *ret, const GError *err, void *opaque)
{
    QuitCall *qc = opaque;
    VmmdDomain *dom = qc->dom;
    bool current = qc->run == dom->run && vmmd_domain_is_active(dom) && dom->destroy_requested &&
                   !dom->daemon->shutting_down;
    g_free(qc);
    /* No reply because the worker is exiting is the normal case; a refusal
     * means it will not exit by itself. */
    if (current && err && err->domain == VMM_PROTO_ERROR)
        kill_worker(dom);
}

bool vmmd_domain_destroy(VmmdDomain *dom, VmmProtoPending *p, GError **err)
{
    VmmDaemon *d = dom->daemon;
    if (!vmmd_domain_is_active(dom)) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "domain is not running");
        return false;
    }
    if (p)
        g_ptr_array_add(dom->destroy_waiters, p);
    if (dom->destroy_requested)
        return true;     /* already under way: answered together */
    dom->destroy_requested = true;
    clear_source(&dom->shutdown_timer);
    vmmd_log(d, dom, LOG_INFO, "destroying (worker pid %d)", (int)dom->pid);
    /* "quit" lets the worker write its exit file and close its consoles;
     * a worker still starting, or one that does not answer, is killed. */
    QuitCall *qc = g_new0(QuitCall, 1);
    qc->dom = dom;
    qc->run = dom->run;
    GError *e = NULL;
    if (dom->job != VMMD_JOB_START && vmmd_domain_worker_call(dom, "quit", NULL, on_quit, qc, &e)) {
        dom->kill_timer = g_timeout_source_new(VMMD_DESTROY_GRACE_MS);
        g_source_set_callback(dom->kill_timer, destroy_kill, dom, NULL);
        g_source_attach(dom->kill_timer, NULL);
    } else {
        g_clear_error(&e);
        g_free(qc);
        kill_worker(dom);
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* daemon start and stop                                                    */

static VmmDomainDef *parse_run_xml(VmmdDomain *dom, char **xml_out)
{
    VmmDaemon *d = dom->daemon;
    g_autofree char *path = run_path(dom, "xml");
    g_autofree char *file = g_strdup_printf("%s.xml", dom->name);
    gsize len = 0;
    g_autofree char *xml = vmmd_read_file_at(d->run_fd, d->run_dir, file, RUN_XML_MAX, &len, NULL);
    if (!xml)
        return NULL;
    VmmDomainDef *def = vmm_domain_def_parse_string(xml, len, path, NULL);
    if (def)
        *xml_out = g_steal_pointer(&xml);
    return def;
}

/* The worker holding NAME.pid's lock, or 0 (none, or it never wrote its
 * pid). A worker forked just before the previous daemon died may still be
 * writing its pid: wait for it a little while it holds the lock. */
static pid_t locked_worker_pid(VmmdDomain *dom, int fd, bool *locked)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)PID_WRITE_WAIT_MS * 1000;
    for (;;) {
        *locked = pid_file_locked(fd);
        pid_t pid = *locked ? read_pid_fd(fd) : 0;
        if (!*locked || pid > 0)
            return pid;
        if (g_get_monotonic_time() > deadline) {
            vmmd_log(dom->daemon, dom, LOG_ERR, "a process holds the lock on %s/%s.pid but "
                     "never wrote its pid; it cannot be adopted or stopped by vmmd, and the "
                     "domain cannot start until it exits", dom->daemon->run_dir, dom->name);
            return 0;
        }
        g_usleep(10 * 1000);
    }
}

/* A worker that cannot be adopted is stopped, never left unsupervised. */
static void stop_unadoptable(VmmdDomain *dom, pid_t pid, const char *why)
{
    vmmd_log(dom->daemon, dom, LOG_ERR, "worker pid %d is running but %s: stopping it",
             (int)pid, why);
    if (dom->pidfd >= 0) {
        pidfd_send_signal(dom->pidfd, SIGKILL, NULL, 0);
        struct pollfd pfd = { .fd = dom->pidfd, .events = POLLIN };
        poll(&pfd, 1, VMMD_DESTROY_GRACE_MS);
    }
    detach_worker(dom);
    dom->pid = 0;
    remove_run_files(dom);
}

static void reattach_one(VmmDaemon *d, const char *name)
{
    g_autofree char *file = g_strdup_printf("%s.json", name);
    GError *rerr = NULL;
    gsize len = 0;
    g_autofree char *text = vmmd_read_file_at(d->run_fd, d->run_dir, file, VMMD_RUN_FILE_MAX,
                                              &len, &rerr);
    g_auto(VmmdRunState) st = { 0 };
    if (text && !vmmd_run_state_parse(text, len, &st, &rerr))
        g_prefix_error(&rerr, "%s/%s: ", d->run_dir, file);
    /* Missing (a pid file alone) or unusable: as a state without a
     * worker; the pid file's lock below still finds a live one. */
    if (rerr && !g_error_matches(rerr, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        vmmd_log(d, NULL, LOG_WARNING, "%s", rerr->message);
    g_clear_error(&rerr);
    pid_t pid = st.pid;
    guint64 start = st.pid_start_time;

    VmmdDomain *dom = g_hash_table_lookup(d->domains, name);
    bool transient = !dom;
    if (!dom) {
        /* Running with no definition on disk: keep it as transient. */
        dom = vmmd_domain_new(d, name);
        g_strlcpy(dom->uuid, st.uuid ? st.uuid : "", sizeof(dom->uuid));
    }
    ProcStat ps = { 0 };
    bool alive = false;
    int pidfile = open_pid_file(dom, false, NULL);
    bool locked = false;
    if (pidfile >= 0) {
        /* The lock, not the recorded pid, says whether the worker lives:
         * the daemon may have died before it recorded the pid. */
        pid_t holder = locked_worker_pid(dom, pidfile, &locked);
        alive = holder > 0 && read_proc_stat(holder, &ps);
        if (alive) {
            pid = holder;
            start = ps.start_time;
        }
    }
    bool by_lock = alive;
    if (!locked) {
        /* A worker of an older vmmd holds no lock: the recorded pid, if it
         * is still the same process (a dead one's pid fails this too). */
        alive = pid > 0 && read_proc_stat(pid, &ps) && ps.start_time == start &&
                ps.state != 'Z' && ps.state != 'X';
    }
    if (alive) {
        dom->pid = pid;
        GError *err = NULL;
        /* The pidfd pins this process; check again that it is the same one. */
        if (!watch_pid(dom, &err) || !read_proc_stat(pid, &ps) || ps.start_time != start ||
            (by_lock && !pid_file_locked(pidfile))) {
            if (err) {
                vmmd_log(d, dom, LOG_WARNING, "%s", err->message);
                g_error_free(err);
            }
            detach_worker(dom);
            dom->pid = 0;
            alive = false;
        }
    }
    if (alive) {
        dom->live_def = parse_run_xml(dom, &dom->live_xml);
        if (!dom->live_def && dom->def) {
            dom->live_def = vmm_domain_def_copy(dom->def);
            dom->live_xml = g_strdup(dom->xml);
        }
        if (!dom->live_def) {
            g_autofree char *why = g_strdup_printf("its definition %s/%s.xml cannot be read",
                                                   d->run_dir, name);
            stop_unadoptable(dom, pid, why);
            if (pidfile >= 0)
                close(pidfile);
            if (transient)
                vmmd_domain_free(dom);
            return;
        }
        /* its uid stays taken, and the live XML shows it */
        if (vmmd_seclabel_reattach(dom)) {
            char *x = vmm_domain_def_format(dom->live_def, NULL);
            if (x) {
                g_free(dom->live_xml);
                dom->live_xml = x;
            }
        }
        if (transient) {
            vmmd_uuid_format(dom->live_def->uuid, dom->uuid);
            g_hash_table_insert(d->domains, dom->name, dom);
        }
        dom->pid_start_time = start;
        vmmd_cgroup_free(dom->cgroup);
        dom->cgroup = vmmd_cgroup_find(d, dom->name, pid, dom->live_def);
        dom->own_child = false;
        dom->adopted = true;
        dom->run++;
        dom->id = st.id > 0 ? st.id : d->next_id++;
        d->next_id = MAX(d->next_id, dom->id + 1);
        dom->started_at = st.started_at;
        VmmdState s = state_from_name(st.state);
        dom->state = s == VMMD_STATE_PAUSED ? VMMD_STATE_PAUSED : VMMD_STATE_RUNNING;
        dom->reason = static_reason(st.reason);
        if (strcmp(dom->reason, "starting up") == 0) {
            /* Adopted mid-start: query-status below says how it is now. */
            dom->state = VMMD_STATE_RUNNING;
            dom->reason = "booted";
        }
        vmmd_log(d, dom, LOG_INFO, "re-attached to worker pid %d (%s)", (int)pid,
                 vmmd_state_name(dom->state));
        write_state_file(dom);
        /* Ask the worker how it is, retrying for a while if it is slow. */
        dom->connect_deadline = g_get_monotonic_time() + (gint64)VMMD_START_TIMEOUT_MS * 1000;
        start_connecting(dom);
        connect_tick(dom);
        if (pidfile >= 0)
            close(pidfile);
        return;
    }
    if (pidfile >= 0)
        close(pidfile);
    if (locked) {
        /* Locked but no pid: leave the files, so no start runs a second
         * worker beside it (the lock refuses it). */
        if (transient)
            vmmd_domain_free(dom);
        return;
    }
    /* Dead: record how it ended, clean up (its groups too). */
    Outcome out = { 0 };
    classify_exit(dom, false, 0, &out);
    g_autofree char *run_xml = NULL;
    g_autoptr(VmmDomainDef) run_def = parse_run_xml(dom, &run_xml);
    const VmmDomainDef *gdef = run_def ? run_def : dom->def;
    if (gdef) {
        dom->cgroup = vmmd_cgroup_find(d, dom->name, 0, gdef);
        cgroup_gone(dom, &out);
    }
    if (g_strcmp0(st.reason, "starting up") == 0) {
        out.state = VMMD_STATE_SHUTOFF;
        out.reason = "failed";
    }
    vmmd_log(d, dom, LOG_INFO, "worker pid %d is gone: %s (%s)%s%s", (int)pid,
             vmmd_state_name(out.state), out.reason, out.detail ? ": " : "",
             out.detail ? out.detail : "");
    remove_run_files(dom);
    dom->state = out.state;
    dom->reason = out.reason;
    g_free(out.detail);
    if (transient)
        vmmd_domain_free(dom);
}

void vmmd_lifecycle_reattach(VmmDaemon *d)
{
    GDir *dir = g_dir_open(d->run_dir, 0, NULL);
    if (!dir)
        return;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *n;
    /* A pid file without a state file is looked at too: its worker (if
     * its lock says one lives) is adopted or stopped, never ignored. */
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    while ((n = g_dir_read_name(dir))) {
        const char *ext = strrchr(n, '.');
        if (n[0] == '.' || !ext || ext == n || (strcmp(ext, ".json") && strcmp(ext, ".pid")))
            continue;
        char *name = g_strndup(n, (gsize)(ext - n));
        if (g_hash_table_contains(seen, name)) {
            g_free(name);
            continue;
        }
        g_hash_table_add(seen, name);
        g_ptr_array_add(names, name);
    }
    g_dir_close(dir);
    for (guint i = 0; i < names->len; i++)
        reattach_one(d, g_ptr_array_index(names, i));
}

void vmmd_lifecycle_autostart(VmmDaemon *d)
{
    g_autoptr(GPtrArray) all = vmmd_domain_list(d);
    for (guint i = 0; i < all->len; i++) {
        VmmdDomain *dom = all->pdata[i];
        if (!dom->autostart || vmmd_domain_is_active(dom))
            continue;
        GError *err = NULL;
        vmmd_log(d, dom, LOG_INFO, "autostart");
        if (!vmmd_domain_start(dom, NULL, &err)) {
            vmmd_log(d, dom, LOG_ERR, "autostart failed: %s", err->message);
            g_error_free(err);
        }
    }
}

void vmmd_domain_release(VmmdDomain *dom)
{
    detach_worker(dom);
    if (dom->job_pending)
        vmm_proto_pending_error(dom->job_pending, VMM_PROTO_INTERNAL_ERROR,
                                "vmmd is shutting down; the domain keeps running");
    dom->job_pending = NULL;
    dom->job = VMMD_JOB_NONE;
    answer_destroy_waiters(dom, "vmmd is shutting down before the domain stopped");
}

void vmmd_lifecycle_release(VmmDaemon *d)
{
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, d->domains);
    while (g_hash_table_iter_next(&it, NULL, &v))
        vmmd_domain_release(v);
}
