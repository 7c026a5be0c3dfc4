/* vmm-worker-xml FILE: vmm-worker's XML front end. Parses and validates
 * the libvirt domain XML FILE and writes its machine description
 * (src/conf/domain_desc.h) to stdout; on a refusal, the one-line reason to
 * stderr and exit status 1. vmm-worker --xml FILE runs it, so that the
 * process running the guest never loads libxml2. */
#include "config.h"
#include "conf/domain_conf.h"
#include "conf/domain_desc.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: vmm-worker-xml FILE (run by vmm-worker --xml FILE)\n");
        return 2;
    }
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmDomainDef) def = vmm_domain_def_parse_file(argv[1], &err);
    if (!def) {
        fprintf(stderr, "%s\n", err->message);
        return 1;
    }
    g_autofree char *desc = vmm_domain_desc_to_json(def);
    size_t len = strlen(desc);
    if (fwrite(desc, 1, len, stdout) != len || fflush(stdout) != 0) {
        perror("vmm-worker-xml: writing the description");
        return 1;
    }
    return 0;
}
