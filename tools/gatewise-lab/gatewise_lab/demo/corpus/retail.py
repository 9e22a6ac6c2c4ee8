"""Product review sentiment (negative / neutral / positive).

Same scheme as ``finance``: training templates over half the vocabulary; held-out
templates over the other half plus hand-written reviews the model never trains on.
"""

from __future__ import annotations

from gatewise_lab.demo.corpus.templates import sentiment_splits

LABELS = ("negative", "neutral", "positive")

PRODUCTS = [
    "headphones", "blender", "running shoes", "backpack", "phone case", "coffee maker", "desk lamp",
    "winter jacket", "yoga mat", "kettle", "keyboard", "office chair", "water bottle", "vacuum cleaner",
    "jeans", "smartwatch", "frying pan", "tent", "hair dryer", "bluetooth speaker", "mattress",
    "toaster", "sunglasses", "monitor", "dress", "drill", "suitcase", "baby stroller",
]  # fmt: skip
ASPECTS = [
    "battery life", "build quality", "sound", "fit", "price", "delivery", "packaging", "material",
    "design", "size", "customer service", "instructions", "colour", "comfort", "performance",
    "durability", "zipper", "screen", "handle", "noise level",
]  # fmt: skip
PRAISE = [
    "excellent", "fantastic", "great", "superb", "outstanding", "wonderful", "brilliant", "perfect",
    "impressive", "lovely", "solid", "amazing",
]  # fmt: skip
CRITICISM = [
    "terrible", "awful", "poor", "disappointing", "horrible", "cheap", "flimsy", "useless", "bad",
    "dreadful", "shoddy", "appalling",
]  # fmt: skip
POSITIVE_CLAUSES = [
    "I would buy it again", "worth every penny", "exceeded my expectations", "highly recommend it",
    "my whole family loves it", "it works exactly as advertised", "five stars from me",
    "best purchase this year", "it arrived early and works perfectly", "I use it every day",
    "it feels premium", "totally satisfied",
]  # fmt: skip
NEGATIVE_CLAUSES = [
    "it broke after a week", "I want a refund", "complete waste of money", "do not buy this",
    "it stopped working after two days", "the seller never replied", "it arrived damaged",
    "returned it immediately", "one star is too generous", "it fell apart", "very frustrating",
    "nothing like the pictures",
]  # fmt: skip
NEUTRAL_CLAUSES = [
    "it does what it says", "it is okay for the price", "nothing special", "average overall",
    "I have only used it once so far", "it arrived on the expected date", "it is as described",
    "it is fine, neither good nor bad", "I have no strong opinion yet", "it is similar to my old one",
    "time will tell how it holds up", "it is a standard model",
]  # fmt: skip

TRAIN_TEMPLATES = {
    "positive": [
        "The {aspect} of this {product} is {praise}.",
        "{praise} {product}, {pos_clause}.",
        "I love this {product}; the {aspect} is {praise} and {pos_clause}.",
        "Really {praise} {aspect}. {pos_clause}.",
        "This {product} is {praise}, {pos_clause}!",
        "Five stars: {pos_clause}.",
    ],
    "negative": [
        "The {aspect} of this {product} is {critic}.",
        "{critic} {product}, {neg_clause}.",
        "I hate this {product}; the {aspect} is {critic} and {neg_clause}.",
        "Really {critic} {aspect}. {neg_clause}.",
        "This {product} is {critic}, {neg_clause}!",
        "One star: {neg_clause}.",
    ],
    "neutral": [
        "The {aspect} of this {product} is acceptable.",
        "The {product} is fine, {neu_clause}.",
        "{neu_clause}. The {aspect} is standard for a {product}.",
        "It's a {product}. {neu_clause}.",
        "Three stars: {neu_clause}.",
        "The {aspect} is neither {praise} nor {critic}; {neu_clause}.",
    ],
}
HELD_OUT_TEMPLATES = {
    "positive": [
        "Bought the {product} for my sister and {pos_clause} - the {aspect} is {praise}.",
        "After a month with this {product}: {praise} {aspect}, {pos_clause}.",
        "Honestly {pos_clause}. {praise}!",
    ],
    "negative": [
        "Bought the {product} for my sister and {neg_clause} - the {aspect} is {critic}.",
        "After a month with this {product}: {critic} {aspect}, {neg_clause}.",
        "Honestly {neg_clause}. {critic}!",
    ],
    "neutral": [
        "Bought the {product} for my sister; {neu_clause}.",
        "After a month with this {product}: the {aspect} is average and {neu_clause}.",
        "Honestly {neu_clause}.",
    ],
}

HAND_WRITTEN = [
    ("positive", "Comfy from the first wear, no breaking in needed."),
    ("positive", "Setup took two minutes and the picture is gorgeous."),
    ("positive", "My kids fight over who gets to use it. Brilliant buy."),
    ("positive", "Keeps coffee hot for hours, exactly what I wanted."),
    ("positive", "Sturdy, quiet and easy to clean. Couldn't be happier."),
    ("positive", "The seller included a handwritten thank-you note, lovely touch and a great product."),
    ("positive", "Fits true to size and the fabric feels expensive."),
    ("positive", "Survived a week of camping in the rain without a single leak."),
    ("positive", "Replaced my old one and the difference is night and day."),
    ("positive", "Battery lasts all week on a single charge, amazing."),
    ("negative", "The strap snapped on day three."),
    ("negative", "Smells of chemicals and the smell won't go away."),
    ("negative", "Customer support kept me on hold for an hour and then hung up."),
    ("negative", "It overheats and shuts off every few minutes."),
    ("negative", "Colours faded after the first wash."),
    ("negative", "Way smaller than the listing suggested, and returning it costs more than it's worth."),
    ("negative", "The lid doesn't close properly so it leaks everywhere."),
    ("negative", "Missing screws, no manual, and a cracked panel."),
    ("negative", "Loud, slow and it scratched my counter."),
    ("negative", "Stopped charging after a fortnight. Avoid."),
    ("neutral", "Arrived on Tuesday in a brown box."),
    ("neutral", "I bought the blue one; it also comes in grey."),
    ("neutral", "Does the job. Not sure it's better than the cheaper version."),
    ("neutral", "It weighs about two kilos and folds flat."),
    ("neutral", "Haven't tried it outdoors yet, will update later."),
    ("neutral", "It's a gift, so I can't say much about it."),
    ("neutral", "Works with both USB-C and the older cable."),
    ("neutral", "Pretty much the same as the previous model."),
    ("neutral", "The instructions are in five languages."),
    ("neutral", "Medium fits like a medium."),
]


WORD_LISTS = {
    "product": PRODUCTS, "aspect": ASPECTS, "praise": PRAISE, "critic": CRITICISM,
    "pos_clause": POSITIVE_CLAUSES, "neg_clause": NEGATIVE_CLAUSES, "neu_clause": NEUTRAL_CLAUSES,
}  # fmt: skip


def generate(seed: int = 17, train_size: int = 2400, held_out_size: int = 360) -> dict[str, list[dict[str, str]]]:
    """The ``train`` and ``held_out`` splits as ``{"text", "label"}`` records."""
    return sentiment_splits(
        WORD_LISTS, TRAIN_TEMPLATES, HELD_OUT_TEMPLATES, HAND_WRITTEN, seed, train_size, held_out_size
    )
