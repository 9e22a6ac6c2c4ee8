"""The logging filter that rewrites ``gatewise`` log records through the plugins' ``gatewise_redact_log``."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gatewise.plugins.manager import PluginManager


class LogRedactionFilter(logging.Filter):
    """Rewrites records of ``gatewise`` loggers through ``gatewise_redact_log``.

    Install it on handlers (a filter on a logger sees only that logger's own records, not its
    children's): ``GatewayServer`` adds it to the root logger's handlers while it runs. The
    message (arguments merged) and the traceback text are rewritten in place, once per
    record however many handlers carry the filter. It never drops a record and never raises.
    """

    def __init__(self, plugins: PluginManager) -> None:
        super().__init__()
        self.plugins = plugins
        self._busy = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        if not (record.name == "gatewise" or record.name.startswith("gatewise.")):
            return True
        if getattr(record, "gatewise_redacted", False) or getattr(self._busy, "active", False):
            return True  # done already, or a record logged while redacting (a failure report)
        self._busy.active = True
        try:
            message = record.getMessage()
            redacted = self.plugins.redact_log(_cut(message), record.name, record.levelno)
            if redacted != message:
                record.msg, record.args = redacted, None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.plugins.redact_log(_cut(record.exc_text), record.name, record.levelno)
            record.gatewise_redacted = True
        except Exception:  # noqa: BLE001 - e.g. a message whose arguments do not format: logging reports it
            pass
        finally:
            self._busy.active = False
        return True


MAX_LOG_CHARS = 8192
"""Characters of one log message (or traceback) kept and redacted; the rest is cut, never written
unredacted. Redaction runs in the thread that logs, the event loop included: this bounds its cost."""


def _cut(text: str) -> str:
    if len(text) <= MAX_LOG_CHARS:
        return text
    return f"{text[:MAX_LOG_CHARS]}... [{len(text) - MAX_LOG_CHARS} more characters not logged]"
