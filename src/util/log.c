#include "util/log.h"
#include <stdarg.h>
#include <stdio.h>

G_DEFINE_QUARK(vmm-error-quark, vmm_error)

static const char *log_program = "vmm";
static VmmLogLevel log_max = VMM_LOG_INFO;

void vmm_log_set_program(const char *name) { log_program = name; }
void vmm_log_set_level(VmmLogLevel max) { log_max = max; }

void vmm_log(VmmLogLevel level, const char *fmt, ...)
{
    static const char *const names[] = { "error", "warning", "info", "debug" };
    if (level > log_max)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* One write per line so lines from vCPU threads never interleave. */
    g_autofree char *line = g_strdup_printf("%s: %s: %s\n", log_program, names[level], msg);
    fputs(line, stderr);
}
