/* The vhost layer's transports against real peers where this host has
 * them: vhost-user against a back end played by this test over a real
 * unix socket, misbehaving the ways a hostile back end can (the guest-kit
 * run against qemu-storage-daemon is tests/integration/test-vhost-user-blk);
 * the kernel transport against /dev/vhost-net (SKIP, with the reason,
 * where the host has none) and its errors on other files. */
#include "vhost/vhost_kernel.h"
#include "vhost/vhost_user.h"
#include "virtio/virtio_pci.h"
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define PROTOCOL_FEATURES_BIT (1ULL << 30)

typedef struct {
    int listen_fd;
    char *dir, *path;
    GThread *thread;
    void (*script)(int fd);
} Peer;

static bool rd_all(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            return false;
        got += n;
    }
    return true;
}

/* One request from the front end: its code (0 when the front end hung up). */
static uint32_t next_request(int fd, uint8_t *payload, uint32_t *size)
{
    uint32_t h[3];
    if (!rd_all(fd, h, sizeof(h)))
        return 0;
    g_assert_cmpuint(h[2], <=, 4096);
    if (h[2] && !rd_all(fd, payload, h[2]))
        return 0;
    if (size)
        *size = h[2];
    return h[0];
}

/* One message: header with flags, payload, descriptors. */
static void send_flags(int fd, uint32_t req, uint32_t flags, const void *payload,
                       uint32_t size, const int *fds, unsigned nfds)
{
    uint8_t buf[4096];
    uint32_t h[3] = { req, flags, size };
    memcpy(buf, h, 12);
    if (size)
        memcpy(buf + 12, payload, size);
    struct iovec iov = { buf, 12 + size };
    union { char b[CMSG_SPACE(sizeof(int) * 4)]; struct cmsghdr a; } u;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds) {
        mh.msg_control = u.b;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    g_assert_cmpint(sendmsg(fd, &mh, MSG_NOSIGNAL), ==, (ssize_t)iov.iov_len);
}

static void reply(int fd, uint32_t req, const void *payload, uint32_t size, const int *fds,
                  unsigned nfds)
{
    send_flags(fd, req, 0x5, payload, size, fds, nfds);
}

static void reply_u64(int fd, uint32_t req, uint64_t v)
{
    reply(fd, req, &v, 8, NULL, 0);
}

static gpointer peer_thread(gpointer data)
{
    Peer *p = data;
    int fd = accept(p->listen_fd, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    p->script(fd);
    close(fd);
    return NULL;
}

static void peer_start(Peer *p, void (*script)(int fd))
{
    p->dir = g_dir_make_tmp("vmm-vhost-XXXXXX", NULL);
    p->path = g_build_filename(p->dir, "be.sock", NULL);
    p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, p->path, sizeof(sa.sun_path));
    g_assert_cmpint(bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(p->listen_fd, 1), ==, 0);
    p->script = script;
    p->thread = g_thread_new("peer", peer_thread, p);
}

static void peer_finish(Peer *p)
{
    g_thread_join(p->thread);
    close(p->listen_fd);
    g_unlink(p->path);
    g_rmdir(p->dir);
    g_free(p->path);
    g_free(p->dir);
}

/* The handshake a good back end gives: features with the protocol bit,
 * protocol features CONFIG (bit 9) and REPLY_ACK (bit 3), owner. */
static void handshake(int fd)
{
    uint8_t pl[4096];
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_GET_FEATURES);
    reply_u64(fd, VHOST_USER_GET_FEATURES, PROTOCOL_FEATURES_BIT | (1ULL << 32));
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_GET_PROTOCOL_FEATURES);
    reply_u64(fd, VHOST_USER_GET_PROTOCOL_FEATURES, (1ULL << 9) | (1ULL << 3) | (1ULL << 40));
    uint32_t size;
    g_assert_cmpuint(next_request(fd, pl, &size), ==, VHOST_USER_SET_PROTOCOL_FEATURES);
    uint64_t accepted;
    memcpy(&accepted, pl, 8);
    g_assert_cmphex(accepted, ==, (1ULL << 9) | (1ULL << 3));   /* not the unknown bit 40 */
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_SET_OWNER);
    reply_u64(fd, VHOST_USER_SET_OWNER, 0);                      /* REPLY_ACK */
}

static VmmVhostDev *connect_expect(Peer *p, const char *needle)
{
    g_autoptr(GError) err = NULL;
    VmmVhostDev *v = vmm_vhost_user_connect(p->path, "vdt", 0, "vhost-user-blk vdt", &err);
    if (needle) {
        g_assert_null(v);
        g_assert_nonnull(err);
        g_test_message("error: %s", err->message);
        g_assert_nonnull(strstr(err->message, "vhost-user-blk vdt: vhost-user back end "));
        g_assert_nonnull(strstr(err->message, p->path));
        if (!strstr(err->message, needle))
            g_error("'%s' does not contain '%s'", err->message, needle);
        g_assert_null(strchr(err->message, '\n'));
    } else {
        g_assert_no_error(err);
        g_assert_nonnull(v);
    }
    return v;
}

static void script_wrong_request(int fd)
{
    uint8_t pl[4096];
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_GET_FEATURES);
    reply_u64(fd, VHOST_USER_GET_PROTOCOL_FEATURES, 0);
    next_request(fd, pl, NULL);   /* until the front end hangs up */
}

static void script_fds(int fd)
{
    uint8_t pl[4096];
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_GET_FEATURES);
    int fds[3] = { 0, 1, 2 };
    uint64_t f = 1ULL << 32;
    reply(fd, VHOST_USER_GET_FEATURES, &f, 8, fds, 3);
    next_request(fd, pl, NULL);
}

static void script_wrong_size(int fd)
{
    uint8_t pl[4096];
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_GET_FEATURES);
    uint8_t big[64] = { 0 };
    reply(fd, VHOST_USER_GET_FEATURES, big, sizeof(big), NULL, 0);
    next_request(fd, pl, NULL);
}

static void script_hang_up(int fd)
{
    uint8_t pl[4096];
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_GET_FEATURES);
}

static void script_nack(int fd)
{
    uint8_t pl[4096];
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_GET_FEATURES);
    reply_u64(fd, VHOST_USER_GET_FEATURES, PROTOCOL_FEATURES_BIT);
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_GET_PROTOCOL_FEATURES);
    reply_u64(fd, VHOST_USER_GET_PROTOCOL_FEATURES, 1ULL << 3);
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_SET_PROTOCOL_FEATURES);
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_SET_OWNER);
    reply_u64(fd, VHOST_USER_SET_OWNER, 1);                      /* refused */
    next_request(fd, pl, NULL);
}

static void test_hostile_handshake(void)
{
    static const struct { void (*script)(int); const char *needle; } cases[] = {
        { script_wrong_request, "the back end answered request 15 to GET_FEATURES (request 1)" },
        { script_fds, "the back end sent 3 file descriptors with its reply to GET_FEATURES" },
        { script_wrong_size, "reply to GET_FEATURES has 64 payload bytes, 8 expected" },
        { script_hang_up, "the back end closed the connection" },
        { script_nack, "the back end refused SET_OWNER (status 1)" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        Peer p = { 0 };
        peer_start(&p, cases[i].script);
        connect_expect(&p, cases[i].needle);
        peer_finish(&p);
    }
}

/* One GET_CONFIG for the 60 bytes of virtio-blk's config: these. */
static void serve_config(int fd, const uint8_t *cfg60)
{
    uint8_t pl[4096];
    uint32_t size;
    g_assert_cmpuint(next_request(fd, pl, &size), ==, VHOST_USER_GET_CONFIG);
    g_assert_cmpuint(size, ==, 12 + 60);
    uint8_t cfg[12 + 60];
    uint32_t hdr[3] = { 0, 60, 0 };
    memcpy(cfg, hdr, 12);
    memcpy(cfg + 12, cfg60, 60);
    reply(fd, VHOST_USER_GET_CONFIG, cfg, sizeof(cfg), NULL, 0);
}

/* Config: what was asked comes back; more than asked is refused and ends
 * the connection. */
static void script_config(int fd)
{
    uint8_t pl[4096];
    handshake(fd);
    uint8_t cfg[60];
    for (int i = 0; i < 60; i++)
        cfg[i] = i;
    serve_config(fd, cfg);
    uint32_t size;
    /* then config larger than asked */
    g_assert_cmpuint(next_request(fd, pl, &size), ==, VHOST_USER_GET_CONFIG);
    uint8_t big[12 + 256] = { 0 };
    uint32_t hdr2[3] = { 0, 256, 0 };
    memcpy(big, hdr2, 12);
    reply(fd, VHOST_USER_GET_CONFIG, big, sizeof(big), NULL, 0);
    next_request(fd, pl, NULL);
}

static void test_config(void)
{
    Peer p = { 0 };
    peer_start(&p, script_config);
    VmmVhostDev *v = connect_expect(&p, NULL);
    g_assert_cmphex(vmm_vhost_features(v), ==, 1ULL << 32);   /* protocol bit is internal */
    uint8_t cfg[60];
    g_autoptr(GError) err = NULL;
    g_assert_true(vmm_vhost_get_config(v, cfg, sizeof(cfg), &err));
    g_assert_no_error(err);
    for (int i = 0; i < 60; i++)
        g_assert_cmpuint(cfg[i], ==, i);
    g_assert_false(vmm_vhost_get_config(v, cfg, sizeof(cfg), &err));
    g_test_message("error: %s", err->message);
    g_assert_nonnull(strstr(err->message, "reply to GET_CONFIG has 268 payload bytes, 72 "
                                          "expected"));
    /* The connection is over: the next call says so without waiting. */
    g_clear_error(&err);
    peer_finish(&p);
    g_assert_false(vmm_vhost_get_config(v, cfg, sizeof(cfg), &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    /* A kernel-only request on a vhost-user device is refused by name. */
    g_assert_false(vmm_vhost_kernel_net_set_backend(v, 0, -1, &err));
    g_assert_nonnull(strstr(err->message, "VHOST_NET_SET_BACKEND on a vhost-user back end"));
    vmm_vhost_free(v);
}

/* ---- the layer: start/stop with state handover --------------------------- */

/* What the back end saw of a start and a stop, for the test to check. */
static struct {
    uint64_t features;
    unsigned nregions, mem_fds;
    uint64_t region_gpa[2], region_size[2], region_uaddr[2], region_offset[2];
    unsigned num[2], base[2], enable[2], kick_fds, call_fds;
    uint64_t desc[2], avail[2], used[2];
    unsigned stopped[2];
} seen;

static unsigned recv_with_fds(int fd, uint8_t *buf, uint32_t *req, uint32_t *size)
{
    uint32_t h[3];
    union { char b[CMSG_SPACE(sizeof(int) * 8)]; struct cmsghdr a; } u;
    struct iovec iov = { h, sizeof(h) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
                         .msg_controllen = sizeof(u.b) };
    if (recvmsg(fd, &mh, MSG_WAITALL) != sizeof(h)) {
        *req = 0;
        return 0;
    }
    unsigned nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        unsigned k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (unsigned i = 0; i < k; i++) {
            int f;
            memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            close(f);
        }
        nfds += k;
    }
    *req = h[0];
    *size = h[2];
    g_assert_true(h[2] == 0 || rd_all(fd, buf, h[2]));
    return nfds;
}

static void script_rings(int fd)
{
    uint8_t pl[4096];
    handshake(fd);
    for (;;) {
        uint32_t req, size;
        unsigned nfds = recv_with_fds(fd, pl, &req, &size);
        uint32_t *w = (uint32_t *)pl;
        uint64_t *q = (uint64_t *)pl;
        switch (req) {
        case 0:
            return;
        case VHOST_USER_SET_FEATURES:
            seen.features = q[0];
            break;
        case VHOST_USER_SET_MEM_TABLE:
            seen.nregions = w[0];
            seen.mem_fds = nfds;
            for (unsigned i = 0; i < w[0] && i < 2; i++) {
                seen.region_gpa[i] = q[1 + 4 * i];
                seen.region_size[i] = q[2 + 4 * i];
                seen.region_uaddr[i] = q[3 + 4 * i];
                seen.region_offset[i] = q[4 + 4 * i];
            }
            break;
        case VHOST_USER_SET_VRING_NUM: seen.num[w[0] & 1] = w[1]; break;
        case VHOST_USER_SET_VRING_BASE: seen.base[w[0] & 1] = w[1]; break;
        case VHOST_USER_SET_VRING_ENABLE: seen.enable[w[0] & 1] = w[1]; break;
        case VHOST_USER_SET_VRING_ADDR:
            seen.desc[w[0] & 1] = q[1];
            seen.used[w[0] & 1] = q[2];
            seen.avail[w[0] & 1] = q[3];
            break;
        case VHOST_USER_SET_VRING_KICK: seen.kick_fds += nfds; break;
        case VHOST_USER_SET_VRING_CALL: seen.call_fds += nfds; break;
        case VHOST_USER_GET_VRING_BASE: {
            /* where this back end "stopped": 100 + ring */
            seen.stopped[w[0] & 1]++;
            uint32_t st[2] = { w[0], 100 + w[0] };
            reply(fd, req, st, 8, NULL, 0);
            continue;
        }
        default:
            g_error("unexpected request %u", req);
        }
        reply_u64(fd, req, 0);   /* REPLY_ACK */
    }
}

/* A VM's memory (one memfd, low and high RAM) and a virtio device with
 * three queues, as vm.c and virtio_pci.c make them. */
typedef struct {
    VmmVm vm;
    VmmVirtioDev d;
    VmmVirtioQueue queues[3];
} Fixture;

static void fixture_init(Fixture *f)
{
    memset(f, 0, sizeof(*f));
    VmmVm *vm = &f->vm;
    vm->lowmem_size = 1 << 20;
    vm->highmem_size = 1 << 20;
    vm->ram_size = 2 << 20;
    vm->mem_fd = memfd_create("test-ram", MFD_CLOEXEC);
    g_assert_cmpint(ftruncate(vm->mem_fd, vm->ram_size), ==, 0);
    vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->mem_fd, 0);
    g_assert_true(vm->ram != MAP_FAILED);
    f->d.vm = vm;
    f->d.nqueues = 3;
    f->d.queues = f->queues;
    f->d.guest_features = (1ULL << 32) | (1ULL << 29);   /* 29: not offered, dropped */
    g_mutex_init(&f->d.lock);
    for (unsigned i = 0; i < 3; i++) {
        f->queues[i] = (VmmVirtioQueue){ .size = 64, .enabled = true,
                                         .desc = 0x1000 * (i + 1),
                                         .avail = 0x10000 + 0x1000 * i,
                                         .used = LAYOUT_HIGHMEM_START + 0x1000 * i };
        f->queues[i].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        f->queues[i].call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    }
}

static void fixture_clear(Fixture *f)
{
    for (unsigned i = 0; i < 3; i++) {
        close(f->queues[i].kick_fd);
        close(f->queues[i].call_fd);
    }
    g_mutex_clear(&f->d.lock);
    munmap(f->vm.ram, f->vm.ram_size);
    close(f->vm.mem_fd);
}

/* The layer hands queues 1 and 2 to the back end as its rings 0 and 1. */
static void test_start_stop(void)
{
    memset(&seen, 0, sizeof(seen));
    Peer p = { 0 };
    peer_start(&p, script_rings);
    VmmVhostDev *v = connect_expect(&p, NULL);
    Fixture f;
    fixture_init(&f);
    VmmVm *vm = &f.vm;
    VmmVirtioQueue *queues = f.queues;
    uint16_t resume[2] = { 7, 9 };
    g_autoptr(GError) err = NULL;
    g_assert_true(vmm_vhost_start_range(v, &f.d, 1, 2, resume, &err));
    g_assert_no_error(err);
    uint16_t last[2] = { 0, 0 };
    vmm_vhost_stop(v, last, 2);
    vmm_vhost_free(v);
    peer_finish(&p);

    g_assert_cmphex(seen.features, ==, (1ULL << 32) | PROTOCOL_FEATURES_BIT);
    g_assert_cmpuint(seen.nregions, ==, 2);
    g_assert_cmpuint(seen.mem_fds, ==, 2);
    g_assert_cmphex(seen.region_gpa[0], ==, 0);
    g_assert_cmphex(seen.region_uaddr[0], ==, (uintptr_t)vm->ram);
    g_assert_cmphex(seen.region_gpa[1], ==, LAYOUT_HIGHMEM_START);
    g_assert_cmphex(seen.region_uaddr[1], ==, (uintptr_t)vm->ram + vm->lowmem_size);
    g_assert_cmphex(seen.region_offset[1], ==, vm->lowmem_size);
    for (unsigned r = 0; r < 2; r++) {
        g_assert_cmpuint(seen.num[r], ==, 64);
        g_assert_cmpuint(seen.base[r], ==, resume[r]);
        g_assert_cmphex(seen.desc[r], ==, (uintptr_t)vm->ram + queues[1 + r].desc);
        g_assert_cmphex(seen.avail[r], ==, (uintptr_t)vm->ram + queues[1 + r].avail);
        g_assert_cmphex(seen.used[r], ==, (uintptr_t)vm->ram + vm->lowmem_size + 0x1000 * (1 + r));
        g_assert_cmpuint(seen.enable[r], ==, 0);       /* enabled, then disabled at stop */
        g_assert_cmpuint(seen.stopped[r], ==, 1);
        g_assert_cmpuint(last[r], ==, 100 + r);        /* handed back by GET_VRING_BASE */
    }
    g_assert_cmpuint(seen.kick_fds, ==, 2);
    g_assert_cmpuint(seen.call_fds, ==, 2);
    fixture_clear(&f);
}

/* The back end hangs up after the rings were started; with reconnect on,
 * the layer connects again and hands the new back end the rings from the
 * used index in guest memory, and kicks them. The disconnect handler is
 * not called. */
static void script_hang_up_after_start(int fd)
{
    uint8_t pl[4096];
    handshake(fd);
    for (;;) {
        uint32_t req, size;
        recv_with_fds(fd, pl, &req, &size);
        if (req == VHOST_USER_SET_VRING_ENABLE && ((uint32_t *)pl)[0] == 1) {
            reply_u64(fd, req, 0);
            return;   /* both rings up: hang up */
        }
        g_assert_cmpuint(req, !=, 0);
        reply_u64(fd, req, 0);
    }
}

static gpointer second_peer(gpointer data)
{
    Peer *p = data;
    int fd = accept(p->listen_fd, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    script_rings(fd);
    close(fd);
    return NULL;
}

static void count_disconnect(void *opaque)
{
    g_atomic_int_inc((gint *)opaque);
}

/* An opener that reaches the peer whatever path the device has, as vmmd
 * does for a confined worker: which device it was asked for, how often. */
typedef struct {
    Peer *peer;
    gint calls;
    char *disk;
} Opener;

static int open_peer(void *opaque, const char *disk, unsigned interface, GError **err)
{
    Opener *o = opaque;
    g_atomic_int_inc(&o->calls);
    g_free(o->disk);
    o->disk = g_strdup(disk);
    return vmm_vhost_user_socket(o->peer->path, false, err);
}

static void reconnect_case(bool by_opener)
{
    memset(&seen, 0, sizeof(seen));
    Peer p = { 0 };
    peer_start(&p, script_hang_up_after_start);
    Opener o = { &p, 0, NULL };
    VmmVhostDev *v;
    if (by_opener) {
        VmmVhostUserOpener op = { open_peer, &o };
        vmm_vhost_user_set_opener(&op);
        g_autoptr(GError) err = NULL;
        /* a path nobody can connect to: only the opener reaches the peer */
        v = vmm_vhost_user_connect("/nonexistent/be.sock", "vdt", 0, "vhost-user-blk vdt",
                                   &err);
        g_assert_no_error(err);
        g_assert_cmpint(g_atomic_int_get(&o.calls), ==, 1);
    } else {
        v = connect_expect(&p, NULL);
    }
    gint disconnects = 0;
    vmm_vhost_set_disconnect_handler(v, count_disconnect, &disconnects);
    vmm_vhost_set_reconnect(v, 1);
    Fixture f;
    fixture_init(&f);
    /* Where the old back end got to: used->idx of queues 1 and 2. */
    uint16_t *used1 = (uint16_t *)(f.vm.ram + f.vm.lowmem_size + 0x1000);
    uint16_t *used2 = (uint16_t *)(f.vm.ram + f.vm.lowmem_size + 0x2000);
    used1[1] = 33;
    used2[1] = 44;
    g_autoptr(GError) err = NULL;
    g_assert_true(vmm_vhost_start_range(v, &f.d, 1, 2, NULL, &err));
    g_thread_join(p.thread);           /* the first back end has hung up */
    memset(&seen, 0, sizeof(seen));
    p.thread = g_thread_new("peer2", second_peer, &p);
    /* The layer reconnects within a second or so; wait for the rings to
     * be handed over (a hang guard, not a timing assertion). */
    for (int i = 0; i < 3000 && !(seen.kick_fds == 2 && seen.enable[1]); i++)
        g_usleep(10000);
    uint64_t kicks1 = 0, kicks2 = 0;
    for (int i = 0; i < 3000 && (!kicks1 || !kicks2); i++) {
        uint64_t k;
        if (read(f.queues[1].kick_fd, &k, 8) == 8)
            kicks1 += k;
        if (read(f.queues[2].kick_fd, &k, 8) == 8)
            kicks2 += k;
        if (!kicks1 || !kicks2)
            g_usleep(10000);
    }
    g_assert_cmpuint(seen.base[0], ==, 33);
    g_assert_cmpuint(seen.base[1], ==, 44);
    g_assert_cmpuint(seen.enable[0], ==, 1);
    g_assert_cmpuint(seen.enable[1], ==, 1);
    g_assert_cmpuint(seen.nregions, ==, 2);
    g_assert_cmpuint(kicks1, >=, 1);
    g_assert_cmpuint(kicks2, >=, 1);
    g_assert_true(vmm_vhost_connected(v));
    g_assert_cmpint(g_atomic_int_get(&disconnects), ==, 0);
    uint16_t last[2];
    vmm_vhost_stop(v, last, 2);
    g_assert_cmpuint(last[0], ==, 100);
    vmm_vhost_free(v);
    peer_finish(&p);
    fixture_clear(&f);
    if (by_opener) {
        /* the reconnect asked the opener for disk vdt, not the path */
        g_assert_cmpint(g_atomic_int_get(&o.calls), ==, 2);
        g_assert_cmpstr(o.disk, ==, "vdt");
        vmm_vhost_user_set_opener(NULL);
        g_free(o.disk);
    }
}

static void test_reconnect(void)
{
    reconnect_case(false);
}

static void test_reconnect_by_opener(void)
{
    reconnect_case(true);
}

/* ---- the back-end channel (BACKEND_REQ) ------------------------------------ */

/* One request with at most one descriptor, which is kept (*got_fd, -1:
 * none). */
static uint32_t recv_keep_fd(int fd, uint8_t *payload, uint32_t *size, int *got_fd)
{
    uint32_t h[3];
    union { char b[CMSG_SPACE(sizeof(int))]; struct cmsghdr a; } u;
    struct iovec iov = { h, sizeof(h) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
                         .msg_controllen = sizeof(u.b) };
    *got_fd = -1;
    if (recvmsg(fd, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC) != sizeof(h))
        return 0;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    if (c && c->cmsg_type == SCM_RIGHTS)
        memcpy(got_fd, CMSG_DATA(c), sizeof(int));
    *size = h[2];
    g_assert_true(h[2] == 0 || rd_all(fd, payload, h[2]));
    return h[0];
}

/* The front end's answer to a back-end request: its status. */
static uint64_t backend_answer(int fd, uint32_t req)
{
    uint32_t h[3];
    uint64_t status = ~0ULL;
    g_assert_true(rd_all(fd, h, sizeof(h)));
    g_assert_cmpuint(h[0], ==, req);
    g_assert_cmphex(h[1], ==, 0x5);            /* version 1, reply */
    g_assert_cmpuint(h[2], ==, 8);
    g_assert_true(rd_all(fd, &status, 8));
    return status;
}

/* GET_CONFIG on the main socket: a config whose capacity is cap. */
static void serve_get_config(int fd, uint64_t cap)
{
    uint8_t cfg[60] = { 0 };
    memcpy(cfg, &cap, 8);
    serve_config(fd, cfg);
}

static struct {
    gint changes;
    uint64_t capacity;
    VmmVhostDev *v;
} cfgseen;

/* As vhost_user_blk.c does: the config again, from the layer's thread. */
static void on_config_change(void *opaque)
{
    uint8_t cfg[60];
    g_autoptr(GError) err = NULL;
    g_assert_true(vmm_vhost_get_config(cfgseen.v, cfg, sizeof(cfg), &err));
    memcpy(&cfgseen.capacity, cfg, 8);
    g_atomic_int_inc(&cfgseen.changes);
}

static void script_backend_channel(int fd)
{
    uint8_t pl[4096];
    uint32_t size;
    int chan;
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_GET_FEATURES);
    reply_u64(fd, VHOST_USER_GET_FEATURES, PROTOCOL_FEATURES_BIT | (1ULL << 32));
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_GET_PROTOCOL_FEATURES);
    reply_u64(fd, VHOST_USER_GET_PROTOCOL_FEATURES, (1ULL << 9) | (1ULL << 5) | (1ULL << 3));
    g_assert_cmpuint(next_request(fd, pl, &size), ==, VHOST_USER_SET_PROTOCOL_FEATURES);
    g_assert_cmphex(*(uint64_t *)pl, ==, (1ULL << 9) | (1ULL << 5) | (1ULL << 3));
    g_assert_cmpuint(recv_keep_fd(fd, pl, &size, &chan), ==, VHOST_USER_SET_BACKEND_REQ_FD);
    g_assert_cmpint(chan, >=, 0);
    g_assert_cmpuint(size, ==, 0);
    reply_u64(fd, VHOST_USER_SET_BACKEND_REQ_FD, 0);
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_SET_OWNER);
    reply_u64(fd, VHOST_USER_SET_OWNER, 0);

    /* An unknown request wanting a reply, with a payload and a
     * descriptor: refused (status 1), the channel stays. */
    uint8_t junk[16] = { 1, 2, 3 };
    send_flags(chan, 99, 0x1 | 0x8, junk, sizeof(junk), (int[]){ 0 }, 1);
    g_assert_cmphex(backend_answer(chan, 99), ==, 1);
    /* IOTLB_MSG is not served either (no IOMMU). */
    send_flags(chan, VHOST_USER_BACKEND_IOTLB_MSG, 0x1 | 0x8, junk, sizeof(junk), NULL, 0);
    g_assert_cmphex(backend_answer(chan, VHOST_USER_BACKEND_IOTLB_MSG), ==, 1);
    /* A config change with NEED_REPLY: acknowledged first, then the front
     * end reads the config. */
    send_flags(chan, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, 0x1 | 0x8, NULL, 0, NULL, 0);
    g_assert_cmphex(backend_answer(chan, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG), ==, 0);
    serve_get_config(fd, 4096);
    /* Without NEED_REPLY: no answer, the config is read all the same. */
    send_flags(chan, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, 0x1, NULL, 0, NULL, 0);
    serve_get_config(fd, 8192);
    /* A header out of spec (the reply bit):
     * the front end closes the channel; the main socket goes on. */
    send_flags(chan, VHOST_USER_BACKEND_CONFIG_CHANGE_MSG, 0x1 | 0x4, NULL, 0, NULL, 0);
    char c;
    g_assert_cmpint(read(chan, &c, 1), ==, 0);
    close(chan);
    serve_get_config(fd, 12345);               /* asked for by the test itself */
    next_request(fd, pl, NULL);                /* until the front end hangs up */
}

static void test_backend_channel(void)
{
    Peer p = { 0 };
    memset(&cfgseen, 0, sizeof(cfgseen));
    peer_start(&p, script_backend_channel);
    VmmVhostDev *v = connect_expect(&p, NULL);
    cfgseen.v = v;
    vmm_vhost_set_config_handler(v, on_config_change, NULL);
    /* The peer's script runs the channel's cases; wait for the two
     * config changes (a hang guard, not a timing assertion). */
    for (int i = 0; i < 3000 && g_atomic_int_get(&cfgseen.changes) < 2; i++)
        g_usleep(10000);
    g_assert_cmpint(g_atomic_int_get(&cfgseen.changes), ==, 2);
    g_assert_cmpuint(cfgseen.capacity, ==, 8192);
    /* The channel is closed after the bad header; the device still works. */
    uint8_t cfg[60];
    g_autoptr(GError) err = NULL;
    g_assert_true(vmm_vhost_get_config(v, cfg, sizeof(cfg), &err));
    g_assert_no_error(err);
    uint64_t cap;
    memcpy(&cap, cfg, 8);
    g_assert_cmpuint(cap, ==, 12345);
    g_assert_true(vmm_vhost_connected(v));
    g_assert_cmpint(g_atomic_int_get(&cfgseen.changes), ==, 2);
    vmm_vhost_free(v);
    peer_finish(&p);
}

/* ---- inflight I/O tracking (INFLIGHT_SHMFD) --------------------------------- */

/* What a back end offering INFLIGHT_SHMFD saw: the area it handed out
 * (GET_INFLIGHT_FD) and the areas it was given back (SET_INFLIGHT_FD). */
static struct {
    gint gets, sets;
    bool hang_up;                /* after the rings are enabled (first back end) */
    int bad;                     /* 0: good; 1: no fd in the reply; 2: size 0 */
    ino_t area[4], given[8];
    uint16_t nq, qsize;
    uint64_t set_size;
} inf;

static ino_t inode_of(int fd)
{
    struct stat st;
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    return st.st_ino;
}

static void script_inflight(int fd)
{
    uint8_t pl[4096];
    uint32_t size;
    int got;
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_GET_FEATURES);
    reply_u64(fd, VHOST_USER_GET_FEATURES, PROTOCOL_FEATURES_BIT | (1ULL << 32));
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_GET_PROTOCOL_FEATURES);
    reply_u64(fd, VHOST_USER_GET_PROTOCOL_FEATURES, (1ULL << 12) | (1ULL << 9) | (1ULL << 3));
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_SET_PROTOCOL_FEATURES);
    g_assert_cmphex(*(uint64_t *)pl, ==, (1ULL << 12) | (1ULL << 9) | (1ULL << 3));
    g_assert_cmpuint(next_request(fd, pl, NULL), ==, VHOST_USER_SET_OWNER);
    reply_u64(fd, VHOST_USER_SET_OWNER, 0);
    for (;;) {
        uint32_t req = recv_keep_fd(fd, pl, &size, &got);
        uint32_t *w = (uint32_t *)pl;
        uint64_t *q = (uint64_t *)pl;
        if (req == 0)
            return;
        if (req == VHOST_USER_GET_INFLIGHT_FD) {
            g_assert_cmpuint(size, ==, 24);
            g_assert_cmpuint(q[0], ==, 0);
            inf.nq = pl[16] | pl[17] << 8;
            inf.qsize = pl[18] | pl[19] << 8;
            int area = memfd_create("inflight", MFD_CLOEXEC);
            g_assert_cmpint(ftruncate(area, 4096), ==, 0);
            uint64_t ans[3] = { inf.bad == 2 ? 0 : 4096, 0, q[2] };
            reply(fd, req, ans, 24, &area, inf.bad == 1 ? 0 : 1);
            inf.area[g_atomic_int_add(&inf.gets, 1) & 3] = inode_of(area);
            close(area);
            continue;
        }
        if (req == VHOST_USER_SET_INFLIGHT_FD) {
            g_assert_cmpint(got, >=, 0);
            g_assert_cmpuint(size, ==, 24);
            inf.set_size = q[0];
            inf.given[g_atomic_int_get(&inf.sets) & 7] = inode_of(got);
            g_assert_cmpuint(pl[16] | pl[17] << 8, ==, inf.nq);
            g_assert_cmpuint(pl[18] | pl[19] << 8, ==, inf.qsize);
            g_atomic_int_inc(&inf.sets);
        }
        if (got >= 0)
            close(got);
        if (req == VHOST_USER_GET_VRING_BASE) {
            uint32_t st[2] = { w[0], 0 };
            reply(fd, req, st, 8, NULL, 0);
            continue;
        }
        reply_u64(fd, req, 0);   /* REPLY_ACK */
        if (inf.hang_up && req == VHOST_USER_SET_VRING_ENABLE && w[0] == 1)
            return;
    }
}

static gpointer second_peer_inflight(gpointer data)
{
    Peer *p = data;
    int fd = accept(p->listen_fd, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    script_inflight(fd);
    close(fd);
    return NULL;
}

/* The area is asked for once, given to the back end at start and again,
 * the same file, to the back end that replaces it after a hang-up; a
 * reset (stop) drops it and the next start asks for a new one. */
static void test_inflight(void)
{
    memset(&inf, 0, sizeof(inf));
    inf.hang_up = true;
    Peer p = { 0 };
    peer_start(&p, script_inflight);
    VmmVhostDev *v = connect_expect(&p, NULL);
    vmm_vhost_set_reconnect(v, 1);
    Fixture f;
    fixture_init(&f);
    g_autoptr(GError) err = NULL;
    g_assert_true(vmm_vhost_start_range(v, &f.d, 1, 2, NULL, &err));
    g_assert_no_error(err);
    g_thread_join(p.thread);           /* the first back end has hung up */
    g_assert_cmpint(inf.gets, ==, 1);
    g_assert_cmpint(inf.sets, ==, 1);
    g_assert_cmpuint(inf.nq, ==, 2);
    g_assert_cmpuint(inf.qsize, ==, 64);
    inf.hang_up = false;
    p.thread = g_thread_new("peer2", second_peer_inflight, &p);
    /* a hang guard, not a timing assertion */
    for (int i = 0; i < 3000 && g_atomic_int_get(&inf.sets) < 2; i++)
        g_usleep(10000);
    g_assert_cmpint(g_atomic_int_get(&inf.sets), ==, 2);
    g_assert_cmpint(inf.gets, ==, 1);                  /* not asked for again */
    g_assert_cmpuint(inf.given[0], ==, inf.area[0]);
    g_assert_cmpuint(inf.given[1], ==, inf.area[0]);   /* the same area */
    g_assert_cmpuint(inf.set_size, ==, 4096);
    uint16_t last[2];
    vmm_vhost_stop(v, last, 2);
    g_assert_true(vmm_vhost_start_range(v, &f.d, 1, 2, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpint(inf.gets, ==, 2);                  /* a fresh one after the reset */
    g_assert_cmpint(inf.sets, ==, 3);
    g_assert_cmpuint(inf.given[2], ==, inf.area[1]);
    g_assert_cmpuint(inf.area[1], !=, inf.area[0]);
    vmm_vhost_stop(v, last, 2);
    vmm_vhost_free(v);
    peer_finish(&p);
    fixture_clear(&f);
}

/* A reply without the area, or an empty one: the start fails, naming it. */
static void test_inflight_hostile(void)
{
    static const char *const want[] = {
        NULL,
        "the back end sent 0 file descriptors with its reply to GET_INFLIGHT_FD, which "
        "carries one",
        "the back end answered GET_INFLIGHT_FD with an area of 0 bytes at offset 0",
    };
    for (int bad = 1; bad <= 2; bad++) {
        memset(&inf, 0, sizeof(inf));
        inf.bad = bad;
        Peer p = { 0 };
        peer_start(&p, script_inflight);
        VmmVhostDev *v = connect_expect(&p, NULL);
        Fixture f;
        fixture_init(&f);
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_vhost_start_range(v, &f.d, 1, 2, NULL, &err));
        g_test_message("error: %s", err->message);
        g_assert_nonnull(strstr(err->message, want[bad]));
        g_assert_cmpint(inf.sets, ==, 0);
        vmm_vhost_free(v);
        peer_finish(&p);
        fixture_clear(&f);
    }
}

/* ---- the kernel transport ---------------------------------------------- */

static void test_kernel_errors(void)
{
    g_autoptr(GError) err = NULL;
    VmmVhostDev *v = vmm_vhost_kernel_open("/nonexistent/vhost-net", "virtio-net net0", &err);
    g_assert_null(v);
    g_assert_nonnull(strstr(err->message, "virtio-net net0: cannot open /nonexistent/vhost-net: "
                                          "No such file or directory"));
    g_clear_error(&err);
    /* Not a vhost device: the first ioctl says which and why. */
    v = vmm_vhost_kernel_open("/dev/null", "virtio-net net0", &err);
    g_assert_null(v);
    g_test_message("error: %s", err->message);
    g_assert_nonnull(strstr(err->message, "virtio-net net0: VHOST_SET_OWNER: "));
}

static void test_kernel_vhost_net(void)
{
    int fd = open(VMM_VHOST_NET_DEV, O_RDWR);
    if (fd < 0) {
        g_autofree char *why = g_strdup_printf("%s: %s (this host's kernel has no vhost-net)",
                                               VMM_VHOST_NET_DEV, g_strerror(errno));
        g_test_skip(why);
        return;
    }
    close(fd);
    g_autoptr(GError) err = NULL;
    VmmVhostDev *v = vmm_vhost_kernel_open(VMM_VHOST_NET_DEV, "virtio-net net0", &err);
    g_assert_no_error(err);
    /* vhost-net offers VERSION_1 and the ring features (linux/vhost.h). */
    g_assert_true(vmm_vhost_features(v) & (1ULL << 32));
    g_assert_true(vmm_vhost_set_features(v, 1ULL << 32, &err));
    /* No config space on vhost-net. */
    uint8_t cfg[4];
    g_assert_false(vmm_vhost_get_config(v, cfg, 4, &err));
    vmm_vhost_free(v);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vhost-user/hostile-handshake", test_hostile_handshake);
    g_test_add_func("/vhost-user/config", test_config);
    g_test_add_func("/vhost-user/backend-channel", test_backend_channel);
    g_test_add_func("/vhost/start-stop", test_start_stop);
    g_test_add_func("/vhost/reconnect", test_reconnect);
    g_test_add_func("/vhost/reconnect-by-opener", test_reconnect_by_opener);
    g_test_add_func("/vhost-user/inflight", test_inflight);
    g_test_add_func("/vhost-user/inflight-hostile", test_inflight_hostile);
    g_test_add_func("/vhost-kernel/errors", test_kernel_errors);
    g_test_add_func("/vhost-kernel/vhost-net", test_kernel_vhost_net);
    return g_test_run();
}
