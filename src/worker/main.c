/* vmm-worker: runs one VM in the foreground from its machine description
 * (src/conf/domain_desc.h), which vmmd passes as a file descriptor; with
 * --xml FILE, the front end vmm-worker-xml turns the domain XML into one.
 * This process never maps libxml2. */
#include "config.h"
#include "block/lock.h"
#include "conf/domain_conf.h"
#include "conf/domain_desc.h"
#include "util/chardev.h"
#include "util/log.h"
#include "util/sandbox.h"
#include "vmm/vm.h"
#include "vmm/vcpu.h"
#include "worker/worker.h"
#include "net/netdev.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The trap's exit status (util/sandbox.c) is one of ours. */
G_STATIC_ASSERT(VMM_SECCOMP_EXIT_STATUS == VMM_WORKER_EXIT_SECCOMP);

static gboolean on_vm_stopped(gint fd, GIOCondition cond, gpointer data)
{
    Worker *w = data;
    g_main_loop_quit(w->loop);
    return G_SOURCE_REMOVE;
}

/* First SIGTERM: ACPI power button, as libvirt's shutdown does. Second:
 * stop hard. Without ACPI there is no button, so the first one is hard. */
static gboolean on_sigterm(gpointer data)
{
    Worker *w = data;
    w->sigterms++;
    if (w->vm && w->vm->ged && w->sigterms == 1) {
        vmm_log_info("SIGTERM: pressing the ACPI power button (send again to stop hard)");
        vmm_vm_power_button(w->vm);
    } else if (w->vm) {
        vmm_vm_request_stop(w->vm, VMM_STOP_KILLED, "stopped by SIGTERM");
    } else {
        g_main_loop_quit(w->loop);
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_sigint(gpointer data)
{
    Worker *w = data;
    if (w->vm)
        vmm_vm_request_stop(w->vm, VMM_STOP_KILLED, "stopped by SIGINT");
    else
        g_main_loop_quit(w->loop);
    return G_SOURCE_CONTINUE;
}

/* VMM_DEBUG_TRACE=MS: kick the vCPUs every MS ms so each logs where it is. */
static gboolean debug_trace_tick(gpointer data)
{
    Worker *w = data;
    if (w->vm)
        for (unsigned i = 0; i < w->vm->nr_vcpus; i++)
            vmm_vcpu_kick(&w->vm->vcpus[i]);
    return G_SOURCE_CONTINUE;
}

/* VMM_DEBUG_WORKER_EVENTS="NAME JSON" lines: on SIGUSR2 the worker sends
 * these events to vmmd as they are (a JSON that does not parse goes as a
 * string): what a worker taken over by its guest could send
 * (tests/integration/test-daemon, /daemon/hostile-worker-events). */
static gboolean debug_send_events(gpointer data)
{
    Worker *w = data;
    g_auto(GStrv) lines = g_strsplit(g_getenv("VMM_DEBUG_WORKER_EVENTS"), "\n", -1);
    for (char **l = lines; *l; l++) {
        char *sp = strchr(*l, ' ');
        if (!sp)
            continue;
        *sp = 0;
        json_object *ev = json_tokener_parse(sp + 1);
        worker_control_event(w, *l, ev ? ev : json_object_new_string(sp + 1));
    }
    return G_SOURCE_CONTINUE;
}

static gboolean debug_forbidden_call(gpointer data)
{
    int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
    vmm_log_warn("VMM_DEBUG_SECCOMP_TRAP: open(/etc/passwd) returned %d%s", fd,
                 fd >= 0 ? ": no sandbox?" : "");
    if (fd >= 0)
        close(fd);
    return G_SOURCE_CONTINUE;
}

/* VMM_DEBUG_SANDBOX_CONNECT=NAME: on SIGUSR2 the main loop (whose
 * allow-list has socket and connect) tries the abstract unix socket @NAME,
 * logs the outcome and presses the power button. tests/integration/
 * test-sandbox listens there in the host's network namespace, which the
 * confined worker has left (abstract sockets belong to one). */
static gboolean debug_sandbox_connect(gpointer data)
{
    const char *name = g_getenv("VMM_DEBUG_SANDBOX_CONNECT");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t n = MIN(strlen(name), sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path + 1, name, n);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = fd < 0 ? -1
                    : connect(fd, (struct sockaddr *)&sa,
                              (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n));
    vmm_log_warn("VMM_DEBUG_SANDBOX_CONNECT: connect(@%s): %s", name,
                 rc == 0 ? "connected" : g_strerror(errno));
    if (fd >= 0)
        close(fd);
    return on_sigterm(data);
}

static VmmLifecycleAction action_for(const VmmDomainDef *def, VmmStopReason r)
{
    switch (r) {
    case VMM_STOP_POWEROFF: return def->on_poweroff;
    case VMM_STOP_RESET: return def->on_reboot;
    case VMM_STOP_CRASH: return def->on_crash;
    default: return VMM_ACTION_DESTROY;
    }
}

static int exit_status_for(VmmStopReason r)
{
    switch (r) {
    case VMM_STOP_POWEROFF: return VMM_WORKER_EXIT_POWEROFF;
    case VMM_STOP_RESET: return VMM_WORKER_EXIT_REBOOT;
    case VMM_STOP_CRASH: return VMM_WORKER_EXIT_CRASH;
    case VMM_STOP_KILLED: return VMM_WORKER_EXIT_KILLED;
    default: return VMM_WORKER_EXIT_ERROR;
    }
}

/* The daemon reads this to tell why we exited even when it was not our
 * parent (it re-attached after a restart). Opened (empty) at start, since
 * the confined worker can create no file; written once, at the end. */
static int open_exit_file(const char *path)
{
    if (!path)
        return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        vmm_log_warn("cannot open the exit file %s: %s", path, g_strerror(errno));
    return fd;
}

static void write_exit_file(int fd, int status, const char *reason, const char *detail)
{
    if (fd < 0)
        return;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_int(status));
    json_object_object_add(o, "reason", json_object_new_string(reason));
    json_object_object_add(o, "detail", json_object_new_string(detail ? detail : ""));
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    size_t len = strlen(s);
    if (pwrite(fd, s, len, 0) != (ssize_t)len || ftruncate(fd, (off_t)len) < 0)
        vmm_log_warn("cannot write the exit file: %s", g_strerror(errno));
    json_object_put(o);
}

/* The host end of virtio console or channel i. A unix channel in bind
 * mode without a path listens where libvirt would make one, in vmmd's run
 * directory: <run_dir>/channel/<domain>/<target name> (the one place there
 * a guest's socket may be). */
static VmmChardev *open_channel(Worker *w, guint i, const char *run_dir, GError **err)
{
    VmmChannelDef *ch = g_ptr_array_index(w->def->channels, i);
    g_autofree char *label = vmm_channel_alias(w->def->channels, i, w->def->serials->len > 0);
    if (ch->chr.type != VMM_CHR_UNIX || ch->chr.path)
        return vmm_chardev_open_checked(&ch->chr, label, NULL, run_dir, err);
    if (!run_dir) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s: a unix channel without <source path=...> listens in vmmd's run "
                    "directory, and vmm-worker was given none (--run-dir DIR, or set the path)",
                    label);
        return NULL;
    }
    ch->chr.path = vmm_channel_auto_path(run_dir, w->def->name, ch->name);
    g_autofree char *dir = g_path_get_dirname(ch->chr.path);
    if (g_mkdir_with_parents(dir, 0700) < 0) {
        int e = errno;
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e),
                    "%s: cannot create the channel directory '%s': %s", label, dir,
                    g_strerror(e));
        return NULL;
    }
    return vmm_chardev_open(&ch->chr, label, NULL, err);
}

/* vmm-worker-xml, the XML front end: next to this program (a build
 * tree), else where it is installed. */
static char *xml_front_end(void)
{
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    if (self) {
        g_autofree char *dir = g_path_get_dirname(self);
        char *p = g_build_filename(dir, "vmm-worker-xml", NULL);
        if (g_file_test(p, G_FILE_TEST_IS_EXECUTABLE))
            return p;
        g_free(p);
    }
    return g_strdup(LIBEXECDIR "/vmm-worker-xml");
}

/* The definition in domain XML `path`, parsed and validated by the front
 * end in a process of its own: the XML parser never enters this one. */
static VmmDomainDef *def_from_xml(const char *path, GError **err)
{
    g_autofree char *front = xml_front_end();
    const char *argv[] = { front, path, NULL };
    g_autofree char *out = NULL, *errout = NULL;
    gint status;
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &errout,
                      &status, err)) {
        g_prefix_error(err, "cannot run the XML front end %s: ", front);
        return NULL;
    }
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_strstrip(errout);
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID, "%s",
                    *errout ? errout : "the XML front end failed");
        return NULL;
    }
    g_autofree char *source = g_strdup_printf("%s (from %s)", front, path);
    return vmm_domain_desc_from_json(out, strlen(out), source, err);
}

#ifdef __SANITIZE_ADDRESS__
/* LeakSanitizer's check at exit stops the threads from a tracer that it
 * clone()s as a new process and ptrace()s from, after prctl()
 * (PR_SET_PTRACER, PR_SET_DUMPABLE) and a read of /proc/self/task: the
 * confined worker's seccomp filter traps those calls (its empty root has
 * no /proc either), which turned a clean exit into a seccomp stop. A
 * confined worker skips the check (LSan asks this hook at exit); an
 * unconfined one (--no-sandbox) is checked when ASAN_OPTIONS asks. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return vmm_seccomp_active();
}
#endif

int main(int argc, char **argv)
{
    g_autofree char *xml = NULL, *boot_protocol = NULL, *control = NULL, *exit_file = NULL;
    g_autofree char *run_dir = NULL, *user = NULL, *group = NULL;
    g_autofree char *label_user = NULL;   /* <seclabel>'s USER:GROUP, split */
    gboolean verbose = FALSE, version = FALSE, no_sandbox = FALSE;
    gint state_lock_fd = -1, desc_fd = -1;
    g_auto(GStrv) net_fds = NULL, vhost_user_fds = NULL;
    GOptionEntry entries[] = {
        { "xml", 'x', 0, G_OPTION_ARG_FILENAME, &xml,
          "libvirt domain XML to run (read by vmm-worker-xml, a process of its own)", "FILE" },
        { "desc-fd", 0, 0, G_OPTION_ARG_INT, &desc_fd,
          "read the machine description to run from this fd (how vmmd starts the worker)",
          "FD" },
        { "boot-protocol", 0, 0, G_OPTION_ARG_STRING, &boot_protocol,
          "auto (default: PVH if the ELF has a PVH note), linux or pvh", "PROTO" },
        { "control-socket", 0, 0, G_OPTION_ARG_FILENAME, &control,
          "listen for vmmd's commands on this unix socket", "PATH" },
        { "exit-file", 0, 0, G_OPTION_ARG_FILENAME, &exit_file,
          "write the exit status and reason here as JSON before exiting", "PATH" },
        { "state-lock-fd", 0, 0, G_OPTION_ARG_INT, &state_lock_fd,
          "keep this fd (vmmd's locked NAME.pid) open for the worker's lifetime", "FD" },
        { "run-dir", 0, 0, G_OPTION_ARG_FILENAME, &run_dir,
          "vmmd's run directory: unix serial sockets may not be placed there", "DIR" },
        { "net-fds", 0, 0, G_OPTION_ARG_STRING_ARRAY, &net_fds,
          "interface INDEX's host side, opened by vmmd (tap queues or passt's socket)",
          "INDEX:FD[,FD...]" },
        { "vhost-user-fd", 0, 0, G_OPTION_ARG_STRING_ARRAY, &vhost_user_fds,
          "a vhost-user device's socket, made by vmmd; later ones are asked of vmmd over the "
          "control socket", "disk:TARGET:FD|interface:INDEX:FD" },
        { "user", 0, 0, G_OPTION_ARG_STRING, &user,
          "when started as root, run the guest as this user, a name or +UID (default: the "
          "domain's <seclabel> label, else vmmd)", "NAME" },
        { "group", 0, 0, G_OPTION_ARG_STRING, &group,
          "and this group (default the user's)", "NAME" },
        { "no-sandbox", 0, 0, G_OPTION_ARG_NONE, &no_sandbox,
          "debugging: run the guest without confinement (no uid change, namespaces, "
          "seccomp)", NULL },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "log debug messages", NULL },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "print the version and exit", NULL },
        { NULL },
    };
    vmm_log_set_program("vmm-worker");
    /* Serial type=stdio owns stdout; every log line goes to stderr. */
    g_log_writer_default_set_use_stderr(TRUE);
    g_autoptr(GOptionContext) octx = g_option_context_new("- run one vmmd virtual machine");
    g_option_context_add_main_entries(octx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(octx, &argc, &argv, &err)) {
        vmm_log_error("%s", err->message);
        return VMM_WORKER_EXIT_ERROR;
    }
    if (version) {
        printf("vmm-worker %s\n", PACKAGE_VERSION);
        return 0;
    }
    /* known while /proc is there: vmmd puts us in a PID namespace of our
     * own, where getpid() is 1 */
    (void)vmm_host_pid();
    int exit_fd = open_exit_file(exit_file);
    if (!xml == (desc_fd < 0)) {
        static const char msg[] = "one of --xml FILE and --desc-fd FD is required";
        vmm_log_error("%s", msg);
        write_exit_file(exit_fd, VMM_WORKER_EXIT_ERROR, "error", msg);
        return VMM_WORKER_EXIT_ERROR;
    }
    if (verbose)
        vmm_log_set_level(VMM_LOG_DEBUG);
    /* vmmd's OFD lock on this file lives as long as this open file
     * description: held to the end, never passed on to a program we run. */
    if (state_lock_fd >= 0 && fcntl(state_lock_fd, F_SETFD, FD_CLOEXEC) < 0) {
        g_autofree char *msg = g_strdup_printf("--state-lock-fd %d: %s", state_lock_fd,
                                               g_strerror(errno));
        vmm_log_error("%s", msg);
        write_exit_file(exit_fd, VMM_WORKER_EXIT_ERROR, "error", msg);
        return VMM_WORKER_EXIT_ERROR;
    }
    /* A confined worker opens no file: what a reboot opens again is kept. */
    if (!no_sandbox)
        vmm_sandbox_record();
    /* A vanished console reader must not kill the VM. */
    signal(SIGPIPE, SIG_IGN);

    Worker w = { .proc_status_fd = -1 };
    if (xml) {
        w.def = def_from_xml(xml, &err);
    } else {
        g_autofree char *source = g_strdup_printf("--desc-fd %d", desc_fd);
        w.def = vmm_domain_desc_read_fd(desc_fd, source, &err);
        close(desc_fd);
    }
    if (!w.def) {
        vmm_log_error("%s", err->message);
        write_exit_file(exit_fd, VMM_WORKER_EXIT_ERROR, "error", err->message);
        return VMM_WORKER_EXIT_ERROR;
    }
    /* Tuning is the daemon's (cgroups, affinities): say so when run alone. */
    if (w.def->tune && !control)
        vmm_log_warn("<cputune>, <memtune> and <blkiotune> are applied by vmmd (per-VM "
                     "cgroups); vmm-worker run by hand does not apply them");
    /* Lets another VM refused our images name this domain, not just a pid. */
    if (!vmm_image_lock_set_holder(w.def->name, &err)) {
        vmm_log_warn("%s", err->message);
        g_clear_error(&err);
    }
    /* The host side of every interface: handed over by vmmd (--net-fds),
     * or opened here when the worker runs on its own. It outlives guest
     * reboots, like the serial backends. */
    guint nnets = w.def->nets->len;
    g_autofree VmmNetdev **netdevs = g_new0(VmmNetdev *, nnets + 1);
    w.loop = g_main_loop_new(NULL, FALSE);
    int status = VMM_WORKER_EXIT_ERROR;
    bool ran = false;   /* a guest ran: events may wait to be sent */
    const char *reason = "error";
    g_autofree char *detail = NULL;
    for (char **a = net_fds; a && *a; a++) {
        unsigned idx, n;
        int fds[VMM_TAP_MAX_QUEUES];
        if (!vmm_netdev_parse_fd_arg(*a, &idx, fds, &n, &err) ||
            !(netdevs[idx < nnets ? idx : 0] = vmm_netdev_adopt(
                  idx < nnets ? g_ptr_array_index(w.def->nets, idx) : NULL, idx, fds, n, &err))) {
            vmm_log_error("%s", err->message);
            detail = g_strdup(err->message);
            goto out;
        }
    }
    /* vmmd makes the vhost-user sockets (the confined worker cannot reach
     * their paths); without it the worker connects by path itself. */
    if (vhost_user_fds && !(w.vhost_sockets = worker_vhost_sockets_new(&w, vhost_user_fds,
                                                                       &err))) {
        vmm_log_error("%s", err->message);
        detail = g_strdup(err->message);
        goto out;
    }
    for (guint i = 0; i < w.def->serials->len; i++) {
        const VmmChrDef *chr = g_ptr_array_index(w.def->serials, i);
        g_autofree char *label = g_strdup_printf("serial%u", chr->port);
        w.backends[chr->port] = vmm_chardev_open_checked(chr, label, NULL, run_dir, &err);
        if (!w.backends[chr->port]) {
            vmm_log_error("%s", err->message);
            detail = g_strdup(err->message);
            goto out;
        }
    }
    w.channel_backends = g_new0(VmmChardev *, w.def->channels->len + 1);
    for (guint i = 0; i < w.def->channels->len; i++) {
        if (!(w.channel_backends[i] = open_channel(&w, i, run_dir, &err))) {
            vmm_log_error("%s", err->message);
            detail = g_strdup(err->message);
            goto out;
        }
    }
    for (guint i = 0; i < nnets; i++) {
        if (!netdevs[i] &&
            !(netdevs[i] = vmm_netdev_open(g_ptr_array_index(w.def->nets, i), i, &err))) {
            vmm_log_error("%s", err->message);
            detail = g_strdup(err->message);
            goto out;
        }
    }
    if (control && !worker_control_start(&w, control, &err)) {
        vmm_log_error("%s", err->message);
        detail = g_strdup(err->message);
        goto out;
    }
    const char *trace = g_getenv("VMM_DEBUG_TRACE");
    /* VMM_DEBUG_SECCOMP_TRAP=1: on SIGUSR2 the main loop opens a file,
     * which the allow-list forbids (tests/integration/test-sandbox). */
    if (g_getenv("VMM_DEBUG_SECCOMP_TRAP"))
        g_unix_signal_add(SIGUSR2, debug_forbidden_call, NULL);
    if (g_getenv("VMM_DEBUG_WORKER_EVENTS"))
        g_unix_signal_add(SIGUSR2, debug_send_events, &w);
    if (g_getenv("VMM_DEBUG_SANDBOX_CONNECT"))
        g_unix_signal_add(SIGUSR2, debug_sandbox_connect, &w);
    if (trace)
        g_timeout_add(atoi(trace) > 0 ? atoi(trace) : 1000, debug_trace_tick, &w);
    g_unix_signal_add(SIGTERM, on_sigterm, &w);
    g_unix_signal_add(SIGINT, on_sigint, &w);
    g_unix_signal_add(SIGHUP, on_sigint, &w);

    /* run by hand: the domain's DAC label, when it has one (vmmd passes
     * --user/--group, a dynamic uid included) */
    const char *label_group = NULL;
    if (!user && w.def->seclabel && w.def->seclabel->label &&
        w.def->seclabel->type != VMM_SECLABEL_NONE) {
        label_user = g_strdup(w.def->seclabel->label);
        char *colon = strchr(label_user, ':');
        *colon = 0;
        label_group = colon + 1;
    }
    const char *run_user = user ? user : label_user ? label_user : VMM_WORKER_DEFAULT_USER;
    const char *run_group = user ? group : label_user ? label_group : group;
    for (;;) {
        worker_vhost_sockets_hold(w.vhost_sockets, false);
        w.vm = vmm_vm_new(w.def, w.backends, w.channel_backends, netdevs, boot_protocol,
                          &err);
        worker_balloon_restore(&w);
        /* Everything is open and the VM built: confine before a vCPU
         * runs (once; a reboot builds the next VM inside the sandbox). */
        if (!w.vm ||
            (!no_sandbox && !vmm_seccomp_active() &&
             !worker_confine(w.def, run_user, run_group, exit_fd, &err)) ||
            !vmm_vm_start(w.vm, &err)) {
            vmm_log_error("%s", err->message);
            detail = g_strdup(err->message);
            vmm_vm_free(w.vm);
            w.vm = NULL;
            break;
        }
        ran = true;
        /* The watch removes itself when the VM stops; nothing else quits
         * the loop while a VM runs. */
        g_unix_fd_add(w.vm->stop_eventfd, G_IO_IN, on_vm_stopped, &w);
        g_main_loop_run(w.loop);
        worker_vhost_sockets_hold(w.vhost_sockets, true);
        VmmStopReason why = vmm_vm_join(w.vm);
        g_free(detail);
        detail = g_strdup(w.vm->stop_detail ? w.vm->stop_detail : "");
        vmm_log_info("guest stopped: %s (%s)", vmm_stop_reason_to_string(why), detail);
        VmmLifecycleAction act = w.force_restart ? VMM_ACTION_RESTART : action_for(w.def, why);
        w.force_restart = false;
        worker_balloon_save(&w);
        vmm_vm_free(w.vm);
        w.vm = NULL;
        reason = vmm_stop_reason_to_string(why);
        status = exit_status_for(why);
        if (why != VMM_STOP_KILLED && why != VMM_STOP_ERROR && act == VMM_ACTION_RESTART) {
            w.sigterms = 0;
            vmm_log_info("restarting the guest");
            worker_control_event(&w, "RESET", NULL);
            continue;
        }
        json_object *ev = json_object_new_object();
        json_object_object_add(ev, "reason", json_object_new_string(reason));
        worker_control_event(&w, "SHUTDOWN", ev);
        if (why != VMM_STOP_KILLED && why != VMM_STOP_ERROR && act == VMM_ACTION_PRESERVE) {
            /* Keep the process (and its consoles) until told to go. */
            vmm_log_info("guest stopped and preserved; send SIGTERM to exit");
            g_main_loop_run(w.loop);
        }
        break;
    }
out:
    write_exit_file(exit_fd, status, reason, detail);
    /* Let a last SHUTDOWN event reach the daemon before the socket goes.
     * A worker that never ran a guest has none, and must not answer a
     * query-status waiting on its socket: vmmd would take that for a
     * started domain (the exit file says why it failed). */
    while (ran && g_main_context_iteration(NULL, FALSE))
        ;
    worker_control_stop(&w);
    worker_vhost_sockets_free(w.vhost_sockets);
    for (guint i = 0; i < nnets; i++)
        vmm_netdev_close(netdevs[i]);
    for (unsigned i = 0; i < VMM_MAX_SERIALS; i++)
        if (w.backends[i])
            vmm_chardev_close(w.backends[i]);
    for (guint i = 0; w.channel_backends && i < w.def->channels->len; i++)
        vmm_chardev_close(w.channel_backends[i]);
    g_free(w.channel_backends);
    g_main_loop_unref(w.loop);
    vmm_domain_def_free(w.def);
    if (exit_fd >= 0)
        close(exit_fd);
    return status;
}
