/* Unit tests for src/util/chardev.c with real fds: files, unix sockets,
 * pseudo-terminals and (in subprocesses) stdio. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "util/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* a test frontend: a receive FIFO of `room` bytes                          */

typedef struct {
    GMutex lock;
    GByteArray *got;
    size_t room;              /* G_MAXSIZE = unlimited */
    unsigned can_calls;
    size_t max_chunk;
} Frontend;

static void fe_init(Frontend *fe, size_t room)
{
    g_mutex_init(&fe->lock);
    fe->got = g_byte_array_new();
    fe->room = room;
    fe->can_calls = 0;
    fe->max_chunk = 0;
}

static void fe_clear(Frontend *fe)
{
    g_byte_array_unref(fe->got);
    g_mutex_clear(&fe->lock);
}

static size_t fe_can_receive(void *opaque)
{
    Frontend *fe = opaque;
    g_mutex_lock(&fe->lock);
    fe->can_calls++;
    size_t r = fe->room;
    g_mutex_unlock(&fe->lock);
    return r;
}

static void fe_receive(void *opaque, const uint8_t *buf, size_t len)
{
    Frontend *fe = opaque;
    g_mutex_lock(&fe->lock);
    g_assert_cmpuint(len, >, 0);
    g_assert_cmpuint(len, <=, fe->room);
    g_byte_array_append(fe->got, buf, (guint)len);
    if (fe->room != G_MAXSIZE)
        fe->room -= len;
    fe->max_chunk = MAX(fe->max_chunk, len);
    g_mutex_unlock(&fe->lock);
}

static bool fe_has(Frontend *fe, const char *s)
{
    g_mutex_lock(&fe->lock);
    bool r = fe->got->len == strlen(s) &&
             (fe->got->len == 0 || memcmp(fe->got->data, s, fe->got->len) == 0);
    g_mutex_unlock(&fe->lock);
    return r;
}

static void fe_attach(VmmChardev *c, Frontend *fe)
{
    vmm_chardev_set_frontend(c, fe_can_receive, fe_receive, fe);
}

/* Iterates ctx until cond holds; fails after 5 s instead of hanging. */
#define WAIT_FOR(ctx, cond) do {                                             \
        gint64 end_ = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;           \
        while (!(cond)) {                                                    \
            if (g_get_monotonic_time() > end_)                               \
                g_error("timed out waiting for: %s", #cond);                 \
            if (!g_main_context_iteration((ctx), FALSE))                     \
                g_usleep(500);                                               \
        }                                                                    \
    } while (0)

static void spin(GMainContext *ctx, unsigned ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    while (g_get_monotonic_time() < end)
        if (!g_main_context_iteration(ctx, FALSE))
            g_usleep(500);
}

static void wr(VmmChardev *c, const char *s)
{
    vmm_chardev_write(c, (const uint8_t *)s, strlen(s));
}

/* Reads what is available on a non-blocking fd into acc; returns false at EOF. */
static bool read_avail(int fd, GString *acc)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            g_string_append_len(acc, buf, n);
            continue;
        }
        if (n == 0)
            return false;
        g_assert_true(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
        return true;
    }
}

/* Reads from fd while iterating ctx until acc holds `want`. */
static void expect_read(GMainContext *ctx, int fd, GString *acc, const char *want)
{
    WAIT_FOR(ctx, (read_avail(fd, acc), acc->len >= strlen(want)));
    g_assert_cmpstr(acc->str, ==, want);
    g_string_truncate(acc, 0);
}

static void send_str(int fd, const char *s)
{
    g_assert_cmpint(send(fd, s, strlen(s), MSG_NOSIGNAL), ==, (ssize_t)strlen(s));
}

static int unix_client(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(fd, >=, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(fcntl(fd, F_SETFL, O_NONBLOCK), ==, 0);
    return fd;
}

static int unix_listener(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(fd, >=, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(fd, 4), ==, 0);
    return fd;
}

typedef struct {
    char *dir;
    GMainContext *ctx;
} Fixture;

static void fx_setup(Fixture *fx, gconstpointer data)
{
    (void)data;
    fx->dir = g_dir_make_tmp("vmmd-chardev-XXXXXX", NULL);
    g_assert_nonnull(fx->dir);
    fx->ctx = g_main_context_new();
}

static void fx_teardown(Fixture *fx, gconstpointer data)
{
    (void)data;
    /* Nothing must be left attached once every chardev is closed. */
    g_assert_false(g_main_context_pending(fx->ctx));
    g_main_context_unref(fx->ctx);
    g_autoptr(GDir) d = g_dir_open(fx->dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(fx->dir, name, NULL);
        g_unlink(p);
    }
    g_rmdir(fx->dir);
    g_free(fx->dir);
}

/* ------------------------------------------------------------------------ */
/* file                                                                     */

static void test_file(Fixture *fx, gconstpointer data)
{
    (void)data;
    g_autofree char *path = g_build_filename(fx->dir, "serial.log", NULL);
    g_autoptr(GError) err = NULL;
    VmmChrDef def = { .type = VMM_CHR_FILE, .path = path, .append = false };

    /* new file: mode 0600 */
    VmmChardev *c = vmm_chardev_open(&def, "serial0", fx->ctx, &err);
    g_assert_no_error(err);
    g_assert_null(vmm_chardev_pty_path(c));
    g_assert_true(vmm_chardev_connected(c));
    wr(c, "first\n");
    vmm_chardev_close(c);
    struct stat st;
    g_assert_cmpint(g_stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);

    /* append='off' truncates */
    g_assert_true(g_file_set_contents(path, "old contents\n", -1, NULL));
    c = vmm_chardev_open(&def, "serial0", fx->ctx, &err);
    g_assert_no_error(err);
    wr(c, "abc");
    vmm_chardev_write(c, (const uint8_t *)"\0z", 2);   /* binary-safe */
    g_assert_cmpuint(vmm_chardev_dropped(c), ==, 0);
    vmm_chardev_close(c);
    g_autofree char *contents = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
    g_assert_cmpmem(contents, len, "abc\0z", 5);

    /* append='on' keeps what is there */
    def.append = true;
    c = vmm_chardev_open(&def, "serial0", fx->ctx, &err);
    g_assert_no_error(err);
    wr(c, "def");
    vmm_chardev_close(c);
    g_clear_pointer(&contents, g_free);
    g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
    g_assert_cmpmem(contents, len, "abc\0zdef", 8);

    /* errors name label, path and errno text */
    g_autofree char *bad = g_build_filename(fx->dir, "no-such-dir", "x.log", NULL);
    def.path = bad;
    g_assert_null(vmm_chardev_open(&def, "serial3", fx->ctx, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "serial3"));
    g_assert_nonnull(strstr(err->message, bad));
    g_assert_nonnull(strstr(err->message, g_strerror(ENOENT)));
}

/* ------------------------------------------------------------------------ */
/* unix, mode='bind'                                                        */

static void test_unix_bind(Fixture *fx, gconstpointer data)
{
    (void)data;
    g_autofree char *path = g_build_filename(fx->dir, "serial.sock", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(GString) acc = g_string_new(NULL);
    VmmChrDef def = { .type = VMM_CHR_UNIX, .path = path, .listen = true };
    Frontend fe;
    fe_init(&fe, G_MAXSIZE);

    VmmChardev *c = vmm_chardev_open(&def, "serial0", fx->ctx, &err);
    g_assert_no_error(err);
    fe_attach(c, &fe);
    g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
    g_assert_false(vmm_chardev_connected(c));

    /* no peer: output is dropped and counted */
    wr(c, "lost");
    g_assert_cmpuint(vmm_chardev_dropped(c), ==, 4);

    int cl = unix_client(path);
    WAIT_FOR(fx->ctx, vmm_chardev_connected(c));
    wr(c, "hello");
    expect_read(fx->ctx, cl, acc, "hello");
    send_str(cl, "input");
    WAIT_FOR(fx->ctx, fe_has(&fe, "input"));

    /* a second client is refused while the first is connected */
    int cl2 = unix_client(path);
    WAIT_FOR(fx->ctx, !read_avail(cl2, acc));
    g_assert_cmpuint(acc->len, ==, 0);
    close(cl2);
    wr(c, "still-first");
    expect_read(fx->ctx, cl, acc, "still-first");

    /* disconnect: back to listening */
    close(cl);
    WAIT_FOR(fx->ctx, !vmm_chardev_connected(c));
    uint64_t d0 = vmm_chardev_dropped(c);
    wr(c, "nobody");
    g_assert_cmpuint(vmm_chardev_dropped(c), ==, d0 + 6);

    /* reconnect */
    int cl3 = unix_client(path);
    WAIT_FOR(fx->ctx, vmm_chardev_connected(c));
    wr(c, "again");
    expect_read(fx->ctx, cl3, acc, "again");
    send_str(cl3, "!");
    WAIT_FOR(fx->ctx, fe_has(&fe, "input!"));

    /* output written just before close still reaches the client */
    wr(c, "bye");
    vmm_chardev_close(c);
    WAIT_FOR(fx->ctx, !read_avail(cl3, acc));
    g_assert_cmpstr(acc->str, ==, "bye");
    close(cl3);
    /* the socket file we created is removed */
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    fe_clear(&fe);
}

/* Without a frontend nothing watches the connection: a client that left is
 * noticed when the next one arrives, which must not be refused. */
static void test_unix_bind_no_frontend(Fixture *fx, gconstpointer data)
{
    (void)data;
    g_autofree char *path = g_build_filename(fx->dir, "s.sock", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(GString) acc = g_string_new(NULL);
    VmmChrDef def = { .type = VMM_CHR_UNIX, .path = path, .listen = true };
    VmmChardev *c = vmm_chardev_open(&def, "serial1", fx->ctx, &err);
    g_assert_no_error(err);

    int cl = unix_client(path);
    WAIT_FOR(fx->ctx, vmm_chardev_connected(c));
    close(cl);
    int cl2 = unix_client(path);
    spin(fx->ctx, 20);
    wr(c, "to-second");
    expect_read(fx->ctx, cl2, acc, "to-second");
    close(cl2);
    vmm_chardev_close(c);
}

static void test_unix_stale(Fixture *fx, gconstpointer data)
{
    (void)data;
    g_autofree char *path = g_build_filename(fx->dir, "stale.sock", NULL);
    g_autoptr(GError) err = NULL;
    VmmChrDef def = { .type = VMM_CHR_UNIX, .path = path, .listen = true };

    /* a socket file left behind by a dead process is replaced */
    close(unix_listener(path));
    g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
    VmmChardev *c = vmm_chardev_open(&def, "serial0", fx->ctx, &err);
    g_assert_no_error(err);
    int cl = unix_client(path);
    WAIT_FOR(fx->ctx, vmm_chardev_connected(c));
    close(cl);
    vmm_chardev_close(c);

    /* anything else is left alone */
    g_assert_true(g_file_set_contents(path, "precious", -1, NULL));
    g_assert_null(vmm_chardev_open(&def, "serial0", fx->ctx, &err));
    g_assert_nonnull(strstr(err->message, "serial0"));
    g_assert_nonnull(strstr(err->message, path));
    g_assert_nonnull(strstr(err->message, "is not a socket"));
    g_autofree char *contents = NULL;
    g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
    g_assert_cmpstr(contents, ==, "precious");
    g_clear_error(&err);

    /* a path that cannot fit a socket address */
    g_autofree char *longp = g_strnfill(200, 'x');
    def.path = longp;
    g_assert_null(vmm_chardev_open(&def, "serial2", fx->ctx, &err));
    g_assert_nonnull(strstr(err->message, "serial2"));
    g_assert_nonnull(strstr(err->message, "too long"));
}

/* A socket someone listens on (the daemon's, another VM's) is never taken
 * over, and nothing inside the run directory is used, in either mode. */
static void test_unix_refused(Fixture *fx, gconstpointer data)
{
    (void)data;
    g_autofree char *path = g_build_filename(fx->dir, "live.sock", NULL);
    g_autoptr(GError) err = NULL;
    VmmChrDef def = { .type = VMM_CHR_UNIX, .path = path, .listen = true };

    int lfd = unix_listener(path);
    struct stat before, after;
    g_assert_cmpint(lstat(path, &before), ==, 0);
    g_assert_null(vmm_chardev_open(&def, "serial1", fx->ctx, &err));
    g_test_message("%s", err->message);
    g_assert_nonnull(strstr(err->message, "serial1"));
    g_assert_nonnull(strstr(err->message, path));
    g_assert_nonnull(strstr(err->message, "a process is listening on it"));
    g_clear_error(&err);
    /* still the listener's socket, and it still answers */
    g_assert_cmpint(lstat(path, &after), ==, 0);
    g_assert_cmpuint(after.st_ino, ==, before.st_ino);
    close(unix_client(path));
    close(lfd);

    /* the run directory, named directly, through a symlink and "..", or a
     * subdirectory */
    g_autofree char *run = g_build_filename(fx->dir, "run", NULL);
    g_autofree char *sub = g_build_filename(run, "sub", NULL);
    g_assert_cmpint(g_mkdir_with_parents(sub, 0700), ==, 0);
    g_autofree char *in_run = g_build_filename(run, "vmmd.sock", NULL);
    /* through a symlink that lexically looks elsewhere */
    g_autofree char *link = g_build_filename(fx->dir, "link", NULL);
    g_assert_cmpint(symlink(sub, link), ==, 0);
    g_autofree char *dotdot = g_build_filename(link, "..", "other.sock", NULL);
    g_autofree char *in_sub = g_build_filename(sub, "x.sock", NULL);
    const char *paths[] = { in_run, dotdot, in_sub };
    for (unsigned i = 0; i < G_N_ELEMENTS(paths); i++) {
        for (int listen = 0; listen < 2; listen++) {
            def.path = (char *)paths[i];
            def.listen = listen;
            g_assert_null(vmm_chardev_open_checked(&def, "serial2", fx->ctx, run, &err));
            g_test_message("%s", err->message);
            g_assert_nonnull(strstr(err->message, paths[i]));
            g_assert_nonnull(strstr(err->message, "inside vmmd's run directory"));
            g_clear_error(&err);
            g_assert_false(g_file_test(paths[i], G_FILE_TEST_EXISTS));
        }
    }
    /* a sibling whose name merely starts like the run directory is fine */
    g_autofree char *sibling_dir = g_build_filename(fx->dir, "run2", NULL);
    g_assert_cmpint(g_mkdir_with_parents(sibling_dir, 0700), ==, 0);
    g_autofree char *sibling = g_build_filename(sibling_dir, "ok.sock", NULL);
    def.path = sibling;
    def.listen = true;
    VmmChardev *c = vmm_chardev_open_checked(&def, "serial3", fx->ctx, run, &err);
    g_assert_no_error(err);
    vmm_chardev_close(c);
}

/* ------------------------------------------------------------------------ */
/* unix, mode='connect'                                                     */

static void test_unix_connect(Fixture *fx, gconstpointer data)
{
    (void)data;
    g_autofree char *path = g_build_filename(fx->dir, "listener.sock", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(GString) acc = g_string_new(NULL);
    VmmChrDef def = { .type = VMM_CHR_UNIX, .path = path, .listen = false };
    Frontend fe;
    fe_init(&fe, G_MAXSIZE);

    /* nobody there */
    g_assert_null(vmm_chardev_open(&def, "serial0", fx->ctx, &err));
    g_assert_nonnull(strstr(err->message, "serial0"));
    g_assert_nonnull(strstr(err->message, path));
    g_assert_nonnull(strstr(err->message, g_strerror(ENOENT)));
    g_clear_error(&err);

    int lfd = unix_listener(path);
    VmmChardev *c = vmm_chardev_open(&def, "serial0", fx->ctx, &err);
    g_assert_no_error(err);
    fe_attach(c, &fe);
    g_assert_true(vmm_chardev_connected(c));
    int peer = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    g_assert_cmpint(peer, >=, 0);

    wr(c, "guest says hi");
    expect_read(fx->ctx, peer, acc, "guest says hi");
    send_str(peer, "host says hi");
    WAIT_FOR(fx->ctx, fe_has(&fe, "host says hi"));

    /* the listener goes away: output is dropped from then on */
    close(peer);
    WAIT_FOR(fx->ctx, !vmm_chardev_connected(c));
    uint64_t d0 = vmm_chardev_dropped(c);
    wr(c, "gone");
    g_assert_cmpuint(vmm_chardev_dropped(c), ==, d0 + 4);
    vmm_chardev_close(c);
    /* connect mode never removes the listener's socket file */
    g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
    close(lfd);

    /* a socket file with no listener: connection refused */
    g_assert_null(vmm_chardev_open(&def, "serial0", fx->ctx, &err));
    g_assert_nonnull(strstr(err->message, g_strerror(ECONNREFUSED)));
    fe_clear(&fe);
}

/* ------------------------------------------------------------------------ */
/* pty                                                                      */

static void test_pty(Fixture *fx, gconstpointer data)
{
    (void)data;
    g_autoptr(GError) err = NULL;
    g_autoptr(GString) acc = g_string_new(NULL);
    VmmChrDef def = { .type = VMM_CHR_PTY };
    Frontend fe;
    fe_init(&fe, G_MAXSIZE);

    VmmChardev *c = vmm_chardev_open(&def, "serial0", fx->ctx, &err);
    g_assert_no_error(err);
    fe_attach(c, &fe);
    const char *pts = vmm_chardev_pty_path(c);
    g_assert_nonnull(pts);
    g_assert_true(g_str_has_prefix(pts, "/dev/pts/"));

    int s = open(pts, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    g_assert_cmpint(s, >=, 0);
    /* raw: bytes pass unchanged both ways, and nothing is echoed */
    wr(c, "login: \n");
    expect_read(fx->ctx, s, acc, "login: \n");
    g_assert_cmpint(write(s, "root\r", 5), ==, 5);
    WAIT_FOR(fx->ctx, fe_has(&fe, "root\r"));
    spin(fx->ctx, 20);
    read_avail(s, acc);
    g_assert_cmpuint(acc->len, ==, 0);

    /* the reader goes away and comes back: output keeps flowing */
    close(s);
    wr(c, "while away");
    spin(fx->ctx, 20);
    s = open(pts, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    g_assert_cmpint(s, >=, 0);
    wr(c, "|back");
    expect_read(fx->ctx, s, acc, "while away|back");
    close(s);
    g_assert_cmpuint(vmm_chardev_dropped(c), ==, 0);
    vmm_chardev_close(c);
    fe_clear(&fe);
}

static void test_pty_message(void)
{
    if (g_test_subprocess()) {
        VmmChrDef def = { .type = VMM_CHR_PTY };
        g_autoptr(GError) err = NULL;
        g_set_prgname("vmm-worker");
        VmmChardev *c = vmm_chardev_open(&def, "serial0", NULL, &err);
        g_assert_no_error(err);
        vmm_chardev_close(c);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr(
        "vmm-worker: char device redirected to /dev/pts/* (label serial0)\n");
}

/* No reader on the pty: the guest's writes never block, output is dropped
 * once the pty and our buffer are full. */
static void test_pty_no_reader(Fixture *fx, gconstpointer data)
{
    (void)data;
    g_autoptr(GError) err = NULL;
    VmmChrDef def = { .type = VMM_CHR_PTY };
    VmmChardev *c = vmm_chardev_open(&def, "serial0", fx->ctx, &err);
    g_assert_no_error(err);

    uint8_t chunk[4096];
    memset(chunk, 'x', sizeof(chunk));
    const size_t total = 4 * 1024 * 1024;
    gint64 t0 = g_get_monotonic_time();
    for (size_t done = 0; done < total; done += sizeof(chunk)) {
        vmm_chardev_write(c, chunk, sizeof(chunk));
        g_main_context_iteration(fx->ctx, FALSE);
    }
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 2 * G_USEC_PER_SEC);
    uint64_t dropped = vmm_chardev_dropped(c);
    g_assert_cmpuint(dropped, >, 0);
    g_assert_cmpuint(dropped, <, total);
    vmm_chardev_close(c);
}

/* ------------------------------------------------------------------------ */
/* flow control                                                             */

static gpointer accept_input_thread(gpointer data)
{
    vmm_chardev_accept_input(data);
    return NULL;
}

static void set_room(Frontend *fe, size_t room)
{
    g_mutex_lock(&fe->lock);
    fe->room = room;
    g_mutex_unlock(&fe->lock);
}

static unsigned can_calls(Frontend *fe)
{
    g_mutex_lock(&fe->lock);
    unsigned n = fe->can_calls;
    g_mutex_unlock(&fe->lock);
    return n;
}

static void test_flow_control(Fixture *fx, gconstpointer data)
{
    (void)data;
    g_autofree char *path = g_build_filename(fx->dir, "fc.sock", NULL);
    g_autoptr(GError) err = NULL;
    VmmChrDef def = { .type = VMM_CHR_UNIX, .path = path, .listen = true };
    Frontend fe;
    fe_init(&fe, 0);   /* FIFO full */

    VmmChardev *c = vmm_chardev_open(&def, "serial0", fx->ctx, &err);
    g_assert_no_error(err);
    fe_attach(c, &fe);
    int cl = unix_client(path);
    WAIT_FOR(fx->ctx, vmm_chardev_connected(c));
    send_str(cl, "abcdefghijklmnopqrstuvwxyz");

    /* asked once, then the fd is no longer watched: no busy loop */
    WAIT_FOR(fx->ctx, can_calls(&fe) >= 1);
    spin(fx->ctx, 50);
    g_assert_cmpuint(can_calls(&fe), ==, 1);
    g_assert_true(fe_has(&fe, ""));
    g_assert_false(g_main_context_pending(fx->ctx));

    /* room for 3, announced from another thread (a vCPU reading RBR) */
    set_room(&fe, 3);
    g_thread_join(g_thread_new("vcpu", accept_input_thread, c));
    WAIT_FOR(fx->ctx, fe_has(&fe, "abc"));
    spin(fx->ctx, 50);
    g_assert_true(fe_has(&fe, "abc"));             /* never more than offered */
    g_assert_cmpuint(fe.max_chunk, <=, 3);

    /* accept_input without room changes nothing and does not spin */
    unsigned n0 = can_calls(&fe);
    vmm_chardev_accept_input(c);
    spin(fx->ctx, 50);
    g_assert_cmpuint(can_calls(&fe), <=, n0 + 1);
    g_assert_true(fe_has(&fe, "abc"));

    /* a 16-byte FIFO drained one byte at a time */
    set_room(&fe, 16);
    vmm_chardev_accept_input(c);
    WAIT_FOR(fx->ctx, fe.got->len >= 19);
    g_assert_true(fe_has(&fe, "abcdefghijklmnopqrs"));
    for (int i = 0; i < 7; i++) {
        set_room(&fe, 1);
        vmm_chardev_accept_input(c);
        WAIT_FOR(fx->ctx, fe.got->len >= 20u + (guint)i);
    }
    g_assert_true(fe_has(&fe, "abcdefghijklmnopqrstuvwxyz"));

    /* output still flows while input is paused */
    g_autoptr(GString) acc = g_string_new(NULL);
    wr(c, "out");
    expect_read(fx->ctx, cl, acc, "out");

    close(cl);
    vmm_chardev_close(c);
    fe_clear(&fe);
}

/* ------------------------------------------------------------------------ */
/* writers never block                                                      */

static void test_write_no_peer(Fixture *fx, gconstpointer data)
{
    (void)data;
    g_autofree char *path = g_build_filename(fx->dir, "np.sock", NULL);
    g_autoptr(GError) err = NULL;
    VmmChrDef def = { .type = VMM_CHR_UNIX, .path = path, .listen = true };
    VmmChardev *c = vmm_chardev_open(&def, "serial0", fx->ctx, &err);
    g_assert_no_error(err);

    uint8_t chunk[1024];
    memset(chunk, 'y', sizeof(chunk));
    gint64 t0 = g_get_monotonic_time();
    for (int i = 0; i < 10 * 1024; i++)
        vmm_chardev_write(c, chunk, sizeof(chunk));
    g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC);
    g_assert_cmpuint(vmm_chardev_dropped(c), ==, 10 * 1024 * 1024);

    /* a client that connects and never reads: the guest still never waits */
    int cl = unix_client(path);
    WAIT_FOR(fx->ctx, vmm_chardev_connected(c));
    uint64_t d0 = vmm_chardev_dropped(c);
    t0 = g_get_monotonic_time();
    for (int i = 0; i < 8 * 1024; i++) {
        vmm_chardev_write(c, chunk, sizeof(chunk));
        g_main_context_iteration(fx->ctx, FALSE);
    }
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 2 * G_USEC_PER_SEC);
    g_assert_cmpuint(vmm_chardev_dropped(c) - d0, >, 0);
    g_assert_true(vmm_chardev_connected(c));

    /* what was kept arrives in order once the client reads */
    g_autoptr(GString) acc = g_string_new(NULL);
    uint64_t kept = 8 * 1024 * 1024 - (vmm_chardev_dropped(c) - d0);
    WAIT_FOR(fx->ctx, (read_avail(cl, acc), acc->len >= kept));
    g_assert_cmpuint(acc->len, ==, kept);
    close(cl);
    vmm_chardev_close(c);
}

/* Several vCPU threads writing at once: every byte is either delivered or
 * counted as dropped, and writes from one call stay together. */
typedef struct {
    VmmChardev *c;
    char tag;
    gint *finished;
} WriterArg;

static gpointer writer_thread(gpointer data)
{
    WriterArg *a = data;
    uint8_t rec[8];
    memset(rec, a->tag, sizeof(rec));
    for (int i = 0; i < 20000; i++)
        vmm_chardev_write(a->c, rec, sizeof(rec));
    g_atomic_int_inc(a->finished);
    return NULL;
}

static void test_threads(Fixture *fx, gconstpointer data)
{
    (void)data;
    g_autofree char *path = g_build_filename(fx->dir, "th.sock", NULL);
    g_autoptr(GError) err = NULL;
    VmmChrDef def = { .type = VMM_CHR_UNIX, .path = path, .listen = true };
    VmmChardev *c = vmm_chardev_open(&def, "serial0", fx->ctx, &err);
    g_assert_no_error(err);
    int cl = unix_client(path);
    WAIT_FOR(fx->ctx, vmm_chardev_connected(c));

    gint finished = 0;
    WriterArg args[4];
    GThread *th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (WriterArg){ c, (char)('A' + i), &finished };
        th[i] = g_thread_new("writer", writer_thread, &args[i]);
    }
    /* the loop and the reader keep going while the threads write */
    g_autoptr(GString) acc = g_string_new(NULL);
    WAIT_FOR(fx->ctx, (read_avail(cl, acc), g_atomic_int_get(&finished) == 4));
    for (int i = 0; i < 4; i++)
        g_thread_join(th[i]);

    const uint64_t total = 4 * 20000 * 8;
    WAIT_FOR(fx->ctx, (read_avail(cl, acc),
                       acc->len + vmm_chardev_dropped(c) >= total));
    g_assert_cmpuint(acc->len + vmm_chardev_dropped(c), ==, total);
    g_test_message("delivered %zu, dropped %" G_GUINT64_FORMAT, acc->len,
                   vmm_chardev_dropped(c));
    g_assert_cmpuint(acc->len % 8, ==, 0);
    for (gsize i = 0; i < acc->len; i += 8)
        for (int k = 1; k < 8; k++)
            g_assert_cmpint(acc->str[i + k], ==, acc->str[i]);
    close(cl);
    vmm_chardev_close(c);
}

/* ------------------------------------------------------------------------ */
/* stdio (in subprocesses: they replace fd 0)                               */

static void test_stdio(void)
{
    if (g_test_subprocess()) {
        /* stdout is the guest's: GLib's own messages go to stderr */
        g_log_writer_default_set_use_stderr(TRUE);
        GMainContext *ctx = g_main_context_new();
        int p[2];
        g_assert_cmpint(pipe(p), ==, 0);
        g_assert_cmpint(write(p[1], "typed", 5), ==, 5);
        close(p[1]);                       /* EOF after the data */
        g_assert_cmpint(dup2(p[0], STDIN_FILENO), ==, STDIN_FILENO);
        close(p[0]);

        VmmChrDef def = { .type = VMM_CHR_STDIO };
        Frontend fe;
        fe_init(&fe, G_MAXSIZE);
        g_autoptr(GError) err = NULL;
        VmmChardev *c = vmm_chardev_open(&def, "serial0", ctx, &err);
        g_assert_no_error(err);
        fe_attach(c, &fe);
        /* a second stdio device writes but does not read stdin */
        VmmChardev *c2 = vmm_chardev_open(&def, "serial1", ctx, &err);
        g_assert_no_error(err);
        Frontend fe2;
        fe_init(&fe2, G_MAXSIZE);
        fe_attach(c2, &fe2);

        WAIT_FOR(ctx, fe_has(&fe, "typed"));
        /* EOF: reading stops, nothing stays armed */
        WAIT_FOR(ctx, !g_main_context_pending(ctx));
        spin(ctx, 20);
        g_assert_true(fe_has(&fe, "typed"));
        g_assert_true(fe_has(&fe2, ""));
        wr(c, "hello from the guest\n");
        wr(c2, "and from serial1\n");
        g_assert_true(vmm_chardev_connected(c));
        vmm_chardev_close(c2);
        vmm_chardev_close(c);
        fe_clear(&fe);
        fe_clear(&fe2);
        g_main_context_unref(ctx);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
    g_test_trap_assert_stdout("hello from the guest\nand from serial1\n");
}

/* stdin on a terminal is raw while open and restored on close. */
static void test_stdio_tty(void)
{
    if (g_test_subprocess()) {
        int m = posix_openpt(O_RDWR | O_NOCTTY);
        g_assert_cmpint(m, >=, 0);
        g_assert_cmpint(grantpt(m), ==, 0);
        g_assert_cmpint(unlockpt(m), ==, 0);
        int s = open(ptsname(m), O_RDWR | O_NOCTTY);
        g_assert_cmpint(s, >=, 0);
        g_assert_cmpint(dup2(s, STDIN_FILENO), ==, STDIN_FILENO);
        struct termios before, during, after;
        g_assert_cmpint(tcgetattr(STDIN_FILENO, &before), ==, 0);
        g_assert_true(before.c_lflag & ICANON);

        VmmChrDef def = { .type = VMM_CHR_STDIO };
        g_autoptr(GError) err = NULL;
        VmmChardev *c = vmm_chardev_open(&def, "serial0", NULL, &err);
        g_assert_no_error(err);
        g_assert_cmpint(tcgetattr(STDIN_FILENO, &during), ==, 0);
        g_assert_false(during.c_lflag & (ICANON | ECHO));
        g_assert_true(during.c_lflag & ISIG);       /* Ctrl-C still works */
        g_assert_true(during.c_oflag & OPOST);
        vmm_chardev_close(c);
        g_assert_cmpint(tcgetattr(STDIN_FILENO, &after), ==, 0);
        g_assert_cmpint(after.c_lflag, ==, before.c_lflag);
        g_assert_cmpint(after.c_iflag, ==, before.c_iflag);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add(name, Fixture, NULL, fx_setup, fn, fx_teardown)
    ADD("/chardev/file", test_file);
    ADD("/chardev/unix/bind", test_unix_bind);
    ADD("/chardev/unix/bind-no-frontend", test_unix_bind_no_frontend);
    ADD("/chardev/unix/stale-socket", test_unix_stale);
    ADD("/chardev/unix/refused", test_unix_refused);
    ADD("/chardev/unix/connect", test_unix_connect);
    ADD("/chardev/pty", test_pty);
    ADD("/chardev/pty/no-reader", test_pty_no_reader);
    ADD("/chardev/flow-control", test_flow_control);
    ADD("/chardev/write-no-peer", test_write_no_peer);
    ADD("/chardev/threads", test_threads);
#undef ADD
    g_test_add_func("/chardev/pty/message", test_pty_message);
    g_test_add_func("/chardev/stdio", test_stdio);
    g_test_add_func("/chardev/stdio/tty", test_stdio_tty);
    return g_test_run();
}
