/* Helpers for integration tests: write a domain XML, run the real
 * vmm-worker on the guest kit, collect its guestkit JSON report. */
#ifndef VMM_TEST_HARNESS_H
#define VMM_TEST_HARNESS_H

#include <glib.h>
#include <stdbool.h>
#include <json-c/json.h>

typedef struct {
    const char *name;        /* default "test" */
    unsigned vcpus;          /* default 1 */
    unsigned memory_mib;     /* default 128 */
    const char *kernel;      /* default the guest kit ELF */
    const char *cmdline;
    const char *on_reboot;   /* default destroy (tests want an exit) */
    const char *on_poweroff;
    const char *serial_xml;  /* default <serial type='stdio'/> */
    const char *extra_devices;
    const char *cpu_xml;     /* a <cpu> element, or NULL */
    gboolean no_acpi;
} HarnessDomain;

typedef struct {
    int exit_status;         /* -1 if killed by a signal */
    int term_signal;
    char *out, *err;         /* full stdout / stderr */
    GPtrArray *reports;      /* json_object* of every guestkit: line */
    json_object *done;       /* the {"done":true,...} object or NULL */
    double seconds;
} HarnessRun;

const char *harness_builddir(void);
const char *harness_srcdir(void);
char *harness_path(const char *relative);       /* in the build dir */
char *harness_tmpdir(void);                     /* fresh, removed at exit */
char *harness_write_domain(const char *dir, const HarnessDomain *d);
/* A sparse raw image of `mib` MiB named `name` in dir; its path. */
char *harness_make_image(const char *dir, const char *name, unsigned mib);
/* Runs vmm-worker --xml FILE [extra args]; kills it after timeout_s. If
 * on_line is set it is called for each stdout line as it arrives (used to
 * send signals at the right moment). */
HarnessRun *harness_run_worker(const char *xml_path, const char *const *extra_args,
                               double timeout_s,
                               gboolean (*on_line)(const char *line, GPid pid, void *opaque),
                               void *opaque);
void harness_run_free(HarnessRun *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HarnessRun, harness_run_free)
/* Reports whose key `key` exists (e.g. "check") with optional string value. */
GPtrArray *harness_find(HarnessRun *r, const char *key, const char *value);
int harness_done_count(HarnessRun *r, const char *field);   /* passed/failed, -1 if no done */
/* Runs a shell command line; its standard output ("" when it cannot run). */
char *harness_sh_out(const char *cmd);
/* Asserts: no sanitizer report and no seccomp stop in stderr. */
void harness_assert_clean_stderr(HarnessRun *r);
/* Runs a shell command line; its exit status (its output is logged when
 * that is not 0). */
int harness_sh(const char *cmd);
/* qemu-img and qemu-io are there; else the test is skipped (false). */
bool harness_have_qemu_img(void);
/* A raw CD-ROM image of `sectors` 2048-byte sectors in dir whose 32-bit
 * word k of sector s is base + s * 512 + k (what test=ide and test=ahci
 * check); its path. */
char *harness_make_cd_image(const char *dir, const char *name, guint32 sectors, guint32 base);
/* Writes d's domain in dir and runs it to the end: the worker exits 0, the
 * guest kit reports no failed check, stderr is clean. */
HarnessRun *harness_run_guest(const char *dir, const HarnessDomain *d, double timeout_s);
/* A domain with devs (the XML of its extra devices) does not start and
 * stderr says `want`. */
void harness_assert_refused(const char *devs, const char *want, double timeout_s);
/* The same for each of n cases {devs, want}: devs is a format whose %s
 * (at most two) name an 8 MiB image d.img, beside which d.img.2 exists. */
void harness_assert_refused_cases(const char *const (*cases)[2], size_t n, double timeout_s);

/* The cache and io modes a disk controller's guest test runs under. */
typedef struct {
    const char *cache, *io;
} HarnessDiskMode;
/* g_test_init(); with /dev/kvm usable, PREFIX/guest/IO/CACHE for each
 * mode (guest gets its HarnessDiskMode) and true, for the caller to add
 * its other cases; without, one PREFIX/no-kvm case that says why it skips,
 * and false. */
bool harness_init_disk_tests(int *argc, char ***argv, const char *prefix, GTestDataFunc guest);

/* DPDK's dpdk-testpmd as a vhost-user net back end on a socket in a fresh
 * directory, forwarding with macswap (every frame back, MACs swapped).
 * client: testpmd connects (retrying) to a socket the VMM listens on;
 * otherwise it listens and start waits for its socket. false: SKIPped
 * (not installed) or failed (did not come up); call stop either way. */
typedef struct {
    GPid pid;
    char *sock;
    char *log;
} HarnessTestpmd;
bool harness_testpmd_start(HarnessTestpmd *t, unsigned queues, bool client);
/* SIGINT (testpmd prints its statistics into the test log) and reap. */
void harness_testpmd_stop(HarnessTestpmd *t);

/* qemu-storage-daemon as a vhost-user-blk back end (test-vhost-user-blk,
 * test-sandbox): a QSD_IMG_MIB raw image and a socket in DIR. */
#define QSD_IMG_MIB 64
typedef struct {
    GPid pid;
    char *sock, *img;
    char *qmp;                   /* a QMP monitor socket, when asked for */
    bool restarted;
} Qsd;
void qsd_start_on(Qsd *q, const char *dir, bool new_image);
void qsd_start(Qsd *q, const char *dir);
/* SIGKILL (its socket file goes too); restart: a new back end on the
 * same socket and image (after killing the running one). */
void qsd_kill(Qsd *q);
void qsd_restart(Qsd *q);
void qsd_stop(Qsd *q);
void qsd_free(Qsd *q);

#endif
