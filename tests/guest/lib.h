/* CPL3 runtime of the guest kit: types, hardware access, libc-like helpers,
 * output protocol. Everything here runs at CPL3 with IOPL=3. */
#ifndef GK_LIB_H
#define GK_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gk.h"

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define FMT(a, b) __attribute__((format(printf, a, b)))
#define NORETURN __attribute__((noreturn))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* --- port I/O (IOPL=3) and MMIO (identity mapped, User pages) ---------- */
static inline void outb(u16 p, u8 v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outw(u16 p, u16 v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outl(u16 p, u32 v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }
static inline u8 inb(u16 p) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline u16 inw(u16 p) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline u32 inl(u16 p) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }

static inline u8 mmio_read8(u64 a) { return *(volatile u8 *)a; }
static inline u16 mmio_read16(u64 a) { return *(volatile u16 *)a; }
static inline u32 mmio_read32(u64 a) { return *(volatile u32 *)a; }
static inline void mmio_write8(u64 a, u8 v) { *(volatile u8 *)a = v; }
static inline void mmio_write16(u64 a, u16 v) { *(volatile u16 *)a = v; }
static inline void mmio_write32(u64 a, u32 v) { *(volatile u32 *)a = v; }

/* unaligned little-endian reads of firmware structures */
static inline u16 rd16(const void *p) { u16 v; __builtin_memcpy(&v, p, 2); return v; }
static inline u32 rd32(const void *p) { u32 v; __builtin_memcpy(&v, p, 4); return v; }
static inline u64 rd64(const void *p) { u64 v; __builtin_memcpy(&v, p, 8); return v; }

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

/* CPUID through CPL0: on PVM a CPL3 CPUID runs natively on the host CPU
 * (no CPUID faulting), so it would report the host's APIC id and features
 * instead of the vCPU's. At CPL0 the hypervisor emulates it. */
static inline void cpuid(u32 leaf, u32 sub, u32 r[4])
{
	u64 a = SYS_CPUID, b, c, d;
	__asm__ volatile("int3" : "+a"(a), "=b"(b), "=c"(c), "=d"(d)
			 : "D"((u64)leaf), "S"((u64)sub) : "memory");
	r[0] = (u32)a;
	r[1] = (u32)b;
	r[2] = (u32)c;
	r[3] = (u32)d;
}

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

/* --- int3 system calls into the CPL0 side (isr.S) ----------------------- */
static inline void sys_wait(volatile void *p, u64 v)
{
	u64 nr = SYS_WAIT;
	__asm__ volatile("int3" : "+a"(nr) : "D"(p), "S"(v) : "memory");
}
static inline void sys_flush_tlb(void)
{
	u64 nr = SYS_FLUSH_TLB;
	__asm__ volatile("int3" : "+a"(nr) :: "memory");
}
static inline void sys_spin(u64 n, u64 fn)
{
	u64 nr = SYS_SPIN;
	__asm__ volatile("int3" : "+a"(nr), "+D"(n), "+S"(fn) :: "memory");
}
static inline NORETURN void sys_reset(void)
{
	__asm__ volatile("int3" :: "a"((u64)SYS_RESET) : "memory");
	__builtin_unreachable();
}

/* --- spinlock (xchg works at CPL3) --------------------------------------- */
typedef struct { volatile u32 v; } spinlock_t;
static inline bool spin_trylock(spinlock_t *l) { return __atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE) == 0; }
static inline void spin_unlock(spinlock_t *l) { __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE); }
static inline void spin_lock(spinlock_t *l) { while (!spin_trylock(l)) cpu_relax(); }

/* --- lib.c ----------------------------------------------------------------- */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
size_t strlcpy(char *d, const char *s, size_t n);
u64 strtou64(const char *s, const char **end);
int vfmt(char *buf, size_t n, const char *fmt, va_list ap);
int sfmt(char *buf, size_t n, const char *fmt, ...) FMT(3, 4);

/* --- out.c: the output protocol ---------------------------------------- */
struct ob {				/* line builder */
	char *buf;
	size_t cap, len;
};
void ob_init(struct ob *o, char *buf, size_t cap);
void ob_printf(struct ob *o, const char *fmt, ...) FMT(2, 3);
void ob_jstr(struct ob *o, const char *s);	/* quoted, JSON-escaped */
void ob_emit(struct ob *o);			/* "guestkit: " buf "\n" */
void out(const char *fmt, ...) FMT(1, 2);	/* one whole line */
void check(const char *name, bool ok, const char *extra, ...) FMT(3, 4);
void check_begin(struct ob *o, const char *name, bool ok);
void check_end(struct ob *o);
void skip(const char *name, const char *reason);
void out_defer(bool on);			/* buffer lines while COM1 is under test */
void out_recover(void);				/* fatal path */
extern volatile u32 n_passed, n_failed;

/* --- serial.c: COM1 ------------------------------------------------------ */
#define COM1 0x3f8
enum { UART_RBR = 0, UART_THR = 0, UART_DLL = 0, UART_IER = 1, UART_DLM = 1,
       UART_IIR = 2, UART_FCR = 2, UART_LCR = 3, UART_MCR = 4, UART_LSR = 5,
       UART_MSR = 6, UART_SCR = 7 };
#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
void serial_init(void);
void serial_write(const char *s, size_t n);

/* --- apic.c: LAPIC, IOAPIC, time, bounded waits ---------------------------- */
#define LAPIC_BASE 0xfee00000ull
extern volatile u64 irq_count[256];
extern volatile u64 irq_total;
extern u64 tsc_hz;
extern bool timer_ok;
u32 lapic_read(u32 reg);
void lapic_write(u32 reg, u32 v);
u32 lapic_id(void);
void lapic_init(void);			/* per CPU: software enable */
void time_init(void);			/* BSP: TSC rate, LAPIC timer check */
u64 ms_to_tsc(u64 ms);
void delay_us(u64 us);
/* Wait until *p != old (an interrupt counter or a flag) or ms elapse;
 * sleeps in SYS_WAIT with LAPIC-timer wake-ups. ms == 0: forever. */
bool wait_change(volatile u64 *p, u64 old, u64 ms);
void ioapic_route(u32 gsi, u8 vector, bool level, bool active_low, u8 dest, bool masked);

/* --- boot.c: what the loader told us --------------------------------------- */
struct e820 { u64 addr, size; u32 type; };
struct bootinfo {
	int kind;
	const char *kind_name;
	bool valid;				/* magic / pointer sane */
	char cmdline[4096];
	struct e820 map[128];
	int nmap;
	u64 rsdp;				/* from the loader, 0 if not given */
};
extern struct bootinfo boot;
void boot_parse(int kind, u64 info);
u64 ram_usable_bytes(void);
void map_high(u64 top);			/* identity-map [4 GiB, top) */
const char *cmdline_get(const char *key, char *buf, size_t n); /* value of key=, or NULL */
u64 cmdline_u64(const char *key, u64 dflt);	/* key=N, or dflt */

/* --- smp.c ---------------------------------------------------------------- */
extern volatile u64 cpus_online;
extern int smp_expected;
extern u32 cpu_apic_id[MAX_CPUS];
void smp_start(void);

/* --- main.c ---------------------------------------------------------------- */
extern char test_name[64];
NORETURN void finish(void);		/* done line + power off */
NORETURN void idle_forever(void);
void report_cpu(u32 cpu);		/* hello: the per-vCPU line */
void cpuid_report(u32 cpu);		/* cpuid: the per-vCPU line (test_cpu.c) */

#endif
