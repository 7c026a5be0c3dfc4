#include "virtio/vhost_user_blk.h"
#include "vhost/vhost_user.h"
#include "virtio/virtio_blk_req.h"
#include "virtio/virtio_pci.h"
#include "virtio/virtio_spec.h"
#include "vmm/vm.h"
#include "util/log.h"

#include <string.h>

#define VUBLK_QUEUE_SIZE   256
/* struct virtio_blk_config up to write_zeroes_may_unmap and padding, the
 * size QEMU's vhost-user-blk asks for and virtio_blk.c exposes. */
#define VUBLK_CONFIG_SIZE  60
#define VUBLK_CFG_WCE      32
#define VUBLK_CFG_NUMQ     34

struct VmmVhostUserBlk {
    const VmmDiskDef *disk;
    VmmVhostDev *vhost;
    VmmVirtioDev *vdev;
};

/* What this front end passes on from the back end: virtio-blk's features
 * and the ring features our virtio-pci transport implements (no packed
 * ring, no IOMMU, no notification data). */
static const uint64_t passed_features =
    (1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
    (1ULL << 4) /* GEOMETRY */ | (1ULL << VIRTIO_BLK_F_RO) |
    (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH) |
    (1ULL << 10) /* TOPOLOGY */ | (1ULL << VIRTIO_BLK_F_CONFIG_WCE) |
    (1ULL << VIRTIO_BLK_F_MQ) | (1ULL << VIRTIO_BLK_F_DISCARD) |
    (1ULL << VIRTIO_BLK_F_WRITE_ZEROES) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
    (1ULL << VIRTIO_RING_F_EVENT_IDX) | VIRTIO_F_VERSION_1_BIT;

static bool vublk_start(VmmVirtioDev *d, GError **err)
{
    VmmVhostUserBlk *b = d->opaque;
    return vmm_vhost_start(b->vhost, d, NULL, err);
}

static void vublk_stop(VmmVirtioDev *d)
{
    VmmVhostUserBlk *b = d->opaque;
    if (b->vhost)
        vmm_vhost_stop(b->vhost, NULL, 0);
}

static void vublk_config_write(VmmVirtioDev *d, unsigned off, uint64_t v, unsigned size)
{
    VmmVhostUserBlk *b = d->opaque;
    /* Only the writeback byte is writable (CONFIG_WCE); the back end
     * applies it, as QEMU's vhost-user-blk forwards it. */
    if (off != VUBLK_CFG_WCE || size != 1 || !(d->host_features & (1ULL << VIRTIO_BLK_F_CONFIG_WCE)))
        return;
    uint8_t wce = v & 1;
    g_autoptr(GError) err = NULL;
    if (!vmm_vhost_set_config(b->vhost, off, &wce, 1, &err)) {
        vmm_log_warn("%s: write cache setting: %s", d->name, err->message);
        return;
    }
    g_mutex_lock(&d->lock);
    d->config[VUBLK_CFG_WCE] = wce;
    g_mutex_unlock(&d->lock);
}

static void vublk_irq_changed(VmmVirtioDev *d)
{
    VmmVhostUserBlk *b = d->opaque;
    vmm_vhost_irq_changed(b->vhost);
}

static const VmmVirtioOps vublk_ops = {
    .name = "vhost-user-blk",
    .virtio_id = 2,
    .pci_class = 0x010000,
    .start = vublk_start,
    .stop = vublk_stop,
    .config_write = vublk_config_write,
    .irq_changed = vublk_irq_changed,
};

/* The back end went away: the disk stops (NEEDS_RESET), the VM and its
 * other devices go on. */
static void on_disconnect(void *opaque)
{
    VmmVhostUserBlk *b = opaque;
    vmm_virtio_backend_failed(b->vdev, "disk %s: the vhost-user back end on %s closed the "
                              "connection", b->disk->target_dev, b->disk->path);
}

/* The back end's config changed (qemu-storage-daemon sends this after
 * block_resize): like QEMU's vhost-user-blk, only a new capacity goes to
 * the guest, with a config interrupt; the rest of the config (queue count,
 * write cache) is this front end's and the driver's. */
static void on_config_change(void *opaque)
{
    VmmVhostUserBlk *b = opaque;
    uint8_t config[VUBLK_CONFIG_SIZE];
    g_autoptr(GError) err = NULL;
    if (!vmm_vhost_get_config(b->vhost, config, sizeof(config), &err)) {
        vmm_log_warn("%s: the back end announced a config change: %s", b->vdev->name,
                     err->message);
        return;
    }
    if (vmm_virtio_config_update(b->vdev, 0, config, 8))
        vmm_log_info("%s: the back end's capacity is now %" G_GUINT64_FORMAT " sectors",
                     b->vdev->name,
                     (uint64_t)pci_get_u32(config) | (uint64_t)pci_get_u32(config + 4) << 32);
}

VmmVhostUserBlk *vmm_vhost_user_blk_new(VmmVm *vm, const VmmDiskDef *disk, int pci_slot,
                                        GError **err)
{
    g_autofree char *name = g_strdup_printf("vhost-user-blk %s", disk->target_dev);
    VmmVhostUserBlk *b = g_new0(VmmVhostUserBlk, 1);
    b->disk = disk;
    b->vhost = vmm_vhost_user_connect(disk->path, disk->target_dev, 0, name, err);
    if (!b->vhost) {
        vmm_vhost_user_blk_free(b);
        return NULL;
    }
    uint64_t offered = vmm_vhost_features(b->vhost);
    uint8_t config[VUBLK_CONFIG_SIZE];
    if (!(offered & VIRTIO_F_VERSION_1_BIT)) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: the vhost-user back end %s does not offer "
                    "VIRTIO_F_VERSION_1 (vmmd has no legacy virtio)", name, disk->path);
        vmm_vhost_user_blk_free(b);
        return NULL;
    }
    if (!vmm_vhost_get_config(b->vhost, config, sizeof(config), err)) {
        vmm_vhost_user_blk_free(b);
        return NULL;
    }
    unsigned nq = 1;
    if (offered & (1ULL << VIRTIO_BLK_F_MQ))
        nq = MAX(pci_get_u16(config + VUBLK_CFG_NUMQ), 1);
    nq = MIN(MIN(nq, vmm_vhost_max_queues(b->vhost)), VMM_MAX_DISK_QUEUES);
    if (disk->queues > nq) {
        g_set_error(err, VMM_VHOST_ERROR, 0, "%s: <driver queues='%u'> but the vhost-user "
                    "back end %s serves %u", name, disk->queues, disk->path, nq);
        vmm_vhost_user_blk_free(b);
        return NULL;
    }
    /* Like QEMU: no queues= means as many as the back end serves, up to
     * one per vCPU. */
    nq = disk->queues ? disk->queues : MIN(nq, MAX(vm->nr_vcpus, 1u));
    pci_set_u16(config + VUBLK_CFG_NUMQ, nq);
    uint64_t features = offered & passed_features;
    if (nq == 1)
        features &= ~(1ULL << VIRTIO_BLK_F_MQ);
    b->vdev = vmm_virtio_pci_new(vm, &vublk_ops, b, name, nq, VUBLK_QUEUE_SIZE, features,
                                 VUBLK_CONFIG_SIZE, pci_slot, err);
    if (!b->vdev) {
        vmm_vhost_user_blk_free(b);
        return NULL;
    }
    memcpy(b->vdev->config, config, sizeof(config));
    vmm_vhost_set_disconnect_handler(b->vhost, on_disconnect, b);
    vmm_vhost_set_config_handler(b->vhost, on_config_change, b);
    vmm_vhost_set_reconnect(b->vhost, disk->reconnect);
    vmm_log_info("%s: vhost-user back end %s, %u queue%s, capacity %" G_GUINT64_FORMAT
                 " sectors", name, disk->path, nq, nq == 1 ? "" : "s",
                 (uint64_t)pci_get_u32(config) | (uint64_t)pci_get_u32(config + 4) << 32);
    return b;
}

void vmm_vhost_user_blk_free(VmmVhostUserBlk *b)
{
    if (!b)
        return;
    /* The back end first: closing the socket stops its queues, and the
     * layer's thread (which may be notifying the device) is gone before
     * the device is freed. vublk_stop then has nothing to stop. */
    vmm_vhost_free(b->vhost);
    b->vhost = NULL;
    vmm_virtio_pci_free(b->vdev);
    g_free(b);
}
