"""What a caller may see of the repository: the models it may call, and no server paths.

RepositoryIndex would otherwise tell any token every model's name, and failure reasons
that carry absolute paths (where the repository lives, how the host is laid out). A
principal sees the rows of the models its patterns allow, with paths cut to the model's
own folder (``broken/config.toml``) or to ``<path>``. The server log keeps full reasons.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from gatewise.gateway.security.principal import ANONYMOUS, Principal

Row = tuple[str, str, str, str]
"""(name, version, state, reason), as ``ModelRepository.index`` lists them."""

_ABSOLUTE_PATH = re.compile(r"(?<![\w.\-])(?:[A-Za-z]:)?(?:[/\\][^\s'\"/\\:,;()\[\]]+){2,}[/\\]?")
"""A run of two or more separated parts not preceded by a name: an absolute path, not
``broken/1/model.onnx`` or a ratio. Reasons are the server's own text (bounded), not a client's."""


def visible_index(rows: Iterable[Row], principal: Principal | None, repository: Path) -> Iterator[Row]:
    """The rows ``principal`` may see (None: the anonymous caller), reasons without paths."""
    caller = principal or ANONYMOUS
    roots = _roots(repository)
    for name, version, state, reason in rows:
        if caller.allows(name):
            yield name, version, state, without_paths(reason, roots)


def without_paths(reason: str, roots: tuple[str, ...] = ()) -> str:
    """``reason`` with the repository folder cut off its paths and any other absolute path hidden."""
    for root in roots:
        reason = reason.replace(root, "")
    return _ABSOLUTE_PATH.sub("<path>", reason)


def _roots(repository: Path) -> tuple[str, ...]:
    """The repository folder as it may appear in a message, longest first, with its separator."""
    forms = {str(repository), str(repository.absolute()), str(repository.resolve())}
    return tuple(sorted((form.rstrip("/") + "/" for form in forms), key=len, reverse=True))
