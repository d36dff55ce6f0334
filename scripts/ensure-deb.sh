#!/usr/bin/env bash
# scripts/ensure-deb.sh PACKAGE PROGRAM WHAT TESTS: installs Debian's PACKAGE when PROGRAM (a path) is
# missing, for the tests named. Only acts as root (CI and the development machines); elsewhere those
# tests skip with a message saying what to install (under CI, with CI set, some fail instead).
set -euo pipefail
package=$1 program=$2 what=$3 tests=$4
if [ -x "$program" ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ]; then
    echo "installing $package from Debian's packages for $what" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
else
    echo "$package is missing and this is not root: install Debian's $package (apt-get install $package)" \
         "or $what ($tests) skip" >&2
fi
