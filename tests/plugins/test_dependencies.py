"""Import directions inside the plugins: domain plugins share helpers through ``plugins.common``, never each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = ("finance", "medical", "retail")
IMPLEMENTATION = ("gateway", "plugins", "converters", "protos")


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved against its installed package)."""
    package = ".".join(("gatewise", *path.relative_to(ROOT).with_suffix("").parts[:-1]))
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return found


def _sources(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*.py") if "__pycache__" not in path.parts)


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return name in packages or name.startswith(tuple(f"{package}." for package in packages))


def test_the_scan_sees_the_installed_names() -> None:
    """Imports are read under their installed names, so the rules below can fail."""
    assert "gatewise.plugins.common.masking.mask" in _imports(ROOT / "plugins" / "log_redaction.py")


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_domain_plugin_imports_no_other_domain(domain: str) -> None:
    """finance, medical and retail each import ``plugins.common`` for what they share, not one another."""
    others = tuple(f"gatewise.plugins.{other}" for other in DOMAINS if other != domain)
    wrong = [(str(path.relative_to(ROOT)), name) for path in _sources(ROOT / "plugins" / domain)
             for name in _imports(path) if _within(name, others)]  # fmt: skip
    assert wrong == []


def test_no_module_outside_a_domain_imports_one() -> None:
    """``plugins.common``, the generic text plugins, log redaction and audit sit below the domains:
    what they share with a domain (the identifier detectors) lives in ``plugins.common``."""
    domains = tuple(f"gatewise.plugins.{domain}" for domain in DOMAINS)
    outside = [
        path for path in _sources(ROOT / "plugins") if path.relative_to(ROOT / "plugins").parts[0] not in DOMAINS
    ]
    wrong = [(str(path.relative_to(ROOT)), name) for path in outside
             for name in _imports(path) if _within(name, domains)]  # fmt: skip
    assert wrong == []


@pytest.mark.parametrize("package", IMPLEMENTATION)
def test_the_implementation_never_imports_the_facade(package: str) -> None:
    """``gatewise`` sits on top: it imports the implementation, never the other way round."""
    inside = tuple(f"gatewise.{name}" for name in IMPLEMENTATION)
    wrong = [(str(path.relative_to(ROOT)), name) for path in _sources(ROOT / package)
             for name in _imports(path) if _within(name, ("gatewise",)) and not _within(name, inside)]  # fmt: skip
    assert wrong == []
