"""The hashed key file and the command that makes keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from gatewise.gateway.security import Authenticator, hash_key, load_keys
from gatewise.gateway.security.keys import keys_app
from gatewise.gateway.security.tokens import JwtPolicy, JwtVerifier
from gatewise.protos.errors import AuthError, KeyFileError, StartupError
from typer.testing import CliRunner

GOOD = 'name = "alice"\nsha256 = "' + "a" * 64 + '"\nmodels = ["finance-*"]\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    return path


def test_new_key_appends_only_its_hash_and_authenticates(tmp_path: Path) -> None:
    """The printed key is never written; its SHA-256 is, and that key then proves 'alice'."""
    path = tmp_path / "keys.toml"
    result = CliRunner().invoke(keys_app, ["new", "alice", "--models", "finance-*", "--file", str(path)])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("gw_") and token not in path.read_text()
    assert hash_key(token) in path.read_text()
    principal = Authenticator(load_keys(path)).authenticate([("authorization", f"Bearer {token}")])
    assert principal.name == "alice" and principal.allows("finance-sentiment") and not principal.allows("medical-ner")
    again = CliRunner().invoke(keys_app, ["new", "alice", "--models", "*", "--file", str(path)])
    assert again.exit_code != 0 and "already has a key named 'alice'" in again.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[keys]]\n" + GOOD.replace("a" * 64, "abc"), r"keys\[0\].sha256 \('alice'\) must be 64 hex digits"),
        ("[[keys]]\n" + GOOD + "token = 'x'\n", r"unknown field\(s\) \['token'\]"),
        ("[[keys]]\n" + GOOD.replace('["finance-*"]', '"finance-*"'), r"models \('alice'\) must be a list"),
        ("[[keys]]\n" + GOOD + "\n[[keys]]\n" + GOOD.replace("a" * 64, "b" * 64), "name 'alice' is used twice"),
        ("[[keys]]\nname = ", "not valid TOML"),
        ("[admin]\n", r"expected only \[\[keys\]\] tables"),
    ],
)
def test_bad_key_files_name_the_entry_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message):
        load_keys(write(tmp_path, text))


def test_missing_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="auth keys file does not exist"):
        load_keys(tmp_path / "nope.toml")


def test_jwt_key_must_be_a_pem_public_key(tmp_path: Path) -> None:
    path = tmp_path / "jwt.pem"
    path.write_bytes(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    with pytest.raises(StartupError, match=f"jwt_public_key {path} is not a PEM public key"):
        JwtVerifier.from_files(path, None, JwtPolicy())


def test_a_jwt_shaped_token_without_a_jwt_key_is_an_unknown_key(tmp_path: Path) -> None:
    authenticator = Authenticator(load_keys(write(tmp_path, "[[keys]]\n" + GOOD)))
    with pytest.raises(AuthError, match="unknown API key"):
        authenticator.authenticate([("authorization", "Bearer a.b.c")])
