#!/bin/bash
# TAP: a vmmd fleet managed the way libvirt fleets are. Two "hosts", each a
# network namespace with its own address, its own sshd (started and stopped
# here) and its own vmmd; one virsh on the machine manages both over
# libvirt's ssh transport (vmm+ssh://ADDRESS/system?socket=...), starting
# the guest kit on each. libvirt's remote driver runs `nc -U SOCKET` on the
# far side, as it does against libvirtd.
set -u
N=15
. "$(dirname "$0")/tap.sh"

need_vms
[ "$(id -u)" -eq 0 ] || skip_all "network namespaces need root"
for c in virsh sshd ssh ssh-keygen nc ip; do
    command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] ||
        skip_all "$c is not installed (Debian: libvirt-clients, openssh-server, netcat-openbsd, iproute2)"
done

tmp=$(mktemp -d /tmp/lvssh.XXXXXX)
chmod 755 "$tmp"
# Names and addresses of this run only (other test runs may be going on).
tag=$(( $$ % 10000 ))
net=10.$(( 100 + $$ % 100 )).$(( $$ / 100 % 250 ))
hosts=(a b)
pids=()
cleanup() {
    for h in "${hosts[@]}"; do
        virsh -c "$(uri "$h")" destroy "demo-$h" >/dev/null 2>&1
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    for h in "${hosts[@]}"; do kill_workers "$tmp/$h/run"; done
    for h in "${hosts[@]}"; do ip netns del "vmmssh$tag$h" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
addr() { [ "$1" = a ] && echo "$net.2" || echo "$net.6"; }
uri() { echo "vmm+ssh://root@$(addr "$1")/system?socket=$tmp/$1/run/libvirt-sock&command=$tmp/ssh&proxy=netcat"; }

# The client's key and an ssh that uses only this run's files.
ssh-keygen -q -t ed25519 -N '' -f "$tmp/id" || skip_all "ssh-keygen failed"
cp "$tmp/id.pub" "$tmp/authorized_keys"
cat >"$tmp/ssh" <<SSH
#!/bin/sh
exec ssh -F /dev/null -o UserKnownHostsFile=$tmp/known_hosts -o StrictHostKeyChecking=no \
    -o BatchMode=yes -o LogLevel=ERROR -i $tmp/id "\$@"
SSH
chmod +x "$tmp/ssh"
mkdir -p /run/sshd   # sshd's privilege separation directory

i=0
for h in "${hosts[@]}"; do
    ns=vmmssh$tag$h
    d=$tmp/$h
    mkdir -p "$d/cfg" "$d/run" "$d/img"
    chmod 755 "$d/run"
    ip netns add "$ns" || skip_all "cannot create a network namespace"
    ip link add "vs$tag$h" type veth peer name "vp$tag$h" || skip_all "cannot create a veth pair"
    ip link set "vp$tag$h" netns "$ns"
    ip addr add "$net.$((i * 4 + 1))/30" dev "vs$tag$h"
    ip link set "vs$tag$h" up
    ip -n "$ns" addr add "$(addr "$h")/30" dev "vp$tag$h"
    ip -n "$ns" link set "vp$tag$h" up
    ip -n "$ns" link set lo up
    ssh-keygen -q -t ed25519 -N '' -f "$d/hostkey"
    cat >"$d/sshd_config" <<CONF
ListenAddress $(addr "$h")
HostKey $d/hostkey
PidFile $d/sshd.pid
AuthorizedKeysFile $tmp/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
CONF
    ip netns exec "$ns" /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>"$d/sshd.log" &
    pids+=($!)
    VMM_SCHEMA_DIR=$src/schemas ip netns exec "$ns" "$vmmd" --config-dir "$d/cfg" \
        --run-dir "$d/run" --worker "$worker" >"$d/vmmd.log" 2>&1 &
    pids+=($!)
    demo_xml "$d/img" "$d/demo.xml" "demo-$h"
    i=$((i + 1))
done
for h in "${hosts[@]}"; do
    for _ in $(seq 100); do [ -S "$tmp/$h/run/libvirt-sock" ] && break; sleep 0.1; done
    for _ in $(seq 100); do
        "$tmp/ssh" "root@$(addr "$h")" true 2>/dev/null && break
        sleep 0.1
    done
done

# v HOST ARGS: virsh against that host over ssh
v() { local h=$1; shift; out=$(timeout 60 virsh -c "$(uri "$h")" "$@" 2>&1); rc=$?; }
expect() {   # expect DESCRIPTION EXTENDED_REGEX
    if [ "$rc" -eq 0 ] && grep -Eq -- "$2" <<<"$out"; then ok "$1"
    else notok "$1"; printf '#   %s\n' "status $rc:" "$out"; fi
}
for h in "${hosts[@]}"; do
    v "$h" uri; expect "host $h: virsh over ssh connects" "^vmm\+ssh://"
    v "$h" define "$tmp/$h/demo.xml"; expect "host $h: define" "Domain 'demo-$h' defined"
    v "$h" start "demo-$h"; expect "host $h: start" "started"
done
for h in "${hosts[@]}"; do
    other=$([ "$h" = a ] && echo b || echo a)
    v "$h" list --all
    if [ "$rc" -eq 0 ] && grep -Eq "demo-$h +running" <<<"$out" && ! grep -q "demo-$other" <<<"$out"
    then ok "host $h: list shows its own VM running, not the other host's"
    else notok "host $h: list shows its own VM running, not the other host's"; printf '#   %s\n' "$out"; fi
    v "$h" domstate --reason "demo-$h"; expect "host $h: domstate" "^running \(booted\)"
done
for h in "${hosts[@]}"; do
    v "$h" destroy "demo-$h"; expect "host $h: destroy" "destroyed"
    v "$h" undefine "demo-$h"; expect "host $h: undefine" "undefined"
done
# Each host's sshd took the connections (no local shortcut).
if grep -q "Accepted publickey for root" "$tmp/a/sshd.log" &&
   grep -q "Accepted publickey for root" "$tmp/b/sshd.log"; then
    ok "both hosts' sshd accepted virsh's connections"
else
    notok "both hosts' sshd accepted virsh's connections"
    sed 's/^/#   sshd a: /' "$tmp/a/sshd.log"; sed 's/^/#   sshd b: /' "$tmp/b/sshd.log"
fi
