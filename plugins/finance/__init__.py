"""The ``finance`` plugin: sentiment of financial text with card/IBAN/account masking, and
transaction fraud scoring with reasons. Hooks live in ``plugins.finance.plugin``."""
