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
#include "conf/network_conf.h"
#include "proto/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
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
    gboolean eject, insert, update, force;
    gboolean st_state, st_cpu, st_balloon, st_vcpu, st_block, st_net;
    gboolean st_perf, st_iothread, st_memory, st_dirtyrate, st_vm;
    gboolean raw, enforce, backing, nowait;
    gboolean list_active, list_inactive, list_persistent, list_transient;
    gboolean list_running, list_paused, list_shutoff, list_other;
    gboolean security_info, migratable, details, table;
    gboolean config, live, current, graceful;
    char *mode;                  /* shutdown/reboot --mode */
    int timeout;
    char *domain;
    char *event;                 /* event --event TYPE */
    gboolean list, timestamp;
    char *xpath;                 /* dumpxml --xpath */
    gboolean wrap;
    char *period;                /* dommemstat --period, NULL = not given */
    char *mac;                   /* net-dhcp-leases --mac */
    char *devname;               /* console --devname, NULL = the first console */
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

/* libvirt's text before a message of each error class (virErrorMsg for
 * the virErrorNumber the QEMU driver uses in the same situation). */
static const char *error_prefix(const GError *err)
{
    if (err->domain != VMM_PROTO_ERROR)
        return "";
    switch (err->code) {
    case VMM_PROTO_OPERATION_INVALID:
        return "Requested operation is not valid: ";   /* VIR_ERR_OPERATION_INVALID */
    case VMM_PROTO_INVALID_ARGUMENT:
        return "invalid argument: ";                   /* VIR_ERR_INVALID_ARG */
    case VMM_PROTO_INTERNAL_ERROR:
        return "internal error: ";                     /* VIR_ERR_INTERNAL_ERROR */
    case VMM_PROTO_PERMISSION_DENIED:
        return "operation forbidden: ";                /* VIR_ERR_OPERATION_DENIED */
    case VMM_PROTO_COMMAND_NOT_FOUND:
        return "this function is not supported by the connection driver: ";
    default:
        return "";
    }
}

static bool not_found(const GError *err)
{
    return err && err->domain == VMM_PROTO_ERROR && err->code == VMM_PROTO_DOMAIN_NOT_FOUND;
}

/* "error: <what failed>" then "error: <why>", as virsh reports a failed
 * API call (fmt NULL: the second line only). A domain the daemon does not
 * know gets virsh's lookup line alone. */
static int G_GNUC_PRINTF(4, 5)
fail(Ctl *c, const GError *err, const char *name, const char *fmt, ...)
{
    if (not_found(err) && name) {
        error_line("failed to get domain '%s'", name);
        return 1;
    } else if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *what = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        error_line("%s", what);
    }
    if (err)
        error_line("%s%s", error_prefix(err), err->message);
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
    json_object *ret = vmm_proto_sync_call(c->conn, cmd, args, &e);
    if (!ret && g_error_matches(e, VMM_PROTO_ERROR, VMM_PROTO_PERMISSION_DENIED)) {
        /* libvirt names the API a read-only connection may not call */
        static const char *const api[][2] = {
            { "domain-start", "virDomainCreate" }, { "domain-destroy", "virDomainDestroy" },
            { "domain-shutdown", "virDomainShutdown" }, { "domain-reboot", "virDomainReboot" },
            { "domain-suspend", "virDomainSuspend" }, { "domain-resume", "virDomainResume" },
            { "domain-define", "virDomainDefineXML" },
            { "domain-undefine", "virDomainUndefineFlags" },
            { "domain-set-autostart", "virDomainSetAutostart" },
            { "domain-set-memory", "virDomainSetMemoryFlags" },
            { "domain-set-memory-period", "virDomainSetMemoryStatsPeriod" },
            { "domain-interface-set-link", "virDomainUpdateDeviceFlags" },
            { "domain-console", "virDomainOpenConsole" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(api); i++)
            if (strcmp(cmd, api[i][0]) == 0) {
                g_free(e->message);
                e->message = g_strdup_printf("read only access prevents %s", api[i][1]);
            }
    }
    if (e)
        g_propagate_error(err, g_steal_pointer(&e));
    return ret;
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

/* define and net-define: the XML file, checked to be text within `max`
 * bytes, sent as "xml" to `cmd`; virsh's messages. */
static int define_from_file(Ctl *c, const char *file, const char *kind, const char *cmd,
                            gsize max, const char *done_fmt)
{
    g_autofree char *xml = NULL;
    gsize len = 0;
    g_autoptr(GError) e = NULL;
    if (!g_file_get_contents(file, &xml, &len, &e))
        return fail(c, e, NULL, "Failed to define %s from %s", kind, file);
    if (len > max) {
        error_line("Failed to define %s from %s", kind, file);
        error_line("the file is %" G_GSIZE_FORMAT " bytes; %s XML is limited to %" G_GSIZE_FORMAT
                   " bytes", len, kind, max);
        return 1;
    }
    if (!g_utf8_validate(xml, (gssize)len, NULL) || memchr(xml, 0, len)) {
        error_line("Failed to define %s from %s", kind, file);
        error_line("the file is not UTF-8 text");
        return 1;
    }
    json_object *a = json_object_new_object();
    json_object_object_add(a, "xml", json_object_new_string_len(xml, (int)len));
    json_object *ret = call(c, false, cmd, a, &e);
    if (!ret)
        return e ? fail(c, e, NULL, "Failed to define %s from %s", kind, file) : 1;
    if (c->json)
        print_json(ret);
    else
        say(c, done_fmt, get_str(ret, "name", "?"), file);
    json_object_put(ret);
    return 0;
}

static int verb_define(Ctl *c, const Verb *v, char **args, unsigned n)
{
    return define_from_file(c, args[0], "domain", "domain-define",
                            VMM_PROTO_MAX_MESSAGE - 4096, "Domain '%s' defined from %s\n");
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
    /* shutdown/reboot --mode: virsh checks the words before the domain;
     * vmmd has the ACPI power button (and reset) only */
    static const char *const modes[] = { "acpi", "agent", "initctl", "signal", "paravirt" };
    bool acpi = false;
    g_auto(GStrv) mode_list = opt.mode ? g_strsplit(opt.mode, ",", 0) : NULL;
    for (guint i = 0; mode_list && mode_list[i]; i++) {
        bool known = false;
        for (size_t k = 0; k < G_N_ELEMENTS(modes); k++)
            known |= strcmp(mode_list[i], modes[k]) == 0;
        if (!known) {
            /* virsh's two wordings differ by a comma */
            error_line("Unknown mode %s value, expecting 'acpi', 'agent', 'initctl', 'signal'%s "
                       "or 'paravirt'", mode_list[i], strcmp(v->name, "shutdown") == 0 ? "," : "");
            return 1;
        }
        acpi |= strcmp(mode_list[i], "acpi") == 0;
    }
    g_autofree char *name = resolve_domain(c, args[0]);
    g_autoptr(GError) e = NULL;
    bool start = strcmp(v->name, "start") == 0;
    bool suspend = strcmp(v->name, "suspend") == 0, resume = strcmp(v->name, "resume") == 0;
    if (start || suspend || resume) {
        /* virsh start refuses an active domain itself; the QEMU driver
         * takes suspend of a paused and resume of a running domain as
         * done */
        json_object *info = call(c, true, "domain-info", name_args(name), &e);
        if (!info)
            return e ? fail(c, e, name, sv->failed, name) : 1;
        const char *state = get_str(info, "state", "");
        bool active = get_int(info, "id", -1) >= 0;
        bool done = (suspend && strcmp(state, "paused") == 0) ||
                    (resume && strcmp(state, "running") == 0);
        json_object_put(info);
        if (start && active) {
            error_line("Domain is already active");
            return 1;
        }
        if (done) {
            if (!c->json) {
                g_autofree char *msg = g_strdup_printf(sv->done, name);
                say(c, "%s\n", msg);
            } else {
                printf("{}\n");
            }
            return 0;
        }
    }
    if (mode_list && !acpi) {
        /* looked up first, as virsh does */
        json_object *info = call(c, true, "domain-info", name_args(name), &e);
        if (!info)
            return e ? fail(c, e, name, sv->failed, name) : 1;
        json_object_put(info);
        error_line(sv->failed, name);
        error_line("argument unsupported: vmmd %s a guest through ACPI only (--mode acpi)",
                   strcmp(v->name, "shutdown") == 0 ? "shuts down" : "reboots");
        return 1;
    }
    json_object *a = name_args(name);
    if (strcmp(v->name, "shutdown") == 0 && opt.timeout > 0)
        json_object_object_add(a, "timeout", json_object_new_int(opt.timeout));
    json_object *ret = call(c, v->read_only, sv->command, a, &e);
    if (!ret) {
        if (!e)
            return 1;
        return fail(c, e, name, sv->failed, name);
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
    /* virsh: --current (the default) excludes the others */
    if (opt.current && (opt.live || opt.config)) {
        error_line("Options --current and --%s are mutually exclusive",
                   opt.live ? "live" : "config");
        return 1;
    }
    uint64_t bytes;
    /* virsh: a scaled integer, KiB without a suffix, rounded up to KiB */
    g_autofree char *name = resolve_domain(c, args[0]);
    g_autoptr(GError) e = NULL;
    /* virsh looks the domain up before it reads the size */
    json_object *info = call(c, true, "domain-info", name_args(name), &e);
    if (!info)
        return e ? fail(c, e, name, NULL) : 1;
    json_object_put(info);
    uint64_t kib = 0;
    if (vmmctl_parse_scaled(args[1], 1024, &bytes))
        kib = bytes / 1024 + (bytes % 1024 != 0);
    if (!vmmctl_parse_scaled(args[1], 1024, &bytes) || kib > (uint64_t)INT64_MAX) {
        error_line("Scaled numeric value '%s' for <size> option is malformed or out of range",
                   args[1]);
        return 1;
    }
    if (kib == 0) {
        /* libvirt's argument check in virDomainSetMemoryFlags */
        error_line("memory in virDomainSetMemoryFlags must not be zero");
        return 1;
    }
    if (opt.config) {
        error_line("Requested operation is not valid: vmmd sets the balloon of a running "
                   "domain only; for the next start, change <currentMemory> and define it");
        return 1;
    }
    json_object *a = name_args(name);
    json_object_object_add(a, "size_kib", json_object_new_int64((int64_t)kib));
    json_object *ret = call(c, false, "domain-set-memory", a, &e);
    if (!ret)
        return e ? fail(c, e, name, NULL) : 1;
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
    json_object_object_add(a, "all", json_object_new_boolean(TRUE));
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
        const char *state = get_str(d, "state", "");
        bool by_state = opt.list_running || opt.list_paused || opt.list_shutoff || opt.list_other;
        /* virsh: running ones only, unless --all, --inactive or a state
         * filter says otherwise; each kind of filter given must match */
        if (opt.inactive && !opt.all && active)
            continue;
        if (!opt.all && !opt.inactive && !by_state && !active)
            continue;
        if (by_state) {
            bool other = strcmp(state, "running") && strcmp(state, "paused") &&
                         strcmp(state, "shutoff");
            if (!((opt.list_running && strcmp(state, "running") == 0) ||
                  (opt.list_paused && strcmp(state, "paused") == 0) ||
                  (opt.list_shutoff && strcmp(state, "shutoff") == 0) ||
                  (opt.list_other && other)))
                continue;
        }
        if ((opt.list_persistent || opt.list_transient) &&
            !((opt.list_persistent && get_bool(d, "persistent")) ||
              (opt.list_transient && !get_bool(d, "persistent"))))
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

/* schedinfo, memtune, blkiotune: virsh's "%-15s: %s" lines, read-only */
static int verb_tune(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autofree char *name = resolve_domain(c, args[0]);
    const char *kind = !strcmp(v->name, "schedinfo") ? "sched"
                     : !strcmp(v->name, "memtune") ? "memory" : "blkio";
    json_object *a = name_args(name);
    json_object_object_add(a, "kind", json_object_new_string(kind));
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, true, "domain-get-tune", a, &e);
    if (!ret)
        return e ? fail(c, e, name, "Unable to get parameters") : 1;
    if (c->json) {
        print_json(ret);
        json_object_put(ret);
        return 0;
    }
    json_object *params = json_object_object_get(ret, "params");
    for (size_t i = 0; params && i < json_object_array_length(params); i++) {
        json_object *p = json_object_array_get_idx(params, i);
        printf("%-15s: %s\n", json_object_get_string(json_object_array_get_idx(p, 0)),
               json_object_get_string(json_object_array_get_idx(p, 1)));
    }
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

/* domain-get-xml, the running definition or with inactive the next start's */
static json_object *get_xml(Ctl *c, const char *name, bool inactive, GError **err)
{
    json_object *a = name_args(name);
    if (inactive)
        json_object_object_add(a, "inactive", json_object_new_boolean(true));
    return call(c, true, "domain-get-xml", a, err);
}

/* dumpxml --xpath: each node the expression selects, as libxml2 writes
 * it (virsh's own formatting, double quotes), or with --wrap all of them
 * under one <nodes> element. A malformed expression selects nothing
 * (libxml2 says why on stderr), as in virsh. */
static int print_xpath(const char *xml, const char *expr, bool wrap)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOBLANKS);
    if (!doc) {
        error_line("cannot read the domain's XML");
        return 1;
    }
    xmlXPathContextPtr ctxt = xmlXPathNewContext(doc);
    xmlXPathObjectPtr obj = ctxt ? xmlXPathEvalExpression((const xmlChar *)expr, ctxt) : NULL;
    int status = 0;
    if (obj && obj->type != XPATH_NODESET) {
        error_line("internal error: Incorrect xpath '%s'", expr);
        status = 1;
    } else {
        xmlNodeSetPtr set = obj ? obj->nodesetval : NULL;
        int count = set ? set->nodeNr : 0;
        xmlDocPtr out = NULL;
        xmlNodePtr root = NULL;
        if (wrap) {
            out = xmlNewDoc((const xmlChar *)"1.0");
            root = xmlNewDocNode(out, NULL, (const xmlChar *)"nodes", NULL);
            xmlDocSetRootElement(out, root);
        }
        for (int i = 0; i < count; i++) {
            if (wrap) {
                xmlAddChild(root, xmlDocCopyNode(set->nodeTab[i], out, 1));
                continue;
            }
            xmlBufferPtr buf = xmlBufferCreate();
            xmlNodeDump(buf, doc, set->nodeTab[i], 0, 1);
            printf("%s\n", (const char *)xmlBufferContent(buf));
            xmlBufferFree(buf);
        }
        if (wrap) {
            xmlBufferPtr buf = xmlBufferCreate();
            xmlNodeDump(buf, out, root, 0, 1);
            printf("%s\n", (const char *)xmlBufferContent(buf));
            xmlBufferFree(buf);
            xmlFreeDoc(out);
        }
    }
    xmlXPathFreeObject(obj);
    xmlXPathFreeContext(ctxt);
    xmlFreeDoc(doc);
    return status;
}

static int verb_dumpxml(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autofree char *name = resolve_domain(c, args[0]);
    g_autoptr(GError) e = NULL;
    /* --security-info: vmmd keeps no secrets (passwords) in the XML to
     * hide; --migratable: nothing in it is runtime-only but the id, which
     * libvirt keeps there too. Both are accepted as no-ops, though libvirt
     * refuses the first on a read-only connection. */
    json_object *ret = get_xml(c, name, opt.inactive, &e);
    if (!ret)
        return e ? fail(c, e, name, "Failed to get domain description xml") : 1;
    if (opt.security_info && c->readonly) {
        json_object_put(ret);
        error_line("operation forbidden: virDomainGetXMLDesc with secure flag");
        return 1;
    }
    int status = 0;
    if (c->json) {
        print_json(ret);
    } else if (opt.xpath) {
        status = print_xpath(get_str(ret, "xml", ""), opt.xpath, opt.wrap);
    } else {
        const char *xml = get_str(ret, "xml", "");
        fputs(xml, stdout);
        if (*xml && xml[strlen(xml) - 1] != '\n')
            putchar('\n');
    }
    json_object_put(ret);
    return status;
}

/* The domain's definition, parsed from its XML; NULL with *err set. */
static VmmDomainDef *fetch_def(Ctl *c, const char *name, json_object **reply, GError **err)
{
    json_object *ret = get_xml(c, name, opt.inactive, err);
    if (!ret)
        return NULL;
    const char *xml = get_str(ret, "xml", "");
    VmmDomainDef *def = vmm_domain_def_parse_string(xml, strlen(xml), name, err);
    if (reply && def)
        *reply = ret;
    else
        json_object_put(ret);
    return def;
}

/* The definition for domiflist and domblklist; NULL when there is no
 * table to print, *status then the verb's exit status: an error, or
 * --json, which prints the reply itself. */
static VmmDomainDef *domain_def(Ctl *c, const char *name, int *status)
{
    g_autoptr(GError) e = NULL;
    json_object *ret = NULL;
    VmmDomainDef *def = fetch_def(c, name, &ret, &e);
    *status = 0;
    if (!def) {
        if (e && e->domain != VMM_PROTO_ERROR && e->domain != G_IO_ERROR)
            error_line("cannot read the domain's XML: %s", e->message);
        else if (e)
            fail(c, e, name, NULL);
        *status = 1;
        return NULL;
    }
    if (c->json) {
        print_json(ret);
        g_clear_pointer(&def, vmm_domain_def_free);
    }
    json_object_put(ret);
    return def;
}

/* virsh finds an interface by its target dev or its MAC address */
static const VmmNetDef *find_interface(const VmmDomainDef *def, const char *iface)
{
    for (guint i = 0; def->nets && i < def->nets->len; i++) {
        const VmmNetDef *net = g_ptr_array_index(def->nets, i);
        char mac[18];
        vmm_net_mac_format(net->mac, mac);
        if (g_strcmp0(net->target_dev, iface) == 0 || g_ascii_strcasecmp(mac, iface) == 0)
            return net;
    }
    return NULL;
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
    g_autofree char *name = resolve_domain(c, args[0]);
    g_autoptr(GError) e = NULL;
    /* virsh: the domain, then the state word, then the interface */
    g_autoptr(VmmDomainDef) def = fetch_def(c, name, NULL, &e);
    if (!def)
        return e ? fail(c, e, name, NULL) : 1;
    if (strcmp(args[2], "up") && strcmp(args[2], "down")) {
        error_line("invalid link state '%s'", args[2]);
        return 1;
    }
    if (!def->nets || def->nets->len == 0) {
        error_line("Failed to extract interface information or no interfaces found");
        return 1;
    }
    if (!find_interface(def, args[1])) {
        error_line("interface '%s' not found", args[1]);
        return 1;
    }
    json_object *a = name_args(name);
    json_object_object_add(a, "interface", json_object_new_string(args[1]));
    json_object_object_add(a, "state", json_object_new_string(args[2]));
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
    g_autoptr(GError) e = NULL;
    g_autoptr(VmmDomainDef) def = fetch_def(c, name, NULL, &e);
    if (!def)
        return e ? fail(c, e, name, NULL) : 1;
    const VmmNetDef *net = find_interface(def, args[1]);
    if (!net) {
        error_line("Interface (dev: %s) not found.", args[1]);
        return 1;
    }
    json_object *info = call(c, true, "domain-info", name_args(name), &e);
    if (!info)
        return e ? fail(c, e, name, NULL) : 1;
    bool active = get_int(info, "id", -1) >= 0;
    json_object_put(info);
    if (!active && !c->json) {
        /* virsh reads <link state> from the XML; the worker's live state
         * exists only while it runs */
        printf("%s %s", args[1], net->link_down ? "down" : "up");
        return 0;
    }
    json_object *a = name_args(name);
    json_object_object_add(a, "interface", json_object_new_string(args[1]));
    json_object *ret = call(c, true, "domain-interface-get-link", a, &e);
    if (!ret)
        return e ? fail(c, e, name, "Failed to get link state") : 1;
    if (c->json)
        print_json(ret);
    else
        printf("%s %s", args[1], get_str(ret, "state", "?"));   /* virsh's newline follows */
    json_object_put(ret);
    return 0;
}

/* virsh domiflist: from the domain's XML */
static int verb_domiflist(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autofree char *name = resolve_domain(c, args[0]);
    int status;
    g_autoptr(VmmDomainDef) def = domain_def(c, name, &status);
    if (!def)
        return status;
    g_autoptr(VmmctlTable) t = vmmctl_table_new("Interface", "Type", "Source", "Model", "MAC",
                                                 NULL);
    for (guint i = 0; def->nets && i < def->nets->len; i++) {
        const VmmNetDef *net = g_ptr_array_index(def->nets, i);
        char mac[18];
        vmm_net_mac_format(net->mac, mac);
        const char *src = net->bridge ? net->bridge : net->socket_path ? net->socket_path : "-";
        vmmctl_table_add_row(t, net->target_dev ? net->target_dev : "-",
                             vmm_net_type_to_string(net->type), src, vmm_net_model_to_string(net->model), mac, NULL);
    }
    g_autofree char *out = vmmctl_table_to_string(t, true);
    fputs(out, stdout);
    return 0;
}

/* virsh domblklist: from the domain's XML */
static int verb_domblklist(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autofree char *name = resolve_domain(c, args[0]);
    int status;
    g_autoptr(VmmDomainDef) def = domain_def(c, name, &status);
    if (!def)
        return status;
    g_autoptr(VmmctlTable) t = opt.details
        ? vmmctl_table_new("Type", "Device", "Target", "Source", NULL)
        : vmmctl_table_new("Target", "Source", NULL);
    for (guint i = 0; def->disks && i < def->disks->len; i++) {
        const VmmDiskDef *disk = g_ptr_array_index(def->disks, i);
        const char *src = disk->path ? disk->path : "-";
        if (opt.details)
            vmmctl_table_add_row(t, disk->type == VMM_DISK_BLOCK ? "block"
                                    : disk->type == VMM_DISK_VHOSTUSER ? "vhostuser" : "file",
                                 "disk", disk->target_dev, src, NULL);
        else
            vmmctl_table_add_row(t, disk->target_dev, src, NULL);
    }
    g_autofree char *out = vmmctl_table_to_string(t, true);
    fputs(out, stdout);
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

/* virDomainStatsTypes: the groups virsh domstats selects. */
enum {
    ST_STATE = 0x1, ST_CPU = 0x2, ST_BALLOON = 0x4, ST_VCPU = 0x8, ST_NET = 0x10,
    ST_BLOCK = 0x20, ST_PERF = 0x40, ST_IOTHREAD = 0x80, ST_MEMORY = 0x100,
    ST_DIRTYRATE = 0x200, ST_VM = 0x400,
    ST_SUPPORTED = ST_STATE | ST_CPU | ST_BALLOON | ST_VCPU | ST_NET | ST_BLOCK,
};

static void print_stat(json_object *st, const char *key)
{
    json_object *v = get(st, key);
    if (!v)
        return;
    g_autofree char *s = vmmctl_json_scalar(v);
    printf("  %s=%s\n", key, s);
}

/* PREFIX.N.FIELD for each FIELD, in the given order */
static void print_indexed(json_object *st, const char *prefix, int64_t i,
                          const char *const *fields)
{
    for (size_t f = 0; fields[f]; f++) {
        g_autofree char *key = g_strdup_printf("%s.%" G_GINT64_FORMAT ".%s", prefix, i, fields[f]);
        print_stat(st, key);
    }
}

/* One record in the QEMU driver's order: its stats workers run state,
 * cpu-total, balloon, vcpu, interface, block, and each adds its fields in
 * a fixed order (balloon.* in the order QEMU's balloon reports them, rss
 * last). Keys libvirt reserves for other hypervisors (block.N.errors is
 * Xen's) are not printed. */
static void print_stats_record(json_object *st, unsigned groups)
{
    if (groups & ST_STATE) {
        print_stat(st, "state.state");
        print_stat(st, "state.reason");
    }
    if (groups & ST_CPU) {
        print_stat(st, "cpu.time");
        print_stat(st, "cpu.user");
        print_stat(st, "cpu.system");
    }
    if (groups & ST_BALLOON) {
        static const char *const keys[] = {
            "balloon.current", "balloon.maximum", "balloon.swap_in", "balloon.swap_out",
            "balloon.major_fault", "balloon.minor_fault", "balloon.unused",
            "balloon.available", "balloon.usable", "balloon.last-update",
            "balloon.disk_caches", "balloon.hugetlb_pgalloc", "balloon.hugetlb_pgfail",
            "balloon.rss",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
            print_stat(st, keys[i]);
    }
    if (groups & ST_VCPU) {
        static const char *const fields[] = { "state", "time", "wait", "delay", "halted", NULL };
        print_stat(st, "vcpu.current");
        print_stat(st, "vcpu.maximum");
        int64_t n = CLAMP(get_int(st, "vcpu.current", 0), 0, MAX_DEVICES);
        for (int64_t i = 0; i < n; i++)
            print_indexed(st, "vcpu", i, fields);
    }
    if (groups & ST_NET) {
        static const char *const fields[] = {
            "name", "rx.bytes", "rx.pkts", "rx.errs", "rx.drop",
            "tx.bytes", "tx.pkts", "tx.errs", "tx.drop", NULL };
        print_stat(st, "net.count");
        int64_t n = CLAMP(get_int(st, "net.count", 0), 0, MAX_DEVICES);
        for (int64_t i = 0; i < n; i++)
            print_indexed(st, "net", i, fields);
    }
    if (groups & ST_BLOCK) {
        static const char *const fields[] = {
            "name", "path", "rd.reqs", "rd.bytes", "rd.times", "wr.reqs", "wr.bytes",
            "wr.times", "fl.reqs", "fl.times", "allocation", "capacity", "physical", NULL };
        print_stat(st, "block.count");
        int64_t n = CLAMP(get_int(st, "block.count", 0), 0, MAX_DEVICES);
        for (int64_t i = 0; i < n; i++)
            print_indexed(st, "block", i, fields);
    }
}

/* The --list-* filters: within a group any flag may match, and every
 * group given must (virConnectGetAllDomainStats' flags). */
static bool stats_listed(json_object *r, json_object *st)
{
    int64_t state = get_int(st, "state.state", 0);
    bool active = state != 0 && state != 5 && state != 6;   /* not nostate, shutoff, crashed */
    bool persistent = get_bool(r, "persistent");
    if ((opt.list_active || opt.list_inactive) &&
        !((opt.list_active && active) || (opt.list_inactive && !active)))
        return false;
    if ((opt.list_persistent || opt.list_transient) &&
        !((opt.list_persistent && persistent) || (opt.list_transient && !persistent)))
        return false;
    if (opt.list_running || opt.list_paused || opt.list_shutoff || opt.list_other) {
        bool other = state != 1 && state != 3 && state != 5;
        if (!((opt.list_running && state == 1) || (opt.list_paused && state == 3) ||
              (opt.list_shutoff && state == 5) || (opt.list_other && other)))
            return false;
    }
    return true;
}

static int verb_domstats(Ctl *c, const Verb *v, char **args, unsigned n)
{
    unsigned groups = (opt.st_state ? ST_STATE : 0) | (opt.st_cpu ? ST_CPU : 0) |
                      (opt.st_balloon ? ST_BALLOON : 0) | (opt.st_vcpu ? ST_VCPU : 0) |
                      (opt.st_net ? ST_NET : 0) | (opt.st_block ? ST_BLOCK : 0) |
                      (opt.st_perf ? ST_PERF : 0) | (opt.st_iothread ? ST_IOTHREAD : 0) |
                      (opt.st_memory ? ST_MEMORY : 0) | (opt.st_dirtyrate ? ST_DIRTYRATE : 0) |
                      (opt.st_vm ? ST_VM : 0);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    for (unsigned i = 0; i < n; i++)
        g_ptr_array_add(names, resolve_domain(c, args[i]));
    g_autoptr(GError) e = NULL;
    /* virsh looks every named domain up first */
    for (guint i = 0; i < names->len; i++) {
        json_object *info = call(c, true, "domain-info", name_args(names->pdata[i]), &e);
        if (!info)
            return e ? fail(c, e, names->pdata[i], NULL) : 1;
        json_object_put(info);
    }
    if (opt.enforce && (groups & ~ST_SUPPORTED)) {
        error_line("argument unsupported: Stats types bits 0x%x are not supported by this daemon",
                   groups & ~ST_SUPPORTED);
        return 1;
    }
    /* no group asked for: every group the daemon has */
    groups = groups ? groups & ST_SUPPORTED : ST_SUPPORTED;
    json_object *ret = domain_stats(c, (char **)names->pdata, names->len, &e);
    if (!ret)
        return e ? fail(c, e, NULL, NULL) : 1;
    if (c->json) {
        print_json(ret);
        json_object_put(ret);
        return 0;
    }
    bool first = true;
    for (size_t i = 0; json_object_is_type(ret, json_type_array) &&
                       i < json_object_array_length(ret); i++) {
        json_object *r = json_object_array_get_idx(ret, i);
        json_object *st = get(r, "stats");
        if (!st || !json_object_is_type(st, json_type_object) || !stats_listed(r, st))
            continue;
        /* records are separated by an empty line; the last one gets the
         * empty line every verb ends with */
        if (!first)
            printf("\n");
        first = false;
        printf("Domain: '%s'\n", get_str(r, "name", ""));
        print_stats_record(st, groups);
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
        gint64 p;
        /* virsh: an int option first, then the sign */
        if (!g_ascii_string_to_signed(opt.period, 10, G_MININT, G_MAXINT, &p, NULL)) {
            error_line("Numeric value '%s' for <period> option is malformed or out of range",
                       opt.period);
            return 1;
        }
        if (p < 0) {
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
        return e ? fail(c, e, name, "Failed to get block stats %s %s", name, dev) : 1;
    json_object *st = stats_of(ret, name);
    int status = 0;
    int idx = -1;
    int64_t count = st ? CLAMP(get_int(st, "block.count", 0), 0, MAX_DEVICES) : 0;
    if (!st || !stats_active(st)) {
        error_line("Failed to get block stats %s %s", name, dev);
        error_line("Requested operation is not valid: domain is not running");
        status = 1;
    } else if (*dev && (idx = device_index(st, "block", dev)) < 0) {
        error_line("Failed to get block stats %s %s", name, dev);
        error_line("invalid argument: invalid path: %s", dev);
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
        error_line("invalid argument: '%s' is not a known interface", dev);
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
/* virsh's lifecycle event text (virshDomainEventToString and its detail
 * tables) for the daemon's state and reason. */
static void lifecycle_text(const char *state, const char *reason, const char **event,
                           const char **detail)
{
    static const struct { const char *state, *reason, *event, *detail; } map[] = {
        { "running", "unpaused", "Resumed", "Unpaused" },
        { "running", "restored", "Started", "Restored" },
        { "running", NULL, "Started", "Booted" },
        { "paused", "ioerror", "Suspended", "I/O Error" },
        { "paused", "watchdog", "Suspended", "Watchdog" },
        { "paused", NULL, "Suspended", "Paused" },
        { "shutoff", "destroyed", "Stopped", "Destroyed" },
        { "shutoff", "crashed", "Stopped", "Crashed" },
        { "shutoff", "failed", "Stopped", "Failed" },
        { "shutoff", "saved", "Stopped", "Saved" },
        { "shutoff", NULL, "Stopped", "Shutdown" },
        /* the guest powered off (after the ACPI button or by itself) */
        { "shutdown", NULL, "Shutdown", "Finished after guest request" },
        { "crashed", NULL, "Crashed", "Panicked" },
        { "pmsuspended", NULL, "PMSuspended", "Memory" },
    };
    *event = *detail = "unknown";
    for (size_t i = 0; i < G_N_ELEMENTS(map); i++)
        if (g_strcmp0(map[i].state, state) == 0 &&
            (!map[i].reason || g_strcmp0(map[i].reason, reason) == 0)) {
            *event = map[i].event;
            *detail = map[i].detail;
            return;
        }
}

/* virConnectDomainEventRegisterAny's event names, as virsh event --list
 * prints them; vmmd sends lifecycle and reboot. */
static const char *const event_names[] = {
    "lifecycle", "reboot", "rtc-change", "watchdog", "io-error", "graphics",
    "io-error-reason", "control-error", "block-job", "disk-change", "tray-change",
    "pm-wakeup", "pm-suspend", "balloon-change", "pm-suspend-disk", "device-removed",
    "block-job-2", "tunable", "agent-lifecycle", "device-added", "migration-iteration",
    "job-completed", "device-removal-failed", "metadata-change", "block-threshold",
    "memory-failure", "memory-device-size-change",
};

/* The protocol's event name for a virsh one: DOMAIN_STATE is 'lifecycle',
 * DOMAIN_X is 'x'. */
static char *event_name_of(const char *proto)
{
    if (strcmp(proto, "DOMAIN_STATE") == 0)
        return g_strdup("lifecycle");
    return g_ascii_strdown(g_str_has_prefix(proto, "DOMAIN_") ? proto + strlen("DOMAIN_")
                                                                : proto, -1);
}

static int verb_event(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autoptr(GError) e = NULL;
    if (opt.list) {
        for (size_t i = 0; i < G_N_ELEMENTS(event_names); i++)
            printf("%s\n", event_names[i]);
        return 0;
    }
    if (!opt.all && !opt.event) {
        error_line("one of --list, --all, or --event <type> is required");
        return 1;
    }
    bool known = !opt.event;
    for (size_t i = 0; opt.event && i < G_N_ELEMENTS(event_names); i++)
        known |= strcmp(opt.event, event_names[i]) == 0;
    if (!known) {
        error_line("unknown event type %s", opt.event);
        return 1;
    }
    if (!ctl_connect(c, true, &e)) {
        error_line("failed to connect to the daemon");
        error_line("%s", e->message);
        return 1;
    }
    g_autofree char *domain = opt.domain ? resolve_domain(c, opt.domain) : NULL;
    if (domain) {
        /* virsh looks the domain up before it listens */
        json_object *info = call(c, true, "domain-info", name_args(domain), &e);
        if (!info)
            return e ? fail(c, e, domain, NULL) : 1;
        json_object_put(info);
    }
    gint64 deadline = opt.timeout > 0
        ? g_get_monotonic_time() + (gint64)opt.timeout * G_USEC_PER_SEC : 0;
    unsigned count = 0;
    int status = 0;
    for (;;) {
        /* vmmd closes clients that send no request for its idle timeout
         * (300 s by default): ask something now and then. */
        int wait_ms = EVENT_KEEPALIVE_MS;
        if (deadline) {
            gint64 left = deadline - g_get_monotonic_time();
            if (left <= 0) {
                /* virsh: a timeout is a failure */
                say(c, "event loop timed out\n");
                status = 1;
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
        g_autofree char *ename = event_name_of(get_str(ev, "event", "?"));
        if ((!domain || strcmp(domain, dname) == 0) &&
            (!opt.event || strcmp(opt.event, ename) == 0)) {
            count++;
            if (opt.timestamp) {
                /* virTimeStringNowRaw: UTC with milliseconds */
                g_autoptr(GDateTime) now = g_date_time_new_now_utc();
                g_autofree char *ts = g_date_time_format(now, "%Y-%m-%d %H:%M:%S");
                printf("%s.%03d+0000: ", ts, g_date_time_get_microsecond(now) / 1000);
            }
            if (c->json) {
                print_json(ev);
            } else if (strcmp(ename, "lifecycle") == 0) {
                const char *what, *detail;
                lifecycle_text(get_str(data, "state", NULL), get_str(data, "reason", NULL),
                               &what, &detail);
                printf("event 'lifecycle' for domain '%s': %s %s\n", dname, what, detail);
            } else {
                printf("event '%s' for domain '%s'\n", ename, dname);
            }
            fflush(stdout);
        }
        json_object_put(ev);
        if (count > 0 && !opt.loop)
            break;
    }
    say(c, "events received: %u\n", count);
    return status;
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
    json_object *args = name_args(name);
    if (opt.devname)
        json_object_object_add(args, "devname", json_object_new_string(opt.devname));
    json_object *ret = call(c, false, "domain-console", args, &e);
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

/* ------------------------------------------------------------------------ */
/* virtual networks (virsh's net-* verbs)                                   */

/* virsh's lookup failure: "failed to get network 'X'" and libvirt's
 * "Network not found: ..." line. */
static int net_fail(Ctl *c, const GError *err, const char *name, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
static int net_fail(Ctl *c, const GError *err, const char *name, const char *fmt, ...)
{
    (void)c;
    if (err && err->domain == VMM_PROTO_ERROR && err->code == VMM_PROTO_NETWORK_NOT_FOUND &&
        name) {
        error_line("failed to get network '%s'", name);
        error_line("Network not found: %s", err->message);
        return 1;
    }
    if (fmt) {
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

static int verb_net_define(Ctl *c, const Verb *v, char **args, unsigned n)
{
    return define_from_file(c, args[0], "network", "network-define",
                            VMM_NETWORK_XML_MAX_BYTES, "Network %s defined from %s\n");
}

/* net-start, net-destroy, net-undefine: one call, one line. */
static const SimpleVerb net_verbs[] = {
    { "net-start", "network-start", "Network %s started", "Failed to start network %s" },
    { "net-destroy", "network-destroy", "Network %s destroyed", "Failed to destroy network %s" },
    { "net-undefine", "network-undefine", "Network %s has been undefined",
      "Failed to undefine network %s" },
};

static int verb_net_simple(Ctl *c, const Verb *v, char **args, unsigned n)
{
    const SimpleVerb *sv = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(net_verbs); i++)
        if (strcmp(net_verbs[i].verb, v->name) == 0)
            sv = &net_verbs[i];
    g_assert(sv);
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, false, sv->command, name_args(args[0]), &e);
    if (!ret)
        return e ? net_fail(c, e, args[0], sv->failed, args[0]) : 1;
    if (c->json)
        print_json(ret);
    else {
        g_autofree char *msg = g_strdup_printf(sv->done, args[0]);
        say(c, "%s\n", msg);
    }
    json_object_put(ret);
    return 0;
}

static int verb_net_autostart(Ctl *c, const Verb *v, char **args, unsigned n)
{
    json_object *a = name_args(args[0]);
    json_object_object_add(a, "autostart", json_object_new_boolean(!opt.disable));
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, false, "network-set-autostart", a, &e);
    if (!ret)
        return e ? net_fail(c, e, args[0], opt.disable
                                             ? "failed to unmark network %s as autostarted"
                                             : "failed to mark network %s as autostarted",
                            args[0]) : 1;
    if (c->json)
        print_json(ret);
    else
        say(c, opt.disable ? "Network %s unmarked as autostarted\n"
                           : "Network %s marked as autostarted\n", args[0]);
    json_object_put(ret);
    return 0;
}

static int verb_net_list(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, true, "network-list", json_object_new_object(), &e);
    if (!ret)
        return e ? net_fail(c, e, NULL, "Failed to list networks") : 1;
    if (c->json) {
        print_json(ret);
        json_object_put(ret);
        return 0;
    }
    g_autoptr(VmmctlTable) t = vmmctl_table_new("Name", "State", "Autostart", "Persistent",
                                                NULL);
    for (size_t i = 0; i < json_object_array_length(ret); i++) {
        json_object *o = json_object_array_get_idx(ret, i);
        bool active = get_bool(o, "active");
        if ((!opt.all && !opt.inactive && !active) || (opt.inactive && !opt.all && active))
            continue;
        if ((opt.autostart && !get_bool(o, "autostart")) ||
            (opt.no_autostart && get_bool(o, "autostart")))
            continue;
        if (opt.name) {
            printf("%s\n", get_str(o, "name", ""));
            continue;
        }
        if (opt.uuid) {
            printf("%s\n", get_str(o, "uuid", ""));
            continue;
        }
        vmmctl_table_add_row(t, get_str(o, "name", ""), active ? "active" : "inactive",
                             get_bool(o, "autostart") ? "yes" : "no",
                             get_bool(o, "persistent") ? "yes" : "no", NULL);
    }
    if (!opt.name && !opt.uuid) {
        g_autofree char *out = vmmctl_table_to_string(t, !c->quiet);
        fputs(out, stdout);
    }
    json_object_put(ret);
    return 0;
}

static int verb_net_info(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, true, "network-info", name_args(args[0]), &e);
    if (!ret)
        return e ? net_fail(c, e, args[0], NULL) : 1;
    if (c->json)
        print_json(ret);
    else {
        printf("%-15s %s\n", "Name:", get_str(ret, "name", ""));
        printf("%-15s %s\n", "UUID:", get_str(ret, "uuid", ""));
        printf("%-15s %s\n", "Active:", get_bool(ret, "active") ? "yes" : "no");
        printf("%-15s %s\n", "Persistent:", get_bool(ret, "persistent") ? "yes" : "no");
        printf("%-15s %s\n", "Autostart:", get_bool(ret, "autostart") ? "yes" : "no");
        if (get_str(ret, "bridge", NULL))
            printf("%-15s %s\n", "Bridge:", get_str(ret, "bridge", ""));
    }
    json_object_put(ret);
    return 0;
}

static int verb_net_dumpxml(Ctl *c, const Verb *v, char **args, unsigned n)
{
    json_object *a = name_args(args[0]);
    json_object_object_add(a, "inactive", json_object_new_boolean(opt.inactive));
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, true, "network-get-xml", a, &e);
    if (!ret)
        return e ? net_fail(c, e, args[0], NULL) : 1;
    if (c->json)
        print_json(ret);
    else
        fputs(get_str(ret, "xml", ""), stdout);
    json_object_put(ret);
    return 0;
}

static int verb_net_dhcp_leases(Ctl *c, const Verb *v, char **args, unsigned n)
{
    json_object *a = name_args(args[0]);
    if (opt.mac)
        json_object_object_add(a, "mac", json_object_new_string(opt.mac));
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, true, "network-dhcp-leases", a, &e);
    if (!ret)
        return e ? net_fail(c, e, args[0], "Failed to get leases info for %s", args[0]) : 1;
    if (c->json) {
        print_json(ret);
        json_object_put(ret);
        return 0;
    }
    g_autoptr(VmmctlTable) t = vmmctl_table_new("Expiry Time", "MAC address", "Protocol",
                                                "IP address", "Hostname", "Client ID or DUID",
                                                NULL);
    for (size_t i = 0; i < json_object_array_length(ret); i++) {
        json_object *l = json_object_array_get_idx(ret, i);
        g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(get_int(l, "expiry-time", 0));
        g_autofree char *when = dt ? g_date_time_format(dt, "%Y-%m-%d %H:%M:%S") : g_strdup("");
        g_autofree char *ip = g_strdup_printf("%s/%" G_GINT64_FORMAT, get_str(l, "ipaddr", ""),
                                              get_int(l, "prefix", 0));
        vmmctl_table_add_row(t, when, get_str(l, "mac", "-"), get_str(l, "type", ""), ip,
                             get_str(l, "hostname", "-"), get_str(l, "clientid", "-"), NULL);
    }
    g_autofree char *out = vmmctl_table_to_string(t, !c->quiet);
    fputs(out, stdout);
    json_object_put(ret);
    return 0;
}

static int verb_net_update(Ctl *c, const Verb *v, char **args, unsigned n)
{
    /* the xml argument is the element itself or a file holding it, as virsh */
    g_autofree char *xml = NULL;
    if (args[3][0] != '<') {
        g_autoptr(GError) fe = NULL;
        if (!g_file_get_contents(args[3], &xml, NULL, &fe)) {
            error_line("Failed to update network %s", args[0]);
            error_line("%s", fe->message);
            return 1;
        }
    } else {
        xml = g_strdup(args[3]);
    }
    json_object *a = name_args(args[0]);
    json_object_object_add(a, "command", json_object_new_string(args[1]));
    json_object_object_add(a, "section", json_object_new_string(args[2]));
    json_object_object_add(a, "xml", json_object_new_string(xml));
    json_object_object_add(a, "live", json_object_new_boolean(opt.live));
    json_object_object_add(a, "config", json_object_new_boolean(opt.config));
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, false, "network-update", a, &e);
    if (!ret)
        return e ? net_fail(c, e, args[0], "Failed to update network %s", args[0]) : 1;
    if (c->json) {
        print_json(ret);
    } else if (opt.config) {
        say(c, opt.live ? "Updated network %s persistent config and live state\n"
                        : "Updated network %s persistent config\n", args[0]);
    } else if (opt.live) {
        say(c, "Updated network %s live state\n", args[0]);
    } else {
        g_autoptr(GError) ie = NULL;
        json_object *info = call(c, true, "network-info", name_args(args[0]), &ie);
        say(c, get_bool(info, "active") ? "Updated network %s live state\n"
                                        : "Updated network %s persistent config\n", args[0]);
        json_object_put(info);
    }
    json_object_put(ret);
    return 0;
}

static int verb_domifaddr(Ctl *c, const Verb *v, char **args, unsigned n)
{
    g_autofree char *name = resolve_domain(c, args[0]);
    g_autoptr(GError) e = NULL;
    json_object *ret = call(c, true, "domain-interface-addresses", name_args(name), &e);
    if (!ret)
        return e ? fail(c, e, name, "Failed to query for interfaces addresses") : 1;
    if (c->json) {
        print_json(ret);
        json_object_put(ret);
        return 0;
    }
    say(c, " %-10s %-20s %-8s     %s\n%s%s\n", "Name", "MAC address", "Protocol", "Address",
        "-------------------------------------------------", "------------------------------");
    for (size_t i = 0; i < json_object_array_length(ret); i++) {
        json_object *ifc = json_object_array_get_idx(ret, i);
        json_object *addrs = get(ifc, "addrs");
        const char *ifname = get_str(ifc, "name", "-");
        /* args holds n words: the interface is optional */
        if (n > 1 && strcmp(args[1], ifname))
            continue;
        /* libvirt's lease source lists only interfaces that have a lease */
        for (size_t j = 0; addrs && j < json_object_array_length(addrs); j++) {
            json_object *ad = json_object_array_get_idx(addrs, j);
            g_autofree char *addr = g_strdup_printf("%-12s %s/%" G_GINT64_FORMAT,
                                                    get_str(ad, "type", ""),
                                                    get_str(ad, "ipaddr", ""),
                                                    get_int(ad, "prefix", 0));
            if (j == 0 || opt.all)
                printf(" %-10s %-17s    %s\n", ifname, get_str(ifc, "mac", ""), addr);
            else
                printf(" %-10s %-17s    %s\n", "-", "-", addr);
        }
    }
    json_object_put(ret);
    return 0;
}

static int verb_help(Ctl *c, const Verb *v, char **args, unsigned n);

static const GOptionEntry no_options[] = { { NULL } };
static const GOptionEntry list_options[] = {
    { "all", 0, 0, G_OPTION_ARG_NONE, &opt.all, "list inactive & active domains", NULL },
    { "inactive", 0, 0, G_OPTION_ARG_NONE, &opt.inactive, "list inactive domains", NULL },
    { "name", 0, 0, G_OPTION_ARG_NONE, &opt.name, "list domain names only", NULL },
    { "uuid", 0, 0, G_OPTION_ARG_NONE, &opt.uuid, "list uuid's only", NULL },
    { "autostart", 0, 0, G_OPTION_ARG_NONE, &opt.autostart, "list domains with autostart enabled", NULL },
    { "no-autostart", 0, 0, G_OPTION_ARG_NONE, &opt.no_autostart, "list domains with autostart disabled", NULL },
    { "state-running", 0, 0, G_OPTION_ARG_NONE, &opt.list_running, "list domains in running state", NULL },
    { "state-paused", 0, 0, G_OPTION_ARG_NONE, &opt.list_paused, "list domains in paused state", NULL },
    { "state-shutoff", 0, 0, G_OPTION_ARG_NONE, &opt.list_shutoff, "list domains in shutoff state", NULL },
    { "state-other", 0, 0, G_OPTION_ARG_NONE, &opt.list_other, "list domains in other states", NULL },
    { "persistent", 0, 0, G_OPTION_ARG_NONE, &opt.list_persistent, "list persistent domains", NULL },
    { "transient", 0, 0, G_OPTION_ARG_NONE, &opt.list_transient, "list transient domains", NULL },
    { "table", 0, 0, G_OPTION_ARG_NONE, &opt.table, "list table (default)", NULL },
    { NULL },
};
static const GOptionEntry start_options[] = {
    { "console", 0, 0, G_OPTION_ARG_NONE, &opt.console, "attach to console after creation", NULL },
    { NULL },
};
static const GOptionEntry console_options[] = {
    { "devname", 0, 0, G_OPTION_ARG_STRING, &opt.devname, "character device name", "string" },
    { NULL },
};
static const GOptionEntry shutdown_options[] = {
    { "timeout", 0, 0, G_OPTION_ARG_INT, &opt.timeout,
      "destroy the domain if it is still running after S seconds", "S" },
    { "mode", 0, 0, G_OPTION_ARG_STRING, &opt.mode, "shutdown mode: acpi (vmmd has no other)", "MODE" },
    { NULL },
};
static const GOptionEntry reboot_options[] = {
    { "mode", 0, 0, G_OPTION_ARG_STRING, &opt.mode, "reboot mode: acpi (vmmd has no other)", "MODE" },
    { NULL },
};
static const GOptionEntry destroy_options[] = {
    { "graceful", 0, 0, G_OPTION_ARG_NONE, &opt.graceful, "terminate gracefully (vmmd's destroy asks the worker to quit first)", NULL },
    { NULL },
};
static const GOptionEntry setmem_options[] = {
    { "config", 0, 0, G_OPTION_ARG_NONE, &opt.config, "affect next boot (refused: see vmmctl(1))", NULL },
    { "live", 0, 0, G_OPTION_ARG_NONE, &opt.live, "affect running domain", NULL },
    { "current", 0, 0, G_OPTION_ARG_NONE, &opt.current, "affect current domain", NULL },
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
static const GOptionEntry dumpxml_options[] = {
    { "inactive", 0, 0, G_OPTION_ARG_NONE, &opt.inactive, "show inactive defined XML", NULL },
    { "security-info", 0, 0, G_OPTION_ARG_NONE, &opt.security_info, "include security sensitive information in XML dump", NULL },
    { "migratable", 0, 0, G_OPTION_ARG_NONE, &opt.migratable, "provide XML suitable for migrations", NULL },
    { "xpath", 0, 0, G_OPTION_ARG_STRING, &opt.xpath, "xpath expression to filter the XML document", "EXPRESSION" },
    { "wrap", 0, 0, G_OPTION_ARG_NONE, &opt.wrap, "wrap xpath results in an common root element", NULL },
    { NULL },
};
static const GOptionEntry inactive_options[] = {
    { "inactive", 0, 0, G_OPTION_ARG_NONE, &opt.inactive, "get inactive rather than running configuration", NULL },
    { NULL },
};
static const GOptionEntry domblklist_options[] = {
    { "inactive", 0, 0, G_OPTION_ARG_NONE, &opt.inactive, "get inactive rather than running configuration", NULL },
    { "details", 0, 0, G_OPTION_ARG_NONE, &opt.details, "additionally display the type and device value", NULL },
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
    { "perf", 0, 0, G_OPTION_ARG_NONE, &opt.st_perf, "report domain perf event statistics (vmmd has none)", NULL },
    { "iothread", 0, 0, G_OPTION_ARG_NONE, &opt.st_iothread, "report domain IOThread information (vmmd has none)", NULL },
    { "memory", 0, 0, G_OPTION_ARG_NONE, &opt.st_memory, "report domain memory usage (vmmd has none)", NULL },
    { "dirtyrate", 0, 0, G_OPTION_ARG_NONE, &opt.st_dirtyrate, "report domain dirty rate information (vmmd has none)", NULL },
    { "vm", 0, 0, G_OPTION_ARG_NONE, &opt.st_vm, "report hypervisor-specific statistics (vmmd has none)", NULL },
    { "raw", 0, 0, G_OPTION_ARG_NONE, &opt.raw, "do not pretty-print the fields", NULL },
    { "enforce", 0, 0, G_OPTION_ARG_NONE, &opt.enforce, "enforce requested stats parameters", NULL },
    { "backing", 0, 0, G_OPTION_ARG_NONE, &opt.backing, "add backing chain information to block stats", NULL },
    { "nowait", 0, 0, G_OPTION_ARG_NONE, &opt.nowait, "report only stats that are accessible instantly", NULL },
    { "list-active", 0, 0, G_OPTION_ARG_NONE, &opt.list_active, "list only active domains", NULL },
    { "list-inactive", 0, 0, G_OPTION_ARG_NONE, &opt.list_inactive, "list only inactive domains", NULL },
    { "list-persistent", 0, 0, G_OPTION_ARG_NONE, &opt.list_persistent, "list only persistent domains", NULL },
    { "list-transient", 0, 0, G_OPTION_ARG_NONE, &opt.list_transient, "list only transient domains", NULL },
    { "list-running", 0, 0, G_OPTION_ARG_NONE, &opt.list_running, "list only running domains", NULL },
    { "list-paused", 0, 0, G_OPTION_ARG_NONE, &opt.list_paused, "list only paused domains", NULL },
    { "list-shutoff", 0, 0, G_OPTION_ARG_NONE, &opt.list_shutoff, "list only shutoff domains", NULL },
    { "list-other", 0, 0, G_OPTION_ARG_NONE, &opt.list_other, "list only domains in other states", NULL },
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
    { "event", 0, 0, G_OPTION_ARG_STRING, &opt.event, "which event type to wait for", "TYPE" },
    { "all", 0, 0, G_OPTION_ARG_NONE, &opt.all, "wait for all events instead of just one type", NULL },
    { "list", 0, 0, G_OPTION_ARG_NONE, &opt.list, "list valid event types", NULL },
    { "timestamp", 0, 0, G_OPTION_ARG_NONE, &opt.timestamp, "show timestamp for each printed event", NULL },
    { "loop", 0, 0, G_OPTION_ARG_NONE, &opt.loop, "loop until timeout or interrupt, rather than one-shot", NULL },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &opt.timeout, "timeout seconds", "S" },
    { NULL },
};

#define ANY G_MAXUINT
static const GOptionEntry net_list_options[] = {
    { "all", 0, 0, G_OPTION_ARG_NONE, &opt.all, "list inactive & active networks", NULL },
    { "inactive", 0, 0, G_OPTION_ARG_NONE, &opt.inactive, "list inactive networks", NULL },
    { "name", 0, 0, G_OPTION_ARG_NONE, &opt.name, "list network names only", NULL },
    { "uuid", 0, 0, G_OPTION_ARG_NONE, &opt.uuid, "list uuid's only", NULL },
    { "autostart", 0, 0, G_OPTION_ARG_NONE, &opt.autostart, "list networks with autostart enabled", NULL },
    { "no-autostart", 0, 0, G_OPTION_ARG_NONE, &opt.no_autostart, "list networks with autostart disabled", NULL },
    { NULL },
};
static const GOptionEntry net_dumpxml_options[] = {
    { "inactive", 0, 0, G_OPTION_ARG_NONE, &opt.inactive, "show inactive defined XML", NULL },
    { NULL },
};
static const GOptionEntry net_leases_options[] = {
    { "mac", 0, 0, G_OPTION_ARG_STRING, &opt.mac, "MAC address", "string" },
    { NULL },
};
static const GOptionEntry net_update_options[] = {
    { "config", 0, 0, G_OPTION_ARG_NONE, &opt.config, "affect next network startup", NULL },
    { "live", 0, 0, G_OPTION_ARG_NONE, &opt.live, "affect running network", NULL },
    { "current", 0, 0, G_OPTION_ARG_NONE, &opt.current, "affect current state of network", NULL },
    { NULL },
};
static const GOptionEntry domifaddr_options[] = {
    { "full", 0, 0, G_OPTION_ARG_NONE, &opt.all, "always display names and MACs of interfaces", NULL },
    { NULL },
};

static const Verb verbs[] = {
    { "autostart", "<domain> [--disable]", "autostart a domain", false, 1, 1, autostart_options, verb_autostart },
    { "blkiotune", "<domain>", "get blkio parameters (read-only)", true, 1, 1, no_options, verb_tune },
    { "change-media", "<domain> <path> [<source>] [--eject] [--insert] [--update] [--force]", "Change media of CD or floppy drive", false, 2, 3, change_media_options, verb_change_media },
    { "console", "<domain> [--devname <string>]", "connect to the guest console", false, 1, 1,
      console_options, verb_console },
    { "define", "<file>", "define (but don't start) a domain from an XML file", false, 1, 1, no_options, verb_define },
    { "destroy", "<domain> [--graceful]", "destroy (stop) a domain", false, 1, 1, destroy_options, verb_simple },
    { "domblklist", "<domain> [--inactive] [--details]", "list all domain blocks", true, 1, 1, domblklist_options, verb_domblklist },
    { "domblkstat", "<domain> [<device>] [--human]", "get device block stats for a domain", true, 1, 2, domblkstat_options, verb_domblkstat },
    { "domif-getlink", "<domain> <interface>", "get link state of a virtual interface", true, 2, 2, no_options, verb_domif_getlink },
    { "domifaddr", "<domain> [<interface>] [--full]", "Get network interfaces' addresses for a running domain", true, 1, 2, domifaddr_options, verb_domifaddr },
    { "domif-setlink", "<domain> <interface> <state>", "set link state of a virtual interface (up or down)", false, 3, 3, no_options, verb_domif_setlink },
    { "domiflist", "<domain> [--inactive]", "list all domain virtual interfaces", true, 1, 1, inactive_options, verb_domiflist },
    { "domifstat", "<domain> <interface>", "get network interface stats for a domain", true, 2, 2, no_options, verb_domifstat },
    { "dominfo", "<domain>", "domain information", true, 1, 1, no_options, verb_dominfo },
    { "dommemstat", "<domain> [--period <N>]", "get memory statistics for a domain", false, 1, 1, dommemstat_options, verb_dommemstat },
    { "domstate", "<domain> [--reason]", "domain state", true, 1, 1, domstate_options, verb_domstate },
    { "domstats", "[<domain>...] [--state] [--cpu-total] [--balloon] [--vcpu] [--interface] [--block] [--raw] [--enforce] [--list-NNN]...", "get statistics about one or multiple domains", true, 0, ANY, domstats_options, verb_domstats },
    { "dumpxml", "<domain> [--inactive] [--security-info] [--migratable] [--xpath <expression>] [--wrap]", "domain information in XML", true, 1, 1, dumpxml_options, verb_dumpxml },
    { "event", "[--domain <name>] {[--event <type>] [--all] [--list]} [--loop] [--timeout <S>] [--timestamp]", "print domain events", true, 0, 0, event_options, verb_event },
    { "help", "[<verb>]", "print help", true, 0, 1, no_options, verb_help },
    { "list", "[--all] [--inactive] [--state-running|paused|shutoff|other] [--persistent] [--transient] [--name] [--uuid] [--autostart] [--no-autostart] [--table]", "list domains", true, 0, 0, list_options, verb_list },
    { "memtune", "<domain>", "get memory parameters (read-only)", true, 1, 1, no_options, verb_tune },
    { "net-autostart", "<network> [--disable]", "autostart a network", false, 1, 1, autostart_options, verb_net_autostart },
    { "net-define", "<file>", "define an inactive persistent virtual network from an XML file", false, 1, 1, no_options, verb_net_define },
    { "net-destroy", "<network>", "destroy (stop) a network", false, 1, 1, no_options, verb_net_simple },
    { "net-dhcp-leases", "<network> [--mac <string>]", "print lease info for a given network", true, 1, 1, net_leases_options, verb_net_dhcp_leases },
    { "net-dumpxml", "<network> [--inactive]", "network information in XML", true, 1, 1, net_dumpxml_options, verb_net_dumpxml },
    { "net-info", "<network>", "network information", true, 1, 1, no_options, verb_net_info },
    { "net-list", "[--inactive] [--all] [--name] [--uuid] [--autostart] [--no-autostart]", "list networks", true, 0, 0, net_list_options, verb_net_list },
    { "net-start", "<network>", "start a (previously defined) inactive network", false, 1, 1, no_options, verb_net_simple },
    { "net-undefine", "<network>", "undefine a persistent network", false, 1, 1, no_options, verb_net_simple },
    { "net-update", "<network> <command> <section> <xml> [--config] [--live] [--current]", "update parts of an existing network's configuration", false, 4, 4, net_update_options, verb_net_update },
    { "reboot", "<domain> [--mode acpi]", "reboot a domain", false, 1, 1, reboot_options, verb_simple },
    { "resume", "<domain>", "resume a domain", false, 1, 1, no_options, verb_simple },
    { "schedinfo", "<domain>", "show scheduler parameters (read-only)", true, 1, 1, no_options, verb_tune },
    { "setmem", "<domain> <size> [--live] [--current]", "change memory allocation (balloon target; KiB unless a unit is given)", false, 2, 2, setmem_options, verb_setmem },
    { "shutdown", "<domain> [--mode acpi] [--timeout <S>]", "gracefully shutdown a domain (ACPI power button)", false, 1, 1, shutdown_options, verb_simple },
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

/* The names of a verb's positional arguments, from its synopsis: "<domain>"
 * or "[<device>]", not an option's value ("[--period <N>]") nor a list. */
static GPtrArray *positional_names(const Verb *v)
{
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) words = g_strsplit(v->args, " ", 0);
    for (guint i = 0; words[i]; i++) {
        const char *w = words[i][0] == '[' ? words[i] + 1 : words[i];
        if (*w != '<' || (i > 0 && strstr(words[i - 1], "--")))
            continue;
        if (strstr(w, "..."))
            break;
        g_ptr_array_add(names, g_strndup(w + 1, strcspn(w + 1, ">")));
    }
    return names;
}

/* virsh takes a positional argument by its name too (--domain NAME,
 * --size=1G), anywhere on the line: those are taken out of argv into
 * named[], the rest is left in *rest in order. */
static bool take_named(const Verb *v, int argc, char **argv, GPtrArray *names, char **named,
                       GPtrArray *rest)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            for (; i < argc; i++)
                g_ptr_array_add(rest, argv[i]);
            break;
        }
        const char *o = argv[i] + 2;
        size_t len = strcspn(o, "=");
        int slot = -1;
        for (guint k = 0; i > 0 && g_str_has_prefix(argv[i], "--") && k < names->len; k++)
            if (strlen(names->pdata[k]) == len && strncmp(names->pdata[k], o, len) == 0)
                slot = (int)k;
        if (slot < 0) {
            g_ptr_array_add(rest, argv[i]);
            continue;
        }
        if (named[slot]) {
            error_line("option --%s already seen", (char *)names->pdata[slot]);
            return false;
        }
        if (o[len] == '=') {
            named[slot] = (char *)o + len + 1;
        } else if (i + 1 < argc) {
            named[slot] = argv[++i];
        } else {
            error_line("expected syntax: --%s <%s>", (char *)names->pdata[slot],
                       strcmp(names->pdata[slot], "size") == 0 ? "number" : "string");
            return false;
        }
    }
    return true;
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
    g_autoptr(GPtrArray) names = positional_names(v);
    g_autofree char **named = g_new0(char *, names->len + 1);
    g_autoptr(GPtrArray) rest = g_ptr_array_new();
    if (!take_named(v, argc, argv, names, named, rest))
        return USAGE_ERROR;
    argc = (int)rest->len;
    g_ptr_array_add(rest, NULL);
    argv = (char **)rest->pdata;
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
    /* the named ones in their places, the others filling the gaps */
    g_autoptr(GPtrArray) merged = g_ptr_array_new();
    unsigned next = 0;
    for (guint k = 0; k < names->len || next < nargs; k++) {
        if (k < names->len && named[k])
            g_ptr_array_add(merged, named[k]);
        else if (next < nargs)
            g_ptr_array_add(merged, args[next++]);
        else
            break;
    }
    for (guint k = 0; merged->len > v->max_args && k < names->len; k++)
        if (named[k]) {
            /* the word in its place came first: virsh takes the name as
             * the second time */
            error_line("option --%s already seen", (char *)names->pdata[k]);
            return USAGE_ERROR;
        }
    args = (char **)merged->pdata;
    nargs = merged->len;
    if (nargs < v->min_args) {
        /* virsh names each missing one: <data> options in brackets, the
         * others (setmem's integer size) as --name */
        g_auto(GStrv) words = g_strsplit(v->args, " ", 0);
        for (unsigned i = nargs; i < v->min_args && words[i]; i++) {
            if (strcmp(words[i], "<size>") == 0)
                error_line("command '%s' requires --size option", v->name);
            else
                error_line("command '%s' requires %s option", v->name, words[i]);
        }
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
    g_free(opt.event);
    g_free(opt.xpath);
    g_free(opt.mode);
    return status;
}
