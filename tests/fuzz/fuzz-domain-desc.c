/* libFuzzer target for the machine description vmm-worker reads from vmmd
 * (src/conf/domain_desc.c): whatever the reader accepts is written back
 * and read again to the same definition, and written again to the same
 * bytes; whatever it refuses gets one line of message.
 *
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-domain-desc (the descriptions of the domain-xml
 * seeds, xml-examples/ among them). */
#include "conf/domain_desc.h"
#include "domain-round-trip.h"

static char *write_desc(const VmmDomainDef *def, GError **err)
{
    (void)err;
    return vmm_domain_desc_to_json(def);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    VmmDomainDef *def = fuzz_domain_read(vmm_domain_desc_from_json, data, size);
    if (def)
        fuzz_domain_round_trip(def, vmm_domain_desc_from_json, write_desc);
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "domain-desc");
}
#endif
