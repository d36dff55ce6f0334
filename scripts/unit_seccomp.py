"""The seccomp part of scripts/unit-sandbox.sh (system python3 with python3-seccomp), then exec a command.

Approximates SystemCallFilter=@system-service ~@privileged with SystemCallErrorNumber=EPERM (the lists are
read from `systemd-analyze syscall-filter`), RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX,
RestrictNamespaces=yes, LockPersonality=yes, NoNewPrivileges=yes and MemoryDenyWriteExecute=yes (the
kernel's PR_SET_MDWE, inherited across exec).
"""
import ctypes
import errno
import os
import socket
import subprocess
import sys

import seccomp


def expand(group, seen=None):
    seen = set() if seen is None else seen
    if group in seen:
        return set()
    seen.add(group)
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True, check=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        word = line.strip().split(" ")[0]
        if not word or word.startswith("#"):
            continue
        names |= expand(word, seen) if word.startswith("@") else {word}
    return names

allowed = expand("@system-service") - expand("@privileged")
f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
added = 0
for name in sorted(allowed - {"socket", "unshare", "setns", "clone", "clone3", "personality"}):
    try:
        f.add_rule(seccomp.ALLOW, name); added += 1
    except (RuntimeError, ValueError, OSError):
        pass
for family in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
    f.add_rule(seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.EQ, family))
NS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080
f.add_rule(seccomp.ALLOW, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, NS, 0))
f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # as systemd: callers fall back to clone, which is checked
f.add_rule(seccomp.ALLOW, "personality", seccomp.Arg(0, seccomp.EQ, 0))       # LockPersonality (PER_LINUX)
f.add_rule(seccomp.ALLOW, "personality", seccomp.Arg(0, seccomp.EQ, 0xffffffff))  # query
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
assert libc.prctl(65, 1, 0, 0, 0) == 0  # PR_SET_MDWE
f.load()
print(f"seccomp: {added} syscalls allowed", file=sys.stderr)
os.execvp(sys.argv[1], sys.argv[1:])
