/* A bare unix-socket client for the protocol tests: bytes exactly as a
 * test wants them on the wire (garbage, half lines, huge lines), read back
 * line by line. Used by tests/unit/test-proto.c and
 * tests/integration/test-daemon.c. */
#ifndef VMM_TEST_RAW_SOCKET_H
#define VMM_TEST_RAW_SOCKET_H

#include <glib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* How long raw_line() waits for data before failing the test. */
#ifndef RAW_LINE_TIMEOUT_MS
#define RAW_LINE_TIMEOUT_MS 20000
#endif

static inline int raw_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    return fd;
}

static inline void raw_send(int fd, const char *s)
{
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);
        g_assert_cmpint(n, >, 0);
        off += n;
    }
}

/* One line (without "\n"), or NULL at EOF; fails the test on a timeout.
 * buf keeps what was read beyond the line. */
static inline char *raw_line(int fd, GString *buf)
{
    for (;;) {
        char *nl = memchr(buf->str, '\n', buf->len);
        if (nl) {
            char *line = g_strndup(buf->str, nl - buf->str);
            g_string_erase(buf, 0, nl - buf->str + 1);
            return line;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        g_assert_cmpint(poll(&p, 1, RAW_LINE_TIMEOUT_MS), ==, 1);
        char tmp[65536];
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0)
            return NULL;
        g_string_append_len(buf, tmp, n);
    }
}

#endif
