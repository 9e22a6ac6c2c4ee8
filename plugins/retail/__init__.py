"""The ``retail`` plugin: review sentiment and semantic product search over a catalog.
Hooks live in ``plugins.retail.plugin``."""
