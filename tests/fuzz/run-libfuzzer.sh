#!/bin/bash
# Runs each fuzz target of the table below under libFuzzer for a bounded
# time (VMM_FUZZ_SECONDS each, default 45) and reports its execution count
# as one TAP test. Needs clang with libFuzzer (Debian: clang,
# libclang-rt-14-dev); skipped without it.
set -u
src=${VMM_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
secs=${VMM_FUZZ_SECONDS:-45}
# Groups of sources many targets need, so that a new file in one of them
# reaches every target that links the group.
conf=$(cd "$src" && echo src/conf/*.c)
net=$(cd "$src" && echo src/net/tap.c src/net/ifctl.c src/net/passt.c src/net/nicio.c)
block=$(cd "$src" && echo src/block/block.c src/block/qcow2.c src/block/io_threads.c \
    src/block/io_native.c src/block/io_uring.c src/block/lock.c)
# name|sources besides tests/fuzz/fuzz-NAME.c|what it covers|pkg-config packages|link flags
targets=(
    "virtqueue|src/virtio/virtqueue.c src/virtio/virtio_blk_req.c|virtqueue + virtio-blk requests|glib-2.0"
    "virtio-net|src/virtio/virtio_net_proto.c|vnet headers + control queue|glib-2.0"
    "domain-xml|$conf src/vmm/cpu_features.c src/util/log.c|domain XML parse/format round trip|glib-2.0 libxml-2.0 json-c"
    "domain-desc|$conf src/vmm/cpu_features.c src/util/log.c|machine description vmm-worker reads: JSON reader, write/read round trip|glib-2.0 libxml-2.0 json-c"
    "network-xml|$conf src/vmm/cpu_features.c src/util/log.c|network XML parse/format round trip|glib-2.0 libxml-2.0 json-c"
    "proto|src/proto/proto.c src/proto/vhost_request.c|protocol framing, JSON requests, replies, greetings, the worker's vhost-user requests|gio-2.0 json-c"
    "devices|src/hw/bus.c src/hw/uart.c src/hw/i8042.c src/hw/rtc.c src/hw/pci.c src/hw/acpi_ged.c src/util/log.c|UART, i8042, RTC, PCI config/ECAM, ACPI GED registers|glib-2.0"
    "loaders|src/vmm/boot.c src/util/sandbox.c src/util/log.c|kernel loaders: ELF, PVH note, bzImage|glib-2.0 liburing libseccomp"
    "run-files|daemon/run_files.c|daemon run dir state + exit files|glib-2.0 json-c"
    "virtio-pci|$conf $block $net src/virtio/virtio_pci.c src/virtio/virtio_blk.c src/virtio/virtio_blk_req.c src/virtio/virtio_net.c src/virtio/virtio_net_proto.c src/vhost/vhost.c src/vhost/vhost_user.c src/vhost/vhost_user_msg.c src/vhost/vhost_kernel.c src/virtio/virtqueue.c src/vmm/irq.c src/hw/pci.c src/hw/bus.c src/vmm/cpu_features.c src/util/log.c src/virtio/virtio_iothread.c src/virtio/virtio_balloon.c src/virtio/virtio_rng.c src/virtio/virtio_console.c src/util/chardev.c src/util/sandbox.c|virtio-pci registers + PCI config, virtio-blk/net/balloon/rng behind|glib-2.0 liburing libxml-2.0 zlib libzstd libseccomp json-c|-Wl,--wrap=ioctl"
    "e1000|$net src/hw/e1000.c src/hw/pci.c src/hw/bus.c src/vmm/irq.c src/vmm/coalesced_mmio.c src/util/log.c|e1000 registers, EEPROM, PHY, tx/rx descriptors, TSO|glib-2.0"
    "ide|$conf $block src/hw/ide.c src/hw/ata.c src/hw/atapi.c src/hw/pci.c src/hw/bus.c src/vmm/irq.c src/vmm/cpu_features.c src/util/log.c src/util/sandbox.c|PIIX3 IDE ports, bus master, PRD tables, ATA + ATAPI commands, media change|glib-2.0 liburing libxml-2.0 zlib libzstd libseccomp json-c"
    "ahci|$conf $block src/hw/ahci.c src/hw/ata.c src/hw/atapi.c src/hw/pci.c src/hw/bus.c src/vmm/irq.c src/vmm/cpu_features.c src/util/log.c src/util/sandbox.c|AHCI registers, command lists, PRDTs, FISes, NCQ, ATA + ATAPI commands|glib-2.0 liburing libxml-2.0 zlib libzstd libseccomp json-c"
    "rtl8139|$net src/hw/rtl8139.c src/hw/pci.c src/hw/bus.c src/vmm/irq.c src/util/log.c|rtl8139 registers, 93C46, classic ring buffer + tx slots, C+ descriptor rings, offloads|glib-2.0"
    "vhost-user|src/vhost/vhost_user_msg.c|vhost-user replies and back-end channel requests from a back end|glib-2.0"
    "libvirt-msg|daemon/libvirt_msg.c build:src/rpc/vmm_remote_xdr.c|libvirt RPC packets: framing, header, XDR arguments|gio-2.0 libtirpc"
    "qcow2|src/block/qcow2.c src/block/lock.c src/util/log.c src/util/sandbox.c|qcow2 header, L1/L2/refcount tables, compressed clusters, writes|glib-2.0 zlib libzstd libseccomp"
)
echo "1..${#targets[@]}"
cc=$(command -v clang || true)
if [ -z "$cc" ]; then
    for i in "${!targets[@]}"; do echo "ok $((i + 1)) # SKIP clang (libFuzzer) not installed"; done
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
for t in "${targets[@]}"; do
    n=$((n + 1))
    IFS='|' read -r name srcs what pkgs ldflags <<< "$t"
    w="$work/$name"
    mkdir -p "$w"
    files=("$src/tests/fuzz/fuzz-$name.c")
    # build:PATH is generated in the build tree (rpcgen's XDR code)
    for f in $srcs; do
        case "$f" in
        build:*) files+=("${VMM_TOP_BUILDDIR:-$src}/${f#build:}") ;;
        *) files+=("$src/$f") ;;
        esac
    done
    if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
            -D_GNU_SOURCE -I"$src/src" -I"$src" -I"${VMM_TOP_BUILDDIR:-$src}" \
            -I"${VMM_TOP_BUILDDIR:-$src}/src" \
            $(pkg-config --cflags $pkgs libxml-2.0) \
            "${files[@]}" $(pkg-config --libs $pkgs) $ldflags -o "$w/fuzz" 2> "$w/build.log"; then
        if grep -q "libclang_rt.fuzzer\|fsanitize=fuzzer" "$w/build.log"; then
            echo "ok $n # SKIP libFuzzer runtime missing (libclang-rt-14-dev)"
            continue
        fi
        sed 's/^/# /' "$w/build.log"
        echo "not ok $n - fuzz-$name does not build"
        continue
    fi
    cp -r "$src/tests/fuzz/corpus-$name" "$w/corpus"
    "$w/fuzz" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$w/" "$w/corpus" > "$w/run.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$w/run.log")
    cov=$(grep -o 'cov: [0-9]*' "$w/run.log" | tail -1)
    if [ $rc -eq 0 ]; then
        echo "ok $n - fuzz-$name ($what): ${execs:-?} execs in ${secs} s, ${cov:-cov ?}"
    else
        tail -n 40 "$w/run.log" | sed 's/^/# /'
        for a in "$w"/crash-* "$w"/leak-* "$w"/timeout-*; do
            [ -f "$a" ] && echo "# artifact: $(basename "$a") $(od -An -tx1 "$a" | head -c 300 | tr -d '\n')"
        done
        echo "not ok $n - fuzz-$name found a failure after ${execs:-?} execs"
    fi
done
