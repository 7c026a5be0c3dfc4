/* vmmd's libvirt front end: libvirt's remote RPC protocol on further unix
 * sockets, so virsh, libvirt-python and the tools built on libvirt manage
 * vmmd with no libvirt daemon (vmmd(8), "LIBVIRT CLIENTS").
 *
 * Each packet is decoded with libvirt's limits (libvirt_msg.c); a packet
 * that cannot be framed closes that connection only, anything else that
 * is wrong gets libvirt's error reply. Procedures that change or report
 * domains call the daemon's own protocol commands (commands.c) through
 * vmm_proto_server_call, so checks, logging and read-only rules are the
 * same as for vmmctl; their JSON answers are turned into libvirt's
 * structures here. */
#include "config.h"
#include "daemon/libvirt_msg.h"
#include "daemon/vmmd.h"
#include "proto/proto_int.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#define VIRT_READ_CHUNK (256 * 1024)
/* Replies queued for a client that does not read them: beyond this it is
 * closed (two of the largest messages). */
#define VIRT_MAX_OUTPUT (2 * (gsize)VIRT_MSG_MAX)
#define VIRT_MAX_CALLBACKS 256     /* event registrations per connection */
#define VIRT_MAX_STREAMS 16        /* consoles open per connection */
#define VIRT_MAX_CALLS 5           /* unanswered calls per connection (libvirtd's default) */
/* While this much output waits for the client, neither its calls nor its
 * consoles are read. */
#define VIRT_BACKLOG (1024 * 1024)

/* libvirt's virConnectSupportsFeature numbers (libvirt_internal.h). */
#define VIRT_FEATURE_TYPED_PARAM_STRING 9
#define VIRT_FEATURE_PROGRAM_KEEPALIVE 10
#define VIRT_FEATURE_REMOTE_EVENT_CALLBACK 14
/* virNetworkUpdate's command and section travel in the order of the
 * call's structure (older clients, not asking, swap them) */
#define VIRT_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER 16

typedef struct VirtClient VirtClient;

typedef struct {
    VmmdLibvirt *srv;
    int fd;
    bool read_only;
    char *path;
    GSource *src;
} VirtListener;

struct VmmdLibvirt {
    VmmDaemon *d;
    GPtrArray *listeners;
    GQueue clients;
    int next_callback;
};

struct VirtClient {
    int refs;
    VmmdLibvirt *srv;           /* NULL once closed */
    GList link;
    int fd;
    bool read_only;
    bool have_cred;
    struct ucred cred;
    GSource *src;
    GByteArray *in;
    ProtoOutBuf out;
    bool opened;
    bool closing;               /* close once the output is written */
    bool closed;
    char *uri;
    GHashTable *callbacks;      /* callbackID -> VirtCallback* */
    GHashTable *streams;        /* serial of the open call -> VirtStream* */
    guint calls;                /* calls not answered yet */
    bool processing;            /* in client_process */
};

/* A console: the domain's serial port host side relayed as libvirt
 * stream packets (procedure DOMAIN_OPEN_CONSOLE, the open call's serial). */
typedef struct {
    VirtClient *c;              /* owns it (c->streams) */
    guint serial;
    int fd;
    GSource *src;
} VirtStream;

/* An event registration: which event, of every domain (or network) or of
 * one. */
typedef struct {
    bool network;               /* a network event (CONNECT_NETWORK_EVENT_*) */
    int event_id;
    bool one_domain;            /* of one domain or network: uuid */
    char uuid[VIR_UUID_BUFLEN];
} VirtCallback;

typedef struct VirtCall VirtCall;
typedef void (*VirtHandler)(VirtCall *call);
typedef void (*VirtJsonFn)(VirtCall *call, json_object *ret);

struct VirtCall {
    VirtClient *c;
    VmmDaemon *d;               /* the client may close before the answer comes */
    vir_net_message_header hdr;
    const VirtProcInfo *info;
    void *args;
    VirtJsonFn json_fn;         /* for call_json */
    char *name;                 /* the domain a call_json is about */
    int invalid_arg_code;       /* libvirt's code for VMM_PROTO_INVALID_ARGUMENT, if not 0 */
};

static void client_update(VirtClient *c);
static void client_process(VirtClient *c);

static void stream_free(gpointer p)
{
    VirtStream *st = p;
    g_source_destroy(st->src);
    g_source_unref(st->src);
    close(st->fd);
    g_free(st);
}

static void client_unref(VirtClient *c)
{
    if (--c->refs > 0)
        return;
    g_byte_array_unref(c->in);
    proto_outbuf_clear(&c->out);
    g_free(c->uri);
    g_hash_table_destroy(c->callbacks);
    g_hash_table_destroy(c->streams);
    g_free(c);
}

static void client_close(VirtClient *c, const char *why)
{
    if (c->closed)
        return;
    /* Misbehaving clients are routine: debug level, as for JSON clients. */
    if (c->srv)
        vmmd_log(c->srv->d, NULL, LOG_DEBUG, "libvirt client fd %d (pid %d, uid %d): closing: "
                 "%s", c->fd, c->have_cred ? (int)c->cred.pid : -1,
                 c->have_cred ? (int)c->cred.uid : -1, why);
    c->closed = true;
    g_hash_table_remove_all(c->streams);
    g_source_destroy(c->src);
    g_source_unref(c->src);
    c->src = NULL;
    close(c->fd);
    c->fd = -1;
    if (c->srv) {
        g_queue_unlink(&c->srv->clients, &c->link);
        c->srv = NULL;
    }
    client_unref(c);
}

static void client_send(VirtClient *c, GBytes *msg)
{
    if (!msg || c->closed) {
        if (msg)
            g_bytes_unref(msg);
        return;
    }
    gsize len;
    const char *data = g_bytes_get_data(msg, &len);
    gsize queued = proto_outbuf_len(&c->out);
    if (queued > 0 && queued + len > VIRT_MAX_OUTPUT) {
        g_bytes_unref(msg);
        client_close(c, "output queue full: the client does not read its replies");
        return;
    }
    proto_outbuf_append(&c->out, data, len);
    g_bytes_unref(msg);
    if (queued == 0 && proto_outbuf_flush(&c->out, c->fd) < 0) {
        client_close(c, g_strerror(errno));
        return;
    }
    client_update(c);
}

/* ------------------------------------------------------------------------ */
/* calls                                                                    */

static void call_free(VirtCall *call)
{
    VirtClient *c = call->c;
    if (call->args) {
        xdr_free(call->info->args, call->args);
        g_free(call->args);
    }
    g_free(call->name);
    g_free(call);
    c->calls--;
    /* Packets that waited for this call's slot. */
    if (!c->closed)
        client_process(c);
    client_unref(c);
}

static void call_reply(VirtCall *call, void *ret)
{
    vir_net_message_header h = call->hdr;
    h.type = VIR_NET_REPLY;
    h.status = VIR_NET_OK;
    g_autoptr(GError) err = NULL;
    GBytes *msg = virt_msg_encode(&h, call->info->ret, ret, &err);
    if (!msg)
        msg = virt_msg_encode_error(&call->hdr, VIRT_ERR_INTERNAL_ERROR, err->message);
    client_send(call->c, msg);
    call_free(call);
}

static void call_error(VirtCall *call, int code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void call_error(VirtCall *call, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *detail = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    client_send(call->c, virt_msg_encode_error(&call->hdr, code, detail));
    call_free(call);
}

static int error_code(const VirtCall *call, const GError *err)
{
    if (err->domain == VMM_PROTO_ERROR && err->code == VMM_PROTO_INVALID_ARGUMENT &&
        call->invalid_arg_code)
        return call->invalid_arg_code;
    if (err->domain != VMM_PROTO_ERROR)
        return VIRT_ERR_OPERATION_FAILED;
    switch ((VmmProtoErrorClass)err->code) {
    case VMM_PROTO_COMMAND_NOT_FOUND: return VIRT_ERR_NO_SUPPORT;
    case VMM_PROTO_INVALID_ARGUMENT: return VIRT_ERR_INVALID_ARG;
    case VMM_PROTO_DOMAIN_NOT_FOUND: return VIRT_ERR_NO_DOMAIN;
    case VMM_PROTO_NETWORK_NOT_FOUND: return VIRT_ERR_NO_NETWORK;
    case VMM_PROTO_OPERATION_INVALID: return VIRT_ERR_OPERATION_INVALID;
    case VMM_PROTO_PERMISSION_DENIED: return VIRT_ERR_OPERATION_DENIED;
    case VMM_PROTO_INTERNAL_ERROR: return VIRT_ERR_INTERNAL_ERROR;
    default: return VIRT_ERR_OPERATION_FAILED;
    }
}

static void on_json(json_object *ret, const GError *err, void *opaque)
{
    VirtCall *call = opaque;
    if (!ret)
        call_error(call, error_code(call, err), "%s", err->message);
    else
        call->json_fn(call, ret);
}

/* One of the daemon's commands (commands.c), with this connection's
 * rights; fn turns its answer into the reply. */
static void call_json(VirtCall *call, const char *cmd, json_object *args, VirtJsonFn fn)
{
    call->json_fn = fn;
    vmm_proto_server_call(call->d->server, cmd, args, call->c->read_only,
                          call->c->have_cred ? &call->c->cred : NULL, on_json, call);
}

static void reply_void(VirtCall *call, json_object *ret)
{
    call_reply(call, NULL);
}

static bool check_flags(VirtCall *call, unsigned flags, unsigned allowed)
{
    if (flags & ~allowed) {
        call_error(call, VIRT_ERR_INVALID_ARG, "unsupported flags (0x%x) in function %s",
                   flags & ~allowed, call->info->name);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* domains                                                                  */

static void uuid_parse(const char *s, char out[VIR_UUID_BUFLEN])
{
    memset(out, 0, VIR_UUID_BUFLEN);
    for (int i = 0; i < VIR_UUID_BUFLEN && *s; i++) {
        while (*s == '-')
            s++;
        if (!g_ascii_isxdigit(s[0]) || !g_ascii_isxdigit(s[1]))
            return;
        out[i] = (char)(g_ascii_xdigit_value(s[0]) << 4 | g_ascii_xdigit_value(s[1]));
        s += 2;
    }
}

/* The wire form; name borrowed from dom. */
static void dom_to_wire(const VmmdDomain *dom, remote_nonnull_domain *out)
{
    out->name = dom->name;
    uuid_parse(dom->uuid, out->uuid);
    out->id = dom->id;
}

/* libvirt's server side finds a domain by its uuid; vmmd by uuid, then name. */
static VmmdDomain *call_domain(VirtCall *call, const remote_nonnull_domain *rd)
{
    char uuid[VMMD_UUID_STRLEN];
    vmmd_uuid_format((const uint8_t *)rd->uuid, uuid);
    VmmdDomain *dom = vmmd_domain_lookup(call->d, uuid);
    if (!dom && rd->name)
        dom = vmmd_domain_lookup(call->d, rd->name);
    if (!dom) {
        g_autofree char *shown = g_strescape(rd->name ? rd->name : "", NULL);
        call_error(call, VIRT_ERR_NO_DOMAIN, "no domain with matching uuid '%s' (%.100s)", uuid,
                   shown);
    }
    return dom;
}

static json_object *name_args(const VmmdDomain *dom)
{
    json_object *a = json_object_new_object();
    json_object_object_add(a, "name", json_object_new_string(dom->name));
    return a;
}

/* The reply to a call that returns the domain named call->name. */
static void reply_domain_named(VirtCall *call, const char *name)
{
    VmmdDomain *dom = vmmd_domain_lookup(call->d, name);
    if (!dom) {
        call_error(call, VIRT_ERR_NO_DOMAIN, "domain '%s' went away", name);
        return;
    }
    remote_domain_ret r;
    dom_to_wire(dom, &r.dom);
    call_reply(call, &r);
}

static void reply_define(VirtCall *call, json_object *ret)
{
    json_object *n = json_object_object_get(ret, "name");
    reply_domain_named(call, n ? json_object_get_string(n) : "");
}

static void define_xml(VirtCall *call, const char *xml)
{
    json_object *a = json_object_new_object();
    json_object_object_add(a, "xml", json_object_new_string(xml));
    call_json(call, "domain-define", a, reply_define);
}

static void h_define_xml(VirtCall *call)
{
    remote_domain_define_xml_args *a = call->args;
    define_xml(call, a->xml);
}

static void h_define_xml_flags(VirtCall *call)
{
    remote_domain_define_xml_flags_args *a = call->args;
    /* VIR_DOMAIN_DEFINE_VALIDATE: vmmd always validates. */
    if (check_flags(call, a->flags, 1))
        define_xml(call, a->xml);
}

/* A command that takes only the domain's name and answers {}. */
static void domain_cmd(VirtCall *call, const remote_nonnull_domain *rd, const char *cmd)
{
    VmmdDomain *dom = call_domain(call, rd);
    if (dom)
        call_json(call, cmd, name_args(dom), reply_void);
}

static void h_undefine(VirtCall *call)
{
    domain_cmd(call, &((remote_domain_args *)call->args)->dom, "domain-undefine");
}

static void h_undefine_flags(VirtCall *call)
{
    remote_domain_flags_args *a = call->args;
    /* Managed save, snapshot and checkpoint metadata, NVRAM, TPM state:
     * vmmd keeps none, so asking to remove them (or keep them) is met. */
    if (check_flags(call, a->flags, 0x7f))
        domain_cmd(call, &a->dom, "domain-undefine");
}

static void reply_created(VirtCall *call, json_object *ret)
{
    reply_domain_named(call, call->name);
}

static void h_create(VirtCall *call)
{
    domain_cmd(call, &((remote_domain_args *)call->args)->dom, "domain-start");
}

static void h_create_with_flags(VirtCall *call)
{
    remote_domain_flags_args *a = call->args;
    VmmdDomain *dom;
    /* VIR_DOMAIN_START_FORCE_BOOT: there is never a saved state to skip. */
    if (!check_flags(call, a->flags, 0x8) || !(dom = call_domain(call, &a->dom)))
        return;
    call->name = g_strdup(dom->name);
    call_json(call, "domain-start", name_args(dom), reply_created);
}

static void h_destroy(VirtCall *call)
{
    domain_cmd(call, &((remote_domain_args *)call->args)->dom, "domain-destroy");
}

static void h_destroy_flags(VirtCall *call)
{
    remote_domain_flags_args *a = call->args;
    /* VIR_DOMAIN_DESTROY_GRACEFUL: vmmd's destroy asks the worker to quit first. */
    if (check_flags(call, a->flags, 0x1))
        domain_cmd(call, &a->dom, "domain-destroy");
}

static void h_shutdown(VirtCall *call)
{
    domain_cmd(call, &((remote_domain_args *)call->args)->dom, "domain-shutdown");
}

static void h_shutdown_flags(VirtCall *call)
{
    remote_domain_flags_args *a = call->args;
    /* 0 (the driver's choice) or VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN: the
     * power button is what vmmd has. */
    if (check_flags(call, a->flags, 0x1))
        domain_cmd(call, &a->dom, "domain-shutdown");
}

static void h_reboot(VirtCall *call)
{
    remote_domain_flags_args *a = call->args;
    /* 0 or VIR_DOMAIN_REBOOT_DEFAULT: the worker resets the guest. */
    if (check_flags(call, a->flags, 0))
        domain_cmd(call, &a->dom, "domain-reboot");
}

static void h_suspend(VirtCall *call)
{
    domain_cmd(call, &((remote_domain_args *)call->args)->dom, "domain-suspend");
}

static void h_resume(VirtCall *call)
{
    domain_cmd(call, &((remote_domain_args *)call->args)->dom, "domain-resume");
}

static void h_set_autostart(VirtCall *call)
{
    remote_domain_set_autostart_args *a = call->args;
    VmmdDomain *dom = call_domain(call, &a->dom);
    if (!dom)
        return;
    json_object *args = name_args(dom);
    json_object_object_add(args, "autostart", json_object_new_boolean(a->autostart != 0));
    call_json(call, "domain-set-autostart", args, reply_void);
}

static void set_memory(VirtCall *call, const remote_nonnull_domain *rd, guint64 kib)
{
    VmmdDomain *dom = call_domain(call, rd);
    if (!dom)
        return;
    json_object *args = name_args(dom);
    json_object_object_add(args, "size_kib", json_object_new_int64((gint64)MIN(kib, G_MAXINT64)));
    call_json(call, "domain-set-memory", args, reply_void);
}

static void h_set_memory(VirtCall *call)
{
    remote_domain_set_memory_args *a = call->args;
    set_memory(call, &a->dom, a->memory);
}

static void h_set_memory_flags(VirtCall *call)
{
    remote_domain_set_memory_flags_args *a = call->args;
    /* The balloon is live only: VIR_DOMAIN_AFFECT_CURRENT (0) or _LIVE (1). */
    if (check_flags(call, a->flags, 0x1))
        set_memory(call, &a->dom, a->memory);
}

static void reply_xml(VirtCall *call, json_object *ret)
{
    json_object *x = json_object_object_get(ret, "xml");
    remote_domain_get_xml_desc_ret r = { .xml = (char *)(x ? json_object_get_string(x) : "") };
    call_reply(call, &r);
}

static void h_get_xml_desc(VirtCall *call)
{
    remote_domain_flags_args *a = call->args;
    VmmdDomain *dom;
    /* SECURE (no secrets in vmmd's XML), INACTIVE, UPDATE_CPU (the CPU is
     * as defined), MIGRATABLE. */
    if (!check_flags(call, a->flags, 0xf) || !(dom = call_domain(call, &a->dom)))
        return;
    json_object *args = name_args(dom);
    if (a->flags & 0x2)
        json_object_object_add(args, "inactive", json_object_new_boolean(true));
    call_json(call, "domain-get-xml", args, reply_xml);
}

static void h_get_info(VirtCall *call)
{
    VmmdDomain *dom = call_domain(call, &((remote_domain_args *)call->args)->dom);
    if (!dom)
        return;
    const VmmDomainDef *def = vmmd_domain_current_def(dom);
    remote_domain_get_info_ret r = {
        .state = (u_char)dom->state,
        .maxMem = def->memory_kib,
        .memory = def->current_memory_kib,
        .nrVirtCpu = (u_short)def->vcpus,
        .cpuTime = vmmd_domain_cpu_time_ns(dom),
    };
    call_reply(call, &r);
}

static void h_get_state(VirtCall *call)
{
    remote_domain_flags_args *a = call->args;
    VmmdDomain *dom;
    if (!check_flags(call, a->flags, 0) || !(dom = call_domain(call, &a->dom)))
        return;
    remote_domain_get_state_ret r = { dom->state, vmmd_reason_number(dom->state, dom->reason) };
    call_reply(call, &r);
}

static void h_get_autostart(VirtCall *call)
{
    VmmdDomain *dom = call_domain(call, &((remote_domain_args *)call->args)->dom);
    if (!dom)
        return;
    remote_domain_get_autostart_ret r = { dom->autostart };
    call_reply(call, &r);
}

static void h_get_max_memory(VirtCall *call)
{
    VmmdDomain *dom = call_domain(call, &((remote_domain_args *)call->args)->dom);
    if (!dom)
        return;
    remote_domain_get_max_memory_ret r = { vmmd_domain_current_def(dom)->memory_kib };
    call_reply(call, &r);
}

static void h_get_os_type(VirtCall *call)
{
    if (!call_domain(call, &((remote_domain_args *)call->args)->dom))
        return;
    remote_domain_get_os_type_ret r = { .type = (char *)"hvm" };
    call_reply(call, &r);
}

static void h_is_active(VirtCall *call)
{
    VmmdDomain *dom = call_domain(call, &((remote_domain_args *)call->args)->dom);
    if (!dom)
        return;
    remote_domain_int_ret r = { vmmd_domain_is_active(dom) };
    call_reply(call, &r);
}

static void h_is_persistent(VirtCall *call)
{
    VmmdDomain *dom = call_domain(call, &((remote_domain_args *)call->args)->dom);
    if (!dom)
        return;
    remote_domain_int_ret r = { dom->persistent };
    call_reply(call, &r);
}

/* IsUpdated and HasManagedSaveImage: vmmd has neither pending live
 * changes nor saved states. */
static void h_domain_false(VirtCall *call)
{
    if (!call_domain(call, call->args))   /* both start with the domain */
        return;
    remote_domain_int_ret r = { 0 };
    call_reply(call, &r);
}

/* ------------------------------------------------------------------------ */
/* listing and lookup                                                       */

static bool matches_list_flags(const VmmdDomain *dom, unsigned flags)
{
    bool active = vmmd_domain_is_active(dom);
    if ((flags & 0x3) && !((flags & 0x1 && active) || (flags & 0x2 && !active)))
        return false;
    if ((flags & 0xc) && !((flags & 0x4 && dom->persistent) || (flags & 0x8 && !dom->persistent)))
        return false;
    if (flags & 0xf0) {
        bool running = dom->state == VMMD_STATE_RUNNING, paused = dom->state == VMMD_STATE_PAUSED;
        bool shutoff = dom->state == VMMD_STATE_SHUTOFF;
        if (!((flags & 0x10 && running) || (flags & 0x20 && paused) ||
              (flags & 0x40 && shutoff) || (flags & 0x80 && !running && !paused && !shutoff)))
            return false;
    }
    /* MANAGEDSAVE / NO_MANAGEDSAVE: there are no saved states */
    if ((flags & 0x300) == 0x100)
        return false;
    if ((flags & 0xc00) && !((flags & 0x400 && dom->autostart) || (flags & 0x800 && !dom->autostart)))
        return false;
    /* HAS_SNAPSHOT / HAS_CHECKPOINT: none */
    if ((flags & 0x3000) == 0x1000 || (flags & 0xc000) == 0x4000)
        return false;
    return true;
}

static void h_list_all_domains(VirtCall *call)
{
    remote_connect_list_all_domains_args *a = call->args;
    if (!check_flags(call, a->flags, 0xffff))
        return;
    g_autoptr(GPtrArray) doms = vmmd_domain_list(call->d);
    remote_connect_list_all_domains_ret r = { 0 };
    g_autofree remote_nonnull_domain *list = g_new0(remote_nonnull_domain, doms->len + 1);
    for (guint i = 0; i < doms->len; i++) {
        VmmdDomain *dom = doms->pdata[i];
        if (matches_list_flags(dom, a->flags))
            dom_to_wire(dom, &list[r.ret++]);
    }
    if (a->need_results) {
        r.domains.domains_len = r.ret;
        r.domains.domains_val = list;
    }
    call_reply(call, &r);
}

static void h_list_domains(VirtCall *call)
{
    remote_connect_list_domains_args *a = call->args;
    if (a->maxids < 0 || a->maxids > REMOTE_DOMAIN_ID_LIST_MAX) {
        call_error(call, VIRT_ERR_RPC, "maxids %d is outside 0..%d", a->maxids,
                   REMOTE_DOMAIN_ID_LIST_MAX);
        return;
    }
    g_autoptr(GPtrArray) doms = vmmd_domain_list(call->d);
    g_autofree int *ids = g_new0(int, doms->len + 1);
    remote_connect_list_domains_ret r = { { 0, ids } };
    for (guint i = 0; i < doms->len && (int)r.ids.ids_len < a->maxids; i++)
        if (vmmd_domain_is_active(doms->pdata[i]))
            ids[r.ids.ids_len++] = ((VmmdDomain *)doms->pdata[i])->id;
    call_reply(call, &r);
}

static int count_domains(VmmDaemon *d, bool active)
{
    g_autoptr(GPtrArray) doms = vmmd_domain_list(d);
    int n = 0;
    for (guint i = 0; i < doms->len; i++)
        n += vmmd_domain_is_active(doms->pdata[i]) == active;
    return n;
}

static void h_num_of_domains(VirtCall *call)
{
    remote_connect_num_of_domains_ret r = { count_domains(call->d, true) };
    call_reply(call, &r);
}

static void h_num_of_defined_domains(VirtCall *call)
{
    remote_connect_num_of_defined_domains_ret r = { count_domains(call->d, false) };
    call_reply(call, &r);
}

static void h_list_defined_domains(VirtCall *call)
{
    remote_connect_list_defined_domains_args *a = call->args;
    if (a->maxnames < 0 || a->maxnames > REMOTE_DOMAIN_NAME_LIST_MAX) {
        call_error(call, VIRT_ERR_RPC, "maxnames %d is outside 0..%d", a->maxnames,
                   REMOTE_DOMAIN_NAME_LIST_MAX);
        return;
    }
    g_autoptr(GPtrArray) doms = vmmd_domain_list(call->d);
    g_autofree char **names = g_new0(char *, doms->len + 1);
    remote_connect_list_defined_domains_ret r = { { 0, names } };
    for (guint i = 0; i < doms->len && (int)r.names.names_len < a->maxnames; i++)
        if (!vmmd_domain_is_active(doms->pdata[i]))
            names[r.names.names_len++] = ((VmmdDomain *)doms->pdata[i])->name;
    call_reply(call, &r);
}

static void reply_lookup(VirtCall *call, VmmdDomain *dom, const char *what)
{
    if (!dom) {
        call_error(call, VIRT_ERR_NO_DOMAIN, "no domain with matching %s", what);
        return;
    }
    remote_domain_ret r;
    dom_to_wire(dom, &r.dom);
    call_reply(call, &r);
}

static void h_lookup_by_name(VirtCall *call)
{
    remote_domain_lookup_by_name_args *a = call->args;
    VmmdDomain *dom = g_hash_table_lookup(call->d->domains, a->name);
    g_autofree char *shown = g_strescape(a->name, NULL);
    g_autofree char *what = g_strdup_printf("name '%.100s'", shown);
    reply_lookup(call, dom, what);
}

static void h_lookup_by_uuid(VirtCall *call)
{
    remote_domain_lookup_by_uuid_args *a = call->args;
    char uuid[VMMD_UUID_STRLEN];
    vmmd_uuid_format((const uint8_t *)a->uuid, uuid);
    VmmdDomain *dom = vmmd_domain_lookup(call->d, uuid);
    g_autofree char *what = g_strdup_printf("uuid '%s'", uuid);
    reply_lookup(call, dom && !g_ascii_strcasecmp(dom->uuid, uuid) ? dom : NULL, what);
}

static void h_lookup_by_id(VirtCall *call)
{
    remote_domain_lookup_by_id_args *a = call->args;
    g_autoptr(GPtrArray) doms = vmmd_domain_list(call->d);
    VmmdDomain *found = NULL;
    for (guint i = 0; i < doms->len; i++) {
        VmmdDomain *dom = doms->pdata[i];
        if (vmmd_domain_is_active(dom) && dom->id == a->id)
            found = dom;
    }
    g_autofree char *what = g_strdup_printf("id %d", a->id);
    reply_lookup(call, found, what);
}

/* ------------------------------------------------------------------------ */
/* statistics: domain-stats' flat virsh domstats names                     */

static json_object *stats_of(json_object *ret)
{
    json_object *e = json_object_is_type(ret, json_type_array) && json_object_array_length(ret)
                         ? json_object_array_get_idx(ret, 0) : NULL;
    return e ? json_object_object_get(e, "stats") : NULL;
}

static bool stat_get(json_object *s, const char *key, gint64 *v)
{
    json_object *o;
    if (!s || !json_object_object_get_ex(s, key, &o) || !json_object_is_type(o, json_type_int))
        return false;
    *v = json_object_get_int64(o);
    return true;
}

static gint64 stat_or(json_object *s, const char *key, gint64 dflt)
{
    gint64 v;
    return stat_get(s, key, &v) ? v : dflt;
}

/* The N of PREFIX.N.name (or .path) equal to which, or -1. */
static int stat_device(json_object *s, const char *prefix, const char *which)
{
    g_autofree char *kc = g_strdup_printf("%s.count", prefix);
    gint64 n = stat_or(s, kc, 0);
    for (gint64 i = 0; i < n && i < 4096; i++) {
        static const char *const fields[] = { "name", "path" };
        for (unsigned k = 0; k < G_N_ELEMENTS(fields); k++) {
            g_autofree char *key = g_strdup_printf("%s.%" G_GINT64_FORMAT ".%s", prefix, i,
                                                   fields[k]);
            json_object *o = json_object_object_get(s, key);
            if (o && json_object_is_type(o, json_type_string) &&
                strcmp(json_object_get_string(o), which) == 0)
                return (int)i;
        }
    }
    return -1;
}

static void stats_for(VirtCall *call, const remote_nonnull_domain *rd, VirtJsonFn fn)
{
    VmmdDomain *dom = call_domain(call, rd);
    if (!dom)
        return;
    json_object *names = json_object_new_array();
    json_object_array_add(names, json_object_new_string(dom->name));
    json_object *args = json_object_new_object();
    json_object_object_add(args, "names", names);
    call->name = g_strdup(dom->name);
    call_json(call, "domain-stats", args, fn);
}

static void reply_memory_stats(VirtCall *call, json_object *ret)
{
    remote_domain_memory_stats_args *a = call->args;
    json_object *s = stats_of(ret);
    /* libvirt's virDomainMemoryStatTags, in order, and domstats' names. */
    static const char *const tags[] = {
        "balloon.swap_in", "balloon.swap_out", "balloon.major_fault", "balloon.minor_fault",
        "balloon.unused", "balloon.available", "balloon.current", "balloon.rss",
        "balloon.usable", "balloon.last-update", "balloon.disk_caches",
        "balloon.hugetlb_pgalloc", "balloon.hugetlb_pgfail" };
    remote_domain_memory_stat st[G_N_ELEMENTS(tags)];
    remote_domain_memory_stats_ret r = { { 0, st } };
    for (unsigned i = 0; i < G_N_ELEMENTS(tags) && r.stats.stats_len < a->maxStats; i++) {
        gint64 v;
        if (stat_get(s, tags[i], &v)) {
            st[r.stats.stats_len].tag = (int)i;
            st[r.stats.stats_len++].val = (guint64)v;
        }
    }
    call_reply(call, &r);
}

static void h_memory_stats(VirtCall *call)
{
    remote_domain_memory_stats_args *a = call->args;
    if (a->maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX) {
        call_error(call, VIRT_ERR_RPC, "maxStats %u is above %d", a->maxStats,
                   REMOTE_DOMAIN_MEMORY_STATS_MAX);
        return;
    }
    if (check_flags(call, a->flags, 0))
        stats_for(call, &a->dom, reply_memory_stats);
}

/* The domain of a statistics call, still there and running. */
static bool stats_domain_running(VirtCall *call)
{
    VmmdDomain *dom = vmmd_domain_lookup(call->d, call->name);
    if (!dom || !vmmd_domain_is_active(dom)) {
        call_error(call, VIRT_ERR_OPERATION_INVALID, "domain '%s' is not running", call->name);
        return false;
    }
    return true;
}

static int block_index(VirtCall *call, json_object *s, const char *path)
{
    if (!stats_domain_running(call))
        return -1;
    int i = stat_device(s, "block", path);
    if (i < 0)
        call_error(call, VIRT_ERR_INVALID_ARG, "invalid path: %s", path);
    return i;
}

static gint64 block_stat(json_object *s, int i, const char *field)
{
    g_autofree char *key = g_strdup_printf("block.%d.%s", i, field);
    return stat_or(s, key, -1);
}

static void reply_block_stats(VirtCall *call, json_object *ret)
{
    remote_domain_block_stats_args *a = call->args;
    json_object *s = stats_of(ret);
    int i = block_index(call, s, a->path);
    if (i < 0)
        return;
    remote_domain_block_stats_ret r = {
        block_stat(s, i, "rd.reqs"), block_stat(s, i, "rd.bytes"), block_stat(s, i, "wr.reqs"),
        block_stat(s, i, "wr.bytes"), block_stat(s, i, "errors"),
    };
    call_reply(call, &r);
}

static void h_block_stats(VirtCall *call)
{
    remote_domain_block_stats_args *a = call->args;
    stats_for(call, &a->dom, reply_block_stats);
}

static void reply_block_stats_flags(VirtCall *call, json_object *ret)
{
    remote_domain_block_stats_flags_args *a = call->args;
    json_object *s = stats_of(ret);
    int i = block_index(call, s, a->path);
    if (i < 0)
        return;
    /* libvirt's VIR_DOMAIN_BLOCK_STATS_* fields, from domstats' names. */
    static const char *const map[][2] = {
        { "rd_operations", "rd.reqs" }, { "rd_bytes", "rd.bytes" },
        { "rd_total_times", "rd.times" }, { "wr_operations", "wr.reqs" },
        { "wr_bytes", "wr.bytes" }, { "wr_total_times", "wr.times" },
        { "flush_operations", "fl.reqs" }, { "flush_total_times", "fl.times" },
        { "errs", "errors" } };
    remote_typed_param p[G_N_ELEMENTS(map)];
    remote_domain_block_stats_flags_ret r = { { 0, p }, 0 };
    for (unsigned k = 0; k < G_N_ELEMENTS(map); k++) {
        g_autofree char *key = g_strdup_printf("block.%d.%s", i, map[k][1]);
        gint64 v;
        if (!stat_get(s, key, &v))
            continue;
        r.nparams++;
        if ((int)r.params.params_len >= a->nparams)
            continue;   /* nparams 0: the client asks how many there are */
        remote_typed_param *t = &p[r.params.params_len++];
        t->field = (char *)map[k][0];
        t->value.type = VIR_TYPED_PARAM_LLONG;
        t->value.remote_typed_param_value_u.l = v;
    }
    if (a->nparams > 0)
        r.nparams = (int)r.params.params_len;
    call_reply(call, &r);
}

static void h_block_stats_flags(VirtCall *call)
{
    remote_domain_block_stats_flags_args *a = call->args;
    if (a->nparams < 0 || a->nparams > REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX) {
        call_error(call, VIRT_ERR_RPC, "nparams %d is outside 0..%d", a->nparams,
                   REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX);
        return;
    }
    /* VIR_TYPED_PARAM_STRING_OKAY (4) is the client's promise, not a request */
    if (check_flags(call, a->flags, 0x4))
        stats_for(call, &a->dom, reply_block_stats_flags);
}

static void reply_interface_stats(VirtCall *call, json_object *ret)
{
    remote_domain_interface_stats_args *a = call->args;
    json_object *s = stats_of(ret);
    if (!stats_domain_running(call))
        return;
    VmmdDomain *dom = vmmd_domain_lookup(call->d, call->name);
    int i = vmmd_find_interface(vmmd_domain_current_def(dom), a->device);
    if (i < 0) {
        call_error(call, VIRT_ERR_INVALID_ARG, "'%s' is not a known interface",
                   a->device);
        return;
    }
    static const char *const f[] = { "rx.bytes", "rx.pkts", "rx.errs", "rx.drop",
                                     "tx.bytes", "tx.pkts", "tx.errs", "tx.drop" };
    gint64 v[G_N_ELEMENTS(f)];
    for (unsigned k = 0; k < G_N_ELEMENTS(f); k++) {
        g_autofree char *key = g_strdup_printf("net.%d.%s", i, f[k]);
        v[k] = stat_or(s, key, -1);
    }
    remote_domain_interface_stats_ret r = { v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] };
    call_reply(call, &r);
}

static void h_interface_stats(VirtCall *call)
{
    remote_domain_interface_stats_args *a = call->args;
    stats_for(call, &a->dom, reply_interface_stats);
}

/* virConnectGetAllDomainStats: stats groups by name prefix. */
static unsigned stat_group(const char *key)
{
    static const struct { const char *prefix; unsigned bit; } groups[] = {
        { "state.", 0x1 }, { "cpu.", 0x2 }, { "balloon.", 0x4 }, { "vcpu.", 0x8 },
        { "net.", 0x10 }, { "block.", 0x20 } };
    for (unsigned i = 0; i < G_N_ELEMENTS(groups); i++)
        if (g_str_has_prefix(key, groups[i].prefix))
            return groups[i].bit;
    return 0;
}

#define VIRT_STATS_SUPPORTED 0x3fu

static void typed_param_from_json(remote_typed_param *t, const char *key, json_object *v)
{
    t->field = (char *)key;
    if (json_object_is_type(v, json_type_string)) {
        t->value.type = VIR_TYPED_PARAM_STRING;
        t->value.remote_typed_param_value_u.s = (char *)json_object_get_string(v);
    } else if (g_str_has_prefix(key, "state.") || (g_str_has_prefix(key, "vcpu.") &&
                                                    g_str_has_suffix(key, ".state"))) {
        t->value.type = VIR_TYPED_PARAM_INT;
        t->value.remote_typed_param_value_u.i = (int)json_object_get_int64(v);
    } else if (g_str_has_suffix(key, ".count") || !strcmp(key, "vcpu.current") ||
               !strcmp(key, "vcpu.maximum")) {
        t->value.type = VIR_TYPED_PARAM_UINT;
        t->value.remote_typed_param_value_u.ui = (u_int)json_object_get_int64(v);
    } else {
        t->value.type = VIR_TYPED_PARAM_ULLONG;
        t->value.remote_typed_param_value_u.ul = (u_quad_t)json_object_get_int64(v);
    }
}

static void reply_all_stats(VirtCall *call, json_object *ret)
{
    remote_connect_get_all_domain_stats_args *a = call->args;
    unsigned want = a->stats ? a->stats : VIRT_STATS_SUPPORTED;
    VmmDaemon *d = call->d;
    size_t n = json_object_is_type(ret, json_type_array) ? json_object_array_length(ret) : 0;
    g_autofree remote_domain_stats_record *recs = g_new0(remote_domain_stats_record, n + 1);
    remote_connect_get_all_domain_stats_ret r = { { 0, recs } };
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(ret, i);
        json_object *name = json_object_object_get(e, "name");
        json_object *s = json_object_object_get(e, "stats");
        VmmdDomain *dom = name ? vmmd_domain_lookup(d, json_object_get_string(name)) : NULL;
        if (!dom || !s || (!a->doms.doms_len && !matches_list_flags(dom, a->flags & 0xff)))
            continue;
        remote_domain_stats_record *rec = &recs[r.retStats.retStats_len++];
        dom_to_wire(dom, &rec->dom);
        rec->params.params_val = g_new0(remote_typed_param, json_object_object_length(s) + 1);
        /* Group by group, in libvirt's order, as virsh domstats prints them. */
        for (unsigned g = 1; g & VIRT_STATS_SUPPORTED; g <<= 1) {
            if (!(g & want))
                continue;
            json_object_object_foreach(s, key, v) {
                if (stat_group(key) == g)
                    typed_param_from_json(&rec->params.params_val[rec->params.params_len++],
                                          key, v);
            }
        }
    }
    call_reply(call, &r);
    for (u_int i = 0; i < r.retStats.retStats_len; i++)
        g_free(recs[i].params.params_val);
}

static void h_get_all_domain_stats(VirtCall *call)
{
    remote_connect_get_all_domain_stats_args *a = call->args;
    /* ENFORCE_STATS: groups vmmd does not have are an error, not left out. */
    if ((a->flags & 0x80000000u) && (a->stats & ~VIRT_STATS_SUPPORTED)) {
        call_error(call, VIRT_ERR_NO_SUPPORT, "stats types bits 0x%x are not supported by "
                   "vmmd", a->stats & ~VIRT_STATS_SUPPORTED);
        return;
    }
    /* list filters, BACKING, NOWAIT, ENFORCE_STATS */
    if (!check_flags(call, a->flags, 0xff | 0x40000000u | 0x20000000u | 0x80000000u))
        return;
    json_object *args = json_object_new_object();
    if (a->doms.doms_len) {
        json_object *names = json_object_new_array();
        for (u_int i = 0; i < a->doms.doms_len; i++) {
            char uuid[VMMD_UUID_STRLEN];
            vmmd_uuid_format((const uint8_t *)a->doms.doms_val[i].uuid, uuid);
            VmmdDomain *dom = vmmd_domain_lookup(call->d, uuid);
            json_object_array_add(names, json_object_new_string(dom ? dom->name
                                                                    : a->doms.doms_val[i].name));
        }
        json_object_object_add(args, "names", names);
    }
    call_json(call, "domain-stats", args, reply_all_stats);
}

/* ------------------------------------------------------------------------ */
/* the connection and the host                                              */

static void h_open(VirtCall *call)
{
    remote_connect_open_args *a = call->args;
    VirtClient *c = call->c;
    if (c->opened) {
        call_error(call, VIRT_ERR_OPERATION_INVALID, "the connection is already open");
        return;
    }
    /* VIR_CONNECT_RO (1) makes a read-write connection read-only;
     * VIR_CONNECT_NO_ALIASES (2) means nothing here. */
    if (a->flags & 1)
        c->read_only = true;
    c->opened = true;
    c->uri = g_strdup(a->name && *a->name && **a->name ? *a->name : "vmm:///system");
    call_reply(call, NULL);
}

static void h_close(VirtCall *call)
{
    VirtClient *c = call->c;
    call_reply(call, NULL);
    c->closing = true;
    client_update(c);
}

static void h_auth_list(VirtCall *call)
{
    /* The socket's file mode and SO_PEERCRED are the authentication, as
     * with libvirtd's unix sockets and auth_unix_rw="none". */
    remote_auth_type none = REMOTE_AUTH_NONE;
    remote_auth_list_ret r = { { 1, &none } };
    call_reply(call, &r);
}

static void h_supports_feature(VirtCall *call)
{
    remote_connect_supports_feature_args *a = call->args;
    remote_connect_supports_feature_ret r = {
        a->feature == VIRT_FEATURE_TYPED_PARAM_STRING ||
        a->feature == VIRT_FEATURE_PROGRAM_KEEPALIVE ||
        a->feature == VIRT_FEATURE_REMOTE_EVENT_CALLBACK ||
        a->feature == VIRT_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER };
    call_reply(call, &r);
}

static guint64 version_number(void)
{
    unsigned major = 0, minor = 0, micro = 0;
    sscanf(PACKAGE_VERSION, "%u.%u.%u", &major, &minor, &micro);
    return major * 1000000ull + minor * 1000ull + micro;
}

static void h_get_type(VirtCall *call)
{
    remote_connect_get_type_ret r = { .type = (char *)"VMM" };
    call_reply(call, &r);
}

static void h_get_version(VirtCall *call)
{
    remote_connect_get_version_ret r = { version_number() };
    call_reply(call, &r);
}

static void h_get_lib_version(VirtCall *call)
{
    remote_connect_get_lib_version_ret r = { version_number() };
    call_reply(call, &r);
}

static void h_get_hostname(VirtCall *call)
{
    remote_connect_get_hostname_ret r = { .hostname = (char *)g_get_host_name() };
    call_reply(call, &r);
}

static void h_get_uri(VirtCall *call)
{
    remote_connect_get_uri_ret r = { .uri = call->c->uri ? call->c->uri : (char *)"vmm:///system" };
    call_reply(call, &r);
}

static void h_is_secure(VirtCall *call)
{
    remote_domain_int_ret r = { 1 };   /* a local unix socket */
    call_reply(call, &r);
}

static guint64 host_memory_kib(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (guint64)pages * (guint64)size / 1024 : 0;
}

static void h_node_get_info(VirtCall *call)
{
    remote_node_get_info_ret r = { .memory = host_memory_kib(), .nodes = 1, .sockets = 1,
                                   .threads = 1 };
    g_strlcpy(r.model, "x86_64", sizeof(r.model));
    r.cpus = r.cores = (int)g_get_num_processors();
    call_reply(call, &r);
}

static void h_get_capabilities(VirtCall *call)
{
    g_autofree char *caps = g_markup_printf_escaped(
        "<capabilities>\n"
        "  <host>\n"
        "    <cpu>\n"
        "      <arch>x86_64</arch>\n"
        "      <topology sockets='1' dies='1' cores='%u' threads='1'/>\n"
        "    </cpu>\n"
        "  </host>\n"
        "  <guest>\n"
        "    <os_type>hvm</os_type>\n"
        "    <arch name='x86_64'>\n"
        "      <wordsize>64</wordsize>\n"
        "      <emulator>%s</emulator>\n"
        "      <domain type='kvm'/>\n"
        "    </arch>\n"
        "  </guest>\n"
        "</capabilities>\n", g_get_num_processors(), call->d->worker_path);
    remote_connect_get_capabilities_ret r = { .capabilities = caps };
    call_reply(call, &r);
}

/* ---- begin security model and labels ------------------------------------ */
/* virsh dominfo's Security lines, as libvirt's QEMU driver with its DAC
 * model gives them: model "dac", DOI "0", and for a running domain the
 * worker's "+UID:+GID" (libvirt's DAC driver reports it permissive). */
static void h_node_get_security_model(VirtCall *call)
{
    static char model[] = "dac", doi[] = "0";
    remote_node_get_security_model_ret r = {
        .model = { sizeof(model), model },
        .doi = { sizeof(doi), doi },
    };
    call_reply(call, &r);
}

static void h_get_security_label(VirtCall *call)
{
    VmmdDomain *dom = call_domain(call, &((remote_domain_args *)call->args)->dom);
    if (!dom)
        return;
    g_autofree char *label = vmmd_seclabel_process_label(dom);
    char empty[] = "";
    remote_domain_get_security_label_ret r = { .enforcing = 0 };
    r.label.label_val = label ? label : empty;
    r.label.label_len = (u_int)strlen(r.label.label_val) + 1;
    call_reply(call, &r);
}
/* One model, so one label while the domain runs and none otherwise, as
 * libvirt's QEMU driver lists them. */
static void h_get_security_label_list(VirtCall *call)
{
    VmmdDomain *dom = call_domain(call, &((remote_domain_args *)call->args)->dom);
    if (!dom)
        return;
    g_autofree char *label = vmmd_seclabel_process_label(dom);
    remote_domain_get_security_label_ret one = { .enforcing = 0 };
    remote_domain_get_security_label_list_ret r = { .ret = 0 };
    if (label) {
        one.label.label_val = label;
        one.label.label_len = (u_int)strlen(label) + 1;
        r.labels.labels_val = &one;
        r.labels.labels_len = 1;
        r.ret = 1;
    }
    call_reply(call, &r);
}
/* ---- end security model and labels -------------------------------------- */

/* ------------------------------------------------------------------------ */
/* the console stream                                                       */

static void stream_send(VirtClient *c, guint serial, vir_net_message_status status,
                        const void *data, gsize n)
{
    vir_net_message_header h = { REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION,
                                 REMOTE_PROC_DOMAIN_OPEN_CONSOLE, VIR_NET_STREAM, serial,
                                 status };
    client_send(c, virt_msg_encode_raw(&h, data, n));
}

static gboolean stream_ready(GIOCondition rev, gpointer data)
{
    VirtStream *st = data;
    VirtClient *c = st->c;
    char buf[64 * 1024];
    ssize_t n = read(st->fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    c->refs++;
    if (n > 0) {
        stream_send(c, st->serial, VIR_NET_CONTINUE, buf, (gsize)n);
    } else {
        /* The guest side is gone (the domain stopped): the end of the
         * stream, which the client confirms by finishing or aborting it. */
        guint serial = st->serial;
        g_hash_table_remove(c->streams, GUINT_TO_POINTER(serial));   /* frees st */
        stream_send(c, serial, VIR_NET_OK, NULL, 0);
    }
    client_update(c);
    client_unref(c);
    return G_SOURCE_CONTINUE;
}

/* A stream packet from the client: keystrokes, or its finish or abort. */
static void client_stream_packet(VirtClient *c, const vir_net_message_header *hdr,
                                 const uint8_t *data, gsize n)
{
    VirtStream *st = hdr->proc == REMOTE_PROC_DOMAIN_OPEN_CONSOLE
                         ? g_hash_table_lookup(c->streams, GUINT_TO_POINTER(hdr->serial)) : NULL;
    if (hdr->status == VIR_NET_CONTINUE) {
        /* A terminal's input is small; what the guest side cannot take at
         * once is dropped rather than stall the daemon. */
        if (st && n > 0 && write(st->fd, data, n) < (ssize_t)n)
            vmmd_log(c->srv->d, NULL, LOG_DEBUG, "libvirt console: input dropped: %s",
                     g_strerror(errno));
        return;
    }
    /* Finish or abort, also of a stream that already ended: confirmed with
     * an empty OK packet, which is what the client waits for. */
    if (st)
        g_hash_table_remove(c->streams, GUINT_TO_POINTER(hdr->serial));
    vir_net_message_header h = *hdr;
    h.status = VIR_NET_OK;
    client_send(c, virt_msg_encode_raw(&h, NULL, 0));
}

static void reply_console(VirtCall *call, json_object *ret)
{
    VirtClient *c = call->c;
    json_object *t = json_object_object_get(ret, "type"), *p = json_object_object_get(ret, "path");
    const char *type = t ? json_object_get_string(t) : "", *path = p ? json_object_get_string(p) : "";
    g_autoptr(GError) err = NULL;
    int fd = -1;
    if (!strcmp(type, "pty")) {
        fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            g_set_error(&err, G_IO_ERROR, g_io_error_from_errno(errno), "cannot open '%s': %s",
                        path, g_strerror(errno));
    } else if (!strcmp(type, "unix")) {
        fd = proto_connect_unix(path, 2000, &err);
        if (fd >= 0 && !proto_set_nonblocking(fd, true)) {
            close(fd);
            fd = -1;
            g_set_error(&err, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot use '%s'", path);
        }
    } else {
        g_set_error(&err, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "console type '%s'", type);
    }
    if (fd < 0) {
        call_error(call, VIRT_ERR_OPERATION_FAILED, "cannot open the console of domain '%s': %s",
                   call->name, err->message);
        return;
    }
    if (g_hash_table_size(c->streams) >= VIRT_MAX_STREAMS) {
        close(fd);
        call_error(call, VIRT_ERR_OPERATION_FAILED, "more than %d consoles open on one "
                   "connection", VIRT_MAX_STREAMS);
        return;
    }
    guint serial = call->hdr.serial;
    c->refs++;
    call_reply(call, NULL);   /* the reply goes before any data */
    if (c->closed) {
        close(fd);
    } else {
        VirtStream *st = g_new0(VirtStream, 1);
        st->c = c;
        st->serial = serial;
        st->fd = fd;
        st->src = proto_fd_source_new(fd, G_IO_IN, stream_ready, st, NULL);
        g_hash_table_replace(c->streams, GUINT_TO_POINTER(serial), st);
        client_update(c);
    }
    client_unref(c);
}

static void h_open_console(VirtCall *call)
{
    remote_domain_open_console_args *a = call->args;
    VmmdDomain *dom;
    /* FORCE, SAFE: vmmd's consoles take several readers at once */
    if (!check_flags(call, a->flags, 0x3) || !(dom = call_domain(call, &a->dom)))
        return;
    const char *dev = a->dev_name ? *a->dev_name : NULL;
    if (dev && strcmp(dev, "serial0") && strcmp(dev, "console0")) {
        call_error(call, VIRT_ERR_OPERATION_FAILED, "cannot find character device %s (vmmd "
                   "offers serial0, the first serial port)", dev);
        return;
    }
    call->name = g_strdup(dom->name);
    call_json(call, "domain-console", name_args(dom), reply_console);
}

/* ------------------------------------------------------------------------ */
/* events                                                                   */

/* A registration; uuid (of the domain or network to filter on) or NULL. */
static void event_register(VirtCall *call, bool network, int event_id, const char *uuid)
{
    VirtClient *c = call->c;
    if (g_hash_table_size(c->callbacks) >= VIRT_MAX_CALLBACKS) {
        call_error(call, VIRT_ERR_OPERATION_FAILED, "more than %d event callbacks",
                   VIRT_MAX_CALLBACKS);
        return;
    }
    int id = ++c->srv->next_callback;
    VirtCallback *cb = g_new0(VirtCallback, 1);
    cb->network = network;
    cb->event_id = event_id;
    /* virsh event --domain, net-event --network: libvirt's server filters
     * by the uuid */
    if (uuid) {
        cb->one_domain = true;
        memcpy(cb->uuid, uuid, VIR_UUID_BUFLEN);
    }
    g_hash_table_insert(c->callbacks, GINT_TO_POINTER(id), cb);
    /* the same layout for domain and network registrations */
    remote_connect_domain_event_callback_register_any_ret r = { id };
    call_reply(call, &r);
}

static void h_event_register(VirtCall *call)
{
    remote_connect_domain_event_callback_register_any_args *a = call->args;
    if (a->eventID != 0 && a->eventID != 1) {   /* LIFECYCLE, REBOOT */
        call_error(call, VIRT_ERR_NO_SUPPORT, "domain event %d", a->eventID);
        return;
    }
    event_register(call, false, a->eventID, a->dom ? a->dom->uuid : NULL);
}

/* Domain and network callbacks share the numbering; each deregister call
 * removes its own kind only. */
static void event_deregister(VirtCall *call, int id, bool network)
{
    const VirtCallback *cb = g_hash_table_lookup(call->c->callbacks, GINT_TO_POINTER(id));
    if (!cb || cb->network != network) {
        call_error(call, VIRT_ERR_INVALID_ARG, "no %s event callback %d",
                   network ? "network" : "domain", id);
        return;
    }
    g_hash_table_remove(call->c->callbacks, GINT_TO_POINTER(id));
    call_reply(call, NULL);
}

static void h_event_deregister(VirtCall *call)
{
    remote_connect_domain_event_callback_deregister_any_args *a = call->args;
    event_deregister(call, a->callbackID, false);
}

/* libvirt's virDomainEventType and details for a state vmmd reports. */
static bool lifecycle_event(VmmdState state, const char *reason, int *event, int *detail)
{
    *detail = 0;
    switch (state) {
    case VMMD_STATE_RUNNING:
        if (!strcmp(reason, "unpaused")) {
            *event = 4;   /* RESUMED, UNPAUSED */
        } else {
            *event = 2;   /* STARTED, BOOTED */
        }
        return true;
    case VMMD_STATE_PAUSED:
        *event = 3;       /* SUSPENDED, PAUSED */
        return true;
    case VMMD_STATE_SHUTDOWN:
        *event = 6;       /* SHUTDOWN, FINISHED */
        return false;     /* libvirt reports it when the guest is done */
    case VMMD_STATE_SHUTOFF:
        *event = 5;       /* STOPPED */
        *detail = !strcmp(reason, "destroyed") ? 1 : !strcmp(reason, "crashed") ? 2
                : !strcmp(reason, "failed") ? 5 : 0;   /* DESTROYED, CRASHED, FAILED, SHUTDOWN */
        return true;
    case VMMD_STATE_CRASHED:
        *event = 5;
        *detail = 2;
        return true;
    default:
        return false;
    }
}

/* To every registration for event_id of this kind (network or domain)
 * whose filter lets uuid through. */
static void send_event(VmmdLibvirt *srv, bool network, const char uuid[VIR_UUID_BUFLEN],
                       int event_id, int proc, xdrproc_t xdr, void *msg, int *callback_field)
{
    vir_net_message_header h = { REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, proc, VIR_NET_MESSAGE,
                                 0, VIR_NET_OK };
    for (GList *l = srv->clients.head; l;) {
        VirtClient *c = l->data;
        l = l->next;   /* client_send may close c */
        GHashTableIter it;
        gpointer key, val;
        g_hash_table_iter_init(&it, c->callbacks);
        while (!c->closed && g_hash_table_iter_next(&it, &key, &val)) {
            const VirtCallback *cb = val;
            if (cb->network != network || cb->event_id != event_id ||
                (cb->one_domain && memcmp(cb->uuid, uuid, VIR_UUID_BUFLEN)))
                continue;
            *callback_field = GPOINTER_TO_INT(key);
            client_send(c, virt_msg_encode(&h, xdr, msg, NULL));
        }
    }
}

void vmmd_libvirt_state_event(VmmdDomain *dom)
{
    int event, detail;
    if (lifecycle_event(dom->state, dom->reason, &event, &detail))
        vmmd_libvirt_event(dom, event, detail);
}

void vmmd_libvirt_event(VmmdDomain *dom, int event, int detail)
{
    VmmdLibvirt *srv = dom->daemon->libvirt;
    if (!srv)
        return;
    remote_domain_event_callback_lifecycle_msg m = { .msg = { .event = event, .detail = detail } };
    dom_to_wire(dom, &m.msg.dom);
    send_event(srv, false, m.msg.dom.uuid, 0, REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE,
               (xdrproc_t)xdr_remote_domain_event_callback_lifecycle_msg, &m, &m.callbackID);
}

void vmmd_libvirt_reboot_event(VmmdDomain *dom)
{
    VmmdLibvirt *srv = dom->daemon->libvirt;
    if (!srv)
        return;
    remote_domain_event_callback_reboot_msg m = { 0 };
    dom_to_wire(dom, &m.msg.dom);
    send_event(srv, false, m.msg.dom.uuid, 1, REMOTE_PROC_DOMAIN_EVENT_CALLBACK_REBOOT,
               (xdrproc_t)xdr_remote_domain_event_callback_reboot_msg, &m, &m.callbackID);
}

/* ======================================================================== */
/* networks (issue 15): libvirt's network procedures and domifaddr, on the */
/* daemon's network-* commands (commands.c, network.c)                      */

/* libvirt's virConnectListAllNetworksFlags */
#define VIRT_NET_LIST_INACTIVE 0x1
#define VIRT_NET_LIST_ACTIVE 0x2
#define VIRT_NET_LIST_PERSISTENT 0x4
#define VIRT_NET_LIST_TRANSIENT 0x8
#define VIRT_NET_LIST_AUTOSTART 0x10
#define VIRT_NET_LIST_NO_AUTOSTART 0x20
/* virNetworkUpdateFlags, virNetworkXMLFlags */
#define VIRT_NET_UPDATE_LIVE 0x1
#define VIRT_NET_UPDATE_CONFIG 0x2
#define VIRT_NET_XML_INACTIVE 0x1

/* The wire form; name borrowed from n. */
static void net_to_wire(const VmmdNetwork *n, remote_nonnull_network *out)
{
    out->name = (char *)vmmd_network_name(n);
    memcpy(out->uuid, vmmd_network_current_def(n)->uuid, VIR_UUID_BUFLEN);
}

/* As for domains: by uuid, then by name. */
static VmmdNetwork *call_network(VirtCall *call, const remote_nonnull_network *rn)
{
    char uuid[VMMD_UUID_STRLEN];
    vmmd_uuid_format((const uint8_t *)rn->uuid, uuid);
    VmmdNetwork *n = vmmd_network_lookup(call->d, uuid);
    if (!n && rn->name)
        n = vmmd_network_lookup(call->d, rn->name);
    if (!n) {
        g_autofree char *shown = g_strescape(rn->name ? rn->name : "", NULL);
        call_error(call, VIRT_ERR_NO_NETWORK, "no network with matching uuid '%s' (%.100s)",
                   uuid, shown);
    }
    return n;
}

static json_object *net_name_args(const VmmdNetwork *n)
{
    json_object *a = json_object_new_object();
    json_object_object_add(a, "name", json_object_new_string(vmmd_network_name(n)));
    return a;
}

static void reply_network(VirtCall *call, VmmdNetwork *n, const char *what)
{
    if (!n) {
        call_error(call, VIRT_ERR_NO_NETWORK, "no network with matching %s", what);
        return;
    }
    remote_network_ret r;
    net_to_wire(n, &r.net);
    call_reply(call, &r);
}

static bool matches_net_flags(const VmmdNetwork *n, unsigned flags)
{
    bool active = vmmd_network_is_active(n), persistent = vmmd_network_is_persistent(n);
    bool autostart = vmmd_network_is_autostart(n);
    if ((flags & 0x3) && !((flags & VIRT_NET_LIST_ACTIVE && active) ||
                           (flags & VIRT_NET_LIST_INACTIVE && !active)))
        return false;
    if ((flags & 0xc) && !((flags & VIRT_NET_LIST_PERSISTENT && persistent) ||
                           (flags & VIRT_NET_LIST_TRANSIENT && !persistent)))
        return false;
    if ((flags & 0x30) && !((flags & VIRT_NET_LIST_AUTOSTART && autostart) ||
                            (flags & VIRT_NET_LIST_NO_AUTOSTART && !autostart)))
        return false;
    return true;
}

static void h_net_list_all(VirtCall *call)
{
    remote_connect_list_all_networks_args *a = call->args;
    if (!check_flags(call, a->flags, 0x3f))
        return;
    g_autoptr(GPtrArray) all = vmmd_network_list(call->d);
    g_autofree remote_nonnull_network *list = g_new0(remote_nonnull_network, all->len + 1);
    remote_connect_list_all_networks_ret r = { { 0, NULL }, 0 };
    for (guint i = 0; i < all->len; i++)
        if (matches_net_flags(all->pdata[i], a->flags))
            net_to_wire(all->pdata[i], &list[r.ret++]);
    if (a->need_results) {
        r.nets.nets_len = r.ret;
        r.nets.nets_val = list;
    }
    call_reply(call, &r);
}

/* The older calls: names of active (or defined, inactive) networks. */
static void net_names(VirtCall *call, bool active)
{
    remote_connect_list_networks_args *a = call->args;
    if (a->maxnames < 0 || a->maxnames > REMOTE_NETWORK_LIST_MAX) {
        call_error(call, VIRT_ERR_RPC, "maxnames %d is outside 0..%d", a->maxnames,
                   REMOTE_NETWORK_LIST_MAX);
        return;
    }
    g_autoptr(GPtrArray) all = vmmd_network_list(call->d);
    g_autofree char **names = g_new0(char *, all->len + 1);
    remote_connect_list_networks_ret r = { { 0, names } };
    for (guint i = 0; i < all->len && (int)r.names.names_len < a->maxnames; i++)
        if (vmmd_network_is_active(all->pdata[i]) == active)
            names[r.names.names_len++] = (char *)vmmd_network_name(all->pdata[i]);
    call_reply(call, &r);
}

static void h_net_list(VirtCall *call)
{
    net_names(call, true);
}

static void h_net_list_defined(VirtCall *call)
{
    net_names(call, false);
}

static void net_count(VirtCall *call, bool active)
{
    g_autoptr(GPtrArray) all = vmmd_network_list(call->d);
    remote_network_num_ret r = { 0 };
    for (guint i = 0; i < all->len; i++)
        r.num += vmmd_network_is_active(all->pdata[i]) == active;
    call_reply(call, &r);
}

static void h_net_num(VirtCall *call)
{
    net_count(call, true);
}

static void h_net_num_defined(VirtCall *call)
{
    net_count(call, false);
}

static void h_net_lookup_by_name(VirtCall *call)
{
    remote_network_lookup_by_name_args *a = call->args;
    VmmdNetwork *n = g_hash_table_lookup(call->d->networks, a->name);
    g_autofree char *shown = g_strescape(a->name, NULL);
    g_autofree char *what = g_strdup_printf("name '%.100s'", shown);
    reply_network(call, n, what);
}

static void h_net_lookup_by_uuid(VirtCall *call)
{
    remote_network_lookup_by_uuid_args *a = call->args;
    char uuid[VMMD_UUID_STRLEN];
    vmmd_uuid_format((const uint8_t *)a->uuid, uuid);
    VmmdNetwork *n = vmmd_network_lookup(call->d, uuid);
    /* a network named like a uuid is not found by uuid */
    if (n && memcmp(vmmd_network_current_def(n)->uuid, a->uuid, VIR_UUID_BUFLEN))
        n = NULL;
    g_autofree char *what = g_strdup_printf("uuid '%s'", uuid);
    reply_network(call, n, what);
}

static void reply_net_defined(VirtCall *call, json_object *ret)
{
    json_object *o = json_object_object_get(ret, "name");
    const char *name = o ? json_object_get_string(o) : "";
    VmmdNetwork *n = vmmd_network_lookup(call->d, name);
    if (!n) {
        call_error(call, VIRT_ERR_NO_NETWORK, "network '%s' went away", name);
        return;
    }
    reply_network(call, n, NULL);
}

static void h_net_define(VirtCall *call)
{
    remote_network_define_xml_args *a = call->args;
    json_object *args = json_object_new_object();
    json_object_object_add(args, "xml", json_object_new_string(a->xml));
    call->invalid_arg_code = VIRT_ERR_XML_ERROR;   /* what libvirt's parser reports */
    call_json(call, "network-define", args, reply_net_defined);
}

/* A command that takes only the network's name and answers {}. */
static void network_cmd(VirtCall *call, const char *cmd)
{
    VmmdNetwork *n = call_network(call, &((remote_network_args *)call->args)->net);
    if (n)
        call_json(call, cmd, net_name_args(n), reply_void);
}

static void h_net_undefine(VirtCall *call)
{
    network_cmd(call, "network-undefine");
}

static void h_net_create(VirtCall *call)
{
    network_cmd(call, "network-start");
}

static void h_net_destroy(VirtCall *call)
{
    network_cmd(call, "network-destroy");
}

static void reply_net_xml(VirtCall *call, json_object *ret)
{
    json_object *x = json_object_object_get(ret, "xml");
    remote_network_get_xml_desc_ret r = { .xml = (char *)(x ? json_object_get_string(x) : "") };
    call_reply(call, &r);
}

static void h_net_get_xml_desc(VirtCall *call)
{
    remote_network_get_xml_desc_args *a = call->args;
    VmmdNetwork *n;
    if (!check_flags(call, a->flags, VIRT_NET_XML_INACTIVE) || !(n = call_network(call, &a->net)))
        return;
    json_object *args = net_name_args(n);
    if (a->flags & VIRT_NET_XML_INACTIVE)
        json_object_object_add(args, "inactive", json_object_new_boolean(true));
    call_json(call, "network-get-xml", args, reply_net_xml);
}

static void h_net_get_autostart(VirtCall *call)
{
    VmmdNetwork *n = call_network(call, &((remote_network_args *)call->args)->net);
    if (!n)
        return;
    remote_domain_get_autostart_ret r = { vmmd_network_is_autostart(n) };
    call_reply(call, &r);
}

static void h_net_set_autostart(VirtCall *call)
{
    remote_network_set_autostart_args *a = call->args;
    VmmdNetwork *n = call_network(call, &a->net);
    if (!n)
        return;
    json_object *args = net_name_args(n);
    json_object_object_add(args, "autostart", json_object_new_boolean(a->autostart != 0));
    call_json(call, "network-set-autostart", args, reply_void);
}

static void h_net_get_bridge_name(VirtCall *call)
{
    VmmdNetwork *n = call_network(call, &((remote_network_args *)call->args)->net);
    if (!n)
        return;
    const char *br = vmmd_network_current_def(n)->bridge;
    if (!br) {
        call_error(call, VIRT_ERR_INTERNAL_ERROR, "network '%s' does not have a bridge name.",
                   vmmd_network_name(n));
        return;
    }
    remote_network_get_bridge_name_ret r = { .name = (char *)br };
    call_reply(call, &r);
}

static void h_net_is_active(VirtCall *call)
{
    VmmdNetwork *n = call_network(call, &((remote_network_args *)call->args)->net);
    if (!n)
        return;
    remote_domain_int_ret r = { vmmd_network_is_active(n) };
    call_reply(call, &r);
}

static void h_net_is_persistent(VirtCall *call)
{
    VmmdNetwork *n = call_network(call, &((remote_network_args *)call->args)->net);
    if (!n)
        return;
    remote_domain_int_ret r = { vmmd_network_is_persistent(n) };
    call_reply(call, &r);
}

static void h_net_update(VirtCall *call)
{
    remote_network_update_args *a = call->args;
    /* virNetworkUpdateCommand and virNetworkUpdateSection, by number; the
     * daemon's network-update takes virsh's words */
    static const char *const commands[] = { NULL, "modify", "delete", "add-last", "add-first" };
    static const char *const sections[] = {
        NULL, "bridge", "domain", "ip", "ip-dhcp-host", "ip-dhcp-range", "forward",
        "forward-interface", "forward-pf", "portgroup", "dns-host", "dns-txt", "dns-srv" };
    VmmdNetwork *n;
    if (!check_flags(call, a->flags, VIRT_NET_UPDATE_LIVE | VIRT_NET_UPDATE_CONFIG))
        return;
    if (a->command == 0 || a->command >= G_N_ELEMENTS(commands)) {
        call_error(call, VIRT_ERR_INVALID_ARG, "unknown network update command %u", a->command);
        return;
    }
    if (a->section == 0 || a->section >= G_N_ELEMENTS(sections)) {
        call_error(call, VIRT_ERR_INVALID_ARG, "unknown network update section %u", a->section);
        return;
    }
    /* the <ip> of the host's family that has <dhcp> is the one updated */
    if (a->parentIndex > 0) {
        call_error(call, VIRT_ERR_NO_SUPPORT, "parentIndex %d: vmmd updates the first <ip> "
                   "with <dhcp> of the host's address family (parentIndex -1 or 0)",
                   a->parentIndex);
        return;
    }
    if (!(n = call_network(call, &a->net)))
        return;
    json_object *args = net_name_args(n);
    json_object_object_add(args, "command", json_object_new_string(commands[a->command]));
    json_object_object_add(args, "section", json_object_new_string(sections[a->section]));
    json_object_object_add(args, "xml", json_object_new_string(a->xml));
    /* VIR_NETWORK_UPDATE_AFFECT_CURRENT (0) is network-update without
     * either: the running network if it runs, else the definition */
    json_object_object_add(args, "live", json_object_new_boolean(a->flags & VIRT_NET_UPDATE_LIVE));
    json_object_object_add(args, "config",
                           json_object_new_boolean(a->flags & VIRT_NET_UPDATE_CONFIG));
    call_json(call, "network-update", args, reply_void);
}

static char **opt_string(json_object *o, const char *key, char **slot)
{
    json_object *v = json_object_object_get(o, key);
    if (!v || !json_object_is_type(v, json_type_string))
        return NULL;
    *slot = (char *)json_object_get_string(v);
    return slot;
}

static const char *str_or(json_object *o, const char *key, const char *dflt)
{
    json_object *v = json_object_object_get(o, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : dflt;
}

/* virIPAddrType of the daemon's "ipv4"/"ipv6" */
static int ip_type(json_object *o)
{
    return !strcmp(str_or(o, "type", "ipv4"), "ipv6") ? 1 : 0;
}

static void reply_leases(VirtCall *call, json_object *ret)
{
    remote_network_get_dhcp_leases_args *a = call->args;
    size_t n = json_object_is_type(ret, json_type_array) ? json_object_array_length(ret) : 0;
    n = MIN(n, (size_t)REMOTE_NETWORK_DHCP_LEASES_MAX);
    g_autofree remote_network_dhcp_lease *l = g_new0(remote_network_dhcp_lease, n + 1);
    /* the optional strings point into slots of their own */
    g_autofree char **slots = g_new0(char *, 3 * n + 1);
    remote_network_get_dhcp_leases_ret r = { { 0, NULL }, (u_int)n };
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(ret, i);
        json_object *exp = json_object_object_get(o, "expiry-time");
        json_object *pfx = json_object_object_get(o, "prefix");
        l[i].iface = (char *)str_or(o, "iface", "");
        l[i].expirytime = exp ? json_object_get_int64(exp) : 0;
        l[i].type = ip_type(o);
        l[i].mac = opt_string(o, "mac", &slots[3 * i]);
        l[i].ipaddr = (char *)str_or(o, "ipaddr", "");
        l[i].prefix = pfx ? (u_int)json_object_get_int(pfx) : 0;
        l[i].hostname = opt_string(o, "hostname", &slots[3 * i + 1]);
        l[i].clientid = opt_string(o, "clientid", &slots[3 * i + 2]);
    }
    if (a->need_results) {
        r.leases.leases_len = (u_int)n;
        r.leases.leases_val = l;
    }
    call_reply(call, &r);
}

static void h_net_dhcp_leases(VirtCall *call)
{
    remote_network_get_dhcp_leases_args *a = call->args;
    VmmdNetwork *n;
    if (!check_flags(call, a->flags, 0) || !(n = call_network(call, &a->net)))
        return;
    json_object *args = net_name_args(n);
    if (a->mac && *a->mac)
        json_object_object_add(args, "mac", json_object_new_string(*a->mac));
    call_json(call, "network-dhcp-leases", args, reply_leases);
}

static void reply_ifaddr(VirtCall *call, json_object *ret)
{
    size_t n = json_object_is_type(ret, json_type_array) ? json_object_array_length(ret) : 0;
    n = MIN(n, (size_t)REMOTE_DOMAIN_INTERFACE_MAX);
    g_autofree remote_domain_interface *ifs = g_new0(remote_domain_interface, n + 1);
    g_autofree char **slots = g_new0(char *, n + 1);
    remote_domain_interface_addresses_ret r = { { 0, ifs } };
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(ret, i);
        json_object *addrs = json_object_object_get(o, "addrs");
        size_t na = addrs && json_object_is_type(addrs, json_type_array)
                        ? MIN(json_object_array_length(addrs), (size_t)REMOTE_DOMAIN_IP_ADDR_MAX)
                        : 0;
        /* libvirt's lease source lists the interfaces that have a lease */
        if (!na)
            continue;
        remote_domain_interface *it = &ifs[r.ifaces.ifaces_len++];
        it->name = (char *)str_or(o, "name", "-");
        it->hwaddr = opt_string(o, "mac", &slots[i]);
        it->addrs.addrs_val = g_new0(remote_domain_ip_addr, na);
        for (size_t k = 0; k < na; k++) {
            json_object *ad = json_object_array_get_idx(addrs, k);
            json_object *pfx = json_object_object_get(ad, "prefix");
            remote_domain_ip_addr *ip = &it->addrs.addrs_val[it->addrs.addrs_len++];
            ip->type = ip_type(ad);
            ip->addr = (char *)str_or(ad, "ipaddr", "");
            ip->prefix = pfx ? (u_int)json_object_get_int(pfx) : 0;
        }
    }
    call_reply(call, &r);
    for (u_int i = 0; i < r.ifaces.ifaces_len; i++)
        g_free(ifs[i].addrs.addrs_val);
}

static void h_domain_ifaddr(VirtCall *call)
{
    remote_domain_interface_addresses_args *a = call->args;
    VmmdDomain *dom;
    if (!check_flags(call, a->flags, 0))
        return;
    /* VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE; AGENT (1) and ARP (2) need a
     * guest agent or the host's neighbour table, which vmmd does not read */
    if (a->source != 0) {
        call_error(call, VIRT_ERR_NO_SUPPORT, "interface address source %u (vmmd reads the "
                   "DHCP leases of its networks: --source lease)", a->source);
        return;
    }
    if (!(dom = call_domain(call, &a->dom)))
        return;
    call_json(call, "domain-interface-addresses", name_args(dom), reply_ifaddr);
}

static void h_net_event_register(VirtCall *call)
{
    remote_connect_network_event_register_any_args *a = call->args;
    if (a->eventID != 0) {   /* VIR_NETWORK_EVENT_ID_LIFECYCLE */
        call_error(call, VIRT_ERR_NO_SUPPORT, "network event %d", a->eventID);
        return;
    }
    event_register(call, true, a->eventID, a->net ? a->net->uuid : NULL);
}

static void h_net_event_deregister(VirtCall *call)
{
    remote_connect_network_event_deregister_any_args *a = call->args;
    event_deregister(call, a->callbackID, true);
}

void vmmd_libvirt_network_event(VmmDaemon *d, const char *name, const uint8_t uuid[16],
                                int event)
{
    VmmdLibvirt *srv = d->libvirt;
    if (!srv)
        return;
    remote_network_event_lifecycle_msg m = { .net = { .name = (char *)name }, .event = event };
    memcpy(m.net.uuid, uuid, VIR_UUID_BUFLEN);
    send_event(srv, true, m.net.uuid, 0, REMOTE_PROC_NETWORK_EVENT_LIFECYCLE,
               (xdrproc_t)xdr_remote_network_event_lifecycle_msg, &m, &m.callbackID);
}

/* end of networks                                                          */
/* ======================================================================== */

/* ------------------------------------------------------------------------ */
/* dispatch                                                                 */

static const struct {
    int proc;
    VirtHandler fn;
} handlers[] = {
    { REMOTE_PROC_CONNECT_OPEN, h_open },
    { REMOTE_PROC_CONNECT_CLOSE, h_close },
    { REMOTE_PROC_CONNECT_GET_TYPE, h_get_type },
    { REMOTE_PROC_CONNECT_GET_VERSION, h_get_version },
    { REMOTE_PROC_NODE_GET_INFO, h_node_get_info },
    { REMOTE_PROC_CONNECT_GET_CAPABILITIES, h_get_capabilities },
    { REMOTE_PROC_DOMAIN_CREATE, h_create },
    { REMOTE_PROC_DOMAIN_DEFINE_XML, h_define_xml },
    { REMOTE_PROC_DOMAIN_DESTROY, h_destroy },
    { REMOTE_PROC_DOMAIN_GET_XML_DESC, h_get_xml_desc },
    { REMOTE_PROC_DOMAIN_GET_AUTOSTART, h_get_autostart },
    { REMOTE_PROC_DOMAIN_GET_INFO, h_get_info },
    { REMOTE_PROC_DOMAIN_GET_MAX_MEMORY, h_get_max_memory },
    { REMOTE_PROC_DOMAIN_GET_OS_TYPE, h_get_os_type },
    { REMOTE_PROC_CONNECT_LIST_DEFINED_DOMAINS, h_list_defined_domains },
    { REMOTE_PROC_DOMAIN_LOOKUP_BY_ID, h_lookup_by_id },
    { REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, h_lookup_by_name },
    { REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID, h_lookup_by_uuid },
    { REMOTE_PROC_CONNECT_NUM_OF_DEFINED_DOMAINS, h_num_of_defined_domains },
    { REMOTE_PROC_DOMAIN_REBOOT, h_reboot },
    { REMOTE_PROC_DOMAIN_RESUME, h_resume },
    { REMOTE_PROC_DOMAIN_SET_AUTOSTART, h_set_autostart },
    { REMOTE_PROC_DOMAIN_SET_MEMORY, h_set_memory },
    { REMOTE_PROC_DOMAIN_SHUTDOWN, h_shutdown },
    { REMOTE_PROC_DOMAIN_SUSPEND, h_suspend },
    { REMOTE_PROC_DOMAIN_UNDEFINE, h_undefine },
    { REMOTE_PROC_CONNECT_LIST_DOMAINS, h_list_domains },
    { REMOTE_PROC_CONNECT_NUM_OF_DOMAINS, h_num_of_domains },
    { REMOTE_PROC_CONNECT_GET_HOSTNAME, h_get_hostname },
    { REMOTE_PROC_CONNECT_SUPPORTS_FEATURE, h_supports_feature },
    { REMOTE_PROC_DOMAIN_BLOCK_STATS, h_block_stats },
    { REMOTE_PROC_DOMAIN_INTERFACE_STATS, h_interface_stats },
    { REMOTE_PROC_AUTH_LIST, h_auth_list },
    { REMOTE_PROC_CONNECT_GET_URI, h_get_uri },
    { REMOTE_PROC_CONNECT_IS_SECURE, h_is_secure },
    { REMOTE_PROC_DOMAIN_IS_ACTIVE, h_is_active },
    { REMOTE_PROC_DOMAIN_IS_PERSISTENT, h_is_persistent },
    { REMOTE_PROC_CONNECT_GET_LIB_VERSION, h_get_lib_version },
    { REMOTE_PROC_DOMAIN_MEMORY_STATS, h_memory_stats },
    { REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE, h_domain_false },
    { REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS, h_create_with_flags },
    { REMOTE_PROC_DOMAIN_OPEN_CONSOLE, h_open_console },
    { REMOTE_PROC_DOMAIN_IS_UPDATED, h_domain_false },
    { REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS, h_set_memory_flags },
    { REMOTE_PROC_DOMAIN_GET_STATE, h_get_state },
    { REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS, h_undefine_flags },
    { REMOTE_PROC_DOMAIN_DESTROY_FLAGS, h_destroy_flags },
    { REMOTE_PROC_DOMAIN_BLOCK_STATS_FLAGS, h_block_stats_flags },
    { REMOTE_PROC_DOMAIN_SHUTDOWN_FLAGS, h_shutdown_flags },
    { REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, h_list_all_domains },
    { REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, h_event_register },
    { REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, h_event_deregister },
    { REMOTE_PROC_CONNECT_GET_ALL_DOMAIN_STATS, h_get_all_domain_stats },
    { REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS, h_define_xml_flags },

    /* networks (issue 15) */
    { REMOTE_PROC_CONNECT_LIST_DEFINED_NETWORKS, h_net_list_defined },
    { REMOTE_PROC_CONNECT_LIST_NETWORKS, h_net_list },
    { REMOTE_PROC_NETWORK_CREATE, h_net_create },
    { REMOTE_PROC_NETWORK_DEFINE_XML, h_net_define },
    { REMOTE_PROC_NETWORK_DESTROY, h_net_destroy },
    { REMOTE_PROC_NETWORK_GET_XML_DESC, h_net_get_xml_desc },
    { REMOTE_PROC_NETWORK_GET_AUTOSTART, h_net_get_autostart },
    { REMOTE_PROC_NETWORK_GET_BRIDGE_NAME, h_net_get_bridge_name },
    { REMOTE_PROC_NETWORK_LOOKUP_BY_NAME, h_net_lookup_by_name },
    { REMOTE_PROC_NETWORK_LOOKUP_BY_UUID, h_net_lookup_by_uuid },
    { REMOTE_PROC_NETWORK_SET_AUTOSTART, h_net_set_autostart },
    { REMOTE_PROC_NETWORK_UNDEFINE, h_net_undefine },
    { REMOTE_PROC_CONNECT_NUM_OF_DEFINED_NETWORKS, h_net_num_defined },
    { REMOTE_PROC_CONNECT_NUM_OF_NETWORKS, h_net_num },
    { REMOTE_PROC_NETWORK_IS_ACTIVE, h_net_is_active },
    { REMOTE_PROC_NETWORK_IS_PERSISTENT, h_net_is_persistent },
    { REMOTE_PROC_CONNECT_LIST_ALL_NETWORKS, h_net_list_all },
    { REMOTE_PROC_NETWORK_UPDATE, h_net_update },
    { REMOTE_PROC_CONNECT_NETWORK_EVENT_REGISTER_ANY, h_net_event_register },
    { REMOTE_PROC_CONNECT_NETWORK_EVENT_DEREGISTER_ANY, h_net_event_deregister },
    { REMOTE_PROC_NETWORK_GET_DHCP_LEASES, h_net_dhcp_leases },
    { REMOTE_PROC_DOMAIN_INTERFACE_ADDRESSES, h_domain_ifaddr },
    /* end of networks */
    /* ---- begin security model and labels ---- */
    { REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL, h_get_security_label },
    { REMOTE_PROC_NODE_GET_SECURITY_MODEL, h_node_get_security_model },
    { REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL_LIST, h_get_security_label_list },
    /* ---- end security model and labels ---- */
};

static VirtHandler find_handler(int proc)
{
    for (gsize i = 0; i < G_N_ELEMENTS(handlers); i++)
        if (handlers[i].proc == proc)
            return handlers[i].fn;
    return NULL;
}

static void client_error(VirtClient *c, const vir_net_message_header *hdr, int code,
                         const char *fmt, ...) G_GNUC_PRINTF(4, 5);
static void client_error(VirtClient *c, const vir_net_message_header *hdr, int code,
                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *detail = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    client_send(c, virt_msg_encode_error(hdr, code, detail));
}

static void client_message(VirtClient *c, const uint8_t *buf, gsize len)
{
    vir_net_message_header hdr;
    gsize off;
    g_autoptr(GError) err = NULL;
    if (!virt_msg_header(buf, len, &hdr, &off, &err)) {
        client_close(c, err->message);
        return;
    }
    if (hdr.prog == KEEPALIVE_PROGRAM) {
        /* A PING gets a PONG; anything else of keepalive's is ignored, as
         * libvirt does. */
        if (hdr.vers == KEEPALIVE_PROTOCOL_VERSION && hdr.proc == KEEPALIVE_PROC_PING &&
            hdr.type == VIR_NET_MESSAGE) {
            vir_net_message_header pong = { KEEPALIVE_PROGRAM, KEEPALIVE_PROTOCOL_VERSION,
                                            KEEPALIVE_PROC_PONG, VIR_NET_MESSAGE, 0, VIR_NET_OK };
            client_send(c, virt_msg_encode(&pong, NULL, NULL, NULL));
        }
        return;
    }
    if (hdr.prog != REMOTE_PROGRAM || hdr.vers != REMOTE_PROTOCOL_VERSION) {
        client_error(c, &hdr, VIRT_ERR_RPC, "cannot find program %#x version %u", hdr.prog,
                     hdr.vers);
        return;
    }
    if (hdr.type == VIR_NET_STREAM && c->opened) {
        client_stream_packet(c, &hdr, buf + off, len - off);
        return;
    }
    if (hdr.type != VIR_NET_CALL || hdr.status != VIR_NET_OK) {
        client_error(c, &hdr, VIRT_ERR_RPC, "unexpected message type %d status %d (vmmd takes "
                     "calls only, without file descriptors or streams)", hdr.type, hdr.status);
        return;
    }
    const VirtProcInfo *info = virt_proc_info(hdr.proc);
    VirtHandler fn = info ? find_handler(hdr.proc) : NULL;
    if (!fn) {
        client_error(c, &hdr, VIRT_ERR_NO_SUPPORT, "remote procedure %d", hdr.proc);
        return;
    }
    if (!c->opened && hdr.proc != REMOTE_PROC_CONNECT_OPEN && hdr.proc != REMOTE_PROC_AUTH_LIST &&
        hdr.proc != REMOTE_PROC_CONNECT_SUPPORTS_FEATURE) {
        client_error(c, &hdr, VIRT_ERR_RPC, "%s before virConnectOpen", info->name);
        return;
    }
    VirtCall *call = g_new0(VirtCall, 1);
    c->refs++;
    c->calls++;
    call->c = c;
    call->d = c->srv->d;
    call->hdr = hdr;
    call->info = info;
    if (info->args) {
        call->args = g_malloc0(info->args_size);
        if (!virt_msg_decode(buf + off, len - off, info->args, call->args, &err)) {
            call_error(call, VIRT_ERR_RPC, "%s: %s", info->name, err->message);
            return;
        }
    } else if (off != len) {
        call_error(call, VIRT_ERR_RPC, "%s takes no arguments, but %zu bytes came", info->name,
                   len - off);
        return;
    }
    fn(call);
}

/* ------------------------------------------------------------------------ */
/* connections                                                              */

static void client_update(VirtClient *c)
{
    if (c->closed)
        return;
    bool out = proto_outbuf_len(&c->out) > 0;
    if (c->closing && !out) {
        client_close(c, "connection closed by the client");
        return;
    }
    /* Consoles wait while their output waits for the client. */
    GIOCondition scond = proto_outbuf_len(&c->out) < VIRT_BACKLOG ? G_IO_IN : 0;
    GHashTableIter it;
    gpointer key, val;
    g_hash_table_iter_init(&it, c->streams);
    while (g_hash_table_iter_next(&it, &key, &val))
        proto_fd_source_set(((VirtStream *)val)->src, scond);
    GIOCondition cond = out ? G_IO_OUT : 0;
    /* Replies not read, or too many calls unanswered, stop the reading. */
    if (!c->closing && proto_outbuf_len(&c->out) < VIRT_BACKLOG &&
        c->calls < VIRT_MAX_CALLS)
        cond |= G_IO_IN;
    proto_fd_source_set(c->src, cond);
}

/* The complete packets read so far, while fewer than VIRT_MAX_CALLS of
 * the client's calls are unanswered (libvirtd's max_client_requests). */
static void client_process(VirtClient *c)
{
    if (c->processing)
        return;   /* a call answered from inside the loop below */
    c->processing = true;
    c->refs++;
    while (!c->closed && !c->closing && c->calls < VIRT_MAX_CALLS &&
           proto_outbuf_len(&c->out) < VIRT_BACKLOG && c->in->len >= VIR_NET_MESSAGE_LEN_MAX) {
        guint32 len;
        g_autoptr(GError) err = NULL;
        if (!virt_msg_length(c->in->data, &len, &err)) {
            client_close(c, err->message);
            break;
        }
        if (c->in->len < len)
            break;
        client_message(c, c->in->data, len);
        if (!c->closed)
            g_byte_array_remove_range(c->in, 0, len);
    }
    c->processing = false;
    client_update(c);
    client_unref(c);
}

static gboolean client_ready(GIOCondition rev, gpointer data)
{
    VirtClient *c = data;
    c->refs++;
    if (rev & G_IO_OUT) {
        if (proto_outbuf_flush(&c->out, c->fd) < 0)
            client_close(c, g_strerror(errno));
    }
    if (!c->closed && (rev & (G_IO_IN | G_IO_HUP | G_IO_ERR))) {
        guint old = c->in->len;
        g_byte_array_set_size(c->in, old + VIRT_READ_CHUNK);
        ssize_t n = read(c->fd, c->in->data + old, VIRT_READ_CHUNK);
        g_byte_array_set_size(c->in, old + (n > 0 ? (guint)n : 0));
        if (n == 0)
            client_close(c, "end of input");
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            client_close(c, g_strerror(errno));
    }
    /* New packets, or room again for those that waited. */
    if (!c->closed)
        client_process(c);
    client_update(c);
    client_unref(c);
    return G_SOURCE_CONTINUE;
}

static gboolean listener_ready(GIOCondition rev, gpointer data)
{
    VirtListener *l = data;
    int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return G_SOURCE_CONTINUE;
    if (l->srv->clients.length >= VMM_PROTO_MAX_CLIENTS) {
        vmmd_log(l->srv->d, NULL, LOG_WARNING, "libvirt client refused: %u connections open",
                 l->srv->clients.length);
        close(fd);
        return G_SOURCE_CONTINUE;
    }
    VirtClient *c = g_new0(VirtClient, 1);
    c->refs = 1;
    c->srv = l->srv;
    c->fd = fd;
    c->read_only = l->read_only;
    socklen_t sl = sizeof(c->cred);
    c->have_cred = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &sl) == 0;
    c->in = g_byte_array_new();
    proto_outbuf_init(&c->out);
    c->callbacks = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    c->streams = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, stream_free);
    c->link.data = c;
    g_queue_push_tail_link(&l->srv->clients, &c->link);
    c->src = proto_fd_source_new(fd, G_IO_IN, client_ready, c, NULL);
    return G_SOURCE_CONTINUE;
}

static bool add_listener(VmmdLibvirt *srv, int fd, const char *path, bool read_only,
                         GError **err)
{
    if (!proto_set_nonblocking(fd, true)) {
        int e = errno;
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e),
                    "cannot make the libvirt listening socket non-blocking: %s", g_strerror(e));
        close(fd);
        return false;
    }
    VirtListener *l = g_new0(VirtListener, 1);
    l->srv = srv;
    l->fd = fd;
    l->read_only = read_only;
    l->path = g_strdup(path);
    l->src = proto_fd_source_new(fd, G_IO_IN, listener_ready, l, NULL);
    g_ptr_array_add(srv->listeners, l);
    return true;
}

VmmdLibvirt *vmmd_libvirt_new(VmmDaemon *d)
{
    VmmdLibvirt *srv = g_new0(VmmdLibvirt, 1);
    srv->d = d;
    srv->listeners = g_ptr_array_new();
    return srv;
}

bool vmmd_libvirt_listen_path(VmmdLibvirt *srv, const char *path, mode_t mode, bool read_only,
                              GError **err)
{
    int fd = vmm_proto_listen_unix(path, mode, err);
    return fd >= 0 && add_listener(srv, fd, path, read_only, err);
}

bool vmmd_libvirt_listen_fd(VmmdLibvirt *srv, int fd, bool read_only, GError **err)
{
    return add_listener(srv, fd, NULL, read_only, err);
}

guint vmmd_libvirt_n_listeners(VmmdLibvirt *srv)
{
    return srv->listeners->len;
}

void vmmd_libvirt_free(VmmdLibvirt *srv)
{
    if (!srv)
        return;
    for (guint i = 0; i < srv->listeners->len; i++) {
        VirtListener *l = g_ptr_array_index(srv->listeners, i);
        g_source_destroy(l->src);
        g_source_unref(l->src);
        close(l->fd);
        if (l->path)   /* systemd's sockets are systemd's to remove */
            unlink(l->path);
        g_free(l->path);
        g_free(l);
    }
    g_ptr_array_free(srv->listeners, TRUE);
    while (srv->clients.head)
        client_close(srv->clients.head->data, "daemon shutting down");
    g_free(srv);
}
