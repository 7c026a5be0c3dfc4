/* <disk>: libvirt's disk element (type file or block, virtio or ide bus,
 * device disk or cdrom), parsed
 * strictly and formatted back canonically: <driver>, <source>, <target>,
 * <readonly/>, <serial>, <address>. What each field does at run time:
 * src/block/ and src/virtio/virtio_blk.c; the man page vmmd-domain(5). */
#include "conf/disk_conf.h"

#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "conf/conf_parse.h"

#define DISK_SERIAL_CHARS \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_ .+-"
#define ALNUM_CHARS \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* What the <disk> elements read so far have claimed. Keys are borrowed from
 * the VmmDiskDefs in def->disks. */
typedef struct {
    xmlNodePtr source;
    const VmmDiskDef *disk;
} DiskUse;

typedef struct {
    GHashTable *targets;   /* target dev -> its <target> node */
    GHashTable *paths;     /* source path -> DiskUse* */
} DiskSeen;

/* libvirt's disk name prefixes (virDiskNameParse). */
static const char *disk_name_prefix(const char *dev)
{
    static const char *const prefixes[] = { "fd", "hd", "sd", "vd", "xvd", "ubd", NULL };
    for (int i = 0; prefixes[i]; i++)
        if (g_str_has_prefix(dev, prefixes[i]))
            return prefixes[i];
    return NULL;
}

/* libvirt's schema (diskTargetDev):
 * (ioemu:)?(fd|hd|sd|vd|xvd|ubd)[a-zA-Z0-9_]+ */
static bool target_dev_valid(const char *dev)
{
    if (g_str_has_prefix(dev, "ioemu:"))
        dev += strlen("ioemu:");
    const char *prefix = disk_name_prefix(dev);
    if (!prefix)
        return false;
    const char *rest = dev + strlen(prefix);
    return *rest && strspn(rest, ALNUM_CHARS "_") == strlen(rest);
}

/* libvirt's bus for a <target> without bus= (virDomainDiskDefPostParse):
 * from the name, after dropping the old "ioemu:" prefix; IDE otherwise. */
static const char *bus_from_target_dev(const char *dev)
{
    static const char *const map[][2] = {
        { "hd", "ide" }, { "sd", "scsi" }, { "vd", "virtio" }, { "xvd", "xen" },
        { "ubd", "uml" },
    };
    if (g_str_has_prefix(dev, "ioemu:"))
        dev += strlen("ioemu:");
    for (size_t i = 0; i < G_N_ELEMENTS(map); i++)
        if (g_str_has_prefix(dev, map[i][0]))
            return map[i][1];
    return "ide";
}

/* vmmd's names for virtio disks: vd[a-z]+, the names Linux gives them. */
static bool virtio_dev_name_ok(const char *dev)
{
    if (!g_str_has_prefix(dev, "vd") || !dev[2])
        return false;
    return strspn(dev + 2, "abcdefghijklmnopqrstuvwxyz") == strlen(dev + 2);
}

/* SATA disks: sd[a-z]+, as libvirt names them. */
static bool sata_dev_name_ok(const char *dev)
{
    if (!g_str_has_prefix(dev, "sd") || !dev[2] || strlen(dev) > 8)
        return false;
    return strspn(dev + 2, "abcdefghijklmnopqrstuvwxyz") == strlen(dev + 2);
}

/* sda = 0, ..., sdz = 25, sdaa = 26, ... (virDiskNameToIndex) */
static unsigned sata_name_index(const char *dev)
{
    unsigned idx = 0;
    for (const char *c = dev + 2; *c; c++)
        idx = (idx + (c != dev + 2)) * 26 + (unsigned)(*c - 'a');
    return idx;
}

/* "disk vda: " for messages about a <disk>, from its first <target dev>
 * when that is a plausible name (it is validated later); NULL otherwise. */
static char *disk_subject(xmlNodePtr disk)
{
    for (xmlNodePtr c = disk->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !name_is(c, "target"))
            continue;
        g_autofree char *dev = get_attr(c, "dev");
        if (!dev || !*dev || strlen(dev) > 32 ||
            strspn(dev, ALNUM_CHARS "_:") != strlen(dev))
            return NULL;
        return g_strdup_printf("disk %s: ", dev);
    }
    return NULL;
}

/* vmmd's names for IDE drives: hda..hdd, one controller (libvirt's
 * virDiskNameToIndex: index / 4 is the controller, (index % 4) / 2 the bus,
 * index % 2 the unit). */
static bool ide_dev_name_ok(const char *dev)
{
    return g_str_has_prefix(dev, "hd") && dev[2] >= 'a' && dev[2] <= 'd' && !dev[3];
}

static bool parse_disk_target(const ParseCtx *pc, xmlNodePtr node,
                              VmmDiskDef *disk, GError **err)
{
    static const char *const attrs[] = { "dev", "bus", NULL };
    static const char *const buses[] = { "virtio", "ide", "sata", NULL };
    static const char *const known_buses[] = {
        "fdc", "scsi", "xen", "usb", "uml", "sd", NULL };
    int idx;

    if (!check_empty(pc, node, attrs, err))
        return false;
    g_autofree char *dev = get_attr(node, "dev");
    if (!dev)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<target> needs a 'dev' attribute (e.g. dev='vda')");
    g_autofree char *shown = g_strescape(dev, NULL);
    if (!target_dev_valid(dev))
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "target dev '%s' is invalid: libvirt's disk names are fd, "
                         "hd, sd, vd, xvd or ubd followed by letters, digits or '_'",
                         shown);
    if (g_str_has_prefix(dev, "fd") || g_str_has_prefix(dev, "ioemu:fd"))
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "target dev '%s' is a floppy name, which libvirt refuses "
                         "for device='disk' (use vda, vdb, ...)", shown);

    g_autofree char *bus = get_attr(node, "bus");
    if (bus) {
        if (!parse_choice(pc, node, "bus", bus, buses, known_buses, &idx, err))
            return false;
    } else {
        const char *derived = bus_from_target_dev(dev);
        idx = str_index(buses, derived);
        if (idx < 0)
            return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "target dev '%s' without bus= means bus '%s' (libvirt "
                             "derives the bus from the name), which vmmd does not "
                             "support (supported: virtio, named vda, vdb, ...; ide, "
                             "named hda to hdd)", shown, derived);
    }
    disk->bus = idx == 2 ? VMM_DISK_BUS_SATA : idx == 1 ? VMM_DISK_BUS_IDE
                                                         : VMM_DISK_BUS_VIRTIO;
    if (disk->bus == VMM_DISK_BUS_SATA) {
        if (!sata_dev_name_ok(dev))
            return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "target dev '%s' is not supported on bus 'sata': vmmd names "
                             "SATA disks 'sd' followed by lowercase letters (sda ... sdf "
                             "are ports 0 to 5 of its AHCI controller)", shown);
        /* libvirt's virDiskNameToIndex: six units per SATA controller; an
         * <address> may place the disk elsewhere (parse_drive_address) */
        disk->ide_bus = 0;
        disk->ide_unit = sata_name_index(dev);
    } else if (disk->bus == VMM_DISK_BUS_IDE) {
        if (!ide_dev_name_ok(dev))
            return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "target dev '%s' is not supported on bus 'ide': vmmd has "
                             "one IDE controller with two channels of two drives, "
                             "hda, hdb, hdc and hdd", shown);
        unsigned index = (unsigned)(dev[2] - 'a');
        disk->ide_bus = index / VMM_IDE_UNITS;
        disk->ide_unit = index % VMM_IDE_UNITS;
    } else if (!virtio_dev_name_ok(dev)) {
        return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                         "target dev '%s' is not supported: vmmd names virtio disks "
                         "'vd' followed by lowercase letters (vda ... vdz, vdaa, ...)",
                         shown);
    }
    disk->target_dev = g_steal_pointer(&dev);
    return true;
}

/* <address type='drive' controller='0' bus='B' target='0' unit='U'/>, as
 * libvirt writes it. IDE: it must agree with the name (hda is bus 0 unit 0,
 * ...), since vmmd places IDE drives by name. SATA: bus 0, and unit is the
 * AHCI port (0 to 5), whatever the name. */
static bool parse_drive_address(const ParseCtx *pc, xmlNodePtr node, VmmDiskDef *disk,
                                GError **err)
{
    static const char *const attrs[] = { "type", "controller", "bus", "target", "unit", NULL };
    const char *const names[] = { "controller", "bus", "target", "unit" };
    bool sata = disk->bus == VMM_DISK_BUS_SATA;
    const char *what = sata ? "SATA" : "IDE";
    const unsigned want[] = { 0, disk->ide_bus, 0, disk->ide_unit };
    g_autofree char *type = get_attr(node, "type");
    if (!type || strcmp(type, "drive") != 0) {
        g_autofree char *shown = type ? g_strescape(type, NULL) : g_strdup("(none)");
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<address type='%s'> on an %s disk: %s disks take "
                         "<address type='drive' controller='0' bus='%u' target='0' "
                         "unit='%u'/>", shown, what, what, disk->ide_bus, disk->ide_unit);
    }
    if (!check_empty(pc, node, attrs, err))
        return false;
    for (int i = 0; i < 4; i++) {
        g_autofree char *text = get_attr(node, names[i]);
        uint64_t v;
        if (!text)
            continue;
        g_autofree char *shown = g_strescape(text, NULL);
        if (!parse_count(text, &v))
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "attribute '%s'='%s' on <address type='drive'> is not a "
                             "number", names[i], shown);
        if (sata && i == 3) {
            if (v >= VMM_SATA_PORTS)
                return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                                 "attribute 'unit'='%s' on <address type='drive'>: vmmd's "
                                 "AHCI controller has ports 0 to %d", shown,
                                 VMM_SATA_PORTS - 1);
            disk->ide_unit = (unsigned)v;
            continue;
        }
        if (v != want[i] && sata)
            return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "attribute '%s'='%s' on <address type='drive'> of disk %s: "
                             "vmmd has one SATA controller (0) with bus 0 and target 0",
                             names[i], shown, disk->target_dev);
        if (v != want[i])
            return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "attribute '%s'='%s' on <address type='drive'> does not "
                             "match target dev '%s', which is controller 0 bus %u "
                             "target 0 unit %u (vmmd places IDE drives by name)",
                             names[i], shown, disk->target_dev, disk->ide_bus,
                             disk->ide_unit);
    }
    return true;
}

/* libvirt's schema wants an absolute path (absFilePath: "/" and at least one
 * more character, no line break). */
static bool check_disk_path(const ParseCtx *pc, xmlNodePtr node, const char *attr,
                            const char *path, GError **err)
{
    g_autofree char *shown = g_strescape(path, NULL);
    size_t len = strlen(path);

    if (len == 0)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute '%s' on <source> is empty: an absolute path "
                         "is expected", attr);
    if (path[0] != '/')
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute '%s'='%s' on <source> is not an absolute path "
                         "(libvirt requires one)", attr, shown);
    if (len == 1)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute '%s'='/' on <source> names the root directory, "
                         "not a disk image", attr);
    if (strpbrk(path, "\r\n"))
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute '%s'='%s' on <source> contains a line break",
                         attr, shown);
    if (len >= PATH_MAX)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute '%s' on <source> is %zu bytes long; a path has "
                         "at most %d", attr, len, PATH_MAX - 1);
    return true;
}

static bool parse_source_path(const ParseCtx *pc, xmlNodePtr disk_node, xmlNodePtr src,
                              VmmDiskSourceType type, char **out, GError **err)
{
    bool file = type == VMM_DISK_FILE;
    const char *attr = file ? "file" : "dev";
    const char *other = file ? "dev" : "file";
    const char *tname = file ? "file" : "block";
    const char *const attrs[] = { attr, NULL };

    if (!src)
        return conf_fail(pc, disk_node, VMM_CONF_ERROR_INVALID, err,
                         "<disk type='%s'> needs <source %s='/absolute/path'/>",
                         tname, attr);
    if (xmlHasNsProp(src, (const xmlChar *)other, NULL))
        return conf_fail(pc, src, VMM_CONF_ERROR_INVALID, err,
                         "<source %s=...> is for <disk type='%s'>; a <disk type='%s'> "
                         "takes <source %s='...'/>", other, file ? "block" : "file",
                         tname, attr);
    if (!check_empty(pc, src, attrs, err))
        return false;
    g_autofree char *path = get_attr(src, attr);
    if (!path)
        return conf_fail(pc, src, VMM_CONF_ERROR_INVALID, err,
                         "<source> of <disk type='%s'> needs a '%s' attribute",
                         tname, attr);
    if (!check_disk_path(pc, src, attr, path, err))
        return false;
    *out = g_steal_pointer(&path);
    return true;
}

static bool parse_disk_source(const ParseCtx *pc, xmlNodePtr disk_node,
                              xmlNodePtr src, VmmDiskDef *disk, GError **err)
{
    return parse_source_path(pc, disk_node, src, disk->type, &disk->path, err);
}

/* libvirt's storageFormat values other than raw and qcow2 */
static const char *const other_formats[] = {
    "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd", "ploop",
    "luks", "cow", "qcow", "qed", "vmdk", NULL };

/* type= of <driver> or <format>: raw ('aio' is libvirt's old spelling)
 * or qcow2. */
static bool parse_format(const ParseCtx *pc, xmlNodePtr node, const char *type,
                         VmmDiskFormat *out, GError **err)
{
    if (strcmp(type, "raw") == 0 || strcmp(type, "aio") == 0) {
        *out = VMM_DISK_FORMAT_RAW;
        return true;
    }
    if (strcmp(type, "qcow2") == 0) {
        *out = VMM_DISK_FORMAT_QCOW2;
        return true;
    }
    g_autofree char *shown = g_strescape(type, NULL);
    const char *what = strcmp((const char *)node->name, "driver") == 0
                       ? "driver type" : "backing store format";
    if (str_index(other_formats, type) >= 0)
        return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                         "%s '%s' is not supported (raw and qcow2 are)", what, shown);
    return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                     "%s '%s' is not a disk format libvirt knows (vmmd supports raw "
                     "and qcow2)", what, shown);
}

#define MAX_BACKING_XML_DEPTH 64

/* <backingStore type='file|block' index='N'><format type=.../><source .../>
 * <backingStore .../></backingStore>, or an empty <backingStore/>. */
static bool parse_backing_store(const ParseCtx *pc, xmlNodePtr node, unsigned depth,
                                VmmDiskBackingStore **out, GError **err)
{
    enum { B_FORMAT, B_SOURCE, B_BACKING, B_N };
    static const char *const names[] = { "format", "source", "backingStore", NULL };
    static const char *const attrs[] = { "type", "index", NULL };
    static const char *const types[] = { "file", "block", NULL };
    static const char *const known_types[] = { "network", "dir", "volume", "nvme",
                                               "vhostuser", NULL };
    static const char *const fmt_attrs[] = { "type", NULL };
    xmlNodePtr s[B_N] = { 0 };
    int idx;

    if (depth >= MAX_BACKING_XML_DEPTH)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<backingStore> is nested deeper than %d levels",
                         MAX_BACKING_XML_DEPTH);
    if (!check_attrs(pc, node, attrs, err) || !collect_children(pc, node, names, s, err))
        return false;
    g_autoptr(VmmDiskBackingStore) b = g_new0(VmmDiskBackingStore, 1);
    g_autofree char *type = get_attr(node, "type");
    if (!type && !s[B_FORMAT] && !s[B_SOURCE] && !s[B_BACKING]) {
        b->none = true;
        *out = g_steal_pointer(&b);
        return true;
    }
    g_autofree char *index = get_attr(node, "index");
    uint64_t ignored;
    if (index && !parse_count(index, &ignored)) {
        g_autofree char *shown = g_strescape(index, NULL);
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute 'index'='%s' on <backingStore> is not a number", shown);
    }
    if (!parse_choice(pc, node, "type", type ? type : "file", types, known_types, &idx, err))
        return false;
    b->type = (VmmDiskSourceType)idx;
    if (!s[B_FORMAT])
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<backingStore> needs <format type='raw|qcow2'/>");
    if (!check_empty(pc, s[B_FORMAT], fmt_attrs, err))
        return false;
    g_autofree char *fmt = get_attr(s[B_FORMAT], "type");
    if (!fmt)
        return conf_fail(pc, s[B_FORMAT], VMM_CONF_ERROR_INVALID, err,
                         "<format> in <backingStore> needs a 'type' attribute");
    if (!parse_format(pc, s[B_FORMAT], fmt, &b->format, err) ||
        !parse_source_path(pc, node, s[B_SOURCE], b->type, &b->path, err))
        return false;
    if (s[B_BACKING]) {
        if (b->format == VMM_DISK_FORMAT_RAW && xmlFirstElementChild(s[B_BACKING]))
            return conf_fail(pc, s[B_BACKING], VMM_CONF_ERROR_INVALID, err,
                             "a raw backing file has no backing file of its own: its "
                             "<backingStore> must be empty");
        if (!parse_backing_store(pc, s[B_BACKING], depth + 1, &b->next, err))
            return false;
    }
    *out = g_steal_pointer(&b);
    return true;
}

static bool parse_disk_driver(const ParseCtx *pc, xmlNodePtr node,
                              VmmDiskDef *disk, GError **err)
{
    static const char *const attrs[] = {
        "name", "type", "cache", "io", "discard", "queues", NULL };
    /* libvirt's cache values; 'default' is the hypervisor's, writeback */
    static const char *const caches[] = {
        "default", "none", "writethrough", "writeback", "directsync", "unsafe", NULL };
    static const VmmCacheMode cache_modes[] = {
        VMM_CACHE_WRITEBACK, VMM_CACHE_NONE, VMM_CACHE_WRITETHROUGH,
        VMM_CACHE_WRITEBACK, VMM_CACHE_DIRECTSYNC, VMM_CACHE_UNSAFE };
    static const char *const ios[] = { "threads", "native", "io_uring", NULL };
    static const VmmIoMode io_modes[] = { VMM_IO_THREADS, VMM_IO_NATIVE, VMM_IO_URING };
    static const char *const discards[] = { "ignore", "unmap", NULL };
    static const VmmDiscardMode discard_modes[] = { VMM_DISCARD_IGNORE, VMM_DISCARD_UNMAP };
    int idx;

    if (!check_empty(pc, node, attrs, err))
        return false;

    g_autofree char *name = get_attr(node, "name");
    if (name && strcmp(name, "qemu") != 0) {
        g_autofree char *shown = g_strescape(name, NULL);
        /* any libvirt genericName is a driver some hypervisor may have */
        if (*name && strspn(name, ALNUM_CHARS "_+-") == strlen(name))
            return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                             "attribute 'name'='%s' on <driver> is not supported by "
                             "vmmd (supported: qemu; libvirt names the hypervisor's "
                             "disk driver there, and vmmd stands in for QEMU)", shown);
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute 'name'='%s' on <driver> is invalid (vmmd "
                         "supports: qemu)", shown);
    }

    g_autofree char *type = get_attr(node, "type");
    if (type && !parse_format(pc, node, type, &disk->format, err))
        return false;

    g_autofree char *cache = get_attr(node, "cache");
    if (cache) {
        if (!parse_choice(pc, node, "cache", cache, caches, NULL, &idx, err))
            return false;
        disk->cache = cache_modes[idx];
    }
    g_autofree char *io = get_attr(node, "io");
    if (io && strcmp(io, "default") == 0)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "attribute 'io'='default' on <driver> is invalid: libvirt's "
                         "schema has no io='default'; leave io out for the default "
                         "(threads)");
    if (io) {
        if (!parse_choice(pc, node, "io", io, ios, NULL, &idx, err))
            return false;
        disk->io = io_modes[idx];
    }
    g_autofree char *discard = get_attr(node, "discard");
    if (discard) {
        if (!parse_choice(pc, node, "discard", discard, discards, NULL, &idx, err))
            return false;
        disk->discard = discard_modes[idx];
    }

    g_autofree char *queues = get_attr(node, "queues");
    if (queues) {
        g_autofree char *shown = g_strescape(queues, NULL);
        uint64_t q;
        if (!parse_count(queues, &q))
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "attribute 'queues'='%s' on <driver> is not a number "
                             "of queues", shown);
        if (q < 1 || q > VMM_MAX_DISK_QUEUES)
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "attribute 'queues'='%s' on <driver> is out of range: "
                             "vmmd supports 1 to %d queues (leave queues out for one "
                             "per vCPU)", shown, VMM_MAX_DISK_QUEUES);
        disk->queues = (unsigned)q;
    }

    /* libvirt's rule (Linux AIO is only asynchronous with O_DIRECT). */
    if (disk->io == VMM_IO_NATIVE && disk->cache != VMM_CACHE_NONE &&
        disk->cache != VMM_CACHE_DIRECTSYNC) {
        g_autofree char *have = cache
            ? g_strdup_printf("cache='%s'", cache)
            : g_strdup("no cache attribute, which means writeback");
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "native I/O needs either no disk cache or directsync cache "
                         "mode: io='native' takes cache='none' or cache='directsync' "
                         "(this <driver> has %s)", have);
    }
    return true;
}

static bool parse_disk_serial(const ParseCtx *pc, xmlNodePtr node,
                              VmmDiskDef *disk, GError **err)
{
    g_autofree char *text = NULL;
    if (!check_attrs(pc, node, NULL, err) || !leaf_text(pc, node, &text, err))
        return false;
    g_autofree char *shown = g_strescape(text, NULL);
    size_t len = strlen(text);
    if (len == 0)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<serial> is empty (libvirt wants at least one of A-Z a-z "
                         "0-9 _ . + - and space)");
    if (strspn(text, DISK_SERIAL_CHARS) != len)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<serial> '%s' has a character libvirt does not allow "
                         "(allowed: A-Z a-z 0-9 _ . + - and space)", shown);
    if (len > VMM_DISK_SERIAL_MAX)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<serial> '%s' is %zu bytes long; a virtio-blk serial has "
                         "at most %d bytes", shown, len, VMM_DISK_SERIAL_MAX);
    disk->serial = g_steal_pointer(&text);
    return true;
}


/* <disk type='vhostuser'>: the back end process is the disk (libvirt:
 * "almost all of the disk properties can't be configured"), so only
 * <source type='unix' path>, <driver name='qemu' type='raw' queues>,
 * <target> and <address> mean anything; the rest is refused by name.
 * s[] is parse_disk's children: driver, source, target, readonly,
 * shareable, serial, ... */
static bool parse_disk_vhostuser(const ParseCtx *pc, xmlNodePtr node, xmlNodePtr *s,
                                 VmmDiskDef *disk, GError **err)
{
    static const char *const src_attrs[] = { "type", "path", NULL };
    static const char *const src_children[] = { "reconnect", NULL };
    static const char *const rc_attrs[] = { "enabled", "timeout", NULL };
    static const char *const drv_attrs[] = { "name", "type", "queues", NULL };
    xmlNodePtr src = s[1], rc[1] = { 0 };
    if (!src)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err, "<disk type='vhostuser'> "
                         "needs <source type='unix' path='/absolute/socket'/>");
    g_autofree char *type = get_attr(src, "type");
    if (!type || strcmp(type, "unix") != 0)
        return conf_fail(pc, src, VMM_CONF_ERROR_INVALID, err, "<source> of <disk "
                         "type='vhostuser'> needs type='unix' (the only type libvirt has)");
    if (!check_attrs(pc, src, src_attrs, err) ||
        !collect_children(pc, src, src_children, rc, err))
        return false;
    g_autofree char *path = get_attr(src, "path");
    if (!path)
        return conf_fail(pc, src, VMM_CONF_ERROR_INVALID, err,
                         "<source> of <disk type='vhostuser'> needs a 'path' attribute");
    if (!check_disk_path(pc, src, "path", path, err))
        return false;
    if (rc[0]) {
        if (!check_empty(pc, rc[0], rc_attrs, err))
            return false;
        g_autofree char *en = get_attr(rc[0], "enabled");
        if (!en || (strcmp(en, "yes") != 0 && strcmp(en, "no") != 0))
            return conf_fail(pc, rc[0], VMM_CONF_ERROR_INVALID, err,
                             "<reconnect> needs enabled='yes' or enabled='no'");
        g_autofree char *to = get_attr(rc[0], "timeout");
        uint64_t t = 0;
        /* libvirt: enabled='yes' needs a timeout (seconds between attempts) */
        if (strcmp(en, "yes") == 0 && (!to || !parse_count(to, &t) || t < 1 || t > 3600))
            return conf_fail(pc, rc[0], VMM_CONF_ERROR_INVALID, err,
                             "<reconnect enabled='yes'> needs timeout='N', the seconds "
                             "between reconnection attempts (1 to 3600)");
        disk->reconnect = (unsigned)t;
    }
    for (xmlAttrPtr a = s[0] ? s[0]->properties : NULL; a; a = a->next)
        if (!g_strv_contains(drv_attrs, (const char *)a->name))
            return conf_fail(pc, s[0], VMM_CONF_ERROR_UNSUPPORTED, err,
                             "attribute '%s' on <driver> is not supported for <disk "
                             "type='vhostuser'>: the back end does its own caching and "
                             "I/O (allowed: name, type, queues)", (const char *)a->name);
    const char *const refused[][2] = {
        { "readonly", "the back end decides whether the disk is writable" },
        { "shareable", "the back end decides who shares the image" },
        { "serial", "the back end answers the serial number" },
    };
    for (int i = 0; i < 3; i++)
        if (s[3 + i])
            return conf_fail(pc, s[3 + i], VMM_CONF_ERROR_UNSUPPORTED, err,
                             "element <disk>/<%s> is not supported for <disk "
                             "type='vhostuser'>: %s", refused[i][0], refused[i][1]);
    disk->path = g_steal_pointer(&path);
    return true;
}

static bool parse_disk(const ParseCtx *outer, xmlNodePtr node, DiskSeen *seen,
                       xmlNodePtr *pci_slots, VmmDomainDef *def, GError **err)
{
    enum { K_DRIVER, K_SOURCE, K_TARGET, K_READONLY, K_SHAREABLE, K_SERIAL,
           K_BOOT, K_ADDRESS, K_BACKING, K_ALIAS, K_N };
    static const char *const names[] = {
        "driver", "source", "target", "readonly", "shareable", "serial", "boot",
        "address", "backingStore", "alias", NULL };
    static const char *const attrs[] = { "type", "device", NULL };
    /* Index order matches VmmDiskSourceType. */
    static const char *const types[] = { "file", "block", "vhostuser", NULL };
    static const char *const known_types[] = {
        "network", "dir", "volume", "nvme", NULL };
    static const char *const devices[] = { "disk", "cdrom", NULL };
    static const char *const known_devices[] = { "floppy", "lun", NULL };
    xmlNodePtr s[K_N] = { 0 };
    int idx;

    g_autofree char *subject = disk_subject(node);
    ParseCtx ctx = *outer;
    ctx.subject = subject;
    const ParseCtx *pc = &ctx;

    g_autoptr(VmmDiskDef) disk = g_new0(VmmDiskDef, 1);
    disk->pci_slot = -1;   /* cache, io, discard: zero is the default */

    /* libvirt's defaults: type='file', device='disk' */
    static const ConfElementShape shape = {
        attrs, "type", "file", NULL, types, known_types, names, K_ALIAS };
    if (!conf_element_open(pc, node, &shape, &idx, s, err))
        return false;
    disk->type = (VmmDiskSourceType)idx;
    g_autofree char *device = get_attr(node, "device");
    if (device && !parse_choice(pc, node, "device", device, devices, known_devices,
                                &idx, err))
        return false;
    disk->device = device && idx == 1 ? VMM_DISK_DEVICE_CDROM : VMM_DISK_DEVICE_DISK;

    if (!s[K_TARGET])
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<disk> needs a <target dev='vdX'/> element");
    if (!parse_disk_target(pc, s[K_TARGET], disk, err))
        return false;
    bool cdrom = disk->device == VMM_DISK_DEVICE_CDROM;
    bool emulated = disk->bus == VMM_DISK_BUS_IDE || disk->bus == VMM_DISK_BUS_SATA;
    if (emulated && disk->type == VMM_DISK_VHOSTUSER)
        return conf_fail(pc, node, VMM_CONF_ERROR_UNSUPPORTED, err,
                         "<disk type='vhostuser'> needs bus='virtio' (a vhost-user "
                         "back end serves virtio-blk)");
    if (cdrom && !emulated)
        return conf_fail(pc, s[K_TARGET], VMM_CONF_ERROR_UNSUPPORTED, err,
                         "<disk device='cdrom'> needs <target bus='ide'> (hda to hdd) or "
                         "bus='sata' (sda to sdf) in vmmd: it has ATAPI CD-ROMs only on "
                         "its IDE and AHCI controllers");
    /* libvirt: a CD-ROM without <source> has an empty tray */
    if ((disk->type == VMM_DISK_VHOSTUSER
         ? !parse_disk_vhostuser(pc, node, s, disk, err)
         : (!cdrom || s[K_SOURCE]) && !parse_disk_source(pc, node, s[K_SOURCE], disk, err)) ||
        (s[K_DRIVER] && !parse_disk_driver(pc, s[K_DRIVER], disk, err)))
        return false;
    if (s[K_BACKING]) {
        if (disk->type == VMM_DISK_VHOSTUSER)
            return conf_fail(pc, s[K_BACKING], VMM_CONF_ERROR_UNSUPPORTED, err,
                             "<backingStore> is not supported for <disk type='vhostuser'>: "
                             "the back end opens the image");
        if (!parse_backing_store(pc, s[K_BACKING], 0, &disk->backing, err))
            return false;
        if (disk->format == VMM_DISK_FORMAT_RAW && !disk->backing->none)
            return conf_fail(pc, s[K_BACKING], VMM_CONF_ERROR_INVALID, err,
                             "a raw disk has no backing file: <backingStore> needs "
                             "<driver type='qcow2'/> or must be empty");
    }
    if (disk->type == VMM_DISK_VHOSTUSER && disk->format != VMM_DISK_FORMAT_RAW)
        return conf_fail(pc, s[K_DRIVER], VMM_CONF_ERROR_UNSUPPORTED, err,
                         "<driver type='qcow2'/> is not supported for <disk type='vhostuser'>: "
                         "the back end exports raw blocks");
    if (s[K_READONLY]) {
        if (!check_empty(pc, s[K_READONLY], NULL, err))
            return false;
        disk->readonly = true;
    }
    disk->readonly |= cdrom;   /* libvirt: CD-ROMs are always read-only */
    if (emulated && disk->queues)
        return conf_fail(pc, s[K_DRIVER], VMM_CONF_ERROR_UNSUPPORTED, err,
                         "attribute 'queues' on <driver> is for virtio disks; an %s "
                         "drive has one queue", disk->bus == VMM_DISK_BUS_IDE ? "IDE" : "SATA");
    if (s[K_SHAREABLE])
        return conf_fail(pc, s[K_SHAREABLE], VMM_CONF_ERROR_UNSUPPORTED, err,
                         "element <disk>/<shareable> is not supported by vmmd (disks "
                         "may share an image only when all of them are <readonly/>)");
    if (s[K_SERIAL] && !parse_disk_serial(pc, s[K_SERIAL], disk, err))
        return false;
    if (s[K_BOOT])
        return conf_fail(pc, s[K_BOOT], VMM_CONF_ERROR_UNSUPPORTED, err,
                         "element <disk>/<boot> is not supported by vmmd: it boots "
                         "the <kernel> in <os> directly and has no boot order");
    if (s[K_ADDRESS] &&
        !(emulated
          ? parse_drive_address(pc, s[K_ADDRESS], disk, err)
          : parse_pci_address(pc, s[K_ADDRESS], pci_slots, &disk->pci_slot, err)))
        return false;

    if (disk->bus == VMM_DISK_BUS_SATA && disk->ide_unit >= VMM_SATA_PORTS)
        return conf_fail(pc, s[K_TARGET], VMM_CONF_ERROR_UNSUPPORTED, err,
                         "target dev '%s' would be SATA port %u, but vmmd's AHCI controller "
                         "has ports 0 to %d (sda to sdf); place it with <address "
                         "type='drive' controller='0' bus='0' target='0' unit='N'/>",
                         disk->target_dev, disk->ide_unit, VMM_SATA_PORTS - 1);
    for (guint i = 0; disk->bus == VMM_DISK_BUS_SATA && i < def->disks->len; i++) {
        const VmmDiskDef *o = g_ptr_array_index(def->disks, i);
        if (o->bus == VMM_DISK_BUS_SATA && o->ide_unit == disk->ide_unit)
            return conf_fail(pc, s[K_TARGET], VMM_CONF_ERROR_INVALID, err,
                             "disks %s and %s are both on SATA port %u (one drive per "
                             "AHCI port)", o->target_dev, disk->target_dev, disk->ide_unit);
    }
    xmlNodePtr first = g_hash_table_lookup(seen->targets, disk->target_dev);
    if (first)
        return conf_fail(pc, s[K_TARGET], VMM_CONF_ERROR_INVALID, err,
                         "target dev '%s' is used by two disks (first on line %ld)",
                         disk->target_dev, line_of(first));
    /* Two writers on one image corrupt it (QEMU's image locking refuses
     * this too); readers may share. */
    DiskUse *use = disk->path ? g_hash_table_lookup(seen->paths, disk->path) : NULL;
    if (use && !(use->disk->readonly && disk->readonly)) {
        g_autofree char *shown = g_strescape(disk->path, NULL);
        return conf_fail(pc, s[K_SOURCE], VMM_CONF_ERROR_INVALID, err,
                         "'%s' is also the source of disk %s (line %ld); disks may "
                         "share an image only when all of them are <readonly/>",
                         shown, use->disk->target_dev, line_of(use->source));
    }

    VmmDiskDef *d = g_steal_pointer(&disk);
    g_ptr_array_add(def->disks, d);
    g_hash_table_insert(seen->targets, d->target_dev, s[K_TARGET]);
    if (!use && d->path) {
        use = g_new0(DiskUse, 1);
        use->source = s[K_SOURCE];
        use->disk = d;
        g_hash_table_insert(seen->paths, d->path, use);
    }
    return true;
}

static const char *discard_to_string(VmmDiscardMode d)
{
    return d == VMM_DISCARD_UNMAP ? "unmap" : "ignore";
}

static bool format_disk(ConfWriter *w, xmlNodePtr devices, const VmmDiskDef *disk,
                        guint index)
{
    g_autofree char *label = g_strdup_printf("disk %u target", index);
    if (!require(w, label, disk->target_dev))
        return false;
    g_autofree char *src_what = g_strdup_printf("disk %s source", disk->target_dev);
    g_autofree char *ser_what = g_strdup_printf("disk %s serial", disk->target_dev);
    bool cdrom = disk->device == VMM_DISK_DEVICE_CDROM, ide = disk->bus == VMM_DISK_BUS_IDE;
    bool sata = disk->bus == VMM_DISK_BUS_SATA;
    if ((!cdrom && !require(w, src_what, disk->path)) ||
        !check_value(w, "disk target", disk->target_dev))
        return false;

    bool block = disk->type == VMM_DISK_BLOCK, vu = disk->type == VMM_DISK_VHOSTUSER;
    xmlNodePtr d = add_elem(devices, "disk");
    set_attr(d, "type", vu ? "vhostuser" : block ? "block" : "file");
    set_attr(d, "device", cdrom ? "cdrom" : "disk");

    xmlNodePtr drv = add_elem(d, "driver");
    set_attr(drv, "name", "qemu");
    set_attr(drv, "type", disk->format == VMM_DISK_FORMAT_QCOW2 ? "qcow2" : "raw");
    if (!vu) {   /* the vhost-user back end has its own cache and I/O */
        set_attr(drv, "cache", vmm_cache_mode_to_string(disk->cache));
        set_attr(drv, "io", vmm_io_mode_to_string(disk->io));
        set_attr(drv, "discard", discard_to_string(disk->discard));
    }
    if (disk->queues > 0)
        set_attrf(drv, "queues", "%u", disk->queues);

    xmlNodePtr src = disk->path ? add_elem(d, "source") : NULL;   /* none: empty tray */
    if (vu)
        set_attr(src, "type", "unix");
    if (src &&
        !set_attr_checked(w, src, src_what, vu ? "path" : block ? "dev" : "file", disk->path))
        return false;
    if (vu && disk->reconnect) {
        xmlNodePtr rc = add_elem(src, "reconnect");
        set_attr(rc, "enabled", "yes");
        set_attrf(rc, "timeout", "%u", disk->reconnect);
    }

    xmlNodePtr parent = d;
    for (const VmmDiskBackingStore *b = disk->backing; b; b = b->next) {
        xmlNodePtr bs = add_elem(parent, "backingStore");
        if (b->none)
            break;
        bool bblock = b->type == VMM_DISK_BLOCK;
        set_attr(bs, "type", bblock ? "block" : "file");
        xmlNodePtr f = add_elem(bs, "format");
        set_attr(f, "type", b->format == VMM_DISK_FORMAT_QCOW2 ? "qcow2" : "raw");
        xmlNodePtr bsrc = add_elem(bs, "source");
        if (!set_attr_checked(w, bsrc, src_what, bblock ? "dev" : "file", b->path))
            return false;
        parent = bs;
    }

    xmlNodePtr tgt = add_elem(d, "target");
    set_attr(tgt, "dev", disk->target_dev);
    set_attr(tgt, "bus", ide ? "ide" : sata ? "sata" : "virtio");

    if (disk->readonly)
        add_elem(d, "readonly");
    if (disk->serial && !add_text(w, d, "serial", disk->serial))
        return false;
    if (ide || sata) {
        xmlNodePtr a = add_elem(d, "address");
        set_attr(a, "type", "drive");
        set_attr(a, "controller", "0");
        set_attrf(a, "bus", "%u", disk->ide_bus);
        set_attr(a, "target", "0");
        set_attrf(a, "unit", "%u", disk->ide_unit);
    } else if (disk->pci_slot >= 0) {
        if (disk->pci_slot == 0 || disk->pci_slot >= PCI_SLOTS) {
            g_set_error(w->err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "cannot format domain XML: disk %s has PCI slot %d "
                        "(valid: 1 to %d)", disk->target_dev, disk->pci_slot,
                        PCI_SLOTS - 1);
            w->failed = true;
            return false;
        }
        format_pci_address(d, disk->pci_slot);
    }
    return true;
}


static void *disk_seen_new(void)
{
    DiskSeen *seen = g_new0(DiskSeen, 1);
    seen->targets = g_hash_table_new(g_str_hash, g_str_equal);
    seen->paths = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    return seen;
}

static void disk_seen_free(void *p)
{
    DiskSeen *seen = p;
    g_hash_table_unref(seen->targets);
    g_hash_table_unref(seen->paths);
    g_free(seen);
}

static bool disk_parse(ConfDevices *d, void *state, xmlNodePtr node, GError **err)
{
    return parse_disk(d->pc, node, state, d->pci_slots, d->def, err);
}

static bool disks_format(ConfWriter *w, xmlNodePtr devices, const VmmDomainDef *def)
{
    for (guint i = 0; def->disks && i < def->disks->len; i++)
        if (!format_disk(w, devices, g_ptr_array_index(def->disks, i), i))
            return false;
    return true;
}

static gpointer disk_copy(gconstpointer p)
{
    const VmmDiskDef *d = p;
    VmmDiskDef *n = g_new0(VmmDiskDef, 1);
    *n = *d;
    n->path = g_strdup(d->path);
    n->target_dev = g_strdup(d->target_dev);
    n->serial = g_strdup(d->serial);
    VmmDiskBackingStore **tail = &n->backing;
    for (const VmmDiskBackingStore *b = d->backing; b; b = b->next) {
        *tail = g_memdup2(b, sizeof(*b));
        (*tail)->path = g_strdup(b->path);
        (*tail)->next = NULL;
        tail = &(*tail)->next;
    }
    return n;
}

static bool backing_equal(const VmmDiskBackingStore *a, const VmmDiskBackingStore *b)
{
    for (; a && b; a = a->next, b = b->next)
        if (a->none != b->none || a->type != b->type || a->format != b->format ||
            g_strcmp0(a->path, b->path) != 0)
            return false;
    return a == b;
}

static bool disk_equal(gconstpointer x, gconstpointer y)
{
    const VmmDiskDef *a = x, *b = y;
    return a->type == b->type && g_strcmp0(a->path, b->path) == 0 &&
           g_strcmp0(a->target_dev, b->target_dev) == 0 && a->bus == b->bus &&
           a->readonly == b->readonly && g_strcmp0(a->serial, b->serial) == 0 &&
           a->cache == b->cache && a->io == b->io && a->discard == b->discard &&
           a->queues == b->queues && a->pci_slot == b->pci_slot &&
           a->reconnect == b->reconnect && a->format == b->format &&
           backing_equal(a->backing, b->backing) && a->device == b->device &&
           a->ide_bus == b->ide_bus && a->ide_unit == b->ide_unit;
}

static const char *const disk_elements[] = { "disk", NULL };

/* IDE and SATA disks sit on their controller's function, not a slot of
 * their own. */
static int *disk_pci_slot(gpointer item)
{
    VmmDiskDef *d = item;
    return d->bus != VMM_DISK_BUS_VIRTIO ? NULL : &d->pci_slot;
}
static char *disk_name(gconstpointer item, guint index)
{
    (void)index;
    const VmmDiskDef *d = item;
    return g_strdup_printf("disk %s", d->target_dev ? d->target_dev : "(unnamed)");
}

const ConfDeviceClass conf_disk_class = {
    .elements = disk_elements,
    .state_new = disk_seen_new,
    .state_free = disk_seen_free,
    .parse = disk_parse,
    .format = disks_format,
    .list_offset = offsetof(VmmDomainDef, disks),
    .item_free = (GDestroyNotify)vmm_disk_def_free,
    .item_copy = disk_copy,
    .item_equal = disk_equal,
    .item_pci_slot = disk_pci_slot,
    .item_name = disk_name,
};

void vmm_disk_def_free(VmmDiskDef *disk)
{
    if (!disk)
        return;
    g_free(disk->path);
    g_free(disk->target_dev);
    g_free(disk->serial);
    vmm_disk_backing_free(disk->backing);
    g_free(disk);
}

void vmm_disk_backing_free(VmmDiskBackingStore *b)
{
    while (b) {
        VmmDiskBackingStore *next = b->next;
        g_free(b->path);
        g_free(b);
        b = next;
    }
}

/* libvirt's spelling, as <driver cache=...> and io=... take it. */
const char *vmm_cache_mode_to_string(VmmCacheMode m)
{
    switch (m) {
    case VMM_CACHE_WRITEBACK: return "writeback";
    case VMM_CACHE_WRITETHROUGH: return "writethrough";
    case VMM_CACHE_NONE: return "none";
    case VMM_CACHE_DIRECTSYNC: return "directsync";
    case VMM_CACHE_UNSAFE: return "unsafe";
    }
    return "unknown";
}

const char *vmm_io_mode_to_string(VmmIoMode m)
{
    switch (m) {
    case VMM_IO_THREADS: return "threads";
    case VMM_IO_NATIVE: return "native";
    case VMM_IO_URING: return "io_uring";
    }
    return "unknown";
}
