/* vhost-user front end: the layer's transport over a unix socket to a back
 * end process (QEMU's docs/interop/vhost-user.rst). */
#ifndef VMM_VHOST_USER_H
#define VMM_VHOST_USER_H

#include "vhost/vhost.h"

/* Connect to a back end listening on path and negotiate: SET_OWNER,
 * GET_FEATURES, protocol features (REPLY_ACK, CONFIG, MQ), GET_QUEUE_NUM.
 * name is for messages ("vhost-user-blk vdb"). */
VmmVhostDev *vmm_vhost_user_connect(const char *path, const char *name, GError **err);

#endif
