/* vhost-user-blk against a real back end, Debian's qemu-storage-daemon
 * exporting a raw image: the guest kit's virtio-blk tests run over it;
 * data the guest writes is in the image, read from the host; a missing or
 * refusing socket is a one-line error and no VM; a back end killed while
 * the VM runs leaves the worker running, one line in its log, and the
 * VM's other disk working. */
#include "harness.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define TIMEOUT 120.0
#define IMG_MIB QSD_IMG_MIB
#define RESIZE_MIB 96

/* One QMP command on qemu-storage-daemon's monitor: the greeting,
 * qmp_capabilities, cmd; returns its reply line (events are skipped). */
static char *qmp_command(const char *path, const char *cmd)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    FILE *f = fdopen(fd, "r+");
    g_assert_nonnull(f);
    char line[4096];
    g_assert_nonnull(fgets(line, sizeof(line), f));          /* the greeting */
    g_assert_nonnull(strstr(line, "\"QMP\""));
    const char *cmds[] = { "{\"execute\":\"qmp_capabilities\"}", cmd };
    for (unsigned i = 0; i < G_N_ELEMENTS(cmds); i++) {
        fprintf(f, "%s\n", cmds[i]);
        fflush(f);
        do
            g_assert_nonnull(fgets(line, sizeof(line), f));
        while (strstr(line, "\"event\""));
    }
    fclose(f);
    return g_strdup(line);
}
static char *vu_disk_rc(const char *sock, const char *dev, unsigned reconnect)
{
    g_autofree char *rc = reconnect ? g_strdup_printf("<reconnect enabled='yes' "
                                                      "timeout='%u'/>", reconnect)
                                    : g_strdup("");
    return g_strdup_printf("<disk type='vhostuser' device='disk'>"
                           "<driver name='qemu' type='raw'/>"
                           "<source type='unix' path='%s'>%s</source>"
                           "<target dev='%s' bus='virtio'/></disk>", sock, rc, dev);
}

static char *vu_disk(const char *sock, const char *dev)
{
    return vu_disk_rc(sock, dev, 0);
}

static char *file_disk(const char *img, const char *dev)
{
    return g_strdup_printf("<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                           "<source file='%s'/><target dev='%s' bus='virtio'/></disk>",
                           img, dev);
}

static void show(HarnessRun *r)
{
    g_test_message("exit %d signal %d\nstdout:\n%s\nstderr:\n%s", r->exit_status,
                   r->term_signal, r->out, r->err);
}

/* Checks of disk `disk` (the kit's index) that ran and passed. */
static unsigned passed_on(HarnessRun *r, int disk)
{
    unsigned n = 0;
    for (guint i = 0; i < r->reports->len; i++) {
        json_object *o = r->reports->pdata[i], *v;
        if (json_object_object_get_ex(o, "disk", &v) && json_object_get_int(v) == disk &&
            json_object_object_get_ex(o, "ok", &v) && json_object_get_boolean(v))
            n++;
    }
    return n;
}

static void guest_kit(const char *cmdline, bool intx)
{
    g_autofree char *dir = harness_tmpdir();
    Qsd q = { 0 };
    qsd_start(&q, dir);
    g_autofree char *disk = vu_disk(q.sock, "vda");
    HarnessDomain d = { .vcpus = 1, .memory_mib = 256, .cmdline = cmdline,
                        .extra_devices = disk };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, NULL, NULL);
    qsd_stop(&q);
    harness_assert_clean_stderr(r);
    if (r->exit_status != 0 || harness_done_count(r, "failed") != 0)
        show(r);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_assert_cmpint(harness_done_count(r, "failed"), ==, 0);
    g_assert_cmpint(harness_done_count(r, "passed"), >=, 10);
    /* Capacity and geometry came from the back end (GET_CONFIG). */
    g_autoptr(GPtrArray) init = harness_find(r, "check", "blk_init");
    g_assert_cmpuint(init->len, ==, 1);
    json_object *cap;
    g_assert_true(json_object_object_get_ex(init->pdata[0], "capacity", &cap));
    g_assert_cmpint(json_object_get_int64(cap), ==, (gint64)IMG_MIB << 11);
    g_autoptr(GPtrArray) intx_checks = harness_find(r, "check", "blk_intx");
    g_assert_cmpuint(intx_checks->len, ==, intx ? 1 : 0);
    g_autoptr(GPtrArray) rw = harness_find(r, "check", "blk_rw_pattern");
    g_assert_cmpuint(rw->len, ==, 1);
    g_assert_cmpuint(passed_on(r, 0), >=, 10);
    g_assert_nonnull(strstr(r->err, "vhost-user-blk vda: vhost-user back end"));
    qsd_free(&q);
}

static void test_guest_kit(void)
{
    guest_kit("test=blk", false);
}

/* The driver leaves MSI-X off: the back end's call eventfd has no irqfd,
 * the vhost layer relays it to INTx and the ISR byte (blk_intx). */
static void test_guest_kit_intx(void)
{
    guest_kit("test=blk msix=0", true);
}

/* The guest kit's pattern (tests/guest/test_blk.c: mix64, pat_fill,
 * test_blk_persist), recomputed on the host. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static gboolean stop_when_persisted(const char *line, GPid pid, void *opaque)
{
    if (strstr(line, "\"event\":\"persisted\""))
        kill(pid, SIGKILL);
    return TRUE;
}

static void test_data_in_image(void)
{
    const uint64_t seed = 4242;
    g_autofree char *dir = harness_tmpdir();
    Qsd q = { 0 };
    qsd_start(&q, dir);
    g_autofree char *disk = vu_disk(q.sock, "vda");
    HarnessDomain d = { .cmdline = "test=blk-persist phase=write seed=4242",
                        .extra_devices = disk };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, stop_when_persisted, NULL);
    qsd_stop(&q);
    g_autoptr(GPtrArray) wr = harness_find(r, "check", "blk_persist_write");
    if (wr->len != 1)
        show(r);
    g_assert_cmpuint(wr->len, ==, 1);
    json_object *ok;
    g_assert_true(json_object_object_get_ex(wr->pdata[0], "ok", &ok));
    g_assert_true(json_object_get_boolean(ok));

    /* Read the image on the host: every sector the guest wrote holds the
     * guest's pattern. */
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;
    g_assert_true(g_file_get_contents(q.img, &data, &len, &err));
    g_assert_cmpuint(len, ==, (gsize)IMG_MIB << 20);
    uint64_t capacity = len / 512, span = capacity / 32;
    unsigned checked = 0, bad = 0;
    for (unsigned i = 0; i < 32; i++) {
        uint64_t s = i * span + mix64(seed + i) % (span - 8 + 1);
        for (uint64_t k = 0; k < 8; k++)
            for (uint64_t w = 0; w < 64; w++) {
                uint64_t want = mix64(seed ^ ((s + k) << 6) ^ w), got;
                memcpy(&got, data + (s + k) * 512 + 8 * w, 8);
                bad += got != want;
                checked++;
            }
    }
    g_test_message("%u words checked, %u differ", checked, bad);
    g_assert_cmpuint(checked, ==, 32 * 8 * 64);
    g_assert_cmpuint(bad, ==, 0);
    qsd_free(&q);
}

/* One line on stderr naming the disk and the socket; exit 1; no VM. */
static void expect_start_error(const char *sock, const char *why)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *disk = vu_disk(sock, "vdb");
    HarnessDomain d = { .cmdline = "test=blk", .extra_devices = disk };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, 30, NULL, NULL);
    harness_assert_clean_stderr(r);
    g_autofree char *want = g_strdup_printf("vhost-user-blk vdb: vhost-user back end %s: "
                                            "cannot connect: %s", sock, why);
    if (r->exit_status != 1 || !strstr(r->err, want))
        show(r);
    g_assert_cmpint(r->exit_status, ==, 1);
    g_assert_nonnull(strstr(r->err, want));
    g_autofree char *tail = g_strstrip(g_strdup(strstr(r->err, want)));
    g_assert_null(strchr(tail, '\n'));        /* one line, the last */
    g_assert_null(strstr(r->out, "guestkit:"));   /* the guest never ran */
}

static void test_no_socket(void)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *sock = g_build_filename(dir, "missing.sock", NULL);
    expect_start_error(sock, "No such file or directory (is the back end running?)");
}

static void test_refused(void)
{
    /* A socket file nobody listens on any more. */
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *sock = g_build_filename(dir, "dead.sock", NULL);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    close(fd);
    expect_start_error(sock, "Connection refused (is the back end running?)");
}

typedef struct {
    Qsd *q;
    const char *at;              /* kill the back end on the first line with this */
} KillAt;

static gboolean kill_backend(const char *line, GPid pid, void *opaque)
{
    KillAt *k = opaque;
    if (k->q->pid > 0 && strstr(line, k->at)) {
        kill(k->q->pid, SIGKILL);
        waitpid(k->q->pid, NULL, 0);
        k->q->pid = 0;
    }
    return TRUE;
}

/* The back end dies while the VM runs: the worker logs one line naming
 * the disk and the socket, the disk is in NEEDS_RESET, the VM's other
 * disk (built in) passes the guest kit's tests, the VM powers off.
 * `at`: the line to kill it on. (The mid-I/O variant hung the guest kit
 * about one run in six until the guest kit's sleep re-armed its timer
 * after it had fired; 30 runs in a row pass since.) */
static void backend_killed(const char *at, const char *cmdline)
{
    g_autofree char *dir = harness_tmpdir();
    Qsd q = { 0 };
    qsd_start(&q, dir);
    g_autofree char *img = harness_make_image(dir, "vdb.img", 16);
    g_autofree char *d1 = vu_disk(q.sock, "vda");
    g_autofree char *d2 = file_disk(img, "vdb");
    g_autofree char *devs = g_strconcat(d1, d2, NULL);
    HarnessDomain d = { .cmdline = cmdline, .extra_devices = devs };
    g_autofree char *xml = harness_write_domain(dir, &d);
    KillAt k = { &q, at };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, kill_backend, &k);
    g_autofree char *sock = g_strdup(q.sock);
    gboolean killed = q.pid == 0;
    qsd_free(&q);
    harness_assert_clean_stderr(r);
    g_autofree char *want = g_strdup_printf("vhost-user-blk vda: back end failed, it needs a "
                                            "reset: disk vda: the vhost-user back end on %s "
                                            "closed the connection", sock);
    if (r->exit_status != 0 || !strstr(r->err, want))
        show(r);
    g_assert_true(killed);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_assert_nonnull(strstr(r->err, want));
    g_assert_null(strstr(strstr(r->err, want) + strlen(want), "closed the connection"));
    /* The other disk, tested after the kill, works. */
    g_assert_cmpuint(passed_on(r, 1), >=, 10);
    g_autoptr(GPtrArray) init = harness_find(r, "check", "blk_init");
    for (guint i = 0; i < init->len; i++) {
        json_object *disk, *ok;
        if (json_object_object_get_ex(init->pdata[i], "disk", &disk) &&
            json_object_get_int(disk) == 1) {
            g_assert_true(json_object_object_get_ex(init->pdata[i], "ok", &ok));
            g_assert_true(json_object_get_boolean(ok));
        }
    }
}

static void test_backend_killed_idle(void)
{
    backend_killed("\"event\":\"start\"", "test=blk disk=1");
}

static void test_backend_killed_mid_io(void)
{
    backend_killed("\"check\":\"blk_init\"", "test=blk");
}

/* Killed, then a new back end on the same socket and image: */
static gboolean restart_backend(const char *line, GPid pid, void *opaque)
{
    KillAt *k = opaque;
    if (k->q->pid > 0 && !k->q->restarted && strstr(line, k->at)) {
        qsd_restart(k->q);
        k->q->restarted = true;
    }
    return TRUE;
}

/* <reconnect enabled='yes'>: the back end is killed in the middle of the
 * guest's I/O and a new one started on the same socket and image; the
 * worker reconnects, hands it the rings where the guest's used index
 * stands, and the guest's tests all pass (requests in flight are done
 * again by the new back end; the guest waits long enough). */
static void test_reconnect(void)
{
    g_autofree char *dir = harness_tmpdir();
    Qsd q = { 0 };
    qsd_start(&q, dir);
    g_autofree char *disk = vu_disk_rc(q.sock, "vda", 1);
    HarnessDomain d = { .cmdline = "test=blk timeout_ms=60000", .extra_devices = disk };
    g_autofree char *xml = harness_write_domain(dir, &d);
    KillAt k = { &q, "\"check\":\"blk_init\"" };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, restart_backend, &k);
    bool restarted = q.restarted;
    qsd_free(&q);
    harness_assert_clean_stderr(r);
    if (r->exit_status != 0 || harness_done_count(r, "failed") != 0 || !restarted)
        show(r);
    g_assert_true(restarted);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_assert_cmpint(harness_done_count(r, "failed"), ==, 0);
    g_assert_cmpuint(passed_on(r, 0), >=, 10);
    g_assert_nonnull(strstr(r->err, "vhost-user-blk vda: the back end hung up; reconnecting "
                                    "every 1 s"));
    g_assert_nonnull(strstr(r->err, "vhost-user-blk vda: reconnected to the back end"));
    g_assert_null(strstr(r->err, "needs a reset"));
}

/* Grow the image once the guest waits for it (QMP block_resize, which
 * grows the file and makes qemu-storage-daemon send CONFIG_CHANGE_MSG on
 * the back-end channel). */
typedef struct {
    Qsd *q;
    char *reply;
} Resize;

static gboolean resize_on_wait(const char *line, GPid pid, void *opaque)
{
    Resize *z = opaque;
    if (!z->reply && strstr(line, "\"event\":\"resize_wait\"")) {
        g_autofree char *cmd = g_strdup_printf("{\"execute\":\"block_resize\",\"arguments\":"
                                               "{\"node-name\":\"f0\",\"size\":%llu}}",
                                               (unsigned long long)RESIZE_MIB << 20);
        z->reply = qmp_command(z->q->qmp, cmd);
    }
    return TRUE;
}

/* The back end grows the disk while the guest runs: the worker serves
 * qemu-storage-daemon's config-change request on the back-end channel,
 * reads the config again and raises the config interrupt; the guest sees
 * the new capacity and uses the new last sector. */
static void test_resize(void)
{
    g_autofree char *dir = harness_tmpdir();
    Qsd q = { .qmp = g_build_filename(dir, "qmp.sock", NULL) };
    qsd_start(&q, dir);
    g_autofree char *disk = vu_disk(q.sock, "vda");
    HarnessDomain d = { .cmdline = "test=blk-resize", .extra_devices = disk };
    g_autofree char *xml = harness_write_domain(dir, &d);
    Resize z = { &q, NULL };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, resize_on_wait, &z);
    g_autofree char *img = g_strdup(q.img);
    qsd_free(&q);
    harness_assert_clean_stderr(r);
    g_autoptr(GPtrArray) rs = harness_find(r, "check", "blk_resize");
    if (r->exit_status != 0 || rs->len != 1 || harness_done_count(r, "failed") != 0)
        show(r);
    g_assert_nonnull(z.reply);
    g_test_message("block_resize: %s", z.reply);
    g_assert_nonnull(strstr(z.reply, "\"return\""));
    g_free(z.reply);
    GStatBuf st;
    g_assert_cmpint(g_stat(img, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, (gint64)RESIZE_MIB << 20);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_assert_cmpuint(rs->len, ==, 1);
    json_object *o = rs->pdata[0], *val;
    g_assert_true(json_object_object_get_ex(o, "capacity_before", &val));
    g_assert_cmpint(json_object_get_int64(val), ==, (gint64)IMG_MIB << 11);
    g_assert_true(json_object_object_get_ex(o, "capacity_after", &val));
    g_assert_cmpint(json_object_get_int64(val), ==, (gint64)RESIZE_MIB << 11);
    g_assert_true(json_object_object_get_ex(o, "ok", &val));
    g_assert_true(json_object_get_boolean(val));
    g_assert_cmpint(harness_done_count(r, "failed"), ==, 0);
    g_autofree char *want = g_strdup_printf("vhost-user-blk vda: the back end's capacity is "
                                            "now %d sectors", RESIZE_MIB << 11);
    g_assert_nonnull(strstr(r->err, want));
}

/* ---- a scripted back end for the config change --------------------------
 * qemu-storage-daemon 7.2 (Debian 12's) sends no config change after
 * block_resize: nothing arrives on the back-end channel (strace). So that the worker's side runs end to end on such hosts too,
 * this test plays a back end over a real socket: the handshake, config
 * and ring set-up acknowledged, no I/O served; on the guest's
 * "resize_wait" it changes its capacity and sends CONFIG_CHANGE_MSG with
 * NEED_REPLY on the channel the worker gave it, between an unknown
 * request and a malformed header, which must not stop the VM. */

#define PEER_SECTORS_BEFORE 8192ULL
#define PEER_SECTORS_AFTER  12288ULL

typedef struct {
    int listen_fd, chan;         /* chan: the worker's back-end channel */
    GThread *thread;
    guint64 capacity;            /* atomic */
    guint64 ack;                 /* the worker's answer to CONFIG_CHANGE_MSG */
    guint64 unknown_ack;         /* ... to an unknown request */
    bool chan_closed;            /* the worker closed the channel on a bad header */
    gint requests;
} Peer;

static bool peer_read(int fd, void *buf, size_t len, int *keep_fd)
{
    size_t got = 0;
    while (got < len) {
        struct iovec iov = { (char *)buf + got, len - got };
        union { char b[CMSG_SPACE(sizeof(int) * 8)]; struct cmsghdr a; } u;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
                             .msg_controllen = sizeof(u.b) };
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n <= 0)
            return false;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            for (unsigned i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                int f;
                memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                if (keep_fd && *keep_fd < 0)
                    *keep_fd = f;
                else
                    close(f);
            }
        got += n;
    }
    return true;
}

static void peer_reply(int fd, uint32_t req, const void *pl, uint32_t size)
{
    uint8_t buf[12 + 128];
    uint32_t h[3] = { req, 0x5, size };
    memcpy(buf, h, 12);
    memcpy(buf + 12, pl, size);
    g_assert_cmpint(send(fd, buf, 12 + size, MSG_NOSIGNAL), ==, (ssize_t)(12 + size));
}

static gpointer peer_thread(gpointer data)
{
    Peer *p = data;
    int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    for (;;) {
        uint32_t h[3];
        uint8_t pl[4096];
        int chan = -1;
        if (!peer_read(fd, h, sizeof(h), &chan) || h[2] > sizeof(pl) ||
            (h[2] && !peer_read(fd, pl, h[2], NULL)))
            break;
        g_atomic_int_inc(&p->requests);
        uint64_t u = 0;
        switch (h[0]) {
        case 1:    /* GET_FEATURES: VERSION_1 and protocol features */
            u = (1ULL << 32) | (1ULL << 30);
            peer_reply(fd, h[0], &u, 8);
            continue;
        case 15:   /* GET_PROTOCOL_FEATURES: REPLY_ACK, BACKEND_REQ, CONFIG */
            u = (1ULL << 3) | (1ULL << 5) | (1ULL << 9);
            peer_reply(fd, h[0], &u, 8);
            continue;
        case 24: { /* GET_CONFIG: capacity, the rest zero */
            uint8_t cfg[12 + 60] = { 0 };
            memcpy(cfg, pl, 12);
            uint64_t cap = __atomic_load_n(&p->capacity, __ATOMIC_SEQ_CST);
            memcpy(cfg + 12, &cap, 8);
            peer_reply(fd, h[0], cfg, 12 + MIN(h[2] - 12, 60u));
            continue;
        }
        case 11: { /* GET_VRING_BASE */
            uint32_t st[2] = { ((uint32_t *)pl)[0], 0 };
            peer_reply(fd, h[0], st, 8);
            continue;
        }
        case 21:   /* SET_BACKEND_REQ_FD */
            g_assert_cmpint(chan, >=, 0);
            __atomic_store_n(&p->chan, chan, __ATOMIC_SEQ_CST);
            break;
        default:
            if (chan >= 0)
                close(chan);
        }
        if (h[1] & 0x8)
            peer_reply(fd, h[0], &u, 8);   /* REPLY_ACK: success */
    }
    close(fd);
    return NULL;
}

/* A back-end request with NEED_REPLY; the worker's status. */
static uint64_t peer_backend_request(int chan, uint32_t req)
{
    uint32_t h[3] = { req, 0x1 | 0x8 /* NEED_REPLY */, 0 };
    g_assert_cmpint(send(chan, h, sizeof(h), MSG_NOSIGNAL), ==, (ssize_t)sizeof(h));
    uint8_t r[20];
    g_assert_true(peer_read(chan, r, sizeof(r), NULL));
    uint32_t rh[3];
    uint64_t status;
    memcpy(rh, r, 12);
    g_assert_cmpuint(rh[0], ==, req);
    g_assert_cmphex(rh[1], ==, 0x5);
    g_assert_cmpuint(rh[2], ==, 8);
    memcpy(&status, r + 12, 8);
    return status;
}

/* An unknown request (refused), the config change (served), then a
 * header with the reply bit (the worker closes the channel; the guest's
 * test goes on). */
static gboolean peer_resize_on_wait(const char *line, GPid pid, void *opaque)
{
    Peer *p = opaque;
    int chan = __atomic_load_n(&p->chan, __ATOMIC_SEQ_CST);
    if (!strstr(line, "\"event\":\"resize_wait\"") || chan < 0 || p->ack != G_MAXUINT64)
        return TRUE;
    p->unknown_ack = peer_backend_request(chan, 77);
    __atomic_store_n(&p->capacity, PEER_SECTORS_AFTER, __ATOMIC_SEQ_CST);
    p->ack = peer_backend_request(chan, 2 /* CONFIG_CHANGE_MSG */);
    uint32_t bad[3] = { 2, 0x1 | 0x4 /* the reply bit */, 0 };
    g_assert_cmpint(send(chan, bad, sizeof(bad), MSG_NOSIGNAL), ==, (ssize_t)sizeof(bad));
    char c;
    p->chan_closed = read(chan, &c, 1) == 0;
    return TRUE;
}

static void test_resize_scripted(void)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *sock = g_build_filename(dir, "peer.sock", NULL);
    Peer p = { .chan = -1, .capacity = PEER_SECTORS_BEFORE, .ack = G_MAXUINT64 };
    p.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
    g_assert_cmpint(bind(p.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(p.listen_fd, 1), ==, 0);
    p.thread = g_thread_new("peer", peer_thread, &p);
    g_autofree char *disk = vu_disk(sock, "vda");
    HarnessDomain d = { .cmdline = "test=blk-resize resize_io=0", .extra_devices = disk };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, TIMEOUT, peer_resize_on_wait, &p);
    g_thread_join(p.thread);
    close(p.listen_fd);
    if (p.chan >= 0)
        close(p.chan);
    harness_assert_clean_stderr(r);
    g_autoptr(GPtrArray) rs = harness_find(r, "check", "blk_resize");
    if (r->exit_status != 0 || rs->len != 1 || harness_done_count(r, "failed") != 0)
        show(r);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_assert_cmphex(p.ack, ==, 0);             /* acknowledged: served */
    g_assert_cmphex(p.unknown_ack, ==, 1);     /* refused, not fatal */
    g_assert_true(p.chan_closed);
    g_assert_nonnull(strstr(r->err, "back-end request 77 (an unknown request, 0 bytes, 0 file "
                                    "descriptors) is not served; answered with an error"));
    g_assert_nonnull(strstr(r->err, "back-end channel: back-end request 2 has flags 0x5 (want "
                                    "version 1 and no reply bit); closing it"));
    g_assert_cmpuint(rs->len, ==, 1);
    json_object *o = rs->pdata[0], *val;
    g_assert_true(json_object_object_get_ex(o, "capacity_before", &val));
    g_assert_cmpint(json_object_get_int64(val), ==, (gint64)PEER_SECTORS_BEFORE);
    g_assert_true(json_object_object_get_ex(o, "capacity_after", &val));
    g_assert_cmpint(json_object_get_int64(val), ==, (gint64)PEER_SECTORS_AFTER);
    g_assert_true(json_object_object_get_ex(o, "config_irqs", &val));
    g_assert_cmpint(json_object_get_int64(val), >=, 1);
    g_assert_true(json_object_object_get_ex(o, "ok", &val));
    g_assert_true(json_object_get_boolean(val));
    g_assert_cmpint(harness_done_count(r, "failed"), ==, 0);
    g_autofree char *want = g_strdup_printf("vhost-user-blk vda: the back end's capacity is "
                                            "now %llu sectors", PEER_SECTORS_AFTER);
    g_assert_nonnull(strstr(r->err, want));
}

/* qemu-storage-daemon's version as major * 100 + minor, 0 if unknown. */
static unsigned qsd_version(void)
{
    g_autofree char *out = harness_sh_out("qemu-storage-daemon --version");
    unsigned major = 0, minor = 0;
    const char *v = out ? strstr(out, "version ") : NULL;
    if (!v || sscanf(v, "version %u.%u", &major, &minor) != 2)
        return 0;
    return major * 100 + minor;
}

static void skip(gconstpointer why)
{
    g_test_skip(why);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    const char *why = NULL;
    g_autofree char *qsd = g_find_program_in_path("qemu-storage-daemon");
    if (access("/dev/kvm", R_OK | W_OK) != 0)
        why = "/dev/kvm is not accessible on this host";
    else if (!qsd)
        why = "qemu-storage-daemon is not installed (Debian: qemu-system-common)";
    if (why) {
        g_test_add_data_func("/vhost-user-blk/skip", why, skip);
        return g_test_run();
    }
    g_test_add_func("/vhost-user-blk/guest-kit", test_guest_kit);
    g_test_add_func("/vhost-user-blk/guest-kit-intx", test_guest_kit_intx);
    g_test_add_func("/vhost-user-blk/data-in-image", test_data_in_image);
    g_test_add_func("/vhost-user-blk/no-socket", test_no_socket);
    g_test_add_func("/vhost-user-blk/refused", test_refused);
    g_test_add_func("/vhost-user-blk/backend-killed/idle", test_backend_killed_idle);
    g_test_add_func("/vhost-user-blk/backend-killed/mid-io", test_backend_killed_mid_io);
    g_test_add_func("/vhost-user-blk/reconnect", test_reconnect);
    g_test_add_func("/vhost-user-blk/resize/scripted", test_resize_scripted);
    /* 7.2 has no resize callback in its vhost-user-blk export (nothing
     * arrives on the back-end channel); a later release added one. Which
     * one was not checked: 8.2 and later are asked, so that an older one
     * skips rather than fails. */
    if (qsd_version() >= 802)
        g_test_add_func("/vhost-user-blk/resize/qemu-storage-daemon", test_resize);
    else
        g_test_add_data_func("/vhost-user-blk/resize/qemu-storage-daemon",
                             "this qemu-storage-daemon (before QEMU 8.2) may send no "
                             "config change after block_resize (7.2 does not)", skip);
    return g_test_run();
}
