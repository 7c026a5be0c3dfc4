/* vhost-user front end: the layer's transport over a unix socket to a back
 * end process (QEMU's docs/interop/vhost-user.rst). The back end is a
 * peer that may send anything: every reply is checked (request code,
 * flags, size, file descriptors, config length) before it is used, and a
 * bad one ends the connection with an error naming the device. */
#ifndef VMM_VHOST_USER_H
#define VMM_VHOST_USER_H

#include "vhost/vhost.h"

#include <stddef.h>

/* Connect to a back end listening on path and negotiate: SET_OWNER,
 * GET_FEATURES, protocol features (REPLY_ACK, CONFIG, MQ, BACKEND_REQ,
 * INFLIGHT_SHMFD), GET_QUEUE_NUM, and with BACKEND_REQ a socketpair for
 * the back end's own requests (SET_BACKEND_REQ_FD), which the vhost
 * layer's thread serves. The device is disk `disk` (its target name), or
 * when that is NULL interface `interface`: how the opener (below) names
 * it. name is for messages ("vhost-user-blk vdb"). */
VmmVhostDev *vmm_vhost_user_connect(const char *path, const char *disk, unsigned interface,
                                    const char *name, GError **err);
/* The other direction (libvirt's <source mode='server'>, interfaces
 * only): listen on path, wait up to timeout_s for the back end to
 * connect, then the same. */
VmmVhostDev *vmm_vhost_user_accept(const char *path, unsigned interface, const char *name,
                                   unsigned timeout_s, GError **err);

/* A unix stream socket on path, connected (never blocking: a full listen
 * queue is an error) or, with listening, bound and listening (a stale
 * socket file there is replaced). What vmmd makes for a confined worker;
 * -1 with a reason. */
int vmm_vhost_user_socket(const char *path, bool listening, GError **err);

/* Where the sockets come from in a process that cannot reach the paths
 * (vmm-worker confined by vmmd, in an empty root and without the rights
 * on a back end's socket): open() returns the socket of disk `disk` (its
 * target name) or, disk NULL, interface `interface`, made by someone who
 * can (vmmd, from its own copy of the definition): connected, or
 * listening for an interface in server mode. It may wait, bounded; -1
 * with a reason otherwise. Called for every connection: the first, a
 * guest reboot's, a reconnect's (from the vhost layer's thread). Without
 * an opener (vmm-worker run by hand) this process uses the path itself.
 * Process-wide: the worker has one vmmd. */
typedef struct {
    int (*open)(void *opaque, const char *disk, unsigned interface, GError **err);
    void *opaque;
} VmmVhostUserOpener;
void vmm_vhost_user_set_opener(const VmmVhostUserOpener *o);   /* NULL: none */
bool vmm_vhost_user_has_opener(void);

/* Message codes and sizes (the spec's numbering). */
enum {
    VHOST_USER_GET_FEATURES = 1,
    VHOST_USER_SET_FEATURES = 2,
    VHOST_USER_SET_OWNER = 3,
    VHOST_USER_SET_MEM_TABLE = 5,
    VHOST_USER_SET_VRING_NUM = 8,
    VHOST_USER_SET_VRING_ADDR = 9,
    VHOST_USER_SET_VRING_BASE = 10,
    VHOST_USER_GET_VRING_BASE = 11,
    VHOST_USER_SET_VRING_KICK = 12,
    VHOST_USER_SET_VRING_CALL = 13,
    VHOST_USER_GET_PROTOCOL_FEATURES = 15,
    VHOST_USER_SET_PROTOCOL_FEATURES = 16,
    VHOST_USER_GET_QUEUE_NUM = 17,
    VHOST_USER_SET_VRING_ENABLE = 18,
    VHOST_USER_SET_BACKEND_REQ_FD = 21,      /* SET_SLAVE_REQ_FD in older specs */
    VHOST_USER_GET_CONFIG = 24,
    VHOST_USER_SET_CONFIG = 25,
    VHOST_USER_GET_INFLIGHT_FD = 31,
    VHOST_USER_SET_INFLIGHT_FD = 32,
};

/* Requests a back end sends on the back-end channel (BACKEND_REQ). */
enum {
    VHOST_USER_BACKEND_IOTLB_MSG = 1,
    VHOST_USER_BACKEND_CONFIG_CHANGE_MSG = 2,
    VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG = 3,
};

#define VHOST_USER_HDR_SIZE       12
#define VHOST_USER_MAX_CONFIG     256
/* The inflight area a back end may hand out (GET_INFLIGHT_FD): its size
 * grows with queues and queue size, a few KiB per queue; more than this is
 * refused. */
#define VHOST_USER_MAX_INFLIGHT   (64u << 20)

/* The largest reply any request of ours expects: GET_CONFIG's header, its
 * offset, size and flags, and up to VHOST_USER_MAX_CONFIG bytes. */
#define VHOST_USER_MAX_REPLY      (VHOST_USER_HDR_SIZE + 12 + VHOST_USER_MAX_CONFIG)

/* A reply as the front end asked for it: want_request is the request
 * sent; config_len the bytes GET_CONFIG asked for (0 otherwise); index
 * the ring GET_VRING_BASE named. */
typedef struct {
    uint32_t want_request;
    unsigned config_len;
    unsigned index;
    bool ack;                    /* REPLY_ACK: a u64 status, 0 = success */
} VmmVhostUserExpect;

typedef struct {
    uint64_t u64;                /* GET_FEATURES & co, GET_VRING_BASE's num, ack */
    const uint8_t *config;       /* GET_CONFIG: config_len bytes inside buf */
    uint64_t mmap_size, mmap_offset;   /* GET_INFLIGHT_FD */
    int fd;                      /* GET_INFLIGHT_FD's area: set by the socket layer */
} VmmVhostUserReply;

/* How many file descriptors a reply to request carries: 1 for
 * GET_INFLIGHT_FD (the inflight area), 0 for all others. */
unsigned vmm_vhost_user_reply_fds(const VmmVhostUserExpect *want);

const char *vmm_vhost_user_request_name(uint32_t request);   /* "GET_FEATURES" */
const char *vmm_vhost_user_backend_request_name(uint32_t request); /* "CONFIG_CHANGE_MSG" */

/* The largest payload a back-end request may carry: none that this front
 * end serves has one, but an unknown request's payload is read and
 * dropped to stay in step, up to this. */
#define VHOST_USER_MAX_BACKEND_PAYLOAD 4096

/* A request header from the back-end channel. */
typedef struct {
    uint32_t request;
    uint32_t size;               /* payload bytes that follow */
    bool need_reply;             /* REPLY_ACK: answer with a u64 status */
} VmmVhostUserBackendReq;

/* Check a back-end request header (12 bytes): version 1, not a reply, a
 * payload of at most VHOST_USER_MAX_BACKEND_PAYLOAD; false with a reason
 * otherwise (the channel is then out of step and closed). */
bool vmm_vhost_user_parse_backend_header(const uint8_t *hdr, VmmVhostUserBackendReq *out,
                                         GError **err);
/* The reply to a back-end request (a header and a u64 status, 0 =
 * success) into buf, which has room for VHOST_USER_HDR_SIZE + 8 bytes;
 * returns the length. */
size_t vmm_vhost_user_backend_reply(uint8_t *buf, uint32_t request, uint64_t status);
/* Check one reply (header and payload, len bytes) that arrived with nfds
 * file descriptors; false with a reason when it is not what was asked. */
bool vmm_vhost_user_parse_reply(const uint8_t *buf, size_t len, unsigned nfds,
                                const VmmVhostUserExpect *want, VmmVhostUserReply *out,
                                GError **err);
/* Check a reply header alone (12 bytes): the size it announces is one we
 * can take; *payload_len is set to it. */
bool vmm_vhost_user_parse_header(const uint8_t *hdr, unsigned nfds,
                                 const VmmVhostUserExpect *want, uint32_t *payload_len,
                                 GError **err);

#endif
