#!/bin/bash
# TAP: every domain XML in xml-examples/
#   - passes libvirt's virt-xml-validate (skipped if it is not installed),
#   - passes vmmd's own schema, schemas/domain.rng (xmllint),
#   - boots as it is under the build tree's vmm-worker: the copy run here
#     only points the kernel at the build's guest kit, the images at a
#     temporary directory, the pty console at a file, and drops then=idle
#     (which would wait for a power button); the guest kit must report
#     its done line with failed 0.
set -u
src=${VMM_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VMM_TOP_BUILDDIR:-$src}
worker=$build/src/vmm-worker
kit=$build/tests/guest/guestkit.elf
examples=("$src"/xml-examples/*.xml)
n=0
echo "1..$(( ${#examples[@]} * 3 ))"
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }

# O_DIRECT (cache none/directsync) needs a real file system, not tmpfs.
tmp=$(mktemp -d -p "$build" examples.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

can_boot=""
[ -x "$worker" ] || can_boot="$worker is not built"
[ -f "$kit" ] || can_boot="$kit is not built"
[ -r /dev/kvm ] && [ -w /dev/kvm ] || can_boot=${can_boot:-"/dev/kvm is not usable"}

for ex in "${examples[@]}"; do
    name=$(basename "$ex" .xml)
    if command -v virt-xml-validate >/dev/null 2>&1; then
        if out=$(virt-xml-validate "$ex" domain 2>&1); then ok "$name.xml: virt-xml-validate"
        else notok "$name.xml: virt-xml-validate"; echo "$out" | sed 's/^/# /'; fi
    else
        skip "$name.xml: virt-xml-validate is not installed"
    fi
    if command -v xmllint >/dev/null 2>&1; then
        if out=$(xmllint --noout --nonet --relaxng "$src/schemas/domain.rng" "$ex" 2>&1); then
            ok "$name.xml: vmmd's schemas/domain.rng"
        else
            notok "$name.xml: vmmd's schemas/domain.rng"; echo "$out" | sed 's/^/# /'
        fi
    else
        skip "$name.xml: xmllint is not installed"
    fi
    if [ -n "$can_boot" ]; then
        skip "$name.xml boots the guest kit: $can_boot"
        continue
    fi
    d=$tmp/$name
    mkdir -p "$d"
    for img in $(sed -n "s|.*<source file='/var/lib/vmmd/images/\([^']*\)'.*|\1|p" "$ex"); do
        truncate -s 64M "$d/$img"
        # a CD-ROM image holds the guest kit's CD pattern (little-endian
        # words counting up from 0xcd000000), which its ATAPI reads check
        case $img in *.iso) python3 -c 'import sys; from array import array
array("I", range(0xcd000000, 0xcd000000 + (64 << 20) // 4)).tofile(open(sys.argv[1], "wb"))' "$d/$img";;
        esac
    done
    sed -e "s|/usr/local/share/vmmd/guestkit.elf|$kit|" \
        -e "s|/var/lib/vmmd/images/|$d/|" \
        -e "s|<serial type='pty'>|<serial type='file'><source path='$d/console.out'/>|" \
        -e "s|<console type='pty'>|<console type='file'><source path='$d/console.out'/>|" \
        -e "s| then=idle||" "$ex" >"$d/domain.xml"
    timeout -k 5 120 "$worker" --xml "$d/domain.xml" >"$d/stdout" 2>"$d/stderr"
    rc=$?
    done_line=$(grep -a '"done": *true' "$d/console.out" 2>/dev/null | tail -1)
    if [ $rc -eq 0 ] && grep -q '"failed": *0' <<<"$done_line" &&
       ! grep -q '"passed": *0[,}]' <<<"$done_line"; then
        ok "$name.xml boots the guest kit: ${done_line#guestkit: }"
    else
        notok "$name.xml boots the guest kit (exit $rc)"
        grep -a '"ok": *false\|fatal' "$d/console.out" 2>/dev/null | head -5 | sed 's/^/# /'
        tail -5 "$d/stderr" | sed 's/^/# /'
    fi
done
