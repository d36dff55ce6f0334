#!/usr/bin/env bash
# Debian's nftables for the network-namespace tests, which load deploy/firewall/*.nft with it.
exec "$(dirname "$0")/ensure-deb.sh" nftables /usr/sbin/nft "the firewall tests" tests/test_netns.py
