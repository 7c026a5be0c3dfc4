/* libFuzzer target for the split virtqueue: the input is a hostile guest.
 *
 * Input layout (little-endian):
 *   [0]     bits 0-3 log2(queue size), bit 4 EVENT_IDX, bit 5 INDIRECT_DESC,
 *           bit 6 "racing guest": every translate() flips a RAM byte, as a
 *           vCPU rewriting the rings under the device would,
 *           bit 7 take the queue size from [1..2] (may be invalid)
 *   [1..2]  raw queue size
 *   [3..8]  descriptor table, available ring, used ring offsets: bit 15
 *           selects the high RAM region, bits 0-14 the offset in it
 *   [9]     device behaviour: bits 0-1 flush every 1..4 pushes, bit 2
 *           poll with notifications off, bits 3-4 elements held in flight
 *           (0-3) before completing them newest first, bits 5-7 `written`
 *           as n/6 of the writable bytes (7/6 over-claims)
 *   [10..]  guest RAM: the first half at GPA 0, the second half at
 *           GPA 0x100000; everything else is a hole.
 * Each region is its own exact-size allocation so that ASan catches any
 * access outside guest RAM.
 *
 * Build with libFuzzer (clang -fsanitize=fuzzer,...) or, with
 * -DVMM_FUZZ_STANDALONE, as a program replaying files and directories. */
#include "virtio/virtio_blk_req.h"
#include "virtio/virtqueue.h"

#include <stdio.h>
#include <string.h>

#define HDR_LEN     10
#define HIGH_BASE   0x100000ULL
#define MAX_POPS    256

typedef struct {
    uint8_t *low, *high;
    size_t low_len, high_len;
    bool racing;
    uint32_t tick;
    uint8_t seed;
} FuzzRam;

static void race(FuzzRam *r)
{
    size_t total = r->low_len + r->high_len;
    if (!total)
        return;
    size_t at = ((size_t)r->tick++ * 7919u + r->seed) % total;
    uint8_t *p = at < r->low_len ? &r->low[at] : &r->high[at - r->low_len];
    *p ^= (uint8_t)(r->seed | 1);
}

static void *fuzz_translate(void *opaque, uint64_t gpa, uint64_t len)
{
    FuzzRam *r = opaque;
    if (r->racing)
        race(r);
    if (gpa < r->low_len && len <= r->low_len - gpa)
        return r->low + gpa;
    if (gpa >= HIGH_BASE && gpa - HIGH_BASE < r->high_len &&
        len <= r->high_len - (gpa - HIGH_BASE))
        return r->high + (gpa - HIGH_BASE);
    return NULL;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t ring_gpa(uint16_t off)
{
    return (off & 0x8000 ? HIGH_BASE : 0) + (off & 0x7fff);
}

/* Touches what the device would: ASan reports any byte outside RAM. */
/* Every popped chain is also a virtio-blk request: the parser must never
 * promise more than the chain holds or the disk has. */
static void parse_as_blk(const VmmVirtqElem *e, uint8_t knobs)
{
    VmmBlkLimits lim = { .capacity = (knobs & 3) == 3 ? UINT64_MAX / 512 : 1ULL << (knobs & 3) * 8,
                         .readonly = knobs & 4, .discard = knobs & 8, .serial = "fuzz" };
    VmmBlkParsed p;
    const char *why = NULL;
    if (!vmm_blk_parse_request(e, &lim, &p, &why)) {
        if (!why || (e->in_bytes > 0 && e->bufs[e->nbufs - 1].device_writable &&
                     e->bufs[e->nbufs - 1].len > 0))
            __builtin_trap();
        return;
    }
    if (p.written < 1 || p.written > e->in_bytes)
        __builtin_trap();
    if (!p.submit)
        return;
    uint64_t part = p.data_writable ? e->in_bytes - 1 : e->out_bytes;
    if (p.data_offset > part || p.len > part - p.data_offset ||
        p.offset / 512 > lim.capacity || p.len / 512 > lim.capacity - p.offset / 512 ||
        ((p.op == VMM_BLOCK_WRITE || p.op == VMM_BLOCK_DISCARD ||
          p.op == VMM_BLOCK_WRITE_ZEROES) && lim.readonly))
        __builtin_trap();
    struct iovec iov[VMM_VIRTQ_MAX_BUFS];
    uint64_t got = 0;
    unsigned n = vmm_virtq_elem_iov(e, p.data_writable, p.data_offset, p.len, iov,
                                    VMM_VIRTQ_MAX_BUFS);
    for (unsigned i = 0; i < n; i++)
        got += iov[i].iov_len;
    if ((p.op == VMM_BLOCK_READ || p.op == VMM_BLOCK_WRITE) && got != p.len)
        __builtin_trap();
}

static void use_elem(VmmVirtqElem *e)
{
    parse_as_blk(e, e->head ^ e->nbufs);
    uint8_t scratch[64];
    volatile uint8_t sink = 0;
    for (unsigned i = 0; i < e->nbufs; i++) {
        VmmVirtqBuf *b = &e->bufs[i];
        uint8_t *p = b->hva;
        if (b->device_writable) {
            p[0] = 0xa5;
            p[b->len - 1] = 0x5a;
        } else {
            sink ^= p[0] ^ p[b->len - 1];
        }
    }
    (void)sink;
    vmm_virtq_elem_read(e, 0, scratch, sizeof(scratch));
    vmm_virtq_elem_read(e, e->out_bytes > 8 ? e->out_bytes - 8 : 0, scratch, sizeof(scratch));
    memset(scratch, 0x3c, sizeof(scratch));
    vmm_virtq_elem_write(e, 0, scratch, sizeof(scratch));
    vmm_virtq_elem_write(e, e->in_bytes > 8 ? e->in_bytes - 8 : 0, scratch, sizeof(scratch));
    struct iovec iov[16];
    for (int w = 0; w < 2; w++) {
        uint64_t part = w ? e->in_bytes : e->out_bytes;
        unsigned n = vmm_virtq_elem_iov(e, w, part / 3, part, iov, G_N_ELEMENTS(iov));
        for (unsigned i = 0; i < n; i++) {
            uint8_t *p = iov[i].iov_base;
            if (!iov[i].iov_len)
                __builtin_trap();   /* never hand out empty iovecs */
            if (w)
                p[iov[i].iov_len - 1] = 1;
            else
                sink ^= p[iov[i].iov_len - 1];
        }
    }
    uint8_t *status = vmm_virtq_elem_status_ptr(e);
    if (status)
        *status = 0;
    /* Invariants the device models rely on. */
    uint64_t out = 0, in = 0;
    for (unsigned i = 0; i < e->nbufs; i++) {
        if (!e->bufs[i].len || e->bufs[i].device_writable != (i >= e->n_out))
            __builtin_trap();
        *(e->bufs[i].device_writable ? &in : &out) += e->bufs[i].len;
    }
    if (out != e->out_bytes || in != e->in_bytes || in + out > (1ULL << 32))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR_LEN)
        return 0;
    uint8_t mode = data[0], dev = data[9];
    uint16_t qsize = mode & 0x80 ? get16(data + 1) : (uint16_t)(1u << (mode & 15));
    bool event_idx = mode & 0x10, indirect = mode & 0x20;

    FuzzRam ram = { 0 };
    size_t ram_len = size - HDR_LEN;
    ram.low_len = ram_len / 2;
    ram.high_len = ram_len - ram.low_len;
    ram.low = ram.low_len ? g_memdup2(data + HDR_LEN, ram.low_len) : NULL;
    ram.high = ram.high_len ? g_memdup2(data + HDR_LEN + ram.low_len, ram.high_len) : NULL;
    ram.racing = mode & 0x40;
    ram.seed = data[2] ^ data[4] ^ data[6] ^ data[8];

    VmmGuestMem mem = { fuzz_translate, &ram };
    VmmVirtq *q = g_new(VmmVirtq, 1);
    unsigned hold = (dev >> 3) & 3;            /* elements kept in flight */
    VmmVirtqElem *elems = g_new(VmmVirtqElem, hold + 1);
    unsigned nheld = 0;
    vmm_virtq_init(q, &mem, qsize, ring_gpa(get16(data + 3)), ring_gpa(get16(data + 5)),
                   ring_gpa(get16(data + 7)), event_idx, indirect);
    GError *err = NULL;
    if (!vmm_virtq_check_rings(q, &err)) {
        if (!err || !err->message[0])
            __builtin_trap();
#ifdef VMM_FUZZ_STANDALONE
        if (g_getenv("VMM_FUZZ_VERBOSE"))
            fprintf(stderr, "  rings refused: %s\n", err->message);
#endif
        g_clear_error(&err);
        if (vmm_virtq_pop(q, &elems[0], &err) != -1)
            __builtin_trap();
        g_clear_error(&err);
        goto out;
    }

    unsigned flush_every = (dev & 3) + 1, pushed = 0, popped = 0;
    unsigned wnum = dev >> 5;                  /* 7/6 over-claims: must be clamped */
    const char *outcome = "empty";
    if (dev & 4)
        vmm_virtq_disable_notification(q);
    for (unsigned n = 0; n < MAX_POPS; n++) {
        VmmVirtqElem *elem = &elems[nheld];
        int r = vmm_virtq_pop(q, elem, &err);
        if (r < 0) {
            /* One line naming the fault, and the queue stays broken. */
            if (!err || !err->message[0] || strchr(err->message, '\n'))
                __builtin_trap();
#ifdef VMM_FUZZ_STANDALONE
            if (g_getenv("VMM_FUZZ_VERBOSE"))
                fprintf(stderr, "  broken: %s\n", err->message);
#endif
            outcome = "broken";
            g_clear_error(&err);
            if (vmm_virtq_pop(q, elem, &err) != -1)
                __builtin_trap();
            g_clear_error(&err);
            break;
        }
        if (err)
            __builtin_trap();
        if (r == 0) {
            if (!(dev & 4) || !vmm_virtq_enable_notification(q))
                break;
            vmm_virtq_disable_notification(q);
            continue;
        }
        popped++;
        if (elem->head >= qsize)
            __builtin_trap();
        use_elem(elem);
        if (++nheld <= hold)
            continue;
        /* Complete the held ones newest first: out of order, as a
         * backend finishing requests would. */
        while (nheld) {
            VmmVirtqElem *e = &elems[--nheld];
            vmm_virtq_push(q, e, (uint32_t)MIN(e->in_bytes * wnum / 6, UINT32_MAX));
            if (++pushed % flush_every == 0) {
                vmm_virtq_flush(q);
                vmm_virtq_should_notify(q);
            }
        }
    }
    /* Late completions; after a break they are dropped. */
    while (nheld) {
        VmmVirtqElem *e = &elems[--nheld];
        vmm_virtq_push(q, e, (uint32_t)MIN(e->in_bytes * wnum / 6, UINT32_MAX));
        pushed++;
    }
    vmm_virtq_flush(q);
    bool notify = vmm_virtq_should_notify(q);
    vmm_virtq_enable_notification(q);
#ifdef VMM_FUZZ_STANDALONE
    if (g_getenv("VMM_FUZZ_VERBOSE"))
        fprintf(stderr, "  size %u: %u popped, %u pushed, last_avail %u, %s, notify %d\n",
                qsize, popped, pushed, vmm_virtq_last_avail(q), outcome, notify);
#else
    (void)outcome;
    (void)notify;
    (void)popped;
#endif

out:
    g_free(elems);
    g_free(q);
    g_free(ram.low);
    g_free(ram.high);
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "virtqueue");
}
#endif
