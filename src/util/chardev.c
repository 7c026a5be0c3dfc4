/* Character-device backends: stdio, file, pty, unix socket.
 *
 * Ownership of state between threads:
 *  - vCPU threads call vmm_chardev_write()/accept_input(); they only touch
 *    what `lock` guards (the output ring, counters, the kick source) and,
 *    for stdio/file, the output fd, which never changes after open.
 *  - Everything else (input watch, connection fds, listen socket) belongs to
 *    the thread iterating the main context. Requests from other threads go
 *    through one idle "kick" source, so every state change of the input and
 *    connection happens on that thread, in order.
 * Lock order: c->lock may be held while calling into GLib (attach/destroy
 * take the context lock); frontend callbacks are never called with it held. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* accept4, POLLRDHUP, ptsname_r */
#endif
#include "util/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <glib-unix.h>

#define IN_CHUNK 4096
#define DIRECT_WRITE_TIMEOUT_MS 1000   /* stdio/file stuck on EAGAIN */
#define ACCEPT_RETRY_SECONDS 1

/* stdin is process-wide: only one stdio chardev reads it. */
static gint stdin_claimed;

struct VmmChardev {
    VmmChrType type;
    char *label;
    char *path;               /* file path or socket path */
    char *pty_path;
    bool unix_listen;
    GMainContext *ctx;

    int in_fd;                /* -1 when there is nothing to read */
    int out_fd;               /* -1 when no peer (unix) */
    int listen_fd;            /* unix bind */
    int pty_slave_fd;         /* held open: the master never sees a hangup */
    bool owns_stdin;
    bool sock_bound;
    dev_t sock_dev;           /* identity of the socket file we created */
    ino_t sock_ino;
    bool tty_raw;
    struct termios saved_tios;

    /* main-context thread only */
    GSource *in_src;
    GSource *listen_src;
    GSource *listen_retry_src;
    void (*conn_changed)(void *opaque, bool up);
    void *conn_opaque;
    bool in_paused;           /* can_receive() said 0: wait for accept_input */
    bool in_eof;

    GMutex lock;
    /* guarded by lock */
    size_t (*can_receive)(void *opaque);
    void (*receive)(void *opaque, const uint8_t *buf, size_t len);
    void *opaque;
    bool connected;           /* pty/unix: output has a peer */
    uint8_t *ring;
    size_t ring_head, ring_len;
    uint64_t dropped;
    GSource *kick_src;        /* pending idle callback on the main context */
    bool resume_input;        /* accept_input() since the last kick */
    GSource *out_src;         /* G_IO_OUT watch while output is pending */
    bool write_error_reported;
};

static bool is_buffered(const VmmChardev *c)
{
    return c->type == VMM_CHR_PTY || c->type == VMM_CHR_UNIX;
}

static void destroy_source(GSource **src)
{
    if (*src) {
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
    }
}

static bool set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

static bool fail_errno(GError **err, int e, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static bool fail_errno(GError **err, int e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", msg,
                g_strerror(e));
    return false;
}

/* ------------------------------------------------------------------------ */
/* main-context side                                                        */

static void flush_out(VmmChardev *c);
static void update_in_watch(VmmChardev *c);

static gboolean kick_cb(gpointer data)
{
    VmmChardev *c = data;
    g_mutex_lock(&c->lock);
    g_clear_pointer(&c->kick_src, g_source_unref);
    bool resume = c->resume_input;
    c->resume_input = false;
    g_mutex_unlock(&c->lock);

    if (resume)
        c->in_paused = false;
    update_in_watch(c);
    if (is_buffered(c))
        flush_out(c);
    return G_SOURCE_REMOVE;
}

/* Wakes the main context to run kick_cb once; callers hold c->lock. */
static void schedule_kick_locked(VmmChardev *c)
{
    if (c->kick_src)
        return;
    c->kick_src = g_idle_source_new();
    g_source_set_priority(c->kick_src, G_PRIORITY_DEFAULT);
    g_source_set_callback(c->kick_src, kick_cb, c, NULL);
    g_source_attach(c->kick_src, c->ctx);
}

static void disconnect(VmmChardev *c)
{
    destroy_source(&c->in_src);
    g_mutex_lock(&c->lock);
    destroy_source(&c->out_src);
    c->dropped += c->ring_len;
    c->ring_len = c->ring_head = 0;
    c->connected = false;
    int fd = c->out_fd;
    c->out_fd = c->in_fd = -1;
    g_mutex_unlock(&c->lock);
    if (fd >= 0)
        close(fd);
    c->in_paused = c->in_eof = false;
    g_debug("%s: unix socket peer on '%s' disconnected", c->label, c->path);
    if (c->conn_changed)
        c->conn_changed(c->conn_opaque, false);
}

static gboolean in_ready(int fd, GIOCondition cond, gpointer data)
{
    VmmChardev *c = data;
    (void)cond;

    g_mutex_lock(&c->lock);
    size_t (*can_receive)(void *) = c->can_receive;
    void (*receive)(void *, const uint8_t *, size_t) = c->receive;
    void *opaque = c->opaque;
    g_mutex_unlock(&c->lock);

    if (!can_receive || !receive) {
        destroy_source(&c->in_src);
        return G_SOURCE_REMOVE;
    }
    size_t room = can_receive(opaque);
    if (room == 0) {
        /* Leave the bytes in the fd (kernel buffer = backpressure) until
         * the frontend calls accept_input. */
        c->in_paused = true;
        destroy_source(&c->in_src);
        return G_SOURCE_REMOVE;
    }
    uint8_t buf[IN_CHUNK];
    ssize_t n = read(fd, buf, MIN(room, sizeof(buf)));
    if (n > 0) {
        receive(opaque, buf, (size_t)n);
        return G_SOURCE_CONTINUE;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return G_SOURCE_CONTINUE;
    if (c->type == VMM_CHR_UNIX) {
        disconnect(c);
        return G_SOURCE_REMOVE;
    }
    /* stdin at EOF (or a read error): just stop reading. */
    if (n < 0)
        g_debug("%s: input read failed: %s; input stops", c->label, g_strerror(errno));
    c->in_eof = true;
    destroy_source(&c->in_src);
    return G_SOURCE_REMOVE;
}

static void update_in_watch(VmmChardev *c)
{
    g_mutex_lock(&c->lock);
    bool have_frontend = c->can_receive && c->receive;
    g_mutex_unlock(&c->lock);

    bool want = have_frontend && c->in_fd >= 0 && !c->in_paused && !c->in_eof;
    if (want && !c->in_src) {
        c->in_src = g_unix_fd_source_new(c->in_fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
        g_source_set_callback(c->in_src, G_SOURCE_FUNC(in_ready), c, NULL);
        g_source_attach(c->in_src, c->ctx);
    } else if (!want) {
        destroy_source(&c->in_src);
    }
}

static gboolean out_ready(int fd, GIOCondition cond, gpointer data)
{
    (void)fd; (void)cond;
    flush_out(data);
    return G_SOURCE_CONTINUE;   /* flush_out removes the watch when done */
}

/* Writes the ring to the peer without blocking; watches for G_IO_OUT while
 * something is left. */
static void flush_out(VmmChardev *c)
{
    bool failed = false;
    int err = 0;

    g_mutex_lock(&c->lock);
    while (c->ring_len > 0 && c->out_fd >= 0) {
        size_t chunk = MIN(c->ring_len, VMM_CHARDEV_OUT_BUFFER - c->ring_head);
        const uint8_t *p = c->ring + c->ring_head;
        ssize_t n = c->type == VMM_CHR_UNIX
            ? send(c->out_fd, p, chunk, MSG_NOSIGNAL | MSG_DONTWAIT)
            : write(c->out_fd, p, chunk);
        if (n > 0) {
            c->ring_head = (c->ring_head + (size_t)n) % VMM_CHARDEV_OUT_BUFFER;
            c->ring_len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        failed = true;
        err = n < 0 ? errno : EIO;
        break;
    }
    if (c->ring_len == 0)
        c->ring_head = 0;
    bool need_watch = !failed && c->ring_len > 0 && c->out_fd >= 0;
    if (need_watch && !c->out_src) {
        c->out_src = g_unix_fd_source_new(c->out_fd, G_IO_OUT);
        g_source_set_callback(c->out_src, G_SOURCE_FUNC(out_ready), c, NULL);
        g_source_attach(c->out_src, c->ctx);
    } else if (!need_watch) {
        destroy_source(&c->out_src);
    }
    if (failed && c->type == VMM_CHR_PTY) {
        /* Cannot happen while we hold the slave; drop rather than spin. */
        c->dropped += c->ring_len;
        c->ring_len = c->ring_head = 0;
    }
    g_mutex_unlock(&c->lock);

    if (failed && c->type == VMM_CHR_UNIX) {
        g_debug("%s: write to unix socket '%s' failed: %s", c->label, c->path,
                g_strerror(err));
        disconnect(c);
    }
}

/* Whether the connected unix peer has hung up (checked before refusing a
 * new client, since without a frontend we do not watch the connection). */
static bool peer_gone(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLRDHUP };
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static gboolean listen_ready(int fd, GIOCondition cond, gpointer data);

static gboolean listen_retry(gpointer data)
{
    VmmChardev *c = data;
    g_clear_pointer(&c->listen_retry_src, g_source_unref);
    c->listen_src = g_unix_fd_source_new(c->listen_fd, G_IO_IN);
    g_source_set_callback(c->listen_src, G_SOURCE_FUNC(listen_ready), c, NULL);
    g_source_attach(c->listen_src, c->ctx);
    return G_SOURCE_REMOVE;
}

static gboolean listen_ready(int fd, GIOCondition cond, gpointer data)
{
    VmmChardev *c = data;
    (void)cond;

    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
        int e = errno;
        if (e == EINTR || e == EAGAIN || e == EWOULDBLOCK || e == ECONNABORTED)
            return G_SOURCE_CONTINUE;
        /* e.g. EMFILE: the listen fd stays readable; back off, don't spin */
        g_warning("%s: cannot accept a connection on unix socket '%s': %s; "
                  "retrying in %d s", c->label, c->path, g_strerror(e),
                  ACCEPT_RETRY_SECONDS);
        g_clear_pointer(&c->listen_src, g_source_unref);
        c->listen_retry_src = g_timeout_source_new_seconds(ACCEPT_RETRY_SECONDS);
        g_source_set_callback(c->listen_retry_src, listen_retry, c, NULL);
        g_source_attach(c->listen_retry_src, c->ctx);
        return G_SOURCE_REMOVE;
    }

    g_mutex_lock(&c->lock);
    int cur = c->out_fd;
    g_mutex_unlock(&c->lock);
    if (cur >= 0 && peer_gone(cur)) {
        disconnect(c);
        cur = -1;
    }
    if (cur >= 0) {
        /* One client at a time: the newcomer sees EOF at once. */
        g_debug("%s: refusing a second client on '%s'", c->label, c->path);
        close(cfd);
        return G_SOURCE_CONTINUE;
    }
    g_mutex_lock(&c->lock);
    c->in_fd = c->out_fd = cfd;
    c->connected = true;
    g_mutex_unlock(&c->lock);
    c->in_paused = c->in_eof = false;
    update_in_watch(c);
    g_debug("%s: client connected on unix socket '%s'", c->label, c->path);
    if (c->conn_changed)
        c->conn_changed(c->conn_opaque, true);
    return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* opening                                                                  */

static bool open_stdio(VmmChardev *c, GError **err)
{
    (void)err;
    c->out_fd = STDOUT_FILENO;
    /* fd 0/1 are shared with the parent: never make them non-blocking. */
    int fl = fcntl(STDIN_FILENO, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY)
        return true;                      /* no readable stdin: output only */
    if (!g_atomic_int_compare_and_exchange(&stdin_claimed, 0, 1)) {
        g_debug("%s: stdin is already read by another stdio device", c->label);
        return true;
    }
    c->owns_stdin = true;
    c->in_fd = STDIN_FILENO;
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &c->saved_tios) == 0) {
        /* QEMU's -serial stdio: raw input, output post-processing and
         * signals (Ctrl-C) kept. */
        struct termios t = c->saved_tios;
        t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR |
                                 IGNCR | ICRNL | IXON);
        t.c_oflag |= OPOST;
        t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | IEXTEN);
        t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
        t.c_cflag |= CS8;
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
            c->tty_raw = true;
    }
    return true;
}

static bool open_file(VmmChardev *c, bool append, GError **err)
{
    /* O_NONBLOCK: a FIFO without reader fails (ENXIO) instead of hanging. */
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                (append ? O_APPEND : O_TRUNC);
    c->out_fd = open(c->path, flags, 0600);
    if (c->out_fd < 0)
        return fail_errno(err, errno, "%s: cannot open output file '%s'",
                          c->label, c->path);
    return true;
}

static bool open_pty(VmmChardev *c, GError **err)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return fail_errno(err, errno, "%s: cannot open a pseudo-terminal (/dev/ptmx)",
                          c->label);
    char name[128];
    if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0) {
        int e = errno;
        close(m);
        return fail_errno(err, e, "%s: cannot set up a pseudo-terminal", c->label);
    }
    int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        int e = errno;
        close(m);
        return fail_errno(err, e, "%s: cannot open pseudo-terminal '%s'", c->label, name);
    }
    /* Raw: no echo of our output back to us, no line editing, 8 bits. */
    struct termios t;
    bool ok = tcgetattr(s, &t) == 0;
    if (ok) {
        cfmakeraw(&t);
        ok = tcsetattr(s, TCSANOW, &t) == 0 && set_nonblock(m);
    }
    if (!ok) {
        int e = errno;
        close(s);
        close(m);
        return fail_errno(err, e, "%s: cannot configure pseudo-terminal '%s'",
                          c->label, name);
    }
    c->in_fd = c->out_fd = m;
    c->pty_slave_fd = s;
    c->pty_path = g_strdup(name);
    c->connected = true;
    const char *prog = g_get_prgname();
    g_printerr("%s: char device redirected to %s (label %s)\n",
               prog ? prog : "vmm-worker", name, c->label);
    return true;
}

static bool fill_sockaddr(VmmChardev *c, struct sockaddr_un *sa, GError **err)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(c->path) >= sizeof(sa->sun_path))
        return fail_errno(err, ENAMETOOLONG, "%s: unix socket path '%s' is too long "
                          "(at most %zu bytes)", c->label, c->path,
                          sizeof(sa->sun_path) - 1);
    memcpy(sa->sun_path, c->path, strlen(c->path));
    return true;
}

/* Whether path's directory is dir or below it, both resolved (symlinks,
 * "..") as far as they exist. */
static bool path_is_under(const char *path, const char *dir)
{
    g_autofree char *parent = g_path_get_dirname(path);
    g_autofree char *rparent = realpath(parent, NULL);
    g_autofree char *rdir = realpath(dir, NULL);
    const char *p = rparent ? rparent : parent;
    const char *d = rdir ? rdir : dir;
    size_t n = strlen(d);
    while (n > 1 && d[n - 1] == '/')
        n--;
    return strncmp(p, d, n) == 0 && (p[n] == '\0' || p[n] == '/' || n == 1);
}

static bool open_unix(VmmChardev *c, const char *run_dir, GError **err)
{
    struct sockaddr_un sa;
    if (!fill_sockaddr(c, &sa, err))
        return false;
    /* The run directory holds the daemon's sockets and every worker's
     * control socket: a guest's serial port must neither take one's place
     * nor talk to one. */
    if (run_dir && path_is_under(c->path, run_dir))
        return fail_errno(err, EPERM, "%s: unix socket path '%s' is inside vmmd's run "
                          "directory '%s', which is reserved for the daemon's and the "
                          "workers' own sockets", c->label, c->path, run_dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail_errno(err, errno, "%s: cannot create a unix socket", c->label);

    if (!c->unix_listen) {
        /* Blocking connect: immediate for a listening unix socket. */
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            int e = errno;
            close(fd);
            return fail_errno(err, e, "%s: cannot connect to unix socket '%s'",
                              c->label, c->path);
        }
        if (!set_nonblock(fd)) {
            int e = errno;
            close(fd);
            return fail_errno(err, e, "%s: cannot configure unix socket '%s'",
                              c->label, c->path);
        }
        c->in_fd = c->out_fd = fd;
        c->connected = true;
        return true;
    }

    /* Replace a stale socket left by a previous run, nothing else: not a
     * file, and not a socket someone listens on (the daemon's, another
     * VM's control or console socket), as QEMU and libvirt leave them. */
    struct stat st;
    if (lstat(c->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            close(fd);
            return fail_errno(err, EEXIST, "%s: '%s' exists and is not a socket; "
                              "refusing to replace it", c->label, c->path);
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int e = probe < 0 ? errno
              : connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
        if (probe >= 0)
            close(probe);
        if (e != ECONNREFUSED) {
            close(fd);
            if (e == 0)
                return fail_errno(err, EADDRINUSE, "%s: unix socket '%s' is in use: "
                                  "a process is listening on it; refusing to replace it",
                                  c->label, c->path);
            return fail_errno(err, e, "%s: cannot tell whether unix socket '%s' is in "
                              "use; refusing to replace it", c->label, c->path);
        }
        if (unlink(c->path) < 0 && errno != ENOENT) {
            int e = errno;
            close(fd);
            return fail_errno(err, e, "%s: cannot remove stale socket '%s'",
                              c->label, c->path);
        }
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return fail_errno(err, e, "%s: cannot bind unix socket '%s'", c->label, c->path);
    }
    if (lstat(c->path, &st) == 0) {
        c->sock_bound = true;
        c->sock_dev = st.st_dev;
        c->sock_ino = st.st_ino;
    }
    if (listen(fd, 1) < 0 || !set_nonblock(fd)) {
        int e = errno;
        close(fd);
        return fail_errno(err, e, "%s: cannot listen on unix socket '%s'",
                          c->label, c->path);
    }
    c->listen_fd = fd;
    c->listen_src = g_unix_fd_source_new(fd, G_IO_IN);
    g_source_set_callback(c->listen_src, G_SOURCE_FUNC(listen_ready), c, NULL);
    g_source_attach(c->listen_src, c->ctx);
    return true;
}

VmmChardev *vmm_chardev_open(const VmmChrDef *def, const char *label,
                             GMainContext *ctx, GError **err)
{
    return vmm_chardev_open_checked(def, label, ctx, NULL, err);
}

VmmChardev *vmm_chardev_open_checked(const VmmChrDef *def, const char *label,
                                     GMainContext *ctx, const char *run_dir,
                                     GError **err)
{
    g_return_val_if_fail(def != NULL, NULL);

    VmmChardev *c = g_new0(VmmChardev, 1);
    c->type = def->type;
    c->label = g_strdup(label ? label : "chardev");
    c->path = g_strdup(def->path);
    c->unix_listen = def->listen;
    c->ctx = g_main_context_ref(ctx ? ctx : g_main_context_default());
    c->in_fd = c->out_fd = c->listen_fd = c->pty_slave_fd = -1;
    g_mutex_init(&c->lock);

    if ((def->type == VMM_CHR_FILE || def->type == VMM_CHR_UNIX) &&
        (!def->path || !*def->path)) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s: %s backend needs a path", c->label,
                    vmm_chr_type_to_string(def->type));
        vmm_chardev_close(c);
        return NULL;
    }
    bool ok = false;
    switch (def->type) {
    case VMM_CHR_STDIO: ok = open_stdio(c, err); break;
    case VMM_CHR_FILE: ok = open_file(c, def->append, err); break;
    case VMM_CHR_PTY: ok = open_pty(c, err); break;
    case VMM_CHR_UNIX: ok = open_unix(c, run_dir, err); break;
    }
    if (!ok) {
        vmm_chardev_close(c);
        return NULL;
    }
    if (is_buffered(c))
        c->ring = g_malloc(VMM_CHARDEV_OUT_BUFFER);
    return c;
}

/* ------------------------------------------------------------------------ */
/* API                                                                      */

void vmm_chardev_set_frontend(VmmChardev *c,
                              size_t (*can_receive)(void *opaque),
                              void (*receive)(void *opaque, const uint8_t *buf,
                                              size_t len),
                              void *opaque)
{
    g_mutex_lock(&c->lock);
    c->can_receive = can_receive;
    c->receive = receive;
    c->opaque = opaque;
    c->resume_input = true;
    schedule_kick_locked(c);   /* (re)arms the input watch on the loop */
    g_mutex_unlock(&c->lock);
}

void vmm_chardev_set_connect_handler(VmmChardev *c, void (*changed)(void *opaque, bool up),
                                     void *opaque)
{
    c->conn_changed = changed;
    c->conn_opaque = opaque;
}

void vmm_chardev_accept_input(VmmChardev *c)
{
    g_mutex_lock(&c->lock);
    c->resume_input = true;
    schedule_kick_locked(c);
    g_mutex_unlock(&c->lock);
}

/* stdio/file: the caller waits for the write, as a real UART's THR would
 * if the host side were slow; EAGAIN (a non-blocking fd) waits at most
 * DIRECT_WRITE_TIMEOUT_MS. Called with c->lock held. */
static void write_direct_locked(VmmChardev *c, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(c->out_fd, buf, len);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = { .fd = c->out_fd, .events = POLLOUT };
            int r = poll(&p, 1, DIRECT_WRITE_TIMEOUT_MS);
            if (r > 0 || (r < 0 && errno == EINTR))
                continue;
            errno = ETIMEDOUT;
        }
        int e = n < 0 ? errno : EIO;
        if (!c->write_error_reported) {
            c->write_error_reported = true;
            g_warning("%s: writing guest output to %s failed: %s; output that "
                      "cannot be written is dropped", c->label,
                      c->type == VMM_CHR_FILE ? c->path : "stdout", g_strerror(e));
        }
        c->dropped += len;
        return;
    }
}

void vmm_chardev_write(VmmChardev *c, const uint8_t *buf, size_t len)
{
    if (!c || !len)
        return;
    g_mutex_lock(&c->lock);
    if (!is_buffered(c)) {
        write_direct_locked(c, buf, len);
    } else if (!c->connected) {
        c->dropped += len;
    } else {
        size_t n = MIN(len, VMM_CHARDEV_OUT_BUFFER - c->ring_len);
        size_t tail = (c->ring_head + c->ring_len) % VMM_CHARDEV_OUT_BUFFER;
        size_t first = MIN(n, VMM_CHARDEV_OUT_BUFFER - tail);
        memcpy(c->ring + tail, buf, first);
        memcpy(c->ring, buf + first, n - first);
        c->ring_len += n;
        c->dropped += len - n;
        if (n > 0 && !c->out_src)
            schedule_kick_locked(c);
    }
    g_mutex_unlock(&c->lock);
}

const char *vmm_chardev_pty_path(VmmChardev *c)
{
    return c ? c->pty_path : NULL;
}

bool vmm_chardev_connected(VmmChardev *c)
{
    g_mutex_lock(&c->lock);
    bool r = is_buffered(c) ? c->connected : c->out_fd >= 0;
    g_mutex_unlock(&c->lock);
    return r;
}

uint64_t vmm_chardev_dropped(VmmChardev *c)
{
    g_mutex_lock(&c->lock);
    uint64_t r = c->dropped;
    g_mutex_unlock(&c->lock);
    return r;
}

void vmm_chardev_close(VmmChardev *c)
{
    if (!c)
        return;
    if (c->ring)
        flush_out(c);                   /* last words, without blocking */

    g_mutex_lock(&c->lock);
    destroy_source(&c->kick_src);
    destroy_source(&c->out_src);
    g_mutex_unlock(&c->lock);
    destroy_source(&c->in_src);
    destroy_source(&c->listen_src);
    destroy_source(&c->listen_retry_src);

    if (c->tty_raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &c->saved_tios);
    if (c->owns_stdin)
        g_atomic_int_set(&stdin_claimed, 0);

    if (c->type != VMM_CHR_STDIO) {
        if (c->out_fd >= 0)
            close(c->out_fd);
        if (c->in_fd >= 0 && c->in_fd != c->out_fd)
            close(c->in_fd);
    }
    if (c->pty_slave_fd >= 0)
        close(c->pty_slave_fd);
    if (c->listen_fd >= 0)
        close(c->listen_fd);
    /* Remove our socket file, unless something else replaced it since. */
    struct stat st;
    if (c->sock_bound && lstat(c->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
        st.st_dev == c->sock_dev && st.st_ino == c->sock_ino)
        unlink(c->path);

    g_main_context_unref(c->ctx);
    g_mutex_clear(&c->lock);
    g_free(c->ring);
    g_free(c->label);
    g_free(c->path);
    g_free(c->pty_path);
    g_free(c);
}
