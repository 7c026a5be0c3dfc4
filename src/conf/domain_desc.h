/* The machine description: a parsed, validated domain definition
 * (VmmDomainDef) as JSON, which vmmd (or vmm-worker's XML front end)
 * hands to the worker so that the process running the guest needs no XML
 * parser. Every field of VmmDomainDef and its device definitions is
 * carried; enumerations are their numeric values, checked against their
 * range on reading.
 *
 * The reader treats its input as hostile (it comes over a file descriptor
 * from another process): it refuses anything but a JSON object of the
 * current version, unknown or missing keys, values of the wrong type or out
 * of range, strings with NUL bytes or invalid UTF-8, and input larger than
 * VMM_DOMAIN_DESC_MAX_BYTES; errors (VMM_CONF_ERROR_INVALID) name the key
 * path ("disks[1].queues: ..."). */
#ifndef VMM_DOMAIN_DESC_H
#define VMM_DOMAIN_DESC_H

#include <stddef.h>

#include "conf/domain_conf.h"

#define VMM_DOMAIN_DESC_VERSION 1
#define VMM_DOMAIN_DESC_MAX_BYTES (4 * 1024 * 1024)

/* The description of `def` as a NUL-terminated JSON text (g_free()). */
char *vmm_domain_desc_to_json(const VmmDomainDef *def);
/* The definition back from `len` bytes of JSON (no NUL needed); NULL with
 * *err set on anything malformed. `source` (may be NULL) prefixes errors. */
VmmDomainDef *vmm_domain_desc_from_json(const char *json, size_t len, const char *source,
                                        GError **err);
/* Reads a whole description from `fd` (a memfd or pipe, read to its end)
 * and parses it; `source` names the fd in errors. */
VmmDomainDef *vmm_domain_desc_read_fd(int fd, const char *source, GError **err);

#endif
