"""docs/architecture.md names every module of hub/, producers/ and consumers/ (issue #22): a
module added without a line there fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _modules() -> list[Path]:
    return sorted(p.relative_to(ROOT) for top in ("hub", "producers", "consumers")
                  for p in (ROOT / top).rglob("*.py") if p.name != "__init__.py")


def _named(doc: str, module: Path) -> bool:
    """By its path, or by its file name on a line that names its package's path."""
    if str(module) in doc:
        return True
    package = f"{module.parent}/"
    return any(module.name in line and package in line for line in doc.splitlines())


def test_every_module_is_in_the_architecture_page() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [str(m) for m in _modules() if not _named(doc, m)]
    assert not missing, f"add these to docs/architecture.md: {missing}"
