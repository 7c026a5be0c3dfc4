/* The I/O thread a virtio device runs its queues on: one GThread waiting in
 * epoll on the fds the device watches (queue ioeventfds, timers, backend
 * fds) plus a stop eventfd, started when the driver sets DRIVER_OK and
 * stopped (joined) at reset. virtio-blk (one per queue), virtio-rng and
 * virtio-balloon share it instead of each carrying the same loop. */
#ifndef VMM_VIRTIO_IOTHREAD_H
#define VMM_VIRTIO_IOTHREAD_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/sandbox.h"

typedef struct VmmIoThread VmmIoThread;

/* Called on the thread. `stopping`: the stop fd has fired. */
typedef struct {
    /* The seccomp allow-list the thread enters first (util/sandbox.h). */
    VmmThreadKind kind;
    /* Once, before the first wait: work the guest queued before the start. */
    void (*ready)(void *opaque);
    /* Before each wait, not once stopping (e.g. busy-polling). */
    void (*before_wait)(void *opaque);
    /* One ready fd, by the tag it was watched with. */
    void (*event)(void *opaque, uint32_t tag, bool stopping);
    /* After each batch of events. */
    void (*after)(void *opaque, bool stopping);
    /* Once stopping, the thread keeps waiting while this says true
     * (requests still in flight in a backend). NULL: stop at once. */
    bool (*busy)(void *opaque);
} VmmIoThreadOps;

/* what names the device in errors. NULL + err when the eventfd or epoll
 * instance cannot be made. */
VmmIoThread *vmm_iothread_new(const char *what, const VmmIoThreadOps *ops, void *opaque,
                              GError **err);
void vmm_iothread_free(VmmIoThread *t);   /* stops it first */

/* Adds fd to the set waited on, reported with tag (any value but
 * G_MAXUINT32). drain: read it empty before the event (eventfd, timerfd).
 * Before start, or from the thread itself. */
bool vmm_iothread_watch(VmmIoThread *t, int fd, uint32_t tag, bool drain);
void vmm_iothread_unwatch(VmmIoThread *t, int fd);

/* Starts the thread, named name. */
void vmm_iothread_start(VmmIoThread *t, const char *name);
/* Asks the thread to stop, joins it and forgets every watched fd (a reset
 * may bring new queue fds). Nothing when it is not running. */
void vmm_iothread_stop(VmmIoThread *t);
bool vmm_iothread_running(VmmIoThread *t);

#endif
