#!/bin/bash
# qcow2 against raw, vmm-worker against QEMU, in one run: the guest kit's
# blk-bench (virtio-blk, 4 KiB random reads and writes at queue depths 1
# and 32, cache=none, io_uring, one queue) on
#   raw       a raw image, fully written with random data
#   fresh     a new qcow2 image (qemu-img create): writes allocate clusters,
#             reads of unallocated clusters are answered without I/O
#   prealloc  qcow2 with preallocation=metadata: L2 tables and refcounts in
#             place, data clusters allocated but never written
#   full      qcow2 with every cluster allocated and written (qemu-img
#             convert of the raw image)
#   overlay   a new qcow2 overlay on the raw image as its backing file (the
#             backing file named in the header, as libvirt leaves it):
#             reads go to the backing file, writes copy on write
# fresh, prealloc and overlay are made again before every run, so every
# write run allocates; raw and full are written once.
# Each in tmpfs (/dev/shm; O_DIRECT works there) and on the disk (DISK_DIR).
# QEMU: qemu-system-x86_64 -enable-kvm, microvm, -drive format=raw|qcow2,
# cache=none,aio=io_uring with virtio-blk-pci, the same guest kit.
# Prints IOPS, median and spread (min-max) of ROUNDS rounds (every row and
# both VMMs interleaved within a round), the ratio to raw on the same VMM
# and the ratio vmmd/qemu. Asserts nothing. A row refused by the VMM or
# the guest kit reads n/a with the reason; a VM that does not come up is
# an error (stderr, FAILED in the table, exit status 1).
#
#   bench/qcow2.sh [BUILDDIR] [SECONDS]     (5 s runs by default)
# Knobs (environment): ROUNDS=3, FORMATS="raw fresh prealloc full overlay",
# RWS="randread randwrite", QDS="1 32", STORAGE="tmpfs disk",
# SIZE_MIB=256 (virtual size of every image), CLUSTER=64k (qcow2 cluster
# size), DISK_DIR (default BUILDDIR/bench-tmp), VMMS="vmmd qemu" (an
# entry NAME=BUILDDIR adds the vmm-worker of another build as a column
# NAME, e.g. VMMS="vmmd before=../main/build-rel qemu" for a before/after
# comparison in one interleaved run),
# FORMAT=text|md (aligned text or a markdown table).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init qcow2 "${1:-}"
secs=${2:-5}
rounds=${ROUNDS:-3}
formats=${FORMATS:-raw fresh prealloc full overlay}
rws=${RWS:-randread randwrite}
qds=${QDS:-1 32}
storage=${STORAGE:-tmpfs disk}
size_mib=${SIZE_MIB:-256}
cluster=${CLUSTER:-64k}
vmms=
declare -A workers=()
for v in ${VMMS:-vmmd qemu}; do
    if [[ $v == *=* ]]; then
        workers[${v%%=*}]=$(cd "${v#*=}" && pwd)/src/vmm-worker
        [ -x "${workers[${v%%=*}]}" ] || { echo "qcow2.sh: no ${workers[${v%%=*}]}" >&2; exit 1; }
        v=${v%%=*}
    fi
    vmms+="${vmms:+ }$v"
done
disk_dir=${DISK_DIR:-$builddir/bench-tmp}
command -v qemu-img >/dev/null || { echo "qcow2.sh: qemu-img is needed (Debian: qemu-utils)" >&2; exit 1; }
if [[ " $vmms " == *" qemu "* ]] && ((! have_qemu)); then
    echo "qcow2.sh: qemu-system-x86_64 not installed: no qemu column" >&2
    vmms=$(tr ' ' '\n' <<< "$vmms" | grep -vx qemu | xargs)
fi
res=$tmp/results
mkdir -p "$res"

declare -A dir
for st in $storage; do
    case $st in
    tmpfs) dir[$st]=$(mktemp -d /dev/shm/qcow2-bench-XXXXXX); at_exit rm -rf "${dir[$st]}" ;;
    disk) dir[$st]=$(mktemp -d "$disk_dir/qcow2-bench-XXXXXX" 2>/dev/null ||
                     { mkdir -p "$disk_dir"; mktemp -d "$disk_dir/qcow2-bench-XXXXXX"; })
          at_exit rm -rf "${dir[$st]}" ;;
    *) echo "qcow2.sh: STORAGE is tmpfs and/or disk, not $st" >&2; exit 1 ;;
    esac
    d=${dir[$st]}
    echo "# writing the $size_mib MiB raw image and its qcow2 copy in $d" >&2
    dd if=/dev/urandom of="$d/raw.img" bs=1M count="$size_mib" oflag=direct status=none
    qemu-img convert -f raw -O qcow2 -o cluster_size="$cluster" "$d/raw.img" "$d/full.qcow2"
done

# The image of a run (made again for the formats that a write changes).
image() {       # storage format -> path and qemu/libvirt format
    local d=${dir[$1]}
    case $2 in
    raw) echo "$d/raw.img raw" ;;
    full) echo "$d/full.qcow2 qcow2" ;;
    fresh) rm -f "$d/fresh.qcow2"
        qemu-img create -q -f qcow2 -o cluster_size="$cluster" "$d/fresh.qcow2" "${size_mib}M"
        echo "$d/fresh.qcow2 qcow2" ;;
    prealloc) rm -f "$d/prealloc.qcow2"
        qemu-img create -q -f qcow2 -o cluster_size="$cluster",preallocation=metadata \
            "$d/prealloc.qcow2" "${size_mib}M"
        echo "$d/prealloc.qcow2 qcow2" ;;
    overlay) rm -f "$d/overlay.qcow2"
        qemu-img create -q -f qcow2 -o cluster_size="$cluster" -b "$d/raw.img" -F raw "$d/overlay.qcow2"
        echo "$d/overlay.qcow2 qcow2" ;;
    *) echo "qcow2.sh: FORMATS are raw fresh prealloc full overlay, not $2" >&2; exit 1 ;;
    esac
}

# One run: "OK iops", "NA reason" (refused) or "FAIL reason" (did not come up).
run() {         # vmm storage format rw qd
    local vmm=$1 f=$tmp/out rc=0 file fmt iops why cmd
    read -r file fmt < <(image "$2" "$3")
    cmd="test=blk-bench rw=$4 bs=4096 qd=$5 secs=$secs queues=1"
    if [ "$vmm" != qemu ]; then
        domain_xml "$tmp/d.xml" bench-qcow2 "$cmd" "<disk type='file' device='disk'>
      <driver name='qemu' type='$fmt' cache='none' io='io_uring' queues='1'/>
      <source file='$file'/><target dev='vda' bus='virtio'/>
    </disk>"
        vm=("${workers[$vmm]:-$worker}" --xml "$tmp/d.xml")
    else
        qemu_kit microvm "$cmd"
        vm=("${qemu_args[@]}" -drive "file=$file,if=none,id=d0,format=$fmt,cache=none,aio=io_uring"
            -device virtio-blk-pci,drive=d0,disable-legacy=on,num-queues=1)
    fi
    [ -n "${BENCH_DEBUG:-}" ] && echo "+ ${vm[*]}" >&2
    timeout $((secs + 120)) "${vm[@]}" > "$f" 2> "$f.err" || rc=$?
    iops=$(gk_value "$f" blk_bench iops)
    if [ -n "$iops" ] && [ "$iops" != 0 ]; then echo "OK $iops"; return; fi
    vm_verdict "$f" "$rc" "$*"
}

rows=()
for st in $storage; do for rw in $rws; do for qd in $qds; do for fm in $formats; do
    rows+=("$st $fm $rw $qd")
done; done; done; done
key() { tr ' ' _ <<< "$*"; }
for r in $(seq "$rounds"); do
    for row in "${rows[@]}"; do
        for v in $vmms; do
            k=$res/$(key "$row").$v
            grep -q '^NA' "$k" 2>/dev/null && continue
            line=$(run "$v" $row)
            echo "$line" >> "$k"
            echo "# round $r/$rounds: $v $row: $line" >&2
        done
    done
done

# "OK median min max" or the first NA/FAIL line
cell() {        # row vmm
    local k=$res/$(key "$1").$2
    [ -s "$k" ] || { echo "NA not run"; return; }
    if grep -q '^OK' "$k"; then echo "OK $(grep '^OK' "$k" | mstats 2)"; else head -n 1 "$k"; fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

cols=(storage rw qd image)
for v in $vmms; do cols+=("$v IOPS" "(spread)" "x raw"); done
[[ " $vmms " == *" vmmd "* && " $vmms " == *" qemu "* ]] && cols+=("vmmd/qemu")
lines=()
for row in "${rows[@]}"; do
    set -- $row
    fields=("$1" "$3" "$4" "$2")
    declare -A med=()
    for v in $vmms; do
        read -r st m lo hi <<< "$(cell "$row" "$v")"
        if [ "$st" = OK ]; then
            med[$v]=$m
            read -r bst bm _ <<< "$(cell "$1 raw $3 $4" "$v")"
            fields+=("$(printf '%.0f' "$m")" "$(printf '%.0f-%.0f' "$lo" "$hi")"
                     "$([ "$bst" = OK ] && ratio "$m" "$bm" || echo -)")
        else
            note "$(cell "$row" "$v" | cut -d' ' -f2-)"
            fields+=("$([ "$st" = FAIL ] && echo FAILED || echo n/a) $note_ref" - -)
        fi
    done
    if [[ " $vmms " == *" vmmd "* && " $vmms " == *" qemu "* ]]; then
        if [ -n "${med[vmmd]:-}" ] && [ -n "${med[qemu]:-}" ]; then
            fields+=("$(ratio "${med[vmmd]}" "${med[qemu]}")")
        else
            fields+=(-)
        fi
    fi
    unset med
    lines+=("$(IFS='|'; echo "${fields[*]}")")
done

echo "# qcow2 and raw images, guest kit blk-bench on virtio-blk, 4 KiB, 1 queue, cache=none, io_uring, ${size_mib} MiB images, cluster $cluster;"
echo "# median (spread min-max) of $rounds interleaved rounds of $secs s; x raw: to the raw image on the same VMM, storage and workload; $(uname -r), $(nproc) CPUs"
fmt='%-6s %-10s %3s %-9s'
for _ in $vmms; do fmt+=' %10s %15s %6s'; done
[[ " $vmms " == *" vmmd "* && " $vmms " == *" qemu "* ]] && fmt+=' %9s'
print_table "$fmt\n"
bench_failures
