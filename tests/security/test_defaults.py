"""Secure by default: repository control off, the anonymous caller never an administrator,
certificate holders admin only by name, RepositoryIndex by what the caller may see, metrics
on loopback, secrets others may read refused, keys never hashed from argv."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import grpc
import pytest
from gatewise.gateway.security import ANONYMOUS, check_exposure, hash_key, is_loopback
from gatewise.gateway.security.files import check_private
from gatewise.gateway.security.keys import keys_app
from gatewise.gateway.settings import ServerSettings
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos.errors import StartupError
from typer.testing import CliRunner

from conftest import free_port
from security.conftest import Keys
from security.harness import Pki, bearer, serving, start_cli, stub

DENIED = grpc.StatusCode.PERMISSION_DENIED


async def status_of(call) -> tuple[grpc.StatusCode, str]:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details()
    return grpc.StatusCode.OK, ""


def unload(name: str = "add-one") -> pb.RepositoryModelUnloadRequest:
    return pb.RepositoryModelUnloadRequest(model_name=name)


async def test_without_authentication_nobody_loads_or_unloads(repository: Path) -> None:
    """The default server: load/unload refused, naming the flag; every model still serves."""
    assert not ANONYMOUS.admin
    async with serving(repository) as server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        client = stub(channel)
        load = pb.RepositoryModelLoadRequest(model_name="add-one")
        for call in (client.RepositoryModelUnload(unload(), timeout=10), client.RepositoryModelLoad(load, timeout=10)):
            code, details = await status_of(call)
            assert code == DENIED and "repository control is off" in details and "--repository-control" in details
        assert (await client.ModelReady(pb.ModelReadyRequest(name="add-one"), timeout=10)).ready


async def test_repository_control_off_refuses_even_an_admin_key(repository: Path, keys: Keys) -> None:
    async with serving(repository, auth_keys_file=keys.path) as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            code, details = await status_of(stub(channel).RepositoryModelUnload(unload(), metadata=bearer(keys.admin)))
            assert code == DENIED and "--repository-control" in details


async def test_a_key_named_anonymous_with_admin_may_load(repository: Path, tmp_path: Path) -> None:
    """Admin follows the credential, not the name: a real key named "anonymous" is what its entry says."""
    from gatewise.gateway.security import new_token
    from gatewise.gateway.security.keys import entry_toml

    token = new_token()
    path = tmp_path / "keys.toml"
    path.write_text(entry_toml("anonymous", hash_key(token), ["*"], admin=True))
    path.chmod(0o600)
    async with serving(repository, auth_keys_file=path, repository_control=True) as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            assert (await status_of(stub(channel).RepositoryModelUnload(unload(), metadata=bearer(token))))[0] == (
                grpc.StatusCode.OK
            )


@pytest.mark.parametrize(("admins", "allowed"), [([], False), (["bob"], False), (["alice"], True)])
async def test_certificate_holders_are_admin_only_by_name(
    repository: Path, pki: Pki, admins: list[str], allowed: bool
) -> None:
    """Mutual TLS and no keys: the client certificate (CN alice) may infer; it may unload only
    when --tls-admin-clients names it (and repository control is on)."""
    settings = dict(tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca)
    if admins:
        settings |= dict(repository_control=True, tls_admin_clients=admins)
    async with serving(repository, **settings) as server:
        target = f"127.0.0.1:{server.port}"
        async with grpc.aio.secure_channel(target, pki.client_credentials(cert=True)) as channel:
            client = stub(channel)
            assert (await client.ModelReady(pb.ModelReadyRequest(name="add-one"), timeout=10)).ready
            code, details = await status_of(client.RepositoryModelUnload(unload(), timeout=30))
            assert (code == grpc.StatusCode.OK) is allowed, details
            if not allowed:
                assert code == DENIED and "principal 'alice'" in details


async def test_repository_index_shows_only_the_callers_models_without_paths(repository: Path, keys: Keys) -> None:
    """alice (add-one, tiny-*) sees only those; the admin sees broken too, its reason without
    the repository's absolute path."""
    async with serving(repository, auth_keys_file=keys.path) as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            client = stub(channel)
            alice = await client.RepositoryIndex(pb.RepositoryIndexRequest(), metadata=bearer(keys.alice))
            assert {model.name for model in alice.models} == {"add-one", "tiny-sentiment"}
            ops = await client.RepositoryIndex(pb.RepositoryIndexRequest(), metadata=bearer(keys.admin))
            reasons = {model.name: model.reason for model in ops.models}
    assert set(reasons) == {"add-one", "tiny-sentiment", "broken"}
    assert "max_queue_delay_ms" in reasons["broken"]
    root = str(repository.resolve())
    assert all(root not in reason and str(repository) not in reason for reason in reasons.values())


def test_paths_are_cut_from_reasons() -> None:
    from gatewise.gateway.security.views import without_paths

    roots = ("/srv/models/",)
    assert without_paths("/srv/models/broken/config.toml: bad field", roots) == "broken/config.toml: bad field"
    assert without_paths("cannot open /etc/secret/key.pem (denied)") == "cannot open <path> (denied)"
    assert without_paths("ratio 1/2, 3/4/5 rows") == "ratio 1/2, 3/4/5 rows"


def test_loopback_hosts() -> None:
    assert all(is_loopback(host) for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(host) for host in ("0.0.0.0", "::", "10.0.0.5", "gateway.internal"))


def test_exposure_rules(tmp_path: Path) -> None:
    """Non-loopback needs authentication or the opt-out, which is then warned about."""
    with pytest.raises(StartupError, match="--allow-unauthenticated"):
        check_exposure(ServerSettings(host="10.1.2.3"))
    mutual_tls = dict(tls_client_ca=tmp_path / "ca.pem", tls_cert=tmp_path / "s.crt", tls_key=tmp_path / "s.key")
    assert check_exposure(ServerSettings(host="0.0.0.0", **mutual_tls)) == []
    with pytest.raises(StartupError, match="--allow-unauthenticated"):  # a client CA alone is no TLS at all
        check_exposure(ServerSettings(host="0.0.0.0", tls_client_ca=tmp_path / "ca.pem"))
    [warning] = check_exposure(ServerSettings(host="0.0.0.0", allow_unauthenticated=True))
    assert "a mesh or proxy must authenticate callers" in warning
    assert check_exposure(ServerSettings()) == []


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (Linux /proc/net/tcp and tcp6)."""
    addresses = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        path = Path("/proc/net") / table
        for line in path.read_text().splitlines()[1:] if path.exists() else []:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                raw = bytes.fromhex(address)
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # host-order words
                addresses.add(socket.inet_ntop(family, words))
    return addresses


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_metrics_stay_on_loopback_when_grpc_serves_every_interface(repository: Path, tmp_path: Path) -> None:
    """--host 0.0.0.0 (with the opt-out) and --metrics-port: metrics bind 127.0.0.1 unless
    --metrics-host says otherwise."""
    metrics_port = free_port()
    server = start_cli(repository, tmp_path / "server.log", "--host", "0.0.0.0", "--allow-unauthenticated",
                       "--metrics-port", str(metrics_port))  # fmt: skip
    try:
        assert listening_addresses(metrics_port) == {"127.0.0.1"}
        assert listening_addresses(server.port) & {"0.0.0.0", "::"}
        assert "--allow-unauthenticated" in server.log()
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("mode", "owner", "refused"),
    [(0o600, None, None), (0o400, None, None), (0o644, None, "others"), (0o604, None, "others"),
     (0o640, 65534, "its group"), (0o440, 0, None), (0o660, 0, None)],
)  # fmt: skip
def test_secret_files_others_may_read_are_refused(
    tmp_path: Path, mode: int, owner: int | None, refused: str | None
) -> None:
    """The PostgreSQL rule: nothing for others; group read only where root owns the file."""
    path = tmp_path / "secret"
    path.write_text("x")
    if owner is not None:
        if os.geteuid() != 0:
            pytest.skip("changing a file's owner needs root")
        os.chown(path, owner, -1)
    path.chmod(mode)
    if refused is None:
        check_private("tls_key", path)
    else:
        with pytest.raises(StartupError, match=rf"tls_key {path} is readable by {refused} \(mode 0{mode:o}\)"):
            check_private("tls_key", path)


def test_keys_hash_reads_stdin_never_argv() -> None:
    runner = CliRunner()
    done = runner.invoke(keys_app, ["hash"], input="gw_secret\n")
    assert done.exit_code == 0 and done.stdout.strip() == hash_key("gw_secret")
    refused = runner.invoke(keys_app, ["hash", "gw_secret"])
    assert refused.exit_code == 2 and "never the command line" in refused.output
    assert hash_key("gw_secret") not in refused.output
    assert runner.invoke(keys_app, ["hash"], input="\n").exit_code == 2


def test_keys_new_creates_an_owner_only_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    done = CliRunner().invoke(keys_app, ["new", "alice", "--models", "*", "--file", str(path)])
    assert done.exit_code == 0, done.output
    assert path.stat().st_mode & 0o777 == 0o600
    check_private("auth_keys_file", path)
