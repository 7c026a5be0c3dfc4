/* The domain definition: libvirt domain XML parsed into one struct that the
 * worker and the daemon share. Parsing is strict: an element or attribute
 * vmmd does not implement is an error naming it and its line. */
#ifndef VMM_DOMAIN_CONF_H
#define VMM_DOMAIN_CONF_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/chardev_conf.h"
#include "conf/cpu_conf.h"
#include "conf/seclabel_conf.h"
#include "conf/disk_conf.h"
#include "conf/memballoon_conf.h"
#include "conf/net_conf.h"
#include "conf/rng_conf.h"
#include "conf/tune_conf.h"
#include "conf/vserial_conf.h"

#define VMM_CONF_ERROR (vmm_conf_error_quark())
GQuark vmm_conf_error_quark(void);
typedef enum {
    VMM_CONF_ERROR_XML,          /* not well-formed, DTD/entities, too big */
    VMM_CONF_ERROR_UNSUPPORTED,  /* element/attribute/value not implemented */
    VMM_CONF_ERROR_INVALID,      /* value out of range or inconsistent */
    VMM_CONF_ERROR_IO,           /* file cannot be read */
} VmmConfError;

#define VMM_DOMAIN_XML_MAX_BYTES (1024 * 1024)   /* larger documents rejected */
#define VMM_DOMAIN_NAME_MAX      64
#define VMM_MAX_VCPUS            255             /* xAPIC ids, MADT */

typedef enum {
    VMM_ACTION_DESTROY = 0,
    VMM_ACTION_RESTART,
    VMM_ACTION_PRESERVE,
} VmmLifecycleAction;

typedef enum { VMM_CLOCK_UTC = 0, VMM_CLOCK_LOCALTIME } VmmClockOffset;

typedef struct {
    char *name;
    uint8_t uuid[16];
    bool has_uuid;
    char *title;              /* optional, kept for dumpxml */
    char *description;        /* optional, kept for dumpxml */

    uint64_t memory_kib;          /* <memory> */
    uint64_t current_memory_kib;  /* <currentMemory>, defaults to memory */
    unsigned vcpus;               /* <vcpu> */
    VmmCpuDef *cpu;               /* <cpu> or NULL (src/conf/cpu_conf.h) */
    VmmTuneDef *tune;             /* <cputune>, <memtune>, <blkiotune> or NULL
                                   * (src/conf/tune_conf.h) */
    VmmSeclabelDef *seclabel;     /* <seclabel model='dac'> or NULL (seclabel_conf.h) */

    char *os_arch;            /* "x86_64" */
    char *os_machine;         /* <type machine=...>, recorded verbatim */
    char *kernel;             /* <kernel> path (required) */
    char *initrd;             /* <initrd> path or NULL */
    char *cmdline;            /* <cmdline> or NULL */

    bool acpi;                /* <features><acpi/> */
    bool apic;                /* <features><apic/> */
    bool pae;                 /* <features><pae/> (always on for x86_64) */

    VmmClockOffset clock;

    VmmLifecycleAction on_poweroff;  /* default destroy */
    VmmLifecycleAction on_reboot;    /* default restart */
    VmmLifecycleAction on_crash;     /* default destroy */

    char *emulator;           /* <emulator>, recorded; vmmd uses vmm-worker */
    GPtrArray *disks;         /* VmmDiskDef*, in document order; target_dev
                               * unique; a path shared only by read-only disks */
    GPtrArray *nets;          /* VmmNetDef* (src/conf/net_conf.h), document order */
    GPtrArray *rngs;          /* VmmRngDef* (src/conf/rng_conf.h), document order */
    GPtrArray *serials;       /* VmmChrDef*, sorted by port, no duplicates;
                               * a <console type=... target type='serial'>
                               * without a matching <serial> adds one */
    GPtrArray *controllers;   /* VmmControllerDef* (vserial_conf.h): the
                               * virtio-serial controller, at most one; added
                               * when a virtio console or channel needs it */
    GPtrArray *channels;      /* VmmChannelDef* (vserial_conf.h): virtio
                               * consoles, then <channel>s, document order */
    GPtrArray *memballoons;   /* VmmBalloonDef* (memballoon_conf.h), at most one;
                               * fill-defaults adds a virtio one when empty */
} VmmDomainDef;

/* Files must be regular files of at most VMM_DOMAIN_XML_MAX_BYTES.
 * source_name (may be NULL) prefixes every error message, with the line. */
VmmDomainDef *vmm_domain_def_parse_file(const char *path, GError **err);
VmmDomainDef *vmm_domain_def_parse_string(const char *xml, size_t len,
                                          const char *source_name,
                                          GError **err);
void vmm_domain_def_free(VmmDomainDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmDomainDef, vmm_domain_def_free)

/* "1 GiB" style parsing of libvirt's unit names (b, bytes, KB, k, KiB, MB,
 * M, MiB, GB, G, GiB, TB, T, TiB, and P/E likewise; case-insensitive as in
 * libvirt); value is a plain decimal integer; unit NULL or "" means bytes.
 * Returns false on a bad number, unknown unit or overflow. */
bool vmm_conf_parse_size(const char *value, const char *unit, uint64_t *bytes);

/* The virtio balloon of `def`, or NULL (no <memballoon>, or model='none'). */
const VmmBalloonDef *vmm_domain_def_balloon(const VmmDomainDef *def);

const char *vmm_lifecycle_action_to_string(VmmLifecycleAction a);

/* A vhost-user device of a domain as vmmd and vmm-worker name it to each
 * other (--vhost-user-fd, the VHOST_USER_SOCKET event): the disk with
 * target `disk` or, when disk is NULL, interface number `index`.
 * vmm_domain_vhost_user_socket: its socket path and whether vmmd listens
 * on it (an interface in mode='server'), NULL when def has no such
 * vhost-user device. vmm_domain_vhost_user_name: "disk vdb" or
 * "interface 0" for messages and logs, the target escaped because a
 * worker's request may carry anything. */
const char *vmm_domain_vhost_user_socket(const VmmDomainDef *def, const char *disk,
                                         guint64 index, bool *listening);
char *vmm_domain_vhost_user_name(const char *disk, guint64 index);

#endif
