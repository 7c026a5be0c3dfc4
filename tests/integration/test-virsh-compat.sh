#!/bin/bash
# TAP: vmmctl's output against virsh 9.0's, byte for byte. A real vmmd runs
# the guest kit as domain 'demo'; libvirt's test driver (virsh -c
# test:///FILE, no daemon) holds a domain 'demo' made from vmmd's own
# `dumpxml --inactive`, so names, uuid, memory, vCPUs, disks and the XML are
# the same. Every situation is run through both, and stdout, stderr and the
# exit status must match after substituting only what must differ:
#   - measurements (CPU time) and the domain id;
#   - the test driver's own inventions, each one written out below (its OS
#     type "linux", its security driver, the CPU time it shows for a shut off
#     domain, its 'internal error: domain not running' where the QEMU driver
#     says 'Requested operation is not valid: domain is not running', the
#     <boot dev='hd'/> its post-parse adds); vmmctl(1) lists them.
# Each virsh run is a fresh test driver, so a state is reached by running
# the commands that lead to it first in the same virsh call ("start demo;
# suspend demo; CMD") and cutting their output off.
N=181
. "$(dirname "$0")/demo-daemon.sh"

virsh=${VIRSH:-$(command -v virsh)}
[ -n "$virsh" ] && [ -x "$virsh" ] || skip_all "virsh is not installed (libvirt-clients)"
"$virsh" -c test:///default -q list >/dev/null 2>&1 || skip_all "virsh has no test driver"

demo_daemon_start
"$vmmctl" -q define "$tmp/demo.xml" >/dev/null || skip_all "define failed"

# A second domain, never started, with an interface (its target not
# vnetN, a name libvirt keeps for itself).
truncate -s 16M "$tmp/img/nic.img"
cat >"$tmp/nic.xml" <<EOF
<domain type='kvm'>
  <name>nic</name>
  <uuid>1b4e28ba-2fa1-41d2-883f-0016d3cca427</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>$kit</kernel>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <source file='$tmp/img/nic.img'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <interface type='bridge'>
      <mac address='52:54:00:12:34:56'/>
      <source bridge='br0'/>
      <target dev='tapnic0'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
EOF
"$vmmctl" -q define "$tmp/nic.xml" >/dev/null || skip_all "define of nic failed"

# The test driver's node file: vmmd's definitions, shut off.
{
    echo "<node>"
    for d in demo nic; do
        "$vmmctl" dumpxml $d --inactive |
            sed -e "1s|^<domain type='kvm'>|<domain type='kvm' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>|" \
                -e "s|^</domain>|  <test:runstate>5</test:runstate>\n</domain>|"
    done
    echo "</node>"
} >"$tmp/node.xml"
uri=test://$tmp/node.xml
# demo running, nic shut off
awk '/<name>demo<\/name>/ { d = 1 } /<name>nic<\/name>/ { d = 0 }
     d && /<test:runstate>5</ { sub(/>5</, ">1<") } { print }' "$tmp/node.xml" >"$tmp/node-running.xml"
"$virsh" -c "$uri" -q list --all >/dev/null 2>"$tmp/err" ||
    { sed 's/^/# /' "$tmp/err"; skip_all "the test driver refuses vmmd's XML"; }

# What must differ, on both outputs.
norm() {
    sed -E -e "s/^(CPU time: +)[0-9.]+s\$/\1N/" \
        -e "s/^(Id: +)[0-9]+\$/\1N/" \
        -e "s/^ [0-9]( +demo )/ N\1/" \
        -e "s/ id='[0-9]+'/ id='N'/"
}
# The test driver's inventions, on virsh's output only.
virsh_only() {
    sed -E -e "/^Security (model|DOI|label):/d" \
        -e "s/^(OS Type: +)linux\$/\1hvm/" \
        -e "s/internal error: domain 'demo' not running/Requested operation is not valid: domain is not running/" \
        -e "/^    <boot dev='hd'\/>\$/d"
}

# same PREP DESCRIPTION ARGS...: virsh (after PREP, ';'-separated virsh
# commands) and vmmctl run ARGS; stdout, stderr and status must match.
# With PREP "-r", both use a read-only connection, virsh's to a test
# driver whose demo is running from the start (a read-only connection
# cannot start it).
same() {
    local prep=$1 desc=$2
    shift 2
    local skip=0 ro=()
    if [ "$prep" = -r ]; then
        ro=(-r)
        "$virsh" -r -c "test://$tmp/node-running.xml" "$@" >"$tmp/v.all" 2>"$tmp/v.err"
    elif [ -n "$prep" ]; then
        "$virsh" -c "$uri" "$prep" >"$tmp/prep.out" 2>&1
        skip=$(wc -c <"$tmp/prep.out")
        "$virsh" -c "$uri" "$prep; $*" >"$tmp/v.all" 2>"$tmp/v.err"
    else
        "$virsh" -c "$uri" "$@" >"$tmp/v.all" 2>"$tmp/v.err"
    fi
    local vrc=$?
    tail -c +$((skip + 1)) "$tmp/v.all" | virsh_only | norm >"$tmp/v.out"
    virsh_only <"$tmp/v.err" | norm >"$tmp/v.err2"
    "$vmmctl" "${ro[@]}" "$@" 2>"$tmp/c.err" | norm >"$tmp/c.out"
    local crc=${PIPESTATUS[0]}
    norm <"$tmp/c.err" >"$tmp/c.err2"
    if [ "$vrc" = "$crc" ] && cmp -s "$tmp/v.out" "$tmp/c.out" && cmp -s "$tmp/v.err2" "$tmp/c.err2"; then
        ok "$desc: $*"
    else
        notok "$desc: $*"
        echo "# status: virsh $vrc, vmmctl $crc"
        diff -u --label virsh --label vmmctl "$tmp/v.out" "$tmp/c.out" | sed 's/^/# /'
        diff -u --label virsh-stderr --label vmmctl-stderr "$tmp/v.err2" "$tmp/c.err2" | sed 's/^/# /'
    fi
}
wait_state() {
    for _ in $(seq 300); do
        [ "$("$vmmctl" -q domstate demo 2>/dev/null)" = "$1" ] && return 0; sleep 0.1
    done
    return 1
}

# ---- usage errors: virsh's parser, no domain needed ------------------------
same "" "missing argument" dominfo
same "" "missing argument" start
same "" "missing arguments, each named" setmem
same "" "missing second argument" domifstat demo
same "" "missing arguments" domif-setlink demo
same "" "missing file" define
same "" "unknown option" dominfo demo --bogus
same "" "unknown option" list --bogus
same "" "unknown option" domstats --bogus
same "" "unexpected data" dominfo demo extra
same "" "unexpected data" domstate demo --reason extra
same "" "unknown command" frobnicate
same "" "a positional argument by name" dumpxml --domain demo
same "" "a positional argument by name" domstate --domain=demo --reason
same "" "a positional argument by name, no value" dominfo --domain
same "" "a positional argument twice" dominfo demo --domain demo
same "" "positional arguments by name, in any order" domif-getlink --interface vnet9 --domain demo

# ---- an unknown domain -----------------------------------------------------
for verb in dominfo domstate dumpxml start destroy shutdown reboot suspend resume \
            undefine autostart dommemstat domblklist domiflist domstats; do
    same "" "unknown domain" $verb nope
done
same "" "unknown domain" setmem nope 1G
same "" "unknown domain" domblkstat nope vda
same "" "unknown domain" domifstat nope vnet0

# ---- shut off --------------------------------------------------------------
same "" "shut off" list
same "" "shut off" list --all
same "" "shut off" list --inactive
same "" "shut off" list --all --name
same "" "shut off" list --all --uuid
# the QEMU driver has no CPU time for a shut off domain and virsh then
# prints no line; the test driver makes one up
"$virsh" -c "$uri" dominfo demo 2>&1 | virsh_only | sed '/^CPU time:/d' >"$tmp/v.dominfo"
"$vmmctl" dominfo demo >"$tmp/c.dominfo" 2>&1
cmp -s "$tmp/v.dominfo" "$tmp/c.dominfo"; check $? "shut off: dominfo demo"
same "" "shut off" domstate demo
same "" "shut off" domstate demo --reason
# (the order of all domains' records is the hash table's in libvirt:
# named, they come in the order given)
same "" "shut off" domstats --state demo nic
same "" "shut off" domstats demo --state
same "" "shut off" domstats --state --list-shutoff nic demo
same "" "shut off" domstats --state --list-running
same "" "shut off" domstats --state --list-inactive --list-persistent demo nic
same "" "shut off" domstats --state --list-transient
same "" "shut off" domstats --perf --enforce
same "" "shut off: not running" dommemstat demo
same "" "shut off: not running" domblkstat demo vda
same "" "shut off: not running" domifstat demo vnet0
same "" "shut off: not running" destroy demo
same "" "shut off: not running" shutdown demo
same "" "shut off: not running" suspend demo
same "" "shut off: not running" reboot demo
same "" "shut off: not running" destroy demo --graceful
same "" "unknown mode" shutdown demo --mode bogus
same "" "unknown mode" shutdown demo --mode acpi,bogus
same "" "unknown mode" reboot demo --mode bogus
same "" "unknown mode, before the lookup" reboot nope --mode bogus
same "" "shut off: not running" setmem demo 200M
same "" "shut off" setmem demo 0
same "" "shut off" setmem demo abc
same "" "shut off" setmem demo 100G
same "" "shut off" dommemstat demo --period abc
same "" "shut off" dommemstat demo --period -1
same "" "shut off" dumpxml demo
same "" "shut off" dumpxml demo --inactive
same "" "shut off" dumpxml demo --security-info --migratable
same "" "shut off" domblklist demo
same "" "shut off" domblklist demo --details
same "" "shut off" domblklist demo --inactive
same "" "shut off" domiflist demo
same "" "shut off: no such interface" domif-getlink demo vnet9
same "" "shut off" dumpxml nic
same "" "shut off" domiflist nic
same "" "shut off: link state from the XML" domif-getlink nic tapnic0
same "" "shut off: an interface by MAC" domif-getlink nic 52:54:00:12:34:56
same "" "shut off: no such interface" domif-getlink nic tapnic9
same "" "shut off: no such interface" domif-setlink nic tapnic9 down
same "" "shut off: not running" domifstat nic tapnic0
same "" "shut off" domblklist nic --details
same "" "shut off: bad link state" domif-setlink demo vnet9 sideways
same "" "shut off: no such interface" domif-setlink demo vnet9 up
same "" "shut off" list --state-shutoff
same "" "shut off" list --state-running
same "" "shut off" list --persistent
same "" "shut off" list --all --persistent --name
same "" "shut off" list --all --transient
same "" "shut off" list --inactive --state-running
same "" "shut off" list --table --all
same "" "shut off" dumpxml demo --xpath //disk
same "" "shut off" dumpxml demo --xpath //disk/target
same "" "shut off" dumpxml demo --xpath //disk/target/@dev
same "" "shut off" dumpxml demo --xpath "//name/text()"
same "" "shut off" dumpxml demo --xpath //nothing
same "" "shut off" dumpxml demo --xpath //disk/target --wrap
same "" "shut off" dumpxml demo --xpath //nothing --wrap
same "" "shut off: not a node set" dumpxml demo --xpath "count(//disk)"
same "" "shut off: a malformed expression" dumpxml demo --xpath "//disk["
same "" "shut off" autostart demo
same "" "shut off" autostart demo --disable
same "" "event" event --list
same "" "event: nothing to wait for" event --domain demo --timeout 1
same "" "event: unknown type" event --event bogus --timeout 1
same "" "event: timed out, a failure" event --all --timeout 1
same "" "event: timed out" event --event lifecycle --domain demo --timeout 1

# ---- running ---------------------------------------------------------------
# lifecycle events from here to the destroy below, in virsh's words
"$vmmctl" event --domain demo --event lifecycle --loop --timeout 120 >"$tmp/events" 2>&1 &
bg_pids+=($!)
sleep 0.5
same "" "start" start demo
wait_state running; check $? "the guest is running"
R="start demo"
same "$R" "running: virsh's own check" start demo
same "$R" "running" list
same "$R" "running" list --all
same "$R" "running" list --name
same "$R" "running" list --state-running --name
same "$R" "running" list --persistent
same "$R" "running" dominfo demo
same "$R" "running" domstate demo
same "$R" "running" domstate demo --reason
same "$R" "running" dumpxml demo
same "$R" "running" dumpxml demo --inactive
same "$R" "running" domstats demo --state
same "$R" "running" domstats --state --list-running
same "$R" "running" domstats --state --list-active
same "$R" "running" domstats --state --list-paused
same "$R" "running" domblkstat demo vdz
same "$R" "running" domifstat demo vnet0
same "$R" "running" dommemstat demo --period 2
same "$R" "running" setmem demo 100G
same "$R" "running" setmem demo 200M
same "$R" "running" setmem demo 220M --live
same "$R" "running: arguments by name" setmem --size 210M --domain demo
same "$R" "running" setmem demo 230M --current
same "$R" "running" setmem demo 1G --current --live
same "$R" "running" setmem demo 1G --current --config
"$vmmctl" -q setmem demo 256M >/dev/null 2>&1
# the read-only socket (virsh -r: a read-only connection)
same -r "read-only" destroy demo
same -r "read-only" suspend demo
same -r "read-only" setmem demo 200M
same -r "read-only" autostart demo
same -r "read-only" undefine demo
same -r "read-only" dommemstat demo --period 3
same -r "read-only" dumpxml demo --security-info
same -r "read-only" define "$tmp/demo.xml"
same -r "read-only: virsh's own check" start demo
same -r "read-only: queries work" domstate demo

# The test driver's statistics are its own; these are the QEMU driver's
# fields and order (virsh(1), domstats; domblkstat's domblkstat_output;
# dommemstat's tags in the order QEMU's balloon reports them).
"$vmmctl" domstats demo >"$tmp/stats"; rc=$?
sed -nE 's/^  ([^=]+)=.*/\1/p' "$tmp/stats" | sed -E 's/\.[0-9]+\./.<num>./' >"$tmp/keys"
cat >"$tmp/order" <<'EOF'
state.state
state.reason
cpu.time
cpu.user
cpu.system
balloon.current
balloon.maximum
balloon.swap_in
balloon.swap_out
balloon.major_fault
balloon.minor_fault
balloon.unused
balloon.available
balloon.usable
balloon.last-update
balloon.disk_caches
balloon.hugetlb_pgalloc
balloon.hugetlb_pgfail
balloon.rss
vcpu.current
vcpu.maximum
vcpu.<num>.state
vcpu.<num>.time
vcpu.<num>.wait
vcpu.<num>.delay
vcpu.<num>.state
vcpu.<num>.time
vcpu.<num>.wait
vcpu.<num>.delay
net.count
block.count
block.<num>.name
block.<num>.path
block.<num>.rd.reqs
block.<num>.rd.bytes
block.<num>.rd.times
block.<num>.wr.reqs
block.<num>.wr.bytes
block.<num>.wr.times
block.<num>.fl.reqs
block.<num>.fl.times
block.<num>.allocation
block.<num>.capacity
block.<num>.physical
EOF
# subsequence DESCRIPTION WANTED GOT: GOT's lines appear in WANTED's order
subsequence() {
    awk 'BEGIN { i = 0; n = 0 }
         NR == FNR { want[n++] = $0; next }
         { while (i < n && want[i] != $0) i++; if (i++ >= n) { bad = $0; exit 1 } }
         END { if (bad != "") print "# out of order or unknown: " bad; exit bad != "" }' "$2" "$3"
}
[ "$rc" -eq 0 ] && subsequence x "$tmp/order" "$tmp/keys"; check $? "domstats: the QEMU driver's groups and order"
missing=0
for k in cpu.user cpu.system balloon.rss vcpu.0.delay block.0.allocation; do
    grep -Eq "^  $k=[0-9]+\$" "$tmp/stats" || { echo "# no $k"; missing=1; }
done
check $missing "domstats: cpu.user, cpu.system, balloon.rss, vcpu.N.delay, block.N.allocation"
grep -q "^  block.0.capacity=67108864\$" "$tmp/stats"; check $? "domstats: block.0.capacity is the image's size"
! grep -q "errors=" "$tmp/stats"; check $? "domstats: no Xen-only block.N.errors"
head -1 "$tmp/stats" | grep -qx "Domain: 'demo'" && [ "$(tail -c 2 "$tmp/stats" | od -An -c | tr -d ' ')" = '\n\n' ]
check $? "domstats: the record's header and the empty line after it"
"$vmmctl" domstats demo --cpu-total --block >"$tmp/stats2"
! grep -Eq "^  (state|balloon|vcpu|net)\." "$tmp/stats2" && grep -q "^  cpu.user=" "$tmp/stats2" &&
    grep -q "^  block.count=1\$" "$tmp/stats2"
check $? "domstats --cpu-total --block: those groups only"
"$vmmctl" domstats --raw --list-running --enforce --vcpu >"$tmp/stats3"; rc=$?
[ "$rc" -eq 0 ] && grep -q "^Domain: 'demo'\$" "$tmp/stats3" && grep -q "^  vcpu.1.time=" "$tmp/stats3"
check $? "domstats --raw --list-running --enforce --vcpu"

"$vmmctl" domblkstat demo vda >"$tmp/blk"
sed -E 's/ [0-9]+$//' "$tmp/blk" >"$tmp/blk.names"
printf '%s\n' "vda rd_req" "vda rd_bytes" "vda wr_req" "vda wr_bytes" "vda flush_operations" \
    "vda rd_total_times" "vda wr_total_times" "vda flush_total_times" "" | cmp -s - "$tmp/blk.names"
check $? "domblkstat: the QEMU driver's fields in virsh's order, no errs"
"$virsh" -c "$uri" "start demo; dommemstat demo" 2>&1 | sed -E 's/ [0-9]+$//' | sed '1,2d' >"$tmp/v.mem"
"$vmmctl" dommemstat demo | sed -E 's/ [0-9]+$//' >"$tmp/c.mem"
subsequence x "$tmp/v.mem" "$tmp/c.mem" && grep -qx "actual" "$tmp/c.mem" && grep -qx "rss" "$tmp/c.mem"
check $? "dommemstat: virsh's tag names in its order"

# ---- paused ----------------------------------------------------------------
same "$R" "suspend" suspend demo
P="start demo; suspend demo"
same "$P" "paused" domstate demo --reason
same "$P" "paused" list
same "$P" "paused" domstats --state --list-paused
# stats of a paused domain leave it paused; stats of a running one leave
# it running (checked on the worker's state after a stats call)
"$vmmctl" -q domstats demo >/dev/null && [ "$("$vmmctl" -q domstate demo)" = paused ]
check $? "stats leave a paused domain paused"
"$vmmctl" domstats demo --vcpu | grep -c "^  vcpu\.[0-9]*\.state=1\$" | grep -qx 2
check $? "domstats of a paused domain: vcpu.N.state=1, as the QEMU driver reports it"
same "$P" "resume" resume demo
"$vmmctl" -q domstats demo >/dev/null && "$vmmctl" -q dommemstat demo >/dev/null &&
    "$vmmctl" -q domblkstat demo vda >/dev/null && [ "$("$vmmctl" -q domstate demo --reason)" = "running (unpaused)" ]
check $? "stats never pause a running domain"

# the QEMU driver takes these as done; the test driver refuses them (a
# deliberate difference, vmmctl(1))
out=$("$vmmctl" resume demo 2>&1); rc=$?
[ "$rc" -eq 0 ] && [ "$out" = "Domain 'demo' resumed" ]; check $? "resume of a running domain: done, as the QEMU driver"

# ---- reboot, shutdown, destroy ---------------------------------------------
same "$R" "reboot" reboot demo
wait_state running; check $? "running again after the reboot"
same "$R" "shutdown" shutdown demo
wait_state "shut off"; check $? "the guest powered off"
same "start demo; shutdown demo" "after shutdown" domstate demo --reason
"$vmmctl" -q start demo >/dev/null
wait_state running
same "$R" "destroy" destroy demo
same "start demo; destroy demo" "after destroy" domstate demo --reason
sed 's/^/# /' "$tmp/events"
printf '%s\n' "Started Booted" "Suspended Paused" "Resumed Unpaused" \
    "Shutdown Finished after guest request" "Stopped Shutdown" "Started Booted" "Stopped Destroyed" |
    sed "s/^/event 'lifecycle' for domain 'demo': /" | cmp -s - "$tmp/events"
check $? "event: the lifecycle events in order, none for the reboot (the QEMU driver sends 'reboot')"
for line in "Started Booted" "Suspended Paused" "Resumed Unpaused" \
            "Shutdown Finished after guest request" "Stopped Shutdown" "Stopped Destroyed"; do
    grep -qx "event 'lifecycle' for domain 'demo': $line" "$tmp/events"
    check $? "event: lifecycle '$line' as virsh prints it"
done

# ---- undefine, and define of a dumped XML with its id ----------------------
"$vmmctl" -q start demo >/dev/null
"$vmmctl" dumpxml demo >"$tmp/dumped.xml"
grep -q "^<domain type='kvm' id='[0-9]*'>\$" "$tmp/dumped.xml"; check $? "dumpxml of a running domain: id='N' after type="
"$vmmctl" -q destroy demo >/dev/null
same "" "undefine" undefine demo
same "" "define of a dumped XML with id=" define "$tmp/dumped.xml"

if [ "$n" -ne "$N" ]; then echo "# planned $N checks, ran $n"; exit 1; fi
