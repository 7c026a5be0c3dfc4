/* vhost-user front end (QEMU's docs/interop/vhost-user.rst). Skeleton:
 * the protocol follows in the next commit. */
#include "vhost/vhost_user.h"
#include "vhost/vhost_int.h"

VmmVhostDev *vmm_vhost_user_connect(const char *path, const char *name, GError **err)
{
    g_set_error(err, VMM_VHOST_ERROR, 0, "%s: vhost-user (%s) is not implemented yet", name,
                path);
    return NULL;
}
