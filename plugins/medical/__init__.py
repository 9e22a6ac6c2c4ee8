"""The ``medical`` plugin: Safe Harbor pattern de-identification and clinical entity
extraction with offsets into the original text. Hooks live in ``plugins.medical.plugin``."""
