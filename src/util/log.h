/* Logging for the worker and daemon: one line per message on stderr,
 * prefixed with the program name (the daemon adds journal routing). */
#ifndef VMM_LOG_H
#define VMM_LOG_H

#include <glib.h>

typedef enum { VMM_LOG_ERROR, VMM_LOG_WARN, VMM_LOG_INFO, VMM_LOG_DEBUG } VmmLogLevel;

/* Generic error domain for messages that need no code of their own. */
#define VMM_ERROR (vmm_error_quark())
GQuark vmm_error_quark(void);

void vmm_log_set_program(const char *name);
void vmm_log_set_level(VmmLogLevel max);
void vmm_log(VmmLogLevel level, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

#define vmm_log_error(...) vmm_log(VMM_LOG_ERROR, __VA_ARGS__)
#define vmm_log_warn(...)  vmm_log(VMM_LOG_WARN, __VA_ARGS__)
#define vmm_log_info(...)  vmm_log(VMM_LOG_INFO, __VA_ARGS__)
#define vmm_log_debug(...) vmm_log(VMM_LOG_DEBUG, __VA_ARGS__)

#endif
