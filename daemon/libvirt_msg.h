/* libvirt's RPC messages (vmmd(8), "libvirt clients"): the length word,
 * the header and XDR payloads, with libvirt's limits. No I/O and no
 * daemon state, so the fuzz target runs exactly this code. */
#ifndef VMMD_LIBVIRT_MSG_H
#define VMMD_LIBVIRT_MSG_H

#include "rpc/vmm_remote.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Bytes of a whole packet, its length word included (libvirt's
 * VIR_NET_MESSAGE_MAX is counted without it). */
#define VIRT_MSG_MIN (VIR_NET_MESSAGE_LEN_MAX + VIR_NET_MESSAGE_HEADER_MAX)
#define VIRT_MSG_MAX (VIR_NET_MESSAGE_LEN_MAX + VIR_NET_MESSAGE_MAX)

/* What one REMOTE procedure carries; NULL xdrproc: no payload. */
typedef struct {
    int proc;
    const char *name;              /* libvirt's API name, for messages */
    xdrproc_t args;
    gsize args_size;
    xdrproc_t ret;
    gsize ret_size;
} VirtProcInfo;

/* NULL for a procedure vmmd does not implement. */
const VirtProcInfo *virt_proc_info(int proc);

/* The first 4 bytes of a packet -> its whole length; false (with why) if
 * it is outside VIRT_MSG_MIN..VIRT_MSG_MAX: the stream cannot be resynced. */
bool virt_msg_length(const uint8_t *buf, guint32 *len, GError **err);
/* A whole packet (length word included) -> header and payload offset. */
bool virt_msg_header(const uint8_t *buf, gsize len, vir_net_message_header *hdr,
                     gsize *payload, GError **err);
/* The payload -> obj (zeroed first; xdr_free it after, also on failure).
 * Every byte must belong to it. */
bool virt_msg_decode(const uint8_t *buf, gsize len, xdrproc_t proc, void *obj,
                     GError **err);
/* A whole packet: length word, header, payload (proc NULL: none). NULL
 * when it would exceed VIRT_MSG_MAX. */
GBytes *virt_msg_encode(const vir_net_message_header *hdr, xdrproc_t proc, void *obj,
                        GError **err);
/* A stream packet: the header and n raw bytes (at most
 * VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX), as libvirt sends stream data. */
GBytes *virt_msg_encode_raw(const vir_net_message_header *hdr, const void *data, gsize n);
/* An error reply to hdr's call: status ERROR, a remote_error payload.
 * The message is libvirt's text for the code followed by detail. */
GBytes *virt_msg_encode_error(const vir_net_message_header *call, int code,
                              const char *detail);

/* libvirt's virErrorNumber values vmmd sends, and their texts. */
enum {
    VIRT_ERR_INTERNAL_ERROR = 1,
    VIRT_ERR_NO_SUPPORT = 3,
    VIRT_ERR_INVALID_ARG = 8,
    VIRT_ERR_OPERATION_FAILED = 9,
    VIRT_ERR_XML_ERROR = 27,
    VIRT_ERR_OPERATION_DENIED = 29,
    VIRT_ERR_RPC = 39,
    VIRT_ERR_NO_DOMAIN = 42,
    VIRT_ERR_NO_NETWORK = 43,
    VIRT_ERR_OPERATION_INVALID = 55,
};

#endif
