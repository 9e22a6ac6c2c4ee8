"""Every identifier detector runs in linear time on adversarial input, and windowed search changes nothing.

The timing property compares a detector with itself: its time per KB on a 32 KiB adversarial
string against its time per KB on a 4 KiB string of the same family, measured interleaved
(min of several runs each, several rounds) so that the machine's load cancels out. Linear
code keeps the ratio near 1; the quadratic patterns these replace give about 8 (the ratio of
the sizes). The bound, 4, sits between with room for a loaded machine on each side. (The
4 KiB string is long enough that a match capped at its bound, a 2,048-character URL say,
does not make the small string all match and the large one mostly scanning.)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from gatewise.plugins import log_redaction
from gatewise.plugins.common import deid, scanning
from gatewise.plugins.common import finance_detectors as finance
from gatewise.plugins.common.masking import Span, mask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SMALL, LARGE = 4 * 1024, 32 * 1024
RATIO_BOUND = 4.0

DETECTORS: dict[str, Callable[[str], object]] = {
    "finance.cards": finance.find_cards,
    "finance.ibans": finance.find_ibans,
    "finance.accounts": finance.find_accounts,
    **{f"medical.{index}.{getattr(find, '__name__', 'find')}": find for index, find in enumerate(deid.DETECTORS)},
    "log_redaction": log_redaction.redact,
}

# What makes a backtracking pattern work hard: the words that start a match, then long runs
# of what may follow them (whitespace, digits, separators, word characters, dots).
PREFIXES = ["", "account", "acct no.", "routing", "MRN", "medical record", "member id", "SSN", "zip code",
            "Dr.", "Patient name:", "age", "+1", "AB12", "x@", "12 ", "March", "http://", "policy #"]  # fmt: skip
UNITS = ["account ", " ", "\t", "a.", "1", "1 ", "1-", "-", "a", "A", "Ab ", "Dr. ", "a@", "1.", "+1 ", "12 Ab ",
         "Jan ", "AB12 ", "é", "x-", "0:", ". "]  # fmt: skip

adversarial = st.tuples(
    st.sampled_from(PREFIXES),
    st.one_of(st.sampled_from(UNITS), st.text(alphabet="aA1 .-@:#/+()é\n", min_size=1, max_size=4)),
)


def _seconds(find: Callable[[str], object], text: str) -> float:
    started = time.perf_counter()
    find(text)
    return time.perf_counter() - started


def _per_kb_ratio(
    find: Callable[[str], object], prefix: str, unit: str, small_size: int = SMALL, large_size: int = LARGE
) -> float:
    small = prefix + unit * (small_size // len(unit))
    large = prefix + unit * (large_size // len(unit))
    ratio = float("inf")
    for _ in range(5):  # a burst of load can slow one round; a quadratic pattern fails every round
        small_s, large_s = [], []
        for _ in range(5):  # interleaved, so load hits both sizes alike
            small_s.append(min(_seconds(find, small) for _ in range(3)))
            large_s.append(_seconds(find, large))
        ratio = min(ratio, (min(large_s) / len(large)) / max(min(small_s) / len(small), 1e-9))
        if ratio < RATIO_BOUND:
            break
    return ratio


@pytest.mark.parametrize("name", sorted(DETECTORS))
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(case=adversarial)
def test_detector_time_per_kb_does_not_grow_with_the_input(name: str, case: tuple[str, str]) -> None:
    """8 times the input costs at most about 8 times the time, for every adversarial family."""
    prefix, unit = case
    ratio = _per_kb_ratio(DETECTORS[name], prefix, unit)
    assert ratio < RATIO_BOUND, f"{name} on {prefix!r} + {unit!r} * n: {ratio:.1f}x the time per KB at 8x the size"


def test_the_bound_catches_the_quadratic_patterns_it_replaced() -> None:
    """The old finance account pattern ("\\s*[:#]?\\s*") fails the same property: the test can fail.

    (At 512 bytes and 4 KiB, 8 times apart as above: the old pattern takes seconds at 32 KiB.)
    """
    old = re.compile(r"(?i)\b(?:account)\.?\s*[:#]?\s*(?P<number>\d(?:[ -]?\d){5,19})(?!\d)")
    ratio = _per_kb_ratio(lambda text: list(old.finditer(text)), "account", " ", 512, 4096)
    assert ratio > RATIO_BOUND


PATTERNS = {
    **{f"finance.{name}": (pattern, reach) for name, pattern, reach in [
        ("card", finance._CARD, finance._CARD_REACH), ("iban", finance._IBAN, finance._IBAN_REACH),
        ("account", finance._ACCOUNT, finance._ACCOUNT_REACH)]},
    **{f"medical.{name}": (pattern, deid.URL_REACH if name == "_URL" else deid.REACH)
       for name, pattern in vars(deid).items()
       if isinstance(pattern, re.Pattern) and name not in ("_WORD", "_EMAIL_LOCAL")},
    **{f"medical._DATES[{index}]": (pattern, deid.REACH) for index, pattern in enumerate(deid._DATES)},
}  # fmt: skip

TOKENS = ["account", "acct", " ", ":", "#", "1", "12", "123", "-", ".", "a", "Ab", "AB", "@", "x.org", "Dr.", " name",
          "Patient", "SSN", "MRN", "medical record", "zip code", "MA", "March", "14", "2024", "/", "http://", "age",
          "93", "years", "Street", "+44", "(617)", "555", "0199", "DE89", "3704", "0044", "4111",
          "1111", "\n", "é",
          # the longest matches each pattern allows: whitespace runs, long words, long keywords
          " " * 20, "\t" * 19, "Abcdefghij" * 4, "medical record number", "health plan id", "Boulevard",
          "5-" * 33]  # fmt: skip


@pytest.mark.parametrize("name", sorted(PATTERNS))
@settings(max_examples=60, deadline=None, derandomize=True)
@given(tokens=st.lists(st.sampled_from(TOKENS), min_size=20, max_size=200), window=st.integers(1, 64))
def test_windowed_search_finds_what_a_whole_search_finds(name: str, tokens: list[str], window: int) -> None:
    """Each pattern's reach is honest: tiny windows give exactly the matches of one search over the text."""
    pattern, reach = PATTERNS[name]
    text = "".join(tokens)
    text = text * (1 + (reach + 4 * window) // len(text))  # longer than a window and its reach
    whole = [match.span() for match in pattern.finditer(text)]
    assert [match.span() for match in scanning.finditer(pattern, text, reach, window)] == whole


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    spans=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 8)), max_size=12),
    start=st.integers(0, 80),
    width=st.integers(0, 20),
)
def test_placeholder_lookups_by_bisect_match_a_scan_of_every_segment(
    spans: list[tuple[int, int]], start: int, width: int
) -> None:
    """``touches_placeholder`` and ``to_original`` find their segment by bisect; the answers are a full scan's."""
    text = "abcdefghij" * 7
    masked = mask(text, [Span(begin, begin + size, "X") for begin, size in spans])
    end = start + width
    scan = any(
        segment.placeholder and segment.masked_start < end and start < segment.masked_end for segment in masked.segments
    )
    assert masked.touches_placeholder(start, end) == scan
    if end <= len(masked.text):
        original_start, original_end = masked.to_original(start, end)
        assert 0 <= original_start <= original_end <= len(text)
