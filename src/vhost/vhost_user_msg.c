/* vhost-user replies as the front end checks them: pure functions on
 * bytes, so that tests/fuzz/fuzz-vhost-user.c can feed them anything a
 * back end might send. */
#include "vhost/vhost_user.h"

#include <string.h>

#define F_VERSION       0x1
#define F_VERSION_MASK  0x3
#define F_REPLY         0x4
#define F_NEED_REPLY    0x8

typedef struct __attribute__((packed)) {
    uint32_t request, flags, size;
} VuHdr;

G_STATIC_ASSERT(sizeof(VuHdr) == VHOST_USER_HDR_SIZE);

const char *vmm_vhost_user_request_name(uint32_t r)
{
    switch (r) {
    case VHOST_USER_GET_FEATURES: return "GET_FEATURES";
    case VHOST_USER_SET_FEATURES: return "SET_FEATURES";
    case VHOST_USER_SET_OWNER: return "SET_OWNER";
    case VHOST_USER_SET_MEM_TABLE: return "SET_MEM_TABLE";
    case VHOST_USER_SET_VRING_NUM: return "SET_VRING_NUM";
    case VHOST_USER_SET_VRING_ADDR: return "SET_VRING_ADDR";
    case VHOST_USER_SET_VRING_BASE: return "SET_VRING_BASE";
    case VHOST_USER_GET_VRING_BASE: return "GET_VRING_BASE";
    case VHOST_USER_SET_VRING_KICK: return "SET_VRING_KICK";
    case VHOST_USER_SET_VRING_CALL: return "SET_VRING_CALL";
    case VHOST_USER_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
    case VHOST_USER_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
    case VHOST_USER_GET_QUEUE_NUM: return "GET_QUEUE_NUM";
    case VHOST_USER_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
    case VHOST_USER_GET_CONFIG: return "GET_CONFIG";
    case VHOST_USER_SET_CONFIG: return "SET_CONFIG";
    case VHOST_USER_SET_BACKEND_REQ_FD: return "SET_BACKEND_REQ_FD";
    case VHOST_USER_GET_INFLIGHT_FD: return "GET_INFLIGHT_FD";
    case VHOST_USER_SET_INFLIGHT_FD: return "SET_INFLIGHT_FD";
    default: return "an unknown request";
    }
}

const char *vmm_vhost_user_backend_request_name(uint32_t r)
{
    switch (r) {
    case VHOST_USER_BACKEND_IOTLB_MSG: return "IOTLB_MSG";
    case VHOST_USER_BACKEND_CONFIG_CHANGE_MSG: return "CONFIG_CHANGE_MSG";
    case VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG: return "VRING_HOST_NOTIFIER_MSG";
    default: return "an unknown request";
    }
}

/* ---- back-end requests (fuzzed too) ------------------------------------------ */

bool vmm_vhost_user_parse_backend_header(const uint8_t *buf, VmmVhostUserBackendReq *out,
                                         GError **err)
{
    VuHdr h;
    memcpy(&h, buf, sizeof(h));
    if ((h.flags & F_VERSION_MASK) != F_VERSION || (h.flags & F_REPLY))
        return g_set_error(err, VMM_VHOST_ERROR, 0, "back-end request %u has flags 0x%x "
                           "(want version 1 and no reply bit)", h.request, h.flags), false;
    if (h.size > VHOST_USER_MAX_BACKEND_PAYLOAD)
        return g_set_error(err, VMM_VHOST_ERROR, 0, "back-end request %u announces %u "
                           "payload bytes, more than %u", h.request, h.size,
                           VHOST_USER_MAX_BACKEND_PAYLOAD), false;
    *out = (VmmVhostUserBackendReq){ .request = h.request, .size = h.size,
                                     .need_reply = h.flags & F_NEED_REPLY };
    return true;
}

size_t vmm_vhost_user_backend_reply(uint8_t *buf, uint32_t request, uint64_t status)
{
    VuHdr h = { .request = request, .flags = F_VERSION | F_REPLY, .size = 8 };
    memcpy(buf, &h, sizeof(h));
    memcpy(buf + sizeof(h), &status, 8);
    return sizeof(h) + 8;
}

/* ---- reply checks (fuzzed: tests/fuzz/fuzz-vhost-user.c) ------------------ */

/* GET_INFLIGHT_FD's payload: mmap_size, mmap_offset (u64), num_queues,
 * queue_size (u16), 4 bytes of padding. */
#define INFLIGHT_PAYLOAD 24

static size_t expected_payload(const VmmVhostUserExpect *want)
{
    if (want->ack)
        return 8;
    if (want->want_request == VHOST_USER_GET_INFLIGHT_FD)
        return INFLIGHT_PAYLOAD;
    return want->want_request == VHOST_USER_GET_CONFIG ? 12 + want->config_len : 8;
}

unsigned vmm_vhost_user_reply_fds(const VmmVhostUserExpect *want)
{
    return !want->ack && want->want_request == VHOST_USER_GET_INFLIGHT_FD;
}

bool vmm_vhost_user_parse_header(const uint8_t *buf, unsigned nfds,
                                 const VmmVhostUserExpect *want, uint32_t *payload_len,
                                 GError **err)
{
    VuHdr h;
    memcpy(&h, buf, sizeof(h));
    const char *asked = vmm_vhost_user_request_name(want->want_request);
    unsigned want_fds = vmm_vhost_user_reply_fds(want);
    if (nfds != want_fds)
        return g_set_error(err, VMM_VHOST_ERROR, 0, "the back end sent %u file descriptor%s "
                           "with its reply to %s, which carries %s", nfds,
                           nfds == 1 ? "" : "s", asked, want_fds ? "one" : "none"), false;
    if (h.request != want->want_request)
        return g_set_error(err, VMM_VHOST_ERROR, 0, "the back end answered request %u "
                           "to %s (request %u)", h.request, asked, want->want_request), false;
    if ((h.flags & F_VERSION_MASK) != F_VERSION || !(h.flags & F_REPLY))
        return g_set_error(err, VMM_VHOST_ERROR, 0, "the back end's reply to %s has flags "
                           "0x%x (want version 1 and the reply bit)", asked, h.flags), false;
    size_t want_len = expected_payload(want);
    if (h.size != want_len)
        return g_set_error(err, VMM_VHOST_ERROR, 0, "the back end's reply to %s has %u "
                           "payload bytes, %zu expected", asked, h.size, want_len), false;
    *payload_len = h.size;
    return true;
}

bool vmm_vhost_user_parse_reply(const uint8_t *buf, size_t len, unsigned nfds,
                                const VmmVhostUserExpect *want, VmmVhostUserReply *out,
                                GError **err)
{
    uint32_t plen;
    const char *asked = vmm_vhost_user_request_name(want->want_request);
    if (len < VHOST_USER_HDR_SIZE)
        return g_set_error(err, VMM_VHOST_ERROR, 0, "the back end's reply to %s is %zu "
                           "bytes, shorter than a header", asked, len), false;
    if (!vmm_vhost_user_parse_header(buf, nfds, want, &plen, err))
        return false;
    if (len != VHOST_USER_HDR_SIZE + plen)
        return g_set_error(err, VMM_VHOST_ERROR, 0, "the back end's reply to %s is %zu "
                           "bytes, its header announces %u", asked, len,
                           VHOST_USER_HDR_SIZE + plen), false;
    const uint8_t *p = buf + VHOST_USER_HDR_SIZE;
    memset(out, 0, sizeof(*out));
    if (want->ack) {
        memcpy(&out->u64, p, 8);
        if (out->u64 != 0)
            return g_set_error(err, VMM_VHOST_ERROR, 0, "the back end refused %s (status "
                               "%" G_GUINT64_FORMAT ")", asked, out->u64), false;
        return true;
    }
    if (want->want_request == VHOST_USER_GET_CONFIG) {
        uint32_t off, size;
        memcpy(&off, p, 4);
        memcpy(&size, p + 4, 4);
        /* A back end that cannot give the config answers size 0. */
        if (off != 0 || size != want->config_len)
            return g_set_error(err, VMM_VHOST_ERROR, 0, "the back end answered GET_CONFIG "
                               "for %u bytes at offset %u with %u bytes at offset %u",
                               want->config_len, 0u, size, off), false;
        out->config = p + 12;
        return true;
    }
    if (want->want_request == VHOST_USER_GET_INFLIGHT_FD) {
        memcpy(&out->mmap_size, p, 8);
        memcpy(&out->mmap_offset, p + 8, 8);
        /* The area is mapped by the back end only, but a size or offset
         * that cannot be a file's is refused here, not passed on. */
        if (out->mmap_size == 0 || out->mmap_size > VHOST_USER_MAX_INFLIGHT ||
            out->mmap_offset > G_MAXINT64 - out->mmap_size)
            return g_set_error(err, VMM_VHOST_ERROR, 0, "the back end answered "
                               "GET_INFLIGHT_FD with an area of %" G_GUINT64_FORMAT " bytes at "
                               "offset %" G_GUINT64_FORMAT " (1 to %u bytes expected)",
                               out->mmap_size, out->mmap_offset, VHOST_USER_MAX_INFLIGHT),
                   false;
        return true;
    }
    if (want->want_request == VHOST_USER_GET_VRING_BASE) {
        uint32_t index, num;
        memcpy(&index, p, 4);
        memcpy(&num, p + 4, 4);
        if (index != want->index || num > 0xffff)
            return g_set_error(err, VMM_VHOST_ERROR, 0, "the back end answered "
                               "GET_VRING_BASE for ring %u with ring %u, index %u",
                               want->index, index, num), false;
        out->u64 = num;
        return true;
    }
    memcpy(&out->u64, p, 8);
    return true;
}
