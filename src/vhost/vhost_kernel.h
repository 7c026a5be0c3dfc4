/* The layer's transport over the kernel's vhost ioctls (linux/vhost.h):
 * /dev/vhost-net. */
#ifndef VMM_VHOST_KERNEL_H
#define VMM_VHOST_KERNEL_H

#include "vhost/vhost.h"

#define VMM_VHOST_NET_DEV "/dev/vhost-net"

/* Open a vhost character device, VHOST_SET_OWNER, VHOST_GET_FEATURES. */
VmmVhostDev *vmm_vhost_kernel_open(const char *dev_path, const char *name, GError **err);
/* vhost-net only: VHOST_NET_SET_BACKEND, attach queue q to a tap fd
 * (-1 detaches). Call after vmm_vhost_start for each queue. */
bool vmm_vhost_kernel_net_set_backend(VmmVhostDev *v, unsigned q, int fd, GError **err);

#endif
