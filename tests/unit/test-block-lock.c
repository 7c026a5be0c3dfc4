/* Unit tests for src/block/lock.c with real files and real processes:
 * QEMU-compatible image locks between two open file descriptions of one
 * process, between processes, read-only sharing, read-write exclusion,
 * release on close and on exit, the holder named in the error, and the
 * lock taken by vmm_block_open(). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "block/block.h"
#include "block/lock.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *test_dir;

static char *make_image(const char *name)
{
    char *path = g_build_filename(test_dir, name, NULL);
    g_assert_true(g_file_set_contents(path, "", 0, NULL));
    g_assert_cmpint(truncate(path, 1024 * 1024), ==, 0);
    return path;
}

/* A fresh open file description with the image lock taken, or -1 with err. */
static int open_locked(const char *path, bool writable, GError **err)
{
    int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    if (!vmm_image_lock(fd, path, writable, err)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void assert_locked_error(GError *err, const char *path, const char *holder)
{
    g_assert_nonnull(err);
    g_test_message("error: %s", err->message);
    g_assert_error(err, VMM_BLOCK_ERROR, VMM_BLOCK_ERROR_LOCKED);
    g_assert_nonnull(strstr(err->message, path));
    g_assert_nonnull(strstr(err->message, holder));
}

/* Two open() calls in one process are two descriptions: they conflict as
 * two VMs would, and closing the first frees the image. */
static void test_same_process(void)
{
    g_autofree char *img = make_image("same.img");
    g_autoptr(GError) err = NULL;
    int a = open_locked(img, true, &err);
    g_assert_no_error(err);
    g_assert_cmpint(open_locked(img, true, &err), ==, -1);
    /* No holder record in this process yet: named by pid and command. */
    g_autofree char *by_pid = g_strdup_printf("process %d (this process, test-block-lock)",
                                              getpid());
    assert_locked_error(err, img, by_pid);
    g_assert_nonnull(strstr(err->message, "has it open read-write"));
    g_clear_error(&err);
    /* A reader is refused too: the writer does not share writing. The
     * refused description keeps no lock bytes, even while still open. */
    int refused = open(img, O_RDONLY | O_CLOEXEC);
    g_assert_false(vmm_image_lock(refused, img, false, &err));
    assert_locked_error(err, img, "has it open read-write");
    g_clear_error(&err);
    close(a);
    int b = open_locked(img, true, &err);
    g_assert_no_error(err);
    g_assert_cmpint(b, >=, 0);
    close(b);
    close(refused);
}

static void test_readonly_shared(void)
{
    g_autofree char *img = make_image("ro.img");
    g_autoptr(GError) err = NULL;
    int a = open_locked(img, false, &err);
    g_assert_no_error(err);
    int b = open_locked(img, false, &err);
    g_assert_no_error(err);
    g_assert_cmpint(b, >=, 0);
    /* Readers keep writers out. */
    g_assert_cmpint(open_locked(img, true, &err), ==, -1);
    assert_locked_error(err, img, "does not let others write to it");
    g_assert_nonnull(strstr(err->message, "read-write use"));
    g_clear_error(&err);
    close(a);
    g_assert_cmpint(open_locked(img, true, &err), ==, -1);   /* b still reads */
    g_clear_error(&err);
    close(b);
    int c = open_locked(img, true, &err);
    g_assert_no_error(err);
    close(c);
}

/* A child holds the image (read-write or read-only, named as a domain or
 * not) until told to exit; returns its pid and the pipe that keeps it. */
static pid_t spawn_holder(const char *img, bool writable, const char *domain, int *keep)
{
    int ready[2], hold[2];
    g_assert_cmpint(pipe2(ready, O_CLOEXEC), ==, 0);
    g_assert_cmpint(pipe2(hold, O_CLOEXEC), ==, 0);
    pid_t pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        close(ready[0]);
        close(hold[1]);
        GError *e = NULL;
        if (domain && !vmm_image_lock_set_holder(domain, &e))
            _exit(2);
        int fd = open(img, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        if (fd < 0 || !vmm_image_lock(fd, img, writable, &e))
            _exit(3);
        char c = 'r';
        if (write(ready[1], &c, 1) != 1)
            _exit(4);
        /* Until the parent closes its end (or dies). */
        while (read(hold[0], &c, 1) > 0)
            ;
        _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    char c = 0;
    g_assert_cmpint(read(ready[0], &c, 1), ==, 1);
    close(ready[0]);
    *keep = hold[1];
    return pid;
}

static void test_child_holder(void)
{
    g_autofree char *img = make_image("child.img");
    g_autoptr(GError) err = NULL;
    int keep;
    pid_t pid = spawn_holder(img, true, "first-vm", &keep);
    g_assert_cmpint(open_locked(img, false, &err), ==, -1);
    g_autofree char *who = g_strdup_printf("domain 'first-vm' (test-block-lock pid %d)", pid);
    assert_locked_error(err, img, who);
    g_clear_error(&err);
    g_assert_cmpint(open_locked(img, true, &err), ==, -1);
    assert_locked_error(err, img, who);
    g_clear_error(&err);
    /* Killed, not closed: OFD locks go with the process. */
    kill(pid, SIGKILL);
    int status;
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    close(keep);
    int fd = open_locked(img, true, &err);
    g_assert_no_error(err);
    close(fd);

    /* A holder without a record is named by pid and command. */
    pid = spawn_holder(img, false, NULL, &keep);
    g_assert_cmpint(open_locked(img, true, &err), ==, -1);
    g_autofree char *by_pid = g_strdup_printf("process %d (test-block-lock)", pid);
    assert_locked_error(err, img, by_pid);
    g_clear_error(&err);
    /* ... and shares with readers. */
    fd = open_locked(img, false, &err);
    g_assert_no_error(err);
    close(fd);
    close(keep);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* vmm_block_open() takes the lock: a second writable open of one image
 * fails, read-only opens share. */
static void test_block_open(void)
{
    g_autofree char *img = make_image("dev.img");
    g_autoptr(GError) err = NULL;
    VmmBlockDev *a = vmm_block_open(img, false, false, VMM_CACHE_WRITEBACK, VMM_IO_THREADS,
                                    VMM_DISCARD_IGNORE, 1, &err);
    g_assert_no_error(err);
    VmmBlockDev *b = vmm_block_open(img, false, false, VMM_CACHE_WRITEBACK, VMM_IO_THREADS,
                                    VMM_DISCARD_IGNORE, 1, &err);
    g_assert_null(b);
    assert_locked_error(err, img, "cannot lock the image for read-write use");
    g_clear_error(&err);
    vmm_block_close(a);
    a = vmm_block_open(img, false, true, VMM_CACHE_WRITEBACK, VMM_IO_THREADS,
                       VMM_DISCARD_IGNORE, 1, &err);
    g_assert_no_error(err);
    b = vmm_block_open(img, false, true, VMM_CACHE_WRITEBACK, VMM_IO_THREADS,
                       VMM_DISCARD_IGNORE, 1, &err);
    g_assert_no_error(err);
    vmm_block_close(a);
    vmm_block_close(b);
}

/* The holder record names the domain; this process then shows as one. */
static void test_holder_record(void)
{
    g_autofree char *img = make_image("record.img");
    g_autoptr(GError) err = NULL;
    g_assert_true(vmm_image_lock_set_holder("self-vm", &err));
    int a = open_locked(img, true, &err);
    g_assert_no_error(err);
    g_assert_cmpint(open_locked(img, true, &err), ==, -1);
    g_autofree char *who = g_strdup_printf("domain 'self-vm' (this process, test-block-lock pid %d)",
                                           getpid());
    assert_locked_error(err, img, who);
    close(a);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_autoptr(GError) err = NULL;
    test_dir = g_dir_make_tmp("test-block-lock-XXXXXX", &err);
    g_assert_no_error(err);
    g_test_add_func("/block/lock/same-process", test_same_process);
    g_test_add_func("/block/lock/readonly-shared", test_readonly_shared);
    g_test_add_func("/block/lock/child-holder", test_child_holder);
    g_test_add_func("/block/lock/block-open", test_block_open);
    g_test_add_func("/block/lock/holder-record", test_holder_record);
    int ret = g_test_run();
    const char *n;
    GDir *d = g_dir_open(test_dir, 0, NULL);
    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(test_dir, n, NULL);
        g_unlink(p);
    }
    if (d)
        g_dir_close(d);
    g_rmdir(test_dir);
    g_free(test_dir);
    return ret;
}
