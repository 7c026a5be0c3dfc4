/* Protocol pieces shared by the server and both clients. */
#include "config.h"
#include "proto/proto_int.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

G_DEFINE_QUARK(vmm-proto-error-quark, vmm_proto_error)

static const char *const class_names[] = {
    [VMM_PROTO_GENERIC_ERROR] = "GenericError",
    [VMM_PROTO_COMMAND_NOT_FOUND] = "CommandNotFound",
    [VMM_PROTO_INVALID_ARGUMENT] = "InvalidArgument",
    [VMM_PROTO_DOMAIN_NOT_FOUND] = "DomainNotFound",
    [VMM_PROTO_OPERATION_INVALID] = "OperationInvalid",
    [VMM_PROTO_PERMISSION_DENIED] = "PermissionDenied",
    [VMM_PROTO_INTERNAL_ERROR] = "InternalError",
    [VMM_PROTO_NETWORK_NOT_FOUND] = "NetworkNotFound",
};

const char *vmm_proto_error_class_name(VmmProtoErrorClass c)
{
    if ((unsigned)c >= G_N_ELEMENTS(class_names))
        return class_names[VMM_PROTO_GENERIC_ERROR];
    return class_names[c];
}

bool vmm_proto_error_class_from_name(const char *name, VmmProtoErrorClass *c)
{
    for (unsigned i = 0; name && i < G_N_ELEMENTS(class_names); i++) {
        if (strcmp(name, class_names[i]) == 0) {
            *c = (VmmProtoErrorClass)i;
            return true;
        }
    }
    *c = VMM_PROTO_GENERIC_ERROR;
    return false;
}

json_object *vmm_proto_set_error(GError **err, VmmProtoErrorClass cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(err, VMM_PROTO_ERROR, cls, msg);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* framing                                                                  */

void proto_linebuf_init(ProtoLineBuf *lb)
{
    lb->buf = g_byte_array_new();
    lb->head = lb->scan = 0;
}

void proto_linebuf_clear(ProtoLineBuf *lb)
{
    if (lb->buf)
        g_byte_array_unref(lb->buf);
    lb->buf = NULL;
    lb->head = lb->scan = 0;
}

void proto_linebuf_append(ProtoLineBuf *lb, const void *data, gsize len)
{
    /* Consumed lines are dropped here, once per read, not once per line. */
    if (lb->head > 0) {
        g_byte_array_remove_range(lb->buf, 0, (guint)lb->head);
        lb->scan -= lb->head;
        lb->head = 0;
    }
    g_byte_array_append(lb->buf, data, (guint)len);
}

gsize proto_linebuf_pending(const ProtoLineBuf *lb)
{
    return lb->buf->len - lb->head;
}

ProtoLineResult proto_linebuf_next(ProtoLineBuf *lb, char **line, gsize *len)
{
    const guint8 *data = lb->buf->data;
    gsize from = MAX(lb->scan, lb->head);
    const guint8 *nl = from < lb->buf->len
        ? memchr(data + from, '\n', lb->buf->len - from) : NULL;
    if (!nl) {
        lb->scan = lb->buf->len;
        return lb->buf->len - lb->head > VMM_PROTO_MAX_MESSAGE ? PROTO_LINE_TOO_LONG
                                                               : PROTO_LINE_NONE;
    }
    gsize n = (gsize)(nl - data) - lb->head;
    if (n > VMM_PROTO_MAX_MESSAGE)
        return PROTO_LINE_TOO_LONG;
    *line = g_strndup((const char *)data + lb->head, n);
    *len = n;
    lb->head += n + 1;
    lb->scan = lb->head;
    return PROTO_LINE_OK;
}

char *proto_linebuf_rest(ProtoLineBuf *lb, gsize *len)
{
    gsize n = lb->buf->len - lb->head;
    *len = 0;
    /* An empty GByteArray has data == NULL, and NULL + 0 is undefined in C
     * (UBSan: "applying zero offset to null pointer"). */
    if (n == 0)
        return NULL;
    const guint8 *d = lb->buf->data + lb->head;
    gsize i = 0;
    while (i < n && g_ascii_isspace(d[i]))
        i++;
    char *s = i < n && n <= VMM_PROTO_MAX_MESSAGE ? g_strndup((const char *)d, n) : NULL;
    *len = s ? n : 0;
    lb->head = lb->scan = lb->buf->len;   /* consumed either way */
    return s;
}

void proto_outbuf_init(ProtoOutBuf *ob)
{
    ob->buf = g_byte_array_new();
    ob->off = 0;
    ob->fds = NULL;
}

void proto_outbuf_clear(ProtoOutBuf *ob)
{
    if (ob->buf)
        g_byte_array_unref(ob->buf);
    ob->buf = NULL;
    ob->off = 0;
    for (guint i = 0; ob->fds && i < ob->fds->len; i++)
        close(g_array_index(ob->fds, ProtoOutFd, i).fd);
    if (ob->fds)
        g_array_unref(ob->fds);
    ob->fds = NULL;
}

gsize proto_outbuf_len(const ProtoOutBuf *ob)
{
    return ob->buf->len - ob->off;
}

void proto_outbuf_append(ProtoOutBuf *ob, const char *data, gsize len)
{
    /* Drop what was written once it is most of the buffer. */
    if (ob->off > 0 && ob->off >= ob->buf->len / 2) {
        g_byte_array_remove_range(ob->buf, 0, (guint)ob->off);
        for (guint i = 0; ob->fds && i < ob->fds->len; i++)
            g_array_index(ob->fds, ProtoOutFd, i).at -= ob->off;
        ob->off = 0;
    }
    g_byte_array_append(ob->buf, (const guint8 *)data, (guint)len);
}

void proto_outbuf_append_fd(ProtoOutBuf *ob, const char *data, gsize len, int fd)
{
    proto_outbuf_append(ob, data, len);
    if (!ob->fds)
        ob->fds = g_array_new(FALSE, FALSE, sizeof(ProtoOutFd));
    ProtoOutFd f = { ob->buf->len - len, fd };
    g_array_append_val(ob->fds, f);
}

/* One send(): the descriptor due at ob->off goes with it (and only up to
 * the next one's byte, so each arrives with its own message). */
static ssize_t outbuf_send(ProtoOutBuf *ob, int fd)
{
    gsize end = ob->buf->len;
    const ProtoOutFd *next = ob->fds && ob->fds->len ? &g_array_index(ob->fds, ProtoOutFd, 0)
                                                     : NULL;
    if (next && next->at > ob->off)
        end = next->at;
    else if (next && ob->fds->len > 1)
        end = g_array_index(ob->fds, ProtoOutFd, 1).at;
    struct iovec iov = { ob->buf->data + ob->off, end - ob->off };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } cm;
    bool with_fd = next && next->at == ob->off;
    if (with_fd) {
        memset(&cm, 0, sizeof(cm));
        mh.msg_control = cm.buf;
        mh.msg_controllen = sizeof(cm.buf);
        struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &next->fd, sizeof(int));
    }
    ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0 && with_fd) {
        close(next->fd);
        g_array_remove_index(ob->fds, 0);
    }
    return n;
}

int proto_outbuf_flush(ProtoOutBuf *ob, int fd)
{
    while (ob->off < ob->buf->len) {
        ssize_t n = outbuf_send(ob, fd);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        ob->off += (gsize)n;
    }
    g_byte_array_set_size(ob->buf, 0);
    ob->off = 0;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */

/* json-c reads NaN and Infinity even in strict mode; JSON has neither, and
 * what it would write back for them no JSON reader (nor json-c in strict
 * mode) takes. The tree is at most VMM_PROTO_JSON_DEPTH deep. */
static bool all_numbers_finite(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_double:
        return isfinite(json_object_get_double(o));
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            if (!all_numbers_finite(json_object_array_get_idx(o, i)))
                return false;
        return true;
    case json_type_object: {
        json_object_object_foreach(o, k, v) {
            (void)k;
            if (!all_numbers_finite(v))
                return false;
        }
        return true;
    }
    default:
        return true;
    }
}

json_object *proto_parse(const char *line, gsize len, GError **err)
{
    if (memchr(line, '\0', len)) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                            "message contains a NUL byte; JSON text expected");
        return NULL;
    }
    if (!g_utf8_validate(line, (gssize)len, NULL)) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                            "message is not valid UTF-8");
        return NULL;
    }
    json_tokener *tok = json_tokener_new_ex(VMM_PROTO_JSON_DEPTH);
    if (!tok) {
        vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    /* Include the terminating NUL so a bare number at the end is complete;
     * strict mode then refuses anything after the value. */
    json_object *o = json_tokener_parse_ex(tok, line, (int)len + 1);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (e != json_tokener_success) {
        json_object_put(o);
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                            "invalid JSON at byte %zu: %s", end,
                            json_tokener_error_desc(e));
        return NULL;
    }
    if (!all_numbers_finite(o)) {
        json_object_put(o);
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                            "invalid JSON: NaN and Infinity are not JSON numbers");
        return NULL;
    }
    return o;   /* may be NULL for the JSON text "null" */
}

char *proto_encode(json_object *o, gsize *len)
{
    size_t n = 0;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *out = g_malloc(n + 2);
    memcpy(out, s, n);
    out[n] = '\n';
    out[n + 1] = '\0';
    *len = n + 1;
    return out;
}

static json_object *version_object(void)
{
    unsigned major = 0, minor = 0, micro = 0;
    sscanf(PACKAGE_VERSION, "%u.%u.%u", &major, &minor, &micro);
    json_object *v = json_object_new_object();
    json_object_object_add(v, "major", json_object_new_int((int)major));
    json_object_object_add(v, "minor", json_object_new_int((int)minor));
    json_object_object_add(v, "micro", json_object_new_int((int)micro));
    return v;
}

json_object *proto_greeting_new(const char *key, bool read_only)
{
    json_object *inner = json_object_new_object();
    json_object_object_add(inner, "version", version_object());
    g_autofree char *package = g_strdup_printf("%s %s", key, PACKAGE_VERSION);
    json_object_object_add(inner, "package", json_object_new_string(package));
    json_object_object_add(inner, "capabilities", json_object_new_array());
    json_object_object_add(inner, "read_only", json_object_new_boolean(read_only));
    json_object *g = json_object_new_object();
    json_object_object_add(g, key, inner);
    return g;
}

json_object *proto_event_new(const char *event, json_object *data)
{
    gint64 now = g_get_real_time();
    json_object *ts = json_object_new_object();
    json_object_object_add(ts, "seconds", json_object_new_int64(now / G_USEC_PER_SEC));
    json_object_object_add(ts, "microseconds", json_object_new_int64(now % G_USEC_PER_SEC));
    json_object *o = json_object_new_object();
    json_object_object_add(o, "event", json_object_new_string(event));
    json_object_object_add(o, "data", data ? data : json_object_new_object());
    json_object_object_add(o, "timestamp", ts);
    return o;
}

static const char *json_type_label(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_null: return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double:
    case json_type_int: return "a number";
    case json_type_string: return "a string";
    case json_type_array: return "an array";
    case json_type_object: return "an object";
    }
    return "unknown";
}

bool proto_request_check(json_object *req, json_object **id, bool *has_id, const char **name,
                         json_object **args, VmmProtoErrorClass *code, char **msg)
{
    *id = NULL;
    *has_id = false;
    *args = NULL;
    *code = VMM_PROTO_INVALID_ARGUMENT;
    if (!json_object_is_type(req, json_type_object)) {
        *msg = g_strdup_printf("a request must be a JSON object {\"execute\": NAME, ...}, not %s",
                               json_type_label(req));
        return false;
    }
    json_object *exec = NULL;
    *has_id = json_object_object_get_ex(req, "id", id);
    json_object_object_foreach(req, key, val) {
        (void)val;
        if (strcmp(key, "execute") && strcmp(key, "arguments") && strcmp(key, "id")) {
            *msg = g_strdup_printf(
                "unexpected member '%s' in the request (expected execute, arguments, id)", key);
            return false;
        }
    }
    if (!json_object_object_get_ex(req, "execute", &exec) ||
        !json_object_is_type(exec, json_type_string)) {
        *msg = g_strdup("the request has no \"execute\" string naming the command");
        return false;
    }
    if (json_object_object_get_ex(req, "arguments", args) && *args &&
        !json_object_is_type(*args, json_type_object)) {
        *msg = g_strdup_printf("\"arguments\" must be an object, not %s", json_type_label(*args));
        return false;
    }
    *name = json_object_get_string(exec);
    return true;
}

bool proto_greeting_check(json_object *g, const char *path, GError **err)
{
    json_object *e = NULL, *desc = NULL;
    /* A server over its connection limits sends an error instead. */
    if (json_object_is_type(g, json_type_object) && json_object_object_get_ex(g, "error", &e) &&
        json_object_object_get_ex(e, "desc", &desc)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
                    "%s: the server refused the connection: %s", path,
                    json_object_get_string(desc));
        return false;
    }
    if (json_object_is_type(g, json_type_object) && json_object_object_length(g) == 1) {
        json_object_object_foreach(g, key, val) {
            (void)key;
            if (json_object_is_type(val, json_type_object))
                return true;
        }
    }
    g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                "%s: the server's greeting is not a vmmd protocol greeting", path);
    return false;
}

bool proto_reply_decode(json_object *reply, json_object **ret, GError **err)
{
    json_object *e;
    if (json_object_object_get_ex(reply, "return", ret))
        return true;
    if (json_object_object_get_ex(reply, "error", &e) &&
        json_object_is_type(e, json_type_object)) {
        json_object *cls = NULL, *desc = NULL;
        json_object_object_get_ex(e, "class", &cls);
        json_object_object_get_ex(e, "desc", &desc);
        VmmProtoErrorClass c;
        vmm_proto_error_class_from_name(json_object_get_string(cls), &c);
        g_set_error_literal(err, VMM_PROTO_ERROR, c,
                            desc && json_object_get_string(desc)
                                ? json_object_get_string(desc) : "error without a description");
        return false;
    }
    g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                "reply has neither \"return\" nor \"error\"");
    return false;
}

/* ------------------------------------------------------------------------ */
/* fd source                                                                */

typedef struct {
    GSource base;
    gpointer tag;
} ProtoFdSource;

static gboolean fd_source_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
    ProtoFdSource *fs = (ProtoFdSource *)s;
    GIOCondition rev = g_source_query_unix_fd(s, fs->tag);
    return ((ProtoFdFunc)(void (*)(void))cb)(rev, data);
}

static GSourceFuncs fd_source_funcs = { .dispatch = fd_source_dispatch };

GSource *proto_fd_source_new(int fd, GIOCondition cond, ProtoFdFunc fn, gpointer data,
                             GMainContext *ctx)
{
    GSource *s = g_source_new(&fd_source_funcs, sizeof(ProtoFdSource));
    ((ProtoFdSource *)s)->tag = g_source_add_unix_fd(s, fd, cond);
    g_source_set_callback(s, (GSourceFunc)(void (*)(void))fn, data, NULL);
    g_source_attach(s, ctx);
    return s;
}

void proto_fd_source_set(GSource *src, GIOCondition cond)
{
    g_source_modify_unix_fd(src, ((ProtoFdSource *)src)->tag, cond);
}

/* ------------------------------------------------------------------------ */
/* connecting                                                               */

bool proto_set_nonblocking(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return false;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) == 0;
}

int proto_connect_unix(const char *path, int timeout_ms, GError **err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                    "socket path '%s' is longer than %zu bytes", path,
                    sizeof(sa.sun_path) - 1);
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e),
                    "cannot create a socket: %s", g_strerror(e));
        return -1;
    }
    /* A unix connect blocks only while the listen backlog is full; the
     * send timeout bounds that wait. */
    if (timeout_ms > 0) {
        struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    int r;
    do {
        r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        int e = errno;
        close(fd);
        if (e == EAGAIN || e == EWOULDBLOCK)
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "cannot connect to '%s': the server is not accepting connections", path);
        else
            g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e),
                        "cannot connect to '%s': %s", path, g_strerror(e));
        return -1;
    }
    struct timeval zero = { 0 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero));
    return fd;
}

json_object *proto_read_greeting(int fd, ProtoLineBuf *lb, const char *path,
                                 int timeout_ms, GError **err)
{
    gint64 deadline = timeout_ms > 0 ? g_get_monotonic_time() + (gint64)timeout_ms * 1000 : -1;
    for (;;) {
        char *line = NULL;
        gsize len = 0;
        ProtoLineResult r = proto_linebuf_next(lb, &line, &len);
        if (r == PROTO_LINE_TOO_LONG) {
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                        "%s: the server's greeting is longer than %d bytes", path,
                        VMM_PROTO_MAX_MESSAGE);
            return NULL;
        }
        if (r == PROTO_LINE_OK) {
            g_autoptr(GError) perr = NULL;
            json_object *g = proto_parse(line, len, &perr);
            g_free(line);
            if (!g) {
                g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                            "%s: the server's greeting is not a vmmd protocol greeting", path);
                return NULL;
            }
            if (!proto_greeting_check(g, path, err)) {
                json_object_put(g);
                return NULL;
            }
            return g;
        }
        int wait = -1;
        if (deadline >= 0) {
            gint64 left = deadline - g_get_monotonic_time();
            if (left <= 0) {
                g_set_error(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                            "%s: no greeting from the server within %d ms", path, timeout_ms);
                return NULL;
            }
            wait = (int)((left + 999) / 1000);
        }
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int pr = poll(&pfd, 1, wait);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;   /* the deadline check above reports the timeout */
        guint8 buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : 0;
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                        "%s: the server closed the connection before its greeting%s%s", path,
                        e ? ": " : "", e ? g_strerror(e) : "");
            return NULL;
        }
        proto_linebuf_append(lb, buf, (gsize)n);
    }
}
