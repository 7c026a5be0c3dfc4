/* Boot information from the loader: PVH hvm_start_info or Linux boot_params.
 * Copied out at once, so low memory can be reused (AP trampoline). */
#include "lib.h"

#define PVH_MAGIC 0x336ec578

struct bootinfo boot;

static const char *const kind_names[] = {
	[BOOT_PVH] = "pvh", [BOOT_LINUX64] = "linux64",
	[BOOT_BZIMAGE] = "bzimage", [BOOT_BZIMAGE32] = "bzimage32",
};

static bool addr_ok(u64 p) { return p && p < 0x100000000ull; }

static void copy_cmdline(u64 p)
{
	size_t i = 0;
	if (addr_ok(p))
		for (const char *s = (const char *)p; i < sizeof(boot.cmdline) - 1 && s[i]; i++)
			boot.cmdline[i] = s[i];
	boot.cmdline[i] = 0;
}

static void add_range(u64 addr, u64 size, u32 type)
{
	if (size && boot.nmap < (int)ARRAY_SIZE(boot.map))
		boot.map[boot.nmap++] = (struct e820){ addr, size, type };
}

void boot_parse(int kind, u64 info)
{
	boot.kind = kind;
	boot.kind_name = kind > 0 && kind < (int)ARRAY_SIZE(kind_names) ? kind_names[kind] : "unknown";
	if (!addr_ok(info))
		return;
	const u8 *p = (const u8 *)info;
	if (kind == BOOT_PVH) {
		/* struct hvm_start_info */
		if (rd32(p) != PVH_MAGIC)
			return;
		boot.valid = true;
		copy_cmdline(rd64(p + 24));
		boot.rsdp = rd64(p + 32);
		if (rd32(p + 4) >= 1 && addr_ok(rd64(p + 40))) {
			const u8 *m = (const u8 *)rd64(p + 40);
			for (u32 i = 0; i < rd32(p + 48); i++, m += 24)
				add_range(rd64(m), rd64(m + 8), rd32(m + 16));
		}
	} else {
		/* struct boot_params (zero page) */
		boot.valid = true;
		copy_cmdline(rd32(p + 0x228) | (u64)rd32(p + 0x0c8) << 32);
		boot.rsdp = rd64(p + 0x070);
		const u8 *m = p + 0x2d0;
		for (u32 i = 0; i < p[0x1e8] && i < 128; i++, m += 20)
			add_range(rd64(m), rd64(m + 8), rd32(m + 16));
	}
}

u64 ram_usable_bytes(void)
{
	u64 sum = 0;
	for (int i = 0; i < boot.nmap; i++)
		if (boot.map[i].type == 1)
			sum += boot.map[i].size;
	return sum;
}

/* The page tables are ordinary User-mapped memory: CPL3 fills the entries
 * for 4 GiB..top itself, CPL0 only reloads CR3. */
extern u64 pdpt[512];
extern u64 high_pd[60][512];

void map_high(u64 top)
{
	u32 r[4];
	bool gb = false;
	u64 gib = (top + (1ull << 30) - 1) >> 30;

	if (gib <= 4)
		return;
	cpuid(0x80000000, 0, r);
	if (r[0] >= 0x80000001) {
		cpuid(0x80000001, 0, r);
		gb = r[3] & (1u << 26);			/* pdpe1gb */
	}
	if (gib > (gb ? 512 : 64))
		gib = gb ? 512 : 64;
	for (u64 g = 4; g < gib; g++) {
		if (gb) {
			pdpt[g] = (g << 30) | 0x87;	/* P | RW | U | PS */
		} else {
			for (u64 i = 0; i < 512; i++)
				high_pd[g - 4][i] = (g << 30) + (i << 21) + 0x87;
			pdpt[g] = (u64)high_pd[g - 4] | 7;
		}
	}
	sys_flush_tlb();
}

/* "test=hello key=value": value of key, or NULL */
const char *cmdline_get(const char *key, char *buf, size_t n)
{
	size_t kl = strlen(key);
	const char *s = boot.cmdline;
	while (*s) {
		while (*s == ' ')
			s++;
		const char *tok = s;
		while (*s && *s != ' ')
			s++;
		if ((size_t)(s - tok) > kl && !strncmp(tok, key, kl) && tok[kl] == '=') {
			size_t vl = s - tok - kl - 1;
			if (vl >= n)
				vl = n - 1;
			memcpy(buf, tok + kl + 1, vl);
			buf[vl] = 0;
			return buf;
		}
	}
	return NULL;
}

u64 cmdline_u64(const char *key, u64 dflt)
{
	char v[32];
	return cmdline_get(key, v, sizeof(v)) ? strtou64(v, NULL) : dflt;
}
