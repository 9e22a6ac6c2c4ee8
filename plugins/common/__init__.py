"""Helpers the built-in domain plugins share, so that finance, medical and retail never import each other.

``masking`` (placeholders and offset maps), ``abstention`` (the confidence floor),
``pooling`` (sentence embeddings), ``bio`` (BIO tags to entity spans), and for
explanations ``words`` (word units, from the text after redaction) and ``tabular`` (feature
units against a background set); the identifier detectors that a domain plugin and log
redaction both mask with: ``finance_detectors`` (cards, IBANs, account numbers) and ``deid``
(the Safe Harbor identifiers).
"""
