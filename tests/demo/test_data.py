"""The shipped training data: reproducible from its seeds, and held-out splits that share no
sentence, template or entity name with training."""

from __future__ import annotations

import json

import pytest

from gatewise_lab.demo.corpus import DATA_DIR, catalog, finance, fraud, medical, read_jsonl, retail
from gatewise_lab.demo.corpus.__main__ import DOMAINS


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_shipped_files_match_their_generator(domain: str) -> None:
    """Regenerating from the seeds gives the committed files byte for byte (as records)."""
    for split, records in DOMAINS[domain]().items():
        shipped = read_jsonl(DATA_DIR / f"{domain}.{split}.jsonl")
        assert shipped == json.loads(json.dumps(records)), f"{domain}.{split} differs from its generator"


@pytest.mark.parametrize("module", [finance, retail])
def test_sentiment_held_out_shares_no_sentence_and_is_balanced(module) -> None:
    data = module.generate()
    assert not {r["text"] for r in data["train"]} & {r["text"] for r in data["held_out"]}
    labels = [r["label"] for r in data["held_out"]]
    assert {labels.count(label) for label in module.LABELS} and min(labels.count(name) for name in module.LABELS) > 100


def test_medical_held_out_entity_names_never_trained_on() -> None:
    data = medical.generate()

    def names(split: str, kind: str) -> set[str]:
        return {
            r["text"][e["start"] : e["end"]].lower() for r in data[split] for e in r["entities"] if e["label"] == kind
        }

    for kind in ("PROBLEM", "DRUG", "TEST", "PROCEDURE"):
        assert not names("train", kind) & names("held_out", kind), kind


def test_medical_spans_are_inside_the_text_and_disjoint() -> None:
    for record in medical.generate()["train"][:500]:
        spans = sorted((e["start"], e["end"]) for e in record["entities"])
        assert all(0 <= s < e <= len(record["text"]) for s, e in spans)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_fraud_is_seeded_and_imbalanced_but_learnable() -> None:
    first, second = fraud.transactions(500, seed=7), fraud.transactions(500, seed=7)
    assert first == second and first != fraud.transactions(500, seed=8)
    rate = sum(r["is_fraud"] for r in fraud.generate()["train"]) / 8000
    assert 0.08 < rate < 0.2


def test_catalog_ids_unique_and_every_query_category_exists() -> None:
    data = catalog.generate()
    ids = [p["id"] for p in data["catalog"]]
    assert len(ids) == len(set(ids)) and 150 <= len(ids) <= 300
    assert {q["category"] for q in data["queries"]} <= {p["category"] for p in data["catalog"]}
