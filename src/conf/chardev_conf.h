/* libvirt's <serial> and <console> elements with their character device
 * sources (stdio, file, pty, unix), parsed strictly and formatted back
 * canonically (chardev_conf.c). The devices: src/hw/uart.c, src/util/chardev.c. */
#ifndef VMM_CHARDEV_CONF_H
#define VMM_CHARDEV_CONF_H

#include <glib.h>
#include <stdbool.h>

#define VMM_MAX_SERIALS          4               /* COM1..COM4 */

typedef enum {
    VMM_CHR_STDIO = 0,
    VMM_CHR_FILE,
    VMM_CHR_PTY,
    VMM_CHR_UNIX,
} VmmChrType;

typedef struct {
    VmmChrType type;
    char *path;        /* file: output file; unix: socket path; pty: NULL */
    bool append;       /* file: <source append='on'/> (default off = truncate) */
    bool listen;       /* unix: mode='bind' (server) vs 'connect' */
    unsigned port;     /* <target port='N'/>: 0 = COM1 ... 3 = COM4 */
} VmmChrDef;

void vmm_chr_def_free(VmmChrDef *chr);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmChrDef, vmm_chr_def_free)

const char *vmm_chr_type_to_string(VmmChrType t);

#endif
