/* Per-VM cgroups, as libvirt's QEMU driver makes them without systemd.
 *
 * Each running domain gets a group NAME.vmmd under a partition (vmmd.conf
 * [cgroup] partition=, default "machine") that sits below the daemon's own
 * cgroup, per controller: cpu, cpuacct, memory and blkio on a v1 host, one
 * group with cpu, memory and io on a v2 host (used when a cgroup2 mount
 * offers cpu or memory; a cgroup2 beside v1 ones, as systemd's hybrid
 * layout has, is not). The worker enters its groups between fork and exec,
 * so everything it allocates is charged there. With per-vCPU <period> or
 * <quota>, or <emulator_period>/<emulator_quota>, the cpu group holds
 * libvirt's layout: vcpuN/ for each vCPU thread and emulator/ for the
 * rest (threads are moved once the worker answers, and again after a guest
 * reset, which makes new vCPU threads). Pinning (<vcpupin>, <emulatorpin>)
 * is sched_setaffinity on the worker's threads, from the daemon: the
 * sandboxed worker needs no system call for it.
 *
 * A host without the controller a setting needs refuses the domain's
 * start, naming the controller or file; nothing is silently dropped. */
#include "config.h"
#include "daemon/vmmd.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>

#define GROUP_SUFFIX ".vmmd"
#define RMDIR_TRIES 50          /* x 10 ms: an exiting worker leaves its group late */

static const char *const v1_names[VMMD_CG_N] = { "cpu", "cpuacct", "memory", "blkio" };
static const char *const v2_names[VMMD_CG_N] = { "cpu", "cpu", "memory", "io" };

struct VmmdCgroup {
    bool v2;
    char *dir[VMMD_CG_N];        /* the VM's group per controller, NULL: none */
    bool vcpu_layout;            /* vcpuN/ and emulator/ under dir[CPU] */
    unsigned vcpus;
};

/* ------------------------------------------------------------------------ */
/* the host                                                                 */

/* The group of controller `ctrl` (v1), or the v2 one (ctrl NULL), in the
 * text of a /proc/PID/cgroup file. */
static char *group_in(const char *text, const char *ctrl)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, ":", 3);
        if (g_strv_length(f) != 3)
            continue;
        if (!ctrl && !strcmp(f[0], "0") && !*f[1])
            return g_strdup(f[2]);
        if (ctrl) {
            g_auto(GStrv) cs = g_strsplit(f[1], ",", -1);
            if (g_strv_contains((const char *const *)cs, ctrl))
                return g_strdup(f[2]);
        }
    }
    return NULL;
}

static char *own_path(const char *ctrl)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents("/proc/self/cgroup", &text, NULL, NULL))
        return NULL;
    return group_in(text, ctrl);
}

/* The mount point and root of the cgroup (v1, with `ctrl` among its
 * options) or cgroup2 (ctrl NULL) hierarchy, from /proc/self/mountinfo. */
static bool find_mount(const char *ctrl, char **mnt, char **root)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents("/proc/self/mountinfo", &text, NULL, NULL))
        return false;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        char *sep = strstr(*l, " - ");
        if (!sep)
            continue;
        g_auto(GStrv) pre = g_strsplit(*l, " ", 6);
        g_auto(GStrv) post = g_strsplit(sep + 3, " ", 3);
        if (g_strv_length(pre) < 5 || g_strv_length(post) < 3)
            continue;
        g_strchomp(post[2]);
        if (ctrl) {
            g_auto(GStrv) opts = g_strsplit(post[2], ",", -1);
            if (strcmp(post[0], "cgroup") || !g_strv_contains((const char *const *)opts, ctrl))
                continue;
        } else if (strcmp(post[0], "cgroup2")) {
            continue;
        }
        *root = g_strdup(pre[3]);
        *mnt = g_strdup(pre[4]);
        return true;
    }
    return false;
}

/* mount + (own path relative to the mount's root) + partition */
static char *partition_dir(const char *mnt, const char *root, const char *own,
                           const char *partition)
{
    const char *rel = own;
    if (strcmp(root, "/") && g_str_has_prefix(own, root))
        rel = own + strlen(root);
    if (partition[0] == '/')   /* absolute: from the hierarchy's root */
        return g_build_filename(mnt, partition, NULL);
    return g_build_filename(mnt, rel, partition, NULL);
}

static char *read_text(const char *dir, const char *file)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);
    char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    return g_strchomp(text);
}

static bool write_text(const char *dir, const char *file, const char *value, GError **err)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    ssize_t n = -1;
    if (fd >= 0) {
        n = write(fd, value, strlen(value));
        int e = errno;
        close(fd);
        errno = e;
    }
    if (n == (ssize_t)strlen(value))
        return true;
    int e = errno;
    g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e),
                "cannot write '%s' to %s: %s", value, path, g_strerror(e));
    return false;
}

void vmmd_cgroup_host_init(VmmDaemon *d)
{
    const char *part = d->cgroup_partition ? d->cgroup_partition : "machine";
    g_autofree char *mnt = NULL, *root = NULL;
    /* v2 when a cgroup2 hierarchy has the controllers */
    if (find_mount(NULL, &mnt, &root)) {
        g_autofree char *own = own_path(NULL);
        g_autofree char *ctrls = read_text(mnt, "cgroup.controllers");
        g_auto(GStrv) have = g_strsplit(ctrls ? ctrls : "", " ", -1);
        /* a hybrid host's cgroup2 may hold only what v1 left (hugetlb) */
        if (own && (g_strv_contains((const char *const *)have, "cpu") ||
                    g_strv_contains((const char *const *)have, "memory"))) {
            d->cgroup_v2 = true;
            g_autofree char *base = partition_dir(mnt, root, own, part);
            for (int c = 0; c < VMMD_CG_N; c++)
                d->cgroup_base[c] = g_strdup(base);
            vmmd_log(d, NULL, LOG_INFO, "cgroups: v2, VMs under %s (controllers: %s)", base,
                     ctrls);
            return;
        }
    }
    GString *found = g_string_new(NULL);
    for (int c = 0; c < VMMD_CG_N; c++) {
        g_autofree char *m = NULL, *r = NULL, *own = own_path(v1_names[c]);
        if (!own || !find_mount(v1_names[c], &m, &r))
            continue;
        d->cgroup_base[c] = partition_dir(m, r, own, part);
        g_string_append_printf(found, " %s=%s", v1_names[c], d->cgroup_base[c]);
    }
    vmmd_log(d, NULL, LOG_INFO, "cgroups: v1, VMs under%s", found->len ? found->str : " nothing "
             "(no controller is mounted)");
    g_string_free(found, TRUE);
}

/* ------------------------------------------------------------------------ */
/* what a definition needs                                                  */

static const char *ctrl_name(const VmmDaemon *d, int c)
{
    return d->cgroup_v2 ? v2_names[c] : v1_names[c];
}

static bool need_ctrl(const VmmDaemon *d, int c, const char *what, GError **err)
{
    if (d->cgroup_base[c])
        return true;
    g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "%s needs the cgroup%s '%s' controller, which this host does not have%s",
                what, d->cgroup_v2 ? " v2" : " v1", ctrl_name(d, c),
                d->cgroup_v2 ? " enabled for vmmd's partition" : " mounted");
    return false;
}

static bool vcpu_layout(const VmmTuneDef *t)
{
    return t && (t->period || t->quota || t->emulator_period || t->emulator_quota);
}

/* The device number of a <blkiotune> path, which must be a block device. */
static bool blk_devno(const char *path, char out[32], GError **err)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        int e = errno;
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e),
                    "<blkiotune> device '%s': %s", path, g_strerror(e));
        return false;
    }
    if (!S_ISBLK(st.st_mode)) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "<blkiotune> device '%s' is not a block device (the blkio controller "
                    "limits block devices only)", path);
        return false;
    }
    g_snprintf(out, 32, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
    return true;
}

/* A file the setting needs in the VM's group, or a refusal naming both. */
static bool need_file(const char *dir, const char *file, const char *what, GError **err)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);
    if (g_file_test(path, G_FILE_TEST_EXISTS))
        return true;
    g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "%s needs %s, which this host's kernel does not offer%s", what, path,
                strstr(file, "memsw") ? " (swap accounting is off: swapaccount=1)"
                : strstr(file, "weight") ? " (proportional I/O weights need the BFQ "
                                           "I/O scheduler)" : "");
    return false;
}

/* The first of `files` that exists in dir, or NULL. */
static const char *first_file(const char *dir, const char *const *files)
{
    for (; *files; files++) {
        g_autofree char *p = g_build_filename(dir, *files, NULL);
        if (g_file_test(p, G_FILE_TEST_EXISTS))
            return *files;
    }
    return NULL;
}

bool vmmd_cgroup_check(VmmDaemon *d, const VmmDomainDef *def, GError **err)
{
    const VmmTuneDef *t = def->tune;
    if (vmm_tune_def_needs_cpu(t) && !need_ctrl(d, VMMD_CG_CPU, "<cputune>", err))
        return false;
    if (vmm_tune_def_needs_memory(t) && !need_ctrl(d, VMMD_CG_MEMORY, "<memtune>", err))
        return false;
    if (vmm_tune_def_needs_blkio(t) && !need_ctrl(d, VMMD_CG_BLKIO, "<blkiotune>", err))
        return false;
    if (d->cgroup_v2 && vcpu_layout(t)) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "<cputune> <period>, <quota>, <emulator_period> and <emulator_quota> "
                    "limit single threads, which needs cgroup v1 (vmmd does not make cgroup "
                    "v2 threaded groups); on this v2 host use <shares>, <global_period> and "
                    "<global_quota>");
        return false;
    }
    for (guint i = 0; t && i < t->blkio_devices->len; i++) {
        char devno[32];
        if (!blk_devno(((VmmBlkioDeviceDef *)g_ptr_array_index(t->blkio_devices, i))->path,
                       devno, err))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* making and removing groups                                               */

static char *group_name(const char *dom_name)
{
    return g_strconcat(dom_name, GROUP_SUFFIX, NULL);
}

/* cpu and cpuacct may be one hierarchy: each directory once. */
static bool seen_before(const VmmdCgroup *cg, int c)
{
    for (int k = 0; k < c; k++)
        if (cg->dir[k] && !strcmp(cg->dir[k], cg->dir[c]))
            return true;
    return false;
}

static void rmdir_retry(const char *dir)
{
    for (int i = 0; i < RMDIR_TRIES; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY)
            break;
        g_usleep(10 * 1000);
    }
}

static void remove_dirs(VmmdCgroup *cg)
{
    for (int c = 0; c < VMMD_CG_N; c++) {
        if (!cg->dir[c] || seen_before(cg, c))
            continue;
        if (c == VMMD_CG_CPU || c == VMMD_CG_CPUACCT) {
            g_autoptr(GDir) dir = g_dir_open(cg->dir[c], 0, NULL);
            const char *n;
            while (dir && (n = g_dir_read_name(dir))) {
                g_autofree char *p = g_build_filename(cg->dir[c], n, NULL);
                if (g_file_test(p, G_FILE_TEST_IS_DIR))
                    rmdir_retry(p);
            }
        }
        rmdir_retry(cg->dir[c]);
    }
}

void vmmd_cgroup_free(VmmdCgroup *cg)
{
    if (!cg)
        return;
    for (int c = 0; c < VMMD_CG_N; c++)
        g_free(cg->dir[c]);
    g_free(cg);
}

void vmmd_cgroup_remove(VmmdCgroup *cg)
{
    if (!cg)
        return;
    remove_dirs(cg);
    vmmd_cgroup_free(cg);
}

/* v2: the partition's controllers, enabled on the way down from the
 * daemon's group (where that is allowed; what is missing is refused when a
 * setting needs it). */
static void v2_enable(const char *base)
{
    static const char *const ctrls[] = { "+cpu", "+memory", "+io" };
    g_autofree char *parent = g_path_get_dirname(base);
    for (unsigned i = 0; i < G_N_ELEMENTS(ctrls); i++) {
        write_text(parent, "cgroup.subtree_control", ctrls[i], NULL);
        write_text(base, "cgroup.subtree_control", ctrls[i], NULL);
    }
}

static bool make_dir(const char *dir, GError **err)
{
    if (g_mkdir_with_parents(dir, 0755) == 0)
        return true;
    int e = errno;
    g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot create cgroup %s: %s",
                dir, g_strerror(e));
    return false;
}

static char *quota_text(int64_t quota)
{
    return g_strdup_printf("%" G_GINT64_FORMAT, quota);
}

/* v1 cpu: period before quota (the kernel checks the pair). */
static bool v1_bandwidth(const char *dir, uint64_t period, int64_t quota, GError **err)
{
    g_autofree char *p = g_strdup_printf("%" G_GUINT64_FORMAT, period);
    g_autofree char *q = quota_text(quota);
    return (!period || write_text(dir, "cpu.cfs_period_us", p, err)) &&
           (!quota || write_text(dir, "cpu.cfs_quota_us", q, err));
}

static bool apply_cpu(VmmdCgroup *cg, const VmmTuneDef *t, GError **err)
{
    const char *dir = cg->dir[VMMD_CG_CPU];
    if (!dir || !t)
        return true;
    if (cg->v2) {
        if (t->has_shares) {
            /* libvirt's conversion of shares (2..262144) to weight (1..10000) */
            g_autofree char *w = g_strdup_printf("%u", 1 + (unsigned)(((uint64_t)t->shares - 2) *
                                                                    9999 / 262142));
            if (!need_file(dir, "cpu.weight", "<cputune><shares>", err) ||
                !write_text(dir, "cpu.weight", w, err))
                return false;
        }
        if (t->global_period || t->global_quota) {
            g_autofree char *q = t->global_quota > 0 ? quota_text(t->global_quota)
                                                     : g_strdup("max");
            g_autofree char *max = g_strdup_printf("%s %" G_GUINT64_FORMAT, q,
                                                   t->global_period ? t->global_period : 100000);
            if (!need_file(dir, "cpu.max", "<cputune><global_quota>", err) ||
                !write_text(dir, "cpu.max", max, err))
                return false;
        }
        return true;
    }
    if (t->has_shares) {
        g_autofree char *s = g_strdup_printf("%u", t->shares);
        if (!write_text(dir, "cpu.shares", s, err))
            return false;
    }
    if (!v1_bandwidth(dir, t->global_period, t->global_quota, err))
        return false;
    if (!cg->vcpu_layout)
        return true;
    g_autofree char *emu = g_build_filename(dir, "emulator", NULL);
    if (!make_dir(emu, err) || !v1_bandwidth(emu, t->emulator_period, t->emulator_quota, err))
        return false;
    for (unsigned i = 0; i < cg->vcpus; i++) {
        g_autofree char *name = g_strdup_printf("vcpu%u", i);
        g_autofree char *v = g_build_filename(dir, name, NULL);
        if (!make_dir(v, err) || !v1_bandwidth(v, t->period, t->quota, err))
            return false;
    }
    return true;
}

static bool write_bytes(const char *dir, const char *file, uint64_t kib, GError **err)
{
    g_autofree char *v = g_strdup_printf("%" G_GUINT64_FORMAT, kib * 1024);
    return write_text(dir, file, v, err);
}

static bool apply_memory(VmmdCgroup *cg, const VmmTuneDef *t, GError **err)
{
    const char *dir = cg->dir[VMMD_CG_MEMORY];
    if (!dir || !vmm_tune_def_needs_memory(t))
        return true;
    if (cg->v2) {
        if (t->swap_hard_limit_kib &&
            !need_file(dir, "memory.swap.max", "<memtune><swap_hard_limit>", err))
            return false;
        /* libvirt: swap.max is what swap_hard_limit allows beyond hard_limit */
        return (!t->hard_limit_kib || write_bytes(dir, "memory.max", t->hard_limit_kib, err)) &&
               (!t->soft_limit_kib || write_bytes(dir, "memory.high", t->soft_limit_kib, err)) &&
               (!t->swap_hard_limit_kib ||
                write_bytes(dir, "memory.swap.max",
                            t->swap_hard_limit_kib - t->hard_limit_kib, err));
    }
    if (t->swap_hard_limit_kib &&
        !need_file(dir, "memory.memsw.limit_in_bytes", "<memtune><swap_hard_limit>", err))
        return false;
    /* memsw must stay >= the memory limit: the limit first, as libvirt */
    return (!t->hard_limit_kib ||
            write_bytes(dir, "memory.limit_in_bytes", t->hard_limit_kib, err)) &&
           (!t->soft_limit_kib ||
            write_bytes(dir, "memory.soft_limit_in_bytes", t->soft_limit_kib, err)) &&
           (!t->swap_hard_limit_kib ||
            write_bytes(dir, "memory.memsw.limit_in_bytes", t->swap_hard_limit_kib, err));
}

static bool apply_blkio(VmmdCgroup *cg, const VmmTuneDef *t, GError **err)
{
    const char *dir = cg->dir[VMMD_CG_BLKIO];
    if (!dir || !vmm_tune_def_needs_blkio(t))
        return true;
    static const char *const v1_weight[] = { "blkio.weight", "blkio.bfq.weight", NULL };
    static const char *const v2_weight[] = { "io.weight", "io.bfq.weight", NULL };
    const char *wfile = first_file(dir, cg->v2 ? v2_weight : v1_weight);
    bool dev_weight = false;
    for (guint i = 0; i < t->blkio_devices->len; i++)
        dev_weight |= ((VmmBlkioDeviceDef *)g_ptr_array_index(t->blkio_devices, i))->weight != 0;
    if ((t->blkio_weight || dev_weight) && !wfile)
        return need_file(dir, cg->v2 ? "io.weight" : "blkio.weight",
                         "<blkiotune><weight>", err);
    if (t->blkio_weight) {
        g_autofree char *w = cg->v2 ? g_strdup_printf("default %u", t->blkio_weight)
                                    : g_strdup_printf("%u", t->blkio_weight);
        if (!write_text(dir, wfile, w, err))
            return false;
    }
    for (guint i = 0; i < t->blkio_devices->len; i++) {
        const VmmBlkioDeviceDef *b = g_ptr_array_index(t->blkio_devices, i);
        char devno[32];
        if (!blk_devno(b->path, devno, err))
            return false;
        if (b->weight) {
            g_autofree char *w = g_strdup_printf("%s %u", devno, b->weight);
            g_autofree char *f = g_strconcat(wfile, cg->v2 ? "" : "_device", NULL);
            if (!write_text(dir, f, w, err))
                return false;
        }
        if (cg->v2) {
            if (!(b->read_bytes_sec || b->write_bytes_sec || b->read_iops_sec ||
                  b->write_iops_sec))
                continue;
            if (!need_file(dir, "io.max", "<blkiotune><device> limits", err))
                return false;
            static const char *const keys[] = { "rbps", "wbps", "riops", "wiops" };
            const uint64_t lim[] = { b->read_bytes_sec, b->write_bytes_sec, b->read_iops_sec,
                                     b->write_iops_sec };
            GString *m = g_string_new(devno);
            for (unsigned k = 0; k < G_N_ELEMENTS(keys); k++) {
                if (lim[k])   /* io.max: "max" is no limit, so is leaving it out */
                    g_string_append_printf(m, " %s=%" G_GUINT64_FORMAT, keys[k], lim[k]);
            }
            bool ok = write_text(dir, "io.max", m->str, err);
            g_string_free(m, TRUE);
            if (!ok)
                return false;
            continue;
        }
        static const char *const files[] = { "blkio.throttle.read_bps_device",
                                              "blkio.throttle.write_bps_device",
                                              "blkio.throttle.read_iops_device",
                                              "blkio.throttle.write_iops_device" };
        const uint64_t vals[] = { b->read_bytes_sec, b->write_bytes_sec, b->read_iops_sec,
                                  b->write_iops_sec };
        for (unsigned k = 0; k < G_N_ELEMENTS(files); k++) {
            if (!vals[k])
                continue;
            g_autofree char *v = g_strdup_printf("%s %" G_GUINT64_FORMAT, devno, vals[k]);
            if (!need_file(dir, files[k], "<blkiotune><device> limits", err) ||
                !write_text(dir, files[k], v, err))
                return false;
        }
    }
    return true;
}

/* The processes in a group or the groups below it (vcpuN/, emulator/
 * hold all of a worker's threads), or NULL when there is none. */
static char *group_procs(const char *dir)
{
    g_autofree char *procs = read_text(dir, "cgroup.procs");
    if (procs && *procs)
        return g_steal_pointer(&procs);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *n;
    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *sub = g_build_filename(dir, n, NULL);
        if (!g_file_test(sub, G_FILE_TEST_IS_DIR))
            continue;
        char *p = group_procs(sub);
        if (p)
            return p;
    }
    return NULL;
}

VmmdCgroup *vmmd_cgroup_create(VmmDaemon *d, const char *name, const VmmDomainDef *def,
                               GError **err)
{
    if (!vmmd_cgroup_check(d, def, err))
        return NULL;
    VmmdCgroup *cg = g_new0(VmmdCgroup, 1);
    cg->v2 = d->cgroup_v2;
    cg->vcpus = def->vcpus;
    cg->vcpu_layout = vcpu_layout(def->tune);
    g_autofree char *leaf = group_name(name);
    if (cg->v2 && d->cgroup_base[0]) {
        if (!make_dir(d->cgroup_base[0], err))
            goto fail;
        v2_enable(d->cgroup_base[0]);
    }
    for (int c = 0; c < VMMD_CG_N; c++) {
        if (!d->cgroup_base[c])
            continue;
        cg->dir[c] = g_build_filename(d->cgroup_base[c], leaf, NULL);
        if (seen_before(cg, c))
            continue;
        /* a group left by a worker that died with a previous daemon */
        if (g_file_test(cg->dir[c], G_FILE_TEST_IS_DIR)) {
            g_autofree char *procs = group_procs(cg->dir[c]);
            if (procs) {
                g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                            "cgroup %s is in use by process %s (another vmmd with the same "
                            "[cgroup] partition?)", cg->dir[c], procs);
                g_clear_pointer(&cg->dir[c], g_free);
                goto fail;
            }
            VmmdCgroup old = { .dir = { [0] = cg->dir[c] } };
            remove_dirs(&old);
        }
        GError *e = NULL;
        if (!make_dir(cg->dir[c], &e)) {
            /* not allowed to make groups (not root, read-only): a domain
             * without tuning runs without them */
            const VmmTuneDef *t = def->tune;
            if ((g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_ACCES) ||
                 g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_PERM) ||
                 g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_ROFS)) &&
                !vmm_tune_def_needs_cpu(t) && !vmm_tune_def_needs_memory(t) &&
                !vmm_tune_def_needs_blkio(t)) {
                vmmd_log(d, NULL, LOG_WARNING, "domain '%s' runs without cgroups: %s", name,
                         e->message);
                g_error_free(e);
                g_clear_pointer(&cg->dir[c], g_free);
                vmmd_cgroup_remove(cg);
                return NULL;
            }
            g_propagate_error(err, e);
            goto fail;
        }
    }
    if (cg->v2 && cg->dir[0]) {
        g_autofree char *ctrls = read_text(cg->dir[0], "cgroup.controllers");
        g_auto(GStrv) have = g_strsplit(ctrls ? ctrls : "", " ", -1);
        for (int c = 0; c < VMMD_CG_N; c++)
            if (!g_strv_contains((const char *const *)have, v2_names[c]))
                g_clear_pointer(&cg->dir[c], g_free);
        VmmDaemon view = *d;     /* what the group really offers */
        for (int c = 0; c < VMMD_CG_N; c++)
            view.cgroup_base[c] = cg->dir[c];
        if (!vmmd_cgroup_check(&view, def, err))
            goto fail;
    }
    if (!apply_cpu(cg, def->tune, err) || !apply_memory(cg, def->tune, err) ||
        !apply_blkio(cg, def->tune, err))
        goto fail;
    return cg;
fail:
    vmmd_cgroup_remove(cg);
    return NULL;
}

/* "DIR/cgroup.procs" for each group the worker enters (NULL-terminated). */
char **vmmd_cgroup_procs_files(const VmmdCgroup *cg)
{
    GPtrArray *a = g_ptr_array_new();
    for (int c = 0; cg && c < VMMD_CG_N; c++) {
        if (!cg->dir[c] || seen_before(cg, c))
            continue;
        /* with the per-vCPU layout, the process starts in emulator/ */
        g_autofree char *dir = c == VMMD_CG_CPU && cg->vcpu_layout
                                   ? g_build_filename(cg->dir[c], "emulator", NULL)
                                   : g_strdup(cg->dir[c]);
        g_ptr_array_add(a, g_build_filename(dir, "cgroup.procs", NULL));
    }
    g_ptr_array_add(a, NULL);
    return (char **)g_ptr_array_free(a, FALSE);
}

/* ------------------------------------------------------------------------ */
/* threads                                                                  */

static void cpuset_to_mask(const VmmCpuSet *s, cpu_set_t *m)
{
    CPU_ZERO(m);
    for (unsigned c = 0; c < VMM_CPUSET_MAX && c < CPU_SETSIZE; c++)
        if (vmm_cpuset_has(s, c))
            CPU_SET(c, m);
}

static bool set_affinity(pid_t tid, const cpu_set_t *m, const char *what, GError **err)
{
    if (sched_setaffinity(tid, sizeof(*m), m) == 0)
        return true;
    int e = errno;
    g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e),
                "cannot pin %s (thread %d): sched_setaffinity: %s%s", what, (int)tid,
                g_strerror(e), e == EINVAL ? " (no CPU of the set is online and allowed)" : "");
    return false;
}

bool vmmd_cgroup_place_threads(VmmdCgroup *cg, pid_t pid, const VmmDomainDef *def,
                               GError **err)
{
    const VmmTuneDef *t = def->tune;
    bool pins = t && (t->vcpupins->len || t->has_emulatorpin);
    if (!pins && !(cg && cg->vcpu_layout))
        return true;
    /* vCPUs without <vcpupin> may run on any CPU the daemon may */
    cpu_set_t all, emu;
    if (sched_getaffinity(0, sizeof(all), &all) < 0)
        CPU_ZERO(&all);
    if (t && t->has_emulatorpin)
        cpuset_to_mask(&t->emulatorpin, &emu);
    g_autofree char *tasks = g_strdup_printf("/proc/%d/task", (int)pid);
    g_autoptr(GDir) dir = g_dir_open(tasks, 0, NULL);
    const char *tid_s;
    while (dir && (tid_s = g_dir_read_name(dir))) {
        pid_t tid = (pid_t)g_ascii_strtoll(tid_s, NULL, 10);
        g_autofree char *comm_path = g_build_filename(tasks, tid_s, "comm", NULL);
        g_autofree char *comm = NULL;
        if (tid <= 0 || !g_file_get_contents(comm_path, &comm, NULL, NULL))
            continue;   /* gone meanwhile */
        g_strchomp(comm);
        unsigned vcpu = 0;
        /* the worker names its vCPU threads "vcpuN" (pthread_setname_np) */
        bool is_vcpu = g_str_has_prefix(comm, "vcpu") && comm[4] &&
                       strspn(comm + 4, "0123456789") == strlen(comm + 4) &&
                       (vcpu = (unsigned)g_ascii_strtoull(comm + 4, NULL, 10)) < def->vcpus;
        if (cg && cg->vcpu_layout) {
            g_autofree char *sub = is_vcpu ? g_strdup_printf("vcpu%u", vcpu) : g_strdup("emulator");
            g_autofree char *subdir = g_build_filename(cg->dir[VMMD_CG_CPU], sub, NULL);
            GError *e = NULL;
            if (!write_text(subdir, "tasks", tid_s, &e)) {
                if (!g_file_test(comm_path, G_FILE_TEST_EXISTS)) {
                    g_error_free(e);    /* the thread ended meanwhile */
                    continue;
                }
                g_propagate_error(err, e);
                return false;
            }
        }
        if (!pins)
            continue;
        if (is_vcpu) {
            const VmmVcpuPinDef *p = vmm_tune_def_vcpupin(t, vcpu);
            cpu_set_t m;
            if (p)
                cpuset_to_mask(&p->cpus, &m);
            g_autofree char *what = g_strdup_printf("vCPU %u", vcpu);
            if (!set_affinity(tid, p ? &m : &all, what, err) &&
                g_file_test(comm_path, G_FILE_TEST_EXISTS))
                return false;
            g_clear_error(err);
        } else if (t->has_emulatorpin) {
            if (!set_affinity(tid, &emu, "an emulator thread", err) &&
                g_file_test(comm_path, G_FILE_TEST_EXISTS))
                return false;
            g_clear_error(err);
        }
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* re-attach, OOM, statistics                                               */

VmmdCgroup *vmmd_cgroup_find(VmmDaemon *d, const char *name, pid_t pid, const VmmDomainDef *def)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cgroup", (int)pid);
    g_autofree char *text = NULL;
    if (pid > 0 && !g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    g_autofree char *leaf = group_name(name);
    VmmdCgroup *cg = g_new0(VmmdCgroup, 1);
    cg->v2 = d->cgroup_v2;
    cg->vcpus = def->vcpus;
    cg->vcpu_layout = !cg->v2 && vcpu_layout(def->tune);
    bool any = false;
    for (int c = 0; c < VMMD_CG_N; c++) {
        if (!d->cgroup_base[c])
            continue;
        /* the group is where the daemon puts it; the worker must be in it
         * (or in its emulator/ subgroup) */
        g_autofree char *dir = g_build_filename(d->cgroup_base[c], leaf, NULL);
        if (pid <= 0) {   /* the worker is gone: whatever it left */
            if (g_file_test(dir, G_FILE_TEST_IS_DIR)) {
                cg->dir[c] = g_steal_pointer(&dir);
                any = true;
            }
            continue;
        }
        g_autofree char *m = NULL, *r = NULL;
        if (!find_mount(cg->v2 ? NULL : v1_names[c], &m, &r))
            continue;
        g_autofree char *rel = g_strdup(dir + strlen(m));
        g_autofree char *emu = g_build_filename(rel, "emulator", NULL);
        g_autofree char *in = group_in(text, cg->v2 ? NULL : v1_names[c]);
        const char *p = in;
        if (p && strcmp(r, "/") && g_str_has_prefix(p, r))
            p += strlen(r);
        if (p && (!strcmp(p, rel) || !strcmp(p, emu))) {
            cg->dir[c] = g_strdup(dir);
            any = true;
        }
    }
    if (!any) {
        vmmd_cgroup_free(cg);
        return NULL;
    }
    return cg;
}

const char *vmmd_cgroup_dir(const VmmdCgroup *cg, int ctrl)
{
    return cg ? cg->dir[ctrl] : NULL;
}

/* "KEY N" in a flat keyed file */
static bool keyed_value(const char *dir, const char *file, const char *key, guint64 *out)
{
    g_autofree char *text = read_text(dir, file);
    if (!text)
        return false;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, " ", 2);
        if (f[0] && f[1] && !strcmp(f[0], key)) {
            *out = g_ascii_strtoull(f[1], NULL, 10);
            return true;
        }
    }
    return false;
}

guint64 vmmd_cgroup_oom_kills(const VmmdCgroup *cg)
{
    guint64 n = 0;
    if (!cg || !cg->dir[VMMD_CG_MEMORY])
        return 0;
    /* v1: memory.oom_control's oom_kill (kernel 4.13+); v2: memory.events */
    keyed_value(cg->dir[VMMD_CG_MEMORY], cg->v2 ? "memory.events" : "memory.oom_control",
                "oom_kill", &n);
    return n;
}

bool vmmd_cgroup_cpu_times(const VmmdCgroup *cg, guint64 *total, guint64 *user, guint64 *sys)
{
    const char *dir = cg ? cg->dir[VMMD_CG_CPUACCT] : NULL;
    if (!dir)
        return false;
    if (cg->v2) {
        guint64 u, us, ss;
        if (!keyed_value(dir, "cpu.stat", "usage_usec", &u) ||
            !keyed_value(dir, "cpu.stat", "user_usec", &us) ||
            !keyed_value(dir, "cpu.stat", "system_usec", &ss))
            return false;
        *total = u * 1000, *user = us * 1000, *sys = ss * 1000;
        return true;
    }
    g_autofree char *usage = read_text(dir, "cpuacct.usage");
    g_autofree char *uu = read_text(dir, "cpuacct.usage_user");
    g_autofree char *su = read_text(dir, "cpuacct.usage_sys");
    if (!usage || !uu || !su)
        return false;
    *total = g_ascii_strtoull(usage, NULL, 10);
    *user = g_ascii_strtoull(uu, NULL, 10);
    *sys = g_ascii_strtoull(su, NULL, 10);
    return true;
}

/* ------------------------------------------------------------------------ */
/* virsh schedinfo, memtune, blkiotune                                      */

static void add_param(json_object *a, const char *name, char *value)
{
    json_object *p = json_object_new_array();
    json_object_array_add(p, json_object_new_string(name));
    json_object_array_add(p, json_object_new_string(value ? value : ""));
    json_object_array_add(a, p);
    g_free(value);
}

/* A v1 cfs value as virsh prints it (the kernel's -1 for no quota). */
static char *cfs(const char *dir, const char *file)
{
    return dir ? read_text(dir, file) : NULL;
}

/* v2 cpu.max "QUOTA PERIOD": field 0 or 1, "max" as -1 */
static char *cpu_max(const char *dir, int field)
{
    g_autofree char *t = dir ? read_text(dir, "cpu.max") : NULL;
    g_auto(GStrv) f = g_strsplit(t ? t : "", " ", 2);
    if (g_strv_length(f) != 2)
        return NULL;
    return g_strdup(!strcmp(f[field], "max") ? "-1" : f[field]);
}

static char *kib_or_unlimited(const char *dir, const char *file)
{
    g_autofree char *t = dir ? read_text(dir, file) : NULL;
    if (!t)
        return NULL;
    guint64 b = g_ascii_strtoull(t, NULL, 10);
    /* v1's "no limit" is PAGE_COUNTER_MAX pages, v2's is "max" */
    if (!strcmp(t, "max") || b >= (G_MAXINT64 / 4096) * 4096)
        return g_strdup("unlimited");
    return g_strdup_printf("%" G_GUINT64_FORMAT, b / 1024);
}

static char *def_kib(uint64_t kib)
{
    return kib ? g_strdup_printf("%" G_GUINT64_FORMAT, kib) : g_strdup("unlimited");
}

static char *blk_list(const VmmTuneDef *t, size_t off, bool u32)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; t && i < t->blkio_devices->len; i++) {
        const VmmBlkioDeviceDef *b = g_ptr_array_index(t->blkio_devices, i);
        const char *p = (const char *)b + off;
        uint64_t v = u32 ? *(const unsigned *)p : *(const uint64_t *)p;
        if (v)
            g_string_append_printf(s, "%s%s,%" G_GUINT64_FORMAT, s->len ? "," : "", b->path, v);
    }
    return g_string_free(s, FALSE);
}

json_object *vmmd_cgroup_tune_params(const VmmdCgroup *cg, const VmmDomainDef *def,
                                     const char *kind, GError **err)
{
    const VmmTuneDef *t = def->tune;
    json_object *a = json_object_new_array();
    if (!strcmp(kind, "sched")) {
        add_param(a, "Scheduler", g_strdup("posix"));
        const char *dir = cg ? cg->dir[VMMD_CG_CPU] : NULL;
        if (dir && !cg->v2) {
            g_autofree char *v0 = cg->vcpu_layout ? g_build_filename(dir, "vcpu0", NULL) : NULL;
            g_autofree char *emu = cg->vcpu_layout ? g_build_filename(dir, "emulator", NULL)
                                                   : NULL;
            add_param(a, "cpu_shares", read_text(dir, "cpu.shares"));
            add_param(a, "vcpu_period", cfs(v0 ? v0 : dir, "cpu.cfs_period_us"));
            add_param(a, "vcpu_quota", cfs(v0 ? v0 : dir, "cpu.cfs_quota_us"));
            add_param(a, "emulator_period", cfs(emu ? emu : dir, "cpu.cfs_period_us"));
            add_param(a, "emulator_quota", cfs(emu ? emu : dir, "cpu.cfs_quota_us"));
            add_param(a, "global_period", cfs(dir, "cpu.cfs_period_us"));
            add_param(a, "global_quota", cfs(dir, "cpu.cfs_quota_us"));
        } else if (dir) {
            g_autofree char *w = read_text(dir, "cpu.weight");
            guint64 weight = w ? g_ascii_strtoull(w, NULL, 10) : 100;
            /* libvirt's inverse of its shares -> weight conversion */
            add_param(a, "cpu_shares", g_strdup_printf("%" G_GUINT64_FORMAT,
                                                       weight ? 2 + (weight - 1) * 262142 / 9999
                                                              : 0));
            add_param(a, "global_period", cpu_max(dir, 1));
            add_param(a, "global_quota", cpu_max(dir, 0));
        } else {   /* not running, or no cpu group: the definition */
            add_param(a, "cpu_shares", g_strdup_printf("%u", t && t->has_shares ? t->shares
                                                                                : 1024));
            add_param(a, "vcpu_period", g_strdup_printf("%" G_GUINT64_FORMAT, t ? t->period : 0));
            add_param(a, "vcpu_quota", g_strdup_printf("%" G_GINT64_FORMAT, t ? t->quota : 0));
            add_param(a, "emulator_period", g_strdup_printf("%" G_GUINT64_FORMAT,
                                                            t ? t->emulator_period : 0));
            add_param(a, "emulator_quota", g_strdup_printf("%" G_GINT64_FORMAT,
                                                           t ? t->emulator_quota : 0));
            add_param(a, "global_period", g_strdup_printf("%" G_GUINT64_FORMAT,
                                                          t ? t->global_period : 0));
            add_param(a, "global_quota", g_strdup_printf("%" G_GINT64_FORMAT,
                                                         t ? t->global_quota : 0));
        }
    } else if (!strcmp(kind, "memory")) {
        const char *dir = cg ? cg->dir[VMMD_CG_MEMORY] : NULL;
        if (dir) {
            add_param(a, "hard_limit", kib_or_unlimited(dir, cg->v2 ? "memory.max"
                                                                    : "memory.limit_in_bytes"));
            add_param(a, "soft_limit", kib_or_unlimited(dir, cg->v2 ? "memory.high"
                                                                    : "memory.soft_limit_in_bytes"));
            g_autofree char *swap = kib_or_unlimited(dir, cg->v2 ? "memory.swap.max"
                                                                 : "memory.memsw.limit_in_bytes");
            if (swap)
                add_param(a, "swap_hard_limit", g_steal_pointer(&swap));
        } else {
            add_param(a, "hard_limit", def_kib(t ? t->hard_limit_kib : 0));
            add_param(a, "soft_limit", def_kib(t ? t->soft_limit_kib : 0));
            add_param(a, "swap_hard_limit", def_kib(t ? t->swap_hard_limit_kib : 0));
        }
    } else if (!strcmp(kind, "blkio")) {
        /* what the start wrote (it fails otherwise), in virsh's lists */
        add_param(a, "weight", g_strdup_printf("%u", t ? t->blkio_weight : 0));
        add_param(a, "device_weight", blk_list(t, G_STRUCT_OFFSET(VmmBlkioDeviceDef, weight), true));
        add_param(a, "device_read_iops_sec",
                  blk_list(t, G_STRUCT_OFFSET(VmmBlkioDeviceDef, read_iops_sec), true));
        add_param(a, "device_write_iops_sec",
                  blk_list(t, G_STRUCT_OFFSET(VmmBlkioDeviceDef, write_iops_sec), true));
        add_param(a, "device_read_bytes_sec",
                  blk_list(t, G_STRUCT_OFFSET(VmmBlkioDeviceDef, read_bytes_sec), false));
        add_param(a, "device_write_bytes_sec",
                  blk_list(t, G_STRUCT_OFFSET(VmmBlkioDeviceDef, write_bytes_sec), false));
    } else {
        json_object_put(a);
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "unknown tuning kind '%s' (sched, memory or blkio)", kind);
        return NULL;
    }
    return a;
}
