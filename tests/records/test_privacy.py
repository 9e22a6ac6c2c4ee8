"""No raw identifier reaches the store: the redaction tests' card numbers, IBANs and PHI, sent through every
domain model with records and explanations on, are searched for in the SQLite files' bytes and in a pg_dump."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from conftest import start_server, stop_server
from records.support import Postgres, ask, sqlite_rows, wait_for, write_domain_models

IDENTIFIERS = (
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "3782 822463 10005",
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "Account no. 12345678",
    "(617) 555-0199",
    "+44 20 7946 0958",
    "123-45-6789",
    "MRN: 00482913",
    "03/14/2024",
    "a.patient@example.org",
    "12 Elm Street, Boston, MA 02118",
    "Mr. José Álvarez",
)
"""Written as the redaction tests write them (tests/plugins/test_finance_redaction.py, test_medical_deid.py)."""

NEEDLES = (
    "4111 1111",
    "4111-1111",
    "3782 822463",
    "DE89 3704",
    "GB82WEST",
    "no. 12345678",
    "555-0199",
    "7946 0958",
    "123-45-6789",
    "00482913",
    "03/14/2024",
    "a.patient",
    "example.org",
    "Elm Street",
    "MA 02118",
    "Álvarez",
)
COMPACT = ("4111111111111111", "378282246310005", "DE89370400440532013000", "6175550199", "442079460958")
"""What must appear nowhere in the store: a distinctive piece of each identifier (short digit runs
also occur in hashes and scores), and, with separators removed from the store's text, the compact forms."""

TEXTS = [f"good service, {identifier} great" for identifier in IDENTIFIERS] + [" ".join(IDENTIFIERS)]
TRANSACTION = {
    "amount": 12.5,
    "currency": "EUR",
    "merchant_category": "grocery",
    "hour": 3,
    "country_mismatch": False,
    "card_present": True,
    "transactions_last_24h": 2,
    "account_age_days": 300,
    "distance_from_home_km": 2.0,
}
RECORDS = '\n[records]\nexplanation = "always"\n'


def send_everything(url: str) -> int:
    """Every text to the text models, with and without a requested explanation, and transactions carrying
    identifiers (one the plugin refuses); returns how many requests were sent."""
    sent = 0
    for model in ("tiny-finance", "tiny-retail", "tiny-medical"):
        for index, text in enumerate(TEXTS):
            explain = model != "tiny-medical" and index % 2 == 0
            ask(url, model, text, request_id=f"{model}-{index}", **({"explain": True} if explain else {}))
            sent += 1
    ask(url, "tiny-finance", "good", request_id=f"customer {IDENTIFIERS[0]}")  # a client-chosen id is text too
    sent += 1
    client = triton.InferenceServerClient(url)
    for index, identifier in enumerate(IDENTIFIERS):
        for row in ({**TRANSACTION, "note": identifier}, {**TRANSACTION, "merchant_category": identifier}):
            tensor = triton.InferInput("transaction", [1], "BYTES")
            tensor.set_data_from_numpy(np.array([json.dumps(row).encode()], dtype=object))
            try:
                client.infer("tiny-fraud", [tensor], request_id=f"fraud-{index}", parameters={"explain": True})
            except InferenceServerException:
                pass  # refused (unknown category): its record is searched as well
            sent += 1
    client.close()
    return sent


def leaks(blob: str) -> list[str]:
    found = [needle for needle in NEEDLES if needle in blob]
    digits = re.sub(r"[\s\-.()+]", "", blob)  # an identifier whose separators were changed is still found
    found += [needle for needle in COMPACT if needle in digits]
    return found


def test_sqlite_files_hold_no_identifier(tmp_path: Path) -> None:
    repository = tmp_path / "models"
    models = write_domain_models(repository, RECORDS)
    server = start_server(repository, tmp_path / "server.log", "--records", str(tmp_path / "records"))
    try:
        sent = send_everything(server.url)
        decided = lambda: sum(row["kind"] == "decision" for row in sqlite_rows(tmp_path / "records"))  # noqa: E731
        wait_for(lambda: decided() >= sent, "every decision's record")
        # The background explanations of the models that explain (all but medical) come after their answers.
        wait_for(
            lambda: sum(row["kind"] == "explanation" for row in sqlite_rows(tmp_path / "records")) > 0,
            "background explanations",
        )
    finally:
        assert stop_server(server) == 0
    rows = sqlite_rows(tmp_path / "records")
    assert {row["model"] for row in rows} == set(models)
    assert any(row["explanation"] for row in rows if row["model"] == "tiny-fraud")
    assert any("[CARD]" in (row["inputs"] or "") for row in rows) and any(
        "[MRN]" in (row["inputs"] or "") for row in rows
    )
    blob = b"".join(path.read_bytes() for path in sorted((tmp_path / "records").iterdir()) if path.is_file())
    assert leaks(blob.decode("utf-8", errors="replace")) == []


def test_a_pg_dump_holds_no_identifier(tmp_path: Path, postgres: Postgres, pg_url: str) -> None:
    repository = tmp_path / "models"
    write_domain_models(repository, RECORDS)
    server = start_server(repository, tmp_path / "server.log", "--records-url", pg_url)
    try:
        sent = send_everything(server.url)
        count = "SELECT COUNT(*) FROM records WHERE kind = 'decision'"
        wait_for(lambda: _scalar(pg_url, count) >= sent, "every decision's record")
    finally:
        assert stop_server(server) == 0
    dump = postgres.dump(pg_url)
    assert "[CARD]" in dump and "[IBAN]" in dump and "[PHONE]" in dump
    assert leaks(dump) == []


def _scalar(url: str, sql: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]
