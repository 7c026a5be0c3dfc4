#!/bin/bash
# Boot benchmark: time from exec to the guest kit's first serial line and
# to power-off, and the VMM's own memory (peak RSS minus the guest RAM the
# guest touched), for vmm-worker and, in the same run, QEMU (microvm, KVM)
# booting the very same guestkit.elf, in interleaved rounds. Private memory
# twice: alone, and beside an idle VM of the same VMM (what one more VM
# costs a host that runs several: code pages are shared then). Prints a
# table; asserts nothing.
#
#   bench/boot.sh [BUILDDIR] [RUNS]      (BUILDDIR defaults to ./build)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=$(cd "${1:-$top/build}" && pwd)
runs=${2:-10}
kit=$builddir/tests/guest/guestkit.elf
worker=$builddir/src/vmm-worker
vcpus=2
mem_mib=256
cmdline="test=hello"
[ -x "$worker" ] && [ -f "$kit" ] || { echo "build first: $worker, $kit" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/domain.xml" <<XML
<domain type='kvm'>
  <name>bench-boot</name>
  <memory unit='MiB'>$mem_mib</memory>
  <vcpu>$vcpus</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>$kit</kernel><cmdline>$cmdline</cmdline></os>
  <features><acpi/><apic/></features>
  <on_reboot>destroy</on_reboot>
  <devices><serial type='stdio'><target port='0'/></serial></devices>
</domain>
XML

# Samples /proc/PID/status and smaps_rollup until the process is gone;
# prints "peak_rss_kib max_shmem_kib max_private_kib" (guest RAM is a
# shared memfd in both VMMs). Private: pages no other process maps
# (Private_Clean + Private_Dirty) less the guest RAM among them (the memfd
# is mapped once, so its pages count as private: Pss_Shmem).
sample_mem() {
    local pid=$1 hwm=0 shm=0 priv=0 p line
    while [ -r "/proc/$pid/status" ]; do
        while read -r key val _; do
            case $key in
            VmHWM:) ((val > hwm)) && hwm=$val ;;
            RssShmem:) ((val > shm)) && shm=$val ;;
            esac
        done < "/proc/$pid/status" 2>/dev/null || true
        p=$(awk '/^Private_(Clean|Dirty):/ { p += $2 } /^Pss_Shmem:/ { s = $2 }
                 END { print p - s }' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
        ((${p:-0} > priv)) && priv=$p
        sleep 0.002
    done
    echo "$hwm $shm $priv"
}

# Runs one VMM command; prints "first_ms off_ms peak_kib guest_kib ok private_kib".
run_once() {
    local t0 first="" line ok=0
    t0=$EPOCHREALTIME
    coproc VM { exec "$@" 2>/dev/null; }
    local pid=$VM_PID
    sample_mem "$pid" > "$tmp/mem" &
    local sampler=$!
    while IFS= read -r line <&"${VM[0]}"; do
        [[ $line == *guestkit:* ]] || continue
        [ -n "$first" ] || first=$EPOCHREALTIME
        [[ $line == *'"done": true'*'"failed": 0'* ]] && ok=1
    done
    wait "$pid" || true
    local end=$EPOCHREALTIME
    wait "$sampler"
    read -r hwm shm priv < "$tmp/mem"
    [ -n "$first" ] || first=$end
    awk -v t0="$t0" -v f="$first" -v e="$end" -v h="$hwm" -v s="$shm" -v ok="$ok" -v p="$priv" \
        'BEGIN { printf "%.1f %.1f %d %d %d %d\n", (f - t0) * 1000, (e - t0) * 1000, h, s, ok, p }'
}

# Median of column N over the collected runs.
median() { sort -n -k"$1" "$2" | awk -v c="$1" '{ v[NR] = $c } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

sed 's|<cmdline>[^<]*</cmdline>|<cmdline>test=idle</cmdline>|; s|bench-boot|bench-idle|' \
    "$tmp/domain.xml" > "$tmp/idle.xml"
# cmd_of VMM domain|idle: the command line into CMD.
cmd_of() {
    if [ "$1" = qemu ]; then
        local append=$cmdline
        [ "$2" = idle ] && append=test=idle
        # -cpu qemu64: on PVM hosts "-cpu host" asks for MSRs the host refuses.
        CMD=(qemu-system-x86_64 -M microvm,pcie=on,rtc=on,memory-backend=mem
             -object memory-backend-memfd,id=mem,size=${mem_mib}M,share=on
             -enable-kvm -cpu qemu64 -m "$mem_mib" -smp "$vcpus" -nodefaults -nographic
             -no-reboot -serial stdio -kernel "$kit" -append "$append")
    else
        CMD=("$worker" --xml "$tmp/$2.xml")
    fi
}
have_qemu=0
command -v qemu-system-x86_64 >/dev/null && have_qemu=1
vmms="vmm-worker"
((have_qemu)) && vmms="vmm-worker qemu"

# Rounds: each VMM alone, then each beside an idle VM of its own kind.
for v in $vmms; do : > "$tmp/$v.runs"; : > "$tmp/$v.beside"; done
for _ in $(seq "$runs"); do
    for v in $vmms; do cmd_of "$v" domain; run_once "${CMD[@]}" >> "$tmp/$v.runs"; done
done
companions=()
at_exit_companions() { local p; for p in "${companions[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap at_exit_companions EXIT
for v in $vmms; do
    cmd_of "$v" idle
    "${CMD[@]}" > "$tmp/$v.idle.out" 2>/dev/null &
    companions+=($!)
done
# the companions are up when they say they idle (bounded: 60 s)
for _ in $(seq 600); do
    up=0
    for v in $vmms; do grep -q '"event":"idle"' "$tmp/$v.idle.out" && up=$((up + 1)); done
    [ "$up" = "$(wc -w <<< "$vmms")" ] && break
    sleep 0.1
done
for _ in $(seq "$runs"); do
    for v in $vmms; do cmd_of "$v" domain; run_once "${CMD[@]}" >> "$tmp/$v.beside"; done
done

# The floor under "own": any dynamically linked process maps libc and
# ld.so, and fault-around (64 KiB) makes most of libc's text resident.
# coreutils' sleep, sampled the same way, shows it for this host.
: > "$tmp/floor"
for _ in 1 2 3; do
    sleep 0.3 &
    sample_mem $! >> "$tmp/floor"
done
floor=$(awk '{ print $1 - $2, $3 }' "$tmp/floor" | sort -n | sed -n 2p)

echo "# Boot: guest kit '$cmdline', $vcpus vCPUs, $mem_mib MiB, median of $runs runs; $(uname -r)"
printf '%-12s %14s %14s %14s %16s %16s %16s %16s %8s\n' VMM "first line ms" "power-off ms" "peak RSS MiB" "guest RAM MiB" "VMM own MiB" "VMM private MiB" "private, 2nd VM" "ok runs"
row() {
    local name=$1 f off h s ok p
    f=$(median 1 "$tmp/$name.runs"); off=$(median 2 "$tmp/$name.runs")
    h=$(median 3 "$tmp/$name.runs"); s=$(median 4 "$tmp/$name.runs")
    p=$(median 6 "$tmp/$name.runs"); p2=$(median 6 "$tmp/$name.beside")
    ok=$(cat "$tmp/$name.runs" "$tmp/$name.beside" | awk '{ n += $5 } END { print n }')
    awk -v n="$name" -v f="$f" -v o="$off" -v h="$h" -v s="$s" -v ok="$ok" -v r="$((2 * runs))" \
        -v p="$p" -v p2="$p2" \
        'BEGIN { printf "%-12s %14.1f %14.1f %14.1f %16.1f %16.1f %16.2f %16.2f %5d/%d\n", n, f, o, h/1024, s/1024, (h-s)/1024, p/1024, p2/1024, ok, r }'
    echo "$f $off $h $s $p $p2" > "$tmp/$name.med"
}
row vmm-worker
if ((have_qemu)); then
    row qemu
    read -r vf vo vh vs vp vp2 < "$tmp/vmm-worker.med"
    read -r qf qo qh qs qp qp2 < "$tmp/qemu.med"
    awk -v vf="$vf" -v vo="$vo" -v vh="$vh" -v vs="$vs" -v qf="$qf" -v qo="$qo" -v qh="$qh" -v qs="$qs" \
        -v vp="$vp" -v qp="$qp" -v vp2="$vp2" -v qp2="$qp2" \
        'BEGIN { printf "%-12s %14.2f %14.2f %14.2f %16s %16.2f %16.2f %16.2f\n", "ratio v/q", vf/qf, vo/qo, vh/qh, "", (vh-vs)/(qh-qs), vp/qp, vp2/qp2 }'
else
    echo "qemu-system-x86_64 not installed: no side-by-side figures"
fi
read -r fo fp <<< "$floor"
awk -v o="$fo" -v p="$fp" 'BEGIN { printf "# floor: a do-nothing dynamically linked process (sleep) here: own %.1f MiB, private %.2f MiB\n", o/1024, p/1024 }'
