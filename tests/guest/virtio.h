/* virtio 1.x over PCI (modern interface) and split virtqueues for the
 * guest kit's drivers (virtio.c). All at CPL3: the capabilities' BARs are
 * MMIO in the User-mapped 3-4 GiB range, rings live in guest RAM above
 * the kit (page_alloc), interrupts are MSI-X vectors counted by the CPL0
 * stubs in irq_count[]. */
#ifndef GK_VIRTIO_H
#define GK_VIRTIO_H

#include "pcibus.h"

#define VIRTIO_VENDOR		0x1af4
#define VIRTIO_ID_BLOCK		2

/* device status */
#define VIRTIO_S_ACKNOWLEDGE	0x01
#define VIRTIO_S_DRIVER		0x02
#define VIRTIO_S_DRIVER_OK	0x04
#define VIRTIO_S_FEATURES_OK	0x08
#define VIRTIO_S_NEEDS_RESET	0x40
#define VIRTIO_S_FAILED		0x80

/* transport feature bits */
#define VIRTIO_F_INDIRECT_DESC	28
#define VIRTIO_F_EVENT_IDX	29
#define VIRTIO_F_VERSION_1	32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED	34
#define VIRTIO_F_IN_ORDER	35
#define VIRTIO_F_NOTIFICATION_DATA 38
#define VIRTIO_F_RING_RESET	40
#define BIT(n)			(1ull << (n))

/* PCI capability cfg_type */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG	3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG	5

/* common configuration structure offsets */
#define VPCI_DFSELECT		0
#define VPCI_DF			4
#define VPCI_GFSELECT		8
#define VPCI_GF			12
#define VPCI_MSIX_CONFIG	16
#define VPCI_NUM_QUEUES		18
#define VPCI_STATUS		20
#define VPCI_CFG_GENERATION	21
#define VPCI_Q_SELECT		22
#define VPCI_Q_SIZE		24
#define VPCI_Q_MSIX		26
#define VPCI_Q_ENABLE		28
#define VPCI_Q_NOFF		30
#define VPCI_Q_DESC		32
#define VPCI_Q_DRIVER		40
#define VPCI_Q_DEVICE		48
#define VIRTIO_MSI_NO_VECTOR	0xffff

/* split virtqueue */
#define VRING_DESC_F_NEXT	1
#define VRING_DESC_F_WRITE	2
#define VRING_DESC_F_INDIRECT	4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY	1

struct vring_desc {
	u64 addr;
	u32 len;
	u16 flags;
	u16 next;
};
struct vring_used_elem {
	u32 id;
	u32 len;
};

#define VQ_MAX		16		/* queues per device the kit drives */
#define VQ_SIZE_MAX	1024		/* ring entries the kit allocates for */

struct vdev;

struct vq {
	struct vdev *dev;
	u16 index, size;
	bool ready;
	volatile struct vring_desc *desc;
	volatile u16 *avail_flags, *avail_idx, *avail_ring, *used_event;
	volatile u16 *used_flags, *used_idx, *avail_event;
	volatile struct vring_used_elem *used_ring;
	u16 shadow_avail;		/* avail idx including entries not yet published */
	u16 kicked;			/* avail->idx at the last notify decision */
	u16 last_used;			/* next used entry to consume */
	u16 free_head, num_free;
	u16 next_free[VQ_SIZE_MAX];
	u16 chain_len[VQ_SIZE_MAX];	/* 0: descriptor head not in flight */
	u16 chain_last[VQ_SIZE_MAX];
	u64 cookie[VQ_SIZE_MAX];
	u64 notify_addr;
	u16 msix_entry;			/* VIRTIO_MSI_NO_VECTOR: none */
	u8 vector;			/* CPU vector of its interrupts, 0: none */
	u64 notifies, kicks_suppressed, bad_used;
	void *mem;			/* ring memory (kept across resets) */
};

struct vdev {
	struct pcif pci;
	char bdf[12];
	u16 type;
	struct pci_bar bar[6];
	u64 common, notify, isr, devcfg;
	u32 notify_mult, notify_len, devcfg_len;
	struct msix msix;
	bool msix_ok;			/* entries programmed, config vector accepted */
	u8 vec_base;			/* CPU vector of MSI-X entry 0 (config) */
	u16 nvec;			/* MSI-X entries in use */
	u16 max_queues;			/* num_queues in the common configuration */
	u64 offered, features;
	u16 nq;
	bool poll;			/* spin on used->idx: no queue interrupts */
	bool event_idx, indirect;
	u16 qsize_limit;		/* 0: the device's maximum (<= VQ_SIZE_MAX) */
	const char *err;		/* why the last step failed */
	struct vq q[VQ_MAX];
};

struct vbuf {				/* one buffer of a request */
	u64 addr;
	u32 len;
	bool write;			/* device-writable */
};

/* guest RAM above the kit, page granular, zeroed; never freed */
void *page_alloc(u64 bytes);
u64 page_free_bytes(void);

/* discovery: virtio devices of 'type' on bus 0, probed (BARs assigned,
 * capabilities mapped, MSI-X vectors reserved), each in page_alloc
 * memory. The same pointers on every call. Returns how many. */
int virtio_find(u16 type, struct vdev **out, int max);

u8 virtio_status(struct vdev *d);
bool virtio_reset(struct vdev *d);			/* write 0, wait for 0 */
/* ACKNOWLEDGE | DRIVER, offer & wanted, FEATURES_OK and check it stuck */
bool virtio_negotiate(struct vdev *d, u64 wanted);
/* nq queues (MSI-X vectors set, rings zeroed, enabled) */
bool virtio_setup_queues(struct vdev *d, u16 nq);
void virtio_driver_ok(struct vdev *d);
void virtio_fail(struct vdev *d);			/* set FAILED */
/* all of it: reset, negotiate, queues, DRIVER_OK */
bool virtio_init(struct vdev *d, u64 wanted, u16 nq);

/* device-specific configuration (generation-checked for 64-bit) */
u8 vcfg8(struct vdev *d, u32 off);
u16 vcfg16(struct vdev *d, u32 off);
u32 vcfg32(struct vdev *d, u32 off);
u64 vcfg64(struct vdev *d, u32 off);
void vcfg_write8(struct vdev *d, u32 off, u8 v);

/* interrupt counts */
u64 virtio_cfg_irqs(struct vdev *d);
u64 virtio_q_irqs(struct vq *q);
u64 virtio_all_irqs(struct vdev *d);

/* virtqueue operations. vq_add puts a chain (or one indirect descriptor
 * pointing at itab, when given) into the avail ring without publishing;
 * vq_kick publishes and notifies the device unless it asked not to be.
 * Returns the head, or -1 when out of descriptors. */
int vq_add(struct vq *q, const struct vbuf *b, int n, u64 cookie, volatile struct vring_desc *itab);
void vq_push_head(struct vq *q, u16 head);		/* a pre-built chain */
bool vq_kick(struct vq *q);				/* true: notified */
void vq_notify(struct vq *q);				/* unconditionally */
static inline bool vq_pending(struct vq *q) { return *q->used_idx != q->last_used; }
/* next used entry: true and its head/len/cookie; frees the chain */
bool vq_get(struct vq *q, u16 *head, u32 *len, u64 *cookie);
/* interrupt control: arm (interrupt at the next completion; false when
 * completions are already waiting) and quiet (no interrupts) */
bool vq_arm(struct vq *q);
void vq_quiet(struct vq *q);
/* Wait for a used entry on q: 1 ready, 0 timeout, -1 DEVICE_NEEDS_RESET.
 * Sleeps for the MSI-X interrupt unless d->poll (then spins). */
int vq_wait(struct vq *q, u64 ms);
/* One request start to end: vq_add (itab as there), arm this completion's
 * interrupt unless d->poll, kick, vq_wait up to ms, and take the used
 * entry, whose length goes to *len (may be NULL). VQ_DONE, or why not. */
enum { VQ_DONE = 1, VQ_TIMEOUT = 0, VQ_RESET = -1, VQ_NO_DESC = -2, VQ_BAD_USED = -3 };
int vq_submit_wait(struct vq *q, const struct vbuf *b, int n, volatile struct vring_desc *itab,
		   u64 ms, u32 *len);
/* Sleep until any interrupt after irq_total was irq_snap, or until
 * deadline (TSC); at most ~20 ms (LAPIC timer, re-armed lazily). */
void virtio_sleep(u64 irq_snap, u64 deadline);

/* transport feature name, or NULL (device-specific bits 0-23) */
const char *virtio_feature_name(int bit);

#endif
