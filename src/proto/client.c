/* Asynchronous protocol client on a GMainContext (vmmd -> vmm-worker).
 * Requests carry increasing integer ids; replies are matched by id, so
 * they may come in any order. The peer is bounded like any other: a line
 * over the limit or an output queue over VMM_PROTO_MAX_OUTPUT drops the
 * connection. */
#include "config.h"
#include "proto/proto_int.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)
#define READ_BUDGET (256 * 1024)
#define GREETING_TIMEOUT_MS 2000

typedef struct Call Call;

struct VmmProtoClient {
    int refs;
    int fd;
    char *path;
    GMainContext *ctx;
    GSource *src;
    ProtoLineBuf in;
    ProtoOutBuf out;
    json_object *greeting;
    GHashTable *calls;          /* id (gint64 *) -> Call */
    gint64 next_id;
    int timeout_ms;
    bool closed;
    bool freed;
    void (*event_fn)(VmmProtoClient *, const char *, json_object *, void *);
    void *event_opaque;
    void (*close_fn)(VmmProtoClient *, void *);
    void *close_opaque;
};

struct Call {
    gint64 id;
    VmmProtoClient *client;
    VmmProtoReplyFn fn;
    void *opaque;
    GSource *timer;             /* timeout, or the idle that reports a dead client */
    GError *early;              /* error to report from the idle */
};

static void client_unref(VmmProtoClient *c)
{
    if (--c->refs > 0)
        return;
    g_hash_table_destroy(c->calls);
    proto_linebuf_clear(&c->in);
    proto_outbuf_clear(&c->out);
    json_object_put(c->greeting);
    if (c->ctx)
        g_main_context_unref(c->ctx);
    g_free(c->path);
    g_free(c);
}

static void call_free(Call *call)
{
    if (call->timer) {
        g_source_destroy(call->timer);
        g_source_unref(call->timer);
    }
    g_clear_error(&call->early);
    client_unref(call->client);
    g_free(call);
}

static gint call_cmp(gconstpointer a, gconstpointer b)
{
    const Call *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Removes the call from the table and runs its callback once. */
static void call_complete(Call *call, json_object *ret, const GError *err)
{
    VmmProtoClient *c = call->client;
    g_hash_table_steal(c->calls, &call->id);
    call->fn(c, ret, err, call->opaque);
    call_free(call);    /* drops the call's client reference last */
}

static void fail_all_calls(VmmProtoClient *c, GQuark domain, int code, const char *msg)
{
    GError *err = g_error_new_literal(domain, code, msg);
    /* Take them all out first: callbacks may make new calls or free us. */
    GList *calls = g_list_sort(g_hash_table_get_values(c->calls), call_cmp);
    g_hash_table_steal_all(c->calls);
    for (GList *l = calls; l; l = l->next) {
        Call *call = l->data;
        call->fn(c, NULL, err, call->opaque);
        call_free(call);
    }
    g_list_free(calls);
    g_error_free(err);
}

static void client_disconnect(VmmProtoClient *c)
{
    if (c->closed)
        return;
    c->closed = true;
    if (c->src) {
        g_source_destroy(c->src);
        g_source_unref(c->src);
        c->src = NULL;
    }
    close(c->fd);
    c->fd = -1;
}

static void client_fail(VmmProtoClient *c, const char *why)
{
    if (c->closed)
        return;
    c->refs++;
    client_disconnect(c);
    g_autofree char *msg = g_strdup_printf("%s: %s", c->path, why);
    fail_all_calls(c, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, msg);
    if (c->close_fn && !c->freed)
        c->close_fn(c, c->close_opaque);
    client_unref(c);
}

static void client_update(VmmProtoClient *c)
{
    if (!c->closed)
        proto_fd_source_set(c->src, G_IO_IN | (proto_outbuf_len(&c->out) ? G_IO_OUT : 0));
}

static void handle_line(VmmProtoClient *c, const char *line, gsize len)
{
    json_object *msg = proto_parse(line, len, NULL);
    if (!c->greeting) {
        /* Connected without waiting: the first line is the greeting. */
        if (!proto_greeting_check(msg, c->path, NULL)) {
            json_object_put(msg);
            client_fail(c, "the server's greeting is not a vmmd protocol greeting");
            return;
        }
        c->greeting = msg;
        return;
    }
    if (!json_object_is_type(msg, json_type_object)) {
        g_debug("%s: ignoring a message that is not a JSON object", c->path);
        json_object_put(msg);
        return;
    }
    json_object *ev, *id;
    if (json_object_object_get_ex(msg, "event", &ev) && json_object_is_type(ev, json_type_string)) {
        json_object *data = NULL;
        json_object_object_get_ex(msg, "data", &data);
        if (c->event_fn && !c->freed)
            c->event_fn(c, json_object_get_string(ev), data, c->event_opaque);
    } else if (json_object_object_get_ex(msg, "id", &id) && json_object_is_type(id, json_type_int)) {
        gint64 key = json_object_get_int64(id);
        Call *call = g_hash_table_lookup(c->calls, &key);
        if (call) {
            json_object *ret = NULL;
            GError *err = NULL;
            if (proto_reply_decode(msg, &ret, &err))
                call_complete(call, ret, NULL);
            else
                call_complete(call, NULL, err);
            g_clear_error(&err);
        }
    }
    json_object_put(msg);
}

static void process_input(VmmProtoClient *c)
{
    while (!c->closed) {
        char *line = NULL;
        gsize len = 0;
        ProtoLineResult r = proto_linebuf_next(&c->in, &line, &len);
        if (r == PROTO_LINE_TOO_LONG) {
            client_fail(c, "the server sent a message longer than 1 MiB");
            return;
        }
        if (r == PROTO_LINE_NONE)
            return;
        handle_line(c, line, len);
        g_free(line);
    }
}

static gboolean client_ready(GIOCondition rev, gpointer data)
{
    VmmProtoClient *c = data;
    c->refs++;
    if ((rev & G_IO_OUT) && proto_outbuf_flush(&c->out, c->fd) < 0) {
        int e = errno;
        client_fail(c, g_strerror(e));
    }
    if (!c->closed && (rev & (G_IO_IN | G_IO_HUP | G_IO_ERR))) {
        gsize total = 0;
        while (!c->closed && total < READ_BUDGET) {
            guint8 buf[READ_CHUNK];
            ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n <= 0) {
                int e = n < 0 ? errno : 0;
                process_input(c);
                client_fail(c, e ? g_strerror(e) : "connection closed by the server");
                break;
            }
            total += (gsize)n;
            proto_linebuf_append(&c->in, buf, (gsize)n);
            process_input(c);
        }
    }
    client_update(c);
    client_unref(c);
    return G_SOURCE_CONTINUE;
}

static VmmProtoClient *client_new(int fd, const char *path)
{
    VmmProtoClient *c = g_new0(VmmProtoClient, 1);
    c->refs = 1;
    c->fd = fd;
    c->path = g_strdup(path);
    c->calls = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, NULL);
    c->next_id = 1;
    proto_linebuf_init(&c->in);
    proto_outbuf_init(&c->out);
    return c;
}

static void client_attach(VmmProtoClient *c, GMainContext *ctx)
{
    c->ctx = ctx ? g_main_context_ref(ctx) : g_main_context_ref(g_main_context_default());
    c->src = proto_fd_source_new(c->fd, G_IO_IN, client_ready, c, c->ctx);
}

VmmProtoClient *vmm_proto_client_connect(const char *path, GMainContext *ctx, GError **err)
{
    int fd = proto_connect_unix(path, GREETING_TIMEOUT_MS, err);
    if (fd < 0)
        return NULL;
    VmmProtoClient *c = client_new(fd, path);
    c->greeting = proto_read_greeting(fd, &c->in, path, GREETING_TIMEOUT_MS, err);
    if (!c->greeting || !proto_set_nonblocking(fd, true)) {
        if (c->greeting)
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: cannot make the socket "
                        "non-blocking", path);
        close(fd);
        c->fd = -1;
        client_unref(c);
        return NULL;
    }
    client_attach(c, ctx);
    /* Events may have followed the greeting in the same read. */
    process_input(c);
    return c;
}

VmmProtoClient *vmm_proto_client_connect_async(const char *path, GMainContext *ctx,
                                               GError **err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                    "socket path '%s' is too long", path);
        return NULL;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        int e = errno;
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e), "cannot create a socket: %s",
                    g_strerror(e));
        return NULL;
    }
    /* A non-blocking unix connect completes at once or fails at once
     * (EAGAIN: the listen backlog is full). */
    int r;
    do {
        r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        int e = errno;
        close(fd);
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e), "cannot connect to '%s': %s",
                    path, g_strerror(e));
        return NULL;
    }
    VmmProtoClient *c = client_new(fd, path);
    client_attach(c, ctx);
    return c;
}

json_object *vmm_proto_client_greeting(VmmProtoClient *c)
{
    return c->greeting;
}

static gboolean call_timeout(gpointer data)
{
    Call *call = data;
    GError *err = call->early;
    call->early = NULL;
    if (!err)
        err = g_error_new(G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                          "%s: no reply within %d ms", call->client->path, call->client->timeout_ms);
    /* The source is being dispatched: drop our reference, not destroy it. */
    g_source_unref(call->timer);
    call->timer = NULL;
    call_complete(call, NULL, err);
    g_error_free(err);
    return G_SOURCE_REMOVE;
}

void vmm_proto_client_call(VmmProtoClient *c, const char *cmd, json_object *args,
                           VmmProtoReplyFn fn, void *opaque)
{
    vmm_proto_client_call_fd(c, cmd, args, -1, fn, opaque);
}

void vmm_proto_client_call_fd(VmmProtoClient *c, const char *cmd, json_object *args, int fd,
                              VmmProtoReplyFn fn, void *opaque)
{
    Call *call = g_new0(Call, 1);
    call->id = c->next_id++;
    call->client = c;
    c->refs++;
    call->fn = fn;
    call->opaque = opaque;
    g_hash_table_insert(c->calls, &call->id, call);

    if (c->closed) {
        call->early = g_error_new(G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                                  "%s: not connected", c->path);
        json_object_put(args);
    } else {
        json_object *req = json_object_new_object();
        json_object_object_add(req, "execute", json_object_new_string(cmd));
        if (args)
            json_object_object_add(req, "arguments", args);
        json_object_object_add(req, "id", json_object_new_int64(call->id));
        gsize len;
        g_autofree char *text = proto_encode(req, &len);
        json_object_put(req);
        if (len - 1 > VMM_PROTO_MAX_MESSAGE) {
            call->early = g_error_new(G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                                      "request '%s' is larger than 1 MiB", cmd);
        } else if (proto_outbuf_len(&c->out) + len > VMM_PROTO_MAX_OUTPUT) {
            call->early = g_error_new(G_IO_ERROR, G_IO_ERROR_BUSY,
                                      "%s: the server is not reading its requests", c->path);
        } else {
            if (fd >= 0)
                proto_outbuf_append_fd(&c->out, text, len, fd);
            else
                proto_outbuf_append(&c->out, text, len);
            fd = -1;
            client_update(c);
        }
    }
    if (fd >= 0)
        close(fd);
    /* Errors are reported from an idle, never from inside this call. */
    if (call->early)
        call->timer = g_idle_source_new();
    else if (c->timeout_ms > 0)
        call->timer = g_timeout_source_new((guint)c->timeout_ms);
    if (call->timer) {
        g_source_set_callback(call->timer, call_timeout, call, NULL);
        g_source_attach(call->timer, c->ctx);
    }
}

void vmm_proto_client_set_timeout(VmmProtoClient *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
}

void vmm_proto_client_on_event(VmmProtoClient *c,
                               void (*fn)(VmmProtoClient *, const char *, json_object *, void *),
                               void *opaque)
{
    c->event_fn = fn;
    c->event_opaque = opaque;
}

void vmm_proto_client_on_close(VmmProtoClient *c, void (*fn)(VmmProtoClient *, void *),
                               void *opaque)
{
    c->close_fn = fn;
    c->close_opaque = opaque;
}

bool vmm_proto_client_is_connected(VmmProtoClient *c)
{
    return !c->closed;
}

void vmm_proto_client_free(VmmProtoClient *c)
{
    if (!c || c->freed)
        return;
    c->freed = true;
    client_disconnect(c);
    g_autofree char *msg = g_strdup_printf("%s: the connection was closed", c->path);
    c->refs++;
    fail_all_calls(c, G_IO_ERROR, G_IO_ERROR_CANCELLED, msg);
    client_unref(c);
    client_unref(c);
}
