#!/bin/bash
# TAP: libvirt's own clients against vmmd's libvirt socket, with no libvirt
# daemon anywhere: real virsh (libvirt-clients) drives the guest kit of
# xml-examples/demo.xml through its lifecycle, libvirt-python
# (python3-libvirt) defines, starts, reads getAllDomainStats and events,
# and hostile packets leave the daemon serving other clients.
set -u
N=77
. "$(dirname "$0")/tap.sh"

need_vms
command -v virsh >/dev/null || skip_all "virsh is not installed (Debian package libvirt-clients)"
/usr/bin/python3 -c 'import libvirt' 2>/dev/null ||
    skip_all "libvirt-python is not installed (Debian package python3-libvirt)"

tmp=$(mktemp -d /tmp/libvirt-rpc-test.XXXXXX)
daemon_pid=
cleanup() {
    if [ -n "$daemon_pid" ]; then
        virsh -q -c "$uri" destroy demo >/dev/null 2>&1
        virsh -q -c "$uri" destroy pydemo >/dev/null 2>&1
        kill "$daemon_pid" 2>/dev/null
        wait "$daemon_pid" 2>/dev/null
    fi
    kill_workers "$tmp/run"
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/cfg" "$tmp/run"
demo_xml "$tmp/img" "$tmp/demo.xml"
# With a NIC for domifstat (user networking: passt, no privileges).
sed -i "s|</devices>|<interface type='user'><mac address='52:54:00:00:14:01'/><model type='virtio'/></interface></devices>|" \
    "$tmp/demo.xml"
# The same guest for libvirt-python, under another name and uuid.
demo_xml "$tmp/img" "$tmp/pydemo.xml" pydemo

sock=$tmp/run/libvirt-sock
uri="vmm+unix:///system?socket=$sock"
rouri="vmm+unix:///system?socket=$tmp/run/libvirt-sock-ro"
VMM_SCHEMA_DIR=$src/schemas "$vmmd" --config-dir "$tmp/cfg" --run-dir "$tmp/run" \
    --worker "$worker" >"$tmp/vmmd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { sed 's/^/# /' "$tmp/vmmd.log"; skip_all "vmmd did not start"; }

# v ARGS: virsh against vmmd; stdout in $out, stderr in $err, status in $rc
v() { out=$(timeout 60 virsh -c "$uri" "$@" 2>"$tmp/err"); rc=$?; err=$(cat "$tmp/err"); }
expect() {   # expect DESCRIPTION WANTED_RC EXTENDED_REGEX_ON_STDOUT
    if [ "$rc" -eq "$2" ] && grep -Eq -- "$3" <<<"$out"; then ok "$1"
    else
        notok "$1"
        printf '%s\n' "status $rc, stdout:" "$out" "stderr:" "$err" | sed 's/^/#   /'
    fi
}
expect_err() {   # expect_err DESCRIPTION EXTENDED_REGEX_ON_STDERR
    if [ "$rc" -ne 0 ] && grep -Eq -- "$2" <<<"$err"; then ok "$1"
    else
        notok "$1"
        printf '%s\n' "status $rc, stdout:" "$out" "stderr:" "$err" | sed 's/^/#   /'
    fi
}
# same DESCRIPTION COMMANDS: $out is, line for line, the last line virsh
# prints for COMMANDS (';'-separated, for domain "test") against libvirt's
# test driver, with "test" read as "demo": the same situation, the same text.
same() {
    local want
    want=$(virsh -c test:///default "$2" 2>&1 | sed '/^$/d' | tail -1 | sed "s/'test'/'demo'/")
    if [ "$rc" -eq 0 ] && [ "$(sed '/^$/d' <<<"$out")" = "$want" ]; then ok "$1"
    else notok "$1"; printf '#   %s\n' "vmmd ($rc): $out" "test driver: $want"; fi
}
# wait_state STATE: domstate reaches it within 30 s
wait_state() {
    for _ in $(seq 300); do
        [ "$(virsh -c "$uri" domstate demo 2>/dev/null | head -1)" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

v uri; expect "virsh uri: the URI it was given" 0 "^vmm\+unix:///system\?socket=$sock\$"
v version; expect "virsh version: the daemon's type and version" 0 "Running hypervisor: VMM [0-9]"
v nodeinfo; expect "virsh nodeinfo" 0 "^CPU\(s\): +[1-9]"
v define "$tmp/demo.xml"; expect "virsh define" 0 "Domain 'demo' defined"
v list --all; expect "virsh list --all: shut off" 0 "^ -  +demo +shut off"
# The same header as against libvirt's test driver.
want=$(virsh -c test:///default list --all | head -2)
[ "$(head -2 <<<"$out" | sed 's/ *$//')" = "$(sed 's/ *$//' <<<"$want" | sed 's/^\( Id *Name *State\).*/\1/' | head -1)
$(head -2 <<<"$out" | tail -1)" ] && ok "virsh list: the test driver's header" ||
    { [ "$(head -1 <<<"$out" | tr -s ' ')" = "$(head -1 <<<"$want" | tr -s ' ')" ] &&
      ok "virsh list: the test driver's header" || notok "virsh list: the test driver's header"; }
v autostart demo; expect "virsh autostart" 0 "marked as autostarted"
v dominfo demo; expect "virsh dominfo: autostart enabled" 0 "^Autostart: +enable"
v autostart --disable demo; expect "virsh autostart --disable" 0 "unmarked"
v start demo; expect "virsh start" 0 "Domain 'demo' started"
v start demo; expect_err "virsh start again: an error" "already active"
v list --all; expect "virsh list --all: running with an id" 0 "^ [1-9][0-9]* +demo +running"
v dominfo demo; expect "virsh dominfo" 0 "^State: +running"
# the Security lines, as the QEMU driver's DAC model prints them: the
# worker's uid:gid (vmmd.conf's user here: the domain has no <seclabel>)
expect "virsh dominfo: security model dac" 0 "^Security model: +dac$"
expect "virsh dominfo: security DOI 0" 0 "^Security DOI: +0$"
expect "virsh dominfo: the worker's label" 0 \
    "^Security label: +\+[0-9]+:\+[0-9]+ \(permissive\)$"
# The fields libvirt's test driver's dominfo prints, in its order, up to
# the security model (vmmd has none, as the qemu driver without one).
got=$(cut -d: -f1 <<<"$out" | sed '/^$/d' | head -12 | tr '\n' ,)
want=$(virsh -c test:///default dominfo test | cut -d: -f1 | head -12 | tr '\n' ,)
[ "$got" = "$want" ] && ok "virsh dominfo: the test driver's fields" ||
    notok "virsh dominfo: the test driver's fields ($got vs $want)"
v domstate --reason demo; expect "virsh domstate --reason: running (booted)" 0 "^running \(booted\)$"
v dumpxml demo; expect "virsh dumpxml" 0 "<name>demo</name>"
v dumpxml --inactive demo; expect "virsh dumpxml --inactive" 0 "<uuid>"
v domstats demo; expect "virsh domstats" 0 "block.0.name=vda"
# libvirt's group order: state, cpu, balloon, vcpu, net, block
order=$(grep -o '^ *[a-z]*\.' <<<"$out" | tr -d ' .' | uniq | tr '\n' ' ')
[ "$order" = "state cpu balloon vcpu net block " ] && ok "virsh domstats: libvirt's group order" ||
    notok "virsh domstats: libvirt's group order ($order)"
v domstats --state demo
if [ "$rc" -eq 0 ] && grep -q "state.state=1" <<<"$out" && ! grep -q "block\." <<<"$out"; then
    ok "virsh domstats --state: only the state group"
else notok "virsh domstats --state: only the state group"; printf '#   %s\n' "$out"; fi
v domblkstat demo vda; expect "virsh domblkstat" 0 "^vda rd_req [0-9]+"
got=$(head -5 <<<"$out" | cut -d' ' -f1,2)
want=$(virsh -c test:///default domblkstat test vda | head -5 | cut -d' ' -f1,2)
[ "$got" = "$want" ] && ok "virsh domblkstat: the test driver's first five fields" ||
    notok "virsh domblkstat: the test driver's first five fields ($got)"
v domblkstat demo vdz; expect_err "virsh domblkstat of a disk it lacks: an error" "invalid path"
v domifstat demo net0; expect "virsh domifstat NAME" 0 "^net0 rx_bytes [0-9]+"
got=$(cut -d' ' -f1,2 <<<"$out" | sed '/^$/d')
want=$(virsh -c test:///default domifstat test testnet0 | cut -d' ' -f1,2 | sed '/^$/d;s/testnet0/net0/')
[ "$got" = "$want" ] && ok "virsh domifstat: the test driver's fields" ||
    notok "virsh domifstat: the test driver's fields ($got)"
v domifstat demo 52:54:00:00:14:01; expect "virsh domifstat MAC" 0 "rx_packets [0-9]+"
v domifstat demo eth9; expect_err "virsh domifstat of an interface it lacks: an error" \
    "not a known interface"
v dommemstat demo; expect "virsh dommemstat: the test driver's format" 0 "^actual [0-9]+$"
v setmem demo 200M; expect "virsh setmem" 0 ""
v setmem demo 200M --config; expect_err "virsh setmem --config: unsupported flag" \
    "unsupported flags"
timeout 200 virsh -c "$uri" event --loop --all --timeout 180 >"$tmp/events" 2>&1 &
ev_pid=$!
sleep 1
v suspend demo; same "virsh suspend: as the test driver says it" "suspend test"
v domstate --reason demo; same "virsh domstate --reason after suspend: as the test driver" \
    "suspend test; domstate --reason test"
v resume demo; same "virsh resume: as the test driver says it" "suspend test; resume test"
v domstate demo; expect "virsh domstate: running" 0 "^running"
# running (unpaused): the reset that follows makes it running (booted)
v reboot demo; same "virsh reboot: as the test driver says it" "reboot test"
out=$(timeout 20 virsh -c "$rouri" destroy demo 2>&1); rc=$?; err=$out
expect_err "read-only socket: destroy is refused" "operation forbidden: .*read-only"
out=$(timeout 20 virsh -c "$rouri" domstate demo 2>&1); rc=$?
expect "read-only socket: domstate answers" 0 "^running"
v domcapabilities; expect_err "unimplemented call: libvirt's 'not supported' error" \
    "this function is not supported by the connection driver"
# one domain's events: those of another domain do not come
timeout 60 virsh -c "$uri" event --loop --domain demo --event lifecycle --timeout 30 \
    >"$tmp/events-demo" 2>&1 &
ev_dom_pid=$!
demo_xml "$tmp/img" "$tmp/other.xml" other
sleep 1
v destroy demo; same "virsh destroy: as the test driver says it" "destroy test"
v domstate --reason demo; same "virsh domstate --reason after destroy: as the test driver" \
    "destroy test; domstate --reason test"
v start demo; expect "virsh start after destroy" 0 "started"
wait_state running || true
relay_tap < <(timeout 120 /usr/bin/python3 "$src/tests/integration/libvirt-rpc.py" console "$uri" demo 2>&1)
v shutdown demo; expect "virsh shutdown: the power button" 0 "is being shutdown"
wait_state "shut off" && ok "the guest powers off after virsh shutdown" ||
    notok "the guest powers off after virsh shutdown"
v define "$tmp/other.xml"; v undefine other
v undefine demo; same "virsh undefine: as the test driver says it" "destroy test; undefine test"
for _ in $(seq 50); do grep -q "'demo': Undefined Removed" "$tmp/events" && break; sleep 0.1; done
for _ in $(seq 50); do grep -q "'demo': Undefined Removed" "$tmp/events-demo" && break; sleep 0.1; done
kill "$ev_pid" "$ev_dom_pid" 2>/dev/null; wait "$ev_pid" "$ev_dom_pid" 2>/dev/null
if grep -q "'other': Defined Added" "$tmp/events" && grep -q "'demo': Undefined Removed" \
       "$tmp/events-demo" && ! grep -q "'other'" "$tmp/events-demo"; then
    ok "virsh event --domain: that domain's events only"
else
    notok "virsh event --domain: that domain's events only"
    sed 's/^/#   all: /' "$tmp/events"; sed 's/^/#   demo: /' "$tmp/events-demo"
fi
if grep -q "event 'lifecycle' for domain 'demo': Stopped Destroyed" "$tmp/events" &&
   grep -q "event 'lifecycle' for domain 'demo': Started Booted" "$tmp/events" &&
   grep -q "event 'lifecycle' for domain 'demo': Stopped Shutdown" "$tmp/events"; then
    ok "virsh event --loop: stopped/destroyed, started/booted, stopped/shutdown"
else
    notok "virsh event --loop: stopped/destroyed, started/booted, stopped/shutdown"
    sed 's/^/#   /' "$tmp/events"
fi
# A reset is libvirt's reboot event, not a second start.
if grep -q "event 'reboot' for domain 'demo'" "$tmp/events" &&
   [ "$(grep -c "'demo': Started Booted" "$tmp/events")" -eq 1 ]; then
    ok "virsh event --loop: reboot, and no second started/booted"
else
    notok "virsh event --loop: reboot, and no second started/booted"
    sed 's/^/#   /' "$tmp/events"
fi
grep -q "event 'lifecycle' for domain 'demo': Undefined Removed" "$tmp/events" &&
    ok "virsh event --loop: undefined/removed" || notok "virsh event --loop: undefined/removed"
v list --all; expect "virsh list --all: empty" 0 "^-+$"

# libvirt-python and hostile packets (their own TAP lines)
py_out=$(timeout 300 /usr/bin/python3 "$src/tests/integration/libvirt-rpc.py" "$uri" "$sock" \
         "$tmp/pydemo.xml" 2>&1)
relay_tap <<<"$py_out"

daemon_test_end "$daemon_pid" "$tmp/vmmd.log"
