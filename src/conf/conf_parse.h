/* What the conf files share (src/conf/conf_parse.c): strict reading of
 * elements and attributes, whose refusals are one line naming the source,
 * the line, the element, the attribute and the value; writing elements
 * and attributes (escaping is libxml2's); and the table through which
 * domain_conf.c and domain_format.c reach each device class (disk_conf.c,
 * net_conf.c, chardev_conf.c, ...). Internal to src/conf. */
#ifndef VMM_CONF_PARSE_H
#define VMM_CONF_PARSE_H

#include <glib.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/domain_conf.h"

#define PCI_SLOTS 32          /* per bus; slot 0 is the host bridge */

/* ---- reading ------------------------------------------------------------ */

typedef struct {
    const char *source;   /* file name or caller's label, prefixes messages */
    const char *subject;  /* NULL, or e.g. "disk vda: " after the line number */
} ParseCtx;

long line_of(xmlNodePtr n);
bool conf_fail(const ParseCtx *pc, xmlNodePtr node, VmmConfError code, GError **err,
               const char *fmt, ...) G_GNUC_PRINTF(5, 6);
char *elem_label(xmlNodePtr n);                       /* "<name>" for messages */
bool name_is(xmlNodePtr n, const char *name);         /* no namespace, this name */
int str_index(const char *const *list, const char *s);   /* -1 if absent; list may be NULL */
bool unsupported_element(const ParseCtx *pc, xmlNodePtr child, GError **err);
/* Attributes outside `allowed` (NULL-terminated, may be NULL) are refused. */
bool check_attrs(const ParseCtx *pc, xmlNodePtr node, const char *const *allowed,
                 GError **err);
char *get_attr(xmlNodePtr node, const char *name);   /* g_free()able or NULL */
/* Only elements, comments, PIs and blank text inside `node`. */
bool check_content(const ParseCtx *pc, xmlNodePtr node, GError **err);
/* The text of an element that holds only text (leaf_token: stripped). */
bool leaf_text(const ParseCtx *pc, xmlNodePtr node, char **out, GError **err);
bool leaf_token(const ParseCtx *pc, xmlNodePtr node, char **out, GError **err);
/* An element that must be empty, with only `allowed` attributes. */
bool check_empty(const ParseCtx *pc, xmlNodePtr node, const char *const *allowed,
                 GError **err);
/* Element children sorted into slots by name (each at most once). */
bool collect_children(const ParseCtx *pc, xmlNodePtr node, const char *const *names,
                      xmlNodePtr *slots, GError **err);
/* An enumerated value: index in `supported`; values in `known` are
 * UNSUPPORTED, anything else INVALID. attr NULL = element text. */
bool parse_choice(const ParseCtx *pc, xmlNodePtr node, const char *attr, const char *value,
                  const char *const *supported, const char *const *known, int *out,
                  GError **err);
/* How a device element opens (<disk>, <interface>, <rng>, <memballoon>):
 * the attributes it may carry, the attribute that says its kind, and its
 * children. */
typedef struct {
    const char *const *attrs;        /* allowed on the element */
    const char *kind_attr;           /* "type", "model" */
    const char *kind_default;        /* NULL: kind_attr is required ... */
    const char *kind_missing;        /* ... and this says what to write */
    const char *const *kinds;        /* parse_choice()'s supported ... */
    const char *const *known_kinds;  /* ... and known-but-unsupported values */
    const char *const *children;     /* collect_children()'s names */
    int unsupported_from;            /* children from this index on are refused */
} ConfElementShape;
/* Checks the element's attributes, reads its kind into *kind and sorts its
 * children into children[] (shape->children's length), refusing the
 * known-but-unsupported ones. */
bool conf_element_open(const ParseCtx *pc, xmlNodePtr node, const ConfElementShape *shape,
                       int *kind, xmlNodePtr *children, GError **err);
bool parse_count(const char *s, uint64_t *v);          /* decimal, saturating */
/* Optional attribute `name` as an unsigned from min to max (a power of two
 * if pow2); *out untouched when absent. */
bool parse_uint_attr(const ParseCtx *pc, xmlNodePtr node, const char *name, uint64_t min,
                     uint64_t max, bool pow2, unsigned *out, GError **err);
/* <address type='pci'/> on bus 0, function 0; *slot -1 when not given;
 * pci_slots[PCI_SLOTS] records the slots taken. */
bool parse_pci_address(const ParseCtx *pc, xmlNodePtr node, xmlNodePtr *pci_slots,
                       int *slot, GError **err);

/* ---- writing ------------------------------------------------------------ */

typedef struct {
    xmlDocPtr doc;
    GError **err;
    bool failed;          /* set with *err by the first check that fails */
} ConfWriter;

/* `s` is UTF-8 made of XML characters; else fails naming `what`. */
bool check_value(ConfWriter *w, const char *what, const char *s);
/* `value` is not NULL; else fails naming `what` as missing. */
bool require(ConfWriter *w, const char *what, const void *value);
xmlNodePtr add_elem(xmlNodePtr parent, const char *name);
/* <name>text</name> after check_value; NULL if that failed. */
xmlNodePtr add_text(ConfWriter *w, xmlNodePtr parent, const char *name, const char *text);
xmlNodePtr add_uint(xmlNodePtr parent, const char *name, uint64_t value);   /* decimal text */
void set_attr(xmlNodePtr node, const char *name, const char *value);
bool set_attr_checked(ConfWriter *w, xmlNodePtr node, const char *what, const char *name,
                      const char *value);
void set_attrf(xmlNodePtr node, const char *name, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* <address type='pci' domain='0x0000' bus='0x00' slot='0xNN' function='0x0'/> */
void format_pci_address(xmlNodePtr parent, int slot);

/* A regular file of at most `max` bytes (`what` names it in errors: "domain
 * XML"), NUL-terminated; *len without the NUL. */
char *conf_read_file(const char *path, const char *what, size_t max, size_t *len,
                     GError **err);
/* The document as UTF-8, two-space indentation, no XML declaration. */
char *conf_serialize(xmlDocPtr doc, const char *what, GError **err);

/* ---- identity, shared by domains and networks ---------------------------- */

/* s[] = the <name>, <uuid>, <title>, <description> children of `root`
 * (NULL when absent); <name> is required and must be usable as a file
 * name. */
bool conf_parse_identity(const ParseCtx *pc, xmlNodePtr root, xmlNodePtr const s[4],
                         char **name, uint8_t uuid[16], bool *has_uuid, char **title,
                         char **description, GError **err);
bool conf_parse_uuid(const char *s, uint8_t uuid[16]);   /* 32 hex digits, dashes optional */
void conf_format_uuid(const uint8_t u[16], char out[37]);
void conf_random_uuid(uint8_t u[16]);                    /* version 4 */
bool conf_format_identity(ConfWriter *w, xmlNodePtr root, const char *name,
                          const uint8_t uuid[16], bool has_uuid, const char *title,
                          const char *description);
/* <mac address='52:54:00:..'/>: six hex pairs, unicast. */
bool conf_parse_mac(const ParseCtx *pc, xmlNodePtr node, uint8_t mac[6], GError **err);
/* The same for attribute `attr` of any element (<dhcp><host mac=''>). */
bool conf_parse_mac_attr(const ParseCtx *pc, xmlNodePtr node, const char *attr,
                         uint8_t mac[6], GError **err);
void conf_random_mac(uint8_t mac[6]);                    /* 52:54:00:xx:xx:xx, as libvirt */

/* ---- device classes ----------------------------------------------------- */

/* The run-time side of a device class, in domain_def.c (no libxml2, so
 * that vmm-worker links it without the XML code): its field,
 * offsetof(VmmDomainDef, field), and how an item is freed; for PCI devices
 * only (else NULL) the item's slot field (-1 = vmmd assigns one) and its
 * name for messages ("disk vda", g_free()d). */
typedef struct {
    size_t list_offset;
    GDestroyNotify item_free;
    int *(*item_pci_slot)(gpointer item);
    char *(*item_name)(gconstpointer item, guint index);
} ConfDeviceList;
extern const ConfDeviceList conf_disk_list, conf_net_list, conf_chardev_list, conf_rng_list,
    conf_memballoon_list, conf_controller_list, conf_channel_list;
/* NULL-terminated, in the order of conf_device_classes. */
extern const ConfDeviceList *const conf_device_lists[];
/* The PCI devices of `def` in placement order: the items, their slot
 * fields and names; and the slot each gets (conf_place_pci, false with a
 * message on a bad or duplicate slot or none left). */
void conf_pci_devices(const VmmDomainDef *def, GPtrArray *items, GPtrArray *fields,
                      GPtrArray *names);
bool conf_place_pci(GPtrArray *fields, GPtrArray *names, const VmmDomainDef *def, int *slots,
                    GError **err);
/* <interface type=...> values, in VmmNetType order (domain_def.c). */
extern const char *const conf_net_types[];
/* A VmmCpuFeatureDef (the free function of VmmCpuDef's features). */
void conf_cpu_feature_free(gpointer feature);

/* What the device classes share while one <devices> is read. */
typedef struct {
    const ParseCtx *pc;
    VmmDomainDef *def;
    xmlNodePtr pci_slots[PCI_SLOTS];   /* the <address> holding each slot */
} ConfDevices;

/* One class of <devices> children, kept in a GPtrArray field of
 * VmmDomainDef. Adding a class: a file defining one of these, its field in
 * VmmDomainDef, its entry in conf_device_classes (domain_conf.c), the file
 * in Makefile.am and in the domain-xml row of tests/fuzz/run-libfuzzer.sh;
 * a PCI device sets item_pci_slot and item_name (the board looks its slot
 * up by item, so its kind in src/hw/board.c may sit anywhere). */
typedef struct {
    const char *const *elements;   /* the <devices> children it reads */
    /* Parse state for one document, or NULL: made before the first child of
     * <devices>, given to parse for each of `elements` in document order and
     * to finish (may be NULL) after the last, then freed. */
    void *(*state_new)(void);
    void (*state_free)(void *state);
    bool (*parse)(ConfDevices *d, void *state, xmlNodePtr node, GError **err);
    bool (*finish)(ConfDevices *d, void *state, GError **err);
    /* Appends the class's elements to <devices> (false after w->err is set). */
    bool (*format)(ConfWriter *w, xmlNodePtr devices, const VmmDomainDef *def);
    /* Its list (below), and how an item is deep-copied and compared. */
    const ConfDeviceList *list;
    gpointer (*item_copy)(gconstpointer item);
    bool (*item_equal)(gconstpointer a, gconstpointer b);
} ConfDeviceClass;

extern const ConfDeviceClass conf_disk_class;      /* disk_conf.c */
extern const ConfDeviceClass conf_net_class;       /* net_conf.c */
extern const ConfDeviceClass conf_chardev_class;   /* chardev_conf.c */
extern const ConfDeviceClass conf_rng_class;       /* rng_conf.c */
extern const ConfDeviceClass conf_memballoon_class;   /* memballoon_conf.c */
extern const ConfDeviceClass conf_controller_class;   /* vserial_conf.c */
extern const ConfDeviceClass conf_channel_class;      /* vserial_conf.c */

/* chardev_conf.c, for every character device element: type= (default pty)
 * and <source> into def; the <source> back (`what` names it in errors). */
bool conf_chr_parse_backend(const ParseCtx *pc, xmlNodePtr node, xmlNodePtr source,
                            VmmChrDef *def, GError **err);
bool conf_chr_format_source(ConfWriter *w, xmlNodePtr parent, const VmmChrDef *chr,
                            const char *what);
/* vserial_conf.c: a <console> whose <target type='virtio'/> makes it a port
 * of the virtio-serial device, read by the chardev class. */
bool conf_vserial_console_parse(ConfDevices *d, xmlNodePtr node, GError **err);
/* NULL-terminated, in libvirt's <devices> output order. */
extern const ConfDeviceClass *const conf_device_classes[];
/* The class's list field in `def` (through list_offset). */
GPtrArray **conf_class_list(const ConfDeviceClass *cls, const VmmDomainDef *def);

/* Every class's field of `def`: made empty; deep-copied into `dst` (whose
 * fields are overwritten); compared item by item (NULL equals empty);
 * freed. */
void conf_devices_init(VmmDomainDef *def);
void conf_devices_copy(VmmDomainDef *dst, const VmmDomainDef *src);
bool conf_devices_equal(const VmmDomainDef *a, const VmmDomainDef *b);
void conf_devices_clear(VmmDomainDef *def);

#endif
