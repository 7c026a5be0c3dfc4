/* libFuzzer target for the domain XML a client may send: parse, fill the
 * define-time defaults, format, parse that again, format again. Whatever
 * the parser accepts must survive the round trip: the re-parsed definition
 * equals the first, and the second output is byte for byte the first.
 *
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-domain-xml (seeded with xml-examples/ and every
 * device class). */
#include "conf/domain_conf.h"
#include "domain-round-trip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    VmmDomainDef *def = fuzz_domain_read(vmm_domain_def_parse_string, data, size);
    if (!def)
        return 0;
    GError *err = NULL;
    if (!vmm_domain_def_fill_defaults(def, &err)) {
        /* refused (e.g. no PCI slot left): a message, and nothing changed */
        g_clear_error(&err);
        vmm_domain_def_free(def);
        return 0;
    }
    /* only definitions no XML can carry may fail to format */
    fuzz_domain_round_trip(def, vmm_domain_def_parse_string, vmm_domain_def_format);
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "domain-xml");
}
#endif
