#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up, lint, then pytest (extra arguments pass through).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# Lint first (seconds): the configured rules and line length, and the formatter's layout.
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
