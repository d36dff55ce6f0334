#!/usr/bin/env bash
# Runs the test suite with the clock of every process moved to a UTC moment, e.g.
#   scripts/test-clock.sh "2027-01-05 10:00:00" [pytest arguments]
# libfaketime is preloaded with a relative offset ("+N" seconds), not an absolute
# start time ("@..."): with "@" every new process restarts the clock at that moment,
# so node, coordinator and PostgreSQL subprocesses would run behind the tests.
# Only the wall clock moves (FAKETIME_DONT_FAKE_MONOTONIC=1): Debian's libfaketime 0.9.10
# does not intercept sem_clockwait, so with a moved monotonic clock every timed wait in
# Python would last the whole offset. scripts/faketime/sitecustomize.py works around the
# one thing that breaks then (time.sleep; see there).
set -euo pipefail
cd "$(dirname "$0")/.."
at="${1:?usage: scripts/test-clock.sh 'YYYY-MM-DD HH:MM:SS' [pytest arguments]}"
shift
lib="$(ls /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 2>/dev/null | head -n 1 || true)"
if [ -z "$lib" ]; then
    echo "libfaketime is missing: run scripts/ensure-faketime.sh (Debian package 'faketime')" >&2
    exit 1
fi
offset=$(( $(date -u -d "$at" +%s) - $(date -u +%s) ))
if [ "$offset" -ge 0 ]; then offset="+$offset"; fi
export FAKETIME="$offset" FAKETIME_DONT_FAKE_MONOTONIC=1
export PYTHONPATH="$PWD/scripts/faketime${PYTHONPATH:+:$PYTHONPATH}"
export LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}"
echo "test-clock: FAKETIME=$FAKETIME, the clock now reads $(date -u '+%Y-%m-%d %H:%M:%S') UTC" >&2
exec .venv/bin/python -m pytest -q "$@"
