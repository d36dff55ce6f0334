#!/bin/bash
# scripts/unit-sandbox.sh COMMAND...: runs COMMAND in a stand-in for deploy/systemd's sandbox, where systemd is not
# PID 1 (containers, CI). Needs root and Debian's python3-seccomp. Used to check the units' hardening, e.g.
#   scripts/unit-sandbox.sh .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_runbook.py
# An approximation, not systemd itself: a private mount and PID namespace with
# /proc mounted hidepid=invisible,subset=pid (ProtectProc=invisible, ProcSubset=pid), everything read-only
# but /tmp (ProtectSystem=strict, PrivateTmp), a minimal /dev (PrivateDevices), /sys read-only
# (ProtectKernelTunables/ControlGroups), no capabilities, no_new_privs, and PR_SET_MDWE (MemoryDenyWriteExecute).
# then scripts/unit_seccomp.py (SystemCallFilter, RestrictAddressFamilies, RestrictNamespaces, LockPersonality).
# Not emulated: ProtectHome (the test's Python may live under /root), User=, RemoveIPC.
HERE=$(cd "$(dirname "$0")" && pwd)
export HERE
exec unshare --mount --pid --fork --propagation private bash -euc '
mount -t proc -o hidepid=invisible,subset=pid proc /proc
mount --bind /tmp /tmp
mount -t tmpfs -o mode=755,nosuid tmpfs /dev
mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/full c 1 7
mknod -m 666 /dev/random c 1 8; mknod -m 666 /dev/urandom c 1 9; mknod -m 666 /dev/tty c 5 0
mkdir /dev/shm /dev/pts; mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
ln -s /proc/self/fd /dev/fd; ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
mount -o remount,bind,ro /sys 2>/dev/null || true
for mp in $(findmnt -rno TARGET | sort -u); do
  case "$mp" in /proc|/proc/*|/dev|/dev/*|/tmp) continue;; esac
  mount -o remount,bind,ro "$mp" 2>/dev/null || true
done
touch /probe-ro 2>/dev/null && { echo "root still writable"; exit 1; }
exec setpriv --no-new-privs --bounding-set=-all --inh-caps=-all --ambient-caps=-all /usr/bin/python3 "$HERE/unit_seccomp.py" "$@"
' sandbox "$@"
