# Sourced by the vmmctl script tests, after they set N (their plan): the
# TAP helpers, and demo_daemon_start, which runs a real vmmd in a temporary
# directory with xml-examples/demo.xml (the guest kit on a 64 MiB disk)
# pointed at the build tree, not yet defined. It sets $vmmctl, $tmp,
# $daemon_pid and VMMD_SOCKET, and on exit kills what it started (and the
# PIDs a test adds to bg_pids).
set -u
. "$(dirname "$0")/tap.sh"
# check STATUS DESCRIPTION: ok when STATUS is 0
check() { if [ "$1" -eq 0 ]; then ok "$2"; else notok "$2"; fi; }

demo_daemon_start() {
    need_vms "$vmmctl"

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
        # the daemon's cgroup partition, empty once demo is destroyed
        for g in $(sed -n 's/^[0-9]*:\([^:]*\):\(.*\)$/\1:\2/p' /proc/self/cgroup); do
            for c in $(echo "${g%%:*}" | tr , ' '); do
                rmdir "/sys/fs/cgroup/${c:-unified}${g#*:}/vmmd-${tmp##*/}" 2>/dev/null
            done
        done
        rm -rf "$tmp"
    }
    trap cleanup EXIT
    mkdir -p "$tmp/cfg" "$tmp/run"
    # its own cgroup partition: scripts run in parallel all define "demo"
    printf '[cgroup]\npartition=vmmd-%s\n' "${tmp##*/}" > "$tmp/cfg/vmmd.conf"
    demo_xml "$tmp/img" "$tmp/demo.xml"

    VMM_SCHEMA_DIR=$src/schemas "$vmmd" --config-dir "$tmp/cfg" --run-dir "$tmp/run" \
        --worker "$worker" >"$tmp/vmmd.log" 2>&1 &
    daemon_pid=$!
    export VMMD_SOCKET=$tmp/run/vmmd.sock
    for _ in $(seq 100); do [ -S "$VMMD_SOCKET" ] && break; sleep 0.1; done
    [ -S "$VMMD_SOCKET" ] || { sed 's/^/# /' "$tmp/vmmd.log"; skip_all "vmmd did not start"; }
}
