/* The JSON protocol library: a server in its own thread (its own main
 * context), driven by the blocking client, raw sockets and the async
 * client. Covers the greeting, commands, every error class, id echo,
 * hostile input, back-pressure, read-only sockets, deferred replies and
 * events. */
#include "config.h"
#include "proto/proto.h"
#include "proto/proto_int.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#define RAW_LINE_TIMEOUT_MS 10000
#include "../raw-socket.h"

typedef struct {
    GThread *thread;
    GMainContext *ctx;
    GMainLoop *loop;
    VmmProtoServer *server;
    char *dir, *path, *ro_path;
    GMutex lock;
    GCond cond;
    bool ready;
    const VmmProtoLimits *limits;   /* the test's data; NULL: the defaults */
} Fixture;

/* ---- server-side handlers (run in the server thread) ------------------- */

static json_object *h_echo(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    return args ? json_object_get(args) : json_object_new_object();
}

static json_object *h_fail(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    VmmProtoErrorClass cls;
    json_object *v = json_object_object_get(args, "class");
    vmm_proto_error_class_from_name(json_object_get_string(v), &cls);
    return vmm_proto_set_error(err, cls, "failing as asked with %s",
                               vmm_proto_error_class_name(cls));
}

static json_object *h_gerror(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT, "no such thing");
    return NULL;
}

static json_object *h_null(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    return NULL;
}

static json_object *h_big(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    int size = json_object_get_int(json_object_object_get(args, "size"));
    char *s = g_malloc(size + 1);
    memset(s, 'b', size);
    s[size] = 0;
    json_object *o = json_object_new_string_len(s, size);
    g_free(s);
    return o;
}

typedef struct {
    VmmProtoPending *p;
    bool fail;
} Later;

static gboolean later_cb(gpointer data)
{
    Later *l = data;
    if (l->fail) {
        vmm_proto_pending_error(l->p, VMM_PROTO_OPERATION_INVALID, "too late: %d", 42);
    } else {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "late", json_object_new_boolean(true));
        vmm_proto_pending_return(l->p, o);
    }
    l->p = NULL;
    return G_SOURCE_REMOVE;
}

/* The server stopped before the timer fired: still answer exactly once. */
static void later_free(gpointer data)
{
    Later *l = data;
    if (l->p)
        vmm_proto_pending_error(l->p, VMM_PROTO_INTERNAL_ERROR, "server stopped");
    g_free(l);
}

static json_object *h_later(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    Fixture *f = opaque;
    int ms = json_object_get_int(json_object_object_get(args, "ms"));
    Later *l = g_new0(Later, 1);
    l->fail = json_object_get_boolean(json_object_object_get(args, "fail"));
    l->p = vmm_proto_conn_defer(c);
    GSource *t = g_timeout_source_new(ms > 0 ? ms : 50);
    g_source_set_callback(t, later_cb, l, later_free);
    g_source_attach(t, f->ctx);
    g_source_unref(t);
    return VMM_PROTO_DEFERRED;
}

static json_object *h_now_deferred(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    /* Answered through the pending before the handler even returns. */
    vmm_proto_pending_return(vmm_proto_conn_defer(c), json_object_new_string("at once"));
    return VMM_PROTO_DEFERRED;
}

static json_object *h_broadcast(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    Fixture *f = opaque;
    vmm_proto_server_broadcast(f->server, "PING", args ? json_object_get(args) : NULL);
    return NULL;
}

static json_object *h_count(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    Fixture *f = opaque;
    return json_object_new_int((int)vmm_proto_server_n_clients(f->server));
}

static json_object *h_peer(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    pid_t pid;
    uid_t uid;
    gid_t gid;
    if (!vmm_proto_conn_peer(c, &pid, &uid, &gid))
        return vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR, "no credentials");
    json_object *o = json_object_new_object();
    json_object_object_add(o, "pid", json_object_new_int(pid));
    json_object_object_add(o, "uid", json_object_new_int((int)uid));
    json_object_object_add(o, "ro", json_object_new_boolean(vmm_proto_conn_is_read_only(c)));
    return o;
}

/* Reads what the descriptor sent with the request holds (at most 63
 * bytes); {"none": true} when none came. */
static json_object *h_fd(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    int fd = vmm_proto_conn_take_fd(c);
    json_object *o = json_object_new_object();
    if (fd < 0) {
        json_object_object_add(o, "none", json_object_new_boolean(true));
        return o;
    }
    char buf[64];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
    json_object_object_add(o, "data", json_object_new_string(buf));
    json_object_object_add(o, "another", json_object_new_boolean(vmm_proto_conn_take_fd(c) >= 0));
    return o;
}

static const VmmProtoCommand commands[] = {
    { "fd", true, h_fd },
    { "echo", true, h_echo },
    { "fail", true, h_fail },
    { "gerror", true, h_gerror },
    { "null", true, h_null },
    { "big", true, h_big },
    { "later", true, h_later },
    { "now-deferred", true, h_now_deferred },
    { "broadcast", true, h_broadcast },
    { "count", true, h_count },
    { "peer", true, h_peer },
    { "write", false, h_echo },
    { NULL },
};

static gpointer server_thread(gpointer data)
{
    Fixture *f = data;
    g_main_context_push_thread_default(f->ctx);
    f->server = vmm_proto_server_new("vmmd", commands, f);
    if (f->limits)
        vmm_proto_server_set_limits(f->server, f->limits);
    g_autoptr(GError) err = NULL;
    g_assert_true(vmm_proto_server_listen_path(f->server, f->path, 0600, false, &err));
    g_assert_true(vmm_proto_server_listen_path(f->server, f->ro_path, 0666, true, &err));
    g_mutex_lock(&f->lock);
    f->ready = true;
    g_cond_signal(&f->cond);
    g_mutex_unlock(&f->lock);
    g_main_loop_run(f->loop);
    vmm_proto_server_free(f->server);
    g_main_context_pop_thread_default(f->ctx);
    return NULL;
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
    memset(f, 0, sizeof(*f));
    f->limits = data;
    f->dir = g_dir_make_tmp("test-proto-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    f->path = g_build_filename(f->dir, "rw.sock", NULL);
    f->ro_path = g_build_filename(f->dir, "ro.sock", NULL);
    f->ctx = g_main_context_new();
    f->loop = g_main_loop_new(f->ctx, FALSE);
    g_mutex_init(&f->lock);
    g_cond_init(&f->cond);
    f->thread = g_thread_new("server", server_thread, f);
    g_mutex_lock(&f->lock);
    while (!f->ready)
        g_cond_wait(&f->cond, &f->lock);
    g_mutex_unlock(&f->lock);
}

static gboolean quit_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

static void drop_log(const char *domain, GLogLevelFlags level, const char *msg, gpointer data)
{
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    g_main_context_invoke(f->ctx, quit_loop, f->loop);
    g_thread_join(f->thread);
    /* The server removed its socket files. */
    g_assert_false(g_file_test(f->path, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(f->ro_path, G_FILE_TEST_EXISTS));
    g_main_loop_unref(f->loop);
    g_main_context_unref(f->ctx);
    g_rmdir(f->dir);
    g_free(f->dir);
    g_free(f->path);
    g_free(f->ro_path);
    g_mutex_clear(&f->lock);
    g_cond_clear(&f->cond);
}

/* ---- raw socket helpers (connect, send, line: tests/raw-socket.h) ------ */

static json_object *raw_msg(int fd, GString *buf)
{
    g_autofree char *line = raw_line(fd, buf);
    g_assert_nonnull(line);
    json_object *o = json_tokener_parse(line);
    g_assert_nonnull(o);
    return o;
}

static const char *error_class(json_object *msg)
{
    json_object *e = json_object_object_get(msg, "error");
    g_assert_nonnull(e);
    return json_object_get_string(json_object_object_get(e, "class"));
}

static VmmProtoSync *connect_sync(const char *path)
{
    g_autoptr(GError) err = NULL;
    VmmProtoSync *s = vmm_proto_sync_connect(path, 10000, &err);
    g_assert_no_error(err);
    return s;
}

/* ---- tests ------------------------------------------------------------- */

static void test_greeting(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmProtoSync) s = connect_sync(f->path);
    json_object *g = vmm_proto_sync_greeting(s);
    json_object *inner = json_object_object_get(g, "vmmd");
    g_assert_nonnull(inner);
    json_object *v = json_object_object_get(inner, "version");
    g_assert_cmpint(json_object_get_int(json_object_object_get(v, "major")), ==, 0);
    g_assert_cmpint(json_object_get_int(json_object_object_get(v, "minor")), ==, 1);
    g_assert_cmpstr(json_object_get_string(json_object_object_get(inner, "package")), ==,
                    "vmmd " PACKAGE_VERSION);
    g_assert_true(json_object_is_type(json_object_object_get(inner, "capabilities"),
                                      json_type_array));
    g_assert_false(json_object_get_boolean(json_object_object_get(inner, "read_only")));

    g_autoptr(VmmProtoSync) ro = connect_sync(f->ro_path);
    inner = json_object_object_get(vmm_proto_sync_greeting(ro), "vmmd");
    g_assert_true(json_object_get_boolean(json_object_object_get(inner, "read_only")));

    /* The greeting is one line of compact JSON. */
    int fd = raw_connect(f->path);
    g_autoptr(GString) buf = g_string_new(NULL);
    g_autofree char *line = raw_line(fd, buf);
    g_assert_true(g_str_has_prefix(line, "{\"vmmd\":{\"version\":{\"major\":0"));
    close(fd);
}

static void test_commands(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmProtoSync) s = connect_sync(f->path);
    g_autoptr(GError) err = NULL;
    json_object *args = json_tokener_parse("{\"a\": [1, 2, {\"b\": \"\\u00e9\"}]}");
    json_object *ret = vmm_proto_sync_call(s, "echo", json_object_get(args), &err);
    g_assert_no_error(err);
    g_assert_true(json_object_equal(ret, args));
    json_object_put(ret);
    json_object_put(args);

    /* No arguments: the handler gets NULL; NULL without an error is {}. */
    ret = vmm_proto_sync_call(s, "echo", NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(json_object_object_length(ret), ==, 0);
    json_object_put(ret);
    ret = vmm_proto_sync_call(s, "null", NULL, &err);
    g_assert_no_error(err);
    g_assert_true(json_object_is_type(ret, json_type_object));
    json_object_put(ret);

    ret = vmm_proto_sync_call(s, "query-version", NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(json_object_get_string(json_object_object_get(ret, "package")), ==,
                    "vmmd " PACKAGE_VERSION);
    g_assert_nonnull(json_object_object_get(ret, "version"));
    json_object_put(ret);

    ret = vmm_proto_sync_call(s, "query-commands", NULL, &err);
    g_assert_no_error(err);
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    for (size_t i = 0; i < json_object_array_length(ret); i++)
        g_hash_table_add(names, (gpointer)json_object_get_string(
            json_object_object_get(json_object_array_get_idx(ret, i), "name")));
    g_assert_true(g_hash_table_contains(names, "echo"));
    g_assert_true(g_hash_table_contains(names, "write"));
    g_assert_true(g_hash_table_contains(names, "query-commands"));
    g_assert_true(g_hash_table_contains(names, "query-version"));
    json_object_put(ret);

    ret = vmm_proto_sync_call(s, "peer", NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(json_object_get_int(json_object_object_get(ret, "pid")), ==, getpid());
    g_assert_cmpint(json_object_get_int(json_object_object_get(ret, "uid")), ==, (int)getuid());
    json_object_put(ret);

    /* A deferred reply answered before the handler returned. */
    ret = vmm_proto_sync_call(s, "now-deferred", NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(json_object_get_string(ret), ==, "at once");
    json_object_put(ret);
}

static void test_errors(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmProtoSync) s = connect_sync(f->path);
    for (int c = VMM_PROTO_GENERIC_ERROR; c <= VMM_PROTO_INTERNAL_ERROR; c++) {
        g_autoptr(GError) err = NULL;
        json_object *args = json_object_new_object();
        json_object_object_add(args, "class", json_object_new_string(vmm_proto_error_class_name(c)));
        json_object *ret = vmm_proto_sync_call(s, "fail", args, &err);
        g_assert_null(ret);
        g_assert_error(err, VMM_PROTO_ERROR, c);
        g_assert_nonnull(strstr(err->message, vmm_proto_error_class_name(c)));
        VmmProtoErrorClass back;
        g_assert_true(vmm_proto_error_class_from_name(vmm_proto_error_class_name(c), &back));
        g_assert_cmpint(back, ==, c);
    }
    g_autoptr(GError) err = NULL;
    g_assert_null(vmm_proto_sync_call(s, "gerror", NULL, &err));
    g_assert_error(err, VMM_PROTO_ERROR, VMM_PROTO_GENERIC_ERROR);
    g_assert_cmpstr(err->message, ==, "no such thing");
    g_clear_error(&err);
    g_assert_null(vmm_proto_sync_call(s, "no-such-command", NULL, &err));
    g_assert_error(err, VMM_PROTO_ERROR, VMM_PROTO_COMMAND_NOT_FOUND);
    g_clear_error(&err);
    /* Still usable. */
    json_object *ret = vmm_proto_sync_call(s, "echo", NULL, &err);
    g_assert_no_error(err);
    json_object_put(ret);
}

static void test_ids(Fixture *f, gconstpointer data)
{
    int fd = raw_connect(f->path);
    g_autoptr(GString) buf = g_string_new(NULL);
    json_object_put(raw_msg(fd, buf));   /* greeting */
    static const char *const ids[] = {
        "7", "-3", "1.5", "\"abc\"", "{\"x\":[1,{\"y\":null}]}", "[1,2]", "null", "true",
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(ids); i++) {
        g_autofree char *req = g_strdup_printf("{\"execute\":\"echo\",\"id\":%s}\n", ids[i]);
        raw_send(fd, req);
        json_object *msg = raw_msg(fd, buf);
        json_object *id;
        g_assert_true(json_object_object_get_ex(msg, "id", &id));
        json_object *want = json_tokener_parse(ids[i]);
        g_assert_true(json_object_equal(id, want));
        json_object_put(want);
        g_assert_nonnull(json_object_object_get(msg, "return"));
        json_object_put(msg);
    }
    /* Errors echo the id too; no id in, no id out. */
    raw_send(fd, "{\"execute\":\"nope\",\"id\":\"e1\"}\n");
    json_object *msg = raw_msg(fd, buf);
    g_assert_cmpstr(error_class(msg), ==, "CommandNotFound");
    g_assert_cmpstr(json_object_get_string(json_object_object_get(msg, "id")), ==, "e1");
    json_object_put(msg);
    raw_send(fd, "{\"execute\":\"echo\"}\n");
    msg = raw_msg(fd, buf);
    g_assert_false(json_object_object_get_ex(msg, "id", NULL));
    json_object_put(msg);
    close(fd);
}

static void test_garbage(Fixture *f, gconstpointer data)
{
    int fd = raw_connect(f->path);
    g_autoptr(GString) buf = g_string_new(NULL);
    json_object_put(raw_msg(fd, buf));
    static const char *const bad[] = {
        "hello world", "{", "}", "{\"execute\":", "[1,2,3]", "42", "\"str\"", "null", "true",
        "{\"execute\": 5}", "{\"arguments\": {}}", "{\"execute\":\"echo\",\"arguments\":[1]}",
        "{\"execute\":\"echo\",\"arguments\":\"x\"}", "{\"execute\":\"echo\",\"bogus\":1}",
        "{\"execute\":\"echo\"} trailing", "{\"a\":1}{\"b\":2}", "\xff\xfe\xfd",
        "{\"execute\":\"\xc3\x28\"}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
        "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *line = g_strdup_printf("%s\n", bad[i]);
        raw_send(fd, line);
        json_object *msg = raw_msg(fd, buf);
        g_assert_cmpstr(error_class(msg), ==, "InvalidArgument");
        json_object_put(msg);
    }
    /* Binary bytes with a NUL inside a line. */
    const char nul[] = "{\"execute\":\"echo\"\0}\n";
    g_assert_cmpint(send(fd, nul, sizeof(nul) - 1, MSG_NOSIGNAL), ==, (ssize_t)sizeof(nul) - 1);
    json_object *msg = raw_msg(fd, buf);
    g_assert_cmpstr(error_class(msg), ==, "InvalidArgument");
    json_object_put(msg);
    /* Empty lines are answered too, and then the connection still works. */
    raw_send(fd, "\n{\"execute\":\"echo\",\"arguments\":{\"ok\":1},\"id\":1}\n");
    msg = raw_msg(fd, buf);
    g_assert_cmpstr(error_class(msg), ==, "InvalidArgument");
    json_object_put(msg);
    msg = raw_msg(fd, buf);
    g_assert_cmpint(json_object_get_int(json_object_object_get(
        json_object_object_get(msg, "return"), "ok")), ==, 1);
    json_object_put(msg);
    /* Several requests in one write, replies in order. */
    raw_send(fd, "{\"execute\":\"echo\",\"id\":1}\n{\"execute\":\"echo\",\"id\":2}\r\n"
                 "{\"execute\":\"echo\",\"id\":3}\n");
    for (int i = 1; i <= 3; i++) {
        msg = raw_msg(fd, buf);
        g_assert_cmpint(json_object_get_int(json_object_object_get(msg, "id")), ==, i);
        json_object_put(msg);
    }
    close(fd);
}

static void test_long_line(Fixture *f, gconstpointer data)
{
    int fd = raw_connect(f->path);
    g_autoptr(GString) buf = g_string_new(NULL);
    json_object_put(raw_msg(fd, buf));
    /* 2 MiB with no newline, written while reading: the server answers
     * and closes without reading the rest. */
    gsize total = 2 * 1024 * 1024, sent = 0;
    char *chunk = g_malloc(65536);
    memset(chunk, 'x', 65536);
    bool eof = false, sending = true;
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!eof) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        struct pollfd p = { .fd = fd, .events = POLLIN | (sending ? POLLOUT : 0) };
        g_assert_cmpint(poll(&p, 1, 10000), ==, 1);
        if (p.revents & POLLIN) {
            char tmp[4096];
            ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
            if (n <= 0)
                eof = true;
            else
                g_string_append_len(buf, tmp, n);
        } else if (p.revents & POLLOUT) {
            ssize_t n = send(fd, chunk, MIN(65536, total - sent), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno != EAGAIN)
                sending = false;     /* EPIPE: the server closed */
            else if (n > 0 && (sent += n) == total)
                sending = false;
        } else if (p.revents & (POLLHUP | POLLERR)) {
            sending = false;
        }
    }
    g_free(chunk);
    g_assert_cmpuint(sent, <, total);     /* it did not read it all */
    g_autofree char *line = raw_line(fd, buf);
    g_assert_nonnull(line);
    json_object *msg = json_tokener_parse(line);
    g_assert_cmpstr(error_class(msg), ==, "InvalidArgument");
    json_object_put(msg);
    close(fd);

    /* A line of exactly 1 MiB is allowed (and is just bad JSON here). */
    fd = raw_connect(f->path);
    g_string_truncate(buf, 0);
    json_object_put(raw_msg(fd, buf));
    char *big = g_malloc(VMM_PROTO_MAX_MESSAGE + 2);
    memset(big, ' ', VMM_PROTO_MAX_MESSAGE);
    memcpy(big, "{\"execute\":\"echo\",\"id\":9}", 25);
    big[VMM_PROTO_MAX_MESSAGE] = '\n';
    big[VMM_PROTO_MAX_MESSAGE + 1] = 0;
    raw_send(fd, big);
    g_free(big);
    msg = raw_msg(fd, buf);
    g_assert_cmpint(json_object_get_int(json_object_object_get(msg, "id")), ==, 9);
    g_assert_nonnull(json_object_object_get(msg, "return"));
    json_object_put(msg);
    close(fd);
}

static void test_half_close(Fixture *f, gconstpointer data)
{
    int fd = raw_connect(f->path);
    g_autoptr(GString) buf = g_string_new(NULL);
    json_object_put(raw_msg(fd, buf));
    /* The last request has no newline: EOF ends it. */
    raw_send(fd, "{\"execute\":\"later\",\"arguments\":{\"ms\":100},\"id\":1}\n"
                 "{\"execute\":\"echo\",\"id\":2}");
    shutdown(fd, SHUT_WR);
    json_object *a = raw_msg(fd, buf);
    json_object *b = raw_msg(fd, buf);
    /* The deferred reply comes after the immediate one. */
    g_assert_cmpint(json_object_get_int(json_object_object_get(a, "id")), ==, 2);
    g_assert_cmpint(json_object_get_int(json_object_object_get(b, "id")), ==, 1);
    g_assert_true(json_object_get_boolean(json_object_object_get(
        json_object_object_get(b, "return"), "late")));
    json_object_put(a);
    json_object_put(b);
    g_autofree char *end = raw_line(fd, buf);
    g_assert_null(end);   /* then the server closes */
    close(fd);
}

/* The framing at EOF with nothing ever received: an empty GByteArray has
 * no data pointer, and computing NULL + 0 is undefined (clang's UBSan
 * reports it). Whitespace-only rests are nothing too. */
static void test_linebuf_rest_empty(void)
{
    ProtoLineBuf lb;
    proto_linebuf_init(&lb);
    gsize len = 99;
    g_assert_null(proto_linebuf_rest(&lb, &len));
    g_assert_cmpuint(len, ==, 0);
    proto_linebuf_append(&lb, " \t\n", 3);
    char *line = NULL;
    g_assert_cmpint(proto_linebuf_next(&lb, &line, &len), ==, PROTO_LINE_OK);
    g_free(line);
    len = 99;
    g_assert_null(proto_linebuf_rest(&lb, &len));   /* consumed: empty again */
    g_assert_cmpuint(len, ==, 0);
    proto_linebuf_append(&lb, "{}", 2);
    g_autofree char *rest = proto_linebuf_rest(&lb, &len);
    g_assert_cmpstr(rest, ==, "{}");
    g_assert_cmpuint(len, ==, 2);
    proto_linebuf_clear(&lb);
}

/* The same through the server: a client that half-closes before sending
 * a byte gets its greeting and then EOF. */
static void test_half_close_empty(Fixture *f, gconstpointer data)
{
    int fd = raw_connect(f->path);
    g_autoptr(GString) buf = g_string_new(NULL);
    shutdown(fd, SHUT_WR);
    json_object_put(raw_msg(fd, buf));
    g_autofree char *end = raw_line(fd, buf);
    g_assert_null(end);
    close(fd);
}

static void test_read_only(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmProtoSync) s = connect_sync(f->ro_path);
    g_autoptr(GError) err = NULL;
    g_assert_null(vmm_proto_sync_call(s, "write", NULL, &err));
    g_assert_error(err, VMM_PROTO_ERROR, VMM_PROTO_PERMISSION_DENIED);
    g_clear_error(&err);
    json_object *ret = vmm_proto_sync_call(s, "peer", NULL, &err);
    g_assert_no_error(err);
    g_assert_true(json_object_get_boolean(json_object_object_get(ret, "ro")));
    json_object_put(ret);
    ret = vmm_proto_sync_call(s, "query-commands", NULL, &err);
    g_assert_no_error(err);
    for (size_t i = 0; i < json_object_array_length(ret); i++)
        g_assert_cmpstr(json_object_get_string(json_object_object_get(
            json_object_array_get_idx(ret, i), "name")), !=, "write");
    json_object_put(ret);

    g_autoptr(VmmProtoSync) rw = connect_sync(f->path);
    ret = vmm_proto_sync_call(rw, "write", NULL, &err);
    g_assert_no_error(err);
    json_object_put(ret);
}

static void test_deferred(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmProtoSync) s = connect_sync(f->path);
    g_autoptr(GError) err = NULL;
    json_object *ret = vmm_proto_sync_call(s, "later", json_tokener_parse("{\"ms\": 30}"), &err);
    g_assert_no_error(err);
    g_assert_true(json_object_get_boolean(json_object_object_get(ret, "late")));
    json_object_put(ret);
    g_assert_null(vmm_proto_sync_call(s, "later", json_tokener_parse("{\"fail\": true}"), &err));
    g_assert_error(err, VMM_PROTO_ERROR, VMM_PROTO_OPERATION_INVALID);
    g_assert_cmpstr(err->message, ==, "too late: 42");
    g_clear_error(&err);

    /* The client goes away before the reply: the pending survives. */
    int fd = raw_connect(f->path);
    raw_send(fd, "{\"execute\":\"later\",\"arguments\":{\"ms\":50}}\n");
    close(fd);
    g_usleep(150 * 1000);
    ret = vmm_proto_sync_call(s, "count", NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(json_object_get_int(ret), ==, 1);
    json_object_put(ret);

    /* A sync call that times out, then a later call still works. */
    vmm_proto_sync_set_timeout(s, 50);
    g_assert_null(vmm_proto_sync_call(s, "later", json_tokener_parse("{\"ms\": 300}"), &err));
    g_assert_error(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
    g_clear_error(&err);
    vmm_proto_sync_set_timeout(s, 10000);
    ret = vmm_proto_sync_call(s, "echo", json_tokener_parse("{\"after\": 1}"), &err);
    g_assert_no_error(err);
    g_assert_nonnull(json_object_object_get(ret, "after"));
    json_object_put(ret);
}

static int file_with(const char *text)
{
    int fd = memfd_create("proto-test", MFD_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, text, strlen(text)), ==, (ssize_t)strlen(text));
    return fd;
}

/* Descriptors sent with a request (SCM_RIGHTS) reach that request's
 * handler only; what a handler leaves is closed by the server. */
static void test_fd_passing(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmProtoSync) s = connect_sync(f->path);
    g_autoptr(GError) err = NULL;
    json_object *ret = vmm_proto_sync_call_fd(s, "fd", NULL, file_with("first medium"), &err);
    g_assert_no_error(err);
    g_assert_cmpstr(json_object_get_string(json_object_object_get(ret, "data")), ==,
                    "first medium");
    g_assert_false(json_object_get_boolean(json_object_object_get(ret, "another")));
    json_object_put(ret);

    /* A command that takes none: the server closes it (the pipe's reader
     * goes away, so a write fails with EPIPE). */
    int p[2];
    g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
    ret = vmm_proto_sync_call_fd(s, "echo", NULL, p[0], &err);
    g_assert_no_error(err);
    json_object_put(ret);
    signal(SIGPIPE, SIG_IGN);
    g_assert_cmpint(write(p[1], "x", 1), ==, -1);
    g_assert_cmpint(errno, ==, EPIPE);
    close(p[1]);
    /* ... and it is not handed to the next request */
    ret = vmm_proto_sync_call(s, "fd", NULL, &err);
    g_assert_no_error(err);
    g_assert_true(json_object_get_boolean(json_object_object_get(ret, "none")));
    json_object_put(ret);

    /* Two requests written at once, the second with a descriptor: the
     * first does not get it (one read may bring both). */
    int fd = raw_connect(f->path);
    const char two[] = "{\"execute\":\"fd\",\"id\":1}\n{\"execute\":\"fd\",\"id\":2}\n";
    const char *second = strchr(two, '\n') + 1;
    g_assert_cmpint(send(fd, two, (size_t)(second - two), 0), ==, second - two);
    ProtoOutBuf ob;
    proto_outbuf_init(&ob);
    proto_outbuf_append_fd(&ob, second, strlen(second), file_with("second"));
    g_assert_cmpint(proto_outbuf_flush(&ob, fd), ==, 1);
    proto_outbuf_clear(&ob);
    g_autoptr(GString) buf = g_string_new(NULL);
    g_autofree char *greeting = raw_line(fd, buf);
    g_autofree char *r1 = raw_line(fd, buf);
    g_autofree char *r2 = raw_line(fd, buf);
    g_test_message("%s\n%s", r1, r2);
    g_assert_nonnull(strstr(r1, "\"none\":true"));
    g_assert_nonnull(strstr(r2, "\"data\":\"second\""));
    close(fd);
}

static void test_events(Fixture *f, gconstpointer data)
{
    g_autoptr(VmmProtoSync) a = connect_sync(f->path);
    g_autoptr(VmmProtoSync) b = connect_sync(f->ro_path);
    g_autoptr(GError) err = NULL;
    json_object *ret = vmm_proto_sync_call(a, "broadcast", json_tokener_parse("{\"n\": 1}"), &err);
    g_assert_no_error(err);
    json_object_put(ret);
    /* a got the event while waiting for its reply: queued. */
    for (int i = 0; i < 2; i++) {
        json_object *ev = vmm_proto_sync_next_event(i ? b : a, 5000, &err);
        g_assert_no_error(err);
        g_assert_cmpstr(json_object_get_string(json_object_object_get(ev, "event")), ==, "PING");
        g_assert_cmpint(json_object_get_int(json_object_object_get(
            json_object_object_get(ev, "data"), "n")), ==, 1);
        json_object *ts = json_object_object_get(ev, "timestamp");
        g_assert_cmpint(json_object_get_int64(json_object_object_get(ts, "seconds")), >,
                        1600000000);
        g_assert_true(json_object_is_type(json_object_object_get(ts, "microseconds"),
                                          json_type_int));
        json_object_put(ev);
    }
    g_assert_null(vmm_proto_sync_next_event(a, 50, &err));
    g_assert_error(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
}

/* One client never reads: others keep being served, and it is cut off once
 * its queue passes the limit. */
static void test_slow_reader(Fixture *f, gconstpointer data)
{
    int slow = raw_connect(f->path);
    int rcv = 4096;
    setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    /* Replies of 900 KB each; it reads none of them. */
    for (int i = 0; i < 20; i++)
        raw_send(slow, "{\"execute\":\"big\",\"arguments\":{\"size\":900000}}\n");
    g_autoptr(VmmProtoSync) s = connect_sync(f->path);
    g_autoptr(GError) err = NULL;
    gint64 t0 = g_get_monotonic_time();
    for (int i = 0; i < 50; i++) {
        json_object *ret = vmm_proto_sync_call(s, "echo", NULL, &err);
        g_assert_no_error(err);
        json_object_put(ret);
    }
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
    json_object *ret = vmm_proto_sync_call(s, "count", NULL, &err);
    g_assert_cmpint(json_object_get_int(ret), ==, 2);   /* held back, not dropped */
    json_object_put(ret);
    /* Events are not held back: 10 x 600 KB overflows the 4 MiB queue. */
    g_autofree char *pad = g_strnfill(600000, 'e');
    for (int i = 0; i < 10; i++) {
        json_object *args = json_object_new_object();
        json_object_object_add(args, "pad", json_object_new_string(pad));
        ret = vmm_proto_sync_call(s, "broadcast", args, &err);
        g_assert_no_error(err);
        json_object_put(ret);
        json_object *ev = vmm_proto_sync_next_event(s, 5000, &err);
        g_assert_no_error(err);
        json_object_put(ev);
    }
    ret = vmm_proto_sync_call(s, "count", NULL, &err);
    g_assert_cmpint(json_object_get_int(ret), ==, 1);   /* the slow one is gone */
    json_object_put(ret);
    close(slow);
}

static void test_socket_files(Fixture *f, gconstpointer data)
{
    g_autofree char *dir = g_dir_make_tmp("test-proto-XXXXXX", NULL);
    g_autofree char *sock = g_build_filename(dir, "s.sock", NULL);
    g_autofree char *file = g_build_filename(dir, "file", NULL);
    g_autoptr(GError) err = NULL;
    VmmProtoServer *s = vmm_proto_server_new("vmm-worker", commands, NULL);
    /* A stale socket is replaced, a regular file is not. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    close(fd);
    g_assert_true(vmm_proto_server_listen_path(s, sock, 0640, false, &err));
    g_assert_no_error(err);
    struct stat st;
    g_assert_cmpint(stat(sock, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0640);
    g_assert_true(g_file_set_contents(file, "keep", -1, NULL));
    g_assert_false(vmm_proto_server_listen_path(s, file, 0600, false, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_autofree char *contents = NULL;
    g_assert_true(g_file_get_contents(file, &contents, NULL, NULL));
    g_assert_cmpstr(contents, ==, "keep");
    g_autofree char *longpath = g_strnfill(200, 'p');
    g_assert_false(vmm_proto_server_listen_path(s, longpath, 0600, false, &err));
    g_clear_error(&err);
    vmm_proto_server_free(s);
    g_assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));
    g_unlink(file);
    g_rmdir(dir);

    /* Connecting to nothing is a G_IO_ERROR. */
    g_assert_null(vmm_proto_sync_connect(sock, 1000, &err));
    g_assert_true(err && err->domain == G_IO_ERROR);
}

/* ---- async client ------------------------------------------------------ */

typedef struct {
    GMainLoop *loop;
    int replies;
    int errors;
    int events;
    int closes;
    GError *last_err;
    json_object *last_ret;
    char *last_event;
} AsyncState;

static void on_reply(VmmProtoClient *c, json_object *ret, const GError *err, void *opaque)
{
    AsyncState *st = opaque;
    if (err) {
        st->errors++;
        g_clear_error(&st->last_err);
        st->last_err = g_error_copy(err);
    } else {
        st->replies++;
        json_object_put(st->last_ret);
        st->last_ret = json_object_get(ret);
    }
    g_main_loop_quit(st->loop);
}

static void on_event(VmmProtoClient *c, const char *event, json_object *data, void *opaque)
{
    AsyncState *st = opaque;
    st->events++;
    g_free(st->last_event);
    st->last_event = g_strdup(event);
    g_main_loop_quit(st->loop);
}

static void on_close(VmmProtoClient *c, void *opaque)
{
    AsyncState *st = opaque;
    st->closes++;
    g_main_loop_quit(st->loop);
}

static gboolean fail_timeout(gpointer data)
{
    g_error("async test timed out");
    return G_SOURCE_REMOVE;
}

static void run(AsyncState *st)
{
    guint t = g_timeout_add_seconds(10, fail_timeout, NULL);
    g_main_loop_run(st->loop);
    g_source_remove(t);
}

static void test_async(Fixture *f, gconstpointer data)
{
    AsyncState st = { .loop = g_main_loop_new(NULL, FALSE) };
    g_autoptr(GError) err = NULL;
    VmmProtoClient *c = vmm_proto_client_connect(f->path, NULL, &err);
    g_assert_no_error(err);
    g_assert_nonnull(json_object_object_get(vmm_proto_client_greeting(c), "vmmd"));
    vmm_proto_client_on_event(c, on_event, &st);
    vmm_proto_client_on_close(c, on_close, &st);

    vmm_proto_client_call(c, "echo", json_tokener_parse("{\"x\": 1}"), on_reply, &st);
    run(&st);
    g_assert_cmpint(st.replies, ==, 1);
    g_assert_cmpint(json_object_get_int(json_object_object_get(st.last_ret, "x")), ==, 1);

    vmm_proto_client_call(c, "fail", json_tokener_parse("{\"class\": \"DomainNotFound\"}"),
                          on_reply, &st);
    run(&st);
    g_assert_error(st.last_err, VMM_PROTO_ERROR, VMM_PROTO_DOMAIN_NOT_FOUND);

    /* Replies out of order are matched by id. */
    vmm_proto_client_call(c, "later", json_tokener_parse("{\"ms\": 100}"), on_reply, &st);
    vmm_proto_client_call(c, "echo", json_tokener_parse("{\"first\": true}"), on_reply, &st);
    run(&st);
    g_assert_nonnull(json_object_object_get(st.last_ret, "first"));
    run(&st);
    g_assert_nonnull(json_object_object_get(st.last_ret, "late"));
    g_assert_cmpint(st.replies, ==, 3);

    /* Events. */
    vmm_proto_client_call(c, "broadcast", NULL, on_reply, &st);
    while (st.events < 1 || st.replies < 4)
        run(&st);
    g_assert_cmpstr(st.last_event, ==, "PING");

    /* Timeouts: the late reply is dropped. */
    vmm_proto_client_set_timeout(c, 30);
    vmm_proto_client_call(c, "later", json_tokener_parse("{\"ms\": 200}"), on_reply, &st);
    run(&st);
    g_assert_error(st.last_err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
    vmm_proto_client_set_timeout(c, 0);
    g_usleep(250 * 1000);
    vmm_proto_client_call(c, "echo", json_tokener_parse("{\"y\": 2}"), on_reply, &st);
    run(&st);
    g_assert_cmpint(json_object_get_int(json_object_object_get(st.last_ret, "y")), ==, 2);

    /* Connecting without waiting for the greeting: a call made at once is
     * answered after it; a socket that is not there fails at once. */
    VmmProtoClient *ac = vmm_proto_client_connect_async(f->path, NULL, &err);
    g_assert_no_error(err);
    g_assert_null(vmm_proto_client_greeting(ac));
    vmm_proto_client_call(ac, "echo", json_tokener_parse("{\"z\": 3}"), on_reply, &st);
    run(&st);
    g_assert_cmpint(json_object_get_int(json_object_object_get(st.last_ret, "z")), ==, 3);
    g_assert_nonnull(json_object_object_get(vmm_proto_client_greeting(ac), "vmmd"));
    vmm_proto_client_free(ac);
    g_autofree char *nowhere = g_build_filename(f->dir, "nowhere.sock", NULL);
    g_assert_null(vmm_proto_client_connect_async(nowhere, NULL, &err));
    g_assert_error(err, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
    g_clear_error(&err);

    /* free() with a call in flight: its callback runs with CANCELLED. */
    int errors = st.errors;
    vmm_proto_client_call(c, "later", json_tokener_parse("{\"ms\": 500}"), on_reply, &st);
    vmm_proto_client_free(c);
    g_assert_cmpint(st.errors, ==, errors + 1);
    g_assert_error(st.last_err, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_cmpint(st.closes, ==, 0);

    /* The server goes away: pending calls fail, then on_close. */
    c = vmm_proto_client_connect(f->path, NULL, &err);
    g_assert_no_error(err);
    vmm_proto_client_on_close(c, on_close, &st);
    vmm_proto_client_call(c, "later", json_tokener_parse("{\"ms\": 5000}"), on_reply, &st);
    g_main_context_invoke(f->ctx, quit_loop, f->loop);
    g_thread_join(f->thread);
    f->thread = g_thread_new("server", server_thread, f);   /* teardown expects one */
    while (st.closes < 1)
        run(&st);
    g_assert_error(st.last_err, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
    g_assert_false(vmm_proto_client_is_connected(c));
    /* Calls on a closed client fail from an idle, not inline. */
    errors = st.errors;
    vmm_proto_client_call(c, "echo", NULL, on_reply, &st);
    g_assert_cmpint(st.errors, ==, errors);
    run(&st);
    g_assert_cmpint(st.errors, ==, errors + 1);
    vmm_proto_client_free(c);

    g_clear_error(&st.last_err);
    json_object_put(st.last_ret);
    g_free(st.last_event);
    g_main_loop_unref(st.loop);
}

/* Many clients at once, each with a few requests. */
static void test_many_clients(Fixture *f, gconstpointer data)
{
    enum { N = 200 };
    int fds[N];
    GString *bufs[N];
    for (int i = 0; i < N; i++) {
        /* a quarter read-only: under the per-uid limit of read-only sockets */
        fds[i] = raw_connect(i % 4 ? f->path : f->ro_path);
        bufs[i] = g_string_new(NULL);
    }
    for (int i = 0; i < N; i++) {
        g_autofree char *req = g_strdup_printf("{\"execute\":\"echo\",\"id\":%d}\n", i);
        raw_send(fds[i], req);
    }
    for (int i = 0; i < N; i++) {
        json_object_put(raw_msg(fds[i], bufs[i]));   /* greeting */
        json_object *msg = raw_msg(fds[i], bufs[i]);
        g_assert_cmpint(json_object_get_int(json_object_object_get(msg, "id")), ==, i);
        json_object_put(msg);
        close(fds[i]);
        g_string_free(bufs[i], TRUE);
    }
}

static const VmmProtoLimits small_limits = {
    .max_clients = 2, .max_ro_clients = 5, .max_ro_per_uid = 3,
    .max_output = VMM_PROTO_MAX_OUTPUT,
};

/* Connects and returns the first line: a greeting or a refusal. */
static char *first_line(const char *path, int *fd_out)
{
    int fd = raw_connect(path);
    g_autoptr(GString) buf = g_string_new(NULL);
    char *line = raw_line(fd, buf);
    *fd_out = fd;
    return line;
}

/* Each socket kind counts on its own; read-only ones also per uid. */
static void test_limits(Fixture *f, gconstpointer data)
{
    int fds[16], n = 0;
    for (int i = 0; i < 2; i++) {
        g_autofree char *g = first_line(f->path, &fds[n++]);
        g_assert_true(g_str_has_prefix(g, "{\"vmmd\""));
    }
    g_autofree char *r = first_line(f->path, &fds[n++]);
    g_assert_nonnull(strstr(r, "2 read-write connections are open"));
    /* One uid (ours) gets 3 read-only connections, though the socket has 5. */
    for (int i = 0; i < 3; i++) {
        g_autofree char *g = first_line(f->ro_path, &fds[n++]);
        g_assert_true(g_str_has_prefix(g, "{\"vmmd\""));
    }
    g_autofree char *r2 = first_line(f->ro_path, &fds[n++]);
    g_assert_nonnull(strstr(r2, "the limit per uid"));
    /* The blocking client reports the refusal as such. */
    g_autoptr(GError) err = NULL;
    VmmProtoSync *s = vmm_proto_sync_connect(f->path, 10000, &err);
    g_assert_null(s);
    g_assert_error(err, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
    /* A slot freed is a slot given back. */
    close(fds[0]);
    g_clear_error(&err);
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!(s = vmm_proto_sync_connect(f->path, 10000, &err))) {
        g_clear_error(&err);
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(20000);
    }
    vmm_proto_sync_free(s);
    for (int i = 1; i < n; i++)
        close(fds[i]);
}

static const VmmProtoLimits output_timeout_limits = {
    .max_clients = 16, .max_ro_clients = 16, .max_ro_per_uid = 16,
    .output_timeout_s = 1, .max_output = VMM_PROTO_MAX_OUTPUT,
};

/* A client parked with a reply it never reads (less than the output cap)
 * is closed after the output timeout; one that reads is not. */
static void test_output_timeout(Fixture *f, gconstpointer data)
{
    int slow = raw_connect(f->path);
    int rcv = 4096;
    setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    raw_send(slow, "{\"execute\":\"big\",\"arguments\":{\"size\":900000}}\n");
    g_autoptr(VmmProtoSync) s = connect_sync(f->path);
    g_autoptr(GError) err = NULL;
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    for (;;) {
        json_object *ret = vmm_proto_sync_call(s, "count", NULL, &err);
        g_assert_no_error(err);
        int count = json_object_get_int(ret);
        json_object_put(ret);
        if (count == 1)
            break;   /* the slow one is gone, the reading one stays */
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
    close(slow);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* The server logs every refused client at debug level; not news here. */
    if (!g_test_verbose())
        g_log_set_handler("vmm-proto", G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO, drop_log, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("/proto/greeting", test_greeting);
    ADD("/proto/commands", test_commands);
    ADD("/proto/errors", test_errors);
    ADD("/proto/ids", test_ids);
    ADD("/proto/garbage", test_garbage);
    ADD("/proto/long-line", test_long_line);
    ADD("/proto/half-close", test_half_close);
    ADD("/proto/half-close-empty", test_half_close_empty);
    g_test_add_func("/proto/linebuf-rest-empty", test_linebuf_rest_empty);
    ADD("/proto/read-only", test_read_only);
    ADD("/proto/deferred", test_deferred);
    ADD("/proto/events", test_events);
    ADD("/proto/fd-passing", test_fd_passing);
    ADD("/proto/slow-reader", test_slow_reader);
    ADD("/proto/socket-files", test_socket_files);
    ADD("/proto/async-client", test_async);
    ADD("/proto/many-clients", test_many_clients);
    g_test_add("/proto/limits", Fixture, &small_limits, fixture_setup, test_limits,
               fixture_teardown);
    g_test_add("/proto/output-timeout", Fixture, &output_timeout_limits, fixture_setup,
               test_output_timeout, fixture_teardown);
    return g_test_run();
}
