/* Image locking across processes, compatible with QEMU's (block/file-posix.c,
 * locking=on): two VMs, or a VM and qemu-img/qemu-io/QEMU, never write one
 * image at once, and a writer excludes readers.
 *
 * QEMU's scheme: open file description (OFD) byte-range read locks on
 * "permission" bytes. Byte 100+i means "I use permission i", byte 200+i
 * "I do not let others use permission i", with i = 0 consistent read,
 * 1 write, 2 write unchanged, 3 resize. An opener takes its bytes, then
 * tests (F_OFD_GETLK) the 200+i byte of every permission it wants and the
 * 100+i byte of every permission it does not share; a lock found there
 * belongs to someone else (a description never conflicts with itself) and
 * the open is refused. We take what QEMU 7.2 takes for a virtio disk:
 *
 *   read-write:  100 101 and 201  (read, write; shares everything but write)
 *   read-only:   100 and 201      (read; shares everything but write)
 *
 * so read-only + read-only share, every other pair conflicts, and QEMU
 * tools see a running vmm-worker's image as in use ("Failed to get shared
 * \"write\" lock"). OFD locks belong to the open file description: they go
 * when its last fd is closed or the process dies (no stale locks), and two
 * open() calls in one process conflict like two processes. */
#ifndef VMM_BLOCK_LOCK_H
#define VMM_BLOCK_LOCK_H

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

/* Takes the lock bytes on fd (opened on path; path is only for messages),
 * then checks for conflicting holders. On conflict the bytes are released
 * and err (VMM_BLOCK_ERROR_LOCKED) names the image and the holder: the
 * domain if the holder is a vmm-worker (see below), else its pid and
 * command. A file system without byte-range locks only gets a warning,
 * as QEMU's locking=auto does. The locks go with the fd. */
bool vmm_image_lock(int fd, const char *path, bool writable, GError **err);

/* Names this process as the holder of its image locks, for the messages
 * another process gives when it finds one of them: domain NAME. Call once,
 * before the first vmm_image_lock(); a second call replaces the name. The
 * record is a memfd whose name others read in /proc/PID/fd, so it needs
 * no file and disappears with the process. */
bool vmm_image_lock_set_holder(const char *domain_name, GError **err);

/* Who holds a lock covering byte `offset` of the file fd is open on, other
 * than fd's own description: "domain 'NAME' (vmm-worker pid N)", "process
 * N (COMM)", or a sentence saying it could not be found. Looks through
 * /proc/PID/fdinfo; finds other users' processes only as root. */
char *vmm_image_lock_describe_holder(int fd, off_t offset);

#endif
