"""``python -m gatewise_lab demo|bench``: the lab's commands where no entry point is installed
(a copy of the tree on ``PYTHONPATH``, as on the GPU check's machine)."""

from gatewise_lab.cli import app

app()
