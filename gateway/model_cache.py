"""Folders for what Gatewise derives from a model file, kept outside the model repository.

Inside a version folder, every cache write looked like a changed model to the repository
watcher, and a read-only repository (a mounted volume) could not load at all. A folder is
keyed by the model file's resolved path, size and mtime, so a replaced model never meets
stale files.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def model_cache_dir(kind: str, source: Path, salt: str = "") -> Path:
    """A writable folder for ``kind`` (``weights``, ``trt-ep``) of the model file ``source``.

    ``$XDG_CACHE_HOME`` (else ``~/.cache``) /gatewise/KIND, or ``gatewise-KIND`` in the system
    temp folder when that cannot be written; OSError when neither can. ``salt`` joins the key
    (a format version, so a new layout never reads an old one).
    """
    stat = source.stat()
    key = "|".join([*([salt] if salt else []), str(source.resolve()), str(stat.st_size), str(stat.st_mtime_ns)])
    name = f"{source.parent.parent.name}-{source.parent.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gatewise" / kind
    for root in (base, Path(tempfile.gettempdir()) / f"gatewise-{kind}"):
        try:
            (root / name).mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(root / name, os.W_OK):
            return root / name
    raise OSError(f"no writable folder for the {kind} cache of {source} (tried {base} and the temp folder)")
