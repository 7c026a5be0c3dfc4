/* Virtual network definitions: libvirt's network XML (<network>) parsed
 * into one struct and formatted back, strictly as the domain XML is: an
 * element, attribute or value vmmd does not implement is an error naming
 * it and its line. The daemon keeps these beside the domains and starts
 * them (daemon/network.c); only the daemon links this file. */
#ifndef VMM_NETWORK_CONF_H
#define VMM_NETWORK_CONF_H

#include <glib.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#define VMM_NETWORK_XML_MAX_BYTES (256 * 1024)

/* <forward mode=...>; none = an isolated network. */
typedef enum {
    VMM_NETWORK_FORWARD_NONE = 0,
    VMM_NETWORK_FORWARD_NAT,
    VMM_NETWORK_FORWARD_ROUTE,
    VMM_NETWORK_FORWARD_OPEN,
} VmmNetworkForward;

/* An address of either family, as inet_pton() gives it. */
typedef struct {
    int family;                   /* AF_INET or AF_INET6; 0: absent */
    union {
        struct in_addr v4;
        struct in6_addr v6;
    };
} VmmInetAddr;

typedef struct {
    VmmInetAddr start, end;
} VmmNetworkDhcpRange;

typedef struct {
    uint8_t mac[6];
    bool has_mac;
    char *name;                   /* NULL or a host name */
    VmmInetAddr ip;               /* family 0: none */
} VmmNetworkDhcpHost;

/* <ip>: the bridge's address and the subnet it serves. */
typedef struct {
    VmmInetAddr address;
    unsigned prefix;              /* from prefix= or netmask= */
    bool netmask_form;            /* written as netmask= (formatted so again) */
    bool family_given;            /* family= was written (formatted so again) */
    GArray *ranges;               /* VmmNetworkDhcpRange */
    GPtrArray *hosts;             /* VmmNetworkDhcpHost* */
    bool has_dhcp;                /* a <dhcp> element, even an empty one */
} VmmNetworkIpDef;

/* <dns><host ip=''><hostname/>...</host></dns> */
typedef struct {
    VmmInetAddr ip;
    GPtrArray *names;             /* char* */
} VmmNetworkDnsHost;

typedef struct {
    char *name;
    uint8_t uuid[16];
    bool has_uuid;
    char *title, *description;
    VmmNetworkForward forward;
    char *forward_dev;            /* <forward dev=''>: the outgoing interface */
    unsigned nat_port_start, nat_port_end;   /* <nat><port start end/> */
    char *bridge;                 /* <bridge name=''>; defaulted at define */
    bool stp;                     /* default on */
    unsigned delay;
    unsigned mtu;                 /* 0: the kernel's default */
    uint8_t mac[6];
    bool has_mac;
    char *domain;                 /* <domain name=''> */
    bool domain_local_only;
    int dns_enable;               /* -1 absent, 0 no, 1 yes */
    GPtrArray *dns_hosts;         /* VmmNetworkDnsHost* */
    GPtrArray *ips;               /* VmmNetworkIpDef* */
} VmmNetworkDef;

void vmm_network_def_free(VmmNetworkDef *def);
/* A deep copy, through the formatter and the parser (so it obeys every
 * rule a definition does); NULL + err only for a definition no XML can
 * carry. */
VmmNetworkDef *vmm_network_def_copy(const VmmNetworkDef *def, const char *source_name,
                                    GError **err);
void vmm_network_dhcp_host_free(VmmNetworkDhcpHost *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmNetworkDhcpHost, vmm_network_dhcp_host_free)
/* One <host mac='' name='' ip=''/> (net-update ip-dhcp-host). */
VmmNetworkDhcpHost *vmm_network_dhcp_host_parse(const char *xml, GError **err);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmNetworkDef, vmm_network_def_free)

/* Parses a network document; errors are VMM_CONF_ERROR (domain_conf.h),
 * prefixed with source_name (may be NULL) and the line. */
VmmNetworkDef *vmm_network_def_parse_string(const char *xml, size_t len,
                                            const char *source_name, GError **err);
VmmNetworkDef *vmm_network_def_parse_file(const char *path, GError **err);

/* libvirt's element order, two-space indentation, a final newline. With
 * `connections` > 0 the root carries connections='N' (a running network,
 * as net-dumpxml shows it). */
char *vmm_network_def_format(const VmmNetworkDef *def, unsigned connections, GError **err);

/* What libvirt fills at net-define: a random uuid, a bridge name
 * (virbrN, the lowest N that `taken` (may be NULL) does not hold) and a
 * random 52:54:00 MAC for the bridge. */
void vmm_network_def_fill_defaults(VmmNetworkDef *def, GHashTable *taken);

/* The first IPv4 <ip> (NULL if none), and whether two networks' subnets
 * overlap (any <ip> of one with any of the other, same family). */
const VmmNetworkIpDef *vmm_network_def_ipv4(const VmmNetworkDef *def);
bool vmm_network_def_overlaps(const VmmNetworkDef *a, const VmmNetworkDef *b,
                              char **what);

/* "192.168.122.1" / "fd00::1" */
char *vmm_inet_addr_to_string(const VmmInetAddr *a);
/* Either family; false (family 0) for anything else. */
bool vmm_inet_addr_parse(const char *s, VmmInetAddr *a);
/* `a` with the host bits under `prefix` cleared: its subnet's address. */
VmmInetAddr vmm_inet_addr_network(const VmmInetAddr *a, unsigned prefix);
/* The IPv4 netmask of `prefix` bits (255.255.255.0 for 24). */
VmmInetAddr vmm_inet_netmask4(unsigned prefix);
/* An address within `prefix` bits of `net`. */
bool vmm_inet_addr_in_subnet(const VmmInetAddr *a, const VmmInetAddr *net, unsigned prefix);

const char *vmm_network_forward_to_string(VmmNetworkForward f);

#endif
