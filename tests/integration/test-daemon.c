/* vmmd end to end: a real daemon process in temporary directories, driven
 * over its sockets with the blocking protocol client, running the guest
 * kit in real workers. Definitions, the whole lifecycle, re-attach after
 * SIGKILL, crashes, autostart, the read-only socket, protocol and XML
 * abuse, systemd socket activation and sd_notify. Every wait is bounded. */
#include "config.h"
#include "harness.h"
#include "proto/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../raw-socket.h"

#include "daemon-harness.h"

/* ---- tests -------------------------------------------------------------- */

static void test_definitions(void)
{
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "alpha" };
    g_autofree char *uuid = define(s, &v, &d);

    json_object *l = list(s, false);
    g_assert_cmpuint(json_object_array_length(l), ==, 0);   /* none active */
    json_object_put(l);
    l = list(s, true);
    g_assert_cmpuint(json_object_array_length(l), ==, 1);
    json_object *e = list_find(l, "alpha");
    g_assert_cmpstr(get_str(e, "uuid"), ==, uuid);
    g_assert_cmpstr(get_str(e, "state"), ==, "shutoff");
    g_assert_cmpint(json_object_get_int(get(e, "id")), ==, -1);
    g_assert_false(json_object_get_boolean(get(e, "autostart")));
    g_assert_true(json_object_get_boolean(get(e, "persistent")));
    json_object_put(l);

    json_object *info = domain_info(s, "alpha");
    g_assert_cmpstr(get_str(info, "state"), ==, "shutoff");
    g_assert_cmpint(json_object_get_int64(get(info, "max_memory_kib")), ==, 65536);
    g_assert_cmpint(json_object_get_int64(get(info, "memory_kib")), ==, 65536);
    g_assert_cmpint(json_object_get_int(get(info, "vcpus")), ==, 1);
    g_assert_cmpint(json_object_get_int64(get(info, "cpu_time_ns")), ==, 0);
    json_object_put(info);
    /* By uuid, in upper case too. */
    g_autofree char *upper = g_ascii_strup(uuid, -1);
    info = domain_info(s, upper);
    g_assert_cmpstr(get_str(info, "name"), ==, "alpha");
    json_object_put(info);

    /* The XML comes back canonical, with the uuid; the file on disk holds it. */
    json_object *x = call_ok(s, "domain-get-xml", name_args("alpha"));
    const char *xml = get_str(x, "xml");
    g_assert_nonnull(strstr(xml, uuid));
    g_assert_nonnull(strstr(xml, "<name>alpha</name>"));
    g_autofree char *file = g_build_filename(v.cfg, "domains", "alpha.xml", NULL);
    g_autofree char *ondisk = read_file(file);
    g_assert_cmpstr(ondisk, ==, xml);
    /* Defining the canonical XML again changes nothing. */
    json_object *r = call_ok(s, "domain-define", define_args(xml));
    g_assert_cmpstr(get_str(r, "uuid"), ==, uuid);
    json_object_put(r);
    json_object_put(x);
    g_autofree char *again = read_file(file);
    g_assert_cmpstr(again, ==, ondisk);
    /* Redefining without a uuid keeps the uuid. */
    g_autofree char *uuid2 = define(s, &v, &d);
    g_assert_cmpstr(uuid2, ==, uuid);
    /* No temporary files left behind. */
    g_autofree char *ddir = g_build_filename(v.cfg, "domains", NULL);
    GDir *dir = g_dir_open(ddir, 0, NULL);
    g_assert_cmpstr(g_dir_read_name(dir), ==, "alpha.xml");
    g_assert_null(g_dir_read_name(dir));
    g_dir_close(dir);

    /* Autostart flag file. */
    json_object *a = name_args("alpha");
    json_object_object_add(a, "autostart", json_object_new_boolean(true));
    call_void(s, "domain-set-autostart", a);
    g_autofree char *flag = g_build_filename(v.cfg, "autostart", "alpha", NULL);
    g_assert_true(g_file_test(flag, G_FILE_TEST_IS_REGULAR));
    l = list(s, true);
    g_assert_true(json_object_get_boolean(get(list_find(l, "alpha"), "autostart")));
    json_object_put(l);

    /* Definitions survive a daemon restart. */
    g_assert_cmpint(vmmd_stop(&v, SIGTERM), ==, 0);
    vmm_proto_sync_free(g_steal_pointer(&s));
    vmmd_start(&v);
    s = connect_retry(&v, v.sock, 5000);
    info = domain_info(s, "alpha");
    g_assert_cmpstr(get_str(info, "uuid"), ==, uuid);
    g_assert_true(json_object_get_boolean(get(info, "autostart")));
    json_object_put(info);
    /* (autostart started it; stop it again) */
    domain_op(s, "domain-destroy", "alpha");

    domain_op(s, "domain-undefine", "alpha");
    g_assert_false(g_file_test(file, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(flag, G_FILE_TEST_EXISTS));
    g_free(call_err(s, "domain-info", name_args("alpha"), VMM_PROTO_DOMAIN_NOT_FOUND));
    g_free(call_err(s, "domain-undefine", name_args("alpha"), VMM_PROTO_DOMAIN_NOT_FOUND));
    l = list(s, true);
    g_assert_cmpuint(json_object_array_length(l), ==, 0);
    json_object_put(l);
    vmmd_cleanup(&v);
}

static void test_names(void)
{
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    g_autofree char *long_name = g_strnfill(65, 'n');
    g_autofree char *max_name = g_strnfill(64, 'm');
    const char *bad[] = { "", "a/b", ".hidden", "tab\there", "nl\nx", long_name, "vmmd",
                          "vmmd-ro" };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *esc = g_markup_escape_text(bad[i], -1);
        Dom d = { .name = esc };
        g_autofree char *xml = domain_xml(&v, &d);
        g_autofree char *msg = call_err(s, "domain-define", define_args(xml),
                                        VMM_PROTO_INVALID_ARGUMENT);
        g_assert_true(strstr(msg, "name") || strstr(msg, "reserved"));
    }
    Dom ok = { .name = max_name };
    g_free(define(s, &v, &ok));
    Dom utf = { .name = "d\xc3\xa9j\xc3\xa0-vu_1.2" };
    g_free(define(s, &v, &utf));

    /* The same uuid under another name, another uuid under the same name. */
    Dom a = { .name = "one", .uuid = "11111111-2222-3333-4444-555555555555" };
    g_free(define(s, &v, &a));
    Dom b = { .name = "two", .uuid = "11111111-2222-3333-4444-555555555555" };
    g_autofree char *xb = domain_xml(&v, &b);
    g_autofree char *m1 = call_err(s, "domain-define", define_args(xb), VMM_PROTO_OPERATION_INVALID);
    g_assert_nonnull(strstr(m1, "one"));
    Dom c = { .name = "one", .uuid = "99999999-2222-3333-4444-555555555555" };
    g_autofree char *xc = domain_xml(&v, &c);
    g_free(call_err(s, "domain-define", define_args(xc), VMM_PROTO_OPERATION_INVALID));

    /* serial type='stdio' is for vmm-worker in a terminal only. */
    g_autofree char *kernel = harness_path("tests/guest/guestkit.elf");
    g_autofree char *stdio_xml = g_strdup_printf(
        "<domain type='kvm'><name>stdio</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>"
        "<devices><serial type='stdio'><target port='0'/></serial></devices></domain>", kernel);
    g_autofree char *m2 = call_err(s, "domain-define", define_args(stdio_xml),
                                   VMM_PROTO_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(m2, "stdio"));
    /* Unsupported elements are named. */
    g_autofree char *bogus = g_strdup_printf(
        "<domain type='kvm'><name>bogus</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>"
        "<devices><sound model='ich9'/></devices></domain>", kernel);
    g_autofree char *m3 = call_err(s, "domain-define", define_args(bogus),
                                   VMM_PROTO_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(m3, "sound"));

    json_object *l = list(s, true);
    g_assert_cmpuint(json_object_array_length(l), ==, 3);
    json_object_put(l);
    vmmd_cleanup(&v);
}

static void test_lifecycle(void)
{
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    g_autoptr(VmmProtoSync) ev = connect_retry(&v, v.ro_sock, 5000);   /* a watcher */
    Dom d = { .name = "life" };
    g_autofree char *uuid = define(s, &v, &d);
    g_autofree char *serial = serial_path(&v, "life");

    start_idle(s, &v, "life");
    json_object *e = wait_state(ev, "life", "running", "booted");
    g_assert_cmpstr(get_str(e, "uuid"), ==, uuid);
    json_object_put(e);
    json_object *info = domain_info(s, "life");
    g_assert_cmpstr(get_str(info, "state"), ==, "running");
    g_assert_cmpstr(get_str(info, "reason"), ==, "booted");
    int id = json_object_get_int(get(info, "id"));
    g_assert_cmpint(id, >=, 1);
    json_object_put(info);
    /* Run files. */
    g_autofree char *json = g_strdup_printf("%s/life.json", v.run);
    json_object *st = json_tokener_parse(read_file(json));
    g_assert_nonnull(st);
    g_assert_cmpstr(get_str(st, "state"), ==, "running");
    g_assert_cmpstr(get_str(st, "uuid"), ==, uuid);
    int pid = json_object_get_int(get(st, "pid"));
    g_assert_cmpint(pid, ==, worker_pid_of(&v, "life"));
    g_assert_cmpint(json_object_get_int64(get(st, "pid_start_time")), >, 0);
    /* The worker got a machine description, not XML, and has no XML parser. */
    g_autofree char *cmdline_path = g_strdup_printf("/proc/%d/cmdline", pid);
    g_autofree char *maps_path = g_strdup_printf("/proc/%d/maps", pid);
    gsize cmdline_len;
    g_autofree char *cmdline = NULL, *maps = NULL;
    g_assert_true(g_file_get_contents(cmdline_path, &cmdline, &cmdline_len, NULL));
    g_assert_true(g_file_get_contents(maps_path, &maps, NULL, NULL));
    for (gsize i = 0; i + 1 < cmdline_len; i++)
        cmdline[i] = cmdline[i] ? cmdline[i] : ' ';
    g_test_message("worker: %s", cmdline);
    g_assert_nonnull(strstr(cmdline, " --desc-fd "));
    g_assert_null(strstr(cmdline, "--xml"));
    g_assert_nonnull(strstr(maps, "libc.so"));   /* the maps were read */
    g_assert_null(strstr(maps, "libxml2"));
    g_autofree char *xml_path = g_strdup_printf("%s/life.xml", v.run);
    g_assert_cmpstr(get_str(st, "xml_path"), ==, xml_path);
    g_assert_true(g_file_test(xml_path, G_FILE_TEST_IS_REGULAR));
    json_object_put(st);
    json_object *l = list(s, false);
    g_assert_cmpuint(json_object_array_length(l), ==, 1);
    g_assert_cmpint(json_object_get_int(get(list_find(l, "life"), "id")), ==, id);
    json_object_put(l);

    g_autofree char *m = call_err(s, "domain-start", name_args("life"), VMM_PROTO_OPERATION_INVALID);
    g_assert_nonnull(strstr(m, "already"));
    g_free(call_err(s, "domain-undefine", name_args("life"), VMM_PROTO_OPERATION_INVALID));
    g_free(call_err(s, "domain-resume", name_args("life"), VMM_PROTO_OPERATION_INVALID));
    /* the default virtio balloon: a 64 MiB domain can only be set to 64 MiB */
    g_autofree char *below = call_err(s, "domain-set-memory",
                    json_tokener_parse("{\"name\":\"life\",\"size_kib\":32768}"),
                    VMM_PROTO_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(below, "below vmmd's floor of 65536 KiB"));
    g_autofree char *above = call_err(s, "domain-set-memory",
                    json_tokener_parse("{\"name\":\"life\",\"size_kib\":65537}"),
                    VMM_PROTO_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(above, "cannot set memory higher than max memory"));
    json_object_put(call_ok(s, "domain-set-memory",
                            json_tokener_parse("{\"name\":\"life\",\"size_kib\":65536}")));
    json_object_put(call_ok(s, "domain-set-memory-period",
                            json_tokener_parse("{\"name\":\"life\",\"period\":2}")));
    json_object *bst = call_ok(s, "domain-stats", json_tokener_parse("{\"names\":[\"life\"]}"));
    json_object *bsv = get(json_object_array_get_idx(bst, 0), "stats");
    g_assert_cmpint(json_object_get_int64(get(bsv, "balloon.rss")), >, 0);   /* the worker's */
    g_assert_false(json_object_object_get_ex(bsv, "balloon.target_pages", NULL));
    json_object_put(bst);
    g_free(call_err(s, "domain-console", name_args("life"), VMM_PROTO_OPERATION_INVALID));

    /* Stats under virsh domstats' names. */
    json_object *stats = call_ok(s, "domain-stats", json_tokener_parse("{\"names\":[\"life\"]}"));
    g_assert_cmpuint(json_object_array_length(stats), ==, 1);
    json_object *sv = get(json_object_array_get_idx(stats, 0), "stats");
    g_assert_cmpint(json_object_get_int(get(sv, "state.state")), ==, 1);
    g_assert_cmpint(json_object_get_int(get(sv, "state.reason")), ==, 1);
    g_assert_cmpint(json_object_get_int64(get(sv, "cpu.time")), >, 0);
    g_assert_cmpint(json_object_get_int64(get(sv, "balloon.maximum")), ==, 65536);
    g_assert_cmpint(json_object_get_int(get(sv, "vcpu.current")), ==, 1);
    g_assert_nonnull(get(sv, "vcpu.0.time"));
    g_assert_cmpint(json_object_get_int(get(sv, "block.count")), ==, 0);
    json_object_put(stats);

    /* Suspend / resume. */
    domain_op(s, "domain-suspend", "life");
    json_object_put(wait_state(ev, "life", "paused", "user"));
    g_autofree char *ps = domain_state(s, "life");
    g_assert_cmpstr(ps, ==, "paused");
    g_free(call_err(s, "domain-suspend", name_args("life"), VMM_PROTO_OPERATION_INVALID));
    domain_op(s, "domain-resume", "life");
    json_object_put(wait_state(ev, "life", "running", "unpaused"));

    /* Reboot: same worker, the guest starts again. */
    domain_op(s, "domain-reboot", "life");
    json_object_put(wait_event(ev, "DOMAIN_REBOOT", "life"));
    wait_serial(serial, "\"event\":\"idle\"", 2);
    g_assert_cmpint(worker_pid_of(&v, "life"), ==, pid);
    g_autofree char *rs = domain_state(s, "life");
    g_assert_cmpstr(rs, ==, "running");
    json_object *ri = domain_info(s, "life");
    g_assert_cmpstr(get_str(ri, "reason"), ==, "booted");   /* libvirt: a fresh boot */
    json_object_put(ri);

    /* Shutdown: the ACPI button, the guest powers off. */
    shutdown_and_wait(s, ev, "life");
    info = domain_info(s, "life");
    g_assert_cmpstr(get_str(info, "state"), ==, "shutoff");
    g_assert_cmpstr(get_str(info, "reason"), ==, "shutdown");
    g_assert_cmpint(json_object_get_int(get(info, "id")), ==, -1);
    json_object_put(info);
    g_assert_false(g_file_test(json, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(xml_path, G_FILE_TEST_EXISTS));
    g_assert_cmpuint(count_workers(&v, "life"), ==, 0);
    g_free(call_err(s, "domain-shutdown", name_args("life"), VMM_PROTO_OPERATION_INVALID));
    g_free(call_err(s, "domain-destroy", name_args("life"), VMM_PROTO_OPERATION_INVALID));

    /* Destroy; ids are not reused. */
    start_idle(s, &v, "life");
    info = domain_info(s, "life");
    g_assert_cmpint(json_object_get_int(get(info, "id")), >, id);
    json_object_put(info);
    domain_op(s, "domain-destroy", "life");
    g_autofree char *ds = domain_state(s, "life");
    g_assert_cmpstr(ds, ==, "shutoff");
    json_object_put(wait_state(ev, "life", "shutoff", "destroyed"));

    /* Shutdown with a timeout: a paused guest cannot react, so it is
     * destroyed when the timeout expires. */
    start_idle(s, &v, "life");
    domain_op(s, "domain-suspend", "life");
    json_object *a = name_args("life");
    json_object_object_add(a, "timeout", json_object_new_int(1));
    gint64 t0 = g_get_monotonic_time();
    call_void(s, "domain-shutdown", a);
    json_object_put(wait_state(ev, "life", "shutoff", "destroyed"));
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, G_USEC_PER_SEC - 100000);

    /* A guest that powers off by itself. */
    Dom h = { .name = "hello", .cmdline = "test=hello" };
    g_free(define(s, &v, &h));
    domain_op(s, "domain-start", "hello");
    json_object_put(wait_state(ev, "hello", "shutoff", "shutdown"));
    g_autofree char *hs = domain_state(s, "hello");
    g_assert_cmpstr(hs, ==, "shutoff");

    /* A definition that cannot run: the start fails with the worker's reason. */
    Dom bad = { .name = "badserial", .serial = "/nonexistent-dir/x/serial.log" };
    g_free(define(s, &v, &bad));
    g_autofree char *bm = call_err(s, "domain-start", name_args("badserial"),
                                   VMM_PROTO_OPERATION_INVALID);
    g_assert_nonnull(strstr(bm, "nonexistent-dir"));
    info = domain_info(s, "badserial");
    g_assert_cmpstr(get_str(info, "state"), ==, "shutoff");
    g_assert_cmpstr(get_str(info, "reason"), ==, "failed");
    json_object_put(info);

    /* Redefining a running domain takes effect at the next start. */
    start_idle(s, &v, "life");
    Dom life2 = { .name = "life", .cmdline = "test=idle marker=two" };
    g_free(define(s, &v, &life2));
    json_object *live = call_ok(s, "domain-get-xml", name_args("life"));
    g_assert_null(strstr(get_str(live, "xml"), "marker=two"));
    json_object_put(live);
    json_object *inact = name_args("life");
    json_object_object_add(inact, "inactive", json_object_new_boolean(true));
    live = call_ok(s, "domain-get-xml", inact);
    g_assert_nonnull(strstr(get_str(live, "xml"), "marker=two"));
    json_object_put(live);
    domain_op(s, "domain-destroy", "life");
    domain_op(s, "domain-start", "life");
    wait_serial(serial, "marker=two", 1);
    domain_op(s, "domain-destroy", "life");
    vmmd_cleanup(&v);
}

/* Two starts at once: the second is refused while the first runs. */
static void test_concurrent_start(void)
{
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "race" };
    g_free(define(s, &v, &d));
    g_autoptr(VmmProtoSync) other = connect_retry(&v, v.sock, 5000);
    /* Both requests on the wire before either is answered. */
    int fd = vmm_proto_sync_fd(s);
    const char *req = "{\"execute\":\"domain-start\",\"arguments\":{\"name\":\"race\"},\"id\":\"a\"}\n"
                      "{\"execute\":\"domain-start\",\"arguments\":{\"name\":\"race\"},\"id\":\"b\"}\n";
    g_assert_cmpint(send(fd, req, strlen(req), MSG_NOSIGNAL), ==, (ssize_t)strlen(req));
    g_autofree char *m = call_err(other, "domain-start", name_args("race"), VMM_PROTO_OPERATION_INVALID);
    g_assert_true(strstr(m, "busy") || strstr(m, "already"));
    g_autoptr(GString) buf = g_string_new(NULL);
    int ok = 0, refused = 0;
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    while (ok + refused < 2) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        char *nl = memchr(buf->str, '\n', buf->len);
        if (!nl) {
            struct pollfd p = { .fd = fd, .events = POLLIN };
            g_assert_cmpint(poll(&p, 1, 20000), ==, 1);
            char tmp[4096];
            ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
            g_assert_cmpint(n, >, 0);
            g_string_append_len(buf, tmp, n);
            continue;
        }
        g_autofree char *line = g_strndup(buf->str, nl - buf->str);
        g_string_erase(buf, 0, nl - buf->str + 1);
        json_object *msg = json_tokener_parse(line);
        if (get(msg, "return"))
            ok++;
        else if (get(msg, "error")) {
            g_assert_cmpstr(get_str(get(msg, "error"), "class"), ==, "OperationInvalid");
            refused++;
        }
        json_object_put(msg);
    }
    g_assert_cmpint(ok, ==, 1);
    g_assert_cmpint(refused, ==, 1);
    g_assert_cmpuint(count_workers(&v, "race"), ==, 1);
    vmmd_cleanup(&v);
}

/* SIGKILL the daemon while three VMs run: the next one adopts all three. */
static void test_reattach(void)
{
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    const char *names[] = { "ra", "rb", "rc" };
    int pids[3], ids[3];
    for (int i = 0; i < 3; i++) {
        Dom d = { .name = names[i] };
        g_free(define(s, &v, &d));
        start_idle(s, &v, names[i]);
        pids[i] = worker_pid_of(&v, names[i]);
        json_object *info = domain_info(s, names[i]);
        ids[i] = json_object_get_int(get(info, "id"));
        json_object_put(info);
    }
    domain_op(s, "domain-suspend", "rb");
    vmm_proto_sync_free(g_steal_pointer(&s));
    g_assert_cmpint(vmmd_stop(&v, SIGKILL), !=, 0);
    for (int i = 0; i < 3; i++)
        g_assert_cmpint(kill(pids[i], 0), ==, 0);    /* the VMs survive */

    vmmd_start(&v);
    s = connect_retry(&v, v.sock, 5000);
    json_object *l = list(s, false);
    g_assert_cmpuint(json_object_array_length(l), ==, 3);
    json_object_put(l);
    for (int i = 0; i < 3; i++) {
        json_object *info = domain_info(s, names[i]);
        g_assert_cmpstr(get_str(info, "state"), ==, i == 1 ? "paused" : "running");
        g_assert_cmpint(json_object_get_int(get(info, "id")), ==, ids[i]);
        json_object_put(info);
        g_assert_cmpint(worker_pid_of(&v, names[i]), ==, pids[i]);
        g_autoptr(GArray) w = worker_pids(&v, names[i]);
        g_assert_cmpuint(w->len, ==, 1);                 /* no second worker */
        g_assert_cmpint(g_array_index(w, int, 0), ==, pids[i]);
    }
    /* Still controllable: resume, stats, reboot, shutdown, destroy. */
    domain_op(s, "domain-resume", "rb");
    g_autofree char *st = domain_state(s, "rb");
    g_assert_cmpstr(st, ==, "running");
    json_object_put(call_ok(s, "domain-stats", NULL));
    g_autofree char *sa = serial_path(&v, "ra");
    domain_op(s, "domain-reboot", "ra");
    wait_serial(sa, "\"event\":\"idle\"", 2);
    shutdown_and_wait(s, s, "ra");
    domain_op(s, "domain-destroy", "rb");
    g_autofree char *sb = domain_state(s, "rb");
    g_assert_cmpstr(sb, ==, "shutoff");

    /* An adopted worker that dies without an exit file: crashed. */
    kill(pids[2], SIGKILL);
    json_object *e = wait_state(s, "rc", "crashed", NULL);
    json_object_put(e);
    /* Starting again after all that gives a fresh worker. */
    start_idle(s, &v, "rc");
    g_assert_cmpint(worker_pid_of(&v, "rc"), !=, pids[2]);
    domain_op(s, "domain-destroy", "rc");

    /* A restarted daemon does not start a domain that stopped meanwhile. */
    start_idle(s, &v, "ra");
    int pa = worker_pid_of(&v, "ra");
    vmm_proto_sync_free(g_steal_pointer(&s));
    g_assert_cmpint(vmmd_stop(&v, SIGTERM), ==, 0);     /* exits 0, VMs stay */
    g_assert_cmpint(kill(pa, 0), ==, 0);
    kill(pa, SIGKILL);
    g_usleep(200 * 1000);
    vmmd_start(&v);
    s = connect_retry(&v, v.sock, 5000);
    json_object *info = domain_info(s, "ra");
    g_assert_cmpstr(get_str(info, "state"), ==, "crashed");
    json_object_put(info);
    g_autofree char *left = g_strdup_printf("%s/ra.json", v.run);
    g_assert_false(g_file_test(left, G_FILE_TEST_EXISTS));
    vmmd_cleanup(&v);
}

static void test_worker_crash(void)
{
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "crashy" };
    g_free(define(s, &v, &d));
    start_idle(s, &v, "crashy");
    int pid = worker_pid_of(&v, "crashy");
    g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
    json_object *e = wait_state(s, "crashy", "crashed", "crashed");
    g_assert_nonnull(strstr(get_str(e, "detail"), "SIGKILL"));
    json_object_put(e);
    json_object *info = domain_info(s, "crashy");
    g_assert_cmpstr(get_str(info, "state"), ==, "crashed");
    g_assert_cmpint(json_object_get_int(get(info, "id")), ==, -1);
    json_object_put(info);
    /* It can start again. */
    start_idle(s, &v, "crashy");
    domain_op(s, "domain-destroy", "crashy");
    vmmd_cleanup(&v);
}

/* The sandbox stops a worker that makes a forbidden call
 * (VMM_DEBUG_SECCOMP_TRAP: on SIGUSR2 its main loop opens a file): crashed, with the
 * call named, in the event, the domain's info and its log. */
static void test_seccomp_crash(void)
{
    Vmmd v;
    vmmd_init(&v);
    const char *env[] = { "VMM_DEBUG_SECCOMP_TRAP", "1", NULL };
    vmmd_start_env(&v, env);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "trapped" };
    g_free(define(s, &v, &d));
    start_idle(s, &v, "trapped");
    g_assert_cmpint(kill(worker_pid_of(&v, "trapped"), SIGUSR2), ==, 0);
    const char *line = "seccomp: main loop thread made system call openat (257) of /etc/passwd, which "
                       "vmm-worker's allow-list forbids; the VM is stopped";
    json_object *e = wait_state(s, "trapped", "crashed", "unknown");
    g_assert_cmpstr(get_str(e, "detail"), ==, line);
    json_object_put(e);
    json_object *info = domain_info(s, "trapped");
    g_assert_cmpstr(get_str(info, "state"), ==, "crashed");
    json_object_put(info);
    g_autofree char *logpath = g_strdup_printf("%s/trapped.log", v.run);
    g_autofree char *log = read_file(logpath);
    g_assert_nonnull(strstr(log, line));
    g_unlink(logpath);   /* vmmd_cleanup fails a test on such a line */
    vmmd_cleanup(&v);
}

/* The worker faces the guest, so vmmd takes what a worker sends as hostile
 * (VMM_DEBUG_WORKER_EVENTS: on SIGUSR2 the worker sends the events given):
 * malformed socket requests, a disk name meant to forge a log line, devices
 * it does not have, a flood, an unknown event. Each is a log line, the flood
 * is cut off, and vmmd and the VM keep running. */
static void test_hostile_worker_events(void)
{
    Vmmd v;
    vmmd_init(&v);
    GString *events = g_string_new(
        "VHOST_USER_SOCKET {\"request\": \"x\"}\n"
        "VHOST_USER_SOCKET [1, 2]\n"
        "VHOST_USER_SOCKET this is not JSON\n"
        "VHOST_USER_SOCKET {\"request\": 1, \"device\": \"disk\", \"target\": \"vd\\nforged\"}\n"
        "VHOST_USER_SOCKET {\"request\": 2, \"device\": \"interface\", \"index\": 99}\n"
        "VHOST_USER_SOCKET {\"request\": 3, \"device\": \"interface\", \"index\": -1}\n"
        "NO_SUCH_EVENT {\"x\": 1}\n");
    /* 40 at once: at least 20 of them within one second */
    for (int i = 0; i < 40; i++)
        g_string_append_printf(events, "VHOST_USER_SOCKET {\"request\": %d, \"device\": "
                               "\"interface\", \"index\": 0}\n", 10 + i);
    const char *env[] = { "VMM_DEBUG_WORKER_EVENTS", events->str, NULL };
    vmmd_start_env(&v, env);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "hostile" };
    g_free(define(s, &v, &d));
    start_idle(s, &v, "hostile");
    int pid = worker_pid_of(&v, "hostile");
    g_assert_cmpint(kill(pid, SIGUSR2), ==, 0);
    const char *expect[] = {
        "the worker's request for a vhost-user socket is malformed: no \"request\" number",
        "malformed: expected \"device\": \"disk\" with a \"target\"",
        "has no vhost-user disk vd\\nforged",
        "has no vhost-user interface 99",
        "more than 16 requests for vhost-user sockets in a second; refused",
        "the worker took no socket for",
    };
    g_autofree char *log = NULL;
    for (int tries = 0; tries < 300; tries++) {   /* bounded: 30 s */
        g_free(log);
        log = read_file(v.log);
        bool all = true;
        for (size_t i = 0; i < G_N_ELEMENTS(expect); i++)
            all = all && strstr(log, expect[i]);
        if (all)
            break;
        g_usleep(100 * 1000);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(expect); i++) {
        if (!strstr(log, expect[i]))
            g_test_message("vmmd's log lacks '%s':\n%s", expect[i], log);
        g_assert_nonnull(strstr(log, expect[i]));
    }
    g_assert_null(strstr(log, "\nforged"));           /* no forged line */
    /* vmmd and the VM go on */
    json_object *info = domain_info(s, "hostile");
    g_assert_cmpstr(get_str(info, "state"), ==, "running");
    json_object_put(info);
    g_assert_cmpint(worker_pid_of(&v, "hostile"), ==, pid);
    domain_op(s, "domain-destroy", "hostile");
    g_string_free(events, TRUE);
    vmmd_cleanup(&v);
}

/* vmmd.conf [worker] user= names who runs the guests: a user that does not
 * exist is a clear start error, and nothing keeps running. */
static void test_worker_user(void)
{
    Vmmd v;
    vmmd_init(&v);
    g_assert_cmpint(g_mkdir_with_parents(v.cfg, 0755), ==, 0);
    g_autofree char *conf = g_build_filename(v.cfg, "vmmd.conf", NULL);
    g_assert_true(g_file_set_contents(conf, "[worker]\nuser=vmmd-no-such-user\n", -1, NULL));
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "nouser" };
    g_free(define(s, &v, &d));
    g_autoptr(GError) err = NULL;
    json_object_put(vmm_proto_sync_call(s, "domain-start", name_args("nouser"), &err));
    g_assert_nonnull(err);
    g_test_message("domain-start: %s", err->message);
    g_assert_nonnull(strstr(err->message, "the worker's user 'vmmd-no-such-user' does not exist"));
    g_assert_cmpuint(count_workers(&v, "nouser"), ==, 0);
    g_autofree char *st = domain_state(s, "nouser");
    g_assert_cmpstr(st, ==, "shutoff");
    vmm_proto_sync_free(g_steal_pointer(&s));
    vmmd_stop(&v, SIGTERM);
    /* sandbox=false (debugging): the worker runs unconfined, so the user
     * is not looked at */
    g_assert_true(g_file_set_contents(conf, "[worker]\nuser=vmmd-no-such-user\nsandbox=false\n",
                                      -1, NULL));
    vmmd_start(&v);
    s = connect_retry(&v, v.sock, 5000);
    start_idle(s, &v, "nouser");
    g_autofree char *status_path = g_strdup_printf("/proc/%d/status", worker_pid_of(&v, "nouser"));
    g_autofree char *status = read_file(status_path);
    g_assert_nonnull(strstr(status, "\nSeccomp:\t0\n"));
    domain_op(s, "domain-destroy", "nouser");
    vmm_proto_sync_free(g_steal_pointer(&s));
    vmmd_stop(&v, SIGTERM);
    /* a key vmmd does not know stops the daemon, naming file and key */
    g_assert_true(g_file_set_contents(conf, "[worker]\nusr=vmmd\n", -1, NULL));
    g_autofree char *out = NULL;
    g_autofree char *cmd = g_strdup_printf("%s/daemon/vmmd --config-dir %s --run-dir %s 2>&1",
                                           harness_builddir(), v.cfg, v.run);
    out = harness_sh_out(cmd);
    g_test_message("%s", out);
    g_assert_nonnull(strstr(out, "vmmd.conf: unknown key 'usr' in [worker]"));
    vmmd_cleanup(&v);
}

static void test_autostart(void)
{
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom a = { .name = "auto" }, m = { .name = "manual" };
    g_free(define(s, &v, &a));
    g_free(define(s, &v, &m));
    json_object *args = name_args("auto");
    json_object_object_add(args, "autostart", json_object_new_boolean(true));
    call_void(s, "domain-set-autostart", args);
    vmm_proto_sync_free(g_steal_pointer(&s));
    g_assert_cmpint(vmmd_stop(&v, SIGTERM), ==, 0);

    vmmd_start(&v);
    s = connect_retry(&v, v.sock, 5000);
    g_autofree char *serial = serial_path(&v, "auto");
    wait_serial(serial, "\"event\":\"idle\"", 1);
    wait_running(s, "auto");
    g_autofree char *sm = domain_state(s, "manual");
    g_assert_cmpstr(sm, ==, "shutoff");
    int pid = worker_pid_of(&v, "auto");

    /* Restarting again: it is running, so it is adopted, not started twice. */
    vmm_proto_sync_free(g_steal_pointer(&s));
    g_assert_cmpint(vmmd_stop(&v, SIGTERM), ==, 0);
    vmmd_start(&v);
    s = connect_retry(&v, v.sock, 5000);
    g_autofree char *st2 = domain_state(s, "auto");
    g_assert_cmpstr(st2, ==, "running");
    g_assert_cmpint(worker_pid_of(&v, "auto"), ==, pid);
    g_assert_cmpuint(count_workers(&v, "auto"), ==, 1);
    domain_op(s, "domain-destroy", "auto");
    vmmd_cleanup(&v);
}

static void test_read_only(void)
{
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    struct stat st;
    g_assert_cmpint(stat(v.sock, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0660);
    g_assert_cmpint(stat(v.ro_sock, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0666);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "ro" };
    g_free(define(s, &v, &d));
    g_autoptr(VmmProtoSync) ro = connect_retry(&v, v.ro_sock, 5000);
    g_assert_true(json_object_get_boolean(get(get(vmm_proto_sync_greeting(ro), "vmmd"), "read_only")));
    g_assert_false(json_object_get_boolean(get(get(vmm_proto_sync_greeting(s), "vmmd"), "read_only")));
    const char *denied[] = { "domain-start", "domain-destroy", "domain-shutdown", "domain-undefine",
                             "domain-suspend", "domain-console" };
    for (unsigned i = 0; i < G_N_ELEMENTS(denied); i++)
        g_free(call_err(ro, denied[i], name_args("ro"), VMM_PROTO_PERMISSION_DENIED));
    g_free(call_err(ro, "domain-define", define_args("<domain/>"), VMM_PROTO_PERMISSION_DENIED));
    json_object *l = list(ro, true);
    g_assert_cmpuint(json_object_array_length(l), ==, 1);
    json_object_put(l);
    json_object_put(call_ok(ro, "domain-info", name_args("ro")));
    json_object_put(call_ok(ro, "domain-get-xml", name_args("ro")));
    json_object_put(call_ok(ro, "domain-stats", NULL));
    json_object *ver = call_ok(ro, "query-version", NULL);
    g_assert_cmpstr(get_str(ver, "package"), ==, "vmmd " PACKAGE_VERSION);
    json_object_put(ver);
    json_object *cmds = call_ok(s, "query-commands", NULL);
    bool has_start = false;
    for (size_t i = 0; i < json_object_array_length(cmds); i++)
        has_start |= !g_strcmp0(get_str(json_object_array_get_idx(cmds, i), "name"), "domain-start");
    g_assert_true(has_start);
    json_object_put(cmds);
    vmmd_cleanup(&v);
}

/* Raw socket (tests/raw-socket.h): one line out, one message back. */

static const char *raw_error_class(int fd, GString *buf, const char *send_line)
{
    static char cls[64];
    if (send_line)
        g_assert_cmpint(send(fd, send_line, strlen(send_line), MSG_NOSIGNAL), ==,
                        (ssize_t)strlen(send_line));
    g_autofree char *line = raw_line(fd, buf);
    g_assert_nonnull(line);
    json_object *o = json_tokener_parse(line);
    g_assert_nonnull(o);
    g_strlcpy(cls, get(o, "error") ? get_str(get(o, "error"), "class") : "none", sizeof(cls));
    json_object_put(o);
    return cls;
}

/* Writes `total` bytes of junk without a newline while reading; returns
 * what came back before the server closed. */
static char *flood(int fd, gsize total)
{
    GString *in = g_string_new(NULL);
    char *chunk = g_malloc(65536);
    memset(chunk, 'A', 65536);
    gsize sent = 0;
    bool sending = true, eof = false;
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (!eof) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        struct pollfd p = { .fd = fd, .events = POLLIN | (sending ? POLLOUT : 0) };
        g_assert_cmpint(poll(&p, 1, 20000), ==, 1);
        if (p.revents & POLLIN) {
            char tmp[4096];
            ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
            if (n <= 0)
                eof = true;
            else
                g_string_append_len(in, tmp, n);
        } else if (p.revents & POLLOUT) {
            ssize_t n = send(fd, chunk, MIN(65536, total - sent), MSG_NOSIGNAL | MSG_DONTWAIT);
            if ((n < 0 && errno != EAGAIN) || (n > 0 && (sent += n) == total))
                sending = false;
        } else {
            sending = false;
        }
    }
    g_free(chunk);
    g_assert_cmpuint(sent, <, total);
    return g_string_free(in, FALSE);
}

static void test_protocol_abuse(void)
{
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d1 = { .name = "keep1" }, d2 = { .name = "keep2" };
    g_free(define(s, &v, &d1));
    g_free(define(s, &v, &d2));
    g_autofree char *f1 = g_build_filename(v.cfg, "domains", "keep1.xml", NULL);
    g_autofree char *f2 = g_build_filename(v.cfg, "domains", "keep2.xml", NULL);
    g_autofree char *before1 = read_file(f1);
    g_autofree char *before2 = read_file(f2);

    /* Garbage and non-objects on one connection, which stays usable. */
    int fd = raw_connect(v.sock);
    g_autoptr(GString) buf = g_string_new(NULL);
    g_free(raw_line(fd, buf));
    const char *bad[] = { "garbage\n", "\x01\x02\xff\xfe\n", "[1,2,3]\n", "\"string\"\n", "42\n",
                          "null\n", "{\"execute\":\n", "{\"execute\":[]}\n", "{}\n",
                          "{\"execute\":\"domain-list\",\"arguments\":[]}\n" };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++)
        g_assert_cmpstr(raw_error_class(fd, buf, bad[i]), ==, "InvalidArgument");
    g_assert_cmpstr(raw_error_class(fd, buf, "{\"execute\":\"no-such-thing\"}\n"), ==,
                    "CommandNotFound");
    g_assert_cmpstr(raw_error_class(fd, buf, "{\"execute\":\"domain-list\",\"id\":1}\n"), ==, "none");
    close(fd);

    /* Wrong argument types and members. */
    const char *const wrong[][2] = {
        { "domain-start", "{\"name\": 5}" },
        { "domain-start", "{}" },
        { "domain-start", "{\"name\": \"keep1\", \"extra\": 1}" },
        { "domain-list", "{\"all\": \"yes\"}" },
        { "domain-info", "{\"name\": null}" },
        { "domain-shutdown", "{\"name\": \"keep1\", \"timeout\": \"10\"}" },
        { "domain-shutdown", "{\"name\": \"keep1\", \"timeout\": -1}" },
        { "domain-define", "{\"xml\": 1}" },
        { "domain-define", "{}" },
        { "domain-set-autostart", "{\"name\": \"keep1\"}" },
        { "domain-set-autostart", "{\"name\": \"keep1\", \"autostart\": 1}" },
        { "domain-set-memory", "{\"name\": \"keep1\", \"size_kib\": 1.5}" },
        { "domain-stats", "{\"names\": \"keep1\"}" },
        { "domain-stats", "{\"names\": [1]}" },
        { "domain-get-xml", "{\"name\": [\"keep1\"]}" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(wrong); i++)
        g_free(call_err(s, wrong[i][0], json_tokener_parse(wrong[i][1]),
                        VMM_PROTO_INVALID_ARGUMENT));
    g_free(call_err(s, "domain-start", name_args("nope"), VMM_PROTO_DOMAIN_NOT_FOUND));
    g_free(call_err(s, "domain-stats", json_tokener_parse("{\"names\":[\"nope\"]}"),
                    VMM_PROTO_DOMAIN_NOT_FOUND));

    /* A 10 MB line: an error, then the connection is closed. */
    fd = raw_connect(v.sock);
    g_string_truncate(buf, 0);
    g_free(raw_line(fd, buf));
    g_autofree char *reply = flood(fd, 10 * 1024 * 1024);
    g_assert_nonnull(strstr(reply, "InvalidArgument"));
    close(fd);

    /* Half-closed: the replies come, then the server closes. */
    fd = raw_connect(v.sock);
    g_string_truncate(buf, 0);
    g_free(raw_line(fd, buf));
    const char *two = "{\"execute\":\"domain-list\",\"id\":1}\n{\"execute\":\"domain-info\","
                      "\"arguments\":{\"name\":\"keep1\"},\"id\":2}\n";
    g_assert_cmpint(send(fd, two, strlen(two), MSG_NOSIGNAL), ==, (ssize_t)strlen(two));
    shutdown(fd, SHUT_WR);
    for (int i = 1; i <= 2; i++) {
        g_autofree char *line = raw_line(fd, buf);
        json_object *o = json_tokener_parse(line);
        g_assert_cmpint(json_object_get_int(get(o, "id")), ==, i);
        g_assert_nonnull(get(o, "return"));
        json_object_put(o);
    }
    g_assert_null(raw_line(fd, buf));
    close(fd);

    /* Connections dropped mid-line and mid-request. */
    for (int i = 0; i < 20; i++) {
        fd = raw_connect(i % 2 ? v.sock : v.ro_sock);
        send(fd, "{\"execute\":\"domain-li", 21, MSG_NOSIGNAL);
        close(fd);
    }

    /* 200 clients at once, all answered. */
    enum { N = 200 };
    int fds[N];
    GString *bufs[N];
    for (int i = 0; i < N; i++) {
        /* A quarter read-only: within the per-uid limit of that socket. */
        fds[i] = raw_connect(i % 4 ? v.sock : v.ro_sock);
        bufs[i] = g_string_new(NULL);
        g_autofree char *req = g_strdup_printf(
            "{\"execute\":\"domain-list\",\"arguments\":{\"all\":true},\"id\":%d}\n"
            "{\"execute\":\"domain-info\",\"arguments\":{\"name\":\"keep%d\"},\"id\":%d}\n",
            i, 1 + i % 2, i + 1000);
        g_assert_cmpint(send(fds[i], req, strlen(req), MSG_NOSIGNAL), ==, (ssize_t)strlen(req));
    }
    for (int i = 0; i < N; i++) {
        g_free(raw_line(fds[i], bufs[i]));   /* greeting */
        for (int k = 0; k < 2; k++) {
            g_autofree char *line = raw_line(fds[i], bufs[i]);
            g_assert_nonnull(line);
            json_object *o = json_tokener_parse(line);
            g_assert_nonnull(get(o, "return"));
            g_assert_cmpint(json_object_get_int(get(o, "id")), ==, k ? i + 1000 : i);
            json_object_put(o);
        }
        close(fds[i]);
        g_string_free(bufs[i], TRUE);
    }

    /* Still up, definitions intact. */
    g_assert_true(alive(v.pid));
    json_object *l = list(s, true);
    g_assert_cmpuint(json_object_array_length(l), ==, 2);
    json_object_put(l);
    g_autofree char *after1 = read_file(f1);
    g_autofree char *after2 = read_file(f2);
    g_assert_cmpstr(after1, ==, before1);
    g_assert_cmpstr(after2, ==, before2);
    vmmd_cleanup(&v);
}

static void test_malicious_xml(void)
{
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    g_autofree char *kernel = harness_path("tests/guest/guestkit.elf");
    g_autofree char *tail = g_strdup_printf(
        "<memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type>"
        "<kernel>%s</kernel></os></domain>", kernel);
    g_autofree char *xxe = g_strdup_printf(
        "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>"
        "<domain type='kvm'><name>&xxe;</name>%s", tail);
    g_autofree char *m1 = call_err(s, "domain-define", define_args(xxe), VMM_PROTO_INVALID_ARGUMENT);
    g_assert_null(strstr(m1, "root:"));
    g_autofree char *laughs = g_strdup_printf(
        "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
        "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>"
        "<!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>"
        "<!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>"
        "<!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>"
        "<!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>"
        "<!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>"
        "<!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>]>"
        "<domain type='kvm'><name>lol</name><description>&lol9;</description>%s", tail);
    g_free(call_err(s, "domain-define", define_args(laughs), VMM_PROTO_INVALID_ARGUMENT));

    /* 100000 levels of nesting (700 KB: inside the message limit). */
    GString *deep = g_string_new("<domain type='kvm'><name>deep</name><description>");
    for (int i = 0; i < 100000; i++)
        g_string_append(deep, "<a>");
    for (int i = 0; i < 100000; i++)
        g_string_append(deep, "</a>");
    g_string_append(deep, "</description>");
    g_string_append(deep, tail);
    g_free(call_err(s, "domain-define", define_args(deep->str), VMM_PROTO_INVALID_ARGUMENT));
    g_string_free(deep, TRUE);

    /* 10 MB of XML: over the message limit, refused before any parsing. */
    GString *big = g_string_new("<domain type='kvm'><name>big</name>");
    g_string_append(big, tail);
    while (big->len < 10 * 1000 * 1000)
        g_string_append(big, "<!-- padding padding padding padding padding padding -->");
    /* The blocking client refuses to send more than the limit itself; send
     * it raw, as a hostile client would. */
    int fd = raw_connect(v.sock);
    json_object *req = json_object_new_object();
    json_object_object_add(req, "execute", json_object_new_string("domain-define"));
    json_object_object_add(req, "arguments", define_args(big->str));
    const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    g_autoptr(GString) b = g_string_new(NULL);
    g_free(raw_line(fd, b));
    gsize off = 0, len = strlen(text);
    bool closed = false;
    while (off < len && !closed) {
        struct pollfd p = { .fd = fd, .events = POLLOUT | POLLIN };
        g_assert_cmpint(poll(&p, 1, 20000), ==, 1);
        if (p.revents & POLLIN) {
            char tmp[4096];
            ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
            if (n > 0)
                g_string_append_len(b, tmp, n);
            closed = n <= 0;
            continue;
        }
        ssize_t n = send(fd, text + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN)
            break;
        if (n > 0)
            off += n;
    }
    g_assert_cmpuint(off, <, len);
    json_object_put(req);
    close(fd);
    g_string_free(big, TRUE);
    g_assert_nonnull(strstr(b->str, "InvalidArgument"));

    g_assert_true(alive(v.pid));
    json_object *l = list(s, true);
    g_assert_cmpuint(json_object_array_length(l), ==, 0);
    json_object_put(l);
    vmmd_cleanup(&v);
}

/* systemd-socket-activate passes the listening sockets, named. */
static void test_socket_activation(void)
{
    g_autofree char *ssa = g_find_program_in_path("systemd-socket-activate");
    if (!ssa) {
        g_test_skip("systemd-socket-activate not installed (Debian package systemd)");
        return;
    }
    Vmmd v;
    vmmd_init(&v);
    g_mkdir_with_parents(v.run, 0755);
    g_autofree char *rw = g_build_filename(v.dir, "act.sock", NULL);
    g_autofree char *ro = g_build_filename(v.dir, "act-ro.sock", NULL);
    g_autofree char *bin = harness_path("daemon/vmmd");
    g_autofree char *worker = harness_path("src/vmm-worker");
    g_autofree char *l1 = g_strdup_printf("--listen=%s", rw);
    g_autofree char *l2 = g_strdup_printf("--listen=%s", ro);
    /* It passes on only the variables named with -E. */
    char *argv[] = { ssa, l1, l2, "--fdname=vmmd.sock:vmmd-ro.sock", "-E", "VMM_SCHEMA_DIR",
                     "-E", "ASAN_OPTIONS", "-E", "UBSAN_OPTIONS", bin, "--config-dir", v.cfg,
                     "--run-dir", v.run, "--worker", worker, NULL };
    v.pid = spawn_logged(&v, argv, NULL);
    /* The first connection makes it exec vmmd (same pid). */
    g_autoptr(VmmProtoSync) s = connect_retry(&v, rw, 10000);
    g_assert_nonnull(get(vmm_proto_sync_greeting(s), "vmmd"));
    Dom d = { .name = "act" };
    g_free(define(s, &v, &d));
    g_autoptr(VmmProtoSync) r = connect_retry(&v, ro, 10000);
    g_assert_true(json_object_get_boolean(get(get(vmm_proto_sync_greeting(r), "vmmd"), "read_only")));
    g_free(call_err(r, "domain-start", name_args("act"), VMM_PROTO_PERMISSION_DENIED));
    json_object *l = list(r, true);
    g_assert_cmpuint(json_object_array_length(l), ==, 1);
    json_object_put(l);
    /* It made no sockets of its own. */
    g_assert_false(g_file_test(v.sock, G_FILE_TEST_EXISTS));
    g_assert_cmpint(vmmd_stop(&v, SIGTERM), ==, 0);
    vmmd_cleanup(&v);
}

/* READY=1, then WATCHDOG=1 every half interval, STOPPING=1 on SIGTERM. */
static void test_notify(void)
{
    Vmmd v;
    vmmd_init(&v);
    g_autofree char *path = g_build_filename(v.dir, "notify.sock", NULL);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    const char *env[] = { "NOTIFY_SOCKET", path, "WATCHDOG_USEC", "400000", NULL };
    gint64 t0 = g_get_monotonic_time();
    vmmd_start_env(&v, env);
    int ready = 0, watchdog = 0, stopping = 0;
    gint64 first_wd = 0, last_wd = 0;
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    bool sent_term = false;
    while (!stopping) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 200) != 1)
            continue;
        char msg[4096];
        ssize_t n = recv(fd, msg, sizeof(msg) - 1, 0);
        g_assert_cmpint(n, >, 0);
        msg[n] = 0;
        g_auto(GStrv) lines = g_strsplit(msg, "\n", -1);
        for (int i = 0; lines[i]; i++) {
            if (!strcmp(lines[i], "READY=1"))
                ready++;
            else if (!strcmp(lines[i], "WATCHDOG=1")) {
                watchdog++;
                last_wd = g_get_monotonic_time();
                if (!first_wd)
                    first_wd = last_wd;
            } else if (!strcmp(lines[i], "STOPPING=1"))
                stopping++;
        }
        if (ready && watchdog >= 4 && !sent_term) {
            kill(v.pid, SIGTERM);
            sent_term = true;
        }
    }
    g_assert_cmpint(ready, ==, 1);
    g_assert_cmpint(watchdog, >=, 4);
    /* Every 200 ms: 3 more after the first take about 600 ms. */
    g_assert_cmpint(last_wd - t0, <, 5 * G_USEC_PER_SEC);
    g_assert_cmpint(wait_exit(v.pid, 10000), ==, 0);
    v.pid = 0;
    close(fd);
    vmmd_cleanup(&v);
}

/* A second daemon on the same run directory refuses to start. */
static void test_single_instance(void)
{
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autofree char *bin = harness_path("daemon/vmmd");
    g_autofree char *other = g_build_filename(v.dir, "other.sock", NULL);
    g_autofree char *other_ro = g_build_filename(v.dir, "other-ro.sock", NULL);
    char *argv[] = { bin, "--config-dir", v.cfg, "--run-dir", v.run, "--socket", other,
                     "--ro-socket", other_ro, NULL };
    GPid pid = spawn_logged(&v, argv, NULL);
    int st = wait_exit(pid, 10000);
    g_assert_true(WIFEXITED(st));
    g_assert_cmpint(WEXITSTATUS(st), ==, 1);
    g_autofree char *log = read_file(v.log);
    g_assert_nonnull(strstr(log, "another vmmd"));
    g_assert_true(alive(v.pid));
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    json_object_put(list(s, true));
    vmmd_cleanup(&v);
}

/* ---- client limits (issue 7: no lock-out) -------------------------------- */

#define NOBODY 65534

/* In a child running as uid nobody: connects to the read-only socket until
 * one is refused, writes "OK-COUNT\n" then the refusal line to `out`, and
 * holds its connections until `hold` is closed. */
static void child_fill_ro(const char *run, int out, int hold)
{
    /* SO_PEERCRED records who connect()ed; the relative path only needs
     * search permission on the run directory (0755). */
    if (chdir(run) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
        setresuid(NOBODY, NOBODY, NOBODY) < 0)
        _exit(2);
    int n_ok = 0;
    char *refusal = NULL;
    for (int i = 0; i < 200 && !refusal; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        g_strlcpy(sa.sun_path, "vmmd-ro.sock", sizeof(sa.sun_path));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            _exit(3);
        GString *buf = g_string_new(NULL);
        char *line = raw_line(fd, buf);
        g_string_free(buf, TRUE);
        if (line && g_str_has_prefix(line, "{\"vmmd\""))
            n_ok++;
        else
            refusal = line ? line : g_strdup("(closed without a line)");
    }
    g_autofree char *msg = g_strdup_printf("%d\n%s\n", n_ok, refusal ? refusal : "(none)");
    if (write(out, msg, strlen(msg)) < 0)
        _exit(4);
    char c;
    while (read(hold, &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
}

static void test_client_limits(void)
{
    Vmmd v;
    vmmd_init(&v);
    const char *args[] = { "--max-ro-clients-per-uid", "8", "--max-ro-clients", "10",
                           "--idle-timeout", "0", NULL };
    vmmd_start_full(&v, NULL, args);
    int out[2], hold[2];
    /* A socket pair: raw_line() reads with recv(). */
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out), ==, 0);
    g_assert_cmpint(pipe2(hold, O_CLOEXEC), ==, 0);
    pid_t child = fork();
    g_assert_cmpint(child, >=, 0);
    if (child == 0) {
        close(out[0]);
        close(hold[1]);
        child_fill_ro(v.run, out[1], hold[0]);
    }
    close(out[1]);
    close(hold[0]);
    g_autoptr(GString) rbuf = g_string_new(NULL);
    g_autofree char *count = raw_line(out[0], rbuf);
    g_autofree char *refusal = raw_line(out[0], rbuf);
    if (!refusal) {
        int st = 0;
        close(hold[1]);
        waitpid(child, &st, 0);
        g_test_message("the child (uid nobody) exited with status %d", WEXITSTATUS(st));
        g_assert_not_reached();
    }
    g_test_message("nobody got %s greetings, then: %s", count, refusal);
    /* nobody holds exactly its share of the read-only socket, and is told why. */
    g_assert_cmpstr(count, ==, "8");
    g_assert_nonnull(strstr(refusal, "\"error\""));
    g_assert_nonnull(strstr(refusal, "uid 65534"));

    /* Root's read-write client still gets its greeting and is served. */
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmProtoSync) s = vmm_proto_sync_connect(v.sock, CALL_TIMEOUT_MS, &err);
    g_assert_no_error(err);
    json_object_put(call_ok(s, "query-version", NULL));
    /* Another uid on the read-only socket too, up to its total of 10. */
    g_autoptr(VmmProtoSync) ro1 = vmm_proto_sync_connect(v.ro_sock, CALL_TIMEOUT_MS, &err);
    g_assert_no_error(err);
    g_autoptr(VmmProtoSync) ro2 = vmm_proto_sync_connect(v.ro_sock, CALL_TIMEOUT_MS, &err);
    g_assert_no_error(err);
    VmmProtoSync *ro3 = vmm_proto_sync_connect(v.ro_sock, CALL_TIMEOUT_MS, &err);
    g_assert_null(ro3);
    g_assert_error(err, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
    g_assert_nonnull(strstr(err->message, "read-only connections are open"));
    g_clear_error(&err);
    /* The read-write socket is not affected by a full read-only one. */
    g_autoptr(VmmProtoSync) s2 = vmm_proto_sync_connect(v.sock, CALL_TIMEOUT_MS, &err);
    g_assert_no_error(err);
    json_object_put(call_ok(s2, "query-version", NULL));

    close(hold[1]);
    close(out[0]);
    int st;
    g_assert_cmpint(waitpid(child, &st, 0), ==, child);
    g_assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* nobody's slots are given back once its connections are gone. */
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    for (;;) {
        VmmProtoSync *again = vmm_proto_sync_connect(v.ro_sock, CALL_TIMEOUT_MS, &err);
        if (again) {
            vmm_proto_sync_free(again);
            break;
        }
        g_clear_error(&err);
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(50 * 1000);
    }
    g_autofree char *log = read_file(v.log);
    g_assert_nonnull(strstr(log, "refused a client"));
    vmmd_cleanup(&v);
}

/* An idle client is closed after --idle-timeout; one that sends requests
 * and never reads is closed once its unread replies pass --max-unread;
 * everyone else is served meanwhile. */
static void test_client_timeouts(void)
{
    Vmmd v;
    vmmd_init(&v);
    const char *args[] = { "--idle-timeout", "2", "--output-timeout", "0",
                           "--max-unread", "65536", NULL };
    vmmd_start_full(&v, NULL, args);

    int idle = raw_connect(v.sock);
    g_autoptr(GString) ibuf = g_string_new(NULL);
    g_autofree char *greeting = raw_line(idle, ibuf);
    g_assert_nonnull(greeting);
    g_autofree char *end = raw_line(idle, ibuf);   /* waits up to 20 s */
    g_assert_null(end);
    close(idle);

    int greedy = raw_connect(v.sock);
    int rcv = 4096;
    setsockopt(greedy, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    const char *req = "{\"execute\":\"query-commands\"}\n";
    bool closed = false;
    gsize sent = 0;
    /* Its replies (about 1 KB each) pile up: 64 KiB queued plus the socket's
     * buffers are a few hundred; give it far more. */
    for (int i = 0; i < 20000 && !closed; i++) {
        struct pollfd p = { .fd = greedy, .events = POLLOUT };
        g_assert_cmpint(poll(&p, 1, 20000), ==, 1);
        if (send(greedy, req, strlen(req), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
            g_assert_true(errno == EPIPE || errno == ECONNRESET || errno == EAGAIN);
            closed = errno != EAGAIN;
        } else {
            sent++;
        }
    }
    g_test_message("the greedy client sent %" G_GSIZE_FORMAT " requests before being closed",
                   sent);
    g_assert_true(closed);
    close(greedy);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmProtoSync) s = vmm_proto_sync_connect(v.sock, CALL_TIMEOUT_MS, &err);
    g_assert_no_error(err);
    json_object_put(call_ok(s, "query-version", NULL));
    g_autofree char *log = read_file(v.log);
    g_assert_nonnull(strstr(log, "idle: no request for 2 s"));
    g_assert_nonnull(strstr(log, "does not read its replies"));
    g_assert_nonnull(strstr(log, "uid 0"));
    vmmd_cleanup(&v);
}

static guint64 file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (guint64)st.st_size : 0;
}

/* A running domain's log is rotated at --log-max-size into NAME.log.1 ..
 * NAME.log.N and never grows past that. The bytes are appended through an
 * O_APPEND fd, as the worker's stdout and stderr are. */
static void test_log_rotation(void)
{
    Vmmd v;
    vmmd_init(&v);
    const char *args[] = { "--log-max-size", "4096", "--log-max-backups", "2", NULL };
    vmmd_start_full(&v, NULL, args);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "logs" };
    g_free(define(s, &v, &d));
    start_idle(s, &v, "logs");
    g_autofree char *log = g_strdup_printf("%s/logs.log", v.run);
    g_autofree char *b1 = g_strdup_printf("%s.1", log);
    g_autofree char *b2 = g_strdup_printf("%s.2", log);
    g_autofree char *b3 = g_strdup_printf("%s.3", log);
    int fd = open(log, O_WRONLY | O_APPEND | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    char chunk[1024];
    memset(chunk, 'x', sizeof(chunk));
    chunk[sizeof(chunk) - 1] = '\n';
    guint64 written = 0;
    for (int round = 0; round < 6; round++) {
        /* Fill past the limit, then wait for the daemon to rotate. */
        while (file_size(log) < 4096) {
            g_assert_cmpint(write(fd, chunk, sizeof(chunk)), ==, sizeof(chunk));
            written += sizeof(chunk);
        }
        gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
        while (file_size(log) >= 4096) {
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_usleep(50 * 1000);
        }
        guint64 total = file_size(log) + file_size(b1) + file_size(b2);
        g_assert_cmpuint(total, <=, 3 * (4096 + sizeof(chunk)));
        g_assert_false(g_file_test(b3, G_FILE_TEST_EXISTS));
    }
    close(fd);
    g_assert_true(g_file_test(b1, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(b2, G_FILE_TEST_EXISTS));
    g_assert_cmpuint(file_size(b1), >=, 4096);
    g_test_message("wrote %" G_GUINT64_FORMAT " bytes; log %" G_GUINT64_FORMAT ", .1 %"
                   G_GUINT64_FORMAT ", .2 %" G_GUINT64_FORMAT, written, file_size(log),
                   file_size(b1), file_size(b2));
    domain_op(s, "domain-destroy", "logs");
    vmmd_cleanup(&v);
}

/* The same with the worker's own output: VMM_DEBUG_TRACE makes it log its
 * vCPUs every 5 ms through the stderr the daemon gave it. After a
 * truncation its writes land at the start of the file (it appends), not
 * behind a hole of zeros at its old offset. */
static void test_log_rotation_worker(void)
{
    Vmmd v;
    vmmd_init(&v);
    const char *env[] = { "VMM_DEBUG_TRACE", "5", NULL };
    const char *args[] = { "--log-max-size", "4096", "--log-max-backups", "2", NULL };
    vmmd_start_full(&v, env, args);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "wlog" };
    g_free(define(s, &v, &d));
    start_idle(s, &v, "wlog");
    g_autofree char *log = g_strdup_printf("%s/wlog.log", v.run);
    g_autofree char *b2 = g_strdup_printf("%s.2", log);
    g_autofree char *b3 = g_strdup_printf("%s.3", log);
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    while (!g_file_test(b2, G_FILE_TEST_EXISTS)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100 * 1000);
    }
    /* Two rotations more, so .2 has been shifted out at least once. */
    for (int i = 0; i < 2; i++) {
        guint64 before = file_size(b2);
        g_autofree char *old = NULL;
        g_file_get_contents(b2, &old, NULL, NULL);
        for (;;) {
            g_autofree char *now = NULL;
            g_file_get_contents(b2, &now, NULL, NULL);
            if (g_strcmp0(now, old) || file_size(b2) != before)
                break;
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            g_usleep(100 * 1000);
        }
    }
    g_assert_false(g_file_test(b3, G_FILE_TEST_EXISTS));
    for (int i = 0; i < 2; i++) {
        g_autofree char *text = NULL;
        gsize len = 0;
        g_assert_true(g_file_get_contents(i ? b2 : log, &text, &len, NULL));
        g_assert_null(memchr(text, 0, len));
        if (i)
            g_assert_nonnull(strstr(text, "vCPU 0: rip"));
    }
    g_test_message("log %" G_GUINT64_FORMAT ", .2 %" G_GUINT64_FORMAT " bytes", file_size(log),
                   file_size(b2));
    domain_op(s, "domain-destroy", "wlog");
    vmmd_cleanup(&v);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGABRT, on_abort);
    g_autofree char *worker = harness_path("src/vmm-worker");
    g_autofree char *daemon = harness_path("daemon/vmmd");
    g_autofree char *kit = harness_path("tests/guest/guestkit.elf");
    bool have_kvm = access("/dev/kvm", R_OK | W_OK) == 0;
    g_test_add_func("/daemon/definitions", test_definitions);
    g_test_add_func("/daemon/names", test_names);
    g_test_add_func("/daemon/read-only", test_read_only);
    g_test_add_func("/daemon/protocol-abuse", test_protocol_abuse);
    g_test_add_func("/daemon/malicious-xml", test_malicious_xml);
    g_test_add_func("/daemon/single-instance", test_single_instance);
    g_test_add_func("/daemon/socket-activation", test_socket_activation);
    g_test_add_func("/daemon/notify", test_notify);
    g_test_add_func("/daemon/client-limits", test_client_limits);
    g_test_add_func("/daemon/client-timeouts", test_client_timeouts);
    if (have_kvm && g_file_test(kit, G_FILE_TEST_EXISTS)) {
        g_test_add_func("/daemon/lifecycle", test_lifecycle);
        g_test_add_func("/daemon/concurrent-start", test_concurrent_start);
        g_test_add_func("/daemon/reattach", test_reattach);
        g_test_add_func("/daemon/worker-crash", test_worker_crash);
        g_test_add_func("/daemon/seccomp-crash", test_seccomp_crash);
        g_test_add_func("/daemon/hostile-worker-events", test_hostile_worker_events);
        g_test_add_func("/daemon/worker-user", test_worker_user);
        g_test_add_func("/daemon/autostart", test_autostart);
        g_test_add_func("/daemon/log-rotation", test_log_rotation);
        g_test_add_func("/daemon/log-rotation-worker", test_log_rotation_worker);
    } else {
        g_test_message("no /dev/kvm or guest kit: lifecycle tests not run");
    }
    (void)worker;
    (void)daemon;
    return g_test_run();
}
