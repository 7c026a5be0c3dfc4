/* libFuzzer target for the vhost-user reply checks: a back end is a peer
 * process that may send anything (wrong request codes, sizes, flags, file
 * descriptors, config longer than asked). The same bytes are also read as
 * a request on the back-end channel (BACKEND_REQ), and the front end's
 * answer to it is checked to be a well-formed reply.
 *
 * Input layout:
 *   [0]     which request the front end sent (index into `asked`)
 *   [1]     config length asked for (GET_CONFIG), up to 255
 *   [2]     ring index asked for (GET_VRING_BASE)
 *   [3]     bit 0: REPLY_ACK expected; bits 4-7: file descriptors received
 *   [4..]   the reply bytes (header + payload)
 * Accepted replies are checked against what the front end relies on, so a
 * check that lets something through aborts here.
 *
 * Build with libFuzzer or, with -DVMM_FUZZ_STANDALONE, as a program
 * replaying files and directories (tests/fuzz/corpus-vhost-user by default). */
#include "vhost/vhost_user.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(bool cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz-vhost-user: accepted reply breaks: %s\n", what);
        abort();
    }
}

static uint32_t le32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t asked[] = {
        VHOST_USER_GET_FEATURES, VHOST_USER_GET_PROTOCOL_FEATURES, VHOST_USER_GET_QUEUE_NUM,
        VHOST_USER_GET_VRING_BASE, VHOST_USER_GET_CONFIG, VHOST_USER_SET_MEM_TABLE,
        VHOST_USER_SET_VRING_KICK, VHOST_USER_SET_CONFIG, VHOST_USER_GET_INFLIGHT_FD,
    };
    if (size < 4)
        return 0;
    VmmVhostUserExpect want = {
        .want_request = asked[data[0] % G_N_ELEMENTS(asked)],
        .config_len = data[1],
        .index = data[2],
        .ack = data[3] & 1,
    };
    unsigned nfds = data[3] >> 4;
    const uint8_t *msg = data + 4;
    size_t len = size - 4;
    g_autoptr(GError) err = NULL;

    /* The header alone, as the socket path reads it first. */
    uint32_t plen = 0;
    if (len >= VHOST_USER_HDR_SIZE) {
        bool ok = vmm_vhost_user_parse_header(msg, nfds, &want, &plen, &err);
        if (ok) {
            check(plen <= VHOST_USER_MAX_REPLY - VHOST_USER_HDR_SIZE,
                  "payload fits the reply buffer");
            check(nfds == vmm_vhost_user_reply_fds(&want), "the reply's descriptors as asked");
            check(le32(msg) == want.want_request, "the reply answers the request sent");
        } else {
            check(err && err->message[0] && !strchr(err->message, '\n'),
                  "a refusal has a one-line reason");
        }
        g_clear_error(&err);
    }

    /* The bytes as a back-end request header. */
    if (len >= VHOST_USER_HDR_SIZE) {
        VmmVhostUserBackendReq breq;
        if (vmm_vhost_user_parse_backend_header(msg, &breq, &err)) {
            uint32_t flags = le32(msg + 4);
            check(breq.size <= VHOST_USER_MAX_BACKEND_PAYLOAD, "payload within the bound");
            check((flags & 3) == 1 && !(flags & 4), "version 1, not a reply");
            check(breq.request == le32(msg) && breq.size == le32(msg + 8), "fields as sent");
            check(breq.need_reply == !!(flags & 8), "NEED_REPLY as sent");
            /* The answer is a reply the other side's check takes. */
            uint8_t ans[VHOST_USER_HDR_SIZE + 8];
            uint64_t status = data[3] & 2 ? 1 : 0;
            size_t alen = vmm_vhost_user_backend_reply(ans, breq.request, status);
            VmmVhostUserExpect back = { .want_request = breq.request, .ack = true };
            VmmVhostUserReply br;
            g_autoptr(GError) berr = NULL;
            bool ok = vmm_vhost_user_parse_reply(ans, alen, 0, &back, &br, &berr);
            check(alen == VHOST_USER_HDR_SIZE + 8 && ok == (status == 0),
                  "the answer is a well-formed acknowledgement");
        } else {
            check(err && err->message[0] && !strchr(err->message, '\n'),
                  "a refusal has a one-line reason");
        }
        g_clear_error(&err);
    }

    VmmVhostUserReply r;
    if (!vmm_vhost_user_parse_reply(msg, len, nfds, &want, &r, &err)) {
        check(err && err->message[0] && !strchr(err->message, '\n'),
              "a refusal has a one-line reason");
        return 0;
    }
    check(len >= VHOST_USER_HDR_SIZE && len <= VHOST_USER_MAX_REPLY, "reply size in bounds");
    check(nfds == vmm_vhost_user_reply_fds(&want), "the reply's descriptors as asked");
    check(le32(msg) == want.want_request, "the reply answers the request sent");
    check(le32(msg + 4) & 0x4, "the reply flag is set");
    if (want.ack) {
        check(r.u64 == 0, "an acknowledgement says success");
    } else if (want.want_request == VHOST_USER_GET_CONFIG) {
        check(r.config == msg + VHOST_USER_HDR_SIZE + 12, "config right after its header");
        check(len == VHOST_USER_HDR_SIZE + 12 + want.config_len,
              "exactly the config bytes asked for");
        /* touch every byte handed out: ASan sees a read past the input */
        volatile uint8_t sum = 0;
        for (unsigned i = 0; i < want.config_len; i++)
            sum += r.config[i];
        (void)sum;
    } else if (want.want_request == VHOST_USER_GET_INFLIGHT_FD) {
        check(len == VHOST_USER_HDR_SIZE + 24, "GET_INFLIGHT_FD's payload");
        check(r.mmap_size > 0 && r.mmap_size <= VHOST_USER_MAX_INFLIGHT &&
              r.mmap_offset <= G_MAXINT64 - r.mmap_size, "an inflight area a file can have");
    } else if (want.want_request == VHOST_USER_GET_VRING_BASE) {
        check(le32(msg + VHOST_USER_HDR_SIZE) == want.index, "the ring asked about");
        check(r.u64 <= 0xffff, "a 16-bit ring index");
    } else {
        check(len == VHOST_USER_HDR_SIZE + 8, "a u64 payload");
    }
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "vhost-user");
}
#endif
