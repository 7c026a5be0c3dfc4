/* The split virtqueue (virtio 1.2, 2.7), device side.
 *
 * The rings live in guest RAM and the guest may rewrite them at any moment
 * from another vCPU, so everything read from them is fetched once into a
 * local copy and validated there. A guest that breaks the ring rules gets
 * -1 from vmm_virtq_pop() with a one-line reason; the queue then stays
 * broken until vmm_virtq_init() is called again (device reset).
 *
 * Threading: one thread works on a given queue at a time; there is no
 * locking inside. The guest driver runs concurrently on other CPUs, and the
 * memory barriers for that are done here. */
#ifndef VMM_VIRTQUEUE_H
#define VMM_VIRTQUEUE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/virtio_spec.h"

#define VMM_VIRTQ_ERROR (vmm_virtq_error_quark())
GQuark vmm_virtq_error_quark(void);

typedef enum {
    VMM_VIRTQ_ERROR_RING,        /* ring address, alignment or size invalid */
    VMM_VIRTQ_ERROR_BROKEN,      /* the driver broke the ring rules */
} VmmVirtqError;

/* Guest RAM access: returns a host pointer for [gpa, gpa+len) only if the
 * whole range is RAM, else NULL. */
typedef struct {
    void *(*translate)(void *opaque, uint64_t gpa, uint64_t len);
    void *opaque;
} VmmGuestMem;

/* One guest buffer of a chain; hva is the translated host pointer. */
typedef struct {
    uint64_t gpa;
    uint32_t len;
    bool device_writable;
    void *hva;
} VmmVirtqBuf;

/* Segments per element after following an indirect table. A longer chain
 * is refused (2.7.4.1: the device MAY limit the descriptors in a chain), so
 * transports should not offer queues larger than this. */
#define VMM_VIRTQ_MAX_BUFS 1024

/* A popped descriptor chain. Zero-length descriptors are accepted but get
 * no entry in bufs. */
typedef struct {
    uint16_t head;                /* chain head index, for vmm_virtq_push */
    unsigned nbufs, n_out;        /* bufs[0..n_out) device-readable, then device-writable */
    uint64_t out_bytes, in_bytes; /* totals of the readable / writable parts */
    VmmVirtqBuf bufs[VMM_VIRTQ_MAX_BUFS];
} VmmVirtqElem;

/* Public so that transports can embed it; the fields are private to
 * virtqueue.c. */
typedef struct VmmVirtq {
    VmmGuestMem mem;
    uint16_t size;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    bool event_idx, indirect;

    /* Host views of the three parts, set by vmm_virtq_check_rings(). */
    uint8_t *desc, *avail, *used;
    bool ready;
    bool broken;
    char broken_msg[200];

    uint16_t last_avail;          /* next avail ring entry to take */
    uint16_t avail_idx;           /* last avail->idx seen (validated) */
    uint16_t used_idx;            /* next used ring entry to fill */
    uint16_t used_published;      /* last value stored to used->idx */
    uint16_t signalled_used;      /* used->idx at the last should_notify */
    bool notify_enabled;

    /* Descriptors visited in the chain being walked (loop detection). */
    uint64_t seen[VIRTQ_MAX_SIZE / 64];
} VmmVirtq;

/* Called when the driver sets queue_enable; size is the negotiated queue
 * size. *mem is copied. Resets all state, including "broken". */
void vmm_virtq_init(VmmVirtq *q, const VmmGuestMem *mem, uint16_t size,
                    uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
                    bool event_idx, bool indirect);
/* Validates the size and the ring addresses (alignment, inside RAM) once
 * at enable and maps the rings; pop/push do nothing useful before it
 * succeeded. False + GError naming the part if not. */
bool vmm_virtq_check_rings(VmmVirtq *q, GError **err);

/* 1 = *elem filled, 0 = nothing available, -1 = the queue is broken: *err
 * says why in one line. After -1 the caller puts the device into
 * DEVICE_NEEDS_RESET; further pops return -1 until vmm_virtq_init(). */
int vmm_virtq_pop(VmmVirtq *q, VmmVirtqElem *elem, GError **err);
/* Returns a completed element with `written` bytes written into its
 * device-writable buffers (clamped to in_bytes). Only fills the used ring;
 * the driver sees it after vmm_virtq_flush(). */
void vmm_virtq_push(VmmVirtq *q, const VmmVirtqElem *elem, uint32_t written);
/* Publishes everything pushed since the last flush (used->idx). */
void vmm_virtq_flush(VmmVirtq *q);
/* After a flush: whether the driver wants a used buffer notification for
 * what was published since the previous call. */
bool vmm_virtq_should_notify(VmmVirtq *q);

/* Driver->device notification suppression while the device polls. After
 * enabling, the caller must look for work again: the return value says
 * whether new buffers arrived in the meantime. */
bool vmm_virtq_enable_notification(VmmVirtq *q);
void vmm_virtq_disable_notification(VmmVirtq *q);

/* Gives back the last n popped, not yet pushed elements: the next pops
 * return them again (a receive that found no frame, or not enough room). */
void vmm_virtq_unpop(VmmVirtq *q, unsigned n);
uint16_t vmm_virtq_last_avail(VmmVirtq *q);
/* Cheap check for a polling device: has the driver made buffers available
 * beyond what was popped? (One guest read; pop validates.) */
bool vmm_virtq_avail_pending(VmmVirtq *q);

/* Copies between the element's buffers and host memory, starting `offset`
 * bytes into the readable (read) or writable (write) part. Return the
 * number of bytes copied, short at the end of the part. The guest can
 * change its buffers at any time: parse copies, not the buffers. */
size_t vmm_virtq_elem_read(const VmmVirtqElem *elem, size_t offset, void *dst, size_t len);
size_t vmm_virtq_elem_write(VmmVirtqElem *elem, size_t offset, const void *src, size_t len);
/* Fills iov[0..max) with the byte range [offset, offset+len) of the
 * writable or readable part; returns the number of entries. The range is
 * cut short at the end of the part or when max entries are used: sum the
 * lengths if that matters. */
unsigned vmm_virtq_elem_iov(const VmmVirtqElem *elem, bool writable, size_t offset, size_t len,
                            struct iovec *iov, unsigned max);
/* The last device-writable byte (the status byte of most request formats),
 * or NULL when there is no writable byte. */
uint8_t *vmm_virtq_elem_status_ptr(const VmmVirtqElem *elem);

#endif
