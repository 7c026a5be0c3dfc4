/* The daemon's protocol commands (vmmd-protocol(7)). Arguments are checked
 * strictly, QMP style: a wrong type or an unknown member is an
 * InvalidArgument naming it. Lifecycle commands answer when the operation
 * is done (deferred replies); every state-changing command is logged with
 * the caller's pid, uid and gid. */
#include "config.h"
#include "daemon/vmmd.h"
#include "block/block.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* arguments                                                                */

static bool check_members(json_object *args, const char *const *allowed, GError **err)
{
    if (!args)
        return true;
    json_object_object_foreach(args, key, val) {
        (void)val;
        bool ok = false;
        for (int i = 0; allowed[i]; i++)
            ok |= strcmp(key, allowed[i]) == 0;
        if (!ok) {
            g_autofree char *shown = g_strescape(key, NULL);
            vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT, "unexpected argument '%.64s'",
                                shown);
            return false;
        }
    }
    return true;
}

static json_object *member(json_object *args, const char *key)
{
    json_object *v = NULL;
    if (!args || !json_object_object_get_ex(args, key, &v))
        return NULL;
    return v;
}

static bool arg_string(json_object *args, const char *key, bool required, const char **out,
                       GError **err)
{
    json_object *v = member(args, key);
    *out = NULL;
    if (!v) {
        if (required)
            vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                "missing argument '%s' (a string)", key);
        return !required;
    }
    if (!json_object_is_type(v, json_type_string)) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT, "argument '%s' must be a string",
                            key);
        return false;
    }
    if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                            "argument '%s' must not contain NUL characters", key);
        return false;
    }
    *out = json_object_get_string(v);
    return true;
}

static bool arg_bool(json_object *args, const char *key, bool required, bool dflt, bool *out,
                     GError **err)
{
    json_object *v = member(args, key);
    *out = dflt;
    if (!v) {
        if (required)
            vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                "missing argument '%s' (a boolean)", key);
        return !required;
    }
    if (!json_object_is_type(v, json_type_boolean)) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT, "argument '%s' must be a boolean",
                            key);
        return false;
    }
    *out = json_object_get_boolean(v);
    return true;
}

static bool arg_int(json_object *args, const char *key, bool required, gint64 min, gint64 max,
                    gint64 *out, GError **err)
{
    json_object *v = member(args, key);
    *out = 0;
    if (!v) {
        if (required)
            vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                "missing argument '%s' (an integer)", key);
        return !required;
    }
    if (!json_object_is_type(v, json_type_int)) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                            "argument '%s' must be an integer", key);
        return false;
    }
    gint64 n = json_object_get_int64(v);
    if (n < min || n > max) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                            "argument '%s' is %" G_GINT64_FORMAT "; it must be between %"
                            G_GINT64_FORMAT " and %" G_GINT64_FORMAT, key, n, min, max);
        return false;
    }
    *out = n;
    return true;
}

/* "name" (a name or a uuid) -> the domain. */
static VmmdDomain *arg_domain(VmmDaemon *d, json_object *args, GError **err)
{
    const char *name;
    if (!arg_string(args, "name", true, &name, err))
        return NULL;
    VmmdDomain *dom = vmmd_domain_lookup(d, name);
    if (!dom) {
        g_autofree char *shown = g_strescape(name, NULL);
        vmm_proto_set_error(err, VMM_PROTO_DOMAIN_NOT_FOUND,
                            "no domain with matching name or uuid '%.100s'", shown);
    }
    return dom;
}

static void log_request(VmmDaemon *d, VmmProtoConn *c, const VmmdDomain *dom, const char *cmd)
{
    pid_t pid = -1;
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    vmm_proto_conn_peer(c, &pid, &uid, &gid);
    vmmd_log(d, dom, LOG_INFO, "%s requested by pid %d uid %d gid %d", cmd, (int)pid, (int)uid,
             (int)gid);
}

/* ------------------------------------------------------------------------ */
/* definitions                                                              */

static json_object *cmd_define(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "xml", NULL };
    const char *xml;
    if (!check_members(args, allowed, err) || !arg_string(args, "xml", true, &xml, err))
        return NULL;
    log_request(d, c, NULL, "domain-define");
    VmmdDomain *dom = vmmd_domain_define(d, xml, err);
    if (!dom)
        return NULL;
    json_object *r = json_object_new_object();
    json_object_object_add(r, "name", json_object_new_string(dom->name));
    json_object_object_add(r, "uuid", json_object_new_string(dom->uuid));
    return r;
}

static json_object *cmd_undefine(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "name", NULL };
    VmmdDomain *dom;
    if (!check_members(args, allowed, err) || !(dom = arg_domain(d, args, err)))
        return NULL;
    log_request(d, c, dom, "domain-undefine");
    if (!dom->persistent)
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                   "domain '%s' is transient: it has no definition to remove",
                                   dom->name);
    return vmmd_domain_undefine(dom, err) ? json_object_new_object() : NULL;
}

static json_object *cmd_get_xml(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "name", "inactive", NULL };
    VmmdDomain *dom;
    bool inactive;
    if (!check_members(args, allowed, err) || !arg_bool(args, "inactive", false, false, &inactive, err) ||
        !(dom = arg_domain(d, args, err)))
        return NULL;
    /* Like virsh dumpxml: the running definition, or with inactive the one
     * the next start will use. */
    const char *xml = inactive && dom->xml ? dom->xml : vmmd_domain_current_xml(dom);
    bool live = vmmd_domain_is_active(dom) && !(inactive && dom->xml);
    g_autofree char *shown = xml ? vmmd_libvirt_xml(xml, live ? dom->id : -1, err) : g_strdup("");
    if (!shown)
        return NULL;
    json_object *r = json_object_new_object();
    json_object_object_add(r, "xml", json_object_new_string(shown));
    return r;
}

/* virsh schedinfo, memtune, blkiotune (read-only): the values in force */
static json_object *cmd_get_tune(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "name", "kind", NULL };
    VmmdDomain *dom;
    const char *kind;
    if (!check_members(args, allowed, err) || !arg_string(args, "kind", true, &kind, err) ||
        !(dom = arg_domain(d, args, err)))
        return NULL;
    GError *e = NULL;
    json_object *p = vmmd_cgroup_tune_params(vmmd_domain_is_active(dom) ? dom->cgroup : NULL,
                                             vmmd_domain_current_def(dom), kind, &e);
    if (!p) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT, "%s", e->message);
        g_error_free(e);
        return NULL;
    }
    json_object *r = json_object_new_object();
    json_object_object_add(r, "params", p);
    return r;
}

static json_object *cmd_set_autostart(VmmProtoConn *c, json_object *args, void *opaque,
                                      GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "name", "autostart", NULL };
    VmmdDomain *dom;
    bool on;
    if (!check_members(args, allowed, err) || !arg_bool(args, "autostart", true, false, &on, err) ||
        !(dom = arg_domain(d, args, err)))
        return NULL;
    log_request(d, c, dom, on ? "domain-set-autostart on" : "domain-set-autostart off");
    return vmmd_domain_set_autostart(dom, on, err) ? json_object_new_object() : NULL;
}

/* ------------------------------------------------------------------------ */
/* queries                                                                  */

static json_object *cmd_list(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "all", NULL };
    bool all;
    if (!check_members(args, allowed, err) || !arg_bool(args, "all", false, false, &all, err))
        return NULL;
    g_autoptr(GPtrArray) doms = vmmd_domain_list(d);
    json_object *list = json_object_new_array();
    for (guint i = 0; i < doms->len; i++) {
        VmmdDomain *dom = doms->pdata[i];
        if (!all && !vmmd_domain_is_active(dom))
            continue;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(dom->name));
        json_object_object_add(o, "uuid", json_object_new_string(dom->uuid));
        json_object_object_add(o, "state", json_object_new_string(vmmd_state_name(dom->state)));
        json_object_object_add(o, "id", json_object_new_int(dom->id));
        json_object_object_add(o, "autostart", json_object_new_boolean(dom->autostart));
        json_object_object_add(o, "persistent", json_object_new_boolean(dom->persistent));
        json_object_array_add(list, o);
    }
    return list;
}

static json_object *cmd_info(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "name", NULL };
    VmmdDomain *dom;
    if (!check_members(args, allowed, err) || !(dom = arg_domain(d, args, err)))
        return NULL;
    const VmmDomainDef *def = vmmd_domain_current_def(dom);
    json_object *r = json_object_new_object();
    json_object_object_add(r, "name", json_object_new_string(dom->name));
    json_object_object_add(r, "uuid", json_object_new_string(dom->uuid));
    json_object_object_add(r, "id", json_object_new_int(dom->id));
    json_object_object_add(r, "state", json_object_new_string(vmmd_state_name(dom->state)));
    json_object_object_add(r, "reason", json_object_new_string(dom->reason));
    json_object_object_add(r, "max_memory_kib", json_object_new_int64((gint64)def->memory_kib));
    json_object_object_add(r, "memory_kib", json_object_new_int64((gint64)def->current_memory_kib));
    json_object_object_add(r, "vcpus", json_object_new_int((int)def->vcpus));
    json_object_object_add(r, "cpu_time_ns", json_object_new_int64((gint64)vmmd_domain_cpu_time_ns(dom)));
    json_object_object_add(r, "autostart", json_object_new_boolean(dom->autostart));
    json_object_object_add(r, "persistent", json_object_new_boolean(dom->persistent));
    return r;
}

/* domain-stats: what the definition and the state say, then, for running
 * domains, the worker's counters under virsh domstats' names. */

typedef struct {
    VmmProtoPending *p;
    json_object *result;
    int outstanding;
} StatsJob;

typedef struct {
    StatsJob *job;
    json_object *stats;     /* borrowed from job->result */
} StatsPart;

static void put_int(json_object *o, const char *key, gint64 v)
{
    json_object_object_add(o, key, json_object_new_int64(v));
}

/* The end of the last data extent: where the guest wrote last, as far as
 * the host file shows (libvirt's allocation is QEMU's highest written
 * offset, which only the worker could count). Bounded walk; a file with
 * more extents than that reports the end of the last one seen. */
static guint64 data_end(int fd, guint64 size)
{
    guint64 end = 0;
    off_t off = 0;
    for (int n = 0; n < 65536 && (guint64)off < size; n++) {
        off_t data = lseek(fd, off, SEEK_DATA);
        if (data < 0)
            break;
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0)
            return size;    /* no SEEK_HOLE: treat the file as written */
        end = (guint64)hole;
        off = hole;
    }
    return end;
}

/* block.N.capacity (the guest-visible size), .physical (bytes the host
 * allocated, QEMU's actual-size) and .allocation, for file and block
 * disks; read with fstat/lseek, so the guest keeps running. */
static void put_disk_sizes(json_object *s, guint i, const VmmDiskDef *disk)
{
    struct stat st;
    /* only what a disk can be: opening a device node of another kind (a
     * tape, a tty) could do something */
    if (disk->type == VMM_DISK_VHOSTUSER || !disk->path || stat(disk->path, &st) != 0 ||
        !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
        return;
    int fd = open(disk->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0) {
        guint64 capacity = 0, physical = 0, allocation = 0;
        if (S_ISBLK(st.st_mode)) {
            if (ioctl(fd, BLKGETSIZE64, &capacity) == 0)
                physical = allocation = capacity;
        } else if (S_ISREG(st.st_mode)) {
            capacity = (guint64)st.st_size;
            physical = (guint64)st.st_blocks * 512;
            allocation = data_end(fd, capacity);
        }
        if (capacity) {
            g_autofree char *ka = g_strdup_printf("block.%u.allocation", i);
            g_autofree char *kc = g_strdup_printf("block.%u.capacity", i);
            g_autofree char *kp = g_strdup_printf("block.%u.physical", i);
            put_int(s, ka, (gint64)allocation);
            put_int(s, kc, (gint64)capacity);
            put_int(s, kp, (gint64)physical);
        }
    }
    close(fd);
}

static json_object *base_stats(VmmdDomain *dom)
{
    const VmmDomainDef *def = vmmd_domain_current_def(dom);
    json_object *s = json_object_new_object();
    put_int(s, "state.state", dom->state);
    put_int(s, "state.reason", vmmd_reason_number(dom->state, dom->reason));
    bool active = vmmd_domain_is_active(dom);
    guint64 total, user, sys;
    /* libvirt's QEMU driver reads these from the VM's cpuacct group,
     * which counts every thread the worker ever had */
    if (active && vmmd_cgroup_cpu_times(dom->cgroup, &total, &user, &sys)) {
        put_int(s, "cpu.time", (gint64)total);
        put_int(s, "cpu.user", (gint64)user);
        put_int(s, "cpu.system", (gint64)sys);
    } else if (active && vmmd_domain_cpu_times(dom, &user, &sys)) {
        put_int(s, "cpu.time", (gint64)(user + sys));
        put_int(s, "cpu.user", (gint64)user);
        put_int(s, "cpu.system", (gint64)sys);
    }
    put_int(s, "balloon.current", (gint64)def->current_memory_kib);
    put_int(s, "balloon.maximum", (gint64)def->memory_kib);
    put_int(s, "vcpu.current", def->vcpus);
    put_int(s, "vcpu.maximum", def->vcpus);
    for (unsigned i = 0; active && i < def->vcpus; i++) {
        VmmdVcpuSched vs;
        if (!vmmd_domain_vcpu_sched(dom, i, &vs))
            continue;
        g_autofree char *kw = g_strdup_printf("vcpu.%u.wait", i);
        g_autofree char *kd = g_strdup_printf("vcpu.%u.delay", i);
        if (vs.has_wait)
            put_int(s, kw, (gint64)vs.wait_ns);
        if (vs.has_delay)
            put_int(s, kd, (gint64)vs.delay_ns);
    }
    guint ndisks = def->disks ? def->disks->len : 0;
    put_int(s, "block.count", ndisks);
    for (guint i = 0; i < ndisks; i++) {
        const VmmDiskDef *disk = g_ptr_array_index(def->disks, i);
        g_autofree char *kn = g_strdup_printf("block.%u.name", i);
        g_autofree char *kp = g_strdup_printf("block.%u.path", i);
        json_object_object_add(s, kn, json_object_new_string(disk->target_dev));
        if (disk->path)   /* none: a CD-ROM with an empty tray (virsh shows no path) */
            json_object_object_add(s, kp, json_object_new_string(disk->path));
        put_disk_sizes(s, i, disk);
    }
    /* the QEMU driver reports interfaces of running domains only */
    guint nnets = active && def->nets ? def->nets->len : 0;
    if (!active)
        return s;
    put_int(s, "net.count", nnets);
    for (guint i = 0; i < nnets; i++) {
        const VmmNetDef *net = g_ptr_array_index(def->nets, i);
        g_autofree char *kn = g_strdup_printf("net.%u.name", i);
        g_autofree char *name = net->target_dev ? g_strdup(net->target_dev)
                                                : g_strdup_printf("net%u", i);
        json_object_object_add(s, kn, json_object_new_string(name));
    }
    return s;
}

static gint64 get_int(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

/* The worker's per-device arrays into virsh's flat PREFIX.N.FIELD keys. */
static void merge_devices(json_object *s, json_object *w, const char *array,
                          const char *prefix, const char *const (*map)[2], unsigned nmap)
{
    json_object *devs, *v;
    if (!json_object_object_get_ex(w, array, &devs) || !json_object_is_type(devs, json_type_array))
        return;
    size_t n = json_object_array_length(devs);
    g_autofree char *kc = g_strdup_printf("%s.count", prefix);
    put_int(s, kc, (gint64)n);
    for (size_t i = 0; i < n; i++) {
        json_object *b = json_object_array_get_idx(devs, i);
        static const char *const names[] = { "name", "path" };
        for (unsigned k = 0; k < G_N_ELEMENTS(names); k++) {
            if (!json_object_object_get_ex(b, names[k], &v))
                continue;
            g_autofree char *key = g_strdup_printf("%s.%zu.%s", prefix, i, names[k]);
            json_object_object_add(s, key, json_object_get(v));
        }
        for (unsigned k = 0; k < nmap; k++) {
            if (!json_object_object_get_ex(b, map[k][0], &v))
                continue;
            g_autofree char *key = g_strdup_printf("%s.%zu.%s", prefix, i, map[k][1]);
            put_int(s, key, json_object_get_int64(v));
        }
    }
}

static void merge_worker_stats(json_object *s, json_object *w)
{
    json_object *v;
    /* the cgroup's figure, where there is one, is the whole worker's */
    if (json_object_object_get_ex(w, "cpu_time_ns", &v) &&
        !json_object_object_get_ex(s, "cpu.user", NULL))
        put_int(s, "cpu.time", json_object_get_int64(v));
    if (json_object_object_get_ex(w, "memory_kib", &v))
        put_int(s, "balloon.current", json_object_get_int64(v));
    if (json_object_object_get_ex(w, "max_memory_kib", &v))
        put_int(s, "balloon.maximum", json_object_get_int64(v));
    /* virsh domstats' balloon.* fields, in its order; the worker's own
     * counters (target_pages, refused_pfns, ...) stay in query-stats */
    static const char *const balloon_keys[] = {
        "swap_in", "swap_out", "major_fault", "minor_fault", "unused", "available",
        "usable", "last-update", "disk_caches", "hugetlb_pgalloc", "hugetlb_pgfail", "rss" };
    json_object *bal;
    if (json_object_object_get_ex(w, "balloon", &bal) && json_object_is_type(bal, json_type_object))
        for (size_t i = 0; i < G_N_ELEMENTS(balloon_keys); i++)
            if (json_object_object_get_ex(bal, balloon_keys[i], &v)) {
                g_autofree char *key = g_strdup_printf("balloon.%s", balloon_keys[i]);
                put_int(s, key, json_object_get_int64(v));
            }
    json_object *vcpus;
    if (json_object_object_get_ex(w, "vcpus", &vcpus) && json_object_is_type(vcpus, json_type_array)) {
        size_t n = json_object_array_length(vcpus);
        for (size_t i = 0; i < n; i++) {
            json_object *vc = json_object_array_get_idx(vcpus, i);
            g_autofree char *ks = g_strdup_printf("vcpu.%zu.state", i);
            g_autofree char *kt = g_strdup_printf("vcpu.%zu.time", i);
            /* the QEMU driver reports every vCPU of a live domain as
             * VIR_VCPU_RUNNING, paused or not; so does vmmd */
            put_int(s, ks, 1);
            put_int(s, kt, get_int(vc, "time_ns"));
        }
    }
    static const char *const block_map[][2] = {
        { "rd_reqs", "rd.reqs" }, { "rd_bytes", "rd.bytes" }, { "rd_ns", "rd.times" },
        { "wr_reqs", "wr.reqs" }, { "wr_bytes", "wr.bytes" }, { "wr_ns", "wr.times" },
        { "fl_reqs", "fl.reqs" }, { "fl_ns", "fl.times" }, { "errors", "errors" },
        { "capacity", "capacity" }, { "allocation", "allocation" }, { "physical", "physical" },
    };
    static const char *const net_map[][2] = {
        { "rx_bytes", "rx.bytes" }, { "rx_pkts", "rx.pkts" }, { "rx_errs", "rx.errs" },
        { "rx_drop", "rx.drop" }, { "tx_bytes", "tx.bytes" }, { "tx_pkts", "tx.pkts" },
        { "tx_errs", "tx.errs" }, { "tx_drop", "tx.drop" },
    };
    merge_devices(s, w, "block", "block", block_map, G_N_ELEMENTS(block_map));
    merge_devices(s, w, "net", "net", net_map, G_N_ELEMENTS(net_map));
}

static void stats_job_unref(StatsJob *job)
{
    if (--job->outstanding > 0)
        return;
    vmm_proto_pending_return(job->p, job->result);
    g_free(job);
}

static void on_worker_stats(VmmProtoClient *c, json_object *ret, const GError *err, void *opaque)
{
    StatsPart *part = opaque;
    /* A worker that does not answer leaves the definition's numbers. */
    if (ret)
        merge_worker_stats(part->stats, ret);
    stats_job_unref(part->job);
    g_free(part);
}

static json_object *cmd_stats(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "names", NULL };
    if (!check_members(args, allowed, err))
        return NULL;
    json_object *names = member(args, "names");
    g_autoptr(GPtrArray) doms = NULL;
    if (names) {
        if (!json_object_is_type(names, json_type_array))
            return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                       "argument 'names' must be an array of strings");
        doms = g_ptr_array_new();
        for (size_t i = 0; i < json_object_array_length(names); i++) {
            json_object *n = json_object_array_get_idx(names, i);
            if (!json_object_is_type(n, json_type_string))
                return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                           "argument 'names' must be an array of strings");
            VmmdDomain *dom = vmmd_domain_lookup(d, json_object_get_string(n));
            if (!dom) {
                g_autofree char *shown = g_strescape(json_object_get_string(n), NULL);
                return vmm_proto_set_error(err, VMM_PROTO_DOMAIN_NOT_FOUND,
                                           "no domain with matching name or uuid '%.100s'", shown);
            }
            g_ptr_array_add(doms, dom);
        }
    } else {
        doms = vmmd_domain_list(d);
    }
    StatsJob *job = g_new0(StatsJob, 1);
    job->result = json_object_new_array();
    job->outstanding = 1;    /* ours, until every call is made */
    job->p = vmm_proto_conn_defer(c);
    for (guint i = 0; i < doms->len; i++) {
        VmmdDomain *dom = doms->pdata[i];
        json_object *entry = json_object_new_object();
        json_object *stats = base_stats(dom);
        json_object_object_add(entry, "name", json_object_new_string(dom->name));
        json_object_object_add(entry, "persistent", json_object_new_boolean(dom->persistent));
        json_object_object_add(entry, "stats", stats);
        json_object_array_add(job->result, entry);
        if (!vmmd_domain_is_active(dom) || dom->job == VMMD_JOB_START)
            continue;
        StatsPart *part = g_new0(StatsPart, 1);
        part->job = job;
        part->stats = stats;
        job->outstanding++;
        if (!vmmd_domain_worker_call(dom, "query-stats", NULL, on_worker_stats, part, NULL)) {
            job->outstanding--;
            g_free(part);
        }
    }
    stats_job_unref(job);
    return VMM_PROTO_DEFERRED;
}

/* ------------------------------------------------------------------------ */
/* lifecycle                                                                */

typedef bool (*LifecycleFn)(VmmdDomain *dom, VmmProtoPending *p, GError **err);

static json_object *lifecycle(VmmProtoConn *c, json_object *args, VmmDaemon *d,
                              const char *cmd, LifecycleFn fn, GError **err)
{
    static const char *const allowed[] = { "name", NULL };
    VmmdDomain *dom;
    if (!check_members(args, allowed, err) || !(dom = arg_domain(d, args, err)))
        return NULL;
    log_request(d, c, dom, cmd);
    VmmProtoPending *p = vmm_proto_conn_defer(c);
    GError *e = NULL;
    if (!fn(dom, p, &e)) {
        vmm_proto_pending_gerror(p, e);
        g_error_free(e);
    }
    return VMM_PROTO_DEFERRED;
}

static json_object *cmd_start(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    return lifecycle(c, args, opaque, "domain-start", vmmd_domain_start, err);
}

static json_object *cmd_destroy(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    return lifecycle(c, args, opaque, "domain-destroy", vmmd_domain_destroy, err);
}

static json_object *cmd_reboot(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    return lifecycle(c, args, opaque, "domain-reboot", vmmd_domain_reboot, err);
}

static json_object *cmd_suspend(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    return lifecycle(c, args, opaque, "domain-suspend", vmmd_domain_suspend, err);
}

static json_object *cmd_resume(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    return lifecycle(c, args, opaque, "domain-resume", vmmd_domain_resume, err);
}

static json_object *cmd_shutdown(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "name", "timeout", NULL };
    VmmdDomain *dom;
    gint64 timeout;
    if (!check_members(args, allowed, err) ||
        !arg_int(args, "timeout", false, 0, 24 * 3600, &timeout, err) ||
        !(dom = arg_domain(d, args, err)))
        return NULL;
    log_request(d, c, dom, "domain-shutdown");
    VmmProtoPending *p = vmm_proto_conn_defer(c);
    GError *e = NULL;
    if (!vmmd_domain_shutdown(dom, (int)timeout, p, &e)) {
        vmm_proto_pending_gerror(p, e);
        g_error_free(e);
    }
    return VMM_PROTO_DEFERRED;
}

/* A worker command whose empty answer is the client's answer. */
typedef struct {
    VmmProtoPending *p;
    char *name;
} ForwardCall;

static void on_forward(VmmProtoClient *c, json_object *ret, const GError *err, void *opaque)
{
    ForwardCall *fc = opaque;
    if (!ret)
        vmm_proto_pending_error(fc->p, err->domain == VMM_PROTO_ERROR ? (VmmProtoErrorClass)err->code
                                                                      : VMM_PROTO_INTERNAL_ERROR,
                                "domain '%s': %s", fc->name, err->message);
    else
        vmm_proto_pending_return(fc->p, json_object_new_object());
    g_free(fc->name);
    g_free(fc);
}

static json_object *forward(VmmProtoConn *c, VmmdDomain *dom, const char *cmd,
                            json_object *wargs, GError **err)
{
    ForwardCall *fc = g_new0(ForwardCall, 1);
    fc->name = g_strdup(dom->name);
    if (!vmmd_domain_worker_call(dom, cmd, wargs, on_forward, fc, err)) {
        g_free(fc->name);
        g_free(fc);
        return NULL;
    }
    fc->p = vmm_proto_conn_defer(c);
    return VMM_PROTO_DEFERRED;
}

/* A balloon command {key: value} for the worker of a running domain. */
static json_object *balloon_forward(VmmProtoConn *c, VmmdDomain *dom, const char *cmd,
                                    const char *key, gint64 value, GError **err)
{
    if (!vmm_domain_def_balloon(vmmd_domain_current_def(dom)))
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                   "domain '%s' has no balloon device", dom->name);
    if (!vmmd_domain_is_active(dom) || dom->job == VMMD_JOB_START)
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                   "domain is not running");
    json_object *wargs = json_object_new_object();
    json_object_object_add(wargs, key, json_object_new_int64(value));
    return forward(c, dom, cmd, wargs, err);
}

static json_object *cmd_set_memory(VmmProtoConn *c, json_object *args, void *opaque,
                                   GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "name", "size_kib", NULL };
    VmmdDomain *dom;
    gint64 size;
    if (!check_members(args, allowed, err) ||
        !arg_int(args, "size_kib", true, 1, G_MAXINT64, &size, err) ||
        !(dom = arg_domain(d, args, err)))
        return NULL;
    log_request(d, c, dom, "domain-set-memory");
    /* the running domain's balloon only (libvirt's test driver checks
     * this first too; the QEMU driver would change the definition) */
    if (!vmmd_domain_is_active(dom))
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "domain is not running");
    const VmmDomainDef *def = vmmd_domain_current_def(dom);
    guint64 floor = MIN(VMM_BALLOON_FLOOR_KIB, def->memory_kib);
    if ((guint64)size > def->memory_kib)
        return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                   "cannot set memory higher than max memory");
    if ((guint64)size < floor)
        return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                   "size_kib %" G_GINT64_FORMAT " is below vmmd's floor of %"
                                   G_GUINT64_FORMAT " KiB", size, floor);
    return balloon_forward(c, dom, "set-memory", "size_kib", size, err);
}

/* domain-set-memory-period {"name", "period"}: seconds between the
 * balloon's statistics requests (virsh dommemstat --period). */
static json_object *cmd_set_memory_period(VmmProtoConn *c, json_object *args, void *opaque,
                                          GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "name", "period", NULL };
    VmmdDomain *dom;
    gint64 period;
    if (!check_members(args, allowed, err) ||
        !arg_int(args, "period", true, 0, VMM_BALLOON_PERIOD_MAX, &period, err) ||
        !(dom = arg_domain(d, args, err)))
        return NULL;
    log_request(d, c, dom, "domain-set-memory-period");
    return balloon_forward(c, dom, "set-balloon-period", "period", period, err);
}

/* domain-console: the host side of a serial port, the virtio console or a
 * channel, named by libvirt's alias (virsh console --devname), by default
 * the first console. */

typedef struct {
    VmmProtoPending *p;
    char *alias;
    char *name;
} ConsoleCall;

static void on_chardevs(VmmProtoClient *c, json_object *ret, const GError *err, void *opaque)
{
    ConsoleCall *cc = opaque;
    if (!ret) {
        vmm_proto_pending_error(cc->p, VMM_PROTO_INTERNAL_ERROR, "domain '%s': %s", cc->name,
                                err->message);
    } else {
        json_object *found = NULL, *a;
        for (size_t i = 0; json_object_is_type(ret, json_type_array) &&
                           i < json_object_array_length(ret); i++) {
            json_object *o = json_object_array_get_idx(ret, i);
            if (json_object_object_get_ex(o, "alias", &a) &&
                g_strcmp0(json_object_get_string(a), cc->alias) == 0)
                found = o;
        }
        json_object *type = found ? json_object_object_get(found, "type") : NULL;
        json_object *path = found ? json_object_object_get(found, "path") : NULL;
        if (!type || !path || !json_object_is_type(path, json_type_string)) {
            vmm_proto_pending_error(cc->p, VMM_PROTO_INTERNAL_ERROR,
                                    "domain '%s': the worker reports no host side for %s",
                                    cc->name, cc->alias);
        } else {
            json_object *r = json_object_new_object();
            json_object_object_add(r, "type", json_object_get(type));
            json_object_object_add(r, "path", json_object_get(path));
            vmm_proto_pending_return(cc->p, r);
        }
    }
    g_free(cc->alias);
    g_free(cc->name);
    g_free(cc);
}

/* The character device `devname` (NULL: the first console) of def: its
 * host end and alias, or FALSE with why. */
static bool find_console(VmmDaemon *d, const VmmDomainDef *def, const char *devname,
                         const VmmChrDef **chr, char **alias, char **auto_path, GError **err)
{
    const char *dom = def->name;
    guint nser = def->serials ? def->serials->len : 0;
    guint nch = def->channels ? def->channels->len : 0;
    *auto_path = NULL;
    if (!devname && nser) {
        *chr = g_ptr_array_index(def->serials, 0);   /* sorted by port */
        *alias = g_strdup_printf("serial%u", (*chr)->port);
        return true;
    }
    for (guint i = 0; devname && i < nser; i++) {
        const VmmChrDef *s = g_ptr_array_index(def->serials, i);
        g_autofree char *a = g_strdup_printf("serial%u", s->port);
        if (!strcmp(a, devname)) {
            *chr = s;
            *alias = g_steal_pointer(&a);
            return true;
        }
    }
    for (guint i = 0; i < nch; i++) {
        const VmmChannelDef *ch = g_ptr_array_index(def->channels, i);
        g_autofree char *a = vmm_channel_alias(def->channels, i, nser > 0);
        if (devname ? strcmp(a, devname) != 0 : ch->kind != VMM_VSERIAL_CONSOLE)
            continue;
        *chr = &ch->chr;
        *alias = g_steal_pointer(&a);
        if (ch->chr.type == VMM_CHR_UNIX && !ch->chr.path)
            *auto_path = vmm_channel_auto_path(d->run_dir, dom, ch->name);
        return true;
    }
    if (!devname) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                            "domain '%s' has no console (no serial port, no virtio console)",
                            dom);
        return false;
    }
    g_autoptr(GString) known = g_string_new(NULL);
    for (guint i = 0; i < nser; i++)
        g_string_append_printf(known, "%sserial%u", known->len ? ", " : "",
                               ((const VmmChrDef *)g_ptr_array_index(def->serials, i))->port);
    for (guint i = 0; i < nch; i++) {
        g_autofree char *a = vmm_channel_alias(def->channels, i, nser > 0);
        g_string_append_printf(known, "%s%s", known->len ? ", " : "", a);
    }
    vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                        "domain '%s' has no character device '%s' (it has: %s)", dom, devname,
                        known->len ? known->str : "none");
    return false;
}

static json_object *cmd_console(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "name", "devname", NULL };
    VmmdDomain *dom;
    const char *devname = NULL;
    if (!check_members(args, allowed, err) || !arg_string(args, "devname", false, &devname, err) ||
        !(dom = arg_domain(d, args, err)))
        return NULL;
    if (!vmmd_domain_is_active(dom) || dom->job == VMMD_JOB_START)
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                   "domain is not running");
    const VmmDomainDef *def = vmmd_domain_current_def(dom);
    const VmmChrDef *chr;
    g_autofree char *alias = NULL, *auto_path = NULL;
    if (!find_console(d, def, devname, &chr, &alias, &auto_path, err))
        return NULL;
    if (chr->type == VMM_CHR_UNIX && !chr->listen)
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                   "domain '%s': %s connects out to '%s' (mode='connect'); "
                                   "the console is whatever listens there",
                                   dom->name, alias, chr->path);
    if (chr->type == VMM_CHR_UNIX) {
        json_object *r = json_object_new_object();
        json_object_object_add(r, "type", json_object_new_string("unix"));
        json_object_object_add(r, "path",
                               json_object_new_string(auto_path ? auto_path : chr->path));
        return r;
    }
    if (chr->type != VMM_CHR_PTY)
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                   "domain '%s': %s is type '%s', which has no console to "
                                   "connect to (use pty or unix)", dom->name, alias,
                                   vmm_chr_type_to_string(chr->type));
    ConsoleCall *cc = g_new0(ConsoleCall, 1);
    cc->alias = g_steal_pointer(&alias);
    cc->name = g_strdup(dom->name);
    if (!vmmd_domain_worker_call(dom, "query-chardevs", NULL, on_chardevs, cc, err)) {
        g_free(cc->alias);
        g_free(cc->name);
        g_free(cc);
        return NULL;
    }
    cc->p = vmm_proto_conn_defer(c);
    return VMM_PROTO_DEFERRED;
}

/* domain-interface-set-link / -get-link (and libvirt's interface-stats):
 * an interface named as virsh names it, by its tap (target dev) or its MAC
 * address. */

int vmmd_find_interface(const VmmDomainDef *def, const char *which)
{
    for (guint i = 0; def->nets && i < def->nets->len; i++) {
        const VmmNetDef *n = g_ptr_array_index(def->nets, i);
        char mac[18];
        vmm_net_mac_format(n->mac, mac);
        g_autofree char *dflt = g_strdup_printf("net%u", i);
        if (!g_ascii_strcasecmp(mac, which) || !g_strcmp0(n->target_dev, which) ||
            (!n->target_dev && !strcmp(dflt, which)))
            return (int)i;
    }
    return -1;
}

typedef struct {
    VmmProtoPending *p;
    char *name;
    int index;
    bool get;                    /* get-link: the state from query-stats */
} LinkCall;

static void on_link(VmmProtoClient *c, json_object *ret, const GError *err, void *opaque)
{
    LinkCall *lc = opaque;
    if (!ret) {
        vmm_proto_pending_error(lc->p, VMM_PROTO_INTERNAL_ERROR, "domain '%s': %s", lc->name,
                                err->message);
    } else if (!lc->get) {
        vmm_proto_pending_return(lc->p, json_object_new_object());
    } else {
        json_object *nets = NULL, *up = NULL;
        json_object_object_get_ex(ret, "net", &nets);
        json_object *n = json_object_is_type(nets, json_type_array)
                             ? json_object_array_get_idx(nets, (size_t)lc->index) : NULL;
        if (!n || !json_object_object_get_ex(n, "link_up", &up)) {
            vmm_proto_pending_error(lc->p, VMM_PROTO_INTERNAL_ERROR,
                                    "domain '%s': the worker reports no interface %d", lc->name,
                                    lc->index);
        } else {
            json_object *r = json_object_new_object();
            json_object_object_add(r, "state", json_object_new_string(
                                                   json_object_get_boolean(up) ? "up" : "down"));
            vmm_proto_pending_return(lc->p, r);
        }
    }
    g_free(lc->name);
    g_free(lc);
}

static json_object *link_cmd(VmmProtoConn *c, json_object *args, VmmDaemon *d, bool get,
                             GError **err)
{
    static const char *const allowed_set[] = { "name", "interface", "state", NULL };
    static const char *const allowed_get[] = { "name", "interface", NULL };
    VmmdDomain *dom;
    const char *which = NULL, *state = NULL;
    if (!check_members(args, get ? allowed_get : allowed_set, err) ||
        !arg_string(args, "interface", true, &which, err) ||
        (!get && !arg_string(args, "state", true, &state, err)) ||
        !(dom = arg_domain(d, args, err)))
        return NULL;
    if (state && strcmp(state, "up") && strcmp(state, "down"))
        return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                   "state '%s' is not up or down", state);
    if (!get)
        log_request(d, c, dom, "domain-interface-set-link");
    if (!vmmd_domain_is_active(dom) || dom->job == VMMD_JOB_START)
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                   "domain is not running");
    int idx = vmmd_find_interface(vmmd_domain_current_def(dom), which);
    if (idx < 0)
        return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                   "domain '%s' has no interface '%s' (name it by its target "
                                   "dev or MAC address)", dom->name, which);
    LinkCall *lc = g_new0(LinkCall, 1);
    lc->name = g_strdup(dom->name);
    lc->index = idx;
    lc->get = get;
    json_object *wargs = NULL;
    if (!get) {
        wargs = json_object_new_object();
        json_object_object_add(wargs, "index", json_object_new_int(idx));
        json_object_object_add(wargs, "up", json_object_new_boolean(!strcmp(state, "up")));
    }
    if (!vmmd_domain_worker_call(dom, get ? "query-stats" : "set-link", wargs, on_link, lc, err)) {
        g_free(lc->name);
        g_free(lc);
        return NULL;
    }
    lc->p = vmm_proto_conn_defer(c);
    return VMM_PROTO_DEFERRED;
}

static json_object *cmd_set_link(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    return link_cmd(c, args, opaque, false, err);
}

static json_object *cmd_get_link(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    return link_cmd(c, args, opaque, true, err);
}

/* ------------------------------------------------------------------------ */
/* virtual networks (network.c)                                             */

/* "name" (a name or a uuid) -> the network. */
static VmmdNetwork *arg_network(VmmDaemon *d, json_object *args, GError **err)
{
    const char *name;
    if (!arg_string(args, "name", true, &name, err))
        return NULL;
    VmmdNetwork *n = vmmd_network_lookup(d, name);
    if (!n) {
        g_autofree char *shown = g_strescape(name, NULL);
        vmm_proto_set_error(err, VMM_PROTO_NETWORK_NOT_FOUND,
                            "no network with matching name '%.100s'", shown);
    }
    return n;
}

static json_object *network_summary(VmmdNetwork *n)
{
    const VmmNetworkDef *def = vmmd_network_current_def(n);
    char uuid[VMMD_UUID_STRLEN];
    vmmd_uuid_format(def->uuid, uuid);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(vmmd_network_name(n)));
    json_object_object_add(o, "uuid", json_object_new_string(uuid));
    json_object_object_add(o, "active", json_object_new_boolean(vmmd_network_is_active(n)));
    json_object_object_add(o, "persistent",
                           json_object_new_boolean(vmmd_network_is_persistent(n)));
    json_object_object_add(o, "autostart", json_object_new_boolean(vmmd_network_is_autostart(n)));
    json_object_object_add(o, "bridge", def->bridge ? json_object_new_string(def->bridge)
                                                    : NULL);
    return o;
}

static json_object *cmd_net_define(VmmProtoConn *c, json_object *args, void *opaque,
                                   GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "xml", NULL };
    const char *xml;
    if (!check_members(args, allowed, err) || !arg_string(args, "xml", true, &xml, err))
        return NULL;
    log_request(d, c, NULL, "network-define");
    VmmdNetwork *n = vmmd_network_define(d, xml, err);
    return n ? network_summary(n) : NULL;
}

typedef bool (*NetworkFn)(VmmdNetwork *n, GError **err);

static json_object *network_op(VmmProtoConn *c, json_object *args, VmmDaemon *d,
                               const char *what, NetworkFn fn, GError **err)
{
    static const char *const allowed[] = { "name", NULL };
    VmmdNetwork *n;
    if (!check_members(args, allowed, err) || !(n = arg_network(d, args, err)))
        return NULL;
    g_autofree char *line = g_strdup_printf("%s %s", what, vmmd_network_name(n));
    log_request(d, c, NULL, line);
    return fn(n, err) ? json_object_new_object() : NULL;
}

static json_object *cmd_net_undefine(VmmProtoConn *c, json_object *args, void *opaque,
                                     GError **err)
{
    return network_op(c, args, opaque, "network-undefine", vmmd_network_undefine, err);
}

static json_object *cmd_net_start(VmmProtoConn *c, json_object *args, void *opaque,
                                  GError **err)
{
    return network_op(c, args, opaque, "network-start", vmmd_network_start, err);
}

static json_object *cmd_net_destroy(VmmProtoConn *c, json_object *args, void *opaque,
                                    GError **err)
{
    return network_op(c, args, opaque, "network-destroy", vmmd_network_destroy, err);
}

static json_object *cmd_net_autostart(VmmProtoConn *c, json_object *args, void *opaque,
                                      GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "name", "autostart", NULL };
    VmmdNetwork *n;
    bool on;
    if (!check_members(args, allowed, err) || !arg_bool(args, "autostart", true, false, &on, err) ||
        !(n = arg_network(d, args, err)))
        return NULL;
    log_request(d, c, NULL, on ? "network-set-autostart on" : "network-set-autostart off");
    return vmmd_network_set_autostart(n, on, err) ? json_object_new_object() : NULL;
}

static json_object *cmd_net_list(VmmProtoConn *c, json_object *args, void *opaque,
                                 GError **err)
{
    VmmDaemon *d = opaque;
    (void)c;
    if (!check_members(args, (const char *const[]){ NULL }, err))
        return NULL;
    g_autoptr(GPtrArray) all = vmmd_network_list(d);
    json_object *list = json_object_new_array();
    for (guint i = 0; i < all->len; i++)
        json_object_array_add(list, network_summary(all->pdata[i]));
    return list;
}

static json_object *cmd_net_info(VmmProtoConn *c, json_object *args, void *opaque,
                                 GError **err)
{
    static const char *const allowed[] = { "name", NULL };
    VmmdNetwork *n;
    (void)c;
    if (!check_members(args, allowed, err) || !(n = arg_network(opaque, args, err)))
        return NULL;
    return network_summary(n);
}

static json_object *cmd_net_get_xml(VmmProtoConn *c, json_object *args, void *opaque,
                                    GError **err)
{
    static const char *const allowed[] = { "name", "inactive", NULL };
    VmmdNetwork *n;
    bool inactive;
    (void)c;
    if (!check_members(args, allowed, err) ||
        !arg_bool(args, "inactive", false, false, &inactive, err) ||
        !(n = arg_network(opaque, args, err)))
        return NULL;
    /* net-dumpxml: the running definition with connections='N', or with
     * --inactive the one the next net-start uses */
    const VmmNetworkDef *def = inactive && vmmd_network_config_def(n)
                               ? vmmd_network_config_def(n) : vmmd_network_current_def(n);
    unsigned conns = inactive || !vmmd_network_is_active(n) ? 0 : vmmd_network_connections(n);
    GError *e = NULL;
    g_autofree char *xml = vmm_network_def_format(def, conns, &e);
    if (!xml) {
        vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR, "%s", e->message);
        g_error_free(e);
        return NULL;
    }
    /* libvirt's bytes: single-quoted attributes, as net-dumpxml prints */
    g_autofree char *shown = vmmd_libvirt_xml(xml, -1, err);
    if (!shown)
        return NULL;
    json_object *r = json_object_new_object();
    json_object_object_add(r, "xml", json_object_new_string(shown));
    return r;
}

static json_object *cmd_net_leases(VmmProtoConn *c, json_object *args, void *opaque,
                                   GError **err)
{
    static const char *const allowed[] = { "name", "mac", NULL };
    VmmdNetwork *n;
    const char *mac;
    (void)c;
    if (!check_members(args, allowed, err) || !arg_string(args, "mac", false, &mac, err) ||
        !(n = arg_network(opaque, args, err)))
        return NULL;
    return vmmd_network_leases(n, mac);
}

static json_object *cmd_net_update(VmmProtoConn *c, json_object *args, void *opaque,
                                   GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "name", "command", "section", "xml", "live", "config",
                                           NULL };
    VmmdNetwork *n;
    const char *cmd, *section, *xml;
    bool live, config;
    if (!check_members(args, allowed, err) || !arg_string(args, "command", true, &cmd, err) ||
        !arg_string(args, "section", true, &section, err) ||
        !arg_string(args, "xml", true, &xml, err) ||
        !arg_bool(args, "live", false, false, &live, err) ||
        !arg_bool(args, "config", false, false, &config, err) ||
        !(n = arg_network(d, args, err)))
        return NULL;
    log_request(d, c, NULL, "network-update");
    return vmmd_network_update(n, cmd, section, xml, live, config, err)
           ? json_object_new_object() : NULL;
}

/* domifaddr: the leases of the domain's interfaces on vmmd's networks. */
static json_object *cmd_ifaddr(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    VmmDaemon *d = opaque;
    static const char *const allowed[] = { "name", NULL };
    VmmdDomain *dom;
    (void)c;
    if (!check_members(args, allowed, err) || !(dom = arg_domain(d, args, err)))
        return NULL;
    if (!vmmd_domain_is_active(dom))
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "domain is not running");
    json_object *list = json_object_new_array();
    const VmmDomainDef *def = vmmd_domain_current_def(dom);
    for (guint i = 0; def->nets && i < def->nets->len; i++) {
        const VmmNetDef *nd = def->nets->pdata[i];
        char mac[18];
        vmm_net_mac_format(nd->mac, mac);
        VmmdNetwork *n = nd->type == VMM_NET_NETWORK ? vmmd_network_lookup(d, nd->network)
                                                     : NULL;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", nd->target_dev ? json_object_new_string(nd->target_dev)
                                                         : NULL);
        json_object_object_add(o, "mac", json_object_new_string(mac));
        json_object_object_add(o, "addrs", n ? vmmd_network_leases(n, mac)
                                             : json_object_new_array());
        json_object_array_add(list, o);
    }
    return list;
}

/* domain-change-media: virsh change-media on a running domain's IDE CD-ROM
 * (the live medium; the definition keeps its <source>). */
typedef struct {
    VmmProtoPending *p;
    char *name;
} MediaCall;

static void on_media(VmmProtoClient *c, json_object *ret, const GError *err, void *opaque)
{
    MediaCall *mc = opaque;
    if (!ret)
        vmm_proto_pending_error(mc->p, VMM_PROTO_OPERATION_INVALID, "domain '%s': %s",
                                mc->name, err->message);
    else
        vmm_proto_pending_return(mc->p, json_object_new_object());
    g_free(mc->name);
    g_free(mc);
}

/* The new medium, opened here for the worker, which opens no file once
 * confined: with the flags the disk's cache mode needs, read-only (a
 * CD-ROM), non-blocking so a FIFO cannot stall the daemon. */
static int open_medium(VmmdDomain *dom, const VmmDiskDef *disk, const char *path,
                       GError **err)
{
    int flags = vmm_block_open_flags(true, disk->cache);
    int fd = open(path, flags | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    int e = fd < 0 ? errno : fstat(fd, &st) < 0 ? errno : 0;
    const char *why = e ? g_strerror(e) : NULL;
    if (!why && disk->type == VMM_DISK_BLOCK && !S_ISBLK(st.st_mode))
        why = "not a block device, as <disk type='block'> requires";
    else if (!why && disk->type != VMM_DISK_BLOCK && !S_ISREG(st.st_mode))
        why = "not a regular file, as <disk type='file'> requires";
    if (!why && fcntl(fd, F_SETFL, flags & ~O_ACCMODE & ~O_CLOEXEC) < 0)
        why = g_strerror(errno);
    if (why) {
        vmm_proto_set_error(err, e == EACCES || e == EPERM ? VMM_PROTO_PERMISSION_DENIED
                                                           : VMM_PROTO_OPERATION_INVALID,
                            "domain '%s': cannot open '%s' for CD-ROM %s read-only%s: %s",
                            dom->name, path, disk->target_dev,
                            e == EINVAL && (flags & O_DIRECT)
                                ? " with O_DIRECT (cache='none' or 'directsync'; its file "
                                  "system may not support direct I/O)" : "", why);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static json_object *cmd_change_media(VmmProtoConn *c, json_object *args, void *opaque,
                                     GError **err)
{
    static const char *const allowed[] = { "name", "device", "source", "force", NULL };
    VmmDaemon *d = opaque;
    VmmdDomain *dom;
    const char *device = NULL, *source = NULL;
    bool force = false;
    if (!check_members(args, allowed, err) || !arg_string(args, "device", true, &device, err) ||
        !arg_string(args, "source", false, &source, err) ||
        !arg_bool(args, "force", false, false, &force, err) || !(dom = arg_domain(d, args, err)))
        return NULL;
    if (source && !g_path_is_absolute(source))
        return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                   "source '%s' is not an absolute path", source);
    log_request(d, c, dom, "domain-change-media");
    if (!vmmd_domain_is_active(dom) || dom->job == VMMD_JOB_START)
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                   "domain '%s' is not running", dom->name);
    const VmmDomainDef *def = vmmd_domain_current_def(dom);
    const VmmDiskDef *disk = NULL;
    for (guint i = 0; def->disks && i < def->disks->len; i++) {
        const VmmDiskDef *x = g_ptr_array_index(def->disks, i);
        if (!strcmp(x->target_dev, device) || (x->path && !strcmp(x->path, device)))
            disk = x;
    }
    if (!disk || disk->device != VMM_DISK_DEVICE_CDROM)
        return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                   "domain '%s' has no CD-ROM '%s' (name it by its target dev, "
                                   "e.g. hdc)", dom->name, device);
    int fd = -1;
    if (source && (fd = open_medium(dom, disk, source, err)) < 0)
        return NULL;
    json_object *wargs = json_object_new_object();
    json_object_object_add(wargs, "device", json_object_new_string(disk->target_dev));
    if (source)
        json_object_object_add(wargs, "source", json_object_new_string(source));
    json_object_object_add(wargs, "force", json_object_new_boolean(force));
    MediaCall *mc = g_new0(MediaCall, 1);
    mc->name = g_strdup(dom->name);
    if (!vmmd_domain_worker_call_fd(dom, "change-media", wargs, fd, on_media, mc, err)) {
        g_free(mc->name);
        g_free(mc);
        return NULL;
    }
    mc->p = vmm_proto_conn_defer(c);
    return VMM_PROTO_DEFERRED;
}

const VmmProtoCommand vmmd_commands[] = {
    { "domain-define", false, cmd_define },
    { "domain-undefine", false, cmd_undefine },
    { "domain-list", true, cmd_list },
    { "domain-info", true, cmd_info },
    { "domain-get-xml", true, cmd_get_xml },
    { "domain-get-tune", true, cmd_get_tune },
    { "domain-start", false, cmd_start },
    { "domain-shutdown", false, cmd_shutdown },
    { "domain-destroy", false, cmd_destroy },
    { "domain-reboot", false, cmd_reboot },
    { "domain-suspend", false, cmd_suspend },
    { "domain-resume", false, cmd_resume },
    { "domain-set-autostart", false, cmd_set_autostart },
    { "domain-set-memory", false, cmd_set_memory },
    { "domain-set-memory-period", false, cmd_set_memory_period },
    { "domain-stats", true, cmd_stats },
    { "domain-console", false, cmd_console },
    { "domain-interface-set-link", false, cmd_set_link },
    { "domain-interface-get-link", true, cmd_get_link },
    { "domain-interface-addresses", true, cmd_ifaddr },
    { "network-define", false, cmd_net_define },
    { "network-undefine", false, cmd_net_undefine },
    { "network-start", false, cmd_net_start },
    { "network-destroy", false, cmd_net_destroy },
    { "network-set-autostart", false, cmd_net_autostart },
    { "network-update", false, cmd_net_update },
    { "network-list", true, cmd_net_list },
    { "network-info", true, cmd_net_info },
    { "network-get-xml", true, cmd_net_get_xml },
    { "network-dhcp-leases", true, cmd_net_leases },
    { "domain-change-media", false, cmd_change_media },
    { NULL },
};
