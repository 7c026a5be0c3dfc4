/* Exit statuses of vmm-worker (documented in vmmd(8)); the daemon maps
 * them to libvirt's shutoff/crashed reasons. */
#ifndef VMM_WORKER_H
#define VMM_WORKER_H

enum {
    VMM_WORKER_EXIT_POWEROFF = 0,   /* guest powered off (or shut down gracefully) */
    VMM_WORKER_EXIT_ERROR = 1,      /* configuration or host error, one-line reason */
    VMM_WORKER_EXIT_REBOOT = 2,     /* guest reset and <on_reboot> is destroy */
    VMM_WORKER_EXIT_CRASH = 3,      /* guest crashed and <on_crash> is destroy */
    VMM_WORKER_EXIT_KILLED = 4,     /* stopped hard by the host (second SIGTERM, SIGINT) */
};

#endif
