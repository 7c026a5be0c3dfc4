/* The worker's control socket: what vmmd asks of a running VM. Same
 * framing as the daemon's socket (src/proto/). */
#include "worker/worker.h"
#include "proto/proto.h"
#include "util/chardev.h"
#include "util/log.h"
#include "util/sandbox.h"
#include "virtio/virtio_balloon.h"
#include "hw/ahci.h"
#include "hw/ide.h"
#include "virtio/virtio_blk.h"
#include "hw/e1000.h"
#include "hw/rtl8139.h"
#include "virtio/virtio_console.h"
#include "virtio/virtio_net.h"

#include <string.h>
#include "vmm/vm.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

static json_object *need_vm(Worker *w, GError **err)
{
    if (!w->vm)
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                   "the guest is not running (stopped or restarting)");
    return NULL;
}

static json_object *cmd_query_status(VmmProtoConn *c, json_object *args, void *opaque,
                                     GError **err)
{
    Worker *w = opaque;
    json_object *r = json_object_new_object();
    bool paused = w->vm && vmm_vm_paused(w->vm);
    json_object_object_add(r, "state", json_object_new_string(!w->vm ? "shutdown"
                                                              : paused ? "paused" : "running"));
    json_object_object_add(r, "reason", json_object_new_string(paused ? "user" : "booted"));
    json_object_object_add(r, "vcpus", json_object_new_int(w->def->vcpus));
    json_object_object_add(r, "pid", json_object_new_int(vmm_host_pid()));
    return r;
}

static void add_u64(json_object *o, const char *k, uint64_t v)
{
    json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static VmmVirtioBalloon *balloon_of(Worker *w)
{
    return w->vm->balloon && w->vm->balloon->len ? g_ptr_array_index(w->vm->balloon, 0) : NULL;
}

/* The worker's resident set in KiB (VmRSS includes the shared guest RAM
 * memfd pages, RssShmem): what virsh calls the balloon's rss. */
static uint64_t self_rss_kib(Worker *w)
{
    /* Read through the descriptor opened before confinement: /proc is not
     * in the worker's private root. pread at 0 makes the kernel produce
     * the file afresh. */
    char text[4096];
    ssize_t n = w->proc_status_fd >= 0 ? pread(w->proc_status_fd, text, sizeof(text) - 1, 0) : -1;
    if (n <= 0)
        return 0;
    text[n] = 0;
    const char *p = strstr(text, "\nVmRSS:");
    return p ? g_ascii_strtoull(p + 8, NULL, 10) : 0;
}

/* virsh's balloon.* fields (KiB where virsh shows KiB), in its order;
 * guest statistics only once the guest reported them. */
static json_object *balloon_stats(Worker *w, VmmVirtioBalloon *b, uint64_t *current_kib)
{
    static const struct { int tag; const char *name; bool kib; } map[] = {
        { VMM_BALLOON_S_SWAP_IN, "swap_in", true },
        { VMM_BALLOON_S_SWAP_OUT, "swap_out", true },
        { VMM_BALLOON_S_MAJFLT, "major_fault", false },
        { VMM_BALLOON_S_MINFLT, "minor_fault", false },
        { VMM_BALLOON_S_MEMFREE, "unused", true },
        { VMM_BALLOON_S_MEMTOT, "available", true },
        { VMM_BALLOON_S_AVAIL, "usable", true },
    };
    VmmBalloonStats st;
    vmm_virtio_balloon_get_stats(b, &st);
    json_object *o = json_object_new_object();
    uint64_t ball_kib = MIN(st.actual * (VMM_BALLOON_PAGE / 1024), w->def->memory_kib);
    *current_kib = w->def->memory_kib - ball_kib;
    for (size_t i = 0; i < G_N_ELEMENTS(map); i++)
        if (st.has[map[i].tag])
            add_u64(o, map[i].name, map[i].kib ? st.val[map[i].tag] / 1024 : st.val[map[i].tag]);
    if (st.last_update)
        add_u64(o, "last-update", (uint64_t)st.last_update);
    if (st.has[VMM_BALLOON_S_CACHES])
        add_u64(o, "disk_caches", st.val[VMM_BALLOON_S_CACHES] / 1024);
    if (st.has[VMM_BALLOON_S_HTLB_PGALLOC])
        add_u64(o, "hugetlb_pgalloc", st.val[VMM_BALLOON_S_HTLB_PGALLOC]);
    if (st.has[VMM_BALLOON_S_HTLB_PGFAIL])
        add_u64(o, "hugetlb_pgfail", st.val[VMM_BALLOON_S_HTLB_PGFAIL]);
    add_u64(o, "rss", self_rss_kib(w));
    /* vmmd's own: the host's view, for tests and debugging */
    add_u64(o, "target_pages", st.num_pages);
    add_u64(o, "inflated_pages", st.inflated);
    add_u64(o, "reported_pages", st.reported);
    add_u64(o, "refused_pfns", st.bad_pfns + st.dup_inflates + st.bad_deflates);
    add_u64(o, "bad_stats", st.bad_stats);
    add_u64(o, "period", vmm_virtio_balloon_get_period(b));
    return o;
}

static json_object *cmd_query_stats(VmmProtoConn *c, json_object *args, void *opaque,
                                    GError **err)
{
    Worker *w = opaque;
    if (need_vm(w, err))
        return NULL;
    json_object *r = json_object_new_object();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    add_u64(r, "cpu_time_ns",
            (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
                (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL);
    json_object *vcpus = json_object_new_array();
    for (unsigned i = 0; i < w->vm->nr_vcpus; i++) {
        json_object *v = json_object_new_object();
        add_u64(v, "time_ns", vmm_vm_vcpu_time_ns(w->vm, i));
        /* virVcpuState: 1 = running, 2 = blocked (a parked vCPU). */
        json_object_object_add(v, "state", json_object_new_int(vmm_vm_paused(w->vm) ? 2 : 1));
        json_object_array_add(vcpus, v);
    }
    json_object_object_add(r, "vcpus", vcpus);
    json_object *blocks = json_object_new_array();
    for (guint i = 0; w->vm->blk && i < w->vm->blk->len; i++) {
        VmmVirtioBlk *b = g_ptr_array_index(w->vm->blk, i);
        const VmmDiskDef *d = g_ptr_array_index(w->vm->def->disks, i);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(d->target_dev));
        bool ide = d->bus == VMM_DISK_BUS_IDE, sata = d->bus == VMM_DISK_BUS_SATA;
        /* a CD-ROM's medium is whatever change-media put in last */
        g_autofree char *medium = ide ? vmm_ide_medium(w->vm->ide, d->target_dev)
                                : sata ? vmm_ahci_medium(w->vm->ahci, d->target_dev) : NULL;
        const char *path = ide || sata ? medium : d->path;
        if (path)
            json_object_object_add(o, "path", json_object_new_string(path));
        json_object_array_add(blocks, o);
        VmmBlockStats st;
        if (sata) {
            if (!vmm_ahci_get_stats(w->vm->ahci, d->target_dev, &st))
                continue;   /* an empty tray */
        } else if (ide) {
            if (!vmm_ide_get_stats(w->vm->ide, d->target_dev, &st))
                continue;   /* an empty tray */
        } else if (!b) {
            continue;   /* a vhost-user disk: its back end sees the I/O, not us */
        } else {
            vmm_virtio_blk_get_stats(b, &st);
        }
        add_u64(o, "rd_reqs", st.rd_reqs);
        add_u64(o, "rd_bytes", st.rd_bytes);
        add_u64(o, "rd_ns", st.rd_ns);
        add_u64(o, "wr_reqs", st.wr_reqs);
        add_u64(o, "wr_bytes", st.wr_bytes);
        add_u64(o, "wr_ns", st.wr_ns);
        add_u64(o, "fl_reqs", st.fl_reqs);
        add_u64(o, "fl_ns", st.fl_ns);
        add_u64(o, "errors", st.errors);
        add_u64(o, "capacity", st.capacity);
        add_u64(o, "allocation", st.allocation);
        add_u64(o, "physical", st.physical);
    }
    json_object_object_add(r, "block", blocks);
    /* virsh's net.N.*: rx is what the guest received, tx what it sent */
    json_object *nets = json_object_new_array();
    for (guint i = 0; w->vm->net && i < w->vm->net->len; i++) {
        /* each interface is a virtio-net, an e1000 or an rtl8139 (vm.h) */
        VmmVirtioNet *n = g_ptr_array_index(w->vm->net, i);
        VmmE1000 *e1000 = n || !w->vm->e1000 ? NULL : g_ptr_array_index(w->vm->e1000, i);
        VmmRtl8139 *rtl = n || e1000 ? NULL : g_ptr_array_index(w->vm->rtl8139, i);
        VmmNetStats st;
        if (n)
            vmm_virtio_net_get_stats(n, &st, NULL, 0);
        else if (e1000)
            vmm_e1000_get_stats(e1000, &st);
        else
            vmm_rtl8139_get_stats(rtl, &st);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(
                                              n ? vmm_virtio_net_name(n)
                                              : e1000 ? vmm_e1000_name(e1000)
                                                      : vmm_rtl8139_name(rtl)));
        add_u64(o, "rx_bytes", st.rx_bytes);
        add_u64(o, "rx_pkts", st.rx_pkts);
        add_u64(o, "rx_errs", st.rx_errs);
        add_u64(o, "rx_drop", st.rx_drop);
        add_u64(o, "tx_bytes", st.tx_bytes);
        add_u64(o, "tx_pkts", st.tx_pkts);
        add_u64(o, "tx_errs", st.tx_errs);
        add_u64(o, "tx_drop", st.tx_drop);
        json_object_object_add(o, "link_up", json_object_new_boolean(
                                                 n ? vmm_virtio_net_get_link(n)
                                                 : e1000 ? vmm_e1000_get_link(e1000)
                                                         : vmm_rtl8139_get_link(rtl)));
        json_object_array_add(nets, o);
    }
    json_object_object_add(r, "net", nets);
    uint64_t current = w->def->current_memory_kib;
    VmmVirtioBalloon *bal = balloon_of(w);
    if (bal)
        json_object_object_add(r, "balloon", balloon_stats(w, bal, &current));
    add_u64(r, "memory_kib", current);
    add_u64(r, "max_memory_kib", w->def->memory_kib);
    return r;
}

static json_object *cmd_query_chardevs(VmmProtoConn *c, json_object *args, void *opaque,
                                       GError **err)
{
    Worker *w = opaque;
    json_object *r = json_object_new_array();
    for (guint i = 0; i < w->def->serials->len; i++) {
        const VmmChrDef *chr = g_ptr_array_index(w->def->serials, i);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "port", json_object_new_int(chr->port));
        g_autofree char *alias = g_strdup_printf("serial%u", chr->port);
        json_object_object_add(o, "alias", json_object_new_string(alias));
        json_object_object_add(o, "type", json_object_new_string(vmm_chr_type_to_string(chr->type)));
        const char *path = chr->type == VMM_CHR_PTY ? vmm_chardev_pty_path(w->backends[chr->port])
                                                    : chr->path;
        if (path)
            json_object_object_add(o, "path", json_object_new_string(path));
        json_object_array_add(r, o);
    }
    /* virtio console and channels: libvirt's aliases, the guest's side */
    VmmVirtioConsole *vs = w->vm && w->vm->vserial && w->vm->vserial->len
                           ? g_ptr_array_index(w->vm->vserial, 0) : NULL;
    for (guint i = 0; w->def->channels && i < w->def->channels->len; i++) {
        const VmmChannelDef *ch = g_ptr_array_index(w->def->channels, i);
        json_object *o = json_object_new_object();
        g_autofree char *alias = vmm_channel_alias(w->def->channels, i, w->def->serials->len > 0);
        json_object_object_add(o, "alias", json_object_new_string(alias));
        json_object_object_add(o, "type", json_object_new_string(vmm_chr_type_to_string(ch->chr.type)));
        if (ch->name)
            json_object_object_add(o, "name", json_object_new_string(ch->name));
        json_object_object_add(o, "vserial_port", json_object_new_int((int)ch->port));
        const char *path = ch->chr.type == VMM_CHR_PTY
            ? vmm_chardev_pty_path(w->channel_backends[i]) : ch->chr.path;
        if (path)
            json_object_object_add(o, "path", json_object_new_string(path));
        if (ch->chr.type == VMM_CHR_UNIX)
            json_object_object_add(o, "listen", json_object_new_boolean(ch->chr.listen));
        json_object_object_add(o, "guest_open",
                               json_object_new_boolean(vmm_virtio_console_guest_open(vs, ch->port)));
        json_object_array_add(r, o);
    }
    return r;
}

/* set-link {"index": N, "up": BOOL}: the carrier of interface N as the
 * guest sees it (virtio-net STATUS with a configuration interrupt, or
 * e1000 STATUS.LU with an LSC interrupt, or rtl8139 BasicModeStatus with
 * LinkChg). */
static json_object *cmd_set_link(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    Worker *w = opaque;
    if (need_vm(w, err))
        return NULL;
    json_object *idx = NULL, *up = NULL;
    if (!worker_args_known(args, "set-link", (const char *const[]){ "index", "up", NULL }, err))
        return NULL;
    if (!json_object_object_get_ex(args, "index", &idx) || !json_object_is_type(idx, json_type_int) ||
        !json_object_object_get_ex(args, "up", &up) || !json_object_is_type(up, json_type_boolean))
        return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                   "set-link needs \"index\" (a number) and \"up\" (a boolean)");
    int64_t i = json_object_get_int64(idx);
    guint n = w->vm->net ? w->vm->net->len : 0;
    if (i < 0 || i >= (int64_t)n)
        return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                   "set-link: no interface %" G_GINT64_FORMAT " (the domain has %u)",
                                   i, n);
    VmmVirtioNet *vn = g_ptr_array_index(w->vm->net, i);
    VmmE1000 *e1000 = vn || !w->vm->e1000 ? NULL : g_ptr_array_index(w->vm->e1000, i);
    bool on = json_object_get_boolean(up);
    if (vn)
        vmm_virtio_net_set_link(vn, on);
    else if (e1000)
        vmm_e1000_set_link(e1000, on);
    else
        vmm_rtl8139_set_link(g_ptr_array_index(w->vm->rtl8139, i), on);
    return json_object_new_object();
}

/* change-media {"device": "hdc", "source": PATH (absent: eject), "force": BOOL}:
 * virsh change-media on an IDE or SATA CD-ROM; the guest sees UNIT ATTENTION. vmmd
 * sends the image it opened with the request (SCM_RIGHTS): a confined
 * worker opens no file. Without one the worker opens PATH itself (run by
 * hand, or without the sandbox). */
static json_object *cmd_change_media(VmmProtoConn *c, json_object *args, void *opaque,
                                     GError **err)
{
    Worker *w = opaque;
    if (need_vm(w, err))
        return NULL;
    json_object *dev = NULL, *src = NULL, *force = NULL;
    if (!worker_args_known(args, "change-media",
                           (const char *const[]){ "device", "source", "force", NULL }, err))
        return NULL;
    if (!json_object_object_get_ex(args, "device", &dev) ||
        !json_object_is_type(dev, json_type_string) ||
        (json_object_object_get_ex(args, "source", &src) &&
         !json_object_is_type(src, json_type_string)) ||
        (json_object_object_get_ex(args, "force", &force) &&
         !json_object_is_type(force, json_type_boolean)))
        return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                   "change-media needs \"device\" (a string), and takes "
                                   "\"source\" (a path; none ejects) and \"force\" (a boolean)");
    const char *path = src ? json_object_get_string(src) : NULL;
    if (path && !g_path_is_absolute(path))
        return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                   "change-media: source '%s' is not an absolute path", path);
    g_autoptr(GError) e = NULL;
    const char *name = json_object_get_string(dev);
    bool forced = force && json_object_get_boolean(force);
    /* The drive first: the AHCI controller's when the disk of that name
     * has bus='sata', else the IDE controller's. A request refused before
     * the descriptor is taken leaves it to the connection, which closes
     * what a handler did not take. */
    bool sata = false;
    for (guint i = 0; w->vm->def->disks && i < w->vm->def->disks->len; i++) {
        const VmmDiskDef *d = g_ptr_array_index(w->vm->def->disks, i);
        if (strcmp(d->target_dev, name) == 0)
            sata = d->bus == VMM_DISK_BUS_SATA;
    }
    if (sata ? !w->vm->ahci : !w->vm->ide)
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                   "change-media: disk %s: the domain has no IDE or SATA CD-ROM "
                                   "of that name", name);
    /* Taken, the descriptor is the change's: the controller consumes it
     * on every path (an eject that came with one is refused there). */
    int fd = vmm_proto_conn_take_fd(c);
    if (path && fd < 0 && vmm_seccomp_active())
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                   "change-media: cannot open '%s': the confined worker opens "
                                   "no file; vmmd passes the image's descriptor with the "
                                   "request (SCM_RIGHTS) and none came", path);
    if (sata ? !vmm_ahci_change_media(w->vm->ahci, name, path, fd, forced, &e)
             : !vmm_ide_change_media(w->vm->ide, name, path, fd, forced, &e))
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "%s", e->message);
    return json_object_new_object();
}

bool worker_args_known(json_object *args, const char *cmd, const char *const *names,
                       GError **err)
{
    json_object_object_foreach(args, k, v) {
        (void)v;
        bool known = false;
        for (const char *const *n = names; *n && !known; n++)
            known = !strcmp(k, *n);
        if (!known) {
            g_autofree char *list = g_strjoinv(", ", (char **)names);
            vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                "%s: unexpected argument '%s' (%s)", cmd, k, list);
            return false;
        }
    }
    return true;
}

/* One integer argument `name` from min to max, no other arguments. */
static bool int_arg(json_object *args, const char *cmd, const char *name, int64_t min,
                    int64_t max, int64_t *out, GError **err)
{
    json_object *v = NULL;
    if (!worker_args_known(args, cmd, (const char *const[]){ name, NULL }, err))
        return false;
    if (!json_object_object_get_ex(args, name, &v) || !json_object_is_type(v, json_type_int)) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT, "%s needs \"%s\" (a number)",
                            cmd, name);
        return false;
    }
    *out = json_object_get_int64(v);
    if (*out < min || *out > max) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                            "%s: %s %" G_GINT64_FORMAT " is out of range (%" G_GINT64_FORMAT
                            " to %" G_GINT64_FORMAT ")", cmd, name, *out, min, max);
        return false;
    }
    return true;
}

static VmmVirtioBalloon *need_balloon(Worker *w, GError **err)
{
    if (need_vm(w, err))
        return NULL;
    VmmVirtioBalloon *b = balloon_of(w);
    if (!b)
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                            "the domain has no balloon device (<memballoon model='none'/>)");
    return b;
}

/* set-memory {"size_kib": N}: the balloon target, as memory left to the
 * guest; `actual` follows when the guest has moved its pages. */
static json_object *cmd_set_memory(VmmProtoConn *c, json_object *args, void *opaque,
                                   GError **err)
{
    Worker *w = opaque;
    VmmVirtioBalloon *b = need_balloon(w, err);
    int64_t kib;
    if (!b)
        return NULL;
    uint64_t max = w->def->memory_kib, floor = MIN(VMM_BALLOON_FLOOR_KIB, max);
    if (!int_arg(args, "set-memory", "size_kib", 0, G_MAXINT64, &kib, err))
        return NULL;
    if ((uint64_t)kib > max)
        return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                   "set-memory: %" G_GINT64_FORMAT " KiB is above the domain's "
                                   "maximum memory (<memory>) of %" G_GUINT64_FORMAT " KiB",
                                   kib, max);
    if ((uint64_t)kib < floor)
        return vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                   "set-memory: %" G_GINT64_FORMAT " KiB is below vmmd's floor "
                                   "of %" G_GUINT64_FORMAT " KiB", kib, floor);
    vmm_virtio_balloon_set_target(b, (max - (uint64_t)kib) / (VMM_BALLOON_PAGE / 1024));
    return json_object_new_object();
}

void worker_balloon_save(Worker *w)
{
    VmmVirtioBalloon *b = w->vm ? balloon_of(w) : NULL;
    w->balloon_kept = b != NULL;
    if (!b)
        return;
    VmmBalloonStats st;
    vmm_virtio_balloon_get_stats(b, &st);
    w->balloon_target = st.num_pages;
    w->balloon_period = vmm_virtio_balloon_get_period(b);
}

void worker_balloon_restore(Worker *w)
{
    VmmVirtioBalloon *b = w->vm && w->balloon_kept ? balloon_of(w) : NULL;
    if (!b)
        return;
    vmm_virtio_balloon_preset_target(b, w->balloon_target);
    vmm_virtio_balloon_set_period(b, w->balloon_period);
}

/* set-balloon-period {"period": N}: seconds between statistics requests. */
static json_object *cmd_set_period(VmmProtoConn *c, json_object *args, void *opaque,
                                   GError **err)
{
    Worker *w = opaque;
    VmmVirtioBalloon *b = need_balloon(w, err);
    int64_t p;
    if (!b || !int_arg(args, "set-balloon-period", "period", 0, VMM_BALLOON_PERIOD_MAX, &p, err))
        return NULL;
    vmm_virtio_balloon_set_period(b, (unsigned)p);
    return json_object_new_object();
}

static json_object *cmd_powerdown(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    Worker *w = opaque;
    if (need_vm(w, err))
        return NULL;
    if (!w->vm->ged)
        return vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                   "the domain has no ACPI (<features><acpi/>), so no power button");
    vmm_vm_power_button(w->vm);
    return json_object_new_object();
}

static json_object *cmd_reset(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    Worker *w = opaque;
    if (need_vm(w, err))
        return NULL;
    w->force_restart = true;
    vmm_vm_request_stop(w->vm, VMM_STOP_RESET, "reset by the host");
    return json_object_new_object();
}

static json_object *cmd_stop(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    Worker *w = opaque;
    if (need_vm(w, err))
        return NULL;
    if (!vmm_vm_paused(w->vm)) {
        vmm_vm_pause(w->vm);
        worker_control_event(w, "STOP", NULL);
    }
    return json_object_new_object();
}

static json_object *cmd_cont(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    Worker *w = opaque;
    if (need_vm(w, err))
        return NULL;
    if (vmm_vm_paused(w->vm)) {
        vmm_vm_resume(w->vm);
        worker_control_event(w, "RESUME", NULL);
    }
    return json_object_new_object();
}

static json_object *cmd_quit(VmmProtoConn *c, json_object *args, void *opaque, GError **err)
{
    Worker *w = opaque;
    if (w->vm)
        vmm_vm_request_stop(w->vm, VMM_STOP_KILLED, "stopped by the host (quit)");
    else
        g_main_loop_quit(w->loop);
    return json_object_new_object();
}

static json_object *cmd_vhost_user_socket(VmmProtoConn *c, json_object *args, void *opaque,
                                          GError **err)
{
    Worker *w = opaque;
    return worker_vhost_sockets_answer(w->vhost_sockets, c, args, err);
}

static const VmmProtoCommand commands[] = {
    { "query-status", true, cmd_query_status },
    { "query-stats", true, cmd_query_stats },
    { "query-chardevs", true, cmd_query_chardevs },
    { "set-link", false, cmd_set_link },
    { "change-media", false, cmd_change_media },
    { "set-memory", false, cmd_set_memory },
    { "set-balloon-period", false, cmd_set_period },
    { "system-powerdown", false, cmd_powerdown },
    { "system-reset", false, cmd_reset },
    { "stop", false, cmd_stop },
    { "cont", false, cmd_cont },
    { "quit", false, cmd_quit },
    { "vhost-user-socket", false, cmd_vhost_user_socket },
    { NULL },
};

bool worker_control_start(Worker *w, const char *path, GError **err)
{
    w->proc_status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    w->control = vmm_proto_server_new("vmm-worker", commands, w);
    if (!vmm_proto_server_listen_path(w->control, path, 0600, false, err)) {
        vmm_proto_server_free(w->control);
        w->control = NULL;
        return false;
    }
    return true;
}

void worker_control_event(Worker *w, const char *event, json_object *data)
{
    if (!w->control) {
        json_object_put(data);
        return;
    }
    vmm_proto_server_broadcast(w->control, event, data ? data : json_object_new_object());
}

void worker_control_stop(Worker *w)
{
    if (w->control)
        vmm_proto_server_free(w->control);
    w->control = NULL;
    if (w->proc_status_fd >= 0)
        close(w->proc_status_fd);
    w->proc_status_fd = -1;
}
