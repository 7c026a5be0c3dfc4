/* The worker's seccomp allow-lists and its remembered opens (sandbox.h).
 *
 * Filter layout: one process-wide filter, the main loop's, loaded on every
 * thread at once (TSYNC) when the worker confines itself; then each thread
 * kind adds its own, narrower filter on itself before it runs guest-facing
 * code. The kernel applies every filter a thread has (the strictest answer
 * wins) and a thread inherits its creator's filters. The main loop's list is
 * therefore the union of all kinds: it creates every other thread again
 * when the guest reboots, and a thread can never have more than its
 * creator. Likewise the vCPU list holds what the I/O threads need, as a
 * guest's register write on a vCPU thread starts the device queues. */
#include "config.h"
#include "util/sandbox.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/vhost.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <ucontext.h>
#include <stdlib.h>
#include <unistd.h>

#define SANDBOX_ERROR (g_quark_from_static_string("vmm-sandbox-error"))

static const char *const kind_names[VMM_THREAD_KINDS] = {
    [VMM_THREAD_MAIN] = "main loop",
    [VMM_THREAD_VCPU] = "vCPU",
    [VMM_THREAD_BLOCK] = "block I/O",
    [VMM_THREAD_NET] = "net I/O",
    [VMM_THREAD_RNG] = "rng",
    [VMM_THREAD_BALLOON] = "balloon",
    [VMM_THREAD_VHOST] = "vhost",
};

const char *vmm_thread_kind_name(VmmThreadKind kind)
{
    return kind < VMM_THREAD_KINDS ? kind_names[kind] : "unknown";
}

/* ------------------------------------------------------------------------ */
/* remembered opens                                                          */

typedef struct {
    char *path;
    int flags;
    int fd;
} Kept;

static GMutex kept_lock;
static GArray *kept;            /* Kept */
static bool kept_recording, kept_locked;

int vmm_sandbox_open(const char *path, int flags, mode_t mode)
{
    int want = flags & ~O_CLOEXEC;
    g_mutex_lock(&kept_lock);
    if (kept_locked) {
        int fd = -1;
        for (guint i = 0; kept && i < kept->len && fd < 0; i++) {
            const Kept *k = &g_array_index(kept, Kept, i);
            if (k->flags == want && !strcmp(k->path, path))
                fd = fcntl(k->fd, F_DUPFD_CLOEXEC, 0);
        }
        /* As a fresh open would: readers (the kernel loader) start at 0. */
        if (fd >= 0)
            (void)lseek(fd, 0, SEEK_SET);
        g_mutex_unlock(&kept_lock);
        if (fd < 0) {
            vmm_log_warn("sandbox: '%s' was not open before the worker was confined, and "
                         "the confined worker opens no file (see vmmd(8), SANDBOX)", path);
            errno = EACCES;
        }
        return fd;
    }
    int fd = open(path, flags, mode);
    if (fd >= 0 && kept_recording) {
        Kept k = { g_strdup(path), want, fcntl(fd, F_DUPFD_CLOEXEC, 0) };
        if (k.fd >= 0) {
            if (!kept)
                kept = g_array_new(FALSE, FALSE, sizeof(Kept));
            g_array_append_val(kept, k);
        } else {
            g_free(k.path);
        }
    }
    g_mutex_unlock(&kept_lock);
    return fd;
}

pid_t vmm_host_pid(void)
{
    static gsize once;
    static pid_t pid;
    if (g_once_init_enter(&once)) {
        char buf[32];
        ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = 0;
        pid = n > 0 ? (pid_t)atoi(buf) : 0;
        if (pid <= 0)
            pid = getpid();
        g_once_init_leave(&once, 1);
    }
    return pid;
}

void vmm_sandbox_record(void)
{
    g_mutex_lock(&kept_lock);
    kept_recording = true;
    g_mutex_unlock(&kept_lock);
}

void vmm_sandbox_lock(void)
{
    g_mutex_lock(&kept_lock);
    kept_locked = true;
    g_mutex_unlock(&kept_lock);
}

/* ------------------------------------------------------------------------ */
/* allow-lists                                                               */

/* Every thread: memory, futexes, signals, time, reading and writing the
 * descriptors it was given, thread exit. */
static const int base_calls[] = {
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
    SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev),
    SCMP_SYS(preadv2), SCMP_SYS(pwritev2), SCMP_SYS(close), SCMP_SYS(lseek),
    SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(fcntl), SCMP_SYS(dup),
    SCMP_SYS(futex), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(madvise),
    SCMP_SYS(mremap), SCMP_SYS(brk), SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigaction), SCMP_SYS(sigaltstack), SCMP_SYS(exit), SCMP_SYS(exit_group),
    SCMP_SYS(gettid), SCMP_SYS(getpid), SCMP_SYS(tgkill), SCMP_SYS(sched_yield),
    SCMP_SYS(getrandom), SCMP_SYS(restart_syscall), SCMP_SYS(rseq), SCMP_SYS(set_robust_list),
    SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
    SCMP_SYS(gettimeofday), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(eventfd2),
    SCMP_SYS(sched_getaffinity), SCMP_SYS(getrusage), SCMP_SYS(getuid), SCMP_SYS(geteuid),
    SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(getrlimit), SCMP_SYS(prlimit64),
    SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_pwait2),
    SCMP_SYS(timerfd_create), SCMP_SYS(timerfd_settime), SCMP_SYS(timerfd_gettime),
};

/* Threads that create threads (the block pool's, device queues started by
 * a guest's register write) and touch sockets. */
static const int io_calls[] = {
    SCMP_SYS(sendmsg), SCMP_SYS(recvmsg), SCMP_SYS(sendto), SCMP_SYS(recvfrom),
    SCMP_SYS(fdatasync), SCMP_SYS(fsync), SCMP_SYS(fallocate), SCMP_SYS(io_uring_setup),
    SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register), SCMP_SYS(io_setup),
    SCMP_SYS(io_destroy), SCMP_SYS(io_submit), SCMP_SYS(io_getevents), SCMP_SYS(io_pgetevents),
    SCMP_SYS(io_cancel),
};

static const int main_calls[] = {
    SCMP_SYS(accept4), SCMP_SYS(connect), SCMP_SYS(getsockopt), SCMP_SYS(setsockopt),
    SCMP_SYS(shutdown), SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(listen),
    SCMP_SYS(memfd_create), SCMP_SYS(ftruncate), SCMP_SYS(pipe2), SCMP_SYS(dup3),
    SCMP_SYS(wait4), SCMP_SYS(waitid), SCMP_SYS(kill), SCMP_SYS(unlink), SCMP_SYS(unlinkat),
    SCMP_SYS(sysinfo), SCMP_SYS(uname),
    /* a reboot's disk set-up asks its kept descriptor for O_DIRECT alignment */
    SCMP_SYS(statx),
};

/* Terminal and socket queries glib and the chardevs make on any fd. */
static const unsigned long base_ioctls[] = {
    TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, FIONREAD, FIONBIO, FIOCLEX,
};

static const unsigned long vcpu_ioctls[] = {
    KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_GET_MSRS,
    KVM_SET_MSRS, KVM_GET_LAPIC, KVM_SET_LAPIC, KVM_GET_FPU, KVM_SET_FPU, KVM_SET_CPUID2,
    KVM_GET_MP_STATE, KVM_SET_MP_STATE, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
    KVM_IRQFD, KVM_IOEVENTFD, KVM_IRQ_LINE, KVM_SET_GSI_ROUTING, KVM_SIGNAL_MSI,
    KVM_SET_USER_MEMORY_REGION,
    /* a device's doorbell zone follows its BAR (e1000's RDT) */
    KVM_REGISTER_COALESCED_MMIO, KVM_UNREGISTER_COALESCED_MMIO,
};

/* Building a VM (a reboot builds it again): the main loop only. */
static const unsigned long vm_ioctls[] = {
    KVM_CREATE_VM, KVM_CHECK_EXTENSION, KVM_GET_API_VERSION, KVM_GET_VCPU_MMAP_SIZE,
    KVM_GET_SUPPORTED_CPUID, KVM_CREATE_VCPU, KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2,
    KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR,
};

static const unsigned long block_ioctls[] = {
    BLKZEROOUT, BLKSSZGET, BLKGETSIZE64, BLKDISCARD,
};

/* Offloads and header size follow the guest's feature negotiation. */
static const unsigned long tap_ioctls[] = {
    TUNSETOFFLOAD, TUNSETVNETHDRSZ, TUNGETVNETHDRSZ, TUNGETIFF, TUNSETCARRIER, TUNSETQUEUE,
    TUNGETFEATURES, TUNSETVNETLE, TUNSETSNDBUF,
};

static const unsigned long vhost_ioctls[] = {
    VHOST_GET_FEATURES, VHOST_SET_FEATURES, VHOST_SET_OWNER, VHOST_RESET_OWNER,
    VHOST_SET_MEM_TABLE, VHOST_SET_VRING_NUM, VHOST_SET_VRING_ADDR, VHOST_SET_VRING_BASE,
    VHOST_GET_VRING_BASE, VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL, VHOST_SET_VRING_ERR,
    VHOST_NET_SET_BACKEND,
};

/* Returning a page the guest ballooned: a hole in the guest RAM memfd. */
static const int balloon_calls[] = { SCMP_SYS(fallocate) };

typedef struct {
    bool io, main, socket, clone, balloon;
    bool vcpu_ioctls, vm_ioctls, block_ioctls, tap_ioctls, vhost_ioctls;
} KindSpec;

static const KindSpec kind_specs[VMM_THREAD_KINDS] = {
    [VMM_THREAD_MAIN] = { .io = true, .main = true, .socket = true, .clone = true,
                          .vcpu_ioctls = true, .vm_ioctls = true, .block_ioctls = true,
                          .tap_ioctls = true, .vhost_ioctls = true },
    [VMM_THREAD_VCPU] = { .io = true, .clone = true, .vcpu_ioctls = true, .block_ioctls = true,
                          .tap_ioctls = true, .vhost_ioctls = true },
    [VMM_THREAD_BLOCK] = { .io = true, .clone = true, .block_ioctls = true },
    [VMM_THREAD_NET] = { .io = true, .tap_ioctls = true },
    [VMM_THREAD_RNG] = { 0 },
    [VMM_THREAD_BALLOON] = { .balloon = true },
    [VMM_THREAD_VHOST] = { .io = true, .socket = true, .vhost_ioctls = true },
};

static int add_calls(scmp_filter_ctx ctx, const int *calls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int add_ioctls(scmp_filter_ctx ctx, const unsigned long *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* glibc passes the request as an int widened to 64 bits: compare
         * the low 32 only. */
        int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL,
                                          (scmp_datum_t)(uint32_t)reqs[i]));
        if (rc < 0)
            return rc;
    }
    return 0;
}

#define ADD(ctx, arr) (rc = rc < 0 ? rc : add_calls(ctx, arr, G_N_ELEMENTS(arr)))
#define ADD_IOCTLS(ctx, arr) (rc = rc < 0 ? rc : add_ioctls(ctx, arr, G_N_ELEMENTS(arr)))
#define RULE(ctx, ...) (rc = rc < 0 ? rc : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, __VA_ARGS__))

static scmp_filter_ctx build_filter(VmmThreadKind kind, bool log_only, bool vhost_connects,
                                    int *err)
{
    const KindSpec *k = &kind_specs[kind];
    scmp_filter_ctx ctx = seccomp_init(log_only ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
    if (!ctx) {
        *err = -ENOMEM;
        return NULL;
    }
    int rc = 0;
    ADD(ctx, base_calls);
    ADD_IOCTLS(ctx, base_ioctls);
    /* A thread may name itself and narrow its own filter, nothing else. */
    RULE(ctx, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
    RULE(ctx, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME));
    RULE(ctx, SCMP_SYS(seccomp), 2, SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER),
         SCMP_A1(SCMP_CMP_EQ, 0));
    /* glibc tries clone3 first (its flags are in memory, out of a filter's
     * sight) and falls back to clone on ENOSYS. */
    rc = rc < 0 ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (k->clone)
        /* Threads only, never a new process: clone must share the thread
         * group. */
        RULE(ctx, SCMP_SYS(clone), 1,
             SCMP_A0(SCMP_CMP_MASKED_EQ, (scmp_datum_t)CLONE_THREAD, (scmp_datum_t)CLONE_THREAD));
    else
        /* Refused, not trapped: pthread_create blocks every signal around
         * clone, and a blocked SIGSYS kills without our log line, where
         * an error lets the caller say what it could not start. */
        rc = rc < 0 ? rc : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                            SCMP_A0(SCMP_CMP_MASKED_EQ,
                                                    (scmp_datum_t)CLONE_THREAD,
                                                    (scmp_datum_t)CLONE_THREAD));
    if (k->io)
        ADD(ctx, io_calls);
    if (k->main)
        ADD(ctx, main_calls);
    if (k->balloon && !k->io)
        ADD(ctx, balloon_calls);
    /* The vhost thread makes a socket only for a reconnect by path; when
     * vmmd makes them, a new socket (and the host's abstract unix
     * sockets, which no empty root hides) is out of its reach. */
    bool connects = k->main || vhost_connects;
    if (k->socket && connects)
        /* Unix sockets only: chardev and vhost-user reconnects. */
        RULE(ctx, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
    if (k->socket)
        /* A reconnected vhost-user back end gets a new back-end channel. */
        RULE(ctx, SCMP_SYS(socketpair), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
    if (k->socket && !k->main && connects)
        RULE(ctx, SCMP_SYS(connect), 0);
    if (k->socket && !k->main) {
        /* the reconnected socket's timeouts; a back end out of step */
        RULE(ctx, SCMP_SYS(setsockopt), 0);
        RULE(ctx, SCMP_SYS(shutdown), 0);
    }
    if (k->vcpu_ioctls)
        ADD_IOCTLS(ctx, vcpu_ioctls);
    if (k->vm_ioctls)
        ADD_IOCTLS(ctx, vm_ioctls);
    if (k->block_ioctls)
        ADD_IOCTLS(ctx, block_ioctls);
    if (k->tap_ioctls)
        ADD_IOCTLS(ctx, tap_ioctls);
    if (k->vhost_ioctls)
        ADD_IOCTLS(ctx, vhost_ioctls);
    /* Per-thread filters: the process-wide one set no_new_privs already. */
    rc = rc < 0 ? rc : seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (rc < 0) {
        seccomp_release(ctx);
        *err = rc;
        return NULL;
    }
    return ctx;
}

/* The BPF of every kind, made before confinement: a thread loads its own
 * with one system call, no allocation, no libseccomp. */
static struct sock_fprog progs[VMM_THREAD_KINDS];
static gint installed;

/* Builds kind's filter and writes its BPF to fd; a negative errno. */
static int export_kind(VmmThreadKind kind, bool log_only, bool vhost_connects, int fd)
{
    int rc = 0;
    scmp_filter_ctx ctx = build_filter(kind, log_only, vhost_connects, &rc);
    if (!ctx)
        return rc ? rc : -ENOMEM;
    rc = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    return rc;
}

/* Takes the BPF that export_kind() wrote to fd. */
static bool read_bpf(VmmThreadKind kind, int fd, struct sock_fprog *out, GError **err)
{
    off_t len = lseek(fd, 0, SEEK_END);
    if (len <= 0 || len % sizeof(struct sock_filter) ||
        len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
        g_set_error(err, SANDBOX_ERROR, 0, "seccomp: the %s thread's filter has a bad length "
                    "(%lld bytes)", vmm_thread_kind_name(kind), (long long)len);
        return false;
    }
    struct sock_filter *insns = g_malloc((size_t)len);
    if (pread(fd, insns, (size_t)len, 0) != len) {
        g_free(insns);
        g_set_error(err, SANDBOX_ERROR, 0, "seccomp: cannot read the %s thread's filter",
                    vmm_thread_kind_name(kind));
        return false;
    }
    out->len = (unsigned short)(len / sizeof(struct sock_filter));
    out->filter = insns;
    return true;
}

/* Every kind's BPF into progs[]. libseccomp builds them in a child
 * process: its filter databases (some 100 KiB of hash tables and blocks,
 * freed at once) and the library's pages would otherwise stay in the
 * worker's peak memory for the VM's whole life. If the child fails, the
 * build runs here once more to say why. */
static bool build_all(bool log_only, bool vhost_connects, GError **err)
{
    int fds[VMM_THREAD_KINDS];
    bool ok = true;
    for (int k = 0; k < VMM_THREAD_KINDS; k++)
        fds[k] = -1;
    for (int k = 0; k < VMM_THREAD_KINDS && ok; k++) {
        fds[k] = memfd_create("vmm-seccomp-bpf", MFD_CLOEXEC);
        if (fds[k] < 0) {
            g_set_error(err, SANDBOX_ERROR, 0, "seccomp: memfd_create: %s", g_strerror(errno));
            ok = false;
        }
    }
    pid_t pid = ok ? fork() : -1;
    if (pid == 0) {
        for (int k = 0; k < VMM_THREAD_KINDS; k++)
            if (export_kind(k, log_only, vhost_connects, fds[k]) < 0)
                _exit(1);
        _exit(0);
    }
    int status = -1;
    if (pid > 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    bool child_ok = pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    for (int k = 0; k < VMM_THREAD_KINDS && ok; k++) {
        if (!child_ok) {
            /* no child (fork refused) or it failed: once more here */
            int rc = ftruncate(fds[k], 0) < 0 ? -errno
                     : export_kind(k, log_only, vhost_connects, fds[k]);
            if (rc < 0) {
                g_set_error(err, SANDBOX_ERROR, 0, "seccomp: cannot build the %s thread's "
                            "filter: %s", vmm_thread_kind_name(k), g_strerror(-rc));
                ok = false;
                break;
            }
        }
        ok = read_bpf(k, fds[k], &progs[k], err);
    }
    for (int k = 0; k < VMM_THREAD_KINDS; k++) {
        if (fds[k] >= 0)
            close(fds[k]);
        if (!ok) {
            g_free(progs[k].filter);
            progs[k] = (struct sock_fprog){ 0 };
        }
    }
    return ok;
}

/* ------------------------------------------------------------------------ */
/* the trap                                                                  */

#define MAX_SYSCALL_NR 512
static char *syscall_names[MAX_SYSCALL_NR];   /* resolved before the trap can fire */
static int trap_log_fd = -1, trap_exit_fd = -1;
static __thread VmmThreadKind this_kind;      /* VMM_THREAD_MAIN until entered */

typedef struct {
    char buf[512];
    size_t len;
} Line;

static void put(Line *l, const char *s)
{
    while (*s && l->len < sizeof(l->buf) - 1)
        l->buf[l->len++] = *s++;
}

static void put_uint(Line *l, unsigned long v)
{
    char d[24];
    int n = 0;
    do
        d[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < (int)sizeof(d));
    while (n > 0 && l->len < sizeof(l->buf) - 1)
        l->buf[l->len++] = d[--n];
}

static void put_hex(Line *l, unsigned long v)
{
    static const char digits[] = "0123456789abcdef";
    char d[16];
    int n = 0;
    do
        d[n++] = digits[v & 15];
    while ((v >>= 4) && n < (int)sizeof(d));
    put(l, "0x");
    while (n > 0 && l->len < sizeof(l->buf) - 1)
        l->buf[l->len++] = d[--n];
}

/* Async-signal-safe throughout: a fixed buffer, write, pwrite, _exit. */
static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
    const ucontext_t *uc = uctx;
    int nr = si->si_syscall;
    const char *name = nr >= 0 && nr < MAX_SYSCALL_NR && syscall_names[nr] ? syscall_names[nr]
                                                                          : "unknown";
    Line msg = { .len = 0 };
    put(&msg, "seccomp: ");
    put(&msg, vmm_thread_kind_name(this_kind));
    put(&msg, " thread made system call ");
    put(&msg, name);
    put(&msg, " (");
    put_uint(&msg, (unsigned long)nr);
    put(&msg, ")");
    if (nr == SCMP_SYS(openat) || nr == SCMP_SYS(open)) {
        /* which file: the caller's string, bounded */
        const char *path = (const char *)(nr == SCMP_SYS(openat) ? uc->uc_mcontext.gregs[REG_RSI]
                                                                  : uc->uc_mcontext.gregs[REG_RDI]);
        if (path) {
            put(&msg, " of ");
            char shown[128];
            size_t n = 0;
            while (n < sizeof(shown) - 1 && path[n] >= ' ' && path[n] != '"' && path[n] != '\\')
                shown[n] = path[n], n++;
            shown[n] = 0;
            put(&msg, shown);
        }
    }
    if (nr == SCMP_SYS(ioctl)) {
        /* which request: the allow-list goes by request number */
        put(&msg, " with request ");
        put_hex(&msg, (unsigned long)uc->uc_mcontext.gregs[REG_RSI] & 0xffffffffUL);
    }
    put(&msg, ", which vmm-worker's allow-list forbids; the VM is stopped");
    Line out = msg;
    put(&out, "\n");
    if (trap_log_fd >= 0 && write(trap_log_fd, out.buf, out.len) < 0) {
    }
    if (trap_exit_fd >= 0) {
        /* The exit file the daemon reads (it accepts trailing blanks, so
         * no truncate is needed on a file that was empty). */
        Line j = { .len = 0 };
        put(&j, "{\"status\":");
        put_uint(&j, VMM_SECCOMP_EXIT_STATUS);
        put(&j, ",\"reason\":\"seccomp\",\"detail\":\"");
        msg.buf[msg.len] = 0;
        put(&j, msg.buf);
        put(&j, "\"}\n");
        if (pwrite(trap_exit_fd, j.buf, j.len, 0) < 0) {
        }
    }
    _exit(VMM_SECCOMP_EXIT_STATUS);
}

bool vmm_seccomp_install(int log_fd, int exit_fd, bool log_only, bool vhost_connects,
                         GError **err)
{
    for (int nr = 0; nr < MAX_SYSCALL_NR; nr++)
        if (!syscall_names[nr])
            syscall_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (!progs[VMM_THREAD_MAIN].filter && !build_all(log_only, vhost_connects, err))
        return false;
    trap_log_fd = log_fd;
    trap_exit_fd = exit_fd;
    struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0) {
        g_set_error(err, SANDBOX_ERROR, 0, "seccomp: cannot install the SIGSYS handler: %s",
                    g_strerror(errno));
        return false;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        g_set_error(err, SANDBOX_ERROR, 0, "no_new_privs: %s", g_strerror(errno));
        return false;
    }
    /* TSYNC: every thread at once (glib's helper threads too); it also
     * sets no_new_privs on them. A positive return names a thread that
     * could not be synchronised. */
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
                     &progs[VMM_THREAD_MAIN]);
    if (r != 0) {
        g_set_error(err, SANDBOX_ERROR, 0, "seccomp: cannot load the main loop's filter: %s",
                    r < 0 ? g_strerror(errno) : "a thread has a conflicting filter");
        return false;
    }
    this_kind = VMM_THREAD_MAIN;
    g_atomic_int_set(&installed, true);
    return true;
}

void vmm_seccomp_enter_thread(VmmThreadKind kind)
{
    if (!g_atomic_int_get(&installed) || kind >= VMM_THREAD_KINDS)
        return;
    this_kind = kind;
    if (kind == VMM_THREAD_MAIN)
        return;   /* the process-wide filter is the main loop's */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &progs[kind]) != 0)
        /* Already under the process-wide filter: not fatal, but said. */
        vmm_log_warn("seccomp: cannot narrow the %s thread's filter: %s",
                     vmm_thread_kind_name(kind), g_strerror(errno));
}

bool vmm_seccomp_active(void)
{
    return g_atomic_int_get(&installed);
}
