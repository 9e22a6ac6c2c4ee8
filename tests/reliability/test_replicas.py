"""Three replicas behind one round_robin channel: a SIGTERM loses nothing, a SIGKILL at most
what was in flight (scripts/replicas.py, bounded to a few seconds of load). The same run
with containers of the serving image is in tests/deploy/test_replicas_containers.py."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT


def run_replicas(*flags: str) -> str:
    """scripts/replicas.py with 6 s of load; its report, after checking the targets it states."""
    result = subprocess.run(
        [sys.executable, "scripts/replicas.py", "--seconds", "6", *flags],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    report = result.stdout
    assert result.returncode == 0, report + result.stderr[-3000:]
    sent, answered = map(int, re.search(r"sent (\d+), answered (\d+)", report).groups())
    assert sent > 100 and answered <= sent, report
    assert "lost around the SIGTERM (or any time but the SIGKILL): 0" in report
    lost_to_kill, bound = map(int, re.search(r"lost to the SIGKILL: (\d+); .*came: (\d+)", report).groups())
    assert lost_to_kill <= bound and sent - answered == lost_to_kill, report
    assert "replica 0 exit status after SIGTERM: 0; replica 1 after SIGKILL: -9" in report
    return report


@pytest.mark.parametrize("drain_delay", ["1.0", "0"])
def test_sigterm_and_sigkill_under_load(drain_delay: str) -> None:
    assert "3 processes" in run_replicas("--drain-delay", drain_delay)
