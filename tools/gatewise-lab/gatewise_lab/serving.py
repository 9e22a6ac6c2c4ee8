"""``gatewise serve`` in a child process, as the demo, the bench and the tests (``tests/conftest.py``)
start it: one command line, one way to find a free port."""

from __future__ import annotations

import socket
import sys
from pathlib import Path


def free_port() -> int:
    """A loopback port free right now, for a server started next."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_command(repository: Path, grpc_port: int, *flags: str) -> list[str]:
    """The command line that serves ``repository`` with gRPC on ``grpc_port`` (``flags``: more serve options)."""
    return [
        sys.executable,
        "-m",
        "gatewise",
        "serve",
        "--repository",
        str(repository),
        "--grpc-port",
        str(grpc_port),
        *flags,
    ]
