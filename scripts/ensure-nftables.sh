#!/usr/bin/env bash
# Installs Debian's nftables when the network-namespace tests need it and it is missing.
# Only acts as root (CI and the development machines); elsewhere the firewall tests in
# tests/test_netns.py skip with a message saying what to install (under CI, with CI set,
# they fail instead). The tests load deploy/firewall/*.nft with it.
set -euo pipefail
if command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ]; then
    echo "installing nftables from Debian's packages for the firewall tests" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null
else
    echo "nftables is missing and this is not root: install Debian's nftables (apt-get install nftables)" \
         "or the firewall tests (tests/test_netns.py) skip" >&2
fi
