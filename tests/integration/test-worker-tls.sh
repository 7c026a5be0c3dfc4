#!/bin/bash
# TAP: vmm-worker's static TLS stays small. glibc lays a process's static
# TLS block out at the top of every thread's stack and clears it when the
# thread is made, so each KiB here is a KiB of private memory on every
# vCPU, I/O and GLib thread of every VM (76 KiB of __thread buffers in
# virtio-net once cost an idle 2-vCPU VM about 230 KiB; bench/boot.sh).
set -u
src=${VMM_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VMM_TOP_BUILDDIR:-$src}
worker=$build/src/vmm-worker
limit=4096
echo "1..1"
if ! command -v readelf >/dev/null; then
    echo "ok 1 # SKIP readelf (binutils) is not installed"
    exit 0
fi
# the PT_TLS program header's MemSiz (.tdata + .tbss); none: no TLS at all
memsz=$(readelf -lW "$worker" | awk '$1 == "TLS" { print $6 }')
size=$((${memsz:-0}))
if ((size <= limit)); then
    echo "ok 1 - $worker: static TLS is $size bytes (at most $limit)"
else
    echo "not ok 1 - $worker: static TLS is $size bytes, more than $limit: a __thread" \
         "buffer costs that much on every thread's stack; give it to its device instead"
fi
