/* PCI bus access for drivers (pcibus.c): config space through ECAM or
 * port 0xcf8, bus-0 enumeration, capabilities, BAR assignment from the
 * host bridge's 32-bit window, MSI-X table programming. test=pci (pci.c)
 * keeps its own access code: it compares both methods. */
#ifndef GK_PCIBUS_H
#define GK_PCIBUS_H

#include "lib.h"

#define PCI_CAP_MSIX	0x11
#define PCI_CAP_VNDR	0x09
#define PCI_CMD_IO	0x0001
#define PCI_CMD_MEM	0x0002
#define PCI_CMD_MASTER	0x0004
#define PCI_CMD_INTX_OFF 0x0400

struct pcif {				/* one function */
	u8 bus, dev, fn;
	u16 vendor, device;
	u32 class;			/* class << 16 | subclass << 8 | prog-if */
	u8 htype;
};

struct pci_bar {
	u64 addr, size;			/* size 0: not implemented */
	bool io, is64;
	const char *src;		/* "firmware": kept, "kit": assigned here, "none" */
};

bool pcib_init(void);			/* pick ECAM or 0xcf8; false: neither */
const char *pcib_method(void);		/* "ecam" or "cf8" */
u32 pcib_read32(const struct pcif *f, u16 off);
u16 pcib_read16(const struct pcif *f, u16 off);
u8 pcib_read8(const struct pcif *f, u16 off);
void pcib_write32(const struct pcif *f, u16 off, u32 v);
void pcib_write16(const struct pcif *f, u16 off, u16 v);
void pcib_write8(const struct pcif *f, u16 off, u8 v);

int pcib_scan(struct pcif *out, int max);	/* bus 0, every function */
u8 pcib_cap(const struct pcif *f, u8 id, u8 after);	/* next cap with id after offset 'after' (0: first); 0: none */

/* Size every BAR; keep memory BARs the firmware placed below 4 GiB, give
 * the others (address 0, or above 4 GiB where the kit maps no MMIO) an
 * address in the host bridge's 32-bit window, then enable memory decoding
 * and bus mastering. One event line per memory BAR. */
bool pcib_setup_bars(const struct pcif *f, struct pci_bar bars[6]);
extern u64 pcib_win_base, pcib_win_end;	/* [base, end) */
extern const char *pcib_win_src;		/* "dsdt" or "default" */

/* MSI-X: table location and size; program one entry (unmasked, fixed,
 * edge, physical destination apic); enable the function. */
struct msix {
	u8 cap;				/* 0: no MSI-X */
	u16 n;				/* table size */
	u64 table, pba;			/* MMIO addresses (BARs assigned first) */
};
bool pcib_msix_find(const struct pcif *f, const struct pci_bar bars[6], struct msix *m);
void pcib_msix_set(const struct msix *m, u16 entry, u32 apic, u8 vector);
void pcib_msix_enable(const struct pcif *f, const struct msix *m, bool on);

#endif
