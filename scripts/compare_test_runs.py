"""Two runs of the suite, before and after a change, from their junit XML (``pytest --junitxml``):
every test that existed before must still pass after, matched by module and name, or by name alone
where its module was renamed; what has no match, or passes no longer, is listed.

    .venv/bin/python scripts/compare_test_runs.py before.xml after.xml
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict

Key = tuple[str, str]


def outcomes(path: str) -> dict[Key, str]:
    """(module, test) -> passed, skipped, failure or error; a test that passed and then errored in teardown
    has two entries in the XML: the worse one is kept."""
    result: dict[Key, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        key = (case.get("classname") or "", case.get("name") or "")
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcome = "passed" if not kinds else ("skipped" if kinds == ["skipped"] else kinds[0])
        if result.get(key, "passed") == "passed":
            result[key] = outcome
    return result


def base(name: str) -> str:
    """A test's function name, without its parameter ids."""
    return name.split("[", 1)[0]


def main(before_path: str, after_path: str) -> int:
    before, after = outcomes(before_path), outcomes(after_path)
    print(f"before: {dict(Counter(before.values()))}; after: {dict(Counter(after.values()))}")
    by_name: dict[str, list[Key]] = defaultdict(list)
    for key in after:
        by_name[key[1]].append(key)
    matched: set[Key] = set()
    worse = 0
    for key, outcome in sorted(before.items()):
        if key in after:
            match = key
        elif len(by_name[key[1]]) == 1:
            match = by_name[key[1]][0]
            print(f"moved   {key[0]}::{key[1]} -> {match[0]}")
        elif family := [k for k in after if base(k[1]) == base(key[1]) and k[0] == key[0]]:
            # Parametrised anew (other ids, or a new parameter): every case of the new family must pass.
            matched.update(family)
            failing = [k for k in family if after[k] != "passed"]
            worse += bool(failing and outcome == "passed")
            label = "WORSE  " if failing and outcome == "passed" else "reparam"
            print(f"{label} {key[0]}::{key[1]} -> {len(family)} case(s) of it, failing: {failing or 'none'}")
            continue
        else:
            print(f"gone    {key[0]}::{key[1]} ({outcome}); same name in: {by_name[key[1]] or 'none'}")
            continue
        matched.add(match)
        now = after[match]
        if outcome != "passed" and now == "passed":
            print(f"fixed   {key[0]}::{key[1]}: {outcome} -> passed")
        elif now != "passed" and now == outcome:
            print(f"still   {key[0]}::{key[1]}: {outcome}")
        elif now != "passed":
            worse += 1
            print(f"WORSE   {key[0]}::{key[1]}: {outcome} -> {now}")
    print(f"{len(before)} before, {len(after)} after, {len(after) - len(matched)} new after, {worse} worse")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
