#!/usr/bin/env bash
# Installs Debian's libfaketime (package `faketime`) for `make test-clock`, which
# runs the test suite with the clock moved forward, when it is missing.
# Only acts as root (CI and the development machines); elsewhere it says what
# to install and fails, since `make test-clock` cannot run without it.
set -euo pipefail
find_lib() {
    ls /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 2>/dev/null | head -n 1
}
if [ -n "$(find_lib)" ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ]; then
    echo "installing libfaketime from Debian's packages for make test-clock" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null
fi
if [ -z "$(find_lib)" ]; then
    echo "libfaketime is missing: install Debian's 'faketime' package (apt-get install faketime)" >&2
    exit 1
fi
