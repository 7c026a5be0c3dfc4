#include "vhost/vhost.h"
#include "util/sandbox.h"
#include "vhost/vhost_int.h"
#include "virtio/virtio_pci.h"
#include "vmm/vm.h"
#include "util/log.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

unsigned vmm_vhost_vm_regions(VmmVm *vm, VmmVhostMemRegion *out, unsigned max)
{
    unsigned n = 0;
    /* Both regions are windows of the one MAP_SHARED memfd, so a back end
     * that maps the fd sees the guest's stores. */
    if (n < max && vm->lowmem_size)
        out[n++] = (VmmVhostMemRegion){ .gpa = 0, .size = vm->lowmem_size,
                                        .hva = (uintptr_t)vm->ram, .fd = vm->mem_fd,
                                        .fd_offset = 0 };
    if (n < max && vm->highmem_size)
        out[n++] = (VmmVhostMemRegion){ .gpa = LAYOUT_HIGHMEM_START,
                                        .size = vm->highmem_size,
                                        .hva = (uintptr_t)(vm->ram + vm->lowmem_size),
                                        .fd = vm->mem_fd, .fd_offset = vm->lowmem_size };
    return n;
}

/* ---- the layer's thread -------------------------------------------------- */

static void wake(VmmVhostDev *v)
{
    uint64_t one = 1;
    if (write(v->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        vmm_log_warn("%s: eventfd write: %s", v->name, g_strerror(errno));
}

void vmm_vhost_irq_changed(VmmVhostDev *v)
{
    if (v)
        wake(v);
}

static bool start_queue_locked(VmmVhostDev *v, VmmVirtioDev *d, unsigned q, unsigned r,
                               unsigned base, GError **err);
static bool enable_rings_locked(VmmVhostDev *v, uint64_t started, GError **err);
static bool set_mem_table_locked(VmmVhostDev *v, VmmVm *vm, GError **err);

/* The inflight area covers all n rings the device has at its largest
 * queue size, so that a driver choosing other sizes needs no new one. */
static bool set_inflight_locked(VmmVhostDev *v, VmmVirtioDev *d, unsigned first, unsigned n,
                                GError **err)
{
    if (!v->ops->set_inflight)
        return true;
    unsigned qsize = 0;
    for (unsigned r = 0; r < n; r++)
        qsize = MAX(qsize, MAX(d->queues[first + r].max_size, d->queues[first + r].size));
    return v->ops->set_inflight(v, n, qsize, err);
}

void vmm_vhost_set_reconnect(VmmVhostDev *v, unsigned seconds)
{
    g_mutex_lock(&v->state_lock);
    v->reconnect_s = v->ops->reconnect ? seconds : 0;
    g_mutex_unlock(&v->state_lock);
}

/* After a reconnect: the rings that were started go to the new back end,
 * from the used index the old one left in guest memory (what it had
 * taken from the available ring but not completed is taken again). */
static bool resume_locked(VmmVhostDev *v, GError **err)
{
    VmmVirtioDev *d = v->dev;
    if (!d || !v->started)
        return true;
    if (!v->ops->set_features(v, d->guest_features & v->features, err) ||
        !set_mem_table_locked(v, d->vm, err) ||
        !set_inflight_locked(v, d, v->first_queue, v->nrings, err))
        return false;
    for (unsigned r = 0; r < VMM_VHOST_MAX_QUEUES; r++) {
        if (!(v->started & (1ULL << r)))
            continue;
        const VmmVirtioQueue *vq = &d->queues[v->first_queue + r];
        const uint16_t *used = vmm_vm_gpa_to_hva(d->vm, vq->used, 4);
        if (!used) {
            g_set_error(err, VMM_VHOST_ERROR, 0, "%s: queue %u: used ring outside RAM",
                        v->name, v->first_queue + r);
            return false;
        }
        uint16_t base = ((volatile const uint16_t *)used)[1];   /* used->idx */
        if (!start_queue_locked(v, d, v->first_queue + r, r, base, err))
            return false;
    }
    if (!enable_rings_locked(v, v->started, err))
        return false;
    /* The back end only looks at a ring when kicked. */
    for (unsigned r = 0; r < VMM_VHOST_MAX_QUEUES; r++) {
        uint64_t one = 1;
        if ((v->started & (1ULL << r)) &&
            write(d->queues[v->first_queue + r].kick_fd, &one, sizeof(one)) < 0 &&
            errno != EAGAIN)
            vmm_log_warn("%s: kick: %s", v->name, g_strerror(errno));
    }
    return true;
}

/* The back end hung up: every reconnect_s seconds a new connection and
 * the rings again; false when the device is being freed. */
static bool reconnect_loop(VmmVhostDev *v)
{
    for (unsigned attempt = 1;; attempt++) {
        struct pollfd p = { .fd = v->wake_fd, .events = POLLIN };
        int r = poll(&p, 1, (int)v->reconnect_s * 1000);
        uint64_t junk;
        while (read(v->wake_fd, &junk, sizeof(junk)) > 0)
            ;
        g_mutex_lock(&v->state_lock);
        bool quit = v->quit;
        g_mutex_unlock(&v->state_lock);
        if (quit)
            return false;
        if (r != 0)
            continue;   /* woken (interrupt routing changed): wait on */
        g_autoptr(GError) err = NULL;
        /* The socket first, without the lock: a vCPU thread that talks to
         * the device meanwhile is told it is disconnected, not held. */
        int fd = v->ops->reconnect_open(v, &err);
        bool ok = false;
        if (fd >= 0) {
            g_mutex_lock(&v->lock);
            ok = v->ops->reconnect(v, fd, &err) && resume_locked(v, &err);
            if (ok)
                g_atomic_int_set(&v->connected, 1);
            g_mutex_unlock(&v->lock);
        }
        if (ok) {
            vmm_log_info("%s: reconnected to the back end (attempt %u)", v->name, attempt);
            return true;
        }
        /* One line, not one per attempt. */
        if (attempt == 1)
            vmm_log_warn("%s: reconnecting: %s (trying again every %u s)", v->name,
                         err->message, v->reconnect_s);
    }
}

/* Waits for the back end to hang up and, while the driver runs without
 * MSI-X, relays the back end's call eventfds to the virtio-pci transport
 * (which raises INTx): with no irqfd assigned, nobody else reads them.
 * With MSI-X on, a masked vector's signal stays in the eventfd (the PBA
 * shows it) until the irqfd is assigned again, so it is left alone. */
static gpointer vhost_thread(gpointer data)
{
    vmm_seccomp_enter_thread(VMM_THREAD_VHOST);
    VmmVhostDev *v = data;
    for (;;) {
        struct pollfd p[2 + VMM_VHOST_MAX_QUEUES];
        unsigned qidx[VMM_VHOST_MAX_QUEUES], n = 0, nq = 0;
        g_mutex_lock(&v->state_lock);
        if (v->quit) {
            g_mutex_unlock(&v->state_lock);
            break;
        }
        VmmVirtioDev *d = v->dev;
        uint64_t started = v->started;
        unsigned first = v->first_queue;
        int hup = v->hup_fd;
        int backend_fd = v->backend_fd;
        g_mutex_unlock(&v->state_lock);

        p[n++] = (struct pollfd){ .fd = v->wake_fd, .events = POLLIN };
        if (hup >= 0 && g_atomic_int_get(&v->connected))
            p[n++] = (struct pollfd){ .fd = hup, .events = POLLRDHUP };
        unsigned be = n;
        if (backend_fd >= 0 && v->ops->serve_backend)
            p[n++] = (struct pollfd){ .fd = backend_fd, .events = POLLIN };
        unsigned first_q = n;
        if (d && started && !vmm_virtio_msix_enabled(d)) {
            for (unsigned r = 0; r < VMM_VHOST_MAX_QUEUES; r++) {
                if (!(started & (1ULL << r)))
                    continue;
                qidx[nq++] = first + r;
                p[n++] = (struct pollfd){ .fd = d->queues[first + r].call_fd,
                                          .events = POLLIN };
            }
        }
        if (poll(p, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            vmm_log_warn("%s: poll: %s", v->name, g_strerror(errno));
            break;
        }
        uint64_t junk;
        if (p[0].revents & POLLIN)
            while (read(v->wake_fd, &junk, sizeof(junk)) > 0)
                ;
        bool hup_seen = be > 1 && p[1].revents;
        if (hup_seen && v->reconnect_s &&
            g_atomic_int_compare_and_exchange(&v->connected, 1, 0)) {
            vmm_log_warn("%s: the back end hung up; reconnecting every %u s", v->name,
                         v->reconnect_s);
            if (!reconnect_loop(v))
                break;
            continue;
        }
        if (hup_seen) {
            /* Once only: the handler decides what the device does. Under
             * state_lock so that clearing the handler waits for it. */
            g_mutex_lock(&v->state_lock);
            if (g_atomic_int_compare_and_exchange(&v->connected, 1, 0) && v->on_disconnect)
                v->on_disconnect(v->disconnect_opaque);
            g_mutex_unlock(&v->state_lock);
        }
        if (first_q > be && p[be].revents &&
            v->ops->serve_backend(v) == VMM_VHOST_BACKEND_CONFIG_CHANGED) {
            g_mutex_lock(&v->state_lock);
            void (*fn)(void *) = v->on_config_change;
            void *opaque = v->config_opaque;
            g_mutex_unlock(&v->state_lock);
            if (fn)
                fn(opaque);
        }
        for (unsigned i = 0; i < nq; i++) {
            if (!(p[first_q + i].revents & POLLIN))
                continue;
            if (read(p[first_q + i].fd, &junk, sizeof(junk)) == sizeof(junk))
                vmm_virtio_notify(d, qidx[i]);
        }
    }
    return NULL;
}

void vmm_vhost_dev_init(VmmVhostDev *v, const VmmVhostOps *ops, void *priv, const char *name,
                        int hup_fd)
{
    v->ops = ops;
    v->priv = priv;
    v->name = g_strdup(name);
    g_mutex_init(&v->lock);
    g_mutex_init(&v->state_lock);
    v->max_queues = G_MAXUINT;
    v->wake_fd = -1;
    v->hup_fd = hup_fd;
    v->backend_fd = -1;
    g_atomic_int_set(&v->connected, 1);
}

bool vmm_vhost_dev_ready(VmmVhostDev *v, GError **err)
{
    v->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (v->wake_fd < 0) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: eventfd: %s", v->name, g_strerror(errno));
        return false;
    }
    v->thread = g_thread_try_new("vhost", vhost_thread, v, err);
    return v->thread != NULL;
}

void vmm_vhost_free(VmmVhostDev *v)
{
    if (!v)
        return;
    if (v->thread) {
        g_mutex_lock(&v->state_lock);
        v->quit = true;
        g_mutex_unlock(&v->state_lock);
        wake(v);
        g_thread_join(v->thread);
    }
    if (v->ops && v->ops->close)
        v->ops->close(v);
    if (v->wake_fd >= 0)
        close(v->wake_fd);
    g_mutex_clear(&v->lock);
    g_mutex_clear(&v->state_lock);
    g_free(v->name);
    g_free(v);
}

const char *vmm_vhost_name(VmmVhostDev *v)
{
    return v->name;
}

uint64_t vmm_vhost_features(VmmVhostDev *v)
{
    return v->features;
}

unsigned vmm_vhost_max_queues(VmmVhostDev *v)
{
    return v->max_queues;
}

bool vmm_vhost_connected(VmmVhostDev *v)
{
    return g_atomic_int_get(&v->connected) != 0;
}

void vmm_vhost_set_disconnect_handler(VmmVhostDev *v, void (*fn)(void *opaque), void *opaque)
{
    g_mutex_lock(&v->state_lock);
    v->on_disconnect = fn;
    v->disconnect_opaque = opaque;
    g_mutex_unlock(&v->state_lock);
}

void vmm_vhost_set_config_handler(VmmVhostDev *v, void (*fn)(void *opaque), void *opaque)
{
    g_mutex_lock(&v->state_lock);
    v->on_config_change = fn;
    v->config_opaque = opaque;
    g_mutex_unlock(&v->state_lock);
}

/* ---- messages -------------------------------------------------------------- */

static bool check_connected(VmmVhostDev *v, GError **err)
{
    if (vmm_vhost_connected(v))
        return true;
    g_set_error(err, VMM_VHOST_ERROR, 0, "%s: the %s back end is disconnected", v->name,
                v->ops->kind);
    return false;
}

bool vmm_vhost_set_features(VmmVhostDev *v, uint64_t features, GError **err)
{
    if (features & ~v->features) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: features 0x%" G_GINT64_MODIFIER "x were "
                    "not offered by the back end", v->name, features & ~v->features);
        return false;
    }
    g_mutex_lock(&v->lock);
    bool ok = check_connected(v, err) && v->ops->set_features(v, features, err);
    g_mutex_unlock(&v->lock);
    return ok;
}

static bool set_mem_table_locked(VmmVhostDev *v, VmmVm *vm, GError **err)
{
    VmmVhostMemRegion r[VMM_VHOST_MAX_REGIONS];
    unsigned n = vmm_vhost_vm_regions(vm, r, G_N_ELEMENTS(r));
    return v->ops->set_mem_table(v, r, n, err);
}

bool vmm_vhost_set_mem_table(VmmVhostDev *v, VmmVm *vm, GError **err)
{
    g_mutex_lock(&v->lock);
    bool ok = check_connected(v, err) && set_mem_table_locked(v, vm, err);
    g_mutex_unlock(&v->lock);
    return ok;
}

/* The driver's ring addresses as this process sees them; the rings were
 * checked to lie in RAM when the driver enabled the queue. */
static bool ring_hva(VmmVhostDev *v, VmmVm *vm, unsigned q, const char *what, uint64_t gpa,
                     uint64_t len, uint64_t *hva, GError **err)
{
    void *p = vmm_vm_gpa_to_hva(vm, gpa, len);
    if (!p) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: queue %u: %s ring at 0x%" G_GINT64_MODIFIER
                    "x is not in guest RAM", v->name, q, what, gpa);
        return false;
    }
    *hva = (uintptr_t)p;
    return true;
}

/* Virtio queue q of d as the back end's ring r. */
static bool start_queue_locked(VmmVhostDev *v, VmmVirtioDev *d, unsigned q, unsigned r,
                               unsigned base, GError **err)
{
    const VmmVirtioQueue *vq = &d->queues[q];
    uint64_t desc, avail, used;
    unsigned size = vq->size;
    /* EVENT_IDX adds a u16 after each ring; count it always. */
    return ring_hva(v, d->vm, q, "descriptor", vq->desc, 16ULL * size, &desc, err) &&
           ring_hva(v, d->vm, q, "available", vq->avail, 6 + 2ULL * size, &avail, err) &&
           ring_hva(v, d->vm, q, "used", vq->used, 6 + 8ULL * size, &used, err) &&
           v->ops->set_vring_num(v, r, size, err) &&
           v->ops->set_vring_base(v, r, base, err) &&
           v->ops->set_vring_addr(v, r, desc, used, avail, err) &&
           v->ops->set_vring_kick(v, r, vq->kick_fd, err) &&
           v->ops->set_vring_call(v, r, vq->call_fd, err);
}

/* Enabled only once every ring is set up, as QEMU does: a back end may
 * start the device when its first rings are enabled (DPDK's vhost library
 * does, and only then turns off guest notifications, for the rings it
 * knows by then). */
static bool enable_rings_locked(VmmVhostDev *v, uint64_t started, GError **err)
{
    for (unsigned r = 0; r < VMM_VHOST_MAX_QUEUES && v->ops->set_vring_enable; r++)
        if ((started & (1ULL << r)) && !v->ops->set_vring_enable(v, r, true, err))
            return false;
    return true;
}

static void stop_locked(VmmVhostDev *v, uint16_t *last_avail, unsigned n)
{
    g_mutex_lock(&v->state_lock);
    uint64_t started = v->started;
    v->started = 0;
    v->dev = NULL;
    g_mutex_unlock(&v->state_lock);
    wake(v);
    for (unsigned q = 0; q < n && last_avail; q++)
        last_avail[q] = 0;
    for (unsigned q = 0; q < VMM_VHOST_MAX_QUEUES; q++) {
        if (!(started & (1ULL << q)) || !vmm_vhost_connected(v))
            continue;
        g_autoptr(GError) err = NULL;
        unsigned base = 0;
        if ((v->ops->set_vring_enable && !v->ops->set_vring_enable(v, q, false, &err)) ||
            !v->ops->get_vring_base(v, q, &base, &err)) {
            vmm_log_warn("%s: stopping queue %u: %s", v->name, q, err->message);
            continue;
        }
        if (last_avail && q < n)
            last_avail[q] = base;
    }
}

bool vmm_vhost_start(VmmVhostDev *v, VmmVirtioDev *d, const uint16_t *last_avail,
                     GError **err)
{
    return vmm_vhost_start_range(v, d, 0, d->nqueues, last_avail, err);
}

bool vmm_vhost_start_range(VmmVhostDev *v, VmmVirtioDev *d, unsigned first, unsigned n,
                           const uint16_t *last_avail, GError **err)
{
    g_mutex_lock(&v->lock);
    bool ok = check_connected(v, err);
    uint64_t started = 0;
    if (ok && (n > VMM_VHOST_MAX_QUEUES || first > d->nqueues || n > d->nqueues - first)) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: queues %u to %u of %u: out of range (the "
                    "layer handles up to %u)", v->name, first, first + n - 1, d->nqueues,
                    VMM_VHOST_MAX_QUEUES);
        ok = false;
    }
    /* The driver only accepted what the front end offered, which came
     * from the back end; VERSION_1 and the ring features are the back
     * end's too. */
    ok = ok && v->ops->set_features(v, d->guest_features & v->features, err) &&
         set_mem_table_locked(v, d->vm, err) && set_inflight_locked(v, d, first, n, err);
    for (unsigned r = 0; ok && r < n; r++) {
        if (!d->queues[first + r].enabled)
            continue;
        started |= 1ULL << r;
        ok = start_queue_locked(v, d, first + r, r, last_avail ? last_avail[r] : 0, err);
    }
    ok = ok && enable_rings_locked(v, started, err);
    g_mutex_lock(&v->state_lock);
    v->dev = d;
    v->first_queue = first;
    v->nrings = n;
    v->started = started;
    g_mutex_unlock(&v->state_lock);
    if (!ok)
        stop_locked(v, NULL, 0);
    else
        wake(v);
    g_mutex_unlock(&v->lock);
    return ok;
}

bool vmm_vhost_enable_queue(VmmVhostDev *v, unsigned q, bool on, GError **err)
{
    g_mutex_lock(&v->state_lock);
    bool started = q < VMM_VHOST_MAX_QUEUES && (v->started & (1ULL << q));
    g_mutex_unlock(&v->state_lock);
    if (!started || !v->ops->set_vring_enable)
        return true;
    g_mutex_lock(&v->lock);
    bool ok = check_connected(v, err) && v->ops->set_vring_enable(v, q, on, err);
    g_mutex_unlock(&v->lock);
    return ok;
}

void vmm_vhost_stop(VmmVhostDev *v, uint16_t *last_avail, unsigned n)
{
    g_mutex_lock(&v->lock);
    stop_locked(v, last_avail, n);
    /* A reset: the next driver's requests are new ones. */
    if (v->ops->drop_inflight)
        v->ops->drop_inflight(v);
    g_mutex_unlock(&v->lock);
}

bool vmm_vhost_get_config(VmmVhostDev *v, void *buf, unsigned len, GError **err)
{
    if (!v->ops->get_config) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: the %s back end has no device config",
                    v->name, v->ops->kind);
        return false;
    }
    g_mutex_lock(&v->lock);
    bool ok = check_connected(v, err) && v->ops->get_config(v, buf, len, err);
    g_mutex_unlock(&v->lock);
    return ok;
}

bool vmm_vhost_set_config(VmmVhostDev *v, unsigned offset, const void *buf, unsigned len,
                          GError **err)
{
    if (!v->ops->set_config) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: the %s back end has no device config",
                    v->name, v->ops->kind);
        return false;
    }
    g_mutex_lock(&v->lock);
    bool ok = check_connected(v, err) && v->ops->set_config(v, offset, buf, len, err);
    g_mutex_unlock(&v->lock);
    return ok;
}
