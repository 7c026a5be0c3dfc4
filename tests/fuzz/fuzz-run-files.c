/* libFuzzer target for the files a restarted daemon reads back from its
 * run directory (daemon/run_files.c): NAME.json, the state it wrote when
 * it started a worker, and NAME.exit, the worker's last word. Anything may
 * be in them (a crash mid-write, a full disk, another user). A parse must
 * either succeed with values in range or fail with a reason.
 *
 * Input: [0] bit 0 picks the file (0 state, 1 exit), then the file.
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-run-files. */
#include "daemon/run_files.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    gsize len = size - 1;
    GError *err = NULL;
    bool ok;
    if (data[0] & 1) {
        VmmdExitFile ef;
        ok = vmmd_exit_file_parse(text, len, &ef, &err);
        if (ok && (ef.status < -1 || ef.status > 255 || (ef.detail && !ef.detail[0])))
            abort();
        vmmd_exit_file_clear(&ef);
    } else {
        VmmdRunState st;
        ok = vmmd_run_state_parse(text, len, &st, &err);
        if (ok && (st.pid < 0 || st.id < 0))
            abort();
        vmmd_run_state_clear(&st);
    }
    if (ok ? err != NULL : !err || !err->message[0])
        abort();
    g_clear_error(&err);
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "run-files");
}
#endif
