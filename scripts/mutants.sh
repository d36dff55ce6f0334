#!/usr/bin/env bash
# Applies each deliberate privacy break (scripts/mutants.py) to a temporary copy of the repo, runs
# the tests that must catch it, and prints killed/survived per mutant; last line mutants_killed=K/N.
# Exits 1 if any mutant survives. Usage: scripts/mutants.sh [NAME ...]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${MUTANTS_PYTHON:-.venv/bin/python}"
exec "$PYTHON" scripts/mutants.py "$@"
