/* libvirt's <disk> element: virtio and IDE disks, and IDE CD-ROMs, backed
 * by a file or a block device, parsed strictly and formatted back canonically (disk_conf.c).
 * What each field does at run time: src/block/, src/virtio/virtio_blk.c. */
#ifndef VMM_DISK_CONF_H
#define VMM_DISK_CONF_H

#include <glib.h>
#include <stdbool.h>

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
typedef enum { VMM_DISK_BUS_VIRTIO = 0, VMM_DISK_BUS_IDE, VMM_DISK_BUS_SATA } VmmDiskBus;
typedef enum { VMM_DISK_DEVICE_DISK = 0, VMM_DISK_DEVICE_CDROM } VmmDiskDevice;

/* IDE: one controller (PIIX3 at 00:01.1), two channels of two drives:
 * hda = bus 0 unit 0, hdb = bus 0 unit 1, hdc = bus 1 unit 0, hdd. */
#define VMM_IDE_BUSES 2
#define VMM_IDE_UNITS 2
/* SATA: one AHCI controller (ICH9 at 00:1f.0) with six ports, one drive
 * each: sda = port 0 ... sdf = port 5, or <address type='drive' unit='N'/>. */
#define VMM_SATA_PORTS 6
/* <driver type=...>, <backingStore><format type=...> */
typedef enum { VMM_DISK_FORMAT_RAW = 0, VMM_DISK_FORMAT_QCOW2 } VmmDiskFormat;

/* <backingStore>, as libvirt writes it: one level of a qcow2 image's
 * backing chain, overriding the file name in the image header. */
typedef struct VmmDiskBackingStore {
    bool none;                        /* <backingStore/>: no backing file */
    VmmDiskSourceType type;           /* file or block */
    VmmDiskFormat format;             /* <format type=...> */
    char *path;                       /* <source file|dev=...>, absolute */
    struct VmmDiskBackingStore *next; /* nested <backingStore>; NULL: the
                                       * image header names the rest */
} VmmDiskBackingStore;

#define VMM_MAX_DISK_QUEUES 16
#define VMM_DISK_SERIAL_MAX 20   /* VIRTIO_BLK_ID_BYTES */

typedef struct {
    VmmDiskSourceType type;   /* <disk type='file'|'block'> */
    char *path;               /* <source file=...> or <source dev=...>, absolute;
                               * vhostuser: <source type='unix' path=...>;
                               * NULL for a CD-ROM with an empty tray */
    VmmDiskDevice device;     /* <disk device='disk'|'cdrom'>; a cdrom is readonly */
    char *target_dev;         /* <target dev='vda'> */
    VmmDiskBus bus;           /* <target bus='virtio'|'ide'|'sata'> */
    unsigned ide_bus, ide_unit; /* bus='ide': from the name, <address type='drive'>;
                                 * bus='sata': 0 and the AHCI port */
    bool readonly;            /* <readonly/> */
    char *serial;             /* <serial> or NULL; 1 to VMM_DISK_SERIAL_MAX bytes
                               * of [A-Za-z0-9_ .+-], kept verbatim */
    VmmDiskFormat format;     /* <driver type=...> */
    VmmDiskBackingStore *backing; /* <backingStore>; NULL: from the image header */
    VmmCacheMode cache;       /* <driver cache=...> */
    VmmIoMode io;             /* <driver io=...> */
    VmmDiscardMode discard;   /* <driver discard=...> */
    unsigned queues;          /* <driver queues=N>; 0 = default (one per vCPU) */
    unsigned reconnect;       /* vhostuser <reconnect enabled='yes' timeout=N>:
                               * seconds between attempts; 0 = no reconnect */
    int pci_slot;             /* <address type='pci' slot=...>: 1..31, unique
                               * among devices; -1 = assign; IDE disks have none */
} VmmDiskDef;

void vmm_disk_def_free(VmmDiskDef *disk);
void vmm_disk_backing_free(VmmDiskBackingStore *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmDiskDef, vmm_disk_def_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmDiskBackingStore, vmm_disk_backing_free)

const char *vmm_cache_mode_to_string(VmmCacheMode m);
const char *vmm_io_mode_to_string(VmmIoMode m);

#endif
