#!/bin/bash
# TAP: vmmd's virtual networks through libvirt's remote protocol, with no
# libvirt daemon: real virsh's net-* verbs and domifaddr against vmmd's
# libvirt socket, each output compared with vmmctl's (the daemon's JSON
# protocol) and, where the situation is the same, with what virsh prints
# against libvirt's test driver; a guest-kit VM gets its lease from vmmd's
# dnsmasq and shows it in net-dhcp-leases and domifaddr; virsh net-event
# and libvirt-python (libvirt-rpc.py network) see the lifecycle events;
# the read-only socket refuses every change; hostile packets for the
# network procedures get error replies. Everything runs in a network
# namespace of its own (the bridge, dnsmasq and the nftables table never
# touch the host's).
set -u
if [ -z "${VMM_LIBVIRT_NET_NS:-}" ] && [ "$(id -u)" -eq 0 ] &&
   unshare --net true 2>/dev/null; then
    VMM_LIBVIRT_NET_NS=1 exec unshare --net "$BASH" "$0" "$@"
fi
N=103
. "$(dirname "$0")/tap.sh"

[ -n "${VMM_LIBVIRT_NET_NS:-}" ] ||
    skip_all "cannot make a network namespace (unshare --net needs root)"
need_vms "$vmmctl"
for c in virsh nft dnsmasq ip; do
    command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] ||
        skip_all "$c is not installed (Debian: libvirt-clients, nftables, dnsmasq-base, iproute2)"
done
/usr/bin/python3 -c 'import libvirt' 2>/dev/null ||
    skip_all "libvirt-python is not installed (Debian package python3-libvirt)"
ip link set lo up

tmp=$(mktemp -d /tmp/libvirt-net-test.XXXXXX)
daemon_pid=
ev_pid=
ev_lab_pid=
cleanup() {
    [ -n "$ev_pid" ] && kill "$ev_pid" $ev_lab_pid 2>/dev/null
    if [ -n "$daemon_pid" ]; then
        "$vmmctl" -c "$sock_json" destroy vm42 >/dev/null 2>&1
        "$vmmctl" -c "$sock_json" net-destroy lab >/dev/null 2>&1
        kill "$daemon_pid" 2>/dev/null
        wait "$daemon_pid" 2>/dev/null
    fi
    kill_workers "$tmp/run"
    rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/cfg" "$tmp/run"
sock=$tmp/run/libvirt-sock
sock_json=$tmp/run/vmmd.sock
uri="vmm+unix:///system?socket=$sock"
rouri="vmm+unix:///system?socket=$tmp/run/libvirt-sock-ro"
VMM_SCHEMA_DIR=$src/schemas "$vmmd" --config-dir "$tmp/cfg" --run-dir "$tmp/run" \
    --worker "$worker" --default-network=no >"$tmp/vmmd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { sed 's/^/# /' "$tmp/vmmd.log"; skip_all "vmmd did not start"; }

# stp='off': a new port forwards at once (with STP, after 2 x 2 s)
cat >"$tmp/lab.xml" <<'EOF'
<network>
  <name>lab</name>
  <forward mode='nat'/>
  <bridge name='vmmlab0' stp='off'/>
  <ip address='10.123.0.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='10.123.0.100' end='10.123.0.150'/>
      <host mac='52:54:00:12:30:42' name='vm42' ip='10.123.0.42'/>
    </dhcp>
  </ip>
</network>
EOF

# v ARGS: virsh against vmmd (stdout $out, stderr $err, status $rc);
# c ARGS: vmmctl on the JSON socket ($cout, $cerr, $crc)
v() { out=$(timeout 60 virsh -c "$uri" "$@" 2>"$tmp/err"); rc=$?; err=$(cat "$tmp/err"); }
c() { cout=$(timeout 60 "$vmmctl" -c "$sock_json" "$@" 2>"$tmp/cerr"); crc=$?; cerr=$(cat "$tmp/cerr"); }
show() { printf '%s\n' "virsh ($rc):" "$out" "$err" "vmmctl ($crc):" "$cout" "$cerr" | sed 's/^/#   /'; }
# both DESCRIPTION ARGS: virsh and vmmctl print the same, with the same status
both() {
    local d=$1; shift
    v "$@"; c "$@"
    if [ "$rc" -eq "$crc" ] && [ "$out" = "$cout" ] && [ "$err" = "$cerr" ]; then ok "$d"
    else notok "$d"; show; fi
}
expect() {   # expect DESCRIPTION WANTED_RC EXTENDED_REGEX_ON_STDOUT
    if [ "$rc" -eq "$2" ] && grep -Eq -- "$3" <<<"$out"; then ok "$1"
    else notok "$1"; printf '%s\n' "status $rc, stdout:" "$out" "stderr:" "$err" | sed 's/^/#   /'; fi
}
expect_err() {   # expect_err DESCRIPTION EXTENDED_REGEX_ON_STDERR
    if [ "$rc" -ne 0 ] && grep -Eq -- "$2" <<<"$err"; then ok "$1"
    else notok "$1"; printf '%s\n' "status $rc, stdout:" "$out" "stderr:" "$err" | sed 's/^/#   /'; fi
}
# same DESCRIPTION COMMANDS: the last line virsh printed (stdout and
# stderr) is what it prints for COMMANDS (';'-separated) against libvirt's
# test driver, which knows lab.xml as well: the same situation, the same text
same() {
    local want got
    want=$(virsh -c test:///default "$2" 2>&1 | sed '/^$/d' | tail -1)
    got=$(printf '%s\n%s\n' "$out" "$err" | sed '/^$/d' | tail -1)
    if [ "$got" = "$want" ]; then ok "$1"
    else notok "$1"; printf '#   %s\n' "vmmd ($rc): $got" "test driver: $want"; fi
}
# The columns (or the field names) of a listing: the test driver's.
header_of() { local h; h=$(cat); sed -n 1p <<<"$h" | tr -s ' '; sed -n 2p <<<"$h" | tr -d '\n-' | wc -c; }
fields_of() { cut -d: -f1 | sed '/^$/d' | tr '\n' ,; }

timeout 300 virsh -c "$uri" net-event --loop --event lifecycle --timeout 240 >"$tmp/events" 2>&1 &
ev_pid=$!

both "net-list --all, no network: virsh as vmmctl" net-list --all
[ "$(header_of <<<"$out")" = "$(virsh -c test:///default net-list --all | header_of)" ] &&
    ok "net-list: the test driver's header" || notok "net-list: the test driver's header"
v net-define "$tmp/lab.xml"
expect "virsh net-define" 0 "^Network lab defined from $tmp/lab.xml$"
same "virsh net-define: as the test driver says it" "net-define $tmp/lab.xml"
# one network's events: those of another ("auto" below) do not come
timeout 300 virsh -c "$uri" net-event --loop --network lab --event lifecycle --timeout 240 \
    >"$tmp/events-lab" 2>&1 &
ev_lab_pid=$!
both "net-list --all, inactive: virsh as vmmctl" net-list --all
expect "net-list --all: lab inactive, persistent" 0 "^ lab +inactive +no +yes$"
both "net-info of an inactive network: virsh as vmmctl" net-info lab
[ "$(fields_of <<<"$out")" = "$(virsh -c test:///default net-info default | fields_of)" ] &&
    ok "net-info: the test driver's fields" || notok "net-info: the test driver's fields"
v net-start lab; expect "virsh net-start" 0 "^Network lab started$"
same "virsh net-start: as the test driver says it" "net-define $tmp/lab.xml; net-start lab"
ip -br link show vmmlab0 >/dev/null 2>&1 && ok "net-start made the bridge" ||
    notok "net-start made the bridge"
v net-start lab; expect_err "net-start again: an error" "network is already active"
both "net-list, active: virsh as vmmctl" net-list
both "net-info of an active network: virsh as vmmctl" net-info lab
expect "net-info: active, bridge" 0 "^Bridge: +vmmlab0$"
c net-info lab; uuid=$(sed -n 's/^UUID: *//p' <<<"$cout")
v net-uuid lab; expect "virsh net-uuid: the uuid vmmctl shows" 0 "^$uuid$"
v net-name "$uuid"; expect "virsh net-name UUID" 0 "^lab$"
v net-info "$uuid"; expect "virsh net-info UUID: found by uuid" 0 "^Name: +lab$"
v net-autostart lab; expect "virsh net-autostart" 0 "^Network lab marked as autostarted$"
same "virsh net-autostart: as the test driver says it" \
    "net-define $tmp/lab.xml; net-autostart lab"
both "net-list --autostart: virsh as vmmctl" net-list --all --autostart
expect "net-list --autostart: lab" 0 "^ lab +active +yes +yes$"
v net-list --all --no-autostart; expect "net-list --no-autostart: not lab" 0 "^-+$"
both "net-dumpxml: virsh as vmmctl" net-dumpxml lab
expect "net-dumpxml: libvirt's single quotes" 0 "^  <bridge name='vmmlab0' stp='off' delay='0'/>$"
both "net-dumpxml --inactive: virsh as vmmctl" net-dumpxml --inactive lab

host7="<host mac='52:54:00:00:00:07' name='h7' ip='10.123.0.7'/>"
v net-update lab add ip-dhcp-host "$host7" --live --config
expect "net-update add ip-dhcp-host --live --config" 0 \
    "^Updated network lab persistent config and live state$"
same "net-update: as the test driver says it" \
    "net-define $tmp/lab.xml; net-start lab; net-update lab add ip-dhcp-host \"$host7\" --live --config"
v net-dumpxml lab; live=$out; v net-dumpxml --inactive lab
grep -q "name='h7'" <<<"$live" && grep -q "name='h7'" <<<"$out" &&
    ok "net-update --live --config: the host in both definitions" ||
    notok "net-update --live --config: the host in both definitions"
grep -q "^dhcp-host=52:54:00:00:00:07,10.123.0.7,h7$" "$tmp/run/networks/lab.conf" &&
    ok "net-update --live: dnsmasq's configuration has the host" ||
    notok "net-update --live: dnsmasq's configuration has the host"
v net-update lab modify ip-dhcp-host "<host mac='52:54:00:00:00:07' name='h8' ip='10.123.0.8'/>"
expect "net-update modify (current: the live network)" 0 "^Updated network lab live state$"
v net-dumpxml lab; live=$out; v net-dumpxml --inactive lab
grep -q "name='h8'" <<<"$live" && grep -q "name='h7'" <<<"$out" &&
    ok "net-update --current on an active network: live changed, definition kept (libvirt's rule)" ||
    { notok "net-update --current on an active network: live changed, definition kept (libvirt's rule)"
      printf '#   %s\n' "$live" "$out"; }
c net-update lab modify ip-dhcp-host "<host mac='52:54:00:00:00:07' name='h9' ip='10.123.0.9'/>"
c net-dumpxml lab; live=$cout; c net-dumpxml --inactive lab
grep -q "name='h9'" <<<"$live" && grep -q "name='h7'" <<<"$cout" &&
    ok "vmmctl net-update --current: the same rule" ||
    { notok "vmmctl net-update --current: the same rule"; printf '#   %s\n' "$live" "$cout"; }
v net-update lab delete ip-dhcp-host "<host mac='52:54:00:00:00:07'/>" --config
expect "net-update delete --config" 0 "^Updated network lab persistent config$"
v net-update lab delete ip-dhcp-host "<host mac='52:54:00:00:00:99'/>" --live
expect_err "net-update delete of an unknown host: libvirt's error" \
    "couldn't locate a matching dhcp host entry in network 'lab'"
v net-update lab add dns-host "<host ip='10.123.0.9'><hostname>x</hostname></host>"
expect_err "net-update of a section vmmd does not update: a clear error" \
    "can't update 'dns-host' section of network 'lab'"
v net-update lab add ip-dhcp-host "<host mac='zz' ip='10.123.0.9'/>"
expect_err "net-update with a bad host element: an error" "mac|MAC"

# errors as libvirt words them
v net-info nosuch; c net-info nosuch
want=$(virsh -c test:///default net-info nosuch 2>&1 >/dev/null)
[ "$rc" -eq 1 ] && [ "$err" = "$want" ] && ok "net-info of an unknown network: the test driver's error" ||
    { notok "net-info of an unknown network: the test driver's error"; printf '#   %s\n' "$err" "$want"; }
[ "$crc" -eq 1 ] && [ "$cerr" = "$err" ] && ok "net-info of an unknown network: vmmctl's error is virsh's" ||
    { notok "net-info of an unknown network: vmmctl's error is virsh's"; show; }
for verb in net-start net-destroy net-undefine net-dumpxml net-autostart net-dhcp-leases; do
    v "$verb" nosuch
    expect_err "$verb of an unknown network: Network not found" \
        "error: Network not found: no network with matching name 'nosuch'"
done
printf '<network><name>bad</name><ip address="10.0.0.0" prefix="24"/></network>' >"$tmp/bad.xml"
v net-define "$tmp/bad.xml"; expect_err "net-define of a bad definition: XML error" \
    "error: XML error: .*10\.0\.0\.0"
printf '<network><name>bad' >"$tmp/broken.xml"
v net-define "$tmp/broken.xml"; expect_err "net-define of broken XML: XML error" "error: XML error"

# no bridge name: the first virbrN that neither a network nor an interface
# of the host (here: of this namespace) has
ip link add virbr0 type bridge
printf "<network><name>auto</name><ip address='10.124.0.1' prefix='24'/></network>" >"$tmp/auto.xml"
v net-define "$tmp/auto.xml"; v net-dumpxml auto
expect "net-define without a bridge name: virbr1, virbr0 being an interface already" 0 \
    "^  <bridge name='virbr1' stp='on' delay='0'/>$"
v net-undefine auto; ip link del virbr0

# the read-only socket: reading yes, changing no
ro() { out=$(timeout 20 virsh -c "$rouri" "$@" 2>&1); rc=$?; err=$out
       expect_err "read-only socket refuses $1" "operation forbidden: .*read-only"; }
ro net-destroy lab
ro net-undefine lab
ro net-autostart --disable lab
ro net-define "$tmp/lab.xml"
ro net-update lab delete ip-dhcp-host "<host mac='52:54:00:12:30:42'/>"
out=$(timeout 20 virsh -c "$rouri" net-list --all 2>&1); rc=$?
expect "read-only socket: net-list answers, lab still active" 0 "^ lab +active +yes +yes$"

# a guest on the network: its lease in net-dhcp-leases and domifaddr
demo_xml "$tmp/img" "$tmp/vm42.xml" vm42
sed -i -e "s|<cmdline>.*</cmdline>|<cmdline>test=net-dhcp then=idle</cmdline>|" \
    -e "s|</devices>|<interface type='network'><mac address='52:54:00:12:30:42'/><source network='lab'/><model type='virtio'/></interface></devices>|" \
    "$tmp/vm42.xml"
v define "$tmp/vm42.xml"; v start vm42; expect "a guest on lab starts" 0 "started"
for _ in $(seq 600); do
    v domifaddr vm42; grep -q "10.123.0.42/24" <<<"$out" && break; sleep 0.1
done
expect "virsh domifaddr: the guest's lease" 0 "^ [a-z0-9]+ +52:54:00:12:30:42 +ipv4 +10\.123\.0\.42/24$"
both "domifaddr: virsh as vmmctl" domifaddr vm42
v domifaddr vm42 --source agent; expect_err "domifaddr --source agent: not supported, clearly" \
    "not supported.*source 1"
both "net-dhcp-leases: virsh as vmmctl" net-dhcp-leases lab
expect "net-dhcp-leases: the lease" 0 "52:54:00:12:30:42 +ipv4 +10\.123\.0\.42/24 +vm42|52:54:00:12:30:42 +ipv4 +10\.123\.0\.42/24"
both "net-dhcp-leases --mac: virsh as vmmctl" net-dhcp-leases lab --mac 52:54:00:12:30:42
v net-dhcp-leases lab --mac 52:54:00:99:99:99
[ "$rc" -eq 0 ] && [ "$(sed '/^$/d' <<<"$out" | wc -l)" -eq 2 ] &&
    ok "net-dhcp-leases --mac of another MAC: no lease" || notok "net-dhcp-leases --mac of another MAC: no lease"
v net-dumpxml lab; expect "net-dumpxml: connections='1'" 0 "^<network connections='1'>$"
v destroy vm42

v net-destroy lab; expect "virsh net-destroy" 0 "^Network lab destroyed$"
same "virsh net-destroy: as the test driver says it" \
    "net-define $tmp/lab.xml; net-start lab; net-destroy lab"
ip link show vmmlab0 >/dev/null 2>&1 && notok "net-destroy removed the bridge" ||
    ok "net-destroy removed the bridge"
v net-destroy lab; expect_err "net-destroy of an inactive network: an error" "network is not active"
[ -s "$tmp/run/networks/lab.leases" ] && ok "net-destroy keeps the leases" ||
    notok "net-destroy keeps the leases"
v net-autostart --disable lab; expect "net-autostart --disable" 0 "unmarked as autostarted"
v net-undefine lab; expect "virsh net-undefine" 0 "^Network lab has been undefined$"
[ -e "$tmp/run/networks/lab.leases" ] && notok "net-undefine of an inactive network removes its leases" ||
    ok "net-undefine of an inactive network removes its leases"
same "virsh net-undefine: as the test driver says it" "net-define $tmp/lab.xml; net-undefine lab"
both "net-list --all, empty again: virsh as vmmctl" net-list --all
for _ in $(seq 50); do grep -q "lab: Undefined" "$tmp/events" && break; sleep 0.1; done
for _ in $(seq 50); do grep -q "lab: Undefined" "$tmp/events-lab" && break; sleep 0.1; done
kill "$ev_pid" "$ev_lab_pid" 2>/dev/null; wait "$ev_pid" "$ev_lab_pid" 2>/dev/null; ev_pid=
got=$(grep -o "event 'lifecycle' for network [a-z]*: [A-Za-z]*" "$tmp/events-lab" | sed 's/.* network //' | tr '\n' ' ')
[ "$got" = "lab: Started lab: Stopped lab: Undefined " ] && grep -q "network auto: Defined" "$tmp/events" &&
    ok "virsh net-event --network lab: lab's events only" ||
    { notok "virsh net-event --network lab: lab's events only"; sed 's/^/#   /' "$tmp/events-lab"; }
got=$(grep -o "event 'lifecycle' for network lab: [A-Za-z]*" "$tmp/events" | sed 's/.*: //' | tr '\n' ' ')
[ "$got" = "Defined Started Stopped Undefined " ] &&
    ok "virsh net-event --loop: defined, started, stopped, undefined" ||
    { notok "virsh net-event --loop: defined, started, stopped, undefined"; sed 's/^/#   /' "$tmp/events"; }

# libvirt-python and hostile packets (their own TAP lines)
py_out=$(timeout 300 /usr/bin/python3 "$src/tests/integration/libvirt-rpc.py" network "$uri" \
         "$sock" "$tmp/lab.xml" 2>&1)
relay_tap <<<"$py_out"

daemon_test_end "$daemon_pid" "$tmp/vmmd.log"
