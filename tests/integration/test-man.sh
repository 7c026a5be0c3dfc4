#!/bin/bash
# TAP: every man page renders without a warning (man -l, and
# man --warnings at 80 columns), and vmmctl(1) documents every verb that
# `vmmctl help` lists.
set -u
src=${VMM_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VMM_TOP_BUILDDIR:-$src}
pages=(man/vmmd.8 man/vmmctl.1 man/vmmd-domain.5 man/vmmd-protocol.7)
n=0
echo "1..$(( ${#pages[@]} * 3 + 1 ))"
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }

for p in "${pages[@]}"; do
    f=$src/$p
    if ! command -v man >/dev/null 2>&1; then
        skip "$p: man(1) is not installed"; skip "$p: man(1) is not installed"
        skip "$p: man(1) is not installed"
        continue
    fi
    if [ ! -f "$f" ]; then
        notok "$p exists"; notok "$p renders"; notok "$p has NAME, SYNOPSIS/DESCRIPTION"
        continue
    fi
    err=$(MANWIDTH=80 man -l "$f" 2>&1 >/dev/null)
    if [ -z "$err" ]; then ok "$p renders with man -l"; else notok "$p renders with man -l"; echo "$err" | sed 's/^/# /'; fi
    err=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
    if [ -z "$err" ]; then ok "$p: man --warnings is clean"; else notok "$p: man --warnings is clean"; echo "$err" | sed 's/^/# /'; fi
    text=$(MANWIDTH=80 man -l "$f" 2>/dev/null)
    if grep -q '^NAME' <<<"$text" && grep -q '^DESCRIPTION' <<<"$text" && grep -q '^SEE ALSO' <<<"$text"; then
        ok "$p has NAME, DESCRIPTION and SEE ALSO"
    else
        notok "$p has NAME, DESCRIPTION and SEE ALSO"
    fi
done

vmmctl=$build/client/vmmctl
if [ ! -x "$vmmctl" ]; then
    skip "vmmctl(1) documents every verb: $vmmctl is not built"
elif ! command -v man >/dev/null 2>&1; then
    skip "vmmctl(1) documents every verb: man(1) is not installed"
else
    text=$(MANWIDTH=200 man -l "$src/man/vmmctl.1" 2>/dev/null)
    missing=()
    for verb in $("$vmmctl" help | awk '/^  verbs:/ {v=1; next} v && NF >= 2 && /^    [a-z]/ {print $1}'); do
        grep -Eq "^       $verb( |$)" <<<"$text" || missing+=("$verb")
    done
    if ((${#missing[@]} == 0)); then ok "vmmctl(1) documents every verb"
    else notok "vmmctl(1) documents every verb"; echo "# missing: ${missing[*]}"; fi
fi
