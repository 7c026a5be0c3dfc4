#!/bin/bash
# Builds vmmd's Linux test kernel (an ELF vmlinux) from Debian's
# linux-source-6.1: tinyconfig + vmmd.config + patches/*.patch. The result
# is cached under $VMMD_LINUX_CACHE (default /var/cache/vmmd) in
# linux-<hash>/vmlinux, the hash covering the source tarball's version, the
# fragment and the patches, so a second run costs nothing.
# Prints the vmlinux path on stdout; progress goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tarball=${VMMD_LINUX_SOURCE:-/usr/src/linux-source-6.1.tar.xz}
cache=${VMMD_LINUX_CACHE:-/var/cache/vmmd}
jobs=${VMMD_LINUX_JOBS:-2}

[ -r "$tarball" ] || { echo "build-kernel: $tarball missing (apt-get install linux-source-6.1)" >&2; exit 1; }
version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || stat -c %s-%Y "$tarball")
key=$( { echo "$version"; cat "$here/vmmd.config"; cat "$here"/patches/*.patch; } | sha256sum | cut -c1-16)
out=$cache/linux-$key
if [ -f "$out/vmlinux" ]; then
    echo "$out/vmlinux"
    exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-kernel: building $out (source $version, $jobs jobs)" >&2
tar -xf "$tarball" -C "$work"
src=$work/linux-source-6.1
for p in "$here"/patches/*.patch; do
    patch -s -p1 -d "$src" <"$p" || { echo "build-kernel: $p does not apply" >&2; exit 1; }
done
make -s -C "$src" tinyconfig >/dev/null
(cd "$src" && KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m .config "$here/vmmd.config" >/dev/null)
make -s -C "$src" olddefconfig >/dev/null
# Every line of the fragment must have survived olddefconfig: a symbol
# that a dependency silently dropped would make a different kernel.
missing=0
while read -r line; do
    case "$line" in
    CONFIG_*=*) grep -qx "$line" "$src/.config" || { echo "build-kernel: $line not in the final .config" >&2; missing=1; } ;;
    "# CONFIG_"*" is not set") sym=${line#\# }; sym=${sym%% *}
        ! grep -q "^$sym=" "$src/.config" || { echo "build-kernel: $sym set in the final .config" >&2; missing=1; } ;;
    esac
done <"$here/vmmd.config"
((missing == 0)) || exit 1
nice make -s -C "$src" -j"$jobs" vmlinux >&2
mkdir -p "$out.tmp"
cp "$src/vmlinux" "$src/.config" "$out.tmp/"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out/vmlinux"
