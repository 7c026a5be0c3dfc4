/* Domain XML as libvirt prints it (virsh dumpxml): two-space indentation,
 * attributes in single quotes, every one of <>&'" escaped in attributes
 * and text (virBufferEscapeString), no comments, no XML declaration, and
 * id='N' right after type= while the domain runs. The stored definition is
 * libxml2's output (double quotes); scripts that read dumpxml with sed or
 * grep expect libvirt's bytes. */
#include "config.h"
#include "daemon/vmmd.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <string.h>

static void escape(GString *out, const xmlChar *s)
{
    for (const xmlChar *p = s; p && *p; p++) {
        switch (*p) {
        case '<': g_string_append(out, "&lt;"); break;
        case '>': g_string_append(out, "&gt;"); break;
        case '&': g_string_append(out, "&amp;"); break;
        case '\'': g_string_append(out, "&apos;"); break;
        case '"': g_string_append(out, "&quot;"); break;
        default: g_string_append_c(out, (char)*p); break;
        }
    }
}

static void qname(GString *out, xmlNsPtr ns, const xmlChar *name)
{
    if (ns && ns->prefix)
        g_string_append_printf(out, "%s:", (const char *)ns->prefix);
    g_string_append(out, (const char *)name);
}

static void attribute(GString *out, xmlNsPtr ns, const xmlChar *name, const xmlChar *value)
{
    g_string_append_c(out, ' ');
    qname(out, ns, name);
    g_string_append(out, "='");
    escape(out, value);
    g_string_append_c(out, '\'');
}

static void element(GString *out, xmlNodePtr node, int depth, int id)
{
    for (int i = 0; i < depth; i++)
        g_string_append(out, "  ");
    g_string_append_c(out, '<');
    qname(out, node->ns, node->name);
    for (xmlAttrPtr a = node->properties; a; a = a->next) {
        xmlChar *v = xmlNodeListGetString(node->doc, a->children, 1);
        attribute(out, a->ns, a->name, v ? v : (const xmlChar *)"");
        xmlFree(v);
        /* libvirt: <domain type='kvm' id='1'>; a stored id= is dropped */
        if (depth == 0 && id >= 0 && xmlStrEqual(a->name, (const xmlChar *)"type"))
            g_string_append_printf(out, " id='%d'", id);
    }
    for (xmlNsPtr ns = node->nsDef; ns; ns = ns->next) {
        g_string_append(out, " xmlns");
        if (ns->prefix)
            g_string_append_printf(out, ":%s", (const char *)ns->prefix);
        g_string_append(out, "='");
        escape(out, ns->href);
        g_string_append_c(out, '\'');
    }
    bool has_elements = false, has_text = false;
    for (xmlNodePtr c = node->children; c; c = c->next) {
        has_elements |= c->type == XML_ELEMENT_NODE;
        has_text |= (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) &&
                    !xmlIsBlankNode(c);
    }
    if (!has_elements && !has_text) {
        g_string_append(out, "/>\n");
        return;
    }
    g_string_append_c(out, '>');
    if (!has_elements) {
        xmlChar *text = xmlNodeGetContent(node);
        escape(out, text);
        xmlFree(text);
    } else {
        g_string_append_c(out, '\n');
        for (xmlNodePtr c = node->children; c; c = c->next)
            if (c->type == XML_ELEMENT_NODE)
                element(out, c, depth + 1, -1);
        for (int i = 0; i < depth; i++)
            g_string_append(out, "  ");
    }
    g_string_append(out, "</");
    qname(out, node->ns, node->name);
    g_string_append(out, ">\n");
}

char *vmmd_libvirt_xml(const char *xml, int id, GError **err)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                                  XML_PARSE_NOWARNING);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root) {
        xmlFreeDoc(doc);
        vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR,
                            "the stored domain XML does not parse; it cannot be shown");
        return NULL;
    }
    /* the id is the running domain's, never one a definition carried */
    xmlUnsetProp(root, (const xmlChar *)"id");
    GString *out = g_string_new(NULL);
    element(out, root, 0, id);
    xmlFreeDoc(doc);
    return g_string_free(out, FALSE);
}

char *vmmd_xml_drop_id(const char *xml, GError **err)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || !xmlHasProp(root, (const xmlChar *)"id")) {
        /* nothing to drop; the parser reports malformed XML with its line */
        xmlFreeDoc(doc);
        return g_strdup(xml);
    }
    xmlUnsetProp(root, (const xmlChar *)"id");
    /* No reformatting, and the declaration only if there was one, so the
     * parser's line numbers still point into the caller's file. */
    bool decl = g_str_has_prefix(xml + strspn(xml, " \t\r\n"), "<?xml");
    xmlBufferPtr buf = xmlBufferCreate();
    xmlSaveCtxtPtr save = xmlSaveToBuffer(buf, "UTF-8", decl ? 0 : XML_SAVE_NO_DECL);
    long rc = save ? xmlSaveDoc(save, doc) : -1;
    if (save && xmlSaveClose(save) < 0)
        rc = -1;
    xmlFreeDoc(doc);
    char *out = rc < 0 ? NULL : g_strndup((const char *)xmlBufferContent(buf),
                                          (gsize)xmlBufferLength(buf));
    xmlBufferFree(buf);
    if (!out)
        vmm_proto_set_error(err, VMM_PROTO_INTERNAL_ERROR,
                            "cannot drop id= from the domain XML: libxml2 failed to write it");
    return out;
}
