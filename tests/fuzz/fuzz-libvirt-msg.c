/* libFuzzer target for vmmd's libvirt message decoder (daemon/libvirt_msg.c):
 * what a client on libvirt-sock sends. The input is a stream of packets as
 * they come off the socket: length word, header, XDR arguments. Each must
 * frame or be refused with a reason, decode within libvirt's limits or be
 * refused with a reason; what decodes must encode again, no larger (a string
 * with a NUL inside is sent up to the NUL, as XDR's string encoder does),
 * and decode again; an error reply to any header must fit a packet.
 *
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-libvirt-msg. */
#include "daemon/libvirt_msg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void one(const uint8_t *buf, gsize len)
{
    vir_net_message_header hdr;
    gsize off;
    GError *err = NULL;
    if (!virt_msg_header(buf, len, &hdr, &off, &err)) {
        if (!err || !err->message[0])
            abort();
        g_clear_error(&err);
        return;
    }
    if (off > len)
        abort();
    GBytes *e = virt_msg_encode_error(&hdr, VIRT_ERR_RPC, "fuzz");
    if (!e)
        abort();
    g_bytes_unref(e);
    const VirtProcInfo *info = virt_proc_info(hdr.proc);
    if (!info || !info->args)
        return;
    void *args = g_malloc0(info->args_size);
    bool ok = virt_msg_decode(buf + off, len - off, info->args, args, &err);
    if (ok != (err == NULL) || (err && !err->message[0]))
        abort();
    g_clear_error(&err);
    if (ok) {
        /* Encoded again, as a payload of the same header, it decodes again. */
        GBytes *again = virt_msg_encode(&hdr, info->args, args, &err);
        if (again) {
            gsize alen;
            const uint8_t *a = g_bytes_get_data(again, &alen);
            void *args2 = g_malloc0(info->args_size);
            if (alen > len || !virt_msg_decode(a + off, alen - off, info->args, args2, NULL))
                abort();
            xdr_free(info->args, args2);
            g_free(args2);
            g_bytes_unref(again);
        }
        g_clear_error(&err);
    }
    xdr_free(info->args, args);
    g_free(args);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    while (size >= VIR_NET_MESSAGE_LEN_MAX) {
        guint32 len;
        GError *err = NULL;
        if (!virt_msg_length(data, &len, &err)) {
            if (!err || (len >= VIRT_MSG_MIN && len <= VIRT_MSG_MAX))
                abort();
            g_error_free(err);
            return 0;   /* the daemon closes the connection */
        }
        if (len > size)
            return 0;   /* waits for more */
        /* An exact-size copy, so that ASan sees a read past the packet. */
        uint8_t *copy = g_memdup2(data, len);
        one(copy, len);
        g_free(copy);
        data += len;
        size -= len;
    }
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "libvirt-msg");
}
#endif
