#include "virtio/virtio_iothread.h"
#include "util/log.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define STOP_TAG G_MAXUINT32
#define MAX_EVENTS 8

typedef struct {
    int fd;
    uint32_t tag;
    bool drain;
} Watch;

struct VmmIoThread {
    char *what;
    const VmmIoThreadOps *ops;
    void *opaque;
    int ep, stop_fd;
    GArray *watches;          /* Watch; touched by the thread while it runs */
    GThread *thread;
};

static void drain(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof(v)) > 0)
        ;
}

VmmIoThread *vmm_iothread_new(const char *what, const VmmIoThreadOps *ops, void *opaque,
                              GError **err)
{
    VmmIoThread *t = g_new0(VmmIoThread, 1);
    t->what = g_strdup(what);
    t->ops = ops;
    t->opaque = opaque;
    t->watches = g_array_new(FALSE, FALSE, sizeof(Watch));
    t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = STOP_TAG };
    if (t->stop_fd < 0 || t->ep < 0 || epoll_ctl(t->ep, EPOLL_CTL_ADD, t->stop_fd, &ev) < 0) {
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "%s: cannot make the I/O thread's eventfd/epoll: %s", what,
                    g_strerror(errno));
        vmm_iothread_free(t);
        return NULL;
    }
    return t;
}

void vmm_iothread_free(VmmIoThread *t)
{
    if (!t)
        return;
    vmm_iothread_stop(t);
    if (t->ep >= 0)
        close(t->ep);
    if (t->stop_fd >= 0)
        close(t->stop_fd);
    g_array_free(t->watches, TRUE);
    g_free(t->what);
    g_free(t);
}

bool vmm_iothread_watch(VmmIoThread *t, int fd, uint32_t tag, bool drain_it)
{
    g_return_val_if_fail(tag != STOP_TAG, false);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };
    if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        vmm_log_warn("%s: cannot watch fd %d: %s", t->what, fd, g_strerror(errno));
        return false;
    }
    Watch w = { fd, tag, drain_it };
    g_array_append_val(t->watches, w);
    return true;
}

void vmm_iothread_unwatch(VmmIoThread *t, int fd)
{
    for (guint i = 0; i < t->watches->len; i++) {
        if (g_array_index(t->watches, Watch, i).fd == fd) {
            epoll_ctl(t->ep, EPOLL_CTL_DEL, fd, NULL);
            g_array_remove_index_fast(t->watches, i);
            return;
        }
    }
}

static const Watch *find(VmmIoThread *t, uint32_t tag)
{
    for (guint i = 0; i < t->watches->len; i++)
        if (g_array_index(t->watches, Watch, i).tag == tag)
            return &g_array_index(t->watches, Watch, i);
    return NULL;
}

static gpointer run(gpointer data)
{
    VmmIoThread *t = data;
    const VmmIoThreadOps *ops = t->ops;
    vmm_seccomp_enter_thread(ops->kind);
    if (ops->ready)
        ops->ready(t->opaque);
    bool stopping = false;
    while (!stopping || (ops->busy && ops->busy(t->opaque))) {
        if (!stopping && ops->before_wait)
            ops->before_wait(t->opaque);
        struct epoll_event evs[MAX_EVENTS];
        int n = epoll_wait(t->ep, evs, MAX_EVENTS, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            /* Only a programming error gets here (bad epoll fd). */
            vmm_log_warn("%s: I/O thread wait failed: %s", t->what, g_strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            uint32_t tag = evs[i].data.u32;
            if (tag == STOP_TAG) {
                stopping = true;
                continue;
            }
            const Watch *w = find(t, tag);
            if (w && w->drain)
                drain(w->fd);
            ops->event(t->opaque, tag, stopping);
        }
        if (ops->after)
            ops->after(t->opaque, stopping);
    }
    return NULL;
}

void vmm_iothread_start(VmmIoThread *t, const char *name)
{
    g_return_if_fail(!t->thread);
    drain(t->stop_fd);   /* a stop that found no thread */
    t->thread = g_thread_new(name, run, t);
}

void vmm_iothread_stop(VmmIoThread *t)
{
    if (t->thread) {
        uint64_t one = 1;
        if (write(t->stop_fd, &one, sizeof(one)) < 0)
            vmm_log_warn("%s: cannot stop its I/O thread: %s", t->what, g_strerror(errno));
        g_thread_join(t->thread);
        t->thread = NULL;
    }
    for (guint i = 0; i < t->watches->len; i++)
        epoll_ctl(t->ep, EPOLL_CTL_DEL, g_array_index(t->watches, Watch, i).fd, NULL);
    g_array_set_size(t->watches, 0);
}

bool vmm_iothread_running(VmmIoThread *t)
{
    return t->thread != NULL;
}
