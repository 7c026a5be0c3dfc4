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
# BENCH_DIR (default: BUILDDIR/bench-tmp, must support O_DIRECT; /dev/shm
# works on kernels with O_DIRECT on tmpfs).
# Polling comparison: VMM_VARIANTS="name=BUILDDIR:POLL_US ..." runs each
# worker build with VMM_BLK_POLL_US=POLL_US (empty: its default) as an
# extra vmmd row, e.g. "off=build:0 adaptive=build: old=../base/build:";
# LOADS="0 1" also runs each with a busy loop on the second CPU (loaded
# host). That table gives IOPS and the process's CPU time (user + system,
# boot included) per request.
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

variants=${VMM_VARIANTS:-}
loads=${LOADS:-0}
command -v /usr/bin/time >/dev/null || [ -z "$variants" ] || { echo "/usr/bin/time is needed for VMM_VARIANTS" >&2; exit 1; }

busy_pid=
load_on() {     # a busy loop on the second CPU: a loaded host
    taskset -c 1 bash -c 'while :; do :; done' &
    busy_pid=$!
}
load_off() { [ -z "$busy_pid" ] || { kill "$busy_pid"; wait "$busy_pid" 2>/dev/null || true; busy_pid=; }; }
at_exit load_off

# Runs "$@" (a VM running blk-bench); prints "IOPS CPU-us-per-request".
timed_bench() {
    timeout $((secs + 60)) /usr/bin/time -f '%U %S' -o "$tmp/time" "$@" > "$tmp/out" 2>/dev/null || true
    local iops ios
    iops=$(gk_value "$tmp/out" blk_bench iops); ios=$(gk_value "$tmp/out" blk_bench ios)
    awk -v i="${iops:-0}" -v n="${ios:-0}" '{ printf "%s %.1f\n", i, (n > 0) ? ($1 + $2) * 1e6 / n : 0 }' "$tmp/time"
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

qemu_drive() {
    echo -drive "file=$img,if=none,id=d0,format=raw,cache=none,aio=io_uring" \
         -device virtio-blk-pci,drive=d0,disable-legacy=on,num-queues=1
}

qemu_iops() {   # qd
    qemu_kit microvm "$(guest_cmd "$1")"
    # shellcheck disable=SC2046
    timeout $((secs + 60)) "${qemu_args[@]}" $(qemu_drive) > "$tmp/out" 2>/dev/null || true
    gk_value "$tmp/out" blk_bench iops
}

variant_run() { # qd builddir poll_us: "IOPS CPU-us-per-request"
    domain_xml "$tmp/d.xml" bench-blk "$(guest_cmd "$1")" "<disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='io_uring' queues='1'/>
      <source file='$img'/><target dev='vda' bus='virtio'/>
    </disk>"
    if [ -n "$3" ]; then
        timed_bench env VMM_BLK_POLL_US="$3" "$2/src/vmm-worker" --xml "$tmp/d.xml"
    else
        timed_bench env -u VMM_BLK_POLL_US "$2/src/vmm-worker" --xml "$tmp/d.xml"
    fi
}

qemu_run() {    # qd: "IOPS CPU-us-per-request", QEMU's default iothread polling
    qemu_kit microvm "$(guest_cmd "$1")"
    # shellcheck disable=SC2046
    timed_bench "${qemu_args[@]}" -object iothread,id=io0 $(qemu_drive | sed 's/num-queues=1/num-queues=1,iothread=io0/')
}

variants_table() {
    echo "# polling: IOPS and CPU us per request (worker or QEMU process), median of $rounds interleaved rounds"
    printf '%-4s %-6s %-10s %10s %12s\n' QD load what IOPS "CPU us/req"
    for load in $loads; do
        for qd in $qds; do
            local names=() v
            for v in $variants; do names+=("${v%%=*}"); done
            ((have_qemu)) && names+=(qemu)
            for n in "${names[@]}"; do : > "$tmp/r-$n"; done
            for _ in $(seq "$rounds"); do
                ((load)) && load_on
                for v in $variants; do
                    local n=${v%%=*} rest=${v#*=}
                    variant_run "$qd" "$(cd "${rest%%:*}" && pwd)" "${rest#*:}" >> "$tmp/r-$n"
                done
                ((have_qemu)) && qemu_run "$qd" >> "$tmp/r-qemu"
                load_off
            done
            for n in "${names[@]}"; do
                printf '%-4s %-6s %-10s %10.0f %12.1f\n' "$qd" "$load" "$n" \
                    "$(cut -d' ' -f1 "$tmp/r-$n" | median)" "$(cut -d' ' -f2 "$tmp/r-$n" | median)"
            done
        done
    done
}

if [ -n "$variants" ]; then
    variants_table
    exit 0
fi

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
