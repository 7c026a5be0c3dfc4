/* libFuzzer target for the machine description vmm-worker reads from vmmd
 * (src/conf/domain_desc.c): whatever the reader accepts is written back
 * and read again to the same definition, and written again to the same
 * bytes; whatever it refuses gets one line of message.
 *
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-domain-desc (the descriptions of the domain-xml
 * seeds, xml-examples/ among them). */
#include "conf/domain_desc.h"
#include "conf/domain_format.h"
#include "fuzz-util.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GError *err = NULL;
    VmmDomainDef *def = vmm_domain_desc_from_json((const char *)data, size, "fuzz", &err);
    if (!def) {
        if (!err || !err->message[0] || strchr(err->message, '\n'))
            fuzz_fail("a refusal is one line of message: %s", err ? err->message : "(none)");
        g_error_free(err);
        return 0;
    }
    char *out = vmm_domain_desc_to_json(def);
    VmmDomainDef *again = vmm_domain_desc_from_json(out, strlen(out), "written", &err);
    if (!again)
        fuzz_fail("what was written is refused: %s\n%s", err->message, out);
    if (!vmm_domain_def_equal(def, again))
        fuzz_fail("re-read definition differs:\n%s", out);
    char *out2 = vmm_domain_desc_to_json(again);
    if (strcmp(out, out2) != 0)
        fuzz_fail("second write differs:\n%s\n---\n%s", out, out2);
    g_free(out2);
    g_free(out);
    vmm_domain_def_free(again);
    vmm_domain_def_free(def);
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "domain-desc");
}
#endif
