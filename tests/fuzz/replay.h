/* The standalone driver shared by the fuzz targets (-DVMM_FUZZ_STANDALONE):
 * replays corpus files, or directories of them, through
 * LLVMFuzzerTestOneInput without libFuzzer. Without arguments (as `make
 * check` runs it) it replays tests/fuzz/corpus-NAME and reports one TAP
 * test. */
#ifndef VMM_FUZZ_REPLAY_H
#define VMM_FUZZ_REPLAY_H

#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int vmm_fuzz_run_file(const char *path)
{
    if (g_getenv("VMM_FUZZ_VERBOSE"))
        fprintf(stderr, "%s\n", path);
    gchar *buf = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;
    if (!g_file_get_contents(path, &buf, &len, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return -1;
    }
    /* An exact-size copy, so that ASan sees a read past the input. */
    uint8_t *copy = g_memdup2(buf, len);
    LLVMFuzzerTestOneInput(copy, len);
    g_free(copy);
    g_free(buf);
    return 1;
}

static int vmm_fuzz_replay_main(int argc, char **argv, const char *name)
{
    unsigned ran = 0;
    g_autofree char *corpus = NULL;
    char *dflt[2] = { argv[0], NULL };
    if (argc < 2) {
        const char *src = g_getenv("VMM_TOP_SRCDIR");
        g_autofree char *dirname = g_strdup_printf("corpus-%s", name);
        corpus = g_build_filename(src ? src : ".", "tests", "fuzz", dirname, NULL);
        dflt[1] = corpus;
        argv = dflt;
        argc = 2;
        printf("1..1\n");
    }
    for (int i = 1; i < argc; i++) {
        if (g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
            g_autoptr(GError) err = NULL;
            GDir *dir = g_dir_open(argv[i], 0, &err);
            if (!dir) {
                fprintf(stderr, "%s\n", err->message);
                return 1;
            }
            const char *f;
            while ((f = g_dir_read_name(dir))) {
                g_autofree char *path = g_build_filename(argv[i], f, NULL);
                if (g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
                    if (vmm_fuzz_run_file(path) < 0) {
                        g_dir_close(dir);
                        return 1;
                    }
                    ran++;
                }
            }
            g_dir_close(dir);
        } else {
            if (vmm_fuzz_run_file(argv[i]) < 0)
                return 1;
            ran++;
        }
    }
    if (corpus)
        printf("%s 1 - fuzz-%s: %u corpus inputs replayed\n", ran ? "ok" : "not ok", name, ran);
    else
        printf("fuzz-%s: %u inputs replayed\n", name, ran);
    return ran ? 0 : 1;
}

#endif
