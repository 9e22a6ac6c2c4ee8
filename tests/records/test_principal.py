"""With authentication on, a record names the caller the interceptor proved and how, never the token."""

from __future__ import annotations

from pathlib import Path

from gatewise.gateway.security import hash_key, new_token
from gatewise.gateway.security.keys import entry_toml

from conftest import start_server, stop_server
from models import write_classifier
from records.support import ask, sqlite_rows, wait_for


def test_a_record_names_the_authenticated_principal_and_never_holds_its_token(tmp_path: Path) -> None:
    repository = tmp_path / "models"
    folder = write_classifier(repository, "tiny-finance", plugin="finance")
    (folder / "config.toml").write_text((folder / "config.toml").read_text() + "\n[records]\n")
    token = new_token()
    (tmp_path / "keys.toml").write_text(entry_toml("alice", hash_key(token), ["tiny-*"], admin=False))
    (tmp_path / "keys.toml").chmod(0o600)  # the server refuses a key file others may read
    server = start_server(
        repository,
        tmp_path / "server.log",
        "--records",
        str(tmp_path / "records"),
        "--auth-keys-file",
        str(tmp_path / "keys.toml"),
        ready=lambda url: True,
    )
    try:
        wait_for(lambda: _answers(server.url, token), "an authenticated answer")
        [record] = wait_for(lambda: sqlite_rows(tmp_path / "records"), "the record")
    finally:
        assert stop_server(server) == 0
    assert (record["principal"], record["auth"]) == ("alice", "key")
    stored = b"".join(path.read_bytes() for path in (tmp_path / "records").iterdir())
    assert token.encode() not in stored


def _answers(url: str, token: str) -> bool:
    from tritonclient.utils import InferenceServerException

    try:
        ask(url, "tiny-finance", "good", request_id="alice-1", headers={"authorization": f"Bearer {token}"})
    except InferenceServerException:
        return False
    return True
