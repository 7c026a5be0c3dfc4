#!/bin/bash
# TAP: vmmctl against a real vmmd in temporary directories, running the
# guest kit from xml-examples/demo.xml: virsh's output formats, exit
# statuses, the console, statistics, the read-only socket, events, and a
# shutdown through the ACPI power button.
N=36
. "$(dirname "$0")/demo-daemon.sh"

demo_daemon_start

# run NAME: runs vmmctl with the rest of the arguments, keeps stdout in
# $out, stderr in $err, the status in $rc
run() { out=$("$vmmctl" "$@" 2>"$tmp/err"); rc=$?; err=$(cat "$tmp/err"); }
expect() {   # expect DESCRIPTION WANTED_RC GREP_PATTERN_ON_STDOUT
    if [ "$rc" -eq "$2" ] && grep -Eq -- "$3" <<<"$out"; then ok "$1"
    else notok "$1"; { echo "rc=$rc"; echo "$out"; echo "$err"; } | sed 's/^/# /'; fi
}
expect_err() {   # expect_err DESCRIPTION GREP_PATTERN_ON_STDERR: status 1
    if [ "$rc" -eq 1 ] && grep -Eq -- "$2" <<<"$err"; then ok "$1"
    else notok "$1"; { echo "rc=$rc"; echo "$out"; echo "$err"; } | sed 's/^/# /'; fi
}

run version
expect "version: client and daemon" 0 "^Daemon version: vmmd [0-9]"
run define "$tmp/demo.xml"
expect "define: virsh's message" 0 "^Domain 'demo' defined from $tmp/demo.xml\$"
run list --all
[ "$rc" -eq 0 ] && [ "$(printf '%s\n' "$out" | sed -n 1,2p)" = " Id   Name   State
-----------------------" ]; check $? "list --all: virsh's header and dashes"
[ "$(printf '%s\n' "$out" | sed -n 3p)" = " -    demo   shut off" ]; check $? "list --all: the row, byte for byte"

"$vmmctl" event --domain demo --all --loop --timeout 60 >"$tmp/events" 2>&1 &
bg_pids+=($!)
sleep 0.3
run start demo
expect "start: virsh's message" 0 "^Domain 'demo' started\$"
# The console from now until the worker exits (the pty closes then).
"$vmmctl" console demo </dev/null >"$tmp/console" 2>&1 &
console_pid=$!
bg_pids+=($console_pid)
for _ in $(seq 300); do grep -q '"event":"idle"' "$tmp/console" && break; sleep 0.1; done
grep -q '"event":"idle"' "$tmp/console"; check $? "console: the guest kit's report up to its idle line"
head -2 "$tmp/console" | grep -q "^Escape character is ^\] (Ctrl + \])"; check $? "console: virsh's banner"
! grep -q '"ok":false' "$tmp/console" && grep -q '"check":"blk_get_id","ok":true' "$tmp/console"
check $? "console: every virtio-blk check passed"

run list
expect "list: the running domain with its id" 0 "^ 1    demo   running\$"
run dominfo demo
expect "dominfo: virsh's layout" 0 "^State:          running\$"
grep -q "^CPU(s):         2\$" <<<"$out" && grep -q "^Max memory:     262144 KiB\$" <<<"$out"
check $? "dominfo: CPUs and memory"
run domstate demo --reason
expect "domstate --reason" 0 "^running \(booted\)\$"
run domstats demo
expect "domstats: virsh's format" 0 "^Domain: 'demo'\$"
grep -q "^  block.0.name=vda\$" <<<"$out" && grep -Eq "^  block.0.wr.reqs=[1-9]" <<<"$out"
check $? "domstats: block statistics of vda"
grep -Eq "^  block.0.capacity=[1-9]" <<<"$out" && grep -Eq "^  block.0.physical=[1-9]" <<<"$out" &&
    grep -Eq "^  block.0.allocation=[0-9]" <<<"$out"
check $? "domstats: block.0.capacity, allocation and physical"
run domblkstat demo vda
expect "domblkstat: virsh's lines" 0 "^vda wr_req [1-9][0-9]*\$"
run dumpxml demo
expect "dumpxml: libvirt's default virtio balloon" 0 "^    <memballoon model=.virtio.>\$"
run setmem demo 2G
expect_err "setmem above <memory>: refused in the QEMU driver's words" "cannot set memory higher than max memory"
run setmem demo 1M
expect_err "setmem below the floor: refused" "below vmmd's floor of 65536 KiB"
run setmem demo 200M
expect "setmem: a target within the limits, nothing printed" 0 "^\$"
run dommemstat demo --period 1
expect "dommemstat --period: sets it, prints nothing" 0 "^\$"
run dommemstat demo
expect "dommemstat: virsh's names, rss from the worker" 0 "^rss [1-9][0-9]*\$"
grep -q "^actual 262144\$" <<<"$out"; check $? "dommemstat: actual is what the guest confirmed (the kit's idle test has no balloon driver)"
run domifstat demo vnet0
expect_err "domifstat: no interface" "^error: invalid argument: 'vnet0' is not a known interface\$"
run --json dominfo demo
expect "--json dominfo" 0 '"state": "running"'
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; json.load(sys.stdin)' <<<"$out"; check $? "--json output is JSON"
else
    ok "--json output is JSON # SKIP python3 is not installed"
fi
run -r list
expect "-r: queries on the read-only socket" 0 "demo   running"
run -r destroy demo
expect_err "-r: changes refused" "^error: Failed to destroy domain 'demo'"
run start demo
expect_err "start of a running domain: virsh's own check" "^error: Domain is already active\$"
run dominfo nope
expect_err "unknown domain" "^error: failed to get domain 'nope'"
run frobnicate
[ "$rc" -eq 1 ] && [ -z "$out" ] && grep -q "^error: unknown command: 'frobnicate'" <<<"$err"
check $? "unknown verb: exit 1, virsh's message, no output"

run shutdown demo
expect "shutdown: virsh's message" 0 "^Domain 'demo' is being shutdown\$"
for _ in $(seq 200); do
    [ "$("$vmmctl" -q domstate demo 2>/dev/null)" = "shut off" ] && break; sleep 0.1
done
run domstate demo --reason
expect "shutdown: the guest powered off" 0 "^shut off \(shutdown\)\$"
for _ in $(seq 50); do kill -0 "$console_pid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$console_pid" 2>/dev/null && grep -q '"event":"powerbutton"' "$tmp/console" &&
    grep -Eq '"done": *true, *"passed": *[1-9][0-9]*, *"failed": *0' "$tmp/console"
check $? "console: ends with the guest's done line (failed 0) when the VM stops"
grep -q "^event 'lifecycle' for domain 'demo': Started Booted\$" "$tmp/events" &&
    grep -q "^event 'lifecycle' for domain 'demo': Stopped Shutdown\$" "$tmp/events"
check $? "event: lifecycle events"
run undefine demo
expect "undefine: virsh's message" 0 "^Domain 'demo' has been undefined\$"
