/* The run-time side of a domain definition: freeing it, its device lists,
 * where its PCI devices go, and the small lookups devices make. Nothing
 * here uses libxml2: vmm-worker, which reads its definition as a machine
 * description (domain_desc.c), links this and not the XML parser and
 * formatter (the other files of src/conf/). */
#include "config.h"
#include "conf/conf_parse.h"
#include "conf/domain_format.h"

#include <stddef.h>
#include <string.h>

G_DEFINE_QUARK(vmm-conf-error-quark, vmm_conf_error)

/* ---- disks ---------------------------------------------------------------- */

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

const ConfDeviceList conf_disk_list = {
    .list_offset = offsetof(VmmDomainDef, disks),
    .item_free = (GDestroyNotify)vmm_disk_def_free,
    .item_pci_slot = disk_pci_slot,
    .item_name = disk_name,
};

/* ---- interfaces ----------------------------------------------------------- */

const char *const conf_net_types[] = { "bridge", "ethernet", "user", "vhostuser", "network",
                                       NULL };

static int *net_pci_slot(gpointer item) { return &((VmmNetDef *)item)->pci_slot; }

static char *net_name(gconstpointer item, guint index)
{
    (void)item;
    return g_strdup_printf("interface %u", index);
}

void vmm_net_def_free(VmmNetDef *net)
{
    if (!net)
        return;
    g_free(net->bridge);
    g_free(net->network);
    g_free(net->target_dev);
    g_free(net->socket_path);
    g_free(net);
}

const char *vmm_net_type_to_string(VmmNetType t)
{
    return conf_net_types[t];
}

const ConfDeviceList conf_net_list = {
    .list_offset = offsetof(VmmDomainDef, nets),
    .item_free = (GDestroyNotify)vmm_net_def_free,
    .item_pci_slot = net_pci_slot,
    .item_name = net_name,
};

/* ---- rng ------------------------------------------------------------------ */

static int *rng_pci_slot(gpointer item) { return &((VmmRngDef *)item)->pci_slot; }

static char *rng_name(gconstpointer item, guint index)
{
    (void)item;
    return g_strdup_printf("rng %u", index);
}

void vmm_rng_def_free(VmmRngDef *rng)
{
    if (!rng)
        return;
    g_free(rng->path);
    g_free(rng);
}

const char *vmm_rng_def_file(const VmmRngDef *rng)
{
    return rng->path ? rng->path : VMM_RNG_DEFAULT_FILE;
}

unsigned vmm_rng_def_period_ms(const VmmRngDef *rng)
{
    return rng->rate_period_ms ? rng->rate_period_ms : VMM_RNG_DEFAULT_PERIOD_MS;
}

const ConfDeviceList conf_rng_list = {
    .list_offset = offsetof(VmmDomainDef, rngs),
    .item_free = (GDestroyNotify)vmm_rng_def_free,
    .item_pci_slot = rng_pci_slot,
    .item_name = rng_name,
};

/* ---- serial ports, virtio-serial -------------------------------------------- */

void vmm_chr_def_free(VmmChrDef *chr)
{
    if (!chr)
        return;
    g_free(chr->path);
    g_free(chr);
}

const char *vmm_chr_type_to_string(VmmChrType t)
{
    switch (t) {
    case VMM_CHR_STDIO: return "stdio";
    case VMM_CHR_FILE: return "file";
    case VMM_CHR_PTY: return "pty";
    case VMM_CHR_UNIX: return "unix";
    }
    return "unknown";
}

const ConfDeviceList conf_chardev_list = {
    .list_offset = offsetof(VmmDomainDef, serials),
    .item_free = (GDestroyNotify)vmm_chr_def_free,
};

static int *controller_pci_slot(gpointer item) { return &((VmmControllerDef *)item)->pci_slot; }

static char *controller_name(gconstpointer item, guint index)
{
    (void)item;
    return g_strdup_printf("controller virtio-serial %u", index);
}

void vmm_controller_def_free(VmmControllerDef *c)
{
    g_free(c);
}

void vmm_channel_def_free(VmmChannelDef *ch)
{
    if (!ch)
        return;
    g_free(ch->chr.path);
    g_free(ch->name);
    g_free(ch);
}

unsigned vmm_vserial_nr_ports(const GPtrArray *controllers, const GPtrArray *channels)
{
    if (!controllers || !controllers->len)
        return 0;
    const VmmControllerDef *c = g_ptr_array_index(controllers, 0);
    if (c->ports)
        return c->ports;
    unsigned n = 1;   /* port 0 exists even without a console */
    for (guint i = 0; channels && i < channels->len; i++)
        n = MAX(n, ((const VmmChannelDef *)g_ptr_array_index(channels, i))->port + 1);
    return n;
}

char *vmm_channel_alias(const GPtrArray *channels, guint i, bool has_serial)
{
    const VmmChannelDef *ch = g_ptr_array_index(channels, i);
    guint same = 0;
    for (guint j = 0; j < i; j++)
        if (((const VmmChannelDef *)g_ptr_array_index(channels, j))->kind == ch->kind)
            same++;
    if (ch->kind == VMM_VSERIAL_CONSOLE)
        return g_strdup_printf("console%u", same + (has_serial ? 1 : 0));
    return g_strdup_printf("channel%u", same);
}

char *vmm_channel_auto_path(const char *run_dir, const char *domain, const char *name)
{
    return g_build_filename(run_dir, "channel", domain, name, NULL);
}

const ConfDeviceList conf_controller_list = {
    .list_offset = offsetof(VmmDomainDef, controllers),
    .item_free = (GDestroyNotify)vmm_controller_def_free,
    .item_pci_slot = controller_pci_slot,
    .item_name = controller_name,
};

const ConfDeviceList conf_channel_list = {
    .list_offset = offsetof(VmmDomainDef, channels),
    .item_free = (GDestroyNotify)vmm_channel_def_free,
};

/* ---- balloon -------------------------------------------------------------- */

/* A virtio balloon takes a PCI slot; model='none' is no device. */
static int *balloon_pci_slot(gpointer item)
{
    VmmBalloonDef *b = item;
    return b->model == VMM_BALLOON_VIRTIO ? &b->pci_slot : NULL;
}

static char *balloon_name(gconstpointer item, guint index)
{
    (void)item;
    (void)index;
    return g_strdup("memballoon");
}

void vmm_balloon_def_free(VmmBalloonDef *b)
{
    g_free(b);
}

const VmmBalloonDef *vmm_domain_def_balloon(const VmmDomainDef *def)
{
    if (!def->memballoons || !def->memballoons->len)
        return NULL;
    const VmmBalloonDef *b = g_ptr_array_index(def->memballoons, 0);
    return b->model == VMM_BALLOON_VIRTIO ? b : NULL;
}

const char *vmm_domain_vhost_user_socket(const VmmDomainDef *def, const char *disk,
                                         guint64 index, bool *listening)
{
    *listening = false;
    for (guint i = 0; disk && def->disks && i < def->disks->len; i++) {
        const VmmDiskDef *d = g_ptr_array_index(def->disks, i);
        if (d->type == VMM_DISK_VHOSTUSER && !strcmp(d->target_dev, disk))
            return d->path;
    }
    if (!disk && def->nets && index < def->nets->len) {
        const VmmNetDef *n = g_ptr_array_index(def->nets, index);
        if (n->type == VMM_NET_VHOSTUSER) {
            *listening = n->socket_server;
            return n->socket_path;
        }
    }
    return NULL;
}

char *vmm_domain_vhost_user_name(const char *disk, guint64 index)
{
    if (!disk)
        return g_strdup_printf("interface %" G_GUINT64_FORMAT, index);
    g_autofree char *safe = g_strescape(disk, NULL);
    return g_strdup_printf("disk %s", safe);
}

const ConfDeviceList conf_memballoon_list = {
    .list_offset = offsetof(VmmDomainDef, memballoons),
    .item_free = (GDestroyNotify)vmm_balloon_def_free,
    .item_pci_slot = balloon_pci_slot,
    .item_name = balloon_name,
};

/* In libvirt's <devices> output order, as conf_device_classes. */
const ConfDeviceList *const conf_device_lists[] = {
    &conf_disk_list, &conf_controller_list, &conf_net_list, &conf_chardev_list,
    &conf_channel_list, &conf_memballoon_list, &conf_rng_list, NULL,
};

/* ---- cpu, tuning, seclabel ---------------------------------------------------- */

void conf_cpu_feature_free(gpointer p)
{
    VmmCpuFeatureDef *f = p;
    g_free(f->name);
    g_free(f);
}

void vmm_cpu_def_free(VmmCpuDef *cpu)
{
    if (!cpu)
        return;
    if (cpu->features)
        g_ptr_array_unref(cpu->features);
    g_free(cpu);
}

bool vmm_cpuset_has(const VmmCpuSet *s, unsigned cpu)
{
    return cpu < VMM_CPUSET_MAX && (s->bits[cpu / 64] >> (cpu % 64)) & 1;
}

static void cpuset_put(VmmCpuSet *s, unsigned cpu, bool on)
{
    if (on)
        s->bits[cpu / 64] |= 1ULL << (cpu % 64);
    else
        s->bits[cpu / 64] &= ~(1ULL << (cpu % 64));
}

static bool cpu_number(const char *s, unsigned *out)
{
    guint64 v;
    if (!g_ascii_string_to_unsigned(s, 10, 0, VMM_CPUSET_MAX - 1, &v, NULL))
        return false;
    *out = (unsigned)v;
    return true;
}

bool vmm_cpuset_parse(const char *text, VmmCpuSet *out)
{
    VmmCpuSet s = { { 0 } };
    g_auto(GStrv) terms = g_strsplit(text, ",", -1);
    if (!terms[0])
        return false;
    /* libvirt applies the ^N exclusions after the ranges, whatever the order */
    for (int pass = 0; pass < 2; pass++) {
        for (char **t = terms; *t; t++) {
            bool exclude = (*t)[0] == '^';
            unsigned a, b;
            if (exclude) {
                if (!cpu_number(*t + 1, &a))
                    return false;
                if (pass == 1)
                    cpuset_put(&s, a, false);
                continue;
            }
            char *dash = strchr(*t, '-');
            if (dash) {
                g_autofree char *first = g_strndup(*t, (gsize)(dash - *t));
                if (!cpu_number(first, &a) || !cpu_number(dash + 1, &b) || b < a)
                    return false;
            } else if (!cpu_number(*t, &a)) {
                return false;
            } else {
                b = a;
            }
            for (unsigned c = a; pass == 0 && c <= b; c++)
                cpuset_put(&s, c, true);
        }
    }
    bool any = false;
    for (unsigned i = 0; i < G_N_ELEMENTS(s.bits); i++)
        any |= s.bits[i] != 0;
    if (!any)
        return false;
    *out = s;
    return true;
}

char *vmm_cpuset_format(const VmmCpuSet *s)
{
    GString *o = g_string_new(NULL);
    for (unsigned c = 0; c < VMM_CPUSET_MAX; c++) {
        if (!vmm_cpuset_has(s, c))
            continue;
        unsigned end = c;
        while (end + 1 < VMM_CPUSET_MAX && vmm_cpuset_has(s, end + 1))
            end++;
        g_string_append_printf(o, "%s%u", o->len ? "," : "", c);
        if (end > c)
            g_string_append_printf(o, "-%u", end);
        c = end;
    }
    return g_string_free(o, FALSE);
}

void vmm_tune_def_free(VmmTuneDef *t)
{
    if (!t)
        return;
    g_ptr_array_free(t->vcpupins, TRUE);
    g_ptr_array_free(t->blkio_devices, TRUE);
    g_free(t);
}

void vmm_seclabel_def_free(VmmSeclabelDef *sl)
{
    if (!sl)
        return;
    g_free(sl->label);
    g_free(sl->imagelabel);
    g_free(sl);
}

/* ---- the domain ------------------------------------------------------------ */

void vmm_domain_def_free(VmmDomainDef *def)
{
    if (!def)
        return;
    g_free(def->name);
    g_free(def->title);
    g_free(def->description);
    g_free(def->os_arch);
    g_free(def->os_machine);
    g_free(def->kernel);
    g_free(def->initrd);
    g_free(def->cmdline);
    g_free(def->emulator);
    vmm_cpu_def_free(def->cpu);
    vmm_tune_def_free(def->tune);
    vmm_seclabel_def_free(def->seclabel);
    conf_devices_clear(def);
    g_free(def);
}

void conf_devices_clear(VmmDomainDef *def)
{
    for (size_t i = 0; conf_device_lists[i]; i++)
        g_clear_pointer((GPtrArray **)((char *)def + conf_device_lists[i]->list_offset),
                        g_ptr_array_unref);
}

/* ---- PCI placement ---------------------------------------------------------- */

/* The PCI devices of `def` in placement order: the classes' order in
 * conf_device_lists (disks, interfaces, ...), document order within one.
 * Adds each one's item to `items`, its slot field to `fields` and its name
 * to `names`. */
void conf_pci_devices(const VmmDomainDef *def, GPtrArray *items, GPtrArray *fields,
                        GPtrArray *names)
{
    for (size_t c = 0; conf_device_lists[c]; c++) {
        const ConfDeviceList *k = conf_device_lists[c];
        GPtrArray *list = *(GPtrArray **)((char *)def + k->list_offset);
        if (!k->item_pci_slot || !list)
            continue;
        for (guint i = 0; i < list->len; i++) {
            gpointer item = g_ptr_array_index(list, i);
            int *slot = k->item_pci_slot(item);
            if (!slot)   /* e.g. <memballoon model='none'> */
                continue;
            g_ptr_array_add(items, item);
            g_ptr_array_add(fields, slot);
            g_ptr_array_add(names, k->item_name(item, i));
        }
    }
}

static bool has_disk_bus(const VmmDomainDef *def, VmmDiskBus bus)
{
    for (guint i = 0; def->disks && i < def->disks->len; i++)
        if (((const VmmDiskDef *)g_ptr_array_index(def->disks, i))->bus == bus)
            return true;
    return false;
}

bool vmm_domain_def_has_ide(const VmmDomainDef *def)
{
    return has_disk_bus(def, VMM_DISK_BUS_IDE);
}

bool vmm_domain_def_has_sata(const VmmDomainDef *def)
{
    return has_disk_bus(def, VMM_DISK_BUS_SATA);
}

/* slots[i] for fields[i]: the explicit slot, or the lowest free one from 1
 * upward in placement order; with IDE disks, slot 1 is the PIIX3's, with
 * SATA disks slot 0x1f the AHCI controller's. */
bool conf_place_pci(GPtrArray *fields, GPtrArray *names, const VmmDomainDef *def, int *slots,
                      GError **err)
{
    bool ide = vmm_domain_def_has_ide(def), sata = vmm_domain_def_has_sata(def);
    guint n = fields->len;
    for (guint i = 0; i < n; i++)
        slots[i] = *(int *)g_ptr_array_index(fields, i);
    bool used[PCI_SLOTS] = { [0] = true };   /* slot 0: host bridge */
    /* IDE disks: the PIIX3 functions at 00:01.x, where QEMU's i440fx has them */
    used[VMM_PCI_SLOT_IDE] = ide;
    used[VMM_PCI_SLOT_AHCI] = sata;

    for (guint i = 0; i < n; i++) {
        int s = slots[i];
        const char *name = g_ptr_array_index(names, i);
        if (s < 0)
            continue;
        if (s == 0 || s >= PCI_SLOTS) {
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "%s: PCI slot %d is out of range (1 to %d)", name, s, PCI_SLOTS - 1);
            return false;
        }
        if (ide && s == VMM_PCI_SLOT_IDE) {
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "%s: PCI slot 0x%02x holds the IDE controller (00:01.1, as on "
                        "QEMU's pc machine) when a disk has bus='ide'", name, s);
            return false;
        }
        if (sata && s == VMM_PCI_SLOT_AHCI) {
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "%s: PCI slot 0x%02x holds the AHCI controller (00:1f.0) when a "
                        "disk has bus='sata'", name, s);
            return false;
        }
        if (used[s]) {
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "%s: PCI slot 0x%02x is used twice", name, s);
            return false;
        }
        used[s] = true;
    }
    int next = 1;
    for (guint i = 0; i < n; i++) {
        if (slots[i] >= 0)
            continue;
        while (next < PCI_SLOTS && used[next])
            next++;
        if (next >= PCI_SLOTS) {
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "%s: no free PCI slot left (vmmd has slots 1 to %d on one bus)",
                        (const char *)g_ptr_array_index(names, i), PCI_SLOTS - 1);
            return false;
        }
        slots[i] = next;
        used[next] = true;
    }
    return true;
}

GHashTable *vmm_domain_def_pci_placement(const VmmDomainDef *def, GError **err)
{
    g_return_val_if_fail(def != NULL, NULL);
    g_autoptr(GPtrArray) items = g_ptr_array_new();
    g_autoptr(GPtrArray) fields = g_ptr_array_new();
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    conf_pci_devices(def, items, fields, names);
    g_autofree int *slots = g_new0(int, fields->len + 1);
    if (!conf_place_pci(fields, names, def, slots, err))
        return NULL;
    GHashTable *placement = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (guint i = 0; i < items->len; i++)
        g_hash_table_insert(placement, items->pdata[i], GINT_TO_POINTER(slots[i]));
    return placement;
}
