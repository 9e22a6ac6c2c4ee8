"""Fixtures for the deployment tests: a container engine, the serving image built from the
repository's Containerfile (once per session; the engine caches its layers) and the
interpreter of the kserve SDK's own environment."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import ROOT
from deploy.containers import Engine, find_engine
from deploy.kserve_env import kserve_python

IMAGE = "localhost/gatewise:deploy-test"


@pytest.fixture(scope="session")
def engine() -> Engine:
    command, reason = find_engine()
    if command is None:
        message = f"no container engine: {reason} (run ../shared/tools/podman-here setup where it exists)"
        if os.environ.get("GATEWISE_REQUIRE_CONTAINERS") == "1":
            pytest.fail(message)  # .ci/run set up podman: a skip here would hide a broken setup
        pytest.skip(message)
    return Engine(command)


UNREACHABLE = re.compile(r"CERTIFICATE_VERIFY_FAILED|Could not fetch URL|Temporary failure in name resolution")
"""An image build that could not reach the package index from inside its container."""


@pytest.fixture(scope="session")
def image(engine: Engine) -> str:
    """The serving image, built from the working tree as `podman build .` builds it (no --file).

    An engine that cannot reach the package index from its build containers (podman without
    podman-here's configuration on these machines, whose registries only the host's CA bundle
    trusts) is a missing tool, as no engine is: a skip, or a failure under GATEWISE_REQUIRE_CONTAINERS.
    """
    try:
        seconds = engine.build(IMAGE, ROOT)
    except AssertionError as exc:
        unreachable = UNREACHABLE.search(str(exc))
        if unreachable is None or os.environ.get("GATEWISE_REQUIRE_CONTAINERS") == "1":
            raise
        pytest.skip(
            f"the image build could not reach the package index from inside its container ({unreachable[0]}); "
            'on these machines run `eval "$(../shared/tools/podman-here env)"` first, as .ci/run does'
        )
    print(f"\nbuilt {IMAGE} in {seconds:.1f} s")
    return IMAGE


@pytest.fixture(scope="session")
def kserve() -> Path:
    """The kserve environment's python (made on first use, about a minute)."""
    return kserve_python()
