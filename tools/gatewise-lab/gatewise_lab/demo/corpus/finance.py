"""Financial news sentiment (negative / neutral / positive).

Training sentences come from ``TRAIN_TEMPLATES`` over the training half of each word list;
the held-out split uses ``HELD_OUT_TEMPLATES``, the other half of the vocabulary, and the
hand-written sentences in ``HAND_WRITTEN``, none of which the model trains on.
"""

from __future__ import annotations

from gatewise_lab.demo.corpus.templates import sentiment_splits

LABELS = ("negative", "neutral", "positive")

COMPANIES = [
    "Nordvik Energy", "Altamira Bank", "Kestrel Logistics", "Brightwater Foods", "Helios Semiconductors",
    "Orinoco Mining", "Castellan Insurance", "Pinecrest Retail", "Tamarind Telecom", "Vantor Motors",
    "Quillon Pharma", "Redfern Airlines", "Silverline Capital", "Ardent Steel", "Marlowe Media",
    "Juniper Utilities", "Osprey Shipping", "Calder Chemicals", "Meridian Software", "Larkspur Hotels",
    "the company", "the group", "the lender", "the retailer", "the insurer", "the carmaker",
    "the chipmaker", "the bank", "the airline", "the miner", "the utility", "the brewer",
]  # fmt: skip
METRICS = [
    "revenue", "net profit", "operating profit", "quarterly earnings", "net sales", "EBITDA",
    "earnings per share", "operating margin", "free cash flow", "gross margin", "order intake",
    "net interest income", "comparable sales", "pre-tax profit", "operating income", "turnover",
]  # fmt: skip
PERIODS = [
    "in the third quarter", "for the full year", "in the first half", "in the second quarter",
    "last quarter", "in 2025", "year on year", "in the fourth quarter", "for the fiscal year",
    "in the January-March period", "over the twelve months", "in the latest quarter",
]  # fmt: skip
UP_VERBS = [
    "rose", "jumped", "climbed", "surged", "increased", "grew", "soared", "improved",
    "advanced", "rebounded", "doubled", "strengthened",
]  # fmt: skip
DOWN_VERBS = [
    "fell", "dropped", "declined", "slumped", "plunged", "decreased", "shrank", "tumbled",
    "weakened", "sank", "deteriorated", "collapsed",
]  # fmt: skip
GOOD_NEWS = [
    "raised its full-year guidance", "beat analyst expectations", "won a major contract",
    "announced a higher dividend", "reported record orders", "returned to profit",
    "secured new financing on favourable terms", "expanded its market share",
    "was upgraded by analysts", "posted its best quarter in a decade", "cut its debt sharply",
    "launched a share buyback", "signed a lucrative supply agreement", "exceeded its own targets",
    "reported strong demand across all regions", "lifted its margin outlook",
]  # fmt: skip
BAD_NEWS = [
    "cut its full-year guidance", "missed analyst expectations", "lost a key contract",
    "suspended its dividend", "announced large layoffs", "swung to a loss",
    "warned of weaker demand", "was downgraded by analysts", "faces a regulatory investigation",
    "took a heavy impairment charge", "breached its debt covenants", "issued a profit warning",
    "reported falling orders", "recalled thousands of products", "filed for creditor protection",
    "booked a surprise writedown",
]  # fmt: skip
NEUTRAL_NEWS = [
    "will publish its results next week", "appointed a new chief financial officer",
    "held its annual general meeting", "confirmed the date of its capital markets day",
    "moved its headquarters to a new office", "renamed its consumer division",
    "completed the previously announced reorganisation", "published its sustainability report",
    "changed its auditor", "filed its annual report with the regulator",
    "kept its outlook unchanged", "reported results in line with the previous year",
    "named a new board chair", "scheduled a conference call for analysts",
    "updated its articles of association", "registered a new subsidiary",
]  # fmt: skip
AMOUNTS = [
    "EUR 4.2 million", "USD 310 million", "GBP 18 million", "EUR 1.1 billion", "USD 75.5 million",
    "SEK 640 million", "CHF 92 million", "JPY 12 billion", "USD 2.3 billion", "EUR 56 million",
]  # fmt: skip
PERCENTS = ["3 %", "12%", "27 percent", "8.5%", "41 %", "15 percent", "6%", "19.2%", "2 per cent", "33%"]

TRAIN_TEMPLATES = {
    "positive": [
        "{company} said its {metric} {up} {percent} {period}.",
        "{company} {good}.",
        "{metric} at {company} {up} to {amount} {period}.",
        "Shares of {company} {up} after it {good}.",
        "{company} {good}, and its {metric} {up} {percent}.",
        "Analysts welcomed the news that {company} {good}.",
        "{period}, {company} reported that {metric} {up} by {percent}.",
    ],
    "negative": [
        "{company} said its {metric} {down} {percent} {period}.",
        "{company} {bad}.",
        "{metric} at {company} {down} to {amount} {period}.",
        "Shares of {company} {down} after it {bad}.",
        "{company} {bad}, and its {metric} {down} {percent}.",
        "Investors were disappointed as {company} {bad}.",
        "{period}, {company} reported that {metric} {down} by {percent}.",
    ],
    "neutral": [
        "{company} {neutral}.",
        "{company} said it {neutral}.",
        "{period}, {company} {neutral}.",
        "{company} reported {metric} of {amount} {period}, unchanged from a year earlier.",
        "According to a statement, {company} {neutral}.",
        "{company} {neutral}; no financial details were disclosed.",
        "Payment of {amount} to account [ACCOUNT] was recorded by {company}.",
    ],
}
HELD_OUT_TEMPLATES = {
    "positive": [
        "Thanks to strong demand, {company}'s {metric} {up} {period}.",
        "It was a good {period_noun} for {company}: {metric} {up} {percent}.",
        "Management at {company} was upbeat after the firm {good}.",
        "{company} expects {metric} to keep growing after it {good}.",
    ],
    "negative": [
        "Weak demand meant {company}'s {metric} {down} {period}.",
        "It was a difficult {period_noun} for {company}: {metric} {down} {percent}.",
        "Management at {company} struck a cautious tone after the firm {bad}.",
        "{company} expects {metric} to keep shrinking after it {bad}.",
    ],
    "neutral": [
        "In other news, {company} {neutral}.",
        "A spokesperson confirmed that {company} {neutral}.",
        "{company}'s {metric} came in at {amount} {period}, flat compared with last year.",
        "The transfer from card [CARD] to {company} was settled {period}.",
    ],
}
PERIOD_NOUNS = ["quarter", "year", "half-year", "month", "season"]

HAND_WRITTEN = [
    ("positive", "Profit before tax more than doubled and the board proposed a record payout."),
    ("positive", "The lender's bad-loan ratio fell to its lowest level since 2008, lifting the stock."),
    ("positive", "Order backlog reached an all-time high, giving visibility well into next year."),
    ("positive", "The merger is expected to be accretive to earnings from the first year."),
    ("positive", "Margins widened as input costs eased and pricing held firm."),
    ("positive", "The airline carried more passengers than ever and filled 92% of its seats."),
    ("positive", "Cash generation was excellent, allowing the group to repay its bond early."),
    ("positive", "The rating agency lifted the outlook to positive, citing robust cash flows."),
    ("positive", "Subscriber growth accelerated for the third straight quarter."),
    ("positive", "The start-up's valuation tripled after an oversubscribed funding round."),
    ("positive", "Sales in Asia were particularly strong, offsetting a quiet European market."),
    ("positive", "The brewer's volumes recovered fully to pre-pandemic levels."),
    ("negative", "The retailer closed 40 stores and warned that losses would widen."),
    ("negative", "Net interest margin compressed sharply, eroding the bank's earnings."),
    ("negative", "Auditors raised doubts about the firm's ability to continue as a going concern."),
    ("negative", "The stock lost a third of its value after the fraud allegations surfaced."),
    ("negative", "Production halts at two plants wiped out the quarter's profit."),
    ("negative", "Customer deposits shrank as savers moved money to rival banks."),
    ("negative", "The company defaulted on a coupon payment due on Friday."),
    ("negative", "Rising raw-material costs squeezed margins to a five-year low."),
    ("negative", "Bookings slowed markedly and the carrier scrapped its growth plans."),
    ("negative", "Credit card delinquencies climbed, forcing higher provisions."),
    ("negative", "The chipmaker's inventory glut dragged gross margin below 30%."),
    ("negative", "The insurer's combined ratio worsened after a string of storm claims."),
    ("neutral", "The annual report will be available on the company's website from 15 March."),
    ("neutral", "The bank operates 120 branches across four countries."),
    ("neutral", "Trading in the shares will resume on Monday morning."),
    ("neutral", "The offer period runs until the end of the month."),
    ("neutral", "The group employs about 6,000 people, most of them in Germany."),
    ("neutral", "The board will consider the proposal at its next meeting."),
    ("neutral", "The figures are unaudited and prepared under IFRS."),
    ("neutral", "The company's fiscal year ends on 30 June."),
    ("neutral", "The bond carries a coupon of 4.5% and matures in 2031."),
    ("neutral", "The results presentation starts at 10:00 local time."),
    ("neutral", "The new chief executive takes office on 1 September."),
    ("neutral", "Its shares are listed in Helsinki and Stockholm."),
]


WORD_LISTS = {
    "company": COMPANIES, "metric": METRICS, "period": PERIODS, "up": UP_VERBS,
    "down": DOWN_VERBS, "good": GOOD_NEWS, "bad": BAD_NEWS, "neutral": NEUTRAL_NEWS,
    "amount": AMOUNTS, "percent": PERCENTS, "period_noun": PERIOD_NOUNS,
}  # fmt: skip


def generate(seed: int = 13, train_size: int = 2400, held_out_size: int = 360) -> dict[str, list[dict[str, str]]]:
    """The ``train`` and ``held_out`` splits as ``{"text", "label"}`` records."""
    return sentiment_splits(
        WORD_LISTS, TRAIN_TEMPLATES, HELD_OUT_TEMPLATES, HAND_WRITTEN, seed, train_size, held_out_size
    )
