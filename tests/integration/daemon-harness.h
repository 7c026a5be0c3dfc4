/* Helpers for the vmmd integration tests (test-daemon, test-daemon-crash):
 * a real daemon process in temporary directories, driven over its sockets
 * with the blocking protocol client; domains run the guest kit. */
#ifndef VMM_TEST_DAEMON_HARNESS_H
#define VMM_TEST_DAEMON_HARNESS_H

#include "harness.h"
#include "proto/proto.h"

#include <stdbool.h>
#include <sys/types.h>

#define CALL_TIMEOUT_MS 20000
#define EVENT_TIMEOUT_MS 20000

typedef struct {
    char *dir, *cfg, *run, *sock, *ro_sock, *log;
    char *partition;           /* the [cgroup] partition the harness gave it, or NULL */
    GPid pid;
} Vmmd;

typedef struct {
    const char *name;
    const char *cmdline;       /* default test=idle */
    const char *on_poweroff;   /* default destroy */
    const char *serial;        /* serial file path, default <dir>/<name>.serial */
    bool no_serial;
    bool no_acpi;
    const char *uuid;
    const char *extra_devices; /* appended inside <devices>, or NULL */
} Dom;

/* The daemon of the running test, for diagnostics when a wait fails. */
extern Vmmd *current;

json_object *get(json_object *o, const char *k);
const char *get_str(json_object *o, const char *k);
void vmmd_init(Vmmd *v);
char *read_file(const char *path);
char **daemon_env(const char *const *extra);
void die_with_parent(gpointer data);
GPid spawn_logged(Vmmd *v, char **argv, const char *const *extra_env);
int wait_exit(GPid pid, int timeout_ms);
bool alive(GPid pid);
VmmProtoSync *connect_retry(Vmmd *v, const char *path, int timeout_ms);
/* extra_args: more daemon options, NULL-terminated (may be NULL). */
void vmmd_start_full(Vmmd *v, const char *const *extra_env, const char *const *extra_args);
void vmmd_start_env(Vmmd *v, const char *const *extra_env);
void vmmd_start(Vmmd *v);
int vmmd_stop(Vmmd *v, int sig);
void assert_no_sanitizer_report(const char *what, const char *text);
GArray *worker_pids(Vmmd *v, const char *name);
void dump_logs(void);
guint count_workers(Vmmd *v, const char *name);
void vmmd_cleanup(Vmmd *v);
json_object *call_ok(VmmProtoSync *s, const char *cmd, json_object *args);
void call_void(VmmProtoSync *s, const char *cmd, json_object *args);
char *call_err(VmmProtoSync *s, const char *cmd, json_object *args, VmmProtoErrorClass cls);
json_object *name_args(const char *name);
void domain_op(VmmProtoSync *s, const char *cmd, const char *name);
json_object *domain_info(VmmProtoSync *s, const char *name);
char *domain_state(VmmProtoSync *s, const char *name);
json_object *wait_state(VmmProtoSync *s, const char *name, const char *state,
                        const char *reason);
json_object *wait_event(VmmProtoSync *s, const char *event, const char *name);
void wait_serial(const char *path, const char *needle, int count);
char *serial_path(Vmmd *v, const char *name);
char *domain_xml(Vmmd *v, const Dom *d);
json_object *define_args(const char *xml);
char *define(VmmProtoSync *s, Vmmd *v, const Dom *d);
json_object *list(VmmProtoSync *s, bool all);
json_object *list_find(json_object *l, const char *name);
void shutdown_and_wait(VmmProtoSync *s, VmmProtoSync *ev, const char *name);
void start_idle(VmmProtoSync *s, Vmmd *v, const char *name);
void wait_running(VmmProtoSync *s, const char *name);
int worker_pid_of(Vmmd *v, const char *name);
void on_abort(int sig);

#endif
