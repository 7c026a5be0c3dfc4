/* libvirt's RPC messages: framing, header and payloads with libtirpc's
 * XDR routines and the rpcgen code of src/rpc/vmm_remote.x. */
#include "config.h"
#include "daemon/libvirt_msg.h"

#include <gio/gio.h>
#include <string.h>

#define P(num, api, a, r) \
    { num, api, (xdrproc_t)xdr_##a, sizeof(a), (xdrproc_t)xdr_##r, sizeof(r) }
#define P_ARGS(num, api, a) { num, api, (xdrproc_t)xdr_##a, sizeof(a), NULL, 0 }
#define P_RET(num, api, r) { num, api, NULL, 0, (xdrproc_t)xdr_##r, sizeof(r) }
#define P_NONE(num, api) { num, api, NULL, 0, NULL, 0 }

static const VirtProcInfo procs[] = {
    P_ARGS(REMOTE_PROC_CONNECT_OPEN, "virConnectOpen", remote_connect_open_args),
    P_NONE(REMOTE_PROC_CONNECT_CLOSE, "virConnectClose"),
    P_RET(REMOTE_PROC_CONNECT_GET_TYPE, "virConnectGetType", remote_connect_get_type_ret),
    P_RET(REMOTE_PROC_CONNECT_GET_VERSION, "virConnectGetVersion",
          remote_connect_get_version_ret),
    P_RET(REMOTE_PROC_NODE_GET_INFO, "virNodeGetInfo", remote_node_get_info_ret),
    P_RET(REMOTE_PROC_CONNECT_GET_CAPABILITIES, "virConnectGetCapabilities",
          remote_connect_get_capabilities_ret),
    P_ARGS(REMOTE_PROC_DOMAIN_CREATE, "virDomainCreate", remote_domain_args),
    P(REMOTE_PROC_DOMAIN_DEFINE_XML, "virDomainDefineXML", remote_domain_define_xml_args,
      remote_domain_ret),
    P_ARGS(REMOTE_PROC_DOMAIN_DESTROY, "virDomainDestroy", remote_domain_args),
    P(REMOTE_PROC_DOMAIN_GET_XML_DESC, "virDomainGetXMLDesc", remote_domain_flags_args,
      remote_domain_get_xml_desc_ret),
    P(REMOTE_PROC_DOMAIN_GET_AUTOSTART, "virDomainGetAutostart", remote_domain_args,
      remote_domain_get_autostart_ret),
    P(REMOTE_PROC_DOMAIN_GET_INFO, "virDomainGetInfo", remote_domain_args,
      remote_domain_get_info_ret),
    P(REMOTE_PROC_DOMAIN_GET_MAX_MEMORY, "virDomainGetMaxMemory", remote_domain_args,
      remote_domain_get_max_memory_ret),
    P(REMOTE_PROC_DOMAIN_GET_OS_TYPE, "virDomainGetOSType", remote_domain_args,
      remote_domain_get_os_type_ret),
    P(REMOTE_PROC_CONNECT_LIST_DEFINED_DOMAINS, "virConnectListDefinedDomains",
      remote_connect_list_defined_domains_args, remote_connect_list_defined_domains_ret),
    P(REMOTE_PROC_DOMAIN_LOOKUP_BY_ID, "virDomainLookupByID", remote_domain_lookup_by_id_args,
      remote_domain_ret),
    P(REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME, "virDomainLookupByName",
      remote_domain_lookup_by_name_args, remote_domain_ret),
    P(REMOTE_PROC_DOMAIN_LOOKUP_BY_UUID, "virDomainLookupByUUID",
      remote_domain_lookup_by_uuid_args, remote_domain_ret),
    P_RET(REMOTE_PROC_CONNECT_NUM_OF_DEFINED_DOMAINS, "virConnectNumOfDefinedDomains",
          remote_connect_num_of_defined_domains_ret),
    P_ARGS(REMOTE_PROC_DOMAIN_REBOOT, "virDomainReboot", remote_domain_flags_args),
    P_ARGS(REMOTE_PROC_DOMAIN_RESUME, "virDomainResume", remote_domain_args),
    P_ARGS(REMOTE_PROC_DOMAIN_SET_AUTOSTART, "virDomainSetAutostart",
           remote_domain_set_autostart_args),
    P_ARGS(REMOTE_PROC_DOMAIN_SET_MEMORY, "virDomainSetMemory", remote_domain_set_memory_args),
    P_ARGS(REMOTE_PROC_DOMAIN_SHUTDOWN, "virDomainShutdown", remote_domain_args),
    P_ARGS(REMOTE_PROC_DOMAIN_SUSPEND, "virDomainSuspend", remote_domain_args),
    P_ARGS(REMOTE_PROC_DOMAIN_UNDEFINE, "virDomainUndefine", remote_domain_args),
    P(REMOTE_PROC_CONNECT_LIST_DOMAINS, "virConnectListDomains",
      remote_connect_list_domains_args, remote_connect_list_domains_ret),
    P_RET(REMOTE_PROC_CONNECT_NUM_OF_DOMAINS, "virConnectNumOfDomains",
          remote_connect_num_of_domains_ret),
    P_RET(REMOTE_PROC_CONNECT_GET_HOSTNAME, "virConnectGetHostname",
          remote_connect_get_hostname_ret),
    P(REMOTE_PROC_CONNECT_SUPPORTS_FEATURE, "virConnectSupportsFeature",
      remote_connect_supports_feature_args, remote_connect_supports_feature_ret),
    P(REMOTE_PROC_DOMAIN_BLOCK_STATS, "virDomainBlockStats", remote_domain_block_stats_args,
      remote_domain_block_stats_ret),
    P(REMOTE_PROC_DOMAIN_INTERFACE_STATS, "virDomainInterfaceStats",
      remote_domain_interface_stats_args, remote_domain_interface_stats_ret),
    P_RET(REMOTE_PROC_AUTH_LIST, "virConnectAuthList", remote_auth_list_ret),
    P_RET(REMOTE_PROC_CONNECT_GET_URI, "virConnectGetURI", remote_connect_get_uri_ret),
    P_RET(REMOTE_PROC_CONNECT_IS_SECURE, "virConnectIsSecure", remote_domain_int_ret),
    P(REMOTE_PROC_DOMAIN_IS_ACTIVE, "virDomainIsActive", remote_domain_args,
      remote_domain_int_ret),
    P(REMOTE_PROC_DOMAIN_IS_PERSISTENT, "virDomainIsPersistent", remote_domain_args,
      remote_domain_int_ret),
    P_RET(REMOTE_PROC_CONNECT_GET_LIB_VERSION, "virConnectGetLibVersion",
          remote_connect_get_lib_version_ret),
    P(REMOTE_PROC_DOMAIN_MEMORY_STATS, "virDomainMemoryStats", remote_domain_memory_stats_args,
      remote_domain_memory_stats_ret),
    P(REMOTE_PROC_DOMAIN_HAS_MANAGED_SAVE_IMAGE, "virDomainHasManagedSaveImage",
      remote_domain_flags_args, remote_domain_int_ret),
    P(REMOTE_PROC_DOMAIN_CREATE_WITH_FLAGS, "virDomainCreateWithFlags",
      remote_domain_flags_args, remote_domain_ret),
    P_ARGS(REMOTE_PROC_DOMAIN_OPEN_CONSOLE, "virDomainOpenConsole",
           remote_domain_open_console_args),
    P(REMOTE_PROC_DOMAIN_IS_UPDATED, "virDomainIsUpdated", remote_domain_args,
      remote_domain_int_ret),
    P_ARGS(REMOTE_PROC_DOMAIN_SET_MEMORY_FLAGS, "virDomainSetMemoryFlags",
           remote_domain_set_memory_flags_args),
    P(REMOTE_PROC_DOMAIN_GET_STATE, "virDomainGetState", remote_domain_flags_args,
      remote_domain_get_state_ret),
    P_ARGS(REMOTE_PROC_DOMAIN_UNDEFINE_FLAGS, "virDomainUndefineFlags",
           remote_domain_flags_args),
    P_ARGS(REMOTE_PROC_DOMAIN_DESTROY_FLAGS, "virDomainDestroyFlags", remote_domain_flags_args),
    P(REMOTE_PROC_DOMAIN_BLOCK_STATS_FLAGS, "virDomainBlockStatsFlags",
      remote_domain_block_stats_flags_args, remote_domain_block_stats_flags_ret),
    P_ARGS(REMOTE_PROC_DOMAIN_SHUTDOWN_FLAGS, "virDomainShutdownFlags",
           remote_domain_flags_args),
    P(REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS, "virConnectListAllDomains",
      remote_connect_list_all_domains_args, remote_connect_list_all_domains_ret),
    P(REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
      "virConnectDomainEventRegisterAny",
      remote_connect_domain_event_callback_register_any_args,
      remote_connect_domain_event_callback_register_any_ret),
    P_ARGS(REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY,
           "virConnectDomainEventDeregisterAny",
           remote_connect_domain_event_callback_deregister_any_args),
    P(REMOTE_PROC_CONNECT_GET_ALL_DOMAIN_STATS, "virConnectGetAllDomainStats",
      remote_connect_get_all_domain_stats_args, remote_connect_get_all_domain_stats_ret),
    P(REMOTE_PROC_DOMAIN_DEFINE_XML_FLAGS, "virDomainDefineXMLFlags",
      remote_domain_define_xml_flags_args, remote_domain_ret),

    /* networks (issue 15) */
    P(REMOTE_PROC_CONNECT_LIST_DEFINED_NETWORKS, "virConnectListDefinedNetworks",
      remote_connect_list_networks_args, remote_connect_list_networks_ret),
    P(REMOTE_PROC_CONNECT_LIST_NETWORKS, "virConnectListNetworks",
      remote_connect_list_networks_args, remote_connect_list_networks_ret),
    P_ARGS(REMOTE_PROC_NETWORK_CREATE, "virNetworkCreate", remote_network_args),
    P(REMOTE_PROC_NETWORK_DEFINE_XML, "virNetworkDefineXML", remote_network_define_xml_args,
      remote_network_ret),
    P_ARGS(REMOTE_PROC_NETWORK_DESTROY, "virNetworkDestroy", remote_network_args),
    P(REMOTE_PROC_NETWORK_GET_XML_DESC, "virNetworkGetXMLDesc", remote_network_get_xml_desc_args,
      remote_network_get_xml_desc_ret),
    P(REMOTE_PROC_NETWORK_GET_AUTOSTART, "virNetworkGetAutostart", remote_network_args,
      remote_domain_get_autostart_ret),
    P(REMOTE_PROC_NETWORK_GET_BRIDGE_NAME, "virNetworkGetBridgeName", remote_network_args,
      remote_network_get_bridge_name_ret),
    P(REMOTE_PROC_NETWORK_LOOKUP_BY_NAME, "virNetworkLookupByName",
      remote_network_lookup_by_name_args, remote_network_ret),
    P(REMOTE_PROC_NETWORK_LOOKUP_BY_UUID, "virNetworkLookupByUUID",
      remote_network_lookup_by_uuid_args, remote_network_ret),
    P_ARGS(REMOTE_PROC_NETWORK_SET_AUTOSTART, "virNetworkSetAutostart",
           remote_network_set_autostart_args),
    P_ARGS(REMOTE_PROC_NETWORK_UNDEFINE, "virNetworkUndefine", remote_network_args),
    P_RET(REMOTE_PROC_CONNECT_NUM_OF_DEFINED_NETWORKS, "virConnectNumOfDefinedNetworks",
          remote_network_num_ret),
    P_RET(REMOTE_PROC_CONNECT_NUM_OF_NETWORKS, "virConnectNumOfNetworks",
          remote_network_num_ret),
    P(REMOTE_PROC_NETWORK_IS_ACTIVE, "virNetworkIsActive", remote_network_args,
      remote_domain_int_ret),
    P(REMOTE_PROC_NETWORK_IS_PERSISTENT, "virNetworkIsPersistent", remote_network_args,
      remote_domain_int_ret),
    P(REMOTE_PROC_CONNECT_LIST_ALL_NETWORKS, "virConnectListAllNetworks",
      remote_connect_list_all_networks_args, remote_connect_list_all_networks_ret),
    P_ARGS(REMOTE_PROC_NETWORK_UPDATE, "virNetworkUpdate", remote_network_update_args),
    P(REMOTE_PROC_CONNECT_NETWORK_EVENT_REGISTER_ANY, "virConnectNetworkEventRegisterAny",
      remote_connect_network_event_register_any_args,
      remote_connect_network_event_register_any_ret),
    P_ARGS(REMOTE_PROC_CONNECT_NETWORK_EVENT_DEREGISTER_ANY,
           "virConnectNetworkEventDeregisterAny",
           remote_connect_network_event_deregister_any_args),
    P(REMOTE_PROC_NETWORK_GET_DHCP_LEASES, "virNetworkGetDHCPLeases",
      remote_network_get_dhcp_leases_args, remote_network_get_dhcp_leases_ret),
    P(REMOTE_PROC_DOMAIN_INTERFACE_ADDRESSES, "virDomainInterfaceAddresses",
      remote_domain_interface_addresses_args, remote_domain_interface_addresses_ret),
    /* end of networks */
    /* ---- begin security model and labels ---- */
    P(REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL, "virDomainGetSecurityLabel", remote_domain_args,
      remote_domain_get_security_label_ret),
    P_RET(REMOTE_PROC_NODE_GET_SECURITY_MODEL, "virNodeGetSecurityModel",
          remote_node_get_security_model_ret),
    P(REMOTE_PROC_DOMAIN_GET_SECURITY_LABEL_LIST, "virDomainGetSecurityLabelList",
      remote_domain_args, remote_domain_get_security_label_list_ret),
    /* ---- end security model and labels ---- */
};

const VirtProcInfo *virt_proc_info(int proc)
{
    for (gsize i = 0; i < G_N_ELEMENTS(procs); i++)
        if (procs[i].proc == proc)
            return &procs[i];
    return NULL;
}

bool virt_msg_length(const uint8_t *buf, guint32 *len, GError **err)
{
    guint32 n = (guint32)buf[0] << 24 | (guint32)buf[1] << 16 | (guint32)buf[2] << 8 | buf[3];
    *len = n;
    if (n < VIRT_MSG_MIN || n > VIRT_MSG_MAX) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "packet length %u is outside %d..%d bytes", n, VIRT_MSG_MIN,
                    VIRT_MSG_MAX);
        return false;
    }
    return true;
}

bool virt_msg_header(const uint8_t *buf, gsize len, vir_net_message_header *hdr,
                     gsize *payload, GError **err)
{
    memset(hdr, 0, sizeof(*hdr));
    if (len < VIRT_MSG_MIN) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "packet of %zu bytes is shorter "
                    "than a header", len);
        return false;
    }
    XDR xdr;
    xdrmem_create(&xdr, (char *)buf + VIR_NET_MESSAGE_LEN_MAX,
                  (u_int)(len - VIR_NET_MESSAGE_LEN_MAX), XDR_DECODE);
    bool ok = xdr_vir_net_message_header(&xdr, hdr);
    *payload = VIR_NET_MESSAGE_LEN_MAX + xdr_getpos(&xdr);
    xdr_destroy(&xdr);
    if (!ok)
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "cannot decode the header");
    return ok;
}

bool virt_msg_decode(const uint8_t *buf, gsize len, xdrproc_t proc, void *obj, GError **err)
{
    XDR xdr;
    xdrmem_create(&xdr, (char *)buf, (u_int)len, XDR_DECODE);
    bool ok = proc(&xdr, obj, 0);
    gsize used = xdr_getpos(&xdr);
    xdr_destroy(&xdr);
    if (!ok) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "cannot decode the %zu-byte "
                    "payload (truncated, or a string or array beyond its limit)", len);
        return false;
    }
    if (used != len) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%zu bytes after the payload",
                    len - used);
        return false;
    }
    return true;
}

GBytes *virt_msg_encode(const vir_net_message_header *hdr, xdrproc_t proc, void *obj,
                        GError **err)
{
    gsize body = xdr_sizeof((xdrproc_t)xdr_vir_net_message_header, (void *)hdr) +
                 (proc ? xdr_sizeof(proc, obj) : 0);
    gsize len = VIR_NET_MESSAGE_LEN_MAX + body;
    if (len > VIRT_MSG_MAX) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, "the reply would be %zu "
                    "bytes, more than libvirt's limit of %d", len, VIRT_MSG_MAX);
        return NULL;
    }
    char *buf = g_malloc(len);
    XDR xdr;
    xdrmem_create(&xdr, buf, (u_int)len, XDR_ENCODE);
    guint32 n = (guint32)len;
    bool ok = xdr_u_int(&xdr, &n) &&
              xdr_vir_net_message_header(&xdr, (vir_net_message_header *)hdr) &&
              (!proc || proc(&xdr, obj, 0));
    xdr_destroy(&xdr);
    if (!ok) {
        g_free(buf);
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot encode the reply");
        return NULL;
    }
    return g_bytes_new_take(buf, len);
}

GBytes *virt_msg_encode_raw(const vir_net_message_header *hdr, const void *data, gsize n)
{
    gsize len = VIR_NET_MESSAGE_LEN_MAX + VIR_NET_MESSAGE_HEADER_MAX + n;
    g_assert(n <= VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX);
    char *buf = g_malloc(len);
    XDR xdr;
    xdrmem_create(&xdr, buf, VIR_NET_MESSAGE_LEN_MAX + VIR_NET_MESSAGE_HEADER_MAX, XDR_ENCODE);
    guint32 l = (guint32)len;
    bool ok = xdr_u_int(&xdr, &l) &&
              xdr_vir_net_message_header(&xdr, (vir_net_message_header *)hdr);
    xdr_destroy(&xdr);
    g_assert(ok);
    if (n)
        memcpy(buf + VIR_NET_MESSAGE_LEN_MAX + VIR_NET_MESSAGE_HEADER_MAX, data, n);
    return g_bytes_new_take(buf, len);
}

static const char *error_text(int code)
{
    switch (code) {
    case VIRT_ERR_INTERNAL_ERROR: return "internal error";
    case VIRT_ERR_NO_SUPPORT: return "this function is not supported by the connection driver";
    case VIRT_ERR_INVALID_ARG: return "invalid argument";
    case VIRT_ERR_OPERATION_FAILED: return "operation failed";
    case VIRT_ERR_XML_ERROR: return "XML error";
    case VIRT_ERR_OPERATION_DENIED: return "operation forbidden";
    case VIRT_ERR_RPC: return "RPC error";
    case VIRT_ERR_NO_DOMAIN: return "Domain not found";
    case VIRT_ERR_NO_NETWORK: return "Network not found";
    case VIRT_ERR_OPERATION_INVALID: return "Requested operation is not valid";
    default: return "error";
    }
}

GBytes *virt_msg_encode_error(const vir_net_message_header *call, int code, const char *detail)
{
    vir_net_message_header h = *call;
    h.type = VIR_NET_REPLY;
    h.status = VIR_NET_ERROR;
    g_autofree char *msg = g_strdup_printf("%s: %s", error_text(code), detail);
    /* The client shows the message as it is; keep it well inside a packet. */
    if (strlen(msg) > 4096)
        msg[4096] = 0;
    remote_error e = {
        .code = code,
        .domain = code == VIRT_ERR_RPC ? 7 /* VIR_FROM_RPC */ : 0 /* VIR_FROM_NONE */,
        .message = &msg,
        .level = 2,   /* VIR_ERR_ERROR */
        .str1 = &msg,
    };
    return virt_msg_encode(&h, (xdrproc_t)xdr_remote_error, &e, NULL);
}
