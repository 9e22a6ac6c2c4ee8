"""An example Gatewise plugin shipped as its own package (see ``plugin.py``)."""
