#!/bin/bash
# Runs each fuzz target under libFuzzer for a bounded time
# (VMM_FUZZ_SECONDS each, default 60) and reports its execution count as
# one TAP test: fuzz-virtqueue (virtqueue + virtio-blk requests) and
# fuzz-virtio-net (vnet headers, control queue, receive filter). Needs
# clang with libFuzzer (Debian: clang, libclang-rt-14-dev); skipped
# without it.
set -u
src=${VMM_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
secs=${VMM_FUZZ_SECONDS:-60}
targets=(
    "virtqueue|src/virtio/virtqueue.c src/virtio/virtio_blk_req.c|virtqueue + virtio-blk requests"
    "virtio-net|src/virtio/virtio_net_proto.c|vnet headers + control queue"
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
    IFS='|' read -r name srcs what <<< "$t"
    w="$work/$name"
    mkdir -p "$w"
    files=("$src/tests/fuzz/fuzz-$name.c")
    for f in $srcs; do files+=("$src/$f"); done
    if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
            -D_GNU_SOURCE -I"$src/src" $(pkg-config --cflags glib-2.0 libxml-2.0) \
            "${files[@]}" $(pkg-config --libs glib-2.0) -o "$w/fuzz" 2> "$w/build.log"; then
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
