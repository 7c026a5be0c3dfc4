/* Parsers for the run directory's state and exit files (run_files.h). */
#include "config.h"
#include "daemon/run_files.h"

#include <json-c/json.h>
#include <string.h>

#define RUN_FILE_ERROR (g_quark_from_static_string("vmmd-run-file-error"))

static json_object *parse_object(const char *text, gsize len, GError **err)
{
    if (len > VMMD_RUN_FILE_MAX) {
        g_set_error(err, RUN_FILE_ERROR, 0, "%" G_GSIZE_FORMAT " bytes, more than %d",
                    len, VMMD_RUN_FILE_MAX);
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    /* A file cut short by a crash parses as "continue": not an object. */
    if (o && e == json_tokener_success && json_tokener_get_parse_end(tok) < len &&
        strspn(text + json_tokener_get_parse_end(tok), " \t\r\n") !=
            len - json_tokener_get_parse_end(tok))
        e = json_tokener_error_parse_unexpected;
    json_tokener_free(tok);
    if (e != json_tokener_success || !json_object_is_type(o, json_type_object)) {
        g_set_error(err, RUN_FILE_ERROR, 0, "not a JSON object (%s)",
                    e != json_tokener_success ? json_tokener_error_desc(e) : "another type");
        json_object_put(o);
        return NULL;
    }
    return o;
}

static char *get_string(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return g_strndup(json_object_get_string(v), json_object_get_string_len(v));
}

static gint64 get_int(json_object *o, const char *key, gint64 missing)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
        return missing;
    return json_object_get_int64(v);
}

bool vmmd_run_state_parse(const char *text, gsize len, VmmdRunState *out, GError **err)
{
    memset(out, 0, sizeof(*out));
    json_object *o = parse_object(text, len, err);
    if (!o)
        return false;
    gint64 pid = get_int(o, "pid", 0);
    out->pid = pid > 0 && pid <= G_MAXINT32 ? (pid_t)pid : 0;
    gint64 start = get_int(o, "pid_start_time", 0);
    out->pid_start_time = start > 0 ? (guint64)start : 0;
    gint64 id = get_int(o, "id", 0);
    out->id = id > 0 && id <= G_MAXINT32 ? (int)id : 0;
    out->started_at = get_int(o, "started_at", 0);
    out->uuid = get_string(o, "uuid");
    out->state = get_string(o, "state");
    out->reason = get_string(o, "reason");
    json_object_put(o);
    return true;
}

void vmmd_run_state_clear(VmmdRunState *st)
{
    g_free(st->uuid);
    g_free(st->state);
    g_free(st->reason);
    memset(st, 0, sizeof(*st));
}

bool vmmd_exit_file_parse(const char *text, gsize len, VmmdExitFile *out, GError **err)
{
    memset(out, 0, sizeof(*out));
    out->status = -1;
    json_object *o = parse_object(text, len, err);
    if (!o)
        return false;
    out->reason = get_string(o, "reason");
    gint64 status = get_int(o, "status", -1);
    out->status = status >= 0 && status <= 255 ? (int)status : -1;
    out->detail = get_string(o, "detail");
    if (out->detail && !out->detail[0])
        g_clear_pointer(&out->detail, g_free);
    json_object_put(o);
    return true;
}

void vmmd_exit_file_clear(VmmdExitFile *ef)
{
    g_free(ef->reason);
    g_free(ef->detail);
    memset(ef, 0, sizeof(*ef));
    ef->status = -1;
}
