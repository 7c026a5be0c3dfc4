/* The machine description (domain_desc.h): VmmDomainDef <-> JSON with
 * json-c. Each struct is a table of scalar fields (key, type, offset,
 * range) read and written by one pair of functions; what a table cannot
 * say (byte strings, nested objects, lists) is written out per struct.
 * Nothing here uses libxml2: the worker links this file. */
#include "config.h"
#include "conf/domain_desc.h"
#include "conf/conf_parse.h"
#include "conf/domain_format.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

/* enumerations are stored through an int */
G_STATIC_ASSERT(sizeof(VmmCacheMode) == sizeof(int));
G_STATIC_ASSERT(sizeof(VmmNetType) == sizeof(int));
G_STATIC_ASSERT(sizeof(VmmTristate) == sizeof(int));

#define DESC_FORMAT "vmmd-machine-description"
/* nested backing stores and lists; anything deeper is refused */
#define DESC_JSON_DEPTH 40

typedef enum { D_STR, D_BOOL, D_UINT, D_U64, D_I64, D_INT, D_LONG } DescType;

typedef struct {
    const char *key;
    DescType type;
    size_t off;
    int64_t min;          /* integers: the range accepted */
    uint64_t max;
} DescField;

#define FS(st, f) { #f, D_STR, offsetof(st, f), 0, 0 }
#define FB(st, f) { #f, D_BOOL, offsetof(st, f), 0, 1 }
#define FU(st, f, lo, hi) { #f, D_UINT, offsetof(st, f), lo, hi }
#define F64(st, f, hi) { #f, D_U64, offsetof(st, f), 0, hi }
#define FI64(st, f, lo, hi) { #f, D_I64, offsetof(st, f), lo, hi }
#define FE(st, f, hi) { #f, D_INT, offsetof(st, f), 0, hi }          /* an enum */
#define FSLOT(st) { "pci_slot", D_INT, offsetof(st, pci_slot), -1, 31 }
#define FEND { NULL, 0, 0, 0, 0 }

/* ---- errors -------------------------------------------------------------- */

typedef struct {
    const char *source;
    GError **err;
} Reader;

static bool fail(Reader *r, const char *path, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static bool fail(Reader *r, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* an unknown key is the sender's text: escaped, the error stays one line */
    g_autofree char *where = g_strescape(path ? path : "", NULL);
    g_set_error(r->err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                "%s: machine description: %s%s%s", r->source ? r->source : "description",
                where, *where ? ": " : "", msg);
    return false;
}

static char *sub(const char *path, const char *key)
{
    return path && *path ? g_strdup_printf("%s.%s", path, key) : g_strdup(key);
}

/* ---- scalar fields --------------------------------------------------------- */

static void write_fields(json_object *o, const DescField *f, const void *st)
{
    const char *p = st;
    for (; f->key; f++) {
        const void *v = p + f->off;
        json_object *j = NULL;
        switch (f->type) {
        case D_STR:
            if (*(char *const *)v)
                j = json_object_new_string(*(char *const *)v);
            break;
        case D_BOOL: j = json_object_new_boolean(*(const bool *)v); break;
        case D_UINT: j = json_object_new_uint64(*(const unsigned *)v); break;
        case D_U64: j = json_object_new_uint64(*(const uint64_t *)v); break;
        case D_I64: j = json_object_new_int64(*(const int64_t *)v); break;
        case D_INT: j = json_object_new_int64(*(const int *)v); break;
        case D_LONG: j = json_object_new_int64(*(const long *)v); break;
        }
        if (j)
            json_object_object_add(o, f->key, j);
    }
}

static bool read_string(Reader *r, const char *path, json_object *j, char **out)
{
    if (!json_object_is_type(j, json_type_string))
        return fail(r, path, "expected a string");
    const char *s = json_object_get_string(j);
    size_t len = (size_t)json_object_get_string_len(j);
    if (memchr(s, 0, len))
        return fail(r, path, "a string holds a NUL byte");
    if (!g_utf8_validate(s, (gssize)len, NULL))
        return fail(r, path, "a string is not valid UTF-8");
    *out = g_strndup(s, len);
    return true;
}

static bool read_int(Reader *r, const char *path, json_object *j, int64_t min, uint64_t max,
                     int64_t *s_out, uint64_t *u_out)
{
    if (!json_object_is_type(j, json_type_int))
        return fail(r, path, "expected an integer");
    /* json-c keeps integers above INT64_MAX as unsigned: the signed view
     * of those saturates, the unsigned view of a negative one is 0 */
    int64_t s = json_object_get_int64(j);
    uint64_t u = json_object_get_uint64(j);
    if (s < 0 ? s < min : (u > max || (min > 0 && u < (uint64_t)min)))
        return fail(r, path, "%s is out of range (%" G_GINT64_FORMAT " to %" G_GUINT64_FORMAT ")",
                    json_object_to_json_string(j), min, max);
    *s_out = s;
    *u_out = u;
    return true;
}

static const DescField *find_field(const DescField *f, const char *key)
{
    for (; f->key; f++)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

static bool in_list(const char *const *list, const char *key)
{
    for (; list && *list; list++)
        if (strcmp(*list, key) == 0)
            return true;
    return false;
}

/* Reads `o`'s scalar fields into `st`; keys in `extra` are the caller's,
 * `required` must be present. */
static bool read_fields(Reader *r, const char *path, json_object *o, const DescField *fields,
                        const char *const *extra, const char *const *required, void *st)
{
    if (!json_object_is_type(o, json_type_object))
        return fail(r, path, "expected an object");
    for (const char *const *k = required; k && *k; k++)
        if (!json_object_object_get_ex(o, *k, NULL)) {
            g_autofree char *p = sub(path, *k);
            return fail(r, p, "missing");
        }
    char *base = st;
    json_object_object_foreach(o, key, val) {
        g_autofree char *p = sub(path, key);
        const DescField *f = find_field(fields, key);
        if (!f) {
            if (in_list(extra, key))
                continue;
            return fail(r, p, "unknown key");
        }
        void *v = base + f->off;
        int64_t s;
        uint64_t u;
        switch (f->type) {
        case D_STR:
            g_free(*(char **)v);
            *(char **)v = NULL;
            if (!read_string(r, p, val, (char **)v))
                return false;
            break;
        case D_BOOL:
            if (!json_object_is_type(val, json_type_boolean))
                return fail(r, p, "expected true or false");
            *(bool *)v = json_object_get_boolean(val);
            break;
        case D_UINT:
            if (!read_int(r, p, val, f->min, MIN(f->max, UINT_MAX), &s, &u))
                return false;
            *(unsigned *)v = (unsigned)u;
            break;
        case D_U64:
            if (!read_int(r, p, val, f->min, f->max, &s, &u))
                return false;
            *(uint64_t *)v = u;
            break;
        case D_I64:
            if (!read_int(r, p, val, f->min, f->max, &s, &u))
                return false;
            *(int64_t *)v = s;
            break;
        case D_INT:
            if (!read_int(r, p, val, MAX(f->min, INT_MIN), MIN(f->max, INT_MAX), &s, &u))
                return false;
            *(int *)v = (int)s;
            break;
        case D_LONG:
            if (!read_int(r, p, val, MAX(f->min, LONG_MIN), MIN(f->max, LONG_MAX), &s, &u))
                return false;
            *(long *)v = (long)s;
            break;
        }
    }
    return true;
}

/* An optional nested value: *out NULL when absent. */
static json_object *get(json_object *o, const char *key)
{
    json_object *j = NULL;
    return json_object_object_get_ex(o, key, &j) ? j : NULL;
}

/* A name that becomes a path component (NAME.sock, channel/NAME/...):
 * what the XML parser lets through, no more. */
static bool component_ok(const char *s, size_t max_chars, bool ascii)
{
    size_t n = ascii ? strlen(s) : (size_t)g_utf8_strlen(s, -1);
    if (n == 0 || n > max_chars || s[0] == '.' || strchr(s, '/'))
        return false;
    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if (g_unichar_iscntrl(c) || (ascii && (c <= ' ' || c > '~')))
            return false;
    }
    return true;
}

/* ---- byte strings as hex ----------------------------------------------------- */

static json_object *hex_new(const uint8_t *b, size_t n)
{
    char s[2 * 16 + 1];
    g_assert(n <= 16);
    for (size_t i = 0; i < n; i++)
        g_snprintf(s + 2 * i, 3, "%02x", b[i]);
    return json_object_new_string_len(s, (int)(2 * n));
}

static bool hex_read(Reader *r, const char *path, json_object *j, uint8_t *b, size_t n)
{
    if (!json_object_is_type(j, json_type_string) ||
        (size_t)json_object_get_string_len(j) != 2 * n)
        return fail(r, path, "expected %zu hexadecimal digits", 2 * n);
    const char *s = json_object_get_string(j);
    for (size_t i = 0; i < n; i++) {
        int hi = g_ascii_xdigit_value(s[2 * i]), lo = g_ascii_xdigit_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return fail(r, path, "expected %zu hexadecimal digits", 2 * n);
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* ---- lists ---------------------------------------------------------------- */

typedef gpointer (*ItemRead)(Reader *r, const char *path, json_object *o);
typedef json_object *(*ItemWrite)(gconstpointer item);

static json_object *write_list(const GPtrArray *a, ItemWrite w)
{
    json_object *arr = json_object_new_array();
    for (guint i = 0; a && i < a->len; i++)
        json_object_array_add(arr, w(g_ptr_array_index(a, i)));
    return arr;
}

static bool read_list(Reader *r, const char *path, json_object *j, ItemRead rd, GPtrArray *out)
{
    if (!json_object_is_type(j, json_type_array))
        return fail(r, path, "expected an array");
    size_t n = json_object_array_length(j);
    for (size_t i = 0; i < n; i++) {
        g_autofree char *p = g_strdup_printf("%s[%zu]", path, i);
        gpointer item = rd(r, p, json_object_array_get_idx(j, i));
        if (!item)
            return false;
        g_ptr_array_add(out, item);
    }
    return true;
}

/* ---- disks ------------------------------------------------------------------ */

static const DescField backing_fields[] = {
    FB(VmmDiskBackingStore, none), FE(VmmDiskBackingStore, type, VMM_DISK_BLOCK),
    FE(VmmDiskBackingStore, format, VMM_DISK_FORMAT_QCOW2), FS(VmmDiskBackingStore, path),
    FEND,
};

static json_object *write_backing(const VmmDiskBackingStore *b)
{
    json_object *o = json_object_new_object();
    write_fields(o, backing_fields, b);
    if (b->next)
        json_object_object_add(o, "next", write_backing(b->next));
    return o;
}

static VmmDiskBackingStore *read_backing(Reader *r, const char *path, json_object *o)
{
    static const char *const extra[] = { "next", NULL };
    g_autoptr(VmmDiskBackingStore) b = g_new0(VmmDiskBackingStore, 1);
    if (!read_fields(r, path, o, backing_fields, extra, NULL, b))
        return NULL;
    json_object *next = get(o, "next");
    if (next) {
        g_autofree char *p = sub(path, "next");
        if (!(b->next = read_backing(r, p, next)))
            return NULL;
    }
    if (!b->none && !b->path) {
        fail(r, path, "a backing store needs a path or none");
        return NULL;
    }
    return g_steal_pointer(&b);
}

static const DescField disk_fields[] = {
    FE(VmmDiskDef, type, VMM_DISK_VHOSTUSER), FS(VmmDiskDef, path),
    FE(VmmDiskDef, device, VMM_DISK_DEVICE_CDROM), FS(VmmDiskDef, target_dev),
    FE(VmmDiskDef, bus, VMM_DISK_BUS_SATA), FU(VmmDiskDef, ide_bus, 0, VMM_IDE_BUSES - 1),
    FU(VmmDiskDef, ide_unit, 0, VMM_SATA_PORTS - 1), FB(VmmDiskDef, readonly),
    FS(VmmDiskDef, serial), FE(VmmDiskDef, format, VMM_DISK_FORMAT_QCOW2),
    FE(VmmDiskDef, cache, VMM_CACHE_UNSAFE), FE(VmmDiskDef, io, VMM_IO_URING),
    FE(VmmDiskDef, discard, VMM_DISCARD_UNMAP), FU(VmmDiskDef, queues, 0, VMM_MAX_DISK_QUEUES),
    FU(VmmDiskDef, reconnect, 0, UINT_MAX), FSLOT(VmmDiskDef),
    FEND,
};

static json_object *write_disk(gconstpointer item)
{
    const VmmDiskDef *d = item;
    json_object *o = json_object_new_object();
    write_fields(o, disk_fields, d);
    if (d->backing)
        json_object_object_add(o, "backing", write_backing(d->backing));
    return o;
}

static gpointer read_disk(Reader *r, const char *path, json_object *o)
{
    static const char *const extra[] = { "backing", NULL };
    static const char *const required[] = { "target_dev", NULL };
    g_autoptr(VmmDiskDef) d = g_new0(VmmDiskDef, 1);
    if (!read_fields(r, path, o, disk_fields, extra, required, d))
        return NULL;
    json_object *b = get(o, "backing");
    if (b) {
        g_autofree char *p = sub(path, "backing");
        if (!(d->backing = read_backing(r, p, b)))
            return NULL;
    }
    if (d->bus == VMM_DISK_BUS_IDE && d->ide_unit >= VMM_IDE_UNITS) {
        fail(r, path, "IDE unit %u is out of range (0 to %d)", d->ide_unit, VMM_IDE_UNITS - 1);
        return NULL;
    }
    if (!d->path && d->device != VMM_DISK_DEVICE_CDROM) {
        fail(r, path, "a disk needs a path (only a CD-ROM may be empty)");
        return NULL;
    }
    return g_steal_pointer(&d);
}

/* ---- interfaces ----------------------------------------------------------- */

static const DescField net_fields[] = {
    FE(VmmNetDef, type, VMM_NET_NETWORK), FS(VmmNetDef, bridge), FS(VmmNetDef, network),
    FS(VmmNetDef, target_dev), FB(VmmNetDef, managed_no), FE(VmmNetDef, model, VMM_NET_MODEL_RTL8139),
    FE(VmmNetDef, driver, VMM_NET_DRIVER_QEMU), FU(VmmNetDef, queues, 0, VMM_NET_MAX_QUEUES),
    FU(VmmNetDef, rx_queue_size, 0, 1024), FU(VmmNetDef, tx_queue_size, 0, 1024),
    FB(VmmNetDef, link_down), FU(VmmNetDef, mtu, 0, 65535), FS(VmmNetDef, socket_path),
    FB(VmmNetDef, socket_server), FSLOT(VmmNetDef),
    FEND,
};

static json_object *write_tristates(const VmmTristate *t, size_t n)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        json_object_array_add(a, json_object_new_int(t[i]));
    return a;
}

static bool read_tristates(Reader *r, const char *path, json_object *j, VmmTristate *t, size_t n)
{
    if (!json_object_is_type(j, json_type_array) || json_object_array_length(j) != n)
        return fail(r, path, "expected an array of %zu integers", n);
    for (size_t i = 0; i < n; i++) {
        int64_t s;
        uint64_t u;
        if (!read_int(r, path, json_object_array_get_idx(j, i), 0, VMM_TRI_OFF, &s, &u))
            return false;
        t[i] = (VmmTristate)u;
    }
    return true;
}

static json_object *write_net(gconstpointer item)
{
    const VmmNetDef *n = item;
    json_object *o = json_object_new_object();
    write_fields(o, net_fields, n);
    json_object_object_add(o, "mac", hex_new(n->mac, 6));
    json_object_object_add(o, "host", write_tristates(n->host, VMM_NET_HOST_N));
    json_object_object_add(o, "guest", write_tristates(n->guest, VMM_NET_GUEST_N));
    return o;
}

static gpointer read_net(Reader *r, const char *path, json_object *o)
{
    static const char *const extra[] = { "mac", "host", "guest", NULL };
    g_autoptr(VmmNetDef) n = g_new0(VmmNetDef, 1);
    g_autofree char *pm = sub(path, "mac"), *ph = sub(path, "host"), *pg = sub(path, "guest");
    if (!read_fields(r, path, o, net_fields, extra, extra, n) ||
        !hex_read(r, pm, get(o, "mac"), n->mac, 6) ||
        !read_tristates(r, ph, get(o, "host"), n->host, VMM_NET_HOST_N) ||
        !read_tristates(r, pg, get(o, "guest"), n->guest, VMM_NET_GUEST_N))
        return NULL;
    if (n->type == VMM_NET_VHOSTUSER && !n->socket_path) {
        fail(r, path, "a vhost-user interface needs socket_path");
        return NULL;
    }
    if ((n->type == VMM_NET_BRIDGE && !n->bridge) || (n->type == VMM_NET_NETWORK && !n->network)) {
        fail(r, path, "a %s interface needs its %s", vmm_net_type_to_string(n->type),
             n->type == VMM_NET_BRIDGE ? "bridge" : "network");
        return NULL;
    }
    if (n->target_dev && !component_ok(n->target_dev, VMM_NET_IFNAME_MAX, true)) {
        fail(r, path, "target_dev is no interface name (1 to %d characters, no '/')",
             VMM_NET_IFNAME_MAX);
        return NULL;
    }
    return g_steal_pointer(&n);
}

/* ---- rng, serial ports, virtio-serial, balloon ------------------------------ */

static const DescField rng_fields[] = {
    FE(VmmRngDef, model, VMM_RNG_MODEL_VIRTIO_NON_TRANSITIONAL),
    FE(VmmRngDef, backend, VMM_RNG_BACKEND_BUILTIN), FS(VmmRngDef, path),
    F64(VmmRngDef, rate_bytes, UINT64_MAX), FU(VmmRngDef, rate_period_ms, 0, UINT_MAX),
    FSLOT(VmmRngDef),
    FEND,
};

static const DescField chr_fields[] = {
    FE(VmmChrDef, type, VMM_CHR_UNIX), FS(VmmChrDef, path), FB(VmmChrDef, append),
    FB(VmmChrDef, listen), FU(VmmChrDef, port, 0, VMM_MAX_SERIALS - 1),
    FEND,
};

static const DescField controller_fields[] = {
    FU(VmmControllerDef, index, 0, 0), FU(VmmControllerDef, ports, 0, VMM_VSERIAL_MAX_PORTS),
    FSLOT(VmmControllerDef),
    FEND,
};

static const DescField channel_fields[] = {
    FE(VmmChannelDef, kind, VMM_VSERIAL_CHANNEL),
    { "chr_type", D_INT, offsetof(VmmChannelDef, chr.type), 0, VMM_CHR_UNIX },
    { "chr_path", D_STR, offsetof(VmmChannelDef, chr.path), 0, 0 },
    { "chr_append", D_BOOL, offsetof(VmmChannelDef, chr.append), 0, 1 },
    { "chr_listen", D_BOOL, offsetof(VmmChannelDef, chr.listen), 0, 1 },
    { "chr_port", D_UINT, offsetof(VmmChannelDef, chr.port), 0, UINT_MAX },
    FS(VmmChannelDef, name), FU(VmmChannelDef, target_port, 0, UINT_MAX),
    FU(VmmChannelDef, port, 0, VMM_VSERIAL_MAX_PORTS - 1), FB(VmmChannelDef, port_set),
    { "line", D_LONG, offsetof(VmmChannelDef, line), 0, LONG_MAX },
    FEND,
};

static const DescField balloon_fields[] = {
    FE(VmmBalloonDef, model, VMM_BALLOON_NONE), FE(VmmBalloonDef, autodeflate, VMM_TRI_OFF),
    FE(VmmBalloonDef, free_page_reporting, VMM_TRI_OFF),
    FU(VmmBalloonDef, stats_period, 0, VMM_BALLOON_PERIOD_MAX), FSLOT(VmmBalloonDef),
    FEND,
};

/* A chardev needs its path where its type has one. */
static bool chr_check(Reader *r, const char *path, const VmmChrDef *c, bool auto_path)
{
    if ((c->type == VMM_CHR_FILE || (c->type == VMM_CHR_UNIX && !auto_path)) && !c->path)
        return fail(r, path, "a %s character device needs a path",
                    vmm_chr_type_to_string(c->type));
    return true;
}

/* An item that is one table of fields: `required` lists the keys it
 * must have (NULL: none), `check` what the table cannot say. */
#define SIMPLE_ITEM(name, type, fields, required, check)                              \
    static json_object *write_##name(gconstpointer item)                              \
    {                                                                                  \
        json_object *o = json_object_new_object();                                    \
        write_fields(o, fields, item);                                                \
        return o;                                                                      \
    }                                                                                  \
    static gpointer read_##name(Reader *r, const char *path, json_object *o)          \
    {                                                                                  \
        type *x = g_new0(type, 1);                                                     \
        if (!read_fields(r, path, o, fields, NULL, required, x) || !(check)) {         \
            name##_free(x);                                                            \
            return NULL;                                                               \
        }                                                                              \
        return x;                                                                      \
    }

#define rng_free vmm_rng_def_free
#define serial_free vmm_chr_def_free
#define controller_free vmm_controller_def_free
#define channel_free vmm_channel_def_free
#define balloon_free vmm_balloon_def_free
SIMPLE_ITEM(rng, VmmRngDef, rng_fields, NULL, true)
SIMPLE_ITEM(serial, VmmChrDef, chr_fields, NULL, chr_check(r, path, x, false))
SIMPLE_ITEM(controller, VmmControllerDef, controller_fields, NULL, true)
/* a unix channel without a path gets one in the run directory at start,
 * named after it */
static bool channel_check(Reader *r, const char *path, const VmmChannelDef *c)
{
    if (c->name && !component_ok(c->name, VMM_VSERIAL_NAME_MAX, true))
        return fail(r, path, "name is no channel name (printable ASCII without spaces or "
                    "'/', not starting with '.')");
    return chr_check(r, path, &c->chr, true);
}
SIMPLE_ITEM(channel, VmmChannelDef, channel_fields, NULL, channel_check(r, path, x))
SIMPLE_ITEM(balloon, VmmBalloonDef, balloon_fields, NULL, true)

/* ---- cpu, tuning, seclabel ---------------------------------------------------- */

static const DescField cpu_fields[] = {
    FE(VmmCpuDef, mode, VMM_CPU_MODE_HOST_PASSTHROUGH), FB(VmmCpuDef, mode_given),
    FE(VmmCpuDef, check, VMM_CPU_CHECK_FULL), FE(VmmCpuDef, migratable, VMM_CPU_MIGRATABLE_OFF),
    FU(VmmCpuDef, sockets, 0, VMM_MAX_VCPUS), FU(VmmCpuDef, dies, 0, VMM_MAX_VCPUS),
    FU(VmmCpuDef, cores, 0, VMM_MAX_VCPUS), FU(VmmCpuDef, threads, 0, VMM_MAX_VCPUS),
    FEND,
};

static const DescField feature_fields[] = {
    FS(VmmCpuFeatureDef, name), FE(VmmCpuFeatureDef, policy, VMM_CPU_FEATURE_FORBID),
    FEND,
};

static const char *const feature_required[] = { "name", NULL };
#define feature_free conf_cpu_feature_free
SIMPLE_ITEM(feature, VmmCpuFeatureDef, feature_fields, feature_required, true)

static json_object *write_cpu(const VmmCpuDef *c)
{
    json_object *o = json_object_new_object();
    write_fields(o, cpu_fields, c);
    json_object_object_add(o, "features", write_list(c->features, write_feature));
    return o;
}

static VmmCpuDef *read_cpu(Reader *r, const char *path, json_object *o, unsigned vcpus)
{
    static const char *const extra[] = { "features", NULL };
    g_autoptr(VmmCpuDef) c = g_new0(VmmCpuDef, 1);
    c->features = g_ptr_array_new_with_free_func(conf_cpu_feature_free);
    g_autofree char *pf = sub(path, "features");
    if (!read_fields(r, path, o, cpu_fields, extra, extra, c) ||
        !read_list(r, pf, get(o, "features"), read_feature, c->features))
        return NULL;
    uint64_t n = (uint64_t)c->sockets * c->dies * c->cores * c->threads;
    if ((c->sockets || c->dies || c->cores || c->threads) && n != vcpus) {
        fail(r, path, "the topology gives %" G_GUINT64_FORMAT " vCPUs, the domain has %u", n,
             vcpus);
        return NULL;
    }
    return g_steal_pointer(&c);
}

static json_object *cpuset_new(const VmmCpuSet *s)
{
    g_autofree char *t = vmm_cpuset_format(s);
    return json_object_new_string(t);
}

static bool cpuset_read(Reader *r, const char *path, json_object *j, VmmCpuSet *s)
{
    if (!json_object_is_type(j, json_type_string) ||
        !vmm_cpuset_parse(json_object_get_string(j), s))
        return fail(r, path, "expected a CPU list such as \"0-3,5\"");
    return true;
}

static const DescField pin_fields[] = {
    FU(VmmVcpuPinDef, vcpu, 0, VMM_MAX_VCPUS - 1),
    FEND,
};

static json_object *write_pin(gconstpointer item)
{
    const VmmVcpuPinDef *p = item;
    json_object *o = json_object_new_object();
    write_fields(o, pin_fields, p);
    json_object_object_add(o, "cpus", cpuset_new(&p->cpus));
    return o;
}

static gpointer read_pin(Reader *r, const char *path, json_object *o)
{
    static const char *const extra[] = { "vcpu", "cpus", NULL };
    g_autofree VmmVcpuPinDef *p = g_new0(VmmVcpuPinDef, 1);
    g_autofree char *pc = sub(path, "cpus");
    if (!read_fields(r, path, o, pin_fields, extra, extra, p) ||
        !cpuset_read(r, pc, get(o, "cpus"), &p->cpus))
        return NULL;
    return g_steal_pointer(&p);
}

static const DescField blkio_fields[] = {
    FS(VmmBlkioDeviceDef, path), FU(VmmBlkioDeviceDef, weight, 0, UINT_MAX),
    F64(VmmBlkioDeviceDef, read_bytes_sec, UINT64_MAX),
    F64(VmmBlkioDeviceDef, write_bytes_sec, UINT64_MAX),
    FU(VmmBlkioDeviceDef, read_iops_sec, 0, UINT_MAX),
    FU(VmmBlkioDeviceDef, write_iops_sec, 0, UINT_MAX),
    FEND,
};

static void blkio_free(gpointer p)
{
    VmmBlkioDeviceDef *b = p;
    g_free(b->path);
    g_free(b);
}

static const char *const blkio_required[] = { "path", NULL };
SIMPLE_ITEM(blkio, VmmBlkioDeviceDef, blkio_fields, blkio_required, true)

static const DescField tune_fields[] = {
    FU(VmmTuneDef, shares, 0, UINT_MAX), FB(VmmTuneDef, has_shares),
    F64(VmmTuneDef, global_period, UINT64_MAX), F64(VmmTuneDef, period, UINT64_MAX),
    F64(VmmTuneDef, emulator_period, UINT64_MAX),
    FI64(VmmTuneDef, global_quota, -1, INT64_MAX), FI64(VmmTuneDef, quota, -1, INT64_MAX),
    FI64(VmmTuneDef, emulator_quota, -1, INT64_MAX),
    F64(VmmTuneDef, hard_limit_kib, UINT64_MAX), F64(VmmTuneDef, soft_limit_kib, UINT64_MAX),
    F64(VmmTuneDef, swap_hard_limit_kib, UINT64_MAX), FU(VmmTuneDef, blkio_weight, 0, UINT_MAX),
    FEND,
};

static json_object *write_tune(const VmmTuneDef *t)
{
    json_object *o = json_object_new_object();
    write_fields(o, tune_fields, t);
    json_object_object_add(o, "vcpupins", write_list(t->vcpupins, write_pin));
    if (t->has_emulatorpin)
        json_object_object_add(o, "emulatorpin", cpuset_new(&t->emulatorpin));
    json_object_object_add(o, "blkio_devices", write_list(t->blkio_devices, write_blkio));
    return o;
}

static VmmTuneDef *read_tune(Reader *r, const char *path, json_object *o, unsigned vcpus)
{
    static const char *const extra[] = { "vcpupins", "emulatorpin", "blkio_devices", NULL };
    static const char *const required[] = { "vcpupins", "blkio_devices", NULL };
    g_autoptr(VmmTuneDef) t = g_new0(VmmTuneDef, 1);
    t->vcpupins = g_ptr_array_new_with_free_func(g_free);
    t->blkio_devices = g_ptr_array_new_with_free_func(blkio_free);
    g_autofree char *pv = sub(path, "vcpupins"), *pe = sub(path, "emulatorpin"),
                    *pb = sub(path, "blkio_devices");
    if (!read_fields(r, path, o, tune_fields, extra, required, t) ||
        !read_list(r, pv, get(o, "vcpupins"), read_pin, t->vcpupins) ||
        !read_list(r, pb, get(o, "blkio_devices"), read_blkio, t->blkio_devices))
        return NULL;
    if (get(o, "emulatorpin")) {
        t->has_emulatorpin = true;
        if (!cpuset_read(r, pe, get(o, "emulatorpin"), &t->emulatorpin))
            return NULL;
    }
    for (guint i = 0; i < t->vcpupins->len; i++) {
        const VmmVcpuPinDef *p = g_ptr_array_index(t->vcpupins, i);
        if (p->vcpu >= vcpus || (i && p->vcpu <= ((const VmmVcpuPinDef *)
                                                      g_ptr_array_index(t->vcpupins, i - 1))->vcpu)) {
            fail(r, pv, "vCPU %u: pins are sorted by vCPU, unique, below %u", p->vcpu, vcpus);
            return NULL;
        }
    }
    return g_steal_pointer(&t);
}

static const DescField seclabel_fields[] = {
    FE(VmmSeclabelDef, type, VMM_SECLABEL_NONE), FB(VmmSeclabelDef, relabel),
    FS(VmmSeclabelDef, label), FS(VmmSeclabelDef, imagelabel),
    FEND,
};

/* ---- the domain ------------------------------------------------------------ */

static const DescField domain_fields[] = {
    FS(VmmDomainDef, name), FS(VmmDomainDef, title), FS(VmmDomainDef, description),
    /* KiB that still count in bytes without overflow */
    F64(VmmDomainDef, memory_kib, UINT64_MAX / 1024),
    F64(VmmDomainDef, current_memory_kib, UINT64_MAX / 1024),
    FU(VmmDomainDef, vcpus, 1, VMM_MAX_VCPUS),
    FS(VmmDomainDef, os_arch), FS(VmmDomainDef, os_machine), FS(VmmDomainDef, kernel),
    FS(VmmDomainDef, initrd), FS(VmmDomainDef, cmdline),
    FB(VmmDomainDef, acpi), FB(VmmDomainDef, apic), FB(VmmDomainDef, pae),
    FE(VmmDomainDef, clock, VMM_CLOCK_LOCALTIME),
    FE(VmmDomainDef, on_poweroff, VMM_ACTION_PRESERVE),
    FE(VmmDomainDef, on_reboot, VMM_ACTION_PRESERVE),
    FE(VmmDomainDef, on_crash, VMM_ACTION_PRESERVE),
    FS(VmmDomainDef, emulator),
    FEND,
};

/* The device lists, in VmmDomainDef. */
static const struct {
    const char *key;
    size_t off;
    ItemRead read;
    ItemWrite write;
    GDestroyNotify item_free;
} lists[] = {
    { "disks", offsetof(VmmDomainDef, disks), read_disk, write_disk,
      (GDestroyNotify)vmm_disk_def_free },
    { "nets", offsetof(VmmDomainDef, nets), read_net, write_net,
      (GDestroyNotify)vmm_net_def_free },
    { "rngs", offsetof(VmmDomainDef, rngs), read_rng, write_rng,
      (GDestroyNotify)vmm_rng_def_free },
    { "serials", offsetof(VmmDomainDef, serials), read_serial, write_serial,
      (GDestroyNotify)vmm_chr_def_free },
    { "controllers", offsetof(VmmDomainDef, controllers), read_controller, write_controller,
      (GDestroyNotify)vmm_controller_def_free },
    { "channels", offsetof(VmmDomainDef, channels), read_channel, write_channel,
      (GDestroyNotify)vmm_channel_def_free },
    { "memballoons", offsetof(VmmDomainDef, memballoons), read_balloon, write_balloon,
      (GDestroyNotify)vmm_balloon_def_free },
};

static GPtrArray **list_of(const VmmDomainDef *def, size_t i)
{
    return (GPtrArray **)((char *)def + lists[i].off);
}

char *vmm_domain_desc_to_json(const VmmDomainDef *def)
{
    g_return_val_if_fail(def != NULL, NULL);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "format", json_object_new_string(DESC_FORMAT));
    json_object_object_add(o, "version", json_object_new_int(VMM_DOMAIN_DESC_VERSION));
    write_fields(o, domain_fields, def);
    if (def->has_uuid)
        json_object_object_add(o, "uuid", hex_new(def->uuid, 16));
    if (def->cpu)
        json_object_object_add(o, "cpu", write_cpu(def->cpu));
    if (def->tune)
        json_object_object_add(o, "tune", write_tune(def->tune));
    if (def->seclabel) {
        json_object *s = json_object_new_object();
        write_fields(s, seclabel_fields, def->seclabel);
        json_object_object_add(o, "seclabel", s);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(lists); i++)
        json_object_object_add(o, lists[i].key, write_list(*list_of(def, i), lists[i].write));
    char *s = g_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return s;
}

/* What the worker indexes by: serial ports, IDE/SATA positions and
 * virtio-serial ports are unique, disk targets too; at most one
 * virtio-serial controller and one balloon. */
static bool check_domain(Reader *r, const VmmDomainDef *def)
{
    unsigned serial_ports = 0;
    for (guint i = 0; i < def->serials->len; i++) {
        const VmmChrDef *c = g_ptr_array_index(def->serials, i);
        if (serial_ports & (1u << c->port))
            return fail(r, "serials", "port %u is given twice", c->port);
        serial_ports |= 1u << c->port;
    }
    uint32_t ide = 0, sata = 0;
    for (guint i = 0; i < def->disks->len; i++) {
        const VmmDiskDef *d = g_ptr_array_index(def->disks, i);
        uint32_t *used = d->bus == VMM_DISK_BUS_IDE ? &ide : d->bus == VMM_DISK_BUS_SATA ? &sata
                                                                                          : NULL;
        unsigned bit = d->ide_bus * VMM_SATA_PORTS + d->ide_unit;
        if (used && (*used & (1u << bit)))
            return fail(r, "disks", "%s: its bus position is taken twice", d->target_dev);
        if (used)
            *used |= 1u << bit;
        for (guint k = 0; k < i; k++)
            if (!strcmp(d->target_dev,
                        ((const VmmDiskDef *)g_ptr_array_index(def->disks, k))->target_dev))
                return fail(r, "disks", "target %s is given twice", d->target_dev);
    }
    uint32_t vports = 0;
    for (guint i = 0; i < def->channels->len; i++) {
        const VmmChannelDef *c = g_ptr_array_index(def->channels, i);
        if (vports & (1u << c->port))
            return fail(r, "channels", "virtio-serial port %u is given twice", c->port);
        vports |= 1u << c->port;
    }
    if (def->controllers->len > 1 || def->memballoons->len > 1)
        return fail(r, NULL, "at most one virtio-serial controller and one balloon");
    if (def->current_memory_kib > def->memory_kib)
        return fail(r, "current_memory_kib", "above memory_kib");
    return true;
}

VmmDomainDef *vmm_domain_desc_from_json(const char *json, size_t len, const char *source,
                                        GError **err)
{
    Reader r = { source, err };
    if (len > VMM_DOMAIN_DESC_MAX_BYTES) {
        fail(&r, NULL, "%zu bytes, more than the %d accepted", len, VMM_DOMAIN_DESC_MAX_BYTES);
        return NULL;
    }
    json_tokener *tok = json_tokener_new_ex(DESC_JSON_DEPTH);
    if (!tok) {
        fail(&r, NULL, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, json, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    if (!o && e == json_tokener_continue)
        e = json_tokener_error_parse_eof;
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!o) {
        fail(&r, NULL, "not JSON: %s at byte %zu", json_tokener_error_desc(e), end);
        return NULL;
    }
    VmmDomainDef *ret = NULL;
    g_autoptr(VmmDomainDef) def = g_new0(VmmDomainDef, 1);
    for (size_t i = 0; i < G_N_ELEMENTS(lists); i++)
        *list_of(def, i) = g_ptr_array_new_with_free_func(lists[i].item_free);
    static const char *const extra[] = {
        "format", "version", "uuid", "cpu", "tune", "seclabel", "disks", "nets", "rngs",
        "serials", "controllers", "channels", "memballoons", NULL };
    static const char *const required[] = {
        "format", "version", "name", "kernel", "memory_kib", "vcpus", NULL };
    json_object *j;
    if (end != len) {
        fail(&r, NULL, "text after the JSON object at byte %zu", end);
        goto out;
    }
    if (!read_fields(&r, "", o, domain_fields, extra, required, def))
        goto out;
    if (!component_ok(def->name, VMM_DOMAIN_NAME_MAX, false)) {
        fail(&r, "name", "not a domain name (1 to %d characters, no '/' or control "
             "characters, not starting with '.')", VMM_DOMAIN_NAME_MAX);
        goto out;
    }
    if (!json_object_is_type(j = get(o, "format"), json_type_string) ||
        strcmp(json_object_get_string(j), DESC_FORMAT) != 0) {
        fail(&r, "format", "expected \"%s\"", DESC_FORMAT);
        goto out;
    }
    if (!json_object_is_type(j = get(o, "version"), json_type_int) ||
        json_object_get_int64(j) != VMM_DOMAIN_DESC_VERSION) {
        fail(&r, "version", "expected %d (vmmd and vmm-worker of one build)",
             VMM_DOMAIN_DESC_VERSION);
        goto out;
    }
    if ((j = get(o, "uuid"))) {
        def->has_uuid = true;
        if (!hex_read(&r, "uuid", j, def->uuid, 16))
            goto out;
    }
    if ((j = get(o, "cpu")) && !(def->cpu = read_cpu(&r, "cpu", j, def->vcpus)))
        goto out;
    if ((j = get(o, "tune")) && !(def->tune = read_tune(&r, "tune", j, def->vcpus)))
        goto out;
    if ((j = get(o, "seclabel"))) {
        def->seclabel = g_new0(VmmSeclabelDef, 1);
        if (!read_fields(&r, "seclabel", j, seclabel_fields, NULL, NULL, def->seclabel))
            goto out;
        /* the worker splits a label at its colon */
        if (def->seclabel->label && !strchr(def->seclabel->label, ':')) {
            fail(&r, "seclabel.label", "expected USER:GROUP");
            goto out;
        }
    }
    for (size_t i = 0; i < G_N_ELEMENTS(lists); i++) {
        if (!(j = get(o, lists[i].key))) {
            fail(&r, lists[i].key, "missing");
            goto out;
        }
        if (!read_list(&r, lists[i].key, j, lists[i].read, *list_of(def, i)))
            goto out;
    }
    if (check_domain(&r, def))
        ret = g_steal_pointer(&def);
out:
    json_object_put(o);
    return ret;
}

VmmDomainDef *vmm_domain_desc_read_fd(int fd, const char *source, GError **err)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    uint8_t chunk[16384];
    for (;;) {
        ssize_t n = pread(fd, chunk, sizeof(chunk), buf->len);
        if (n < 0 && errno == ESPIPE)
            n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO,
                        "%s: cannot read the machine description: %s", source, g_strerror(e));
            return NULL;
        }
        if (n == 0)
            break;
        if (buf->len + (size_t)n > VMM_DOMAIN_DESC_MAX_BYTES) {
            g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                        "%s: machine description: more than %d bytes", source,
                        VMM_DOMAIN_DESC_MAX_BYTES);
            return NULL;
        }
        g_byte_array_append(buf, chunk, (guint)n);
    }
    return vmm_domain_desc_from_json((const char *)buf->data, buf->len, source, err);
}
