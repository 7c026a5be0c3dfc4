/* vmmd: the daemon's context and the interfaces between its files.
 *   main.c         options, sockets (own or systemd's), signals, sd_notify
 *   log.c          stderr or the journal (with DOMAIN= and UUID= fields)
 *   domain_store.c definitions on disk: define, undefine, lookup, autostart
 *   lifecycle.c    workers: start, stop, supervise, re-attach, state files
 *   commands.c     the protocol command table
 *   network.c      virtual networks: bridge, dnsmasq, nftables
 *   cgroup.c       per-VM cgroups: <cputune>, <memtune>, <blkiotune>, pinning
 *   libvirt.c      libvirt's remote protocol on further sockets (libvirt_msg.c: its packets) */
#ifndef VMMD_H
#define VMMD_H

#include "conf/domain_conf.h"
#include "conf/network_conf.h"
#include "proto/proto.h"

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

#define VMMD_UUID_STRLEN 37              /* 36 characters and a NUL */
#define VMMD_START_TIMEOUT_MS 10000      /* worker must answer query-status by then */
#define VMMD_WORKER_CALL_TIMEOUT_MS 15000
#define VMMD_DESTROY_GRACE_MS 3000       /* after "quit", before SIGKILL */
#define VMMD_IDLE_TIMEOUT_S 300          /* clients: no request for this long */
#define VMMD_OUTPUT_TIMEOUT_S 60         /* clients: replies not read for this long */
#define VMMD_LOG_MAX_SIZE (2 * 1024 * 1024)   /* virtlogd's max_size */
#define VMMD_LOG_MAX_BACKUPS 3                /* virtlogd's max_backups */
#define VMMD_LOG_CHECK_S 1

/* libvirt's virDomainState, with the names the protocol uses. */
typedef enum {
    VMMD_STATE_NOSTATE = 0,
    VMMD_STATE_RUNNING = 1,
    VMMD_STATE_BLOCKED = 2,
    VMMD_STATE_PAUSED = 3,
    VMMD_STATE_SHUTDOWN = 4,
    VMMD_STATE_SHUTOFF = 5,
    VMMD_STATE_CRASHED = 6,
} VmmdState;

/* The lifecycle operation a domain is in; one at a time. */
typedef enum {
    VMMD_JOB_NONE = 0,
    VMMD_JOB_START,
    VMMD_JOB_SHUTDOWN,
    VMMD_JOB_REBOOT,
    VMMD_JOB_SUSPEND,
    VMMD_JOB_RESUME,
} VmmdJob;

typedef struct VmmDaemon VmmDaemon;
typedef struct VmmdLibvirt VmmdLibvirt;
typedef struct VmmdCgroup VmmdCgroup;

/* The controllers a VM's groups use (cgroup.c); on v2, CPU and CPUACCT
 * are both "cpu", BLKIO is "io". */
enum { VMMD_CG_CPU, VMMD_CG_CPUACCT, VMMD_CG_MEMORY, VMMD_CG_BLKIO, VMMD_CG_N };

static inline void vmmd_json_put(json_object *o)
{
    json_object_put(o);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_object, vmmd_json_put)

typedef struct {
    VmmDaemon *daemon;
    char *name;
    char uuid[VMMD_UUID_STRLEN];

    /* The persistent definition (NULL for a transient domain, one found
     * running with no definition on disk). */
    char *xml;
    VmmDomainDef *def;
    bool persistent;
    bool autostart;

    /* While active: the definition the worker runs. */
    char *live_xml;
    VmmDomainDef *live_def;

    VmmdState state;
    const char *reason;          /* static string: "booted", "destroyed", ... */
    int id;                      /* -1 while inactive */
    unsigned run;                /* counts starts; stale timers compare it */

    /* The worker. */
    pid_t pid;                   /* 0 when none */
    guint64 pid_start_time;      /* /proc/PID/stat field 22 */
    gint64 started_at;           /* unix seconds */
    int pidfd;
    GSource *pid_watch;
    bool own_child;              /* we spawned it: waitpid gives its status */
    VmmProtoClient *worker;
    GSource *connect_timer;      /* start/re-attach: polling the control socket */
    gint64 connect_deadline;
    bool adopted;                /* re-attached after a daemon restart */
    /* the worker's requests for vhost-user sockets in the current second */
    gint64 vhost_requests_second;
    unsigned vhost_requests;

    VmmdJob job;
    VmmProtoPending *job_pending;
    GPtrArray *destroy_waiters;  /* VmmProtoPending*, answered once the worker is gone */
    bool destroy_requested;
    bool shutdown_requested;
    GSource *shutdown_timer;     /* domain-shutdown's timeout */
    GSource *kill_timer;         /* destroy: SIGKILL if "quit" did not end it */
    char *exit_reason;           /* from the worker's SHUTDOWN event */
    VmmdCgroup *cgroup;          /* its groups while active (NULL: none) */
    guint32 dynamic_uid;         /* <seclabel type='dynamic'>: its uid/gid while active */
    char *start_error;           /* why the daemon gave up on a start */
} VmmdDomain;

struct VmmDaemon {
    char *config_dir;
    char *run_dir;
    int run_fd;                  /* run_dir, checked; its files are opened relative to it */
    char *domains_dir;           /* <config>/domains */
    char *autostart_dir;         /* <config>/autostart */
    char *socket_path;
    char *ro_socket_path;
    char *libvirt_socket_path;   /* libvirt's remote protocol, read-write */
    char *libvirt_ro_socket_path;
    char *worker_path;
    char *worker_user;           /* vmmd.conf [worker] user=, group= (NULL: the worker's */
    char *worker_group;          /*   defaults, vmmd and its group) */
    bool worker_sandbox;         /* vmmd.conf [worker] sandbox= (default true) */
    int worker_oom_score_adj;    /* vmmd.conf [worker] oom_score_adj= (default 0) */
    char *cgroup_partition;      /* vmmd.conf [cgroup] partition= (NULL: "machine") */
    bool cgroup_v2;
    char *cgroup_base[VMMD_CG_N];   /* where VM groups go, per controller (NULL: none) */
    guint32 dynamic_uid_min;     /* vmmd.conf [worker] dynamic_uid_range=MIN-MAX */
    guint32 dynamic_uid_max;
    char *schema_path;
    guint64 log_max_size;        /* domain logs: rotate at this size (0: never) */
    guint log_max_backups;       /* NAME.log.1 .. NAME.log.N kept */
    GSource *log_timer;          /* checks the logs of running domains */
    bool verbose;
    bool journal;                /* stderr is the journal: log with fields */
    GMainLoop *loop;
    VmmProtoServer *server;
    VmmdLibvirt *libvirt;
    GHashTable *domains;         /* name -> VmmdDomain* */
    GHashTable *networks;        /* name -> VmmdNetwork* (network.c) */
    char *networks_dir;          /* <config>/networks */
    char *net_autostart_dir;     /* <config>/networks/autostart */
    char *net_run_dir;           /* <run>/networks */
    int next_id;
    int lock_fd;
    bool shutting_down;
    GSource *watchdog;
};

/* log.c ------------------------------------------------------------------ */
void vmmd_log_init(VmmDaemon *d);
/* priority: syslog's LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. dom may be NULL. */
void vmmd_log(VmmDaemon *d, const VmmdDomain *dom, int priority, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
/* Bounds the logs of running domains (log_max_size, log_max_backups),
 * checked every VMMD_LOG_CHECK_S seconds. */
void vmmd_log_rotation_start(VmmDaemon *d);
void vmmd_log_rotation_stop(VmmDaemon *d);

/* seclabel.c ------------------------------------------------------------- */
/* At start, for live's <seclabel>: a dynamic uid (set in live's label and
 * dom->dynamic_uid), the images chowned (relabel='yes', the old owners
 * kept in RUNDIR/NAME.seclabel), and the worker's --user/--group ("+N";
 * NULL: vmmd.conf's). On error the caller's cleanup calls release. */
bool vmmd_seclabel_prepare(VmmdDomain *dom, VmmDomainDef *live, char **user, char **group,
                           GError **err);
/* At stop: the images get their owners back, the uid is free. */
void vmmd_seclabel_release(VmmdDomain *dom);
/* Re-attached: the uid is taken again and the live label shows it; false
 * when the domain has no label state. */
bool vmmd_seclabel_reattach(VmmdDomain *dom);
/* A running domain's worker identity as libvirt's DAC model writes it,
 * "+UID:+GID" (its label, else the worker user's; NULL when inactive). */
char *vmmd_seclabel_process_label(const VmmdDomain *dom);
/* At start-up: warns (once) naming the host users and groups whose ids
 * lie in dynamic_uid_range. */
void vmmd_seclabel_check_range(VmmDaemon *d);
#define VMMD_DYNAMIC_UID_MIN 400000
#define VMMD_DYNAMIC_UID_MAX 465535

/* domain_store.c --------------------------------------------------------- */
bool vmmd_store_init(VmmDaemon *d, GError **err);
VmmdDomain *vmmd_domain_new(VmmDaemon *d, const char *name);
void vmmd_domain_free(VmmdDomain *dom);
/* By name, or by uuid string (any case). */
VmmdDomain *vmmd_domain_lookup(VmmDaemon *d, const char *name_or_uuid);
/* The values of a table keyed by name, sorted by name (borrowed). */
GPtrArray *vmmd_sorted_values(GHashTable *by_name);
/* Removes DIR/NAME (absent is fine) and syncs DIR. */
bool vmmd_remove_file(const char *dir, const char *name, GError **err);
/* All domains sorted by name (borrowed pointers; free the array). */
GPtrArray *vmmd_domain_list(VmmDaemon *d);
/* Parses, validates, fills defaults, persists. Errors are VMM_PROTO_ERROR. */
VmmdDomain *vmmd_domain_define(VmmDaemon *d, const char *xml, GError **err);
bool vmmd_domain_undefine(VmmdDomain *dom, GError **err);
bool vmmd_domain_set_autostart(VmmdDomain *dom, bool on, GError **err);
/* The current definition: the running one while active. */
const VmmDomainDef *vmmd_domain_current_def(const VmmdDomain *dom);
const char *vmmd_domain_current_xml(const VmmdDomain *dom);
/* write tmp + fsync + rename + fsync dir. */
bool vmmd_write_file_atomic(const char *dir, const char *name, const char *data, gsize len,
                            mode_t mode, GError **err);
/* The same relative to a directory fd; names are never followed if they
 * are symbolic links. `dir` names the directory in messages. */
bool vmmd_write_file_atomic_at(int dirfd, const char *dir, const char *name, const char *data,
                               gsize len, mode_t mode, GError **err);
/* A regular file of at most `max` bytes, opened with O_NOFOLLOW; NUL-terminated. */
char *vmmd_read_file_at(int dirfd, const char *dir, const char *name, gsize max, gsize *len,
                        GError **err);
void vmmd_uuid_format(const uint8_t uuid[16], char out[VMMD_UUID_STRLEN]);

/* lifecycle.c ------------------------------------------------------------ */
const char *vmmd_state_name(VmmdState s);
int vmmd_reason_number(VmmdState s, const char *reason);   /* libvirt's reason enums */
bool vmmd_domain_is_active(const VmmdDomain *dom);
/* Each returns false with a VMM_PROTO_ERROR when the operation cannot
 * begin; otherwise the reply goes to `p` (may be NULL) when it is done. */
bool vmmd_domain_start(VmmdDomain *dom, VmmProtoPending *p, GError **err);
bool vmmd_domain_shutdown(VmmdDomain *dom, int timeout_s, VmmProtoPending *p, GError **err);
bool vmmd_domain_destroy(VmmdDomain *dom, VmmProtoPending *p, GError **err);
bool vmmd_domain_reboot(VmmdDomain *dom, VmmProtoPending *p, GError **err);
bool vmmd_domain_suspend(VmmdDomain *dom, VmmProtoPending *p, GError **err);
bool vmmd_domain_resume(VmmdDomain *dom, VmmProtoPending *p, GError **err);
/* A call to the domain's worker; false (nothing called) when there is no
 * connection and none can be made. */
bool vmmd_domain_worker_call(VmmdDomain *dom, const char *cmd, json_object *args,
                             VmmProtoReplyFn fn, void *opaque, GError **err);
/* The same, sending fd (consumed) with the request for the worker to take
 * (vmm_proto_conn_take_fd). */
bool vmmd_domain_worker_call_fd(VmmdDomain *dom, const char *cmd, json_object *args, int fd,
                                VmmProtoReplyFn fn, void *opaque, GError **err);

/* vhost_sockets.c: the domain's vhost-user sockets, made by the daemon for
 * its confined worker. vmmd_vhost_user_socket: disk `disk` (target name)
 * or, disk NULL, interface `index` of def, connected (listening for an
 * interface in server mode); -1 with an error naming the device and the
 * socket. _sockets_open: all of def's, appended to fds with their
 * --vhost-user-fd keys ("disk:vdb", "interface:0"); on failure the caller
 * closes those made. _socket_request: the worker's event
 * VHOST_USER_SOCKET, answered with the command vhost-user-socket. */
int vmmd_vhost_user_socket(const VmmDomainDef *def, const char *disk, guint64 index,
                           GError **err);
bool vmmd_vhost_user_sockets_open(const VmmDomainDef *def, GArray *fds, GPtrArray *keys,
                                  GError **err);
void vmmd_vhost_user_socket_request(VmmdDomain *dom, json_object *data);
/* The socket files vmmd listened on for def's interfaces in mode='server'
 * removed, as QEMU removes its server sockets: when the domain stops or
 * its start fails. */
void vmmd_vhost_user_sockets_remove(const VmmDomainDef *def);
/* CPU time of the worker process from /proc, in ns (0 if unknown). */
guint64 vmmd_domain_cpu_time_ns(const VmmdDomain *dom);
/* Its user and system parts; false if the worker's /proc entry is gone. */
bool vmmd_domain_cpu_times(const VmmdDomain *dom, guint64 *user_ns, guint64 *system_ns);
/* A vCPU thread's scheduler figures (virsh domstats vcpu.N.wait, .delay),
 * each where the kernel measures it; false if the thread is not found. */
typedef struct {
    guint64 wait_ns, delay_ns;
    bool has_wait, has_delay;
} VmmdVcpuSched;
bool vmmd_domain_vcpu_sched(const VmmdDomain *dom, unsigned index, VmmdVcpuSched *out);
/* At start-up: adopt running workers, clean up after dead ones. */
void vmmd_lifecycle_reattach(VmmDaemon *d);
void vmmd_lifecycle_autostart(VmmDaemon *d);
/* At exit: let go of every worker without stopping it. */
void vmmd_lifecycle_release(VmmDaemon *d);
void vmmd_domain_release(VmmdDomain *dom);

/* network.c -------------------------------------------------------------- */
typedef struct VmmdNetwork VmmdNetwork;
/* Loads definitions, re-attaches running networks; defines and autostarts
 * "default" on the first start when default_network. */
bool vmmd_networks_init(VmmDaemon *d, bool default_network, GError **err);
void vmmd_networks_autostart(VmmDaemon *d);
void vmmd_networks_release(VmmDaemon *d);
/* By name or uuid. */
VmmdNetwork *vmmd_network_lookup(VmmDaemon *d, const char *name_or_uuid);
GPtrArray *vmmd_network_list(VmmDaemon *d);   /* sorted by name; free the array */
VmmdNetwork *vmmd_network_define(VmmDaemon *d, const char *xml, GError **err);
/* net-create: a transient network, started now */
VmmdNetwork *vmmd_network_create(VmmDaemon *d, const char *xml, GError **err);
bool vmmd_network_undefine(VmmdNetwork *n, GError **err);
bool vmmd_network_start(VmmdNetwork *n, GError **err);
bool vmmd_network_destroy(VmmdNetwork *n, GError **err);
bool vmmd_network_set_autostart(VmmdNetwork *n, bool on, GError **err);
bool vmmd_network_update(VmmdNetwork *n, const char *cmd, const char *section,
                         const char *xml, bool live, bool config, GError **err);
bool vmmd_network_is_active(const VmmdNetwork *n);
/* The running definition while active, else the persistent one. */
const VmmNetworkDef *vmmd_network_current_def(const VmmdNetwork *n);
/* The persistent definition (NULL for a transient network). */
const VmmNetworkDef *vmmd_network_config_def(const VmmdNetwork *n);
bool vmmd_network_is_autostart(const VmmdNetwork *n);
bool vmmd_network_is_persistent(const VmmdNetwork *n);
const char *vmmd_network_name(const VmmdNetwork *n);
unsigned vmmd_network_connections(const VmmdNetwork *n);
/* Its leases (array of objects: expiry-time, mac, type, ipaddr, prefix,
 * hostname, clientid, iface), only those of `mac` when not NULL. */
json_object *vmmd_network_leases(VmmdNetwork *n, const char *mac);
/* Fills each <interface type='network'>'s bridge in a definition about to
 * run; fails when its network is undefined or inactive. */
bool vmmd_networks_resolve(VmmDaemon *d, VmmDomainDef *live, GError **err);

/* cgroup.c --------------------------------------------------------------- */
/* Finds the hierarchy (v2 if it has controllers, else v1) and the partition
 * below the daemon's own group; logs what it found. */
void vmmd_cgroup_host_init(VmmDaemon *d);
/* Whether the host has what `def`'s tuning needs; else an error naming
 * the controller or file. */
bool vmmd_cgroup_check(VmmDaemon *d, const VmmDomainDef *def, GError **err);
/* Makes the domain's groups and writes its limits (nothing is left on
 * failure). */
VmmdCgroup *vmmd_cgroup_create(VmmDaemon *d, const char *name, const VmmDomainDef *def,
                               GError **err);
/* The cgroup.procs files the worker writes itself into before exec. */
char **vmmd_cgroup_procs_files(const VmmdCgroup *cg);
/* vCPU threads into vcpuN/, the others into emulator/ (when the layout
 * has them); <vcpupin>, <emulatorpin> as affinities. cg may be NULL. */
bool vmmd_cgroup_place_threads(VmmdCgroup *cg, pid_t pid, const VmmDomainDef *def,
                               GError **err);
/* The groups of a running worker adopted after a restart (those it is in),
 * or with pid 0 the groups a dead one left; NULL if none. */
VmmdCgroup *vmmd_cgroup_find(VmmDaemon *d, const char *name, pid_t pid, const VmmDomainDef *def);
const char *vmmd_cgroup_dir(const VmmdCgroup *cg, int ctrl);
/* The memory group's count of tasks the kernel's OOM killer killed. */
guint64 vmmd_cgroup_oom_kills(const VmmdCgroup *cg);
/* cpuacct (v1) or cpu.stat (v2): ns. */
bool vmmd_cgroup_cpu_times(const VmmdCgroup *cg, guint64 *total, guint64 *user, guint64 *sys);
/* virsh schedinfo/memtune/blkiotune's parameters, [[NAME, VALUE], ...]:
 * kind "sched", "memory" or "blkio"; from the group's files while it
 * runs (cg), else from def. */
json_object *vmmd_cgroup_tune_params(const VmmdCgroup *cg, const VmmDomainDef *def,
                                     const char *kind, GError **err);
/* Removes the groups (rmdir, after the worker is gone) and frees. */
void vmmd_cgroup_remove(VmmdCgroup *cg);
void vmmd_cgroup_free(VmmdCgroup *cg);

/* libvirt_xml.c ---------------------------------------------------------- */
/* The domain XML as virsh dumpxml prints it; id >= 0 adds id='N'. */
char *vmmd_libvirt_xml(const char *xml, int id, GError **err);
/* The XML without the root's id= (virsh define ignores a dumped id). */
char *vmmd_xml_drop_id(const char *xml, GError **err);

/* libvirt.c -------------------------------------------------------------- */
VmmdLibvirt *vmmd_libvirt_new(VmmDaemon *d);
bool vmmd_libvirt_listen_path(VmmdLibvirt *l, const char *path, mode_t mode, bool read_only,
                              GError **err);
/* A listening socket from systemd; owned from now on (closed on failure). */
bool vmmd_libvirt_listen_fd(VmmdLibvirt *l, int fd, bool read_only, GError **err);
guint vmmd_libvirt_n_listeners(VmmdLibvirt *l);
void vmmd_libvirt_free(VmmdLibvirt *l);
/* libvirt's lifecycle and reboot events to clients that registered:
 * the one for the domain's new state, or an event (libvirt's
 * virDomainEventType) with its detail. */
enum { VMMD_EVENT_DEFINED = 0, VMMD_EVENT_UNDEFINED = 1 };
void vmmd_libvirt_state_event(VmmdDomain *dom);
void vmmd_libvirt_event(VmmdDomain *dom, int event, int detail);
void vmmd_libvirt_reboot_event(VmmdDomain *dom);
/* libvirt's network lifecycle event (virNetworkEventLifecycleType:
 * DEFINED 0, UNDEFINED 1, STARTED 2, STOPPED 3) to clients that registered. */
void vmmd_libvirt_network_event(VmmDaemon *d, const char *name, const uint8_t uuid[16],
                                int event);
enum { VMMD_NET_EVENT_DEFINED, VMMD_NET_EVENT_UNDEFINED, VMMD_NET_EVENT_STARTED,
       VMMD_NET_EVENT_STOPPED };

/* commands.c ------------------------------------------------------------- */
extern const VmmProtoCommand vmmd_commands[];
/* The index of the interface named by its target dev (netN without one)
 * or MAC address, or -1. */
int vmmd_find_interface(const VmmDomainDef *def, const char *which);

#endif
