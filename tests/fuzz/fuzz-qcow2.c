/* libFuzzer target for the qcow2 header and metadata parser and the paths
 * that follow tables at run time (src/block/qcow2.c): the input is an
 * image file. It is opened read-write from a memfd, read at a few places,
 * written, discarded and zeroed, read again; what vmm_qcow2_map gives for
 * each range read agrees with the read. Every outcome must be an open
 * error with a message, or requests that succeed or fail with -errno:
 * never a crash, a leak or an access outside the buffers. Backing files
 * are switched off (<backingStore/>): a fuzzed name must not open host
 * files.
 *
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-qcow2 (seeds made by qemu-img). */
#include "block/qcow2.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* What vmm_qcow2_map gives for a range just read must agree with the
 * read: the host range holds the same bytes and lies inside the file past
 * its first sector, or the range read as zeroes. */
static void check_map(VmmQcow2 *q, int fd, const uint8_t *got, uint64_t n, uint64_t off,
                      bool write)
{
    static uint8_t host_buf[4096];
    uint64_t host = 0;
    struct stat st;
    switch (vmm_qcow2_map(q, off, n, write, &host)) {
    case VMM_QCOW2_MAP_HOST:
        if (fstat(fd, &st) < 0 || host < 512 || host + n > (uint64_t)st.st_size ||
            pread(fd, host_buf, n, (off_t)host) != (ssize_t)n || memcmp(host_buf, got, n))
            abort();
        vmm_qcow2_map_done(q);
        break;
    case VMM_QCOW2_MAP_ZERO:
        for (uint64_t i = 0; i < n; i++)
            if (got[i] || write)
                abort();
        break;
    case VMM_QCOW2_MAP_SLOW:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    static const VmmImageBacking none = { .none = true };
    VmmQcow2Options o = { .readonly = size && (data[size - 1] & 1), .align = 512,
                          .flush_metadata = true, .discard_unmap = true, .backing = &none };
    GError *err = NULL;
    VmmQcow2 *q = vmm_qcow2_open(fd, "fuzz.qcow2", &o, &err);
    if (!q) {
        if (!err || !strstr(err->message, "fuzz.qcow2"))
            abort();
        g_error_free(err);
        close(fd);
        return 0;
    }
    if (err)
        abort();
    uint64_t vs = vmm_qcow2_size(q);
    static uint8_t buf[256 * 1024];
    uint64_t offs[] = { 0, vs / 2, vs > 70000 ? vs - 70000 : 0 };
    for (unsigned pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < G_N_ELEMENTS(offs); i++) {
            uint64_t n = MIN((uint64_t)sizeof(buf), vs - offs[i]);
            int r = vmm_qcow2_read(q, buf, n, offs[i]);
            if (r > 0 || r < -4095)
                abort();
            if (r == 0)
                check_map(q, fd, buf, MIN(n, (uint64_t)4096), offs[i], pass);
        }
        if (pass)
            break;
        memset(buf, 0xa5, 8192);
        for (unsigned i = 0; i < G_N_ELEMENTS(offs); i++) {
            uint64_t n = MIN((uint64_t)8192, vs - offs[i]);
            int r = vmm_qcow2_write(q, buf, n, offs[i]);
            if (r > 0 || r < -4095)
                abort();
        }
        int r1 = vmm_qcow2_discard(q, MIN((uint64_t)200000, vs), 0);
        int r2 = vmm_qcow2_write_zeroes(q, MIN((uint64_t)150000, vs - offs[1]), offs[1], true);
        int r3 = vmm_qcow2_flush(q);
        if (r1 > 0 || r2 > 0 || r3 > 0)
            abort();
    }
    (void)vmm_qcow2_allocation(q);
    vmm_qcow2_close(q);
    close(fd);
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "qcow2");
}
#endif
