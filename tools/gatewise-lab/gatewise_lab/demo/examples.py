"""The inputs the demo sends to each model: chosen to show masking, abstention and reasons."""

from __future__ import annotations

FINANCE_SENTIMENT = [
    "Quarterly revenue jumped 18% and the bank raised its dividend.",
    "Refund of EUR 120 to card 4111 1111 1111 1111 failed; margins collapsed after the profit warning.",
    "Transfer to IBAN DE89 3704 0044 0532 0130 00 from account no. 12345678 is scheduled for Monday.",
    "Order reference 4111 1111 1111 1112 (not a card: the checksum fails) shipped today.",
]
RETAIL_SENTIMENT = [
    "Absolutely love these headphones, the sound is crisp and the battery lasts forever.",
    "The zipper broke on the second day and support never answered.",
    "It's a kettle. It boils water.",
    "Meh.",
]
RETAIL_SEARCH = [
    "something to block out engine noise on a long flight",
    "gift for a dog that is getting old",
    "keep my coffee hot in the morning",
]
MEDICAL_NER = [
    (
        "Patient John Smith (MRN 00482913) was seen by Dr. Okafor on 03/14/2024 for type 2 diabetes; "
        "started metformin 500 mg twice daily."
    ),
    "Mrs. Álvarez, a 93-year-old woman, call 617-555-0199: HbA1c pending, colonoscopy scheduled March 3rd, 2025.",
    "Known case of hypertension, on lisinopril 10 mg daily; email jdoe@example.org with the echocardiogram.",
]
FRAUD = [
    {"amount": 23.5, "currency": "EUR", "merchant_category": "grocery", "hour": 11, "country_mismatch": False,
     "card_present": True, "transactions_last_24h": 2, "account_age_days": 1400, "distance_from_home_km": 3.2},
    {"amount": 1890.0, "currency": "USD", "merchant_category": "electronics", "hour": 3, "country_mismatch": True,
     "card_present": False, "transactions_last_24h": 9, "account_age_days": 12, "distance_from_home_km": 5400.0},
    {"amount": 640.0, "currency": "GBP", "merchant_category": "gift_cards", "hour": 14, "country_mismatch": False,
     "card_present": False, "transactions_last_24h": 5, "account_age_days": 300, "distance_from_home_km": 40.0},
]  # fmt: skip
