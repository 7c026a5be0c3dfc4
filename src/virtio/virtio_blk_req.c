#include "virtio/virtio_blk_req.h"
#include "hw/pci.h"

#include <string.h>

static bool in_range(const VmmBlkLimits *lim, uint64_t sector, uint64_t bytes)
{
    uint64_t sectors = bytes / VIRTIO_BLK_SECTOR;
    return sector <= lim->capacity && sectors <= lim->capacity - sector;
}

bool vmm_blk_parse_request(const VmmVirtqElem *e, const VmmBlkLimits *lim, VmmBlkParsed *p,
                           const char **why)
{
    memset(p, 0, sizeof(*p));
    if (!vmm_virtq_elem_status_ptr(e)) {
        *why = "no device-writable status byte";
        return false;
    }
    p->written = 1;
    p->status = VIRTIO_BLK_S_IOERR;
    uint8_t hdr[16];
    if (e->out_bytes < sizeof(hdr) || vmm_virtq_elem_read(e, 0, hdr, sizeof(hdr)) != sizeof(hdr))
        return true;                              /* header missing or misdirected */
    uint32_t type = pci_get_u32(hdr);
    uint64_t sector = pci_get_u32(hdr + 8) | (uint64_t)pci_get_u32(hdr + 12) << 32;
    uint64_t out_data = e->out_bytes - sizeof(hdr), in_data = e->in_bytes - 1;
    switch (type) {
    case VIRTIO_BLK_T_IN:
        if (in_data % VIRTIO_BLK_SECTOR || !in_range(lim, sector, in_data))
            return true;
        *p = (VmmBlkParsed){ .submit = true, .op = VMM_BLOCK_READ, .offset = sector * VIRTIO_BLK_SECTOR,
                             .len = in_data, .data_writable = true, .data_offset = 0,
                             .written = in_data + 1 };
        return true;
    case VIRTIO_BLK_T_OUT:
        if (lim->readonly || out_data % VIRTIO_BLK_SECTOR || !in_range(lim, sector, out_data))
            return true;
        *p = (VmmBlkParsed){ .submit = true, .op = VMM_BLOCK_WRITE, .offset = sector * VIRTIO_BLK_SECTOR,
                             .len = out_data, .data_offset = sizeof(hdr), .written = 1 };
        return true;
    case VIRTIO_BLK_T_FLUSH:
        *p = (VmmBlkParsed){ .submit = true, .op = VMM_BLOCK_FLUSH, .written = 1 };
        return true;
    case VIRTIO_BLK_T_GET_ID:
        *p = (VmmBlkParsed){ .get_id = true, .status = VIRTIO_BLK_S_OK,
                             .written = MIN(in_data, (uint64_t)VIRTIO_BLK_ID_BYTES) + 1 };
        return true;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES: {
        uint8_t seg[16];
        if (!lim->discard) {
            p->status = VIRTIO_BLK_S_UNSUPP;
            return true;
        }
        /* max_discard_seg = max_write_zeroes_seg = 1. */
        if (lim->readonly || out_data != sizeof(seg) ||
            vmm_virtq_elem_read(e, sizeof(hdr), seg, sizeof(seg)) != sizeof(seg))
            return true;
        uint64_t s = pci_get_u32(seg) | (uint64_t)pci_get_u32(seg + 4) << 32;
        uint64_t n = pci_get_u32(seg + 8);
        uint32_t flags = pci_get_u32(seg + 12);
        /* Discard with the unmap flag, and reserved flags: UNSUPP (5.2.6.2). */
        if (type == VIRTIO_BLK_T_DISCARD ? flags != 0 : (flags & ~1u) != 0) {
            p->status = VIRTIO_BLK_S_UNSUPP;
            return true;
        }
        if (!in_range(lim, s, n * VIRTIO_BLK_SECTOR))
            return true;
        *p = (VmmBlkParsed){ .submit = true,
                             .op = type == VIRTIO_BLK_T_DISCARD ? VMM_BLOCK_DISCARD : VMM_BLOCK_WRITE_ZEROES,
                             .offset = s * VIRTIO_BLK_SECTOR, .len = n * VIRTIO_BLK_SECTOR, .written = 1 };
        return true;
    }
    default:
        p->status = VIRTIO_BLK_S_UNSUPP;
        return true;
    }
}

