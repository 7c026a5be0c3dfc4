#!/bin/bash
# make-initramfs.sh OUT [INIT]: an uncompressed newc cpio with Debian's
# busybox-static and the test guest's /init (default: init next to this
# script). Uncompressed because on hosts where guest CPL0 code is emulated
# (PVM) the kernel's gzip unpacker takes minutes. Needs root for /dev/console.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
init=${2:-$here/init}
busybox=${VMMD_BUSYBOX:-/bin/busybox}
# The initramfs has no libraries: busybox must have no ELF interpreter.
[ -x "$busybox" ] && ! readelf -l "$busybox" 2>/dev/null | grep -q 'Requesting program interpreter' ||
    { echo "make-initramfs: $busybox is not a static busybox (apt-get install busybox-static)" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc}
cp "$busybox" "$root/bin/busybox"
cp "$init" "$root/init"
chmod 755 "$root/init" "$root/bin/busybox"
# The kernel opens /dev/console before /init mounts devtmpfs.
mknod -m 600 "$root/dev/console" c 5 1
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$out"
