/* Unit tests for src/conf/domain_format.c and schemas/domain.rng: canonical
 * XML output, round trips through the parser, define-time defaults, copy
 * and equality, and RelaxNG validation against vmmd's schema and libvirt's.
 *
 * The schema's rule, checked on every document here that the parser
 * accepts: schemas/domain.rng accepts it exactly when libvirt's domain.rng
 * does (vmmd's schema is the parser's language intersected with
 * libvirt's). */
#include "conf/domain_conf.h"
#include "conf/domain_desc.h"
#include "conf/domain_format.h"
#include "domain-docs.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <glib/gstdio.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#ifndef VMM_SRC_SCHEMA_DIR
#error "VMM_SRC_SCHEMA_DIR must name the source tree's schemas/ (Makefile.am)"
#endif
#ifndef VMM_LIBVIRT_SCHEMA_DIR
#define VMM_LIBVIRT_SCHEMA_DIR "/usr/share/libvirt/schemas"
#endif

#define VMM_RNG VMM_SRC_SCHEMA_DIR "/domain.rng"
#define LIBVIRT_RNG VMM_LIBVIRT_SCHEMA_DIR "/domain.rng"

#define U VMM_CONF_ERROR_UNSUPPORTED
#define I VMM_CONF_ERROR_INVALID

/* ------------------------------------------------------------------------ */
/* helpers                                                                  */

static VmmDomainDef *parse(const char *xml, GError **err)
{
    return vmm_domain_def_parse_string(xml, strlen(xml), "test.xml", err);
}

static VmmDomainDef *parse_ok(const char *xml)
{
    g_autoptr(GError) err = NULL;
    VmmDomainDef *def = parse(xml, &err);
    if (!def)
        g_error("unexpected parse error: %s\ndocument:\n%s", err->message, xml);
    return def;
}

static char *format_ok(const VmmDomainDef *def)
{
    g_autoptr(GError) err = NULL;
    char *out = vmm_domain_def_format(def, &err);
    g_assert_no_error(err);
    g_assert_nonnull(out);
    return out;
}

static bool validate(const char *xml, const char *rng, char **why)
{
    g_autoptr(GError) err = NULL;
    bool ok = vmm_domain_validate_schema(xml, strlen(xml), rng, &err);
    if (!ok) {
        /* a refusal from the schema, never an I/O or XML problem */
        g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID);
        if (why)
            *why = g_strdup(err->message);
    } else {
        g_assert_no_error(err);
        if (why)
            *why = NULL;
    }
    return ok;
}

static bool valid_vmm(const char *xml, char **why)
{
    return validate(xml, VMM_RNG, why);
}

static bool valid_libvirt(const char *xml, char **why)
{
    return validate(xml, LIBVIRT_RNG, why);
}

/* For a document the parser accepts: vmmd's schema and libvirt's agree.
 * Returns that verdict. */
static bool schemas_agree(const char *xml)
{
    g_autofree char *why_vmm = NULL;
    g_autofree char *why_lv = NULL;
    bool v = valid_vmm(xml, &why_vmm);
    bool l = valid_libvirt(xml, &why_lv);
    if (v != l)
        g_error("schemas disagree on a document the parser accepts: vmmd %s (%s), "
                "libvirt %s (%s)\ndocument:\n%s", v ? "accepts" : "refuses",
                why_vmm ? why_vmm : "", l ? "accepts" : "refuses",
                why_lv ? why_lv : "", xml);
    return v;
}

static void assert_both_valid(const char *xml)
{
    g_autofree char *why = NULL;
    if (!valid_vmm(xml, &why))
        g_error("schemas/domain.rng refuses:\n%s\n%s", why, xml);
    if (!valid_libvirt(xml, &why))
        g_error("libvirt's domain.rng refuses:\n%s\n%s", why, xml);
}

/* The round trip: parse -> format -> parse gives an equal definition,
 * formatting that gives the same bytes, a copy formats the same too. When
 * `valid`, the input passes schemas/domain.rng (and so libvirt's), and so
 * does the output; otherwise the input is one the parser accepts but libvirt
 * refuses, and schemas/domain.rng refuses it too. */
/* def -> machine description -> def gives the same XML as def itself
 * (`out`): the worker runs what the daemon parsed, every field of it. */
static void roundtrip_desc(const VmmDomainDef *def, const char *out, const char *what)
{
    g_autofree char *desc = vmm_domain_desc_to_json(def);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmDomainDef) back = vmm_domain_desc_from_json(desc, strlen(desc), "test", &err);
    if (!back)
        g_error("%s: description refused: %s\n%s", what, err->message, desc);
    g_autofree char *out4 = format_ok(back);
    if (strcmp(out, out4) != 0 || !vmm_domain_def_equal(def, back))
        g_error("%s: description round trip changed the definition:\n%s\n---\n%s\n---\n%s",
                what, desc, out, out4);
}

static void roundtrip_def(const VmmDomainDef *def, const char *what)
{
    g_autofree char *out = format_ok(def);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmDomainDef) again = parse(out, &err);
    if (!again)
        g_error("%s: formatted XML does not parse: %s\n%s", what, err->message, out);
    if (!vmm_domain_def_equal(def, again))
        g_error("%s: round trip changed the definition:\n%s", what, out);
    g_autofree char *out2 = format_ok(again);
    g_assert_cmpstr(out, ==, out2);
    g_autoptr(VmmDomainDef) copy = vmm_domain_def_copy(def);
    g_assert_true(vmm_domain_def_equal(def, copy));
    g_autofree char *out3 = format_ok(copy);
    g_assert_cmpstr(out, ==, out3);
    roundtrip_desc(def, out, what);
}

static void roundtrip_doc(const char *xml, bool valid)
{
    g_autoptr(VmmDomainDef) def = parse_ok(xml);
    roundtrip_def(def, "document");
    g_autofree char *out = format_ok(def);
    bool in_ok = schemas_agree(xml);
    if (in_ok != valid)
        g_error("schemas %s a document expected %s:\n%s", in_ok ? "accept" : "refuse",
                valid ? "valid" : "invalid", xml);
    bool out_ok = schemas_agree(out);
    if (valid && !out_ok)
        g_error("output of a valid document is not valid:\n%s", out);
}

/* ------------------------------------------------------------------------ */
/* canonical output                                                         */

static const char base_canonical[] =
    "<domain type=\"kvm\">\n"
    "  <name>vm1</name>\n"
    "  <memory unit=\"KiB\">65536</memory>\n"
    "  <currentMemory unit=\"KiB\">65536</currentMemory>\n"
    "  <vcpu placement=\"static\">1</vcpu>\n"
    "  <os>\n"
    "    <type arch=\"x86_64\">hvm</type>\n"
    "    <kernel>/boot/k</kernel>\n"
    "  </os>\n"
    "  <clock offset=\"utc\"/>\n"
    "  <on_poweroff>destroy</on_poweroff>\n"
    "  <on_reboot>restart</on_reboot>\n"
    "  <on_crash>destroy</on_crash>\n"
    "  <devices/>\n"
    "</domain>\n";

static const char full_canonical[] =
    "<domain type=\"kvm\">\n"
    "  <name>full-vm</name>\n"
    "  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>\n"
    "  <title>A test VM</title>\n"
    "  <description>Line one &amp; &lt;two&gt;\nline three</description>\n"
    "  <memory unit=\"KiB\">2097152</memory>\n"
    "  <currentMemory unit=\"KiB\">1048576</currentMemory>\n"
    "  <vcpu placement=\"static\">4</vcpu>\n"
    "  <os>\n"
    "    <type arch=\"x86_64\" machine=\"pc-q35-7.2\">hvm</type>\n"
    "    <kernel>/var/lib/vmmd/guestkit.elf</kernel>\n"
    "    <initrd>/var/lib/vmmd/initrd.img</initrd>\n"
    "    <cmdline>console=ttyS0 test=smoke</cmdline>\n"
    "  </os>\n"
    "  <features>\n"
    "    <acpi/>\n"
    "    <apic/>\n"
    "    <pae/>\n"
    "  </features>\n"
    "  <cpu mode=\"host-passthrough\" check=\"none\" migratable=\"on\">\n"
    "    <topology sockets=\"1\" dies=\"1\" cores=\"2\" threads=\"2\"/>\n"
    "    <feature policy=\"disable\" name=\"avx\"/>\n"
    "    <feature policy=\"require\" name=\"sse4.2\"/>\n"
    "  </cpu>\n"
    "  <clock offset=\"localtime\"/>\n"
    "  <on_poweroff>preserve</on_poweroff>\n"
    "  <on_reboot>destroy</on_reboot>\n"
    "  <on_crash>restart</on_crash>\n"
    "  <devices>\n"
    "    <emulator>/usr/bin/vmm-worker</emulator>\n"
    "    <disk type=\"file\" device=\"disk\">\n"
    "      <driver name=\"qemu\" type=\"raw\" cache=\"none\" io=\"native\" "
    "discard=\"unmap\" queues=\"4\"/>\n"
    "      <source file=\"/var/lib/vmmd/images/root.img\"/>\n"
    "      <target dev=\"vda\" bus=\"virtio\"/>\n"
    "      <serial>ROOT-0001</serial>\n"
    "      <address type=\"pci\" domain=\"0x0000\" bus=\"0x00\" slot=\"0x05\" "
    "function=\"0x0\"/>\n"
    "    </disk>\n"
    "    <disk type=\"block\" device=\"disk\">\n"
    "      <driver name=\"qemu\" type=\"raw\" cache=\"writeback\" io=\"threads\" "
    "discard=\"ignore\"/>\n"
    "      <source dev=\"/dev/vg0/data\"/>\n"
    "      <target dev=\"vdb\" bus=\"virtio\"/>\n"
    "      <readonly/>\n"
    "    </disk>\n"
    "    <serial type=\"pty\">\n"
    "      <target type=\"isa-serial\" port=\"0\">\n"
    "        <model name=\"isa-serial\"/>\n"
    "      </target>\n"
    "    </serial>\n"
    "    <serial type=\"file\">\n"
    "      <source path=\"/var/log/vm.log\" append=\"on\"/>\n"
    "      <target type=\"isa-serial\" port=\"1\">\n"
    "        <model name=\"isa-serial\"/>\n"
    "      </target>\n"
    "    </serial>\n"
    "    <serial type=\"unix\">\n"
    "      <source mode=\"bind\" path=\"/run/vmmd/vm.sock\"/>\n"
    "      <target type=\"isa-serial\" port=\"2\">\n"
    "        <model name=\"isa-serial\"/>\n"
    "      </target>\n"
    "    </serial>\n"
    "    <serial type=\"unix\">\n"
    "      <source mode=\"connect\" path=\"/run/other.sock\"/>\n"
    "      <target type=\"isa-serial\" port=\"3\">\n"
    "        <model name=\"isa-serial\"/>\n"
    "      </target>\n"
    "    </serial>\n"
    "    <console type=\"pty\">\n"
    "      <target type=\"serial\" port=\"0\"/>\n"
    "    </console>\n"
    "    <memballoon model=\"virtio\" autodeflate=\"on\" freePageReporting=\"off\">\n"
    "      <stats period=\"10\"/>\n"
    "      <address type=\"pci\" domain=\"0x0000\" bus=\"0x00\" slot=\"0x06\" "
    "function=\"0x0\"/>\n"
    "    </memballoon>\n"
    "    <rng model=\"virtio\">\n"
    "      <rate bytes=\"4096\" period=\"2000\"/>\n"
    "      <backend model=\"random\">/dev/urandom</backend>\n"
    "      <address type=\"pci\" domain=\"0x0000\" bus=\"0x00\" slot=\"0x07\" function=\"0x0\"/>\n"
    "    </rng>\n"
    "    <rng model=\"virtio-non-transitional\">\n"
    "      <backend model=\"builtin\"/>\n"
    "    </rng>\n"
    "  </devices>\n"
    "</domain>\n";

static void test_canonical(void)
{
    g_autoptr(VmmDomainDef) base = parse_ok(base_xml);
    g_autofree char *b = format_ok(base);
    g_assert_cmpstr(b, ==, base_canonical);
    assert_both_valid(b);

    g_autoptr(VmmDomainDef) full = parse_ok(full_xml);
    g_autofree char *f = format_ok(full);
    g_assert_cmpstr(f, ==, full_canonical);
    assert_both_valid(f);

    /* a console whose serial is a file repeats its source */
    g_autofree char *x = doc_replace("<!--dev-->",
        "<serial type='file'><source path='/l'/><target port='2'/></serial>");
    g_autoptr(VmmDomainDef) d = parse_ok(x);
    g_autofree char *o = format_ok(d);
    g_assert_nonnull(strstr(o,
        "    <console type=\"file\">\n"
        "      <source path=\"/l\" append=\"off\"/>\n"
        "      <target type=\"serial\" port=\"2\"/>\n"
        "    </console>\n"));
    assert_both_valid(o);
}

/* ------------------------------------------------------------------------ */
/* <cputune>, <memtune>, <blkiotune> (src/conf/tune_conf.c)                 */

static const char tune_xml[] =
    "<domain type='kvm'>\n"
    "  <name>vm1</name>\n"
    "  <memory unit='MiB'>64</memory>\n"
    "  <vcpu>3</vcpu>\n"
    "  <cputune>\n"
    "    <vcpupin vcpu='2' cpuset='0-3,^1'/>\n"
    "    <emulator_quota>-1</emulator_quota>\n"
    "    <shares>512</shares>\n"
    "    <quota>50000</quota>\n"
    "    <period>100000</period>\n"
    "    <global_period>200000</global_period>\n"
    "    <global_quota>400000</global_quota>\n"
    "    <emulator_period>10000</emulator_period>\n"
    "    <vcpupin vcpu='0' cpuset='1'/>\n"
    "    <emulatorpin cpuset='0,1'/>\n"
    "  </cputune>\n"
    "  <memtune>\n"
    "    <swap_hard_limit unit='G'>1</swap_hard_limit>\n"
    "    <hard_limit unit='MiB'>96</hard_limit>\n"
    "    <soft_limit unit='b'>1025</soft_limit>\n"
    "  </memtune>\n"
    "  <blkiotune>\n"
    "    <device><write_iops_sec>50</write_iops_sec><path>/dev/vda</path>"
    "<read_bytes_sec>1000000</read_bytes_sec><weight>200</weight></device>\n"
    "    <weight>300</weight>\n"
    "    <device><path>/dev/sdb</path><read_iops_sec>7</read_iops_sec>"
    "<write_bytes_sec>9</write_bytes_sec></device>\n"
    "  </blkiotune>\n"
    "  <os><type arch='x86_64'>hvm</type><kernel>/boot/k</kernel></os>\n"
    "</domain>\n";

/* libvirt's order: blkiotune, memtune after currentMemory; cputune after
 * vcpu with shares, periods and quotas, vcpupins by vCPU, emulatorpin
 * (the rest as base_canonical). */
static const char tune_memory_canonical[] =
    "  <currentMemory unit=\"KiB\">65536</currentMemory>\n"
    "  <blkiotune>\n"
    "    <weight>300</weight>\n"
    "    <device>\n"
    "      <path>/dev/vda</path>\n"
    "      <weight>200</weight>\n"
    "      <write_iops_sec>50</write_iops_sec>\n"
    "      <read_bytes_sec>1000000</read_bytes_sec>\n"
    "    </device>\n"
    "    <device>\n"
    "      <path>/dev/sdb</path>\n"
    "      <read_iops_sec>7</read_iops_sec>\n"
    "      <write_bytes_sec>9</write_bytes_sec>\n"
    "    </device>\n"
    "  </blkiotune>\n"
    "  <memtune>\n"
    "    <hard_limit unit=\"KiB\">98304</hard_limit>\n"
    "    <soft_limit unit=\"KiB\">2</soft_limit>\n"
    "    <swap_hard_limit unit=\"KiB\">1048576</swap_hard_limit>\n"
    "  </memtune>\n";
static const char tune_cpu_canonical[] =
    "  <vcpu placement=\"static\">3</vcpu>\n"
    "  <cputune>\n"
    "    <shares>512</shares>\n"
    "    <global_period>200000</global_period>\n"
    "    <global_quota>400000</global_quota>\n"
    "    <period>100000</period>\n"
    "    <quota>50000</quota>\n"
    "    <emulator_period>10000</emulator_period>\n"
    "    <emulator_quota>-1</emulator_quota>\n"
    "    <vcpupin vcpu=\"0\" cpuset=\"1\"/>\n"
    "    <vcpupin vcpu=\"2\" cpuset=\"0,2-3\"/>\n"
    "    <emulatorpin cpuset=\"0-1\"/>\n"
    "  </cputune>\n";

static void test_tune(void)
{
    g_autoptr(VmmDomainDef) def = parse_ok(tune_xml);
    g_autofree char *out = format_ok(def);
    GString *want = g_string_new(base_canonical);
    g_string_replace(want, "  <currentMemory unit=\"KiB\">65536</currentMemory>\n",
                     tune_memory_canonical, 1);
    g_string_replace(want, "  <vcpu placement=\"static\">1</vcpu>\n", tune_cpu_canonical, 1);
    g_assert_cmpstr(out, ==, want->str);
    g_string_free(want, TRUE);
    assert_both_valid(out);
    roundtrip_doc(tune_xml, true);
    g_assert_true(def->tune->has_shares && def->tune->shares == 512);
    g_assert_cmpint(def->tune->emulator_quota, ==, -1);
    const VmmVcpuPinDef *p = vmm_tune_def_vcpupin(def->tune, 2);
    g_assert_nonnull(p);
    g_assert_true(vmm_cpuset_has(&p->cpus, 0) && !vmm_cpuset_has(&p->cpus, 1) &&
                  vmm_cpuset_has(&p->cpus, 3) && !vmm_cpuset_has(&p->cpus, 4));
    g_assert_null(vmm_tune_def_vcpupin(def->tune, 1));

    /* each element alone, and empty ones (which format to nothing) */
    static const char *const alone[] = {
        "<cputune><shares>2</shares></cputune>",
        "<cputune><vcpupin vcpu='0' cpuset='1023'/></cputune>",
        "<cputune><quota>1000</quota><period>1000000</period></cputune>",
        "<memtune><hard_limit>1</hard_limit></memtune>",
        "<blkiotune><weight>1000</weight></blkiotune>",
        "<blkiotune><device><path>/dev/x</path></device></blkiotune>",
        "<cputune/><memtune/><blkiotune/>",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(alone); i++) {
        g_autofree char *xml = doc_replace("<!--top-->", alone[i]);
        g_test_message("tune: %s", alone[i]);
        roundtrip_doc(xml, true);
    }
    /* libvirt's unlimited memtune value is no limit */
    g_autofree char *unl = doc_replace("<!--top-->",
                                       "<memtune><hard_limit>9007199254740991</hard_limit>"
                                       "</memtune>");
    g_autoptr(VmmDomainDef) u = parse_ok(unl);
    g_autofree char *uo = format_ok(u);
    g_assert_null(strstr(uo, "memtune"));
}

/* Refusals: what, where, why. */
static void test_tune_refusals(void)
{
    static const struct {
        const char *top;
        int code;
        const char *msg;
    } bad[] = {
        { "<cputune><iothreadpin iothread='1' cpuset='0'/></cputune>", U,
          "<cputune>/<iothreadpin> is not supported: vmmd has no <iothreads>" },
        { "<cputune><iothread_quota>2000</iothread_quota></cputune>", U, "iothread_quota" },
        { "<cputune><vcpusched vcpus='0' scheduler='fifo' priority='1'/></cputune>", U,
          "element <cputune>/<vcpusched> is not supported" },
        { "<memtune><min_guarantee>1</min_guarantee></memtune>", U, "min_guarantee" },
        { "<cputune><vcpupin vcpu='1' cpuset='0'/></cputune>", I,
          "'vcpu'='1' on <vcpupin> is not a vCPU of this domain (0 to 0)" },
        { "<cputune><vcpupin vcpu='0' cpuset='0'/><vcpupin vcpu='0' cpuset='1'/></cputune>", I,
          "appears more than once" },
        { "<cputune><vcpupin vcpu='0' cpuset='1-0'/></cputune>", I, "not a set of host CPUs" },
        { "<cputune><vcpupin vcpu='0' cpuset='0,^0'/></cputune>", I, "not empty" },
        { "<cputune><vcpupin vcpu='0' cpuset='1024'/></cputune>", I, "CPUs 0 to 1023" },
        { "<cputune><vcpupin vcpu='0'/></cputune>", I, "needs a 'cpuset'" },
        { "<cputune><emulatorpin cpuset=''/></cputune>", I, "not a set of host CPUs" },
        { "<cputune><shares>1</shares></cputune>", I, "<shares> value '1' is out of range" },
        { "<cputune><shares>262145</shares></cputune>", I, "2 to 262144" },
        { "<cputune><period>999</period></cputune>", I, "1000 to 1000000" },
        { "<cputune><period>1000001</period></cputune>", I, "<period> value" },
        { "<cputune><quota>999</quota></cputune>", I, "<quota> value '999' is out of range" },
        { "<cputune><quota>-2</quota></cputune>", I, "-1 for unlimited" },
        { "<cputune><shares>1</shares><shares>2</shares></cputune>", I,
          "<cputune>/<shares> appears more than once" },
        { "<memtune><hard_limit unit='MiB'>2</hard_limit><swap_hard_limit unit='MiB'>1"
          "</swap_hard_limit></memtune>", I, "must not be larger than swap_hard_limit" },
        { "<memtune><hard_limit unit='parsec'>1</hard_limit></memtune>", I, "is not a size" },
        { "<memtune><hard_limit>-1</hard_limit></memtune>", I, "is not a size" },
        { "<blkiotune><weight>99</weight></blkiotune>", I, "100 to 1000" },
        { "<blkiotune><device><weight>200</weight></device></blkiotune>", I, "needs a <path>" },
        { "<blkiotune><device><path>dev/x</path></device></blkiotune>", I,
          "not an absolute path" },
        { "<blkiotune><device><path>/d</path></device><device><path>/d</path></device>"
          "</blkiotune>", I, "device path '/d' appears more than once" },
        { "<blkiotune><device><path>/d</path><read_iops_sec>4294967296</read_iops_sec>"
          "</device></blkiotune>", I, "<read_iops_sec> value" },
        { "<blkiotune><device><path>/d</path><bogus/></device></blkiotune>", U,
          "<device>/<bogus> is not supported" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *xml = doc_replace("<!--top-->", bad[i].top);
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmDomainDef) def = parse(xml, &err);
        if (def)
            g_error("accepted: %s", bad[i].top);
        g_assert_error(err, VMM_CONF_ERROR, bad[i].code);
        if (!strstr(err->message, bad[i].msg) || !strstr(err->message, "test.xml:9:"))
            g_error("%s: message '%s' lacks '%s' or its line", bad[i].top, err->message,
                    bad[i].msg);
    }
}

/* The round trip for the documents test-domain-conf.c accepts. */
static void test_roundtrip_documents(void)
{
    static const char *const tops[] = {
        "<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>",
        "<uuid>4dea22b31d52d8f32516782e98ab3fa0</uuid>",
        "<uuid>4DEA22B3-1D52-D8F3-2516-782E98AB3FA0</uuid>",
        "<currentMemory unit='KiB'>32768</currentMemory>",
        "<title>t</title><description>d\nd</description>",
        "<description></description>",
        "<description>  spaces  </description>",
        "<features/>",
        "<features><pae/></features>",
        "<features><apic/><acpi/></features>",
        "<clock offset='utc'/>",
        "<clock offset='localtime'/>",
        "<on_poweroff>restart</on_poweroff><on_reboot>preserve</on_reboot>"
        "<on_crash>preserve</on_crash>",
        "<on_poweroff> destroy </on_poweroff><on_crash>restart</on_crash>",
        "<!-- c --><?pi x?>",
        "<seclabel type='dynamic' model='dac'/>",
        "<seclabel model='dac'/>",
        "<seclabel/>",
        "<seclabel type='dynamic' model='dac' relabel='yes'><label>+200000:+200000</label>"
        "<imagelabel>+200000:+200000</imagelabel></seclabel>",
        "<seclabel type='static' model='dac' relabel='yes'><label>+107:+107</label></seclabel>",
        "<seclabel type='static' model='dac'><label> qemu:kvm </label>"
        "<imagelabel>+0:+36</imagelabel></seclabel>",
        "<seclabel type='static' relabel='no'><label>vmmd:vmmd</label></seclabel>",
        "<seclabel type='none'/>",
        "<seclabel type='none' model='dac' relabel='no'/>",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(tops); i++) {
        g_autofree char *xml = doc_replace("<!--top-->", tops[i]);
        g_test_message("top: %s", tops[i]);
        roundtrip_doc(xml, true);
    }

    static const char *const os[] = {
        "<initrd>/boot/i</initrd>",
        "<cmdline>console=ttyS0 test=smoke</cmdline>",
        "<cmdline></cmdline>",
        "<cmdline>  a  b  </cmdline>",
        "<initrd>/i</initrd><cmdline>x=\"1 2\" &lt;&amp;&gt;</cmdline>",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(os); i++) {
        g_autofree char *xml = doc_replace("<!--os-->", os[i]);
        roundtrip_doc(xml, true);
    }
    g_autofree char *machine = doc_replace("arch='x86_64'",
                                           "arch='x86_64' machine='pc-i440fx-7.2'");
    roundtrip_doc(machine, true);
    g_autofree char *noarch = doc_replace(" arch='x86_64'", "");
    roundtrip_doc(noarch, true);

    static const char *const vcpus[] = {
        "<vcpu>255</vcpu>", "<vcpu placement='static' current='2'>2</vcpu>",
        "<vcpu>007</vcpu>", "<vcpu current='3'>3</vcpu>",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(vcpus); i++) {
        g_autofree char *xml = doc_replace("<vcpu>1</vcpu>", vcpus[i]);
        roundtrip_doc(xml, true);
    }
    g_autofree char *novcpu = doc_replace("<vcpu>1</vcpu>", "");
    roundtrip_doc(novcpu, true);

    static const char *const mems[] = {
        "<memory>1024</memory>", "<memory unit='KiB'>4096</memory>",
        "<memory unit='b'>1048576</memory>", "<memory unit='bytes'>1048577</memory>",
        "<memory unit='MB'>2</memory>", "<memory unit='GB'>1</memory>",
        "<memory unit='G'>1</memory>", "<memory unit='TiB'>16</memory>",
        "<memory unit='M'>1</memory>", "<memory unit='kib'>2048</memory>",
        "<memory unit='byte'>2097152</memory>",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(mems); i++) {
        g_autofree char *xml = doc_replace("<memory unit='MiB'>64</memory>", mems[i]);
        roundtrip_doc(xml, true);
    }

    static const char *const names[] = {
        "a", "my vm", "vm_1.test-2", "x.", "caf\xc3\xa9", "a&amp;b", " lead",
        "a&lt;b&gt;c'd\"e", "\xe3\x80\x80x",
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *to = g_strdup_printf("<name>%s</name>", names[i]);
        g_autofree char *xml = doc_replace("<name>vm1</name>", to);
        roundtrip_doc(xml, true);
    }

    static const char *const devs[] = {
        "<emulator>/usr/bin/vmm-worker</emulator>",
        /* serial variants */
        "<serial type='stdio'/><serial type='file'><source path='/tmp/a.log'/></serial>"
        "<serial type='file'><source path='/tmp/b.log' append='off'/></serial>"
        "<serial type='pty'/>",
        "<serial type='pty'/><serial type='stdio'/>",
        "<serial type='stdio'/><serial type='pty'><target port='1'/></serial>",
        "<serial type='stdio'><target port='2'/></serial>"
        "<serial type='pty'><target type='isa-serial' port='0'/></serial>",
        "<serial type='pty'><target port='3'/></serial>",
        "<serial type='unix'><source mode='connect' path='/run/x.sock'/>"
        "<target port='00'/></serial>",
        /* consoles */
        "<serial type='pty'><target type='isa-serial' port='0'>"
        "<model name='isa-serial'/></target></serial>"
        "<console type='pty'><target type='serial' port='0'/></console>",
        "<console type='stdio'/>",
        "<console/>",
        "<serial type='pty'/><console type='unix'><source mode='bind' "
        "path='/tmp/c.sock'/><target port='2'/></console>",
        "<serial type='file'><source path='/l' append='on'/><target port='1'/></serial>"
        "<console type='file'><source path='/l' append='on'/></console>",
        "<console type='pty'><target type='serial' port='0'/></console>"
        "<serial type='pty'><target port='0'/></serial>",
        /* virtio-serial: the virtio console, channels, the controller */
        "<console type='pty'><target type='virtio' port='0'/></console>",
        "<console type='pty'><target type='virtio'/></console>",
        "<serial type='pty'/><console type='pty'><target type='serial'/></console>"
        "<console type='unix'><source mode='bind' path='/tmp/hvc.sock'/>"
        "<target type='virtio' port='1'/></console>",
        "<channel type='unix'><source mode='bind' path='/tmp/ga.sock'/>"
        "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>",
        "<channel type='unix'><source mode='bind'/>"
        "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>",
        "<controller type='virtio-serial' index='0' ports='8'>"
        "<address type='pci' slot='9'/></controller>"
        "<channel type='pty'><target type='virtio' name='a'/>"
        "<address type='virtio-serial' controller='0' bus='0' port='3'/></channel>"
        "<channel type='file'><source path='/tmp/c.log'/><target type='virtio' name='b'/>"
        "</channel><console type='file'><source path='/tmp/hvc.log'/>"
        "<target type='virtio'/></console>",
        "<controller type='virtio-serial'/>",
        /* disks */
        "<disk><source file='/a'/><target dev='vda'/></disk>",
        "<disk type='block' device='disk'>\n<!-- c --><readonly/><serial>S1</serial>\n"
        "<address type='pci' slot='7'/>\n<target dev='vdz' bus='virtio'/>"
        "<source dev='/dev/sdb'/>\n<driver cache='directsync' io='io_uring'/>\n</disk>",
        "<disk><source file='/a'/><target dev='vda'/><address type='pci'/></disk>"
        "<disk><source file='/b'/><target dev='vdb'/><address type='pci'/></disk>"
        "<disk><source file='/c'/><target dev='vdc'/>"
        "<address type='pci' slot='0x02'/></disk>",
        "<disk><source file='/img'/><target dev='vda'/><readonly/></disk>"
        "<disk><source file='/img'/><target dev='vdb'/><readonly/></disk>",
        "<disk type='vhostuser' device='disk'><driver name='qemu' type='raw'/>"
        "<source type='unix' path='/run/x.sock'><reconnect enabled='no' timeout='10'/>"
        "</source><target dev='vdb' bus='virtio'/><address type='pci' slot='5'/></disk>",
        "<disk type='vhostuser'><source type='unix' path='/s'/><target dev='vda'/>"
        "<driver queues='4'/></disk>",
        "<disk type='vhostuser'><source type='unix' path='/s'><reconnect enabled='yes' "
        "timeout='10'/></source><target dev='vda'/></disk>",
        /* everything at once, in an unusual order */
        "<serial type='file'><source path='/s&amp;t.log'/></serial>"
        "<disk type='block'><source dev='/dev/vdx'/><target dev='vdb'/></disk>"
        "<emulator>/e</emulator>"
        "<console type='file'><source path='/s&amp;t.log'/></console>"
        "<disk><target dev='vda'/><source file='/x'/></disk>",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(devs); i++) {
        g_autofree char *xml = doc_replace("<!--dev-->", devs[i]);
        g_test_message("devices: %s", devs[i]);
        roundtrip_doc(xml, true);
    }

    static const char *const disks[][2] = {
        { "<!--disk-->", "" },
        { "<driver name='qemu' type='raw'/>", "<driver/>" },
        { "type='raw'", "type='aio'" },
        { "type='raw'", "type='raw' cache='default' discard='unmap' queues='16'" },
        { "type='raw'", "queues='1' discard='ignore'" },
        { "type='raw'", "queues='04'" },
        { "<!--disk-->", "<serial>A</serial>" },
        { "<!--disk-->", "<serial>ABCDEFGHIJKLMNOPQRST</serial>" },
        { "<!--disk-->", "<serial>0123456789_ .+-xyzXY</serial>" },
        { "<!--disk-->", "<serial> spaces kept </serial>" },
        { "<!--disk-->", "<serial>AB<!-- c -->C&#x44;</serial>" },
        { "<source file='/var/lib/vmmd/a.img'/>",
          "<source file='/var/lib/vmmd/images/disk with spaces.img'/>" },
        { "<source file='/var/lib/vmmd/a.img'/>", "<source file='/images/caf\xc3\xa9.img'/>" },
        { "<source file='/var/lib/vmmd/a.img'/>", "<source file='//srv//x.img'/>" },
        { "<source file='/var/lib/vmmd/a.img'/>", "<source file=\"/a&amp;b'.img\"/>" },
        { "<source file='/var/lib/vmmd/a.img'/>", "<source file='/tab&#9;here'/>" },
        { "<source file='/var/lib/vmmd/a.img'/>", "<source file='/q&quot;&lt;&gt;'/>" },
        { "<target dev='vda' bus='virtio'/>", "<target dev='vdz'/>" },
        { "<target dev='vda' bus='virtio'/>", "<target dev='vdabc' bus='virtio'/>" },
        { "<!--disk-->", "<address type='pci' domain='0x0000' bus='0x00' slot='0x05' "
                         "function='0x0'/>" },
        { "<!--disk-->", "<address type='pci' slot='0x1f'/>" },
        { "<!--disk-->", "<address type='pci' slot='0x1F'/>" },
        { "<!--disk-->", "<address type='pci' slot='0x1'/>" },
        { "<!--disk-->", "<address type='pci' slot='31'/>" },
        { "<!--disk-->", "<address type='pci' slot='10'/>" },
        { "<!--disk-->", "<address type='pci' domain='0' bus='0' slot='3' function='0'/>" },
        { "<!--disk-->", "<address type='pci' domain='0x00000000' bus='0x0' slot='0x03'/>" },
        { "<!--disk-->", "<address type='pci'/>" },
        { "<!--disk-->", "<address type='pci' bus='0x00' function='0x0'/>" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(disks); i++) {
        g_autofree char *xml = disk_doc(disks[i][0], disks[i][1]);
        g_test_message("disk: %s", disks[i][1]);
        roundtrip_doc(xml, true);
    }

    /* a path of PATH_MAX - 1 bytes */
    g_autoptr(GString) p = g_string_new("<source file='/");
    while (p->len < strlen("<source file='") + PATH_MAX - 1)
        g_string_append_c(p, 'a');
    g_string_append(p, "'/>");
    g_autofree char *longpath = disk_doc("<source file='/var/lib/vmmd/a.img'/>", p->str);
    roundtrip_doc(longpath, true);

    /* thirty disks with explicit slots */
    g_autoptr(GString) many = g_string_new(NULL);
    for (int i = 0; i < 30; i++) {
        g_autofree char *name = i < 26 ? g_strdup_printf("vd%c", 'a' + i)
                                       : g_strdup_printf("vda%c", 'a' + i - 26);
        g_string_append_printf(many, "<disk><source file='/d%d'/><target dev='%s'/>"
                               "<address type='pci' slot='%d'/></disk>\n",
                               i, name, i + 1);
    }
    g_autofree char *many_xml = doc_replace("<!--dev-->", many->str);
    roundtrip_doc(many_xml, true);

    roundtrip_doc(full_xml, true);
    roundtrip_doc(base_xml, true);
}

/* Documents the parser accepts but libvirt's schema refuses: they still
 * round-trip, and schemas/domain.rng refuses them as libvirt does. */
static void test_roundtrip_parser_only(void)
{
    static const char *const docs[][2] = {
        { "<kernel>/boot/k</kernel>", "<kernel>k</kernel>" },
        { "<kernel>/boot/k</kernel>", "<kernel>/boot/k</kernel><initrd>i</initrd>" },
        { "<vcpu>1</vcpu>", "<vcpu> 8 </vcpu>" },
        { "<memory unit='MiB'>64</memory>", "<memory unit='MiB'>\n  128\n</memory>" },
        { "<!--top-->", "<uuid>  4dea22b3-1d52-d8f3-2516-782e98ab3fa0\n</uuid>" },
        { "<!--top-->", "<title></title>" },
        { "<!--dev-->", "<serial/>" },
        { "<!--dev-->", "<serial><target port='1'/></serial>" },
        { "<!--dev-->", "<console><target port='1'/></console>" },
        { "<!--dev-->", "<emulator>vmm-worker</emulator>" },
        { "arch='x86_64'", "arch='x86_64' machine=''" },
        { "arch='x86_64'", "arch='x86_64' machine='pc q35'" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(docs); i++) {
        g_autofree char *xml = doc_replace(docs[i][0], docs[i][1]);
        g_test_message("parser only: %s", docs[i][1]);
        roundtrip_doc(xml, false);
    }
}

/* Every cache/io pair the parser takes, on a file and a block disk. */
static void test_roundtrip_cache_io(void)
{
    static const char *const caches[] = {
        NULL, "default", "none", "writethrough", "writeback", "directsync", "unsafe" };
    static const char *const ios[] = { NULL, "threads", "native", "io_uring" };
    unsigned n = 0;
    for (size_t c = 0; c < G_N_ELEMENTS(caches); c++) {
        for (size_t i = 0; i < G_N_ELEMENTS(ios); i++) {
            g_autofree char *cattr = caches[c]
                ? g_strdup_printf(" cache='%s'", caches[c]) : g_strdup("");
            g_autofree char *iattr = ios[i]
                ? g_strdup_printf(" io='%s'", ios[i]) : g_strdup("");
            g_autofree char *disks = g_strdup_printf(
                "<disk type='file' device='disk'>"
                "<driver name='qemu' type='raw'%s%s/>"
                "<source file='/var/lib/vmmd/a.img'/><target dev='vda' bus='virtio'/>"
                "</disk><disk type='block' device='disk'>"
                "<driver name='qemu' type='raw'%s%s/>"
                "<source dev='/dev/vg0/b'/><target dev='vdb' bus='virtio'/></disk>",
                cattr, iattr, cattr, iattr);
            g_autofree char *xml = doc_replace("<!--dev-->", disks);
            bool native = ios[i] && strcmp(ios[i], "native") == 0;
            bool odirect = caches[c] && (strcmp(caches[c], "none") == 0 ||
                                         strcmp(caches[c], "directsync") == 0);
            if (native && !odirect) {
                /* the parser refuses the pair, and so does the schema */
                g_autoptr(GError) err = NULL;
                g_assert_null(parse(xml, &err));
                g_assert_false(valid_vmm(xml, NULL));
                continue;
            }
            roundtrip_doc(xml, true);
            n++;
        }
    }
    g_assert_cmpuint(n, ==, 7 * 4 - 5);
}

/* qcow2 disks and <backingStore> as libvirt writes them: nested, empty,
 * raw or qcow2, file or block, with index=. */
static void test_roundtrip_qcow2(void)
{
    static const char *const chains[] = {
        "",
        "<backingStore/>",
        "<backingStore type='file'><format type='raw'/>"
        "<source file='/var/lib/vmmd/base.img'/></backingStore>",
        "<backingStore type='file' index='1'><format type='qcow2'/>"
        "<source file='/var/lib/vmmd/mid.qcow2'/>"
        "<backingStore type='block' index='2'><format type='raw'/>"
        "<source dev='/dev/vg0/base'/><backingStore/></backingStore></backingStore>",
        "<backingStore type='file'><format type='qcow2'/>"
        "<source file='/var/lib/vmmd/mid.qcow2'/><backingStore/></backingStore>",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(chains); i++) {
        g_autofree char *disk = g_strdup_printf(
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>"
            "<source file='/var/lib/vmmd/top.qcow2'/>%s<target dev='vda' bus='virtio'/>"
            "</disk>", chains[i]);
        g_autofree char *xml = doc_replace("<!--dev-->", disk);
        g_test_message("%s", chains[i]);
        roundtrip_doc(xml, true);
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmDomainDef) def = parse(xml, &err);
        g_assert_no_error(err);
        const VmmDiskDef *d = g_ptr_array_index(def->disks, 0);
        g_assert_cmpint(d->format, ==, VMM_DISK_FORMAT_QCOW2);
        g_assert_true((d->backing != NULL) == (chains[i][0] != 0));
        g_autofree char *out = vmm_domain_def_format(def, &err);
        g_assert_no_error(err);
        if (i == 3) {
            g_assert_nonnull(strstr(out, "<source dev=\"/dev/vg0/base\"/>"));
            g_assert_nonnull(strstr(out, "<backingStore/>"));
        }
    }
    /* Refused: a chain under a raw disk or a raw backing file, a missing
     * <format>, a format vmmd does not read. */
    static const char *const bad[][2] = {
        { "type='raw'", "<backingStore type='file'><format type='raw'/>"
          "<source file='/b'/></backingStore>" },
        { "type='qcow2'", "<backingStore type='file'><format type='raw'/>"
          "<source file='/b'/><backingStore type='file'><format type='raw'/>"
          "<source file='/c'/></backingStore></backingStore>" },
        { "type='qcow2'", "<backingStore type='file'><source file='/b'/></backingStore>" },
        { "type='qcow2'", "<backingStore type='file'><format type='vmdk'/>"
          "<source file='/b'/></backingStore>" },
        { "type='qcow2'", "<backingStore type='network'><format type='raw'/>"
          "<source file='/b'/></backingStore>" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *disk = g_strdup_printf(
            "<disk type='file' device='disk'><driver name='qemu' %s/>"
            "<source file='/var/lib/vmmd/top.qcow2'/>%s<target dev='vda' bus='virtio'/>"
            "</disk>", bad[i][0], bad[i][1]);
        g_autofree char *xml = doc_replace("<!--dev-->", disk);
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmDomainDef) def = parse(xml, &err);
        g_assert_null(def);
        g_test_message("%s", err->message);
        g_assert_true(strstr(err->message, "backing") || strstr(err->message, "format"));
    }
}

/* ------------------------------------------------------------------------ */
/* definitions built in code                                                */

static VmmDomainDef *new_def(const char *name)
{
    VmmDomainDef *def = g_new0(VmmDomainDef, 1);
    def->name = g_strdup(name);
    def->memory_kib = 65536;
    def->current_memory_kib = 65536;
    def->vcpus = 1;
    def->os_arch = g_strdup("x86_64");
    def->kernel = g_strdup("/boot/vmlinuz");
    def->on_reboot = VMM_ACTION_RESTART;
    def->disks = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_disk_def_free);
    def->serials = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_chr_def_free);
    def->memballoons = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_balloon_def_free);
    return def;
}

static VmmDiskDef *add_disk(VmmDomainDef *def, const char *dev, const char *path,
                            int slot)
{
    VmmDiskDef *d = g_new0(VmmDiskDef, 1);
    d->target_dev = g_strdup(dev);
    d->path = g_strdup(path);
    d->pci_slot = slot;
    g_ptr_array_add(def->disks, d);
    return d;
}

static VmmChrDef *add_serial(VmmDomainDef *def, VmmChrType type, const char *path,
                             unsigned port)
{
    VmmChrDef *c = g_new0(VmmChrDef, 1);
    c->type = type;
    c->path = g_strdup(path);
    c->port = port;
    g_ptr_array_add(def->serials, c);
    return c;
}

/* Random definitions within what the parser accepts: formatted, they
 * validate against both schemas and parse back to the same definition. */
static void test_roundtrip_generated(void)
{
    static const char *const names[] = {
        "g", "a&b", "<vm>", "q'uo\"te", "caf\xc3\xa9", " spaced ", "x.y-z_1",
        "]]>", "&amp;", "\xf0\x9f\x90\xa7 penguin",
    };
    static const char *const texts[] = {
        "plain", "T & <b>bold</b>", "line\nbreak ]]> &amp; <x/>\r\n\ttab", " ",
        "\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\xa7", "\"'", "",
    };
    static const char *const paths[] = {
        "/var/lib/a&b/<c>'\".img", "/tab\there", "/sp ace", "/caf\xc3\xa9",
        "/x]]>y", "/plain.img",
    };
    static const char *const machines[] = { NULL, "pc", "q35", "pc-i440fx-7.2" };
    static const char *const serial_ids[] = { NULL, "S1", " a b ", "0123456789_ .+-xyzXY" };
    static const VmmCacheMode caches[] = {
        VMM_CACHE_WRITEBACK, VMM_CACHE_WRITETHROUGH, VMM_CACHE_NONE,
        VMM_CACHE_DIRECTSYNC, VMM_CACHE_UNSAFE };

    for (int iter = 0; iter < 60; iter++) {
        g_autoptr(VmmDomainDef) def =
            new_def(names[g_test_rand_int_range(0, G_N_ELEMENTS(names))]);
        if (g_test_rand_bit()) {
            def->has_uuid = true;
            for (int i = 0; i < 16; i++)
                def->uuid[i] = (uint8_t)g_test_rand_int_range(0, 256);
        }
        const char *title = texts[g_test_rand_int_range(0, G_N_ELEMENTS(texts))];
        if (g_test_rand_bit() && !strchr(title, '\n') && *title)
            def->title = g_strdup(title);
        if (g_test_rand_bit())
            def->description = g_strdup(texts[g_test_rand_int_range(0, G_N_ELEMENTS(texts))]);
        def->memory_kib = (uint64_t)g_test_rand_int_range(1024, 1 << 30);
        def->current_memory_kib = def->memory_kib - (uint64_t)g_test_rand_int_range(
                                      0, (gint32)(def->memory_kib - 1024 + 1));
        def->vcpus = (unsigned)g_test_rand_int_range(1, 256);
        def->os_machine = g_strdup(machines[g_test_rand_int_range(0, G_N_ELEMENTS(machines))]);
        if (g_test_rand_bit())
            def->initrd = g_strdup(paths[g_test_rand_int_range(0, G_N_ELEMENTS(paths))]);
        if (g_test_rand_bit())
            def->cmdline = g_strdup(texts[g_test_rand_int_range(0, G_N_ELEMENTS(texts))]);
        g_free(def->kernel);
        def->kernel = g_strdup(paths[g_test_rand_int_range(0, G_N_ELEMENTS(paths))]);
        def->acpi = g_test_rand_bit();
        def->apic = g_test_rand_bit();
        def->pae = g_test_rand_bit();
        def->clock = g_test_rand_bit() ? VMM_CLOCK_LOCALTIME : VMM_CLOCK_UTC;
        def->on_poweroff = (VmmLifecycleAction)g_test_rand_int_range(0, 3);
        def->on_reboot = (VmmLifecycleAction)g_test_rand_int_range(0, 3);
        def->on_crash = (VmmLifecycleAction)g_test_rand_int_range(0, 3);
        if (g_test_rand_bit())
            def->emulator = g_strdup(paths[g_test_rand_int_range(0, G_N_ELEMENTS(paths))]);

        int ndisks = g_test_rand_int_range(0, 6);
        bool slot_used[32] = { 0 };
        for (int i = 0; i < ndisks; i++) {
            g_autofree char *dev = g_strdup_printf("vd%c", 'a' + i);
            g_autofree char *path = g_strdup_printf(
                "%s.%d", paths[g_test_rand_int_range(0, G_N_ELEMENTS(paths))], i);
            int slot = -1;
            if (g_test_rand_bit()) {
                slot = g_test_rand_int_range(1, 32);
                if (slot_used[slot])
                    slot = -1;
                else
                    slot_used[slot] = true;
            }
            VmmDiskDef *d = add_disk(def, dev, path, slot);
            d->type = g_test_rand_bit() ? VMM_DISK_BLOCK : VMM_DISK_FILE;
            d->readonly = g_test_rand_bit();
            d->serial = g_strdup(serial_ids[g_test_rand_int_range(0, G_N_ELEMENTS(serial_ids))]);
            d->cache = caches[g_test_rand_int_range(0, G_N_ELEMENTS(caches))];
            d->io = (VmmIoMode)g_test_rand_int_range(0, 3);
            if (d->io == VMM_IO_NATIVE && d->cache != VMM_CACHE_NONE &&
                d->cache != VMM_CACHE_DIRECTSYNC)
                d->cache = VMM_CACHE_NONE;
            d->discard = g_test_rand_bit() ? VMM_DISCARD_UNMAP : VMM_DISCARD_IGNORE;
            d->queues = (unsigned)g_test_rand_int_range(0, VMM_MAX_DISK_QUEUES + 1);
        }
        for (unsigned port = 0; port < VMM_MAX_SERIALS; port++) {
            if (!g_test_rand_bit())
                continue;
            VmmChrType t = (VmmChrType)g_test_rand_int_range(0, 4);
            g_autofree char *path = g_strdup_printf(
                "%s.s%u", paths[g_test_rand_int_range(0, G_N_ELEMENTS(paths))], port);
            VmmChrDef *c = add_serial(def, t, t == VMM_CHR_FILE || t == VMM_CHR_UNIX
                                      ? path : NULL, port);
            c->append = t == VMM_CHR_FILE && g_test_rand_bit();
            c->listen = t == VMM_CHR_UNIX && g_test_rand_bit();
        }

        g_autofree char *out = format_ok(def);
        g_test_message("generated %d:\n%s", iter, out);
        assert_both_valid(out);
        roundtrip_def(def, "generated definition");
    }
}

/* ------------------------------------------------------------------------ */
/* escaping                                                                 */

static void test_escaping(void)
{
    g_autoptr(VmmDomainDef) def = new_def("a&b<c>'\"]]>");
    def->title = g_strdup("T <&> \"q\" 'a'");
    def->description = g_strdup("<script>alert(1)</script> & &amp; ]]> \r\n\ttab");
    def->cmdline = g_strdup("a=\"b c\" d='e' <f> & g");
    g_free(def->kernel);
    def->kernel = g_strdup("/k&<>\"'");
    add_disk(def, "vda", "/img/a&b<c>\"d'e\tf.img", 3);
    add_serial(def, VMM_CHR_FILE, "/log/\"q\"&<x>.log", 0);

    g_autofree char *out = format_ok(def);
    g_test_message("%s", out);
    static const char *const want[] = {
        "<name>a&amp;b&lt;c&gt;'\"]]&gt;</name>",
        "<title>T &lt;&amp;&gt; \"q\" 'a'</title>",
        "<description>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &amp;amp; ]]&gt; "
        "&#13;\n\ttab</description>",
        "<cmdline>a=\"b c\" d='e' &lt;f&gt; &amp; g</cmdline>",
        "<kernel>/k&amp;&lt;&gt;\"'</kernel>",
        "<source file=\"/img/a&amp;b&lt;c&gt;&quot;d'e&#9;f.img\"/>",
        "<source path=\"/log/&quot;q&quot;&amp;&lt;x&gt;.log\" append=\"off\"/>",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++)
        if (!strstr(out, want[i]))
            g_error("'%s' not in the output:\n%s", want[i], out);
    g_assert_null(strstr(out, "<script>"));
    g_assert_null(strstr(out, "<c>"));
    assert_both_valid(out);
    roundtrip_def(def, "escaping");
}

/* Values no XML document can carry are refused, not written. */
static void test_unformattable(void)
{
    static const char *const bad[] = {
        "a\x01" "b", "\x7f ok but \x1f not", "bad utf-8 \xc3\x28", "\xef\xbf\xbe",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(VmmDomainDef) def = new_def("ok");
        def->description = g_strdup(bad[i]);
        g_autoptr(GError) err = NULL;
        g_assert_null(vmm_domain_def_format(def, &err));
        g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID);
        g_test_message("%s", err->message);
        g_assert_nonnull(strstr(err->message, "description"));
    }
    /* in an attribute too */
    g_autoptr(VmmDomainDef) d2 = new_def("ok");
    add_disk(d2, "vda", "/a\x02", -1);
    g_autoptr(GError) e2 = NULL;
    g_assert_null(vmm_domain_def_format(d2, &e2));
    g_assert_error(e2, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID);
    g_assert_nonnull(strstr(e2->message, "disk vda source"));

    /* required fields */
    g_autoptr(VmmDomainDef) d3 = new_def("ok");
    g_clear_pointer(&d3->name, g_free);
    g_autoptr(GError) e3 = NULL;
    g_assert_null(vmm_domain_def_format(d3, &e3));
    g_assert_nonnull(strstr(e3->message, "<name> is missing"));
    g_autoptr(VmmDomainDef) d4 = new_def("ok");
    g_clear_pointer(&d4->kernel, g_free);
    g_autoptr(GError) e4 = NULL;
    g_assert_null(vmm_domain_def_format(d4, &e4));
    g_assert_nonnull(strstr(e4->message, "<kernel> is missing"));
    g_autoptr(VmmDomainDef) d5 = new_def("ok");
    add_serial(d5, VMM_CHR_UNIX, NULL, 0);
    g_autoptr(GError) e5 = NULL;
    g_assert_null(vmm_domain_def_format(d5, &e5));
    g_assert_nonnull(strstr(e5->message, "serial port 0 source path is missing"));

    /* characters XML allows are kept, however unusual */
    g_autoptr(VmmDomainDef) d6 = new_def("ok");
    d6->description = g_strdup("\t\n\r\xee\x80\x80\xef\xbf\xbd\xf4\x8f\xbf\xbf");
    roundtrip_def(d6, "unusual characters");
}

/* ------------------------------------------------------------------------ */
/* define-time defaults                                                     */

static void test_fill_uuid(void)
{
    g_autoptr(VmmDomainDef) def = parse_ok(base_xml);
    g_assert_false(def->has_uuid);
    g_autoptr(GError) err = NULL;
    g_assert_true(vmm_domain_def_fill_defaults(def, &err));
    g_assert_no_error(err);
    g_assert_true(def->has_uuid);
    g_assert_cmpuint(def->uuid[6] >> 4, ==, 4);          /* version 4 */
    g_assert_cmpuint(def->uuid[8] & 0xc0, ==, 0x80);     /* RFC 4122 variant */
    static const uint8_t zero[16] = { 0 };
    g_assert_true(memcmp(def->uuid, zero, 16) != 0);

    /* stable: re-format, re-parse, fill again */
    uint8_t first[16];
    memcpy(first, def->uuid, 16);
    g_autofree char *out1 = format_ok(def);
    g_autofree char *out2 = format_ok(def);
    g_assert_cmpstr(out1, ==, out2);
    g_autoptr(VmmDomainDef) again = parse_ok(out1);
    g_assert_true(again->has_uuid);
    g_assert_cmpmem(again->uuid, 16, first, 16);
    g_assert_true(vmm_domain_def_fill_defaults(again, &err));
    g_assert_cmpmem(again->uuid, 16, first, 16);
    g_assert_true(vmm_domain_def_equal(def, again));
    g_autofree char *out3 = format_ok(again);
    g_assert_cmpstr(out1, ==, out3);
    g_autofree char *uuid_elem = NULL;
    {
        char s[37];
        g_snprintf(s, sizeof(s), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                   "%02x%02x%02x%02x%02x%02x", first[0], first[1], first[2], first[3],
                   first[4], first[5], first[6], first[7], first[8], first[9], first[10],
                   first[11], first[12], first[13], first[14], first[15]);
        uuid_elem = g_strdup_printf("<uuid>%s</uuid>", s);
    }
    g_assert_nonnull(strstr(out1, uuid_elem));
    assert_both_valid(out1);

    /* two definitions, two uuids; a given uuid is kept */
    g_autoptr(VmmDomainDef) other = parse_ok(base_xml);
    g_assert_true(vmm_domain_def_fill_defaults(other, &err));
    g_assert_true(memcmp(other->uuid, first, 16) != 0);
    g_autofree char *withuuid = doc_replace("<!--top-->",
        "<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>");
    g_autoptr(VmmDomainDef) given = parse_ok(withuuid);
    g_autoptr(VmmDomainDef) before = vmm_domain_def_copy(given);
    g_assert_true(vmm_domain_def_fill_defaults(given, &err));
    /* the only other default here: libvirt's virtio balloon, placed */
    const VmmBalloonDef *b = vmm_domain_def_balloon(given);
    g_assert_nonnull(b);
    g_assert_cmpint(b->pci_slot, ==, 1);
    g_ptr_array_set_size(given->memballoons, 0);
    g_assert_true(vmm_domain_def_equal(given, before));
}

/* No <memballoon>: a virtio one after the other PCI devices, formatted
 * where libvirt puts it; model='none' stays none; an explicit one keeps
 * its slot and is not duplicated. */
static void test_fill_balloon(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = doc_replace("<!--dev-->",
        "<disk><source file='/a'/><target dev='vda'/></disk>"
        "<serial type='pty'><target port='0'/></serial>");
    g_autoptr(VmmDomainDef) def = parse_ok(xml);
    g_assert_null(vmm_domain_def_balloon(def));
    g_assert_true(vmm_domain_def_fill_defaults(def, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(def->memballoons->len, ==, 1);
    g_autofree char *out = format_ok(def);
    g_assert_nonnull(strstr(out, "    </console>\n"
                                 "    <memballoon model=\"virtio\">\n"
                                 "      <address type=\"pci\" domain=\"0x0000\" bus=\"0x00\" "
                                 "slot=\"0x02\" function=\"0x0\"/>\n"
                                 "    </memballoon>\n"
                                 "  </devices>"));
    assert_both_valid(out);
    g_autoptr(VmmDomainDef) again = parse_ok(out);
    g_assert_true(vmm_domain_def_equal(def, again));
    g_assert_true(vmm_domain_def_fill_defaults(again, &err));
    g_assert_true(vmm_domain_def_equal(def, again));

    g_autofree char *none = doc_replace("<!--dev-->", "<memballoon model='none'/>");
    g_autoptr(VmmDomainDef) n = parse_ok(none);
    g_assert_true(vmm_domain_def_fill_defaults(n, &err));
    g_assert_null(vmm_domain_def_balloon(n));
    g_autofree char *nout = format_ok(n);
    g_assert_nonnull(strstr(nout, "<memballoon model=\"none\"/>"));
    assert_both_valid(nout);

    g_autofree char *slot = doc_replace("<!--dev-->",
        "<memballoon model='virtio'><address type='pci' slot='0x09'/></memballoon>"
        "<disk><source file='/a'/><target dev='vda'/></disk>");
    g_autoptr(VmmDomainDef) s = parse_ok(slot);
    g_assert_true(vmm_domain_def_fill_defaults(s, &err));
    g_assert_cmpuint(s->memballoons->len, ==, 1);
    g_assert_cmpint(vmm_domain_def_balloon(s)->pci_slot, ==, 9);
    g_assert_cmpint(((VmmDiskDef *)s->disks->pdata[0])->pci_slot, ==, 1);
}

static int slot_of(const VmmDomainDef *def, guint i)
{
    return ((const VmmDiskDef *)g_ptr_array_index(def->disks, i))->pci_slot;
}

static void test_fill_pci(void)
{
    g_autoptr(GError) err = NULL;
    /* auto, 2, auto, 1, auto, 0x05, auto -> 3, 2, 4, 1, 6, 5, 7 */
    g_autofree char *xml = doc_replace("<!--dev-->",
        "<disk><source file='/a'/><target dev='vda'/></disk>"
        "<disk><source file='/b'/><target dev='vdb'/><address type='pci' slot='2'/></disk>"
        "<disk><source file='/c'/><target dev='vdc'/><address type='pci'/></disk>"
        "<disk><source file='/d'/><target dev='vdd'/><address type='pci' slot='0x01'/></disk>"
        "<disk><source file='/e'/><target dev='vde'/></disk>"
        "<disk><source file='/f'/><target dev='vdf'/><address type='pci' slot='0x05'/></disk>"
        "<disk><source file='/g'/><target dev='vdg'/></disk>");
    g_autoptr(VmmDomainDef) def = parse_ok(xml);
    g_assert_true(vmm_domain_def_fill_defaults(def, &err));
    g_assert_no_error(err);
    static const int want[] = { 3, 2, 4, 1, 6, 5, 7 };
    for (guint i = 0; i < G_N_ELEMENTS(want); i++)
        g_assert_cmpint(slot_of(def, i), ==, want[i]);
    g_autofree char *out = format_ok(def);
    g_assert_nonnull(strstr(out, "<target dev=\"vda\" bus=\"virtio\"/>\n"
                                 "      <address type=\"pci\" domain=\"0x0000\" "
                                 "bus=\"0x00\" slot=\"0x03\" function=\"0x0\"/>"));
    assert_both_valid(out);
    g_autoptr(VmmDomainDef) again = parse_ok(out);
    g_assert_true(vmm_domain_def_equal(def, again));
    /* idempotent */
    g_assert_true(vmm_domain_def_fill_defaults(again, &err));
    g_assert_true(vmm_domain_def_equal(def, again));
    /* queues are left as given */
    for (guint i = 0; i < def->disks->len; i++)
        g_assert_cmpuint(((VmmDiskDef *)g_ptr_array_index(def->disks, i))->queues, ==, 0);

    /* all 31 slots */
    g_autoptr(VmmDomainDef) full = new_def("full");
    for (int i = 0; i < 31; i++) {
        g_autofree char *dev = i < 26 ? g_strdup_printf("vd%c", 'a' + i)
                                      : g_strdup_printf("vda%c", 'a' + i - 26);
        g_autofree char *path = g_strdup_printf("/d%d", i);
        add_disk(full, dev, path, i == 10 ? 31 : -1);
    }
    /* the default balloon would need a 32nd slot: it fails like a disk */
    g_autoptr(VmmDomainDef) full_before = vmm_domain_def_copy(full);
    g_assert_false(vmm_domain_def_fill_defaults(full, &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "memballoon: no free PCI slot left"));
    g_clear_error(&err);
    g_assert_true(vmm_domain_def_equal(full, full_before));
    VmmBalloonDef *none = g_new0(VmmBalloonDef, 1);
    none->model = VMM_BALLOON_NONE;
    none->pci_slot = -1;
    g_ptr_array_add(full->memballoons, none);
    g_assert_true(vmm_domain_def_fill_defaults(full, &err));
    for (guint i = 0; i < 31; i++)
        g_assert_cmpint(slot_of(full, i), ==, i == 10 ? 31 : (int)i + 1 - (i > 10));
    g_autofree char *fout = format_ok(full);
    assert_both_valid(fout);
    roundtrip_def(full, "31 disks");

    /* a 32nd disk: no slot left; nothing changes */
    g_autoptr(VmmDomainDef) over = new_def("over");
    for (int i = 0; i < 32; i++) {
        g_autofree char *dev = i < 26 ? g_strdup_printf("vd%c", 'a' + i)
                                      : g_strdup_printf("vda%c", 'a' + i - 26);
        g_autofree char *path = g_strdup_printf("/d%d", i);
        add_disk(over, dev, path, -1);
    }
    g_autoptr(VmmDomainDef) over_before = vmm_domain_def_copy(over);
    g_assert_false(vmm_domain_def_fill_defaults(over, &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "disk vdaf: no free PCI slot left"));
    g_clear_error(&err);
    g_assert_true(vmm_domain_def_equal(over, over_before));
    g_assert_false(over->has_uuid);

    /* explicit slots that cannot be */
    static const int bad[][2] = { { 0, -1 }, { 32, -1 }, { 4, 4 } };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(VmmDomainDef) d = new_def("bad");
        add_disk(d, "vda", "/a", bad[i][0]);
        add_disk(d, "vdb", "/b", bad[i][1]);
        add_disk(d, "vdc", "/c", -1);
        g_assert_false(vmm_domain_def_fill_defaults(d, &err));
        g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID);
        g_test_message("%s", err->message);
        g_clear_error(&err);
        g_assert_cmpint(slot_of(d, 2), ==, -1);
    }

    /* definitions built in code get the other basics too */
    g_autoptr(VmmDomainDef) bare = new_def("bare");
    g_clear_pointer(&bare->os_arch, g_free);
    bare->vcpus = 0;
    bare->current_memory_kib = 0;
    g_assert_true(vmm_domain_def_fill_defaults(bare, &err));
    g_assert_cmpstr(bare->os_arch, ==, "x86_64");
    g_assert_cmpuint(bare->vcpus, ==, 1);
    g_assert_cmpuint(bare->current_memory_kib, ==, bare->memory_kib);
    g_autofree char *bout = format_ok(bare);
    assert_both_valid(bout);
}

/* ------------------------------------------------------------------------ */
/* copy and equality                                                        */

typedef void (*Mutation)(VmmDomainDef *d);

#define MUT(fn, body) static void fn(VmmDomainDef *d) { body; }
static VmmDiskDef *d0(VmmDomainDef *d) { return g_ptr_array_index(d->disks, 0); }
static VmmChrDef *s0(VmmDomainDef *d) { return g_ptr_array_index(d->serials, 0); }
MUT(m_name, g_free(d->name); d->name = g_strdup("other"))
MUT(m_uuid, d->uuid[15] ^= 1)
MUT(m_has_uuid, d->has_uuid = false)
MUT(m_title, g_free(d->title); d->title = NULL)
MUT(m_desc, g_free(d->description); d->description = g_strdup("A test VM."))
MUT(m_mem, d->memory_kib++)
MUT(m_curmem, d->current_memory_kib--)
MUT(m_vcpus, d->vcpus++)
MUT(m_arch, g_free(d->os_arch); d->os_arch = g_strdup("i686"))
MUT(m_machine, g_free(d->os_machine); d->os_machine = NULL)
MUT(m_kernel, g_free(d->kernel); d->kernel = g_strdup("/k2"))
MUT(m_initrd, g_free(d->initrd); d->initrd = NULL)
MUT(m_cmdline, g_free(d->cmdline); d->cmdline = g_strdup(""))
MUT(m_acpi, d->acpi = !d->acpi)
MUT(m_apic, d->apic = !d->apic)
MUT(m_pae, d->pae = !d->pae)
MUT(m_clock, d->clock = VMM_CLOCK_UTC)
MUT(m_poweroff, d->on_poweroff = VMM_ACTION_DESTROY)
MUT(m_reboot, d->on_reboot = VMM_ACTION_RESTART)
MUT(m_crash, d->on_crash = VMM_ACTION_DESTROY)
MUT(m_emulator, g_free(d->emulator); d->emulator = NULL)
MUT(m_disk_gone, g_ptr_array_remove_index(d->disks, 1))
MUT(m_disk_order, g_ptr_array_add(d->disks, g_ptr_array_steal_index(d->disks, 0)))
MUT(m_disk_type, d0(d)->type = VMM_DISK_BLOCK)
MUT(m_disk_path, g_free(d0(d)->path); d0(d)->path = g_strdup("/x"))
MUT(m_disk_dev, g_free(d0(d)->target_dev); d0(d)->target_dev = g_strdup("vdc"))
MUT(m_disk_ro, d0(d)->readonly = true)
MUT(m_disk_serial, g_free(d0(d)->serial); d0(d)->serial = NULL)
MUT(m_disk_cache, d0(d)->cache = VMM_CACHE_DIRECTSYNC)
MUT(m_disk_io, d0(d)->io = VMM_IO_URING)
MUT(m_disk_discard, d0(d)->discard = VMM_DISCARD_IGNORE)
MUT(m_disk_queues, d0(d)->queues = 0)
MUT(m_disk_slot, d0(d)->pci_slot = -1)
MUT(m_serial_gone, g_ptr_array_remove_index(d->serials, 3))
MUT(m_serial_type, s0(d)->type = VMM_CHR_STDIO)
MUT(m_serial_port, s0(d)->port = 1)
MUT(m_serial_path, g_free(((VmmChrDef *)g_ptr_array_index(d->serials, 1))->path);
    ((VmmChrDef *)g_ptr_array_index(d->serials, 1))->path = g_strdup("/v"))
MUT(m_serial_append, ((VmmChrDef *)g_ptr_array_index(d->serials, 1))->append = false)
MUT(m_serial_listen, ((VmmChrDef *)g_ptr_array_index(d->serials, 2))->listen = false)

/* IDE disks and CD-ROMs: no PCI slot of their own (the controller keeps
 * slot 1), drive addresses as libvirt writes them, a cdrom read-only with
 * an empty tray when it has no <source>. */
static void test_ide(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = doc_replace("<!--dev-->",
        "<disk><source file='/a'/><target dev='vda'/></disk>"
        "<disk><source file='/b'/><target dev='hdb' bus='ide'/></disk>"
        "<disk device='cdrom'><target dev='hdc'/></disk>"
        "<disk device='cdrom'><source file='/d.iso'/><target dev='hdd' bus='ide'/>"
        "<address type='drive' controller='0' bus='1' target='0' unit='1'/></disk>");
    g_autoptr(VmmDomainDef) def = parse_ok(xml);
    g_assert_true(vmm_domain_def_fill_defaults(def, &err));
    g_assert_no_error(err);
    g_assert_true(vmm_domain_def_has_ide(def));
    g_assert_cmpint(slot_of(def, 0), ==, 2);   /* slot 1 is the IDE function's */
    const VmmDiskDef *hdc = g_ptr_array_index(def->disks, 2);
    g_assert_null(hdc->path);
    g_assert_true(hdc->readonly);
    g_assert_cmpuint(hdc->ide_bus, ==, 1);
    g_assert_cmpuint(hdc->ide_unit, ==, 0);
    g_autofree char *out = format_ok(def);
    g_assert_nonnull(strstr(out, "<target dev=\"hdb\" bus=\"ide\"/>\n"
                                 "      <address type=\"drive\" controller=\"0\" bus=\"0\" "
                                 "target=\"0\" unit=\"1\"/>"));
    g_assert_nonnull(strstr(out, "<disk type=\"file\" device=\"cdrom\">\n"
                                 "      <driver name=\"qemu\" type=\"raw\" cache=\"writeback\" "
                                 "io=\"threads\" discard=\"ignore\"/>\n"
                                 "      <target dev=\"hdc\" bus=\"ide\"/>\n"
                                 "      <readonly/>"));
    assert_both_valid(out);
    g_autoptr(VmmDomainDef) again = parse_ok(out);
    g_assert_true(vmm_domain_def_equal(def, again));
}

/* SATA disks and CD-ROMs: on the AHCI function at 00:1f.0 (slot 0x1f kept
 * for it), ports from the name or from <address unit=...>, formatted with
 * their drive address. */
static void test_sata(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = doc_replace("<!--dev-->",
        "<disk><source file='/a'/><target dev='vda'/><address type='pci' slot='0x1e'/></disk>"
        "<disk><source file='/b'/><target dev='sdb' bus='sata'/></disk>"
        "<disk><source file='/c'/><target dev='vdb'/></disk>"
        "<disk device='cdrom'><source file='/d.iso'/><target dev='sda' bus='sata'/>"
        "<address type='drive' controller='0' bus='0' target='0' unit='5'/></disk>");
    g_autoptr(VmmDomainDef) def = parse_ok(xml);
    g_assert_true(vmm_domain_def_fill_defaults(def, &err));
    g_assert_no_error(err);
    g_assert_true(vmm_domain_def_has_sata(def));
    g_assert_false(vmm_domain_def_has_ide(def));
    g_assert_cmpint(slot_of(def, 0), ==, 0x1e);
    const VmmDiskDef *sdb = g_ptr_array_index(def->disks, 1);
    const VmmDiskDef *sda = g_ptr_array_index(def->disks, 3);
    g_assert_cmpint(sdb->bus, ==, VMM_DISK_BUS_SATA);
    g_assert_cmpuint(sdb->ide_unit, ==, 1);
    g_assert_cmpuint(sda->ide_unit, ==, 5);
    g_assert_true(sda->readonly);
    g_autofree char *out = format_ok(def);
    g_assert_nonnull(strstr(out, "<target dev=\"sda\" bus=\"sata\"/>\n"
                                 "      <readonly/>\n"
                                 "      <address type=\"drive\" controller=\"0\" bus=\"0\" "
                                 "target=\"0\" unit=\"5\"/>"));
    assert_both_valid(out);
    g_autoptr(VmmDomainDef) again = parse_ok(out);
    g_assert_true(vmm_domain_def_equal(def, again));
    /* the AHCI slot is not handed out: 31 devices would need it */
    GString *many = g_string_new("<disk><source file='/s'/><target dev='sda' bus='sata'/></disk>");
    for (int i = 0; i < 30; i++)
        g_string_append_printf(many, "<disk><source file='/v%d'/><target dev='vd%c%c'/></disk>",
                               i, 'a' + i / 26, 'a' + i % 26);
    g_autofree char *xml2 = doc_replace("<!--dev-->", many->str);
    g_string_free(many, TRUE);
    g_autoptr(VmmDomainDef) def2 = parse_ok(xml2);
    g_autoptr(GError) e2 = NULL;
    g_assert_false(vmm_domain_def_fill_defaults(def2, &e2));
    g_assert_nonnull(e2);
    g_assert_nonnull(strstr(e2->message, "no free PCI slot left"));
}

static void test_copy_equal(void)
{
    static const Mutation muts[] = {
        m_name, m_uuid, m_has_uuid, m_title, m_desc, m_mem, m_curmem, m_vcpus, m_arch,
        m_machine, m_kernel, m_initrd, m_cmdline, m_acpi, m_apic, m_pae, m_clock,
        m_poweroff, m_reboot, m_crash, m_emulator, m_disk_gone, m_disk_order,
        m_disk_type, m_disk_path, m_disk_dev, m_disk_ro, m_disk_serial, m_disk_cache,
        m_disk_io, m_disk_discard, m_disk_queues, m_disk_slot, m_serial_gone,
        m_serial_type, m_serial_port, m_serial_path, m_serial_append, m_serial_listen,
    };
    g_autoptr(VmmDomainDef) def = parse_ok(full_xml);
    g_assert_true(vmm_domain_def_equal(def, def));
    g_assert_false(vmm_domain_def_equal(def, NULL));
    g_assert_false(vmm_domain_def_equal(NULL, def));
    g_assert_true(vmm_domain_def_equal(NULL, NULL));
    for (size_t i = 0; i < G_N_ELEMENTS(muts); i++) {
        g_autoptr(VmmDomainDef) copy = vmm_domain_def_copy(def);
        g_assert_true(vmm_domain_def_equal(def, copy));
        g_assert_true(copy->name != def->name);   /* deep */
        muts[i](copy);
        if (vmm_domain_def_equal(def, copy) || vmm_domain_def_equal(copy, def))
            g_error("mutation %zu is not seen by vmm_domain_def_equal", i);
    }
    /* the copy is independent of the original */
    g_autoptr(VmmDomainDef) copy = vmm_domain_def_copy(def);
    g_autofree char *before = format_ok(copy);
    m_disk_path(def);
    m_serial_path(def);
    m_name(def);
    g_autofree char *after = format_ok(copy);
    g_assert_cmpstr(before, ==, after);

    /* uuid bytes only count when there is a uuid; NULL arrays are empty */
    g_autoptr(VmmDomainDef) a = new_def("a");
    g_autoptr(VmmDomainDef) b = new_def("a");
    b->uuid[0] = 1;
    g_assert_true(vmm_domain_def_equal(a, b));
    g_clear_pointer(&b->disks, g_ptr_array_unref);
    g_clear_pointer(&b->serials, g_ptr_array_unref);
    g_assert_true(vmm_domain_def_equal(a, b));
    g_autoptr(VmmDomainDef) bc = vmm_domain_def_copy(b);
    g_assert_true(vmm_domain_def_equal(a, bc));
    g_autofree char *bo = format_ok(b);
    g_assert_nonnull(strstr(bo, "<devices/>"));
}

/* ------------------------------------------------------------------------ */
/* the schema against the parser                                            */

typedef struct {
    const char *from, *to;
} Edit;

/* A sample of documents the parser refuses (each kind of refusal a grammar
 * can express): schemas/domain.rng refuses every one. */
static const Edit refused[] = {
    { "<!--top-->", "<cputune><iothreadpin iothread='1' cpuset='0'/></cputune>" },
    { "<!--top-->", "<cputune><vcpusched vcpus='0' scheduler='fifo' priority='1'/></cputune>" },
    { "<!--top-->", "<cputune><shares>1</shares></cputune>" },
    { "<!--top-->", "<cputune><period>999</period></cputune>" },
    { "<!--top-->", "<cputune><quota>-2</quota></cputune>" },
    { "<!--top-->", "<cputune><vcpupin vcpu='0' cpuset='a'/></cputune>" },
    { "<!--top-->", "<memtune><min_guarantee>1</min_guarantee></memtune>" },
    { "<!--top-->", "<blkiotune><weight>99</weight></blkiotune>" },
    { "<!--top-->", "<blkiotune><device><path>d</path></device></blkiotune>" },
    { "<!--top-->", "<seclabel type='dynamic' relabel='no'/>" },
    { "<!--top-->", "<seclabel model='selinux'/>" },
    { "<!--top-->", "<seclabel type='static' model='dac'/>" },
    { "<!--top-->", "<seclabel type='none' relabel='yes'/>" },
    { "<!--top-->", "<seclabel type='none'><label>+1:+1</label></seclabel>" },
    { "<!--top-->", "<seclabel type='static'><label>a:b:c</label></seclabel>" },
    { "<!--top-->", "<seclabel type='static'><label>ab</label></seclabel>" },
    { "<!--top-->", "<seclabel><baselabel>x</baselabel></seclabel>" },
    { "<!--top-->", "<seclabel type='bogus'/>" },
    { "<domain type='kvm'>", "<domain type='kvm' id='3'>" },
    { "type='kvm'", "type='qemu'" },
    { "type='kvm'", "type=' kvm'" },
    { "<domain type='kvm'>", "<domain>" },
    { "<!--top-->", "<metadata/>" },
    { "<!--top-->", "<cpu mode='maximum'/>" },
    { "<!--top-->", "<maxMemory slots='16' unit='KiB'>1524288</maxMemory>" },
    { "<!--top-->", "<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'/>" },
    { "<name>", "<name lang='en'>" },
    { "<name>vm1</name>", "" },
    { "<name>vm1</name>", "<name>.hidden</name>" },
    { "<name>vm1</name>", "<name>a/b</name>" },
    { "<name>vm1</name>", "<name>a\tb</name>" },
    { "<name>vm1</name>", "<name>a&#x85;</name>" },
    { "<name>vm1</name>", "<name>   </name>" },
    { "<name>vm1</name>", "<name>\xe3\x80\x80</name>" },
    { "<name>vm1</name>", "<name></name>" },
    { "<name>vm1</name>",
      "<name>abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm</name>" },
    { "<!--top-->", "<title>a\nb</title>" },
    { "<!--top-->", "<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa</uuid>" },
    { "<!--top-->", "<uuid>{4dea22b3-1d52-d8f3-2516-782e98ab3fa0}</uuid>" },
    { "<memory unit='MiB'>64</memory>", "" },
    { "<memory unit='MiB'>", "<memory unit='MiB' dumpCore='on'>" },
    { "<memory unit='MiB'>64</memory>", "<memory>-1</memory>" },
    { "<memory unit='MiB'>64</memory>", "<memory>1.5</memory>" },
    { "<memory unit='MiB'>64</memory>", "<memory unit='XB'>1</memory>" },
    { "<memory unit='MiB'>64</memory>", "<memory unit='MiBs'>1</memory>" },
    { "<memory unit='MiB'>64</memory>", "<memory>99999999999999999999999</memory>" },
    { "<!--top-->", "<currentMemory unit='q'>1</currentMemory>" },
    { "<vcpu>", "<vcpu placement='auto'>" },
    { "<vcpu>", "<vcpu cpuset='0-1'>" },
    { "<vcpu>1</vcpu>", "<vcpu>0</vcpu>" },
    { "<vcpu>1</vcpu>", "<vcpu>256</vcpu>" },
    { "<vcpu>1</vcpu>", "<vcpu>-1</vcpu>" },
    { "<vcpu>1</vcpu>", "<vcpu current='x'>2</vcpu>" },
    { "<os>", "<os firmware='efi'>" },
    { "<!--os-->", "<loader>/usr/share/OVMF.fd</loader>" },
    { "<!--os-->", "<boot dev='hd'/>" },
    { "arch='x86_64'", "arch='aarch64'" },
    { ">hvm<", ">xen<" },
    { "<kernel>/boot/k</kernel>", "" },
    { "<kernel>/boot/k</kernel>", "<kernel></kernel>" },
    { "<!--top-->", "<features><acpi/><hap/></features>" },
    { "<!--top-->", "<features><apic eoi='on'/></features>" },
    { "<!--top-->", "<features x='1'/>" },
    { "<!--top-->", "<clock offset='utc'><timer name='rtc'/></clock>" },
    { "<!--top-->", "<clock offset='variable'/>" },
    { "<!--top-->", "<clock offset='utc' adjustment='reset'/>" },
    { "<!--top-->", "<clock/>" },
    { "<!--top-->", "<on_crash>coredump-destroy</on_crash>" },
    { "<!--top-->", "<on_poweroff>rename-restart</on_poweroff>" },
    { "<!--top-->", "<on_reboot>reboot</on_reboot>" },
    { "<!--dev-->", "<sound model='ich9'/>" },
    { "<!--dev-->", "<interface type='network'/>" },
    { "<devices>", "<devices x='y'>" },
    { "<!--dev-->", "hello" },
    { "<!--dev-->", "<emulator>/a</emulator><emulator>/b</emulator>" },
    { "<!--dev-->", "<serial type='tcp'/>" },
    { "<!--dev-->", "<serial type='bogus'/>" },
    { "<!--dev-->", "<serial type='pty' tty='/dev/pts/1'/>" },
    { "<!--dev-->", "<serial type='pty'><log file='/tmp/x'/></serial>" },
    { "<!--dev-->", "<serial type='pty'><alias name='ua-s0'/></serial>" },
    { "<!--dev-->", "<serial type='pty'><address type='isa' iobase='0x3f8'/></serial>" },
    { "<!--dev-->", "<serial type='pty'><source path='/dev/pts/3'/></serial>" },
    { "<!--dev-->", "<serial type='file'><source path='/x' mode='bind'/></serial>" },
    { "<!--dev-->", "<serial type='pty'><target type='usb-serial'/></serial>" },
    { "<!--dev-->", "<serial type='pty'><target><model name='pl011'/></target></serial>" },
    { "<!--dev-->", "<serial type='file'/>" },
    { "<!--dev-->", "<serial type='file'><source append='on'/></serial>" },
    { "<!--dev-->", "<serial type='file'><source path='/x' append='yes'/></serial>" },
    { "<!--dev-->", "<serial type='unix'><source path='/s'/></serial>" },
    { "<!--dev-->", "<serial type='unix'><source mode='listen' path='/s'/></serial>" },
    { "<!--dev-->", "<serial type='pty'><target port='4'/></serial>" },
    { "<!--dev-->", "<serial type='pty'><target port='-1'/></serial>" },
    { "<!--dev-->", "<serial type='file'><source path='/a'/><source path='/b'/></serial>" },
    { "<!--dev-->", "<serial type='pty'/><serial type='pty'/><serial type='pty'/>"
      "<serial type='pty'/><serial type='pty'/>" },
    { "<!--dev-->", "<console type='pty'><target type='xen'/></console>" },
    { "<!--dev-->", "<channel type='pty'><target type='guestfwd'/></channel>" },
    { "<!--dev-->", "<channel type='pty'><target type='virtio' name='a'/>"
      "<address type='virtio-serial' port='0'/></channel>" },
    { "<!--dev-->", "<controller type='usb' index='0'/>" },
    { "<!--dev-->", "<controller type='virtio-serial' index='1'/>" },
    { "<!--dev-->", "<console type='pty'><target type='serial'>"
      "<model name='isa-serial'/></target></console>" },
    { "<!--dev-->", "<console type='pty'/><console type='pty'/>" },
};

/* The same for <disk>, as edits of disk_tmpl. */
static const Edit refused_disk[] = {
    { "type='file'", "type='network'" },
    { "type='file'", "type='nbd'" },
    { "device='disk'", "device='cdrom'" },
    { "device='disk'", "device='disk' model='virtio'" },
    { "device='disk'", "device='disk' snapshot='no'" },
    { "<!--disk-->", "oops" },
    { "type='raw'", "type='vmdk'" },
    { "name='qemu'", "name='tap'" },
    { "type='raw'", "type='raw' error_policy='stop'" },
    { "type='raw'", "type='raw' iothread='1'" },
    { "type='raw'", "type='raw' cache='fast'" },
    { "type='raw'", "type='raw' cache='None'" },
    { "type='raw'", "type='raw' io='native'" },
    { "type='raw'", "type='raw' io='native' cache='writeback'" },
    { "type='raw'", "type='raw' io='native' cache='unsafe'" },
    { "type='raw'", "type='raw' io='default'" },
    { "type='raw'", "type='raw' io='aio'" },
    { "type='raw'", "type='raw' discard='default'" },
    { "type='raw'", "type='raw' queues='0'" },
    { "type='raw'", "type='raw' queues='17'" },
    { "type='raw'", "type='raw' queues='+2'" },
    { "type='raw'", "type='raw' queues=' 2'" },
    { "type='raw'", "type='raw' queues=''" },
    { "<driver name='qemu' type='raw'/>",
      "<driver name='qemu' type='raw'><metadata_cache/></driver>" },
    { "<!--disk-->", "<driver/>" },
    { "<source file='/var/lib/vmmd/a.img'/>", "" },
    { "<source file='/var/lib/vmmd/a.img'/>", "<source/>" },
    { "<source file='/var/lib/vmmd/a.img'/>", "<source dev='/dev/sdb'/>" },
    { "<source file='/var/lib/vmmd/a.img'/>", "<source file='a.img'/>" },
    { "<source file='/var/lib/vmmd/a.img'/>", "<source file='C:\\a.img'/>" },
    { "<source file='/var/lib/vmmd/a.img'/>", "<source file=''/>" },
    { "<source file='/var/lib/vmmd/a.img'/>", "<source file='/'/>" },
    { "<source file='/var/lib/vmmd/a.img'/>", "<source file='/a&#10;b'/>" },
    { "<source file='/var/lib/vmmd/a.img'/>", "<source file='/a&#13;'/>" },
    { "<source file='/var/lib/vmmd/a.img'/>",
      "<source file='/a' startupPolicy='optional'/>" },
    { "<source file='/var/lib/vmmd/a.img'/>",
      "<source file='/a'><seclabel model='dac' relabel='no'/></source>" },
    { "<target dev='vda' bus='virtio'/>", "" },
    { "<target dev='vda' bus='virtio'/>", "<target bus='virtio'/>" },
    { "<target dev='vda' bus='virtio'/>", "<target dev='sda'/>" },
    { "<target dev='vda' bus='virtio'/>", "<target dev='hde'/>" },
    { "<target dev='vda' bus='virtio'/>", "<target dev='hda' bus='virtio'/>" },
    { "bus='virtio'", "bus='ide'" },
    { "<target dev='vda' bus='virtio'/>",
      "<target dev='hda' bus='ide'/><address type='pci' slot='5'/>" },
    { "<target dev='vda' bus='virtio'/>", "<target dev='vd'/>" },
    { "<target dev='vda' bus='virtio'/>", "<target dev='vdA'/>" },
    { "<target dev='vda' bus='virtio'/>", "<target dev='vd1'/>" },
    { "<target dev='vda' bus='virtio'/>", "<target dev='ioemu:vda'/>" },
    { "<target dev='vda' bus='virtio'/>", "<target dev='fda'/>" },
    { "bus='virtio'", "bus='scsi'" },
    { "bus='virtio'", "bus='sata'" },
    { "bus='virtio'", "bus='virtio' tray='open'" },
    { "<!--disk-->", "<readonly x='1'/>" },
    { "<!--disk-->", "<shareable/>" },
    { "<!--disk-->", "<serial></serial>" },
    { "<!--disk-->", "<serial>a/b</serial>" },
    { "<!--disk-->", "<serial>caf\xc3\xa9</serial>" },
    { "<!--disk-->", "<serial>a\tb</serial>" },
    { "<!--disk-->", "<serial>ABCDEFGHIJKLMNOPQRSTU</serial>" },
    { "<!--disk-->", "<serial>a</serial><serial>b</serial>" },
    { "<!--disk-->", "<boot order='1'/>" },
    { "<!--disk-->", "<alias name='ua-disk0'/>" },
    { "<!--disk-->", "<address slot='0x05'/>" },
    { "<!--disk-->", "<address type='drive' controller='0' bus='0' unit='0'/>" },
    { "<!--disk-->", "<address type='pci' slot='0x05' multifunction='on'/>" },
    { "<!--disk-->", "<address type='pci' domain='0x0001' slot='0x05'/>" },
    { "<!--disk-->", "<address type='pci' bus='0x01' slot='0x05'/>" },
    { "<!--disk-->", "<address type='pci' bus='1' slot='0x05'/>" },
    { "<!--disk-->", "<address type='pci' slot='0x05' function='0x1'/>" },
    { "<!--disk-->", "<address type='pci' slot='0x05' function='8'/>" },
    { "<!--disk-->", "<address type='pci' slot='0x05' function='0x00'/>" },
    { "<!--disk-->", "<address type='pci' bus='0x000' slot='0x05'/>" },
    { "<!--disk-->", "<address type='pci' domain='0x000000000' slot='0x05'/>" },
    { "<!--disk-->", "<address type='pci' slot='0x00'/>" },
    { "<!--disk-->", "<address type='pci' slot='0'/>" },
    { "<!--disk-->", "<address type='pci' slot='32'/>" },
    { "<!--disk-->", "<address type='pci' slot='0x20'/>" },
    { "<!--disk-->", "<address type='pci' slot='010'/>" },
    { "<!--disk-->", "<address type='pci' slot='0x'/>" },
    { "<!--disk-->", "<address type='pci' slot='0X05'/>" },
    { "<!--disk-->", "<address type='pci' slot='0x005'/>" },
    { "<!--disk-->", "<address type='pci' slot='5 '/>" },
    { "<!--disk-->", "<address type='pci' slot='1f'/>" },
    { "<!--disk-->", "<address type='pci' slot='0x05'><zpci uid='0x1'/></address>" },
    { "<!--disk-->", "<iotune><total_bytes_sec>1000</total_bytes_sec></iotune>" },
    { "<!--disk-->", "<wwn>0x5000c50015ea71ac</wwn>" },
    { "<!--disk-->", "<x:y xmlns:x='urn:x'/>" },
};

static void expect_refused(const char *xml)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmDomainDef) def = parse(xml, &err);
    if (def)
        g_error("the parser accepts a document this test says it refuses:\n%s", xml);
    g_autofree char *why = NULL;
    if (valid_vmm(xml, &why))
        g_error("schemas/domain.rng accepts a document the parser refuses (%s):\n%s",
                err->message, xml);
    g_test_message("parser: %s\nschema: %s", err->message, why);
}

static void test_schema_refuses(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autofree char *xml = doc_replace(refused[i].from, refused[i].to);
        expect_refused(xml);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(refused_disk); i++) {
        g_autofree char *xml = disk_doc(refused_disk[i].from, refused_disk[i].to);
        expect_refused(xml);
    }
    /* a unix socket path one byte longer than sun_path takes; at the limit
     * it is fine */
    g_autofree char *x107 = g_strnfill(106, 'x');
    g_autofree char *ok_to = g_strdup_printf(
        "<serial type='unix'><source mode='bind' path='/%s'/></serial>", x107);
    g_autofree char *ok_xml = doc_replace("<!--dev-->", ok_to);
    roundtrip_doc(ok_xml, true);
    g_autofree char *long_to = g_strdup_printf(
        "<serial type='unix'><source mode='bind' path='/%sx'/></serial>", x107);
    g_autofree char *long_xml = doc_replace("<!--dev-->", long_to);
    expect_refused(long_xml);
    /* not a domain at all */
    expect_refused("<network><name>x</name></network>");
    expect_refused("<domain xmlns='http://libvirt.org/schemas/domain' type='kvm'/>");
}

/* What only the parser can check (see the comment in schemas/domain.rng):
 * the schema accepts these, the parser refuses them. The daemon runs both. */
static void test_schema_parser_only_rules(void)
{
    static const Edit docs[] = {
        { "<memory unit='MiB'>64</memory>", "<memory>1023</memory>" },
        { "<memory unit='MiB'>64</memory>", "<memory unit='TiB'>17</memory>" },
        { "<memory unit='MiB'>64</memory>", "<memory unit='EiB'>16</memory>" },
        { "<!--top-->", "<currentMemory unit='MiB'>65</currentMemory>" },
        { "<vcpu>1</vcpu>", "<vcpu current='1'>2</vcpu>" },
        { "<!--dev-->", "<disk><source file='/a'/><target dev='vda'/></disk>"
                        "<disk><source file='/b'/><target dev='vda'/></disk>" },
        { "<!--dev-->", "<disk><source file='/a'/><target dev='vda'/>"
                        "<address type='pci' slot='5'/></disk>"
                        "<disk><source file='/b'/><target dev='vdb'/>"
                        "<address type='pci' slot='0x05'/></disk>" },
        { "<!--dev-->", "<disk><source file='/img'/><target dev='vda'/></disk>"
                        "<disk><source file='/img'/><target dev='vdb'/></disk>" },
        { "<!--dev-->", "<serial type='stdio'/><console type='pty'><target port='0'/></console>" },
        { "<!--dev-->", "<serial type='pty'><target port='1'/></serial>"
                        "<serial type='stdio'><target port='1'/></serial>" },
        { "<!--dev-->", "<serial type='pty'><target port='3'/></serial><serial type='pty'/>" },
        { "<!--top-->", "<cputune><vcpupin vcpu='1' cpuset='0'/></cputune>" },
        { "<!--top-->", "<cputune><vcpupin vcpu='0' cpuset='0'/><vcpupin vcpu='0' cpuset='1'/>"
                        "</cputune>" },
        { "<!--top-->", "<cputune><vcpupin vcpu='0' cpuset='1-0'/></cputune>" },
        { "<!--top-->", "<cputune><emulatorpin cpuset='0,^0'/></cputune>" },
        { "<!--top-->", "<memtune><hard_limit>2</hard_limit><swap_hard_limit>1</swap_hard_limit>"
                        "</memtune>" },
        { "<!--top-->", "<blkiotune><device><path>/d</path></device><device><path>/d</path>"
                        "</device></blkiotune>" },
        /* a DAC label's parts: +NUMBER below 2^32-1, or a user name */
        { "<!--top-->", "<seclabel type='static'><label>+abc:+1</label></seclabel>" },
        { "<!--top-->", "<seclabel type='static'><label>+4294967295:+1</label></seclabel>" },
        { "<!--top-->", "<seclabel type='static'><label>a/b:c</label></seclabel>" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(docs); i++) {
        g_autofree char *xml = doc_replace(docs[i].from, docs[i].to);
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmDomainDef) def = parse(xml, &err);
        g_assert_null(def);
        g_assert_nonnull(err);
        g_test_message("parser only: %s", err->message);
        g_assert_true(valid_vmm(xml, NULL));
    }
}

/* The example vmmd ships is valid against both. */
static void test_schema_examples(void)
{
    g_autofree char *path = g_build_filename(VMM_SRC_SCHEMA_DIR, "..", "xml-examples",
                                             "demo.xml", NULL);
    g_autofree char *xml = NULL;
    if (!g_file_get_contents(path, &xml, NULL, NULL)) {
        g_test_skip("xml-examples/demo.xml not found");
        return;
    }
    assert_both_valid(xml);
    roundtrip_doc(xml, true);
}

/* Once, through libvirt's own tool: virt-xml-validate agrees with the
 * in-process validation against libvirt's schema. */
static bool virt_xml_validate(const char *tool, const char *xml, char **output)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *path = NULL;
    int fd = g_file_open_tmp("vmmd-format-XXXXXX.xml", &path, &err);
    g_assert_no_error(err);
    g_assert_cmpint(close(fd), ==, 0);
    g_assert_true(g_file_set_contents(path, xml, -1, &err));
    char *argv[] = { (char *)tool, path, (char *)"domain", NULL };
    g_autofree char *out = NULL;
    g_autofree char *errout = NULL;
    int status = -1;
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &errout, &status, &err));
    g_assert_no_error(err);
    g_assert_cmpint(g_unlink(path), ==, 0);
    *output = g_strconcat(out, errout, NULL);
    return g_spawn_check_wait_status(status, NULL);
}

static void test_virt_xml_validate(void)
{
    g_autofree char *tool = g_find_program_in_path("virt-xml-validate");
    if (!tool) {
        g_test_skip("virt-xml-validate (libvirt-clients) is not installed");
        return;
    }
    g_autoptr(VmmDomainDef) def = parse_ok(full_xml);
    g_autoptr(GError) err = NULL;
    g_assert_true(vmm_domain_def_fill_defaults(def, &err));
    g_free(def->description);
    def->description = g_strdup("<&> ]]> \"'\r\n");
    g_autofree char *out = format_ok(def);
    g_autofree char *output = NULL;
    if (!virt_xml_validate(tool, out, &output))
        g_error("virt-xml-validate refuses vmmd's output:\n%s\n%s", output, out);
    g_assert_true(valid_libvirt(out, NULL));

    /* and both refuse the same broken document */
    g_autofree char *bad = doc_replace("<!--dev-->", "<disk type='file'><source file='a'/>"
                                       "<target dev='vda'/></disk>");
    g_free(output);
    output = NULL;
    g_assert_false(virt_xml_validate(tool, bad, &output));
    g_assert_false(valid_libvirt(bad, NULL));
}

/* ------------------------------------------------------------------------ */
/* vmm_domain_validate_schema itself                                        */

static void test_validate_messages(void)
{
    g_autofree char *xml = doc_replace("<!--dev-->", "<sound model='ich9'/>");
    g_autoptr(GError) err = NULL;
    g_assert_false(vmm_domain_validate_schema(xml, strlen(xml), VMM_RNG, &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID);
    g_test_message("%s", err->message);
    g_assert_true(g_str_has_prefix(err->message, "document does not conform to schema '"));
    g_assert_nonnull(strstr(err->message, VMM_RNG));
    /* libxml2 names the outermost element whose content failed (an
     * optional element in an interleave hides the deeper reason); the
     * parser, which the daemon runs first, names <sound> itself */
    g_assert_nonnull(strstr(err->message, "line 10: element <devices>"));
    g_clear_error(&err);

    /* a problem in a required element is named where it is */
    g_autofree char *kernel = doc_replace("<kernel>/boot/k</kernel>",
                                          "<kernel>boot/k</kernel>");
    g_assert_false(vmm_domain_validate_schema(kernel, strlen(kernel), VMM_RNG, &err));
    g_test_message("%s", err->message);
    g_assert_nonnull(strstr(err->message, "line 7: element <kernel>"));
    g_clear_error(&err);

    /* many problems: the first few, then a count */
    g_autoptr(GString) s = g_string_new("<domain type='kvm'>\n");
    for (int i = 0; i < 20; i++)
        g_string_append_printf(s, "<bogus%d a='1'/>\n", i);
    g_string_append(s, "</domain>\n");
    g_assert_false(vmm_domain_validate_schema(s->str, s->len, LIBVIRT_RNG, &err));
    g_test_message("%s", err->message);
    g_assert_nonnull(strstr(err->message, "line "));
    g_clear_error(&err);

    /* the length is honoured: no reliance on a terminating NUL */
    g_autofree char *padded = g_strdup_printf("%sGARBAGE<", base_xml);
    g_assert_true(vmm_domain_validate_schema(padded, strlen(base_xml), VMM_RNG, &err));
    g_assert_no_error(err);
    g_assert_false(vmm_domain_validate_schema(padded, strlen(padded), VMM_RNG, &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML);
    g_clear_error(&err);

    /* schema problems are I/O errors */
    g_assert_false(vmm_domain_validate_schema(base_xml, strlen(base_xml),
                                              "/nonexistent/domain.rng", &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO);
    g_assert_nonnull(strstr(err->message, "/nonexistent/domain.rng"));
    g_clear_error(&err);
    g_autofree char *dir = g_dir_make_tmp("vmmd-format-XXXXXX", NULL);
    g_autofree char *broken = g_build_filename(dir, "broken.rng", NULL);
    g_assert_true(g_file_set_contents(broken, "<grammar><start>", -1, NULL));
    g_assert_false(vmm_domain_validate_schema(base_xml, strlen(base_xml), broken, &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO);
    g_assert_nonnull(strstr(err->message, "cannot compile RelaxNG schema"));
    g_clear_error(&err);
    g_assert_true(g_file_set_contents(broken,
        "<grammar xmlns='http://relaxng.org/ns/structure/1.0'><start>"
        "<ref name='missing'/></start></grammar>", -1, NULL));
    g_assert_false(vmm_domain_validate_schema(base_xml, strlen(base_xml), broken, &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_IO);
    g_clear_error(&err);
    g_assert_cmpint(g_unlink(broken), ==, 0);
    g_assert_cmpint(g_rmdir(dir), ==, 0);

    /* malformed, empty, too big */
    g_assert_false(vmm_domain_validate_schema("<domain>", 8, VMM_RNG, &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML);
    g_test_message("%s", err->message);
    g_clear_error(&err);
    g_assert_false(vmm_domain_validate_schema("", 0, VMM_RNG, &err));
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML);
    g_clear_error(&err);
    gsize big = VMM_DOMAIN_XML_MAX_BYTES + 1;
    g_autofree char *huge = g_malloc(big);
    memset(huge, ' ', big);
    memcpy(huge, "<domain>", 8);
    gint64 t0 = g_get_monotonic_time();
    g_assert_false(vmm_domain_validate_schema(huge, big, VMM_RNG, &err));
    g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC / 10);
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML);
    g_clear_error(&err);

    /* the path helper */
    g_autofree char *saved = g_strdup(g_getenv("VMM_SCHEMA_DIR"));
    g_setenv("VMM_SCHEMA_DIR", VMM_SRC_SCHEMA_DIR, TRUE);
    g_autofree char *p1 = vmm_domain_schema_path();
    g_assert_cmpstr(p1, ==, VMM_RNG);
    g_unsetenv("VMM_SCHEMA_DIR");
    g_autofree char *p2 = vmm_domain_schema_path();
    g_assert_cmpstr(p2, ==, VMM_SCHEMA_DIR "/domain.rng");
    if (saved)
        g_setenv("VMM_SCHEMA_DIR", saved, TRUE);
}

static const char xxe_fmt[] =
    "<?xml version='1.0'?>\n"
    "<!DOCTYPE domain [\n"
    "  <!ENTITY xxe SYSTEM 'file://%s'>\n"
    "]>\n"
    "<domain type='kvm'><name>&xxe;</name><memory>2048</memory>"
    "<os><type>hvm</type><kernel>/k</kernel></os>"
    "<description>&xxe;</description></domain>\n";

static const char lol_xml[] =
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
    "<domain type='kvm'><name>&lol9;</name><memory>2048</memory>"
    "<os><type>hvm</type><kernel>/k</kernel></os></domain>\n";

static void expect_hostile_refused(const char *xml, const char *rng,
                                   const char *secret)
{
    g_autoptr(GError) err = NULL;
    gint64 t0 = g_get_monotonic_time();
    g_assert_false(vmm_domain_validate_schema(xml, strlen(xml), rng, &err));
    g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC);
    g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML);
    g_test_message("%s", err->message);
    g_assert_nonnull(strstr(err->message, "<!DOCTYPE>"));
    if (secret)
        g_assert_null(strstr(err->message, secret));
}

static void test_validate_hostile(void)
{
    g_autofree char *dir = g_dir_make_tmp("vmmd-format-XXXXXX", NULL);
    g_autofree char *secret = g_build_filename(dir, "secret", NULL);
    g_assert_true(g_file_set_contents(secret, "TOPSECRET", -1, NULL));
    g_autofree char *xxe = g_strdup_printf(xxe_fmt, secret);
    static const char *const rngs[] = { VMM_RNG, LIBVIRT_RNG };

    for (size_t r = 0; r < G_N_ELEMENTS(rngs); r++) {
        expect_hostile_refused(xxe, rngs[r], "TOPSECRET");
        expect_hostile_refused(lol_xml, rngs[r], NULL);
        /* external DTD, external parameter entity, a harmless DOCTYPE */
        expect_hostile_refused("<!DOCTYPE domain SYSTEM 'file:///etc/passwd'>\n"
                               "<domain type='kvm'/>", rngs[r], "root:");
        expect_hostile_refused("<!DOCTYPE domain [<!ENTITY % p SYSTEM "
                               "'http://192.0.2.1/x.dtd'> %p;]><domain type='kvm'/>",
                               rngs[r], NULL);
        expect_hostile_refused("<!DOCTYPE domain>\n<domain type='kvm'/>", rngs[r], NULL);
        /* an entity never declared: not well-formed */
        g_autoptr(GError) err = NULL;
        const char *undef = "<domain type='kvm'><name>&foo;</name></domain>";
        g_assert_false(vmm_domain_validate_schema(undef, strlen(undef), rngs[r], &err));
        g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_XML);
        g_clear_error(&err);
        /* XInclude is not processed: the element is just not allowed */
        g_autofree char *xi = doc_replace("<!--dev-->",
            "<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='/etc/passwd' "
            "parse='text'/>");
        g_assert_false(vmm_domain_validate_schema(xi, strlen(xi), rngs[r], &err));
        g_assert_error(err, VMM_CONF_ERROR, VMM_CONF_ERROR_INVALID);
        g_assert_null(strstr(err->message, "root:"));
        g_clear_error(&err);
    }
    g_assert_cmpint(g_unlink(secret), ==, 0);
    g_assert_cmpint(g_rmdir(dir), ==, 0);
}

/* libxml2 reports through GError only, never on stderr. */
static void test_validate_quiet(void)
{
    if (g_test_subprocess()) {
        g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL, e5 = NULL;
        g_autofree char *bad = doc_replace("<!--dev-->", "<sound/>");
        g_assert_false(vmm_domain_validate_schema(bad, strlen(bad), VMM_RNG, &e1));
        g_assert_false(vmm_domain_validate_schema(bad, strlen(bad), LIBVIRT_RNG, &e2));
        g_assert_false(vmm_domain_validate_schema("<d><e></d>", 10, VMM_RNG, &e3));
        g_assert_false(vmm_domain_validate_schema(lol_xml, strlen(lol_xml), VMM_RNG, &e4));
        g_assert_false(vmm_domain_validate_schema(base_xml, strlen(base_xml),
                                                  "/nonexistent.rng", &e5));
        g_autoptr(VmmDomainDef) def = new_def("x");
        def->description = g_strdup("\x01");
        g_autoptr(GError) e6 = NULL;
        g_assert_null(vmm_domain_def_format(def, &e6));
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("");
}

/* ------------------------------------------------------------------------ */
/* the machine description                                                  */

/* Every example and every fuzz seed the parser accepts: XML -> def ->
 * description -> def -> XML is XML -> def -> XML. */
static void test_desc_files(void)
{
    static const char *const dirs[] = { "xml-examples", "tests/fuzz/corpus-domain-xml" };
    guint n = 0;
    for (size_t d = 0; d < G_N_ELEMENTS(dirs); d++) {
        g_autofree char *dir = g_build_filename(VMM_SRC_SCHEMA_DIR, "..", dirs[d], NULL);
        g_autoptr(GDir) gd = g_dir_open(dir, 0, NULL);
        g_assert_nonnull(gd);
        for (const char *f; (f = g_dir_read_name(gd));) {
            g_autofree char *path = g_build_filename(dir, f, NULL);
            g_autofree char *xml = NULL;
            gsize len;
            if (!g_file_get_contents(path, &xml, &len, NULL))
                continue;
            g_autoptr(VmmDomainDef) def = vmm_domain_def_parse_string(xml, len, path, NULL);
            if (!def)
                continue;   /* seeds the parser refuses */
            g_autofree char *out = format_ok(def);
            roundtrip_desc(def, out, path);
            n++;
        }
    }
    g_autoptr(VmmDomainDef) full = parse_ok(full_xml);
    g_autofree char *out = format_ok(full);
    roundtrip_desc(full, out, "full_xml");
    g_test_message("%u documents", n);
    g_assert_cmpuint(n, >=, 15);
}

/* A hostile description: each edit of a valid one is refused with a
 * message naming the key. */
static void test_desc_hostile(void)
{
    /* full_xml with an interface, a channel and tuning */
    g_auto(GStrv) halves = g_strsplit(full_xml, "  </devices>", 2);
    g_autofree char *xml = g_strconcat(
        halves[0], "    <interface type='user'><mac address='52:54:00:12:34:56'/></interface>\n"
        "    <channel type='unix'><source mode='bind' path='/tmp/ga.sock'/>"
        "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>\n  </devices>",
        halves[1], NULL);
    static const char tuned[] = "<vcpu placement='static' current='4'>4</vcpu>\n"
                                "  <cputune><emulatorpin cpuset='0'/></cputune>\n"
                                "  <blkiotune><device><path>/dev/x</path></device></blkiotune>";
    g_auto(GStrv) at_vcpu = g_strsplit(xml, "<vcpu placement='static' current='4'>4</vcpu>", 2);
    g_assert_nonnull(at_vcpu[1]);
    g_autofree char *doc = g_strconcat(at_vcpu[0], tuned, at_vcpu[1], NULL);
    g_autoptr(VmmDomainDef) full = parse_ok(doc);
    g_autofree char *desc = vmm_domain_desc_to_json(full);
    static const struct {
        const char *path;      /* a.b or a[i].b: the key to set (or remove) */
        const char *value;     /* JSON, or NULL to remove the key */
        const char *message;   /* part of the error */
    } cases[] = {
        { "version", "2", "version: expected 1" },
        { "format", "\"x\"", "format: expected" },
        { "name", NULL, "name: missing" },
        { "name", "3", "name: expected a string" },
        { "name", "\"../etc\"", "name: not a domain name" },
        { "name", "\"a/b\"", "name: not a domain name" },
        { "nets[0].type", "0", "nets[0]: a bridge interface needs its bridge" },
        { "nets[0].target_dev", "\"vnet0123456789ab\"", "nets[0]: target_dev is no interface" },
        { "channels[0].name", "\"../../x\"", "channels[0]: name is no channel name" },
        { "name", "\"a\\u0000b\"", "name: a string holds a NUL byte" },
        { "vcpus", "0", "vcpus: 0 is out of range (1 to 255)" },
        { "vcpus", "256", "vcpus: 256 is out of range" },
        { "vcpus", "-1", "vcpus: -1 is out of range" },
        { "vcpus", "1.5", "vcpus: expected an integer" },
        { "memory_kib", "18446744073709551615", "memory_kib: 18446744073709551615 is out of range" },
        { "clock", "2", "clock: 2 is out of range (0 to 1)" },
        { "acpi", "1", "acpi: expected true or false" },
        { "bogus", "1", "bogus: unknown key" },
        { "uuid", "\"zz\"", "uuid: expected 32 hexadecimal digits" },
        { "disks", "{}", "disks: expected an array" },
        { "disks[0].cache", "9", "disks[0].cache: 9 is out of range (0 to 4)" },
        { "disks[0].ide_bus", "2", "disks[0].ide_bus: 2 is out of range" },
        { "disks[0].queues", "17", "disks[0].queues: 17 is out of range" },
        { "disks[0].pci_slot", "32", "disks[0].pci_slot: 32 is out of range (-1 to 31)" },
        { "disks[0].target_dev", NULL, "disks[0].target_dev: missing" },
        { "nets[0].mac", "\"5254001234\"", "nets[0].mac: expected 12 hexadecimal digits" },
        { "nets[0].host", "[0]", "nets[0].host: expected an array of 7 integers" },
        { "nets[0].queues", "99", "nets[0].queues: 99 is out of range" },
        { "serials[0].port", "4", "serials[0].port: 4 is out of range (0 to 3)" },
        { "cpu.sockets", "3", "cpu: the topology gives" },
        { "tune.emulatorpin", "\"x\"", "tune.emulatorpin: expected a CPU list" },
        { "channels[0].port", "31", "channels[0].port: 31 is out of range" },
        { "tune.blkio_devices[0].path", NULL, "tune.blkio_devices[0].path: missing" },
        { "cpu.features[1].name", NULL, "cpu.features[1].name: missing" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        json_object *root = json_tokener_parse(desc);
        g_assert_nonnull(root);
        /* walk a.b[i].c to the parent of the last key */
        g_auto(GStrv) parts = g_strsplit(cases[i].path, ".", -1);
        json_object *o = root;
        guint np = g_strv_length(parts);
        char *last = NULL;
        for (guint k = 0; k < np; k++) {
            char *br = strchr(parts[k], '[');
            if (br)
                *br = 0;
            if (k == np - 1 && !br) {
                last = parts[k];
                break;
            }
            json_object *next = NULL;
            g_assert_true(json_object_object_get_ex(o, parts[k], &next));
            o = br ? json_object_array_get_idx(next, atoi(br + 1)) : next;
            g_assert_nonnull(o);
        }
        if (cases[i].value)
            json_object_object_add(o, last, json_tokener_parse(cases[i].value));
        else
            json_object_object_del(o, last);
        const char *bad = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmDomainDef) def = vmm_domain_desc_from_json(bad, strlen(bad), "fd 7", &err);
        if (def || !strstr(err->message, cases[i].message) ||
            !g_str_has_prefix(err->message, "fd 7: machine description: "))
            g_error("%s=%s: expected a refusal with '%s', got %s", cases[i].path,
                    cases[i].value ? cases[i].value : "(removed)", cases[i].message,
                    def ? "success" : err->message);
        json_object_put(root);
    }
    /* not JSON, trailing text, too deep, too big */
    static const char *const texts[] = { "", "{", "[1]", "{}", "{} x", "\"s\"" };
    for (size_t i = 0; i < G_N_ELEMENTS(texts); i++) {
        g_autoptr(GError) err = NULL;
        g_assert_null(vmm_domain_desc_from_json(texts[i], strlen(texts[i]), "t", &err));
        g_assert_true(g_str_has_prefix(err->message, "t: machine description: "));
    }
    g_autoptr(GString) deep = g_string_new(NULL);
    for (int i = 0; i < 100000; i++)
        g_string_append_c(deep, '[');
    g_autoptr(GError) err = NULL;
    g_assert_null(vmm_domain_desc_from_json(deep->str, deep->len, "t", &err));
    g_clear_error(&err);
    g_assert_null(vmm_domain_desc_from_json(deep->str, VMM_DOMAIN_DESC_MAX_BYTES + 1, "t", &err));
    g_assert_nonnull(strstr(err->message, "more than"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/format/canonical", test_canonical);
    g_test_add_func("/format/tune", test_tune);
    g_test_add_func("/format/tune/refusals", test_tune_refusals);
    g_test_add_func("/format/roundtrip/documents", test_roundtrip_documents);
    g_test_add_func("/format/roundtrip/parser-only", test_roundtrip_parser_only);
    g_test_add_func("/format/roundtrip/cache-io", test_roundtrip_cache_io);
    g_test_add_func("/format/roundtrip/qcow2", test_roundtrip_qcow2);
    g_test_add_func("/format/roundtrip/generated", test_roundtrip_generated);
    g_test_add_func("/format/escaping", test_escaping);
    g_test_add_func("/format/unformattable", test_unformattable);
    g_test_add_func("/format/fill-defaults/uuid", test_fill_uuid);
    g_test_add_func("/format/fill-defaults/pci", test_fill_pci);
    g_test_add_func("/format/fill-defaults/balloon", test_fill_balloon);
    g_test_add_func("/format/copy-equal", test_copy_equal);
    g_test_add_func("/format/ide", test_ide);
    g_test_add_func("/desc/files", test_desc_files);
    g_test_add_func("/desc/hostile", test_desc_hostile);
    g_test_add_func("/format/sata", test_sata);
    g_test_add_func("/schema/refuses", test_schema_refuses);
    g_test_add_func("/schema/parser-only-rules", test_schema_parser_only_rules);
    g_test_add_func("/schema/examples", test_schema_examples);
    g_test_add_func("/schema/virt-xml-validate", test_virt_xml_validate);
    g_test_add_func("/schema/validate/messages", test_validate_messages);
    g_test_add_func("/schema/validate/hostile", test_validate_hostile);
    g_test_add_func("/schema/validate/quiet", test_validate_quiet);
    return g_test_run();
}
