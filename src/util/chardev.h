/* Character-device backends for the serial ports (<serial>/<console> with
 * type stdio, file, pty or unix).
 *
 * Threads: the backend's fds are watched by GSources attached to the
 * GMainContext given at open, iterated by one thread (the worker's main
 * thread); the frontend callbacks run there. vmm_chardev_write() and
 * vmm_chardev_accept_input() may be called from any thread (vCPU threads).
 * open/set_frontend/close belong to the context's thread, or to a time when
 * the context is not being iterated.
 *
 * stdio writes to fd 1 without ignoring SIGPIPE: the process decides that. */
#ifndef VMM_CHARDEV_H
#define VMM_CHARDEV_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/domain_conf.h"

typedef struct VmmChardev VmmChardev;

/* Output buffered for pty/unix peers; beyond this, bytes are dropped. */
#define VMM_CHARDEV_OUT_BUFFER (64 * 1024)

/* label names the device in messages, e.g. "serial0". ctx NULL = the
 * default main context. Errors (G_FILE_ERROR, code from errno) name the
 * label, the path and the errno text. */
VmmChardev *vmm_chardev_open(const VmmChrDef *def, const char *label,
                             GMainContext *ctx, GError **err);
/* The same, and a unix socket path (bind or connect) inside run_dir (vmmd's
 * run directory: its sockets, the workers' control sockets) is refused.
 * With either function, mode='bind' replaces an existing path only if it
 * is a socket nobody listens on (connect() is refused). */
VmmChardev *vmm_chardev_open_checked(const VmmChrDef *def, const char *label,
                                     GMainContext *ctx, const char *run_dir,
                                     GError **err);

/* Input path: the backend reads its fd in the main loop and offers the bytes
 * to receive(), never more than can_receive() says. When can_receive()
 * returns 0 the fd is no longer watched until the frontend calls
 * vmm_chardev_accept_input(). Without a frontend nothing is read. */
void vmm_chardev_set_frontend(VmmChardev *c,
                              size_t (*can_receive)(void *opaque),
                              void (*receive)(void *opaque, const uint8_t *buf,
                                              size_t len),
                              void *opaque);

/* Told, on the main context's thread, when a unix socket peer connects
 * (true) or goes away (false): a virtio-serial port reports its host side
 * open or closed to the guest. NULL removes it. */
void vmm_chardev_set_connect_handler(VmmChardev *c, void (*changed)(void *opaque, bool up),
                                     void *opaque);

/* The frontend has room again. Thread-safe, cheap, may be called often. */
void vmm_chardev_accept_input(VmmChardev *c);

/* Guest output. Thread-safe. stdio/file write synchronously (retrying EINTR
 * and short writes); pty/unix append to a bounded buffer flushed by the main
 * loop and drop (counting) what does not fit or has no peer, so a stalled
 * client never stalls the guest. */
void vmm_chardev_write(VmmChardev *c, const uint8_t *buf, size_t len);

/* The slave path (/dev/pts/N) of a pty backend, else NULL. */
const char *vmm_chardev_pty_path(VmmChardev *c);

/* Whether output currently has somewhere to go: always for stdio, file and
 * pty; for unix, whether a peer is connected. Thread-safe. */
bool vmm_chardev_connected(VmmChardev *c);

/* Output bytes dropped so far (no peer, buffer full, write error). */
uint64_t vmm_chardev_dropped(VmmChardev *c);

/* Flushes what it can without blocking, restores the terminal, closes the
 * fds and removes a socket file it created. NULL is ignored. */
void vmm_chardev_close(VmmChardev *c);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmChardev, vmm_chardev_close)

#endif
