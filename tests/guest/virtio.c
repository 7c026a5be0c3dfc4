/* virtio-pci transport (modern) and split virtqueues, at CPL3.
 *
 * Device initialisation follows virtio 1.2 section 3.1: reset (write 0,
 * wait until device_status reads 0), ACKNOWLEDGE, DRIVER, features,
 * FEATURES_OK (re-read: the device may refuse), queue setup through the
 * common configuration (size, MSI-X vector, ring addresses, enable),
 * DRIVER_OK. Queue notifications are 16-bit writes of the queue index to
 * notify_base + queue_notify_off * notify_off_multiplier. Interrupts are
 * MSI-X: entry 0 for configuration changes, entry 1+i for queue i (shared
 * when the table is smaller), each its own CPU vector from 0x40 up,
 * aimed at the BSP. */
#include "acpi.h"
#include "virtio.h"

#define LAPIC_TICR	0x380
#define VEC_FIRST	0x40
#define VEC_LIMIT	0xf0

/* --- page allocator: RAM after the kit's image ------------------------ */

extern char guestkit_end[];
static u64 pg_next, pg_end;

static void pg_init(void)
{
	u64 start = ((u64)guestkit_end + 4095) & ~4095ull;
	for (int i = 0; i < boot.nmap; i++) {
		const struct e820 *e = &boot.map[i];
		if (e->type == 1 && e->addr <= start && e->addr + e->size > start) {
			pg_next = start;
			pg_end = (e->addr + e->size) & ~4095ull;
			if (pg_end > 0xc0000000ull)
				pg_end = 0xc0000000ull;
		}
	}
	if (!pg_end)
		pg_next = pg_end = start;		/* no e820 entry: nothing to hand out */
}

void *page_alloc(u64 bytes)
{
	if (!pg_next)
		pg_init();
	bytes = (bytes + 4095) & ~4095ull;
	if (!bytes || pg_end - pg_next < bytes)
		return NULL;
	void *p = (void *)pg_next;
	pg_next += bytes;
	memset(p, 0, bytes);
	return p;
}

u64 page_free_bytes(void)
{
	if (!pg_next)
		pg_init();
	return pg_end - pg_next;
}

/* --- discovery ---------------------------------------------------------- */

static u8 next_vector = VEC_FIRST;
static struct vdev *found[16];
static int nfound;
static bool scanned;

static const char *const tfeat[] = {
	[VIRTIO_F_INDIRECT_DESC] = "INDIRECT_DESC", [VIRTIO_F_EVENT_IDX] = "EVENT_IDX",
	[VIRTIO_F_VERSION_1] = "VERSION_1", [VIRTIO_F_ACCESS_PLATFORM] = "ACCESS_PLATFORM",
	[VIRTIO_F_RING_PACKED] = "RING_PACKED", [VIRTIO_F_IN_ORDER] = "IN_ORDER",
	[36] = "ORDER_PLATFORM", [37] = "SR_IOV", [VIRTIO_F_NOTIFICATION_DATA] = "NOTIFICATION_DATA",
	[39] = "NOTIF_CONFIG_DATA", [VIRTIO_F_RING_RESET] = "RING_RESET",
	[27] = "ANY_LAYOUT", [24] = "NOTIFY_ON_EMPTY",
};

const char *virtio_feature_name(int bit)
{
	return bit >= 0 && bit < (int)ARRAY_SIZE(tfeat) ? tfeat[bit] : NULL;
}

static u16 virtio_type_of(const struct pcif *f)
{
	if (f->vendor != VIRTIO_VENDOR)
		return 0;
	if (f->device >= 0x1041 && f->device <= 0x107f)
		return f->device - 0x1040;
	if (f->device >= 0x1000 && f->device <= 0x103f)	/* transitional: subsystem id */
		return pcib_read16(f, 0x2e);
	return 0;
}

static bool probe(struct vdev *d)
{
	const struct pcif *f = &d->pci;
	bool bars_ok = pcib_setup_bars(f, d->bar);

	for (u8 c = pcib_cap(f, PCI_CAP_VNDR, 0); c; c = pcib_cap(f, PCI_CAP_VNDR, c)) {
		u8 type = pcib_read8(f, c + 3), bar = pcib_read8(f, c + 4);
		u32 off = pcib_read32(f, c + 8), len = pcib_read32(f, c + 12);
		if (type == VIRTIO_PCI_CAP_PCI_CFG || bar > 5 || !d->bar[bar].size || d->bar[bar].io ||
		    !d->bar[bar].addr || (u64)off + len > d->bar[bar].size)
			continue;
		u64 a = d->bar[bar].addr + off;
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			if (!d->common && len >= 56)
				d->common = a;
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			if (!d->notify && len >= 2) {
				d->notify = a;
				d->notify_len = len;
				d->notify_mult = pcib_read32(f, c + 16);
			}
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			if (!d->isr && len >= 1)
				d->isr = a;
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			if (!d->devcfg) {
				d->devcfg = a;
				d->devcfg_len = len;
			}
			break;
		}
	}
	if (!bars_ok)
		d->err = "BAR assignment failed (window full?)";
	else if (!d->common || !d->notify)
		d->err = "no usable common/notify capability";
	if (d->err)
		return false;
	d->max_queues = mmio_read16(d->common + VPCI_NUM_QUEUES);
	/* msix=0: leave MSI-X off, as a driver without it would (INTx + ISR) */
	char mv[4];
	bool no_msix = cmdline_get("msix", mv, sizeof(mv)) && !strcmp(mv, "0");
	if (!no_msix && pcib_msix_find(f, d->bar, &d->msix)) {
		u16 want = 1 + (d->max_queues < VQ_MAX ? d->max_queues : VQ_MAX);
		d->nvec = d->msix.n < want ? d->msix.n : want;
		if (next_vector + d->nvec > VEC_LIMIT) {
			d->nvec = 0;			/* out of CPU vectors: polled */
		} else {
			d->vec_base = next_vector;
			next_vector += d->nvec;
		}
	}
	out("{\"event\":\"virtio\",\"bdf\":\"%s\",\"type\":%u,\"device_id\":\"0x%04x\",\"common\":\"0x%llx\",\"notify\":\"0x%llx\",\"notify_off_multiplier\":%u,\"isr\":\"0x%llx\",\"device_cfg\":\"0x%llx\",\"device_cfg_len\":%u,\"num_queues\":%u,\"msix_table_size\":%u,\"vectors\":\"0x%02x-0x%02x\"}",
	    d->bdf, d->type, f->device, (unsigned long long)d->common, (unsigned long long)d->notify,
	    d->notify_mult, (unsigned long long)d->isr, (unsigned long long)d->devcfg, d->devcfg_len,
	    d->max_queues, d->msix.cap ? d->msix.n : 0, d->nvec ? d->vec_base : 0,
	    d->nvec ? d->vec_base + d->nvec - 1 : 0);
	return true;
}

int virtio_find(u16 type, struct vdev **res, int max)
{
	if (!scanned) {
		static struct pcif fs[64];
		scanned = true;
		if (!pcib_init())
			return 0;
		int n = pcib_scan(fs, ARRAY_SIZE(fs));
		for (int i = 0; i < n && nfound < (int)ARRAY_SIZE(found); i++) {
			u16 t = virtio_type_of(&fs[i]);
			if (!t)
				continue;
			struct vdev *d = page_alloc(sizeof(*d));
			if (!d)
				break;
			d->pci = fs[i];
			d->type = t;
			sfmt(d->bdf, sizeof(d->bdf), "%02x:%02x.%x", fs[i].bus, fs[i].dev, fs[i].fn);
			for (int k = 0; k < VQ_MAX; k++) {
				d->q[k].dev = d;
				d->q[k].index = (u16)k;
				d->q[k].msix_entry = VIRTIO_MSI_NO_VECTOR;
			}
			found[nfound++] = d;
		}
	}
	int n = 0;
	for (int i = 0; i < nfound && n < max; i++) {
		struct vdev *d = found[i];
		if (d->type != type)
			continue;
		if (!d->common && !d->err && !probe(d))
			out("{\"event\":\"virtio\",\"bdf\":\"%s\",\"type\":%u,\"error\":\"%s\"}", d->bdf, type, d->err);
		res[n++] = d;
	}
	return n;
}

/* --- device status and features -------------------------------------------- */

u8 virtio_status(struct vdev *d) { return mmio_read8(d->common + VPCI_STATUS); }
static void set_status(struct vdev *d, u8 s) { mmio_write8(d->common + VPCI_STATUS, s); }

bool virtio_reset(struct vdev *d)
{
	d->err = NULL;
	if (!d->common) {
		d->err = "device not probed";
		return false;
	}
	set_status(d, 0);
	u64 end = rdtsc() + ms_to_tsc(1000);
	while (virtio_status(d) != 0) {
		if (rdtsc() > end) {
			d->err = "reset: device_status does not read back 0";
			return false;
		}
		delay_us(50);
	}
	for (int i = 0; i < VQ_MAX; i++)
		d->q[i].ready = false;
	d->nq = 0;
	d->features = 0;
	return true;
}

void virtio_fail(struct vdev *d) { set_status(d, virtio_status(d) | VIRTIO_S_FAILED); }

bool virtio_negotiate(struct vdev *d, u64 wanted)
{
	set_status(d, VIRTIO_S_ACKNOWLEDGE);
	set_status(d, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
	mmio_write32(d->common + VPCI_DFSELECT, 0);
	u64 lo = mmio_read32(d->common + VPCI_DF);
	mmio_write32(d->common + VPCI_DFSELECT, 1);
	u64 hi = mmio_read32(d->common + VPCI_DF);
	d->offered = hi << 32 | lo;
	u64 f = d->offered & wanted;
	if (!(f & BIT(VIRTIO_F_VERSION_1))) {
		d->err = "device does not offer VIRTIO_F_VERSION_1";
		virtio_fail(d);
		return false;
	}
	mmio_write32(d->common + VPCI_GFSELECT, 0);
	mmio_write32(d->common + VPCI_GF, (u32)f);
	mmio_write32(d->common + VPCI_GFSELECT, 1);
	mmio_write32(d->common + VPCI_GF, (u32)(f >> 32));
	set_status(d, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
	if (!(virtio_status(d) & VIRTIO_S_FEATURES_OK)) {
		d->err = "device refused FEATURES_OK";
		virtio_fail(d);
		return false;
	}
	d->features = f;
	/* QEMU's virtio-net adds its queue pairs beyond the first when MQ is
	 * accepted: num_queues is only final after FEATURES_OK */
	d->max_queues = mmio_read16(d->common + VPCI_NUM_QUEUES);
	d->event_idx = f & BIT(VIRTIO_F_EVENT_IDX);
	d->indirect = f & BIT(VIRTIO_F_INDIRECT_DESC);
	return true;
}

/* Ring memory of one queue, laid out for VQ_SIZE_MAX entries whatever the
 * size: descriptors at 0 (16 KiB), avail at 16 KiB, used at 20 KiB. */
#define RING_AVAIL_OFF	0x4000
#define RING_USED_OFF	0x5000
#define RING_BYTES	0x8000

bool virtio_setup_queues(struct vdev *d, u16 nq)
{
	u64 c = d->common;
	if (!nq || nq > d->max_queues || nq > VQ_MAX) {
		d->err = "bad number of queues";
		return false;
	}
	d->msix_ok = false;
	if (d->msix.cap && d->nvec) {
		u32 apic = lapic_id();
		for (u16 e = 0; e < d->nvec; e++)
			pcib_msix_set(&d->msix, e, apic, (u8)(d->vec_base + e));
		pcib_msix_enable(&d->pci, &d->msix, true);
		mmio_write16(c + VPCI_MSIX_CONFIG, 0);
		d->msix_ok = mmio_read16(c + VPCI_MSIX_CONFIG) == 0;
	}
	for (u16 i = 0; i < nq; i++) {
		struct vq *q = &d->q[i];
		mmio_write16(c + VPCI_Q_SELECT, i);
		u16 dsz = mmio_read16(c + VPCI_Q_SIZE);
		if (!dsz) {
			d->err = "queue not available (queue_size 0)";
			return false;
		}
		u16 sz = dsz;
		if (sz > VQ_SIZE_MAX)
			sz = VQ_SIZE_MAX;
		if (d->qsize_limit && sz > d->qsize_limit)
			sz = d->qsize_limit;
		while (sz & (sz - 1))
			sz &= sz - 1;			/* power of two */
		if (sz != dsz)
			mmio_write16(c + VPCI_Q_SIZE, sz);
		if (!q->mem && !(q->mem = page_alloc(RING_BYTES))) {
			d->err = "out of memory for rings";
			return false;
		}
		memset(q->mem, 0, RING_BYTES);
		u8 *m = q->mem;
		q->size = sz;
		q->desc = (volatile struct vring_desc *)m;
		q->avail_flags = (volatile u16 *)(m + RING_AVAIL_OFF);
		q->avail_idx = q->avail_flags + 1;
		q->avail_ring = q->avail_flags + 2;
		q->used_event = q->avail_ring + sz;
		q->used_flags = (volatile u16 *)(m + RING_USED_OFF);
		q->used_idx = q->used_flags + 1;
		q->used_ring = (volatile struct vring_used_elem *)(m + RING_USED_OFF + 4);
		q->avail_event = (volatile u16 *)(m + RING_USED_OFF + 4 + 8 * sz);
		for (u16 k = 0; k < sz; k++) {
			q->next_free[k] = (u16)(k + 1);
			q->chain_len[k] = 0;
		}
		q->free_head = 0;
		q->num_free = sz;
		q->shadow_avail = q->kicked = q->last_used = 0;

		u16 ent = VIRTIO_MSI_NO_VECTOR;
		if (d->msix_ok)
			ent = d->nvec > 1 + i ? 1 + i : d->nvec > 1 ? 1 + i % (d->nvec - 1) : 0;
		mmio_write16(c + VPCI_Q_MSIX, ent);
		if (ent != VIRTIO_MSI_NO_VECTOR && mmio_read16(c + VPCI_Q_MSIX) != ent)
			ent = VIRTIO_MSI_NO_VECTOR;	/* device could not map it */
		q->msix_entry = ent;
		q->vector = ent == VIRTIO_MSI_NO_VECTOR ? 0 : (u8)(d->vec_base + ent);

		u64 da = (u64)q->desc, aa = (u64)q->avail_flags, ua = (u64)q->used_flags;
		mmio_write32(c + VPCI_Q_DESC, (u32)da);
		mmio_write32(c + VPCI_Q_DESC + 4, (u32)(da >> 32));
		mmio_write32(c + VPCI_Q_DRIVER, (u32)aa);
		mmio_write32(c + VPCI_Q_DRIVER + 4, (u32)(aa >> 32));
		mmio_write32(c + VPCI_Q_DEVICE, (u32)ua);
		mmio_write32(c + VPCI_Q_DEVICE + 4, (u32)(ua >> 32));
		u64 noff = (u64)mmio_read16(c + VPCI_Q_NOFF) * d->notify_mult;
		if (noff + 2 > d->notify_len) {
			d->err = "queue_notify_off * notify_off_multiplier beyond the notify capability";
			return false;
		}
		q->notify_addr = d->notify + noff;
		if (d->poll || !q->vector)
			vq_quiet(q);
		mmio_write16(c + VPCI_Q_ENABLE, 1);
		q->ready = true;
	}
	d->nq = nq;
	return true;
}

void virtio_driver_ok(struct vdev *d) { set_status(d, virtio_status(d) | VIRTIO_S_DRIVER_OK); }

bool virtio_init(struct vdev *d, u64 wanted, u16 nq)
{
	if (!virtio_reset(d) || !virtio_negotiate(d, wanted))
		return false;
	if (!virtio_setup_queues(d, nq)) {
		virtio_fail(d);
		return false;
	}
	virtio_driver_ok(d);
	return true;
}

/* --- device configuration ---------------------------------------------- */

u8 vcfg8(struct vdev *d, u32 off) { return mmio_read8(d->devcfg + off); }
u16 vcfg16(struct vdev *d, u32 off) { return mmio_read16(d->devcfg + off); }
u32 vcfg32(struct vdev *d, u32 off) { return mmio_read32(d->devcfg + off); }
void vcfg_write8(struct vdev *d, u32 off, u8 v) { mmio_write8(d->devcfg + off, v); }

u64 vcfg64(struct vdev *d, u32 off)
{
	u64 v;
	u8 g;
	int tries = 0;
	do {
		g = mmio_read8(d->common + VPCI_CFG_GENERATION);
		v = mmio_read32(d->devcfg + off) | (u64)mmio_read32(d->devcfg + off + 4) << 32;
	} while (g != mmio_read8(d->common + VPCI_CFG_GENERATION) && ++tries < 100);
	return v;
}

u64 virtio_cfg_irqs(struct vdev *d) { return d->msix_ok ? irq_count[d->vec_base] : 0; }
u64 virtio_q_irqs(struct vq *q) { return q->vector ? irq_count[q->vector] : 0; }
u64 virtio_all_irqs(struct vdev *d)
{
	u64 s = 0;
	for (u16 e = 0; e < d->nvec; e++)
		s += irq_count[d->vec_base + e];
	return s;
}

/* --- virtqueues ------------------------------------------------------------ */

#define barrier() __asm__ volatile("" ::: "memory")
#define mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)	/* mfence: store -> load */

int vq_add(struct vq *q, const struct vbuf *b, int n, u64 cookie, volatile struct vring_desc *itab)
{
	int need = itab ? 1 : n;
	if (n < 1 || q->num_free < need)
		return -1;
	u16 head = q->free_head, d = head, last = head;
	if (itab) {
		for (int i = 0; i < n; i++) {
			itab[i].addr = b[i].addr;
			itab[i].len = b[i].len;
			itab[i].flags = (b[i].write ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0);
			itab[i].next = (u16)(i + 1 < n ? i + 1 : 0);
		}
		q->desc[d].addr = (u64)itab;
		q->desc[d].len = 16u * n;
		q->desc[d].flags = VRING_DESC_F_INDIRECT;
		q->desc[d].next = 0;
		d = q->next_free[d];
	} else {
		for (int i = 0; i < n; i++) {
			q->desc[d].addr = b[i].addr;
			q->desc[d].len = b[i].len;
			q->desc[d].flags = (b[i].write ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0);
			q->desc[d].next = i + 1 < n ? q->next_free[d] : 0;
			last = d;
			d = q->next_free[d];
		}
	}
	q->free_head = d;
	q->num_free -= need;
	q->chain_len[head] = (u16)need;
	q->chain_last[head] = last;
	q->cookie[head] = cookie;
	vq_push_head(q, head);
	return head;
}

void vq_push_head(struct vq *q, u16 head)
{
	q->avail_ring[q->shadow_avail & (q->size - 1)] = head;
	q->shadow_avail++;
}

void vq_notify(struct vq *q)
{
	mmio_write16(q->notify_addr, q->index);
	q->notifies++;
}

bool vq_kick(struct vq *q)
{
	u16 old = q->kicked, nw = q->shadow_avail;
	if (old == nw)
		return false;
	barrier();				/* descriptors and ring entries first (x86: stores in order) */
	*q->avail_idx = nw;
	mb();					/* publish before reading the device's suppression */
	bool need;
	if (q->dev->event_idx)
		need = (u16)(nw - *q->avail_event - 1) < (u16)(nw - old);
	else
		need = !(*q->used_flags & VRING_USED_F_NO_NOTIFY);
	q->kicked = nw;
	if (need)
		vq_notify(q);
	else
		q->kicks_suppressed++;
	return need;
}

bool vq_get(struct vq *q, u16 *head, u32 *len, u64 *cookie)
{
	if (*q->used_idx == q->last_used)
		return false;
	barrier();				/* idx before the entry (x86: loads in order) */
	volatile struct vring_used_elem *e = &q->used_ring[q->last_used & (q->size - 1)];
	u32 id = e->id, l = e->len;
	q->last_used++;
	if (id >= q->size || !q->chain_len[id]) {
		q->bad_used++;
		if (head)
			*head = 0xffff;
		if (len)
			*len = l;
		if (cookie)
			*cookie = ~0ull;
		return true;
	}
	if (head)
		*head = (u16)id;
	if (len)
		*len = l;
	if (cookie)
		*cookie = q->cookie[id];
	q->next_free[q->chain_last[id]] = q->free_head;
	q->free_head = (u16)id;
	q->num_free += q->chain_len[id];
	q->chain_len[id] = 0;
	return true;
}

bool vq_arm(struct vq *q)
{
	if (q->dev->event_idx)
		*q->used_event = q->last_used;
	else
		*q->avail_flags = 0;
	mb();
	return *q->used_idx == q->last_used;
}

void vq_quiet(struct vq *q)
{
	if (q->dev->event_idx)
		/* half the index space behind: a device compares it with the used
		 * entries of one flush, never as many as 0x8000 (ring <= 1024) */
		*q->used_event = (u16)(q->last_used - 0x8000);
	else
		*q->avail_flags = VRING_AVAIL_F_NO_INTERRUPT;
}

/* --- waiting ------------------------------------------------------------ */

static u64 tmr_deadline, tmr_fired;

void virtio_sleep(u64 snap, u64 deadline)
{
	u64 now = rdtsc();
	if (now >= deadline)
		return;
	if (!timer_ok) {
		cpu_relax();
		return;
	}
	u64 want = deadline, cap = now + ms_to_tsc(20);
	if (want > cap)
		want = cap;
	/* Reuse the armed one-shot only if it has not fired yet: the TSC rate
	 * is calibrated against the timer itself and can be off on a loaded
	 * host, so a timer may fire before tmr_deadline, and waiting for it
	 * then would wait for ever. */
	if (irq_count[VEC_TIMER] != tmr_fired || !(tmr_deadline > now && tmr_deadline <= want)) {
		tmr_fired = irq_count[VEC_TIMER];
		u64 per_us = tsc_hz / 1000000;
		u64 ns = (want - now) * 1000 / per_us;
		if (ns < 10000)
			ns = 10000;
		lapic_write(LAPIC_TICR, (u32)ns);	/* one-shot, 1 GHz (see time_init) */
		tmr_deadline = now + ns * per_us / 1000;
	}
	sys_wait(&irq_total, snap);
}

int vq_wait(struct vq *q, u64 ms)
{
	struct vdev *d = q->dev;
	u64 t0 = rdtsc(), end = t0 + ms_to_tsc(ms);
	u64 next_st = t0 + ms_to_tsc(2), cfg0 = virtio_cfg_irqs(d);
	for (;;) {
		u64 snap = irq_total;
		if (vq_pending(q))
			return 1;
		if (!d->poll && q->vector && !vq_arm(q))
			return 1;
		u64 now = rdtsc();
		if (now >= next_st || virtio_cfg_irqs(d) != cfg0) {
			if (virtio_status(d) & VIRTIO_S_NEEDS_RESET)
				return vq_pending(q) ? 1 : -1;
			next_st = now + ms_to_tsc(d->poll ? 1 : 10);
			cfg0 = virtio_cfg_irqs(d);
		}
		if (now >= end)
			return 0;
		if (d->poll || !q->vector) {
			cpu_relax();
			continue;
		}
		virtio_sleep(snap, next_st < end ? next_st : end);
	}
}

int vq_submit_wait(struct vq *q, const struct vbuf *b, int n, volatile struct vring_desc *itab,
		   u64 ms, u32 *len)
{
	int head = vq_add(q, b, n, 0, itab);
	if (head < 0)
		return VQ_NO_DESC;
	if (!q->dev->poll && q->vector)
		vq_arm(q);			/* this completion interrupts */
	vq_kick(q);
	int w = vq_wait(q, ms);
	if (w <= 0)
		return w == 0 ? VQ_TIMEOUT : VQ_RESET;
	u16 h;
	vq_get(q, &h, len, NULL);
	/* One request in flight: anything else in the used ring is a device bug. */
	return h == head ? VQ_DONE : VQ_BAD_USED;
}
