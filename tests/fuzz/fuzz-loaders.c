/* libFuzzer target for the kernel loaders: whatever file a domain names
 * as its <kernel> (an ELF vmlinux with or without a PVH note, a bzImage,
 * anything else) goes through vmm_boot_load into a guest RAM buffer. No
 * KVM is needed: the loaders only see the VM's memory layout. They must
 * refuse with a message or load within guest RAM and start the vCPU
 * there, never touch anything else (ASan watches the buffer's edges).
 *
 * Input: [0] boot protocol (0 auto, 1 linux, 2 pvh), then the kernel file.
 * Built with libFuzzer, or with -DVMM_FUZZ_STANDALONE as a replay program
 * for tests/fuzz/corpus-loaders (the guest kit's ELF and bzImage headers,
 * truncated and damaged). */
#include "vmm/boot.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *ram;
    static int fd = -1;
    static char path[64];
    if (!ram) {
        ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        fd = memfd_create("fuzz-kernel", MFD_CLOEXEC);
        if (ram == MAP_FAILED || fd < 0)
            abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    if (size < 1)
        return 0;
    static const char *const protocols[] = { "auto", "linux", "pvh" };
    const char *protocol = protocols[data[0] % 3];
    if (ftruncate(fd, 0) < 0 || pwrite(fd, data + 1, size - 1, 0) != (ssize_t)(size - 1))
        abort();
    VmmDomainDef def = { .kernel = path, .cmdline = (char *)"console=ttyS0" };
    VmmVm vm = { .def = &def, .ram = ram, .ram_size = RAM, .lowmem_size = RAM };
    VmmBootState st;
    GError *err = NULL;
    if (!vmm_boot_load(&vm, protocol, &st, &err)) {
        if (!err || !err->message[0])
            abort();
        g_error_free(err);
    } else if (err || !vmm_vm_gpa_to_hva(&vm, st.entry, 1)) {
        /* A yes is a vCPU started there: it must be in guest RAM. */
        fprintf(stderr, "fuzz-loaders: %s entry 0x%llx accepted outside guest RAM\n",
                st.format, (unsigned long long)st.entry);
        abort();
    }
    return 0;
}

#ifdef VMM_FUZZ_STANDALONE
#include "replay.h"
int main(int argc, char **argv)
{
    return vmm_fuzz_replay_main(argc, argv, "loaders");
}
#endif
