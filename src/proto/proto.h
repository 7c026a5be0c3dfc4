/* The vmmd JSON protocol: newline-delimited JSON objects over a unix stream
 * socket, in the spirit of QMP. One library serves both hops (vmmctl ->
 * vmmd, vmmd -> vmm-worker): a server on a GLib main context, an async
 * client on a GMainContext, and a blocking client for CLIs and tests.
 *
 * Wire format (see vmmd-protocol(7)):
 *   greeting  {"KEY": {"version": {"major","minor","micro"}, "package": "KEY X.Y.Z",
 *                      "capabilities": [], "read_only": BOOL}}
 *   request   {"execute": NAME, "arguments": {...}, "id": ANY}   arguments, id optional
 *   success   {"return": VALUE, "id": ANY}                      id echoed verbatim
 *   error     {"error": {"class": CLASS, "desc": TEXT}, "id": ANY}
 *   event     {"event": NAME, "data": {...}, "timestamp": {"seconds": S, "microseconds": US}}
 *
 * Hostile input is normal: a line longer than VMM_PROTO_MAX_MESSAGE gets an
 * InvalidArgument error and the connection is closed; bad JSON, a non-object
 * or a malformed request gets InvalidArgument and the connection stays open;
 * a client that does not read its replies is disconnected once
 * VMM_PROTO_MAX_OUTPUT bytes (or the server's limit) are queued for it, or
 * when none of its queued output moves for output_timeout_s, and never
 * stalls others; see VmmProtoLimits for connection limits and idling.
 *
 * Threading: a server, an async client or a sync client is used from one
 * thread only. The server and async clients attach their sources to the
 * thread-default main context current when they are created. */
#ifndef VMM_PROTO_H
#define VMM_PROTO_H

#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>

#define VMM_PROTO_MAX_MESSAGE (1024 * 1024)        /* one line, without "\n" */
#define VMM_PROTO_MAX_OUTPUT  (4 * 1024 * 1024)    /* queued per connection */
#define VMM_PROTO_MAX_CLIENTS 1024                 /* per socket kind, by default */
#define VMM_PROTO_JSON_DEPTH  64                   /* nesting accepted in a message */

typedef enum {
    VMM_PROTO_GENERIC_ERROR,
    VMM_PROTO_COMMAND_NOT_FOUND,
    VMM_PROTO_INVALID_ARGUMENT,
    VMM_PROTO_DOMAIN_NOT_FOUND,
    VMM_PROTO_OPERATION_INVALID,
    VMM_PROTO_PERMISSION_DENIED,
    VMM_PROTO_INTERNAL_ERROR,
    VMM_PROTO_NETWORK_NOT_FOUND,
} VmmProtoErrorClass;

/* GError domain of protocol errors: code = VmmProtoErrorClass, message =
 * the "desc" text. Local failures of the clients (cannot connect, timeout,
 * connection closed, bad data from the peer) use G_IO_ERROR instead, so a
 * caller can tell "the server said no" from "no answer". */
#define VMM_PROTO_ERROR (vmm_proto_error_quark())
GQuark vmm_proto_error_quark(void);

const char *vmm_proto_error_class_name(VmmProtoErrorClass c);   /* "GenericError", ... */
/* Unknown names map to VMM_PROTO_GENERIC_ERROR and return false. */
bool vmm_proto_error_class_from_name(const char *name, VmmProtoErrorClass *c);

/* ------------------------------------------------------------------------ */
/* server                                                                   */

typedef struct VmmProtoServer VmmProtoServer;
typedef struct VmmProtoConn VmmProtoConn;
typedef struct VmmProtoPending VmmProtoPending;   /* a request whose reply comes later */

/* Returns the "return" value (a new reference; NULL without an error means
 * {}), or NULL with *err set: VMM_PROTO_ERROR errors keep their class, any
 * other domain is sent as GenericError with the message. Or
 * VMM_PROTO_DEFERRED after vmm_proto_conn_defer(). args may be NULL. */
typedef json_object *(*VmmProtoHandler)(VmmProtoConn *conn, json_object *args,
                                        void *opaque, GError **err);
#define VMM_PROTO_DEFERRED ((json_object *)1)

/* Array terminated by {NULL}. read_only_ok: allowed on read-only sockets.
 * "query-version" and "query-commands" are built in unless the table has
 * its own; query-commands lists what the connection may call. */
typedef struct {
    const char *name;
    bool read_only_ok;
    VmmProtoHandler handler;
} VmmProtoCommand;

/* greeting_key: "vmmd" or "vmm-worker"; the package string is
 * "KEY " PACKAGE_VERSION. cmds must outlive the server. */
VmmProtoServer *vmm_proto_server_new(const char *greeting_key,
                                     const VmmProtoCommand *cmds, void *opaque);
/* Binds, sets mode (and keeps the current group), then listens. A stale
 * socket at path is removed first; any other file there is an error. The
 * socket file is removed by vmm_proto_server_free if it is still ours. */
bool vmm_proto_server_listen_path(VmmProtoServer *s, const char *path, mode_t mode,
                                  bool read_only, GError **err);
/* The socket part of listen_path, for other servers in the process (vmmd's
 * libvirt listener): a listening, close-on-exec unix socket, or -1. */
int vmm_proto_listen_unix(const char *path, mode_t mode, GError **err);
/* A listening socket passed by systemd; the server owns it from now on. */
bool vmm_proto_server_listen_fd(VmmProtoServer *s, int fd, bool read_only, GError **err);
/* To every connected client (read-only ones too). data consumed, NULL = {}. */
void vmm_proto_server_broadcast(VmmProtoServer *s, const char *event, json_object *data);
guint vmm_proto_server_n_clients(VmmProtoServer *s);

/* What one server lets its clients hold. The read-write and read-only
 * listeners count separately, so read-only clients can never take the
 * slots root's read-write clients need; on read-only sockets one uid
 * (SO_PEERCRED) may hold at most max_ro_per_uid. A refused client gets
 * one error line ({"error": {"class": "GenericError", ...}}) instead of
 * the greeting, then the connection is closed. */
typedef struct {
    guint max_clients;        /* read-write connections (default 1024) */
    guint max_ro_clients;     /* read-only connections (default 1024) */
    guint max_ro_per_uid;     /* read-only connections per uid (default 64) */
    /* A connection that has sent no complete request for this long, and
     * has no deferred reply running, is closed. 0 = never (default). */
    guint idle_timeout_s;
    /* Replies queued and not one byte of them taken by the client for
     * this long: closed. 0 = never (default). */
    guint output_timeout_s;
    /* Bytes queued unread beyond which the client is closed (default
     * VMM_PROTO_MAX_OUTPUT). A message to an empty queue always fits. */
    gsize max_output;
} VmmProtoLimits;
#define VMM_PROTO_MAX_RO_PER_UID 64
#define VMM_PROTO_MIN_OUTPUT (64 * 1024)

/* Fills *l with the defaults above. */
void vmm_proto_limits_init(VmmProtoLimits *l);
/* Applies to connections accepted later and, for the timeouts and the
 * output cap, to the current ones. */
void vmm_proto_server_set_limits(VmmProtoServer *s, const VmmProtoLimits *l);
/* Closes listeners and connections. Pendings stay valid (replies dropped). */
void vmm_proto_server_free(VmmProtoServer *s);

/* Runs one of the server's commands for a caller inside the process (vmmd's
 * libvirt front end), with the same argument checks, logging and
 * read-only rule as for a client on a socket. fn gets the "return" value
 * (borrowed; NULL with err set for an error) exactly once, possibly before
 * this returns. args consumed, may be NULL; cred may be NULL. */
struct ucred;
typedef void (*VmmProtoLocalFn)(json_object *ret, const GError *err, void *opaque);
void vmm_proto_server_call(VmmProtoServer *s, const char *cmd, json_object *args,
                           bool read_only, const struct ucred *cred, VmmProtoLocalFn fn,
                           void *opaque);

bool vmm_proto_conn_is_read_only(VmmProtoConn *c);
/* From inside a handler: the next descriptor the client sent with this
 * request (SCM_RIGHTS, close-on-exec), now the caller's, or -1 when there
 * is none. Descriptors a request carries and its handler leaves are closed
 * when it returns; at most PROTO_MAX_FDS (4) arrive per read. */
int vmm_proto_conn_take_fd(VmmProtoConn *c);
/* SO_PEERCRED at accept time; false if unavailable. */
bool vmm_proto_conn_peer(VmmProtoConn *c, pid_t *pid, uid_t *uid, gid_t *gid);
/* Only from inside a handler, which then returns VMM_PROTO_DEFERRED. The
 * pending survives the connection closing (its reply is then dropped);
 * exactly one of pending_return/pending_error must be called, which frees it. */
VmmProtoPending *vmm_proto_conn_defer(VmmProtoConn *c);
void vmm_proto_pending_return(VmmProtoPending *p, json_object *ret /* consumed, NULL = {} */);
void vmm_proto_pending_error(VmmProtoPending *p, VmmProtoErrorClass cls,
                             const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* Convenience: error class from a GError as a handler's would be mapped. */
void vmm_proto_pending_gerror(VmmProtoPending *p, const GError *err);
/* Sets *err with a class (a shorthand for handlers). Returns NULL. */
json_object *vmm_proto_set_error(GError **err, VmmProtoErrorClass cls,
                                 const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* ------------------------------------------------------------------------ */
/* async client (daemon -> worker) on a GMainContext                        */

typedef struct VmmProtoClient VmmProtoClient;
/* ret borrowed (valid during the call), NULL on error. err: VMM_PROTO_ERROR
 * for an error reply, G_IO_ERROR for a lost connection, a timeout, or the
 * client being freed. The callback may free the client. */
typedef void (*VmmProtoReplyFn)(VmmProtoClient *c, json_object *ret,
                                const GError *err, void *opaque);

/* Connects and reads the greeting synchronously (at most 2 s); from then
 * on everything is asynchronous on ctx (NULL: the global default). */
VmmProtoClient *vmm_proto_client_connect(const char *path, GMainContext *ctx,
                                         GError **err);
/* The same without ever blocking: fails at once only if the socket cannot
 * be connected (missing, refused); the greeting is read asynchronously
 * and calls may be made at once (they are answered after it). A bad
 * greeting fails the connection like a lost one. */
VmmProtoClient *vmm_proto_client_connect_async(const char *path, GMainContext *ctx,
                                               GError **err);
/* Borrowed; NULL until an async client has received it. */
json_object *vmm_proto_client_greeting(VmmProtoClient *c);
/* Every reply comes through fn exactly once, never from inside this call.
 * args consumed, may be NULL. */
void vmm_proto_client_call(VmmProtoClient *c, const char *cmd, json_object *args,
                           VmmProtoReplyFn fn, void *opaque);
/* The same, sending fd (consumed: closed once sent or when the call fails)
 * with the request (SCM_RIGHTS); the server's handler takes it with
 * vmm_proto_conn_take_fd(). fd < 0: none. */
void vmm_proto_client_call_fd(VmmProtoClient *c, const char *cmd, json_object *args, int fd,
                              VmmProtoReplyFn fn, void *opaque);
/* Calls made afterwards fail with G_IO_ERROR_TIMED_OUT if no reply came
 * within timeout_ms (0 = wait forever, the default); a late reply is dropped. */
void vmm_proto_client_set_timeout(VmmProtoClient *c, int timeout_ms);
/* data borrowed. */
void vmm_proto_client_on_event(VmmProtoClient *c,
                               void (*fn)(VmmProtoClient *c, const char *event,
                                          json_object *data, void *opaque),
                               void *opaque);
/* The peer closed or the connection failed (pending calls have already
 * got their error callbacks). Not called by vmm_proto_client_free. */
void vmm_proto_client_on_close(VmmProtoClient *c, void (*fn)(VmmProtoClient *c, void *opaque),
                               void *opaque);
bool vmm_proto_client_is_connected(VmmProtoClient *c);
/* Pending calls get an error callback (G_IO_ERROR_CANCELLED) from inside
 * this call. */
void vmm_proto_client_free(VmmProtoClient *c);

/* ------------------------------------------------------------------------ */
/* blocking client (vmmctl, tests, bench)                                   */

typedef struct VmmProtoSync VmmProtoSync;
/* timeout_ms bounds the connect + greeting and, later, each call (see
 * set_timeout); <= 0 means wait forever. */
VmmProtoSync *vmm_proto_sync_connect(const char *path, int timeout_ms, GError **err);
void vmm_proto_sync_set_timeout(VmmProtoSync *s, int timeout_ms);
json_object *vmm_proto_sync_greeting(VmmProtoSync *s);     /* borrowed */
/* New reference to the "return" value, or NULL with *err: VMM_PROTO_ERROR
 * (code = class, message = desc) or G_IO_ERROR. args consumed, may be NULL.
 * Events that arrive meanwhile are queued for next_event. */
json_object *vmm_proto_sync_call(VmmProtoSync *s, const char *cmd, json_object *args,
                                 GError **err);
/* The same, sending fd (consumed) with the request (SCM_RIGHTS). */
json_object *vmm_proto_sync_call_fd(VmmProtoSync *s, const char *cmd, json_object *args,
                                    int fd, GError **err);
/* The whole event object {"event","data","timestamp"} (new reference), from
 * the queue or read within timeout_ms (< 0: forever); NULL with
 * G_IO_ERROR_TIMED_OUT when none came. */
json_object *vmm_proto_sync_next_event(VmmProtoSync *s, int timeout_ms, GError **err);
int vmm_proto_sync_fd(VmmProtoSync *s);
void vmm_proto_sync_free(VmmProtoSync *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmProtoSync, vmm_proto_sync_free)

/* The worker's VHOST_USER_SOCKET event (vmmd-protocol(7)): request `id`
 * for the socket of vhost-user disk `disk` or, disk NULL, of interface
 * `index`. _new builds it (vmm-worker). _parse reads one from a worker,
 * which may send anything: false with an error, *id -1 when there is no
 * request number to answer; *disk is borrowed from data. */
json_object *vmm_proto_vhost_request_new(guint64 id, const char *disk, guint64 index);
bool vmm_proto_vhost_request_parse(json_object *data, gint64 *id, const char **disk,
                                   guint64 *index, GError **err);

#endif
