#!/bin/bash
# Runs the virtqueue + virtio-blk request fuzz target under libFuzzer for a
# bounded time (VMM_FUZZ_SECONDS, default 60) and reports the execution
# count as one TAP test. Needs clang with libFuzzer (Debian: clang,
# libclang-rt-14-dev); skipped without it.
set -u
src=${VMM_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
secs=${VMM_FUZZ_SECONDS:-60}
echo "1..1"
cc=$(command -v clang || true)
if [ -z "$cc" ]; then
    echo "ok 1 # SKIP clang (libFuzzer) not installed"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -D_GNU_SOURCE -I"$src/src" $(pkg-config --cflags glib-2.0 libxml-2.0) \
        "$src/tests/fuzz/fuzz-virtqueue.c" "$src/src/virtio/virtqueue.c" \
        "$src/src/virtio/virtio_blk_req.c" $(pkg-config --libs glib-2.0) \
        -o "$work/fuzz" 2> "$work/build.log"; then
    if grep -q "libclang_rt.fuzzer\|fsanitize=fuzzer" "$work/build.log"; then
        echo "ok 1 # SKIP libFuzzer runtime missing (libclang-rt-14-dev)"
        exit 0
    fi
    sed 's/^/# /' "$work/build.log"
    echo "not ok 1 - fuzz target does not build"
    exit 0
fi
cp -r "$src/tests/fuzz/corpus-virtqueue" "$work/corpus"
"$work/fuzz" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus" > "$work/run.log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/run.log")
cov=$(grep -o 'cov: [0-9]*' "$work/run.log" | tail -1)
if [ $rc -eq 0 ]; then
    echo "ok 1 - fuzz-virtqueue (virtqueue + virtio-blk requests): ${execs:-?} execs in ${secs} s, ${cov:-cov ?}"
else
    tail -n 40 "$work/run.log" | sed 's/^/# /'
    for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
        [ -f "$a" ] && echo "# artifact: $(basename "$a") $(od -An -tx1 "$a" | head -c 300 | tr -d '\n')"
    done
    echo "not ok 1 - fuzz-virtqueue found a failure after ${execs:-?} execs"
fi
