"""SIGTERM drains and exits 0."""

from __future__ import annotations

import signal
from pathlib import Path

from conftest import start_server, stop_server
from models import build_repository


def test_sigterm_exits_cleanly(tmp_path: Path) -> None:
    server = start_server(build_repository(tmp_path / "models"), tmp_path / "server.log")
    server.process.send_signal(signal.SIGTERM)
    assert stop_server(server) == 0, server.log()
    assert "draining" in server.log() and "stopped" in server.log()
