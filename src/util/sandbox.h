/* The worker's sandbox, the part library code sees: the files it opened
 * before confinement (kept for later opens, such as a guest reboot's), and
 * the seccomp allow-lists per thread kind (vmmd(8), SANDBOX). The privilege drop itself is the worker's (worker/confine.c). */
#ifndef VMM_UTIL_SANDBOX_H
#define VMM_UTIL_SANDBOX_H

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

/* The worker's exit status when a thread made a forbidden system call. */
#define VMM_SECCOMP_EXIT_STATUS 5

typedef enum {
    VMM_THREAD_MAIN,      /* the main loop (control socket, chardevs): the union */
    VMM_THREAD_VCPU,
    VMM_THREAD_BLOCK,     /* virtio-blk queues and their I/O pools (native, threads, io_uring) */
    VMM_THREAD_NET,       /* virtio-net rx/tx pairs */
    VMM_THREAD_RNG,
    VMM_THREAD_BALLOON,
    VMM_THREAD_VHOST,     /* vhost back-end watchers (vhost-user connection, reconnect) */
    VMM_THREAD_KINDS
} VmmThreadKind;

const char *vmm_thread_kind_name(VmmThreadKind kind);

/* open(2), remembered: once vmm_sandbox_record() was called and until
 * vmm_sandbox_lock(), each successful open keeps
 * a duplicate of the descriptor; afterwards the same path and flags get a
 * new duplicate of it (the same open file description: offsets are shared,
 * callers use pread/pwrite) and anything else fails with EACCES and a
 * logged reason. Without a sandbox it is plain open(2). */
int vmm_sandbox_open(const char *path, int flags, mode_t mode);
void vmm_sandbox_record(void);
/* From here on vmm_sandbox_open() serves only what it opened before. */
void vmm_sandbox_lock(void);

/* This process's pid as /proc (the host's, the daemon's namespace) names
 * it: a worker vmmd starts is PID 1 of a PID namespace of its own, where
 * getpid() says 1. Read once; call before confinement (the private root
 * has no /proc), later calls return the value kept. */
pid_t vmm_host_pid(void);

/* Builds every kind's allow-list, installs the SIGSYS handler (one line to
 * log_fd, the exit JSON to exit_fd when >= 0, then exit status
 * VMM_SECCOMP_EXIT_STATUS) and loads the main loop's filter on every
 * thread of the process (TSYNC). Threads then narrow their own filter with
 * vmm_seccomp_enter_thread(). log_only: SCMP_ACT_LOG instead of the trap
 * (--enable-seccomp-log builds). vhost_connects: the vhost thread may make
 * and connect unix sockets (a vhost-user reconnect by path); false when
 * vmmd makes them (vhost_user.h's opener). */
bool vmm_seccomp_install(int log_fd, int exit_fd, bool log_only, bool vhost_connects,
                         GError **err);
/* In a thread, before it runs guest-facing code: loads that kind's filter
 * on the calling thread (threads it creates inherit it). No-op unless
 * vmm_seccomp_install() ran. */
void vmm_seccomp_enter_thread(VmmThreadKind kind);
bool vmm_seccomp_active(void);

#endif
