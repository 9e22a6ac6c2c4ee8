"""Log redaction: the gatewise_redact_log hook, the filter the server installs, and the built-in
plugin that masks card numbers, IBANs, emails, SSNs and phone numbers in gatewise log lines."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from gatewise.plugins.hookspecs import hookimpl
from gatewise.plugins.log_filter import MAX_LOG_CHARS, LogRedactionFilter
from gatewise.plugins.log_redaction import redact
from gatewise.plugins.manager import PluginManager
from gatewise.protos.errors import StartupError

from security.harness import serving

CARD = "4111 1111 1111 1111"  # passes Luhn
IBAN = "GB82 WEST 1234 5698 7654 32"  # passes mod-97


class Lines(logging.Handler):
    """Collects every formatted line, as a file or stream handler would write it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    previous = root.level
    root.handlers.insert(0, handler)  # first, so no other handler's filter rewrites a record before ours
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def filtered(handler: Lines, manager: PluginManager) -> LogRedactionFilter:
    log_filter = LogRedactionFilter(manager)
    handler.addFilter(log_filter)
    return log_filter


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"paid with {CARD} today", "paid with [CARD] today"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        (f"to {IBAN}", "to [IBAN]"),
        ("mail jane.doe@example.org now", "mail [EMAIL] now"),
        ("ssn 123-45-6789", "ssn [SSN]"),
        ("SSN: 123456789", "SSN: [SSN]"),
        ("call (555) 123-4567 or +44 20 7946 0958", "call [PHONE] or [PHONE]"),
    ],
)
def test_the_builtin_masks_each_kind(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "order 1234567812345678 fails Luhn",
        "gRPC listening on 127.0.0.1:50051",
        "model tiny-sentiment ran 3 request(s) in 1.23 ms",
        '{"time":"2026-11-23T10:30:23.532+00:00","rows":2,"duration_ms":13.6}',
    ],
)
def test_the_builtin_leaves_ordinary_lines_alone(text: str) -> None:
    assert redact(text) == text


def test_a_gatewise_log_line_with_a_card_number_is_masked(lines: Lines) -> None:
    """Arguments merged, then masked; the traceback too; other libraries' loggers untouched."""
    filtered(lines, PluginManager(entry_points=False))
    log = logging.getLogger("gatewise.test")
    log.warning("payment by %s for %s", CARD, "jane@example.org")
    try:
        raise ValueError(f"bad card {CARD}")
    except ValueError:
        log.exception("request failed")
    logging.getLogger("somelib").warning("not ours: %s", CARD)
    assert "gatewise.test WARNING payment by [CARD] for [EMAIL]" in lines.text
    assert "ValueError: bad card [CARD]" in lines.text
    assert lines.text.count(CARD) == 1 and f"somelib WARNING not ours: {CARD}" in lines.text


def test_a_huge_line_is_cut_before_it_is_redacted(lines: Lines) -> None:
    """1 MiB logged: 8 KiB of it kept and masked (redaction cost is bounded on any thread), the rest
    cut with a count, never written unredacted; the traceback likewise."""
    filtered(lines, PluginManager(entry_points=False))
    log = logging.getLogger("gatewise.test")
    tail = " " * (1 << 20) + CARD
    log.warning("paid with %s%s", CARD, tail)
    try:
        raise ValueError(f"bad card {CARD}{tail}")
    except ValueError:
        log.exception("request failed")
    assert CARD not in lines.text
    assert "paid with [CARD]" in lines.text and "ValueError: bad card [CARD]" in lines.text
    assert f"... [{len('paid with ') + len(CARD) + len(tail) - MAX_LOG_CHARS} more characters not logged]" in lines.text
    assert len(lines.text) < 3 * MAX_LOG_CHARS


def test_the_filter_masks_once_across_handlers(lines: Lines) -> None:
    """A record reaching several filtered handlers is rewritten once, and the same for all."""
    seen: list[str] = []

    class Counting:
        @hookimpl
        def gatewise_redact_log(self, message: str) -> None:
            seen.append(message)

    manager = PluginManager(entry_points=False, extra=[("counting", Counting())])
    other = Lines()
    logging.getLogger().handlers.insert(1, other)
    try:
        filtered(lines, manager), filtered(other, manager)
        logging.getLogger("gatewise.test").info("card %s", CARD)
    finally:
        logging.getLogger().removeHandler(other)
    assert lines.lines == other.lines == ["gatewise.test INFO card [CARD]"]
    assert len(seen) == 1


def test_a_raising_redaction_hook_does_not_break_logging(lines: Lines) -> None:
    """The line is still written, the other redactors still apply, and the failure is reported
    once (type only: its message could quote the line)."""

    class Broken:
        @hookimpl
        def gatewise_redact_log(self, message: str) -> str:
            raise RuntimeError(f"cannot parse {message}")

    filtered(lines, PluginManager(entry_points=False, extra=[("broken", Broken())]))
    log = logging.getLogger("gatewise.test")
    log.warning("first %s", CARD)
    log.warning("second %s", CARD)
    assert "gatewise.test WARNING first [CARD]" in lines.text
    assert "gatewise.test WARNING second [CARD]" in lines.text
    reports = [line for line in lines.lines if "failed in gatewise_redact_log" in line]
    assert reports == [
        "gatewise.plugins ERROR plugin 'broken' failed in gatewise_redact_log (RuntimeError); "
        "its redactions are skipped, the other plugins' still apply"
    ]
    assert CARD not in lines.text


def test_redactors_chain(lines: Lines) -> None:
    """Every implementation runs (not firstresult), each on what the one before returned."""

    class Upper:
        @hookimpl
        def gatewise_redact_log(self, message: str) -> str:
            return message.upper()

    class Names:
        @hookimpl
        def gatewise_redact_log(self, message: str, logger: str, level: int) -> str:
            return f"{message} <{logger}:{logging.getLevelName(level)}>"

    manager = PluginManager(entry_points=False, extra=[("upper", Upper()), ("names", Names())])
    # pluggy's order: last registered first, so names, then upper, then the built-in masking.
    assert manager.redact_log(f"card {CARD}", "gatewise.x", logging.INFO) == "CARD [CARD] <GATEWISE.X:INFO>"


async def test_the_server_installs_the_filter_while_it_runs(repository: Path, lines: Lines) -> None:
    """On the root logger's handlers from start to stop, and gone after a start that failed."""
    log = logging.getLogger("gatewise.test")
    async with serving(repository):
        log.info("while serving %s", CARD)
    log.info("after stop %s", CARD)
    assert "while serving [CARD]" in lines.text
    assert f"after stop {CARD}" in lines.text


async def test_a_server_that_fails_to_start_leaves_no_filter(repository: Path, lines: Lines) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(StartupError, match="cannot listen"):
            async with serving(repository, grpc_port=taken.getsockname()[1]):
                pass
    logging.getLogger("gatewise.test").info("after a failed start %s", CARD)
    assert not any(
        isinstance(f, LogRedactionFilter) for handler in logging.getLogger().handlers for f in handler.filters
    )
    assert f"after a failed start {CARD}" in lines.text
