/* Unit tests for src/net/passt.c: the stream framing over a real socket
 * pair, start-up failures, and a DHCP exchange with Debian's real passt. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "net/passt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* --- framing -------------------------------------------------------------- */

static void test_framing(void)
{
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), ==, 0);
    uint8_t a[60], b[1500];
    memset(a, 0xaa, sizeof(a));
    memset(b, 0xbb, sizeof(b));
    struct iovec two[2] = { { a, 20 }, { a + 20, 40 } };
    g_assert_cmpint(vmm_stream_tx(sv[0], two, 2), ==, 0);
    struct iovec one = { b, sizeof(b) };
    g_assert_cmpint(vmm_stream_tx(sv[0], &one, 1), ==, 0);

    static VmmStreamRx rx;
    memset(&rx, 0, sizeof(rx));
    const uint8_t *f;
    size_t len;
    g_assert_cmpint(vmm_stream_rx_fill(&rx, sv[1]), ==, 4 + 60 + 4 + 1500);
    g_assert_cmpint(vmm_stream_rx_next(&rx, &f, &len), ==, 1);
    g_assert_cmpuint(len, ==, 60);
    g_assert_cmpmem(f, len, a, sizeof(a));
    g_assert_cmpint(vmm_stream_rx_next(&rx, &f, &len), ==, 1);
    g_assert_cmpmem(f, len, b, sizeof(b));
    g_assert_cmpint(vmm_stream_rx_next(&rx, &f, &len), ==, 0);

    /* a frame split across reads: nothing until the last byte */
    uint8_t hdr[4] = { 0, 0, 0, 10 }, body[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
    g_assert_cmpint(write(sv[0], hdr, 3), ==, 3);
    g_assert_cmpint(vmm_stream_rx_fill(&rx, sv[1]), ==, 3);
    g_assert_cmpint(vmm_stream_rx_next(&rx, &f, &len), ==, 0);
    g_assert_cmpint(write(sv[0], hdr + 3, 1), ==, 1);
    g_assert_cmpint(write(sv[0], body, 9), ==, 9);
    vmm_stream_rx_fill(&rx, sv[1]);
    g_assert_cmpint(vmm_stream_rx_next(&rx, &f, &len), ==, 0);
    g_assert_cmpint(write(sv[0], body + 9, 1), ==, 1);
    vmm_stream_rx_fill(&rx, sv[1]);
    g_assert_cmpint(vmm_stream_rx_next(&rx, &f, &len), ==, 1);
    g_assert_cmpmem(f, len, body, sizeof(body));

    /* hostile lengths: zero, and one beyond the largest frame */
    uint8_t zero[4] = { 0, 0, 0, 0 };
    g_assert_cmpint(write(sv[0], zero, 4), ==, 4);
    vmm_stream_rx_fill(&rx, sv[1]);
    g_assert_cmpint(vmm_stream_rx_next(&rx, &f, &len), ==, -1);
    memset(&rx, 0, sizeof(rx));
    uint8_t huge[4] = { 0, 1, 0, 0 };   /* 65536 */
    g_assert_cmpint(write(sv[0], huge, 4), ==, 4);
    vmm_stream_rx_fill(&rx, sv[1]);
    g_assert_cmpint(vmm_stream_rx_next(&rx, &f, &len), ==, -1);

    /* and what the sender refuses */
    struct iovec none = { b, 0 };
    g_assert_cmpint(vmm_stream_tx(sv[0], &none, 1), ==, -1);
    g_assert_cmpint(errno, ==, EMSGSIZE);
    close(sv[0]);
    memset(&rx, 0, sizeof(rx));
    g_assert_cmpint(vmm_stream_rx_fill(&rx, sv[1]), ==, 0);   /* end of stream */
    close(sv[1]);
}

/* --- start-up failures ------------------------------------------------------ */

static void test_missing_binary(void)
{
    g_autoptr(GError) err = NULL;
    VmmPasst *p = vmm_passt_start("/nonexistent/passt", "net0", NULL, &err);
    g_assert_null(p);
    g_assert_nonnull(strstr(err->message, "interface net0"));
    g_assert_nonnull(strstr(err->message, "not found"));
}

static void test_exits_at_startup(void)
{
    /* a binary that runs and exits: the error says so, with its status */
    g_autoptr(GError) err = NULL;
    VmmPasst *p = vmm_passt_start("false", "net1", NULL, &err);
    g_assert_null(p);
    g_assert_nonnull(strstr(err->message, "net1"));
    g_assert_nonnull(strstr(err->message, "exited at start-up (status 1)"));
}

/* --- the real passt: DHCP ------------------------------------------------------ */

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

static size_t dhcp_discover(uint8_t *f)
{
    memset(f, 0, 342);
    memset(f, 0xff, 6);
    memcpy(f + 6, mac, 6);
    f[12] = 0x08;
    uint8_t *ip = f + 14, *udp = ip + 20, *bp = udp + 8;
    size_t bplen = 240 + 4, udplen = 8 + bplen, iplen = 20 + udplen;
    ip[0] = 0x45;
    ip[2] = (uint8_t)(iplen >> 8);
    ip[3] = (uint8_t)iplen;
    ip[8] = 64;
    ip[9] = 17;
    memset(ip + 16, 0xff, 4);
    uint32_t s = 0;
    for (int i = 0; i < 20; i += 2)
        s += (uint32_t)ip[i] << 8 | ip[i + 1];
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    ip[10] = (uint8_t)(~s >> 8);
    ip[11] = (uint8_t)~s;
    udp[1] = 68;
    udp[3] = 67;
    udp[4] = (uint8_t)(udplen >> 8);
    udp[5] = (uint8_t)udplen;
    bp[0] = 1;
    bp[1] = 1;
    bp[2] = 6;
    bp[4] = 0x12;
    bp[5] = 0x34;
    bp[10] = 0x80;
    memcpy(bp + 28, mac, 6);
    bp[236] = 0x63;
    bp[237] = 0x82;
    bp[238] = 0x53;
    bp[239] = 0x63;
    bp[240] = 53;
    bp[241] = 1;
    bp[242] = 1;   /* DHCPDISCOVER */
    bp[243] = 255;
    return 14 + iplen;
}

static void test_real_passt_dhcp(void)
{
    g_autofree char *bin = g_find_program_in_path("passt");
    if (!bin) {
        g_test_skip("passt is not installed (Debian package passt)");
        return;
    }
    g_autoptr(GError) err = NULL;
    VmmPasst *p = vmm_passt_start(NULL, "net0", NULL, &err);
    g_assert_no_error(err);
    g_assert_nonnull(p);
    /* its socket's directory is gone once we are connected (a confined
     * worker could not remove it later) */
    g_autofree char *cmdline_path = g_strdup_printf("/proc/%d/cmdline", (int)p->pid);
    g_autofree char *cmdline = NULL;
    gsize clen = 0;
    g_assert_true(g_file_get_contents(cmdline_path, &cmdline, &clen, NULL));
    const char *sock = NULL;
    for (const char *a = cmdline; a < cmdline + clen; a += strlen(a) + 1)
        if (!strcmp(a, "--socket"))
            sock = a + strlen(a) + 1;
    g_assert_nonnull(sock);
    g_autofree char *dir = g_path_get_dirname(sock);
    g_test_message("passt's socket was %s", sock);
    g_assert_true(g_str_has_prefix(dir, g_get_tmp_dir()));
    g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
    g_assert_cmpint(fcntl(p->fd, F_SETFL, O_NONBLOCK), ==, 0);
    uint8_t f[400];
    struct iovec v = { f, dhcp_discover(f) };
    g_assert_cmpint(vmm_stream_tx(p->fd, &v, 1), ==, 0);

    static VmmStreamRx rx;
    memset(&rx, 0, sizeof(rx));
    bool offered = false;
    gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (!offered && g_get_monotonic_time() < end) {
        struct pollfd pfd = { p->fd, POLLIN, 0 };
        poll(&pfd, 1, 200);
        if (vmm_stream_rx_fill(&rx, p->fd) == 0)
            break;
        const uint8_t *fr;
        size_t len;
        int r;
        while ((r = vmm_stream_rx_next(&rx, &fr, &len)) == 1) {
            /* IPv4 UDP 67 -> 68, BOOTREPLY for our xid and MAC */
            if (len < 14 + 20 + 8 + 240 || fr[12] != 0x08 || fr[13] != 0 || fr[23] != 17)
                continue;
            const uint8_t *udp = fr + 14 + (fr[14] & 15) * 4, *bp = udp + 8;
            if (udp[1] == 67 && udp[3] == 68 && bp[0] == 2 && bp[4] == 0x12 && bp[5] == 0x34 &&
                !memcmp(bp + 28, mac, 6) && (bp[16] | bp[17] | bp[18] | bp[19]))
                offered = true;
        }
        g_assert_cmpint(r, !=, -1);
    }
    g_assert_true(offered);

    /* stop: passt exits (--one-off) and is reaped */
    pid_t pid = p->pid;
    vmm_passt_stop(p);
    g_assert_cmpint(kill(pid, 0), ==, -1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_test_add_func("/passt/framing", test_framing);
    g_test_add_func("/passt/missing-binary", test_missing_binary);
    g_test_add_func("/passt/exits-at-startup", test_exits_at_startup);
    g_test_add_func("/passt/real-dhcp", test_real_passt_dhcp);
    return g_test_run();
}
