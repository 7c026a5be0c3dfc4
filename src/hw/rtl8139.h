/* Realtek RTL8139C+ Fast Ethernet controller, the other NIC guests
 * without virtio drivers bind to: Linux's 8139cp drives it in C+ mode
 * (descriptor rings, checksum offload, large send), 8139too (and the
 * guest kit's classic mode) with the receive ring buffer and the four
 * transmit slots. A PCI function (10ec:8139, revision 0x20) with the
 * registers in I/O BAR0 and in MMIO BAR1, the 93C46 EEPROM behind
 * 9346CR holding the MAC, the internal PHY's BasicModeCtrl/Status, and a
 * level-triggered INTx on the line the DSDT's _PRT gives the slot.
 *
 * Host side: the same as the e1000's (net/nicio.h): a tap queue or
 * passt's socket. Transmit runs on the vCPU that kicks (TSD, TxPoll);
 * receive and the TimerInt timer on one I/O thread. */
#ifndef VMM_HW_RTL8139_H
#define VMM_HW_RTL8139_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/netdev.h"   /* VmmNetStats */
#include "net/nicio.h"    /* VmmNicConfig */

typedef struct VmmVm VmmVm;
typedef struct VmmRtl8139 VmmRtl8139;
typedef VmmNicConfig VmmRtl8139Config;

VmmRtl8139 *vmm_rtl8139_new(VmmVm *vm, const VmmRtl8139Config *cfg, GError **err);
void vmm_rtl8139_free(VmmRtl8139 *r);
const char *vmm_rtl8139_name(VmmRtl8139 *r);
void vmm_rtl8139_get_stats(VmmRtl8139 *r, VmmNetStats *st);
/* Carrier as the guest sees it: BasicModeStatus, MediaStatus, with a
 * LinkChg interrupt on a change. */
void vmm_rtl8139_set_link(VmmRtl8139 *r, bool up);
bool vmm_rtl8139_get_link(VmmRtl8139 *r);

#endif
