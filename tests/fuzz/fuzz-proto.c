/* libFuzzer target for the JSON protocol as both ends of every hop read
 * it (client <-> vmmd, vmmd <-> worker): the byte stream cut into lines
 * (delivered in pieces whose sizes the input also chooses), each line
 * parsed with the size and depth limits, then checked as a request (what
 * the servers do) and as a reply and a greeting (what the clients do).
 * A line that parses must encode and parse back to an equal object. Each
 * object is also read as the one event body vmmd parses from a worker
 * (VHOST_USER_SOCKET's).
 *
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-proto. */
#include "proto/proto_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The object as the data of a worker's VHOST_USER_SOCKET event (what
 * vmmd reads from a worker): either refused with a reason, or a request
 * number and one device that build the same request again. */
static void vhost_request(json_object *o)
{
    GError *err = NULL;
    gint64 id;
    const char *disk;
    guint64 index;
    if (!vmm_proto_vhost_request_parse(o, &id, &disk, &index, &err)) {
        if (!err || !err->message[0])
            abort();
        g_error_free(err);
        return;
    }
    if (err || id < 0 || (disk && index) || index > G_MAXINT64)
        abort();
    json_object *again = vmm_proto_vhost_request_new((guint64)id, disk, index);
    gint64 id2;
    const char *disk2;
    guint64 index2;
    if (!vmm_proto_vhost_request_parse(again, &id2, &disk2, &index2, &err) || id2 != id ||
        index2 != index || g_strcmp0(disk, disk2) != 0) {
        fprintf(stderr, "fuzz-proto: a vhost-user request does not build back: %s\n",
                json_object_to_json_string(o));
        abort();
    }
    json_object_put(again);
}

static void one_line(const char *line, gsize len)
{
    GError *err = NULL;
    json_object *o = proto_parse(line, len, &err);
    if (!o) {
        if (!err)
            return;   /* "null" parses to NULL without an error */
        g_error_free(err);
        return;
    }
    json_object *id, *args;
    bool has_id;
    const char *name;
    VmmProtoErrorClass code;
    char *msg = NULL;
    if (!proto_request_check(o, &id, &has_id, &name, &args, &code, &msg)) {
        if (!msg || !*msg)
            abort();
        g_free(msg);
    } else if (!name) {
        abort();
    }
    json_object *ret = NULL;   /* borrowed from o */
    if (!proto_reply_decode(o, &ret, &err))
        g_clear_error(&err);
    if (!proto_greeting_check(o, "fuzz.sock", &err))
        g_clear_error(&err);
    vhost_request(o);
    gsize elen = 0;
    char *enc = proto_encode(o, &elen);
    json_object *back = proto_parse(enc, elen, &err);
    if (!back || !json_object_equal(o, back)) {
        fprintf(stderr, "fuzz-proto: encoded object does not parse back: %s\n", enc);
        abort();
    }
    json_object_put(back);
    g_free(enc);
    json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* first byte: the size of the pieces the stream arrives in */
    gsize piece = (gsize)data[0] + 1;
    data++;
    size--;
    ProtoLineBuf lb;
    proto_linebuf_init(&lb);
    for (gsize at = 0; at < size; at += piece) {
        gsize n = MIN(piece, size - at);
        proto_linebuf_append(&lb, data + at, n);
        char *line;
        gsize len;
        ProtoLineResult r;
        while ((r = proto_linebuf_next(&lb, &line, &len)) == PROTO_LINE_OK) {
            one_line(line, len);
            g_free(line);
        }
        if (r == PROTO_LINE_TOO_LONG)
            break;   /* the connection is dropped */
    }
    gsize rest_len = 0;
    g_free(proto_linebuf_rest(&lb, &rest_len));
    proto_linebuf_clear(&lb);
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "proto");
}
#endif
