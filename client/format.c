/* vmmctl's output formats: virsh's tables, state names, sizes. */
#include "client/format.h"

#include "conf/domain_conf.h"

#include <stdarg.h>
#include <string.h>

struct VmmctlTable {
    guint ncols;
    GPtrArray *rows;   /* GStrv, row 0 is the header */
};

static GStrv collect(const char *first, va_list ap, guint *n)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    guint count = 0;
    for (const char *s = first; s; s = va_arg(ap, const char *), count++)
        g_strv_builder_add(b, s);
    *n = count;
    return g_strv_builder_end(b);
}

VmmctlTable *vmmctl_table_new(const char *first_header, ...)
{
    VmmctlTable *t = g_new0(VmmctlTable, 1);
    t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    va_list ap;
    va_start(ap, first_header);
    g_ptr_array_add(t->rows, collect(first_header, ap, &t->ncols));
    va_end(ap);
    return t;
}

void vmmctl_table_add_row(VmmctlTable *t, const char *first_cell, ...)
{
    guint n;
    va_list ap;
    va_start(ap, first_cell);
    GStrv row = collect(first_cell, ap, &n);
    va_end(ap);
    g_return_if_fail(n == t->ncols);
    g_ptr_array_add(t->rows, row);
}

/* Display width: control characters are shown as \xNN (4 columns), as
 * vshTable does; other characters count one column each. */
static char *safe_cell(const char *s, size_t *width)
{
    GString *out = g_string_new(NULL);
    size_t w = 0;
    for (const char *p = s; *p; ) {
        gunichar ch = g_utf8_get_char_validated(p, -1);
        if (ch == (gunichar)-1 || ch == (gunichar)-2 || g_unichar_iscntrl(ch) ||
            (p[0] == '\\' && p[1] == 'x')) {
            g_string_append_printf(out, "\\x%02x", (unsigned char)*p);
            w += 4;
            p++;
            continue;
        }
        const char *next = g_utf8_next_char(p);
        g_string_append_len(out, p, next - p);
        w += g_unichar_iswide(ch) ? 2 : 1;
        p = next;
    }
    *width = w;
    return g_string_free(out, FALSE);
}

char *vmmctl_table_to_string(VmmctlTable *t, bool header)
{
    guint nrows = t->rows->len;
    g_autofree size_t *maxw = g_new0(size_t, t->ncols);
    g_autofree size_t *widths = g_new0(size_t, (gsize)nrows * t->ncols);
    g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func(g_free);

    for (guint r = 0; r < nrows; r++) {
        GStrv row = t->rows->pdata[r];
        for (guint c = 0; c < t->ncols; c++) {
            size_t w;
            g_ptr_array_add(cells, safe_cell(row[c], &w));
            widths[r * t->ncols + c] = w;
            if ((r > 0 || header) && w > maxw[c])
                maxw[c] = w;
        }
    }

    GString *out = g_string_new(NULL);
    for (guint r = header ? 0 : 1; r < nrows; r++) {
        for (guint c = 0; c < t->ncols; c++) {
            g_string_append_printf(out, " %s",
                                   (const char *)cells->pdata[r * t->ncols + c]);
            if (c + 1 < t->ncols)
                for (size_t i = 0; i < maxw[c] - widths[r * t->ncols + c] + 2; i++)
                    g_string_append_c(out, ' ');
        }
        g_string_append_c(out, '\n');
        if (r == 0) {
            for (guint c = 0; c < t->ncols; c++)
                for (size_t i = 0; i < maxw[c] + 3; i++)
                    g_string_append_c(out, '-');
            g_string_append_c(out, '\n');
        }
    }
    return g_string_free(out, FALSE);
}

void vmmctl_table_free(VmmctlTable *t)
{
    if (!t)
        return;
    g_ptr_array_unref(t->rows);
    g_free(t);
}

/* virsh's virshDomainStateToString, keyed by libvirt's state names
 * (virDomainStateTypeToString) which the daemon uses on the wire. */
static const struct {
    const char *wire;
    const char *shown;
} states[] = {
    { "nostate", "no state" },      /* VIR_DOMAIN_NOSTATE = 0 */
    { "running", "running" },       /* 1 */
    { "blocked", "idle" },          /* 2 */
    { "paused", "paused" },         /* 3 */
    { "shutdown", "in shutdown" },  /* 4 */
    { "shutoff", "shut off" },      /* 5 */
    { "crashed", "crashed" },       /* 6 */
    { "pmsuspended", "pmsuspended" },/* 7 */
};

const char *vmmctl_state_to_string(const char *state)
{
    if (!state)
        return "no state";
    for (size_t i = 0; i < G_N_ELEMENTS(states); i++)
        if (strcmp(states[i].wire, state) == 0)
            return states[i].shown;
    return state;
}

const char *vmmctl_state_number_to_string(int64_t state)
{
    if (state < 0 || (uint64_t)state >= G_N_ELEMENTS(states))
        return "no state";
    return states[state].shown;
}

bool vmmctl_parse_scaled(const char *text, uint64_t default_scale,
                         uint64_t *bytes)
{
    if (!text || !g_ascii_isdigit(text[0]))
        return false;
    size_t ndigits = strspn(text, "0123456789");
    g_autofree char *number = g_strndup(text, ndigits);
    const char *suffix = text + ndigits;
    if (*suffix)
        return vmm_conf_parse_size(number, suffix, bytes);
    uint64_t v;
    if (!vmm_conf_parse_size(number, NULL, &v))
        return false;
    return g_uint64_checked_mul(bytes, v, default_scale);
}

char *vmmctl_format_cpu_time(uint64_t ns)
{
    return g_strdup_printf("%.1lfs", (double)ns / 1e9);
}

char *vmmctl_json_scalar(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return g_strdup("");
    case json_type_boolean:
        return g_strdup(json_object_get_boolean(v) ? "yes" : "no");
    case json_type_int:
        /* json-c keeps integers above INT64_MAX as uint64 */
        if (json_object_get_int64(v) == INT64_MAX)
            return g_strdup_printf("%" G_GUINT64_FORMAT, json_object_get_uint64(v));
        return g_strdup_printf("%" G_GINT64_FORMAT, json_object_get_int64(v));
    case json_type_double:
        return g_strdup_printf("%f", json_object_get_double(v));
    case json_type_string:
        return g_strdup(json_object_get_string(v));
    default:
        return g_strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
    }
}

char *vmmctl_json_pretty(json_object *v)
{
    const char *s = json_object_to_json_string_ext(
        v, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
           JSON_C_TO_STRING_NOSLASHESCAPE);
    return g_strdup_printf("%s\n", s);
}
