/* The one way vmmd reads XML: bounded size, no network, no DTD (so no
 * entities: XXE and billion laughs stop at the DOCTYPE), libxml2's messages
 * turned into a GError naming the source and line. */
#ifndef VMM_XML_READ_H
#define VMM_XML_READ_H

#include <glib.h>
#include <libxml/tree.h>

xmlDocPtr vmm_conf_read_xml(const char *source, const char *xml, size_t len, GError **err);

#endif
