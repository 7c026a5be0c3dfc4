/* The output side of domain definitions: VmmDomainDef -> canonical libvirt
 * domain XML, the defaults the daemon fills at define time, RelaxNG
 * validation, deep copy and equality.
 *
 * Errors are in VMM_CONF_ERROR (conf/domain_conf.h):
 *   VMM_CONF_ERROR_XML      not well-formed, DTD/entities, too big
 *   VMM_CONF_ERROR_INVALID  a definition that cannot be written, a document
 *                           the schema refuses, no PCI slot left
 *   VMM_CONF_ERROR_IO       the schema file cannot be read or compiled */
#ifndef VMM_DOMAIN_FORMAT_H
#define VMM_DOMAIN_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/domain_conf.h"

/* Where the installed schemas live ($(pkgdatadir)/schemas); the environment
 * variable VMM_SCHEMA_DIR overrides it (tests, an uninstalled daemon). */
#ifndef VMM_SCHEMA_DIR
#define VMM_SCHEMA_DIR "/usr/local/share/vmmd/schemas"
#endif

/* The path of vmmd's domain.rng: $VMM_SCHEMA_DIR/domain.rng if that
 * variable is set and non-empty, else VMM_SCHEMA_DIR "/domain.rng". */
char *vmm_domain_schema_path(void);

/* Canonical libvirt XML for a definition: every field VmmDomainDef holds,
 * in libvirt's element order, with explicit defaults (uuid, memory in KiB
 * with unit='KiB', currentMemory, vcpu placement='static', os type
 * arch+machine, on_* actions, clock, disk driver name/type/cache/io/discard
 * (queues when set), target bus, pci address once assigned, serial and the
 * serial console with target port). UTF-8, no XML declaration, two-space
 * indentation, a final newline; text and attribute values escaped by
 * libxml2. Re-parsing the output with vmm_domain_def_parse_string gives a
 * definition vmm_domain_def_equal to `def` (define -> dumpxml loses
 * nothing); formatting that again gives the same bytes. For a definition
 * parsed from a document that schemas/domain.rng accepts, the output is
 * valid against that schema and against libvirt's domain.rng.
 * Fails (VMM_CONF_ERROR_INVALID) on a definition no XML can carry: a
 * missing name or kernel, a string that is not UTF-8 or holds a character
 * XML 1.0 forbids. Returns a g_free()able string. */
char *vmm_domain_def_format(const VmmDomainDef *def, GError **err);

/* Defaults the daemon fills at define time: a random (version 4) uuid if
 * the definition has none; a PCI slot for every disk without one, in
 * document order, the lowest free slot from 1 upward, skipping slots given
 * explicitly (the worker places disks the same way); disk queues are left
 * as given (0 = one per vCPU, decided when the VM starts). Also fills
 * os_arch "x86_64", vcpus 1 and currentMemory = memory when a definition
 * built in code left them unset; a virtio <memballoon> when there is no
 * <memballoon> at all (libvirt's x86 KVM default). Idempotent. Fails (VMM_CONF_ERROR_INVALID)
 * when an explicit slot is out of range or used twice, or no slot is left;
 * the definition is then unchanged. */
bool vmm_domain_def_fill_defaults(VmmDomainDef *def, GError **err);

/* Where each PCI device of `def` goes: a table from the device's item
 * (a VmmDiskDef, VmmNetDef, ... in def's lists) to its slot, which is its
 * <address> slot or the lowest free one from 1 upward, taking devices in
 * the device classes' order and document order within a class. Items that
 * are no PCI device (<memballoon model='none'>) are absent. Both the
 * daemon's defaults (above) and the board placing devices use this one
 * rule. NULL (VMM_CONF_ERROR_INVALID) on a bad or duplicate explicit slot,
 * or when no slot is left. */
GHashTable *vmm_domain_def_pci_placement(const VmmDomainDef *def, GError **err);
/* A disk has bus='ide': the board then has the PIIX3 IDE function at
 * 00:01.1 (its ISA bridge at 00:01.0), and slot VMM_PCI_SLOT_IDE is taken. */
#define VMM_PCI_SLOT_IDE 1
bool vmm_domain_def_has_ide(const VmmDomainDef *def);
/* A disk has bus='sata': the board then has the ICH9 AHCI function at
 * 00:1f.0, and slot VMM_PCI_SLOT_AHCI is taken. */
#define VMM_PCI_SLOT_AHCI 0x1f
bool vmm_domain_def_has_sata(const VmmDomainDef *def);

/* Validates an XML document of `len` bytes against the RelaxNG schema file
 * `rng_path` (which may include others, relative to itself). The document
 * is read with no network access and no entity expansion: a DOCTYPE (and so
 * any DTD or entity declaration) is refused before it is read, as are
 * documents larger than VMM_DOMAIN_XML_MAX_BYTES. On failure the error
 * lists the first few validation messages with their line numbers
 * ("line 12: ..."; VMM_CONF_ERROR_INVALID). Nothing is printed to stderr. */
bool vmm_domain_validate_schema(const char *xml, size_t len,
                                const char *rng_path, GError **err);

/* Deep copy (never NULL for a non-NULL def) and field-by-field equality
 * (uuid bytes compared only when has_uuid; NULL disk/serial arrays equal
 * empty ones). For tests and the daemon's "redefine changes nothing". */
VmmDomainDef *vmm_domain_def_copy(const VmmDomainDef *def);
bool vmm_domain_def_equal(const VmmDomainDef *a, const VmmDomainDef *b);

#endif
