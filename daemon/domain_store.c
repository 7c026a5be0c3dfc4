/* Domain definitions on disk: <config>/domains/NAME.xml holds the
 * canonical XML vmmd wrote, <config>/autostart/NAME (an empty file) marks
 * autostart. Every write is atomic (tmp, fsync, rename, fsync dir), so a
 * crash leaves either the old or the new definition, never half of one. */
#include "config.h"
#include "conf/domain_format.h"
#include "daemon/vmmd.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

void vmmd_uuid_format(const uint8_t u[16], char out[VMMD_UUID_STRLEN])
{
    g_snprintf(out, VMMD_UUID_STRLEN,
               "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
               u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
               u[12], u[13], u[14], u[15]);
}

VmmdDomain *vmmd_domain_new(VmmDaemon *d, const char *name)
{
    VmmdDomain *dom = g_new0(VmmdDomain, 1);
    dom->daemon = d;
    dom->name = g_strdup(name);
    dom->state = VMMD_STATE_SHUTOFF;
    dom->reason = "unknown";
    dom->id = -1;
    dom->pidfd = -1;
    dom->destroy_waiters = g_ptr_array_new();
    return dom;
}

void vmmd_domain_free(VmmdDomain *dom)
{
    if (!dom)
        return;
    /* Drops the worker connection and timers; pending replies get errors. */
    vmmd_domain_release(dom);
    g_ptr_array_free(dom->destroy_waiters, TRUE);
    g_free(dom->name);
    g_free(dom->xml);
    vmm_domain_def_free(dom->def);
    g_free(dom->live_xml);
    vmm_domain_def_free(dom->live_def);
    g_free(dom->exit_reason);
    vmmd_cgroup_free(dom->cgroup);   /* the groups stay with a running worker */
    g_free(dom->start_error);
    g_free(dom);
}

const VmmDomainDef *vmmd_domain_current_def(const VmmdDomain *dom)
{
    return dom->live_def ? dom->live_def : dom->def;
}

const char *vmmd_domain_current_xml(const VmmdDomain *dom)
{
    return dom->live_xml ? dom->live_xml : dom->xml;
}

VmmdDomain *vmmd_domain_lookup(VmmDaemon *d, const char *key)
{
    if (!key)
        return NULL;
    VmmdDomain *dom = g_hash_table_lookup(d->domains, key);
    if (dom || strlen(key) != VMMD_UUID_STRLEN - 1)
        return dom;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, d->domains);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (g_ascii_strcasecmp(((VmmdDomain *)v)->uuid, key) == 0)
            return v;
    return NULL;
}

static gint by_key(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *vmmd_sorted_values(GHashTable *by_name)
{
    guint n = 0;
    g_autofree gpointer *keys = g_hash_table_get_keys_as_array(by_name, &n);
    qsort(keys, n, sizeof(*keys), (int (*)(const void *, const void *))by_key);
    GPtrArray *a = g_ptr_array_sized_new(n);
    for (guint i = 0; i < n; i++)
        g_ptr_array_add(a, g_hash_table_lookup(by_name, keys[i]));
    return a;
}

GPtrArray *vmmd_domain_list(VmmDaemon *d)
{
    return vmmd_sorted_values(d->domains);
}

/* ------------------------------------------------------------------------ */
/* files                                                                    */

static bool fsync_dirfd(int dirfd, const char *dir, GError **err)
{
    if (fsync(dirfd) < 0) {
        int e = errno;
        g_set_error(err, VMM_PROTO_ERROR, VMM_PROTO_INTERNAL_ERROR,
                    "cannot sync directory '%s': %s", dir, g_strerror(e));
        return false;
    }
    return true;
}

static bool fsync_dir(const char *dir, GError **err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        g_set_error(err, VMM_PROTO_ERROR, VMM_PROTO_INTERNAL_ERROR,
                    "cannot sync directory '%s': %s", dir, g_strerror(e));
        return false;
    }
    bool ok = fsync_dirfd(fd, dir, err);
    close(fd);
    return ok;
}

bool vmmd_write_file_atomic_at(int dirfd, const char *dir, const char *name, const char *data,
                               gsize len, mode_t mode, GError **err)
{
    /* The temporary name starts with '.', which no domain name may, so it
     * never collides with another domain's file. O_EXCL|O_NOFOLLOW: a name
     * planted in the directory is never followed. */
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autofree char *tmp = NULL;
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        g_free(tmp);
        tmp = g_strdup_printf(".%s.tmp-%08x", name, g_random_int());
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        g_set_error(err, VMM_PROTO_ERROR, VMM_PROTO_INTERNAL_ERROR,
                    "cannot create a file in '%s': %s", dir, g_strerror(e));
        return false;
    }
    gsize off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        off += (gsize)n;
    }
    if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (renameat(dirfd, tmp, dirfd, name) < 0)
        goto fail;
    return fsync_dirfd(dirfd, dir, err);

fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlinkat(dirfd, tmp, 0);
    g_set_error(err, VMM_PROTO_ERROR, VMM_PROTO_INTERNAL_ERROR, "cannot write '%s': %s", path,
                g_strerror(e ? e : EIO));
    return false;
}

bool vmmd_write_file_atomic(const char *dir, const char *name, const char *data, gsize len,
                            mode_t mode, GError **err)
{
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        int e = errno;
        g_set_error(err, VMM_PROTO_ERROR, VMM_PROTO_INTERNAL_ERROR,
                    "cannot open directory '%s': %s", dir, g_strerror(e));
        return false;
    }
    bool ok = vmmd_write_file_atomic_at(dirfd, dir, name, data, len, mode, err);
    close(dirfd);
    return ok;
}

char *vmmd_read_file_at(int dirfd, const char *dir, const char *name, gsize max, gsize *len,
                        GError **err)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    int e = 0;
    if (fd < 0 || fstat(fd, &st) < 0) {
        e = errno;
    } else if (!S_ISREG(st.st_mode)) {
        e = EINVAL;
    } else if ((guint64)st.st_size > max) {
        e = EFBIG;
    }
    if (e) {
        if (fd >= 0)
            close(fd);
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot read '%s': %s", path,
                    e == EINVAL ? "not a regular file" : e == ELOOP ? "it is a symbolic link"
                                                                    : g_strerror(e));
        return NULL;
    }
    GString *s = g_string_sized_new((gsize)st.st_size + 1);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || s->len + (gsize)n > max) {
            e = n < 0 ? errno : EFBIG;
            close(fd);
            g_string_free(s, TRUE);
            g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot read '%s': %s",
                        path, g_strerror(e));
            return NULL;
        }
        g_string_append_len(s, buf, n);
    }
    close(fd);
    if (len)
        *len = s->len;
    return g_string_free(s, FALSE);
}

bool vmmd_remove_file(const char *dir, const char *name, GError **err)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    if (g_unlink(path) < 0 && errno != ENOENT) {
        int e = errno;
        g_set_error(err, VMM_PROTO_ERROR, VMM_PROTO_INTERNAL_ERROR, "cannot remove '%s': %s",
                    path, g_strerror(e));
        return false;
    }
    return fsync_dir(dir, err);
}

static bool make_dir(const char *path, GError **err)
{
    if (g_mkdir_with_parents(path, 0755) < 0) {
        int e = errno;
        g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e),
                    "cannot create directory '%s': %s", path, g_strerror(e));
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* validation and canonical form                                            */

static bool check_managed(const VmmDomainDef *def, GError **err)
{
    /* <run>/NAME.sock would be the daemon's own socket. */
    if (strcmp(def->name, "vmmd") == 0 || strcmp(def->name, "vmmd-ro") == 0) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                            "domain name '%s' is reserved: its runtime files would collide "
                            "with the daemon's sockets", def->name);
        return false;
    }
    for (guint i = 0; def->serials && i < def->serials->len; i++) {
        const VmmChrDef *chr = g_ptr_array_index(def->serials, i);
        if (chr->type == VMM_CHR_STDIO) {
            vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                                "domain '%s': serial port %u is type 'stdio', which only "
                                "works for vmm-worker --xml in a terminal; a domain run by "
                                "vmmd needs type 'pty', 'file' or 'unix'",
                                def->name, chr->port);
            return false;
        }
    }
    return true;
}

/* Fills the defaults (uuid, PCI slots) and returns the canonical XML vmmd
 * keeps on disk. */
static char *canonicalize(VmmDomainDef *def, GError **err)
{
    GError *e = NULL;
    /* a dynamic label's uid is one run's (libvirt's inactive XML drops it) */
    vmm_seclabel_def_strip_live(def->seclabel);
    if (!vmm_domain_def_fill_defaults(def, &e)) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT, "%s", e->message);
        g_error_free(e);
        return NULL;
    }
    g_autofree char *xml = vmm_domain_def_format(def, &e);
    if (!xml) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT, "%s", e->message);
        g_error_free(e);
        return NULL;
    }
    /* kept on disk as libvirt keeps its definitions, and as dumpxml shows them */
    return vmmd_libvirt_xml(xml, -1, err);
}

static bool validate_schema(VmmDaemon *d, const char *xml, gsize len, GError **err)
{
    GError *e = NULL;
    if (vmm_domain_validate_schema(xml, len, d->schema_path, &e))
        return true;
    if (g_error_matches(e, VMM_CONF_ERROR, VMM_CONF_ERROR_IO))
        vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR, "cannot validate: %s "
                            "(set VMM_SCHEMA_DIR to the directory of domain.rng)", e->message);
    else
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT,
                            "domain XML does not match vmmd's schema: %s", e->message);
    g_error_free(e);
    return false;
}

VmmdDomain *vmmd_domain_define(VmmDaemon *d, const char *given, GError **err)
{
    /* dumpxml of a running domain has id='N'; define takes it back as
     * libvirt does, ignoring it */
    g_autofree char *xml = vmmd_xml_drop_id(given, err);
    if (!xml)
        return NULL;
    gsize len = strlen(xml);
    GError *e = NULL;
    g_autoptr(VmmDomainDef) def = vmm_domain_def_parse_string(xml, len, "domain XML", &e);
    if (!def) {
        vmm_proto_set_error(err, VMM_PROTO_INVALID_ARGUMENT, "%s", e->message);
        g_error_free(e);
        return NULL;
    }
    if (!validate_schema(d, xml, len, err) || !check_managed(def, err))
        return NULL;

    VmmdDomain *dom = g_hash_table_lookup(d->domains, def->name);
    if (def->has_uuid) {
        char uuid[VMMD_UUID_STRLEN];
        vmmd_uuid_format(def->uuid, uuid);
        VmmdDomain *other = vmmd_domain_lookup(d, uuid);
        if (dom && strcmp(dom->uuid, uuid) != 0) {
            vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                "domain '%s' already exists with uuid %s", dom->name, dom->uuid);
            return NULL;
        }
        if (other && other != dom) {
            vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                                "uuid %s is already used by domain '%s'", uuid, other->name);
            return NULL;
        }
    } else if (dom) {
        /* Redefining without a uuid keeps the domain's (as libvirt does). */
        VmmDomainDef *cur = dom->def ? dom->def : dom->live_def;
        memcpy(def->uuid, cur->uuid, 16);
        def->has_uuid = true;
    }
    g_autofree char *canon = canonicalize(def, err);
    if (!canon)
        return NULL;
    g_autofree char *file = g_strdup_printf("%s.xml", def->name);
    if (!vmmd_write_file_atomic(d->domains_dir, file, canon, strlen(canon), 0644, err))
        return NULL;

    bool created = !dom;
    if (!dom) {
        dom = vmmd_domain_new(d, def->name);
        g_hash_table_insert(d->domains, dom->name, dom);
    }
    vmmd_uuid_format(def->uuid, dom->uuid);
    g_free(dom->xml);
    dom->xml = g_steal_pointer(&canon);
    vmm_domain_def_free(dom->def);
    dom->def = g_steal_pointer(&def);
    dom->persistent = true;
    vmmd_log(d, dom, LOG_INFO, "%s%s", created ? "defined" : "redefined",
             vmmd_domain_is_active(dom) ? " (takes effect at the next start)" : "");
    vmmd_libvirt_event(dom, VMMD_EVENT_DEFINED, created ? 0 : 1);   /* ADDED, UPDATED */
    return dom;
}

bool vmmd_domain_undefine(VmmdDomain *dom, GError **err)
{
    VmmDaemon *d = dom->daemon;
    if (vmmd_domain_is_active(dom) || dom->job != VMMD_JOB_NONE) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                            "domain '%s' is %s; destroy or shut it down before undefining it",
                            dom->name, vmmd_state_name(dom->state));
        return false;
    }
    g_autofree char *file = g_strdup_printf("%s.xml", dom->name);
    if (!vmmd_remove_file(d->autostart_dir, dom->name, err) ||
        !vmmd_remove_file(d->domains_dir, file, err))
        return false;
    vmmd_log(d, dom, LOG_INFO, "undefined");
    vmmd_libvirt_event(dom, VMMD_EVENT_UNDEFINED, 0);   /* REMOVED */
    g_hash_table_remove(d->domains, dom->name);   /* frees dom */
    return true;
}

bool vmmd_domain_set_autostart(VmmdDomain *dom, bool on, GError **err)
{
    VmmDaemon *d = dom->daemon;
    if (!dom->persistent) {
        vmm_proto_set_error(err, VMM_PROTO_OPERATION_INVALID,
                            "domain '%s' is transient (no definition on disk) and cannot "
                            "autostart; define it first", dom->name);
        return false;
    }
    if (on && !vmmd_write_file_atomic(d->autostart_dir, dom->name, "", 0, 0644, err))
        return false;
    if (!on && !vmmd_remove_file(d->autostart_dir, dom->name, err))
        return false;
    dom->autostart = on;
    return true;
}

/* ------------------------------------------------------------------------ */
/* loading                                                                  */

static void load_definition(VmmDaemon *d, const char *file)
{
    g_autofree char *path = g_build_filename(d->domains_dir, file, NULL);
    g_autofree char *expect = g_strndup(file, strlen(file) - 4);
    GError *e = NULL;
    g_autoptr(VmmDomainDef) def = vmm_domain_def_parse_file(path, &e);
    if (!def) {
        vmmd_log(d, NULL, LOG_ERR, "ignoring definition %s: %s", path, e->message);
        g_error_free(e);
        return;
    }
    if (strcmp(def->name, expect) != 0) {
        vmmd_log(d, NULL, LOG_ERR, "ignoring definition %s: it names domain '%s'; the file "
                 "must be called %s.xml", path, def->name, def->name);
        return;
    }
    bool had_uuid = def->has_uuid;
    g_autofree char *canon = canonicalize(def, &e);
    if (!canon) {
        vmmd_log(d, NULL, LOG_ERR, "ignoring definition %s: %s", path, e->message);
        g_error_free(e);
        return;
    }
    char uuid[VMMD_UUID_STRLEN];
    vmmd_uuid_format(def->uuid, uuid);
    VmmdDomain *other = vmmd_domain_lookup(d, uuid);
    if (other) {
        vmmd_log(d, NULL, LOG_ERR, "ignoring definition %s: uuid %s is already used by "
                 "domain '%s'", path, uuid, other->name);
        return;
    }
    /* A hand-written file without a uuid gets one, kept from now on. */
    if (!had_uuid && !vmmd_write_file_atomic(d->domains_dir, file, canon, strlen(canon), 0644,
                                             &e)) {
        vmmd_log(d, NULL, LOG_WARNING, "%s", e->message);
        g_clear_error(&e);
    }
    VmmdDomain *dom = vmmd_domain_new(d, def->name);
    memcpy(dom->uuid, uuid, sizeof(uuid));
    dom->xml = g_steal_pointer(&canon);
    dom->def = g_steal_pointer(&def);
    dom->persistent = true;
    g_autofree char *flag = g_build_filename(d->autostart_dir, dom->name, NULL);
    dom->autostart = g_file_test(flag, G_FILE_TEST_EXISTS);
    g_hash_table_insert(d->domains, dom->name, dom);
}

static gint cmp_str_ptr(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool vmmd_store_init(VmmDaemon *d, GError **err)
{
    if (!make_dir(d->domains_dir, err) || !make_dir(d->autostart_dir, err) ||
        !make_dir(d->run_dir, err))
        return false;
    GDir *dir = g_dir_open(d->domains_dir, 0, err);
    if (!dir)
        return false;
    const char *n;
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    while ((n = g_dir_read_name(dir)))
        if (n[0] != '.' && g_str_has_suffix(n, ".xml") && strlen(n) > 4)
            g_ptr_array_add(files, g_strdup(n));
    g_dir_close(dir);
    g_ptr_array_sort(files, cmp_str_ptr);
    for (guint i = 0; i < files->len; i++)
        load_definition(d, g_ptr_array_index(files, i));
    vmmd_log(d, NULL, LOG_INFO, "%u domain definitions in %s", g_hash_table_size(d->domains),
             d->domains_dir);
    return true;
}
