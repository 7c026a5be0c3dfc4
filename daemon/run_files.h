/* The files a worker's run leaves in the run directory, as the daemon
 * reads them back after a restart: NAME.json (what the daemon wrote when it
 * started the worker) and NAME.exit (how the worker ended). Pure parsers,
 * apart from the daemon, so that they can be fuzzed: the files are on disk
 * and anything may be in them. */
#ifndef VMMD_RUN_FILES_H
#define VMMD_RUN_FILES_H

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

#define VMMD_RUN_FILE_MAX (64 * 1024)   /* larger files are not ours */

typedef struct {
    pid_t pid;                 /* 0 when missing */
    guint64 pid_start_time;
    char *uuid, *state, *reason;   /* NULL when missing */
    int id;
    gint64 started_at;
} VmmdRunState;

typedef struct {
    char *reason;              /* "poweroff", "crash", ...; NULL when missing */
    int status;                /* -1 when missing */
    char *detail;              /* NULL when missing or empty */
} VmmdExitFile;

/* Both take the file's text (len bytes, need not be NUL-terminated) and
 * fail, with the reason, unless it is a JSON object of at most
 * VMMD_RUN_FILE_MAX bytes. Members of the wrong type count as missing. */
bool vmmd_run_state_parse(const char *text, gsize len, VmmdRunState *out, GError **err);
void vmmd_run_state_clear(VmmdRunState *st);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmmdRunState, vmmd_run_state_clear)
bool vmmd_exit_file_parse(const char *text, gsize len, VmmdExitFile *out, GError **err);
void vmmd_exit_file_clear(VmmdExitFile *ef);

#endif
