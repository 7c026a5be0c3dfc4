#!/bin/bash
# Disk benchmark: 4 KiB random reads (and optionally other patterns) on one
# backing file, in one run:
#   host  - fio with io_uring and O_DIRECT on the file itself
#   vmmd  - the guest kit's blk-bench on vmm-worker, virtio-blk cache=none io=io_uring
#   qemu  - the same guest kit on QEMU/KVM (microvm), virtio-blk cache=none aio=io_uring
# at queue depth 1 and 32; prints IOPS and the ratios. Asserts nothing.
#
#   bench/blk.sh [BUILDDIR] [SECONDS]
# The three are run interleaved, ROUNDS times (default 3), and the median
# is reported: the disks under these VMs vary a lot from minute to minute.
# Knobs (environment): POLL=1 (guest polls the used ring instead of taking
# interrupts), RW=randread|randwrite|read|write, QDS="1 32", SIZE_MIB=1024,
# BENCH_DIR (default: BUILDDIR/bench-tmp, must support O_DIRECT).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init blk "${1:-}"
secs=${2:-10}
rw=${RW:-randread}
qds=${QDS:-1 32}
poll=${POLL:-0}
rounds=${ROUNDS:-3}
size_mib=${SIZE_MIB:-1024}
dir=${BENCH_DIR:-$builddir/bench-tmp}
mkdir -p "$dir"
img=$dir/blk-bench.img
command -v fio >/dev/null || { echo "fio is needed (apt-get install fio)" >&2; exit 1; }

# A fully written file: reads of holes would never touch the disk.
if [ ! -f "$img" ] || [ "$(stat -c %s "$img")" -ne $((size_mib << 20)) ]; then
    echo "# writing $size_mib MiB test file $img" >&2
    dd if=/dev/urandom of="$img" bs=1M count="$size_mib" oflag=direct status=none
fi
fio_rw=$rw

host_iops() {   # qd
    fio --name=host --filename="$img" --rw="$fio_rw" --bs=4k --iodepth="$1" \
        --ioengine=io_uring --direct=1 --runtime="$secs" --time_based --numjobs=1 \
        --output-format=terse --terse-version=3 2>/dev/null |
        awk -F';' -v rw="$rw" '{ print (rw ~ /write/) ? $49 : $8 }'
}

guest_cmd() {   # qd
    echo "test=blk-bench rw=$rw bs=4096 qd=$1 secs=$secs poll=$poll queues=1"
}

vmm_iops() {    # qd
    domain_xml "$tmp/d.xml" bench-blk "$(guest_cmd "$1")" "<disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='io_uring' queues='1'/>
      <source file='$img'/><target dev='vda' bus='virtio'/>
    </disk>"
    timeout $((secs + 60)) "$worker" --xml "$tmp/d.xml" > "$tmp/out" 2>/dev/null || true
    gk_value "$tmp/out" blk_bench iops
}

qemu_iops() {   # qd
    qemu_kit microvm "$(guest_cmd "$1")"
    timeout $((secs + 60)) "${qemu_args[@]}" \
        -drive file="$img",if=none,id=d0,format=raw,cache=none,aio=io_uring \
        -device virtio-blk-pci,drive=d0,disable-legacy=on,num-queues=1 > "$tmp/out" 2>/dev/null || true
    gk_value "$tmp/out" blk_bench iops
}

echo "# virtio-blk $rw 4 KiB, median of $rounds interleaved rounds of ${secs} s, cache=none (O_DIRECT), io_uring, poll=$poll; $(uname -r)"
printf '%-4s %12s %12s %12s %10s %10s %10s\n' QD "host IOPS" "vmmd IOPS" "qemu IOPS" "vmmd/host" "qemu/host" "vmmd/qemu"
for qd in $qds; do
    : > "$tmp/h"; : > "$tmp/v"; : > "$tmp/q"
    for _ in $(seq "$rounds"); do
        host_iops "$qd" >> "$tmp/h"
        vmm_iops "$qd" >> "$tmp/v"
        if ((have_qemu)); then qemu_iops "$qd" >> "$tmp/q"; fi
    done
    h=$(median < "$tmp/h"); v=$(median < "$tmp/v"); q=$(median < "$tmp/q")
    awk -v qd="$qd" -v h="${h:-0}" -v v="${v:-0}" -v q="${q:-0}" 'BEGIN {
        vh = (h > 0) ? sprintf("%.2f", v / h) : "-"
        qh = (h > 0 && q > 0) ? sprintf("%.2f", q / h) : "-"
        vq = (q > 0) ? sprintf("%.2f", v / q) : "-"
        printf "%-4s %12.0f %12.0f %12.0f %10s %10s %10s\n", qd, h, v, q, vh, qh, vq }'
done
