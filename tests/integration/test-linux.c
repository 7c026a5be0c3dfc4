/* A real Linux guest: given a kernel in VMM_TEST_LINUX_KERNEL (and an
 * optional initrd in VMM_TEST_LINUX_INITRD; otherwise one is built with a
 * static /init that prints a marker and powers off), boot it on vmm-worker
 * to that marker and an ACPI power-off.
 *
 * It first probes the host with the guest kit: how fast guest CPL0 code
 * runs and whether SYSCALL from CPL3 works. Where the host cannot run a
 * Linux kernel, or no kernel is given, the test is skipped with the reason. */
#include "harness.h"

#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#define MARKER "VMMD-LINUX-INIT-OK"

static json_object *find_check(HarnessRun *r, const char *name)
{
    g_autoptr(GPtrArray) c = harness_find(r, "check", name);
    return c->len ? c->pdata[0] : NULL;
}

/* NULL when the host can run Linux guests, else why not. */
static char *probe_host(void)
{
    g_autofree char *dir = harness_tmpdir();
    HarnessDomain d = { .cmdline = "test=cpl0speed", .on_reboot = "destroy" };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, 60, NULL, NULL);
    json_object *c = find_check(r, "cpl0_speed"), *native = NULL;
    if (!c || !json_object_object_get_ex(c, "kernel_native", &native))
        return g_strdup_printf("the CPL0 speed probe did not report (exit %d)", r->exit_status);
    g_test_message("CPL0 probe: %s", json_object_to_json_string(c));
    if (!json_object_get_boolean(native))
        return g_strdup_printf("guest CPL0 code is instruction-emulated on this host (%s): "
                               "a Linux kernel cannot boot in reasonable time",
                               json_object_to_json_string(c));
    HarnessDomain s = { .cmdline = "test=syscall", .on_reboot = "destroy" };
    g_autofree char *xml2 = harness_write_domain(dir, &s);
    g_autoptr(HarnessRun) r2 = harness_run_worker(xml2, NULL, 60, NULL, NULL);
    json_object *sc = find_check(r2, "syscall"), *ok = NULL;
    if (!sc || !json_object_object_get_ex(sc, "ok", &ok) || !json_object_get_boolean(ok))
        return g_strdup_printf("SYSCALL from guest user mode %s on this host: Linux's first "
                               "system call would kill the guest",
                               r2->exit_status == 2 ? "triple-faults (guest reset)" : "fails");
    return NULL;
}

static bool run(const char *const *argv, const char *cwd)
{
    g_autoptr(GError) err = NULL;
    int status = 0;
    g_autofree char *out = NULL, *errs = NULL;
    if (!g_spawn_sync(cwd, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &errs,
                      &status, &err) || !g_spawn_check_wait_status(status, NULL)) {
        g_test_message("%s failed: %s %s", argv[0], err ? err->message : "", errs ? errs : "");
        return false;
    }
    return true;
}

/* A static /init that prints the marker and powers off, packed as newc cpio. */
static char *build_initrd(const char *dir)
{
    g_autofree char *root = g_build_filename(dir, "root", NULL);
    g_autofree char *src = g_build_filename(dir, "init.c", NULL);
    g_autofree char *bin = g_build_filename(root, "init", NULL);
    g_mkdir_with_parents(root, 0755);
    g_autofree char *devdir = g_build_filename(root, "dev", NULL);
    g_mkdir_with_parents(devdir, 0755);
    const char *code =
        "#include <fcntl.h>\n#include <stdio.h>\n#include <unistd.h>\n#include <sys/reboot.h>\n"
        "int main(void) {\n"
        "  int fd = open(\"/dev/console\", O_WRONLY);\n"
        "  if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }\n"
        "  printf(\"" MARKER " pid %d\\n\", getpid());\n"
        "  fflush(stdout); sync();\n"
        "  reboot(RB_POWER_OFF);\n"
        "  return 1;\n}\n";
    g_assert_true(g_file_set_contents(src, code, -1, NULL));
    const char *cc[] = { "cc", "-static", "-O2", "-o", bin, src, NULL };
    if (!run(cc, NULL))
        return NULL;
    char *cpio = g_build_filename(dir, "initrd.cpio", NULL);
    g_autofree char *cmd = g_strdup_printf("find . | cpio -o -H newc > '%s'", cpio);
    const char *sh[] = { "sh", "-c", cmd, NULL };
    if (!run(sh, root))
        return NULL;
    return cpio;
}

static void test_linux_boot(void)
{
    g_autofree char *why = probe_host();
    if (why) {
        g_test_skip(why);
        return;
    }
    const char *kernel = g_getenv("VMM_TEST_LINUX_KERNEL");
    if (!kernel || !*kernel) {
        g_test_skip("no Linux kernel given: set VMM_TEST_LINUX_KERNEL (a vmlinux or bzImage; "
                    "VMM_TEST_LINUX_INITRD optional)");
        return;
    }
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *initrd = g_strdup(g_getenv("VMM_TEST_LINUX_INITRD"));
    if (!initrd || !*initrd) {
        g_free(initrd);
        initrd = build_initrd(dir);
        g_assert_nonnull(initrd);
    }
    const char *t = g_getenv("VMM_TEST_LINUX_TIMEOUT");
    double timeout = t ? g_ascii_strtod(t, NULL) : 300;
    g_autofree char *xml_path = g_build_filename(dir, "linux.xml", NULL);
    g_autofree char *xml = g_markup_printf_escaped(
        "<domain type='kvm'><name>linux</name><memory unit='MiB'>512</memory><vcpu>2</vcpu>"
        "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel><initrd>%s</initrd>"
        "<cmdline>console=ttyS0 rdinit=/init panic=-1</cmdline></os>"
        "<features><acpi/><apic/></features>"
        "<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot>"
        "<devices><serial type='stdio'><target port='0'/></serial></devices></domain>",
        kernel, initrd);
    g_assert_true(g_file_set_contents(xml_path, xml, -1, NULL));
    g_autoptr(HarnessRun) r = harness_run_worker(xml_path, NULL, timeout, NULL, NULL);
    harness_assert_clean_stderr(r);
    if (!strstr(r->out, MARKER) || r->exit_status != 0)
        g_test_message("exit %d after %.1f s\nconsole (last 4 KiB):\n%s\nstderr:\n%s",
                       r->exit_status, r->seconds,
                       r->out + (strlen(r->out) > 4096 ? strlen(r->out) - 4096 : 0), r->err);
    g_assert_nonnull(strstr(r->out, MARKER));
    g_assert_cmpint(r->exit_status, ==, 0);     /* ACPI power-off */
    g_test_message("Linux booted to init and powered off in %.1f s", r->seconds);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/linux/boot-to-init", test_linux_boot);
    return g_test_run();
}
