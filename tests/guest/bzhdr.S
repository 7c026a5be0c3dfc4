/* bzImage wrapper: a real-mode setup block with the Linux boot protocol
 * header (2.15 layout), followed by guestkit.bin, the flat image of the
 * same code linked at 0x100000. Entries:
 *   64-bit (what vmmd uses): load address + 0x200 = bz64_entry
 *   32-bit: code32_start = 0x100000 = bz32_entry
 *   real mode (setup + 0x200): a small BIOS stub, only so that firmware
 *   loaders (QEMU -kernel on q35/pc) can exercise the boot_params path:
 *   it fills the e820 table with INT 15h/E820 and enters code32_start.
 * Linked with -R guestkit.elf, so guestkit_end there gives init_size. */

SETUP_SECTS = 7				/* setup block 4 KiB: code after the e820 table */

	.text
	.code16
bz_start:
	/* 0x000: boot sector, not bootable from disk; zero-filled so the
	 * zero-page fields a loader copies from it read as 0 */
	.org	0x1f1
	.byte	SETUP_SECTS			/* 0x1f1 setup_sects */
	.word	0				/* 0x1f2 root_flags */
	.long	(kernel_end - kernel_start + 15) / 16	/* 0x1f4 syssize */
	.word	0				/* 0x1f8 ram_size */
	.word	0xffff				/* 0x1fa vid_mode: normal */
	.word	0				/* 0x1fc root_dev */
	.word	0xaa55				/* 0x1fe boot_flag */
	.byte	0xeb, setup_code - 1f		/* 0x200 jump (real-mode entry) */
1:	.ascii	"HdrS"				/* 0x202 header */
	.word	0x020f				/* 0x206 version 2.15 */
	.long	0				/* 0x208 realmode_swtch */
	.word	0				/* 0x20c start_sys_seg */
	.word	0				/* 0x20e kernel_version */
	.byte	0				/* 0x210 type_of_loader */
	.byte	0x01				/* 0x211 loadflags: LOADED_HIGH */
	.word	0				/* 0x212 setup_move_size */
	.long	0x100000			/* 0x214 code32_start */
	.long	0				/* 0x218 ramdisk_image */
	.long	0				/* 0x21c ramdisk_size */
	.long	0				/* 0x220 bootsect_kludge */
	.word	0				/* 0x224 heap_end_ptr */
	.byte	0				/* 0x226 ext_loader_ver */
	.byte	0				/* 0x227 ext_loader_type */
	.long	0				/* 0x228 cmd_line_ptr */
	.long	0x7fffffff			/* 0x22c initrd_addr_max */
	.long	0x1000				/* 0x230 kernel_alignment */
	.byte	0				/* 0x234 relocatable_kernel */
	.byte	12				/* 0x235 min_alignment (2^12) */
	.word	0x0001				/* 0x236 xloadflags: XLF_KERNEL_64 */
	.long	4095				/* 0x238 cmdline_size */
	.long	0				/* 0x23c hardware_subarch */
	.quad	0				/* 0x240 hardware_subarch_data */
	.long	0				/* 0x248 payload_offset */
	.long	0				/* 0x24c payload_length */
	.quad	0				/* 0x250 setup_data */
	.quad	0x100000			/* 0x258 pref_address */
	.long	guestkit_end - 0x100000			/* 0x260 init_size (incl. bss, stacks) */
	.long	0				/* 0x264 handover_offset */
	.long	0				/* 0x268 kernel_info_offset */
	.org	0x26c				/* errors out if the header overran */
setup_code:					/* still ahead of e820_table */
	jmp	setup_main

/* Real mode, CS = setup segment + 0x20, DS = ES = SS = setup segment, so
 * DS offsets are offsets into this block, which is the zero page. */
	.org	0xd00
setup_main:
	cli
	cld
	movw	%ds, %ax
	movw	%ax, %es
	xorl	%ebx, %ebx			/* E820 continuation */
	xorw	%bp, %bp			/* entries */
	movw	$0x2d0, %di			/* boot_params.e820_table */
1:	movl	$0xe820, %eax
	movl	$20, %ecx
	movl	$0x534d4150, %edx		/* "SMAP" */
	int	$0x15
	jc	2f
	cmpl	$0x534d4150, %eax
	jne	2f
	incw	%bp
	addw	$20, %di
	testl	%ebx, %ebx
	jz	2f
	cmpw	$128, %bp
	jb	1b
2:	movw	%bp, %ax
	movb	%al, 0x1e8			/* boot_params.e820_entries */
	xorl	%esi, %esi
	movw	%ds, %si
	shll	$4, %esi			/* %esi = boot_params, linear */
	leal	bz_gdt - bz_start(%esi), %eax
	movl	%eax, bz_gdtr + 2 - bz_start
	lgdtl	bz_gdtr - bz_start
	movl	%cr0, %eax
	orb	$1, %al
	movl	%eax, %cr0
	ljmpl	$0x10, $0x100000		/* code32_start, %esi = boot_params */

	.balign	8
bz_gdt:						/* boot protocol: CS 0x10, DS 0x18 */
	.quad	0, 0
	.quad	0x00cf9a000000ffff
	.quad	0x00cf92000000ffff
bz_gdtr:
	.word	4 * 8 - 1
	.long	0

	.org	(SETUP_SECTS + 1) * 512
kernel_start:
	.incbin	"guestkit.bin"
kernel_end:

	.section .note.GNU-stack, "", @progbits
