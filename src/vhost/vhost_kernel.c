/* The vhost layer over the kernel's vhost ioctls. The same messages as
 * vhost-user, one ioctl each; the ring addresses and the memory table's
 * userspace_addr are this process's, which the kernel reads directly. */
#include "vhost/vhost_kernel.h"
#include "util/sandbox.h"
#include "vhost/vhost_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

typedef struct {
    int fd;
} KernelPriv;

static int kfd(VmmVhostDev *v)
{
    return ((KernelPriv *)v->priv)->fd;
}

static bool kioctl(VmmVhostDev *v, unsigned long req, const char *what, void *arg,
                   GError **err)
{
    if (ioctl(kfd(v), req, arg) == 0)
        return true;
    g_set_error(err, VMM_VHOST_ERROR, 0, "%s: %s: %s", v->name, what, g_strerror(errno));
    return false;
}

static bool k_set_features(VmmVhostDev *v, uint64_t features, GError **err)
{
    return kioctl(v, VHOST_SET_FEATURES, "VHOST_SET_FEATURES", &features, err);
}

static bool k_set_mem_table(VmmVhostDev *v, const VmmVhostMemRegion *r, unsigned n,
                            GError **err)
{
    g_autofree struct vhost_memory *m =
        g_malloc0(sizeof(*m) + n * sizeof(struct vhost_memory_region));
    m->nregions = n;
    for (unsigned i = 0; i < n; i++)
        m->regions[i] = (struct vhost_memory_region){
            .guest_phys_addr = r[i].gpa, .memory_size = r[i].size,
            .userspace_addr = r[i].hva };
    return kioctl(v, VHOST_SET_MEM_TABLE, "VHOST_SET_MEM_TABLE", m, err);
}

static bool k_vring_state(VmmVhostDev *v, unsigned long req, const char *what, unsigned q,
                          unsigned num, GError **err)
{
    struct vhost_vring_state s = { .index = q, .num = num };
    return kioctl(v, req, what, &s, err);
}

static bool k_set_vring_num(VmmVhostDev *v, unsigned q, unsigned num, GError **err)
{
    return k_vring_state(v, VHOST_SET_VRING_NUM, "VHOST_SET_VRING_NUM", q, num, err);
}

static bool k_set_vring_base(VmmVhostDev *v, unsigned q, unsigned base, GError **err)
{
    return k_vring_state(v, VHOST_SET_VRING_BASE, "VHOST_SET_VRING_BASE", q, base, err);
}

static bool k_set_vring_addr(VmmVhostDev *v, unsigned q, uint64_t desc, uint64_t used,
                             uint64_t avail, GError **err)
{
    struct vhost_vring_addr a = { .index = q, .desc_user_addr = desc,
                                  .used_user_addr = used, .avail_user_addr = avail };
    return kioctl(v, VHOST_SET_VRING_ADDR, "VHOST_SET_VRING_ADDR", &a, err);
}

static bool k_vring_file(VmmVhostDev *v, unsigned long req, const char *what, unsigned q,
                         int fd, GError **err)
{
    struct vhost_vring_file f = { .index = q, .fd = fd };
    return kioctl(v, req, what, &f, err);
}

static bool k_set_vring_kick(VmmVhostDev *v, unsigned q, int fd, GError **err)
{
    return k_vring_file(v, VHOST_SET_VRING_KICK, "VHOST_SET_VRING_KICK", q, fd, err);
}

static bool k_set_vring_call(VmmVhostDev *v, unsigned q, int fd, GError **err)
{
    return k_vring_file(v, VHOST_SET_VRING_CALL, "VHOST_SET_VRING_CALL", q, fd, err);
}

static bool k_get_vring_base(VmmVhostDev *v, unsigned q, unsigned *base, GError **err)
{
    struct vhost_vring_state s = { .index = q };
    if (!kioctl(v, VHOST_GET_VRING_BASE, "VHOST_GET_VRING_BASE", &s, err))
        return false;
    *base = s.num;
    return true;
}

static void k_close(VmmVhostDev *v)
{
    KernelPriv *k = v->priv;
    if (k && k->fd >= 0)
        close(k->fd);
    g_free(k);
}

static const VmmVhostOps kernel_ops = {
    .kind = "vhost-net",
    .set_features = k_set_features,
    .set_mem_table = k_set_mem_table,
    .set_vring_num = k_set_vring_num,
    .set_vring_base = k_set_vring_base,
    .set_vring_addr = k_set_vring_addr,
    .set_vring_kick = k_set_vring_kick,
    .set_vring_call = k_set_vring_call,
    .get_vring_base = k_get_vring_base,
    .close = k_close,
};

VmmVhostDev *vmm_vhost_kernel_open(const char *dev_path, const char *name, GError **err)
{
    int fd = vmm_sandbox_open(dev_path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: cannot open %s: %s", name, dev_path,
                    g_strerror(errno));
        return NULL;
    }
    KernelPriv *k = g_new0(KernelPriv, 1);
    k->fd = fd;
    VmmVhostDev *v = g_new0(VmmVhostDev, 1);
    /* The kernel back end cannot hang up: nothing to watch. */
    vmm_vhost_dev_init(v, &kernel_ops, k, name, -1);
    uint64_t features = 0;
    if (!kioctl(v, VHOST_SET_OWNER, "VHOST_SET_OWNER", NULL, err) ||
        !kioctl(v, VHOST_GET_FEATURES, "VHOST_GET_FEATURES", &features, err) ||
        !vmm_vhost_dev_ready(v, err)) {
        vmm_vhost_free(v);
        return NULL;
    }
    v->features = features;
    return v;
}

bool vmm_vhost_kernel_net_set_backend(VmmVhostDev *v, unsigned q, int fd, GError **err)
{
    if (v->ops != &kernel_ops) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: VHOST_NET_SET_BACKEND on a %s back end",
                    v->name, v->ops->kind);
        return false;
    }
    g_mutex_lock(&v->lock);
    bool ok = k_vring_file(v, VHOST_NET_SET_BACKEND, "VHOST_NET_SET_BACKEND", q, fd, err);
    g_mutex_unlock(&v->lock);
    return ok;
}
