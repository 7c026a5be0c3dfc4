/* vhost-user front end (QEMU's docs/interop/vhost-user.rst): the vhost
 * layer's messages as vhost-user requests on a unix stream socket, file
 * descriptors (memory regions, kick and call eventfds) as SCM_RIGHTS. */
#include "vhost/vhost_user.h"
#include "vhost/vhost_int.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define F_VERSION       0x1
#define F_NEED_REPLY    0x8

#define VHOST_USER_F_PROTOCOL_FEATURES 30

#define PROTO_F_MQ        0
#define PROTO_F_REPLY_ACK 3
#define PROTO_F_BACKEND_REQ 5   /* SLAVE_REQ in older specs */
#define PROTO_F_CONFIG    9
#define PROTO_F_INFLIGHT_SHMFD 12
/* What this front end speaks. */
#define PROTO_WANTED ((1ULL << PROTO_F_MQ) | (1ULL << PROTO_F_REPLY_ACK) | \
                      (1ULL << PROTO_F_BACKEND_REQ) | (1ULL << PROTO_F_CONFIG) | \
                      (1ULL << PROTO_F_INFLIGHT_SHMFD))

#define VRING_NOFD_MASK   (1ULL << 8)
/* A back end that answers nothing for this long is treated as gone. */
#define REPLY_TIMEOUT_S   30

typedef struct __attribute__((packed)) {
    uint32_t request, flags, size;
} VuHdr;

typedef struct __attribute__((packed)) {
    uint64_t gpa, size, uaddr, mmap_offset;
} VuRegion;

typedef struct __attribute__((packed)) {
    VuHdr hdr;
    union __attribute__((packed)) {
        uint64_t u64;
        struct __attribute__((packed)) { uint32_t index, num; } state;
        struct __attribute__((packed)) {
            uint32_t index, flags;
            uint64_t desc, used, avail, log;
        } addr;
        struct __attribute__((packed)) {
            uint32_t nregions, padding;
            VuRegion regions[VMM_VHOST_MAX_REGIONS];
        } mem;
        struct __attribute__((packed)) {
            uint32_t offset, size, flags;
            uint8_t data[VHOST_USER_MAX_CONFIG];
        } config;
        struct __attribute__((packed)) {
            uint64_t mmap_size, mmap_offset;
            uint16_t num_queues, queue_size;
            uint32_t padding;
        } inflight;
    };
} VuMsg;

G_STATIC_ASSERT(sizeof(VuHdr) == VHOST_USER_HDR_SIZE);

typedef struct {
    int fd;
    char *path;
    /* the device as the opener knows it (disk target, else interface) */
    char *disk;
    unsigned interface;
    uint64_t protocol;           /* negotiated protocol features */
    bool has_protocol;           /* VHOST_USER_F_PROTOCOL_FEATURES offered */
    unsigned refused;            /* back-end requests answered with an error */
    /* The inflight area (INFLIGHT_SHMFD), -1: none yet; kept across
     * reconnects, dropped at a device reset. */
    int inflight_fd;
    uint64_t inflight_size, inflight_offset;
    unsigned inflight_nq, inflight_qsize;
} UserPriv;

/* read_full's error code when the peer closed the socket. */
#define ERR_EOF 1

/* ---- socket I/O ------------------------------------------------------------- */

static UserPriv *upriv(VmmVhostDev *v)
{
    return v->priv;
}

/* A protocol error or a dead peer ends the connection: the layer's
 * thread sees the hang-up and the front end puts its device in
 * NEEDS_RESET, rather than talking on to a back end out of step. */
static bool fail_conn(VmmVhostDev *v, GError **err, GError *why)
{
    g_set_error(err, VMM_VHOST_ERROR, 0, "%s: vhost-user back end %s: %s", v->name,
                upriv(v)->path, why->message);
    g_error_free(why);
    shutdown(upriv(v)->fd, SHUT_RDWR);
    return false;
}

static bool send_msg(VmmVhostDev *v, VuMsg *m, const int *fds, unsigned nfds, GError **err)
{
    struct iovec iov = { .iov_base = m, .iov_len = VHOST_USER_HDR_SIZE + m->hdr.size };
    union {
        char buf[CMSG_SPACE(sizeof(int) * VMM_VHOST_MAX_REGIONS)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds) {
        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t n;
    do
        n = sendmsg(upriv(v)->fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)iov.iov_len)
        return true;
    GError *why = g_error_new(VMM_VHOST_ERROR, 0, "sending %s: %s",
                              vmm_vhost_user_request_name(m->hdr.request),
                              n < 0 ? g_strerror(errno) : "short write");
    return fail_conn(v, err, why);
}

/* Read exactly len bytes; descriptors that come along are counted, and
 * closed except the first when keep is given (*keep < 0 until then). */
static bool read_full(int fd, uint8_t *buf, size_t len, unsigned *nfds, int *keep,
                      GError **err)
{
    size_t got = 0;
    while (got < len) {
        struct iovec iov = { .iov_base = buf + got, .iov_len = len - got };
        union {
            char b[CMSG_SPACE(sizeof(int) * 16)];
            struct cmsghdr align;
        } u;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
                             .msg_controllen = sizeof(u.b) };
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            g_set_error(err, VMM_VHOST_ERROR, n == 0 ? ERR_EOF : 0, "%s",
                        n == 0 ? "the back end closed the connection"
                        : (errno == EAGAIN || errno == EWOULDBLOCK)
                        ? "no reply within " G_STRINGIFY(REPLY_TIMEOUT_S) " s"
                        : g_strerror(errno));
            return false;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            unsigned k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (unsigned i = 0; i < k; i++) {
                int f;
                memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                if (keep && *keep < 0)
                    *keep = f;
                else
                    close(f);
            }
            *nfds += k;
        }
        if (mh.msg_flags & MSG_CTRUNC)
            *nfds += 1;   /* more than we had room for: refused below all the same */
        got += n;
    }
    return true;
}

static bool recv_reply(VmmVhostDev *v, const VmmVhostUserExpect *want, uint8_t *buf,
                       VmmVhostUserReply *out, GError **err)
{
    GError *why = NULL;
    unsigned nfds = 0;
    uint32_t plen;
    int kept = -1, *keep = vmm_vhost_user_reply_fds(want) ? &kept : NULL;
    if (!read_full(upriv(v)->fd, buf, VHOST_USER_HDR_SIZE, &nfds, keep, &why) ||
        !vmm_vhost_user_parse_header(buf, nfds, want, &plen, &why) ||
        !read_full(upriv(v)->fd, buf + VHOST_USER_HDR_SIZE, plen, &nfds, keep, &why) ||
        !vmm_vhost_user_parse_reply(buf, VHOST_USER_HDR_SIZE + plen, nfds, want, out, &why)) {
        if (kept >= 0)
            close(kept);
        return fail_conn(v, err, why);
    }
    out->fd = kept;
    return true;
}

/* Send a request; with a reply (GET_*), or an acknowledgement when
 * REPLY_ACK is negotiated, wait for it and check it. */
static bool request(VmmVhostDev *v, VuMsg *m, const int *fds, unsigned nfds, bool has_reply,
                    VmmVhostUserExpect *want, VmmVhostUserReply *out, GError **err)
{
    VmmVhostUserExpect local = { .want_request = m->hdr.request };
    if (!want)
        want = &local;
    want->want_request = m->hdr.request;
    m->hdr.flags = F_VERSION;
    if (!has_reply && (upriv(v)->protocol & (1ULL << PROTO_F_REPLY_ACK))) {
        m->hdr.flags |= F_NEED_REPLY;
        want->ack = true;
    }
    if (!send_msg(v, m, fds, nfds, err))
        return false;
    if (!has_reply && !want->ack)
        return true;
    uint8_t buf[VHOST_USER_MAX_REPLY];
    VmmVhostUserReply dummy;
    return recv_reply(v, want, buf, out ? out : &dummy, err);
}

static bool get_u64(VmmVhostDev *v, uint32_t req, uint64_t *val, GError **err)
{
    VuMsg m = { .hdr = { .request = req } };
    VmmVhostUserReply r;
    if (!request(v, &m, NULL, 0, true, NULL, &r, err))
        return false;
    *val = r.u64;
    return true;
}

static bool set_u64(VmmVhostDev *v, uint32_t req, uint64_t val, GError **err)
{
    VuMsg m = { .hdr = { .request = req, .size = 8 }, .u64 = val };
    return request(v, &m, NULL, 0, false, NULL, NULL, err);
}

static bool send_plain(VmmVhostDev *v, uint32_t req, GError **err)
{
    VuMsg m = { .hdr = { .request = req } };
    return request(v, &m, NULL, 0, false, NULL, NULL, err);
}

static bool set_state(VmmVhostDev *v, uint32_t req, unsigned q, unsigned num, GError **err)
{
    VuMsg m = { .hdr = { .request = req, .size = 8 }, .state = { q, num } };
    return request(v, &m, NULL, 0, false, NULL, NULL, err);
}

/* ---- the layer's messages -------------------------------------------------- */

static bool u_set_features(VmmVhostDev *v, uint64_t features, GError **err)
{
    /* Keep the protocol-features bit: without it the back end would
     * forget the protocol features negotiated at connect. */
    if (upriv(v)->has_protocol)
        features |= 1ULL << VHOST_USER_F_PROTOCOL_FEATURES;
    return set_u64(v, VHOST_USER_SET_FEATURES, features, err);
}

static bool u_set_mem_table(VmmVhostDev *v, const VmmVhostMemRegion *r, unsigned n,
                            GError **err)
{
    VuMsg m = { .hdr = { .request = VHOST_USER_SET_MEM_TABLE } };
    int fds[VMM_VHOST_MAX_REGIONS];
    g_return_val_if_fail(n <= VMM_VHOST_MAX_REGIONS, false);
    m.mem.nregions = n;
    for (unsigned i = 0; i < n; i++) {
        m.mem.regions[i] = (VuRegion){ r[i].gpa, r[i].size, r[i].hva, r[i].fd_offset };
        fds[i] = r[i].fd;
    }
    m.hdr.size = 8 + n * sizeof(VuRegion);
    return request(v, &m, fds, n, false, NULL, NULL, err);
}

static bool u_set_vring_num(VmmVhostDev *v, unsigned q, unsigned num, GError **err)
{
    return set_state(v, VHOST_USER_SET_VRING_NUM, q, num, err);
}

static bool u_set_vring_base(VmmVhostDev *v, unsigned q, unsigned base, GError **err)
{
    return set_state(v, VHOST_USER_SET_VRING_BASE, q, base, err);
}

static bool u_set_vring_addr(VmmVhostDev *v, unsigned q, uint64_t desc, uint64_t used,
                             uint64_t avail, GError **err)
{
    VuMsg m = { .hdr = { .request = VHOST_USER_SET_VRING_ADDR, .size = 40 },
                .addr = { .index = q, .desc = desc, .used = used, .avail = avail } };
    return request(v, &m, NULL, 0, false, NULL, NULL, err);
}

static bool set_vring_fd(VmmVhostDev *v, uint32_t req, unsigned q, int fd, GError **err)
{
    VuMsg m = { .hdr = { .request = req, .size = 8 },
                .u64 = q | (fd < 0 ? VRING_NOFD_MASK : 0) };
    return request(v, &m, &fd, fd < 0 ? 0 : 1, false, NULL, NULL, err);
}

static bool u_set_vring_kick(VmmVhostDev *v, unsigned q, int fd, GError **err)
{
    return set_vring_fd(v, VHOST_USER_SET_VRING_KICK, q, fd, err);
}

static bool u_set_vring_call(VmmVhostDev *v, unsigned q, int fd, GError **err)
{
    return set_vring_fd(v, VHOST_USER_SET_VRING_CALL, q, fd, err);
}

static bool u_set_vring_enable(VmmVhostDev *v, unsigned q, bool on, GError **err)
{
    /* Rings start disabled only when protocol features were negotiated. */
    if (!upriv(v)->has_protocol)
        return true;
    return set_state(v, VHOST_USER_SET_VRING_ENABLE, q, on, err);
}

static bool u_get_vring_base(VmmVhostDev *v, unsigned q, unsigned *base, GError **err)
{
    VuMsg m = { .hdr = { .request = VHOST_USER_GET_VRING_BASE, .size = 8 },
                .state = { q, 0 } };
    VmmVhostUserExpect want = { .index = q };
    VmmVhostUserReply r;
    if (!request(v, &m, NULL, 0, true, &want, &r, err))
        return false;
    *base = r.u64;
    return true;
}

static bool u_get_config(VmmVhostDev *v, void *buf, unsigned len, GError **err)
{
    if (len > VHOST_USER_MAX_CONFIG) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: config of %u bytes, vhost-user carries "
                    "up to %u", v->name, len, VHOST_USER_MAX_CONFIG);
        return false;
    }
    if (!(upriv(v)->protocol & (1ULL << PROTO_F_CONFIG))) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: the vhost-user back end %s does not offer "
                    "its device config (protocol feature CONFIG)", v->name, upriv(v)->path);
        return false;
    }
    VuMsg m = { .hdr = { .request = VHOST_USER_GET_CONFIG, .size = 12 + len },
                .config = { .offset = 0, .size = len } };
    VmmVhostUserExpect want = { .config_len = len };
    VmmVhostUserReply r;
    /* GET_CONFIG always has a reply; never ask for an ack on top. */
    if (!request(v, &m, NULL, 0, true, &want, &r, err))
        return false;
    memcpy(buf, r.config, len);
    return true;
}

static bool u_set_config(VmmVhostDev *v, unsigned offset, const void *buf, unsigned len,
                         GError **err)
{
    if (!(upriv(v)->protocol & (1ULL << PROTO_F_CONFIG)) || len > VHOST_USER_MAX_CONFIG) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: the vhost-user back end %s takes no "
                    "config writes", v->name, upriv(v)->path);
        return false;
    }
    VuMsg m = { .hdr = { .request = VHOST_USER_SET_CONFIG, .size = 12 + len },
                .config = { .offset = offset, .size = len } };
    memcpy(m.config.data, buf, len);
    return request(v, &m, NULL, 0, false, NULL, NULL, err);
}

/* ---- the back-end channel ---------------------------------------------------- */

static void close_backend_channel(VmmVhostDev *v)
{
    g_mutex_lock(&v->state_lock);
    int fd = v->backend_fd;
    v->backend_fd = -1;
    g_mutex_unlock(&v->state_lock);
    if (fd >= 0)
        close(fd);
}

/* One request from the back end. Everything in it is the back end's word:
 * a header out of spec or a payload over the bound closes the channel (the
 * device goes on without it, as QEMU's front end does); descriptors are
 * closed unread; requests other than CONFIG_CHANGE_MSG get a failure
 * status when they want a reply. The acknowledgement goes out before the
 * front end reads the config again: a back end waiting for it does not
 * read its main socket, where GET_CONFIG would then wait. */
static VmmVhostBackendEvent u_serve_backend(VmmVhostDev *v)
{
    UserPriv *u = upriv(v);
    int fd = v->backend_fd;
    uint8_t buf[VHOST_USER_HDR_SIZE + VHOST_USER_MAX_BACKEND_PAYLOAD];
    unsigned nfds = 0;
    VmmVhostUserBackendReq req;
    g_autoptr(GError) why = NULL;
    if (!read_full(fd, buf, VHOST_USER_HDR_SIZE, &nfds, NULL, &why) ||
        !vmm_vhost_user_parse_backend_header(buf, &req, &why) ||
        !read_full(fd, buf + VHOST_USER_HDR_SIZE, req.size, &nfds, NULL, &why)) {
        /* A plain close comes with the back end going away; the main
         * socket's hang-up says that. */
        if (!g_error_matches(why, VMM_VHOST_ERROR, ERR_EOF))
            vmm_log_warn("%s: vhost-user back end %s: back-end channel: %s; closing it",
                         v->name, u->path, why->message);
        close_backend_channel(v);
        return VMM_VHOST_BACKEND_CLOSED;
    }
    bool served = req.request == VHOST_USER_BACKEND_CONFIG_CHANGE_MSG && nfds == 0;
    if (!served && u->refused++ == 0)
        vmm_log_warn("%s: vhost-user back end %s: back-end request %u (%s, %u bytes, %u file "
                     "descriptor%s) is not served%s (further ones are not logged)", v->name,
                     u->path, req.request, vmm_vhost_user_backend_request_name(req.request),
                     req.size, nfds, nfds == 1 ? "" : "s",
                     req.need_reply ? "; answered with an error" : "");
    if (req.need_reply) {
        uint8_t r[VHOST_USER_HDR_SIZE + 8];
        size_t len = vmm_vhost_user_backend_reply(r, req.request, served ? 0 : 1);
        ssize_t n;
        do
            n = send(fd, r, len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n != (ssize_t)len) {
            vmm_log_warn("%s: vhost-user back end %s: back-end channel: answering %s: %s; "
                         "closing it", v->name, u->path,
                         vmm_vhost_user_backend_request_name(req.request),
                         n < 0 ? g_strerror(errno) : "short write");
            close_backend_channel(v);
            return VMM_VHOST_BACKEND_CLOSED;
        }
    }
    return served ? VMM_VHOST_BACKEND_CONFIG_CHANGED : VMM_VHOST_BACKEND_HANDLED;
}

static void set_timeouts(int fd);

/* BACKEND_REQ: a socketpair, one end to the back end. A new connection
 * gets a new channel (the old one went with the old back end). */
static bool setup_backend_channel(VmmVhostDev *v, GError **err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: back-end channel: socketpair: %s", v->name,
                    g_strerror(errno));
        return false;
    }
    VuMsg m = { .hdr = { .request = VHOST_USER_SET_BACKEND_REQ_FD } };
    bool ok = request(v, &m, &sv[1], 1, false, NULL, NULL, err);
    close(sv[1]);
    if (!ok) {
        close(sv[0]);
        return false;
    }
    /* A back end that sends half a request holds the layer's thread no
     * longer than it may hold a reply. */
    set_timeouts(sv[0]);
    g_mutex_lock(&v->state_lock);
    v->backend_fd = sv[0];
    g_mutex_unlock(&v->state_lock);
    return true;
}

/* ---- inflight I/O tracking (INFLIGHT_SHMFD) ---------------------------------- */

static void u_drop_inflight(VmmVhostDev *v)
{
    UserPriv *u = upriv(v);
    if (u->inflight_fd >= 0)
        close(u->inflight_fd);
    u->inflight_fd = -1;
}

static bool u_set_inflight(VmmVhostDev *v, unsigned nq, unsigned qsize, GError **err)
{
    UserPriv *u = upriv(v);
    if (!(u->protocol & (1ULL << PROTO_F_INFLIGHT_SHMFD)))
        return true;
    if (nq > G_MAXUINT16 || qsize > G_MAXUINT16) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: %u queues of %u entries do not fit "
                    "GET_INFLIGHT_FD", v->name, nq, qsize);
        return false;
    }
    if (u->inflight_fd >= 0 && (u->inflight_nq != nq || u->inflight_qsize != qsize))
        u_drop_inflight(v);
    if (u->inflight_fd < 0) {
        VuMsg m = { .hdr = { .request = VHOST_USER_GET_INFLIGHT_FD, .size = 24 },
                    .inflight = { .num_queues = nq, .queue_size = qsize } };
        VmmVhostUserReply r;
        if (!request(v, &m, NULL, 0, true, NULL, &r, err))
            return false;
        u->inflight_fd = r.fd;
        u->inflight_size = r.mmap_size;
        u->inflight_offset = r.mmap_offset;
        u->inflight_nq = nq;
        u->inflight_qsize = qsize;
    }
    VuMsg m = { .hdr = { .request = VHOST_USER_SET_INFLIGHT_FD, .size = 24 },
                .inflight = { u->inflight_size, u->inflight_offset, nq, qsize, 0 } };
    return request(v, &m, &u->inflight_fd, 1, false, NULL, NULL, err);
}

static void u_close(VmmVhostDev *v)
{
    UserPriv *u = v->priv;
    if (!u)
        return;
    u_drop_inflight(v);
    close_backend_channel(v);
    if (u->fd >= 0)
        close(u->fd);
    g_free(u->path);
    g_free(u->disk);
    g_free(u);
}

static int u_reconnect_open(VmmVhostDev *v, GError **err);
static bool u_reconnect(VmmVhostDev *v, int fd, GError **err);

static const VmmVhostOps user_ops = {
    .kind = "vhost-user",
    .set_features = u_set_features,
    .set_mem_table = u_set_mem_table,
    .set_vring_num = u_set_vring_num,
    .set_vring_base = u_set_vring_base,
    .set_vring_addr = u_set_vring_addr,
    .set_vring_kick = u_set_vring_kick,
    .set_vring_call = u_set_vring_call,
    .set_vring_enable = u_set_vring_enable,
    .get_vring_base = u_get_vring_base,
    .get_config = u_get_config,
    .set_config = u_set_config,
    .reconnect_open = u_reconnect_open,
    .reconnect = u_reconnect,
    .set_inflight = u_set_inflight,
    .drop_inflight = u_drop_inflight,
    .serve_backend = u_serve_backend,
    .close = u_close,
};

/* A back end that stops answering must not hang a vCPU thread. */
static void set_timeouts(int fd)
{
    struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* A stream socket and path's address, for either direction. */
static int unix_socket(const char *path, struct sockaddr_un *sa, GError **err)
{
    *sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(sa->sun_path)) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "socket path is longer than %zu bytes",
                    sizeof(sa->sun_path) - 1);
        return -1;
    }
    strcpy(sa->sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        g_set_error(err, VMM_VHOST_ERROR, 0, "socket: %s", g_strerror(errno));
    return fd;
}

/* Never blocks (vmmd connects from its main loop): a back end whose
 * listen queue is full is refused like an absent one, and tried again. */
static int connect_unix(const char *path, GError **err)
{
    struct sockaddr_un sa;
    int fd = unix_socket(path, &sa, err);
    if (fd < 0)
        return -1;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        fcntl(fd, F_SETFL, fl) < 0) {
        int e = errno;
        g_set_error(err, VMM_VHOST_ERROR, 0, "cannot connect: %s%s",
                    e == EAGAIN ? "the back end's listen queue is full" : g_strerror(e),
                    e == ECONNREFUSED || e == ENOENT ? " (is the back end running?)" : "");
        close(fd);
        return -1;
    }
    return fd;
}

/* Listens on path; a stale socket there is replaced, as QEMU's
 * server=on does. */
static int listen_unix(const char *path, GError **err)
{
    struct sockaddr_un sa;
    int lfd = unix_socket(path, &sa, err);
    if (lfd < 0)
        return -1;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "cannot listen: %s", g_strerror(errno));
        close(lfd);
        return -1;
    }
    return lfd;
}

int vmm_vhost_user_socket(const char *path, bool listening, GError **err)
{
    return listening ? listen_unix(path, err) : connect_unix(path, err);
}

/* Waits up to timeout_s for one back end on the listening lfd, and
 * stops listening (closes lfd). */
static int accept_on(int lfd, unsigned timeout_s, GError **err)
{
    struct pollfd p = { .fd = lfd, .events = POLLIN };
    int r;
    do
        r = poll(&p, 1, (int)timeout_s * 1000);
    while (r < 0 && errno == EINTR);
    int fd = r == 1 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
    int e = r == 1 ? errno : r == 0 ? ETIMEDOUT : errno;
    close(lfd);
    if (fd < 0 && e == ETIMEDOUT)
        g_set_error(err, VMM_VHOST_ERROR, 0, "no back end connected within %u s", timeout_s);
    else if (fd < 0)
        g_set_error(err, VMM_VHOST_ERROR, 0, "accept: %s", g_strerror(e));
    return fd;
}

/* The handshake on a fresh connection: features, protocol features,
 * queue count, owner. */
static bool negotiate(VmmVhostDev *v, uint64_t *features_out, uint64_t *nq_out, GError **err)
{
    UserPriv *u = upriv(v);
    uint64_t features = 0, proto = 0, nq = G_MAXUINT;
    u->protocol = 0;
    u->refused = 0;
    close_backend_channel(v);
    bool ok = get_u64(v, VHOST_USER_GET_FEATURES, &features, err);
    u->has_protocol = ok && (features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES));
    if (ok && u->has_protocol) {
        ok = get_u64(v, VHOST_USER_GET_PROTOCOL_FEATURES, &proto, err) &&
             set_u64(v, VHOST_USER_SET_PROTOCOL_FEATURES, proto & PROTO_WANTED, err);
        /* From here on, REPLY_ACK applies. */
        u->protocol = proto & PROTO_WANTED;
    }
    if (ok && (u->protocol & (1ULL << PROTO_F_MQ))) {
        ok = get_u64(v, VHOST_USER_GET_QUEUE_NUM, &nq, err);
        if (ok)
            nq = CLAMP(nq, 1, VMM_VHOST_MAX_QUEUES);
    }
    if (ok && (u->protocol & (1ULL << PROTO_F_BACKEND_REQ)))
        ok = setup_backend_channel(v, err);
    ok = ok && send_plain(v, VHOST_USER_SET_OWNER, err);
    *features_out = features & ~(1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
    *nq_out = nq;
    return ok;
}

/* ---- where sockets come from ------------------------------------------------ */

static VmmVhostUserOpener opener;

void vmm_vhost_user_set_opener(const VmmVhostUserOpener *o)
{
    opener = o ? *o : (VmmVhostUserOpener){ 0 };
}

bool vmm_vhost_user_has_opener(void)
{
    return opener.open != NULL;
}

/* The socket of a device: from the opener when there is one (it may be a
 * listening one, for accept), else made here on path. */
static int open_socket(const char *path, const char *disk, unsigned interface, bool listening,
                       const char *name, GError **err)
{
    g_autoptr(GError) why = NULL;
    int fd = opener.open ? opener.open(opener.opaque, disk, interface, &why)
                         : vmm_vhost_user_socket(path, listening, &why);
    if (fd < 0)
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: vhost-user %s %s: %s", name,
                    listening ? "socket" : "back end", path, why->message);
    return fd;
}

/* A new connection to the same socket path, for the layer's reconnect:
 * the back end must offer what the first one did, since the driver
 * negotiated with that. */
static int u_reconnect_open(VmmVhostDev *v, GError **err)
{
    UserPriv *u = upriv(v);
    return open_socket(u->path, u->disk, u->interface, false, v->name, err);
}

static bool u_reconnect(VmmVhostDev *v, int fd, GError **err)
{
    UserPriv *u = upriv(v);
    set_timeouts(fd);
    close(u->fd);
    u->fd = fd;
    g_mutex_lock(&v->state_lock);
    v->hup_fd = fd;
    g_mutex_unlock(&v->state_lock);
    uint64_t features, nq;
    if (!negotiate(v, &features, &nq, err))
        return false;
    if (features != v->features || nq < MIN(v->max_queues, (uint64_t)VMM_VHOST_MAX_QUEUES)) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: the vhost-user back end now on %s offers "
                    "features 0x%" G_GINT64_MODIFIER "x and %" G_GUINT64_FORMAT " queues, the "
                    "first one 0x%" G_GINT64_MODIFIER "x and %u", v->name, u->path, features,
                    nq, v->features, v->max_queues);
        shutdown(fd, SHUT_RDWR);
        return false;
    }
    return true;
}

/* A connected socket (either direction) becomes a device after the
 * handshake. Takes fd. */
static VmmVhostDev *user_negotiate(int fd, const char *path, const char *disk,
                                   unsigned interface, const char *name, GError **err)
{
    set_timeouts(fd);
    UserPriv *u = g_new0(UserPriv, 1);
    u->fd = fd;
    u->inflight_fd = -1;
    u->path = g_strdup(path);
    u->disk = g_strdup(disk);
    u->interface = interface;
    VmmVhostDev *v = g_new0(VmmVhostDev, 1);
    vmm_vhost_dev_init(v, &user_ops, u, name, fd);
    uint64_t features, nq;
    if (!negotiate(v, &features, &nq, err) || !vmm_vhost_dev_ready(v, err)) {
        vmm_vhost_free(v);
        return NULL;
    }
    v->features = features;
    v->max_queues = nq;
    return v;
}

VmmVhostDev *vmm_vhost_user_connect(const char *path, const char *disk, unsigned interface,
                                    const char *name, GError **err)
{
    int fd = open_socket(path, disk, interface, false, name, err);
    return fd < 0 ? NULL : user_negotiate(fd, path, disk, interface, name, err);
}

VmmVhostDev *vmm_vhost_user_accept(const char *path, unsigned interface, const char *name,
                                   unsigned timeout_s, GError **err)
{
    int lfd = open_socket(path, NULL, interface, true, name, err);
    if (lfd < 0)
        return NULL;
    g_autoptr(GError) why = NULL;
    int fd = accept_on(lfd, timeout_s, &why);
    /* The socket file goes with the listener, where this process can see
     * it (a confined worker's opener listened for it: vmmd's is left,
     * and replaced at the next listen). */
    if (!opener.open)
        unlink(path);
    if (fd < 0) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: vhost-user socket %s: %s", name, path,
                    why->message);
        return NULL;
    }
    return user_negotiate(fd, path, NULL, interface, name, err);
}
