/* The worker confines itself once the VM is built and before a vCPU runs
 * ("open everything, then drop", as OpenBSD's vmd): a private empty root in
 * new mount, IPC, UTS and network namespaces, rlimits, an unprivileged uid/gid
 * without capabilities, no_new_privs, then the seccomp allow-lists
 * (util/sandbox.c). What each step costs is in vmmd(8), SANDBOX. */
#include "config.h"
#include "worker/worker.h"
#include "conf/disk_conf.h"
#include "conf/net_conf.h"
#include "util/log.h"
#include "util/sandbox.h"
#include "vhost/vhost_user.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <malloc.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#define CONFINE_ERROR (g_quark_from_static_string("vmm-worker-confine-error"))

/* Descriptors the guest can still make us open after confinement: a new
 * VM on reboot (vm, vCPU, eventfd, io_uring, memfd), device queues. */
#define NOFILE_HEADROOM 256
/* Threads of every worker running as this user together (the kernel
 * counts RLIMIT_NPROC per user): room for many VMs' vCPUs and I/O pools,
 * a wall against a fork bomb. */
#define NPROC_LIMIT 8192

static bool fail(GError **err, const char *step, int e)
{
    g_set_error(err, CONFINE_ERROR, 0, "cannot confine the worker: %s: %s", step,
                g_strerror(e));
    return false;
}

/* A worker run by hand reaches a vhost-user back end through its socket
 * path again on a guest reboot and on a reconnect: such a domain keeps the
 * host's view of the file system, and uid 0 (without capabilities, the
 * owner's rights on a back end's root-owned socket) unless it runs under a
 * security label ("+N"). Under vmmd nothing needs it: vmmd makes every
 * vhost-user socket and hands it over (the layer's opener,
 * vhost_sockets.c). NULL when nothing needs it. */
static char *needs_host_files(const VmmDomainDef *def)
{
    if (vmm_vhost_user_has_opener())
        return NULL;
    for (guint i = 0; def->disks && i < def->disks->len; i++) {
        const VmmDiskDef *d = g_ptr_array_index(def->disks, i);
        if (d->type == VMM_DISK_VHOSTUSER)
            return g_strdup_printf("disk %s is a vhost-user disk on %s, which a reboot or "
                                   "reconnect connects to again", d->target_dev, d->path);
    }
    for (guint i = 0; def->nets && i < def->nets->len; i++) {
        const VmmNetDef *n = g_ptr_array_index(def->nets, i);
        if (n->type == VMM_NET_VHOSTUSER)
            return g_strdup_printf("interface %u is a vhost-user interface on %s, which a "
                                   "reboot connects to again", i, n->socket_path);
    }
    return NULL;
}

static int highest_fd(void)
{
    int max = 2;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 1024;
    for (struct dirent *e; (e = readdir(d));) {
        int fd = atoi(e->d_name);
        if (fd > max && fd != dirfd(d))
            max = fd;
    }
    closedir(d);
    return max;
}

static bool set_limit(int res, rlim_t v, const char *what, GError **err)
{
    struct rlimit cur;
    if (getrlimit(res, &cur) == 0 && cur.rlim_max != RLIM_INFINITY && cur.rlim_max < v)
        v = cur.rlim_max;   /* never above what we were given */
    struct rlimit rl = { v, v };
    if (setrlimit(res, &rl) < 0)
        return fail(err, what, errno);
    return true;
}

/* An empty, read-only tmpfs as "/": nothing of the host's files is left to
 * reach, even through a bug that gets past the allow-list's open ban. */
static bool new_namespaces(bool empty_root, GError **err)
{
    /* A network namespace of its own, empty: the worker's taps, passt and
     * vhost-user sockets are descriptors that work from anywhere, while
     * the host's abstract unix sockets (addresses in a network namespace,
     * out of reach of any root directory) and interfaces are left
     * behind. */
    if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET) < 0)
        return fail(err, "unshare (mount, IPC, UTS and network namespaces)", errno);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return fail(err, "making the mounts private", errno);
    if (!empty_root)
        return true;
    /* Any existing directory serves as the mount point, in our namespace
     * alone. */
    const char *dir = "/tmp";
    if (mount("vmm-worker-root", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
              "size=16k,nr_inodes=8,mode=0555") < 0)
        return fail(err, "mounting an empty tmpfs root", errno);
    /* pivot_root(".", "."): the old root ends up stacked on the new one
     * and is then detached. */
    if (chdir(dir) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
        return fail(err, "pivot_root into the empty root", errno);
    if (umount2(".", MNT_DETACH) < 0)
        return fail(err, "detaching the host's root", errno);
    if (chdir("/") < 0)
        return fail(err, "chdir /", errno);
    return true;
}

static bool drop_capabilities(GError **err)
{
    /* The bounding set needs CAP_SETPCAP, so it goes before the uid. */
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return fail(err, "dropping the capability bounding set", errno);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return fail(err, "clearing the ambient capabilities", errno);
    return true;
}

static bool clear_capabilities(GError **err)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &hdr, data) < 0)
        return fail(err, "clearing the capabilities", errno);
    return true;
}

/* What libc and GLib open on first use, loaded while files can still be
 * opened: the message catalogs and charset converters behind strerror
 * (GLib keeps each errno's text once made), GLib's charset aliases and
 * iconv's modules (its log writer converts to the console's charset), the
 * time zone. */
static void load_lazy_files(void)
{
    for (int e = 0; e < 134; e++)
        (void)g_strerror(e);
    (void)g_get_charset(NULL);
    const char *console = NULL;
    if (!g_get_console_charset(&console))
        /* GLib's log writer converts its messages with iconv: its module
         * cache is read on the first conversion */
        g_free(g_convert("-", -1, console, "UTF-8", NULL, NULL, NULL));
    tzset();
}

#ifdef __GLIBC__
/* glibc's own mallopt: a sanitizer build interposes malloc and turns
 * mallopt into a no-op, while glibc's allocator still serves whatever
 * reaches it directly (and the test that checks this, test-sandbox). */
extern int __libc_mallopt(int param, int value);
#endif

/* glibc's malloc opens files lazily, on two paths a busy thread reaches
 * long after start-up (glibc 2.36, malloc/arena.c): arena_get2() asks
 * __get_nprocs() (/sys/devices/system/cpu/online) for the arena limit
 * once more than 8 arenas exist, unless M_ARENA_MAX is set; and the first
 * shrink of a thread arena's heap (heap_trim -> shrink_heap ->
 * check_may_shrink_heap, linux/malloc-sysdep.h) reads
 * /proc/sys/vm/overcommit_memory, unless the top chunk stays below
 * M_TRIM_THRESHOLD (strace shows both). Under the allow-list either open kills the worker
 * (qcow2 at queue depth 32 did). So: glibc's own arena limit (8 per CPU),
 * counted now, and no trimming; a fixed M_MMAP_THRESHOLD (glibc's
 * default) keeps buffers of 128 KiB and more in mmap, returned on free,
 * since the trim no longer returns them. */
static void pin_malloc(void)
{
#ifdef __GLIBC__
    int cpus = get_nprocs();
    __libc_mallopt(M_ARENA_MAX, 8 * (cpus > 0 ? cpus : 2));
    __libc_mallopt(M_TRIM_THRESHOLD, INT_MAX);
    __libc_mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

/* "+N", N a uid/gid below 2^32-1. */
static bool plus_number(const char *s, guint32 *out)
{
    if (s[0] != '+' || !g_ascii_isdigit(s[1]))
        return false;
    char *end;
    guint64 v = g_ascii_strtoull(s + 1, &end, 10);
    if (*end || v >= G_MAXUINT32)
        return false;
    *out = (guint32)v;
    return true;
}

bool worker_confine(const VmmDomainDef *def, const char *user, const char *group, int exit_fd,
                    GError **err)
{
    bool root = geteuid() == 0;
    uid_t uid = 0;
    gid_t gid = 0;
    g_autofree char *host_files = needs_host_files(def);
    guint32 num;
    /* a label's uid is the domain's own: kept with the host's files too
     * (the daemon gave it the back ends' sockets, relabel='yes') */
    bool label = plus_number(user, &num);
    bool switch_uid = root && (!host_files || label);
    if (switch_uid) {
        /* Resolved now: /etc/passwd is gone from the private root. "+N"
         * is the number N (libvirt's DAC labels; vmmd's <seclabel>), which
         * needs no passwd entry (a dynamic uid has none). */
        struct passwd *pw = NULL;
        if (label) {
            uid = num;
            pw = getpwuid(uid);
            gid = pw ? pw->pw_gid : num;
        } else if ((pw = getpwnam(user))) {
            uid = pw->pw_uid;
            gid = pw->pw_gid;
        } else {
            g_set_error(err, CONFINE_ERROR, 0, "the worker's user '%s' does not exist: create "
                        "it (systemd-sysusers installs vmmd's sysusers.d file) or set user= "
                        "in vmmd.conf (see vmmd(8), SANDBOX)", user);
            return false;
        }
        if (group && plus_number(group, &num)) {
            gid = num;
        } else if (group) {
            struct group *gr = getgrnam(group);
            if (!gr) {
                g_set_error(err, CONFINE_ERROR, 0, "the worker's group '%s' does not exist "
                            "(see vmmd(8), SANDBOX)", group);
                return false;
            }
            gid = gr->gr_gid;
        }
        if (uid == 0) {
            g_set_error(err, CONFINE_ERROR, 0, "the worker's user '%s' is root: choose an "
                        "unprivileged one (see vmmd(8), SANDBOX)", user);
            return false;
        }
    }
    if (host_files)
        vmm_log_info("sandbox: %s: keeping the host's file system%s", host_files,
                     switch_uid ? "" : " and uid 0 (without capabilities)");

    int nofile = highest_fd() + 1 + NOFILE_HEADROOM + 8 * (int)def->vcpus;
    if (!set_limit(RLIMIT_NOFILE, (rlim_t)nofile, "RLIMIT_NOFILE", err) ||
        !set_limit(RLIMIT_NPROC, NPROC_LIMIT, "RLIMIT_NPROC", err) ||
        !set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE", err))
        return false;
    /* No RLIMIT_FSIZE: stderr is the domain log and file serials grow
     * without bound, while a disk image never grows (guest writes stay
     * within its capacity). */
    vmm_sandbox_lock();
    load_lazy_files();
    pin_malloc();

    if (root && !new_namespaces(!host_files, err))
        return false;
    if (root && !drop_capabilities(err))
        return false;
    if (switch_uid) {
        /* glibc applies these to every thread of the process; leaving uid
         * 0 clears each thread's capabilities. */
        if (setgroups(0, NULL) < 0)
            return fail(err, "setgroups", errno);
        if (setresgid(gid, gid, gid) < 0)
            return fail(err, "setresgid", errno);
        if (setresuid(uid, uid, uid) < 0)
            return fail(err, "setresuid", errno);
    }
    if (!clear_capabilities(err))
        return false;
#ifdef VMM_SECCOMP_LOG_ONLY
    const bool log_only = true;
#else
    const bool log_only = false;
#endif
    if (!vmm_seccomp_install(STDERR_FILENO, exit_fd, log_only, !vmm_vhost_user_has_opener(),
                             err))
        return false;
    /* libseccomp's filter databases (built just now, then freed) left
     * about 200 KiB in the heap that no trim gives back after pin_malloc:
     * give it back once. Safe under the allow-list: malloc_trim() trims
     * the main arena's top with brk and madvises the free pages of every
     * arena; the thread-heap shrink that reads a file is not on its path
     * (glibc 2.36 malloc/malloc.c, mtrim). */
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    vmm_log_info("sandbox: uid %u, gid %u, no capabilities, no_new_privs, %s, seccomp "
                 "allow-lists%s", (unsigned)getuid(), (unsigned)getgid(),
                 root && !host_files ? "an empty private root" : "the host's file system",
                 log_only ? " (log only: built with --enable-seccomp-log)" : "");
    return true;
}
