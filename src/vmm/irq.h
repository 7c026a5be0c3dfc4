/* Interrupt plumbing into KVM: the GSI routing table (IOAPIC/PIC pins and
 * MSI routes), irqfds, and ioeventfds. Devices signal interrupts and take
 * queue notifications through eventfds, so the fast path never exits to
 * the VMM process. */
#ifndef VMM_IRQ_H
#define VMM_IRQ_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/bus.h"

typedef struct VmmVm VmmVm;

/* A level-triggered interrupt line several devices drive (COM1 and COM3
 * share GSI 4, PCI slots share INTA-INTD): each device gets its own source
 * and the line is the OR of them, so one device lowering its request does
 * not hide another's. Only changes of the OR reach `out`, under the line's
 * lock, so levels arrive in order. */
#define VMM_IRQ_LINE_MAX_SOURCES 64
typedef struct {
    GMutex lock;
    VmmIrq *out;
    guint64 asserted;        /* bit n: source n holds the line high */
    unsigned nr_sources;
    VmmIrq src[VMM_IRQ_LINE_MAX_SOURCES];
} VmmIrqLine;

void vmm_irq_line_init(VmmIrqLine *line, VmmIrq *out);
void vmm_irq_line_clear(VmmIrqLine *line);
/* A new source on the line (starts low); NULL with err set when the line
 * has VMM_IRQ_LINE_MAX_SOURCES already. */
VmmIrq *vmm_irq_line_source(VmmIrqLine *line, GError **err);

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
