/* Interrupt stubs (CPL0). One 16-byte stub per vector at ISR_BASE + 16*v,
 * so the IDT below is plain static data. Hot paths are a handful of
 * instructions because CPL0 is emulated on PVM. */
#include "gk.h"

	.if KSTACK_SIZE != 8192
	.error "exc_common assumes KSTACK_SIZE == 1 << 13"
	.endif

	.section .isr, "ax"
	.code64
	.globl isr_stubs, isr_stubs_end
isr_stubs:
	v = 0
	.rept	256
	.balign	16
	.if v == 3
	jmp	sys_entry			/* int3: the CPL3 -> CPL0 "system call" */
	.elseif v < 32
	.if (v == 8) || ((v >= 10) && (v <= 14)) || (v == 17) || (v == 21) || (v == 29) || (v == 30)
	pushq	$v				/* CPU pushed an error code */
	.else
	pushq	$0
	pushq	$v
	.endif
	jmp	exc_common
	.elseif v == VEC_GED
	jmp	ged_irq
	.elseif v == VEC_INTX
	jmp	intx_irq
	.elseif v == VEC_SPURIOUS
	lock incq irq_count + 8 * v(%rip)	/* spurious: no EOI */
	iretq
	.else
	lock incq irq_count + 8 * v(%rip)	/* external interrupt: count, EOI */
	jmp	irq_eoi
	.endif
	v = v + 1
	.endr
	.balign	16
isr_stubs_end:

	.text
irq_eoi:
	lock incq irq_total(%rip)		/* wakes SYS_WAIT callers (see apic.c) */
	pushq	%rax
	movl	$0xfee000b0, %eax
	movl	$0, (%rax)
	popq	%rax
	iretq

/* Level-triggered lines (GED, a PCI INTx): read the device's cause
 * register here, which clears the line; otherwise the EOI would re-raise
 * it before CPL3 ever runs. The causes read are ORed into `events`. */
	.macro	level_irq vec, addr, events
	lock incq irq_count + 8 * \vec(%rip)
	lock incq irq_total(%rip)
	pushq	%rax
	pushq	%rdx
	movq	\addr(%rip), %rax
	testq	%rax, %rax
	jz	1f
	movl	(%rax), %edx			/* zero-extends into %rdx */
	lock orq %rdx, \events(%rip)
1:	movl	$0xfee000b0, %eax
	movl	$0, (%rax)
	popq	%rdx
	popq	%rax
	iretq
	.endm

ged_irq:
	level_irq VEC_GED, ged_addr, ged_events

/* A NIC's INTx: intx_addr is its cause register. e1000 (intx_w1c 0): ICR,
 * read to clear; rtl8139 (intx_w1c 1): the 16-bit ISR, cleared by writing
 * back the bits read. */
intx_irq:
	cmpq	$0, intx_w1c(%rip)
	jne	intx_w1c_irq
	level_irq VEC_INTX, intx_addr, intx_events

intx_w1c_irq:
	lock incq irq_count + 8 * VEC_INTX(%rip)
	lock incq irq_total(%rip)
	pushq	%rax
	pushq	%rdx
	movq	intx_addr(%rip), %rax
	movzwl	(%rax), %edx
	movw	%dx, (%rax)
	lock orq %rdx, intx_events(%rip)
	movl	$0xfee000b0, %eax
	movl	$0, (%rax)
	popq	%rdx
	popq	%rax
	iretq

/* int3 from CPL3, %rax = SYS_*. Only %rax is clobbered. */
sys_entry:
	cmpq	$SYS_WAIT, %rax
	jne	1f
	testq	%rdi, %rdi
	jz	2f
	cmpq	(%rdi), %rsi			/* IF=0 here: no lost wake-up */
	jne	3f
2:	sti
	hlt
	cli
3:	iretq
1:	cmpq	$SYS_FLUSH_TLB, %rax
	jne	1f
	movq	%cr3, %rax
	movq	%rax, %cr3
	iretq
1:	cmpq	$SYS_CPUID, %rax
	jne	1f
	movl	%edi, %eax			/* at CPL0 so the hypervisor answers */
	movl	%esi, %ecx
	cpuid
	iretq
1:	cmpq	$SYS_SPIN, %rax
	jne	1f
	testq	%rdi, %rdi
	jz	3b
	call	*%rsi				/* cpl0_spin, maybe at an alias */
	iretq
1:	cmpq	$SYS_SYSCALL_ON, %rax
	jne	1f
	movl	$0xc0000082, %ecx		/* LSTAR = handler */
	movl	%edi, %eax
	movq	%rdi, %rdx
	shrq	$32, %rdx
	wrmsr
	movl	$0xc0000081, %ecx		/* STAR: kernel CS 0x08 (sysret unused) */
	xorl	%eax, %eax
	movl	$SEL_KCODE64, %edx
	wrmsr
	movl	$0xc0000084, %ecx		/* FMASK: IF, as Linux */
	movl	$0x200, %eax
	xorl	%edx, %edx
	wrmsr
	movl	$0xc0000080, %ecx		/* EFER.SCE */
	rdmsr
	orl	$1, %eax
	wrmsr
	iretq
1:	cmpq	$SYS_RESET, %rax
	jne	3b
	lidt	null_idtr(%rip)
	ud2					/* no IDT: triple fault */

/* 2 * %rdi instructions of plain CPL0 code (SYS_SPIN's payload). */
	.globl cpl0_spin
cpl0_spin:
	decq	%rdi
	jnz	cpl0_spin
	ret

/* The same with Linux's local_irq_save()/restore() in the loop: privileged
 * instructions a kernel executes all the time (5 instructions a round). */
	.globl cpl0_spin_irqflags
cpl0_spin_irqflags:
	pushfq
	cli
	popfq
	decq	%rdi
	jnz	cpl0_spin_irqflags
	ret

/* SYSCALL target for test=syscall: count, record the privilege level it
 * runs at (CS & 3: SYSCALL must have loaded the kernel CS; on PVM it jumps
 * here still at CPL3, and the page being User-mapped would hide that),
 * return rax+1, back to CPL3 through iretq (the GDT's user selectors do
 * not suit SYSRET; iretq also works from CPL3, so the test reports instead
 * of faulting). On the user stack, as nothing at CPL0 needs another. */
	.globl syscall_entry
syscall_entry:
	lock incq syscall_count(%rip)
	movq	%cs, %rdx
	andq	$3, %rdx
	movq	%rdx, syscall_cpl(%rip)
	incq	%rax
	movq	%rsp, %rdx
	pushq	$(SEL_UDATA | 3)
	pushq	%rdx
	pushq	%r11
	pushq	$(SEL_UCODE64 | 3)
	pushq	%rcx
	iretq

/* Fatal exception. Stack: vector, error, rip, cs, rflags, rsp, ss.
 * Record it in fatal_rec[cpu] (cpu derived from the kernel stack) and
 * redirect the iret frame to fatal_entry(cpu) at CPL3, which reports. */
exc_common:
	movq	%rsp, %rax
	leaq	kstacks(%rip), %rdx
	subq	%rdx, %rax
	shrq	$13, %rax			/* / KSTACK_SIZE */
	cmpq	$MAX_CPUS, %rax
	jb	1f
	xorl	%eax, %eax
1:	movq	%rax, %rdi
	shlq	$5, %rax
	leaq	fatal_rec(%rip), %rdx
	addq	%rax, %rdx
	movq	(%rsp), %rax
	movq	%rax, (%rdx)
	movq	8(%rsp), %rax
	movq	%rax, 8(%rdx)
	movq	16(%rsp), %rax
	movq	%rax, 16(%rdx)
	movq	%cr2, %rax
	movq	%rax, 24(%rdx)
	leaq	1(%rdi), %rax
	imulq	$USTACK_SIZE, %rax
	leaq	ustacks-8(%rip), %rdx
	addq	%rdx, %rax
	movq	$fatal_entry, 16(%rsp)
	movq	$(SEL_UCODE64 | 3), 24(%rsp)
	movq	$RFLAGS_USER, 32(%rsp)
	movq	%rax, 40(%rsp)
	movq	$(SEL_UDATA | 3), 48(%rsp)
	addq	$16, %rsp
	iretq

	.data
	.balign	16
	.globl idt, idt_ptr
idt:
	v = 0
	.rept	256
	.word	(ISR_BASE + v * 16) & 0xffff
	.word	SEL_KCODE64
	.byte	0
	.if v == 3
	.byte	0xee				/* interrupt gate, DPL3: int3 allowed */
	.else
	.byte	0x8e				/* interrupt gate, DPL0 */
	.endif
	.word	(ISR_BASE + v * 16) >> 16
	.long	0
	.long	0
	v = v + 1
	.endr
idt_ptr:
	.word	256 * 16 - 1
	.quad	idt
null_idtr:
	.word	0
	.quad	0

	.section .note.GNU-stack, "", @progbits
