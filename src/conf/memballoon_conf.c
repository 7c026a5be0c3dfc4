/* <memballoon>: parsing (strict, libvirt's forms) and the canonical
 * output, in libvirt's order: attributes, <stats>, <address>. */
#include "conf/memballoon_conf.h"

#include <stddef.h>
#include <string.h>

#include "conf/conf_parse.h"

static const char *const models[] = { "virtio", "none", NULL };
static const char *const known_models[] = {
    "virtio-transitional", "virtio-non-transitional", "xen", NULL };
static const char *const onoff[] = { "on", "off", NULL };

static bool parse_onoff(const ParseCtx *pc, xmlNodePtr node, const char *name,
                        VmmTristate *out, GError **err)
{
    g_autofree char *v = get_attr(node, name);
    int idx;
    if (!v)
        return true;
    if (!parse_choice(pc, node, name, v, onoff, NULL, &idx, err))
        return false;
    *out = idx == 0 ? VMM_TRI_ON : VMM_TRI_OFF;
    return true;
}

static bool balloon_parse(ConfDevices *d, void *state, xmlNodePtr node, GError **err)
{
    enum { K_STATS, K_ADDRESS, K_ALIAS, K_ACPI, K_DRIVER, K_N };
    static const char *const names[] = { "stats", "address", "alias", "acpi", "driver",
                                         NULL };
    static const char *const attrs[] = { "model", "autodeflate", "freePageReporting",
                                         NULL };
    static const char *const stats_attrs[] = { "period", NULL };
    ParseCtx ctx = { d->pc->source, "memballoon: " };
    const ParseCtx *pc = &ctx;
    xmlNodePtr s[K_N] = { 0 };
    int idx;
    (void)state;

    if (d->def->memballoons->len)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<devices> has more than one <memballoon> (a domain has at "
                         "most one balloon)");
    static const ConfElementShape shape = {
        attrs, "model", NULL, "a 'model' attribute ('virtio' or 'none')", models,
        known_models, names, K_ALIAS };
    if (!conf_element_open(pc, node, &shape, &idx, s, err))
        return false;
    g_autoptr(VmmBalloonDef) b = g_new0(VmmBalloonDef, 1);
    b->model = (VmmBalloonModel)idx;
    b->pci_slot = -1;
    if (!parse_onoff(pc, node, "autodeflate", &b->autodeflate, err) ||
        !parse_onoff(pc, node, "freePageReporting", &b->free_page_reporting, err))
        return false;
    if (s[K_STATS]) {
        if (!check_empty(pc, s[K_STATS], stats_attrs, err))
            return false;
        g_autofree char *p = get_attr(s[K_STATS], "period");
        if (!p)
            return conf_fail(pc, s[K_STATS], VMM_CONF_ERROR_INVALID, err,
                             "<stats> needs a 'period' attribute (seconds)");
        if (!parse_uint_attr(pc, s[K_STATS], "period", 1, VMM_BALLOON_PERIOD_MAX, false,
                             &b->stats_period, err))
            return false;
    }
    if (b->model == VMM_BALLOON_NONE) {
        /* libvirt refuses these on model='none' too: there is no device. */
        for (int k = K_STATS; k <= K_ADDRESS; k++)
            if (s[k])
                return conf_fail(pc, s[k], VMM_CONF_ERROR_INVALID, err,
                                 "<%s> is not allowed in <memballoon model='none'>: "
                                 "there is no balloon device", names[k]);
        if (b->autodeflate || b->free_page_reporting)
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "autodeflate and freePageReporting need a balloon device; "
                             "<memballoon model='none'> has none");
    }
    if (s[K_ADDRESS] &&
        !parse_pci_address(pc, s[K_ADDRESS], d->pci_slots, &b->pci_slot, err))
        return false;
    g_ptr_array_add(d->def->memballoons, g_steal_pointer(&b));
    return true;
}

static bool balloon_format(ConfWriter *w, xmlNodePtr devices, const VmmDomainDef *def)
{
    (void)w;
    for (guint i = 0; def->memballoons && i < def->memballoons->len; i++) {
        const VmmBalloonDef *b = g_ptr_array_index(def->memballoons, i);
        xmlNodePtr m = add_elem(devices, "memballoon");
        set_attr(m, "model", models[b->model]);
        if (b->autodeflate)
            set_attr(m, "autodeflate", onoff[b->autodeflate - 1]);
        if (b->free_page_reporting)
            set_attr(m, "freePageReporting", onoff[b->free_page_reporting - 1]);
        if (b->stats_period)
            set_attrf(add_elem(m, "stats"), "period", "%u", b->stats_period);
        if (b->pci_slot >= 0)
            format_pci_address(m, b->pci_slot);
    }
    return true;
}

static gpointer balloon_copy(gconstpointer p)
{
    return g_memdup2(p, sizeof(VmmBalloonDef));
}

static bool balloon_equal(gconstpointer x, gconstpointer y)
{
    const VmmBalloonDef *a = x, *b = y;
    return a->model == b->model && a->autodeflate == b->autodeflate &&
           a->free_page_reporting == b->free_page_reporting &&
           a->stats_period == b->stats_period && a->pci_slot == b->pci_slot;
}

static const char *const balloon_elements[] = { "memballoon", NULL };

const ConfDeviceClass conf_memballoon_class = {
    .elements = balloon_elements,
    .parse = balloon_parse,
    .format = balloon_format,
    .list = &conf_memballoon_list,
    .item_copy = balloon_copy,
    .item_equal = balloon_equal,
};
