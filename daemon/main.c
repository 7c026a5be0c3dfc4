/* vmmd: the vmmd virtual machine daemon. See vmmd(8).
 *
 *   vmmd [--config-dir DIR] [--run-dir DIR] [--socket PATH] [--ro-socket PATH]
 *        [--worker PATH] [client limits] [--log-max-size B] [--log-max-backups N]
 *        [--verbose]
 *
 * Without directories it runs in system mode: /etc/vmmd and /run/vmmd.
 * Sockets come from systemd when it passes them (vmmd.sock, vmmd-ro.sock),
 * else the daemon creates <run>/vmmd.sock and <run>/vmmd-ro.sock. SIGTERM
 * and SIGINT stop the daemon but never the VMs: the next vmmd re-attaches
 * to their workers. */
#include "config.h"
#include "conf/domain_format.h"
#include "daemon/vmmd.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#define SYSTEM_CONFIG_DIR "/etc/vmmd"
#define SYSTEM_RUN_DIR "/run/vmmd"

static gboolean on_terminate(gpointer data)
{
    VmmDaemon *d = data;
    vmmd_log(d, NULL, LOG_INFO, "stopping (running domains keep running)");
    sd_notify(0, "STOPPING=1");
    g_main_loop_quit(d->loop);
    return G_SOURCE_CONTINUE;
}

static gboolean on_hangup(gpointer data)
{
    vmmd_log(data, NULL, LOG_INFO, "SIGHUP ignored: definitions are read at start-up and "
             "changed through domain-define");
    return G_SOURCE_CONTINUE;
}

static gboolean on_watchdog(gpointer data)
{
    sd_notify(0, "WATCHDOG=1");
    return G_SOURCE_CONTINUE;
}

/* The run directory holds the sockets that control VMs and the files
 * that say which worker runs which VM: anyone else who may write there
 * could plant a symbolic link or a false state file. As libvirt does,
 * refuse one that is not ours or that others may write. */
static bool open_run_dir(VmmDaemon *d, GError **err)
{
    d->run_fd = open(d->run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (d->run_fd < 0 || fstat(d->run_fd, &st) < 0) {
        int e = errno;
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot open run directory "
                    "'%s': %s", d->run_dir, e == ELOOP || e == ENOTDIR
                        ? "it is a symbolic link or not a directory" : g_strerror(e));
        return false;
    }
    if (st.st_uid != geteuid()) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_PERM, "run directory '%s' is owned by uid "
                    "%u, not by vmmd's uid %u: refusing to use it", d->run_dir,
                    (unsigned)st.st_uid, (unsigned)geteuid());
        return false;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_PERM, "run directory '%s' is writable by "
                    "%s (mode %04o): refusing to use it; make it 0755 or stricter",
                    d->run_dir, (st.st_mode & S_IWOTH) ? "others" : "its group",
                    (unsigned)(st.st_mode & 07777));
        return false;
    }
    return true;
}

/* Only one daemon may own a run directory: two would both adopt the same
 * workers. A POSIX record lock, not flock(): it belongs to this process
 * alone, so a child between fork and exec (a worker being spawned, a
 * network helper) does not hold it, and it goes the moment the daemon
 * dies; a flock() copy in such a child kept a killed daemon's run
 * directory locked and a restart at once failed. Nothing else in the
 * daemon may open this file: closing any fd of it drops the lock. */
static bool take_lock(VmmDaemon *d, GError **err)
{
    g_autofree char *path = g_build_filename(d->run_dir, "vmmd.lock", NULL);
    d->lock_fd = openat(d->run_fd, "vmmd.lock",
                        O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0644);
    if (d->lock_fd < 0) {
        int e = errno;
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot open '%s': %s",
                    path, g_strerror(e));
        return false;
    }
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(d->lock_fd, F_SETLK, &fl) < 0) {
        int e = errno;
        if (e != EAGAIN && e != EACCES) {
            g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot lock '%s': %s",
                        path, g_strerror(e));
            return false;
        }
        struct flock who = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        g_autofree char *pid = fcntl(d->lock_fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK
                               ? g_strdup_printf(" (pid %d)", (int)who.l_pid) : g_strdup("");
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e),
                    "another vmmd%s is already running with run directory %s (it holds the "
                    "lock on %s)", pid, d->run_dir, path);
        return false;
    }
    g_autofree char *text = g_strdup_printf("%d\n", (int)getpid());
    if (ftruncate(d->lock_fd, 0) < 0 || pwrite(d->lock_fd, text, strlen(text), 0) < 0)
        vmmd_log(d, NULL, LOG_WARNING, "cannot write %s: %s", path, g_strerror(errno));
    return true;
}

static bool listen_systemd(VmmDaemon *d, int n, char **names, GError **err)
{
    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        const char *name = names && names[i] ? names[i] : "unknown";
        if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "socket %d (%s) passed by systemd is not a listening unix stream "
                        "socket", fd, name);
            return false;
        }
        /* libvirt's protocol by name only (vmmd-libvirt*.socket). */
        if (!strcmp(name, "libvirt-sock") || !strcmp(name, "libvirt-sock-ro")) {
            bool lro = !strcmp(name, "libvirt-sock-ro");
            if (!vmmd_libvirt_listen_fd(d->libvirt, fd, lro, err))
                return false;
            vmmd_log(d, NULL, LOG_INFO, "listening for libvirt clients on socket %s from "
                     "systemd", name);
            continue;
        }
        /* By name; unnamed ones by position: the first read-write, the
         * second read-only. */
        bool ro = strcmp(name, "vmmd-ro.sock") == 0 ||
                  (strcmp(name, "vmmd.sock") != 0 && i == 1);
        if (!vmm_proto_server_listen_fd(d->server, fd, ro, err))
            return false;
        vmmd_log(d, NULL, LOG_INFO, "listening on socket %s from systemd%s", name,
                 ro ? " (read-only)" : "");
    }
    return true;
}

/* Members of group "vmmd" may manage VMs, as with libvirt's group. */
static void give_to_group(VmmDaemon *d, const char *path)
{
    struct group *gr = getgrnam("vmmd");
    if (gr && chown(path, (uid_t)-1, gr->gr_gid) < 0)
        vmmd_log(d, NULL, LOG_WARNING, "cannot give %s to group vmmd: %s", path,
                 g_strerror(errno));
}

static bool listen_paths(VmmDaemon *d, GError **err)
{
    if (!vmm_proto_server_listen_path(d->server, d->socket_path, 0660, false, err))
        return false;
    give_to_group(d, d->socket_path);
    if (!vmm_proto_server_listen_path(d->server, d->ro_socket_path, 0666, true, err))
        return false;
    vmmd_log(d, NULL, LOG_INFO, "listening on %s and %s (read-only)", d->socket_path,
             d->ro_socket_path);
    return true;
}

/* Every client and every worker connection is an fd; systemd's default
 * soft limit of 1024 is too low for a busy host. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = MIN(rl.rlim_max, (rlim_t)65536);
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void domain_free_cb(gpointer p)
{
    vmmd_domain_free(p);
}

/* "FIRST-LAST", decimal, 0 < FIRST <= LAST < 2^32-1 (uid 0 is root's,
 * 2^32-1 is the kernel's "no uid"). */
static bool parse_uid_range(const char *s, guint32 *min, guint32 *max)
{
    guint64 a, b;
    char *end;
    if (!g_ascii_isdigit(*s))
        return false;
    a = g_ascii_strtoull(s, &end, 10);
    if (*end != '-' || !g_ascii_isdigit(end[1]))
        return false;
    b = g_ascii_strtoull(end + 1, &end, 10);
    if (*end || a == 0 || a > b || b >= G_MAXUINT32)
        return false;
    *min = (guint32)a;
    *max = (guint32)b;
    return true;
}

/* CONFDIR/vmmd.conf, a key file like libvirt's qemu.conf user/group:
 *   [worker]
 *   user=vmmd
 *   group=vmmd
 *   sandbox=true
 *   oom_score_adj=0
 *   [cgroup]
 *   partition=machine
 * A missing file means the defaults; a bad one stops the daemon. */
static bool read_config(VmmDaemon *d, GError **err)
{
    g_autofree char *path = g_build_filename(d->config_dir, "vmmd.conf", NULL);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    GError *e = NULL;
    d->worker_sandbox = true;
    d->dynamic_uid_min = VMMD_DYNAMIC_UID_MIN;
    d->dynamic_uid_max = VMMD_DYNAMIC_UID_MAX;
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &e)) {
        if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            g_error_free(e);
            return true;
        }
        g_propagate_prefixed_error(err, e, "%s: ", path);
        return false;
    }
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++) {
        static const char *const worker_keys[] = { "user", "group", "sandbox",
                                                    "oom_score_adj", "dynamic_uid_range", NULL };
        static const char *const cgroup_keys[] = { "partition", NULL };
        const char *const *known = !strcmp(*g, "worker") ? worker_keys
                                 : !strcmp(*g, "cgroup") ? cgroup_keys : NULL;
        if (!known) {
            g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
                        "%s: unknown section [%s] (vmmd.conf has [worker] and [cgroup])",
                        path, *g);
            return false;
        }
        g_auto(GStrv) keys = g_key_file_get_keys(kf, *g, NULL, NULL);
        for (char **k = keys; k && *k; k++) {
            if (!g_strv_contains(known, *k)) {
                g_autofree char *list = g_strjoinv(", ", (char **)known);
                g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                            "%s: unknown key '%s' in [%s] (%s)", path, *k, *g, list);
                return false;
            }
        }
    }
    d->worker_user = g_key_file_get_string(kf, "worker", "user", NULL);
    d->worker_group = g_key_file_get_string(kf, "worker", "group", NULL);
    if (g_key_file_has_key(kf, "worker", "sandbox", NULL)) {
        d->worker_sandbox = g_key_file_get_boolean(kf, "worker", "sandbox", &e);
        if (e) {
            g_propagate_prefixed_error(err, e, "%s: [worker] sandbox: ", path);
            return false;
        }
    }
    if (g_key_file_has_key(kf, "worker", "oom_score_adj", NULL)) {
        int v = g_key_file_get_integer(kf, "worker", "oom_score_adj", &e);
        if (e || v < -1000 || v > 1000) {
            g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                        "%s: [worker] oom_score_adj must be an integer from -1000 to 1000%s%s",
                        path, e ? ": " : "", e ? e->message : "");
            g_clear_error(&e);
            return false;
        }
        d->worker_oom_score_adj = v;
    }
    d->cgroup_partition = g_key_file_get_string(kf, "cgroup", "partition", NULL);
    if (d->cgroup_partition) {
        g_autofree char *clean = g_canonicalize_filename(d->cgroup_partition, "/");
        /* no way out of the hierarchy, no file of its own */
        if (!*d->cgroup_partition || strstr(d->cgroup_partition, "..") ||
            !strcmp(clean, "/")) {
            g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                        "%s: [cgroup] partition '%s' must name a group (relative to vmmd's "
                        "own cgroup, or absolute from the hierarchy's root), without '..'",
                        path, d->cgroup_partition);
            return false;
        }
    }
    g_autofree char *range = g_key_file_get_string(kf, "worker", "dynamic_uid_range", NULL);
    if (range && !parse_uid_range(range, &d->dynamic_uid_min, &d->dynamic_uid_max)) {
        g_autofree char *shown = g_strescape(range, NULL);
        g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "%s: [worker] dynamic_uid_range '%s' is not FIRST-LAST with 0 < FIRST <= "
                    "LAST < 4294967295", path, shown);
        return false;
    }
    if ((d->worker_user && !*d->worker_user) || (d->worker_group && !*d->worker_group)) {
        g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "%s: [worker] user and group must not be empty", path);
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    VmmDaemon d = { .lock_fd = -1, .run_fd = -1, .next_id = 1 };
    gboolean verbose = FALSE, foreground = FALSE, version = FALSE;
    g_autofree char *config_dir = NULL, *run_dir = NULL, *sock = NULL, *ro_sock = NULL;
    g_autofree char *worker = NULL, *lv_sock = NULL, *lv_ro_sock = NULL;
    VmmProtoLimits lim;
    vmm_proto_limits_init(&lim);
    /* libvirt's keepalive scale: a silent client is gone after minutes. */
    lim.idle_timeout_s = VMMD_IDLE_TIMEOUT_S;
    lim.output_timeout_s = VMMD_OUTPUT_TIMEOUT_S;
    gint max_clients = (gint)lim.max_clients, max_ro = (gint)lim.max_ro_clients;
    gint max_ro_uid = (gint)lim.max_ro_per_uid, idle_s = (gint)lim.idle_timeout_s;
    gint output_s = (gint)lim.output_timeout_s;
    gint64 max_unread = (gint64)lim.max_output;
    gint64 log_max_size = VMMD_LOG_MAX_SIZE;
    gint log_max_backups = VMMD_LOG_MAX_BACKUPS;
    g_autofree char *default_network = NULL;
    GOptionEntry entries[] = {
        { "config-dir", 'c', 0, G_OPTION_ARG_FILENAME, &config_dir,
          "definitions directory (default " SYSTEM_CONFIG_DIR ")", "DIR" },
        { "run-dir", 'r', 0, G_OPTION_ARG_FILENAME, &run_dir,
          "runtime directory (default " SYSTEM_RUN_DIR ")", "DIR" },
        { "socket", 's', 0, G_OPTION_ARG_FILENAME, &sock,
          "read-write socket (default RUNDIR/vmmd.sock)", "PATH" },
        { "ro-socket", 0, 0, G_OPTION_ARG_FILENAME, &ro_sock,
          "read-only socket (default RUNDIR/vmmd-ro.sock)", "PATH" },
        { "libvirt-socket", 0, 0, G_OPTION_ARG_FILENAME, &lv_sock,
          "libvirt remote protocol, read-write (default RUNDIR/libvirt-sock)", "PATH" },
        { "libvirt-ro-socket", 0, 0, G_OPTION_ARG_FILENAME, &lv_ro_sock,
          "libvirt remote protocol, read-only (default RUNDIR/libvirt-sock-ro)", "PATH" },
        { "worker", 0, 0, G_OPTION_ARG_FILENAME, &worker,
          "vmm-worker binary (default $VMM_WORKER, else " BINDIR "/vmm-worker)", "PATH" },
        { "max-clients", 0, 0, G_OPTION_ARG_INT, &max_clients,
          "connections on the read-write socket (default 1024)", "N" },
        { "max-ro-clients", 0, 0, G_OPTION_ARG_INT, &max_ro,
          "connections on the read-only socket (default 1024)", "N" },
        { "max-ro-clients-per-uid", 0, 0, G_OPTION_ARG_INT, &max_ro_uid,
          "read-only connections one uid may hold (default 64)", "N" },
        { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &idle_s,
          "close a client that sends no request for SECONDS (default 300, 0: never)",
          "SECONDS" },
        { "output-timeout", 0, 0, G_OPTION_ARG_INT, &output_s,
          "close a client that reads none of its pending replies for SECONDS (default 60, "
          "0: never)", "SECONDS" },
        { "max-unread", 0, 0, G_OPTION_ARG_INT64, &max_unread,
          "close a client with more than BYTES of replies unread (default 4194304)", "BYTES" },
        { "log-max-size", 0, 0, G_OPTION_ARG_INT64, &log_max_size,
          "rotate a domain's log at BYTES (default 2097152, 0: never)", "BYTES" },
        { "log-max-backups", 0, 0, G_OPTION_ARG_INT, &log_max_backups,
          "rotated logs kept per domain (default 3)", "N" },
        { "default-network", 0, 0, G_OPTION_ARG_STRING, &default_network,
          "define and autostart libvirt's 'default' NAT network on the first start: yes, no, "
          "or auto (default: yes with the system directories, no with --config-dir)",
          "yes|no|auto" },
        { "foreground", 'f', 0, G_OPTION_ARG_NONE, &foreground,
          "stay in the foreground (vmmd always does; accepted for compatibility)", NULL },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "log debug messages", NULL },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "print the version and exit", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) octx = g_option_context_new("- the vmmd virtual machine daemon");
    g_option_context_add_main_entries(octx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(octx, &argc, &argv, &err)) {
        fprintf(stderr, "vmmd: %s (try --help)\n", err->message);
        return 1;
    }
    if (version) {
        printf("vmmd %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "vmmd: unexpected argument '%s' (try --help)\n", argv[1]);
        return 1;
    }
    const char *bad = max_clients < 1 ? "--max-clients" : max_ro < 1 ? "--max-ro-clients"
                    : max_ro_uid < 1 ? "--max-ro-clients-per-uid"
                    : idle_s < 0 ? "--idle-timeout" : output_s < 0 ? "--output-timeout"
                    : max_unread < VMM_PROTO_MIN_OUTPUT ? "--max-unread"
                    : log_max_size < 0 ? "--log-max-size"
                    : log_max_backups < 0 || log_max_backups > 99 ? "--log-max-backups" : NULL;
    if (default_network && strcmp(default_network, "yes") && strcmp(default_network, "no") &&
        strcmp(default_network, "auto")) {
        fprintf(stderr, "vmmd: --default-network takes yes, no or auto, not '%s'\n",
                default_network);
        return 1;
    }
    bool want_default = default_network && strcmp(default_network, "auto")
                        ? !strcmp(default_network, "yes") : config_dir == NULL;
    if (bad) {
        fprintf(stderr, "vmmd: %s is out of range (counts from 1, timeouts and sizes from 0, "
                "--max-unread from %d, --log-max-backups up to 99)\n", bad, VMM_PROTO_MIN_OUTPUT);
        return 1;
    }
    lim.max_clients = (guint)max_clients;
    lim.max_ro_clients = (guint)max_ro;
    lim.max_ro_per_uid = (guint)max_ro_uid;
    lim.idle_timeout_s = (guint)idle_s;
    lim.output_timeout_s = (guint)output_s;
    lim.max_output = (gsize)max_unread;
    d.log_max_size = (guint64)log_max_size;
    d.log_max_backups = (guint)log_max_backups;
    d.verbose = verbose;
    vmmd_log_init(&d);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    /* Nothing vmmd creates is writable by group or others unless it says
     * so (the sockets): a run directory it creates must pass its own check. */
    umask(umask(0) | 022);

    d.config_dir = g_strdup(config_dir ? config_dir : SYSTEM_CONFIG_DIR);
    d.run_dir = g_strdup(run_dir ? run_dir : SYSTEM_RUN_DIR);
    d.domains_dir = g_build_filename(d.config_dir, "domains", NULL);
    d.autostart_dir = g_build_filename(d.config_dir, "autostart", NULL);
    d.socket_path = sock ? g_strdup(sock) : g_build_filename(d.run_dir, "vmmd.sock", NULL);
    d.ro_socket_path = ro_sock ? g_strdup(ro_sock) : g_build_filename(d.run_dir, "vmmd-ro.sock", NULL);
    d.libvirt_socket_path = lv_sock ? g_strdup(lv_sock)
                                    : g_build_filename(d.run_dir, "libvirt-sock", NULL);
    d.libvirt_ro_socket_path = lv_ro_sock ? g_strdup(lv_ro_sock)
                                          : g_build_filename(d.run_dir, "libvirt-sock-ro", NULL);
    const char *env_worker = g_getenv("VMM_WORKER");
    d.worker_path = g_strdup(worker ? worker : env_worker && *env_worker ? env_worker
                                                                        : BINDIR "/vmm-worker");
    d.schema_path = vmm_domain_schema_path();
    d.domains = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, domain_free_cb);
    d.loop = g_main_loop_new(NULL, FALSE);
    int status = 1;

    if (!read_config(&d, &err)) {
        vmmd_log(&d, NULL, LOG_ERR, "%s", err->message);
        goto out;
    }
    const char *wuser = d.worker_user ? d.worker_user : "vmmd";
    if (d.worker_sandbox && geteuid() == 0 && !getpwnam(wuser))
        vmmd_log(&d, NULL, LOG_WARNING, "the worker's user '%s' does not exist: domains cannot "
                 "start until it does (systemd-sysusers creates vmmd; see vmmd(8), SANDBOX)",
                 wuser);
    vmmd_seclabel_check_range(&d);
    if (!g_file_test(d.worker_path, G_FILE_TEST_IS_EXECUTABLE))
        vmmd_log(&d, NULL, LOG_WARNING, "the worker '%s' is not an executable file; domains "
                 "cannot start (use --worker or $VMM_WORKER)", d.worker_path);
    vmmd_cgroup_host_init(&d);
    if (g_mkdir_with_parents(d.run_dir, 0755) < 0) {
        vmmd_log(&d, NULL, LOG_ERR, "cannot create %s: %s", d.run_dir, g_strerror(errno));
        goto out;
    }
    if (!open_run_dir(&d, &err) || !take_lock(&d, &err) || !vmmd_store_init(&d, &err) ||
        !vmmd_networks_init(&d, want_default, &err)) {
        vmmd_log(&d, NULL, LOG_ERR, "%s", err->message);
        goto out;
    }
    d.server = vmm_proto_server_new("vmmd", vmmd_commands, &d);
    vmm_proto_server_set_limits(d.server, &lim);
    vmmd_lifecycle_reattach(&d);

    d.libvirt = vmmd_libvirt_new(&d);
    char **names = NULL;
    int n = sd_listen_fds_with_names(1, &names);
    bool ok = n > 0 ? listen_systemd(&d, n, names, &err) : listen_paths(&d, &err);
    g_strfreev(names);
    if (n < 0)
        vmmd_log(&d, NULL, LOG_WARNING, "sd_listen_fds: %s", g_strerror(-n));
    if (!ok) {
        vmmd_log(&d, NULL, LOG_ERR, "%s", err->message);
        goto out;
    }
    /* Without systemd's libvirt sockets, our own, with the rights of the
     * JSON sockets: read-write for the owner (and group vmmd), read-only
     * for everyone. */
    if (vmmd_libvirt_n_listeners(d.libvirt) == 0) {
        if (!vmmd_libvirt_listen_path(d.libvirt, d.libvirt_socket_path, 0660, false, &err) ||
            !vmmd_libvirt_listen_path(d.libvirt, d.libvirt_ro_socket_path, 0666, true, &err)) {
            vmmd_log(&d, NULL, LOG_ERR, "libvirt protocol: %s", err->message);
            goto out;
        }
        give_to_group(&d, d.libvirt_socket_path);
        vmmd_log(&d, NULL, LOG_INFO, "libvirt clients: vmm+unix:///system?socket=%s "
                 "(read-only: %s)", d.libvirt_socket_path, d.libvirt_ro_socket_path);
    }

    g_unix_signal_add(SIGTERM, on_terminate, &d);
    g_unix_signal_add(SIGINT, on_terminate, &d);
    g_unix_signal_add(SIGHUP, on_hangup, &d);
    guint64 wd_usec = 0;
    if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
        /* Half the interval, as sd_watchdog_enabled(3) recommends. */
        d.watchdog = g_timeout_source_new((guint)MAX(wd_usec / 2000, 1));
        g_source_set_callback(d.watchdog, on_watchdog, &d, NULL);
        g_source_attach(d.watchdog, NULL);
        sd_notify(0, "WATCHDOG=1");
    }
    sd_notifyf(0, "READY=1\nSTATUS=%u domains defined, %s", g_hash_table_size(d.domains),
               d.run_dir);
    vmmd_log(&d, NULL, LOG_INFO, "vmmd %s ready (config %s, run %s, worker %s)",
             PACKAGE_VERSION, d.config_dir, d.run_dir, d.worker_path);
    vmmd_log_rotation_start(&d);
    vmmd_networks_autostart(&d);   /* first: autostarted domains may use them */
    vmmd_lifecycle_autostart(&d);

    g_main_loop_run(d.loop);
    status = 0;

out:
    d.shutting_down = true;
    vmmd_lifecycle_release(&d);
    vmmd_networks_release(&d);
    vmmd_log_rotation_stop(&d);
    if (d.watchdog) {
        g_source_destroy(d.watchdog);
        g_source_unref(d.watchdog);
    }
    vmmd_libvirt_free(d.libvirt);
    d.libvirt = NULL;
    vmm_proto_server_free(d.server);
    d.server = NULL;
    g_hash_table_destroy(d.domains);
    if (d.networks)
        g_hash_table_destroy(d.networks);
    g_free(d.networks_dir);
    g_free(d.net_autostart_dir);
    g_free(d.net_run_dir);
    if (d.lock_fd >= 0)
        close(d.lock_fd);
    if (d.run_fd >= 0)
        close(d.run_fd);
    g_main_loop_unref(d.loop);
    g_free(d.config_dir);
    g_free(d.worker_user);
    g_free(d.worker_group);
    g_free(d.cgroup_partition);
    for (int c = 0; c < VMMD_CG_N; c++)
        g_free(d.cgroup_base[c]);
    g_free(d.run_dir);
    g_free(d.domains_dir);
    g_free(d.autostart_dir);
    g_free(d.socket_path);
    g_free(d.ro_socket_path);
    g_free(d.libvirt_socket_path);
    g_free(d.libvirt_ro_socket_path);
    g_free(d.worker_path);
    g_free(d.schema_path);
    return status;
}
