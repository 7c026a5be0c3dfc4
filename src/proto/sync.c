/* Blocking protocol client for vmmctl, tests and benchmarks: one request
 * at a time, every wait bounded by the timeout, events queued while a
 * reply is awaited. */
#include "config.h"
#include "proto/proto_int.h"

#include <errno.h>
#include <gio/gio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct VmmProtoSync {
    int fd;
    char *path;
    int timeout_ms;
    ProtoLineBuf in;
    json_object *greeting;
    GQueue events;
    gint64 next_id;
    bool broken;           /* framing lost or connection gone */
};

static gint64 deadline_for(int timeout_ms)
{
    return timeout_ms > 0 ? g_get_monotonic_time() + (gint64)timeout_ms * 1000 : -1;
}

/* Milliseconds left until deadline for poll(); -1 forever, 0 expired. */
static int ms_left(gint64 deadline)
{
    if (deadline < 0)
        return -1;
    gint64 left = deadline - g_get_monotonic_time();
    return left <= 0 ? 0 : (int)MIN((left + 999) / 1000, G_MAXINT);
}

static bool wait_fd(VmmProtoSync *s, short events, gint64 deadline, GError **err)
{
    for (;;) {
        struct pollfd pfd = { .fd = s->fd, .events = events };
        /* Polls at least once, so an expired deadline still sees ready data. */
        int r = poll(&pfd, 1, ms_left(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e), "%s: poll: %s", s->path,
                        g_strerror(e));
            return false;
        }
        if (r > 0)
            return true;
        if (deadline >= 0 && ms_left(deadline) == 0) {
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "%s: no answer from the server within %d ms", s->path, s->timeout_ms);
            return false;
        }
    }
}

static bool fail_broken(VmmProtoSync *s, GError **err)
{
    g_set_error(err, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                "%s: the connection to the server is closed", s->path);
    return false;
}

/* The next message object from the server. */
static json_object *read_message(VmmProtoSync *s, gint64 deadline, GError **err)
{
    if (s->broken) {
        fail_broken(s, err);
        return NULL;
    }
    for (;;) {
        char *line = NULL;
        gsize len = 0;
        ProtoLineResult r = proto_linebuf_next(&s->in, &line, &len);
        if (r == PROTO_LINE_TOO_LONG) {
            s->broken = true;
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                        "%s: the server sent a message longer than 1 MiB", s->path);
            return NULL;
        }
        if (r == PROTO_LINE_OK) {
            json_object *o = proto_parse(line, len, NULL);
            g_free(line);
            if (json_object_is_type(o, json_type_object))
                return o;
            json_object_put(o);    /* not a protocol message: skip it */
            continue;
        }
        if (!wait_fd(s, POLLIN, deadline, err))
            return NULL;
        guint8 buf[65536];
        ssize_t n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n <= 0) {
            s->broken = true;
            int e = n < 0 ? errno : 0;
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                        "%s: the server closed the connection%s%s", s->path, e ? ": " : "",
                        e ? g_strerror(e) : "");
            return NULL;
        }
        proto_linebuf_append(&s->in, buf, (gsize)n);
    }
}

/* fd >= 0 goes with the first byte (SCM_RIGHTS) and is closed. */
static bool write_all(VmmProtoSync *s, const char *data, gsize len, int fd, gint64 deadline,
                      GError **err)
{
    ProtoOutBuf ob;
    proto_outbuf_init(&ob);
    if (fd >= 0)
        proto_outbuf_append_fd(&ob, data, len, fd);
    else
        proto_outbuf_append(&ob, data, len);
    bool ok = true;
    for (;;) {
        int r = proto_outbuf_flush(&ob, s->fd);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 && (ok = wait_fd(s, POLLOUT, deadline, err)))
            continue;
        if (r < 0) {
            int e = errno;
            s->broken = true;
            g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e), "%s: cannot send: %s",
                        s->path, g_strerror(e));
            ok = false;
        }
        break;
    }
    proto_outbuf_clear(&ob);
    return ok;
}

VmmProtoSync *vmm_proto_sync_connect(const char *path, int timeout_ms, GError **err)
{
    int fd = proto_connect_unix(path, timeout_ms, err);
    if (fd < 0)
        return NULL;
    VmmProtoSync *s = g_new0(VmmProtoSync, 1);
    s->fd = fd;
    s->path = g_strdup(path);
    s->timeout_ms = timeout_ms;
    s->next_id = 1;
    proto_linebuf_init(&s->in);
    g_queue_init(&s->events);
    s->greeting = proto_read_greeting(fd, &s->in, path, timeout_ms, err);
    if (!s->greeting) {
        vmm_proto_sync_free(s);
        return NULL;
    }
    return s;
}

void vmm_proto_sync_set_timeout(VmmProtoSync *s, int timeout_ms)
{
    s->timeout_ms = timeout_ms;
}

json_object *vmm_proto_sync_greeting(VmmProtoSync *s)
{
    return s->greeting;
}

json_object *vmm_proto_sync_call(VmmProtoSync *s, const char *cmd, json_object *args,
                                 GError **err)
{
    return vmm_proto_sync_call_fd(s, cmd, args, -1, err);
}

json_object *vmm_proto_sync_call_fd(VmmProtoSync *s, const char *cmd, json_object *args,
                                    int fd, GError **err)
{
    if (s->broken) {
        if (fd >= 0)
            close(fd);
        json_object_put(args);
        fail_broken(s, err);
        return NULL;
    }
    gint64 deadline = deadline_for(s->timeout_ms);
    gint64 id = s->next_id++;
    json_object *req = json_object_new_object();
    json_object_object_add(req, "execute", json_object_new_string(cmd));
    if (args)
        json_object_object_add(req, "arguments", args);
    json_object_object_add(req, "id", json_object_new_int64(id));
    gsize len;
    g_autofree char *text = proto_encode(req, &len);
    json_object_put(req);
    if (len - 1 > VMM_PROTO_MAX_MESSAGE) {
        if (fd >= 0)
            close(fd);
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                    "request '%s' is larger than the protocol's 1 MiB limit", cmd);
        return NULL;
    }
    if (!write_all(s, text, len, fd, deadline, err))
        return NULL;
    for (;;) {
        json_object *msg = read_message(s, deadline, err);
        if (!msg)
            return NULL;
        json_object *v;
        if (json_object_object_get_ex(msg, "event", &v)) {
            g_queue_push_tail(&s->events, msg);
            continue;
        }
        if (!json_object_object_get_ex(msg, "id", &v) || !json_object_is_type(v, json_type_int) ||
            json_object_get_int64(v) != id) {
            /* A reply to an earlier request given up on, or an id-less
             * error about a line we never sent: not ours. */
            json_object_put(msg);
            continue;
        }
        json_object *ret = NULL;
        json_object *result = NULL;
        if (proto_reply_decode(msg, &ret, err))
            result = ret ? json_object_get(ret) : json_object_new_object();
        json_object_put(msg);
        return result;
    }
}

json_object *vmm_proto_sync_next_event(VmmProtoSync *s, int timeout_ms, GError **err)
{
    if (s->events.length)
        return g_queue_pop_head(&s->events);
    gint64 deadline = timeout_ms >= 0 ? g_get_monotonic_time() + (gint64)timeout_ms * 1000 : -1;
    for (;;) {
        GError *lerr = NULL;
        json_object *msg = read_message(s, deadline, &lerr);
        if (!msg) {
            if (g_error_matches(lerr, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
                g_error_free(lerr);
                g_set_error(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                            "%s: no event within %d ms", s->path, timeout_ms);
            } else {
                g_propagate_error(err, lerr);
            }
            return NULL;
        }
        json_object *v;
        if (json_object_object_get_ex(msg, "event", &v))
            return msg;
        json_object_put(msg);   /* a late reply: nobody waits for it */
    }
}

int vmm_proto_sync_fd(VmmProtoSync *s)
{
    return s->fd;
}

void vmm_proto_sync_free(VmmProtoSync *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    proto_linebuf_clear(&s->in);
    json_object_put(s->greeting);
    json_object *ev;
    while ((ev = g_queue_pop_head(&s->events)))
        json_object_put(ev);
    g_free(s->path);
    g_free(s);
}
