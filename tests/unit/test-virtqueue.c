/* The split virtqueue against a test driver: rings are built in a fake
 * guest RAM with a hole, the test plays the guest driver (good and
 * hostile) and checks what the device side makes of it. */
#include "virtio/virtqueue.h"

#include <endian.h>
#include <string.h>

/* Guest physical layout: RAM [0, 1 MiB), hole [1 MiB, 2 MiB),
 * RAM [2 MiB, 3 MiB). */
#define LOW_SIZE   0x100000ULL
#define HIGH_BASE  0x200000ULL
#define HIGH_SIZE  0x100000ULL

#define DESC_GPA   0x10000ULL
#define AVAIL_GPA  0x20000ULL
#define USED_GPA   0x30000ULL
#define DATA_GPA   0x40000ULL     /* test buffers from here */
#define TABLE_GPA  0x80000ULL     /* indirect tables from here */

typedef struct {
    uint8_t *ram;                 /* LOW_SIZE + HIGH_SIZE bytes */
    VmmGuestMem mem;
    VmmVirtq *q;
    VmmVirtqElem *elem;
    uint16_t size;
    uint64_t desc, avail, used;
    uint16_t avail_idx;           /* the driver's shadow of avail->idx */
    bool event_idx;
} Drv;

static void *fake_translate(void *opaque, uint64_t gpa, uint64_t len)
{
    uint8_t *ram = opaque;
    if (gpa < LOW_SIZE && len <= LOW_SIZE - gpa)
        return ram + gpa;
    if (gpa >= HIGH_BASE && gpa - HIGH_BASE < HIGH_SIZE && len <= HIGH_SIZE - (gpa - HIGH_BASE))
        return ram + LOW_SIZE + (gpa - HIGH_BASE);
    return NULL;
}

/* Claims every address below 1 TiB is RAM and maps it all onto one page:
 * only for chains whose buffers are never touched. */
static void *wide_translate(void *opaque, uint64_t gpa, uint64_t len)
{
    uint8_t *ram = opaque;
    void *p = fake_translate(opaque, gpa, len);
    if (p)
        return p;
    if (gpa < (1ULL << 40) && len <= (1ULL << 40) - gpa)
        return ram + DATA_GPA;
    return NULL;
}

static uint8_t *hva(Drv *d, uint64_t gpa)
{
    uint8_t *p = fake_translate(d->ram, gpa, 1);
    g_assert_nonnull(p);
    return p;
}

static void put16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELAXED);
}

static uint16_t get16(uint8_t *p)
{
    return le16toh(__atomic_load_n((uint16_t *)(void *)p, __ATOMIC_RELAXED));
}

static uint32_t get32(uint8_t *p)
{
    return le32toh(__atomic_load_n((uint32_t *)(void *)p, __ATOMIC_RELAXED));
}

static void drv_init_rings(Drv *d, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used,
                           bool event_idx, bool indirect)
{
    d->size = size;
    d->desc = desc;
    d->avail = avail;
    d->used = used;
    d->event_idx = event_idx;
    d->avail_idx = 0;
    vmm_virtq_init(d->q, &d->mem, size, desc, avail, used, event_idx, indirect);
}

static void drv_setup_full(Drv *d, uint16_t size, bool event_idx, bool indirect,
                           void *(*translate)(void *, uint64_t, uint64_t))
{
    d->ram = g_malloc0(LOW_SIZE + HIGH_SIZE);
    d->mem.translate = translate;
    d->mem.opaque = d->ram;
    d->q = g_new0(VmmVirtq, 1);
    d->elem = g_new0(VmmVirtqElem, 1);
    drv_init_rings(d, size, DESC_GPA, AVAIL_GPA, USED_GPA, event_idx, indirect);
    g_autoptr(GError) err = NULL;
    g_assert_true(vmm_virtq_check_rings(d->q, &err));
    g_assert_no_error(err);
}

static void drv_setup(Drv *d, uint16_t size, bool event_idx, bool indirect)
{
    drv_setup_full(d, size, event_idx, indirect, fake_translate);
}

static void drv_free(Drv *d)
{
    g_free(d->elem);
    g_free(d->q);
    g_free(d->ram);
}

static void put_desc_at(Drv *d, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
                        uint16_t flags, uint16_t next)
{
    uint8_t raw[16];
    uint64_t a = htole64(addr);
    uint32_t l = htole32(len);
    uint16_t f = htole16(flags), n = htole16(next);
    memcpy(raw, &a, 8);
    memcpy(raw + 8, &l, 4);
    memcpy(raw + 12, &f, 2);
    memcpy(raw + 14, &n, 2);
    memcpy(hva(d, table + 16ULL * i), raw, 16);
}

static void put_desc(Drv *d, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    put_desc_at(d, d->desc, i, addr, len, flags, next);
}

static void set_avail_idx(Drv *d, uint16_t idx)
{
    __atomic_thread_fence(__ATOMIC_RELEASE);
    put16(hva(d, d->avail + 2), idx);
}

/* Adds a chain head and publishes it, as virtqueue_add + kick would. */
static void offer(Drv *d, uint16_t head)
{
    put16(hva(d, d->avail + 4 + 2 * (d->avail_idx % d->size)), head);
    d->avail_idx++;
    set_avail_idx(d, d->avail_idx);
}

static uint16_t used_idx(Drv *d)
{
    return get16(hva(d, d->used + 2));
}

static void used_elem(Drv *d, uint16_t i, uint32_t *id, uint32_t *len)
{
    uint8_t *e = hva(d, d->used + 4 + 8 * (i % d->size));
    *id = get32(e);
    *len = get32(e + 4);
}

static void set_used_event(Drv *d, uint16_t v)
{
    put16(hva(d, d->avail + 4 + 2 * d->size), v);
}

static uint16_t avail_event(Drv *d)
{
    return get16(hva(d, d->used + 4 + 8 * d->size));
}

static void set_avail_flags(Drv *d, uint16_t v)
{
    put16(hva(d, d->avail), v);
}

static uint16_t used_flags(Drv *d)
{
    return get16(hva(d, d->used));
}

/* Pop must fail, with a message containing `what`, and keep failing. */
static void expect_broken(Drv *d, const char *what)
{
    g_autoptr(GError) err = NULL;
    g_assert_cmpint(vmm_virtq_pop(d->q, d->elem, &err), ==, -1);
    g_assert_nonnull(err);
    if (!strstr(err->message, what))
        g_error("expected \"%s\" in \"%s\"", what, err->message);
    g_assert_null(strchr(err->message, '\n'));
    g_autoptr(GError) err2 = NULL;
    g_assert_cmpint(vmm_virtq_pop(d->q, d->elem, &err2), ==, -1);
    g_assert_cmpstr(err2->message, ==, err->message);
}

static int pop(Drv *d)
{
    g_autoptr(GError) err = NULL;
    int r = vmm_virtq_pop(d->q, d->elem, &err);
    if (r < 0)
        g_error("unexpected pop failure: %s", err->message);
    g_assert_no_error(err);
    return r;
}

/* One full round trip of a one-buffer chain at descriptor 0. */
static void round_trip(Drv *d)
{
    offer(d, 0);
    g_assert_cmpint(pop(d), ==, 1);
    vmm_virtq_push(d->q, d->elem, 0);
    vmm_virtq_flush(d->q);
}

/* ---- good drivers ------------------------------------------------------- */

static void test_simple(void)
{
    Drv d;
    drv_setup(&d, 8, false, false);
    g_assert_cmpint(pop(&d), ==, 0);

    memcpy(hva(&d, DATA_GPA), "hello", 5);
    put_desc(&d, 3, DATA_GPA, 5, 0, 0);
    offer(&d, 3);
    g_assert_cmpint(pop(&d), ==, 1);
    g_assert_cmpuint(d.elem->head, ==, 3);
    g_assert_cmpuint(d.elem->nbufs, ==, 1);
    g_assert_cmpuint(d.elem->n_out, ==, 1);
    g_assert_cmpuint(d.elem->out_bytes, ==, 5);
    g_assert_cmpuint(d.elem->in_bytes, ==, 0);
    g_assert_cmphex(d.elem->bufs[0].gpa, ==, DATA_GPA);
    g_assert_true(d.elem->bufs[0].hva == hva(&d, DATA_GPA));
    g_assert_false(d.elem->bufs[0].device_writable);
    g_assert_null(vmm_virtq_elem_status_ptr(d.elem));
    g_assert_cmpuint(vmm_virtq_last_avail(d.q), ==, 1);
    g_assert_cmpint(pop(&d), ==, 0);

    vmm_virtq_push(d.q, d.elem, 100);   /* nothing writable: len clamped to 0 */
    g_assert_cmpuint(used_idx(&d), ==, 0);
    vmm_virtq_flush(d.q);
    g_assert_cmpuint(used_idx(&d), ==, 1);
    uint32_t id, len;
    used_elem(&d, 0, &id, &len);
    g_assert_cmpuint(id, ==, 3);
    g_assert_cmpuint(len, ==, 0);
    g_assert_true(vmm_virtq_should_notify(d.q));
    g_assert_false(vmm_virtq_should_notify(d.q));   /* nothing new since */
    drv_free(&d);
}

/* unpop gives back popped, unpushed elements; the next pops return them
 * again in ring order, and nothing already pushed can go back. */
static void test_unpop(void)
{
    Drv d;
    drv_setup(&d, 8, false, false);
    for (unsigned i = 0; i < 3; i++) {
        put_desc(&d, i, DATA_GPA + 64 * i, 64, VIRTQ_DESC_F_WRITE, 0);
        offer(&d, i);
    }
    g_assert_cmpint(pop(&d), ==, 1);
    g_assert_cmpuint(d.elem->head, ==, 0);
    vmm_virtq_push(d.q, d.elem, 10);
    g_assert_cmpint(pop(&d), ==, 1);
    g_assert_cmpint(pop(&d), ==, 1);
    g_assert_cmpuint(d.elem->head, ==, 2);
    vmm_virtq_unpop(d.q, 2);
    g_assert_cmpuint(vmm_virtq_last_avail(d.q), ==, 1);
    g_assert_cmpint(pop(&d), ==, 1);
    g_assert_cmpuint(d.elem->head, ==, 1);
    vmm_virtq_unpop(d.q, 1);
    /* Two back would reach the pushed head 0: refused with a warning. */
    g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*unpop of 2 elements, only 0 outstanding*");
    vmm_virtq_unpop(d.q, 2);
    g_test_assert_expected_messages();
    g_assert_cmpuint(vmm_virtq_last_avail(d.q), ==, 1);
    drv_free(&d);
}

static void test_multi_segment(void)
{
    Drv d;
    drv_setup(&d, 16, false, false);
    /* A virtio-blk style request: 16-byte header + 2 data segments out,
     * then 2 data segments + 1 status byte in; the buffers sit in both
     * RAM regions. */
    for (unsigned i = 0; i < 32; i++)
        hva(&d, DATA_GPA)[i] = i;
    for (unsigned i = 0; i < 8; i++)
        hva(&d, HIGH_BASE)[i] = 0x80 + i;
    put_desc(&d, 5, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 9);
    put_desc(&d, 9, DATA_GPA + 16, 16, VIRTQ_DESC_F_NEXT, 2);
    put_desc(&d, 2, HIGH_BASE, 8, VIRTQ_DESC_F_NEXT, 0);
    put_desc(&d, 0, DATA_GPA + 0x1000, 10, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 15);
    put_desc(&d, 15, HIGH_BASE + 0x1000, 6, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 7);
    put_desc(&d, 7, DATA_GPA + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
    offer(&d, 5);
    g_assert_cmpint(pop(&d), ==, 1);
    VmmVirtqElem *e = d.elem;
    g_assert_cmpuint(e->head, ==, 5);
    g_assert_cmpuint(e->nbufs, ==, 6);
    g_assert_cmpuint(e->n_out, ==, 3);
    g_assert_cmpuint(e->out_bytes, ==, 40);
    g_assert_cmpuint(e->in_bytes, ==, 17);
    for (unsigned i = 0; i < 6; i++)
        g_assert_cmpint(e->bufs[i].device_writable, ==, i >= 3);

    /* Reads cross segment boundaries and stop at the end of the part. */
    uint8_t buf[64];
    g_assert_cmpuint(vmm_virtq_elem_read(e, 12, buf, 8), ==, 8);
    for (unsigned i = 0; i < 8; i++)
        g_assert_cmpuint(buf[i], ==, 12 + i);
    g_assert_cmpuint(vmm_virtq_elem_read(e, 30, buf, 64), ==, 10);
    g_assert_cmpuint(buf[1], ==, 31);
    g_assert_cmpuint(buf[2], ==, 0x80);
    g_assert_cmpuint(buf[9], ==, 0x87);
    g_assert_cmpuint(vmm_virtq_elem_read(e, 40, buf, 1), ==, 0);
    g_assert_cmpuint(vmm_virtq_elem_read(e, 1000, buf, 1), ==, 0);

    /* Writes go to the writable part only. */
    uint8_t pattern[17];
    for (unsigned i = 0; i < sizeof(pattern); i++)
        pattern[i] = 0xa0 + i;
    g_assert_cmpuint(vmm_virtq_elem_write(e, 8, pattern, 17), ==, 9);
    g_assert_cmpuint(hva(&d, DATA_GPA + 0x1000)[8], ==, 0xa0);
    g_assert_cmpuint(hva(&d, DATA_GPA + 0x1000)[9], ==, 0xa1);
    g_assert_cmpuint(hva(&d, HIGH_BASE + 0x1000)[0], ==, 0xa2);
    g_assert_cmpuint(hva(&d, DATA_GPA + 0x2000)[0], ==, 0xa8);
    g_assert_cmpuint(hva(&d, DATA_GPA)[0], ==, 0);   /* readable part untouched */
    uint8_t *status = vmm_virtq_elem_status_ptr(e);
    g_assert_true(status == hva(&d, DATA_GPA + 0x2000));

    /* iovecs for a byte range of either part. */
    struct iovec iov[8];
    unsigned n = vmm_virtq_elem_iov(e, false, 16, 24, iov, 8);
    g_assert_cmpuint(n, ==, 2);
    g_assert_true(iov[0].iov_base == hva(&d, DATA_GPA + 16));
    g_assert_cmpuint(iov[0].iov_len, ==, 16);
    g_assert_true(iov[1].iov_base == hva(&d, HIGH_BASE));
    g_assert_cmpuint(iov[1].iov_len, ==, 8);
    n = vmm_virtq_elem_iov(e, true, 5, 10, iov, 8);
    g_assert_cmpuint(n, ==, 2);
    g_assert_true(iov[0].iov_base == hva(&d, DATA_GPA + 0x1000 + 5));
    g_assert_cmpuint(iov[0].iov_len, ==, 5);
    g_assert_cmpuint(iov[1].iov_len, ==, 5);
    n = vmm_virtq_elem_iov(e, true, 0, 1000, iov, 2);   /* cut by max */
    g_assert_cmpuint(n, ==, 2);
    g_assert_cmpuint(iov[0].iov_len + iov[1].iov_len, ==, 16);
    n = vmm_virtq_elem_iov(e, true, 0, 1000, iov, 8);   /* cut by the part */
    g_assert_cmpuint(n, ==, 3);
    g_assert_cmpuint(vmm_virtq_elem_iov(e, true, 17, 1, iov, 8), ==, 0);

    vmm_virtq_push(d.q, e, 1000);   /* clamped to in_bytes */
    vmm_virtq_flush(d.q);
    uint32_t id, len;
    used_elem(&d, 0, &id, &len);
    g_assert_cmpuint(id, ==, 5);
    g_assert_cmpuint(len, ==, 17);
    drv_free(&d);
}

static void test_indirect(void)
{
    Drv d;
    drv_setup(&d, 4, false, true);
    /* One descriptor pointing at a 3-entry table, entries out of order. */
    put_desc_at(&d, TABLE_GPA, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 2);
    put_desc_at(&d, TABLE_GPA, 2, DATA_GPA + 16, 100, VIRTQ_DESC_F_NEXT, 1);
    put_desc_at(&d, TABLE_GPA, 1, DATA_GPA + 200, 1, VIRTQ_DESC_F_WRITE, 0);
    put_desc(&d, 1, TABLE_GPA, 48, VIRTQ_DESC_F_INDIRECT, 0);
    offer(&d, 1);
    g_assert_cmpint(pop(&d), ==, 1);
    g_assert_cmpuint(d.elem->head, ==, 1);
    g_assert_cmpuint(d.elem->nbufs, ==, 3);
    g_assert_cmpuint(d.elem->n_out, ==, 2);
    g_assert_cmpuint(d.elem->out_bytes, ==, 116);
    g_assert_cmpuint(d.elem->in_bytes, ==, 1);
    g_assert_cmphex(d.elem->bufs[2].gpa, ==, DATA_GPA + 200);

    /* An indirect table may hold up to queue-size entries. */
    for (unsigned i = 0; i < 4; i++)
        put_desc_at(&d, TABLE_GPA + 0x1000, i, DATA_GPA + 64 * i, 64,
                    i < 3 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
    put_desc(&d, 0, TABLE_GPA + 0x1000, 64, VIRTQ_DESC_F_INDIRECT, 0);
    offer(&d, 0);
    g_assert_cmpint(pop(&d), ==, 1);
    g_assert_cmpuint(d.elem->nbufs, ==, 4);
    g_assert_cmpuint(d.elem->out_bytes, ==, 256);

    /* A table may be larger than the part of it the chain uses. */
    put_desc_at(&d, TABLE_GPA + 0x2000, 0, DATA_GPA, 8, 0, 0);
    put_desc(&d, 2, TABLE_GPA + 0x2000, 64, VIRTQ_DESC_F_INDIRECT, 0);
    offer(&d, 2);
    g_assert_cmpint(pop(&d), ==, 1);
    g_assert_cmpuint(d.elem->nbufs, ==, 1);
    drv_free(&d);
}

/* 2.7.5.3.2: direct descriptors followed by one INDIRECT descriptor are
 * valid, and the WRITE flag on the INDIRECT descriptor is ignored. */
static void test_indirect_after_direct(void)
{
    Drv d;
    drv_setup(&d, 8, false, true);
    put_desc(&d, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    put_desc(&d, 1, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
    put_desc_at(&d, TABLE_GPA, 0, DATA_GPA + 16, 16, VIRTQ_DESC_F_NEXT, 1);
    put_desc_at(&d, TABLE_GPA, 1, DATA_GPA + 32, 4, VIRTQ_DESC_F_WRITE, 0);
    offer(&d, 0);
    g_assert_cmpint(pop(&d), ==, 1);
    g_assert_cmpuint(d.elem->nbufs, ==, 3);
    g_assert_cmpuint(d.elem->n_out, ==, 2);
    g_assert_cmpuint(d.elem->out_bytes, ==, 32);
    g_assert_cmpuint(d.elem->in_bytes, ==, 4);
    drv_free(&d);
}

/* Zero-length buffers are accepted and skipped; their address is never
 * looked at. */
static void test_zero_length(void)
{
    Drv d;
    drv_setup(&d, 8, false, false);
    put_desc(&d, 0, LOW_SIZE, 0, VIRTQ_DESC_F_NEXT, 1);   /* in the hole, but empty */
    put_desc(&d, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
    put_desc(&d, 2, 0, 0, VIRTQ_DESC_F_WRITE, 0);
    offer(&d, 0);
    g_assert_cmpint(pop(&d), ==, 1);
    g_assert_cmpuint(d.elem->nbufs, ==, 1);
    g_assert_cmpuint(d.elem->n_out, ==, 1);
    g_assert_cmpuint(d.elem->in_bytes, ==, 0);
    g_assert_null(vmm_virtq_elem_status_ptr(d.elem));
    drv_free(&d);
}

static void test_rings_in_high_ram(void)
{
    Drv d;
    drv_setup(&d, 8, true, false);
    drv_init_rings(&d, 256, HIGH_BASE + 0x10000, HIGH_BASE + 0x20002, HIGH_BASE + 0x30004,
                   true, false);
    g_autoptr(GError) err = NULL;
    g_assert_true(vmm_virtq_check_rings(d.q, &err));
    put_desc(&d, 255, HIGH_BASE + HIGH_SIZE - 16, 16, 0, 0);   /* last bytes of RAM */
    offer(&d, 255);
    g_assert_cmpint(pop(&d), ==, 1);
    g_assert_cmpuint(d.elem->head, ==, 255);
    drv_free(&d);
}

static void test_batching(void)
{
    Drv d;
    drv_setup(&d, 8, false, false);
    for (unsigned i = 0; i < 4; i++)
        put_desc(&d, i, DATA_GPA + 0x100 * i, 0x100, VIRTQ_DESC_F_WRITE, 0);
    for (unsigned i = 0; i < 4; i++)
        offer(&d, 3 - i);
    VmmVirtqElem *elems = g_new(VmmVirtqElem, 4);
    for (unsigned i = 0; i < 4; i++) {
        g_autoptr(GError) err = NULL;
        g_assert_cmpint(vmm_virtq_pop(d.q, &elems[i], &err), ==, 1);
    }
    g_assert_cmpint(pop(&d), ==, 0);
    /* Completions out of order; nothing visible before the flush. */
    vmm_virtq_push(d.q, &elems[2], 10);
    vmm_virtq_push(d.q, &elems[0], 20);
    vmm_virtq_push(d.q, &elems[3], 30);
    g_assert_cmpuint(used_idx(&d), ==, 0);
    g_assert_false(vmm_virtq_should_notify(d.q));
    vmm_virtq_flush(d.q);
    g_assert_cmpuint(used_idx(&d), ==, 3);
    g_assert_true(vmm_virtq_should_notify(d.q));
    uint32_t id, len;
    used_elem(&d, 0, &id, &len);
    g_assert_cmpuint(id, ==, 1);
    g_assert_cmpuint(len, ==, 10);
    used_elem(&d, 1, &id, &len);
    g_assert_cmpuint(id, ==, 3);
    used_elem(&d, 2, &id, &len);
    g_assert_cmpuint(id, ==, 0);
    g_assert_cmpuint(len, ==, 30);
    vmm_virtq_flush(d.q);   /* nothing new: no store, no notification */
    g_assert_false(vmm_virtq_should_notify(d.q));
    vmm_virtq_push(d.q, &elems[1], 0);
    vmm_virtq_flush(d.q);
    g_assert_cmpuint(used_idx(&d), ==, 4);
    g_assert_true(vmm_virtq_should_notify(d.q));
    g_free(elems);
    drv_free(&d);
}

/* ---- notification suppression ------------------------------------------- */

static void test_flags_notification(void)
{
    Drv d;
    drv_setup(&d, 8, false, false);
    put_desc(&d, 0, DATA_GPA, 16, 0, 0);
    /* Used buffer notifications: VIRTQ_AVAIL_F_NO_INTERRUPT. */
    set_avail_flags(&d, VIRTQ_AVAIL_F_NO_INTERRUPT);
    round_trip(&d);
    g_assert_false(vmm_virtq_should_notify(d.q));
    set_avail_flags(&d, 0);
    round_trip(&d);
    g_assert_true(vmm_virtq_should_notify(d.q));

    /* Available buffer notifications: VIRTQ_USED_F_NO_NOTIFY. */
    g_assert_cmpuint(used_flags(&d), ==, 0);
    vmm_virtq_disable_notification(d.q);
    g_assert_cmpuint(used_flags(&d), ==, VIRTQ_USED_F_NO_NOTIFY);
    g_assert_false(vmm_virtq_enable_notification(d.q));
    g_assert_cmpuint(used_flags(&d), ==, 0);
    /* The race: a buffer added while notifications were off. */
    vmm_virtq_disable_notification(d.q);
    offer(&d, 0);
    g_assert_true(vmm_virtq_enable_notification(d.q));
    g_assert_cmpint(pop(&d), ==, 1);
    drv_free(&d);
}

static void test_used_event_wrap(void)
{
    Drv d;
    drv_setup(&d, 4, true, false);
    put_desc(&d, 0, DATA_GPA, 16, 0, 0);
    /* used_event = 0: notify after the first buffer only. */
    set_used_event(&d, 0);
    round_trip(&d);
    g_assert_true(vmm_virtq_should_notify(d.q));
    round_trip(&d);
    g_assert_false(vmm_virtq_should_notify(d.q));
    /* The lower bit of flags is ignored with EVENT_IDX. */
    set_avail_flags(&d, VIRTQ_AVAIL_F_NO_INTERRUPT);
    set_used_event(&d, 2);
    round_trip(&d);
    g_assert_true(vmm_virtq_should_notify(d.q));
    set_avail_flags(&d, 0);

    /* Bring the indices up to the 16-bit wrap. */
    set_used_event(&d, 0x7fff);
    while (d.avail_idx != 65533) {
        round_trip(&d);
        vmm_virtq_should_notify(d.q);
    }
    g_assert_cmpuint(used_idx(&d), ==, 65533);
    /* The driver wants to hear about entry 65535, i.e. idx reaching 0. */
    set_used_event(&d, 65535);
    offer(&d, 0);
    offer(&d, 0);
    offer(&d, 0);
    offer(&d, 0);
    VmmVirtqElem *elems = g_new(VmmVirtqElem, 4);
    for (unsigned i = 0; i < 4; i++) {
        g_autoptr(GError) err = NULL;
        g_assert_cmpint(vmm_virtq_pop(d.q, &elems[i], &err), ==, 1);
    }
    vmm_virtq_push(d.q, &elems[0], 0);
    vmm_virtq_push(d.q, &elems[1], 0);
    vmm_virtq_flush(d.q);   /* 65533 -> 65535: entry 65535 not yet written */
    g_assert_false(vmm_virtq_should_notify(d.q));
    vmm_virtq_push(d.q, &elems[2], 0);
    vmm_virtq_push(d.q, &elems[3], 0);
    vmm_virtq_flush(d.q);   /* 65535 -> 1 across the wrap */
    g_assert_cmpuint(used_idx(&d), ==, 1);
    g_assert_true(vmm_virtq_should_notify(d.q));
    /* used_event 0 was passed in the same batch: next one is 1. */
    set_used_event(&d, 1);
    round_trip(&d);
    g_assert_true(vmm_virtq_should_notify(d.q));
    round_trip(&d);
    g_assert_false(vmm_virtq_should_notify(d.q));
    g_free(elems);
    drv_free(&d);
}

/* What the driver does after adding buffers (virtqueue_kick_prepare). */
static bool driver_should_kick(Drv *d, uint16_t old_idx)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return virtq_need_event(avail_event(d), d->avail_idx, old_idx);
}

static void test_avail_event_wrap(void)
{
    Drv d;
    drv_setup(&d, 4, true, false);
    put_desc(&d, 0, DATA_GPA, 16, 0, 0);
    g_assert_cmpuint(avail_event(&d), ==, 0);
    g_assert_cmpuint(used_flags(&d), ==, 0);
    offer(&d, 0);
    g_assert_true(driver_should_kick(&d, 0));
    g_assert_cmpint(pop(&d), ==, 1);
    g_assert_cmpint(pop(&d), ==, 0);   /* empty: re-arms avail_event */
    g_assert_cmpuint(avail_event(&d), ==, 1);

    while (d.avail_idx != 65534) {
        round_trip(&d);
        g_assert_cmpint(pop(&d), ==, 0);
    }
    g_assert_cmpuint(avail_event(&d), ==, 65534);
    g_assert_false(vmm_virtq_enable_notification(d.q));
    g_assert_cmpuint(avail_event(&d), ==, 65534);

    /* Driver adds entry 65534: kick. */
    uint16_t old = d.avail_idx;
    offer(&d, 0);
    g_assert_true(driver_should_kick(&d, old));
    /* Device polls with notifications off; the driver adds two more
     * across the wrap and is told not to kick. */
    vmm_virtq_disable_notification(d.q);
    g_assert_cmpuint(used_flags(&d), ==, 0);   /* flags stay 0 with EVENT_IDX */
    g_assert_cmpint(pop(&d), ==, 1);
    vmm_virtq_push(d.q, d.elem, 0);
    old = d.avail_idx;
    offer(&d, 0);
    offer(&d, 0);
    g_assert_cmpuint(d.avail_idx, ==, 1);
    g_assert_false(driver_should_kick(&d, old));
    g_assert_cmpint(pop(&d), ==, 1);
    vmm_virtq_push(d.q, d.elem, 0);
    g_assert_cmpint(pop(&d), ==, 1);
    vmm_virtq_push(d.q, d.elem, 0);
    g_assert_cmpint(pop(&d), ==, 0);
    g_assert_cmpuint(avail_event(&d), ==, 65534);   /* not re-armed while polling */
    vmm_virtq_flush(d.q);
    /* Polling ends: re-arm for index 1; the next add kicks. */
    g_assert_false(vmm_virtq_enable_notification(d.q));
    g_assert_cmpuint(avail_event(&d), ==, 1);
    old = d.avail_idx;
    offer(&d, 0);
    g_assert_true(driver_should_kick(&d, old));
    /* And the race: added while off, seen by enable. */
    vmm_virtq_disable_notification(d.q);
    g_assert_true(vmm_virtq_enable_notification(d.q));
    g_assert_cmpint(pop(&d), ==, 1);
    drv_free(&d);
}

/* ---- ring validation ---------------------------------------------------- */

static void expect_bad_rings(Drv *d, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used,
                             const char *what)
{
    g_autoptr(GError) err = NULL;
    drv_init_rings(d, size, desc, avail, used, false, false);
    g_assert_false(vmm_virtq_check_rings(d->q, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, what))
        g_error("expected \"%s\" in \"%s\"", what, err->message);
    g_autoptr(GError) err2 = NULL;
    g_assert_cmpint(vmm_virtq_pop(d->q, d->elem, &err2), ==, -1);
}

static void test_check_rings(void)
{
    Drv d;
    drv_setup(&d, 8, false, false);
    expect_bad_rings(&d, 0, DESC_GPA, AVAIL_GPA, USED_GPA, "queue size 0");
    expect_bad_rings(&d, 6, DESC_GPA, AVAIL_GPA, USED_GPA, "queue size 6");
    expect_bad_rings(&d, 65535, DESC_GPA, AVAIL_GPA, USED_GPA, "not a power of 2");
    expect_bad_rings(&d, 8, DESC_GPA + 8, AVAIL_GPA, USED_GPA,
                     "descriptor table at 0x10008 is not 16-byte aligned");
    expect_bad_rings(&d, 8, DESC_GPA, AVAIL_GPA + 1, USED_GPA,
                     "available ring at 0x20001 is not 2-byte aligned");
    expect_bad_rings(&d, 8, DESC_GPA, AVAIL_GPA, USED_GPA + 2,
                     "used ring at 0x30002 is not 4-byte aligned");
    /* Across the RAM hole, in it, and past the end of RAM. */
    expect_bad_rings(&d, 8, LOW_SIZE - 64, AVAIL_GPA, USED_GPA,
                     "descriptor table 0xfffc0 + 128 outside guest RAM");
    expect_bad_rings(&d, 8, DESC_GPA, LOW_SIZE - 16, USED_GPA,
                     "available ring 0xffff0 + 22 outside guest RAM");
    expect_bad_rings(&d, 8, DESC_GPA, AVAIL_GPA, LOW_SIZE + 0x1000,
                     "used ring 0x101000 + 70 outside guest RAM");
    expect_bad_rings(&d, 8, DESC_GPA, AVAIL_GPA, HIGH_BASE + HIGH_SIZE - 64,
                     "used ring 0x2fffc0 + 70 outside guest RAM");
    expect_bad_rings(&d, 8, 0xfffffffffffffff0ULL, AVAIL_GPA, USED_GPA,
                     "wraps around the address space");
    /* The largest queue fits and is accepted. */
    drv_init_rings(&d, 32768, 0, 0x80000, 0xa0000, false, false);
    g_assert_true(vmm_virtq_check_rings(d.q, NULL));
    drv_free(&d);
}

/* ---- hostile drivers ---------------------------------------------------- */

static void test_loop(void)
{
    Drv d;
    drv_setup(&d, 8, false, false);
    put_desc(&d, 2, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 4);
    put_desc(&d, 4, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 7);
    put_desc(&d, 7, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 4);
    offer(&d, 2);
    expect_broken(&d, "descriptor loop at index 4 (chain head 2)");
    drv_free(&d);

    drv_setup(&d, 8, false, false);
    put_desc(&d, 7, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 7);
    offer(&d, 7);
    expect_broken(&d, "descriptor loop at index 7");
    drv_free(&d);

    /* A loop of writable zero-length descriptors is still a loop. */
    drv_setup(&d, 8, false, false);
    put_desc(&d, 0, 0, 0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    put_desc(&d, 1, 0, 0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
    offer(&d, 0);
    expect_broken(&d, "descriptor loop at index 0");
    drv_free(&d);
}

static void test_loop_indirect(void)
{
    Drv d;
    drv_setup(&d, 8, false, true);
    put_desc(&d, 0, TABLE_GPA, 64, VIRTQ_DESC_F_INDIRECT, 0);
    put_desc_at(&d, TABLE_GPA, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 3);
    put_desc_at(&d, TABLE_GPA, 3, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    put_desc_at(&d, TABLE_GPA, 1, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 0);
    offer(&d, 0);
    expect_broken(&d, "descriptor loop at index 0 of the indirect table at 0x80000");
    drv_free(&d);
}

static void test_chain_too_long(void)
{
    Drv d;
    drv_setup(&d, 8, false, true);
    /* 3 direct buffers + a full 8-entry table: 11 > 8. */
    put_desc(&d, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    put_desc(&d, 1, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 2);
    put_desc(&d, 2, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 3);
    put_desc(&d, 3, TABLE_GPA, 128, VIRTQ_DESC_F_INDIRECT, 0);
    for (unsigned i = 0; i < 8; i++)
        put_desc_at(&d, TABLE_GPA, i, DATA_GPA, 16, i < 7 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
    offer(&d, 0);
    expect_broken(&d, "chain from head 0 is longer than the queue size 8");
    drv_free(&d);

    /* Device limit on segments (2.7.4.1): 1025 buffers in a 2048 queue. */
    drv_setup(&d, 2048, false, true);
    for (unsigned i = 0; i < 1025; i++)
        put_desc_at(&d, TABLE_GPA, i, DATA_GPA, 1, i < 1024 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
    put_desc(&d, 0, TABLE_GPA, 1025 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(&d, 0);
    expect_broken(&d, "chain from head 0 has more than 1024 buffers");
    drv_free(&d);

    /* ... and exactly 1024 are fine. */
    drv_setup(&d, 2048, false, true);
    for (unsigned i = 0; i < 1024; i++)
        put_desc_at(&d, TABLE_GPA, i, DATA_GPA, 1, i < 1023 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
    put_desc(&d, 0, TABLE_GPA, 1024 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(&d, 0);
    g_assert_cmpint(pop(&d), ==, 1);
    g_assert_cmpuint(d.elem->nbufs, ==, 1024);
    drv_free(&d);

    /* More than 2^32 bytes in total (2.7.5.2). */
    drv_setup_full(&d, 8, false, false, wide_translate);
    put_desc(&d, 0, 1ULL << 32, 0xffffffff, VIRTQ_DESC_F_NEXT, 1);
    put_desc(&d, 1, 2ULL << 32, 1, VIRTQ_DESC_F_NEXT, 2);
    put_desc(&d, 2, 3ULL << 32, 1, 0, 0);
    offer(&d, 0);
    expect_broken(&d, "chain from head 0 is longer than 2^32 bytes");
    drv_free(&d);

    /* ... exactly 2^32 is allowed. */
    drv_setup_full(&d, 8, false, false, wide_translate);
    put_desc(&d, 0, 1ULL << 32, 0xffffffff, VIRTQ_DESC_F_NEXT, 1);
    put_desc(&d, 1, 2ULL << 32, 1, 0, 0);
    offer(&d, 0);
    g_assert_cmpint(pop(&d), ==, 1);
    g_assert_cmpuint(d.elem->out_bytes, ==, 1ULL << 32);
    drv_free(&d);
}

static void test_bad_next(void)
{
    Drv d;
    drv_setup(&d, 8, false, true);
    put_desc(&d, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 8);
    offer(&d, 0);
    expect_broken(&d, "descriptor 0: next index 8 >= queue size 8");
    drv_free(&d);

    drv_setup(&d, 8, false, true);
    put_desc(&d, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    put_desc_at(&d, TABLE_GPA, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    put_desc_at(&d, TABLE_GPA, 1, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 2);
    offer(&d, 0);
    expect_broken(&d, "indirect descriptor 1 (table 0x80000): next index 2 beyond the "
                  "table's 2 entries");
    drv_free(&d);
}

static void test_out_of_ram(void)
{
    static const struct {
        uint64_t addr;
        uint32_t len;
        const char *what;
    } cases[] = {
        { LOW_SIZE, 16, "descriptor 0: buffer 0x100000 + 16 outside guest RAM" },
        { LOW_SIZE - 8, 16, "descriptor 0: buffer 0xffff8 + 16 outside guest RAM" },
        { HIGH_BASE - 1, 2, "buffer 0x1fffff + 2 outside guest RAM" },
        { HIGH_BASE + HIGH_SIZE - 4096, 4097, "buffer 0x2ff000 + 4097 outside guest RAM" },
        { 0xfffffffffffffff0ULL, 0x20, "buffer 0xfffffffffffffff0 + 32 wraps around" },
        { 0xffffffffffffffffULL, 1, "buffer 0xffffffffffffffff + 1 wraps around" },
        { 1ULL << 40, 4096, "buffer 0x10000000000 + 4096 outside guest RAM" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        Drv d;
        drv_setup(&d, 8, false, false);
        put_desc(&d, 0, cases[i].addr, cases[i].len, 0, 0);
        offer(&d, 0);
        expect_broken(&d, cases[i].what);
        drv_free(&d);
    }

    /* In an indirect table, and the table itself. */
    Drv d;
    drv_setup(&d, 8, false, true);
    put_desc(&d, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    put_desc_at(&d, TABLE_GPA, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    put_desc_at(&d, TABLE_GPA, 1, LOW_SIZE + 4096, 16, 0, 0);
    offer(&d, 0);
    expect_broken(&d, "indirect descriptor 1 (table 0x80000): buffer 0x101000 + 16 outside "
                  "guest RAM");
    drv_free(&d);

    drv_setup(&d, 8, false, true);
    put_desc(&d, 0, LOW_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(&d, 0);
    expect_broken(&d, "descriptor 0: indirect table 0xffff0 + 32 outside guest RAM");
    drv_free(&d);

    drv_setup(&d, 8, false, true);
    put_desc(&d, 0, 0xfffffffffffffff0ULL, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(&d, 0);
    expect_broken(&d, "indirect table 0xfffffffffffffff0 + 32 wraps around");
    drv_free(&d);
}

static void test_indirect_rules(void)
{
    static const struct {
        uint32_t len;
        uint16_t flags;
        bool feature;
        const char *what;
    } cases[] = {
        { 32, VIRTQ_DESC_F_INDIRECT, false,
          "descriptor 0: INDIRECT flag but VIRTIO_F_INDIRECT_DESC was not negotiated" },
        { 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, true,
          "descriptor 0: both NEXT and INDIRECT flags set" },
        { 0, VIRTQ_DESC_F_INDIRECT, true, "descriptor 0: indirect table of length 0" },
        { 24, VIRTQ_DESC_F_INDIRECT, true,
          "descriptor 0: indirect table length 24 is not a multiple of 16" },
        { 15, VIRTQ_DESC_F_INDIRECT, true, "length 15 is not a multiple of 16" },
        { 9 * 16, VIRTQ_DESC_F_INDIRECT, true,
          "descriptor 0: indirect table of 9 descriptors is longer than the queue size 8" },
        { 0xfffffff0, VIRTQ_DESC_F_INDIRECT, true, "is longer than the queue size 8" },
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        Drv d;
        drv_setup(&d, 8, false, cases[i].feature);
        put_desc(&d, 0, TABLE_GPA, cases[i].len, cases[i].flags, 1);
        put_desc(&d, 1, DATA_GPA, 16, 0, 0);
        for (unsigned j = 0; j < 8; j++)
            put_desc_at(&d, TABLE_GPA, j, DATA_GPA, 16, 0, 0);
        offer(&d, 0);
        expect_broken(&d, cases[i].what);
        drv_free(&d);
    }

    /* INDIRECT inside an indirect table (2.7.5.3.1). */
    Drv d;
    drv_setup(&d, 8, false, true);
    put_desc(&d, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    put_desc_at(&d, TABLE_GPA, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    put_desc_at(&d, TABLE_GPA, 1, TABLE_GPA + 0x1000, 16, VIRTQ_DESC_F_INDIRECT, 0);
    put_desc_at(&d, TABLE_GPA + 0x1000, 0, DATA_GPA, 16, 0, 0);
    offer(&d, 0);
    expect_broken(&d, "indirect descriptor 1 (table 0x80000): INDIRECT flag inside an "
                  "indirect table");
    drv_free(&d);

    /* A table pointing at itself is the same fault. */
    drv_setup(&d, 8, false, true);
    put_desc(&d, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    put_desc_at(&d, TABLE_GPA, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(&d, 0);
    expect_broken(&d, "INDIRECT flag inside an indirect table");
    drv_free(&d);
}

static void test_misdirected(void)
{
    Drv d;
    drv_setup(&d, 8, false, true);
    put_desc(&d, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    put_desc(&d, 1, DATA_GPA + 16, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    put_desc(&d, 2, DATA_GPA + 32, 16, 0, 0);
    offer(&d, 0);
    expect_broken(&d, "descriptor 2: device-readable buffer after a device-writable one");
    drv_free(&d);

    /* Inside an indirect table. */
    drv_setup(&d, 8, false, true);
    put_desc(&d, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    put_desc_at(&d, TABLE_GPA, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    put_desc_at(&d, TABLE_GPA, 1, DATA_GPA, 16, 0, 0);
    offer(&d, 0);
    expect_broken(&d, "indirect descriptor 1 (table 0x80000): device-readable buffer after a "
                  "device-writable one");
    drv_free(&d);

    /* Writable direct part, readable indirect part. */
    drv_setup(&d, 8, false, true);
    put_desc(&d, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    put_desc(&d, 1, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    put_desc_at(&d, TABLE_GPA, 0, DATA_GPA, 16, 0, 0);
    offer(&d, 0);
    expect_broken(&d, "indirect descriptor 0 (table 0x80000): device-readable buffer after");
    drv_free(&d);
}

static void test_bad_head(void)
{
    Drv d;
    drv_setup(&d, 8, false, false);
    put_desc(&d, 0, DATA_GPA, 16, 0, 0);
    round_trip(&d);
    offer(&d, 8);
    expect_broken(&d, "available ring entry 1: head index 8 >= queue size 8");
    drv_free(&d);

    drv_setup(&d, 8, false, false);
    offer(&d, 0xffff);
    expect_broken(&d, "head index 65535 >= queue size 8");
    drv_free(&d);
}

static void test_avail_idx_jump(void)
{
    Drv d;
    drv_setup(&d, 8, false, false);
    put_desc(&d, 0, DATA_GPA, 16, 0, 0);
    set_avail_idx(&d, 9);
    expect_broken(&d, "available ring idx moved from 0 to 9, more than the queue size 8");
    drv_free(&d);

    /* Exactly size is fine. */
    drv_setup(&d, 8, false, false);
    put_desc(&d, 0, DATA_GPA, 16, 0, 0);
    for (unsigned i = 0; i < 8; i++)
        offer(&d, 0);
    for (unsigned i = 0; i < 8; i++) {
        g_assert_cmpint(pop(&d), ==, 1);
        vmm_virtq_push(d.q, d.elem, 0);
    }
    g_assert_cmpint(pop(&d), ==, 0);
    /* A decrement looks like a jump of almost 2^16. */
    set_avail_idx(&d, 7);
    expect_broken(&d, "available ring idx moved from 8 to 7");
    drv_free(&d);

    /* More outstanding chains than descriptors: the device still holds 8
     * unreturned ones when the driver offers a 9th. */
    drv_setup(&d, 8, false, false);
    put_desc(&d, 0, DATA_GPA, 16, 0, 0);
    for (unsigned i = 0; i < 8; i++)
        offer(&d, 0);
    for (unsigned i = 0; i < 8; i++)
        g_assert_cmpint(pop(&d), ==, 1);
    offer(&d, 0);
    expect_broken(&d, "more than the queue size 8 buffers outstanding");
    drv_free(&d);
}

static void test_broken_is_sticky(void)
{
    Drv d;
    drv_setup(&d, 8, false, false);
    put_desc(&d, 0, DATA_GPA, 16, 0, 0);
    put_desc(&d, 1, LOW_SIZE, 16, 0, 0);
    offer(&d, 0);
    offer(&d, 1);
    g_assert_cmpint(pop(&d), ==, 1);
    VmmVirtqElem *good = g_new(VmmVirtqElem, 1);
    memcpy(good, d.elem, sizeof(*good));
    expect_broken(&d, "descriptor 1: buffer 0x100000 + 16 outside guest RAM");
    /* The driver fixes the descriptor: too late, only a reset helps. */
    put_desc(&d, 1, DATA_GPA, 16, 0, 0);
    expect_broken(&d, "descriptor 1: buffer 0x100000 + 16 outside guest RAM");
    g_assert_false(vmm_virtq_enable_notification(d.q));
    /* Completions after the break are dropped. */
    vmm_virtq_push(d.q, good, 0);
    vmm_virtq_flush(d.q);
    g_assert_cmpuint(used_idx(&d), ==, 0);
    /* Reset and re-enable: works again. */
    memset(hva(&d, AVAIL_GPA), 0, 4096);
    memset(hva(&d, USED_GPA), 0, 4096);
    drv_init_rings(&d, 8, DESC_GPA, AVAIL_GPA, USED_GPA, false, false);
    g_assert_true(vmm_virtq_check_rings(d.q, NULL));
    offer(&d, 1);
    g_assert_cmpint(pop(&d), ==, 1);
    g_free(good);
    drv_free(&d);
}

/* The guest rewrites a descriptor between two pops: each pop sees one
 * consistent snapshot, and what was validated is what is used. */
static void test_snapshot(void)
{
    Drv d;
    drv_setup(&d, 8, false, false);
    put_desc(&d, 0, DATA_GPA, 16, 0, 0);
    offer(&d, 0);
    g_assert_cmpint(pop(&d), ==, 1);
    put_desc(&d, 0, LOW_SIZE, 16, 0, 0);   /* too late to matter */
    g_assert_cmphex(d.elem->bufs[0].gpa, ==, DATA_GPA);
    g_assert_true(d.elem->bufs[0].hva == hva(&d, DATA_GPA));
    drv_free(&d);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/virtqueue/simple", test_simple);
    g_test_add_func("/virtqueue/multi-segment", test_multi_segment);
    g_test_add_func("/virtqueue/unpop", test_unpop);
    g_test_add_func("/virtqueue/indirect", test_indirect);
    g_test_add_func("/virtqueue/indirect-after-direct", test_indirect_after_direct);
    g_test_add_func("/virtqueue/zero-length", test_zero_length);
    g_test_add_func("/virtqueue/rings-in-high-ram", test_rings_in_high_ram);
    g_test_add_func("/virtqueue/batching", test_batching);
    g_test_add_func("/virtqueue/notify/flags", test_flags_notification);
    g_test_add_func("/virtqueue/notify/used-event-wrap", test_used_event_wrap);
    g_test_add_func("/virtqueue/notify/avail-event-wrap", test_avail_event_wrap);
    g_test_add_func("/virtqueue/check-rings", test_check_rings);
    g_test_add_func("/virtqueue/hostile/loop", test_loop);
    g_test_add_func("/virtqueue/hostile/loop-indirect", test_loop_indirect);
    g_test_add_func("/virtqueue/hostile/chain-too-long", test_chain_too_long);
    g_test_add_func("/virtqueue/hostile/bad-next", test_bad_next);
    g_test_add_func("/virtqueue/hostile/out-of-ram", test_out_of_ram);
    g_test_add_func("/virtqueue/hostile/indirect-rules", test_indirect_rules);
    g_test_add_func("/virtqueue/hostile/misdirected", test_misdirected);
    g_test_add_func("/virtqueue/hostile/bad-head", test_bad_head);
    g_test_add_func("/virtqueue/hostile/avail-idx-jump", test_avail_idx_jump);
    g_test_add_func("/virtqueue/hostile/broken-is-sticky", test_broken_is_sticky);
    g_test_add_func("/virtqueue/hostile/snapshot", test_snapshot);
    return g_test_run();
}
