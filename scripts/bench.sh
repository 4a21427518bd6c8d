#!/usr/bin/env bash
# Runs the benchmarks (by hand; not part of `make test`). Each appends its figures to bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh test
for b in preview runner_client chunked_answer write_path api burst; do
  echo "== bench/$b.py"
  .venv/bin/python "bench/$b.py"
done
