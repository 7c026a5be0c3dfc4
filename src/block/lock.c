/* Image locking with QEMU's permission lock bytes (see lock.h), and finding
 * who holds a lock: OFD locks record no pid (F_OFD_GETLK and /proc/locks
 * say -1), so the holder is the process whose /proc/PID/fdinfo/FD lists
 * the lock, and its domain name is the name of a memfd it keeps open. */
#include "block/lock.h"
#include "block/block.h"
#include "util/log.h"
#include "util/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Here rather than in block.c: the qcow2 layer and its fuzz target use
 * the error domain without the engines. */
G_DEFINE_QUARK(vmm-block-error-quark, vmm_block_error)

#define LOCK_PERM_BASE   100     /* QEMU's RAW_LOCK_PERM_BASE */
#define LOCK_SHARED_BASE 200     /* QEMU's RAW_LOCK_SHARED_BASE */

/* QEMU's BLK_PERM_* bits, in bit order. */
enum { PERM_READ, PERM_WRITE, PERM_WRITE_UNCHANGED, PERM_RESIZE, N_PERMS };
static const char *const perm_names[N_PERMS] = {
    "consistent read", "write", "write unchanged", "resize",
};

#define HOLDER_PREFIX "vmm-domain:"
#define MEMFD_NAME_MAX 249       /* NAME_MAX minus the kernel's "memfd:" */

static int holder_fd = -1;

bool vmm_image_lock_set_holder(const char *domain_name, GError **err)
{
    g_autofree char *name = g_strconcat(HOLDER_PREFIX, domain_name, NULL);
    if (strlen(name) > MEMFD_NAME_MAX) {
        /* Long multibyte names: keep whole characters. */
        char *end = name + MEMFD_NAME_MAX;
        while (end > name && (*end & 0xc0) == 0x80)
            end--;
        *end = '\0';
    }
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_OPEN,
                    "cannot create the image lock holder record (memfd '%s'): %s",
                    name, g_strerror(e));
        return false;
    }
    if (holder_fd >= 0)
        close(holder_fd);
    holder_fd = fd;
    return true;
}

static int ofd_lock(int fd, off_t off, short type)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = off, .l_len = 1 };
    return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* 1 when another description holds a lock on the byte, 0 when none does. */
static int ofd_test(int fd, off_t off)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1 };
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return -errno;
    return fl.l_type != F_UNLCK;
}

static void unlock_all(int fd)
{
    struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET,
                        .l_start = LOCK_PERM_BASE,
                        .l_len = LOCK_SHARED_BASE + N_PERMS - LOCK_PERM_BASE };
    fcntl(fd, F_OFD_SETLK, &fl);
}

/* What the holder of lock byte `off` does, in words. */
static char *byte_meaning(off_t off)
{
    bool shared = off >= LOCK_SHARED_BASE;
    int i = (int)(off - (shared ? LOCK_SHARED_BASE : LOCK_PERM_BASE));
    if (!shared && i == PERM_WRITE)
        return g_strdup("has it open read-write");
    if (shared && i == PERM_WRITE)
        return g_strdup("does not let others write to it");
    return g_strdup_printf(shared ? "does not share the '%s' permission"
                                  : "uses the '%s' permission",
                           perm_names[i]);
}

/* Whether /proc/PID/fdinfo/FD lists a lock covering `off`. Lines look like
 * "lock:\t1: OFDLCK ADVISORY  READ -1 fe:00:1234 100 101" (end may be EOF). */
static bool fdinfo_has_lock(const char *fdinfo_path, off_t off)
{
    g_autofree char *text = NULL;
    if (!g_file_get_contents(fdinfo_path, &text, NULL, NULL))
        return false;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (!g_str_has_prefix(*l, "lock:"))
            continue;
        g_auto(GStrv) tok = g_strsplit_set(*l, " \t", -1);
        guint n = 0;
        const char *last[2] = { NULL, NULL };
        for (char **t = tok; *t; t++)
            if (**t) {
                last[0] = last[1];
                last[1] = *t;
                n++;
            }
        if (n < 4 || !last[0])
            continue;
        gint64 start = g_ascii_strtoll(last[0], NULL, 10);
        gint64 end = strcmp(last[1], "EOF") == 0 ? G_MAXINT64
                                                  : g_ascii_strtoll(last[1], NULL, 10);
        if (start <= off && off <= end)
            return true;
    }
    return false;
}

/* The domain a process named with vmm_image_lock_set_holder(), or NULL. */
static char *holder_domain(pid_t pid)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/fd", (int)pid);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    if (!d)
        return NULL;
    const char *prefix = "/memfd:" HOLDER_PREFIX;
    const char *n;
    while ((n = g_dir_read_name(d))) {
        g_autofree char *link = g_build_filename(dir, n, NULL);
        g_autofree char *target = g_file_read_link(link, NULL);
        if (!target || !g_str_has_prefix(target, prefix))
            continue;
        char *name = g_strdup(target + strlen(prefix));
        if (g_str_has_suffix(name, " (deleted)"))
            name[strlen(name) - strlen(" (deleted)")] = '\0';
        return name;
    }
    return NULL;
}

static char *describe_pid(pid_t pid)
{
    g_autofree char *comm_path = g_strdup_printf("/proc/%d/comm", (int)pid);
    g_autofree char *comm = NULL;
    if (g_file_get_contents(comm_path, &comm, NULL, NULL))
        g_strchomp(comm);
    g_autofree char *domain = holder_domain(pid);
    const char *self = pid == vmm_host_pid() ? "this process, " : "";
    if (domain)
        return g_strdup_printf("domain '%s' (%s%s pid %d)", domain, self,
                               comm ? comm : "process", (int)pid);
    if (comm)
        return g_strdup_printf("process %d (%s%s)", (int)pid, self, comm);
    return g_strdup_printf("process %d", (int)pid);
}

char *vmm_image_lock_describe_holder(int fd, off_t offset)
{
    struct stat img;
    if (fstat(fd, &img) < 0)
        return g_strdup("another process");
    pid_t self = vmm_host_pid();
    g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
    const char *pname;
    while (proc && (pname = g_dir_read_name(proc))) {
        char *end;
        long pid = strtol(pname, &end, 10);
        if (*end || pid <= 0)
            continue;
        g_autofree char *fddir = g_strdup_printf("/proc/%ld/fd", pid);
        g_autoptr(GDir) fds = g_dir_open(fddir, 0, NULL);
        const char *fname;
        while (fds && (fname = g_dir_read_name(fds))) {
            if (pid == self && atoi(fname) == fd)
                continue;       /* our own description: never a conflict */
            g_autofree char *link = g_build_filename(fddir, fname, NULL);
            struct stat st;
            if (stat(link, &st) < 0 || st.st_dev != img.st_dev || st.st_ino != img.st_ino)
                continue;
            g_autofree char *info = g_strdup_printf("/proc/%ld/fdinfo/%s", pid, fname);
            if (fdinfo_has_lock(info, offset))
                return describe_pid((pid_t)pid);
        }
    }
    return g_strdup("another process (not found in /proc: it may belong to another "
                    "user or PID namespace)");
}

static bool conflict(int fd, const char *path, bool writable, off_t off, GError **err)
{
    g_autofree char *holder = vmm_image_lock_describe_holder(fd, off);
    g_autofree char *what = byte_meaning(off);
    unlock_all(fd);
    g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_LOCKED,
                "disk '%s': cannot lock the image for %s use: it is in use by %s, "
                "which %s (image lock byte %ld)", path,
                writable ? "read-write" : "read-only", holder, what, (long)off);
    return false;
}

static bool lock_failed(int fd, const char *path, const char *verb, off_t off, int r,
                        GError **err)
{
    unlock_all(fd);
    g_set_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_OPEN,
                "disk '%s': cannot %s image lock byte %ld: %s", path, verb, (long)off,
                g_strerror(-r));
    return false;
}

bool vmm_image_lock(int fd, const char *path, bool writable, GError **err)
{
    unsigned perm = 1u << PERM_READ | (writable ? 1u << PERM_WRITE : 0);
    unsigned unshared = 1u << PERM_WRITE;

    /* Take our bytes first, then look: two openers racing both see each
     * other and both fail, rather than both succeeding. */
    for (int i = 0; i < N_PERMS; i++) {
        for (int shared = 0; shared < 2; shared++) {
            if (!((shared ? unshared : perm) & (1u << i)))
                continue;
            off_t off = (shared ? LOCK_SHARED_BASE : LOCK_PERM_BASE) + i;
            int r = ofd_lock(fd, off, F_RDLCK);
            if (r == -EAGAIN || r == -EACCES)   /* someone's write lock on the byte */
                return conflict(fd, path, writable, off, err);
            if (r == -ENOLCK || r == -EOPNOTSUPP) {
                unlock_all(fd);
                vmm_log_warn("disk '%s': the file system does not support byte-range "
                             "locks (%s); the image is not locked against other users",
                             path, g_strerror(-r));
                return true;
            }
            if (r < 0)
                return lock_failed(fd, path, "take", off, r, err);
        }
    }
    for (int i = 0; i < N_PERMS; i++) {
        /* Users of a permission first: "has it open read-write" says more
         * than "does not let others write" when both are true. */
        for (int shared = 1; shared >= 0; shared--) {
            /* A permission we want must not be refused by others (their
             * 200+i byte); one we refuse must not be used by others (100+i). */
            if (!((shared ? unshared : perm) & (1u << i)))
                continue;
            off_t off = (shared ? LOCK_PERM_BASE : LOCK_SHARED_BASE) + i;
            int r = ofd_test(fd, off);
            if (r > 0)
                return conflict(fd, path, writable, off, err);
            if (r < 0)
                return lock_failed(fd, path, "test", off, r, err);
        }
    }
    return true;
}
