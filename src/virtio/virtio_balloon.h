/* virtio-balloon (virtio 1.2, 5.5): the guest hands pages to the host
 * (inflateq) and takes them back (deflateq); inflated pages are punched out
 * of the guest RAM memfd, so they really leave the worker's RSS. Also the
 * statistics queue (polled every <stats period>), DEFLATE_ON_OOM for
 * autodeflate='on' and free page reporting for freePageReporting='on'
 * (reported pages are discarded too). One thread serves all queues. */
#ifndef VMM_VIRTIO_BALLOON_H
#define VMM_VIRTIO_BALLOON_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/memballoon_conf.h"

typedef struct VmmVm VmmVm;
typedef struct VmmVirtioBalloon VmmVirtioBalloon;

#define VMM_BALLOON_PAGE 4096ULL   /* the balloon's page size on x86 (5.5.6) */

/* The guest's statistics (virtio tags 0 to 9, 5.5.6.3), in bytes or counts
 * as the spec defines them; has[] says which the guest reported. */
enum {
    VMM_BALLOON_S_SWAP_IN = 0, VMM_BALLOON_S_SWAP_OUT, VMM_BALLOON_S_MAJFLT,
    VMM_BALLOON_S_MINFLT, VMM_BALLOON_S_MEMFREE, VMM_BALLOON_S_MEMTOT,
    VMM_BALLOON_S_AVAIL, VMM_BALLOON_S_CACHES, VMM_BALLOON_S_HTLB_PGALLOC,
    VMM_BALLOON_S_HTLB_PGFAIL, VMM_BALLOON_S_N
};

typedef struct {
    uint64_t val[VMM_BALLOON_S_N];
    bool has[VMM_BALLOON_S_N];
    int64_t last_update;           /* wall clock seconds of the last report, 0 = none */
    uint64_t num_pages;            /* target: pages the host wants in the balloon */
    uint64_t actual;               /* pages the guest says are in it */
    uint64_t inflated;             /* pages the host counts as in it (and discarded) */
    uint64_t reported;             /* pages discarded by free page reporting */
    /* hostile or confused guest: ignored and counted */
    uint64_t bad_pfns, dup_inflates, bad_deflates, over_target, bad_stats;
} VmmBalloonStats;

VmmVirtioBalloon *vmm_virtio_balloon_new(VmmVm *vm, const VmmBalloonDef *def, int pci_slot,
                                         GError **err);
void vmm_virtio_balloon_free(VmmVirtioBalloon *b);
/* num_pages: pages the guest should give back (config change interrupt). */
void vmm_virtio_balloon_set_target(VmmVirtioBalloon *b, uint64_t num_pages);
/* The same before the guest runs (no interrupt): its driver reads the
 * target when it loads. */
void vmm_virtio_balloon_preset_target(VmmVirtioBalloon *b, uint64_t num_pages);
/* Seconds between statistics requests; 0 stops them. */
void vmm_virtio_balloon_set_period(VmmVirtioBalloon *b, unsigned seconds);
unsigned vmm_virtio_balloon_get_period(VmmVirtioBalloon *b);
void vmm_virtio_balloon_get_stats(VmmVirtioBalloon *b, VmmBalloonStats *out);

#endif
