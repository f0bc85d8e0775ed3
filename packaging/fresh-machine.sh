#!/bin/sh
# A new user's first hour, reproduced: a bare Debian made with debootstrap, this repository
# cloned into it, and the README's two commands run there as that user would run them.
#
#   sudo packaging/fresh-machine.sh DIST [PYTEST ARGS]     (DIST: bookworm, trixie, ...)
#
# Needs root and debootstrap (apt-get install debootstrap).  The system lands in
# $FRESH_ROOT (default /var/tmp/inkwell-fresh-DIST, made anew each run); the clone is of
# this repository's committed HEAD ($FRESH_REF to choose another).  The "run" command is
# given --selftest: offscreen, the desktop app starts, shows its window, loads the default
# model, indexes, retrieves, writes and applies an adapter, then exits with its verdict.
# The "test" command gets PYTEST ARGS (none: the whole default suite).  Each step's time,
# the downloads (pip's cache) and the venv's size are printed at the end and kept in
# $FRESH_ROOT/fresh-machine.log.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 DIST [PYTEST ARGS]" >&2; exit 2; }
dist=$1
shift
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${FRESH_ROOT:-/var/tmp/inkwell-fresh-$dist}
ref=$(git -C "$repo" rev-parse "${FRESH_REF:-HEAD}")  # resolved now: the repo may move on
mirror=${FRESH_MIRROR:-http://deb.debian.org/debian}
log="$root.log"

command -v debootstrap >/dev/null || { echo "fresh-machine: apt-get install debootstrap" >&2; exit 1; }

unmount() {
    for m in dev/pts dev proc sys; do
        umount "$root/$m" 2>/dev/null || true
    done
}
trap unmount EXIT INT TERM

say() { echo "fresh-machine: $*" | tee -a "$log"; }
step() {  # step NAME COMMAND...: run, time it, record the outcome
    name=$1
    shift
    start=$(date +%s)
    if "$@"; then rc=0; else rc=$?; fi
    say "$name: exit $rc in $(( $(date +%s) - start )) s"
    return $rc
}

unmount
rm -rf "$root"
: > "$log"
say "$dist from $mirror into $root, commit $ref of $repo"
step debootstrap debootstrap "$dist" "$root" "$mirror" > "$root.debootstrap.log" 2>&1

# What a real installation has and debootstrap leaves out: name resolution, a hosts file,
# and the kernel's file systems (a chroot sees them only when mounted).  The host's CA
# bundle goes in for pip (PIP_CERT below): where HTTPS passes a TLS-inspecting proxy, as on
# the machine these runs were made on, the bare system would not trust PyPI's certificate.
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/etc/ssl/certs"
cp "${FRESH_CA:-/etc/ssl/certs/ca-certificates.crt}" "$root/etc/ssl/certs/fresh-machine-ca.pem"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"

git clone -q --no-hardlinks "$repo" "$root/root/inkwell"
git -C "$root/root/inkwell" checkout -q "$ref"

inside() {  # a login-like environment in the clone: nothing of this machine's set-up leaks in
    chroot "$root" /usr/bin/env -i HOME=/root USER=root LANG=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        QT_QPA_PLATFORM=offscreen PIP_CERT=/etc/ssl/certs/fresh-machine-ca.pem \
        sh -c 'cd /root/inkwell && "$@"' sh "$@"
}

say "python in the bare system: $(inside sh -c 'command -v python3 || echo none')"
status=0
step "./inkwell-setup run --selftest" inside timeout 5400 ./inkwell-setup run --selftest \
    > "$root.run.log" 2>&1 || status=1
sizes() {  # pip's own "Downloading NAME (SIZE)" lines: a TLS-inspecting proxy can keep pip from caching
    downloaded=$(sed -n 's/.*Downloading .* (\([0-9.]*\) \(kB\|MB\|GB\)).*/\1 \2/p' "$root.$1.log" |
        awk '{ s += $1 * ($2 == "kB" ? 0.001 : ($2 == "GB" ? 1000 : 1)) } END { printf "%.1f MB", s }')
    say "after $1: downloaded $downloaded, .venv $(inside du -sh .venv | cut -f1), trainer installed: $(inside .venv/bin/python -c 'import importlib.util as u; print(u.find_spec("torch") is not None)' || echo '?')"
}
sizes run
step "./inkwell-setup test $*" inside timeout 7200 ./inkwell-setup test "$@" \
    > "$root.test.log" 2>&1 || status=1
sizes test
say "python: $(inside .venv/bin/python --version)"
tail -n 3 "$root.run.log" | sed 's/^/  run| /' | tee -a "$log"
tail -n 3 "$root.test.log" | sed 's/^/  test| /' | tee -a "$log"
say "$([ $status -eq 0 ] && echo passed || echo FAILED); logs: $root.*.log"
exit $status
