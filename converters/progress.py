"""Progress for long conversions: one bar over the pipeline's steps, plus a line per result.

Exports, fusions and engine builds take seconds to minutes and report no progress of their
own, so the bar advances per step and shows elapsed time; validation lines print above it.
Everything goes to stderr, leaving stdout for what scripts parse.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

log = logging.getLogger("gatewise.converters")


class Steps:
    """A progress bar over ``total`` named steps; ``quiet`` keeps only the log lines."""

    def __init__(self, title: str, total: int, *, quiet: bool = False, console: Console | None = None) -> None:
        self._title = title
        self._quiet = quiet
        self._console = console or Console(stderr=True)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self._console,
            transient=False,
            disable=quiet,
        )
        self._task = self._progress.add_task(title, total=total)

    def __enter__(self) -> Steps:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Show ``name`` while the block runs, then advance the bar by one."""
        self._progress.update(self._task, description=f"{self._title}: {name}")
        log.info("%s: %s", self._title, name)
        yield
        self._progress.advance(self._task)

    def note(self, line: str) -> None:
        """Print one result line (a validation summary) above the bar, and log it."""
        log.info("%s", line)
        if not self._quiet:
            self._progress.console.print(line, highlight=False, soft_wrap=True, markup=False)
