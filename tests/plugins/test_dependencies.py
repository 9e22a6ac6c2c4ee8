"""Import directions inside the plugins: domains share helpers through ``gatewise.plugins.common``, never each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = ("finance", "medical", "retail")
IMPLEMENTATION = ("gateway", "plugins", "converters", "protos")


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved against its package)."""
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


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_domain_plugin_imports_no_other_domain(domain: str) -> None:
    """finance, medical and retail each import ``gatewise.plugins.common`` for what they share, not one another."""
    others = tuple(f"gatewise.plugins.{other}" for other in DOMAINS if other != domain)
    wrong = [(str(path.relative_to(ROOT)), name) for path in _sources(ROOT / "plugins" / domain)
             for name in _imports(path) if _within(name, others)]  # fmt: skip
    assert wrong == []


def test_no_module_outside_a_domain_imports_one() -> None:
    """``gatewise.plugins.common``, the generic text plugins, log redaction and audit sit below the domains: what
    they share with a domain (the identifier detectors) lives in ``gatewise.plugins.common``."""
    domains = tuple(f"gatewise.plugins.{domain}" for domain in DOMAINS)
    plugins = ROOT / "plugins"
    outside = [path for path in _sources(plugins) if path.relative_to(plugins).parts[0] not in DOMAINS]
    wrong = [(str(path.relative_to(ROOT)), name) for path in outside
             for name in _imports(path) if _within(name, domains)]  # fmt: skip
    assert wrong == []


@pytest.mark.parametrize("package", IMPLEMENTATION)
def test_the_implementation_never_imports_the_facade(package: str) -> None:
    """``gatewise`` sits on top: it imports the implementation, never the other way round."""
    wrong = [(str(path.relative_to(ROOT)), name) for path in _sources(ROOT / package)
             for name in _imports(path) if _is_facade(name)]  # fmt: skip
    assert wrong == []


def _is_facade(name: str) -> bool:
    """``gatewise`` and its own modules (``gatewise.testing``), not the implementation installed beneath it."""
    parts = name.split(".")
    return parts[0] == "gatewise" and (len(parts) == 1 or parts[1] not in IMPLEMENTATION)


def test_the_scan_sees_a_domain_crossing(tmp_path: Path) -> None:
    """The scanner resolves installed and relative names, so a crossing cannot slip through unseen."""
    folder = ROOT / "plugins" / "finance"
    probe = folder / "_probe_crossing.py"
    probe.write_text(
        "from gatewise.plugins.medical import deid\nfrom ..retail import plugin\nfrom gatewise import testing\n"
    )
    try:
        found = _imports(probe)
    finally:
        probe.unlink()
    assert _within("gatewise.plugins.medical.deid", ("gatewise.plugins.medical",))
    assert {"gatewise.plugins.medical", "gatewise.plugins.retail", "gatewise"} <= found
    assert _is_facade("gatewise.testing") and not _is_facade("gatewise.plugins.manager")
