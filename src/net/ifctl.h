/* Host network interfaces by name, through the kernel's interface ioctls
 * (no netlink needed for these): MTU, up/down, MAC, addresses, and Linux
 * bridges (create, delete, add a port, STP and forward delay through
 * sysfs). Shared by taps (tap.c) and vmmd's virtual networks. Every error
 * names the interface ("kind NAME: what: why"). */
#ifndef VMM_NET_IFCTL_H
#define VMM_NET_IFCTL_H

#include <glib.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

/* `kind` labels messages: "tap", "bridge". */
bool vmm_if_set_mtu(const char *kind, const char *name, unsigned mtu, GError **err);
bool vmm_if_set_up(const char *kind, const char *name, bool up, GError **err);
bool vmm_if_set_mac(const char *kind, const char *name, const uint8_t mac[6], GError **err);
bool vmm_if_add_ipv4(const char *kind, const char *name, const struct in_addr *addr,
                     unsigned prefix, GError **err);
bool vmm_if_add_ipv6(const char *kind, const char *name, const struct in6_addr *addr,
                     unsigned prefix, GError **err);
/* The interface exists (in this network namespace). */
bool vmm_if_exists(const char *name);

bool vmm_bridge_create(const char *name, GError **err);
bool vmm_bridge_delete(const char *name, GError **err);   /* brought down first */
bool vmm_bridge_add_port(const char *bridge, const char *port, GError **err);
bool vmm_bridge_set_stp(const char *name, bool stp, unsigned delay_s, GError **err);

#endif
