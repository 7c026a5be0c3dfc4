/* libvirt's <seclabel> for the DAC model (the domain's uid and gid, and
 * whether vmmd chowns its images to them): type='dynamic' (a uid/gid of
 * its own from vmmd.conf's dynamic_uid_range, picked at start),
 * type='static' with <label>USER:GROUP</label>, or type='none'. Parsed
 * strictly (other models, <baselabel>, anything libvirt's schema refuses
 * are errors naming it), formatted back canonically. */
#ifndef VMM_SECLABEL_CONF_H
#define VMM_SECLABEL_CONF_H

#include <glib.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <sys/types.h>

typedef enum {
    VMM_SECLABEL_DYNAMIC = 0,   /* libvirt's default type */
    VMM_SECLABEL_STATIC,
    VMM_SECLABEL_NONE,
} VmmSeclabelType;

typedef struct {
    VmmSeclabelType type;
    bool relabel;               /* chown the writable images to the label, restore at stop */
    /* "USER:GROUP": names, or numbers written "+N" (libvirt's DAC form).
     * static: <label> given by the user; dynamic: output only (the live
     * XML, filled in at start), dropped by vmm_seclabel_def_strip_live(). */
    char *label;
    char *imagelabel;           /* the images' owner; NULL = label */
} VmmSeclabelDef;

/* Parses <seclabel> `node`. Errors are VMM_CONF_ERROR, "SOURCE:LINE: ...". */
VmmSeclabelDef *vmm_seclabel_def_parse(const char *source, xmlNodePtr node, GError **err);
/* Appends <seclabel> to `parent`. */
void vmm_seclabel_def_format(xmlNodePtr parent, const VmmSeclabelDef *sl);
VmmSeclabelDef *vmm_seclabel_def_copy(const VmmSeclabelDef *sl);   /* NULL -> NULL */
bool vmm_seclabel_def_equal(const VmmSeclabelDef *a, const VmmSeclabelDef *b);
void vmm_seclabel_def_free(VmmSeclabelDef *sl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmSeclabelDef, vmm_seclabel_def_free)
/* A definition to keep (define): a dynamic label's uid belongs to one run
 * and is dropped, as libvirt's inactive XML drops it. */
void vmm_seclabel_def_strip_live(VmmSeclabelDef *sl);

/* "USER:GROUP" -> a uid and gid: "+N" is the number N, a name is looked up
 * (getpwnam/getgrnam). False with a message naming the part. */
bool vmm_seclabel_resolve(const char *label, uid_t *uid, gid_t *gid, GError **err);
const char *vmm_seclabel_type_to_string(VmmSeclabelType t);

#endif
