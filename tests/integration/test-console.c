/* virtio-serial end to end through the real daemon: a domain with a serial
 * port, a virtio console (pty) and a guest-agent-style channel (unix, no
 * path: vmm-worker listens in vmmd's run directory as libvirt does in its
 * channel directory) runs the guest kit's test=console.
 *  - the channel carries bytes both ways through its unix socket;
 *  - `vmmctl console NAME --devname console1` reaches the virtio console
 *    and a line typed there comes back from the guest;
 *  - dumpxml shows the controller and the channel's virtio-serial address
 *    as libvirt writes them; an unknown --devname is refused naming the
 *    ones there are;
 *  - the guest's hostile cases leave the device and the worker running
 *    (the guest finishes with no failed check). */
#include "daemon-harness.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 60000   /* bound on each wait, so a broken device fails, not hangs */

static bool ready(void)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        g_test_skip("/dev/kvm is not usable here");
        return false;
    }
    return true;
}

/* Reads fd until `needle` has arrived (true) or EOF / WAIT_MS (false). */
static bool read_until(int fd, GString *got, const char *needle)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)WAIT_MS * 1000;
    while (!strstr(got->str, needle)) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        struct pollfd p = { fd, POLLIN, 0 };
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        char buf[512];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return false;
        g_string_append_len(got, buf, n);
    }
    return true;
}

static int connect_unix_retry(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    gint64 deadline = g_get_monotonic_time() + (gint64)WAIT_MS * 1000;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fd, >=, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        close(fd);
        if (g_get_monotonic_time() > deadline) {
            g_test_message("cannot connect to %s: %s", path, g_strerror(errno));
            dump_logs();
            g_assert_not_reached();
        }
        g_usleep(50 * 1000);
    }
}

static void test_channel_and_console(void)
{
    if (!ready())
        return;
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "c1", .cmdline = "test=console name=org.qemu.guest_agent.0 timeout=60",
              .extra_devices = "<console type='pty'><target type='virtio'/></console>"
                               "<channel type='unix'><source mode='bind'/>"
                               "<target type='virtio' name='org.qemu.guest_agent.0'/>"
                               "</channel>" };
    g_free(define(s, &v, &d));

    /* dumpxml: libvirt's controller, console target port and address */
    json_object *dx = call_ok(s, "domain-get-xml", name_args("c1"));
    const char *dump = get_str(dx, "xml");
    g_test_message("dumpxml:\n%s", dump);
    g_assert_nonnull(strstr(dump, "<controller type='virtio-serial' index='0'>"));
    g_assert_nonnull(strstr(dump, "<target type='virtio' port='1'/>"));
    g_assert_nonnull(strstr(dump, "<address type='virtio-serial' controller='0' "
                                  "bus='0' port='1'/>"));
    json_object_put(dx);

    domain_op(s, "domain-start", "c1");
    wait_running(s, "c1");
    g_autofree char *serial = serial_path(&v, "c1");
    wait_serial(serial, "\"console_ports\"", 1);

    /* the guest agent channel: bytes both ways through its socket */
    g_autofree char *sock = g_build_filename(v.run, "channel", "c1", "org.qemu.guest_agent.0",
                                             NULL);
    int fd = connect_unix_retry(sock);
    static const char ping[] = "{\"execute\":\"guest-ping\"}\n";
    g_assert_cmpint(write(fd, ping, strlen(ping)), ==, (gssize)strlen(ping));
    g_autoptr(GString) got = g_string_new(NULL);
    bool ok = read_until(fd, got, "\n");
    g_test_message("channel answered: %s", got->str);
    g_assert_true(ok);
    g_assert_cmpstr(got->str, ==, "channel got: {\"execute\":\"guest-ping\"}\n");

    /* unknown devname: refused, naming what there is */
    json_object *a = name_args("c1");
    json_object_object_add(a, "devname", json_object_new_string("channel9"));
    g_autofree char *bad = call_err(s, "domain-console", a, VMM_PROTO_OPERATION_INVALID);
    g_test_message("%s", bad);
    g_assert_nonnull(strstr(bad, "serial0, console1, channel0"));

    /* vmmctl console --devname console1: the virtio console (hvc0) */
    g_autofree char *vmmctl = harness_path("client/vmmctl");
    const char *extra[] = { "VMMD_SOCKET", v.sock, NULL };
    g_auto(GStrv) env = daemon_env(extra);
    char *argv[] = { vmmctl, "console", "c1", "--devname", "console1", NULL };
    GPid pid;
    int in_fd, out_fd;
    g_autoptr(GError) err = NULL;
    g_assert_true(g_spawn_async_with_pipes(NULL, argv, env, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                           NULL, &pid, &in_fd, &out_fd, NULL, &err));
    g_autoptr(GString) cons = g_string_new(NULL);
    ok = read_until(out_fd, cons, "Escape character");
    g_assert_cmpint(write(in_fd, "ping-hvc0\n", 10), ==, 10);
    ok = ok && read_until(out_fd, cons, "hvc0 got: ping-hvc0");
    g_test_message("vmmctl console said: %s", cons->str);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    g_spawn_close_pid(pid);
    close(in_fd);
    close(out_fd);
    g_assert_true(ok);

    /* after the guest's hostile cases: all checks passed, the worker ran
     * until the guest powered off */
    wait_serial(serial, "\"done\"", 1);
    json_object_put(wait_state(s, "c1", "shutoff", NULL));
    g_autofree char *text = read_file(serial);
    g_test_message("guest:\n%s", text);
    g_assert_nonnull(strstr(text, "\"check\":\"console_hostile\",\"ok\":true"));
    g_assert_nonnull(strstr(text, "\"failed\": 0}"));
    /* two messages for ports that do not exist: one line in the worker's log */
    g_autofree char *log_path = g_build_filename(v.run, "c1.log", NULL);
    g_autofree char *log = read_file(log_path);
    g_test_message("worker log:\n%s", log);
    unsigned said = 0;
    for (const char *p = log; (p = strstr(p, "which does not exist")); p++)
        said++;
    g_assert_cmpuint(said, ==, 1);
    close(fd);
    vmmd_stop(&v, SIGTERM);
    vmmd_cleanup(&v);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGABRT, on_abort);
    g_test_add_func("/console/channel-and-console", test_channel_and_console);
    return g_test_run();
}
