# Sourced by the bench scripts (bash): what they share.
#
#   bench_init NAME [BUILDDIR]   sets top, builddir, kit, worker, tmp (removed
#                                at exit, with the hooks added by at_exit)
#   at_exit CMD                  run CMD at exit (before tmp is removed)
#   domain_xml FILE NAME CMDLINE DEVICES-XML   a one-vCPU 512 MiB guest-kit domain
#   qemu_kit MACHINE CMDLINE     QEMU's command line (as words in the array
#                                qemu_args) booting the guest kit: MACHINE is
#                                microvm (PCIe, no firmware) or pc (i440FX +
#                                PIIX3 with its IDE, SeaBIOS); the caller adds
#                                the devices
#   gk_value FILE CHECK KEY      KEY's number in FILE's passing CHECK line
#   gk_reason FILE ERRFILE       why a run gave no number, one line
#   ns_up / nsx / mktap PAIRS / tapctr NAME     a network namespace with a tap
#   vmm_pid                      the VMM process (vmm-worker or QEMU) in it
#   count_exits PID SECS         "exits irqs" of PID over SECS (perf)
#   median / spread              of the numbers on stdin
#   mstats COL                   "median min max" of column COL of stdin
#   vm_verdict OUT RC WHAT       "NA reason" or "FAIL reason" for a run with
#                                no figure; bench_failures exits 1 after FAILs
#   note TEXT / print_table FMT  footnotes, and the table as text or markdown
#
# VM exits are counted with the kvm:kvm_mmio and kvm:kvm_pio tracepoints
# (interrupts with kvm:kvm_msi_set_irq) of the VMM process, perf stat -p,
# over a window: on PVM hosts kvm:kvm_exit never fires, KVM_GET_STATS_FD
# refuses a process that is not the VM's owner (EIO) and debugfs is not
# mounted; guest kit benchmarks poll and never halt in the window, so
# emulated MMIO (queue notifications, device registers) and port I/O are
# the exits that remain.

bench_init() {  # name [builddir]
    bench_name=$1
    top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    builddir=$(cd "${2:-$top/build}" && pwd)
    kit=$builddir/tests/guest/guestkit.elf
    worker=$builddir/src/vmm-worker
    [ -x "$worker" ] && [ -f "$kit" ] || { echo "$bench_name: build first: $worker, $kit" >&2; exit 1; }
    [ -e /dev/kvm ] || { echo "$bench_name: /dev/kvm is missing" >&2; exit 1; }
    tmp=$(mktemp -d)
    : > "$tmp/failures"
    exit_hooks=()
    trap bench_cleanup EXIT
    have_qemu=0
    command -v qemu-system-x86_64 >/dev/null && have_qemu=1
    have_perf=0
    command -v perf >/dev/null && have_perf=1
    return 0
}

at_exit() { exit_hooks+=("$*"); }

bench_cleanup() {
    local h
    for h in "${exit_hooks[@]}"; do eval "$h" || true; done
    rm -rf "$tmp"
}

domain_xml() {  # file name cmdline devices-xml
    cat > "$1" <<XML
<domain type='kvm'>
  <name>$2</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>$kit</kernel><cmdline>$3</cmdline></os>
  <features><acpi/><apic/></features>
  <devices>
    $4
    <serial type='stdio'><target port='0'/></serial>
  </devices>
</domain>
XML
}

# -cpu qemu64: on PVM hosts "-cpu host" asks for MSRs the host refuses.
qemu_kit() {    # machine cmdline
    local m
    case $1 in
    microvm) m=microvm,pcie=on,rtc=on ;;
    pc) m=pc ;;
    *) echo "qemu_kit: unknown machine $1" >&2; return 1 ;;
    esac
    qemu_args=(qemu-system-x86_64 -M "$m" -enable-kvm -cpu qemu64 -m 512 -smp 1 -nodefaults
        -nographic -no-reboot -serial stdio -kernel "$kit" -append "$2")
}

# The number KEY of the passing CHECK line of a guest kit's output.
gk_value() {    # file check key
    sed -n "s/.*\"check\":\"$2\",\"ok\":true.*\"$3\":\([0-9.]*\).*/\1/p" "$1" | head -n 1
}

# Why a run produced no figure: the guest kit's failed check and its error,
# or the VMM's own last line on stderr (a refused definition), or that the
# guest never said anything.
gk_reason() {   # out err
    local l
    l=$(grep -m1 '"ok":false' "$1" 2>/dev/null | sed 's/^guestkit: //') || true
    if [ -n "$l" ]; then
        sed -n 's/.*"check":"\([^"]*\)".*"error":"\([^"]*\)".*/\1: \2/p' <<< "$l" | grep . ||
            cut -c1-120 <<< "$l"
        return
    fi
    l=$(grep -v -e '^\s*$' -e 'warning: host doesn.t support requested feature' "$2" 2>/dev/null |
        tail -n 1 | cut -c1-160) || true
    if [ -n "$l" ]; then echo "$l"; return; fi
    if grep -q guestkit: "$1" 2>/dev/null; then
        echo "guest kit stopped after: $(grep guestkit: "$1" | tail -n 1 | cut -c11-130)"
    else
        echo "no output from the guest"
    fi
}

# ---- a tap in a network namespace ---------------------------------------
bench_ns=vmmbench$$
bench_tap=bnt0
bench_hmac=02:00:00:00:00:01
bench_gmac=52:54:00:be:4c:01
nsx() { ip netns exec "$bench_ns" "$@"; }
ns_up() {
    ip netns add "$bench_ns"
    at_exit ns_down
    nsx ip link set lo up
}
ns_down() {
    ip netns pids "$bench_ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$bench_ns" 2>/dev/null || true
}
# QEMU opens a single-queue tap without IFF_MULTI_QUEUE, which a
# multi-queue tap refuses: the tap is made to match the pairs of the run
mktap() {       # pairs
    nsx ip link del "$bench_tap" 2>/dev/null || true
    nsx ip tuntap add "$bench_tap" mode tap $( (($1 > 1)) && echo multi_queue)
    nsx ip link set "$bench_tap" address "$bench_hmac"
    nsx ip addr add 10.0.0.1/24 dev "$bench_tap"
    nsx ip link set "$bench_tap" up
    nsx ip neigh replace 10.0.0.2 lladdr "$bench_gmac" dev "$bench_tap" nud permanent
}
tapctr() { nsx cat "/sys/class/net/$bench_tap/statistics/$1"; }

# The VMM process of a run (vmm-worker or QEMU) in the namespace.
vmm_pid() {
    local p
    for p in $(ip netns pids "$bench_ns"); do
        case $(cat "/proc/$p/comm" 2>/dev/null) in vmm-worker|qemu-system-x86) echo "$p"; return;; esac
    done
}

# Exit and interrupt events of process $1 while it runs for $2 seconds:
# prints "exits irqs", or "- -" without perf or a process.
count_exits() {
    if ((! have_perf)) || [ -z "$1" ]; then sleep "$2"; echo "- -"; return; fi
    perf stat -x, -o "$tmp/perf" -e kvm:kvm_mmio,kvm:kvm_pio,kvm:kvm_msi_set_irq -p "$1" \
        sleep "$2" 2>/dev/null || { echo "- -"; return; }
    awk -F, '$3 == "kvm:kvm_mmio" || $3 == "kvm:kvm_pio" { e += $1 }
             $3 == "kvm:kvm_msi_set_irq" { i += $1 } END { print e + 0, i + 0 }' "$tmp/perf"
}

# ---- statistics ------------------------------------------------------------
# median: the middle value (the mean of the two middle ones for an even count).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# spread: "min-max", rounded.
spread() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.0f-%.0f", lo, hi }'; }
# "median min max" of column COL ("-" entries left out; "- - -" when none)
mstats() {
    awk -v c="$1" '$c != "-" && $c != "" { print $c }' | sort -g | awk '{ v[NR] = $1 }
        END { if (!NR) { print "- - -"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'
}

# ---- outcomes of runs and the tables ----------------------------------------
# A run that gave no figure: "NA reason" when the guest kit or the VMM
# refused it (a failed check with an error, or a VMM that exited before the
# guest started saying that a model, bus or attribute is not supported),
# else "FAIL reason": the VM did not come up, hung (timeout's status 124)
# or died; that is also said on stderr at once, with the tail of the
# output, and kept for bench_failures.
vm_verdict() {  # out rc what
    local f=$1 rc=$2 why
    why=$(gk_reason "$f" "$f.err" | tr -s '\t ' '  ' | sed "s|$tmp/||g")
    if ((rc != 124)) && { grep -q '"ok":false.*"error":' "$f" ||
                          { ! grep -q guestkit: "$f" && ((rc != 0)) &&
                            grep -Eq 'not supported|unsupported|not a valid device model' "$f.err"; }; }; then
        echo "NA $why"
        return
    fi
    ((rc == 124)) && why="timed out; $why"
    echo "FAIL $why"
    {
        echo "$bench_name: FAILED: $3: $why (exit status $rc)"
        tail -n 5 "$f" "$f.err" | sed 's/^/    /'
    } >&2
    echo "$3: $why" >> "$tmp/failures"
}

# Exit status 1 with the list when a run failed.
bench_failures() {
    [ -s "$tmp/failures" ] || return 0
    echo "$bench_name: runs FAILED (a VM did not come up, hung or died):" >&2
    sed 's/^/  /' "$tmp/failures" >&2
    exit 1
}

# A table cell's footnote: note TEXT sets note_ref to "[n]", the same n for
# the same text; the notes are printed under the table.
notes=()
note() {
    local i
    for i in "${!notes[@]}"; do [ "${notes[$i]}" = "$1" ] && { note_ref="[$((i + 1))]"; return; }; done
    notes+=("$1")
    note_ref="[${#notes[@]}]"
}

# The table: column names in the array cols, rows in the array lines (fields
# separated by |), FORMAT md (a markdown table) or text (printf format $1),
# then the footnotes.
print_table() { # text-format
    local t f i
    if [ "${FORMAT:-text}" = md ]; then
        echo
        printf '| %s ' "${cols[@]}"; echo '|'
        printf '|%s' "${cols[@]/*/---}"; echo '|'
        for t in "${lines[@]}"; do echo "| ${t//|/ | } |"; done
        echo
        for i in "${!notes[@]}"; do echo "- [$((i + 1))] ${notes[$i]}"; done
    else
        # shellcheck disable=SC2059
        printf "$1" "${cols[@]}"
        for t in "${lines[@]}"; do IFS='|' read -r -a f <<< "$t"; printf "$1" "${f[@]}"; done
        for i in "${!notes[@]}"; do echo "[$((i + 1))] ${notes[$i]}"; done
    fi
}

# ---- a net-bench run on the tap ------------------------------------------------
# After a test=net-bench VM (background job PID, output OUT) said net_ready:
# for rx the host floods it (bench/udpflood, built as $tmp/udpflood, one
# flow per queue pair), exits are counted in a window from 0.5 s to
# SECS - 0.5 s, then the VM is waited for. Sets m_pps (tx: frames at the
# tap per second; rx: the guest's count; empty when the guest's net_bench
# check did not pass), m_exits and m_irqs (per frame the tap passed in the
# window, "-" when not counted) and m_rc (the VM's exit status).
net_measure() { # pid out dir size pairs secs
    local pid=$1 out=$2 dir=$3 size=$4 pairs=$5 secs=$6 before after ctr=rx_packets c0 c1 ev flood=
    before=$(tapctr rx_packets)
    if [ "$dir" = rx ]; then
        ctr=tx_packets
        sleep 0.2
        nsx "$tmp/udpflood" 10.0.0.2 9 $((size - 42)) $((secs + 1)) "$pairs" > /dev/null &
        flood=$!
    fi
    sleep 0.5
    c0=$(tapctr "$ctr")
    ev=$(count_exits "$(vmm_pid)" $((secs - 1)))
    c1=$(tapctr "$ctr")
    [ -n "$flood" ] && { wait "$flood" || true; }
    m_rc=0
    wait "$pid" || m_rc=$?
    after=$(tapctr rx_packets)
    if [ "$dir" = tx ]; then
        m_pps=$(grep -q '"check":"net_bench","ok":true' "$out" && echo $(((after - before) / secs)) || true)
    else
        m_pps=$(gk_value "$out" net_bench pps)
    fi
    read -r m_exits m_irqs < <(awk -v ev="$ev" -v n=$((c1 - c0)) 'BEGIN { split(ev, e, " ")
        if (e[1] == "-" || n <= 0) print "- -"; else printf "%.4f %.4f\n", e[1] / n, e[2] / n }')
}
