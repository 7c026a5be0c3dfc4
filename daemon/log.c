/* Logging: to the journal with structured fields (DOMAIN=, UUID=) when
 * stderr is connected to it, as systemd tells through JOURNAL_STREAM; else
 * one line per message on stderr. */
#include "config.h"
#include "daemon/vmmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

/* systemd's own test (sd_journal_stream_fd's counterpart): JOURNAL_STREAM
 * holds "DEV:INODE" of the stream stderr must still be. */
static bool stderr_is_journal(void)
{
    const char *e = g_getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static int glib_to_syslog(GLogLevelFlags level)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        return LOG_ERR;
    if (level & G_LOG_LEVEL_WARNING)
        return LOG_WARNING;
    if (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
        return LOG_INFO;
    return LOG_DEBUG;
}

static void glib_log_handler(const char *domain, GLogLevelFlags level, const char *msg,
                             gpointer data)
{
    vmmd_log(data, NULL, glib_to_syslog(level), "%s%s%s", domain ? domain : "",
             domain ? ": " : "", msg);
}

void vmmd_log_init(VmmDaemon *d)
{
    d->journal = stderr_is_journal();
    /* GLib and the protocol library log through g_log; route them here. */
    g_log_set_default_handler(glib_log_handler, d);
}

void vmmd_log(VmmDaemon *d, const VmmdDomain *dom, int priority, const char *fmt, ...)
{
    if (priority >= LOG_DEBUG && !d->verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (d->journal) {
        if (dom)
            sd_journal_send("MESSAGE=%s: %s", dom->name, msg, "PRIORITY=%d", priority,
                            "SYSLOG_IDENTIFIER=vmmd", "DOMAIN=%s", dom->name,
                            "UUID=%s", dom->uuid, NULL);
        else
            sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", priority,
                            "SYSLOG_IDENTIFIER=vmmd", NULL);
        return;
    }
    static const char *const names[] = { "emergency", "alert", "critical", "error",
                                         "warning", "notice", "info", "debug" };
    const char *level = names[CLAMP(priority, 0, 7)];
    g_autofree char *line = dom ? g_strdup_printf("vmmd: %s: %s: %s\n", level, dom->name, msg)
                                : g_strdup_printf("vmmd: %s: %s\n", level, msg);
    /* One write per message so lines never interleave. */
    fputs(line, stderr);
    fflush(stderr);
}
