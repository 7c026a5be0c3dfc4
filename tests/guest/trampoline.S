/* AP trampoline: copied to TRAMP_BASE (below 1 MiB) by smp.c; an AP starts
 * here in real mode at TRAMP_BASE:0 after the SIPI. It loads our GDT and
 * jumps into pm32_common, which takes it to long mode; the rest of the AP
 * setup is in entry64.S (ap_entry64). */
#include "gk.h"

	.section .rodata.tramp, "a"
	.code16
	.globl tramp_start, tramp_end
tramp_start:
	cli
	movw	%cs, %ax
	movw	%ax, %ds
	lgdtl	tramp_gdtr - tramp_start	/* offset within this segment */
	movl	%cr0, %eax
	orl	$1, %eax			/* PE */
	movl	%eax, %cr0
	movl	$BOOT_AP, %edi
	ljmpl	$SEL_KCODE32, $pm32_common
	.balign	8
tramp_gdtr:
	.word	GDT_LIMIT
	.long	gdt
tramp_end:

	.section .note.GNU-stack, "", @progbits
