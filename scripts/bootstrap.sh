#!/usr/bin/env bash
# Set up a fresh machine (only Python needed): a virtual environment in .venv with Gatewise
# installed editable with its convert and test extras (torch pinned to the CPU build), the lab
# beside it (tools/gatewise-lab: `gatewise demo` and `gatewise bench`, kept out of the serving
# wheel; its bench extra adds shap for benchmarks/explanations.py), and what perf_analyzer needs to
# start (Debian's libb64, the CUDA runtime wheel's libcudart).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# One resolve for both, so the lab's `gatewise[convert]` requirement is met by this checkout.
.venv/bin/python -m pip install --quiet -e ".[convert,test]" -e "tools/gatewise-lab[bench]" nvidia-cuda-runtime-cu12
if ! ldconfig -p 2>/dev/null | grep -q libb64.so.0d; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq libb64-0d) >/dev/null 2>&1 \
      || echo "bootstrap: could not install libb64-0d; perf_analyzer tests will be skipped" >&2
  else
    echo "bootstrap: libb64-0d missing and not root; perf_analyzer tests will be skipped" >&2
  fi
fi
