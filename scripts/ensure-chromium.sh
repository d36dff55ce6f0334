#!/usr/bin/env bash
# Installs Debian's Chromium when the site's browser tests need it and it is missing.
# Only acts as root (CI and the development machines); elsewhere the browser tests
# skip with a message saying what to install. Playwright drives this system browser;
# it never downloads a browser of its own.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ]; then
    echo "installing Chromium from Debian's packages for the site's browser tests" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
    echo "Chromium is missing and this is not root: install Debian's chromium (apt-get install chromium)" \
         "or the site's browser tests (tests/test_site.py) skip" >&2
fi
