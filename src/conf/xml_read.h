/* The one way vmmd reads XML: bounded size, no network, no DTD (so no
 * entities: XXE and billion laughs stop at the DOCTYPE), libxml2's messages
 * turned into a GError naming the source and line. */
#ifndef VMM_XML_READ_H
#define VMM_XML_READ_H

#include <glib.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlversion.h>

/* libxml2 2.12 made structured error callbacks take a const xmlError *. */
#if LIBXML_VERSION >= 21200
typedef const xmlError *VmmXmlErrorPtr;
#else
typedef xmlErrorPtr VmmXmlErrorPtr;
#endif

xmlDocPtr vmm_conf_read_xml(const char *source, const char *xml, size_t len, GError **err);

#endif
