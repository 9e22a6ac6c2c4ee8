"""Fixtures for the decision-records tests: a real PostgreSQL cluster per session (``records.support.Postgres``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from records.support import PG_BIN, Postgres, free_port


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    if PG_BIN is None:
        reason = "PostgreSQL is not installed (scripts/bootstrap.sh installs Debian's postgresql)"
        if os.environ.get("GATEWISE_REQUIRE_POSTGRES"):
            pytest.fail(f"{reason}, and GATEWISE_REQUIRE_POSTGRES is set (CI)")
        pytest.skip(reason)
    pytest.importorskip("psycopg", reason="psycopg is not installed (the postgres extra)")
    root = Path(tempfile.mkdtemp(prefix="gatewise-pg-"))
    os.chmod(root, 0o755)
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        shutil.chown(root, user, user)
    cluster = Postgres(root, free_port(), user)
    try:
        cluster._run(str(PG_BIN / "initdb"), "-D", str(root / "data"), "-U", "gatewise", "-A", "trust", "--no-sync")
        cluster.start()
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres: Postgres) -> str:
    """A fresh, empty database on the session's cluster."""
    return postgres.create_database()
