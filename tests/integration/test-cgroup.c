/* Per-VM cgroups on this host's real hierarchy: a guest-kit domain's
 * <cputune>, <memtune> and <blkiotune> read back from its group's files,
 * <vcpupin>/<emulatorpin> in its threads' affinities, the groups found
 * again by a restarted daemon and gone after the domain stops; a guest
 * touching more than hard_limit is killed by the kernel and reported
 * crashed with that reason; settings the host cannot apply are refused. */
#include "daemon-harness.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Each test daemon its own partition: parallel runs never share groups. */
static char *write_conf(Vmmd *v, const char *extra)
{
    char *part = g_strdup_printf("vmmd-test-%d-%s", (int)getpid(), g_path_get_basename(v->dir));
    g_assert_cmpint(g_mkdir_with_parents(v->cfg, 0755), ==, 0);
    g_autofree char *conf = g_build_filename(v->cfg, "vmmd.conf", NULL);
    g_autofree char *text = g_strdup_printf("[cgroup]\npartition=%s\n%s", part, extra ? extra : "");
    g_assert_true(g_file_set_contents(conf, text, -1, NULL));
    return part;
}

/* The group a task is in for a v1 controller, as a directory. */
static char *task_group(const char *proc_dir, const char *ctrl)
{
    g_autofree char *path = g_build_filename(proc_dir, "cgroup", NULL);
    g_autofree char *text = read_file(path);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, ":", 3);
        if (g_strv_length(f) != 3)
            continue;
        g_auto(GStrv) cs = g_strsplit(f[1], ",", -1);
        if (g_strv_contains((const char *const *)cs, ctrl))
            return g_strdup_printf("/sys/fs/cgroup/%s%s", ctrl, f[2]);
    }
    return NULL;
}

/* The partition's groups, empty once the test's domains are gone (vmmd
 * leaves them, as libvirt leaves its machine group). */
static void remove_partition(const char *part)
{
    static const char *const ctrls[] = { "cpu", "cpuacct", "memory", "blkio" };
    for (unsigned i = 0; i < G_N_ELEMENTS(ctrls); i++) {
        g_autofree char *self = task_group("/proc/self", ctrls[i]);
        g_autofree char *pdir = self ? g_build_filename(self, part, NULL) : NULL;
        if (pdir && rmdir(pdir) < 0 && errno != ENOENT)
            g_error("cannot remove %s: %s (a group left inside?)", pdir, g_strerror(errno));
    }
}

static char *cg_read(const char *dir, const char *file)
{
    g_autofree char *p = g_build_filename(dir, file, NULL);
    g_autofree char *t = read_file(p);
    return g_strstrip(g_strdup(t));
}

static char *status_field(const char *proc_dir, const char *field)
{
    g_autofree char *p = g_build_filename(proc_dir, "status", NULL);
    g_autofree char *t = read_file(p);
    g_autofree char *key = g_strdup_printf("\n%s:\t", field);
    const char *s = strstr(t, key);
    g_assert_nonnull(s);
    s += strlen(key);
    return g_strndup(s, strcspn(s, "\n"));
}

/* /proc/PID/task/TID of the thread named `comm`. */
static char *thread_dir(int pid, const char *comm)
{
    g_autofree char *tasks = g_strdup_printf("/proc/%d/task", pid);
    g_autoptr(GDir) d = g_dir_open(tasks, 0, NULL);
    const char *t;
    while (d && (t = g_dir_read_name(d))) {
        g_autofree char *dir = g_build_filename(tasks, t, NULL);
        g_autofree char *c = cg_read(dir, "comm");
        if (!strcmp(c, comm))
            return g_steal_pointer(&dir);
    }
    return NULL;
}

/* `vmmctl -c SOCK VERB NAME`'s standard output; it must succeed. */
static char *vmmctl_out(Vmmd *v, const char *verb, const char *name)
{
    g_autofree char *ctl = harness_path("client/vmmctl");
    char *argv[] = { ctl, (char *)"-c", v->sock, (char *)verb, (char *)name, NULL };
    g_autofree char *err = NULL;
    char *out = NULL;
    int status = -1;
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                               &status, NULL));
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("vmmctl %s %s failed: %s", verb, name, err);
    return out;
}

static char *tuned_xml(Vmmd *v, const Dom *d, const char *vcpu_and_tune)
{
    g_autofree char *xml = domain_xml(v, d);
    g_auto(GStrv) parts = g_strsplit(xml, "  <vcpu>1</vcpu>\n", 2);
    g_assert_cmpint(g_strv_length(parts), ==, 2);
    return g_strconcat(parts[0], vcpu_and_tune, parts[1], NULL);
}

static void define_xml(VmmProtoSync *s, const char *xml)
{
    json_object_put(call_ok(s, "domain-define", define_args(xml)));
}

static bool have_v1(const char *ctrl)
{
    g_autofree char *self = task_group("/proc/self", ctrl);
    return self && g_file_test(self, G_FILE_TEST_IS_DIR);
}

static void test_limits(void)
{
    if (!have_v1("memory") || !have_v1("cpu") || !have_v1("blkio") || !have_v1("cpuacct")) {
        g_test_skip("this test reads cgroup v1 files: cpu, cpuacct, memory, blkio must be mounted");
        return;
    }
    struct stat st;
    g_assert_cmpint(stat("/dev/vda", &st) == 0 || stat("/dev/loop0", &st) == 0, ==, 1);
    const char *blk = stat("/dev/vda", &st) == 0 ? "/dev/vda" : "/dev/loop0";
    g_assert_cmpint(stat(blk, &st), ==, 0);
    g_autofree char *devno = g_strdup_printf("%u:%u", major(st.st_rdev), minor(st.st_rdev));

    Vmmd v;
    vmmd_init(&v);
    g_autofree char *part = write_conf(&v, "[worker]\noom_score_adj=500\n");
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "tuned" };
    g_autofree char *tune = g_strdup_printf(
        "  <vcpu>2</vcpu>\n"
        "  <blkiotune><device><path>%s</path><read_bytes_sec>1000000</read_bytes_sec>"
        "<write_iops_sec>70</write_iops_sec></device></blkiotune>\n"
        "  <memtune><hard_limit unit='MiB'>256</hard_limit><soft_limit unit='MiB'>128"
        "</soft_limit></memtune>\n"
        "  <cputune><shares>512</shares><period>100000</period><quota>50000</quota>"
        "<emulator_period>200000</emulator_period><emulator_quota>300000</emulator_quota>"
        "<vcpupin vcpu='0' cpuset='1'/><vcpupin vcpu='1' cpuset='0'/>"
        "<emulatorpin cpuset='0'/></cputune>\n", blk);
    g_autofree char *xml = tuned_xml(&v, &d, tune);
    define_xml(s, xml);
    start_idle(s, &v, "tuned");
    int pid = worker_pid_of(&v, "tuned");
    g_autofree char *proc = g_strdup_printf("/proc/%d", pid);

    /* the groups: <partition>/<name>.vmmd below the test's own group */
    g_autofree char *leaf = g_strdup_printf("/%s/tuned.vmmd", part);
    g_autofree char *mem = task_group(proc, "memory");
    g_autofree char *self_mem = task_group("/proc/self", "memory");
    g_autofree char *want_mem = g_strconcat(self_mem, leaf, NULL);
    g_assert_cmpstr(mem, ==, want_mem);
    g_autofree char *hard = cg_read(mem, "memory.limit_in_bytes");
    g_autofree char *soft = cg_read(mem, "memory.soft_limit_in_bytes");
    g_assert_cmpstr(hard, ==, "268435456");
    g_assert_cmpstr(soft, ==, "134217728");

    /* cpu: the main thread in emulator/, each vCPU thread in its vcpuN/ */
    g_autofree char *emu = task_group(proc, "cpu");
    g_assert_true(g_str_has_suffix(emu, "tuned.vmmd/emulator"));
    g_autofree char *vmcpu = g_path_get_dirname(emu);
    g_autofree char *shares = cg_read(vmcpu, "cpu.shares");
    g_assert_cmpstr(shares, ==, "512");
    g_autofree char *eq = cg_read(emu, "cpu.cfs_quota_us");
    g_autofree char *ep = cg_read(emu, "cpu.cfs_period_us");
    g_assert_cmpstr(eq, ==, "300000");
    g_assert_cmpstr(ep, ==, "200000");
    for (int i = 0; i < 2; i++) {
        g_autofree char *name = g_strdup_printf("vcpu%d", i);
        g_autofree char *td = thread_dir(pid, name);
        g_assert_nonnull(td);
        g_autofree char *grp = task_group(td, "cpu");
        g_autofree char *want = g_build_filename(vmcpu, name, NULL);
        g_assert_cmpstr(grp, ==, want);
        g_autofree char *q = cg_read(grp, "cpu.cfs_quota_us");
        g_autofree char *p = cg_read(grp, "cpu.cfs_period_us");
        g_assert_cmpstr(q, ==, "50000");
        g_assert_cmpstr(p, ==, "100000");
        /* <vcpupin>: vCPU 0 on CPU 1, vCPU 1 on CPU 0 */
        g_autofree char *cpus = status_field(td, "Cpus_allowed_list");
        g_assert_cmpstr(cpus, ==, i == 0 ? "1" : "0");
    }
    /* <emulatorpin>: the main thread */
    g_autofree char *main_cpus = status_field(proc, "Cpus_allowed_list");
    g_assert_cmpstr(main_cpus, ==, "0");

    /* blkio throttling on the device */
    g_autofree char *bio = task_group(proc, "blkio");
    g_autofree char *rbps = cg_read(bio, "blkio.throttle.read_bps_device");
    g_autofree char *wiops = cg_read(bio, "blkio.throttle.write_iops_device");
    g_autofree char *want_r = g_strdup_printf("%s 1000000", devno);
    g_autofree char *want_w = g_strdup_printf("%s 70", devno);
    g_assert_cmpstr(rbps, ==, want_r);
    g_assert_cmpstr(wiops, ==, want_w);
    /* cpuacct holds the worker too */
    g_autofree char *acct = task_group(proc, "cpuacct");
    g_assert_true(g_str_has_suffix(acct, "tuned.vmmd") ||
                  g_str_has_suffix(acct, "tuned.vmmd/emulator"));

    g_autofree char *adj_path = g_build_filename(proc, "oom_score_adj", NULL);
    g_autofree char *adj = read_file(adj_path);
    g_assert_cmpstr(g_strstrip(adj), ==, "500");

    /* domstats' cpu.* from the group; the live XML keeps the tuning */
    json_object *args = json_object_new_object();
    json_object *names = json_object_new_array();
    json_object_array_add(names, json_object_new_string("tuned"));
    json_object_object_add(args, "names", names);
    json_object *stats = call_ok(s, "domain-stats", args);
    g_autofree char *stext = g_strdup(json_object_to_json_string(stats));
    g_test_message("stats: %s", stext);
    g_assert_nonnull(strstr(stext, "\"cpu.user\""));
    g_assert_nonnull(strstr(stext, "\"cpu.system\""));
    json_object_put(stats);
    json_object *x = call_ok(s, "domain-get-xml", name_args("tuned"));
    const char *live = get_str(x, "xml");
    g_assert_nonnull(strstr(live, "<vcpupin vcpu='0' cpuset='1'/>"));
    g_assert_nonnull(strstr(live, "<hard_limit unit='KiB'>262144</hard_limit>"));
    json_object_put(x);

    /* virsh's schedinfo and memtune, read from the group's files */
    g_autofree char *sched = vmmctl_out(&v, "schedinfo", "tuned");
    g_test_message("%s", sched);
    g_assert_cmpstr(sched, ==, "Scheduler      : posix\n"
                               "cpu_shares     : 512\n"
                               "vcpu_period    : 100000\n"
                               "vcpu_quota     : 50000\n"
                               "emulator_period: 200000\n"
                               "emulator_quota : 300000\n"
                               "global_period  : 100000\n"
                               "global_quota   : -1\n\n");
    g_autofree char *memt = vmmctl_out(&v, "memtune", "tuned");
    g_assert_true(g_str_has_prefix(memt, "hard_limit     : 262144\n"
                                         "soft_limit     : 131072\n"
                                         "swap_hard_limit: "));
    g_autofree char *blkt = vmmctl_out(&v, "blkiotune", "tuned");
    g_autofree char *want_b = g_strdup_printf("device_read_bytes_sec: %s,1000000\n", blk);
    g_assert_nonnull(strstr(blkt, want_b));

    /* A guest reset makes new vCPU threads: they are moved and pinned too
     * (waited for: the daemon does it once the worker answers again). */
    g_autofree char *old0 = thread_dir(pid, "vcpu0");
    g_autofree char *want0 = g_build_filename(vmcpu, "vcpu0", NULL);
    domain_op(s, "domain-reboot", "tuned");
    bool placed = false;
    for (int i = 0; i < EVENT_TIMEOUT_MS / 50 && !placed; i++) {
        g_autofree char *new0 = thread_dir(pid, "vcpu0");
        if (new0 && strcmp(new0, old0)) {
            g_autofree char *grp = task_group(new0, "cpu");
            g_autofree char *path = g_build_filename(new0, "status", NULL);
            g_autofree char *st = read_file(path);
            placed = grp && !strcmp(grp, want0) && strstr(st, "\nCpus_allowed_list:\t1\n");
        }
        if (!placed)
            g_usleep(50 * 1000);
    }
    g_assert_true(placed);

    /* a restarted daemon finds the groups again: destroying then removes them */
    vmm_proto_sync_free(g_steal_pointer(&s));
    g_assert_cmpint(vmmd_stop(&v, SIGTERM), ==, 0);
    g_assert_true(g_file_test(mem, G_FILE_TEST_IS_DIR));
    vmmd_start(&v);
    s = connect_retry(&v, v.sock, 5000);
    wait_running(s, "tuned");
    domain_op(s, "domain-destroy", "tuned");
    g_assert_false(g_file_test(mem, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(vmcpu, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(bio, G_FILE_TEST_EXISTS));
    /* and a second start makes them afresh */
    start_idle(s, &v, "tuned");
    g_assert_true(g_file_test(mem, G_FILE_TEST_IS_DIR));
    domain_op(s, "domain-destroy", "tuned");
    g_assert_false(g_file_test(mem, G_FILE_TEST_EXISTS));
    vmm_proto_sync_free(g_steal_pointer(&s));
    vmmd_stop(&v, SIGTERM);
    remove_partition(part);
    vmmd_cleanup(&v);
}

/* More memory touched than <hard_limit>: the kernel's OOM killer stops the
 * worker; the domain is crashed, and the detail says why. */
static void test_oom(void)
{
    if (!have_v1("memory")) {
        g_test_skip("cgroup v1 memory controller not mounted");
        return;
    }
    Vmmd v;
    vmmd_init(&v);
    g_autofree char *part = write_conf(&v, NULL);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    Dom d = { .name = "hog", .cmdline = "test=balloon touch_mib=200" };
    g_autofree char *xml0 = tuned_xml(&v, &d, "  <vcpu>1</vcpu>\n"
                                      "  <memtune><hard_limit unit='MiB'>64</hard_limit>"
                                      "</memtune>\n");
    /* 256 MiB of guest RAM, of which the guest touches 200 */
    g_auto(GStrv) p = g_strsplit(xml0, "<memory unit='MiB'>64</memory>", 2);
    g_autofree char *xml = g_strconcat(p[0], "<memory unit='MiB'>256</memory>", p[1], NULL);
    define_xml(s, xml);
    call_void(s, "domain-start", name_args("hog"));
    json_object *e = wait_state(s, "hog", "crashed", "crashed");
    const char *detail = get_str(e, "detail");
    g_test_message("crashed: %s", detail);
    g_assert_nonnull(strstr(detail, "out of memory: the kernel's OOM killer stopped the worker "
                                    "at <memtune><hard_limit> 65536 KiB"));
    g_assert_nonnull(strstr(detail, "memory.oom_control"));
    json_object_put(e);
    g_autofree char *self_mem = task_group("/proc/self", "memory");
    g_autofree char *grp = g_strdup_printf("%s/%s/hog.vmmd", self_mem, part);
    g_assert_false(g_file_test(grp, G_FILE_TEST_EXISTS));
    vmm_proto_sync_free(g_steal_pointer(&s));
    vmmd_stop(&v, SIGTERM);
    remove_partition(part);
    g_autofree char *logpath = g_strdup_printf("%s/hog.log", v.run);
    g_unlink(logpath);
    vmmd_cleanup(&v);
}

/* What this host cannot apply is refused at start, naming what is missing;
 * nothing runs and no group is left. */
static void test_refused(void)
{
    Vmmd v;
    vmmd_init(&v);
    g_autofree char *part = write_conf(&v, NULL);
    vmmd_start(&v);
    g_autoptr(VmmProtoSync) s = connect_retry(&v, v.sock, 5000);
    static const struct {
        const char *tune, *msg;
    } cases[] = {
        /* no BFQ here: the blkio controller has throttling but no weights */
        { "<blkiotune><weight>500</weight></blkiotune>", "<blkiotune><weight> needs " },
        { "<blkiotune><device><path>/dev/null</path><read_iops_sec>1</read_iops_sec>"
          "</device></blkiotune>", "<blkiotune> device '/dev/null' is not a block device" },
        { "<blkiotune><device><path>/nonexistent</path><read_iops_sec>1</read_iops_sec>"
          "</device></blkiotune>", "<blkiotune> device '/nonexistent': No such file" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *name = g_strdup_printf("ref%zu", i);
        Dom d = { .name = name };
        g_autofree char *t = g_strdup_printf("  <vcpu>1</vcpu>\n  %s\n", cases[i].tune);
        g_autofree char *xml = tuned_xml(&v, &d, t);
        define_xml(s, xml);
        if (i == 0) {
            g_autofree char *bio = task_group("/proc/self", "blkio");
            g_autofree char *w = bio ? g_build_filename(bio, "blkio.weight", NULL) : NULL;
            g_autofree char *bw = bio ? g_build_filename(bio, "blkio.bfq.weight", NULL) : NULL;
            if (!bio || g_file_test(w, G_FILE_TEST_EXISTS) || g_file_test(bw, G_FILE_TEST_EXISTS)) {
                g_test_message("this host has blkio weights: not refused");
                continue;
            }
        }
        g_autofree char *msg = call_err(s, "domain-start", name_args(name), VMM_PROTO_GENERIC_ERROR);
        g_test_message("%s: %s", name, msg);
        g_assert_nonnull(strstr(msg, cases[i].msg));
        g_assert_cmpuint(count_workers(&v, name), ==, 0);
        g_autofree char *st = domain_state(s, name);
        g_assert_cmpstr(st, ==, "shutoff");
        g_autofree char *self_bio = task_group("/proc/self", "blkio");
        g_autofree char *grp = g_strdup_printf("%s/%s/%s.vmmd", self_bio, part, name);
        g_assert_false(g_file_test(grp, G_FILE_TEST_EXISTS));
    }
    /* a pin on CPUs the host does not have: the worker started, the pin
     * fails, the start fails naming the vCPU, and nothing is left */
    Dom d = { .name = "farpin" };
    g_autofree char *xml = tuned_xml(&v, &d, "  <vcpu>1</vcpu>\n"
                                     "  <cputune><vcpupin vcpu='0' cpuset='1000'/></cputune>\n");
    define_xml(s, xml);
    g_autofree char *msg = call_err(s, "domain-start", name_args("farpin"),
                                    VMM_PROTO_OPERATION_INVALID);
    g_test_message("farpin: %s", msg);
    g_assert_nonnull(strstr(msg, "cannot pin vCPU 0 (thread "));
    g_assert_nonnull(strstr(msg, "sched_setaffinity: Invalid argument"));
    g_assert_cmpuint(count_workers(&v, "farpin"), ==, 0);
    g_autofree char *self_mem = task_group("/proc/self", "memory");
    g_autofree char *grp = g_strdup_printf("%s/%s/farpin.vmmd", self_mem, part);
    g_assert_false(g_file_test(grp, G_FILE_TEST_EXISTS));
    vmm_proto_sync_free(g_steal_pointer(&s));
    vmmd_stop(&v, SIGTERM);
    remove_partition(part);
    vmmd_cleanup(&v);
}

/* Two daemons given one partition: the second may not take the group of
 * the first one's running VM (whose threads all sit in vcpuN/ and
 * emulator/), and leaves it alone. */
static void test_shared_partition(void)
{
    if (!have_v1("cpu") || !have_v1("memory")) {
        g_test_skip("cgroup v1 cpu and memory controllers not mounted");
        return;
    }
    Vmmd a, b;
    vmmd_init(&a);
    g_autofree char *part = write_conf(&a, NULL);
    vmmd_init(&b);
    g_assert_cmpint(g_mkdir_with_parents(b.cfg, 0755), ==, 0);
    g_autofree char *conf_a = g_build_filename(a.cfg, "vmmd.conf", NULL);
    g_autofree char *conf_b = g_build_filename(b.cfg, "vmmd.conf", NULL);
    g_autofree char *text = read_file(conf_a);
    g_assert_true(g_file_set_contents(conf_b, text, -1, NULL));
    vmmd_start(&a);
    g_autoptr(VmmProtoSync) sa = connect_retry(&a, a.sock, 5000);
    Dom d = { .name = "twin" };
    const char *tune = "  <vcpu>1</vcpu>\n"
                       "  <cputune><period>100000</period><quota>50000</quota></cputune>\n";
    g_autofree char *xa = tuned_xml(&a, &d, tune);
    define_xml(sa, xa);
    start_idle(sa, &a, "twin");
    int pid = worker_pid_of(&a, "twin");
    g_autofree char *proc = g_strdup_printf("/proc/%d", pid);
    g_autofree char *emu = task_group(proc, "cpu");
    g_assert_true(g_str_has_suffix(emu, "twin.vmmd/emulator"));

    current = &b;
    vmmd_start(&b);
    g_autoptr(VmmProtoSync) sb = connect_retry(&b, b.sock, 5000);
    g_autofree char *xb = tuned_xml(&b, &d, tune);
    define_xml(sb, xb);
    g_autofree char *msg = call_err(sb, "domain-start", name_args("twin"),
                                    VMM_PROTO_GENERIC_ERROR);
    g_test_message("second daemon: %s", msg);
    g_assert_nonnull(strstr(msg, "twin.vmmd is in use by process"));
    g_assert_cmpuint(count_workers(&b, "twin"), ==, 0);
    /* the first VM keeps its groups */
    g_autofree char *emu2 = task_group(proc, "cpu");
    g_assert_cmpstr(emu2, ==, emu);
    g_autofree char *q = cg_read(emu, "../vcpu0/cpu.cfs_quota_us");
    g_assert_cmpstr(q, ==, "50000");
    vmm_proto_sync_free(g_steal_pointer(&sb));
    vmmd_stop(&b, SIGTERM);
    vmmd_cleanup(&b);

    current = &a;
    domain_op(sa, "domain-destroy", "twin");
    g_autofree char *vm = g_path_get_dirname(emu);
    g_assert_false(g_file_test(vm, G_FILE_TEST_EXISTS));
    vmm_proto_sync_free(g_steal_pointer(&sa));
    vmmd_stop(&a, SIGTERM);
    remove_partition(part);
    vmmd_cleanup(&a);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGABRT, on_abort);
    g_autofree char *kit = harness_path("tests/guest/guestkit.elf");
    if (access("/dev/kvm", R_OK | W_OK) != 0 || !g_file_test(kit, G_FILE_TEST_EXISTS)) {
        g_test_message("SKIP: no /dev/kvm or guest kit");
        printf("1..0 # SKIP no /dev/kvm or guest kit\n");
        return 0;
    }
    if (geteuid() != 0) {
        printf("1..0 # SKIP making cgroups needs root\n");
        return 0;
    }
    g_test_add_func("/cgroup/limits", test_limits);
    g_test_add_func("/cgroup/oom", test_oom);
    g_test_add_func("/cgroup/refused", test_refused);
    g_test_add_func("/cgroup/shared-partition", test_shared_partition);
    return g_test_run();
}
