"""The replica check with containers of the serving image: three replicas behind one
round_robin channel, one stopped with SIGTERM and one with SIGKILL under load."""

from __future__ import annotations

from deploy.containers import Engine
from reliability.test_replicas import run_replicas


def test_sigterm_and_sigkill_of_containers_under_load(engine: Engine, image: str) -> None:
    report = run_replicas("--image", image, "--engine", engine.command)
    assert f"3 containers of {image}" in report
