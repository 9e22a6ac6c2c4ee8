"""``python -m gatewise ...`` runs the ``gatewise`` command (what tests and scripts start servers with)."""

from gatewise.gateway.cli import app

app(prog_name="gatewise")
