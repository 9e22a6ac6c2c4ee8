#!/usr/bin/env bash
# Re-pin the development, test and demo environment (requirements/dev.txt) from requirements/dev.in
# and the ranges in pyproject.toml. Run it on purpose (a dependency update is a commit of its
# own), then `bash scripts/test.sh`. Library users are unaffected: pyproject.toml keeps ranges.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
tool=$(mktemp -d)
trap 'rm -rf "$tool"' EXIT
python3 -m pip install --quiet --target "$tool" "uv==$UV_VERSION"
# --find-links: where pip finds the CPU torch wheel on these machines (pip.conf's find-links).
"$tool/bin/uv" pip compile requirements/dev.in --output-file requirements/dev.txt --python-version 3.11 \
  --index-strategy unsafe-best-match --find-links "${PIP_FIND_LINKS:-/opt/wheels}" --no-header "$@"
