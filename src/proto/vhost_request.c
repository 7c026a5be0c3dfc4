/* The worker's VHOST_USER_SOCKET event, written by vmm-worker and read by
 * vmmd from one definition, since vmmd reads it from a worker that its
 * guest may have taken over (vmmd-protocol(7)). */
#include "config.h"
#include "proto/proto.h"

#include <string.h>

json_object *vmm_proto_vhost_request_new(guint64 id, const char *disk, guint64 index)
{
    json_object *ev = json_object_new_object();
    json_object_object_add(ev, "request", json_object_new_int64((int64_t)MIN(id, G_MAXINT64)));
    json_object_object_add(ev, "device", json_object_new_string(disk ? "disk" : "interface"));
    if (disk)
        json_object_object_add(ev, "target", json_object_new_string(disk));
    else
        json_object_object_add(ev, "index",
                               json_object_new_int64((int64_t)MIN(index, G_MAXINT64)));
    return ev;
}

bool vmm_proto_vhost_request_parse(json_object *data, gint64 *id, const char **disk,
                                   guint64 *index, GError **err)
{
    json_object *r = NULL, *dev = NULL, *t = NULL, *ix = NULL;
    *id = -1;
    *disk = NULL;
    *index = 0;
    if (!json_object_is_type(data, json_type_object) ||
        !json_object_object_get_ex(data, "request", &r) || !json_object_is_type(r, json_type_int) ||
        json_object_get_int64(r) < 0) {
        g_set_error(err, VMM_PROTO_ERROR, VMM_PROTO_INVALID_ARGUMENT,
                    "no \"request\" number");
        return false;
    }
    *id = json_object_get_int64(r);
    const char *kind = json_object_object_get_ex(data, "device", &dev) &&
                       json_object_is_type(dev, json_type_string) ? json_object_get_string(dev)
                                                                  : "";
    if (!strcmp(kind, "disk") && json_object_object_get_ex(data, "target", &t) &&
        json_object_is_type(t, json_type_string)) {
        *disk = json_object_get_string(t);
        return true;
    }
    if (!strcmp(kind, "interface") && json_object_object_get_ex(data, "index", &ix) &&
        json_object_is_type(ix, json_type_int) && json_object_get_int64(ix) >= 0) {
        *index = (guint64)json_object_get_int64(ix);
        return true;
    }
    g_set_error(err, VMM_PROTO_ERROR, VMM_PROTO_INVALID_ARGUMENT,
                "expected \"device\": \"disk\" with a \"target\", or \"interface\" with an "
                "\"index\"");
    return false;
}
