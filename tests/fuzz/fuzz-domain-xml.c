/* libFuzzer target for the domain XML a client may send: parse, fill the
 * define-time defaults, format, parse that again, format again. Whatever
 * the parser accepts must survive the round trip: the re-parsed definition
 * equals the first, and the second output is byte for byte the first.
 *
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-domain-xml (seeded with xml-examples/ and every
 * device class). */
#include "conf/domain_conf.h"
#include "conf/domain_format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, const char *a, const char *b)
{
    fprintf(stderr, "fuzz-domain-xml: %s\n--- first\n%s\n--- second\n%s\n", what, a ? a : "",
            b ? b : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GError *err = NULL;
    VmmDomainDef *def = vmm_domain_def_parse_string((const char *)data, size, "fuzz", &err);
    if (!def) {
        if (!err || !err->message[0] || strchr(err->message, '\n'))
            fail("a refusal is one line of message", err ? err->message : NULL, NULL);
        g_error_free(err);
        return 0;
    }
    if (!vmm_domain_def_fill_defaults(def, &err)) {
        /* refused (e.g. no PCI slot left): a message, and nothing changed */
        g_clear_error(&err);
        vmm_domain_def_free(def);
        return 0;
    }
    char *out = vmm_domain_def_format(def, &err);
    if (!out) {
        /* only definitions no XML can carry may fail to format */
        g_clear_error(&err);
        vmm_domain_def_free(def);
        return 0;
    }
    VmmDomainDef *again = vmm_domain_def_parse_string(out, strlen(out), "formatted", &err);
    if (!again)
        fail(err->message, out, NULL);
    if (!vmm_domain_def_equal(def, again))
        fail("re-parsed definition differs", out, NULL);
    char *out2 = vmm_domain_def_format(again, &err);
    if (!out2 || strcmp(out, out2) != 0)
        fail("second format differs", out, out2);
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
    return vmm_fuzz_replay_main(argc, argv, "domain-xml");
}
#endif
