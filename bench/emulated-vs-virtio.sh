#!/bin/bash
# Emulated against paravirtual devices, in one run on one machine: the same
# guest kit workloads over
#   NICs   virtio-net (userspace back end), virtio-net with vhost-net (only
#          where /dev/vhost-net exists), e1000, rtl8139 in C+ mode (8139cp's
#          descriptor rings) and in classic mode (8139too's receive buffer
#          and four transmit slots); on a tap in a network namespace made
#          here: UDP tx (guest -> host, counted at the tap) and rx (host ->
#          guest, bench/udpflood.c, counted by the guest), test=net-bench
#          nic=virtio|e1000|rtl8139 rtlmode=cplus|classic
#   disks  virtio-blk, IDE (PIIX3) by bus-master DMA and by PIO, SATA
#          (AHCI, NCQ); 4 KiB random reads and writes at queue depth 1, and
#          32 where the bus queues (virtio, SATA), cache=none io_uring, on an
#          image in tmpfs (and/or on the disk), test=blk-bench
#          bus=virtio|ide|sata [pio=1]
# on vmm-worker and on QEMU's models of the same devices (qemu-system-x86_64
# -enable-kvm: microvm with -device virtio-net-pci / e1000 / rtl8139 on
# -netdev tap,vhost=off (vhost=on for the vhost row), virtio-blk-pci and
# ich9-ahci; the pc machine's own PIIX3 IDE for IDE: microvm's PCIe host
# has no I/O window for the bus master's BAR4).
# For each row: packets or requests per second, throughput, VM exits per
# packet/request, each with its ratio to the virtio row of the same VMM and
# workload; median and spread (min-max) of ROUNDS rounds, every row and
# both VMMs interleaved within a round. Then a bar chart of the rate ratios
# (gnuplot, OUT/emulated-vs-virtio.png). Asserts nothing.
#
# A row that the guest kit or the VMM refuses (a device model or a
# command-line key it does not have) is printed as n/a with the reason
# (footnotes under the table), never as a number. A VM that does not come
# up or hangs is an error: said on stderr with its output when it happens,
# the cell reads FAILED and the script exits 1 at the end.
#
#   bench/emulated-vs-virtio.sh [BUILDDIR] [SECONDS]    (5 s runs by default)
# Knobs (environment):
#   ROUNDS=3           rounds
#   NICS="virtio vhost e1000 rtl8139-cplus rtl8139-classic" (rtl8139: both)
#   DISKS="virtio ide ide-pio sata" (empty: none)
#   DIRS="tx rx"       SIZES="64 1514" (Ethernet frame bytes without FCS;
#                      1514: a full 1500-byte MTU)
#   RWS="randread randwrite"            QDS="1 32" (IDE: 1 only)
#   STORAGE="tmpfs"    and/or disk: where the image lives: tmpfs is /dev/shm,
#                      disk is DISK_DIR (default BUILDDIR/bench-tmp)
#   SIZE_MIB=256       image size (written with random data once per place)
#   VMMS="vmmd qemu"   which VMMs
#   FORMAT=text|md     the table as aligned text or as a markdown table
#   OUT=BUILDDIR/bench-emulated   the chart, the chart's data, raw results
#   TABLE_ONLY=1       no runs: the table and chart again from OUT's results
#                      (e.g. FORMAT=md TABLE_ONLY=1 after a run)
# VM exits: kvm:kvm_mmio + kvm:kvm_pio events of the VMM process (perf stat)
# over a window of SECONDS - 1 from 0.5 s after the workload starts
# (bench/lib.sh says why these), divided by the frames the tap passed in
# that window (net) or by IOPS x window (disks). Writes KVM queues without
# returning to the VMM (coalesced MMIO: e1000's RDT under both VMMs) count
# here too: they leave the guest, not the kernel.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init emulated-vs-virtio "${1:-}"
secs=${2:-5}
rounds=${ROUNDS:-3}
nics=${NICS-virtio vhost e1000 rtl8139-cplus rtl8139-classic}
nics=${nics//rtl8139 /rtl8139-cplus rtl8139-classic }
[[ "$nics" == *rtl8139 ]] && nics="${nics%rtl8139}rtl8139-cplus rtl8139-classic"
disks=${DISKS-virtio ide ide-pio sata}
dirs=${DIRS:-tx rx}
sizes=${SIZES:-64 1514}
rws=${RWS:-randread randwrite}
qds=${QDS:-1 32}
storage=${STORAGE-tmpfs}
size_mib=${SIZE_MIB:-256}
vmms=${VMMS:-vmmd qemu}
out=${OUT:-$builddir/bench-emulated}
disk_dir=${DISK_DIR:-$builddir/bench-tmp}
((secs >= 2)) || { echo "emulated-vs-virtio.sh: runs of at least 2 seconds, please" >&2; exit 1; }
if [[ " $vmms " == *" qemu "* ]] && ((! have_qemu)); then
    echo "emulated-vs-virtio.sh: qemu-system-x86_64 not installed: VMMS=vmmd only" >&2
    vmms=vmmd
fi
mkdir -p "$out"
res=$out/results
table_only=${TABLE_ONLY:-0}
if ((table_only)); then
    [ -f "$res/meta" ] || { echo "emulated-vs-virtio.sh: TABLE_ONLY=1 but no results in $res" >&2; exit 1; }
    read -r secs rounds < "$res/meta"
else
    rm -rf "$res"; mkdir -p "$res"
    echo "$secs $rounds" > "$res/meta"
    cut -d' ' -f1-3 /proc/loadavg > "$res/load"
fi

# ---- running one VM ----------------------------------------------------------
# Starts the VM command (words in the array vm) in the namespace, waits for
# the workload's start line, lets the caller measure, then waits for the end.
vm_start() {    # out
    : > "$1"
    [ -n "${BENCH_DEBUG:-}" ] && echo "+ ${vm[*]}" >&2
    nsx timeout $((secs + 120)) "${vm[@]}" > "$1" 2> "$1.err" &
    vm_bg=$!
    local i
    for i in $(seq 1200); do
        grep -q -e '"event":"net_ready"' -e '"event":"blk_bench"' "$1" && return 0
        kill -0 "$vm_bg" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# ---- network ---------------------------------------------------------------
gcc -O2 -o "$tmp/udpflood" "$top/bench/udpflood.c"
net_rows=()
for nic in $nics; do for dir in $dirs; do for size in $sizes; do
    net_rows+=("net $nic $dir $size")
done; done; done

net_vm() {      # vmm nic dir size
    local vmm=$1 nic=$2 dir=$3 payload=$(($4 - 42)) gnic=$2 cmd
    case $nic in
    vhost) gnic=virtio ;;
    rtl8139-*) gnic="rtl8139 rtlmode=${nic#rtl8139-}" nic=rtl8139 ;;
    esac
    cmd="test=net-bench nic=$gnic mode=$dir size=$payload secs=$secs pairs=1 dport=9"
    [ "$dir" = tx ] && cmd+=" dst=10.0.0.1 dmac=$bench_hmac"
    if [ "$vmm" = vmmd ]; then
        local model=$nic drv=
        case $nic in
        virtio) drv="<driver name='qemu'/>" ;;
        vhost) model=virtio drv="<driver name='vhost'/>" ;;
        esac
        domain_xml "$tmp/net.xml" bench-net "$cmd" "<interface type='ethernet'>
      <mac address='$bench_gmac'/><target dev='$bench_tap' managed='no'/>
      <model type='$model'/>$drv
    </interface>"
        vm=("$worker" --xml "$tmp/net.xml")
    else
        local dev vhost=off
        case $nic in
        virtio) dev=virtio-net-pci,disable-legacy=on ;;
        vhost) dev=virtio-net-pci,disable-legacy=on vhost=on ;;
        *) dev=$nic ;;
        esac
        qemu_kit microvm "$cmd"
        vm=("${qemu_args[@]}" -netdev "tap,id=n0,ifname=$bench_tap,script=no,downscript=no,vhost=$vhost"
            -device "$dev,netdev=n0,mac=$bench_gmac")
    fi
}

# One run: "OK pps exits-per-packet" (exits "-" when not counted), or NA/FAIL.
net_run() {     # vmm nic dir size
    local vmm=$1 nic=$2 dir=$3 size=$4 f=$tmp/net.out rc=0
    if [ "$nic" = vhost ] && [ ! -e /dev/vhost-net ]; then echo "NA no /dev/vhost-net on this host"; return; fi
    net_vm "$@"
    if ! vm_start "$f"; then
        wait "$vm_bg" || rc=$?
        vm_verdict "$f" "$rc" "$vmm $nic $dir $size"
        return
    fi
    net_measure "$vm_bg" "$f" "$dir" "$size" 1 "$secs"
    if [ -z "$m_pps" ] || ((m_pps == 0)); then
        vm_verdict "$f" "$m_rc" "$vmm $nic $dir $size"
        return
    fi
    echo "OK $m_pps $m_exits"
}

# ---- disks -----------------------------------------------------------------
blk_rows=()
for bus in $disks; do for st in $storage; do for rw in $rws; do for qd in $qds; do
    # the kit's IDE runs one command at a time
    [[ $bus == ide* ]] && ((qd != 1)) && continue
    blk_rows+=("blk $bus $st $rw $qd")
done; done; done; done

# A fully written image: reads of holes would never reach the storage.
declare -A img
((table_only)) || [ -z "$disks" ] || for st in $storage; do
    case $st in
    tmpfs) d=$(mktemp -d /dev/shm/emulated-vs-virtio-XXXXXX); at_exit rm -rf "$d" ;;
    disk) d=$disk_dir; mkdir -p "$d" ;;
    *) echo "emulated-vs-virtio.sh: STORAGE is tmpfs and/or disk, not $st" >&2; exit 1 ;;
    esac
    img[$st]=$d/emulated-vs-virtio.img
    if [ ! -f "${img[$st]}" ] || [ "$(stat -c %s "${img[$st]}")" -ne $((size_mib << 20)) ]; then
        echo "# writing the $size_mib MiB image ${img[$st]}" >&2
        dd if=/dev/urandom of="${img[$st]}" bs=1M count="$size_mib" oflag=direct status=none
    fi
done

blk_vm() {      # vmm bus storage rw qd
    local vmm=$1 bus=$2 file=${img[$3]} cmd
    cmd="test=blk-bench bus=${bus%-pio} rw=$4 bs=4096 qd=$5 secs=$secs queues=1"
    [ "$bus" = ide-pio ] && cmd+=" pio=1" bus=ide
    if [ "$vmm" = vmmd ]; then
        local dev=vda q=" queues='1'"
        case $bus in ide) dev=hda q= ;; sata) dev=sda q= ;; esac
        domain_xml "$tmp/blk.xml" bench-blk "$cmd" "<disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='io_uring'$q/>
      <source file='$file'/><target dev='$dev' bus='$bus'/>
    </disk>"
        vm=("$worker" --xml "$tmp/blk.xml")
    else
        local drive=file=$file,if=none,id=d0,format=raw,cache=none,aio=io_uring
        case $bus in
        virtio)
            qemu_kit microvm "$cmd"
            vm=("${qemu_args[@]}" -drive "$drive" -device virtio-blk-pci,drive=d0,disable-legacy=on,num-queues=1) ;;
        ide)
            # the PIIX3 IDE function of the pc machine (00:01.1), as on
            # vmm-worker; microvm has no legacy IDE of its own
            qemu_kit pc "$cmd"
            vm=("${qemu_args[@]}" -drive "$drive" -device ide-hd,drive=d0,bus=ide.0) ;;
        sata)
            qemu_kit microvm "$cmd"
            vm=("${qemu_args[@]}" -drive "$drive" -device ich9-ahci,id=ahci -device ide-hd,drive=d0,bus=ahci.0) ;;
        *) echo "emulated-vs-virtio.sh: DISKS are virtio, ide, ide-pio, sata; not $bus" >&2; exit 1 ;;
        esac
    fi
}

# One run: "OK iops exits-per-request", or NA/FAIL.
blk_run() {     # vmm bus storage rw qd
    local vmm=$1 f=$tmp/blk.out ev rc=0 iops
    blk_vm "$@"
    if ! vm_start "$f"; then
        wait "$vm_bg" || rc=$?
        vm_verdict "$f" "$rc" "$*"
        return
    fi
    sleep 0.5
    ev=$(count_exits "$(vmm_pid)" $((secs - 1)))
    wait "$vm_bg" || rc=$?
    iops=$(gk_value "$f" blk_bench iops)
    if [ -z "$iops" ] || [ "$iops" = 0 ]; then
        vm_verdict "$f" "$rc" "$*"
        return
    fi
    echo "OK $iops $(awk -v ev="${ev%% *}" -v n="$iops" -v w=$((secs - 1)) 'BEGIN {
        if (ev == "-") print "-"; else printf "%.4f\n", ev / (n * w) }')"
}

# ---- the rounds ---------------------------------------------------------------
rows=()
[ -n "$nics" ] && rows+=("${net_rows[@]}")
[ -n "$disks" ] && rows+=("${blk_rows[@]}")
key() { tr ' ' _ <<< "$*"; }
((table_only)) || { ns_up; mktap 1; }
((table_only)) || for r in $(seq "$rounds"); do
    for row in "${rows[@]}"; do
        set -- $row
        kind=$1; shift
        for v in $vmms; do
            k=$res/$(key "$row").$v
            # a refused row is not asked again
            grep -q '^NA' "$k" 2>/dev/null && continue
            line=$("${kind}_run" "$v" "$@")
            echo "$line" >> "$k"
            echo "# round $r/$rounds: $v $row: $line" >&2
        done
    done
done

# ---- the table -----------------------------------------------------------------
# One cell group per VMM: "rate lo hi exits" from the OK rounds, or the
# reason of the first NA/FAIL round.
cell() {        # row vmm -> "OK median min max exits" | "NA reason" | "FAIL reason"
    local k=$res/$(key "$1").$2
    [ -s "$k" ] || { echo "NA not run"; return; }
    if grep -q '^OK' "$k"; then
        read -r m lo hi < <(grep '^OK' "$k" | mstats 2)
        read -r e _ < <(grep '^OK' "$k" | mstats 3)
        echo "OK $m $lo $hi $e"
    else
        head -n 1 "$k"
    fi
}
base_row() {    # row -> the virtio row of the same workload
    set -- $1
    echo "$1 virtio ${*:3}"
}
label() {       # row -> "device|workload|unit-bytes"
    set -- $1
    if [ "$1" = net ]; then
        local d=$2
        [ "$2" = virtio ] && d="virtio-net"
        [ "$2" = vhost ] && d="virtio-net vhost"
        [ "$2" = rtl8139-cplus ] && d="rtl8139 C+"
        [ "$2" = rtl8139-classic ] && d="rtl8139 classic"
        echo "$d|$3 ${4} B|$4"
    else
        local d=$2
        case $2 in virtio) d=virtio-blk ;; ide) d="IDE DMA" ;; ide-pio) d="IDE PIO" ;; sata) d="SATA (AHCI)" ;; esac
        echo "$d|$4 qd$5 $3|4096"
    fi
}

: > "$out/chart.dat"
lines=()
for row in "${rows[@]}"; do
    IFS='|' read -r dev wl unit <<< "$(label "$row")"
    fields=("$dev" "$wl")
    chart=()
    for v in $vmms; do
        read -r st m lo hi e <<< "$(cell "$row" "$v")"
        if [ "$st" = OK ]; then
            read -r bst bm _ _ be <<< "$(cell "$(base_row "$row")" "$v")"
            rr=- er=-
            [ "$bst" = OK ] && rr=$(awk -v a="$m" -v b="$bm" 'BEGIN { printf "%.2f", a / b }')
            [ "$bst" = OK ] && [ "$e" != - ] && [ "$be" != - ] &&
                er=$(awk -v a="$e" -v b="$be" 'BEGIN { printf (b > 0) ? "%.1f" : "-", a / b }')
            fields+=("$(awk -v m="$m" 'BEGIN { printf "%.0f", m }')"
                     "$(awk -v lo="$lo" -v hi="$hi" 'BEGIN { printf "%.0f-%.0f", lo, hi }')"
                     "$(awk -v m="$m" -v u="$unit" -v net="${row%% *}" 'BEGIN {
                         printf "%.1f", (net == "net") ? m * u * 8 / 1e6 : m * u / 1e6 }')"
                     "$rr" "$(awk -v e="$e" 'BEGIN { printf (e == "-") ? "-" : "%.3f", e }')" "$er")
            chart+=("$( [ "$bst" = OK ] && awk -v a="$m" -v b="$bm" 'BEGIN { printf "%.4g", a / b }' || echo -)")
        else
            note "$(cell "$row" "$v" | cut -d' ' -f2-)"
            fields+=("$([ "$st" = FAIL ] && echo FAILED || echo n/a) $note_ref" - - - - -)
            chart+=(-)
        fi
    done
    lines+=("$(IFS='|'; echo "${fields[*]}")")
    # the chart: rows other than virtio with at least one figure
    [ "$(set -- $row; echo "$2")" != virtio ] && [[ " ${chart[*]} " == *[0-9]* ]] &&
        echo "\"$dev $wl\" ${chart[*]}" | sed 's/ - / ? /g; s/ -$/ ?/' >> "$out/chart.dat"
done

cols=(device workload)
for v in $vmms; do
    cols+=("$v pkt/s, IOPS" "(spread)" "Mb/s, MB/s" "x virtio" "exits/req" "exits x virtio")
done
echo "# Emulated vs paravirtual devices: guest kit net-bench (UDP, 1 queue pair, tap in a netns) and blk-bench (4 KiB, cache=none, io_uring),"
echo "# median (spread min-max) of $rounds interleaved rounds of $secs s; x virtio: ratio to the virtio row of the same VMM and workload;"
echo "# net: pkt/s and Mb/s (frames), blk: IOPS and MB/s; exits/req: kvm_mmio + kvm_pio events per packet or request; $(uname -r), $(nproc) CPUs"
echo "# shared with other work (load average $(cat "$res/load" 2>/dev/null || echo ?) at the start; run niced if you share the host too): the spreads say how steady it was"
fmt='%-17s %-19s'
for _ in $vmms; do fmt+=" %13s %15s %10s %8s %9s %14s"; done
print_table "$fmt\n"

# ---- the chart -----------------------------------------------------------------
if ! command -v gnuplot >/dev/null; then
    echo "gnuplot not installed: no chart (Debian: gnuplot-nox)"
elif [ -s "$out/chart.dat" ]; then
    n=$(wc -l < "$out/chart.dat")
    plots=() c=2
    for v in $vmms; do
        plots+=("'$out/chart.dat' using $c:xtic(1) title '$v'")
        c=$((c + 1))
    done
    (IFS=,; gnuplot <<GP
set terminal pngcairo size $((n < 6 ? 960 : 540 + 70 * n)),640
set output '$out/emulated-vs-virtio.png'
set title "Emulated devices against virtio on the same VMM: packets or requests per second, virtio = 1"
set xrange [-0.6:$n - 0.4]
set key outside top center horizontal
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 10
set yrange [0.0001:2]
set ylabel 'rate / virtio rate (log scale)'
set grid ytics
set xtics rotate by -45 font ',9'
set bmargin 9
set rmargin 12
set datafile missing '?'
plot ${plots[*]}, 1 with lines dt 2 lc rgb 'black' notitle
GP
    ) && echo "chart: $out/emulated-vs-virtio.png"
fi

bench_failures
