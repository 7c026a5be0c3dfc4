/* Interrupt plumbing into KVM: the GSI routing table (IOAPIC/PIC pins and
 * MSI routes), irqfds, and ioeventfds. Devices signal interrupts and take
 * queue notifications through eventfds, so the fast path never exits to
 * the VMM process. */
#ifndef VMM_IRQ_H
#define VMM_IRQ_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct VmmVm VmmVm;

/* Installs the fixed routes (called once while the VM is built). */
bool vmm_irq_routing_init(VmmVm *vm, GError **err);
void vmm_irq_routing_free(VmmVm *vm);
/* Allocates an MSI route; returns its GSI or -1 (error set). */
int vmm_irq_msi_route_add(VmmVm *vm, uint64_t addr, uint32_t data, GError **err);
bool vmm_irq_msi_route_update(VmmVm *vm, int gsi, uint64_t addr, uint32_t data, GError **err);
void vmm_irq_msi_route_remove(VmmVm *vm, int gsi);

/* irqfd: a write to fd raises gsi inside KVM. */
bool vmm_irqfd_assign(VmmVm *vm, int fd, int gsi, GError **err);
void vmm_irqfd_deassign(VmmVm *vm, int fd, int gsi);

/* ioeventfd: a guest write of len bytes (0 = any) to addr signals fd
 * without leaving KVM. */
bool vmm_ioeventfd_assign(VmmVm *vm, int fd, uint64_t addr, unsigned len, bool pio,
                          GError **err);
void vmm_ioeventfd_deassign(VmmVm *vm, int fd, uint64_t addr, unsigned len, bool pio);

#endif
