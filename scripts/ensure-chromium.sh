#!/usr/bin/env bash
# Debian's Chromium for the site's browser tests. Playwright drives this system browser; it never
# downloads a browser of its own.
exec "$(dirname "$0")/ensure-deb.sh" chromium /usr/bin/chromium "the site's browser tests" tests/test_site.py
