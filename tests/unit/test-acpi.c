/* ACPI table builder tests. The tables are found the way a guest finds
 * them (RSDP by legacy scan or by address, then XSDT, then each table, all
 * through guest-physical addresses) and checked field by field against
 * layout.h. When acpica-tools is installed, iasl's disassembler decodes
 * every table independently and acpiexec runs the DSDT's methods. */

#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/acpi.h"
#include "vmm/layout.h"

/* ---- little-endian readers and byte search ---------------------------- */

static uint16_t get16(const uint8_t *p)
{
    return p[0] | p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
    return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
    return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint8_t sum8(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s += p[i];
    return s;
}

/* Offset of needle in hay, or -1. */
static gssize find_bytes(const uint8_t *hay, size_t len, const uint8_t *needle, size_t nlen)
{
    for (size_t i = 0; nlen <= len && i <= len - nlen; i++)
        if (memcmp(hay + i, needle, nlen) == 0)
            return i;
    return -1;
}

#define le16_bytes(v) (uint8_t)(v), (uint8_t)((v) >> 8)
#define le32_bytes(v) le16_bytes(v), le16_bytes((v) >> 16)

/* ---- walking the tables like a guest ----------------------------------- */

typedef struct {
    uint8_t *buf;
    uint64_t base;
    size_t size;
    unsigned nr_cpus;
    uint64_t rsdp_gpa;
    /* found by the walk */
    const uint8_t *rsdp, *xsdt, *fadt, *dsdt, *madt, *mcfg;
    size_t end;        /* highest byte offset used by any table */
} Tables;

/* gpa -> buffer, failing the test for anything outside the ACPI area. */
static const uint8_t *gpa_ptr(Tables *t, uint64_t gpa, size_t len)
{
    g_assert_cmpuint(gpa, >=, t->base);
    g_assert_cmpuint(gpa - t->base, <=, t->size);
    g_assert_cmpuint(len, <=, t->size - (gpa - t->base));
    t->end = MAX(t->end, gpa - t->base + len);
    return t->buf + (gpa - t->base);
}

static const uint8_t *table_at(Tables *t, uint64_t gpa, const char *sig)
{
    const uint8_t *h = gpa_ptr(t, gpa, 36);
    if (sig)
        g_assert_cmpmem(h, 4, sig, 4);
    uint32_t len = get32(h + 4);
    g_assert_cmpuint(len, >=, 36);
    const uint8_t *tab = gpa_ptr(t, gpa, len);
    g_assert_cmpuint(sum8(tab, len), ==, 0);
    return tab;
}

static void check_header(const uint8_t *tab, uint32_t len, uint8_t revision)
{
    g_assert_cmpuint(get32(tab + 4), ==, len);
    g_assert_cmpuint(tab[8], ==, revision);
    g_assert_cmpmem(tab + 10, 6, "VMMD  ", 6);
    g_assert_cmpmem(tab + 16, 8, "VMMDVM  ", 8);
}

/* What an OS without a boot-loader hint does: scan 0xe0000-0xfffff on
 * 16-byte boundaries for a checksummed "RSD PTR ". */
static uint64_t legacy_rsdp_scan(const Tables *t)
{
    uint64_t found = 0;
    for (uint64_t gpa = 0xe0000; gpa < 0x100000; gpa += 16) {
        if (gpa < t->base || gpa + 20 > t->base + t->size)
            continue;
        const uint8_t *p = t->buf + (gpa - t->base);
        if (memcmp(p, "RSD PTR ", 8) == 0 && sum8(p, 20) == 0) {
            g_assert_cmpuint(found, ==, 0);   /* exactly one */
            found = gpa;
        }
    }
    return found;
}

static void walk(Tables *t)
{
    g_assert_cmpuint(legacy_rsdp_scan(t), ==, t->rsdp_gpa);

    const uint8_t *r = t->rsdp = gpa_ptr(t, t->rsdp_gpa, 36);
    g_assert_cmpmem(r, 8, "RSD PTR ", 8);
    g_assert_cmpuint(sum8(r, 20), ==, 0);
    g_assert_cmpuint(r[15], ==, 2);
    g_assert_cmpmem(r + 9, 6, "VMMD  ", 6);
    g_assert_cmpuint(get32(r + 20), ==, 36);
    g_assert_cmpuint(sum8(r, 36), ==, 0);

    t->xsdt = table_at(t, get64(r + 24), "XSDT");
    uint32_t xlen = get32(t->xsdt + 4);
    g_assert_cmpuint((xlen - 36) % 8, ==, 0);
    check_header(t->xsdt, xlen, 1);
    for (uint32_t off = 36; off < xlen; off += 8) {
        const uint8_t *tab = table_at(t, get64(t->xsdt + off), NULL);
        const uint8_t **slot = NULL;
        if (memcmp(tab, "FACP", 4) == 0)
            slot = &t->fadt;
        else if (memcmp(tab, "APIC", 4) == 0)
            slot = &t->madt;
        else if (memcmp(tab, "MCFG", 4) == 0)
            slot = &t->mcfg;
        else
            g_error("unexpected table %.4s in the XSDT", (const char *)tab);
        g_assert_null(*slot);
        *slot = tab;
    }
    g_assert_nonnull(t->fadt);
    g_assert_nonnull(t->madt);
    g_assert_nonnull(t->mcfg);

    /* The DSDT hangs off the FADT; its 32-bit pointer must be 0 then. */
    g_assert_cmpuint(get32(t->fadt + 40), ==, 0);
    t->dsdt = table_at(t, get64(t->fadt + 140), "DSDT");
}

static void build(Tables *t, unsigned nr_cpus)
{
    memset(t, 0, sizeof(*t));
    t->base = LAYOUT_ACPI_BASE;
    t->size = LAYOUT_ACPI_SIZE;
    t->nr_cpus = nr_cpus;
    t->buf = g_malloc(t->size);
    /* Garbage, including a stale RSDP, that the builder must wipe. */
    memset(t->buf, 0xa5, t->size);
    memcpy(t->buf + 0x1000, "RSD PTR ", 8);

    VmmAcpiConfig cfg = { .nr_cpus = nr_cpus };
    GError *err = NULL;
    g_assert_true(vmm_acpi_build(t->buf, t->base, t->size, &cfg, &t->rsdp_gpa, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(t->rsdp_gpa, ==, t->base);   /* at the start of buf */
    walk(t);
}

/* ---- per-table checks --------------------------------------------------- */

static void check_gas_byte(const uint8_t *g, uint64_t addr)
{
    g_assert_cmpuint(g[0], ==, 0);      /* SystemMemory */
    g_assert_cmpuint(g[1], ==, 8);      /* bit width */
    g_assert_cmpuint(g[2], ==, 0);      /* bit offset */
    g_assert_cmpuint(g[3], ==, 1);      /* byte access */
    g_assert_cmpuint(get64(g + 4), ==, addr);
}

static void check_fadt(const Tables *t)
{
    const uint8_t *f = t->fadt;
    check_header(f, 276, 6);
    g_assert_cmpuint(f[131] & 0xf, ==, 3);            /* ACPI 6.3 */

    /* Hardware-reduced: no FACS, no fixed register blocks. */
    g_assert_cmpuint(get32(f + 36), ==, 0);
    g_assert_cmpuint(get64(f + 132), ==, 0);
    for (unsigned off = 48; off < 109; off++)         /* SMI_CMD..CENTURY */
        g_assert_cmpuint(f[off], ==, 0);
    for (unsigned off = 148; off < 244; off++)        /* X_PM1a_EVT..X_GPE1 */
        g_assert_cmpuint(f[off], ==, 0);
    g_assert_cmpuint(get16(f + 46), ==, GSI_GED);

    uint32_t flags = get32(f + 112);
    g_assert_cmpuint(flags & (1u << 20), !=, 0);      /* HW_REDUCED_ACPI */
    g_assert_cmpuint(flags & (1u << 10), !=, 0);      /* RESET_REG_SUP */
    g_assert_cmpuint(flags & (1u << 4), !=, 0);       /* power button: control method */
    g_assert_cmpuint(!!(flags & (1u << 19)), ==, t->nr_cpus > 8);

    uint16_t boot = get16(f + 109);
    g_assert_cmpuint(boot & 0x2, !=, 0);              /* 8042 */
    g_assert_cmpuint(boot & 0x4, !=, 0);              /* no VGA */
    g_assert_cmpuint(boot & 0x8, ==, 0);              /* MSI works */
    g_assert_cmpuint(boot & 0x20, ==, 0);             /* CMOS RTC present */

    check_gas_byte(f + 116, LAYOUT_ACPI_REGS_BASE + ACPI_REG_RESET);
    g_assert_cmpuint(f[128], ==, ACPI_RESET_VALUE);
    check_gas_byte(f + 244, LAYOUT_ACPI_REGS_BASE + ACPI_REG_SLEEP_CTL);
    check_gas_byte(f + 256, LAYOUT_ACPI_REGS_BASE + ACPI_REG_SLEEP_STS);
    g_assert_cmpmem(f + 268, 4, "VMMD", 4);
}

static void check_madt(const Tables *t)
{
    const uint8_t *m = t->madt;
    uint32_t len = get32(m + 4);
    check_header(m, len, 5);
    g_assert_cmpuint(get32(m + 36), ==, LAYOUT_LAPIC_BASE);
    g_assert_cmpuint(get32(m + 40), ==, 1);           /* PCAT_COMPAT */

    unsigned nr_lapic = 0, nr_ioapic = 0, nr_nmi = 0;
    gboolean seen_irq0 = FALSE, seen_irq9 = FALSE;
    guint8 ioapic_id = 0;
    for (uint32_t off = 44; off < len; ) {
        const uint8_t *e = m + off;
        g_assert_cmpuint(len - off, >=, 2);
        g_assert_cmpuint(e[1], >=, 2);
        g_assert_cmpuint(e[1], <=, len - off);
        switch (e[0]) {
        case 0:   /* Processor Local APIC */
            g_assert_cmpuint(e[1], ==, 8);
            /* ids 0..n-1 in order, boot CPU first */
            g_assert_cmpuint(e[2], ==, nr_lapic);
            g_assert_cmpuint(e[3], ==, nr_lapic);
            g_assert_cmpuint(get32(e + 4), ==, 1);    /* enabled */
            nr_lapic++;
            break;
        case 1:   /* I/O APIC */
            g_assert_cmpuint(e[1], ==, 12);
            ioapic_id = e[2];
            g_assert_cmpuint(get32(e + 4), ==, LAYOUT_IOAPIC_BASE);
            g_assert_cmpuint(get32(e + 8), ==, 0);
            nr_ioapic++;
            break;
        case 2:   /* Interrupt Source Override */
            g_assert_cmpuint(e[1], ==, 10);
            g_assert_cmpuint(e[2], ==, 0);
            if (e[3] == 0) {
                g_assert_cmpuint(get32(e + 4), ==, GSI_PIT);
                g_assert_cmpuint(get16(e + 8), ==, 0);     /* ISA: edge, high */
                seen_irq0 = TRUE;
            } else if (e[3] == GSI_GED) {
                g_assert_cmpuint(get32(e + 4), ==, GSI_GED);
                g_assert_cmpuint(get16(e + 8), ==, 0x000d); /* level, high */
                seen_irq9 = TRUE;
            } else {
                g_error("unexpected override of IRQ %u", e[3]);
            }
            break;
        case 4:   /* Local APIC NMI */
            g_assert_cmpuint(e[1], ==, 6);
            g_assert_cmpuint(e[2], ==, 0xff);
            g_assert_cmpuint(get16(e + 3), ==, 0);
            g_assert_cmpuint(e[5], ==, 1);            /* LINT1 */
            nr_nmi++;
            break;
        default:
            g_error("unexpected MADT entry type %u", e[0]);
        }
        off += e[1];
    }
    g_assert_cmpuint(nr_lapic, ==, t->nr_cpus);
    g_assert_cmpuint(nr_ioapic, ==, 1);
    g_assert_cmpuint(ioapic_id, ==, VMM_ACPI_IOAPIC_ID);
    g_assert_cmpuint(nr_nmi, ==, 1);
    g_assert_true(seen_irq0 && seen_irq9);
}

static void check_mcfg(const Tables *t)
{
    const uint8_t *m = t->mcfg;
    check_header(m, 60, 1);
    g_assert_cmpuint(get64(m + 36), ==, 0);           /* reserved */
    g_assert_cmpuint(get64(m + 44), ==, LAYOUT_ECAM_BASE);
    g_assert_cmpuint(get16(m + 52), ==, 0);
    g_assert_cmpuint(m[54], ==, 0);
    g_assert_cmpuint(m[55], ==, 255);
    g_assert_cmpuint((uint64_t)(m[55] - m[54] + 1) << 20, ==, LAYOUT_ECAM_SIZE);
}

/* ---- DSDT: compiled AML against layout.h ------------------------------- */

/* Compressed EISA id as AML stores it after EisaId(). */
static uint32_t eisa_id(const char *s)
{
    uint32_t v = (uint32_t)(s[0] - 0x40) << 26 | (uint32_t)(s[1] - 0x40) << 21
                 | (uint32_t)(s[2] - 0x40) << 16 | (uint32_t)strtoul(s + 3, NULL, 16);
    /* stored big-endian: swap to the little-endian DWord AML holds */
    return GUINT32_SWAP_LE_BE(v);
}

static void assert_has(const uint8_t *aml, size_t len, const uint8_t *needle, size_t nlen,
                       const char *what)
{
    if (find_bytes(aml, len, needle, nlen) < 0)
        g_error("DSDT: %s not found in the AML", what);
}
#define ASSERT_HAS(aml, len, what, ...) do {                            \
        static const uint8_t n_[] = { __VA_ARGS__ };                    \
        assert_has(aml, len, n_, sizeof(n_), what);                     \
    } while (0)

/* AML PkgLength (ACPI 20.2.4) */
static size_t aml_pkglen(const uint8_t **p)
{
    uint8_t lead = *(*p)++;
    unsigned follow = lead >> 6;
    if (!follow)
        return lead & 0x3f;
    size_t len = lead & 0x0f;
    for (unsigned i = 0; i < follow; i++)
        len |= (size_t)*(*p)++ << (4 + 8 * i);
    return len;
}

/* AML ComputationalData integer: Zero/One/Byte/Word/DWord/QWord const. */
static uint64_t aml_int(const uint8_t **p)
{
    uint8_t op = *(*p)++;
    uint64_t v;
    switch (op) {
    case 0x00: return 0;
    case 0x01: return 1;
    case 0x0a: v = **p; *p += 1; return v;
    case 0x0b: v = get16(*p); *p += 2; return v;
    case 0x0c: v = get32(*p); *p += 4; return v;
    case 0x0e: v = get64(*p); *p += 8; return v;
    default: g_error("AML: 0x%02x is not an integer constant", op);
    }
}

/* Position after "Name(NAME, Package(){" with its element count. */
static const uint8_t *aml_named_package(const uint8_t *aml, size_t len, const char *name,
                                        unsigned *count)
{
    uint8_t needle[6] = { 0x08 };                     /* NameOp */
    memcpy(needle + 1, name, 4);
    needle[5] = 0x12;                                 /* PackageOp */
    gssize at = find_bytes(aml, len, needle, sizeof(needle));
    g_assert_cmpint(at, >=, 0);
    const uint8_t *p = aml + at + sizeof(needle);
    aml_pkglen(&p);
    *count = *p++;
    return p;
}

static void check_dsdt(const Tables *t)
{
    const uint8_t *d = t->dsdt;
    size_t len = get32(d + 4);
    check_header(d, len, 2);                          /* 2: 64-bit integers */

    static const char *const pnp_ids[] = {
        "PNP0A08", "PNP0A03", "PNP0C02", "PNP0501", "PNP0303", "PNP0B00", "PNP0C0C",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(pnp_ids); i++) {
        uint8_t needle[5] = { 0x0c };                 /* DWordConst */
        uint32_t id = eisa_id(pnp_ids[i]);
        memcpy(needle + 1, &id, 4);
        assert_has(d, len, needle, sizeof(needle), pnp_ids[i]);
    }
    ASSERT_HAS(d, len, "ACPI0013", 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '3', 0);

    ASSERT_HAS(d, len, "_CBA = LAYOUT_ECAM_BASE",
               '_', 'C', 'B', 'A', 0x0c, le32_bytes(LAYOUT_ECAM_BASE));
    ASSERT_HAS(d, len, "ECAM motherboard resource",
               0x86, 0x09, 0x00, 0x01, le32_bytes(LAYOUT_ECAM_BASE), le32_bytes(LAYOUT_ECAM_SIZE));
    ASSERT_HAS(d, len, "PCI MMIO window",
               le32_bytes(0), le32_bytes(LAYOUT_PCI_MMIO_BASE),
               le32_bytes(LAYOUT_PCI_MMIO_BASE + LAYOUT_PCI_MMIO_SIZE - 1),
               le32_bytes(0), le32_bytes(LAYOUT_PCI_MMIO_SIZE));
    ASSERT_HAS(d, len, "PCI config ports",
               0x47, 0x01, le16_bytes(PORT_PCI_CONFIG_ADDR), le16_bytes(PORT_PCI_CONFIG_ADDR),
               0x01, 0x08);
    ASSERT_HAS(d, len, "COM1",
               0x47, 0x01, le16_bytes(PORT_COM1), le16_bytes(PORT_COM1), 0x01, 0x08,
               0x22, le16_bytes(1u << GSI_COM1));
    ASSERT_HAS(d, len, "i8042",
               0x47, 0x01, le16_bytes(PORT_I8042_DATA), le16_bytes(PORT_I8042_DATA), 0x01, 0x01,
               0x47, 0x01, le16_bytes(PORT_I8042_CMD), le16_bytes(PORT_I8042_CMD), 0x01, 0x01,
               0x22, le16_bytes(1u << 1));
    ASSERT_HAS(d, len, "RTC",
               0x47, 0x01, le16_bytes(PORT_RTC), le16_bytes(PORT_RTC), 0x01, 0x02,
               0x22, le16_bytes(1u << GSI_RTC));
    /* Extended interrupt: consumer, level, active high, exclusive. */
    ASSERT_HAS(d, len, "GED interrupt",
               0x89, 0x06, 0x00, 0x01, 0x01, le32_bytes(GSI_GED));
    ASSERT_HAS(d, len, "GED OperationRegion",
               0x5b, 0x80, 'E', 'R', 'E', 'G', 0x00, 0x0c, le32_bytes(LAYOUT_GED_BASE),
               0x0a, LAYOUT_GED_SIZE);
    /* _EVT: And(Local0, ACPI_GED_EVT_PWR_DOWN) */
    ASSERT_HAS(d, len, "_EVT power-down test", 0x7b, 0x60, 0x0a, ACPI_GED_EVT_PWR_DOWN);

    unsigned n;
    const uint8_t *p = aml_named_package(d, len, "_S5_", &n);
    g_assert_cmpuint(n, ==, 4);
    g_assert_cmpuint(aml_int(&p), ==, ACPI_SLP_TYP_S5);

    /* _PRT: slot d, pin p -> GSI_PCI_INTX_BASE + ((d + p) & 3), every
     * (slot, pin) exactly once, GSIs only (source 0). */
    p = aml_named_package(d, len, "_PRT", &n);
    g_assert_cmpuint(n, ==, 32 * 4);
    guint8 seen[32][4] = { { 0 } };
    for (unsigned i = 0; i < n; i++) {
        g_assert_cmpuint(*p++, ==, 0x12);
        const uint8_t *end = p;
        size_t plen = aml_pkglen(&p);
        end += plen;
        g_assert_cmpuint(*p++, ==, 4);
        uint64_t addr = aml_int(&p), pin = aml_int(&p), src = aml_int(&p), gsi = aml_int(&p);
        g_assert_true(p == end);
        g_assert_cmpuint(addr & 0xffff, ==, 0xffff);
        uint64_t slot = addr >> 16;
        g_assert_cmpuint(slot, <, 32);
        g_assert_cmpuint(pin, <, 4);
        g_assert_cmpuint(src, ==, 0);
        g_assert_cmpuint(gsi, ==, GSI_PCI_INTX_BASE + ((slot + pin) & 3));
        g_assert_cmpuint(gsi, <, IOAPIC_NR_PINS);
        g_assert_cmpuint(seen[slot][pin]++, ==, 0);
    }
}

/* ---- tests -------------------------------------------------------------- */

static void test_tables(gconstpointer data)
{
    Tables t;
    build(&t, GPOINTER_TO_UINT(data));
    check_fadt(&t);
    check_madt(&t);
    check_mcfg(&t);
    check_dsdt(&t);

    /* Tables must not overlap: each starts after the previous one ends
     * (the builder lays them out in this order). */
    const uint8_t *order[] = { t.rsdp, t.xsdt, t.fadt, t.dsdt, t.madt, t.mcfg };
    for (size_t i = 1; i < G_N_ELEMENTS(order); i++) {
        size_t prev_len = i == 1 ? 36 : get32(order[i - 1] + 4);
        g_assert_true(order[i] >= order[i - 1] + prev_len);
    }
    /* Everything after the tables was zeroed. */
    for (size_t i = t.end; i < t.size; i++)
        g_assert_cmpuint(t.buf[i], ==, 0);
    g_free(t.buf);
}

static void test_too_small(void)
{
    /* Find the exact size the tables need for the largest VM... */
    Tables t;
    build(&t, VMM_ACPI_MAX_CPUS);
    size_t need = t.end;
    g_free(t.buf);

    VmmAcpiConfig cfg = { .nr_cpus = VMM_ACPI_MAX_CPUS };
    uint8_t *buf = g_malloc(need);
    uint64_t rsdp = 0;
    GError *err = NULL;
    g_assert_true(vmm_acpi_build(buf, LAYOUT_ACPI_BASE, need, &cfg, &rsdp, &err));
    g_assert_no_error(err);

    /* ...then one byte less, or much less, fails and touches nothing. */
    size_t sizes[] = { need - 1, 200, 36, 0 };
    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        memset(buf, 0x5a, need);
        rsdp = 0x1234;
        g_assert_false(vmm_acpi_build(buf, LAYOUT_ACPI_BASE, sizes[i], &cfg, &rsdp, &err));
        g_assert_error(err, VMM_ACPI_ERROR, VMM_ACPI_ERROR_NO_SPACE);
        g_test_message("size %zu: %s", sizes[i], err->message);
        g_clear_error(&err);
        g_assert_cmpuint(rsdp, ==, 0x1234);
        for (size_t j = 0; j < need; j++)
            g_assert_cmpuint(buf[j], ==, 0x5a);
    }
    g_free(buf);
}

static void test_invalid(void)
{
    uint8_t *buf = g_malloc0(LAYOUT_ACPI_SIZE);
    uint64_t rsdp = 0;
    GError *err = NULL;

    VmmAcpiConfig none = { .nr_cpus = 0 }, many = { .nr_cpus = VMM_ACPI_MAX_CPUS + 1 };
    VmmAcpiConfig ok = { .nr_cpus = 1 };
    g_assert_false(vmm_acpi_build(buf, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE, &none, &rsdp, &err));
    g_assert_error(err, VMM_ACPI_ERROR, VMM_ACPI_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_false(vmm_acpi_build(buf, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE, &many, &rsdp, &err));
    g_assert_error(err, VMM_ACPI_ERROR, VMM_ACPI_ERROR_INVALID);
    g_clear_error(&err);
    /* The RSDP must be 16-byte aligned in guest-physical terms. */
    g_assert_false(vmm_acpi_build(buf, LAYOUT_ACPI_BASE + 8, LAYOUT_ACPI_SIZE, &ok, &rsdp,
                                  &err));
    g_assert_error(err, VMM_ACPI_ERROR, VMM_ACPI_ERROR_INVALID);
    g_clear_error(&err);
    g_assert_cmpuint(rsdp, ==, 0);
    g_free(buf);
}

/* ---- acpica-tools: independent decoding and execution ------------------ */

/* Runs argv in dir; returns stdout+stderr, failing the test if it does not
 * exit 0. */
static char *run_tool(const char *dir, const char *const *argv)
{
    char *out = NULL, *errout = NULL;
    int status;
    GError *err = NULL;
    g_assert_true(g_spawn_sync(dir, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               &out, &errout, &status, &err));
    g_assert_no_error(err);
    char *all = g_strconcat(out, errout, NULL);
    g_free(out);
    g_free(errout);
    if (!g_spawn_check_wait_status(status, &err)) {
        char *cmd = g_strjoinv(" ", (char **)argv);
        g_error("%s failed (%s):\n%s", cmd, err->message, all);
    }
    return all;
}

static char *write_table(const char *dir, const char *name, const uint8_t *tab)
{
    char *path = g_build_filename(dir, name, NULL);
    GError *err = NULL;
    g_assert_true(g_file_set_contents(path, (const char *)tab, get32(tab + 4), &err));
    g_assert_no_error(err);
    return path;
}

static void assert_no_complaints(const char *what, const char *text)
{
    static const char *const bad[] = {
        "Error", "Warning", "Exception", "Incorrect", "Invalid", "**** ",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        if (strstr(text, bad[i]))
            g_error("%s mentions \"%s\":\n%s", what, bad[i], text);
}

static void rm_rf(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        char *p = g_build_filename(dir, name, NULL);
        g_unlink(p);
        g_free(p);
    }
    if (d)
        g_dir_close(d);
    g_rmdir(dir);
}

static void test_iasl_disassemble(gconstpointer data)
{
    char *iasl = g_find_program_in_path("iasl");
    if (!iasl) {
        g_test_skip("iasl not found (Debian package acpica-tools)");
        return;
    }
    g_free(iasl);

    Tables t;
    build(&t, GPOINTER_TO_UINT(data));
    GError *err = NULL;
    char *dir = g_dir_make_tmp("test-acpi-XXXXXX", &err);
    g_assert_no_error(err);

    /* (iasl cannot read a bare RSDP; the walk above checked it.) */
    struct { const char *file; const uint8_t *tab; const char *expect; } tabs[] = {
        { "xsdt.dat", t.xsdt, "Extended System Description Table" },
        { "facp.dat", t.fadt, "Hardware Reduced (V5) : 1" },
        { "apic.dat", t.madt, "Multiple APIC Description Table" },
        { "mcfg.dat", t.mcfg, "Memory Mapped Configuration" },
        { "dsdt.dat", t.dsdt, "Device (GED)" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(tabs); i++) {
        char *path = write_table(dir, tabs[i].file, tabs[i].tab);
        const char *argv[] = { "iasl", "-vs", "-d", path, NULL };
        char *log = run_tool(dir, argv);
        assert_no_complaints(tabs[i].file, log);

        char *dsl_name = g_strdup(path);
        strcpy(strrchr(dsl_name, '.'), ".dsl");
        char *dsl = NULL;
        g_assert_true(g_file_get_contents(dsl_name, &dsl, NULL, &err));
        g_assert_no_error(err);
        assert_no_complaints(dsl_name, dsl);
        if (!strstr(dsl, tabs[i].expect))
            g_error("%s: \"%s\" missing from the disassembly:\n%s", tabs[i].file,
                    tabs[i].expect, dsl);
        g_free(dsl);
        g_free(dsl_name);
        g_free(log);
        g_free(path);
    }
    rm_rf(dir);
    g_free(dir);
    g_free(t.buf);
}

/* A test-only SSDT that calls into the DSDT the way an OS would. TALL
 * returns 0, or the number of the first failed check. */
static const char test_ssdt_asl[] =
    "DefinitionBlock (\"\", \"SSDT\", 2, \"VMMD  \", \"VMMDTEST\", 1)\n"
    "{\n"
    "    External (\\_SB.PCI0._OSC, MethodObj)\n"
    "    External (\\_SB.PCI0._PRT, PkgObj)\n"
    "    External (\\_SB.PCI0._CBA, IntObj)\n"
    "    External (\\_SB.GED._EVT, MethodObj)\n"
    "    External (\\_SB.GED.ESEL, FieldUnitObj)\n"
    "    External (\\_S5, PkgObj)\n"
    "\n"
    "    Method (TALL, 0, Serialized)\n"
    "    {\n"
    "        Name (PCIU, ToUUID (\"33db4d5b-1ff7-401c-9657-7441c03dd766\"))\n"
    "        Name (BADU, ToUUID (\"0811b06e-4a27-44f9-8d60-3cbbc22e7b48\"))\n"
    "        /* run: support 0x1f, ask for control 0x1d */\n"
    "        Name (B1, Buffer () { 0, 0, 0, 0, 0x1f, 0, 0, 0, 0x1d, 0, 0, 0 })\n"
    "        /* query */\n"
    "        Name (B2, Buffer () { 1, 0, 0, 0, 0x1f, 0, 0, 0, 0x1f, 0, 0, 0 })\n"
    "        Name (B3, Buffer () { 0, 0, 0, 0, 0x1f, 0, 0, 0, 0x1f, 0, 0, 0 })\n"
    "        Name (B4, Buffer () { 0, 0, 0, 0, 0x1f, 0, 0, 0, 0x1f, 0, 0, 0 })\n"
    "\n"
    "        Local0 = \\_SB.PCI0._OSC (PCIU, One, 3, B1)\n"
    "        CreateDWordField (Local0, 0, R1A)\n"
    "        CreateDWordField (Local0, 8, R1C)\n"
    "        If (R1A & 0x1e) { Return (1) }\n"
    "        If (R1C != 0x1d) { Return (2) }\n"
    "        Local0 = \\_SB.PCI0._OSC (PCIU, One, 3, B2)\n"
    "        CreateDWordField (Local0, 0, R2A)\n"
    "        CreateDWordField (Local0, 8, R2C)\n"
    "        If (R2A & 0x1e) { Return (3) }\n"
    "        If (R2C != 0x1f) { Return (4) }\n"
    "        Local0 = \\_SB.PCI0._OSC (BADU, One, 3, B3)\n"
    "        CreateDWordField (Local0, 0, R3A)\n"
    "        If (!(R3A & 0x04)) { Return (5) }\n"
    "        Local0 = \\_SB.PCI0._OSC (PCIU, 2, 3, B4)\n"
    "        CreateDWordField (Local0, 0, R4A)\n"
    "        If (!(R4A & 0x08)) { Return (6) }\n"
    "\n"
    "        If (SizeOf (\\_SB.PCI0._PRT) != 128) { Return (7) }\n"
    "        If (\\_SB.PCI0._CBA != 0x%" G_GINT64_MODIFIER "x) { Return (8) }\n"
    "        If (DerefOf (\\_S5 [0]) != %u) { Return (9) }\n"
    "        Return (0)\n"
    "    }\n"
    "\n"
    "    /* Events other than power-down must not press the button. */\n"
    "    Method (TEV0, 0, NotSerialized)\n"
    "    {\n"
    "        \\_SB.GED.ESEL = 0x%x\n"
    "        \\_SB.GED._EVT (%u)\n"
    "    }\n"
    "\n"
    "    Method (TEV4, 0, NotSerialized)\n"
    "    {\n"
    "        \\_SB.GED.ESEL = 0x%x\n"
    "        \\_SB.GED._EVT (%u)\n"
    "    }\n"
    "}\n";

static void test_acpiexec(void)
{
    char *iasl = g_find_program_in_path("iasl");
    char *acpiexec = g_find_program_in_path("acpiexec");
    gboolean have = iasl && acpiexec;
    g_free(iasl);
    g_free(acpiexec);
    if (!have) {
        g_test_skip("iasl/acpiexec not found (Debian package acpica-tools)");
        return;
    }

    Tables t;
    build(&t, 4);
    GError *err = NULL;
    char *dir = g_dir_make_tmp("test-acpi-XXXXXX", &err);
    g_assert_no_error(err);

    char *asl = g_strdup_printf(test_ssdt_asl, (guint64)LAYOUT_ECAM_BASE, ACPI_SLP_TYP_S5,
                                ~ACPI_GED_EVT_PWR_DOWN & 0xffu, GSI_GED,
                                ACPI_GED_EVT_PWR_DOWN, GSI_GED);
    char *asl_path = g_build_filename(dir, "test.asl", NULL);
    g_assert_true(g_file_set_contents(asl_path, asl, -1, &err));
    g_assert_no_error(err);
    const char *iasl_argv[] = { "iasl", "-vs", "-p", "test", asl_path, NULL };
    g_free(run_tool(dir, iasl_argv));

    /* acpiexec makes its own RSDP/XSDT and points them at these. */
    char *facp = write_table(dir, "facp.dat", t.fadt);
    char *dsdt = write_table(dir, "dsdt.dat", t.dsdt);
    char *apic = write_table(dir, "apic.dat", t.madt);
    char *mcfg = write_table(dir, "mcfg.dat", t.mcfg);
    const char *argv[] = {
        "acpiexec", "-b", "evaluate \\TALL; evaluate \\TEV0; evaluate \\TEV4",
        facp, dsdt, apic, mcfg, "test.aml", NULL,
    };
    char *out = run_tool(dir, argv);
    assert_no_complaints("acpiexec", out);

    const char *all = strstr(out, "Evaluation of \\TALL returned");
    g_assert_nonnull(all);
    if (!g_str_has_prefix(strchr(all, '\n') + 1, "  [Integer] = 0000000000000000"))
        g_error("\\TALL failed a check:\n%s", out);

    /* The power button is notified once, by the power-down event only. */
    const char *tev4 = strstr(out, "Evaluating \\TEV4");
    g_assert_nonnull(tev4);
    const char *notify = strstr(out, "Notify on [PWRB]");
    g_assert_nonnull(notify);
    g_assert_true(notify > tev4);
    g_assert_nonnull(strstr(notify, "Value 0x80"));
    g_assert_null(strstr(notify + 1, "Notify on"));

    g_free(out);
    g_free(facp);
    g_free(dsdt);
    g_free(apic);
    g_free(mcfg);
    g_free(asl_path);
    g_free(asl);
    rm_rf(dir);
    g_free(dir);
    g_free(t.buf);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    static const unsigned cpus[] = { 1, 2, 64, VMM_ACPI_MAX_CPUS };
    for (size_t i = 0; i < G_N_ELEMENTS(cpus); i++) {
        char *name = g_strdup_printf("/acpi/tables/%u-cpus", cpus[i]);
        g_test_add_data_func(name, GUINT_TO_POINTER(cpus[i]), test_tables);
        g_free(name);
    }
    g_test_add_func("/acpi/too-small", test_too_small);
    g_test_add_func("/acpi/invalid", test_invalid);
    g_test_add_data_func("/acpi/iasl-disassemble/1-cpus", GUINT_TO_POINTER(1),
                         test_iasl_disassemble);
    g_test_add_data_func("/acpi/iasl-disassemble/255-cpus",
                         GUINT_TO_POINTER(VMM_ACPI_MAX_CPUS), test_iasl_disassemble);
    g_test_add_func("/acpi/acpiexec", test_acpiexec);
    return g_test_run();
}
