/* <seclabel model='dac'> at run time (vmmd-domain(5), SECURITY LABEL):
 * the uid/gid a domain's worker runs as (a dynamic one from vmmd.conf's
 * dynamic_uid_range, or the static label) and the relabeling of its
 * writable images, as libvirt's DAC driver does. What was changed is kept
 * in RUNDIR/NAME.seclabel (a key file) until the domain stops, so a
 * restarted daemon knows the uid is taken and still restores the owners. */
#include "config.h"
#include "daemon/vmmd.h"
#include "conf/disk_conf.h"
#include "conf/net_conf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#define STATE_GROUP "label"

static char *state_file(const VmmdDomain *dom)
{
    return g_strdup_printf("%s.seclabel", dom->name);
}

/* A uid (and the gid of the same number) the host's user database knows:
 * through NSS, so also systemd-userdb, LDAP and SSSD users. Giving a VM
 * such an id would let it open that user's files, and them its images. */
static bool owned_by_host(guint32 id)
{
    return getpwuid((uid_t)id) || getgrgid((gid_t)id);
}

/* The lowest uid of the range that no other running domain holds and no
 * host user or group has. */
static bool allocate_uid(VmmdDomain *dom, guint32 *out, GError **err)
{
    VmmDaemon *d = dom->daemon;
    g_autoptr(GHashTable) taken = g_hash_table_new(g_direct_hash, g_direct_equal);
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, d->domains);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        VmmdDomain *o = v;
        if (o != dom && o->dynamic_uid)
            g_hash_table_add(taken, GUINT_TO_POINTER(o->dynamic_uid));
    }
    for (guint64 u = d->dynamic_uid_min; u <= d->dynamic_uid_max; u++) {
        if (!g_hash_table_contains(taken, GUINT_TO_POINTER((guint)u)) &&
            !owned_by_host((guint32)u)) {
            *out = (guint32)u;
            return true;
        }
    }
    vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                        "cannot start domain '%s': every uid of dynamic_uid_range %u-%u "
                        "(vmmd.conf) is taken by a running domain or a host user or group",
                        dom->name, d->dynamic_uid_min, d->dynamic_uid_max);
    return false;
}

/* What relabel='yes' chowns: what the worker opens or connects to by
 * path. Its images it opens as root before it confines itself and keeps
 * the descriptors across reboots, so a read-only image, a backing file or
 * a CD-ROM medium (whose later media the daemon opens) needs no owner of
 * the label's; writable ones are given to it as libvirt does, so that
 * one domain's uid can never open another's. A vhost-user back end's
 * socket is left alone: the daemon connects to it for the worker
 * (vhost_sockets.c). Restoring still knows the "socket" groups that older
 * daemons wrote. */
typedef struct {
    char *group;                /* in the state file: "image vda" */
    const char *path;
    char *what;                 /* for messages: "disk vda" */
} Relabel;

static void relabel_clear(gpointer p)
{
    Relabel *r = p;
    g_free(r->group);
    g_free(r->what);
}

static GArray *relabel_list(const VmmDomainDef *def)
{
    GArray *a = g_array_new(FALSE, TRUE, sizeof(Relabel));
    g_array_set_clear_func(a, relabel_clear);
    for (guint i = 0; def->disks && i < def->disks->len; i++) {
        const VmmDiskDef *disk = g_ptr_array_index(def->disks, i);
        if (!disk->path || disk->readonly || disk->type == VMM_DISK_VHOSTUSER)
            continue;
        Relabel r = { g_strdup_printf("image %s", disk->target_dev), disk->path,
                      g_strdup_printf("disk %s", disk->target_dev) };
        g_array_append_val(a, r);
    }
    return a;
}

static bool save_state(VmmdDomain *dom, GKeyFile *kf, GError **err)
{
    gsize len;
    g_autofree char *text = g_key_file_to_data(kf, &len, NULL);
    g_autofree char *file = state_file(dom);
    return vmmd_write_file_atomic_at(dom->daemon->run_fd, dom->daemon->run_dir, file, text, len,
                                     0600, err);
}

bool vmmd_seclabel_prepare(VmmdDomain *dom, VmmDomainDef *live, char **user, char **group,
                           GError **err)
{
    VmmSeclabelDef *sl = live->seclabel;
    *user = *group = NULL;
    if (!sl || sl->type == VMM_SECLABEL_NONE)
        return true;
    uid_t uid, iuid;
    gid_t gid, igid;
    GError *e = NULL;
    if (sl->type == VMM_SECLABEL_DYNAMIC) {
        guint32 n;
        if (!allocate_uid(dom, &n, err))
            return false;
        uid = iuid = n;
        gid = igid = n;
        g_free(sl->label);
        g_free(sl->imagelabel);
        sl->label = g_strdup_printf("+%u:+%u", n, n);
        sl->imagelabel = g_strdup(sl->label);
        dom->dynamic_uid = n;
    } else if (!vmm_seclabel_resolve(sl->label, &uid, &gid, &e) ||
               !vmm_seclabel_resolve(sl->imagelabel ? sl->imagelabel : sl->label, &iuid, &igid,
                                     &e)) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID, "cannot start domain '%s': %s",
                            dom->name, e->message);
        g_error_free(e);
        return false;
    }
    *user = g_strdup_printf("+%u", (unsigned)uid);
    *group = g_strdup_printf("+%u", (unsigned)gid);

    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_key_file_set_string(kf, STATE_GROUP, "type", vmm_seclabel_type_to_string(sl->type));
    g_key_file_set_string(kf, STATE_GROUP, "label", sl->label);
    if (sl->imagelabel)
        g_key_file_set_string(kf, STATE_GROUP, "imagelabel", sl->imagelabel);
    /* first every file's owner, on disk; then the chowns */
    g_autoptr(GArray) todo = relabel_list(live);
    if (!sl->relabel)
        g_array_set_size(todo, 0);
    for (guint i = 0; i < todo->len; i++) {
        const Relabel *r = &g_array_index(todo, Relabel, i);
        struct stat st;
        if (stat(r->path, &st) < 0) {
            int en = errno;
            vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                "cannot start domain '%s': %s: cannot relabel '%s': %s",
                                dom->name, r->what, r->path, g_strerror(en));
            return false;
        }
        g_key_file_set_string(kf, r->group, "path", r->path);
        g_key_file_set_uint64(kf, r->group, "uid", st.st_uid);
        g_key_file_set_uint64(kf, r->group, "gid", st.st_gid);
    }
    if (!save_state(dom, kf, err))
        return false;
    for (guint i = 0; i < todo->len; i++) {
        const Relabel *r = &g_array_index(todo, Relabel, i);
        if (chown(r->path, iuid, igid) < 0) {
            int en = errno;
            vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                "cannot start domain '%s': %s: cannot give '%s' to uid %u "
                                "gid %u (relabel='yes'): %s", dom->name, r->what, r->path,
                                (unsigned)iuid, (unsigned)igid, g_strerror(en));
            return false;   /* the caller's cleanup restores what was done */
        }
        vmmd_log(dom->daemon, dom, LOG_INFO, "%s: '%s' relabeled to %u:%u", r->what, r->path,
                 (unsigned)iuid, (unsigned)igid);
    }
    return true;
}

/* The state file, or NULL when there is none (logged when unreadable). */
static GKeyFile *load_state(VmmdDomain *dom)
{
    g_autofree char *file = state_file(dom);
    g_autofree char *path = g_build_filename(dom->daemon->run_dir, file, NULL);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) e = NULL;
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &e)) {
        if (!g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            vmmd_log(dom->daemon, dom, LOG_WARNING, "cannot read %s: %s", path, e->message);
        return NULL;
    }
    return g_steal_pointer(&kf);
}

void vmmd_seclabel_release(VmmdDomain *dom)
{
    dom->dynamic_uid = 0;
    g_autoptr(GKeyFile) kf = load_state(dom);
    if (!kf)
        return;
    g_autofree char *label = g_key_file_get_string(kf, STATE_GROUP, "label", NULL);
    g_autofree char *imagelabel = g_key_file_get_string(kf, STATE_GROUP, "imagelabel", NULL);
    uid_t luid = (uid_t)-1;
    gid_t lgid = (gid_t)-1;
    if (!vmm_seclabel_resolve(imagelabel ? imagelabel : label, &luid, &lgid, NULL))
        luid = (uid_t)-1;
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++) {
        if (!g_str_has_prefix(*g, "image ") && !g_str_has_prefix(*g, "socket "))
            continue;
        g_autofree char *path = g_key_file_get_string(kf, *g, "path", NULL);
        GError *e1 = NULL, *e2 = NULL;
        guint64 uid = g_key_file_get_uint64(kf, *g, "uid", &e1);
        guint64 gid = g_key_file_get_uint64(kf, *g, "gid", &e2);
        bool bad = !path || e1 || e2 || uid >= G_MAXUINT32 || gid >= G_MAXUINT32;
        g_clear_error(&e1);
        g_clear_error(&e2);
        if (bad) {
            vmmd_log(dom->daemon, dom, LOG_WARNING, "%s.seclabel: [%s] is incomplete; its "
                     "image keeps its owner", dom->name, *g);
            continue;
        }
        struct stat st;
        if (stat(path, &st) < 0)
            continue;   /* gone: nothing to give back */
        /* an image someone else has given away since is left alone */
        if (luid != (uid_t)-1 && (st.st_uid != luid || st.st_gid != lgid) &&
            (st.st_uid != uid || st.st_gid != gid)) {
            vmmd_log(dom->daemon, dom, LOG_WARNING, "'%s' is owned by %u:%u, not by the "
                     "domain's label: its owner is left as it is", path, (unsigned)st.st_uid,
                     (unsigned)st.st_gid);
            continue;
        }
        if (chown(path, (uid_t)uid, (gid_t)gid) < 0)
            vmmd_log(dom->daemon, dom, LOG_WARNING, "cannot give '%s' back to %u:%u: %s", path,
                     (unsigned)uid, (unsigned)gid, g_strerror(errno));
    }
    g_autofree char *file = state_file(dom);
    unlinkat(dom->daemon->run_fd, file, 0);
}

bool vmmd_seclabel_reattach(VmmdDomain *dom)
{
    g_autoptr(GKeyFile) kf = load_state(dom);
    VmmSeclabelDef *sl = dom->live_def ? dom->live_def->seclabel : NULL;
    if (!kf || !sl)
        return false;
    g_autofree char *type = g_key_file_get_string(kf, STATE_GROUP, "type", NULL);
    g_autofree char *label = g_key_file_get_string(kf, STATE_GROUP, "label", NULL);
    g_autofree char *imagelabel = g_key_file_get_string(kf, STATE_GROUP, "imagelabel", NULL);
    uid_t uid;
    gid_t gid;
    if (!label || !vmm_seclabel_resolve(label, &uid, &gid, NULL))
        return false;
    if (g_strcmp0(type, "dynamic") == 0 && sl->type == VMM_SECLABEL_DYNAMIC) {
        dom->dynamic_uid = (guint32)uid;
        g_free(sl->label);
        g_free(sl->imagelabel);
        sl->label = g_steal_pointer(&label);
        sl->imagelabel = g_steal_pointer(&imagelabel);
    }
    return true;
}

char *vmmd_seclabel_process_label(const VmmdDomain *dom)
{
    if (!vmmd_domain_is_active(dom))
        return NULL;
    const VmmDomainDef *def = dom->live_def ? dom->live_def : dom->def;
    const VmmSeclabelDef *sl = def ? def->seclabel : NULL;
    uid_t uid = 0;
    gid_t gid = 0;
    if (sl && sl->label && vmm_seclabel_resolve(sl->label, &uid, &gid, NULL))
        return g_strdup_printf("+%u:+%u", (unsigned)uid, (unsigned)gid);
    /* vmmd.conf's user and group (the worker's defaults), root's without
     * the sandbox */
    VmmDaemon *d = dom->daemon;
    if (!d->worker_sandbox || geteuid() != 0)
        return g_strdup_printf("+%u:+%u", (unsigned)geteuid(), (unsigned)getegid());
    struct passwd *pw = getpwnam(d->worker_user ? d->worker_user : "vmmd");
    if (!pw)
        return NULL;
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    if (d->worker_group) {
        struct group *gr = getgrnam(d->worker_group);
        if (gr)
            gid = gr->gr_gid;
    }
    return g_strdup_printf("+%u:+%u", (unsigned)uid, (unsigned)gid);
}

/* Once at start-up: the users and groups the host lists inside the
 * dynamic range. Allocation skips them anyway (owned_by_host), but a
 * range that overlaps them is a configuration the operator should fix.
 * getpwent() lists what NSS enumerates (LDAP may not enumerate; those
 * are still caught, one uid at a time, when a domain starts). */
static void note_in_range(const VmmDaemon *d, GString *found, guint *n, const char *kind,
                          const char *name, guint32 id)
{
    if (id >= d->dynamic_uid_min && id <= d->dynamic_uid_max && (*n)++ < 8)
        g_string_append_printf(found, "%s%s %s (%u)", found->len ? ", " : "", kind, name, id);
}

void vmmd_seclabel_check_range(VmmDaemon *d)
{
    GString *found = g_string_new(NULL);
    guint n = 0;
    setpwent();
    for (struct passwd *pw; (pw = getpwent());)
        note_in_range(d, found, &n, "user", pw->pw_name, pw->pw_uid);
    endpwent();
    setgrent();
    for (struct group *gr; (gr = getgrent());)
        note_in_range(d, found, &n, "group", gr->gr_name, gr->gr_gid);
    endgrent();
    if (n)
        vmmd_log(d, NULL, LOG_WARNING, "vmmd.conf's dynamic_uid_range %u-%u overlaps %u host "
                 "users and groups: %s%s; domains with a dynamic label skip those ids, but "
                 "choose a range no host user or group is in", d->dynamic_uid_min,
                 d->dynamic_uid_max, n, found->str, n > 8 ? ", ..." : "");
    g_string_free(found, TRUE);
}
