#include "net/tap.h"
#include "net/ifctl.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define VNET_HDR_SIZE 12   /* struct virtio_net_hdr_mrg_rxbuf, VERSION_1 */

static bool tap_error(GError **err, const VmmTap *t, const char *what)
{
    int e = errno;
    g_set_error(err, VMM_ERROR, 0, "tap %s: %s: %s", t->name[0] ? t->name : "(new)", what,
                g_strerror(e));
    return false;
}

/* An AF_INET datagram socket: the handle for interface ioctls. */
static int ctl_socket(void)
{
    return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

static bool ifreq_ioctl(VmmTap *t, unsigned long req, struct ifreq *ifr, const char *what,
                        GError **err)
{
    int s = ctl_socket();
    if (s < 0)
        return tap_error(err, t, "socket");
    g_strlcpy(ifr->ifr_name, t->name, IFNAMSIZ);
    int rc = ioctl(s, req, ifr);
    int e = errno;
    close(s);
    errno = e;
    return rc == 0 || tap_error(err, t, what);
}

unsigned vmm_tap_probe_offloads(int fd)
{
    static const unsigned flags[] = { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_UFO };
    unsigned ok = 0;
    for (unsigned i = 0; i < G_N_ELEMENTS(flags); i++) {
        unsigned f = ok | flags[i] | TUN_F_CSUM;   /* TSO/UFO need CSUM */
        if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)f) == 0)
            ok = f;
    }
    ioctl(fd, TUNSETOFFLOAD, 0UL);
    return ok;
}

VmmTap *vmm_tap_open(const char *name, unsigned nqueues, GError **err)
{
    VmmTap *t = g_new0(VmmTap, 1);
    for (unsigned i = 0; i < VMM_TAP_MAX_QUEUES; i++)
        t->fds[i] = -1;
    bool create = !name || !*name || g_str_has_suffix(name, "%d");
    g_strlcpy(t->name, name && *name ? name : "vnet%d", sizeof(t->name));
    if (nqueues < 1 || nqueues > VMM_TAP_MAX_QUEUES) {
        g_set_error(err, VMM_ERROR, 0, "tap %s: %u queues, the limit is 1..%u", t->name, nqueues,
                    VMM_TAP_MAX_QUEUES);
        g_free(t);
        return NULL;
    }
    for (unsigned i = 0; i < nqueues; i++) {
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
            tap_error(err, t, "open /dev/net/tun");
            goto fail;
        }
        t->fds[i] = fd;
        t->nqueues = i + 1;
        struct ifreq ifr = { 0 };
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (nqueues > 1 ? IFF_MULTI_QUEUE : 0);
        g_strlcpy(ifr.ifr_name, t->name, IFNAMSIZ);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
            /* EBUSY: another process holds it; EINVAL: its flags differ
             * (single vs multi queue, or not a tap). */
            tap_error(err, t, errno == EBUSY ? "TUNSETIFF (busy: in use by another process)"
                                             : "TUNSETIFF");
            goto fail;
        }
        if (i == 0) {
            /* The kernel's name for a new device (vnet%d -> vnet0). */
            g_strlcpy(t->name, ifr.ifr_name, sizeof(t->name));
            t->created = create;
        }
        int hdr = VNET_HDR_SIZE;
        if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
            tap_error(err, t, "TUNSETVNETHDRSZ");
            goto fail;
        }
    }
    t->offloads = vmm_tap_probe_offloads(t->fds[0]);
    return t;
fail:
    vmm_tap_close(t);
    return NULL;
}

void vmm_tap_close(VmmTap *t)
{
    if (!t)
        return;
    /* A device created without TUNSETPERSIST vanishes with its last fd;
     * a persistent one we made is made non-persistent first. */
    if (t->created && t->persist && t->nqueues)
        ioctl(t->fds[0], TUNSETPERSIST, 0UL);
    for (unsigned i = 0; i < t->nqueues; i++)
        if (t->fds[i] >= 0)
            close(t->fds[i]);
    g_free(t);
}

bool vmm_tap_set_persist(VmmTap *t, bool persist, GError **err)
{
    if (ioctl(t->fds[0], TUNSETPERSIST, (unsigned long)persist) < 0)
        return tap_error(err, t, "TUNSETPERSIST");
    t->persist = persist;
    return true;
}

bool vmm_tap_delete(const char *name, GError **err)
{
    VmmTap t = { 0 };
    g_strlcpy(t.name, name, sizeof(t.name));
    /* TUNSETIFF would create a missing one: look first. */
    struct ifreq ifr = { 0 };
    if (!ifreq_ioctl(&t, SIOCGIFINDEX, &ifr, "delete", err))
        return false;
    memset(&ifr, 0, sizeof(ifr));
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return tap_error(err, &t, "open /dev/net/tun");
    g_strlcpy(ifr.ifr_name, name, IFNAMSIZ);
    /* TUNSETIFF with the device's own flags; try both queue modes. */
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    bool ok = ioctl(fd, TUNSETIFF, &ifr) == 0;
    if (!ok) {
        ifr.ifr_flags |= IFF_MULTI_QUEUE;
        ok = ioctl(fd, TUNSETIFF, &ifr) == 0;
    }
    if (!ok || ioctl(fd, TUNSETPERSIST, 0UL) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return tap_error(err, &t, "delete");
    }
    close(fd);
    return true;
}

bool vmm_tap_set_mtu(VmmTap *t, unsigned mtu, GError **err)
{
    return vmm_if_set_mtu("tap", t->name, mtu, err);
}

bool vmm_tap_set_up(VmmTap *t, bool up, GError **err)
{
    return vmm_if_set_up("tap", t->name, up, err);
}

bool vmm_tap_attach_bridge(VmmTap *t, const char *bridge, GError **err)
{
    GError *e = NULL;
    if (vmm_bridge_add_port(bridge, t->name, &e))
        return true;
    g_set_error(err, VMM_ERROR, 0, "tap %s", e->message);
    g_error_free(e);
    return false;
}

static bool fd_error(GError **err, const char *name, const char *what)
{
    int e = errno;
    g_set_error(err, VMM_ERROR, 0, "tap %s: %s: %s", name, what, g_strerror(e));
    return false;
}

bool vmm_tap_set_offload(int fd, const char *name, unsigned tun_flags, GError **err)
{
    return ioctl(fd, TUNSETOFFLOAD, (unsigned long)tun_flags) == 0 ||
           fd_error(err, name, "TUNSETOFFLOAD");
}

bool vmm_tap_enable_queue(int fd, const char *name, bool enable, GError **err)
{
    struct ifreq ifr = { 0 };
    ifr.ifr_flags = enable ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
    /* EINVAL: a single-queue tap, or the queue is already in that state. */
    if (ioctl(fd, TUNSETQUEUE, &ifr) < 0 && errno != EINVAL)
        return fd_error(err, name, enable ? "attach queue" : "detach queue");
    return true;
}

bool vmm_tap_set_carrier(VmmTap *t, bool on, GError **err)
{
    int v = on;
    return ioctl(t->fds[0], TUNSETCARRIER, &v) == 0 || tap_error(err, t, "TUNSETCARRIER");
}
