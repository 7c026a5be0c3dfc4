/* The worker's sandbox (vmmd(8), SANDBOX), seen from outside on a running
 * guest-kit VM: its /proc/PID/status (uid, capabilities, no_new_privs,
 * seccomp), its namespaces and its empty root; the switch that turns it
 * off; a missing user; and a forbidden call stopping the VM with the
 * reason in the log and the exit file. */
#include "config.h"
#include "daemon-harness.h"
#include "harness.h"
#include "util/sandbox.h"

#include <glib/gstdio.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BOOT_TIMEOUT 120

typedef struct {
    bool seen;
    char *status;                 /* /proc/PID/status while the guest idles */
    char *ns[4];                  /* its mnt, ipc, uts, net links */
    int root_entries;             /* in /proc/PID/root, -1: unreadable */
    bool trap;                    /* at the first idle: SIGUSR2, see test_forbidden_call */
} Probe;

static const char *const ns_names[] = { "mnt", "ipc", "uts", "net" };

/* The worker's status, namespaces and root as /proc shows them now. */
static void probe_pid(Probe *p, int pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_file_get_contents(path, &p->status, NULL, NULL);
    for (int i = 0; i < (int)G_N_ELEMENTS(ns_names); i++) {
        g_autofree char *l = g_strdup_printf("/proc/%d/ns/%s", (int)pid, ns_names[i]);
        p->ns[i] = g_file_read_link(l, NULL);
    }
    g_autofree char *root = g_strdup_printf("/proc/%d/root", (int)pid);
    GDir *d = g_dir_open(root, 0, NULL);
    p->root_entries = d ? 0 : -1;
    while (d && g_dir_read_name(d))
        p->root_entries++;
    if (d)
        g_dir_close(d);
}

static gboolean probe_when_idle(const char *line, GPid pid, void *opaque)
{
    Probe *p = opaque;
    if (p->seen || !strstr(line, "guestkit: ") || !strstr(line, "\"event\":\"idle\""))
        return TRUE;
    p->seen = true;
    if (p->trap) {
        kill(pid, SIGUSR2);
        return TRUE;
    }
    probe_pid(p, (int)pid);
    kill(pid, SIGTERM);   /* the ACPI power button: a clean poweroff */
    return TRUE;
}

static void probe_clear(Probe *p)
{
    g_free(p->status);
    for (int i = 0; i < (int)G_N_ELEMENTS(ns_names); i++)
        g_free(p->ns[i]);
}

/* "Field:\tvalue..." of /proc/PID/status, the value up to the line end. */
static char *field(const char *status, const char *name)
{
    g_autofree char *key = g_strdup_printf("\n%s:", name);
    const char *p = status ? strstr(status, key) : NULL;
    if (!p)
        return g_strdup("");
    p += strlen(key);
    p += strspn(p, " \t");
    return g_strndup(p, strcspn(p, "\n"));
}

static HarnessRun *run_idle(const char *dir, const char *const *args, Probe *p)
{
    g_autofree char *img = harness_make_image(dir, "disk.img", 16);
    g_autofree char *dev = g_strdup_printf(
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        "<source file='%s'/><target dev='vda' bus='virtio'/></disk>"
        "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>", img);
    HarnessDomain d = { .vcpus = 2, .cmdline = "test=idle", .extra_devices = dev };
    g_autofree char *xml = harness_write_domain(dir, &d);
    return harness_run_worker(xml, args, BOOT_TIMEOUT, probe_when_idle, p);
}

/* An unprivileged uid and gid, no capabilities, no_new_privs, seccomp,
 * namespaces of its own and an empty root. */
static void assert_confined(const Probe *p)
{
    g_test_message("worker status:\n%s", p->status);
    g_autofree char *uid = field(p->status, "Uid");
    g_autofree char *gid = field(p->status, "Gid");
    g_autofree char *capeff = field(p->status, "CapEff");
    g_autofree char *capprm = field(p->status, "CapPrm");
    g_autofree char *capbnd = field(p->status, "CapBnd");
    g_autofree char *capamb = field(p->status, "CapAmb");
    g_autofree char *nnp = field(p->status, "NoNewPrivs");
    g_autofree char *seccomp = field(p->status, "Seccomp");
    /* real, effective, saved and fs uid: all the unprivileged one */
    g_auto(GStrv) uids = g_strsplit_set(uid, " \t", -1);
    g_assert_cmpuint(g_strv_length(uids), ==, 4);
    for (int i = 0; i < 4; i++)
        g_assert_cmpint(atoi(uids[i]), !=, 0);
    g_assert_false(g_str_has_prefix(gid, "0\t"));
    g_assert_cmpstr(capeff, ==, "0000000000000000");
    g_assert_cmpstr(capprm, ==, "0000000000000000");
    g_assert_cmpstr(capbnd, ==, "0000000000000000");
    g_assert_cmpstr(capamb, ==, "0000000000000000");
    g_assert_cmpstr(nnp, ==, "1");
    g_assert_cmpstr(seccomp, ==, "2");
    for (int i = 0; i < (int)G_N_ELEMENTS(ns_names); i++) {
        g_autofree char *self = g_strdup_printf("/proc/self/ns/%s", ns_names[i]);
        g_autofree char *mine = g_file_read_link(self, NULL);
        g_test_message("%s namespace: worker %s, test %s", ns_names[i], p->ns[i], mine);
        g_assert_nonnull(p->ns[i]);
        g_assert_cmpstr(p->ns[i], !=, mine);
    }
    /* nothing of the host's files in its root */
    g_assert_cmpint(p->root_entries, ==, 0);
}

static void test_confined(void)
{
    g_autofree char *dir = harness_tmpdir();
    Probe p = { 0 };
    g_autoptr(HarnessRun) r = run_idle(dir, NULL, &p);
    harness_assert_clean_stderr(r);
    if (!p.seen || r->exit_status != 0)
        g_test_message("stdout:\n%s\nstderr:\n%s", r->out, r->err);
    g_assert_true(p.seen);
    g_assert_cmpint(r->exit_status, ==, 0);
    assert_confined(&p);
    g_assert_nonnull(strstr(r->err, "sandbox: uid "));
    probe_clear(&p);
}

/* The host's abstract unix sockets (an address in a network namespace,
 * not a file: no empty root hides them; containerd-shim's CVE-2020-15257
 * was one) are out of the confined worker's reach: it has a network
 * namespace of its own. */
static void test_host_abstract_socket(void)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *name = g_strdup_printf("vmm-test-sandbox-%d", (int)getpid());
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path + 1, name, strlen(name));
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
    g_assert_cmpint(lfd, >=, 0);
    g_assert_cmpint(bind(lfd, (struct sockaddr *)&sa, len), ==, 0);
    g_assert_cmpint(listen(lfd, 4), ==, 0);
    g_setenv("VMM_DEBUG_SANDBOX_CONNECT", name, TRUE);
    Probe p = { .trap = true };
    g_autoptr(HarnessRun) r = run_idle(dir, NULL, &p);
    g_unsetenv("VMM_DEBUG_SANDBOX_CONNECT");
    g_test_message("stderr:\n%s", r->err);
    g_assert_true(p.seen);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_autofree char *line = g_strdup_printf("VMM_DEBUG_SANDBOX_CONNECT: connect(@%s): ", name);
    const char *at = strstr(r->err, line);
    g_assert_nonnull(at);
    at += strlen(line);
    if (!g_str_has_prefix(at, "Connection refused"))
        g_error("the confined worker reached the host's abstract socket @%s: %.*s", name,
                (int)strcspn(at, "\n"), at);
    /* and nothing reached the listener */
    g_assert_cmpint(accept4(lfd, NULL, NULL, SOCK_CLOEXEC), <, 0);
    close(lfd);
}

static void test_no_sandbox(void)
{
    g_autofree char *dir = harness_tmpdir();
    Probe p = { 0 };
    const char *args[] = { "--no-sandbox", NULL };
    g_autoptr(HarnessRun) r = run_idle(dir, args, &p);
    harness_assert_clean_stderr(r);
    g_assert_true(p.seen);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_autofree char *seccomp = field(p.status, "Seccomp");
    g_autofree char *uid = field(p.status, "Uid");
    g_assert_cmpstr(seccomp, ==, "0");
    g_assert_cmpint(atoi(uid), ==, (int)getuid());
    g_assert_null(strstr(r->err, "sandbox: uid "));
    probe_clear(&p);
}

static void test_missing_user(void)
{
    g_autofree char *dir = harness_tmpdir();
    Probe p = { 0 };
    const char *args[] = { "--user", "vmmd-no-such-user", NULL };
    g_autoptr(HarnessRun) r = run_idle(dir, args, &p);
    g_assert_false(p.seen);
    g_assert_cmpint(r->exit_status, ==, 1);
    g_assert_nonnull(strstr(r->err, "the worker's user 'vmmd-no-such-user' does not exist"));
}

/* VMM_DEBUG_SECCOMP_TRAP makes the confined main loop open a file on
 * SIGUSR2, sent once the guest runs. */
static void test_forbidden_call(void)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *exit_file = g_build_filename(dir, "test.exit", NULL);
    g_setenv("VMM_DEBUG_SECCOMP_TRAP", "1", TRUE);
    Probe p = { .trap = true };
    const char *args[] = { "--exit-file", exit_file, NULL };
    g_autoptr(HarnessRun) r = run_idle(dir, args, &p);
    g_unsetenv("VMM_DEBUG_SECCOMP_TRAP");
    g_test_message("stderr:\n%s", r->err);
    g_assert_true(p.seen);
    g_assert_cmpint(r->exit_status, ==, VMM_SECCOMP_EXIT_STATUS);
    const char *line = "seccomp: main loop thread made system call openat (257) of /etc/passwd, which "
                       "vmm-worker's allow-list forbids; the VM is stopped\n";
    g_assert_nonnull(strstr(r->err, line));
    g_autofree char *ef = NULL;
    g_assert_true(g_file_get_contents(exit_file, &ef, NULL, NULL));
    g_test_message("exit file: %s", ef);
    g_assert_nonnull(strstr(ef, "\"status\":5,\"reason\":\"seccomp\",\"detail\":\"seccomp: "
                                "main loop thread made system call openat (257)"));
    json_object *o = json_tokener_parse(ef);
    g_assert_nonnull(o);
    json_object_put(o);
}

static gboolean sigint_at_third_start(const char *line, GPid pid, void *opaque)
{
    unsigned *starts = opaque;
    if (strstr(line, "guestkit: ") && strstr(line, "\"event\":\"start\"") && ++*starts == 3)
        kill(pid, SIGINT);
    return TRUE;
}

/* A guest reboot builds the next VM inside the sandbox, from descriptors
 * kept from before confinement: disk, rng, balloon and a passt interface
 * come back each time, and no call is missing from the lists. */
static void test_reboot_devices(void)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *img = harness_make_image(dir, "disk.img", 16);
    g_autofree char *passt = g_find_program_in_path("passt");
    g_autofree char *dev = g_strdup_printf(
        "<disk type='file' device='disk'><driver name='qemu' type='raw' cache='none' "
        "io='native'/><source file='%s'/><target dev='vda' bus='virtio'/></disk>"
        "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"
        "<memballoon model='virtio'/>%s", img,
        passt ? "<interface type='user'><backend type='passt'/><model type='virtio'/>"
                "</interface>" : "");
    if (!passt)
        g_test_message("passt is not installed: no interface in this VM");
    HarnessDomain d = { .cmdline = "test=reboot", .on_reboot = "restart",
                        .extra_devices = dev };
    g_autofree char *xml = harness_write_domain(dir, &d);
    unsigned starts = 0;
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, BOOT_TIMEOUT,
                                                 sigint_at_third_start, &starts);
    harness_assert_clean_stderr(r);
    g_assert_nonnull(strstr(r->err, "sandbox: uid "));
    g_assert_cmpuint(starts, ==, 3);
    g_assert_cmpint(r->exit_status, ==, 4);        /* stopped by SIGINT */
}

/* Under vmmd the worker is PID 1 of a PID namespace of its own; the daemon
 * still tracks (pid file, kill, /proc) its pid in the daemon's namespace. */
static void test_pid_namespace(void)
{
    signal(SIGABRT, on_abort);
    Vmmd v;
    vmmd_init(&v);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "pidns" };
    g_free(define(s, &v, &d));
    start_idle(s, &v, "pidns");
    int pid = worker_pid_of(&v, "pidns");
    g_assert_cmpint(pid, >, 1);
    g_autofree char *wlink = g_strdup_printf("/proc/%d/ns/pid", pid);
    g_autofree char *dlink = g_strdup_printf("/proc/%d/ns/pid", (int)v.pid);
    g_autofree char *wns = g_file_read_link(wlink, NULL);
    g_autofree char *dns = g_file_read_link(dlink, NULL);
    g_test_message("pid namespace: worker %s, daemon %s", wns, dns);
    g_assert_nonnull(wns);
    g_assert_nonnull(dns);
    g_assert_cmpstr(wns, !=, dns);
    /* the pid file names the worker as the daemon sees it, and the worker
     * is its namespace's PID 1 (NSpid: outer, inner) */
    g_autofree char *status_path = g_strdup_printf("/proc/%d/status", pid);
    g_autofree char *status = read_file(status_path);
    g_autofree char *nspid = field(status, "NSpid");
    g_test_message("NSpid: %s", nspid);
    g_autofree char *want = g_strdup_printf("%d\t1", pid);
    g_assert_cmpstr(nspid, ==, want);
    /* the daemon reaches it: a destroy kills it, by the pid it keeps */
    domain_op(s, "domain-destroy", "pidns");
    g_autofree char *st = domain_state(s, "pidns");
    g_assert_cmpstr(st, ==, "shutoff");
    g_assert_false(alive(pid));
    vmm_proto_sync_free(g_steal_pointer(&s));
    vmmd_cleanup(&v);
}

/* <seclabel type='dynamic' model='dac'>: each VM's worker runs as a uid of
 * its own from dynamic_uid_range, its writable image is chowned to it while
 * it runs (and given back at stop, also by a restarted daemon), and the
 * uid is re-found after a daemon restart. */
#define DYN_FIRST 401000
#define DYN_LAST 401009

typedef struct {
    const char *name;
    char *img;
    int pid;
    unsigned uid, gid;
} DynVm;

static void dyn_start_label(VmmProtoSync *s, Vmmd *v, DynVm *vm, const char *dir,
                            const char *seclabel);

static void dyn_start(VmmProtoSync *s, Vmmd *v, DynVm *vm, const char *dir)
{
    dyn_start_label(s, v, vm, dir, "<seclabel type='dynamic' model='dac'/>");
    g_assert_cmpuint(vm->uid, >=, DYN_FIRST);
    g_assert_cmpuint(vm->uid, <=, DYN_LAST);
    g_assert_cmpuint(vm->gid, ==, vm->uid);
}

static void dyn_start_label(VmmProtoSync *s, Vmmd *v, DynVm *vm, const char *dir,
                            const char *seclabel)
{
    vm->img = harness_make_image(dir, vm->name, 8);
    g_assert_cmpint(chmod(vm->img, 0600), ==, 0);
    g_autofree char *disk = g_strdup_printf(
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
        "<target dev='vda' bus='virtio'/></disk>", vm->img);
    /* the guest writes and reads its disk back (test=blk), then idles */
    Dom d = { .name = vm->name, .cmdline = "test=blk then=idle", .extra_devices = disk };
    g_autofree char *base = domain_xml(v, &d);
    GString *xml = g_string_new(base);
    g_string_insert(xml, strstr(xml->str, "</domain>") - xml->str, seclabel);
    json_object_put(call_ok(s, "domain-define", define_args(xml->str)));
    g_string_free(xml, TRUE);
    domain_op(s, "domain-start", vm->name);
    wait_running(s, vm->name);
    g_autofree char *serial = serial_path(v, vm->name);
    wait_serial(serial, "\"event\":\"idle\"", 1);
    g_autofree char *out = read_file(serial);
    g_assert_null(strstr(out, "\"ok\":false"));
    g_assert_nonnull(strstr(out, "\"ok\":true"));
    vm->pid = worker_pid_of(v, vm->name);
    g_autofree char *status_path = g_strdup_printf("/proc/%d/status", vm->pid);
    g_autofree char *status = read_file(status_path);
    g_autofree char *uid = field(status, "Uid");
    g_autofree char *gid = field(status, "Gid");
    vm->uid = (unsigned)atoi(uid);
    g_test_message("%s: worker %d Uid %s Gid %s", vm->name, vm->pid, uid, gid);
    vm->gid = (unsigned)atoi(gid);
}

static void dyn_check_live(VmmProtoSync *s, const DynVm *vm)
{
    json_object *r = call_ok(s, "domain-get-xml", name_args(vm->name));
    const char *xml = get_str(r, "xml");
    g_autofree char *want = g_strdup_printf(
        "<seclabel type='dynamic' model='dac' relabel='yes'>\n"
        "    <label>+%u:+%u</label>\n    <imagelabel>+%u:+%u</imagelabel>\n  </seclabel>",
        vm->uid, vm->uid, vm->uid, vm->uid);
    if (!strstr(xml, want))
        g_test_message("live XML:\n%s", xml);
    g_assert_nonnull(strstr(xml, want));
    json_object_put(r);
    /* the definition keeps no uid: it belongs to this run */
    json_object *args = name_args(vm->name);
    json_object_object_add(args, "inactive", json_object_new_boolean(true));
    r = call_ok(s, "domain-get-xml", args);
    g_assert_nonnull(strstr(get_str(r, "xml"),
                            "<seclabel type='dynamic' model='dac' relabel='yes'/>"));
    json_object_put(r);
    struct stat st;
    g_assert_cmpint(stat(vm->img, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, vm->uid);
    g_assert_cmpuint(st.st_gid, ==, vm->uid);
}

/* In a child with VM a's identity (its uid and gid, no groups, as its
 * worker): 0 when it can open its own image read-write and not b's at
 * all, else which open went wrong. */
static int open_as(const DynVm *a, const DynVm *b)
{
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setresgid(a->uid, a->uid, a->uid) < 0 ||
            setresuid(a->uid, a->uid, a->uid) < 0)
            _exit(10);
        int own = open(a->img, O_RDWR | O_CLOEXEC);
        if (own < 0)
            _exit(11);
        close(own);
        if (open(b->img, O_RDONLY | O_CLOEXEC) >= 0 || errno != EACCES)
            _exit(12);
        if (open(b->img, O_RDWR | O_CLOEXEC) >= 0 || errno != EACCES)
            _exit(13);
        _exit(0);
    }
    int st = 0;
    g_assert_cmpint(waitpid(pid, &st, 0), ==, pid);
    g_assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* CONFIG/vmmd.conf with dynamic_uid_range=RANGE, and a directory for
 * the images that is open to every uid (the test's own directories are
 * root's alone): only the files' owners and modes decide. */
static char *dyn_config(Vmmd *v, const char *range)
{
    g_assert_cmpint(g_mkdir_with_parents(v->cfg, 0755), ==, 0);
    g_autofree char *conf = g_build_filename(v->cfg, "vmmd.conf", NULL);
    g_autofree char *text = g_strdup_printf("[worker]\ndynamic_uid_range=%s\n", range);
    g_assert_true(g_file_set_contents(conf, text, -1, NULL));
    char *dir = g_dir_make_tmp("vmmd-seclabel-XXXXXX", NULL);
    g_assert_nonnull(dir);
    g_assert_cmpint(chmod(dir, 0711), ==, 0);
    return dir;
}

#define DYN_RANGE G_STRINGIFY(DYN_FIRST) "-" G_STRINGIFY(DYN_LAST)

static void test_dynamic_labels(void)
{
    signal(SIGABRT, on_abort);
    Vmmd v;
    vmmd_init(&v);
    g_assert_cmpint(g_mkdir_with_parents(v.cfg, 0755), ==, 0);
    g_autofree char *conf = g_build_filename(v.cfg, "vmmd.conf", NULL);
    /* a range that includes root's uid, or runs backwards, stops the daemon */
    static const char *const bad[] = { "0-10", "20-10", "5", "1-4294967295", "a-b" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *t = g_strdup_printf("[worker]\ndynamic_uid_range=%s\n", bad[i]);
        g_assert_true(g_file_set_contents(conf, t, -1, NULL));
        g_autofree char *cmd = g_strdup_printf("%s/daemon/vmmd --config-dir %s --run-dir %s 2>&1",
                                               harness_builddir(), v.cfg, v.run);
        g_autofree char *out = harness_sh_out(cmd);
        g_autofree char *want = g_strdup_printf("[worker] dynamic_uid_range '%s' is not "
                                                "FIRST-LAST", bad[i]);
        if (!strstr(out, want))
            g_test_message("%s", out);
        g_assert_nonnull(strstr(out, want));
    }
    /* (the open of a's own image proves the images' path works) */
    g_autofree char *dir = dyn_config(&v, DYN_RANGE);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    DynVm a = { .name = "dyn-a" }, b = { .name = "dyn-b" }, c = { .name = "dyn-c" };
    dyn_start(s, &v, &a, dir);
    dyn_start(s, &v, &b, dir);
    g_assert_cmpuint(a.uid, !=, b.uid);
    dyn_check_live(s, &a);
    dyn_check_live(s, &b);
    g_assert_cmpint(open_as(&a, &b), ==, 0);
    g_assert_cmpint(open_as(&b, &a), ==, 0);
    /* virsh dominfo over vmmd's libvirt socket: the DAC label */
    g_autofree char *virsh = g_find_program_in_path("virsh");
    if (virsh) {
        g_autofree char *cmd = g_strdup_printf(
            "virsh -c 'vmm+unix:///system?socket=%s/libvirt-sock' dominfo %s 2>&1", v.run,
            a.name);
        g_autofree char *out = harness_sh_out(cmd);
        g_autofree char *want = g_strdup_printf("Security label: +%u:+%u (permissive)", a.uid,
                                                a.uid);
        g_test_message("%s", out);
        g_assert_nonnull(strstr(out, "Security model: dac"));
        g_assert_nonnull(strstr(out, want));
    }
    /* and libvirt-python's securityLabelList() (one model, one label) */
    if (g_file_test("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE)) {
        g_autofree char *py = g_strdup_printf(
            "/usr/bin/python3 -c \"import libvirt; c = libvirt.open('vmm+unix:///system?"
            "socket=%s/libvirt-sock'); print(c.lookupByName('%s').securityLabelList())\" 2>&1",
            v.run, a.name);
        g_autofree char *py_out = harness_sh_out(py);
        g_autofree char *py_want = g_strdup_printf("[['+%u:+%u', False]]", a.uid, a.uid);
        g_test_message("securityLabelList: %s", py_out);
        if (!strstr(py_out, "No module named"))
            g_assert_nonnull(strstr(py_out, py_want));
    }

    /* a restarted daemon knows both uids are taken: a third VM gets
     * another, and the live XML still shows them */
    vmm_proto_sync_free(g_steal_pointer(&s));
    g_assert_cmpint(vmmd_stop(&v, SIGTERM), ==, 0);
    vmmd_start(&v);
    s = connect_retry(&v, v.sock, 5000);
    wait_running(s, a.name);
    wait_running(s, b.name);
    dyn_check_live(s, &a);
    dyn_start(s, &v, &c, dir);
    g_assert_cmpuint(c.uid, !=, a.uid);
    g_assert_cmpuint(c.uid, !=, b.uid);

    /* a dynamic label written into a definition (a live XML defined again)
     * is dropped: the uid is one run's, as in libvirt's inactive XML */
    Dom dd = { .name = "dyn-defined" };
    g_autofree char *dbase = domain_xml(&v, &dd);
    GString *dxml = g_string_new(dbase);
    g_string_insert(dxml, strstr(dxml->str, "</domain>") - dxml->str,
                    "<seclabel type='dynamic' model='dac' relabel='yes'>"
                    "<label>+401005:+401005</label></seclabel>");
    json_object_put(call_ok(s, "domain-define", define_args(dxml->str)));
    g_string_free(dxml, TRUE);
    json_object *dr = call_ok(s, "domain-get-xml", name_args("dyn-defined"));
    g_assert_null(strstr(get_str(dr, "xml"), "401005"));
    g_assert_nonnull(strstr(get_str(dr, "xml"),
                            "<seclabel type='dynamic' model='dac' relabel='yes'/>"));
    json_object_put(dr);

    /* a static label: that uid, the image its <imagelabel>'s while it runs */
    DynVm st_vm = { .name = "static-label" };
    dyn_start_label(s, &v, &st_vm, dir,
                    "<seclabel type='static' model='dac' relabel='yes'><label>+401100:+401101"
                    "</label><imagelabel>+401102:+401103</imagelabel></seclabel>");
    g_assert_cmpuint(st_vm.uid, ==, 401100);
    g_assert_cmpuint(st_vm.gid, ==, 401101);
    struct stat sst;
    g_assert_cmpint(stat(st_vm.img, &sst), ==, 0);
    g_assert_cmpuint(sst.st_uid, ==, 401102);
    g_assert_cmpuint(sst.st_gid, ==, 401103);
    domain_op(s, "domain-destroy", st_vm.name);
    g_assert_cmpint(stat(st_vm.img, &sst), ==, 0);
    g_assert_cmpuint(sst.st_uid, ==, 0);
    g_unlink(st_vm.img);
    g_free(st_vm.img);

    /* stopped: each image is root's again, and the uid free for the next */
    DynVm *all[] = { &a, &b, &c };
    for (int i = 0; i < 3; i++) {
        domain_op(s, "domain-destroy", all[i]->name);
        struct stat st;
        g_assert_cmpint(stat(all[i]->img, &st), ==, 0);
        g_assert_cmpuint(st.st_uid, ==, 0);
        g_assert_cmpuint(st.st_gid, ==, 0);
        g_assert_cmpuint(st.st_mode & 07777, ==, 0600);
        g_autofree char *state = g_strdup_printf("%s/%s.seclabel", v.run, all[i]->name);
        g_assert_false(g_file_test(state, G_FILE_TEST_EXISTS));
    }
    unsigned old_a = a.uid;
    g_unlink(a.img);
    g_free(a.img);
    dyn_start(s, &v, &a, dir);
    g_assert_cmpuint(a.uid, ==, DYN_FIRST);
    (void)old_a;
    domain_op(s, "domain-destroy", a.name);
    for (int i = 0; i < 3; i++) {
        g_unlink(all[i]->img);
        g_free(all[i]->img);
    }
    g_rmdir(dir);
    vmm_proto_sync_free(g_steal_pointer(&s));
    vmmd_cleanup(&v);
}

/* A vhost-user disk under a dynamic label: the daemon connects to the
 * back end's socket for the worker, at start and again for a guest
 * reboot, so the worker runs as its dynamic uid in an empty root and the
 * socket is never given to that uid (relabel leaves it alone). The back
 * end is Debian's qemu-storage-daemon, running as root. */
static GPid vu_backend;

static void on_abort_vu(int sig)
{
    if (vu_backend > 0)
        kill(vu_backend, SIGKILL);
    on_abort(sig);
}

/* false (and SKIP) without qemu-storage-daemon */
static bool have_qsd(void)
{
    g_autofree char *qsd = g_find_program_in_path("qemu-storage-daemon");
    if (!qsd)
        g_test_skip("qemu-storage-daemon is not installed (Debian: qemu-system-common)");
    return qsd != NULL;
}

/* The back end, its image and directory, the daemon. */
static void vu_cleanup(Vmmd *v, Qsd *q, const char *dir, VmmProtoSync *s)
{
    qsd_stop(q);
    vu_backend = 0;
    signal(SIGABRT, SIG_DFL);
    g_unlink(q->img);
    qsd_free(q);
    g_rmdir(dir);
    vmm_proto_sync_free(s);
    vmmd_cleanup(v);
}

static void test_dynamic_vhost_user(void)
{
    if (!have_qsd())
        return;
    Vmmd v;
    vmmd_init(&v);
    g_autofree char *dir = dyn_config(&v, DYN_RANGE);
    Qsd q = { 0 };
    qsd_start(&q, dir);
    vu_backend = q.pid;
    signal(SIGABRT, on_abort_vu);
    struct stat st;
    g_assert_cmpint(stat(q.sock, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, 0);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    g_autofree char *disk = g_strdup_printf(
        "<disk type='vhostuser' device='disk'><driver name='qemu' type='raw'/>"
        "<source type='unix' path='%s'/><target dev='vda' bus='virtio'/></disk>", q.sock);
    Dom d = { .name = "dyn-vu", .cmdline = "test=blk then=idle", .extra_devices = disk };
    g_autofree char *base = domain_xml(&v, &d);
    GString *xml = g_string_new(base);
    g_string_insert(xml, strstr(xml->str, "</domain>") - xml->str,
                    "<seclabel type='dynamic' model='dac'/>");
    json_object_put(call_ok(s, "domain-define", define_args(xml->str)));
    g_string_free(xml, TRUE);
    domain_op(s, "domain-start", d.name);
    wait_running(s, d.name);
    g_autofree char *serial = serial_path(&v, d.name);
    wait_serial(serial, "\"event\":\"idle\"", 1);
    int pid = worker_pid_of(&v, d.name);
    g_autofree char *status_path = g_strdup_printf("/proc/%d/status", pid);
    g_autofree char *status = read_file(status_path);
    g_autofree char *uid = field(status, "Uid");
    g_test_message("worker %d Uid %s", pid, uid);
    unsigned u = (unsigned)atoi(uid);
    g_assert_cmpuint(u, >=, DYN_FIRST);
    g_assert_cmpuint(u, <=, DYN_LAST);
    g_assert_cmpint(stat(q.sock, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, 0);
    g_assert_cmpuint(st.st_gid, ==, 0);
    /* the reset builds the next VM inside the sandbox: a new connection to
     * the back end, made by the daemon; the guest's tests pass again */
    domain_op(s, "domain-reboot", d.name);
    wait_serial(serial, "\"event\":\"idle\"", 2);
    g_autofree char *out = read_file(serial);
    g_assert_null(strstr(out, "\"ok\":false"));
    g_autofree char *wlog = g_strdup_printf("%s/%s.log", v.run, d.name);
    g_autofree char *log = read_file(wlog);
    g_assert_nonnull(strstr(log, "an empty private root"));
    g_assert_null(strstr(log, "keeping the host's file system"));
    domain_op(s, "domain-destroy", d.name);
    g_assert_cmpint(stat(q.sock, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, 0);
    g_assert_cmpuint(st.st_gid, ==, 0);
    vu_cleanup(&v, &q, dir, g_steal_pointer(&s));
}

/* A vhost-user disk (with <reconnect>) under vmmd, no <seclabel>: the
 * daemon makes the back end's socket, so the worker is confined like any
 * other (vmmd's uid, an empty private root). The back end is then killed
 * and started again with its socket root's, mode 0600, in a directory
 * root's alone: the worker could neither see nor connect to it; the
 * daemon connects for the worker's reconnect and for the guest reboot
 * after it, where the guest's disk tests pass again. */
static void test_vhost_user_by_daemon(void)
{
    if (!have_qsd())
        return;
    Vmmd v;
    vmmd_init(&v);
    g_autofree char *tmp = harness_tmpdir();
    g_autofree char *dir = g_canonicalize_filename(tmp, NULL);   /* XML wants absolute */
    Qsd q = { 0 };
    qsd_start(&q, dir);
    vu_backend = q.pid;
    signal(SIGABRT, on_abort_vu);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    g_autofree char *disk = g_strdup_printf(
        "<disk type='vhostuser' device='disk'><driver name='qemu' type='raw'/>"
        "<source type='unix' path='%s'><reconnect enabled='yes' timeout='1'/></source>"
        "<target dev='vda' bus='virtio'/></disk>", q.sock);
    Dom d = { .name = "vu-confined", .cmdline = "test=blk then=idle", .extra_devices = disk };
    g_autofree char *xml = domain_xml(&v, &d);
    json_object_put(call_ok(s, "domain-define", define_args(xml)));
    start_idle(s, &v, d.name);
    g_autofree char *serial = serial_path(&v, d.name);
    g_autofree char *wlog = g_strdup_printf("%s/%s.log", v.run, d.name);
    Probe p = { 0 };
    probe_pid(&p, worker_pid_of(&v, d.name));
    assert_confined(&p);
    probe_clear(&p);
    g_autofree char *log = read_file(wlog);
    g_assert_nonnull(strstr(log, "an empty private root"));
    g_assert_null(strstr(log, "keeping the host's file system"));
    /* answers to requests the worker did not make, or malformed: refused
     * with a reason, the VM runs on */
    g_autofree char *wsock = g_strdup_printf("%s/%s.sock", v.run, d.name);
    g_autoptr(GError) werr = NULL;
    g_autoptr(VmmProtoSync) w = vmm_proto_sync_connect(wsock, 5000, &werr);
    g_assert_no_error(werr);
    json_object *bogus = json_object_new_object();
    json_object_object_add(bogus, "request", json_object_new_int(4242));
    g_autofree char *e1 = call_err(w, "vhost-user-socket", bogus, VMM_PROTO_OPERATION_INVALID);
    g_assert_nonnull(strstr(e1, "no request 4242 is waiting"));
    json_object *bad = json_object_new_object();
    json_object_object_add(bad, "request", json_object_new_string("x"));
    g_autofree char *e2 = call_err(w, "vhost-user-socket", bad, VMM_PROTO_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(e2, "needs \"request\" (a number)"));

    /* no back end: the daemon's failed connect is the worker's reason,
     * and it tries again */
    qsd_kill(&q);
    vu_backend = 0;
    wait_serial(wlog, "vhost-user-blk vda: reconnecting: ", 1);
    g_free(log);
    log = read_file(wlog);
    g_autofree char *why = g_strdup_printf("vhost-user-blk vda: vhost-user back end %s: vmmd: "
                                           "cannot connect: ", q.sock);
    g_assert_nonnull(strstr(log, why));
    g_assert_nonnull(strstr(log, "(trying again every 1 s)"));
    /* a new back end; its socket root's, 0600 */
    qsd_restart(&q);
    vu_backend = q.pid;
    g_assert_cmpint(chmod(q.sock, 0600), ==, 0);
    struct stat st;
    g_assert_cmpint(stat(q.sock, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, 0);
    g_assert_cmpuint(st.st_mode & 0777, ==, 0600);
    wait_serial(wlog, "vhost-user-blk vda: reconnected to the back end", 1);
    /* the reboot's new connection is the daemon's too; the disk works */
    domain_op(s, "domain-reboot", d.name);
    wait_serial(serial, "\"event\":\"idle\"", 2);
    g_autofree char *out = read_file(serial);
    g_assert_null(strstr(out, "\"ok\":false"));
    g_assert_nonnull(strstr(out, "\"check\":\"blk_init\""));
    g_assert_nonnull(strstr(strstr(out, "\"event\":\"idle\""), "\"check\":\"blk_init\""));
    g_free(log);
    log = read_file(wlog);
    g_assert_null(strstr(log, "needs a reset"));
    domain_op(s, "domain-destroy", d.name);
    vu_cleanup(&v, &q, dir, g_steal_pointer(&s));
}

/* Host users and groups inside dynamic_uid_range: the daemon names them
 * at start-up, and a dynamic label skips their ids (a VM with a host
 * user's uid could open that user's files). Real accounts, made with
 * useradd/groupadd and removed after (also when the test aborts). */
#define HOST_USER "vmmdtest-dynuser"
#define HOST_GROUP "vmmdtest-dyngroup"
#define HOST_FIRST 401200

static void remove_host_ids(void)
{
    /* absent is fine: this also clears what an earlier, killed run left */
    g_autofree char *out = harness_sh_out("userdel " HOST_USER " 2>&1; groupdel " HOST_GROUP
                                          " 2>&1; true");
    (void)out;
}

static void on_abort_host_ids(int sig)
{
    remove_host_ids();
    on_abort(sig);
}

static void test_dynamic_host_ids(void)
{
    remove_host_ids();
    signal(SIGABRT, on_abort_host_ids);
    /* the user gets no group of its own (-N: users), so the group holds
     * the next id: one id taken by a user, one by a group */
    g_autofree char *add = harness_sh_out(
        "useradd -M -N -s /usr/sbin/nologin -u 401200 " HOST_USER " 2>&1 && "
        "groupadd -g 401201 " HOST_GROUP " 2>&1 && echo added");
    if (!strstr(add, "added"))
        g_test_message("%s", add);
    g_assert_nonnull(strstr(add, "added"));
    Vmmd v;
    vmmd_init(&v);
    g_autofree char *dir = dyn_config(&v, "401200-401209");
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    g_autofree char *log = read_file(v.log);
    g_test_message("%s", log);
    g_assert_nonnull(strstr(log, "dynamic_uid_range 401200-401209 overlaps 2 host users and "
                                 "groups: user " HOST_USER " (401200), group " HOST_GROUP
                                 " (401201)"));
    DynVm a = { .name = "dyn-host-ids" };
    dyn_start_label(s, &v, &a, dir, "<seclabel type='dynamic' model='dac'/>");
    g_assert_cmpuint(a.uid, ==, HOST_FIRST + 2);
    g_assert_cmpuint(a.gid, ==, HOST_FIRST + 2);
    domain_op(s, "domain-destroy", a.name);
    g_unlink(a.img);
    g_free(a.img);
    g_rmdir(dir);
    vmm_proto_sync_free(g_steal_pointer(&s));
    vmmd_cleanup(&v);
    remove_host_ids();
    signal(SIGABRT, SIG_DFL);
}

static void skip(gconstpointer why)
{
    g_test_skip(why);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    const char *why = access("/dev/kvm", R_OK | W_OK) ? "no usable /dev/kvm"
                    : geteuid() ? "the sandbox drops privileges only when started as root"
                    : !getpwnam("vmmd") ? "no vmmd user (systemd-sysusers systemd/vmmd.sysusers)"
                    : NULL;
    if (why) {
        g_test_add_data_func("/sandbox/skip", why, skip);
        return g_test_run();
    }
    g_test_add_func("/sandbox/confined", test_confined);
    g_test_add_func("/sandbox/host-abstract-socket", test_host_abstract_socket);
    g_test_add_func("/sandbox/no-sandbox", test_no_sandbox);
    g_test_add_func("/sandbox/missing-user", test_missing_user);
    g_test_add_func("/sandbox/forbidden-call", test_forbidden_call);
    g_test_add_func("/sandbox/reboot-devices", test_reboot_devices);
    g_test_add_func("/sandbox/pid-namespace", test_pid_namespace);
    g_test_add_func("/sandbox/dynamic-labels", test_dynamic_labels);
    g_test_add_func("/sandbox/dynamic-host-ids", test_dynamic_host_ids);
    g_test_add_func("/sandbox/dynamic-vhost-user", test_dynamic_vhost_user);
    g_test_add_func("/sandbox/vhost-user-by-daemon", test_vhost_user_by_daemon);
    return g_test_run();
}
