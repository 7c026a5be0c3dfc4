/* Parsing of virtio-blk requests (virtio 1.2, 5.2.6), apart from the
 * device so that the fuzzer can drive it without a VM or a disk. */
#ifndef VMM_VIRTIO_BLK_REQ_H
#define VMM_VIRTIO_BLK_REQ_H

#include "block/block.h"
#include "virtio/virtqueue.h"

#define VIRTIO_BLK_SECTOR       512ULL
#define VIRTIO_BLK_ID_BYTES     20

/* Request types and status (virtio 1.2, 5.2.6). */
#define VIRTIO_BLK_T_IN            0
#define VIRTIO_BLK_T_OUT           1
#define VIRTIO_BLK_T_FLUSH         4
#define VIRTIO_BLK_T_GET_ID        8
#define VIRTIO_BLK_T_DISCARD       11
#define VIRTIO_BLK_T_WRITE_ZEROES  13
#define VIRTIO_BLK_S_OK            0
#define VIRTIO_BLK_S_IOERR         1
#define VIRTIO_BLK_S_UNSUPP        2

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX      1
#define VIRTIO_BLK_F_SEG_MAX       2
#define VIRTIO_BLK_F_RO            5
#define VIRTIO_BLK_F_BLK_SIZE      6
#define VIRTIO_BLK_F_FLUSH         9
#define VIRTIO_BLK_F_CONFIG_WCE    11
#define VIRTIO_BLK_F_MQ            12
#define VIRTIO_BLK_F_DISCARD       13
#define VIRTIO_BLK_F_WRITE_ZEROES  14

/* A virtio-blk request as the guest put it in one descriptor chain, checked
 * against the disk: what to do with it, or the status to answer at once.
 * Pure (no I/O), so the fuzzer drives it with hostile chains. */
typedef struct {
    uint64_t capacity;           /* sectors of 512 bytes */
    bool readonly, discard;
    const char *serial;
} VmmBlkLimits;

typedef struct {
    bool submit;                 /* true: hand op to the backend */
    VmmBlockOp op;
    uint64_t offset, len;        /* bytes on the disk */
    bool data_writable;          /* READ: data goes into the writable part */
    size_t data_offset;          /* where the data starts in its part */
    uint8_t status;              /* !submit: the status to return now */
    uint32_t written;            /* bytes of the writable part used, status included */
    bool get_id;                 /* !submit: copy the serial first */
} VmmBlkParsed;

/* false: the chain has no device-writable status byte, so not even an error
 * can be returned; the device needs a reset (*why says why). */
bool vmm_blk_parse_request(const VmmVirtqElem *e, const VmmBlkLimits *lim, VmmBlkParsed *out,
                           const char **why);

#endif
