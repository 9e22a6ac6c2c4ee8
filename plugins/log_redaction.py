"""Built-in log redaction: masks identifiers in every ``gatewise`` log line, whatever logged it.

Defence in depth. Gateway code and plugins must not log payloads (docs/plugins.md), but a
third-party plugin's message or an exception text can still carry one. This cross-cutting
plugin implements ``gatewise_redact_log`` and replaces, in each line the server writes:

- card numbers (13-19 digits, spaces or dashes allowed, Luhn-checked) -> ``[CARD]``
- IBANs (mod-97-checked) -> ``[IBAN]``
- email addresses -> ``[EMAIL]``
- US social security numbers (``123-45-6789``, or nine digits after "SSN") -> ``[SSN]``
- phone and fax numbers -> ``[PHONE]`` / ``[FAX]``

The patterns are the ones the finance and medical plugins mask with, shared through
``plugins/common/`` (``finance_detectors``, ``deid``), so a number those plugins mask before
inference is masked in a log line too, and no plugin imports another domain. It runs in the
thread that logs (the event loop included): lines without a digit or an ``@`` return at once.
"""

from __future__ import annotations

from collections.abc import Callable

from gatewise.plugins.common import deid
from gatewise.plugins.common.finance_detectors import find_cards, find_ibans
from gatewise.plugins.common.masking import Span, mask
from gatewise.plugins.hookspecs import hookimpl

_FINDERS: tuple[Callable[[str], list[Span]], ...] = (
    find_ibans,
    find_cards,
    deid.find_emails,
    deid.find_ssns,
    deid.find_phones,
)


def redact(message: str) -> str:
    """``message`` with every card number, IBAN, email, SSN and phone number masked."""
    if "@" not in message and not any(char.isdigit() for char in message):
        return message
    spans = [span for find in _FINDERS for span in find(message)]
    return mask(message, spans).text if spans else message


@hookimpl
def gatewise_redact_log(message: str) -> str | None:
    """Mask identifiers in one log line; None when there was nothing to mask."""
    redacted = redact(message)
    return redacted if redacted != message else None
