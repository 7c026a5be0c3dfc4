/* 64-bit entries and the common CPL0 setup: own GDT/IDT/page tables, one
 * TSS per CPU, then iretq to CPL3. CPL0 is instruction-emulated on PVM
 * (~2 us/instruction), so tables are static data and nothing loops here. */
#include "gk.h"

/* bzImage 64-bit boot protocol entry: load address + 0x200, %rsi = boot_params */
	.section .head64, "ax"
	.code64
	.globl bz64_entry
bz64_entry:
	movl	$BOOT_BZIMAGE, %edi
	jmp	start64

	.text
/* vmlinux-style entry (ELF e_entry): 64-bit mode, %rsi = boot_params */
	.globl linux64_entry
linux64_entry:
	movl	$BOOT_LINUX64, %edi
	jmp	start64

/* From pm32_common: %edi = BOOT_*, %esi = info; upper halves undefined. */
	.globl long_entry
long_entry:
	movl	%edi, %edi
	movl	%esi, %esi
	cmpl	$BOOT_AP, %edi
	je	ap_entry64

/* BSP, any entry. %edi = BOOT_*, %rsi = boot info (passed on to bsp_main). */
start64:
	/* Time a short CPL0 loop before the first entry to CPL3, which is how
	 * a kernel's own boot code runs (test=cpl0speed reports it). */
	rdtsc
	movl	%eax, boot_spin_tsc(%rip)
	movl	%edx, boot_spin_tsc+4(%rip)
	movl	$BOOT_SPIN_ROUNDS, %ecx
99:	decl	%ecx
	jnz	99b
	rdtsc
	movl	%eax, boot_spin_tsc+8(%rip)
	movl	%edx, boot_spin_tsc+12(%rip)
	cli
	cld
	xorl	%ebx, %ebx			/* cpu 0 */
	lgdt	gdt_ptr(%rip)
	lidt	idt_ptr(%rip)
	leaq	kstacks+KSTACK_SIZE(%rip), %rsp
	call	load_segments
	movq	$pml4, %rax
	movq	%rax, %cr3
	movq	%cr4, %rax			/* all our pages are User pages: */
	andq	$~0x300000, %rax		/* no SMEP/SMAP, whatever the loader set */
	movq	%rax, %cr4
	/* Mask the 8259 and LAPIC LINT0: an ExtINT would land on an exception
	 * vector (firmware programs the PIC at 0x08). */
	movb	$0xff, %al
	outb	%al, $0x21
	outb	%al, $0xa1
	movl	$0xfee00350, %eax
	movl	$0x10000, (%rax)
	movq	$bsp_main, %rcx
	jmp	enter_user

/* AP from the trampoline: paging on with our tables, GDT already ours. */
ap_entry64:
	lidt	idt_ptr(%rip)
	movl	$0xfee00020, %eax		/* cpu index = apic_to_cpu[LAPIC ID] */
	movl	(%rax), %eax
	shrl	$24, %eax
	leaq	apic_to_cpu(%rip), %rdx
	movzbl	(%rdx,%rax), %ebx
	movl	%ebx, %eax
	incl	%eax
	imull	$KSTACK_SIZE, %eax
	leaq	kstacks(%rip), %rsp
	addq	%rax, %rsp
	call	load_segments
	movl	%ebx, %edi			/* ap_main(cpu) */
	movq	$ap_main, %rcx
	jmp	enter_user

/* Reload data segments and CS from our GDT. */
load_segments:
	movl	$SEL_KDATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	xorl	%eax, %eax
	movl	%eax, %fs
	movl	%eax, %gs
	popq	%rax				/* return address */
	pushq	$SEL_KCODE64
	pushq	%rax
	lretq

/* Set up this CPU's TSS (rsp0 = its kernel stack) and iretq to CPL3.
 * In: %ebx = cpu index, %rcx = CPL3 entry, %rdi/%rsi = its arguments. */
enter_user:
	movl	%ebx, %eax
	imull	$TSS_STRIDE, %eax
	leaq	tss_area(%rip), %rdx
	addq	%rax, %rdx			/* %rdx = TSS */
	leal	1(%rbx), %eax
	imull	$KSTACK_SIZE, %eax
	leaq	kstacks(%rip), %r8
	addq	%r8, %rax
	movq	%rax, %rsp
	movq	%rax, 4(%rdx)			/* rsp0 */
	/* PVM ignores IOPL at CPL3 but honours the TSS I/O permission bitmap,
	 * so every TSS points at one shared all-zero (all ports allowed)
	 * bitmap placed right after the TSS area. */
	leaq	io_bitmap(%rip), %r10
	subq	%rdx, %r10			/* bitmap offset from this TSS */
	movw	%r10w, 102(%rdx)
	addq	$8192, %r10			/* limit: includes the 0xff end byte */
	/* 16-byte available-TSS descriptor, rewritten each boot (clears busy) */
	movl	%ebx, %eax
	shll	$4, %eax
	leaq	gdt+SEL_TSS0(%rip), %r8
	addq	%rax, %r8
	movl	%edx, %eax
	andl	$0xffffff, %eax
	shlq	$16, %rax			/* base 23:0 */
	orq	%r10, %rax			/* limit (< 64 KiB) */
	btsq	$47, %rax			/* present */
	btsq	$43, %rax			/* type 9: 64-bit TSS */
	btsq	$40, %rax
	movq	%rdx, %r9
	shrq	$24, %r9
	shlq	$56, %r9			/* base 31:24 */
	orq	%r9, %rax
	movq	%rax, (%r8)
	movq	%rdx, %r9
	shrq	$32, %r9
	movq	%r9, 8(%r8)			/* base 63:32 */
	movl	%ebx, %eax
	shll	$4, %eax
	addl	$SEL_TSS0, %eax
	ltr	%ax
	/* CPL3 stack and the iretq frame */
	leal	1(%rbx), %eax
	imull	$USTACK_SIZE, %eax
	leaq	ustacks-8(%rip), %r8		/* -8: ABI alignment at function entry */
	addq	%r8, %rax
	pushq	$(SEL_UDATA | 3)
	pushq	%rax
	pushq	$RFLAGS_USER
	pushq	$(SEL_UCODE64 | 3)
	pushq	%rcx
	iretq

	.data
	.balign 16
	.globl gdt
gdt:
	.quad	0
	.quad	0x00af9a000000ffff		/* 0x08 kernel code, 64-bit */
	.quad	0x00cf92000000ffff		/* 0x10 kernel data */
	.quad	0x00affa000000ffff		/* 0x18 user code, 64-bit, DPL3 */
	.quad	0x00cff2000000ffff		/* 0x20 user data, DPL3 */
	.quad	0x00cf9a000000ffff		/* 0x28 kernel code, 32-bit */
	.fill	2 * MAX_CPUS, 8, 0		/* 0x30 TSS descriptors */
	.globl gdt_ptr
gdt_ptr:
	.word	GDT_LIMIT
	.quad	gdt

/* TSSes live in .data, not .bss: CPL3 clears .bss while the BSP's is live. */
	.balign 128
	.globl boot_spin_tsc
boot_spin_tsc:				/* TSC before/after the boot CPL0 loop */
	.quad	0, 0
	.globl tss_area
tss_area:
	.fill	MAX_CPUS * TSS_STRIDE, 1, 0
	.globl io_bitmap
io_bitmap:
	.fill	8192, 1, 0
	.byte	0xff

/* Identity map of 0-4 GiB with 2 MiB pages, User bit everywhere; 3-4 GiB
 * (MMIO: ECAM, GED, IOAPIC, LAPIC) uncached. CPL3 adds entries above 4 GiB
 * in pdpt[4..] (see mem.c) and then calls SYS_FLUSH_TLB. */
	.section .data.pt, "aw"
	.balign 4096
	.globl pml4, pdpt
pml4:
	.quad	pdpt + 7
	.fill	511, 8, 0
pdpt:
	.quad	pd + 0x0007, pd + 0x1007, pd + 0x2007, pd + 0x3007
	.fill	508, 8, 0
pd:
	i = 0
	.rept	2048
	.if i < 0x600
	.quad	(i << 21) | 0x87		/* P | RW | U | PS */
	.else
	.quad	(i << 21) | 0x9f		/* ... | PWT | PCD */
	.endif
	i = i + 1
	.endr

	.section .noinit, "aw", @nobits
	.balign 4096
	.globl kstacks, ustacks
kstacks:
	.skip	KSTACK_SIZE * MAX_CPUS
ustacks:
	.skip	USTACK_SIZE * MAX_CPUS
	.globl kalias_pdpt
kalias_pdpt:				/* test=cpl0speed: Linux's kernel-map alias */
	.skip	4096
	.globl high_pd
high_pd:				/* page directories for 4-64 GiB without 1 GiB pages */
	.skip	60 * 4096

	.section .note.GNU-stack, "", @progbits
