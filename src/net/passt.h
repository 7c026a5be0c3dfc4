/* passt, the user-mode network back end libvirt uses for
 * <interface type='user'><backend type='passt'/> (libvirt 9.0).
 *
 * passt runs as its own process and speaks QEMU's "stream" framing on a
 * unix socket: every Ethernet frame is preceded by its length as a 32-bit
 * big-endian number, no virtio-net header. It is started with --one-off so
 * that it exits when its one client (the VM) goes away, whoever dies first:
 * a crashed daemon or worker leaves no passt behind. */
#ifndef VMM_NET_PASST_H
#define VMM_NET_PASST_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Largest frame passt sends (its 64 KiB buffers); longer lengths on the
 * stream mean a broken peer. */
#define VMM_PASST_FRAME_MAX 65535

typedef struct VmmPasst {
    pid_t pid;
    int fd;            /* connected stream socket */
} VmmPasst;

/* Start `binary` (NULL: "passt" from PATH) for the interface named `label`
 * (e.g. "net0", used in messages), wait until its socket accepts, connect,
 * and remove the private directory of its socket and log.
 * Extra arguments (e.g. "--mtu", "1400") may be given in argv_extra
 * (NULL-terminated, may be NULL). On failure nothing is left running. */
VmmPasst *vmm_passt_start(const char *binary, const char *label,
                          const char *const *argv_extra, GError **err);
/* Close the socket (passt then exits by itself), reap or kill it. */
void vmm_passt_stop(VmmPasst *p);

/* Hands the connection over: closes our copy of the socket (the process
 * it was passed to keeps passt alive), reaps passt
 * from the default main context when it exits. */
void vmm_passt_detach(VmmPasst *p);

/* The receive side of the stream framing: bytes from the socket are
 * appended with vmm_stream_rx_fill(); vmm_stream_rx_next() then hands out
 * whole frames. */
typedef struct VmmStreamRx {
    uint8_t buf[4 + VMM_PASST_FRAME_MAX];
    size_t have;
    size_t consumed;   /* bytes of buf already handed out */
} VmmStreamRx;

/* Read what the socket has (non-blocking fd). Returns bytes read, 0 at
 * end of stream, -1 with errno (EAGAIN: nothing now). */
ssize_t vmm_stream_rx_fill(VmmStreamRx *rx, int fd);
/* The next whole frame: 1 with *frame and *len set, 0 when more bytes are
 * needed, -1 when the stream is corrupt (a length of 0 or above
 * VMM_PASST_FRAME_MAX): the connection must be dropped. */
int vmm_stream_rx_next(VmmStreamRx *rx, const uint8_t **frame, size_t *len);
/* Write one frame given as an iovec (at most 63 parts), length prefixed;
 * blocks until all of it is written. 0, or -1 with errno. */
int vmm_stream_tx(int fd, const struct iovec *iov, int iovcnt);

#endif
