"""Helpers the built-in domain plugins share, so that finance, medical and retail never import each other.

``masking`` (placeholders and offset maps), ``abstention`` (the confidence floor),
``pooling`` (sentence embeddings), ``bio`` (BIO tags to entity spans) and ``words``
(word units for explanations, from the text after redaction).
"""
