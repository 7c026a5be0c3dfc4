/* Unit tests for src/conf/domain_conf.c: the strict libvirt domain XML
 * parser. */
#include "conf/domain_conf.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* The base document: tests replace one marker or line in it, so the line an
 * error must name is known. Line numbers are in the comments. */
static const char base_xml[] =
    "<domain type='kvm'>\n"                          /* 1 */
    "  <name>vm1</name>\n"                           /* 2 */
    "  <memory unit='MiB'>64</memory>\n"             /* 3 */
    "  <vcpu>1</vcpu>\n"                             /* 4 */
    "  <os>\n"                                       /* 5 */
    "    <type arch='x86_64'>hvm</type>\n"           /* 6 */
    "    <kernel>/boot/k</kernel><!--os-->\n"        /* 7 */
    "  </os>\n"                                      /* 8 */
    "  <!--top-->\n"                                 /* 9 */
    "  <devices>\n"                                  /* 10 */
    "    <!--dev-->\n"                               /* 11 */
    "  </devices>\n"                                 /* 12 */
    "</domain>\n";                                   /* 13 */

/* base_xml with the first occurrence of `from` replaced by `to`. */
static char *doc_replace(const char *from, const char *to)
{
    const char *p = strstr(base_xml, from);
    g_assert_nonnull(p);
    return g_strdup_printf("%.*s%s%s", (int)(p - base_xml), base_xml, to,
                           p + strlen(from));
}

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

/* ------------------------------------------------------------------------ */

static const char full_xml[] =
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    "<!-- every element vmmd accepts -->\n"
    "<domain type='kvm'>\n"
    "  <name>full-vm</name>\n"
    "  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>\n"
    "  <title>A test VM</title>\n"
    "  <description>Line one &amp; <![CDATA[<two>]]>\nline three</description>\n"
    "  <memory unit='GiB'>2</memory>\n"
    "  <currentMemory unit='MiB'>1024</currentMemory>\n"
    "  <vcpu placement='static' current='4'>4</vcpu>\n"
    "  <os>\n"
    "    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n"
    "    <kernel>/var/lib/vmmd/guestkit.elf</kernel>\n"
    "    <initrd>/var/lib/vmmd/initrd.img</initrd>\n"
    "    <cmdline>console=ttyS0 test=smoke</cmdline>\n"
    "  </os>\n"
    "  <features>\n"
    "    <acpi/>\n"
    "    <apic/>\n"
    "    <pae/>\n"
    "  </features>\n"
    "  <clock offset='localtime'/>\n"
    "  <on_poweroff>preserve</on_poweroff>\n"
    "  <on_reboot>destroy</on_reboot>\n"
    "  <on_crash>restart</on_crash>\n"
    "  <devices>\n"
    "    <emulator>/usr/bin/vmm-worker</emulator>\n"
    "    <serial type='pty'>\n"
    "      <target type='isa-serial' port='0'>\n"
    "        <model name='isa-serial'/>\n"
    "      </target>\n"
    "    </serial>\n"
    "    <serial type='file'>\n"
    "      <source path='/var/log/vm.log' append='on'/>\n"
    "      <target port='1'/>\n"
    "    </serial>\n"
    "    <serial type='unix'>\n"
    "      <source mode='bind' path='/run/vmmd/vm.sock'/>\n"
    "      <target port='2'/>\n"
    "    </serial>\n"
    "    <serial type='unix'>\n"
    "      <source mode='connect' path='/run/other.sock'/>\n"
    "      <target port='3'/>\n"
    "    </serial>\n"
    "    <console type='pty'>\n"
    "      <target type='serial' port='0'/>\n"
    "    </console>\n"
    "  </devices>\n"
    "</domain>\n";

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
    { "/conf/unsupported/cpu", "<!--top-->", "<cpu mode='host-passthrough'/>",
      U, 9, "element <domain>/<cpu> is not supported" },
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
    { "/conf/unsupported/disk", "<!--dev-->", "<disk type='file' device='disk'/>",
      U, 11, "element <devices>/<disk> is not supported by vmmd" },
    { "/conf/unsupported/interface", "<!--dev-->", "<interface type='network'/>",
      U, 11, "element <devices>/<interface> is not supported" },
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
    { "/conf/unsupported/console-virtio", "<!--dev-->",
      "<console type='pty'><target type='virtio'/></console>",
      U, 11, "attribute 'type'='virtio' on <target> is not supported" },
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

/* The two messages quoted in the design, checked whole. */
static void test_exact_messages(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = doc_replace("<!--dev-->", "<disk type='file'/>");
    g_assert_null(parse(xml, &err));
    g_assert_cmpstr(err->message, ==,
                    "test.xml:11: element <devices>/<disk> is not supported by vmmd");
    g_clear_error(&err);
    g_free(xml);
    xml = doc_replace("<vcpu>", "<vcpu placement='auto'>");
    g_assert_null(parse(xml, &err));
    g_assert_cmpstr(err->message, ==,
                    "test.xml:4: attribute 'placement'='auto' on <vcpu> is not "
                    "supported by vmmd (supported: static)");
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
        g_string_append(s, "<disk>");
    for (int i = 0; i < 200; i++)
        g_string_append(s, "</disk>");
    g_autofree char *xml = doc_replace("<!--dev-->", s->str);
    expect_error(xml, U, 11, "element <devices>/<disk>");
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
    g_autofree char *bad = doc_replace("<!--dev-->", "<disk/>");
    g_assert_true(g_file_set_contents(path, bad, -1, NULL));
    g_assert_null(vmm_domain_def_parse_file(path, &err));
    g_autofree char *want = g_strdup_printf("%s:11: element <devices>/<disk> is not "
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
