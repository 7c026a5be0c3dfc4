# Guest kit: the project's freestanding x86-64 test guest.
#   make -f tests/guest/guest.mk            (standalone, from the top source dir)
#   include $(srcdir)/tests/guest/guest.mk  (from Makefile.am; add 'guest' to
#                                            all-local and 'guest-clean' to clean-local)
# Own compiler flags on purpose: the main CFLAGS carry -fsanitize=address
# and hosted-code options that cannot work in a freestanding guest.

guest_srcdir ?= tests/guest
guest_builddir ?= tests/guest
GUEST_CC ?= gcc
GUEST_OBJCOPY ?= objcopy

GUEST_CFLAGS = -ffreestanding -fno-pic -mno-red-zone -mgeneral-regs-only -nostdlib \
	-fno-stack-protector -O2 -std=gnu11 -Wall -Wextra -Werror -m64 \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -fcf-protection=none \
	-fno-tree-loop-distribute-patterns -fno-common --param=min-pagesize=0 -I$(guest_srcdir)
GUEST_LINK_FLAGS = -nostdlib -no-pie -static -Wl,--build-id=none \
	-Wl,-z,max-page-size=4096 -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments

GUEST_ELF = $(guest_builddir)/guestkit.elf
GUEST_BIN = $(guest_builddir)/guestkit.bin
GUEST_BZIMAGE = $(guest_builddir)/guestkit.bzImage

GUEST_HDRS = $(guest_srcdir)/gk.h $(guest_srcdir)/lib.h $(guest_srcdir)/acpi.h \
	$(guest_srcdir)/pcibus.h $(guest_srcdir)/virtio.h $(guest_srcdir)/blk.h $(guest_srcdir)/net.h \
	$(guest_srcdir)/e1000.h $(guest_srcdir)/rtl8139.h
GUEST_OBJS = \
	$(guest_builddir)/entry32.gk.o $(guest_builddir)/entry64.gk.o \
	$(guest_builddir)/isr.gk.o $(guest_builddir)/trampoline.gk.o \
	$(guest_builddir)/lib.gk.o $(guest_builddir)/out.gk.o \
	$(guest_builddir)/serial.gk.o $(guest_builddir)/apic.gk.o \
	$(guest_builddir)/boot.gk.o $(guest_builddir)/acpi.gk.o \
	$(guest_builddir)/smp.gk.o $(guest_builddir)/pci.gk.o \
	$(guest_builddir)/tests.gk.o $(guest_builddir)/test_serial.gk.o $(guest_builddir)/test_cpu.gk.o \
	$(guest_builddir)/pcibus.gk.o $(guest_builddir)/virtio.gk.o \
	$(guest_builddir)/blk.gk.o $(guest_builddir)/test_blk.gk.o \
	$(guest_builddir)/test_blkbench.gk.o $(guest_builddir)/test_ide.gk.o \
	$(guest_builddir)/ahci.gk.o $(guest_builddir)/test_ahci.gk.o \
	$(guest_builddir)/net.gk.o $(guest_builddir)/test_net.gk.o \
	$(guest_builddir)/e1000.gk.o $(guest_builddir)/test_e1000.gk.o \
	$(guest_builddir)/rtl8139.gk.o $(guest_builddir)/test_rtl8139.gk.o \
	$(guest_builddir)/test_rng.gk.o $(guest_builddir)/test_console.gk.o \
	$(guest_builddir)/test_balloon.gk.o \
	$(guest_builddir)/main.gk.o

.PHONY: guest guest-clean

guest: $(GUEST_ELF) $(GUEST_BIN) $(GUEST_BZIMAGE)

$(guest_builddir)/%.gk.o: $(guest_srcdir)/%.c $(GUEST_HDRS)
	@mkdir -p $(guest_builddir)
	$(AM_V_CC)$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(guest_builddir)/%.gk.o: $(guest_srcdir)/%.S $(GUEST_HDRS)
	@mkdir -p $(guest_builddir)
	$(AM_V_CC)$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_ELF): $(GUEST_OBJS) $(guest_srcdir)/guestkit.ld
	$(AM_V_CCLD)$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LINK_FLAGS) -T $(guest_srcdir)/guestkit.ld -o $@ $(GUEST_OBJS)

$(GUEST_BIN): $(GUEST_ELF)
	$(AM_V_GEN)$(GUEST_OBJCOPY) -O binary $(GUEST_ELF) $@

# setup header + flat image; -R imports the ELF's symbols (guestkit_end) for init_size
$(GUEST_BZIMAGE): $(guest_srcdir)/bzhdr.S $(GUEST_BIN) $(GUEST_ELF)
	$(AM_V_GEN)$(GUEST_CC) $(GUEST_CFLAGS) -c -Wa,-I,$(guest_builddir) -o $(guest_builddir)/bzhdr.gk.o $(guest_srcdir)/bzhdr.S
	$(GUEST_CC) $(GUEST_LINK_FLAGS) -Wl,-Ttext=0 -Wl,-e,0 -Wl,-R,$(GUEST_ELF) \
		-o $(guest_builddir)/bzhdr.gk.elf $(guest_builddir)/bzhdr.gk.o
	$(GUEST_OBJCOPY) -O binary -j .text $(guest_builddir)/bzhdr.gk.elf $@

guest-clean:
	rm -f $(GUEST_OBJS) $(guest_builddir)/bzhdr.gk.o $(guest_builddir)/bzhdr.gk.elf \
		$(GUEST_ELF) $(GUEST_BIN) $(GUEST_BZIMAGE)
