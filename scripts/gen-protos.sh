#!/usr/bin/env bash
# Regenerates the checked-in wire code from protos/ with the pinned
# grpcio-tools (see pyproject.toml). CI runs it and fails on a diff.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m grpc_tools.protoc -Iprotos \
    --python_out=. --pyi_out=. --grpc_python_out=. \
    protos/regiozicht/v1/*.proto
touch regiozicht/v1/__init__.py
