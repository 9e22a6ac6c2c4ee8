"""Fixtures for the reliability tests (the misbehaving models live in ``faults``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.faults import build_faulty_repository


@pytest.fixture
def faulty_repository(tmp_path: Path) -> Path:
    return build_faulty_repository(tmp_path / "models")
