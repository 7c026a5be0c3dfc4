# Sourced by the vmmctl script tests, after they set N (their plan): the
# TAP helpers, and demo_daemon_start, which runs a real vmmd in a temporary
# directory with xml-examples/demo.xml (the guest kit on a 64 MiB disk)
# pointed at the build tree, not yet defined. It sets $vmmctl, $tmp,
# $daemon_pid and VMMD_SOCKET, and on exit kills what it started (and the
# PIDs a test adds to bg_pids).
set -u
src=${VMM_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VMM_TOP_BUILDDIR:-$src}
n=0
echo "1..$N"
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip_all() {
    while ((n < N)); do n=$((n + 1)); echo "ok $n # SKIP $*"; done
    exit 0
}
# check STATUS DESCRIPTION: ok when STATUS is 0
check() { if [ "$1" -eq 0 ]; then ok "$2"; else notok "$2"; fi; }

vmmctl=$build/client/vmmctl
vmmd=$build/daemon/vmmd
worker=$build/src/vmm-worker
kit=$build/tests/guest/guestkit.elf

demo_daemon_start() {
    for f in "$vmmctl" "$vmmd" "$worker"; do [ -x "$f" ] || skip_all "$f is not built"; done
    [ -f "$kit" ] || skip_all "$kit is not built"
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip_all "/dev/kvm is not usable"

    # A short path: the worker's control socket lives in the run directory.
    tmp=$(mktemp -d /tmp/vmmctl-test.XXXXXX)
    daemon_pid=
    bg_pids=()
    cleanup() {
        for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
        if [ -n "$daemon_pid" ]; then
            # The daemon leaves workers running by design; stop ours first.
            "$vmmctl" -q destroy demo >/dev/null 2>&1
            kill "$daemon_pid" 2>/dev/null
            wait "$daemon_pid" 2>/dev/null
        fi
        rm -rf "$tmp"
    }
    trap cleanup EXIT
    mkdir -p "$tmp/cfg" "$tmp/run" "$tmp/img"
    truncate -s 64M "$tmp/img/demo.img"
    sed -e "s|/usr/local/share/vmmd/guestkit.elf|$kit|" \
        -e "s|/var/lib/vmmd/images/|$tmp/img/|" "$src/xml-examples/demo.xml" >"$tmp/demo.xml"

    VMM_SCHEMA_DIR=$src/schemas "$vmmd" --config-dir "$tmp/cfg" --run-dir "$tmp/run" \
        --worker "$worker" >"$tmp/vmmd.log" 2>&1 &
    daemon_pid=$!
    export VMMD_SOCKET=$tmp/run/vmmd.sock
    for _ in $(seq 100); do [ -S "$VMMD_SOCKET" ] && break; sleep 0.1; done
    [ -S "$VMMD_SOCKET" ] || { sed 's/^/# /' "$tmp/vmmd.log"; skip_all "vmmd did not start"; }
}
