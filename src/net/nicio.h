/* The host side of an emulated NIC (e1000, rtl8139): one tap queue (12-byte
 * vnet header, no offloads: the device computes checksums and segments
 * itself) or passt's stream socket, and the I/O thread that moves received
 * frames into the device and runs its timers. Transmit runs on the vCPU
 * that kicks the device (vmm_nicio_send). Also the checksums such NICs
 * compute. */
#ifndef VMM_NET_NICIO_H
#define VMM_NET_NICIO_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct VmmNicIo VmmNicIo;

/* What an emulated NIC is made with (the board fills it from the
 * <interface> and the host side it opened). */
typedef struct {
    const char *name;        /* "vnet0": for messages and statistics */
    uint8_t mac[6];
    int fd;                  /* tap queue (vnet header), or passt's socket */
    bool stream;             /* fd is a stream socket in passt's framing */
    bool link_down;
    int pci_slot;            /* -1 = any */
} VmmNicConfig;

typedef struct {
    /* A frame from the host in buf (len bytes; buf has room for rx_max +
     * 64 bytes, for padding and an FCS). Called on the I/O thread without
     * any lock held. false: the device cannot take it now; it is offered
     * again after vmm_nicio_wake(). */
    bool (*rx)(void *opaque, uint8_t *buf, size_t len);
    /* Runs the timers that are due; returns the next deadline (monotonic
     * us) or 0 for none. NULL: the device has no timers. */
    gint64 (*timers)(void *opaque, gint64 now);
} VmmNicIoOps;

/* How often (us) a frame held for want of a descriptor looks again when
 * the device cannot see the driver hand one back at once (rtl8139 C+ has
 * no doorbell; e1000's RDT writes wait in KVM's coalesced MMIO queue), as
 * a chip polls its ring. */
#define VMM_NICIO_RX_RETRY_US 200

/* kind ("e1000") and name ("vnet0") are for messages and the thread's
 * name. fd is a tap queue, or passt's socket when stream. rx_max: the
 * longest frame the device takes (longer ones are cut). The thread starts
 * with vmm_nicio_start(), once the device can take frames. */
VmmNicIo *vmm_nicio_new(const char *kind, const char *name, int fd, bool stream, size_t rx_max,
                        const VmmNicIoOps *ops, void *opaque, GError **err);
void vmm_nicio_start(VmmNicIo *io);
/* Stops the thread (it does not close fd, which its opener owns). */
void vmm_nicio_free(VmmNicIo *io);
/* The device has room again, or a timer changed: the thread looks. */
void vmm_nicio_wake(VmmNicIo *io);
/* Sends one frame. 0, or -1 with errno: EAGAIN/ENOBUFS (the host is
 * full: a drop), EPIPE (the peer is gone: a drop), others (an error). */
int vmm_nicio_send(VmmNicIo *io, const uint8_t *frame, size_t len);

/* Hostile register values and descriptors: counted by the device every
 * time, logged here once per kind (a bit of the device's choosing) as
 * "KIND NAME: message (...logged once)". */
void vmm_nicio_warn_once(VmmNicIo *io, int kind, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Internet checksum: the 32-bit running sum of [p, p+len) as big-endian
 * 16-bit words, and its fold to 16 bits (not inverted). */
uint32_t vmm_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t vmm_csum_fold(uint32_t sum);
/* The Ethernet CRC-32 (the FCS, and the multicast hash of many NICs). */
uint32_t vmm_eth_crc(const uint8_t *p, size_t len);

static inline uint16_t vmm_rd16be(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void vmm_wr16be(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }

#endif
