/* Split virtqueue, device side (virtio 1.2, 2.7).
 *
 * Hostile-guest rules followed throughout:
 * - every guest-shared field is fetched exactly once into a local and only
 *   the local is validated and used (no double fetch);
 * - every guest address goes through VmmGuestMem.translate with its length,
 *   after a check that addr + len does not wrap;
 * - every loop is bounded by the queue size or VMM_VIRTQ_MAX_BUFS, so a
 *   guest that rewrites the rings under our feet can make us fail, never
 *   crash or spin. */
#include "virtio/virtqueue.h"

#include <endian.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

G_DEFINE_QUARK(vmm-virtq-error-quark, vmm_virtq_error)

/* ---- guest-shared memory ------------------------------------------------ */

/* Ring fields are naturally aligned (checked at enable), so one atomic
 * access each: never torn, never re-read behind our back by the compiler. */
static inline uint16_t ld16(const uint8_t *p)
{
    return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED));
}

static inline void st16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELAXED);
}

static inline void st32(uint8_t *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

typedef struct {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
} Desc;

/* Descriptors in indirect tables have no alignment guarantee, so they are
 * copied bytewise; the compiler barrier keeps the compiler from going back
 * to guest memory instead of using the copy. */
static void read_desc(const uint8_t *table, unsigned i, Desc *d)
{
    uint8_t raw[VIRTQ_DESC_SIZE];
    memcpy(raw, table + (size_t)i * VIRTQ_DESC_SIZE, sizeof(raw));
    __asm__ __volatile__("" ::: "memory");
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
    memcpy(&addr, raw + VIRTQ_DESC_OFF_ADDR, sizeof(addr));
    memcpy(&len, raw + VIRTQ_DESC_OFF_LEN, sizeof(len));
    memcpy(&flags, raw + VIRTQ_DESC_OFF_FLAGS, sizeof(flags));
    memcpy(&next, raw + VIRTQ_DESC_OFF_NEXT, sizeof(next));
    d->addr = le64toh(addr);
    d->len = le32toh(len);
    d->flags = le16toh(flags);
    d->next = le16toh(next);
}

/* NULL when [gpa, gpa+len) is not all RAM; *wraps tells the two apart. */
static void *map(VmmVirtq *q, uint64_t gpa, uint64_t len, bool *wraps)
{
    *wraps = len > UINT64_MAX - gpa;
    if (*wraps)
        return NULL;
    return q->mem.translate(q->mem.opaque, gpa, len);
}

/* ---- setup -------------------------------------------------------------- */

void vmm_virtq_init(VmmVirtq *q, const VmmGuestMem *mem, uint16_t size,
                    uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
                    bool event_idx, bool indirect)
{
    memset(q, 0, offsetof(VmmVirtq, seen));   /* seen is cleared per chain */
    q->mem = *mem;
    q->size = size;
    q->desc_gpa = desc_gpa;
    q->avail_gpa = avail_gpa;
    q->used_gpa = used_gpa;
    q->event_idx = event_idx;
    q->indirect = indirect;
    q->notify_enabled = true;
}

bool vmm_virtq_check_rings(VmmVirtq *q, GError **err)
{
    q->ready = false;
    if (q->size == 0 || q->size > VIRTQ_MAX_SIZE || (q->size & (q->size - 1))) {
        g_set_error(err, VMM_VIRTQ_ERROR, VMM_VIRTQ_ERROR_RING,
                    "queue size %u is not a power of 2 in 1..%u", q->size, VIRTQ_MAX_SIZE);
        return false;
    }
    struct {
        const char *name;
        uint64_t gpa, len;
        unsigned align;
        uint8_t **hva;
    } parts[] = {
        { "descriptor table", q->desc_gpa, VIRTQ_DESC_TABLE_SIZE(q->size),
          VIRTQ_DESC_ALIGN, &q->desc },
        { "available ring", q->avail_gpa, VIRTQ_AVAIL_RING_SIZE(q->size),
          VIRTQ_AVAIL_ALIGN, &q->avail },
        { "used ring", q->used_gpa, VIRTQ_USED_RING_SIZE(q->size),
          VIRTQ_USED_ALIGN, &q->used },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(parts); i++) {
        if (parts[i].gpa % parts[i].align) {
            g_set_error(err, VMM_VIRTQ_ERROR, VMM_VIRTQ_ERROR_RING,
                        "%s at 0x%" PRIx64 " is not %u-byte aligned",
                        parts[i].name, parts[i].gpa, parts[i].align);
            return false;
        }
        bool wraps;
        uint8_t *hva = map(q, parts[i].gpa, parts[i].len, &wraps);
        if (!hva) {
            g_set_error(err, VMM_VIRTQ_ERROR, VMM_VIRTQ_ERROR_RING,
                        "%s 0x%" PRIx64 " + %" PRIu64 " %s", parts[i].name, parts[i].gpa,
                        parts[i].len, wraps ? "wraps around the address space"
                                            : "outside guest RAM");
            return false;
        }
        /* The atomic ring accesses need the host side aligned as well. */
        if ((uintptr_t)hva % parts[i].align) {
            g_set_error(err, VMM_VIRTQ_ERROR, VMM_VIRTQ_ERROR_RING,
                        "%s at 0x%" PRIx64 ": host mapping is not %u-byte aligned",
                        parts[i].name, parts[i].gpa, parts[i].align);
            return false;
        }
        *parts[i].hva = hva;
    }
    q->ready = true;
    /* The device owns used->flags and avail_event: start with driver
     * notifications on, and with EVENT_IDX ask for a kick on the first
     * buffer (index last_avail). */
    st16(q->used + VIRTQ_USED_OFF_FLAGS, 0);
    if (q->event_idx)
        st16(q->used + VIRTQ_AVAIL_EVENT_OFF(q->size), q->last_avail);
    return true;
}

/* ---- popping ------------------------------------------------------------ */

static int fail(VmmVirtq *q, GError **err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static int fail(VmmVirtq *q, GError **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_vsnprintf(q->broken_msg, sizeof(q->broken_msg), fmt, ap);
    va_end(ap);
    q->broken = true;
    g_set_error_literal(err, VMM_VIRTQ_ERROR, VMM_VIRTQ_ERROR_BROKEN, q->broken_msg);
    return -1;
}

/* Reads and validates avail->idx into q->avail_idx. */
static bool fetch_avail_idx(VmmVirtq *q, GError **err)
{
    uint16_t idx = ld16(q->avail + VIRTQ_AVAIL_OFF_IDX);
    /* smp_rmb: the ring entries and descriptors published with this idx
     * must be read after it (the driver wrote them before a wmb + idx). */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    /* The driver never decrements idx (2.7.6.1), and with size descriptors
     * it can never have more than size chains outstanding. */
    if ((uint16_t)(idx - q->last_avail) > q->size) {
        fail(q, err, "available ring idx moved from %u to %u, more than the queue size %u",
             q->last_avail, idx, q->size);
        return false;
    }
    if ((uint16_t)(idx - q->used_idx) > q->size) {
        fail(q, err, "available ring idx %u: more than the queue size %u buffers outstanding "
             "(used idx %u)", idx, q->size, q->used_idx);
        return false;
    }
    q->avail_idx = idx;
    return true;
}

static inline bool seen_test_and_set(VmmVirtq *q, unsigned i)
{
    uint64_t bit = 1ULL << (i % 64);
    bool was = q->seen[i / 64] & bit;
    q->seen[i / 64] |= bit;
    return was;
}

static inline void seen_clear(VmmVirtq *q, unsigned n)
{
    memset(q->seen, 0, (n + 63) / 64 * sizeof(q->seen[0]));
}

/* "descriptor 3" or "indirect descriptor 3 (table 0x1000)" for messages. */
static const char *where(char *buf, size_t size, bool in_indirect, unsigned i, uint64_t table)
{
    if (in_indirect)
        g_snprintf(buf, size, "indirect descriptor %u (table 0x%" PRIx64 ")", i, table);
    else
        g_snprintf(buf, size, "descriptor %u", i);
    return buf;
}

/* Follows the chain from head (< size) into *elem. The chain is zero or
 * more direct descriptors, optionally ending in one INDIRECT descriptor
 * whose table holds the rest (2.7.5.3.2). */
static int walk_chain(VmmVirtq *q, uint16_t head, VmmVirtqElem *elem, GError **err)
{
    const uint8_t *table = q->desc;
    unsigned table_len = q->size, i = head;
    uint64_t table_gpa = q->desc_gpa;
    bool in_indirect = false, seen_writable = false;
    unsigned ndesc = 0;            /* buffer descriptors, for the length rule */
    char w[80];

    elem->head = head;
    elem->nbufs = elem->n_out = 0;
    elem->out_bytes = elem->in_bytes = 0;
    seen_clear(q, table_len);

    /* Every iteration visits an index not seen before in the current table
     * (or fails), and there are at most two tables of <= size entries. */
    for (;;) {
        if (seen_test_and_set(q, i)) {
            if (in_indirect)
                return fail(q, err, "descriptor loop at index %u of the indirect table at 0x%"
                            PRIx64 " (chain head %u)", i, table_gpa, head);
            return fail(q, err, "descriptor loop at index %u (chain head %u)", i, head);
        }
        Desc d;
        read_desc(table, i, &d);

        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (in_indirect)
                return fail(q, err, "%s: INDIRECT flag inside an indirect table",
                            where(w, sizeof(w), true, i, table_gpa));
            if (!q->indirect)
                return fail(q, err, "descriptor %u: INDIRECT flag but VIRTIO_F_INDIRECT_DESC "
                            "was not negotiated", i);
            if (d.flags & VIRTQ_DESC_F_NEXT)
                return fail(q, err, "descriptor %u: both NEXT and INDIRECT flags set", i);
            /* The table is desc[len / 16] and starts with entry 0: an
             * empty one or a partial entry is not a table. */
            if (d.len == 0)
                return fail(q, err, "descriptor %u: indirect table of length 0", i);
            if (d.len % VIRTQ_DESC_SIZE)
                return fail(q, err, "descriptor %u: indirect table length %u is not a multiple "
                            "of %u", i, d.len, VIRTQ_DESC_SIZE);
            /* 2.7.5.3.1: no chain longer than the queue size. */
            if (d.len / VIRTQ_DESC_SIZE > q->size)
                return fail(q, err, "descriptor %u: indirect table of %u descriptors is longer "
                            "than the queue size %u", i, d.len / VIRTQ_DESC_SIZE, q->size);
            bool wraps;
            const uint8_t *t = map(q, d.addr, d.len, &wraps);
            if (!t)
                return fail(q, err, "descriptor %u: indirect table 0x%" PRIx64 " + %u %s", i,
                            d.addr, d.len, wraps ? "wraps around the address space"
                                                 : "outside guest RAM");
            /* The WRITE flag of this descriptor is ignored (2.7.5.3.2). */
            table = t;
            table_len = d.len / VIRTQ_DESC_SIZE;
            table_gpa = d.addr;
            in_indirect = true;
            i = 0;
            seen_clear(q, table_len);
            continue;
        }

        if (++ndesc > q->size)
            return fail(q, err, "chain from head %u is longer than the queue size %u",
                        head, q->size);
        bool writable = d.flags & VIRTQ_DESC_F_WRITE;
        /* 2.7.4.2: device-writable elements come after the readable ones. */
        if (!writable && seen_writable)
            return fail(q, err, "%s: device-readable buffer after a device-writable one",
                        where(w, sizeof(w), in_indirect, i, table_gpa));
        seen_writable |= writable;

        /* Zero-length buffers: not forbidden by 2.7 for split rings, and
         * harmless; they describe no memory, so they get no bufs entry. */
        if (d.len) {
            if (elem->nbufs == VMM_VIRTQ_MAX_BUFS)
                return fail(q, err, "chain from head %u has more than %u buffers",
                            head, VMM_VIRTQ_MAX_BUFS);
            bool wraps;
            void *hva = map(q, d.addr, d.len, &wraps);
            if (!hva)
                return fail(q, err, "%s: buffer 0x%" PRIx64 " + %u %s",
                            where(w, sizeof(w), in_indirect, i, table_gpa), d.addr, d.len,
                            wraps ? "wraps around the address space" : "outside guest RAM");
            VmmVirtqBuf *b = &elem->bufs[elem->nbufs++];
            b->gpa = d.addr;
            b->len = d.len;
            b->device_writable = writable;
            b->hva = hva;
            if (!writable)
                elem->n_out++;
            if (writable)
                elem->in_bytes += d.len;
            else
                elem->out_bytes += d.len;
            /* 2.7.5.2: no chain longer than 2^32 bytes in total. */
            if (elem->in_bytes + elem->out_bytes > (1ULL << 32))
                return fail(q, err, "chain from head %u is longer than 2^32 bytes", head);
        }

        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        if (d.next >= table_len) {
            if (in_indirect)
                return fail(q, err, "%s: next index %u beyond the table's %u entries",
                            where(w, sizeof(w), true, i, table_gpa), d.next, table_len);
            return fail(q, err, "descriptor %u: next index %u >= queue size %u",
                        i, d.next, q->size);
        }
        i = d.next;
    }
}

int vmm_virtq_pop(VmmVirtq *q, VmmVirtqElem *elem, GError **err)
{
    if (q->broken) {
        g_set_error_literal(err, VMM_VIRTQ_ERROR, VMM_VIRTQ_ERROR_BROKEN, q->broken_msg);
        return -1;
    }
    if (!q->ready) {
        g_set_error_literal(err, VMM_VIRTQ_ERROR, VMM_VIRTQ_ERROR_RING,
                            "virtqueue used before its rings were validated");
        return -1;
    }
    /* avail->idx is only re-read once everything seen before is consumed,
     * which keeps the driver's cache line quiet during a batch. */
    if (q->last_avail == q->avail_idx) {
        if (!fetch_avail_idx(q, err))
            return -1;
        if (q->last_avail == q->avail_idx) {
            if (!q->event_idx || !q->notify_enabled)
                return 0;
            /* Empty: ask for a kick on the next buffer, then look once more.
             * The full barrier pairs with the driver's (idx store, mb,
             * avail_event load): either it sees our avail_event and kicks,
             * or we see its idx here. */
            st16(q->used + VIRTQ_AVAIL_EVENT_OFF(q->size), q->last_avail);
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            if (!fetch_avail_idx(q, err))
                return -1;
            if (q->last_avail == q->avail_idx)
                return 0;
        }
    }
    uint16_t slot = q->last_avail & (q->size - 1);
    uint16_t head = ld16(q->avail + VIRTQ_AVAIL_OFF_RING + 2 * (size_t)slot);
    if (head >= q->size)
        return fail(q, err, "available ring entry %u: head index %u >= queue size %u",
                    q->last_avail, head, q->size);
    if (walk_chain(q, head, elem, err) < 0)
        return -1;
    q->last_avail++;
    return 1;
}

/* ---- completing --------------------------------------------------------- */

void vmm_virtq_push(VmmVirtq *q, const VmmVirtqElem *elem, uint32_t written)
{
    /* After a break the device is waiting for a reset: the driver must not
     * rely on completions (2.1.1), so none are written. */
    if (!q->ready || q->broken)
        return;
    /* More pushes than pops would overwrite entries the driver has not
     * consumed: a device model bug, not a guest one. */
    if (q->used_idx == q->last_avail) {
        g_warning("virtqueue: push of head %u without a matching pop", elem->head);
        return;
    }
    /* Never claim more than the writable part: the driver trusts len to
     * know which bytes hold data (2.7.8). */
    if (written > elem->in_bytes)
        written = (uint32_t)elem->in_bytes;
    uint8_t *e = q->used + VIRTQ_USED_OFF_RING +
                 (size_t)(q->used_idx & (q->size - 1)) * VIRTQ_USED_ELEM_SIZE;
    st32(e, elem->head);
    st32(e + 4, written);
    q->used_idx++;
}

void vmm_virtq_flush(VmmVirtq *q)
{
    if (!q->ready || q->used_idx == q->used_published)
        return;
    /* smp_wmb: the used elements, and the data written into the buffers,
     * must be visible before the idx that hands them to the driver. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    st16(q->used + VIRTQ_USED_OFF_IDX, q->used_idx);
    q->used_published = q->used_idx;
}

bool vmm_virtq_should_notify(VmmVirtq *q)
{
    if (!q->ready)
        return false;
    uint16_t old_idx = q->signalled_used, new_idx = q->used_published;
    if (old_idx == new_idx)
        return false;
    q->signalled_used = new_idx;
    /* smp_mb: the used->idx store must be visible before we read the
     * driver's used_event/flags; the driver does the mirror image (write
     * used_event, mb, re-read used->idx), so one of us sees the other. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (q->event_idx) {
        uint16_t used_event = ld16(q->avail + VIRTQ_USED_EVENT_OFF(q->size));
        return virtq_need_event(used_event, new_idx, old_idx);
    }
    return !(ld16(q->avail + VIRTQ_AVAIL_OFF_FLAGS) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* ---- notification suppression ------------------------------------------ */

bool vmm_virtq_enable_notification(VmmVirtq *q)
{
    if (!q->ready || q->broken)
        return false;
    q->notify_enabled = true;
    if (q->event_idx)
        st16(q->used + VIRTQ_AVAIL_EVENT_OFF(q->size), q->avail_idx);
    else
        st16(q->used + VIRTQ_USED_OFF_FLAGS, 0);
    /* smp_mb: publish the above before looking at avail->idx again, or a
     * buffer added just before the driver saw it would be missed by both. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return ld16(q->avail + VIRTQ_AVAIL_OFF_IDX) != q->last_avail;
}

void vmm_virtq_disable_notification(VmmVirtq *q)
{
    if (!q->ready || !q->notify_enabled)
        return;
    q->notify_enabled = false;
    /* With EVENT_IDX avail_event just stops moving: the driver kicks at
     * most once more, when it passes the old value. */
    if (!q->event_idx)
        st16(q->used + VIRTQ_USED_OFF_FLAGS, VIRTQ_USED_F_NO_NOTIFY);
}

void vmm_virtq_unpop(VmmVirtq *q, unsigned n)
{
    /* Only elements popped and not pushed can go back. */
    if ((uint16_t)(q->last_avail - q->used_idx) < n) {
        g_warning("virtqueue: unpop of %u elements, only %u outstanding", n,
                  (uint16_t)(q->last_avail - q->used_idx));
        return;
    }
    q->last_avail -= n;
}

uint16_t vmm_virtq_last_avail(VmmVirtq *q)
{
    return q->last_avail;
}

/* ---- element data ------------------------------------------------------- */

static void part_range(const VmmVirtqElem *elem, bool writable, unsigned *first, unsigned *end)
{
    *first = writable ? elem->n_out : 0;
    *end = writable ? elem->nbufs : elem->n_out;
}

size_t vmm_virtq_elem_read(const VmmVirtqElem *elem, size_t offset, void *dst, size_t len)
{
    unsigned i, end;
    size_t done = 0;
    part_range(elem, false, &i, &end);
    for (; i < end && done < len; i++) {
        const VmmVirtqBuf *b = &elem->bufs[i];
        if (offset >= b->len) {
            offset -= b->len;
            continue;
        }
        size_t n = MIN(b->len - offset, len - done);
        memcpy((uint8_t *)dst + done, (const uint8_t *)b->hva + offset, n);
        done += n;
        offset = 0;
    }
    return done;
}

size_t vmm_virtq_elem_write(VmmVirtqElem *elem, size_t offset, const void *src, size_t len)
{
    unsigned i, end;
    size_t done = 0;
    part_range(elem, true, &i, &end);
    for (; i < end && done < len; i++) {
        const VmmVirtqBuf *b = &elem->bufs[i];
        if (offset >= b->len) {
            offset -= b->len;
            continue;
        }
        size_t n = MIN(b->len - offset, len - done);
        memcpy((uint8_t *)b->hva + offset, (const uint8_t *)src + done, n);
        done += n;
        offset = 0;
    }
    return done;
}

unsigned vmm_virtq_elem_iov(const VmmVirtqElem *elem, bool writable, size_t offset, size_t len,
                            struct iovec *iov, unsigned max)
{
    unsigned i, end, n = 0;
    part_range(elem, writable, &i, &end);
    for (; i < end && len && n < max; i++) {
        const VmmVirtqBuf *b = &elem->bufs[i];
        if (offset >= b->len) {
            offset -= b->len;
            continue;
        }
        size_t chunk = MIN(b->len - offset, len);
        iov[n].iov_base = (uint8_t *)b->hva + offset;
        iov[n].iov_len = chunk;
        n++;
        len -= chunk;
        offset = 0;
    }
    return n;
}

uint8_t *vmm_virtq_elem_status_ptr(const VmmVirtqElem *elem)
{
    if (elem->nbufs <= elem->n_out)
        return NULL;
    const VmmVirtqBuf *b = &elem->bufs[elem->nbufs - 1];
    return b->len ? (uint8_t *)b->hva + b->len - 1 : NULL;
}

bool vmm_virtq_avail_pending(VmmVirtq *q)
{
    if (!q->ready || q->broken)
        return false;
    /* avail->idx is at offset 2 of the available ring. */
    uint16_t idx = __atomic_load_n((uint16_t *)(q->avail + 2), __ATOMIC_ACQUIRE);
    return idx != q->last_avail;
}
