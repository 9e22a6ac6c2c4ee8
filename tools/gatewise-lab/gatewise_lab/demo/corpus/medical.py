"""Clinical entity extraction: sentences with character spans of PROBLEM, DRUG, DOSAGE, TEST, PROCEDURE.

Sentences read like de-identified notes (identifiers already replaced by placeholders such
as ``[DATE]``), because that is the text the served model sees after de-identification.
Held-out sentences use other templates and, for every entity type, names never trained on.
"""

from __future__ import annotations

import random
import re

from gatewise_lab.demo.corpus.templates import split_vocabulary

ENTITY_TYPES = ("PROBLEM", "DRUG", "DOSAGE", "TEST", "PROCEDURE")
SLOT = re.compile(r"\{(\w+)\}")

PROBLEMS = [
    "type 2 diabetes", "hypertension", "atrial fibrillation", "pneumonia", "asthma", "chest pain",
    "chronic kidney disease", "heart failure", "migraine", "urinary tract infection", "anemia",
    "hypothyroidism", "COPD", "deep vein thrombosis", "osteoarthritis", "major depressive disorder",
    "shortness of breath", "cellulitis", "gout", "hyperlipidemia", "sepsis", "acute pancreatitis",
    "fever", "abdominal pain", "rheumatoid arthritis", "pulmonary embolism", "epilepsy", "nausea",
    "hip fracture", "iron deficiency", "psoriasis", "sleep apnea",
]  # fmt: skip
DRUGS = [
    "metformin", "lisinopril", "apixaban", "amoxicillin", "albuterol", "atorvastatin", "insulin glargine",
    "furosemide", "levothyroxine", "sertraline", "warfarin", "prednisone", "omeprazole", "ceftriaxone",
    "metoprolol", "amlodipine", "gabapentin", "allopurinol", "heparin", "ibuprofen", "acetaminophen",
    "vancomycin", "tamsulosin", "methotrexate", "clopidogrel", "losartan", "doxycycline", "ondansetron",
    "spironolactone", "azithromycin", "hydrochlorothiazide", "enoxaparin",
]  # fmt: skip
TESTS = [
    "HbA1c", "complete blood count", "chest X-ray", "ECG", "troponin", "basic metabolic panel",
    "CT scan of the abdomen", "urinalysis", "lipid panel", "TSH", "echocardiogram", "MRI of the brain",
    "blood cultures", "creatinine", "INR", "D-dimer", "liver function tests", "ultrasound",
    "spirometry", "serum ferritin", "CRP", "arterial blood gas", "stool culture", "bone density scan",
]  # fmt: skip
PROCEDURES = [
    "colonoscopy", "appendectomy", "cardiac catheterization", "knee replacement", "cholecystectomy",
    "bronchoscopy", "hip replacement", "coronary artery bypass", "endoscopy", "lumbar puncture",
    "cataract surgery", "hemodialysis", "biopsy", "thoracentesis", "angioplasty", "hernia repair",
    "intubation", "cesarean section", "skin graft", "pacemaker implantation", "tonsillectomy",
    "paracentesis", "spinal fusion", "mastectomy",
]  # fmt: skip
_AMOUNTS = ["5", "10", "20", "25", "40", "50", "81", "100", "250", "500", "750", "1000", "0.5", "2.5", "1"]
_UNITS = ["mg", "mg", "mcg", "g", "units", "mL"]
_FREQUENCIES = [
    "daily",
    "twice daily",
    "once a day",
    "every 8 hours",
    "at bedtime",
    "as needed",
    "BID",
    "TID",
    "weekly",
]


def dosage(rng: random.Random) -> str:
    """A dose such as ``500 mg twice daily`` or ``10 units``."""
    text = f"{rng.choice(_AMOUNTS)} {rng.choice(_UNITS)}"
    return text + (f" {rng.choice(_FREQUENCIES)}" if rng.random() < 0.6 else "")


TRAIN_TEMPLATES = [
    "Patient with {PROBLEM} was started on {DRUG} {DOSAGE}.",
    "{DRUG} {DOSAGE} was prescribed for {PROBLEM}.",
    "History of {PROBLEM} and {PROBLEM}.",
    "{TEST} showed signs of {PROBLEM}.",
    "Ordered {TEST} and {TEST} to rule out {PROBLEM}.",
    "Underwent {PROCEDURE} on [DATE] without complications.",
    "[NAME] is scheduled for {PROCEDURE} next week.",
    "Continue {DRUG} {DOSAGE} and repeat {TEST} in three months.",
    "She reports {PROBLEM} since stopping {DRUG}.",
    "He was admitted with {PROBLEM} and treated with {DRUG}.",
    "Status post {PROCEDURE} for {PROBLEM}.",
    "Discontinue {DRUG} due to {PROBLEM}.",
    "{TEST} was normal.",
    "Plan: {PROCEDURE}, then {DRUG} {DOSAGE}.",
    "Seen by Dr. [NAME] on [DATE] for {PROBLEM}.",
    "Denies {PROBLEM}. Takes {DRUG} {DOSAGE}.",
    "Results of the {TEST} are pending.",
    "No {PROBLEM} noted after {PROCEDURE}.",
    "Give {DRUG} {DOSAGE} before the {PROCEDURE}.",
    "The patient tolerated the {PROCEDURE} well.",
    "Assessment: {PROBLEM}. Medications: {DRUG} {DOSAGE}, {DRUG} {DOSAGE}.",
    "{TEST} and {TEST} were within normal limits.",
    "Referred for {PROCEDURE} after an abnormal {TEST}.",
    "Her {PROBLEM} is well controlled on {DRUG}.",
    "Increase {DRUG} to {DOSAGE}.",
    "Post-operative day 2 after {PROCEDURE}; mild {PROBLEM}.",
    "Allergic to {DRUG}.",
    "Check {TEST} before starting {DRUG}.",
    "Diagnosed with {PROBLEM} in 2019, treated with {PROCEDURE}.",
    "Takes {DRUG} for {PROBLEM} and {DRUG} for {PROBLEM}.",
    "Elevated {TEST} suggests {PROBLEM}.",
    "Consent obtained for {PROCEDURE}.",
    "Patient [NAME] (MRN [MRN]) was seen for {PROBLEM}.",
    "[NAME], a [AGE]-year-old man, presents with {PROBLEM} and {PROBLEM}.",
    "Contact [EMAIL] or [PHONE] with the {TEST} results.",
    "Admitted on [DATE] (account [ACCOUNT]) for {PROCEDURE}.",
    "Mr. [NAME] of [ZIP] takes {DRUG} {DOSAGE}; {TEST} due on [DATE].",
]
HELD_OUT_TEMPLATES = [
    "Known case of {PROBLEM}, on {DRUG} {DOSAGE} at home.",
    "Recent {TEST} consistent with {PROBLEM}; consider {PROCEDURE}.",
    "Switched from {DRUG} to {DRUG} {DOSAGE} because of {PROBLEM}.",
    "Call [PHONE] if {PROBLEM} worsens after the {PROCEDURE}.",
    "Follow-up {TEST} on [DATE] showed improvement.",
    "Complains of {PROBLEM}; {TEST} ordered.",
    "{PROCEDURE} was postponed because of {PROBLEM}.",
    "Was given {DOSAGE} of {DRUG} in the emergency department.",
]
_POOLS = {"PROBLEM": PROBLEMS, "DRUG": DRUGS, "TEST": TESTS, "PROCEDURE": PROCEDURES}


def fill_entities(template: str, pools: dict, rng: random.Random) -> dict:
    """One ``{"text", "entities": [{"label", "start", "end"}]}`` record from a template."""
    text, entities, cursor = "", [], 0
    for match in SLOT.finditer(template):
        text += template[cursor : match.start()]
        label = match.group(1)
        value = dosage(rng) if label == "DOSAGE" else rng.choice(pools[label])
        entities.append({"label": label, "start": len(text), "end": len(text) + len(value)})
        text += value
        cursor = match.end()
    text += template[cursor:]
    if text[0].islower():
        text = text[0].upper() + text[1:]
    return {"text": text, "entities": entities}


def _records(templates: list[str], pools: dict, count: int, rng: random.Random) -> list[dict]:
    records, seen = [], set()
    while len(records) < count:
        record = fill_entities(rng.choice(templates), pools, rng)
        if record["text"] not in seen:
            seen.add(record["text"])
            records.append(record)
    return records


def generate(seed: int = 19, train_size: int = 2000, held_out_size: int = 300) -> dict[str, list[dict]]:
    """The ``train`` and ``held_out`` splits."""
    rng = random.Random(seed)
    train_pools, held_out_pools = {}, {}
    for label, words in _POOLS.items():
        train_pools[label], held_out_pools[label] = split_vocabulary(words)
    return {
        "train": _records(TRAIN_TEMPLATES, train_pools, train_size, rng),
        "held_out": _records(HELD_OUT_TEMPLATES, held_out_pools, held_out_size, rng),
    }
