#!/bin/bash
# Control-plane benchmark against a real vmmd in temporary directories:
#  1. define 20 guest-kit domains, start them all at once through vmmctl,
#     time until every guest has reported its done line (serial to a file);
#  2. domain-info latency p50/p99 with 50 concurrent clients, each on its
#     own connection, through vmmd's JSON protocol and through libvirt's
#     (libvirt-python on libvirt-sock), in one run (bench/control-latency.py).
# Prints tables; asserts nothing.
#
#   bench/control.sh [BUILDDIR] [NVMS] [NCLIENTS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=$(cd "${1:-$top/build}" && pwd)
nvms=${2:-20}
nclients=${3:-50}
kit=$builddir/tests/guest/guestkit.elf
tmp=$(mktemp -d)
conf=$tmp/conf; run=$tmp/run
mkdir -p "$conf" "$run"
"$builddir/daemon/vmmd" --config-dir "$conf" --run-dir "$run" --worker "$builddir/src/vmm-worker" \
    > "$tmp/vmmd.log" 2>&1 &
daemon=$!
cleanup() {
    for i in $(seq "$nvms"); do "$builddir/client/vmmctl" -c "$run/vmmd.sock" destroy "bench$i" >/dev/null 2>&1 || true; done
    kill "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$run/vmmd.sock" ] && break; sleep 0.05; done
ctl() { "$builddir/client/vmmctl" -c "$run/vmmd.sock" "$@"; }

for i in $(seq "$nvms"); do
    cat > "$tmp/bench$i.xml" <<XML
<domain type='kvm'>
  <name>bench$i</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>$kit</kernel><cmdline>test=hello</cmdline></os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices><serial type='file'><source path='$tmp/bench$i.log'/><target port='0'/></serial></devices>
</domain>
XML
    ctl define "$tmp/bench$i.xml" >/dev/null
done

t0=$EPOCHREALTIME
starts=()
for i in $(seq "$nvms"); do ctl start "bench$i" >/dev/null & starts+=($!); done
wait "${starts[@]}" 2>/dev/null || true
t_started=$EPOCHREALTIME
deadline=$((SECONDS + 120))
while :; do
    done_n=$( (grep -l '"done": true' "$tmp"/bench*.log 2>/dev/null || true) | wc -l)
    [ "$done_n" -ge "$nvms" ] && break
    [ $SECONDS -ge $deadline ] && break
    sleep 0.01
done
t_all=$EPOCHREALTIME
echo "# Starting $nvms guest-kit VMs (1 vCPU, 64 MiB, test=hello) through vmmd at once; $(uname -r)"
printf '%-10s %22s %26s\n' VMs "all 'start' replies ms" "all guests reported ms"
awk -v n="$done_n" -v t0="$t0" -v ts="$t_started" -v ta="$t_all" \
    'BEGIN { printf "%-10s %22.0f %26.0f\n", n, (ts - t0) * 1000, (ta - t0) * 1000 }'

/usr/bin/python3 "$top/bench/control-latency.py" "$run/vmmd.sock" "$nclients" 200 bench1 \
    "$run/libvirt-sock"
