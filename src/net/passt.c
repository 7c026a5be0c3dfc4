/* Starting passt and speaking its stream framing (see passt.h). */
#include "net/passt.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

/* passt's own messages (it logs to stderr in the foreground), for the
 * error when it does not come up */
static char *read_log(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "passt.log", NULL);
    char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return g_strdup("");
    g_strstrip(text);
    return text;
}

static void remove_dir(const char *dir)
{
    g_autofree char *sock = g_build_filename(dir, "passt.sock", NULL);
    g_autofree char *log = g_build_filename(dir, "passt.log", NULL);
    unlink(sock);
    unlink(log);
    rmdir(dir);
}

static void reap(pid_t pid)
{
    /* --one-off: passt exits once its client is gone; give it a moment,
     * then make sure */
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, NULL, WNOHANG) != 0)
            return;
        g_usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

VmmPasst *vmm_passt_start(const char *binary, const char *label,
                          const char *const *argv_extra, GError **err)
{
    const char *bin = binary ? binary : "passt";
    g_autofree char *path = g_find_program_in_path(bin);
    if (!path) {
        g_set_error(err, VMM_ERROR, 0,
                    "interface %s: cannot start passt: '%s' not found (install Debian's passt package)",
                    label, bin);
        return NULL;
    }
    g_autoptr(GError) e = NULL;
    g_autofree char *dir = g_dir_make_tmp("vmm-passt-XXXXXX", &e);
    if (!dir) {
        g_set_error(err, VMM_ERROR, 0, "interface %s: cannot start passt: %s", label, e->message);
        return NULL;
    }
    /* passt run by root changes to "nobody" before it binds its socket:
     * name that user explicitly and let it into the private directory */
    g_autofree char *runas = NULL;
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("nobody");
        if (!pw || chown(dir, pw->pw_uid, pw->pw_gid) < 0) {
            g_set_error(err, VMM_ERROR, 0,
                        "interface %s: cannot start passt: no user 'nobody' to run it as", label);
            remove_dir(dir);
            return NULL;
        }
        runas = g_strdup_printf("%u:%u", (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
    }
    g_autofree char *sock = g_build_filename(dir, "passt.sock", NULL);
    g_autofree char *logpath = g_build_filename(dir, "passt.log", NULL);
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0) {
        g_set_error(err, VMM_ERROR, 0, "interface %s: cannot start passt: %s: %s", label,
                    logpath, g_strerror(errno));
        remove_dir(dir);
        return NULL;
    }
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, path);
    g_ptr_array_add(argv, (char *)"--foreground");
    g_ptr_array_add(argv, (char *)"--one-off");
    g_ptr_array_add(argv, (char *)"--quiet");
    g_ptr_array_add(argv, (char *)"--socket");
    g_ptr_array_add(argv, sock);
    if (runas) {
        g_ptr_array_add(argv, (char *)"--runas");
        g_ptr_array_add(argv, runas);
    }
    for (const char *const *a = argv_extra; a && *a; a++)
        g_ptr_array_add(argv, (char *)*a);
    g_ptr_array_add(argv, NULL);
    GPid pid = 0;
    gboolean ok = g_spawn_async_with_fds(NULL, (char **)argv->pdata, NULL,
                                         G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL,
                                         NULL, NULL, &pid, -1, logfd, logfd, &e);
    g_ptr_array_free(argv, TRUE);
    close(logfd);
    if (!ok) {
        g_set_error(err, VMM_ERROR, 0, "interface %s: cannot start passt: %s", label, e->message);
        remove_dir(dir);
        return NULL;
    }

    /* passt binds its socket once it is set up; poll for it, and for its
     * death */
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
    int fd = -1;
    for (int i = 0; i < 500; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            g_autofree char *msg = read_log(dir);
            g_set_error(err, VMM_ERROR, 0, "interface %s: passt exited at start-up (%s%d)%s%s", label,
                        WIFSIGNALED(st) ? "signal " : "status ",
                        WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), *msg ? ": " : "", msg);
            remove_dir(dir);
            return NULL;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            break;
        if (fd >= 0)
            close(fd);
        fd = -1;
        g_usleep(10000);
    }
    if (fd < 0) {
        g_autofree char *msg = read_log(dir);
        g_set_error(err, VMM_ERROR, 0, "interface %s: passt did not open %s within 5 s%s%s", label,
                    sock, *msg ? ": " : "", msg);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        remove_dir(dir);
        return NULL;
    }
    /* connected: the directory is no longer needed (--one-off accepts no
     * second client, passt keeps its log open, and read_log serves
     * start-up failures only). Removed now, while the worker may: once
     * confined it can remove nothing (vmmd(8), SANDBOX). */
    remove_dir(dir);
    VmmPasst *p = g_new0(VmmPasst, 1);
    p->pid = pid;
    p->fd = fd;
    return p;
}

void vmm_passt_stop(VmmPasst *p)
{
    if (!p)
        return;
    if (p->fd >= 0)
        close(p->fd);
    if (p->pid > 0)
        reap(p->pid);
    g_free(p);
}

static void reap_detached(GPid pid, gint status, gpointer data)
{
    (void)status;
    (void)data;
    g_spawn_close_pid(pid);
}

void vmm_passt_detach(VmmPasst *p)
{
    if (!p)
        return;
    if (p->fd >= 0)
        close(p->fd);
    if (p->pid > 0)
        g_child_watch_add(p->pid, reap_detached, NULL);
    g_free(p);
}

ssize_t vmm_stream_rx_fill(VmmStreamRx *rx, int fd)
{
    if (rx->consumed) {
        memmove(rx->buf, rx->buf + rx->consumed, rx->have - rx->consumed);
        rx->have -= rx->consumed;
        rx->consumed = 0;
    }
    if (rx->have == sizeof(rx->buf)) {
        errno = EAGAIN;   /* a whole frame waits: take it first */
        return -1;
    }
    ssize_t n;
    do
        n = read(fd, rx->buf + rx->have, sizeof(rx->buf) - rx->have);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        rx->have += (size_t)n;
    return n;
}

int vmm_stream_rx_next(VmmStreamRx *rx, const uint8_t **frame, size_t *len)
{
    size_t avail = rx->have - rx->consumed;
    const uint8_t *p = rx->buf + rx->consumed;
    if (avail < 4)
        return 0;
    uint32_t l = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (l == 0 || l > VMM_PASST_FRAME_MAX)
        return -1;
    if (avail < 4 + (size_t)l)
        return 0;
    *frame = p + 4;
    *len = l;
    rx->consumed += 4 + (size_t)l;
    return 1;
}

int vmm_stream_tx(int fd, const struct iovec *iov, int iovcnt)
{
    if (iovcnt < 0 || iovcnt > 63) {
        errno = EINVAL;
        return -1;
    }
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (total == 0 || total > VMM_PASST_FRAME_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    uint8_t hdr[4] = { (uint8_t)(total >> 24), (uint8_t)(total >> 16), (uint8_t)(total >> 8),
                       (uint8_t)total };
    struct iovec v[64];
    v[0] = (struct iovec){ hdr, 4 };
    memcpy(v + 1, iov, sizeof(*iov) * (size_t)iovcnt);
    int n = iovcnt + 1;
    struct iovec *cur = v;
    /* a partial write must be finished, or the stream loses its framing */
    while (n > 0) {
        struct msghdr m = { .msg_iov = cur, .msg_iovlen = (size_t)n };
        ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct timespec ts = { 0, 50000 };
                nanosleep(&ts, NULL);
                continue;
            }
            return -1;
        }
        while (n > 0 && (size_t)w >= cur->iov_len) {
            w -= (ssize_t)cur->iov_len;
            cur++;
            n--;
        }
        if (n > 0) {
            cur->iov_base = (uint8_t *)cur->iov_base + w;
            cur->iov_len -= (size_t)w;
        }
    }
    return 0;
}
