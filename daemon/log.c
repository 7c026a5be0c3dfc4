/* Logging: to the journal with structured fields (DOMAIN=, UUID=) when
 * stderr is connected to it, as systemd tells through JOURNAL_STREAM; else
 * one line per message on stderr. */
#include "config.h"
#include "daemon/vmmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

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

/* ------------------------------------------------------------------------ */
/* domain logs                                                              */

/* <run>/NAME.log holds the worker's stdout and stderr. It is bounded as
 * virtlogd bounds QEMU's logs (max_size, max_backups): past the size, it
 * becomes NAME.log.1, older ones shift up to NAME.log.N and the oldest is
 * dropped. The worker writes the file directly through an O_APPEND fd it
 * keeps across daemon restarts (a pipe to the daemon would break, or block
 * the guest, while no daemon runs), so the daemon cannot give it a new
 * file; it copies the log to NAME.log.1 and truncates it in place
 * (logrotate's copytruncate), and the worker's next write lands at the new
 * end. Lines written between the copy and the truncation are lost. */

static bool copy_rest(int from, int to)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(from, buf, sizeof(buf));
        if (n == 0)
            return true;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(to, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return false;
            off += w;
        }
    }
}

static char *backup_name(const char *path, guint i)
{
    return g_strdup_printf("%s.%u", path, i);
}

/* Rotates one log if it has reached the size limit. */
static void rotate_if_full(VmmDaemon *d, const VmmdDomain *dom)
{
    g_autofree char *path = g_strdup_printf("%s/%s.log", d->run_dir, dom->name);
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return;   /* none yet */
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (guint64)st.st_size < d->log_max_size) {
        close(fd);
        return;
    }
    const char *what = NULL;
    int e = 0;
    if (d->log_max_backups > 0) {
        g_autofree char *oldest = backup_name(path, d->log_max_backups);
        if (unlink(oldest) < 0 && errno != ENOENT) {
            vmmd_log(d, dom, LOG_WARNING, "log rotation: cannot remove %s: %s", oldest,
                     g_strerror(errno));
            close(fd);
            return;
        }
        for (guint i = d->log_max_backups - 1; i >= 1; i--) {
            g_autofree char *from = backup_name(path, i);
            g_autofree char *to = backup_name(path, i + 1);
            if (rename(from, to) < 0 && errno != ENOENT) {
                e = errno;
                vmmd_log(d, dom, LOG_WARNING, "log rotation: cannot rename %s to %s: %s",
                         from, to, g_strerror(e));
                close(fd);
                return;
            }
        }
        g_autofree char *first = backup_name(path, 1);
        int out = open(first, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                       0600);
        if (out < 0) {
            e = errno;
            what = first;
        }
        if (!what && !copy_rest(fd, out)) {
            e = errno;
            what = first;
        }
        if (out >= 0)
            close(out);
        if (what) {
            /* Keep the log rather than lose it; the next check retries. */
            vmmd_log(d, dom, LOG_WARNING, "log rotation of %s failed at %s: %s", path, what,
                     g_strerror(e));
            close(fd);
            return;
        }
    }
    if (ftruncate(fd, 0) < 0)
        vmmd_log(d, dom, LOG_WARNING, "log rotation: cannot truncate %s: %s", path,
                 g_strerror(errno));
    close(fd);
}

static gboolean check_logs(gpointer data)
{
    VmmDaemon *d = data;
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, d->domains);
    while (g_hash_table_iter_next(&it, NULL, &value))
        if (vmmd_domain_is_active(value))
            rotate_if_full(d, value);
    return G_SOURCE_CONTINUE;
}

void vmmd_log_rotation_start(VmmDaemon *d)
{
    if (d->log_max_size == 0)
        return;
    d->log_timer = g_timeout_source_new_seconds(VMMD_LOG_CHECK_S);
    g_source_set_callback(d->log_timer, check_logs, d, NULL);
    g_source_attach(d->log_timer, NULL);
}

void vmmd_log_rotation_stop(VmmDaemon *d)
{
    if (d->log_timer) {
        g_source_destroy(d->log_timer);
        g_source_unref(d->log_timer);
        d->log_timer = NULL;
    }
}
