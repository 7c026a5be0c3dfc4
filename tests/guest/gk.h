/* Constants shared by the guest kit's assembly (CPL0) and C (CPL3) code. */
#ifndef GK_H
#define GK_H

#define LOAD_ADDR       0x100000      /* linked and loaded at 1 MiB */
#define ISR_BASE        0x101000      /* 256 stubs x 16 bytes; fixed so the IDT is static data */
#define TRAMP_BASE      0x70000       /* AP real-mode trampoline (SIPI vector 0x70) */

#define MAX_CPUS        32
#define KSTACK_SIZE     8192          /* per-CPU CPL0 stack (interrupts, int3) */
#define USTACK_SIZE     32768         /* per-CPU CPL3 stack */
#define TSS_STRIDE      128           /* per-CPU TSS slot (104 bytes used) */

/* GDT selectors */
#define SEL_KCODE64     0x08
#define SEL_KDATA       0x10
#define SEL_UCODE64     0x18          /* used with RPL 3 */
#define SEL_UDATA       0x20          /* used with RPL 3 */
#define SEL_KCODE32     0x28
#define SEL_TSS0        0x30          /* 16-byte TSS descriptors, one per CPU */
#define GDT_LIMIT       (SEL_TSS0 + 16 * MAX_CPUS - 1)

/* How we were entered (first argument of bsp_main) */
#define BOOT_PVH        1
#define BOOT_LINUX64    2             /* ELF e_entry, 64-bit boot protocol (vmlinux) */
#define BOOT_BZIMAGE    3             /* bzImage 64-bit entry at load address + 0x200 */
#define BOOT_BZIMAGE32  4             /* bzImage 32-bit entry (code32_start) */
#define BOOT_AP         5             /* internal: AP coming through the trampoline */

/* int3 "system calls": number in %rax */
#define SYS_WAIT        0             /* rdi=ptr|0, rsi=value: sti;hlt unless *ptr != value */
#define SYS_FLUSH_TLB   1             /* reload CR3 after CPL3 edited the page tables */
#define SYS_RESET       2             /* triple fault (last-resort reset) */
#define SYS_CPUID       3             /* rdi=leaf, rsi=subleaf: CPUID executed at CPL0 */
#define BOOT_SPIN_ROUNDS 2000         /* entry64.S: 2 instructions a round */
#define SYS_SYSCALL_ON  5             /* rdi=handler: EFER.SCE, LSTAR, STAR, FMASK */
#define SYS_SPIN        4             /* rdi=n, rsi=&cpl0_spin (or alias): 2n insns at CPL0 */

/* interrupt vectors */
#define VEC_TIMER       0x20          /* LAPIC timer: wake-ups for bounded waits */
#define VEC_SERIAL      0x34          /* COM1 via IOAPIC (serial test) */
#define VEC_GED         0x39          /* ACPI GED, level-triggered: acked at CPL0 */
#define VEC_INTX        0x3a          /* a PCI INTx (test=e1000), level-triggered: acked at CPL0 */
#define VEC_SPURIOUS    0xff          /* LAPIC spurious vector: no EOI */

#define RFLAGS_USER     0x3202        /* IF | IOPL=3 | reserved bit 1 */

#endif
