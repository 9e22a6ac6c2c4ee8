"""A container engine for the image tests: podman, or docker where a daemon answers.

On this project's machines ``../shared/tools/podman-here setup`` installs podman, and
``eval "$(podman-here env)"`` points it at a configuration that works here (host network,
base images built locally under their upstream names); .ci/run does both.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from conftest import free_port, triton_ready


def find_engine() -> tuple[str | None, str]:
    """The engine's command, or None and why there is none."""
    reasons = []
    for command in ("podman", "docker"):
        if shutil.which(command) is None:
            reasons.append(f"no {command} on PATH")
            continue
        probe = subprocess.run([command, "info"], capture_output=True, text=True, timeout=60)
        if probe.returncode == 0:
            return command, ""
        last_line = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        reasons.append(f"`{command} info` failed: {last_line}")
    return None, "; ".join(reasons)


@dataclass
class Engine:
    command: str

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([self.command, *args], capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            raise AssertionError(f"{self.command} {' '.join(args)} exited {result.returncode}:\n{output}")
        return result

    def build(
        self, tag: str, context: Path, containerfile: Path | None = None, *build_args: str, timeout: float = 900
    ) -> float:
        """Build ``tag`` (with the context's own Containerfile/Dockerfile unless one is given); seconds it took."""
        started = time.monotonic()
        args = [f"--build-arg={arg}" for arg in build_args]
        if containerfile is not None:
            args += ["--file", str(containerfile)]
        self.run("build", "--tag", tag, *args, str(context), timeout=timeout)
        return time.monotonic() - started

    def start(self, name: str, image: str, port: int, metrics_port: int, *options: str) -> Container:
        """Run ``image`` detached with the gRPC and metrics ports moved to free host ports.

        The ports are set inside the container too: under podman-here the container shares
        the host's network, where publishing does nothing and the server's own port is the one.
        """
        self.run("rm", "--force", name, check=False)
        self.run(
            "run", "--detach", "--name", name,
            "--env", f"GATEWISE_GRPC_PORT={port}", "--env", f"GATEWISE_METRICS_PORT={metrics_port}",
            # The image listens on every interface and refuses to without authentication; here
            # its ports are published on loopback only and the test is the one client.
            "--env", "GATEWISE_ALLOW_UNAUTHENTICATED=true",
            "--publish", f"127.0.0.1:{port}:{port}", "--publish", f"127.0.0.1:{metrics_port}:{metrics_port}",
            *options, image,
        )  # fmt: skip
        return Container(self, name, port, metrics_port)

    @contextmanager
    def serving(self, name: str, image: str, *options: str) -> Iterator[Container]:
        """``start`` on free ports, wait until ready; the container is removed afterwards, pass or fail."""
        container = self.start(name, image, free_port(), free_port(), *options)
        try:
            container.wait_until(triton_ready)
            yield container
        finally:
            container.remove()


@dataclass
class Container:
    engine: Engine
    name: str
    port: int
    metrics_port: int

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def state(self, field: str) -> str:
        return self.engine.run("inspect", "--format", f"{{{{.State.{field}}}}}", self.name).stdout.strip()

    def logs(self) -> str:
        result = self.engine.run("logs", self.name, check=False)
        return result.stdout + result.stderr

    def exec(self, *command: str) -> subprocess.CompletedProcess:
        return self.engine.run("exec", self.name, *command, check=False)

    def stop(self, timeout_s: int) -> float:
        """``stop`` (the image's STOPSIGNAL, then SIGKILL after ``timeout_s``); seconds it took."""
        started = time.monotonic()
        self.engine.run("stop", "--time", str(timeout_s), self.name, timeout=timeout_s + 60)
        return time.monotonic() - started

    def remove(self) -> None:
        self.engine.run("rm", "--force", self.name, check=False)

    def wait_until(self, ready, timeout: float = 90) -> None:
        """Poll ``ready(url)`` until true; fail with the log if the container exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state("Running") != "true":
                raise AssertionError(f"container {self.name} exited {self.state('ExitCode')}:\n{self.logs()}")
            if ready(self.url):
                return
            time.sleep(0.25)
        raise AssertionError(f"container {self.name} not ready within {timeout} s:\n{self.logs()}")
