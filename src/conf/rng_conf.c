/* <rng>: parsing (strict, libvirt's forms) and the canonical output. */
#include "conf/rng_conf.h"

#include <stddef.h>
#include <string.h>

#include "conf/conf_parse.h"
#include "conf/domain_conf.h"

static const char *const models[] = { "virtio", "virtio-non-transitional", NULL };
static const char *const known_models[] = { "virtio-transitional", NULL };
static const char *const backends[] = { "random", "builtin", NULL };
static const char *const known_backends[] = { "egd", NULL };

const char *vmm_rng_def_file(const VmmRngDef *rng)
{
    return rng->path ? rng->path : VMM_RNG_DEFAULT_FILE;
}

unsigned vmm_rng_def_period_ms(const VmmRngDef *rng)
{
    return rng->rate_period_ms ? rng->rate_period_ms : VMM_RNG_DEFAULT_PERIOD_MS;
}

static bool parse_backend(const ParseCtx *pc, xmlNodePtr node, VmmRngDef *rng, GError **err)
{
    static const char *const attrs[] = { "model", "type", NULL };
    g_autofree char *model = get_attr(node, "model");
    int idx;
    if (!check_attrs(pc, node, attrs, err))
        return false;
    if (!model)
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<backend> needs model= (vmmd supports random, builtin)");
    if (!parse_choice(pc, node, "model", model, backends, known_backends, &idx, err))
        return false;
    rng->backend = (VmmRngBackend)idx;
    g_autofree char *type = get_attr(node, "type");
    if (type)   /* type= belongs to the egd backend's chardev */
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<backend model='%s'> takes no type= (that is for model='egd')", model);
    g_autofree char *text = NULL;
    if (!leaf_text(pc, node, &text, err))
        return false;
    g_strstrip(text);
    if (rng->backend == VMM_RNG_BACKEND_BUILTIN) {
        if (*text)
            return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                             "<backend model='builtin'> takes no file name (it uses the "
                             "host kernel's getrandom())");
        return true;
    }
    if (*text && text[0] != '/') {
        g_autofree char *shown = g_strescape(text, NULL);   /* one line, whatever it holds */
        return conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                         "<backend model='random'>%s</backend>: an absolute path is expected",
                         shown);
    }
    if (*text)
        rng->path = g_steal_pointer(&text);
    return true;
}

static VmmRngDef *rng_def_parse(const char *source, xmlNodePtr node, unsigned index,
                                xmlNodePtr *pci_slots, GError **err)
{
    enum { K_BACKEND, K_RATE, K_ADDRESS, K_ALIAS, K_DRIVER, K_N };
    static const char *const names[] = { "backend", "rate", "address", "alias", "driver", NULL };
    static const char *const attrs[] = { "model", NULL };
    static const char *const rate_attrs[] = { "bytes", "period", NULL };
    xmlNodePtr s[K_N] = { 0 };
    g_autofree char *subject = g_strdup_printf("rng %u: ", index);
    ParseCtx ctx = { source, subject };
    const ParseCtx *pc = &ctx;
    int idx;

    g_autoptr(VmmRngDef) rng = g_new0(VmmRngDef, 1);
    rng->pci_slot = -1;
    static const ConfElementShape shape = {
        attrs, "model", NULL, "model='virtio'", models, known_models, names, K_ALIAS };
    if (!conf_element_open(pc, node, &shape, &idx, s, err))
        return NULL;
    rng->model = (VmmRngModel)idx;
    if (!s[K_BACKEND]) {
        conf_fail(pc, node, VMM_CONF_ERROR_INVALID, err,
                  "<rng> needs a <backend> (model='random' or 'builtin')");
        return NULL;
    }
    if (!parse_backend(pc, s[K_BACKEND], rng, err))
        return NULL;
    if (s[K_RATE]) {
        unsigned bytes = 0;
        g_autofree char *b = get_attr(s[K_RATE], "bytes");
        if (!check_empty(pc, s[K_RATE], rate_attrs, err))
            return NULL;
        if (!b) {
            conf_fail(pc, s[K_RATE], VMM_CONF_ERROR_INVALID, err, "<rate> needs 'bytes'");
            return NULL;
        }
        if (!parse_uint_attr(pc, s[K_RATE], "bytes", 1, G_MAXUINT32, false, &bytes, err) ||
            !parse_uint_attr(pc, s[K_RATE], "period", 1, G_MAXUINT32, false,
                             &rng->rate_period_ms, err))
            return NULL;
        rng->rate_bytes = bytes;
    }
    if (s[K_ADDRESS] && !parse_pci_address(pc, s[K_ADDRESS], pci_slots, &rng->pci_slot, err))
        return NULL;
    return g_steal_pointer(&rng);
}

static void rng_def_format(xmlNodePtr devices, const VmmRngDef *rng)
{
    xmlNodePtr r = add_elem(devices, "rng");
    set_attr(r, "model", models[rng->model]);
    if (rng->rate_bytes) {
        xmlNodePtr rate = add_elem(r, "rate");
        set_attrf(rate, "bytes", "%" G_GUINT64_FORMAT, rng->rate_bytes);
        if (rng->rate_period_ms)
            set_attrf(rate, "period", "%u", rng->rate_period_ms);
    }
    /* xmlNewTextChild escapes the path (checked by rngs_format). */
    xmlNodePtr b = xmlNewTextChild(r, NULL, (const xmlChar *)"backend",
                                   (const xmlChar *)rng->path);
    set_attr(b, "model", backends[rng->backend]);
    if (rng->pci_slot >= 0)
        format_pci_address(r, rng->pci_slot);
}

static gpointer rng_def_copy(gconstpointer item)
{
    const VmmRngDef *rng = item;
    VmmRngDef *n = g_memdup2(rng, sizeof(*rng));
    n->path = g_strdup(rng->path);
    return n;
}

static bool rng_def_equal(gconstpointer pa, gconstpointer pb)
{
    const VmmRngDef *a = pa, *b = pb;
    return a->model == b->model && a->backend == b->backend && !g_strcmp0(a->path, b->path) &&
           a->rate_bytes == b->rate_bytes && a->rate_period_ms == b->rate_period_ms &&
           a->pci_slot == b->pci_slot;
}

void vmm_rng_def_free(VmmRngDef *rng)
{
    if (!rng)
        return;
    g_free(rng->path);
    g_free(rng);
}

static bool rng_parse(ConfDevices *d, void *state, xmlNodePtr node, GError **err)
{
    (void)state;
    VmmRngDef *rng = rng_def_parse(d->pc->source, node, d->def->rngs->len, d->pci_slots, err);
    if (!rng)
        return false;
    g_ptr_array_add(d->def->rngs, rng);
    return true;
}

static bool rngs_format(ConfWriter *w, xmlNodePtr devices, const VmmDomainDef *def)
{
    for (guint i = 0; def->rngs && i < def->rngs->len; i++) {
        const VmmRngDef *rng = g_ptr_array_index(def->rngs, i);
        if (rng->path && !check_value(w, "rng backend path", rng->path))
            return false;
        rng_def_format(devices, rng);
    }
    return true;
}

static int *rng_pci_slot(gpointer item) { return &((VmmRngDef *)item)->pci_slot; }
static char *rng_name(gconstpointer item, guint index)
{
    (void)item;
    return g_strdup_printf("rng %u", index);
}

static const char *const rng_elements[] = { "rng", NULL };

const ConfDeviceClass conf_rng_class = {
    .elements = rng_elements,
    .parse = rng_parse,
    .format = rngs_format,
    .list_offset = offsetof(VmmDomainDef, rngs),
    .item_free = (GDestroyNotify)vmm_rng_def_free,
    .item_copy = rng_def_copy,
    .item_equal = rng_def_equal,
    .item_pci_slot = rng_pci_slot,
    .item_name = rng_name,
};
