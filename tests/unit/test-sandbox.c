/* The worker's seccomp allow-lists (src/util/sandbox.c), each thread kind's
 * filter installed for real in a forked child: a forbidden call stops the
 * child with exit status 5 and the one-line reason the domain log gets, an
 * allowed one passes; and glibc's allocator under worker_confine() (its
 * lazily opened files must not be reached). */
#include "config.h"
#include "util/sandbox.h"
#include "worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* glibc's allocator itself, reached past a sanitizer's interposed malloc. */
extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);

typedef enum {
    CALL_OPEN_PASSWD,
    CALL_EXECVE,
    CALL_FORK,
    CALL_SOCKET_UNIX,
    CALL_SOCKET_INET,
    CALL_SOCKETPAIR_UNIX, /* a vhost-user back-end channel */
    CALL_KVM_RUN,
    CALL_KVM_CREATE_VM,
    CALL_CLONE3,          /* answered ENOSYS, so that glibc falls back to clone */
    CALL_THREAD,          /* a thread (clone with CLONE_THREAD) */
    CALL_PLAIN,           /* getpid, write, a timer: every thread does these */
} Call;

static const char *const call_names[] = {
    "open-etc-passwd", "execve", "fork", "socket-unix", "socket-inet",
    "socketpair-unix", "ioctl-KVM_RUN", "ioctl-KVM_CREATE_VM", "clone3", "thread", "plain",
};

static void *idle_thread(void *data)
{
    return data;
}

/* In the child, under the filter; returns normally only if the call was
 * allowed (or refused with an errno, never the trap). */
static void make_call(Call c, int out)
{
    switch (c) {
    case CALL_OPEN_PASSWD: {
        int fd = open("/etc/passwd", O_RDONLY);
        (void)fd;
        break;
    }
    case CALL_EXECVE: {
        char *argv[] = { (char *)"/bin/true", NULL };
        execve("/bin/true", argv, NULL);
        break;
    }
    case CALL_FORK: {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        break;
    }
    case CALL_SOCKET_UNIX:
        close(socket(AF_UNIX, SOCK_STREAM, 0));
        break;
    case CALL_SOCKET_INET:
        close(socket(AF_INET, SOCK_DGRAM, 0));
        break;
    case CALL_SOCKETPAIR_UNIX: {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
            close(sv[0]);
            close(sv[1]);
        }
        break;
    }
    case CALL_KVM_RUN:
        /* On no descriptor: allowed means EBADF, not the trap. */
        if (ioctl(-1, KVM_RUN, 0) == 0 || errno != EBADF)
            _exit(10);
        break;
    case CALL_KVM_CREATE_VM:
        if (ioctl(-1, KVM_CREATE_VM, 0) == 0 || errno != EBADF)
            _exit(10);
        break;
    case CALL_CLONE3:
        if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
            _exit(11);
        break;
    case CALL_THREAD: {
        pthread_t t;
        if (pthread_create(&t, NULL, idle_thread, NULL) != 0) {
            static const char no[] = "refused\n";
            if (write(out, no, sizeof(no) - 1) < 0)
                _exit(13);
            _exit(0);
        }
        pthread_join(t, NULL);
        break;
    }
    case CALL_PLAIN:
        if (getpid() <= 0)
            _exit(12);
        break;
    }
    static const char ok[] = "allowed\n";
    if (write(out, ok, sizeof(ok) - 1) < 0)
        _exit(13);
}

typedef struct {
    int status;           /* exit status, -1: killed by a signal */
    char *out;
} Child;

static Child run_child(VmmThreadKind kind, Call c, bool vhost_connects)
{
    int p[2];
    g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        close(p[0]);
        g_autoptr(GError) err = NULL;
        if (!vmm_seccomp_install(p[1], -1, false, vhost_connects, &err)) {
            if (write(p[1], err->message, strlen(err->message)) < 0) {
            }
            _exit(20);
        }
        vmm_seccomp_enter_thread(kind);
        make_call(c, p[1]);
        _exit(0);
    }
    close(p[1]);
    GString *out = g_string_new(NULL);
    char buf[512];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof(buf))) > 0)
        g_string_append_len(out, buf, n);
    close(p[0]);
    int ws;
    g_assert_cmpint(waitpid(pid, &ws, 0), ==, pid);
    Child r = { WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, g_string_free(out, FALSE) };
    return r;
}

typedef struct {
    VmmThreadKind kind;
    Call call;
    const char *syscall;   /* the name the trap reports; NULL: allowed */
    bool refused;          /* allowed to fail with an error (no trap) */
    bool by_vmmd;          /* vmmd makes the vhost-user sockets (no vhost connects) */
} Case;

static void check_case(gconstpointer data)
{
    const Case *tc = data;
    Child r = run_child(tc->kind, tc->call, !tc->by_vmmd);
    g_test_message("%s thread, %s: exit %d, said: %s", vmm_thread_kind_name(tc->kind),
                   call_names[tc->call], r.status, r.out);
    if (tc->syscall) {
        g_autofree char *want = g_strdup_printf(
            "seccomp: %s thread made system call %s (", vmm_thread_kind_name(tc->kind),
            tc->syscall);
        g_assert_cmpint(r.status, ==, VMM_SECCOMP_EXIT_STATUS);
        g_assert_true(g_str_has_prefix(r.out, want));
        g_assert_nonnull(strstr(r.out, ", which vmm-worker's allow-list forbids; the VM is "
                                       "stopped\n"));
        if (!strcmp(tc->syscall, "ioctl")) {
            g_autofree char *req = g_strdup_printf(" with request 0x%x,",
                                                   tc->call == CALL_KVM_RUN ? (unsigned)KVM_RUN
                                                   : (unsigned)KVM_CREATE_VM);
            g_assert_nonnull(strstr(r.out, req));
        }
        g_assert_null(strstr(r.out, "allowed"));
    } else {
        g_assert_cmpint(r.status, ==, 0);
        g_assert_cmpstr(r.out, ==, tc->refused ? "refused\n" : "allowed\n");
    }
    g_free(r.out);
}

/* Many threads allocating at once make glibc create arenas past its
 * eighth (where it counts the CPUs, opening /sys/devices/system/cpu/online)
 * and free big blocks in them (the first heap shrink reads
 * /proc/sys/vm/overcommit_memory): what a qcow2 disk at queue depth 32
 * does in the worker. worker_confine() must have pinned malloc so that
 * neither path opens a file under the allow-list. */
#define MALLOC_THREADS 32

static pthread_barrier_t malloc_start;

static void *malloc_thread(void *data)
{
    vmm_seccomp_enter_thread(VMM_THREAD_BLOCK);
    /* all at once, so that each finds every arena locked and makes one */
    pthread_barrier_wait(&malloc_start);
    void *blocks[16];
    for (int round = 0; round < 4; round++) {
        /* below the mmap threshold: they come from the thread's arena */
        for (size_t i = 0; i < G_N_ELEMENTS(blocks); i++) {
            blocks[i] = __libc_malloc(100 * 1024);
            if (!blocks[i])
                _exit(31);
            memset(blocks[i], 0x5a, 100 * 1024);
        }
        /* the top chunk grows past the trim threshold: a heap trim */
        for (size_t i = G_N_ELEMENTS(blocks); i-- > 0;)
            __libc_free(blocks[i]);
    }
    return data;
}

static void test_worker_malloc(void)
{
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        static const char xml[] = "<domain type='kvm'><name>malloc</name><memory>2048</memory>"
                                  "<os><type>hvm</type><kernel>k</kernel></os></domain>";
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmDomainDef) def = vmm_domain_def_parse_string(xml, sizeof(xml) - 1, NULL,
                                                                  &err);
        if (!def)
            _exit(20);
        /* the worker's own confinement: nobody's uid when run as root */
        if (!worker_confine(def, "+65534", NULL, -1, &err)) {
            g_printerr("%s\n", err->message);
            _exit(21);
        }
        pthread_barrier_init(&malloc_start, NULL, MALLOC_THREADS);
        pthread_t t[MALLOC_THREADS];
        for (int i = 0; i < MALLOC_THREADS; i++)
            if (pthread_create(&t[i], NULL, malloc_thread, NULL) != 0)
                _exit(22);
        for (int i = 0; i < MALLOC_THREADS; i++)
            pthread_join(t[i], NULL);
        _exit(0);
    }
    int ws;
    g_assert_cmpint(waitpid(pid, &ws, 0), ==, pid);
    /* a trap exits with VMM_SECCOMP_EXIT_STATUS, its reason on stderr */
    g_assert_true(WIFEXITED(ws));
    g_assert_cmpint(WEXITSTATUS(ws), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* What no thread may do, what only some may, what all do. */
    static Case cases[VMM_THREAD_KINDS * 11 + 4];
    static char names[G_N_ELEMENTS(cases)][96];
    unsigned n = 0;
    for (int k = 0; k < VMM_THREAD_KINDS; k++) {
        bool sockets = k == VMM_THREAD_MAIN || k == VMM_THREAD_VHOST;
        bool threads = k == VMM_THREAD_MAIN || k == VMM_THREAD_VCPU || k == VMM_THREAD_BLOCK;
        Case row[] = {
            { k, CALL_OPEN_PASSWD, "openat" },
            { k, CALL_EXECVE, "execve" },
            { k, CALL_FORK, "clone" },
            { k, CALL_SOCKET_INET, "socket" },
            { k, CALL_SOCKET_UNIX, sockets ? NULL : "socket" },
            { k, CALL_SOCKETPAIR_UNIX, sockets ? NULL : "socketpair" },
            { k, CALL_KVM_RUN, k == VMM_THREAD_MAIN || k == VMM_THREAD_VCPU ? NULL : "ioctl" },
            { k, CALL_KVM_CREATE_VM, k == VMM_THREAD_MAIN ? NULL : "ioctl" },
            { k, CALL_CLONE3, NULL },
            { k, CALL_THREAD, NULL, !threads },
            { k, CALL_PLAIN, NULL },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(row); i++, n++) {
            cases[n] = row[i];
            g_autofree char *kind = g_strdelimit(g_strdup(vmm_thread_kind_name(k)), " /", '-');
            g_snprintf(names[n], sizeof(names[n]), "/sandbox/%s/%s/%s", kind,
                       row[i].syscall ? "forbidden" : row[i].refused ? "refused" : "allowed",
                       call_names[row[i].call]);
            g_test_add_data_func(names[n], &cases[n], check_case);
        }
    }
    /* vmmd makes the vhost-user sockets: the vhost thread makes none (a
     * back-end channel's pair still), the main loop's chardevs still do */
    Case by_vmmd[] = {
        { VMM_THREAD_VHOST, CALL_SOCKET_UNIX, "socket", false, true },
        { VMM_THREAD_VHOST, CALL_SOCKETPAIR_UNIX, NULL, false, true },
        { VMM_THREAD_MAIN, CALL_SOCKET_UNIX, NULL, false, true },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(by_vmmd); i++, n++) {
        cases[n] = by_vmmd[i];
        g_autofree char *kind = g_strdelimit(g_strdup(vmm_thread_kind_name(by_vmmd[i].kind)),
                                             " /", '-');
        g_snprintf(names[n], sizeof(names[n]), "/sandbox/vmmd-sockets/%s/%s/%s", kind,
                   by_vmmd[i].syscall ? "forbidden" : "allowed", call_names[by_vmmd[i].call]);
        g_test_add_data_func(names[n], &cases[n], check_case);
    }
    g_test_add_func("/sandbox/worker-malloc", test_worker_malloc);
    return g_test_run();
}
