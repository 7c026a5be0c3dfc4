/* The board: the only place that turns a domain definition (VmmDomainDef)
 * into devices, as kvmtool's init levels and OpenBSD vmd's config do. It
 * lives in src/hw/ because it is the machine's wiring of emulated devices
 * (DESIGN.md: hw/ holds emulated devices, vmm/ names none): it knows which
 * device sits on which port, GSI and PCI slot, and src/vmm/ only calls
 * vmm_board_create()/vmm_board_free().
 *
 * Two tables: the platform devices every VM has (created in order, freed
 * in reverse), and the PCI device kinds the definition lists (one instance
 * per element). A new device is one new file plus one entry in a table. */
#include "hw/board.h"
#include "conf/domain_format.h"
#include "hw/acpi_ged.h"
#include "hw/e1000.h"
#include "hw/rtl8139.h"
#include "hw/i8042.h"
#include "hw/ahci.h"
#include "hw/ide.h"
#include "hw/pci.h"
#include "hw/port80.h"
#include "hw/rtc.h"
#include "hw/uart.h"
#include "util/chardev.h"
#include "util/log.h"
#include "virtio/vhost_user_blk.h"
#include "virtio/virtio_balloon.h"
#include "virtio/virtio_blk.h"
#include "virtio/virtio_console.h"
#include "virtio/virtio_net.h"
#include "virtio/virtio_net_proto.h"
#include "virtio/virtio_rng.h"
#include "vhost/vhost_kernel.h"
#include "vhost/vhost_user.h"
#include "vmm/irq.h"
#include "vmm/vm.h"

#include <string.h>

#define BOARD_ERROR (g_quark_from_static_string("vmm-board-error"))

/* What a device kind's create and free get: the VM (its def, buses and
 * lines) and the host ends the caller opened. */
typedef struct {
    VmmVm *vm;
    VmmChardev *const *serial_backends;
    VmmChardev *const *channel_backends;
    VmmNetdev *const *netdevs;
} BoardCtx;

/* ---- interrupt sources ------------------------------------------------- */

/* Each device gets a source of its own on its GSI, so shared level lines
 * (COM1/COM3, COM2/COM4, PCI INTx) are the OR of their devices. */
static VmmIrq *irq_source(VmmVm *vm, unsigned gsi, GError **err)
{
    return vmm_irq_line_source(&vm->gsi_line[gsi], err);
}

/* ---- platform devices -------------------------------------------------- */

static const struct { uint16_t port; unsigned gsi; } serial_wiring[VMM_MAX_SERIALS] = {
    { PORT_COM1, GSI_COM1 }, { PORT_COM2, GSI_COM2 },
    { PORT_COM3, GSI_COM1 }, { PORT_COM4, GSI_COM2 },
};

static void uart_tx(void *opaque, const uint8_t *buf, size_t len)
{
    if (opaque)
        vmm_chardev_write(opaque, buf, len);
}

static void uart_rx_space(void *opaque)
{
    if (opaque)
        vmm_chardev_accept_input(opaque);
}

static size_t chr_can_receive(void *opaque) { return vmm_uart_can_receive(opaque); }
static void chr_receive(void *opaque, const uint8_t *buf, size_t len)
{
    vmm_uart_receive(opaque, buf, len);
}

static void on_guest_reset(void *opaque)
{
    vmm_vm_request_stop(opaque, VMM_STOP_RESET, "guest requested a reset");
}

static void on_guest_poweroff(void *opaque)
{
    vmm_vm_request_stop(opaque, VMM_STOP_POWEROFF, "guest powered off (ACPI S5)");
}

static bool port80_create(const BoardCtx *c, GError **err)
{
    return vmm_port80_register(&c->vm->pio, err);
}

static bool serial_create(const BoardCtx *c, GError **err)
{
    VmmVm *vm = c->vm;
    for (guint i = 0; i < vm->def->serials->len; i++) {
        const VmmChrDef *chr = g_ptr_array_index(vm->def->serials, i);
        unsigned port = chr->port;
        g_autofree char *name = g_strdup_printf("serial%u", port);
        VmmChardev *be = c->serial_backends ? c->serial_backends[port] : NULL;
        VmmIrq *irq = irq_source(vm, serial_wiring[port].gsi, err);
        if (!irq)
            return false;
        vm->serial_backend[port] = be;
        vm->uart[port] = vmm_uart_new(name, irq, uart_tx, uart_rx_space, be);
        if (!vmm_bus_register(&vm->pio, serial_wiring[port].port, 8, &vmm_uart_ops,
                              vm->uart[port], err))
            return false;
        if (be)
            vmm_chardev_set_frontend(be, chr_can_receive, chr_receive, vm->uart[port]);
    }
    return true;
}

static void serial_free(VmmVm *vm)
{
    for (unsigned i = 0; i < VMM_MAX_SERIALS; i++) {
        if (vm->serial_backend[i])
            vmm_chardev_set_frontend(vm->serial_backend[i], NULL, NULL, NULL);
        if (vm->uart[i])
            vmm_uart_free(vm->uart[i]);
        vm->serial_backend[i] = NULL;
        vm->uart[i] = NULL;
    }
}

static bool i8042_create(const BoardCtx *c, GError **err)
{
    VmmVm *vm = c->vm;
    VmmIrq *kbd = irq_source(vm, GSI_KBD, err), *aux = kbd ? irq_source(vm, GSI_AUX, err) : NULL;
    if (!aux)
        return false;
    vm->i8042 = vmm_i8042_new(kbd, aux, on_guest_reset, vm);
    return vmm_i8042_register(vm->i8042, &vm->pio, err);
}

static void i8042_free(VmmVm *vm)
{
    if (vm->i8042)
        vmm_i8042_free(vm->i8042);
    vm->i8042 = NULL;
}

static bool rtc_create(const BoardCtx *c, GError **err)
{
    VmmVm *vm = c->vm;
    VmmIrq *irq = irq_source(vm, GSI_RTC, err);
    if (!irq)
        return false;
    vm->rtc = vmm_rtc_new(irq, vm->def->clock == VMM_CLOCK_LOCALTIME);
    vmm_rtc_set_memory(vm->rtc, vm->lowmem_size, vm->highmem_size);
    return vmm_bus_register(&vm->pio, PORT_RTC, 2, &vmm_rtc_ops, vm->rtc, err);
}

static void rtc_free(VmmVm *vm)
{
    if (vm->rtc)
        vmm_rtc_free(vm->rtc);
    vm->rtc = NULL;
}

static bool pci_host_create(const BoardCtx *c, GError **err)
{
    c->vm->pci = vmm_pci_host_new(&c->vm->pio, &c->vm->mmio, err);
    return c->vm->pci != NULL;
}

static void pci_host_free(VmmVm *vm)
{
    vmm_pci_host_free(vm->pci);
    vm->pci = NULL;
}

/* Any <disk bus='ide'>: the PIIX3 IDE function at 00:01.1, one for all of
 * them (the slot vmm_domain_def_pci_slots() keeps free for it). With
 * <acpi/> the platform is ACPI hardware-reduced, which gives the OS no ISA
 * IRQs 14/15 (Linux runs without the 8259 then): the controller is in PCI
 * native mode on INTA, which the DSDT's _PRT routes. Without ACPI it is in
 * compatibility mode on ISA IRQs 14/15, as on QEMU's pc machine. */
static bool ide_create(const BoardCtx *c, GError **err)
{
    VmmVm *vm = c->vm;
    if (!vmm_domain_def_has_ide(vm->def))
        return true;
    bool native = vm->def->acpi;
    unsigned gsi0 = native ? vmm_pci_intx_gsi(VMM_IDE_PCI_SLOT, 1) : GSI_IDE0;
    unsigned gsi1 = native ? gsi0 : GSI_IDE1;
    VmmIrq *irq0 = irq_source(vm, gsi0, err), *irq1 = irq0 ? irq_source(vm, gsi1, err) : NULL;
    if (!irq1)
        return false;
    vm->ide = vmm_ide_new(vm, native, irq0, irq1, err);
    return vm->ide != NULL;
}

static void ide_free(VmmVm *vm)
{
    vmm_ide_free(vm->ide);
    vm->ide = NULL;
}

/* Any <disk bus='sata'>: the ICH9 AHCI function at 00:1f.0, one for all
 * of them (the slot vmm_domain_def_pci_placement() keeps free for it). */
static bool ahci_create(const BoardCtx *c, GError **err)
{
    VmmVm *vm = c->vm;
    if (!vmm_domain_def_has_sata(vm->def))
        return true;
    vm->ahci = vmm_ahci_new(vm, VMM_PCI_SLOT_AHCI, err);
    return vm->ahci != NULL;
}

static void ahci_free(VmmVm *vm)
{
    vmm_ahci_free(vm->ahci);
    vm->ahci = NULL;
}

static bool pci_devices_create(const BoardCtx *c, GError **err);
static void pci_devices_free(VmmVm *vm);

static bool ged_create(const BoardCtx *c, GError **err)
{
    VmmVm *vm = c->vm;
    if (!vm->def->acpi)
        return true;
    VmmIrq *irq = irq_source(vm, GSI_GED, err);
    if (!irq)
        return false;
    VmmAcpiGedHandlers h = { on_guest_poweroff, on_guest_reset, vm };
    vm->ged = vmm_acpi_ged_new(&vm->mmio, irq, &h, err);
    return vm->ged != NULL;
}

static void ged_free(VmmVm *vm)
{
    vmm_acpi_ged_free(vm->ged);
    vm->ged = NULL;
}

/* A device kind every VM may have. create() may leave a half-made device
 * behind on failure; free() copes with that and with "never created".
 * reset() puts a device in its power-on state for a reboot that keeps the
 * VM; NULL until a device needs it (today a guest reset rebuilds the VM). */
typedef struct {
    const char *name;
    bool (*create)(const BoardCtx *c, GError **err);
    void (*reset)(VmmVm *vm);
    void (*free)(VmmVm *vm);
} BoardDevice;

/* Creation order: the PCI host before PCI devices; freed in reverse. */
static const BoardDevice board_devices[] = {
    { "port80", port80_create, NULL, NULL },
    { "serial", serial_create, NULL, serial_free },
    { "i8042", i8042_create, NULL, i8042_free },
    { "rtc", rtc_create, NULL, rtc_free },
    { "pci-host", pci_host_create, NULL, pci_host_free },
    { "ide", ide_create, NULL, ide_free },
    { "ahci", ahci_create, NULL, ahci_free },
    { "pci-devices", pci_devices_create, NULL, pci_devices_free },
    { "acpi-ged", ged_create, NULL, ged_free },
};

/* ---- PCI devices from the definition ------------------------------------ */

/* <disk bus='virtio'> -> virtio-blk. */
static void *blk_create(const BoardCtx *c, guint index, int slot, GError **err)
{
    return vmm_virtio_blk_new(c->vm, g_ptr_array_index(c->vm->def->disks, index), slot, err);
}

static void blk_free(void *dev)
{
    vmm_virtio_blk_free(dev);
}

/* <disk type='vhostuser'> -> vhost-user-blk on the back end's socket. */
static void *vhost_blk_create(const BoardCtx *c, guint index, int slot, GError **err)
{
    return vmm_vhost_user_blk_new(c->vm, g_ptr_array_index(c->vm->def->disks, index), slot,
                                  err);
}

static void vhost_blk_free(void *dev)
{
    vmm_vhost_user_blk_free(dev);
}

static bool disk_is_vhostuser(gconstpointer item)
{
    return ((const VmmDiskDef *)item)->type == VMM_DISK_VHOSTUSER;
}

static bool disk_is_emulated(gconstpointer item)
{
    return ((const VmmDiskDef *)item)->bus != VMM_DISK_BUS_VIRTIO;
}

/* virtio-blk: neither vhost-user nor IDE/SATA (their controllers have them) */
static bool disk_is_local(gconstpointer item)
{
    return !disk_is_vhostuser(item) && !disk_is_emulated(item);
}

#define VHOST_USER_ACCEPT_S 30

/* Which back end serves the rx/tx queues of interface `index`: *out is a
 * vhost device, or NULL for vmm-worker's own I/O threads. vhostuser: the
 * back end on the socket (mode='server': the back end connects to us). A tap: <driver name='vhost'> the kernel's
 * vhost-net (an error without it), name='qemu' the I/O threads, no name
 * vhost-net when /dev/vhost-net opens and the I/O threads otherwise
 * (logged), as libvirt does with QEMU. */
static bool net_vhost(const VmmNetDef *nd, guint index, const char *name, VmmVhostDev **out,
                      GError **err)
{
    *out = NULL;
    if (nd->type == VMM_NET_VHOSTUSER) {
        g_autofree char *label = g_strdup_printf("interface %u", index);
        if (nd->socket_server) {
            /* QEMU waits for the back end at start-up too; bounded here */
            vmm_log_info("interface %u: waiting up to %u s for a vhost-user back end to "
                         "connect to %s", index, VHOST_USER_ACCEPT_S, nd->socket_path);
            *out = vmm_vhost_user_accept(nd->socket_path, index, label, VHOST_USER_ACCEPT_S,
                                         err);
        } else {
            *out = vmm_vhost_user_connect(nd->socket_path, NULL, index, label, err);
        }
        return *out != NULL;
    }
    if (nd->type == VMM_NET_USER || nd->driver == VMM_NET_DRIVER_QEMU)
        return true;
    g_autoptr(GError) e = NULL;
    g_autofree char *label = g_strdup_printf("vhost-net %s", name);
    *out = vmm_vhost_kernel_open(VMM_VHOST_NET_DEV, label, &e);
    if (*out)
        return true;
    if (nd->driver == VMM_NET_DRIVER_VHOST) {
        g_set_error(err, BOARD_ERROR, 0, "interface %u (%s): <driver name='vhost'> needs the "
                    "kernel's vhost-net: %s (use name='qemu' for vmm-worker's own back end)",
                    index, name, e->message);
        return false;
    }
    vmm_log_info("interface %u (%s): %s; using vmm-worker's userspace back end", index, name,
                 e->message);
    return true;
}

/* The virtio-serial <controller> -> one virtio-console device carrying the
 * virtio console and every channel, as QEMU's virtio-serial-pci. */
static void *vserial_create(const BoardCtx *c, guint index, int slot, GError **err)
{
    (void)index;
    const VmmDomainDef *def = c->vm->def;
    return vmm_virtio_console_new(c->vm, def->channels, c->channel_backends,
                                  vmm_vserial_nr_ports(def->controllers, def->channels), slot,
                                  err);
}

static void vserial_free(void *dev)
{
    vmm_virtio_console_free(dev);
}

/* <interface> -> virtio-net on the host side the caller opened. Offloads
 * the XML turns off are never offered: host= for what the device accepts
 * from the guest, guest= for what it hands to the guest. */
static void *net_create(const BoardCtx *c, guint index, int slot, GError **err)
{
    static const unsigned host_bits[VMM_NET_HOST_N][3] = {
        [VMM_NET_HOST_CSUM] = { VIRTIO_NET_F_CSUM },
        [VMM_NET_HOST_GSO] = { VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6,
                               VIRTIO_NET_F_HOST_UFO },
        [VMM_NET_HOST_TSO4] = { VIRTIO_NET_F_HOST_TSO4 },
        [VMM_NET_HOST_TSO6] = { VIRTIO_NET_F_HOST_TSO6 },
        [VMM_NET_HOST_ECN] = { VIRTIO_NET_F_HOST_ECN },
        [VMM_NET_HOST_UFO] = { VIRTIO_NET_F_HOST_UFO },
        [VMM_NET_HOST_MRG_RXBUF] = { VIRTIO_NET_F_MRG_RXBUF },
    };
    static const unsigned guest_bits[VMM_NET_GUEST_N] = {
        [VMM_NET_GUEST_CSUM] = VIRTIO_NET_F_GUEST_CSUM,
        [VMM_NET_GUEST_TSO4] = VIRTIO_NET_F_GUEST_TSO4,
        [VMM_NET_GUEST_TSO6] = VIRTIO_NET_F_GUEST_TSO6,
        [VMM_NET_GUEST_ECN] = VIRTIO_NET_F_GUEST_ECN,
        [VMM_NET_GUEST_UFO] = VIRTIO_NET_F_GUEST_UFO,
    };
    const VmmNetDef *nd = g_ptr_array_index(c->vm->def->nets, index);
    if (!c->netdevs || !c->netdevs[index]) {
        g_set_error(err, BOARD_ERROR, 0, "interface %u: no host side was opened for it", index);
        return NULL;
    }
    const VmmNetdev *host = c->netdevs[index];
    uint64_t off = 0;
    for (int k = 0; k < VMM_NET_HOST_N; k++)
        if (nd->host[k] == VMM_TRI_OFF)
            for (int b = 0; b < 3 && (b == 0 || host_bits[k][b]); b++)
                off |= VNET_BIT(host_bits[k][b]);
    for (int k = 0; k < VMM_NET_GUEST_N; k++)
        if (nd->guest[k] == VMM_TRI_OFF)
            off |= VNET_BIT(guest_bits[k]);
    g_autofree char *name = host->ifname[0] ? g_strdup(host->ifname)
                                            : g_strdup_printf("net%u", index);
    VmmVhostDev *vhost = NULL;
    if (!net_vhost(nd, index, name, &vhost, err))
        return NULL;
    VmmNetConfig cfg = {
        .name = name,
        .mtu = nd->mtu,
        .queue_pairs = vhost && !host->nfds ? MAX(nd->queues, 1u) : host->nfds,
        .tap_fds = host->nfds ? host->fds : NULL,
        .stream = nd->type == VMM_NET_USER,
        .rx_queue_size = nd->rx_queue_size,
        .tx_queue_size = nd->tx_queue_size,
        .disabled_features = off,
        .link_down = nd->link_down,
        .pci_slot = slot,
        .vhost = vhost,
    };
    memcpy(cfg.mac, nd->mac, 6);
    VmmVirtioNet *n = vmm_virtio_net_new(c->vm, &cfg, err);
    if (!n)
        vmm_vhost_free(vhost);
    return n;
}

static void net_free(void *dev)
{
    vmm_virtio_net_free(dev);
}

static bool net_is_e1000(gconstpointer item)
{
    return ((const VmmNetDef *)item)->model == VMM_NET_MODEL_E1000;
}

static bool net_is_rtl8139(gconstpointer item)
{
    return ((const VmmNetDef *)item)->model == VMM_NET_MODEL_RTL8139;
}

static bool net_is_virtio(gconstpointer item)
{
    return ((const VmmNetDef *)item)->model == VMM_NET_MODEL_VIRTIO;
}

/* What an emulated NIC gets of interface `index`: the host side the
 * caller opened (a tap queue or passt's socket). */
static bool emulated_nic_cfg(const BoardCtx *c, guint index, int slot, VmmNicConfig *cfg,
                             char **name, GError **err)
{
    const VmmNetDef *nd = g_ptr_array_index(c->vm->def->nets, index);
    const VmmNetdev *host = c->netdevs ? c->netdevs[index] : NULL;
    if (!host || !host->nfds) {
        g_set_error(err, BOARD_ERROR, 0, "interface %u: no host side was opened for it", index);
        return false;
    }
    *name = host->ifname[0] ? g_strdup(host->ifname) : g_strdup_printf("net%u", index);
    *cfg = (VmmNicConfig){
        .name = *name,
        .fd = host->fds[0],
        .stream = nd->type == VMM_NET_USER,
        .link_down = nd->link_down,
        .pci_slot = slot,
    };
    memcpy(cfg->mac, nd->mac, 6);
    return true;
}

/* <interface><model type='e1000'/> -> the emulated 82540EM. */
static void *e1000_create(const BoardCtx *c, guint index, int slot, GError **err)
{
    g_autofree char *name = NULL;
    VmmNicConfig cfg;
    if (!emulated_nic_cfg(c, index, slot, &cfg, &name, err))
        return NULL;
    return vmm_e1000_new(c->vm, &cfg, err);
}

/* <interface><model type='rtl8139'/> -> the emulated RTL8139C+. */
static void *rtl8139_create(const BoardCtx *c, guint index, int slot, GError **err)
{
    g_autofree char *name = NULL;
    VmmNicConfig cfg;
    if (!emulated_nic_cfg(c, index, slot, &cfg, &name, err))
        return NULL;
    return vmm_rtl8139_new(c->vm, &cfg, err);
}

static void rtl8139_free(void *dev)
{
    vmm_rtl8139_free(dev);
}

static void e1000_free(void *dev)
{
    vmm_e1000_free(dev);
}

/* <rng model='virtio'> -> virtio-rng. */
static void *rng_create(const BoardCtx *c, guint index, int slot, GError **err)
{
    return vmm_virtio_rng_new(c->vm, g_ptr_array_index(c->vm->def->rngs, index), index, slot,
                              err);
}

static void rng_free(void *dev)
{
    vmm_virtio_rng_free(dev);
}

/* A virtio <memballoon> -> virtio-balloon. */
static void *balloon_create(const BoardCtx *c, guint index, int slot, GError **err)
{
    return vmm_virtio_balloon_new(c->vm, g_ptr_array_index(c->vm->def->memballoons, index),
                                  slot, err);
}

static void balloon_free(void *dev)
{
    vmm_virtio_balloon_free(dev);
}

static bool balloon_is_virtio(gconstpointer item)
{
    return ((const VmmBalloonDef *)item)->model == VMM_BALLOON_VIRTIO;
}

static GPtrArray *def_disks(const VmmDomainDef *d) { return d->disks; }
static GPtrArray *def_controllers(const VmmDomainDef *d) { return d->controllers; }
static GPtrArray *def_nets(const VmmDomainDef *d) { return d->nets; }
static GPtrArray *def_rngs(const VmmDomainDef *d) { return d->rngs; }
static GPtrArray *def_balloons(const VmmDomainDef *d) { return d->memballoons; }
static GPtrArray **vm_blk(VmmVm *vm) { return &vm->blk; }
static GPtrArray **vm_vhost_blk(VmmVm *vm) { return &vm->vhost_blk; }
static GPtrArray **vm_balloon(VmmVm *vm) { return &vm->balloon; }
static GPtrArray **vm_net(VmmVm *vm) { return &vm->net; }
static GPtrArray **vm_vserial(VmmVm *vm) { return &vm->vserial; }
static GPtrArray **vm_e1000(VmmVm *vm) { return &vm->e1000; }
static GPtrArray **vm_rtl8139(VmmVm *vm) { return &vm->rtl8139; }
static GPtrArray **vm_rng(VmmVm *vm) { return &vm->rng; }

/* A PCI device kind: one instance per element of a definition list that
 * takes() accepts (NULL: every element), kept at the element's index in
 * the VM's array (the others stay NULL), in the slot
 * vmm_domain_def_pci_placement() gives that element. Several kinds may
 * share one list (a disk is virtio-blk or vhost-user-blk). */
typedef struct {
    const char *name;
    GPtrArray *(*list)(const VmmDomainDef *def);
    bool (*takes)(gconstpointer item);
    GPtrArray **(*array)(VmmVm *vm);
    void *(*create)(const BoardCtx *c, guint index, int slot, GError **err);
    void (*free)(void *dev);
} BoardPciKind;

static const BoardPciKind board_pci_kinds[] = {
    { "virtio-blk", def_disks, disk_is_local, vm_blk, blk_create, blk_free },
    { "vhost-user-blk", def_disks, disk_is_vhostuser, vm_vhost_blk, vhost_blk_create,
      vhost_blk_free },
    { "virtio-serial", def_controllers, NULL, vm_vserial, vserial_create, vserial_free },
    { "virtio-net", def_nets, net_is_virtio, vm_net, net_create, net_free },
    { "e1000", def_nets, net_is_e1000, vm_e1000, e1000_create, e1000_free },
    { "rtl8139", def_nets, net_is_rtl8139, vm_rtl8139, rtl8139_create, rtl8139_free },
    { "virtio-balloon", def_balloons, balloon_is_virtio, vm_balloon, balloon_create,
      balloon_free },
    { "virtio-rng", def_rngs, NULL, vm_rng, rng_create, rng_free },
};

static bool pci_devices_create(const BoardCtx *c, GError **err)
{
    VmmVm *vm = c->vm;
    g_autoptr(GHashTable) placement = vmm_domain_def_pci_placement(vm->def, err);
    if (!placement)
        return false;
    for (guint k = 0; k < G_N_ELEMENTS(board_pci_kinds); k++) {
        const BoardPciKind *kind = &board_pci_kinds[k];
        GPtrArray *list = kind->list(vm->def);
        guint n = list ? list->len : 0;
        GPtrArray **arr = kind->array(vm);
        *arr = g_ptr_array_new();
        g_ptr_array_set_size(*arr, n);
        for (guint i = 0; i < n; i++) {
            gpointer item = g_ptr_array_index(list, i);
            gpointer slot;
            if (kind->takes && !kind->takes(item))
                continue;
            if (!g_hash_table_lookup_extended(placement, item, NULL, &slot)) {
                g_set_error(err, BOARD_ERROR, 0, "%s %u: its definition gives it no PCI "
                            "slot", kind->name, i);
                return false;
            }
            void *dev = kind->create(c, i, GPOINTER_TO_INT(slot), err);
            if (!dev)
                return false;
            g_ptr_array_index(*arr, i) = dev;
        }
    }
    return true;
}

static void pci_devices_free(VmmVm *vm)
{
    for (guint k = G_N_ELEMENTS(board_pci_kinds); k-- > 0;) {
        const BoardPciKind *kind = &board_pci_kinds[k];
        GPtrArray **arr = kind->array(vm);
        if (!*arr)
            continue;
        for (guint i = 0; i < (*arr)->len; i++)
            if (g_ptr_array_index(*arr, i))
                kind->free(g_ptr_array_index(*arr, i));
        g_ptr_array_free(*arr, TRUE);
        *arr = NULL;
    }
}

/* ---- the board --------------------------------------------------------- */

bool vmm_board_create(VmmVm *vm, VmmChardev *const *serial_backends,
                      VmmChardev *const *channel_backends, VmmNetdev *const *netdevs,
                      GError **err)
{
    BoardCtx c = { vm, serial_backends, channel_backends, netdevs };
    for (guint i = 0; i < G_N_ELEMENTS(board_devices); i++)
        if (!board_devices[i].create(&c, err))
            return false;
    return true;
}

void vmm_board_free(VmmVm *vm)
{
    for (guint i = G_N_ELEMENTS(board_devices); i-- > 0;)
        if (board_devices[i].free)
            board_devices[i].free(vm);
}

bool vmm_board_has_power_button(VmmVm *vm)
{
    return vm->ged != NULL;
}

void vmm_board_power_button(VmmVm *vm)
{
    if (vm->ged)
        vmm_acpi_ged_raise(vm->ged, ACPI_GED_EVT_PWR_DOWN);
}
