#!/usr/bin/env bash
# Serves extsched on 127.0.0.1:8000 with the embedded defaults (SQLite, demo data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
exec .venv/bin/extsched serve --demo "$@"
