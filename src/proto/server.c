/* Protocol server: listeners and connections on a GLib main context.
 *
 * Every connection is non-blocking with a bounded input line and a bounded
 * output queue, so a hostile or stuck client costs at most a few MiB and
 * never delays anyone else. While a client has more than one message's
 * worth of replies queued, its further requests wait in its own input
 * buffer (back-pressure); events are never held back, so a client that
 * never reads is disconnected once its output cap is queued, or when its
 * queued output has not moved for the output timeout. Read-write and
 * read-only listeners have separate connection limits (and read-only ones
 * a limit per uid), so a local user cannot take root's slots. */
#include "config.h"
#include "proto/proto_int.h"

#include <errno.h>
#include <gio/gio.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define G_LOG_DOMAIN_PROTO "vmm-proto"
#define READ_CHUNK (64 * 1024)
#define READ_BUDGET (256 * 1024)    /* per wake-up, so one client cannot hog the loop */
#define ACCEPT_BUDGET 64
#define ACCEPT_PAUSE_MS 100         /* out of fds: retry later instead of spinning */

typedef struct {
    VmmProtoServer *server;
    int fd;
    bool read_only;
    char *path;          /* socket file we created, removed at the end */
    dev_t dev;
    ino_t ino;
    GSource *src;
    GSource *retry;
} Listener;

struct VmmProtoServer {
    char *key;
    const VmmProtoCommand *cmds;
    void *opaque;
    GMainContext *ctx;
    GPtrArray *listeners;
    GQueue conns;
    VmmProtoLimits limits;
    guint n_rw, n_ro;           /* open connections per socket kind */
    GHashTable *ro_uids;        /* uid -> read-only connections it holds */
    GSource *sweep;             /* idle and output timeouts; NULL when both are off */
    gint64 refusal_logged;      /* refusals are logged at most once a second */
    guint refusals_unlogged;
};

struct VmmProtoConn {
    int refs;
    VmmProtoServer *server;     /* NULL once closed */
    GList link;                 /* in server->conns */
    int fd;
    bool read_only;
    bool have_cred;
    struct ucred cred;
    guint uid_key;              /* in server->ro_uids (read-only connections only) */
    gint64 last_request;        /* monotonic: accept or the last complete line */
    gint64 out_since;           /* monotonic: queue became non-empty or last moved */
    GSource *src;
    ProtoLineBuf in;
    ProtoOutBuf out;
    bool eof;                   /* no more input: peer shut down, or refused */
    bool closing;               /* close as soon as the output is written */
    bool closed;
    guint deferred;             /* pendings not answered yet */
    bool in_handler;
    bool handler_deferred;
    json_object *cur_id;        /* the running request's id (borrowed) */
    VmmProtoLocalFn local_fn;   /* a caller in the process (vmm_proto_server_call), no fd */
    void *local_opaque;
    /* Descriptors received (SCM_RIGHTS), each with the input offset of the
     * last byte of the read that brought it: the kernel ends a read with
     * the message that carries descriptors, so that byte lies in the
     * request they came with. A request's handler may take them; what it
     * leaves is closed once the request is done. */
    GArray *fds_in;             /* RecvFd */
    guint64 received;           /* input bytes read so far */
    guint64 consumed;           /* input bytes of the lines handled */
    guint64 line_end;           /* offset of the running request's "\n" */
    bool in_line;               /* a request line is being handled */
};

typedef struct {
    guint64 at;
    int fd;
} RecvFd;

struct VmmProtoPending {
    VmmProtoConn *conn;
    json_object *id;
    bool has_id;
};

static void conn_update(VmmProtoConn *c);
static void conn_process(VmmProtoConn *c);

static void plog(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void plog(const char *fmt, ...)
{
    /* Misbehaving clients are routine, so this is debug level: the daemon
     * shows it with --verbose, and tests treating warnings as fatal stay
     * quiet. */
    va_list ap;
    va_start(ap, fmt);
    g_logv(G_LOG_DOMAIN_PROTO, G_LOG_LEVEL_DEBUG, fmt, ap);
    va_end(ap);
}

/* Closes the received descriptors that came with input up to offset to. */
static void conn_drop_fds(VmmProtoConn *c, guint64 to)
{
    while (c->fds_in && c->fds_in->len && g_array_index(c->fds_in, RecvFd, 0).at <= to) {
        plog("client fd %d: closing descriptor %d that its request did not take", c->fd,
             g_array_index(c->fds_in, RecvFd, 0).fd);
        close(g_array_index(c->fds_in, RecvFd, 0).fd);
        g_array_remove_index(c->fds_in, 0);
    }
}

int vmm_proto_conn_take_fd(VmmProtoConn *c)
{
    if (!c->in_handler || !c->fds_in || !c->fds_in->len)
        return -1;
    RecvFd f = g_array_index(c->fds_in, RecvFd, 0);
    /* only one of this request's, never a later one's */
    if (f.at < c->consumed || f.at > c->line_end)
        return -1;
    g_array_remove_index(c->fds_in, 0);
    return f.fd;
}

/* recv() that also takes the descriptors sent along (close-on-exec). */
static ssize_t conn_recv(VmmProtoConn *c, guint8 *buf, gsize size)
{
    union {
        char buf[CMSG_SPACE(PROTO_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } cm;
    struct iovec iov = { buf, size };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
                         .msg_controllen = sizeof(cm.buf) };
    ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0)
        return n;
    c->received += (guint64)n;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
            continue;
        gsize nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (gsize i = 0; i < nfd; i++) {
            RecvFd f = { c->received - 1, -1 };
            memcpy(&f.fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
            if (!c->fds_in)
                c->fds_in = g_array_new(FALSE, FALSE, sizeof(RecvFd));
            g_array_append_val(c->fds_in, f);
        }
    }
    if (mh.msg_flags & MSG_CTRUNC)
        plog("client fd %d sent more than %d descriptors at once; the rest were dropped",
             c->fd, PROTO_MAX_FDS);
    return n;
}

static VmmProtoConn *conn_ref(VmmProtoConn *c)
{
    c->refs++;
    return c;
}

static void conn_unref(VmmProtoConn *c)
{
    if (--c->refs > 0)
        return;
    proto_linebuf_clear(&c->in);
    proto_outbuf_clear(&c->out);
    conn_drop_fds(c, G_MAXUINT64);
    if (c->fds_in)
        g_array_unref(c->fds_in);
    g_free(c);
}

static void conn_close(VmmProtoConn *c, const char *why)
{
    if (c->closed)
        return;
    plog("client fd %d (pid %d, uid %d): closing: %s", c->fd,
         c->have_cred ? (int)c->cred.pid : -1, c->have_cred ? (int)c->cred.uid : -1, why);
    c->closed = true;
    g_source_destroy(c->src);
    g_source_unref(c->src);
    c->src = NULL;
    close(c->fd);
    c->fd = -1;
    if (c->server) {
        VmmProtoServer *s = c->server;
        g_queue_unlink(&s->conns, &c->link);
        if (c->read_only) {
            s->n_ro--;
            gpointer key = GUINT_TO_POINTER(c->uid_key);
            guint n = GPOINTER_TO_UINT(g_hash_table_lookup(s->ro_uids, key));
            if (n > 1)
                g_hash_table_insert(s->ro_uids, key, GUINT_TO_POINTER(n - 1));
            else
                g_hash_table_remove(s->ro_uids, key);
        } else {
            s->n_rw--;
        }
        c->server = NULL;
    }
    conn_unref(c);    /* the server's reference */
}

/* Closing a client for breaking a limit is worth telling the operator
 * (info level), with who it was. */
static void conn_policy_close(VmmProtoConn *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void conn_policy_close(VmmProtoConn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_log(G_LOG_DOMAIN_PROTO, G_LOG_LEVEL_INFO,
          "closing %s client (pid %d, uid %d): %s", c->read_only ? "read-only" : "read-write",
          c->have_cred ? (int)c->cred.pid : -1, c->have_cred ? (int)c->cred.uid : -1, why);
    conn_close(c, why);
}

/* Queues one encoded message; false if the connection was closed. */
static bool conn_queue(VmmProtoConn *c, const char *data, gsize len)
{
    if (c->closed)
        return false;
    gsize queued = proto_outbuf_len(&c->out);
    if (queued > 0 && queued + len > c->server->limits.max_output) {
        conn_policy_close(c, "output queue full (%" G_GSIZE_FORMAT " bytes unread): the "
                          "client does not read its replies", queued);
        return false;
    }
    bool was_empty = queued == 0;
    if (was_empty)
        c->out_since = g_get_monotonic_time();
    proto_outbuf_append(&c->out, data, len);
    if (was_empty && proto_outbuf_flush(&c->out, c->fd) < 0) {
        int e = errno;
        conn_close(c, g_strerror(e));
        return false;
    }
    conn_update(c);
    return true;
}

static void conn_send(VmmProtoConn *c, json_object *msg)
{
    gsize len;
    g_autofree char *text = proto_encode(msg, &len);
    conn_queue(c, text, len);
}

/* The answer to the request being handled: the descriptors it left are
 * closed before the client can see the reply. */
static void conn_reply_starts(VmmProtoConn *c)
{
    if (c->in_line)
        conn_drop_fds(c, c->line_end);
}

static void conn_send_reply(VmmProtoConn *c, json_object *id, bool has_id,
                            json_object *ret /* consumed */)
{
    conn_reply_starts(c);
    if (c->local_fn) {
        json_object *r = ret ? ret : json_object_new_object();
        c->local_fn(r, NULL, c->local_opaque);
        json_object_put(r);
        return;
    }
    json_object *msg = json_object_new_object();
    json_object_object_add(msg, "return", ret ? ret : json_object_new_object());
    if (has_id)
        json_object_object_add(msg, "id", json_object_get(id));
    gsize len;
    g_autofree char *text = proto_encode(msg, &len);
    json_object_put(msg);
    if (len - 1 > VMM_PROTO_MAX_MESSAGE) {
        /* The peer would refuse it anyway; say why instead. */
        json_object *e = json_object_new_object();
        json_object *body = json_object_new_object();
        json_object_object_add(body, "class", json_object_new_string("InternalError"));
        json_object_object_add(body, "desc", json_object_new_string(
            "the reply is larger than the protocol's 1 MiB message limit"));
        json_object_object_add(e, "error", body);
        if (has_id)
            json_object_object_add(e, "id", json_object_get(id));
        conn_send(c, e);
        json_object_put(e);
        return;
    }
    conn_queue(c, text, len);
}

static void conn_send_error(VmmProtoConn *c, json_object *id, bool has_id,
                            VmmProtoErrorClass cls, const char *desc)
{
    conn_reply_starts(c);
    if (c->local_fn) {
        GError *e = g_error_new_literal(VMM_PROTO_ERROR, cls, desc);
        c->local_fn(NULL, e, c->local_opaque);
        g_error_free(e);
        return;
    }
    json_object *body = json_object_new_object();
    json_object_object_add(body, "class", json_object_new_string(vmm_proto_error_class_name(cls)));
    json_object_object_add(body, "desc", json_object_new_string(desc));
    json_object *msg = json_object_new_object();
    json_object_object_add(msg, "error", body);
    if (has_id)
        json_object_object_add(msg, "id", json_object_get(id));
    conn_send(c, msg);
    json_object_put(msg);
}

/* A request line waits while more than one message of output is queued. */
static bool conn_backlogged(VmmProtoConn *c)
{
    return proto_outbuf_len(&c->out) > VMM_PROTO_MAX_MESSAGE;
}

static void conn_maybe_finish(VmmProtoConn *c)
{
    if (c->closed || proto_outbuf_len(&c->out) > 0)
        return;
    if (c->closing || (c->eof && c->deferred == 0 && proto_linebuf_pending(&c->in) == 0))
        conn_close(c, c->closing ? "after an error" : "end of input");
}

static void conn_update(VmmProtoConn *c)
{
    if (c->closed)
        return;
    GIOCondition cond = 0;
    if (!c->eof && !c->closing && !conn_backlogged(c))
        cond |= G_IO_IN;
    if (proto_outbuf_len(&c->out) > 0)
        cond |= G_IO_OUT;
    proto_fd_source_set(c->src, cond);
}

static const VmmProtoCommand *find_command(VmmProtoServer *s, const char *name)
{
    for (const VmmProtoCommand *cmd = s->cmds; cmd && cmd->name; cmd++)
        if (strcmp(cmd->name, name) == 0)
            return cmd;
    return NULL;
}

static json_object *builtin_query_version(VmmProtoConn *c, json_object *args, void *opaque,
                                          GError **err)
{
    json_object *g = proto_greeting_new(c->server->key, false);
    json_object *inner = json_object_get(json_object_object_get(g, c->server->key));
    json_object_put(g);
    json_object_object_del(inner, "capabilities");
    json_object_object_del(inner, "read_only");
    return inner;
}

static const VmmProtoCommand builtins[] = {
    { "query-version", true, builtin_query_version },
    { "query-commands", true, NULL },   /* handled inline: needs the table */
    { NULL },
};

static json_object *query_commands(VmmProtoConn *c)
{
    json_object *list = json_object_new_array();
    GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
    for (int pass = 0; pass < 2; pass++) {
        const VmmProtoCommand *t = pass == 0 ? c->server->cmds : builtins;
        for (const VmmProtoCommand *cmd = t; t && cmd->name; cmd++) {
            if ((c->read_only && !cmd->read_only_ok) || g_hash_table_contains(seen, cmd->name))
                continue;
            g_hash_table_add(seen, (gpointer)cmd->name);
            json_object *o = json_object_new_object();
            json_object_object_add(o, "name", json_object_new_string(cmd->name));
            json_object_array_add(list, o);
        }
    }
    g_hash_table_destroy(seen);
    return list;
}

static void conn_dispatch(VmmProtoConn *c, const char *name, json_object *args, json_object *id,
                          bool has_id);

static void conn_handle_line_at(VmmProtoConn *c, const char *line, gsize len);

/* A request, with the descriptors that came with it. */
static void conn_handle_line(VmmProtoConn *c, const char *line, gsize len)
{
    c->line_end = c->consumed + len;
    c->in_line = true;
    conn_handle_line_at(c, line, len);
    c->in_line = false;
    c->consumed += len + 1;
    conn_drop_fds(c, c->consumed - 1);
}

static void conn_handle_line_at(VmmProtoConn *c, const char *line, gsize len)
{
    c->last_request = g_get_monotonic_time();
    g_autoptr(GError) err = NULL;
    json_object *req = proto_parse(line, len, &err);
    if (err) {
        conn_send_error(c, NULL, false, err->code, err->message);
        return;
    }
    json_object *id = NULL, *args = NULL;
    bool has_id = false;
    const char *name = NULL;
    VmmProtoErrorClass code;
    g_autofree char *why = NULL;
    if (!proto_request_check(req, &id, &has_id, &name, &args, &code, &why)) {
        conn_send_error(c, id, has_id, code, why);
        json_object_put(req);
        return;
    }
    conn_dispatch(c, name, args, id, has_id);
    json_object_put(req);
}

/* Finds the command, checks the connection's rights, runs the handler
 * and sends (or defers) its answer. */
static void conn_dispatch(VmmProtoConn *c, const char *name, json_object *args, json_object *id,
                          bool has_id)
{
    g_autoptr(GError) err = NULL;
    const VmmProtoCommand *cmd = find_command(c->server, name);
    if (!cmd) {
        for (const VmmProtoCommand *b = builtins; b->name; b++)
            if (strcmp(b->name, name) == 0)
                cmd = b;
    }
    if (!cmd) {
        g_autofree char *shown = g_strescape(name, NULL);
        g_autofree char *msg = g_strdup_printf(
            "unknown command '%.100s'; query-commands lists the commands", shown);
        conn_send_error(c, id, has_id, VMM_PROTO_COMMAND_NOT_FOUND, msg);
        return;
    }
    if (c->read_only && !cmd->read_only_ok) {
        g_autofree char *msg = g_strdup_printf(
            "command '%s' is not allowed on a read-only connection; "
            "use the read-write socket", name);
        conn_send_error(c, id, has_id, VMM_PROTO_PERMISSION_DENIED, msg);
        return;
    }
    if (!cmd->handler) {
        conn_send_reply(c, id, has_id, query_commands(c));
        return;
    }

    conn_ref(c);
    c->in_handler = true;
    c->handler_deferred = false;
    c->cur_id = has_id ? id : NULL;
    json_object *ret = cmd->handler(c, args, c->server->opaque, &err);
    bool deferred = c->handler_deferred;
    c->in_handler = false;
    c->cur_id = NULL;
    if (ret == VMM_PROTO_DEFERRED) {
        if (!deferred)
            conn_send_error(c, id, has_id, VMM_PROTO_INTERNAL_ERROR,
                            "the command deferred its reply without a pending request");
    } else if (deferred) {
        /* A handler that deferred must answer through the pending. */
        json_object_put(ret);
    } else if (!ret && err) {
        VmmProtoErrorClass cls = err->domain == VMM_PROTO_ERROR ? (VmmProtoErrorClass)err->code
                                                                 : VMM_PROTO_GENERIC_ERROR;
        conn_send_error(c, id, has_id, cls, err->message);
    } else {
        conn_send_reply(c, id, has_id, ret);
    }
    conn_unref(c);
}

/* Handles complete lines while the client keeps up with its replies. */
static void conn_process(VmmProtoConn *c)
{
    conn_ref(c);
    while (!c->closed && !c->closing && !conn_backlogged(c)) {
        char *line = NULL;
        gsize len = 0;
        ProtoLineResult r = proto_linebuf_next(&c->in, &line, &len);
        if (r == PROTO_LINE_TOO_LONG) {
            conn_send_error(c, NULL, false, VMM_PROTO_INVALID_ARGUMENT,
                            "message longer than 1048576 bytes; closing the connection");
            c->closing = true;
            /* Nothing more will be read; drop what is buffered. */
            g_byte_array_set_size(c->in.buf, 0);
            c->in.head = c->in.scan = 0;
            break;
        }
        if (r == PROTO_LINE_NONE) {
            if (c->eof) {
                line = proto_linebuf_rest(&c->in, &len);
                if (line) {
                    conn_handle_line(c, line, len);
                    g_free(line);
                }
            }
            break;
        }
        conn_handle_line(c, line, len);
        g_free(line);
    }
    conn_update(c);
    conn_maybe_finish(c);
    conn_unref(c);
}

static gboolean conn_ready(GIOCondition rev, gpointer data)
{
    VmmProtoConn *c = data;
    conn_ref(c);
    if (rev & G_IO_OUT) {
        bool was_backlogged = conn_backlogged(c);
        gsize before = proto_outbuf_len(&c->out);
        int fr = proto_outbuf_flush(&c->out, c->fd);
        if (fr >= 0 && proto_outbuf_len(&c->out) != before)
            c->out_since = g_get_monotonic_time();
        if (fr < 0) {
            int e = errno;
            conn_close(c, g_strerror(e));
        } else if (was_backlogged && !conn_backlogged(c)) {
            conn_process(c);     /* requests held back by back-pressure */
        }
    }
    if (!c->closed && (rev & (G_IO_IN | G_IO_HUP | G_IO_ERR)) && !c->eof && !c->closing) {
        gsize total = 0;
        while (!c->closed && !c->eof && total < READ_BUDGET && !conn_backlogged(c)) {
            guint8 buf[READ_CHUNK];
            ssize_t n = conn_recv(c, buf, sizeof(buf));
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                int e = errno;
                conn_close(c, g_strerror(e));
                break;
            }
            if (n == 0) {
                c->eof = true;   /* half-closed: finish the replies, then close */
            } else {
                total += (gsize)n;
                proto_linebuf_append(&c->in, buf, (gsize)n);
            }
            conn_process(c);
        }
    }
    /* POLLHUP on a unix socket: the peer closed both directions (a
     * half-close only gives EOF), so nothing sent can arrive any more.
     * Requests read so far have run; close instead of spinning on HUP. */
    if (!c->closed && (rev & (G_IO_HUP | G_IO_ERR)))
        conn_close(c, rev & G_IO_ERR ? "socket error" : "hang-up");
    if (!c->closed) {
        conn_update(c);
        conn_maybe_finish(c);
    }
    conn_unref(c);
    return G_SOURCE_CONTINUE;
}

/* One error line instead of the greeting, best effort, then close: the
 * client learns why (vmmctl shows it) and the slot is never taken. */
static void server_refuse(VmmProtoServer *s, int fd, bool have_cred, const struct ucred *cred,
                          const char *fmt, ...) G_GNUC_PRINTF(5, 6);
static void server_refuse(VmmProtoServer *s, int fd, bool have_cred, const struct ucred *cred,
                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    json_object *body = json_object_new_object();
    json_object_object_add(body, "class", json_object_new_string(
        vmm_proto_error_class_name(VMM_PROTO_GENERIC_ERROR)));
    json_object_object_add(body, "desc", json_object_new_string(why));
    json_object *msg = json_object_new_object();
    json_object_object_add(msg, "error", body);
    gsize len;
    g_autofree char *text = proto_encode(msg, &len);
    json_object_put(msg);
    if (send(fd, text, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        plog("cannot tell a refused client why: %s", g_strerror(errno));
    close(fd);
    /* A flood of refusals must not flood the log: one line a second. */
    gint64 now = g_get_monotonic_time();
    if (now - s->refusal_logged < G_USEC_PER_SEC) {
        s->refusals_unlogged++;
        return;
    }
    g_log(G_LOG_DOMAIN_PROTO, G_LOG_LEVEL_INFO, "refused a client (pid %d, uid %d): %s%s",
          have_cred ? (int)cred->pid : -1, have_cred ? (int)cred->uid : -1, why,
          s->refusals_unlogged ? " (and others since the last message)" : "");
    s->refusal_logged = now;
    s->refusals_unlogged = 0;
}

/* The limits of VmmProtoLimits; false if the client was refused. */
static bool server_admit(Listener *l, int fd, bool have_cred, const struct ucred *cred,
                         guint *uid_key)
{
    VmmProtoServer *s = l->server;
    const VmmProtoLimits *lim = &s->limits;
    if (!l->read_only) {
        if (s->n_rw < lim->max_clients)
            return true;
        server_refuse(s, fd, have_cred, cred, "too many clients: %u read-write connections "
                      "are open", s->n_rw);
        return false;
    }
    if (s->n_ro >= lim->max_ro_clients) {
        server_refuse(s, fd, have_cred, cred, "too many clients: %u read-only connections are "
                      "open", s->n_ro);
        return false;
    }
    /* Without credentials every such client shares one count. */
    *uid_key = have_cred ? (guint)cred->uid : G_MAXUINT;
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(s->ro_uids, GUINT_TO_POINTER(*uid_key)));
    if (n >= lim->max_ro_per_uid) {
        server_refuse(s, fd, have_cred, cred, "too many clients: uid %d holds %u read-only "
                      "connections, the limit per uid", have_cred ? (int)cred->uid : -1, n);
        return false;
    }
    return true;
}

static void server_add_conn(Listener *l, int fd)
{
    VmmProtoServer *s = l->server;
    struct ucred cred;
    socklen_t sl = sizeof(cred);
    bool have_cred = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl) == 0;
    guint uid_key = 0;
    if (!server_admit(l, fd, have_cred, &cred, &uid_key))
        return;
    VmmProtoConn *c = g_new0(VmmProtoConn, 1);
    c->refs = 1;
    c->server = s;
    c->link.data = c;
    c->fd = fd;
    c->read_only = l->read_only;
    c->have_cred = have_cred;
    c->cred = cred;
    c->uid_key = uid_key;
    c->last_request = g_get_monotonic_time();
    if (c->read_only) {
        s->n_ro++;
        gpointer key = GUINT_TO_POINTER(uid_key);
        guint n = GPOINTER_TO_UINT(g_hash_table_lookup(s->ro_uids, key));
        g_hash_table_insert(s->ro_uids, key, GUINT_TO_POINTER(n + 1));
    } else {
        s->n_rw++;
    }
    proto_linebuf_init(&c->in);
    proto_outbuf_init(&c->out);
    g_queue_push_tail_link(&s->conns, &c->link);
    c->src = proto_fd_source_new(fd, G_IO_IN, conn_ready, c, s->ctx);
    json_object *g = proto_greeting_new(s->key, c->read_only);
    conn_send(c, g);
    json_object_put(g);
}

static gboolean listener_resume(gpointer data)
{
    Listener *l = data;
    g_source_unref(l->retry);
    l->retry = NULL;
    proto_fd_source_set(l->src, G_IO_IN);
    return G_SOURCE_REMOVE;
}

static gboolean listener_ready(GIOCondition rev, gpointer data)
{
    Listener *l = data;
    for (int i = 0; i < ACCEPT_BUDGET; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                plog("accept: %s; pausing for %d ms", g_strerror(errno), ACCEPT_PAUSE_MS);
                proto_fd_source_set(l->src, 0);
                l->retry = g_timeout_source_new(ACCEPT_PAUSE_MS);
                g_source_set_callback(l->retry, listener_resume, l, NULL);
                g_source_attach(l->retry, l->server->ctx);
            }
            break;
        }
        server_add_conn(l, fd);
    }
    return G_SOURCE_CONTINUE;
}

VmmProtoServer *vmm_proto_server_new(const char *greeting_key, const VmmProtoCommand *cmds,
                                     void *opaque)
{
    VmmProtoServer *s = g_new0(VmmProtoServer, 1);
    s->key = g_strdup(greeting_key);
    s->cmds = cmds;
    s->opaque = opaque;
    s->ctx = g_main_context_ref_thread_default();
    s->listeners = g_ptr_array_new();
    g_queue_init(&s->conns);
    s->ro_uids = g_hash_table_new(g_direct_hash, g_direct_equal);
    vmm_proto_limits_init(&s->limits);
    return s;
}

void vmm_proto_limits_init(VmmProtoLimits *l)
{
    *l = (VmmProtoLimits){
        .max_clients = VMM_PROTO_MAX_CLIENTS,
        .max_ro_clients = VMM_PROTO_MAX_CLIENTS,
        .max_ro_per_uid = VMM_PROTO_MAX_RO_PER_UID,
        .max_output = VMM_PROTO_MAX_OUTPUT,
    };
}

#define SWEEP_INTERVAL_S 1

/* Once a second: close clients idle or not reading for too long. */
static gboolean server_sweep(gpointer data)
{
    VmmProtoServer *s = data;
    gint64 now = g_get_monotonic_time();
    gint64 idle = (gint64)s->limits.idle_timeout_s * G_USEC_PER_SEC;
    gint64 stuck = (gint64)s->limits.output_timeout_s * G_USEC_PER_SEC;
    for (GList *l = s->conns.head; l;) {
        VmmProtoConn *c = l->data;
        l = l->next;   /* closing unlinks c */
        if (stuck && proto_outbuf_len(&c->out) > 0 && now - c->out_since >= stuck)
            conn_policy_close(c, "none of its %" G_GSIZE_FORMAT " bytes of replies read for "
                              "%u s", proto_outbuf_len(&c->out), s->limits.output_timeout_s);
        else if (idle && c->deferred == 0 && proto_outbuf_len(&c->out) == 0 &&
                 now - c->last_request >= idle)
            conn_policy_close(c, "idle: no request for %u s", s->limits.idle_timeout_s);
    }
    return G_SOURCE_CONTINUE;
}

void vmm_proto_server_set_limits(VmmProtoServer *s, const VmmProtoLimits *l)
{
    s->limits = *l;
    s->limits.max_output = MAX(l->max_output, VMM_PROTO_MIN_OUTPUT);
    bool want_sweep = l->idle_timeout_s || l->output_timeout_s;
    if (want_sweep && !s->sweep) {
        s->sweep = g_timeout_source_new_seconds(SWEEP_INTERVAL_S);
        g_source_set_callback(s->sweep, server_sweep, s, NULL);
        g_source_attach(s->sweep, s->ctx);
    } else if (!want_sweep && s->sweep) {
        g_source_destroy(s->sweep);
        g_source_unref(s->sweep);
        s->sweep = NULL;
    }
}

static bool add_listener(VmmProtoServer *s, int fd, bool read_only, const char *path,
                         GError **err)
{
    if (!proto_set_nonblocking(fd, true)) {
        int e = errno;
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e),
                    "cannot make the listening socket non-blocking: %s", g_strerror(e));
        return false;
    }
    Listener *l = g_new0(Listener, 1);
    l->server = s;
    l->fd = fd;
    l->read_only = read_only;
    if (path) {
        struct stat st;
        l->path = g_strdup(path);
        if (stat(path, &st) == 0) {
            l->dev = st.st_dev;
            l->ino = st.st_ino;
        }
    }
    l->src = proto_fd_source_new(fd, G_IO_IN, listener_ready, l, s->ctx);
    g_ptr_array_add(s->listeners, l);
    return true;
}

int vmm_proto_listen_unix(const char *path, mode_t mode, GError **err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa.sun_path)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                    "socket path '%s' is longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
        return -1;
    }
    strcpy(sa.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_EXISTS,
                        "'%s' exists and is not a socket; not replacing it", path);
            return -1;
        }
        /* A socket left by a previous run (the caller holds the lock that
         * makes it stale). */
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e), "cannot create a socket: %s",
                    g_strerror(e));
        return -1;
    }
    /* Bind, fix the mode, and only then listen: nobody can connect while
     * the file still has the umask's mode. */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, mode) < 0 ||
        listen(fd, SOMAXCONN) < 0) {
        int e = errno;
        close(fd);
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e), "cannot listen on '%s': %s",
                    path, g_strerror(e));
        return -1;
    }
    return fd;
}

bool vmm_proto_server_listen_path(VmmProtoServer *s, const char *path, mode_t mode,
                                  bool read_only, GError **err)
{
    int fd = vmm_proto_listen_unix(path, mode, err);
    if (fd < 0)
        return false;
    if (!add_listener(s, fd, read_only, path, err)) {
        close(fd);
        unlink(path);
        return false;
    }
    return true;
}

bool vmm_proto_server_listen_fd(VmmProtoServer *s, int fd, bool read_only, GError **err)
{
    if (!add_listener(s, fd, read_only, NULL, err)) {
        close(fd);
        return false;
    }
    return true;
}

void vmm_proto_server_broadcast(VmmProtoServer *s, const char *event, json_object *data)
{
    json_object *msg = proto_event_new(event, data);
    gsize len;
    g_autofree char *text = proto_encode(msg, &len);
    json_object_put(msg);
    if (len - 1 > VMM_PROTO_MAX_MESSAGE) {
        plog("event %s dropped: larger than the message limit", event);
        return;
    }
    for (GList *l = s->conns.head; l;) {
        VmmProtoConn *c = l->data;
        l = l->next;   /* conn_queue may unlink c */
        if (!c->closing)
            conn_queue(c, text, len);
    }
}

guint vmm_proto_server_n_clients(VmmProtoServer *s)
{
    return s->conns.length;
}

void vmm_proto_server_free(VmmProtoServer *s)
{
    if (!s)
        return;
    for (guint i = 0; i < s->listeners->len; i++) {
        Listener *l = g_ptr_array_index(s->listeners, i);
        g_source_destroy(l->src);
        g_source_unref(l->src);
        if (l->retry) {
            g_source_destroy(l->retry);
            g_source_unref(l->retry);
        }
        close(l->fd);
        struct stat st;
        /* Remove the socket file only if it is still the one we made. */
        if (l->path && stat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
            unlink(l->path);
        g_free(l->path);
        g_free(l);
    }
    g_ptr_array_free(s->listeners, TRUE);
    while (s->conns.head)
        conn_close(s->conns.head->data, "server shutting down");
    if (s->sweep) {
        g_source_destroy(s->sweep);
        g_source_unref(s->sweep);
    }
    g_hash_table_destroy(s->ro_uids);
    g_main_context_unref(s->ctx);
    g_free(s->key);
    g_free(s);
}

void vmm_proto_server_call(VmmProtoServer *s, const char *cmd, json_object *args,
                           bool read_only, const struct ucred *cred, VmmProtoLocalFn fn,
                           void *opaque)
{
    /* A connection without a socket: every answer goes to fn. */
    VmmProtoConn *c = g_new0(VmmProtoConn, 1);
    c->refs = 1;
    c->server = s;
    c->fd = -1;
    c->read_only = read_only;
    c->have_cred = cred != NULL;
    if (cred)
        c->cred = *cred;
    c->local_fn = fn;
    c->local_opaque = opaque;
    proto_linebuf_init(&c->in);
    proto_outbuf_init(&c->out);
    conn_dispatch(c, cmd, args, NULL, false);
    json_object_put(args);
    conn_unref(c);
}

bool vmm_proto_conn_is_read_only(VmmProtoConn *c)
{
    return c->read_only;
}

bool vmm_proto_conn_peer(VmmProtoConn *c, pid_t *pid, uid_t *uid, gid_t *gid)
{
    if (!c->have_cred)
        return false;
    if (pid)
        *pid = c->cred.pid;
    if (uid)
        *uid = c->cred.uid;
    if (gid)
        *gid = c->cred.gid;
    return true;
}

VmmProtoPending *vmm_proto_conn_defer(VmmProtoConn *c)
{
    g_return_val_if_fail(c->in_handler && !c->handler_deferred, NULL);
    VmmProtoPending *p = g_new0(VmmProtoPending, 1);
    p->conn = conn_ref(c);
    p->has_id = c->cur_id != NULL;
    p->id = json_object_get(c->cur_id);
    /* json null ids are echoed as null too */
    c->handler_deferred = true;
    c->deferred++;
    return p;
}

static void pending_finish(VmmProtoPending *p)
{
    VmmProtoConn *c = p->conn;
    c->deferred--;
    if (!c->closed && !c->local_fn) {
        conn_update(c);
        conn_maybe_finish(c);
    }
    conn_unref(c);
    json_object_put(p->id);
    g_free(p);
}

void vmm_proto_pending_return(VmmProtoPending *p, json_object *ret)
{
    if (!p->conn->closed)
        conn_send_reply(p->conn, p->id, p->has_id, ret);
    else
        json_object_put(ret);
    pending_finish(p);
}

void vmm_proto_pending_error(VmmProtoPending *p, VmmProtoErrorClass cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (!p->conn->closed)
        conn_send_error(p->conn, p->id, p->has_id, cls, msg);
    pending_finish(p);
}

void vmm_proto_pending_gerror(VmmProtoPending *p, const GError *err)
{
    VmmProtoErrorClass cls = err->domain == VMM_PROTO_ERROR ? (VmmProtoErrorClass)err->code
                                                             : VMM_PROTO_GENERIC_ERROR;
    vmm_proto_pending_error(p, cls, "%s", err->message);
}
