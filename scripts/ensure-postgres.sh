#!/usr/bin/env bash
# Installs Debian's PostgreSQL server when the tests need it and it is missing.
# Only acts as root (CI and the development machines); elsewhere the PostgreSQL
# tests skip with a message saying what to install (under CI, with CI set, they fail instead).
set -euo pipefail
if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ]; then
    echo "installing PostgreSQL from Debian's packages for the test suite" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
