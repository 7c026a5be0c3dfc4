/* Opening the host side of an <interface> (see netdev.h). */
#include "net/netdev.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"

static bool fail(GError **err, unsigned index, const char *ifname, GError *cause)
{
    g_set_error(err, VMM_ERROR, 0, "interface %u%s%s%s: %s", index, ifname ? " (" : "",
                ifname ? ifname : "", ifname ? ")" : "", cause->message);
    g_error_free(cause);
    return false;
}

static bool open_tap(VmmNetdev *n, const VmmNetDef *def, unsigned index, GError **err)
{
    GError *e = NULL;
    unsigned queues = def->queues ? def->queues : 1;
    /* an existing tap: exactly the one named; otherwise the named one or
     * the kernel's next vnetN */
    const char *name = def->target_dev ? def->target_dev : "vnet%d";
    n->tap = vmm_tap_open(name, queues, &e);
    if (!n->tap)
        return fail(err, index, def->target_dev, e);
    g_strlcpy(n->ifname, n->tap->name, sizeof(n->ifname));
    n->nfds = n->tap->nqueues;
    memcpy(n->fds, n->tap->fds, sizeof(n->fds[0]) * n->nfds);
    if (def->managed_no)
        return true;   /* someone else's tap: its settings are theirs */
    if ((def->mtu && !vmm_tap_set_mtu(n->tap, def->mtu, &e)) ||
        ((def->type == VMM_NET_BRIDGE || def->type == VMM_NET_NETWORK) &&
         !vmm_tap_attach_bridge(n->tap, def->bridge, &e)) ||
        !vmm_tap_set_up(n->tap, true, &e))
        return fail(err, index, n->ifname, e);
    return true;
}

VmmNetdev *vmm_netdev_open(const VmmNetDef *def, unsigned index, GError **err)
{
    VmmNetdev *n = g_new0(VmmNetdev, 1);
    n->type = def->type;
    for (unsigned i = 0; i < VMM_TAP_MAX_QUEUES; i++)
        n->fds[i] = -1;
    GError *e = NULL;
    bool ok;
    switch (def->type) {
    case VMM_NET_NETWORK:
        if (!def->bridge) {   /* the daemon fills it from the running network */
            g_set_error(err, VMM_ERROR, 0, "interface %u: virtual network "
                        "'%s' is not running here (its bridge is unknown)", index,
                        def->network);
            ok = false;
            break;
        }
        /* fall through */
    case VMM_NET_BRIDGE:
    case VMM_NET_ETHERNET:
        ok = open_tap(n, def, index, err);
        break;
    case VMM_NET_USER: {
        g_autofree char *label = g_strdup_printf("%u", index);
        g_autofree char *mtu = def->mtu ? g_strdup_printf("%u", def->mtu) : NULL;
        const char *extra[] = { "--mtu", mtu, NULL };
        n->passt = vmm_passt_start(g_getenv("VMM_PASST"), label, mtu ? extra : NULL, &e);
        if (!n->passt) {
            /* vmm_passt_start names "interface N" itself */
            g_propagate_error(err, e);
            ok = false;
            break;
        }
        n->nfds = 1;
        n->fds[0] = n->passt->fd;
        ok = true;
        break;
    }
    case VMM_NET_VHOSTUSER: {
        /* Nothing to hand over here: the socket is made apart (by vmmd,
         * vhost_user.h's opener; by a worker run by hand itself), once per
         * connection. A client's socket must exist now: a start that
         * cannot connect fails early, naming it. */
        struct stat st;
        const char *why = NULL;
        if (!def->socket_server) {
            if (stat(def->socket_path, &st) < 0)
                why = g_strerror(errno);
            else if (!S_ISSOCK(st.st_mode))
                why = "not a unix socket";
        }
        if (why)
            g_set_error(err, VMM_ERROR, 0, "interface %u: vhost-user socket %s: %s", index,
                        def->socket_path, why);
        ok = !why;
        break;
    }
    default:
        g_set_error(err, VMM_ERROR, 0, "interface %u: type '%s' has no host side vmmd can open",
                    index, vmm_net_type_to_string(def->type));
        ok = false;
    }
    if (!ok) {
        vmm_netdev_close(n);
        return NULL;
    }
    return n;
}

VmmNetdev *vmm_netdev_adopt(const VmmNetDef *def, unsigned index, const int *fds,
                            unsigned nfds, GError **err)
{
    if (!def) {
        g_set_error(err, VMM_ERROR, 0, "--net-fds names interface %u, which the definition "
                    "does not have", index);
        return NULL;
    }
    unsigned want = def->type == VMM_NET_USER ? 1 : (def->queues ? def->queues : 1);
    if (nfds != want) {
        g_set_error(err, VMM_ERROR, 0, "interface %u: %u fds handed over, its definition needs %u",
                    index, nfds, want);
        return NULL;
    }
    VmmNetdev *n = g_new0(VmmNetdev, 1);
    n->type = def->type;
    n->nfds = nfds;
    for (unsigned i = 0; i < VMM_TAP_MAX_QUEUES; i++)
        n->fds[i] = i < nfds ? fds[i] : -1;
    for (unsigned i = 0; i < nfds; i++)
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    struct ifreq ifr = { 0 };
    if (def->type != VMM_NET_USER && ioctl(fds[0], TUNGETIFF, &ifr) == 0)
        g_strlcpy(n->ifname, ifr.ifr_name, sizeof(n->ifname));
    n->adopted = true;
    return n;
}

void vmm_netdev_close(VmmNetdev *n)
{
    if (!n)
        return;
    vmm_tap_close(n->tap);
    vmm_passt_stop(n->passt);
    if (n->adopted)
        for (unsigned i = 0; i < n->nfds; i++)
            close(n->fds[i]);
    g_free(n);
}

void vmm_netdev_release(VmmNetdev *n)
{
    if (!n)
        return;
    /* the worker holds its own copies of the tap fds: closing ours leaves
     * the device to it */
    vmm_tap_close(n->tap);
    vmm_passt_detach(n->passt);
    g_free(n);
}

bool vmm_netdev_parse_fd_arg(const char *arg, unsigned *index, int *fds, unsigned *nfds,
                             GError **err)
{
    const char *colon = strchr(arg, ':');
    guint64 v;
    g_auto(GStrv) parts = NULL;   /* before the first goto: freed at "bad" */
    g_autofree char *idx = colon ? g_strndup(arg, (size_t)(colon - arg)) : NULL;
    if (!idx || !g_ascii_string_to_unsigned(idx, 10, 0, 255, &v, NULL))
        goto bad;
    *index = (unsigned)v;
    parts = g_strsplit(colon + 1, ",", -1);
    unsigned k = 0;
    for (; parts[k]; k++) {
        if (k == VMM_TAP_MAX_QUEUES || !g_ascii_string_to_unsigned(parts[k], 10, 3, G_MAXINT, &v, NULL))
            goto bad;
        fds[k] = (int)v;
    }
    if (!k)
        goto bad;
    *nfds = k;
    return true;
bad:
    g_set_error(err, VMM_ERROR, 0,
                "--net-fds '%s': expected INDEX:FD[,FD...] (at most %d fds, each >= 3)", arg,
                VMM_TAP_MAX_QUEUES);
    return false;
}
