#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up, then pytest (extra arguments pass through).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
