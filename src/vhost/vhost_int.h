/* Between the vhost layer (vhost.c) and its transports (vhost_user.c,
 * vhost_kernel.c): each transport implements these messages; the layer
 * decides when to send them. Calls are serialised by VmmVhostDev.lock. */
#ifndef VMM_VHOST_INT_H
#define VMM_VHOST_INT_H

#include "vhost/vhost.h"

/* What one request on the back-end channel came to (serve_backend). */
typedef enum {
    VMM_VHOST_BACKEND_HANDLED,       /* answered, nothing for the front end */
    VMM_VHOST_BACKEND_CONFIG_CHANGED,/* the device config changed */
    VMM_VHOST_BACKEND_CLOSED,        /* the channel is gone (backend_fd is -1 now) */
} VmmVhostBackendEvent;

typedef struct {
    const char *kind;            /* "vhost-user", "vhost-net": for messages */
    bool (*set_features)(VmmVhostDev *v, uint64_t features, GError **err);
    bool (*set_mem_table)(VmmVhostDev *v, const VmmVhostMemRegion *r, unsigned n,
                          GError **err);
    bool (*set_vring_num)(VmmVhostDev *v, unsigned q, unsigned num, GError **err);
    bool (*set_vring_base)(VmmVhostDev *v, unsigned q, unsigned base, GError **err);
    /* Addresses in this process (the back end translates them through the
     * memory table's hva). */
    bool (*set_vring_addr)(VmmVhostDev *v, unsigned q, uint64_t desc, uint64_t used,
                           uint64_t avail, GError **err);
    bool (*set_vring_kick)(VmmVhostDev *v, unsigned q, int fd, GError **err);
    bool (*set_vring_call)(VmmVhostDev *v, unsigned q, int fd, GError **err);
    /* Optional (vhost-user with protocol features). */
    bool (*set_vring_enable)(VmmVhostDev *v, unsigned q, bool on, GError **err);
    /* Stops the ring and says where the back end stopped. */
    bool (*get_vring_base)(VmmVhostDev *v, unsigned q, unsigned *base, GError **err);
    /* Optional (vhost-user CONFIG protocol feature). */
    bool (*get_config)(VmmVhostDev *v, void *buf, unsigned len, GError **err);
    bool (*set_config)(VmmVhostDev *v, unsigned offset, const void *buf, unsigned len,
                       GError **err);
    /* Optional (vhost-user INFLIGHT_SHMFD): before the rings of a start or
     * a resume, give the back end its inflight area for nq rings of up to
     * qsize entries, asked for once (GET_INFLIGHT_FD) and kept across
     * reconnects, so that a restarted back end finds the requests it had
     * taken and resubmits them; true without doing anything when the back
     * end does not offer it. */
    bool (*set_inflight)(VmmVhostDev *v, unsigned nq, unsigned qsize, GError **err);
    /* Optional: the driver reset the device; the next start gets a fresh
     * area (the old one's requests belong to the old driver). */
    void (*drop_inflight)(VmmVhostDev *v);
    /* Optional, together: a new connection to the back end after it hung
     * up. reconnect_open makes the socket without the layer's locks (it
     * may wait on vmmd, which connects for a confined worker); reconnect
     * takes it and does the handshake (no rings). -1 or false with a
     * reason to try again. */
    int (*reconnect_open)(VmmVhostDev *v, GError **err);
    bool (*reconnect)(VmmVhostDev *v, int fd, GError **err);
    /* Optional: read and answer one request waiting on backend_fd. Runs
     * on the layer's thread without the layer's locks. */
    VmmVhostBackendEvent (*serve_backend)(VmmVhostDev *v);
    /* Release the transport's own state (socket, fd); the layer frees v. */
    void (*close)(VmmVhostDev *v);
} VmmVhostOps;

#define VMM_VHOST_MAX_QUEUES 64

struct VmmVhostDev {
    const VmmVhostOps *ops;
    void *priv;                  /* the transport's state */
    char *name;
    GMutex lock;                 /* one exchange with the back end at a time */
    uint64_t features;           /* offered by the back end */
    unsigned max_queues;
    gint connected;              /* atomic */

    /* The layer's thread: back end hang-up, INTx relay. */
    GMutex state_lock;           /* what follows, not held over back end I/O */
    GThread *thread;
    int wake_fd, hup_fd;
    int backend_fd;              /* the back end's requests (vhost-user BACKEND_REQ), -1: none */
    bool quit;
    VmmVirtioDev *dev;           /* started on this device, or NULL */
    uint64_t started;            /* bit per back end ring started */
    unsigned first_queue;        /* ring r is virtio queue first_queue + r of dev */
    unsigned nrings;             /* rings handed over at start (started: the enabled ones) */
    unsigned reconnect_s;        /* seconds between attempts; 0 = off */
    void (*on_disconnect)(void *opaque);
    void *disconnect_opaque;
    void (*on_config_change)(void *opaque);
    void *config_opaque;
};

/* For transports: fill the common part; hup_fd (-1: none) is watched for
 * the peer hanging up. vmm_vhost_dev_ready() starts the layer's thread
 * once the transport has negotiated. */
void vmm_vhost_dev_init(VmmVhostDev *v, const VmmVhostOps *ops, void *priv, const char *name,
                        int hup_fd);
bool vmm_vhost_dev_ready(VmmVhostDev *v, GError **err);

#endif
