#include "vmm/boot.h"
#include "util/sandbox.h"
#include "util/log.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BOOT_ERROR (g_quark_from_static_string("vmm-boot-error"))

/* struct boot_params (zero page) offsets, Documentation/arch/x86/zero-page.rst */
#define ZP_ACPI_RSDP_ADDR   0x070
#define ZP_EXT_RAMDISK_IMG  0x0c0
#define ZP_EXT_RAMDISK_SIZE 0x0c4
#define ZP_EXT_CMD_LINE_PTR 0x0c8
#define ZP_E820_ENTRIES     0x1e8
#define ZP_HDR              0x1f1
#define ZP_E820_TABLE       0x2d0
#define ZP_E820_MAX         128
/* setup header fields (absolute offsets in the zero page / bzImage) */
#define HDR_SETUP_SECTS     0x1f1
#define HDR_BOOT_FLAG       0x1fe
#define HDR_JUMP            0x200
#define HDR_MAGIC           0x202
#define HDR_VERSION         0x206
#define HDR_TYPE_OF_LOADER  0x210
#define HDR_LOADFLAGS       0x211
#define HDR_CODE32_START    0x214
#define HDR_RAMDISK_IMAGE   0x218
#define HDR_RAMDISK_SIZE    0x21c
#define HDR_HEAP_END_PTR    0x224
#define HDR_CMD_LINE_PTR    0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGN    0x230
#define HDR_RELOCATABLE     0x234
#define HDR_XLOADFLAGS      0x236
#define HDR_CMDLINE_SIZE    0x238
#define HDR_PREF_ADDRESS    0x258
#define HDR_INIT_SIZE       0x260
#define XLF_KERNEL_64       0x1
#define LOADED_HIGH         0x1
#define CAN_USE_HEAP        0x80

/* PVH, xen/include/public/arch-x86/hvm/start_info.h */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC     0x336ec578
#define LAYOUT_PVH_MODLIST  0x00006f00ULL
#define E820_RAM      1
#define E820_RESERVED 2

typedef struct {
    uint64_t addr, size;
    uint32_t type;
} E820;

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* A kernel or initrd being loaded. Its contents go from the file straight
 * into guest RAM (pread), never through a buffer of its size: a worker
 * that read a 10 MiB bzImage into its heap first would carry those
 * 10 MiB in its peak memory for the guest's whole life. */
typedef struct {
    const char *what, *path;
    int fd;
    uint64_t size;
    uint8_t head[4096];     /* the first bytes: ELF and bzImage headers */
    size_t head_len;
} BootFile;

static void boot_file_close(BootFile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

static bool boot_file_read(BootFile *f, uint64_t off, void *dst, uint64_t len, GError **err)
{
    uint64_t done = 0;
    while (done < len) {
        ssize_t n = pread(f->fd, (uint8_t *)dst + done, MIN(len - done, (uint64_t)1 << 30),
                          off + done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            g_set_error(err, BOOT_ERROR, 0, "cannot read %s '%s': %s", f->what, f->path,
                        n < 0 ? g_strerror(errno) : "file shrank while reading");
            return false;
        }
        done += n;
    }
    return true;
}

/* Opens a regular file of at most max bytes and reads its head. */
static bool boot_file_open(BootFile *f, const char *what, const char *path, uint64_t max,
                           GError **err)
{
    *f = (BootFile){ .what = what, .path = path };
    f->fd = vmm_sandbox_open(path, O_RDONLY | O_CLOEXEC, 0);
    struct stat st;
    if (f->fd < 0 || fstat(f->fd, &st) < 0) {
        g_set_error(err, BOOT_ERROR, 0, "cannot open %s '%s': %s", what, path,
                    g_strerror(errno));
        boot_file_close(f);
        return false;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        g_set_error(err, BOOT_ERROR, 0, "%s '%s' is not a regular file", what, path);
        boot_file_close(f);
        return false;
    }
    if ((uint64_t)st.st_size > max) {
        g_set_error(err, BOOT_ERROR, 0,
                    "%s '%s' is %" G_GINT64_FORMAT " bytes, larger than the guest's "
                    "memory allows (%" G_GUINT64_FORMAT " bytes)",
                    what, path, (gint64)st.st_size, max);
        boot_file_close(f);
        return false;
    }
    f->size = st.st_size;
    f->head_len = MIN(f->size, sizeof(f->head));
    if (!boot_file_read(f, 0, f->head, f->head_len, err)) {
        boot_file_close(f);
        return false;
    }
    return true;
}

/* The host address of guest RAM [gpa, gpa + len), or an error naming what
 * was to go there. */
static uint8_t *guest_dest(VmmVm *vm, uint64_t gpa, uint64_t len, const char *what,
                           GError **err)
{
    uint8_t *dst = len ? vmm_vm_gpa_to_hva(vm, gpa, len) : NULL;
    if (len && !dst)
        g_set_error(err, BOOT_ERROR, 0,
                    "%s does not fit in guest RAM: needs 0x%" G_GINT64_MODIFIER
                    "x-0x%" G_GINT64_MODIFIER "x but RAM is %" G_GUINT64_FORMAT " MiB",
                    what, gpa, gpa + len - 1, vm->ram_size >> 20);
    return dst;
}

/* Copies into guest RAM after checking the destination is RAM. */
static bool guest_copy(VmmVm *vm, uint64_t gpa, const void *src, uint64_t len,
                       const char *what, GError **err)
{
    uint8_t *dst = guest_dest(vm, gpa, len, what, err);
    if (len && !dst)
        return false;
    if (len)
        memcpy(dst, src, len);
    return true;
}

/* Reads len bytes of the file at off into guest RAM at gpa and zeroes the
 * rest up to zero_len (a segment's bss, a bzImage's init_size). */
static bool guest_load(VmmVm *vm, BootFile *f, uint64_t gpa, uint64_t off, uint64_t len,
                       uint64_t zero_len, const char *what, GError **err)
{
    uint64_t total = MAX(len, zero_len);
    uint8_t *dst = guest_dest(vm, gpa, total, what, err);
    if (total && !dst)
        return false;
    if (len && !boot_file_read(f, off, dst, len, err))
        return false;
    if (zero_len > len)
        memset(dst + len, 0, zero_len - len);
    return true;
}

/* ---- ELF ------------------------------------------------------------- */

static bool is_elf64(const BootFile *f)
{
    return f->head_len >= sizeof(Elf64_Ehdr) && memcmp(f->head, ELFMAG, SELFMAG) == 0;
}

/* An ELF note segment larger than this is not a kernel's. */
#define ELF_NOTES_MAX (1u << 20)

/* Finds Xen's PHYS32_ENTRY (the PVH entry point) among the notes. */
static void find_pvh_note(const uint8_t *p, const uint8_t *end, uint64_t *pvh_entry)
{
    while (end - p >= 12) {
        uint32_t namesz = get32(p), descsz = get32(p + 4), type = get32(p + 8);
        uint64_t nlen = ((uint64_t)namesz + 3) & ~3ULL;
        uint64_t dlen = ((uint64_t)descsz + 3) & ~3ULL;
        if (nlen + dlen > (uint64_t)(end - p - 12))
            break;
        const uint8_t *name = p + 12, *desc = name + nlen;
        if (namesz == 4 && memcmp(name, "Xen", 4) == 0 &&
            type == XEN_ELFNOTE_PHYS32_ENTRY && (descsz == 4 || descsz == 8))
            *pvh_entry = get32(desc);
        p = desc + dlen;
    }
}

/* Loads PT_LOAD segments; finds the PVH entry note if there is one. */
static bool load_elf(VmmVm *vm, BootFile *f, uint64_t *entry, uint64_t *pvh_entry,
                     uint64_t *kernel_end, GError **err)
{
    const char *path = f->path;
    uint64_t n = f->size;
    Elf64_Ehdr eh;
    memcpy(&eh, f->head, sizeof(eh));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
        eh.e_machine != EM_X86_64 || eh.e_type != ET_EXEC) {
        g_set_error(err, BOOT_ERROR, 0,
                    "kernel '%s' is an ELF file but not a 64-bit x86-64 executable", path);
        return false;
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > n ||
        (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > n - eh.e_phoff) {
        g_set_error(err, BOOT_ERROR, 0, "kernel '%s': ELF program headers are truncated "
                    "or malformed", path);
        return false;
    }
    g_autofree Elf64_Phdr *phs = g_new(Elf64_Phdr, eh.e_phnum);
    if (!boot_file_read(f, eh.e_phoff, phs, (uint64_t)eh.e_phnum * sizeof(*phs), err))
        return false;
    *entry = eh.e_entry;
    *pvh_entry = 0;
    *kernel_end = 0;
    unsigned loaded = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        const Elf64_Phdr *ph = &phs[i];
        if (ph->p_offset > n || ph->p_filesz > n - ph->p_offset) {
            g_set_error(err, BOOT_ERROR, 0, "kernel '%s': segment %u lies outside the file",
                        path, i);
            return false;
        }
        if (ph->p_type == PT_LOAD) {
            if (ph->p_filesz > ph->p_memsz || ph->p_paddr < LAYOUT_HIGH_MEM) {
                g_set_error(err, BOOT_ERROR, 0,
                            "kernel '%s': segment %u at 0x%" G_GINT64_MODIFIER "x is "
                            "malformed or below 1 MiB", path, i, (guint64)ph->p_paddr);
                return false;
            }
            g_autofree char *what = g_strdup_printf("kernel '%s' segment %u", path, i);
            if (!guest_load(vm, f, ph->p_paddr, ph->p_offset, ph->p_filesz, ph->p_memsz,
                            what, err))
                return false;
            *kernel_end = MAX(*kernel_end, ph->p_paddr + ph->p_memsz);
            loaded++;
        } else if (ph->p_type == PT_NOTE) {
            if (ph->p_filesz > ELF_NOTES_MAX) {
                g_set_error(err, BOOT_ERROR, 0, "kernel '%s': note segment %u is %"
                            G_GUINT64_FORMAT " bytes (at most %u)", path, i,
                            (guint64)ph->p_filesz, ELF_NOTES_MAX);
                return false;
            }
            g_autofree uint8_t *notes = g_malloc(ph->p_filesz + 1);
            if (!boot_file_read(f, ph->p_offset, notes, ph->p_filesz, err))
                return false;
            find_pvh_note(notes, notes + ph->p_filesz, pvh_entry);
        }
    }
    if (!loaded) {
        g_set_error(err, BOOT_ERROR, 0, "kernel '%s' has no loadable segments", path);
        return false;
    }
    return true;
}

/* ---- bzImage --------------------------------------------------------- */

static bool is_bzimage(const BootFile *f)
{
    const uint8_t *d = f->head;
    return f->head_len > HDR_INIT_SIZE + 4 && get16(d + HDR_BOOT_FLAG) == 0xaa55 &&
           memcmp(d + HDR_MAGIC, "HdrS", 4) == 0;
}

static bool load_bzimage(VmmVm *vm, BootFile *f, uint8_t *zp, uint64_t *entry,
                         uint64_t *kernel_end, GError **err)
{
    const char *path = f->path;
    const uint8_t *d = f->head;
    uint64_t n = f->size;
    uint16_t version = get16(d + HDR_VERSION);
    if (version < 0x020c || !(get16(d + HDR_XLOADFLAGS) & XLF_KERNEL_64)) {
        g_set_error(err, BOOT_ERROR, 0,
                    "kernel '%s' is a bzImage without the 64-bit entry point (boot protocol "
                    "%u.%02u, needs 2.12+ with XLF_KERNEL_64)", path, version >> 8,
                    version & 0xff);
        return false;
    }
    unsigned setup_sects = d[HDR_SETUP_SECTS] ? d[HDR_SETUP_SECTS] : 4;
    uint64_t kofs = (uint64_t)(setup_sects + 1) * 512;
    if (kofs >= n) {
        g_set_error(err, BOOT_ERROR, 0, "kernel '%s': bzImage is truncated", path);
        return false;
    }
    uint64_t load = LAYOUT_HIGH_MEM;
    uint64_t pref = 0;
    memcpy(&pref, d + HDR_PREF_ADDRESS, 8);
    if (pref >= LAYOUT_HIGH_MEM && pref < LAYOUT_LOWMEM_END)
        load = pref;
    uint32_t init_size = get32(d + HDR_INIT_SIZE);
    uint64_t zero_len = MAX((uint64_t)init_size, n - kofs);
    if (!guest_load(vm, f, load, kofs, n - kofs, zero_len, "bzImage kernel", err))
        return false;
    /* The setup header travels in the zero page: from 0x1f1 to the end
     * the header's jump instruction says. */
    size_t hdr_end = MIN(0x202 + (size_t)d[HDR_JUMP + 1], (size_t)0x1000);
    hdr_end = MIN(hdr_end, f->head_len);
    memcpy(zp + ZP_HDR, d + ZP_HDR, hdr_end - ZP_HDR);
    put32(zp + HDR_CODE32_START, load);
    *entry = load + 0x200;   /* 64-bit entry: startup_64 */
    *kernel_end = load + zero_len;
    return true;
}

/* ---- memory map ------------------------------------------------------ */

static unsigned build_e820(VmmVm *vm, E820 *e)
{
    unsigned n = 0;
    e[n++] = (E820){ 0, LAYOUT_EBDA_START, E820_RAM };
    e[n++] = (E820){ LAYOUT_EBDA_START, 0xa0000 - LAYOUT_EBDA_START, E820_RESERVED };
    e[n++] = (E820){ LAYOUT_ACPI_BASE, LAYOUT_HIGH_MEM - LAYOUT_ACPI_BASE, E820_RESERVED };
    e[n++] = (E820){ LAYOUT_HIGH_MEM, vm->lowmem_size - LAYOUT_HIGH_MEM, E820_RAM };
    /* MMCONFIG must be reserved for Linux to trust the MCFG table. */
    e[n++] = (E820){ LAYOUT_ECAM_BASE, LAYOUT_ECAM_SIZE, E820_RESERVED };
    if (vm->highmem_size)
        e[n++] = (E820){ LAYOUT_HIGHMEM_START, vm->highmem_size, E820_RAM };
    return n;
}

void vmm_boot_setup_tables(VmmVm *vm)
{
    /* GDT: flat 32-bit code (PVH), 64-bit code, data, and a TSS slot. */
    uint64_t *gdt = vmm_vm_gpa_to_hva(vm, LAYOUT_BOOT_GDT, 6 * 8);
    gdt[0] = 0;
    gdt[1] = 0x00cf9b000000ffffULL;   /* code32: base 0, 4 GiB, exec/read */
    gdt[2] = 0x00af9b000000ffffULL;   /* code64: L=1 */
    gdt[3] = 0x00cf93000000ffffULL;   /* data: read/write */
    gdt[4] = 0x00008b0000000067ULL;   /* TSS (busy), base 0 */
    gdt[5] = 0;
    memset(vmm_vm_gpa_to_hva(vm, LAYOUT_BOOT_IDT, 8), 0, 8);
    /* Identity map 0-4 GiB with 2 MiB pages: enough for any kernel and the
     * boot data below 4 GiB; the kernel builds its own tables. */
    uint64_t *pml4 = vmm_vm_gpa_to_hva(vm, LAYOUT_PML4, 4096);
    uint64_t *pdpt = vmm_vm_gpa_to_hva(vm, LAYOUT_PDPT, 4096);
    uint64_t *pd = vmm_vm_gpa_to_hva(vm, LAYOUT_PD, 4 * 4096);
    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    pml4[0] = LAYOUT_PDPT | 0x3;
    for (unsigned i = 0; i < 4; i++)
        pdpt[i] = (LAYOUT_PD + i * 4096) | 0x3;
    for (unsigned i = 0; i < 4 * 512; i++)
        pd[i] = ((uint64_t)i << 21) | 0x83;  /* present, writable, 2 MiB */
}

/* Places the initrd as high as possible below its limit, page aligned. */
static bool load_initrd(VmmVm *vm, const char *path, uint64_t kernel_end, uint64_t limit,
                        uint64_t *addr, uint64_t *size, GError **err)
{
    BootFile f;
    if (!boot_file_open(&f, "initrd", path, vm->lowmem_size, err))
        return false;
    uint64_t len = f.size;
    uint64_t top = MIN(vm->lowmem_size, limit + 1);
    if (len > top || ((top - len) & ~0xfffULL) < kernel_end) {
        g_set_error(err, BOOT_ERROR, 0,
                    "initrd '%s' (%" G_GUINT64_FORMAT " bytes) does not fit in guest RAM "
                    "above the kernel (%" G_GUINT64_FORMAT " MiB of low memory)", path, len,
                    vm->lowmem_size >> 20);
        boot_file_close(&f);
        return false;
    }
    *addr = (top - len) & ~0xfffULL;
    *size = len;
    bool ok = guest_load(vm, &f, *addr, 0, len, 0, "initrd", err);
    boot_file_close(&f);
    return ok;
}

/* Loads the opened kernel (and the initrd) and fills in the boot state. */
static bool load_kernel(VmmVm *vm, BootFile *k, const char *protocol, VmmBootState *out,
                        GError **err)
{
    const VmmDomainDef *def = vm->def;
    const char *cmdline = def->cmdline ? def->cmdline : "";
    size_t cmdlen = strlen(cmdline);

    uint8_t *zp = vmm_vm_gpa_to_hva(vm, LAYOUT_ZERO_PAGE, 4096);
    memset(zp, 0, 4096);
    uint64_t entry = 0, pvh_entry = 0, kernel_end = 0;
    uint64_t initrd_max = 0x37ffffff;
    const char *format;
    if (is_elf64(k)) {
        if (!load_elf(vm, k, &entry, &pvh_entry, &kernel_end, err))
            return false;
        format = "vmlinux";
    } else if (is_bzimage(k)) {
        if (!strcmp(protocol, "pvh")) {
            g_set_error(err, BOOT_ERROR, 0, "kernel '%s' is a bzImage; PVH boot needs an "
                        "ELF kernel with a PVH note", def->kernel);
            return false;
        }
        if (!load_bzimage(vm, k, zp, &entry, &kernel_end, err))
            return false;
        if (get16(zp + HDR_VERSION) >= 0x0203 && get32(zp + HDR_INITRD_ADDR_MAX))
            initrd_max = get32(zp + HDR_INITRD_ADDR_MAX);
        format = "bzImage";
    } else {
        g_set_error(err, BOOT_ERROR, 0,
                    "kernel '%s' is neither an ELF64 x86-64 executable (vmlinux) nor a "
                    "bzImage", def->kernel);
        return false;
    }

    bool pvh = !strcmp(protocol, "pvh") || (!strcmp(protocol, "auto") && pvh_entry);
    if (pvh && !pvh_entry) {
        g_set_error(err, BOOT_ERROR, 0, "kernel '%s' has no PVH entry note "
                    "(XEN_ELFNOTE_PHYS32_ENTRY)", def->kernel);
        return false;
    }
    if (!guest_copy(vm, LAYOUT_CMDLINE, cmdline, cmdlen + 1, "command line", err))
        return false;

    uint64_t initrd_addr = 0, initrd_size = 0;
    if (def->initrd && !load_initrd(vm, def->initrd, kernel_end, initrd_max, &initrd_addr,
                                    &initrd_size, err))
        return false;

    E820 e820[8];
    unsigned ne = build_e820(vm, e820);
    vmm_boot_setup_tables(vm);

    if (pvh) {
        /* The note is only a number: a vCPU started outside RAM dies with
         * no word of why, so say it here. */
        if (!vmm_vm_gpa_to_hva(vm, pvh_entry, 1)) {
            g_set_error(err, BOOT_ERROR, 0, "kernel '%s': PVH entry point 0x%" G_GINT64_MODIFIER
                        "x is not in guest RAM", def->kernel, pvh_entry);
            return false;
        }
        /* hvm_start_info + memmap + one module for the initrd. */
        uint8_t *si = vmm_vm_gpa_to_hva(vm, LAYOUT_PVH_START_INFO, 0x1000);
        uint8_t *mm = vmm_vm_gpa_to_hva(vm, LAYOUT_PVH_MEMMAP, ne * 24);
        uint8_t *ml = vmm_vm_gpa_to_hva(vm, LAYOUT_PVH_MODLIST, 32);
        if (!si || !mm || !ml) {
            g_set_error(err, BOOT_ERROR, 0, "guest RAM is too small for the PVH start info "
                        "of kernel '%s'", def->kernel);
            return false;
        }
        memset(si, 0, 0x1000);
        put32(si + 0, HVM_START_MAGIC);
        put32(si + 4, 1);                        /* version */
        put32(si + 8, 0);                        /* flags */
        put32(si + 12, initrd_size ? 1 : 0);     /* nr_modules */
        put64(si + 16, initrd_size ? LAYOUT_PVH_MODLIST : 0);
        put64(si + 24, LAYOUT_CMDLINE);
        put64(si + 32, vm->rsdp_gpa);
        put64(si + 40, LAYOUT_PVH_MEMMAP);
        put32(si + 48, ne);
        for (unsigned i = 0; i < ne; i++) {
            put64(mm + i * 24, e820[i].addr);
            put64(mm + i * 24 + 8, e820[i].size);
            put32(mm + i * 24 + 16, e820[i].type);
            put32(mm + i * 24 + 20, 0);
        }
        if (initrd_size) {
            memset(ml, 0, 32);
            put64(ml, initrd_addr);
            put64(ml + 8, initrd_size);
        }
        *out = (VmmBootState){ VMM_BOOT_PVH, pvh_entry, LAYOUT_PVH_START_INFO, "pvh" };
        return true;
    }

    if (strcmp(format, "bzImage") != 0) {
        /* vmlinux has no setup header: write the fields a loader provides. */
        put16(zp + HDR_BOOT_FLAG, 0xaa55);
        memcpy(zp + HDR_MAGIC, "HdrS", 4);
        put16(zp + HDR_VERSION, 0x020f);
        put32(zp + HDR_KERNEL_ALIGN, 0x01000000);
    }
    zp[HDR_TYPE_OF_LOADER] = 0xff;
    zp[HDR_LOADFLAGS] |= LOADED_HIGH | CAN_USE_HEAP;
    put16(zp + HDR_HEAP_END_PTR, 0xfe00);
    put32(zp + HDR_CMD_LINE_PTR, LAYOUT_CMDLINE);
    put32(zp + ZP_EXT_CMD_LINE_PTR, 0);
    put32(zp + HDR_CMDLINE_SIZE, LAYOUT_CMDLINE_MAX - 1);
    put32(zp + HDR_RAMDISK_IMAGE, initrd_addr);
    put32(zp + HDR_RAMDISK_SIZE, initrd_size);
    put32(zp + ZP_EXT_RAMDISK_IMG, 0);
    put32(zp + ZP_EXT_RAMDISK_SIZE, 0);
    put64(zp + ZP_ACPI_RSDP_ADDR, vm->rsdp_gpa);
    zp[ZP_E820_ENTRIES] = ne;
    for (unsigned i = 0; i < ne; i++) {
        uint8_t *p = zp + ZP_E820_TABLE + i * 20;
        put64(p, e820[i].addr);
        put64(p + 8, e820[i].size);
        put32(p + 16, e820[i].type);
    }
    if (entry < LAYOUT_HIGH_MEM || !vmm_vm_gpa_to_hva(vm, entry, 1)) {
        g_set_error(err, BOOT_ERROR, 0, "kernel '%s': entry point 0x%" G_GINT64_MODIFIER
                    "x is not in guest RAM", def->kernel, entry);
        return false;
    }
    *out = (VmmBootState){ VMM_BOOT_LINUX64, entry, LAYOUT_ZERO_PAGE, format };
    return true;
}

bool vmm_boot_load(VmmVm *vm, const char *protocol, VmmBootState *out, GError **err)
{
    const VmmDomainDef *def = vm->def;
    if (!protocol)
        protocol = "auto";
    if (strcmp(protocol, "auto") && strcmp(protocol, "linux") && strcmp(protocol, "pvh")) {
        g_set_error(err, BOOT_ERROR, 0, "unknown boot protocol '%s' (auto, linux or pvh)",
                    protocol);
        return false;
    }
    const char *cmdline = def->cmdline ? def->cmdline : "";
    size_t cmdlen = strlen(cmdline);
    if (cmdlen >= LAYOUT_CMDLINE_MAX) {
        g_set_error(err, BOOT_ERROR, 0, "kernel command line is %zu bytes; at most %d fit",
                    cmdlen, LAYOUT_CMDLINE_MAX - 1);
        return false;
    }
    BootFile k;
    if (!boot_file_open(&k, "kernel", def->kernel, vm->lowmem_size, err))
        return false;
    bool ok = load_kernel(vm, &k, protocol, out, err);
    boot_file_close(&k);
    return ok;
}

