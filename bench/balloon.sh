#!/bin/bash
# Balloon benchmark: time and RSS curve for inflating and deflating 1 GiB
# (BALLOON_MIB) of a guest that touched 1100 MiB of its 1280, vmm-worker
# against QEMU's virtio-balloon-pci (microvm, memfd RAM shared like the
# worker's, -accel kvm if it works here, else tcg, said in the header), on
# the same guest kit and its test=balloon driver, in the same run: ROUNDS
# interleaved rounds (default 3), medians with [min-max]. Inflate time is
# from the target command (set-memory / QMP balloon) to the guest's report
# that all pages are in the balloon; deflate the same back to none (the
# guest writes every page it takes back, so this includes refaulting 1 GiB).
# RSS is the VMM process's VmRSS (guest RAM memfd included), sampled every
# 20 ms; the curves go to OUT/balloon-rss.png (gnuplot). Asserts nothing.
#
#   bench/balloon.sh [BUILDDIR] [OUT]    (BUILDDIR defaults to ./build,
#                                         OUT to BUILDDIR/bench-balloon)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=$(cd "${1:-$top/build}" && pwd)
out=${2:-$builddir/bench-balloon}
rounds=${ROUNDS:-3}
export BUILDDIR=$builddir MEM_MIB=${MEM_MIB:-1280} BALLOON_MIB=${BALLOON_MIB:-1024} \
    TOUCH_MIB=${TOUCH_MIB:-1100}
kit=$builddir/tests/guest/guestkit.elf
[ -x "$builddir/src/vmm-worker" ] && [ -f "$kit" ] || { echo "build first: $builddir" >&2; exit 1; }
[ -e /dev/kvm ] || { echo "balloon.sh: /dev/kvm is missing" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/*.rss "$out"/*.out "$out"/*.stderr "$out"/rounds

vmms=(vmmd)
qemu_note="qemu-system-x86_64 not installed: no side-by-side figures"
if command -v qemu-system-x86_64 >/dev/null; then
    vmms+=(qemu)
    # Does QEMU's KVM accelerator run the kit here? (PVM hosts: it does.)
    if timeout 60 qemu-system-x86_64 -accel kvm -cpu qemu64 -M microvm,pcie=on,rtc=on -m 128 \
            -nodefaults -display none -no-reboot -kernel "$kit" -append test=hello \
            >/dev/null 2>&1; then
        export QEMU_ACCEL=kvm
        qemu_note="qemu: -accel kvm"
    else
        export QEMU_ACCEL=tcg
        qemu_note="qemu: -accel kvm does not run the guest kit here, so tcg (not comparable)"
    fi
fi

for r in $(seq "$rounds"); do
    for v in "${vmms[@]}"; do
        nice python3 "$top/bench/balloon.py" "$v" "$out" "$r" | tee -a "$out/rounds" >&2
    done
done

# median [min-max] of column $2 for VMM $1 over the rounds that passed
stat() {
    awk -v v="$1" -v c="$2" '$1 == v && $7 == "ok" { print $c }' "$out/rounds" | sort -n |
        awk '{ a[NR] = $1 } END { if (!NR) { print "-"; exit }
               m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
               printf "%d [%d-%d]", m, a[1], a[NR] }'
}
echo "# virtio-balloon: inflate and deflate ${BALLOON_MIB} MiB of a ${MEM_MIB} MiB guest that touched ${TOUCH_MIB} MiB;"
echo "# guest kit test=balloon step_mib=64, median [min-max] of $rounds interleaved rounds; $qemu_note; $(uname -r)"
printf '%-5s %20s %20s %18s %18s %18s %8s\n' VMM "inflate ms" "deflate ms" "RSS before MiB" \
    "RSS inflated MiB" "RSS deflated MiB" "ok runs"
for v in "${vmms[@]}"; do
    printf '%-5s %20s %20s %18s %18s %18s %8s\n' "$v" "$(stat "$v" 2)" "$(stat "$v" 3)" \
        "$(stat "$v" 4)" "$(stat "$v" 5)" "$(stat "$v" 6)" \
        "$(awk -v v="$v" '$1 == v && $7 == "ok"' "$out/rounds" | wc -l)/$rounds"
done

if command -v gnuplot >/dev/null; then
    plots=()
    for v in "${vmms[@]}"; do
        color=$([ "$v" = vmmd ] && echo "#1f77b4" || echo "#d62728")
        for f in "$out/$v"-*.rss; do
            [ -s "$f" ] || continue
            t=$([ "$f" = "$(ls "$out/$v"-*.rss | head -1)" ] && echo "title '$v'" || echo notitle)
            plots+=("'$f' using 1:2 with lines lw 2 lc rgb '$color' $t")
        done
    done
    if ((${#plots[@]})); then
        (IFS=,; gnuplot <<GP
set terminal pngcairo size 1000,560
set output '$out/balloon-rss.png'
set title "VMM RSS while the balloon inflates ${BALLOON_MIB} MiB, then deflates (one line per round)"
set xlabel 'seconds since the inflate command'
set ylabel 'VmRSS (MiB)'
set grid
set key top right
plot ${plots[*]}
GP
        ) && echo "RSS curve: $out/balloon-rss.png"
    fi
else
    echo "gnuplot not installed: no RSS curve (Debian: gnuplot-nox)"
fi
