/* libvirt's <memballoon> element: the memory balloon of a domain (at most
 * one). model='none' is kept so that it formats back; with no element the
 * define-time defaults add a virtio balloon, as libvirt does on x86 KVM.
 * What it does at run time: src/virtio/virtio_balloon.c; vmmd-domain(5). */
#ifndef VMM_MEMBALLOON_CONF_H
#define VMM_MEMBALLOON_CONF_H

#include <glib.h>
#include <stdbool.h>

#include "conf/net_conf.h"   /* VmmTristate */

typedef enum { VMM_BALLOON_VIRTIO = 0, VMM_BALLOON_NONE } VmmBalloonModel;

/* libvirt's positiveInteger is unbounded; a period longer than a day has
 * no use and keeps the arithmetic in range. */
#define VMM_BALLOON_PERIOD_MAX 86400
/* set-memory refuses targets below this (or below <memory> when that is
 * smaller): a guest squeezed further has no room left to run. */
#define VMM_BALLOON_FLOOR_KIB (64ULL * 1024)

typedef struct {
    VmmBalloonModel model;
    VmmTristate autodeflate;          /* autodeflate=: DEFLATE_ON_OOM */
    VmmTristate free_page_reporting;  /* freePageReporting=: FREE_PAGE_REPORTING */
    unsigned stats_period;            /* <stats period> seconds; 0 = no stats polling */
    int pci_slot;                     /* <address type='pci' slot>, -1 = assign */
} VmmBalloonDef;

/* Parsing, formatting, copy and equality: conf_memballoon_class. */
void vmm_balloon_def_free(VmmBalloonDef *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmBalloonDef, vmm_balloon_def_free)

#endif
