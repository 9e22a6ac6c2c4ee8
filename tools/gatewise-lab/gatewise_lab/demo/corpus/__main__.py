"""``python -m gatewise_lab.demo.corpus``: regenerate the shipped ``.jsonl`` files from their seeds."""

from __future__ import annotations

from gatewise_lab.demo.corpus import catalog, finance, fraud, medical, retail
from gatewise_lab.demo.corpus.io import DATA_DIR, write_jsonl

DOMAINS = {
    "finance_sentiment": finance.generate,
    "retail_sentiment": retail.generate,
    "medical_ner": medical.generate,
    "fraud_transactions": fraud.generate,
    "retail_catalog": catalog.generate,
}


def main() -> None:
    for domain, generate in DOMAINS.items():
        for split, records in generate().items():
            path = DATA_DIR / f"{domain}.{split}.jsonl"
            print(f"{path.relative_to(DATA_DIR.parent.parent.parent)}: {write_jsonl(path, records)} records")


if __name__ == "__main__":
    main()
