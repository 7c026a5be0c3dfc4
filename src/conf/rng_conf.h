/* libvirt's <rng> element: a virtio entropy device, fed from a host file
 * (backend model='random') or the host kernel's getrandom() (model='builtin'),
 * optionally rate-limited with <rate bytes period/> as QEMU's max-bytes and
 * period do. */
#ifndef VMM_RNG_CONF_H
#define VMM_RNG_CONF_H

#include <glib.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <stdint.h>

/* QEMU's rng-random default file, which libvirt leaves to the hypervisor
 * when <backend model='random'> has no text. */
#define VMM_RNG_DEFAULT_FILE "/dev/random"
#define VMM_RNG_DEFAULT_PERIOD_MS 1000

typedef enum {
    VMM_RNG_MODEL_VIRTIO = 0,
    VMM_RNG_MODEL_VIRTIO_NON_TRANSITIONAL,   /* same device: vmmd has no legacy virtio */
} VmmRngModel;

typedef enum {
    VMM_RNG_BACKEND_RANDOM = 0,   /* read a file (character device) */
    VMM_RNG_BACKEND_BUILTIN,      /* getrandom() */
} VmmRngBackend;

typedef struct {
    VmmRngModel model;
    VmmRngBackend backend;
    char *path;                   /* random: the file, NULL = VMM_RNG_DEFAULT_FILE */
    uint64_t rate_bytes;          /* <rate bytes>: per period; 0 = no limit */
    unsigned rate_period_ms;      /* <rate period>; 0 = not given (1000 ms) */
    int pci_slot;                 /* <address type='pci' slot>, -1 = assign */
} VmmRngDef;

void vmm_rng_def_free(VmmRngDef *rng);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmRngDef, vmm_rng_def_free)
/* The file a random backend reads. */
const char *vmm_rng_def_file(const VmmRngDef *rng);
/* The period in ms the rate applies to. */
unsigned vmm_rng_def_period_ms(const VmmRngDef *rng);

#endif
