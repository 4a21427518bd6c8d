#!/usr/bin/env bash
# Runs lint, types and the whole test suite; installs what the suite needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh test

# The PostgreSQL tests start Debian's server themselves and the browser tests drive Debian's
# chromium (through Playwright, which downloads no browser): make sure both are installed.
missing=()
if [ "${1:-}" != "--lint-only" ]; then
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "Installing Debian's ${missing[*]} for the tests..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Missing: run 'sudo apt-get install ${missing[*]}' (needs root), then retry." >&2
    exit 1
  fi
fi

paths=(src tests); [ -d bench ] && paths+=(bench)
echo "== ruff"; .venv/bin/ruff check "${paths[@]}"
echo "== ruff format"; .venv/bin/ruff format --check "${paths[@]}"
echo "== mypy"; .venv/bin/mypy
if [ "${1:-}" = "--lint-only" ]; then exit 0; fi
echo "== pytest"
# pytest exits 5 when it collects nothing; that is a failure here, as any non-zero code is.
exec .venv/bin/pytest "$@"
