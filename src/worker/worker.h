/* vmm-worker: one VM in the foreground; its exit statuses (the daemon maps
 * them to libvirt's shutoff/crashed reasons) and its shared state. */
#ifndef VMM_WORKER_H
#define VMM_WORKER_H

#include <glib.h>
#include <stdbool.h>
#include <json-c/json.h>

#include "conf/domain_conf.h"

enum {
    VMM_WORKER_EXIT_POWEROFF = 0,   /* guest powered off (or shut down gracefully) */
    VMM_WORKER_EXIT_ERROR = 1,      /* configuration or host error, one-line reason */
    VMM_WORKER_EXIT_REBOOT = 2,     /* guest reset and <on_reboot> is destroy */
    VMM_WORKER_EXIT_CRASH = 3,      /* guest crashed and <on_crash> is destroy */
    VMM_WORKER_EXIT_KILLED = 4,     /* stopped hard by the host (second SIGTERM, SIGINT, quit) */
    VMM_WORKER_EXIT_SECCOMP = 5,    /* a thread made a system call the sandbox forbids
                                     * (VMM_SECCOMP_EXIT_STATUS) */
};

#define VMM_WORKER_DEFAULT_USER "vmmd"

typedef struct VmmVm VmmVm;
typedef struct VmmChardev VmmChardev;
typedef struct VmmProtoServer VmmProtoServer;
typedef struct VmmProtoConn VmmProtoConn;
typedef struct WorkerVhostSockets WorkerVhostSockets;

typedef struct {
    GMainLoop *loop;
    VmmDomainDef *def;
    VmmVm *vm;                       /* NULL between a stop and a restart */
    VmmChardev *backends[VMM_MAX_SERIALS];
    VmmChardev **channel_backends;   /* one per def->channels item */
    unsigned sigterms;
    bool force_restart;              /* system-reset from the control socket */
    VmmProtoServer *control;         /* --control-socket, or NULL */
    /* The balloon's target and stats period across a guest reset. */
    bool balloon_kept;
    uint64_t balloon_target;         /* pages */
    unsigned balloon_period;         /* seconds */
    int proc_status_fd;              /* /proc/self/status, opened before confinement */
    WorkerVhostSockets *vhost_sockets;   /* vmmd makes the vhost-user sockets, or NULL */
} Worker;

/* The control socket (commands of vmmd-protocol(7), "Worker commands"). */
bool worker_control_start(Worker *w, const char *path, GError **err);
void worker_control_event(Worker *w, const char *event, json_object *data /* consumed */);
/* A command's arguments name nothing but `names` (NULL-terminated); else
 * the error "CMD: unexpected argument 'K' (NAME, ...)". */
bool worker_args_known(json_object *args, const char *cmd, const char *const *names,
                       GError **err);
void worker_control_stop(Worker *w);
/* Around the rebuild of a reset guest: what the host set on the balloon
 * (target, stats period) carries over to the new VM, as in QEMU, where a
 * guest reset leaves the balloon's num_pages alone. */
void worker_balloon_save(Worker *w);
void worker_balloon_restore(Worker *w);

/* vhost-user sockets made by vmmd (vhost_sockets.c): the ones handed over
 * at spawn, args "disk:TARGET:FD" and "interface:INDEX:FD"
 * (--vhost-user-fd), and later ones asked of vmmd over the control socket
 * (event VHOST_USER_SOCKET, answered by the command vhost-user-socket).
 * Installs itself as the vhost-user layer's opener (vhost_user.h). */
WorkerVhostSockets *worker_vhost_sockets_new(Worker *w, char **args, GError **err);
void worker_vhost_sockets_free(WorkerVhostSockets *s);
/* While the VM is torn down (hold): a reconnect waiting for vmmd, or
 * asking anew, on a device being freed fails at once instead of holding
 * its thread's join for up to the request's 10 s. NULL is ignored. */
void worker_vhost_sockets_hold(WorkerVhostSockets *s, bool hold);
/* The command vhost-user-socket {"request": N, "error": TEXT}: vmmd's
 * answer to request N, with the socket as the message's descriptor. */
json_object *worker_vhost_sockets_answer(WorkerVhostSockets *s, VmmProtoConn *c,
                                         json_object *args, GError **err);

/* Confines the worker (confine.c): namespaces and an empty root, rlimits,
 * user/group (when root), no capabilities, no_new_privs, seccomp. */
bool worker_confine(const VmmDomainDef *def, const char *user, const char *group, int exit_fd,
                    GError **err);

#endif
