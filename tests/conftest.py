"""Fixtures shared by every test folder: tiny real repositories and a real server process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gatewise_lab.serving import free_port, serve_command

sys.path.insert(0, str(Path(__file__).parent))

from gpu_hardware import require_gpu
from models import build_repository

ROOT = Path(__file__).resolve().parent.parent

# Servers in tests serve no HTTP unless a test asks (--http-port / http_port=...): the default
# port 8000 would collide between servers started at once, here and by other test runs.
os.environ["GATEWISE_HTTP_PORT"] = "0"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that takes the ``gpu`` fixture is a GPU test: ``-m gpu`` selects it, ``-m "not gpu"`` leaves it."""
    for item in items:
        if "gpu" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.gpu)


@pytest.fixture
def gpu() -> int:
    """How many GPUs the CUDA runtime sees: skips without a GPU, fails on a GPU the runtime cannot use."""
    return require_gpu()


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A fresh model repository: tiny-sentiment, add-one and broken."""
    return build_repository(tmp_path / "models")


@dataclass
class AdminKey:
    """A key file with one administrator key, for servers whose tests load and unload models:
    repository control is off by default and only an authenticated admin may use it."""

    path: Path
    token: str

    @property
    def flags(self) -> tuple[str, ...]:
        """``gatewise serve`` flags that turn repository control on for this key."""
        return ("--repository-control", "--auth-keys-file", str(self.path))

    @property
    def settings(self) -> dict[str, object]:
        """The same as ``ServerSettings`` fields."""
        return {"repository_control": True, "auth_keys_file": self.path}

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)


def write_admin_key(folder: Path) -> AdminKey:
    """A fresh admin key that may call every model, in an owner-only key file under ``folder``."""
    from gatewise.gateway.security import hash_key, new_token
    from gatewise.gateway.security.keys import entry_toml

    token = new_token()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "admin-keys.toml"
    path.write_text(entry_toml("ops", hash_key(token), ["*"], admin=True))
    path.chmod(0o600)
    return AdminKey(path, token)


@dataclass
class RunningServer:
    """A ``gatewise serve`` process on loopback, with its address and log file."""

    process: subprocess.Popen
    port: int
    repository: Path
    log_path: Path
    metrics_port: int | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        """Its Prometheus endpoint (started with ``metrics=True``)."""
        assert self.metrics_port is not None, "this server was started without metrics=True"
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, wait, and the exit status (killed after ``timeout``)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def request_finished_event(**changes: object) -> dict[str, object]:
    """The keywords of one ``gatewise_request_finished`` call as the servicer passes them; ``changes`` replace some."""
    event = dict(model_name="m", model_version="1", request_id="r", principal="anonymous", principal_via="none")
    return event | dict(status="OK", rows=1, duration_s=0.01, method="ModelInfer") | changes


def triton_ready(url: str) -> bool:
    """Whether the server at ``url`` answers ServerReady with true (through tritonclient)."""
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(url)
    try:
        return bool(client.is_server_ready())
    except Exception:  # noqa: BLE001 - not listening yet
        return False
    finally:
        client.close()


def start_server(
    repository: Path,
    log_path: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    ready: Callable[[str], bool] = triton_ready,
    preexec_fn: Callable[[], None] | None = None,
    metrics: bool = False,
) -> RunningServer:
    """Start the real CLI and wait (60 s at most) until ``ready(url)`` says the server is ready;
    with ``metrics``, its Prometheus endpoint on a free port too (``metrics_url``)."""
    port = free_port()
    metrics_port = free_port() if metrics else None
    metrics_flags = ("--metrics-port", str(metrics_port)) if metrics_port else ()
    log_file = log_path.open("w")
    process = subprocess.Popen(
        serve_command(repository, port, *metrics_flags, *extra),
        cwd=ROOT,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        preexec_fn=preexec_fn,
    )
    server = RunningServer(process, port, repository, log_path, metrics_port)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        if ready(server.url):
            return server
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server not ready within 60 s:\n{server.log()}")


def check_unload_then_load(client: object, model: str, headers: dict[str, str]) -> None:
    """Through a tritonclient client (gRPC or HTTP, same methods): unloading makes ``model``
    unavailable and its metadata an error naming that, loading brings it back ready."""
    from tritonclient.utils import InferenceServerException

    client.unload_model(model, headers=headers)
    assert not client.is_model_ready(model, headers=headers)
    with pytest.raises(InferenceServerException, match="not ready"):
        client.get_model_metadata(model, headers=headers)
    client.load_model(model, headers=headers)
    assert client.is_model_ready(model, headers=headers)


def check_unload_is_refused(client: object, model: str) -> Exception:
    """Without --repository-control an unload is refused naming the flag and ``model`` stays
    ready; the error, for the caller to check its protocol's status code."""
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException, match="--repository-control") as info:
        client.unload_model(model)
    assert client.is_model_ready(model)
    return info.value


def stop_server(server: RunningServer) -> int:
    return server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real server per test module, serving the tiny repository."""
    root = tmp_path_factory.mktemp("served")
    running = start_server(build_repository(root / "models"), root / "server.log")
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    """One real server per test module with its HTTP port open too: the server and its HTTP "host:port"."""
    root = tmp_path_factory.mktemp("served-http")
    port = free_port()
    running = start_server(build_repository(root / "models"), root / "server.log", "--http-port", str(port))
    yield running, f"127.0.0.1:{port}"
    stop_server(running)


@pytest.fixture
def client(server: RunningServer) -> Iterator[object]:
    """A tritonclient gRPC client to the module's ``server`` (a module may define its own ``client``)."""
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(server.url)
    yield client
    client.close()
