"""Static API keys: a TOML file of SHA-256 hashes, never the keys themselves.

    [[keys]]
    name = "alice"                 # the principal audit logs record
    sha256 = "9f86d0..."           # hex SHA-256 of the key the client sends
    models = ["finance-*"]         # glob patterns of the models it may call
    admin = false                  # may it load/unload models (optional)

Keys are 256-bit random tokens, so one SHA-256 is enough: there is nothing to brute
force, and unlike bcrypt it costs microseconds per request. A leaked file gives no key.

New key: ``gatewise keys new alice --models 'finance-*' --file keys.toml`` prints the key
once and appends its hash to the file (created readable by its owner only: the server
refuses a key file others may read). ``gatewise keys hash`` reads an existing key from stdin
or a hidden prompt, never from the command line (where shell history and ``ps`` keep it).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import string
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer
from gatewise.gateway.security.principal import Principal
from gatewise.protos.errors import KeyFileError

TOKEN_PREFIX = "gw_"
_FIELDS = {"name", "sha256", "models", "admin"}


def hash_key(token: str) -> str:
    """The hex SHA-256 a key file stores for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh key: the prefix (so scanners can spot leaked keys) and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def load_keys(path: Path) -> dict[str, Principal]:
    """SHA-256 hex -> Principal for every entry; KeyFileError names the entry and field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise KeyFileError(path, "auth keys file does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise KeyFileError(path, f"not valid TOML: {exc}") from exc
    entries = data.get("keys", [])
    unknown = sorted(set(data) - {"keys"})
    if unknown or not isinstance(entries, list):
        raise KeyFileError(path, f"expected only [[keys]] tables, found {unknown or type(entries).__name__}")
    keys: dict[str, Principal] = {}
    names: set[str] = set()
    for index, entry in enumerate(entries):
        principal, digest = _entry(path, index, entry)
        if principal.name in names:
            raise KeyFileError(path, f"keys[{index}]: name {principal.name!r} is used twice")
        if digest in keys:
            raise KeyFileError(path, f"keys[{index}]: the same key hash is given twice")
        names.add(principal.name)
        keys[digest] = principal
    return keys


def _entry(path: Path, index: int, entry: Any) -> tuple[Principal, str]:
    where = f"keys[{index}]"
    if not isinstance(entry, dict):
        raise KeyFileError(path, f"{where} must be a table")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise KeyFileError(path, f"{where}: unknown field(s) {unknown}; allowed: {sorted(_FIELDS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise KeyFileError(path, f"{where}.name must be a non-empty string")
    digest = entry.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64 or set(digest.lower()) - set(string.hexdigits.lower()):
        raise KeyFileError(path, f"{where}.sha256 ({name!r}) must be 64 hex digits, the SHA-256 of the key")
    models = entry.get("models", [])
    if not isinstance(models, list) or not all(isinstance(item, str) and item for item in models):
        raise KeyFileError(path, f"{where}.models ({name!r}) must be a list of model name patterns")
    admin = entry.get("admin", False)
    if not isinstance(admin, bool):
        raise KeyFileError(path, f"{where}.admin ({name!r}) must be true or false")
    return Principal(name, tuple(models), admin, via="key"), digest.lower()


def entry_toml(name: str, digest: str, models: list[str], admin: bool) -> str:
    """One ``[[keys]]`` table, as ``new`` appends it."""
    quoted = ", ".join(_quote(model) for model in models)
    lines = ["[[keys]]", f"name = {_quote(name)}", f'sha256 = "{digest}"', f"models = [{quoted}]"]
    if admin:
        lines.append("admin = true")
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


keys_app = typer.Typer(help="Create API keys for `gatewise serve --auth-keys-file`.", no_args_is_help=True)


@keys_app.command()
def new(
    name: Annotated[str, typer.Argument(help="Principal name recorded in audit logs.")],
    models: Annotated[list[str], typer.Option("--models", help="Model name pattern it may call (repeatable).")],
    admin: Annotated[bool, typer.Option(help="May load and unload models.")] = False,
    file: Annotated[Path | None, typer.Option(help="Append the hashed entry to this key file.")] = None,
) -> None:
    """Print a new key once (give it to the client) and its hashed entry for the key file."""
    token = new_token()
    entry = entry_toml(name, hash_key(token), models, admin)
    if file is not None:
        if file.exists():
            # Refuse to append to a file the server would reject.
            taken = {principal.name for principal in load_keys(file).values()}
            if name in taken:
                raise typer.BadParameter(f"{file} already has a key named {name!r}", param_hint="NAME")
        # Created owner-only (0600); an existing file keeps the mode its owner gave it.
        with open(os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a", encoding="utf-8") as handle:
            handle.write(("\n" if file.stat().st_size else "") + entry)
        typer.echo(f"appended {name!r} to {file}", err=True)
    else:
        typer.echo(entry, err=True)
    typer.echo(token)


@keys_app.command("hash")
def hash_command(
    token: Annotated[str | None, typer.Argument(hidden=True, help="Refused: pass the key on stdin.")] = None,
) -> None:
    """Print the SHA-256 a key file stores for an existing key, read from stdin or a hidden prompt."""
    if token is not None:
        typer.echo(
            "error: gatewise keys hash reads the key from stdin or a prompt, never the command line "
            '(shell history and ps would keep it): echo "$KEY" | gatewise keys hash',
            err=True,
        )
        raise typer.Exit(2)
    if sys.stdin.isatty():
        secret = typer.prompt("Key", hide_input=True)
    else:
        secret = sys.stdin.readline()
    secret = secret.strip()
    if not secret:
        typer.echo("error: no key given on stdin", err=True)
        raise typer.Exit(2)
    typer.echo(hash_key(secret))


if __name__ == "__main__":
    keys_app()
