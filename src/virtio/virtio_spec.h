/* Constants from the virtio 1.2 specification (OASIS, virtio-v1.2-cs01).
 * Section numbers refer to that document. Only what vmmd uses. */
#ifndef VMM_VIRTIO_SPEC_H
#define VMM_VIRTIO_SPEC_H

#include <stdint.h>

/* 2.1 Device Status Field. */
#define VIRTIO_STATUS_ACKNOWLEDGE        1
#define VIRTIO_STATUS_DRIVER             2
#define VIRTIO_STATUS_DRIVER_OK          4
#define VIRTIO_STATUS_FEATURES_OK        8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED             128

/* 6 Reserved Feature Bits: bit numbers. The spec calls the ring ones
 * VIRTIO_F_INDIRECT_DESC / VIRTIO_F_EVENT_IDX; VIRTIO_RING_F_* are the
 * legacy names the Linux headers still use. */
#define VIRTIO_F_INDIRECT_DESC       28
#define VIRTIO_F_EVENT_IDX           29
#define VIRTIO_F_VERSION_1           32
#define VIRTIO_RING_F_INDIRECT_DESC  VIRTIO_F_INDIRECT_DESC
#define VIRTIO_RING_F_EVENT_IDX      VIRTIO_F_EVENT_IDX
#define VIRTIO_F_VERSION_1_BIT       (1ULL << VIRTIO_F_VERSION_1)

/* 2.7 Split Virtqueues. */
#define VIRTQ_MAX_SIZE               32768   /* always a power of 2 */

/* 2.7.5 The Virtqueue Descriptor Table: struct virtq_desc, 16 bytes:
 * le64 addr, le32 len, le16 flags, le16 next. */
#define VIRTQ_DESC_SIZE              16
#define VIRTQ_DESC_OFF_ADDR          0
#define VIRTQ_DESC_OFF_LEN           8
#define VIRTQ_DESC_OFF_FLAGS         12
#define VIRTQ_DESC_OFF_NEXT          14
#define VIRTQ_DESC_F_NEXT            1   /* continues via the next field */
#define VIRTQ_DESC_F_WRITE           2   /* device write-only (else read-only) */
#define VIRTQ_DESC_F_INDIRECT        4   /* buffer holds a table of descriptors */

/* 2.7.6 The Virtqueue Available Ring: le16 flags, le16 idx,
 * le16 ring[size], le16 used_event (only with VIRTIO_F_EVENT_IDX). */
#define VIRTQ_AVAIL_F_NO_INTERRUPT   1
#define VIRTQ_AVAIL_OFF_FLAGS        0
#define VIRTQ_AVAIL_OFF_IDX          2
#define VIRTQ_AVAIL_OFF_RING         4

/* 2.7.8 The Virtqueue Used Ring: le16 flags, le16 idx,
 * struct virtq_used_elem { le32 id; le32 len; } ring[size],
 * le16 avail_event (only with VIRTIO_F_EVENT_IDX). */
#define VIRTQ_USED_F_NO_NOTIFY       1
#define VIRTQ_USED_OFF_FLAGS         0
#define VIRTQ_USED_OFF_IDX           2
#define VIRTQ_USED_OFF_RING          4
#define VIRTQ_USED_ELEM_SIZE         8

/* 2.7 alignment and size of each part, in bytes. */
#define VIRTQ_DESC_ALIGN             16
#define VIRTQ_AVAIL_ALIGN            2
#define VIRTQ_USED_ALIGN             4
#define VIRTQ_DESC_TABLE_SIZE(n)     ((uint64_t)VIRTQ_DESC_SIZE * (n))
#define VIRTQ_AVAIL_RING_SIZE(n)     (6 + 2 * (uint64_t)(n))
#define VIRTQ_USED_RING_SIZE(n)      (6 + 8 * (uint64_t)(n))
/* The event fields sit right after the rings (virtq_used_event/avail_event). */
#define VIRTQ_USED_EVENT_OFF(n)      (VIRTQ_AVAIL_OFF_RING + 2 * (uint64_t)(n))
#define VIRTQ_AVAIL_EVENT_OFF(n)     (VIRTQ_USED_OFF_RING + 8 * (uint64_t)(n))

/* Appendix virtio_queue.h: having moved an index from old_idx to new_idx,
 * must the other side be notified given its event index? All mod 2^16. */
static inline int virtq_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* 4.1.2 PCI Device Discovery. */
#define VIRTIO_PCI_VENDOR              0x1af4
#define VIRTIO_PCI_DEVICE_MODERN_BASE  0x1040   /* + virtio device id */

/* 4.1.4 Virtio Structure PCI Capabilities: cfg_type. */
#define VIRTIO_PCI_CAP_COMMON_CFG    1
#define VIRTIO_PCI_CAP_NOTIFY_CFG    2
#define VIRTIO_PCI_CAP_ISR_CFG       3
#define VIRTIO_PCI_CAP_DEVICE_CFG    4
#define VIRTIO_PCI_CAP_PCI_CFG       5

#endif
