/* Unit tests for src/conf/domain_conf.c: the strict libvirt domain XML
 * parser. */
#include "conf/domain_conf.h"
#include "domain-docs.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static VmmDomainDef *parse(const char *xml, GError **err)
{
    return vmm_domain_def_parse_string(xml, strlen(xml), "test.xml", err);
}

static VmmDomainDef *parse_ok(const char *xml)
{
    g_autoptr(GError) err = NULL;
    VmmDomainDef *def = parse(xml, &err);
    if (!def)
        g_test_message("unexpected error: %s\ndocument:\n%s", err->message, xml);
    g_assert_no_error(err);
    g_assert_nonnull(def);
    return def;
}

/* Asserts failure with `code`, a message starting "test.xml:LINE: " (line 0
 * = don't check) and containing `needle`. */
static void expect_error(const char *xml, VmmConfError code, long line,
                         const char *needle)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmDomainDef) def = parse(xml, &err);
    g_assert_null(def);
    g_assert_nonnull(err);
    g_test_message("error: %s", err->message);
    g_assert_error(err, VMM_CONF_ERROR, (gint)code);
    if (line > 0) {
        g_autofree char *prefix = g_strdup_printf("test.xml:%ld: ", line);
        if (!g_str_has_prefix(err->message, prefix))
            g_error("message '%s' does not start with '%s'", err->message, prefix);
    }
    if (needle && !strstr(err->message, needle))
        g_error("message '%s' does not contain '%s'", err->message, needle);
}

static void expect_replace_error(const char *from, const char *to,
                                 VmmConfError code, long line, const char *needle)
{
    g_autofree char *xml = doc_replace(from, to);
    expect_error(xml, code, line, needle);
}

/* Runs libvirt's virt-xml-validate FILE domain on `xml`; returns false and
 * marks the test skipped when the tool is not installed. */
static bool libvirt_validate(const char *xml, bool *valid, char **output)
{
    g_autofree char *tool = g_find_program_in_path("virt-xml-validate");
    if (!tool) {
        g_test_skip("virt-xml-validate (libvirt-clients) is not installed");
        return false;
    }
    g_autoptr(GError) err = NULL;
    g_autofree char *path = NULL;
    int fd = g_file_open_tmp("vmmd-domain-XXXXXX.xml", &path, &err);
    g_assert_no_error(err);
    g_assert_cmpint(close(fd), ==, 0);
    g_assert_true(g_file_set_contents(path, xml, -1, &err));
    char *argv[] = { tool, path, (char *)"domain", NULL };
    g_autofree char *out = NULL;
    g_autofree char *errout = NULL;
    int status = -1;
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &errout, &status, &err));
    g_assert_no_error(err);
    g_assert_cmpint(g_unlink(path), ==, 0);
    *valid = g_spawn_check_wait_status(status, NULL);
    *output = g_strconcat(out, errout, NULL);
    return true;
}

/* Every document vmmd accepts must be one libvirt accepts. */
static void assert_libvirt_valid(const char *xml)
{
    bool valid;
    g_autofree char *output = NULL;
    if (libvirt_validate(xml, &valid, &output) && !valid)
        g_error("virt-xml-validate refuses a document vmmd accepts:\n%s\n"
                "document:\n%s", output, xml);
}

static void assert_libvirt_invalid(const char *xml)
{
    bool valid;
    g_autofree char *output = NULL;
    if (libvirt_validate(xml, &valid, &output) && valid)
        g_error("virt-xml-validate accepts a document vmmd calls invalid:\n%s", xml);
}

/* ------------------------------------------------------------------------ */

static void test_full(void)
{
    g_autoptr(VmmDomainDef) def = parse_ok(full_xml);
    static const uint8_t uuid[16] = { 0x4d, 0xea, 0x22, 0xb3, 0x1d, 0x52, 0xd8, 0xf3,
                                      0x25, 0x16, 0x78, 0x2e, 0x98, 0xab, 0x3f, 0xa0 };
    g_assert_cmpstr(def->name, ==, "full-vm");
    g_assert_true(def->has_uuid);
    g_assert_cmpmem(def->uuid, 16, uuid, 16);
    g_assert_cmpstr(def->title, ==, "A test VM");
    g_assert_cmpstr(def->description, ==, "Line one & <two>\nline three");
    g_assert_cmpuint(def->memory_kib, ==, 2 * 1024 * 1024);
    g_assert_cmpuint(def->current_memory_kib, ==, 1024 * 1024);
    g_assert_cmpuint(def->vcpus, ==, 4);
    g_assert_cmpstr(def->os_arch, ==, "x86_64");
    g_assert_cmpstr(def->os_machine, ==, "pc-q35-7.2");
    g_assert_cmpstr(def->kernel, ==, "/var/lib/vmmd/guestkit.elf");
    g_assert_cmpstr(def->initrd, ==, "/var/lib/vmmd/initrd.img");
    g_assert_cmpstr(def->cmdline, ==, "console=ttyS0 test=smoke");
    g_assert_true(def->acpi);
    g_assert_true(def->apic);
    g_assert_true(def->pae);
    g_assert_cmpint(def->clock, ==, VMM_CLOCK_LOCALTIME);
    g_assert_cmpint(def->on_poweroff, ==, VMM_ACTION_PRESERVE);
    g_assert_cmpint(def->on_reboot, ==, VMM_ACTION_DESTROY);
    g_assert_cmpint(def->on_crash, ==, VMM_ACTION_RESTART);
    g_assert_cmpstr(def->emulator, ==, "/usr/bin/vmm-worker");

    g_assert_cmpuint(def->serials->len, ==, 4);
    VmmChrDef *s0 = def->serials->pdata[0], *s1 = def->serials->pdata[1];
    VmmChrDef *s2 = def->serials->pdata[2], *s3 = def->serials->pdata[3];
    g_assert_cmpint(s0->type, ==, VMM_CHR_PTY);
    g_assert_cmpuint(s0->port, ==, 0);
    g_assert_null(s0->path);
    g_assert_cmpint(s1->type, ==, VMM_CHR_FILE);
    g_assert_cmpuint(s1->port, ==, 1);
    g_assert_cmpstr(s1->path, ==, "/var/log/vm.log");
    g_assert_true(s1->append);
    g_assert_cmpint(s2->type, ==, VMM_CHR_UNIX);
    g_assert_cmpuint(s2->port, ==, 2);
    g_assert_cmpstr(s2->path, ==, "/run/vmmd/vm.sock");
    g_assert_true(s2->listen);
    g_assert_cmpint(s3->type, ==, VMM_CHR_UNIX);
    g_assert_false(s3->listen);
    g_assert_cmpstr(s3->path, ==, "/run/other.sock");

    g_assert_cmpuint(def->disks->len, ==, 2);
    VmmDiskDef *d0 = def->disks->pdata[0], *d1 = def->disks->pdata[1];
    g_assert_cmpint(d0->type, ==, VMM_DISK_FILE);
    g_assert_cmpstr(d0->path, ==, "/var/lib/vmmd/images/root.img");
    g_assert_cmpstr(d0->target_dev, ==, "vda");
    g_assert_cmpint(d0->bus, ==, VMM_DISK_BUS_VIRTIO);
    g_assert_false(d0->readonly);
    g_assert_cmpstr(d0->serial, ==, "ROOT-0001");
    g_assert_cmpint(d0->cache, ==, VMM_CACHE_NONE);
    g_assert_cmpint(d0->io, ==, VMM_IO_NATIVE);
    g_assert_cmpint(d0->discard, ==, VMM_DISCARD_UNMAP);
    g_assert_cmpuint(d0->queues, ==, 4);
    g_assert_cmpint(d0->pci_slot, ==, 5);
    g_assert_cmpint(d1->type, ==, VMM_DISK_BLOCK);
    g_assert_cmpstr(d1->path, ==, "/dev/vg0/data");
    g_assert_cmpstr(d1->target_dev, ==, "vdb");
    g_assert_true(d1->readonly);
    g_assert_null(d1->serial);
    g_assert_cmpint(d1->pci_slot, ==, -1);

    g_assert_cmpuint(def->rngs->len, ==, 2);
    VmmRngDef *r0 = def->rngs->pdata[0], *r1 = def->rngs->pdata[1];
    g_assert_cmpint(r0->model, ==, VMM_RNG_MODEL_VIRTIO);
    g_assert_cmpint(r0->backend, ==, VMM_RNG_BACKEND_RANDOM);
    g_assert_cmpstr(r0->path, ==, "/dev/urandom");
    g_assert_cmpuint(r0->rate_bytes, ==, 4096);
    g_assert_cmpuint(r0->rate_period_ms, ==, 2000);
    g_assert_cmpint(r0->pci_slot, ==, 7);
    g_assert_cmpint(r1->model, ==, VMM_RNG_MODEL_VIRTIO_NON_TRANSITIONAL);
    g_assert_cmpint(r1->backend, ==, VMM_RNG_BACKEND_BUILTIN);
    g_assert_null(r1->path);
    g_assert_cmpuint(r1->rate_bytes, ==, 0);
    g_assert_cmpint(r1->pci_slot, ==, -1);
    const VmmBalloonDef *b = vmm_domain_def_balloon(def);
    g_assert_nonnull(b);
    g_assert_cmpint(b->autodeflate, ==, VMM_TRI_ON);
    g_assert_cmpint(b->free_page_reporting, ==, VMM_TRI_OFF);
    g_assert_cmpuint(b->stats_period, ==, 10);
    g_assert_cmpint(b->pci_slot, ==, 6);

    assert_libvirt_valid(full_xml);
}

static void test_defaults(void)
{
    g_autoptr(VmmDomainDef) def = parse_ok(base_xml);
    g_assert_cmpstr(def->name, ==, "vm1");
    g_assert_false(def->has_uuid);
    g_assert_null(def->title);
    g_assert_null(def->description);
    g_assert_cmpuint(def->memory_kib, ==, 64 * 1024);
    g_assert_cmpuint(def->current_memory_kib, ==, def->memory_kib);
    g_assert_cmpuint(def->vcpus, ==, 1);
    g_assert_cmpstr(def->os_arch, ==, "x86_64");
    g_assert_null(def->os_machine);
    g_assert_null(def->initrd);
    g_assert_null(def->cmdline);
    g_assert_false(def->acpi);
    g_assert_false(def->apic);
    g_assert_false(def->pae);
    g_assert_cmpint(def->clock, ==, VMM_CLOCK_UTC);
    g_assert_cmpint(def->on_poweroff, ==, VMM_ACTION_DESTROY);
    g_assert_cmpint(def->on_reboot, ==, VMM_ACTION_RESTART);
    g_assert_cmpint(def->on_crash, ==, VMM_ACTION_DESTROY);
    g_assert_null(def->emulator);
    g_assert_nonnull(def->serials);
    g_assert_cmpuint(def->serials->len, ==, 0);
    g_assert_nonnull(def->disks);
    g_assert_cmpuint(def->disks->len, ==, 0);

    /* no <vcpu>, no <devices>, arch omitted, memory without unit (KiB) */
    static const char bare[] =
        "<domain type='kvm'><name>b</name><memory>2048</memory>"
        "<os><type>hvm</type><kernel>k</kernel></os></domain>";
    g_autoptr(VmmDomainDef) d2 = parse_ok(bare);
    g_assert_cmpuint(d2->vcpus, ==, 1);
    g_assert_cmpuint(d2->memory_kib, ==, 2048);
    g_assert_cmpstr(d2->os_arch, ==, "x86_64");
    g_assert_cmpuint(d2->serials->len, ==, 0);
}

/* ------------------------------------------------------------------------ */
/* one test per unsupported element/attribute/value                          */

typedef struct {
    const char *path;     /* test name */
    const char *from, *to;
    VmmConfError code;
    long line;
    const char *needle;
} ReplaceCase;

#define U VMM_CONF_ERROR_UNSUPPORTED
#define I VMM_CONF_ERROR_INVALID

static const ReplaceCase replace_cases[] = {
    /* <seclabel model='dac'> (seclabel_conf.c): libvirt's schema rules */
    { "/conf/seclabel/dynamic-relabel-no", "<!--top-->",
      "<seclabel type='dynamic' model='dac' relabel='no'/>",
      I, 9, "<seclabel type='dynamic'> always relabels: relabel='no' needs type='static'" },
    { "/conf/seclabel/selinux", "<!--top-->", "<seclabel type='dynamic' model='selinux'/>",
      U, 9, "attribute 'model'='selinux' on <seclabel> is not supported by vmmd" },
    { "/conf/seclabel/model-bogus", "<!--top-->", "<seclabel model='x'/>",
      I, 9, "attribute 'model'='x' on <seclabel> is invalid" },
    { "/conf/seclabel/type-bogus", "<!--top-->", "<seclabel type='default'/>",
      I, 9, "attribute 'type'='default' on <seclabel> is invalid" },
    { "/conf/seclabel/static-no-label", "<!--top-->", "<seclabel type='static' model='dac'/>",
      I, 9, "<seclabel type='static'> needs <label>USER:GROUP</label>" },
    { "/conf/seclabel/none-relabel", "<!--top-->", "<seclabel type='none' relabel='yes'/>",
      I, 9, "<seclabel type='none'> never relabels" },
    { "/conf/seclabel/none-label", "<!--top-->",
      "<seclabel type='none'><label>+1:+1</label></seclabel>",
      I, 9, "<label> is not allowed in <seclabel type='none'> (it takes no children)" },
    { "/conf/seclabel/bad-number", "<!--top-->",
      "<seclabel type='static'><label>+abc:+1</label></seclabel>",
      I, 9, "<label> '+abc:+1': the DAC model takes USER:GROUP" },
    { "/conf/seclabel/uid-too-big", "<!--top-->",
      "<seclabel type='static'><label>+4294967295:+1</label></seclabel>",
      I, 9, "<label> '+4294967295:+1'" },
    { "/conf/seclabel/three-parts", "<!--top-->",
      "<seclabel type='static'><label>a:b:c</label></seclabel>",
      I, 9, "<label> 'a:b:c'" },
    { "/conf/seclabel/newline", "<!--top-->",
      "<seclabel type='static'><label>a:b&#10;c</label></seclabel>",
      I, 9, "<label> 'a:b\\nc'" },
    { "/conf/seclabel/two-labels", "<!--top-->",
      "<seclabel type='static'><label>a:b</label><label>c:d</label></seclabel>",
      I, 9, "<seclabel> has two <label> elements" },
    { "/conf/seclabel/baselabel", "<!--top-->",
      "<seclabel type='dynamic'><baselabel>system_u</baselabel></seclabel>",
      U, 9, "<seclabel>/<baselabel> is not supported by vmmd" },
    { "/conf/seclabel/attr", "<!--top-->", "<seclabel type='none' doi='0'/>",
      U, 9, "attribute 'doi'='0' on <seclabel>" },
    { "/conf/seclabel/twice", "<!--top-->", "<seclabel type='none'/><seclabel type='none'/>",
      I, 9, "appears more than once" },
    /* <domain> */
    { "/conf/unsupported/domain-id", "<domain type='kvm'>", "<domain type='kvm' id='3'>",
      U, 1, "attribute 'id'='3' on <domain> is not supported by vmmd" },
    { "/conf/unsupported/domain-type-qemu", "type='kvm'", "type='qemu'",
      U, 1, "attribute 'type'='qemu' on <domain> is not supported by vmmd (supported: kvm)" },
    { "/conf/invalid/domain-type-bogus", "type='kvm'", "type='banana'",
      I, 1, "attribute 'type'='banana' on <domain> is invalid" },
    { "/conf/invalid/domain-type-missing", "<domain type='kvm'>", "<domain>",
      I, 1, "'type' attribute" },
    { "/conf/unsupported/metadata", "<!--top-->", "<metadata/>",
      U, 9, "element <domain>/<metadata> is not supported by vmmd" },
    { "/conf/unsupported/cpu-maximum", "<!--top-->", "<cpu mode='maximum'/>",
      U, 9, "<cpu mode='maximum'> is not supported by vmmd" },
    { "/conf/unsupported/maxMemory", "<!--top-->",
      "<maxMemory slots='16' unit='KiB'>1524288</maxMemory>",
      U, 9, "element <domain>/<maxMemory> is not supported" },
    { "/conf/unsupported/namespaced-element", "<!--top-->",
      "<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'/>",
      U, 9, "element <domain>/<qemu:commandline> is not supported" },
    { "/conf/unsupported/name-attribute", "<name>", "<name lang='en'>",
      U, 2, "attribute 'lang'='en' on <name>" },
    /* memory, vcpu */
    { "/conf/unsupported/memory-dumpCore", "<memory unit='MiB'>",
      "<memory unit='MiB' dumpCore='on'>",
      U, 3, "attribute 'dumpCore'='on' on <memory> is not supported" },
    { "/conf/unsupported/vcpu-placement-auto", "<vcpu>", "<vcpu placement='auto'>",
      U, 4, "attribute 'placement'='auto' on <vcpu> is not supported" },
    { "/conf/invalid/vcpu-placement-bogus", "<vcpu>", "<vcpu placement='x'>",
      I, 4, "attribute 'placement'='x' on <vcpu> is invalid" },
    { "/conf/unsupported/vcpu-cpuset", "<vcpu>", "<vcpu cpuset='0-1'>",
      U, 4, "attribute 'cpuset'='0-1' on <vcpu> is not supported" },
    { "/conf/unsupported/vcpu-current", "<vcpu>1</vcpu>", "<vcpu current='1'>2</vcpu>",
      U, 4, "attribute 'current'='1' on <vcpu> is not supported" },
    { "/conf/invalid/vcpu-current-bogus", "<vcpu>1</vcpu>", "<vcpu current='x'>2</vcpu>",
      I, 4, "attribute 'current'='x' on <vcpu>" },
    /* os */
    { "/conf/unsupported/os-firmware", "<os>", "<os firmware='efi'>",
      U, 5, "attribute 'firmware'='efi' on <os> is not supported" },
    { "/conf/unsupported/os-loader", "<!--os-->", "<loader>/usr/share/OVMF.fd</loader>",
      U, 7, "element <os>/<loader> is not supported by vmmd" },
    { "/conf/unsupported/os-boot", "<!--os-->", "<boot dev='hd'/>",
      U, 7, "element <os>/<boot> is not supported" },
    { "/conf/unsupported/os-bios", "<!--os-->", "<bios useserial='yes'/>",
      U, 7, "element <os>/<bios> is not supported" },
    { "/conf/unsupported/os-dtb", "<!--os-->", "<dtb>/x.dtb</dtb>",
      U, 7, "element <os>/<dtb> is not supported" },
    { "/conf/unsupported/os-arch", "arch='x86_64'", "arch='aarch64'",
      U, 6, "attribute 'arch'='aarch64' on <type> is not supported" },
    { "/conf/unsupported/os-type-xen", ">hvm<", ">xen<",
      U, 6, "<type> value 'xen' is not supported" },
    { "/conf/invalid/os-type-bogus", ">hvm<", ">vm<",
      I, 6, "<type> value 'vm' is invalid" },
    { "/conf/unsupported/os-no-kernel", "<kernel>/boot/k</kernel>", "",
      U, 5, "<os> has no <kernel>" },
    { "/conf/invalid/os-kernel-empty", "<kernel>/boot/k</kernel>", "<kernel></kernel>",
      I, 7, "<kernel> is empty" },
    { "/conf/unsupported/kernel-child", "<kernel>/boot/k</kernel>",
      "<kernel>/boot/k<x/></kernel>", U, 7, "element <kernel>/<x>" },
    /* features, clock, lifecycle */
    { "/conf/unsupported/features-hap", "<!--top-->", "<features><acpi/><hap/></features>",
      U, 9, "element <features>/<hap> is not supported" },
    { "/conf/unsupported/apic-eoi", "<!--top-->", "<features><apic eoi='on'/></features>",
      U, 9, "attribute 'eoi'='on' on <apic> is not supported" },
    { "/conf/unsupported/features-attr", "<!--top-->", "<features x='1'/>",
      U, 9, "attribute 'x'='1' on <features>" },
    { "/conf/unsupported/clock-timer", "<!--top-->",
      "<clock offset='utc'><timer name='rtc'/></clock>",
      U, 9, "element <clock>/<timer> is not supported" },
    { "/conf/unsupported/clock-variable", "<!--top-->", "<clock offset='variable'/>",
      U, 9, "attribute 'offset'='variable' on <clock> is not supported" },
    { "/conf/unsupported/clock-adjustment", "<!--top-->",
      "<clock offset='utc' adjustment='reset'/>",
      U, 9, "attribute 'adjustment'='reset' on <clock>" },
    { "/conf/invalid/clock-no-offset", "<!--top-->", "<clock/>",
      I, 9, "<clock> needs an 'offset'" },
    { "/conf/unsupported/on_crash-coredump", "<!--top-->",
      "<on_crash>coredump-destroy</on_crash>",
      U, 9, "<on_crash> value 'coredump-destroy' is not supported" },
    { "/conf/unsupported/on_poweroff-rename", "<!--top-->",
      "<on_poweroff>rename-restart</on_poweroff>",
      U, 9, "<on_poweroff> value 'rename-restart' is not supported" },
    { "/conf/invalid/on_reboot-bogus", "<!--top-->", "<on_reboot>reboot</on_reboot>",
      I, 9, "<on_reboot> value 'reboot' is invalid" },
    /* devices */
    { "/conf/unsupported/sound", "<!--dev-->", "<sound model='ich9'/>",
      U, 11, "element <devices>/<sound> is not supported by vmmd" },
    { "/conf/unsupported/interface", "<!--dev-->", "<interface type='direct'/>",
      U, 11, "attribute 'type'='direct' on <interface> is not supported" },
    { "/conf/unsupported/devices-attr", "<devices>", "<devices x='y'>",
      U, 10, "attribute 'x'='y' on <devices>" },
    { "/conf/unsupported/serial-tcp", "<!--dev-->", "<serial type='tcp'/>",
      U, 11, "attribute 'type'='tcp' on <serial> is not supported" },
    { "/conf/invalid/serial-type-bogus", "<!--dev-->", "<serial type='bogus'/>",
      I, 11, "attribute 'type'='bogus' on <serial> is invalid" },
    { "/conf/unsupported/serial-tty", "<!--dev-->", "<serial type='pty' tty='/dev/pts/1'/>",
      U, 11, "attribute 'tty'='/dev/pts/1' on <serial>" },
    { "/conf/unsupported/serial-log", "<!--dev-->",
      "<serial type='pty'><log file='/tmp/x'/></serial>",
      U, 11, "element <serial>/<log> is not supported" },
    { "/conf/unsupported/serial-protocol", "<!--dev-->",
      "<serial type='pty'><protocol type='raw'/></serial>",
      U, 11, "element <serial>/<protocol> is not supported" },
    { "/conf/unsupported/serial-alias", "<!--dev-->",
      "<serial type='pty'><alias name='ua-s0'/></serial>",
      U, 11, "element <serial>/<alias> is not supported" },
    { "/conf/unsupported/serial-address", "<!--dev-->",
      "<serial type='pty'><address type='isa' iobase='0x3f8'/></serial>",
      U, 11, "element <serial>/<address> is not supported" },
    { "/conf/unsupported/pty-source", "<!--dev-->",
      "<serial type='pty'><source path='/dev/pts/3'/></serial>",
      U, 11, "element <serial>/<source> is not supported with type='pty'" },
    { "/conf/unsupported/stdio-source", "<!--dev-->",
      "<serial type='stdio'><source path='/x'/></serial>",
      U, 11, "element <serial>/<source> is not supported with type='stdio'" },
    { "/conf/unsupported/file-source-mode", "<!--dev-->",
      "<serial type='file'><source path='/x' mode='bind'/></serial>",
      U, 11, "attribute 'mode'='bind' on <source>" },
    { "/conf/unsupported/file-seclabel", "<!--dev-->",
      "<serial type='file'><source path='/x'><seclabel model='dac'/></source></serial>",
      U, 11, "element <source>/<seclabel> is not supported" },
    { "/conf/unsupported/unix-reconnect", "<!--dev-->",
      "<serial type='unix'><source mode='connect' path='/s'>"
      "<reconnect enabled='yes' timeout='5'/></source></serial>",
      U, 11, "element <source>/<reconnect> is not supported" },
    { "/conf/unsupported/serial-target-usb", "<!--dev-->",
      "<serial type='pty'><target type='usb-serial'/></serial>",
      U, 11, "attribute 'type'='usb-serial' on <target> is not supported" },
    { "/conf/unsupported/serial-model-pl011", "<!--dev-->",
      "<serial type='pty'><target type='isa-serial'><model name='pl011'/></target></serial>",
      U, 11, "attribute 'name'='pl011' on <model> is not supported" },
    { "/conf/unsupported/console-xen", "<!--dev-->",
      "<console type='pty'><target type='xen'/></console>",
      U, 11, "attribute 'type'='xen' on <target> is not supported" },
    { "/conf/unsupported/console-target-model", "<!--dev-->",
      "<console type='pty'><target type='serial'><model name='isa-serial'/></target></console>",
      U, 11, "element <target>/<model> is not supported" },
    /* serial values */
    { "/conf/invalid/file-no-source", "<!--dev-->", "<serial type='file'/>",
      I, 11, "<serial> with type='file' needs <source path='...'/>" },
    { "/conf/invalid/file-no-path", "<!--dev-->",
      "<serial type='file'><source append='on'/></serial>", I, 11, "'path' attribute" },
    { "/conf/invalid/file-append-bogus", "<!--dev-->",
      "<serial type='file'><source path='/x' append='yes'/></serial>",
      I, 11, "attribute 'append'='yes' on <source> is invalid" },
    { "/conf/invalid/unix-no-mode", "<!--dev-->",
      "<serial type='unix'><source path='/s'/></serial>", I, 11, "'mode' attribute" },
    { "/conf/invalid/unix-mode-bogus", "<!--dev-->",
      "<serial type='unix'><source mode='listen' path='/s'/></serial>",
      I, 11, "attribute 'mode'='listen' on <source> is invalid" },
    { "/conf/invalid/unix-no-path", "<!--dev-->",
      "<serial type='unix'><source mode='bind'/></serial>", I, 11, "'path' attribute" },
    { "/conf/invalid/unix-path-too-long", "<!--dev-->",
      "<serial type='unix'><source mode='bind' path='/"
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'/></serial>",
      I, 11, "at most 107" },
    { "/conf/invalid/serial-port-4", "<!--dev-->",
      "<serial type='pty'><target port='4'/></serial>",
      I, 11, "attribute 'port'='4' on <target> is invalid" },
    { "/conf/invalid/serial-port-negative", "<!--dev-->",
      "<serial type='pty'><target port='-1'/></serial>",
      I, 11, "attribute 'port'='-1' on <target> is invalid" },
    { "/conf/invalid/serial-two-sources", "<!--dev-->",
      "<serial type='file'><source path='/a'/><source path='/b'/></serial>",
      I, 11, "element <serial>/<source> appears more than once" },
    { "/conf/invalid/devices-text", "<!--dev-->", "hello",
      I, 11, "unexpected text 'hello' in <devices>" },
    /* duplicates and missing pieces */
    { "/conf/invalid/duplicate-name", "<!--top-->", "<name>again</name>",
      I, 9, "element <domain>/<name> appears more than once (first on line 2)" },
    { "/conf/invalid/duplicate-emulator", "<!--dev-->",
      "<emulator>/a</emulator><emulator>/b</emulator>",
      I, 11, "<devices>/<emulator> appears more than once" },
    { "/conf/invalid/no-name", "<name>vm1</name>", "", I, 1, "no <name>" },
    { "/conf/invalid/no-memory", "<memory unit='MiB'>64</memory>", "", I, 1, "no <memory>" },
    { "/conf/invalid/currentMemory-above-memory", "<!--top-->",
      "<currentMemory unit='MiB'>65</currentMemory>",
      I, 9, "<currentMemory> (66560 KiB) is larger than <memory> (65536 KiB)" },
};

static void test_replace_case(gconstpointer data)
{
    const ReplaceCase *c = data;
    expect_replace_error(c->from, c->to, c->code, c->line, c->needle);
}

/* Messages quoted in the design and the issues, checked whole. */
static void test_exact_messages(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = doc_replace("<!--dev-->", "<sound model='ich9'/>");
    g_assert_null(parse(xml, &err));
    g_assert_cmpstr(err->message, ==,
                    "test.xml:11: element <devices>/<sound> is not supported by vmmd");
    g_clear_error(&err);
    g_free(xml);
    xml = doc_replace("<vcpu>", "<vcpu placement='auto'>");
    g_assert_null(parse(xml, &err));
    g_assert_cmpstr(err->message, ==,
                    "test.xml:4: attribute 'placement'='auto' on <vcpu> is not "
                    "supported by vmmd (supported: static)");
    g_clear_error(&err);
    g_free(xml);
    xml = doc_replace("<!--dev-->",
                      "<disk type='file' device='disk'>\n"
                      "<driver name='qemu' type='vmdk'/>\n"
                      "<source file='/var/lib/vmmd/a.vmdk'/><target dev='vda'/></disk>");
    g_assert_null(parse(xml, &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_UNSUPPORTED);
    g_assert_cmpstr(err->message, ==,
                    "test.xml:12: disk vda: driver type 'vmdk' is not supported "
                    "(raw and qcow2 are)");
}

static void test_no_os(void)
{
    static const char xml[] =
        "<domain type='kvm'>\n<name>a</name>\n<memory>2048</memory>\n</domain>\n";
    expect_error(xml, I, 1, "no <os> element");
    expect_error("<network><name>x</name></network>", I, 1,
                 "root element is <network>");
    expect_error("<domain xmlns='http://libvirt.org/schemas/domain' type='kvm'/>", I, 1,
                 "is in XML namespace 'http://libvirt.org/schemas/domain'");
    expect_error("<domain type='kvm'>\n<name>a</name><memory>2048</memory>"
                 "<os><kernel>k</kernel></os></domain>", I, 2, "<type>hvm</type>");
}

/* ------------------------------------------------------------------------ */
/* vcpu, memory, uuid, name                                                 */

static void test_vcpu(void)
{
    static const struct { const char *v; const char *needle; } bad[] = {
        { "0", "<vcpu> value '0' is out of range: vmmd supports 1 to 255 vCPUs" },
        { "256", "out of range" },
        { "1000", "<vcpu> value '1000' is out of range" },
        { "-1", "<vcpu> value '-1' is not a number of vCPUs" },
        { "abc", "<vcpu> value 'abc' is not a number" },
        { "2x", "'2x' is not a number" },
        { "+2", "'+2' is not a number" },
        { "", "value '' is not a number" },
        { "99999999999999999999999", "'99999999999999999999999' is out of range" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *to = g_strdup_printf("<vcpu>%s</vcpu>", bad[i].v);
        expect_replace_error("<vcpu>1</vcpu>", to, I, 4, bad[i].needle);
    }
    static const struct { const char *xml; unsigned n; } good[] = {
        { "<vcpu>255</vcpu>", 255 },
        { "<vcpu> 8 </vcpu>", 8 },
        { "<vcpu placement='static' current='2'>2</vcpu>", 2 },
        { "<vcpu>007</vcpu>", 7 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *xml = doc_replace("<vcpu>1</vcpu>", good[i].xml);
        g_autoptr(VmmDomainDef) def = parse_ok(xml);
        g_assert_cmpuint(def->vcpus, ==, good[i].n);
    }
}

static void test_parse_size(void)
{
    static const struct { const char *v, *u; uint64_t bytes; } ok[] = {
        { "1", NULL, 1 }, { "1", "", 1 }, { "1", "b", 1 }, { "7", "bytes", 7 },
        { "1", "byte", 1 }, { "1", "KB", 1000 }, { "1", "k", 1024 },
        { "1", "K", 1024 }, { "1", "KiB", 1024 }, { "1", "kib", 1024 },
        { "1", "MB", 1000000 }, { "1", "M", 1 << 20 }, { "3", "MiB", 3 << 20 },
        { "1", "GB", 1000000000ULL }, { "1", "G", 1ULL << 30 },
        { "2", "GiB", 2ULL << 30 }, { "1", "TB", 1000000000000ULL },
        { "1", "T", 1ULL << 40 }, { "1", "TiB", 1ULL << 40 },
        { "1", "PiB", 1ULL << 50 }, { "1", "PB", 1000000000000000ULL },
        { "15", "EiB", 15ULL << 60 }, { "1", "EB", 1000000000000000000ULL },
        { "18446744073709551615", "b", G_MAXUINT64 }, { "0", "GiB", 0 },
        { "0042", "k", 42 * 1024 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        uint64_t b = 0;
        g_test_message("%s %s", ok[i].v, ok[i].u ? ok[i].u : "(null)");
        g_assert_true(vmm_conf_parse_size(ok[i].v, ok[i].u, &b));
        g_assert_cmpuint(b, ==, ok[i].bytes);
    }
    static const struct { const char *v, *u; } bad[] = {
        { "16", "EiB" }, { "18446744073709551616", "b" }, { "18446744073709551615", "k" },
        { "17179869184", "GiB" }, { "1", "XiB" }, { "1", "KiBB" }, { "1", "Kb2" },
        { "1", "kbytes" }, { "1", "iB" }, { "-1", "k" }, { "abc", "k" }, { "", "k" },
        { "1 ", "k" }, { " 1", "k" }, { "1.5", "G" }, { "0x10", "k" }, { "+1", "b" },
        { NULL, "k" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        uint64_t b = 12345;
        g_test_message("bad: %s %s", bad[i].v ? bad[i].v : "(null)", bad[i].u);
        g_assert_false(vmm_conf_parse_size(bad[i].v, bad[i].u, &b));
        g_assert_cmpuint(b, ==, 12345);   /* untouched on failure */
    }
}

static void test_memory_units(void)
{
    static const struct { const char *elem; uint64_t kib; } ok[] = {
        { "<memory>1024</memory>", 1024 },                       /* default KiB */
        { "<memory unit='KiB'>4096</memory>", 4096 },
        { "<memory unit='b'>1048576</memory>", 1024 },
        { "<memory unit='bytes'>1048577</memory>", 1025 },       /* rounded up */
        { "<memory unit='MB'>2</memory>", 1954 },                /* 2e6 B -> up */
        { "<memory unit='GB'>1</memory>", 976563 },
        { "<memory unit='G'>1</memory>", 1048576 },
        { "<memory unit='TiB'>16</memory>", 16ULL << 30 },        /* maximum */
        { "<memory unit='M'>1</memory>", 1024 },                 /* minimum */
        { "<memory unit='MiB'>\n  128\n</memory>", 128 * 1024 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_autofree char *xml = doc_replace("<memory unit='MiB'>64</memory>", ok[i].elem);
        g_autoptr(VmmDomainDef) def = parse_ok(xml);
        g_assert_cmpuint(def->memory_kib, ==, ok[i].kib);
        g_assert_cmpuint(def->current_memory_kib, ==, ok[i].kib);
    }
    static const struct { const char *elem; const char *needle; } bad[] = {
        { "<memory>-1</memory>", "<memory> value '-1' is not a non-negative decimal integer" },
        { "<memory>abc</memory>", "value 'abc' is not a non-negative" },
        { "<memory>12abc</memory>", "value '12abc'" },
        { "<memory>1.5</memory>", "value '1.5'" },
        { "<memory></memory>", "value ''" },
        { "<memory unit='XB'>1</memory>", "attribute 'unit'='XB' on <memory> is invalid" },
        { "<memory unit='MiBs'>1</memory>", "attribute 'unit'='MiBs'" },
        { "<memory>0</memory>", "out of range: vmmd supports 1 MiB to 16 TiB" },
        { "<memory>1023</memory>", "<memory> of 1023 KiB is out of range" },
        { "<memory unit='b'>1048575</memory>", "out of range" },
        { "<memory unit='TiB'>17</memory>", "out of range" },
        { "<memory unit='KiB'>17179869185</memory>", "out of range" },
        { "<memory unit='EiB'>16</memory>", "is too large (does not fit in 64 bits)" },
        { "<memory unit='KiB'>18014398509481984</memory>", "does not fit in 64 bits" },
        { "<memory>99999999999999999999999</memory>", "does not fit in 64 bits" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        expect_replace_error("<memory unit='MiB'>64</memory>", bad[i].elem, I, 3,
                             bad[i].needle);

    /* currentMemory: own unit, bounded by memory */
    g_autofree char *xml = doc_replace("<!--top-->",
                                       "<currentMemory unit='KiB'>32768</currentMemory>");
    g_autoptr(VmmDomainDef) def = parse_ok(xml);
    g_assert_cmpuint(def->current_memory_kib, ==, 32768);
    expect_replace_error("<!--top-->", "<currentMemory>0</currentMemory>", I, 9,
                         "<currentMemory> of 0 KiB is out of range");
    expect_replace_error("<!--top-->", "<currentMemory unit='q'>1</currentMemory>", I, 9,
                         "attribute 'unit'='q' on <currentMemory>");
}

static void test_uuid(void)
{
    static const uint8_t want[16] = { 0x4d, 0xea, 0x22, 0xb3, 0x1d, 0x52, 0xd8, 0xf3,
                                      0x25, 0x16, 0x78, 0x2e, 0x98, 0xab, 0x3f, 0xa0 };
    static const char *const good[] = {
        "4dea22b3-1d52-d8f3-2516-782e98ab3fa0",
        "4dea22b31d52d8f32516782e98ab3fa0",
        "4DEA22B3-1D52-D8F3-2516-782E98AB3FA0",
        "  4dea22b3-1d52-d8f3-2516-782e98ab3fa0\n",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *to = g_strdup_printf("<uuid>%s</uuid>", good[i]);
        g_autofree char *xml = doc_replace("<!--top-->", to);
        g_autoptr(VmmDomainDef) def = parse_ok(xml);
        g_assert_true(def->has_uuid);
        g_assert_cmpmem(def->uuid, 16, want, 16);
    }
    static const char *const bad[] = {
        "", "4dea22b3-1d52-d8f3-2516-782e98ab3fa", "4dea22b31d52d8f32516782e98ab3fa",
        "4dea22b3-1d52-d8f3-2516-782e98ab3fa0a", "4dea22b31d52d8f32516782e98ab3fa00",
        "4dea22b3-1d52d8f3-2516-782e98ab3fa0-", "4dea22b3x1d52-d8f3-2516-782e98ab3fa0",
        "gdea22b3-1d52-d8f3-2516-782e98ab3fa0", "4dea22b3 1d52 d8f3 2516 782e98ab3fa0",
        "4d-ea22b31d52d8f32516782e98ab3fa0--", "{4dea22b3-1d52-d8f3-2516-782e98ab3fa0}",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *to = g_strdup_printf("<uuid>%s</uuid>", bad[i]);
        expect_replace_error("<!--top-->", to, I, 9, "is not a UUID");
    }
    expect_replace_error("<!--top-->", "<uuid>4dea22b31d52d8f32516782e98ab3fa0</uuid>"
                         "<uuid>4dea22b31d52d8f32516782e98ab3fa0</uuid>", I, 9,
                         "appears more than once");
}

static void test_name(void)
{
    g_autoptr(GString) n64 = g_string_new(NULL);
    for (int i = 0; i < VMM_DOMAIN_NAME_MAX; i++)
        g_string_append_c(n64, 'a' + i % 26);
    g_autoptr(GString) u64 = g_string_new(NULL);   /* 64 chars, 128 bytes */
    for (int i = 0; i < VMM_DOMAIN_NAME_MAX; i++)
        g_string_append(u64, "\xc3\xa9");

    const char *good[] = { "a", "my vm", "vm_1.test-2", "x.", n64->str, u64->str,
                           "caf\xc3\xa9", "a&amp;b" };
    const char *good_want[] = { "a", "my vm", "vm_1.test-2", "x.", n64->str, u64->str,
                                "caf\xc3\xa9", "a&b" };
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *to = g_strdup_printf("<name>%s</name>", good[i]);
        g_autofree char *xml = doc_replace("<name>vm1</name>", to);
        g_autoptr(VmmDomainDef) def = parse_ok(xml);
        g_assert_cmpstr(def->name, ==, good_want[i]);
    }

    g_autofree char *n65 = g_strdup_printf("%sz", n64->str);
    g_autofree char *u65 = g_strdup_printf("%s\xc3\xa9", u64->str);
    const struct { const char *n; const char *needle; } bad[] = {
        { "", "<name> is empty" },
        { n65, "<name> is 65 characters long; at most 64" },
        { u65, "65 characters" },
        { "a/b", "must not contain '/'" },
        { "/", "must not contain '/'" },
        { ".hidden", "must not start with '.'" },
        { "..", "must not start with '.'" },
        { "a\tb", "control characters (found U+0009)" },
        { "a&#10;b", "control characters (found U+000A)" },
        { "a&#x7f;", "control characters (found U+007F)" },
        { "a&#x85;", "control characters (found U+0085)" },
        { "   ", "only whitespace" },
        { "\xe3\x80\x80", "only whitespace" },   /* U+3000 ideographic space */
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *to = g_strdup_printf("<name>%s</name>", bad[i].n);
        expect_replace_error("<name>vm1</name>", to, I, 2, bad[i].needle);
    }
    expect_replace_error("<name>vm1</name>", "<name/>", I, 2, "<name> is empty");
    expect_replace_error("<name>vm1</name>", "<name>a<b/></name>", U, 2,
                         "element <name>/<b> is not supported");
}

/* Comments and processing instructions are ignored, inside values too. */
static void test_comments(void)
{
    g_autofree char *xml = doc_replace("<vcpu>1</vcpu>",
                                       "<!-- two --><vcpu><!-- c -->2<?pi x?></vcpu>");
    g_autofree char *xml2 = g_strdup_printf("<?xml version='1.0'?>\n<!-- c -->\n%s", xml);
    g_autoptr(VmmDomainDef) def = parse_ok(xml2);
    g_assert_cmpuint(def->vcpus, ==, 2);
}

static void test_title(void)
{
    expect_replace_error("<!--top-->", "<title>a\nb</title>", I, 9,
                         "<title> must not contain a newline");
    g_autofree char *xml = doc_replace("<!--top-->",
                                       "<title>t</title><description>d\nd</description>");
    g_autoptr(VmmDomainDef) def = parse_ok(xml);
    g_assert_cmpstr(def->title, ==, "t");
    g_assert_cmpstr(def->description, ==, "d\nd");
}

/* ------------------------------------------------------------------------ */
/* serial and console                                                       */

static VmmDomainDef *parse_devices(const char *devices)
{
    g_autofree char *xml = doc_replace("<!--dev-->", devices);
    return parse_ok(xml);
}

static VmmChrDef *serial(VmmDomainDef *def, guint i)
{
    g_assert_cmpuint(i, <, def->serials->len);
    return def->serials->pdata[i];
}

static void test_serial_types(void)
{
    g_autoptr(VmmDomainDef) def = parse_devices(
        "<serial type='stdio'/>"
        "<serial type='file'><source path='/tmp/a.log'/></serial>"
        "<serial type='file'><source path='/tmp/b.log' append='off'/></serial>"
        "<serial/>");
    g_assert_cmpuint(def->serials->len, ==, 4);
    g_assert_cmpint(serial(def, 0)->type, ==, VMM_CHR_STDIO);
    g_assert_cmpuint(serial(def, 0)->port, ==, 0);
    g_assert_cmpint(serial(def, 1)->type, ==, VMM_CHR_FILE);
    g_assert_cmpstr(serial(def, 1)->path, ==, "/tmp/a.log");
    g_assert_false(serial(def, 1)->append);
    g_assert_cmpint(serial(def, 2)->type, ==, VMM_CHR_FILE);
    g_assert_false(serial(def, 2)->append);
    /* libvirt's default type is pty */
    g_assert_cmpint(serial(def, 3)->type, ==, VMM_CHR_PTY);
    g_assert_cmpuint(serial(def, 3)->port, ==, 3);
}

static void test_serial_ports(void)
{
    /* no ports: 0, 1 in document order */
    g_autoptr(VmmDomainDef) d1 = parse_devices(
        "<serial type='pty'/><serial type='stdio'/>");
    g_assert_cmpuint(d1->serials->len, ==, 2);
    g_assert_cmpint(serial(d1, 0)->type, ==, VMM_CHR_PTY);
    g_assert_cmpint(serial(d1, 1)->type, ==, VMM_CHR_STDIO);
    g_assert_cmpuint(serial(d1, 1)->port, ==, 1);

    /* libvirt rule: a missing port is one past the highest in use; sorted */
    g_autoptr(VmmDomainDef) d2 = parse_devices(
        "<serial type='stdio'/><serial type='pty'><target port='1'/></serial>");
    g_assert_cmpuint(d2->serials->len, ==, 2);
    g_assert_cmpint(serial(d2, 0)->type, ==, VMM_CHR_PTY);
    g_assert_cmpuint(serial(d2, 0)->port, ==, 1);
    g_assert_cmpint(serial(d2, 1)->type, ==, VMM_CHR_STDIO);
    g_assert_cmpuint(serial(d2, 1)->port, ==, 2);

    /* explicit ports are sorted */
    g_autoptr(VmmDomainDef) d3 = parse_devices(
        "<serial type='stdio'><target port='2'/></serial>"
        "<serial type='pty'><target type='isa-serial' port='0'/></serial>");
    g_assert_cmpuint(serial(d3, 0)->port, ==, 0);
    g_assert_cmpint(serial(d3, 0)->type, ==, VMM_CHR_PTY);
    g_assert_cmpuint(serial(d3, 1)->port, ==, 2);

    /* duplicates and exhaustion; errors name the lines */
    g_autofree char *dup = doc_replace("<!--dev-->",
        "<serial type='pty'><target port='1'/></serial>\n"
        "<serial type='stdio'><target port='1'/></serial>");
    expect_error(dup, I, 12, "serial port 1 is defined twice (first on line 11)");
    expect_replace_error("<!--dev-->",
        "<serial type='pty'><target port='3'/></serial><serial type='pty'/>",
        I, 11, "no serial port left");
    expect_replace_error("<!--dev-->",
        "<serial/><serial/><serial/><serial/><serial/>", I, 11, "no serial port left");
}

static void test_console(void)
{
    /* the usual virt-install pair: one serial */
    g_autoptr(VmmDomainDef) d1 = parse_devices(
        "<serial type='pty'><target type='isa-serial' port='0'>"
        "<model name='isa-serial'/></target></serial>"
        "<console type='pty'><target type='serial' port='0'/></console>");
    g_assert_cmpuint(d1->serials->len, ==, 1);
    g_assert_cmpint(serial(d1, 0)->type, ==, VMM_CHR_PTY);

    /* console alone adds a serial on port 0 */
    g_autoptr(VmmDomainDef) d2 = parse_devices("<console type='stdio'/>");
    g_assert_cmpuint(d2->serials->len, ==, 1);
    g_assert_cmpint(serial(d2, 0)->type, ==, VMM_CHR_STDIO);
    g_assert_cmpuint(serial(d2, 0)->port, ==, 0);

    /* console for a port with no serial adds that port */
    g_autoptr(VmmDomainDef) d3 = parse_devices(
        "<serial type='pty'/>"
        "<console type='unix'><source mode='bind' path='/tmp/c.sock'/>"
        "<target port='2'/></console>");
    g_assert_cmpuint(d3->serials->len, ==, 2);
    g_assert_cmpint(serial(d3, 1)->type, ==, VMM_CHR_UNIX);
    g_assert_cmpuint(serial(d3, 1)->port, ==, 2);
    g_assert_true(serial(d3, 1)->listen);
    g_assert_cmpstr(serial(d3, 1)->path, ==, "/tmp/c.sock");

    /* console without a port aliases the first serial (libvirt) */
    g_autoptr(VmmDomainDef) d4 = parse_devices(
        "<serial type='file'><source path='/l' append='on'/><target port='1'/></serial>"
        "<console type='file'><source path='/l' append='on'/></console>");
    g_assert_cmpuint(d4->serials->len, ==, 1);
    g_assert_cmpuint(serial(d4, 0)->port, ==, 1);

    /* console before serial in the document: same result */
    g_autoptr(VmmDomainDef) d5 = parse_devices(
        "<console type='pty'><target type='serial' port='0'/></console>"
        "<serial type='pty'><target port='0'/></serial>");
    g_assert_cmpuint(d5->serials->len, ==, 1);

    /* sources must match */
    g_autofree char *mismatch = doc_replace("<!--dev-->",
        "<serial type='stdio'/>\n<console type='pty'><target port='0'/></console>");
    expect_error(mismatch, I, 12,
                 "<console> refers to serial port 0 (<serial> on line 11) but its "
                 "type or <source> differs");
    expect_replace_error("<!--dev-->",
        "<serial type='file'><source path='/a'/></serial>"
        "<console type='file'><source path='/b'/></console>", I, 11, "differs");
    expect_replace_error("<!--dev-->",
        "<serial type='file'><source path='/a'/></serial>"
        "<console type='file'><source path='/a' append='on'/></console>", I, 11, "differs");
    expect_replace_error("<!--dev-->",
        "<serial type='unix'><source mode='bind' path='/a'/></serial>"
        "<console type='unix'><source mode='connect' path='/a'/></console>",
        I, 11, "differs");
    /* only one serial console */
    g_autofree char *two = doc_replace("<!--dev-->",
        "<console type='pty'/>\n<console type='pty'/>");
    expect_error(two, I, 12, "only the first <console> can be a serial console");
}

/* ------------------------------------------------------------------------ */
/* disks                                                                    */

/* Parses, and asks libvirt's schema too. */
static VmmDomainDef *parse_valid(const char *xml)
{
    VmmDomainDef *def = parse_ok(xml);
    assert_libvirt_valid(xml);
    return def;
}

static VmmChannelDef *chan(VmmDomainDef *def, guint i)
{
    g_assert_cmpuint(i, <, def->channels->len);
    return g_ptr_array_index(def->channels, i);
}

/* The virtio console, channels and the virtio-serial controller. */
static void test_vserial(void)
{
    /* console and two channels: ports as libvirt assigns them, the
     * controller added, consoles ahead of channels */
    g_autoptr(VmmDomainDef) d1 = parse_devices(
        "<serial type='pty'/>"
        "<channel type='unix'><source mode='bind' path='/tmp/ga.sock'/>"
        "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
        "<channel type='pty'><target type='virtio' name='b'/>"
        "<address type='virtio-serial' controller='0' bus='0' port='1'/></channel>"
        "<console type='pty'><target type='virtio'/></console>");
    g_assert_cmpuint(d1->channels->len, ==, 3);
    g_assert_cmpint(chan(d1, 0)->kind, ==, VMM_VSERIAL_CONSOLE);
    g_assert_cmpuint(chan(d1, 0)->port, ==, 0);
    g_assert_cmpuint(chan(d1, 0)->target_port, ==, 1);
    g_assert_cmpstr(chan(d1, 1)->name, ==, "org.qemu.guest_agent.0");
    g_assert_cmpuint(chan(d1, 1)->port, ==, 2);
    g_assert_cmpuint(chan(d1, 2)->port, ==, 1);
    g_assert_cmpuint(d1->controllers->len, ==, 1);
    g_assert_cmpuint(vmm_vserial_nr_ports(d1->controllers, d1->channels), ==, 3);
    g_autofree char *a0 = vmm_channel_alias(d1->channels, 0, true);
    g_autofree char *a2 = vmm_channel_alias(d1->channels, 2, true);
    g_assert_cmpstr(a0, ==, "console1");
    g_assert_cmpstr(a2, ==, "channel1");
    /* without a serial port the virtio console is console 0 */
    g_autoptr(VmmDomainDef) d2 = parse_devices(
        "<console type='file'><source path='/tmp/hvc'/><target type='virtio'/></console>");
    g_assert_cmpuint(chan(d2, 0)->target_port, ==, 0);
    g_assert_cmpuint(d2->serials->len, ==, 0);
    /* a unix channel without a path: vmmd makes one */
    g_autoptr(VmmDomainDef) d3 = parse_devices(
        "<channel type='unix'><source mode='bind'/><target type='virtio' name='x.y'/></channel>");
    g_assert_null(chan(d3, 0)->chr.path);
    g_assert_cmpuint(chan(d3, 0)->port, ==, 1);
    g_assert_true(chan(d3, 0)->chr.listen);
    g_autofree char *auto_path = vmm_channel_auto_path("/run/vmmd", "vm1", "x.y");
    g_assert_cmpstr(auto_path, ==, "/run/vmmd/channel/vm1/x.y");

    static const struct { const char *xml; VmmConfError code; const char *needle; } bad[] = {
        { "<console type='pty'><target type='virtio'/></console>"
          "<console type='pty'><target type='virtio'/></console>", U, "a second <console>" },
        { "<channel type='pty'><target type='virtio' name='a'/>"
          "<address type='virtio-serial' port='0'/></channel>", I, "'port'='0'" },
        { "<channel type='pty'><target type='virtio' name='a'/></channel>"
          "<channel type='pty'><target type='virtio' name='a'/></channel>", I,
          "channel name 'a' is taken" },
        { "<channel type='pty'><target type='virtio' name='a'/>"
          "<address type='virtio-serial' port='3'/></channel>"
          "<channel type='pty'><target type='virtio' name='b'/>"
          "<address type='virtio-serial' port='3'/></channel>", I, "port 3 is taken" },
        { "<channel type='pty'><target type='virtio' name='a/b'/></channel>", I,
          "'name'='a/b'" },
        { "<channel type='pty'><target type='virtio' name='a' state='connected'/></channel>",
          I, "output only" },
        { "<channel type='pty'><target type='guestfwd'/></channel>", U, "guestfwd" },
        { "<channel type='pty'/>", I, "needs <target" },
        { "<channel type='unix'><source mode='bind'/><target type='virtio'/></channel>", I,
          "needs <target name=...>" },
        { "<channel type='tcp'><target type='virtio' name='a'/></channel>", U, "tcp" },
        { "<channel type='pty'><target type='virtio' name='a'/>"
          "<address type='pci'/></channel>", U, "'pci'" },
        { "<controller type='virtio-serial' index='1'/>", I, "'index'='1'" },
        { "<controller type='virtio-serial' vectors='4'/>", U, "vectors" },
        { "<controller type='usb' index='0'/>", U, "usb" },
        { "<controller type='virtio-serial'/><controller type='virtio-serial'/>", I,
          "more than one" },
        { "<controller type='virtio-serial' ports='2'/>"
          "<channel type='pty'><target type='virtio' name='a'/></channel>"
          "<channel type='pty'><target type='virtio' name='b'/></channel>", I,
          "the controller has ports 0 to 1" },
        { "<console type='pty'><target type='virtio'/>"
          "<address type='virtio-serial' port='2'/></console>", U, "port 2 is not supported" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        expect_replace_error("<!--dev-->", bad[i].xml, bad[i].code, 11, bad[i].needle);
}

static VmmDomainDef *parse_devices_valid(const char *devices)
{
    g_autofree char *xml = doc_replace("<!--dev-->", devices);
    return parse_valid(xml);
}

static VmmDiskDef *disk(VmmDomainDef *def, guint i)
{
    g_assert_cmpuint(i, <, def->disks->len);
    return def->disks->pdata[i];
}

/* <disk type='vhostuser'>: libvirt's form; what the back end decides
 * is refused by name. */
static void test_disk_vhostuser(void)
{
    g_autoptr(VmmDomainDef) def = parse_devices_valid(
        "<disk type='vhostuser' device='disk'><driver name='qemu' type='raw' queues='2'/>"
        "<source type='unix' path='/run/x.sock'><reconnect enabled='no'/></source>"
        "<target dev='vdb' bus='virtio'/></disk>");
    VmmDiskDef *d = disk(def, 0);
    g_assert_cmpint(d->type, ==, VMM_DISK_VHOSTUSER);
    g_assert_cmpstr(d->path, ==, "/run/x.sock");
    g_assert_cmpuint(d->queues, ==, 2);
    g_assert_cmpuint(d->reconnect, ==, 0);
    g_autoptr(VmmDomainDef) def2 = parse_devices_valid(
        "<disk type='vhostuser'><source type='unix' path='/run/x.sock'>"
        "<reconnect enabled='yes' timeout='10'/></source><target dev='vdb'/></disk>");
    g_assert_cmpuint(disk(def2, 0)->reconnect, ==, 10);
    static const struct { const char *inner; VmmConfError code; const char *needle; } bad[] = {
        { "<source type='unix' path='/s'><reconnect enabled='yes'/></source>",
          VMM_CONF_ERROR_INVALID, "<reconnect enabled='yes'> needs timeout='N'" },
        { "<source type='unix' path='/s'><reconnect enabled='yes' timeout='0'/></source>",
          VMM_CONF_ERROR_INVALID, "(1 to 3600)" },
        { "<source type='unix' path='/s'><reconnect enabled='maybe'/></source>",
          VMM_CONF_ERROR_INVALID, "<reconnect> needs enabled='yes' or enabled='no'" },
        { "<source type='unix' path='/s'/><readonly/>", VMM_CONF_ERROR_UNSUPPORTED,
          "element <disk>/<readonly> is not supported for <disk type='vhostuser'>" },
        { "<source type='unix' path='/s'/><serial>x</serial>", VMM_CONF_ERROR_UNSUPPORTED,
          "element <disk>/<serial> is not supported for <disk type='vhostuser'>" },
        { "<source type='unix' path='/s'/><driver name='qemu' cache='none'/>",
          VMM_CONF_ERROR_UNSUPPORTED, "attribute 'cache' on <driver>" },
        { "<source path='/s'/>", VMM_CONF_ERROR_INVALID, "needs type='unix'" },
        { "<source type='unix'/>", VMM_CONF_ERROR_INVALID, "needs a 'path' attribute" },
        { "<source type='unix' path='s'/>", VMM_CONF_ERROR_INVALID, "not an absolute path" },
        { "", VMM_CONF_ERROR_INVALID, "<disk type='vhostuser'> needs <source type='unix'" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *dev = g_strdup_printf("<disk type='vhostuser'>%s"
                                               "<target dev='vdb'/></disk>", bad[i].inner);
        g_autofree char *xml = doc_replace("<!--dev-->", dev);
        expect_error(xml, bad[i].code, 0, bad[i].needle);
    }
}

static void test_disk_defaults(void)
{
    /* the smallest disk: no type, device, driver or bus */
    g_autoptr(VmmDomainDef) def = parse_devices_valid((
        "<disk><source file='/a'/><target dev='vda'/></disk>"));
    g_assert_cmpuint(def->disks->len, ==, 1);
    VmmDiskDef *d = disk(def, 0);
    g_assert_cmpint(d->type, ==, VMM_DISK_FILE);
    g_assert_cmpstr(d->path, ==, "/a");
    g_assert_cmpstr(d->target_dev, ==, "vda");
    g_assert_cmpint(d->bus, ==, VMM_DISK_BUS_VIRTIO);
    g_assert_false(d->readonly);
    g_assert_null(d->serial);
    g_assert_cmpint(d->cache, ==, VMM_CACHE_WRITEBACK);
    g_assert_cmpint(d->io, ==, VMM_IO_THREADS);
    g_assert_cmpint(d->discard, ==, VMM_DISCARD_IGNORE);
    g_assert_cmpuint(d->queues, ==, 0);
    g_assert_cmpint(d->pci_slot, ==, -1);

    /* the template itself; <driver> with name and type only; empty driver */
    g_autofree char *x2 = disk_doc("<!--disk-->", "");
    g_autoptr(VmmDomainDef) d2 = parse_valid(x2);
    g_assert_cmpint(disk(d2, 0)->cache, ==, VMM_CACHE_WRITEBACK);
    g_assert_cmpint(disk(d2, 0)->io, ==, VMM_IO_THREADS);
    g_autofree char *x3 = disk_doc("<driver name='qemu' type='raw'/>", "<driver/>");
    g_autoptr(VmmDomainDef) d3 = parse_valid(x3);
    g_assert_cmpuint(disk(d3, 0)->queues, ==, 0);

    /* libvirt's old spelling of raw */
    g_autofree char *x4 = disk_doc("type='raw'", "type='aio'");
    g_autoptr(VmmDomainDef) d4 = parse_valid(x4);
    g_assert_cmpuint(d4->disks->len, ==, 1);

    /* cache='default' is writeback; queues at both ends; discard */
    g_autofree char *x5 = disk_doc("type='raw'",
                                   "type='raw' cache='default' discard='unmap' queues='16'");
    g_autoptr(VmmDomainDef) d5 = parse_valid(x5);
    g_assert_cmpint(disk(d5, 0)->cache, ==, VMM_CACHE_WRITEBACK);
    g_assert_cmpint(disk(d5, 0)->discard, ==, VMM_DISCARD_UNMAP);
    g_assert_cmpuint(disk(d5, 0)->queues, ==, 16);
    g_autofree char *x6 = disk_doc("type='raw'", "queues='1' discard='ignore'");
    g_autoptr(VmmDomainDef) d6 = parse_valid(x6);
    g_assert_cmpuint(disk(d6, 0)->queues, ==, 1);
    g_assert_cmpint(disk(d6, 0)->discard, ==, VMM_DISCARD_IGNORE);

    /* children in any order, comments anywhere, block device */
    g_autoptr(VmmDomainDef) d7 = parse_devices_valid((
        "<disk type='block' device='disk'>\n"
        "  <!-- c --><readonly/><serial>S1</serial>\n"
        "  <address type='pci' slot='7'/>\n"
        "  <target dev='vdz' bus='virtio'/><source dev='/dev/sdb'/>\n"
        "  <driver cache='directsync' io='io_uring'/>\n"
        "</disk>"));
    d = disk(d7, 0);
    g_assert_cmpint(d->type, ==, VMM_DISK_BLOCK);
    g_assert_cmpstr(d->path, ==, "/dev/sdb");
    g_assert_cmpstr(d->target_dev, ==, "vdz");
    g_assert_true(d->readonly);
    g_assert_cmpstr(d->serial, ==, "S1");
    g_assert_cmpint(d->pci_slot, ==, 7);
    g_assert_cmpint(d->cache, ==, VMM_CACHE_DIRECTSYNC);
    g_assert_cmpint(d->io, ==, VMM_IO_URING);
}

/* Every cache/io pair libvirt allows, each on a file and a block disk in
 * one document that libvirt's schema accepts too; the pairs it refuses
 * (io='native' without O_DIRECT) are refused with libvirt's message. */
static void test_disk_cache_io(void)
{
    static const struct { const char *attr; VmmCacheMode mode; } caches[] = {
        { NULL, VMM_CACHE_WRITEBACK },
        { "default", VMM_CACHE_WRITEBACK },
        { "none", VMM_CACHE_NONE },
        { "writethrough", VMM_CACHE_WRITETHROUGH },
        { "writeback", VMM_CACHE_WRITEBACK },
        { "directsync", VMM_CACHE_DIRECTSYNC },
        { "unsafe", VMM_CACHE_UNSAFE },
    };
    static const struct { const char *attr; VmmIoMode mode; } ios[] = {
        { NULL, VMM_IO_THREADS },
        { "threads", VMM_IO_THREADS },
        { "native", VMM_IO_NATIVE },
        { "io_uring", VMM_IO_URING },
    };
    unsigned accepted = 0, refused = 0;

    for (size_t c = 0; c < G_N_ELEMENTS(caches); c++) {
        for (size_t i = 0; i < G_N_ELEMENTS(ios); i++) {
            g_autofree char *cattr = caches[c].attr
                ? g_strdup_printf(" cache='%s'", caches[c].attr) : g_strdup("");
            g_autofree char *iattr = ios[i].attr
                ? g_strdup_printf(" io='%s'", ios[i].attr) : g_strdup("");
            g_autofree char *disks = g_strdup_printf(
                "<disk type='file' device='disk'>\n"
                "      <driver name='qemu' type='raw'%s%s/>\n"
                "      <source file='/var/lib/vmmd/a.img'/>\n"
                "      <target dev='vda' bus='virtio'/>\n"
                "    </disk>\n"
                "    <disk type='block' device='disk'>\n"
                "      <driver name='qemu' type='raw'%s%s/>\n"
                "      <source dev='/dev/vg0/b'/>\n"
                "      <target dev='vdb' bus='virtio'/>\n"
                "    </disk>", cattr, iattr, cattr, iattr);
            g_autofree char *xml = doc_replace("<!--dev-->", disks);
            g_test_message("cache=%s io=%s", caches[c].attr ? caches[c].attr : "(none)",
                           ios[i].attr ? ios[i].attr : "(none)");

            bool allowed = ios[i].mode != VMM_IO_NATIVE ||
                           caches[c].mode == VMM_CACHE_NONE ||
                           caches[c].mode == VMM_CACHE_DIRECTSYNC;
            if (!allowed) {
                expect_error(xml, I, 12, "disk vda: native I/O needs either no disk "
                             "cache or directsync cache mode");
                refused++;
                continue;
            }
            g_autoptr(VmmDomainDef) def = parse_valid(xml);
            g_assert_cmpuint(def->disks->len, ==, 2);
            for (guint k = 0; k < 2; k++) {
                g_assert_cmpint(disk(def, k)->type, ==, k ? VMM_DISK_BLOCK : VMM_DISK_FILE);
                g_assert_cmpint(disk(def, k)->cache, ==, caches[c].mode);
                g_assert_cmpint(disk(def, k)->io, ==, ios[i].mode);
            }
            accepted++;
        }
    }
    g_assert_cmpuint(accepted, ==, 7 * 4 - 5);
    g_assert_cmpuint(refused, ==, 5);

    /* the message names what the <driver> has */
    g_autofree char *x = disk_doc("type='raw'", "io='native'");
    expect_error(x, I, 12, "(this <driver> has no cache attribute, which means writeback)");
    g_free(x);
    x = disk_doc("type='raw'", "io='native' cache='unsafe'");
    expect_error(x, I, 12, "(this <driver> has cache='unsafe')");
}

typedef struct {
    const char *path;
    const char *from, *to;      /* in disk_tmpl */
    const char *from2, *to2;    /* a second replacement, or NULL */
    VmmConfError code;
    long line;
    const char *needle;
} DiskCase;

#define DV "disk vda: "

static const DiskCase disk_cases[] = {
    /* <disk> */
    { "/conf/disk/unsupported/type-network", "type='file'", "type='network'", NULL, NULL,
      U, 11, DV "attribute 'type'='network' on <disk> is not supported by vmmd "
      "(supported: file, block, vhostuser)" },
    { "/conf/disk/unsupported/type-dir", "type='file'", "type='dir'", NULL, NULL,
      U, 11, DV "attribute 'type'='dir' on <disk> is not supported" },
    { "/conf/disk/unsupported/type-volume", "type='file'", "type='volume'", NULL, NULL,
      U, 11, DV "attribute 'type'='volume' on <disk> is not supported" },
    { "/conf/disk/unsupported/type-nvme", "type='file'", "type='nvme'", NULL, NULL,
      U, 11, DV "attribute 'type'='nvme' on <disk> is not supported" },
    { "/conf/disk/invalid/vhostuser-file-source", "type='file'", "type='vhostuser'", NULL,
      NULL, I, 13, DV "<source> of <disk type='vhostuser'> needs type='unix'" },
    { "/conf/disk/invalid/type-bogus", "type='file'", "type='nbd'", NULL, NULL,
      I, 11, DV "attribute 'type'='nbd' on <disk> is invalid" },
    { "/conf/disk/unsupported/device-cdrom-virtio", "device='disk'", "device='cdrom'", NULL,
      NULL, U, 14, DV "<disk device='cdrom'> needs <target bus='ide'> (hda to hdd) or "
      "bus='sata'" },
    { "/conf/disk/unsupported/device-floppy", "device='disk'", "device='floppy'", NULL, NULL,
      U, 11, DV "attribute 'device'='floppy' on <disk> is not supported" },
    { "/conf/disk/unsupported/device-lun", "device='disk'", "device='lun'", NULL, NULL,
      U, 11, DV "attribute 'device'='lun' on <disk> is not supported" },
    { "/conf/disk/invalid/device-bogus", "device='disk'", "device='usb'", NULL, NULL,
      I, 11, DV "attribute 'device'='usb' on <disk> is invalid" },
    { "/conf/disk/unsupported/model", "device='disk'", "device='disk' model='virtio'",
      NULL, NULL, U, 11, DV "attribute 'model'='virtio' on <disk> is not supported" },
    { "/conf/disk/unsupported/snapshot", "device='disk'", "device='disk' snapshot='no'",
      NULL, NULL, U, 11, DV "attribute 'snapshot'='no' on <disk> is not supported" },
    { "/conf/disk/unsupported/namespaced-attr", "<disk ", "<disk xmlns:x='urn:x' x:y='1' ",
      NULL, NULL, U, 11, DV "attribute 'x:y'='1' on <disk>" },
    { "/conf/disk/invalid/text", "<!--disk-->", "oops", NULL, NULL,
      I, 15, DV "unexpected text 'oops' in <disk>" },
    /* <driver> */
    { "/conf/disk/unsupported/format-vmdk", "type='raw'", "type='vmdk'", NULL, NULL,
      U, 12, DV "driver type 'vmdk' is not supported (raw and qcow2 are)" },
    { "/conf/disk/unsupported/format-qed", "type='raw'", "type='qed'", NULL, NULL,
      U, 12, DV "driver type 'qed' is not supported (raw and qcow2 are)" },
    { "/conf/disk/unsupported/format-luks", "type='raw'", "type='luks'", NULL, NULL,
      U, 12, DV "driver type 'luks' is not supported (raw and qcow2 are)" },
    { "/conf/disk/invalid/format-bogus", "type='raw'", "type='raw-xz'", NULL, NULL,
      I, 12, DV "driver type 'raw-xz' is not a disk format libvirt knows" },
    { "/conf/disk/invalid/format-RAW", "type='raw'", "type='RAW'", NULL, NULL,
      I, 12, DV "driver type 'RAW' is not a disk format libvirt knows" },
    { "/conf/disk/unsupported/driver-name-tap", "name='qemu'", "name='tap'", NULL, NULL,
      U, 12, DV "attribute 'name'='tap' on <driver> is not supported by vmmd "
      "(supported: qemu" },
    { "/conf/disk/invalid/driver-name-bogus", "name='qemu'", "name='q/emu'", NULL, NULL,
      I, 12, DV "attribute 'name'='q/emu' on <driver> is invalid" },
    { "/conf/disk/invalid/driver-name-empty", "name='qemu'", "name=''", NULL, NULL,
      I, 12, DV "attribute 'name'='' on <driver> is invalid" },
    { "/conf/disk/unsupported/error_policy", "type='raw'", "type='raw' error_policy='stop'",
      NULL, NULL, U, 12, DV "attribute 'error_policy'='stop' on <driver> is not supported "
      "by vmmd" },
    { "/conf/disk/unsupported/rerror_policy", "type='raw'",
      "type='raw' rerror_policy='report'", NULL, NULL,
      U, 12, DV "attribute 'rerror_policy'='report' on <driver> is not supported" },
    { "/conf/disk/unsupported/iothread", "type='raw'", "type='raw' iothread='1'", NULL, NULL,
      U, 12, DV "attribute 'iothread'='1' on <driver> is not supported" },
    { "/conf/disk/unsupported/copy_on_read", "type='raw'", "type='raw' copy_on_read='on'",
      NULL, NULL, U, 12, DV "attribute 'copy_on_read'='on' on <driver> is not supported" },
    { "/conf/disk/unsupported/detect_zeroes", "type='raw'", "type='raw' detect_zeroes='on'",
      NULL, NULL, U, 12, DV "attribute 'detect_zeroes'='on' on <driver> is not supported" },
    { "/conf/disk/unsupported/queue_size", "type='raw'", "type='raw' queue_size='256'",
      NULL, NULL, U, 12, DV "attribute 'queue_size'='256' on <driver> is not supported" },
    { "/conf/disk/unsupported/ioeventfd", "type='raw'", "type='raw' ioeventfd='on'",
      NULL, NULL, U, 12, DV "attribute 'ioeventfd'='on' on <driver> is not supported" },
    { "/conf/disk/unsupported/event_idx", "type='raw'", "type='raw' event_idx='off'",
      NULL, NULL, U, 12, DV "attribute 'event_idx'='off' on <driver> is not supported" },
    { "/conf/disk/unsupported/iommu", "type='raw'", "type='raw' iommu='on'", NULL, NULL,
      U, 12, DV "attribute 'iommu'='on' on <driver> is not supported" },
    { "/conf/disk/unsupported/packed", "type='raw'", "type='raw' packed='on'", NULL, NULL,
      U, 12, DV "attribute 'packed'='on' on <driver> is not supported" },
    { "/conf/disk/unsupported/metadata_cache", "<driver name='qemu' type='raw'/>",
      "<driver name='qemu' type='raw'><metadata_cache/></driver>", NULL, NULL,
      U, 12, DV "element <driver>/<metadata_cache> is not supported by vmmd" },
    { "/conf/disk/invalid/cache-bogus", "type='raw'", "type='raw' cache='fast'", NULL, NULL,
      I, 12, DV "attribute 'cache'='fast' on <driver> is invalid (vmmd supports: default, "
      "none, writethrough, writeback, directsync, unsafe)" },
    { "/conf/disk/invalid/cache-case", "type='raw'", "type='raw' cache='None'", NULL, NULL,
      I, 12, DV "attribute 'cache'='None' on <driver> is invalid" },
    { "/conf/disk/invalid/io-bogus", "type='raw'", "type='raw' io='aio'", NULL, NULL,
      I, 12, DV "attribute 'io'='aio' on <driver> is invalid (vmmd supports: threads, "
      "native, io_uring)" },
    { "/conf/disk/invalid/io-default", "type='raw'", "type='raw' io='default'", NULL, NULL,
      I, 12, DV "attribute 'io'='default' on <driver> is invalid: libvirt's schema has no "
      "io='default'" },
    { "/conf/disk/invalid/discard-default", "type='raw'", "discard='default'", NULL, NULL,
      I, 12, DV "attribute 'discard'='default' on <driver> is invalid (vmmd supports: "
      "ignore, unmap)" },
    { "/conf/disk/invalid/discard-on", "type='raw'", "discard='on'", NULL, NULL,
      I, 12, DV "attribute 'discard'='on' on <driver> is invalid" },
    { "/conf/disk/invalid/queues-0", "type='raw'", "queues='0'", NULL, NULL,
      I, 12, DV "attribute 'queues'='0' on <driver> is out of range: vmmd supports 1 to 16 "
      "queues" },
    { "/conf/disk/invalid/queues-17", "type='raw'", "queues='17'", NULL, NULL,
      I, 12, DV "attribute 'queues'='17' on <driver> is out of range" },
    { "/conf/disk/invalid/queues-huge", "type='raw'", "queues='99999999999999999999999'",
      NULL, NULL, I, 12, DV "attribute 'queues'='99999999999999999999999' on <driver> is "
      "out of range" },
    { "/conf/disk/invalid/queues-negative", "type='raw'", "queues='-1'", NULL, NULL,
      I, 12, DV "attribute 'queues'='-1' on <driver> is not a number of queues" },
    { "/conf/disk/invalid/queues-text", "type='raw'", "queues='four'", NULL, NULL,
      I, 12, DV "attribute 'queues'='four' on <driver> is not a number" },
    { "/conf/disk/invalid/queues-empty", "type='raw'", "queues=''", NULL, NULL,
      I, 12, DV "attribute 'queues'='' on <driver> is not a number" },
    { "/conf/disk/invalid/queues-plus", "type='raw'", "queues='+2'", NULL, NULL,
      I, 12, DV "attribute 'queues'='+2' on <driver> is not a number" },
    { "/conf/disk/invalid/queues-space", "type='raw'", "queues=' 2'", NULL, NULL,
      I, 12, DV "attribute 'queues'=' 2' on <driver> is not a number" },
    { "/conf/disk/invalid/native-default-cache", "type='raw'", "io='native'", NULL, NULL,
      I, 12, DV "native I/O needs either no disk cache or directsync cache mode" },
    { "/conf/disk/invalid/native-writeback", "type='raw'", "io='native' cache='writeback'",
      NULL, NULL, I, 12, DV "native I/O needs either no disk cache or directsync cache mode" },
    { "/conf/disk/invalid/two-drivers", "<!--disk-->", "<driver/>", NULL, NULL,
      I, 15, DV "element <disk>/<driver> appears more than once (first on line 12)" },
    /* <source> */
    { "/conf/disk/invalid/no-source", "<source file='/var/lib/vmmd/a.img'/>", "", NULL, NULL,
      I, 11, DV "<disk type='file'> needs <source file='/absolute/path'/>" },
    { "/conf/disk/invalid/block-no-source", "<source file='/var/lib/vmmd/a.img'/>", "",
      "type='file'", "type='block'",
      I, 11, DV "<disk type='block'> needs <source dev='/absolute/path'/>" },
    { "/conf/disk/invalid/source-no-path", "<source file='/var/lib/vmmd/a.img'/>",
      "<source/>", NULL, NULL,
      I, 13, DV "<source> of <disk type='file'> needs a 'file' attribute" },
    { "/conf/disk/invalid/file-with-dev", "file='/var/lib/vmmd/a.img'", "dev='/dev/sdb'",
      NULL, NULL, I, 13, DV "<source dev=...> is for <disk type='block'>; a <disk "
      "type='file'> takes <source file='...'/>" },
    { "/conf/disk/invalid/file-with-both", "file='/var/lib/vmmd/a.img'",
      "file='/a' dev='/dev/sdb'", NULL, NULL, I, 13, DV "<source dev=...> is for" },
    { "/conf/disk/invalid/block-with-file", "type='file'", "type='block'", NULL, NULL,
      I, 13, DV "<source file=...> is for <disk type='file'>; a <disk type='block'> takes "
      "<source dev='...'/>" },
    { "/conf/disk/invalid/relative", "/var/lib/vmmd/a.img", "a.img", NULL, NULL,
      I, 13, DV "attribute 'file'='a.img' on <source> is not an absolute path (libvirt "
      "requires one)" },
    { "/conf/disk/invalid/relative-dot", "/var/lib/vmmd/a.img", "./a.img", NULL, NULL,
      I, 13, DV "attribute 'file'='./a.img' on <source> is not an absolute path" },
    { "/conf/disk/invalid/relative-tilde", "/var/lib/vmmd/a.img", "~/a.img", NULL, NULL,
      I, 13, DV "attribute 'file'='~/a.img' on <source> is not an absolute path" },
    { "/conf/disk/invalid/relative-windows", "/var/lib/vmmd/a.img", "C:\\a.img", NULL, NULL,
      I, 13, DV "attribute 'file'='C:\\\\a.img' on <source> is not an absolute path" },
    { "/conf/disk/invalid/relative-vmware", "/var/lib/vmmd/a.img", "[ds1] a.vmdk", NULL, NULL,
      I, 13, DV "attribute 'file'='[ds1] a.vmdk' on <source> is not an absolute path" },
    { "/conf/disk/invalid/relative-block", "file='/var/lib/vmmd/a.img'", "dev='sdb'",
      "type='file'", "type='block'",
      I, 13, DV "attribute 'dev'='sdb' on <source> is not an absolute path" },
    { "/conf/disk/invalid/path-empty", "/var/lib/vmmd/a.img", "", NULL, NULL,
      I, 13, DV "attribute 'file' on <source> is empty" },
    { "/conf/disk/invalid/path-root", "/var/lib/vmmd/a.img", "/", NULL, NULL,
      I, 13, DV "attribute 'file'='/' on <source> names the root directory" },
    { "/conf/disk/invalid/path-newline", "/var/lib/vmmd/a.img", "/a&#10;b", NULL, NULL,
      I, 13, DV "attribute 'file'='/a\\nb' on <source> contains a line break" },
    { "/conf/disk/invalid/path-cr", "/var/lib/vmmd/a.img", "/a&#13;", NULL, NULL,
      I, 13, DV "attribute 'file'='/a\\r' on <source> contains a line break" },
    { "/conf/disk/unsupported/startupPolicy", "file='/var/lib/vmmd/a.img'",
      "file='/a' startupPolicy='optional'", NULL, NULL,
      U, 13, DV "attribute 'startupPolicy'='optional' on <source> is not supported" },
    { "/conf/disk/unsupported/source-index", "file='/var/lib/vmmd/a.img'",
      "file='/a' index='1'", NULL, NULL,
      U, 13, DV "attribute 'index'='1' on <source> is not supported" },
    { "/conf/disk/unsupported/fdgroup", "file='/var/lib/vmmd/a.img'",
      "file='/a' fdgroup='g'", NULL, NULL,
      U, 13, DV "attribute 'fdgroup'='g' on <source> is not supported" },
    { "/conf/disk/unsupported/seclabel", "<source file='/var/lib/vmmd/a.img'/>",
      "<source file='/a'><seclabel model='dac' relabel='no'/></source>", NULL, NULL,
      U, 13, DV "element <source>/<seclabel> is not supported by vmmd" },
    { "/conf/disk/unsupported/slices", "<source file='/var/lib/vmmd/a.img'/>",
      "<source file='/a'><slices/></source>", NULL, NULL,
      U, 13, DV "element <source>/<slices> is not supported" },
    { "/conf/disk/invalid/two-sources", "<!--disk-->", "<source file='/b'/>", NULL, NULL,
      I, 15, DV "element <disk>/<source> appears more than once (first on line 13)" },
    /* <target> */
    { "/conf/disk/invalid/no-target", "<target dev='vda' bus='virtio'/>", "", NULL, NULL,
      I, 11, "test.xml:11: <disk> needs a <target dev='vdX'/> element" },
    { "/conf/disk/invalid/target-no-dev", "<target dev='vda' bus='virtio'/>",
      "<target bus='virtio'/>", NULL, NULL,
      I, 14, "test.xml:14: <target> needs a 'dev' attribute" },
    { "/conf/disk/invalid/target-xda", "dev='vda'", "dev='xda'", NULL, NULL,
      I, 14, "target dev 'xda' is invalid: libvirt's disk names are fd, hd, sd, vd, xvd "
      "or ubd followed by letters, digits or '_'" },
    { "/conf/disk/invalid/target-vd", "dev='vda'", "dev='vd'", NULL, NULL,
      I, 14, "target dev 'vd' is invalid" },
    { "/conf/disk/invalid/target-dash", "dev='vda'", "dev='vd-a'", NULL, NULL,
      I, 14, "test.xml:14: target dev 'vd-a' is invalid" },
    { "/conf/disk/invalid/target-empty", "dev='vda'", "dev=''", NULL, NULL,
      I, 14, "target dev '' is invalid" },
    { "/conf/disk/invalid/target-upper", "dev='vda'", "dev='VDA'", NULL, NULL,
      I, 14, "target dev 'VDA' is invalid" },
    { "/conf/disk/invalid/target-floppy", "dev='vda'", "dev='fda'", NULL, NULL,
      I, 14, "target dev 'fda' is a floppy name, which libvirt refuses for device='disk'" },
    { "/conf/disk/unsupported/target-sda", "<target dev='vda' bus='virtio'/>",
      "<target dev='sda'/>", NULL, NULL,
      U, 14, "disk sda: target dev 'sda' without bus= means bus 'scsi' (libvirt derives "
      "the bus from the name), which vmmd does not support" },
    { "/conf/disk/unsupported/target-hde", "<target dev='vda' bus='virtio'/>",
      "<target dev='hde'/>", NULL, NULL, U, 14, "disk hde: target dev 'hde' is not supported "
      "on bus 'ide': vmmd has one IDE controller with two channels of two drives, hda, hdb, "
      "hdc and hdd" },
    { "/conf/disk/unsupported/target-xvda", "<target dev='vda' bus='virtio'/>",
      "<target dev='xvda'/>", NULL, NULL, U, 14, "means bus 'xen'" },
    { "/conf/disk/unsupported/target-ubda", "<target dev='vda' bus='virtio'/>",
      "<target dev='ubda'/>", NULL, NULL, U, 14, "means bus 'uml'" },
    { "/conf/disk/unsupported/bus-sata-vda", "bus='virtio'", "bus='sata'", NULL, NULL,
      U, 14, DV "target dev 'vda' is not supported on bus 'sata'" },
    { "/conf/disk/unsupported/bus-ide-vda", "bus='virtio'", "bus='ide'", NULL, NULL,
      U, 14, DV "target dev 'vda' is not supported on bus 'ide'" },
    { "/conf/disk/unsupported/bus-scsi", "bus='virtio'", "bus='scsi'", NULL, NULL,
      U, 14, DV "attribute 'bus'='scsi' on <target> is not supported" },
    { "/conf/disk/unsupported/bus-usb", "bus='virtio'", "bus='usb'", NULL, NULL,
      U, 14, DV "attribute 'bus'='usb' on <target> is not supported" },
    { "/conf/disk/unsupported/bus-xen", "bus='virtio'", "bus='xen'", NULL, NULL,
      U, 14, DV "attribute 'bus'='xen' on <target> is not supported" },
    { "/conf/disk/unsupported/bus-fdc", "bus='virtio'", "bus='fdc'", NULL, NULL,
      U, 14, DV "attribute 'bus'='fdc' on <target> is not supported" },
    { "/conf/disk/unsupported/bus-sd", "bus='virtio'", "bus='sd'", NULL, NULL,
      U, 14, DV "attribute 'bus'='sd' on <target> is not supported" },
    { "/conf/disk/invalid/bus-bogus", "bus='virtio'", "bus='pci'", NULL, NULL,
      I, 14, DV "attribute 'bus'='pci' on <target> is invalid" },
    { "/conf/disk/unsupported/virtio-sda", "dev='vda'", "dev='sda'", NULL, NULL,
      U, 14, "disk sda: target dev 'sda' is not supported: vmmd names virtio disks 'vd' "
      "followed by lowercase letters" },
    { "/conf/disk/unsupported/virtio-vdA", "dev='vda'", "dev='vdA'", NULL, NULL,
      U, 14, "target dev 'vdA' is not supported: vmmd names virtio disks" },
    { "/conf/disk/unsupported/virtio-partition", "dev='vda'", "dev='vda1'", NULL, NULL,
      U, 14, "target dev 'vda1' is not supported" },
    { "/conf/disk/unsupported/virtio-underscore", "dev='vda'", "dev='vd_a'", NULL, NULL,
      U, 14, "target dev 'vd_a' is not supported" },
    { "/conf/disk/unsupported/virtio-ioemu", "dev='vda'", "dev='ioemu:vda'", NULL, NULL,
      U, 14, "disk ioemu:vda: target dev 'ioemu:vda' is not supported" },
    { "/conf/disk/unsupported/target-tray", "bus='virtio'", "bus='virtio' tray='open'",
      NULL, NULL, U, 14, DV "attribute 'tray'='open' on <target> is not supported" },
    { "/conf/disk/unsupported/target-removable", "bus='virtio'",
      "bus='virtio' removable='on'", NULL, NULL,
      U, 14, DV "attribute 'removable'='on' on <target> is not supported" },
    { "/conf/disk/unsupported/target-rotation", "bus='virtio'",
      "bus='virtio' rotation_rate='1'", NULL, NULL,
      U, 14, DV "attribute 'rotation_rate'='1' on <target> is not supported" },
    { "/conf/disk/invalid/two-targets", "<!--disk-->", "<target dev='vdb'/>", NULL, NULL,
      I, 15, DV "element <disk>/<target> appears more than once (first on line 14)" },
    /* <readonly>, <shareable>, <serial> */
    { "/conf/disk/unsupported/readonly-attr", "<!--disk-->", "<readonly x='1'/>", NULL, NULL,
      U, 15, DV "attribute 'x'='1' on <readonly> is not supported" },
    { "/conf/disk/unsupported/readonly-child", "<!--disk-->", "<readonly><x/></readonly>",
      NULL, NULL, U, 15, DV "element <readonly>/<x> is not supported" },
    { "/conf/disk/invalid/readonly-text", "<!--disk-->", "<readonly>yes</readonly>",
      NULL, NULL, I, 15, DV "unexpected text 'yes' in <readonly>" },
    { "/conf/disk/unsupported/shareable", "<!--disk-->", "<shareable/>", NULL, NULL,
      U, 15, DV "element <disk>/<shareable> is not supported by vmmd" },
    { "/conf/disk/invalid/serial-empty", "<!--disk-->", "<serial></serial>", NULL, NULL,
      I, 15, DV "<serial> is empty" },
    { "/conf/disk/invalid/serial-empty-tag", "<!--disk-->", "<serial/>", NULL, NULL,
      I, 15, DV "<serial> is empty" },
    { "/conf/disk/invalid/serial-slash", "<!--disk-->", "<serial>a/b</serial>", NULL, NULL,
      I, 15, DV "<serial> 'a/b' has a character libvirt does not allow (allowed: A-Z a-z "
      "0-9 _ . + - and space)" },
    { "/conf/disk/invalid/serial-utf8", "<!--disk-->", "<serial>caf\xc3\xa9</serial>",
      NULL, NULL, I, 15, DV "<serial> 'caf\\303\\251' has a character libvirt does not allow" },
    { "/conf/disk/invalid/serial-newline", "<!--disk-->", "<serial>a\nb</serial>", NULL, NULL,
      I, 15, DV "<serial> 'a\\nb' has a character" },
    { "/conf/disk/invalid/serial-tab", "<!--disk-->", "<serial>a\tb</serial>", NULL, NULL,
      I, 15, DV "<serial> 'a\\tb' has a character" },
    { "/conf/disk/invalid/serial-21", "<!--disk-->", "<serial>ABCDEFGHIJKLMNOPQRSTU</serial>",
      NULL, NULL, I, 15, DV "<serial> 'ABCDEFGHIJKLMNOPQRSTU' is 21 bytes long; a "
      "virtio-blk serial has at most 20 bytes" },
    { "/conf/disk/unsupported/serial-attr", "<!--disk-->", "<serial x='1'>a</serial>",
      NULL, NULL, U, 15, DV "attribute 'x'='1' on <serial> is not supported" },
    { "/conf/disk/unsupported/serial-child", "<!--disk-->", "<serial>a<b/></serial>",
      NULL, NULL, U, 15, DV "element <serial>/<b> is not supported" },
    { "/conf/disk/invalid/two-serials", "<!--disk-->", "<serial>a</serial><serial>b</serial>",
      NULL, NULL, I, 15, DV "element <disk>/<serial> appears more than once" },
    /* <boot>, <alias> */
    { "/conf/disk/unsupported/boot", "<!--disk-->", "<boot order='1'/>", NULL, NULL,
      U, 15, DV "element <disk>/<boot> is not supported by vmmd: it boots the <kernel> in "
      "<os> directly and has no boot order" },
    { "/conf/disk/unsupported/alias", "<!--disk-->", "<alias name='ua-disk0'/>", NULL, NULL,
      U, 15, DV "element <disk>/<alias> is not supported by vmmd" },
    /* <address> */
    { "/conf/disk/invalid/address-no-type", "<!--disk-->", "<address slot='0x05'/>",
      NULL, NULL, I, 15, DV "<address> needs a 'type' attribute" },
    { "/conf/disk/unsupported/address-drive", "<!--disk-->",
      "<address type='drive' controller='0' bus='0' unit='0'/>", NULL, NULL,
      U, 15, DV "attribute 'type'='drive' on <address> is not supported by vmmd "
      "(supported: pci)" },
    { "/conf/disk/unsupported/address-ccw", "<!--disk-->", "<address type='ccw'/>",
      NULL, NULL, U, 15, DV "attribute 'type'='ccw' on <address> is not supported" },
    { "/conf/disk/unsupported/address-mmio", "<!--disk-->", "<address type='virtio-mmio'/>",
      NULL, NULL, U, 15, DV "attribute 'type'='virtio-mmio' on <address> is not supported" },
    { "/conf/disk/invalid/address-type-bogus", "<!--disk-->", "<address type='pcie'/>",
      NULL, NULL, I, 15, DV "attribute 'type'='pcie' on <address> is invalid" },
    { "/conf/disk/unsupported/address-multifunction", "<!--disk-->",
      "<address type='pci' slot='0x05' multifunction='on'/>", NULL, NULL,
      U, 15, DV "attribute 'multifunction'='on' on <address> is not supported" },
    { "/conf/disk/unsupported/address-domain", "<!--disk-->",
      "<address type='pci' domain='0x0001' bus='0x00' slot='0x05' function='0x0'/>",
      NULL, NULL, U, 15, DV "attribute 'domain'='0x0001' on <address> is not supported by "
      "vmmd: it has one PCI bus, domain 0 bus 0" },
    { "/conf/disk/unsupported/address-bus", "<!--disk-->",
      "<address type='pci' bus='0x01' slot='0x05'/>", NULL, NULL,
      U, 15, DV "attribute 'bus'='0x01' on <address> is not supported" },
    { "/conf/disk/unsupported/address-bus-decimal", "<!--disk-->",
      "<address type='pci' bus='1' slot='0x05'/>", NULL, NULL,
      U, 15, DV "attribute 'bus'='1' on <address> is not supported" },
    { "/conf/disk/unsupported/address-function", "<!--disk-->",
      "<address type='pci' slot='0x05' function='0x1'/>", NULL, NULL,
      U, 15, DV "attribute 'function'='0x1' on <address> is not supported by vmmd: it has "
      "no multifunction devices" },
    { "/conf/disk/invalid/address-function-8", "<!--disk-->",
      "<address type='pci' slot='0x05' function='8'/>", NULL, NULL,
      I, 15, DV "attribute 'function'='8' on <address> is out of range (at most 0x7)" },
    { "/conf/disk/invalid/address-function-digits", "<!--disk-->",
      "<address type='pci' slot='0x05' function='0x00'/>", NULL, NULL,
      I, 15, DV "attribute 'function'='0x00' on <address> is not a number: write 0x and "
      "at most 1 hex digit," },
    { "/conf/disk/invalid/address-bus-digits", "<!--disk-->",
      "<address type='pci' bus='0x000' slot='0x05'/>", NULL, NULL,
      I, 15, DV "attribute 'bus'='0x000' on <address> is not a number" },
    { "/conf/disk/invalid/address-bus-256", "<!--disk-->",
      "<address type='pci' bus='256' slot='0x05'/>", NULL, NULL,
      I, 15, DV "attribute 'bus'='256' on <address> is out of range (at most 0xff)" },
    { "/conf/disk/invalid/address-domain-digits", "<!--disk-->",
      "<address type='pci' domain='0x000000000' slot='0x05'/>", NULL, NULL,
      I, 15, DV "attribute 'domain'='0x000000000' on <address> is not a number" },
    { "/conf/disk/invalid/address-slot-0", "<!--disk-->",
      "<address type='pci' domain='0x0000' bus='0x00' slot='0x00' function='0x0'/>",
      NULL, NULL, I, 15, DV "attribute 'slot'='0x00' on <address> is invalid: slot 0 is "
      "the PCI host bridge" },
    { "/conf/disk/invalid/address-slot-0-decimal", "<!--disk-->",
      "<address type='pci' slot='0'/>", NULL, NULL, I, 15, DV "attribute 'slot'='0' on <address> is invalid: slot 0 is "
      "the PCI host bridge" },
    { "/conf/disk/invalid/address-slot-32", "<!--disk-->",
      "<address type='pci' slot='32'/>", NULL, NULL,
      I, 15, DV "attribute 'slot'='32' on <address> is out of range (at most 0x1f)" },
    { "/conf/disk/invalid/address-slot-0x20", "<!--disk-->",
      "<address type='pci' slot='0x20'/>", NULL, NULL,
      I, 15, DV "attribute 'slot'='0x20' on <address> is out of range" },
    { "/conf/disk/invalid/address-slot-octal", "<!--disk-->",
      "<address type='pci' slot='010'/>", NULL, NULL,
      I, 15, DV "attribute 'slot'='010' on <address> is not a number: write 0x and at most "
      "2 hex digits, or decimal without leading zeros (libvirt reads a leading 0 as "
      "octal)" },
    { "/conf/disk/invalid/address-slot-0x", "<!--disk-->",
      "<address type='pci' slot='0x'/>", NULL, NULL,
      I, 15, DV "attribute 'slot'='0x' on <address> is not a number" },
    { "/conf/disk/invalid/address-slot-0X", "<!--disk-->",
      "<address type='pci' slot='0X05'/>", NULL, NULL,
      I, 15, DV "attribute 'slot'='0X05' on <address> is not a number" },
    { "/conf/disk/invalid/address-slot-3digits", "<!--disk-->",
      "<address type='pci' slot='0x005'/>", NULL, NULL,
      I, 15, DV "attribute 'slot'='0x005' on <address> is not a number" },
    { "/conf/disk/invalid/address-slot-space", "<!--disk-->",
      "<address type='pci' slot='5 '/>", NULL, NULL,
      I, 15, DV "attribute 'slot'='5 ' on <address> is not a number" },
    { "/conf/disk/invalid/address-slot-negative", "<!--disk-->",
      "<address type='pci' slot='-1'/>", NULL, NULL,
      I, 15, DV "attribute 'slot'='-1' on <address> is not a number" },
    { "/conf/disk/invalid/address-slot-hexword", "<!--disk-->",
      "<address type='pci' slot='1f'/>", NULL, NULL,
      I, 15, DV "attribute 'slot'='1f' on <address> is not a number" },
    { "/conf/disk/unsupported/address-zpci", "<!--disk-->",
      "<address type='pci' slot='0x05'><zpci uid='0x1'/></address>", NULL, NULL,
      U, 15, DV "element <address>/<zpci> is not supported" },
    /* everything else libvirt has in a <disk> */
    { "/conf/disk/unsupported/iotune", "<!--disk-->",
      "<iotune><total_bytes_sec>1000</total_bytes_sec></iotune>", NULL, NULL,
      U, 15, DV "element <disk>/<iotune> is not supported by vmmd" },
    { "/conf/disk/unsupported/blockio", "<!--disk-->",
      "<blockio logical_block_size='4096'/>", NULL, NULL,
      U, 15, DV "element <disk>/<blockio> is not supported" },
    { "/conf/disk/unsupported/geometry", "<!--disk-->",
      "<geometry cyls='16383' heads='16' secs='63'/>", NULL, NULL,
      U, 15, DV "element <disk>/<geometry> is not supported" },
    { "/conf/disk/unsupported/wwn", "<!--disk-->", "<wwn>0x5000c50015ea71ac</wwn>",
      NULL, NULL, U, 15, DV "element <disk>/<wwn> is not supported" },
    { "/conf/disk/unsupported/vendor", "<!--disk-->", "<vendor>v</vendor>", NULL, NULL,
      U, 15, DV "element <disk>/<vendor> is not supported" },
    { "/conf/disk/unsupported/product", "<!--disk-->", "<product>p</product>", NULL, NULL,
      U, 15, DV "element <disk>/<product> is not supported" },
    { "/conf/disk/unsupported/encryption", "<!--disk-->", "<encryption format='luks'/>",
      NULL, NULL, U, 15, DV "element <disk>/<encryption> is not supported" },
    { "/conf/disk/unsupported/auth", "<!--disk-->", "<auth username='u'/>", NULL, NULL,
      U, 15, DV "element <disk>/<auth> is not supported" },
    { "/conf/disk/unsupported/transient", "<!--disk-->", "<transient/>", NULL, NULL,
      U, 15, DV "element <disk>/<transient> is not supported" },
    { "/conf/disk/invalid/backingStore-raw", "<!--disk-->", "<backingStore type='file'>"
      "<format type='raw'/><source file='/b'/></backingStore>", NULL, NULL,
      I, 15, DV "a raw disk has no backing file: <backingStore> needs <driver type='qcow2'/>" },
    { "/conf/disk/unsupported/mirror", "<!--disk-->", "<mirror type='file'/>", NULL, NULL,
      U, 15, DV "element <disk>/<mirror> is not supported" },
    { "/conf/disk/unsupported/namespaced-child", "<!--disk-->",
      "<x:y xmlns:x='urn:x'/>", NULL, NULL, U, 15, DV "element <disk>/<x:y> is not supported" },
};

#undef DV

static void test_disk_case(gconstpointer data)
{
    const DiskCase *c = data;
    g_autofree char *xml = disk_doc2(c->from, c->to, c->from2, c->to2);
    expect_error(xml, c->code, c->line, c->needle);
}

/* Some refusals above are libvirt's own: its schema refuses them too. */
static void test_disk_libvirt_refuses(void)
{
    static const char *const paths[] = {
        "/conf/disk/invalid/io-default", "/conf/disk/invalid/discard-default",
        "/conf/disk/invalid/queues-0", "/conf/disk/invalid/relative",
        "/conf/disk/invalid/path-root", "/conf/disk/invalid/target-xda",
        "/conf/disk/invalid/target-vd", "/conf/disk/invalid/serial-empty",
        "/conf/disk/invalid/serial-slash", "/conf/disk/invalid/address-slot-32",
        "/conf/disk/invalid/address-function-digits", "/conf/disk/invalid/format-bogus",
        "/conf/disk/invalid/address-no-type", "/conf/disk/invalid/file-with-dev",
        "/conf/disk/invalid/cache-bogus",
        /* not slot='1f': the schema takes it as hex, libvirt's parser refuses it */
    };
    for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
        const DiskCase *c = NULL;
        for (size_t k = 0; k < G_N_ELEMENTS(disk_cases) && !c; k++)
            if (strcmp(disk_cases[k].path, paths[i]) == 0)
                c = &disk_cases[k];
        g_assert_nonnull(c);
        g_test_message("%s", c->path);
        g_autofree char *xml = disk_doc2(c->from, c->to, c->from2, c->to2);
        assert_libvirt_invalid(xml);
    }
}

static void test_disk_serial(void)
{
    static const char *const good[] = {
        "A", "ABCDEFGHIJKLMNOPQRST", "abcdefghijklmnopqrst", "0123456789_ .+-xyzXY",
        " spaces kept ", "WD-WMC4N0J0YT1V",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *to = g_strdup_printf("<serial>%s</serial>", good[i]);
        g_autofree char *xml = disk_doc("<!--disk-->", to);
        g_autoptr(VmmDomainDef) def = parse_valid(xml);
        g_assert_cmpstr(disk(def, 0)->serial, ==, good[i]);
        g_assert_cmpuint(strlen(disk(def, 0)->serial), <=, VMM_DISK_SERIAL_MAX);
    }
    /* comments inside are dropped, entities expanded */
    g_autofree char *xml = disk_doc("<!--disk-->", "<serial>AB<!-- c -->C&#x44;</serial>");
    g_autoptr(VmmDomainDef) def = parse_valid(xml);
    g_assert_cmpstr(disk(def, 0)->serial, ==, "ABCD");
    /* the limit is in bytes */
    expect_replace_error("<!--dev-->",
        "<disk><source file='/a'/><target dev='vda'/>"
        "<serial>ABCDEFGHIJKLMNOPQRST </serial></disk>", I, 11, "is 21 bytes long");
}

static void test_disk_paths(void)
{
    static const char *const good[] = {
        "/a", "/var/lib/vmmd/images/disk with spaces.img", "/images/caf\xc3\xa9.img",
        "//srv//x.img", "/a&amp;b'.img", "/dev/disk/by-id/ata-X_Y-Z:1",
        "/relative/../is/still/absolute.img", "/tab&#9;here",
    };
    static const char *const want[] = {
        "/a", "/var/lib/vmmd/images/disk with spaces.img", "/images/caf\xc3\xa9.img",
        "//srv//x.img", "/a&b'.img", "/dev/disk/by-id/ata-X_Y-Z:1",
        "/relative/../is/still/absolute.img", "/tab\there",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *to = g_strdup_printf("<source file=\"%s\"/>", good[i]);
        g_autofree char *xml = disk_doc("<source file='/var/lib/vmmd/a.img'/>", to);
        g_autoptr(VmmDomainDef) def = parse_valid(xml);
        g_assert_cmpstr(disk(def, 0)->path, ==, want[i]);
        g_autofree char *bto = g_strdup_printf("<source dev=\"%s\"/>", good[i]);
        g_autofree char *bxml = disk_doc2("<source file='/var/lib/vmmd/a.img'/>", bto,
                                          "type='file'", "type='block'");
        g_autoptr(VmmDomainDef) bdef = parse_valid(bxml);
        g_assert_cmpint(disk(bdef, 0)->type, ==, VMM_DISK_BLOCK);
        g_assert_cmpstr(disk(bdef, 0)->path, ==, want[i]);
    }

    /* PATH_MAX counts the terminating NUL */
    g_autoptr(GString) p = g_string_new("/");
    while (p->len < PATH_MAX - 1)
        g_string_append_c(p, 'a');
    g_autofree char *ok_to = g_strdup_printf("<source file='%s'/>", p->str);
    g_autofree char *ok_xml = disk_doc("<source file='/var/lib/vmmd/a.img'/>", ok_to);
    g_autoptr(VmmDomainDef) def = parse_ok(ok_xml);
    g_assert_cmpuint(strlen(disk(def, 0)->path), ==, PATH_MAX - 1);
    g_string_append_c(p, 'a');
    g_autofree char *long_to = g_strdup_printf("<source file='%s'/>", p->str);
    g_autofree char *long_xml = disk_doc("<source file='/var/lib/vmmd/a.img'/>", long_to);
    g_autofree char *needle = g_strdup_printf("attribute 'file' on <source> is %d bytes "
                                              "long; a path has at most %d", PATH_MAX,
                                              PATH_MAX - 1);
    expect_error(long_xml, I, 13, needle);
}

static void test_disk_targets(void)
{
    static const char *const good[] = { "vda", "vdz", "vdaa", "vdzz", "vdabc" };
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        for (int with_bus = 0; with_bus < 2; with_bus++) {
            g_autofree char *to = g_strdup_printf("<target dev='%s'%s/>", good[i],
                                                  with_bus ? " bus='virtio'" : "");
            g_autofree char *xml = disk_doc("<target dev='vda' bus='virtio'/>", to);
            g_autoptr(VmmDomainDef) def = parse_valid(xml);
            g_assert_cmpstr(disk(def, 0)->target_dev, ==, good[i]);
            g_assert_cmpint(disk(def, 0)->bus, ==, VMM_DISK_BUS_VIRTIO);
        }
    }
}

static void test_disk_addresses(void)
{
    static const struct { const char *addr; int slot; } good[] = {
        { "<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>", 5 },
        { "<address type='pci' slot='0x1f'/>", 31 },
        { "<address type='pci' slot='0x1F'/>", 31 },
        { "<address type='pci' slot='0x1'/>", 1 },
        { "<address type='pci' slot='31'/>", 31 },
        { "<address type='pci' slot='10'/>", 10 },     /* decimal, as libvirt reads it */
        { "<address type='pci' domain='0' bus='0' slot='3' function='0'/>", 3 },
        { "<address type='pci' domain='0x00000000' bus='0x0' slot='0x03'/>", 3 },
        { "<address type='pci'/>", -1 },                /* vmmd chooses */
        { "<address type='pci' bus='0x00' function='0x0'/>", -1 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *xml = disk_doc("<!--disk-->", good[i].addr);
        g_autoptr(VmmDomainDef) def = parse_valid(xml);
        g_assert_cmpint(disk(def, 0)->pci_slot, ==, good[i].slot);
    }
}

/* <memballoon>: libvirt's forms accepted, the rest refused by name. */
static void test_memballoon(void)
{
    g_autoptr(VmmDomainDef) none = parse_devices_valid("<memballoon model='none'/>");
    g_assert_cmpuint(none->memballoons->len, ==, 1);
    g_assert_null(vmm_domain_def_balloon(none));
    g_autoptr(VmmDomainDef) plain = parse_devices_valid("<memballoon model='virtio'/>");
    const VmmBalloonDef *b = vmm_domain_def_balloon(plain);
    g_assert_nonnull(b);
    g_assert_cmpint(b->autodeflate, ==, VMM_TRI_DEFAULT);
    g_assert_cmpuint(b->stats_period, ==, 0);
    g_assert_cmpint(b->pci_slot, ==, -1);
    g_autoptr(VmmDomainDef) absent = parse_ok(base_xml);
    g_assert_cmpuint(absent->memballoons->len, ==, 0);

    expect_replace_error("<!--dev-->", "<memballoon/>", I, 11,
                         "memballoon: <memballoon> needs a 'model' attribute");
    expect_replace_error("<!--dev-->", "<memballoon model='xen'/>", U, 11, "'xen'");
    expect_replace_error("<!--dev-->", "<memballoon model='virtio' autodeflate='yes'/>", I, 11,
                         "autodeflate");
    expect_replace_error("<!--dev-->", "<memballoon model='virtio'><stats period='0'/>"
                         "</memballoon>", I, 11, "period");
    expect_replace_error("<!--dev-->", "<memballoon model='virtio'><stats/></memballoon>", I,
                         11, "<stats> needs a 'period'");
    expect_replace_error("<!--dev-->", "<memballoon model='none'><stats period='5'/>"
                         "</memballoon>", I, 11, "not allowed in <memballoon model='none'>");
    expect_replace_error("<!--dev-->", "<memballoon model='virtio'/><memballoon model='none'/>",
                         I, 11, "more than one <memballoon>");
    expect_replace_error("<!--dev-->", "<memballoon model='virtio'><driver iommu='on'/>"
                         "</memballoon>", U, 11, "<memballoon>/<driver> is not supported");
    expect_replace_error("<!--dev-->", "<memballoon model='virtio' foo='1'/>", U, 11, "foo");
    expect_replace_error("<!--dev-->",
                         "<disk><source file='/a'/><target dev='vda'/>"
                         "<address type='pci' slot='3'/></disk>"
                         "<memballoon model='virtio'><address type='pci' slot='3'/>"
                         "</memballoon>", I, 11, "PCI slot 0x03 is used twice");
}

/* Across disks: targets unique, PCI slots unique, images shared read-only. */
static void test_disk_duplicates(void)
{
    g_autofree char *dup_target = doc_replace("<!--dev-->",
        "<disk><source file='/a'/><target dev='vda'/></disk>\n"
        "<disk>\n<source file='/b'/>\n<target dev='vda'/></disk>");
    expect_error(dup_target, I, 14, "disk vda: target dev 'vda' is used by two disks "
                 "(first on line 11)");

    g_autofree char *dup_slot = doc_replace("<!--dev-->",
        "<disk><source file='/a'/><target dev='vda'/>\n"
        "<address type='pci' slot='0x05'/></disk>\n"
        "<disk><source file='/b'/><target dev='vdb'/>\n"
        "<address type='pci' domain='0' bus='0' slot='5' function='0'/></disk>");
    expect_error(dup_slot, I, 14, "disk vdb: PCI slot 0x05 is used twice (first on line 12)");

    /* slots left out are not duplicates */
    g_autoptr(VmmDomainDef) d1 = parse_devices_valid((
        "<disk><source file='/a'/><target dev='vda'/><address type='pci'/></disk>"
        "<disk><source file='/b'/><target dev='vdb'/><address type='pci'/></disk>"
        "<disk><source file='/c'/><target dev='vdc'/>"
        "<address type='pci' slot='0x02'/></disk>"));
    g_assert_cmpuint(d1->disks->len, ==, 3);
    g_assert_cmpint(disk(d1, 0)->pci_slot, ==, -1);
    g_assert_cmpint(disk(d1, 1)->pci_slot, ==, -1);
    g_assert_cmpint(disk(d1, 2)->pci_slot, ==, 2);
    g_assert_cmpstr(disk(d1, 2)->target_dev, ==, "vdc");

    /* one image, two writers: refused; a writer and a reader too */
    g_autofree char *two_writers = doc_replace("<!--dev-->",
        "<disk><source file='/img'/><target dev='vda'/></disk>\n"
        "<disk type='block'>\n<source dev='/img'/><target dev='vdb'/></disk>");
    expect_error(two_writers, I, 13, "disk vdb: '/img' is also the source of disk vda "
                 "(line 11); disks may share an image only when all of them are "
                 "<readonly/>");
    expect_replace_error("<!--dev-->",
        "<disk><source file='/img'/><target dev='vda'/><readonly/></disk>"
        "<disk><source file='/img'/><target dev='vdb'/></disk>", I, 11,
        "'/img' is also the source of disk vda");
    expect_replace_error("<!--dev-->",
        "<disk><source file='/img'/><target dev='vda'/></disk>"
        "<disk><source file='/img'/><target dev='vdb'/><readonly/></disk>", I, 11,
        "'/img' is also the source of disk vda");
    expect_replace_error("<!--dev-->",
        "<disk><source file='/img'/><target dev='vda'/><readonly/></disk>"
        "<disk><source file='/img'/><target dev='vdb'/><readonly/></disk>"
        "<disk><source file='/img'/><target dev='vdc'/></disk>", I, 11,
        "'/img' is also the source of disk vda");
    /* readers may share */
    g_autoptr(VmmDomainDef) d2 = parse_devices_valid((
        "<disk><source file='/img'/><target dev='vda'/><readonly/></disk>"
        "<disk><source file='/img'/><target dev='vdb'/><readonly/></disk>"));
    g_assert_cmpuint(d2->disks->len, ==, 2);
    g_assert_true(disk(d2, 0)->readonly && disk(d2, 1)->readonly);

    /* many disks, in document order */
    g_autoptr(GString) many = g_string_new(NULL);
    for (int i = 0; i < 30; i++) {
        g_autofree char *name = i < 26 ? g_strdup_printf("vd%c", 'a' + i)
                                       : g_strdup_printf("vda%c", 'a' + i - 26);
        g_string_append_printf(many, "<disk><source file='/d%d'/><target dev='%s'/>"
                               "<address type='pci' slot='%d'/></disk>\n",
                               i, name, i + 1);
    }
    g_autofree char *many_xml = doc_replace("<!--dev-->", many->str);
    g_autoptr(VmmDomainDef) d3 = parse_valid(many_xml);
    g_assert_cmpuint(d3->disks->len, ==, 30);
    for (guint i = 0; i < 30; i++)
        g_assert_cmpint(disk(d3, i)->pci_slot, ==, (int)i + 1);
    g_assert_cmpstr(disk(d3, 26)->target_dev, ==, "vdaa");
}

/* ------------------------------------------------------------------------ */
/* malformed and hostile documents                                          */

static void test_malformed(void)
{
    expect_error("<domain type='kvm'>\n<name>x</name>\n<memory>1</domain>\n",
                 VMM_CONF_ERROR_XML, 3, "XML error: Opening and ending tag mismatch");
    expect_error("", VMM_CONF_ERROR_XML, 0, "test.xml: document is empty");
    expect_error("hello", VMM_CONF_ERROR_XML, 1, "XML error");
    expect_error("<domain type='kvm' type='kvm'/>", VMM_CONF_ERROR_XML, 1, "redefined");
    expect_error("<domain type='kvm'><name>&foo;</name></domain>", VMM_CONF_ERROR_XML, 1,
                 "Entity 'foo' not defined");
    expect_error("<domain/><domain/>", VMM_CONF_ERROR_XML, 1, "Extra content");

    /* the length is honoured: no reliance on a terminating NUL */
    static const char doubled[] = "<domain/>garbage";
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmDomainDef) def =
        vmm_domain_def_parse_string(doubled, 9, NULL, &err);
    g_assert_null(def);
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID);   /* parsed, no type */
    g_assert_true(g_str_has_prefix(err->message, "domain XML:1: "));
}

/* libxml2 must report through GError only, never print to stderr. */
static void test_malformed_quiet(void)
{
    if (g_test_subprocess()) {
        g_autoptr(GError) e1 = NULL;
        g_autoptr(GError) e2 = NULL;
        g_autoptr(GError) e3 = NULL;
        g_assert_null(parse("<domain><name>x</domain>", &e1));
        g_assert_null(parse("<!DOCTYPE d [<!ENTITY a 'b'>]><domain>&a;</domain>", &e2));
        g_assert_null(parse("<domain>&undefined;</domain>", &e3));
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("");
}

static const char xxe_fmt[] =
    "<?xml version='1.0'?>\n"
    "<!DOCTYPE domain [\n"
    "  <!ENTITY xxe SYSTEM 'file://%s'>\n"
    "]>\n"
    "<domain type='kvm'><name>&xxe;</name><memory>2048</memory>"
    "<os><type>hvm</type><kernel>/k</kernel></os>"
    "<description>&xxe;</description></domain>\n";

static void test_xxe(void)
{
    g_autofree char *dir = g_dir_make_tmp("vmmd-conf-XXXXXX", NULL);
    g_autofree char *secret = g_build_filename(dir, "secret", NULL);
    g_assert_true(g_file_set_contents(secret, "TOPSECRET", -1, NULL));
    g_autofree char *xml = g_strdup_printf(xxe_fmt, secret);
    expect_error(xml, VMM_CONF_ERROR_XML, 2, "document type declaration (<!DOCTYPE>)");
    g_autoptr(GError) err = NULL;
    g_assert_null(parse(xml, &err));
    g_assert_null(strstr(err->message, "TOPSECRET"));

    g_autofree char *passwd = g_strdup_printf(xxe_fmt, "/etc/passwd");
    expect_error(passwd, VMM_CONF_ERROR_XML, 2, "<!DOCTYPE>");

    /* external DTD and external parameter entity: refused before any fetch */
    expect_error("<!DOCTYPE domain SYSTEM 'file:///etc/passwd'>\n<domain type='kvm'/>",
                 VMM_CONF_ERROR_XML, 1, "DTDs and entities are refused");
    expect_error("<!DOCTYPE domain [<!ENTITY % p SYSTEM 'http://192.0.2.1/x.dtd'> %p;]>"
                 "<domain type='kvm'/>", VMM_CONF_ERROR_XML, 1, "<!DOCTYPE>");
    /* a harmless DOCTYPE is refused too */
    expect_error("<!DOCTYPE domain>\n<domain type='kvm'/>", VMM_CONF_ERROR_XML, 1,
                 "<!DOCTYPE>");
    g_assert_cmpint(g_unlink(secret), ==, 0);
    g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static void test_billion_laughs(void)
{
    static const char lol[] =
        "<?xml version='1.0'?>\n"
        "<!DOCTYPE lolz [\n"
        " <!ENTITY lol 'lol'>\n"
        " <!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>\n"
        " <!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>\n"
        " <!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>\n"
        " <!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>\n"
        " <!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>\n"
        " <!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>\n"
        " <!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>\n"
        " <!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>\n"
        " <!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>\n"
        "]>\n"
        "<domain type='kvm' a='&lol9;'><name>&lol9;</name></domain>\n";
    gint64 t0 = g_get_monotonic_time();
    expect_error(lol, VMM_CONF_ERROR_XML, 2, "<!DOCTYPE>");
    g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC);
}

static void test_too_big(void)
{
    gsize size = 10 * 1024 * 1024;
    g_autoptr(GString) s = g_string_sized_new(size + 256);
    g_string_append(s, "<domain type='kvm'><description>");
    while (s->len < size)
        g_string_append(s, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n");
    g_string_append(s, "</description></domain>");

    gint64 t0 = g_get_monotonic_time();
    expect_error(s->str, VMM_CONF_ERROR_XML, 0, "larger than 1048576 bytes");
    g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC / 10);

    /* same through a file: refused from its size, before reading */
    g_autofree char *dir = g_dir_make_tmp("vmmd-conf-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "big.xml", NULL);
    g_assert_true(g_file_set_contents(path, s->str, (gssize)s->len, NULL));
    g_autoptr(GError) err = NULL;
    t0 = g_get_monotonic_time();
    g_assert_null(vmm_domain_def_parse_file(path, &err));
    g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC / 10);
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML);
    g_assert_nonnull(strstr(err->message, path));

    /* exactly at the limit is parsed (and then fails on content, not size) */
    g_clear_error(&err);
    g_string_truncate(s, 0);
    g_string_append(s, "<domain type='kvm'><description>");
    while (s->len < VMM_DOMAIN_XML_MAX_BYTES - strlen("</description></domain>"))
        g_string_append_c(s, 'x');
    g_string_append(s, "</description></domain>");
    g_assert_cmpuint(s->len, ==, VMM_DOMAIN_XML_MAX_BYTES);
    g_assert_null(vmm_domain_def_parse_string(s->str, s->len, "t", &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "no <name>"));

    g_assert_cmpint(g_unlink(path), ==, 0);
    g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static void test_deep_nesting(void)
{
    const int depth = 100000;
    g_autoptr(GString) s = g_string_new("<domain type='kvm'><description>");
    for (int i = 0; i < depth; i++)
        g_string_append(s, "<a>");
    for (int i = 0; i < depth; i++)
        g_string_append(s, "</a>");
    g_string_append(s, "</description></domain>");
    g_assert_cmpuint(s->len, <=, VMM_DOMAIN_XML_MAX_BYTES);
    expect_error(s->str, VMM_CONF_ERROR_XML, 1, "XML error");

    /* nesting libxml2 accepts is refused at the first unknown level */
    g_string_assign(s, "");
    for (int i = 0; i < 200; i++)
        g_string_append(s, "<sound>");
    for (int i = 0; i < 200; i++)
        g_string_append(s, "</sound>");
    g_autofree char *xml = doc_replace("<!--dev-->", s->str);
    expect_error(xml, U, 11, "element <devices>/<sound>");
}

/* ------------------------------------------------------------------------ */
/* files                                                                    */

static void test_parse_file(void)
{
    g_autofree char *dir = g_dir_make_tmp("vmmd-conf-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "domain.xml", NULL);
    g_autoptr(GError) err = NULL;

    g_assert_true(g_file_set_contents(path, base_xml, -1, NULL));
    g_autoptr(VmmDomainDef) def = vmm_domain_def_parse_file(path, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(def->name, ==, "vm1");

    /* messages are prefixed with the file name and line */
    g_autofree char *bad = doc_replace("<!--dev-->", "<sound/>");
    g_assert_true(g_file_set_contents(path, bad, -1, NULL));
    g_assert_null(vmm_domain_def_parse_file(path, &err));
    g_autofree char *want = g_strdup_printf("%s:11: element <devices>/<sound> is not "
                                            "supported by vmmd", path);
    g_assert_cmpstr(err->message, ==, want);
    g_clear_error(&err);

    /* non-regular files: refused without reading (no hang on /dev/zero or a
     * FIFO without writer) */
    g_assert_null(vmm_domain_def_parse_file("/dev/zero", &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO);
    g_assert_nonnull(strstr(err->message, "'/dev/zero' is not a regular file"));
    g_clear_error(&err);

    g_autofree char *fifo = g_build_filename(dir, "fifo", NULL);
    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    g_assert_null(vmm_domain_def_parse_file(fifo, &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO);
    g_clear_error(&err);

    g_assert_null(vmm_domain_def_parse_file(dir, &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO);
    g_clear_error(&err);

    g_autofree char *missing = g_build_filename(dir, "missing.xml", NULL);
    g_assert_null(vmm_domain_def_parse_file(missing, &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO);
    g_assert_nonnull(strstr(err->message, missing));
    g_assert_nonnull(strstr(err->message, g_strerror(ENOENT)));
    g_clear_error(&err);

    g_assert_cmpint(g_unlink(fifo), ==, 0);
    g_assert_cmpint(g_unlink(path), ==, 0);
    g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static void test_to_string(void)
{
    g_assert_cmpstr(vmm_lifecycle_action_to_string(VMM_ACTION_DESTROY), ==, "destroy");
    g_assert_cmpstr(vmm_lifecycle_action_to_string(VMM_ACTION_RESTART), ==, "restart");
    g_assert_cmpstr(vmm_lifecycle_action_to_string(VMM_ACTION_PRESERVE), ==, "preserve");
    g_assert_cmpstr(vmm_chr_type_to_string(VMM_CHR_STDIO), ==, "stdio");
    g_assert_cmpstr(vmm_chr_type_to_string(VMM_CHR_FILE), ==, "file");
    g_assert_cmpstr(vmm_chr_type_to_string(VMM_CHR_PTY), ==, "pty");
    g_assert_cmpstr(vmm_chr_type_to_string(VMM_CHR_UNIX), ==, "unix");
    g_assert_cmpstr(vmm_cache_mode_to_string(VMM_CACHE_WRITEBACK), ==, "writeback");
    g_assert_cmpstr(vmm_cache_mode_to_string(VMM_CACHE_WRITETHROUGH), ==, "writethrough");
    g_assert_cmpstr(vmm_cache_mode_to_string(VMM_CACHE_NONE), ==, "none");
    g_assert_cmpstr(vmm_cache_mode_to_string(VMM_CACHE_DIRECTSYNC), ==, "directsync");
    g_assert_cmpstr(vmm_cache_mode_to_string(VMM_CACHE_UNSAFE), ==, "unsafe");
    g_assert_cmpstr(vmm_io_mode_to_string(VMM_IO_THREADS), ==, "threads");
    g_assert_cmpstr(vmm_io_mode_to_string(VMM_IO_NATIVE), ==, "native");
    g_assert_cmpstr(vmm_io_mode_to_string(VMM_IO_URING), ==, "io_uring");
    g_assert_cmpuint(VMM_CONF_ERROR, !=, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/conf/full", test_full);
    g_test_add_func("/conf/defaults", test_defaults);
    g_test_add_func("/conf/exact-messages", test_exact_messages);
    g_test_add_func("/conf/no-os", test_no_os);
    for (size_t i = 0; i < G_N_ELEMENTS(replace_cases); i++)
        g_test_add_data_func(replace_cases[i].path, &replace_cases[i],
                             test_replace_case);
    g_test_add_func("/conf/vcpu", test_vcpu);
    g_test_add_func("/conf/parse-size", test_parse_size);
    g_test_add_func("/conf/memory-units", test_memory_units);
    g_test_add_func("/conf/uuid", test_uuid);
    g_test_add_func("/conf/name", test_name);
    g_test_add_func("/conf/title", test_title);
    g_test_add_func("/conf/comments", test_comments);
    g_test_add_func("/conf/serial/types", test_serial_types);
    g_test_add_func("/conf/serial/ports", test_serial_ports);
    g_test_add_func("/conf/serial/console", test_console);
    g_test_add_func("/conf/vserial", test_vserial);
    g_test_add_func("/conf/disk/defaults", test_disk_defaults);
    g_test_add_func("/conf/disk/vhostuser", test_disk_vhostuser);
    g_test_add_func("/conf/disk/cache-io", test_disk_cache_io);
    for (size_t i = 0; i < G_N_ELEMENTS(disk_cases); i++)
        g_test_add_data_func(disk_cases[i].path, &disk_cases[i], test_disk_case);
    g_test_add_func("/conf/disk/libvirt-refuses", test_disk_libvirt_refuses);
    g_test_add_func("/conf/disk/serial", test_disk_serial);
    g_test_add_func("/conf/disk/paths", test_disk_paths);
    g_test_add_func("/conf/disk/targets", test_disk_targets);
    g_test_add_func("/conf/disk/addresses", test_disk_addresses);
    g_test_add_func("/conf/disk/duplicates", test_disk_duplicates);
    g_test_add_func("/conf/memballoon", test_memballoon);
    g_test_add_func("/conf/xml/malformed", test_malformed);
    g_test_add_func("/conf/xml/quiet", test_malformed_quiet);
    g_test_add_func("/conf/xml/xxe", test_xxe);
    g_test_add_func("/conf/xml/billion-laughs", test_billion_laughs);
    g_test_add_func("/conf/xml/too-big", test_too_big);
    g_test_add_func("/conf/xml/deep-nesting", test_deep_nesting);
    g_test_add_func("/conf/file", test_parse_file);
    g_test_add_func("/conf/to-string", test_to_string);
    return g_test_run();
}
