/* libFuzzer target for the network XML a client may send (net-define):
 * parse, fill the define-time defaults, format, parse that again, format
 * again. A refusal is one line; whatever is accepted survives the round
 * trip byte for byte.
 *
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-network-xml. */
#include "conf/domain_conf.h"
#include "conf/network_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, const char *a, const char *b)
{
    fprintf(stderr, "fuzz-network-xml: %s\n--- first\n%s\n--- second\n%s\n", what,
            a ? a : "", b ? b : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GError *err = NULL;
    VmmNetworkDef *def = vmm_network_def_parse_string((const char *)data, size, "fuzz", &err);
    if (!def) {
        if (!err || !err->message[0] || strchr(err->message, '\n'))
            fail("a refusal is one line of message", err ? err->message : NULL, NULL);
        g_error_free(err);
        return 0;
    }
    vmm_network_def_fill_defaults(def, NULL);
    char *out = vmm_network_def_format(def, 0, &err);
    if (!out) {   /* only definitions no XML can carry may fail to format */
        g_clear_error(&err);
        vmm_network_def_free(def);
        return 0;
    }
    VmmNetworkDef *again = vmm_network_def_parse_string(out, strlen(out), "formatted", &err);
    if (!again)
        fail(err->message, out, NULL);
    char *out2 = vmm_network_def_format(again, 0, &err);
    if (!out2 || strcmp(out, out2) != 0)
        fail("second format differs", out, out2);
    g_free(out2);
    g_free(out);
    vmm_network_def_free(again);
    vmm_network_def_free(def);
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "network-xml");
}
#endif
