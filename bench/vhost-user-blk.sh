#!/bin/bash
# vhost-user-blk against the built-in virtio-blk, same guest, same image:
#   builtin   - vmm-worker's virtio-blk, cache=none io=io_uring (its own I/O thread)
#   vhostuser - vmm-worker's vhost-user-blk front end to qemu-storage-daemon
#               (file driver, cache.direct=on, aio=io_uring): the back end
#               process serves the queues, the worker is out of the data path
# The guest kit's blk-bench, 4 KiB, at queue depths 1 and 32, on an image in
# tmpfs (O_DIRECT works on tmpfs here), so the numbers are the I/O paths and
# not the throttled cloud disk. Interleaved rounds, medians. Asserts nothing.
#
#   bench/vhost-user-blk.sh [BUILDDIR] [SECONDS]
# Knobs: RW=randread|randwrite, QDS="1 32", ROUNDS=3, SIZE_MIB=256,
# BENCH_DIR (default /dev/shm).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init vhost-user-blk "${1:-}"
secs=${2:-10}
rw=${RW:-randread}
qds=${QDS:-1 32}
rounds=${ROUNDS:-3}
size_mib=${SIZE_MIB:-256}
command -v qemu-storage-daemon >/dev/null ||
    { echo "qemu-storage-daemon is needed (Debian: qemu-system-common)" >&2; exit 1; }
shm=$(mktemp -d "${BENCH_DIR:-/dev/shm}/vublk-bench-XXXXXX")
qsd_pid=
at_exit '[ -n "$qsd_pid" ] && kill "$qsd_pid" 2>/dev/null && wait "$qsd_pid" 2>/dev/null'
at_exit rm -rf "$shm"
img=$shm/bench.img
sock=$shm/vu.sock
# Written through, so that reads are of data, not holes.
dd if=/dev/urandom of="$img" bs=1M count="$size_mib" status=none

guest_cmd() { echo "test=blk-bench rw=$rw bs=4096 qd=$1 secs=$secs queues=1"; }

run_worker() {  # qd disk-xml
    domain_xml "$tmp/d.xml" bench-vublk "$(guest_cmd "$1")" "$2"
    timeout $((secs + 60)) "$worker" --xml "$tmp/d.xml" > "$tmp/out" 2>/dev/null || true
    gk_value "$tmp/out" blk_bench iops
}

builtin_iops() {
    run_worker "$1" "<disk type='file' device='disk'><driver name='qemu' type='raw' cache='none' io='io_uring' queues='1'/><source file='$img'/><target dev='vda' bus='virtio'/></disk>"
}

vhostuser_iops() {
    rm -f "$sock"
    qemu-storage-daemon \
        --blockdev "driver=file,node-name=f0,filename=$img,cache.direct=on,aio=io_uring" \
        --export "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=$sock,writable=on,num-queues=1" \
        > "$tmp/qsd.log" 2>&1 &
    qsd_pid=$!
    for _ in $(seq 500); do [ -S "$sock" ] && break; sleep 0.01; done
    run_worker "$1" "<disk type='vhostuser' device='disk'><driver name='qemu' type='raw'/><source type='unix' path='$sock'/><target dev='vda' bus='virtio'/></disk>"
    kill "$qsd_pid"; wait "$qsd_pid" 2>/dev/null || true
    qsd_pid=
}

echo "# guest kit blk-bench $rw 4 KiB, 1 queue, ${size_mib} MiB image in tmpfs, median (min-max) of $rounds interleaved rounds of ${secs} s; $(uname -r), $(nproc) CPUs"
printf '%-4s %12s %15s %12s %15s %14s\n' QD "builtin" "(spread)" "vhost-user" "(spread)" "vhostuser/builtin"
for qd in $qds; do
    : > "$tmp/b"; : > "$tmp/u"
    for _ in $(seq "$rounds"); do
        builtin_iops "$qd" >> "$tmp/b"
        vhostuser_iops "$qd" >> "$tmp/u"
    done
    b=$(median < "$tmp/b"); u=$(median < "$tmp/u")
    bs=$(spread < "$tmp/b"); us=$(spread < "$tmp/u")
    awk -v qd="$qd" -v b="${b:-0}" -v u="${u:-0}" -v bs="$bs" -v us="$us" 'BEGIN {
        r = (b > 0) ? sprintf("%.2f", u / b) : "-"
        printf "%-4s %12.0f %15s %12.0f %15s %14s\n", qd, b, "(" bs ")", u, "(" us ")", r }'
done
