/* The domain definition: libvirt domain XML parsed into one struct that the
 * worker and the daemon share. Parsing is strict: an element or attribute
 * vmmd does not implement is an error naming it and its line. */
#ifndef VMM_DOMAIN_CONF_H
#define VMM_DOMAIN_CONF_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/cpu_conf.h"
#include "conf/net_conf.h"

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
#define VMM_MAX_SERIALS          4               /* COM1..COM4 */

typedef enum {
    VMM_ACTION_DESTROY = 0,
    VMM_ACTION_RESTART,
    VMM_ACTION_PRESERVE,
} VmmLifecycleAction;

typedef enum {
    VMM_CHR_STDIO = 0,
    VMM_CHR_FILE,
    VMM_CHR_PTY,
    VMM_CHR_UNIX,
} VmmChrType;

typedef struct {
    VmmChrType type;
    char *path;        /* file: output file; unix: socket path; pty: NULL */
    bool append;       /* file: <source append='on'/> (default off = truncate) */
    bool listen;       /* unix: mode='bind' (server) vs 'connect' */
    unsigned port;     /* <target port='N'/>: 0 = COM1 ... 3 = COM4 */
} VmmChrDef;

typedef enum { VMM_CLOCK_UTC = 0, VMM_CLOCK_LOCALTIME } VmmClockOffset;

/* <disk>: libvirt's cache= and io= with QEMU's meaning (see src/block/). */
typedef enum {
    VMM_CACHE_WRITEBACK = 0,   /* default: page cache, write cache on, flush = fdatasync */
    VMM_CACHE_WRITETHROUGH,    /* O_DSYNC, no write cache */
    VMM_CACHE_NONE,            /* O_DIRECT, write cache on, flush = fdatasync */
    VMM_CACHE_DIRECTSYNC,      /* O_DIRECT | O_DSYNC, no write cache */
    VMM_CACHE_UNSAFE,          /* page cache, flushes ignored */
} VmmCacheMode;

typedef enum {
    VMM_IO_THREADS = 0,        /* default: a pool of I/O threads */
    VMM_IO_NATIVE,             /* Linux AIO; needs cache none or directsync */
    VMM_IO_URING,              /* io_uring */
} VmmIoMode;

typedef enum { VMM_DISCARD_IGNORE = 0, VMM_DISCARD_UNMAP } VmmDiscardMode;
typedef enum { VMM_DISK_FILE = 0, VMM_DISK_BLOCK, VMM_DISK_VHOSTUSER } VmmDiskSourceType;
typedef enum { VMM_DISK_BUS_VIRTIO = 0 } VmmDiskBus;

#define VMM_MAX_DISK_QUEUES 16
#define VMM_DISK_SERIAL_MAX 20   /* VIRTIO_BLK_ID_BYTES */

typedef struct {
    VmmDiskSourceType type;   /* <disk type='file'|'block'> */
    char *path;               /* <source file=...> or <source dev=...>, absolute;
                               * vhostuser: <source type='unix' path=...> */
    char *target_dev;         /* <target dev='vda'> */
    VmmDiskBus bus;           /* <target bus='virtio'> */
    bool readonly;            /* <readonly/> */
    char *serial;             /* <serial> or NULL; 1 to VMM_DISK_SERIAL_MAX bytes
                               * of [A-Za-z0-9_ .+-], kept verbatim */
    VmmCacheMode cache;       /* <driver cache=...> */
    VmmIoMode io;             /* <driver io=...> */
    VmmDiscardMode discard;   /* <driver discard=...> */
    unsigned queues;          /* <driver queues=N>; 0 = default (one per vCPU) */
    unsigned reconnect;       /* vhostuser <reconnect enabled='yes' timeout=N>:
                               * seconds between attempts; 0 = no reconnect */
    int pci_slot;             /* <address type='pci' slot=...>: 1..31, unique
                               * among devices; -1 = assign */
} VmmDiskDef;

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
    GPtrArray *serials;       /* VmmChrDef*, sorted by port, no duplicates;
                               * a <console type=... target type='serial'>
                               * without a matching <serial> adds one */
} VmmDomainDef;

void vmm_chr_def_free(VmmChrDef *chr);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmChrDef, vmm_chr_def_free)
void vmm_disk_def_free(VmmDiskDef *disk);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmDiskDef, vmm_disk_def_free)

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

const char *vmm_lifecycle_action_to_string(VmmLifecycleAction a);
const char *vmm_chr_type_to_string(VmmChrType t);
const char *vmm_cache_mode_to_string(VmmCacheMode m);
const char *vmm_io_mode_to_string(VmmIoMode m);

#endif
