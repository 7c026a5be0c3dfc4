/* The round trip the two domain targets check, for the XML
 * (fuzz-domain-xml) and the machine description (fuzz-domain-desc) alike:
 * a definition the reader accepted is written, read again to an equal
 * definition, and written again to the same bytes; a refusal is one line
 * of message. */
#ifndef VMM_FUZZ_DOMAIN_ROUND_TRIP_H
#define VMM_FUZZ_DOMAIN_ROUND_TRIP_H

#include "conf/domain_format.h"
#include "fuzz-util.h"

typedef VmmDomainDef *(*FuzzDomainRead)(const char *text, size_t len, const char *source,
                                        GError **err);
/* NULL with *err: the definition has no such form (only XML can fail). */
typedef char *(*FuzzDomainWrite)(const VmmDomainDef *def, GError **err);

/* Reads data; NULL (and the refusal checked) when the reader refuses. */
static G_GNUC_UNUSED VmmDomainDef *fuzz_domain_read(FuzzDomainRead read, const uint8_t *data,
                                                    size_t size)
{
    GError *err = NULL;
    VmmDomainDef *def = read((const char *)data, size, "fuzz", &err);
    if (!def) {
        if (!err || !err->message[0] || strchr(err->message, '\n'))
            fuzz_fail("a refusal is one line of message: %s", err ? err->message : "(none)");
        g_error_free(err);
    }
    return def;
}

/* Checks the round trip of def and frees it. */
static G_GNUC_UNUSED void fuzz_domain_round_trip(VmmDomainDef *def, FuzzDomainRead read,
                                                 FuzzDomainWrite write)
{
    GError *err = NULL;
    char *out = write(def, &err);
    if (!out) {
        g_clear_error(&err);
        vmm_domain_def_free(def);
        return;
    }
    VmmDomainDef *again = read(out, strlen(out), "written", &err);
    if (!again)
        fuzz_fail("what was written is refused: %s\n%s", err->message, out);
    if (!vmm_domain_def_equal(def, again))
        fuzz_fail("re-read definition differs:\n%s", out);
    char *out2 = write(again, &err);
    if (!out2 || strcmp(out, out2) != 0)
        fuzz_fail("second write differs:\n%s\n---\n%s", out, out2 ? out2 : err->message);
    g_free(out2);
    g_free(out);
    vmm_domain_def_free(again);
    vmm_domain_def_free(def);
}

#endif
