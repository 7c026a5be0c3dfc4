/* vmm-worker end to end: the real worker on /dev/kvm booting the guest kit
 * for each guest test with 1 and 2 vCPUs, the three boot paths, reboot and
 * power-off statuses, SIGTERM as the ACPI power button, serial backends,
 * and bad input. */
#include "harness.h"

#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BOOT_TIMEOUT 60.0

static json_object *get(json_object *o, const char *k)
{
    json_object *v = NULL;
    json_object_object_get_ex(o, k, &v);
    return v;
}

/* Runs a guest test and checks the parts every test shares. */
static HarnessRun *run_guest(const HarnessDomain *d, const char *const *args)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *xml = harness_write_domain(dir, d);
    HarnessRun *r = harness_run_worker(xml, args, BOOT_TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r);
    return r;
}

static void assert_all_passed(HarnessRun *r)
{
    if (harness_done_count(r, "failed") != 0 || r->exit_status != 0) {
        g_test_message("exit %d\nstdout:\n%s\nstderr:\n%s", r->exit_status, r->out, r->err);
    }
    g_assert_nonnull(r->done);
    g_assert_cmpint(harness_done_count(r, "failed"), ==, 0);
    g_assert_cmpint(harness_done_count(r, "passed"), >, 0);
    g_assert_cmpint(r->exit_status, ==, 0);    /* powered off */
}

typedef struct {
    const char *test;
    unsigned vcpus;
} GuestCase;

static void test_guest(gconstpointer data)
{
    const GuestCase *gc = data;
    g_autofree char *cmd = g_strdup_printf("test=%s", gc->test);
    HarnessDomain d = { .vcpus = gc->vcpus, .memory_mib = 256, .cmdline = cmd };
    g_autoptr(HarnessRun) r = run_guest(&d, NULL);
    assert_all_passed(r);
    g_autoptr(GPtrArray) start = harness_find(r, "event", "start");
    g_assert_cmpuint(start->len, ==, 1);
    g_assert_cmpstr(json_object_get_string(get(start->pdata[0], "cmdline")), ==, cmd);

    if (!strcmp(gc->test, "hello")) {
        /* Every vCPU reports, with distinct APIC ids 0..n-1. */
        g_autoptr(GPtrArray) cpus = harness_find(r, "check", "cpu");
        g_assert_cmpuint(cpus->len, ==, gc->vcpus);
        guint seen = 0;
        for (guint i = 0; i < cpus->len; i++) {
            int id = json_object_get_int(get(cpus->pdata[i], "apic_id"));
            g_assert_cmpint(id, >=, 0);
            g_assert_cmpint(id, <, (int)gc->vcpus);
            seen |= 1u << id;
        }
        g_assert_cmpuint(seen, ==, (1u << gc->vcpus) - 1);
        g_autoptr(GPtrArray) mem = harness_find(r, "memory_mib", NULL);
        g_assert_cmpuint(mem->len, ==, 1);
        int mib = json_object_get_int(get(mem->pdata[0], "memory_mib"));
        /* Usable RAM: all of it minus the BIOS hole below 1 MiB. */
        g_assert_cmpint(mib, >=, 254);
        g_assert_cmpint(mib, <=, 256);
        g_assert_cmpint(json_object_get_int(get(mem->pdata[0], "cpus")), ==, gc->vcpus);
    } else if (!strcmp(gc->test, "acpi")) {
        g_autoptr(GPtrArray) m = harness_find(r, "madt_cpus", NULL);
        g_assert_cmpuint(m->len, >=, 1);
        g_assert_cmpint(json_object_get_int(get(m->pdata[0], "madt_cpus")), ==, gc->vcpus);
    } else if (!strcmp(gc->test, "pci")) {
        /* The host bridge is there, seen the same through ECAM and 0xcf8. */
        g_assert_nonnull(strstr(r->out, "1b36"));
    }
}

static void test_boot_protocols(void)
{
    struct { const char *kernel, *proto, *expect; } cases[] = {
        { "tests/guest/guestkit.elf", NULL, "pvh" },
        { "tests/guest/guestkit.elf", "--boot-protocol=pvh", "pvh" },
        { "tests/guest/guestkit.elf", "--boot-protocol=linux", "linux64" },
        { "tests/guest/guestkit.bzImage", NULL, "bzimage" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *k = harness_path(cases[i].kernel);
        HarnessDomain d = { .vcpus = 2, .kernel = k, .cmdline = "test=hello" };
        const char *args[] = { cases[i].proto, NULL };
        g_autoptr(HarnessRun) r = run_guest(&d, cases[i].proto ? args : NULL);
        assert_all_passed(r);
        g_autoptr(GPtrArray) start = harness_find(r, "event", "start");
        g_assert_cmpuint(start->len, ==, 1);
        g_assert_cmpstr(json_object_get_string(get(start->pdata[0], "boot")), ==,
                        cases[i].expect);
    }
}

static void test_reboot_destroy(void)
{
    const char *methods[] = { "test=reboot method=kbd", "test=reboot method=acpi" };
    for (unsigned i = 0; i < G_N_ELEMENTS(methods); i++) {
        HarnessDomain d = { .cmdline = methods[i], .on_reboot = "destroy" };
        g_autoptr(HarnessRun) r = run_guest(&d, NULL);
        if (r->exit_status != 2)
            g_test_message("stdout:\n%s\nstderr:\n%s", r->out, r->err);
        g_assert_cmpint(r->exit_status, ==, 2);   /* reboot with on_reboot=destroy */
        g_assert_nonnull(strstr(r->err, "reset"));
    }
}

typedef struct { unsigned starts; unsigned sigterms; } RestartCtx;

static gboolean count_starts(const char *line, GPid pid, void *opaque)
{
    RestartCtx *c = opaque;
    if (strstr(line, "\"event\":\"start\""))
        c->starts++;
    /* From the third boot on (it restarted twice), one SIGTERM a line:
     * the first of a boot presses the power button, which the reboot test
     * ignores; a second in the same boot stops the worker hard. (A restart
     * starts the count again, and GLib merges signals that arrive
     * together, so two signals alone could land in two boots.) */
    if (c->starts >= 3) {
        c->sigterms++;
        kill(pid, SIGTERM);
    }
    return TRUE;
}

static void test_reboot_restart(void)
{
    g_autofree char *dir = harness_tmpdir();
    HarnessDomain d = { .cmdline = "test=reboot", .on_reboot = "restart" };
    g_autofree char *xml = harness_write_domain(dir, &d);
    RestartCtx c = { 0 };
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, BOOT_TIMEOUT, count_starts, &c);
    harness_assert_clean_stderr(r);
    g_assert_cmpuint(c.starts, >=, 3);
    g_assert_cmpint(r->exit_status, ==, 4);        /* stopped hard */
}

static void test_poweroff(void)
{
    for (unsigned v = 1; v <= 2; v++) {
        HarnessDomain d = { .vcpus = v, .cmdline = "test=poweroff" };
        g_autoptr(HarnessRun) r = run_guest(&d, NULL);
        g_assert_cmpint(r->exit_status, ==, 0);
        g_assert_nonnull(strstr(r->err, "poweroff"));
    }
}

static gboolean sigterm_when_idle(const char *line, GPid pid, void *opaque)
{
    if (strstr(line, "guestkit: ") && strstr(line, "\"event\":\"idle\""))
        kill(pid, SIGTERM);
    return TRUE;
}

static void test_sigterm_power_button(void)
{
    g_autofree char *dir = harness_tmpdir();
    HarnessDomain d = { .vcpus = 2, .cmdline = "test=idle" };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, BOOT_TIMEOUT, sigterm_when_idle, NULL);
    harness_assert_clean_stderr(r);
    g_autoptr(GPtrArray) ev = harness_find(r, "event", "powerbutton");
    if (ev->len != 1)
        g_test_message("stdout:\n%s\nstderr:\n%s", r->out, r->err);
    g_assert_cmpuint(ev->len, ==, 1);
    g_assert_cmpint(r->exit_status, ==, 0);
}

/* At idle: the worker's mappings, then SIGTERM. */
static gboolean maps_when_idle(const char *line, GPid pid, void *opaque)
{
    char **maps = opaque;
    if (strstr(line, "guestkit: ") && strstr(line, "\"event\":\"idle\"") && !*maps) {
        g_autofree char *path = g_strdup_printf("/proc/%d/maps", (int)pid);
        g_assert_true(g_file_get_contents(path, maps, NULL, NULL));
        kill(pid, SIGTERM);
    }
    return TRUE;
}

/* The process running the guest has no XML parser and no GIO: vmm-worker
 * links neither libxml2 (its front end vmm-worker-xml, which reads --xml,
 * does) nor GIO, and a running worker maps none. (GLib itself is usually
 * inside the binary: configure's static worker libraries; libc is the
 * sign that ldd and the maps were read at all.) */
static void test_no_xml_parser(void)
{
    g_autofree char *worker = harness_path("src/vmm-worker");
    g_autofree char *front = harness_path("src/vmm-worker-xml");
    g_autofree char *cmd = g_strdup_printf("ldd '%s'", worker);
    g_autofree char *libs = harness_sh_out(cmd);
    g_autofree char *cmd2 = g_strdup_printf("ldd '%s'", front);
    g_autofree char *front_libs = harness_sh_out(cmd2);
    g_assert_nonnull(strstr(libs, "libc.so"));
    g_assert_null(strstr(libs, "libxml2"));
    g_assert_null(strstr(libs, "libgio"));
    g_assert_nonnull(strstr(front_libs, "libxml2"));

    g_autofree char *dir = harness_tmpdir();
    HarnessDomain d = { .cmdline = "test=idle" };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autofree char *maps = NULL;
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, BOOT_TIMEOUT, maps_when_idle, &maps);
    harness_assert_clean_stderr(r);
    g_assert_nonnull(maps);
    g_assert_nonnull(strstr(maps, "vmm-worker"));
    g_assert_nonnull(strstr(maps, "libc.so"));
    if (strstr(maps, "libxml2") || strstr(maps, "libgio"))
        g_error("a running worker maps libxml2 or GIO:\n%s", maps);
}

static void test_serial_file(void)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *log = g_build_filename(dir, "console.log", NULL);
    g_autofree char *serial = g_strdup_printf(
        "<serial type='file'><source path='%s'/><target port='0'/></serial>", log);
    HarnessDomain d = { .cmdline = "test=hello", .serial_xml = serial };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, BOOT_TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_autofree char *content = NULL;
    g_assert_true(g_file_get_contents(log, &content, NULL, NULL));
    g_assert_nonnull(strstr(content, "\"done\""));
    g_assert_null(strstr(r->out, "guestkit:"));
}

/* Reads a unix socket connection to EOF in a thread, like a console
 * client would while the VM runs. */
static gpointer accept_and_read(gpointer data)
{
    int lfd = GPOINTER_TO_INT(data);
    int cfd = accept(lfd, NULL, NULL);
    GString *got = g_string_new(NULL);
    char buf[4096];
    ssize_t n;
    while (cfd >= 0 && (n = read(cfd, buf, sizeof(buf))) > 0)
        g_string_append_len(got, buf, n);
    if (cfd >= 0)
        close(cfd);
    return g_string_free(got, FALSE);
}

static void test_serial_unix(void)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *sock = g_build_filename(dir, "console.sock", NULL);
    /* The worker connects to our listening socket (mode='connect'). */
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, sock, sizeof(sa.sun_path));
    g_assert_cmpint(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(lfd, 1), ==, 0);
    g_autofree char *serial = g_strdup_printf(
        "<serial type='unix'><source mode='connect' path='%s'/><target port='0'/></serial>",
        sock);
    HarnessDomain d = { .cmdline = "test=hello", .serial_xml = serial };
    g_autofree char *xml = harness_write_domain(dir, &d);
    GThread *reader = g_thread_new("console", accept_and_read, GINT_TO_POINTER(lfd));
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, BOOT_TIMEOUT, NULL, NULL);
    harness_assert_clean_stderr(r);
    g_assert_cmpint(r->exit_status, ==, 0);
    g_autofree char *got = g_thread_join(reader);
    g_assert_nonnull(strstr(got, "\"event\":\"start\""));
    g_assert_nonnull(strstr(got, "\"done\""));
    g_assert_null(strstr(r->out, "guestkit:"));
    close(lfd);
}

/* Reads fd until `needle` shows up (or timeout); returns what was read. */
static char *read_until(int fd, const char *needle, int timeout_ms)
{
    GString *got = g_string_new(NULL);
    gint64 end = g_get_monotonic_time() + timeout_ms * 1000LL;
    while (!strstr(got->str, needle) && g_get_monotonic_time() < end) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0)
            continue;
        char buf[1024];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        g_string_append_len(got, buf, n);
    }
    return g_string_free(got, FALSE);
}

/* serial type='pty': the worker names its pty as QEMU does; the guest's
 * output waits there for a reader, and the reader sees it all. */
static void test_serial_pty(void)
{
    g_autofree char *dir = harness_tmpdir();
    HarnessDomain d = { .cmdline = "test=idle",
                        .serial_xml = "<serial type='pty'><target port='0'/></serial>" };
    g_autofree char *xml = harness_write_domain(dir, &d);
    g_autofree char *worker = harness_path("src/vmm-worker");
    const char *argv[] = { worker, "--xml", xml, NULL };
    GPid pid;
    int err_fd;
    g_autoptr(GError) err = NULL;
    g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                           NULL, NULL, &pid, NULL, NULL, &err_fd, &err));
    g_autofree char *log = read_until(err_fd, "(label serial0)", 20000);
    const char *p = strstr(log, "redirected to ");
    g_assert_nonnull(p);
    g_autofree char *path = g_strndup(p + strlen("redirected to "),
                                      strcspn(p + strlen("redirected to "), " "));
    int pty = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    g_assert_cmpint(pty, >=, 0);
    g_autofree char *out = read_until(pty, "\"event\":\"idle\"", 30000);
    g_assert_nonnull(strstr(out, "\"event\":\"start\""));   /* written before we opened */
    g_assert_nonnull(strstr(out, "\"event\":\"idle\""));
    kill(pid, SIGTERM);                                        /* the ACPI power button */
    g_autofree char *rest = read_until(pty, "\"done\"", 30000);
    g_assert_nonnull(strstr(rest, "\"event\":\"powerbutton\""));
    int status = 0;
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    close(pty);
    close(err_fd);
    g_spawn_close_pid(pid);
}

/* Bad input: a one-line error, exit status 1, no crash. */
static void expect_error(const char *xml_text, const char *needle)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *xml = g_build_filename(dir, "bad.xml", NULL);
    g_assert_true(g_file_set_contents(xml, xml_text, -1, NULL));
    g_autoptr(HarnessRun) r = harness_run_worker(xml, NULL, 30, NULL, NULL);
    harness_assert_clean_stderr(r);
    if (r->exit_status != 1 || !strstr(r->err, needle))
        g_test_message("expected '%s'; exit %d stderr:\n%s", needle, r->exit_status, r->err);
    g_assert_cmpint(r->exit_status, ==, 1);
    g_assert_nonnull(strstr(r->err, needle));
    /* One line. */
    g_auto(GStrv) lines = g_strsplit(g_strstrip(r->err), "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, 1);
}

static char *domain_with(const char *kernel, const char *memory, const char *vcpu)
{
    return g_strdup_printf("<domain type='kvm'><name>bad</name><memory unit='MiB'>%s</memory>"
                           "<vcpu>%s</vcpu><os><type arch='x86_64'>hvm</type><kernel>%s</kernel>"
                           "</os><features><acpi/><apic/></features><devices/></domain>",
                           memory, vcpu, kernel);
}

static void test_bad_input(void)
{
    g_autofree char *kit = harness_path("tests/guest/guestkit.elf");
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *notkernel = g_build_filename(dir, "notkernel", NULL);
    g_assert_true(g_file_set_contents(notkernel, "this is not a kernel\n", -1, NULL));
    g_autofree char *empty = g_build_filename(dir, "empty", NULL);
    g_assert_true(g_file_set_contents(empty, "", 0, NULL));

    expect_error("<domain type='kvm'><name>x</name>", "");
    g_autofree char *a = domain_with("/nonexistent/vmlinux", "128", "1");
    expect_error(a, "/nonexistent/vmlinux");
    g_autofree char *b = domain_with(notkernel, "128", "1");
    expect_error(b, "neither");
    g_autofree char *b2 = domain_with(empty, "128", "1");
    expect_error(b2, "neither");
    g_autofree char *c = domain_with(kit, "16777216", "1");   /* 16 TiB */
    expect_error(c, "memory");
    g_autofree char *e = domain_with(kit, "128", "0");
    expect_error(e, "vcpu");
    g_autofree char *f = domain_with(kit, "128", "1000");
    expect_error(f, "vcpu");
    g_autofree char *g = domain_with(kit, "1", "1");          /* kernel cannot fit */
    expect_error(g, "");

    /* Malformed kernels: each refused with what is wrong, the file named. */
    struct { const char *name, *expect; uint64_t phoff, p_type, offset, filesz, paddr, size; } elf[] = {
        { "phdrs-past-end", "program headers are truncated", 1 << 20, PT_LOAD, 0, 0, 1 << 20, 4096 },
        { "segment-past-end", "lies outside the file", 64, PT_LOAD, 0, 8192, 1 << 20, 4096 },
        { "segment-low", "below 1 MiB", 64, PT_LOAD, 0, 4096, 0x7000, 4096 },
        { "segment-past-ram", "does not fit in guest RAM", 64, PT_LOAD, 0, 4096, 1ULL << 40, 4096 },
        { "notes-huge", "note segment 0", 64, PT_NOTE, 0, 2 << 20, 0, 3 << 20 },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(elf); i++) {
        Elf64_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
                          .e_entry = 1 << 20, .e_phoff = elf[i].phoff, .e_ehsize = sizeof(eh),
                          .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 1 };
        memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS64;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        Elf64_Phdr ph = { .p_type = elf[i].p_type, .p_offset = elf[i].offset,
                          .p_filesz = elf[i].filesz, .p_memsz = elf[i].filesz,
                          .p_paddr = elf[i].paddr };
        g_autofree char *path = g_build_filename(dir, elf[i].name, NULL);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(ftruncate(fd, elf[i].size), ==, 0);
        g_assert_cmpint(pwrite(fd, &eh, sizeof(eh), 0), ==, sizeof(eh));
        g_assert_cmpint(pwrite(fd, &ph, sizeof(ph), 64), ==, sizeof(ph));
        close(fd);
        g_autofree char *x = domain_with(path, "128", "1");
        g_autofree char *expect = g_strdup_printf("kernel '%s'", path);
        expect_error(x, expect);
        expect_error(x, elf[i].expect);
    }
    /* a bzImage whose setup sectors run past the file's end */
    uint8_t bz[1024] = { 0 };
    bz[0x1f1] = 200;                    /* setup_sects */
    bz[0x1fe] = 0x55, bz[0x1ff] = 0xaa;
    memcpy(bz + 0x202, "HdrS", 4);
    bz[0x206] = 0x0f, bz[0x207] = 0x02; /* protocol 2.15 */
    bz[0x236] = 1;                      /* XLF_KERNEL_64 */
    g_autofree char *bzpath = g_build_filename(dir, "bz-truncated", NULL);
    g_assert_true(g_file_set_contents(bzpath, (const char *)bz, sizeof(bz), NULL));
    g_autofree char *y = domain_with(bzpath, "128", "1");
    expect_error(y, "bzImage is truncated");
}

/* Bad command-line values: one line naming the option, exit 1, no crash
 * (a --net-fds without ':' once freed an uninitialised pointer). */
static void test_bad_args(void)
{
    g_autofree char *dir = harness_tmpdir();
    g_autofree char *kit = harness_path("tests/guest/guestkit.elf");
    g_autofree char *doc = domain_with(kit, "128", "1");
    g_autofree char *xml = g_build_filename(dir, "ok.xml", NULL);
    g_assert_true(g_file_set_contents(xml, doc, -1, NULL));
    static const char *cases[][2] = {
        { "--net-fds=x", "--net-fds 'x'" },
        { "--net-fds=0:", "--net-fds '0:'" },
        { "--net-fds=0:1", "--net-fds '0:1'" },
        { "--net-fds=999:5", "--net-fds '999:5'" },
        { "--boot-protocol=nope", "nope" },
        /* the domain has no vhost-user device: each names the argument */
        { "--vhost-user-fd=disk:vda:5", "--vhost-user-fd 'disk:vda:5'" },
        { "--vhost-user-fd=interface:0:5", "--vhost-user-fd 'interface:0:5'" },
        { "--vhost-user-fd=interface:-1:5", "--vhost-user-fd 'interface:-1:5'" },
        { "--vhost-user-fd=interface:18446744073709551616:5", "18446744073709551616:5'" },
        { "--vhost-user-fd=disk:vda:1", "FD >= 3" },
        { "--vhost-user-fd=tape:0:5", "--vhost-user-fd 'tape:0:5'" },
        { "--vhost-user-fd=disk", "--vhost-user-fd 'disk'" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *args[] = { cases[i][0], NULL };
        g_autoptr(HarnessRun) r = harness_run_worker(xml, args, 30, NULL, NULL);
        harness_assert_clean_stderr(r);
        if (r->exit_status != 1 || !strstr(r->err, cases[i][1]))
            g_test_message("%s: exit %d stderr:\n%s", cases[i][0], r->exit_status, r->err);
        g_assert_cmpint(r->exit_status, ==, 1);
        g_assert_nonnull(strstr(r->err, cases[i][1]));
        g_auto(GStrv) lines = g_strsplit(g_strstrip(r->err), "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 1);
    }
}

/* A machine description is hostile input too: the worker refuses a bad
 * one with one line naming the fd and the key, and exit status 1. */
static void test_bad_description(void)
{
    g_autofree char *worker = harness_path("src/vmm-worker");
    static const char *cases[][2] = {
        { "{bad", "--desc-fd 0: machine description: not JSON" },
        { "{\"format\":\"vmmd-machine-description\",\"version\":1,\"name\":\"../x\","
          "\"kernel\":\"/k\",\"memory_kib\":1024,\"vcpus\":1}",
          "--desc-fd 0: machine description: name: not a domain name" },
        { "{\"format\":\"vmmd-machine-description\",\"version\":1,\"name\":\"x\","
          "\"kernel\":\"/k\",\"memory_kib\":1024,\"vcpus\":300}",
          "--desc-fd 0: machine description: vcpus: 300 is out of range (1 to 255)" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *quoted = g_shell_quote(cases[i][0]);
        g_autofree char *cmd = g_strdup_printf("printf %%s %s | '%s' --desc-fd 0 2>&1; "
                                               "echo \"exit $?\"", quoted, worker);
        g_autofree char *out = harness_sh_out(cmd);
        g_test_message("%s", out);
        g_assert_nonnull(strstr(out, cases[i][1]));
        g_assert_true(g_str_has_suffix(out, "exit 1\n"));
        g_auto(GStrv) lines = g_strsplit(g_strstrip(out), "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 2);
    }
    /* one of --xml and --desc-fd */
    g_autofree char *cmd = g_strdup_printf("'%s' 2>&1; echo \"exit $?\"", worker);
    g_autofree char *out = harness_sh_out(cmd);
    g_assert_nonnull(strstr(out, "one of --xml FILE and --desc-fd FD is required"));
}

static void test_missing_xml(void)
{
    g_autoptr(HarnessRun) r = harness_run_worker("/nonexistent/domain.xml", NULL, 30, NULL, NULL);
    g_assert_cmpint(r->exit_status, ==, 1);
    g_assert_nonnull(strstr(r->err, "/nonexistent/domain.xml"));
}

static void skip_no_kvm(void)
{
    g_test_skip("/dev/kvm is not accessible on this host");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        /* These tests need the real thing; say why they don't run. */
        g_test_add_func("/worker/no-kvm", skip_no_kvm);
        return g_test_run();
    }
    static const char *tests[] = { "hello", "pci", "acpi", "serial" };
    static GuestCase cases[G_N_ELEMENTS(tests) * 2];
    for (unsigned i = 0; i < G_N_ELEMENTS(tests); i++) {
        for (unsigned v = 1; v <= 2; v++) {
            GuestCase *gc = &cases[i * 2 + v - 1];
            gc->test = tests[i];
            gc->vcpus = v;
            g_autofree char *path = g_strdup_printf("/worker/guest/%s/vcpus-%u", tests[i], v);
            g_test_add_data_func(path, gc, test_guest);
        }
    }
    g_test_add_func("/worker/boot-protocols", test_boot_protocols);
    g_test_add_func("/worker/poweroff", test_poweroff);
    g_test_add_func("/worker/reboot/destroy", test_reboot_destroy);
    g_test_add_func("/worker/reboot/restart", test_reboot_restart);
    g_test_add_func("/worker/sigterm-power-button", test_sigterm_power_button);
    g_test_add_func("/worker/serial/file", test_serial_file);
    g_test_add_func("/worker/no-xml-parser", test_no_xml_parser);
    g_test_add_func("/worker/serial/unix-connect", test_serial_unix);
    g_test_add_func("/worker/serial/pty", test_serial_pty);
    g_test_add_func("/worker/bad-input", test_bad_input);
    g_test_add_func("/worker/missing-xml", test_missing_xml);
    g_test_add_func("/worker/bad-description", test_bad_description);
    g_test_add_func("/worker/bad-args", test_bad_args);
    return g_test_run();
}
