#!/usr/bin/env bash
# Runs the benchmarks in bench/ (by hand; not part of `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh test
for b in bench/*.py; do
  echo "== $b"
  .venv/bin/python "$b"
done
