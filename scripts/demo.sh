#!/usr/bin/env bash
# The main job on a fresh machine: set up, then build the demo repository (fine-tune, convert,
# validate; reused once built), serve it and call every demo model over gRPC.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/gatewise demo --repository demo-models "$@"
