/* 32-bit entries: bzImage code32_start (load address + 0) and PVH, plus the
 * protected-mode -> long-mode switch shared with the AP trampoline.
 * This runs at CPL0 (emulated on PVM): keep it short. */
#include "gk.h"

	.section .head32, "ax"
	.code32

/* Linux 32-bit boot protocol entry (code32_start): %esi = boot_params. */
	.globl bz32_entry
bz32_entry:
	cli
	movl	$BOOT_BZIMAGE32, %edi
	jmp	pm32_common

/* PVH entry (XEN_ELFNOTE_PHYS32_ENTRY): %ebx = struct hvm_start_info. */
	.globl pvh_entry
pvh_entry:
	cli
	movl	%ebx, %esi
	movl	$BOOT_PVH, %edi
	/* fall through */

/* Flat 32-bit protected mode, paging off. In: %edi = BOOT_*, %esi = boot
 * info pointer (both preserved). CS is flat but DS may not be ours yet
 * (APs arrive with a real-mode DS), hence the %cs override. */
	.globl pm32_common
pm32_common:
	lgdt	%cs:gdt_ptr
	ljmp	$SEL_KCODE32, $1f
1:	movl	$SEL_KDATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%cr4, %eax
	orl	$0x20, %eax			/* CR4.PAE */
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx		/* EFER.LME */
	rdmsr
	orl	$0x100, %eax
	wrmsr
	movl	%cr0, %eax
	andl	$0x9fffffff, %eax		/* clear CD/NW left by INIT */
	orl	$0x80010001, %eax		/* PG | WP | PE */
	movl	%eax, %cr0
	ljmp	$SEL_KCODE64, $long_entry

/* PVH ELF note. QEMU 7.x reads 8 bytes of desc on 64-bit ELFs, so the
 * 4-byte address is followed by zero padding. */
	.section .note.Xen, "a"
	.balign 4
	.long	4				/* namesz */
	.long	4				/* descsz */
	.long	18				/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz	"Xen"
	.long	pvh_entry
	.long	0

	.section .note.GNU-stack, "", @progbits
