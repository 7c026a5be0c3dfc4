/* Internals shared by the protocol server and clients: line framing,
 * strict JSON decoding, encoding, and a GSource on one fd whose
 * conditions can change. Not part of the public API. */
#ifndef VMM_PROTO_INT_H
#define VMM_PROTO_INT_H

#include "proto/proto.h"

/* Input: bytes read so far; lines are cut at "\n". scan remembers how far
 * a previous search got, so a slowly arriving long line costs O(n). */
typedef struct {
    GByteArray *buf;
    gsize head;    /* start of the unconsumed bytes */
    gsize scan;    /* no "\n" in [head, scan) */
} ProtoLineBuf;

typedef enum {
    PROTO_LINE_NONE,       /* need more bytes */
    PROTO_LINE_OK,         /* *line (NUL-terminated, without "\n") to g_free */
    PROTO_LINE_TOO_LONG,   /* more than VMM_PROTO_MAX_MESSAGE bytes without "\n" */
} ProtoLineResult;

void proto_linebuf_init(ProtoLineBuf *lb);
void proto_linebuf_clear(ProtoLineBuf *lb);
void proto_linebuf_append(ProtoLineBuf *lb, const void *data, gsize len);
gsize proto_linebuf_pending(const ProtoLineBuf *lb);   /* unconsumed bytes */
ProtoLineResult proto_linebuf_next(ProtoLineBuf *lb, char **line, gsize *len);
/* At EOF: whatever is left without a final "\n" (NULL if nothing but
 * whitespace). */
char *proto_linebuf_rest(ProtoLineBuf *lb, gsize *len);

/* Output queue with a read offset, so partial writes cost no memmove.
 * fds: descriptors to send (SCM_RIGHTS) with the byte at their offset,
 * the first byte of the message they belong to; owned until sent. */
typedef struct {
    GByteArray *buf;
    gsize off;
    GArray *fds;   /* ProtoOutFd, by offset; NULL when none was ever queued */
} ProtoOutBuf;

typedef struct {
    gsize at;      /* offset in buf */
    int fd;
} ProtoOutFd;

void proto_outbuf_init(ProtoOutBuf *ob);
void proto_outbuf_clear(ProtoOutBuf *ob);
gsize proto_outbuf_len(const ProtoOutBuf *ob);
void proto_outbuf_append(ProtoOutBuf *ob, const char *data, gsize len);
/* The same, with fd (owned from now on) sent along with data's first byte. */
void proto_outbuf_append_fd(ProtoOutBuf *ob, const char *data, gsize len, int fd);
/* Writes what the socket takes: 1 all written, 0 some left (EAGAIN),
 * -1 error (errno set). */
int proto_outbuf_flush(ProtoOutBuf *ob, int fd);

/* One line of JSON text -> a value of any type, or NULL with
 * VMM_PROTO_INVALID_ARGUMENT and what was wrong. Strict RFC 8259, valid
 * UTF-8, nesting at most VMM_PROTO_JSON_DEPTH, nothing after the value. */
json_object *proto_parse(const char *line, gsize len, GError **err);
/* Compact JSON text plus "\n" (g_free). */
char *proto_encode(json_object *o, gsize *len);

json_object *proto_greeting_new(const char *key, bool read_only);
json_object *proto_event_new(const char *event, json_object *data /* consumed */);
/* Checks a greeting's shape; returns false with G_IO_ERROR_INVALID_DATA. */
/* The shape of a request: a JSON object with "execute" (a string),
 * optionally "arguments" (an object) and "id", nothing else. On success
 * *name and *args (NULL when absent) are borrowed from req; otherwise
 * false with *code and *msg (g_free). *id / *has_id are filled either way,
 * for the error reply. */
bool proto_request_check(json_object *req, json_object **id, bool *has_id, const char **name,
                         json_object **args, VmmProtoErrorClass *code, char **msg);
bool proto_greeting_check(json_object *g, const char *path, GError **err);
/* A reply object -> ret (borrowed) or false with the VMM_PROTO_ERROR it
 * carries. */
bool proto_reply_decode(json_object *reply, json_object **ret, GError **err);

/* A GSource watching one fd whose condition can be changed. */
typedef gboolean (*ProtoFdFunc)(GIOCondition revents, gpointer data);
GSource *proto_fd_source_new(int fd, GIOCondition cond, ProtoFdFunc fn, gpointer data,
                             GMainContext *ctx);
void proto_fd_source_set(GSource *src, GIOCondition cond);

/* Unix stream socket connected to path within timeout_ms (<= 0 forever);
 * close-on-exec, blocking. -1 with a G_IO_ERROR. */
int proto_connect_unix(const char *path, int timeout_ms, GError **err);
/* Reads one greeting line from a blocking fd within timeout_ms; any bytes
 * after it are left in lb. */
json_object *proto_read_greeting(int fd, ProtoLineBuf *lb, const char *path,
                                 int timeout_ms, GError **err);
bool proto_set_nonblocking(int fd, bool on);

/* Descriptors that came with a request (SCM_RIGHTS): at most this many are
 * read at once, more are closed by the kernel (MSG_CTRUNC). */
#define PROTO_MAX_FDS 4

#endif
