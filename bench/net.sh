#!/bin/bash
# Network benchmark: UDP packet rate and throughput through virtio-net on a
# tap, guest to host (tx) and host to guest (rx), 64- and 1400-byte frames,
# 1 and 4 queue pairs, in one run:
#   vmmd  - the guest kit's net-bench on vmm-worker (userspace back end)
#   qemu  - the same guest kit on QEMU/KVM (microvm, -netdev tap,vhost=off)
# Same tap (multi-queue, in a network namespace made here), same guest,
# same host-side sender and counters. Rounds are interleaved and the
# median is printed with the spread (min-max). Asserts nothing.
#
# Then, when Debian's dpdk-testpmd (dpdk-dev) is installed, the same guest
# on a vhostuser interface with testpmd as the vhost-user back end (second
# table, against QEMU's -netdev vhost-user on the same testpmd): tx into
# testpmd's rxonly, rx from its txonly generator; rates as the guest counts
# them. testpmd busy-polls one core for the whole run, so
# on a 2-core host the guest's vCPU shares the other core with the worker's
# threads.
#
#   bench/net.sh [BUILDDIR] [SECONDS]
# Knobs (environment): ROUNDS (3), SIZES ("64 1400": Ethernet frame bytes
# without FCS), PAIRS ("1 4"), DIRS ("tx rx"), TABLES ("tap vhost-user":
# which tables to run).
# tx is counted where it lands: the tap's rx_packets on the host. rx is
# counted by the guest (datagrams it received on every queue).
# VM exits per packet: kvm:kvm_mmio + kvm:kvm_pio events of the VMM process
# (perf stat -p) over a window inside the run (0.5 s after traffic starts,
# SECONDS - 1 long), divided by the frames the tap passed in that window
# (rx_packets for tx, tx_packets for rx); irq/pkt likewise from
# kvm:kvm_msi_set_irq. The same counters for both VMMs: on PVM hosts
# kvm:kvm_exit never fires, KVM_GET_STATS_FD refuses a process that is not
# the VM's owner (EIO) and debugfs is not mounted; the guest polls with
# interrupts suppressed and never halts in the window, so emulated MMIO
# (queue notifications) and port I/O are the exits that remain.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init net "${1:-}"
secs=${2:-5}
rounds=${ROUNDS:-3}
sizes=${SIZES:-64 1400}
pairs_list=${PAIRS:-1 4}
dirs=${DIRS:-tx rx}
tables=${TABLES:-tap vhost-user}
tap=$bench_tap
gmac=$bench_gmac
hmac=$bench_hmac
tp_pid=
at_exit '[ -n "$tp_pid" ] && kill -INT "$tp_pid" 2>/dev/null && wait "$tp_pid" 2>/dev/null'
gcc -O2 -o "$tmp/udpflood" "$top/bench/udpflood.c"
((secs >= 2)) || { echo "net.sh: runs of at least 2 seconds, please (exits are counted in a window inside)" >&2; exit 1; }

ns_up
rxp() { tapctr rx_packets; }

guest_cmd() {   # dir size pairs
    local payload=$(($2 - 42))
    if [ "$1" = tx ]; then
        echo "test=net-bench mode=tx size=$payload secs=$secs pairs=$3 dst=10.0.0.1 dport=9 dmac=$hmac"
    else
        echo "test=net-bench mode=rx size=$payload secs=$secs pairs=$3 dport=9"
    fi
}

vmm_cmd() {     # dir size pairs
    domain_xml "$tmp/d.xml" bench-net "$(guest_cmd "$@")" "<interface type='ethernet'>
      <mac address='$gmac'/><target dev='$tap' managed='no'/>
      <model type='virtio'/><driver name='qemu' queues='$3'/>
    </interface>"
    echo "$worker" --xml "$tmp/d.xml"
}

qemu_cmd() {    # dir size pairs
    echo qemu-system-x86_64 -M microvm,pcie=on,rtc=on -enable-kvm -cpu qemu64 -m 512 -smp 1 \
        -nodefaults -nographic -no-reboot -serial stdio -kernel "$kit" -append "\"$(guest_cmd "$@")\"" \
        -netdev tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off,queues=$3 \
        -device virtio-net-pci,netdev=n0,mac=$gmac,disable-legacy=on,mq=on,vectors=$((2 * $3 + 2))
}

# One run: prints packets per second (0 when the run failed), then VM
# exits and interrupts per packet in the counting window ("-" when unknown).
run() {         # vmm dir size pairs
    local vmm=$1 dir=$2 size=$3 pairs=$4 out=$tmp/out pid
    : > "$out"; [ -n "${NET_DEBUG:-}" ] && echo "+ $("${vmm}_cmd" "$dir" "$size" "$pairs")" >&2
    eval "nsx timeout $((secs + 90)) $("${vmm}_cmd" "$dir" "$size" "$pairs")" > "$out" 2>"$out.err" &
    pid=$!
    for _ in $(seq 600); do grep -q net_ready "$out" && break; sleep 0.05; done
    net_measure "$pid" "$out" "$dir" "$size" "$pairs" "$secs"
    [ -n "${NET_DEBUG:-}" ] && tail -n 3 "$out" "$out.err" >&2
    echo "${m_pps:-0} $m_exits $m_irqs"
}

header() {
    printf '%-3s %5s %5s %22s %22s %9s %9s %9s %8s %8s %8s %8s\n' dir frame pairs "vmmd pps (spread)" \
        "qemu pps (spread)" "vmmd Mb/s" "qemu Mb/s" vmmd/qemu "exit/pkt" "" "irq/pkt" ""
    printf '%-3s %5s %5s %22s %22s %9s %9s %9s %8s %8s %8s %8s\n' "" "" "" "" "" "" "" "" vmmd qemu vmmd qemu
}

# One table: for every direction, size and pair count, ROUNDS interleaved
# runs of "$runner vmm|qemu dir size pairs" (which prints pps, exits per
# packet and interrupts per packet, "-" when not counted), one row.
table() {       # runner [setup command run before each row, given the pairs]
    local runner=$1 setup=${2:-}
    header
    for dir in $dirs; do
        for size in $sizes; do
            for pairs in $pairs_list; do
                [ -n "$setup" ] && "$setup" "$pairs"
                : > "$tmp/v"; : > "$tmp/q"
                for _ in $(seq "$rounds"); do
                    "$runner" vmm "$dir" "$size" "$pairs" >> "$tmp/v"
                    if ((have_qemu)); then "$runner" qemu "$dir" "$size" "$pairs" >> "$tmp/q"; fi
                done
                read -r vm vlo vhi < <(mstats 1 < "$tmp/v")
                read -r qm qlo qhi < <(mstats 1 < "$tmp/q")
                read -r ve _ < <(mstats 2 < "$tmp/v")
                read -r qe _ < <(mstats 2 < "$tmp/q")
                read -r vi _ < <(mstats 3 < "$tmp/v")
                read -r qi _ < <(mstats 3 < "$tmp/q")
                awk -v d="$dir" -v s="$size" -v p="$pairs" -v vm="$vm" -v vlo="$vlo" -v vhi="$vhi" \
                    -v qm="$qm" -v qlo="$qlo" -v qhi="$qhi" -v ve="$ve" -v qe="$qe" -v vi="$vi" -v qi="$qi" '
                    function f(x) { return x == "-" ? "-" : sprintf("%.4f", x) }
                    BEGIN { if (vm == "-") vm = vlo = vhi = 0; if (qm == "-") qm = qlo = qhi = 0
                    printf "%-3s %5d %5d %9.0f (%5.0fk-%5.0fk) %9.0f (%5.0fk-%5.0fk) %9.0f %9.0f %9s %8s %8s %8s %8s\n",
                        d, s, p, vm, vlo / 1000, vhi / 1000, qm, qlo / 1000, qhi / 1000,
                        vm * s * 8 / 1e6, qm * s * 8 / 1e6, (qm > 0) ? sprintf("%.2f", vm / qm) : "-",
                        f(ve), f(qe), f(vi), f(qi) }'
            done
        done
    done
}

if [[ " $tables " == *" tap "* ]]; then
echo "# virtio-net UDP, guest kit net-bench, median of $rounds interleaved rounds of ${secs} s (spread min-max); $(uname -r)"
echo "# tx: guest -> host, counted at the host tap; rx: host -> guest (udpflood, one flow per queue pair), counted by the guest"
echo "# exit/pkt: kvm_mmio + kvm_pio events per frame, irq/pkt: kvm_msi_set_irq per frame (medians)"
table run mktap
fi

# ---- vhost-user: dpdk-testpmd as the back end --------------------------------
command -v dpdk-testpmd >/dev/null && [[ " $tables " == *" vhost-user "* ]] || exit 0
sock=$tmp/testpmd.sock
tp_start() {    # mode frame pairs
    local extra=
    [ "$1" = txonly ] && extra="--txpkts=$2"
    rm -f "$sock"
    dpdk-testpmd --no-huge -m 256 --no-pci -l 0-1 --file-prefix "vmmbench$$" \
        --vdev "net_vhost0,iface=$sock,queues=$3" -- --total-num-mbufs=8192 \
        --rxq="$3" --txq="$3" --forward-mode="$1" $extra --auto-start --stats-period 600 \
        > "$tmp/testpmd.log" 2>&1 &
    tp_pid=$!
    for _ in $(seq 200); do [ -S "$sock" ] && return 0; sleep 0.05; done
    echo "net.sh: testpmd did not start:" >&2; tail -n 5 "$tmp/testpmd.log" >&2
    return 1
}
tp_stop() { kill -INT "$tp_pid" 2>/dev/null; wait "$tp_pid" 2>/dev/null || true; tp_pid=; }
vu_run() {      # vmm dir size pairs: the guest's packets per second (0 when the run failed)
    local vmm=$1; shift
    local dir=$1 size=$2 pairs=$3 out=$tmp/vu.out payload=$(($2 - 42)) cmd
    if [ "$dir" = tx ]; then
        tp_start rxonly "$size" "$pairs" || { echo "0 - -"; return; }
        cmd="test=net-bench mode=tx size=$payload secs=$secs pairs=$pairs dst=10.0.0.1 dport=9 dmac=$hmac"
    else
        tp_start txonly "$size" "$pairs" || { echo "0 - -"; return; }
        cmd="test=net-bench mode=rx size=$payload secs=$secs pairs=$pairs dport=9"
    fi
    domain_xml "$tmp/vu.xml" bench-net-vu "$cmd" "<interface type='vhostuser'>
      <mac address='$gmac'/><source type='unix' path='$sock' mode='client'/>
      <model type='virtio'/><driver queues='$pairs'/>
    </interface>"
    if [ "$vmm" = vmm ]; then
        timeout $((secs + 90)) "$worker" --xml "$tmp/vu.xml" > "$out" 2> "$out.err" || true
    else
        # QEMU shares guest RAM with the back end through a memfd, as vmm-worker does
        timeout $((secs + 90)) qemu-system-x86_64 -M microvm,pcie=on,rtc=on,memory-backend=mem \
            -object memory-backend-memfd,id=mem,size=512M,share=on -enable-kvm -cpu qemu64 \
            -m 512 -smp 1 -nodefaults -nographic -no-reboot -serial stdio -kernel "$kit" \
            -append "$cmd" -chardev socket,id=c0,path="$sock" \
            -netdev vhost-user,id=n0,chardev=c0,queues="$pairs" \
            -device virtio-net-pci,netdev=n0,mac=$gmac,disable-legacy=on,mq=on,vectors=$((2 * pairs + 2)) \
            > "$out" 2> "$out.err" || true
    fi
    tp_stop
    [ -n "${NET_DEBUG:-}" ] && tail -n 3 "$out" "$out.err" >&2
    # exits are not counted here: testpmd, not a tap, sees the frames
    local pps; pps=$(gk_value "$out" net_bench pps)
    echo "${pps:-0} - -"
}

echo
echo "# vhost-user: the same guest on <interface type='vhostuser'>, dpdk-testpmd as back end (tx: rxonly, rx: txonly), median of $rounds rounds (spread)"
echo "# counted by the guest; testpmd busy-polls one of the host's $(nproc) cores; qemu: -netdev vhost-user, memfd RAM"
table vu_run
