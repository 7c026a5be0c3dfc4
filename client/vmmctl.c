/* vmmctl: the vmmd command-line client, shaped like virsh.
 *
 *   vmmctl [-c SOCKET] [-r] [-q] [--json] VERB [ARGS]
 *
 * Every verb is one or two blocking calls on the daemon's JSON socket (see
 * vmmd-protocol(7)); the output is virsh's for the same command, or with
 * --json the reply's "return" value. Exit status: 0 success, 1 error. */
#include "config.h"

#include "client/format.h"
#include "conf/domain_conf.h"
#include "proto/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define DEFAULT_SOCKET     "/run/vmmd/vmmd.sock"
#define RW_SOCKET_NAME     "vmmd.sock"
#define RO_SOCKET_NAME     "vmmd-ro.sock"
#define CONNECT_TIMEOUT_MS 5000
#define CALL_TIMEOUT_MS    60000     /* domain-start alone may take 10 s */
#define CONSOLE_ESCAPE     0x1d      /* ^] */
#define MAX_DEVICES        4096      /* sanity bound on block.count / net.count */
#define USAGE_ERROR        (-1)      /* exit 1, without virsh's empty line */

typedef struct {
    char *socket;              /* -c */
    gboolean readonly;         /* -r */
    gboolean quiet;            /* -q */
    gboolean json;             /* --json */
    bool verb_read_only;       /* the verb works on the read-only socket */
    VmmProtoSync *conn;
    char *conn_path;
} Ctl;

typedef struct Verb Verb;
struct Verb {
    const char *name;
    const char *args;          /* synopsis after the verb */
    const char *summary;
    bool read_only;            /* allowed on the read-only socket */
    unsigned min_args, max_args;
    const GOptionEntry *options;
    int (*run)(Ctl *c, const Verb *v, char **args, unsigned nargs);
};

/* Per-verb options (each verb uses a few of them). */
static struct {
    gboolean all, inactive, name, uuid, autostart, no_autostart;
    gboolean reason, disable, console, human, loop;
    gboolean eject, insert, update, force, live;
    gboolean st_state, st_cpu, st_balloon, st_vcpu, st_block, st_net;
    int timeout;
    char *domain;
    char *period;                /* dommemstat --period, NULL = not given */
} opt;

/* ------------------------------------------------------------------------ */
/* output                                                                   */

static void G_GNUC_PRINTF(2, 3) say(Ctl *c, const char *fmt, ...)
{
    /* virsh's vshPrintExtra: informational lines, silent with -q */
    if (c->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

static void G_GNUC_PRINTF(1, 2) error_line(const char *fmt, ...)
{
    fflush(stdout);
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "error: %s\n", msg);
}

/* "error: <what failed>" then "error: <why>", as virsh reports a failed
 * API call. A domain the daemon does not know gets virsh's lookup line. */
static int G_GNUC_PRINTF(4, 5)
fail(Ctl *c, const GError *err, const char *name, const char *fmt, ...)
{
    if (err && err->domain == VMM_PROTO_ERROR &&
        err->code == VMM_PROTO_DOMAIN_NOT_FOUND && name) {
        error_line("failed to get domain '%s'", name);
    } else if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *what = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        error_line("%s", what);
    }
    if (err)
        error_line("%s", err->message);
    return 1;
}

static void print_json(json_object *v)
{
    g_autofree char *s = vmmctl_json_pretty(v);
    fputs(s, stdout);
}

/* ------------------------------------------------------------------------ */
/* connection                                                               */

static char *ro_sibling(const char *path)
{
    g_autofree char *base = g_path_get_basename(path);
    if (strcmp(base, RW_SOCKET_NAME) != 0)
        return NULL;
    g_autofree char *dir = g_path_get_dirname(path);
    return g_build_filename(dir, RO_SOCKET_NAME, NULL);
}

static bool ctl_connect(Ctl *c, bool read_only_verb, GError **err)
{
    if (c->conn)
        return true;
    const char *path = c->socket ? c->socket : g_getenv("VMMD_SOCKET");
    if (!path || !*path)
        path = DEFAULT_SOCKET;
    g_autofree char *ro = ro_sibling(path);

    if (c->readonly && ro)
        path = ro;
    g_autoptr(GError) e = NULL;
    c->conn = vmm_proto_sync_connect(path, CONNECT_TIMEOUT_MS, &e);
    /* virsh -r style fallback: a user who may not use the read-write
     * socket can still query through the read-only one. */
    if (!c->conn && read_only_verb && ro && path != ro &&
        g_error_matches(e, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED) &&
        g_file_test(ro, G_FILE_TEST_EXISTS)) {
        g_clear_error(&e);
        path = ro;
        c->conn = vmm_proto_sync_connect(path, CONNECT_TIMEOUT_MS, &e);
    }
    if (!c->conn) {
        g_propagate_error(err, g_steal_pointer(&e));
        return false;
    }
    vmm_proto_sync_set_timeout(c->conn, CALL_TIMEOUT_MS);
    c->conn_path = g_strdup(path);
    return true;
}

/* One call; connection failures are reported here (virsh: "failed to
 * connect to the hypervisor") and come back as NULL with *err NULL. */
static json_object *call(Ctl *c, bool read_only_verb, const char *cmd,
                         json_object *args, GError **err)
{
    g_autoptr(GError) e = NULL;
    if (!ctl_connect(c, read_only_verb, &e)) {
        json_object_put(args);
        error_line("failed to connect to the daemon");
        error_line("%s", e->message);
        return NULL;
    }
    return vmm_proto_sync_call(c->conn, cmd, args, err);
}

static json_object *name_args(const char *name)
{
    json_object *a = json_object_new_object();
    json_object_object_add(a, "name", json_object_new_string(name));
    return a;
}

/* virsh accepts a domain id where a name is expected: a decimal argument
 * that is the id of a running domain is replaced by its name. */
static char *resolve_domain(Ctl *c, const char *arg)
{
    if (!*arg || strspn(arg, "0123456789") != strlen(arg) || strlen(arg) > 9)
        return g_strdup(arg);
    json_object *a = json_object_new_object();
    json_object_object_add(a, "all", json_object_new_boolean(false));
    g_autoptr(GError) e = NULL;
    json_object *list = NULL;
    if (ctl_connect(c, c->verb_read_only, NULL))
        list = vmm_proto_sync_call(c->conn, "domain-list", a, &e);
    else
        json_object_put(a);
    char *found = NULL;
    long id = strtol(arg, NULL, 10);
    for (size_t i = 0; list && json_object_is_type(list, json_type_array) &&
                       i < json_object_array_length(list) && !found; i++) {
        json_object *d = json_object_array_get_idx(list, i), *v, *n;
        if (json_object_object_get_ex(d, "id", &v) && json_object_get_int64(v) == id &&
            json_object_object_get_ex(d, "name", &n))
            found = g_strdup(json_object_get_string(n));
    }
    json_object_put(list);
    return found ? found : g_strdup(arg);
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *get_str(json_object *o, const char *key, const char *dflt)
{
    json_object *v = get(o, key);
    return v && !json_object_is_type(v, json_type_null) ? json_object_get_string(v) : dflt;
}

static int64_t get_int(json_object *o, const char *key, int64_t dflt)
{
    json_object *v = get(o, key);
    return v ? json_object_get_int64(v) : dflt;
}

static bool get_bool(json_object *o, const char *key)
{
    json_object *v = get(o, key);
    return v && json_object_get_boolean(v);
}

/* ------------------------------------------------------------------------ */
/* lifecycle verbs                                                          */

static int verb_define(Ctl *c, const Verb *v, char **args, unsigned n)
{
    const char *file = args[0];
    g_autofree char *xml = NULL;
    gsize len = 0;
    g_autoptr(GError) e = NULL;
    if (!g_file_get_contents(file, &xml, &len, &e))
        return fail(c, e, NULL, "Failed to define domain from %s", file);
    if (len > VMM_PROTO_MAX_MESSAGE - 4096) {
        error_line("Failed to define domain from %s", file);
        error_line("the file is %" G_GSIZE_FORMAT " bytes; domain XML is limited to 1 MiB", len);
        return 1;
    }
    if (!g_utf8_validate(xml, (gssize)len, NULL) || memchr(xml, 0, len)) {
        error_line("Failed to define domain from %s", file);
        error_line("the file is not UTF-8 text");
        return 1;
    }
    json_object *a = json_object_new_object();
    json_object_object_add(a, "xml", json_object_new_string_len(xml, (int)len));
    json_object *ret = call(c, false, "domain-define", a, &e);
    if (!ret)
        return e ? fail(c, e, NULL, "Failed to define domain from %s", file) : 1;
    if (c->json)
        print_json(ret);
    else
        say(c, "Domain '%s' defined from %s\n", get_str(ret, "name", "?"), file);
    json_object_put(ret);
    return 0;
}

/* The verbs that are one call on a domain and one line of output. */
typedef struct {
    const char *verb, *command, *done, *failed;
} SimpleVerb;

static const SimpleVerb simple_verbs[] = {
    { "undefine", "domain-undefine", "Domain '%s' has been undefined", "Failed to undefine domain '%s'" },
    { "destroy", "domain-destroy", "Domain '%s' destroyed", "Failed to destroy domain '%s'" },
    { "reboot", "domain-reboot", "Domain '%s' is being rebooted", "Failed to reboot domain '%s'" },
    { "suspend", "domain-suspend", "Domain '%s' suspended", "Failed to suspend domain '%s'" },
    { "resume", "domain-resume", "Domain '%s' resumed", "Failed to resume domain '%s'" },
    { "start", "domain-start", "Domain '%s' started", "Failed to start domain '%s'" },
    { "shutdown", "domain-shutdown", "Domain '%s' is being shutdown", "Failed to shutdown domain '%s'" },
};

static int run_console(Ctl *c, const char *name);

static int verb_simple(Ctl *c, const Verb *v, char **args, unsigned n)
{
    const SimpleVerb *sv = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(simple_verbs); i++)
        if (strcmp(simple_verbs[i].verb, v->name) == 0)
            sv = &simple_verbs[i];
    g_assert(sv);
    g_autofree char *name = resolve_domain(c, args[0]);
    json_object *a = name_args(name);
    if (strcmp(v->name, "shutdown") == 0 && opt.timeout > 0)
        json_object_object_add(a, "timeout", json_object_new_int(opt.timeout));
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, v->read_only, sv->command, a, &e);
    if (!ret) {
        if (!e)
            return 1;
        g_autofree char *what = g_strdup_printf(sv->failed, name);
        return fail(c, e, name, "%s", what);
    }
    if (c->json)
        print_json(ret);
    else {
        g_autofree char *msg = g_strdup_printf(sv->done, name);
        say(c, "%s\n", msg);
    }
    json_object_put(ret);
    if (strcmp(v->name, "start") == 0 && opt.console)
        return run_console(c, name);
    return 0;
}

static int verb_autostart(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autofree char *name = resolve_domain(c, args[0]);
    json_object *a = name_args(name);
    json_object_object_add(a, "autostart", json_object_new_boolean(!opt.disable));
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, false, "domain-set-autostart", a, &e);
    if (!ret)
        return e ? fail(c, e, name, opt.disable ? "Failed to unmark domain '%s' as autostarted"
                                                : "Failed to mark domain '%s' as autostarted",
                        name) : 1;
    if (c->json)
        print_json(ret);
    else if (opt.disable)
        say(c, "Domain '%s' unmarked as autostarted\n", name);
    else
        say(c, "Domain '%s' marked as autostarted\n", name);
    json_object_put(ret);
    return 0;
}

static int verb_setmem(Ctl *c, const Verb *v, char **args, unsigned n)
{
    uint64_t bytes;
    /* virsh: a scaled integer, KiB without a suffix, rounded up to KiB */
    if (!vmmctl_parse_scaled(args[1], 1024, &bytes) || bytes == 0) {
        error_line("Scaled numeric value '%s' for <size> option is malformed or out of range",
                   args[1]);
        return USAGE_ERROR;
    }
    uint64_t kib = bytes / 1024 + (bytes % 1024 != 0);
    if (kib > (uint64_t)INT64_MAX) {
        error_line("Scaled numeric value '%s' for <size> option is malformed or out of range",
                   args[1]);
        return USAGE_ERROR;
    }
    g_autofree char *name = resolve_domain(c, args[0]);
    json_object *a = name_args(name);
    json_object_object_add(a, "size_kib", json_object_new_int64((int64_t)kib));
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, false, "domain-set-memory", a, &e);
    if (!ret)
        return e ? fail(c, e, name, "Unable to change MemorySize") : 1;
    if (c->json)
        print_json(ret);
    json_object_put(ret);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* queries                                                                  */

static gint cmp_domains(gconstpointer pa, gconstpointer pb)
{
    json_object *a = *(json_object *const *)pa, *b = *(json_object *const *)pb;
    int64_t ia = get_int(a, "id", -1), ib = get_int(b, "id", -1);
    /* virsh: running domains by id, then the inactive ones by name */
    if ((ia >= 0) != (ib >= 0))
        return ia >= 0 ? -1 : 1;
    if (ia >= 0 && ia != ib)
        return ia < ib ? -1 : 1;
    return g_strcmp0(get_str(a, "name", ""), get_str(b, "name", ""));
}

static int verb_list(Ctl *c, const Verb *v, char **args, unsigned n)
{
    json_object *a = json_object_new_object();
    json_object_object_add(a, "all", json_object_new_boolean(opt.all || opt.inactive));
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, true, "domain-list", a, &e);
    if (!ret)
        return e ? fail(c, e, NULL, "Failed to list domains") : 1;
    if (c->json) {
        print_json(ret);
        json_object_put(ret);
        return 0;
    }
    g_autoptr(GPtrArray) doms = g_ptr_array_new();
    for (size_t i = 0; json_object_is_type(ret, json_type_array) &&
                       i < json_object_array_length(ret); i++) {
        json_object *d = json_object_array_get_idx(ret, i);
        bool active = get_int(d, "id", -1) >= 0;
        if (opt.inactive && !opt.all && active)
            continue;
        if (opt.autostart && !get_bool(d, "autostart"))
            continue;
        if (opt.no_autostart && get_bool(d, "autostart"))
            continue;
        g_ptr_array_add(doms, d);
    }
    g_ptr_array_sort(doms, cmp_domains);

    if (opt.name || opt.uuid) {
        for (guint i = 0; i < doms->len; i++) {
            json_object *d = doms->pdata[i];
            if (opt.uuid && opt.name)
                printf("%-36s %s\n", get_str(d, "uuid", ""), get_str(d, "name", ""));
            else
                printf("%s\n", opt.uuid ? get_str(d, "uuid", "") : get_str(d, "name", ""));
        }
    } else {
        g_autoptr(VmmctlTable) t = vmmctl_table_new("Id", "Name", "State", NULL);
        for (guint i = 0; i < doms->len; i++) {
            json_object *d = doms->pdata[i];
            int64_t id = get_int(d, "id", -1);
            g_autofree char *ids = id >= 0 ? g_strdup_printf("%" G_GINT64_FORMAT, id)
                                           : g_strdup("-");
            vmmctl_table_add_row(t, ids, get_str(d, "name", ""),
                                 vmmctl_state_to_string(get_str(d, "state", NULL)), NULL);
        }
        g_autofree char *s = vmmctl_table_to_string(t, !c->quiet);
        fputs(s, stdout);
    }
    json_object_put(ret);
    return 0;
}

static json_object *domain_info(Ctl *c, const char *name, GError **err)
{
    return call(c, true, "domain-info", name_args(name), err);
}

static int verb_dominfo(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autofree char *name = resolve_domain(c, args[0]);
    g_autoptr(GError) e = NULL;
    json_object *ret = domain_info(c, name, &e);
    if (!ret)
        return e ? fail(c, e, name, "Failed to get information about domain '%s'", name) : 1;
    if (c->json) {
        print_json(ret);
        json_object_put(ret);
        return 0;
    }
    int64_t id = get_int(ret, "id", -1);
    if (id >= 0)
        printf("%-15s %" G_GINT64_FORMAT "\n", "Id:", id);
    else
        printf("%-15s %s\n", "Id:", "-");
    printf("%-15s %s\n", "Name:", get_str(ret, "name", name));
    printf("%-15s %s\n", "UUID:", get_str(ret, "uuid", ""));
    printf("%-15s %s\n", "OS Type:", "hvm");
    printf("%-15s %s\n", "State:", vmmctl_state_to_string(get_str(ret, "state", NULL)));
    printf("%-15s %" G_GINT64_FORMAT "\n", "CPU(s):", get_int(ret, "vcpus", 0));
    int64_t cpu = get_int(ret, "cpu_time_ns", 0);
    if (cpu > 0) {
        g_autofree char *t = vmmctl_format_cpu_time((uint64_t)cpu);
        printf("%-15s %s\n", "CPU time:", t);
    }
    printf("%-15s %" G_GINT64_FORMAT " KiB\n", "Max memory:", get_int(ret, "max_memory_kib", 0));
    printf("%-15s %" G_GINT64_FORMAT " KiB\n", "Used memory:", get_int(ret, "memory_kib", 0));
    printf("%-15s %s\n", "Persistent:", get_bool(ret, "persistent") ? "yes" : "no");
    printf("%-15s %s\n", "Autostart:", get_bool(ret, "autostart") ? "enable" : "disable");
    printf("%-15s %s\n", "Managed save:", "no");
    json_object_put(ret);
    return 0;
}

static int verb_domstate(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autofree char *name = resolve_domain(c, args[0]);
    g_autoptr(GError) e = NULL;
    json_object *ret = domain_info(c, name, &e);
    if (!ret)
        return e ? fail(c, e, name, "Failed to get domain state") : 1;
    if (c->json)
        print_json(ret);
    else if (opt.reason)
        printf("%s (%s)\n", vmmctl_state_to_string(get_str(ret, "state", NULL)),
               get_str(ret, "reason", "unknown"));
    else
        printf("%s\n", vmmctl_state_to_string(get_str(ret, "state", NULL)));
    json_object_put(ret);
    return 0;
}

static int verb_dumpxml(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autofree char *name = resolve_domain(c, args[0]);
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, true, "domain-get-xml", name_args(name), &e);
    if (!ret)
        return e ? fail(c, e, name, "Failed to get domain description xml") : 1;
    if (c->json) {
        print_json(ret);
    } else {
        const char *xml = get_str(ret, "xml", "");
        fputs(xml, stdout);
        if (*xml && xml[strlen(xml) - 1] != '\n')
            putchar('\n');
    }
    json_object_put(ret);
    return 0;
}

/* virsh change-media DOMAIN PATH [SOURCE] --eject|--insert|--update [--force]:
 * the live medium of an IDE CD-ROM named by target dev. */
static int verb_change_media(Ctl *c, const Verb *v, char **args, unsigned n)
{
    if (opt.eject + opt.insert + opt.update > 1) {
        error_line("Options --eject, --insert and --update are mutually exclusive");
        return USAGE_ERROR;
    }
    bool eject = opt.eject;
    if (eject && n > 2) {
        error_line("--eject takes no source");
        return USAGE_ERROR;
    }
    if (!eject && n < 3) {
        error_line("No disk source specified for change-media action");
        return USAGE_ERROR;
    }
    g_autofree char *name = resolve_domain(c, args[0]);
    json_object *a = name_args(name);
    json_object_object_add(a, "device", json_object_new_string(args[1]));
    if (!eject) {
        g_autofree char *abs = g_canonicalize_filename(args[2], NULL);
        json_object_object_add(a, "source", json_object_new_string(abs));
    }
    if (opt.force)
        json_object_object_add(a, "force", json_object_new_boolean(TRUE));
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, false, "domain-change-media", a, &e);
    if (!ret)
        return e ? fail(c, e, name, eject ? "Failed to eject media"
                                          : opt.insert ? "Failed to insert media"
                                                       : "Failed to complete action update on media")
                 : 1;
    if (c->json)
        print_json(ret);
    else
        say(c, "%s\n", eject ? "Successfully ejected media."
                             : opt.insert ? "Successfully inserted media."
                                          : "Successfully updated media.");
    json_object_put(ret);
    return 0;
}

/* virsh domif-setlink / domif-getlink: an interface by target dev or MAC */
static int verb_domif_setlink(Ctl *c, const Verb *v, char **args, unsigned n)
{
    if (strcmp(args[2], "up") && strcmp(args[2], "down")) {
        error_line("invalid link state '%s' (up or down)", args[2]);
        return USAGE_ERROR;
    }
    g_autofree char *name = resolve_domain(c, args[0]);
    json_object *a = name_args(name);
    json_object_object_add(a, "interface", json_object_new_string(args[1]));
    json_object_object_add(a, "state", json_object_new_string(args[2]));
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, false, "domain-interface-set-link", a, &e);
    if (!ret)
        return e ? fail(c, e, name, "Failed to update interface link state") : 1;
    if (c->json)
        print_json(ret);
    else
        printf("Device updated successfully\n");
    json_object_put(ret);
    return 0;
}

static int verb_domif_getlink(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autofree char *name = resolve_domain(c, args[0]);
    json_object *a = name_args(name);
    json_object_object_add(a, "interface", json_object_new_string(args[1]));
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, true, "domain-interface-get-link", a, &e);
    if (!ret)
        return e ? fail(c, e, name, "Failed to get link state") : 1;
    if (c->json)
        print_json(ret);
    else
        printf("%s %s\n", args[1], get_str(ret, "state", "?"));
    json_object_put(ret);
    return 0;
}

/* virsh domiflist: from the domain's XML */
static int verb_domiflist(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autofree char *name = resolve_domain(c, args[0]);
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, true, "domain-get-xml", name_args(name), &e);
    if (!ret)
        return e ? fail(c, e, name, "Failed to get domain description xml") : 1;
    const char *xml = get_str(ret, "xml", "");
    g_autoptr(VmmDomainDef) def = vmm_domain_def_parse_string(xml, strlen(xml), name, &e);
    if (!def) {
        error_line("cannot read the domain's XML: %s", e->message);
        json_object_put(ret);
        return 1;
    }
    if (c->json) {
        print_json(ret);
        json_object_put(ret);
        return 0;
    }
    printf(" %-11s %-10s %-10s %-8s %s\n", "Interface", "Type", "Source", "Model", "MAC");
    printf("-------------------------------------------------------------\n");
    for (guint i = 0; i < def->nets->len; i++) {
        const VmmNetDef *net = g_ptr_array_index(def->nets, i);
        char mac[18];
        vmm_net_mac_format(net->mac, mac);
        const char *src = net->bridge ? net->bridge : net->socket_path ? net->socket_path : "-";
        printf(" %-11s %-10s %-10s %-8s %s\n", net->target_dev ? net->target_dev : "-",
               vmm_net_type_to_string(net->type), src, "virtio", mac);
    }
    printf("\n");
    json_object_put(ret);
    return 0;
}

/* domain-stats for the given names (none: every domain). */
static json_object *domain_stats(Ctl *c, char **names, unsigned n, GError **err)
{
    json_object *a = NULL;
    if (n > 0) {
        a = json_object_new_object();
        json_object *arr = json_object_new_array();
        for (unsigned i = 0; i < n; i++)
            json_object_array_add(arr, json_object_new_string(names[i]));
        json_object_object_add(a, "names", arr);
    }
    return call(c, true, "domain-stats", a, err);
}

/* The stats object of the one domain asked for. */
static json_object *stats_of(json_object *ret, const char *name)
{
    for (size_t i = 0; json_object_is_type(ret, json_type_array) &&
                       i < json_object_array_length(ret); i++) {
        json_object *r = json_object_array_get_idx(ret, i);
        if (g_strcmp0(get_str(r, "name", NULL), name) == 0 ||
            json_object_array_length(ret) == 1)
            return get(r, "stats");
    }
    return NULL;
}

/* virDomainState: 1 running, 3 paused (the states with a live worker). */
static bool stats_active(json_object *st)
{
    int64_t s = get_int(st, "state.state", 0);
    return s == 1 || s == 3;
}

static bool stat_group_wanted(const char *key)
{
    bool any = opt.st_state || opt.st_cpu || opt.st_balloon || opt.st_vcpu ||
               opt.st_block || opt.st_net;
    if (!any)
        return true;
    return (opt.st_state && g_str_has_prefix(key, "state.")) ||
           (opt.st_cpu && g_str_has_prefix(key, "cpu.")) ||
           (opt.st_balloon && g_str_has_prefix(key, "balloon.")) ||
           (opt.st_vcpu && g_str_has_prefix(key, "vcpu.")) ||
           (opt.st_block && g_str_has_prefix(key, "block.")) ||
           (opt.st_net && g_str_has_prefix(key, "net."));
}

static int verb_domstats(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    for (unsigned i = 0; i < n; i++)
        g_ptr_array_add(names, resolve_domain(c, args[i]));
    g_autoptr(GError) e = NULL;
    json_object *ret = domain_stats(c, (char **)names->pdata, names->len, &e);
    if (!ret) {
        if (!e)
            return 1;
        return fail(c, e, n == 1 ? (char *)names->pdata[0] : NULL,
                    "Failed to get domain statistics");
    }
    if (c->json) {
        print_json(ret);
        json_object_put(ret);
        return 0;
    }
    for (size_t i = 0; json_object_is_type(ret, json_type_array) &&
                       i < json_object_array_length(ret); i++) {
        json_object *r = json_object_array_get_idx(ret, i);
        /* records are separated by an empty line; the last one gets the
         * empty line every verb ends with */
        if (i > 0)
            printf("\n");
        printf("Domain: '%s'\n", get_str(r, "name", ""));
        json_object *st = get(r, "stats");
        if (st && json_object_is_type(st, json_type_object)) {
            json_object_object_foreach(st, key, val) {
                if (!stat_group_wanted(key))
                    continue;
                g_autofree char *s = vmmctl_json_scalar(val);
                printf("  %s=%s\n", key, s);
            }
        }
    }
    json_object_put(ret);
    return 0;
}

static int verb_dommemstat(Ctl *c, const Verb *v, char **args, unsigned n)
{
    /* virsh's names for virDomainMemoryStat tags, from domstats' balloon.* */
    static const struct { const char *key, *shown; } tags[] = {
        { "balloon.current", "actual" },
        { "balloon.swap_in", "swap_in" },
        { "balloon.swap_out", "swap_out" },
        { "balloon.major_fault", "major_fault" },
        { "balloon.minor_fault", "minor_fault" },
        { "balloon.unused", "unused" },
        { "balloon.available", "available" },
        { "balloon.usable", "usable" },
        { "balloon.last-update", "last_update" },
        { "balloon.disk_caches", "disk_caches" },
        { "balloon.hugetlb_pgalloc", "hugetlb_pgalloc" },
        { "balloon.hugetlb_pgfail", "hugetlb_pgfail" },
        { "balloon.rss", "rss" },
    };
    g_autofree char *name = resolve_domain(c, args[0]);
    g_autoptr(GError) e = NULL;
    if (opt.period) {
        /* virsh: --period only sets the collection period, prints nothing */
        guint64 p;
        if (!g_ascii_string_to_unsigned(opt.period, 10, 0, G_MAXINT, &p, NULL)) {
            error_line("Invalid collection period value '%s'", opt.period);
            return 1;
        }
        json_object *a = json_object_new_object();
        json_object_object_add(a, "name", json_object_new_string(name));
        json_object_object_add(a, "period", json_object_new_int64((int64_t)p));
        json_object *r = call(c, false, "domain-set-memory-period", a, &e);
        if (!r)
            return fail(c, e, name, "Unable to change balloon collection period.");
        json_object_put(r);
        return 0;
    }
    json_object *ret = domain_stats(c, &name, 1, &e);
    if (!ret)
        return e ? fail(c, e, name, "Failed to get memory statistics for domain %s", name) : 1;
    json_object *st = stats_of(ret, name);
    int status = 0;
    if (!st || !stats_active(st)) {
        error_line("Failed to get memory statistics for domain %s", name);
        error_line("Requested operation is not valid: domain is not running");
        status = 1;
    } else if (c->json) {
        print_json(ret);
    } else {
        for (size_t i = 0; i < G_N_ELEMENTS(tags); i++) {
            json_object *val = get(st, tags[i].key);
            if (!val)
                continue;
            g_autofree char *s = vmmctl_json_scalar(val);
            printf("%s %s\n", tags[i].shown, s);
        }
    }
    json_object_put(ret);
    return status;
}

static int64_t stat_i(json_object *st, const char *prefix, int idx, const char *field)
{
    g_autofree char *key = g_strdup_printf("%s.%d.%s", prefix, idx, field);
    json_object *v = get(st, key);
    return v ? json_object_get_int64(v) : -1;
}

static const char *stat_s(json_object *st, const char *prefix, int idx, const char *field)
{
    g_autofree char *key = g_strdup_printf("%s.%d.%s", prefix, idx, field);
    return get_str(st, key, NULL);
}

/* Index N whose "PREFIX.N.name" (or .path) is dev, or -1. */
static int device_index(json_object *st, const char *prefix, const char *dev)
{
    g_autofree char *ckey = g_strdup_printf("%s.count", prefix);
    int64_t count = CLAMP(get_int(st, ckey, 0), 0, MAX_DEVICES);
    for (int i = 0; i < count; i++)
        if (g_strcmp0(stat_s(st, prefix, i, "name"), dev) == 0 ||
            g_strcmp0(stat_s(st, prefix, i, "path"), dev) == 0)
            return i;
    return -1;
}

static int verb_domblkstat(Ctl *c, const Verb *v, char **args, unsigned n)
{
    /* virsh's order and names (domblkstat_output), from domstats' block.N.* */
    static const struct { const char *field, *shown, *human; } seq[] = {
        { "rd.reqs", "rd_req", "number of read operations:" },
        { "rd.bytes", "rd_bytes", "number of bytes read:" },
        { "wr.reqs", "wr_req", "number of write operations:" },
        { "wr.bytes", "wr_bytes", "number of bytes written:" },
        { "errors", "errs", "error count:" },
        { "fl.reqs", "flush_operations", "number of flush operations:" },
        { "rd.times", "rd_total_times", "total duration of reads (ns):" },
        { "wr.times", "wr_total_times", "total duration of writes (ns):" },
        { "fl.times", "flush_total_times", "total duration of flushes (ns):" },
    };
    g_autofree char *name = resolve_domain(c, args[0]);
    const char *dev = n > 1 ? args[1] : "";
    g_autoptr(GError) e = NULL;
    json_object *ret = domain_stats(c, &name, 1, &e);
    if (!ret)
        return e ? fail(c, e, name, "Failed to get block stats for domain '%s' device '%s'",
                        name, dev) : 1;
    json_object *st = stats_of(ret, name);
    int status = 0;
    int idx = -1;
    int64_t count = st ? CLAMP(get_int(st, "block.count", 0), 0, MAX_DEVICES) : 0;
    if (!st || !stats_active(st)) {
        error_line("Failed to get block stats for domain '%s' device '%s'", name, dev);
        error_line("Requested operation is not valid: domain is not running");
        status = 1;
    } else if (*dev && (idx = device_index(st, "block", dev)) < 0) {
        error_line("Failed to get block stats for domain '%s' device '%s'", name, dev);
        error_line("invalid argument: no disk '%s' in domain '%s'", dev, name);
        status = 1;
    } else if (c->json) {
        print_json(ret);
    } else {
        if (opt.human) {
            printf("Device: %s\n", dev);
            dev = "";
        }
        for (size_t f = 0; f < G_N_ELEMENTS(seq); f++) {
            /* one device, or (no DEV) the sum over all, as virsh does */
            int64_t sum = -1;
            for (int i = idx >= 0 ? idx : 0; i < (idx >= 0 ? idx + 1 : count); i++) {
                int64_t x = stat_i(st, "block", i, seq[f].field);
                if (x >= 0)
                    sum = (sum < 0 ? 0 : sum) + x;
            }
            if (sum < 0)
                continue;
            printf("%s %-*s %" G_GINT64_FORMAT "\n", dev, opt.human ? 31 : 0,
                   opt.human ? seq[f].human : seq[f].shown, sum);
        }
    }
    json_object_put(ret);
    return status;
}

static int verb_domifstat(Ctl *c, const Verb *v, char **args, unsigned n)
{
    static const struct { const char *field, *shown; } seq[] = {
        { "rx.bytes", "rx_bytes" }, { "rx.pkts", "rx_packets" },
        { "rx.errs", "rx_errs" }, { "rx.drop", "rx_drop" },
        { "tx.bytes", "tx_bytes" }, { "tx.pkts", "tx_packets" },
        { "tx.errs", "tx_errs" }, { "tx.drop", "tx_drop" },
    };
    g_autofree char *name = resolve_domain(c, args[0]);
    const char *dev = args[1];
    g_autoptr(GError) e = NULL;
    json_object *ret = domain_stats(c, &name, 1, &e);
    if (!ret)
        return e ? fail(c, e, name, "Failed to get interface stats %s %s", name, dev) : 1;
    json_object *st = stats_of(ret, name);
    int status = 0, idx;
    if (!st || !stats_active(st)) {
        error_line("Failed to get interface stats %s %s", name, dev);
        error_line("Requested operation is not valid: domain is not running");
        status = 1;
    } else if ((idx = device_index(st, "net", dev)) < 0) {
        error_line("Failed to get interface stats %s %s", name, dev);
        error_line("invalid argument: no interface '%s' in domain '%s'", dev, name);
        status = 1;
    } else if (c->json) {
        print_json(ret);
    } else {
        for (size_t f = 0; f < G_N_ELEMENTS(seq); f++) {
            int64_t x = stat_i(st, "net", idx, seq[f].field);
            if (x >= 0)
                printf("%s %s %" G_GINT64_FORMAT "\n", dev, seq[f].shown, x);
        }
    }
    json_object_put(ret);
    return status;
}

static int verb_version(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autoptr(GError) e = NULL;
    if (!c->json)
        printf("Client version: vmmctl %s\n", PACKAGE_VERSION);
    json_object *ret = call(c, true, "query-version", NULL, &e);
    if (!ret)
        return e ? fail(c, e, NULL, "failed to get the daemon's version") : 1;
    if (c->json) {
        print_json(ret);
    } else {
        json_object *ver = get(ret, "version");
        printf("Daemon version: %s (protocol %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT
               ".%" G_GINT64_FORMAT ")\n", get_str(ret, "package", "vmmd"),
               get_int(ver, "major", 0), get_int(ver, "minor", 0), get_int(ver, "micro", 0));
        if (c->conn_path)
            printf("Daemon socket:  %s%s\n", c->conn_path,
                   get_bool(get(vmm_proto_sync_greeting(c->conn), "vmmd"), "read_only")
                   ? " (read-only)" : "");
    }
    json_object_put(ret);
    return 0;
}

#define EVENT_KEEPALIVE_MS 60000

/* event [--domain NAME] [--loop] [--timeout S]: DOMAIN_STATE events as
 * virsh's "event 'lifecycle' for domain 'NAME': ..." lines. */
static int verb_event(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autoptr(GError) e = NULL;
    if (!ctl_connect(c, true, &e)) {
        error_line("failed to connect to the daemon");
        error_line("%s", e->message);
        return 1;
    }
    gint64 deadline = opt.timeout > 0
        ? g_get_monotonic_time() + (gint64)opt.timeout * G_USEC_PER_SEC : 0;
    unsigned count = 0;
    for (;;) {
        /* vmmd closes clients that send no request for its idle timeout
         * (300 s by default): ask something now and then. */
        int wait_ms = EVENT_KEEPALIVE_MS;
        if (deadline) {
            gint64 left = deadline - g_get_monotonic_time();
            if (left <= 0) {
                say(c, "event loop timed out\n");
                break;
            }
            wait_ms = (int)MIN(left / 1000 + 1, EVENT_KEEPALIVE_MS);
        }
        json_object *ev = vmm_proto_sync_next_event(c->conn, wait_ms, &e);
        if (!ev) {
            if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
                g_clear_error(&e);
                json_object *ret = vmm_proto_sync_call(c->conn, "query-version", NULL, &e);
                if (!ret)
                    return fail(c, e, NULL, "lost the connection to the daemon");
                json_object_put(ret);
                continue;
            }
            return fail(c, e, NULL, "lost the connection to the daemon");
        }
        json_object *data = get(ev, "data");
        const char *dname = get_str(data, "name", "");
        if (!opt.domain || strcmp(opt.domain, dname) == 0) {
            count++;
            if (c->json)
                print_json(ev);
            else if (strcmp(get_str(ev, "event", ""), "DOMAIN_STATE") == 0)
                printf("event 'lifecycle' for domain '%s': %s (%s)\n", dname,
                       vmmctl_state_to_string(get_str(data, "state", NULL)),
                       get_str(data, "reason", "unknown"));
            else {
                /* DOMAIN_REBOOT -> virsh's 'reboot' */
                const char *en = get_str(ev, "event", "?");
                g_autofree char *shown = g_ascii_strdown(
                    g_str_has_prefix(en, "DOMAIN_") ? en + strlen("DOMAIN_") : en, -1);
                printf("event '%s' for domain '%s'\n", shown, dname);
            }
            fflush(stdout);
        }
        json_object_put(ev);
        if (count > 0 && !opt.loop)
            break;
    }
    say(c, "events received: %u\n", count);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* console                                                                  */

static int open_console(const char *type, const char *path, GError **err)
{
    if (strcmp(type, "pty") == 0) {
        int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
            int en = errno;
            g_set_error(err, G_IO_ERROR, g_io_error_from_errno(en),
                        "cannot open the console pty %s: %s", path, g_strerror(en));
        }
        return fd;
    }
    if (strcmp(type, "unix") == 0) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path)) {
            g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "console socket path %s is too long", path);
            return -1;
        }
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
            int en = errno;
            if (fd >= 0)
                close(fd);
            g_set_error(err, G_IO_ERROR, g_io_error_from_errno(en),
                        "cannot connect to the console socket %s: %s", path, g_strerror(en));
            return -1;
        }
        return fd;
    }
    g_set_error(err, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                "console type '%s' is not supported by vmmctl", type);
    return -1;
}

static bool write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            poll(&p, 1, -1);
            continue;
        }
        if (w <= 0)
            return false;
        buf += w;
        len -= (size_t)w;
    }
    return true;
}

/* Copies both ways until ^], the console closing (the VM stopped), a
 * signal, or stdout going away. With stdin a terminal it is put in raw
 * mode (output post-processing stays on, so a guest's bare "\n" still
 * starts a new line) and restored on every way out. When stdin is not a
 * terminal, it is copied until its end and output continues after. */
static int console_loop(int cfd)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios saved, raw;
    if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
        raw = saved;
        cfmakeraw(&raw);
        raw.c_oflag |= OPOST | ONLCR;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
    } else {
        tty = false;
    }

    sigset_t mask, old;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGQUIT);
    sigprocmask(SIG_BLOCK, &mask, &old);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

    char in[4096], outbuf[16384];
    size_t pending = 0, pending_off = 0;   /* stdin bytes not yet taken by the console */
    bool stdin_open = true;
    int status = 0;
    for (;;) {
        /* stdout with no events: poll still reports POLLERR when the
         * reader of a pipe has gone, so `vmmctl console | sed '/x/q'`
         * ends even while the guest is silent. */
        struct pollfd p[4] = {
            { .fd = cfd, .events = POLLIN | (pending ? POLLOUT : 0) },
            { .fd = stdin_open && !pending ? STDIN_FILENO : -1, .events = POLLIN },
            { .fd = sfd, .events = POLLIN },
            { .fd = STDOUT_FILENO, .events = 0 },
        };
        if (poll(p, 4, -1) < 0) {
            if (errno == EINTR)
                continue;
            status = 1;
            break;
        }
        if (p[2].revents & POLLIN)
            break;
        if (p[3].revents & (POLLERR | POLLHUP | POLLNVAL))
            break;
        if (p[0].revents & POLLIN) {
            ssize_t r = read(cfd, outbuf, sizeof(outbuf));
            if (r > 0) {
                if (!write_all(STDOUT_FILENO, outbuf, (size_t)r))
                    break;   /* stdout closed (e.g. a pipe reader quit) */
                continue;    /* drain output before looking at hangups */
            }
            if (r == 0 || (errno != EAGAIN && errno != EINTR))
                break;       /* EIO: the pty's other side closed */
        } else if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
            break;
        }
        if (pending && (p[0].revents & POLLOUT)) {
            ssize_t w = write(cfd, in + pending_off, pending - pending_off);
            if (w > 0) {
                pending_off += (size_t)w;
                if (pending_off == pending)
                    pending = pending_off = 0;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                break;
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(STDIN_FILENO, in, sizeof(in));
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                stdin_open = false;   /* EOF: keep showing the output */
                continue;
            }
            char *esc = memchr(in, CONSOLE_ESCAPE, (size_t)r);
            size_t take = esc ? (size_t)(esc - in) : (size_t)r;
            if (take > 0) {
                /* best effort before leaving; otherwise queued */
                pending = take;
                pending_off = 0;
            }
            if (esc) {
                if (pending)
                    (void)write(cfd, in, pending);
                break;
            }
        }
    }
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        /* virsh leaves the cursor at the start of a fresh line */
        putchar('\n');
    }
    if (sfd >= 0)
        close(sfd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return status;
}

static int run_console(Ctl *c, const char *name)
{
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, false, "domain-console", name_args(name), &e);
    if (!ret)
        return e ? fail(c, e, name, "Failed to get console for domain '%s'", name) : 1;
    const char *type = get_str(ret, "type", "");
    const char *path = get_str(ret, "path", "");
    int fd = open_console(type, path, &e);
    if (fd < 0) {
        json_object_put(ret);
        return fail(c, e, name, "Failed to open console for domain '%s'", name);
    }
    json_object_put(ret);
    say(c, "Connected to domain '%s'\n", name);
    say(c, "Escape character is ^] (Ctrl + ])\n");
    fflush(stdout);
    signal(SIGPIPE, SIG_IGN);
    int status = console_loop(fd);
    close(fd);
    return status;
}

static int verb_console(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autofree char *name = resolve_domain(c, args[0]);
    return run_console(c, name);
}

/* ------------------------------------------------------------------------ */
/* the verb table                                                           */

static int verb_help(Ctl *c, const Verb *v, char **args, unsigned n);

static const GOptionEntry no_options[] = { { NULL } };
static const GOptionEntry list_options[] = {
    { "all", 0, 0, G_OPTION_ARG_NONE, &opt.all, "list inactive & active domains", NULL },
    { "inactive", 0, 0, G_OPTION_ARG_NONE, &opt.inactive, "list inactive domains", NULL },
    { "name", 0, 0, G_OPTION_ARG_NONE, &opt.name, "list domain names only", NULL },
    { "uuid", 0, 0, G_OPTION_ARG_NONE, &opt.uuid, "list uuid's only", NULL },
    { "autostart", 0, 0, G_OPTION_ARG_NONE, &opt.autostart, "list domains with autostart enabled", NULL },
    { "no-autostart", 0, 0, G_OPTION_ARG_NONE, &opt.no_autostart, "list domains with autostart disabled", NULL },
    { NULL },
};
static const GOptionEntry start_options[] = {
    { "console", 0, 0, G_OPTION_ARG_NONE, &opt.console, "attach to console after creation", NULL },
    { NULL },
};
static const GOptionEntry shutdown_options[] = {
    { "timeout", 0, 0, G_OPTION_ARG_INT, &opt.timeout,
      "destroy the domain if it is still running after S seconds", "S" },
    { NULL },
};
static const GOptionEntry domstate_options[] = {
    { "reason", 0, 0, G_OPTION_ARG_NONE, &opt.reason, "also print reason for the state", NULL },
    { NULL },
};
static const GOptionEntry autostart_options[] = {
    { "disable", 0, 0, G_OPTION_ARG_NONE, &opt.disable, "disable autostarting", NULL },
    { NULL },
};
static const GOptionEntry domblkstat_options[] = {
    { "human", 0, 0, G_OPTION_ARG_NONE, &opt.human, "print a more human readable output", NULL },
    { NULL },
};
static const GOptionEntry dommemstat_options[] = {
    { "period", 0, 0, G_OPTION_ARG_STRING, &opt.period,
      "period in seconds to set collection", "N" },
    { NULL },
};
static const GOptionEntry domstats_options[] = {
    { "state", 0, 0, G_OPTION_ARG_NONE, &opt.st_state, "report domain state", NULL },
    { "cpu-total", 0, 0, G_OPTION_ARG_NONE, &opt.st_cpu, "report domain physical cpu usage", NULL },
    { "balloon", 0, 0, G_OPTION_ARG_NONE, &opt.st_balloon, "report domain balloon statistics", NULL },
    { "vcpu", 0, 0, G_OPTION_ARG_NONE, &opt.st_vcpu, "report domain virtual cpu information", NULL },
    { "interface", 0, 0, G_OPTION_ARG_NONE, &opt.st_net, "report domain network interface information", NULL },
    { "block", 0, 0, G_OPTION_ARG_NONE, &opt.st_block, "report domain block device statistics", NULL },
    { NULL },
};
static const GOptionEntry change_media_options[] = {
    { "eject", 0, 0, G_OPTION_ARG_NONE, &opt.eject, "Eject the media", NULL },
    { "insert", 0, 0, G_OPTION_ARG_NONE, &opt.insert, "Insert the media", NULL },
    { "update", 0, 0, G_OPTION_ARG_NONE, &opt.update, "Update the media", NULL },
    { "force", 0, 0, G_OPTION_ARG_NONE, &opt.force, "force media changing", NULL },
    { "live", 0, 0, G_OPTION_ARG_NONE, &opt.live, "alter live configuration of running domain", NULL },
    { NULL },
};
static const GOptionEntry event_options[] = {
    { "domain", 0, 0, G_OPTION_ARG_STRING, &opt.domain, "filter by domain name", "NAME" },
    { "loop", 0, 0, G_OPTION_ARG_NONE, &opt.loop, "loop until timeout or interrupt, rather than one-shot", NULL },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &opt.timeout, "timeout seconds", "S" },
    { NULL },
};

#define ANY G_MAXUINT
static const Verb verbs[] = {
    { "autostart", "<domain> [--disable]", "autostart a domain", false, 1, 1, autostart_options, verb_autostart },
    { "change-media", "<domain> <path> [<source>] [--eject] [--insert] [--update] [--force]", "Change media of CD or floppy drive", false, 2, 3, change_media_options, verb_change_media },
    { "console", "<domain>", "connect to the guest console", false, 1, 1, no_options, verb_console },
    { "define", "<file>", "define (but don't start) a domain from an XML file", false, 1, 1, no_options, verb_define },
    { "destroy", "<domain>", "destroy (stop) a domain", false, 1, 1, no_options, verb_simple },
    { "domblkstat", "<domain> [<device>] [--human]", "get device block stats for a domain", true, 1, 2, domblkstat_options, verb_domblkstat },
    { "domif-getlink", "<domain> <interface>", "get link state of a virtual interface", true, 2, 2, no_options, verb_domif_getlink },
    { "domif-setlink", "<domain> <interface> <state>", "set link state of a virtual interface (up or down)", false, 3, 3, no_options, verb_domif_setlink },
    { "domiflist", "<domain>", "list all domain virtual interfaces", true, 1, 1, no_options, verb_domiflist },
    { "domifstat", "<domain> <interface>", "get network interface stats for a domain", true, 2, 2, no_options, verb_domifstat },
    { "dominfo", "<domain>", "domain information", true, 1, 1, no_options, verb_dominfo },
    { "dommemstat", "<domain> [--period <N>]", "get memory statistics for a domain", false, 1, 1, dommemstat_options, verb_dommemstat },
    { "domstate", "<domain> [--reason]", "domain state", true, 1, 1, domstate_options, verb_domstate },
    { "domstats", "[<domain>...] [--state] [--cpu-total] [--balloon] [--vcpu] [--interface] [--block]", "get statistics about one or multiple domains", true, 0, ANY, domstats_options, verb_domstats },
    { "dumpxml", "<domain>", "domain information in XML", true, 1, 1, no_options, verb_dumpxml },
    { "event", "[--domain <name>] [--loop] [--timeout <S>]", "print domain lifecycle events", true, 0, 0, event_options, verb_event },
    { "help", "[<verb>]", "print help", true, 0, 1, no_options, verb_help },
    { "list", "[--all] [--inactive] [--name] [--uuid] [--autostart] [--no-autostart]", "list domains", true, 0, 0, list_options, verb_list },
    { "reboot", "<domain>", "reboot a domain", false, 1, 1, no_options, verb_simple },
    { "resume", "<domain>", "resume a domain", false, 1, 1, no_options, verb_simple },
    { "setmem", "<domain> <size>", "change memory allocation (balloon target; KiB unless a unit is given)", false, 2, 2, no_options, verb_setmem },
    { "shutdown", "<domain> [--timeout <S>]", "gracefully shutdown a domain (ACPI power button)", false, 1, 1, shutdown_options, verb_simple },
    { "start", "<domain> [--console]", "start a (previously defined) inactive domain", false, 1, 1, start_options, verb_simple },
    { "suspend", "<domain>", "suspend a domain", false, 1, 1, no_options, verb_simple },
    { "undefine", "<domain>", "undefine an inactive domain", false, 1, 1, no_options, verb_simple },
    { "version", "", "show the client and daemon versions", true, 0, 0, no_options, verb_version },
};

static const Verb *find_verb(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

static void print_usage(FILE *f)
{
    fprintf(f,
            "vmmctl [options]... <verb> [args...]\n\n"
            "  options:\n"
            "    -c | --connect=SOCKET   the daemon's socket (default $VMMD_SOCKET, else %s)\n"
            "    -r | --readonly         use the read-only socket (vmmd-ro.sock)\n"
            "    -q | --quiet            quiet mode\n"
            "         --json             print the daemon's reply as JSON\n"
            "    -h | --help             this help\n"
            "    -V | --version          the client's version\n\n"
            "  verbs:\n", DEFAULT_SOCKET);
    for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++)
        fprintf(f, "    %-12s %s\n", verbs[i].name, verbs[i].summary);
    fprintf(f, "\n  (specify help <verb> for details about the verb)\n");
}

static void print_verb_help(const Verb *v)
{
    printf("  NAME\n    %s - %s\n\n  SYNOPSIS\n    vmmctl %s%s%s\n", v->name, v->summary,
           v->name, *v->args ? " " : "", v->args);
    if (v->options[0].long_name) {
        printf("\n  OPTIONS\n");
        for (const GOptionEntry *o = v->options; o->long_name; o++) {
            g_autofree char *flag = o->arg_description
                ? g_strdup_printf("--%s <%s>", o->long_name, o->arg_description)
                : g_strdup_printf("--%s", o->long_name);
            printf("    %-20s %s\n", flag, o->description);
        }
    }
}

static int verb_help(Ctl *c, const Verb *v, char **args, unsigned n)
{
    if (n == 0) {
        print_usage(stdout);
        return 0;
    }
    const Verb *w = find_verb(args[0]);
    if (!w) {
        error_line("command '%s' doesn't exist", args[0]);
        return 1;
    }
    print_verb_help(w);
    return 0;
}

static int run_verb(Ctl *c, const Verb *v, int argc, char **argv)
{
    memset(&opt, 0, sizeof(opt));
    c->verb_read_only = v->read_only;
    /* as in virsh, --help anywhere asks for the verb's help */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_verb_help(v);
            return 0;
        }
    g_autoptr(GOptionContext) oc = g_option_context_new(NULL);
    g_option_context_set_help_enabled(oc, FALSE);
    g_option_context_add_main_entries(oc, v->options, NULL);
    g_autoptr(GError) e = NULL;
    /* GOption wants argv[0] to be the program; the verb stands in. */
    if (!g_option_context_parse(oc, &argc, &argv, &e)) {
        if (g_error_matches(e, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION)) {
            /* "Unknown option --foo" -> virsh's wording */
            const char *o = strstr(e->message, "-");
            error_line("command '%s' doesn't support option %s", v->name, o ? o : e->message);
        } else {
            error_line("command '%s': %s", v->name, e->message);
        }
        return USAGE_ERROR;
    }
    unsigned nargs = (unsigned)argc - 1;
    char **args = argv + 1;
    /* "--" ends the options, as it does for virsh */
    if (nargs > 0 && strcmp(args[0], "--") == 0) {
        args++;
        nargs--;
    }
    for (unsigned i = 0; i < nargs; i++)
        if (args[i][0] == '-' && args[i][1] == '-' && args[i][2]) {
            error_line("command '%s' doesn't support option %s", v->name, args[i]);
            return USAGE_ERROR;
        }
    if (nargs < v->min_args) {
        const char *what = v->args;
        g_autofree char *first = g_strndup(what, strcspn(what, " "));
        error_line("command '%s' requires %s option", v->name, first);
        return USAGE_ERROR;
    }
    if (nargs > v->max_args) {
        error_line("unexpected data '%s'", args[v->max_args]);
        return USAGE_ERROR;
    }
    if (strcmp(v->name, "shutdown") == 0 && opt.timeout < 0) {
        error_line("Numeric value '%d' for <timeout> option is malformed or out of range",
                   opt.timeout);
        return USAGE_ERROR;
    }
    return v->run(c, v, args, nargs);
}

int main(int argc, char **argv)
{
    Ctl c = { 0 };
    gboolean version = FALSE;
    GOptionEntry entries[] = {
        { "connect", 'c', 0, G_OPTION_ARG_FILENAME, &c.socket, "the daemon's socket", "SOCKET" },
        { "readonly", 'r', 0, G_OPTION_ARG_NONE, &c.readonly, "connect to the read-only socket", NULL },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &c.quiet, "quiet mode", NULL },
        { "json", 0, 0, G_OPTION_ARG_NONE, &c.json, "print the daemon's replies as JSON", NULL },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "print the client's version", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new("VERB [ARGS...]");
    g_option_context_set_help_enabled(oc, FALSE);
    g_option_context_set_strict_posix(oc, TRUE);   /* stop at the verb */
    g_option_context_add_main_entries(oc, entries, NULL);
    g_autoptr(GError) e = NULL;
    gboolean help = argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
    if (help) {
        print_usage(stdout);
        return 0;
    }
    if (!g_option_context_parse(oc, &argc, &argv, &e)) {
        error_line("%s", e->message);
        return 1;
    }
    if (version) {
        printf("%s\n", PACKAGE_VERSION);
        return 0;
    }
    if (argc < 2) {
        print_usage(stderr);
        return 1;
    }
    const Verb *v = find_verb(argv[1]);
    if (!v) {
        error_line("unknown command: '%s'", argv[1]);
        return 1;
    }
    int status = run_verb(&c, v, argc - 1, argv + 1);
    /* virsh ends each command's output with an empty line (not after a
     * usage error, nor after a console session) */
    if (status != USAGE_ERROR && !c.quiet && !c.json && strcmp(v->name, "console") != 0 &&
        !(strcmp(v->name, "start") == 0 && opt.console))
        printf("\n");
    if (status == USAGE_ERROR)
        status = 1;
    fflush(stdout);
    if (c.conn)
        vmm_proto_sync_free(c.conn);
    g_free(c.conn_path);
    g_free(c.socket);
    g_free(opt.domain);
    return status;
}
