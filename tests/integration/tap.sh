# Sourced by the shell tests that run a daemon and guests: the build's
# programs and the TAP helpers. Set N, the number of tests, first.
src=${VMM_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VMM_TOP_BUILDDIR:-$src}
vmmctl=$build/client/vmmctl
vmmd=$build/daemon/vmmd
worker=$build/src/vmm-worker
kit=$build/tests/guest/guestkit.elf
n=0
echo "1..$N"
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip_all() {
    while ((n < N)); do n=$((n + 1)); echo "ok $n # SKIP $*"; done
    exit 0
}
# need_vms PROGRAM...: skips the whole test unless these programs, the
# daemon, the worker and the guest kit are built and /dev/kvm is usable
need_vms() {
    local f
    for f in "$@" "$vmmd" "$worker"; do [ -x "$f" ] || skip_all "$f is not built"; done
    [ -f "$kit" ] || skip_all "$kit is not built"
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip_all "/dev/kvm is not usable"
}
# demo_xml IMAGE_DIR OUT [NAME]: xml-examples/demo.xml with this build's
# guest kit and a fresh 64 MiB disk in IMAGE_DIR; with NAME, renamed (disk
# NAME.img, no uuid: a second domain of its own)
demo_xml() {
    local name=${3:-demo}
    mkdir -p "$1"
    truncate -s 64M "$1/$name.img"
    sed -e "s|/usr/local/share/vmmd/guestkit.elf|$kit|" \
        -e "s|/var/lib/vmmd/images/demo.img|$1/$name.img|" "$src/xml-examples/demo.xml" |
        if [ -n "${3:-}" ]; then sed -e "s|<name>demo</name>|<name>$3</name>|" -e '/<uuid>/d'
        else cat; fi >"$2"
}
# kill_workers RUN_DIR: the workers a daemon left there (it leaves them
# running by design; a crashed daemon cannot destroy them)
kill_workers() {
    local f
    for f in "$1"/*.pid; do [ -f "$f" ] && kill "$(head -c 20 "$f" | tr -cd 0-9)" 2>/dev/null; done
    return 0
}
# relay_tap: a helper's TAP lines ("ok - ...", "not ok - ...", no plan) on
# stdin, counted as this test's; any other line becomes a comment
relay_tap() {
    local line
    while IFS= read -r line; do
        case "$line" in
        "ok "*) ok "${line#ok - }" ;;
        "not ok "*) notok "${line#not ok - }" ;;
        *) echo "# $line" ;;
        esac
    done
}
# daemon_test_end PID LOG: the daemon still runs, the plan was kept, and
# what the sanitizers reported in the daemon's log is shown
daemon_test_end() {
    kill -0 "$1" 2>/dev/null && ok "vmmd is still running" || notok "vmmd is still running"
    if ((n != N)); then
        notok "the test ran $n checks, not $N"
    fi
    if grep -Eq "ERROR: AddressSanitizer|runtime error" "$2"; then
        sed 's/^/# vmmd: /' "$2"
    fi
}
