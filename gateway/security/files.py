"""Reading secrets from disk: refused, as ssh and PostgreSQL do, when others could read them.

A private key or key file must grant nothing to "other", and nothing to its group unless
root owns it (the PostgreSQL rule: a secret mounted by the platform, such as a Kubernetes
Secret volume with ``defaultMode: 0440`` and an ``fsGroup``, is root's and group-readable).
There is no opt-out: ``chmod 600`` fixes it, and a secret that was readable may already be
copied. Public material (certificates, CA bundles, JWT public keys, JWKS) is not checked.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gatewise.protos.errors import StartupError


def check_private(setting: str, path: Path) -> None:
    """StartupError, naming the setting, the mode and the fix, when ``path`` is too readable."""
    try:
        info = path.stat()
    except OSError:
        return  # the reader says what is wrong with a missing or unreadable file
    if os.name != "posix":
        return
    mode = stat.S_IMODE(info.st_mode)
    exposed = mode & (0o007 if info.st_uid == 0 else 0o077)
    if exposed:
        who = "others" if mode & 0o007 else "its group"
        raise StartupError(
            f"{setting} {path} is readable by {who} (mode {mode:04o}): run chmod 600 {path} "
            "(a root-owned file may be 0640); see docs/security.md"
        )


def read_private(setting: str, path: Path) -> bytes:
    """The bytes of a secret file, after ``check_private``."""
    check_private(setting, path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StartupError(f"{setting} {path}: cannot read ({exc.strerror})") from exc
