/* Domain XML documents shared by the parser tests (test-domain-conf.c)
 * and the formatter/schema tests (test-domain-format.c), with the small
 * editing helpers both use to derive variants from them. */
#ifndef VMM_TEST_DOMAIN_DOCS_H
#define VMM_TEST_DOMAIN_DOCS_H

#include <glib.h>
#include <string.h>

/* The base document: tests replace one marker or line in it, so the line an
 * error must name is known. Line numbers are in the comments. */
static const char base_xml[] G_GNUC_UNUSED =
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

/* Every element vmmd accepts. */
static const char full_xml[] G_GNUC_UNUSED =
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
    "  <cpu mode='host-passthrough' check='none' migratable='on'>\n"
    "    <topology sockets='1' dies='1' cores='2' threads='2'/>\n"
    "    <feature policy='disable' name='avx'/>\n"
    "    <feature policy='require' name='sse4.2'/>\n"
    "  </cpu>\n"
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
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='raw' cache='none' io='native' discard='unmap' "
    "queues='4'/>\n"
    "      <source file='/var/lib/vmmd/images/root.img'/>\n"
    "      <target dev='vda' bus='virtio'/>\n"
    "      <serial>ROOT-0001</serial>\n"
    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>\n"
    "    </disk>\n"
    "    <disk type='block'>\n"
    "      <source dev='/dev/vg0/data'/>\n"
    "      <target dev='vdb'/>\n"
    "      <readonly/>\n"
    "    </disk>\n"
    "    <memballoon model='virtio' autodeflate='on' freePageReporting='off'>\n"
    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x06' function='0x0'/>\n"
    "      <stats period='10'/>\n"
    "    </memballoon>\n"
    "    <rng model='virtio'>\n"
    "      <rate bytes='4096' period='2000'/>\n"
    "      <backend model='random'>/dev/urandom</backend>\n"
    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>\n"
    "    </rng>\n"
    "    <rng model='virtio-non-transitional'>\n"
    "      <backend model='builtin'/>\n"
    "    </rng>\n"
    "  </devices>\n"
    "</domain>\n";

/* One disk, put in base_xml in place of <!--dev-->; tests replace text in
 * it. Line numbers (in the whole document) are in the comments. */
static const char disk_tmpl[] G_GNUC_UNUSED =
    "<disk type='file' device='disk'>\n"             /* 11 */
    "      <driver name='qemu' type='raw'/>\n"       /* 12 */
    "      <source file='/var/lib/vmmd/a.img'/>\n"   /* 13 */
    "      <target dev='vda' bus='virtio'/>\n"       /* 14 */
    "      <!--disk-->\n"                            /* 15 */
    "    </disk>";                                   /* 16 */

/* s with the first occurrence of `from` replaced by `to`. */
static inline char *str_replace1(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    if (!p)
        g_error("'%s' not found in '%s'", from, s);
    return g_strdup_printf("%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
}

/* base_xml with the first occurrence of `from` replaced by `to`. */
static inline char *doc_replace(const char *from, const char *to)
{
    return str_replace1(base_xml, from, to);
}

/* base_xml with disk_tmpl, with up to two replacements in it (from2 may be
 * NULL). */
static inline char *disk_doc2(const char *from, const char *to, const char *from2,
                              const char *to2)
{
    g_autofree char *d1 = str_replace1(disk_tmpl, from, to);
    g_autofree char *d2 = from2 ? str_replace1(d1, from2, to2) : g_strdup(d1);
    return doc_replace("<!--dev-->", d2);
}

static inline char *disk_doc(const char *from, const char *to)
{
    return disk_doc2(from, to, NULL, NULL);
}

#endif
