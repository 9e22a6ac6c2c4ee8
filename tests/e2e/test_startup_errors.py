"""A server that cannot start says why in one line and exits 1, with no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import RunningServer, free_port


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateway.cli", "serve", "--log-level", "WARNING", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_missing_repository(tmp_path: Path) -> None:
    done = serve("--repository", str(tmp_path / "nowhere"), "--grpc-port", str(free_port()))
    assert done.returncode == 1
    assert f"error: model repository {tmp_path / 'nowhere'} is not a folder" in done.stderr
    assert "Traceback" not in done.stderr


def test_port_already_taken(server: RunningServer) -> None:
    done = serve("--repository", str(server.repository), "--grpc-port", str(server.port))
    assert done.returncode == 1
    assert f"error: cannot listen on 127.0.0.1:{server.port}" in done.stderr
    assert "Traceback" not in done.stderr and "Event loop is closed" not in done.stderr


def test_a_worker_that_cannot_start_fails_the_whole_server(server: RunningServer) -> None:
    done = serve("--repository", str(server.repository), "--grpc-port", str(server.port), "--workers", "2")
    assert done.returncode == 1
    assert "exited with an error" in done.stderr
    assert "cannot listen on" in done.stderr
