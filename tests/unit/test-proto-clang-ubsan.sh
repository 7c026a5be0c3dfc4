#!/bin/bash
# The protocol framing tests under clang's UndefinedBehaviorSanitizer: GCC's
# UBSan does not report NULL + 0 ("applying zero offset to null pointer"),
# which proto_linebuf_rest() once computed on an empty buffer. Builds
# test-proto with the protocol sources and runs the framing cases. Skipped
# without clang.
set -u
src=${VMM_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VMM_TOP_BUILDDIR:-$src}
echo "1..1"
cc=$(command -v clang || true)
if [ -z "$cc" ]; then
    echo "ok 1 # SKIP clang is not installed"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! "$cc" -g -O1 -fsanitize=undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE \
        -I"$build" -I"$src/src" $(pkg-config --cflags glib-2.0 gio-2.0 json-c) \
        "$src/tests/unit/test-proto.c" "$src"/src/proto/{proto,server,client,sync}.c \
        $(pkg-config --libs glib-2.0 gio-2.0 json-c) -o "$work/test-proto" \
        2> "$work/build.log"; then
    sed 's/^/# /' "$work/build.log"
    echo "not ok 1 - test-proto does not build with clang"
    exit 0
fi
if "$work/test-proto" -p /proto/linebuf-rest-empty -p /proto/half-close-empty \
        -p /proto/half-close -p /proto/garbage -p /proto/long-line > "$work/run.log" 2>&1; then
    echo "ok 1 - protocol framing under clang UBSan"
else
    sed 's/^/# /' "$work/run.log" | tail -n 20
    echo "not ok 1 - protocol framing under clang UBSan"
fi
