/* <seclabel model='dac'>: parsing (strict, libvirt's schema rules) and the
 * canonical output. */
#include "conf/seclabel_conf.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_parse.h"

static const char *const types[] = { "dynamic", "static", "none", NULL };
static const char *const models[] = { "dac", NULL };
static const char *const known_models[] = { "selinux", "apparmor", "none", NULL };
static const char *const yes_no[] = { "no", "yes", NULL };

#define sl_fail(source, node, code, err, ...) \
    conf_fail(&(ParseCtx){ .source = (source) }, node, code, err, __VA_ARGS__)

#define sl_fail_null(...) (sl_fail(__VA_ARGS__), (VmmSeclabelDef *)NULL)

const char *vmm_seclabel_type_to_string(VmmSeclabelType t)
{
    return types[t];
}

/* One side of "USER:GROUP": "+N" (N < 2^32 - 1, the kernel's invalid id)
 * or a name as useradd takes it. */
static bool id_part_ok(const char *s, size_t len)
{
    if (len == 0)
        return false;
    if (s[0] == '+') {
        if (len < 2 || len > 11)
            return false;
        guint64 v = 0;
        for (size_t i = 1; i < len; i++) {
            if (s[i] < '0' || s[i] > '9')
                return false;
            v = v * 10 + (guint64)(s[i] - '0');
        }
        return v < G_MAXUINT32;
    }
    if (len > 32 || s[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!g_ascii_isalnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.' &&
            !(s[i] == '$' && i == len - 1))
            return false;
    return true;
}

static bool label_ok(const char *s)
{
    const char *colon = strchr(s, ':');
    return colon && !strchr(colon + 1, ':') && id_part_ok(s, (size_t)(colon - s)) &&
           id_part_ok(colon + 1, strlen(colon + 1));
}

static bool parse_label(const char *source, xmlNodePtr node, char **out, GError **err)
{
    g_autofree char *text = NULL;
    g_autofree char *what = elem_label(node);
    if (*out)
        return sl_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                       "<seclabel> has two %s elements", what);
    if (!check_attrs(&(ParseCtx){ .source = source }, node, NULL, err) ||
        !leaf_token(&(ParseCtx){ .source = source }, node, &text, err))
        return false;
    if (!label_ok(text)) {
        g_autofree char *shown = g_strescape(text, NULL);
        return sl_fail(source, node, VMM_CONF_ERROR_INVALID, err,
                       "%s '%s': the DAC model takes USER:GROUP, each a name or "
                       "+NUMBER (e.g. +107:+107)", what, shown);
    }
    *out = g_steal_pointer(&text);
    return true;
}

VmmSeclabelDef *vmm_seclabel_def_parse(const char *source, xmlNodePtr node, GError **err)
{
    static const char *const attrs[] = { "type", "model", "relabel", NULL };
    const ParseCtx pc = { .source = source };
    int idx;
    if (!check_attrs(&pc, node, attrs, err) || !check_content(&pc, node, err))
        return NULL;
    g_autoptr(VmmSeclabelDef) sl = g_new0(VmmSeclabelDef, 1);
    g_autofree char *type = get_attr(node, "type");
    g_autofree char *model = get_attr(node, "model");
    g_autofree char *relabel = get_attr(node, "relabel");
    if (type) {
        if (!parse_choice(&pc, node, "type", type, types, NULL, &idx, err))
            return NULL;
        sl->type = (VmmSeclabelType)idx;
    }
    if (model && !parse_choice(&pc, node, "model", model, models, known_models, &idx, err))
        return NULL;
    int rel = -1;
    if (relabel) {
        if (!parse_choice(&pc, node, "relabel", relabel, yes_no, NULL, &rel, err))
            return NULL;
    }
    /* libvirt's schema: dynamic relabels, none never does, static chooses
     * (default no) */
    if (sl->type == VMM_SECLABEL_DYNAMIC && rel == 0)
        return sl_fail_null(source, node, VMM_CONF_ERROR_INVALID, err,
                       "<seclabel type='dynamic'> always relabels: relabel='no' needs "
                       "type='static' or type='none'");
    if (sl->type == VMM_SECLABEL_NONE && rel == 1)
        return sl_fail_null(source, node, VMM_CONF_ERROR_INVALID, err,
                       "<seclabel type='none'> never relabels: relabel='yes' needs "
                       "type='dynamic' or type='static'");
    sl->relabel = sl->type == VMM_SECLABEL_DYNAMIC || rel == 1;
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (sl->type != VMM_SECLABEL_NONE && name_is(c, "label")) {
            if (!parse_label(source, c, &sl->label, err))
                return NULL;
        } else if (sl->type != VMM_SECLABEL_NONE && name_is(c, "imagelabel")) {
            if (!parse_label(source, c, &sl->imagelabel, err))
                return NULL;
        } else if (sl->type == VMM_SECLABEL_DYNAMIC && name_is(c, "baselabel")) {
            return sl_fail_null(source, c, VMM_CONF_ERROR_UNSUPPORTED, err,
                           "<seclabel>/<baselabel> is not supported by vmmd: it is the "
                           "SELinux model's; the DAC model's dynamic uid comes from "
                           "vmmd.conf's dynamic_uid_range");
        } else {
            g_autofree char *l = elem_label(c);
            return sl_fail_null(source, c, VMM_CONF_ERROR_INVALID, err,
                           "%s is not allowed in <seclabel type='%s'>%s", l, types[sl->type],
                           sl->type == VMM_SECLABEL_NONE ? " (it takes no children)"
                           : " (<label>, <imagelabel>)");
        }
    }
    if (sl->type == VMM_SECLABEL_STATIC && !sl->label)
        return sl_fail_null(source, node, VMM_CONF_ERROR_INVALID, err,
                       "<seclabel type='static'> needs <label>USER:GROUP</label>");
    return g_steal_pointer(&sl);
}

void vmm_seclabel_def_format(xmlNodePtr parent, const VmmSeclabelDef *sl)
{
    xmlNodePtr n = add_elem(parent, "seclabel");
    set_attr(n, "type", types[sl->type]);
    set_attr(n, "model", "dac");
    set_attr(n, "relabel", sl->relabel ? "yes" : "no");
    /* checked at parse time: names and +numbers need no escaping */
    if (sl->label)
        xmlNewTextChild(n, NULL, BAD_CAST "label", BAD_CAST sl->label);
    if (sl->imagelabel)
        xmlNewTextChild(n, NULL, BAD_CAST "imagelabel", BAD_CAST sl->imagelabel);
}

VmmSeclabelDef *vmm_seclabel_def_copy(const VmmSeclabelDef *sl)
{
    if (!sl)
        return NULL;
    VmmSeclabelDef *n = g_new0(VmmSeclabelDef, 1);
    *n = *sl;
    n->label = g_strdup(sl->label);
    n->imagelabel = g_strdup(sl->imagelabel);
    return n;
}

bool vmm_seclabel_def_equal(const VmmSeclabelDef *a, const VmmSeclabelDef *b)
{
    if (!a || !b)
        return a == b;
    return a->type == b->type && a->relabel == b->relabel &&
           g_strcmp0(a->label, b->label) == 0 && g_strcmp0(a->imagelabel, b->imagelabel) == 0;
}

void vmm_seclabel_def_free(VmmSeclabelDef *sl)
{
    if (!sl)
        return;
    g_free(sl->label);
    g_free(sl->imagelabel);
    g_free(sl);
}

void vmm_seclabel_def_strip_live(VmmSeclabelDef *sl)
{
    if (sl && sl->type == VMM_SECLABEL_DYNAMIC) {
        g_clear_pointer(&sl->label, g_free);
        g_clear_pointer(&sl->imagelabel, g_free);
    }
}

static bool resolve_part(const char *s, bool user, guint32 *out, GError **err)
{
    if (s[0] == '+') {
        *out = (guint32)g_ascii_strtoull(s + 1, NULL, 10);
        return true;
    }
    errno = 0;
    if (user) {
        struct passwd *pw = getpwnam(s);
        if (pw) {
            *out = pw->pw_uid;
            return true;
        }
    } else {
        struct group *gr = getgrnam(s);
        if (gr) {
            *out = gr->gr_gid;
            return true;
        }
    }
    g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                "seclabel: %s '%s' does not exist (write +NUMBER for a number)",
                user ? "user" : "group", s);
    return false;
}

bool vmm_seclabel_resolve(const char *label, uid_t *uid, gid_t *gid, GError **err)
{
    if (!label || !label_ok(label)) {
        g_set_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID,
                    "seclabel: '%s' is not USER:GROUP", label ? label : "");
        return false;
    }
    g_autofree char *u = g_strndup(label, (gsize)(strchr(label, ':') - label));
    guint32 uv, gv;
    if (!resolve_part(u, true, &uv, err) || !resolve_part(strchr(label, ':') + 1, false, &gv, err))
        return false;
    *uid = uv;
    *gid = gv;
    return true;
}
