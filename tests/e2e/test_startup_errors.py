"""A server that cannot start says why in one line and exits 1, with no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import RunningServer, free_port


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gatewise", "serve", "--log-level", "WARNING", *args]
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


def refused(done: subprocess.CompletedProcess[str], message: str) -> None:
    """One ``error:`` line saying ``message``, exit status 1, no traceback."""
    assert done.returncode == 1, done.stderr
    assert f"error: {message}" in done.stderr
    assert "Traceback" not in done.stderr


def test_tls_certificate_without_its_key(tmp_path: Path) -> None:
    cert = tmp_path / "server.pem"
    cert.write_text("not read: the missing key is reported first\n")
    done = serve("--repository", str(tmp_path), "--grpc-port", str(free_port()), "--tls-cert", str(cert))
    refused(done, "TLS needs both tls_cert and tls_key")


def test_unreadable_tls_file(tmp_path: Path) -> None:
    done = serve("--repository", str(tmp_path), "--grpc-port", str(free_port()),
                 "--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(tmp_path / "nope.key"))  # fmt: skip
    refused(done, f"tls_key {tmp_path / 'nope.key'}: cannot read (No such file or directory)")


def test_auth_keys_file_that_is_not_toml(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text("[[keys]]\nname = \n")
    keys.chmod(0o600)
    done = serve("--repository", str(tmp_path), "--grpc-port", str(free_port()), "--auth-keys-file", str(keys))
    refused(done, f"{keys}: not valid TOML")


def test_auth_keys_file_with_a_bad_entry(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text('[[keys]]\nname = "alice"\nsha256 = "abc"\nmodels = ["*"]\n')
    keys.chmod(0o600)
    done = serve("--repository", str(tmp_path), "--grpc-port", str(free_port()), "--auth-keys-file", str(keys))
    refused(done, f"{keys}: keys[0].sha256 ('alice') must be 64 hex digits")


def test_missing_jwt_public_key(tmp_path: Path) -> None:
    key = tmp_path / "jwt.pem"
    done = serve("--repository", str(tmp_path), "--grpc-port", str(free_port()), "--jwt-public-key", str(key))
    refused(done, f"jwt_public_key {key}: cannot read (No such file or directory)")


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``error:`` line of a refused start."""
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_every_interface_without_authentication_is_refused(tmp_path: Path) -> None:
    """0.0.0.0 with no keys, JWT or client CA: one error line that names the opt-out flag."""
    done = serve("--repository", str(tmp_path), "--grpc-port", str(free_port()), "--host", "0.0.0.0")
    line = one_error_line(done)
    assert "refusing to serve 0.0.0.0 without authentication" in line and "--allow-unauthenticated" in line


def test_exposure_is_checked_once_before_workers_start(tmp_path: Path) -> None:
    """With several workers, still one error line from the parent (not one per worker)."""
    port = str(free_port())
    done = serve("--repository", str(tmp_path), "--grpc-port", port, "--host", "::", "--workers", "2")
    assert "--allow-unauthenticated" in one_error_line(done)
    assert "exited with an error" not in done.stderr


def test_repository_control_without_any_administrator_is_refused(tmp_path: Path) -> None:
    done = serve("--repository", str(tmp_path), "--grpc-port", str(free_port()), "--repository-control")
    assert "--repository-control needs an administrator" in one_error_line(done)


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text("")
    keys.chmod(0o644)
    done = serve("--repository", str(tmp_path), "--grpc-port", str(free_port()), "--auth-keys-file", str(keys))
    refused(done, f"auth_keys_file {keys} is readable by others (mode 0644): run chmod 600 {keys}")


def test_a_tls_private_key_others_may_read_is_refused(tmp_path: Path) -> None:
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    cert.write_text("not read: the key is checked first\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o604)
    done = serve("--repository", str(tmp_path), "--grpc-port", str(free_port()),
                 "--tls-cert", str(cert), "--tls-key", str(key))  # fmt: skip
    refused(done, f"tls_key {key} is readable by others (mode 0604)")
