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


BASE_IMAGE = re.search(r"^ARG BASE_IMAGE=(\S+)", (ROOT / "Containerfile").read_text(), re.MULTILINE)[1]
"""The serving image's base: the image the probe runs (the build needs it anyway)."""


@pytest.fixture(scope="session")
def engine() -> Engine:
    """An engine that can run a container on this host: podman without podman-here's configuration
    on these machines (a clone away from ../shared) is installed but cannot start one, which is a
    missing tool as much as no engine is."""
    command, reason = find_engine()
    if command is not None:
        probe = Engine(command).run("run", "--rm", BASE_IMAGE, "true", check=False, timeout=300)
        if probe.returncode == 0:
            return Engine(command)
        last_line = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        reason = f"`{command} run {BASE_IMAGE} true` failed: {last_line}"
    message = f'no usable container engine: {reason} (on these machines: eval "$(../shared/tools/podman-here env)")'
    if os.environ.get("GATEWISE_REQUIRE_CONTAINERS") == "1":
        pytest.fail(message)  # .ci/run set up podman: a skip here would hide a broken setup
    pytest.skip(message)


UNREACHABLE = re.compile(r"CERTIFICATE_VERIFY_FAILED|Could not fetch URL|Temporary failure in name resolution")
"""An image build that could not reach the package index from inside its container."""


@pytest.fixture(scope="session")
def image(engine: Engine) -> str:
    """The serving image, built from the working tree as `podman build .` builds it (no --file).

    An engine whose build containers cannot reach the package index (an offline host) is a missing
    tool, as no engine is: a skip, or a failure under GATEWISE_REQUIRE_CONTAINERS.
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
