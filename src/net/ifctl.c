#include "net/ifctl.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static bool if_error(GError **err, const char *kind, const char *name, const char *what,
                     int e)
{
    g_set_error(err, VMM_ERROR, 0, "%s %s: %s: %s", kind, name, what,
                e == ENODEV ? "no such interface" : g_strerror(e));
    return false;
}

/* One ioctl on a datagram socket of `family`, the interface named in ifr. */
static bool ifreq_ioctl(int family, const char *kind, const char *name, unsigned long req,
                        void *arg, const char *what, GError **err)
{
    int s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return if_error(err, kind, name, "socket", errno);
    int rc = ioctl(s, req, arg);
    int e = errno;
    close(s);
    return rc == 0 || if_error(err, kind, name, what, e);
}

static void ifr_init(struct ifreq *ifr, const char *name)
{
    memset(ifr, 0, sizeof(*ifr));
    g_strlcpy(ifr->ifr_name, name, IFNAMSIZ);
}

bool vmm_if_set_mtu(const char *kind, const char *name, unsigned mtu, GError **err)
{
    struct ifreq ifr;
    ifr_init(&ifr, name);
    ifr.ifr_mtu = (int)mtu;
    return ifreq_ioctl(AF_INET, kind, name, SIOCSIFMTU, &ifr, "set MTU", err);
}

bool vmm_if_set_up(const char *kind, const char *name, bool up, GError **err)
{
    struct ifreq ifr;
    ifr_init(&ifr, name);
    if (!ifreq_ioctl(AF_INET, kind, name, SIOCGIFFLAGS, &ifr, "get flags", err))
        return false;
    if (up)
        ifr.ifr_flags |= IFF_UP;
    else
        ifr.ifr_flags &= ~IFF_UP;
    return ifreq_ioctl(AF_INET, kind, name, SIOCSIFFLAGS, &ifr,
                       up ? "bring up" : "bring down", err);
}

bool vmm_if_set_mac(const char *kind, const char *name, const uint8_t mac[6], GError **err)
{
    struct ifreq ifr;
    ifr_init(&ifr, name);
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
    return ifreq_ioctl(AF_INET, kind, name, SIOCSIFHWADDR, &ifr, "set MAC address", err);
}

bool vmm_if_add_ipv4(const char *kind, const char *name, const struct in_addr *addr,
                     unsigned prefix, GError **err)
{
    struct ifreq ifr;
    ifr_init(&ifr, name);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    sin->sin_family = AF_INET;
    sin->sin_addr = *addr;
    if (!ifreq_ioctl(AF_INET, kind, name, SIOCSIFADDR, &ifr, "set IPv4 address", err))
        return false;
    ifr_init(&ifr, name);
    sin = (struct sockaddr_in *)&ifr.ifr_netmask;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(prefix ? 0xffffffffu << (32 - prefix) : 0);
    return ifreq_ioctl(AF_INET, kind, name, SIOCSIFNETMASK, &ifr, "set IPv4 netmask", err);
}

/* The kernel's struct in6_ifreq (linux/ipv6.h clashes with glibc's). */
struct vmm_in6_ifreq {
    struct in6_addr addr;
    uint32_t prefixlen;
    int ifindex;
};

bool vmm_if_add_ipv6(const char *kind, const char *name, const struct in6_addr *addr,
                     unsigned prefix, GError **err)
{
    unsigned index = if_nametoindex(name);
    if (!index)
        return if_error(err, kind, name, "set IPv6 address", errno);
    struct vmm_in6_ifreq r = { .addr = *addr, .prefixlen = prefix, .ifindex = (int)index };
    return ifreq_ioctl(AF_INET6, kind, name, SIOCSIFADDR, &r, "set IPv6 address", err);
}

bool vmm_if_exists(const char *name)
{
    return if_nametoindex(name) != 0;
}

bool vmm_bridge_create(const char *name, GError **err)
{
    char buf[IFNAMSIZ];
    g_strlcpy(buf, name, sizeof(buf));
    return ifreq_ioctl(AF_INET, "bridge", name, SIOCBRADDBR, buf, "create", err);
}

bool vmm_bridge_delete(const char *name, GError **err)
{
    char buf[IFNAMSIZ];
    g_strlcpy(buf, name, sizeof(buf));
    /* the kernel refuses to delete a bridge that is up */
    GError *e = NULL;
    if (!vmm_if_set_up("bridge", name, false, &e))
        g_clear_error(&e);
    return ifreq_ioctl(AF_INET, "bridge", name, SIOCBRDELBR, buf, "delete", err);
}

bool vmm_bridge_add_port(const char *bridge, const char *port, GError **err)
{
    unsigned index = if_nametoindex(port);
    if (!index)
        return if_error(err, "interface", port, "attach to bridge", errno);
    struct ifreq ifr;
    ifr_init(&ifr, bridge);
    ifr.ifr_ifindex = (int)index;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return if_error(err, "bridge", bridge, "socket", errno);
    int rc = ioctl(s, SIOCBRADDIF, &ifr);
    int e = errno;
    close(s);
    if (rc == 0)
        return true;
    g_set_error(err, VMM_ERROR, 0, "%s: attach to bridge %s: %s", port, bridge,
                e == ENODEV ? "no such bridge" : g_strerror(e));
    return false;
}

/* The bridge driver's private ioctls (linux/if_bridge.h's BRCTL_*), which,
 * unlike /sys/class/net, reach the bridge of the caller's own network
 * namespace wherever sysfs was mounted. */
#define BRCTL_SET_BRIDGE_FORWARD_DELAY 8
#define BRCTL_SET_BRIDGE_STP_STATE 14

static bool brctl(const char *bridge, unsigned long cmd, unsigned long value, const char *what,
                  GError **err)
{
    unsigned long args[4] = { cmd, value, 0, 0 };
    struct ifreq ifr;
    ifr_init(&ifr, bridge);
    ifr.ifr_data = (char *)args;
    return ifreq_ioctl(AF_INET, "bridge", bridge, SIOCDEVPRIVATE, &ifr, what, err);
}

bool vmm_bridge_set_stp(const char *name, bool stp, unsigned delay_s, GError **err)
{
    /* The delay first, while STP is still off (with STP on the kernel
     * refuses one under 2 s); turning STP on raises a shorter one to 2 s,
     * as with libvirt. In hundredths of a second. */
    return brctl(name, BRCTL_SET_BRIDGE_FORWARD_DELAY, delay_s * 100UL, "set forward delay",
                 err) &&
           brctl(name, BRCTL_SET_BRIDGE_STP_STATE, stp, "set STP", err);
}
