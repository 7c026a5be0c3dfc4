/* Intel 82540EM Gigabit Ethernet controller ("e1000"), the NIC guests
 * without virtio drivers bind to (Linux e1000, Windows, the BSDs' em):
 * a PCI function with BAR0 MMIO and an I/O BAR (IOADDR/IODATA), the
 * Microwire EEPROM holding the MAC, an M88-class PHY behind MDIC, legacy
 * and extended (context/data, TSO) transmit descriptors, legacy receive
 * descriptors, the receive address and multicast filters, interrupt
 * moderation and the statistics registers. Interrupts are level-triggered
 * INTx on the line the DSDT's _PRT gives the slot.
 *
 * Host side: a tap queue (frames behind a 12-byte vnet header, no
 * offloads: the device computes checksums and segments itself) or passt's
 * stream socket. Transmit runs on the vCPU that writes TDT; receive on
 * one I/O thread, which also runs the interrupt delay timers. */
#ifndef VMM_HW_E1000_H
#define VMM_HW_E1000_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/netdev.h"   /* VmmNetStats */
#include "net/nicio.h"    /* VmmNicConfig */

typedef struct VmmVm VmmVm;
typedef struct VmmE1000 VmmE1000;
typedef VmmNicConfig VmmE1000Config;


VmmE1000 *vmm_e1000_new(VmmVm *vm, const VmmE1000Config *cfg, GError **err);
void vmm_e1000_free(VmmE1000 *e);
const char *vmm_e1000_name(VmmE1000 *e);
void vmm_e1000_get_stats(VmmE1000 *e, VmmNetStats *st);
/* Carrier as the guest sees it: STATUS.LU and the PHY, with an LSC
 * interrupt on a change. */
void vmm_e1000_set_link(VmmE1000 *e, bool up);
bool vmm_e1000_get_link(VmmE1000 *e);

#endif
