"""Safe Harbor pattern de-identification: every identifier type, formats, edges and Unicode."""

from __future__ import annotations

import pytest
from gatewise.plugins.common.deid import deidentify


def _found(text: str) -> list[tuple[str, str]]:
    return [(r["type"], text[r["start"] : r["end"]]) for r in deidentify(text).redactions()]


@pytest.mark.parametrize(
    "date",
    ["03/14/2024", "3/4/24", "14.03.2024", "2024-03-14", "2024/3/14", "March 14, 2024", "Mar 14", "14 March 2024",
     "14th of March 2024", "Sept. 3rd, 2021", "March 2024"],
)  # fmt: skip
def test_dates_in_many_formats_are_removed(date: str) -> None:
    text = f"Admitted on {date} with pneumonia."
    assert _found(text) == [("DATE", date)]
    assert deidentify(text).text == "Admitted on [DATE] with pneumonia."


@pytest.mark.parametrize("kept", ["In 2019 she had surgery.", "BP 120/80, take 1/2 tablet.", "A 45-year-old man."])
def test_years_fractions_and_ages_up_to_89_stay(kept: str) -> None:
    assert _found(kept) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call (617) 555-0199 today", [("PHONE", "(617) 555-0199")]),
        ("fax: 617.555.0100", [("FAX", "617.555.0100")]),
        ("Reach +44 20 7946 0958 now", [("PHONE", "+44 20 7946 0958")]),
        ("Write to j.doe+clinic@example.org.", [("EMAIL", "j.doe+clinic@example.org")]),
        ("SSN 123-45-6789", [("SSN", "123-45-6789")]),
        ("MRN: 00482913", [("MRN", "00482913")]),
        ("medical record number A1234567", [("MRN", "A1234567")]),
        ("Policy no. AB12345 and member id 99887766", [("ACCOUNT", "AB12345"), ("ACCOUNT", "99887766")]),
        ("See https://portal.example.com/p?id=7.", [("URL", "https://portal.example.com/p?id=7")]),
        ("Login from 192.168.10.254", [("IP", "192.168.10.254")]),
        ("Lives at 12 Elm Street, Boston, MA 02118", [("ADDRESS", "12 Elm Street"), ("ZIP", "02118")]),
        ("A 93-year-old man, aged 101", [("AGE", "93"), ("AGE", "101")]),
        ("Seen by Dr. Okafor and Mrs. Jane Smith-Jones", [("NAME", "Okafor"), ("NAME", "Jane Smith-Jones")]),
        ("Patient: Maria Lopez presents with fever", [("NAME", "Maria Lopez")]),
    ],
)
def test_each_identifier_type(text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(text) == expected


def test_identifiers_at_start_and_end() -> None:
    text = "03/14/2024 follow-up; call 617-555-0199"
    assert _found(text) == [("DATE", "03/14/2024"), ("PHONE", "617-555-0199")]
    assert deidentify(text).text == "[DATE] follow-up; call [PHONE]"


def test_unicode_names_and_offsets() -> None:
    """Accented names after titles are found, and offsets are code points of the original."""
    text = "😷 Dr. Müller saw Sr. Pérez; Mr. José Álvarez on 3 März? no: 03/04/2024."
    found = _found(text)
    assert ("NAME", "Müller") in found and ("NAME", "José Álvarez") in found
    assert ("DATE", "03/04/2024") in found


def test_patient_followed_by_verb_is_not_a_name() -> None:
    assert _found("Patient denies fever. Patient Reports pain.") == []


def test_placeholders_are_typed() -> None:
    masked = deidentify("Email a@b.org on 2024-01-02")
    assert masked.text == "Email [EMAIL] on [DATE]"
