/* The strict-parsing helpers of domain_conf.c, shared with the files that
 * parse one device class each (net_conf.c, ...). Every refusal names the
 * source, the line, the element and the reason. Internal to src/conf. */
#ifndef VMM_CONF_PARSE_H
#define VMM_CONF_PARSE_H

#include <glib.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/domain_conf.h"

#define PCI_SLOTS 32          /* per bus; slot 0 is the host bridge */

typedef struct {
    const char *source;   /* file name or caller's label, prefixes messages */
    const char *subject;  /* NULL, or e.g. "disk vda: " after the line number */
} ParseCtx;

long line_of(xmlNodePtr n);
bool conf_fail(const ParseCtx *pc, xmlNodePtr node, VmmConfError code, GError **err,
               const char *fmt, ...) G_GNUC_PRINTF(5, 6);
char *elem_label(xmlNodePtr n);                       /* "<name>" for messages */
bool unsupported_element(const ParseCtx *pc, xmlNodePtr child, GError **err);
/* Attributes outside `allowed` (NULL-terminated, may be NULL) are refused. */
bool check_attrs(const ParseCtx *pc, xmlNodePtr node, const char *const *allowed,
                 GError **err);
char *get_attr(xmlNodePtr node, const char *name);   /* g_free()able or NULL */
/* An element that must be empty, with only `allowed` attributes. */
bool check_empty(const ParseCtx *pc, xmlNodePtr node, const char *const *allowed,
                 GError **err);
/* Element children sorted into slots by name (each at most once). */
bool collect_children(const ParseCtx *pc, xmlNodePtr node, const char *const *names,
                      xmlNodePtr *slots, GError **err);
/* An enumerated value: index in `supported`; values in `known` are
 * UNSUPPORTED, anything else INVALID. attr NULL = element text. */
bool parse_choice(const ParseCtx *pc, xmlNodePtr node, const char *attr, const char *value,
                  const char *const *supported, const char *const *known, int *out,
                  GError **err);
bool parse_count(const char *s, uint64_t *v);          /* decimal, saturating */
/* <address type='pci'/> on bus 0, function 0; *slot -1 when not given;
 * pci_slots[PCI_SLOTS] records the slots taken. */
bool parse_pci_address(const ParseCtx *pc, xmlNodePtr node, xmlNodePtr *pci_slots,
                       int *slot, GError **err);

#endif
