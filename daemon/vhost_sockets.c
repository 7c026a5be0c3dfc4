/* The vhost-user sockets of a domain, made here for its worker: the
 * confined worker has an empty root and an unprivileged uid, so it can
 * neither see a back end's socket path nor (usually) write to a socket the
 * back end's user owns. The daemon connects as root (or listens, for an
 * interface in server mode) from its own copy of the definition, and
 * passes the descriptors: all of them at start (--vhost-user-fd), one on
 * the worker's request when a guest reboot or a reconnect needs a new
 * connection (event VHOST_USER_SOCKET, answered with the worker command
 * vhost-user-socket; vmmd-protocol(7)). The worker names the device, never
 * a path. */
#include "config.h"
#include "daemon/vmmd.h"
#include "vhost/vhost_user.h"

#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

/* Requests a worker may make per second: each one is a connection to its
 * back end, which a runaway or hostile worker must not flood. A reboot
 * asks once per device; a reconnect loop once per <reconnect timeout>. */
#define REQUESTS_PER_SECOND 16

/* The socket path of vhost-user disk `disk`, else interface `index`, in
 * def; NULL with an error when def has no such device. */
static const char *device_socket(const VmmDomainDef *def, const char *disk, guint64 index,
                                 bool *listening, GError **err)
{
    const char *path = vmm_domain_vhost_user_socket(def, disk, index, listening);
    if (!path) {
        g_autofree char *what = vmm_domain_vhost_user_name(disk, index);
        g_set_error(err, VMM_PROTO_ERROR, VMM_PROTO_INVALID_ARGUMENT,
                    "domain '%s' has no vhost-user %s", def->name, what);
    }
    return path;
}

int vmmd_vhost_user_socket(const VmmDomainDef *def, const char *disk, guint64 index,
                           GError **err)
{
    bool listening;
    const char *path = device_socket(def, disk, index, &listening, err);
    if (!path)
        return -1;
    g_autofree char *what = vmm_domain_vhost_user_name(disk, index);
    g_autoptr(GError) e = NULL;
    int fd = vmm_vhost_user_socket(path, listening, &e);
    if (fd < 0)
        g_set_error(err, VMM_PROTO_ERROR, VMM_PROTO_GENERIC_ERROR, "%s: vhost-user %s %s: %s",
                    what, listening ? "socket" : "back end", path, e->message);
    return fd;
}

bool vmmd_vhost_user_sockets_open(const VmmDomainDef *def, GArray *fds, GPtrArray *keys,
                                  GError **err)
{
    for (guint i = 0; def->disks && i < def->disks->len; i++) {
        const VmmDiskDef *d = g_ptr_array_index(def->disks, i);
        if (d->type != VMM_DISK_VHOSTUSER)
            continue;
        int fd = vmmd_vhost_user_socket(def, d->target_dev, 0, err);
        if (fd < 0)
            return false;
        g_array_append_val(fds, fd);
        g_ptr_array_add(keys, g_strdup_printf("disk:%s", d->target_dev));
    }
    for (guint i = 0; def->nets && i < def->nets->len; i++) {
        if (((const VmmNetDef *)g_ptr_array_index(def->nets, i))->type != VMM_NET_VHOSTUSER)
            continue;
        int fd = vmmd_vhost_user_socket(def, NULL, i, err);
        if (fd < 0)
            return false;
        g_array_append_val(fds, fd);
        g_ptr_array_add(keys, g_strdup_printf("interface:%u", i));
    }
    return true;
}

typedef struct {
    VmmdDomain *dom;
    unsigned run;
    char *what;
} Answer;

static void on_answered(VmmProtoClient *c, json_object *ret, const GError *err, void *opaque)
{
    Answer *a = opaque;
    if (err && a->dom->run == a->run)
        vmmd_log(a->dom->daemon, a->dom, LOG_WARNING, "the worker took no socket for %s: %s",
                 a->what, err->message);
    g_free(a->what);
    g_free(a);
}

void vmmd_vhost_user_socket_request(VmmdDomain *dom, json_object *data)
{
    VmmDaemon *d = dom->daemon;
    gint64 id;
    const char *disk = NULL;
    guint64 index = 0;
    g_autoptr(GError) e = NULL;
    int fd = -1;
    gint64 now = g_get_monotonic_time() / G_USEC_PER_SEC;
    if (now != dom->vhost_requests_second) {
        dom->vhost_requests_second = now;
        dom->vhost_requests = 0;
    }
    g_autofree char *what = NULL;
    const char *path = NULL;
    bool listening;
    if (!vmm_proto_vhost_request_parse(data, &id, &disk, &index, &e)) {
        vmmd_log(d, dom, LOG_WARNING, "the worker's request for a vhost-user socket is "
                 "malformed: %s", e->message);
        if (id < 0)
            return;   /* nothing to answer to */
    } else {
        /* The answer's error is the reason alone: the worker names the
         * device and its path itself. */
        what = vmm_domain_vhost_user_name(disk, index);
        if (++dom->vhost_requests > REQUESTS_PER_SECOND)
            g_set_error(&e, VMM_PROTO_ERROR, VMM_PROTO_OPERATION_INVALID,
                        "more than %d requests for vhost-user sockets in a second; refused",
                        REQUESTS_PER_SECOND);
        else if (!dom->live_def)
            g_set_error(&e, VMM_PROTO_ERROR, VMM_PROTO_OPERATION_INVALID,
                        "domain '%s' is not running", dom->name);
        else if ((path = device_socket(dom->live_def, disk, index, &listening, &e)))
            fd = vmm_vhost_user_socket(path, listening, &e);
        if (fd >= 0)
            vmmd_log(d, dom, LOG_INFO, "made the vhost-user socket of %s (%s) for the worker",
                     what, path);
        else
            vmmd_log(d, dom, LOG_WARNING, "the worker asked for the vhost-user socket of "
                     "%s%s%s%s: %s", what, path ? " (" : "", path ? path : "", path ? ")" : "",
                     e->message);
    }
    json_object *args = json_object_new_object();
    json_object_object_add(args, "request", json_object_new_int64(id));
    if (fd < 0)
        json_object_object_add(args, "error", json_object_new_string(e->message));
    Answer *a = g_new0(Answer, 1);
    a->dom = dom;
    a->run = dom->run;
    a->what = what ? g_steal_pointer(&what) : g_strdup("a malformed request");
    g_autoptr(GError) ce = NULL;
    if (!vmmd_domain_worker_call_fd(dom, "vhost-user-socket", args, fd, on_answered, a, &ce)) {
        vmmd_log(d, dom, LOG_WARNING, "cannot answer the worker's request for %s: %s",
                 a->what, ce->message);
        g_free(a->what);
        g_free(a);
    }
}

void vmmd_vhost_user_sockets_remove(const VmmDomainDef *def)
{
    for (guint i = 0; def && def->nets && i < def->nets->len; i++) {
        const VmmNetDef *n = g_ptr_array_index(def->nets, i);
        struct stat st;
        /* only a socket: the path may have become anything since */
        if (n->type == VMM_NET_VHOSTUSER && n->socket_server && n->socket_path &&
            lstat(n->socket_path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(n->socket_path);
    }
}
