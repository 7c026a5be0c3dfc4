/* vhost-user sockets for a worker that vmmd started: vmmd makes them (as
 * root, from its own copy of the definition) and hands them over, since
 * the confined worker sees no host path and usually may not write to a
 * back end's socket. The first ones come at spawn (--vhost-user-fd); a
 * guest reboot's and a reconnect's on request: the worker sends the event
 * VHOST_USER_SOCKET naming the device (never a path), vmmd answers with
 * the command vhost-user-socket, carrying the descriptor (SCM_RIGHTS) or
 * why it could not make one (vmmd-protocol(7)). */
#include "worker/worker.h"
#include "proto/proto.h"
#include "util/log.h"
#include "vhost/vhost_user.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a request waits for vmmd (a daemon being restarted may not
 * answer at all: the reconnect loop tries again later). */
#define REQUEST_WAIT_S 10

typedef struct {
    guint64 id;
    bool done;
    int fd;
    char *error;
} Request;

struct WorkerVhostSockets {
    Worker *w;
    GThread *main_thread;        /* the one that runs the main context */
    GMutex lock;
    GCond cond;
    GHashTable *initial;         /* device key -> fd + 1, handed over at spawn */
    GPtrArray *pending;          /* Request */
    guint64 next_id;
    bool held;                   /* the VM is being torn down */
};

/* "disk:TARGET:FD" or "interface:INDEX:FD", naming a vhost-user device of
 * def. */
static bool parse_fd_arg(const VmmDomainDef *def, const char *arg, char **key, int *fd,
                         GError **err)
{
    g_auto(GStrv) f = g_strsplit(arg, ":", 3);
    char *end = NULL;
    long v = g_strv_length(f) == 3 ? strtol(f[2], &end, 10) : -1;
    bool ok = end && !*end && v >= 3 && v <= G_MAXINT;
    guint64 i = 0;
    bool listening;
    if (ok && !strcmp(f[0], "disk")) {
        ok = vmm_domain_vhost_user_socket(def, f[1], 0, &listening) != NULL;
        *key = vmm_domain_vhost_user_name(f[1], 0);
    } else if (ok && !strcmp(f[0], "interface")) {
        ok = g_ascii_string_to_unsigned(f[1], 10, 0, G_MAXUINT, &i, NULL) &&
             vmm_domain_vhost_user_socket(def, NULL, i, &listening) != NULL;
        *key = vmm_domain_vhost_user_name(NULL, i);
    } else {
        ok = false;
    }
    if (!ok) {
        g_clear_pointer(key, g_free);
        g_set_error(err, VMM_CONF_ERROR, 0, "--vhost-user-fd '%s': expected disk:TARGET:FD or "
                    "interface:INDEX:FD naming a vhost-user device of the domain, FD >= 3",
                    arg);
        return false;
    }
    *fd = (int)v;
    return true;
}

static void request_free(Request *r)
{
    if (r->fd >= 0)
        close(r->fd);
    g_free(r->error);
    g_free(r);
}

typedef struct {
    Worker *w;
    json_object *ev;
} Emit;

static gboolean emit_request(gpointer data)
{
    Emit *e = data;
    worker_control_event(e->w, "VHOST_USER_SOCKET", e->ev);
    g_free(e);
    return G_SOURCE_REMOVE;
}

static gboolean deadline_reached(gpointer data)
{
    *(bool *)data = true;
    return G_SOURCE_REMOVE;
}

/* Asks vmmd for the device's socket and waits for the answer: on the
 * main thread by running the main context (a reboot builds the VM there,
 * outside the main loop), elsewhere (the vhost layer's thread) on the
 * condition the command handler signals. */
static int ask_vmmd(WorkerVhostSockets *s, const char *disk, unsigned interface,
                    const char *key, GError **err)
{
    Request *r = g_new0(Request, 1);
    r->fd = -1;
    g_mutex_lock(&s->lock);
    r->id = ++s->next_id;
    g_ptr_array_add(s->pending, r);
    g_mutex_unlock(&s->lock);

    json_object *ev = vmm_proto_vhost_request_new(r->id, disk, interface);
    Emit *e = g_new(Emit, 1);
    *e = (Emit){ s->w, ev };
    /* Sent by the main context's thread, which owns the control socket. */
    GSource *src = g_idle_source_new();
    g_source_set_callback(src, emit_request, e, NULL);
    g_source_attach(src, NULL);
    g_source_unref(src);

    gint64 deadline = g_get_monotonic_time() + REQUEST_WAIT_S * G_TIME_SPAN_SECOND;
    if (g_thread_self() == s->main_thread) {
        bool late = false;
        GSource *t = g_timeout_source_new_seconds(REQUEST_WAIT_S);
        g_source_set_callback(t, deadline_reached, &late, NULL);
        g_source_attach(t, NULL);
        for (;;) {
            g_mutex_lock(&s->lock);
            bool done = r->done;
            g_mutex_unlock(&s->lock);
            if (done || late)
                break;
            g_main_context_iteration(NULL, TRUE);
        }
        g_source_destroy(t);
        g_source_unref(t);
        g_mutex_lock(&s->lock);
    } else {
        g_mutex_lock(&s->lock);
        while (!r->done && g_cond_wait_until(&s->cond, &s->lock, deadline))
            ;
    }
    g_ptr_array_remove_fast(s->pending, r);
    g_mutex_unlock(&s->lock);
    int fd = -1;
    if (!r->done)
        g_set_error(err, VMM_CONF_ERROR, 0, "vmmd did not answer the worker's request for %s's "
                    "socket within %d s", key, REQUEST_WAIT_S);
    else if (r->error)
        g_set_error(err, VMM_CONF_ERROR, 0, "vmmd: %s", r->error);
    else
        fd = g_steal_fd(&r->fd);
    request_free(r);
    return fd;
}

static int open_socket(void *opaque, const char *disk, unsigned interface, GError **err)
{
    WorkerVhostSockets *s = opaque;
    g_autofree char *key = vmm_domain_vhost_user_name(disk, interface);
    g_mutex_lock(&s->lock);
    gpointer v = NULL;
    bool had = g_hash_table_steal_extended(s->initial, key, NULL, &v);
    bool held = s->held && g_thread_self() != s->main_thread;
    g_mutex_unlock(&s->lock);
    if (had)
        return GPOINTER_TO_INT(v) - 1;
    if (held) {
        g_set_error(err, VMM_CONF_ERROR, 0, "%s: the VM is stopping", key);
        return -1;
    }
    if (!s->w->control) {
        g_set_error(err, VMM_CONF_ERROR, 0, "%s: no socket was handed over and there is no "
                    "vmmd to ask (no --control-socket)", key);
        return -1;
    }
    return ask_vmmd(s, disk, interface, key, err);
}

WorkerVhostSockets *worker_vhost_sockets_new(Worker *w, char **args, GError **err)
{
    WorkerVhostSockets *s = g_new0(WorkerVhostSockets, 1);
    s->w = w;
    s->main_thread = g_thread_self();
    g_mutex_init(&s->lock);
    g_cond_init(&s->cond);
    s->initial = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    s->pending = g_ptr_array_new();
    for (char **a = args; a && *a; a++) {
        char *key = NULL;
        int fd;
        if (!parse_fd_arg(w->def, *a, &key, &fd, err)) {
            worker_vhost_sockets_free(s);
            return NULL;
        }
        /* ours alone from here: never passed on to a program we run */
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        gpointer old = NULL;
        if (g_hash_table_steal_extended(s->initial, key, NULL, &old))
            close(GPOINTER_TO_INT(old) - 1);
        g_hash_table_insert(s->initial, key, GINT_TO_POINTER(fd + 1));
    }
    VmmVhostUserOpener o = { open_socket, s };
    vmm_vhost_user_set_opener(&o);
    return s;
}

void worker_vhost_sockets_hold(WorkerVhostSockets *s, bool hold)
{
    if (!s)
        return;
    g_mutex_lock(&s->lock);
    s->held = hold;
    for (guint i = 0; hold && i < s->pending->len; i++) {
        Request *r = g_ptr_array_index(s->pending, i);
        if (!r->done) {
            r->done = true;
            r->error = g_strdup("the VM is stopping");
        }
    }
    g_cond_broadcast(&s->cond);
    g_mutex_unlock(&s->lock);
}

void worker_vhost_sockets_free(WorkerVhostSockets *s)
{
    if (!s)
        return;
    vmm_vhost_user_set_opener(NULL);
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->initial);
    while (g_hash_table_iter_next(&it, NULL, &v))
        close(GPOINTER_TO_INT(v) - 1);
    g_hash_table_unref(s->initial);
    /* every waiter removed its request before returning */
    g_ptr_array_unref(s->pending);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->cond);
    g_free(s);
}

json_object *worker_vhost_sockets_answer(WorkerVhostSockets *s, VmmProtoConn *c,
                                         json_object *args, GError **err)
{
    json_object *id = NULL, *error = NULL;
    if (!worker_args_known(args, "vhost-user-socket",
                           (const char *const[]){ "request", "error", NULL }, err))
        return NULL;
    if (!json_object_object_get_ex(args, "request", &id) ||
        !json_object_is_type(id, json_type_int) ||
        (json_object_object_get_ex(args, "error", &error) &&
         !json_object_is_type(error, json_type_string)))
        return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                   "vhost-user-socket needs \"request\" (a number) and takes "
                                   "\"error\" (a string)");
    if (!s)
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                   "vhost-user-socket: this worker asks for no sockets");
    guint64 want = (guint64)json_object_get_int64(id);
    g_mutex_lock(&s->lock);
    Request *r = NULL;
    for (guint i = 0; i < s->pending->len && !r; i++) {
        Request *x = g_ptr_array_index(s->pending, i);
        if (x->id == want && !x->done)
            r = x;
    }
    if (r && error) {
        r->error = g_strdup(json_object_get_string(error));
    } else if (r) {
        r->fd = vmm_proto_conn_take_fd(c);
        if (r->fd < 0)
            r->error = g_strdup("the answer carried no descriptor");
    }
    if (r) {
        r->done = true;
        g_cond_broadcast(&s->cond);
    }
    g_mutex_unlock(&s->lock);
    /* A descriptor left untaken is closed with the request. */
    if (!r)
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                   "vhost-user-socket: no request %" G_GUINT64_FORMAT " is "
                                   "waiting (it timed out after %d s?)", want, REQUEST_WAIT_S);
    return json_object_new_object();
}
