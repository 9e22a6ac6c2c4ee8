"""A product catalog for semantic search, and hand-written queries to measure it.

Products are built from per-category kinds, features and uses, so titles and descriptions
vary; ``QUERIES`` paraphrase needs without copying catalog wording, each with the category
a good result must come from.
"""

from __future__ import annotations

import random

BRANDS = ["Northpeak", "Lumio", "Cedar & Co", "Voltra", "Brisa", "Kinetic", "Halden", "Mavi", "Orbis", "Tundra"]

CATEGORIES: dict[str, dict[str, list[str]]] = {
    "headphones": {
        "kinds": [
            "Wireless Over-Ear Headphones",
            "Noise-Cancelling Headphones",
            "True Wireless Earbuds",
            "Sports Earphones",
        ],
        "features": [
            "active noise cancellation",
            "30-hour battery",
            "foldable design",
            "sweat resistance",
            "Bluetooth 5.3",
        ],
        "uses": ["long flights", "commuting", "gym workouts", "focus at the office"],
    },
    "kitchen": {
        "kinds": [
            "Stainless Steel Kettle",
            "High-Speed Blender",
            "Non-Stick Frying Pan",
            "Espresso Machine",
            "Chef's Knife",
        ],
        "features": ["dishwasher-safe parts", "rapid boil", "ceramic coating", "15-bar pump", "forged blade"],
        "uses": ["smoothies", "morning coffee", "weeknight cooking", "tea lovers"],
    },
    "outdoor": {
        "kinds": ["Two-Person Tent", "Down Sleeping Bag", "Trekking Poles", "Hiking Backpack 40L", "Camping Stove"],
        "features": ["waterproof fabric", "ultralight build", "rated to -5 C", "adjustable straps", "windproof burner"],
        "uses": ["backpacking trips", "mountain hikes", "weekend camping", "festivals"],
    },
    "fitness": {
        "kinds": ["Yoga Mat", "Adjustable Dumbbells", "Resistance Bands Set", "Foam Roller", "Jump Rope"],
        "features": [
            "non-slip surface",
            "quick weight change",
            "five resistance levels",
            "high-density foam",
            "ball bearings",
        ],
        "uses": ["home workouts", "stretching", "strength training", "muscle recovery"],
    },
    "footwear": {
        "kinds": [
            "Road Running Shoes",
            "Waterproof Hiking Boots",
            "Leather Chelsea Boots",
            "Canvas Sneakers",
            "Trail Running Shoes",
        ],
        "features": ["cushioned midsole", "Gore-Tex lining", "grippy outsole", "breathable mesh", "wide fit"],
        "uses": ["marathon training", "muddy trails", "the office", "everyday wear"],
    },
    "electronics": {
        "kinds": ["27-inch 4K Monitor", "Mechanical Keyboard", "Wireless Mouse", "USB-C Hub", "Portable SSD 1TB"],
        "features": [
            "IPS panel",
            "hot-swappable switches",
            "silent clicks",
            "100 W pass-through charging",
            "1050 MB/s transfer",
        ],
        "uses": ["photo editing", "programming", "laptop desks", "backups on the go"],
    },
    "home": {
        "kinds": ["LED Desk Lamp", "Robot Vacuum Cleaner", "Air Purifier", "Memory Foam Pillow", "Blackout Curtains"],
        "features": ["dimmable light", "automatic charging", "HEPA filter", "cooling gel layer", "thermal lining"],
        "uses": ["late-night reading", "pet hair", "allergy season", "neck pain", "day sleepers"],
    },
    "clothing": {
        "kinds": ["Merino Wool Sweater", "Insulated Winter Parka", "Rain Jacket", "Slim Fit Jeans", "Linen Shirt"],
        "features": ["itch-free wool", "synthetic down fill", "taped seams", "stretch denim", "breathable linen"],
        "uses": ["cold winters", "rainy commutes", "summer holidays", "smart casual days"],
    },
    "baby": {
        "kinds": ["Compact Baby Stroller", "Baby Monitor with Camera", "Convertible Car Seat", "Nursing Pillow"],
        "features": ["one-hand fold", "night vision", "side-impact protection", "washable cover"],
        "uses": ["city walks", "peace of mind at night", "road trips", "feeding time"],
    },
    "beauty": {
        "kinds": ["Ionic Hair Dryer", "Electric Toothbrush", "Beard Trimmer", "Vitamin C Serum"],
        "features": ["fast drying", "pressure sensor", "20 length settings", "fragrance-free formula"],
        "uses": ["frizz-free hair", "healthier gums", "a sharp beard line", "dull skin"],
    },
    "travel": {
        "kinds": ["Carry-On Suitcase", "Packing Cubes Set", "Travel Neck Pillow", "Universal Travel Adapter"],
        "features": ["spinner wheels", "compression zips", "memory foam", "works in 150 countries"],
        "uses": ["business trips", "organised packing", "overnight flights", "international travel"],
    },
    "pets": {
        "kinds": ["Orthopedic Dog Bed", "Automatic Cat Feeder", "Retractable Dog Leash", "Cat Scratching Post"],
        "features": ["washable cover", "timed portions", "5-metre cord", "sisal rope"],
        "uses": ["older dogs", "busy owners", "daily walks", "indoor cats"],
    },
}

QUERIES: list[tuple[str, str]] = [
    ("something to block out engine noise on a plane", "headphones"),
    ("earbuds that stay in while I run", "headphones"),
    ("boil water quickly for tea", "kitchen"),
    ("make a smoothie every morning", "kitchen"),
    ("pan that food does not stick to", "kitchen"),
    ("shelter for sleeping outside with a friend", "outdoor"),
    ("warm bag to sleep in on a cold mountain", "outdoor"),
    ("exercise at home without a gym", "fitness"),
    ("mat for stretching and pilates", "fitness"),
    ("sore muscles after training", "fitness"),
    ("shoes for a marathon", "footwear"),
    ("boots that keep feet dry in mud", "footwear"),
    ("big screen for editing photos", "electronics"),
    ("keyboard for coding", "electronics"),
    ("extra ports for my laptop", "electronics"),
    ("light for reading at my desk", "home"),
    ("machine that cleans the floor by itself", "home"),
    ("clean the air from pollen", "home"),
    ("warm coat for snow", "clothing"),
    ("jacket for rain", "clothing"),
    ("trousers made of denim", "clothing"),
    ("pushchair that folds small", "baby"),
    ("watch my baby sleeping from another room", "baby"),
    ("dry my hair fast", "beauty"),
    ("trim my beard", "beauty"),
    ("luggage for the cabin", "travel"),
    ("plug that works abroad", "travel"),
    ("bed for an old dog with sore joints", "pets"),
    ("feed the cat while I'm at work", "pets"),
    ("something for my cat to scratch", "pets"),
]


def products(seed: int = 29, per_kind: int = 4) -> list[dict[str, str]]:
    """``{"id", "title", "description", "category"}`` records, a few variants per product kind."""
    rng = random.Random(seed)
    records = []
    for category, parts in CATEGORIES.items():
        for kind in parts["kinds"]:
            brands = rng.sample(BRANDS, per_kind)
            for brand in brands:
                feature_a, feature_b = rng.sample(parts["features"], 2)
                use = rng.choice(parts["uses"])
                records.append({
                    "id": f"SKU-{len(records) + 1:04d}",
                    "title": f"{brand} {kind}",
                    "description": f"{kind} with {feature_a} and {feature_b}, ideal for {use}.",
                    "category": category,
                })  # fmt: skip
    return records


def generate(seed: int = 29) -> dict[str, list[dict[str, str]]]:
    """The catalog and the evaluation queries."""
    queries = [{"text": text, "category": category} for text, category in QUERIES]
    return {"catalog": products(seed), "queries": queries}
