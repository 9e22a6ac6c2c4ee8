"""Three replicas behind one round_robin channel: a SIGTERM loses nothing, a SIGKILL at most
what was in flight (scripts/replicas.py, bounded to a few seconds of load)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize("drain_delay", ["1.0", "0"])
def test_sigterm_and_sigkill_under_load(drain_delay: str) -> None:
    result = subprocess.run(
        [sys.executable, "scripts/replicas.py", "--seconds", "6", "--drain-delay", drain_delay],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    sent, answered = map(int, re.search(r"sent (\d+), answered (\d+)", result.stdout).groups())
    assert sent > 100 and answered <= sent, result.stdout
    assert "lost around the SIGTERM (or any time but the SIGKILL): 0" in result.stdout
    lost_to_kill, bound = map(int, re.search(r"lost to the SIGKILL: (\d+); .*came: (\d+)", result.stdout).groups())
    assert lost_to_kill <= bound and sent - answered == lost_to_kill, result.stdout
    assert "replica 0 exit status after SIGTERM: 0; replica 1 after SIGKILL: -9" in result.stdout
